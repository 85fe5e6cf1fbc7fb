/*
 * test_layouts.c: the layouts and naming conventions besides the official one
 * (ref/lib/names.c, model.c), files written by tools/golden_layouts.py from the
 * tiny model (golden/models/tiny):
 *   - the diffusers folder: detected, config.json in diffusers form read, and
 *     every official tensor of the DiT and umT5 mapped to the same bytes, the
 *     VAE's to its bf16 rounding (the folder stores the VAE in BF16);
 *   - single DiT files (ComfyUI fp16 / fp8 / fp8 with scales, CausVid and
 *     Self-Forcing .pt, rCM .pth with a Linear patch embedding): config from
 *     shapes, one forward against the float64 reference run on the file's
 *     exactly decoded weights (golden/layouts/golden.safetensors);
 *   - the umT5 under Hugging Face names in fp8 with per-tensor scales;
 *   - e4m3fn decoding of all 256 codes; the hostile files of
 *     tests/hostile/layouts/MANIFEST refused with their file and tensor named.
 * Tolerances: golden/README.md (dit, t5).
 */
#include "harness.h"

#include <math.h>

#include "../ref/lib/model.h"
#include "../ref/lib/names.h"

#define TINY "golden/models/tiny"
#define LAY "golden/layouts/"
#define TOL_DIT 1e-5
#define COS_DIT 0.9999999
#define TOL_T5 1e-5
#define COS_T5 0.99999999

/* ---------------------------------------------------------------------------
 * fp8 */
static void test_fp8(void) {
    int bad = 0, nan = 0;
    for (int b = 0; b < 256; b++) {
        float v = f8e4m3_to_f32((uint8_t)b);
        int e = (b >> 3) & 15, m = b & 7;
        double want = e == 0 ? m * ldexp(1.0, -9) : (1.0 + m / 8.0) * ldexp(1.0, e - 7);
        if (b & 0x80) want = -want;
        if (e == 15 && m == 7) nan += isnan(v) != 0;
        else if ((double)v != want) bad++;
    }
    CHECK(bad == 0 && nan == 2, "F8_E4M3: 254 finite codes exact (%d differ), 0x7f and 0xff NaN (%d)", bad, nan);
    CHECK(f8e4m3_to_f32(0x7e) == 448.0f && f8e4m3_to_f32(0x01) == 0.001953125f && f8e4m3_to_f32(0x80) == 0.0f,
          "F8_E4M3: max 448, min subnormal 2^-9, -0");
    DType dt;
    CHECK(dtype_from_name("F8_E4M3", &dt) == 0 && dt == DT_F8_E4M3 && dtype_size(dt) == 1,
          "safetensors dtype F8_E4M3 known, 1 byte");
    unsigned char all[2048];
    float wide[2048];
    for (int i = 0; i < 2048; i++) all[i] = (unsigned char)(i * 7 + 3);
    widen_to_f32(wide, all, DT_F8_E4M3, 2048); /* the table path (n >= 1024) */
    int diff = 0;
    for (int i = 0; i < 2048; i++) {
        float v = f8e4m3_to_f32(all[i]);
        diff += isnan(v) ? !isnan(wide[i]) : memcmp(&v, &wide[i], 4) != 0;
    }
    CHECK(diff == 0, "F8_E4M3 rows of 2048 (table path) = element decoding (%d differ)", diff);
    unsigned char raw[2] = {0x38, 0xb8}; /* 1, -1 */
    float out[2];
    widen_scaled(out, raw, DT_F8_E4M3, 0.25f, 2);
    CHECK(out[0] == 0.25f && out[1] == -0.25f, "widen_scaled: value x scale (%g %g)", (double)out[0], (double)out[1]);
}

/* ---------------------------------------------------------------------------
 * The diffusers folder */

/* Every tensor of want (official) is in got with the same shape and bytes
 * (bf16_of_f32: got holds want's F32 values rounded to BF16). */
static void same_tensors(const char *what, const TensorList *want, const TensorList *got, int bf16_of_f32) {
    int bad = 0, missing = 0;
    const char *first = NULL;
    for (int i = 0; i < want->n; i++) {
        const Tensor *a = &want->tensors[i], *b = tl_find(got, want->names[i]);
        if (!b) { missing++; if (!first) first = want->names[i]; continue; }
        int ok = a->ndim == b->ndim;
        for (int d = 0; ok && d < a->ndim; d++) ok = a->shape[d] == b->shape[d];
        if (ok && bf16_of_f32) {
            ok = a->dtype == DT_F32 && b->dtype == DT_BF16;
            for (int64_t k = 0; ok && k < tensor_numel(a); k++)
                ok = f32_to_bf16(f32_from_bits(rd_u32le((const char *)a->data + 4 * k))) ==
                     rd_u16le((const char *)b->data + 2 * k);
        } else if (ok) {
            ok = a->dtype == b->dtype && !memcmp(a->data, b->data, tensor_nbytes(a));
        }
        if (!ok) { bad++; if (!first) first = want->names[i]; }
    }
    CHECK(!bad && !missing && want->n == got->n, "%s: %d official tensors, %d mapped, %d missing, %d differ%s%s",
          what, want->n, got->n, missing, bad, first ? ", first: " : "", first ? first : "");
}

