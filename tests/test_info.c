/*
 * test_info.c: `t2v info` and `t2v generate --trace` (docs/ARCHITECTURE.md).
 *
 *  1. The tensor layouts ref/app/cost.c writes from a config (desc_dit,
 *     desc_t5, desc_vae: each stage's own *_tensor_specs) equal, name by
 *     name, the checkpoints of golden/models/tiny (written by
 *     tools/write_tiny_model.py, independently of ref/).
 *  2. `t2v info --config` for the official 1.3B and 14B configs prints the
 *     parameter and tensor counts of docs/MODEL.md 1.2, 4.1 and 5.4, the token
 *     counts of docs/MODEL.md 1.3, and a VAE output of [3, 81, H, W].
 *  3. The summary table of docs/ARCHITECTURE.md (the "| quantity |" table)
 *     equals, row by row, what `t2v info` prints for each column's command
 *     (the demo column only when models/demo exists), and every summary row
 *     printed is in the table.
 *  4. --trace on golden/models/tiny: trace.json holds the schedule of
 *     sampler_schedule, a non-zero CFG difference, and the last step's strip
 *     is exactly frames 0, 4, ... of the generated video (the last UniPC step
 *     returns the x0 prediction, docs/MODEL.md 3.2 step 7).
 *
 * The binary: $T2V_BIN, else BUILD/t2v beside BUILD/tests/test_info, else
 * ref/t2v. Run from the repository root (tests/run.sh does).
 */
#include "harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../ref/app/cost.h"
#include "../ref/lib/json.h"
#include "../ref/lib/model.h"
#include "../ref/lib/platform.h"
#include "../ref/lib/sampler.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO_WARNING
#include "stb_image.h"

#define TINY "golden/models/tiny"
#define TRACE_MAX_LATENT_TEST 8 /* TRACE_MAX_LATENT of ref/cli.h */
#define DOC "docs/ARCHITECTURE.md"

static char g_bin[1024], g_tmp[256];
static char g_out[1 << 18]; /* stdout and stderr of the last run */

static int run(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = h_vrun_bin("", g_bin, g_tmp, g_out, sizeof g_out, fmt, ap);
    va_end(ap);
    return rc;
}

/* ----------------------------------------------------------------------------
 * 1. Layouts from configs against real checkpoints */

static void same_list(const char *what, const DescList *a, const DescList *b) {
    int bad = a->n != b->n, first = -1;
    for (int i = 0; i < a->n && !bad; i++) {
        const TensorDesc *t = desc_find(b, a->t[i].name);
        if (!t || t->ndim != a->t[i].ndim || memcmp(t->shape, a->t[i].shape, sizeof t->shape)) bad = 1, first = i;
    }
    CHECK(!bad, "%s: %d tensors written from the config, %d in the file%s%s", what, a->n, b->n,
          first >= 0 ? "; first mismatch " : "", first >= 0 ? a->t[first].name : "");
}

static void test_layouts(void) {
    Model mo;
    ModelDesc m;
    T2vError e = {0, {0}};
    if (model_open(&mo, TINY, MODEL_NEED_ALL, &e) || model_desc_from_dir(&m, &mo.paths, &e)) {
        CHECK(0, "open %s: %s", TINY, e.msg);
        return;
    }
    DescList d;
    memset(&d, 0, sizeof d);
    CHECK(desc_dit(&d, &m.dit, DT_F32, &e) == 0, "desc_dit");
    same_list("DiT layout (docs/MODEL.md 2.1) vs " TINY, &d, &m.w[STAGE_DIT]);
    desc_list_free(&d);
    CHECK(desc_t5(&d, &m.t5, DT_BF16, &e) == 0, "desc_t5");
    same_list("umT5 layout (docs/MODEL.md 5.4) vs " TINY, &d, &m.w[STAGE_T5]);
    desc_list_free(&d);
    CHECK(desc_vae(&d, &m.vae, DT_F32, &e) == 0, "desc_vae");
    same_list("VAE layout (docs/MODEL.md 4.3) vs " TINY, &d, &m.w[STAGE_VAE]);
    desc_list_free(&d);
    model_desc_free(&m);
    model_close(&mo);
}

