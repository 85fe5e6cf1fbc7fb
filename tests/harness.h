/*
 * harness.h: the few helpers every test file uses. Each tests/test_*.c is its
 * own program: it prints one line per check ("ok ..." or "NOT OK ...", with
 * the first differing values and the max difference on failure) and ends with
 * "N passed, N failed". tests/run.sh runs them all and sums the counts.
 *
 * The goldens come from tools/ (PyTorch, float64); never from this code.
 */
#ifndef T2V_HARNESS_H
#define T2V_HARNESS_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#include <sys/wait.h>
#include <unistd.h>
#else
#include <direct.h>
#include <io.h>
#endif

#include "../ref/lib/platform.h"
#include "../ref/lib/safetensors.h"
#include "../ref/lib/tensor.h"

static int h_passed, h_failed, h_skipped;

/* One result line: its 7-column tag ("ok     ", "NOT OK ", "skip   "), the message. */
static inline void h_vline(const char *tag, const char *fmt, va_list ap) {
    printf("%s", tag);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
}

static inline void h_report(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    h_vline(ok ? "ok     " : "NOT OK ", fmt, ap);
    va_end(ap);
    if (ok) h_passed++; else h_failed++;
}

/* A check that could not run here (a tool or a build option is missing):
 * printed and counted, neither passed nor failed. */
static inline void h_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    h_vline("skip   ", fmt, ap);
    va_end(ap);
    h_skipped++;
}

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        int c_ = (cond) ? 1 : 0;                                              \
        if (!c_) printf("       (%s:%d: %s)\n", __FILE__, __LINE__, #cond);   \
        h_report(c_, __VA_ARGS__);                                            \
    } while (0)

/* Cross-platform bit comparison (tests/cross/run.sh): when T2V_DUMP_DIR is
 * set, every check_close also writes its `got` floats, little-endian whatever
 * the host, to $T2V_DUMP_DIR/NNNN_<what>.bin (NNNN: the check's index in this
 * program). Unset (the default): nothing is written. */
static int h_dump_seq;

static inline void h_dump(const char *what, const float *got, int64_t n) {
    const char *dir = getenv("T2V_DUMP_DIR");
    if (!dir || !*dir) return;
    char path[1024], name[128];
    size_t k = 0;
    for (const char *c = what; *c && k + 1 < sizeof name; c++)
        name[k++] = ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                     *c == '.' || *c == '-') ? *c : '_';
    name[k] = 0;
    snprintf(path, sizeof path, "%s/%04d_%s.bin", dir, h_dump_seq++, name);
    FILE *f = fopen(path, "wb");
    if (!f) { printf("       (T2V_DUMP_DIR: cannot write %s)\n", path); return; }
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        unsigned char b[4];
        memcpy(&u, &got[i], 4);
        b[0] = (unsigned char)u; b[1] = (unsigned char)(u >> 8);
        b[2] = (unsigned char)(u >> 16); b[3] = (unsigned char)(u >> 24);
        fwrite(b, 1, 4, f);
    }
    fclose(f);
}

/* Compares got against ref with the stated tolerances (golden/README.md):
 * max|got-ref| / rms(ref) <= tol_rel and cosine >= min_cos, no NaN/Inf.
 * On failure prints the first differing values and the max difference. */
static inline int check_close(const char *what, const float *got, const float *ref, int64_t n,
                       double tol_rel, double min_cos) {
    ErrStats s;
    h_dump(what, got, n);
    err_stats(&s, got, ref, n, tol_rel);
    int ok = err_ok(&s, tol_rel, min_cos);
    h_report(ok, "%-44s n=%-8lld rel %.2e (tol %.0e) cos %.9f max|d| %.3e", what, (long long)n,
             s.rel, tol_rel, s.cosine, s.max_abs);
    if (!ok) {
        int64_t start = s.first_bad >= 0 ? s.first_bad : 0;
        printf("       nonfinite=%lld first bad index %lld, argmax %lld\n", (long long)s.nonfinite,
               (long long)s.first_bad, (long long)s.argmax);
        for (int64_t i = start; i < n && i < start + 6; i++)
            printf("       [%lld] got % .9g  ref % .9g  diff % .3e\n", (long long)i, got[i], ref[i],
                   (double)got[i] - (double)ref[i]);
        if (s.argmax >= 0 && s.argmax < n)
            printf("       [%lld] got % .9g  ref % .9g  (max diff)\n", (long long)s.argmax,
                   got[s.argmax], ref[s.argmax]);
    }
    return ok;
}

