/*
 * c2pa.c: C2PA manifest stores: building and signing them for PNG, MP4 and
 * sidecars, finding and verifying them (c2pa.h). Section names refer to the
 * C2PA Technical Specification 2.x; docs/OUTPUTS.md has the overview.
 */
#include "c2pa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2pa_crypto.h"
#include "json.h"
#include "jumbf.h"
#include "sha256.h"

/* ISO BMFF uuid box of C2PA (section "Embedding manifests into BMFF"). */
static const uint8_t C2PA_BMFF_UUID[16] = {0xD8, 0xFE, 0xC3, 0xD6, 0x1B, 0x0E, 0x48, 0x3C,
                                           0x92, 0x97, 0x58, 0x28, 0x87, 0x7E, 0xC4, 0x81};
static const uint8_t PNG_SIG[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};

/* ============================================================================
 * Building a manifest store. */

typedef struct {
    const char *label;     /* assertion label */
    const uint8_t *cbor;   /* its CBOR */
    size_t len;
} Assertion;

/* c2pa.actions.v2: one c2pa.created action (section "Actions"). */
static void actions_cbor(ByteBuf *b, const C2paClaimInfo *ci) {
    cbor_map(b, 1);
    cbor_text(b, "actions");
    cbor_array(b, 1);
    cbor_map(b, 4);
    cbor_text(b, "action"); cbor_text(b, "c2pa.created");
    cbor_text(b, "digitalSourceType"); cbor_text(b, C2PA_DST_TRAINED);
    cbor_text(b, "softwareAgent");
    cbor_map(b, 2);
    cbor_text(b, "name"); cbor_text(b, ci->generator);
    cbor_text(b, "version"); cbor_text(b, ci->version);
    cbor_text(b, "when"); cbor_text(b, ci->when);
}

