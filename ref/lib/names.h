/*
 * names.h: the weight-name conventions t2v reads besides the official one,
 * each mapped once, when a checkpoint is opened, onto the official names the
 * stages bind (README "Layouts and flags"; docs/MODEL.md section 6):
 *
 *   DiT  official (Wan2.1), optionally under a "model.diffusion_model.",
 *        "diffusion_model.", "model." (CausVid / Self-Forcing .pt) or "net."
 *        (rCM) prefix; diffusers WanTransformer3DModel names; rCM's patch
 *        embedding stored as a Linear [dim, in*pt*ph*pw].
 *   umT5 official; Hugging Face UMT5EncoderModel names ("shared.weight" or
 *        "encoder.embed_tokens.weight", "encoder.block.N.layer.M...").
 *   VAE  official; diffusers AutoencoderKLWan names.
 *
 * ComfyUI's scaled fp8 files: each "X.scale_weight" (a 0-d F32) becomes the
 * Tensor.scale of "X.weight"; the empty "scaled_fp8" marker is dropped. Any
 * F8_E4M3 tensor holding a NaN encoding (0x7f, 0xff) is refused.
 *
 * The name tables follow diffusers' own conversion script
 * (scripts/convert_wan_to_diffusers.py), read in the other direction.
 */
#ifndef T2V_NAMES_H
#define T2V_NAMES_H

#include "dit.h"
#include "json.h"
#include "tensor.h"

typedef enum { ROLE_DIT, ROLE_T5, ROLE_VAE } WeightRole;
const char *role_name(WeightRole r); /* "DiT", "umT5", "VAE" */

/* out <- the tensors of `in` under official names (views; out's names are
 * its own). `conv` receives the detected convention ("official",
 * "diffusers", "ComfyUI (model.diffusion_model.)", ...). T2V_EINPUT naming
 * `path` and the tensor for a malformed scale, an fp8 NaN, a clash of two
 * names onto one. */
int names_to_official(TensorList *out, const TensorList *in, WeightRole role, const char *path, char *conv,
                      size_t convlen, T2vError *err);

/* Which component a file's names look like (t2v info FILE): 1 and *role set
 * when one of them, 0 when none. */
int names_guess_role(const TensorList *tl, WeightRole *role);

/* The DiT prefixes (strip them) and the diffusers module/tensor names: the
 * official name of a DiT name in any of them into out; 0 when it mapped
 * (also an official name maps onto itself), -1 when out is too small. The
 * LoRA key parser (lora.c) uses the same table. */
int names_dit_official(char *out, size_t n, const char *name);
/* The prefix of name that names_dit_official strips ("" when none). */
const char *names_dit_prefix(const char *name);

/* A diffusers transformer/config.json (WanTransformer3DModel) as a DiTConfig.
 * text_len is not a diffusers key: an optional "text_len" is read, else 512. */
int dit_config_from_diffusers(DiTConfig *c, const JsonValue *j, const char *path, T2vError *err);
/* A DiT config from the official tensors' shapes (a single file with no
 * config.json): dim, ffn_dim, freq_dim, num_layers, in/out_dim, text_dim,
 * patch. Heads and text_len are not in the shapes: `hint` supplies them when
 * its dim matches (the model directory's config), else head dim 128 and
 * text_len 512 (both Wan2.1 models). */
int dit_config_from_tensors(DiTConfig *c, const TensorList *w, const DiTConfig *hint, const char *path,
                            T2vError *err);

#endif
