#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_*.c as a libFuzzer target (clang,
# -fsanitize=fuzzer,address,undefined) into build/fuzz/ and runs each for
# SECONDS (default 60) on a seed corpus from golden/ and tests/hostile/.
#
#   tests/fuzz/run.sh [SECONDS] [--runs N] [TARGET...]   (`make fuzz FUZZ_SECONDS=N`)
#
# Arguments in any order: a number is SECONDS, --runs N (or -runs=N) stops
# each target after N executions instead (SECONDS then only caps it, when
# given), anything else names a target (fuzz_json or json).
#
# Sources: the ref/*.c files a target needs, found by following
# `#include "....h"` from the target through ref/ (X.h -> ref/lib/X.c or ref/app/X.c), so a new
# fuzz_*.c needs no list here. A target may override with a comment line
# "FUZZ_SOURCES: tensor platform json" and set its input limit with
# "-max_len=N" anywhere in its comments (default 131072).
# Seeds: files of golden/ and tests/hostile/ no larger than max_len, chosen by
# the target's name (pth: *.pth, safetensors: *.safetensors, json: *.json and
# *.safetensors, tokenizer: *.model), or "FUZZ_SEEDS: DIR..." in the target.
# tests/fuzz/TARGET.dict, when present, is passed as the libFuzzer dictionary.
# Findings (crash-*, leak-*, timeout-*) go to build/fuzz/artifacts/TARGET/;
# the run fails if any target found something.
set -u
cd "$(dirname "$0")/../.."
secs=
runs=
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=${2:?--runs needs a number}; shift ;;
        --runs=*|-runs=*) runs=${1#*=} ;;
        '') ;;
        *[!0-9]*) t=${1%.c}; t=${t##*/}; case "$t" in fuzz_*) ;; *) t=fuzz_$t ;; esac; targets+=("$t") ;;
        *) secs=$1 ;;
    esac
    shift
done
case "$runs" in ''|*[!0-9]*) [ -z "$runs" ] || { echo "--runs takes a number, not '$runs'"; exit 1; } ;; esac
# -max_total_time=0: no time limit (with --runs and no SECONDS)
if [ -n "$runs" ]; then limit="-runs=$runs -max_total_time=${secs:-0}"; what="$runs runs${secs:+ (at most $secs s)}"
else secs=${secs:-60}; limit="-max_total_time=$secs"; what="$secs s"; fi
CC=${FUZZ_CC:-clang}
out=build/fuzz
mkdir -p "$out"
flags="-std=c99 -g -O1 -ffp-contract=off -fno-math-errno -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
       -isystem /usr/include/stb -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -fno-omit-frame-pointer -fopenmp"

# ref/{lib,app}/X.c for every header (or .c) reachable from file $1 (transitively).
src_of() { for d in ref/lib ref/app; do [ -f "$d/$1" ] && echo "$d/$1"; done; }
deps() {
    local todo=("$1") seen=" " f h
    while [ ${#todo[@]} -gt 0 ]; do
        f=${todo[0]}; todo=("${todo[@]:1}")
        for h in $(grep -ho '#include "[^"]*\.[ch]"' "$f" 2>/dev/null | sed -E 's/.*"(.*\/)?([^/]*)\.[ch]"/\2/'); do
            case "$seen" in *" $h "*) continue;; esac
            seen="$seen$h "
            for x in $(src_of "$h.h") $(src_of "$h.c"); do todo+=("$x"); done
        done
    done
    for h in $seen; do [ "$h" != main ] && src_of "$h.c"; done
}

if [ ${#targets[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
status=0
for t in "${targets[@]}"; do
    src=tests/fuzz/$t.c
    [ -f "$src" ] || { echo "no such target: $src"; status=1; continue; }
    listed=$(sed -n 's/.*FUZZ_SOURCES:[[:space:]]*//p' "$src" | head -n 1)
    if [ -n "$listed" ]; then
        srcs=$(for m in $listed; do src_of "$m.c"; done)
    else
        srcs=$(deps "$src")
    fi
    # a target that #includes a ref/*.c itself must not link it again
    for inc in $(grep -ho '#include "[^"]*ref/[^"]*\.c"' "$src" | sed -E 's/.*"(.*\/)?([^/]*\.c)"/\2/'); do
        inc=$(src_of "$inc")
        srcs=$(echo "$srcs" | grep -vx "$inc")
    done
    libs="-lm"
    grep -q T2V_OPENBLAS $srcs /dev/null 2>/dev/null && libs="$libs -lopenblas" && extra=-DT2V_OPENBLAS || extra=
    # C2PA signing and verifying (ref/lib/c2pa_crypto.c) need libcrypto
    grep -q T2V_C2PA $srcs /dev/null 2>/dev/null && libs="$libs -lcrypto" && extra="$extra -DT2V_C2PA"
    echo "== $t: $(echo $srcs | tr '\n' ' ')"
    if ! $CC $flags $extra -Iref/lib -Iref/app "$src" $srcs -o "$out/$t" $libs; then
        echo "NOT OK $t: build failed"; status=1; continue
    fi
    maxlen=$(grep -o 'max_len=[0-9]*' "$src" | head -n 1 | cut -d= -f2)
    maxlen=${maxlen:-131072}
    corpus=$out/corpus/$t
    art=$out/artifacts/$t/
    rm -rf "$art"
    mkdir -p "$corpus" "$art"
    dirs=$(sed -n 's/.*FUZZ_SEEDS:[[:space:]]*//p' "$src" | head -n 1)
    dirs=${dirs:-golden tests/hostile}
    case "$t" in
        *pth*) pat='-name *.pth' ;;
        *safetensors*) pat='-name *.safetensors' ;;
        *gguf*) pat='-name *.gguf' ;;
        *json*) pat='( -name *.json -o -name *.safetensors )' ;;
        *profiles*) pat='-name *.json' ;;
        *tokenizer*) pat='-name *.model' ;;
        *c2pa*) pat='( -name *.c2pa -o -name *.png -o -name *.mp4 )' ;;
        *) pat='' ;;
    esac
    set -f  # the patterns are for find, not the shell
    # shellcheck disable=SC2086
    find $dirs -type f $pat -size -$((maxlen / 1024 + 1))k 2>/dev/null | while read -r f; do
        cp "$f" "$corpus/seed_$(echo "$f" | tr '/' '_')" 2>/dev/null
    done
    set +f
    echo "   $(ls "$corpus" | wc -l) inputs in the corpus, $what, max_len $maxlen"
    log=$out/$t.log
    dict=
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    # shellcheck disable=SC2086
    "$out/$t" "$corpus" $limit -max_len="$maxlen" -timeout=20 -rss_limit_mb=2048 \
        -artifact_prefix="$art" -print_final_stats=1 $dict >"$log" 2>&1
    rc=$?
    tail -n 12 "$log" | grep -E 'stat::number_of_executed_units|stat::peak_rss|cov:|ERROR|SUMMARY' | tail -n 4
    found=$(ls "$art" 2>/dev/null | wc -l)
    if [ $rc -ne 0 ] || [ "$found" -ne 0 ]; then
        echo "NOT OK $t: exit $rc, $found finding(s) in $art (log: $log)"
        grep -m 5 -E 'ERROR|SUMMARY|==[0-9]+==' "$log"
        status=1
    else
        echo "ok     $t: no findings in $what"
    fi
done
exit $status
