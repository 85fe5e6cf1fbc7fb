#!/usr/bin/env bash
# make run: generate the README example (or PROMPT) with the embedded demo model.
#
#   tools/run_demo.sh [PROMPT [T2V OPTIONS...]]
#
# PROMPT is passed to t2v as one argument, unchanged. T2V_BIN (default
# ref/t2v) and T2V_DEMO_OUT (default out/demo, the output base name) choose
# the program and where the files go.
set -eu
cd "$(dirname "$0")/.."
prompt=${1:-}
[ $# -gt 0 ] && shift
[ -n "$prompt" ] || prompt="a red circle moving to the right on a black background"
bin=${T2V_BIN:-ref/t2v}
out=${T2V_DEMO_OUT:-out/demo}
if [ ! -f models/demo/config.json ]; then
    echo "make run: the demo model is not in models/demo yet." >&2
    printf 'It would run: %s --model models/demo -p %q -o %s --force\n' "$bin" "$prompt" "$out" >&2
    exit 1
fi
mkdir -p "$(dirname "$out")"
"$bin" generate --model models/demo -p "$prompt" -o "$out" --force "$@"
echo "open $out.png in a browser (animated PNG); frames ${out}_*.png, contact sheet ${out}_sheet.png"
