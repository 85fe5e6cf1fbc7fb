/*
 * blas_core.c: OpenBLAS's kernel choice, checked against the CPU (blas_core.h).
 */
#include "blas_core.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <unistd.h>
#endif
#ifdef T2V_OPENBLAS
#include <cblas.h>
char *openblas_get_corename(void); /* in OpenBLAS's library, not in every cblas.h */
#endif

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define T2V_X86_CPUID 1
#endif

void cpu_features(CpuFeatures *f) {
    memset(f, 0, sizeof *f);
#ifdef T2V_X86_CPUID
    /* the compiler's cpuid reader, which also checks that the OS saves the
     * AVX and AVX-512 registers (XGETBV), as OpenBLAS's own detection does */
    __builtin_cpu_init();
    f->x86 = 1;
    f->amd = __builtin_cpu_is("amd");
    f->avx2 = __builtin_cpu_supports("avx2");
    f->fma = __builtin_cpu_supports("fma");
    f->avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                __builtin_cpu_supports("avx512cd");
#endif
}

/* OpenBLAS's x86-64 core types by the widest vectors their kernels use:
 * 1 SSE, 2 AVX, 3 AVX2 + FMA, 4 AVX-512; 0 for a name not listed. */
static int core_class(const char *name) {
    static const struct {
        const char *name;
        int cls;
    } cores[] = {{"katmai", 1},      {"coppermine", 1},  {"northwood", 1},  {"prescott", 1},   {"banias", 1},
                 {"core2", 1},       {"penryn", 1},      {"dunnington", 1}, {"nehalem", 1},    {"atom", 1},
                 {"nano", 1},        {"athlon", 1},      {"opteron", 1},    {"opteron_sse3", 1}, {"barcelona", 1},
                 {"bobcat", 1},      {"sandybridge", 2}, {"bulldozer", 2},  {"piledriver", 2}, {"steamroller", 2},
                 {"excavator", 2},   {"haswell", 3},     {"zen", 3},        {"skylakex", 4},   {"cooperlake", 4},
                 {"sapphirerapids", 4}};
    char low[32];
    size_t n = 0;
    for (; name && name[n] && n + 1 < sizeof low; n++) low[n] = (char)tolower((unsigned char)name[n]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
        if (!strcmp(low, cores[i].name)) return cores[i].cls;
    return 0;
}

const char *blas_core_choice(const CpuFeatures *f, const char *picked) {
    int have = core_class(picked);
    if (!f->x86 || have == 0) return NULL; /* not x86, or a pick we do not know: keep it */
    if (f->avx512 && have < 4) return "SkylakeX";
    if (f->avx2 && f->fma && have < 3) return f->amd ? "Zen" : "Haswell";
    return NULL;
}

const char *blas_core_name(void) {
#ifdef T2V_OPENBLAS
    const char *n = openblas_get_corename();
    return n ? n : "unknown";
#else
    return "builtin";
#endif
}

void blas_core_select(char **argv) {
#if defined(T2V_OPENBLAS) && defined(__linux__)
    const char *user = getenv("OPENBLAS_CORETYPE");
    if (user && user[0]) return; /* the user's choice (or an earlier run's) stands */
    CpuFeatures f;
    cpu_features(&f);
    const char *picked = blas_core_name(), *want = blas_core_choice(&f, picked);
    if (!want) return;
    fprintf(stderr, "t2v: OpenBLAS picked its %s kernels for this CPU, which runs %s; restarting with "
                    "OPENBLAS_CORETYPE=%s (set OPENBLAS_CORETYPE to choose yourself)\n",
            picked, f.avx512 ? "AVX-512" : "AVX2 and FMA", want);
    fflush(NULL);
    if (setenv("OPENBLAS_CORETYPE", want, 1) == 0) execv("/proc/self/exe", argv);
    fprintf(stderr, "t2v: could not restart (%s); going on with OpenBLAS's %s kernels\n", strerror(errno), picked);
    unsetenv("OPENBLAS_CORETYPE");
#else
    (void)argv;
#endif
}
