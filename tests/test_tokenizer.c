/*
 * test_tokenizer.c: ref/tokenizer.c against the SentencePiece library.
 *
 * golden/tokenizer/ holds small unigram models trained with Debian's
 * python3-sentencepiece and a corpus of ~2,400 strings (raw bytes, invalid
 * UTF-8 included) with the ids the library gives (tools/golden_tokenizer.py).
 * Every string must match exactly under every model; a mismatch prints the
 * string, both id sequences and the first differing position. Then the Wan
 * conventions (cleaning, truncation, EOS) and malformed models.
 */
#include "harness.h"

#include "../ref/lib/tokenizer.h"

#define GOLDEN_DIR "golden/tokenizer/"

/* A view of one golden tensor of the given dtype, or NULL (check failed). */
static const Tensor *need(const SafeTensors *st, const char *name, DType dt) {
    const Tensor *t = tl_find(&st->tensors, name);
    if (!t || t->dtype != dt || t->ndim != 1) {
        h_report(0, "%s: tensor '%s' missing or not %s [n] (re-run `make golden`)", st->path, name,
                 dtype_name(dt));
        return NULL;
    }
    return t;
}

static int32_t golden_i32(const Tensor *t, int64_t i) {
    const unsigned char *p = (const unsigned char *)t->data;
    if (t->dtype == DT_I16) return (int16_t)rd_u16le(p + 2 * i);
    return (int32_t)rd_u32le(p + 4 * i);
}

static void print_text(const unsigned char *s, int n) {
    printf("       text (%d bytes): \"", n);
    for (int i = 0; i < n && i < 160; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7F && s[i] != '"' && s[i] != '\\') putchar(s[i]);
        else printf("\\x%02X", s[i]);
    }
    printf(n > 160 ? "\"...\n" : "\"\n");
}

static void print_ids(const char *what, const int32_t *ids, int n) {
    printf("       %s (%d):", what, n);
    for (int i = 0; i < n && i < 40; i++) printf(" %d", ids[i]);
    printf(n > 40 ? " ...\n" : "\n");
}

/* Compares got[0..ng) with the golden ids [a, b) and prints a mismatch. */
static int same_ids(const int32_t *got, int ng, const Tensor *ids, int64_t a, int64_t b,
                    const unsigned char *text, int tn, int print) {
    int n = (int)(b - a), first = -1;
    for (int i = 0; i < n || i < ng; i++) {
        if (i >= n || i >= ng || got[i] != golden_i32(ids, a + i)) { first = i; break; }
    }
    if (first < 0) return 1;
    if (print) {
        int32_t *ref = (int32_t *)malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
        for (int i = 0; i < n && ref; i++) ref[i] = golden_i32(ids, a + i);
        print_text(text, tn);
        print_ids("sentencepiece", ref, n);
        print_ids("t2v          ", got, ng);
        printf("       first difference at position %d\n", first);
        free(ref);
    }
    return 0;
}

