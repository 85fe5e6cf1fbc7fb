/* platform.c: see platform.h. The only file with OS #ifdefs. */
#include "platform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef T2V_OPENBLAS
#include <cblas.h>
#endif

#if defined(_WIN32)
#include <io.h>
#include <windows.h>
#include <psapi.h>
#include <sys/stat.h>
#else
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
#endif

/* Reads the whole file into memory: the portable path (Windows, or a file
 * that cannot be mapped). */
static int read_whole_file(MappedFile *m, FILE *f, const char *path, size_t size, T2vError *err) {
    unsigned char *buf = (unsigned char *)t2v_malloc(size ? size : 1, path, err);
    if (!buf) return T2V_ERESOURCE;
    if (size && fread(buf, 1, size, f) != size) {
        free(buf);
        return t2v_fail(err, T2V_EINPUT, "%s: short read (expected %zu bytes)", path, size);
    }
    m->data = buf;
    m->size = size;
    m->mapped = 0;
    return T2V_OK;
}

#if defined(_WIN32)
int platform_map_file(MappedFile *m, const char *path, T2vError *err) {
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) return t2v_fail(err, T2V_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    struct _stati64 st;
    if (_fstati64(_fileno(f), &st) != 0 || (st.st_mode & _S_IFDIR)) {
        fclose(f);
        return t2v_fail(err, T2V_EINPUT, "%s: not a regular file", path);
    }
    int rc = read_whole_file(m, f, path, (size_t)st.st_size, err);
    fclose(f);
    return rc;
}

void platform_unmap_file(MappedFile *m) {
    free((void *)m->data);
    memset(m, 0, sizeof *m);
}
#else
int platform_map_file(MappedFile *m, const char *path, T2vError *err) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return t2v_fail(err, T2V_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return t2v_fail(err, T2V_EINPUT, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) { /* mmap of 0 bytes fails; an empty file is just empty */
        close(fd);
        m->data = (const unsigned char *)"";
        return T2V_OK;
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        FILE *f = fdopen(fd, "rb");
        if (!f) { close(fd); return t2v_fail(err, T2V_EINPUT, "%s: cannot read", path); }
        int rc = read_whole_file(m, f, path, size, err);
        fclose(f);
        return rc;
    }
    close(fd);
    m->data = (const unsigned char *)p;
    m->size = size;
    m->mapped = 1;
    return T2V_OK;
}

void platform_unmap_file(MappedFile *m) {
    if (m->mapped) munmap((void *)m->data, m->size);
    else if (m->size) free((void *)m->data);
    memset(m, 0, sizeof *m);
}
#endif

double platform_now(void) {
#if defined(_WIN32)
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&c);
    return (double)c.QuadPart / (double)f.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}

#if !defined(_WIN32)
/* The integer in a one-line file, or -1 (sysfs topology; not on Windows). */
static long read_long_file(const char *path) {
    FILE *f = fopen(path, "r");
    long v = -1;
    if (!f) return -1;
    if (fscanf(f, "%ld", &v) != 1) v = -1;
    fclose(f);
    return v;
}
#endif

int platform_physical_cores(const char *cpu_dir) {
#if defined(_WIN32)
    (void)cpu_dir;
    return 0;
#else
    enum { MAX_CPUS = 4096 };
    long *seen = malloc(sizeof(long) * 2 * MAX_CPUS);
    int n = 0, misses = 0;
    if (!seen) return 0;
    /* cpu0, cpu1, ...: stop after 64 numbers in a row without a topology
     * (offline CPUs have none; numbering may have gaps) */
    for (int cpu = 0; cpu < MAX_CPUS && misses < 64; cpu++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/cpu%d/topology/physical_package_id", cpu_dir, cpu);
        long pkg = read_long_file(path);
        snprintf(path, sizeof path, "%s/cpu%d/topology/core_id", cpu_dir, cpu);
        long core = read_long_file(path);
        if (pkg < 0 || core < 0) { misses++; continue; }
        misses = 0;
        int dup = 0;
        for (int i = 0; i < n && !dup; i++) dup = seen[2 * i] == pkg && seen[2 * i + 1] == core;
        if (!dup) { seen[2 * n] = pkg; seen[2 * n + 1] = core; n++; }
    }
    free(seen);
    return n;
#endif
}

int platform_online_processors(void) {
#if defined(_WIN32)
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwNumberOfProcessors > 0 ? (int)si.dwNumberOfProcessors : 1;
#else
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 && n <= 1 << 20 ? (int)n : 1;
#endif
}

int platform_default_threads(void) {
#ifdef _OPENMP
    int procs = omp_get_num_procs(), cores = platform_physical_cores("/sys/devices/system/cpu");
    return cores > 0 && cores < procs ? cores : procs;
#else
    return 1;
#endif
}

