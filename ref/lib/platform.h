/*
 * platform.h: the only OS-specific code in t2v (README, Layout):
 * read-only file mapping (mmap on POSIX, a plain read into memory elsewhere),
 * thread count, a monotonic clock, terminal detection, atomic rename, a
 * child process fed through a pipe.
 */
#ifndef T2V_PLATFORM_H
#define T2V_PLATFORM_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include "tensor.h"

typedef struct {
    const unsigned char *data;
    size_t size;
    int mapped; /* 1: mmap'ed; 0: heap copy (or empty file) */
} MappedFile;

/* Maps the whole file read-only. Errors name the file. */
int platform_map_file(MappedFile *m, const char *path, T2vError *err);
void platform_unmap_file(MappedFile *m);

double platform_now(void);            /* seconds, monotonic */
/* The physical cores among the processors available (SMT siblings count
 * once; docs/ARCHITECTURE.md, Threading), or all processors where the
 * topology cannot be read. */
int platform_default_threads(void);
/* Distinct (package, core) pairs under a Linux sysfs CPU directory
 * ("/sys/devices/system/cpu": cpuN/topology/physical_package_id and
 * core_id); 0 when none can be read (not Linux, no such directory). */
int platform_physical_cores(const char *cpu_dir);
/* The machine's online processors, whatever this process is bound to (an
 * MPI rank pinned to one core sees them all); 1 when unknown. */
int platform_online_processors(void);
void platform_set_threads(int n);     /* OpenMP and OpenBLAS thread counts */
int platform_max_threads(void);       /* threads a parallel region gets (1 without OpenMP) */
int platform_thread_id(void);         /* this thread's number in its region (0 outside) */
int platform_stderr_is_tty(void);
/* Renames tmp to final, replacing final if it exists. */
int platform_rename(const char *tmp, const char *final, T2vError *err);
int platform_file_exists(const char *path);
int platform_is_dir(const char *path);
/* Physical memory in bytes (0 when unknown). */
size_t platform_total_memory(void);
/* Bytes an unprivileged writer may still use in the file system of dir; -1
 * when unknown. */
double platform_disk_free(const char *dir);
/* Peak resident set size of this process in bytes (0 when unknown). */
size_t platform_peak_rss(void);

/* A child process reading our pipe on its standard input (the MP4 writer's
 * ffmpeg). POSIX: argv[0] (a path) started with posix_spawn, no shell, so
 * pid is the program's own; its pipe is unbuffered here (closing it never
 * writes). Windows: _popen(cmdline) (binary mode), pid 0: it cannot be
 * stopped, only waited for. */
typedef struct {
    FILE *in;
    long pid;
} PlatformChild;

int platform_child_start(PlatformChild *c, char *const argv[], const char *cmdline, T2vError *err);
/* Closes the pipe, ends the child first when `stop` (SIGKILL), and waits
 * until it has exited: after this the child can create no file. Returns its
 * exit code as a shell shows it (0: success; 128 + N: killed by signal N).
 * *registered (a copy of pid that a signal
 * handler reads; may be NULL) is cleared once the child has exited and
 * before it is reaped, so a handler never signals a pid that was reused. */
int platform_child_finish(PlatformChild *c, int stop, volatile sig_atomic_t *registered);
/* For a signal handler (only kill and waitpid, async-signal-safe): SIGKILL
 * to pid, then waits until it has exited. Nothing on Windows or for pid <= 0. */
void platform_child_stop(long pid);

#endif
