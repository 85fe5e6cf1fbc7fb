/* quant.c: see quant.h. Each decoder takes one block; the arithmetic is
 * written as ggml's reference decoder evaluates it (fp32, left to right), so
 * the values are the same bits. */
#include "quant.h"

#include <math.h>

static float half(const unsigned char *p) { return f16_to_f32(rd_u16le(p)); }

/* ---------------------------------------------------------------------------
 * 32-element blocks. Nibble j of byte i: element i (low) and i + 16 (high). */
static void dec_q8_0(float *y, const unsigned char *b) {
    float d = half(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(signed char)b[2 + j] * d;
}

static void dec_q4_0(float *y, const unsigned char *b) {
    float d = half(b);
    const unsigned char *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((qs[j] & 0x0f) - 8) * d;
        y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

static void dec_q4_1(float *y, const unsigned char *b) {
    float d = half(b), m = half(b + 2);
    const unsigned char *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(qs[j] & 0x0f) * d + m;
        y[j + 16] = (float)(qs[j] >> 4) * d + m;
    }
}

/* Q5: bit j of the little-endian u32 qh is the 5th bit of element j. */
static void dec_q5_0(float *y, const unsigned char *b) {
    float d = half(b);
    uint32_t qh = rd_u32le(b + 2);
    const unsigned char *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
        int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
        y[j] = (float)(lo - 16) * d;
        y[j + 16] = (float)(hi - 16) * d;
    }
}

static void dec_q5_1(float *y, const unsigned char *b) {
    float d = half(b), m = half(b + 2);
    uint32_t qh = rd_u32le(b + 4);
    const unsigned char *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
        int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
        y[j] = (float)lo * d + m;
        y[j + 16] = (float)hi * d + m;
    }
}

/* ---------------------------------------------------------------------------
 * 256-element super-blocks (the "K" types). */

/* Q2_K: 16 sub-blocks of 16; scale byte s: scale s & 15, min s >> 4. Each
 * 32-byte half of qs holds 128 elements as four 2-bit planes. */
static void dec_q2_k(float *y, const unsigned char *b) {
    const unsigned char *sc = b, *q = b + 16;
    float d = half(b + 80), dmin = half(b + 82);
    int is = 0;
    for (int n = 0; n < 256; n += 128, q += 32)
        for (int shift = 0; shift < 8; shift += 2)
            for (int h = 0; h < 2; h++, is++) {
                float dl = d * (float)(sc[is] & 0x0f), ml = dmin * (float)(sc[is] >> 4);
                for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[16 * h + l] >> shift) & 3) - ml;
            }
}

/* The sixteen 6-bit scales of Q3_K from its 12 bytes: scale i has its low
 * 4 bits in byte i (i < 8, low nibble) or byte i - 8 (high nibble), its high
 * 2 bits in byte 8 + i % 4 at bit 2 (i / 4). Stored biased by 32. */
static void q3_k_scales(int *s, const unsigned char *p) {
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? p[i] & 0x0f : p[i - 8] >> 4;
        int hi = (p[8 + i % 4] >> (2 * (i / 4))) & 3;
        s[i] = (lo | hi << 4) - 32;
    }
}

/* Q3_K: 2-bit planes as Q2_K, plus a high bit from hmask (bit set: +0,
 * clear: -4), one hmask bit plane per 32-element group. */
