/*
 * video.c: frames to files (video.h, docs/OUTPUTS.md). PNG encoding is
 * stb_image_write's; everything around it (chunks, APNG assembly, Y4M, the
 * contact sheet, provenance, atomic writes) is here.
 */
#include "video.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "t2v.h"

/* stb_image_write, compiled here once, without its stdio parts. */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wconversion"
#endif
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include "stb_image_write.h"
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#if defined(_WIN32)
#define PATH_LIST_SEP ';'
#define FFMPEG_EXE "ffmpeg.exe"
#else
#define PATH_LIST_SEP ':'
#define FFMPEG_EXE "ffmpeg"
#endif

/* ============================================================================
 * Temporary files */

void tempfiles_init(TempFiles *tf) {
    for (int i = 0; i < T2V_TEMP_MAX; i++) { tf->used[i] = 0; tf->path[i][0] = '\0'; }
    tf->hold = 0, tf->cap_held = 0, tf->held = NULL, tf->nheld = 0;
    const char *w = getenv("T2V_FAULT_WRITE"), *sig = getenv("T2V_FAULT_SIGNAL");
    tf->fault_write = w ? atol(w) : 0;
    tf->fault_signal = sig ? atol(sig) : 0;
    const char *sg = getenv("T2V_FAULT_SIGN");
    tf->fault_sign = sg ? atol(sg) : 0;
    tf->child = 0, tf->starting = 0, tf->pending = 0;
}

int tempfiles_add(TempFiles *tf, const char *path) {
    if (!tf || strlen(path) >= T2V_TEMP_PATH) return -1;
    for (int i = 0; i < T2V_TEMP_MAX; i++) {
        if (tf->used[i]) continue;
        strcpy(tf->path[i], path);
        tf->used[i] = 1; /* only after the name is complete */
        return i;
    }
    return -1;
}

void tempfiles_drop(TempFiles *tf, int slot) {
    if (tf && slot >= 0 && slot < T2V_TEMP_MAX) tf->used[slot] = 0;
}

void tempfiles_remove_all(TempFiles *tf) {
    if (!tf) return;
    platform_child_stop(tf->child); /* first: a live ffmpeg could create its file after the removal */
    tf->child = 0;
    for (int i = 0; i < T2V_TEMP_MAX; i++)
        if (tf->used[i]) { remove(tf->path[i]); tf->used[i] = 0; }
    for (int i = 0; i < tf->nheld; i++) remove(tf->held[i]);
}

int tempfiles_defer_signal(TempFiles *tf, int sig) {
    if (!tf || !tf->starting) return 0;
    tf->pending = sig;
    return 1;
}

int tempfiles_hold(TempFiles *tf, int n, T2vError *err) {
    tf->held = (char **)t2v_calloc((size_t)n, sizeof(char *), "output set", err);
    if (!tf->held) return T2V_ERESOURCE;
    tf->cap_held = n, tf->nheld = 0, tf->hold = 1;
    return T2V_OK;
}

int tempfiles_keep(TempFiles *tf, const char *tmp_path, T2vError *err) {
    if (tf->nheld >= tf->cap_held)
        return t2v_fail(err, T2V_ERESOURCE, "%s: the output set has more files than planned (%d)", tmp_path,
                        tf->cap_held);
    char *p = (char *)t2v_malloc(strlen(tmp_path) + 1, "output set", err);
    if (!p) return T2V_ERESOURCE;
    strcpy(p, tmp_path);
    tf->held[tf->nheld] = p;
    tf->nheld = tf->nheld + 1; /* only after the name is complete */
    return T2V_OK;
}

const char *tempfiles_current(const TempFiles *tf, const char *final, char *buf) {
    if (!tf || !tf->hold) return final;
    snprintf(buf, T2V_TEMP_PATH, "%s%s", final, T2V_TEMP_SUFFIX);
    for (int i = 0; i < tf->nheld; i++)
        if (!strcmp(tf->held[i], buf)) return buf;
    return final;
}

static void held_free(TempFiles *tf) {
    int n = tf->nheld;
    tf->nheld = 0; /* first, so a signal handler sees no name being freed */
    for (int i = 0; i < n; i++) free(tf->held[i]);
    free(tf->held);
    tf->held = NULL, tf->cap_held = 0, tf->hold = 0;
}

int tempfiles_commit(TempFiles *tf, T2vError *err) {
    int rc = T2V_OK;
    for (int i = 0; i < tf->nheld && !rc; i++) {
        char final[T2V_TEMP_PATH];
        size_t k = strlen(tf->held[i]) - (sizeof T2V_TEMP_SUFFIX - 1);
        memcpy(final, tf->held[i], k);
        final[k] = '\0';
        rc = platform_rename(tf->held[i], final, err);
        if (!rc) tf->held[i][0] = '\0'; /* renamed: nothing to remove */
    }
    if (rc) tempfiles_discard(tf);
    else held_free(tf);
    return rc;
}

void tempfiles_discard(TempFiles *tf) {
    for (int i = 0; i < tf->nheld; i++)
        if (tf->held[i][0]) remove(tf->held[i]);
    held_free(tf);
}

/* ============================================================================
 * Output files: NAME.t2v-tmp, renamed over NAME when complete. */

typedef struct {
    const char *final;
    char tmp[T2V_TEMP_PATH];
    FILE *f;
    int force, slot;
    TempFiles *tf;
    int sign;               /* 'p' PNG, 'm' MP4: embed a C2PA manifest when prov->signer */
    const Provenance *prov;
} OutFile;

/* Refuses an existing output without force; registers the temporary name. */
static int out_begin(OutFile *o, const char *path, int force, TempFiles *tf, T2vError *err) {
    memset(o, 0, sizeof *o);
    o->final = path; o->force = force; o->tf = tf; o->slot = -1;
    if (!path || !*path) return t2v_fail(err, T2V_EUSAGE, "empty output path");
    if (strlen(path) + sizeof T2V_TEMP_SUFFIX > sizeof o->tmp)
        return t2v_fail(err, T2V_EUSAGE, "%s: output path too long", path);
    if (platform_is_dir(path))
        return t2v_fail(err, T2V_EUSAGE, "%s: is a directory, expected an output file name", path);
    if (!force && platform_file_exists(path))
        return t2v_fail(err, T2V_EUSAGE, "%s: exists; not overwriting it (use --force)", path);
    snprintf(o->tmp, sizeof o->tmp, "%s%s", path, T2V_TEMP_SUFFIX);
    o->slot = tempfiles_add(tf, o->tmp);
    return T2V_OK;
}

static void out_abort(OutFile *o) {
    if (o->f) { fclose(o->f); o->f = NULL; }
    if (o->tmp[0]) remove(o->tmp);
    tempfiles_drop(o->tf, o->slot);
    o->slot = -1; o->tmp[0] = '\0';
}

static int out_open(OutFile *o, const char *path, int force, TempFiles *tf, T2vError *err) {
    int rc = out_begin(o, path, force, tf, err);
    if (rc) return rc;
    o->f = fopen(o->tmp, "wb");
    if (!o->f) {
        rc = t2v_fail(err, T2V_ERESOURCE, "%s: cannot create %s: %s", path, o->tmp, strerror(errno));
        tempfiles_drop(tf, o->slot); o->tmp[0] = '\0';
        return rc;
    }
    return T2V_OK;
}

static int out_write(OutFile *o, const void *p, size_t n, T2vError *err) {
    TempFiles *tf = o->tf;
    if (tf && tf->fault_signal > 0 && --tf->fault_signal == 0) raise(SIGINT);
    if (tf && tf->fault_write > 0 && --tf->fault_write == 0)
        return t2v_fail(err, T2V_ERESOURCE, "%s: write failed: No space left on device (T2V_FAULT_WRITE)", o->tmp);
    if (n && fwrite(p, 1, n, o->f) != n)
        return t2v_fail(err, T2V_ERESOURCE, "%s: write failed: %s", o->tmp, strerror(errno));
    return T2V_OK;
}

static int read_whole(const char *path, unsigned char **data, size_t *n, T2vError *err);
static int out_sign(OutFile *o, T2vError *err);

/* Closes (if open), signs (o->sign), and renames the temporary over the
 * final name. On any failure the temporary is removed and the final name
 * left alone. */
