/*
 * t5.h: the umT5 encoder, Wan2.1's text encoder (docs/MODEL.md section 5).
 *
 *   ids[L] -> token_embedding -> 24 x { x += attn(norm1(x), rel. bias);
 *                                       x += ffn(norm2(x)) } -> norm -> context[L, dim]
 *
 * Only the L real tokens are computed: the official code pads to 512 and
 * masks the padded keys, which gives the same rows (docs/MODEL.md 5.3; tested against
 * the padded reference in tests/test_t5.c). The configuration is read off the
 * tensor shapes, so tiny test models and umT5-XXL go through the same code.
 * Weights keep their file dtype (bf16 for the official .pth) and are widened
 * to fp32 one matrix at a time; all compute is fp32.
 */
#ifndef T2V_T5_H
#define T2V_T5_H

#include <stdint.h>

#include "gemm_bf16.h"
#include "tensor.h"

typedef struct {
    int vocab;        /* token_embedding.weight rows (256384 for umT5)       */
    int dim;          /* d_model (4096)                                      */
    int dim_attn;     /* num_heads * head_dim (4096)                         */
    int dim_ffn;      /* gated-GELU hidden size (10240)                      */
    int num_heads;    /* 64, from pos_embedding.embedding.weight [32, 64]    */
    int head_dim;     /* dim_attn / num_heads (64)                           */
    int num_layers;   /* 24                                                  */
    int num_buckets;  /* 32, relative position buckets (both directions)     */
    int max_distance; /* 128 (a constant of the official code, not a tensor) */
    float eps;        /* 1e-6 (T5LayerNorm)                                  */
} T5Config;

/* Views into the checkpoint (official names, docs/MODEL.md 5.4); any float dtype. */
typedef struct {
    const Tensor *norm1;         /* blocks.%d.norm1.weight (dim)                         */
    const Tensor *q, *k, *v;     /* blocks.%d.attn.{q,k,v}.weight (dim_attn, dim)         */
    const Tensor *o;             /* blocks.%d.attn.o.weight (dim, dim_attn)              */
    const Tensor *norm2;         /* blocks.%d.norm2.weight (dim)                         */
    const Tensor *gate;          /* blocks.%d.ffn.gate.0.weight (dim_ffn, dim), GELU side */
    const Tensor *fc1;           /* blocks.%d.ffn.fc1.weight (dim_ffn, dim), linear side  */
    const Tensor *fc2;           /* blocks.%d.ffn.fc2.weight (dim, dim_ffn)              */
    const Tensor *pos_embedding; /* blocks.%d.pos_embedding.embedding.weight (buckets, heads) */
} T5LayerWeights;

typedef struct {
    const Tensor *token_embedding; /* token_embedding.weight (vocab, dim) */
    T5LayerWeights *layers;        /* (num_layers)                        */
    const Tensor *norm;            /* norm.weight (dim)                   */
} T5Weights;

/* Activations for up to `cap` tokens, one arena, allocated before the pass. */
typedef struct {
    int cap;
    float *x;        /* (L, dim) residual stream                  */
    float *xn;       /* (L, dim) normed input of a sub-layer      */
    float *y;        /* (L, dim) sub-layer output                 */
    float *q, *k, *v, *att; /* (L, dim_attn)                      */
    float *g, *h;    /* (L, dim_ffn) gate (GELU) and fc1 branches */
    float *relbias;  /* (num_heads, 2L-1), one layer's bias table */
    int *bucket;     /* (2L-1) bucket of relative distance j - i  */
    float *emb;      /* (num_buckets, num_heads) widened          */
    float *normw;    /* (dim) widened norm gain                   */
    Arena arena;
    float *wscratch; /* (max weight numel) one matrix widened to fp32 */
} T5State;

/* Called after every block with the residual stream x[L, dim] (tests, dumps). */
typedef void (*T5LayerHook)(void *ctx, int layer, const float *x, int L, int dim);

typedef struct {
    T5Config config;
    T5Weights weights;
    T5State state;
    T5LayerHook hook;
    void *hook_ctx;
    /* PREC_BF16: the linears and attention products in bf16 (gemm_bf16.h);
     * norms, softmax and residuals stay fp32. Set after building (0: fp32). */
    Precision precision;
    Bf16Work bf16;       /* the bf16 products' packing scratch (t5_free frees it) */
} T5;

/* umT5-XXL, the encoder Wan2.1 ships (docs/MODEL.md 5.1). */
void t5_default_config(T5Config *c);
/* The configuration from the shapes of token_embedding and block 0 and the
 * number of blocks (docs/MODEL.md 5.1, 5.4); reads no tensor data. */
int t5_config_from_tensors(T5Config *c, const TensorList *w, T2vError *err);
/* The official tensors for a config (docs/MODEL.md 5.4), in module order:
 * token_embedding, blocks.0 .. blocks.{num_layers-1}, norm. Writes the first
 * min(n, cap) to out (NULL when cap is 0) and returns n. The list t5_build
 * binds and shape-checks. */
int t5_tensor_specs(const T5Config *c, TensorSpec *out, int cap);

/* Binds the encoder to the tensors of `w` (official names; from a .pth or a
 * safetensors file): t5_config_from_tensors, then every tensor of
 * t5_tensor_specs. `w` and the files behind it must outlive the T5. */
int t5_build(T5 *m, const TensorList *w, T2vError *err);
void t5_free(T5 *m);
/* context[L, dim] = encoder(ids[L]). ids must lie in [0, vocab); L >= 1. */
int t5_encode(T5 *m, const int32_t *ids, int L, float *context, T2vError *err);
int t5_dim(const T5 *m);
void t5_set_hook(T5 *m, T5LayerHook hook, void *ctx);

/* Bidirectional relative position bucket of rel = j - i (key minus query),
 * as T5RelativeEmbedding._relative_position_bucket computes it (docs/MODEL.md 5.2). */
int t5_relative_bucket(int rel, int num_buckets, int max_distance);

#endif
