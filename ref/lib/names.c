/* names.c: see names.h. */
#include "names.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *role_name(WeightRole r) { return r == ROLE_DIT ? "DiT" : r == ROLE_T5 ? "umT5" : "VAE"; }

/* ===========================================================================
 * The tables. One row: a diffusers (or Hugging Face) name fragment and the
 * official one, matched at '.' boundaries. */
typedef struct {
    const char *other, *official;
} NameRow;

/* DiT, inside "blocks.N." (diffusers WanTransformer3DModel). The official
 * block calls its norms norm1, norm3 (the cross-attention's, affine), norm2;
 * diffusers numbers them in call order, so its norm2 is the official norm3. */
static const NameRow DIT_BLOCK_ROWS[] = {
    {"attn1.to_q", "self_attn.q"},       {"attn1.to_k", "self_attn.k"},
    {"attn1.to_v", "self_attn.v"},       {"attn1.to_out.0", "self_attn.o"},
    {"attn1.norm_q", "self_attn.norm_q"}, {"attn1.norm_k", "self_attn.norm_k"},
    {"attn2.to_q", "cross_attn.q"},      {"attn2.to_k", "cross_attn.k"},
    {"attn2.to_v", "cross_attn.v"},      {"attn2.to_out.0", "cross_attn.o"},
    {"attn2.norm_q", "cross_attn.norm_q"}, {"attn2.norm_k", "cross_attn.norm_k"},
    {"attn2.add_k_proj", "cross_attn.k_img"}, {"attn2.add_v_proj", "cross_attn.v_img"},
    {"attn2.norm_added_k", "cross_attn.norm_k_img"},
    {"norm2", "norm3"},                  {"ffn.net.0.proj", "ffn.0"},
    {"ffn.net.2", "ffn.2"},              {"scale_shift_table", "modulation"},
};
/* DiT, outside the blocks. */
static const NameRow DIT_TOP_ROWS[] = {
    {"condition_embedder.time_embedder.linear_1", "time_embedding.0"},
    {"condition_embedder.time_embedder.linear_2", "time_embedding.2"},
    {"condition_embedder.text_embedder.linear_1", "text_embedding.0"},
    {"condition_embedder.text_embedder.linear_2", "text_embedding.2"},
    {"condition_embedder.time_proj", "time_projection.1"},
    {"scale_shift_table", "head.modulation"},
    {"proj_out", "head.head"},
};
/* DiT prefixes: ComfyUI, LoRA/ComfyUI, CausVid/Self-Forcing .pt, rCM. */
static const char *const DIT_PREFIXES[] = {"model.diffusion_model.", "diffusion_model.", "model.", "net.", NULL};

/* umT5 inside "encoder.block.N.layer.M." (Hugging Face UMT5EncoderModel):
 * layer 0 is attention, layer 1 the gated-GELU feed-forward (wi_0 gate,
 * wi_1 up, wo down), as the official T5FeedForward's gate.0, fc1, fc2. */
static const NameRow T5_LAYER_ROWS[] = {
    {"0.SelfAttention.q", "attn.q"}, {"0.SelfAttention.k", "attn.k"},
    {"0.SelfAttention.v", "attn.v"}, {"0.SelfAttention.o", "attn.o"},
    {"0.SelfAttention.relative_attention_bias", "pos_embedding.embedding"},
    {"0.layer_norm", "norm1"},       {"1.layer_norm", "norm2"},
    {"1.DenseReluDense.wi_0", "ffn.gate.0"}, {"1.DenseReluDense.wi_1", "ffn.fc1"},
    {"1.DenseReluDense.wo", "ffn.fc2"},
};
static const NameRow T5_TOP_ROWS[] = {
    {"shared", "token_embedding"},
    {"encoder.embed_tokens", "token_embedding"},
    {"encoder.final_layer_norm", "norm"},
};

