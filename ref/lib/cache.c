/* cache.c: TeaCache, First-Block-Cache, MagCache and EasyCache (see cache.h, docs/MODEL.md 3.6). */
#include "cache.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================================
 * Names and settings */

const char *cache_kind_name(CacheKind k) {
    static const char *const names[] = {"none", "teacache", "teacache-ret", "fbcache", "magcache",
                                        "magcache-calibrate", "easycache"};
    return k >= CACHE_NONE && k <= CACHE_EASYCACHE ? names[k] : "?";
}

#define CACHE_KINDS "none, teacache:T, teacache-ret:T, fbcache:T, magcache:T[,K[,RET]][@FILE], " \
                    "magcache-calibrate:FILE or easycache:T[,W]"

/* strtod/strtol of [p, end of field): the field must be all number. */
static int field_double(const char *p, const char *stop, double *v) {
    char *end = NULL;
    *v = strtod(p, &end);
    return end != p && end == stop;
}

static int field_int(const char *p, const char *stop, int lo, int hi, int *v) {
    char *end = NULL;
    long n = strtol(p, &end, 10);
    if (end == p || end != stop || n < lo || n > hi) return 0;
    *v = (int)n;
    return 1;
}

/* The text of a file, NUL-terminated (at most 1 MB: a ratio table is small). */
static char *read_text(const char *path, T2vError *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return t2v_fail(err, T2V_EUSAGE, "--cache magcache: cannot open the ratio file '%s'", path), NULL;
    char *buf = (char *)t2v_malloc((1 << 20) + 1, "magcache ratio file", err);
    size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    int big = buf && n == (1 << 20) && fgetc(f) != EOF;
    fclose(f);
    if (!buf) return NULL;
    if (big) {
        free(buf);
        return t2v_fail(err, T2V_EUSAGE, "--cache magcache: '%s' is over 1 MB, not a ratio table", path), NULL;
    }
    buf[n] = 0;
    return buf;
}

int cache_ratios_parse(const char *text, const char *what, CacheSettings *s, T2vError *err) {
    s->n_ratios = 0;
    for (const char *p = text; *p;) {
        if (*p == '#') { /* a comment, to the end of the line */
            while (*p && *p != '\n') p++;
            continue;
        }
        if (strchr(" \t\r\n,[]", *p)) { p++; continue; }
        char *end = NULL;
        double v = strtod(p, &end);
        if (end == p || !(v > 0.0) || !isfinite(v)) {
            int len = 0;
            while (len < 16 && p[len] && !strchr(" \t\r\n,[]", p[len])) len++;
            return t2v_fail(err, T2V_EUSAGE, "%s: expected magnitude ratios (numbers > 0), found '%.*s'", what,
                            len, p);
        }
        if (s->n_ratios == 2 * CACHE_MAX_STEPS)
            return t2v_fail(err, T2V_EUSAGE, "%s: more than %d ratios (%d steps)", what, 2 * CACHE_MAX_STEPS,
                            CACHE_MAX_STEPS);
        s->ratios[s->n_ratios++] = v;
        p = end;
    }
    if (s->n_ratios < 2 || s->n_ratios % 2)
        return t2v_fail(err, T2V_EUSAGE, "%s: %d ratios; expected 2 per step (conditional, unconditional), "
                        "at least one step", what, s->n_ratios);
    return T2V_OK;
}

static int parse_magcache(const char *spec, const char *params, CacheSettings *s, T2vError *err) {
    const char *at = strchr(params, '@'), *stop = at ? at : params + strlen(params);
    const char *c1 = memchr(params, ',', (size_t)(stop - params));
    const char *c2 = c1 ? memchr(c1 + 1, ',', (size_t)(stop - c1 - 1)) : NULL;
    s->max_skips = 2, s->retention = 0.2; /* MagCache4Wan2.1's defaults */
    if (!field_double(params, c1 ? c1 : stop, &s->thresh) || !(s->thresh > 0.0) || !(s->thresh <= 100.0) ||
        (c1 && !field_int(c1 + 1, c2 ? c2 : stop, 1, CACHE_MAX_STEPS, &s->max_skips)) ||
        (c2 && (!field_double(c2 + 1, stop, &s->retention) || !(s->retention >= 0.0) || !(s->retention <= 1.0))))
        return t2v_fail(err, T2V_EUSAGE, "--cache magcache:T[,K[,RET]][@FILE] needs T in (0, 100], K an integer "
                        "in 1..%d (default 2), RET in [0, 1] (default 0.2), e.g. magcache:0.12,2,0.2; not '%s'",
                        CACHE_MAX_STEPS, spec);
    if (!at) return T2V_OK;
    if (!at[1]) return t2v_fail(err, T2V_EUSAGE, "--cache %s: a file name after '@'", spec);
    char *text = read_text(at + 1, err);
    if (!text) return err ? err->code : T2V_EUSAGE;
    int rc = cache_ratios_parse(text, at + 1, s, err);
    free(text);
    return rc;
}

