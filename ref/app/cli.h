/*
 * cli.h: what the t2v commands share. main.c dispatches to the cmd_*
 * functions: cmd_generate.c (the whole pipeline), cmd_stage.c (one stage on
 * given tensors), cmd_compare.c (compare, tokenize, info FILE), cmd_info.c
 * (info --model / --config). Only this layer prints and exits.
 */
#ifndef T2V_CLI_H
#define T2V_CLI_H

#include <stdio.h>

#include "cost.h"
#include "t2v.h"
#include "video.h"

/* A command: the arguments after its name, and the temporaries in flight
 * (main.c's, removed by its SIGINT handler). Returns the exit code. */
typedef struct {
    TempFiles temps;           /* removed by main's SIGINT handler */
    char default_model[4300];  /* --model when none is given (default_model_path) */
    char tolerances[4300];     /* compare/bisect --profiles default (default_tolerances_path) */
    Dist dist;                 /* MPI ranks (dist.h): only rank 0 writes and prints */
} App;
/* The ranks for the library: NULL when this is one process. */
Dist *app_dist(App *app);
/* "rank r of n: bytes sent, seconds in MPI exchanges" on stderr (NULL: nothing). */
void app_report_dist(const Dist *d);
int cmd_generate(int argc, char **argv, App *app);
int cmd_tokenize(int argc, char **argv, App *app);
int cmd_stage(int argc, char **argv, App *app);
int cmd_compare(int argc, char **argv, App *app);
int cmd_info(int argc, char **argv, App *app);
/* `t2v keygen [--dir DIR] [--force]` (cmd_keygen.c). */
int cmd_keygen(int argc, char **argv, App *app);
int cmd_bisect(int argc, char **argv, App *app);      /* cmd_bisect.c, docs/VERIFY.md */
int cmd_golden_pack(int argc, char **argv, App *app); /* cmd_pack.c, docs/VERIFY.md */
/* `t2v info --model DIR | --config FILE [-W -H -f ...]` (cmd_info.c). */
int cmd_info_model(int argc, char **argv);

/* Prints "t2v: MESSAGE" and returns the error's exit code. */
int die(const T2vError *e);
/* Prints a usage error (fmt has one %s) and returns T2V_EUSAGE. */
int usage_error(const char *fmt, const char *arg);

/* ----------------------------------------------------------------------------
 * Help. `t2v --help` is the concatenation of every command's usage; `t2v CMD
 * --help` prints CMD's alone. Commands: generate stage compare info tokenize. */
void print_help(FILE *f);
/* Prints the command's usage to stdout and returns 0 (T2V_EUSAGE for an
 * unknown command). */
int command_help(const char *cmd);
int is_help_opt(const char *a); /* -h or --help */
/* Whether a is one of the NULL-terminated names. */
int opt_in(const char *a, const char *const *names);
/* The usage error for an option a command's parser does not take: "CMD:
 * unknown option 'A'" when it is none of the command's options (flags and
 * value_opts), else "CMD: option 'A' needs a value". Returns T2V_EUSAGE. */
int bad_option(const char *cmd, const char *a, const char *const *value_opts);

/* ----------------------------------------------------------------------------
 * Progress on stderr. On a terminal a bar, redrawn in place:
 *   "stage [####....] k/N  s/it  ETA m:ss"
 * otherwise (a log file, nohup, CI) one plain line per step or chunk:
 *   "t2v: sampling step 3/20  0.41 s/step  ETA 0:12"
 * Nothing when quiet. The ETA is the whole run's when Progress.plan is set,
 * else the current phase's. */
/* The whole run's work, for the ETA: FLOPs of one item of each phase (a
 * prompt through the text encoder, a sampling step with all its DiT passes,
 * a latent frame of the VAE decode) and the number of items. The ETA is the
 * work left over the rate measured in the current phase: a simple estimate
 * (the phases do not all run at the same FLOP rate). 0 items: unknown. */