/* VAE (diffusers AutoencoderKLWan), whole prefixes of encoder. / decoder. */
static const NameRow VAE_ENDS_ROWS[] = {
    {"conv_in", "conv1"}, {"norm_out", "head.0"}, {"conv_out", "head.2"},
    {"mid_block.resnets.0", "middle.0"}, {"mid_block.attentions.0", "middle.1"},
    {"mid_block.resnets.1", "middle.2"},
};
static const NameRow VAE_TOP_ROWS[] = {{"quant_conv", "conv1"}, {"post_quant_conv", "conv2"}};
/* Inside a residual block. */
static const NameRow VAE_RES_ROWS[] = {
    {"norm1", "residual.0"}, {"conv1", "residual.2"}, {"norm2", "residual.3"},
    {"conv2", "residual.6"}, {"conv_shortcut", "shortcut"},
};

#define NROWS(t) (sizeof(t) / sizeof((t)[0]))

/* Whether s starts with the fragment f at a '.' boundary; returns the rest
 * (after the '.', or "" at the end), else NULL. */
static const char *frag(const char *s, const char *f) {
    size_t n = strlen(f);
    if (strncmp(s, f, n)) return NULL;
    if (s[n] == 0) return s + n;
    return s[n] == '.' ? s + n + 1 : NULL;
}

/* out <- head + mapped(rest) using rows: the length written (snprintf's,
 * so >= n when cut), or -1 when no row matched. */
static int apply_rows(char *out, size_t n, const char *head, const char *rest, const NameRow *rows,
                      size_t nrows) {
    for (size_t i = 0; i < nrows; i++) {
        const char *tail = frag(rest, rows[i].other);
        if (tail) return snprintf(out, n, "%s%s%s%s", head, rows[i].official, *tail ? "." : "", tail);
    }
    return -1;
}

/* ===========================================================================
 * DiT */

const char *names_dit_prefix(const char *name) {
    for (int i = 0; DIT_PREFIXES[i]; i++)
        if (!strncmp(name, DIT_PREFIXES[i], strlen(DIT_PREFIXES[i]))) return DIT_PREFIXES[i];
    return "";
}

int names_dit_official(char *out, size_t n, const char *name) {
    const char *s = name + strlen(names_dit_prefix(name));
    char head[32];
    int blk, len = 0, w;
    if (sscanf(s, "blocks.%d.%n", &blk, &len) == 1 && len > 0 && blk >= 0) {
        snprintf(head, sizeof head, "blocks.%d.", blk);
        w = apply_rows(out, n, head, s + len, DIT_BLOCK_ROWS, NROWS(DIT_BLOCK_ROWS));
    } else {
        w = apply_rows(out, n, "", s, DIT_TOP_ROWS, NROWS(DIT_TOP_ROWS));
    }
    if (w < 0) w = snprintf(out, n, "%s", s);
    return (size_t)w < n ? 0 : -1;
}

/* Whether the (prefix-stripped) names are diffusers ones. */
static int dit_is_diffusers(const TensorList *in) {
    for (int i = 0; i < in->n; i++) {
        const char *s = in->names[i] + strlen(names_dit_prefix(in->names[i]));
        if (!strncmp(s, "condition_embedder.", 19) || strstr(s, ".attn1.") || !strcmp(s, "proj_out.weight"))
            return 1;
    }
    return 0;
}

/* ===========================================================================
 * umT5 */

static void t5_official(char *out, size_t n, const char *name) {
    int blk, layer, len = 0;
    char head[32];
    if (sscanf(name, "encoder.block.%d.layer.%d.%n", &blk, &layer, &len) == 2 && len > 0) {
        char rest[256];
        snprintf(rest, sizeof rest, "%d.%s", layer, name + len);
        snprintf(head, sizeof head, "blocks.%d.", blk);
        if (apply_rows(out, n, head, rest, T5_LAYER_ROWS, NROWS(T5_LAYER_ROWS)) >= 0) return;
    } else if (apply_rows(out, n, "", name, T5_TOP_ROWS, NROWS(T5_TOP_ROWS)) >= 0) {
        return;
    }
    snprintf(out, n, "%s", name);
}

static int t5_is_hf(const TensorList *in) {
    for (int i = 0; i < in->n; i++)
        if (!strncmp(in->names[i], "encoder.block.", 14) || !strcmp(in->names[i], "shared.weight")) return 1;
    return 0;
}

/* ===========================================================================
 * VAE */

