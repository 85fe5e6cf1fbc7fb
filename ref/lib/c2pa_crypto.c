/*
 * c2pa_crypto.c: everything of c2pa.h that needs cryptography beyond
 * SHA-256, through OpenSSL 3's libcrypto (c2pa_crypto.h). Compiled to
 * stubs without T2V_C2PA (Makefile C2PA=0: the cross builds).
 */
#include "c2pa_crypto.h"

#include <stdio.h>
#include <string.h>

#ifdef T2V_C2PA
#include <fcntl.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

int c2pa_available(void) { return 1; }

static const char *ossl_why(void) {
    static char buf[160]; /* only for the message of the current error */
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e) return "unknown OpenSSL error";
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

int c2pa_random(uint8_t *p, size_t n, T2vError *err) {
    if (RAND_bytes(p, (int)n) != 1) return t2v_fail(err, T2V_ERESOURCE, "C2PA: no random bytes: %s", ossl_why());
    return T2V_OK;
}

void c2pa_signer_free(C2paSigner *s) {
    EVP_PKEY_free((EVP_PKEY *)s->key);
    for (int i = 0; i < s->ncert; i++) OPENSSL_free(s->cert[i]);
    memset(s, 0, sizeof *s);
}

/* ES256 needs P-256 (C2PA "Digital signatures": alg and curve agree). */
static int key_alg(EVP_PKEY *k) {
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) return COSE_EDDSA;
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC) return 0;
    char group[64];
    size_t gl = 0;
    if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &gl)) return 0;
    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0 ? COSE_ES256 : 0;
}

int c2pa_signer_load(C2paSigner *s, const char *chain_pem, const char *key_pem, T2vError *err) {
    memset(s, 0, sizeof *s);
    BIO *bio = BIO_new_file(chain_pem, "r");
    if (!bio) return t2v_fail(err, T2V_EINPUT, "%s: cannot open the certificate chain", chain_pem);
    X509 *x, *leaf = NULL;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (s->ncert == C2PA_MAX_CERTS) { X509_free(x); break; }
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        if (len <= 0) { X509_free(x); break; }
        s->cert[s->ncert] = der;
        s->cert_len[s->ncert++] = (size_t)len;
        if (!leaf) leaf = x; else X509_free(x);
    }
    ERR_clear_error();
    BIO_free(bio);
    if (!s->ncert) { c2pa_signer_free(s); return t2v_fail(err, T2V_EINPUT, "%s: no PEM certificate in it", chain_pem); }
    bio = BIO_new_file(key_pem, "r");
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    s->key = k;
    int rc = T2V_OK;
    if (!k) rc = t2v_fail(err, T2V_EINPUT, "%s: no readable PEM private key (unencrypted PKCS#8 or EC)", key_pem);
    else if (!(s->alg = key_alg(k)))
        rc = t2v_fail(err, T2V_EINPUT, "%s: the key must be EC P-256 (ES256) or Ed25519", key_pem);
    else if (X509_check_private_key(leaf, k) != 1)
        rc = t2v_fail(err, T2V_EINPUT, "%s: the key does not match the first certificate of %s", key_pem, chain_pem);
    X509_free(leaf);
    ERR_clear_error();
    if (rc) c2pa_signer_free(s);
    return rc;
}

int c2pa_crypto_sign(const C2paSigner *s, const uint8_t *tbs, size_t n, uint8_t sig[64], T2vError *err) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[160];
    size_t len = sizeof der;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, s->alg == COSE_ES256 ? EVP_sha256() : NULL, NULL,
                                       (EVP_PKEY *)s->key) == 1 &&
             EVP_DigestSign(ctx, der, &len, tbs, n) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) return t2v_fail(err, T2V_ERESOURCE, "C2PA: signing failed: %s", ossl_why());
    if (s->alg == COSE_EDDSA) {
        if (len != 64) return t2v_fail(err, T2V_ERESOURCE, "C2PA: Ed25519 signature of %zu bytes", len);
        memcpy(sig, der, 64);
        return T2V_OK;
    }
    /* ES256 in COSE is r || s, 32 bytes each (RFC 9053 2.1), not DER */
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r = NULL, *sv = NULL;
    if (es) ECDSA_SIG_get0(es, &r, &sv);
    ok = es && BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(sv, sig + 32, 32) == 32;
    ECDSA_SIG_free(es);
    if (!ok) return t2v_fail(err, T2V_ERESOURCE, "C2PA: bad ECDSA signature from OpenSSL");
    return T2V_OK;
}

/* --- verification ------------------------------------------------------- */

static int verify_sig(int alg, EVP_PKEY *pk, const uint8_t *tbs, size_t n, const uint8_t *sig, size_t sl) {
    unsigned char der[160], *dp = der;
    const unsigned char *use = sig;
    size_t ul = sl;
    if (sl != 64) return 0;
    if (alg == COSE_ES256) {
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
        if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) { ECDSA_SIG_free(es); BN_free(r); BN_free(s); return 0; }
        int len = i2d_ECDSA_SIG(es, &dp);
        ECDSA_SIG_free(es);
        if (len <= 0) return 0;
        use = der; ul = (size_t)len;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, alg == COSE_ES256 ? EVP_sha256() : NULL, NULL, pk) == 1 &&
             EVP_DigestVerify(ctx, use, ul, tbs, n) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

