#!/usr/bin/env bash
# Training and forward speed, emergent against PyTorch eager (bench/pytorch_reference.py),
# same model, same step, same machine, alternating A B A B ... (PAIRS pairs, default 5)
# on config S (vocab 4096, width 256, 4 layers, 4 heads, MLP 688, context 256, batch 8)
# and config T (vocab 2048, width 128, 2 layers, 4 heads, MLP 344, context 128, batch 16).
# Prints every JSON line to bench/.cache/compare-THREADS.jsonl and a table of medians, ratios
# and the fraction of the matmul limit (emergent's 1536³ product, measured in each run).
# Two ratios: of the median steps (the issue's measure), and of the fastest steps
# (best_step_s, each run's speed undisturbed by the bursts of load this machine has;
# the median over runs of each).
#
# usage: bench/compare.sh [THREADS]   (VENV=... to reuse an environment; PAIRS=N)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
pairs=${PAIRS:-5}
source reference/venv.sh
export OMP_NUM_THREADS=$threads
cargo build --release -q
emergent=target/release/emergent
mkdir -p bench/.cache
log=bench/.cache/compare-$threads.jsonl
: > "$log"
S="--vocab 4096 --d-model 256 --layers 4 --heads 4 --mlp 688 --seq 256 --batch 8 --steps 20"
T="--vocab 2048 --d-model 128 --layers 2 --heads 4 --mlp 344 --seq 128 --batch 16 --steps 40"
for config in S T; do
  flags=${!config}
  for mode in train forward; do
    for i in $(seq "$pairs"); do
      "$emergent" bench "$mode" $flags --threads "$threads" | sed "s/^{/{\"config\":\"$config\",/" | tee -a "$log"
      "$py" bench/pytorch_reference.py "$mode" $flags --threads "$threads" | sed "s/^{/{\"config\":\"$config\",/" | tee -a "$log"
    done
  done
done
"$py" - "$log" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'config':6} {'mode':8} {'emergent tok/s':>15} {'pytorch tok/s':>14} {'ratio':>6} {'fastest':>8} {'GFLOP/s':>8} {'% limit':>8} {'torch %':>8} {'RSS MB (ours/torch)':>20}")
for config in ["S", "T"]:
    for mode in ["train", "forward"]:
        sel = [r for r in rows if r["config"] == config and r["bench"] == mode]
        ours = [r for r in sel if r["framework"] == "emergent"]
        ref = [r for r in sel if r["framework"] != "emergent"]
        if not ours or not ref:
            continue
        a = statistics.median(r["tokens_per_s"] for r in ours)
        b = statistics.median(r["tokens_per_s"] for r in ref)
        fastest = lambda rs: statistics.median(r["batch"] * r["seq"] / r["best_step_s"] for r in rs)
        g = statistics.median(r["gflops"] for r in ours)
        limit = statistics.median(r["matmul_peak_gflops"] for r in ours)
        gt = statistics.median(r["gflops"] for r in ref)
        m = (max(r["peak_rss_mb"] for r in ours), max(r["peak_rss_mb"] for r in ref))
        print(f"{config:6} {mode:8} {a:15.0f} {b:14.0f} {a / b:5.2f}x {fastest(ours) / fastest(ref):7.2f}x {g:8.1f} {g / limit:8.0%} {gt / limit:8.0%} {m[0]:9.0f} / {m[1]:.0f}")
PY
