/* test_hostile.c: every file in tests/hostile/ (written by
 * tools/make_hostile.py) must be refused by its loader, with T2V_EINPUT and a
 * message that names the file and contains the expected substring from
 * tests/hostile/MANIFEST. Never a success, never a crash; `make asan` runs
 * this under ASan/UBSan, which also checks that refusals leak nothing. */
#include "harness.h"

#include <dirent.h>

#include "../ref/lib/gguf.h"
#include "../ref/lib/c2pa.h"
#include "../ref/lib/json.h"
#include "../ref/lib/model.h"
#include "../ref/lib/platform.h"
#include "../ref/lib/pth.h"

#define HDIR "tests/hostile/"

static void expect_refusal(const char *what, const char *path, int rc, const T2vError *err, const char *want,
                           int check_name) {
    int ok = rc == T2V_EINPUT && strstr(err->msg, want) != NULL && (!check_name || strstr(err->msg, path));
    h_report(ok, "%-44s %s refused: %.160s", path + strlen(HDIR), what, rc ? err->msg : "(ACCEPTED)");
    if (!ok)
        printf("       expected code %d and a message naming the file and containing \"%s\"; got code %d\n",
               T2V_EINPUT, want, rc);
}

static void run_pth(const char *path, const char *want) {
    PthFile p;
    T2vError err = {0, {0}};
    int rc = pth_open(&p, path, &err);
    if (rc == T2V_OK) pth_close(&p);
    expect_refusal("pth_open", path, rc, &err, want, 1);
    /* The same bytes from memory, in an exact-size heap buffer so ASan sees
     * any read past the end. */
    MappedFile m;
    if (platform_map_file(&m, path, &err)) { h_report(0, "%s: cannot read: %s", path, err.msg); return; }
    unsigned char *buf = (unsigned char *)malloc(m.size ? m.size : 1);
    if (m.size) memcpy(buf, m.data, m.size);
    memset(&err, 0, sizeof err);
    rc = pth_open_mem(&p, buf, m.size, path, &err);
    if (rc == T2V_OK) pth_close(&p);
    expect_refusal("pth_open_mem", path, rc, &err, want, 1);
    free(buf);
    platform_unmap_file(&m);
}

static void run_json(const char *path, const char *want) {
    MappedFile m;
    T2vError err = {0, {0}};
    if (platform_map_file(&m, path, &err)) { h_report(0, "%s: cannot read: %s", path, err.msg); return; }
    char *buf = (char *)malloc(m.size ? m.size : 1);
    if (m.size) memcpy(buf, m.data, m.size);
    JsonValue *v = json_parse(buf, m.size, err.msg, sizeof err.msg);
    int rc = v ? T2V_OK : T2V_EINPUT;
    json_free(v);
    expect_refusal("json_parse", path, rc, &err, want, 0); /* json_parse has no file name */
    free(buf);
    platform_unmap_file(&m);
}

/* A C2PA manifest store (c2pa) or a PNG carrying one (c2pa-png): the
 * structural check refuses it, or (built with C2PA=1) c2pa_verify calls it
 * invalid; either way the message names the file. */
static void run_c2pa(const char *path, int png, const char *want) {
    MappedFile m;
    T2vError err = {0, {0}};
    if (platform_map_file(&m, path, &err)) { h_report(0, "%s: cannot read: %s", path, err.msg); return; }
    uint8_t *buf = (uint8_t *)malloc(m.size ? m.size : 1); /* exact size: ASan sees overreads */
    if (m.size) memcpy(buf, m.data, m.size);
    const char *why = NULL;
    int rc = T2V_OK;
    if (!png && c2pa_store_check(buf, m.size, &why)) {
        rc = t2v_fail(&err, T2V_EINPUT, "%s: %s", path, why);
    } else if (!png && !c2pa_available()) {
        h_skip("%-44s c2pa_verify: built with C2PA=0", path + strlen(HDIR));
        free(buf);
        platform_unmap_file(&m);
        return;
    } else {
        C2paResult r;
        static const uint8_t asset[1] = {0};
        rc = png ? c2pa_verify('p', buf, m.size, NULL, 0, &r, &err) : c2pa_verify('s', asset, 1, buf, m.size, &r, &err);
        /* T2V_OK with a valid verdict or none is an acceptance: reported below */
        if (rc == T2V_OK && r.verdict == C2PA_INVALID) rc = t2v_fail(&err, T2V_EINPUT, "%s: %s [%s]", path, r.reason, r.code);
        c2pa_result_free(&r);
    }
    expect_refusal(png ? "c2pa_verify" : "c2pa", path, rc, &err, want, 1);
    free(buf);
    platform_unmap_file(&m);
}

