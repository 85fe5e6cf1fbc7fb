/*
 * c2pa_crypto.h: the only code that touches OpenSSL's libcrypto (c2pa.h):
 * key and certificate loading, signing, signature and chain checks, random
 * bytes. Internal to c2pa.c; without T2V_C2PA every function fails.
 */
#ifndef T2V_C2PA_CRYPTO_H
#define T2V_C2PA_CRYPTO_H

#include "c2pa.h"

/* COSE algorithm ids (RFC 9053). */
#define COSE_ES256 (-7)
#define COSE_EDDSA (-8)

int c2pa_random(uint8_t *p, size_t n, T2vError *err);
/* Signature over tbs in COSE form (ES256: r||s, 64 bytes; EdDSA: 64 bytes). */
int c2pa_crypto_sign(const C2paSigner *s, const uint8_t *tbs, size_t n, uint8_t sig[64], T2vError *err);

/* Checks a COSE signature with the first certificate's key, the chain
 * (each certificate signed by the next, all valid now), and the signing
 * certificate against C2PA's profile. On failure returns -1 with a
 * validation code ("claimSignature.mismatch", "signingCredential.invalid",
 * "signingCredential.expired") and a reason. */
typedef struct {
    char subject[256], issuer[256];
    int self_issued_root;
} CertInfo;
int c2pa_crypto_verify(int alg, const uint8_t *const *cert, const size_t *cert_len, int ncert,
                       const uint8_t *tbs, size_t n, const uint8_t *sig, size_t sig_len,
                       CertInfo *ci, char *code, size_t codelen, char *why, size_t whylen);

#endif
