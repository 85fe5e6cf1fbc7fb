/*
 * cmd_info.c: `t2v info --model DIR` and `t2v info --config config.json`:
 *
 *   1. the model as a tree, stage > block > layer, with every tensor's dtype
 *      and shape, parameters and bytes, and each block's FLOPs for the size
 *   2. one generation at that size, stage by stage: the shapes that flow
 *   3. a summary (the table of docs/ARCHITECTURE.md, checked by
 *      tests/test_info.c): parameters, FLOPs per stage, memory estimate
 *
 * With --config no weights are needed: the official tensor layouts are
 * written out from the config (ref/app/cost.c, from each stage's own list),
 * so the numbers of T2V-1.3B and T2V-14B can be printed on any machine.
 * Sizes follow the model's VAE (its strides) and DiT (its patch).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_core.h"
#include "cli.h"
#include "cost.h"
#include "dist.h"
#include "t2v.h"

typedef struct {
    const char *model, *config, *prompt;
    const char *width, *height, *frames; /* -W -H -f as given: checked against the model */
    int W, H, F, steps, tokens, full;
    double cfg;
    CacheSettings cache; /* --cache: the DiT FLOPs become a range */
    const char *cache_text;
    const Model *mo;     /* with --model: the weights, for TeaCache's exact count */
    ModelArgs margs; /* --dit --t5 --vae --lora --lora-ignore-unknown */
    SamplingOpts lv; /* --context-window --context-overlap --context-schedule --riflex */
    int ranks;       /* --ranks N: MPI ranks (docs/SCALING.md) */
} InfoOpts;

/* ----------------------------------------------------------------------------
 * Number formatting: exact integers with thousands separators, and a
 * readable unit beside them. */

static const char *commas(int64_t v, char *buf, size_t n) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", (long long)(v < 0 ? -v : v));
    size_t len = strlen(tmp), k = 0;
    if (v < 0 && k + 1 < n) buf[k++] = '-';
    for (size_t i = 0; i < len && k + 2 < n; i++) {
        buf[k++] = tmp[i];
        if ((len - i - 1) % 3 == 0 && i + 1 < len) buf[k++] = ',';
    }
    buf[k] = 0;
    return buf;
}

static const char *flops_str(int64_t v, char *buf, size_t n) {
    static const char *const unit[] = {"", "k", "M", "G", "T", "P", "E"};
    double x = (double)v;
    int u = 0;
    while (x >= 1000 && u < 6) x /= 1000, u++;
    char c[32];
    snprintf(buf, n, "%s (%.2f %sFLOP)", commas(v, c, sizeof c), x, unit[u]);
    return buf;
}

static const char *bytes_str(double b, char *buf, size_t n) {
    if (b >= 1073741824.0) snprintf(buf, n, "%.2f GiB", b / 1073741824.0);
    else if (b >= 1048576.0) snprintf(buf, n, "%.2f MiB", b / 1048576.0);
    else snprintf(buf, n, "%.2f KiB", b / 1024.0);
    return buf;
}

static const char *shape_of(const TensorDesc *t, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* "F32 5,675,987,200 B" for each dtype present. */
static const char *dtype_bytes(const int64_t *by, char *buf, size_t n) {
    size_t k = 0;
    buf[0] = 0;
    for (int d = 0; d < DT_COUNT && k < n; d++) {
        char c[32];
        if (by[d]) k += (size_t)snprintf(buf + k, n - k, "%s%s %s B", k ? ", " : "", dtype_name((DType)d), commas(by[d], c, sizeof c));
    }
    return buf;
}

/* ----------------------------------------------------------------------------
 * The tree: blocks are name prefixes ("blocks.7", "decoder.upsamples.3",
 * "patch_embedding"), layers the rest without .weight/.bias/.gamma. */

static void block_key(const char *name, char *key, size_t n) {
    const char *p = name, *end = name;
    int comps = 0, want_digits = 0;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        int digits = len > 0 && strspn(p, "0123456789") == len;
        if (comps > 0 && !(want_digits && digits) && !(comps == 1 && (!strncmp(name, "encoder.", 8) || !strncmp(name, "decoder.", 8))))
            break;
        if (!dot) break; /* keep the last component for the layer */
        end = dot;
        comps++;
        want_digits = (len == 6 && !strncmp(p, "blocks", 6)) || (len == 11 && !strncmp(p, "downsamples", 11)) ||
                      (len == 9 && !strncmp(p, "upsamples", 9)) || (len == 6 && !strncmp(p, "middle", 6));
        p = dot + 1;
    }
    size_t len = (size_t)(end - name);
    if (len >= n) len = n - 1;
    memcpy(key, name, len);
    key[len] = 0;
}

/* Data-flow order of the blocks of each stage. */
static void block_rank(int stage, const char *key, int *rank, long *num) {
    static const char *const order[STAGE_COUNT][11] = {
        {"token_embedding", "blocks", "norm", NULL},
        {"patch_embedding", "text_embedding", "time_embedding", "time_projection", "blocks", "head", NULL},
        {"conv2", "decoder.conv1", "decoder.middle", "decoder.upsamples", "decoder.head", "encoder.conv1",
         "encoder.downsamples", "encoder.middle", "encoder.head", "conv1", NULL}};
    *rank = 99, *num = 0;
    for (int i = 0; order[stage][i]; i++) {
        size_t l = strlen(order[stage][i]);
        if (!strncmp(key, order[stage][i], l) && (key[l] == 0 || key[l] == '.')) {
            *rank = i;
            if (key[l] == '.') *num = strtol(key + l + 1, NULL, 10);
            return;
        }
    }
}

typedef struct {
    char key[64];
    int rank, first;
    long num;
} Group;

static int group_cmp(const void *a, const void *b) {
    const Group *x = (const Group *)a, *y = (const Group *)b;
    if (x->rank != y->rank) return x->rank - y->rank;
    if (x->num != y->num) return x->num < y->num ? -1 : 1;
    return x->first - y->first;
}