/* ----------------------------------------------------------------------------
 * Summary parsing: "  key<2+ spaces>value" lines after "summary". */

typedef struct {
    char key[64], val[128];
} Row;

static int parse_summary(const char *out, Row *rows, int max) {
    const char *p = strstr(out, "\nsummary\n");
    int n = 0;
    if (!p) return 0;
    p += 9;
    while (*p == ' ' && n < max) {
        const char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        const char *k = p + 2, *sep = strstr(k, "  ");
        if (!sep || sep > eol) break;
        const char *v = sep;
        while (*v == ' ') v++;
        snprintf(rows[n].key, sizeof rows[n].key, "%.*s", (int)(sep - k), k);
        snprintf(rows[n].val, sizeof rows[n].val, "%.*s", (int)(eol - v), v);
        n++;
        p = *eol ? eol + 1 : eol;
    }
    return n;
}

static const char *lookup(const Row *rows, int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].key, key)) return rows[i].val;
    return NULL;
}

/* ----------------------------------------------------------------------------
 * 2. The official configs against the spec's numbers */

static void expect(const Row *r, int n, const char *model, const char *key, const char *want) {
    const char *got = lookup(r, n, key);
    CHECK(got && !strcmp(got, want), "%s: %s = %s (expected %s)", model, key, got ? got : "(missing)", want);
}

static void test_official(void) {
    int rc = run("info --config golden/configs/wan2.1-t2v-1.3b.json -W 832 -H 480 -f 81 --steps 50 --cfg 5");
    Row r[64];
    int n = parse_summary(g_out, r, 64);
    CHECK(rc == 0 && n >= 20, "info --config 1.3B: exit %d, %d summary rows", rc, n);
    expect(r, n, "1.3B", "DiT parameters", "1,418,996,800"); /* docs/MODEL.md 1.2 */
    expect(r, n, "1.3B", "DiT tensors", "825");
    expect(r, n, "1.3B", "T5 parameters", "5,680,910,336"); /* docs/MODEL.md 5.4 */
    expect(r, n, "1.3B", "T5 tensors", "242");
    expect(r, n, "1.3B", "VAE parameters", "126,892,531"); /* docs/MODEL.md 4.1 */
    expect(r, n, "1.3B", "VAE tensors", "194");
    expect(r, n, "1.3B", "latent [C, T, h, w]", "[16, 21, 60, 104]"); /* docs/MODEL.md 1.3 */
    expect(r, n, "1.3B", "DiT tokens N", "32760");
    CHECK(strstr(g_out, "-> video [3, 81, 480, 832]") != NULL, "1.3B: the VAE walk ends at video [3, 81, 480, 832]");
    rc = run("info --config golden/configs/wan2.1-t2v-14b.json -W 1280 -H 720 -f 81 --steps 50 --cfg 5");
    n = parse_summary(g_out, r, 64);
    CHECK(rc == 0 && n >= 20, "info --config 14B: exit %d, %d summary rows", rc, n);
    expect(r, n, "14B", "DiT parameters", "14,288,491,584");
    expect(r, n, "14B", "DiT tensors", "1095");
    expect(r, n, "14B", "DiT tokens N", "75600");
    expect(r, n, "14B", "latent [C, T, h, w]", "[16, 21, 90, 160]");
    CHECK(strstr(g_out, "-> video [3, 81, 720, 1280]") != NULL, "14B: the VAE walk ends at video [3, 81, 720, 1280]");
}

/* ----------------------------------------------------------------------------
 * 3. The table of docs/ARCHITECTURE.md */

static int split_cells(char *line, char **cells, int max) {
    int n = 0;
    char *p = strchr(line, '|');
    while (p && n < max) {
        char *q = strchr(p + 1, '|');
        if (!q) break;
        *q = 0;
        char *a = p + 1, *b = q;
        while (*a == ' ') a++;
        while (b > a && b[-1] == ' ') *--b = 0;
        cells[n++] = a;
        p = q;
    }
    return n;
}