/* Residual blocks per decoder stage ("decoder.up_blocks.0.resnets.R"). */
static int vae_stage_resnets(const TensorList *in) {
    int n = 0;
    for (int i = 0; i < in->n; i++) {
        int s, r, len = 0;
        if (sscanf(in->names[i], "decoder.up_blocks.%d.resnets.%d.%n", &s, &r, &len) == 2 && len > 0 && r + 1 > n)
            n = r + 1;
    }
    return n;
}

/* rest inside a residual block: its sub-names mapped. */
static void vae_res(char *out, size_t n, const char *head, const char *rest) {
    if (apply_rows(out, n, head, rest, VAE_RES_ROWS, NROWS(VAE_RES_ROWS)) < 0) snprintf(out, n, "%s%s", head, rest);
}

static void vae_official(char *out, size_t n, const char *name, int nres) {
    char head[64], tmp[256];
    int k, r, len = 0;
    const char *part = !strncmp(name, "encoder.", 8) ? "encoder." : !strncmp(name, "decoder.", 8) ? "decoder." : NULL;
    if (!part) {
        if (apply_rows(out, n, "", name, VAE_TOP_ROWS, NROWS(VAE_TOP_ROWS)) < 0) snprintf(out, n, "%s", name);
        return;
    }
    const char *s = name + 8;
    if (sscanf(s, "down_blocks.%d.%n", &k, &len) == 1 && len > 0) {
        snprintf(head, sizeof head, "encoder.downsamples.%d.", k);
        vae_res(out, n, head, s + len);
    } else if (sscanf(s, "up_blocks.%d.resnets.%d.%n", &k, &r, &len) == 2 && len > 0) {
        snprintf(head, sizeof head, "decoder.upsamples.%d.", k * (nres + 1) + r);
        vae_res(out, n, head, s + len);
    } else if (sscanf(s, "up_blocks.%d.upsamplers.0.%n", &k, &len) == 1 && len > 0) {
        snprintf(out, n, "decoder.upsamples.%d.%s", k * (nres + 1) + nres, s + len);
    } else if (apply_rows(tmp, sizeof tmp, part, s, VAE_ENDS_ROWS, NROWS(VAE_ENDS_ROWS)) >= 0) {
        /* a middle residual block also renames its inside */
        const char *m = strstr(tmp, ".middle.");
        if (m && (m[8] == '0' || m[8] == '2') && m[9] == '.') {
            snprintf(head, sizeof head, "%.*s", (int)(m + 10 - tmp), tmp);
            vae_res(out, n, head, m + 10);
        } else {
            snprintf(out, n, "%s", tmp);
        }
    } else {
        snprintf(out, n, "%s", name);
    }
}

static int vae_is_diffusers(const TensorList *in) {
    for (int i = 0; i < in->n; i++)
        if (strstr(in->names[i], "mid_block.") || !strncmp(in->names[i], "quant_conv.", 11)) return 1;
    return 0;
}

/* ===========================================================================
 * Scales, fp8 checks, the whole list */

static int ends_with(const char *s, const char *t) {
    size_t a = strlen(s), b = strlen(t);
    return a >= b && !strcmp(s + a - b, t);
}

/* ComfyUI's "X.scale_weight" onto "X.weight" of out (already mapped). */
static int attach_scale(TensorList *out, const char *official_w, const Tensor *s, const char *path,
                        const char *sname, T2vError *err) {
    float v;
    if (tensor_numel(s) != 1 || !dtype_is_float(s->dtype) || s->ndim > 1)
        return t2v_fail(err, T2V_EINPUT, "%s: tensor '%s': a scale must be one float (a 0-d F32), found %s of %lld",
                        path, sname, dtype_name(s->dtype), (long long)tensor_numel(s));
    widen_to_f32(&v, s->data, s->dtype, 1);
    if (!isfinite(v) || v == 0.0f)
        return t2v_fail(err, T2V_EINPUT, "%s: tensor '%s': scale %g is not a finite non-zero number", path, sname,
                        (double)v);
    for (int i = 0; i < out->n; i++)
        if (!strcmp(out->names[i], official_w)) {
            if (out->tensors[i].dtype != DT_F8_E4M3)
                return t2v_fail(err, T2V_EINPUT, "%s: tensor '%s' scales '%s', which is %s, not F8_E4M3", path,
                                sname, official_w, dtype_name(out->tensors[i].dtype));
            out->tensors[i].scale = v;
            return T2V_OK;
        }
    return t2v_fail(err, T2V_EINPUT, "%s: tensor '%s' scales a weight the file does not have ('%s')", path, sname,
                    official_w);
}

