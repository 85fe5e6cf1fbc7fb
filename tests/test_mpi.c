/*
 * test_mpi.c: MPI ranks give the bits of one process (docs/SCALING.md).
 *
 * Runs `mpirun --oversubscribe -np 1..4` on the MPI build of t2v
 * ($T2V_MPI_BIN, which `make test` builds when OpenMPI's mpicc is installed)
 * with the tiny model and compares the Y4M it writes byte for byte with the
 * one-process build's (BUILD/t2v, or ref/t2v); the same for `stage sampler`
 * on golden/pipeline/case_a (guided) and for a run without guidance. Without
 * T2V_MPI_BIN or mpirun those are skipped (said on one line); the DiT's
 * token split is checked in one process in any case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "t2v.h"

/* More ranks than cores; and no single-copy (CMA) transfers, which a
 * container without ptrace rights refuses. */
#define MPIRUN_OPTS "--oversubscribe --mca btl_vader_single_copy_mechanism none"

static char g_bin[900], g_tmp[64];
static void env_rows(const char *v);
static const char *g_mpi;

static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    T2vError e = {0, {0}};
    char *x = read_text_file(a, &na, &e), *y = read_text_file(b, &nb, &e);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x), free(y);
    return same;
}

/* mpirun -np n (n 0: the one-process binary) with the arguments; 0 ok. A
 * failing run's output (t2v's and mpirun's) is printed, its last 2000 bytes. */
static int run(int n, const char *args, const char *out) {
    char cmd[2048], log[160];
    snprintf(log, sizeof log, "%s/run.log", g_tmp);
    if (n == 0) snprintf(cmd, sizeof cmd, "%s %s %s >%s 2>&1", g_bin, args, out, log);
    else
        snprintf(cmd, sizeof cmd, "mpirun %s" MPIRUN_OPTS " -x T2V_GEMM_ROWS -np %d %s %s %s >%s 2>&1",
                 geteuid() == 0 ? "--allow-run-as-root " : "", n, g_mpi, args, out, log);
    int rc = system(cmd);
    if (rc != 0) {
        size_t len = 0;
        T2vError e = {0, {0}};
        char *text = read_text_file(log, &len, &e);
        printf("       run failed (exit %d): %s\n       output: %s\n", rc, cmd,
               text ? text + (len > 2000 ? len - 2000 : 0) : "(none)");
        free(text);
    }
    return rc;
}

static void compare_ranks(const char *what, const char *args, const char *ext, int flag_is_output) {
    char ref[128], got[128], o[160];
    snprintf(ref, sizeof ref, "%s/one%s", g_tmp, ext);
    snprintf(o, sizeof o, flag_is_output ? "--out %s" : "-o %s/one", flag_is_output ? ref : g_tmp);
    int rc = run(0, args, o);
    CHECK(rc == 0, "%s: one process: exit %d", what, rc);
    for (int n = 1; n <= 4 && rc == 0; n++) {
        snprintf(got, sizeof got, "%s/np%d%s", g_tmp, n, ext);
        if (flag_is_output) snprintf(o, sizeof o, "--out %s", got);
        else snprintf(o, sizeof o, "-o %s/np%d", g_tmp, n);
        int r = run(n, args, o);
        CHECK(r == 0 && same_file(ref, got), "%s: %d rank(s): exit %d, the same bytes as one process", what, n, r);
    }
}

/* The DiT's token split without MPI (dit.h DiTSplit): part g of P computes
 * its tokens and heads alone; the exchanges, simulated here, first check
 * that what part g computed has the bits of the whole forward (its rows of
 * q, k, v; its heads of the attention output for every token; its rows of
 * the head's output), then fill in the rest from the whole forward, as the
 * other parts would. The velocity must keep its bits. */
typedef struct {
    int N, D, layers, Ko;
    float *q, *k, *v, *att, *head; /* whole forward: per block [N, D]; head [N, Ko] */
    int blk_q, blk_att;            /* the block the next exchange belongs to */
    int calls, bad;                /* exchanges made; elements whose bits differed */
    int a, b, h0, h1, q0, q1;
} SplitSim;

static SplitSim g_sim;

