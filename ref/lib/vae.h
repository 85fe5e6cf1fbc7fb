/*
 * vae.h: the Wan-VAE (WanVAE_ of Wan2.1, docs/MODEL.md section 4): a causal 3D
 * convolutional autoencoder, 8x in space and 4x in time with the first frame
 * alone. Also the Wan2.2 VAE (Wan2.2_VAE.pth, docs/ARCHITECTURE.md "Wan2.2"):
 * the same blocks with 2x2 pixels folded into channels (16x in space), the
 * blocks of a stage grouped under a parameter-free average shortcut, its own
 * decoder width and a 48-channel latent. The decoder runs one latent frame at a time with the feature cache
 * (the last 2 input frames of every causal conv), so its working memory does
 * not grow with the number of frames.
 *
 * The configuration (base dim, channel multipliers, z_dim, which resamplers
 * are temporal) is derived from the tensor names and shapes, so the shipped
 * 96-channel VAE and tiny test VAEs share one code path. Weights stay in their
 * file dtype (Tensor views) and are widened just before use.
 *
 * The VAE owns the latent: its channels (z_dim) and strides (scale_t,
 * scale_s) come from here (vae_latent_size, vae_video_size), and so does its
 * RGB preview (vae_preview_rgb).
 */
#ifndef T2V_VAE_H
#define T2V_VAE_H

#include <stddef.h>
#include <stdint.h>

#include "gemm_bf16.h"
#include "tensor.h"

#define VAE_MAX_Z 48     /* latent channels: 16 for Wan2.1's VAE, 48 for Wan2.2's */
#define VAE_MAX_STAGES 4 /* len(dim_mult): the official Decoder3d halves the input of stages 1..3 */

/* WanVAE_'s constructor arguments (docs/MODEL.md 4.3) and what follows from them. The
 * latent's geometry belongs to the VAE: every other place asks these fields
 * or the helpers below, never a literal 16 or 4x8x8. */
typedef struct {
    int dim;              /* base dim: 96 for Wan2.1_VAE.pth (decoder.head.0.gamma); the
                             encoder's (encoder.conv1.weight) when both halves are present */
    int dec_dim;          /* the decoder's base dim: dim for Wan2.1, 256 (dim 160) for Wan2.2 */
    int patch;            /* pixels folded p x p into channels: 1 (Wan2.1), 2 (Wan2.2) */
    int grouped;          /* 1 (Wan2.2): the blocks of stage i are one group
                             (encoder.downsamples.i.downsamples.j) with an average shortcut */
    int z_dim;            /* latent channels: 16 (conv2.weight) */
    int n_stages;         /* len(dim_mult): 4 */
    int dim_mult[VAE_MAX_STAGES];      /* 1, 2, 4, 4: channels of stage i = dim * dim_mult[i] */
    int num_res_blocks;   /* 2 per encoder stage; the decoder has one more */
    int temporal_down[VAE_MAX_STAGES]; /* 0, 1, 1: downsample3d after encoder stage i (the
                                          decoder upsamples in time in reverse order) */
    /* derived */
    int dec_top;          /* decoder channels after decoder.conv1: dim * dim_mult[-1] */
    int enc_top;          /* encoder channels before encoder.head: dim * dim_mult[-1] */
    int n_dec, n_enc;     /* layers in the decoder / encoder chains (0: absent) */
    int scale_s, scale_t; /* strides latent -> video: 8 in space (16 for Wan2.2), 4 in time */
} VaeConfig;

/* The shipped Wan2.1 VAE (Wan2.1_VAE.pth), both halves. */
void vae_default_config(VaeConfig *c);
/* The shipped Wan2.2 VAE (Wan2.2_VAE.pth): dim 160, decoder 256, z_dim 48,
 * 2x2 patches, grouped (what the official Wan2_2_VAE builds). */
void vae22_default_config(VaeConfig *c);
/* The configuration from tensor names and shapes alone (no data is read):
 * which halves are present (conv2.weight: decoder, conv1.weight: encoder),
 * z_dim, dim, the stages and their multipliers, the residual blocks per
 * stage, which resamples are temporal. vae_build checks every tensor. */
int vae_config_from_tensors(VaeConfig *c, const TensorList *w, T2vError *err);
/* The official tensors of the halves present (docs/MODEL.md 4.3), in module order:
 * encoder.*, conv1, conv2, decoder.*. Writes the first min(n, cap) to out
 * (NULL when cap is 0) and returns n. The list vae_build binds and
 * shape-checks. */
int vae_tensor_specs(const VaeConfig *c, TensorSpec *out, int cap);

