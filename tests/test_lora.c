/*
 * test_lora.c: LoRA adapters on the DiT (ref/lib/lora.c), files and float64
 * goldens written by tools/golden_layouts.py (deltas merged in float64 there):
 *   - the key parser: original/ComfyUI (lora_down/up, lora_A/B, alpha, .diff,
 *     .diff_b), diffusers/PEFT (attn1/attn2, ffn.net, proj_out, lora_B.bias),
 *     kohya (underscores matched against the real module names), unknowns;
 *   - merged forwards of the tiny DiT against the reference: ComfyUI at scale
 *     1 and 0.5, on an fp8 base, PEFT at 0.7 stacked with kohya at 1;
 *   - a LoRA with image-to-video keys refused (naming them and saying why),
 *     applied without them under --lora-ignore-unknown.
 * Tolerance: golden/README.md, dit (1e-5).
 */
#include "harness.h"

#include "../ref/lib/lora.h"
#include "../ref/lib/model.h"
#include "../ref/lib/platform.h"

#define TINY "golden/models/tiny"
#define LAY "golden/layouts/"
#define TOL_DIT 1e-5
#define COS_DIT 0.9999999

static void parse_case(const TensorList *model, const char *key, int want_rc, const char *want_module,
                       LoraPart want_part, LoraConvention want_conv) {
    char module[160];
    LoraPart part = LORA_DOWN;
    LoraConvention conv = LORA_ORIGINAL;
    int rc = lora_parse_key(key, model, module, sizeof module, &part, &conv);
    int ok = rc == want_rc && (rc == -1 || !strcmp(module, want_module)) && (rc || (part == want_part && conv == want_conv));
    CHECK(ok, "key %-58s -> %d %s (%s)", key, rc, rc == -1 ? "-" : module, lora_convention_name(conv));
}

static void test_keys(void) {
    Checkpoint ck;
    T2vError e = {0, {0}};
    if (ckpt_open_as(&ck, TINY "/diffusion_pytorch_model.safetensors", ROLE_DIT, &e)) { CHECK(0, "%s", e.msg); return; }
    const TensorList *m = ck.tensors;
    parse_case(m, "diffusion_model.blocks.0.self_attn.q.lora_down.weight", 0, "blocks.0.self_attn.q", LORA_DOWN, LORA_ORIGINAL);
    parse_case(m, "diffusion_model.blocks.1.cross_attn.k.lora_B.weight", 0, "blocks.1.cross_attn.k", LORA_UP, LORA_ORIGINAL);
    parse_case(m, "diffusion_model.blocks.0.ffn.2.alpha", 0, "blocks.0.ffn.2", LORA_ALPHA, LORA_ORIGINAL);
    parse_case(m, "diffusion_model.head.head.diff_b", 0, "head.head", LORA_DIFF_B, LORA_ORIGINAL);
    parse_case(m, "diffusion_model.blocks.0.norm3.diff", 0, "blocks.0.norm3", LORA_DIFF, LORA_ORIGINAL);
    parse_case(m, "diffusion_model.blocks.1.modulation.diff", 0, "blocks.1.modulation", LORA_DIFF, LORA_ORIGINAL);
    parse_case(m, "transformer.blocks.0.attn1.to_out.0.lora_A.weight", 0, "blocks.0.self_attn.o", LORA_DOWN, LORA_DIFFUSERS);
    parse_case(m, "transformer.blocks.1.attn2.to_v.lora_B.weight", 0, "blocks.1.cross_attn.v", LORA_UP, LORA_DIFFUSERS);
    parse_case(m, "transformer.blocks.0.ffn.net.0.proj.lora_A.weight", 0, "blocks.0.ffn.0", LORA_DOWN, LORA_DIFFUSERS);
    parse_case(m, "transformer.proj_out.lora_B.bias", 0, "head.head", LORA_BIAS, LORA_DIFFUSERS);
    parse_case(m, "base_model.model.blocks.1.attn2.to_q.lora_A.weight", 0, "blocks.1.cross_attn.q", LORA_DOWN,
               LORA_DIFFUSERS);
    parse_case(m, "transformer.condition_embedder.time_proj.lora_A.weight", 0, "time_projection.1", LORA_DOWN,
               LORA_DIFFUSERS);
    parse_case(m, "lora_unet_blocks_0_self_attn_q.lora_down.weight", 0, "blocks.0.self_attn.q", LORA_DOWN, LORA_KOHYA);
    parse_case(m, "lora_unet_blocks_1_cross_attn_norm_k.diff", 0, "blocks.1.cross_attn.norm_k", LORA_DIFF, LORA_KOHYA);
    parse_case(m, "lora_unet_time_projection_1.alpha", 0, "time_projection.1", LORA_ALPHA, LORA_KOHYA);
    parse_case(m, "lora_unet_blocks_0_self_attn_x.lora_up.weight", -2, "blocks_0_self_attn_x", LORA_UP, LORA_KOHYA);
    parse_case(m, "diffusion_model.blocks.0.cross_attn.norm_k_img.diff", -2, "blocks.0.cross_attn.norm_k_img", LORA_DIFF,
               LORA_ORIGINAL);
    parse_case(m, "diffusion_model.blocks.9.self_attn.q.lora_up.weight", -2, "blocks.9.self_attn.q", LORA_UP, LORA_ORIGINAL);
    parse_case(m, "blocks.0.self_attn.q.weight", -1, "", LORA_UP, LORA_ORIGINAL);
    parse_case(m, ".alpha", -1, "", LORA_ALPHA, LORA_ORIGINAL);
    ckpt_close(&ck);
}

