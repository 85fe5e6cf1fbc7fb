/* pth.c: see pth.h. Three parts: the zip directory (with ZIP64), the
 * restricted pickle interpreter, and the state dict -> TensorList step. */
#include "pth.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================================
 * Small helpers */

static char *dup_mem(const char *s, size_t n) {
    char *d = (char *)malloc(n + 1);
    if (d) {
        if (n) memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* A name from the file made safe for a message: non-printable bytes become
 * \xNN and long names are cut with "...". */
static const char *printable(const char *s, size_t n, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f) buf[o++] = (char)c;
        else o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        if (i + 1 < n && o + 8 >= cap) { memcpy(buf + o, "...", 3); o += 3; break; }
    }
    buf[o] = 0;
    return buf;
}

/* Strict UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (!len || c > 0xF4 || i + (size_t)len > n) return 0;
        uint32_t cp = c & (0x3Fu >> (len - 1));
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += (size_t)len;
    }
    return 1;
}

/* ============================================================================
 * Zip directory. Sizes come from the central directory (torch writes local
 * headers with the "data descriptor" flag and zero sizes); the data of an
 * entry starts after its *local* header, whose extra field differs from the
 * central one (torch pads it to 64-byte alignment with an "FB" field). */

typedef struct {
    const char *name;   /* into the file, not NUL-terminated */
    size_t nlen;
    uint64_t hdr_off;   /* local header */
    uint64_t data_off;  /* first data byte */
    uint64_t size;
} ZipEntry;

typedef struct {
    ZipEntry *e;        /* sorted by name */
    int n;
    uint64_t cd_off;    /* entries' data must end before the central directory */
} Zip;

#define ZIP_EOCD_SIZE 22
#define ZIP_CEN_SIZE 46
#define ZIP_LOC_SIZE 30
#define ZIP_U32_MAX 0xFFFFFFFFu

static int sig_at(const unsigned char *d, uint64_t off, uint32_t sig) { return rd_u32le(d + off) == sig; }

/* Finds the zip64 extended information extra field (id 1) in extra[0..len)
 * and reads the 8-byte values for the fields that were 0xFFFFFFFF, in the
 * order uncompressed size, compressed size, local header offset. */
static int zip64_extra(const unsigned char *x, size_t len, uint64_t *usize, uint64_t *csize,
                       uint64_t *off, int need_u, int need_c, int need_o) {
    size_t p = 0;
    while (p + 4 <= len) {
        unsigned id = rd_u16le(x + p), sz = rd_u16le(x + p + 2);
        if (p + 4 + sz > len) return -1; /* field runs past the extra area */
        if (id == 1) {
            size_t q = p + 4, end = p + 4 + sz;
            if (need_u) { if (q + 8 > end) return -1; *usize = rd_u64le(x + q); q += 8; }
            if (need_c) { if (q + 8 > end) return -1; *csize = rd_u64le(x + q); q += 8; }
            if (need_o) { if (q + 8 > end) return -1; *off = rd_u64le(x + q); }
            return 1;
        }
        p += 4 + (size_t)sz;
    }
    return 0;
}

/* End of central directory (and its zip64 variant): entry count, directory
 * offset and size, and where the directory must end. */
static int zip_find_end(const char *path, const unsigned char *d, uint64_t size, uint64_t *count,
                        uint64_t *cd_off, uint64_t *cd_size, uint64_t *cd_limit, T2vError *err) {
    int64_t eocd = -1;
    if (size >= ZIP_EOCD_SIZE) {
        uint64_t lo = size > ZIP_EOCD_SIZE + 0xFFFFu ? size - ZIP_EOCD_SIZE - 0xFFFFu : 0;
        for (uint64_t p = size - ZIP_EOCD_SIZE + 1; p-- > lo;)
            if (sig_at(d, p, 0x06054b50u) && p + ZIP_EOCD_SIZE + rd_u16le(d + p + 20) == size) {
                eocd = (int64_t)p;
                break;
            }
    }
    if (eocd < 0) {
        if (size >= 2 && d[0] == 0x80 && d[1] <= 5)
            return t2v_fail(err, T2V_EINPUT,
                            "%s: legacy (pre-1.6, non-zip) torch.save format; re-save it with a newer "
                            "torch (torch.save(torch.load(f), f)) or convert it to safetensors", path);
        if (size >= 4 && sig_at(d, 0, 0x04034b50u))
            return t2v_fail(err, T2V_EINPUT, "%s: zip end-of-central-directory record not found "
                            "(truncated file?)", path);
        return t2v_fail(err, T2V_EINPUT, "%s: not a PyTorch zip checkpoint (no zip directory, and not "
                        "starting with \"PK\")", path);
    }
    const unsigned char *e = d + eocd;
    if (rd_u16le(e + 4) != 0 || rd_u16le(e + 6) != 0)
        return t2v_fail(err, T2V_EINPUT, "%s: multi-disk zip archives are not supported", path);
    *count = rd_u16le(e + 10);
    *cd_size = rd_u32le(e + 12);
    *cd_off = rd_u32le(e + 16);
    *cd_limit = (uint64_t)eocd;
    /* zip64 end-of-central-directory locator right before the EOCD */
    if (eocd >= 20 && sig_at(d, (uint64_t)eocd - 20, 0x07064b50u)) {
        const unsigned char *l = d + eocd - 20;
        uint64_t z = rd_u64le(l + 8);
        if (rd_u32le(l + 4) != 0 || rd_u32le(l + 16) > 1)
            return t2v_fail(err, T2V_EINPUT, "%s: multi-disk zip64 archives are not supported", path);
        if (z > (uint64_t)eocd - 20 || (uint64_t)eocd - 20 - z < 56 || !sig_at(d, z, 0x06064b50u))
            return t2v_fail(err, T2V_EINPUT, "%s: zip64 end-of-central-directory locator points to "
                            "offset %llu, where there is no zip64 record", path, (unsigned long long)z);
        const unsigned char *r = d + z;
        uint64_t n64 = rd_u64le(r + 32), size64 = rd_u64le(r + 40), off64 = rd_u64le(r + 48);
        if (rd_u32le(r + 16) != 0 || rd_u32le(r + 20) != 0 || rd_u64le(r + 24) != n64)
            return t2v_fail(err, T2V_EINPUT, "%s: multi-disk zip64 archives are not supported", path);
        /* The 32-bit fields are either the 0xFFFF.. escape or the same value. */
        if ((*count != 0xFFFFu && *count != n64) || (*cd_size != ZIP_U32_MAX && *cd_size != size64) ||
            (*cd_off != ZIP_U32_MAX && *cd_off != off64))
            return t2v_fail(err, T2V_EINPUT, "%s: zip64 end record (%llu entries, directory at %llu) "
                            "contradicts the 32-bit one (%llu entries, directory at %llu)", path,
                            (unsigned long long)n64, (unsigned long long)off64,
                            (unsigned long long)*count, (unsigned long long)*cd_off);
        *count = n64;
        *cd_size = size64;
        *cd_off = off64;
        *cd_limit = z;
    } else if (*count == 0xFFFFu || *cd_size == ZIP_U32_MAX || *cd_off == ZIP_U32_MAX) {
        return t2v_fail(err, T2V_EINPUT, "%s: zip end record needs a zip64 record, which is missing",
                        path);
    }
    if (*cd_off > *cd_limit || *cd_size > *cd_limit - *cd_off)
        return t2v_fail(err, T2V_EINPUT, "%s: zip central directory [%llu, +%llu) lies outside the "
                        "file (%llu bytes before the end records)", path, (unsigned long long)*cd_off,
                        (unsigned long long)*cd_size, (unsigned long long)*cd_limit);
    if (*count > *cd_size / ZIP_CEN_SIZE || *count > PTH_MAX_ENTRIES)
        return t2v_fail(err, T2V_EINPUT, "%s: zip directory claims %llu entries in %llu bytes", path,
                        (unsigned long long)*count, (unsigned long long)*cd_size);
    if (*count == 0) return t2v_fail(err, T2V_EINPUT, "%s: the zip archive is empty", path);
    return T2V_OK;
}

