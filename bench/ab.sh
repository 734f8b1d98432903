#!/usr/bin/env bash
# A/B of two emergent builds on one bench shape, alternating A B A B ... so that the
# machine's drifting speed falls on both alike. Each run's speed is its fastest step
# (`best_step_s`: bursts of load on this machine slow single steps by up to 60%); prints
# each side's median over runs.
#
# usage: bench/ab.sh BIN_A BIN_B MODE CONFIG [PAIRS]   (MODE train|forward, CONFIG S|T)
set -euo pipefail
a=$1 b=$2 mode=$3 config=$4 pairs=${5:-5}
S="--vocab 4096 --d-model 256 --layers 4 --heads 4 --mlp 688 --seq 256 --batch 8 --steps ${STEPS:-20}"
T="--vocab 2048 --d-model 128 --layers 2 --heads 4 --mlp 344 --seq 128 --batch 16 --steps ${STEPS:-40}"
flags=${!config}
for i in $(seq "$pairs"); do
  for side in a b; do
    bin=${!side}
    echo "$side $("$bin" bench "$mode" $flags --threads "${THREADS:-2}" 2>/dev/null)"
  done
done | python3 -c '
import json, statistics, sys
runs = {"a": [], "b": []}
for line in sys.stdin:
    side, js = line.split(" ", 1)
    r = json.loads(js)
    runs[side].append(r["batch"] * r["seq"] / r["best_step_s"])
a, b = (statistics.median(runs[s]) for s in "ab")
for side, med in (("A", a), ("B", b)):
    print(side, round(med), "tok/s", sorted(round(x) for x in runs[side.lower()]))
fastest = max(runs["b"]) / max(runs["a"])
print(f"B/A {b / a:.3f} (medians), {fastest:.3f} (fastest runs)")
'