static const char *const ALLOWED_EKU[] = {"1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.36", "1.3.6.1.5.5.7.3.8",
                                          "1.3.6.1.5.5.7.3.9", "1.3.6.1.4.1.62558.2.1"};

/* C2PA certificate profile (section "Certificate profile"), the parts t2v
 * checks: v3, not a CA, digitalSignature, an allowed EKU and no anyEKU. */
static const char *profile_why(X509 *x) {
    if (X509_get_version(x) != 2) return "the signing certificate is not X.509 v3";
    if (X509_check_ca(x)) return "the signing certificate is a CA";
    if (!(X509_get_extension_flags(x) & EXFLAG_KUSAGE) || !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE))
        return "the signing certificate lacks keyUsage digitalSignature";
    EXTENDED_KEY_USAGE *eku = (EXTENDED_KEY_USAGE *)X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
    if (!eku) return "the signing certificate has no extendedKeyUsage";
    int good = 0, any = 0;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        char oid[80];
        OBJ_obj2txt(oid, sizeof oid, sk_ASN1_OBJECT_value(eku, i), 1);
        if (!strcmp(oid, "2.5.29.37.0")) any = 1;
        for (size_t j = 0; j < sizeof ALLOWED_EKU / sizeof *ALLOWED_EKU; j++)
            if (!strcmp(oid, ALLOWED_EKU[j])) good = 1;
    }
    EXTENDED_KEY_USAGE_free(eku);
    if (any) return "the signing certificate allows anyExtendedKeyUsage";
    if (!good) return "the signing certificate has no extendedKeyUsage C2PA accepts";
    return NULL;
}

static void set(char *dst, size_t n, const char *s) { snprintf(dst, n, "%s", s); }

int c2pa_crypto_verify(int alg, const uint8_t *const *cert, const size_t *cert_len, int ncert,
                       const uint8_t *tbs, size_t n, const uint8_t *sig, size_t sig_len,
                       CertInfo *ci, char *code, size_t codelen, char *why, size_t whylen) {
    X509 *x[C2PA_MAX_CERTS] = {0};
    int rc = -1;
    memset(ci, 0, sizeof *ci);
    for (int i = 0; i < ncert; i++) {
        const unsigned char *p = cert[i];
        x[i] = d2i_X509(NULL, &p, (long)cert_len[i]);
        if (!x[i] || p != cert[i] + cert_len[i]) {
            set(code, codelen, "signingCredential.invalid");
            snprintf(why, whylen, "x5chain certificate %d is not DER X.509", i);
            goto done;
        }
    }
    X509_NAME_oneline(X509_get_subject_name(x[0]), ci->subject, sizeof ci->subject);
    X509_NAME_oneline(X509_get_issuer_name(x[0]), ci->issuer, sizeof ci->issuer);
    EVP_PKEY *pk = X509_get0_pubkey(x[0]);
    if (!pk || key_alg(pk) != alg) {
        set(code, codelen, "algorithm.unsupported");
        set(why, whylen, "the certificate's key does not match the COSE algorithm");
        goto done;
    }
    if (!verify_sig(alg, pk, tbs, n, sig, sig_len)) {
        set(code, codelen, "claimSignature.mismatch");
        set(why, whylen, "the claim signature does not verify: the claim or the signature was changed");
        goto done;
    }
    for (int i = 0; i < ncert; i++) {
        if (X509_cmp_current_time(X509_get0_notBefore(x[i])) >= 0 ||
            X509_cmp_current_time(X509_get0_notAfter(x[i])) <= 0) {
            set(code, codelen, "signingCredential.expired");
            snprintf(why, whylen, "certificate %d of the chain is not valid now", i);
            goto done;
        }
        if (i + 1 < ncert && (X509_check_issued(x[i + 1], x[i]) != X509_V_OK ||
                              X509_verify(x[i], X509_get0_pubkey(x[i + 1])) != 1)) {
            set(code, codelen, "signingCredential.invalid");
            snprintf(why, whylen, "certificate %d of the chain is not issued by certificate %d", i, i + 1);
            goto done;
        }
    }
    X509 *last = x[ncert - 1];
    ci->self_issued_root = X509_check_issued(last, last) == X509_V_OK && X509_verify(last, X509_get0_pubkey(last)) == 1;
    const char *pw = profile_why(x[0]);
    if (pw) { set(code, codelen, "signingCredential.invalid"); set(why, whylen, pw); goto done; }
    rc = 0;
done:
    for (int i = 0; i < ncert; i++) X509_free(x[i]);
    ERR_clear_error();
    return rc;
}

