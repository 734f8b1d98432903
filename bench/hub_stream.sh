#!/usr/bin/env bash
# Disk use while a study streams a Hub repository's revisions (`keep = false`): trains a
# ladder of 24 checkpoints (bench/hub-stream-study.toml), serves them from emergent's
# local Hub as the revisions of emergent-test/stream, runs a study over `step-*` with
# `keep = false`, and samples the Hub cache's size every 0.1 s. Prints the ladder's
# weights, the cache's largest and final sizes, and the checkpoints scored.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -q --manifest-path "$root/Cargo.toml" -p emergent -p emergent-testhub
bin=$root/target/release
work=${WORK:-$(mktemp -d)}
if [ ! -d "$work/grid/runs" ]; then
  "$bin/emergent" run "$root/bench/hub-stream-study.toml" --out "$work/grid" --no-report
fi
run=$(ls -d "$work"/grid/runs/*/ | head -1)
args=()
for d in "$run"step-*; do args+=("$(basename "$d")=$d"); done
"$bin/emergent-testhub" emergent-test/stream "${args[@]}" >"$work/url" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.2; done
printf 'Meda is a cook and cooks the meals every day. Fanou is a shepherd in Hollow.\n' >"$work/val.txt"
cat >"$work/study.toml" <<TOML
name = "streamed"
[[checkpoints]]
repo = "emergent-test/stream"
revisions = ["step-*"]
keep = false
[validation]
text = "$work/val.txt"
[eval]
tasks = ["commonsense-en"]
documents = 20
TOML
cache=$work/cache
rm -rf "$cache" "$work/study"
export HF_ENDPOINT=$(cat "$work/url") HF_HUB_CACHE=$cache
unset HF_HUB_OFFLINE HF_TOKEN
"$bin/emergent" run "$work/study.toml" --out "$work/study" --no-report 2>"$work/log" &
study=$!
max=0
while kill -0 $study 2>/dev/null; do
  now=0
  [ -d "$cache" ] && now=$(du -sb "$cache" 2>/dev/null | cut -f1)
  [ "${now:-0}" -gt "$max" ] && max=$now
  sleep 0.1
done
wait $study
echo "revisions served:      ${#args[@]}"
echo "ladder on disk:        $(du -sb "$run" | cut -f1) bytes ($(du -sh "$run" | cut -f1))"
echo "weights of the ladder:  $(cat "$run"step-*/model.safetensors | wc -c) bytes ($(ls "$run"step-*/model.safetensors | wc -l) × model.safetensors)"
echo "one checkpoint's:      $(for f in "$run"step-*/model.safetensors; do wc -c <"$f"; done | sort -n | tail -1) bytes"
echo "cache, largest seen:   $max bytes"
echo "cache, at the end:     $(du -sb "$cache" | cut -f1) bytes"
echo "checkpoints scored:    $(grep -c 'leave the cache' "$work/log")"
tail -3 "$work/log"