static int check_fp8(const Tensor *t, const char *path, const char *name, T2vError *err) {
    const unsigned char *b = (const unsigned char *)t->data;
    int64_t n = tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        if ((b[i] & 0x7f) == 0x7f)
            return t2v_fail(err, T2V_EINPUT, "%s: tensor '%s': element %lld is a float8 e4m3fn NaN (0x%02x); "
                            "weights must be finite", path, name, (long long)i, b[i]);
    return T2V_OK;
}

/* rCM's Linear patch embedding [dim, in*pt*ph*pw] as the Conv3d [dim, in, 1, 2, 2]
 * it is (columns in (c, kt, kh, kw) order: the same bytes). */
static void conv_from_linear(Tensor *t) {
    if (t->ndim != 2 || t->shape[1] % 4) return;
    int64_t dim = t->shape[0], in = t->shape[1] / 4;
    t->ndim = 5;
    t->shape[0] = dim, t->shape[1] = in, t->shape[2] = 1, t->shape[3] = 2, t->shape[4] = 2;
}

typedef enum { MAP_NONE, MAP_DIT_DIFFUSERS, MAP_T5_HF, MAP_VAE_DIFFUSERS } MapKind;

static void map_name(char *out, size_t n, const char *name, WeightRole role, MapKind kind, int nres) {
    if (role == ROLE_DIT) names_dit_official(out, n, name);
    else if (kind == MAP_T5_HF) t5_official(out, n, name);
    else if (kind == MAP_VAE_DIFFUSERS) vae_official(out, n, name, nres);
    else snprintf(out, n, "%s", name);
}

