#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), seeded with the repository's own
# files (reference checkpoints, GGUF files, task specs) and fuzz/seeds/, and prints each
# target's executions and whether it crashed. Needs `cargo install cargo-fuzz` and a
# nightly toolchain; crashes are left in fuzz/artifacts/TARGET/.
#
# usage: fuzz/run.sh [SECONDS] [TARGET ...]
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
root=..
seed() {
  mkdir -p "corpus/$1"
  local i=0 f
  # Numbered, as seeds of one target may share a name (every pytorch_model.bin).
  for f in "${@:2}"; do
    i=$((i + 1))
    cp "$f" "corpus/$1/$i-$(basename "$f")"
  done
}
seed config_json $root/reference/goldens/checkpoint/model/config.json
seed safetensors $root/reference/goldens/checkpoint/model/model.safetensors
seed torch $root/reference/goldens/torch/*/pytorch_model*.bin
seed index $(find $root/reference/goldens -name '*.index.json')
seed tokenizer_json $root/reference/goldens/checkpoint/model/tokenizer.json
seed gguf $root/reference/goldens/gguf/tiny-q8_0.gguf $root/reference/goldens/gguf/tiny-q4_1.gguf
seed shard seeds/tokens.bin
seed task_spec $root/reference/lmeval-tasks/*.toml
seed task_yaml $root/reference/lmeval-yaml/*.yaml seeds/task.yaml
seed results_csv seeds/results.csv
seed lmeval_json seeds/results.json
# Real per-checkpoint results of the Pythia suite, where the shared data is present.
pythia=$root/../shared/data/pythia-evals/pythia-v1/pythia-70m-deduped
[ -d "$pythia" ] && seed lmeval_json $(find "$pythia" -name '*step143000.json' | head -4)
seed study $root/studies/*.toml
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
mkdir -p logs
for t in "${targets[@]}"; do
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=4096 \
    -timeout=10 > "logs/$t.log" 2>&1
  status=$?
  runs=$(grep -oE '^#[0-9]+' "logs/$t.log" | tail -1 | tr -d '#')
  if [ $status -eq 0 ]; then verdict="no crash"; else verdict="CRASH (see logs/$t.log)"; fi
  echo "$t: ${runs:-0} executions in ${secs} s, $verdict"
done
