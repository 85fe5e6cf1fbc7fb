/* cache.c: TeaCache and First-Block-Cache (see cache.h, docs/MODEL.md 3.6). */
#include "cache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================================
 * Names and settings */

const char *cache_kind_name(CacheKind k) {
    static const char *const names[] = {"none", "teacache", "teacache-ret", "fbcache"};
    return k >= CACHE_NONE && k <= CACHE_FBCACHE ? names[k] : "?";
}

int cache_parse(const char *spec, CacheSettings *out, T2vError *err) {
    memset(out, 0, sizeof *out);
    if (!strcmp(spec, "none")) return T2V_OK;
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    for (int k = CACHE_TEACACHE; k <= CACHE_FBCACHE; k++)
        if (strlen(cache_kind_name((CacheKind)k)) == len && !strncmp(spec, cache_kind_name((CacheKind)k), len))
            out->kind = (CacheKind)k;
    if (out->kind == CACHE_NONE)
        return t2v_fail(err, T2V_EUSAGE, "--cache must be none, teacache:THRESH, teacache-ret:THRESH or "
                        "fbcache:THRESH, not '%s'", spec);
    char *end = NULL;
    out->thresh = colon ? strtod(colon + 1, &end) : 0.0;
    if (!colon || end == colon + 1 || *end || !(out->thresh > 0.0) || !(out->thresh <= 100.0))
        return t2v_fail(err, T2V_EUSAGE, "--cache %.*s needs a threshold in (0, 100] after a colon (e.g. %.*s:0.08), "
                        "not '%s'", (int)len, spec, (int)len, spec, spec);
    return T2V_OK;
}

/* TeaCache4Wan2.1's published polynomials (np.poly1d, highest degree first),
 * fitted on Wan2.1 T2V-1.3B and T2V-14B, with e (teacache) or e0
 * (teacache-ret, its use_ret_steps mode). Other widths: the identity. */
static const double TEA_13B[5] = {2.39676752e+03, -1.31110545e+03, 2.01331979e+02, -8.29855975e+00, 1.37887774e-01};
static const double TEA_14B[5] = {-5784.54975374, 5449.50911966, -1811.16591783, 256.27178429, -13.02252404};
static const double TEA_RET_13B[5] = {-5.21862437e+04, 9.23041404e+03, -5.28275948e+02, 1.36987616e+01,
                                      -4.99875664e-02};
static const double TEA_RET_14B[5] = {-3.03318725e+05, 4.90537029e+04, -2.65530556e+03, 5.87365115e+01,
                                      -3.15583525e-01};
static const double IDENTITY[2] = {1.0, 0.0};

static const double *tea_coefficients(const CacheSettings *s, int dim, int *n) {
    int ret = s->kind == CACHE_TEACACHE_RET;
    *n = 5;
    if (dim == 1536) return ret ? TEA_RET_13B : TEA_13B;
    if (dim == 5120) return ret ? TEA_RET_14B : TEA_14B;
    *n = 2;
    return IDENTITY;
}

const char *cache_coefficients_name(const CacheSettings *s, int dim) {
    if (s->kind != CACHE_TEACACHE && s->kind != CACHE_TEACACHE_RET) return "-";
    return dim == 1536 ? "Wan2.1 T2V-1.3B" : dim == 5120 ? "Wan2.1 T2V-14B" : "none (identity)";
}

int cache_schedule_only(const CacheSettings *s) {
    return s->kind == CACHE_TEACACHE || s->kind == CACHE_TEACACHE_RET;
}

/* ============================================================================
 * State */

double cache_bytes(const CacheSettings *s, int tokens, int dim) {
    if (s->kind == CACHE_NONE) return 0.0;
    double nx = (double)tokens * dim * sizeof(float);
    return s->kind == CACHE_FBCACHE ? 5.0 * nx : 3.0 * nx + 2.0 * 6 * dim * sizeof(float);
}

int cache_init(StepCache *c, const CacheSettings *s, int steps, int dim, int tokens, T2vError *err) {
    memset(c, 0, sizeof *c);
    c->set = *s;
    if (s->kind == CACHE_NONE) return T2V_OK;
    c->steps = steps, c->dim = dim, c->tokens = tokens;
    int ret = s->kind == CACHE_TEACACHE_RET;
    c->coef = tea_coefficients(s, dim, &c->ncoef);
    c->ret_steps = ret ? 5 : 1;
    c->cutoff = ret ? steps : steps - 1;
    c->mod_len = s->kind == CACHE_FBCACHE ? tokens * dim : (ret ? 6 : 1) * dim;
    size_t nx = (size_t)tokens * dim;
    c->x_in = (float *)t2v_malloc(nx * sizeof(float), "cache buffers", err);
    for (int k = 0; k < 2; k++) {
        c->b[k].prev = (float *)t2v_malloc((size_t)c->mod_len * sizeof(float), "cache buffers", err);
        c->b[k].residual = (float *)t2v_malloc(nx * sizeof(float), "cache buffers", err);
    }
    c->computed = (int8_t *)t2v_malloc((size_t)steps * 2, "cache decisions", err);
    c->metric = (double *)t2v_malloc((size_t)steps * 2 * sizeof(double), "cache decisions", err);
    if (!c->x_in || !c->b[0].prev || !c->b[0].residual || !c->b[1].prev || !c->b[1].residual || !c->computed ||
        !c->metric) {
        cache_free(c);
        return T2V_ERESOURCE;
    }
    memset(c->computed, -1, (size_t)steps * 2);
    for (int k = 0; k < 2 * steps; k++) c->metric[k] = NAN;
    return T2V_OK;
}

