/*
 * causal.h: causal chunk-by-chunk generation (Self-Forcing, CausVid;
 * docs/ARCHITECTURE.md, "Causal generation").
 *
 * A causal few-step student generates the latent a block of latent frames
 * at a time. Within a block every token attends to the block itself and to
 * the keys/values that earlier blocks left in a cache; nothing attends
 * forward. The DiT's weights are Wan2.1's, unchanged: only self-attention
 * and the RoPE time positions differ from the bidirectional forward.
 *
 *   for each block b (frames [b B, (b+1) B)):
 *     x = noise of the block
 *     for each listed step k: v = DiT(x, t_k; cache); x = distill_step(x, v)
 *     DiT(x0, context_t; cache)        the clean block's keys/values -> cache
 *
 * The cache (one per DiT, per layer: keys after RoPE, values) holds at most
 * `window` latent frames. A pass that starts a new block and does not fit
 * evicts the oldest frames after the first `sink` ones (the published
 * rolling rule); passes repeating the block (the denoising steps, the clean
 * pass) overwrite the block's own slots. Attention covers the whole cache:
 * the sink frames, then the most recent frames up to the block's end.
 */
#ifndef T2V_CAUSAL_H
#define T2V_CAUSAL_H

#include <stdint.h>

#include "dit.h"
#include "tensor.h"

typedef struct {
    int block;       /* latent frames per block (num_frame_per_block; Self-Forcing 3); 0: off */
    int window;      /* latent frames kept in the cache (local_attn_size); 0: every frame of the clip */
    int sink;        /* frames at the start never evicted (sink_size); 0: none */
    float context_t; /* the timestep of the clean cache-writing pass (context_noise: 0) */
} CausalSettings;

/* Checks a setting for a clip of T latent frames: T a whole number of
 * blocks, at most 1024 (RoPE's positions), sink + block <= window (when
 * windowed). T2V_EUSAGE naming the rule. */
int causal_check(const CausalSettings *cs, int T, T2vError *err);
/* The cache's size in latent frames for a clip of T latent frames. */
int causal_window_frames(const CausalSettings *cs, int T);

typedef struct CausalCache_ {
    int layers, dim;
    int frame_tokens;          /* tokens of one latent frame (h w / patch)   */
    int cap, sink;             /* in tokens: window x frame_tokens, sink x frame_tokens */
    float *k, *v;              /* (layers, cap, dim): keys after RoPE, values (fp32 cache) */
    uint16_t *kb, *vb;         /* (layers, cap, dim) the same in bf16 (bf16 cache; k, v NULL) */
    float *ks, *vs;            /* (cap, dim) a bf16 layer widened for the attention */
    int64_t global_end;        /* token index (whole clip) after the last written token */
    int local_end;             /* tokens held                                 */
    /* the pass in progress (causal_cache_begin .. causal_cache_end) */
    int n_new, evict, write_end;
    int64_t pass_end;
} CausalCache;

/* A cache of `window_frames` latent frames of `frame_tokens` tokens for the
 * DiT config, `sink_frames` of them never evicted. bf16: keys and values
 * stored rounded to bf16 (half the memory); for a DiT in PREC_BF16, whose
 * attention rounds them to bf16 anyway, the results are the same bits. */
int causal_cache_init(CausalCache *c, const DiTConfig *dc, int frame_tokens, int window_frames, int sink_frames,
                      int bf16, T2vError *err);
void causal_cache_free(CausalCache *c);
/* Empties the cache (a new clip). */
void causal_cache_reset(CausalCache *c);

/* One DiT pass of the block latent [in_dim, F, H, W] starting at latent
 * frame frame0 of the clip, at timestep t for every token, through the
 * cache: velocity [out_dim, F, H, W]. Frames are passed in order: a new
 * block starts where the last one ended, or repeats it. */
int causal_forward(DiT *m, CausalCache *c, const float *latent, int F, int H, int W, int frame0, float t,
                   const float *context_emb, float *velocity, T2vError *err);

/* Called by the DiT's self-attention of layer `layer` (dit.c) with the
 * pass's keys and values [n_new, dim]: applies the pass's eviction to that
 * layer, writes them, and points K, V at the keys/values to attend to;
 * returns their number. */
int causal_cache_layer(CausalCache *c, int layer, const float *k, const float *v, const float **K, const float **V);

#endif
