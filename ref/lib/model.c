/* model.c: see model.h. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lora.h"
#include "platform.h"

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

JsonValue *read_json_file(const char *path, T2vError *err) {
    size_t len;
    char *text = read_text_file(path, &len, err);
    if (!text) return NULL;
    char jerr[256];
    JsonValue *j = json_parse(text, len, jerr, sizeof jerr);
    free(text);
    if (!j) t2v_fail(err, T2V_EINPUT, "%s: %s", path, jerr);
    return j;
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
    int rc;
    if (got == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4) {
        c->is_pth = 1;
        rc = pth_open(&c->pth, path, err);
        c->tensors = &c->pth.tensors;
    } else if (gguf_magic(magic, got)) {
        c->is_gguf = 1;
        rc = gguf_open(&c->gguf, path, err);
        c->tensors = &c->gguf.tensors;
    } else {
        rc = st_open_any(&c->st, path, err);
        c->tensors = &c->st.tensors;
    }
    if (rc) memset(c, 0, sizeof *c);
    return rc;
}

int ckpt_open_as(Checkpoint *c, const char *path, WeightRole role, T2vError *err) {
    int rc = ckpt_open(c, path, err);
    if (rc) return rc;
    rc = names_to_official(&c->mapped, c->tensors, role, path, c->convention, sizeof c->convention, err);
    if (rc) {
        ckpt_close(c);
        return rc;
    }
    c->tensors = &c->mapped;
    return T2V_OK;
}

void ckpt_close(Checkpoint *c) {
    tl_free(&c->mapped);
    lora_store_free(&c->lora);
    if (c->is_pth) pth_close(&c->pth);
    else if (c->is_gguf) gguf_close(&c->gguf);
    else if (c->tensors) st_close_any(&c->st);
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

static void paths_free(ModelPaths *p) {
    free(p->dir);
    free(p->config);
    free(p->dit);
    free(p->t5);
    free(p->vae);
    free(p->tokenizer);
    free(p->defaults);
    free(p->config_low);
    free(p->dit_low);
    memset(p, 0, sizeof *p);
}

/* The candidate names of each file, in the official and diffusers layouts
 * (a DiT may also be one GGUF file: gguf.h). */
typedef struct {
    const char *const *config, *const *dit, *const *t5, *const *vae, *const *tok;
} LayoutFiles;

static const char *const OFF_CONFIG[] = {"config.json", NULL};
static const char *const OFF_DIT[] = {"diffusion_pytorch_model.safetensors.index.json",
                                      "diffusion_pytorch_model.safetensors",
                                      "diffusion_pytorch_model.gguf", NULL};
static const char *const OFF_T5[] = {"models_t5_umt5-xxl-enc-bf16.pth", "models_t5_umt5-xxl-enc-bf16.safetensors",
                                     NULL};
static const char *const OFF_VAE[] = {"Wan2.1_VAE.pth", "Wan2.1_VAE.safetensors", "Wan2.2_VAE.pth",
                                      "Wan2.2_VAE.safetensors", NULL};
static const char *const OFF_TOK[] = {"google/umt5-xxl/spiece.model", NULL};
static const LayoutFiles OFFICIAL = {OFF_CONFIG, OFF_DIT, OFF_T5, OFF_VAE, OFF_TOK};

static const char *const DF_CONFIG[] = {"transformer/config.json", NULL};
static const char *const DF_DIT[] = {"transformer/diffusion_pytorch_model.safetensors.index.json",
                                     "transformer/diffusion_pytorch_model.safetensors", NULL};
static const char *const DF_T5[] = {"text_encoder/model.safetensors.index.json", "text_encoder/model.safetensors",
                                    NULL};
static const char *const DF_VAE[] = {"vae/diffusion_pytorch_model.safetensors", NULL};
static const char *const DF_TOK[] = {"tokenizer/spiece.model", NULL};
static const LayoutFiles DIFFUSERS = {DF_CONFIG, DF_DIT, DF_T5, DF_VAE, DF_TOK};

