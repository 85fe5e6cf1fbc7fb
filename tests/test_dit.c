/*
 * test_dit.c: WanModel (ref/dit.c) against the float64 PyTorch reference
 * (tools/reference/dit.py, goldens written by tools/golden_dit.py):
 *   - config.json parsing and refusals;
 *   - the tiny 2-layer model, two latents (one with odd sizes), every traced
 *     intermediate (patch, e, e0, context_emb, block.N, head) and the velocity;
 *   - float time: t = 737.25, one t per token (latent frame 0 at t = 0, the
 *     others 812.5; every token a different t), bad timestep counts refused;
 *   - one-layer checkpoints in the official layout: F32, sharded with an
 *     index, BF16 with the "model.diffusion_model." prefix;
 *   - missing / misshapen tensors refused with their names;
 *   - one block at full T2V-1.3B width (weights from the shared PRNG).
 * Tolerances: golden/README.md, section dit.
 */
#include "harness.h"

#include "../ref/lib/dit.h"
#include "../ref/lib/json.h"
#include "../ref/lib/model.h"
#include "../ref/lib/ops.h"
#include "../ref/lib/platform.h"

#define TOL_TINY 1e-5
#define COS_TINY 0.9999999
#define TOL_FULL 2e-5
#define COS_FULL 0.9999999

/* ---------------------------------------------------------------------------
 * Helpers */
static int load_config(DiTConfig *c, const char *path, T2vError *e) {
    MappedFile f;
    int rc = platform_map_file(&f, path, e);
    if (rc) return rc;
    char msg[256];
    JsonValue *j = json_parse((const char *)f.data, f.size, msg, sizeof msg);
    platform_unmap_file(&f);
    if (!j) return t2v_fail(e, T2V_EINPUT, "%s: %s", path, msg);
    rc = dit_config_from_json(c, j, path, e);
    json_free(j);
    return rc;
}

static int parse_config_text(DiTConfig *c, const char *text, T2vError *e) {
    char msg[256];
    JsonValue *j = json_parse(text, strlen(text), msg, sizeof msg);
    if (!j) return t2v_fail(e, T2V_EINPUT, "json: %s", msg);
    int rc = dit_config_from_json(c, j, "test.json", e);
    json_free(j);
    return rc;
}

/* Trace hook: compares each named intermediate with the golden of that name. */
typedef struct {
    const SafeTensors *golden;
    double tol, min_cos;
    const char *tag;
    int seen;
} TraceCheck;

static void trace_compare(void *user, const char *name, const float *x, int64_t n) {
    TraceCheck *tc = (TraceCheck *)user;
    const Tensor *t = tl_find(&tc->golden->tensors, name);
    if (!t) return; /* not dumped for this case */
    char what[96];
    snprintf(what, sizeof what, "%s %s", tc->tag, name);
    if (tensor_numel(t) != n) {
        CHECK(0, "%s: %lld values, golden has %lld", what, (long long)n,
              (long long)tensor_numel(t));
        return;
    }
    float *ref = tensor_to_f32_alloc(t, NULL);
    check_close(what, x, ref, n, tc->tol, tc->min_cos);
    free(ref);
    tc->seen++;
}

