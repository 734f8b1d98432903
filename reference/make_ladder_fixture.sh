#!/usr/bin/env bash
# Writes reference/goldens/ladder/: a ladder of checkpoints as users store theirs, re-saved
# by transformers, torch and gguf-py from three small runs emergent trains
# (ladder-study.toml). CI reads the files; it never runs this.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
"$py" -m pip install -q "gguf==0.19.0"
root=$(cd "$here/.." && pwd)
grid=$(mktemp -d)
cargo run --release -q --manifest-path "$root/Cargo.toml" -p emergent -- \
  run "$here/ladder-study.toml" --out "$grid" --no-report
"$py" "$here/make_ladder_fixture.py" "$grid/runs" "$here/goldens/ladder"
rm -rf "$grid"
