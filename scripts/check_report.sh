#!/usr/bin/env bash
# Renders a report in headless Chromium (Debian's `chromium`) and checks that every
# figure on the page loaded: writes a full-page screenshot beside it (report.png)
# and exits non-zero naming any image that did not load.
#
# usage: scripts/check_report.sh DIR/report/index.html [SCREENSHOT.png]
set -euo pipefail
index=$(realpath "$1")
shot=${2:-$(dirname "$index")/report.png}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no chromium: apt-get install chromium" >&2; exit 2; }
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --allow-file-access-from-files)

# A copy of the page with a script that lists, once everything has loaded, each image
# and whether it decoded.
probe=$(dirname "$index")/.check-report.html
trap 'rm -f "$probe"' EXIT
sed 's#</body>#<script>addEventListener("load",()=>{const p=document.createElement("pre");p.id="probe";p.textContent=[...document.images].map(i=>(i.complete\&\&i.naturalWidth>0?"ok ":"BROKEN ")+i.getAttribute("src")).join("\\n");document.body.appendChild(p)})</script></body>#' "$index" > "$probe"
dom=$("$browser" "${flags[@]}" --virtual-time-budget=20000 --dump-dom "file://$probe" 2>/dev/null)
report=$(printf '%s' "$dom" | python3 -c 'import html,re,sys; m=re.search(r"<pre id=\"probe\">(.*?)</pre>", sys.stdin.read(), re.S); print(html.unescape(m.group(1)) if m else "NO PROBE: the page did not finish loading")')
total=$(printf '%s\n' "$report" | grep -c '^ok ' || true)
broken=$(printf '%s\n' "$report" | grep -v '^ok ' || true)

# Height of the whole page for the screenshot, capped so the PNG stays viewable.
"$browser" "${flags[@]}" --window-size=1400,4000 --screenshot="$shot" "file://$index" >/dev/null 2>&1
echo "$total figures loaded; screenshot: $shot"
if [ -n "$broken" ]; then
  echo "$broken" >&2
  exit 1
fi
