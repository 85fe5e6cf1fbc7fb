/*
 * main.c: the t2v command line. The only file that exits; everything below
 * it returns a status. Exit codes: 0 ok, 1 usage,
 * 2 bad model or input file, 3 resources (memory, disk).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "blas_core.h"
#include "cli.h"
#include "t2v.h"

/* The temporaries in flight, for the SIGINT handler (a signal handler can
 * reach only a static); the commands get a pointer to it. */
static App app; /* static: the signal handler removes its temporaries */

/* Stops the MP4 writer's ffmpeg, removes the temporaries, dies by the signal
 * (docs/OUTPUTS.md, Safe writing). While ffmpeg is being started its pid is
 * not known yet: the writer raises the signal again right after. */
static void on_signal(int sig) {
    if (tempfiles_defer_signal(&app.temps, sig)) return;
    tempfiles_remove_all(&app.temps);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The command named by argv[1]. */
static int run(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return T2V_EUSAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        if (!strcmp(cmd, "help") && argc > 2) return command_help(argv[2]); /* t2v help CMD */
        print_help(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("t2v %s (gemm: %s, kernels: %s%s)\n", T2V_VERSION, gemm_backend(), blas_core_name(),
               dist_built_with_mpi() ? ", MPI" : "");
        return 0;
    }
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 2, argv + 2, &app);
    if (!strcmp(cmd, "stage")) return cmd_stage(argc - 2, argv + 2, &app);
    if (cmd[0] == '-') return cmd_generate(argc - 1, argv + 1, &app);
    if (app.dist.rank != 0) return 0; /* the other commands: rank 0 alone */
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 2, argv + 2, &app);
    if (!strcmp(cmd, "compare")) return cmd_compare(argc - 2, argv + 2, &app);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 2, argv + 2, &app);
    if (!strcmp(cmd, "keygen")) return cmd_keygen(argc - 2, argv + 2, &app);
    if (!strcmp(cmd, "bisect")) return cmd_bisect(argc - 2, argv + 2, &app);
    if (!strcmp(cmd, "golden-pack")) return cmd_golden_pack(argc - 2, argv + 2, &app);
    return usage_error("unknown command '%s' (generate, tokenize, stage, compare, info, keygen, bisect, "
                       "golden-pack)", cmd);
}

int main(int argc, char **argv) {
    blas_core_select(argv); /* first: it may start the program again (blas_core.h) */
    tempfiles_init(&app.temps);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
#ifdef SIGPIPE
    signal(SIGPIPE, SIG_IGN); /* an ffmpeg that exits early is an error, not a kill */
#endif
    T2vError e = {0, {0}};
    if (dist_init(&app.dist, &argc, &argv, &e)) return die(&e);
    default_model_path(argc > 0 ? argv[0] : NULL, app.default_model, sizeof app.default_model);
    default_tolerances_path(argc > 0 ? argv[0] : NULL, app.tolerances, sizeof app.tolerances);
    int rc = run(argc, argv);
    /* a failed rank stops the others, which may wait for it (docs/SCALING.md) */
    if (rc && app.dist.size > 1) dist_abort(&app.dist, rc);
    dist_finalize(&app.dist);
    return rc;
}
