/*
 * verify.h: the verification kit's shared parts (docs/VERIFY.md): tolerance
 * profiles (golden/tolerances.json), the names of op-level dumps (official
 * module paths and diffusers' names) and the op table of `t2v bisect`.
 */
#ifndef T2V_VERIFY_H
#define T2V_VERIFY_H

#include "cli.h"

/* One op kind's bound in a profile, for bisect: an op replayed in t2v from
 * the other side's inputs passes when max|d|/rms <= rel and 1 - cos <= omc. */
typedef struct {
    char op[32];
    double rel, omc;
} OpTol;

/* Reads profile `name` of the tolerance file `path` (golden/tolerances.json
 * format, docs/VERIFY.md): its tensor rules (pattern, rel, min_cos = 1 -
 * one_minus_cos, in file order: the first match wins) into rules (at most
 * max), and its op bounds into ops (at most maxops; ops may be NULL).
 * T2V_EINPUT names the file and what is wrong; an unknown profile lists the
 * known ones. */
int profile_load(const char *path, const char *name, TolRule *rules, int max, int *nrules, OpTol *ops, int maxops,
                 int *nops, T2vError *err);
/* The same from text[0..len) (any bytes; path names it in messages). */
int profile_parse(const char *text, size_t len, const char *path, const char *name, TolRule *rules, int max,
                  int *nrules, OpTol *ops, int maxops, int *nops, T2vError *err);
/* The bound of op kind `op` (NULL when the profile has none). */
const OpTol *profile_op(const OpTol *ops, int nops, const char *op);

/* Dump names. The official module path of a tensor (`blocks.3.self_attn.q`)
 * and diffusers' (`blocks.3.attn1.to_q`): the suffix after "blocks.N." (or
 * the top-level name) mapped both ways; a name with no counterpart is
 * copied. dst has n bytes. */
void dump_name_to_diffusers(const char *official, char *dst, size_t n);
void dump_name_to_official(const char *name, char *dst, size_t n);

/* --dump-level: what a dump holds. */
typedef enum { DUMP_STAGE = 0, DUMP_BLOCK = 1, DUMP_OP = 2 } DumpLevel;
/* Parses "stage", "block", "op"; -1 otherwise. */
int dump_level_parse(const char *s);
/* Parses a --dump-blocks list "0,1,29" into a mask of num_layers entries
 * (all set when s is NULL). T2V_EUSAGE with a message for a bad list or a
 * block >= num_layers. */
int dump_blocks_parse(const char *s, unsigned char *mask, int num_layers, T2vError *err);

#endif

/* The collector behind DiT.tap for `--dump-level block|op`: keeps the
 * tensors the level and the block mask select (block level: each block's
 * output `blocks.N`; op level: everything the DiT taps), renamed to
 * diffusers' names when asked, in `set`. Only the first forward is kept
 * (`generate` calls the DiT twice per step: the first conditional pass is the
 * one dumped). Errors (memory) are kept in rc/err. */
typedef struct {
    TensorSet *set;
    int level, diffusers, done;
    const unsigned char *blocks; /* num_layers entries */
    int num_layers;
    struct { char name[64]; float *buf; int total, cols, got; } pend[4]; /* chunked tensors in flight */
    int rc;
    T2vError err;
} DumpTap;
void dump_tap_fn(void *user, const char *name, const float *x, int row0, int rows, int total_rows, int cols);
/* Adds a whole tensor to the dump under its official name (renamed like the
 * taps), e.g. the latent as `patch_embedding.in`. */
int dump_tap_add(DumpTap *d, const char *name, const float *x, int ndim, const int64_t *shape);
/* Bytes the op-level taps of one DiT forward would hold: N tokens, Lc text
 * rows, per selected block, plus the top level. For the size printed first. */
int64_t dump_op_bytes(int N, int Lc, int dim, int ffn_dim, int nblocks);
/* The total size of the tensors in a set. */
int64_t tset_bytes(const TensorSet *s);
