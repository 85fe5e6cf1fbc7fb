/*
 * dit.h: the Wan2.1 diffusion transformer (WanModel, docs/MODEL.md section 2).
 * Config-driven: T2V-1.3B and T2V-14B differ only in their config.json.
 *
 *   latent [in_dim, T, H, W] --patch_embedding--> x [N, dim], N = f*h*w
 *   t --sinusoid--> time_embedding --> e [dim] --time_projection--> e0 [6, dim],
 *     for one t shared by every token, or per token (Wan2.2 TI2V's form)
 *   context [L, text_dim] --zero-pad to text_len--> text_embedding --> [text_len, dim]
 *   blocks.0 .. blocks.{num_layers-1}, head, unpatchify --> velocity [out_dim, T, H, W]
 *
 * Weights are views into the checkpoint in their file dtype (F32, BF16, F16);
 * the large matrices are widened to fp32 once per layer per forward, the
 * vectors (biases, norm gains, modulation) once at build. The activation
 * buffers are allocated by dit_build and dit_reserve (or lazily by the first
 * forward that needs more tokens or more distinct timesteps); nothing is
 * allocated in the block loop.
 */
#ifndef T2V_DIT_H
#define T2V_DIT_H

#include "gemm_bf16.h"
#include "tensor.h"

typedef struct {
    int dim, ffn_dim, freq_dim, num_heads, num_layers, in_dim, out_dim, text_dim, text_len;
    int patch_t, patch_h, patch_w;
    float eps;
} DiTConfig;

/* Wan defaults (docs/MODEL.md 1.1): patch (1,2,2), in/out 16, text_dim 4096,
 * text_len 512, freq_dim 256, eps 1e-6; dim/ffn/heads/layers of T2V-1.3B. */
void dit_default_config(DiTConfig *c);
/* Checks the sizes of a config (all >= 1, heads of even size, freq_dim even,
 * eps in (0, 1)); `path` names the file in messages. The config.json reader
 * is model.c's dit_config_from_json. */
int dit_check_config(const DiTConfig *c, const char *path, T2vError *err);

/* One block's weights (names: blocks.N.<field with '_' for '.'>). */
typedef struct {
    const float *modulation;                       /* (6, dim) fp32, widened      */
    const Tensor *sa_q, *sa_k, *sa_v, *sa_o;       /* self_attn.{q,k,v,o}.weight (dim, dim) */
    const float *sa_bq, *sa_bk, *sa_bv, *sa_bo;    /* their biases (dim)          */
    const float *sa_norm_q, *sa_norm_k;            /* self_attn.norm_{q,k}.weight (dim) */
    const float *norm3_w, *norm3_b;                /* norm3.weight/.bias (dim)    */
    const Tensor *ca_q, *ca_k, *ca_v, *ca_o;       /* cross_attn.{q,k,v,o}.weight (dim, dim) */
    const float *ca_bq, *ca_bk, *ca_bv, *ca_bo;
    const float *ca_norm_q, *ca_norm_k;
    const Tensor *ffn0, *ffn2;                     /* ffn.0.weight (ffn, dim), ffn.2.weight (dim, ffn) */
    const float *ffn0_b, *ffn2_b;
} DiTBlock;

typedef struct {
    const Tensor *patch_embedding;   /* (dim, in_dim, pt, ph, pw) */
    const float *patch_embedding_b;  /* (dim) */
    const Tensor *text_embedding0, *text_embedding2;  /* (dim, text_dim), (dim, dim) */
    const float *text_embedding0_b, *text_embedding2_b;
    const Tensor *time_embedding0, *time_embedding2;  /* (dim, freq_dim), (dim, dim) */
    const float *time_embedding0_b, *time_embedding2_b;
    const Tensor *time_projection1;  /* (6 dim, dim) */
    const float *time_projection1_b;
    const float *head_modulation;    /* (2, dim) */
    const Tensor *head;              /* head.head.weight (out_dim*pt*ph*pw, dim) */
    const float *head_b;
    DiTBlock *blocks;                /* num_layers */
    float *vectors;                  /* owned: every fp32 vector above */
} DiTWeights;

/* Activations. Token buffers hold cap_tokens rows; the time tables one row
 * per distinct timestep of a call (cap_times rows: 1 from dit_build, grown
 * by a forward that has more); the rest is fixed size. */
