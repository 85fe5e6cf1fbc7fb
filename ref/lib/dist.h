/*
 * dist.h: several processes sharing one generation (MPI ranks, `make MPI=1`;
 * docs/SCALING.md). Without MPI every function here is the one-process case:
 * rank 0 of 1, nothing exchanged.
 *
 * Guidance-parallel: with guidance and an even number of ranks, ranks work
 * in pairs (0,1), (2,3), ...; in each pair the even rank computes the
 * conditional branch (the prompt's context and the DiT pass on it), the odd
 * rank the unconditional one, and the two swap their results once per step.
 * Otherwise every rank computes every branch.
 *
 * Sequence-parallel DiT: the ranks computing the same branch (the even
 * ones, the odd ones; or all) form a group that splits each DiT pass:
 * member g of P computes the token-local work of its tokens (cut on the
 * GEMM's row granule) and the self-attention of heads [g H / P, (g+1) H / P)
 * over all tokens; an all-to-all before and after each self-attention
 * (Ulysses) and an all-gather of the velocity rows connect them.
 *
 * Each head and each branch is computed exactly as one process computes it,
 * so every rank ends with the bits one process gets. Every rank reads the
 * model files itself.
 */
#ifndef T2V_DIST_H
#define T2V_DIST_H

#include <stdint.h>

#include "dit.h"
#include "tensor.h"

/* The token granule a run of several ranks sets (T2V_GEMM_ROWS) when the
 * user has not: 256 tokens cost 2 to 6% of one thread's GEMM time against
 * no granule (docs/SCALING.md, What is split). */
#define DIST_GRANULE 256

typedef struct DistGroup DistGroup; /* dist.c: the rank group's communicator and buffers */

typedef struct {
    int rank, size;
    int64_t bytes_sent; /* floats and status codes sent so far, in bytes     */
    double mpi_s;       /* seconds spent in the exchanges' MPI calls so far  */
    int planned, guided, paired; /* dist_plan's split                        */
    int group_rank, group_size;  /* this rank in its group (one branch)      */
    DistGroup *group;
} Dist;

/* Joins the ranks (MPI_Init when built with MPI=1; else rank 0 of 1). */
int dist_init(Dist *d, int *argc, char ***argv, T2vError *err);
void dist_finalize(Dist *d);
/* Stops every rank with exit code `code` (MPI_Abort; else nothing). */
void dist_abort(const Dist *d, int code);
/* Whether the binary was built with MPI. */
int dist_built_with_mpi(void);

/* Decides the split for a run with or without guidance (pairs only with
 * guidance and an even count) and forms the rank groups. Collective: every
 * rank calls it with the same `guided`; again with the same value it does
 * nothing. */
int dist_plan(Dist *d, int guided, T2vError *err);
/* The DiT pass of this rank's group split over its members (dit.h
 * DiTSplit): tokens cut on the GEMM's row granule (gemm_row_granule; under
 * OpenBLAS T2V_GEMM_ROWS must be set, else T2V_EUSAGE), heads by
 * dit_part_heads, the exchanges MPI all-to-alls and an all-gather over the
 * group. Alone (group of 1): the whole pass, *sp zeroed. */
int dist_split(Dist *d, DiTSplit *sp, T2vError *err);

/* The partner of a rank in the guidance pairs, or -1 when it has none. */
int dist_partner(const Dist *d);
/* Whether this rank computes the conditional (which = 1) or the
 * unconditional (which = 0) branch of a guided step. */
int dist_computes(const Dist *d, int which);

/* Swaps float blocks with the partner: sends n_mine floats of `mine`,
 * receives at most cap into `theirs` and their count into *n_theirs, after
 * an exchange of status codes: rc is this rank's; a failed partner makes it
 * T2V_ERESOURCE naming that rank. With no partner: returns rc. */
int dist_swap(Dist *d, int rc, const float *mine, int64_t n_mine, float *theirs, int64_t cap, int64_t *n_theirs,
              T2vError *err);

#endif