static int out_commit(OutFile *o, T2vError *err) {
    int rc = T2V_OK;
    if (o->f) {
        int bad = fflush(o->f) != 0 || ferror(o->f);
        if (fclose(o->f) != 0) bad = 1;
        o->f = NULL;
        if (bad) rc = t2v_fail(err, T2V_ERESOURCE, "%s: write failed (disk full?)", o->tmp);
    }
    if (!rc && o->sign && o->prov && o->prov->signer) rc = out_sign(o, err);
    if (!rc && !o->force && platform_file_exists(o->final))
        rc = t2v_fail(err, T2V_EUSAGE, "%s: appeared while writing; not overwriting it (use --force)",
                      o->final);
    if (!rc) rc = o->tf && o->tf->hold ? tempfiles_keep(o->tf, o->tmp, err) : platform_rename(o->tmp, o->final, err);
    if (rc) { out_abort(o); return rc; }
    tempfiles_drop(o->tf, o->slot);
    o->slot = -1; o->tmp[0] = '\0';
    return T2V_OK;
}

/* A writer fed frame by frame (video.h). */
struct VideoWriter {
    VideoSpec s;
    TempFiles *tf;
    int done;         /* frames appended */
    OutFile o;        /* APNG, Y4M, MP4: the file being written */
    OutFile meta;     /* MP4: the ffmetadata temporary */
    PlatformChild ff; /* MP4: ffmpeg, fed on its standard input */
    char *cmdline;    /* MP4: the command, for its error message */
    uint32_t seq;     /* APNG: the next sequence number */
    uint8_t *buf;     /* Y4M, MP4: one frame's planes; SHEET: the sheet */
    int sw, sh, cols; /* SHEET: its size, tiles per row (s.sheet_n: tiles) */
};

/* ============================================================================
 * UTF-8, JSON and XML text. */

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF), or 0 if invalid. */
static int utf8_seq(const unsigned char *p) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && p[1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0;
        if (c == 0xF4 && p[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

/* A copy with every invalid byte replaced by U+FFFD. */
static char *utf8_sanitize(const char *s) {
    StrBuf b = {0};
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int k = utf8_seq(p);
        if (k) { sb_add(&b, (const char *)p, (size_t)k); p += k; }
        else { sb_str(&b, "\xEF\xBF\xBD"); p++; }
    }
    return sb_take(&b);
}

/* XML 1.0 character data / attribute value: markup characters as entities,
 * tab/newline/CR as character references, characters XML forbids (other C0
 * controls, U+FFFE, U+FFFF) as U+FFFD. */
static void sb_xml_str(StrBuf *b, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&': sb_str(b, "&amp;"); break;
        case '<': sb_str(b, "&lt;"); break;
        case '>': sb_str(b, "&gt;"); break;
        case '"': sb_str(b, "&quot;"); break;
        case '\'': sb_str(b, "&apos;"); break;
        case '\t': sb_str(b, "&#9;"); break;
        case '\n': sb_str(b, "&#10;"); break;
        case '\r': sb_str(b, "&#13;"); break;
        default:
            if (*p < 0x20) sb_str(b, "\xEF\xBF\xBD");
            else if (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) {
                sb_str(b, "\xEF\xBF\xBD"); p += 2;
            } else sb_add(b, (const char *)p, 1);
        }
    }
}

/* ============================================================================
 * Provenance */

int prov_init(Provenance *p, T2vError *err) {
    memset(p, 0, sizeof *p);
    int rc = prov_set(p, "t2v_version", T2V_VERSION, err);
    if (rc) return rc;
    char when[32] = "unknown";
    time_t now = time(NULL);
    /* SOURCE_DATE_EPOCH (reproducible-builds.org): a fixed time, so that two
     * runs can give the same bytes */
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) {
        char *end;
        long long v = strtoll(sde, &end, 10);
        if (*end || v < 0 || v > 253402300799LL)
            return t2v_fail(err, T2V_EUSAGE, "SOURCE_DATE_EPOCH '%s': expected seconds since 1970 (0..253402300799)",
                            sde);
        now = (time_t)v;
    }
    struct tm *tm = gmtime(&now);
    if (tm) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", tm);
    return prov_set(p, "created", when, err);
}

void prov_free(Provenance *p) {
    for (int i = 0; i < p->n; i++) free(p->value[i]);
    p->n = 0;
    p->n_models = 0;
}

static int prov_find(const Provenance *p, const char *key) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->key[i], key)) return i;
    return -1;
}

const char *prov_get(const Provenance *p, const char *key) {
    int i = prov_find(p, key);
    return i < 0 ? NULL : p->value[i];
}

static int prov_put(Provenance *p, const char *key, const char *value, int is_number,
                    T2vError *err) {
    if (strlen(key) >= sizeof p->key[0] || !*key)
        return t2v_fail(err, T2V_EUSAGE, "provenance key '%s': expected 1..%d bytes", key,
                        (int)sizeof p->key[0] - 1);
    char *v = utf8_sanitize(value);
    if (!v) return t2v_fail(err, T2V_ERESOURCE, "out of memory for provenance value '%s'", key);
    int i = prov_find(p, key);
    if (i < 0) {
        if (p->n == PROV_MAX_FIELDS) {
            free(v);
            return t2v_fail(err, T2V_EUSAGE, "provenance: more than %d fields", PROV_MAX_FIELDS);
        }
        i = p->n++;
        strcpy(p->key[i], key);
    } else {
        free(p->value[i]);
    }
    p->value[i] = v;
    p->is_number[i] = is_number;
    return T2V_OK;
}

int prov_set(Provenance *p, const char *key, const char *value, T2vError *err) {
    return prov_put(p, key, value ? value : "", 0, err);
}

int prov_set_number(Provenance *p, T2vError *err, const char *key, const char *fmt, ...) {
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* JSON numbers only: finite values print as digits, sign, '.', 'e'. */
    int ok = buf[0] != '\0';
    for (const char *c = buf; *c; c++)
        if (!strchr("0123456789+-.eE", *c)) ok = 0;
    return prov_put(p, key, buf, ok, err);
}

static const char *base_name(const char *path) {
    const char *b = path;
    for (const char *c = path; *c; c++)
        if (*c == '/' || *c == '\\') b = c + 1;
    return b;
}

int prov_add_model_hash(Provenance *p, const char *name, const char *sha256_hex, T2vError *err) {
    if (p->n_models == PROV_MAX_MODELS)
        return t2v_fail(err, T2V_EUSAGE, "provenance: more than %d model files", PROV_MAX_MODELS);
    if (strlen(sha256_hex) != 64)
        return t2v_fail(err, T2V_EUSAGE, "%s: SHA-256 must be 64 hex digits", name);
    char *clean = utf8_sanitize(base_name(name));
    if (!clean) return t2v_fail(err, T2V_ERESOURCE, "out of memory");
    int i = p->n_models++;
    snprintf(p->model_file[i], sizeof p->model_file[i], "%s", clean);
    free(clean);
    snprintf(p->model_sha256[i], sizeof p->model_sha256[i], "%s", sha256_hex);
    return T2V_OK;
}

int prov_add_model_file(Provenance *p, const char *path, T2vError *err) {
    char hex[65];
    int rc = sha256_file_hex(path, hex, err);
    return rc ? rc : prov_add_model_hash(p, path, hex, err);
}

static void sb_indent(StrBuf *b, int indent, int depth) {
    if (indent <= 0) return;
    sb_add(b, "\n", 1);
    for (int i = 0; i < indent * depth; i++) sb_add(b, " ", 1);
}