/* Checks the local header of entry e (central values already in e) and
 * sets e->data_off. */
static int zip_local(const char *path, const unsigned char *d, uint64_t size, uint64_t cd_off,
                     ZipEntry *e, unsigned method, T2vError *err) {
    char nb[160];
    const char *nm = printable(e->name, e->nlen, nb, sizeof nb);
    uint64_t h = e->hdr_off;
    if (h > cd_off || cd_off - h < ZIP_LOC_SIZE || !sig_at(d, h, 0x04034b50u))
        return t2v_fail(err, T2V_EINPUT, "%s: zip entry '%s': no local header at offset %llu", path, nm,
                        (unsigned long long)h);
    const unsigned char *l = d + h;
    unsigned flags = rd_u16le(l + 6), lmethod = rd_u16le(l + 8);
    uint32_t lc = rd_u32le(l + 18), lu = rd_u32le(l + 22);
    size_t ln = rd_u16le(l + 26), le = rd_u16le(l + 28);
    if (lmethod != method)
        return t2v_fail(err, T2V_EINPUT, "%s: zip entry '%s': local header says compression method %u, "
                        "central directory says %u", path, nm, lmethod, method);
    if (flags & 1)
        return t2v_fail(err, T2V_EINPUT, "%s: zip entry '%s' is encrypted", path, nm);
    if (cd_off - h - ZIP_LOC_SIZE < ln + le)
        return t2v_fail(err, T2V_EINPUT, "%s: zip entry '%s': local header runs into the central "
                        "directory", path, nm);
    if (ln != e->nlen || memcmp(l + ZIP_LOC_SIZE, e->name, ln) != 0)
        return t2v_fail(err, T2V_EINPUT, "%s: zip entry '%s': local header names a different file", path,
                        nm);
    /* Local sizes are 0 with the data-descriptor flag (what torch writes);
     * any other value must agree with the central directory. */
    uint64_t u = lu, c = lc;
    if (lu == ZIP_U32_MAX || lc == ZIP_U32_MAX) {
        if (zip64_extra(l + ZIP_LOC_SIZE + ln, le, &u, &c, &h, lu == ZIP_U32_MAX, lc == ZIP_U32_MAX, 0) != 1)
            return t2v_fail(err, T2V_EINPUT, "%s: zip entry '%s': local header lacks its zip64 sizes",
                            path, nm);
    }
    if ((u != 0 && u != e->size) || (c != 0 && c != e->size) || (!(flags & 8) && u != e->size))
        return t2v_fail(err, T2V_EINPUT, "%s: zip entry '%s': local header gives size %llu, central "
                        "directory %llu", path, nm, (unsigned long long)u, (unsigned long long)e->size);
    e->data_off = e->hdr_off + ZIP_LOC_SIZE + ln + le;
    if (e->data_off > cd_off || e->size > cd_off - e->data_off)
        return t2v_fail(err, T2V_EINPUT, "%s: zip entry '%s': %llu bytes at offset %llu run past the "
                        "data area of the file (%llu bytes, directory at %llu)", path, nm,
                        (unsigned long long)e->size, (unsigned long long)e->data_off,
                        (unsigned long long)size, (unsigned long long)cd_off);
    return T2V_OK;
}

static int cmp_entry_name(const void *a, const void *b) {
    const ZipEntry *x = (const ZipEntry *)a, *y = (const ZipEntry *)b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, n);
    return c ? c : x->nlen < y->nlen ? -1 : x->nlen > y->nlen ? 1 : 0;
}

/* By header offset, then name: a total order, because qsort is not stable
 * and the overlap error must name the same two entries on every platform. */
static int cmp_entry_off(const void *a, const void *b) {
    const ZipEntry *x = (const ZipEntry *)a, *y = (const ZipEntry *)b;
    if (x->hdr_off != y->hdr_off) return x->hdr_off < y->hdr_off ? -1 : 1;
    return cmp_entry_name(a, b);
}

