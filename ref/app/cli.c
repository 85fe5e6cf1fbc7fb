/* cli.c: helpers shared by the t2v subcommands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t2v.h"

int die(const T2vError *e) {
    fprintf(stderr, "t2v: %s\n", e->msg);
    return e->code ? e->code : 1;
}

int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "t2v: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(run `t2v --help` for usage)\n");
    return T2V_EUSAGE;
}

/* ----------------------------------------------------------------------------
 * Progress line: "stage k/N  s/step  ETA" on stderr, only on a terminal. */
void progress_init(Progress *p, int quiet) {
    memset(p, 0, sizeof *p);
    p->quiet = quiet;
}

void progress_start(Progress *p, const char *stage, int n) {
    p->stage = stage;
    p->n = n;
    p->enabled = !p->quiet && platform_stderr_is_tty();
    p->t0 = platform_now();
    if (p->enabled) fprintf(stderr, "\r%-14s 0/%d", stage, n), fflush(stderr);
}

void progress_update(Progress *p, int k) {
    if (!p->enabled) return;
    double el = platform_now() - p->t0, per = k ? el / k : 0, eta = per * (p->n - k);
    int w = 24, fill = p->n ? (int)((double)w * k / p->n) : w;
    char bar[32];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
    bar[w] = 0;
    fprintf(stderr, "\r%-14s [%s] %d/%d  %.2f s/it  ETA %d:%02d   ", p->stage, bar, k, p->n, per,
            (int)(eta / 60), (int)fmod(eta, 60));
    if (k == p->n) fprintf(stderr, "(%.1f s)\n", el);
    fflush(stderr);
}

void progress_watch(void *user, PipelinePhase phase, int k, int n) {
    Progress *p = (Progress *)user;
    if (k == 0) progress_start(p, pipeline_phase_name(phase), n);
    p->n = n;
    if (k > 0) progress_update(p, k);
}

/* ----------------------------------------------------------------------------
 * Small parsing helpers */

int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

int parse_u64(const char *s, unsigned long long *out) {
    char *end;
    errno = 0;
    if (*s == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

/* Reads a safetensors tensor as a new fp32 array, checking rank (and dims
 * when shape[i] >= 0). */
float *read_f32(const SafeTensors *st, const char *name, int ndim, const int64_t *shape, Tensor *info,
                       T2vError *err) {
    const Tensor *t = tl_find(&st->tensors, name);
    if (!t) {
        t2v_fail(err, T2V_EINPUT, "%s: tensor '%s' is missing", st->path, name);
        return NULL;
    }
    int ok = t->ndim == ndim && dtype_is_float(t->dtype);
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || shape[i] == t->shape[i];
    if (!ok) {
        char got[128];
        t2v_fail(err, T2V_EINPUT, "%s: tensor '%s' has %s %s, expected a float tensor of rank %d", st->path, name,
                 dtype_name(t->dtype), shape_str(t, got, sizeof got), ndim);
        return NULL;
    }
    if (info) *info = *t;
    return tensor_to_f32_alloc(t, err);
}


int parse_sampling_opt(SamplingOpts *s, const char *a, const char *v) {
    long iv;
    SamplerKind kind;
    if (!strcmp(a, "--steps")) {
        if (parse_int(v, 1, 1000, &iv)) return -usage_error("--steps must be an integer in 1..1000, not '%s'", v);
        s->settings.steps = (int)iv, s->have_steps = 1;
    } else if (!strcmp(a, "--cfg")) {
        if (parse_double(v, &s->settings.cfg) || s->settings.cfg < 0 || s->settings.cfg > 100)
            return -usage_error("--cfg must be a number in [0, 100], not '%s'", v);
        s->have_cfg = 1;
    } else if (!strcmp(a, "--shift")) {
        if (parse_double(v, &s->settings.shift) || s->settings.shift <= 0 || s->settings.shift > 1000)
            return -usage_error("--shift must be a number in (0, 1000], not '%s'", v);
        s->have_shift = 1;
    } else if (!strcmp(a, "--sampler")) {
        if (sampler_kind_from_name(v, &kind)) return -usage_error("--sampler must be unipc or euler, not '%s'", v);
        s->settings.sampler = kind, s->have_sampler = 1;
    } else if (!strcmp(a, "--threads")) {
        if (parse_int(v, 1, 1024, &iv)) return -usage_error("--threads must be an integer in 1..1024, not '%s'", v);
        s->threads = (int)iv;
    } else {
        return 0;
    }
    return 1;
}

int sampling_defaults(SamplingOpts *s, const ModelDefaults *d, T2vError *err) {
    if (!s->have_steps) s->settings.steps = d->steps;
    if (!s->have_cfg) s->settings.cfg = d->cfg;
    if (!s->have_shift) s->settings.shift = d->shift;
    if (!s->have_sampler && sampler_kind_from_name(d->sampler, &s->settings.sampler))
        return t2v_fail(err, T2V_EINPUT, "model defaults: unknown sampler '%s'", d->sampler);
    return T2V_OK;
}

/* ----------------------------------------------------------------------------
 * TensorSet */

static int tset_add(TensorSet *s, const char *name, const void *x, int i32, int ndim, const int64_t *shape,
                    T2vError *err) {
    if (strlen(name) >= sizeof s->names[0]) return t2v_fail(err, T2V_EUSAGE, "tensor name '%s' is too long", name);
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        Tensor *t = (Tensor *)realloc(s->t, (size_t)cap * sizeof *t);
        if (t) s->t = t;
        char(*names)[64] = realloc(s->names, (size_t)cap * sizeof *names);
        if (names) s->names = names;
        if (!t || !names) return t2v_fail(err, T2V_ERESOURCE, "out of memory collecting output tensors");
        s->cap = cap;
    }
    int rc = i32 ? tensor_from_i32(&s->t[s->n], (const int32_t *)x, ndim, shape, err)
                 : tensor_from_f32(&s->t[s->n], (const float *)x, ndim, shape, err);
    if (rc) return rc;
    strcpy(s->names[s->n++], name);
    return T2V_OK;
}

int tset_add_f32(TensorSet *s, const char *name, const float *x, int ndim, const int64_t *shape, T2vError *err) {
    return tset_add(s, name, x, 0, ndim, shape, err);
}

int tset_add_i32(TensorSet *s, const char *name, const int32_t *x, int ndim, const int64_t *shape, T2vError *err) {
    return tset_add(s, name, x, 1, ndim, shape, err);
}

int tset_write(const TensorSet *s, const char *path, const char *const *meta_keys, const char *const *meta_values,
               int nmeta, T2vError *err) {
    StItem *items = (StItem *)t2v_malloc(((size_t)s->n + 1) * sizeof *items, "output tensors", err);
    if (!items) return T2V_ERESOURCE;
    for (int i = 0; i < s->n; i++) items[i] = (StItem){s->names[i], &s->t[i]};
    int rc = st_write(path, items, s->n, meta_keys, meta_values, nmeta, err);
    free(items);
    return rc;
}

void tset_free(TensorSet *s) {
    for (int i = 0; i < s->n; i++) tensor_free(&s->t[i]);
    free(s->t);
    free(s->names);
    memset(s, 0, sizeof *s);
}
