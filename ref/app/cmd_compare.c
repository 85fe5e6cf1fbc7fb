/* cmd_compare.c: `t2v compare`, `t2v info FILE`, `t2v tokenize`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sign.h"
#include "t2v.h"
#include "verify.h"
#include "video.h"

/* ----------------------------------------------------------------------------
 * compare: per-tensor error table of A against reference B. */

/* '*' matches any run of characters. Iterative (backtracking to the last
 * '*' only), so a long pattern cannot exhaust the stack or take exponential
 * time. */
int tol_glob_match(const char *p, const char *s) {
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') star = p++, resume = s;
        else if (*p == *s) p++, s++;
        else if (star) p = star + 1, s = ++resume;
        else return 0;
    }
    while (*p == '*') p++;
    return !*p;
}

int tol_parse(const char *text, size_t n, const char *name, TolRule *rules, int max, int *nrules, T2vError *err) {
    *nrules = 0;
    int lineno = 0;
    for (size_t pos = 0; pos < n;) {
        size_t end = pos;
        while (end < n && text[end] != '\n') end++;
        lineno++;
        char line[512];
        size_t len = end - pos;
        if (len >= sizeof line)
            return t2v_fail(err, T2V_EINPUT, "%s:%d: line longer than %d bytes", name, lineno, (int)sizeof line - 1);
        memcpy(line, text + pos, len);
        line[len] = 0;
        pos = end + 1;
        if (strlen(line) != len) return t2v_fail(err, T2V_EINPUT, "%s:%d: NUL byte in the line", name, lineno);
        char *h = strchr(line, '#');
        if (h) *h = 0;
        TolRule r;
        char extra[8];
        int k = sscanf(line, "%127s %lf %lf %7s", r.pattern, &r.tol, &r.min_cos, extra);
        if (k <= 0) continue;
        if (k != 3 || !(r.tol >= 0) || !(r.min_cos >= -1 && r.min_cos <= 1))
            return t2v_fail(err, T2V_EINPUT, "%s:%d: expected 'PATTERN TOL MIN_COS' (TOL >= 0, MIN_COS in [-1, 1])",
                            name, lineno);
        if (*nrules >= max) return t2v_fail(err, T2V_EINPUT, "%s:%d: more than %d rules", name, lineno, max);
        rules[(*nrules)++] = r;
    }
    return T2V_OK;
}

/* Reads and parses a tolerance file (at most 1 MB). */
static int read_tol_file(const char *path, TolRule *rules, int max, int *n, T2vError *err) {
    enum { LIMIT = 1 << 20 };
    FILE *f = fopen(path, "rb");
    if (!f) return t2v_fail(err, T2V_EINPUT, "%s: cannot open tolerance file", path);
    char *text = (char *)t2v_malloc(LIMIT + 1, "tolerance file", err);
    size_t len = text ? fread(text, 1, LIMIT + 1, f) : 0;
    fclose(f);
    if (!text) return T2V_ERESOURCE;
    int rc = len > LIMIT ? t2v_fail(err, T2V_EINPUT, "%s: larger than 1 MB: not a tolerance file", path)
                         : tol_parse(text, len, path, rules, max, n, err);
    free(text);
    return rc;
}

/* A tensor of A against B's of the same name: one table row; 1 when within
 * tolerance. */
