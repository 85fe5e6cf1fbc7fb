/* cmd_dump.c: the collector behind DiT.tap for `--dump-level block|op`
 * (verify.h, docs/VERIFY.md). A cmd_ file because it writes into cli.c's
 * TensorSet (the test programs link the app parts without cli.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verify.h"

/* ----------------------------------------------------------------------------
 * The dump collector behind DiT.tap */

/* Block number of "blocks.N..." (-1 for a top-level name); *bare: the name
 * is "blocks.N" itself (the block's output). */
static int name_block(const char *name, int *bare) {
    *bare = 0;
    if (strncmp(name, "blocks.", 7)) return -1;
    char *end;
    long b = strtol(name + 7, &end, 10);
    *bare = !*end;
    return (int)b;
}

int dump_tap_add(DumpTap *d, const char *name, const float *x, int ndim, const int64_t *shape) {
    char out[64];
    if (d->diffusers) dump_name_to_diffusers(name, out, sizeof out);
    else snprintf(out, sizeof out, "%s", name);
    for (int i = 0; i < d->set->n; i++) /* the first one kept (the conditional context, not the negative) */
        if (!strcmp(d->set->names[i], out)) return d->rc;
    if (!d->rc) d->rc = tset_add_f32(d->set, out, x, ndim, shape, &d->err);
    return d->rc;
}

void dump_tap_fn(void *user, const char *name, const float *x, int row0, int rows, int total, int cols) {
    DumpTap *d = (DumpTap *)user;
    int bare, b = name_block(name, &bare);
    if (d->done || d->rc) return;
    if (d->level == DUMP_BLOCK && !bare) return;
    if (b >= 0 && (b >= d->num_layers || !d->blocks[b])) return;
    if (b < 0 && d->level != DUMP_OP) return;
    int64_t shape[2] = {total, cols};
    if (row0 == 0 && rows == total) { /* whole: as it is (a single row [1, C] is stored [C]) */
        if (total == 1) shape[0] = cols;
        dump_tap_add(d, name, x, total == 1 ? 1 : 2, shape);
        if (!strcmp(name, "head.head")) d->done = 1; /* the end of one forward */
        return;
    }
    int k = 0; /* a row chunk: gathered until complete */
    while (k < 4 && d->pend[k].buf && strcmp(d->pend[k].name, name)) k++;
    if (k == 4) { k = 0; while (k < 4 && d->pend[k].buf) k++; }
    if (k == 4) { d->rc = t2v_fail(&d->err, T2V_ERESOURCE, "dump: more than 4 chunked tensors at once"); return; }
    if (!d->pend[k].buf) {
        d->pend[k].buf = (float *)t2v_malloc((size_t)total * cols * sizeof(float), name, &d->err);
        if (!d->pend[k].buf) { d->rc = T2V_ERESOURCE; return; }
        snprintf(d->pend[k].name, sizeof d->pend[k].name, "%s", name);
        d->pend[k].total = total, d->pend[k].cols = cols, d->pend[k].got = 0;
    }
    memcpy(d->pend[k].buf + (size_t)row0 * cols, x, (size_t)rows * cols * sizeof(float));
    d->pend[k].got += rows;
    if (d->pend[k].got >= total) {
        dump_tap_add(d, name, d->pend[k].buf, 2, shape);
        free(d->pend[k].buf);
        d->pend[k].buf = NULL;
    }
}

int64_t dump_op_bytes(int N, int Lc, int dim, int ffn_dim, int nblocks) {
    /* per block: 19 [N, dim] (in, norms, q/k/v, ropes, attention, projections, residuals, ffn.in, ffn.2, out),
     * 5 [Lc, dim] (context, cross k/v and norm_k... ), 2 [N, ffn], e [6, dim] */
    int64_t blk = (int64_t)N * dim * 21 + (int64_t)Lc * dim * 4 + (int64_t)N * ffn_dim * 2 + 6 * (int64_t)dim;
    return 4 * (blk * nblocks + (int64_t)N * dim * 2 + (int64_t)Lc * dim);
}

int64_t tset_bytes(const TensorSet *s) {
    int64_t n = 0;
    for (int i = 0; i < s->n; i++) n += (int64_t)tensor_nbytes(&s->t[i]);
    return n;
}
