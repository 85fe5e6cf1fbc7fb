#!/usr/bin/env bash
# Runs every test program in BUILD/tests (from the repository root, where the
# goldens are) and prints the summed counts as the last line:
#   N passed, N failed[, N skipped]
# Each program prints its own per-check lines and ends with "N passed, N
# failed", and ", N skipped" when some checks could not run on this host.
set -u
build=${1:?usage: tests/run.sh BUILD_DIR}
runner=${T2V_TEST_RUNNER:-}   # e.g. "qemu-s390x -L /usr/s390x-linux-gnu" or "wine"
passed=0 failed=0 skipped=0 crashed=0
# t2v signs its outputs with a key from the user's config directory, made at
# first use: the suite gets a fresh one, never the user's (docs/OUTPUTS.md).
cfg=$(mktemp -d "${TMPDIR:-/tmp}/t2v-test-config.XXXXXX") || exit 1
trap 'rm -rf "$cfg"' EXIT
export XDG_CONFIG_HOME="$cfg"
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.d) continue;; esac
    name=$(basename "$t")
    echo "== $name"
    out=$($runner "$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    last=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$last" ]; then
        echo "NOT OK $name exited with status $rc before its summary line"
        failed=$((failed + 1)); crashed=$((crashed + 1)); continue
    fi
    p=$(echo "$last" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$last" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$last" | sed -nE 's/.*, ([0-9]+) skipped$/\1/p')
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "NOT OK $name exited with status $rc"; failed=$((failed + 1))
    fi
done
if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"
else echo "$passed passed, $failed failed"; fi
[ "$failed" -eq 0 ]