/* One central directory header at *pos; advances *pos. */
static int zip_central(const char *path, const unsigned char *d, uint64_t *pos, uint64_t cd_end,
                       ZipEntry *e, unsigned *method, T2vError *err) {
    uint64_t p = *pos;
    if (cd_end - p < ZIP_CEN_SIZE || !sig_at(d, p, 0x02014b50u))
        return t2v_fail(err, T2V_EINPUT, "%s: zip central directory is corrupt at offset %llu", path,
                        (unsigned long long)p);
    const unsigned char *c = d + p;
    size_t n = rd_u16le(c + 28), x = rd_u16le(c + 30), k = rd_u16le(c + 32);
    if (cd_end - p - ZIP_CEN_SIZE < n + x + k)
        return t2v_fail(err, T2V_EINPUT, "%s: zip central directory entry at %llu runs past the "
                        "directory", path, (unsigned long long)p);
    e->name = (const char *)c + ZIP_CEN_SIZE;
    e->nlen = n;
    char nb[160];
    const char *nm = printable(e->name, n, nb, sizeof nb);
    *method = rd_u16le(c + 10);
    uint64_t csize = rd_u32le(c + 20), usize = rd_u32le(c + 24), off = rd_u32le(c + 42);
    if (rd_u16le(c + 34) != 0 && rd_u16le(c + 34) != 0xFFFFu)
        return t2v_fail(err, T2V_EINPUT, "%s: zip entry '%s' is on another disk", path, nm);
    int nu = usize == ZIP_U32_MAX, nc = csize == ZIP_U32_MAX, no = off == ZIP_U32_MAX;
    if ((nu || nc || no) && zip64_extra(c + ZIP_CEN_SIZE + n, x, &usize, &csize, &off, nu, nc, no) != 1)
        return t2v_fail(err, T2V_EINPUT, "%s: zip entry '%s': 0xFFFFFFFF size or offset without a "
                        "complete zip64 extra field", path, nm);
    if (*method != 0)
        return t2v_fail(err, T2V_EINPUT, "%s: zip entry '%s' is compressed (method %u); torch.save "
                        "writes stored (uncompressed) entries, which this reader maps directly",
                        path, nm, *method);
    if (csize != usize)
        return t2v_fail(err, T2V_EINPUT, "%s: zip entry '%s' is stored but its compressed size %llu "
                        "differs from its size %llu", path, nm, (unsigned long long)csize,
                        (unsigned long long)usize);
    e->size = usize;
    e->hdr_off = off;
    *pos = p + ZIP_CEN_SIZE + n + x + k;
    return T2V_OK;
}

static int zip_open(Zip *z, const char *path, const unsigned char *d, uint64_t size, T2vError *err) {
    uint64_t count = 0, cd_off = 0, cd_size = 0, cd_limit = 0;
    memset(z, 0, sizeof *z);
    int rc = zip_find_end(path, d, size, &count, &cd_off, &cd_size, &cd_limit, err);
    if (rc) return rc;
    z->e = (ZipEntry *)t2v_calloc((size_t)count, sizeof *z->e, "zip directory", err);
    if (!z->e) return T2V_ERESOURCE;
    z->cd_off = cd_off;
    uint64_t pos = cd_off;
    for (uint64_t i = 0; i < count; i++) {
        unsigned method = 0;
        rc = zip_central(path, d, &pos, cd_off + cd_size, &z->e[i], &method, err);
        if (!rc) rc = zip_local(path, d, size, cd_off, &z->e[i], method, err);
        if (rc) return rc;
        z->n++;
    }
    /* Entries may not overlap (each one's header and data before the next). */
    qsort(z->e, (size_t)z->n, sizeof *z->e, cmp_entry_off);
    for (int i = 1; i < z->n; i++)
        if (z->e[i].hdr_off < z->e[i - 1].data_off + z->e[i - 1].size) {
            char a[160], b[160];
            return t2v_fail(err, T2V_EINPUT, "%s: zip entries '%s' and '%s' overlap", path,
                            printable(z->e[i - 1].name, z->e[i - 1].nlen, a, sizeof a),
                            printable(z->e[i].name, z->e[i].nlen, b, sizeof b));
        }
    qsort(z->e, (size_t)z->n, sizeof *z->e, cmp_entry_name);
    for (int i = 1; i < z->n; i++)
        if (cmp_entry_name(&z->e[i - 1], &z->e[i]) == 0) {
            char a[160];
            return t2v_fail(err, T2V_EINPUT, "%s: zip entry '%s' appears twice", path,
                            printable(z->e[i].name, z->e[i].nlen, a, sizeof a));
        }
    return T2V_OK;
}

static const ZipEntry *zip_lookup(const Zip *z, const char *name, size_t len) {
    ZipEntry key;
    memset(&key, 0, sizeof key);
    key.name = name;
    key.nlen = len;
    return (const ZipEntry *)bsearch(&key, z->e, (size_t)z->n, sizeof *z->e, cmp_entry_name);
}

/* ============================================================================
 * Restricted pickle interpreter. Values live in one pool freed at the end, so
 * shared and self-referential structures need no reference counting and
 * nothing is ever traversed recursively. */

typedef enum { V_NONE, V_BOOL, V_INT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR } VKind;
static const char *const VKIND_NAME[] = {"None", "bool", "int", "str", "tuple", "list", "dict",
                                         "global", "storage", "tensor"};

typedef enum { G_ORDERED_DICT, G_REBUILD_TENSOR, G_REBUILD_PARAMETER, G_STORAGE } GKind;

typedef struct {
    const ZipEntry *entry;  /* data/<key> */
    int64_t numel;          /* elements of the storage's dtype */
} StorageInfo;

typedef struct {
    const struct Val *storage;
    int64_t offset;         /* storage_offset, in elements */
    int ndim;
    int64_t shape[T2V_MAX_DIMS], stride[T2V_MAX_DIMS];
} TensorInfo;

typedef struct Val {
    VKind kind;
    int64_t i;              /* bool, int; global: GKind */
    DType dtype;            /* storage global, storage, tensor */
    char *s;                /* str (NUL-terminated, valid UTF-8) */
    size_t slen;
    struct Val **items;     /* tuple, list; dict: key, value, key, value, ... */
    size_t n, cap;
    StorageInfo *st;
    TensorInfo *ti;
} Val;

typedef struct {
    const char *path;
    const unsigned char *p;  /* data.pkl */
    size_t n, pos, op_pos;
    const unsigned char *file;
    const Zip *zip;
    const char *prefix;      /* "<prefix>/" */
    size_t prefix_len;
    Val **stack;
    size_t sp, scap;
    size_t marks[PTH_MAX_MARKS];
    int nmarks;
    Val **memo;
    size_t memo_cap, memo_count;
    Val **pool;
    size_t npool, pool_cap;
    T2vError *err;
} Vm;

#define VM_FAIL(vm, ...) vm_fail(vm, __VA_ARGS__)

