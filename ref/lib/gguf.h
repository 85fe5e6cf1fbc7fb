/*
 * gguf.h: reader of GGUF files (version 2 and 3; ggml's single-file format,
 * docs/GGUF.md), as written by llama.cpp's and city96's converters.
 *
 *   "GGUF", u32 version, u64 tensor count, u64 metadata count
 *   metadata: string key, u32 value type, value (scalars, strings = u64
 *             length + bytes, arrays = u32 element type + u64 count + items)
 *   tensor infos: string name, u32 n_dims, u64 dims[n_dims] (ggml order:
 *             fastest first), u32 ggml type, u64 offset in the data section
 *   padding to general.alignment (u32, default 32), then the data section.
 *
 * Everything is validated before a tensor is listed: counts and string lengths
 * against the bytes left, dims products checked for overflow, a row (the
 * first ggml dim) a whole number of blocks, offsets aligned, every tensor's
 * bytes inside the file and no two overlapping, duplicate names refused.
 * Tensors come out as views under the names stored in the file, with their
 * shape in PyTorch order (ggml's reversed); quantized types stay quantized
 * (tensor.h DT_Q*). Types other than F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
 * Q5_1, Q2_K..Q6_K are refused with their ggml name.
 */
#ifndef T2V_GGUF_H
#define T2V_GGUF_H

#include "platform.h"
#include "tensor.h"

/* One metadata entry: its key, GGUF value type and a printable value (the
 * string itself, the number, or "[N x type]" for an array). */
typedef struct {
    char *key;
    int type;
    char *text;
} GgufKv;

typedef struct {
    char *path;
    MappedFile map;
    TensorList tensors; /* views into map */
    uint32_t version, alignment;
    uint64_t data_offset; /* start of the data section in the file */
    int nkv;
    GgufKv *kv;
} GgufFile;

int gguf_open(GgufFile *g, const char *path, T2vError *err);
void gguf_close(GgufFile *g);
/* The printable value of a metadata key, NULL if absent. */
const char *gguf_meta(const GgufFile *g, const char *key);
/* GGUF's name of a metadata value type ("u32", "string", ...). */
const char *gguf_type_name(int type);

/* Whether the first 4 bytes are GGUF's magic. */
int gguf_magic(const unsigned char *head, size_t n);

#endif
