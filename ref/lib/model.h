/*
 * model.h: one loader. A model directory (the official Wan2.1 layout) is read
 * once into one Model: the paths of its files, t2v's defaults for it, the
 * DiT config and the VAE config (which types the latent). `generate`,
 * `stage`, `info` and `--trace` all start from model_open.
 *
 *   DIR/config.json                                  DiT hyperparameters
 *   DIR/diffusion_pytorch_model.safetensors          DiT (or shards + .index.json)
 *   DIR/models_t5_umt5-xxl-enc-bf16.pth              umT5 encoder (or .safetensors)
 *   DIR/Wan2.1_VAE.pth                               VAE (or .safetensors)
 *   DIR/google/umt5-xxl/spiece.model                 tokenizer
 *   DIR/t2v.json                                     optional: t2v's defaults for this model
 *
 * The stages' weights are not read by model_open: each stage's checkpoint is
 * opened (mapped) by its model_load_* and closed by the caller when the
 * stage is done, so a generation's peak memory is its largest stage's.
 */
#ifndef T2V_MODEL_H
#define T2V_MODEL_H

#include "dit.h"
#include "json.h"
#include "pth.h"
#include "safetensors.h"
#include "t5.h"
#include "tensor.h"
#include "tokenizer.h"
#include "vae.h"

/* One weight file of any supported kind, opened read-only and mapped; its
 * TensorList holds views into the mapping. */
typedef struct {
    int is_pth;
    StShards st;
    PthFile pth;
    const TensorList *tensors;
} Checkpoint;

/* Opens a .pth (zip), a .safetensors or a .safetensors.index.json file,
 * telling them apart by content. */
int ckpt_open(Checkpoint *c, const char *path, T2vError *err);
void ckpt_close(Checkpoint *c);

/* Paths of the files of a model directory (each NULL when absent). */
typedef struct {
    char *dir;
    char *config, *dit, *t5, *vae, *tokenizer, *defaults;
} ModelPaths;

/* Defaults for generation, from t2v.json when present, else Wan2.1's. */
typedef struct {
    int width, height, frames, steps;
    double cfg, shift;
    int fps;
    char sampler[16];
    char *negative_prompt; /* NULL: the official default negative prompt */
    int context_window;    /* frames the model was trained on: longer clips are
                              sampled in context windows of this length (81)  */
    int context_overlap;   /* frames shared by neighbouring windows (16)       */
    float preview_factors[VAE_MAX_Z * 3 + 3]; /* latent -> RGB map: C x 3 weights then 3 biases */
    int n_preview_factors;                    /* 3 C + 3, or 0: none in t2v.json */
} ModelDefaults;

typedef struct {
    ModelPaths paths;
    ModelDefaults defaults;
    DiTConfig dit;    /* from config.json (has_dit)                          */
    VaeConfig vae;    /* from the VAE checkpoint's tensor shapes (has_vae)     */
    VaePreview preview; /* latent -> RGB: t2v.json's factors, else the VAE's built-in ones */
    int has_dit, has_vae, has_preview;
} Model;

/* What model_open must find (a mask); the other files are read when present. */
enum { MODEL_NEED_CONFIG = 1, MODEL_NEED_DIT = 2, MODEL_NEED_T5 = 4, MODEL_NEED_VAE = 8,
       MODEL_NEED_TOKENIZER = 16, MODEL_NEED_ALL = 31 };

/* Finds the files, reads t2v.json, config.json and the VAE's config. Fails
 * (T2V_EINPUT, naming the directory and the missing file) for a file of
 * `need` that is absent, and for any file present but malformed. */
int model_open(Model *m, const char *dir, int need, T2vError *err);
void model_close(Model *m);

/* Wan2.1's defaults (832x480, 81 frames, 50 UniPC steps, shift 5, cfg 5,
 * 16 fps): what model_open starts from before reading t2v.json. */
void model_default_settings(ModelDefaults *d);

/* The stages, each on its own checkpoint: the checkpoint stays mapped until
 * the caller's ckpt_close (after the stage's *_free). */
int model_load_dit(const Model *m, Checkpoint *ck, DiT *dit, T2vError *err);
int model_load_t5(const Model *m, Checkpoint *ck, T5 *t5, T2vError *err);
int model_load_vae(const Model *m, Checkpoint *ck, Vae *vae, T2vError *err);
int model_load_tokenizer(const Model *m, Tokenizer *tk, T2vError *err);

/* The official config.json of the DiT: dim, ffn_dim, num_heads, num_layers
 * required; freq_dim, in_dim, out_dim, eps, text_len, text_dim, patch_size
 * optional (dit_default_config's values). Refuses a model_type other than
 * "t2v" and inconsistent sizes; `path` names the file in messages. */
int dit_config_from_json(DiTConfig *c, const JsonValue *j, const char *path, T2vError *err);
/* The same from the file (`t2v info --config`). */
int dit_config_read(DiTConfig *c, const char *path, T2vError *err);

/* Reads a whole small text file (config.json, t2v.json). */
char *read_text_file(const char *path, size_t *len, T2vError *err);
/* Reads and parses a JSON file (caller json_frees); NULL with err set. */
JsonValue *read_json_file(const char *path, T2vError *err);
/* "dir" + "/" + "name" (caller frees). */
char *path_join(const char *dir, const char *name);

#endif