/* Groups of d in data-flow order; caller frees. */
static Group *make_groups(const DescList *d, int stage, int *ng) {
    Group *g = (Group *)calloc((size_t)d->n + 1, sizeof *g);
    *ng = 0;
    for (int i = 0; g && i < d->n; i++) {
        char key[64];
        block_key(d->t[i].name, key, sizeof key);
        int found = 0;
        for (int k = 0; k < *ng && !found; k++) found = !strcmp(g[k].key, key);
        if (found) continue;
        Group *x = &g[(*ng)++];
        snprintf(x->key, sizeof x->key, "%s", key);
        x->first = i;
        block_rank(stage, key, &x->rank, &x->num);
    }
    if (g) qsort(g, (size_t)*ng, sizeof *g, group_cmp);
    return g;
}

/* The part of name after the block prefix ("self_attn.q.weight"), or "". */
static const char *in_block(const char *name, const char *key) {
    size_t l = strlen(key);
    if (strncmp(name, key, l)) return NULL;
    if (name[l] == '.') return name + l + 1;
    return name[l] ? NULL : "";
}

/* Two blocks with the same tensors (relative names, dtypes, shapes). */
static int same_block(const DescList *d, const char *a, const char *b) {
    int na = 0, nb = 0;
    for (int i = 0; i < d->n; i++) {
        const char *ra = in_block(d->t[i].name, a), *rb = in_block(d->t[i].name, b);
        na += ra != NULL, nb += rb != NULL;
        if (!ra) continue;
        char other[160];
        snprintf(other, sizeof other, "%s.%s", b, ra);
        const TensorDesc *t = desc_find(d, other);
        if (!t || t->dtype != d->t[i].dtype || t->ndim != d->t[i].ndim ||
            memcmp(t->shape, d->t[i].shape, sizeof t->shape))
            return 0;
    }
    return na == nb;
}

/* FLOPs of one block for the size; *note says when it is not per forward. */
static int64_t group_flops(const ModelDesc *m, int stage, const char *key, const ClipSize *s, const Flops *f,
                           const char **note, int64_t shape[4]) {
    int64_t D = m->dit.dim;
    *note = "per forward";
    shape[0] = 0;
    if (stage == STAGE_T5) {
        *note = "per prompt";
        return !strncmp(key, "blocks.", 7) ? f->t5_layer : 0;
    }
    if (stage == STAGE_DIT) {
        if (!strcmp(key, "patch_embedding")) return f->patch;
        if (!strcmp(key, "time_embedding")) return 2 * ((int64_t)m->dit.freq_dim * D + D * D);
        if (!strcmp(key, "time_projection")) return 12 * D * D;
        if (!strcmp(key, "head")) return f->head;
        if (!strncmp(key, "blocks.", 7)) return f->block;
        if (!strcmp(key, "text_embedding")) *note = "per prompt";
        return !strcmp(key, "text_embedding") ? f->text_embedding : 0;
    }
    if (!strncmp(key, "encoder", 7) || !strcmp(key, "conv1")) {
        *note = "encoder: not run by T2V";
        return -1;
    }
    *note = "decode";
    return cost_vae_layer(m, s, key, shape);
}

/* Layer key of a tensor: its name without the block prefix and without a
 * trailing .weight/.bias/.gamma ("self_attn.q"); "" for the block itself. */
static void layer_key(const char *rest, char *layer, size_t n) {
    snprintf(layer, n, "%s", rest);
    char *dot = strrchr(layer, '.');
    const char *tail = dot ? dot + 1 : layer;
    if (!strcmp(tail, "weight") || !strcmp(tail, "bias") || !strcmp(tail, "gamma")) {
        if (dot) *dot = 0;
        else layer[0] = 0;
    }
}

/* One line per layer: the full name, dtype and shape of its first tensor
 * (the one to search for in ref/), the others as "+ bias [D]", parameters. */
static void print_layers(const DescList *d, const char *key) {
    for (int i = 0; i < d->n; i++) {
        const char *r = in_block(d->t[i].name, key);
        if (!r) continue;
        char layer[96], lj[96], sh[64], c[32], more[128] = "";
        layer_key(r, layer, sizeof layer);
        int first = 1;
        for (int j = 0; j < i && first; j++) {
            const char *rj = in_block(d->t[j].name, key);
            if (rj) layer_key(rj, lj, sizeof lj), first = strcmp(lj, layer) != 0;
        }
        if (!first) continue;
        int64_t params = desc_numel(&d->t[i]);
        size_t k = 0;
        for (int j = i + 1; j < d->n; j++) {
            const char *rj = in_block(d->t[j].name, key);
            if (!rj) continue;
            layer_key(rj, lj, sizeof lj);
            if (strcmp(lj, layer)) continue;
            params += desc_numel(&d->t[j]);
            const char *tail = strrchr(d->t[j].name, '.');
            if (k < sizeof more)
                k += (size_t)snprintf(more + k, sizeof more - k, "%s+ %s %s", k ? " " : "", tail ? tail + 1 : "",
                                      shape_of(&d->t[j], sh, sizeof sh));
        }
        printf("    %-44s %-4s %-20s %-18s %14s\n", d->t[i].name, dtype_name(d->t[i].dtype),
               shape_of(&d->t[i], sh, sizeof sh), more, commas(params, c, sizeof c));
    }
}