void cache_free(StepCache *c) {
    free(c->x_in);
    for (int k = 0; k < 2; k++) free(c->b[k].prev), free(c->b[k].residual);
    free(c->computed);
    free(c->metric);
    memset(c, 0, sizeof *c);
}

void cache_select(StepCache *c, int step, int branch) {
    if (c && c->set.kind != CACHE_NONE) c->step = step, c->branch = branch;
}

void cache_counts(const StepCache *c, int *computed, int *reused) {
    *computed = *reused = 0;
    for (int k = 0; c->computed && k < 2 * c->steps; k++) {
        if (c->computed[k] == 1) ++*computed;
        if (c->computed[k] == 0) ++*reused;
    }
}

/* ============================================================================
 * The rules */

/* mean|a - b| / mean|b| in double, serially (the same for any thread count). */
static double rel_l1(const float *a, const float *b, int64_t n) {
    double num = 0.0, den = 0.0;
    for (int64_t k = 0; k < n; k++) {
        num += fabs((double)a[k] - b[k]);
        den += fabs((double)b[k]);
    }
    return num / den; /* 0/0 = NaN: never below a threshold, so computed */
}

static double poly(const double *c, int n, double x) {
    double y = 0.0;
    for (int k = 0; k < n; k++) y = y * x + c[k];
    return y;
}

static void record(StepCache *c, int computed, double metric) {
    int k = 2 * c->step + c->branch;
    if (c->step < 0 || c->step >= c->steps) return;
    c->computed[k] = (int8_t)computed;
    c->metric[k] = metric;
}

/* x += the branch's residual */
static void reuse(StepCache *c, float *x) {
    const float *r = c->b[c->branch].residual;
    int64_t n = (int64_t)c->tokens * c->dim;
#pragma omp parallel for
    for (int64_t k = 0; k < n; k++) x[k] = x[k] + r[k];
}

int cache_before_blocks(StepCache *c, float *x, const float *e, const float *e0, int n_e, int N) {
    if (!c || c->set.kind == CACHE_NONE) return 0;
    size_t bytes = (size_t)N * c->dim * sizeof(float);
    if (N != c->tokens || (n_e != 1 && c->set.kind != CACHE_FBCACHE)) { /* not what it was made for: compute */
        c->b[c->branch].have = c->b[c->branch].have_residual = 0;
        if (N == c->tokens) memcpy(c->x_in, x, bytes);
        record(c, 1, NAN);
        return 0;
    }
    if (c->set.kind == CACHE_FBCACHE) {
        memcpy(c->x_in, x, bytes);
        return 0;
    }
    /* TeaCache: the first ret_steps and the steps from cutoff on are computed */
    CacheBranch *b = &c->b[c->branch];
    const float *mod = c->set.kind == CACHE_TEACACHE_RET ? e0 : e;
    int skip = 0;
    double metric = NAN;
    if (c->step < c->ret_steps || c->step >= c->cutoff || !b->have || !b->have_residual) {
        b->acc = 0.0;
    } else {
        b->acc += poly(c->coef, c->ncoef, rel_l1(mod, b->prev, c->mod_len));
        metric = b->acc;
        if (b->acc < c->set.thresh) skip = 1;
        else b->acc = 0.0;
    }
    memcpy(b->prev, mod, (size_t)c->mod_len * sizeof(float));
    b->have = 1;
    record(c, !skip, metric);
    if (skip) reuse(c, x);
    else memcpy(c->x_in, x, bytes);
    return skip;
}

int cache_after_first_block(StepCache *c, float *x, int N) {
    if (!c || c->set.kind != CACHE_FBCACHE || N != c->tokens) return 0;
    CacheBranch *b = &c->b[c->branch];
    int64_t n = (int64_t)N * c->dim;
    float *r1 = c->x_in; /* becomes block 0's residual */
#pragma omp parallel for
    for (int64_t k = 0; k < n; k++) r1[k] = x[k] - r1[k];
    double metric = b->have && b->have_residual ? rel_l1(r1, b->prev, n) : NAN;
    if (metric < c->set.thresh) { /* NaN: false */
        record(c, 0, metric);
        reuse(c, x);
        return 1;
    }
    c->x_in = b->prev; /* prev <- r1; x_in <- x after block 0 */
    b->prev = r1;
    b->have = 1;
    memcpy(c->x_in, x, (size_t)n * sizeof(float));
    record(c, 1, metric);
    return 0;
}

void cache_after_blocks(StepCache *c, const float *x, int N) {
    if (!c || c->set.kind == CACHE_NONE || N != c->tokens) return;
    CacheBranch *b = &c->b[c->branch];
    int64_t n = (int64_t)N * c->dim;
#pragma omp parallel for
    for (int64_t k = 0; k < n; k++) b->residual[k] = x[k] - c->x_in[k];
    b->have_residual = 1;
}
