/*
 * sign.c: Content Credentials in the command line (sign.h).
 */
#include "sign.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#if defined(_WIN32)
#include <direct.h>
#endif


int sign_config_dir(char *out, size_t n) {
    const char *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");
    if (x && *x) return snprintf(out, n, "%s/t2v", x) < (int)n ? 0 : -1;
    if (h && *h) return snprintf(out, n, "%s/.config/t2v", h) < (int)n ? 0 : -1;
    return -1;
}

static int mkdir_private(const char *d) {
#if defined(_WIN32)
    return _mkdir(d);
#else
    return mkdir(d, 0700);
#endif
}

/* dir and its parent (e.g. ~/.config), mode 0700. */
static int make_dir(const char *dir, T2vError *err) {
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        if (!platform_is_dir(parent) && mkdir_private(parent) != 0 && errno != EEXIST)
            return t2v_fail(err, T2V_ERESOURCE, "%s: cannot create: %s", parent, strerror(errno));
    }
    if (!platform_is_dir(dir) && mkdir_private(dir) != 0 && errno != EEXIST)
        return t2v_fail(err, T2V_ERESOURCE, "%s: cannot create: %s", dir, strerror(errno));
    return T2V_OK;
}

static void paths(const char *dir, char *chain, char *key, char *root, size_t n) {
    snprintf(chain, n, "%s/%s", dir, SIGN_CHAIN_FILE);
    snprintf(key, n, "%s/%s", dir, SIGN_KEY_FILE);
    snprintf(root, n, "%s/%s", dir, SIGN_ROOT_FILE);
}

int sign_keygen(const char *dir, int force, T2vError *err) {
    char chain[4200], key[4200], root[4200];
    paths(dir, chain, key, root, sizeof chain);
    if (!force && (platform_file_exists(chain) || platform_file_exists(key)))
        return t2v_fail(err, T2V_EUSAGE, "%s: a signing key is already there; not replacing it (use --force)", dir);
    int rc = make_dir(dir, err);
    if (!rc) rc = c2pa_keygen(chain, key, root, "t2v local signer", err);
    return rc;
}

int sign_resolve(C2paSigner *s, int *on, const char *cert, const char *key, int no_sign, int quiet,
                 T2vError *err) {
    *on = 0;
    memset(s, 0, sizeof *s);
    if (no_sign) return T2V_OK;
    if (!cert && !key) cert = getenv("T2V_SIGN_CERT"), key = getenv("T2V_SIGN_KEY");
    if (cert && !*cert) cert = NULL;
    if (key && !*key) key = NULL;
    if (!cert != !key)
        return t2v_fail(err, T2V_EUSAGE, "--sign-cert and --sign-key (or T2V_SIGN_CERT and T2V_SIGN_KEY) go together");
    if (!c2pa_available()) {
        if (cert) return t2v_fail(err, T2V_EUSAGE, "this t2v was built without C2PA support (make C2PA=0): it cannot "
                                  "sign; use --no-sign");
        if (!quiet) fprintf(stderr, "t2v: note: built without C2PA support (C2PA=0): outputs are not signed\n");
        return T2V_OK;
    }
    char dir[4096], chain[4200], kp[4200], root[4200];
    if (!cert) {
        if (sign_config_dir(dir, sizeof dir))
            return t2v_fail(err, T2V_EUSAGE, "no signing key given and neither XDG_CONFIG_HOME nor HOME is set: give "
                            "--sign-cert and --sign-key, or --no-sign");
        paths(dir, chain, kp, root, sizeof chain);
        if (!platform_file_exists(chain) || !platform_file_exists(kp)) {
            int rc = sign_keygen(dir, 1, err);
            if (rc) return rc;
            fprintf(stderr, "t2v: made a local signing key and certificate chain in %s (`t2v keygen`); outputs are "
                            "signed with it: valid Content Credentials from an untrusted signer (docs/OUTPUTS.md)\n", dir);
        }
        cert = chain, key = kp;
    }
    int rc = c2pa_signer_load(s, cert, key, err);
    char why[200];
    if (!rc && c2pa_signer_check(s, why, sizeof why)) {
        c2pa_signer_free(s);
        return t2v_fail(err, T2V_EINPUT, "%s: %s; C2PA readers would call every manifest signed with it invalid "
                        "(docs/OUTPUTS.md, Keys and certificates)", cert, why);
    }
    if (!rc) *on = 1;
    return rc;
}

static int read_file(const char *path, uint8_t **buf, size_t *n, T2vError *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return t2v_fail(err, T2V_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    uint8_t *b = (uint8_t *)malloc(cap);
    while (b) {
        len += fread(b + len, 1, cap - len, f);
        if (len < cap) break;
        uint8_t *nb = (uint8_t *)realloc(b, cap * 2);
        if (!nb) { free(b); b = NULL; break; }
        b = nb, cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b) return t2v_fail(err, T2V_ERESOURCE, "%s: out of memory", path);
    if (bad) { free(b); return t2v_fail(err, T2V_EINPUT, "%s: read error", path); }
    *buf = b, *n = len;
    return T2V_OK;
}

/* path with its extension replaced (OUT.y4m <-> OUT.c2pa). */
static void swap_ext(const char *path, const char *ext, char *out, size_t n) {
    snprintf(out, n, "%s", path);
    char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (dot && (!slash || dot > slash)) *dot = 0;
    size_t l = strlen(out);
    snprintf(out + l, n - l, "%s", ext);
}

int sign_info(const char *path, int kind, FILE *out, int *invalid, T2vError *err) {
    uint8_t *a = NULL, *sc = NULL;
    size_t n = 0, sn = 0;
    char other[4200];
    const char *asset = path, *side = NULL;
    *invalid = 0;
    if (kind == 'y') swap_ext(path, ".c2pa", other, sizeof other), side = other;
    if (kind == 's') swap_ext(path, ".y4m", other, sizeof other), side = path, asset = other;
    int rc = read_file(asset, &a, &n, err);
    if (!rc && side) {
        if (!platform_file_exists(side)) {
            fprintf(out, "Content Credentials (C2PA): none (%s has no sidecar %s)\n", asset, side);
            free(a);
            return T2V_OK;
        }
        rc = read_file(side, &sc, &sn, err);
    }
    C2paResult r;
    if (!rc) rc = c2pa_verify(side ? 's' : kind, a, n, sc, sn, &r, err);
    free(a); free(sc);
    if (rc) return rc;
    if (r.verdict == C2PA_NONE) fprintf(out, "Content Credentials (C2PA): none (no manifest in %s)\n", path);
    else if (r.verdict == C2PA_UNCHECKED)
        fprintf(out, "Content Credentials (C2PA): a manifest, not checked: %s\n", r.reason);
    else if (r.verdict == C2PA_INVALID) {
        fprintf(out, "Content Credentials (C2PA): INVALID: %s [%s]\n", r.reason, r.code);
        *invalid = 1;
    } else {
        fprintf(out, "Content Credentials (C2PA): valid (signature, certificate chain, every assertion and the "
                     "hard binding check out), signer untrusted\n");
        fprintf(out, "  untrusted: t2v has no trust list; %s\n",
                r.self_issued_root ? "this chain ends in a self-signed root (e.g. a local `t2v keygen` chain), "
                                     "which vouches for nobody"
                                   : "check the signer against your own trust list");
    }
    if (r.signer[0]) fprintf(out, "  signer: %s\n  issuer: %s\n", r.signer, r.issuer);
    if (r.report) fputs(r.report, out);
    c2pa_result_free(&r);
    return T2V_OK;
}
