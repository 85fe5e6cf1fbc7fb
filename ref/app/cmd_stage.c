/* cmd_stage.c: `t2v stage NAME --model DIR --in IN --out OUT`, one stage of
 * the pipeline on given tensors (their names: docs/MODEL.md, stage tensors),
 * so another implementation can be checked stage by stage. `stage sampler`
 * runs the loop `generate` runs (pipeline_sample); `stage causal` the causal
 * one (pipeline_sample_causal). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "t2v.h"
#include "verify.h"

typedef struct {
    const char *name, *model, *in, *out;
    int force, quiet;
    unsigned long long seed; /* --seed: the distill sampler's fresh noise */
    int dump_level, diffusers;  /* --dump-level (stage dit), --names diffusers */
    const char *dump_blocks;    /* --dump-blocks LIST, or NULL: all */
    SamplingOpts sampling; /* --steps --cfg --shift --sampler --timesteps --cache --threads --precision, long video */
    ModelArgs margs;       /* --dit --t5 --vae --lora --lora-ignore-unknown */
    Dist *dist;            /* MPI ranks (the sampler stage splits guidance); NULL: one process */
} StageArgs;

/* Integer tokens [L] (I32 or I64) as int32. */
static int32_t *read_tokens(const SafeTensors *st, const char *name, int *L, T2vError *err) {
    const Tensor *t = tl_find(&st->tensors, name);
    if (!t || t->ndim != 1 || (t->dtype != DT_I32 && t->dtype != DT_I64) || t->shape[0] < 1) {
        t2v_fail(err, T2V_EINPUT, "%s: expected tensor '%s' of I32 or I64 ids, shape [L] with L >= 1", st->path, name);
        return NULL;
    }
    *L = (int)t->shape[0];
    int32_t *ids = (int32_t *)t2v_malloc((size_t)*L * sizeof *ids, "tokens", err);
    const unsigned char *d = (const unsigned char *)t->data;
    for (int i = 0; ids && i < *L; i++)
        ids[i] = t->dtype == DT_I32 ? (int32_t)rd_u32le(d + 4 * i) : (int32_t)(int64_t)rd_u64le(d + 8 * i);
    return ids;
}

/* --dump-level block on stage t5: each encoder block's output, `blocks.N`
 * [L, dim] (the official T5Encoder's module names). */
typedef struct {
    TensorSet *set;
    int rc;
    T2vError err;
} T5Dump;

static void t5_dump_hook(void *ctx, int layer, const float *x, int L, int dim) {
    T5Dump *d = (T5Dump *)ctx;
    char name[32];
    int64_t shape[2] = {L, dim};
    snprintf(name, sizeof name, "blocks.%d", layer);
    if (!d->rc) d->rc = tset_add_f32(d->set, name, x, 2, shape, &d->err);
}

static int stage_t5(const StageArgs *sa, const Model *m, const SafeTensors *in, TensorSet *out, T2vError *err) {
    int L;
    int32_t *ids = read_tokens(in, "tokens", &L, err);
    if (!ids) return err->code;
    Checkpoint ck;
    T5 t5;
    int rc = model_load_t5(m, &ck, &t5, err);
    if (rc) { free(ids); return rc; }
    t5.precision = sa->sampling.settings.precision;
    float *ctx = (float *)t2v_malloc((size_t)L * t5_dim(&t5) * sizeof(float), "context", err);
    T5Dump dump = {out, 0, {0, {0}}};
    if (sa->dump_level == DUMP_BLOCK) t5_set_hook(&t5, t5_dump_hook, &dump);
    rc = ctx ? t5_encode(&t5, ids, L, ctx, err) : T2V_ERESOURCE;
    if (!rc && dump.rc) *err = dump.err, rc = dump.rc;
    int64_t shape[2] = {L, t5_dim(&t5)};
    if (!rc) rc = tset_add_f32(out, "context", ctx, 2, shape, err);
    free(ctx);
    free(ids);
    t5_free(&t5);
    ckpt_close(&ck);
    return rc;
}

/* latent/noise [C,T,h,w] with the DiT's in_dim channels. */
static float *read_latent(const SafeTensors *in, const char *name, int C, int64_t shape[4], T2vError *err) {
    int64_t want[4] = {C, -1, -1, -1};
    Tensor info;
    float *x = read_f32(in, name, 4, want, &info, err);
    if (x) memcpy(shape, info.shape, 4 * sizeof(int64_t));
    return x;
}

