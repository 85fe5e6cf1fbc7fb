/*
 * window.c: sliding context windows (window.h; docs/ARCHITECTURE.md,
 * "Long video").
 */
#include "window.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

WindowSettings window_from_video(int frames, int overlap, int scale_t, WindowSchedule schedule) {
    WindowSettings ws = {0, 0, schedule};
    if (frames > 0) ws.frames = (frames - 1) / scale_t + 1, ws.overlap = overlap / scale_t;
    return ws;
}

int window_active(const WindowSettings *ws, int T) {
    return ws && ws->frames > 0 && T > ws->frames;
}

int window_chained(const WindowSettings *ws, int T) {
    return window_active(ws, T) && ws->schedule == WINDOW_CHAIN;
}

int window_max_count(const WindowSettings *ws, int T) {
    (void)ws;
    return 2 * T + 2; /* at most T windows from the stride, one inserted per wrap */
}

/* The 64 bits of step reversed, as a fraction of 2^64: bit b of step is
 * worth 2^-(b+1). Exact for every int. */
static double ordered_halving(unsigned step) {
    double v = 0.0, p = 0.5;
    for (int b = 0; b < 32; b++, p *= 0.5)
        if (step >> b & 1u) v += p;
    return v;
}

/* Python's round(): to nearest, ties to even. */
static int round_half_even(double x) {
    double f = floor(x), r = x - f;
    if (r > 0.5 || (r == 0.5 && fmod(f, 2.0) != 0.0)) f += 1.0;
    return (int)f;
}

static int static_starts(int T, int frames, int overlap, int *starts) {
    int n = 0;
    for (int s = 0; s < T; s += frames - overlap) {
        if (s + frames >= T) { starts[n++] = T - frames; break; }
        starts[n++] = s;
    }
    return n;
}

/* The uniform schedule, built in place in w (window_max_count entries):
 * while a window waits its turn, w[i] >= 0 is its first frame and
 * -(first + 1) marks one that runs past the clip's last frame back to frame
 * 0 (the only frame a stride-1 window can wrap to). Kept windows are written
 * to w[0..out), out <= i, so nothing waiting is overwritten. */
static int has_frame0(int v) { return v <= 0; }

static int uniform_starts(int T, int frames, int overlap, int step, int *w) {
    int pad = round_half_even(T * ordered_halving((unsigned)step)), n = 0;
    for (int j = pad; j < T + pad - overlap; j += frames - overlap)
        w[n++] = j % T + frames > T ? -(j % T + 1) : j % T;
    int out = 0;
    for (int i = 0; i < n; i++) {
        int s = w[i];
        if (s < 0) { /* moved to end at the last frame */
            s = T - frames;
            if (!has_frame0(w[(i + 1) % n])) { /* insert [0, frames) after it */
                memmove(w + i + 2, w + i + 1, sizeof(int) * (size_t)(n - i - 1));
                w[i + 1] = 0;
                n++;
            }
        }
        int repeated = 0;
        for (int p = 0; p < out && !repeated; p++) repeated = w[p] == s;
        if (!repeated) w[out++] = s;
    }
    return out;
}

int window_starts(const WindowSettings *ws, int T, int step, int *starts) {
    if (!window_active(ws, T)) { starts[0] = 0; return 1; }
    if (ws->schedule != WINDOW_UNIFORM) return static_starts(T, ws->frames, ws->overlap, starts);
    return uniform_starts(T, ws->frames, ws->overlap, step, starts);
}

long window_passes(const WindowSettings *ws, int T, int steps) {
    if (!window_active(ws, T)) return steps;
    int *starts = (int *)malloc(sizeof(int) * (size_t)window_max_count(ws, T));
    if (!starts) return -1;
    long n = 0;
    for (int i = 0; i < steps; i++) n += window_starts(ws, T, i, starts);
    free(starts);
    return n;
}

void window_weights(const WindowSettings *ws, int T, int start, float *w) {
    int F = ws->frames, o = ws->overlap;
    for (int i = 0; i < F; i++) w[i] = 1.0f;
    if (o <= 0 || F >= T) return;
    if (start > 0) /* linspace(0, 1, o) */
        for (int i = 0; i < o; i++) w[i] = o == 1 ? 0.0f : (float)((double)i / (o - 1));
    if (start + F < T) /* linspace(1, 0, o) */
        for (int i = 0; i < o; i++) w[F - o + i] = o == 1 ? 1.0f : (float)(1.0 - (double)i / (o - 1));
}

const char *window_schedule_name(WindowSchedule s) {
    return s == WINDOW_STATIC ? "static" : s == WINDOW_CHAIN ? "chain" : "uniform";
}

int window_schedule_parse(const char *name, WindowSchedule *out) {
    if (!strcmp(name, "uniform")) { *out = WINDOW_UNIFORM; return 0; }
    if (!strcmp(name, "static")) { *out = WINDOW_STATIC; return 0; }
    if (!strcmp(name, "chain")) { *out = WINDOW_CHAIN; return 0; }
    return -1;
}