static int compare_one(const char *name, const Tensor *ta, const Tensor *tb, const TolRule *rules, int nrules,
                       T2vError *err) {
    char shp[64];
    shape_str(ta, shp, sizeof shp);
    int same = ta->ndim == tb->ndim;
    for (int d = 0; same && d < ta->ndim; d++) same = ta->shape[d] == tb->shape[d];
    if (!same) {
        char shb[64];
        printf("%-28s %-18s shape differs in B (%s): NOT OK\n", name, shp, shape_str(tb, shb, sizeof shb));
        return 0;
    }
    double tol = 1e-4, min_cos = 0.99999;
    for (int r = 0; r < nrules; r++)
        if (tol_glob_match(rules[r].pattern, name)) { tol = rules[r].tol; min_cos = rules[r].min_cos; break; }
    float *x = tensor_to_f32_alloc(ta, err), *y = x ? tensor_to_f32_alloc(tb, err) : NULL;
    if (!x || !y) {
        free(x);
        return -1;
    }
    ErrStats s;
    err_stats(&s, x, y, tensor_numel(ta), tol);
    int ok = err_ok(&s, tol, min_cos) || (tol == 0 && !s.nonfinite && s.max_abs == 0); /* exact rules */
    printf("%-28s %-18s %12.4e %10.3e %13.10f  %s (tol %.0e", name, shp, s.max_abs, s.rel, s.cosine,
           ok ? "ok" : "NOT OK", tol);
    if (min_cos < 1) printf(", 1-cos %.1e <= %.1e)\n", 1.0 - s.cosine, 1.0 - min_cos);
    else printf(", 1-cos <= 0)\n");
    if (!ok && s.first_bad >= 0)
        printf("    first difference at [%lld]: %.9g vs %.9g\n", (long long)s.first_bad, x[s.first_bad], y[s.first_bad]);
    free(x);
    free(y);
    return ok;
}

