/*
 * model.h: the model directory (DESIGN.md section 3) and weight binding.
 *
 *   DIR/config.json                                  DiT hyperparameters
 *   DIR/diffusion_pytorch_model.safetensors          DiT (or shards + .index.json)
 *   DIR/models_t5_umt5-xxl-enc-bf16.pth              umT5 encoder (or .safetensors)
 *   DIR/Wan2.1_VAE.pth                               VAE (or .safetensors)
 *   DIR/google/umt5-xxl/spiece.model                 tokenizer
 *   DIR/t2v.json                                     optional: t2v's defaults for this model
 *
 * A Checkpoint is one weight file of any supported kind, opened read-only and
 * mapped; its TensorList holds views into the mapping.
 */
#ifndef T2V_MODEL_H
#define T2V_MODEL_H

#include "dit.h"
#include "pth.h"
#include "safetensors.h"
#include "tensor.h"

typedef struct {
    char *path;
    int is_pth;
    StShards st;
    PthFile pth;
    const TensorList *tensors;
} Checkpoint;

/* Opens a .pth (zip), a .safetensors or a .safetensors.index.json file,
 * telling them apart by content. */
int ckpt_open(Checkpoint *c, const char *path, T2vError *err);
void ckpt_close(Checkpoint *c);

/* Defaults for generation, from t2v.json when present, else Wan2.1's. */
typedef struct {
    int width, height, frames, steps;
    double cfg, shift;
    int fps;
    char sampler[16];
    char *negative_prompt; /* NULL: the official default negative prompt */
    float preview_factors[16 * 3 + 3]; /* latent -> RGB map: 16x3 weights then 3 biases */
    int has_preview_factors;
} ModelDefaults;

/* Paths of the files of a model directory (each NULL when absent). */
typedef struct {
    char *dir;
    char *config, *dit, *t5, *vae, *tokenizer, *defaults;
} ModelPaths;

/* Finds the files; fails (T2V_EINPUT, naming what is missing) only for the
 * files in `need` (a mask of MODEL_NEED_*). */
enum { MODEL_NEED_CONFIG = 1, MODEL_NEED_DIT = 2, MODEL_NEED_T5 = 4, MODEL_NEED_VAE = 8,
       MODEL_NEED_TOKENIZER = 16, MODEL_NEED_ALL = 31 };
int model_find(ModelPaths *p, const char *dir, int need, T2vError *err);
void model_paths_free(ModelPaths *p);
int model_defaults(ModelDefaults *d, const ModelPaths *p, T2vError *err);
void model_defaults_free(ModelDefaults *d);

/* ----------------------------------------------------------------------------
 * The pipeline (DESIGN.md section 1), wired from the stages:
 *   prompt -> tokenizer -> umT5 -> context   (and the negative prompt)
 *   seed -> noise; per step: DiT(cond), DiT(uncond), CFG, sampler step
 *   VAE decode -> video [3, F, H, W] in [-1, 1]
 * Each stage's checkpoint is opened, used and closed in turn, so the peak
 * memory is that of the largest stage, not their sum. */
typedef struct {
    const char *prompt, *negative; /* negative used only when cfg > 1 */
    int width, height, frames, steps;
    double cfg, shift;
    int sampler;                   /* SamplerKind */
    uint64_t seed;
    int keep_steps;                /* keep every step's latent (for --dump) */
} GenSettings;

typedef struct {
    void *user;
    /* stage "text encoder" | "sampling" | "VAE decode", k of n done */
    void (*progress)(void *user, const char *stage, int k, int n);
    /* after sampling step i, with the latent x_{i+1} (may be NULL) */
    void (*on_step)(void *user, int i, const float *x, int T, int h, int w);
    /* after the model passes of step i, before the sampler step (for
     * --trace; may be NULL): x = x_i, the sample the DiT saw at sigma_i and
     * timestep t_i; v_cond, v_uncond its raw outputs (v_uncond NULL without
     * CFG). The guided v is cfg_combine(v_cond, v_uncond, cfg). */
    void (*on_velocity)(void *user, int i, double sigma, int timestep, const float *x, const float *v_cond,
                        const float *v_uncond, int T, int h, int w);
} GenHooks;

typedef struct {
    int32_t *ids, *ids_neg;     /* [L], [L_neg] (ids_neg NULL when cfg <= 1) */
    int L, L_neg, text_dim;
    float *context, *context_neg; /* [L, text_dim], [L_neg, text_dim] */
    int T, h, w;                /* latent grid */
    float *noise, *latent;      /* [16, T, h, w] */
    float *steps;               /* [steps][16, T, h, w] when keep_steps */
    float *timesteps;           /* [steps] */
    float *video;               /* [3, F, H, W] */
} GenResult;

/* Runs the whole pipeline on the model directory (all files needed). */
int pipeline_generate(const ModelPaths *mp, const GenSettings *s, const GenHooks *hooks, GenResult *r,
                      T2vError *err);
void gen_result_free(GenResult *r);
/* Reads the model's config.json. */
int model_dit_config(const ModelPaths *mp, DiTConfig *c, T2vError *err);

/* Reads a whole small text file (config.json, t2v.json). */
char *read_text_file(const char *path, size_t *len, T2vError *err);
/* "dir" + "/" + "name" (caller frees). */
char *path_join(const char *dir, const char *name);

#endif
