#!/usr/bin/env bash
# A/B of two emergent builds run at the same time, one thread each, pinned to cores 0
# and 1 (swapped every round): load on the host slows both alike, so their ratio holds
# still where alternating runs (bench/ab.sh) drift. Single-thread effects only.
#
# usage: bench/ab_pinned.sh BIN_A BIN_B MODE CONFIG [ROUNDS]
set -euo pipefail
a=$1 b=$2 mode=$3 config=$4 rounds=${5:-6}
S="--vocab 4096 --d-model 256 --layers 4 --heads 4 --mlp 688 --seq 256 --batch 8 --steps ${STEPS:-10}"
T="--vocab 2048 --d-model 128 --layers 2 --heads 4 --mlp 344 --seq 128 --batch 16 --steps ${STEPS:-20}"
flags=${!config}
tmp=$(mktemp -d)
for i in $(seq "$rounds"); do
  ca=$((i % 2)) cb=$(((i + 1) % 2))
  taskset -c $ca "$a" bench "$mode" $flags --threads 1 > "$tmp/a$i" 2>/dev/null &
  taskset -c $cb "$b" bench "$mode" $flags --threads 1 > "$tmp/b$i" 2>/dev/null &
  wait
done
python3 - "$tmp" "$rounds" <<'PY'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
def speed(f):
    r = json.load(open(f))
    return r["batch"] * r["seq"] / r["step_s"]
ratios = [speed(f"{d}/b{i}") / speed(f"{d}/a{i}") for i in range(1, n + 1)]
print("B/A per round", [round(x, 3) for x in ratios], "median", round(statistics.median(ratios), 3))
PY
rm -rf "$tmp"
