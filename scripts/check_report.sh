#!/usr/bin/env bash
# Renders a report in headless Chromium (Debian's `chromium`) and checks it as a reader
# would meet it: every figure loads and decodes, every link within the page has its
# target, every link to a file points at one. Writes two screenshots beside the page:
# the first screen (report.png, 1400×1000) and the page further down (report-long.png,
# 1400×5000). Exits 1 naming each broken image or dead link, 2 without a browser.
#
# usage: scripts/check_report.sh DIR/report/index.html [SCREENSHOT_PREFIX]
set -euo pipefail
index=$(realpath "$1")
dir=$(dirname "$index")
prefix=${2:-$dir/report}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no chromium: apt-get install chromium" >&2; exit 2; }
profile=$(mktemp -d)
probe=$dir/.check-report.html
trap 'rm -rf "$probe" "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --allow-file-access-from-files
  --disable-background-networking --disable-component-update --disable-sync --no-first-run
  --user-data-dir="$profile")

# A copy of the page with a script that loads every figure (the page loads them lazily),
# then lists each image and whether it decoded, whether the first figure's hover texts
# load, and each in-page link without a target. (No ampersand in it: awk would read it.)
script='<script>addEventListener("load",async()=>{const im=[...document.images];im.forEach(i=>i.loading="eager");await Promise.all(im.map(i=>i.complete?0:new Promise(r=>{i.onload=i.onerror=r})));const out=im.map(i=>(i.naturalWidth>0?"ok ":"BROKEN ")+i.getAttribute("src"));const d=document.querySelector(".plot[data-hot]");if(d){d.dispatchEvent(new MouseEvent("mouseover",{bubbles:true}));await new Promise(r=>setTimeout(r,1000));if(!(HOT[d.dataset.hot]||[]).length)out.push("BROKEN hover texts of "+d.dataset.hot)}for(const a of document.querySelectorAll("a[href^=\"#\"]")){const id=decodeURIComponent(a.getAttribute("href").slice(1));if(!document.getElementById(id))out.push("DEAD #"+id)}const p=document.createElement("pre");p.id="probe";p.textContent=out.join("\n")+"\nEND";document.body.appendChild(p)})</script>'
S="$script" awk '{sub(/<\/body>/, ENVIRON["S"] "</body>")} 1' "$index" > "$probe"
dom=$("$browser" "${flags[@]}" --virtual-time-budget=60000 --dump-dom "file://$probe" 2>/dev/null || true)
report=$(printf '%s' "$dom" | sed -n '/<pre id="probe">/,/END<\/pre>/p' | sed 's/<pre id="probe">//; s/END<\/pre>.*//; s/&amp;/\&/g')
[ -n "$report" ] || { echo "the page did not finish loading in Chromium" >&2; exit 1; }
loaded=$(printf '%s\n' "$report" | grep -c '^ok ' || true)
problems=$(printf '%s\n' "$report" | grep -E '^(BROKEN|DEAD) ' || true)

# Links to files (figures, tables, findings.json) must point at files.
while IFS= read -r href; do
  [ -e "$dir/$href" ] || problems+=$'\n'"DEAD $href"
done < <(grep -o 'href="[^"#:]*"' "$index" | sed 's/^href="//; s/"$//' | sort -u)
while IFS= read -r stem; do
  [ -e "$dir/figures/$stem.hot.js" ] || problems+=$'\n'"DEAD figures/$stem.hot.js"
done < <(grep -o 'data-hot="[^"]*"' "$index" | sed 's/^data-hot="//; s/"$//' | sort -u)
problems=$(printf '%s\n' "$problems" | sed '/^$/d')

"$browser" "${flags[@]}" --window-size=1400,1000 --screenshot="$prefix.png" "file://$index" >/dev/null 2>&1
"$browser" "${flags[@]}" --window-size=1400,5000 --screenshot="$prefix-long.png" "file://$index" >/dev/null 2>&1
links=$(grep -o 'href="#[^"]*"' "$index" | wc -l)
echo "$loaded figures loaded, $links in-page links checked; screenshots: $prefix.png, $prefix-long.png"
if [ -n "$problems" ]; then
  printf '%s\n' "$problems" >&2
  exit 1
fi
