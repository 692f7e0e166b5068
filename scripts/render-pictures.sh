#!/usr/bin/env bash
# Renders docs/img/bank-bug.png: the Mermaid diagram that `theater-replay bisect
# --mermaid` draws for the bank bug, rendered by mermaid.js in headless Chromium.
# Needs chromium (Debian: apt-get install chromium) and npm; not part of CI (the diagram
# text itself is checked by golden files).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo run -q -p theater-replay -- bisect fixtures/traces/bank-bug.bin \
    --until 'bank:/accounts/alice < 0' --mermaid "$work/culprit.md" > /dev/null
(cd "$work" && npm install --silent mermaid@11 > /dev/null)
python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
md = open(f"{work}/culprit.md").read()
diagram = md.split("```mermaid\n")[1].split("```")[0]
title = md.splitlines()[0].lstrip("# ").replace("`", "")
open(f"{work}/page.html", "w").write(f"""<!doctype html><html><head><meta charset="utf-8">
<style>body{{font-family:sans-serif;margin:16px;background:white}} h3{{font-size:15px}}</style>
<script src="node_modules/mermaid/dist/mermaid.min.js"></script></head><body>
<h3>{title}</h3><pre class="mermaid">
{diagram}</pre>
<script>mermaid.initialize({{startOnLoad: true}});</script></body></html>""")
PY
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --hide-scrollbars --window-size=1100,640 \
    --virtual-time-budget=8000 --screenshot="$PWD/docs/img/bank-bug.png" \
    "file://$work/page.html" 2> /dev/null
echo "wrote docs/img/bank-bug.png"
