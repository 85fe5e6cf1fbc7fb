/*
 * pth.h: a non-executing reader for PyTorch zip checkpoints (torch.save since
 * torch 1.6; README, The model directory, docs/MODEL.md section 6.2).
 *
 * The file is a zip archive of stored (uncompressed) entries, ZIP64 when large:
 *   <prefix>/data.pkl      the pickled state dict
 *   <prefix>/data/<key>    one raw little-endian storage per key
 *   <prefix>/version, <prefix>/byteorder (optional: "little")
 * data.pkl is run by a restricted pickle interpreter that knows only the
 * opcodes and globals a state dict needs (collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and the
 * torch.*Storage types). Any other global is refused by name: loading a
 * checkpoint never executes code. The result must be a dict or OrderedDict of
 * tensors, or a distilled model's training checkpoint (CausVid, Self-Forcing:
 * a dict whose "generator_ema" entry, else "generator", is that state dict;
 * no global or opcode beyond the above was needed for it). Every size, offset and stride is checked against its storage.
 *
 * Tensors are views into the mapped file (no copy), honouring storage_offset;
 * tensors with non-contiguous strides (or misaligned data) become owned
 * contiguous copies (Tensor.owned = 1). Tensors may share a storage.
 */
#ifndef T2V_PTH_H
#define T2V_PTH_H

#include <stddef.h>

#include "platform.h"
#include "tensor.h"

typedef struct {
    char *path;          /* the file name used in messages */
    MappedFile map;
    TensorList tensors;  /* name -> tensor, in pickle order */
    int borrowed;        /* 1: map.data belongs to the caller (pth_open_mem) */
    char entry[16];      /* "generator_ema" / "generator": the training dict's entry read; "" */
} PthFile;

/* Opens and validates a .pth checkpoint. On failure p is left closed. */
int pth_open(PthFile *p, const char *path, T2vError *err);
/* The same on a buffer the caller keeps alive until pth_close (no copy).
 * `name` is used in messages. For fuzzing and tests. */
int pth_open_mem(PthFile *p, const void *data, size_t n, const char *name, T2vError *err);
void pth_close(PthFile *p);

/* Limits of the pickle interpreter (hostile input cannot exceed them). */
#define PTH_MAX_STACK   (1 << 20)  /* values on the pickle stack */
#define PTH_MAX_MARKS   4096       /* nested MARKs */
#define PTH_MAX_MEMO    (1 << 22)  /* memo index */
#define PTH_MAX_STRING  (1 << 20)  /* bytes in one string */
#define PTH_MAX_ENTRIES (1 << 20)  /* zip entries */

#endif