static void print_group(const ModelDesc *m, int stage, const char *key, const ClipSize *s, const Flops *f, int layers) {
    const DescList *d = &m->w[stage];
    int64_t params = 0, sh[4];
    int nt = 0;
    for (int i = 0; i < d->n; i++)
        if (in_block(d->t[i].name, key)) params += desc_numel(&d->t[i]), nt++;
    const char *note;
    int64_t fl = group_flops(m, stage, key, s, f, &note, sh);
    char c[32], fs[64], out[80] = "";
    if (sh[0]) snprintf(out, sizeof out, " -> [%lld, %lld, %lld, %lld]", (long long)sh[0], (long long)sh[1], (long long)sh[2], (long long)sh[3]);
    if (fl > 0) snprintf(fs, sizeof fs, "%s FLOPs %s", commas(fl, c, sizeof c), note);
    else snprintf(fs, sizeof fs, "%s", fl < 0 ? note : "");
    char pc[32];
    char line[256];
    snprintf(line, sizeof line, "  %-26s %14s params  %-44s%s", key, commas(params, pc, sizeof pc), fs, out);
    for (size_t k = strlen(line); k > 0 && line[k - 1] == ' '; k--) line[k - 1] = 0;
    printf("%s\n", line);
    if (stage == STAGE_DIT && !strncmp(key, "blocks.", 7)) { /* where a block's FLOPs go */
        char a[32], b2[32], c2[32], d2[32], e2[32], g2[32];
        printf("    (self q,k,v,o %s + QK^T,AV %s; cross q,o %s + k,v %s + QK^T,AV %s; ffn %s)\n",
               commas(f->self_proj, a, sizeof a), commas(f->self_attn, b2, sizeof b2), commas(f->cross_proj, c2, sizeof c2),
               commas(f->cross_kv, d2, sizeof d2), commas(f->cross_attn, e2, sizeof e2), commas(f->ffn, g2, sizeof g2));
    }
    if (layers) print_layers(d, key);
}

static void print_stage(const ModelDesc *m, int stage, const ClipSize *s, const Flops *f, int full) {
    static const char *const title[STAGE_COUNT] = {"text encoder (umT5)", "DiT (WanModel)", "VAE (WanVAE)"};
    const DescList *d = &m->w[stage];
    int64_t by[DT_COUNT];
    int64_t params = desc_params(d, by);
    char c[32], b[160];
    printf("\n%s: %s\n  %d tensors, %s parameters, %s\n", title[stage], m->file[stage] ? m->file[stage] : "(official layout, from the config)",
           d->n, commas(params, c, sizeof c), dtype_bytes(by, b, sizeof b));
    int ng;
    Group *g = make_groups(d, stage, &ng);
    int nblocks = 0;
    for (int i = 0; g && i < ng; i++) nblocks += !strncmp(g[i].key, "blocks.", 7);
    for (int i = 0; g && i < ng; i++) {
        int run = 0; /* more than 4 blocks: blocks.N (N >= 1) identical to blocks.0 on one line */
        while (!full && nblocks > 4 && i + run < ng && g[i + run].num >= 1 && !strncmp(g[i + run].key, "blocks.", 7) &&
               same_block(d, "blocks.0", g[i + run].key))
            run++;
        if (run) {
            char first[64];
            snprintf(first, sizeof first, "%s", g[i].key);
            if (run == 1) printf("  %s: as blocks.0 (--full lists it)\n", first);
            else printf("  %s .. %s: %d more, each as blocks.0 (--full lists them)\n", first, g[i + run - 1].key, run);
            i += run - 1;
            continue;
        }
        print_group(m, stage, g[i].key, s, f, 1);
    }
    free(g);
}

/* ----------------------------------------------------------------------------
 * One generation, stage by stage, and the summary table. */

static void print_walkthrough(const ModelDesc *m, const ClipSize *s, const InfoOpts *o) {
    const DiTConfig *c = &m->dit;
    int D = c->dim, hd = c->dim / c->num_heads, pairs = hd / 2, ph = pairs / 3, pt = pairs - 2 * ph;
    int64_t vsh[4];
    cost_vae_layer(m, s, "decoder.head", vsh);
    printf("\none generation at %dx%d, %d frames (%d steps, cfg %g, L = %d text tokens)\n", s->W, s->H, s->F, o->steps,
           o->cfg, s->L);
    printf("  tokenizer   prompt -> ids [%d] (pieces + EOS; at most text_len = %d)\n", s->L, c->text_len);
    printf("  umT5        ids [%d] -> token_embedding [%d, %d] -> %d layers -> context [%d, %d]\n", s->L, s->L,
           m->t5.dim, m->t5.num_layers, s->L, m->t5.dim);
    printf("  text emb.   context, zero rows to [%d, %d] -> text_embedding -> [%d, %d] (once per prompt)\n",
           c->text_len, c->text_dim, c->text_len, D);
    printf("  noise       seed -> z [%d, %d, %d, %d] (T = 1 + (F-1)/%d, H/%d, W/%d)\n", s->C, s->T, s->h, s->w,
           m->vae.scale_t, m->vae.scale_s, m->vae.scale_s);
    printf("  patchify    Conv3d k = stride = (%d,%d,%d): [%d, %d, %d, %d] -> grid %d x %d x %d -> x [%d, %d]\n",
           c->patch_t, c->patch_h, c->patch_w, D, s->f, s->hp, s->wp, s->f, s->hp, s->wp, s->N, D);
    printf("  time        t -> sinusoid [%d] -> e [%d] -> e0 [6, %d]\n", c->freq_dim, D, D);
    printf("  %d blocks    self-attn q, k, v [%d, %d] = %d heads x %d; RoPE pairs t/h/w = %d/%d/%d; scores %d x %d x %d\n",
           c->num_layers, s->N, D, c->num_heads, hd, pt, ph, ph, c->num_heads, s->N, s->N);
    printf("              cross-attn q [%d, %d], k, v [%d, %d]; scores %d x %d x %d\n", s->N, D, c->text_len, D,
           c->num_heads, s->N, c->text_len);
    printf("              FFN [%d, %d] -> [%d, %d] -> [%d, %d]\n", s->N, D, s->N, c->ffn_dim, s->N, D);
    printf("  head        [%d, %d] -> [%d, %d] -> unpatchify -> v [%d, %d, %d, %d]\n", s->N, D, s->N,
           c->out_dim * c->patch_t * c->patch_h * c->patch_w, c->out_dim, s->T, s->h, s->w);
    printf("  sampler     %d steps x %d DiT passes; v = v_u + g (v_c - v_u); z <- step(z, v)\n", o->steps,
           o->cfg > 1 ? 2 : 1);
    printf("  VAE decode  z [%d, %d, %d, %d] -> video [%lld, %lld, %lld, %lld] -> uint8 [%d, %d, %d, 3]\n", s->C,
           s->T, s->h, s->w, (long long)vsh[0], (long long)vsh[1], (long long)vsh[2], (long long)vsh[3], s->F, s->H, s->W);
}