/* The tiny DiT (or `dit` instead of its file) with the LoRAs, one forward
 * against vel_name. */
static void lora_case(const char *tag, const char *dit, const LoraFile *files, int n, int ignore, const char *vel_name) {
    SafeTensors g;
    if (!golden_open(&g, LAY "golden.safetensors")) return;
    Model tiny;
    T2vError e = {0, {0}};
    ModelOptions o;
    memset(&o, 0, sizeof o);
    o.dit = dit, o.lora = files, o.n_lora = n, o.lora_ignore_unknown = ignore;
    int rc = model_open_with(&tiny, TINY, &o, MODEL_NEED_CONFIG | MODEL_NEED_DIT, &e);
    Checkpoint ck;
    DiT m;
    if (!rc) rc = model_load_dit(&tiny, &ck, &m, &e);
    CHECK(rc == 0, "%s: loads: %s", tag, rc ? e.msg : "ok");
    int64_t nl, nc, nt, nv;
    float *lat = golden_f32(&g, "latent", &nl), *ctx = golden_f32(&g, "context", &nc);
    float *ts = golden_f32(&g, "timestep", &nt), *ref = golden_f32(&g, vel_name, &nv);
    if (!rc && lat && ctx && ts && ref) {
        float *vel = calloc((size_t)nv, sizeof(float));
        rc = dit_forward(&m, lat, 1, 4, 4, ts, 1, ctx, (int)(nc / m.c.text_dim), vel, &e);
        CHECK(rc == 0, "%s forward: %s", tag, rc ? e.msg : "ok");
        check_close(tag, vel, ref, nv, TOL_DIT, COS_DIT);
        free(vel);
        dit_free(&m);
        ckpt_close(&ck);
    }
    free(lat); free(ctx); free(ts); free(ref);
    model_close(&tiny);
    st_close(&g);
}

