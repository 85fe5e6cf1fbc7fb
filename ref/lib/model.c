/* model.c: see model.h. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "platform.h"
#include "sampler.h"
#include "t5.h"
#include "tokenizer.h"
#include "vae.h"

char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *s = (char *)malloc(a + b + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') s[k++] = '/';
    memcpy(s + k, name, b + 1);
    return s;
}

char *read_text_file(const char *path, size_t *len, T2vError *err) {
    MappedFile m;
    if (platform_map_file(&m, path, err)) return NULL;
    char *s = (char *)t2v_malloc(m.size + 1, path, err);
    if (s) {
        memcpy(s, m.data, m.size);
        s[m.size] = 0;
        if (len) *len = m.size;
    }
    platform_unmap_file(&m);
    return s;
}

/* ----------------------------------------------------------------------------
 * Checkpoints */

int ckpt_open(Checkpoint *c, const char *path, T2vError *err) {
    memset(c, 0, sizeof *c);
    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return t2v_fail(err, T2V_EINPUT, "%s: cannot open", path);
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    c->path = (char *)t2v_malloc(strlen(path) + 1, "path", err);
    if (!c->path) return T2V_ERESOURCE;
    strcpy(c->path, path);
    int rc;
    if (got == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4) {
        c->is_pth = 1;
        rc = pth_open(&c->pth, path, err);
        c->tensors = &c->pth.tensors;
    } else {
        rc = st_open_any(&c->st, path, err);
        c->tensors = &c->st.tensors;
    }
    if (rc) {
        free(c->path);
        memset(c, 0, sizeof *c);
    }
    return rc;
}

void ckpt_close(Checkpoint *c) {
    if (c->is_pth) pth_close(&c->pth);
    else if (c->tensors) st_close_any(&c->st);
    free(c->path);
    memset(c, 0, sizeof *c);
}

/* ----------------------------------------------------------------------------
 * Model directory */

/* First of the candidate names that exists in dir, or NULL. */
static char *find_first(const char *dir, const char *const *names) {
    for (int i = 0; names[i]; i++) {
        char *p = path_join(dir, names[i]);
        if (p && platform_file_exists(p) && !platform_is_dir(p)) return p;
        free(p);
    }
    return NULL;
}

