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
void progress_start(Progress *p, const char *stage, int n, int quiet) {
    p->stage = stage;
    p->n = n;
    p->enabled = !quiet && platform_stderr_is_tty();
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
        s->steps = (int)iv, s->have_steps = 1;
    } else if (!strcmp(a, "--cfg")) {
        if (parse_double(v, &s->cfg) || s->cfg < 0 || s->cfg > 100)
            return -usage_error("--cfg must be a number in [0, 100], not '%s'", v);
        s->have_cfg = 1;
    } else if (!strcmp(a, "--shift")) {
        if (parse_double(v, &s->shift) || s->shift <= 0 || s->shift > 1000)
            return -usage_error("--shift must be a number in (0, 1000], not '%s'", v);
        s->have_shift = 1;
    } else if (!strcmp(a, "--sampler")) {
        if (sampler_kind_from_name(v, &kind)) return -usage_error("--sampler must be unipc or euler, not '%s'", v);
        s->sampler = kind, s->have_sampler = 1;
    } else if (!strcmp(a, "--threads")) {
        if (parse_int(v, 1, 1024, &iv)) return -usage_error("--threads must be an integer in 1..1024, not '%s'", v);
        s->threads = (int)iv;
    } else {
        return 0;
    }
    return 1;
}

/* ----------------------------------------------------------------------------
 * Loaders */

int load_dit(const ModelPaths *mp, Checkpoint *ck, DiT *m, T2vError *err) {
    size_t len;
    char *text = read_text_file(mp->config, &len, err);
    if (!text) return err->code;
    char jerr[256];
    JsonValue *j = json_parse(text, len, jerr, sizeof jerr);
    free(text);
    if (!j) return t2v_fail(err, T2V_EINPUT, "%s: %s", mp->config, jerr);
    DiTConfig c;
    int rc = dit_config_from_json(&c, j, mp->config, err);
    json_free(j);
    if (rc) return rc;
    if ((rc = ckpt_open(ck, mp->dit, err))) return rc;
    if ((rc = dit_build(m, &c, ck->tensors, err))) ckpt_close(ck);
    return rc;
}

int load_t5(const ModelPaths *mp, Checkpoint *ck, T5 *m, T2vError *err) {
    int rc = ckpt_open(ck, mp->t5, err);
    if (rc) return rc;
    if ((rc = t5_build(m, ck->tensors, err))) ckpt_close(ck);
    return rc;
}

int load_vae(const ModelPaths *mp, Checkpoint *ck, Vae *m, T2vError *err) {
    int rc = ckpt_open(ck, mp->vae, err);
    if (rc) return rc;
    if ((rc = vae_build(m, ck->tensors, err))) ckpt_close(ck);
    return rc;
}

int dit_velocity(void *user, const float *x, int timestep, int cond, float *v, T2vError *err) {
    DitVelocity *d = (DitVelocity *)user;
    return dit_forward_embedded(d->dit, x, d->T, d->h, d->w, &(float){(float)timestep}, 1,
                                cond ? d->ctx_emb : d->ctx_neg_emb, v, err);
}
