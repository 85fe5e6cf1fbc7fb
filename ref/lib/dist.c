/*
 * dist.c: the ranks of one generation (dist.h). MPI calls only under
 * T2V_MPI (`make MPI=1`); the default build is the one-process case.
 */
#include "dist.h"

#include "ops.h"
#include "platform.h"

#include <stdio.h>
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
    /* the token split needs the GEMM grid's row granule (docs/SCALING.md):
     * DIST_GRANULE unless the user chose one */
    char gran[16];
    snprintf(gran, sizeof gran, "%d", DIST_GRANULE);
    if (d->size > 1 && setenv("T2V_GEMM_ROWS", gran, 0) != 0)
        return t2v_fail(err, T2V_ERESOURCE, "rank %d: could not set T2V_GEMM_ROWS", d->rank);
#else
    (void)argc, (void)argv, (void)err;
#endif
    return T2V_OK;
}

struct DistGroup {
#ifdef T2V_MPI
    MPI_Comm comm;
#endif
    float *sbuf, *rbuf;    /* packed blocks to send and received, cap floats each */
    size_t cap;
    int *scounts, *sdispls, *rcounts, *rdispls; /* per member, in floats          */
    int N, granule;        /* the token count the ranges below are for             */
    int *a, *b, *h0, *h1, *q0, *q1; /* per member: tokens [a, b); attention:
                           * heads [h0, h1) for queries [q0, q1)                   */
};

static void group_free(Dist *d) {
    if (!d->group) return;
#ifdef T2V_MPI
    MPI_Comm_free(&d->group->comm);
#endif
    free(d->group->sbuf);
    free(d->group->rbuf);
    free(d->group->scounts);
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
    DistGroup *G = (DistGroup *)t2v_calloc(1, sizeof *d->group, "rank group", err);
    int P = d->group_size;
    d->group = G;
    if (G) G->scounts = (int *)t2v_malloc(sizeof(int) * 10 * (size_t)P, "rank group", err);
    if (!G || !G->scounts) return T2V_ERESOURCE;
    G->sdispls = G->scounts + P, G->rcounts = G->sdispls + P, G->rdispls = G->rcounts + P;
    G->a = G->rdispls + P, G->b = G->a + P, G->h0 = G->b + P, G->h1 = G->h0 + P;
    G->q0 = G->h1 + P, G->q1 = G->q0 + P;
    if (MPI_Comm_split(MPI_COMM_WORLD, color, d->rank, &d->group->comm) != MPI_SUCCESS)
        return t2v_fail(err, T2V_ERESOURCE, "rank %d: MPI_Comm_split failed", d->rank);
#else
    (void)color, (void)err;
#endif
    return T2V_OK;
}

/* ===========================================================================
 * The token split of a rank group (dist.h, dit.h DiTSplit) */

#ifdef T2V_MPI
/* The length of [a, b) and [c, d) in common. */
static int overlap(int a, int b, int c, int d) {
    int lo = a > c ? a : c, hi = b < d ? b : d;
    return hi > lo ? hi - lo : 0;
}

/* The members' tokens and attention work for N tokens of dim columns in
 * heads of head_dim (dit.c's rules), and send and receive buffers big
 * enough for either all-to-all. */
static int group_ranges(Dist *d, int N, int dim, int head_dim, T2vError *err) {
    DistGroup *G = d->group;
    int P = d->group_size, me = d->group_rank;
    if (G->N != N) {
        for (int g = 0; g < P; g++) {
            dit_token_range(N, P, g, G->granule, &G->a[g], &G->b[g]);
            dit_part_attention(dim / head_dim, N, P, g, &G->h0[g], &G->h1[g], &G->q0[g], &G->q1[g]);
        }
        G->N = N;
    }
    size_t s1 = 0, r1 = 0, s2 = 0, r2 = 0, cme = (size_t)(G->h1[me] - G->h0[me]) * head_dim;
    for (int g = 0; g < P; g++) {
        size_t cg = (size_t)(G->h1[g] - G->h0[g]) * head_dim;
        s1 += cg * ((size_t)overlap(G->a[me], G->b[me], G->q0[g], G->q1[g]) + 2 * (size_t)(G->b[me] - G->a[me]));
        r1 += cme * ((size_t)overlap(G->a[g], G->b[g], G->q0[me], G->q1[me]) + 2 * (size_t)(G->b[g] - G->a[g]));
        s2 += cme * (size_t)overlap(G->a[g], G->b[g], G->q0[me], G->q1[me]);
        r2 += cg * (size_t)overlap(G->a[me], G->b[me], G->q0[g], G->q1[g]);
    }
    size_t floats = s1 > r1 ? s1 : r1;
    floats = floats > s2 ? floats : s2, floats = floats > r2 ? floats : r2;
    if (floats > 0x7fffffff)
        return t2v_fail(err, T2V_ERESOURCE, "rank %d: %zu floats: too many for one MPI exchange", d->rank, floats);
    if (G->cap < floats) {
        free(G->sbuf), free(G->rbuf);
        G->sbuf = (float *)t2v_malloc(sizeof(float) * (floats ? floats : 1), "token exchange buffer", err);
        G->rbuf = G->sbuf ? (float *)t2v_malloc(sizeof(float) * (floats ? floats : 1), "token exchange buffer", err)
                          : NULL;
        G->cap = G->rbuf ? floats : 0;
        if (!G->rbuf) return T2V_ERESOURCE;
    }
    return T2V_OK;
}

