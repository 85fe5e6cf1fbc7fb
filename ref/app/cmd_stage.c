/* cli_stage.c: `t2v stage NAME --model DIR --in IN --out OUT`, one stage of
 * the pipeline on given tensors (DESIGN.md section 5), so another
 * implementation can be checked stage by stage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "t2v.h"

typedef struct {
    const char *name, *model, *in, *out;
    int force, quiet;
    SamplingOpts s; /* --steps --cfg --shift --sampler --threads */
} StageOpts;

/* Output tensors collected for one st_write. */
typedef struct {
    int n;
    char names[64][48];
    Tensor t[64];
} OutSet;

static int out_add(OutSet *o, const char *name, const float *x, int ndim, const int64_t *shape, T2vError *err) {
    if (o->n >= 64) return t2v_fail(err, T2V_ERESOURCE, "too many output tensors");
    snprintf(o->names[o->n], sizeof o->names[0], "%s", name);
    int rc = tensor_from_f32(&o->t[o->n], x, ndim, shape, err);
    if (!rc) o->n++;
    return rc;
}

static int out_write(OutSet *o, const StageOpts *so, T2vError *err) {
    StItem items[64];
    for (int i = 0; i < o->n; i++) items[i] = (StItem){o->names[i], &o->t[i]};
    const char *mk[] = {"stage", "t2v_version"}, *mv[] = {so->name, T2V_VERSION};
    int rc = st_write(so->out, items, o->n, mk, mv, 2, err);
    for (int i = 0; i < o->n; i++) tensor_free(&o->t[i]);
    return rc;
}

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

