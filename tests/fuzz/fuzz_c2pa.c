/*
 * fuzz_c2pa.c: libFuzzer target for the Content Credentials readers of
 * ref/lib (cbor.c, jumbf.c, c2pa.c, and through c2pa_verify OpenSSL's
 * certificate parsing): what `t2v info` runs on any PNG, MP4 or .c2pa file.
 *
 * The bytes choose how they are read, so that the seeds (signed files,
 * tests/hostile's stores) work as they are: a PNG signature: c2pa_verify as
 * a PNG; "ftyp" at 4: as an MP4; "jumb" at 4: a manifest store
 * (c2pa_store_check, c2pa_verify as the sidecar of a one-byte asset, and
 * wrapped in a PNG's caBX chunk, whose CRC the store reader does not need);
 * anything else: CBOR (cbor_check and a key lookup). Whatever the bytes: no
 * crash, no leak, no read out of bounds.
 *
 *   tests/fuzz/run.sh --runs 100000 c2pa
 *   FUZZ_SEEDS: tests/fuzz/seeds/c2pa tests/hostile
 *   (inputs up to -max_len=16384)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ref/lib/c2pa.h"
#include "../../ref/lib/cbor.h"
#include "../../ref/lib/jumbf.h"

static void verify(int kind, const uint8_t *a, size_t n, const uint8_t *side, size_t sn) {
    C2paResult r;
    T2vError e;
    if (c2pa_verify(kind, a, n, side, sn, &r, &e) == T2V_OK) c2pa_result_free(&r);
}

static void wrapped(const uint8_t *p, size_t n) {
    static const uint8_t head[33] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                     0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0, 0, 0, 0};
    size_t m = 33 + 8 + n + 4 + 12;
    uint8_t *png = (uint8_t *)malloc(m);
    if (!png) return;
    memcpy(png, head, 33);
    be32_put(png + 33, (uint32_t)n);
    memcpy(png + 37, "caBX", 4);
    memcpy(png + 41, p, n);
    memset(png + 41 + n, 0, 4);
    memcpy(png + 45 + n, "\0\0\0\0IEND\xAE\x42\x60\x82", 12);
    verify('p', png, m, NULL, 0);
    free(png);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}, one[1] = {0};
    uint8_t *p = (uint8_t *)malloc(n ? n : 1); /* exact size: ASan sees overreads */
    if (!p) return 0;
    if (n) memcpy(p, data, n);
    const char *why = NULL;
    size_t vp;
    if (n >= 8 && !memcmp(p, sig, 8)) verify('p', p, n, NULL, 0);
    else if (n >= 8 && !memcmp(p + 4, "ftyp", 4)) verify('m', p, n, NULL, 0);
    else if (n >= 8 && !memcmp(p + 4, "jumb", 4)) {
        if (c2pa_store_check(p, n, &why) == 0) verify('s', one, 1, p, n);
        wrapped(p, n);
    } else if (cbor_check(p, n, &why) == 0) (void)cbor_map_find(p, n, 0, "hash", &vp, &why);
    free(p);
    return 0;
}
