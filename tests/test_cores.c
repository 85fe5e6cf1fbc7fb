/*
 * test_cores.c: the machine-dependent choices, on made-up machines (never
 * the host's): OpenBLAS's kernel choice from a table of (CPU features, core
 * OpenBLAS picked) -> core asked for (ref/app/blas_core.c), and the physical
 * core count from a fake sysfs CPU directory built here
 * (platform_physical_cores, the default --threads).
 */
#include "harness.h"
#include "../ref/app/blas_core.h"
#include "../ref/lib/platform.h"

#if !defined(_WIN32)
#include <sys/stat.h>
#include <unistd.h>
#endif

static void test_choice_table(void) {
    /* x86, amd, avx2, fma, avx512 */
    static const CpuFeatures SPR = {1, 0, 1, 1, 1}, ZEN4 = {1, 1, 1, 1, 1}, HSW = {1, 0, 1, 1, 0},
                             ZEN2 = {1, 1, 1, 1, 0}, SNB = {1, 0, 0, 0, 0}, ARM = {0, 0, 0, 0, 0},
                             AVX2_NOFMA = {1, 0, 1, 0, 0};
    static const struct {
        const CpuFeatures *f;
        const char *picked, *want, *why;
    } rows[] = {
        {&SPR, "Prescott", "SkylakeX", "Sapphire Rapids seen as Prescott (Debian 0.3.21)"},
        {&SPR, "Haswell", "SkylakeX", "AVX-512 CPU on AVX2 kernels"},
        {&SPR, "Sandybridge", "SkylakeX", "AVX-512 CPU on AVX kernels"},
        {&SPR, "SkylakeX", NULL, "already AVX-512 kernels"},
        {&SPR, "Cooperlake", NULL, "already AVX-512 kernels (bf16 too)"},
        {&SPR, "SapphireRapids", NULL, "a newer OpenBLAS's own pick"},
        {&ZEN4, "Cooperlake", NULL, "Zen 4 as this OpenBLAS sees it"},
        {&ZEN4, "Zen", "SkylakeX", "Zen 4 seen as Zen"},
        {&HSW, "Prescott", "Haswell", "AVX2 CPU on SSE kernels"},
        {&HSW, "prescott", "Haswell", "names in any case"},
        {&HSW, "Haswell", NULL, "already AVX2 kernels"},
        {&HSW, "SkylakeX", NULL, "never a downgrade (the user forced it)"},
        {&ZEN2, "Barcelona", "Zen", "AMD AVX2 CPU on SSE kernels"},
        {&ZEN2, "Zen", NULL, "already Zen kernels"},
        {&SNB, "Prescott", NULL, "no AVX2: nothing better known"},
        {&AVX2_NOFMA, "Nehalem", NULL, "AVX2 without FMA: Haswell kernels need both"},
        {&HSW, "MysteryLake", NULL, "a core name not known: kept"},
        {&HSW, NULL, NULL, "no name: kept"},
        {&ARM, "Prescott", NULL, "not x86: nothing is done"},
        {&ARM, "NEOVERSEN1", NULL, "aarch64 core: nothing is done"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *got = blas_core_choice(rows[i].f, rows[i].picked);
        int ok = (!got && !rows[i].want) || (got && rows[i].want && !strcmp(got, rows[i].want));
        CHECK(ok, "blas_core_choice(%s): %s (%s)", rows[i].picked ? rows[i].picked : "NULL",
              rows[i].want ? rows[i].want : "keep", rows[i].why);
        if (!ok) printf("       got %s\n", got ? got : "keep");
    }
    const char *name = blas_core_name();
    CHECK(name && name[0], "blas_core_name: '%s' (the kernels in use; 'builtin' with BLAS=none)", name);
}

#if !defined(_WIN32)
/* dir/cpuN/topology/{physical_package_id, core_id} = pkg, core. */
static int fake_cpu(const char *dir, int n, int pkg, int core) {
    char p[512];
    snprintf(p, sizeof p, "%s/cpu%d", dir, n);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/cpu%d/topology", dir, n);
    mkdir(p, 0700);
    const char *leaf[2] = {"physical_package_id", "core_id"};
    int val[2] = {pkg, core};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/cpu%d/topology/%s", dir, n, leaf[i]);
        FILE *f = fopen(p, "w");
        if (!f) return -1;
        fprintf(f, "%d\n", val[i]);
        fclose(f);
    }
    return 0;
}

static void remove_tree(const char *dir, int ncpu) {
    char p[512];
    const char *leaf[2] = {"physical_package_id", "core_id"};
    for (int n = 0; n < ncpu; n++) {
        for (int i = 0; i < 2; i++) {
            snprintf(p, sizeof p, "%s/cpu%d/topology/%s", dir, n, leaf[i]);
            remove(p);
        }
        snprintf(p, sizeof p, "%s/cpu%d/topology", dir, n);
        rmdir(p);
        snprintf(p, sizeof p, "%s/cpu%d", dir, n);
        rmdir(p);
    }
    rmdir(dir);
}

static void test_topology(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/t2v_test_cores_%ld", (long)getpid());
    if (mkdir(dir, 0700) != 0) { CHECK(0, "mkdir %s", dir); return; }
    /* two sockets x 4 cores x 2 SMT threads; Linux numbers the first thread
     * of every core first: cpu0-7, then their siblings cpu8-15. cpu16-17
     * are offline (no topology), cpu18 is a late one (a gap before it). */
    int ok = 1;
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < 2; s++)
            for (int c = 0; c < 4; c++) ok &= fake_cpu(dir, t * 8 + s * 4 + c, s, c) == 0;
    char p[512];
    snprintf(p, sizeof p, "%s/cpu16", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/cpu17", dir);
    mkdir(p, 0700);
    CHECK(ok && platform_physical_cores(dir) == 8,
          "platform_physical_cores: 2 sockets x 4 cores x 2 threads -> 8 (got %d)", platform_physical_cores(dir));
    ok = fake_cpu(dir, 18, 1, 9) == 0;
    CHECK(ok && platform_physical_cores(dir) == 9, "platform_physical_cores: a CPU past offline ones counts (got %d)",
          platform_physical_cores(dir));
    remove_tree(dir, 19);
    CHECK(platform_physical_cores(dir) == 0, "platform_physical_cores: no directory -> 0 (unknown)");
    int d = platform_default_threads();
    CHECK(d >= 1, "platform_default_threads: %d", d);
}
#endif

int main(void) {
    test_choice_table();
#if !defined(_WIN32)
    test_topology();
#endif
    return h_finish();
}
