#!/bin/sh
# Regenerates the pictures of docs/ARCHITECTURE.md and the README under
# docs/img/ (needs the built ref/t2v, models/demo and python3-matplotlib):
#   trace/            t2v generate --trace of the README prompt (strips + trace.json)
#   trace.png         tools/plot_trace.py of that directory
#   demo_sheet.png    the contact sheet of the generated clip
#   rope.png          tools/plot_rope.py
#   pipeline.svg      tools/make_diagram.py
# Usage: sh tools/make_doc_images.sh [T2V_BINARY]
set -eu
T2V=${1:-ref/t2v}
PROMPT="a red circle moving to the right on a black background"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p docs/img/trace
rm -f docs/img/trace/step_*.png docs/img/trace/trace.json
"$T2V" generate --model models/demo -p "$PROMPT" -o "$tmp/demo" --format sheet --trace docs/img/trace --force -q
cp "$tmp/demo_sheet.png" docs/img/demo_sheet.png
/usr/bin/python3 tools/plot_trace.py docs/img/trace -o docs/img/trace.png --rows 20
/usr/bin/python3 tools/plot_rope.py -o docs/img/rope.png
/usr/bin/python3 tools/make_diagram.py -o docs/img/pipeline.svg
du -sh docs/img