/* `timestep`: F32 [1] (one t for every token) or [N] (one per token, order
 * f, h, w of the patch grid: Wan2.2 TI2V's form), finite, in [0, 1000]. */
/* The DiT for a timestep: A14B's expert by the official rule (the
 * high-noise one while int(t) >= boundary * 1000), else the one model. */
static int load_dit_for(const StageArgs *sa, const Model *m, const SafeTensors *in, Checkpoint *ck, DiT *dit,
                        T2vError *err) {
    if (m->family != MODEL_WAN22_A14B) return model_load_dit(m, ck, dit, err);
    int64_t one[1] = {1};
    float *t = read_f32(in, "timestep", 1, one, NULL, err);
    if (!t) return err->code;
    double boundary = sa->sampling.have_boundary ? sa->sampling.settings.boundary : m->defaults.boundary;
    int high = t[0] >= 0 && t[0] <= 1000 && (double)(int64_t)t[0] >= boundary * 1000.0;
    free(t);
    return high ? model_load_dit(m, ck, dit, err) : model_load_dit_low(m, ck, dit, err);
}

static int stage_dit(const StageArgs *sa, const Model *m, const SafeTensors *in, TensorSet *out, T2vError *err) {
    Checkpoint ck;
    DiT dit;
    int rc = load_dit_for(sa, m, in, &ck, &dit, err);
    if (rc) return rc;
    dit.precision = sa->sampling.settings.precision;
    int64_t ls[4] = {0, 0, 0, 0}, any[1] = {-1}, cs[2] = {-1, dit.c.text_dim};
    Tensor ci, ti;
    float *latent = read_latent(in, "latent", dit.c.in_dim, ls, err);
    float *t = latent ? read_f32(in, "timestep", 1, any, &ti, err) : NULL;
    float *ctx = t ? read_f32(in, "context", 2, cs, &ci, err) : NULL;
    float *vel = ctx ? (float *)t2v_malloc((size_t)(dit.c.out_dim * ls[1] * ls[2] * ls[3]) * sizeof(float),
                                           "velocity", err) : NULL;
    if (!vel) rc = err->code;
    int64_t N = (ls[1] / dit.c.patch_t) * (ls[2] / dit.c.patch_h) * (ls[3] / dit.c.patch_w), nt = rc ? 0 : ti.shape[0];
    if (!rc && nt != 1 && nt != N)
        rc = t2v_fail(err, T2V_EINPUT, "%s: timestep has %lld values, expected 1 (one t for every token) or %lld "
                      "(one per token of the latent's patch grid)", in->path, (long long)nt, (long long)N);
    for (int64_t i = 0; !rc && i < nt; i++)
        if (!(t[i] >= 0 && t[i] <= 1000)) /* NaN fails too */
            rc = t2v_fail(err, T2V_EINPUT, "%s: timestep[%lld] is %g, expected a number in [0, 1000]", in->path,
                          (long long)i, (double)t[i]);
    if (!rc && ci.shape[0] > dit.c.text_len)
        rc = t2v_fail(err, T2V_EINPUT, "%s: context has %lld rows, the model takes at most %d", in->path,
                      (long long)ci.shape[0], dit.c.text_len);
    unsigned char *mask = NULL;
    DumpTap dt;
    memset(&dt, 0, sizeof dt);
    if (!rc && sa->dump_level != DUMP_STAGE) { /* the op-level tap (docs/VERIFY.md) */
        mask = (unsigned char *)t2v_malloc((size_t)dit.c.num_layers + 1, "block mask", err);
        rc = mask ? dump_blocks_parse(sa->dump_blocks, mask, dit.c.num_layers, err) : T2V_ERESOURCE;
        int nb = 0;
        for (int i = 0; !rc && i < dit.c.num_layers; i++) nb += mask[i];
        dt = (DumpTap){out, sa->dump_level, sa->diffusers, 0, mask, dit.c.num_layers, {{"", NULL, 0, 0, 0}}, 0, {0, {0}}};
        if (!rc && !sa->quiet)
            fprintf(stderr, "t2v: %s-level dump of %d block%s: about %.1f MB\n",
                    sa->dump_level == DUMP_OP ? "op" : "block", nb, nb == 1 ? "" : "s",
                    (sa->dump_level == DUMP_OP ? dump_op_bytes((int)N, dit.c.text_len, dit.c.dim, dit.c.ffn_dim, nb)
                                               : 4 * N * dit.c.dim * nb) / 1e6);
        int64_t tn[1] = {nt};
        if (!rc && sa->dump_level == DUMP_OP) rc = dump_tap_add(&dt, "timestep", t, 1, tn);
        if (!rc && sa->dump_level == DUMP_OP) rc = dump_tap_add(&dt, "patch_embedding.in", latent, 4, ls);
        dit.tap = dump_tap_fn;
        dit.tap_user = &dt;
    }
    if (!rc)
        rc = dit_forward(&dit, latent, (int)ls[1], (int)ls[2], (int)ls[3], t, (int)nt, ctx, (int)ci.shape[0], vel,
                         err);
    if (!rc && dt.rc) *err = dt.err, rc = dt.rc;
    free(mask);
    int64_t vs[4] = {dit.c.out_dim, ls[1], ls[2], ls[3]};
    if (!rc) rc = tset_add_f32(out, "velocity", vel, 4, vs, err);
    free(latent);
    free(t);
    free(ctx);
    free(vel);
    dit_free(&dit);
    ckpt_close(&ck);
    return rc;
}

