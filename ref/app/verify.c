/* verify.c: tolerance profiles, dump names, --dump-level / --dump-blocks
 * (verify.h, docs/VERIFY.md). */
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ----------------------------------------------------------------------------
 * Tolerance profiles: golden/tolerances.json
 *   {"profiles": {"bf16": {"tensors": [{"pattern", "rel", "one_minus_cos", ...}],
 *                          "ops": [{"op", "rel", "one_minus_cos"}]}, ...}} */

static char *read_small_file(const char *path, size_t limit, size_t *len, T2vError *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        t2v_fail(err, T2V_EINPUT, "%s: cannot open tolerance profiles (give --profiles FILE)", path);
        return NULL;
    }
    char *text = (char *)t2v_malloc(limit + 1, "tolerance profiles", err);
    *len = text ? fread(text, 1, limit + 1, f) : 0;
    fclose(f);
    if (text && *len > limit) {
        free(text);
        t2v_fail(err, T2V_EINPUT, "%s: larger than %zu bytes: not a tolerance profile file", path, limit);
        return NULL;
    }
    return text;
}

/* A number member in [lo, hi]; -1 when absent or out of range. */
static int get_num(const JsonValue *o, const char *key, double lo, double hi, double *out) {
    const JsonValue *v = json_get(o, key);
    if (!v || v->type != JSON_NUMBER || !(v->number >= lo && v->number <= hi)) return -1;
    *out = v->number;
    return 0;
}

static int load_rules(const JsonValue *arr, const char *path, const char *name, TolRule *rules, int max, int *n,
                      T2vError *err) {
    *n = 0;
    if (!arr || arr->type != JSON_ARRAY)
        return t2v_fail(err, T2V_EINPUT, "%s: profile '%s' has no \"tensors\" array", path, name);
    for (size_t i = 0; i < arr->len; i++) {
        const JsonValue *r = &arr->items[i], *p = json_get(r, "pattern");
        double rel, omc;
        if (!p || p->type != JSON_STRING || p->len >= sizeof rules[0].pattern || get_num(r, "rel", 0, 1e30, &rel) ||
            get_num(r, "one_minus_cos", 0, 2, &omc))
            return t2v_fail(err, T2V_EINPUT, "%s: profile '%s', tensors[%zu]: expected {\"pattern\": string "
                            "(< 128 bytes), \"rel\": number >= 0, \"one_minus_cos\": number in [0, 2]}",
                            path, name, i);
        if (*n >= max) return t2v_fail(err, T2V_EINPUT, "%s: profile '%s': more than %d tensor rules", path, name, max);
        snprintf(rules[*n].pattern, sizeof rules[*n].pattern, "%s", p->string);
        rules[*n].tol = rel;
        rules[*n].min_cos = 1.0 - omc;
        (*n)++;
    }
    return T2V_OK;
}

static int load_ops(const JsonValue *arr, const char *path, const char *name, OpTol *ops, int max, int *n,
                    T2vError *err) {
    *n = 0;
    if (!arr) return T2V_OK;
    if (arr->type != JSON_ARRAY) return t2v_fail(err, T2V_EINPUT, "%s: profile '%s': \"ops\" is not an array", path, name);
    for (size_t i = 0; i < arr->len; i++) {
        const JsonValue *r = &arr->items[i], *p = json_get(r, "op");
        double rel, omc;
        if (!p || p->type != JSON_STRING || p->len >= sizeof ops[0].op || get_num(r, "rel", 0, 1e30, &rel) ||
            get_num(r, "one_minus_cos", 0, 2, &omc))
            return t2v_fail(err, T2V_EINPUT, "%s: profile '%s', ops[%zu]: expected {\"op\": string (< 32 bytes), "
                            "\"rel\": number >= 0, \"one_minus_cos\": number in [0, 2]}", path, name, i);
        if (*n >= max) return t2v_fail(err, T2V_EINPUT, "%s: profile '%s': more than %d op rules", path, name, max);
        snprintf(ops[*n].op, sizeof ops[*n].op, "%s", p->string);
        ops[*n].rel = rel;
        ops[*n].omc = omc;
        (*n)++;
    }
    return T2V_OK;
}

int profile_load(const char *path, const char *name, TolRule *rules, int max, int *nrules, OpTol *ops, int maxops,
                 int *nops, T2vError *err) {
    size_t len;
    char *text = read_small_file(path, 1 << 20, &len, err);
    if (!text) return err->code;
    int rc = profile_parse(text, len, path, name, rules, max, nrules, ops, maxops, nops, err);
    free(text);
    return rc;
}

