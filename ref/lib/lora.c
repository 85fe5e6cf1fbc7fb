/* lora.c: see lora.h. */
#include "lora.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "names.h"

const char *lora_convention_name(LoraConvention c) {
    return c == LORA_DIFFUSERS ? "diffusers/PEFT" : c == LORA_KOHYA ? "kohya" : "original/ComfyUI";
}

/* ===========================================================================
 * Keys */

static const struct {
    const char *suffix;
    LoraPart part;
} SUFFIXES[] = {
    {".lora_down.weight", LORA_DOWN}, {".lora_up.weight", LORA_UP}, {".lora_A.weight", LORA_DOWN},
    {".lora_B.weight", LORA_UP},      {".lora_B.bias", LORA_BIAS},  {".alpha", LORA_ALPHA},
    {".diff_b", LORA_DIFF_B},         {".diff", LORA_DIFF},
};

/* Whether the model has the tensor the part of module changes. */
static const Tensor *lora_target(const TensorList *model, const char *module, LoraPart part, char *name, size_t n) {
    int bias = part == LORA_DIFF_B || part == LORA_BIAS;
    snprintf(name, n, "%s.%s", module, bias ? "bias" : "weight");
    const Tensor *t = tl_find(model, name);
    if (!t && part == LORA_DIFF) { /* a parameter: blocks.N.modulation, head.modulation */
        snprintf(name, n, "%s", module);
        t = tl_find(model, name);
    }
    return t;
}

/* kohya: "blocks_0_self_attn_q" is the module whose name with '.' -> '_'
 * equals it (the model's own names, so "self_attn" keeps its underscore). */
static int kohya_module(const char *k, size_t klen, const TensorList *model, char *module, size_t n) {
    for (int i = 0; i < model->n; i++) {
        const char *s = model->names[i];
        size_t len = strlen(s);
        if (len > 7 && !strcmp(s + len - 7, ".weight")) len -= 7;
        else if (len > 5 && !strcmp(s + len - 5, ".bias")) len -= 5;
        if (len != klen) continue;
        size_t j = 0;
        while (j < len && (s[j] == '.' ? '_' : s[j]) == k[j]) j++;
        if (j == len && len < n) {
            memcpy(module, s, len);
            module[len] = 0;
            return 0;
        }
    }
    return -1;
}

int lora_parse_key(const char *key, const TensorList *model, char *module, size_t n, LoraPart *part,
                   LoraConvention *conv) {
    size_t klen = strlen(key), slen = 0;
    int found = 0;
    module[0] = 0;
    for (size_t i = 0; i < sizeof SUFFIXES / sizeof SUFFIXES[0] && !found; i++) {
        slen = strlen(SUFFIXES[i].suffix);
        if (klen > slen && !strcmp(key + klen - slen, SUFFIXES[i].suffix)) {
            *part = SUFFIXES[i].part;
            found = 1;
        }
    }
    if (!found || klen - slen >= 256) return -1;
    char base[256];
    memcpy(base, key, klen - slen);
    base[klen - slen] = 0;
    if (!strncmp(base, "lora_unet_", 10)) {
        *conv = LORA_KOHYA;
        if (kohya_module(base + 10, strlen(base + 10), model, module, n)) {
            snprintf(module, n, "%s", base + 10);
            return -2;
        }
    } else {
        const char *b = base;
        *conv = LORA_ORIGINAL;
        if (!strncmp(b, "transformer.", 12) || !strncmp(b, "base_model.model.", 17)) { /* diffusers, raw PEFT */
            b += b[0] == 't' ? 12 : 17;
            *conv = LORA_DIFFUSERS;
        }
        if (names_dit_official(module, n, b)) return -1;
        if (*conv == LORA_ORIGINAL && strcmp(module, b + strlen(names_dit_prefix(b))) != 0) *conv = LORA_DIFFUSERS;
    }
    char name[300];
    return lora_target(model, module, *part, name, sizeof name) ? 0 : -2;
}

int lora_count_keys(const TensorList *tl, int per_convention[3]) {
    int total = 0;
    per_convention[0] = per_convention[1] = per_convention[2] = 0;
    for (int i = 0; i < tl->n; i++) {
        const char *k = tl->names[i];
        size_t n = strlen(k);
        int lora = 0;
        for (size_t j = 0; j < sizeof SUFFIXES / sizeof SUFFIXES[0] && !lora; j++) {
            size_t m = strlen(SUFFIXES[j].suffix);
            lora = n > m && !strcmp(k + n - m, SUFFIXES[j].suffix);
        }
        if (!lora) continue;
        total++;
        per_convention[!strncmp(k, "lora_unet_", 10) ? LORA_KOHYA : !strncmp(k, "transformer.", 12) ? LORA_DIFFUSERS
                                                                                                      : LORA_ORIGINAL]++;
    }
    return total;
}

