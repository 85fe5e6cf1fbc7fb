/*
 * model.h: one loader. A model directory (the official Wan2.1 layout) is read
 * once into one Model: the paths of its files, t2v's defaults for it, the
 * DiT config and the VAE config (which types the latent). `generate`,
 * `stage`, `info` and `--trace` all start from model_open.
 *
 *   DIR/config.json                                  DiT hyperparameters
 *   DIR/diffusion_pytorch_model.safetensors          DiT (or shards + .index.json, or .gguf)
 *   DIR/models_t5_umt5-xxl-enc-bf16.pth              umT5 encoder (or .safetensors)
 *   DIR/Wan2.1_VAE.pth                               VAE (or .safetensors); Wan2.2_VAE.pth
 *                                                    for Wan2.2 TI2V-5B
 *   DIR/google/umt5-xxl/spiece.model                 tokenizer
 *   DIR/t2v.json                                     optional: t2v's defaults for this model
 *
 * or the diffusers layout (DIR/model_index.json present):
 *   DIR/transformer/config.json + diffusion_pytorch_model*.safetensors [+ .index.json]
 *   DIR/text_encoder/model*.safetensors [+ .index.json]
 *   DIR/vae/diffusion_pytorch_model.safetensors
 *   DIR/tokenizer/spiece.model
 * whose names are mapped when a checkpoint is opened (names.h).
 * Wan2.2 T2V-A14B (a mixture of two experts) keeps config.json and the DiT
 * shards in DIR/high_noise_model/ and DIR/low_noise_model/ instead; the
 * family (model_family_name) is told from these files.
 *
 * The stages' weights are not read by model_open: each stage's checkpoint is
 * opened (mapped) by its model_load_* and closed by the caller when the
 * stage is done, so a generation's peak memory is its largest stage's.
 */
#ifndef T2V_MODEL_H
#define T2V_MODEL_H

#include "dit.h"
#include "gguf.h"
#include "json.h"
#include "lora.h"
#include "names.h"
#include "pth.h"
#include "safetensors.h"
#include "t5.h"
#include "tensor.h"
#include "tokenizer.h"
#include "vae.h"
#include "window.h"

/* One weight file of any supported kind, opened read-only and mapped; its
 * TensorList holds views into the mapping. */
typedef struct {
    int is_pth;
    int is_gguf; /* a GGUF file: gguf holds it (quantized tensors stay so) */
    StShards st;
    PthFile pth;
    GgufFile gguf;
    const TensorList *tensors;
    TensorList mapped;    /* ckpt_open_as: official names (views; LoRA merges owned) */
    LoraStore lora;       /* LoRA deltas attached to mapped's tensors (lora.h)     */
    char convention[128]; /* ckpt_open_as: the naming convention found (names.h)     */
} Checkpoint;

/* Opens a .pth (zip), a GGUF, a .safetensors or a .safetensors.index.json
 * file, telling them apart by content. */
int ckpt_open(Checkpoint *c, const char *path, T2vError *err);
/* The same, then the names mapped onto the official ones of `role`
 * (names.h: diffusers, Hugging Face, ComfyUI, .pt and rCM conventions):
 * c->tensors is then the mapped list. */
int ckpt_open_as(Checkpoint *c, const char *path, WeightRole role, T2vError *err);
void ckpt_close(Checkpoint *c);

/* What the command line changes in a model (all optional): single files that
 * replace one component (--dit, --t5, --vae) and LoRAs on the DiT. */
typedef struct {
    const char *dit, *t5, *vae;
    const LoraFile *lora;
    int n_lora, lora_ignore_unknown;
} ModelOptions;

/* Paths of the files of a model directory (each NULL when absent). */
typedef struct {
    char *dir;
    char *config, *dit, *t5, *vae, *tokenizer, *defaults;
    char *config_low, *dit_low; /* A14B: low_noise_model/ (config and dit: high_noise_model/) */
} ModelPaths;

/* What the files say the model is (docs/ARCHITECTURE.md, Wan2.2). */
typedef enum {
    MODEL_WAN21,      /* Wan2.1 T2V: one DiT, Wan2.1's VAE                        */
    MODEL_WAN22_TI2V, /* Wan2.2 TI2V-5B: 48-channel latent (Wan2.2_VAE), image-to-video */
    MODEL_WAN22_A14B  /* Wan2.2 T2V-A14B: high- and low-noise experts, Wan2.1's VAE  */
} ModelFamily;
const char *model_family_name(ModelFamily f);