static void row(const char *key, const char *value) { printf("  %-36s %s\n", key, value); }

static void row_flops(const char *key, int64_t v) {
    char b[96];
    row(key, flops_str(v, b, sizeof b));
}

static void row_weights(const ModelDesc *m, int stage, const char *name) {
    int64_t by[DT_COUNT];
    char key[64], b[160], c[32];
    int64_t p = desc_params(&m->w[stage], by);
    snprintf(key, sizeof key, "%s parameters", name), row(key, commas(p, c, sizeof c));
    snprintf(b, sizeof b, "%d", m->w[stage].n);
    snprintf(key, sizeof key, "%s tensors", name), row(key, b);
    snprintf(key, sizeof key, "%s weights", name), row(key, dtype_bytes(by, b, sizeof b));
}

/* With --cache: which passes a step cache can skip is decided during the
 * run, so the DiT FLOPs above are an upper bound; the lower bound skips
 * every pass the rule allows (docs/MODEL.md 3.6). TeaCache always computes
 * the first ret_steps steps and those from its cutoff and skips all blocks
 * of a skipped pass; First-Block-Cache computes the first step and always
 * runs block 0 of every pass; MagCache computes its retention steps (at
 * least the first) and skips all blocks; EasyCache computes its warm-up
 * steps (at least 2, for its rate k) and the last, and a skipped pass runs
 * nothing. */
/* TeaCache's decisions depend on t alone (e and e0 are functions of t), so
 * with the weights they are known before the run: the rule of cache.c run
 * on the time embeddings of the model's schedule (its sampler and shift),
 * with a one-token stand-in for x. MagCache's depend on the step alone:
 * the rule run on its ratios (dit NULL). Fills the passes computed and
 * reused. */
static int cache_plan(const Model *mo, const InfoOpts *o, int dim, int passes, int *computed, int *reused,
                      T2vError *err) {
    Checkpoint ck;
    DiT dit;
    Sampler smp;
    StepCache c;
    SamplerKind kind = SAMPLER_UNIPC;
    int tea = cache_schedule_only(&o->cache), rc = T2V_OK;
    memset(&smp, 0, sizeof smp), memset(&c, 0, sizeof c), memset(&dit, 0, sizeof dit);
    if (tea) {
        sampler_kind_from_name(mo->defaults.sampler, &kind);
        if ((rc = model_load_dit(mo, &ck, &dit, err))) return rc;
        dim = dit.c.dim;
    }
    float *e = (float *)calloc((size_t)dim * 8, sizeof(float)), *e0 = e ? e + dim : NULL, *x = e ? e + 7 * dim : NULL;
    rc = !e ? T2V_ERESOURCE : tea ? sampler_init(&smp, kind, o->steps, mo->defaults.shift, 1, err) : T2V_OK;
    if (!rc) rc = cache_init(&c, &o->cache, o->steps, dim, 1, 1, err);
    for (int i = 0; !rc && i < o->steps; i++) {
        if (tea) rc = dit_time_embedding(&dit, sampler_timestep(&smp, i), e, e0, err);
        for (int b = 0; !rc && b < passes; b++) {
            cache_select(&c, i, b);
            if (!cache_before_blocks(&c, x, e, e0, 1, 1)) cache_after_blocks(&c, x, 1);
        }
    }
    if (!rc) cache_counts(&c, computed, reused);
    cache_free(&c);
    sampler_free(&smp);
    free(e);
    if (tea) dit_free(&dit), ckpt_close(&ck);
    return rc;
}

/* The steps a cache always computes (the lower bound's). */
static int cache_fixed_steps(const StepCache *c, int steps) {
    int k = c->set.kind, fixed;
    if (k == CACHE_FBCACHE) fixed = 1;
    else if (k == CACHE_MAGCACHE_CAL) fixed = steps;
    else if (k == CACHE_EASYCACHE) fixed = (c->ret_steps > 2 ? c->ret_steps : 2) + 1;
    else fixed = (c->ret_steps > 1 ? c->ret_steps : 1) + (steps - c->cutoff > 0 ? steps - c->cutoff : 0);
    return fixed < steps ? fixed : steps;
}

