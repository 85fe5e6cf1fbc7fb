/*
 * fuzz_gguf.c: libFuzzer target for ref/lib/gguf.c (and the block decoders
 * of quant.c). The input is a whole GGUF file: like fuzz_safetensors.c this
 * includes gguf.c and runs its parser on the input buffer, exactly as
 * gguf_open does after mapping the file (libFuzzer's buffer is exactly n
 * bytes, so ASan sees any read past the end). Whatever loads must be in
 * bounds: every tensor's bytes inside the data section, no two overlapping,
 * and small tensors decode (any bytes are valid blocks).
 *
 *   tests/fuzz/run.sh 60 gguf     (seeds: golden/ and tests/hostile/ *.gguf)
 *   (inputs up to -max_len=65536)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ref/lib/gguf.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    GgufFile g;
    T2vError err;
    memset(&g, 0, sizeof g);
    g.path = dup_bytes((const unsigned char *)"fuzz.gguf", 9);
    g.map.data = data;
    g.map.size = n;
    int rc = parse(&g, &err); /* what gguf_open runs on the mapped file */
    if (rc != T2V_OK) {
        if (err.code != T2V_EINPUT && err.code != T2V_ERESOURCE) abort();
        if (!strstr(err.msg, "fuzz.gguf")) abort(); /* every message names the file */
    } else {
        const uint8_t *lo = data + g.data_offset, *hi = data + n;
        unsigned sum = 0;
        for (int i = 0; i < g.tensors.n; i++) {
            const Tensor *t = &g.tensors.tensors[i];
            const uint8_t *d = (const uint8_t *)t->data;
            size_t nb = tensor_nbytes(t);
            if (nb && (d < lo || d > hi || nb > (size_t)(hi - d))) abort();
            for (size_t k = 0; k < nb; k++) sum += d[k];
            if (tensor_numel(t) <= 4096) free(tensor_to_f32_alloc(t, NULL));
            for (int j = 0; j < i; j++) { /* no overlap */
                const uint8_t *e = (const uint8_t *)g.tensors.tensors[j].data;
                size_t mb = tensor_nbytes(&g.tensors.tensors[j]);
                if (nb && mb && d < e + mb && e < d + nb) abort();
            }
        }
        for (int i = 0; i < g.nkv; i++)
            if (!g.kv[i].key || !g.kv[i].text || !gguf_meta(&g, g.kv[i].key)) abort();
        if (sum == 0xFFFFFFFFu) abort(); /* keeps the reads */
    }
    g.map.data = NULL; /* borrowed: gguf_close must not unmap it */
    gguf_close(&g);
    return 0;
}