int profile_parse(const char *text, size_t len, const char *path, const char *name, TolRule *rules, int max,
                  int *nrules, OpTol *ops, int maxops, int *nops, T2vError *err) {
    char msg[256];
    *nrules = 0;
    if (nops) *nops = 0;
    JsonValue *root = json_parse(text, len, msg, sizeof msg);
    if (!root) return t2v_fail(err, T2V_EINPUT, "%s: not valid JSON: %s", path, msg);
    const JsonValue *profiles = json_get(root, "profiles"), *p = json_get(profiles, name);
    int rc = T2V_OK, dummy;
    if (!profiles || profiles->type != JSON_OBJECT) {
        rc = t2v_fail(err, T2V_EINPUT, "%s: no \"profiles\" object", path);
    } else if (!p || p->type != JSON_OBJECT) {
        char known[160] = "";
        for (size_t i = 0; i < profiles->len; i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", profiles->keys[i]);
        rc = t2v_fail(err, T2V_EINPUT, "%s: no profile '%s' (profiles: %s)", path, name, known);
    } else {
        rc = load_rules(json_get(p, "tensors"), path, name, rules, max, nrules, err);
        if (!rc && ops) rc = load_ops(json_get(p, "ops"), path, name, ops, maxops, nops ? nops : &dummy, err);
    }
    json_free(root);
    return rc;
}

const OpTol *profile_op(const OpTol *ops, int nops, const char *op) {
    for (int i = 0; i < nops; i++)
        if (!strcmp(ops[i].op, op)) return &ops[i];
    return NULL;
}

/* ----------------------------------------------------------------------------
 * Dump names: official module paths <-> diffusers' WanTransformer3DModel.
 * In a block the official norm3 (before cross-attention) is diffusers' norm2
 * and the official norm2 (before the FFN) is diffusers' norm3. */
static const char *const BLOCK_NAMES[][2] = { /* after "blocks.N." */
    {"self_attn.q", "attn1.to_q"}, {"self_attn.k", "attn1.to_k"}, {"self_attn.v", "attn1.to_v"},
    {"self_attn.o.in", "attn1.to_out.0.in"}, {"self_attn.o", "attn1.to_out.0"},
    {"self_attn.norm_q", "attn1.norm_q"}, {"self_attn.norm_k", "attn1.norm_k"},
    {"self_attn.rope_q", "attn1.rope_q"}, {"self_attn.rope_k", "attn1.rope_k"}, {"self_attn.in", "attn1.in"},
    {"cross_attn.q", "attn2.to_q"}, {"cross_attn.k", "attn2.to_k"}, {"cross_attn.v", "attn2.to_v"},
    {"cross_attn.o.in", "attn2.to_out.0.in"}, {"cross_attn.o", "attn2.to_out.0"},
    {"cross_attn.norm_q", "attn2.norm_q"}, {"cross_attn.norm_k", "attn2.norm_k"},
    {"cross_attn.context", "attn2.context"}, {"cross_attn.in", "attn2.in"},
    {"norm3.in", "norm2.in"}, {"norm3", "norm2"}, {"norm2.in", "norm3.in"}, {"norm2", "norm3"},
    {"ffn.0", "ffn.net.0.proj"}, {"ffn.1", "ffn.net.0"}, {"ffn.2", "ffn.net.2"}, {"e", "temb"},
};
static const char *const TOP_NAMES[][2] = {
    {"time_embedding.in", "condition_embedder.time_embedder.in"},
    {"time_embedding", "condition_embedder.time_embedder"},
    {"time_projection", "condition_embedder.time_proj"},
    {"text_embedding.in", "condition_embedder.text_embedder.in"},
    {"text_embedding", "condition_embedder.text_embedder"},
    {"head.head.in", "proj_out.in"}, {"head.head", "proj_out"}, {"head.norm", "norm_out"},
};
#define NROWS(a) (int)(sizeof a / sizeof a[0])

/* from = 0: official -> diffusers; 1: back. */
static void map_name(const char *src, char *dst, size_t n, int from) {
    const char *rest = src;
    int prefix = 0;
    if (!strncmp(src, "blocks.", 7)) {
        const char *p = src + 7;
        while (*p >= '0' && *p <= '9') p++;
        if (p > src + 7 && *p == '.') { prefix = (int)(p + 1 - src); rest = p + 1; }
    }
    const char *const (*map)[2] = prefix ? BLOCK_NAMES : TOP_NAMES;
    int rows = prefix ? NROWS(BLOCK_NAMES) : NROWS(TOP_NAMES);
    for (int i = 0; i < rows; i++)
        if (!strcmp(rest, map[i][from])) {
            snprintf(dst, n, "%.*s%s", prefix, src, map[i][!from]);
            return;
        }
    snprintf(dst, n, "%s", src);
}

void dump_name_to_diffusers(const char *official, char *dst, size_t n) { map_name(official, dst, n, 0); }
void dump_name_to_official(const char *name, char *dst, size_t n) { map_name(name, dst, n, 1); }

int dump_level_parse(const char *s) {
    return !strcmp(s, "stage") ? DUMP_STAGE : !strcmp(s, "block") ? DUMP_BLOCK : !strcmp(s, "op") ? DUMP_OP : -1;
}

int dump_blocks_parse(const char *s, unsigned char *mask, int num_layers, T2vError *err) {
    memset(mask, s ? 0 : 1, (size_t)num_layers);
    if (!s) return T2V_OK;
    const char *p = s;
    while (*p) {
        char *end;
        long b = strtol(p, &end, 10);
        if (end == p || b < 0 || (*end && *end != ','))
            return t2v_fail(err, T2V_EUSAGE, "--dump-blocks '%s': expected block numbers like 0,1,29", s);
        if (b >= num_layers)
            return t2v_fail(err, T2V_EUSAGE, "--dump-blocks '%s': block %ld, but the model has %d blocks (0..%d)", s,
                            b, num_layers, num_layers - 1);
        mask[b] = 1;
        p = *end ? end + 1 : end;
    }
    return T2V_OK;
}

