/*
 * test_layouts_cli.c: the layouts and LoRAs through the t2v binary
 * (README "Layouts and flags"), on the files of golden/layouts/:
 *   - `stage dit` from the diffusers folder, from --dit with a CausVid .pt,
 *     gives the same bytes as from the official tiny model (same F32 weights);
 *   - `generate` runs with the diffusers folder, and with an fp8-scaled --dit,
 *     an fp8 --t5, a --vae file and two --lora (one with :SCALE);
 *   - `info FILE` names each file's layout / LoRA convention;
 *   - bad input (a LoRA whose ranks disagree, I2V keys, a missing file, an
 *     fp8 NaN) exits 2 naming the file and the tensor, and writes nothing.
 * The binary: $T2V_BIN, else BUILD/t2v beside BUILD/tests/.
 */
#include "harness.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TINY "golden/models/tiny"
#define LAY "golden/layouts/"
#define HOST "tests/hostile/layouts/"

static char g_bin[1024], g_tmp[256];
static char g_out[1 << 16];

static int t2v(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = h_vrun_bin("", g_bin, g_tmp, g_out, sizeof g_out, fmt, ap);
    va_end(ap);
    return rc;
}


static int exists(const char *path) {
    struct stat s;
    return stat(path, &s) == 0;
}

static void test_stage_same_bytes(void) {
    int rc = t2v("stage dit --model " TINY " --in " LAY "golden.safetensors --out '%s/off.safetensors'", g_tmp);
    CHECK(rc == 0, "stage dit, official tiny: exit %d %.200s", rc, rc ? g_out : "");
    rc = t2v("stage dit --model " LAY "diffusers --in " LAY "golden.safetensors --out '%s/df.safetensors'", g_tmp);
    CHECK(rc == 0, "stage dit, diffusers folder: exit %d %.200s", rc, rc ? g_out : "");
    CHECK(h_sh("cmp -s '%s/off.safetensors' '%s/df.safetensors'", g_tmp, g_tmp) == 0,
          "stage dit: diffusers folder output = official output, byte for byte");
    rc = t2v("stage dit --model " TINY " --dit " LAY "dit_causvid.pt --in " LAY "golden.safetensors --out '%s/cv.safetensors'",
             g_tmp);
    CHECK(rc == 0 && h_sh("cmp -s '%s/off.safetensors' '%s/cv.safetensors'", g_tmp, g_tmp) == 0,
          "stage dit --dit CausVid .pt (generator_ema): exit %d, same bytes as official", rc);
    rc = t2v("stage t5 --model " TINY " --t5 " LAY "t5_comfy_fp8_scaled.safetensors --in " LAY
             "golden.safetensors --out '%s/t5.safetensors'", g_tmp);
    CHECK(rc == 0, "stage t5 --t5 fp8 scaled (HF names): exit %d %.200s", rc, rc ? g_out : "");
}

static void test_generate(void) {
    int rc = t2v("generate --model " LAY "diffusers -p 'a cat' -o '%s/df' --steps 2 -q", g_tmp);
    CHECK(rc == 0, "generate --model diffusers folder: exit %d %.300s", rc, rc ? g_out : "");
    char p[512];
    snprintf(p, sizeof p, "%s/df.png", g_tmp);
    CHECK(exists(p), "  wrote %s", p);
    rc = t2v("generate --model " TINY " --dit " LAY "dit_comfy_fp8_scaled.safetensors --t5 " LAY
             "t5_comfy_fp8_scaled.safetensors --vae " LAY "diffusers/vae/diffusion_pytorch_model.safetensors --lora " LAY
             "lora_comfy.safetensors:0.5 --lora " LAY "lora_kohya.safetensors -p 'a cat' -o '%s/fp8' --steps 2 -q",
             g_tmp);
    snprintf(p, sizeof p, "%s/fp8.png", g_tmp);
    CHECK(rc == 0 && exists(p), "generate --dit fp8-scaled --t5 fp8 --vae diffusers --lora x2: exit %d %.300s", rc,
          rc ? g_out : "");
}