/* The parameters object at nesting depth `depth`. */
static void sb_params(StrBuf *b, const Provenance *p, int indent, int depth) {
    const char *colon = indent > 0 ? ": " : ":";
    sb_add(b, "{", 1);
    for (int i = 0; i < p->n; i++) {
        if (i) sb_add(b, ",", 1);
        sb_indent(b, indent, depth + 1);
        sb_json_str(b, p->key[i]);
        sb_str(b, colon);
        if (p->is_number[i]) sb_str(b, p->value[i]);
        else sb_json_str(b, p->value[i]);
    }
    if (p->n) sb_add(b, ",", 1);
    sb_indent(b, indent, depth + 1);
    sb_json_str(b, "models");
    sb_str(b, colon);
    sb_add(b, "[", 1);
    for (int i = 0; i < p->n_models; i++) {
        if (i) sb_add(b, ",", 1);
        sb_indent(b, indent, depth + 2);
        sb_str(b, "{\"file\":");
        sb_json_str(b, p->model_file[i]);
        sb_str(b, indent > 0 ? ", \"sha256\": " : ",\"sha256\":");
        sb_json_str(b, p->model_sha256[i]);
        sb_add(b, "}", 1);
    }
    if (p->n_models) sb_indent(b, indent, depth + 1);
    sb_add(b, "]", 1);
    sb_indent(b, indent, depth);
    sb_add(b, "}", 1);
}

char *prov_params_json(const Provenance *p, int indent) {
    StrBuf b = {0};
    sb_params(&b, p, indent, 0);
    return sb_take(&b);
}

int prov_c2pa_params(const Provenance *p, ByteBuf *b) {
    cbor_map(b, (size_t)p->n + 1);
    for (int i = 0; i < p->n; i++) {
        cbor_text(b, p->key[i]);
        char *end = NULL;
        long long v = p->is_number[i] ? strtoll(p->value[i], &end, 10) : 0;
        if (!p->is_number[i]) cbor_text(b, p->value[i]);
        else if (end && !*end && *p->value[i]) cbor_int(b, v);
        else cbor_float64(b, strtod(p->value[i], NULL));
    }
    cbor_text(b, "models");
    cbor_array(b, (size_t)p->n_models);
    for (int i = 0; i < p->n_models; i++) {
        cbor_map(b, 2);
        cbor_text(b, "file"); cbor_text(b, p->model_file[i]);
        cbor_text(b, "sha256"); cbor_text(b, p->model_sha256[i]);
    }
    return b->oom ? -1 : 0;
}

char *prov_xmp(const Provenance *p) {
    const char *prompt = prov_get(p, "prompt");
    const char *created = prov_get(p, "created");
    StrBuf b = {0};
    sb_str(&b, "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
               "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
               " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
               "  <rdf:Description rdf:about=\"\"\n"
               "    xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\"\n"
               "    xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n"
               "    xmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n"
               "    Iptc4xmpExt:DigitalSourceType=\"" T2V_DIGITAL_SOURCE_TYPE "\"\n"
               "    xmp:CreatorTool=\"t2v " T2V_VERSION "\"");
    if (created) {
        sb_str(&b, "\n    xmp:CreateDate=\"");
        sb_xml_str(&b, created);
        sb_str(&b, "\"");
    }
    sb_str(&b, ">\n");
    if (prompt) {
        sb_str(&b, "   <dc:description>\n    <rdf:Alt>\n"
                   "     <rdf:li xml:lang=\"x-default\">");
        sb_xml_str(&b, prompt);
        sb_str(&b, "</rdf:li>\n    </rdf:Alt>\n   </dc:description>\n");
    }
    sb_str(&b, "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>");
    return sb_take(&b);
}

int provenance_sidecar(const char *path, const Provenance *p, const char *const *outputs,
                       int n_outputs, int force, TempFiles *tf, T2vError *err) {
    StrBuf b = {0};
    const char *created = prov_get(p, "created");
    sb_str(&b, "{\n  \"t2v_sidecar_version\": 1,\n  \"unsigned\": true,\n"
               "  \"note\": \"Shaped like a C2PA actions assertion; not signed, not a C2PA "
               "manifest, no conformance claimed.\",\n"
               "  \"claim_generator\": \"t2v/" T2V_VERSION "\",\n"
               "  \"assertions\": [\n    {\n      \"label\": \"c2pa.actions\",\n"
               "      \"data\": {\n        \"actions\": [\n          {\n"
               "            \"action\": \"c2pa.created\",\n            \"when\": ");
    sb_json_str(&b, created ? created : "unknown");
    sb_str(&b, ",\n            \"digitalSourceType\": \"" T2V_DIGITAL_SOURCE_TYPE "\",\n"
               "            \"softwareAgent\": {\"name\": \"t2v\", \"version\": \"" T2V_VERSION
               "\"},\n            \"parameters\": ");
    sb_params(&b, p, 2, 6);
    sb_str(&b, "\n          }\n        ]\n      }\n    }\n  ],\n  \"outputs\": [");
    for (int i = 0; i < n_outputs; i++) {
        char hex[65], now[T2V_TEMP_PATH];
        int rc = sha256_file_hex(tempfiles_current(tf, outputs[i], now), hex, err);
        if (rc) { free(b.s); return rc; }
        char *name = utf8_sanitize(base_name(outputs[i]));
        sb_str(&b, i ? ",\n    {\"file\": " : "\n    {\"file\": ");
        sb_json_str(&b, name ? name : "");
        free(name);
        sb_str(&b, ", \"sha256\": ");
        sb_json_str(&b, hex);
        sb_str(&b, "}");
    }
    sb_str(&b, n_outputs ? "\n  ]\n}\n" : "]\n}\n");
    char *text = sb_take(&b);
    if (!text) return t2v_fail(err, T2V_ERESOURCE, "%s: out of memory building the sidecar", path);
    int rc = video_write_text(path, text, force, tf, err);
    free(text);
    return rc;
}

int video_write_text(const char *path, const char *text, int force, TempFiles *tf, T2vError *err) {
    OutFile o;
    int rc = out_open(&o, path, force, tf, err);
    if (!rc) rc = out_write(&o, text, strlen(text), err);
    if (!rc) rc = out_commit(&o, err);
    else out_abort(&o);
    return rc;
}

/* ============================================================================
 * PNG chunks */

static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t n) {
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return crc;
}

uint32_t png_crc32(const unsigned char *p, size_t n) {
    return crc_update(0xFFFFFFFFu, p, n) ^ 0xFFFFFFFFu;
}

static void wr_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}
static uint32_t rd_be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* One chunk: length, type, data, CRC over type and data. `pre` (npre bytes,
 * e.g. an fdAT sequence number) is written before data inside the chunk. */
static int png_chunk2(OutFile *o, const char type[4], const unsigned char *pre, size_t npre,
                      const unsigned char *data, size_t n, T2vError *err) {
    unsigned char hdr[8];
    if (npre + n > 0x7FFFFFFFu)
        return t2v_fail(err, T2V_ERESOURCE, "%s: %.4s chunk too large", o->final, type);
    wr_be32(hdr, (uint32_t)(npre + n));
    memcpy(hdr + 4, type, 4);
    uint32_t crc = crc_update(0xFFFFFFFFu, hdr + 4, 4);
    crc = crc_update(crc, pre, npre);
    crc = crc_update(crc, data, n) ^ 0xFFFFFFFFu;
    unsigned char tail[4];
    wr_be32(tail, crc);
    int rc = out_write(o, hdr, 8, err);
    if (!rc) rc = out_write(o, pre, npre, err);
    if (!rc) rc = out_write(o, data, n, err);
    if (!rc) rc = out_write(o, tail, 4, err);
    return rc;
}
static int png_chunk(OutFile *o, const char type[4], const unsigned char *data, size_t n,
                     T2vError *err) {
    return png_chunk2(o, type, NULL, 0, data, n, err);
}

/* iTXt, uncompressed, no language tag: keyword NUL 0 0 NUL NUL text. */
static int png_itxt(OutFile *o, const char *keyword, const char *text, T2vError *err) {
    size_t nk = strlen(keyword), nt = strlen(text);
    unsigned char *buf = (unsigned char *)t2v_malloc(nk + 5 + nt, "iTXt chunk", err);
    if (!buf) return T2V_ERESOURCE;
    memcpy(buf, keyword, nk);
    memset(buf + nk, 0, 5); /* NUL, compression flag, method, empty language, empty translation */
    memcpy(buf + nk + 5, text, nt);
    int rc = png_chunk(o, "iTXt", buf, nk + 5 + nt, err);
    free(buf);
    return rc;
}