/* Every corpus string under one model. */
static void test_model(const SafeTensors *st, const char *name) {
    char path[512], key[300];
    Tokenizer tk;
    T2vError e = {0, {0}};
    snprintf(path, sizeof(path), GOLDEN_DIR "%s.model", name);
    if (tokenizer_load(&tk, path, &e) != T2V_OK) {
        h_report(0, "load %s: %s", path, e.msg);
        return;
    }
    snprintf(key, sizeof(key), "pieces.%s", name);
    const char *np = st_meta(st, key);
    CHECK(np && atoi(np) == tokenizer_vocab_size(&tk), "%s: %d pieces (library: %s)", name,
          tokenizer_vocab_size(&tk), np ? np : "?");
    const Tensor *text = need(st, "text", DT_U8), *toff = need(st, "text_off", DT_I32);
    snprintf(key, sizeof(key), "ids.%s", name);
    const Tensor *ids = need(st, key, DT_I16);
    snprintf(key, sizeof(key), "ids_off.%s", name);
    const Tensor *ioff = need(st, key, DT_I32);
    if (!text || !toff || !ids || !ioff || tensor_numel(toff) != tensor_numel(ioff)) {
        tokenizer_free(&tk);
        return;
    }
    int n = (int)tensor_numel(toff) - 1, bad = 0, failed_call = 0;
    const unsigned char *bytes = (const unsigned char *)text->data;
    for (int i = 0; i < n; i++) {
        int64_t a = golden_i32(toff, i), b = golden_i32(toff, i + 1);
        int32_t *got = NULL;
        int ng = 0;
        if (tokenizer_encode(&tk, (const char *)bytes + a, (size_t)(b - a), &got, &ng, &e) != T2V_OK) {
            if (failed_call++ < 3) printf("       string %d: %s\n", i, e.msg);
            bad++;
            continue;
        }
        if (!same_ids(got, ng, ids, golden_i32(ioff, i), golden_i32(ioff, i + 1), bytes + a, (int)(b - a),
                      bad < 5)) {
            if (bad < 5) printf("       (string %d of model %s)\n", i, name);
            bad++;
        }
        free(got);
    }
    CHECK(bad == 0, "%-20s %d/%d corpus strings give the library's ids exactly", name, n - bad, n);
    tokenizer_free(&tk);
}

/* Cleaning + truncation to text_len-1 pieces + EOS (docs/MODEL.md 5.3). */
static void test_wan(const SafeTensors *st) {
    const char *model = st_meta(st, "wan_model"), *tl = st_meta(st, "wan_text_len");
    const Tensor *text = need(st, "wan.text", DT_U8), *toff = need(st, "wan.text_off", DT_I32);
    const Tensor *ids = need(st, "wan.ids", DT_I16), *ioff = need(st, "wan.ids_off", DT_I32);
    if (!model || !tl || !text || !toff || !ids || !ioff) {
        h_report(0, "wan goldens missing (re-run `make golden`)");
        return;
    }
    char path[512];
    Tokenizer tk;
    T2vError e = {0, {0}};
    snprintf(path, sizeof(path), GOLDEN_DIR "%s.model", model);
    if (tokenizer_load(&tk, path, &e) != T2V_OK) {
        h_report(0, "load %s: %s", path, e.msg);
        return;
    }
    int n = (int)tensor_numel(toff) - 1, bad = 0, text_len = atoi(tl), truncated = 0;
    const unsigned char *bytes = (const unsigned char *)text->data;
    for (int i = 0; i < n; i++) {
        int64_t a = golden_i32(toff, i), b = golden_i32(toff, i + 1);
        char *s = (char *)malloc((size_t)(b - a) + 1);
        memcpy(s, bytes + a, (size_t)(b - a));
        s[b - a] = 0;
        int32_t *got = NULL;
        int ng = 0;
        if (tokenizer_encode_wan(&tk, s, text_len, &got, &ng, &e) != T2V_OK) {
            printf("       wan string %d: %s\n", i, e.msg);
            bad++;
        } else if (!same_ids(got, ng, ids, golden_i32(ioff, i), golden_i32(ioff, i + 1), bytes + a,
                             (int)(b - a), bad < 5)) {
            bad++;
        }
        truncated += ng == text_len;
        free(got);
        free(s);
    }
    CHECK(bad == 0, "wan: %d/%d prompts cleaned, encoded, truncated to %d with EOS", n - bad, n, text_len);
    CHECK(truncated >= 1, "wan: %d prompt(s) reach text_len (truncation exercised)", truncated);
    tokenizer_free(&tk);
}

/* ---- hand-made ModelProto bytes for the malformed-model checks ---- */
typedef struct {
    unsigned char b[4096];
    size_t n;
} Pb;

