/*
 * blas_core.h: which OpenBLAS kernels t2v runs on (docs/ARCHITECTURE.md,
 * OpenBLAS kernels). OpenBLAS picks its kernels ("core type") once, when the
 * library loads, from the CPU it recognises; an older OpenBLAS does not
 * recognise a newer CPU and falls back to slow generic kernels (Debian's
 * 0.3.21 runs Sapphire Rapids on "Prescott", 5x slower). The app compares
 * the pick with the CPU's features and, when it is weaker than what the CPU
 * runs, starts itself again with OPENBLAS_CORETYPE set, the variable
 * OpenBLAS reads at load time. A user's OPENBLAS_CORETYPE is always kept.
 */
#ifndef T2V_BLAS_CORE_H
#define T2V_BLAS_CORE_H

/* What the CPU and the OS run (x86-64; all 0 elsewhere). avx512: F, BW,
 * VL, DQ and CD together (what OpenBLAS's SkylakeX kernels use). */
typedef struct {
    int x86, amd, avx2, fma, avx512;
} CpuFeatures;

void cpu_features(CpuFeatures *f);

/* The core type to ask for, given the CPU's features and the core type
 * OpenBLAS picked, or NULL to keep the pick: AVX-512 -> "SkylakeX", else
 * AVX2 + FMA -> "Zen" (AMD) or "Haswell", when the pick is a known core of
 * a lower class (SSE only, AVX only, AVX2); an unknown pick is kept. */
const char *blas_core_choice(const CpuFeatures *f, const char *picked);

/* The kernels in use: OpenBLAS's core type name, or "builtin" (BLAS=none). */
const char *blas_core_name(void);

/* Called first thing in main: when blas_core_choice names a core and the
 * user has not set OPENBLAS_CORETYPE, says so once on stderr and re-executes
 * the program (Linux: /proc/self/exe, the same argv) with OPENBLAS_CORETYPE
 * set. Returns only if nothing is to be done or the re-execution failed (then
 * with the variable unset again and a note on stderr). */
void blas_core_select(char **argv);

#endif
