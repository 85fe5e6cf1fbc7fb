/* cli_info.c: `t2v compare`, `t2v info`, `t2v tokenize`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "t2v.h"
#include "video.h"

/* ----------------------------------------------------------------------------
 * compare: per-tensor error table of A against reference B. */

typedef struct {
    char pattern[128];
    double tol, min_cos;
} TolRule;

/* '*' matches any run of characters. */
static int glob_match(const char *p, const char *s) {
    if (!*p) return !*s;
    if (*p == '*') return glob_match(p + 1, s) || (*s && glob_match(p, s + 1));
    return *s == *p && glob_match(p + 1, s + 1);
}

/* Tolerance file: lines "PATTERN TOL MIN_COS", '#' comments; first match wins. */
static int read_tol_file(const char *path, TolRule *rules, int max, int *n, T2vError *err) {
    FILE *f = fopen(path, "r");
    if (!f) return t2v_fail(err, T2V_EINPUT, "%s: cannot open tolerance file", path);
    char line[512];
    int lineno = 0;
    *n = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *h = strchr(line, '#');
        if (h) *h = 0;
        TolRule r;
        char extra[8];
        int k = sscanf(line, "%127s %lf %lf %7s", r.pattern, &r.tol, &r.min_cos, extra);
        if (k <= 0) continue;
        if (k != 3 || *n >= max) {
            fclose(f);
            return t2v_fail(err, T2V_EINPUT, "%s:%d: expected 'PATTERN TOL MIN_COS'", path, lineno);
        }
        rules[(*n)++] = r;
    }
    fclose(f);
    return T2V_OK;
}

int cmd_compare(int argc, char **argv, TempFiles *temps) {
    (void)temps;
    const char *a = NULL, *b = NULL, *tolfile = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--tol") && i + 1 < argc) tolfile = argv[++i];
        else if (argv[i][0] == '-') return usage_error("compare: unknown option '%s'", argv[i]);
        else if (!a) a = argv[i];
        else if (!b) b = argv[i];
        else return usage_error("compare: unexpected argument '%s'", argv[i]);
    }
    if (!a || !b) return usage_error("%s", "compare: usage: t2v compare A.safetensors B.safetensors [--tol FILE]");
    TolRule rules[64];
    int nrules = 0;
    T2vError e = {0, {0}};
    if (tolfile && read_tol_file(tolfile, rules, 64, &nrules, &e)) return die(&e);
    SafeTensors sa, sb;
    if (st_open(&sa, a, &e)) return die(&e);
    if (st_open(&sb, b, &e)) { st_close(&sa); return die(&e); }
    printf("%-28s %-18s %12s %10s %13s  %s\n", "tensor", "shape", "max|a-b|", "rel", "cosine", "status");
    int bad = 0, compared = 0;
    for (int i = 0; i < sa.tensors.n; i++) {
        const char *name = sa.tensors.names[i];
        const Tensor *ta = &sa.tensors.tensors[i], *tb = tl_find(&sb.tensors, name);
        char shp[64];
        shape_str(ta, shp, sizeof shp);
        if (!tb) { printf("%-28s %-18s %s\n", name, shp, "only in A"); continue; }
        int same = ta->ndim == tb->ndim;
        for (int d = 0; same && d < ta->ndim; d++) same = ta->shape[d] == tb->shape[d];
        if (!same) { printf("%-28s %-18s shape differs in B: NOT OK\n", name, shp); bad++; continue; }
        double tol = 1e-4, min_cos = 0.99999;
        for (int r = 0; r < nrules; r++)
            if (glob_match(rules[r].pattern, name)) { tol = rules[r].tol; min_cos = rules[r].min_cos; break; }
        float *x = tensor_to_f32_alloc(ta, &e), *y = tensor_to_f32_alloc(tb, &e);
        if (!x || !y) { free(x); free(y); st_close(&sa); st_close(&sb); return die(&e); }
        ErrStats s;
        err_stats(&s, x, y, tensor_numel(ta), tol);
        int ok = err_ok(&s, tol, min_cos);
        printf("%-28s %-18s %12.4e %10.3e %13.10f  %s (tol %.0e)\n", name, shp, s.max_abs, s.rel, s.cosine,
               ok ? "ok" : "NOT OK", tol);
        if (!ok && s.first_bad >= 0)
            printf("    first difference at [%lld]: %.9g vs %.9g\n", (long long)s.first_bad, x[s.first_bad],
                   y[s.first_bad]);
        bad += !ok;
        compared++;
        free(x);
        free(y);
    }
    for (int i = 0; i < sb.tensors.n; i++)
        if (!tl_find(&sa.tensors, sb.tensors.names[i])) printf("%-28s only in B\n", sb.tensors.names[i]);
    printf("%d compared, %d over tolerance\n", compared, bad);
    st_close(&sa);
    st_close(&sb);
    return bad ? 1 : 0;
}

