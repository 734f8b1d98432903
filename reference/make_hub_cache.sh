#!/usr/bin/env bash
# The Hugging Face cache shared with Python, checked both ways by hand, and the fixture CI
# tests against. It serves the ladder fixture's `small` run as the repository
# emergent-test/small (revisions step23, step60, step156) from emergent's local Hub, then:
#  1. huggingface_hub downloads into reference/goldens/hub-cache/ (committed: CI reads it
#     offline with emergent, and checks that emergent lays out the same files);
#  2. emergent, offline, scores step23 from that cache;
#  3. emergent fetches step60 and step156 into a new cache, and huggingface_hub, offline,
#     finds them there and scans the cache.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
venv=$here/.venv-hub
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "huggingface_hub==2.5.0"
fi
cargo build --release -q --manifest-path "$root/Cargo.toml" -p emergent -p emergent-testhub
bin=$root/target/release
ladder=$here/goldens/ladder/small
work=$(mktemp -d)
"$bin/emergent-testhub" emergent-test/small step23="$ladder/step23" step60="$ladder/step60" \
  step156="$ladder/step156" >"$work/url" &
server=$!
trap 'kill $server; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.2; done
url=$(cat "$work/url")
export HF_HUB_DISABLE_TELEMETRY=1
unset HF_TOKEN HF_HOME HF_HUB_CACHE HF_HUB_OFFLINE

echo "== 1. huggingface_hub $("$venv/bin/python" -c 'import huggingface_hub as h; print(h.__version__)') writes the fixture"
rm -rf "$here/goldens/hub-cache"
"$venv/bin/python" "$here/hub_interop.py" fixture "$url" "$here/goldens/hub-cache"
(cd "$here/goldens/hub-cache" && find . | sort)

echo "== 2. emergent reads Python's cache offline"
printf 'Meda is a cook and cooks the meals every day.\n' >"$work/val.txt"
cp -a "$here/goldens/hub-cache" "$work/py-cache"
HF_HUB_OFFLINE=1 HF_HUB_CACHE="$work/py-cache" "$bin/emergent" eval --model emergent-test/small \
  --revision step23 --text "$work/val.txt" --out "$work/from-python" 2>&1 | tail -3
"$bin/emergent" eval --model "$ladder/step23" --text "$work/val.txt" --out "$work/local" >/dev/null 2>&1
cmp "$work/from-python/results.json" "$work/local/results.json" && echo "same results as the folder"

echo "== 3. huggingface_hub reads emergent's cache offline"
for rev in step60 step156; do
  HF_ENDPOINT=$url HF_HUB_CACHE="$work/ours" "$bin/emergent" eval --model emergent-test/small \
    --revision $rev --text "$work/val.txt" --out "$work/ours-$rev" >/dev/null 2>&1
done
"$venv/bin/python" "$here/hub_interop.py" read "$work/ours"