static int vm_fail(Vm *vm, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int vm_fail(Vm *vm, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return t2v_fail(vm->err, T2V_EINPUT, "%s: data.pkl byte %zu: %s", vm->path, vm->op_pos, msg);
}

static Val *vm_new(Vm *vm, VKind kind) {
    if (vm->npool == vm->pool_cap) {
        size_t cap = vm->pool_cap ? 2 * vm->pool_cap : 256;
        Val **p = (Val **)realloc(vm->pool, cap * sizeof *p);
        if (!p) { t2v_fail(vm->err, T2V_ERESOURCE, "%s: out of memory reading the pickle", vm->path); return NULL; }
        vm->pool = p;
        vm->pool_cap = cap;
    }
    Val *v = (Val *)calloc(1, sizeof *v);
    if (!v) { t2v_fail(vm->err, T2V_ERESOURCE, "%s: out of memory reading the pickle", vm->path); return NULL; }
    v->kind = kind;
    vm->pool[vm->npool++] = v;
    return v;
}

static void vm_free(Vm *vm) {
    for (size_t i = 0; i < vm->npool; i++) {
        Val *v = vm->pool[i];
        free(v->s);
        free(v->items);
        free(v->st);
        free(v->ti);
        free(v);
    }
    free(vm->pool);
    free(vm->stack);
    free(vm->memo);
}

static int vm_push(Vm *vm, Val *v) {
    if (!v) return T2V_ERESOURCE;
    if (vm->sp == vm->scap) {
        if (vm->scap >= PTH_MAX_STACK) return VM_FAIL(vm, "pickle stack deeper than %d", PTH_MAX_STACK);
        size_t cap = vm->scap ? 2 * vm->scap : 64;
        Val **s = (Val **)realloc(vm->stack, cap * sizeof *s);
        if (!s) return t2v_fail(vm->err, T2V_ERESOURCE, "%s: out of memory reading the pickle", vm->path);
        vm->stack = s;
        vm->scap = cap;
    }
    vm->stack[vm->sp++] = v;
    return T2V_OK;
}

/* The stack above the innermost MARK is all an opcode may pop. */
static size_t vm_floor(const Vm *vm) { return vm->nmarks ? vm->marks[vm->nmarks - 1] : 0; }

static Val *vm_pop(Vm *vm) {
    if (vm->sp <= vm_floor(vm)) { VM_FAIL(vm, "pickle stack underflow"); return NULL; }
    return vm->stack[--vm->sp];
}

static Val *vm_top(Vm *vm) {
    if (vm->sp <= vm_floor(vm)) { VM_FAIL(vm, "pickle stack underflow"); return NULL; }
    return vm->stack[vm->sp - 1];
}

/* Pops the MARK; returns the stack index where the marked items start. */
static int vm_pop_mark(Vm *vm, size_t *start) {
    if (!vm->nmarks) return VM_FAIL(vm, "opcode needs a MARK but there is none");
    *start = vm->marks[--vm->nmarks];
    return T2V_OK;
}

static int vm_append(Vm *vm, Val *c, Val *x) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        Val **it = (Val **)realloc(c->items, cap * sizeof *it);
        if (!it) return t2v_fail(vm->err, T2V_ERESOURCE, "%s: out of memory reading the pickle", vm->path);
        c->items = it;
        c->cap = cap;
    }
    c->items[c->n++] = x;
    return T2V_OK;
}

static int vm_need(Vm *vm, size_t k, const unsigned char **out) {
    if (vm->n - vm->pos < k) return VM_FAIL(vm, "pickle truncated (needs %zu more bytes)", k);
    *out = vm->p + vm->pos;
    vm->pos += k;
    return T2V_OK;
}

/* A new tuple of the stack items [start, sp). */
static int vm_tuple_from(Vm *vm, size_t start) {
    Val *t = vm_new(vm, V_TUPLE);
    if (!t) return T2V_ERESOURCE;
    for (size_t i = start; i < vm->sp; i++)
        if (vm_append(vm, t, vm->stack[i])) return T2V_ERESOURCE;
    vm->sp = start;
    return vm_push(vm, t);
}

/* ---------------------------------------------------------------------------
 * Globals: the whitelist. */

static const struct {
    const char *name;
    DType dtype;
} STORAGES[] = {
    {"FloatStorage", DT_F32}, {"DoubleStorage", DT_F64}, {"HalfStorage", DT_F16},
    {"BFloat16Storage", DT_BF16}, {"LongStorage", DT_I64}, {"IntStorage", DT_I32},
    {"ShortStorage", DT_I16}, {"CharStorage", DT_I8}, {"ByteStorage", DT_U8}, {"BoolStorage", DT_BOOL},
};

static int vm_global(Vm *vm, const char *mod, size_t ml, const char *name, size_t nl) {
    Val *g = vm_new(vm, V_GLOBAL);
    if (!g) return T2V_ERESOURCE;
#define IS(s, l, lit) ((l) == sizeof(lit) - 1 && memcmp((s), (lit), (l)) == 0)
    if (IS(mod, ml, "collections") && IS(name, nl, "OrderedDict")) {
        g->i = G_ORDERED_DICT;
    } else if (IS(mod, ml, "torch._utils") && IS(name, nl, "_rebuild_tensor_v2")) {
        g->i = G_REBUILD_TENSOR;
    } else if (IS(mod, ml, "torch._utils") && IS(name, nl, "_rebuild_parameter")) {
        g->i = G_REBUILD_PARAMETER;
    } else {
        int found = 0;
        for (size_t k = 0; k < sizeof STORAGES / sizeof STORAGES[0] && IS(mod, ml, "torch"); k++)
            if (strlen(STORAGES[k].name) == nl && memcmp(name, STORAGES[k].name, nl) == 0) {
                g->i = G_STORAGE;
                g->dtype = STORAGES[k].dtype;
                found = 1;
            }
        if (!found) {
            char a[160], b[160];
            return VM_FAIL(vm, "pickle refers to global '%s.%s', which a state dict never needs; refusing "
                           "to load (allowed: collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
                           "torch._utils._rebuild_parameter, torch.*Storage)",
                           printable(mod, ml, a, sizeof a), printable(name, nl, b, sizeof b));
        }
    }
#undef IS
    return vm_push(vm, g);
}

/* GLOBAL: "module\nname\n" */
static int op_global(Vm *vm) {
    const char *s[2];
    size_t l[2];
    for (int k = 0; k < 2; k++) {
        s[k] = (const char *)vm->p + vm->pos;
        const void *nl = memchr(s[k], '\n', vm->n - vm->pos < 512 ? vm->n - vm->pos : 512);
        if (!nl) return VM_FAIL(vm, "GLOBAL name is not terminated by a newline within 512 bytes");
        l[k] = (size_t)((const char *)nl - s[k]);
        vm->pos += l[k] + 1;
    }
    return vm_global(vm, s[0], l[0], s[1], l[1]);
}

static int op_stack_global(Vm *vm) {
    Val *name = vm_pop(vm), *mod = name ? vm_pop(vm) : NULL;
    if (!mod) return T2V_EINPUT;
    if (mod->kind != V_STR || name->kind != V_STR) return VM_FAIL(vm, "STACK_GLOBAL needs two strings");
    return vm_global(vm, mod->s, mod->slen, name->s, name->slen);
}

/* ---------------------------------------------------------------------------
 * Storages and tensors */

static int as_int(const Val *v, int64_t *out) {
    if (!v || (v->kind != V_INT && v->kind != V_BOOL)) return -1;
    *out = v->i;
    return 0;
}

