#!/usr/bin/env bash
# Writes DejaVuSans-subset.ttf, the figures' font: DejaVu Sans (Debian's fonts-dejavu-core)
# cut to Basic Latin, Latin-1, Greek and the few symbols the figures use, so that every
# figure renders the same everywhere without a system font. Needs fonttools (PyPI).
set -euo pipefail
cd "$(dirname "$0")"
src=${DEJAVU:-/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf}
py=${PYTHON:-python3}
"$py" -m fontTools.subset "$src" --output-file=DejaVuSans-subset.ttf \
  --unicodes="U+0020-007E,U+00A0-00FF,U+0391-03C9,U+2012-2014,U+2022,U+2026,U+2032,U+2070-209F,U+2190-2193,U+2212,U+2248,U+2264,U+2265,U+00B2,U+00B3,U+00B9" \
  --layout-features='' --no-hinting --desubroutinize
