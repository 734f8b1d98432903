#!/usr/bin/env bash
# lm-eval YAML goldens (CI never runs this; it reads the goldens): lm-evaluation-harness
# 0.4.13's own command line on the YAML tasks of reference/lmeval-yaml/ (an `include`, a
# group aggregated by size and unweighted, CSV and JSON-array data, generation with
# filters, a rolling log-likelihood task), on the tiny emergent checkpoint. Its results
# JSON and per-sample JSONL go to reference/goldens/lmeval-yaml/ with the dates taken
# out of their names. Run from reference/lmeval-yaml/ with relative paths, as the test
# runs emergent, so that both tools name the model alike.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
"$py" -m pip install -q "lm-eval[hf]==0.4.13"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
out=$here/goldens/lmeval-yaml
tmp=$(mktemp -d)
cd "$here/lmeval-yaml"
"$py" make_data.py
"$venv/bin/lm_eval" run --model hf --model_args pretrained=../goldens/checkpoint/model,dtype=float32 \
  --tasks where_group,sums,stories,story_text --include_path . --batch_size 1 --device cpu \
  --output_path "$tmp" --log_samples --seed 1234
rm -rf "$out" && mkdir -p "$out"
for f in $(find "$tmp" -type f); do
  name=$(basename "$f" | sed -E 's/_[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9.-]+\.(json|jsonl)$/.\1/')
  cp "$f" "$out/$name"
done
ls -l "$out"

# The same checkpoint with a ChatML chat template, through --apply_chat_template and
# --system_instruction: reference/goldens/lmeval-yaml/chat/.
chat=$tmp/chat-model
mkdir -p "$chat" && cp "$here"/goldens/checkpoint/model/* "$chat"/
"$py" - "$chat" <<'PY'
import json, sys
p = sys.argv[1] + "/tokenizer_config.json"
cfg = json.load(open(p))
cfg["chat_template"] = open("chatml.jinja").read()
json.dump(cfg, open(p, "w"), indent=2)
PY
"$venv/bin/lm_eval" run --model hf --model_args pretrained="$chat",dtype=float32 \
  --tasks where_a,sums --include_path . --batch_size 1 --device cpu --apply_chat_template \
  --system_instruction "Answer briefly." --output_path "$tmp/chat-out" --log_samples --seed 1234
mkdir -p "$out/chat"
for f in $(find "$tmp/chat-out" -type f); do
  name=$(basename "$f" | sed -E 's/_[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9.-]+\.(json|jsonl)$/.\1/')
  cp "$f" "$out/chat/$name"
done
ls -l "$out/chat"
