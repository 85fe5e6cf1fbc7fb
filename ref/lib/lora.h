/*
 * lora.h: LoRA adapters on the DiT (--lora FILE[:SCALE], README "LoRA").
 *
 * Keys in three conventions, each mapped onto the DiT's official module
 * names (names.h's table for the diffusers ones):
 *   original / ComfyUI  diffusion_model.blocks.0.self_attn.q.lora_down.weight,
 *                       .lora_up.weight, .alpha (also .lora_A / .lora_B),
 *                       .diff (a full delta of a weight, norms included),
 *                       .diff_b (a bias delta): head.head.diff_b
 *   diffusers / PEFT    transformer.blocks.0.attn1.to_q.lora_A.weight,
 *                       .lora_B.weight, .lora_B.bias; attn2 = cross-attention
 *                       (also under PEFT's own "base_model.model." prefix)
 *   kohya               lora_unet_blocks_0_self_attn_q.lora_down.weight + .alpha,
 *                       matched against the model's real module names
 * The deltas (docs/MODEL.md 6.4):
 *   dW = SCALE * (alpha / rank) * up @ down   (alpha defaults to rank)
 *   dW = SCALE * diff,  db = SCALE * diff_b,  db = SCALE * (alpha / rank) * lora_B.bias
 * and several files sum. An up/down pair is kept low rank, in fp32, beside
 * its weight (which stays in its file dtype: bf16, fp16, fp8 with its scale,
 * quantized): the kernels add up @ down to the weight where they widen it
 * to fp32 for a GEMM, and up @ (down @ x) beside a matrix-vector product.
 * Full deltas (.diff, .diff_b) are added to an fp32 copy of their tensor.
 * Keys that name nothing in the model are an error listing them, unless
 * ignored.
 */
#ifndef T2V_LORA_H
#define T2V_LORA_H

#include "tensor.h"

/* A LoRA file and its scale (--lora FILE[:SCALE]). */
typedef struct {
    const char *path;
    float scale;
} LoraFile;

typedef enum { LORA_DOWN, LORA_UP, LORA_ALPHA, LORA_DIFF, LORA_DIFF_B, LORA_BIAS } LoraPart;
typedef enum { LORA_ORIGINAL, LORA_DIFFUSERS, LORA_KOHYA } LoraConvention;
const char *lora_convention_name(LoraConvention c);

/* One key: the official module (or parameter) name of the DiT it changes,
 * the part and the convention. `model` (official names) resolves kohya's
 * underscores. 0: parsed; -1: not a LoRA key; -2: a module the model lacks
 * (module is still filled, when it could be read). */
int lora_parse_key(const char *key, const TensorList *model, char *module, size_t n, LoraPart *part,
                   LoraConvention *conv);

/* The keys of tl with a LoRA suffix, counted per convention (by prefix:
 * lora_unet_ kohya, transformer. diffusers/PEFT, else original): the total
 * (t2v info FILE). */
int lora_count_keys(const TensorList *tl, int per_convention[3]);

/* The memory of the low-rank deltas lora_apply attaches (the Checkpoint
 * whose tensors they change owns it; freed with it). */
typedef struct {
    void **blocks;
    int n, cap;
} LoraStore;
void lora_store_free(LoraStore *s);

/* Applies the files to w (the DiT's tensors under official names): up/down
 * pairs become each weight's low-rank delta (Tensor.delta, fp32, several
 * files concatenated along the rank), added where the kernels widen the
 * weight; .diff / .diff_b / lora_B.bias make their tensor an owned F32
 * copy with the delta added. T2V_EINPUT naming the file and key for an
 * unknown key (unless ignore_unknown), a rank that differs between up and
 * down, a shape that does not fit its weight. */
int lora_apply(TensorList *w, LoraStore *store, const LoraFile *files, int n, int ignore_unknown, T2vError *err);

#endif
