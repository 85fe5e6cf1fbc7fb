/*
 * demo_check.h: the objective checks of the embedded demo model (models/demo),
 * shared by test_demo.c (the teacher), test_demo_fewstep.c (the 4-step
 * student and the lime LoRA) and test_demo_check.c (the checks themselves, on
 * clips rendered by tools/demo_data.py). tools/demo_data.py defines the
 * grammar and the palette; its measure() is the Python copy of measure_clip()
 * below.
 *
 * A case is four indices {colour, shape, direction, background}; colours and
 * backgrounds index one palette. Grammar 2 draws any of its first eleven
 * entries in either role; grammar 1 (the committed DiT's) drew red..cyan as
 * objects and black..brown as backgrounds. Which entries a measured colour may
 * be called is a set of palette bits (DEMO_SET_*).
 *
 * Grammar 2's frame wraps (an object leaving one edge comes back at the
 * opposite one), so the object's pixels are first rolled into one piece
 * (centre_mask) before their centroid and shape are taken, and the centroids
 * are made continuous from frame to frame (unwrap). On a frame that does not
 * wrap this changes nothing but stray pixels' positions.
 */
#ifndef T2V_DEMO_CHECK_H
#define T2V_DEMO_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../ref/lib/json.h"
#include "../ref/lib/model.h"
#include "../ref/lib/pipeline.h"
#include "../ref/lib/sampler.h"
#include "harness.h"

static const char *COLOR_NAMES[] = {"red",   "green", "blue",  "yellow", "purple", "orange",
                                    "cyan",  "black", "white", "gray",   "brown",  "lime"};
static const float COLOR_RGB[][3] = {{220, 30, 30},  {30, 190, 40}, {40, 70, 230},   {235, 220, 40},
                                     {150, 40, 200}, {245, 140, 20}, {40, 210, 220},  {0, 0, 0},
                                     {255, 255, 255}, {128, 128, 128}, {110, 70, 30}, {160, 240, 60}};
enum { DEMO_PALETTE = 11, DEMO_LIME = 11, DEMO_BLACK = 7 };
#define DEMO_SET_V1_OBJECTS 0x07Fu     /* red green blue yellow purple orange cyan */
#define DEMO_SET_V1_BACKGROUNDS 0x780u /* black white gray brown */
#define DEMO_SET_ALL 0x7FFu            /* grammar 2: the eleven, in either role */
#define DEMO_SET_LIME (1u << DEMO_LIME)

static const char *SHAPES[] = {"circle", "square", "triangle"};
static const char *DIRS[] = {"moving to the right", "moving to the left", "moving up", "moving down",
                             "staying still"};
/* held out of training (demo_data.HELD_OUT): colour, shape */
static const int HELD_OUT[][2] = {{5, 2}, {6, 0}, {3, 1}};
/* held out of grammar 2's training (demo_data.HELD_OUT_ROLES): object, background */
static const int HELD_OUT_ROLES[][2] = {{8, 2}, {7, 3}, {9, 0}, {10, 6}, {1, 4}, {2, 5}};
/* shape templates (demo_data.SHAPE_AREA, TRIANGLE_DROP): area / r^2, and how
 * far below its centre the triangle's centroid lies, in r */
static const double SHAPE_AREA[] = {3.14159265358979323846, 4.0, 1.8};
#define TRIANGLE_DROP 0.2

enum { S = 64, F = 17 };

static inline float dist2(const float *a, const float *b) {
    float d = 0;
    for (int k = 0; k < 3; k++) d += (a[k] - b[k]) * (a[k] - b[k]);
    return d;
}

/* The palette entry of `set` nearest c (the lowest index wins a tie). */
static inline int nearest(const float *c, unsigned set) {
    int best = -1;
    for (int i = 0; i <= DEMO_LIME; i++)
        if ((set >> i & 1u) && (best < 0 || dist2(c, COLOR_RGB[i]) < dist2(c, COLOR_RGB[best]))) best = i;
    return best;
}

/* demo_data.shape_mask: whether pixel (x, y) (centre at +0.5) lies inside the
 * shape of radius r centred at (cx, cy). */
static inline int in_shape(int shape, double cx, double cy, double r, int x, int y) {
    double px = x + 0.5, py = y + 0.5;
    if (shape == 0) return (px - cx) * (px - cx) + (py - cy) * (py - cy) <= r * r;
    if (shape == 1) return fabs(px - cx) <= r && fabs(py - cy) <= r;
    double tx = cx, ty = cy - r, lx = cx - r, ly = cy + r * 0.8, rx = cx + r, ry = cy + r * 0.8;
    double s1 = (rx - tx) * (py - ty) - (ry - ty) * (px - tx);
    double s2 = (lx - rx) * (py - ry) - (ly - ry) * (px - rx);
    double s3 = (tx - lx) * (py - ly) - (ty - ly) * (px - lx);
    return (s1 >= 0 && s2 >= 0 && s3 >= 0) || (s1 <= 0 && s2 <= 0 && s3 <= 0);
}

