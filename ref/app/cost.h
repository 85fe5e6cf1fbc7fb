/*
 * cost.h: what a model is made of and what one generation costs, for
 * `t2v info` and the memory check of `t2v generate` (docs/ARCHITECTURE.md).
 *
 *   ModelDesc   every tensor's name, dtype and shape, per stage: read from a
 *               model directory's checkpoints (headers only), or written out
 *               from a config.json alone with the official layouts that the
 *               stages list (dit_tensor_specs, t5_tensor_specs,
 *               vae_tensor_specs: DiT docs/MODEL.md 2.1, umT5-XXL 5.4, Wan VAE 4.3)
 *   Flops       multiply-adds x 2 of every matmul and convolution of each
 *               stage for a size (norms, activations, softmax, RoPE and
 *               sampler arithmetic are not counted: they are < 1%)
 *   MemEstimate the peak of each phase (text encoder, DiT, VAE), as the
 *               pipeline loads one stage at a time
 */
#ifndef T2V_COST_H
#define T2V_COST_H

#include <stdint.h>

#include "t2v.h"

typedef struct {
    char name[96];
    DType dtype;
    int ndim;
    int64_t shape[5];
} TensorDesc;

typedef struct {
    int n, cap;
    TensorDesc *t;
} DescList;

enum { STAGE_T5, STAGE_DIT, STAGE_VAE, STAGE_COUNT };

typedef struct {
    DiTConfig dit;                 /* config.json                              */
    T5Config t5;                   /* from the umT5 tensor shapes              */
    VaeConfig vae;                 /* from the VAE tensors; the latent's shape */
    DescList w[STAGE_COUNT];       /* every tensor of each checkpoint          */
    char *file[STAGE_COUNT];       /* the checkpoint paths (NULL: from config) */
} ModelDesc;

/* Reads config.json and the tensor headers of the three checkpoints of a
 * model directory (no weights are read). */
int model_desc_from_dir(ModelDesc *m, const ModelPaths *mp, T2vError *err);
/* The same from an opened Model (its DiT config: any layout, --dit files). */
int model_desc_from_model(ModelDesc *m, const Model *mo, T2vError *err);
/* The official files for a DiT config: DiT F32 (docs/MODEL.md 6.1), umT5-XXL BF16
 * (docs/MODEL.md 5.4, t5_default_config), the shipped Wan VAE F32 (docs/MODEL.md 4.1,
 * vae_default_config). */
int model_desc_from_config(ModelDesc *m, const DiTConfig *c, T2vError *err);
void model_desc_free(ModelDesc *m);

/* Layouts written from configs: each stage's own list (official names and
 * order), every tensor of dtype dt. */
int desc_dit(DescList *d, const DiTConfig *c, DType dt, T2vError *err);
int desc_t5(DescList *d, const T5Config *c, DType dt, T2vError *err);
int desc_vae(DescList *d, const VaeConfig *c, DType dt, T2vError *err);
const TensorDesc *desc_find(const DescList *d, const char *name);
int64_t desc_numel(const TensorDesc *t);
void desc_list_free(DescList *d);

/* Sizes of one generation: W x H pixels, F frames -> latent [C, T, h, w]
 * (the VAE's: vae_latent_size), patch grid f x hp x wp = N tokens; L text
 * tokens into the T5. */
typedef struct {
    int W, H, F, C, T, h, w, f, hp, wp, N, L;
} ClipSize;
void cost_size(ClipSize *s, const ModelDesc *m, int W, int H, int F, int L);

/* FLOPs (2 per multiply-add) of each piece for one ClipSize. */
typedef struct {
    int64_t t5_layer, t5;                      /* one prompt of L tokens              */
    int64_t text_embedding;                    /* DiT, once per prompt                */
    int64_t patch, time, head;                 /* DiT, per forward                    */
    int64_t self_proj, self_attn;              /* per block: q,k,v,o and QK^T, AV     */
    int64_t cross_proj, cross_kv, cross_attn;  /* q,o; k,v of the text_len rows; attn */
    int64_t ffn;                               /* ffn.0 and ffn.2                     */
    int64_t block, dit;                        /* one block; one whole forward        */
    int64_t vae_decode;                        /* whole video                         */
} Flops;
void cost_flops(const ModelDesc *m, const ClipSize *s, Flops *out);
/* FLOPs of one VAE decoder layer (prefix such as "decoder.upsamples.3") for
 * the size, and its output shape [C, F, H, W]; 0 for names not in the
 * decoder. The decoder layers are walked in order, as vae_decode runs them. */
int64_t cost_vae_layer(const ModelDesc *m, const ClipSize *s, const char *prefix, int64_t shape[4]);

typedef struct {
    double text, dit, vae, peak; /* bytes */
} MemEstimate;
/* Weights count at their stored size (mapped pages become resident), plus
 * each phase's activations and scratch. The VAE phase is generate's: the
 * video streamed to the writers, one latent frame's frames held at a time
 * (docs/OUTPUTS.md, Streamed writing). */
void cost_memory(const ModelDesc *m, const ClipSize *s, MemEstimate *out);
/* The VAE phase with the whole float video held (generate --dump, which
 * writes it) in place of out->vae, and out->peak again. */
void cost_memory_whole_video(const ModelDesc *m, const ClipSize *s, MemEstimate *out);

/* The DiT phase of causal generation (docs/ARCHITECTURE.md 10c) in place of
 * out->dit, and out->peak again: the activations of one block of `block`
 * latent frames, the clip's latent twice (noise, result), and the key/value
 * cache of `kept` latent frames in fp32. */
void cost_memory_causal(const ModelDesc *m, const ClipSize *s, int block, int kept, MemEstimate *out);

/* The DiT phase in context windows of `window` latent frames
 * (docs/ARCHITECTURE.md 10b) in place of out->dit, and out->peak again: the
 * activations of one window (the token buffers hold one window), the
 * sampler's latent-sized buffers for the whole clip, and the blend's: the
 * window's input and velocity, the clip's plain sums. chain != 0: the chain
 * schedule, whose sampler runs on one window at a time: a window's
 * latent-sized buffers, and the clip's noise and result. */
void cost_memory_windowed(const ModelDesc *m, const ClipSize *s, int window, int chain, MemEstimate *out);

/* Parameters and bytes of a list (bytes[DT_COUNT] may be NULL). */
int64_t desc_params(const DescList *d, int64_t *bytes);

#endif
