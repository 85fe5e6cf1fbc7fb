/* model.c: see model.h. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    } else {
        rc = st_open_any(&c->st, path, err);
        c->tensors = &c->st.tensors;
    }
    if (rc) memset(c, 0, sizeof *c);
    return rc;
}

void ckpt_close(Checkpoint *c) {
    if (c->is_pth) pth_close(&c->pth);
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
    memset(p, 0, sizeof *p);
}

static int find_files(ModelPaths *p, const char *dir, int need, T2vError *err) {
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
 *            "context_window":..,"context_overlap":..,
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
    d->steps = 50;
    d->cfg = 5.0;
    d->shift = 5.0;
    d->fps = 16;
    strcpy(d->sampler, "unipc");
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
    if (v && (v->type != JSON_STRING || strcmp(v->string, "t2v")))
        return t2v_fail(err, T2V_EINPUT, "%s: model_type: expected \"t2v\", found %s", path,
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
    int rc = ckpt_open(&ck, path, err);
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

int model_open(Model *m, const char *dir, int need, T2vError *err) {
    memset(m, 0, sizeof *m);
    int rc = find_files(&m->paths, dir, need, err);
    model_default_settings(&m->defaults);
    if (!rc && m->paths.defaults) rc = read_defaults_file(&m->defaults, m->paths.defaults, err);
    if (!rc && m->paths.config && !(rc = dit_config_read(&m->dit, m->paths.config, err))) m->has_dit = 1;
    if (!rc && m->paths.vae && (need & MODEL_NEED_VAE) && !(rc = read_vae_config(&m->vae, m->paths.vae, err)))
        m->has_vae = 1;
    if (!rc && m->has_vae) rc = read_preview(m, err);
    if (rc) model_close(m);
    return rc;
}

void model_close(Model *m) {
    paths_free(&m->paths);
    free(m->defaults.negative_prompt);
    memset(m, 0, sizeof *m);
}

int model_load_dit(const Model *m, Checkpoint *ck, DiT *dit, T2vError *err) {
    if (!m->has_dit) return t2v_fail(err, T2V_EINPUT, "%s: model directory has no config.json", m->paths.dir);
    if (!m->paths.dit) return t2v_fail(err, T2V_EINPUT, "%s: model directory has no DiT checkpoint", m->paths.dir);
    int rc = ckpt_open(ck, m->paths.dit, err);
    if (!rc && (rc = dit_build(dit, &m->dit, ck->tensors, err))) ckpt_close(ck);
    return rc;
}

int model_load_t5(const Model *m, Checkpoint *ck, T5 *t5, T2vError *err) {
    if (!m->paths.t5) return t2v_fail(err, T2V_EINPUT, "%s: model directory has no umT5 checkpoint", m->paths.dir);
    int rc = ckpt_open(ck, m->paths.t5, err);
    if (!rc && (rc = t5_build(t5, ck->tensors, err))) ckpt_close(ck);
    return rc;
}

int model_load_vae(const Model *m, Checkpoint *ck, Vae *vae, T2vError *err) {
    if (!m->paths.vae) return t2v_fail(err, T2V_EINPUT, "%s: model directory has no VAE checkpoint", m->paths.dir);
    int rc = ckpt_open(ck, m->paths.vae, err);
    if (!rc && (rc = vae_build(vae, ck->tensors, err))) ckpt_close(ck);
    return rc;
}

int model_load_tokenizer(const Model *m, Tokenizer *tk, T2vError *err) {
    if (!m->paths.tokenizer)
        return t2v_fail(err, T2V_EINPUT, "%s: model directory has no google/umt5-xxl/spiece.model", m->paths.dir);
    return tokenizer_load(tk, m->paths.tokenizer, err);
}