/* ----------------------------------------------------------------------------
 * The latent's geometry. A video [3, F, H, W] and its latent [z_dim, T, h, w]:
 *   T = 1 + (F-1)/scale_t,  h = H/scale_s,  w = W/scale_s.
 * Legal video sizes are F = 1 + scale_t*k (k >= 0) frames and H, W positive
 * multiples of scale_s (81 frames at 832x480 -> [16, 21, 60, 104] for
 * Wan2.1): the decoder produces exactly those, and vae_encode uses all of
 * such a video (it drops the frames past the last whole group of scale_t
 * and needs H, W multiples of scale_s). The channels are c->z_dim. */
void vae_latent_size(const VaeConfig *c, int F, int H, int W, int *T, int *h, int *w);
/* The inverse: F = 1 + scale_t*(T-1), H = scale_s*h, W = scale_s*w. */
void vae_video_size(const VaeConfig *c, int T, int h, int w, int *F, int *H, int *W);
/* 1 when F, H, W are a legal video size for this VAE (above), else 0. */
int vae_video_size_ok(const VaeConfig *c, int F, int H, int W);

/* A convolution: w is a view of the file tensor with 5 dims [Cout, Cin, kt,
 * kh, kw] (2D convs get kt = 1); for the attention's 1x1 convs a 2-dim view
 * [Cout, Cin]. b is an fp32 copy of the bias. */
typedef struct {
    Tensor w;
    float *b;
    int cin, cout;
} VaeConv;

typedef enum {
    VAE_CONV,   /* decoder.conv1 / encoder.conv1: CausalConv3d k3            */
    VAE_RES,    /* ResidualBlock                                              */
    VAE_ATTN,   /* AttentionBlock (middle.1)                                  */
    VAE_UP2D,   /* Resample upsample2d                                        */
    VAE_UP3D,   /* Resample upsample3d (time_conv, then spatial)              */
    VAE_DOWN2D, /* Resample downsample2d                                      */
    VAE_DOWN3D, /* Resample downsample3d (spatial, then time_conv)            */
    VAE_HEAD,   /* head: RMS_norm, SiLU, CausalConv3d k3                      */
    VAE_SAVE,   /* Wan2.2: keeps a group's last 2 input frames for its shortcut  */
    VAE_AVGDOWN,/* Wan2.2: adds AvgDown3D of the saved input (encoder groups)    */
    VAE_DUPUP   /* Wan2.2: adds DupUp3D of the saved input (decoder groups)      */
} VaeKind;

typedef struct {
    VaeKind kind;
    char name[48];      /* official prefix, e.g. "decoder.upsamples.3" */
    int cin, cout;
    float *gamma, *gamma2; /* RES residual.0/.3.gamma; ATTN norm.gamma; HEAD head.0.gamma */
    VaeConv conv, conv2;   /* RES residual.2/.6; CONV itself; HEAD head.2;
                              ATTN to_qkv/proj; UP/DOWN resample.1 (conv) */
    VaeConv shortcut;      /* RES with cin != cout (else w.data == NULL) */
    VaeConv time_conv;     /* UP3D [2C, C, 3, 1, 1], DOWN3D [C, C, 3, 1, 1] */
    int src, ft, fs;       /* AVGDOWN, DUPUP: the group's SAVE layer, time and space factors */
} VaeLayer;

typedef struct {
    VaeConfig config;
    VaeConv conv2;      /* top-level conv2 [z, z, 1, 1, 1]: first step of decode */
    VaeConv conv1;      /* top-level conv1 [2z, 2z, 1, 1, 1]: last step of encode */
    VaeLayer *dec;      /* decoder.conv1, middle.0-2, upsamples.*, head */
    VaeLayer *enc;      /* encoder.conv1, downsamples.*, middle.0-2, head */
    Precision precision; /* of every convolution and the attention's products
                            (gemm_bf16.h): fp32 (vae_build's default) or bf16 */
} Vae;

/* vae_config_from_tensors, then binds and shape-checks every tensor of
 * vae_tensor_specs. The TensorList must outlive the Vae. Either half may be
 * absent (a decoder-only checkpoint), not both. */
int vae_build(Vae *m, const TensorList *w, T2vError *err);
void vae_free(Vae *m);

/* Called after each decoded chunk (latent frame): chunk = 1..nchunks. */
typedef void (*VaeProgress)(void *user, int chunk, int nchunks);

/* z [z_dim, T, h, w] normalised (as the DiT sees it) -> video [3, F, H, W]
 * of vae_video_size (Wan2.1: [3, 1+4(T-1), 8h, 8w]) clamped to [-1, 1].
 * Chunked: one latent frame at a time. */
