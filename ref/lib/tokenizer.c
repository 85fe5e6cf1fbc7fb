/*
 * tokenizer.c: the umT5 SentencePiece unigram tokenizer (docs/MODEL.md 5.3).
 * See tokenizer.h and docs/TOKENIZER.md. The structure follows the
 * SentencePiece library (v0.1.97): ModelInterface::InitializePieces,
 * normalizer.cc (Normalize, NormalizePrefix), unigram_model.cc
 * (EncodeOptimized), sentencepiece_processor.cc (PopulateSentencePieceText).
 */
#include "tokenizer.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"

#define TK_MAX_PIECES (1 << 24)          /* far above umT5's 256,384        */
#define TK_CHARSMAP_MAX_RESULTS 32       /* Normalizer::kMaxTrieResultsSize */
static const float kUnkPenalty = 10.0f;  /* unigram_model.cc               */
static const char kSpaceSymbol[] = "\xe2\x96\x81"; /* U+2581              */

/* ===========================================================================
 * Growable byte and id buffers. */
typedef struct {
    char *p;
    size_t n, cap;
} TkBuf;

static int buf_put(TkBuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = (char *)realloc(b->p, cap);
        if (!q) return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

typedef struct {
    int32_t *p;
    int n, cap;
} TkIds;

static int ids_put(TkIds *v, int32_t id) {
    if (v->n == v->cap) {
        int cap = v->cap ? 2 * v->cap : 64;
        int32_t *q = (int32_t *)realloc(v->p, (size_t)cap * sizeof(int32_t));
        if (!q) return -1;
        v->p = q;
        v->cap = cap;
    }
    v->p[v->n++] = id;
    return 0;
}

/* ===========================================================================
 * UTF-8 as SentencePiece sees it (util.h / util.cc). */

/* string_util::OneCharLen: from the lead byte alone. */
static int one_char_len(unsigned char c) {
    static const unsigned char len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[c >> 4];
}

static int is_trail(unsigned char c) { return (c & 0xC0) == 0x80; }
static int valid_cp(uint32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); }

/* string_util::DecodeUTF8; returns 0xFFFD (kUnicodeError) with *mblen = 1
 * on malformed input. */
static uint32_t decode_utf8(const unsigned char *s, size_t len, size_t *mblen) {
    uint32_t cp;
    if (s[0] < 0x80) {
        *mblen = 1;
        return s[0];
    } else if (len >= 2 && (s[0] & 0xE0) == 0xC0) {
        cp = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
        if (is_trail(s[1]) && cp >= 0x80 && valid_cp(cp)) { *mblen = 2; return cp; }
    } else if (len >= 3 && (s[0] & 0xF0) == 0xE0) {
        cp = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        if (is_trail(s[1]) && is_trail(s[2]) && cp >= 0x800 && valid_cp(cp)) { *mblen = 3; return cp; }
    } else if (len >= 4 && (s[0] & 0xF8) == 0xF0) {
        cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
             ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        if (is_trail(s[1]) && is_trail(s[2]) && is_trail(s[3]) && cp >= 0x10000 && valid_cp(cp)) {
            *mblen = 4;
            return cp;
        }
    }
    *mblen = 1;
    return 0xFFFD;
}

/* string_util::IsValidDecodeUTF8: a literal U+FFFD (3 bytes) is valid. */
static int valid_decode_utf8(const unsigned char *s, size_t len, size_t *mblen) {
    uint32_t c = decode_utf8(s, len, mblen);
    return c != 0xFFFD || *mblen == 3;
}

static size_t encode_utf8(uint32_t c, char *out) {
    if (c < 0x80) { out[0] = (char)c; return 1; }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* ===========================================================================
 * Protobuf wire format: just what ModelProto needs. */
typedef struct {
    const unsigned char *p, *end;
} PbReader;

static int pb_varint(PbReader *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return -1;
        unsigned char b = *r->p++;
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) { *v = x; return 0; }
    }
    return -1;
}

/* Reads a tag: field number and wire type (0 varint, 1 fixed64, 2 bytes,
 * 5 fixed32; groups 3/4 are refused). */
static int pb_tag(PbReader *r, uint32_t *field, int *wire) {
    uint64_t t;
    if (pb_varint(r, &t) != 0 || (t >> 3) == 0 || (t >> 3) > 0x1FFFFFFF) return -1;
    *field = (uint32_t)(t >> 3);
    *wire = (int)(t & 7);
    return (*wire == 0 || *wire == 1 || *wire == 2 || *wire == 5) ? 0 : -1;
}

static int pb_bytes(PbReader *r, PbReader *sub) {
    uint64_t n;
    if (pb_varint(r, &n) != 0 || n > (uint64_t)(r->end - r->p)) return -1;
    sub->p = r->p;
    sub->end = r->p + n;
    r->p += n;
    return 0;
}

static int pb_skip(PbReader *r, int wire) {
    uint64_t v;
    PbReader sub;
    switch (wire) {
    case 0: return pb_varint(r, &v);
    case 1: if (r->end - r->p < 8) return -1; r->p += 8; return 0;
    case 2: return pb_bytes(r, &sub);
    case 5: if (r->end - r->p < 4) return -1; r->p += 4; return 0;
    default: return -1;
    }
}

/* A varint field read into *v (checks the wire type). */
static int pb_read_varint(PbReader *r, int wire, uint64_t *v) {
    return wire == 0 ? pb_varint(r, v) : -1;
}

/* ===========================================================================
 * Loading: ModelProto -> Tokenizer. */

#define TK_FAIL(...) t2v_fail(err, T2V_EINPUT, __VA_ARGS__)

typedef struct {        /* what the parse collects before validation */
    const unsigned char **str;
    uint32_t *len;
    float *score;
    uint8_t *type;
    int n, cap;
    const unsigned char *charsmap;
    size_t charsmap_n;
} TkParse;

/* ModelProto.SentencePiece { 1: piece, 2: score, 3: type } */
static int parse_piece(Tokenizer *tk, TkParse *ps, PbReader *r, T2vError *err) {
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 1024;
        if (cap > TK_MAX_PIECES) return TK_FAIL("%s: more than %d pieces", tk->name, TK_MAX_PIECES);
        void *a = realloc(ps->str, (size_t)cap * sizeof(*ps->str));
        if (a) ps->str = (const unsigned char **)a;
        void *b = realloc(ps->len, (size_t)cap * sizeof(*ps->len));
        if (b) ps->len = (uint32_t *)b;
        void *c = realloc(ps->score, (size_t)cap * sizeof(*ps->score));
        if (c) ps->score = (float *)c;
        void *d = realloc(ps->type, (size_t)cap);
        if (d) ps->type = (uint8_t *)d;
        if (!a || !b || !c || !d) return t2v_fail(err, T2V_ERESOURCE, "%s: out of memory for pieces", tk->name);
        ps->cap = cap;
    }
    int i = ps->n++;
    ps->str[i] = (const unsigned char *)"";
    ps->len[i] = 0;
    ps->score[i] = 0.0f;
    ps->type[i] = SP_NORMAL;
    while (r->p < r->end) {
        uint32_t f;
        int wire;
        uint64_t v;
        PbReader s;
        if (pb_tag(r, &f, &wire) != 0) return TK_FAIL("%s: piece %d: bad protobuf tag", tk->name, i);
        if (f == 1) {
            if (wire != 2 || pb_bytes(r, &s) != 0 || s.end - s.p > 0x7FFFFFFF)
                return TK_FAIL("%s: piece %d: bad 'piece' string", tk->name, i);
            ps->str[i] = s.p;
            ps->len[i] = (uint32_t)(s.end - s.p);
        } else if (f == 2) {
            if (wire != 5 || r->end - r->p < 4)
                return TK_FAIL("%s: piece %d: bad 'score' (expected fixed32 float)", tk->name, i);
            ps->score[i] = f32_from_bits(rd_u32le(r->p));
            r->p += 4;
        } else if (f == 3) {
            if (pb_read_varint(r, wire, &v) != 0 || v < SP_NORMAL || v > SP_BYTE)
                return TK_FAIL("%s: piece %d: bad 'type' (expected 1..6)", tk->name, i);
            ps->type[i] = (uint8_t)v;
        } else if (pb_skip(r, wire) != 0) {
            return TK_FAIL("%s: piece %d: truncated field %u", tk->name, i, (unsigned)f);
        }
    }
    return T2V_OK;
}

