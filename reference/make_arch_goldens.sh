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
  cp -r "$ckpt/." "$dest/"
  rm -f "$dest/optimizer.safetensors" "$dest/trainer_state.json"
  args+=(--checkpoint "trained-$arch=$dest")
done
"$py" "$here/make_arch_goldens.py" "${args[@]}"
# lm-evaluation-harness on each checkpoint as transformers saved it, on the shipped specs.
"$py" -m pip install -q "lm-eval[hf]==0.4.13"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
(cd "$here/lmeval-tasks" && "$py" make_data.py)
for dest in "$here"/goldens/arch/hf-*; do
  "$py" "$here/make_lmeval_goldens.py" "$dest" "$dest/lmeval"
done
