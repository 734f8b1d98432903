#!/usr/bin/env bash
# Writes reference/goldens/ with PyTorch + transformers (minutes and gigabytes the
# first time: it makes reference/.venv). CI never runs this; it reads the goldens.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
"$py" "$here/make_goldens.py"
# An emergent checkpoint, trained by emergent itself, loaded by transformers.
root=$(cd "$here/.." && pwd)
ckpt_dir=$(mktemp -d)
cargo run --release -q --manifest-path "$root/Cargo.toml" -p emergent -- \
  run "$here/tiny-study.toml" --out "$ckpt_dir" --no-report
ckpt=$(ls -d "$ckpt_dir"/runs/*/step-* | sort | tail -n 1)
rm -rf "$here/goldens/checkpoint"
mkdir -p "$here/goldens/checkpoint"
cp -r "$ckpt" "$here/goldens/checkpoint/model"
rm -f "$here/goldens/checkpoint/model/optimizer.safetensors" "$here/goldens/checkpoint/model/trainer_state.json"
"$py" "$here/make_goldens.py" --checkpoint "$here/goldens/checkpoint/model"
