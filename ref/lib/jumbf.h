/*
 * jumbf.h: JUMBF boxes (ISO/IEC 19566-5), the container of a C2PA manifest
 * store. A box is a 4-byte big-endian size (8 + payload; 1 = a 64-bit size
 * follows; 0 = to the end), a 4-byte type, the payload. A superbox `jumb`
 * holds a description box `jumd` first (a 16-byte type UUID, a toggles byte,
 * and with toggle 0x02 a NUL-terminated UTF-8 label), then its content boxes
 * (`cbor`, `json`, nested `jumb`, ...). Writer on ByteBuf (cbor.h); a reader
 * that checks every size against its parent. docs/OUTPUTS.md.
 */
#ifndef T2V_JUMBF_H
#define T2V_JUMBF_H

#include <stddef.h>
#include <stdint.h>

#include "cbor.h"

#define JUMBF_LABEL_MAX 256

/* A box inside a parent buffer: payload at buf[off .. off+len). */
typedef struct {
    char type[5];
    size_t start; /* the size field */
    size_t off, len;
} BoxRef;

/* Reads the box header at *pos within buf[0..n) and moves *pos past the box.
 * Returns 1 read, 0 at the end (*pos == n), -1 malformed (*why). */
int box_next(const uint8_t *buf, size_t n, size_t *pos, BoxRef *b, const char **why);

/* Writing: box_begin writes a size placeholder and the type and returns the
 * box's start; box_end fills the size in. */
size_t box_begin(ByteBuf *o, const char type[4]);
void box_end(ByteBuf *o, size_t start);
/* `jumb` with its `jumd` (toggles 0x03: requestable, label present), left
 * open for the content boxes; close it with box_end. */
size_t jumbf_begin(ByteBuf *o, const uint8_t uuid[16], const char *label);

/* A superbox's description. */
typedef struct {
    uint8_t uuid[16];
    uint8_t toggles;
    char label[JUMBF_LABEL_MAX];
    size_t content; /* offset (in the parent buffer) of the first content box */
} JumbfDesc;

/* Parses the `jumd` at the start of superbox payload buf[b->off ..) into d. */
int jumbf_desc(const uint8_t *buf, const BoxRef *b, JumbfDesc *d, const char **why);
/* Among the `jumb` content boxes of superbox `parent`, the first whose label
 * is `label` (uuid, when not NULL, must match too). 1 found, 0 not, -1 bad. */
int jumbf_find(const uint8_t *buf, const BoxRef *parent, const char *label, const uint8_t *uuid,
               BoxRef *out, const char **why);
/* The first content box of type `type` in superbox `parent`. */
int jumbf_content(const uint8_t *buf, const BoxRef *parent, const char type[4], BoxRef *out,
                  const char **why);
/* Checks a whole JUMBF tree (every box size, every superbox's jumd), depth
 * limited to 16. 0 when well formed. */
int jumbf_check(const uint8_t *buf, size_t n, const char **why);

/* The C2PA box-type UUIDs: 4 ASCII characters + 0011-0010-8000-00AA00389B71. */
void c2pa_uuid(const char fourcc[4], uint8_t uuid[16]);

#endif
