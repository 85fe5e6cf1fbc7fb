/*
 * main.c: the t2v command line. The only file that exits; everything below
 * it returns a status. Exit codes: 0 ok, 1 usage,
 * 2 bad model or input file, 3 resources (memory, disk).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "t2v.h"

/* The temporaries in flight, for the SIGINT handler (a signal handler can
 * reach only a static); the commands get a pointer to it. */
static TempFiles temps;

static void on_signal(int sig) {
    tempfiles_remove_all(&temps);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ----------------------------------------------------------------------------
 * Help */

static const char *HELP =
    "t2v " T2V_VERSION ": Wan2.1 text-to-video, a readable CPU reference in C99\n"
    "\n"
    "usage:\n"
    "  t2v [generate] -p PROMPT [options]          generate a video\n"
    "  t2v tokenize (--model DIR | --tokenizer FILE) [--pieces] [--raw] TEXT...\n"
    "  t2v stage NAME --model DIR --in IN.safetensors --out OUT.safetensors [options]\n"
    "        NAME: t5 | dit | sampler | vae-decode | vae-encode\n"
    "  t2v compare A.safetensors B.safetensors [--tol FILE]\n"
    "  t2v info (--model DIR | --config config.json) [-W N -H N -f N] [--steps N] [--cfg G]\n"
    "           [--tokens L | -p PROMPT] [--full]      model tree, parameters, FLOPs, memory\n"
    "  t2v info FILE.safetensors | FILE.pth | FILE.png   tensors, or a video's provenance\n"
    "\n"
    "generate options (defaults from the model directory's t2v.json, else Wan2.1's):\n"
    "  -p, --prompt TEXT      the prompt (required)\n"
    "  -n, --negative TEXT    negative prompt (default: the model's, else Wan2.1's Chinese default)\n"
    "  --model DIR            model directory in the Wan2.1 layout (default: models/demo)\n"
    "  -W, --width N          width in pixels (a multiple of 16 for Wan2.1: VAE stride x patch)\n"
    "  -H, --height N         height in pixels (the same rule)\n"
    "  -f, --frames N         number of frames, 4k+1 for Wan2.1 (1, 5, 9, ..., 81)\n"
    "  --steps N              sampling steps (1..1000)\n"
    "  --cfg G                classifier-free guidance scale; <= 1 skips the unconditional pass\n"
    "  --shift S              flow-matching schedule shift (> 0)\n"
    "  --sampler NAME         unipc (default, as Wan2.1) or euler\n"
    "  --seed N               noise seed (default 42); noise = torch.manual_seed(N); torch.randn\n"
    "  --threads N            threads (default: all processors); results do not depend on it\n"
    "  -o, --output OUT       output base name (default out/t2v): OUT.png (animated PNG),\n"
    "                         OUT_0000.png... (frames), OUT_sheet.png, OUT.y4m, OUT.mp4,\n"
    "                         OUT.json (provenance sidecar); a pattern such as out_%04d.png\n"
    "                         names the frames and its prefix the other files\n"
    "  --format LIST          comma list of png,apng,y4m,mp4,sheet (default png,apng,sheet)\n"
    "  --fps N                frame rate of the animated PNG / Y4M / MP4 (default: model's, 16)\n"
    "  --preview FILE         refresh a latent preview PNG after every step\n"
    "  --dump DIR             write DIR/dump.safetensors with every stage's tensors\n"
    "  --trace DIR            after every step decode the x0 prediction to DIR/step_NNN.png;\n"
    "                         DIR/trace.json (schedule, CFG difference); tools/plot_trace.py plots it\n"
    "  --force                overwrite existing output files\n"
    "  -q, --quiet            no progress line\n"
    "\n"
    "stage options: --steps --cfg --shift --sampler (sampler stage), --threads, --force\n"
    "\n"
    "exit codes: 0 ok, 1 usage, 2 bad model or input file, 3 resources (memory, disk)\n";

int main(int argc, char **argv) {
    tempfiles_init(&temps);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
#ifdef SIGPIPE
    signal(SIGPIPE, SIG_IGN); /* an ffmpeg that exits early is an error, not a kill */
#endif
    if (argc < 2) {
        fputs(HELP, stderr);
        return T2V_EUSAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(HELP, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("t2v %s (gemm: %s)\n", T2V_VERSION, gemm_backend());
        return 0;
    }
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 2, argv + 2, &temps);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 2, argv + 2, &temps);
    if (!strcmp(cmd, "stage")) return cmd_stage(argc - 2, argv + 2, &temps);
    if (!strcmp(cmd, "compare")) return cmd_compare(argc - 2, argv + 2, &temps);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 2, argv + 2, &temps);
    if (cmd[0] == '-') return cmd_generate(argc - 1, argv + 1, &temps);
    return usage_error("unknown command '%s' (generate, tokenize, stage, compare, info)", cmd);
}
