/*
 * fuzz_png.c: libFuzzer target for the PNG provenance reader of ref/app/video.c
 * (video_read_provenance: chunk walk, CRCs, tEXt / iTXt keywords, inflate-free
 * text), what `t2v info FILE.png` runs on any file it is given.
 *
 * video.h reads a path, so each input is written to a temporary file
 * (t2v-fuzz-png-PID.png in /dev/shm when there is one, else /tmp) and read
 * back. Inputs of even length get every
 * complete chunk's CRC recomputed first, so the fuzzer reaches the chunk
 * parsers behind the CRC check; odd lengths are read as they are (CRC
 * mismatches, truncation). Whatever the bytes: no crash, no leak; a refusal
 * names the file and returns no text; a success returns NUL-terminated text.
 *
 *   tests/fuzz/run.sh --runs 1000000 png
 *   FUZZ_SEEDS: tests/fuzz/seeds/png
 *   (inputs up to -max_len=65536)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../ref/app/video.h"

static uint32_t crc_table[256];

static uint32_t crc32_png(const uint8_t *p, size_t n) {
    if (!crc_table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* Rewrites the CRC of every complete chunk after the 8-byte signature. */
static void fix_crcs(uint8_t *d, size_t n) {
    size_t off = 8;
    while (n >= 12 && off <= n - 12) {
        size_t len = (size_t)d[off] << 24 | (size_t)d[off + 1] << 16 | (size_t)d[off + 2] << 8 | d[off + 3];
        if (len > n - off - 12) break;
        uint32_t c = crc32_png(d + off + 4, len + 4);
        uint8_t *p = d + off + 8 + len;
        p[0] = (uint8_t)(c >> 24), p[1] = (uint8_t)(c >> 16), p[2] = (uint8_t)(c >> 8), p[3] = (uint8_t)c;
        off += len + 12;
    }
}

static char path[64];

static void remove_temp(void) { remove(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (!path[0]) {
        atexit(remove_temp);
        struct stat st;
        const char *dir = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof path, "%s/t2v-fuzz-png-%ld.png", dir, (long)getpid());
    }
    uint8_t *copy = (uint8_t *)malloc(n ? n : 1);
    if (!copy) return 0;
    memcpy(copy, data, n);
    if (n % 2 == 0) fix_crcs(copy, n);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(copy, 1, n, f) != n) abort();
    fclose(f);
    free(copy);

    char *text = (char *)1;
    T2vError err;
    memset(&err, 0, sizeof err);
    int rc = video_read_provenance(path, &text, &err);
    if (rc != T2V_OK) {
        if (text) abort();                       /* no text on a refusal */
        if (err.code != rc || !strstr(err.msg, path)) abort(); /* the message names the file */
    } else {
        if (!text) abort();
        (void)strlen(text); /* NUL-terminated: ASan checks the walk */
        free(text);
    }
    return 0;
}