/* BINPERSID: ('storage', torch.XStorage, key, location, numel) */
static int op_persid(Vm *vm) {
    Val *pid = vm_pop(vm);
    if (!pid) return T2V_EINPUT;
    if (pid->kind != V_TUPLE || pid->n != 5 || pid->items[0]->kind != V_STR ||
        strcmp(pid->items[0]->s, "storage") != 0)
        return VM_FAIL(vm, "persistent id is not ('storage', type, key, location, numel)");
    const Val *type = pid->items[1], *key = pid->items[2], *loc = pid->items[3];
    int64_t numel;
    if (type->kind != V_GLOBAL || type->i != G_STORAGE)
        return VM_FAIL(vm, "persistent id: storage type is a %s, not a torch.*Storage", VKIND_NAME[type->kind]);
    if (key->kind != V_STR || loc->kind != V_STR || as_int(pid->items[4], &numel) || numel < 0)
        return VM_FAIL(vm, "persistent id: expected (str key, str location, int numel >= 0)");
    char name[512], kb[160], nb[320];
    if (key->slen > 256) return VM_FAIL(vm, "storage key of %zu bytes is too long", key->slen);
    int len = snprintf(name, sizeof name, "%sdata/%s", vm->prefix, key->s);
    const ZipEntry *e = zip_lookup(vm->zip, name, (size_t)len);
    if (!e)
        return VM_FAIL(vm, "storage '%s' has no zip entry %s", printable(key->s, key->slen, kb, sizeof kb),
                       printable(name, (size_t)len, nb, sizeof nb));
    size_t es = dtype_size(type->dtype);
    if ((uint64_t)numel > e->size / es)
        return VM_FAIL(vm, "storage '%s' claims %lld %s elements (%llu bytes) but its entry holds %llu bytes",
                       printable(key->s, key->slen, kb, sizeof kb), (long long)numel,
                       dtype_name(type->dtype), (unsigned long long)numel * es,
                       (unsigned long long)e->size);
    Val *s = vm_new(vm, V_STORAGE);
    if (!s) return T2V_ERESOURCE;
    s->dtype = type->dtype;
    s->st = (StorageInfo *)calloc(1, sizeof *s->st);
    if (!s->st) return t2v_fail(vm->err, T2V_ERESOURCE, "%s: out of memory", vm->path);
    s->st->entry = e;
    s->st->numel = numel;
    return vm_push(vm, s);
}

static int int_tuple(const Val *t, int64_t *out, int *n) {
    if (t->kind != V_TUPLE || t->n > T2V_MAX_DIMS) return -1;
    for (size_t i = 0; i < t->n; i++)
        if (as_int(t->items[i], &out[i]) || out[i] < 0) return -1;
    *n = (int)t->n;
    return 0;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata]): every element the tensor can address must lie
 * inside the storage. */
static int rebuild_tensor(Vm *vm, const Val *args) {
    if (args->n != 6 && args->n != 7)
        return VM_FAIL(vm, "_rebuild_tensor_v2 takes 6 or 7 arguments, got %zu", args->n);
    const Val *st = args->items[0];
    TensorInfo ti;
    memset(&ti, 0, sizeof ti);
    int nstride = 0;
    if (st->kind != V_STORAGE)
        return VM_FAIL(vm, "_rebuild_tensor_v2: first argument is a %s, not a storage", VKIND_NAME[st->kind]);
    if (as_int(args->items[1], &ti.offset) || ti.offset < 0)
        return VM_FAIL(vm, "_rebuild_tensor_v2: storage_offset must be an int >= 0");
    if (int_tuple(args->items[2], ti.shape, &ti.ndim) || int_tuple(args->items[3], ti.stride, &nstride) ||
        nstride != ti.ndim)
        return VM_FAIL(vm, "_rebuild_tensor_v2: size and stride must be tuples of the same length (at most "
                       "%d) of ints >= 0", T2V_MAX_DIMS);
    for (int d = 0; d < ti.ndim; d++)
        if (ti.shape[d] <= 1) ti.stride[d] = 0; /* never used to step; keeps the index arithmetic small */
    int64_t numel = st->st->numel, count = 1, last = ti.offset;
    for (int d = 0; d < ti.ndim; d++) count = (ti.shape[d] == 0 || count == 0) ? 0 : count;
    /* numel(tensor) <= numel(storage): no overflow, and no stride-0 blow-up
     * when a non-contiguous tensor is copied. */
    for (int d = 0; d < ti.ndim && count; d++) {
        if (ti.shape[d] > numel / count)
            return VM_FAIL(vm, "tensor of size dim %d = %lld has more elements than its storage holds "
                           "(%lld)", d, (long long)ti.shape[d], (long long)numel);
        count *= ti.shape[d];
    }
    if (ti.offset > numel)
        return VM_FAIL(vm, "storage_offset %lld is past the storage (%lld elements)", (long long)ti.offset,
                       (long long)numel);
    for (int d = 0; d < ti.ndim && count; d++) {
        int64_t span = ti.shape[d] - 1;
        if (span && ti.stride[d] > (numel - last) / span)
            return VM_FAIL(vm, "tensor (offset %lld, dim %d size %lld stride %lld) reaches past its storage "
                           "(%lld elements)", (long long)ti.offset, d, (long long)ti.shape[d],
                           (long long)ti.stride[d], (long long)numel);
        last += span * ti.stride[d];
    }
    if (count && last >= numel)
        return VM_FAIL(vm, "tensor at storage_offset %lld reaches element %lld of a storage of %lld",
                       (long long)ti.offset, (long long)last, (long long)numel);
    Val *t = vm_new(vm, V_TENSOR);
    if (!t) return T2V_ERESOURCE;
    t->dtype = st->dtype;
    t->ti = (TensorInfo *)malloc(sizeof *t->ti);
    if (!t->ti) return t2v_fail(vm->err, T2V_ERESOURCE, "%s: out of memory", vm->path);
    ti.storage = st;
    *t->ti = ti;
    return vm_push(vm, t);
}

/* REDUCE: callable(*args) for the three callables a state dict uses. */
static int op_reduce(Vm *vm) {
    Val *args = vm_pop(vm), *fn = args ? vm_pop(vm) : NULL;
    if (!fn) return T2V_EINPUT;
    if (fn->kind != V_GLOBAL) return VM_FAIL(vm, "REDUCE on a %s, which is not callable", VKIND_NAME[fn->kind]);
    if (args->kind != V_TUPLE) return VM_FAIL(vm, "REDUCE arguments are a %s, not a tuple", VKIND_NAME[args->kind]);
    switch ((GKind)fn->i) {
    case G_ORDERED_DICT:
        if (args->n != 0) return VM_FAIL(vm, "collections.OrderedDict called with arguments");
        return vm_push(vm, vm_new(vm, V_DICT));
    case G_REBUILD_TENSOR:
        return rebuild_tensor(vm, args);
    case G_REBUILD_PARAMETER:
        if (args->n != 3 || args->items[0]->kind != V_TENSOR)
            return VM_FAIL(vm, "_rebuild_parameter takes (tensor, requires_grad, hooks)");
        return vm_push(vm, args->items[0]);
    case G_STORAGE:
    default:
        return VM_FAIL(vm, "a torch storage type cannot be called");
    }
}

