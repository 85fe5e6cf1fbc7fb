/*
 * fuzz_tol.c: libFuzzer target for `t2v compare --tol FILE`: the tolerance
 * file parser tol_parse and the pattern matcher tol_glob_match
 * (ref/app/cmd_compare.c). The input is the file's bytes. A parse either
 * refuses with a message naming the file and line, or gives at most 64 rules,
 * each a NUL-terminated pattern with TOL >= 0 and MIN_COS in [-1, 1]; each
 * pattern is then matched against fixed tensor names and against itself,
 * and, when short enough, checked against a plain table-filling matcher.
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

/* The textbook matcher ('*' any run): m[i][j] = pattern[i..] matches
 * name[j..], filled from the ends; inputs up to 32 bytes. */
static int glob_ref(const char *p, const char *s) {
    enum { M = 33 };
    unsigned char m[M][M];
    size_t np = strlen(p), ns = strlen(s);
    if (np >= M || ns >= M) abort();
    for (size_t i = np + 1; i-- > 0;)
        for (size_t j = ns + 1; j-- > 0;) {
            if (i == np) m[i][j] = j == ns;
            else if (p[i] == '*') m[i][j] = m[i + 1][j] || (j < ns && m[i][j + 1]);
            else m[i][j] = j < ns && p[i] == s[j] && m[i + 1][j + 1];
        }
    return m[0][0];
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
            if (len <= 32 && got != glob_ref(t->pattern, names[k])) abort();
        }
    }
    return 0;
}
