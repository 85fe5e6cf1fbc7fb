/*
 * vae.h: the Wan-VAE (WanVAE_ of Wan2.1, wan21-spec section 4): a causal 3D
 * convolutional autoencoder, 8x in space and 4x in time with the first frame
 * alone. The decoder runs one latent frame at a time with the feature cache
 * (the last 2 input frames of every causal conv), so its working memory does
 * not grow with the number of frames.
 *
 * The configuration (base dim, channel multipliers, z_dim, which resamplers
 * are temporal) is derived from the tensor names and shapes, so the shipped
 * 96-channel VAE and tiny test VAEs share one code path. Weights stay in their
 * file dtype (Tensor views) and are widened just before use.
 */
#ifndef T2V_VAE_H
#define T2V_VAE_H

#include <stddef.h>

#include "tensor.h"

typedef struct {
    int dim;         /* base dim: 96 for Wan2.1_VAE.pth (decoder.head.0.gamma) */
    int z_dim;       /* latent channels: 16 (conv2.weight) */
    int dec_top;     /* decoder channels after decoder.conv1: dim * dim_mult[-1] */
    int enc_top;     /* encoder channels before encoder.head: dim * dim_mult[-1] */
    int n_dec, n_enc;   /* layers in the decoder / encoder chains (0: absent) */
    int scale_s, scale_t; /* decoder upsampling: 8 in space, 4 in time (shipped) */
} VaeConfig;

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
    VAE_HEAD    /* head: RMS_norm, SiLU, CausalConv3d k3                      */
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
} VaeLayer;

typedef struct {
    VaeConfig config;
    VaeConv conv2;      /* top-level conv2 [z, z, 1, 1, 1]: first step of decode */
    VaeConv conv1;      /* top-level conv1 [2z, 2z, 1, 1, 1]: last step of encode */
    VaeLayer *dec;      /* decoder.conv1, middle.0-2, upsamples.*, head */
    VaeLayer *enc;      /* encoder.conv1, downsamples.*, middle.0-2, head */
} Vae;

/* Binds the weights (official names, spec 4.3) and derives the config. The
 * TensorList must outlive the Vae. Either half may be absent (a decoder-only
 * checkpoint), not both. */
int vae_build(Vae *m, const TensorList *w, T2vError *err);
void vae_free(Vae *m);

/* Called after each decoded chunk (latent frame): chunk = 1..nchunks. */
typedef void (*VaeProgress)(void *user, int chunk, int nchunks);

/* z [16, T, h, w] normalised (as the DiT sees it) -> video [3, 1+4(T-1), 8h,
 * 8w] clamped to [-1, 1]. Chunked: one latent frame at a time. */
int vae_decode(Vae *m, const float *z, int T, int h, int w, float *video, VaeProgress cb,
               void *user, T2vError *err);

/* video [3, F, H, W] in [-1, 1] -> normalised mu [16, 1+(F-1)/4, H/8, W/8]
 * (frames past the last whole group of 4 are dropped, as officially). */
int vae_encode(Vae *m, const float *video, int F, int H, int W, float *z, T2vError *err);

/* Per-layer access, for tests and dumps. Layer i of the decoder (dec = 1) is
 * decoder.conv1, decoder.middle.0-2, decoder.upsamples.*, decoder.head; of
 * the encoder encoder.conv1, encoder.downsamples.*, encoder.middle.0-2,
 * encoder.head. vae_layer_name gives the official prefix ("decoder.head"). */
const char *vae_layer_name(const Vae *m, int dec, int i);
/* Shape [C, F, H, W] of the output of the first n layers (n = 0: conv2's
 * output for the decoder, the used frames of the video for the encoder),
 * for an input latent [16, T, h, w] (dec) or video [3, T, h, w] (encoder). */
void vae_stage_shape(const Vae *m, int dec, int n, int T, int h, int w, int shape[4]);
/* Runs the first n layers only (not clamped; the encoder without conv1),
 * chunked exactly as vae_decode / vae_encode. out has vae_stage_shape. */
int vae_decode_stage(Vae *m, int n, const float *z, int T, int h, int w, float *out, T2vError *err);
int vae_encode_stage(Vae *m, int n, const float *video, int F, int H, int W, float *out, T2vError *err);

/* Bytes of working memory vae_decode allocates for an h x w latent (feature
 * caches, frame buffers, scratch; not the weights, the latent or the video).
 * Independent of the number of frames. */
size_t vae_decode_memory(const Vae *m, int h, int w);

#endif