/* Runs a case file (latent, timestep, context -> velocity and intermediates). */
/* min_traced: how many intermediates the golden holds (0: no trace). */
static void run_case(DiT *m, const char *path, const char *tag, const char *vel_name, double tol,
                     double min_cos, int min_traced) {
    SafeTensors g;
    if (!golden_open(&g, path)) return;
    const Tensor *lat = tl_find(&g.tensors, "latent");
    int64_t nl, nc, nt, nv;
    float *latent = golden_f32(&g, "latent", &nl), *ctx = golden_f32(&g, "context", &nc);
    float *ts = golden_f32(&g, "timestep", &nt), *vref = golden_f32(&g, vel_name, &nv);
    if (!lat || !latent || !ctx || !ts || !vref) goto done;
    int T = (int)lat->shape[1], H = (int)lat->shape[2], W = (int)lat->shape[3];
    int L = (int)(nc / m->c.text_dim);
    float *vel = calloc((size_t)nv, sizeof(float));
    TraceCheck tc = {&g, tol, min_cos, tag, 0};
    m->trace = min_traced ? trace_compare : NULL;
    m->trace_user = &tc;
    T2vError e = {0, {0}};
    int rc = dit_forward(m, latent, T, H, W, ts, (int)nt, ctx, L, vel, &e);
    m->trace = NULL;
    CHECK(rc == T2V_OK, "%s forward [%d,%d,%d] L=%d t=%g%s: %s", tag, T, H, W, L, (double)ts[0],
          nt > 1 ? " (one per token)" : "", rc ? e.msg : "ok");
    if (min_traced) CHECK(tc.seen == min_traced, "%s: %d intermediates compared", tag, tc.seen);
    char what[96];
    snprintf(what, sizeof what, "%s %s", tag, vel_name);
    check_close(what, vel, vref, nv, tol, min_cos);
    free(vel);
done:
    free(latent); free(ctx); free(ts); free(vref);
    st_close(&g);
}

/* ---------------------------------------------------------------------------
 * config.json */
static void test_config(void) {
    DiTConfig c;
    T2vError e = {0, {0}};
    int rc = load_config(&c, "golden/models/dit-1layer/config.json", &e);
    CHECK(rc == 0 && c.dim == 32 && c.ffn_dim == 64 && c.num_heads == 2 && c.num_layers == 1 &&
              c.text_dim == 32 && c.text_len == 512 && c.freq_dim == 256 && c.in_dim == 16 &&
              c.out_dim == 16 && c.patch_t == 1 && c.patch_h == 2 && c.patch_w == 2 &&
              c.eps == 1e-6f,
          "config.json of dit-1layer: %s", rc ? e.msg : "fields as written");
    /* the official 1.3B config.json, verbatim keys (docs/MODEL.md 1.2) */
    rc = parse_config_text(&c, "{\"_class_name\": \"WanModel\", \"_diffusers_version\": \"0.30.0\","
                               " \"dim\": 1536, \"eps\": 1e-06, \"ffn_dim\": 8960, \"freq_dim\": 256,"
                               " \"in_dim\": 16, \"model_type\": \"t2v\", \"num_heads\": 12,"
                               " \"num_layers\": 30, \"out_dim\": 16, \"text_len\": 512}", &e);
    CHECK(rc == 0 && c.dim == 1536 && c.num_layers == 30 && c.text_dim == 4096 &&
              c.patch_h == 2 && c.text_len == 512,
          "official 1.3B config.json (text_dim defaults to 4096)");
    rc = parse_config_text(&c, "{\"dim\": 64, \"ffn_dim\": 8, \"num_heads\": 4, \"num_layers\": 1,"
                               " \"model_type\": \"i2v\"}", &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "model_type"), "i2v refused: %s", e.msg);
    rc = parse_config_text(&c, "{\"ffn_dim\": 8, \"num_heads\": 4, \"num_layers\": 1}", &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "\"dim\""), "missing dim refused: %s", e.msg);
    rc = parse_config_text(&c, "{\"dim\": 60, \"ffn_dim\": 8, \"num_heads\": 8, \"num_layers\": 1}", &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "heads"), "dim 60 / 8 heads refused: %s", e.msg);
    rc = parse_config_text(&c, "{\"dim\": 64, \"ffn_dim\": -3, \"num_heads\": 4, \"num_layers\": 1}", &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "ffn_dim"), "negative ffn_dim refused: %s", e.msg);
}

/* ---------------------------------------------------------------------------
 * Tiny 2-layer model, every intermediate */