static void sim_tap(void *user, const char *name, const float *x, int row0, int rows, int total, int cols) {
    SplitSim *S = (SplitSim *)user;
    int blk = -1;
    char op[64] = "";
    if (sscanf(name, "blocks.%d.%63s", &blk, op) != 2 || blk < 0 || blk >= S->layers) {
        if (!strcmp(name, "head.head")) memcpy(S->head + (size_t)row0 * cols, x, sizeof(float) * (size_t)rows * cols);
        return;
    }
    float *dst = !strcmp(op, "self_attn.rope_q") ? S->q : !strcmp(op, "self_attn.rope_k") ? S->k
               : !strcmp(op, "self_attn.v") ? S->v : !strcmp(op, "self_attn.o.in") ? S->att : NULL;
    (void)total;
    if (dst) memcpy(dst + ((size_t)blk * S->N + row0) * cols, x, sizeof(float) * (size_t)rows * cols);
}

/* rows [a, b) x columns [c0, c1) of x against ref (both [., ld]): mismatches */
static int sim_diff(const float *x, const float *ref, int ld, int a, int b, int c0, int c1) {
    int bad = 0;
    for (int i = a; i < b; i++)
        for (int c = c0; c < c1; c++) bad += memcmp(x + (size_t)i * ld + c, ref + (size_t)i * ld + c, sizeof(float)) != 0;
    return bad;
}

static int sim_to_heads(void *user, float *q, float *k, float *v, int N, int dim, int head_dim, T2vError *err) {
    SplitSim *S = (SplitSim *)user;
    size_t off = (size_t)S->blk_q++ * N * dim;
    const float *ref[3] = {S->q + off, S->k + off, S->v + off};
    float *x[3] = {q, k, v};
    S->calls++;
    for (int j = 0; j < 3; j++) {
        S->bad += sim_diff(x[j], ref[j], dim, S->a, S->b, 0, dim);
        for (int i = 0; i < N; i++) /* the other parts' rows of our heads */
            if (i < S->a || i >= S->b)
                memcpy(x[j] + (size_t)i * dim + S->h0 * head_dim, ref[j] + (size_t)i * dim + S->h0 * head_dim,
                       sizeof(float) * (size_t)(S->h1 - S->h0) * head_dim);
    }
    (void)err;
    return T2V_OK;
}

static int sim_to_tokens(void *user, float *x, int N, int dim, int head_dim, T2vError *err) {
    SplitSim *S = (SplitSim *)user;
    const float *ref = S->att + (size_t)S->blk_att++ * N * dim;
    int c0 = S->h0 * head_dim, c1 = S->h1 * head_dim;
    S->calls++;
    S->bad += sim_diff(x, ref, dim, S->q0, S->q1, c0, c1);
    for (int i = S->a; i < S->b; i++) { /* what the other parts computed of our rows */
        int mine = i >= S->q0 && i < S->q1;
        memcpy(x + (size_t)i * dim, ref + (size_t)i * dim, sizeof(float) * (size_t)(mine ? c0 : dim));
        if (mine)
            memcpy(x + (size_t)i * dim + c1, ref + (size_t)i * dim + c1, sizeof(float) * (size_t)(dim - c1));
    }
    (void)err;
    return T2V_OK;
}

static int sim_gather(void *user, float *x, int N, int width, T2vError *err) {
    SplitSim *S = (SplitSim *)user;
    S->calls++;
    S->bad += sim_diff(x, S->head, width, S->a, S->b, 0, width);
    memcpy(x, S->head, sizeof(float) * (size_t)S->a * width);
    memcpy(x + (size_t)S->b * width, S->head + (size_t)S->b * width, sizeof(float) * (size_t)(N - S->b) * width);
    (void)err;
    return T2V_OK;
}

static void env_rows(const char *v) {
    if (v) setenv("T2V_GEMM_ROWS", v, 1);
    else unsetenv("T2V_GEMM_ROWS");
}