static void print_cache_bounds(const ModelDesc *m, const ClipSize *s, const Flops *f, const InfoOpts *o,
                               int passes) {
    char b[200], fl[96];
    StepCache c;
    T2vError e = {0, {0}};
    int kind = o->cache.kind;
    if (cache_init(&c, &o->cache, o->steps, m->dit.dim, 1, 1, &e)) {
        row("step cache", o->cache_text);
        printf("  (%s)\n", e.msg);
        return;
    }
    int fixed = cache_fixed_steps(&c, o->steps);
    int64_t skipped = kind == CACHE_EASYCACHE ? 0 /* a reused pass runs nothing */
                                              : f->patch + f->time + f->head + (kind == CACHE_FBCACHE ? f->block : 0);
    int64_t low = (int64_t)passes * (fixed * f->dit + (o->steps - fixed) * skipped);
    if (kind == CACHE_TEACACHE || kind == CACHE_TEACACHE_RET)
        snprintf(b, sizeof b, "%s; coefficients %s", o->cache_text, cache_coefficients_name(&o->cache, m->dit.dim));
    else if (kind == CACHE_MAGCACHE)
        snprintf(b, sizeof b, "%s; magnitude ratios %s", o->cache_text, o->cache.n_ratios ? "from the file" :
                 cache_published_ratios_name(m->dit.dim));
    else snprintf(b, sizeof b, "%s", o->cache_text);
    row("step cache", b);
    snprintf(b, sizeof b, "%s (no pass skipped)", flops_str(f->dit * passes * o->steps, fl, sizeof fl));
    row("DiT FLOPs, all steps: upper bound", b);
    snprintf(b, sizeof b, "%s (%d of %d steps skippable; known only during the run)",
             flops_str(low, fl, sizeof fl), o->steps - fixed, o->steps);
    row("DiT FLOPs, all steps: lower bound", b);
    row("memory: step cache buffers (DiT phase)",
        bytes_str(cache_bytes(&o->cache, s->N, m->dit.dim, (int64_t)s->C * s->T * s->h * s->w), b, sizeof b));
    cache_free(&c);
    int computed = 0, reused = 0, step_only = cache_step_only(&o->cache);
    if (!step_only && (!o->mo || !cache_schedule_only(&o->cache))) return;
    if (cache_plan(o->mo, o, m->dit.dim, passes, &computed, &reused, &e)) {
        printf("  (the exact count needs the DiT weights: %s)\n", e.msg);
        return;
    }
    if (step_only)
        snprintf(b, sizeof b, "%s (%d of %d passes computed: MagCache decides from its ratios alone)",
                 flops_str((int64_t)computed * f->dit + (int64_t)reused * skipped, fl, sizeof fl), computed,
                 computed + reused);
    else
        snprintf(b, sizeof b, "%s (%d of %d passes computed: TeaCache decides from t alone; %s, shift %g)",
                 flops_str((int64_t)computed * f->dit + (int64_t)reused * skipped, fl, sizeof fl), computed,
                 computed + reused, o->mo->defaults.sampler, o->mo->defaults.shift);
    row("DiT FLOPs, all steps: this schedule", b);
}

/* With --ranks N: what each MPI rank computes and sends (dist.h: guidance
 * pairs with guidance and an even count; the P ranks of a branch split the
 * DiT's tokens on the granule and the self-attention heads; every rank maps
 * the whole model). The busiest rank: the most tokens and the most
 * attention work (an upper bound: they may be two ranks); the
 * cross-attention keys and values and the time embedding are computed by
 * every rank. Sends per DiT pass of member g with n_g tokens, c_g = its
 * heads' columns and its queries Q_g (dit_part_attention), per block: to
 * the others q of their queries among its rows and k, v of its rows in
 * their heads' columns; the attention output of its heads for the others'
 * rows among Q_g; and its velocity rows to each other rank. */
static void print_ranks(const ModelDesc *m, const ClipSize *s, const InfoOpts *o, const Flops *f, int64_t dit_all,
                        int passes) {
    char b[240];
    const DiTConfig *c = &m->dit;
    int paired = passes == 2 && o->ranks % 2 == 0, P = paired ? o->ranks / 2 : o->ranks, H = c->num_heads;
    int N = s->N, D = c->dim, G = gemm_grid_granule() > 0 ? gemm_grid_granule() : DIST_GRANULE, a, e, h0, h1, q0, q1;
    int Ko = c->out_dim * c->patch_t * c->patch_h * c->patch_w, L = c->num_layers;
    int n0 = 0, hmax = 0, empty = 0, hd = D / H;
    double attn = 1.0;     /* the largest share of the self-attention work */
    int64_t sent_pass = 0, bufmax = 0; /* the most any member sends; its exchange buffer */
    for (int g = 0; g < P && P > 1; g++) {
        dit_token_range(N, P, g, G, &a, &e);
        dit_part_attention(H, N, P, g, &h0, &h1, &q0, &q1);
        int64_t n = e - a, cg = (int64_t)(h1 - h0) * hd, lo = a > q0 ? a : q0, hi = e < q1 ? e : q1;
        int64_t own = hi > lo ? hi - lo : 0; /* its rows among its queries */
        int64_t sent = P <= H ? 3 * n * (D - cg) + (N - n) * cg          /* every query: the heads' columns */
                              : hd * (n * H - own + 2 * n * (P - 1)) + cg * (q1 - q0 - own);
        int64_t recv = P <= H ? 3 * (int64_t)N * cg : hd * (2 * (int64_t)N + (q1 - q0)), buf = n * D;
        buf = sent > buf ? sent : buf, buf = recv > buf ? recv : buf; /* floats, each direction */
        bufmax = buf > bufmax ? buf : bufmax;
        sent = sent * 4 * L + n * Ko * 4 * (P - 1);
        double w = (double)(h1 - h0) * (q1 - q0) / ((double)H * N);
        attn = g == 0 || w > attn ? w : attn;
        n0 = (int)n > n0 ? (int)n : n0, hmax = h1 - h0 > hmax ? h1 - h0 : hmax, empty += e == a;
        sent_pass = sent > sent_pass ? sent : sent_pass;
    }
    if (P <= 1) n0 = N, hmax = H;
    int64_t latent = (int64_t)s->C * s->T * s->h * s->w * 4;
    int64_t tokenwise = f->patch + f->head + (f->self_proj + f->cross_proj + f->cross_attn + f->ffn) * L;
    double pass = (double)(f->time + f->cross_kv * L) + (double)tokenwise * n0 / N + (double)f->self_attn * L * attn;
    int64_t branch = paired ? dit_all / 2 : dit_all;
    int64_t per_rank = (int64_t)((double)branch * pass / (double)(f->dit > 0 ? f->dit : 1));
    if (P > H)
        snprintf(b, sizeof b, "%d: %s; %d split each branch's pass: tokens on granules of %d (T2V_GEMM_ROWS), "
                 "each of the %d heads' queries over %d or %d ranks", o->ranks, paired ? "guidance pairs" :
                 "every rank computes every branch", P, G, H, P / H, (P + H - 1) / H);
    else if (P > 1)
        snprintf(b, sizeof b, "%d: %s; %d split each branch's pass: tokens on granules of %d (T2V_GEMM_ROWS), %d "
                 "to %d heads each", o->ranks, paired ? "guidance pairs" : "every rank computes every branch", P, G,
                 H / P, hmax);
    else
        snprintf(b, sizeof b, "%d: guidance pairs; each rank computes its branch whole", o->ranks);
    row("MPI ranks", b);
    snprintf(b, sizeof b, "%d of %d (%d ranks of each branch get no tokens)", n0, N, empty);
    row("DiT tokens, busiest rank", P > 1 ? b : "all");
    row_flops("DiT FLOPs, busiest rank, all steps", per_rank);
    snprintf(b, sizeof b, "%lld bytes (one velocity) + 16", (long long)latent);
    row("sent per rank per step, guidance", paired ? b : "0");
    snprintf(b, sizeof b, "%lld bytes per pass (all-to-all of q, k, v and of the attention output, %d blocks; "
             "velocity rows) x %d passes", (long long)sent_pass, L, paired ? 1 : passes);
    row("sent per rank per step, tokens", P > 1 ? b : "0");
    snprintf(b, sizeof b, "%lld bytes (its context) + 16, once", (long long)s->L * m->t5.dim * 4);
    row("sent per rank, text encoder", paired ? b : "0");
    if (P <= H && H % P) row("note", "the heads do not split evenly: the ranks with more set the pace of self-attention");
    snprintf(b, sizeof b, "as one process (each rank maps the model files; full-size token buffers) + %.2f GiB of "
             "exchange buffers", 2.0 * (double)bufmax * 4 / (1 << 30));
    row("memory per rank", b);
}