/* The provenance chunks, placed after IHDR (and acTL) before any image data. */
static int png_provenance(OutFile *o, const Provenance *prov, T2vError *err) {
    static const char sw[] = "Software\0t2v " T2V_VERSION;
    int rc = png_chunk(o, "tEXt", (const unsigned char *)sw, sizeof sw - 1, err);
    if (rc || !prov) return rc;
    char *json = prov_params_json(prov, 2);
    char *xmp = prov_xmp(prov);
    if (!json || !xmp) rc = t2v_fail(err, T2V_ERESOURCE, "out of memory for provenance text");
    if (!rc) rc = png_itxt(o, T2V_PNG_KEYWORD, json, err);
    if (!rc) rc = png_itxt(o, "XML:com.adobe.xmp", xmp, err);
    free(json);
    free(xmp);
    return rc;
}

/* A frame encoded by stb: its 13 IHDR bytes and its (single) IDAT payload,
 * pointing into png, which the caller frees. */
typedef struct {
    unsigned char *png;
    const unsigned char *ihdr, *idat;
    size_t idat_len;
} StbPng;

static int check_dims(int F, int H, int W, const char *what, T2vError *err) {
    if (F < 1 || H < 1 || W < 1 || H > 16384 || W > 16384)
        return t2v_fail(err, T2V_EUSAGE, "%s: expected 1..16384 for height and width and at "
                        "least 1 frame, found F=%d H=%d W=%d", what, F, H, W);
    return T2V_OK;
}

static int stb_png_encode(StbPng *s, const uint8_t *rgb, int H, int W, const char *what,
                          T2vError *err) {
    int len = 0;
    memset(s, 0, sizeof *s);
    s->png = stbi_write_png_to_mem(rgb, W * 3, W, H, 3, &len);
    if (!s->png) return t2v_fail(err, T2V_ERESOURCE, "%s: PNG encoding ran out of memory", what);
    /* stb writes: signature, IHDR, one IDAT, IEND. */
    const unsigned char *p = s->png;
    size_t n = (size_t)len, off = 8;
    while (off + 12 <= n) {
        size_t cl = rd_be32(p + off);
        if (cl > n - off - 12) break;
        if (!memcmp(p + off + 4, "IHDR", 4) && cl == 13) s->ihdr = p + off + 8;
        if (!memcmp(p + off + 4, "IDAT", 4)) {
            if (s->idat) break; /* a second IDAT: not what stb writes */
            s->idat = p + off + 8; s->idat_len = cl;
        }
        off += cl + 12;
    }
    if (!s->ihdr || !s->idat || off != n) {
        STBIW_FREE(s->png); s->png = NULL;
        return t2v_fail(err, T2V_ERESOURCE, "%s: unexpected PNG layout from stb_image_write", what);
    }
    return T2V_OK;
}

/* Frames encoded at a time: PNG encoding is the slow part of writing, and
 * frames are independent, so a batch is encoded in parallel. Each frame's
 * bytes do not depend on the thread count. */
#define ENCODE_BATCH 16

static void free_batch(StbPng *s, int n) {
    for (int k = 0; k < n; k++)
        if (s[k].png) { STBIW_FREE(s[k].png); s[k].png = NULL; }
}

/* Encodes frames [i0, i0+n) of rgb [F][H][W][3] into s[0..n). */
static int encode_batch(StbPng *s, const uint8_t *rgb, int i0, int n, int H, int W,
                        const char *what, T2vError *err) {
    int bad = 0;
    #pragma omp parallel for schedule(dynamic, 1) reduction(|:bad)
    for (int k = 0; k < n; k++)
        bad |= stb_png_encode(&s[k], rgb + (size_t)(i0 + k) * H * W * 3, H, W, what, NULL) != 0;
    if (bad) {
        free_batch(s, n);
        return t2v_fail(err, T2V_ERESOURCE, "%s: PNG encoding failed (out of memory?)", what);
    }
    return T2V_OK;
}

static const unsigned char PNG_SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

/* A still PNG with provenance from an encoded frame, written atomically. */
static int write_png_encoded(const char *path, const StbPng *s, const Provenance *prov,
                             int force, TempFiles *tf, T2vError *err) {
    OutFile o;
    int rc = out_open(&o, path, force, tf, err);
    if (rc) return rc;
    rc = out_write(&o, PNG_SIG, 8, err);
    if (!rc) rc = png_chunk(&o, "IHDR", s->ihdr, 13, err);
    if (!rc) rc = png_provenance(&o, prov, err);
    if (!rc) rc = png_chunk(&o, "IDAT", s->idat, s->idat_len, err);
    if (!rc) rc = png_chunk(&o, "IEND", NULL, 0, err);
    if (rc) { out_abort(&o); return rc; }
    o.sign = 'p', o.prov = prov;
    return out_commit(&o, err);
}

static int write_png(const char *path, const uint8_t *rgb, int H, int W, const Provenance *prov,
                     int force, TempFiles *tf, T2vError *err) {
    StbPng s;
    int rc = stb_png_encode(&s, rgb, H, W, path, err);
    if (rc) return rc;
    rc = write_png_encoded(path, &s, prov, force, tf, err);
    STBIW_FREE(s.png);
    return rc;
}

/* ============================================================================
 * PNG frames */

/* Expands pattern for frame `index`; *seen is set to 1 if it has a conversion. */
static int frame_name(const char *pattern, int index, char *out, size_t outlen, int *seen_out,
                      T2vError *err) {
    size_t o = 0;
    int seen = 0;
    for (const char *c = pattern; *c; c++) {
        char piece[32];
        size_t np;
        if (*c != '%') { piece[0] = *c; np = 1; }
        else if (c[1] == '%') { piece[0] = '%'; np = 1; c++; }
        else {
            const char *q = c + 1;
            int zero = 0, width = 0;
            if (*q == '0') { zero = 1; q++; }
            while (*q >= '0' && *q <= '9' && width < 100) width = width * 10 + (*q++ - '0');
            if (*q != 'd' || seen || width > 20)
                return t2v_fail(err, T2V_EUSAGE, "output pattern '%s': expected at most one "
                                "%%d, %%0Nd or %%Nd conversion ('%%%%' for a literal '%%')",
                                pattern);
            seen = 1;
            np = (size_t)snprintf(piece, sizeof piece, zero ? "%0*d" : "%*d", width, index);
            c = q;
        }
        if (o + np >= outlen)
            return t2v_fail(err, T2V_EUSAGE, "output pattern '%s': name too long", pattern);
        memcpy(out + o, piece, np);
        o += np;
    }
    out[o] = '\0';
    if (seen_out) *seen_out = seen;
    return T2V_OK;
}

int video_frame_name(const char *pattern, int index, char *out, size_t outlen, T2vError *err) {
    return frame_name(pattern, index, out, outlen, NULL, err);
}

/* Checks every name before anything is written. */
static int open_png_frames(VideoWriter *w, T2vError *err) {
    const char *pattern = w->s.path;
    char name[T2V_TEMP_PATH];
    for (int i = 0; i < w->s.F; i++) {
        int seen = 0;
        int rc = frame_name(pattern, i, name, sizeof name, &seen, err);
        if (rc) return rc;
        if (!seen && w->s.F > 1)
            return t2v_fail(err, T2V_EUSAGE, "output pattern '%s': %d frames need a %%d "
                            "conversion such as out_%%04d.png", pattern, w->s.F);
        if (!w->s.force && platform_file_exists(name))
            return t2v_fail(err, T2V_EUSAGE, "%s: exists; not overwriting it (use --force)", name);
    }
    return T2V_OK;
}

/* Frames done .. done+n-1, each a file, encoded a batch at a time. */
static int append_png_frames(VideoWriter *w, const uint8_t *rgb, int n, T2vError *err) {
    const VideoSpec *v = &w->s;
    char name[T2V_TEMP_PATH];
    StbPng s[ENCODE_BATCH];
    int rc = T2V_OK;
    for (int i0 = 0; i0 < n && !rc; i0 += ENCODE_BATCH) {
        int nb = n - i0 < ENCODE_BATCH ? n - i0 : ENCODE_BATCH;
        rc = encode_batch(s, rgb, i0, nb, v->H, v->W, v->path, err);
        if (rc) break;
        for (int k = 0; k < nb && !rc; k++) {
            video_frame_name(v->path, w->done + i0 + k, name, sizeof name, NULL);
            rc = write_png_encoded(name, &s[k], v->prov, v->force, w->tf, err);
        }
        free_batch(s, nb);
    }
    return rc;
}