/* demo_data.in_wrapped: in_shape on the torus (the frame wraps), for a
 * centre anywhere: the shape at (cx, cy) modulo S and its copies one frame
 * away on either axis. */
static inline double wrap_mod(double v) {
    double m = fmod(v, (double)S);
    return m < 0 ? m + S : m;
}

static inline int in_wrapped(int shape, double cx, double cy, double r, int x, int y) {
    cx = wrap_mod(cx), cy = wrap_mod(cy);
    for (int oy = -S; oy <= S; oy += S)
        for (int ox = -S; ox <= S; ox += S)
            if (in_shape(shape, cx + ox, cy + oy, r, x, y)) return 1;
    return 0;
}

/* demo_data.wrap_shift: the roll that makes an object on the torus
 * contiguous, the middle (start + length / 2, modulo S) of the longest
 * circular run of empty lines (the first from 0 wins a tie); 0 when every
 * line or none is occupied. */
static inline int wrap_shift(const unsigned char occ[S]) {
    int best_len = 0, best = 0;
    for (int i = 0; i < S; i++) {
        if (occ[i] || !occ[(i + S - 1) % S]) continue; /* a run of empty lines starts at i */
        int k = 0;
        while (k < S && !occ[(i + k) % S]) k++;
        if (k > best_len) best_len = k, best = i;
    }
    return best_len ? (best + best_len / 2) % S : 0;
}

/* demo_data.centred: out[y][x] = mask[(y + sy) % S][(x + sx) % S], the
 * object in one piece away from the edges. */
static inline void centre_mask(const unsigned char *mask, unsigned char *out, int *sx, int *sy) {
    unsigned char cols[S] = {0}, rows[S] = {0};
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            if (mask[y * S + x]) cols[x] = rows[y] = 1;
    *sx = wrap_shift(cols), *sy = wrap_shift(rows);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) out[y * S + x] = mask[((y + *sy) % S) * S + (x + *sx) % S];
}

/* demo_data.unwrap: each valid position moved by a multiple of S to lie
 * within S / 2 of the previous valid one. */
static inline void unwrap(double *v, const int *valid, int n) {
    int prev = -1;
    double prev_raw = 0;
    for (int f = 0; f < n; f++) {
        if (!valid[f]) continue;
        double raw = v[f];
        if (prev >= 0) v[f] = v[prev] + wrap_mod(raw - prev_raw + S / 2.0) - S / 2.0;
        prev = f, prev_raw = raw;
    }
}

/* demo_data.classify_shape: the shape whose template, sized to the mask's
 * pixel count and placed on its centroid, has the largest intersection over
 * union with the mask (the first wins a tie); -1 under 12 pixels. */
static inline int classify_shape(const unsigned char *mask) {
    long n = 0;
    double sx = 0, sy = 0;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            if (mask[y * S + x]) sx += x, sy += y, n++;
    if (n < 12) return -1;
    double cx = sx / n + 0.5, cy = sy / n + 0.5, best_iou = -1;
    int best = -1;
    for (int k = 0; k < 3; k++) {
        double r = sqrt(n / SHAPE_AREA[k]), ty = cy - (k == 2 ? TRIANGLE_DROP * r : 0);
        long inter = 0, uni = 0;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int t = in_shape(k, cx, ty, r, x, y), m = mask[y * S + x] != 0;
                inter += t && m, uni += t || m;
            }
        double iou = (double)inter / (double)uni;
        if (iou > best_iou) best = k, best_iou = iou;
    }
    return best;
}

/* (d) one vote per frame with an object; whether the prompted shape
 * `want` has more votes than each other shape. */
static inline int shape_votes(unsigned char mask[F][S * S], int want, int votes[3]) {
    for (int k = 0; k < 3; k++) votes[k] = 0;
    for (int f = 0; f < F; f++) {
        int k = classify_shape(mask[f]);
        if (k >= 0) votes[k]++;
    }
    for (int k = 0; k < 3; k++)
        if (k != want && votes[k] >= votes[want]) return 0;
    return 1;
}

/* (b) the centroid's motion (dx, dy) between the mean of the first and of
 * the last 4 frames with an object; whether it is direction `dir`'s: more
 * than 4 px that way and more than across it, or under 3 px for still. */