static void test_info(void) {
    static const struct { const char *file, *want; } cases[] = {
        {LAY "dit_comfy_fp8_scaled.safetensors", "layout: DiT (official, prefix model.diffusion_model., fp8 e4m3fn with per-tensor scales)"},
        {LAY "dit_rcm.pth", "prefix net. (rCM)"},
        {LAY "dit_selfforcing.pt", "(distilled .pt)"},
        {LAY "dit_causvid.pt", "the training checkpoint's 'generator_ema' entry"},
        {LAY "t5_comfy_fp8_scaled.safetensors", "layout: umT5 (Hugging Face (UMT5EncoderModel)"},
        {LAY "diffusers/vae/diffusion_pytorch_model.safetensors", "layout: VAE (diffusers (AutoencoderKLWan))"},
        {LAY "lora_peft.safetensors", "LoRA: 13 keys (0 original/ComfyUI, 13 diffusers/PEFT, 0 kohya)"},
        {LAY "lora_comfy.safetensors", "original/ComfyUI"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = t2v("info %s", cases[i].file);
        CHECK(rc == 0 && strstr(g_out, cases[i].want), "info %s: exit %d, says '%s'", cases[i].file, rc, cases[i].want);
        if (rc || !strstr(g_out, cases[i].want)) printf("%.600s\n", g_out);
    }
    int rc = t2v("info --model " LAY "diffusers");
    CHECK(rc == 0 && strstr(g_out, "diffusers layout"), "info --model diffusers folder: exit %d", rc);
    rc = t2v("info --model " TINY " --dit " LAY "dit_comfy_fp16.safetensors --lora-ignore-unknown");
    CHECK(rc == 0 && strstr(g_out, "dit_comfy_fp16"), "info --model --dit FILE: exit %d, lists the file", rc);
}

static void test_bad(void) {
    static const struct { const char *args, *want1, *want2; } cases[] = {
        {"--lora " HOST "lora_rank_mismatch.safetensors", "lora_rank_mismatch.safetensors", "blocks.0.self_attn.q"},
        {"--lora " HOST "lora_unknown_tensor.safetensors", "lora_unknown_tensor.safetensors", "blocks.7.self_attn.q"},
        {"--lora " LAY "lora_i2v.safetensors", "cross_attn.norm_k_img.diff", "image-to-video"},
        {"--lora " LAY "no_such.safetensors:0.5", "no_such.safetensors", "cannot open"},
        {"--dit " HOST "dit_fp8_nan.safetensors", "dit_fp8_nan.safetensors", "blocks.1.ffn.2.weight"},
        {"--t5 " LAY "dit_comfy_fp16.safetensors", "dit_comfy_fp16.safetensors", "token_embedding.weight"},
        {"--dit " HOST "pt_counter_global.pt", "pt_counter_global.pt", "collections.Counter"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        h_sh("rm -rf '%s/bad' && mkdir '%s/bad'", g_tmp, g_tmp);
        int rc = t2v("generate --model " TINY " %s -p 'a cat' -o '%s/bad/x' --steps 1 -q", cases[i].args, g_tmp);
        int empty = h_sh("test -z \"$(ls -A '%s/bad')\"", g_tmp) == 0;
        CHECK(rc == 2 && strstr(g_out, cases[i].want1) && strstr(g_out, cases[i].want2) && empty,
              "generate %s: exit %d, names '%s' and '%s', wrote nothing (%s)", cases[i].args, rc, cases[i].want1,
              cases[i].want2, empty ? "empty" : "FILES LEFT");
        if (rc != 2) printf("%.400s\n", g_out);
    }
    int rc = t2v("generate --model " TINY " --lora " LAY "lora_comfy.safetensors:inf -p x -q");
    CHECK(rc == 1 && strstr(g_out, "finite"), "--lora FILE:inf: usage error (exit %d)", rc);
}

int main(int argc, char **argv) {
    const char *env = getenv("T2V_BIN");
    if (env && *env) {
        snprintf(g_bin, sizeof g_bin, "%s", env);
    } else {
        char self[900];
        snprintf(self, sizeof self, "%s", argc > 0 ? argv[0] : "");
        char *s = strrchr(self, '/');
        if (s) *s = 0;
        else strcpy(self, ".");
        snprintf(g_bin, sizeof g_bin, "%s/../t2v", self);
    }
    if (access(g_bin, X_OK) != 0) {
        h_report(0, "t2v binary not found at %s (build it, or set T2V_BIN)", g_bin);
        return h_finish();
    }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/t2v-layouts-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        h_report(0, "mkdtemp failed");
        return h_finish();
    }
    test_stage_same_bytes();
    test_generate();
    test_info();
    test_bad();
    if (h_failed == 0) h_sh("rm -rf '%s'", g_tmp);
    else printf("-- kept %s for inspection\n", g_tmp);
    return h_finish();
}