/* ===========================================================================
 * Collecting one file's deltas per target module */

typedef struct {
    char module[160];
    const Tensor *t[6]; /* by LoraPart */
    const char *key[6];
} LoraMod;

typedef struct {
    LoraMod *m;
    int n, cap;
    char **unknown; /* keys naming nothing (owned) */
    int n_unknown, cap_unknown;
} LoraSet;

static void set_free(LoraSet *s) {
    free(s->m);
    for (int i = 0; i < s->n_unknown; i++) free(s->unknown[i]);
    free(s->unknown);
    memset(s, 0, sizeof *s);
}

static int add_unknown(LoraSet *s, const char *key, T2vError *err) {
    if (s->n_unknown == s->cap_unknown) {
        int cap = s->cap_unknown ? 2 * s->cap_unknown : 16;
        char **u = (char **)realloc(s->unknown, (size_t)cap * sizeof *u);
        if (!u) return t2v_fail(err, T2V_ERESOURCE, "out of memory listing LoRA keys");
        s->unknown = u, s->cap_unknown = cap;
    }
    size_t n = strlen(key);
    if (!(s->unknown[s->n_unknown] = (char *)malloc(n + 1)))
        return t2v_fail(err, T2V_ERESOURCE, "out of memory listing LoRA keys");
    memcpy(s->unknown[s->n_unknown++], key, n + 1);
    return T2V_OK;
}

static LoraMod *get_mod(LoraSet *s, const char *module, T2vError *err) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->m[i].module, module)) return &s->m[i];
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        LoraMod *m = (LoraMod *)realloc(s->m, (size_t)cap * sizeof *m);
        if (!m) {
            t2v_fail(err, T2V_ERESOURCE, "out of memory collecting LoRA modules");
            return NULL;
        }
        s->m = m, s->cap = cap;
    }
    LoraMod *m = &s->m[s->n++];
    memset(m, 0, sizeof *m);
    snprintf(m->module, sizeof m->module, "%s", module);
    return m;
}

static int collect(LoraSet *s, const TensorList *lt, const TensorList *model, const char *path, T2vError *err) {
    for (int i = 0; i < lt->n; i++) {
        char module[160];
        LoraPart part;
        LoraConvention conv;
        int r = lora_parse_key(lt->names[i], model, module, sizeof module, &part, &conv);
        if (r) {
            if (add_unknown(s, lt->names[i], err)) return T2V_ERESOURCE;
            continue;
        }
        LoraMod *m = get_mod(s, module, err);
        if (!m) return T2V_ERESOURCE;
        if (m->t[part])
            return t2v_fail(err, T2V_EINPUT, "%s: LoRA keys '%s' and '%s' change the same thing", path, m->key[part],
                            lt->names[i]);
        if (!dtype_is_float(lt->tensors[i].dtype))
            return t2v_fail(err, T2V_EINPUT, "%s: LoRA tensor '%s' is %s, not a float", path, lt->names[i],
                            dtype_name(lt->tensors[i].dtype));
        m->t[part] = &lt->tensors[i];
        m->key[part] = lt->names[i];
    }
    return T2V_OK;
}

/* "blocks.0.cross_attn.norm_k_img.diff" and the like: parts of an
 * image-to-video DiT (lightx2v's LoRAs carry them), absent from T2V. */
static int is_i2v_key(const char *k) { return strstr(k, "_img") != NULL || strstr(k, "img_emb") != NULL; }

