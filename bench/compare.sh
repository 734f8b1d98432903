#!/usr/bin/env bash
# Training and forward speed, emergent against PyTorch eager and torch.compile
# (bench/pytorch_reference.py [--compile]), same model, same step, same machine,
# alternating emergent, eager, compiled, emergent, ... (PAIRS rounds, default 5)
# on config S (vocab 4096, width 256, 4 layers, 4 heads, MLP 688, context 256, batch 8)
# and config T (vocab 2048, width 128, 2 layers, 4 heads, MLP 344, context 128, batch 16).
# Prints every JSON line to bench/.cache/compare-THREADS.jsonl and a table of medians, ratios
# and the fraction of the matmul limit (emergent's 1536³ product, measured in each run).
# Ratios to eager and to compiled PyTorch, of the median steps; `fastest` is the ratio of
# the fastest steps to compiled PyTorch's (best_step_s, each run's speed undisturbed by
# bursts of load on the machine; the median over runs of each).
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
      for compile in "" --compile; do
        "$py" bench/pytorch_reference.py "$mode" $compile $flags --threads "$threads" | sed "s/^{/{\"config\":\"$config\",/" | tee -a "$log"
      done
    done
  done
done
"$py" - "$log" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'config':6} {'mode':8} {'emergent tok/s':>15} {'eager tok/s':>12} {'compiled tok/s':>15} {'/eager':>7} {'/compiled':>10} {'fastest':>8} {'GFLOP/s':>8} {'% limit':>8} {'RSS MB (ours/eager/compiled)':>29}")
for config in ["S", "T"]:
    for mode in ["train", "forward"]:
        sel = [r for r in rows if r["config"] == config and r["bench"] == mode]
        ours = [r for r in sel if r["framework"] == "emergent"]
        eager = [r for r in sel if r["framework"].endswith("eager")]
        comp = [r for r in sel if r["framework"].endswith("compile")]
        if not ours or not eager or not comp:
            continue
        med = lambda rs: statistics.median(r["tokens_per_s"] for r in rs)
        fastest = lambda rs: statistics.median(r["batch"] * r["seq"] / r["best_step_s"] for r in rs)
        a, b, c = med(ours), med(eager), med(comp)
        g = statistics.median(r["gflops"] for r in ours)
        limit = statistics.median(r["matmul_peak_gflops"] for r in ours)
        rss = "/".join(f"{max(r['peak_rss_mb'] for r in rs):.0f}" for rs in (ours, eager, comp))
        print(f"{config:6} {mode:8} {a:15.0f} {b:12.0f} {c:15.0f} {a / b:6.2f}x {a / c:9.2f}x {fastest(ours) / fastest(comp):7.2f}x {g:8.1f} {g / limit:8.0%} {rss:>29}")
PY