/* cache.computed: I32 [steps, 2] (1 computed, 0 reused, -1 no pass). */
static int add_decisions(TensorSet *out, const StepCache *c, T2vError *err) {
    int32_t *d = (int32_t *)t2v_malloc((size_t)c->steps * 2 * sizeof(int32_t), "cache decisions", err);
    if (!d) return T2V_ERESOURCE;
    for (int k = 0; k < 2 * c->steps; k++) d[k] = c->computed[k];
    int64_t shape[2] = {c->steps, 2};
    int rc = tset_add_i32(out, "cache.computed", d, 2, shape, err);
    free(d);
    return rc;
}

/* The distill sampler's eps_k: renoise.0 .. renoise.{steps-2} of IN, all or
 * none (none: the stream of --seed). *eps gets steps-1 new arrays or NULL. */
static int read_renoise(const SafeTensors *in, const int64_t ls[4], int steps, float ***eps, T2vError *err) {
    *eps = NULL;
    int n = steps - 1, found = 0;
    char name[32];
    for (int k = 0; k < n; k++) {
        snprintf(name, sizeof name, "renoise.%d", k);
        found += tl_find(&in->tensors, name) != NULL;
    }
    snprintf(name, sizeof name, "renoise.%d", n);
    if (tl_find(&in->tensors, name))
        return t2v_fail(err, T2V_EINPUT, "%s: has %s, but %d steps renoise %d times (renoise.0 .. renoise.%d)",
                        in->path, name, steps, n, n - 1);
    if (!found) return T2V_OK;
    if (found != n)
        return t2v_fail(err, T2V_EINPUT, "%s: has %d of the %d tensors renoise.0 .. renoise.%d (all or none)",
                        in->path, found, n, n - 1);
    *eps = (float **)calloc((size_t)n, sizeof **eps);
    if (!*eps) return t2v_fail(err, T2V_ERESOURCE, "out of memory");
    for (int k = 0; k < n; k++) {
        snprintf(name, sizeof name, "renoise.%d", k);
        if (!((*eps)[k] = read_f32(in, name, 4, ls, NULL, err))) return err->code;
    }
    return T2V_OK;
}

/* TI2V image-to-video: `image` [3, H, W] in [-1, 1] through the VAE encoder
 * -> *z [C, 1, h, w], also written as `image_latent`. */
static int stage_image(const Model *m, Precision prec, const SafeTensors *in, const LatentGrid *g, float **z,
                       TensorSet *out, T2vError *err) {
    int64_t want[3] = {3, -1, -1};
    Tensor info;
    Checkpoint ck;
    Vae vae;
    if (m->family != MODEL_WAN22_TI2V)
        return t2v_fail(err, T2V_EINPUT, "%s: `image` (image-to-video) needs a Wan2.2 TI2V model; %s is %s",
                        in->path, m->paths.dir, model_family_name(m->family));
    float *image = read_f32(in, "image", 3, want, &info, err);
    if (!image) return err->code;
    int rc = model_load_vae(m, &ck, &vae, err), loaded = rc == T2V_OK;
    int64_t zs[4] = {g->C, 1, g->h, g->w};
    if (!rc && (info.shape[1] != (int64_t)g->h * vae.config.scale_s || info.shape[2] != (int64_t)g->w * vae.config.scale_s))
        rc = t2v_fail(err, T2V_EINPUT, "%s: image [3, %lld, %lld]: expected [3, %d, %d] for the noise's %dx%d latent",
                      in->path, (long long)info.shape[1], (long long)info.shape[2], g->h * vae.config.scale_s,
                      g->w * vae.config.scale_s, g->h, g->w);
    if (!rc && !(*z = (float *)t2v_malloc(sizeof(float) * (size_t)g->C * g->h * g->w, "image latent", err)))
        rc = T2V_ERESOURCE;
    if (!rc) vae.precision = prec;
    if (!rc) rc = vae_encode(&vae, image, 1, (int)info.shape[1], (int)info.shape[2], *z, err);
    if (!rc) rc = tset_add_f32(out, "image_latent", *z, 4, zs, err);
    if (loaded) vae_free(&vae), ckpt_close(&ck);
    free(image);
    return rc;
}

