/*
 * sha256.h: SHA-256 (FIPS 180-4), own small implementation, for the model
 * file hashes and output file hashes in the provenance metadata (video.h).
 * Tested against the FIPS 180-2 example vectors in tests/test_video.c.
 */
#ifndef T2V_SHA256_H
#define T2V_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

typedef struct {
    uint32_t h[8];       /* chaining state */
    uint64_t nbytes;     /* message length so far */
    unsigned char buf[64];
    size_t nbuf;         /* bytes waiting in buf */
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
void sha256_final(Sha256 *s, unsigned char digest[32]);
/* digest as 64 lowercase hex digits plus NUL */
void sha256_hex(const unsigned char digest[32], char hex[65]);
/* One call: hex digest of data[0..n). */
void sha256_buf_hex(const void *data, size_t n, char hex[65]);
/* Streams a whole file (any size) through SHA-256. Errors name the file:
 * T2V_EINPUT when it cannot be opened or read. */
int sha256_file_hex(const char *path, char hex[65], T2vError *err);

#endif