/* ============================================================================
 * APNG (https://wiki.mozilla.org/APNG_Specification, PNG 3rd edition) */

/* Frame i of an APNG: (for i == 0 the header chunks first) fcTL, then the
 * image data as IDAT (frame 0) or fdAT (the others). */
static int apng_frame(OutFile *o, const StbPng *s, int i, int F, int H, int W, int fps,
                      const Provenance *prov, uint32_t *seq, T2vError *err) {
    int rc = T2V_OK;
    if (i == 0) {
        unsigned char actl[8];
        wr_be32(actl, (uint32_t)F);
        wr_be32(actl + 4, 0); /* num_plays 0: loop forever */
        rc = out_write(o, PNG_SIG, 8, err);
        if (!rc) rc = png_chunk(o, "IHDR", s->ihdr, 13, err);
        if (!rc) rc = png_chunk(o, "acTL", actl, 8, err);
        if (!rc) rc = png_provenance(o, prov, err);
    }
    unsigned char fctl[26];
    wr_be32(fctl, (*seq)++);
    wr_be32(fctl + 4, (uint32_t)W);
    wr_be32(fctl + 8, (uint32_t)H);
    wr_be32(fctl + 12, 0);                                               /* x offset */
    wr_be32(fctl + 16, 0);                                               /* y offset */
    fctl[20] = 0; fctl[21] = 1;                                          /* delay_num 1 */
    fctl[22] = (unsigned char)(fps >> 8); fctl[23] = (unsigned char)fps; /* delay_den fps */
    fctl[24] = 0;                                                        /* dispose_op NONE */
    fctl[25] = 0;                                                        /* blend_op SOURCE */
    if (!rc) rc = png_chunk(o, "fcTL", fctl, 26, err);
    if (!rc && i == 0) rc = png_chunk(o, "IDAT", s->idat, s->idat_len, err);
    if (!rc && i > 0) {
        unsigned char sq[4];
        wr_be32(sq, (*seq)++);
        rc = png_chunk2(o, "fdAT", sq, 4, s->idat, s->idat_len, err);
    }
    return rc;
}

static int open_apng(VideoWriter *w, T2vError *err) {
    if (w->s.fps < 1 || w->s.fps > 65535)
        return t2v_fail(err, T2V_EUSAGE, "%s: fps must be 1..65535, found %d", w->s.path, w->s.fps);
    return out_open(&w->o, w->s.path, w->s.force, w->tf, err);
}

static int append_apng(VideoWriter *w, const uint8_t *rgb, int n, T2vError *err) {
    const VideoSpec *v = &w->s;
    StbPng batch[ENCODE_BATCH];
    int rc = T2V_OK;
    for (int i0 = 0; i0 < n && !rc; i0 += ENCODE_BATCH) {
        int nb = n - i0 < ENCODE_BATCH ? n - i0 : ENCODE_BATCH;
        rc = encode_batch(batch, rgb, i0, nb, v->H, v->W, v->path, err);
        if (rc) break;
        for (int k = 0; k < nb && !rc; k++)
            rc = apng_frame(&w->o, &batch[k], w->done + i0 + k, v->F, v->H, v->W, v->fps, v->prov, &w->seq, err);
        free_batch(batch, nb);
    }
    return rc;
}

static int close_apng(VideoWriter *w, T2vError *err) {
    int rc = png_chunk(&w->o, "IEND", NULL, 0, err);
    if (rc) return rc;
    w->o.sign = 'p', w->o.prov = w->s.prov;
    return out_commit(&w->o, err);
}

/* ============================================================================
 * Y4M: 4:4:4, BT.601, limited range (video.h) */