/* A sampler run's outputs: latent.step{k} (steps x the latent ls), latent.final
 * and the timesteps. */
static int add_latents(TensorSet *out, const float *steps, const float *x, const int64_t ls[4], int nsteps,
                       const float *timesteps, T2vError *err) {
    int64_t n = ls[0] * ls[1] * ls[2] * ls[3], tsh[1] = {nsteps};
    int rc = T2V_OK;
    for (int i = 0; i < nsteps && !rc; i++) {
        char name[48];
        snprintf(name, sizeof name, "latent.step%d", i);
        rc = tset_add_f32(out, name, steps + (size_t)i * n, 4, ls, err);
    }
    if (!rc) rc = tset_add_f32(out, "latent.final", x, 4, ls, err);
    if (!rc) rc = tset_add_f32(out, "timesteps", timesteps, 1, tsh, err);
    return rc;
}

/* The sampler stage: noise, context, context_neg (renoise.k) -> latent.step{k},
 * latent.final, timesteps (cache.computed), by pipeline_sample (the loop
 * generate runs; the chain schedule's windows: pipeline_sample_chain, each
 * latent.step{k} then every window's x_{k+1} on its frames). TI2V: with
 * `image`, image-to-video (adds image_latent).
 * A14B: both experts, and `experts` [steps] (0 high-noise, 1 low-noise). */
