/*
 * test_make.c: the Makefile's user targets, run as a user runs them.
 *
 *  1. `make run PROMPT=...` hands the prompt to the program byte for byte:
 *     for prompts with double quotes, '$HOME', a single quote, $(...),
 *     backquotes and a backslash, the command `make -s -n run` prints is run
 *     (T2V_BIN: the binary under test, T2V_DEMO_OUT: a temp directory, one
 *     sampling step) and the prompt in the provenance sidecar's JSON is
 *     exactly the one given.
 *  2. `make install PREFIX=TMP` puts bin/t2v and share/t2v/models/demo under
 *     TMP, and the installed t2v, run from another directory (by path and
 *     through PATH) with no --model, finds its demo model.
 *
 * Needs make and the demo model (models/demo); run from the repository root
 * (tests/run.sh does). POSIX only (tests/cross/run.sh skips it on mingw);
 * under an emulator's wrapper script only the make run part runs. The binary: $T2V_BIN if set, else BUILD/t2v where
 * this program is BUILD/tests/test_make.
 */
#include "harness.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../ref/lib/json.h"

static char g_bin[1024], g_tmp[256];

/* make without the MAKEFLAGS of a `make test` that runs this program (its
 * jobserver and its command-line variables such as SAN=1). */
#define MAKE "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES make -s"

static int sh(const char *cmd) { return h_exit_status(system(cmd)); }

/* s in single quotes for sh, each ' as '\'' */
static void shq(char *out, size_t n, const char *s) {
    size_t k = 0;
    if (k + 1 < n) out[k++] = '\'';
    for (; *s && k + 5 < n; s++) {
        if (*s == '\'') memcpy(out + k, "'\\''", 4), k += 4;
        else out[k++] = *s;
    }
    if (k + 1 < n) out[k++] = '\'';
    out[k] = 0;
}

static char *slurp(const char *path) { return h_slurp(path, NULL); }

/* A parameter of a provenance sidecar (assertions[0].data.actions[0].parameters.KEY),
 * copied to out; 0 when absent. */
static int sidecar_param(const char *path, const char *key, char *out, size_t n) {
    char *text = slurp(path), err[256];
    if (!text) return 0;
    JsonValue *root = json_parse(text, strlen(text), err, sizeof err);
    free(text);
    const JsonValue *a = root ? json_get(root, "assertions") : NULL;
    const JsonValue *d = a && a->type == JSON_ARRAY && a->len ? json_get(&a->items[0], "data") : NULL;
    const JsonValue *acts = d ? json_get(d, "actions") : NULL;
    const JsonValue *p = acts && acts->type == JSON_ARRAY && acts->len ? json_get(&acts->items[0], "parameters")
                                                                        : NULL;
    const JsonValue *v = p ? json_get(p, key) : NULL;
    int ok = v && v->type == JSON_STRING;
    if (ok) snprintf(out, n, "%s", v->string);
    json_free(root);
    return ok;
}

static void test_make_run(void) {
    static const char *const prompts[] = {
        "a red \"circle\"",
        "a $HOME circle",
        "it's a $(shell echo no) `echo no` circle \\ with $$ and %s",
    };
    for (int i = 0; i < 3; i++) {
        char q[512], cmd[4096], line[1024] = "", out[512], got[512] = "";
        shq(q, sizeof q, prompts[i]);
        snprintf(cmd, sizeof cmd, MAKE " -n run PROMPT=%s 2>&1", q);
        FILE *p = popen(cmd, "r");
        char buf[1024];
        while (p && fgets(buf, sizeof buf, p))
            if (strstr(buf, "tools/run_demo.sh")) snprintf(line, sizeof line, "%s", buf);
        if (p) pclose(p);
        line[strcspn(line, "\n")] = 0;
        snprintf(out, sizeof out, "%s/run%d", g_tmp, i);
        snprintf(cmd, sizeof cmd, "T2V_BIN='%s' T2V_DEMO_OUT='%s' %s --steps 1 --format png -q >'%s.log' 2>&1", g_bin,
                 out, line, out);
        int rc = *line ? sh(cmd) : -1;
        char json[600];
        snprintf(json, sizeof json, "%s.json", out);
        int found = sidecar_param(json, "prompt", got, sizeof got);
        CHECK(rc == 0 && found && !strcmp(got, prompts[i]),
              "make run PROMPT=%s: exit %d, the sidecar's prompt is [%s], the one given", q, rc, got);
        if (!*line || rc) printf("       make -n printed: %s\n", *line ? line : "(no run_demo.sh line)");
    }
}

