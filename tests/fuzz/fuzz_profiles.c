/*
 * fuzz_profiles.c: libFuzzer target for the tolerance-profile reader
 * profile_parse (ref/app/verify.c, golden/tolerances.json's format). The
 * input is the file's bytes, read as profile "bf16". A refusal is T2V_EINPUT
 * naming the file; an accepted profile has at most the rules asked for, each
 * pattern NUL-terminated within its buffer, rel >= 0,
 * min_cos = 1 - one_minus_cos in [-1, 1], and op bounds alike.
 *
 *   tests/fuzz/run.sh 60 profiles   (seeds: golden/ *.json)
 *   FUZZ_SEEDS: golden
 *   (max_len=16384)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ref/app/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    TolRule rules[64];
    OpTol ops[32];
    int nrules = -1, nops = -1;
    T2vError err;
    memset(&err, 0, sizeof err);
    int rc = profile_parse((const char *)data, n, "fuzz.json", "bf16", rules, 64, &nrules, ops, 32, &nops, &err);
    if (rc != T2V_OK) {
        if (rc != T2V_EINPUT || err.code != rc || strncmp(err.msg, "fuzz.json:", 10)) abort();
        return 0;
    }
    if (nrules < 0 || nrules > 64 || nops < 0 || nops > 32) abort();
    for (int r = 0; r < nrules; r++) {
        if (strnlen(rules[r].pattern, sizeof rules[r].pattern) >= sizeof rules[r].pattern) abort();
        if (!(rules[r].tol >= 0) || !(rules[r].min_cos >= -1 && rules[r].min_cos <= 1)) abort();
    }
    for (int k = 0; k < nops; k++) {
        if (strnlen(ops[k].op, sizeof ops[k].op) >= sizeof ops[k].op) abort();
        if (!(ops[k].rel >= 0) || !(ops[k].omc >= 0 && ops[k].omc <= 2)) abort();
        if (profile_op(ops, nops, ops[k].op) == NULL) abort();
    }
    return 0;
}