static void pb_byte(Pb *p, unsigned v) { if (p->n < sizeof(p->b)) p->b[p->n++] = (unsigned char)v; }
static void pb_var(Pb *p, uint64_t v) {
    while (v >= 0x80) { pb_byte(p, (unsigned)(v & 0x7F) | 0x80); v >>= 7; }
    pb_byte(p, (unsigned)v);
}
static void pb_len(Pb *p, unsigned field, const void *data, size_t n) {
    pb_var(p, field << 3 | 2);
    pb_var(p, n);
    for (size_t i = 0; i < n; i++) pb_byte(p, ((const unsigned char *)data)[i]);
}
/* pieces { piece, score, type } */
static void pb_piece(Pb *p, const char *s, float score, int type) {
    Pb q = {{0}, 0};
    pb_len(&q, 1, s, strlen(s));
    pb_var(&q, 2 << 3 | 5);
    uint32_t u = f32_to_bits(score);
    for (int k = 0; k < 4; k++) pb_byte(&q, (u >> (8 * k)) & 0xFF);
    pb_var(&q, 3 << 3 | 0);
    pb_var(&q, (uint64_t)type);
    pb_len(p, 1, q.b, q.n);
}

static void expect_refused(const char *what, const void *data, size_t n, const char *needle) {
    Tokenizer tk;
    T2vError e = {0, {0}};
    int rc = tokenizer_load_mem(&tk, data, n, what, &e);
    if (rc == T2V_OK) tokenizer_free(&tk);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, needle) != NULL, "refused: %s -> \"%s\"", what, e.msg);
}

static void test_malformed(void) {
    Pb p = {{0}, 0};
    expect_refused("empty file", "", 0, "empty file");
    expect_refused("text file", "hello world, not a model\n", 25, "not a SentencePiece model");
    /* no UNKNOWN piece */
    pb_piece(&p, "a", -1.0f, SP_NORMAL);
    expect_refused("model without <unk>", p.b, p.n, "unk is not defined");
    /* duplicate pieces */
    p.n = 0;
    pb_piece(&p, "<unk>", 0.0f, SP_UNKNOWN);
    pb_piece(&p, "a", -1.0f, SP_NORMAL);
    pb_piece(&p, "a", -2.0f, SP_NORMAL);
    expect_refused("duplicate piece", p.b, p.n, "already defined");
    /* byte piece without byte_fallback */
    p.n = 0;
    pb_piece(&p, "<unk>", 0.0f, SP_UNKNOWN);
    pb_piece(&p, "<0x41>", 0.0f, SP_BYTE);
    pb_piece(&p, "a", -1.0f, SP_NORMAL);
    expect_refused("byte piece, byte_fallback false", p.b, p.n, "byte_fallback is false");
    /* byte_fallback without the 256 byte pieces */
    Pb t = {{0}, 0};
    pb_var(&t, 35 << 3 | 0);
    pb_var(&t, 1);
    pb_len(&p, 2, t.b, t.n);
    expect_refused("byte_fallback, 255 byte pieces missing", p.b, p.n, "is missing");
    /* BPE model type */
    p.n = 0;
    pb_piece(&p, "<unk>", 0.0f, SP_UNKNOWN);
    pb_piece(&p, "a", -1.0f, SP_NORMAL);
    t.n = 0;
    pb_var(&t, 3 << 3 | 0);
    pb_var(&t, 2);
    pb_len(&p, 2, t.b, t.n);
    expect_refused("BPE model", p.b, p.n, "only UNIGRAM");
    /* broken charsmap: trie size larger than the blob */
    p.n = 0;
    pb_piece(&p, "<unk>", 0.0f, SP_UNKNOWN);
    pb_piece(&p, "a", -1.0f, SP_NORMAL);
    t.n = 0;
    unsigned char cm[8] = {0xFF, 0xFF, 0, 0, 1, 2, 3, 4};
    pb_len(&t, 2, cm, sizeof(cm));
    pb_len(&p, 3, t.b, t.n);
    expect_refused("broken precompiled_charsmap", p.b, p.n, "precompiled_charsmap is broken");
    /* empty piece, bad type, truncated */
    p.n = 0;
    pb_piece(&p, "<unk>", 0.0f, SP_UNKNOWN);
    pb_piece(&p, "", -1.0f, SP_NORMAL);
    expect_refused("empty piece", p.b, p.n, "is empty");
    p.n = 0;
    pb_piece(&p, "<unk>", 0.0f, SP_UNKNOWN);
    pb_piece(&p, "a", -1.0f, 9);
    expect_refused("piece type 9", p.b, p.n, "bad 'type'");
    p.n = 0;
    pb_piece(&p, "<unk>", 0.0f, SP_UNKNOWN);
    pb_piece(&p, "a", -1.0f, SP_NORMAL);
    expect_refused("truncated model", p.b, p.n - 3, "not a valid embedded message");
    p.n = 0;
    pb_piece(&p, "<unk>", 0.0f, SP_UNKNOWN);
    pb_piece(&p, "a", -1.0f, SP_NORMAL);
    /* the minimal valid model loads and encodes "aa" as two 'a's after the
     * dummy prefix, which is unknown (<unk> = 0) */
    Tokenizer tk;
    T2vError e = {0, {0}};
    int32_t *ids = NULL;
    int n = 0;
    int ok = tokenizer_load_mem(&tk, p.b, p.n, "minimal", &e) == T2V_OK;
    if (ok) {
        ok = tokenizer_encode(&tk, "aa", 2, &ids, &n, &e) == T2V_OK && n == 3 && ids[0] == 0 && ids[1] == 1 &&
             ids[2] == 1;
        free(ids);
        tokenizer_free(&tk);
    }
    CHECK(ok, "minimal hand-made model: \"aa\" -> [<unk>(U+2581), a, a]");
    T2vError e2 = {0, {0}};
    CHECK(tokenizer_load(&tk, GOLDEN_DIR "no-such.model", &e2) != T2V_OK && strstr(e2.msg, "no-such"),
          "missing file refused: %s", e2.msg);
}