static void test_tiny(void) {
    DiTConfig c;
    T2vError e = {0, {0}};
    SafeTensors w;
    if (load_config(&c, "golden/dit/tiny_config.json", &e)) {
        CHECK(0, "tiny config: %s", e.msg);
        return;
    }
    if (!golden_open(&w, "golden/dit/tiny_weights.safetensors")) return;
    DiT m;
    int rc = dit_build(&m, &c, &w.tensors, &e);
    CHECK(rc == 0, "build tiny DiT (dim %d, %d layers, %d heads): %s", c.dim, c.num_layers,
          c.num_heads, rc ? e.msg : "ok");
    if (rc) { st_close(&w); return; }
    run_case(&m, "golden/dit/tiny_a.safetensors", "tiny_a", "velocity", TOL_TINY, COS_TINY, 7);
    run_case(&m, "golden/dit/tiny_b.safetensors", "tiny_b", "velocity", TOL_TINY, COS_TINY, 7);

    /* the embedded context, computed once, gives the same bits */
    SafeTensors g;
    if (golden_open(&g, "golden/dit/tiny_a.safetensors")) {
        int64_t nl, nc, nv;
        float *lat = golden_f32(&g, "latent", &nl), *ctx = golden_f32(&g, "context", &nc);
        float *ts = golden_f32(&g, "timestep", NULL);
        float *emb = malloc(sizeof(float) * (size_t)c.text_len * c.dim);
        nv = nl;
        float *v1 = malloc(sizeof(float) * (size_t)nv), *v2 = malloc(sizeof(float) * (size_t)nv);
        int L = (int)(nc / c.text_dim);
        rc = dit_embed_context(&m, ctx, L, emb, &e);
        rc |= dit_forward_embedded(&m, lat, 3, 8, 8, ts, 1, emb, v1, &e);
        rc |= dit_forward(&m, lat, 3, 8, 8, ts, 1, ctx, L, v2, &e);
        CHECK(rc == 0 && memcmp(v1, v2, sizeof(float) * (size_t)nv) == 0,
              "dit_embed_context + dit_forward_embedded == dit_forward, bit for bit");
        /* the same bits for any thread count (docs/ARCHITECTURE.md, Threading):
         * OpenBLAS runs one single-threaded call per tile of a grid fixed by
         * the shape, so this holds for both GEMM backends */
        platform_set_threads(1);
        rc = dit_forward(&m, lat, 3, 8, 8, ts, 1, ctx, L, v2, &e);
        static const int counts[] = {2, 3, 5, 16};
        int same = 1;
        for (int i = 0; i < 4; i++) {
            platform_set_threads(counts[i]);
            rc |= dit_forward(&m, lat, 3, 8, 8, ts, 1, ctx, L, v1, &e);
            same &= memcmp(v1, v2, sizeof(float) * (size_t)nv) == 0;
        }
        platform_set_threads(platform_default_threads());
        CHECK(rc == 0 && same, "1 thread and 2, 3, 5, 16 threads give the same bits (gemm: %s)", gemm_backend());
        rc = dit_forward(&m, lat, 3, 7, 8, ts, 1, ctx, L, v2, &e);
        CHECK(rc == T2V_EINPUT && strstr(e.msg, "patch"), "odd H refused: %s", e.msg);
        rc = dit_forward(&m, lat, 3, 8, 8, ts, 1, ctx, c.text_len + 1, v2, &e);
        CHECK(rc == T2V_EINPUT && strstr(e.msg, "text_len"), "context longer than text_len refused: %s",
              e.msg);
        free(lat); free(ctx); free(ts); free(emb); free(v1); free(v2);
        st_close(&g);
    }
    dit_free(&m);

    /* missing and misshapen tensors are refused by name */
    TensorList tl = {0};
    for (int i = 0; i < w.tensors.n; i++)
        if (strcmp(w.tensors.names[i], "blocks.1.norm3.bias"))
            tl_add(&tl, w.tensors.names[i], &w.tensors.tensors[i], "tiny_weights", &e);
    rc = dit_build(&m, &c, &tl, &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "blocks.1.norm3.bias"), "missing tensor: %s", e.msg);
    for (int i = 0; i < tl.n; i++) tl.tensors[i].owned = 0;
    tl_free(&tl);
    DiTConfig c2 = c;
    c2.ffn_dim = 96;
    rc = dit_build(&m, &c2, &w.tensors, &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "blocks.0.ffn.0.weight") && strstr(e.msg, "96"),
          "ffn_dim mismatch: %s", e.msg);
    st_close(&w);
}