static void test_token_split(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/pipeline/case_a.safetensors")) return;
    Model m;
    T2vError e = {0, {0}};
    Checkpoint ck;
    DiT dit;
    if (model_open(&m, "golden/models/tiny", MODEL_NEED_CONFIG | MODEL_NEED_DIT, &e) ||
        model_load_dit(&m, &ck, &dit, &e)) {
        h_report(0, "tiny model: %s", e.msg);
        st_close(&st);
        return;
    }
    env_rows("4"); /* 48 tokens: 12 granules */
    int T = 3, h = 8, w = 8, N = 48, D = dit.c.dim, Ko = 16 * 4, L = 0;
    int64_t nc = 0, nx = (int64_t)16 * T * h * w;
    float *ctx = golden_f32(&st, "context", &nc), t = 812.0f;
    L = ctx ? (int)(nc / dit.c.text_dim) : 0;
    float *x = malloc(sizeof(float) * (size_t)nx), *ref = malloc(sizeof(float) * (size_t)nx);
    float *got = malloc(sizeof(float) * (size_t)nx);
    size_t per = (size_t)dit.c.num_layers * N * D;
    SplitSim *S = &g_sim;
    memset(S, 0, sizeof *S);
    S->N = N, S->D = D, S->layers = dit.c.num_layers, S->Ko = Ko;
    S->q = malloc(sizeof(float) * per * 4 + sizeof(float) * (size_t)N * Ko);
    int ok = x && ref && got && S->q && ctx;
    if (ok) S->k = S->q + per, S->v = S->k + per, S->att = S->v + per, S->head = S->att + per;
    float tt[48]; /* per-token t (Wan2.2 TI2V's form): the first latent frame's 16 tokens at 0 */
    for (int i = 0; i < N; i++) tt[i] = i < 16 ? 0.0f : t;
    static const int parts[][2] = {{2, 0}, {2, 1}, {3, 0}, {3, 1}, {3, 2}, {5, 4}, {13, 0}, {13, 12}, {3, 1}, {2, 1}};
    int nparts = (int)(sizeof parts / sizeof parts[0]);
    for (int c = 0; ok && c < nparts; c++) {
        int P = parts[c][0], g = parts[c][1], per_token = c >= nparts - 2, nt = per_token ? N : 1;
        const float *tp = per_token ? tt : &t;
        if (c == 0 || c == nparts - 2) { /* the whole forward, recorded by the tap */
            S->k = S->q + per, S->v = S->k + per, S->att = S->v + per, S->head = S->att + per;
            if (c == 0) prng_fill(11, x, nx, 1.0f);
            memset(&dit.split, 0, sizeof dit.split);
            dit.tap = sim_tap, dit.tap_user = S;
            ok = !dit_forward(&dit, x, T, h, w, tp, nt, ctx, L, ref, &e);
            dit.tap = NULL;
            if (!ok) break;
        }
        DiTSplit *sp = &dit.split;
        memset(sp, 0, sizeof *sp);
        sp->parts = P, sp->part = g, sp->granule = 4, sp->user = S;
        sp->to_heads = sim_to_heads, sp->to_tokens = sim_to_tokens, sp->gather = sim_gather;
        dit_token_range(N, P, g, 4, &S->a, &S->b);
        dit_part_attention(dit.c.num_heads, N, P, g, &S->h0, &S->h1, &S->q0, &S->q1);
        S->blk_q = S->blk_att = S->calls = S->bad = 0;
        int rc = dit_forward(&dit, x, T, h, w, tp, nt, ctx, L, got, &e);
        CHECK(!rc && S->calls == 2 * dit.c.num_layers + 1 && !S->bad && !memcmp(got, ref, sizeof(float) * (size_t)nx),
              "DiT as part %d of %d (tokens [%d, %d) of %d, heads [%d, %d) of %d for queries [%d, %d)%s; exchanges "
              "simulated): %d exchanges, %d elements computed here with other bits than the whole forward, the "
              "velocity's bits %s", g, P, S->a, S->b, N, S->h0, S->h1, dit.c.num_heads, S->q0, S->q1,
              per_token ? "; a t per token" : "", S->calls, S->bad,
              !rc && !memcmp(got, ref, sizeof(float) * (size_t)nx) ? "kept" : "changed");
    }
    /* the rule: granules dealt evenly, cuts on multiples of G, the last part
     * ending at N; more parts than granules leave some empty */
    int rule_ok = 1;
    for (int P = 1; P <= 9; P++)
        for (int G = 1; G <= 7; G += 3) {
            int prev = 0, lo = 1 << 30, hi = 0, n = 23;
            for (int g = 0; g < P; g++) {
                int a, b;
                dit_token_range(n, P, g, G, &a, &b);
                rule_ok &= a == prev && b >= a && (a % G == 0 || a == n) && (b % G == 0 || b == n);
                lo = b - a < lo ? b - a : lo, hi = b - a > hi ? b - a : hi, prev = b;
            }
            rule_ok &= prev == n && hi - lo <= G;
        }
    CHECK(rule_ok, "dit_token_range: 23 tokens in 1..9 parts, granules 1, 4, 7: contiguous, cut on multiples of "
          "the granule, sizes within one granule of each other, all tokens covered");
    /* the attention work: every (head, query) pair exactly once; each part
     * at most one head's share more than another (P <= H), or one query */
    int work_ok = 1;
    static const int Hs[] = {1, 2, 3, 12};
    for (int hi = 0; hi < 4; hi++)
        for (int P = 1; P <= 30; P++) {
            int H = Hs[hi], n = 23, count[12 * 23], lo = 1 << 30, top = 0;
            memset(count, 0, sizeof count);
            for (int g = 0; g < P; g++) {
                int h0, h1, q0, q1;
                dit_part_attention(H, n, P, g, &h0, &h1, &q0, &q1);
                for (int h = h0; h < h1; h++)
                    for (int q = q0; q < q1; q++) count[h * n + q]++;
                int w = (h1 - h0) * (q1 - q0);
                lo = w < lo ? w : lo, top = w > top ? w : top;
            }
            for (int k = 0; k < H * n; k++) work_ok &= count[k] == 1;
            work_ok &= top - lo <= (P <= H ? n : 1 + (P % H ? n / (P / H) - n / (P / H + 1) : 0));
        }
    CHECK(work_ok, "dit_part_attention: 1..30 parts over 1, 2, 3, 12 heads of 23 queries: every (head, query) "
          "once; whole heads while parts <= heads, else each head's queries shared");
    if (!ok) h_report(0, "DiT forward: %s", e.msg);
    env_rows(NULL);
    memset(&dit.split, 0, sizeof dit.split);
    free(x), free(ctx), free(ref), free(got), free(S->q);
    dit_free(&dit);
    ckpt_close(&ck);
    model_close(&m);
    st_close(&st);
}