int c2pa_signer_check(const C2paSigner *s, char *why, size_t whylen) {
    const unsigned char *p = s->cert[0];
    X509 *x = s->ncert ? d2i_X509(NULL, &p, (long)s->cert_len[0]) : NULL;
    const char *w = !x ? "the signing certificate is not DER X.509" : profile_why(x);
    if (!w && (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0 || X509_cmp_current_time(X509_get0_notAfter(x)) <= 0))
        w = "the signing certificate is not valid now";
    X509_free(x);
    ERR_clear_error();
    if (w) snprintf(why, whylen, "%s", w);
    return w ? -1 : 0;
}

/* --- a local certificate chain ------------------------------------------ */

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value) {
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

static X509 *make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const char *org, const char *cn,
                       int ca, long days) {
    X509 *x = X509_new();
    uint8_t serial[16];
    X509V3_CTX ctx;
    int ok = x && RAND_bytes(serial, sizeof serial) == 1;
    if (ok) {
        serial[0] &= 0x7F; /* positive */
        BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
        ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
        BN_free(bn);
    }
    ok = ok && X509_set_version(x, 2) && X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L) && X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) &&
         X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    if (ok) {
        X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
        ok = add_ext(x, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
             add_ext(x, &ctx, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") &&
             add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") &&
             (ca || add_ext(x, &ctx, NID_ext_key_usage, "emailProtection,1.3.6.1.5.5.7.3.36"));
    }
    ok = ok && X509_sign(x, issuer_key, EVP_sha256()) > 0;
    if (!ok) { X509_free(x); return NULL; }
    return x;
}

static int write_pem(const char *path, int mode, X509 *a, X509 *b, EVP_PKEY *key, T2vError *err) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        return t2v_fail(err, T2V_ERESOURCE, "%s: cannot create", path);
    }
    int ok = (!a || PEM_write_X509(f, a)) && (!b || PEM_write_X509(f, b)) &&
             (!key || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
    if (fclose(f) != 0) ok = 0;
    if (!ok) { remove(path); return t2v_fail(err, T2V_ERESOURCE, "%s: write failed", path); }
    return T2V_OK;
}

int c2pa_keygen(const char *chain_path, const char *key_path, const char *root_path, const char *org,
                T2vError *err) {
    EVP_PKEY *rk = EVP_EC_gen("P-256"), *lk = EVP_EC_gen("P-256");
    X509 *root = rk ? make_cert(rk, NULL, rk, org, "t2v local root (self-signed, untrusted)", 1, 3650) : NULL;
    X509 *leaf = root && lk ? make_cert(lk, root, rk, org, "t2v local signer", 0, 1825) : NULL;
    int rc = leaf ? T2V_OK : t2v_fail(err, T2V_ERESOURCE, "C2PA keygen failed: %s", ossl_why());
    if (!rc) rc = write_pem(key_path, 0600, NULL, NULL, lk, err);
    if (!rc) rc = write_pem(chain_path, 0644, leaf, root, NULL, err);
    if (!rc) rc = write_pem(root_path, 0644, root, NULL, NULL, err);
    X509_free(leaf); X509_free(root);
    EVP_PKEY_free(rk); EVP_PKEY_free(lk);
    return rc;
}

#else /* !T2V_C2PA */

int c2pa_available(void) { return 0; }

static int off(T2vError *err) {
    return t2v_fail(err, T2V_EUSAGE, "built without C2PA support (C2PA=0: no OpenSSL libcrypto)");
}
int c2pa_random(uint8_t *p, size_t n, T2vError *err) { (void)p; (void)n; return off(err); }
void c2pa_signer_free(C2paSigner *s) { memset(s, 0, sizeof *s); }
int c2pa_signer_load(C2paSigner *s, const char *chain_pem, const char *key_pem, T2vError *err) {
    (void)chain_pem; (void)key_pem;
    memset(s, 0, sizeof *s);
    return off(err);
}
int c2pa_crypto_sign(const C2paSigner *s, const uint8_t *tbs, size_t n, uint8_t sig[64], T2vError *err) {
    (void)s; (void)tbs; (void)n; (void)sig;
    return off(err);
}
int c2pa_crypto_verify(int alg, const uint8_t *const *cert, const size_t *cert_len, int ncert,
                       const uint8_t *tbs, size_t n, const uint8_t *sig, size_t sig_len,
                       CertInfo *ci, char *code, size_t codelen, char *why, size_t whylen) {
    (void)alg; (void)cert; (void)cert_len; (void)ncert; (void)tbs; (void)n; (void)sig; (void)sig_len;
    memset(ci, 0, sizeof *ci);
    snprintf(code, codelen, "general.error");
    snprintf(why, whylen, "built without C2PA support");
    return -1;
}
int c2pa_keygen(const char *chain_path, const char *key_path, const char *root_path, const char *org,
                T2vError *err) {
    (void)chain_path; (void)key_path; (void)root_path; (void)org;
    return off(err);
}
int c2pa_signer_check(const C2paSigner *s, char *why, size_t whylen) {
    (void)s;
    snprintf(why, whylen, "built without C2PA support");
    return -1;
}

#endif