typedef struct {
    double item_flops[PHASE_COUNT];
    int items[PHASE_COUNT];
} RunPlan;
typedef struct {
    const char *stage, *unit;
    int n, quiet, enabled, log; /* enabled: the bar (a terminal); log: plain lines */
    int phase;                  /* the PipelinePhase being watched, -1: none      */
    double t0;
    RunPlan plan;               /* the whole run (zeros: the ETA is the phase's)  */
} Progress;
void progress_init(Progress *p, int quiet);
void progress_start(Progress *p, const char *stage, int n);
void progress_update(Progress *p, int k);
/* A PipelineWatch.progress that drives a Progress (user = the Progress). */
void progress_watch(void *user, PipelinePhase phase, int k, int n);
/* The plan of one generation of the clip size s with the model (cost.h's FLOPs). */
void run_plan_for(RunPlan *plan, const ModelDesc *md, const ClipSize *s, int steps, double cfg);
/* Scales the sampling phase of a plan to the DiT passes of context windows
 * (nothing when the clip runs in one pass). */
void run_plan_windows(RunPlan *plan, const ModelDesc *md, const ClipSize *s, const SamplingSettings *ss);
/* ... to causal generation's block passes (an estimate: each pass attends to
 * the full window; nothing without --causal-block). */
void run_plan_causal(RunPlan *plan, const ModelDesc *md, const ClipSize *s, const SamplingSettings *ss);

/* ----------------------------------------------------------------------------
 * Checks and warnings before a generation */

/* "t2v: warning: the prompt has N tokens; the model reads the first M"
 * when the model's text_len cuts the prompt (what is "prompt" or "negative
 * prompt"). Errors only when the tokenizer cannot be read. */
int warn_prompt_cut(const Model *m, const char *what, const char *text, T2vError *err);
/* A warning for a width, height or frame count more than 2x away from the
 * model's defaults (t2v.json, else Wan2.1's): far from what it was trained on. */
void warn_size(const Model *m, int W, int H, int F);
/* Checks that the directory an option names exists or can be created (its
 * parent exists): T2V_ERESOURCE naming it otherwise. *create is set when it
 * must be created (by make_option_dir, after every other check). */
int check_option_dir(const char *opt, const char *dir, int *create, T2vError *err);
/* Creates it (one level), saying so on stderr unless quiet. */
int make_option_dir(const char *opt, const char *dir, int quiet, T2vError *err);

/* The default --model: the demo model beside the binary (BIN/../models/demo
 * for ref/t2v in the repository, BIN/../share/t2v/models/demo for an
 * installed PREFIX/bin/t2v), else models/demo in the current directory.
 * main() calls it once, into App.default_model. */
void default_model_path(const char *argv0, char *out, size_t n);
/* The default tolerance profiles (docs/VERIFY.md): golden/tolerances.json of
 * the repository beside the binary (BIN/../golden, or BIN/../../golden for a
 * build/ directory), BIN/../share/t2v/tolerances.json when installed, else
 * golden/tolerances.json in the current directory. */
void default_tolerances_path(const char *argv0, char *out, size_t n);

/* ----------------------------------------------------------------------------
 * compare's tolerance file (cmd_compare.c): lines "PATTERN TOL MIN_COS",
 * '#' starts a comment, '*' in PATTERN matches any run of characters; the
 * first matching line wins. */
typedef struct {
    char pattern[128];
    double tol, min_cos;
} TolRule;
/* Parses text[0..n) (any bytes; name is used in messages) into at most max
 * rules: T2V_EINPUT naming the line for a malformed one, or too many. */
int tol_parse(const char *text, size_t n, const char *name, TolRule *rules, int max, int *nrules, T2vError *err);
/* Whether the glob pattern ('*' any run) matches all of s. */
int tol_glob_match(const char *p, const char *s);

