/*
 * cbor.c: CBOR writer and strict reader (cbor.h; RFC 8949 section 3).
 */
#include "cbor.h"

#include <stdlib.h>
#include <string.h>

void bb_add(ByteBuf *b, const void *p, size_t n) {
    if (b->oom || n == 0) return;
    if (n > SIZE_MAX / 2 - b->n) { b->oom = 1; return; }
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = (uint8_t *)realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

void bb_u8(ByteBuf *b, unsigned v) {
    uint8_t c = (uint8_t)v;
    bb_add(b, &c, 1);
}

void be32_put(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

uint32_t be32_get(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void bb_be32(ByteBuf *b, uint32_t v) {
    uint8_t q[4];
    be32_put(q, v);
    bb_add(b, q, 4);
}

void bb_free(ByteBuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* RFC 8949 3.1: additional information 0..23 inline, 24..27 = 1, 2, 4, 8
 * bytes of argument, big-endian. */
void cbor_head(ByteBuf *b, int major, uint64_t v) {
    uint8_t h[9];
    int k;
    if (v < 24) { bb_u8(b, (unsigned)(major << 5 | (int)v)); return; }
    if (v <= 0xFF) { h[0] = (uint8_t)(major << 5 | 24); k = 1; }
    else if (v <= 0xFFFF) { h[0] = (uint8_t)(major << 5 | 25); k = 2; }
    else if (v <= 0xFFFFFFFFu) { h[0] = (uint8_t)(major << 5 | 26); k = 4; }
    else { h[0] = (uint8_t)(major << 5 | 27); k = 8; }
    for (int i = 0; i < k; i++) h[1 + i] = (uint8_t)(v >> (8 * (k - 1 - i)));
    bb_add(b, h, (size_t)k + 1);
}

void cbor_uint(ByteBuf *b, uint64_t v) { cbor_head(b, CBOR_UINT, v); }
void cbor_int(ByteBuf *b, int64_t v) {
    if (v >= 0) cbor_head(b, CBOR_UINT, (uint64_t)v);
    else cbor_head(b, CBOR_NEGINT, (uint64_t)(-(v + 1)));
}
void cbor_bytes(ByteBuf *b, const void *p, size_t n) { cbor_head(b, CBOR_BYTES, n); bb_add(b, p, n); }
void cbor_textn(ByteBuf *b, const char *s, size_t n) { cbor_head(b, CBOR_TEXT, n); bb_add(b, s, n); }
void cbor_text(ByteBuf *b, const char *s) { cbor_textn(b, s, strlen(s)); }
void cbor_array(ByteBuf *b, size_t n) { cbor_head(b, CBOR_ARRAY, n); }
void cbor_map(ByteBuf *b, size_t n) { cbor_head(b, CBOR_MAP, n); }
void cbor_tag(ByteBuf *b, uint64_t tag) { cbor_head(b, CBOR_TAG, tag); }
void cbor_null(ByteBuf *b) { bb_u8(b, 0xF6); }
void cbor_bool(ByteBuf *b, int v) { bb_u8(b, v ? 0xF5 : 0xF4); }

void cbor_float64(ByteBuf *b, double v) {
    uint64_t bits;
    uint8_t h[9];
    memcpy(&bits, &v, 8);
    h[0] = 0xFB;
    for (int i = 0; i < 8; i++) h[1 + i] = (uint8_t)(bits >> (56 - 8 * i));
    bb_add(b, h, 9);
}

#define FAIL(msg) do { if (why) *why = (msg); return -1; } while (0)

int cbor_read(const uint8_t *buf, size_t n, size_t *pos, CborItem *it, const char **why) {
    size_t p = *pos;
    if (p >= n) FAIL("truncated: a CBOR item expected");
    int ai = buf[p] & 31;
    it->major = buf[p] >> 5;
    it->ai = ai;
    it->data = NULL;
    p++;
    if (ai < 24) it->val = (uint64_t)ai;
    else if (ai <= 27) {
        size_t k = (size_t)1 << (ai - 24);
        if (n - p < k) FAIL("truncated CBOR head");
        uint64_t v = 0;
        for (size_t i = 0; i < k; i++) v = v << 8 | buf[p + i];
        p += k;
        it->val = v;
    } else if (ai == 31) FAIL("indefinite-length CBOR item (not allowed)");
    else FAIL("reserved CBOR additional information 28..30");
    if (it->major == CBOR_BYTES || it->major == CBOR_TEXT) {
        if (it->val > n - p) FAIL("CBOR string longer than the data left");
        it->data = buf + p;
        p += (size_t)it->val;
    } else if (it->major == CBOR_ARRAY || it->major == CBOR_MAP) {
        /* every item takes at least one byte: a count beyond that is a lie */
        uint64_t need = it->major == CBOR_MAP ? 2 : 1;
        if (it->val > (n - p) / need) FAIL("CBOR array/map count larger than the data left");
    } else if (it->major == CBOR_SIMPLE && ai == 24 && it->val < 32) {
        FAIL("non-canonical CBOR simple value");
    }
    *pos = p;
    return 0;
}

static int skip_depth(const uint8_t *buf, size_t n, size_t *pos, int depth, const char **why) {
    CborItem it;
    if (depth > CBOR_MAX_DEPTH) FAIL("CBOR nested too deeply");
    if (cbor_read(buf, n, pos, &it, why)) return -1;
    if (it.major == CBOR_TAG) return skip_depth(buf, n, pos, depth + 1, why);
    if (it.major == CBOR_ARRAY || it.major == CBOR_MAP) {
        uint64_t k = it.major == CBOR_MAP ? 2 * it.val : it.val;
        for (uint64_t i = 0; i < k; i++)
            if (skip_depth(buf, n, pos, depth + 1, why)) return -1;
    }
    return 0;
}

int cbor_skip(const uint8_t *buf, size_t n, size_t *pos, const char **why) {
    return skip_depth(buf, n, pos, 0, why);
}

int cbor_check(const uint8_t *buf, size_t n, const char **why) {
    size_t pos = 0;
    if (cbor_skip(buf, n, &pos, why)) return -1;
    if (pos != n) FAIL("bytes after the CBOR item");
    return 0;
}

int cbor_map_find(const uint8_t *buf, size_t n, size_t map_pos, const char *key, size_t *val_pos,
                  const char **why) {
    CborItem m, k;
    size_t pos = map_pos, klen = strlen(key);
    if (cbor_read(buf, n, &pos, &m, why)) return -1;
    if (m.major != CBOR_MAP) FAIL("CBOR map expected");
    for (uint64_t i = 0; i < m.val; i++) {
        size_t kpos = pos;
        if (cbor_read(buf, n, &pos, &k, why)) return -1;
        if (k.major == CBOR_TEXT && k.val == klen && memcmp(k.data, key, klen) == 0) {
            *val_pos = pos;
            return 1;
        }
        pos = kpos;
        if (cbor_skip(buf, n, &pos, why) || cbor_skip(buf, n, &pos, why)) return -1;
    }
    return 0;
}

int cbor_get_text(const uint8_t *buf, size_t n, size_t pos, const char **s, size_t *len) {
    CborItem it;
    if (cbor_read(buf, n, &pos, &it, NULL) || it.major != CBOR_TEXT) return -1;
    *s = (const char *)it.data;
    *len = (size_t)it.val;
    return 0;
}

int cbor_get_bytes(const uint8_t *buf, size_t n, size_t pos, const uint8_t **p, size_t *len) {
    CborItem it;
    if (cbor_read(buf, n, &pos, &it, NULL) || it.major != CBOR_BYTES) return -1;
    *p = it.data;
    *len = (size_t)it.val;
    return 0;
}

int cbor_get_uint(const uint8_t *buf, size_t n, size_t pos, uint64_t *v) {
    CborItem it;
    if (cbor_read(buf, n, &pos, &it, NULL) || it.major != CBOR_UINT) return -1;
    *v = it.val;
    return 0;
}