static int stage_sampler(const StageArgs *sa, const Model *m, const SafeTensors *in, TensorSet *out,
                         T2vError *err) {
    SamplingOpts so = sa->sampling;
    if (so.have_causal_block && so.causal_block)
        return t2v_fail(err, T2V_EUSAGE, "stage sampler: --causal-block: use `t2v stage causal`");
    so.have_causal_block = 1, so.causal_block = 0; /* the whole clip, whatever t2v.json says */
    int rc = sampling_defaults(&so, &m->defaults, err);
    if (rc) return rc;
    const SamplingSettings *ss = &so.settings;
    if (ss->steps > T2V_MAX_KEPT_STEPS)
        return t2v_fail(err, T2V_EUSAGE, "stage sampler: at most %d steps (one output tensor each)", T2V_MAX_KEPT_STEPS);
    Checkpoint ck, ck_low;
    DiT dit, low;
    int moe = m->family == MODEL_WAN22_A14B;
    if (so.have_cfg_pair && !moe)
        return t2v_fail(err, T2V_EUSAGE, "--cfg HIGH,LOW: two guidance scales are for Wan2.2 A14B's experts");
    if ((rc = model_load_dit(m, &ck, &dit, err))) return rc;
    if (moe && (rc = model_load_dit_low(m, &ck_low, &low, err))) { dit_free(&dit); ckpt_close(&ck); return rc; }
    int64_t ls[4] = {0, 0, 0, 0}, cs[2] = {-1, dit.c.text_dim}, tsh[1] = {ss->steps};
    float *z = NULL, experts_f[T2V_MAX_KEPT_STEPS];
    int experts[T2V_MAX_KEPT_STEPS];
    Tensor ci, cni;
    float *x = read_latent(in, "noise", dit.c.in_dim, ls, err);
    float *ctx = x ? read_f32(in, "context", 2, cs, &ci, err) : NULL;
    int guided = ss->cfg > 1 || (moe && ss->cfg_low > 1);
    float *ctxn = ctx && guided ? read_f32(in, "context_neg", 2, cs, &cni, err) : NULL;
    LatentGrid g = {(int)ls[0], (int)ls[1], (int)ls[2], (int)ls[3], ls[0] * ls[1] * ls[2] * ls[3]};
    if (x && !rc) rc = long_video_settings(&so, m, g.T, err);
    float *steps = x ? (float *)t2v_malloc((size_t)g.n * ss->steps * sizeof(float), "step latents", err) : NULL;
    if (!steps || !ctx || (guided && !ctxn)) rc = err->code ? err->code : T2V_EINPUT;
    float **eps = NULL;
    if (!rc && ss->sampler == SAMPLER_DISTILL) rc = read_renoise(in, ls, ss->steps, &eps, err);
    if (!rc && tl_find(&in->tensors, "image"))
        rc = stage_image(m, sa->sampling.settings.precision, in, &g, &z, out, err);
    int chain = window_chained(&ss->window, g.T);
    if (!rc && chain) rc = pipeline_chain_check(&dit, ss, g.T, moe, z != NULL, err);
    Denoiser d;
    Progress pr;
    progress_init(&pr, sa->quiet);
    PipelineWatch w = {&pr, progress_watch, NULL};
    float ts[T2V_MAX_KEPT_STEPS];
    if (!rc && chain) { /* window by window: no sampler state over the whole clip */
        rc = pipeline_sample_chain(&dit, ss, &g, ctx, (int)ci.shape[0], ctxn, ctxn ? (int)cni.shape[0] : 0, sa->dist,
                                   x, steps, ts, &w, err);
        if (!rc) rc = add_latents(out, steps, x, ls, ss->steps, ts, err);
    } else if (!rc && !(rc = denoiser_init(&d, &dit, ss, &g, ctx, ctx ? (int)ci.shape[0] : 0, ctxn,
                                           ctxn ? (int)cni.shape[0] : 0, err))) {
        sampler_renoise_from_seed(&d.smp, sa->seed);
        if (eps) sampler_renoise_given(&d.smp, (const float *const *)eps);
        if (moe) rc = denoiser_set_low_expert(&d, &low, ss->boundary, (float)ss->cfg_low, ctx, (int)ci.shape[0], ctxn,
                                              ctxn ? (int)cni.shape[0] : 0, err);
        if (!rc && z) rc = denoiser_set_image(&d, z, err);
        d.experts = moe ? experts : NULL;
        d.dist = sa->dist;
        if (!rc) rc = pipeline_sample(&d, x, steps, &w, err);
        if (!rc) rc = add_latents(out, steps, x, ls, ss->steps, d.smp.timesteps, err);
        if (!rc && d.cache.computed) rc = add_decisions(out, &d.cache, err);
        if (!rc && ss->cache.kind == CACHE_MAGCACHE_CAL && (!sa->dist || sa->dist->rank == 0))
            rc = cache_ratios_write(ss->cache.path, d.cache.metric, ss->steps, err); /* magcache-calibrate:FILE */
        for (int i = 0; moe && i < ss->steps; i++) experts_f[i] = (float)experts[i];
        if (!rc && moe) rc = tset_add_f32(out, "experts", experts_f, 1, tsh, err);
        denoiser_free(&d);
    }
    for (int k = 0; eps && k < ss->steps - 1; k++) free(eps[k]);
    free(eps);
    if (moe) dit_free(&low), ckpt_close(&ck_low);
    free(z);
    free(steps);
    free(x);
    free(ctx);
    free(ctxn);
    dit_free(&dit);
    ckpt_close(&ck);
    return rc;
}

/* The causal stage (docs/ARCHITECTURE.md 10c): noise [C, T, h, w], context,
 * renoise.b<b>.k<k> [C, block, h, w] (all or none: none, the stream of
 * --seed) -> latent.final, timesteps, by pipeline_sample_causal. */
static int read_causal_renoise(const SafeTensors *in, const int64_t ls[4], const CausalSettings *cs, int steps,
                               float **out, T2vError *err) {
    int nb = (int)ls[1] / cs->block, n = nb * (steps - 1), found = 0;
    int64_t bs[4] = {ls[0], cs->block, ls[2], ls[3]}, nblk = ls[0] * cs->block * ls[2] * ls[3];
    char name[48];
    *out = NULL;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "renoise.b%d.k%d", i / (steps - 1), i % (steps - 1));
        found += tl_find(&in->tensors, name) != NULL;
    }
    if (!found) return T2V_OK;
    if (found != n)
        return t2v_fail(err, T2V_EINPUT, "%s: has %d of the %d tensors renoise.b<b>.k<k> (%d blocks, %d steps; all "
                        "or none)", in->path, found, n, nb, steps);
    if (!(*out = (float *)t2v_malloc(sizeof(float) * (size_t)(n * nblk), "renoise", err))) return T2V_ERESOURCE;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "renoise.b%d.k%d", i / (steps - 1), i % (steps - 1));
        float *r = read_f32(in, name, 4, bs, NULL, err);
        if (!r) return err->code;
        memcpy(*out + (size_t)i * nblk, r, sizeof(float) * (size_t)nblk);
        free(r);
    }
    return T2V_OK;
}