/* Strict number parsing: the whole string, in range; 0 ok, -1 bad. */
int parse_int(const char *s, long lo, long hi, long *out);
int parse_double(const char *s, double *out);
int parse_u64(const char *s, unsigned long long *out);

/* The sampling options `generate` and `stage sampler` share. */
#define T2V_MAX_STEPS 1000
#define T2V_MAX_KEPT_STEPS 60 /* stage sampler, golden-pack: one latent kept per step, at most this many */
typedef struct {
    SamplingSettings settings;   /* settings.timesteps points into listed (sampling_defaults) */
    int threads;
    int have_steps, have_cfg, have_shift, have_sampler, n_listed; /* given on the command line */
    double listed[T2V_MAX_STEPS]; /* --timesteps */
    /* long video: --context-window F|off, --context-overlap F (frames),
     * --context-schedule, --riflex K|auto|off (-1 auto) */
    int ctx_window, ctx_overlap, riflex;
    WindowSchedule ctx_schedule;
    int have_ctx_window, have_ctx_overlap, have_ctx_schedule, have_riflex;
    /* causal generation: --causal-block N, --causal-window F|off, --causal-sink N (latent frames) */
    int causal_block, causal_window, causal_sink, have_causal_block, have_causal_window, have_causal_sink;
    int have_cfg_pair, have_boundary;                  /* --cfg HIGH,LOW; --boundary */
} SamplingOpts;
/* Parses option a with value v if it is one of --steps --cfg --shift
 * --sampler --timesteps --cache --threads --precision --boundary (--cfg G, or
 * HIGH,LOW for the A14B experts): returns 1 when it was (printing a usage
 * error and returning -1 for a bad value), 0 when a is some other option. */
int parse_sampling_opt(SamplingOpts *s, const char *a, const char *v);
/* Fills the options not given on the command line from the model's
 * defaults (--timesteps sets the steps; with --steps too they must agree:
 * T2V_EUSAGE); T2V_EINPUT for an unknown sampler name in t2v.json. */
int sampling_defaults(SamplingOpts *s, const ModelDefaults *d, T2vError *err);
/* Context windows and RIFLEx for a clip of T latent frames (docs/ARCHITECTURE.md,
 * Long video) into s->settings: frames are converted at the VAE's time stride;
 * the window defaults to the model's trained length (t2v.json
 * "context_window"); --riflex auto applies RIFLEx when the clip is longer than
 * that and runs in one pass. T2V_EUSAGE for an overlap not shorter than the
 * window, or a RIFLEx component the DiT's head lacks. */
int long_video_settings(SamplingOpts *s, const Model *m, int T, T2vError *err);
/* ... and causal generation (--causal-block): the window defaults to the
 * trained length in latent frames; T2V_EUSAGE for frames that are not whole
 * blocks, a window that cannot hold a block and the sink, context windows or
 * RIFLEx asked for too, or a sampler other than distill / cfg > 1. */
/* One line on stderr saying how a long clip is sampled (nothing when it is
 * one plain pass). */
void long_video_note(const SamplingSettings *s, int T);

/* The options generate, stage and info share to change a model (model.h's
 * ModelOptions): --dit FILE, --t5 FILE, --vae FILE, --lora FILE[:SCALE]
 * (repeatable) and the flag --lora-ignore-unknown. */
#define T2V_MAX_LORA 16
typedef struct {
    ModelOptions o;
    LoraFile lora[T2V_MAX_LORA];
    char lora_path[T2V_MAX_LORA][1024]; /* FILE of FILE:SCALE */
} ModelArgs;
#define MODEL_VALUE_OPTS "--dit", "--t5", "--vae", "--lora"
/* 1 when a (value v) was one of them, -1 after printing a usage error, 0
 * when a is some other option. parse_model_flag: the same for the flag. */
int parse_model_opt(ModelArgs *m, const char *a, const char *v);
int parse_model_flag(ModelArgs *m, const char *a);

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