static int report_unknown(const LoraSet *s, const char *path, T2vError *err) {
    char list[700];
    size_t k = 0;
    int i2v = 0;
    for (int i = 0; i < s->n_unknown; i++) i2v += is_i2v_key(s->unknown[i]);
    for (int i = 0; i < s->n_unknown && i < 6 && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s'%s'", i ? ", " : "", s->unknown[i]);
    return t2v_fail(err, T2V_EINPUT,
                    "%s: %d LoRA key%s name%s nothing in this DiT: %s%s%s%s (--lora-ignore-unknown skips them)", path,
                    s->n_unknown, s->n_unknown == 1 ? "" : "s", s->n_unknown == 1 ? "s" : "", list,
                    s->n_unknown > 6 ? ", ..." : "", i2v ? "; " : "",
                    i2v ? "keys with _img / img_emb are image-to-video modules (e.g. cross_attn.k_img) that a "
                          "text-to-video model does not have" : "");
}

/* ===========================================================================
 * Merging */

/* The tensor of w named `name`, made an owned F32 copy (widened exactly). */
static Tensor *owned_f32(TensorList *w, const char *name, T2vError *err) {
    for (int i = 0; i < w->n; i++) {
        if (strcmp(w->names[i], name)) continue;
        Tensor *t = &w->tensors[i];
        if (t->owned && t->dtype == DT_F32) return t;
        float *x = tensor_to_f32_alloc(t, err);
        if (!x) return NULL;
        f32_store_le(x, x, tensor_numel(t)); /* a Tensor's bytes are little-endian */
        if (t->owned) free(t->data);
        t->data = x, t->dtype = DT_F32, t->owned = 1, t->scale = 0.0f;
        return t;
    }
    t2v_fail(err, T2V_EINPUT, "LoRA: tensor '%s' missing", name);
    return NULL;
}

/* W += factor * x (same element count). */
static int add_scaled(Tensor *W, const Tensor *x, float factor, const char *path, const char *key, T2vError *err) {
    int64_t n = tensor_numel(W);
    if (tensor_numel(x) != n)
        return t2v_fail(err, T2V_EINPUT, "%s: LoRA tensor '%s' has %lld elements; its target has %lld", path, key,
                        (long long)tensor_numel(x), (long long)n);
    float *d = tensor_to_f32_alloc(x, err);
    if (!d) return T2V_ERESOURCE;
    unsigned char *w = (unsigned char *)W->data; /* an owned F32 copy (owned_f32), little-endian like every Tensor */
    for (int64_t i = 0; i < n; i++)
        wr_u32le(w + 4 * i, f32_to_bits(f32_from_bits(rd_u32le(w + 4 * i)) + factor * d[i]));
    free(d);
    return T2V_OK;
}

/* alpha / rank, with alpha defaulting to rank. */
static int lora_factor(const LoraMod *m, int64_t rank, float *f, const char *path, T2vError *err) {
    float alpha = (float)rank;
    if (m->t[LORA_ALPHA]) {
        if (tensor_numel(m->t[LORA_ALPHA]) != 1)
            return t2v_fail(err, T2V_EINPUT, "%s: LoRA tensor '%s' must hold one number", path, m->key[LORA_ALPHA]);
        widen_scaled(&alpha, m->t[LORA_ALPHA]->data, m->t[LORA_ALPHA]->dtype, m->t[LORA_ALPHA]->scale, 1);
        if (!isfinite(alpha))
            return t2v_fail(err, T2V_EINPUT, "%s: LoRA tensor '%s' is not finite", path, m->key[LORA_ALPHA]);
    }
    *f = alpha / (float)rank;
    return T2V_OK;
}

/* The tensor of w named `name` (mutable), or NULL. */
static Tensor *find_mut(TensorList *w, const char *name) {
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->names[i], name)) return &w->tensors[i];
    return NULL;
}

/* W's delta becomes [old up | f up] @ [old down; down] (rank old + r): a new
 * LowRank in one block owned by the store. up [N, r] is scaled by f here. */
static int attach_lowrank(Tensor *W, LoraStore *st, const float *up, const float *down, int64_t N, int64_t r,
                          int64_t K, float f, T2vError *err) {
    const LowRank *old = W->delta;
    int64_t r0 = old ? old->rank : 0, R = r0 + r;
    if (R > (1 << 20)) return t2v_fail(err, T2V_EINPUT, "LoRA: total rank %lld on one weight is too large", (long long)R);
    if (st->n == st->cap) {
        int cap = st->cap ? 2 * st->cap : 64;
        void **b = (void **)realloc(st->blocks, (size_t)cap * sizeof *b);
        if (!b) return t2v_fail(err, T2V_ERESOURCE, "out of memory for LoRA deltas");
        st->blocks = b, st->cap = cap;
    }
    LowRank *d = (LowRank *)t2v_malloc(sizeof *d + sizeof(float) * (size_t)R * (size_t)(N + K), "LoRA delta", err);
    if (!d) return T2V_ERESOURCE;
    st->blocks[st->n++] = d;
    float *u = (float *)(d + 1), *dn = u + (size_t)N * R;
    for (int64_t n = 0; n < N; n++) {
        if (r0) memcpy(u + n * R, old->up + n * r0, sizeof(float) * (size_t)r0);
        for (int64_t j = 0; j < r; j++) u[n * R + r0 + j] = f * up[n * r + j];
    }
    if (r0) memcpy(dn, old->down, sizeof(float) * (size_t)(r0 * K));
    memcpy(dn + r0 * K, down, sizeof(float) * (size_t)(r * K));
    d->rank = (int)R, d->up = u, d->down = dn;
    W->delta = d;
    return T2V_OK;
}

/* dW = scale * (alpha / rank) * up @ down on W [out, ...], kept low-rank
 * (tensor.h LowRank): W stays in its file dtype. */