/* TrainerSpec { 3: model_type, 24: treat_whitespace_as_suffix,
 * 35: byte_fallback, 42: eos_id } (other fields skipped). */
static int parse_trainer(Tokenizer *tk, PbReader *r, T2vError *err) {
    while (r->p < r->end) {
        uint32_t f;
        int wire;
        uint64_t v = 0;
        if (pb_tag(r, &f, &wire) != 0) return TK_FAIL("%s: trainer_spec: bad protobuf tag", tk->name);
        if (f == 3 || f == 24 || f == 35 || f == 42) {
            if (pb_read_varint(r, wire, &v) != 0)
                return TK_FAIL("%s: trainer_spec: field %u: expected a varint", tk->name, (unsigned)f);
            if (f == 3) tk->model_type = (int)(v & 0x7FFFFFFF);
            if (f == 24) tk->treat_whitespace_as_suffix = v != 0;
            if (f == 35) tk->byte_fallback = v != 0;
            if (f == 42) tk->eos_id = (int32_t)(uint32_t)v;
        } else if (pb_skip(r, wire) != 0) {
            return TK_FAIL("%s: trainer_spec: truncated field %u", tk->name, (unsigned)f);
        }
    }
    return T2V_OK;
}

/* NormalizerSpec { 2: precompiled_charsmap, 3: add_dummy_prefix,
 * 4: remove_extra_whitespaces, 5: escape_whitespaces }. */
static int parse_normalizer(Tokenizer *tk, TkParse *ps, PbReader *r, T2vError *err) {
    while (r->p < r->end) {
        uint32_t f;
        int wire;
        uint64_t v = 0;
        PbReader s;
        if (pb_tag(r, &f, &wire) != 0) return TK_FAIL("%s: normalizer_spec: bad protobuf tag", tk->name);
        if (f == 2) {
            if (wire != 2 || pb_bytes(r, &s) != 0)
                return TK_FAIL("%s: normalizer_spec: bad precompiled_charsmap", tk->name);
            ps->charsmap = s.p;
            ps->charsmap_n = (size_t)(s.end - s.p);
        } else if (f >= 3 && f <= 5) {
            if (pb_read_varint(r, wire, &v) != 0)
                return TK_FAIL("%s: normalizer_spec: field %u: expected a varint", tk->name, (unsigned)f);
            if (f == 3) tk->add_dummy_prefix = v != 0;
            if (f == 4) tk->remove_extra_whitespaces = v != 0;
            if (f == 5) tk->escape_whitespaces = v != 0;
        } else if (pb_skip(r, wire) != 0) {
            return TK_FAIL("%s: normalizer_spec: truncated field %u", tk->name, (unsigned)f);
        }
    }
    return T2V_OK;
}

/* ModelProto { 1: pieces, 2: trainer_spec, 3: normalizer_spec, 4: self_test_data,
 * 5: denormalizer_spec } */
static int parse_model(Tokenizer *tk, TkParse *ps, const unsigned char *data, size_t n, T2vError *err) {
    PbReader r = {data, data + n};
    int rc;
    while (r.p < r.end) {
        uint32_t f;
        int wire;
        PbReader s;
        if (pb_tag(&r, &f, &wire) != 0)
            return TK_FAIL("%s: not a SentencePiece model (bad protobuf tag at byte %ld)", tk->name,
                           (long)(r.p - data));
        if (f >= 1 && f <= 3) {
            if (wire != 2 || pb_bytes(&r, &s) != 0)
                return TK_FAIL("%s: not a SentencePiece model (field %u at byte %ld is not a valid "
                               "embedded message)", tk->name, (unsigned)f, (long)(r.p - data));
            if (f == 1) rc = parse_piece(tk, ps, &s, err);
            else if (f == 2) rc = parse_trainer(tk, &s, err);
            else rc = parse_normalizer(tk, ps, &s, err);
            if (rc != T2V_OK) return rc;
        } else if (pb_skip(&r, wire) != 0) {
            return TK_FAIL("%s: truncated protobuf field %u at byte %ld", tk->name, (unsigned)f,
                           (long)(r.p - data));
        }
    }
    return T2V_OK;
}

/* ---- pieces, sorted for duplicate checks and the trie ---- */
typedef struct {
    const unsigned char *s;
    uint32_t len;
    int32_t id;
} TkKey;