static void test_make_install(void) {
    char pfx[400], cmd[3000], path[600], other[400];
    snprintf(pfx, sizeof pfx, "%s/prefix dir", g_tmp); /* a space in PREFIX */
    snprintf(cmd, sizeof cmd, MAKE " install 'PREFIX=%s' 'INSTALL_BIN=%s' >'%s/install.log' 2>&1", pfx, g_bin, g_tmp);
    int rc = sh(cmd);
    snprintf(path, sizeof path, "%s/share/t2v/models/demo/config.json", pfx);
    int has_model = access(path, F_OK) == 0;
    snprintf(path, sizeof path, "%s/share/t2v/models/demo/google/umt5-xxl/spiece.model", pfx);
    has_model &= access(path, F_OK) == 0;
    snprintf(path, sizeof path, "%s/bin/t2v", pfx);
    CHECK(rc == 0 && access(path, X_OK) == 0 && has_model,
          "make install PREFIX=TMP: exit %d, TMP/bin/t2v and TMP/share/t2v/models/demo", rc);
    if (rc) {
        snprintf(cmd, sizeof cmd, "cat '%s/install.log'", g_tmp);
        sh(cmd);
    }

    /* from another directory, no --model: the installed demo model */
    snprintf(other, sizeof other, "%s/elsewhere", g_tmp);
    mkdir(other, 0755);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' -p 'a red circle moving to the right' -o x --steps 2 -q "
             ">run.log 2>&1", other, path);
    rc = sh(cmd);
    char json[600], model[600] = "", want[600];
    snprintf(json, sizeof json, "%s/x.json", other);
    sidecar_param(json, "model", model, sizeof model);
    snprintf(want, sizeof want, "%s/share/t2v/models/demo", pfx);
    char *real = realpath(want, NULL);
    size_t k = strlen(model);
    if (k > 1 && model[k - 1] == '/') model[k - 1] = 0;
    CHECK(rc == 0 && real && !strcmp(model, real),
          "installed t2v run from another directory without --model: exit %d, model %s", rc, model);
    if (rc) {
        snprintf(cmd, sizeof cmd, "cat '%s/run.log'", other);
        sh(cmd);
    }
    /* and found through PATH (argv[0] = "t2v") */
    snprintf(cmd, sizeof cmd, "cd '%s' && PATH='%s/bin':\"$PATH\" t2v -p 'a blue square' -o y --steps 1 -q "
             "--format png >run.log 2>&1", other, pfx);
    rc = sh(cmd);
    snprintf(json, sizeof json, "%s/y.json", other);
    model[0] = 0;
    sidecar_param(json, "model", model, sizeof model);
    k = strlen(model);
    if (k > 1 && model[k - 1] == '/') model[k - 1] = 0;
    CHECK(rc == 0 && real && !strcmp(model, real), "... run as `t2v` through PATH: exit %d, model %s", rc, model);
    free(real);
}

int main(int argc, char **argv) {
    const char *env = getenv("T2V_BIN");
    char rel[1024];
    if (env && *env) {
        snprintf(rel, sizeof rel, "%s", env);
    } else {
        char self[900];
        snprintf(self, sizeof self, "%s", argc > 0 ? argv[0] : "");
        char *s = strrchr(self, '/');
        if (s) *s = 0;
        else strcpy(self, ".");
        snprintf(rel, sizeof rel, "%s/../t2v", self);
    }
    char *abs = realpath(rel, NULL); /* the tests run it from other directories */
    if (!abs || access(abs, X_OK) != 0) {
        h_report(0, "t2v binary not found at %s (build it, or set T2V_BIN)", rel);
        free(abs);
        return h_finish();
    }
    snprintf(g_bin, sizeof g_bin, "%s", abs);
    free(abs);
    if (access("models/demo/config.json", F_OK) || access("Makefile", F_OK) || sh("make --version >/dev/null 2>&1")) {
        printf("-- skipped: needs make and models/demo (run from the repository root)\n");
        return h_finish();
    }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/t2v-make-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        h_report(0, "mkdtemp failed");
        return h_finish();
    }
    printf("-- binary %s, temp dir %s\n", g_bin, g_tmp);
    test_make_run();
    /* an emulator's wrapper script (tests/cross/run.sh) would be installed
     * instead of the program, and would find the model beside the build */
    FILE *f = fopen(g_bin, "rb");
    char magic[2] = {0, 0};
    if (f) {
        if (fread(magic, 1, 2, f) != 2) magic[0] = 0;
        fclose(f);
    }
    if (magic[0] == '#' && magic[1] == '!') printf("-- make install skipped: %s is a script, not the program\n", g_bin);
    else test_make_install();
    if (h_failed == 0) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
        sh(cmd);
    } else {
        printf("-- kept %s for inspection\n", g_tmp);
    }
    return h_finish();
}