/* ----------------------------------------------------------------------------
 * info */

static void print_tensor_list(const TensorList *tl) {
    int64_t params = 0;
    size_t bytes[DT_COUNT] = {0};
    for (int i = 0; i < tl->n; i++) {
        const Tensor *t = &tl->tensors[i];
        char shp[96];
        printf("  %-56s %-5s %s\n", tl->names[i], dtype_name(t->dtype), shape_str(t, shp, sizeof shp));
        params += tensor_numel(t);
        bytes[t->dtype] += tensor_nbytes(t);
    }
    printf("  %d tensors, %lld parameters", tl->n, (long long)params);
    for (int d = 0; d < DT_COUNT; d++)
        if (bytes[d]) printf(", %.2f MB %s", (double)bytes[d] / 1e6, dtype_name((DType)d));
    printf("\n");
}

static int info_file(const char *path) {
    T2vError e = {0, {0}};
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".png")) {
        char *text = NULL;
        if (video_read_provenance(path, &text, &e)) return die(&e);
        printf("%s: provenance\n%s", path, text);
        free(text);
        return 0;
    }
    Checkpoint c;
    if (ckpt_open(&c, path, &e)) return die(&e);
    printf("%s (%s)\n", path, c.is_pth ? "PyTorch zip checkpoint" : "safetensors");
    print_tensor_list(c.tensors);
    if (!c.is_pth && c.st.nfiles == 1)
        for (int i = 0; i < c.st.files[0].nmeta; i++)
            printf("  metadata %s = %s\n", c.st.files[0].meta_keys[i], c.st.files[0].meta_vals[i]);
    ckpt_close(&c);
    return 0;
}

int cmd_info(int argc, char **argv, TempFiles *temps) {
    (void)temps;
    if (argc == 1 && argv[0][0] != '-' && !platform_is_dir(argv[0])) return info_file(argv[0]);
    if (argc >= 1) return cmd_info_model(argc, argv); /* model tree, FLOPs, memory: cli_cost.c */
    return usage_error("%s", "info: usage: t2v info (--model DIR | --config config.json) [-W N -H N -f N] | "
                             "t2v info FILE.safetensors | FILE.pth | FILE.png");
}

/* ----------------------------------------------------------------------------
 * tokenize */

int cmd_tokenize(int argc, char **argv, TempFiles *temps) {
    (void)temps;
    const char *model = NULL, *file = NULL;
    int pieces = 0, raw = 0, first_text = -1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) file = argv[++i];
        else if (!strcmp(argv[i], "--pieces")) pieces = 1;
        else if (!strcmp(argv[i], "--raw")) raw = 1;
        else if (!strcmp(argv[i], "--")) { first_text = i + 1; break; }
        else if (argv[i][0] == '-' && argv[i][1]) return usage_error("tokenize: unknown option '%s'", argv[i]);
        else { first_text = i; break; }
    }
    if (!model == !file) return usage_error("%s", "tokenize: give exactly one of --model DIR or --tokenizer FILE");
    if (first_text < 0 || first_text >= argc) return usage_error("%s", "tokenize: no TEXT given");
    T2vError e = {0, {0}};
    Model m;
    memset(&m, 0, sizeof m);
    if (model && model_open(&m, model, MODEL_NEED_TOKENIZER, &e)) return die(&e);
    /* the model's text length (config.json), as generate cuts; else umT5's 512 */
    int text_len = m.has_dit ? m.dit.text_len : 512;
    Tokenizer tk;
    int rc = model ? model_load_tokenizer(&m, &tk, &e) : tokenizer_load(&tk, file, &e);
    model_close(&m);
    if (rc) return die(&e);
    for (int i = first_text; i < argc && !rc; i++) {
        int32_t *ids = NULL;
        int n = 0;
        rc = raw ? tokenizer_encode(&tk, argv[i], strlen(argv[i]), &ids, &n, &e)
                 : tokenizer_encode_wan(&tk, argv[i], text_len, &ids, &n, &e);
        if (rc) break;
        for (int k = 0; k < n; k++) {
            if (pieces) printf(k ? " %s" : "%s", tokenizer_piece(&tk, ids[k]));
            else printf(k ? " %d" : "%d", (int)ids[k]);
        }
        printf("\n");
        free(ids);
    }
    tokenizer_free(&tk);
    return rc ? die(&e) : 0;
}