int cmd_compare(int argc, char **argv, App *app) {
    static const char *const value_opts[] = {"--tol", "--profile", "--profiles", NULL};
    const char *a = NULL, *b = NULL, *tolfile = NULL, *profile = NULL, *profiles = app->tolerances;
    int subset = 0;
    for (int i = 0; i < argc; i++) {
        if (is_help_opt(argv[i])) return command_help("compare");
        if (!strcmp(argv[i], "--tol") && i + 1 < argc) tolfile = argv[++i];
        else if (!strcmp(argv[i], "--profile") && i + 1 < argc) profile = argv[++i];
        else if (!strcmp(argv[i], "--profiles") && i + 1 < argc) profiles = argv[++i];
        else if (!strcmp(argv[i], "--subset")) subset = 1;
        else if (argv[i][0] == '-' && argv[i][1]) return bad_option("compare", argv[i], value_opts);
        else if (!a) a = argv[i];
        else if (!b) b = argv[i];
        else return usage_error("compare: unexpected argument '%s'", argv[i]);
    }
    if (!a || !b)
        return usage_error("%s", "compare: usage: t2v compare A.safetensors B.safetensors [--tol FILE | --profile "
                                 "fp32|tf32|bf16|fp16] [--subset]");
    if (tolfile && profile) return usage_error("%s", "compare: give --tol FILE or --profile NAME, not both");
    TolRule rules[64];
    int nrules = 0;
    T2vError e = {0, {0}};
    if (tolfile && read_tol_file(tolfile, rules, 64, &nrules, &e)) return die(&e);
    if (profile && profile_load(profiles, profile, rules, 64, &nrules, NULL, 0, NULL, &e)) return die(&e);
    if (profile) printf("profile %s (%s)\n", profile, profiles);
    SafeTensors sa, sb;
    if (st_open(&sa, a, &e)) return die(&e);
    if (st_open(&sb, b, &e)) { st_close(&sa); return die(&e); }
    printf("%-28s %-18s %12s %10s %13s  %s\n", "tensor", "shape", "max|a-b|", "rel", "cosine", "status");
    /* every tensor of A present in B is compared (a shape mismatch is a
     * comparison that failed), so "over tolerance" <= "compared" */
    int bad = 0, compared = 0, missing = 0, rc = 0;
    for (int i = 0; i < sa.tensors.n && !rc; i++) {
        const char *name = sa.tensors.names[i];
        const Tensor *ta = &sa.tensors.tensors[i], *tb = tl_find(&sb.tensors, name);
        if (!tb) {
            char shp[64];
            printf("%-28s %-18s only in A: %s\n", name, shape_str(ta, shp, sizeof shp),
                   subset ? "skipped (--subset)" : "NOT OK (--subset allows it)");
            missing++;
            continue;
        }
        int ok = compare_one(name, ta, tb, rules, nrules, &e);
        if (ok < 0) rc = e.code ? e.code : T2V_ERESOURCE;
        else compared++, bad += !ok;
    }
    for (int i = 0; i < sb.tensors.n && !rc; i++)
        if (!tl_find(&sa.tensors, sb.tensors.names[i])) printf("%-28s only in B\n", sb.tensors.names[i]);
    st_close(&sa);
    st_close(&sb);
    if (rc) return die(&e);
    printf("%d compared, %d over tolerance", compared, bad);
    if (missing) printf(", %d of A not in B%s", missing, subset ? " (skipped)" : "");
    printf("\n");
    if (!compared) fprintf(stderr, "t2v: compare: no tensor of %s is in %s: nothing was compared\n", a, b);
    else if (missing && !subset)
        fprintf(stderr, "t2v: compare: %d tensor%s of %s %s not in %s (--subset skips them)\n", missing,
                missing > 1 ? "s" : "", a, missing > 1 ? "are" : "is", b);
    return bad || !compared || (missing && !subset) ? 1 : 0;
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

/* A GGUF file's header facts, its tensors by type (count, bytes) and its
 * metadata; quantized types are computed in place (docs/GGUF.md). */
static void print_gguf(const GgufFile *g) {
    int count[DT_COUNT] = {0};
    size_t bytes[DT_COUNT] = {0};
    const char *arch = gguf_meta(g, "general.architecture");
    for (int i = 0; i < g->tensors.n; i++) {
        count[g->tensors.tensors[i].dtype]++;
        bytes[g->tensors.tensors[i].dtype] += tensor_nbytes(&g->tensors.tensors[i]);
    }
    printf("  GGUF version %u, %d tensors, alignment %u, data section at byte %llu, architecture %s\n", g->version,
           g->tensors.n, g->alignment, (unsigned long long)g->data_offset, arch ? arch : "(none)");
    int quant = 0;
    for (int d = 0; d < DT_COUNT; d++)
        if (count[d]) {
            printf("  %-5s %5d tensors %12.2f MB\n", dtype_name((DType)d), count[d], (double)bytes[d] / 1e6);
            quant += dtype_is_quant((DType)d) ? count[d] : 0;
        }
    if (quant)
        printf("  %d quantized tensors: they stay quantized in memory, decoded block by block where used\n", quant);
    for (int i = 0; i < g->nkv; i++)
        printf("  metadata %s (%s) = %s\n", g->kv[i].key, gguf_type_name(g->kv[i].type),
               g->kv[i].text ? g->kv[i].text : "");
}

/* "layout: DiT, diffusers ..." or "LoRA: N keys (...)": the naming
 * convention names.h / lora.h detect, as --dit/--t5/--vae/--lora read it. */
static void print_layout(const TensorList *tl, const char *path) {
    int per[3], n = lora_count_keys(tl, per);
    WeightRole role;
    if (n) {
        printf("  LoRA: %d keys (%d original/ComfyUI, %d diffusers/PEFT, %d kohya); apply with --lora %s[:SCALE]\n",
               n, per[LORA_ORIGINAL], per[LORA_DIFFUSERS], per[LORA_KOHYA], path);
    } else if (names_guess_role(tl, &role)) {
        TensorList mapped;
        char conv[128];
        T2vError e = {0, {0}};
        if (names_to_official(&mapped, tl, role, path, conv, sizeof conv, &e)) {
            printf("  layout: %s, unreadable: %s\n", role_name(role), e.msg);
        } else {
            printf("  layout: %s (%s); load with --%s %s\n", role_name(role), conv,
                   role == ROLE_DIT ? "dit" : role == ROLE_T5 ? "t5" : "vae", path);
            tl_free(&mapped);
        }
    }
}

/* What info FILE reads, told apart by content before any parser sees it. */
typedef enum { FILE_EMPTY, FILE_PNG, FILE_ZIP, FILE_PICKLE, FILE_SAFETENSORS, FILE_ST_INDEX, FILE_JSON, FILE_MP4,
               FILE_Y4M, FILE_C2PA, FILE_TEXT, FILE_OTHER, FILE_GGUF } FileKind;

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* head: the first bytes of the file (nhead of them), size: its length. */
static FileKind file_kind(const char *path, const unsigned char *head, size_t nhead, unsigned long long size) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size == 0) return FILE_EMPTY;
    if (nhead >= 8 && !memcmp(head, png, 8)) return FILE_PNG;
    if (nhead >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return FILE_ZIP;
    if (gguf_magic(head, nhead)) return FILE_GGUF;
    if (nhead >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) return FILE_PICKLE; /* pickle PROTO */
    if (nhead >= 9 && head[8] == '{') { /* safetensors: u64 LE header length, then the JSON header */
        unsigned long long hl = 0;
        for (int i = 7; i >= 0; i--) hl = hl << 8 | head[i];
        if (hl >= 2 && hl <= size - 8) return FILE_SAFETENSORS;
    }
    size_t i = 0;
    while (i < nhead && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n')) i++;
    if (i < nhead && head[i] == '{' && ends_with(path, ".json"))
        return ends_with(path, ".safetensors.index.json") ? FILE_ST_INDEX : FILE_JSON;
    if (nhead >= 8 && !memcmp(head + 4, "ftyp", 4)) return FILE_MP4;
    if (nhead >= 9 && !memcmp(head, "YUV4MPEG2", 9)) return FILE_Y4M;
    if (nhead >= 8 && !memcmp(head + 4, "jumb", 4) && ends_with(path, ".c2pa")) return FILE_C2PA;
    int text = 1;
    for (i = 0; i < nhead && text; i++)
        text = head[i] >= 0x20 || head[i] == '\n' || head[i] == '\r' || head[i] == '\t' || head[i] >= 0x80;
    return text ? FILE_TEXT : FILE_OTHER;
}

static int info_file(const char *path) {
    T2vError e = {0, {0}};
    static const char *const accepts =
        "t2v info reads a .safetensors file (or a sharded .safetensors.index.json), a PyTorch .pth (zip) "
        "checkpoint, a GGUF file, a PNG, MP4 or Y4M written by t2v (its Content Credentials and provenance), "
        "a .c2pa sidecar, or a model directory";
    unsigned char head[64];
    size_t nhead = 0;
    unsigned long long size = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
        nhead = fread(head, 1, sizeof head, f);
        if (!fseek(f, 0, SEEK_END)) {
            long end = ftell(f);
            size = end > 0 ? (unsigned long long)end : 0;
        }
        fclose(f);
    }
    if (!f) {
        t2v_fail(&e, T2V_EINPUT, "%s: cannot open", path);
        return die(&e);
    }
    if (size < nhead) size = nhead; /* a pipe or a file that ftell cannot size */
    FileKind kind = file_kind(path, head, nhead, size);
    switch (kind) {
    case FILE_PNG: {
        char *text = NULL;
        int invalid = 0;
        printf("%s\n", path);
        if (sign_info(path, 'p', stdout, &invalid, &e)) return die(&e);
        fflush(stdout);
        if (video_read_provenance(path, &text, &e)) return die(&e); /* e.g. a chunk's CRC: after the verdict */
        printf("provenance (unsigned text chunks)\n%s", text);
        free(text);
        return invalid ? T2V_EINPUT : 0;
    }
    case FILE_MP4: case FILE_Y4M: case FILE_C2PA: {
        int invalid = 0, k = kind == FILE_MP4 ? 'm' : kind == FILE_Y4M ? 'y' : 's';
        printf("%s\n", path);
        if (sign_info(path, k, stdout, &invalid, &e)) return die(&e);
        return invalid ? T2V_EINPUT : 0;
    }
    case FILE_ZIP: case FILE_SAFETENSORS: case FILE_ST_INDEX: case FILE_GGUF: break;
    case FILE_EMPTY: t2v_fail(&e, T2V_EINPUT, "%s: the file is empty; %s", path, accepts); return die(&e);
    case FILE_PICKLE:
        t2v_fail(&e, T2V_EINPUT, "%s is a legacy (pre-1.6, non-zip) torch.save pickle, which t2v does not read: "
                 "re-save it with a newer torch (torch.save(torch.load(f), f)) or convert it to safetensors; %s",
                 path, accepts);
        return die(&e);
    case FILE_JSON:
        t2v_fail(&e, T2V_EINPUT, "%s is a JSON file, not a checkpoint; for a model's config.json run `t2v info "
                 "--config %s` (sizes, FLOPs, memory); %s", path, path, accepts);
        return die(&e);
    case FILE_TEXT:
        t2v_fail(&e, T2V_EINPUT, "%s is a text file, not a safetensors, .pth or PNG file; %s", path, accepts);
        return die(&e);
    default:
        t2v_fail(&e, T2V_EINPUT, "%s is not a safetensors, .pth (zip) or PNG file (unknown first bytes); %s", path,
                 accepts);
        return die(&e);
    }
    Checkpoint c;
    if (ckpt_open(&c, path, &e)) return die(&e);
    printf("%s (%s)\n", path, c.is_pth ? "PyTorch zip checkpoint" : c.is_gguf ? "GGUF" : "safetensors");
    if (c.is_pth && c.pth.entry[0]) printf("  the state dict is the training checkpoint's '%s' entry\n", c.pth.entry);
    print_tensor_list(c.tensors);
    if (c.is_gguf) print_gguf(&c.gguf);
    print_layout(c.tensors, path);
    if (!c.is_pth && c.st.nfiles == 1)
        for (int i = 0; i < c.st.files[0].nmeta; i++)
            printf("  metadata %s = %s\n", c.st.files[0].meta_keys[i], c.st.files[0].meta_vals[i]);
    ckpt_close(&c);
    return 0;
}

