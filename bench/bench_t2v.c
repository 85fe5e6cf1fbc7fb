/*
 * bench_t2v.c: the t2v side of `make bench` (tools/bench.py runs it; the
 * PyTorch side is tools/bench_torch.py). Each command loads what it needs,
 * makes the weights resident (reads one byte per page, as PyTorch's load
 * reads the file), runs `warmup` untimed and `reps` timed repetitions, and
 * prints one JSON line on stdout: the times in seconds, the load time, the
 * peak RSS (getrusage) and the build's BLAS. Timing lives only here, never
 * in tests.
 *
 *   bench_t2v [-t THREADS] gemm M K N REPS
 *       C[M,N] = A[M,K] W[N,K]^T: raw fp32 cblas_sgemm (one call, OpenBLAS
 *       threading; gemm() = the built-in one with BLAS=none), t2v's path
 *       linear_forward with W in BF16 (widened in the path), and
 *       gemm_builtin on fp32.
 *   bench_t2v [-t THREADS] dit MODEL_DIR T H W L REPS WARMUP
 *       dit_forward (context embedding, patch/time embedding, every block,
 *       head) on a random latent [16, T, H, W] and context [L, text_dim].
 *   bench_t2v [-t THREADS] t5 CHECKPOINT TOKENS.safetensors REPS WARMUP
 *       t5_encode of the ids in TOKENS ("tokens", I32).
 *   bench_t2v [-t THREADS] vae CHECKPOINT T h w REPS WARMUP
 *       vae_decode of a random latent [16, T, h, w].
 *   bench_t2v [-t THREADS] peak
 *       the arithmetic peaks, per thread, all threads at once: a loop of
 *       independent fp32 FMAs (the widest vectors the CPU has) and one of
 *       independent vdpbf16ps (AVX512-BF16; 0 when the CPU has none).
 *   -p bf16 (after -t) runs gemm (t2v's path: linear_bf16_forward), dit, vae and
 *   t5 with --precision bf16 (ref/lib/gemm_bf16.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../ref/lib/dit.h"
#include "../ref/lib/gemm_bf16.h"
#include "../ref/lib/model.h"
#include "../ref/lib/ops.h"
#include "../ref/lib/platform.h"
#include "../ref/lib/safetensors.h"
#include "../ref/lib/t5.h"
#include "../ref/lib/tensor.h"
#include "../ref/lib/vae.h"

#ifdef T2V_OPENBLAS
#include <cblas.h>
#endif


/* FNV-1a over the bytes of x[0, n): equal for equal bits (bench.py
 * compares it across thread counts). */
static unsigned long long bits_hash(const float *x, int64_t n) {
    unsigned long long h = 1469598103934665603ULL;
    const unsigned char *b = (const unsigned char *)x;
    for (size_t i = 0; i < (size_t)n * sizeof(float); i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static int die(const T2vError *e) {
    fprintf(stderr, "bench_t2v: %s\n", e->msg);
    return e->code ? e->code : 1;
}

/* scale * u, u in [-1, 1) from splitmix64: tools/prng.py's prng_fill(seed, n,
 * scale), so both sides get the same inputs (exact for power-of-two scales). */
static float *random_floats(int64_t n, float scale, uint64_t seed) {
    float *x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!x) { fprintf(stderr, "bench_t2v: out of memory (%lld floats)\n", (long long)n); exit(3); }
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = seed + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        x[i] = scale * ((float)((int64_t)(z >> 40) - (1 << 23)) / 8388608.0f);
    }
    return x;
}

/* CPU seconds of the whole process (all threads): beside the wall time,
 * the work done, which a busy machine inflates less. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Reads one byte per 4 KiB page of every tensor (but `skip`), so the mapped
 * weights are resident before timing, as after PyTorch's load. */
