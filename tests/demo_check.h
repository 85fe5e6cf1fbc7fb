/*
 * demo_check.h: the objective checks of the embedded demo model (models/demo),
 * shared by test_demo.c (the teacher) and test_demo_fewstep.c (the 4-step
 * student and the lime LoRA). tools/demo_data.py defines the grammar and the
 * palette; its measure() is the Python copy of measure_clip() below.
 */
#ifndef T2V_DEMO_CHECK_H
#define T2V_DEMO_CHECK_H

#include <math.h>
#include <stdio.h>

/* The demo's object colours, then the words it was never trained on
 * (demo_data.EXTRA_COLORS: lime, for the LoRA). */
static const char *COLOR_NAMES[] = {"red", "green", "blue", "yellow", "purple", "orange", "cyan", "lime"};
static const float COLOR_RGB[][3] = {{220, 30, 30},  {30, 190, 40},  {40, 70, 230}, {235, 220, 40},
                                     {150, 40, 200}, {245, 140, 20}, {40, 210, 220}, {160, 240, 60}};
enum { DEMO_COLORS = 7, DEMO_LIME = 7 };
static const char *BG_NAMES[] = {"black", "white", "gray", "brown"};
static const float BG_RGB[][3] = {{0, 0, 0}, {255, 255, 255}, {128, 128, 128}, {110, 70, 30}};
static const char *SHAPES[] = {"circle", "square", "triangle"};
static const char *DIRS[] = {"moving to the right", "moving to the left", "moving up", "moving down",
                             "staying still"};
/* held out of training (demo_data.HELD_OUT): colour index, shape index */
static const int HELD_OUT[][2] = {{5, 2}, {6, 0}, {3, 1}};

enum { S = 64, F = 17 };

static float dist2(const float *a, const float *b) {
    float d = 0;
    for (int k = 0; k < 3; k++) d += (a[k] - b[k]) * (a[k] - b[k]);
    return d;
}

static int nearest(const float *c, const float (*pal)[3], int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (dist2(c, pal[i]) < dist2(c, pal[best])) best = i;
    return best;
}

/* Measures one clip (video [3][F][S][S] in [-1,1]) against the prompt's
 * colour (nearest among the first ncolors of COLOR_RGB), direction and
 * background; returns 1 when all three pass. When not NULL: oc_out = the
 * object pixels' mean colour (0..255), colour_out = whether the colour check
 * alone passed. */
static int measure_clip(const float *video, int color, int ncolors, int dir, int bg, float *oc_out,
                        int *colour_out, char *why, size_t wlen) {
    double cx[F], cy[F], obj[3] = {0, 0, 0}, back[3] = {0, 0, 0};
    long nobj = 0, nback = 0;
    int frames_seen = 0;
    for (int f = 0; f < F; f++) {
        double sx = 0, sy = 0;
        long n = 0;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float px[3];
                for (int k = 0; k < 3; k++) px[k] = (video[((size_t)k * F + f) * S * S + y * S + x] + 1) * 127.5f;
                int is_obj = dist2(px, BG_RGB[bg]) > 60.0f * 60.0f;
                if (is_obj) { sx += x; sy += y; n++; for (int k = 0; k < 3; k++) obj[k] += px[k]; nobj++; }
                else { for (int k = 0; k < 3; k++) back[k] += px[k]; nback++; }
            }
        cx[f] = n ? sx / n : -1, cy[f] = n ? sy / n : -1;
        frames_seen += n >= 12;
    }
    float oc[3], bc[3];
    for (int k = 0; k < 3; k++) oc[k] = nobj ? (float)(obj[k] / nobj) : 0, bc[k] = nback ? (float)(back[k] / nback) : 0;
    if (oc_out) for (int k = 0; k < 3; k++) oc_out[k] = oc[k];
    /* (c) background: the non-object pixels' mean is nearest the prompted one.
     * Measured against all pixels when no object was found. */
    int bg_ok = nback > S * S * F / 2 && nearest(bc, BG_RGB, 4) == bg;
    int color_ok = frames_seen >= F - 2 && nearest(oc, COLOR_RGB, ncolors) == color;
    if (colour_out) *colour_out = color_ok;
    /* (b) motion between the mean centroid of the first and last 4 frames */
    double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    int n0 = 0, n1 = 0;
    for (int f = 0; f < 4; f++) if (cx[f] >= 0) { x0 += cx[f]; y0 += cy[f]; n0++; }
    for (int f = F - 4; f < F; f++) if (cx[f] >= 0) { x1 += cx[f]; y1 += cy[f]; n1++; }
    double dx = n0 && n1 ? x1 / n1 - x0 / n0 : 0, dy = n0 && n1 ? y1 / n1 - y0 / n0 : 0;
    int move_ok = n0 && n1;
    switch (dir) {
    case 0: move_ok &= dx > 4 && fabs(dy) < dx; break;
    case 1: move_ok &= -dx > 4 && fabs(dy) < -dx; break;
    case 2: move_ok &= -dy > 4 && fabs(dx) < -dy; break;
    case 3: move_ok &= dy > 4 && fabs(dx) < dy; break;
    default: move_ok &= sqrt(dx * dx + dy * dy) < 3; break;
    }
    snprintf(why, wlen, "colour %s (%s)  motion dx %+5.1f dy %+5.1f (%s)  background %s (%s)",
             COLOR_NAMES[nearest(oc, COLOR_RGB, ncolors)], color_ok ? "ok" : "NO", dx, dy, move_ok ? "ok" : "NO",
             BG_NAMES[nearest(bc, BG_RGB, 4)], bg_ok ? "ok" : "NO");
    return color_ok && move_ok && bg_ok;
}

/* The objective test's 24 prompts (colour, shape, direction, background)
 * from the training combinations: every colour, shape, direction and
 * background appears (seeds 1000.. were never used in training). */
static void demo_cases(int cases[24][4]) {
    int n = 0;
    for (int i = 0; n < 24; i++) {
        int c = i % 7, s = (i / 7 + i) % 3, dir = i % 5, bg = (i / 5) % 4, skip = 0;
        for (int h = 0; h < 3; h++) skip |= HELD_OUT[h][0] == c && HELD_OUT[h][1] == s;
        if (skip) continue;
        cases[n][0] = c, cases[n][1] = s, cases[n][2] = dir, cases[n][3] = bg;
        n++;
    }
}

#endif