static int stage_causal(const StageArgs *sa, const Model *m, const SafeTensors *in, TensorSet *out, T2vError *err) {
    SamplingOpts so = sa->sampling;
    int rc = sampling_defaults(&so, &m->defaults, err);
    if (rc) return rc;
    if (!so.causal_block)
        return t2v_fail(err, T2V_EUSAGE, "stage causal: needs --causal-block N (or the model's t2v.json causal_block)");
    const SamplingSettings *ss = &so.settings;
    Checkpoint ck;
    DiT dit;
    if ((rc = model_load_dit(m, &ck, &dit, err))) return rc;
    int64_t ls[4] = {0, 0, 0, 0}, cs[2] = {-1, dit.c.text_dim}, tsh[1] = {ss->steps};
    Tensor ci;
    float *renoise = NULL, *x = read_latent(in, "noise", dit.c.in_dim, ls, err);
    float *ctx = x ? read_f32(in, "context", 2, cs, &ci, err) : NULL;
    LatentGrid g = {(int)ls[0], (int)ls[1], (int)ls[2], (int)ls[3], ls[0] * ls[1] * ls[2] * ls[3]};
    rc = x && ctx ? long_video_settings(&so, m, g.T, err) : err->code ? err->code : T2V_EINPUT;
    if (!rc) rc = read_causal_renoise(in, ls, &ss->causal, ss->steps, &renoise, err);
    Progress pr;
    progress_init(&pr, sa->quiet);
    PipelineWatch w = {&pr, progress_watch, NULL};
    if (!rc) rc = pipeline_sample_causal(&dit, ss, &g, ctx, (int)ci.shape[0], x, sa->seed, renoise, &w, err);
    Sampler smp; /* the timesteps the DiT saw, as stage sampler writes them */
    if (!rc && !(rc = sampler_init_listed(&smp, SAMPLER_DISTILL, ss->timesteps, ss->steps, ss->shift, 1, err))) {
        rc = tset_add_f32(out, "timesteps", smp.timesteps, 1, tsh, err);
        sampler_free(&smp);
    }
    if (!rc) rc = tset_add_f32(out, "latent.final", x, 4, ls, err);
    free(renoise);
    free(x);
    free(ctx);
    dit_free(&dit);
    ckpt_close(&ck);
    return rc;
}

static int stage_vae_decode(const StageArgs *sa, Vae *vae, const SafeTensors *in, TensorSet *out,
                            T2vError *err) {
    const VaeConfig *c = &vae->config;
    int64_t want[4] = {c->z_dim, -1, -1, -1};
    Tensor info;
    float *z = read_f32(in, "latent", 4, want, &info, err);
    if (!z) return err->code;
    int T = (int)info.shape[1], h = (int)info.shape[2], w = (int)info.shape[3];
    LatentGrid g = {c->z_dim, T, h, w, (int64_t)c->z_dim * T * h * w};
    int64_t vs[4] = {3, 1 + c->scale_t * (T - 1), (int64_t)c->scale_s * h, (int64_t)c->scale_s * w};
    float *video = (float *)t2v_malloc((size_t)(vs[1] * vs[2] * vs[3] * 3) * sizeof(float), "video", err);
    int rc = video ? T2V_OK : T2V_ERESOURCE;
    Progress pr;
    progress_init(&pr, sa->quiet);
    PipelineWatch watch = {&pr, progress_watch, NULL};
    if (!rc) rc = pipeline_decode(vae, &g, z, video, &watch, err);
    if (!rc) rc = tset_add_f32(out, "video", video, 4, vs, err);
    /* --dump-level block: each decoder layer's output under its official
     * name, conv2 first; layer n is rerun from the latent through the first
     * n layers (vae_decode_stage), so this costs about n_dec/2 decodes */
    for (int n = 0; !rc && sa->dump_level == DUMP_BLOCK && n <= c->n_dec; n++) {
        int sh[4];
        vae_stage_shape(vae, 1, n, T, h, w, sh);
        int64_t s64[4] = {sh[0], sh[1], sh[2], sh[3]};
        float *y = (float *)t2v_malloc((size_t)sh[0] * sh[1] * sh[2] * sh[3] * sizeof(float), "layer output", err);
        rc = y ? vae_decode_stage(vae, n, z, T, h, w, y, err) : T2V_ERESOURCE;
        if (!rc) rc = tset_add_f32(out, vae_layer_name(vae, 1, n - 1), y, 4, s64, err);
        free(y);
    }
    free(z);
    free(video);
    return rc;
}

