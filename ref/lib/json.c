/* json.c: see json.h. A recursive-descent parser, depth-limited. Duplicate
 * object keys and "\u0000" in strings are refused (a tensor name must be
 * unambiguous). */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t n, pos;
    char *err;
    size_t errlen;
    int failed;
} Parser;

static void perr(Parser *p, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = 1;
    if (!p->err || !p->errlen) return;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "JSON error at byte %zu: %s", p->pos, msg);
}

static void skip_ws(Parser *p) {
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int parse_value(Parser *p, JsonValue *v, int depth);

static void free_value(JsonValue *v) {
    free(v->string);
    for (size_t i = 0; v->items && i < v->len; i++) free_value(&v->items[i]);
    for (size_t i = 0; v->keys && i < v->len; i++) free(v->keys[i]);
    free(v->items);
    free(v->keys);
}

static int hex4(Parser *p, unsigned *out) {
    if (p->pos + 4 > p->n) { perr(p, "truncated \\u escape"); return -1; }
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else { perr(p, "bad hex digit in \\u escape"); return -1; }
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *d, unsigned cp) {
    if (cp < 0x80) { d[0] = (char)cp; return 1; }
    if (cp < 0x800) { d[0] = (char)(0xC0 | (cp >> 6)); d[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12)); d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18)); d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of a valid UTF-8 sequence starting at s (max n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

static char *parse_string(Parser *p, size_t *len_out) {
    /* p->s[p->pos] == '"' */
    p->pos++;
    size_t start = p->pos, cap = 0;
    /* First pass: find the end, bound the output size. */
    while (p->pos < p->n && p->s[p->pos] != '"') {
        if (p->s[p->pos] == '\\') p->pos++;
        p->pos++;
    }
    if (p->pos >= p->n) { perr(p, "unterminated string"); return NULL; }
    cap = p->pos - start;
    p->pos = start;
    char *out = (char *)malloc(cap + 1);
    if (!out) { perr(p, "out of memory"); return NULL; }
    size_t k = 0;
    while (p->s[p->pos] != '"') {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) { perr(p, "control character in string"); free(out); return NULL; }
        if (c != '\\') {
            size_t l = utf8_len((const unsigned char *)p->s + p->pos, p->n - p->pos);
            if (!l) { perr(p, "invalid UTF-8 in string"); free(out); return NULL; }
            memcpy(out + k, p->s + p->pos, l);
            k += l;
            p->pos += l;
            continue;
        }
        p->pos++;
        char e = p->s[p->pos++];
        switch (e) {
        case '"': out[k++] = '"'; break;
        case '\\': out[k++] = '\\'; break;
        case '/': out[k++] = '/'; break;
        case 'b': out[k++] = '\b'; break;
        case 'f': out[k++] = '\f'; break;
        case 'n': out[k++] = '\n'; break;
        case 'r': out[k++] = '\r'; break;
        case 't': out[k++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p, &cp)) { free(out); return NULL; }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->pos + 6 > p->n || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    perr(p, "unpaired surrogate"); free(out); return NULL;
                }
                p->pos += 2;
                if (hex4(p, &lo)) { free(out); return NULL; }
                if (lo < 0xDC00 || lo > 0xDFFF) { perr(p, "unpaired surrogate"); free(out); return NULL; }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                perr(p, "unpaired surrogate"); free(out); return NULL;
            }
            if (cp == 0) { perr(p, "\\u0000 in string"); free(out); return NULL; }
            k += put_utf8(out + k, cp); /* escapes are 6+ bytes, output <= 4: fits */
            break;
        }
        default: perr(p, "bad escape \\%c", e); free(out); return NULL;
        }
    }
    p->pos++; /* closing quote */
    out[k] = 0;
    *len_out = k;
    return out;
}