/* Causal generation (docs/ARCHITECTURE.md 10c): blocks, the key/value
 * cache's size (the DiT phase's memory: one block's activations and the
 * cache, cost_memory_causal) and the DiT FLOPs of the
 * block passes, each counted as attending to the full window (an upper
 * bound: early blocks see fewer frames). Returns those FLOPs. */
static int64_t print_causal(const ModelDesc *m, const ClipSize *s, const SamplingSettings *ls, int steps,
                            MemEstimate *me) {
    const CausalSettings *cs = &ls->causal;
    int nb = s->T / cs->block, kept = causal_window_frames(cs, s->T), per = s->N / (s->f > 0 ? s->f : 1);
    char b[128];
    ClipSize bc;
    Flops fb;
    cost_size(&bc, m, s->W, s->H, 1 + m->vae.scale_t * (cs->block - 1), s->L);
    cost_flops(m, &bc, &fb);
    int64_t pass = fb.dit + (int64_t)m->dit.num_layers * fb.self_attn * (kept - cs->block) / cs->block;
    int64_t npass = (int64_t)nb * (steps + 1) - 1; /* no clean pass after the last block */
    double cache = 8.0 * m->dit.num_layers * kept * per * m->dit.dim; /* as cost_memory_causal counts it */
    snprintf(b, sizeof b, "%d blocks of %d latent frames, %d steps + 1 clean pass each", nb, cs->block, steps);
    row("causal generation", b);
    snprintf(b, sizeof b, "%d latent frames (%d sink), ", kept, cs->sink);
    bytes_str(cache, b + strlen(b), sizeof b - strlen(b));
    row("key/value cache (fp32)", b);
    row_flops("DiT FLOPs per block pass", pass);
    row_flops("DiT FLOPs, all passes (upper bound)", pass * npass);
    cost_memory_causal(m, s, cs->block, kept, me);
    return pass * npass;
}

/* The table of docs/ARCHITECTURE.md: "  key  value" lines. */
static void print_summary(const ModelDesc *m, const ClipSize *s, const InfoOpts *o) {
    Flops f;
    MemEstimate me;
    cost_flops(m, s, &f);
    cost_memory(m, s, &me);
    char b[128];
    int passes = o->cfg > 1 && !o->lv.settings.causal.block ? 2 : 1; /* causal students: unguided */
    printf("\nsummary\n");
    snprintf(b, sizeof b, "%dx%d, %d frames", s->W, s->H, s->F), row("size (W x H, frames)", b);
    snprintf(b, sizeof b, "[%d, %d, %d, %d]", s->C, s->T, s->h, s->w), row("latent [C, T, h, w]", b);
    snprintf(b, sizeof b, "%d x %d x %d", s->f, s->hp, s->wp), row("patch grid (f x h x w)", b);
    snprintf(b, sizeof b, "%d", s->N), row("DiT tokens N", b);
    snprintf(b, sizeof b, "%d", s->L), row("text tokens L (T5 input)", b);
    snprintf(b, sizeof b, "%d", m->dit.text_len), row("text_len (cross-attention keys)", b);
    snprintf(b, sizeof b, "%d / %d / %d / %d", m->dit.dim, m->dit.ffn_dim, m->dit.num_heads, m->dit.num_layers);
    row("DiT dim / ffn / heads / layers", b);
    row_weights(m, STAGE_DIT, "DiT");
    row_weights(m, STAGE_T5, "T5");
    row_weights(m, STAGE_VAE, "VAE");
    row_flops("T5 FLOPs per prompt", f.t5);
    row_flops("text_embedding FLOPs per prompt", f.text_embedding);
    row_flops("DiT FLOPs per block", f.block);
    row_flops("DiT FLOPs per forward", f.dit);
    snprintf(b, sizeof b, "%d, cfg %g: %d DiT passes per step", o->steps, o->cfg, passes);
    row("sampling steps", b);
    row_flops("DiT FLOPs per step", f.dit * passes);
    row_flops("DiT FLOPs, all steps", f.dit * passes * o->steps);
    if (o->cache.kind != CACHE_NONE) print_cache_bounds(m, s, &f, o, passes);
    row_flops("VAE decode FLOPs", f.vae_decode);
    int64_t dit_all = f.dit * passes * o->steps;
    const SamplingSettings *ls = &o->lv.settings;
    if (window_active(&ls->window, s->T)) { /* each pass on windows of the clip (docs/ARCHITECTURE.md) */
        ClipSize wc;
        Flops fw;
        long wp = window_passes(&ls->window, s->T, o->steps);
        cost_size(&wc, m, s->W, s->H, 1 + m->vae.scale_t * (ls->window.frames - 1), s->L);
        cost_flops(m, &wc, &fw);
        snprintf(b, sizeof b, "%d latent frames (%d frames), overlap %d, %s", ls->window.frames, wc.F,
                 ls->window.overlap, window_schedule_name(ls->window.schedule));
        row("context windows", b);
        snprintf(b, sizeof b, "%ld over %d steps (%.2f per step)", wp, o->steps, (double)wp / o->steps);
        row("windows per guidance branch", b);
        row_flops("DiT FLOPs per window pass", fw.dit);
        dit_all = fw.dit * passes * (int64_t)wp;
        row_flops("DiT FLOPs, all steps, windowed", dit_all);
        cost_memory_windowed(m, s, ls->window.frames, window_chained(&ls->window, s->T), &me);
    }
    if (ls->riflex_k) {
        snprintf(b, sizeof b, "time RoPE component %d at 0.9 x 2 pi / %d", ls->riflex_k, s->T);
        row("RIFLEx", b);
    }
    if (ls->causal.block) dit_all = print_causal(m, s, ls, o->steps, &me);
    int64_t total = dit_all + f.vae_decode + passes * (f.t5 + f.text_embedding);
    row_flops(o->cache.kind != CACHE_NONE ? "total FLOPs per video (upper bound)" : "total FLOPs per video", total);
    if (o->ranks > 1) print_ranks(m, s, o, &f, dit_all, passes);
    row("memory: text encoder phase", bytes_str(me.text, b, sizeof b));
    row("memory: DiT phase", bytes_str(me.dit, b, sizeof b));
    row("memory: VAE phase", bytes_str(me.vae, b, sizeof b));
    row("memory estimate (peak)", bytes_str(me.peak, b, sizeof b));
}