/* Mutated copies of a committed model: each either loads and encodes or is
 * refused; never a crash (run under ASan by `make asan`). */
static void test_mutations(void) {
    MappedFile m;
    T2vError e = {0, {0}};
    if (platform_map_file(&m, GOLDEN_DIR "identity_suffix.model", &e) != T2V_OK) {
        h_report(0, "%s", e.msg);
        return;
    }
    unsigned char *buf = (unsigned char *)malloc(m.size);
    uint64_t s = 12345;
    int loaded = 0, refused = 0, bad = 0;
    for (int trial = 0; trial < 300; trial++) {
        memcpy(buf, m.data, m.size);
        size_t n = m.size;
        int k = 1 + (int)(prng_next(&s) % 4);
        for (int j = 0; j < k; j++) buf[prng_next(&s) % n] = (unsigned char)prng_next(&s);
        if (trial % 3 == 0) n = (size_t)(prng_next(&s) % n);
        Tokenizer tk;
        if (tokenizer_load_mem(&tk, buf, n, "mutated", &e) == T2V_OK) {
            int32_t *ids = NULL;
            int ni = 0;
            const char *txt = " The cat\xff [IMG]ab \xe2\x96\x81 x";
            if (tokenizer_encode(&tk, txt, strlen(txt), &ids, &ni, &e) != T2V_OK) bad++;
            for (int i = 0; i < ni; i++) bad += ids[i] < 0 || ids[i] >= tokenizer_vocab_size(&tk);
            free(ids);
            tokenizer_free(&tk);
            loaded++;
        } else {
            refused++;
            bad += e.msg[0] == 0;
        }
    }
    free(buf);
    platform_unmap_file(&m);
    CHECK(bad == 0, "300 mutated models: %d loaded and encoded in range, %d refused with a message", loaded,
          refused);
}

int main(void) {
    SafeTensors st;
    if (golden_open(&st, GOLDEN_DIR "corpus.safetensors")) {
        const char *models = st_meta(&st, "models");
        char list[1024];
        snprintf(list, sizeof(list), "%s", models ? models : "");
        int count = 0;
        for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
            test_model(&st, tok);
            count++;
        }
        CHECK(count >= 5, "%d golden models listed", count);
        test_wan(&st);
        st_close(&st);
    }
    test_malformed();
    test_mutations();
    return h_finish();
}
