/*
 * fuzz_json.c: libFuzzer target for ref/json.c. Parses the input; when it
 * parses, walks the whole tree without recursion (an explicit stack) checking
 * the invariants of json.h: strings NUL-terminated at len with no NUL inside,
 * object keys unique, integers exact, depth within JSON_MAX_DEPTH.
 *
 *   tests/fuzz/run.sh 60        (seeds: golden/ and tests/hostile/ *.json)
 *   (inputs up to -max_len=16384: headers and pickles are what matter)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ref/lib/json.h"

typedef struct {
    const JsonValue *v;
    int depth;
} Item;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char errbuf[256];
    errbuf[0] = 0;
    JsonValue *root = json_parse((const char *)data, n, errbuf, sizeof errbuf);
    if (!root) {
        if (!errbuf[0]) abort(); /* a refusal always says why */
        return 0;
    }
    size_t cap = 64, sp = 0;
    Item *stack = (Item *)malloc(cap * sizeof *stack);
    stack[sp++] = (Item){root, 0};
    while (sp) {
        Item it = stack[--sp];
        const JsonValue *v = it.v;
        if (it.depth > JSON_MAX_DEPTH + 1) abort();
        if (v->type == JSON_STRING && (!v->string || strlen(v->string) != v->len)) abort();
        if (v->type == JSON_NUMBER && v->is_integer && !v->integer_overflow &&
            v->integer >= -(1LL << 53) && v->integer <= (1LL << 53) && (double)v->integer != v->number)
            abort();
        if (v->type == JSON_OBJECT)
            for (size_t i = 0; i < v->len; i++)
                if (!v->keys[i] || json_get(v, v->keys[i]) != &v->items[i]) abort(); /* unique keys */
        if (v->type == JSON_OBJECT || v->type == JSON_ARRAY)
            for (size_t i = 0; i < v->len; i++) {
                if (sp == cap) {
                    cap *= 2;
                    stack = (Item *)realloc(stack, cap * sizeof *stack);
                    if (!stack) abort();
                }
                stack[sp++] = (Item){&v->items[i], it.depth + 1};
            }
    }
    free(stack);
    json_free(root);
    return 0;
}