/* ----------------------------------------------------------------------------
 * Options and the command */

static int parse_info_opts(InfoOpts *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    o->steps = -1, o->tokens = -1, o->cfg = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long iv;
        if (!strcmp(a, "--full")) { o->full = 1; continue; }
        if (parse_model_flag(&o->margs, a)) continue;
        if (a[0] != '-' && !o->model && !o->config) { o->model = a; continue; }
        if (!v) return usage_error("info: option '%s' needs a value (or is unknown)", a);
        i++;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--config")) o->config = v;
        else if ((iv = parse_model_opt(&o->margs, a, v)) != 0) {
            if (iv < 0) return T2V_EUSAGE;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "-W") || !strcmp(a, "--width")) o->width = v;
        else if (!strcmp(a, "-H") || !strcmp(a, "--height")) o->height = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--frames")) o->frames = v;
        else if (!strcmp(a, "--steps")) {
            if (parse_int(v, 1, 1000, &iv)) return usage_error("--steps must be an integer in 1..1000, not '%s'", v);
            o->steps = (int)iv;
        } else if (!strcmp(a, "--tokens")) {
            if (parse_int(v, 1, 4096, &iv)) return usage_error("--tokens must be an integer in 1..4096, not '%s'", v);
            o->tokens = (int)iv;
        } else if (!strcmp(a, "--ranks")) {
            if (parse_int(v, 1, 65536, &iv)) return usage_error("--ranks must be an integer in 1..65536, not '%s'", v);
            o->ranks = (int)iv;
        } else if (!strcmp(a, "--cfg")) {
            if (parse_double(v, &o->cfg) || o->cfg < 0 || o->cfg > 100) return usage_error("--cfg must be in [0, 100], not '%s'", v);
        } else if (!strcmp(a, "--cache")) {
            T2vError e = {0, {0}};
            if (cache_parse(v, &o->cache, &e)) return usage_error("%s", e.msg);
            o->cache_text = v;
        } else if (!strcmp(a, "--context-window") || !strcmp(a, "--context-overlap") ||
                   !strcmp(a, "--context-schedule") || !strcmp(a, "--riflex") || !strcmp(a, "--causal-block") ||
                   !strcmp(a, "--causal-window") || !strcmp(a, "--causal-sink")) {
            int k = parse_sampling_opt(&o->lv, a, v);
            if (k < 0) return T2V_EUSAGE;
            if (k == 0) return usage_error("info: unknown option '%s'", a);
        } else return usage_error("info: unknown option '%s'", a);
    }
    if (!o->model == !o->config)
        return usage_error("%s", "info: usage: t2v info (--model DIR | --config config.json) [-W N -H N -f N] "
                                 "[--steps N] [--cfg G] [--cache KIND:THRESH] [--tokens L | -p PROMPT] [--full]");
    return T2V_OK;
}

/* One of -W -H -f: an integer in lo..hi, a multiple of `mult` plus `plus`. */
static int size_opt(const char *v, const char *name, long lo, long hi, int mult, int plus, int *out) {
    long iv;
    char fmt[96];
    if (!v) return T2V_OK;
    if (parse_int(v, lo, hi, &iv) || (iv - plus) % mult) {
        if (plus) snprintf(fmt, sizeof fmt, "--%s must be %dk+%d, not '%%s'", name, mult, plus);
        else snprintf(fmt, sizeof fmt, "--%s must be a multiple of %d, not '%%s'", name, mult);
        return usage_error(fmt, v);
    }
    *out = (int)iv;
    return T2V_OK;
}

/* -W -H -f against the model: W, H multiples of the VAE's spatial stride
 * times the DiT's patch, F = 1 + scale_t k (16, 16 and 4k+1 for Wan2.1). */
static int size_opts(InfoOpts *o, const ModelDesc *m) {
    int sw = m->vae.scale_s * m->dit.patch_w, sh = m->vae.scale_s * m->dit.patch_h, st = m->vae.scale_t;
    int rc = size_opt(o->width, "width", sw, 16384, sw, 0, &o->W);
    if (!rc) rc = size_opt(o->height, "height", sh, 16384, sh, 0, &o->H);
    if (!rc) rc = size_opt(o->frames, "frames", 1, 1 + st * 1024, st, 1, &o->F);
    return rc;
}