/* Defaults for generation, from t2v.json when present, else Wan2.1's. */
typedef struct {
    int width, height, frames, steps;
    double cfg, shift;
    double cfg_low;  /* A14B: the low-noise expert's guidance (cfg: the high-noise one's) */
    double boundary; /* A14B: the high-noise expert while t >= boundary * 1000 */
    int fps;
    char sampler[16];
    char *negative_prompt; /* NULL: the official default negative prompt */
    int context_window;    /* frames the model was trained on: longer clips are
                              sampled in context windows of this length (81)  */
    int context_overlap;   /* frames shared by neighbouring windows (16)       */
    WindowSchedule context_schedule; /* how the windows run (window.h; uniform)  */
    int causal_block;      /* a causal student (causal.h): latent frames per block; 0: not causal */
    int causal_window;     /* latent frames its key/value cache keeps; 0: the trained length */
    int causal_sink;       /* latent frames never evicted from it (0)          */
    float preview_factors[VAE_MAX_Z * 3 + 3]; /* latent -> RGB map: C x 3 weights then 3 biases */
    int n_preview_factors;                    /* 3 C + 3, or 0: none in t2v.json */
} ModelDefaults;

typedef struct {
    ModelPaths paths;
    ModelDefaults defaults;
    ModelFamily family;
    DiTConfig dit;    /* from config.json (has_dit); A14B: high_noise_model/'s */
    DiTConfig dit_low; /* A14B: low_noise_model/config.json                  */
    VaeConfig vae;    /* from the VAE checkpoint's tensor shapes (has_vae)     */
    VaePreview preview; /* latent -> RGB: t2v.json's factors, else the VAE's built-in ones */
    int has_dit, has_vae, has_preview;
    int diffusers;        /* 1: the directory is in the diffusers layout           */
    LoraFile *lora;       /* copies of ModelOptions' (paths owned)                 */
    int n_lora, lora_ignore_unknown;
} Model;

/* What model_open must find (a mask); the other files are read when present. */
enum { MODEL_NEED_CONFIG = 1, MODEL_NEED_DIT = 2, MODEL_NEED_T5 = 4, MODEL_NEED_VAE = 8,
       MODEL_NEED_TOKENIZER = 16, MODEL_NEED_ALL = 31 };

/* Finds the files, reads t2v.json, config.json and the VAE's config. Fails
 * (T2V_EINPUT, naming the directory and the missing file) for a file of
 * `need` that is absent, and for any file present but malformed. */
int model_open(Model *m, const char *dir, int need, T2vError *err);
/* The same with command-line changes (o may be NULL). A --dit file's
 * config comes from its shapes, heads and text_len from the directory's
 * config.json when its dim matches (names.h dit_config_from_tensors). */
int model_open_with(Model *m, const char *dir, const ModelOptions *o, int need, T2vError *err);
void model_close(Model *m);

/* Wan2.1's defaults (832x480, 81 frames, 50 UniPC steps, shift 5, cfg 5,
 * 16 fps): what model_open starts from before reading t2v.json. */
void model_default_settings(ModelDefaults *d);
/* The official defaults of a family (wan/configs of Wan2.2): TI2V-5B
 * 1280x704, 121 frames at 24 fps, 50 steps, shift 5, cfg 5; T2V-A14B
 * 1280x720, 81 frames at 16 fps, 40 steps, shift 12, cfg 4.0 (high-noise) and
 * 3.0 (low-noise), boundary 0.875; Wan2.1: model_default_settings. */
void model_family_settings(ModelDefaults *d, ModelFamily f);

/* The stages, each on its own checkpoint: the checkpoint stays mapped until
 * the caller's ckpt_close (after the stage's *_free). */
int model_load_dit(const Model *m, Checkpoint *ck, DiT *dit, T2vError *err);
/* A14B: the low-noise expert (model_load_dit loads the high-noise one). */
int model_load_dit_low(const Model *m, Checkpoint *ck, DiT *dit, T2vError *err);
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