/* Rows [a, b), columns [c0, c0 + nc) of x [., ld] to or from buf. */
static float *pack(float *buf, const float *x, int ld, int a, int b, int c0, int nc) {
    for (int i = a; i < b; i++, buf += nc) memcpy(buf, x + (size_t)i * ld + c0, sizeof(float) * (size_t)nc);
    return buf;
}
static const float *unpack(const float *buf, float *x, int ld, int a, int b, int c0, int nc) {
    for (int i = a; i < b; i++, buf += nc) memcpy(x + (size_t)i * ld + c0, buf, sizeof(float) * (size_t)nc);
    return buf;
}

/* The all-to-all of packed blocks (counts and displacements set); counts
 * what went to the other members. */
static int group_alltoall(Dist *d, const char *what, T2vError *err) {
    DistGroup *G = d->group;
    double t0 = platform_now();
    int ok = MPI_Alltoallv(G->sbuf, G->scounts, G->sdispls, MPI_FLOAT, G->rbuf, G->rcounts, G->rdispls, MPI_FLOAT,
                           G->comm) == MPI_SUCCESS;
    d->mpi_s += platform_now() - t0;
    if (!ok) return t2v_fail(err, T2V_ERESOURCE, "rank %d: MPI_Alltoallv of %s failed", d->rank, what);
    for (int g = 0; g < d->group_size; g++)
        if (g != d->group_rank) d->bytes_sent += (int64_t)G->scounts[g] * (int64_t)sizeof(float);
    return T2V_OK;
}

/* Packs rows [lo, hi) of [a, b) (nothing when empty). */
static float *pack_in(float *buf, const float *x, int ld, int a, int b, int lo, int hi, int c0, int nc) {
    return pack(buf, x, ld, a > lo ? a : lo, b < hi ? b : hi, c0, nc);
}
static const float *unpack_in(const float *buf, float *x, int ld, int a, int b, int lo, int hi, int c0, int nc) {
    return unpack(buf, x, ld, a > lo ? a : lo, b < hi ? b : hi, c0, nc);
}

/* q, k, v: this rank's rows, every column -> the columns of this rank's
 * heads: k and v of every row, q of its query rows (Ulysses): to member g
 * go its heads' columns of our rows (q: those among its queries). */
static int split_to_heads(void *user, float *q, float *k, float *v, int N, int dim, int head_dim, T2vError *err) {
    Dist *d = (Dist *)user;
    DistGroup *G = d->group;
    int P = d->group_size, me = d->group_rank;
    int rc = group_ranges(d, N, dim, head_dim, err);
    if (rc) return rc;
    float *sp = G->sbuf;
    int myc = (G->h1[me] - G->h0[me]) * head_dim, c0 = G->h0[me] * head_dim;
    for (int g = 0, roff = 0; g < P; g++) {
        int c = (G->h1[g] - G->h0[g]) * head_dim, gc0 = G->h0[g] * head_dim;
        G->sdispls[g] = (int)(sp - G->sbuf);
        sp = pack_in(sp, q, dim, G->a[me], G->b[me], G->q0[g], G->q1[g], gc0, c);
        sp = pack(sp, k, dim, G->a[me], G->b[me], gc0, c);
        sp = pack(sp, v, dim, G->a[me], G->b[me], gc0, c);
        G->scounts[g] = (int)(sp - G->sbuf) - G->sdispls[g];
        G->rcounts[g] = (overlap(G->a[g], G->b[g], G->q0[me], G->q1[me]) + 2 * (G->b[g] - G->a[g])) * myc;
        G->rdispls[g] = roff, roff += G->rcounts[g];
    }
    if ((rc = group_alltoall(d, "q, k and v", err))) return rc;
    const float *rp = G->rbuf;
    for (int g = 0; g < P; g++) {
        rp = unpack_in(rp, q, dim, G->a[g], G->b[g], G->q0[me], G->q1[me], c0, myc);
        rp = unpack(rp, k, dim, G->a[g], G->b[g], c0, myc);
        rp = unpack(rp, v, dim, G->a[g], G->b[g], c0, myc);
    }
    return T2V_OK;
}