/* ---------------------------------------------------------------------------
 * Containers and memo */

static int op_setitems(Vm *vm, size_t start) {
    if (start <= vm_floor(vm) || start > vm->sp || (vm->sp - start) % 2)
        return VM_FAIL(vm, "SETITEM(S) needs a dict and key/value pairs");
    Val *d = vm->stack[start - 1];
    if (d->kind != V_DICT) return VM_FAIL(vm, "SETITEM(S) on a %s, not a dict", VKIND_NAME[d->kind]);
    for (size_t i = start; i < vm->sp; i++)
        if (vm_append(vm, d, vm->stack[i])) return T2V_ERESOURCE;
    vm->sp = start;
    return T2V_OK;
}

static int op_appends(Vm *vm, size_t start) {
    if (start <= vm_floor(vm) || start > vm->sp) return VM_FAIL(vm, "APPEND(S) needs a list");
    Val *l = vm->stack[start - 1];
    if (l->kind != V_LIST) return VM_FAIL(vm, "APPEND(S) on a %s, not a list", VKIND_NAME[l->kind]);
    for (size_t i = start; i < vm->sp; i++)
        if (vm_append(vm, l, vm->stack[i])) return T2V_ERESOURCE;
    vm->sp = start;
    return T2V_OK;
}

static int memo_put(Vm *vm, uint64_t idx) {
    Val *v = vm_top(vm);
    if (!v) return T2V_EINPUT;
    if (idx >= PTH_MAX_MEMO) return VM_FAIL(vm, "memo index %llu beyond the limit %d", (unsigned long long)idx, PTH_MAX_MEMO);
    if (idx >= vm->memo_cap) {
        size_t cap = vm->memo_cap ? vm->memo_cap : 64;
        while (cap <= idx) cap *= 2;
        Val **m = (Val **)realloc(vm->memo, cap * sizeof *m);
        if (!m) return t2v_fail(vm->err, T2V_ERESOURCE, "%s: out of memory reading the pickle", vm->path);
        memset(m + vm->memo_cap, 0, (cap - vm->memo_cap) * sizeof *m);
        vm->memo = m;
        vm->memo_cap = cap;
    }
    if (!vm->memo[idx]) vm->memo_count++;
    vm->memo[idx] = v;
    return T2V_OK;
}

static int memo_get(Vm *vm, uint64_t idx) {
    if (idx >= vm->memo_cap || !vm->memo[idx])
        return VM_FAIL(vm, "memo index %llu used before it was set", (unsigned long long)idx);
    return vm_push(vm, vm->memo[idx]);
}

static int op_string(Vm *vm, uint64_t len) {
    const unsigned char *s = NULL;
    if (len > PTH_MAX_STRING) return VM_FAIL(vm, "string of %llu bytes exceeds the limit %d", (unsigned long long)len, PTH_MAX_STRING);
    if (vm_need(vm, (size_t)len, &s)) return T2V_EINPUT;
    if (!utf8_valid(s, (size_t)len) || memchr(s, 0, (size_t)len))
        return VM_FAIL(vm, "string is not valid UTF-8 (or contains a NUL byte)");
    Val *v = vm_new(vm, V_STR);
    if (!v) return T2V_ERESOURCE;
    v->s = dup_mem((const char *)s, (size_t)len);
    v->slen = (size_t)len;
    if (!v->s) return t2v_fail(vm->err, T2V_ERESOURCE, "%s: out of memory", vm->path);
    return vm_push(vm, v);
}

static int push_int(Vm *vm, int64_t x) {
    Val *v = vm_new(vm, V_INT);
    if (!v) return T2V_ERESOURCE;
    v->i = x;
    return vm_push(vm, v);
}

