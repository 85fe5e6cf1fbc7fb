/*
 * cli.h: what the t2v subcommands share. main.c dispatches; cli_info.c has
 * compare, info and tokenize; cli_stage.c runs one stage on given tensors;
 * cli_generate.c is the whole pipeline. Only this layer prints and exits.
 */
#ifndef T2V_CLI_H
#define T2V_CLI_H

#include "t2v.h"
#include "video.h"

extern TempFiles g_temps; /* temporaries in flight (main.c), for SIGINT */

int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_stage(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_info(int argc, char **argv);
/* `t2v info --model DIR | --config FILE [-W -H -f ...]` (cli_cost.c). */
int cmd_info_model(int argc, char **argv);

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

/* The sampling options `generate` and `stage sampler` share. */
typedef struct {
    int steps, threads;
    SamplerKind sampler;
    double cfg, shift;
    int have_steps, have_cfg, have_shift, have_sampler; /* given on the command line */
} SamplingOpts;
/* Parses option a with value v if it is one of --steps --cfg --shift
 * --sampler --threads: returns 1 when it was (printing a usage error and
 * returning -1 for a bad value), 0 when a is some other option. */
int parse_sampling_opt(SamplingOpts *s, const char *a, const char *v);

/* A float tensor of a safetensors file as a new fp32 array (caller frees),
 * checking its rank and the dims of shape that are >= 0. */
float *read_f32(const SafeTensors *st, const char *name, int ndim, const int64_t *shape, Tensor *info,
                T2vError *err);



/* Loaders: open a stage's checkpoint from the model directory and build the
 * stage on it. The checkpoint stays mapped until the matching close. */
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

/* --trace DIR (cli_trace.c): per step the x0 prediction, decoded after
 * sampling to DIR/step_%03d.png, and DIR/trace.json. */
enum { TRACE_NSTATS = 5 }; /* cfg_diff_rms, v_rms, x_rms, x0_rms, x0_change_rms */
enum { TRACE_MAX_LATENT = 8 }; /* strips show the first 8 latent frames at most */
typedef struct {
    const char *dir;
    int steps, done, force, T, h, w;
    int64_t n;            /* latent elements */
    float cfg;
    float *x0, *v;        /* [steps][n] x0 predictions; [n] guided v */
    double *sigma, *stats; /* [steps], [steps][TRACE_NSTATS] */
    int *timestep;        /* [steps] */
    int rc;               /* first error inside the hook */
    T2vError err;
} Trace;
typedef struct {
    const char *prompt, *sampler;
    int W, H, F;
    double cfg, shift;
    unsigned long long seed;
} TraceInfo;
int trace_init(Trace *t, const char *dir, int steps, double cfg, int force, T2vError *err);
void trace_on_velocity(Trace *t, int i, double sigma, int timestep, const float *x, const float *v_cond,
                       const float *v_uncond, int T, int h, int w);
int trace_write(Trace *t, const ModelPaths *mp, const TraceInfo *in, T2vError *err);
void trace_free(Trace *t);
#endif