typedef struct {
    int cap_tokens, hid_rows;  /* token rows; FFN hidden rows                  */
    int r0, r1;                /* the tokens this pass computes (DiTSplit)       */
    float *x, *xn, *q, *k, *v;  /* (N, dim) residual, normed input, q/k/v     */
    float *patches;            /* (N, max(in_dim, out_dim) * pt*ph*pw)        */
    float *rope_cos, *rope_sin;/* (N, head_dim / 2)                            */
    float *hid;                /* (hid_rows, ffn_dim) FFN hidden, row chunks   */
    int *t_row, *t_first;      /* (N) token -> time table row; row -> first token */
    const int *row;            /* t_row, or NULL when one t serves every token */
    int cap_times, n_times;
    float *t_val;              /* (n_times) the distinct t, in order of first use */
    float *t_emb;              /* (n_times, freq_dim) sinusoid                 */
    float *t_hid;              /* (n_times, dim) time_embedding hidden, silu(e) */
    float *e, *e0;             /* (n_times, dim), (n_times, 6 dim)            */
    float *mod;                /* (n_times, 6 dim) modulation + e0 of a block  */
    float *ctx;                /* (text_len, dim) embedded context of dit_forward */
    float *ck, *cv;            /* (text_len, dim) cross-attention keys/values  */
    float *w1, *w2;            /* widened weights; NULL when none needs it     */
    float *tokens_block;       /* the one allocation behind the token buffers  */
    float *times_block;        /* ... behind the time tables                   */
    float *fixed_block;        /* ... and behind the fixed ones                */
} DiTState;

/* Called after each named stage with its output: "patch" (N, dim), "e" (dim),
 * "e0" (6, dim) (per-token t: (N, dim), (N, 6, dim), as the official model's
 * e and e0), "context_emb" (text_len, dim), "block.N" (N, dim),
 * "head" (N, out_dim*pt*ph*pw). For tests and --dump. */
typedef void (*DiTTraceFn)(void *user, const char *name, const float *x, int64_t n);

/* Op-level tap (docs/VERIFY.md, `--dump-level op`): rows [row0, row0 +
 * rows) of the tensor `name` (total_rows x cols; the FFN hidden layer comes
 * in row chunks) under its official module path: "blocks.3.self_attn.q",
 * "blocks.3.in" (a block's input), "blocks.3" (its output), ... */
typedef void (*DiTTapFn)(void *user, const char *name, const float *x, int row0, int rows, int total_rows,
                         int cols);

/* Sequence split (MPI ranks, dist.h; docs/SCALING.md, What is split): this
 * process is part `part` of `parts` sharing one DiT pass. It computes the
 * token-local work (patch embedding, norms, modulation, q/k/v/o, the
 * cross-attention queries, FFN, head) of its tokens [a, b) only
 * (dit_token_range, cut on multiples of `granule`), and self-attention for
 * its heads [h0, h1) for queries [q0, q1) (dit_part_attention; all N
 * queries unless there are more parts than heads). The exchanges:
 *   to_heads: q, k, v [N, dim] hold rows [a, b) of every part; on return,
 *     the columns of heads [h0, h1): of every row of k and v, of rows
 *     [q0, q1) of q (Ulysses all-to-all);
 *   to_tokens: x [N, dim] holds the columns of heads [h0, h1) of rows
 *     [q0, q1); on return, every column of rows [a, b);
 *   gather: x [N, width] holds rows [a, b); on return, every row.
 * Every element is computed as one process computes it, so the bits do not
 * change (rows: the GEMM grid's granule; heads: attention is per head). */
typedef int (*DiTToHeadsFn)(void *user, float *q, float *k, float *v, int N, int dim, int head_dim,
                            T2vError *err);
typedef int (*DiTToTokensFn)(void *user, float *x, int N, int dim, int head_dim, T2vError *err);
typedef int (*DiTGatherFn)(void *user, float *x, int N, int width, T2vError *err);
typedef struct {
    int parts, part;     /* 0 or 1 parts: the whole pass here (the rest ignored) */
    int granule;         /* >= 1: token cuts on its multiples                    */
    DiTToHeadsFn to_heads;
    DiTToTokensFn to_tokens;
    DiTGatherFn gather;
    void *user;
    int rc;              /* the first failed exchange's code                    */
    T2vError err;
} DiTSplit;

/* Part g of P's tokens [*a, *b) of N: ceil(N / G) granules of G tokens (the
 * last partial) dealt as evenly as whole granules allow; empty when there
 * are fewer granules than parts. */
void dit_token_range(int N, int parts, int part, int granule, int *a, int *b);
/* Part g of P's self-attention: heads [*h0, *h1) of H for queries [*q0,
 * *q1) of N. P <= H: heads [g H / P, (g+1) H / P) (an equal share when P
 * divides H, else one more or one fewer), every query. P > H: head
 * floor(g H / P), shared by the parts with that head, which take equal
 * ranges of its queries (a query row's attention does not depend on the
 * others). */
void dit_part_attention(int H, int N, int parts, int part, int *h0, int *h1, int *q0, int *q1);