/* ---------------------------------------------------------------------------
 * Float time: a fractional t, one t per token */
static void test_time(void) {
    DiTConfig c;
    T2vError e = {0, {0}};
    SafeTensors w;
    if (load_config(&c, "golden/dit/tiny_config.json", &e)) { CHECK(0, "tiny config: %s", e.msg); return; }
    if (!golden_open(&w, "golden/dit/tiny_weights.safetensors")) return;
    DiT m;
    int rc = dit_build(&m, &c, &w.tensors, &e);
    CHECK(rc == 0, "build tiny DiT: %s", rc ? e.msg : "ok");
    if (rc) { st_close(&w); return; }
    run_case(&m, "golden/dit/tiny_t_frac.safetensors", "t=737.25", "velocity", TOL_TINY, COS_TINY, 7);
    run_case(&m, "golden/dit/tiny_t_frames.safetensors", "t per token (frame 0: 0, else 812.5)", "velocity",
             TOL_TINY, COS_TINY, 7);
    CHECK(m.s.n_times == 2, "frames case: 2 distinct t, 2 rows of time tables (%d)", m.s.n_times);
    run_case(&m, "golden/dit/tiny_t_tokens.safetensors", "t per token (all distinct)", "velocity", TOL_TINY,
             COS_TINY, 7);
    CHECK(m.s.n_times == 30, "tokens case: 30 distinct t, 30 rows (%d)", m.s.n_times);

    /* one t repeated for every token = that t given once, bit for bit; a
     * frame's tokens get the bits of the whole latent at that frame's t */
    SafeTensors g;
    if (golden_open(&g, "golden/dit/tiny_a.safetensors")) {
        int64_t nl, nc;
        float *lat = golden_f32(&g, "latent", &nl), *ctx = golden_f32(&g, "context", &nc);
        float *ts = golden_f32(&g, "timestep", NULL);
        int L = (int)(nc / c.text_dim), N = 3 * 4 * 4;
        float *v1 = malloc(sizeof(float) * (size_t)nl), *v2 = malloc(sizeof(float) * (size_t)nl);
        float *tt = malloc(sizeof(float) * (size_t)N);
        for (int i = 0; i < N; i++) tt[i] = ts[0];
        rc = dit_forward(&m, lat, 3, 8, 8, ts, 1, ctx, L, v1, &e);
        rc |= dit_forward(&m, lat, 3, 8, 8, tt, N, ctx, L, v2, &e);
        CHECK(rc == 0 && m.s.n_times == 1 && memcmp(v1, v2, sizeof(float) * (size_t)nl) == 0,
              "t = %g for each of %d tokens == t given once, bit for bit (1 row)", (double)ts[0], N);
        /* distinct values: each row computed as if alone (0 and -0 are two rows) */
        for (int i = 0; i < N; i++) tt[i] = i % 3 == 0 ? 0.0f : i % 3 == 1 ? -0.0f : 500.0f;
        rc = dit_forward(&m, lat, 3, 8, 8, tt, N, ctx, L, v2, &e);
        CHECK(rc == 0 && m.s.n_times == 3, "t in {0, -0, 500}: 3 rows (%d)", m.s.n_times);
        /* refusals */
        rc = dit_forward(&m, lat, 3, 8, 8, tt, 2, ctx, L, v2, &e);
        CHECK(rc == T2V_EINPUT && strstr(e.msg, "2 timesteps for 48 tokens"), "nt = 2 refused: %s", e.msg);
        rc = dit_forward(&m, lat, 3, 8, 8, tt, N + 1, ctx, L, v2, &e);
        CHECK(rc == T2V_EINPUT && strstr(e.msg, "expected 1"), "nt = N + 1 refused: %s", e.msg);
        rc = dit_forward(&m, lat, 3, 8, 8, NULL, 1, ctx, L, v2, &e);
        CHECK(rc == T2V_EINPUT, "t NULL refused: %s", e.msg);
        tt[5] = NAN;
        rc = dit_forward(&m, lat, 3, 8, 8, tt, N, ctx, L, v2, &e);
        CHECK(rc == T2V_EINPUT && strstr(e.msg, "finite"), "NaN t refused: %s", e.msg);
        tt[0] = INFINITY;
        rc = dit_forward(&m, lat, 3, 8, 8, tt, 1, ctx, L, v2, &e);
        CHECK(rc == T2V_EINPUT && strstr(e.msg, "finite"), "infinite t refused: %s", e.msg);
        free(lat); free(ctx); free(ts); free(v1); free(v2); free(tt);
        st_close(&g);
    }
    /* the per-token case gives the same bits for any thread count (both backends) */
    if (golden_open(&g, "golden/dit/tiny_t_tokens.safetensors")) {
        int64_t nl, nc, nt;
        float *lat = golden_f32(&g, "latent", &nl), *ctx = golden_f32(&g, "context", &nc);
        float *ts = golden_f32(&g, "timestep", &nt);
        float *v1 = malloc(sizeof(float) * (size_t)nl), *v2 = malloc(sizeof(float) * (size_t)nl);
        int L = (int)(nc / c.text_dim);
        platform_set_threads(1);
        rc = dit_forward(&m, lat, 2, 6, 10, ts, (int)nt, ctx, L, v1, &e);
        platform_set_threads(platform_default_threads() > 1 ? platform_default_threads() : 2);
        rc |= dit_forward(&m, lat, 2, 6, 10, ts, (int)nt, ctx, L, v2, &e);
        CHECK(rc == 0 && memcmp(v1, v2, sizeof(float) * (size_t)nl) == 0,
              "per-token t: 1 thread and %d threads give the same bits (gemm: %s)",
              platform_default_threads() > 1 ? platform_default_threads() : 2, gemm_backend());
        free(lat); free(ctx); free(ts); free(v1); free(v2);
        st_close(&g);
    }
    dit_free(&m);
    st_close(&w);
}

