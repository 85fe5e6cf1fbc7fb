/*
 * fuzz_tokenizer.c: libFuzzer target for ref/tokenizer.c.
 *
 * The first byte picks the mode:
 *   even: the rest is a .model file: load it; if it loads, encode a few
 *         fixed strings (and run the Wan cleaning) with it;
 *   odd:  the rest is text, encoded with a committed model
 *         (golden/tokenizer/nfkccf_bf_nodummy.model: nmt_nfkc_cf charsmap,
 *         byte_fallback, user-defined symbols; run from the repository root).
 * Either way it must never crash, leak or read out of bounds, and every id
 * must be a valid piece id.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iref tests/fuzz/fuzz_tokenizer.c \
 *       ref/tokenizer.c ref/tensor.c ref/platform.c -o fuzz_tokenizer
 *   ./fuzz_tokenizer -max_len=300000 golden/tokenizer   (seeds: the models)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ref/lib/tokenizer.h"

static void encode_check(const Tokenizer *tk, const char *s, size_t n) {
    int32_t *ids = NULL;
    int m = 0;
    T2vError e;
    if (tokenizer_encode(tk, s, n, &ids, &m, &e) == T2V_OK) {
        for (int i = 0; i < m; i++)
            if (ids[i] < 0 || ids[i] >= tokenizer_vocab_size(tk)) abort();
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static Tokenizer fixed;
    static int fixed_state; /* 0 not tried, 1 loaded, -1 missing */
    T2vError e;
    if (size == 0) return 0;
    if ((data[0] & 1) == 0) {
        Tokenizer tk;
        if (tokenizer_load_mem(&tk, data + 1, size - 1, "fuzz", &e) != T2V_OK) {
            if (e.msg[0] == 0) abort(); /* a refusal always says why */
            return 0;
        }
        static const char *texts[] = {"", " ", "Hello  world\t\n", "\xe2\x96\x81x\xff\xc3",
                                      "<0x41><unk></s>[IMG]ab", "\xef\xbc\xa1\xef\xac\x81 \xe3\x80\x80z"};
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) encode_check(&tk, texts[i], strlen(texts[i]));
        int32_t *ids = NULL;
        int m = 0;
        if (tk.eos_id >= 0 && tk.eos_id < tk.n_pieces &&
            tokenizer_encode_wan(&tk, "  &amp;lt;cat&gt; \xe2\x80\x9cx\xe2\x80\x9d &#128049; ", 8, &ids, &m, &e) == T2V_OK &&
            (m < 1 || m > 8))
            abort();
        free(ids);
        tokenizer_free(&tk);
        return 0;
    }
    if (fixed_state == 0)
        fixed_state = tokenizer_load(&fixed, "golden/tokenizer/nfkccf_bf_nodummy.model", &e) == T2V_OK ? 1 : -1;
    /* texts beyond 8 kB add little but slow the fuzzer down a lot */
    if (fixed_state == 1) encode_check(&fixed, (const char *)data + 1, size - 1 < 8192 ? size - 1 : 8192);
    /* the Wan cleaning on the same bytes (NUL-terminated copy) */
    char *s = (char *)malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    char *clean = NULL;
    size_t cn = 0;
    if (tokenizer_clean_wan(s, strlen(s), &clean, &cn, &e) == T2V_OK && strlen(clean) != cn) abort();
    free(clean);
    free(s);
    return 0;
}