/* A golden's __metadata__ value, or "" when absent. */
static inline const char *h_meta(const SafeTensors *st, const char *key) {
    const char *v = st_meta(st, key);
    return v ? v : "";
}

/* The t2v CLI, for tests that run it: $T2V_BIN (an emulator's wrapper), else
 * BUILD/t2v beside this test (argv0 = BUILD/tests/test_x), else ref/t2v. */
static inline void h_find_bin(const char *argv0, char *out, size_t n) {
    const char *env = getenv("T2V_BIN");
    if (env && *env) { snprintf(out, n, "%s", env); return; }
    char dir[800];
    snprintf(dir, sizeof dir, "%s", argv0 ? argv0 : "");
    for (int up = 0; up < 2; up++) { /* drop "/test_x", then "/tests" */
        char *slash = strrchr(dir, '/');
        if (!slash) { snprintf(dir, sizeof dir, "."); break; }
        *slash = 0;
    }
    snprintf(out, n, "%s/t2v", dir);
    if (!platform_file_exists(out)) snprintf(out, n, "ref/t2v");
}

/* A whole file, NUL-terminated (so text can be searched with strstr); its
 * length without the NUL in *n when n is not NULL (0 when it cannot be read,
 * and NULL returned). The caller frees it. */
static inline char *h_slurp(const char *path, size_t *n) {
    if (n) *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    long len = fseek(f, 0, SEEK_END) ? -1 : ftell(f);
    char *b = len >= 0 && !fseek(f, 0, SEEK_SET) ? (char *)malloc((size_t)len + 1) : NULL;
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) { free(b); b = NULL; }
    fclose(f);
    if (b) {
        b[len] = 0;
        if (n) *n = (size_t)len;
    }
    return b;
}

#ifndef _WIN32
/* Running commands (the tests that drive the CLI; POSIX shells only). */

/* system()'s status as an exit code: -1 when the command did not exit
 * normally (a crash, a signal) or could not run. */
static inline int h_exit_status(int st) {
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A printf-style shell command line; its exit code (h_exit_status). */
static inline int h_sh(const char *fmt, ...) T2V_PRINTF(1, 2);
static inline int h_sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return h_exit_status(system(cmd));
}

/* Runs cmd with stdin from /dev/null and stdout and stderr into the file
 * log, then reads the log into out (n bytes, NUL-terminated, cut when
 * longer); returns the exit code (h_exit_status). */
static inline int h_run_logged(const char *cmd, const char *log, char *out, size_t n) {
    char full[10000];
    snprintf(full, sizeof full, "%s >'%s' 2>&1 </dev/null", cmd, log);
    int rc = h_exit_status(system(full));
    out[0] = 0;
    FILE *f = fopen(log, "rb");
    if (f) {
        size_t got = fread(out, 1, n - 1, f);
        out[got] = 0;
        fclose(f);
    }
    return rc;
}

/* Runs prefix 'bin' ARGS (ARGS printf-style from fmt and ap; prefix: an
 * environment assignment or ""; bin NULL: ARGS is the whole command) with its
 * output into dir/log.txt and out (h_run_logged); returns the exit code. The
 * one body of the tests' t2v(...) / run(...) wrappers. */
static inline int h_vrun_bin(const char *prefix, const char *bin, const char *dir, char *out, size_t n,
                             const char *fmt, va_list ap) {
    char args[4096], cmd[6000], log[512];
    vsnprintf(args, sizeof args, fmt, ap);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    if (bin) snprintf(cmd, sizeof cmd, "%s '%s' %s", prefix, bin, args);
    else snprintf(cmd, sizeof cmd, "%s %s", prefix, args);
    return h_run_logged(cmd, log, out, n);
}
#endif

/* Opens a golden file or reports and returns 0. */
static inline int golden_open(SafeTensors *st, const char *path) {
    T2vError e = {0, {0}};
    if (st_open(st, path, &e) != T2V_OK) {
        h_report(0, "open golden %s: %s (re-run `make golden`)", path, e.msg);
        return 0;
    }
    return 1;
}

/* A golden tensor widened to a new fp32 array (caller frees), or NULL with a
 * failed check naming the tensor. */
