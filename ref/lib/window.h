/*
 * window.h: sliding context windows over the latent's frames, for clips
 * longer than the length a model was trained on (docs/ARCHITECTURE.md,
 * "Long video").
 *
 * Each DiT pass runs on windows of `frames` latent frames; the velocities
 * are blended over the overlaps with linear ramps and divided by the summed
 * weights. Two schedules, as the ComfyUI/AnimateDiff context options define
 * them (stride 1, open ends):
 *
 *   static   windows start at 0, frames - overlap, ...; the last one moved
 *            back to end at the last frame. The same at every step.
 *   uniform  the starts are offset by round(T * ordered_halving(step)), so
 *            the seams move from step to step; windows wrap past the clip's
 *            end and are then moved to end at its last frame (a window
 *            starting at the frame they wrapped to is inserted when the next
 *            one lacks it); repeated windows are dropped.
 *
 * A third schedule does not blend:
 *
 *   chain    the static schedule's windows, sampled one after another, each
 *            through every step (pipeline_sample_chain): the frames a window
 *            shares with the one before (its first `overlap`, the last
 *            window more) are held as that window left them, clean, their
 *            tokens at t = 0, as Wan2.2 TI2V holds its image's latent frame.
 *            Each window continues the clip so far instead of agreeing with
 *            its neighbours step by step; a model must be trained to
 *            continue held frames (docs/ARCHITECTURE.md, "Long video").
 *
 * Weights: 1 inside the window; over its first `overlap` frames the ramp
 * linspace(0, 1, overlap) unless it starts at frame 0, over its last
 * `overlap` frames linspace(1, 0, overlap) unless it ends at the clip's last
 * frame (written last where the two meet). A frame whose weights sum to 0
 * (the uniform schedule can place a window's zero-weight first frame where
 * no other window covers it) takes the plain mean of the windows holding it.
 */
#ifndef T2V_WINDOW_H
#define T2V_WINDOW_H

typedef enum { WINDOW_UNIFORM, WINDOW_STATIC, WINDOW_CHAIN } WindowSchedule;

typedef struct {
    int frames;  /* window length in latent frames; 0: off                 */
    int overlap; /* latent frames shared by neighbouring windows, < frames */
    WindowSchedule schedule;
} WindowSettings;

/* A window of `frames` video frames overlapping by `overlap`, in latent
 * frames: the VAE keeps the first frame and packs scale_t frames into each
 * later one, so 1 + (frames - 1) / scale_t and overlap / scale_t. frames
 * <= 0: windows off. */
WindowSettings window_from_video(int frames, int overlap, int scale_t, WindowSchedule schedule);
/* Whether a clip of T latent frames is sampled in windows. */
int window_active(const WindowSettings *ws, int T);
/* Whether it is sampled with the chain schedule (window_active, and chain):
 * window after window (pipeline_sample_chain), not one blended pass. */
int window_chained(const WindowSettings *ws, int T);
/* Most windows any step can have (for sizing arrays). */
int window_max_count(const WindowSettings *ws, int T);
/* The first frame of each window of sampling step `step` (each window is
 * [start, start + frames)), in the order the schedule makes them; returns
 * their count. `starts` holds window_max_count entries. One window starting
 * at 0 when !window_active. */
int window_starts(const WindowSettings *ws, int T, int step, int *starts);
/* DiT passes of one guidance branch over `steps` sampling steps: the sum of
 * every step's window count (steps when !window_active; the chain schedule
 * runs each window through every step, the same count); -1 out of memory. */
long window_passes(const WindowSettings *ws, int T, int steps);
/* The blend weight of each of the window's frames (ws->frames floats; the
 * chain schedule does not blend). */
void window_weights(const WindowSettings *ws, int T, int start, float *w);

const char *window_schedule_name(WindowSchedule s);
int window_schedule_parse(const char *name, WindowSchedule *out); /* 0 ok, -1 unknown */
/* "uniform, static or chain": the names window_schedule_parse takes. */
#define WINDOW_SCHEDULE_NAMES "uniform, static or chain"

#endif