static int stage_vae_encode(Vae *vae, const SafeTensors *in, TensorSet *out, T2vError *err) {
    const VaeConfig *c = &vae->config;
    int64_t want[4] = {3, -1, -1, -1};
    Tensor info;
    float *video = read_f32(in, "video", 4, want, &info, err);
    if (!video) return err->code;
    int F = (int)info.shape[1], H = (int)info.shape[2], W = (int)info.shape[3], rc = T2V_OK;
    if ((F - 1) % c->scale_t || H % c->scale_s || W % c->scale_s)
        rc = t2v_fail(err, T2V_EINPUT, "%s: video must be [3, 1 + %dk, %dm, %dn], found [3, %d, %d, %d]", in->path,
                      c->scale_t, c->scale_s, c->scale_s, F, H, W);
    int64_t zs[4] = {c->z_dim, 1 + (F - 1) / c->scale_t, H / c->scale_s, W / c->scale_s};
    float *z = rc ? NULL : (float *)t2v_malloc((size_t)(zs[0] * zs[1] * zs[2] * zs[3]) * sizeof(float), "latent", err);
    if (!rc && !z) rc = T2V_ERESOURCE;
    if (!rc) rc = vae_encode(vae, video, F, H, W, z, err);
    if (!rc) rc = tset_add_f32(out, "latent", z, 4, zs, err);
    free(z);
    free(video);
    return rc;
}

static int stage_vae(const StageArgs *sa, const Model *m, const SafeTensors *in, TensorSet *out, int decode,
                     T2vError *err) {
    Checkpoint ck;
    Vae vae;
    int rc = model_load_vae(m, &ck, &vae, err);
    if (rc) return rc;
    vae.precision = sa->sampling.settings.precision;
    rc = decode ? stage_vae_decode(sa, &vae, in, out, err) : stage_vae_encode(&vae, in, out, err);
    vae_free(&vae);
    ckpt_close(&ck);
    return rc;
}

/* T2V_OK; STAGE_HELP_SHOWN after --help (exit 0); else a usage error's code. */
enum { STAGE_HELP_SHOWN = -1 };

static int parse_stage_args(StageArgs *o, int argc, char **argv) {
    static const char *const value_opts[] = {"--model", "--in", "--out", "--steps", "--cfg", "--shift", "--sampler",
                                             "--timesteps", "--cache", "--seed", "--threads", "--precision",
                                             "--context-window", "--context-overlap", "--context-schedule",
                                             "--riflex", "--boundary", "--dump-level", "--dump-blocks", "--names",
                                             "--causal-block", "--causal-window", "--causal-sink", MODEL_VALUE_OPTS,
                                             NULL};
    memset(o, 0, sizeof *o);
    o->seed = 42;
    o->sampling.threads = platform_default_threads();
    if (argc < 1) return usage_error("%s", "stage: name one of t5, dit, sampler, causal, vae-decode, vae-encode");
    o->name = argv[0];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int k;
        if (is_help_opt(a)) { command_help("stage"); return STAGE_HELP_SHOWN; }
        if (i == 0) continue; /* NAME */
        if (!strcmp(a, "--force")) { o->force = 1; continue; }
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) { o->quiet = 1; continue; }
        if (parse_model_flag(&o->margs, a)) continue;
        if (a[0] != '-') return usage_error("stage: unexpected argument '%s'", a);
        if (!v || !opt_in(a, value_opts)) return bad_option("stage", a, value_opts);
        i++;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--in")) o->in = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--seed")) {
            if (parse_u64(v, &o->seed)) return usage_error("--seed must be a non-negative integer, not '%s'", v);
        } else if (!strcmp(a, "--dump-level")) {
            if ((o->dump_level = dump_level_parse(v)) < 0)
                return usage_error("stage: --dump-level '%s': expected stage, block or op", v);
        } else if (!strcmp(a, "--dump-blocks")) o->dump_blocks = v;
        else if (!strcmp(a, "--names")) {
            if (strcmp(v, "official") && strcmp(v, "diffusers"))
                return usage_error("stage: --names '%s': expected official or diffusers", v);
            o->diffusers = !strcmp(v, "diffusers");
        } else if ((k = parse_model_opt(&o->margs, a, v)) != 0) {
            if (k < 0) return T2V_EUSAGE;
        } else {
            k = parse_sampling_opt(&o->sampling, a, v);
            if (k < 0) return T2V_EUSAGE;
            if (k == 0) return bad_option("stage", a, value_opts);
        }
    }
    if (!o->model || !o->in || !o->out)
        return usage_error("%s", "stage: --model DIR, --in IN.safetensors and --out OUT.safetensors are required");
    int dit = !strcmp(o->name, "dit"), blocks_only = !strcmp(o->name, "t5") || !strcmp(o->name, "vae-decode");
    if ((o->dump_blocks || o->diffusers) && !dit)
        return usage_error("stage: --dump-blocks and --names are for `stage dit` (not '%s')", o->name);
    if (o->dump_level == DUMP_OP && !dit)
        return usage_error("stage: --dump-level op is for `stage dit`; t5 and vae-decode dump at block level (not "
                           "'%s')", o->name);
    if (o->dump_level == DUMP_BLOCK && !dit && !blocks_only)
        return usage_error("stage: --dump-level is for stage dit, t5 and vae-decode (not '%s')", o->name);
    if ((o->dump_blocks || o->diffusers) && o->dump_level == DUMP_STAGE)
        return usage_error("%s", "stage: --dump-blocks and --names need --dump-level block or op");
    return T2V_OK;
}