static double make_resident(const TensorList *tl, const char *skip) {
    double t0 = platform_now();
    volatile unsigned sink = 0;
    for (int i = 0; i < tl->n; i++) {
        if (skip && strcmp(tl->names[i], skip) == 0) continue;
        const unsigned char *p = (const unsigned char *)tl->tensors[i].data;
        size_t n = tensor_nbytes(&tl->tensors[i]);
        unsigned s = 0;
        for (size_t k = 0; k < n; k += 4096) s += p[k];
        sink += s;
    }
    (void)sink;
    return platform_now() - t0;
}

static void print_times(const char *key, const double *t, int n) {
    printf("\"%s\": [", key);
    for (int i = 0; i < n; i++) printf("%s%.6f", i ? ", " : "", t[i]);
    printf("]");
}

static void print_tail(double load_s) {
    printf(", \"load_s\": %.3f, \"peak_rss\": %zu, \"blas\": \"%s\"", load_s, platform_peak_rss(),
           gemm_backend());
#ifdef T2V_OPENBLAS
    printf(", \"openblas\": \"%s\", \"openblas_core\": \"%s\"", openblas_get_config(),
           openblas_get_corename());
#endif
    printf("}\n");
    fflush(stdout);
}

#define MAX_REPS 64

/* ---------------------------------------------------------------------------
 * GEMM at the DiT's shapes. The raw reference is one cblas_sgemm call with
 * OpenBLAS's own threading (gemm() may set OpenBLAS to 1 thread and tile). */
static void raw_sgemm(int M, int N, int K, const float *A, const float *B, float *C, int threads) {
#ifdef T2V_OPENBLAS
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
#else
    (void)threads;
    gemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
#endif
}

static int bench_gemm(int M, int K, int N, int reps, int threads, Precision prec) {
    T2vError err = {0};
    if (reps < 1 || reps > MAX_REPS) reps = 3;
    float *A = random_floats((int64_t)M * K, 1.0f, 14);
    float *Wf = random_floats((int64_t)N * K, 0.03125f, 15);
    float *C = random_floats((int64_t)M * N, 0.0f, 0);
    float *scratch = random_floats((int64_t)N * K, 0.0f, 0);
    Tensor W;
    int64_t shape[2] = {N, K};
    if (tensor_alloc(&W, DT_BF16, 2, shape, &err)) return die(&err);
    for (int64_t i = 0; i < (int64_t)N * K; i++) {
        uint16_t h = f32_to_bf16(Wf[i]);
        wr_u16le((unsigned char *)W.data + 2 * i, h);
        Wf[i] = bf16_to_f32(h); /* the same values on both paths */
    }
    /* One loop per side, each with a warm-up call, raw last: after a threaded
     * cblas call OpenBLAS's worker threads spin for a while before they sleep,
     * and timed next to them t2v's OpenMP tiles shared a core with a spinning
     * thread (some 2-thread path times doubled). t2v never runs OpenBLAS
     * threaded, so it never meets them outside this benchmark. */
    double raw[MAX_REPS], path[MAX_REPS], builtin[MAX_REPS], cpu_raw[MAX_REPS], cpu_path[MAX_REPS];
    Bf16Work ws = {NULL, 0, NULL, 0, 0};
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        double c0 = cpu_now(), t0 = platform_now();
        if (prec == PREC_BF16) linear_bf16_forward(C, A, &W, NULL, M, &ws);
        else linear_forward(C, A, &W, NULL, M, scratch);
        if (r >= 0) { path[r] = platform_now() - t0; cpu_path[r] = cpu_now() - c0; }
    }
    for (int r = -1; r < reps; r++) {
        double t0 = platform_now();
        gemm_builtin(0, 1, M, N, K, 1.0f, A, K, Wf, K, 0.0f, C, N);
        if (r >= 0) builtin[r] = platform_now() - t0;
    }
    for (int r = -1; r < reps; r++) {
        double c0 = cpu_now(), t0 = platform_now();
        raw_sgemm(M, N, K, A, Wf, C, threads);
        if (r >= 0) { raw[r] = platform_now() - t0; cpu_raw[r] = cpu_now() - c0; }
    }
    printf("{\"case\": \"gemm\", \"M\": %d, \"K\": %d, \"N\": %d, \"flops\": %.0f, ", M, K, N,
           2.0 * M * N * (double)K);
    print_times("raw_s", raw, reps);
    printf(", ");
    print_times("path_s", path, reps);
    printf(", ");
    print_times("builtin_s", builtin, reps);
    printf(", ");
    print_times("cpu_raw_s", cpu_raw, reps);
    printf(", ");
    print_times("cpu_s", cpu_path, reps);
    print_tail(0.0);
    tensor_free(&W);
    bf16_work_free(&ws);
    free(A); free(Wf); free(C); free(scratch);
    return 0;
}