/* EasyCache's conditional pass decides for both branches: with 1 or 3
 * ranks (every rank runs both) the same bytes as one process; with a
 * guidance pair (2 ranks) refused, naming the pairs (docs/MODEL.md 3.6). */
static void test_easycache_ranks(void) {
    const char *args = "stage sampler --model golden/models/tiny --in golden/pipeline/case_j.safetensors --steps 20 "
                       "--cfg 5 --shift 3 --cache easycache:0.6,4 -q --force";
    char ref[128], got[128], o[160], cmd[1400];
    snprintf(ref, sizeof ref, "%s/easy_one.safetensors", g_tmp);
    snprintf(o, sizeof o, "--out %s", ref);
    int rc = run(0, args, o);
    CHECK(rc == 0, "stage sampler easycache: one process: exit %d", rc);
    for (int n = 1; n <= 3 && rc == 0; n += 2) {
        snprintf(got, sizeof got, "%s/easy_np%d.safetensors", g_tmp, n);
        snprintf(o, sizeof o, "--out %s", got);
        int r = run(n, args, o);
        CHECK(r == 0 && same_file(ref, got), "stage sampler easycache: %d rank(s): exit %d, the same bytes as one "
              "process", n, r);
    }
    snprintf(got, sizeof got, "%s/easy_np2.safetensors", g_tmp);
    snprintf(cmd, sizeof cmd, "mpirun %s" MPIRUN_OPTS " -np 2 %s %s --out %s > %s/easy.log 2>&1",
             geteuid() == 0 ? "--allow-run-as-root " : "", g_mpi, args, got, g_tmp);
    rc = system(cmd);
    snprintf(cmd, sizeof cmd, "%s/easy.log", g_tmp);
    size_t len = 0;
    T2vError e = {0, {0}};
    char *log = read_text_file(cmd, &len, &e);
    CHECK(rc != 0 && log && strstr(log, "guidance pairs") && !platform_file_exists(got),
          "stage sampler easycache on a guidance pair (2 ranks): refused (mpirun exits %d), no output", rc);
    free(log);
}

/* t2v info --ranks 8 for the 1.3B at 832x480x81 (guided): pairs, 4 ranks per
 * branch; 32,760 tokens = 128 granules of 256 (the last 248), 32 each: the
 * busiest rank has 8,192 tokens and 3 of the 12 heads (384 columns); per
 * pass it sends q, k, v of its rows for the other heads, 3 x 8,192 x 1,152
 * floats, and its heads' output for the other rows, 24,568 x 384, in each
 * of 30 blocks, and its velocity rows (64 values) to 3 ranks: 4,535,771,136
 * bytes. */
