#!/usr/bin/env bash
# make run: generate the README example (or PROMPT) with the embedded demo model.
set -eu
cd "$(dirname "$0")/.."
prompt=${1:-}
[ -n "$prompt" ] || prompt="a red circle moving to the right on a black background"
if [ ! -f models/demo/config.json ]; then
    echo "make run: the demo model is not in models/demo yet." >&2
    echo "It would run: ref/t2v --model models/demo -p \"$prompt\" -o out/demo --force" >&2
    exit 1
fi
mkdir -p out
ref/t2v generate --model models/demo -p "$prompt" -o out/demo --force
echo "open out/demo.png in a browser (animated PNG); frames out/demo_*.png, contact sheet out/demo_sheet.png"
