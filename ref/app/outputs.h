/*
 * outputs.h: every file one `t2v generate` writes, named and checked before
 * any work, then written as one set (docs/OUTPUTS.md):
 *
 *   -o OUT    OUT.png (APNG), OUT_%04d.png (frames), OUT_sheet.png, OUT.y4m,
 *             OUT.mp4, OUT.json (sidecar); a pattern with '%' names the
 *             frames and its prefix the other files
 *   --dump D  D/dump.safetensors       --trace D  D/step_%03d.png, D/trace.json
 *
 * The plan refuses, before the model is run: an empty base name or a
 * directory ("-o out/"), two outputs with one name, a directory at an
 * output's name, an existing output without --force, an unwritable
 * directory, and less free disk space than the set needs. The set is then
 * written under temporary names and renamed when all of it is complete
 * (TempFiles' output set); with --force the files of the previous run that
 * this run does not write again (listed by its sidecar) are removed.
 */
#ifndef T2V_OUTPUTS_H
#define T2V_OUTPUTS_H

#include <stdint.h>

#include "t2v.h"
#include "video.h"

/* FMT_C2PA: with FMT_Y4M, the Y4M's signed C2PA sidecar OUT.c2pa (set by
 * generate when it signs; not a --format name). */
enum { FMT_PNG = 1, FMT_APNG = 2, FMT_Y4M = 4, FMT_MP4 = 8, FMT_SHEET = 16, FMT_C2PA = 32 };
enum { OUT_PATH = 1200 };

typedef struct {
    char base[1024];
    char frames[OUT_PATH], apng[OUT_PATH], sheet[OUT_PATH], y4m[OUT_PATH], mp4[OUT_PATH], sidecar[OUT_PATH],
         c2pa[OUT_PATH];
    int formats, nframes;
    int n, cap;              /* every file of the set, in writing order       */
    char (*name)[OUT_PATH];
    const char **what;       /* the option that names each: "-o", "--dump"... */
    double bytes;            /* an upper estimate of the set's size           */
    int nold;                /* files of the previous run to remove (--force) */
    char (*old)[OUT_PATH];
} OutputPlan;

/* The names of -o's files for `formats` (FMT_*) and F frames of H x W. */
int outputs_plan(OutputPlan *p, const char *output, int formats, int F, int H, int W, T2vError *err);
/* Another file of the set (--dump, --trace), with its size estimate. */
int outputs_add(OutputPlan *p, const char *what, const char *path, double bytes, T2vError *err);
/* The refusals above; with force, also reads the previous sidecar. */
int outputs_check(OutputPlan *p, int force, T2vError *err);
/* After the set is committed: removes the previous run's leftovers. */
void outputs_remove_old(const OutputPlan *p);
void outputs_free(OutputPlan *p);

#endif