/* ---------------------------------------------------------------------------
 * One-layer checkpoints in the official layout */
static void test_model_dir(const char *dir, const char *weights, const char *vel, int nfiles) {
    char path[256];
    T2vError e = {0, {0}};
    DiTConfig c;
    snprintf(path, sizeof path, "golden/models/%s/config.json", dir);
    if (load_config(&c, path, &e)) { CHECK(0, "%s: %s", dir, e.msg); return; }
    StShards s;
    snprintf(path, sizeof path, "golden/models/%s/%s", dir, weights);
    int rc = st_open_any(&s, path, &e);
    CHECK(rc == 0 && s.nfiles == nfiles, "%s: opened %s (%d files)", dir, weights,
          rc ? 0 : s.nfiles);
    if (rc) { printf("       %s\n", e.msg); return; }
    DiT m;
    rc = dit_build(&m, &c, &s.tensors, &e);
    CHECK(rc == 0, "%s: build: %s", dir, rc ? e.msg : "ok");
    if (!rc) {
        run_case(&m, "golden/dit/model1.safetensors", dir, vel, TOL_TINY, COS_TINY, 0);
        dit_free(&m);
    }
    st_close_any(&s);
}

/* The bf16 check above can fail: its reference differs from the F32 one by
 * far more than the tolerance. */