/* info --model / --config is parsed by cmd_info.c; here its options are
 * checked first so that an unknown option and a missing value say which. */
static const char *const INFO_FLAGS[] = {"--full", "--lora-ignore-unknown", NULL};
static const char *const INFO_VALUE_OPTS[] = {"--model", "--config", "-p", "--prompt", "-W", "--width", "-H",
                                              "--height", "-f", "--frames", "--steps", "--tokens", "--cfg", "--context-window",
                                              "--context-overlap", "--context-schedule", "--riflex", "--causal-block",
                                              "--causal-window", "--causal-sink", "--ranks",
                                              "--cache", MODEL_VALUE_OPTS, NULL};

int cmd_info(int argc, char **argv, App *app) {
    (void)app;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (is_help_opt(a)) return command_help("info");
        if (a[0] != '-' || opt_in(a, INFO_FLAGS)) continue;
        if (!opt_in(a, INFO_VALUE_OPTS) || i + 1 >= argc) return bad_option("info", a, INFO_VALUE_OPTS);
        i++; /* its value */
    }
    if (argc == 1 && argv[0][0] != '-' && !platform_is_dir(argv[0])) return info_file(argv[0]);
    if (argc >= 1) return cmd_info_model(argc, argv); /* model tree, FLOPs, memory: cmd_info.c */
    return usage_error("%s", "info: usage: t2v info (--model DIR | --config config.json) [-W N -H N -f N] | "
                             "t2v info FILE.safetensors | FILE.pth | FILE.gguf | FILE.png | FILE.mp4 | FILE.y4m | "
                             "FILE.c2pa");
}

/* ----------------------------------------------------------------------------
 * tokenize */

int cmd_tokenize(int argc, char **argv, App *app) {
    (void)app;
    const char *model = NULL, *file = NULL;
    int pieces = 0, raw = 0, first_text = -1;
    static const char *const value_opts[] = {"--model", "--tokenizer", NULL};
    for (int i = 0; i < argc; i++) {
        if (is_help_opt(argv[i])) return command_help("tokenize");
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) file = argv[++i];
        else if (!strcmp(argv[i], "--pieces")) pieces = 1;
        else if (!strcmp(argv[i], "--raw")) raw = 1;
        else if (!strcmp(argv[i], "--")) { first_text = i + 1; break; }
        else if (argv[i][0] == '-' && argv[i][1]) return bad_option("tokenize", argv[i], value_opts);
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