int model_find(ModelPaths *p, const char *dir, int need, T2vError *err) {
    static const char *const config[] = {"config.json", NULL};
    static const char *const dit[] = {"diffusion_pytorch_model.safetensors.index.json",
                                      "diffusion_pytorch_model.safetensors", NULL};
    static const char *const t5[] = {"models_t5_umt5-xxl-enc-bf16.pth", "models_t5_umt5-xxl-enc-bf16.safetensors",
                                     NULL};
    static const char *const vae[] = {"Wan2.1_VAE.pth", "Wan2.1_VAE.safetensors", NULL};
    static const char *const tok[] = {"google/umt5-xxl/spiece.model", NULL};
    static const char *const defaults[] = {"t2v.json", NULL};
    memset(p, 0, sizeof *p);
    if (!platform_is_dir(dir))
        return t2v_fail(err, T2V_EINPUT, "%s: model directory not found (expected the Wan2.1 layout, see README)",
                        dir);
    p->dir = path_join(dir, "");
    p->config = find_first(dir, config);
    p->dit = find_first(dir, dit);
    p->t5 = find_first(dir, t5);
    p->vae = find_first(dir, vae);
    p->tokenizer = find_first(dir, tok);
    p->defaults = find_first(dir, defaults);
    const struct { int bit; const char *have, *what; } req[] = {
        {MODEL_NEED_CONFIG, p->config, "config.json"},
        {MODEL_NEED_DIT, p->dit, "diffusion_pytorch_model.safetensors (or its .index.json)"},
        {MODEL_NEED_T5, p->t5, "models_t5_umt5-xxl-enc-bf16.pth (or .safetensors)"},
        {MODEL_NEED_VAE, p->vae, "Wan2.1_VAE.pth (or .safetensors)"},
        {MODEL_NEED_TOKENIZER, p->tokenizer, "google/umt5-xxl/spiece.model"},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        if ((need & req[i].bit) && !req[i].have) {
            int rc = t2v_fail(err, T2V_EINPUT, "%s: model directory has no %s", dir, req[i].what);
            model_paths_free(p);
            return rc;
        }
    return T2V_OK;
}

void model_paths_free(ModelPaths *p) {
    free(p->dir);
    free(p->config);
    free(p->dit);
    free(p->t5);
    free(p->vae);
    free(p->tokenizer);
    free(p->defaults);
    memset(p, 0, sizeof *p);
}

static int json_int(const JsonValue *o, const char *key, int *out, int lo, int hi, const char *path,
                    T2vError *err) {
    const JsonValue *v = json_get(o, key);
    if (!v) return T2V_OK;
    if (v->type != JSON_NUMBER || !v->is_integer || v->integer < lo || v->integer > hi)
        return t2v_fail(err, T2V_EINPUT, "%s: \"%s\" must be an integer in [%d, %d]", path, key, lo, hi);
    *out = (int)v->integer;
    return T2V_OK;
}

static int json_num(const JsonValue *o, const char *key, double *out, const char *path, T2vError *err) {
    const JsonValue *v = json_get(o, key);
    if (!v) return T2V_OK;
    if (v->type != JSON_NUMBER) return t2v_fail(err, T2V_EINPUT, "%s: \"%s\" must be a number", path, key);
    *out = v->number;
    return T2V_OK;
}

/* t2v.json: {"width":..,"height":..,"frames":..,"steps":..,"cfg":..,"shift":..,
 *            "fps":..,"sampler":"unipc","negative_prompt":"..",
 *            "preview_factors":[51 numbers]} (every key optional). */
static int read_defaults_file(ModelDefaults *d, const char *path, T2vError *err) {
    size_t len;
    char *text = read_text_file(path, &len, err);
    if (!text) return err ? err->code : T2V_EINPUT;
    char jerr[256];
    JsonValue *j = json_parse(text, len, jerr, sizeof jerr);
    free(text);
    if (!j) return t2v_fail(err, T2V_EINPUT, "%s: %s", path, jerr);
    int rc = j->type == JSON_OBJECT ? T2V_OK : t2v_fail(err, T2V_EINPUT, "%s: expected a JSON object", path);
    if (!rc) rc = json_int(j, "width", &d->width, 16, 1 << 14, path, err);
    if (!rc) rc = json_int(j, "height", &d->height, 16, 1 << 14, path, err);
    if (!rc) rc = json_int(j, "frames", &d->frames, 1, 1 << 12, path, err);
    if (!rc) rc = json_int(j, "steps", &d->steps, 1, 10000, path, err);
    if (!rc) rc = json_int(j, "fps", &d->fps, 1, 240, path, err);
    if (!rc) rc = json_num(j, "cfg", &d->cfg, path, err);
    if (!rc) rc = json_num(j, "shift", &d->shift, path, err);
    const JsonValue *s = json_get(j, "sampler");
    if (!rc && s) {
        if (s->type != JSON_STRING || s->len >= sizeof d->sampler)
            rc = t2v_fail(err, T2V_EINPUT, "%s: \"sampler\" must be \"unipc\" or \"euler\"", path);
        else strcpy(d->sampler, s->string);
    }
    const JsonValue *n = json_get(j, "negative_prompt");
    if (!rc && n) {
        if (n->type != JSON_STRING) rc = t2v_fail(err, T2V_EINPUT, "%s: \"negative_prompt\" must be a string", path);
        else if ((d->negative_prompt = (char *)malloc(n->len + 1)) != NULL) memcpy(d->negative_prompt, n->string, n->len + 1);
    }
    const JsonValue *pf = json_get(j, "preview_factors");
    if (!rc && pf) {
        if (pf->type != JSON_ARRAY || pf->len != 51)
            rc = t2v_fail(err, T2V_EINPUT, "%s: \"preview_factors\" must be 51 numbers (16x3 then 3 biases)", path);
        for (size_t i = 0; !rc && i < 51; i++) {
            if (pf->items[i].type != JSON_NUMBER)
                rc = t2v_fail(err, T2V_EINPUT, "%s: \"preview_factors\" must be numbers", path);
            else d->preview_factors[i] = (float)pf->items[i].number;
        }
        if (!rc) d->has_preview_factors = 1;
    }
    json_free(j);
    return rc;
}

int model_defaults(ModelDefaults *d, const ModelPaths *p, T2vError *err) {
    memset(d, 0, sizeof *d);
    /* Wan2.1 (wan21-spec 1.3): 832x480 is supported by both T2V models. */
    d->width = 832;
    d->height = 480;
    d->frames = 81;
    d->steps = 50;
    d->cfg = 5.0;
    d->shift = 5.0;
    d->fps = 16;
    strcpy(d->sampler, "unipc");
    if (p && p->defaults) return read_defaults_file(d, p->defaults, err);
    return T2V_OK;
}

void model_defaults_free(ModelDefaults *d) {
    free(d->negative_prompt);
    d->negative_prompt = NULL;
}

/* ----------------------------------------------------------------------------
 * The pipeline */

int model_dit_config(const ModelPaths *mp, DiTConfig *c, T2vError *err) {
    size_t len;
    char *text = read_text_file(mp->config, &len, err);
    if (!text) return err ? err->code : T2V_EINPUT;
    char jerr[256];
    JsonValue *j = json_parse(text, len, jerr, sizeof jerr);
    free(text);
    if (!j) return t2v_fail(err, T2V_EINPUT, "%s: %s", mp->config, jerr);
    int rc = dit_config_from_json(c, j, mp->config, err);
    json_free(j);
    return rc;
}

static void report(const GenHooks *h, const char *stage, int k, int n) {
    if (h && h->progress) h->progress(h->user, stage, k, n);
}

/* Tokenizes and encodes one text into a new [L, dim] context. */
static int encode_text(const Tokenizer *tk, T5 *t5, int text_len, const char *text, int32_t **ids, int *L,
                       float **ctx, T2vError *err) {
    int rc = tokenizer_encode_wan(tk, text, text_len, ids, L, err);
    if (rc) return rc;
    *ctx = (float *)t2v_malloc((size_t)*L * t5_dim(t5) * sizeof(float), "text context", err);
    if (!*ctx) return T2V_ERESOURCE;
    return t5_encode(t5, *ids, *L, *ctx, err);
}

/* Stage 1: tokenizer + umT5, for the prompt and (with CFG) the negative. */
static int run_text(const ModelPaths *mp, const GenSettings *s, int text_len, const GenHooks *h, GenResult *r,
                    T2vError *err) {
    Tokenizer tk;
    int rc = tokenizer_load(&tk, mp->tokenizer, err);
    if (rc) return rc;
    Checkpoint ck;
    T5 m;
    if ((rc = ckpt_open(&ck, mp->t5, err)) == T2V_OK && (rc = t5_build(&m, ck.tensors, err)) != T2V_OK)
        ckpt_close(&ck);
    if (rc) { tokenizer_free(&tk); return rc; }
    int n = s->cfg > 1 ? 2 : 1;
    report(h, "text encoder", 0, n);
    rc = encode_text(&tk, &m, text_len, s->prompt, &r->ids, &r->L, &r->context, err);
    if (!rc) report(h, "text encoder", 1, n);
    if (!rc && n == 2) rc = encode_text(&tk, &m, text_len, s->negative, &r->ids_neg, &r->L_neg, &r->context_neg, err);
    if (!rc && n == 2) report(h, "text encoder", 2, n);
    r->text_dim = t5_dim(&m);
    t5_free(&m);
    ckpt_close(&ck);
    tokenizer_free(&tk);
    return rc;
}

/* The DiT as the sampler's model. */
typedef struct {
    DiT *dit;
    const float *ctx_emb, *ctx_neg_emb; /* [text_len, dim] each */
    const GenSettings *s;
    const GenHooks *h;
    GenResult *r;
    const Sampler *smp;   /* for the on_velocity hook: sigma of the step */
    int step;             /* the step being evaluated */
    const float *v_cond;  /* the conditional output of this step */
} SamplingUser;

static int dit_velocity_cb(void *user, const float *x, int timestep, int cond, float *v, T2vError *err) {
    SamplingUser *u = (SamplingUser *)user;
    int rc = dit_forward_embedded(u->dit, x, u->r->T, u->r->h, u->r->w, &(float){(float)timestep}, 1,
                                  cond ? u->ctx_emb : u->ctx_neg_emb, v, err);
    if (rc || !u->h || !u->h->on_velocity) return rc;
    if (cond) u->v_cond = v;
    if (!cond || !((float)u->s->cfg > 1.0f)) /* the last pass of the step (sampler_run's order) */
        u->h->on_velocity(u->h->user, u->step, u->smp->sigmas[u->step], timestep, x, u->v_cond, cond ? NULL : v,
                          u->r->T, u->r->h, u->r->w);
    return rc;
}

static void on_sampler_step(void *user, int i, const float *x) {
    SamplingUser *u = (SamplingUser *)user;
    u->step = i + 1;
    int64_t n = (int64_t)16 * u->r->T * u->r->h * u->r->w;
    if (u->r->steps) memcpy(u->r->steps + (size_t)i * n, x, (size_t)n * sizeof(float));
    if (u->h && u->h->on_step) u->h->on_step(u->h->user, i, x, u->r->T, u->r->h, u->r->w);
    report(u->h, "sampling", i + 1, u->s->steps);
}

/* Stage 2: noise and the sampling loop. */
static int run_sampling(const ModelPaths *mp, const GenSettings *s, const GenHooks *h, GenResult *r, T2vError *err) {
    DiTConfig c;
    int rc = model_dit_config(mp, &c, err);
    if (rc) return rc;
    Checkpoint ck;
    DiT m;
    if ((rc = ckpt_open(&ck, mp->dit, err))) return rc;
    if ((rc = dit_build(&m, &c, ck.tensors, err))) { ckpt_close(&ck); return rc; }
    float *buf = NULL;
    Sampler smp;
    memset(&smp, 0, sizeof smp);
    if (r->text_dim != c.text_dim || c.in_dim != 16) {
        rc = t2v_fail(err, T2V_EINPUT, "%s: the text encoder gives %d-dim contexts and the VAE 16 channels; the DiT "
                      "expects text_dim %d and in_dim %d", mp->dit, r->text_dim, c.text_dim, c.in_dim);
        goto done;
    }
    r->T = 1 + (s->frames - 1) / 4, r->h = s->height / 8, r->w = s->width / 8;
    int64_t n = (int64_t)16 * r->T * r->h * r->w;
    size_t emb = (size_t)c.text_len * c.dim;
    buf = (float *)t2v_malloc((2 * emb + 2 * (size_t)n) * sizeof(float), "sampler buffers", err);
    r->noise = (float *)t2v_malloc((size_t)n * sizeof(float), "noise", err);
    r->latent = (float *)t2v_malloc((size_t)n * sizeof(float), "latent", err);
    r->timesteps = (float *)t2v_malloc((size_t)s->steps * sizeof(float), "timesteps", err);
    if (s->keep_steps) r->steps = (float *)t2v_malloc((size_t)n * s->steps * sizeof(float), "step latents", err);
    if (!buf || !r->noise || !r->latent || !r->timesteps || (s->keep_steps && !r->steps)) { rc = T2V_ERESOURCE; goto done; }
    if ((rc = dit_reserve(&m, r->T * (r->h / c.patch_h) * (r->w / c.patch_w), err))) goto done;
    if ((rc = dit_embed_context(&m, r->context, r->L, buf, err))) goto done;
    if (r->context_neg && (rc = dit_embed_context(&m, r->context_neg, r->L_neg, buf + emb, err))) goto done;
    randn_torch(s->seed, r->noise, n);
    memcpy(r->latent, r->noise, (size_t)n * sizeof(float));
    if ((rc = sampler_init(&smp, (SamplerKind)s->sampler, s->steps, s->shift, n, err))) goto done;
    for (int i = 0; i < s->steps; i++) r->timesteps[i] = (float)sampler_timestep(&smp, i);
    SamplingUser u = {&m, buf, buf + emb, s, h, r, &smp, 0, NULL};
    report(h, "sampling", 0, s->steps);
    rc = sampler_run(&smp, r->latent, (float)s->cfg, dit_velocity_cb, &u, buf + 2 * emb, on_sampler_step, err);
done:
    sampler_free(&smp);
    free(buf);
    dit_free(&m);
    ckpt_close(&ck);
    return rc;
}

static void vae_progress_cb(void *user, int chunk, int nchunks) {
    report((const GenHooks *)user, "VAE decode", chunk, nchunks);
}

/* Stage 3: VAE decode to [3, F, H, W] in [-1, 1]. */
static int run_vae(const ModelPaths *mp, const GenSettings *s, const GenHooks *h, GenResult *r, T2vError *err) {
    Checkpoint ck;
    Vae m;
    int rc = ckpt_open(&ck, mp->vae, err);
    if (rc) return rc;
    if ((rc = vae_build(&m, ck.tensors, err))) { ckpt_close(&ck); return rc; }
    r->video = (float *)t2v_malloc((size_t)3 * s->frames * s->height * s->width * sizeof(float), "video", err);
    if (!r->video) rc = T2V_ERESOURCE;
    if (!rc) {
        report(h, "VAE decode", 0, r->T);
        rc = vae_decode(&m, r->latent, r->T, r->h, r->w, r->video, vae_progress_cb, (void *)h, err);
    }
    vae_free(&m);
    ckpt_close(&ck);
    return rc;
}

int pipeline_generate(const ModelPaths *mp, const GenSettings *s, const GenHooks *hooks, GenResult *r,
                      T2vError *err) {
    memset(r, 0, sizeof *r);
    if (s->width % 16 || s->height % 16 || s->width < 16 || s->height < 16 || s->frames < 1 || (s->frames - 1) % 4 ||
        s->steps < 1 || !(s->shift > 0) || !s->prompt || (s->cfg > 1 && !s->negative))
        return t2v_fail(err, T2V_EUSAGE, "generate: bad settings %dx%dx%d, %d steps (W, H multiples of 16; frames "
                        "4k+1; steps >= 1; shift > 0; a prompt, and a negative prompt when cfg > 1)",
                        s->width, s->height, s->frames, s->steps);
    DiTConfig c;
    int rc = model_dit_config(mp, &c, err);
    if (!rc) rc = run_text(mp, s, c.text_len, hooks, r, err);
    if (!rc) rc = run_sampling(mp, s, hooks, r, err);
    if (!rc) rc = run_vae(mp, s, hooks, r, err);
    return rc;
}

void gen_result_free(GenResult *r) {
    free(r->ids);
    free(r->ids_neg);
    free(r->context);
    free(r->context_neg);
    free(r->noise);
    free(r->latent);
    free(r->steps);
    free(r->timesteps);
    free(r->video);
    memset(r, 0, sizeof *r);
}
