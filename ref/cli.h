/*
 * cli.h: what the t2v subcommands share. main.c dispatches; cli_info.c has
 * compare, info and tokenize; cli_stage.c runs one stage on given tensors;
 * cli_generate.c is the whole pipeline. Only this layer prints and exits.
 */
#ifndef T2V_CLI_H
#define T2V_CLI_H

#include "safetensors.h"
#include "tensor.h"
#include "video.h"

extern TempFiles g_temps; /* temporaries in flight (main.c), for SIGINT */

int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_stage(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_info(int argc, char **argv);

/* Prints "t2v: MESSAGE" and returns the error's exit code. */
int die(const T2vError *e);
/* Prints a usage error (fmt has one %s) and returns T2V_EUSAGE. */
int usage_error(const char *fmt, const char *arg);

/* Progress line on stderr: "stage [####....] k/N  s/it  ETA m:ss", shown only
 * when stderr is a terminal and not quiet. */
typedef struct {
    const char *stage;
    int n, enabled;
    double t0;
} Progress;
void progress_start(Progress *p, const char *stage, int n, int quiet);
void progress_update(Progress *p, int k);

/* Strict number parsing: the whole string, in range; 0 ok, -1 bad. */
int parse_int(const char *s, long lo, long hi, long *out);
int parse_double(const char *s, double *out);
int parse_u64(const char *s, unsigned long long *out);

/* A float tensor of a safetensors file as a new fp32 array (caller frees),
 * checking its rank and the dims of shape that are >= 0. */
float *read_f32(const SafeTensors *st, const char *name, int ndim, const int64_t *shape, Tensor *info,
                T2vError *err);



/* Loaders: open a stage's checkpoint from the model directory and build the
 * stage on it. The checkpoint stays mapped until the matching close. */
#include "dit.h"
#include "model.h"
#include "t5.h"
#include "vae.h"
int load_dit(const ModelPaths *mp, Checkpoint *ck, DiT *m, T2vError *err);
int load_t5(const ModelPaths *mp, Checkpoint *ck, T5 *m, T2vError *err);
int load_vae(const ModelPaths *mp, Checkpoint *ck, Vae *m, T2vError *err);

/* The DiT as the sampler's model: the two embedded contexts and the grid. */
typedef struct {
    DiT *dit;
    int T, h, w;
    const float *ctx_emb, *ctx_neg_emb; /* [text_len, dim] each */
} DitVelocity;
int dit_velocity(void *user, const float *x, int timestep, int cond, float *v, T2vError *err);
#endif
