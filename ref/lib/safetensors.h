/*
 * safetensors.h: mmap reader with a fully validated header, sharded
 * checkpoints through *.safetensors.index.json, and a writer.
 *
 * File layout: u64 LE header length N, N bytes of JSON header
 * {name: {dtype, shape, data_offsets [begin, end)}, "__metadata__": {..}},
 * then the data section. Validation: N within the file, well-formed JSON,
 * known dtype, shape product x dtype size == end - begin, ranges inside the
 * data section, no two tensors overlapping.
 */
#ifndef T2V_SAFETENSORS_H
#define T2V_SAFETENSORS_H

#include "tensor.h"
#include "platform.h"

typedef struct {
    char *path;
    MappedFile map;
    TensorList tensors;  /* views into map */
    int nmeta;
    char **meta_keys, **meta_vals;
} SafeTensors;

int st_open(SafeTensors *st, const char *path, T2vError *err);
void st_close(SafeTensors *st);
const char *st_meta(const SafeTensors *st, const char *key); /* NULL if absent */

/* A checkpoint made of one file or of the shards listed by an index file.
 * `tensors` holds every tensor of every shard. */
typedef struct {
    int nfiles;
    SafeTensors *files;
    TensorList tensors;
} StShards;

/* path: a .safetensors file, or a .safetensors.index.json ("weight_map"). */
int st_open_any(StShards *s, const char *path, T2vError *err);
void st_close_any(StShards *s);

/* Writer. Tensors are written in the order given, data 8-byte aligned by
 * header padding (spaces), metadata as string pairs (may be 0). The file is
 * written to PATH.tmp and renamed when complete. */
typedef struct {
    const char *name;
    const Tensor *t;
} StItem;

int st_write(const char *path, const StItem *items, int n, const char *const *meta_keys,
             const char *const *meta_vals, int nmeta, T2vError *err);

#endif
