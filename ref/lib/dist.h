/*
 * dist.h: several processes sharing one generation (MPI ranks, `make MPI=1`;
 * docs/SCALING.md). Without MPI every function here is the one-process case:
 * rank 0 of 1, nothing exchanged.
 *
 * Guidance-parallel: ranks work in pairs (0,1), (2,3), ...; in each pair the
 * even rank computes the conditional branch (the prompt's context and the
 * DiT pass on it), the odd rank the unconditional one, and the two swap
 * their results once per step. Each branch is computed exactly as one
 * process computes it, so every rank ends with the bits one process gets. A
 * rank without a partner (the last of an odd count), or a run without
 * guidance, computes both branches itself. Every rank reads the model files
 * itself.
 */
#ifndef T2V_DIST_H
#define T2V_DIST_H

#include <stdint.h>

#include "tensor.h"

typedef struct {
    int rank, size;
    int64_t bytes_sent; /* floats and status codes sent so far, in bytes */
} Dist;

/* Joins the ranks (MPI_Init when built with MPI=1; else rank 0 of 1). */
int dist_init(Dist *d, int *argc, char ***argv, T2vError *err);
void dist_finalize(Dist *d);
/* Stops every rank with exit code `code` (MPI_Abort; else nothing). */
void dist_abort(const Dist *d, int code);
/* Whether the binary was built with MPI. */
int dist_built_with_mpi(void);

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