static void compare_role(const char *what, const char *official, const char *other, WeightRole role, int bf16) {
    Checkpoint a, b;
    T2vError e = {0, {0}};
    if (ckpt_open(&a, official, &e)) { CHECK(0, "%s: %s", official, e.msg); return; }
    int rc = ckpt_open_as(&b, other, role, &e);
    CHECK(rc == 0, "%s: %s opens (%s)", what, other, rc ? e.msg : b.convention);
    if (!rc) {
        same_tensors(what, a.tensors, b.tensors, bf16);
        ckpt_close(&b);
    }
    ckpt_close(&a);
}

static void test_diffusers(void) {
    Model off, df;
    T2vError e = {0, {0}};
    if (model_open(&off, TINY, MODEL_NEED_ALL, &e)) { CHECK(0, "tiny: %s", e.msg); return; }
    int rc = model_open(&df, LAY "diffusers", MODEL_NEED_ALL, &e);
    CHECK(rc == 0 && df.diffusers, "diffusers folder detected and opened: %s", rc ? e.msg : "ok");
    if (rc) { model_close(&off); return; }
    CHECK(!memcmp(&off.dit, &df.dit, sizeof off.dit), "transformer/config.json (diffusers keys) = config.json: dim %d "
          "heads %d layers %d ffn %d text_len %d", df.dit.dim, df.dit.num_heads, df.dit.num_layers, df.dit.ffn_dim,
          df.dit.text_len);
    CHECK(!memcmp(&off.vae, &df.vae, sizeof off.vae), "VAE config from diffusers names = official");
    CHECK(strstr(df.paths.tokenizer, "tokenizer/spiece.model") != NULL, "tokenizer/spiece.model found");
    compare_role("diffusers DiT (2 shards)", TINY "/diffusion_pytorch_model.safetensors", df.paths.dit, ROLE_DIT, 0);
    compare_role("HF umT5 (encoder.embed_tokens only)", TINY "/models_t5_umt5-xxl-enc-bf16.pth", df.paths.t5, ROLE_T5, 0);
    compare_role("diffusers VAE (bf16)", TINY "/Wan2.1_VAE.pth", df.paths.vae, ROLE_VAE, 1);
    model_close(&df);
    model_close(&off);
}

/* ---------------------------------------------------------------------------
 * Single DiT files */

static void dit_case(const char *file, const char *vel_name, const char *want_conv) {
    SafeTensors g;
    if (!golden_open(&g, LAY "golden.safetensors")) return;
    Model tiny;
    T2vError e = {0, {0}};
    ModelOptions o;
    memset(&o, 0, sizeof o);
    o.dit = file;
    int rc = model_open_with(&tiny, TINY, &o, MODEL_NEED_CONFIG | MODEL_NEED_DIT, &e);
    CHECK(rc == 0, "%s: --dit over the tiny model: %s", file, rc ? e.msg : "ok");
    if (rc) { st_close(&g); return; }
    Checkpoint ck;
    DiT m;
    rc = model_load_dit(&tiny, &ck, &m, &e);
    CHECK(rc == 0 && strstr(ck.convention, want_conv), "%s: loads (%s; want '%s'): %s", file,
          rc ? "-" : ck.convention, want_conv, rc ? e.msg : "ok");
    int64_t nl, nc, nt, nv;
    float *lat = golden_f32(&g, "latent", &nl), *ctx = golden_f32(&g, "context", &nc);
    float *ts = golden_f32(&g, "timestep", &nt), *ref = golden_f32(&g, vel_name, &nv);
    if (!rc && lat && ctx && ts && ref) {
        float *vel = calloc((size_t)nv, sizeof(float));
        rc = dit_forward(&m, lat, 1, 4, 4, ts, 1, ctx, (int)(nc / m.c.text_dim), vel, &e);
        CHECK(rc == 0, "%s forward: %s", file, rc ? e.msg : "ok");
        char what[160];
        snprintf(what, sizeof what, "%s %s", file + strlen(LAY), vel_name);
        check_close(what, vel, ref, nv, TOL_DIT, COS_DIT);
        free(vel);
    }
    if (!rc) { dit_free(&m); ckpt_close(&ck); }
    free(lat); free(ctx); free(ts); free(ref);
    model_close(&tiny);
    st_close(&g);
}