static const struct {
    const char *column, *args, *needs;
} COLUMNS[] = {
    {"demo", "info --model models/demo -W 64 -H 64 -f 17", "models/demo/diffusion_pytorch_model.safetensors"},
    {"T2V-1.3B", "info --config golden/configs/wan2.1-t2v-1.3b.json -W 832 -H 480 -f 81 --steps 50 --cfg 5", NULL},
    {"T2V-14B", "info --config golden/configs/wan2.1-t2v-14b.json -W 1280 -H 720 -f 81 --steps 50 --cfg 5", NULL},
};

static void test_doc_table(void) {
    size_t len;
    T2vError e;
    char *doc = read_text_file(DOC, &len, &e);
    CHECK(doc != NULL, "read %s", DOC);
    if (!doc) return;
    char *hdr = strstr(doc, "| quantity |");
    CHECK(hdr != NULL, "%s has the summary table (a row starting '| quantity |')", DOC);
    if (!hdr) { free(doc); return; }
    /* the table's lines */
    char *lines[128];
    int nl = 0;
    for (char *p = hdr; p && *p == '|' && nl < 128;) {
        char *eol = strchr(p, '\n');
        if (eol) *eol = 0;
        lines[nl++] = p;
        p = eol ? eol + 1 : NULL;
    }
    char *head[8];
    int nc = split_cells(lines[0], head, 8);
    for (size_t c = 0; c < sizeof COLUMNS / sizeof COLUMNS[0]; c++) {
        int col = -1;
        for (int k = 1; k < nc; k++)
            if (!strcmp(head[k], COLUMNS[c].column)) col = k;
        CHECK(col > 0, "%s: the table has a column '%s'", DOC, COLUMNS[c].column);
        if (col < 0) continue;
        if (COLUMNS[c].needs && !platform_file_exists(COLUMNS[c].needs)) {
            printf("skip: column %s (%s is absent)\n", COLUMNS[c].column, COLUMNS[c].needs);
            continue;
        }
        int rc = run("%s", COLUMNS[c].args);
        Row r[64];
        int n = parse_summary(g_out, r, 64), rows = 0, bad = 0, seen[64] = {0};
        CHECK(rc == 0 && n >= 20, "t2v %s: exit %d, %d summary rows", COLUMNS[c].args, rc, n);
        for (int i = 2; i < nl; i++) { /* after the header and the --- line */
            char copy[1024], *cells[8];
            snprintf(copy, sizeof copy, "%s", lines[i]);
            if (split_cells(copy, cells, 8) <= col) continue;
            rows++;
            const char *got = NULL;
            for (int k = 0; k < n && !got; k++)
                if (!strcmp(r[k].key, cells[0])) got = r[k].val, seen[k] = 1;
            if (!got || strcmp(got, cells[col])) {
                bad++;
                printf("    %s, row '%s': table '%s', t2v info '%s'\n", COLUMNS[c].column, cells[0], cells[col],
                       got ? got : "(no such row)");
            }
        }
        int missing = 0;
        for (int k = 0; k < n; k++)
            if (!seen[k]) missing++, printf("    %s: t2v info row '%s' is not in the table\n", COLUMNS[c].column, r[k].key);
        CHECK(rows >= 20 && !bad && !missing, "%s column %s: %d rows equal what `t2v %s` prints (%d differ, %d missing)",
              DOC, COLUMNS[c].column, rows, COLUMNS[c].args, bad, missing);
    }
    free(doc);
}

/* ----------------------------------------------------------------------------
 * 4. --trace */

static unsigned char *load_png(const char *path, int *w, int *h) {
    T2vError e;
    MappedFile m;
    if (platform_map_file(&m, path, &e)) return NULL;
    int c;
    unsigned char *px = stbi_load_from_memory(m.data, (int)m.size, w, h, &c, 3);
    platform_unmap_file(&m);
    return px;
}