/* ---------------------------------------------------------------------------
 * DiT forward from a model directory (config.json + safetensors). */
static int bench_dit(const char *dir, int T, int H, int W, int L, int reps, int warmup, Precision prec) {
    T2vError err = {0};
    Model mo;
    Checkpoint ck;
    DiT m;
    double t0 = platform_now();
    if (model_open(&mo, dir, MODEL_NEED_CONFIG | MODEL_NEED_DIT, &err)) return die(&err);
    if (model_load_dit(&mo, &ck, &m, &err)) return die(&err);
    m.precision = prec;
    const DiTConfig c = m.c;
    int N = (T / c.patch_t) * (H / c.patch_h) * (W / c.patch_w);
    if (dit_reserve(&m, N, &err)) return die(&err);
    make_resident(ck.tensors, NULL);
    double load_s = platform_now() - t0;
    float *latent = random_floats((int64_t)c.in_dim * T * H * W, 1.0f, 11);
    float *context = random_floats((int64_t)L * c.text_dim, 0.25f, 12);
    float *vel = random_floats((int64_t)c.out_dim * T * H * W, 0.0f, 0);
    double times[MAX_REPS], cpu[MAX_REPS];
    if (reps < 1 || reps > MAX_REPS) reps = 1;
    for (int r = -warmup; r < reps; r++) {
        double a = platform_now(), ca = cpu_now();
        if (dit_forward(&m, latent, T, H, W, &(float){500.0f}, 1, context, L, vel, &err)) return die(&err);
        if (r >= 0) { times[r] = platform_now() - a; cpu[r] = cpu_now() - ca; }
    }
    double sum = 0.0;
    for (int64_t i = 0; i < (int64_t)c.out_dim * T * H * W; i++) sum += vel[i] * (double)vel[i];
    printf("{\"case\": \"dit\", \"tokens\": %d, \"layers\": %d, \"checksum\": %.6e, \"bits\": \"%016llx\", ", N,
           c.num_layers, sum, bits_hash(vel, (int64_t)c.out_dim * T * H * W));
    print_times("times", times, reps);
    printf(", ");
    print_times("cpu_s", cpu, reps);
    print_tail(load_s);
    free(latent); free(context); free(vel);
    dit_free(&m);
    ckpt_close(&ck);
    model_close(&mo);
    return 0;
}

/* ---------------------------------------------------------------------------
 * A LoRA on the DiT (lora.h: up/down kept low rank beside each weight and
 * added where the weight is widened). Each rep loads the model (weights made
 * resident), runs one forward of T x H x W latents with L text rows, and
 * closes: `times` / `fwd_s` with the LoRA, `base_s` / `fwd_base_s` without. */