int cmd_stage(int argc, char **argv, App *app) {
    StageArgs sa;
    int rc = parse_stage_args(&sa, argc, argv);
    if (rc) return rc == STAGE_HELP_SHOWN ? 0 : rc;
    static const struct { const char *name; int need; } stages[] = {
        {"t5", MODEL_NEED_T5}, {"dit", MODEL_NEED_CONFIG | MODEL_NEED_DIT},
        {"sampler", MODEL_NEED_CONFIG | MODEL_NEED_DIT}, {"vae-decode", MODEL_NEED_VAE},
        {"vae-encode", MODEL_NEED_VAE}, {"causal", MODEL_NEED_CONFIG | MODEL_NEED_DIT}};
    int k = -1;
    for (int i = 0; i < 6; i++)
        if (!strcmp(sa.name, stages[i].name)) k = i;
    if (k < 0)
        return usage_error("stage: unknown stage '%s' (t5, dit, sampler, causal, vae-decode, vae-encode)", sa.name);
    int writer = !(sa.dist = app_dist(app)) || sa.dist->rank == 0; /* rank 0 alone writes and prints */
    if (!writer) sa.quiet = 1;
    if (writer && !sa.force && platform_file_exists(sa.out))
        return usage_error("stage: %s exists; pass --force to overwrite it", sa.out);
    const CacheSettings *cs = &sa.sampling.settings.cache;
    if (writer && !sa.force && cs->kind == CACHE_MAGCACHE_CAL && platform_file_exists(cs->path))
        return usage_error("--cache magcache-calibrate: %s exists; pass --force to overwrite it", cs->path);
    platform_set_threads(sa.sampling.threads);
    T2vError e = {0, {0}};
    Model m;
    if (model_open_with(&m, sa.model, &sa.margs.o, stages[k].need, &e)) return die(&e);
    SafeTensors in;
    if (st_open(&in, sa.in, &e)) { model_close(&m); return die(&e); }
    TensorSet out;
    memset(&out, 0, sizeof out);
    if (k == 0) rc = stage_t5(&sa, &m, &in, &out, &e);
    else if (k == 1) rc = stage_dit(&sa, &m, &in, &out, &e);
    else if (k == 2) rc = stage_sampler(&sa, &m, &in, &out, &e);
    else if (k == 5) rc = stage_causal(&sa, &m, &in, &out, &e);
    else rc = stage_vae(&sa, &m, &in, &out, k == 3, &e);
    const char *mk[] = {"stage", "t2v_version", "precision"},
               *mv[] = {sa.name, T2V_VERSION, precision_name(sa.sampling.settings.precision)};
    if (!rc && writer && sa.dump_level != DUMP_STAGE && !sa.quiet)
        fprintf(stderr, "t2v: writing %d tensors, %.2f MB, to %s\n", out.n, tset_bytes(&out) / 1e6, sa.out);
    if (!rc && writer) rc = tset_write(&out, sa.out, mk, mv, 3, &e);
    if (!rc && !sa.quiet) app_report_dist(sa.dist);
    tset_free(&out);
    st_close(&in);
    model_close(&m);
    return rc ? die(&e) : 0;
}
