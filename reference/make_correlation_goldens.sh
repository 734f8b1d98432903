#!/usr/bin/env bash
# Writes reference/goldens/correlation.json with SciPy (see the script's docstring).
set -euo pipefail
source "$(dirname "$0")/venv.sh"
"$py" -m pip install -q "scipy==1.17.1"
"$py" "$here/make_correlation_goldens.py"