static void dec_q3_k(float *y, const unsigned char *b) {
    const unsigned char *hm = b, *q = b + 32;
    float d = half(b + 108);
    int s[16], is = 0;
    unsigned m = 1;
    q3_k_scales(s, b + 96);
    for (int n = 0; n < 256; n += 128, q += 32)
        for (int shift = 0; shift < 8; shift += 2, m <<= 1)
            for (int h = 0; h < 2; h++, is++) {
                float dl = d * (float)s[is];
                for (int l = 0; l < 16; l++) {
                    int k = 16 * h + l;
                    int v = ((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4);
                    *y++ = dl * (float)v;
                }
            }
}

/* Scale and min j (0..7) of Q4_K / Q5_K from their 12 bytes: 6 bits each;
 * for j < 4 the low 6 bits of bytes j and j + 4, else 4 bits from byte
 * j + 4 and the top 2 bits of bytes j - 4 and j. */
static void k4_scale_min(int j, const unsigned char *p, int *sc, int *mn) {
    if (j < 4) {
        *sc = p[j] & 63;
        *mn = p[j + 4] & 63;
    } else {
        *sc = (p[j + 4] & 0x0f) | ((p[j - 4] >> 6) << 4);
        *mn = (p[j + 4] >> 4) | ((p[j] >> 6) << 4);
    }
}

/* Q4_K: 8 sub-blocks of 32; each 32 bytes of qs hold two (low, high nibbles). */
static void dec_q4_k(float *y, const unsigned char *b) {
    float d = half(b), dmin = half(b + 2);
    const unsigned char *sm = b + 4, *q = b + 16;
    for (int j = 0; j < 8; j += 2, q += 32) {
        int s1, m1, s2, m2;
        k4_scale_min(j, sm, &s1, &m1);
        k4_scale_min(j + 1, sm, &s2, &m2);
        float d1 = d * (float)s1, c1 = dmin * (float)m1, d2 = d * (float)s2, c2 = dmin * (float)m2;
        for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0x0f) - c1;
        for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - c2;
    }
}

/* Q5_K: Q4_K plus a 5th bit (+16) from qh, bit j of byte l for sub-block j. */
static void dec_q5_k(float *y, const unsigned char *b) {
    float d = half(b), dmin = half(b + 2);
    const unsigned char *sm = b + 4, *qh = b + 16, *q = b + 48;
    for (int j = 0; j < 8; j += 2, q += 32) {
        int s1, m1, s2, m2;
        k4_scale_min(j, sm, &s1, &m1);
        k4_scale_min(j + 1, sm, &s2, &m2);
        float d1 = d * (float)s1, c1 = dmin * (float)m1, d2 = d * (float)s2, c2 = dmin * (float)m2;
        for (int l = 0; l < 32; l++) *y++ = d1 * (float)((q[l] & 0x0f) + ((qh[l] >> j) & 1 ? 16 : 0)) - c1;
        for (int l = 0; l < 32; l++) *y++ = d2 * (float)((q[l] >> 4) + ((qh[l] >> (j + 1)) & 1 ? 16 : 0)) - c2;
    }
}

/* Q6_K: per 128 elements, 64 bytes of low nibbles and 32 bytes of 2-bit
 * highs; 6-bit q biased by 32; 16 int8 scales of 16 elements each. */
static void dec_q6_k(float *y, const unsigned char *b) {
    const unsigned char *ql = b, *qh = b + 128;
    const signed char *sc = (const signed char *)(b + 192);
    float d = half(b + 208);
    for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
}

void quant_dequant(DType dt, float *dst, const void *src, int64_t nblocks) {
    void (*dec)(float *, const unsigned char *) = NULL;
    switch (dt) {
    case DT_Q8_0: dec = dec_q8_0; break;
    case DT_Q4_0: dec = dec_q4_0; break;
    case DT_Q4_1: dec = dec_q4_1; break;
    case DT_Q5_0: dec = dec_q5_0; break;
    case DT_Q5_1: dec = dec_q5_1; break;
    case DT_Q2_K: dec = dec_q2_k; break;
    case DT_Q3_K: dec = dec_q3_k; break;
    case DT_Q4_K: dec = dec_q4_k; break;
    case DT_Q5_K: dec = dec_q5_k; break;
    case DT_Q6_K: dec = dec_q6_k; break;
    default: break;
    }
    int bs = dtype_block(dt);
    size_t bb = dtype_size(dt);
    const unsigned char *s = (const unsigned char *)src;
    for (int64_t i = 0; i < nblocks; i++) {
        float *y = dst + i * bs;
        if (dec) dec(y, s + (size_t)i * bb);
        else for (int k = 0; k < bs; k++) y[k] = NAN;
    }
}