int vae_decode(Vae *m, const float *z, int T, int h, int w, float *video, VaeProgress cb,
               void *user, T2vError *err);

/* Decoded frames as they are made (vae_decode_to): emit receives video
 * frames first .. first+n-1 as frames [3, n, H, W], clamped to [-1, 1]
 * (valid during the call), each latent frame's frames in one call (Wan: 1,
 * then 4 at a time), in order. A non-zero return stops the decode with
 * that code (emit sets err's message). */
typedef struct {
    void *user;
    int (*emit)(void *user, const float *frames, int first, int n, int H, int W, T2vError *err);
} VaeFrameSink;

/* vae_decode, the frames handed to fs instead of stored: the video is never
 * held whole, only one latent frame's frames (the same loop, the same bits). */
int vae_decode_to(Vae *m, const float *z, int T, int h, int w, const VaeFrameSink *fs, VaeProgress cb,
                  void *user, T2vError *err);

/* video [3, F, H, W] in [-1, 1], H and W multiples of scale_s -> normalised
 * mu [z_dim, T, h, w] of vae_latent_size (frames past the last whole group
 * of scale_t are dropped, as officially). */
int vae_encode(Vae *m, const float *video, int F, int H, int W, float *z, T2vError *err);

/* Per-layer access, for tests and dumps. Layer i of the decoder (dec = 1) is
 * decoder.conv1, decoder.middle.0-2, decoder.upsamples.*, decoder.head; of
 * the encoder encoder.conv1, encoder.downsamples.*, encoder.middle.0-2,
 * encoder.head. vae_layer_name gives the official prefix ("decoder.head"). */
const char *vae_layer_name(const Vae *m, int dec, int i);
/* Shape [C, F, H, W] of the output of the first n layers (n = 0: conv2's
 * output for the decoder, the used frames of the video for the encoder),
 * for an input latent [z_dim, T, h, w] (dec) or video [3, T, h, w] (encoder). */
void vae_stage_shape(const Vae *m, int dec, int n, int T, int h, int w, int shape[4]);
/* Runs the first n layers only (not clamped; the encoder without conv1),
 * chunked exactly as vae_decode / vae_encode. out has vae_stage_shape. */
int vae_decode_stage(Vae *m, int n, const float *z, int T, int h, int w, float *out, T2vError *err);
int vae_encode_stage(Vae *m, int n, const float *video, int F, int H, int W, float *out, T2vError *err);

/* Bytes of working memory vae_decode allocates for an h x w latent (feature
 * caches, frame buffers, scratch; not the weights, the latent or the video).
 * Independent of the number of frames. */
size_t vae_decode_memory(const Vae *m, int h, int w);

/* ----------------------------------------------------------------------------
 * Latent preview: a fixed linear map of one latent frame to RGB, as ComfyUI's
 * Latent2RGB previewer does (comfy/latent_formats.py: latent_rgb_factors
 * [channels][3] and latent_rgb_factors_bias [3]; latent_preview.py:
 * rgb = bias + sum_c latent[c] * rgb[c], clamp to [-1, 1], (x+1)*127.5,
 * rounded). The factors apply to the latent the DiT sees (normalised). */
typedef struct {
    int channels;            /* latent channels it maps: the VAE's z_dim */
    float rgb[VAE_MAX_Z][3]; /* rows 0..channels-1 */
    float bias[3];
} VaePreview;

/* ComfyUI's class Wan21 factors, for the 16-channel Wan2.1 latent. */
extern const VaePreview vae_preview_wan21;
/* ComfyUI's class Wan22 factors, for the 48-channel Wan2.2 latent. */
extern const VaePreview vae_preview_wan22;
/* The built-in factors for this VAE's latent (vae_preview_wan21 when z_dim
 * is 16, vae_preview_wan22 when 48), or NULL when there are none (then supply them, e.g. from t2v.json). */
const VaePreview *vae_preview_default(const VaeConfig *c);
/* Factors from a flat list, as t2v.json's "preview_factors" holds them:
 * channels x 3 weights (row-major), then 3 biases; n must be 3*channels + 3. */
int vae_preview_from_list(VaePreview *p, int channels, const float *v, int n, T2vError *err);
/* latent [C][T][h][w], frame in [0, T) -> out [h][w][3] before clamping.
 * C must be p->channels. */
int vae_preview_f32(const VaePreview *p, const float *latent, int C, int T, int h, int w, int frame,
                    float *out, T2vError *err);
/* The same -> rgb [h][w][3] uint8 (clamped, rounded). */
int vae_preview_rgb(const VaePreview *p, const float *latent, int C, int T, int h, int w, int frame,
                    uint8_t *rgb, T2vError *err);

#endif
