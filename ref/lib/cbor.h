/*
 * cbor.h: the CBOR subset C2PA manifests use (RFC 8949): unsigned and
 * negative integers, byte and text strings, arrays, maps, tags, simple
 * values and floats, all with definite lengths. A writer into a growable
 * byte buffer (ByteBuf, also used for the JUMBF boxes of jumbf.h) and a
 * strict reader: every head is bounds-checked, indefinite lengths and the
 * reserved additional-information values 28..30 are refused, nesting is
 * limited to CBOR_MAX_DEPTH and a count can never exceed the bytes left.
 * docs/OUTPUTS.md (Content Credentials) says where it is used.
 */
#ifndef T2V_CBOR_H
#define T2V_CBOR_H

#include <stddef.h>
#include <stdint.h>

#define CBOR_MAX_DEPTH 32

/* Growable bytes. An append that runs out of memory sets oom; later appends
 * do nothing, so a writer checks oom once at the end. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
    int oom;
} ByteBuf;

void bb_add(ByteBuf *b, const void *p, size_t n);
void bb_u8(ByteBuf *b, unsigned v);
void bb_be32(ByteBuf *b, uint32_t v);
void bb_free(ByteBuf *b);
void be32_put(uint8_t *p, uint32_t v);
uint32_t be32_get(const uint8_t *p);

/* Writer. Maps are written as a count then key, value, key, value, ... */
enum { CBOR_UINT = 0, CBOR_NEGINT = 1, CBOR_BYTES = 2, CBOR_TEXT = 3, CBOR_ARRAY = 4,
       CBOR_MAP = 5, CBOR_TAG = 6, CBOR_SIMPLE = 7 };
void cbor_head(ByteBuf *b, int major, uint64_t v); /* shortest form */
void cbor_uint(ByteBuf *b, uint64_t v);
void cbor_int(ByteBuf *b, int64_t v);
void cbor_bytes(ByteBuf *b, const void *p, size_t n);
void cbor_text(ByteBuf *b, const char *s);
void cbor_textn(ByteBuf *b, const char *s, size_t n);
void cbor_array(ByteBuf *b, size_t n);
void cbor_map(ByteBuf *b, size_t n);
void cbor_tag(ByteBuf *b, uint64_t tag);
void cbor_null(ByteBuf *b);
void cbor_bool(ByteBuf *b, int v);
void cbor_float64(ByteBuf *b, double v); /* always 8 bytes (additional information 27) */

/* Reader. One head at buf[*pos]: major type, argument (value, length or
 * count; for major 7 the simple value or the float's bits) and, for byte and
 * text strings, the content (data, len = val). *pos moves past the head and
 * the string content, not past an array's or map's items. Returns 0, or -1
 * with a reason in *why (a static string) for anything malformed. */
typedef struct {
    int major;
    int ai;       /* the head's additional information (major 7: 25..27 = a float) */
    uint64_t val;
    const uint8_t *data; /* strings only */
} CborItem;

int cbor_read(const uint8_t *buf, size_t n, size_t *pos, CborItem *it, const char **why);
/* Moves *pos past one whole item (with everything nested in it). */
int cbor_skip(const uint8_t *buf, size_t n, size_t *pos, const char **why);
/* 0 when buf[0..n) is exactly one well-formed item. */
int cbor_check(const uint8_t *buf, size_t n, const char **why);
/* In the map whose head is at map_pos, the position of the value of text key
 * `key` (*val_pos). Returns 1 found, 0 absent, -1 malformed or not a map. */
int cbor_map_find(const uint8_t *buf, size_t n, size_t map_pos, const char *key, size_t *val_pos,
                  const char **why);
/* Convenience: the item at pos must be a text/byte string / unsigned int. */
int cbor_get_text(const uint8_t *buf, size_t n, size_t pos, const char **s, size_t *len);
int cbor_get_bytes(const uint8_t *buf, size_t n, size_t pos, const uint8_t **p, size_t *len);
int cbor_get_uint(const uint8_t *buf, size_t n, size_t pos, uint64_t *v);

#endif