static uint8_t round_u8(double v) {
    v = floor(v + 0.5);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

void video_rgb_to_ycbcr(const uint8_t rgb[3], uint8_t ycc[3]) {
    double r = rgb[0] / 255.0, g = rgb[1] / 255.0, b = rgb[2] / 255.0;
    ycc[0] = round_u8(16.0 + 219.0 * (0.299 * r + 0.587 * g + 0.114 * b));
    ycc[1] = round_u8(128.0 + 224.0 * (-0.168736 * r - 0.331264 * g + 0.5 * b));
    ycc[2] = round_u8(128.0 + 224.0 * (0.5 * r - 0.418688 * g - 0.081312 * b));
}

/* "FRAME\n" and the three planes of frame rgb [H][W][3]; buf holds 3*H*W. */
static void y4m_frame(const uint8_t *rgb, int H, int W, uint8_t *buf) {
    size_t n = (size_t)H * W;
    for (size_t i = 0; i < n; i++) {
        uint8_t ycc[3];
        video_rgb_to_ycbcr(rgb + 3 * i, ycc);
        buf[i] = ycc[0];
        buf[n + i] = ycc[1];
        buf[2 * n + i] = ycc[2];
    }
}

static int y4m_header(FILE *f, const char *what, int H, int W, int fps, T2vError *err) {
    if (fprintf(f, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C444 XCOLORRANGE=LIMITED\n", W, H, fps) < 0)
        return t2v_fail(err, T2V_ERESOURCE, "%s: write failed: %s", what, strerror(errno));
    return T2V_OK;
}

/* n frames of rgb; buf holds one frame's 3 H W bytes. */
static int y4m_frames(FILE *f, const char *what, const uint8_t *rgb, int n, int H, int W, uint8_t *buf,
                      T2vError *err) {
    size_t fb = (size_t)H * W * 3;
    for (int i = 0; i < n; i++) {
        y4m_frame(rgb + (size_t)i * fb, H, W, buf);
        if (fwrite("FRAME\n", 1, 6, f) != 6 || fwrite(buf, 1, fb, f) != fb)
            return t2v_fail(err, T2V_ERESOURCE, "%s: write failed: %s", what, strerror(errno));
    }
    return T2V_OK;
}

static int open_y4m(VideoWriter *w, T2vError *err) {
    const VideoSpec *v = &w->s;
    if (v->fps < 1) return t2v_fail(err, T2V_EUSAGE, "%s: fps must be >= 1, found %d", v->path, v->fps);
    int rc = out_open(&w->o, v->path, v->force, w->tf, err);
    if (rc) return rc;
    w->buf = (uint8_t *)t2v_malloc((size_t)v->H * v->W * 3, "Y4M frame buffer", err);
    return w->buf ? y4m_header(w->o.f, w->o.tmp, v->H, v->W, v->fps, err) : T2V_ERESOURCE;
}

/* ============================================================================
 * MP4 through ffmpeg */

int video_find_ffmpeg(char *out, size_t outlen) {
    const char *path = getenv("PATH");
    if (!path) return 0;
    char cand[T2V_TEMP_PATH];
    while (*path) {
        const char *end = strchr(path, PATH_LIST_SEP);
        size_t n = end ? (size_t)(end - path) : strlen(path);
        if (n > 0 && n + sizeof FFMPEG_EXE + 2 < sizeof cand) {
            snprintf(cand, sizeof cand, "%.*s/%s", (int)n, path, FFMPEG_EXE);
            if (platform_file_exists(cand) && !platform_is_dir(cand)) {
                if (out) snprintf(out, outlen, "%s", cand);
                return 1;
            }
        }
        if (!end) break;
        path = end + 1;
    }
    return 0;
}

/* A POSIX shell word: single quotes, each ' as '\''. */
static void sb_shell_quote(StrBuf *b, const char *s) {
#if defined(_WIN32)
    sb_add(b, "\"", 1); sb_str(b, s); sb_add(b, "\"", 1);
#else
    sb_add(b, "'", 1);
    for (; *s; s++) {
        if (*s == '\'') sb_str(b, "'\\''");
        else sb_add(b, s, 1);
    }
    sb_add(b, "'", 1);
#endif
}

/* ffmetadata text value: '=', ';', '#', '\' and newline escaped by '\'. */
static void sb_ffmeta_str(StrBuf *b, const char *s) {
    for (; *s; s++) {
        if (strchr("=;#\\\n", *s)) sb_add(b, "\\", 1);
        sb_add(b, s, 1);
    }
}

static int write_ffmetadata(OutFile *meta, const Provenance *prov, T2vError *err) {
    StrBuf b = {0};
    char *json = prov ? prov_params_json(prov, 0) : NULL;
    sb_str(&b, ";FFMETADATA1\ndescription=");
    sb_ffmeta_str(&b, "AI-generated by t2v " T2V_VERSION " (IPTC digitalSourceType "
                      T2V_DIGITAL_SOURCE_TYPE ")");
    if (json) { sb_str(&b, "\ncomment="); sb_ffmeta_str(&b, json); }
    sb_str(&b, "\nencoder=t2v " T2V_VERSION "\n");
    free(json);
    char *text = sb_take(&b);
    if (!text) return t2v_fail(err, T2V_ERESOURCE, "out of memory for MP4 metadata");
    int rc = out_write(meta, text, strlen(text), err);
    free(text);
    if (!rc && fflush(meta->f) != 0)
        rc = t2v_fail(err, T2V_ERESOURCE, "%s: write failed", meta->tmp);
    return rc;
}

/* A complete MP4 (ISO/IEC 14496-12 4.2): top-level boxes that tile the file
 * exactly, among them ftyp, moov and mdat. Debian's ffmpeg 5.1 exits 0 when
 * writing the trailer (moov) fails on a full disk. */
static int check_mp4(const char *tmp, const char *path, T2vError *err) {
    FILE *f = fopen(tmp, "rb");
    if (!f) return t2v_fail(err, T2V_ERESOURCE, "%s: ffmpeg wrote no file", path);
    int have = 0; /* 1 ftyp, 2 moov, 4 mdat */
    unsigned char h[16];
    uint64_t at = 0;
    while (fread(h, 1, 8, f) == 8) {
        uint64_t size = rd_be32(h), head = 8;
        if (size == 1 && fread(h + 8, 1, 8, f) == 8) size = ((uint64_t)rd_be32(h + 8) << 32) | rd_be32(h + 12), head = 16;
        if (size < head) break;
        have |= !memcmp(h + 4, "ftyp", 4) ? 1 : !memcmp(h + 4, "moov", 4) ? 2 : !memcmp(h + 4, "mdat", 4) ? 4 : 0;
        at += size;
        if (fseek(f, (long)(size - head), SEEK_CUR) != 0) break;
    }
    fseek(f, 0, SEEK_END);
    long end = ftell(f);
    fclose(f);
    if (have != 7 || end < 0 || at != (uint64_t)end)
        return t2v_fail(err, T2V_ERESOURCE, "%s: ffmpeg exited 0 but the MP4 is incomplete (%s%s%s; boxes cover %llu "
                        "of %ld bytes): disk full?", path, have & 1 ? "" : "no ftyp ", have & 2 ? "" : "no moov ",
                        have & 4 ? "" : "no mdat", (unsigned long long)at, end);
    return T2V_OK;
}

/* The command for messages (and Windows' _popen): the words, each quoted
 * for the shell unless it is only letters, digits and -_+=:,./ */
static char *command_line(char *const argv[]) {
    static const char plain[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+=:,./";
    StrBuf b = {0};
    for (int i = 0; argv[i]; i++) {
        if (i) sb_add(&b, " ", 1);
        if (!argv[i][0] || argv[i][strspn(argv[i], plain)]) sb_shell_quote(&b, argv[i]);
        else sb_str(&b, argv[i]);
    }
    return sb_take(&b);
}

/* ffmpeg started and registered in the TempFiles (video.h): a signal that
 * comes while it starts is held until its pid is known, so that the handler
 * can stop it before it removes the temporaries. */
static int start_ffmpeg(VideoWriter *w, char *const argv[], T2vError *err) {
    TempFiles *tf = w->tf;
    if (!(w->cmdline = command_line(argv))) return t2v_fail(err, T2V_ERESOURCE, "out of memory for the ffmpeg command");
    if (tf && tf->child)
        return t2v_fail(err, T2V_EUSAGE, "%s: another MP4 is being written; one ffmpeg at a time", w->s.path);
    if (tf) tf->starting = 1;
    int rc = platform_child_start(&w->ff, argv, w->cmdline, err);
    if (tf) {
        tf->child = (sig_atomic_t)w->ff.pid;
        tf->starting = 0;
        if (tf->pending) raise(tf->pending); /* the handler can stop ffmpeg now */
    }
    return rc;
}

/* Closes ffmpeg's input and waits until it has exited (stop: ends it first),
 * its registration cleared on the way (platform_child_finish). */
static int finish_ffmpeg(VideoWriter *w, int stop) {
    return platform_child_finish(&w->ff, stop, w->tf ? &w->tf->child : NULL);
}

/* Checks, the metadata file, and ffmpeg started with the Y4M header on its
 * standard input. */
static int open_mp4(VideoWriter *w, T2vError *err) {
    const VideoSpec *v = &w->s;
    char ffmpeg[T2V_TEMP_PATH], meta_path[T2V_TEMP_PATH];
    if ((v->H | v->W) & 1)
        return t2v_fail(err, T2V_EUSAGE, "%s: H.264 4:2:0 needs even width and height, found "
                        "%dx%d", v->path, v->W, v->H);
    if (v->fps < 1) return t2v_fail(err, T2V_EUSAGE, "%s: fps must be >= 1, found %d", v->path, v->fps);
    if (!video_find_ffmpeg(ffmpeg, sizeof ffmpeg))
        return t2v_fail(err, T2V_ERESOURCE, "%s: not written: MP4 needs `ffmpeg` on PATH and "
                        "none was found; write --format y4m and convert it with "
                        "`ffmpeg -i OUT.y4m -c:v libx264 -pix_fmt yuv420p OUT.mp4`", v->path);
    snprintf(meta_path, sizeof meta_path, "%s.ffmeta", v->path);
    int rc = out_begin(&w->o, v->path, v->force, w->tf, err);
    if (!rc) rc = out_open(&w->meta, meta_path, 1, w->tf, err);
    if (!rc) rc = write_ffmetadata(&w->meta, v->prov, err);
    if (rc) return rc;
    const char *argv[] = {ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "yuv4mpegpipe", "-i", "-",
                          "-f", "ffmetadata", "-i", w->meta.tmp, "-map", "0:v", "-map_metadata", "1",
                          "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p", "-colorspace", "smpte170m",
                          "-color_primaries", "smpte170m", "-color_trc", "smpte170m", "-color_range", "tv",
                          "-movflags", "+faststart", "-f", "mp4", w->o.tmp, NULL};
    if (!(w->buf = (uint8_t *)t2v_malloc((size_t)v->H * v->W * 3, "Y4M frame buffer", err))) return T2V_ERESOURCE;
    rc = start_ffmpeg(w, (char *const *)argv, err);
    return rc ? rc : y4m_header(w->ff.in, "pipe to ffmpeg", v->H, v->W, v->fps, err);
}

/* ffmpeg's exit status and its file, then signed and committed. */
static int close_mp4(VideoWriter *w, T2vError *err) {
    int status = finish_ffmpeg(w, 0), rc = T2V_OK;
    if (status != 0)
        rc = t2v_fail(err, T2V_ERESOURCE, "%s: ffmpeg failed (exit code %d); its messages are "
                      "above; command: %s", w->s.path, status, w->cmdline);
    out_abort(&w->meta); /* the metadata file is only ever a temporary */
    if (!rc) rc = check_mp4(w->o.tmp, w->s.path, err); /* ffmpeg may exit 0 with a broken file */
    if (rc) return rc;
    w->o.sign = 'm', w->o.prov = w->s.prov;
    return out_commit(&w->o, err);
}

/* ============================================================================
 * Contact sheet */

int video_sheet_frame(int k, int n, int F) {
    return n <= 1 ? 0 : (int)(((int64_t)k * (F - 1)) / (n - 1));
}

enum { SHEET_GAP = 4, SHEET_GREY = 32 };

/* The sheet's size (n clamped to [1, F], cols to [1, n]; 0: min(n, 4)) and
 * its grey canvas. */
static int open_sheet(VideoWriter *w, T2vError *err) {
    VideoSpec *v = &w->s;
    int n = v->sheet_n < 1 ? 1 : v->sheet_n > v->F ? v->F : v->sheet_n, cols = v->sheet_cols;
    if (cols <= 0) cols = n < 4 ? n : 4;
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    int64_t SW = (int64_t)cols * (v->W + SHEET_GAP) + SHEET_GAP, SH = (int64_t)rows * (v->H + SHEET_GAP) + SHEET_GAP;
    if (SW > 65535 || SH > 65535 || SW * SH * 3 > 0x7FFFFFFF)
        return t2v_fail(err, T2V_EUSAGE, "%s: contact sheet of %d frames (%d per row) would be "
                        "%lldx%lld pixels; use fewer frames", v->path, n, cols, (long long)SW, (long long)SH);
    v->sheet_n = n, w->cols = cols, w->sw = (int)SW, w->sh = (int)SH;
    w->buf = (uint8_t *)t2v_malloc((size_t)(SW * SH * 3), "contact sheet", err);
    if (!w->buf) return T2V_ERESOURCE;
    memset(w->buf, SHEET_GREY, (size_t)(SW * SH * 3));
    return T2V_OK;
}

/* The tiles whose frames are among done .. done+n-1. */
static void append_sheet(VideoWriter *w, const uint8_t *rgb, int n) {
    const VideoSpec *v = &w->s;
    for (int k = 0; k < v->sheet_n; k++) {
        int f = video_sheet_frame(k, v->sheet_n, v->F) - w->done;
        if (f < 0 || f >= n) continue;
        const uint8_t *src = rgb + (size_t)f * v->H * v->W * 3;
        int64_t x0 = SHEET_GAP + (int64_t)(k % w->cols) * (v->W + SHEET_GAP);
        int64_t y0 = SHEET_GAP + (int64_t)(k / w->cols) * (v->H + SHEET_GAP);
        for (int y = 0; y < v->H; y++)
            memcpy(w->buf + ((y0 + y) * w->sw + x0) * 3, src + (size_t)y * v->W * 3, (size_t)v->W * 3);
    }
}

/* ============================================================================
 * Writers fed frame by frame: one per format above (video.h) */

int video_writer_open(VideoWriter **out, const VideoSpec *spec, TempFiles *tf, T2vError *err) {
    *out = NULL;
    int rc = check_dims(spec->F, spec->H, spec->W, spec->path, err);
    if (rc) return rc;
    VideoWriter *w = (VideoWriter *)t2v_calloc(1, sizeof *w, "video writer", err);
    if (!w) return T2V_ERESOURCE;
    w->s = *spec, w->tf = tf, w->o.slot = w->meta.slot = -1;
    switch (spec->kind) {
    case VIDEO_PNG_FRAMES: rc = open_png_frames(w, err); break;
    case VIDEO_APNG: rc = open_apng(w, err); break;
    case VIDEO_Y4M: rc = open_y4m(w, err); break;
    case VIDEO_MP4: rc = open_mp4(w, err); break;
    case VIDEO_SHEET: rc = open_sheet(w, err); break;
    }
    if (rc) video_writer_abort(w);
    else *out = w;
    return rc;
}

int video_writer_append(VideoWriter *w, const uint8_t *rgb, int n, T2vError *err) {
    int rc = T2V_OK;
    if (n < 0 || n > w->s.F - w->done)
        return t2v_fail(err, T2V_EUSAGE, "%s: %d more frames after %d of a %d-frame clip", w->s.path, n, w->done,
                        w->s.F);
    switch (w->s.kind) {
    case VIDEO_PNG_FRAMES: rc = append_png_frames(w, rgb, n, err); break;
    case VIDEO_APNG: rc = append_apng(w, rgb, n, err); break;
    case VIDEO_Y4M: rc = y4m_frames(w->o.f, w->o.tmp, rgb, n, w->s.H, w->s.W, w->buf, err); break;
    case VIDEO_MP4: rc = y4m_frames(w->ff.in, "pipe to ffmpeg", rgb, n, w->s.H, w->s.W, w->buf, err); break;
    case VIDEO_SHEET: append_sheet(w, rgb, n); break;
    }
    if (!rc) w->done += n;
    return rc;
}

int video_writer_close(VideoWriter *w, T2vError *err) {
    const VideoSpec *v = &w->s;
    int rc = w->done == v->F ? T2V_OK
                             : t2v_fail(err, T2V_EUSAGE, "%s: closed after %d of %d frames", v->path, w->done, v->F);
    if (!rc) switch (v->kind) {
        case VIDEO_PNG_FRAMES: break; /* each frame is committed when written */
        case VIDEO_APNG: rc = close_apng(w, err); break;
        case VIDEO_Y4M: rc = out_commit(&w->o, err); break;
        case VIDEO_MP4: rc = close_mp4(w, err); break;
        case VIDEO_SHEET: rc = write_png(v->path, w->buf, w->sh, w->sw, v->prov, v->force, w->tf, err); break;
        }
    video_writer_abort(w); /* what is left: nothing after a commit */
    return rc;
}

void video_writer_abort(VideoWriter *w) {
    if (!w) return;
    finish_ffmpeg(w, 1); /* ffmpeg stopped and gone before its file is removed */
    out_abort(&w->meta);
    out_abort(&w->o);
    free(w->cmdline);
    free(w->buf);
    free(w);
}

/* A whole clip through a writer. */
static int write_whole(const VideoSpec *spec, const uint8_t *rgb, TempFiles *tf, T2vError *err) {
    VideoWriter *w;
    int rc = video_writer_open(&w, spec, tf, err);
    if (!rc && (rc = video_writer_append(w, rgb, spec->F, err))) video_writer_abort(w);
    return rc ? rc : video_writer_close(w, err);
}

int video_write_png_frames(const char *pattern, const uint8_t *rgb, int F, int H, int W,
                           const Provenance *prov, int force, TempFiles *tf, T2vError *err) {
    VideoSpec s = {VIDEO_PNG_FRAMES, pattern, F, H, W, 0, 0, 0, prov, force};
    return write_whole(&s, rgb, tf, err);
}

int video_write_apng(const char *path, const uint8_t *rgb, int F, int H, int W, int fps,
                     const Provenance *prov, int force, TempFiles *tf, T2vError *err) {
    VideoSpec s = {VIDEO_APNG, path, F, H, W, fps, 0, 0, prov, force};
    return write_whole(&s, rgb, tf, err);
}

int video_write_y4m(const char *path, const uint8_t *rgb, int F, int H, int W, int fps,
                    int force, TempFiles *tf, T2vError *err) {
    VideoSpec s = {VIDEO_Y4M, path, F, H, W, fps, 0, 0, NULL, force};
    return write_whole(&s, rgb, tf, err);
}

int video_write_mp4(const char *path, const uint8_t *rgb, int F, int H, int W, int fps,
                    const Provenance *prov, int force, TempFiles *tf, T2vError *err) {
    VideoSpec s = {VIDEO_MP4, path, F, H, W, fps, 0, 0, prov, force};
    return write_whole(&s, rgb, tf, err);
}

int video_write_sheet(const char *path, const uint8_t *rgb, int F, int H, int W, int n,
                      int cols, const Provenance *prov, int force, TempFiles *tf,
                      T2vError *err) {
    VideoSpec s = {VIDEO_SHEET, path, F, H, W, 0, n, cols, prov, force};
    return write_whole(&s, rgb, tf, err);
}

/* ============================================================================
 * Float video to uint8 (docs/MODEL.md 0.8) */

void video_to_u8(const float *video, int F, int H, int W, uint8_t *rgb) {
    video_to_u8_frames(video, F, 0, F, H, W, rgb);
}

void video_to_u8_frames(const float *video, int F, int first, int n, int H, int W, uint8_t *rgb) {
    size_t plane = (size_t)F * H * W, hw = (size_t)H * W; /* one channel; one frame */
    video += (size_t)first * hw;
    for (size_t i = 0; i < (size_t)n * hw; i++)
        for (int c = 0; c < 3; c++) {
            float x = video[c * plane + i];
            if (x != x) x = -1.0f; /* NaN: black */
            x = x < -1.0f ? -1.0f : x > 1.0f ? 1.0f : x;
            float t = (x + 1.0f) / 2.0f; /* make_grid: sub_(low).div_(high - low) */
            float v = t * 255.0f;        /* mul(255) */
            rgb[3 * i + c] = (uint8_t)v; /* .type(torch.uint8): truncation */
        }
}

/* ============================================================================
 * Preview picture */

int video_write_preview_rgb(const char *path, const uint8_t *rgb, int h, int w, int scale, int force,
                            TempFiles *tf, T2vError *err) {
    if (scale < 1) scale = 1;
    int rc = check_dims(1, h * scale, w * scale, path, err);
    if (rc) return rc;
    size_t hw = (size_t)h * w;
    uint8_t *big = (uint8_t *)t2v_malloc(hw * 3 * scale * scale, "preview picture", err);
    if (!big) return T2V_ERESOURCE;
    int BW = w * scale;
    for (int y = 0; y < h * scale; y++)
        for (int x = 0; x < BW; x++)
            memcpy(big + ((size_t)y * BW + x) * 3, rgb + ((size_t)(y / scale) * w + x / scale) * 3, 3);
    rc = write_png(path, big, h * scale, BW, NULL, force, tf, err);
    free(big);
    return rc;
}

/* ============================================================================
 * Reading provenance back (`t2v info FILE.png`) */

static int read_whole(const char *path, unsigned char **data, size_t *n, T2vError *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return t2v_fail(err, T2V_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = (unsigned char *)malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        unsigned char *nb = (unsigned char *)realloc(buf, cap * 2);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb; cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) return t2v_fail(err, T2V_ERESOURCE, "%s: out of memory reading it", path);
    if (bad) { free(buf); return t2v_fail(err, T2V_EINPUT, "%s: read error", path); }
    *data = buf; *n = len;
    return T2V_OK;
}

/* One text chunk's "[KEYWORD]\ntext\n"; data is the chunk payload. */
static int text_chunk(StrBuf *b, const char *type, const unsigned char *d, size_t n) {
    const unsigned char *nul = (const unsigned char *)memchr(d, 0, n);
    if (!nul || nul == d || nul - d > 79) return 0; /* keyword 1..79 bytes */
    size_t nk = (size_t)(nul - d), off = nk + 1;
    sb_add(b, "[", 1); sb_add(b, (const char *)d, nk); sb_str(b, "]\n");
    if (!strcmp(type, "iTXt")) {
        if (off + 2 > n) return 0;
        int compressed = d[off];
        off += 2;
        for (int k = 0; k < 2; k++) { /* language tag, translated keyword */
            const unsigned char *z = (const unsigned char *)memchr(d + off, 0, n - off);
            if (!z) return 0;
            off = (size_t)(z - d) + 1;
        }
        if (compressed) { sb_str(b, "(compressed iTXt, not shown)\n"); return 1; }
    }
    sb_add(b, (const char *)d + off, n - off);
    sb_add(b, "\n", 1);
    return 1;
}

int video_read_provenance(const char *png_path, char **text, T2vError *err) {
    unsigned char *d = NULL;
    size_t n = 0;
    *text = NULL;
    int rc = read_whole(png_path, &d, &n, err);
    if (rc) return rc;
    StrBuf b = {0};
    size_t off = 8;
    int found = 0, ended = 0;
    if (n < 8 || memcmp(d, PNG_SIG, 8))
        rc = t2v_fail(err, T2V_EINPUT, "%s: not a PNG (bad signature)", png_path);
    while (!rc && !ended) {
        if (n - off < 12) {
            rc = t2v_fail(err, T2V_EINPUT, "%s: truncated at byte %zu (no IEND chunk)", png_path, off);
            break;
        }
        size_t len = rd_be32(d + off);
        char type[5] = {0};
        memcpy(type, d + off + 4, 4);
        if (len > 0x7FFFFFFFu || len > n - off - 12) {
            rc = t2v_fail(err, T2V_EINPUT, "%s: chunk '%.4s' at byte %zu: length %zu runs past "
                          "the end of the file (%zu bytes)", png_path, type, off, len, n);
            break;
        }
        uint32_t want = rd_be32(d + off + 8 + len), got = png_crc32(d + off + 4, len + 4);
        if (want != got) {
            rc = t2v_fail(err, T2V_EINPUT, "%s: chunk '%.4s' at byte %zu: CRC mismatch (stored "
                          "%08x, computed %08x)", png_path, type, off, (unsigned)want, (unsigned)got);
            break;
        }
        if (!strcmp(type, "tEXt") || !strcmp(type, "iTXt")) {
            if (!text_chunk(&b, type, d + off + 8, len)) {
                rc = t2v_fail(err, T2V_EINPUT, "%s: chunk '%s' at byte %zu: malformed (expected "
                              "keyword NUL ...)", png_path, type, off);
                break;
            }
            found++;
        }
        ended = !strcmp(type, "IEND");
        off += len + 12;
    }
    free(d);
    char *s = sb_take(&b);
    if (!rc && !s) rc = t2v_fail(err, T2V_ERESOURCE, "%s: out of memory", png_path);
    if (!rc && !found)
        rc = t2v_fail(err, T2V_EINPUT, "%s: no tEXt or iTXt chunk (no t2v provenance)", png_path);
    if (rc) { free(s); return rc; }
    *text = s;
    return T2V_OK;
}

/* ============================================================================
 * Content Credentials (c2pa.h; docs/OUTPUTS.md): the complete temporary is
 * read back, signed and rewritten before it joins the set, so a failed
 * signing leaves nothing behind. */

static int sign_bytes(int kind, const Provenance *p, TempFiles *tf, const unsigned char *in, size_t n,
                      ByteBuf *out, const char *what, T2vError *err) {
    if (tf && tf->fault_sign > 0 && --tf->fault_sign == 0)
        return t2v_fail(err, T2V_ERESOURCE, "%s: C2PA signing failed (T2V_FAULT_SIGN)", what);
    ByteBuf params = {0};
    const char *when = prov_get(p, "created");
    C2paClaimInfo ci = {"t2v", T2V_VERSION, when ? when : "", NULL, 0};
    int rc = prov_c2pa_params(p, &params) ? t2v_fail(err, T2V_ERESOURCE, "out of memory") : T2V_OK;
    ci.params = params.p, ci.params_len = params.n;
    if (!rc) rc = kind == 'p' ? c2pa_sign_png(p->signer, &ci, in, n, out, err)
                : kind == 'm' ? c2pa_sign_mp4(p->signer, &ci, in, n, out, err)
                              : c2pa_sign_sidecar(p->signer, &ci, in, n, out, err);
    bb_free(&params);
    if (rc) {
        T2vError e = *err;
        return t2v_fail(err, rc, "%s: C2PA signing failed: %s", what, e.msg);
    }
    return T2V_OK;
}

static int out_sign(OutFile *o, T2vError *err) {
    unsigned char *in = NULL;
    size_t n = 0;
    ByteBuf out = {0};
    int rc = read_whole(o->tmp, &in, &n, err);
    if (!rc) rc = sign_bytes(o->sign, o->prov, o->tf, in, n, &out, o->final, err);
    free(in);
    if (!rc) {
        FILE *f = fopen(o->tmp, "wb");
        int bad = !f || fwrite(out.p, 1, out.n, f) != out.n;
        if (f && fclose(f) != 0) bad = 1;
        if (bad) rc = t2v_fail(err, T2V_ERESOURCE, "%s: write failed (disk full?)", o->tmp);
    }
    bb_free(&out);
    return rc;
}

int video_write_c2pa_sidecar(const char *path, const char *asset, const Provenance *p, int force,
                             TempFiles *tf, T2vError *err) {
    char buf[T2V_TEMP_PATH];
    unsigned char *in = NULL;
    size_t n = 0;
    ByteBuf store = {0};
    OutFile o;
    if (!p || !p->signer) return t2v_fail(err, T2V_EUSAGE, "%s: a C2PA sidecar needs a signing key", path);
    int rc = read_whole(tempfiles_current(tf, asset, buf), &in, &n, err);
    if (!rc) rc = sign_bytes('s', p, tf, in, n, &store, path, err);
    free(in);
    if (!rc && !(rc = out_open(&o, path, force, tf, err))) {
        rc = out_write(&o, store.p, store.n, err);
        if (rc) out_abort(&o);
        else rc = out_commit(&o, err);
    }
    bb_free(&store);
    return rc;
}