static void test_dit_files(void) {
    dit_case(LAY "diffusers/transformer/diffusion_pytorch_model.safetensors.index.json", "velocity.f32", "diffusers");
    dit_case(LAY "dit_comfy_fp16.safetensors", "velocity.fp16", "model.diffusion_model.");
    dit_case(LAY "dit_comfy_fp8.safetensors", "velocity.fp8", "fp8 e4m3fn");
    dit_case(LAY "dit_comfy_fp8_scaled.safetensors", "velocity.fp8_scaled", "per-tensor scales");
    dit_case(LAY "dit_causvid.pt", "velocity.f32", "distilled .pt");
    dit_case(LAY "dit_selfforcing.pt", "velocity.bf16", "distilled .pt");
    dit_case(LAY "dit_rcm.pth", "velocity.bf16", "rCM");
}

/* The config from shapes alone (no directory config): heads from dim / 128. */
static void test_config_from_shapes(void) {
    Checkpoint ck;
    T2vError e = {0, {0}};
    if (ckpt_open_as(&ck, LAY "dit_rcm.pth", ROLE_DIT, &e)) { CHECK(0, "rcm: %s", e.msg); return; }
    DiTConfig c, hint;
    dit_default_config(&hint);
    int rc = dit_config_from_tensors(&c, ck.tensors, &hint, "rcm", &e);
    CHECK(rc == 0 && c.dim == 32 && c.ffn_dim == 64 && c.num_layers == 2 && c.freq_dim == 64 && c.text_dim == 32 &&
          c.in_dim == 16 && c.out_dim == 16 && c.patch_h == 2 && c.num_heads == 1 && c.text_len == 512,
          "config from shapes: dim %d ffn %d layers %d freq %d text %d in %d out %d heads %d (no hint: 1)", c.dim,
          c.ffn_dim, c.num_layers, c.freq_dim, c.text_dim, c.in_dim, c.out_dim, c.num_heads);
    ckpt_close(&ck);
}

/* ---------------------------------------------------------------------------
 * umT5 in fp8 with scales */
static void test_t5_fp8(void) {
    SafeTensors g;
    if (!golden_open(&g, LAY "golden.safetensors")) return;
    Checkpoint ck;
    T5 t5;
    T2vError e = {0, {0}};
    int rc = ckpt_open_as(&ck, LAY "t5_comfy_fp8_scaled.safetensors", ROLE_T5, &e);
    CHECK(rc == 0 && strstr(ck.convention, "Hugging Face") && strstr(ck.convention, "scales"),
          "umT5 fp8 scaled opens: %s", rc ? e.msg : ck.convention);
    if (!rc && (rc = t5_build(&t5, ck.tensors, &e))) CHECK(0, "t5_build: %s", e.msg);
    int L = 0;
    int32_t *ids = golden_ids(&g, "tokens", &L);
    int64_t n;
    float *ref = golden_f32(&g, "context.t5_fp8_scaled", &n);
    if (!rc && ids && ref) {
        float *out = calloc((size_t)n, sizeof(float));
        rc = t5_encode(&t5, ids, L, out, &e);
        CHECK(rc == 0, "t5_encode: %s", rc ? e.msg : "ok");
        check_close("umT5 fp8 scaled context", out, ref, n, TOL_T5, COS_T5);
        free(out);
    }
    if (!rc) { t5_free(&t5); ckpt_close(&ck); }
    free(ids);
    free(ref);
    st_close(&g);
}

/* ---------------------------------------------------------------------------
 * Hostile files */
static void test_hostile(void) {
    size_t len;
    T2vError e = {0, {0}};
    char *text = read_text_file("tests/hostile/layouts/MANIFEST", &len, &e);
    if (!text) { CHECK(0, "MANIFEST: %s", e.msg); return; }
    Model tiny;
    if (model_open(&tiny, TINY, MODEL_NEED_CONFIG | MODEL_NEED_DIT, &e)) { CHECK(0, "tiny: %s", e.msg); free(text); return; }
    int count = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) continue;
        *t1 = *t2 = 0;
        char path[512];
        snprintf(path, sizeof path, "tests/hostile/layouts/%s", line);
        const char *loader = t1 + 1, *want = t2 + 1;
        T2vError err = {0, {0}};
        int rc;
        Checkpoint ck;
        DiT m;
        if (!strcmp(loader, "lora")) {
            LoraFile f = {path, 1.0f};
            tiny.lora = &f, tiny.n_lora = 1;
            rc = model_load_dit(&tiny, &ck, &m, &err);
            tiny.lora = NULL, tiny.n_lora = 0;
        } else {
            rc = ckpt_open_as(&ck, path, ROLE_DIT, &err);
            if (!rc) rc = dit_build(&m, &tiny.dit, ck.tensors, &err);
        }
        if (rc == T2V_OK) { dit_free(&m); ckpt_close(&ck); }
        CHECK(rc == T2V_EINPUT && strstr(err.msg, want) && strstr(err.msg, line), "%-34s refused: %.150s", line,
              rc ? err.msg : "(ACCEPTED)");
        count++;
    }
    CHECK(count >= 8, "%d hostile layout files", count);
    model_close(&tiny);
    free(text);
}

int main(void) {
    test_fp8();
    test_diffusers();
    test_dit_files();
    test_config_from_shapes();
    test_t5_fp8();
    test_hostile();
    return h_finish();
}