static int lora_once(const char *dir, const char *lora, int T, int H, int W, int L, double *load_s, double *fwd_s,
                     double *fwd_cpu, T2vError *err) {
    Model mo;
    Checkpoint ck;
    DiT m;
    ModelOptions o;
    LoraFile f = {lora, 1.0f};
    memset(&o, 0, sizeof o);
    if (lora) o.lora = &f, o.n_lora = 1;
    double t0 = platform_now();
    if (model_open_with(&mo, dir, &o, MODEL_NEED_CONFIG | MODEL_NEED_DIT, err)) return 1;
    if (model_load_dit(&mo, &ck, &m, err)) { model_close(&mo); return 1; }
    const DiTConfig c = m.c;
    int rc = dit_reserve(&m, (T / c.patch_t) * (H / c.patch_h) * (W / c.patch_w), err);
    make_resident(ck.tensors, NULL);
    *load_s = platform_now() - t0;
    float *latent = random_floats((int64_t)c.in_dim * T * H * W, 1.0f, 11);
    float *context = random_floats((int64_t)L * c.text_dim, 0.25f, 12);
    float *vel = random_floats((int64_t)c.out_dim * T * H * W, 0.0f, 0);
    t0 = platform_now();
    double c0 = cpu_now();
    if (!rc) rc = dit_forward(&m, latent, T, H, W, &(float){500.0f}, 1, context, L, vel, err);
    *fwd_s = platform_now() - t0;
    *fwd_cpu = cpu_now() - c0;
    free(latent); free(context); free(vel);
    dit_free(&m);
    ckpt_close(&ck);
    model_close(&mo);
    return rc;
}

static int bench_lora(const char *dir, const char *lora, int T, int H, int W, int L, int reps, int warmup) {
    T2vError err = {0};
    double times[MAX_REPS], base[MAX_REPS], fwd[MAX_REPS], fwd0[MAX_REPS], cpu[MAX_REPS], cpu0[MAX_REPS];
    if (reps < 1 || reps > MAX_REPS) reps = 1;
    for (int r = -warmup; r < reps; r++) {
        double b, f0, c0, t, f, c;
        if (lora_once(dir, NULL, T, H, W, L, &b, &f0, &c0, &err)) return die(&err);
        if (lora_once(dir, lora, T, H, W, L, &t, &f, &c, &err)) return die(&err);
        if (r >= 0) { times[r] = t; base[r] = b; fwd[r] = f; fwd0[r] = f0; cpu[r] = c; cpu0[r] = c0; }
    }
    printf("{\"case\": \"lora\", ");
    print_times("times", times, reps);
    printf(", ");
    print_times("base_s", base, reps);
    printf(", ");
    print_times("fwd_s", fwd, reps);
    printf(", ");
    print_times("fwd_base_s", fwd0, reps);
    printf(", ");
    print_times("cpu_s", cpu, reps); /* of the forward with the LoRA */
    printf(", ");
    print_times("cpu_base_s", cpu0, reps);
    print_tail(0.0);
    return 0;
}

/* ---------------------------------------------------------------------------
 * umT5 encoder. */
static int bench_t5(const char *path, const char *tokens, int reps, int warmup, Precision prec) {
    T2vError err = {0};
    Checkpoint ck;
    SafeTensors st;
    T5 m;
    double t0 = platform_now();
    if (ckpt_open(&ck, path, &err)) return die(&err);
    if (t5_build(&m, ck.tensors, &err)) return die(&err);
    m.precision = prec;
    /* every weight but the embedding table, of which a prompt reads L rows */
    make_resident(ck.tensors, "token_embedding.weight");
    double load_s = platform_now() - t0;
    if (st_open(&st, tokens, &err)) return die(&err);
    const Tensor *tt = tl_find(&st.tensors, "tokens");
    if (!tt || tt->dtype != DT_I32 || tt->ndim != 1) {
        fprintf(stderr, "bench_t5: %s: expected I32 tensor 'tokens' [L]\n", tokens);
        return 2;
    }
    int L = (int)tt->shape[0];
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)L);
    for (int i = 0; i < L; i++) ids[i] = (int32_t)rd_u32le((const unsigned char *)tt->data + 4 * i);
    float *ctx = random_floats((int64_t)L * t5_dim(&m), 0.0f, 0);
    double times[MAX_REPS], cpu[MAX_REPS];
    if (reps < 1 || reps > MAX_REPS) reps = 1;
    for (int r = -warmup; r < reps; r++) {
        double a = platform_now(), ca = cpu_now();
        if (t5_encode(&m, ids, L, ctx, &err)) return die(&err);
        if (r >= 0) { times[r] = platform_now() - a; cpu[r] = cpu_now() - ca; }
    }
    double sum = 0.0;
    for (int64_t i = 0; i < (int64_t)L * t5_dim(&m); i++) sum += ctx[i] * (double)ctx[i];
    printf("{\"case\": \"t5\", \"tokens\": %d, \"checksum\": %.6e, \"bits\": \"%016llx\", ", L, sum,
           bits_hash(ctx, (int64_t)L * t5_dim(&m)));
    print_times("times", times, reps);
    printf(", ");
    print_times("cpu_s", cpu, reps);
    print_tail(load_s);
    free(ids); free(ctx);
    st_close(&st);
    t5_free(&m);
    ckpt_close(&ck);
    return 0;
}

