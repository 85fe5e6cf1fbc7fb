/*
 * quant.h: ggml's block-quantized weight types (docs/GGUF.md), decoded
 * to fp32 exactly as ggml decodes them: the same fp32 operations in the same
 * order per block, the fp16 scales converted exactly (f16_to_f32).
 *
 *   type  elements/block  bytes  layout (in file order)
 *   Q8_0  32              34     d f16, 32 x int8 q                y = q d
 *   Q4_0  32              18     d, 16 bytes of nibbles            y = (q - 8) d
 *   Q4_1  32              20     d, m f16, 16 bytes of nibbles     y = q d + m
 *   Q5_0  32              22     d, 4 bytes of 5th bits, nibbles   y = (q - 16) d
 *   Q5_1  32              24     d, m, 5th bits, nibbles           y = q d + m
 *   Q2_K  256             84     16 scale/min bytes, 64 bytes of 2-bit q, d, dmin
 *   Q3_K  256             110    32 bytes high bits, 64 bytes 2-bit q, 12 bytes of
 *                                6-bit scales, d
 *   Q4_K  256             144    d, dmin, 12 bytes of 6-bit scales and mins, 128
 *                                bytes of nibbles
 *   Q5_K  256             176    d, dmin, scales/mins, 32 bytes of 5th bits, nibbles
 *   Q6_K  256             210    128 bytes low nibbles, 64 bytes 2-bit highs,
 *                                16 int8 scales, d
 *
 * Quantization (writing these types) is not needed by t2v: tools/gguf.py
 * writes the test files.
 */
#ifndef T2V_QUANT_H
#define T2V_QUANT_H

#include "tensor.h"

/* dst[0 .. nblocks * dtype_block(dt)) <- the nblocks blocks at src, of the
 * quantized dtype dt (dtype_is_quant). Any alignment of src. */
void quant_dequant(DType dt, float *dst, const void *src, int64_t nblocks);

#endif