static void describe(char *conv, size_t len, const TensorList *in, WeightRole role, MapKind kind) {
    const char *pre = "";
    for (int i = 0; role == ROLE_DIT && i < in->n && !*pre; i++) pre = names_dit_prefix(in->names[i]);
    const char *base = kind == MAP_DIT_DIFFUSERS ? "diffusers" : kind == MAP_T5_HF ? "Hugging Face (UMT5EncoderModel)"
                       : kind == MAP_VAE_DIFFUSERS ? "diffusers (AutoencoderKLWan)" : "official";
    int fp8 = 0, scaled = 0;
    for (int i = 0; i < in->n; i++) {
        fp8 |= in->tensors[i].dtype == DT_F8_E4M3;
        scaled |= ends_with(in->names[i], ".scale_weight");
    }
    snprintf(conv, len, "%s%s%s%s%s", base, *pre ? ", prefix " : "", pre,
             scaled ? ", fp8 e4m3fn with per-tensor scales" : fp8 ? ", fp8 e4m3fn" : "",
             !strcmp(pre, "net.") ? " (rCM)" : !strcmp(pre, "model.") ? " (distilled .pt)" : "");
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Two names mapped onto one (both "shared" and "encoder.embed_tokens" are
 * the same tied matrix: the second is dropped before this check). */
static int check_unique(const TensorList *out, const char *path, T2vError *err) {
    const char **v = (const char **)t2v_calloc((size_t)out->n + 1, sizeof *v, "names", err);
    if (!v) return T2V_ERESOURCE;
    for (int i = 0; i < out->n; i++) v[i] = out->names[i];
    qsort(v, (size_t)out->n, sizeof *v, cmp_names);
    int rc = T2V_OK;
    for (int i = 1; i < out->n && !rc; i++)
        if (!strcmp(v[i - 1], v[i]))
            rc = t2v_fail(err, T2V_EINPUT, "%s: two tensors map onto the official name '%s'", path, v[i]);
    free(v);
    return rc;
}

int names_to_official(TensorList *out, const TensorList *in, WeightRole role, const char *path, char *conv,
                      size_t convlen, T2vError *err) {
    memset(out, 0, sizeof *out);
    MapKind kind = role == ROLE_DIT ? (dit_is_diffusers(in) ? MAP_DIT_DIFFUSERS : MAP_NONE)
                   : role == ROLE_T5 ? (t5_is_hf(in) ? MAP_T5_HF : MAP_NONE)
                   : (vae_is_diffusers(in) ? MAP_VAE_DIFFUSERS : MAP_NONE);
    int nres = kind == MAP_VAE_DIFFUSERS ? vae_stage_resnets(in) : 0;
    int have_shared = role == ROLE_T5 && tl_find(in, "shared.weight") != NULL;
    if (conv) describe(conv, convlen, in, role, kind);
    char name[320];
    int rc = T2V_OK;
    for (int i = 0; i < in->n && !rc; i++) { /* the tensors, scales aside */
        const char *s = in->names[i];
        if (ends_with(s, "scaled_fp8") || ends_with(s, ".scale_weight") || ends_with(s, ".scale_input")) continue;
        if (have_shared && !strcmp(s, "encoder.embed_tokens.weight")) continue;
        map_name(name, sizeof name, s, role, kind, nres);
        Tensor t = in->tensors[i];
        t.owned = 0; /* a view: `in` keeps ownership */
        if (role == ROLE_DIT && !strcmp(name, "patch_embedding.weight")) conv_from_linear(&t);
        if (t.dtype == DT_F8_E4M3) rc = check_fp8(&t, path, s, err);
        if (!rc) rc = tl_add(out, name, &t, in->source ? in->source[i] : path, err);
    }
    for (int i = 0; i < in->n && !rc; i++) { /* then the scales onto their weights */
        const char *s = in->names[i];
        if (!ends_with(s, ".scale_weight")) continue;
        char w[320];
        snprintf(w, sizeof w, "%.*sweight", (int)(strlen(s) - strlen("scale_weight")), s);
        map_name(name, sizeof name, w, role, kind, nres);
        rc = attach_scale(out, name, &in->tensors[i], path, s, err);
    }
    if (!rc) rc = check_unique(out, path, err);
    if (rc) tl_free(out);
    return rc;
}

int names_guess_role(const TensorList *tl, WeightRole *role) {
    for (int i = 0; i < tl->n; i++) {
        const char *s = tl->names[i] + strlen(names_dit_prefix(tl->names[i]));
        if (!strncmp(s, "patch_embedding.", 16) || !strncmp(s, "condition_embedder.", 19) ||
            (!strncmp(s, "blocks.", 7) && (strstr(s, ".self_attn.") || strstr(s, ".attn1.")))) {
            *role = ROLE_DIT;
            return 1;
        }
        if (!strcmp(s, "token_embedding.weight") || !strcmp(s, "shared.weight") || !strncmp(s, "encoder.block.", 14) ||
            (!strncmp(s, "blocks.", 7) && strstr(s, ".attn.q."))) {
            *role = ROLE_T5;
            return 1;
        }
        if (!strncmp(s, "decoder.", 8) || !strncmp(s, "encoder.downsamples.", 20) || !strncmp(s, "encoder.down_blocks.", 20)) {
            *role = ROLE_VAE;
            return 1;
        }
    }
    return 0;
}

/* ===========================================================================
 * DiT configs */

static int jint(const JsonValue *j, const char *key, int *out, const char *path, T2vError *err) {
    const JsonValue *v = json_get(j, key);
    if (!v || v->type == JSON_NULL) return T2V_OK;
    if (v->type != JSON_NUMBER || !v->is_integer || v->integer < 1 || v->integer > (1 << 20))
        return t2v_fail(err, T2V_EINPUT, "%s: config key \"%s\": expected an integer in 1..%d", path, key, 1 << 20);
    *out = (int)v->integer;
    return T2V_OK;
}

int dit_config_from_diffusers(DiTConfig *c, const JsonValue *j, const char *path, T2vError *err) {
    dit_default_config(c);
    if (!j || j->type != JSON_OBJECT) return t2v_fail(err, T2V_EINPUT, "%s: expected a JSON object", path);
    const JsonValue *v = json_get(j, "_class_name");
    if (!v || v->type != JSON_STRING || strcmp(v->string, "WanTransformer3DModel"))
        return t2v_fail(err, T2V_EINPUT, "%s: _class_name: expected \"WanTransformer3DModel\"", path);
    const char *i2v[] = {"image_dim", "added_kv_proj_dim"};
    for (int k = 0; k < 2; k++)
        if ((v = json_get(j, i2v[k])) && v->type != JSON_NULL)
            return t2v_fail(err, T2V_EINPUT, "%s: \"%s\" is set: an image-to-video model, which t2v does not run",
                            path, i2v[k]);
    if ((v = json_get(j, "qk_norm")) && !(v->type == JSON_STRING && !strcmp(v->string, "rms_norm_across_heads")))
        return t2v_fail(err, T2V_EINPUT, "%s: \"qk_norm\": Wan2.1 uses \"rms_norm_across_heads\"", path);
    if ((v = json_get(j, "cross_attn_norm")) && !(v->type == JSON_BOOL && v->boolean))
        return t2v_fail(err, T2V_EINPUT, "%s: \"cross_attn_norm\": Wan2.1 has the affine cross-attention norm (true)",
                        path);
    int heads = c->num_heads, head_dim = c->dim / c->num_heads, rc = T2V_OK;
    struct { const char *key; int *field; } keys[] = {
        {"num_attention_heads", &heads}, {"attention_head_dim", &head_dim}, {"ffn_dim", &c->ffn_dim},
        {"num_layers", &c->num_layers},  {"freq_dim", &c->freq_dim},         {"in_channels", &c->in_dim},
        {"out_channels", &c->out_dim},   {"text_dim", &c->text_dim},         {"text_len", &c->text_len},
    };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0] && !rc; k++) rc = jint(j, keys[k].key, keys[k].field, path, err);
    if (rc) return rc;
    c->num_heads = heads;
    c->dim = heads * head_dim;
    if ((v = json_get(j, "eps"))) {
        if (v->type != JSON_NUMBER) return t2v_fail(err, T2V_EINPUT, "%s: \"eps\": expected a number", path);
        c->eps = (float)v->number;
    }
    if ((v = json_get(j, "patch_size"))) {
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

static const Tensor *need(const TensorList *w, const char *name, int ndim, const char *path, T2vError *err) {
    const Tensor *t = tl_find(w, name);
    if (!t || t->ndim != ndim) {
        t2v_fail(err, T2V_EINPUT, "%s: tensor '%s' %s (needed to infer the DiT config: no config.json)", path,
                 name, t ? "has the wrong rank" : "is missing");
        return NULL;
    }
    return t;
}

int dit_config_from_tensors(DiTConfig *c, const TensorList *w, const DiTConfig *hint, const char *path,
                            T2vError *err) {
    dit_default_config(c);
    const Tensor *pe = need(w, "patch_embedding.weight", 5, path, err);
    const Tensor *te = pe ? need(w, "text_embedding.0.weight", 2, path, err) : NULL;
    const Tensor *tm = te ? need(w, "time_embedding.0.weight", 2, path, err) : NULL;
    const Tensor *f0 = tm ? need(w, "blocks.0.ffn.0.weight", 2, path, err) : NULL;
    const Tensor *hd = f0 ? need(w, "head.head.weight", 2, path, err) : NULL;
    if (!hd) return T2V_EINPUT;
    c->dim = (int)pe->shape[0];
    c->in_dim = (int)pe->shape[1];
    c->patch_t = (int)pe->shape[2], c->patch_h = (int)pe->shape[3], c->patch_w = (int)pe->shape[4];
    c->text_dim = (int)te->shape[1];
    c->freq_dim = (int)tm->shape[1];
    c->ffn_dim = (int)f0->shape[0];
    int64_t patch = (int64_t)c->patch_t * c->patch_h * c->patch_w;
    c->out_dim = (int)(hd->shape[0] / patch);
    c->num_layers = 0;
    while (c->num_layers < (1 << 16) && tl_findf(w, "blocks.%d.ffn.0.weight", c->num_layers)) c->num_layers++;
    if (hint && hint->dim == c->dim) {
        c->num_heads = hint->num_heads;
        c->text_len = hint->text_len;
        c->eps = hint->eps;
    } else {
        c->num_heads = c->dim % 128 == 0 ? c->dim / 128 : 1;
    }
    return dit_check_config(c, path, err);
}