/* ---------------------------------------------------------------------------
 * VAE decode. */
static int bench_vae(const char *path, int T, int h, int w, int reps, int warmup, Precision prec) {
    T2vError err = {0};
    Checkpoint ck;
    Vae m;
    double t0 = platform_now();
    if (ckpt_open(&ck, path, &err)) return die(&err);
    if (vae_build(&m, ck.tensors, &err)) return die(&err);
    m.precision = prec;
    make_resident(ck.tensors, NULL);
    double load_s = platform_now() - t0;
    int F, H, W; /* the VAE's latent: 16 x 4x8x8 (Wan2.1), 48 x 4x16x16 (Wan2.2) */
    vae_video_size(&m.config, T, h, w, &F, &H, &W);
    float *z = random_floats((int64_t)m.config.z_dim * T * h * w, 1.0f, 13);
    float *video = random_floats((int64_t)3 * F * H * W, 0.0f, 0);
    double times[MAX_REPS], cpu[MAX_REPS];
    if (reps < 1 || reps > MAX_REPS) reps = 1;
    for (int r = -warmup; r < reps; r++) {
        double a = platform_now(), ca = cpu_now();
        if (vae_decode(&m, z, T, h, w, video, NULL, NULL, &err)) return die(&err);
        if (r >= 0) { times[r] = platform_now() - a; cpu[r] = cpu_now() - ca; }
    }
    double sum = 0.0;
    for (int64_t i = 0; i < (int64_t)3 * F * H * W; i++) sum += video[i] * (double)video[i];
    printf("{\"case\": \"vae\", \"frames\": %d, \"checksum\": %.6e, \"bits\": \"%016llx\", ", F, sum,
           bits_hash(video, (int64_t)3 * F * H * W));
    print_times("times", times, reps);
    printf(", ");
    print_times("cpu_s", cpu, reps);
    print_tail(load_s);
    free(z); free(video);
    vae_free(&m);
    ckpt_close(&ck);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Arithmetic peaks: 12 independent accumulators per thread (more than the
 * latency x throughput of either instruction), ITER iterations, all threads
 * at once; GFLOP/s = 2 x multiply-adds / the slowest thread's time. */
#define PEAK_ITER 2000000
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define PEAK_X86 1
/* Twelve accumulators with different starting values from a volatile, so
 * the compiler cannot merge the twelve identical chains into one (it did:
 * one latency-bound chain, credited as twelve). */
#define ACC12(T, set1)                                                                            \
    volatile float v0 = 1.0f;                                                                     \
    T c0 = set1(v0), c1 = set1(v0 + 1), c2 = set1(v0 + 2), c3 = set1(v0 + 3), c4 = set1(v0 + 4),  \
      c5 = set1(v0 + 5), c6 = set1(v0 + 6), c7 = set1(v0 + 7), c8 = set1(v0 + 8), c9 = set1(v0 + 9), \
      c10 = set1(v0 + 10), c11 = set1(v0 + 11)
#define SUM12(add) add(add(add(add(c0, c1), add(c2, c3)), add(add(c4, c5), add(c6, c7))), add(add(c8, c9), add(c10, c11)))
/* returns the multiply-adds done */
__attribute__((target("avx512f,fma"))) static double peak_fma512(float *sink) {
    __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-7f);
    ACC12(__m512, _mm512_set1_ps);
    for (long i = 0; i < PEAK_ITER; i++) {
        c0 = _mm512_fmadd_ps(c0, a, b); c1 = _mm512_fmadd_ps(c1, a, b); c2 = _mm512_fmadd_ps(c2, a, b);
        c3 = _mm512_fmadd_ps(c3, a, b); c4 = _mm512_fmadd_ps(c4, a, b); c5 = _mm512_fmadd_ps(c5, a, b);
        c6 = _mm512_fmadd_ps(c6, a, b); c7 = _mm512_fmadd_ps(c7, a, b); c8 = _mm512_fmadd_ps(c8, a, b);
        c9 = _mm512_fmadd_ps(c9, a, b); c10 = _mm512_fmadd_ps(c10, a, b); c11 = _mm512_fmadd_ps(c11, a, b);
    }
    *sink = _mm512_reduce_add_ps(SUM12(_mm512_add_ps));
    return 12.0 * 16 * PEAK_ITER;
}
__attribute__((target("avx2,fma"))) static double peak_fma256(float *sink) {
    __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-7f);
    ACC12(__m256, _mm256_set1_ps);
    for (long i = 0; i < PEAK_ITER; i++) {
        c0 = _mm256_fmadd_ps(c0, a, b); c1 = _mm256_fmadd_ps(c1, a, b); c2 = _mm256_fmadd_ps(c2, a, b);
        c3 = _mm256_fmadd_ps(c3, a, b); c4 = _mm256_fmadd_ps(c4, a, b); c5 = _mm256_fmadd_ps(c5, a, b);
        c6 = _mm256_fmadd_ps(c6, a, b); c7 = _mm256_fmadd_ps(c7, a, b); c8 = _mm256_fmadd_ps(c8, a, b);
        c9 = _mm256_fmadd_ps(c9, a, b); c10 = _mm256_fmadd_ps(c10, a, b); c11 = _mm256_fmadd_ps(c11, a, b);
    }
    float o[8];
    _mm256_storeu_ps(o, SUM12(_mm256_add_ps));
    *sink = o[0];
    return 12.0 * 8 * PEAK_ITER;
}
/* one vdpbf16ps: 16 lanes x 2 multiply-adds */
__attribute__((target("avx512f,avx512bf16"))) static double peak_dpbf16(float *sink) {
    __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f7f3f7f), b = (__m512bh)_mm512_set1_epi32(0x33d633d6);
    ACC12(__m512, _mm512_set1_ps);
    for (long i = 0; i < PEAK_ITER; i++) {
        c0 = _mm512_dpbf16_ps(c0, a, b); c1 = _mm512_dpbf16_ps(c1, a, b); c2 = _mm512_dpbf16_ps(c2, a, b);
        c3 = _mm512_dpbf16_ps(c3, a, b); c4 = _mm512_dpbf16_ps(c4, a, b); c5 = _mm512_dpbf16_ps(c5, a, b);
        c6 = _mm512_dpbf16_ps(c6, a, b); c7 = _mm512_dpbf16_ps(c7, a, b); c8 = _mm512_dpbf16_ps(c8, a, b);
        c9 = _mm512_dpbf16_ps(c9, a, b); c10 = _mm512_dpbf16_ps(c10, a, b); c11 = _mm512_dpbf16_ps(c11, a, b);
    }
    *sink = _mm512_reduce_add_ps(SUM12(_mm512_add_ps));
    return 12.0 * 32 * PEAK_ITER;
}
#endif