static int stage_t5(const StageOpts *so, const ModelPaths *mp, const SafeTensors *in, OutSet *out, T2vError *err) {
    int L;
    int32_t *ids = read_tokens(in, "tokens", &L, err);
    if (!ids) return err->code;
    Checkpoint ck;
    T5 m;
    int rc = load_t5(mp, &ck, &m, err);
    if (rc) { free(ids); return rc; }
    float *ctx = (float *)t2v_malloc((size_t)L * t5_dim(&m) * sizeof(float), "context", err);
    rc = ctx ? t5_encode(&m, ids, L, ctx, err) : T2V_ERESOURCE;
    int64_t shape[2] = {L, t5_dim(&m)};
    if (!rc) rc = out_add(out, "context", ctx, 2, shape, err);
    (void)so;
    free(ctx);
    free(ids);
    t5_free(&m);
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
static int stage_dit(const StageOpts *so, const ModelPaths *mp, const SafeTensors *in, OutSet *out, T2vError *err) {
    (void)so;
    Checkpoint ck;
    DiT m;
    int rc = load_dit(mp, &ck, &m, err);
    if (rc) return rc;
    int64_t ls[4] = {0, 0, 0, 0}, any[1] = {-1}, cs[2] = {-1, m.c.text_dim};
    Tensor ci, ti;
    float *latent = read_latent(in, "latent", m.c.in_dim, ls, err);
    float *t = latent ? read_f32(in, "timestep", 1, any, &ti, err) : NULL;
    float *ctx = t ? read_f32(in, "context", 2, cs, &ci, err) : NULL;
    float *vel = ctx ? (float *)t2v_malloc((size_t)(m.c.out_dim * ls[1] * ls[2] * ls[3]) * sizeof(float),
                                           "velocity", err) : NULL;
    if (!vel) rc = err->code;
    int64_t N = (ls[1] / m.c.patch_t) * (ls[2] / m.c.patch_h) * (ls[3] / m.c.patch_w), nt = rc ? 0 : ti.shape[0];
    if (!rc && nt != 1 && nt != N)
        rc = t2v_fail(err, T2V_EINPUT, "%s: timestep has %lld values, expected 1 (one t for every token) or %lld "
                      "(one per token of the latent's patch grid)", in->path, (long long)nt, (long long)N);
    for (int64_t i = 0; !rc && i < nt; i++)
        if (!(t[i] >= 0 && t[i] <= 1000)) /* NaN fails too */
            rc = t2v_fail(err, T2V_EINPUT, "%s: timestep[%lld] is %g, expected a number in [0, 1000]", in->path,
                          (long long)i, (double)t[i]);
    if (!rc && ci.shape[0] > m.c.text_len)
        rc = t2v_fail(err, T2V_EINPUT, "%s: context has %lld rows, the model takes at most %d", in->path,
                      (long long)ci.shape[0], m.c.text_len);
    if (!rc)
        rc = dit_forward(&m, latent, (int)ls[1], (int)ls[2], (int)ls[3], t, (int)nt, ctx, (int)ci.shape[0], vel,
                         err);
    int64_t vs[4] = {m.c.out_dim, ls[1], ls[2], ls[3]};
    if (!rc) rc = out_add(out, "velocity", vel, 4, vs, err);
    free(latent);
    free(t);
    free(ctx);
    free(vel);
    dit_free(&m);
    ckpt_close(&ck);
    return rc;
}

typedef struct {
    OutSet *out;
    int64_t shape[4];
    int rc;
    T2vError *err;
    Progress *pr;
} StepDump;

/* The sampler's user pointer: the DiT velocity first (dit_velocity casts to
 * it), then what the per-step callback needs. */
typedef struct {
    DitVelocity dv;
    StepDump sd;
} SamplerUser;

static void dump_step(void *user, int i, const float *x) {
    StepDump *sd = &((SamplerUser *)user)->sd;
    char name[48];
    snprintf(name, sizeof name, "latent.step%d", i);
    if (!sd->rc) sd->rc = out_add(sd->out, name, x, 4, sd->shape, sd->err);
    progress_update(sd->pr, i + 1);
}

static int stage_sampler(const StageOpts *so, const ModelPaths *mp, const SafeTensors *in, OutSet *out,
                         T2vError *err) {
    ModelDefaults d;
    int rc = model_defaults(&d, mp, err);
    if (rc) return rc;
    int steps = so->s.have_steps ? so->s.steps : d.steps;
    double cfg = so->s.have_cfg ? so->s.cfg : d.cfg, shift = so->s.have_shift ? so->s.shift : d.shift;
    model_defaults_free(&d);
    if (steps > 60) return t2v_fail(err, T2V_EUSAGE, "stage sampler: at most 60 steps (one output tensor each)");
    Checkpoint ck;
    DiT m;
    if ((rc = load_dit(mp, &ck, &m, err))) return rc;
    int64_t ls[4] = {0, 0, 0, 0}, cs[2] = {-1, m.c.text_dim};
    Tensor ci, cni;
    float *x = read_latent(in, "noise", m.c.in_dim, ls, err);
    float *ctx = x ? read_f32(in, "context", 2, cs, &ci, err) : NULL;
    float *ctxn = ctx && cfg > 1 ? read_f32(in, "context_neg", 2, cs, &cni, err) : NULL;
    int64_t n = ls[0] * ls[1] * ls[2] * ls[3];
    size_t emb = (size_t)m.c.text_len * m.c.dim;
    float *buf = (ctx && (cfg <= 1 || ctxn)) ? (float *)t2v_malloc((2 * emb + 2 * (size_t)n) * sizeof(float),
                                                                    "sampler buffers", err) : NULL;
    if (!buf) rc = err->code ? err->code : T2V_EINPUT;
    Sampler s;
    memset(&s, 0, sizeof s);
    if (!rc) rc = sampler_init(&s, so->s.sampler, steps, shift, n, err);
    SamplerUser u;
    Progress pr;
    if (!rc) {
        u.dv = (DitVelocity){&m, (int)ls[1], (int)ls[2], (int)ls[3], buf, buf + emb};
        u.sd = (StepDump){out, {ls[0], ls[1], ls[2], ls[3]}, 0, err, &pr};
        rc = dit_embed_context(&m, ctx, (int)ci.shape[0], buf, err);
        if (!rc && ctxn) rc = dit_embed_context(&m, ctxn, (int)cni.shape[0], buf + emb, err);
    }
    if (!rc) {
        progress_start(&pr, "sampling", steps, so->quiet);
        rc = sampler_run(&s, x, (float)cfg, dit_velocity, &u, buf + 2 * emb, dump_step, err);
        if (!rc) rc = u.sd.rc;
    }
    if (!rc) rc = out_add(out, "latent.final", x, 4, ls, err);
    if (!rc) {
        float *ts = (float *)malloc((size_t)steps * sizeof(float));
        for (int i = 0; ts && i < steps; i++) ts[i] = (float)sampler_timestep(&s, i);
        int64_t tsh[1] = {steps};
        rc = ts ? out_add(out, "timesteps", ts, 1, tsh, err) : t2v_fail(err, T2V_ERESOURCE, "out of memory");
        free(ts);
    }
    sampler_free(&s);
    free(buf);
    free(x);
    free(ctx);
    free(ctxn);
    dit_free(&m);
    ckpt_close(&ck);
    return rc;
}

static void vae_progress(void *user, int chunk, int nchunks) {
    Progress *p = (Progress *)user;
    if (p->n != nchunks) p->n = nchunks;
    progress_update(p, chunk);
}

static int stage_vae(const StageOpts *so, const ModelPaths *mp, const SafeTensors *in, OutSet *out, int decode,
                     T2vError *err) {
    Checkpoint ck;
    Vae m;
    int rc = load_vae(mp, &ck, &m, err);
    if (rc) return rc;
    Tensor info;
    Progress pr;
    if (decode) {
        int64_t want[4] = {16, -1, -1, -1};
        float *z = read_f32(in, "latent", 4, want, &info, err);
        int T = z ? (int)info.shape[1] : 0, h = (int)info.shape[2], w = (int)info.shape[3];
        int64_t vs[4] = {3, 1 + 4 * (T - 1), 8 * h, 8 * w};
        float *video = z ? (float *)t2v_malloc((size_t)(vs[1] * vs[2] * vs[3] * 3) * sizeof(float), "video", err) : NULL;
        if (!video) rc = err->code;
        if (!rc) {
            progress_start(&pr, "VAE decode", T, so->quiet);
            rc = vae_decode(&m, z, T, h, w, video, vae_progress, &pr, err);
        }
        if (!rc) rc = out_add(out, "video", video, 4, vs, err);
        free(z);
        free(video);
    } else {
        int64_t want[4] = {3, -1, -1, -1};
        float *video = read_f32(in, "video", 4, want, &info, err);
        int F = video ? (int)info.shape[1] : 0, H = (int)info.shape[2], W = (int)info.shape[3];
        if (video && ((F - 1) % 4 || H % 8 || W % 8))
            rc = t2v_fail(err, T2V_EINPUT, "%s: video must be [3, 4k+1, 8m, 8n], found [3, %d, %d, %d]", in->path, F,
                          H, W);
        int T = 1 + (F - 1) / 4;
        int64_t zs[4] = {16, T, H / 8, W / 8};
        float *z = video && !rc ? (float *)t2v_malloc((size_t)(16 * T * zs[2] * zs[3]) * sizeof(float), "latent", err)
                                : NULL;
        if (!z && !rc) rc = err->code;
        if (!rc) rc = vae_encode(&m, video, F, H, W, z, err);
        if (!rc) rc = out_add(out, "latent", z, 4, zs, err);
        free(z);
        free(video);
    }
    vae_free(&m);
    ckpt_close(&ck);
    return rc;
}

static int parse_stage_opts(StageOpts *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    o->s.sampler = SAMPLER_UNIPC;
    o->s.threads = platform_default_threads();
    if (argc < 1) return usage_error("%s", "stage: name one of t5, dit, sampler, vae-decode, vae-encode");
    o->name = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--force")) { o->force = 1; continue; }
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) { o->quiet = 1; continue; }
        if (!v) return usage_error("stage: option '%s' needs a value (or is unknown)", a);
        i++;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--in")) o->in = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else {
            int k = parse_sampling_opt(&o->s, a, v);
            if (k < 0) return T2V_EUSAGE;
            if (k == 0) return usage_error("stage: unknown option '%s'", a);
        }
    }
    if (!o->model || !o->in || !o->out)
        return usage_error("%s", "stage: --model DIR, --in IN.safetensors and --out OUT.safetensors are required");
    return T2V_OK;
}