static int key_cmp(const void *a, const void *b) {
    const TkKey *x = (const TkKey *)a, *y = (const TkKey *)b;
    uint32_t m = x->len < y->len ? x->len : y->len;
    int c = m ? memcmp(x->s, y->s, m) : 0;
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

static int in_trie(int type) { return type == SP_NORMAL || type == SP_USER_DEFINED || type == SP_UNUSED; }

/* "<0x%02X>" -> byte, or -1 (model_interface.cc PieceToByte). */
static int piece_to_byte(const char *s, uint32_t len) {
    static const char hex[] = "0123456789ABCDEF";
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    const char *a = strchr(hex, s[3]), *b = strchr(hex, s[4]);
    if (!a || !b || !s[3] || !s[4]) return -1;
    return (int)((a - hex) * 16 + (b - hex));
}

/* The byte of key k at depth d, 0 when the key ends there (bytes count
 * from 1): the order in which keys are grouped under a node. */
static int key_byte(const TkKey *k, uint32_t d) { return k->len > d ? 1 + k->s[d] : 0; }

/* Groups keys[a..b) by their byte at depth d (an MSD radix step: insertion
 * sort for short ranges, counting sort otherwise). */
static void group_keys(TkKey *keys, TkKey *tmp, int a, int b, uint32_t d) {
    if (b - a <= 48) {
        for (int i = a + 1; i < b; i++) {
            TkKey k = keys[i];
            int c = key_byte(&k, d), j = i - 1;
            while (j >= a && key_byte(&keys[j], d) > c) { keys[j + 1] = keys[j]; j--; }
            keys[j + 1] = k;
        }
        return;
    }
    int count[258] = {0};
    for (int i = a; i < b; i++) count[key_byte(&keys[i], d) + 1]++;
    for (int c = 1; c < 258; c++) count[c] += count[c - 1];
    for (int i = a; i < b; i++) tmp[count[key_byte(&keys[i], d)]++] = keys[i];
    memcpy(keys + a, tmp, (size_t)(b - a) * sizeof(TkKey));
}

/* The trie over the keys, built breadth-first: node i covers keys
 * [lo[i], hi[i]) that share their first depth[i] bytes; grouping them by
 * the next byte gives its children in label order. Two keys that end at the
 * same node are the same piece: refused, as SentencePiece does. */
static int build_trie(Tokenizer *tk, TkKey *keys, int nk, size_t total, T2vError *err) {
    size_t cap = total + 1;
    if (cap > 0x7FFFFFFF) return TK_FAIL("%s: pieces too long in total", tk->name);
    tk->nodes = (TkNode *)t2v_malloc(cap * sizeof(TkNode), "tokenizer trie", err);
    int32_t *lo = (int32_t *)t2v_malloc(cap * sizeof(int32_t), "tokenizer trie", err);
    int32_t *hi = (int32_t *)t2v_malloc(cap * sizeof(int32_t), "tokenizer trie", err);
    uint32_t *depth = (uint32_t *)t2v_malloc(cap * sizeof(uint32_t), "tokenizer trie", err);
    TkKey *tmp = (TkKey *)t2v_malloc((size_t)nk * sizeof(TkKey) + 1, "tokenizer trie", err);
    int rc = T2V_OK, n = 1;
    if (!tk->nodes || !lo || !hi || !depth || !tmp) rc = err ? err->code : T2V_ERESOURCE;
    if (rc == T2V_OK) {
        tk->nodes[0] = (TkNode){-1, 0, 0, 0};
        lo[0] = 0; hi[0] = nk; depth[0] = 0;
    }
    for (int i = 0; rc == T2V_OK && i < n; i++) {
        int a = lo[i], b = hi[i];
        uint32_t d = depth[i];
        group_keys(keys, tmp, a, b, d);
        if (a < b && keys[a].len == d) {
            if (a + 1 < b && keys[a + 1].len == d) {
                int first = keys[a].id < keys[a + 1].id ? keys[a].id : keys[a + 1].id;
                int dup = keys[a].id ^ keys[a + 1].id ^ first;
                rc = TK_FAIL("%s: piece %d '%.64s' is already defined (as piece %d)", tk->name, dup,
                             (const char *)keys[a].s, first);
                break;
            }
            tk->nodes[i].piece = keys[a++].id;
        }
        tk->nodes[i].child = (uint32_t)n;
        while (a < b) {
            unsigned char c = keys[a].s[d];
            int e = a + 1;
            while (e < b && keys[e].s[d] == c) e++;
            tk->nodes[n] = (TkNode){-1, 0, 0, c};
            lo[n] = a; hi[n] = e; depth[n] = d + 1;
            n++;
            tk->nodes[i].n_child++;
            a = e;
        }
    }
    tk->n_nodes = n;
    free(lo); free(hi); free(depth); free(tmp);
    return rc;
}

/* The child of node along byte c, or -1 (binary search: labels sorted). */
static int trie_child(const Tokenizer *tk, int node, unsigned char c) {
    const TkNode *nd = &tk->nodes[node];
    int a = (int)nd->child, b = a + nd->n_child - 1;
    while (a <= b) {
        int m = (a + b) / 2;
        unsigned char l = tk->nodes[m].label;
        if (l == c) return m;
        if (l < c) a = m + 1; else b = m - 1;
    }
    return -1;
}

/* Piece checks of ModelInterface::InitializePieces, and the trie. */
static int init_pieces(Tokenizer *tk, const TkParse *ps, T2vError *err) {
    int n = ps->n, rc = T2V_OK;
    if (n == 0) return TK_FAIL("%s: the model has no pieces", tk->name);
    TkKey *keys = (TkKey *)t2v_malloc((size_t)n * sizeof(TkKey), "tokenizer keys", err);
    if (!keys) return err ? err->code : T2V_ERESOURCE;
    int n_trie = 0, n_res = n;
    size_t total = 0;
    /* trie pieces first (ids in order), reserved ones from the back */
    for (int i = 0; i < n; i++) {
        TkKey k = {(const unsigned char *)tk->strings + tk->piece_off[i], tk->piece_len[i], i};
        if (in_trie(tk->type[i])) { keys[n_trie++] = k; total += k.len; }
        else keys[--n_res] = k;
    }
    /* reserved pieces: sorted for the duplicate check; the trie pieces are
     * checked while the trie is built */
    qsort(keys + n_res, (size_t)(n - n_res), sizeof(TkKey), key_cmp);
    for (int i = n_res + 1; i < n && rc == T2V_OK; i++) {
        if (keys[i].len == keys[i - 1].len && memcmp(keys[i].s, keys[i - 1].s, keys[i].len) == 0)
            rc = TK_FAIL("%s: piece %d '%.64s' is already defined (as piece %d)", tk->name, keys[i].id,
                         (const char *)keys[i].s, keys[i - 1].id);
    }
    if (rc == T2V_OK && n_trie == 0) rc = TK_FAIL("%s: no normal pieces are loaded", tk->name);
    if (rc == T2V_OK) rc = build_trie(tk, keys, n_trie, total, err);
    free(keys);
    return rc;
}

static int check_pieces(Tokenizer *tk, T2vError *err) {
    int byte_found[256] = {0};
    tk->unk_id = -1;
    for (int i = 0; i < tk->n_pieces; i++) {
        const char *s = tk->strings + tk->piece_off[i];
        uint32_t len = tk->piece_len[i];
        if (len == 0) return TK_FAIL("%s: piece %d is empty (pieces must not be empty)", tk->name, i);
        if (memchr(s, 0, len))
            return TK_FAIL("%s: piece %d contains a NUL byte (not supported)", tk->name, i);
        if (tk->type[i] == SP_USER_DEFINED) tk->has_user_defined = 1;
        if (tk->type[i] == SP_UNKNOWN) {
            if (tk->unk_id >= 0)
                return TK_FAIL("%s: piece %d: unk is already defined (piece %d)", tk->name, i, tk->unk_id);
            tk->unk_id = i;
        }
        if (tk->type[i] == SP_BYTE) {
            if (!tk->byte_fallback)
                return TK_FAIL("%s: byte piece %.64s is found although byte_fallback is false", tk->name, s);
            int b = piece_to_byte(s, len);
            if (b < 0) return TK_FAIL("%s: byte piece %.64s is invalid (expected <0xNN>)", tk->name, s);
            byte_found[b] = 1;
        }
    }
    if (tk->unk_id < 0) return TK_FAIL("%s: unk is not defined (no piece of type UNKNOWN)", tk->name);
    if (tk->byte_fallback)
        for (int b = 0; b < 256; b++)
            if (!byte_found[b])
                return TK_FAIL("%s: byte_fallback is true but byte piece <0x%02X> is missing", tk->name, b);
    return T2V_OK;
}

/* PieceToId("<0xNN>") for every byte: reserved pieces first, then the trie,
 * else unk. */
static void init_byte_ids(Tokenizer *tk) {
    for (int b = 0; b < 256; b++) tk->byte_id[b] = -1;
    for (int i = 0; i < tk->n_pieces; i++) {
        int b = piece_to_byte(tk->strings + tk->piece_off[i], tk->piece_len[i]);
        if (b >= 0 && !in_trie(tk->type[i])) tk->byte_id[b] = i;
    }
    for (int b = 0; b < 256; b++) {
        if (tk->byte_id[b] >= 0) continue;
        char s[8];
        snprintf(s, sizeof(s), "<0x%02X>", b);
        int node = 0;
        for (int k = 0; k < 6 && node >= 0; k++) node = trie_child(tk, node, (unsigned char)s[k]);
        tk->byte_id[b] = node >= 0 && tk->nodes[node].piece >= 0 ? tk->nodes[node].piece : tk->unk_id;
    }
}

/* Normalizer::DecodePrecompiledCharsMap: <u32 trie size><units><strings>. */
static int init_charsmap(Tokenizer *tk, const TkParse *ps, T2vError *err) {
    if (ps->charsmap_n == 0) return T2V_OK;
    const unsigned char *b = ps->charsmap;
    size_t n = ps->charsmap_n;
    uint32_t tsize = n > 4 ? rd_u32le(b) : 0;
    if (n <= 4 || tsize >= n || (size_t)tsize + 4 > n)
        return TK_FAIL("%s: normalizer_spec.precompiled_charsmap is broken (%zu bytes, trie size %u)",
                       tk->name, n, (unsigned)tsize);
    tk->charsmap_n = tsize / 4;
    tk->charsmap_norm_n = n - 4 - tsize;
    tk->charsmap = (uint32_t *)t2v_malloc(tk->charsmap_n * 4 + 4, "charsmap", err);
    tk->charsmap_norm = (char *)t2v_malloc(tk->charsmap_norm_n + 1, "charsmap", err);
    if (!tk->charsmap || !tk->charsmap_norm) return err ? err->code : T2V_ERESOURCE;
    for (size_t i = 0; i < tk->charsmap_n; i++) tk->charsmap[i] = rd_u32le(b + 4 + 4 * i);
    memcpy(tk->charsmap_norm, b + 4 + tsize, tk->charsmap_norm_n);
    tk->charsmap_norm[tk->charsmap_norm_n] = 0;
    return T2V_OK;
}

/* Copies the parsed pieces into the Tokenizer. */
static int copy_pieces(Tokenizer *tk, const TkParse *ps, T2vError *err) {
    size_t total = 0;
    for (int i = 0; i < ps->n; i++) total += (size_t)ps->len[i] + 1;
    if (total > 0xFFFFFFFFu) return TK_FAIL("%s: pieces too long in total", tk->name);
    tk->n_pieces = ps->n;
    tk->strings = (char *)t2v_malloc(total ? total : 1, "tokenizer pieces", err);
    tk->piece_off = (uint32_t *)t2v_malloc((size_t)ps->n * 4 + 4, "tokenizer pieces", err);
    tk->piece_len = (uint32_t *)t2v_malloc((size_t)ps->n * 4 + 4, "tokenizer pieces", err);
    tk->score = (float *)t2v_malloc((size_t)ps->n * 4 + 4, "tokenizer pieces", err);
    tk->type = (uint8_t *)t2v_malloc((size_t)ps->n + 1, "tokenizer pieces", err);
    if (!tk->strings || !tk->piece_off || !tk->piece_len || !tk->score || !tk->type)
        return err ? err->code : T2V_ERESOURCE;
    size_t off = 0;
    for (int i = 0; i < ps->n; i++) {
        tk->piece_off[i] = (uint32_t)off;
        tk->piece_len[i] = ps->len[i];
        if (ps->len[i]) memcpy(tk->strings + off, ps->str[i], ps->len[i]);
        tk->strings[off + ps->len[i]] = 0;
        off += (size_t)ps->len[i] + 1;
        tk->score[i] = ps->score[i];
        tk->type[i] = ps->type[i];
    }
    return T2V_OK;
}

int tokenizer_load_mem(Tokenizer *tk, const void *data, size_t n, const char *name, T2vError *err) {
    memset(tk, 0, sizeof(*tk));
    snprintf(tk->name, sizeof(tk->name), "%s", name ? name : "(memory)");
    tk->model_type = 1;
    tk->eos_id = 2;
    tk->add_dummy_prefix = tk->remove_extra_whitespaces = tk->escape_whitespaces = 1;
    TkParse ps;
    memset(&ps, 0, sizeof(ps));
    if (n == 0) return TK_FAIL("%s: empty file (not a SentencePiece model)", tk->name);
    int rc = parse_model(tk, &ps, (const unsigned char *)data, n, err);
    if (rc == T2V_OK && tk->model_type != 1)
        rc = TK_FAIL("%s: trainer_spec.model_type is %d; only UNIGRAM (1) is supported", tk->name,
                     tk->model_type);
    if (rc == T2V_OK) rc = copy_pieces(tk, &ps, err);
    if (rc == T2V_OK) rc = check_pieces(tk, err);
    if (rc == T2V_OK) rc = init_pieces(tk, &ps, err);
    if (rc == T2V_OK) rc = init_charsmap(tk, &ps, err);
    if (rc == T2V_OK) {
        init_byte_ids(tk);
        /* unigram Model::Model: min/max over NORMAL pieces, as std::min/max */
        tk->min_score = FLT_MAX;
        tk->max_score = FLT_MIN;
        for (int i = 0; i < tk->n_pieces; i++) {
            if (tk->type[i] != SP_NORMAL) continue;
            if (tk->score[i] < tk->min_score) tk->min_score = tk->score[i];
            if (tk->max_score < tk->score[i]) tk->max_score = tk->score[i];
        }
    }
    free(ps.str); free(ps.len); free(ps.score); free(ps.type);
    if (rc != T2V_OK) tokenizer_free(tk);
    return rc;
}

int tokenizer_load(Tokenizer *tk, const char *path, T2vError *err) {
    MappedFile m;
    memset(tk, 0, sizeof(*tk));
    int rc = platform_map_file(&m, path, err);
    if (rc != T2V_OK) return rc;
    rc = tokenizer_load_mem(tk, m.data, m.size, path, err);
    platform_unmap_file(&m);
    return rc;
}

void tokenizer_free(Tokenizer *tk) {
    free(tk->strings); free(tk->piece_off); free(tk->piece_len); free(tk->score); free(tk->type);
    free(tk->charsmap); free(tk->charsmap_norm); free(tk->nodes);
    tk->strings = NULL; tk->piece_off = tk->piece_len = NULL; tk->score = NULL; tk->type = NULL;
    tk->charsmap = NULL; tk->charsmap_norm = NULL; tk->nodes = NULL;
    tk->n_pieces = tk->n_nodes = 0;
}

const char *tokenizer_piece(const Tokenizer *tk, int id) {
    return id >= 0 && id < tk->n_pieces ? tk->strings + tk->piece_off[id] : NULL;
}

int tokenizer_vocab_size(const Tokenizer *tk) { return tk->n_pieces; }

/* ===========================================================================
 * Normalizer (normalizer.cc). */

/* darts-clone DoubleArray::commonPrefixSearch over the charsmap units, with
 * bounds checks (a hostile array stops the search). Stores at most
 * TK_CHARSMAP_MAX_RESULTS (length, value) pairs; returns how many. */
static int charsmap_prefix(const Tokenizer *tk, const unsigned char *key, size_t len, size_t *res_len,
                           uint32_t *res_val) {
    const uint32_t *a = tk->charsmap;
    size_t n = tk->charsmap_n;
    int num = 0;
    if (n == 0) return 0;
#define UNIT_OFFSET(u) (((u) >> 10) << (((u) & (1u << 9)) >> 6))
    uint32_t id = UNIT_OFFSET(a[0]);
    for (size_t i = 0; i < len; i++) {
        id ^= key[i];
        if (id >= n) return num;
        uint32_t unit = a[id];
        if ((unit & ((1u << 31) | 0xFFu)) != key[i]) return num;  /* label */
        id ^= UNIT_OFFSET(unit);
        if ((unit >> 8) & 1) {                                    /* has_leaf */
            if (id >= n) return num;
            if (num < TK_CHARSMAP_MAX_RESULTS) {
                res_len[num] = i + 1;
                res_val[num] = a[id] & 0x7FFFFFFFu;                /* value */
                num++;
            }
        }
    }
#undef UNIT_OFFSET
    return num;
}

/* Normalizer::NormalizePrefix: the normalized form of the first character(s)
 * of s (*out, *out_len) and how many input bytes that consumed. */
static size_t normalize_prefix(const Tokenizer *tk, const unsigned char *s, size_t len, const char **out,
                               size_t *out_len) {
    /* user-defined symbols pass through unchanged (PrefixMatcher, longest) */
    if (tk->has_user_defined) {
        size_t best = 0;
        int node = 0;
        for (size_t i = 0; i < len; i++) {
            node = trie_child(tk, node, s[i]);
            if (node < 0) break;
            int id = tk->nodes[node].piece;
            if (id >= 0 && tk->type[id] == SP_USER_DEFINED) best = i + 1;
        }
        if (best) {
            *out = (const char *)s;
            *out_len = best;
            return best;
        }
    }
    size_t longest_len = 0;
    uint32_t longest_val = 0;
    if (tk->charsmap) {
        size_t rl[TK_CHARSMAP_MAX_RESULTS];
        uint32_t rv[TK_CHARSMAP_MAX_RESULTS];
        int num = charsmap_prefix(tk, s, len, rl, rv);
        for (int k = 0; k < num; k++) {
            if (longest_len == 0 || rl[k] > longest_len) {
                longest_len = rl[k];
                longest_val = rv[k];
            }
        }
    }
    if (longest_len == 0) {
        size_t mblen;
        if (!valid_decode_utf8(s, len, &mblen)) {
            *out = "\xEF\xBF\xBD"; /* U+FFFD for one malformed byte */
            *out_len = 3;
            return 1;
        }
        *out = (const char *)s;
        *out_len = mblen;
        return mblen;
    }
    /* the replacement is the NUL-terminated string at longest_val */
    if (longest_val >= tk->charsmap_norm_n) {
        *out = "";
        *out_len = 0;
    } else {
        *out = tk->charsmap_norm + longest_val;
        *out_len = strlen(*out); /* charsmap_norm has a NUL after its end */
    }
    return longest_len;
}

static int ends_with(const TkBuf *b, const char *s, size_t n) {
    return b->n >= n && memcmp(b->p + b->n - n, s, n) == 0;
}

/* Normalizer::Normalize: fills out (caller frees out->p). */
static int normalize(const Tokenizer *tk, const char *text, size_t len, TkBuf *out) {
    const unsigned char *in = (const unsigned char *)text;
    const char *sp;
    size_t sp_n;
    const char *space = tk->escape_whitespaces ? kSpaceSymbol : " ";
    size_t space_n = strlen(space);
    if (buf_put(out, "", 0) != 0) return -1;
    if (len == 0) return 0;
    if (tk->remove_extra_whitespaces) { /* ignore heading space */
        while (len > 0) {
            size_t c = normalize_prefix(tk, in, len, &sp, &sp_n);
            if (!(sp_n == 1 && sp[0] == ' ')) break;
            in += c;
            len -= c;
        }
    }
    if (len == 0) return 0;
    if (!tk->treat_whitespace_as_suffix && tk->add_dummy_prefix && buf_put(out, space, space_n) != 0) return -1;
    int is_prev_space = tk->remove_extra_whitespaces;
    while (len > 0) {
        size_t c = normalize_prefix(tk, in, len, &sp, &sp_n);
        while (is_prev_space && sp_n > 0 && sp[0] == ' ') { sp++; sp_n--; }
        if (sp_n > 0) {
            for (size_t k = 0; k < sp_n; k++) {
                int r = (tk->escape_whitespaces && sp[k] == ' ') ? buf_put(out, kSpaceSymbol, 3)
                                                                 : buf_put(out, sp + k, 1);
                if (r != 0) return -1;
            }
            is_prev_space = sp[sp_n - 1] == ' ';
        }
        in += c;
        len -= c;
        if (!tk->remove_extra_whitespaces) is_prev_space = 0;
    }
    if (tk->remove_extra_whitespaces) { /* ignore trailing space */
        while (ends_with(out, space, space_n)) out->n -= space_n;
        out->p[out->n] = 0;
    }
    if (tk->treat_whitespace_as_suffix && tk->add_dummy_prefix && buf_put(out, space, space_n) != 0) return -1;
    return 0;
}

/* ===========================================================================
 * Unigram Viterbi (unigram_model.cc, Model::EncodeOptimized). Scores mix
 * float and double exactly as the C++ does: a user-defined piece scores
 * (double)(length * max_score) - 0.1, so its candidate is a double; other
 * pieces' candidates are float + float in double; an unknown character's
 * candidate is float + float in float. Best scores are stored as float. */
typedef struct {
    int id;            /* piece ending here (-1: none yet) */
    float score;       /* best path score ending here      */
    int starts_at;     /* where that piece starts (-1)     */
} TkBest;

static int viterbi(const Tokenizer *tk, const char *norm, int size, TkIds *path) {
    TkBest *best = (TkBest *)malloc((size_t)(size + 1) * sizeof(TkBest));
    if (!best) return -1;
    for (int i = 0; i <= size; i++) best[i] = (TkBest){-1, 0.0f, -1};
    const float unk_score = tk->min_score - kUnkPenalty;
    const unsigned char *s = (const unsigned char *)norm;
    int starts_at = 0;
    while (starts_at < size) {
        const float here = best[starts_at].score;
        int has_single_node = 0;
        int mblen = one_char_len(s[starts_at]);
        if (mblen > size - starts_at) mblen = size - starts_at;
        int node = 0;
        for (int key_pos = starts_at; key_pos < size;) {
            node = trie_child(tk, node, s[key_pos]);
            if (node < 0) break;
            key_pos++;
            int id = tk->nodes[node].piece;
            if (id < 0 || tk->type[id] == SP_UNUSED) continue;
            TkBest *t = &best[key_pos];
            int length = key_pos - starts_at;
            double score = tk->type[id] == SP_USER_DEFINED ? (double)((float)length * tk->max_score) - 0.1
                                                           : (double)tk->score[id];
            double cand = score + (double)here;
            if (t->starts_at == -1 || cand > (double)t->score) {
                t->score = (float)cand;
                t->starts_at = starts_at;
                t->id = id;
            }
            if (length == mblen) has_single_node = 1;
        }
        if (!has_single_node) {
            TkBest *t = &best[starts_at + mblen];
            float cand = unk_score + here;
            if (t->starts_at == -1 || cand > t->score) {
                t->score = cand;
                t->starts_at = starts_at;
                t->id = tk->unk_id;
            }
        }
        starts_at += mblen;
    }
    /* backtrack, then reverse: path holds (start, end, id) triples */
    int rc = 0;
    for (int end = size; end > 0 && rc == 0; end = best[end].starts_at) {
        int start = best[end].starts_at;
        if (start < 0 || start >= end || best[end].id < 0) { rc = -2; break; }
        rc = ids_put(path, start);
        if (rc == 0) rc = ids_put(path, end);
        if (rc == 0) rc = ids_put(path, best[end].id);
    }
    for (int i = 0, j = path->n - 3; rc == 0 && i < j; i += 3, j -= 3)
        for (int k = 0; k < 3; k++) {
            int32_t t = path->p[i + k];
            path->p[i + k] = path->p[j + k];
            path->p[j + k] = t;
        }
    free(best);
    return rc;
}

/* SentencePieceProcessor::PopulateSentencePieceText, ids only: runs of
 * unknown pieces merge into one <unk>; with byte_fallback an unknown piece
 * becomes its UTF-8 bytes as <0xNN> pieces. */
static int emit_ids(const Tokenizer *tk, const char *norm, const TkIds *path, TkIds *ids) {
    int prev_unk = 0;
    for (int i = 0; i + 2 < path->n; i += 3) {
        int start = path->p[i], end = path->p[i + 1], id = path->p[i + 2];
        int is_unk = tk->type[id] == SP_UNKNOWN;
        if (is_unk && tk->byte_fallback) {
            for (int k = start; k < end; k++)
                if (ids_put(ids, tk->byte_id[(unsigned char)norm[k]]) != 0) return -1;
        } else if (!(prev_unk && is_unk)) {
            if (ids_put(ids, id) != 0) return -1;
        }
        prev_unk = is_unk;
    }
    return 0;
}

int tokenizer_encode(const Tokenizer *tk, const char *text, size_t len, int32_t **ids, int *n,
                     T2vError *err) {
    TkBuf norm = {NULL, 0, 0};
    TkIds path = {NULL, 0, 0}, out = {NULL, 0, 0};
    *ids = NULL;
    *n = 0;
    if (len > 0x3FFFFFFF) return t2v_fail(err, T2V_EINPUT, "%s: text of %zu bytes is too long", tk->name, len);
    int rc = normalize(tk, text, len, &norm);
    if (rc == 0 && norm.n > 0x7FFFFFF0u) rc = -2;
    if (rc == 0 && norm.n > 0) rc = viterbi(tk, norm.p, (int)norm.n, &path);
    if (rc == 0) rc = emit_ids(tk, norm.p, &path, &out);
    free(norm.p);
    free(path.p);
    if (rc != 0) {
        free(out.p);
        if (rc == -2) return t2v_fail(err, T2V_EINPUT, "%s: no segmentation found", tk->name);
        return t2v_fail(err, T2V_ERESOURCE, "%s: out of memory encoding %zu bytes", tk->name, len);
    }
    *ids = out.p;
    *n = out.n;
    return T2V_OK;
}

/* ===========================================================================
 * Wan2.1 prompt cleaning (docs/MODEL.md 5.3, clean='whitespace'):
 * ftfy.fix_text (approximated: see docs/TOKENIZER.md), html.unescape twice,
 * strip, every run of Unicode whitespace -> one ' ', strip. */

/* Python's str.isspace() / re's \s for str patterns. */
static int py_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* One code point of s[0..len) (an invalid byte counts as one, U+FFFD). */
static uint32_t next_cp(const char *s, size_t len, size_t *mblen) {
    return decode_utf8((const unsigned char *)s, len, mblen);
}

/* html.entities.html5: the 106 legacy names that need no ';' (all of them,
 * so the longest-prefix rule of html.unescape is exact) and a common subset
 * of the others. Sorted by name (strcmp). */
static const struct { const char *name, *utf8; } kEntities[] = {
    {"AElig", "\xC3\x86"}, {"AElig;", "\xC3\x86"}, {"AMP", "\x26"}, {"AMP;", "\x26"},
    {"Aacute", "\xC3\x81"}, {"Aacute;", "\xC3\x81"}, {"Acirc", "\xC3\x82"},
    {"Acirc;", "\xC3\x82"}, {"Agrave", "\xC3\x80"}, {"Agrave;", "\xC3\x80"},
    {"Alpha;", "\xCE\x91"}, {"Aring", "\xC3\x85"}, {"Aring;", "\xC3\x85"}, {"Atilde", "\xC3\x83"},
    {"Atilde;", "\xC3\x83"}, {"Auml", "\xC3\x84"}, {"Auml;", "\xC3\x84"}, {"COPY", "\xC2\xA9"},
    {"COPY;", "\xC2\xA9"}, {"Ccedil", "\xC3\x87"}, {"Ccedil;", "\xC3\x87"},
    {"Dagger;", "\xE2\x80\xA1"}, {"ETH", "\xC3\x90"}, {"ETH;", "\xC3\x90"},
    {"Eacute", "\xC3\x89"}, {"Eacute;", "\xC3\x89"}, {"Ecirc", "\xC3\x8A"},
    {"Ecirc;", "\xC3\x8A"}, {"Egrave", "\xC3\x88"}, {"Egrave;", "\xC3\x88"}, {"Euml", "\xC3\x8B"},
    {"Euml;", "\xC3\x8B"}, {"GT", "\x3E"}, {"GT;", "\x3E"}, {"Iacute", "\xC3\x8D"},
    {"Iacute;", "\xC3\x8D"}, {"Icirc", "\xC3\x8E"}, {"Icirc;", "\xC3\x8E"},
    {"Igrave", "\xC3\x8C"}, {"Igrave;", "\xC3\x8C"}, {"Iuml", "\xC3\x8F"}, {"Iuml;", "\xC3\x8F"},
    {"LT", "\x3C"}, {"LT;", "\x3C"}, {"Ntilde", "\xC3\x91"}, {"Ntilde;", "\xC3\x91"},
    {"OElig;", "\xC5\x92"}, {"Oacute", "\xC3\x93"}, {"Oacute;", "\xC3\x93"},
    {"Ocirc", "\xC3\x94"}, {"Ocirc;", "\xC3\x94"}, {"Ograve", "\xC3\x92"},
    {"Ograve;", "\xC3\x92"}, {"Omega;", "\xCE\xA9"}, {"Oslash", "\xC3\x98"},
    {"Oslash;", "\xC3\x98"}, {"Otilde", "\xC3\x95"}, {"Otilde;", "\xC3\x95"},
    {"Ouml", "\xC3\x96"}, {"Ouml;", "\xC3\x96"}, {"Prime;", "\xE2\x80\xB3"}, {"QUOT", "\x22"},
    {"QUOT;", "\x22"}, {"REG", "\xC2\xAE"}, {"REG;", "\xC2\xAE"}, {"Scaron;", "\xC5\xA0"},
    {"THORN", "\xC3\x9E"}, {"THORN;", "\xC3\x9E"}, {"Uacute", "\xC3\x9A"},
    {"Uacute;", "\xC3\x9A"}, {"Ucirc", "\xC3\x9B"}, {"Ucirc;", "\xC3\x9B"},
    {"Ugrave", "\xC3\x99"}, {"Ugrave;", "\xC3\x99"}, {"Uuml", "\xC3\x9C"}, {"Uuml;", "\xC3\x9C"},
    {"Yacute", "\xC3\x9D"}, {"Yacute;", "\xC3\x9D"}, {"Yuml;", "\xC5\xB8"},
    {"aacute", "\xC3\xA1"}, {"aacute;", "\xC3\xA1"}, {"acirc", "\xC3\xA2"},
    {"acirc;", "\xC3\xA2"}, {"acute", "\xC2\xB4"}, {"acute;", "\xC2\xB4"}, {"aelig", "\xC3\xA6"},
    {"aelig;", "\xC3\xA6"}, {"agrave", "\xC3\xA0"}, {"agrave;", "\xC3\xA0"},
    {"alpha;", "\xCE\xB1"}, {"amp", "\x26"}, {"amp;", "\x26"}, {"and;", "\xE2\x88\xA7"},
    {"apos;", "\x27"}, {"aring", "\xC3\xA5"}, {"aring;", "\xC3\xA5"}, {"asymp;", "\xE2\x89\x88"},
    {"atilde", "\xC3\xA3"}, {"atilde;", "\xC3\xA3"}, {"auml", "\xC3\xA4"}, {"auml;", "\xC3\xA4"},
    {"bdquo;", "\xE2\x80\x9E"}, {"beta;", "\xCE\xB2"}, {"brvbar", "\xC2\xA6"},
    {"brvbar;", "\xC2\xA6"}, {"bull;", "\xE2\x80\xA2"}, {"cap;", "\xE2\x88\xA9"},
    {"ccedil", "\xC3\xA7"}, {"ccedil;", "\xC3\xA7"}, {"cedil", "\xC2\xB8"},
    {"cedil;", "\xC2\xB8"}, {"cent", "\xC2\xA2"}, {"cent;", "\xC2\xA2"},
    {"check;", "\xE2\x9C\x93"}, {"chi;", "\xCF\x87"}, {"circ;", "\xCB\x86"},
    {"clubs;", "\xE2\x99\xA3"}, {"copy", "\xC2\xA9"}, {"copy;", "\xC2\xA9"},
    {"cross;", "\xE2\x9C\x97"}, {"cup;", "\xE2\x88\xAA"}, {"curren", "\xC2\xA4"},
    {"curren;", "\xC2\xA4"}, {"dagger;", "\xE2\x80\xA0"}, {"darr;", "\xE2\x86\x93"},
    {"deg", "\xC2\xB0"}, {"deg;", "\xC2\xB0"}, {"delta;", "\xCE\xB4"}, {"diams;", "\xE2\x99\xA6"},
    {"divide", "\xC3\xB7"}, {"divide;", "\xC3\xB7"}, {"eacute", "\xC3\xA9"},
    {"eacute;", "\xC3\xA9"}, {"ecirc", "\xC3\xAA"}, {"ecirc;", "\xC3\xAA"},
    {"egrave", "\xC3\xA8"}, {"egrave;", "\xC3\xA8"}, {"empty;", "\xE2\x88\x85"},
    {"emsp;", "\xE2\x80\x83"}, {"ensp;", "\xE2\x80\x82"}, {"epsilon;", "\xCE\xB5"},
    {"equiv;", "\xE2\x89\xA1"}, {"eta;", "\xCE\xB7"}, {"eth", "\xC3\xB0"}, {"eth;", "\xC3\xB0"},
    {"euml", "\xC3\xAB"}, {"euml;", "\xC3\xAB"}, {"euro;", "\xE2\x82\xAC"},
    {"exist;", "\xE2\x88\x83"}, {"fnof;", "\xC6\x92"}, {"forall;", "\xE2\x88\x80"},
    {"frac12", "\xC2\xBD"}, {"frac12;", "\xC2\xBD"}, {"frac14", "\xC2\xBC"},
    {"frac14;", "\xC2\xBC"}, {"frac34", "\xC2\xBE"}, {"frac34;", "\xC2\xBE"},
    {"frasl;", "\xE2\x81\x84"}, {"gamma;", "\xCE\xB3"}, {"ge;", "\xE2\x89\xA5"}, {"gt", "\x3E"},
    {"gt;", "\x3E"}, {"harr;", "\xE2\x86\x94"}, {"hearts;", "\xE2\x99\xA5"},
    {"hellip;", "\xE2\x80\xA6"}, {"iacute", "\xC3\xAD"}, {"iacute;", "\xC3\xAD"},
    {"icirc", "\xC3\xAE"}, {"icirc;", "\xC3\xAE"}, {"iexcl", "\xC2\xA1"}, {"iexcl;", "\xC2\xA1"},
    {"igrave", "\xC3\xAC"}, {"igrave;", "\xC3\xAC"}, {"infin;", "\xE2\x88\x9E"},
    {"int;", "\xE2\x88\xAB"}, {"iota;", "\xCE\xB9"}, {"iquest", "\xC2\xBF"},
    {"iquest;", "\xC2\xBF"}, {"isin;", "\xE2\x88\x88"}, {"iuml", "\xC3\xAF"},
    {"iuml;", "\xC3\xAF"}, {"kappa;", "\xCE\xBA"}, {"lambda;", "\xCE\xBB"},
    {"lang;", "\xE2\x9F\xA8"}, {"laquo", "\xC2\xAB"}, {"laquo;", "\xC2\xAB"},
    {"larr;", "\xE2\x86\x90"}, {"lceil;", "\xE2\x8C\x88"}, {"ldquo;", "\xE2\x80\x9C"},
    {"le;", "\xE2\x89\xA4"}, {"lfloor;", "\xE2\x8C\x8A"}, {"loz;", "\xE2\x97\x8A"},
    {"lrm;", "\xE2\x80\x8E"}, {"lsaquo;", "\xE2\x80\xB9"}, {"lsquo;", "\xE2\x80\x98"},
    {"lt", "\x3C"}, {"lt;", "\x3C"}, {"macr", "\xC2\xAF"}, {"macr;", "\xC2\xAF"},
    {"mdash;", "\xE2\x80\x94"}, {"micro", "\xC2\xB5"}, {"micro;", "\xC2\xB5"},
    {"middot", "\xC2\xB7"}, {"middot;", "\xC2\xB7"}, {"minus;", "\xE2\x88\x92"},
    {"mu;", "\xCE\xBC"}, {"nabla;", "\xE2\x88\x87"}, {"nbsp", "\xC2\xA0"}, {"nbsp;", "\xC2\xA0"},
    {"ndash;", "\xE2\x80\x93"}, {"ne;", "\xE2\x89\xA0"}, {"not", "\xC2\xAC"},
    {"not;", "\xC2\xAC"}, {"notin;", "\xE2\x88\x89"}, {"ntilde", "\xC3\xB1"},
    {"ntilde;", "\xC3\xB1"}, {"nu;", "\xCE\xBD"}, {"oacute", "\xC3\xB3"}, {"oacute;", "\xC3\xB3"},
    {"ocirc", "\xC3\xB4"}, {"ocirc;", "\xC3\xB4"}, {"oelig;", "\xC5\x93"}, {"ograve", "\xC3\xB2"},
    {"ograve;", "\xC3\xB2"}, {"oline;", "\xE2\x80\xBE"}, {"omega;", "\xCF\x89"},
    {"omicron;", "\xCE\xBF"}, {"oplus;", "\xE2\x8A\x95"}, {"or;", "\xE2\x88\xA8"},
    {"ordf", "\xC2\xAA"}, {"ordf;", "\xC2\xAA"}, {"ordm", "\xC2\xBA"}, {"ordm;", "\xC2\xBA"},
    {"oslash", "\xC3\xB8"}, {"oslash;", "\xC3\xB8"}, {"otilde", "\xC3\xB5"},
    {"otilde;", "\xC3\xB5"}, {"otimes;", "\xE2\x8A\x97"}, {"ouml", "\xC3\xB6"},
    {"ouml;", "\xC3\xB6"}, {"para", "\xC2\xB6"}, {"para;", "\xC2\xB6"}, {"part;", "\xE2\x88\x82"},
    {"permil;", "\xE2\x80\xB0"}, {"perp;", "\xE2\x8A\xA5"}, {"phi;", "\xCF\x86"},
    {"pi;", "\xCF\x80"}, {"plusmn", "\xC2\xB1"}, {"plusmn;", "\xC2\xB1"}, {"pound", "\xC2\xA3"},
    {"pound;", "\xC2\xA3"}, {"prime;", "\xE2\x80\xB2"}, {"prod;", "\xE2\x88\x8F"},
    {"psi;", "\xCF\x88"}, {"quot", "\x22"}, {"quot;", "\x22"}, {"radic;", "\xE2\x88\x9A"},
    {"rang;", "\xE2\x9F\xA9"}, {"raquo", "\xC2\xBB"}, {"raquo;", "\xC2\xBB"},
    {"rarr;", "\xE2\x86\x92"}, {"rceil;", "\xE2\x8C\x89"}, {"rdquo;", "\xE2\x80\x9D"},
    {"reg", "\xC2\xAE"}, {"reg;", "\xC2\xAE"}, {"rfloor;", "\xE2\x8C\x8B"}, {"rho;", "\xCF\x81"},
    {"rlm;", "\xE2\x80\x8F"}, {"rsaquo;", "\xE2\x80\xBA"}, {"rsquo;", "\xE2\x80\x99"},
    {"sbquo;", "\xE2\x80\x9A"}, {"scaron;", "\xC5\xA1"}, {"sdot;", "\xE2\x8B\x85"},
    {"sect", "\xC2\xA7"}, {"sect;", "\xC2\xA7"}, {"shy", "\xC2\xAD"}, {"shy;", "\xC2\xAD"},
    {"sigma;", "\xCF\x83"}, {"sim;", "\xE2\x88\xBC"}, {"spades;", "\xE2\x99\xA0"},
    {"star;", "\xE2\x98\x86"}, {"starf;", "\xE2\x98\x85"}, {"sub;", "\xE2\x8A\x82"},
    {"sube;", "\xE2\x8A\x86"}, {"sum;", "\xE2\x88\x91"}, {"sup1", "\xC2\xB9"},
    {"sup1;", "\xC2\xB9"}, {"sup2", "\xC2\xB2"}, {"sup2;", "\xC2\xB2"}, {"sup3", "\xC2\xB3"},
    {"sup3;", "\xC2\xB3"}, {"sup;", "\xE2\x8A\x83"}, {"supe;", "\xE2\x8A\x87"},
    {"szlig", "\xC3\x9F"}, {"szlig;", "\xC3\x9F"}, {"tau;", "\xCF\x84"}, {"theta;", "\xCE\xB8"},
    {"thinsp;", "\xE2\x80\x89"}, {"thorn", "\xC3\xBE"}, {"thorn;", "\xC3\xBE"},
    {"tilde;", "\xCB\x9C"}, {"times", "\xC3\x97"}, {"times;", "\xC3\x97"},
    {"trade;", "\xE2\x84\xA2"}, {"uacute", "\xC3\xBA"}, {"uacute;", "\xC3\xBA"},
    {"uarr;", "\xE2\x86\x91"}, {"ucirc", "\xC3\xBB"}, {"ucirc;", "\xC3\xBB"},
    {"ugrave", "\xC3\xB9"}, {"ugrave;", "\xC3\xB9"}, {"uml", "\xC2\xA8"}, {"uml;", "\xC2\xA8"},
    {"upsilon;", "\xCF\x85"}, {"uuml", "\xC3\xBC"}, {"uuml;", "\xC3\xBC"}, {"xi;", "\xCE\xBE"},
    {"yacute", "\xC3\xBD"}, {"yacute;", "\xC3\xBD"}, {"yen", "\xC2\xA5"}, {"yen;", "\xC2\xA5"},
    {"yuml", "\xC3\xBF"}, {"yuml;", "\xC3\xBF"}, {"zeta;", "\xCE\xB6"}, {"zwj;", "\xE2\x80\x8D"},
    {"zwnj;", "\xE2\x80\x8C"},
};

static const char *entity_lookup(const char *name, size_t n) {
    int a = 0, b = (int)(sizeof(kEntities) / sizeof(kEntities[0])) - 1;
    while (a <= b) {
        int m = (a + b) / 2;
        size_t tl = strlen(kEntities[m].name);
        int c = memcmp(kEntities[m].name, name, tl < n ? tl : n);
        if (c == 0) c = tl < n ? -1 : tl > n;
        if (c == 0) return kEntities[m].utf8;
        if (c < 0) a = m + 1; else b = m - 1;
    }
    return NULL;
}

/* html._invalid_charrefs for 0x80..0x9F (Windows-1252). */
static const uint16_t kCp1252[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

/* html.unescape's numeric character reference rule. */
static int numeric_ref(TkBuf *o, uint64_t num) {
    char u[4];
    if (num == 0) return buf_put(o, "\xEF\xBF\xBD", 3);
    if (num == 0x0D) return buf_put(o, "\r", 1);
    if (num >= 0x80 && num <= 0x9F) return buf_put(o, u, encode_utf8(kCp1252[num - 0x80], u));
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return buf_put(o, "\xEF\xBF\xBD", 3);
    if ((num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) || num == 0x7F ||
        (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
        return 0; /* _invalid_codepoints: dropped */
    return buf_put(o, u, encode_utf8((uint32_t)num, u));
}

/* Tries a character reference at s[0] == '&'. Returns the bytes consumed
 * (0: no match, the '&' stays). Regex of html.unescape:
 *   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?) */
static size_t charref(TkBuf *o, const char *s, size_t len, int *rc) {
    size_t i = 1;
    if (i < len && s[i] == '#') {
        int hex = i + 1 < len && (s[i + 1] == 'x' || s[i + 1] == 'X');
        size_t j = i + 1 + (size_t)hex, d0 = j;
        uint64_t num = 0;
        for (; j < len; j++) {
            int c = (unsigned char)s[j], v;
            if (c >= '0' && c <= '9') v = c - '0';
            else if (hex && c >= 'a' && c <= 'f') v = c - 'a' + 10;
            else if (hex && c >= 'A' && c <= 'F') v = c - 'A' + 10;
            else break;
            num = num * (hex ? 16 : 10) + (uint64_t)v;
            if (num > 0x110000) num = 0x110000; /* any larger value gives U+FFFD */
        }
        if (j == d0) return 0;
        if (j < len && s[j] == ';') j++;
        *rc = numeric_ref(o, num);
        return j;
    }
    /* named: up to 32 code points, then an optional ';' */
    size_t j = i, ncp = 0, ascii = 0;
    while (j < len && ncp < 32) {
        size_t mb;
        uint32_t c = next_cp(s + j, len - j, &mb);
        if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' || c == ';')
            break;
        if (c < 0x80 && ascii == ncp) ascii++;
        j += mb;
        ncp++;
    }
    if (ncp == 0) return 0;
    if (j < len && s[j] == ';') { j++; ncp++; if (ascii == ncp - 1) ascii++; }
    const char *rep = entity_lookup(s + 1, j - 1);
    if (rep) { *rc = buf_put(o, rep, strlen(rep)); return j; }
    /* the longest prefix of 2..len-1 code points (legacy names are ASCII) */
    for (size_t x = (ncp - 1 < ascii ? ncp - 1 : ascii); x >= 2; x--) {
        rep = entity_lookup(s + 1, x);
        if (rep) {
            *rc = buf_put(o, rep, strlen(rep));
            if (*rc == 0) *rc = buf_put(o, s + 1 + x, j - 1 - x);
            return j;
        }
    }
    *rc = buf_put(o, s, j);
    return j;
}

static int html_unescape(const char *s, size_t len, TkBuf *o) {
    int rc = buf_put(o, "", 0);
    for (size_t i = 0; i < len && rc == 0;) {
        if (s[i] == '&') {
            size_t k = charref(o, s + i, len - i, &rc);
            if (k) { i += k; continue; }
        }
        rc = buf_put(o, s + i, 1);
        i++;
    }
    return rc;
}

/* ftfy's uncurl_quotes: [U+02BC U+2018-U+201B] -> ', [U+201C-U+201F] -> ". */
static int uncurl_quotes(const char *s, size_t len, TkBuf *o) {
    int rc = buf_put(o, "", 0);
    for (size_t i = 0; i < len && rc == 0;) {
        size_t mb;
        uint32_t c = next_cp(s + i, len - i, &mb);
        if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) rc = buf_put(o, "'", 1);
        else if (c >= 0x201C && c <= 0x201F) rc = buf_put(o, "\"", 1);
        else rc = buf_put(o, s + i, mb);
        i += mb;
    }
    return rc;
}

/* strip + re.sub(r'\s+', ' ') + strip. */
static int collapse_whitespace(const char *s, size_t len, TkBuf *o) {
    int rc = buf_put(o, "", 0), pending = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        size_t mb;
        uint32_t c = next_cp(s + i, len - i, &mb);
        if (py_isspace(c)) {
            pending = o->n > 0;
        } else {
            if (pending) rc = buf_put(o, " ", 1);
            if (rc == 0) rc = buf_put(o, s + i, mb);
            pending = 0;
        }
        i += mb;
    }
    return rc;
}

int tokenizer_clean_wan(const char *text, size_t len, char **out, size_t *out_len, T2vError *err) {
    TkBuf a = {NULL, 0, 0}, b = {NULL, 0, 0};
    int rc = uncurl_quotes(text, len, &a);
    if (rc == 0) rc = html_unescape(a.p, a.n, &b);
    a.n = 0;
    if (rc == 0) rc = html_unescape(b.p, b.n, &a);
    b.n = 0;
    if (rc == 0) rc = collapse_whitespace(a.p, a.n, &b);
    free(a.p);
    if (rc != 0) {
        free(b.p);
        return t2v_fail(err, T2V_ERESOURCE, "out of memory cleaning a prompt of %zu bytes", len);
    }
    *out = b.p;
    *out_len = b.n;
    return T2V_OK;
}

int tokenizer_encode_wan(const Tokenizer *tk, const char *text, int text_len, int32_t **ids, int *n,
                         T2vError *err) {
    char *clean;
    size_t clean_n;
    *ids = NULL;
    *n = 0;
    if (text_len < 1) return t2v_fail(err, T2V_EUSAGE, "text_len must be >= 1, got %d", text_len);
    if (tk->eos_id < 0 || tk->eos_id >= tk->n_pieces)
        return t2v_fail(err, T2V_EINPUT, "%s: trainer_spec.eos_id %d is not a piece id", tk->name, tk->eos_id);
    int rc = tokenizer_clean_wan(text, strlen(text), &clean, &clean_n, err);
    if (rc != T2V_OK) return rc;
    rc = tokenizer_encode(tk, clean, clean_n, ids, n, err);
    free(clean);
    if (rc != T2V_OK) return rc;
    if (*n > text_len - 1) *n = text_len - 1; /* room for EOS (5.3) */
    int32_t *grown = (int32_t *)realloc(*ids, (size_t)(*n + 1) * sizeof(int32_t));
    if (!grown) {
        free(*ids);
        *ids = NULL;
        *n = 0;
        return t2v_fail(err, T2V_ERESOURCE, "out of memory for token ids");
    }
    *ids = grown;
    (*ids)[(*n)++] = tk->eos_id;
    return T2V_OK;
}
