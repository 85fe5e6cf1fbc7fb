/*
 * fuzz_tol.c: libFuzzer target for `t2v compare --tol FILE`: the tolerance
 * file parser tol_parse and the pattern matcher tol_glob_match
 * (ref/app/cmd_compare.c). The input is the file's bytes. A parse either
 * refuses with a message naming the file and line, or gives at most 64 rules,
 * each a NUL-terminated pattern with TOL >= 0 and MIN_COS in [-1, 1]; each
 * pattern is then matched against fixed tensor names and against itself,
 * and, when short enough, checked against a plain recursive matcher.
 *
 *   tests/fuzz/run.sh --runs 1000000 tol
 *   FUZZ_SEEDS: tests/fuzz/seeds/tol
 *   (inputs up to -max_len=8192)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ref/app/cmd_compare.c"

/* cmd_compare.c's `info` hands model directories to cmd_info.c, which this
 * target does not link. */
int cmd_info_model(int argc, char **argv) {
    (void)argc, (void)argv;
    return 0;
}

/* The obvious matcher ('*' any run), exponential in the stars: short inputs only. */
static int glob_ref(const char *p, const char *s) {
    if (!*p) return !*s;
    if (*p == '*') return glob_ref(p + 1, s) || (*s && glob_ref(p, s + 1));
    return *s == *p && glob_ref(p + 1, s + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    static const char *const names[] = {"", "x", "latent.step0", "latent.final", "blocks.0.self_attn.q.weight",
                                        "video", "context_neg", "****", "a*b"};
    TolRule rules[64];
    int nrules = -1;
    T2vError err;
    memset(&err, 0, sizeof err);
    int rc = tol_parse((const char *)data, n, "fuzz.tol", rules, 64, &nrules, &err);
    if (rc != T2V_OK) {
        if (rc != T2V_EINPUT || err.code != rc || strncmp(err.msg, "fuzz.tol:", 9)) abort();
        return 0;
    }
    if (nrules < 0 || nrules > 64) abort();
    for (int r = 0; r < nrules; r++) {
        const TolRule *t = &rules[r];
        size_t len = strnlen(t->pattern, sizeof t->pattern);
        if (len == 0 || len >= sizeof t->pattern) abort();
        if (!(t->tol >= 0) || !(t->min_cos >= -1 && t->min_cos <= 1)) abort();
        int self = tol_glob_match(t->pattern, t->pattern); /* a pattern matches itself ('*' matches '*') */
        if (!self) abort();
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            int got = tol_glob_match(t->pattern, names[k]);
            if (len <= 24 && got != glob_ref(t->pattern, names[k])) abort();
        }
    }
    return 0;
}