/* p->X <- the override when given, else the layout's file (NULL: none). */
static char *pick(const char *dir, const char *const *names, const char *override) {
    if (!override) return find_first(dir, names);
    size_t n = strlen(override);
    char *s = (char *)malloc(n + 1);
    if (s) memcpy(s, override, n + 1);
    return s;
}

/* A14B: DIR/high_noise_model/ and DIR/low_noise_model/ each hold a config.json
 * and the DiT (wan/configs/wan_t2v_A14B.py: high_noise_checkpoint,
 * low_noise_checkpoint). */
static void find_experts(ModelPaths *p, const char *dir, const char *const *config, const char *const *dit) {
    char *hi = path_join(dir, "high_noise_model"), *lo = path_join(dir, "low_noise_model");
    if (hi && lo && platform_is_dir(hi) && platform_is_dir(lo)) {
        p->config = find_first(hi, config);
        p->dit = find_first(hi, dit);
        p->config_low = find_first(lo, config);
        p->dit_low = find_first(lo, dit);
    }
    free(hi);
    free(lo);
}


static int find_files(ModelPaths *p, int *diffusers, const char *dir, const ModelOptions *o, int need,
                      T2vError *err) {
    static const char *const defaults[] = {"t2v.json", NULL};
    static const char *const index[] = {"model_index.json", NULL};
    memset(p, 0, sizeof *p);
    if (!platform_is_dir(dir))
        return t2v_fail(err, T2V_EINPUT, "%s: model directory not found (expected the Wan2.1 or diffusers layout, "
                        "see README)", dir);
    char *mi = find_first(dir, index);
    const LayoutFiles *L = mi ? &DIFFUSERS : &OFFICIAL;
    *diffusers = mi != NULL;
    free(mi);
    p->dir = path_join(dir, "");
    p->config = find_first(dir, L->config);
    p->dit = pick(dir, L->dit, o ? o->dit : NULL);
    p->t5 = pick(dir, L->t5, o ? o->t5 : NULL);
    p->vae = pick(dir, L->vae, o ? o->vae : NULL);
    p->tokenizer = find_first(dir, L->tok);
    p->defaults = find_first(dir, defaults);
    if (!p->config && !p->dit) find_experts(p, dir, L->config, L->dit);
    const struct { int bit; const char *have, *what; } req[] = {
        {MODEL_NEED_CONFIG, p->config || (o && o->dit) ? "" : NULL,
         *diffusers ? L->config[0] : "config.json (or high_noise_model/config.json)"},
        {MODEL_NEED_DIT, p->dit, *diffusers ? "transformer/diffusion_pytorch_model.safetensors (or its .index.json)"
                                            : "diffusion_pytorch_model.safetensors (or its .index.json, or .gguf)"},
        {MODEL_NEED_CONFIG, p->config_low || !p->dit_low ? "" : NULL, "low_noise_model/config.json"},
        {MODEL_NEED_DIT, p->dit_low || !p->config_low ? "" : NULL, "low_noise_model/'s DiT"},
        {MODEL_NEED_T5, p->t5, *diffusers ? "text_encoder/model.safetensors (or its .index.json)"
                                          : "models_t5_umt5-xxl-enc-bf16.pth (or .safetensors)"},
        {MODEL_NEED_VAE, p->vae, *diffusers ? "vae/diffusion_pytorch_model.safetensors"
                                            : "Wan2.1_VAE.pth or Wan2.2_VAE.pth (or .safetensors)"},
        {MODEL_NEED_TOKENIZER, p->tokenizer, L->tok[0]},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        if ((need & req[i].bit) && !req[i].have) {
            int rc = t2v_fail(err, T2V_EINPUT, "%s: model directory has no %s", dir, req[i].what);
            paths_free(p);
            return rc;
        }
    return T2V_OK;
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
 *            "context_window":..,"context_overlap":..,"context_schedule":"uniform",
 *            "causal_block":..,"causal_window":..,"causal_sink":..,
 *            "preview_factors":[51 numbers]} (every key optional). */
static int read_defaults_file(ModelDefaults *d, const char *path, T2vError *err) {
    JsonValue *j = read_json_file(path, err);
    if (!j) return err->code;
    int rc = j->type == JSON_OBJECT ? T2V_OK : t2v_fail(err, T2V_EINPUT, "%s: expected a JSON object", path);
    if (!rc) rc = json_int(j, "width", &d->width, 16, 1 << 14, path, err);
    if (!rc) rc = json_int(j, "height", &d->height, 16, 1 << 14, path, err);
    if (!rc) rc = json_int(j, "frames", &d->frames, 1, 1 << 12, path, err);
    if (!rc) rc = json_int(j, "steps", &d->steps, 1, 10000, path, err);
    if (!rc) rc = json_int(j, "fps", &d->fps, 1, 240, path, err);
    if (!rc) rc = json_int(j, "context_window", &d->context_window, 1, 1 << 12, path, err);
    if (!rc) rc = json_int(j, "context_overlap", &d->context_overlap, 0, 1 << 12, path, err);
    if (!rc) rc = json_int(j, "causal_block", &d->causal_block, 0, 1024, path, err);
    if (!rc) rc = json_int(j, "causal_window", &d->causal_window, 0, 1024, path, err);
    if (!rc) rc = json_int(j, "causal_sink", &d->causal_sink, 0, 1024, path, err);
    if (!rc) rc = json_num(j, "cfg", &d->cfg, path, err);
    if (!rc) rc = json_num(j, "shift", &d->shift, path, err);
    if (!rc) rc = json_num(j, "cfg_low", &d->cfg_low, path, err);
    if (!rc) rc = json_num(j, "boundary", &d->boundary, path, err);
    const JsonValue *s = json_get(j, "sampler");
    if (!rc && s) {
        if (s->type != JSON_STRING || s->len >= sizeof d->sampler)
            rc = t2v_fail(err, T2V_EINPUT, "%s: \"sampler\" must be \"unipc\" or \"euler\"", path);
        else strcpy(d->sampler, s->string);
    }
    const JsonValue *cs = json_get(j, "context_schedule");
    if (!rc && cs && (cs->type != JSON_STRING || window_schedule_parse(cs->string, &d->context_schedule)))
        rc = t2v_fail(err, T2V_EINPUT, "%s: \"context_schedule\" must be one of " WINDOW_SCHEDULE_NAMES, path);
    const JsonValue *n = json_get(j, "negative_prompt");
    if (!rc && n) {
        if (n->type != JSON_STRING) rc = t2v_fail(err, T2V_EINPUT, "%s: \"negative_prompt\" must be a string", path);
        else if ((d->negative_prompt = (char *)malloc(n->len + 1)) != NULL) memcpy(d->negative_prompt, n->string, n->len + 1);
    }
    const JsonValue *pf = json_get(j, "preview_factors");
    if (!rc && pf) { /* checked against the latent's channels by model_open */
        if (pf->type != JSON_ARRAY || pf->len < 6 || pf->len > sizeof d->preview_factors / sizeof(float) ||
            pf->len % 3)
            rc = t2v_fail(err, T2V_EINPUT, "%s: \"preview_factors\" must be 3 C + 3 numbers (C x 3, then 3 biases)",
                          path);
        for (size_t i = 0; !rc && i < pf->len; i++) {
            if (pf->items[i].type != JSON_NUMBER)
                rc = t2v_fail(err, T2V_EINPUT, "%s: \"preview_factors\" must be numbers", path);
            else d->preview_factors[i] = (float)pf->items[i].number;
        }
        if (!rc) d->n_preview_factors = (int)pf->len;
    }
    json_free(j);
    return rc;
}

void model_default_settings(ModelDefaults *d) {
    memset(d, 0, sizeof *d);
    /* Wan2.1 (docs/MODEL.md 1.3): 832x480 is supported by both T2V models. */
    d->width = 832;
    d->height = 480;
    d->frames = 81;
    d->context_window = 81; /* Wan2.1's training clips: 5 s at 16 fps */
    d->context_overlap = 16;
    d->context_schedule = WINDOW_UNIFORM;
    d->steps = 50;
    d->cfg = 5.0;
    d->shift = 5.0;
    d->fps = 16;
    strcpy(d->sampler, "unipc");
    d->cfg_low = d->cfg;
    d->boundary = 0.875;
}

const char *model_family_name(ModelFamily f) {
    return f == MODEL_WAN22_TI2V ? "Wan2.2 TI2V-5B (text- and image-to-video)"
         : f == MODEL_WAN22_A14B ? "Wan2.2 T2V-A14B (two experts)" : "Wan2.1 T2V";
}

void model_family_settings(ModelDefaults *d, ModelFamily f) {
    model_default_settings(d);
    if (f == MODEL_WAN22_TI2V) /* wan/configs/wan_ti2v_5B.py; generate.py's size 1280*704 */
        d->width = 1280, d->height = 704, d->frames = 121, d->fps = 24;
    if (f == MODEL_WAN22_A14B) { /* wan/configs/wan_t2v_A14B.py: guide (3.0 low, 4.0 high) */
        d->width = 1280, d->height = 720, d->steps = 40, d->shift = 12.0;
        d->cfg = 4.0, d->cfg_low = 3.0, d->boundary = 0.875;
    }
}



/* ----------------------------------------------------------------------------
 * config.json (the DiT's hyperparameters) */

static int json_pos_int(const JsonValue *j, const char *key, int *out, int required,
                        const char *path, T2vError *err) {
    const JsonValue *v = json_get(j, key);
    if (!v) {
        if (required) return t2v_fail(err, T2V_EINPUT, "%s: config key \"%s\" missing", path, key);
        return T2V_OK;
    }
    if (v->type != JSON_NUMBER || !v->is_integer || v->integer_overflow || v->integer < 1 ||
        v->integer > (1 << 20))
        return t2v_fail(err, T2V_EINPUT, "%s: config key \"%s\": expected an integer in 1..%d",
                        path, key, 1 << 20);
    *out = (int)v->integer;
    return T2V_OK;
}

int dit_config_from_json(DiTConfig *c, const JsonValue *j, const char *path, T2vError *err) {
    dit_default_config(c);
    if (!j || j->type != JSON_OBJECT)
        return t2v_fail(err, T2V_EINPUT, "%s: expected a JSON object", path);
    const JsonValue *v = json_get(j, "_class_name");
    if (v && (v->type != JSON_STRING || strcmp(v->string, "WanModel")))
        return t2v_fail(err, T2V_EINPUT, "%s: _class_name: expected \"WanModel\"", path);
    v = json_get(j, "model_type");
    /* "ti2v": Wan2.2 TI2V-5B, text- and image-to-video in one DiT (per-token time) */
    if (v && (v->type != JSON_STRING || (strcmp(v->string, "t2v") && strcmp(v->string, "ti2v"))))
        return t2v_fail(err, T2V_EINPUT, "%s: model_type: expected \"t2v\" or \"ti2v\", found %s", path,
                        v->type == JSON_STRING ? v->string : "a non-string");
    struct { const char *key; int *field; int required; } keys[] = {
        {"dim", &c->dim, 1},           {"ffn_dim", &c->ffn_dim, 1},
        {"num_heads", &c->num_heads, 1}, {"num_layers", &c->num_layers, 1},
        {"freq_dim", &c->freq_dim, 0}, {"in_dim", &c->in_dim, 0},
        {"out_dim", &c->out_dim, 0},   {"text_len", &c->text_len, 0},
        {"text_dim", &c->text_dim, 0},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int rc = json_pos_int(j, keys[i].key, keys[i].field, keys[i].required, path, err);
        if (rc) return rc;
    }
    v = json_get(j, "eps");
    if (v) {
        if (v->type != JSON_NUMBER)
            return t2v_fail(err, T2V_EINPUT, "%s: config key \"eps\": expected a number", path);
        c->eps = (float)v->number;
    }
    v = json_get(j, "patch_size");
    if (v) {
        int *p[3] = {&c->patch_t, &c->patch_h, &c->patch_w};
        if (v->type != JSON_ARRAY || v->len != 3)
            return t2v_fail(err, T2V_EINPUT, "%s: patch_size: expected an array of 3", path);
        for (int i = 0; i < 3; i++) {
            const JsonValue *e = &v->items[i];
            if (e->type != JSON_NUMBER || !e->is_integer || e->integer < 1 || e->integer > 64)
                return t2v_fail(err, T2V_EINPUT, "%s: patch_size[%d]: expected 1..64", path, i);
            *p[i] = (int)e->integer;
        }
    }
    return dit_check_config(c, path, err);
}

int dit_config_read(DiTConfig *c, const char *path, T2vError *err) {
    JsonValue *j = read_json_file(path, err);
    if (!j) return err->code;
    int rc = dit_config_from_json(c, j, path, err);
    json_free(j);
    return rc;
}

/* ----------------------------------------------------------------------------
 * The Model */

/* The VAE's config comes from its tensor names and shapes (headers only). */
static int read_vae_config(VaeConfig *c, const char *path, T2vError *err) {
    Checkpoint ck;
    int rc = ckpt_open_as(&ck, path, ROLE_VAE, err);
    if (rc) return rc;
    rc = vae_config_from_tensors(c, ck.tensors, err);
    ckpt_close(&ck);
    return rc;
}

/* The latent preview's colours: t2v.json's, else the VAE's built-in ones. */
static int read_preview(Model *m, T2vError *err) {
    const ModelDefaults *d = &m->defaults;
    const VaePreview *def = vae_preview_default(&m->vae);
    T2vError e = {0, {0}};
    if (d->n_preview_factors &&
        vae_preview_from_list(&m->preview, m->vae.z_dim, d->preview_factors, d->n_preview_factors, &e))
        return t2v_fail(err, T2V_EINPUT, "%s: %s", m->paths.defaults, e.msg);
    if (!d->n_preview_factors && def) m->preview = *def;
    m->has_preview = d->n_preview_factors || def;
    return T2V_OK;
}

/* The DiT config: a --dit file's from its shapes (the directory's config,
 * when there is one, supplies heads and text_len), else config.json in the
 * layout's form. */
static int read_dit_config(Model *m, const ModelOptions *o, T2vError *err) {
    DiTConfig hint;
    int have_hint = 0, rc = T2V_OK;
    if (m->paths.config) {
        JsonValue *j = read_json_file(m->paths.config, err);
        if (!j) return err->code;
        rc = m->diffusers ? dit_config_from_diffusers(&hint, j, m->paths.config, err)
                          : dit_config_from_json(&hint, j, m->paths.config, err);
        json_free(j);
        have_hint = !rc;
    }
    if (!rc && o && o->dit) {
        Checkpoint ck;
        if ((rc = ckpt_open_as(&ck, o->dit, ROLE_DIT, err))) return rc;
        rc = dit_config_from_tensors(&m->dit, ck.tensors, have_hint ? &hint : NULL, o->dit, err);
        ckpt_close(&ck);
    } else if (!rc && have_hint) {
        m->dit = hint;
    }
    if (!rc && (have_hint || (o && o->dit))) m->has_dit = 1;
    return rc;
}

static int copy_lora(Model *m, const ModelOptions *o, T2vError *err) {
    if (!o || o->n_lora <= 0) return T2V_OK;
    m->lora = (LoraFile *)t2v_calloc((size_t)o->n_lora, sizeof *m->lora, "LoRA list", err);
    if (!m->lora) return T2V_ERESOURCE;
    m->n_lora = o->n_lora;
    m->lora_ignore_unknown = o->lora_ignore_unknown;
    for (int i = 0; i < o->n_lora; i++) m->lora[i] = o->lora[i];
    return T2V_OK;
}

int model_open_with(Model *m, const char *dir, const ModelOptions *o, int need, T2vError *err) {
    memset(m, 0, sizeof *m);
    int rc = find_files(&m->paths, &m->diffusers, dir, o, need, err);
    if (!rc) rc = read_dit_config(m, o, err);
    if (!rc && m->paths.config_low) rc = dit_config_read(&m->dit_low, m->paths.config_low, err);
    if (!rc && m->paths.vae && (need & MODEL_NEED_VAE) && !(rc = read_vae_config(&m->vae, m->paths.vae, err)))
        m->has_vae = 1;
    /* the family from the files: two experts; a 48-channel latent (Wan2.2_VAE) */
    m->family = m->paths.config_low ? MODEL_WAN22_A14B
              : (m->has_dit && m->dit.in_dim == 48) || (m->has_vae && m->vae.grouped) ? MODEL_WAN22_TI2V
              : MODEL_WAN21;
    model_family_settings(&m->defaults, m->family);
    if (!rc && m->paths.defaults) rc = read_defaults_file(&m->defaults, m->paths.defaults, err);
    if (!rc && m->has_vae) rc = read_preview(m, err);
    if (!rc) rc = copy_lora(m, o, err);
    if (rc) model_close(m);
    return rc;
}

int model_open(Model *m, const char *dir, int need, T2vError *err) {
    return model_open_with(m, dir, NULL, need, err);
}

void model_close(Model *m) {
    paths_free(&m->paths);
    free(m->lora);
    free(m->defaults.negative_prompt);
    memset(m, 0, sizeof *m);
}

int model_load_dit(const Model *m, Checkpoint *ck, DiT *dit, T2vError *err) {
    if (!m->has_dit) return t2v_fail(err, T2V_EINPUT, "%s: model directory has no config.json", m->paths.dir);
    if (!m->paths.dit) return t2v_fail(err, T2V_EINPUT, "%s: model directory has no DiT checkpoint", m->paths.dir);
    int rc = ckpt_open_as(ck, m->paths.dit, ROLE_DIT, err);
    if (!rc && m->n_lora && (rc = lora_apply(&ck->mapped, &ck->lora, m->lora, m->n_lora, m->lora_ignore_unknown, err)))
        ckpt_close(ck);
    else if (!rc && (rc = dit_build(dit, &m->dit, ck->tensors, err))) ckpt_close(ck);
    return rc;
}

int model_load_dit_low(const Model *m, Checkpoint *ck, DiT *dit, T2vError *err) {
    if (!m->paths.dit_low || !m->paths.config_low)
        return t2v_fail(err, T2V_EINPUT, "%s: no low_noise_model/ (config.json and DiT)", m->paths.dir);
    int rc = ckpt_open(ck, m->paths.dit_low, err);
    if (!rc && (rc = dit_build(dit, &m->dit_low, ck->tensors, err))) ckpt_close(ck);
    return rc;
}

int model_load_t5(const Model *m, Checkpoint *ck, T5 *t5, T2vError *err) {
    if (!m->paths.t5) return t2v_fail(err, T2V_EINPUT, "%s: model directory has no umT5 checkpoint", m->paths.dir);
    int rc = ckpt_open_as(ck, m->paths.t5, ROLE_T5, err);
    if (!rc && (rc = t5_build(t5, ck->tensors, err))) ckpt_close(ck);
    return rc;
}

int model_load_vae(const Model *m, Checkpoint *ck, Vae *vae, T2vError *err) {
    if (!m->paths.vae) return t2v_fail(err, T2V_EINPUT, "%s: model directory has no VAE checkpoint", m->paths.dir);
    int rc = ckpt_open_as(ck, m->paths.vae, ROLE_VAE, err);
    if (!rc && (rc = vae_build(vae, ck->tensors, err))) ckpt_close(ck);
    return rc;
}

int model_load_tokenizer(const Model *m, Tokenizer *tk, T2vError *err) {
    if (!m->paths.tokenizer)
        return t2v_fail(err, T2V_EINPUT, "%s: model directory has no %s", m->paths.dir,
                        m->diffusers ? "tokenizer/spiece.model" : "google/umt5-xxl/spiece.model");
    return tokenizer_load(tk, m->paths.tokenizer, err);
}