/* LONG1: n-byte two's complement little-endian, n <= 8. */
static int op_long1(Vm *vm) {
    const unsigned char *b = NULL;
    if (vm_need(vm, 1, &b)) return T2V_EINPUT;
    size_t n = b[0];
    if (n > 8) return VM_FAIL(vm, "LONG1 integer of %zu bytes is too large", n);
    if (vm_need(vm, n, &b)) return T2V_EINPUT;
    uint64_t u = 0;
    for (size_t i = 0; i < n; i++) u |= (uint64_t)b[i] << (8 * i);
    if (n && n < 8 && (b[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n); /* sign extend */
    return push_int(vm, (int64_t)u);
}

/* ---------------------------------------------------------------------------
 * The loop: one opcode at a time, no recursion. Returns the STOP value. */

static const char *op_name(unsigned op) {
    switch (op) {
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 0x81: return "NEWOBJ";
    case 0x92: return "NEWOBJ_EX";
    case 'G': return "BINFLOAT";
    case 'T': case 'U': case 'B': case 'C': case 0x8e: return "BINSTRING/BINBYTES";
    case 'S': case 'V': case 'I': case 'L': case 'F': return "a protocol-0 text opcode";
    case 'P': return "PERSID";
    case 0x82: case 0x83: case 0x84: return "EXT";
    case 0x8f: case 0x90: case 0x91: return "a set opcode";
    case 0x96: case 0x97: case 0x98: return "a buffer opcode";
    case '2': return "DUP";
    case 'g': case 'p': return "GET/PUT (text)";
    default: return "an unknown opcode";
    }
}

static int vm_step(Vm *vm, unsigned op, Val **result) {
    const unsigned char *b = NULL;
    size_t start = 0;
    switch (op) {
    case 0x80: /* PROTO */
        if (vm_need(vm, 1, &b)) return T2V_EINPUT;
        if (b[0] < 2 || b[0] > 5) return VM_FAIL(vm, "pickle protocol %u is not supported (2..5)", b[0]);
        return T2V_OK;
    case 0x95: return vm_need(vm, 8, &b); /* FRAME: a hint only */
    case '}': return vm_push(vm, vm_new(vm, V_DICT));
    case ']': return vm_push(vm, vm_new(vm, V_LIST));
    case ')': return vm_push(vm, vm_new(vm, V_TUPLE));
    case 'N': return vm_push(vm, vm_new(vm, V_NONE));
    case 0x88: case 0x89: {
        Val *v = vm_new(vm, V_BOOL);
        if (v) v->i = op == 0x88;
        return vm_push(vm, v);
    }
    case '(':
        if (vm->nmarks == PTH_MAX_MARKS) return VM_FAIL(vm, "more than %d nested MARKs", PTH_MAX_MARKS);
        vm->marks[vm->nmarks++] = vm->sp;
        return T2V_OK;
    case 'X': return vm_need(vm, 4, &b) ? T2V_EINPUT : op_string(vm, rd_u32le(b));
    case 0x8c: return vm_need(vm, 1, &b) ? T2V_EINPUT : op_string(vm, b[0]);
    case 0x8d: return vm_need(vm, 8, &b) ? T2V_EINPUT : op_string(vm, rd_u64le(b));
    case 'J': return vm_need(vm, 4, &b) ? T2V_EINPUT : push_int(vm, (int32_t)rd_u32le(b));
    case 'K': return vm_need(vm, 1, &b) ? T2V_EINPUT : push_int(vm, b[0]);
    case 'M': return vm_need(vm, 2, &b) ? T2V_EINPUT : push_int(vm, rd_u16le(b));
    case 0x8a: return op_long1(vm);
    case 't': return vm_pop_mark(vm, &start) ? T2V_EINPUT : vm_tuple_from(vm, start);
    case 0x85: case 0x86: case 0x87: {
        size_t k = op - 0x84;
        if (vm->sp - vm_floor(vm) < k) return VM_FAIL(vm, "TUPLE%zu with fewer than %zu items", k, k);
        return vm_tuple_from(vm, vm->sp - k);
    }
    case 'c': return op_global(vm);
    case 0x93: return op_stack_global(vm);
    case 'Q': return op_persid(vm);
    case 'R': return op_reduce(vm);
    case 'b': {
        Val *state = vm_pop(vm), *obj = state ? vm_top(vm) : NULL;
        if (!obj) return T2V_EINPUT;
        /* OrderedDict state (the `_metadata` of a module's state_dict) is ignored. */
        if (obj->kind != V_DICT) return VM_FAIL(vm, "BUILD on a %s (only dicts accepted)", VKIND_NAME[obj->kind]);
        return T2V_OK;
    }
    case 's':
        if (vm->sp - vm_floor(vm) < 3) return VM_FAIL(vm, "SETITEM needs a dict, a key and a value");
        return op_setitems(vm, vm->sp - 2);
    case 'u': return vm_pop_mark(vm, &start) ? T2V_EINPUT : op_setitems(vm, start);
    case 'a':
        if (vm->sp - vm_floor(vm) < 2) return VM_FAIL(vm, "APPEND needs a list and a value");
        return op_appends(vm, vm->sp - 1);
    case 'e': return vm_pop_mark(vm, &start) ? T2V_EINPUT : op_appends(vm, start);
    case 'q': return vm_need(vm, 1, &b) ? T2V_EINPUT : memo_put(vm, b[0]);
    case 'r': return vm_need(vm, 4, &b) ? T2V_EINPUT : memo_put(vm, rd_u32le(b));
    case 0x94: return memo_put(vm, vm->memo_count); /* MEMOIZE: index len(memo) */
    case 'h': return vm_need(vm, 1, &b) ? T2V_EINPUT : memo_get(vm, b[0]);
    case 'j': return vm_need(vm, 4, &b) ? T2V_EINPUT : memo_get(vm, rd_u32le(b));
    case '0': return vm_pop(vm) ? T2V_OK : T2V_EINPUT;
    case '1':
        if (vm_pop_mark(vm, &start)) return T2V_EINPUT;
        vm->sp = start;
        return T2V_OK;
    case '.':
        *result = vm_pop(vm);
        return *result ? T2V_OK : T2V_EINPUT;
    default:
        return VM_FAIL(vm, "pickle opcode 0x%02x (%s) is not used by state dicts; refusing to load", op,
                       op_name(op));
    }
}

static int vm_run(Vm *vm, Val **result) {
    *result = NULL;
    while (!*result) {
        if (vm->pos >= vm->n) return VM_FAIL(vm, "pickle ends without STOP (truncated?)");
        vm->op_pos = vm->pos;
        unsigned op = vm->p[vm->pos++];
        int rc = vm_step(vm, op, result);
        if (rc) return rc;
    }
    return T2V_OK;
}

/* ============================================================================
 * State dict -> TensorList */

static int is_contiguous(const TensorInfo *ti) {
    int64_t expect = 1;
    for (int d = ti->ndim - 1; d >= 0; d--) {
        if (ti->shape[d] == 0) return 1;
        if (ti->shape[d] != 1 && ti->stride[d] != expect) return 0;
        expect *= ti->shape[d];
    }
    return 1;
}

/* A view into the file when contiguous and aligned; otherwise an owned
 * contiguous copy gathered through the strides. */
static int make_tensor(const Val *v, const unsigned char *file, Tensor *t, const char *path,
                       const char *name, T2vError *err) {
    const TensorInfo *ti = v->ti;
    size_t es = dtype_size(v->dtype);
    const unsigned char *base = file + ti->storage->st->entry->data_off + (size_t)ti->offset * es;
    memset(t, 0, sizeof *t);
    t->dtype = v->dtype;
    t->ndim = ti->ndim;
    for (int d = 0; d < ti->ndim; d++) t->shape[d] = ti->shape[d];
    if (is_contiguous(ti) && (uintptr_t)base % es == 0) {
        t->data = (void *)base;
        return T2V_OK;
    }
    int64_t n = tensor_numel(t);
    unsigned char *out = (unsigned char *)t2v_malloc((size_t)n * es, name, err);
    if (!out) return t2v_fail(err, T2V_ERESOURCE, "%s: tensor '%s': out of memory for a contiguous copy",
                              path, name);
    int64_t idx[T2V_MAX_DIMS] = {0}, src = 0;  /* src: element offset from base */
    for (int64_t k = 0; k < n; k++) {
        memcpy(out + (size_t)k * es, base + (size_t)src * es, es);
        for (int d = ti->ndim - 1; d >= 0; d--) {  /* odometer over the index */
            src += ti->stride[d];
            if (++idx[d] < ti->shape[d]) break;
            src -= ti->stride[d] * ti->shape[d];
            idx[d] = 0;
        }
    }
    t->data = out;
    t->owned = 1;
    return T2V_OK;
}

static int cmp_str_ptr(const void *a, const void *b) {
    const Val *x = *(const Val *const *)a, *y = *(const Val *const *)b;
    return strcmp(x->s, y->s);
}

/* A distilled model's training checkpoint (CausVid, Self-Forcing) is a dict
 * whose "generator_ema" entry, or "generator" when there is none, is the
 * state dict: that entry is used and the rest is ignored (it was parsed by
 * the same restricted interpreter, so nothing in it ran). */
static const Val *distilled_entry(const Val *root, char *entry, size_t n) {
    static const char *const keys[] = {"generator_ema", "generator"};
    if (root->kind != V_DICT) return root;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i + 1 < root->n; i += 2) {
            const Val *key = root->items[i], *v = root->items[i + 1];
            if (key->kind == V_STR && key->slen == strlen(keys[k]) && !memcmp(key->s, keys[k], key->slen) &&
                v->kind == V_DICT) {
                snprintf(entry, n, "%s", keys[k]);
                return v;
            }
        }
    return root;
}

static int extract_state_dict(PthFile *p, const Val *root, T2vError *err) {
    root = distilled_entry(root, p->entry, sizeof p->entry);
    if (root->kind != V_DICT)
        return t2v_fail(err, T2V_EINPUT, "%s: the pickle holds a %s, not a state dict (dict of tensors)", p->path,
                        VKIND_NAME[root->kind]);
    size_t n = root->n / 2;
    char kb[160];
    for (size_t i = 0; i < n; i++) {
        const Val *k = root->items[2 * i], *v = root->items[2 * i + 1];
        if (k->kind != V_STR)
            return t2v_fail(err, T2V_EINPUT, "%s: state dict key %zu is a %s, not a string", p->path, i,
                            VKIND_NAME[k->kind]);
        if (v->kind != V_TENSOR)
            return t2v_fail(err, T2V_EINPUT, "%s: state dict entry '%s' is a %s, not a tensor (expected a "
                            "plain state dict; nested checkpoints such as {'state_dict': ...} are not "
                            "supported)", p->path, printable(k->s, k->slen, kb, sizeof kb),
                            VKIND_NAME[v->kind]);
    }
    const Val **keys = (const Val **)t2v_calloc(n + 1, sizeof *keys, "state dict keys", err);
    if (!keys) return T2V_ERESOURCE;
    for (size_t i = 0; i < n; i++) keys[i] = root->items[2 * i];
    qsort(keys, n, sizeof *keys, cmp_str_ptr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(keys[i - 1]->s, keys[i]->s) == 0) {
            t2v_fail(err, T2V_EINPUT, "%s: state dict key '%s' appears twice", p->path,
                     printable(keys[i]->s, keys[i]->slen, kb, sizeof kb));
            free(keys);
            return T2V_EINPUT;
        }
    free(keys);
    for (size_t i = 0; i < n; i++) {
        const Val *k = root->items[2 * i];
        Tensor t;
        int rc = make_tensor(root->items[2 * i + 1], p->map.data, &t, p->path, k->s, err);
        if (!rc) rc = tl_add(&p->tensors, k->s, &t, p->path, err);
        if (rc) {
            if (t.owned) tensor_free(&t);
            return rc;
        }
    }
    return T2V_OK;
}

/* ============================================================================
 * Open / close */

static int entry_is(const ZipEntry *e, const char *prefix, size_t pl, const char *tail) {
    size_t tl = strlen(tail);
    return e->nlen == pl + tl && memcmp(e->name, prefix, pl) == 0 && memcmp(e->name + pl, tail, tl) == 0;
}

static int pth_parse(PthFile *p, T2vError *err) {
    Zip z;
    int rc = zip_open(&z, p->path, p->map.data, p->map.size, err);
    char prefix[320];
    size_t pl = 0;
    if (!rc) {
        /* The folder of the first entry in directory order is the prefix, as
         * torch's reader does; here: the folder holding data.pkl, which must
         * be the only data.pkl. */
        const ZipEntry *pkl = NULL;
        for (int i = 0; i < z.n && !rc; i++) {
            const ZipEntry *e = &z.e[i];
            const char *slash = (const char *)memchr(e->name, '/', e->nlen);
            if (slash && (size_t)(slash - e->name) < 256 && entry_is(e, e->name, (size_t)(slash - e->name) + 1, "data.pkl")) {
                if (pkl) rc = t2v_fail(err, T2V_EINPUT, "%s: more than one data.pkl in the archive", p->path);
                pkl = e;
                pl = (size_t)(slash - e->name) + 1;
            }
        }
        if (!rc && !pkl)
            rc = t2v_fail(err, T2V_EINPUT, "%s: no <prefix>/data.pkl entry: not a torch.save checkpoint", p->path);
        if (!rc) {
            memcpy(prefix, pkl->name, pl);
            prefix[pl] = 0;
            for (int i = 0; i < z.n && !rc; i++)
                if (entry_is(&z.e[i], prefix, pl, "byteorder") &&
                    !(z.e[i].size == 6 && memcmp(p->map.data + z.e[i].data_off, "little", 6) == 0))
                    rc = t2v_fail(err, T2V_EINPUT, "%s: byteorder entry is not \"little\"; big-endian "
                                  "checkpoints are not supported", p->path);
        }
        if (!rc) {
            Vm vm;
            memset(&vm, 0, sizeof vm);
            vm.path = p->path;
            vm.p = p->map.data + pkl->data_off;
            vm.n = (size_t)pkl->size;
            vm.zip = &z;
            vm.prefix = prefix;
            vm.prefix_len = pl;
            vm.err = err;
            Val *root = NULL;
            rc = vm_run(&vm, &root);
            if (!rc) rc = extract_state_dict(p, root, err);
            vm_free(&vm);
        }
    }
    free(z.e);
    return rc;
}

static int pth_start(PthFile *p, const char *name, T2vError *err) {
    p->path = dup_mem(name, strlen(name));
    if (!p->path) return t2v_fail(err, T2V_ERESOURCE, "out of memory opening %s", name);
    return T2V_OK;
}

int pth_open(PthFile *p, const char *path, T2vError *err) {
    memset(p, 0, sizeof *p);
    int rc = pth_start(p, path, err);
    if (!rc) rc = platform_map_file(&p->map, path, err);
    if (!rc) rc = pth_parse(p, err);
    if (rc) pth_close(p);
    return rc;
}

int pth_open_mem(PthFile *p, const void *data, size_t n, const char *name, T2vError *err) {
    memset(p, 0, sizeof *p);
    p->borrowed = 1;
    p->map.data = (const unsigned char *)data;
    p->map.size = n;
    int rc = pth_start(p, name, err);
    if (!rc) rc = pth_parse(p, err);
    if (rc) pth_close(p);
    return rc;
}

void pth_close(PthFile *p) {
    tl_free(&p->tensors);
    if (!p->borrowed && p->map.data) platform_unmap_file(&p->map);
    free(p->path);
    memset(p, 0, sizeof *p);
}
