#!/usr/bin/env bash
# tests/cross/runner.sh [EMULATOR ARGS...] PROGRAM: the T2V_TEST_RUNNER used
# by tests/cross/run.sh. Runs PROGRAM (under the emulator, if any) with
# T2V_DUMP_DIR=$T2V_CROSS_DUMP/<program name>, so its check_close calls dump
# their computed floats there for the bit-for-bit comparison.
set -u
prog=${!#}
name=$(basename "$prog" .exe)
dir=${T2V_CROSS_DUMP:?T2V_CROSS_DUMP not set}/$name
rm -rf "$dir" && mkdir -p "$dir"
t0=$(date +%s.%N)
T2V_DUMP_DIR=$dir "$@"
rc=$?
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }' > "$dir.seconds"
exit $rc
