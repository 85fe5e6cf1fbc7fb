/*
 * test_mpi.c: MPI ranks give the bits of one process (docs/SCALING.md).
 *
 * Runs `mpirun --oversubscribe -np 1..4` on the MPI build of t2v
 * ($T2V_MPI_BIN, which `make test` builds when OpenMPI's mpicc is installed)
 * with the tiny model and compares the Y4M it writes byte for byte with the
 * one-process build's (BUILD/t2v, or ref/t2v); the same for `stage sampler`
 * on golden/pipeline/case_a (guided) and for a run without guidance. Without
 * T2V_MPI_BIN or mpirun those are skipped (said on one line); the DiT's head
 * split is checked in one process in any case.
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
static const char *g_mpi;

static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    T2vError e = {0, {0}};
    char *x = read_text_file(a, &na, &e), *y = read_text_file(b, &nb, &e);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x), free(y);
    return same;
}

/* mpirun -np n (n 0: the one-process binary) with the arguments; 0 ok. */
static int run(int n, const char *args, const char *out) {
    char cmd[2048];
    if (n == 0) snprintf(cmd, sizeof cmd, "%s %s %s >/dev/null 2>&1", g_bin, args, out);
    else
        snprintf(cmd, sizeof cmd, "mpirun %s" MPIRUN_OPTS " -np %d %s %s %s >/dev/null 2>&1",
                 geteuid() == 0 ? "--allow-run-as-root " : "", n, g_mpi, args, out);
    return system(cmd);
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

/* The DiT's head split without MPI: a gather that computes the other heads
 * itself, as the other ranks would; the velocity must keep its bits. */
static int g_gathers;

static int gather_rest(void *user, float *out, int N, int dim, int head_dim, T2vError *err) {
    DiT *m = (DiT *)user;
    g_gathers++;
    const DiTHeadSplit *hs = &m->heads;
    int H = dim / head_dim;
    float scale = (float)(1.0 / sqrt((double)head_dim));
    int ranges[2][2] = {{0, hs->head0}, {hs->head1, H}};
    for (int r = 0; r < 2; r++) {
        size_t off = (size_t)ranges[r][0] * head_dim;
        if (ranges[r][1] > ranges[r][0])
            attention_forward(out + off, dim, m->s.q + off, dim, m->s.k + off, dim, m->s.v + off, dim, N, N,
                              ranges[r][1] - ranges[r][0], head_dim, scale, NULL);
    }
    (void)err;
    return T2V_OK;
}

static void test_head_split(void) {
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
    int64_t nx = 0, nc = 0;
    float *x = golden_f32(&st, "noise", &nx), *ctx = golden_f32(&st, "context", &nc), t = 812.0f;
    float *ref = malloc(sizeof(float) * (size_t)nx), *got = malloc(sizeof(float) * (size_t)nx);
    const Tensor *nt = tl_find(&st.tensors, "noise");
    int T = (int)nt->shape[1], h = (int)nt->shape[2], w = (int)nt->shape[3], L = (int)(nc / dit.c.text_dim);
    int ok = x && ctx && ref && got && !dit_forward(&dit, x, T, h, w, &t, 1, ctx, L, ref, &e);
    for (int h0 = 0; ok && h0 <= dit.c.num_heads; h0++) {
        dit.heads.head0 = h0, dit.heads.head1 = h0 < dit.c.num_heads ? h0 + 1 : h0;
        dit.heads.gather = gather_rest, dit.heads.user = &dit;
        g_gathers = 0;
        int rc = dit_forward(&dit, x, T, h, w, &t, 1, ctx, L, got, &e);
        CHECK(!rc && g_gathers == dit.c.num_layers && !memcmp(got, ref, sizeof(float) * (size_t)nx),
              "DiT with heads [%d, %d) here and the rest gathered (%d gathers for %d blocks): the same bits as "
              "all heads here", h0, dit.heads.head1, g_gathers, dit.c.num_layers);
    }
    if (!ok) h_report(0, "DiT forward: %s", e.msg);
    free(x), free(ctx), free(ref), free(got);
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

int main(int argc, char **argv) {
    g_mpi = getenv("T2V_MPI_BIN");
    h_find_bin(argc > 0 ? argv[0] : "", g_bin, sizeof g_bin);
    test_head_split();
    if (!g_mpi || !*g_mpi || !platform_file_exists(g_mpi) || system("mpirun --version >/dev/null 2>&1") != 0) {
        printf("skipped: no MPI build or no mpirun (make test builds build/mpicc-*/t2v when OpenMPI's mpicc is "
               "installed)\n");
        return h_finish();
    }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/t2v_test_mpi_XXXXXX");
    if (!mkdtemp(g_tmp)) { h_report(0, "mkdtemp"); return h_finish(); }
    compare_ranks("generate, cfg 4 (guidance split over rank pairs)",
                  "generate --model golden/models/tiny -p 'a red circle moving to the right' --seed 7 --steps 3 "
                  "--cfg 4 --format y4m --threads 1 -q --force", ".y4m", 0);
    compare_ranks("generate, cfg 1 (no guidance: every rank computes it all)",
                  "generate --model golden/models/tiny -p 'a blue square' --seed 3 --steps 2 --cfg 1 "
                  "--format y4m --threads 2 -q --force", ".y4m", 0);
    compare_ranks("stage sampler on case_a, cfg 4",
                  "stage sampler --model golden/models/tiny --in golden/pipeline/case_a.safetensors --steps 4 "
                  "--cfg 4 --shift 3 -q --force", ".safetensors", 1);
    test_easycache_ranks();
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
