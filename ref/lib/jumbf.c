/*
 * jumbf.c: JUMBF box writer and reader (jumbf.h; ISO/IEC 19566-5 Annex A,
 * C2PA specification section "JUMBF boxes").
 */
#include "jumbf.h"

#include <string.h>

#define FAIL(msg) do { if (why) *why = (msg); return -1; } while (0)

void c2pa_uuid(const char fourcc[4], uint8_t uuid[16]) {
    static const uint8_t tail[12] = {0x00, 0x11, 0x00, 0x10, 0x80, 0x00,
                                     0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
    memcpy(uuid, fourcc, 4);
    memcpy(uuid + 4, tail, 12);
}

int box_next(const uint8_t *buf, size_t n, size_t *pos, BoxRef *b, const char **why) {
    size_t p = *pos;
    if (p == n) return 0;
    if (p > n || n - p < 8) FAIL("truncated box header");
    uint64_t size = be32_get(buf + p), hdr = 8;
    memcpy(b->type, buf + p + 4, 4);
    b->type[4] = 0;
    if (size == 1) {
        if (n - p < 16) FAIL("truncated 64-bit box size");
        size = (uint64_t)be32_get(buf + p + 8) << 32 | be32_get(buf + p + 12);
        hdr = 16;
    } else if (size == 0) {
        size = n - p;
    }
    if (size < hdr) FAIL("box size smaller than its header");
    if (size > n - p) FAIL("box runs past its parent");
    b->start = p;
    b->off = p + (size_t)hdr;
    b->len = (size_t)(size - hdr);
    *pos = p + (size_t)size;
    return 1;
}

size_t box_begin(ByteBuf *o, const char type[4]) {
    size_t start = o->n;
    bb_be32(o, 0);
    bb_add(o, type, 4);
    return start;
}

void box_end(ByteBuf *o, size_t start) {
    if (!o->oom) be32_put(o->p + start, (uint32_t)(o->n - start));
}

size_t jumbf_begin(ByteBuf *o, const uint8_t uuid[16], const char *label) {
    size_t jumb = box_begin(o, "jumb");
    size_t jumd = box_begin(o, "jumd");
    bb_add(o, uuid, 16);
    bb_u8(o, 0x03);
    bb_add(o, label, strlen(label) + 1);
    box_end(o, jumd);
    return jumb;
}

int jumbf_desc(const uint8_t *buf, const BoxRef *b, JumbfDesc *d, const char **why) {
    BoxRef h;
    size_t pos = 0;
    const uint8_t *sub = buf + b->off;
    int r = box_next(sub, b->len, &pos, &h, why);
    if (r < 0) return -1;
    if (r == 0 || strcmp(h.type, "jumd") != 0) FAIL("superbox without a jumd description box first");
    if (h.len < 17) FAIL("jumd box shorter than a UUID and toggles");
    const uint8_t *q = sub + h.off;
    memcpy(d->uuid, q, 16);
    d->toggles = q[16];
    d->label[0] = 0;
    if (d->toggles & 0x02) {
        size_t i = 17;
        while (i < h.len && q[i]) i++;
        if (i == h.len) FAIL("jumd label not NUL-terminated");
        if (i - 17 >= JUMBF_LABEL_MAX) FAIL("jumd label too long");
        memcpy(d->label, q + 17, i - 17);
        d->label[i - 17] = 0;
    }
    d->content = b->off + pos;
    return 0;
}

int jumbf_find(const uint8_t *buf, const BoxRef *parent, const char *label, const uint8_t *uuid,
               BoxRef *out, const char **why) {
    JumbfDesc d;
    if (jumbf_desc(buf, parent, &d, why)) return -1;
    size_t end = parent->off + parent->len, pos = d.content;
    BoxRef b;
    int r;
    while ((r = box_next(buf, end, &pos, &b, why)) == 1) {
        if (strcmp(b.type, "jumb") != 0) continue;
        JumbfDesc c;
        if (jumbf_desc(buf, &b, &c, why)) return -1;
        if (strcmp(c.label, label) == 0 && (!uuid || memcmp(uuid, c.uuid, 16) == 0)) {
            *out = b;
            return 1;
        }
    }
    return r;
}

int jumbf_content(const uint8_t *buf, const BoxRef *parent, const char type[4], BoxRef *out,
                  const char **why) {
    JumbfDesc d;
    if (jumbf_desc(buf, parent, &d, why)) return -1;
    size_t end = parent->off + parent->len, pos = d.content;
    int r;
    while ((r = box_next(buf, end, &pos, out, why)) == 1)
        if (memcmp(out->type, type, 4) == 0) return 1;
    return r;
}

static int check_super(const uint8_t *buf, const BoxRef *b, int depth, const char **why) {
    JumbfDesc d;
    BoxRef c;
    if (depth > 16) FAIL("JUMBF nested too deeply");
    if (jumbf_desc(buf, b, &d, why)) return -1;
    size_t end = b->off + b->len, pos = d.content;
    int r;
    while ((r = box_next(buf, end, &pos, &c, why)) == 1)
        if (strcmp(c.type, "jumb") == 0 && check_super(buf, &c, depth + 1, why)) return -1;
    return r;
}

int jumbf_check(const uint8_t *buf, size_t n, const char **why) {
    size_t pos = 0;
    BoxRef b;
    int r = box_next(buf, n, &pos, &b, why);
    if (r < 0) return -1;
    if (r == 0 || strcmp(b.type, "jumb") != 0) FAIL("not a JUMBF superbox");
    if (pos != n) FAIL("bytes after the JUMBF superbox");
    return check_super(buf, &b, 0, why);
}