static double thread_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* GFLOP/s of one peak loop on every thread at once (0: no such
 * instruction): by the wall clock, and as the sum of each thread's rate per
 * CPU second (what the cores do when they run: the figure that holds on a
 * machine shared with other work). */
static void peak_run(int which, double *wall, double *cpu) {
    *wall = *cpu = 0.0;
#ifdef PEAK_X86
    double (*k)(float *) = NULL;
    if (which == 0) k = __builtin_cpu_supports("avx512f") ? peak_fma512 : __builtin_cpu_supports("fma") ? peak_fma256 : NULL;
    else if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16")) k = peak_dpbf16;
    if (!k) return;
    double macs = 0.0, rate = 0.0, t0 = platform_now();
    float sink = 0.0f;
#pragma omp parallel reduction(+ : macs, sink, rate)
    {
        double c0 = thread_cpu_now(), m = k(&sink);
        macs += m;
        rate += 2.0 * m / (thread_cpu_now() - c0) / 1e9;
    }
    *wall = 2.0 * macs / (platform_now() - t0) / 1e9;
    *cpu = rate;
    if (sink == 12345.0f) printf(" "); /* keeps the loops */
#else
    (void)which;
#endif
}

/* Each loop 9 times, alternating; the best of each (a shared machine takes
 * the cores away now and then: the best run is the one that kept them). */