static void run_one(const char *name, const char *loader, const char *want) {
    char path[1100];
    snprintf(path, sizeof path, HDIR "%s", name);
    T2vError err = {0, {0}};
    if (strcmp(loader, "st") == 0) {
        SafeTensors st;
        int rc = st_open(&st, path, &err);
        if (rc == T2V_OK) st_close(&st);
        expect_refusal("st_open", path, rc, &err, want, 1);
    } else if (strcmp(loader, "any") == 0) {
        StShards s;
        int rc = st_open_any(&s, path, &err);
        if (rc == T2V_OK) st_close_any(&s);
        expect_refusal("st_open_any", path, rc, &err, want, 1);
    } else if (strcmp(loader, "pth") == 0) {
        run_pth(path, want);
    } else if (strcmp(loader, "json") == 0) {
        run_json(path, want);
    } else if (strcmp(loader, "gguf") == 0) { /* the reader, and through ckpt_open's magic */
        GgufFile g;
        int rc = gguf_open(&g, path, &err);
        if (rc == T2V_OK) gguf_close(&g);
        expect_refusal("gguf_open", path, rc, &err, want, 1);
        Checkpoint c;
        memset(&err, 0, sizeof err);
        rc = ckpt_open(&c, path, &err);
        if (rc == T2V_OK) ckpt_close(&c);
        expect_refusal("ckpt_open", path, rc, &err, want, 1);
    } else if (strcmp(loader, "c2pa") == 0 || strcmp(loader, "c2pa-png") == 0) {
        run_c2pa(path, loader[4] == '-', want);
    } else {
        h_report(0, "MANIFEST: unknown loader '%s' for %s", loader, name);
    }
}

/* Every top-level file of tests/hostile/ except MANIFEST is listed. */
static void check_all_listed(char (*names)[256], int n) {
    DIR *d = opendir(HDIR);
    if (!d) { h_report(0, "cannot list " HDIR); return; }
    int unlisted = 0, files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[1100];
        snprintf(path, sizeof path, HDIR "%.1000s", e->d_name);
        if (e->d_name[0] == '.' || strcmp(e->d_name, "MANIFEST") == 0 || platform_is_dir(path)) continue;
        files++;
        int found = 0;
        for (int i = 0; i < n && !found; i++) found = strcmp(names[i], e->d_name) == 0;
        if (!found) { printf("       not in MANIFEST: %s\n", e->d_name); unlisted++; }
    }
    closedir(d);
    CHECK(unlisted == 0 && files > 0, "all %d files of " HDIR " are in the MANIFEST", files);
}

int main(void) {
    FILE *f = fopen(HDIR "MANIFEST", "r");
    if (!f) {
        h_report(0, "cannot open " HDIR "MANIFEST (run tools/make_hostile.py)");
        return h_finish();
    }
    static char names[1024][256];
    int n = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) { h_report(0, "MANIFEST: bad line '%s'", line); continue; }
        *t1 = 0;
        *t2 = 0;
        if (n < 1024 && strlen(line) < sizeof names[0]) memcpy(names[n++], line, strlen(line) + 1);
        run_one(line, t1 + 1, t2 + 1);
    }
    fclose(f);
    CHECK(n >= 30, "MANIFEST lists %d hostile files (at least 30)", n);
    check_all_listed(names, n);
    return h_finish();
}
