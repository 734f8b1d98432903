#!/usr/bin/env bash
# Writes reference/goldens/arch/: every architecture against transformers' own class
# (make_arch_goldens.py), and one checkpoint of each trained by emergent itself
# (reference/arch-study.toml) with the logits transformers computes from it.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
"$py" "$here/make_arch_goldens.py"
root=$(cd "$here/.." && pwd)
out=$(mktemp -d)
cargo run --release -q --manifest-path "$root/Cargo.toml" -p emergent -- \
  run "$here/arch-study.toml" --out "$out" --no-report
args=()
for run in "$out"/runs/*; do
  arch=$(basename "$run" | sed 's/-d[0-9]*-l[0-9]*-tok.*//; s/^d[0-9]*-l[0-9]*-tok.*/llama/')
  ckpt=$(ls -d "$run"/step-* | sort | tail -n 1)
  dest="$here/goldens/arch/trained-$arch"
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "$ckpt/config.json" "$ckpt/model.safetensors" "$dest/"
  args+=(--checkpoint "trained-$arch=$dest")
done
"$py" "$here/make_arch_goldens.py" "${args[@]}"
