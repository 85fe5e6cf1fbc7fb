/*
 * c2pa.h: Content Credentials (C2PA specification 2.x): a signed manifest
 * store that says what made a file, bound to the file's bytes by a hash.
 *
 *   store  = jumb "c2pa" { manifest }                          (JUMBF, jumbf.h)
 *   manifest = jumb "urn:c2pa:UUID" { assertions, claim, signature }
 *   assertions = jumb "c2pa.assertions" { one jumb + cbor box per assertion }
 *   claim  = jumb "c2pa.claim.v2" { cbor: instanceID, claim_generator_info,
 *            signature, created_assertions [hashed URIs], alg }
 *   signature = jumb "c2pa.signature" { cbor: COSE_Sign1 (RFC 9052), tag 18,
 *            detached payload = the claim's CBOR bytes, ES256 or EdDSA,
 *            protected header {1: alg, 33: x5chain} }
 *
 * Assertions t2v writes: c2pa.actions.v2 (one c2pa.created action, IPTC
 * digitalSourceType trainedAlgorithmicMedia, softwareAgent t2v), the
 * caller's generation parameters (label C2PA_PARAMS_LABEL), and one hard
 * binding: c2pa.hash.data (PNG, with the caBX chunk excluded; a sidecar,
 * nothing excluded) or c2pa.hash.bmff.v2 (MP4, top-level boxes with their
 * offsets, the C2PA uuid box, ftyp, free, skip and mfra excluded).
 *
 * Signing and certificates go through OpenSSL's libcrypto; the file hashes
 * use sha256.c. A build without T2V_C2PA (cross builds, Makefile C2PA=0)
 * keeps the structures and the readers but every signing or verifying call
 * returns T2V_EUSAGE "built without C2PA support". docs/OUTPUTS.md.
 */
#ifndef T2V_C2PA_H
#define T2V_C2PA_H

#include <stddef.h>
#include <stdint.h>

#include "cbor.h"
#include "tensor.h"

#define C2PA_PARAMS_LABEL "t2v.generation"
#define C2PA_MAX_CERTS 8
#define C2PA_DST_TRAINED "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"

/* 1 when built with signing (T2V_C2PA), else 0. */
int c2pa_available(void);

/* A signing key and its certificate chain (DER, signing certificate first). */
typedef struct {
    void *key; /* EVP_PKEY */
    int alg;   /* COSE algorithm: -7 ES256, -8 EdDSA */
    int ncert;
    uint8_t *cert[C2PA_MAX_CERTS];
    size_t cert_len[C2PA_MAX_CERTS];
} C2paSigner;

/* Loads a PEM chain (signing certificate first, then intermediates; a root
 * may follow) and a PEM private key (EC P-256 or Ed25519) that must match
 * the first certificate. Errors name the file. */
int c2pa_signer_load(C2paSigner *s, const char *chain_pem, const char *key_pem, T2vError *err);
void c2pa_signer_free(C2paSigner *s);
/* 0 when the signing certificate meets what verification checks (C2PA's
 * certificate profile: v3, not a CA, keyUsage digitalSignature, an allowed
 * extendedKeyUsage and no anyExtendedKeyUsage; valid now); else -1 and why.
 * t2v refuses to sign with a certificate that would make every manifest
 * invalid. */
int c2pa_signer_check(const C2paSigner *s, char *why, size_t whylen);
/* A new local chain: an EC P-256 root CA (10 years) and a signing
 * certificate (5 years) for C2PA's certificate profile: version 3, ECDSA
 * with SHA-256, keyUsage digitalSignature (critical), extendedKeyUsage
 * emailProtection + documentSigning, subject/authority key identifiers,
 * basicConstraints CA:FALSE. Written as PEM: chain_path (signing cert, root),
 * key_path (the signing key, mode 0600), root_path (the root). */
int c2pa_keygen(const char *chain_path, const char *key_path, const char *root_path,
                const char *org, T2vError *err);

/* What the claim says besides the hard binding. */
typedef struct {
    const char *generator;   /* "t2v" */
    const char *version;     /* T2V_VERSION */
    const char *when;        /* ISO 8601 UTC, the c2pa.created action's time */
    const uint8_t *params;   /* CBOR map: the generation parameters (or NULL) */
    size_t params_len;
} C2paClaimInfo;

/* Signed PNG (or APNG): png[0..n) without a caBX chunk in, out = the same
 * file with a caBX chunk holding the manifest store right after IHDR. */
int c2pa_sign_png(const C2paSigner *s, const C2paClaimInfo *ci, const uint8_t *png, size_t n,
                  ByteBuf *out, T2vError *err);
/* Signed MP4: the C2PA uuid box (purpose "manifest") appended after the
 * last top-level box, so no chunk offset moves. */
int c2pa_sign_mp4(const C2paSigner *s, const C2paClaimInfo *ci, const uint8_t *mp4, size_t n,
                  ByteBuf *out, T2vError *err);
/* A sidecar manifest store (FILE.c2pa) for asset[0..n): c2pa.hash.data
 * over the whole asset. */
int c2pa_sign_sidecar(const C2paSigner *s, const C2paClaimInfo *ci, const uint8_t *asset, size_t n,
                      ByteBuf *out, T2vError *err);

/* Verification. */
/* UNCHECKED: a well-formed store in a build without C2PA support. */
typedef enum { C2PA_NONE = 0, C2PA_VALID = 1, C2PA_INVALID = 2, C2PA_UNCHECKED = 3 } C2paVerdict;

typedef struct {
    C2paVerdict verdict;
    char reason[512];      /* why invalid (the first failure) */
    char code[64];         /* the C2PA validation status code of that failure */
    char signer[256];      /* signing certificate's subject */
    char issuer[256];
    int self_issued_root;  /* the chain ends in a self-signed root (no trust list) */
    char *report;          /* claim, assertions, actions, parameters (malloc'ed text) */
} C2paResult;

/* Finds and checks the manifest of a PNG, MP4 or (sidecar != NULL) the
 * store in sidecar[0..sn) for asset[0..n). kind: 'p' PNG, 'm' MP4, 's'
 * sidecar. Returns T2V_OK with r filled in (NONE when there is no manifest),
 * or an error for an unreadable file. */
int c2pa_verify(int kind, const uint8_t *asset, size_t n, const uint8_t *sidecar, size_t sn,
                C2paResult *r, T2vError *err);
void c2pa_result_free(C2paResult *r);

/* Low level, for tests and the fuzzer. */
/* The store's JUMBF at png: offset and length of the caBX chunk's data; 0 found, -1 none/bad. */
int c2pa_png_find(const uint8_t *png, size_t n, size_t *chunk, size_t *off, size_t *len);
int c2pa_mp4_find(const uint8_t *mp4, size_t n, size_t *box, size_t *off, size_t *len);
/* Structural check of a manifest store (JUMBF tree, claim and assertion
 * CBOR, COSE layout) without crypto: 0 ok, -1 with *why. */
int c2pa_store_check(const uint8_t *store, size_t n, const char **why);

#endif