static void test_merges(void) {
    LoraFile comfy = {LAY "lora_comfy.safetensors", 1.0f}, half = {LAY "lora_comfy.safetensors", 0.5f};
    LoraFile stack[2] = {{LAY "lora_peft.safetensors", 0.7f}, {LAY "lora_kohya.safetensors", 1.0f}};
    LoraFile i2v = {LAY "lora_i2v.safetensors", 1.0f};
    lora_case("ComfyUI LoRA (down/up/alpha, A/B, .diff, .diff_b)", NULL, &comfy, 1, 0, "velocity.lora_comfy");
    lora_case("ComfyUI LoRA at scale 0.5", NULL, &half, 1, 0, "velocity.lora_comfy_half");
    lora_case("ComfyUI LoRA on an fp8 base", LAY "dit_comfy_fp8.safetensors", &comfy, 1, 0, "velocity.lora_comfy_fp8");
    lora_case("PEFT at 0.7 + kohya at 1 (stacked)", NULL, stack, 2, 0, "velocity.lora_peft_kohya");
    lora_case("I2V keys ignored (--lora-ignore-unknown)", NULL, &i2v, 1, 1, "velocity.lora_i2v_ignored");
    /* without the flag: refused, naming the keys and why */
    Model tiny;
    T2vError e = {0, {0}};
    ModelOptions o;
    memset(&o, 0, sizeof o);
    o.lora = &i2v, o.n_lora = 1;
    Checkpoint ck;
    DiT m;
    int rc = model_open_with(&tiny, TINY, &o, MODEL_NEED_CONFIG | MODEL_NEED_DIT, &e);
    if (!rc) {
        rc = model_load_dit(&tiny, &ck, &m, &e);
        if (!rc) { dit_free(&m); ckpt_close(&ck); }
        model_close(&tiny);
    }
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "lora_i2v.safetensors") && strstr(e.msg, "cross_attn.norm_k_img.diff") &&
          strstr(e.msg, "image-to-video") && strstr(e.msg, "--lora-ignore-unknown"),
          "I2V keys refused: %.200s", e.msg);
}

/* The same bits for 1, 2 and 3 threads with LoRA deltas (GEMM and matvec paths). */
static void test_threads(void) {
    SafeTensors g;
    if (!golden_open(&g, LAY "golden.safetensors")) return;
    LoraFile files[2] = {{LAY "lora_comfy.safetensors", 1.0f}, {LAY "lora_kohya.safetensors", 0.5f}};
    Model tiny;
    T2vError e = {0, {0}};
    ModelOptions o;
    memset(&o, 0, sizeof o);
    o.lora = files, o.n_lora = 2;
    Checkpoint ck;
    DiT m;
    int rc = model_open_with(&tiny, TINY, &o, MODEL_NEED_CONFIG | MODEL_NEED_DIT, &e), opened = !rc, loaded = 0;
    if (!rc) loaded = !(rc = model_load_dit(&tiny, &ck, &m, &e));
    int64_t nl, nc, nt;
    float *lat = golden_f32(&g, "latent", &nl), *ctx = golden_f32(&g, "context", &nc), *ts = golden_f32(&g, "timestep", &nt);
    float *v[3] = {calloc(256, sizeof(float)), calloc(256, sizeof(float)), calloc(256, sizeof(float))};
    for (int k = 0; !rc && k < 3; k++) {
        platform_set_threads(k + 1);
        rc = dit_forward(&m, lat, 1, 4, 4, ts, 1, ctx, (int)(nc / m.c.text_dim), v[k], &e);
    }
    platform_set_threads(platform_default_threads());
    CHECK(rc == 0 && !memcmp(v[0], v[1], 256 * sizeof(float)) && !memcmp(v[0], v[2], 256 * sizeof(float)),
          "two LoRAs: the same bits with 1, 2 and 3 threads%s%s", rc ? ": " : "", rc ? e.msg : "");
    if (loaded) { dit_free(&m); ckpt_close(&ck); }
    if (opened) model_close(&tiny);
    for (int k = 0; k < 3; k++) free(v[k]);
    free(lat); free(ctx); free(ts);
    st_close(&g);
}

int main(void) {
    test_keys();
    test_merges();
    test_threads();
    return h_finish();
}
