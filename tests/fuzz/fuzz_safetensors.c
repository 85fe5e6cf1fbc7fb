/*
 * fuzz_safetensors.c: libFuzzer target for ref/safetensors.c (and json.c).
 * The input is a whole .safetensors file. safetensors.h has no in-memory
 * entry point, and a temporary file per input runs at a few hundred inputs a
 * second here (mmap/munmap dominate), so this includes safetensors.c and
 * calls its header parser on the input buffer, exactly as st_open does after
 * mapping the file (libFuzzer's buffer is exactly n bytes, so ASan sees any
 * read past the end). Whatever loads must be in bounds: every tensor's bytes
 * lie inside the data section and no two tensors overlap.
 *
 *   tests/fuzz/run.sh 60        (seeds: golden/ and tests/hostile/ *.safetensors)
 *   (inputs up to -max_len=16384: headers are what matter)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ref/lib/safetensors.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    SafeTensors st;
    T2vError err;
    memset(&st, 0, sizeof st);
    st.path = dup_str("fuzz.safetensors");
    st.map.data = data;
    st.map.size = n;
    int rc = parse_header(&st, &err); /* what st_open runs on the mapped file */
    if (rc != T2V_OK) {
        if (err.code != T2V_EINPUT && err.code != T2V_ERESOURCE) abort();
        if (!strstr(err.msg, "fuzz.safetensors")) abort(); /* every message names the file */
    } else {
        const uint8_t *lo = data + 8 + rd_u64le(data), *hi = data + n;
        unsigned sum = 0;
        for (int i = 0; i < st.tensors.n; i++) {
            const Tensor *t = &st.tensors.tensors[i];
            const uint8_t *d = (const uint8_t *)t->data;
            size_t nb = tensor_nbytes(t);
            if (d < lo || d > hi || nb > (size_t)(hi - d)) abort();
            for (size_t k = 0; k < nb; k++) sum += d[k];
            if (tensor_numel(t) <= 4096) free(tensor_to_f32_alloc(t, NULL));
            for (int j = 0; j < i; j++) { /* no overlap */
                const uint8_t *e = (const uint8_t *)st.tensors.tensors[j].data;
                size_t mb = tensor_nbytes(&st.tensors.tensors[j]);
                if (nb && mb && d < e + mb && e < d + nb) abort();
            }
        }
        for (int i = 0; i < st.nmeta; i++)
            if (!st.meta_keys[i] || !st.meta_vals[i] || !st_meta(&st, st.meta_keys[i])) abort();
        if (sum == 0xFFFFFFFFu) abort(); /* keeps the reads */
    }
    st.map.data = NULL; /* borrowed: st_close must not unmap it */
    st_close(&st);
    return 0;
}