/* Settings not given: the model's t2v.json, else Wan2.1's (docs/MODEL.md 1.3); L
 * is the prompt's token count with -p, else text_len. */
static int fill_defaults(InfoOpts *o, const Model *mo, const ModelDesc *m, int *L, T2vError *err) {
    const DiTConfig *c = &m->dit;
    const ModelDefaults *d = &mo->defaults;
    int s = m->vae.scale_s;
    if (!o->W) o->W = d->width;
    if (!o->H) o->H = d->height;
    if (!o->F) o->F = d->frames;
    if (o->steps < 0) o->steps = d->steps;
    if (o->cfg < 0) o->cfg = d->cfg;
    *L = o->tokens > 0 ? o->tokens : c->text_len;
    int rc = T2V_OK;
    if (o->prompt) {
        if (!mo->paths.tokenizer) return t2v_fail(err, T2V_EUSAGE, "info: -p needs a model directory with a tokenizer");
        Tokenizer tk;
        int32_t *ids = NULL;
        if ((rc = model_load_tokenizer(mo, &tk, err))) return rc;
        rc = tokenizer_encode_wan(&tk, o->prompt, c->text_len, &ids, L, err);
        free(ids);
        tokenizer_free(&tk);
    }
    if (!rc && ((o->H / s) % c->patch_h || (o->W / s) % c->patch_w))
        rc = t2v_fail(err, T2V_EUSAGE, "size %dx%d: width and height must be multiples of %d", o->W, o->H, s * c->patch_w);
    return rc;
}

int cmd_info_model(int argc, char **argv) {
    InfoOpts o;
    int rc = parse_info_opts(&o, argc, argv);
    if (rc) return rc;
    T2vError e = {0, {0}};
    Model mo;
    ModelDesc m;
    memset(&mo, 0, sizeof mo);
    memset(&m, 0, sizeof m);
    if (o.model) {
        if ((rc = model_open_with(&mo, o.model, &o.margs.o,
                                  MODEL_NEED_CONFIG | MODEL_NEED_DIT | MODEL_NEED_T5 | MODEL_NEED_VAE, &e)))
            return die(&e);
        rc = model_desc_from_model(&m, &mo, &e);
    } else {
        DiTConfig c;
        rc = dit_config_read(&c, o.config, &e);
        model_family_settings(&mo.defaults, !rc && c.in_dim == 48 ? MODEL_WAN22_TI2V : MODEL_WAN21);
        if (!rc) rc = model_desc_from_config(&m, &c, &e);
        if (!rc) mo.dit = c, mo.has_dit = 1;
    }
    int urc = rc ? T2V_OK : size_opts(&o, &m); /* a usage error, printed */
    if (!rc && !urc && cache_check(&o.cache, m.dit.dim, &e)) urc = usage_error("%s", e.msg);
    if (urc) {
        model_desc_free(&m);
        model_close(&mo);
        return urc;
    }
    if (!rc && o.model) {
        const ModelPaths mp = mo.paths;
        printf("model directory %s (%s layout)\n", o.model, mo.diffusers ? "diffusers" : "official Wan2.1");
        const char *files[] = {mp.config, mp.dit, mp.t5, mp.vae, mp.tokenizer, mp.defaults};
        const char *what[] = {"config", "DiT", "text encoder", "VAE", "tokenizer", "t2v defaults"};
        for (int i = 0; i < 6; i++) printf("  %-13s %s\n", what[i], files[i] ? files[i] : "(missing)");
        printf("  %-13s %s\n", "family", model_family_name(mo.family));
        if (mo.family == MODEL_WAN22_A14B) /* the tree and costs below are the high-noise expert's */
            printf("  %-13s %s (the same shapes; one expert runs per step, the tree below is the "
                   "high-noise one's)\n", "low-noise", mp.dit_low);
    } else if (!rc) {
        printf("config %s: DiT F32, umT5-XXL BF16, %s F32 (the official files, docs/MODEL.md 6.1)\n", o.config,
               m.vae.grouped ? "Wan2.2 VAE" : "Wan VAE");
        printf("  family        %s\n", m.dit.in_dim == 48 ? model_family_name(MODEL_WAN22_TI2V)
                                       : "Wan2.1 T2V, or one expert of Wan2.2 T2V-A14B (the same shapes)");
    }
    if (!rc) /* this machine (docs/ARCHITECTURE.md, Threading) */
        printf("compute: gemm %s, kernels %s, %d threads by default (physical cores)\n", gemm_backend(),
               blas_core_name(), platform_default_threads());
    if (!rc)
        printf("arithmetic: fp32 GEMM %s; --precision bf16 kernel on this CPU: %s\n", gemm_backend(),
               !strcmp(bf16_kernel_name(), "portable") ? "portable (plain C, the same bits)"
                                                       : "avx512-bf16 (vdpbf16ps)");
    int L = 0;
    if (!rc) rc = fill_defaults(&o, &mo, &m, &L, &e);
    if (!rc) {
        ClipSize s;
        Flops f;
        cost_size(&s, &m, o.W, o.H, o.F, L);
        cost_flops(&m, &s, &f);
        if (o.lv.causal_block) /* a causal student: the distill sampler, unguided */
            o.lv.settings.sampler = SAMPLER_DISTILL, o.lv.settings.cfg = 1.0, o.cfg = 1.0;
        if ((rc = long_video_settings(&o.lv, &mo, s.T, &e))) {
            model_desc_free(&m);
            model_close(&mo);
            return die(&e);
        }
        printf("\nthe model as a tree: stage > block > layer (FLOPs for %dx%d, %d frames)\n", o.W, o.H, o.F);
        for (int st = 0; st < STAGE_COUNT; st++) print_stage(&m, st, &s, &f, o.full);
        print_walkthrough(&m, &s, &o);
        if (o.model) o.mo = &mo;
        print_summary(&m, &s, &o);
    }
    model_desc_free(&m);
    model_close(&mo);
    return rc ? die(&e) : 0;
}