static inline int motion_check(const double *cx, const double *cy, const int *seen, int dir, double *dx,
                               double *dy) {
    double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    int n0 = 0, n1 = 0;
    for (int f = 0; f < 4; f++) if (seen[f]) { x0 += cx[f]; y0 += cy[f]; n0++; }
    for (int f = F - 4; f < F; f++) if (seen[f]) { x1 += cx[f]; y1 += cy[f]; n1++; }
    *dx = n0 && n1 ? x1 / n1 - x0 / n0 : 0, *dy = n0 && n1 ? y1 / n1 - y0 / n0 : 0;
    double x = *dx, y = *dy;
    if (!n0 || !n1) return 0;
    switch (dir) {
    case 0: return x > 4 && fabs(y) < x;
    case 1: return -x > 4 && fabs(y) < -x;
    case 2: return -y > 4 && fabs(x) < -y;
    case 3: return y > 4 && fabs(x) < y;
    default: return sqrt(x * x + y * y) < 3;
    }
}

/* What measure_clip found: each check (shape -1 when not asked), the object
 * pixels' mean colour (0..255), the centroid motion, the per-shape votes. */
typedef struct {
    int colour, motion, background, shape;
    float object_rgb[3];
    double dx, dy;
    int votes[3];
} DemoScore;

/* Measures one clip (video [3][F][S][S] in [-1,1]) against a case
 * {colour, shape, direction, background}: (a) the object pixels' mean colour
 * is nearest the prompted one among obj_set, (b) the centroid moves as
 * prompted, (c) the other pixels' mean is nearest the prompted background
 * among bg_set, and for grammar 2 (d) the most frequent per-frame shape is
 * the prompted one, ahead of each other. Grammar 2's frame wraps (the object
 * is rolled into one piece first); grammar 1's does not (its objects leave
 * the frame). Returns 1 when every check of the grammar passes; `why` gets a
 * one-line account. */
static inline int measure_clip(const float *video, const int c[4], unsigned obj_set, unsigned bg_set, int grammar,
                               DemoScore *sc, char *why, size_t wlen) {
    int check_shape = grammar >= 2, wrap = grammar >= 2;
    unsigned char mask[F][S * S], plain[S * S]; /* 68 KiB */
    double cx[F], cy[F], obj[3] = {0, 0, 0}, back[3] = {0, 0, 0};
    long nobj = 0, nback = 0;
    int frames_seen = 0, seen[F];
    for (int f = 0; f < F; f++) {
        long n = 0;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float px[3];
                for (int k = 0; k < 3; k++) px[k] = (video[((size_t)k * F + f) * S * S + y * S + x] + 1) * 127.5f;
                int is_obj = dist2(px, COLOR_RGB[c[3]]) > 60.0f * 60.0f;
                plain[y * S + x] = (unsigned char)is_obj;
                if (is_obj) { n++; for (int k = 0; k < 3; k++) obj[k] += px[k]; nobj++; }
                else { for (int k = 0; k < 3; k++) back[k] += px[k]; nback++; }
            }
        /* the object rolled into one piece (the frame wraps), its centroid
         * taken there and moved back */
        int sx = 0, sy = 0;
        if (wrap) centre_mask(plain, mask[f], &sx, &sy);
        else memcpy(mask[f], plain, sizeof plain);
        double mx = 0, my = 0;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                if (mask[f][y * S + x]) mx += x, my += y;
        cx[f] = n ? wrap_mod(mx / n + sx) : 0, cy[f] = n ? wrap_mod(my / n + sy) : 0, seen[f] = n > 0;
        frames_seen += n >= 12;
    }
    if (wrap) unwrap(cx, seen, F), unwrap(cy, seen, F); /* continuous over frames */
    float bc[3];
    for (int k = 0; k < 3; k++)
        sc->object_rgb[k] = nobj ? (float)(obj[k] / nobj) : 0, bc[k] = nback ? (float)(back[k] / nback) : 0;
    sc->background = nback > S * S * F / 2 && nearest(bc, bg_set) == c[3];
    sc->colour = frames_seen >= F - 2 && nearest(sc->object_rgb, obj_set) == c[0];
    memset(sc->votes, 0, sizeof sc->votes);
    sc->shape = check_shape ? shape_votes(mask, c[1], sc->votes) : -1;
    double dx, dy;
    int move_ok = motion_check(cx, cy, seen, c[2], &dx, &dy);
    sc->motion = move_ok, sc->dx = dx, sc->dy = dy;
    int n = snprintf(why, wlen, "colour %s (%s)  motion dx %+5.1f dy %+5.1f (%s)  background %s (%s)",
                     COLOR_NAMES[nearest(sc->object_rgb, obj_set)], sc->colour ? "ok" : "NO", dx, dy,
                     move_ok ? "ok" : "NO", COLOR_NAMES[nearest(bc, bg_set)], sc->background ? "ok" : "NO");
    if (check_shape && n > 0 && (size_t)n < wlen)
        snprintf(why + n, wlen - (size_t)n, "  shape c/s/t %d/%d/%d (%s)", sc->votes[0], sc->votes[1], sc->votes[2],
                 sc->shape ? "ok" : "NO");
    return sc->colour && sc->motion && sc->background && (!check_shape || sc->shape);
}