static int merge_updown(TensorList *w, LoraStore *st, const LoraMod *m, float scale, const char *path,
                        T2vError *err) {
    const Tensor *up = m->t[LORA_UP], *down = m->t[LORA_DOWN];
    if (!up || !down)
        return t2v_fail(err, T2V_EINPUT, "%s: LoRA for '%s' has %s but no %s", path, m->module,
                        up ? m->key[LORA_UP] : m->key[LORA_DOWN], up ? "lora_down / lora_A" : "lora_up / lora_B");
    char name[300];
    snprintf(name, sizeof name, "%s.weight", m->module);
    Tensor *W = find_mut(w, name);
    int64_t rank = up->ndim >= 2 ? up->shape[1] : -1, out = up->shape[0];
    if (up->ndim < 2 || down->ndim < 2 || tensor_numel(up) != out * rank || down->shape[0] != rank || rank < 1)
        return t2v_fail(err, T2V_EINPUT, "%s: LoRA '%s': up %s has rank %lld, down %s has rank %lld: they must agree",
                        path, m->module, m->key[LORA_UP], (long long)rank, m->key[LORA_DOWN],
                        (long long)(down->ndim ? down->shape[0] : 0));
    int64_t K = tensor_numel(down) / rank;
    if (!W || W->ndim < 2 || W->shape[0] != out || tensor_numel(W) != out * K)
        return t2v_fail(err, T2V_EINPUT, "%s: LoRA '%s': up x down is [%lld, %lld], which does not fit %s", path,
                        m->module, (long long)out, (long long)K, name);
    float f = 1.0f;
    int rc = lora_factor(m, rank, &f, path, err);
    if (rc) return rc;
    float *u = tensor_to_f32_alloc(up, err), *d = u ? tensor_to_f32_alloc(down, err) : NULL;
    rc = d ? attach_lowrank(W, st, u, d, out, rank, K, scale * f, err) : err->code;
    if (!rc && m->t[LORA_BIAS]) { /* PEFT's lora_B bias rides on the same scaling */
        snprintf(name, sizeof name, "%s.bias", m->module);
        Tensor *B = owned_f32(w, name, err);
        rc = B ? add_scaled(B, m->t[LORA_BIAS], scale * f, path, m->key[LORA_BIAS], err) : T2V_EINPUT;
    }
    free(u);
    free(d);
    return rc;
}

static int merge_mod(TensorList *w, LoraStore *st, const LoraMod *m, float scale, const char *path, T2vError *err) {
    int rc = T2V_OK;
    char name[300];
    if (m->t[LORA_UP] || m->t[LORA_DOWN]) rc = merge_updown(w, st, m, scale, path, err);
    else if (m->t[LORA_ALPHA] || m->t[LORA_BIAS])
        rc = t2v_fail(err, T2V_EINPUT, "%s: LoRA '%s' has %s but no up/down pair", path, m->module,
                      m->key[m->t[LORA_ALPHA] ? LORA_ALPHA : LORA_BIAS]);
    if (!rc && m->t[LORA_DIFF]) {
        Tensor *W = lora_target(w, m->module, LORA_DIFF, name, sizeof name) ? owned_f32(w, name, err) : NULL;
        rc = W ? add_scaled(W, m->t[LORA_DIFF], scale, path, m->key[LORA_DIFF], err) : T2V_EINPUT;
    }
    if (!rc && m->t[LORA_DIFF_B]) {
        Tensor *B = lora_target(w, m->module, LORA_DIFF_B, name, sizeof name) ? owned_f32(w, name, err) : NULL;
        rc = B ? add_scaled(B, m->t[LORA_DIFF_B], scale, path, m->key[LORA_DIFF_B], err) : T2V_EINPUT;
    }
    return rc;
}

static int apply_one(TensorList *w, LoraStore *st, const LoraFile *f, int ignore_unknown, T2vError *err) {
    Checkpoint ck;
    int rc = ckpt_open(&ck, f->path, err);
    if (rc) return rc;
    LoraSet s;
    memset(&s, 0, sizeof s);
    rc = collect(&s, ck.tensors, w, f->path, err);
    if (!rc && s.n_unknown && !ignore_unknown) rc = report_unknown(&s, f->path, err);
    if (!rc && s.n == 0) rc = t2v_fail(err, T2V_EINPUT, "%s: no LoRA key applies to this DiT", f->path);
    for (int i = 0; i < s.n && !rc; i++) rc = merge_mod(w, st, &s.m[i], f->scale, f->path, err);
    set_free(&s);
    ckpt_close(&ck);
    return rc;
}

void lora_store_free(LoraStore *s) {
    for (int i = 0; i < s->n; i++) free(s->blocks[i]);
    free(s->blocks);
    memset(s, 0, sizeof *s);
}

int lora_apply(TensorList *w, LoraStore *st, const LoraFile *files, int n, int ignore_unknown, T2vError *err) {
    for (int i = 0; i < n; i++) {
        int rc = apply_one(w, st, &files[i], ignore_unknown, err);
        if (rc) return rc;
    }
    return T2V_OK;
}
