/*
 * trace.h: `t2v generate --trace DIR`, the denoising made visible (trace.c).
 * After each step it keeps the model's guess of the clean latent,
 * x0_i = x_i - sigma_i v_i, and a few statistics; when sampling is done it
 * decodes every x0_i with the VAE into DIR/step_%03d.png and writes
 * DIR/trace.json.
 */
#ifndef T2V_TRACE_H
#define T2V_TRACE_H

#include "t2v.h"
#include "video.h"

enum { TRACE_NSTATS = 5 };     /* cfg_diff_rms, v_rms, x_rms, x0_rms, x0_change_rms */
enum { TRACE_MAX_LATENT = 8 }; /* strips show the first 8 latent frames at most */

typedef struct {
    const char *dir;
    int steps, done, force;
    LatentGrid grid;
    float *x0;             /* [steps][n] x0 predictions */
    double *sigma, *stats; /* [steps], [steps][TRACE_NSTATS] */
    float *timestep;       /* [steps] */
} Trace;

/* What trace.json records about the run. */
typedef struct {
    const char *prompt, *sampler;
    int W, H, F;
    double cfg, shift;
    unsigned long long seed;
    Precision precision; /* of the decodes: the run's --precision */
} TraceInfo;

/* The names in dir are checked by the caller (the output plan). */
int trace_init(Trace *t, const char *dir, int steps, int force, T2vError *err);
/* Records step s (x0, statistics); T2V_ERESOURCE when out of memory. */
int trace_step(Trace *t, const StepView *s, T2vError *err);
/* Decodes the recorded x0s and writes the strips and trace.json. */
int trace_write(Trace *t, const Model *m, const TraceInfo *in, TempFiles *temps, T2vError *err);
void trace_free(Trace *t);

#endif