int cache_parse(const char *spec, CacheSettings *out, T2vError *err) {
    memset(out, 0, sizeof *out);
    if (!strcmp(spec, "none")) return T2V_OK;
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    for (int k = CACHE_TEACACHE; k <= CACHE_EASYCACHE; k++)
        if (strlen(cache_kind_name((CacheKind)k)) == len && !strncmp(spec, cache_kind_name((CacheKind)k), len))
            out->kind = (CacheKind)k;
    if (out->kind == CACHE_NONE) return t2v_fail(err, T2V_EUSAGE, "--cache must be %s, not '%s'", CACHE_KINDS, spec);
    const char *params = colon ? colon + 1 : "";
    if (out->kind == CACHE_MAGCACHE) return parse_magcache(spec, params, out, err);
    if (out->kind == CACHE_MAGCACHE_CAL) {
        if (!*params) return t2v_fail(err, T2V_EUSAGE, "--cache magcache-calibrate:FILE needs the file to write "
                                      "the ratios to, not '%s'", spec);
        out->path = params;
        return T2V_OK;
    }
    const char *comma = out->kind == CACHE_EASYCACHE ? strchr(params, ',') : NULL, *stop = params + strlen(params);
    out->warmup = 10; /* EasyCache4Wan2.1's */
    if (!colon || !field_double(params, comma ? comma : stop, &out->thresh) || !(out->thresh > 0.0) ||
        !(out->thresh <= 100.0) || (comma && !field_int(comma + 1, stop, 0, CACHE_MAX_STEPS, &out->warmup))) {
        if (out->kind == CACHE_EASYCACHE)
            return t2v_fail(err, T2V_EUSAGE, "--cache easycache:T[,W] needs T in (0, 100] and W an integer in "
                            "0..%d (warm-up steps, default 10), e.g. easycache:0.05; not '%s'", CACHE_MAX_STEPS, spec);
        return t2v_fail(err, T2V_EUSAGE, "--cache %.*s needs a threshold in (0, 100] after a colon (e.g. %.*s:0.08), "
                        "not '%s'", (int)len, spec, (int)len, spec, spec);
    }
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

int cache_step_only(const CacheSettings *s) {
    return s->kind == CACHE_MAGCACHE;
}

int cache_whole_model(const CacheSettings *s) {
    return s->kind == CACHE_EASYCACHE;
}

/* MagCache4Wan2.1's published magnitude ratios, calibrated on Wan2.1
 * T2V-1.3B and T2V-14B with 50 UniPC steps: steps 1..49, conditional and
 * unconditional interleaved (step 0 has no predecessor: 1). */
static const double MAG_13B[98] = {
    1.0124, 1.02213, 1.00166, 1.0041, 0.99791, 1.00061, 0.99682, 0.99762, 0.99634, 0.99685, 0.99567, 0.99586,
    0.99416, 0.99422, 0.99578, 0.99575, 0.9957, 0.99563, 0.99511, 0.99506, 0.99535, 0.99531, 0.99552, 0.99549,
    0.99541, 0.99539, 0.9954, 0.99536, 0.99489, 0.99485, 0.99518, 0.99514, 0.99484, 0.99478, 0.99481, 0.99479,
    0.99415, 0.99413, 0.99419, 0.99416, 0.99396, 0.99393, 0.99388, 0.99386, 0.99349, 0.99349, 0.99309, 0.99304,
    0.9927, 0.9927, 0.99228, 0.99226, 0.99171, 0.9917, 0.99137, 0.99135, 0.99068, 0.99063, 0.99005, 0.99003,
    0.98944, 0.98942, 0.98849, 0.98849, 0.98758, 0.98757, 0.98644, 0.98643, 0.98504, 0.98503, 0.9836, 0.98359,
    0.98202, 0.98201, 0.97977, 0.97978, 0.97717, 0.97718, 0.9741, 0.97411, 0.97003, 0.97002, 0.96538, 0.96541,
    0.9593, 0.95933, 0.95086, 0.95089, 0.94013, 0.94019, 0.92402, 0.92414, 0.90241, 0.9026, 0.86821, 0.86868,
    0.81838, 0.81939};
static const double MAG_14B[98] = {
    1.02504, 1.03017, 1.00025, 1.00251, 0.9985, 0.99962, 0.99779, 0.99771, 0.9966, 0.99658, 0.99482, 0.99476,
    0.99467, 0.99451, 0.99664, 0.99656, 0.99434, 0.99431, 0.99533, 0.99545, 0.99468, 0.99465, 0.99438, 0.99434,
    0.99516, 0.99517, 0.99384, 0.9938, 0.99404, 0.99401, 0.99517, 0.99516, 0.99409, 0.99408, 0.99428, 0.99426,
    0.99347, 0.99343, 0.99418, 0.99416, 0.99271, 0.99269, 0.99313, 0.99311, 0.99215, 0.99215, 0.99218, 0.99215,
    0.99216, 0.99217, 0.99163, 0.99161, 0.99138, 0.99135, 0.98982, 0.9898, 0.98996, 0.98995, 0.9887, 0.98866,
    0.98772, 0.9877, 0.98767, 0.98765, 0.98573, 0.9857, 0.98501, 0.98498, 0.9838, 0.98376, 0.98177, 0.98173,
    0.98037, 0.98035, 0.97678, 0.97677, 0.97546, 0.97543, 0.97184, 0.97183, 0.96711, 0.96708, 0.96349, 0.96345,
    0.95629, 0.95625, 0.94926, 0.94929, 0.93964, 0.93961, 0.92511, 0.92504, 0.90693, 0.90678, 0.8796, 0.87945,
    0.86111, 0.86189};

const char *cache_published_ratios_name(int dim) {
    return dim == 1536 ? "Wan2.1 T2V-1.3B" : dim == 5120 ? "Wan2.1 T2V-14B" : NULL;
}

/* The table for this run, (steps, 2): the source's S0 steps as they are
 * when S0 = steps, else per branch the nearest source step, index
 * round((S0 - 1) k / (steps - 1)) with ties to even (numpy's round;
 * MagCache4Wan2.1's nearest_interp), the last one for a single step. */
static void mag_table(const double *src, int s0, int steps, double *out) {
    double scale = steps > 1 ? (double)(s0 - 1) / (steps - 1) : 0.0;
    for (int k = 0; k < steps; k++) {
        int j = s0 == steps ? k : steps == 1 ? s0 - 1 : (int)nearbyint(k * scale);
        out[2 * k] = src[2 * j], out[2 * k + 1] = src[2 * j + 1];
    }
}

int cache_check(const CacheSettings *s, int dim, T2vError *err) {
    if (s->kind != CACHE_MAGCACHE || s->n_ratios || cache_published_ratios_name(dim)) return T2V_OK;
    return t2v_fail(err, T2V_EUSAGE, "--cache magcache: no published magnitude ratios for a DiT of width %d "
                    "(published: 1536 = Wan2.1 T2V-1.3B, 5120 = T2V-14B); measure them with --cache "
                    "magcache-calibrate:FILE and pass magcache:T@FILE", dim);
}

static int mag_init(StepCache *c, const CacheSettings *s, T2vError *err) {
    double pub[100];
    const double *src = s->ratios;
    int s0 = s->n_ratios / 2;
    int rc = cache_check(s, c->dim, err);
    if (rc) return rc;
    if (!s->n_ratios) {
        const double *t = c->dim == 1536 ? MAG_13B : MAG_14B;
        pub[0] = pub[1] = 1.0;
        memcpy(pub + 2, t, sizeof MAG_13B);
        src = pub, s0 = 50;
    }
    c->ratio = (double *)t2v_malloc((size_t)c->steps * 2 * sizeof(double), "magcache ratios", err);
    if (!c->ratio) return T2V_ERESOURCE;
    mag_table(src, s0, c->steps, c->ratio);
    c->ret_steps = (int)(s->retention * c->steps); /* int(RET x steps), as Python's int() */
    c->cutoff = c->steps;
    for (int k = 0; k < 2; k++) c->b[k].mag_ratio = 1.0;
    return T2V_OK;
}

int cache_ratios_write(const char *path, const double *metric, int steps, T2vError *err) {
    FILE *f = fopen(path, "w");
    if (!f) return t2v_fail(err, T2V_ERESOURCE, "magcache-calibrate: cannot write '%s'", path);
    fprintf(f, "# t2v magcache-calibrate: %d steps; per step the conditional and unconditional ratio\n"
            "# mean_tokens |r_i| / |r_(i-1)| of the blocks' residual (step 0: 1); use as --cache magcache:T@%s\n",
            steps, path);
    for (int i = 0; i < steps; i++) {
        double cnd = i > 0 && isfinite(metric[2 * i]) ? metric[2 * i] : 1.0;
        double unc = i > 0 && isfinite(metric[2 * i + 1]) ? metric[2 * i + 1] : cnd;
        fprintf(f, "%.9g, %.9g\n", cnd, unc);
    }
    int bad = ferror(f);
    if (fclose(f) || bad) return t2v_fail(err, T2V_ERESOURCE, "magcache-calibrate: writing '%s' failed", path);
    return T2V_OK;
}

/* ============================================================================
 * State */

double cache_bytes(const CacheSettings *s, int tokens, int dim, int64_t latent_n) {
    if (s->kind == CACHE_NONE) return 0.0;
    if (s->kind == CACHE_EASYCACHE) return 5.0 * (double)latent_n * sizeof(float);
    double nx = (double)tokens * dim * sizeof(float);
    int tea = s->kind == CACHE_TEACACHE || s->kind == CACHE_TEACACHE_RET;
    return s->kind == CACHE_FBCACHE ? 5.0 * nx : 3.0 * nx + (tea ? 2.0 * 6 * dim * sizeof(float) : 0.0);
}

/* EasyCache's latents: per branch the cached transformation (residual), and
 * for the conditional branch the last input, the last computed input and
 * output. */
static int easy_alloc(StepCache *c, T2vError *err) {
    size_t bytes = (size_t)c->latent_n * sizeof(float);
    CacheBranch *b = &c->b[0];
    for (int k = 0; k < 2; k++) c->b[k].residual = (float *)t2v_malloc(bytes, "cache buffers", err);
    b->in_prev = (float *)t2v_malloc(bytes, "cache buffers", err);
    b->in_computed = (float *)t2v_malloc(bytes, "cache buffers", err);
    b->out = (float *)t2v_malloc(bytes, "cache buffers", err);
    c->ret_steps = c->set.warmup, c->cutoff = c->steps - 1;
    return b->residual && c->b[1].residual && b->in_prev && b->in_computed && b->out ? T2V_OK : T2V_ERESOURCE;
}

/* The block-level caches: x before the blocks, per branch the residual and
 * what the rule compares (TeaCache: e or e0; fbcache: block 0's residual). */
static int block_alloc(StepCache *c, T2vError *err) {
    const CacheSettings *s = &c->set;
    int ret = s->kind == CACHE_TEACACHE_RET, tea = s->kind == CACHE_TEACACHE || ret;
    c->coef = tea_coefficients(s, c->dim, &c->ncoef);
    c->ret_steps = ret ? 5 : 1;
    c->cutoff = ret ? c->steps : c->steps - 1;
    c->mod_len = s->kind == CACHE_FBCACHE ? c->tokens * c->dim : !tea ? 0 : (ret ? 6 : 1) * c->dim;
    size_t nx = (size_t)c->tokens * c->dim;
    c->x_in = (float *)t2v_malloc(nx * sizeof(float), "cache buffers", err);
    for (int k = 0; k < 2; k++) {
        if (c->mod_len) c->b[k].prev = (float *)t2v_malloc((size_t)c->mod_len * sizeof(float), "cache buffers", err);
        c->b[k].residual = (float *)t2v_malloc(nx * sizeof(float), "cache buffers", err);
    }
    int ok = c->x_in && c->b[0].residual && c->b[1].residual && (!c->mod_len || (c->b[0].prev && c->b[1].prev));
    return ok ? T2V_OK : T2V_ERESOURCE;
}

int cache_init(StepCache *c, const CacheSettings *s, int steps, int dim, int tokens, int64_t latent_n,
               T2vError *err) {
    memset(c, 0, sizeof *c);
    c->set = *s;
    if (s->kind == CACHE_NONE) return T2V_OK;
    c->steps = steps, c->dim = dim, c->tokens = tokens, c->latent_n = latent_n;
    int rc = s->kind == CACHE_EASYCACHE ? easy_alloc(c, err) : block_alloc(c, err);
    if (!rc && s->kind == CACHE_MAGCACHE) rc = mag_init(c, s, err);
    if (s->kind == CACHE_MAGCACHE_CAL) c->ret_steps = c->cutoff = steps; /* every pass computed */
    c->computed = rc ? NULL : (int8_t *)t2v_malloc((size_t)steps * 2, "cache decisions", err);
    c->metric = rc ? NULL : (double *)t2v_malloc((size_t)steps * 2 * sizeof(double), "cache decisions", err);
    if (!rc && (!c->computed || !c->metric)) rc = T2V_ERESOURCE;
    if (rc) {
        cache_free(c);
        return rc;
    }
    memset(c->computed, -1, (size_t)steps * 2);
    for (int k = 0; k < 2 * steps; k++) c->metric[k] = NAN;
    return T2V_OK;
}

void cache_free(StepCache *c) {
    free(c->x_in);
    free(c->ratio);
    for (int k = 0; k < 2; k++) {
        CacheBranch *b = &c->b[k];
        free(b->prev), free(b->residual), free(b->in_prev), free(b->in_computed), free(b->out);
    }
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

/* TeaCache's decision (docs/MODEL.md 3.6): 1 skip. */
static int tea_decide(StepCache *c, const float *e, const float *e0, double *metric) {
    CacheBranch *b = &c->b[c->branch];
    const float *mod = c->set.kind == CACHE_TEACACHE_RET ? e0 : e;
    int skip = 0;
    if (c->step < c->ret_steps || c->step >= c->cutoff || !b->have || !b->have_residual) {
        b->acc = 0.0;
    } else {
        b->acc += poly(c->coef, c->ncoef, rel_l1(mod, b->prev, c->mod_len));
        *metric = b->acc;
        if (b->acc < c->set.thresh) skip = 1;
        else b->acc = 0.0;
    }
    memcpy(b->prev, mod, (size_t)c->mod_len * sizeof(float));
    b->have = 1;
    return skip;
}

/* MagCache's decision (docs/MODEL.md 3.6): from the step's ratio g alone,
 * R *= g, err += |1 - R|, n += 1; skip while err < thresh and n <= K. */
static int mag_decide(StepCache *c, double *metric) {
    CacheBranch *b = &c->b[c->branch];
    if (c->set.kind != CACHE_MAGCACHE || c->step < c->ret_steps) return 0;
    if (b->have_residual) {
        b->mag_ratio *= c->ratio[2 * c->step + c->branch];
        b->skips += 1;
        b->acc += fabs(1.0 - b->mag_ratio);
        *metric = b->acc;
        if (b->acc < c->set.thresh && b->skips <= c->set.max_skips) return 1;
    }
    b->acc = 0.0, b->skips = 0, b->mag_ratio = 1.0;
    return 0;
}

int cache_before_blocks(StepCache *c, float *x, const float *e, const float *e0, int n_e, int N) {
    if (!c || c->set.kind == CACHE_NONE || cache_whole_model(&c->set)) return 0;
    size_t bytes = (size_t)N * c->dim * sizeof(float);
    int tea = c->set.kind == CACHE_TEACACHE || c->set.kind == CACHE_TEACACHE_RET;
    if (N != c->tokens || (n_e != 1 && tea)) { /* not what it was made for: compute */
        c->b[c->branch].have = c->b[c->branch].have_residual = 0;
        if (N == c->tokens) memcpy(c->x_in, x, bytes);
        record(c, 1, NAN);
        return 0;
    }
    if (c->set.kind == CACHE_FBCACHE) {
        memcpy(c->x_in, x, bytes);
        return 0;
    }
    double metric = NAN;
    int skip = tea ? tea_decide(c, e, e0, &metric) : mag_decide(c, &metric);
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

/* magcache-calibrate: mean over tokens of |r_new| / |r_old| (L2 over the
 * channels; MagCache's magnitude ratio), in double, serially. */
static double mag_ratio(const float *r_new, const float *r_old, int tokens, int dim) {
    double sum = 0.0;
    for (int t = 0; t < tokens; t++) {
        double a = 0.0, b = 0.0;
        for (int j = 0; j < dim; j++) {
            double u = r_new[(size_t)t * dim + j], v = r_old[(size_t)t * dim + j];
            a += u * u, b += v * v;
        }
        sum += sqrt(a) / sqrt(b);
    }
    return sum / tokens;
}

void cache_after_blocks(StepCache *c, const float *x, int N) {
    if (!c || c->set.kind == CACHE_NONE || cache_whole_model(&c->set) || N != c->tokens) return;
    CacheBranch *b = &c->b[c->branch];
    int64_t n = (int64_t)N * c->dim;
    float *r = c->set.kind == CACHE_MAGCACHE_CAL ? c->x_in : b->residual; /* calibrate: keep the old one */
#pragma omp parallel for
    for (int64_t k = 0; k < n; k++) r[k] = x[k] - c->x_in[k];
    if (c->set.kind == CACHE_MAGCACHE_CAL) {
        if (b->have_residual && c->step >= 0 && c->step < c->steps)
            c->metric[2 * c->step + c->branch] = mag_ratio(r, b->residual, N, c->dim);
        c->x_in = b->residual, b->residual = r; /* swap: residual <- the new one */
    }
    b->have_residual = 1;
}

/* ============================================================================
 * EasyCache (around the whole DiT) */

/* mean|a - b| (b NULL: mean|a|) in double, serially. */
static double mean_abs(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t k = 0; k < n; k++) s += fabs(b ? (double)a[k] - b[k] : (double)a[k]);
    return s / (double)n;
}

/* The conditional pass's decision: 1 run the DiT. */
static int easy_decide(StepCache *c, const float *x, double *metric) {
    CacheBranch *b = &c->b[0];
    int calc = 1;
    if (c->step < c->ret_steps || c->step >= c->cutoff) {
        b->acc = 0.0;
    } else if (b->have && b->have_out && b->have_k) {
        b->acc += b->k * (mean_abs(x, b->in_prev, c->latent_n) / mean_abs(b->out, NULL, c->latent_n));
        *metric = b->acc;
        calc = !(b->acc < c->set.thresh);
        if (calc) b->acc = 0.0;
    }
    memcpy(b->in_prev, x, (size_t)c->latent_n * sizeof(float));
    b->have = 1;
    return calc;
}

int cache_before_model(StepCache *c, const float *x, int64_t n, float *v) {
    if (!c || !cache_whole_model(&c->set)) return 0;
    CacheBranch *b = &c->b[c->branch];
    double metric = NAN;
    if (n != c->latent_n) { /* not what it was made for: compute */
        b->have = b->have_out = b->have_residual = b->have_k = 0;
        c->easy_calc = 1;
        record(c, 1, NAN);
        return 0;
    }
    if (c->branch == 0) c->easy_calc = easy_decide(c, x, &metric);
    else if (c->step < 0 || c->step >= c->steps || c->computed[2 * c->step] < 0) c->easy_calc = 1; /* no cond. pass */
    int skip = !c->easy_calc && b->have_residual;
    record(c, !skip, metric);
    if (!skip) return 0;
#pragma omp parallel for
    for (int64_t k = 0; k < n; k++) v[k] = x[k] + b->residual[k];
    return 1;
}

void cache_after_model(StepCache *c, const float *x, const float *v, int64_t n) {
    if (!c || !cache_whole_model(&c->set) || n != c->latent_n) return;
    CacheBranch *b = &c->b[c->branch];
    size_t bytes = (size_t)n * sizeof(float);
    if (c->branch == 0) { /* k = mean|v - v_last| / mean|x - x_last| over computed passes */
        if (b->have_out && b->have_in_computed) {
            b->k = mean_abs(v, b->out, n) / mean_abs(x, b->in_computed, n);
            b->have_k = 1;
        }
        memcpy(b->in_computed, x, bytes);
        memcpy(b->out, v, bytes);
        b->have_in_computed = b->have_out = 1;
    }
#pragma omp parallel for
    for (int64_t k = 0; k < n; k++) b->residual[k] = v[k] - x[k];
    b->have_residual = 1;
}
