#!/usr/bin/env bash
# Writes reference/goldens/torch/: PyTorch checkpoints (single, sharded, bf16, f16, and
# one that would run code) with what torch.load(weights_only=True) reads from them.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
"$py" "$here/make_torch_goldens.py"