int cmd_stage(int argc, char **argv) {
    StageOpts so;
    int rc = parse_stage_opts(&so, argc, argv);
    if (rc) return rc;
    static const struct { const char *name; int need; } stages[] = {
        {"t5", MODEL_NEED_T5}, {"dit", MODEL_NEED_CONFIG | MODEL_NEED_DIT},
        {"sampler", MODEL_NEED_CONFIG | MODEL_NEED_DIT}, {"vae-decode", MODEL_NEED_VAE},
        {"vae-encode", MODEL_NEED_VAE}};
    int k = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(so.name, stages[i].name)) k = i;
    if (k < 0) return usage_error("stage: unknown stage '%s' (t5, dit, sampler, vae-decode, vae-encode)", so.name);
    if (!so.force && platform_file_exists(so.out))
        return usage_error("stage: %s exists; pass --force to overwrite it", so.out);
    platform_set_threads(so.s.threads);
    T2vError e = {0, {0}};
    ModelPaths mp;
    if (model_find(&mp, so.model, stages[k].need, &e)) return die(&e);
    SafeTensors in;
    if (st_open(&in, so.in, &e)) { model_paths_free(&mp); return die(&e); }
    OutSet *out = (OutSet *)calloc(1, sizeof *out);
    if (!out) rc = t2v_fail(&e, T2V_ERESOURCE, "out of memory");
    else if (k == 0) rc = stage_t5(&so, &mp, &in, out, &e);
    else if (k == 1) rc = stage_dit(&so, &mp, &in, out, &e);
    else if (k == 2) rc = stage_sampler(&so, &mp, &in, out, &e);
    else rc = stage_vae(&so, &mp, &in, out, k == 3, &e);
    if (!rc) rc = out_write(out, &so, &e);
    else for (int i = 0; out && i < out->n; i++) tensor_free(&out->t[i]);
    free(out);
    st_close(&in);
    model_paths_free(&mp);
    return rc ? die(&e) : 0;
}