static void uuid4_text(const uint8_t r[16], char out[37]) {
    uint8_t u[16];
    memcpy(u, r, 16);
    u[6] = (uint8_t)((u[6] & 0x0F) | 0x40); /* RFC 9562 version 4 */
    u[8] = (uint8_t)((u[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
             u[13], u[14], u[15]);
}

/* COSE Sig_structure for COSE_Sign1 with a detached payload (RFC 9052 4.4):
 * ["Signature1", protected, external_aad = h'', payload = the claim]. */
static void sig_structure(ByteBuf *b, const uint8_t *prot, size_t np, const uint8_t *claim, size_t nc) {
    cbor_array(b, 4);
    cbor_text(b, "Signature1");
    cbor_bytes(b, prot, np);
    cbor_bytes(b, "", 0);
    cbor_bytes(b, claim, nc);
}

/* The COSE_Sign1 of the claim (section "Digital signatures"): protected
 * {1: alg, 33: x5chain}, unprotected {"pad": h''} (room for in-place
 * updates; no time stamp: section "Time-stamps" makes it optional), payload
 * nil (detached: the claim), signature. */
static int cose_sign1(const C2paSigner *s, const uint8_t *claim, size_t nc, ByteBuf *out, T2vError *err) {
    ByteBuf prot = {0}, tbs = {0};
    uint8_t sig[64];
    cbor_map(&prot, 2);
    cbor_int(&prot, 1); cbor_int(&prot, s->alg);
    cbor_int(&prot, 33);
    if (s->ncert == 1) cbor_bytes(&prot, s->cert[0], s->cert_len[0]);
    else {
        cbor_array(&prot, (size_t)s->ncert);
        for (int i = 0; i < s->ncert; i++) cbor_bytes(&prot, s->cert[i], s->cert_len[i]);
    }
    sig_structure(&tbs, prot.p, prot.n, claim, nc);
    int rc = prot.oom || tbs.oom ? t2v_fail(err, T2V_ERESOURCE, "C2PA signature: out of memory") : T2V_OK;
    if (!rc) rc = c2pa_crypto_sign(s, tbs.p, tbs.n, sig, err);
    if (!rc) {
        cbor_tag(out, 18);
        cbor_array(out, 4);
        cbor_bytes(out, prot.p, prot.n);
        cbor_map(out, 1);
        cbor_text(out, "pad"); cbor_bytes(out, "", 0);
        cbor_null(out);
        cbor_bytes(out, sig, 64);
    }
    bb_free(&prot);
    bb_free(&tbs);
    return rc;
}

static void cbor_box(ByteBuf *o, const uint8_t *p, size_t n) {
    size_t b = box_begin(o, "cbor");
    bb_add(o, p, n);
    box_end(o, b);
}

/* The assertion store: one superbox (type cbor) per assertion; hash[i] is
 * the SHA-256 of assertion i's superbox payload (its jumd box and its cbor
 * box: section "Hashing JUMBF boxes"), what the claim lists. */
static void assertion_store(ByteBuf *as, const Assertion *a, int n, uint8_t (*hash)[32]) {
    uint8_t uuid[16];
    c2pa_uuid("c2as", uuid);
    size_t top = jumbf_begin(as, uuid, "c2pa.assertions");
    for (int i = 0; i < n; i++) {
        c2pa_uuid("cbor", uuid);
        size_t start = jumbf_begin(as, uuid, a[i].label);
        cbor_box(as, a[i].cbor, a[i].len);
        box_end(as, start);
        if (as->oom) return;
        Sha256 h;
        sha256_init(&h);
        sha256_update(&h, as->p + start + 8, as->n - start - 8);
        sha256_final(&h, hash[i]);
    }
    box_end(as, top);
}

/* Claim v2 (section "Claims"): every assertion created by t2v. */
static void claim_cbor(ByteBuf *c, const C2paClaimInfo *ci, const char *label, const char *iid,
                       const Assertion *a, int n, uint8_t (*hash)[32]) {
    char url[512];
    cbor_map(c, 5);
    cbor_text(c, "instanceID"); cbor_text(c, iid);
    cbor_text(c, "claim_generator_info");
    cbor_map(c, 2);
    cbor_text(c, "name"); cbor_text(c, ci->generator);
    cbor_text(c, "version"); cbor_text(c, ci->version);
    snprintf(url, sizeof url, "self#jumbf=/c2pa/%s/c2pa.signature", label);
    cbor_text(c, "signature"); cbor_text(c, url);
    cbor_text(c, "created_assertions");
    cbor_array(c, (size_t)n);
    for (int i = 0; i < n; i++) {
        snprintf(url, sizeof url, "self#jumbf=/c2pa/%s/c2pa.assertions/%s", label, a[i].label);
        cbor_map(c, 2);
        cbor_text(c, "url"); cbor_text(c, url);
        cbor_text(c, "hash"); cbor_bytes(c, hash[i], 32);
    }
    cbor_text(c, "alg"); cbor_text(c, "sha256");
}

/* The whole store (section "Manifest store"): assertions, claim, signature
 * under one manifest labelled urn:c2pa:UUID. `binding` is the hard binding. */
static int build_store(const C2paSigner *s, const C2paClaimInfo *ci, const Assertion *binding,
                       ByteBuf *store, T2vError *err) {
    ByteBuf act = {0}, as = {0}, claim = {0}, cose = {0};
    uint8_t uuid[16], r[32], hash[3][32];
    char label[64], iid[64];
    int rc = c2pa_random(r, sizeof r, err);
    if (rc) return rc;
    memcpy(label, "urn:c2pa:", 9); uuid4_text(r, label + 9);
    memcpy(iid, "xmp:iid:", 8); uuid4_text(r + 16, iid + 8);
    actions_cbor(&act, ci);
    Assertion a[3] = {{"c2pa.actions.v2", act.p, act.n}, {C2PA_PARAMS_LABEL, ci->params, ci->params_len}, *binding};
    int na = 0;
    for (int i = 0; i < 3; i++) if (a[i].cbor) a[na++] = a[i];
    assertion_store(&as, a, na, hash);
    claim_cbor(&claim, ci, label, iid, a, na, hash);
    if (act.oom || as.oom || claim.oom) rc = t2v_fail(err, T2V_ERESOURCE, "C2PA manifest: out of memory");
    if (!rc) rc = cose_sign1(s, claim.p, claim.n, &cose, err);
    if (!rc) {
        c2pa_uuid("c2pa", uuid);
        size_t st = jumbf_begin(store, uuid, "c2pa");
        c2pa_uuid("c2ma", uuid);
        size_t m = jumbf_begin(store, uuid, label);
        bb_add(store, as.p, as.n);
        c2pa_uuid("c2cl", uuid);
        size_t c = jumbf_begin(store, uuid, "c2pa.claim.v2");
        cbor_box(store, claim.p, claim.n);
        box_end(store, c);
        c2pa_uuid("c2cs", uuid);
        size_t g = jumbf_begin(store, uuid, "c2pa.signature");
        cbor_box(store, cose.p, cose.n);
        box_end(store, g);
        box_end(store, m);
        box_end(store, st);
        if (store->oom) rc = t2v_fail(err, T2V_ERESOURCE, "C2PA manifest: out of memory");
    }
    bb_free(&act); bb_free(&as); bb_free(&claim); bb_free(&cose);
    return rc;
}

/* c2pa.hash.data (section "Data hash"): SHA-256 of the asset without the
 * excluded range; n_exc 0 for a sidecar. */
static void data_hash_cbor(ByteBuf *b, size_t exc_start, size_t exc_len, int n_exc, const uint8_t hash[32]) {
    cbor_map(b, n_exc ? 5 : 4);
    if (n_exc) {
        cbor_text(b, "exclusions");
        cbor_array(b, 1);
        cbor_map(b, 2);
        cbor_text(b, "start"); cbor_uint(b, exc_start);
        cbor_text(b, "length"); cbor_uint(b, exc_len);
    }
    cbor_text(b, "name"); cbor_text(b, "jumbf manifest");
    cbor_text(b, "alg"); cbor_text(b, "sha256");
    cbor_text(b, "hash"); cbor_bytes(b, hash, 32);
    cbor_text(b, "pad"); cbor_bytes(b, "", 0);
}

static int png_header_ok(const uint8_t *png, size_t n) {
    return n >= 45 && memcmp(png, PNG_SIG, 8) == 0 && be32_get(png + 8) == 13 &&
           memcmp(png + 12, "IHDR", 4) == 0;
}

static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

int c2pa_sign_png(const C2paSigner *s, const C2paClaimInfo *ci, const uint8_t *png, size_t n,
                  ByteBuf *out, T2vError *err) {
    if (!c2pa_available()) return t2v_fail(err, T2V_EUSAGE, "built without C2PA support (C2PA=0)");
    if (!png_header_ok(png, n)) return t2v_fail(err, T2V_EINPUT, "C2PA: not a PNG with IHDR first");
    size_t at = 33; /* right after IHDR: signature 8 + IHDR 25 */
    if (c2pa_png_find(png, n, NULL, NULL, NULL) == 0)
        return t2v_fail(err, T2V_EINPUT, "C2PA: the PNG already has a caBX chunk");
    uint8_t hash[32];
    Sha256 h;
    sha256_init(&h);
    sha256_update(&h, png, at);
    sha256_update(&h, png + at, n - at);
    sha256_final(&h, hash);
    /* The exclusion's length is the chunk's, which holds the exclusion: a
     * few rounds reach the fixed point (only the length's CBOR size moves). */
    ByteBuf store = {0};
    size_t chunk = 0;
    int rc = T2V_OK;
    for (int round = 0; round < 4; round++) {
        ByteBuf dh = {0};
        data_hash_cbor(&dh, at, chunk, 1, hash);
        Assertion a = {"c2pa.hash.data", dh.p, dh.n};
        bb_free(&store);
        rc = dh.oom ? t2v_fail(err, T2V_ERESOURCE, "C2PA: out of memory") : build_store(s, ci, &a, &store, err);
        bb_free(&dh);
        if (rc) break;
        if (store.n + 12 == chunk) break;
        chunk = store.n + 12;
    }
    if (!rc && store.n + 12 != chunk) rc = t2v_fail(err, T2V_ERESOURCE, "C2PA: manifest size did not settle");
    if (!rc) {
        bb_add(out, png, at);
        size_t c0 = out->n;
        bb_be32(out, (uint32_t)store.n);
        bb_add(out, "caBX", 4);
        bb_add(out, store.p, store.n);
        if (!out->oom) bb_be32(out, crc32_png(out->p + c0 + 4, store.n + 4));
        bb_add(out, png + at, n - at);
        if (out->oom) rc = t2v_fail(err, T2V_ERESOURCE, "C2PA: out of memory");
    }
    bb_free(&store);
    return rc;
}

/* ============================================================================
 * ISO BMFF (MP4). */

/* Top-level boxes that c2pa.hash.bmff.v2 leaves out (section "BMFF-based
 * hash"; the exclusions c2pa-rs writes by default too). */
static int bmff_excluded(const uint8_t *mp4, const BoxRef *b) {
    if (strcmp(b->type, "uuid") == 0)
        return b->len >= 16 && memcmp(mp4 + b->off, C2PA_BMFF_UUID, 16) == 0;
    return !strcmp(b->type, "ftyp") || !strcmp(b->type, "free") || !strcmp(b->type, "skip") ||
           !strcmp(b->type, "mfra");
}

/* The v2 hash: for every top-level box not excluded, in file order, its
 * offset as a big-endian 64-bit number, then its bytes. */
static int bmff_hash(const uint8_t *mp4, size_t n, uint8_t hash[32], const char **why) {
    Sha256 h;
    BoxRef b;
    size_t pos = 0;
    int r, seen = 0;
    sha256_init(&h);
    while ((r = box_next(mp4, n, &pos, &b, why)) == 1) {
        seen++;
        if (bmff_excluded(mp4, &b)) continue;
        uint8_t off[8];
        for (int i = 0; i < 8; i++) off[i] = (uint8_t)((uint64_t)b.start >> (56 - 8 * i));
        sha256_update(&h, off, 8);
        sha256_update(&h, mp4 + b.start, pos - b.start);
    }
    if (r < 0) return -1;
    if (!seen) { *why = "no boxes"; return -1; }
    sha256_final(&h, hash);
    return 0;
}

static void bmff_hash_cbor(ByteBuf *b, const uint8_t hash[32]) {
    static const char *whole[] = {"/ftyp", "/free", "/skip", "/mfra"};
    cbor_map(b, 4);
    cbor_text(b, "exclusions");
    cbor_array(b, 5);
    cbor_map(b, 2);
    cbor_text(b, "xpath"); cbor_text(b, "/uuid");
    cbor_text(b, "data");
    cbor_array(b, 1);
    cbor_map(b, 2);
    cbor_text(b, "offset"); cbor_uint(b, 8);
    cbor_text(b, "value"); cbor_bytes(b, C2PA_BMFF_UUID, 16);
    for (int i = 0; i < 4; i++) {
        cbor_map(b, 1);
        cbor_text(b, "xpath"); cbor_text(b, whole[i]);
    }
    cbor_text(b, "alg"); cbor_text(b, "sha256");
    cbor_text(b, "hash"); cbor_bytes(b, hash, 32);
    cbor_text(b, "name"); cbor_text(b, "jumbf manifest");
}

int c2pa_sign_mp4(const C2paSigner *s, const C2paClaimInfo *ci, const uint8_t *mp4, size_t n,
                  ByteBuf *out, T2vError *err) {
    if (!c2pa_available()) return t2v_fail(err, T2V_EUSAGE, "built without C2PA support (C2PA=0)");
    const char *why = NULL;
    uint8_t hash[32];
    if (c2pa_mp4_find(mp4, n, NULL, NULL, NULL) == 0)
        return t2v_fail(err, T2V_EINPUT, "C2PA: the MP4 already has a C2PA box");
    if (bmff_hash(mp4, n, hash, &why))
        return t2v_fail(err, T2V_EINPUT, "C2PA: not an MP4 made of boxes: %s", why);
    ByteBuf dh = {0}, store = {0};
    bmff_hash_cbor(&dh, hash);
    Assertion a = {"c2pa.hash.bmff.v2", dh.p, dh.n};
    int rc = dh.oom ? t2v_fail(err, T2V_ERESOURCE, "C2PA: out of memory") : build_store(s, ci, &a, &store, err);
    if (!rc) {
        /* uuid box: size, "uuid", the C2PA UUID, version 0 + flags 0,
         * purpose "manifest\0", 64-bit merkle offset 0, the store */
        bb_add(out, mp4, n);
        size_t b = box_begin(out, "uuid");
        bb_add(out, C2PA_BMFF_UUID, 16);
        bb_be32(out, 0);
        bb_add(out, "manifest", 9);
        bb_be32(out, 0); bb_be32(out, 0);
        bb_add(out, store.p, store.n);
        box_end(out, b);
        if (out->oom) rc = t2v_fail(err, T2V_ERESOURCE, "C2PA: out of memory");
    }
    bb_free(&dh);
    bb_free(&store);
    return rc;
}

int c2pa_sign_sidecar(const C2paSigner *s, const C2paClaimInfo *ci, const uint8_t *asset, size_t n,
                      ByteBuf *out, T2vError *err) {
    if (!c2pa_available()) return t2v_fail(err, T2V_EUSAGE, "built without C2PA support (C2PA=0)");
    uint8_t hash[32];
    Sha256 h;
    sha256_init(&h);
    sha256_update(&h, asset, n);
    sha256_final(&h, hash);
    ByteBuf dh = {0};
    data_hash_cbor(&dh, 0, 0, 0, hash);
    Assertion a = {"c2pa.hash.data", dh.p, dh.n};
    int rc = dh.oom ? t2v_fail(err, T2V_ERESOURCE, "C2PA: out of memory") : build_store(s, ci, &a, out, err);
    bb_free(&dh);
    return rc;
}

/* ============================================================================
 * Finding a store. */

int c2pa_png_find(const uint8_t *png, size_t n, size_t *chunk, size_t *off, size_t *len) {
    if (n < 8 || memcmp(png, PNG_SIG, 8) != 0) return -1;
    size_t p = 8;
    while (n - p >= 12) {
        size_t l = be32_get(png + p);
        if (l > 0x7FFFFFFFu || l > n - p - 12) return -1;
        if (memcmp(png + p + 4, "caBX", 4) == 0) {
            if (chunk) *chunk = p;
            if (off) *off = p + 8;
            if (len) *len = l;
            return 0;
        }
        if (memcmp(png + p + 4, "IEND", 4) == 0) return -1;
        p += l + 12;
    }
    return -1;
}

int c2pa_mp4_find(const uint8_t *mp4, size_t n, size_t *box, size_t *off, size_t *len) {
    size_t pos = 0;
    BoxRef b;
    const char *why;
    while (box_next(mp4, n, &pos, &b, &why) == 1) {
        if (strcmp(b.type, "uuid") || b.len < 16 || memcmp(mp4 + b.off, C2PA_BMFF_UUID, 16)) continue;
        size_t p = b.off + 16 + 4, end = b.off + b.len;
        size_t q = p;
        while (q < end && mp4[q]) q++;
        if (q >= end || q - p != 8 || memcmp(mp4 + p, "manifest", 8)) continue;
        q++;
        if (end - q < 8) return -1;
        q += 8;
        if (box) *box = b.start;
        if (off) *off = q;
        if (len) *len = end - q;
        return 0;
    }
    return -1;
}

/* ============================================================================
 * Reading and verifying a store. */

typedef struct {
    const uint8_t *b;
    size_t n;
    BoxRef manifest, assertions, claim, sig; /* claim, sig: their cbor boxes */
    char label[JUMBF_LABEL_MAX], claim_label[JUMBF_LABEL_MAX];
} Store;

static int has_uuid(const uint8_t *buf, const BoxRef *b, const char fourcc[4]) {
    JumbfDesc d;
    uint8_t u[16];
    c2pa_uuid(fourcc, u);
    return jumbf_desc(buf, b, &d, NULL) == 0 && memcmp(d.uuid, u, 16) == 0;
}

/* Layout (c2pa.h): the active manifest is the last one in the store. */
static int store_parse(const uint8_t *buf, size_t n, Store *s, const char **why) {
    BoxRef top, b;
    JumbfDesc d;
    size_t pos = 0;
    int r, found = 0;
    memset(s, 0, sizeof *s);
    s->b = buf; s->n = n;
    if (jumbf_check(buf, n, why)) return -1;
    box_next(buf, n, &pos, &top, why);
    if (!has_uuid(buf, &top, "c2pa")) { *why = "the JUMBF box is not a C2PA manifest store"; return -1; }
    jumbf_desc(buf, &top, &d, why);
    pos = d.content;
    while ((r = box_next(buf, top.off + top.len, &pos, &b, why)) == 1)
        if (!strcmp(b.type, "jumb") && has_uuid(buf, &b, "c2ma")) { s->manifest = b; found = 1; }
    if (r < 0) return -1;
    if (!found) { *why = "no manifest in the store"; return -1; }
    jumbf_desc(buf, &s->manifest, &d, why);
    snprintf(s->label, sizeof s->label, "%s", d.label);
    int have_as = 0, have_cl = 0, have_cs = 0;
    pos = d.content;
    while ((r = box_next(buf, s->manifest.off + s->manifest.len, &pos, &b, why)) == 1) {
        JumbfDesc c;
        if (strcmp(b.type, "jumb") || jumbf_desc(buf, &b, &c, why)) continue;
        if (has_uuid(buf, &b, "c2as")) { s->assertions = b; have_as++; }
        else if (has_uuid(buf, &b, "c2cl")) {
            snprintf(s->claim_label, sizeof s->claim_label, "%s", c.label);
            if (jumbf_content(buf, &b, "cbor", &s->claim, why) != 1) { *why = "claim box without CBOR"; return -1; }
            have_cl++;
        } else if (has_uuid(buf, &b, "c2cs")) {
            if (jumbf_content(buf, &b, "cbor", &s->sig, why) != 1) { *why = "signature box without CBOR"; return -1; }
            have_cs++;
        }
    }
    if (r < 0) return -1;
    if (have_as != 1 || have_cl != 1 || have_cs != 1) {
        *why = "the manifest needs exactly one assertion store, one claim and one signature";
        return -1;
    }
    if (cbor_check(buf + s->claim.off, s->claim.len, why)) return -1;
    if (cbor_check(buf + s->sig.off, s->sig.len, why)) return -1;
    return 0;
}

int c2pa_store_check(const uint8_t *store, size_t n, const char **why) {
    Store s;
    return store_parse(store, n, &s, why);
}

/* CBOR diagnostic notation (RFC 8949 section 8), for the report: byte
 * strings longer than 32 bytes are shortened, depth is bounded. */
static void cbor_diag(StrBuf *o, const uint8_t *b, size_t n, size_t *pos, int depth) {
    CborItem it;
    const char *why;
    if (depth > CBOR_MAX_DEPTH || cbor_read(b, n, pos, &it, &why)) { sb_str(o, "?"); *pos = n; return; }
    switch (it.major) {
    case CBOR_UINT: sb_printf(o, "%llu", (unsigned long long)it.val); break;
    case CBOR_NEGINT: sb_printf(o, "-%llu", (unsigned long long)it.val + 1ull); break;
    case CBOR_BYTES:
        sb_str(o, "h'");
        for (uint64_t i = 0; i < it.val && i < 32; i++) sb_printf(o, "%02x", it.data[i]);
        sb_str(o, it.val > 32 ? "...'" : "'");
        if (it.val > 32) sb_printf(o, " (%llu bytes)", (unsigned long long)it.val);
        break;
    case CBOR_TEXT: {
        char *t = (char *)malloc((size_t)it.val + 1);
        if (!t) { sb_str(o, "?"); break; }
        memcpy(t, it.data, (size_t)it.val);
        t[it.val] = 0;
        for (uint64_t i = 0; i < it.val; i++) if (!t[i]) t[i] = ' ';
        sb_json_str(o, t); /* sb_json_str expects UTF-8; invalid bytes pass through */
        free(t);
        break;
    }
    case CBOR_ARRAY: case CBOR_MAP:
        sb_str(o, it.major == CBOR_ARRAY ? "[" : "{");
        for (uint64_t i = 0; i < it.val && *pos < n; i++) {
            if (i) sb_str(o, ", ");
            cbor_diag(o, b, n, pos, depth + 1);
            if (it.major == CBOR_MAP) { sb_str(o, ": "); cbor_diag(o, b, n, pos, depth + 1); }
        }
        sb_str(o, it.major == CBOR_ARRAY ? "]" : "}");
        break;
    case CBOR_TAG: sb_printf(o, "%llu(", (unsigned long long)it.val); cbor_diag(o, b, n, pos, depth + 1); sb_str(o, ")"); break;
    default:
        if (it.ai == 27) {
            double d;
            memcpy(&d, &it.val, 8);
            sb_printf(o, "%.17g", d);
        } else if (it.ai == 25 || it.ai == 26) sb_str(o, "(float)");
        else if (it.val == 20) sb_str(o, "false");
        else if (it.val == 21) sb_str(o, "true");
        else if (it.val == 22) sb_str(o, "null");
        else sb_printf(o, "simple(%llu)", (unsigned long long)it.val);
    }
}

static void diag_line(StrBuf *o, const char *name, const uint8_t *b, size_t n) {
    size_t pos = 0;
    sb_printf(o, "  %s: ", name);
    cbor_diag(o, b, n, &pos, 0);
    sb_str(o, "\n");
}

static int fail_r(C2paResult *r, const char *code, const char *fmt, const char *a) {
    r->verdict = C2PA_INVALID;
    snprintf(r->code, sizeof r->code, "%s", code);
    snprintf(r->reason, sizeof r->reason, fmt, a ? a : "");
    return T2V_OK;
}

/* Hash of asset[0..n) without the ranges of a c2pa.hash.data "exclusions"
 * array at ex (sorted, inside the file, not overlapping). */
static int data_hash_check(const uint8_t *a, size_t n, const uint8_t *b, size_t bn, size_t ex_pos,
                           int has_ex, size_t must_start, size_t must_len, uint8_t out[32], const char **why) {
    size_t starts[16], lens[16];
    int k = 0;
    if (has_ex) {
        CborItem arr;
        size_t pos = ex_pos;
        if (cbor_read(b, bn, &pos, &arr, why) || arr.major != CBOR_ARRAY || arr.val > 16) { *why = "bad exclusions"; return -1; }
        for (uint64_t i = 0; i < arr.val; i++) {
            size_t vp;
            uint64_t st, ln;
            if (cbor_map_find(b, bn, pos, "start", &vp, why) != 1 || cbor_get_uint(b, bn, vp, &st) ||
                cbor_map_find(b, bn, pos, "length", &vp, why) != 1 || cbor_get_uint(b, bn, vp, &ln)) {
                *why = "an exclusion without start/length"; return -1;
            }
            if (st > n || ln > n - st) { *why = "an exclusion runs past the end of the file"; return -1; }
            if (k && st < starts[k - 1] + lens[k - 1]) { *why = "exclusions out of order or overlapping"; return -1; }
            starts[k] = (size_t)st; lens[k] = (size_t)ln; k++;
            if (cbor_skip(b, bn, &pos, why)) return -1;
        }
    }
    if (must_len) { /* the embedded manifest must lie inside an exclusion */
        int inside = 0;
        for (int i = 0; i < k; i++)
            if (must_start >= starts[i] && must_start + must_len <= starts[i] + lens[i]) inside = 1;
        if (!inside) { *why = "the manifest is not inside the hash's exclusions"; return -1; }
    }
    Sha256 h;
    size_t at = 0;
    sha256_init(&h);
    for (int i = 0; i < k; i++) { sha256_update(&h, a + at, starts[i] - at); at = starts[i] + lens[i]; }
    sha256_update(&h, a + at, n - at);
    sha256_final(&h, out);
    return 0;
}

/* The hard binding: kind 'p' PNG, 's' sidecar (c2pa.hash.data), 'm' MP4
 * (c2pa.hash.bmff.v2 with exactly the exclusions t2v writes). */
static int check_binding(int kind, const uint8_t *asset, size_t n, size_t m_start, size_t m_len,
                         const char *label, const uint8_t *b, size_t bn, C2paResult *r) {
    const char *why = NULL;
    size_t hp, ep;
    const uint8_t *want;
    size_t wl;
    uint8_t got[32];
    if (cbor_map_find(b, bn, 0, "hash", &hp, &why) != 1 || cbor_get_bytes(b, bn, hp, &want, &wl) || wl != 32)
        return fail_r(r, "assertion.dataHash.malformed", "%s: no 32-byte hash", label);
    if (!strcmp(label, "c2pa.hash.data")) {
        if (kind == 'm') return fail_r(r, "assertion.dataHash.malformed", "%s in an MP4", label);
        int has = cbor_map_find(b, bn, 0, "exclusions", &ep, &why) == 1;
        if (data_hash_check(asset, n, b, bn, ep, has, m_start, kind == 'p' ? m_len : 0, got, &why))
            return fail_r(r, "assertion.dataHash.malformed", "c2pa.hash.data: %s", why);
        if (memcmp(got, want, 32)) return fail_r(r, "assertion.dataHash.mismatch", "%s",
                                                 "the file's bytes do not match the signed hash (c2pa.hash.data)");
        return T2V_OK;
    }
    /* bmff v2: t2v reads back only what it writes (c2pa.h) */
    ByteBuf mine = {0};
    if (bmff_hash(asset, n, got, &why)) return fail_r(r, "assertion.bmffHash.malformed", "MP4: %s", why);
    bmff_hash_cbor(&mine, want);
    int same = !mine.oom && mine.n == bn && memcmp(mine.p, b, bn) == 0;
    bb_free(&mine);
    if (!same) return fail_r(r, "assertion.bmffHash.malformed", "%s",
                             "c2pa.hash.bmff.v2 with exclusions t2v does not check (only t2v's own are read)");
    if (memcmp(got, want, 32)) return fail_r(r, "assertion.bmffHash.mismatch", "%s",
                                             "the file's bytes do not match the signed hash (c2pa.hash.bmff.v2)");
    return T2V_OK;
}

/* The COSE protected header (a CBOR map): integer keys 1 (alg) and 33
 * (x5chain: one DER certificate as a byte string, or an array of them). */
static int cose_protected(const uint8_t *prot, size_t np, int64_t *alg, const uint8_t **cert, size_t *cl,
                          int *nc) {
    CborItem it, k, v;
    const char *why = NULL;
    size_t pos = 0, ap;
    *alg = 0, *nc = 0;
    if (cbor_read(prot, np, &pos, &it, &why) || it.major != CBOR_MAP) return -1;
    for (uint64_t i = 0; i < it.val; i++) {
        if (cbor_read(prot, np, &pos, &k, &why)) return -1;
        ap = pos;
        if (k.major == CBOR_UINT && k.val == 33) {
            if (cbor_read(prot, np, &ap, &v, &why)) return -1;
            if (v.major == CBOR_BYTES) { cert[0] = v.data; cl[0] = (size_t)v.val; *nc = 1; }
            else if (v.major == CBOR_ARRAY && v.val >= 1 && v.val <= C2PA_MAX_CERTS)
                for (uint64_t j = 0, cnt = v.val; j < cnt; j++) {
                    if (cbor_read(prot, np, &ap, &v, &why) || v.major != CBOR_BYTES) { *nc = 0; break; }
                    cert[*nc] = v.data; cl[(*nc)++] = (size_t)v.val;
                }
        } else if (k.major == CBOR_UINT && k.val == 1) {
            if (cbor_read(prot, np, &ap, &v, &why)) return -1;
            *alg = v.major == CBOR_NEGINT ? -1 - (int64_t)v.val : (int64_t)v.val;
        }
        if (cbor_skip(prot, np, &pos, &why)) return -1;
    }
    return 0;
}

/* Checks the COSE_Sign1 in the signature box over the claim bytes (RFC
 * 9052 4.2: [protected bstr, unprotected map, payload nil, signature]). */
static int check_signature(const Store *s, C2paResult *r) {
    const uint8_t *b = s->b + s->sig.off;
    size_t n = s->sig.len, pos = 0;
    CborItem it;
    const char *why = NULL;
    const uint8_t *prot, *sig, *cert[C2PA_MAX_CERTS];
    size_t np, ns, cl[C2PA_MAX_CERTS];
    int nc = 0;
    int64_t alg = 0;
    if (cbor_read(b, n, &pos, &it, &why) || it.major != CBOR_TAG || it.val != 18 ||
        cbor_read(b, n, &pos, &it, &why) || it.major != CBOR_ARRAY || it.val != 4)
        return fail_r(r, "claimSignature.missing", "%s", "the signature is not a tagged COSE_Sign1");
    if (cbor_get_bytes(b, n, pos, &prot, &np) || cbor_skip(b, n, &pos, &why))
        return fail_r(r, "claimSignature.missing", "%s", "COSE protected header is not a byte string");
    if (cbor_check(prot, np, &why) || cbor_skip(b, n, &pos, &why) /* unprotected */)
        return fail_r(r, "claimSignature.missing", "COSE header: %s", why);
    if (cbor_read(b, n, &pos, &it, &why) || !(it.major == CBOR_SIMPLE && it.val == 22))
        return fail_r(r, "claimSignature.missing", "%s", "COSE payload is not detached (nil)");
    if (cbor_get_bytes(b, n, pos, &sig, &ns))
        return fail_r(r, "claimSignature.missing", "%s", "COSE signature is not a byte string");
    if (cose_protected(prot, np, &alg, cert, cl, &nc))
        return fail_r(r, "claimSignature.missing", "%s", "COSE protected header is not a map of labels");
    if (!nc) return fail_r(r, "claimSignature.missing", "%s", "no x5chain certificate in the protected header");
    if (alg != COSE_ES256 && alg != COSE_EDDSA)
        return fail_r(r, "algorithm.unsupported", "%s", "COSE algorithm other than ES256 / EdDSA");
    ByteBuf tbs = {0};
    sig_structure(&tbs, prot, np, s->b + s->claim.off, s->claim.len);
    if (tbs.oom) { bb_free(&tbs); return fail_r(r, "general.error", "%s", "out of memory"); }
    CertInfo ci;
    char code[64], reason[256];
    int bad = c2pa_crypto_verify((int)alg, cert, cl, nc, tbs.p, tbs.n, sig, ns, &ci, code, sizeof code,
                                 reason, sizeof reason);
    bb_free(&tbs);
    snprintf(r->signer, sizeof r->signer, "%s", ci.subject);
    snprintf(r->issuer, sizeof r->issuer, "%s", ci.issuer);
    r->self_issued_root = ci.self_issued_root;
    if (bad) return fail_r(r, code, "%s", reason);
    return T2V_OK;
}

/* The claim's own fields: its "signature" names this manifest's signature
 * box, and its hash algorithm is one t2v computes (SHA-256). */
static int check_claim(const Store *s, C2paResult *r) {
    const uint8_t *b = s->b + s->claim.off;
    size_t bn = s->claim.len, vp, len;
    const char *why = NULL, *t;
    char want[JUMBF_LABEL_MAX + 64];
    if (cbor_map_find(b, bn, 0, "signature", &vp, &why) != 1 || cbor_get_text(b, bn, vp, &t, &len))
        return fail_r(r, "claim.malformed", "%s", "the claim has no signature reference");
    snprintf(want, sizeof want, "self#jumbf=/c2pa/%s/c2pa.signature", s->label);
    if (!(len == strlen(want) && !memcmp(t, want, len)) && !(len == 25 && !memcmp(t, "self#jumbf=c2pa.signature", 25)))
        return fail_r(r, "claimSignature.missing", "%s", "the claim's signature reference is not this manifest's signature box");
    int has = cbor_map_find(b, bn, 0, "alg", &vp, &why);
    if (has < 0 || (has == 1 && (cbor_get_text(b, bn, vp, &t, &len) || len != 6 || memcmp(t, "sha256", 6))))
        return fail_r(r, "algorithm.unsupported", "%s", "the claim's hash algorithm is not sha256");
    return T2V_OK;
}

/* Every created assertion's hash, then the hard binding. */
static int check_assertions(int kind, const Store *s, const uint8_t *asset, size_t n, size_t m_start,
                            size_t m_len, StrBuf *rep, C2paResult *r) {
    const uint8_t *b = s->b + s->claim.off;
    size_t bn = s->claim.len, ap, pos;
    const char *why = NULL;
    CborItem arr;
    int bindings = 0;
    if (cbor_map_find(b, bn, 0, "created_assertions", &ap, &why) != 1)
        return fail_r(r, "claim.malformed", "%s", "the claim has no created_assertions (not a v2 claim)");
    pos = ap;
    if (cbor_read(b, bn, &pos, &arr, &why) || arr.major != CBOR_ARRAY)
        return fail_r(r, "claim.malformed", "%s", "created_assertions is not an array");
    for (uint64_t i = 0; i < arr.val && r->verdict != C2PA_INVALID; i++) {
        size_t up, hp, ul, hl;
        const char *url;
        const uint8_t *want;
        if (cbor_map_find(b, bn, pos, "url", &up, &why) != 1 || cbor_get_text(b, bn, up, &url, &ul) ||
            cbor_map_find(b, bn, pos, "hash", &hp, &why) != 1 || cbor_get_bytes(b, bn, hp, &want, &hl) || hl != 32)
            return fail_r(r, "claim.malformed", "%s", "a hashed URI without url or 32-byte hash");
        cbor_skip(b, bn, &pos, &why);
        char lab[JUMBF_LABEL_MAX];
        const char *key = "/c2pa.assertions/";
        size_t kl = strlen(key);
        size_t j = 0;
        while (j + kl <= ul && memcmp(url + j, key, kl)) j++;
        if (j + kl > ul || ul - j - kl >= sizeof lab) return fail_r(r, "assertion.missing", "%s", "an assertion URL outside the assertion store");
        memcpy(lab, url + j + kl, ul - j - kl);
        lab[ul - j - kl] = 0;
        BoxRef ab, cb;
        if (jumbf_find(s->b, &s->assertions, lab, NULL, &ab, &why) != 1)
            return fail_r(r, "assertion.missing", "assertion %s is not in the store", lab);
        uint8_t got[32];
        Sha256 h;
        sha256_init(&h);
        sha256_update(&h, s->b + ab.off, ab.len);
        sha256_final(&h, got);
        if (memcmp(got, want, 32)) return fail_r(r, "assertion.hashedURI.mismatch", "assertion %s does not match its hash in the claim", lab);
        if (jumbf_content(s->b, &ab, "cbor", &cb, &why) != 1 || cbor_check(s->b + cb.off, cb.len, &why))
            return fail_r(r, "assertion.cbor.invalid", "assertion %s is not CBOR", lab);
        diag_line(rep, lab, s->b + cb.off, cb.len);
        if (!strcmp(lab, "c2pa.hash.data") || !strcmp(lab, "c2pa.hash.bmff.v2")) {
            bindings++;
            check_binding(kind, asset, n, m_start, m_len, lab, s->b + cb.off, cb.len, r);
        }
    }
    if (r->verdict != C2PA_INVALID && bindings != 1)
        return fail_r(r, bindings ? "claim.multipleHardBindings" : "claim.hardBindings.missing", "%s",
                      bindings ? "more than one hard binding" : "no hard binding t2v can check");
    return T2V_OK;
}

int c2pa_verify(int kind, const uint8_t *asset, size_t n, const uint8_t *sidecar, size_t sn,
                C2paResult *r, T2vError *err) {
    memset(r, 0, sizeof *r);
    const uint8_t *st = sidecar;
    size_t off = 0, len = sn, m_start = 0, m_len = 0;
    if (kind == 'p') {
        if (c2pa_png_find(asset, n, &m_start, &off, &len)) return T2V_OK;
        st = asset + off; m_len = len + 12;
    } else if (kind == 'm') {
        if (c2pa_mp4_find(asset, n, &m_start, &off, &len)) return T2V_OK;
        st = asset + off;
    } else if (!sidecar) return T2V_OK;
    Store s;
    const char *why = NULL;
    StrBuf rep = {0};
    r->verdict = C2PA_VALID;
    if (store_parse(st, len, &s, &why)) {
        fail_r(r, "manifest.malformed", "the manifest store is malformed: %s", why);
        return T2V_OK;
    }
    if (!c2pa_available()) {
        r->verdict = C2PA_UNCHECKED;
        snprintf(r->reason, sizeof r->reason, "this t2v was built without C2PA support (C2PA=0)");
        return T2V_OK;
    }
    sb_printf(&rep, "manifest %s\nclaim %s\n", s.label, s.claim_label);
    diag_line(&rep, "claim", st + s.claim.off, s.claim.len);
    sb_str(&rep, "assertions\n");
    check_claim(&s, r);
    if (r->verdict != C2PA_INVALID) check_signature(&s, r);
    if (r->verdict != C2PA_INVALID) check_assertions(kind, &s, asset, n, m_start, m_len, &rep, r);
    r->report = sb_take(&rep);
    if (!r->report) return t2v_fail(err, T2V_ERESOURCE, "C2PA report: out of memory");
    return T2V_OK;
}

void c2pa_result_free(C2paResult *r) {
    free(r->report);
    r->report = NULL;
}
