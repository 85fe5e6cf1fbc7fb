/*
 * trace.c: `t2v generate --trace DIR`, the denoising made visible.
 *
 * After each step i the pipeline hands over a StepView: x_i, v_cond,
 * v_uncond and the guided v the sampler used. The trace keeps
 *
 *   v_i  = v_uncond + g (v_cond - v_uncond)       the guided velocity
 *   x0_i = x_i - sigma_i v_i                      what the model thinks the
 *                                                 clean latent is (docs/MODEL.md 3.1)
 *   |v_cond - v_uncond| (RMS)                     how much the prompt matters
 *
 * and, when sampling is done, decodes every x0_i with the VAE into a strip
 * of frames DIR/step_%03d.png (every 4th frame: one per latent frame, at most
 * TRACE_MAX_LATENT of them, downscaled to at most 96 pixels high), and writes
 * DIR/trace.json with the schedule and the statistics. tools/plot_trace.py
 * turns DIR into one PNG. Costs one (partial) VAE decode per step and
 * steps x latent floats of memory.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

int trace_init(Trace *t, const char *dir, int steps, int force, T2vError *err) {
    memset(t, 0, sizeof *t);
    t->dir = dir, t->steps = steps, t->force = force;
    t->sigma = (double *)t2v_calloc((size_t)steps, sizeof(double), "trace", err);
    t->stats = (double *)t2v_calloc((size_t)steps * TRACE_NSTATS, sizeof(double), "trace", err);
    t->timestep = (float *)t2v_calloc((size_t)steps, sizeof(float), "trace", err);
    if (!t->sigma || !t->stats || !t->timestep) { trace_free(t); return T2V_ERESOURCE; }
    return T2V_OK;
}

void trace_free(Trace *t) {
    free(t->sigma);
    free(t->stats);
    free(t->timestep);
    free(t->x0);
    memset(t, 0, sizeof *t);
}

static double rms(const float *a, const float *b, int64_t n) { /* rms(a - b), b may be NULL */
    double s = 0;
    for (int64_t k = 0; k < n; k++) {
        double d = (double)a[k] - (b ? (double)b[k] : 0.0);
        s += d * d;
    }
    return n ? sqrt(s / (double)n) : 0.0;
}

int trace_step(Trace *t, const StepView *s, T2vError *err) {
    const int64_t n = s->grid.n;
    const int i = s->step;
    if (s->window != 0) return T2V_OK; /* the chain schedule: its first window's steps */
    if (i < 0 || i >= t->steps) return t2v_fail(err, T2V_EUSAGE, "--trace: step %d of %d", i, t->steps);
    if (!t->x0) {
        t->grid = s->grid;
        t->x0 = (float *)t2v_malloc((size_t)n * t->steps * sizeof(float), "--trace x0 predictions", err);
        if (!t->x0) return T2V_ERESOURCE;
    }
    float *x0 = t->x0 + (size_t)i * n;
    for (int64_t k = 0; k < n; k++) x0[k] = (float)((double)s->x[k] - s->sigma * (double)s->v[k]);
    double *st = t->stats + (size_t)i * TRACE_NSTATS;
    st[0] = s->v_uncond ? rms(s->v_cond, s->v_uncond, n) : 0.0; /* cfg_diff_rms */
    st[1] = rms(s->v, NULL, n);                                 /* v_rms */
    st[2] = rms(s->x, NULL, n);                                 /* x_rms */
    st[3] = rms(x0, NULL, n);                                   /* x0_rms */
    st[4] = i ? rms(x0, x0 - n, n) : 0.0;                       /* x0 change from the previous step */
    t->sigma[i] = s->sigma, t->timestep[i] = s->t, t->done = i + 1;
    return T2V_OK;
}

/* Frames 0, 4, 8, ... of one decoded video, box-downscaled by `s`, side by
 * side with 4-pixel gaps (video_write_sheet, one row). */
static int write_strip(const Trace *t, const char *path, const uint8_t *rgb, int F, int H, int W, int s, int every,
                       uint8_t *small, TempFiles *temps, T2vError *err) {
    int n = 0, h = H / s, w = W / s;
    for (int f = 0; f < F; f += every, n++) {
        const uint8_t *src = rgb + (size_t)f * H * W * 3;
        uint8_t *dst = small + (size_t)n * h * w * 3;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    int acc = 0;
                    for (int dy = 0; dy < s; dy++)
                        for (int dx = 0; dx < s; dx++) acc += src[((size_t)(y * s + dy) * W + x * s + dx) * 3 + c];
                    dst[((size_t)y * w + x) * 3 + c] = (uint8_t)((acc + s * s / 2) / (s * s));
                }
    }
    return video_write_sheet(path, small, n, h, w, n, n, NULL, t->force, temps, err);
}

static void json_array_d(StrBuf *b, const char *key, const double *v, int n, int stride) {
    sb_printf(b, "  \"%s\": [", key);
    for (int i = 0; i < n; i++) sb_printf(b, i ? ", %.9g" : "%.9g", v[(size_t)i * stride]);
    sb_str(b, "],\n");
}