static inline float *golden_f32(const SafeTensors *st, const char *name, int64_t *n_out) {
    const Tensor *t = tl_find(&st->tensors, name);
    if (!t) {
        h_report(0, "%s: golden tensor '%s' missing (re-run `make golden`)", st->path, name);
        return NULL;
    }
    float *x = tensor_to_f32_alloc(t, NULL);
    if (n_out) *n_out = tensor_numel(t);
    return x;
}

/* A golden's token ids (I32 [L], little-endian in the file) in host order,
 * in a new array (caller frees), or NULL with a failed check. */
static inline int32_t *golden_ids(const SafeTensors *st, const char *name, int *L) {
    const Tensor *t = tl_find(&st->tensors, name);
    if (!t || t->dtype != DT_I32 || t->ndim != 1) {
        h_report(0, "%s: golden ids '%s' missing or not I32 [L]", st->path, name);
        return NULL;
    }
    *L = (int)t->shape[0];
    int32_t *ids = (int32_t *)malloc((size_t)(*L > 0 ? *L : 1) * sizeof *ids);
    for (int i = 0; i < *L; i++) ids[i] = (int32_t)rd_u32le((const char *)t->data + 4 * i);
    return ids;
}

/* ---------------------------------------------------------------------------
 * The tiny PRNG shared with tools/prng.py, for weights generated at test time
 * (full-width cases whose weights are too big to commit). splitmix64; each
 * draw maps the top 24 bits to a float in [-1, 1) exactly:
 *   u = ((x >> 40) - 2^23) / 2^23.
 * prng_fill(seed, out, n, scale) writes scale * u_i (scale a power of two
 * keeps the values exact in fp32 and in the tools). */
static inline uint64_t prng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static inline void prng_fill(uint64_t seed, float *out, int64_t n, float scale) {
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        int64_t u = (int64_t)(prng_next(&s) >> 40) - (1 << 23);
        out[i] = scale * ((float)u / 8388608.0f);
    }
}

/* n floats (at least one) of heap, or the test stops: out of memory. */
static inline float *h_falloc(int64_t n) {
    float *p = (float *)malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    return p;
}
/* n floats of prng_fill(seed, ., n, scale). */
static inline float *h_rand_floats(uint64_t seed, int64_t n, float scale) {
    float *x = h_falloc(n);
    prng_fill(seed, x, n, scale);
    return x;
}
/* setenv / unsetenv (value NULL), which the Windows C library spells
 * _putenv ("NAME=" removes). */
static inline void h_env_set(const char *name, const char *value) {
#if defined(_WIN32)
    char kv[256];
    snprintf(kv, sizeof kv, "%s=%s", name, value ? value : "");
    _putenv(kv);
#else
    if (value) setenv(name, value, 1);
    else unsetenv(name);
#endif
}

/* A new empty temporary directory named NAME plus 6 random characters, in
 * /tmp (POSIX) or %TEMP% (Windows), into dir; 0 (reported) when it fails. */
static inline int h_tmpdir(char *dir, size_t n, const char *name) {
#if defined(_WIN32)
    const char *tmp = getenv("TEMP") ? getenv("TEMP") : ".";
    snprintf(dir, n, "%s\\%s-XXXXXX", tmp, name);
    int ok = _mktemp(dir) != NULL && _mkdir(dir) == 0;
#else
    snprintf(dir, n, "/tmp/%s-XXXXXX", name);
    int ok = mkdtemp(dir) != NULL;
#endif
    if (!ok) h_report(0, "cannot create a temporary directory %s", dir);
    return ok;
}

/* Whether two float arrays hold the same bits. */
static inline int h_same_bits(const float *a, const float *b, int64_t n) {
    return memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

/* T2V_GEMM_GENERIC as the program found it (tests/cross/run.sh's
 * x86_64-portable sets it): tests force the portable kernel for a while,
 * then put this back. */
static char h_generic0[8];
static int h_generic0_set;
static inline void h_generic_save(void) {
    const char *e = getenv("T2V_GEMM_GENERIC");
    h_generic0_set = e != NULL;
    snprintf(h_generic0, sizeof h_generic0, "%s", e ? e : "");
}
static inline void h_generic_restore(void) { h_env_set("T2V_GEMM_GENERIC", h_generic0_set ? h_generic0 : NULL); }

static inline int h_finish(void) {
    printf("%d passed, %d failed", h_passed, h_failed);
    if (h_skipped) printf(", %d skipped", h_skipped);
    printf("\n");
    return h_failed ? 1 : 0;
}

#endif