static void test_bf16_golden_differs(void) {
    SafeTensors g;
    if (!golden_open(&g, "golden/dit/model1.safetensors")) return;
    int64_t n;
    float *a = golden_f32(&g, "velocity", &n), *b = golden_f32(&g, "velocity_bf16", NULL);
    if (a && b) {
        ErrStats s;
        err_stats(&s, b, a, n, TOL_TINY);
        CHECK(s.rel > 100 * TOL_TINY, "bf16 and F32 references differ (rel %.2e)", s.rel);
    }
    free(a); free(b);
    st_close(&g);
}

/* ---------------------------------------------------------------------------
 * One block at full T2V-1.3B width, weights from the shared PRNG: tensor i
 * of the official order (tools/reference/dit.py param_shapes) gets seed
 * 1000 + i and the scale/offset of tools/golden_dit.py full_spec(). */
static int add_prng(TensorList *tl, int *idx, const char *name, int ndim, const int64_t *shape,
                    T2vError *e) {
    Tensor t;
    if (tensor_alloc(&t, DT_F32, ndim, shape, e)) return -1;
    int64_t n = tensor_numel(&t), fan = n / shape[0];
    float scale, offset = 0.0f;
    size_t len = strlen(name);
    if (len >= 10 && !strcmp(name + len - 10, "modulation")) scale = 0.5f;
    else if (strstr(name, "norm") && !strcmp(name + len - 7, ".weight")) scale = 0.25f, offset = 1.0f;
    else if (!strcmp(name + len - 5, ".bias")) scale = 0.0625f;
    else {
        int s = 0;
        while ((int64_t)1 << (2 * (s + 1)) <= fan) s++; /* floor(log2(sqrt(fan))) */
        scale = ldexpf(1.0f, -s);
    }
    float *x = (float *)t.data; /* host floats, then the little-endian bytes of a Tensor */
    prng_fill(1000 + (uint64_t)(*idx)++, x, n, scale);
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] + offset;
        wr_u32le(x + i, f32_to_bits(v));
    }
    return tl_add(tl, name, &t, "prng", e) ? -1 : 0;
}