static int bench_peak(void) {
    double fw = 0, fc = 0, bw = 0, bc = 0, w, c;
    for (int r = 0; r < 9; r++) {
        peak_run(0, &w, &c);
        if (w > fw) fw = w, fc = c;
        peak_run(1, &w, &c);
        if (w > bw) bw = w, bc = c;
    }
    printf("{\"case\": \"peak\", \"fma_gflops\": %.1f, \"fma_gflops_cpu\": %.1f, \"bf16_gflops\": %.1f, "
           "\"bf16_gflops_cpu\": %.1f, \"peak_rss\": %zu}\n", fw, fc, bw, bc, platform_peak_rss());
    return 0;
}

static int usage(void) {
    fprintf(stderr,
            "usage: bench_t2v [-t THREADS] gemm M K N REPS\n"
            "       bench_t2v [-t THREADS] dit MODEL_DIR T H W L REPS WARMUP\n"
            "       bench_t2v [-t THREADS] t5 CHECKPOINT TOKENS REPS WARMUP\n"
            "       bench_t2v [-t THREADS] vae CHECKPOINT T h w REPS WARMUP\n"
            "       bench_t2v [-t THREADS] peak\n"
            "       bench_t2v [-t THREADS] lora MODEL_DIR LORA T H W L REPS WARMUP\n"
            "  -p fp32|bf16 (after -t): the precision of gemm's path, dit, t5 and vae\n");
    return 1;
}

int main(int argc, char **argv) {
    int a = 1, threads = platform_default_threads();
    Precision prec = PREC_FP32;
    if (argc > 2 && strcmp(argv[1], "-t") == 0) { threads = atoi(argv[2]); a = 3; }
    if (argc > a + 1 && strcmp(argv[a], "-p") == 0) {
        if (precision_from_name(argv[a + 1], &prec)) return usage();
        a += 2;
    }
    platform_set_threads(threads);
    if (argc - a < 1) return usage();
    const char *cmd = argv[a];
    char **v = argv + a + 1;
    int n = argc - a - 1;
    if (strcmp(cmd, "gemm") == 0 && n == 4)
        return bench_gemm(atoi(v[0]), atoi(v[1]), atoi(v[2]), atoi(v[3]), threads, prec);
    if (strcmp(cmd, "dit") == 0 && n == 7)
        return bench_dit(v[0], atoi(v[1]), atoi(v[2]), atoi(v[3]), atoi(v[4]), atoi(v[5]), atoi(v[6]), prec);
    if (strcmp(cmd, "t5") == 0 && n == 4) return bench_t5(v[0], v[1], atoi(v[2]), atoi(v[3]), prec);
    if (strcmp(cmd, "peak") == 0 && n == 0) return bench_peak();
    if (strcmp(cmd, "lora") == 0 && n == 8)
        return bench_lora(v[0], v[1], atoi(v[2]), atoi(v[3]), atoi(v[4]), atoi(v[5]), atoi(v[6]), atoi(v[7]));
    if (strcmp(cmd, "vae") == 0 && n == 6)
        return bench_vae(v[0], atoi(v[1]), atoi(v[2]), atoi(v[3]), atoi(v[4]), atoi(v[5]), prec);
    return usage();
}