static int parse_number(Parser *p, JsonValue *v) {
    size_t start = p->pos;
    int integer = 1;
    if (p->pos < p->n && p->s[p->pos] == '-') p->pos++;
    if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9') { perr(p, "bad number"); return -1; }
    if (p->s[p->pos] == '0') p->pos++;
    else while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    if (p->pos < p->n && p->s[p->pos] == '.') {
        integer = 0;
        p->pos++;
        if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9') { perr(p, "bad fraction"); return -1; }
        while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    if (p->pos < p->n && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        integer = 0;
        p->pos++;
        if (p->pos < p->n && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9') { perr(p, "bad exponent"); return -1; }
        while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    size_t len = p->pos - start;
    char buf[400];
    if (len >= sizeof buf) { perr(p, "number too long"); return -1; }
    memcpy(buf, p->s + start, len);
    buf[len] = 0;
    v->type = JSON_NUMBER;
    v->number = strtod(buf, NULL);
    v->is_integer = integer;
    if (integer) { /* exact int64, with overflow detection */
        const char *d = buf;
        int neg = *d == '-';
        if (neg) d++;
        uint64_t acc = 0, lim = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
        for (; *d; d++) {
            unsigned dig = (unsigned)(*d - '0');
            if (acc > (lim - dig) / 10) { v->integer_overflow = 1; break; }
            acc = acc * 10 + dig;
        }
        if (!v->integer_overflow)
            v->integer = neg ? (acc == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
    }
    return 0;
}

static int expect_word(Parser *p, const char *w) {
    size_t l = strlen(w);
    if (p->pos + l > p->n || memcmp(p->s + p->pos, w, l) != 0) { perr(p, "unexpected token"); return -1; }
    p->pos += l;
    return 0;
}

/* Appends to a growing items/keys array. */
static int grow(Parser *p, JsonValue *v, size_t *cap, int with_keys) {
    if (v->len < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 2; /* small: most arrays and objects in headers hold 1-3 items */
    JsonValue *items = (JsonValue *)realloc(v->items, nc * sizeof *items);
    if (!items) { perr(p, "out of memory"); return -1; }
    v->items = items;
    if (with_keys) {
        char **keys = (char **)realloc(v->keys, nc * sizeof *keys);
        if (!keys) { perr(p, "out of memory"); return -1; }
        v->keys = keys;
    }
    *cap = nc;
    return 0;
}

static int parse_array(Parser *p, JsonValue *v, int depth) {
    size_t cap = 0;
    v->type = JSON_ARRAY;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == ']') { p->pos++; return 0; }
    for (;;) {
        if (grow(p, v, &cap, 0)) return -1;
        memset(&v->items[v->len], 0, sizeof v->items[0]);
        v->len++;
        if (parse_value(p, &v->items[v->len - 1], depth + 1)) return -1;
        skip_ws(p);
        if (p->pos >= p->n) { perr(p, "unterminated array"); return -1; }
        if (p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->s[p->pos] == ']') { p->pos++; return 0; }
        perr(p, "expected ',' or ']'");
        return -1;
    }
}

static int cmp_key(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Refuses an object with a repeated key: sort a copy of the key pointers and
 * compare neighbours, O(n log n) (a pairwise scan is quadratic, minutes for a
 * hostile header with 50k keys). */
static int check_duplicates(Parser *p, const JsonValue *v) {
    if (v->len < 2) return 0;
    char **k = (char **)malloc(v->len * sizeof *k);
    if (!k) { perr(p, "out of memory"); return -1; }
    memcpy(k, v->keys, v->len * sizeof *k);
    qsort(k, v->len, sizeof *k, cmp_key);
    for (size_t i = 1; i < v->len; i++)
        if (strcmp(k[i - 1], k[i]) == 0) {
            perr(p, "duplicate key \"%.80s\" in the object ending here", k[i]);
            free(k);
            return -1;
        }
    free(k);
    return 0;
}

static int parse_object(Parser *p, JsonValue *v, int depth) {
    size_t cap = 0;
    v->type = JSON_OBJECT;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == '}') { p->pos++; return 0; }
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != '"') { perr(p, "expected a string key"); return -1; }
        size_t klen;
        char *key = parse_string(p, &klen);
        if (!key) return -1;
        if (grow(p, v, &cap, 1)) { free(key); return -1; }
        memset(&v->items[v->len], 0, sizeof v->items[0]);
        v->keys[v->len] = key;
        v->len++;
        skip_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != ':') { perr(p, "expected ':'"); return -1; }
        p->pos++;
        if (parse_value(p, &v->items[v->len - 1], depth + 1)) return -1;
        skip_ws(p);
        if (p->pos >= p->n) { perr(p, "unterminated object"); return -1; }
        if (p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->s[p->pos] == '}') { p->pos++; return check_duplicates(p, v); }
        perr(p, "expected ',' or '}'");
        return -1;
    }
}

static int parse_value(Parser *p, JsonValue *v, int depth) {
    if (depth > JSON_MAX_DEPTH) { perr(p, "nesting deeper than %d", JSON_MAX_DEPTH); return -1; }
    skip_ws(p);
    if (p->pos >= p->n) { perr(p, "unexpected end of input"); return -1; }
    switch (p->s[p->pos]) {
    case '{': return parse_object(p, v, depth);
    case '[': return parse_array(p, v, depth);
    case '"':
        v->type = JSON_STRING;
        v->string = parse_string(p, &v->len);
        return v->string ? 0 : -1;
    case 't': v->type = JSON_BOOL; v->boolean = 1; return expect_word(p, "true");
    case 'f': v->type = JSON_BOOL; v->boolean = 0; return expect_word(p, "false");
    case 'n': v->type = JSON_NULL; return expect_word(p, "null");
    default: return parse_number(p, v);
    }
}

JsonValue *json_parse(const char *text, size_t len, char *errbuf, size_t errlen) {
    Parser p = {text, len, 0, errbuf, errlen, 0};
    JsonValue *v = (JsonValue *)calloc(1, sizeof *v);
    if (!v) {
        if (errbuf && errlen) snprintf(errbuf, errlen, "JSON: out of memory");
        return NULL;
    }
    if (parse_value(&p, v, 0) == 0) {
        skip_ws(&p);
        if (p.pos != p.n) perr(&p, "trailing characters after the JSON value");
    }
    if (p.failed) {
        json_free(v);
        return NULL;
    }
    return v;
}

void json_free(JsonValue *v) {
    if (!v) return;
    free_value(v);
    free(v);
}

const JsonValue *json_get(const JsonValue *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

/* ============================================================================
 * Writer */

void sb_add(StrBuf *b, const char *p, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + n + 1 > cap) cap *= 2;
        char *s = (char *)realloc(b->s, cap);
        if (!s) { b->oom = 1; return; }
        b->s = s; b->cap = cap;
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = '\0';
}
void sb_str(StrBuf *b, const char *s) { sb_add(b, s, strlen(s)); }
void sb_printf(StrBuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = 1; return; }
    if ((size_t)n < sizeof tmp) { sb_add(b, tmp, (size_t)n); return; }
    char *big = (char *)malloc((size_t)n + 1);
    if (!big) { b->oom = 1; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)n);
    free(big);
}
char *sb_take(StrBuf *b) {
    if (b->oom) { free(b->s); return NULL; }
    if (!b->s) { sb_add(b, "", 0); if (b->oom) return NULL; }
    return b->s;
}

void sb_json_str(StrBuf *b, const char *s) {
    sb_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': sb_str(b, "\\\""); break;
        case '\\': sb_str(b, "\\\\"); break;
        case '\b': sb_str(b, "\\b"); break;
        case '\f': sb_str(b, "\\f"); break;
        case '\n': sb_str(b, "\\n"); break;
        case '\r': sb_str(b, "\\r"); break;
        case '\t': sb_str(b, "\\t"); break;
        default:
            if (*p < 0x20) sb_printf(b, "\\u%04x", *p);
            else sb_add(b, (const char *)p, 1);
        }
    }
    sb_add(b, "\"", 1);
}
