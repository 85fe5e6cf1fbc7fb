/*
 * fuzz_lora.c: libFuzzer target for the LoRA key parser (lora_parse_key,
 * ref/lib/lora.c) and the name tables it shares with the checkpoint readers
 * (names_dit_official, names_to_official for the DiT, umT5 and VAE; ref/lib/names.c).
 * The input is one key per line. Each key is parsed against the official
 * tensor names of a 2-layer DiT; a key that parses must name a module whose
 * target tensor the model has, the module string must be NUL-terminated
 * within its buffer, and mapping the keys as a checkpoint's names must either
 * succeed with as many tensors as inputs (scales and markers aside) or refuse.
 *
 *   tests/fuzz/run.sh --runs 1000000 lora
 *   FUZZ_SEEDS: tests/fuzz/seeds/lora
 *   (inputs up to -max_len=4096)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ref/lib/lora.h"
#include "../../ref/lib/names.h"

static TensorList g_model;
static float g_zero[4];

static void build_model(void) {
    DiTConfig c;
    dit_default_config(&c);
    c.dim = 32, c.ffn_dim = 64, c.num_heads = 2, c.num_layers = 2, c.freq_dim = 64, c.text_dim = 32;
    int n = dit_tensor_specs(&c, NULL, 0);
    TensorSpec *s = (TensorSpec *)calloc((size_t)n, sizeof *s);
    dit_tensor_specs(&c, s, n);
    for (int i = 0; i < n; i++) {
        Tensor t;
        memset(&t, 0, sizeof t);
        t.dtype = DT_F32, t.ndim = 1, t.shape[0] = 1, t.data = g_zero;
        tl_add(&g_model, s[i].name, &t, "model", NULL);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_model.n) build_model();
    char *text = (char *)malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    TensorList keys;
    memset(&keys, 0, sizeof keys);
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char module[64];
        memset(module, 0x55, sizeof module);
        LoraPart part;
        LoraConvention conv;
        int rc = lora_parse_key(line, &g_model, module, sizeof module, &part, &conv);
        if (rc != 0 && rc != -1 && rc != -2) abort();
        if (rc != -1 && !memchr(module, 0, sizeof module)) abort();
        if (rc == 0) {
            char name[128];
            snprintf(name, sizeof name, "%s.%s", module, part == LORA_DIFF_B || part == LORA_BIAS ? "bias" : "weight");
            if (!tl_find(&g_model, name) && !tl_find(&g_model, module)) abort();
        }
        char out[24];
        names_dit_official(out, sizeof out, line);
        if (!memchr(out, 0, sizeof out)) abort();
        Tensor t;
        memset(&t, 0, sizeof t);
        t.dtype = DT_F32, t.ndim = 1, t.shape[0] = 1, t.data = g_zero;
        if (tl_add(&keys, line, &t, "fuzz", NULL)) break;
    }
    for (int r = 0; r < 3; r++) {
        TensorList out;
        T2vError err = {0, {0}};
        char conv[128];
        if (names_to_official(&out, &keys, (WeightRole)r, "fuzz", conv, sizeof conv, &err) == 0) {
            if (out.n > keys.n) abort();
            tl_free(&out);
        } else if (!strstr(err.msg, "fuzz")) {
            abort();
        }
    }
    tl_free(&keys);
    free(text);
    return 0;
}