static void test_trace(void) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/trace", g_tmp);
    int rc = run("generate --model " TINY " -p 'a red circle moving to the right' --seed 7 -o '%s/v' --format png "
                 "--trace '%s/nope/deeper' -q", g_tmp, g_tmp);
    CHECK(rc == 3 && strstr(g_out, "does not exist"),
          "--trace into a directory whose parent is missing is refused (exit %d)", rc);
    CHECK(mkdir(dir, 0755) == 0, "mkdir %s", dir);
    /* 37 frames = 10 latent frames: the strips decode only the first
     * TRACE_MAX_LATENT (8), which must equal the start of the full decode */
    rc = run("generate --model " TINY " -p 'a red circle moving to the right' --seed 7 -f 37 --steps 2 -o '%s/v' --format png "
             "--trace '%s' -q", g_tmp, dir);
    CHECK(rc == 0, "generate --trace: exit %d", rc);
    if (rc) { printf("%s\n", g_out); return; }
    char path[600];
    snprintf(path, sizeof path, "%s/trace.json", dir);
    size_t len;
    T2vError e;
    char *text = read_text_file(path, &len, &e), jerr[128];
    JsonValue *j = text ? json_parse(text, len, jerr, sizeof jerr) : NULL;
    CHECK(j != NULL, "trace.json parses");
    if (j) {
        const JsonValue *sig = json_get(j, "sigma"), *ts = json_get(j, "timestep"), *cd = json_get(j, "cfg_diff_rms");
        const JsonValue *steps = json_get(j, "steps"), *shift = json_get(j, "shift");
        int N = steps ? (int)steps->integer : 0;
        double sch[64];
        int tsch[64];
        int ok = sig && ts && cd && shift && N > 0 && N < 64 && (int)sig->len == N && (int)ts->len == N &&
                 (int)cd->len == N && sampler_schedule(N, shift->number, sch, tsch) == 0;
        for (int i = 0; ok && i < N; i++)
            ok = fabs(sig->items[i].number - sch[i]) <= 1e-8 && (int)ts->items[i].integer == tsch[i] &&
                 cd->items[i].number > 0;
        CHECK(ok, "trace.json: %d steps, sigma and timestep = sampler_schedule, CFG difference > 0 at every step", N);
        /* the last strip = frames 0, 4, ... of the video */
        snprintf(path, sizeof path, "%s/step_%03d.png", dir, N - 1);
        int sw, sh, fw, fh;
        unsigned char *strip = load_png(path, &sw, &sh);
        int same = strip != NULL, tiles = 0;
        for (int f = 0; same; f += 4, tiles++) {
            snprintf(path, sizeof path, "%s/v_%04d.png", g_tmp, f);
            if (!platform_file_exists(path)) break;
            unsigned char *fr = load_png(path, &fw, &fh);
            int x0 = 4 + tiles * (fw + 4); /* video_write_sheet: 4-pixel gaps */
            if (fr && x0 + fw > sw) { stbi_image_free(fr); break; } /* past the strip's last tile */
            same = fr && sh == fh + 8;
            for (int y = 0; same && y < fh; y++)
                same = !memcmp(strip + ((size_t)(y + 4) * sw + x0) * 3, fr + (size_t)y * fw * 3, (size_t)fw * 3);
            stbi_image_free(fr);
        }
        CHECK(same && tiles == TRACE_MAX_LATENT_TEST, "step_%03d.png (the last x0 prediction, first %d latent frames "
              "decoded alone) is frames 0, 4, ... of the video (%d tiles)", N - 1, TRACE_MAX_LATENT_TEST, tiles);
        stbi_image_free(strip);
        json_free(j);
    }
    free(text);
}

int main(int argc, char **argv) {
    h_find_bin(argc > 0 ? argv[0] : "", g_bin, sizeof g_bin);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/t2v_test_info_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        h_report(0, "mkdtemp %s", g_tmp);
        return h_finish();
    }
    if (!platform_file_exists(g_bin)) h_report(0, "t2v binary not found at %s (build it, or set T2V_BIN)", g_bin);
    else {
        test_layouts();
        test_official();
        test_doc_table();
        test_trace();
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) printf("note: could not remove %s\n", g_tmp);
    return h_finish();
}
