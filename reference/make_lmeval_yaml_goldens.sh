#!/usr/bin/env bash
# lm-eval YAML goldens (CI never runs this; it reads the goldens): lm-evaluation-harness
# 0.4.13's own command line on the YAML tasks of reference/lmeval-yaml/ (an `include`, a
# group aggregated by size and unweighted, CSV and JSON-array data, generation with
# filters, rolling log-likelihood tasks), on the tiny emergent checkpoint; then with a
# chat template and a system instruction (chat/), and with --model_args max_length and
# add_bos_token (args/). Its results JSON and per-sample JSONL go to
# reference/goldens/lmeval-yaml/ with the dates taken out of their names. It runs from
# reference/lmeval-yaml/ with relative paths, as the test runs emergent, so that both
# tools name the model alike.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
"$py" -m pip install -q "lm-eval[hf]==0.4.13"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
out=$here/goldens/lmeval-yaml
tmp=$(mktemp -d)
# Copies lm-eval's output files under $1 into $2, the dates taken out of their names.
keep() {
  mkdir -p "$2"
  for f in $(find "$1" -type f); do
    cp "$f" "$2/$(basename "$f" | sed -E 's/_[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9.-]+\.(json|jsonl)$/.\1/')"
  done
  ls -l "$2"
}
cd "$here/lmeval-yaml"
"$py" make_data.py
"$venv/bin/lm_eval" run --model hf --model_args pretrained=../goldens/checkpoint/model,dtype=float32 \
  --tasks where_group,sums,stories,story_text --include_path . --batch_size 1 --device cpu \
  --output_path "$tmp/out" --log_samples --seed 1234
rm -rf "$out"
keep "$tmp/out" "$out"

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
keep "$tmp/chat-out" "$out/chat"

# --model_args max_length and add_bos_token: reference/goldens/lmeval-yaml/args/.
"$venv/bin/lm_eval" run --model hf \
  --model_args pretrained=../goldens/checkpoint/model,dtype=float32,max_length=16,add_bos_token=True \
  --tasks where_a,stories --include_path . --batch_size 1 --device cpu \
  --output_path "$tmp/args-out" --log_samples --seed 1234
keep "$tmp/args-out" "$out/args"
