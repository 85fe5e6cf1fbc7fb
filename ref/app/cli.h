/*
 * cli.h: what the t2v commands share. main.c dispatches to the cmd_*
 * functions: cmd_generate.c (the whole pipeline), cmd_stage.c (one stage on
 * given tensors), cmd_compare.c (compare, tokenize, info FILE), cmd_info.c
 * (info --model / --config). Only this layer prints and exits.
 */
#ifndef T2V_CLI_H
#define T2V_CLI_H

#include "t2v.h"
#include "video.h"

/* A command: the arguments after its name, and the temporaries in flight
 * (main.c's, removed by its SIGINT handler). Returns the exit code. */
int cmd_generate(int argc, char **argv, TempFiles *temps);
int cmd_tokenize(int argc, char **argv, TempFiles *temps);
int cmd_stage(int argc, char **argv, TempFiles *temps);
int cmd_compare(int argc, char **argv, TempFiles *temps);
int cmd_info(int argc, char **argv, TempFiles *temps);
/* `t2v info --model DIR | --config FILE [-W -H -f ...]` (cmd_info.c). */
int cmd_info_model(int argc, char **argv);

/* Prints "t2v: MESSAGE" and returns the error's exit code. */
int die(const T2vError *e);
/* Prints a usage error (fmt has one %s) and returns T2V_EUSAGE. */
int usage_error(const char *fmt, const char *arg);

/* Progress line on stderr: "stage [####....] k/N  s/it  ETA m:ss", shown only
 * when stderr is a terminal and not quiet. */
typedef struct {
    const char *stage;
    int n, quiet, enabled;
    double t0;
} Progress;
void progress_init(Progress *p, int quiet);
void progress_start(Progress *p, const char *stage, int n);
void progress_update(Progress *p, int k);
/* A PipelineWatch.progress that drives a Progress (user = the Progress). */
void progress_watch(void *user, PipelinePhase phase, int k, int n);

/* Strict number parsing: the whole string, in range; 0 ok, -1 bad. */
int parse_int(const char *s, long lo, long hi, long *out);
int parse_double(const char *s, double *out);
int parse_u64(const char *s, unsigned long long *out);

/* The sampling options `generate` and `stage sampler` share. */
typedef struct {
    SamplingSettings settings;
    int threads;
    int have_steps, have_cfg, have_shift, have_sampler; /* given on the command line */
} SamplingOpts;
/* Parses option a with value v if it is one of --steps --cfg --shift
 * --sampler --threads: returns 1 when it was (printing a usage error and
 * returning -1 for a bad value), 0 when a is some other option. */
int parse_sampling_opt(SamplingOpts *s, const char *a, const char *v);
/* Fills the options not given on the command line from the model's
 * defaults; T2V_EINPUT for an unknown sampler name in t2v.json. */
int sampling_defaults(SamplingOpts *s, const ModelDefaults *d, T2vError *err);

/* A float tensor of a safetensors file as a new fp32 array (caller frees),
 * checking its rank and the dims of shape that are >= 0. */
float *read_f32(const SafeTensors *st, const char *name, int ndim, const int64_t *shape, Tensor *info,
                T2vError *err);

/* Named tensors collected for one safetensors file (--dump, `t2v stage`):
 * copies of host arrays, written with metadata by tset_write. */
typedef struct {
    int n, cap;
    char (*names)[64];
    Tensor *t;
} TensorSet;
int tset_add_f32(TensorSet *s, const char *name, const float *x, int ndim, const int64_t *shape, T2vError *err);
int tset_add_i32(TensorSet *s, const char *name, const int32_t *x, int ndim, const int64_t *shape, T2vError *err);
/* Writes the set (through a temporary, renamed when complete). */
int tset_write(const TensorSet *s, const char *path, const char *const *meta_keys, const char *const *meta_values,
               int nmeta, T2vError *err);
void tset_free(TensorSet *s);

#endif