static int full_weights(TensorList *tl, const DiTConfig *c, T2vError *e) {
    int64_t D = c->dim, F = c->ffn_dim, i = 0;
    int idx = 0, rc = 0;
    int64_t pe[5] = {D, 16, 1, 2, 2}, v[1] = {D}, te[2] = {D, c->text_dim}, DD[2] = {D, D},
            tm[2] = {D, c->freq_dim}, tp[2] = {6 * D, D}, v6[1] = {6 * D}, mod[3] = {1, 6, D},
            FD[2] = {F, D}, vF[1] = {F}, DF[2] = {D, F}, hm[3] = {1, 2, D}, hh[2] = {64, D},
            v64[1] = {64};
    char nm[128];
    rc |= add_prng(tl, &idx, "patch_embedding.weight", 5, pe, e);
    rc |= add_prng(tl, &idx, "patch_embedding.bias", 1, v, e);
    rc |= add_prng(tl, &idx, "text_embedding.0.weight", 2, te, e);
    rc |= add_prng(tl, &idx, "text_embedding.0.bias", 1, v, e);
    rc |= add_prng(tl, &idx, "text_embedding.2.weight", 2, DD, e);
    rc |= add_prng(tl, &idx, "text_embedding.2.bias", 1, v, e);
    rc |= add_prng(tl, &idx, "time_embedding.0.weight", 2, tm, e);
    rc |= add_prng(tl, &idx, "time_embedding.0.bias", 1, v, e);
    rc |= add_prng(tl, &idx, "time_embedding.2.weight", 2, DD, e);
    rc |= add_prng(tl, &idx, "time_embedding.2.bias", 1, v, e);
    rc |= add_prng(tl, &idx, "time_projection.1.weight", 2, tp, e);
    rc |= add_prng(tl, &idx, "time_projection.1.bias", 1, v6, e);
    for (; i < c->num_layers; i++) {
        const char *attn[2] = {"self_attn", "cross_attn"}, *lin = "qkvo";
        snprintf(nm, sizeof nm, "blocks.%d.modulation", (int)i);
        rc |= add_prng(tl, &idx, nm, 3, mod, e);
        for (int a = 0; a < 2; a++) {
            for (int l = 0; l < 4; l++) {
                snprintf(nm, sizeof nm, "blocks.%d.%s.%c.weight", (int)i, attn[a], lin[l]);
                rc |= add_prng(tl, &idx, nm, 2, DD, e);
                snprintf(nm, sizeof nm, "blocks.%d.%s.%c.bias", (int)i, attn[a], lin[l]);
                rc |= add_prng(tl, &idx, nm, 1, v, e);
            }
            snprintf(nm, sizeof nm, "blocks.%d.%s.norm_q.weight", (int)i, attn[a]);
            rc |= add_prng(tl, &idx, nm, 1, v, e);
            snprintf(nm, sizeof nm, "blocks.%d.%s.norm_k.weight", (int)i, attn[a]);
            rc |= add_prng(tl, &idx, nm, 1, v, e);
        }
        snprintf(nm, sizeof nm, "blocks.%d.norm3.weight", (int)i);
        rc |= add_prng(tl, &idx, nm, 1, v, e);
        snprintf(nm, sizeof nm, "blocks.%d.norm3.bias", (int)i);
        rc |= add_prng(tl, &idx, nm, 1, v, e);
        snprintf(nm, sizeof nm, "blocks.%d.ffn.0.weight", (int)i);
        rc |= add_prng(tl, &idx, nm, 2, FD, e);
        snprintf(nm, sizeof nm, "blocks.%d.ffn.0.bias", (int)i);
        rc |= add_prng(tl, &idx, nm, 1, vF, e);
        snprintf(nm, sizeof nm, "blocks.%d.ffn.2.weight", (int)i);
        rc |= add_prng(tl, &idx, nm, 2, DF, e);
        snprintf(nm, sizeof nm, "blocks.%d.ffn.2.bias", (int)i);
        rc |= add_prng(tl, &idx, nm, 1, v, e);
    }
    rc |= add_prng(tl, &idx, "head.modulation", 3, hm, e);
    rc |= add_prng(tl, &idx, "head.head.weight", 2, hh, e);
    rc |= add_prng(tl, &idx, "head.head.bias", 1, v64, e);
    return rc;
}

static void test_full_block(void) {
    DiTConfig c;
    T2vError e = {0, {0}};
    dit_default_config(&c); /* T2V-1.3B widths: dim 1536, ffn 8960, 12 heads */
    c.num_layers = 1;
    TensorList tl = {0};
    int rc = full_weights(&tl, &c, &e);
    CHECK(rc == 0 && tl.n == 12 + 27 + 3, "full-width weights from the PRNG (%d tensors)", tl.n);
    DiT m;
    if (!rc) {
        rc = dit_build(&m, &c, &tl, &e);
        CHECK(rc == 0, "build 1-layer DiT at dim 1536: %s", rc ? e.msg : "ok");
        if (!rc) {
            run_case(&m, "golden/dit/full_block.safetensors", "full", "velocity", TOL_FULL,
                     COS_FULL, 2);
            dit_free(&m);
        }
    }
    tl_free(&tl);
}

int main(void) {
    test_config();
    test_tiny();
    test_time();
    test_model_dir("dit-1layer", "diffusion_pytorch_model.safetensors", "velocity", 1);
    test_model_dir("dit-1layer-sharded", "diffusion_pytorch_model.safetensors.index.json",
                   "velocity", 2);
    test_model_dir("dit-1layer-bf16", "diffusion_pytorch_model.safetensors", "velocity_bf16", 1);
    test_bf16_golden_differs();
    test_full_block();
    return h_finish();
}
