/*
 * dist.c: the ranks of one generation (dist.h). MPI calls only under
 * T2V_MPI (`make MPI=1`); the default build is the one-process case.
 */
#include "dist.h"

#include <string.h>

#ifdef T2V_MPI
#include <mpi.h>
#endif

int dist_built_with_mpi(void) {
#ifdef T2V_MPI
    return 1;
#else
    return 0;
#endif
}

int dist_init(Dist *d, int *argc, char ***argv, T2vError *err) {
    memset(d, 0, sizeof *d);
    d->size = 1;
#ifdef T2V_MPI
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return t2v_fail(err, T2V_ERESOURCE, "MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
#else
    (void)argc, (void)argv, (void)err;
#endif
    return T2V_OK;
}

void dist_finalize(Dist *d) {
#ifdef T2V_MPI
    MPI_Finalize();
#endif
    (void)d;
}

void dist_abort(const Dist *d, int code) {
#ifdef T2V_MPI
    if (d->size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    (void)d, (void)code;
}

int dist_partner(const Dist *d) {
    int p = d->rank ^ 1;
    return p < d->size ? p : -1;
}

int dist_computes(const Dist *d, int which) {
    if (dist_partner(d) < 0) return 1;
    return which ? d->rank % 2 == 0 : d->rank % 2 == 1;
}

int dist_swap(Dist *d, int rc, const float *mine, int64_t n_mine, float *theirs, int64_t cap, int64_t *n_theirs,
              T2vError *err) {
    int partner = dist_partner(d);
    if (partner < 0) return rc;
#ifdef T2V_MPI
    /* status and length first, so that a failed rank never leaves its
     * partner waiting for data (docs/SCALING.md) */
    long long head[2] = {rc, rc ? 0 : n_mine}, got[2] = {0, 0};
    MPI_Sendrecv(head, 2, MPI_LONG_LONG, partner, 1, got, 2, MPI_LONG_LONG, partner, 1, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    d->bytes_sent += (int64_t)sizeof head;
    if (rc) return rc;
    if (got[0]) return t2v_fail(err, T2V_ERESOURCE, "rank %d failed (code %lld); rank %d stops too", partner,
                                got[0], d->rank);
    if (got[1] < 0 || got[1] > cap)
        return t2v_fail(err, T2V_ERESOURCE, "rank %d sent %lld values, rank %d expected at most %lld", partner,
                        got[1], d->rank, (long long)cap);
    /* in pieces of at most 2^30 floats: MPI counts are ints */
    for (int64_t off = 0; off < n_mine || off < got[1]; off += (int64_t)1 << 30) {
        int ns = (int)(n_mine - off > 0 ? (n_mine - off < (1 << 30) ? n_mine - off : 1 << 30) : 0);
        int nr = (int)(got[1] - off > 0 ? (got[1] - off < (1 << 30) ? got[1] - off : 1 << 30) : 0);
        MPI_Sendrecv(mine + off, ns, MPI_FLOAT, partner, 2, theirs + off, nr, MPI_FLOAT, partner, 2, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
        d->bytes_sent += (int64_t)ns * (int64_t)sizeof(float);
    }
    *n_theirs = got[1];
    return T2V_OK;
#else
    (void)d, (void)mine, (void)n_mine, (void)theirs, (void)cap, (void)n_theirs, (void)err;
    return rc;
#endif
}