static inline void demo_prompt(const int c[4], char *out, size_t len) {
    snprintf(out, len, "a %s %s %s on a %s background", COLOR_NAMES[c[0]], SHAPES[c[1]], DIRS[c[2]],
             COLOR_NAMES[c[3]]);
}

/* Whether colour/shape is one of the pairs held out of training (HELD_OUT). */
static inline int demo_held_pair(int color, int shape) {
    for (int h = 0; h < 3; h++)
        if (HELD_OUT[h][0] == color && HELD_OUT[h][1] == shape) return 1;
    return 0;
}

/* Grammar 1's 24 prompts (the committed model's test) from its training
 * combinations: every colour, shape, direction and background appears
 * (seeds 1000.. were never used in training). */
static inline void demo_cases(int cases[24][4]) {
    int n = 0;
    for (int i = 0; n < 24; i++) {
        int c = i % 7, s = (i / 7 + i) % 3, dir = i % 5, bg = DEMO_BLACK + (i / 5) % 4;
        if (demo_held_pair(c, s)) continue;
        cases[n][0] = c, cases[n][1] = s, cases[n][2] = dir, cases[n][3] = bg;
        n++;
    }
}

/* Whether grammar 2 trains on this object / shape / background. */
static inline int demo_trained2(int color, int shape, int bg) {
    if (color == bg || demo_held_pair(color, shape)) return 0;
    for (int h = 0; h < 6; h++)
        if (HELD_OUT_ROLES[h][0] == color && HELD_OUT_ROLES[h][1] == bg) return 0;
    return 1;
}

/* Grammar 2's 30 prompts: 24 of its training combinations (seeds 1000..),
 * in which each of the eleven colours is an object at least twice and a
 * background at least twice, each shape 8 times and each direction 4-5
 * times; then the 6 held-out object/background pairs, one each (seeds
 * 2000..). demo_data.test_cases2 is the Python copy. */
static inline void demo_cases2(int cases[30][4]) {
    for (int i = 0; i < 24; i++) {
        int c = i % 11, s = (i + 2 * (i / 11)) % 3, bg = (3 * i + 5 + 2 * (i / 11)) % 11;
        while (!demo_trained2(c, s, bg)) {
            if (demo_held_pair(c, s)) s = (s + 1) % 3;
            else bg = (bg + 1) % 11;
        }
        cases[i][0] = c, cases[i][1] = s, cases[i][2] = i % 5, cases[i][3] = bg;
    }
    for (int h = 0; h < 6; h++)
        cases[24 + h][0] = HELD_OUT_ROLES[h][0], cases[24 + h][1] = h % 3, cases[24 + h][2] = (h * 2) % 5,
        cases[24 + h][3] = HELD_OUT_ROLES[h][1];
}

/* The grammar the model was trained on: t2v.json's "demo_grammar" (written
 * by tools/train_demo.py since grammar 2), 1 when absent. */
static inline int demo_model_grammar(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/t2v.json", dir);
    size_t len;
    char *text = h_slurp(path, &len), err[128];
    JsonValue *j = text ? json_parse(text, len, err, sizeof err) : NULL;
    const JsonValue *g = j ? json_get(j, "demo_grammar") : NULL;
    int grammar = g && g->type == JSON_NUMBER ? (int)g->number : 1;
    json_free(j);
    free(text);
    return grammar;
}

/* The demo's own sampling (t2v.json: size, length, UniPC steps, shift,
 * guidance): no windows, no RIFLEx, one process. */
static inline void demo_settings(const Model *m, const char *prompt, uint64_t seed, GenSettings *s) {
    const ModelDefaults *d = &m->defaults;
    memset(s, 0, sizeof *s);
    s->prompt = prompt, s->negative = d->negative_prompt ? d->negative_prompt : "";
    s->width = d->width, s->height = d->height, s->frames = d->frames, s->seed = seed;
    s->sampling.sampler = SAMPLER_UNIPC, s->sampling.steps = d->steps;
    s->sampling.shift = d->shift, s->sampling.cfg = d->cfg;
    s->sampling.cfg_low = d->cfg_low, s->sampling.boundary = d->boundary;
}

/* Opens models/demo, reporting a failure as a failed check. */
static inline int demo_open(Model *m) {
    T2vError e = {0, {0}};
    if (model_open(m, "models/demo", MODEL_NEED_ALL, &e)) {
        h_report(0, "load models/demo: %s", e.msg);
        return 1;
    }
    return 0;
}

#endif