/* x: this rank's heads of its query rows -> this rank's rows, every column. */
static int split_to_tokens(void *user, float *x, int N, int dim, int head_dim, T2vError *err) {
    Dist *d = (Dist *)user;
    DistGroup *G = d->group;
    int P = d->group_size, me = d->group_rank;
    int rc = group_ranges(d, N, dim, head_dim, err);
    if (rc) return rc;
    float *sp = G->sbuf;
    int myc = (G->h1[me] - G->h0[me]) * head_dim;
    for (int g = 0, roff = 0; g < P; g++) {
        G->sdispls[g] = (int)(sp - G->sbuf);
        sp = pack_in(sp, x, dim, G->a[g], G->b[g], G->q0[me], G->q1[me], G->h0[me] * head_dim, myc);
        G->scounts[g] = (int)(sp - G->sbuf) - G->sdispls[g];
        G->rcounts[g] = overlap(G->a[me], G->b[me], G->q0[g], G->q1[g]) * (G->h1[g] - G->h0[g]) * head_dim;
        G->rdispls[g] = roff, roff += G->rcounts[g];
    }
    if ((rc = group_alltoall(d, "the attention output", err))) return rc;
    const float *rp = G->rbuf;
    for (int g = 0; g < P; g++)
        rp = unpack_in(rp, x, dim, G->a[me], G->b[me], G->q0[g], G->q1[g], G->h0[g] * head_dim,
                       (G->h1[g] - G->h0[g]) * head_dim);
    return T2V_OK;
}

/* x [N, width]: this rank's rows -> every row (in place). */
static int split_gather(void *user, float *x, int N, int width, T2vError *err) {
    Dist *d = (Dist *)user;
    DistGroup *G = d->group;
    int P = d->group_size;
    if ((int64_t)N * width > 0x7fffffff)
        return t2v_fail(err, T2V_ERESOURCE, "rank %d: %d x %d floats: too many for one MPI gather", d->rank, N, width);
    for (int g = 0; g < P; g++) {
        int a, b;
        dit_token_range(N, P, g, G->granule, &a, &b);
        G->rcounts[g] = (b - a) * width, G->rdispls[g] = a * width;
    }
    double t0 = platform_now();
    int ok = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, x, G->rcounts, G->rdispls, MPI_FLOAT, G->comm) == MPI_SUCCESS;
    d->mpi_s += platform_now() - t0;
    if (!ok) return t2v_fail(err, T2V_ERESOURCE, "rank %d: MPI_Allgatherv of the velocity failed", d->rank);
    d->bytes_sent += (int64_t)G->rcounts[d->group_rank] * (int64_t)sizeof(float) * (P - 1);
    return T2V_OK;
}
#endif

int dist_split(Dist *d, DiTSplit *sp, T2vError *err) {
    memset(sp, 0, sizeof *sp);
    if (!d->group || d->group_size < 2) return T2V_OK;
#ifdef T2V_MPI
    int G = gemm_row_granule();
    if (G < 1) /* every rank sees the same: dist_init set it on all */
        return t2v_fail(err, T2V_EUSAGE, "rank %d: the DiT's tokens split over %d ranks need T2V_GEMM_ROWS set on "
                        "every rank, the row granule of the GEMM grid (docs/SCALING.md)", d->rank, d->group_size);
    int mine[2] = {G, -G}, all[2];
    if (MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MIN, d->group->comm) != MPI_SUCCESS)
        return t2v_fail(err, T2V_ERESOURCE, "rank %d: MPI_Allreduce of the granule failed", d->rank);
    if (all[0] != -all[1]) /* the ranges would differ: every rank says so and stops */
        return t2v_fail(err, T2V_EUSAGE, "rank %d: T2V_GEMM_ROWS differs between the ranks (%d to %d); set it for "
                        "all (mpirun -x T2V_GEMM_ROWS)", d->rank, all[0], -all[1]);
    d->group->granule = G, d->group->N = -1;
    sp->parts = d->group_size, sp->part = d->group_rank, sp->granule = G;
    sp->to_heads = split_to_heads, sp->to_tokens = split_to_tokens, sp->gather = split_gather, sp->user = d;
#else
    (void)err;
#endif
    return T2V_OK;
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

#ifdef T2V_MPI
/* dist_swap's exchange (MPI_Sendrecv). */
static int swap_floats(Dist *d, int partner, int rc, const float *mine, int64_t n_mine, float *theirs, int64_t cap,
                       int64_t *n_theirs, T2vError *err) {
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
}
#endif

int dist_swap(Dist *d, int rc, const float *mine, int64_t n_mine, float *theirs, int64_t cap, int64_t *n_theirs,
              T2vError *err) {
    int partner = dist_partner(d);
    if (partner < 0) return rc;
#ifdef T2V_MPI
    /* status and length first, so that a failed rank never leaves its
     * partner waiting for data (docs/SCALING.md) */
    double t0 = platform_now();
    rc = swap_floats(d, partner, rc, mine, n_mine, theirs, cap, n_theirs, err);
    d->mpi_s += platform_now() - t0;
    return rc;
#else
    (void)d, (void)mine, (void)n_mine, (void)theirs, (void)cap, (void)n_theirs, (void)err;
    return rc;
#endif
}