struct StepCache_;
typedef struct {
    DiTConfig c;
    DiTWeights w;
    DiTState s;
    DiTTraceFn trace;  /* may be NULL; set after dit_build (which clears it) */
    void *trace_user;
    /* Step caching (cache.h): consulted around the blocks; NULL: none. Set
     * by the sampling loop's owner (denoiser_init). */
    struct StepCache_ *cache;
    DiTTapFn tap;      /* may be NULL (no cost); set after dit_build */
    void *tap_user;
    /* RIFLEx (docs/ARCHITECTURE.md, Long video): time-axis RoPE component
     * riflex_k (1-based) takes the frequency 0.9 * 2 pi / riflex_frames;
     * riflex_k = 0 (dit_build's) leaves the official table. */
    int riflex_k, riflex_frames;
    DiTSplit split;    /* zeros (dit_build's): the whole pass in this process */
    /* Causal generation (causal.h, docs/ARCHITECTURE.md "Causal"): when kv is
     * set, each block's self-attention writes its keys/values into this
     * cache and attends to the cached frames too; RoPE's time positions
     * start at latent frame frame0. NULL / 0 (dit_build's): bidirectional. */
    struct CausalCache_ *kv;
    int frame0;
    /* PREC_BF16: patch and text embeddings, the blocks' linears and attention
     * products in bf16 (gemm_bf16.h); time MLPs and head stay fp32, as in the
     * official autocast. Set after dit_build (which makes it PREC_FP32). */
    Precision precision;
    Bf16Work bf16;     /* the bf16 products' packing scratch (dit_free frees it) */
    Bf16Work bf16_ffn2;/* ... ffn.2's own, so both FFN weights stay packed over its row chunks */
} DiT;

/* RIFLEx's intrinsic component for a head size: the time-axis RoPE
 * component (1-based) whose period is nearest the trained length in latent
 * frames (the lower one on a tie). */
int dit_riflex_default_k(int head_dim, int trained_frames);

/* The official tensors for a config (docs/MODEL.md 2.1), in module order: the
 * embeddings, blocks.0 .. blocks.{num_layers-1}, the head. Writes the first
 * min(n, cap) to out (NULL when cap is 0) and returns n. The list dit_build
 * binds and shape-checks. */
int dit_tensor_specs(const DiTConfig *c, TensorSpec *out, int cap);
/* Binds and shape-checks every tensor of dit_tensor_specs in `w` (a
 * "model.diffusion_model." prefix is accepted). `w` must outlive m. */
int dit_build(DiT *m, const DiTConfig *c, const TensorList *w, T2vError *err);
/* Allocates the token buffers for up to max_tokens = f*h*w tokens. */
int dit_reserve(DiT *m, int max_tokens, T2vError *err);
/* The 3D RoPE tables of the patch grid (f, h, w) into m->s.rope_cos/sin
 * (docs/MODEL.md 2.5), time positions from m->frame0 (0 but in a causal
 * pass); needs dit_reserve(m, f*h*w). For `t2v bisect`. */
void dit_rope_tables(DiT *m, int f, int h, int w);
/* The timestep sinusoid: emb[i] = cos(t 10000^(-i/half)), emb[half + i] =
 * sin(...), i < half = freq_dim/2, in float64 (docs/MODEL.md 2.2 b). */
void dit_sinusoid(int freq_dim, float t, float *emb);
void dit_free(DiT *m);

/* context [L, text_dim] (L <= text_len) -> out [text_len, dim]: zero-padded
 * to text_len rows, then text_embedding (docs/MODEL.md 2.2 d). The result is the same
 * for every sampling step: compute it once per prompt. */
int dit_embed_context(DiT *m, const float *context, int L, float *out, T2vError *err);
/* One DiT evaluation with an embedded context [text_len, dim]:
 * latent [in_dim, T, H, W] -> velocity [out_dim, T, H, W].
 * t: the timestep, any finite float (Wan2.1's sampler passes integers), in
 * one of two forms: nt = 1, one t for every token; or nt = N =
 * (T/pt)(H/ph)(W/pw), one t per token in the patchified order (f, h, w),
 * as Wan2.2 TI2V passes t = 0 on the tokens of its conditioning frame. Each
 * token is modulated with the e/e0 of its own t; tokens with equal t (bit
 * for bit) share one computation. Any other nt is T2V_EINPUT. */
int dit_forward_embedded(DiT *m, const float *latent, int T, int H, int W, const float *t, int nt,
                         const float *context_emb, float *velocity, T2vError *err);
/* The time embedding alone for one t (docs/MODEL.md 2.2 b, c): e [dim] and
 * e0 [6 dim], as dit_forward_embedded computes them (TeaCache's input). */
int dit_time_embedding(DiT *m, float t, float *e, float *e0, T2vError *err);
/* The same from a raw context [L, text_dim] (embeds it first, every call). */
int dit_forward(DiT *m, const float *latent, int T, int H, int W, const float *t, int nt,
                const float *context, int L, float *velocity, T2vError *err);

#endif