static void test_info_ranks(void) {
    char cmd[1200], out[4096];
    snprintf(cmd, sizeof cmd, "%s info --config golden/configs/wan2.1-t2v-1.3b.json --ranks 8 | tail -n 30", g_bin);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = 0;
    int rc = p ? pclose(p) : -1;
    CHECK(rc == 0 && strstr(out, "8192 of 32760") && strstr(out, "4535771136 bytes per pass") &&
          strstr(out, "3 to 3 heads each"), "t2v info --ranks 8 (1.3B, 480p, 81 frames): the busiest rank has 8,192 "
          "tokens and 3 heads and sends 4,535,771,136 bytes per pass (exit %d)", rc);
}

int main(int argc, char **argv) {
    g_mpi = getenv("T2V_MPI_BIN");
    h_find_bin(argc > 0 ? argv[0] : "", g_bin, sizeof g_bin);
    test_token_split();
    test_info_ranks();
    if (!g_mpi || !*g_mpi || !platform_file_exists(g_mpi) || system("mpirun --version >/dev/null 2>&1") != 0) {
        printf("skipped: no MPI build or no mpirun (make test builds build/mpicc-*/t2v when OpenMPI's mpicc is "
               "installed)\n");
        return h_finish();
    }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/t2v_test_mpi_XXXXXX");
    if (!mkdtemp(g_tmp)) { h_report(0, "mkdtemp"); return h_finish(); }
    /* 64 x 64, 9 frames: 48 tokens, 12 granules of 4 (T2V_GEMM_ROWS, for
     * one process and every rank): 3 and 4 ranks split them */
    env_rows("4");
    compare_ranks("generate, cfg 4 (guidance pairs; 3 ranks: every rank both branches, 16 tokens each)",
                  "generate --model golden/models/tiny -p 'a red circle moving to the right' --seed 7 --steps 3 "
                  "--cfg 4 -W 64 -H 64 -f 9 --format y4m --threads 1 -q --force", ".y4m", 0);
    compare_ranks("generate, cfg 1 (no guidance: the ranks split the tokens)",
                  "generate --model golden/models/tiny -p 'a blue square' --seed 3 --steps 2 --cfg 1 "
                  "-W 64 -H 64 -f 9 --format y4m --threads 2 -q --force", ".y4m", 0);
    compare_ranks("generate, cfg 1, --precision bf16 (the bf16 products split too)",
                  "generate --model golden/models/tiny -p 'a blue square' --seed 3 --steps 2 --cfg 1 "
                  "--precision bf16 -W 64 -H 64 -f 9 --format y4m --threads 2 -q --force", ".y4m", 0);
    compare_ranks("generate, cfg 4, the chain schedule (two windows sampled in turn, each split by the ranks)",
                  "generate --model golden/models/tiny -p 'a red circle moving to the right' --seed 9 --steps 2 "
                  "--cfg 4 -W 64 -H 64 -f 21 --context-window 13 --context-overlap 8 --context-schedule chain "
                  "--format y4m --threads 1 -q --force", ".y4m", 0);
    env_rows("2");
    compare_ranks("generate, cfg 1, the default size (8 tokens, granule 2)",
                  "generate --model golden/models/tiny -p 'a blue square' --seed 3 --steps 2 --cfg 1 "
                  "--format y4m --threads 1 -q --force", ".y4m", 0);
    compare_ranks("stage sampler on case_a, cfg 4",
                  "stage sampler --model golden/models/tiny --in golden/pipeline/case_a.safetensors --steps 4 "
                  "--cfg 4 --shift 3 -q --force", ".safetensors", 1);
    test_easycache_ranks();
    env_rows(NULL);
    /* a failing rank stops every rank, with its message and no output */
    char cmd[1200], out[128];
    snprintf(out, sizeof out, "%s/fail.y4m", g_tmp);
    snprintf(cmd, sizeof cmd, "T2V_FAULT_RANK=1 mpirun %s" MPIRUN_OPTS " -np 2 %s generate --model golden/models/tiny "
             "-p 'a red circle' --steps 3 --cfg 4 --format y4m -q --force -o %s/fail > %s/fail.log 2>&1",
             geteuid() == 0 ? "--allow-run-as-root " : "", g_mpi, g_tmp, g_tmp);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "%s/fail.log", g_tmp);
    size_t n = 0;
    T2vError e = {0, {0}};
    char *log = read_text_file(cmd, &n, &e);
    CHECK(rc != 0 && log && strstr(log, "rank 1: fault injected") && !platform_file_exists(out),
          "rank 1 fails after step 0 of 3: mpirun exits %d, the message names rank 1, no Y4M", rc);
    free(log);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) printf("note: could not remove %s\n", g_tmp);
    return h_finish();
}
