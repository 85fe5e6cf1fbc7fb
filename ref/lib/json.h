/*
 * json.h: a small strict JSON reader (RFC 8259) for safetensors headers,
 * config.json and *.index.json, and the one writer of JSON text (StrBuf:
 * safetensors headers, dumps, provenance sidecars, trace.json). Own code rather than a library so that the
 * cross builds (aarch64, s390x, mingw) need no extra -dev package and the
 * parser can be fuzzed with the rest. Depth is limited (JSON_MAX_DEPTH) so
 * hostile nesting cannot exhaust the stack.
 */
#ifndef T2V_JSON_H
#define T2V_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 64

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct JsonValue {
    JsonType type;
    int boolean;
    double number;       /* JSON_NUMBER */
    int is_integer;      /* number written without fraction or exponent */
    int64_t integer;     /* exact value when is_integer and it fits */
    int integer_overflow;/* integer literal outside int64 */
    char *string;        /* JSON_STRING: UTF-8, NUL-terminated (no NUL inside) */
    size_t len;          /* string length, or number of items/members */
    struct JsonValue *items; /* JSON_ARRAY items, JSON_OBJECT member values */
    char **keys;         /* JSON_OBJECT member names */
} JsonValue;

/* Parses text[0..len). Returns NULL on error with a message (with byte offset)
 * in errbuf. The result is freed with json_free. */
JsonValue *json_parse(const char *text, size_t len, char *errbuf, size_t errlen);
void json_free(JsonValue *v);
/* Member lookup in an object (NULL when absent or v is not an object). */
const JsonValue *json_get(const JsonValue *obj, const char *key);

/* Writer: a growable string. An append that runs out of memory sets oom and
 * later appends do nothing; sb_take then frees and returns NULL. */
typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} StrBuf;
void sb_add(StrBuf *b, const char *p, size_t n);
void sb_str(StrBuf *b, const char *s);
void sb_printf(StrBuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* s as a JSON string literal (RFC 8259 section 7); s is valid UTF-8. */
void sb_json_str(StrBuf *b, const char *s);
/* The string (caller frees), or NULL (and freed) if an append ran out of memory. */
char *sb_take(StrBuf *b);

#endif