/* trace.json: the run's settings, the schedule, per step sigma, timestep and
 * the statistics, and the strip images. */
static int write_json(const Trace *t, const TraceInfo *in, int every, int scale, TempFiles *temps, T2vError *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/trace.json", t->dir);
    double *sched = (double *)malloc(((size_t)t->steps + 1) * sizeof(double));
    if (!sched) return t2v_fail(err, T2V_ERESOURCE, "out of memory");
    sampler_schedule(t->steps, in->shift, sched, NULL);
    const LatentGrid *g = &t->grid;
    StrBuf b = {0};
    sb_str(&b, "{\n  \"prompt\": ");
    sb_json_str(&b, in->prompt);
    sb_printf(&b, ",\n  \"width\": %d, \"height\": %d, \"frames\": %d, \"steps\": %d,\n", in->W, in->H, in->F,
              t->steps);
    sb_printf(&b, "  \"cfg\": %g, \"shift\": %g, \"sampler\": \"%s\", \"seed\": %llu,\n", in->cfg, in->shift,
              in->sampler, in->seed);
    sb_printf(&b, "  \"latent\": [%d, %d, %d, %d], \"strip_frames_every\": %d, \"strip_frames\": %d, "
              "\"strip_scale\": %d,\n", g->C, g->T, g->h, g->w, every,
              g->T < TRACE_MAX_LATENT ? g->T : TRACE_MAX_LATENT, scale);
    json_array_d(&b, "schedule_sigmas", sched, t->steps + 1, 1);
    json_array_d(&b, "sigma", t->sigma, t->done, 1);
    sb_str(&b, "  \"timestep\": [");
    for (int i = 0; i < t->done; i++) sb_printf(&b, i ? ", %.9g" : "%.9g", (double)t->timestep[i]);
    sb_str(&b, "],\n");
    static const char *const names[TRACE_NSTATS] = {"cfg_diff_rms", "v_rms", "x_rms", "x0_rms", "x0_change_rms"};
    for (int k = 0; k < TRACE_NSTATS; k++) json_array_d(&b, names[k], t->stats + k, t->done, TRACE_NSTATS);
    sb_str(&b, "  \"images\": [");
    for (int i = 0; i < t->done; i++) sb_printf(&b, i ? ", \"step_%03d.png\"" : "\"step_%03d.png\"", i);
    sb_str(&b, "]\n}\n");
    free(sched);
    char *text = sb_take(&b);
    if (!text) return t2v_fail(err, T2V_ERESOURCE, "out of memory writing %s", path);
    int rc = video_write_text(path, text, t->force, temps, err);
    free(text);
    return rc;
}

int trace_write(Trace *t, const Model *m, const TraceInfo *in, TempFiles *temps, T2vError *err) {
    if (!t->done) return T2V_OK;
    Checkpoint ck;
    Vae vae;
    /* the VAE is causal: the first k latent frames decode alone to the
     * first 1 + scale_t (k-1) frames of the video, so long clips cost k/T */
    const LatentGrid *g = &t->grid;
    const int st = m->vae.scale_t, ss = m->vae.scale_s;
    int k = g->T < TRACE_MAX_LATENT ? g->T : TRACE_MAX_LATENT;
    int rc = model_load_vae(m, &ck, &vae, err), F = 1 + st * (k - 1), H = ss * g->h, W = ss * g->w;
    if (rc) return rc;
    vae.precision = in->precision;
    int64_t hw = (int64_t)g->h * g->w;
    float *z = (float *)t2v_malloc((size_t)g->C * k * hw * sizeof(float), "--trace latent", err);
    if (!z) rc = T2V_ERESOURCE;
    int scale = 1;
    while (H / scale > 96 && H % (2 * scale) == 0 && W % (2 * scale) == 0) scale *= 2;
    size_t nv = (size_t)3 * F * H * W;
    float *video = (float *)t2v_malloc(nv * sizeof(float), "--trace video", err);
    uint8_t *rgb = (uint8_t *)t2v_malloc(nv, "--trace frames", err);
    uint8_t *small = (uint8_t *)t2v_malloc(nv, "--trace strip", err);
    if (!video || !rgb || !small) rc = T2V_ERESOURCE;
    for (int i = 0; i < t->done && !rc; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/step_%03d.png", t->dir, i);
        for (int c = 0; c < g->C; c++) /* x0 [C, T, h, w] -> its first k frames [C, k, h, w] */
            memcpy(z + (size_t)c * k * hw, t->x0 + (size_t)i * g->n + (size_t)c * g->T * hw,
                   (size_t)k * hw * sizeof(float));
        rc = vae_decode(&vae, z, k, g->h, g->w, video, NULL, NULL, err);
        if (!rc) video_to_u8(video, F, H, W, rgb);
        if (!rc) rc = write_strip(t, path, rgb, F, H, W, scale, st, small, temps, err);
    }
    if (!rc) rc = write_json(t, in, st, scale, temps, err);
    free(z);
    free(video);
    free(rgb);
    free(small);
    vae_free(&vae);
    ckpt_close(&ck);
    return rc;
}