void platform_set_threads(int n) {
    if (n < 1) n = 1;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
#ifdef T2V_OPENBLAS
    /* OpenBLAS stays single-threaded: ops.c threads its GEMMs over fixed
     * tiles, so the bits do not depend on n and the two thread pools never
     * oversubscribe the cores. */
    openblas_set_num_threads(1);
#endif
}

int platform_max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int platform_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int platform_stderr_is_tty(void) {
#if defined(_WIN32)
    return _isatty(_fileno(stderr));
#else
    return isatty(2);
#endif
}

int platform_rename(const char *tmp, const char *final, T2vError *err) {
#if defined(_WIN32)
    if (MoveFileExA(tmp, final, MOVEFILE_REPLACE_EXISTING)) return T2V_OK;
    return t2v_fail(err, T2V_ERESOURCE, "cannot rename %s to %s", tmp, final);
#else
    if (rename(tmp, final) == 0) return T2V_OK;
    return t2v_fail(err, T2V_ERESOURCE, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
#endif
}

int platform_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int platform_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR;
}

double platform_disk_free(const char *dir) {
#if defined(_WIN32)
    ULARGE_INTEGER avail;
    return GetDiskFreeSpaceExA(dir, &avail, NULL, NULL) ? (double)avail.QuadPart : -1.0;
#else
    struct statvfs sv;
    return statvfs(dir, &sv) == 0 ? (double)sv.f_bavail * (double)sv.f_frsize : -1.0;
#endif
}

size_t platform_total_memory(void) {
#if defined(_WIN32)
    MEMORYSTATUSEX ms;
    ms.dwLength = sizeof ms;
    return GlobalMemoryStatusEx(&ms) ? (size_t)ms.ullTotalPhys : 0;
#else
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
#endif
}

size_t platform_peak_rss(void) {
#if defined(_WIN32)
    PROCESS_MEMORY_COUNTERS pmc;
    if (GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc)) return pmc.PeakWorkingSetSize;
    return 0;
#else
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024u; /* Linux reports kilobytes */
#endif
}

/* ----------------------------------------------------------------------------
 * A child process fed through a pipe (platform.h) */

#if defined(_WIN32)
int platform_child_start(PlatformChild *c, char *const argv[], const char *cmdline, T2vError *err) {
    c->pid = 0;
    fflush(NULL);
    if ((c->in = _popen(cmdline, "wb"))) return T2V_OK;
    return t2v_fail(err, T2V_ERESOURCE, "cannot start %s: %s", argv[0], strerror(errno));
}

int platform_child_finish(PlatformChild *c, int stop, volatile sig_atomic_t *registered) {
    (void)stop;
    int status = c->in ? _pclose(c->in) : 0;
    c->in = NULL;
    if (registered) *registered = 0;
    return status;
}

void platform_child_stop(long pid) { (void)pid; }
#else
/* The pipe's write end stays here (close-on-exec), its read end becomes the
 * child's standard input. */
int platform_child_start(PlatformChild *c, char *const argv[], const char *cmdline, T2vError *err) {
    (void)cmdline;
    int fd[2], e;
    c->in = NULL, c->pid = 0;
    fflush(NULL); /* our buffered messages before the child's */
    if (pipe(fd) != 0) return t2v_fail(err, T2V_ERESOURCE, "cannot start %s: pipe: %s", argv[0], strerror(errno));
    fcntl(fd[0], F_SETFD, FD_CLOEXEC), fcntl(fd[1], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_t fa;
    pid_t pid = 0;
    if (!(e = posix_spawn_file_actions_init(&fa))) {
        if (!(e = posix_spawn_file_actions_adddup2(&fa, fd[0], 0))) e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
    }
    close(fd[0]);
    if (e) {
        close(fd[1]);
        return t2v_fail(err, T2V_ERESOURCE, "cannot start %s: %s", argv[0], strerror(e));
    }
    c->pid = (long)pid;
    if (!(c->in = fdopen(fd[1], "w"))) {
        e = errno;
        close(fd[1]);
        platform_child_finish(c, 1, NULL);
        return t2v_fail(err, T2V_ERESOURCE, "cannot start %s: fdopen: %s", argv[0], strerror(e));
    }
    setvbuf(c->in, NULL, _IONBF, 0);
    return T2V_OK;
}

int platform_child_finish(PlatformChild *c, int stop, volatile sig_atomic_t *registered) {
    if (c->in) fclose(c->in); /* end of its input; unbuffered: nothing is written */
    c->in = NULL;
    pid_t pid = (pid_t)c->pid;
    int status = 0;
    if (pid <= 0) return 0;
    if (stop) kill(pid, SIGKILL);
    siginfo_t si;
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
    }
    if (registered) *registered = 0; /* exited, not yet reaped: its pid is not reused before this */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    c->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void platform_child_stop(long pid) {
    if (pid <= 0) return;
    kill((pid_t)pid, SIGKILL);
    while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR) {
    }
}
#endif
