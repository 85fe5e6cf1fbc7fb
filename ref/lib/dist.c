/*
 * dist.c: the ranks of one generation (dist.h). MPI calls only under
 * T2V_MPI (`make MPI=1`); the default build is the one-process case.
 */
#include "dist.h"

#include <stdlib.h>
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

struct DistGroup {
#ifdef T2V_MPI
    MPI_Comm comm;
#endif
    float *buf;            /* N dim floats: every member's heads, in member order */
    size_t cap;
    int *counts, *displs;  /* per member, in floats                               */
};

static void group_free(Dist *d) {
    if (!d->group) return;
#ifdef T2V_MPI
    MPI_Comm_free(&d->group->comm);
#endif
    free(d->group->buf);
    free(d->group->counts);
    free(d->group);
    d->group = NULL;
}

void dist_finalize(Dist *d) {
    group_free(d);
#ifdef T2V_MPI
    MPI_Finalize();
#endif
}

int dist_plan(Dist *d, int guided, T2vError *err) {
    if (d->planned && d->guided == guided) return T2V_OK;
    group_free(d);
    d->planned = 1, d->guided = guided;
    d->paired = guided && d->size % 2 == 0 && d->size > 1;
    int color = d->paired ? d->rank % 2 : 0;
    d->group_size = d->paired ? d->size / 2 : d->size, d->group_rank = d->paired ? d->rank / 2 : d->rank;
    if (d->group_size < 2) return T2V_OK;
#ifdef T2V_MPI
    d->group = (DistGroup *)t2v_calloc(1, sizeof *d->group, "head group", err);
    if (d->group) d->group->counts = (int *)t2v_malloc(sizeof(int) * 2 * (size_t)d->group_size, "head group", err);
    if (!d->group || !d->group->counts) return T2V_ERESOURCE;
    d->group->displs = d->group->counts + d->group_size;
    if (MPI_Comm_split(MPI_COMM_WORLD, color, d->rank, &d->group->comm) != MPI_SUCCESS)
        return t2v_fail(err, T2V_ERESOURCE, "rank %d: MPI_Comm_split failed", d->rank);
#else
    (void)color, (void)err;
#endif
    return T2V_OK;
}

void dist_heads(const Dist *d, int H, int *h0, int *h1) {
    int P = d->group_size > 0 ? d->group_size : 1, g = d->group_rank;
    *h0 = (int)((int64_t)g * H / P), *h1 = (int)((int64_t)(g + 1) * H / P);
}

int dist_gather_heads(void *user, float *out, int N, int dim, int head_dim, T2vError *err) {
    Dist *d = (Dist *)user;
    DistGroup *G = d->group;
    if (!G) return T2V_OK;
#ifdef T2V_MPI
    int P = d->group_size, H = dim / head_dim;
    if ((int64_t)N * dim > 0x7fffffff)
        return t2v_fail(err, T2V_ERESOURCE, "rank %d: %d tokens x %d: too many floats for one MPI gather", d->rank,
                        N, dim);
    size_t need = (size_t)N * dim * 2; /* the gathered heads, then this rank's packed */
    if (G->cap < need) {
        free(G->buf);
        G->buf = (float *)t2v_malloc(sizeof(float) * need, "head gather buffer", err);
        G->cap = G->buf ? need : 0;
        if (!G->buf) return T2V_ERESOURCE;
    }
    for (int g = 0, off = 0; g < P; g++) { /* member g: heads [g H / P, (g+1) H / P) */
        int h0 = (int)((int64_t)g * H / P), h1 = (int)((int64_t)(g + 1) * H / P);
        G->counts[g] = N * (h1 - h0) * head_dim, G->displs[g] = off, off += G->counts[g];
    }
    int h0, h1;
    dist_heads(d, H, &h0, &h1);
    int cols = (h1 - h0) * head_dim;
    float *mine = G->buf + (size_t)N * dim;
    for (int i = 0; i < N; i++) memcpy(mine + (size_t)i * cols, out + (size_t)i * dim + (size_t)h0 * head_dim,
                                       sizeof(float) * (size_t)cols);
    if (MPI_Allgatherv(mine, G->counts[d->group_rank], MPI_FLOAT, G->buf, G->counts, G->displs, MPI_FLOAT,
                       G->comm) != MPI_SUCCESS)
        return t2v_fail(err, T2V_ERESOURCE, "rank %d: MPI_Allgatherv of the attention heads failed", d->rank);
    d->bytes_sent += (int64_t)G->counts[d->group_rank] * (int64_t)sizeof(float) * (P - 1);
    for (int g = 0; g < P; g++) {
        int a = (int)((int64_t)g * H / P), b = (int)((int64_t)(g + 1) * H / P), c = (b - a) * head_dim;
        if (g == d->group_rank || !c) continue;
        const float *src = G->buf + G->displs[g];
        for (int i = 0; i < N; i++)
            memcpy(out + (size_t)i * dim + (size_t)a * head_dim, src + (size_t)i * c, sizeof(float) * (size_t)c);
    }
    return T2V_OK;
#else
    (void)out, (void)N, (void)dim, (void)head_dim, (void)err;
    return T2V_OK;
#endif
}

void dist_abort(const Dist *d, int code) {
#ifdef T2V_MPI
    if (d->size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    (void)d, (void)code;
}

int dist_partner(const Dist *d) {
    return d->paired ? d->rank ^ 1 : -1;
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
