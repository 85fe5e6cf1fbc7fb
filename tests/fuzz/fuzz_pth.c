/*
 * fuzz_pth.c: libFuzzer target for ref/pth.c (zip directory, restricted
 * pickle interpreter, tensor validation). The input is a whole .pth file,
 * opened from memory (pth_open_mem; libFuzzer's buffer is exactly n bytes, so
 * ASan sees any read past the end). Whatever loads must be in bounds: every
 * view lies inside the input, every owned copy is readable.
 *
 *   tests/fuzz/run.sh 60        (seeds: golden/ and tests/hostile/ *.pth)
 *   (inputs up to -max_len=16384: headers and pickles are what matter)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ref/lib/pth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    PthFile p;
    T2vError err;
    if (pth_open_mem(&p, data, n, "fuzz.pth", &err) != T2V_OK) {
        if (err.code != T2V_EINPUT && err.code != T2V_ERESOURCE) abort();
        if (!strstr(err.msg, "fuzz.pth")) abort(); /* every message names the file */
        return 0;
    }
    unsigned sum = 0;
    for (int i = 0; i < p.tensors.n; i++) {
        const Tensor *t = &p.tensors.tensors[i];
        size_t nb = tensor_nbytes(t);
        const uint8_t *d = (const uint8_t *)t->data;
        if (!t->owned && nb && (d < data || d + nb > data + n || (size_t)(d - data) > n - nb)) abort();
        for (size_t k = 0; k < nb; k++) sum += d[k];
        if (tensor_numel(t) <= 4096) {
            float *f = tensor_to_f32_alloc(t, NULL);
            free(f);
        }
    }
    pth_close(&p);
    if (sum == 0xFFFFFFFFu) abort(); /* keeps the reads */
    return 0;
}
