/*
 * video.h: the last stage. Turns the VAE's float video into uint8 frames and
 * writes them: PNG frames, an animated PNG (APNG), Y4M, MP4 (by piping Y4M to
 * `ffmpeg` when it is on PATH), a contact sheet, and a preview picture.
 * Every output carries provenance (prompt, settings, model hashes, tool
 * version, time) and is marked as AI-generated (IPTC digitalSourceType
 * trainedAlgorithmicMedia), as plain metadata and, when Provenance.signer
 * is set, as a signed C2PA manifest (c2pa.h) embedded in every PNG and MP4;
 * a JSON sidecar shaped like a C2PA actions assertion (itself unsigned)
 * lists the SHA-256 of every output. docs/OUTPUTS.md describes the formats
 * and fields.
 *
 * Frames are uint8 RGB, layout [F][H][W][3] (row-major, no padding).
 *
 * Safe writing: every writer writes NAME.t2v-tmp, then renames it over NAME
 * when complete. With force == 0 an existing NAME is refused (T2V_EUSAGE, the
 * message names the path) and left byte for byte as it was. Temporary names
 * are registered in a TempFiles that the caller owns, so a SIGINT handler can
 * delete them (tempfiles_remove_all): Ctrl-C leaves no half-written file.
 * The MP4 writer's ffmpeg is registered there too, and stopped and waited
 * for before any temporary is removed, on an error and on a signal alike:
 * no file can appear after the cleanup.
 */
#ifndef T2V_VIDEO_H
#define T2V_VIDEO_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "c2pa.h"
#include "t2v.h"

/* ----------------------------------------------------------------------------
 * Temporary files in flight. The CLI owns one (static storage in main.c, set
 * up with tempfiles_init) and passes it to every writer; its SIGINT handler
 * calls tempfiles_remove_all(&tf) and then exits. Slots are fixed arrays, so
 * registering and removing never allocates and the handler only reads
 * completed names (a slot's `used` flag is set after its name is written and
 * cleared before it is reused). tf may be NULL everywhere: then temporaries
 * are still used and renamed, only nobody can clean them up on a signal. */
#define T2V_TEMP_MAX 8
#define T2V_TEMP_PATH 4096
#define T2V_TEMP_SUFFIX ".t2v-tmp"

typedef struct {
    volatile sig_atomic_t used[T2V_TEMP_MAX];
    char path[T2V_TEMP_MAX][T2V_TEMP_PATH];
    /* An output set (tempfiles_hold): completed temporaries are kept here,
     * not renamed, until tempfiles_commit renames them all; on failure
     * tempfiles_discard (or, on a signal, tempfiles_remove_all) removes them. */
    int hold, cap_held;
    char **held;                          /* cap_held temporary names */
    volatile sig_atomic_t nheld;          /* set after held[nheld] is complete */
    /* Fault injection for tests (docs/OUTPUTS.md): the environment's
     * T2V_FAULT_WRITE=N fails the N-th output write as a full disk would,
     * T2V_FAULT_SIGNAL=N raises SIGINT at it (0: off). */
    long fault_write, fault_signal;
    /* T2V_FAULT_SIGN=N: the N-th C2PA signing fails (as a bad key would). */
    long fault_sign;
    /* The MP4 writer's ffmpeg (one at a time): its pid while it runs (0:
     * none), `starting` while it is being started (its pid not known yet),
     * and a signal that came then (`pending`), handled once it is known. */
    volatile sig_atomic_t child, starting, pending;
} TempFiles;

/* Also reads the fault-injection variables. */
void tempfiles_init(TempFiles *tf);
/* Returns the slot index, or -1 when all slots are taken (then the file is
 * still written, just not registered). */
int tempfiles_add(TempFiles *tf, const char *path);
void tempfiles_drop(TempFiles *tf, int slot);
/* Starts an output set of at most n files: from now on every output is kept
 * under its temporary name NAME.t2v-tmp when complete. */
int tempfiles_hold(TempFiles *tf, int n, T2vError *err);
/* Adds a complete temporary written by other means (st_write) to the set. */
int tempfiles_keep(TempFiles *tf, const char *tmp_path, T2vError *err);
/* The name a complete output of the set can be read at now: its temporary
 * while the set is held, else the name itself (buf holds T2V_TEMP_PATH). */
const char *tempfiles_current(const TempFiles *tf, const char *final, char *buf);
/* Renames every kept temporary over its final name and ends the set. */
int tempfiles_commit(TempFiles *tf, T2vError *err);
/* Removes every kept temporary and ends the set. */
void tempfiles_discard(TempFiles *tf);
/* Stops the registered ffmpeg (SIGKILL) and waits until it has exited, then
 * deletes every registered and kept temporary (remove(); on POSIX that is
 * unlink). Meant for a signal handler: no allocation, no stdio. */
void tempfiles_remove_all(TempFiles *tf);
/* For a signal handler, before tempfiles_remove_all: 1 when an ffmpeg is
 * being started (its pid not known yet, so it could not be stopped); then
 * the signal is kept and raised again as soon as the pid is registered, and
 * the handler returns at once. 0 otherwise. */
int tempfiles_defer_signal(TempFiles *tf, int sig);

/* ----------------------------------------------------------------------------
 * Provenance: ordered key/value pairs plus the model files and their SHA-256.
 * Values are UTF-8 (invalid bytes become U+FFFD when set). Numbers are kept
 * as text and written unquoted in JSON. prov_init sets "t2v_version" and
 * "created" (UTC, ISO 8601: now, or $SOURCE_DATE_EPOCH's time when set; an
 * invalid one is T2V_EUSAGE); prov_set replaces an existing key (tests set a
 * fixed "created"). Conventional keys, in the order the CLI should add them:
 * prompt, negative_prompt, seed, steps, cfg, shift, sampler, width, height,
 * frames, fps, model. */
#define PROV_MAX_FIELDS 32
#define PROV_MAX_MODELS 8

typedef struct {
    int n;
    char key[PROV_MAX_FIELDS][32];
    char *value[PROV_MAX_FIELDS]; /* malloc'ed UTF-8 */
    int is_number[PROV_MAX_FIELDS];
    int n_models;
    char model_file[PROV_MAX_MODELS][256]; /* base name, for the record */
    char model_sha256[PROV_MAX_MODELS][65];
    /* Content Credentials (c2pa.h): when set, every PNG, APNG and MP4 writer
     * embeds a signed C2PA manifest before the file is complete (a failed
     * signing fails the write); NULL: unsigned (--no-sign). Not owned. */
    const C2paSigner *signer;
} Provenance;

int prov_init(Provenance *p, T2vError *err);
void prov_free(Provenance *p);
int prov_set(Provenance *p, const char *key, const char *value, T2vError *err);
/* A number, formatted with printf: prov_set_number(p, err, "seed", "%llu", s). */
int prov_set_number(Provenance *p, T2vError *err, const char *key, const char *fmt, ...)
    T2V_PRINTF(4, 5);
const char *prov_get(const Provenance *p, const char *key); /* NULL if absent */
/* Hashes the file (SHA-256, streamed) and records its base name and digest. */
int prov_add_model_file(Provenance *p, const char *path, T2vError *err);
/* Records a digest computed elsewhere (e.g. cached). */
int prov_add_model_hash(Provenance *p, const char *name, const char *sha256_hex, T2vError *err);

/* The parameters as one JSON object (the iTXt text, and "parameters" in the
 * sidecar). indent > 0 pretty-prints. Caller frees. NULL on out of memory. */
char *prov_params_json(const Provenance *p, int indent);
/* The XMP packet (RDF/XML, UTF-8) with Iptc4xmpExt:DigitalSourceType. */
char *prov_xmp(const Provenance *p);
/* The parameters as the CBOR map of the C2PA assertion C2PA_PARAMS_LABEL:
 * every field (numbers as integers or float64), then "models": [{file,
 * sha256}]. 0, or -1 out of memory. */
int prov_c2pa_params(const Provenance *p, ByteBuf *b);
/* A C2PA sidecar (c2pa.h): the manifest store for the complete output
 * `asset` (read where it is now: its temporary while a set is held),
 * written to path like every output. Needs p->signer. */
int video_write_c2pa_sidecar(const char *path, const char *asset, const Provenance *p, int force,
                             TempFiles *tf, T2vError *err);

#define T2V_DIGITAL_SOURCE_TYPE "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
#define T2V_PNG_KEYWORD "t2v-parameters" /* iTXt keyword of the parameters JSON */

/* JSON sidecar shaped like a C2PA actions assertion (c2pa.created,
 * digitalSourceType, softwareAgent, parameters) plus the SHA-256 of each
 * file in outputs[0..n_outputs) (hashed now: write the sidecar last), marked
 * unsigned. Written atomically like every output. */
int provenance_sidecar(const char *path, const Provenance *p, const char *const *outputs,
                       int n_outputs, int force, TempFiles *tf, T2vError *err);

/* A text file (JSON), written atomically like every output. */
int video_write_text(const char *path, const char *text, int force, TempFiles *tf, T2vError *err);

/* Reads every tEXt and uncompressed iTXt chunk of a PNG or APNG (all CRCs
 * checked) into one malloc'ed string: for each chunk "[KEYWORD]\n<text>\n"
 * (compressed ones are listed, not inflated). Used by
 * `t2v info FILE.png`. T2V_EINPUT for a file that is not a valid PNG or has
 * no text chunk; the message names the file, the chunk and the offset. */
int video_read_provenance(const char *png_path, char **text, T2vError *err);

/* ----------------------------------------------------------------------------
 * Float video to uint8, exactly as the official saving code (docs/MODEL.md
 * 0.8; torchvision make_grid(normalize=True, value_range=(-1,1)) then
 * mul(255).type(uint8)): clamp to [-1,1], (x+1)/2, *255, truncate toward
 * zero, all in fp32. NaN becomes 0.
 *   video [3][F][H][W] -> rgb [F][H][W][3]
 * video_to_u8_frames converts frames first .. first+n-1 of the F only, into
 * rgb [n][H][W][3]. */
void video_to_u8(const float *video, int F, int H, int W, uint8_t *rgb);
void video_to_u8_frames(const float *video, int F, int first, int n, int H, int W, uint8_t *rgb);

/* ----------------------------------------------------------------------------
 * Writers. rgb is [F][H][W][3]. prov may be NULL (no metadata). Return T2V_OK,
 * T2V_EUSAGE (bad pattern or arguments, or existing output without force),
 * T2V_ERESOURCE (cannot write, out of memory, ffmpeg missing or failing). */

/* One PNG per frame. pattern holds at most one %d-style conversion
 * ("out_%04d.png": '%', optional '0', optional width, 'd'; "%%" is a literal
 * '%'), frames numbered from 0; without one, F must be 1. All final names are
 * checked before anything is written. video_frame_name gives frame i's name. */
int video_write_png_frames(const char *pattern, const uint8_t *rgb, int F, int H, int W,
                           const Provenance *prov, int force, TempFiles *tf, T2vError *err);
int video_frame_name(const char *pattern, int index, char *out, size_t outlen, T2vError *err);

/* Animated PNG: acTL (F frames, loop forever), fcTL per frame with delay
 * 1/fps s, the first frame in IDAT (so viewers without APNG show frame 0),
 * the others in fdAT; sequence numbers 0,1,2,... across fcTL and fdAT. */
int video_write_apng(const char *path, const uint8_t *rgb, int F, int H, int W, int fps,
                     const Provenance *prov, int force, TempFiles *tf, T2vError *err);

/* YUV4MPEG2, 4:4:4 ('C444'), BT.601 matrix, limited ("TV") range:
 *   Y  = 16  + 219 * ( 0.299    R + 0.587    G + 0.114    B)
 *   Cb = 128 + 224 * (-0.168736 R - 0.331264 G + 0.5      B)
 *   Cr = 128 + 224 * ( 0.5      R - 0.418688 G - 0.081312 B)
 * with R,G,B = value/255, rounded to nearest. Header:
 * "YUV4MPEG2 W<W> H<H> F<fps>:1 Ip A1:1 C444 XCOLORRANGE=LIMITED\n", then per
 * frame "FRAME\n" and the Y, Cb, Cr planes. */
int video_write_y4m(const char *path, const uint8_t *rgb, int F, int H, int W, int fps,
                    int force, TempFiles *tf, T2vError *err);
void video_rgb_to_ycbcr(const uint8_t rgb[3], uint8_t ycc[3]);

/* MP4 (H.264, yuv420p, crf 10 ~ the official imageio quality=8) by piping
 * Y4M into `ffmpeg` found on PATH; the parameters JSON goes into the MP4
 * "comment" tag. Without ffmpeg returns T2V_ERESOURCE with a note saying how
 * to convert the Y4M by hand, and writes nothing. Needs even W and H. */
int video_write_mp4(const char *path, const uint8_t *rgb, int F, int H, int W, int fps,
                    const Provenance *prov, int force, TempFiles *tf, T2vError *err);
/* 1 and the full path in out (if not NULL) when an executable `ffmpeg` is on
 * PATH; 0 otherwise. */
int video_find_ffmpeg(char *out, size_t outlen);

/* Contact sheet: n frames evenly spaced over [0, F-1] (first and last
 * included; n is clamped to [1, F]), cols per row (0: min(n, 4)), a 4-pixel
 * dark grey (32,32,32) gap between and around tiles. */
int video_write_sheet(const char *path, const uint8_t *rgb, int F, int H, int W, int n,
                      int cols, const Provenance *prov, int force, TempFiles *tf,
                      T2vError *err);
/* The frame index shown in tile k of n: k*(F-1)/(n-1) rounded down (0 if n==1). */
int video_sheet_frame(int k, int n, int F);

/* ----------------------------------------------------------------------------
 * Writers fed frame by frame, as the VAE decodes (docs/OUTPUTS.md, Streamed
 * writing): open before the first frame, append frames in order, close after
 * the last. What each holds is a frame or a few (the contact sheet: its
 * canvas), never the clip. The whole-clip writers above are exactly open,
 * one append of all F frames, close, so both give the same bytes.
 *   open   checks the size, fps and names as the whole-clip writer does and
 *          starts the file (MP4: starts ffmpeg); *w is NULL on failure
 *   append rgb [n][H][W][3], the next n frames; on failure call abort
 *   close  checks that all F frames came, finishes, signs (prov->signer)
 *          and commits the file as the whole-clip writer does; frees w
 *   abort  removes what was started (no temporary is left); frees w */
typedef enum { VIDEO_PNG_FRAMES, VIDEO_APNG, VIDEO_Y4M, VIDEO_MP4, VIDEO_SHEET } VideoKind;

typedef struct {
    VideoKind kind;
    const char *path;     /* the file; VIDEO_PNG_FRAMES: the pattern (must outlive the writer) */
    int F, H, W, fps;     /* the whole clip; fps: APNG, Y4M, MP4 */
    int sheet_n, sheet_cols; /* VIDEO_SHEET: tiles and tiles per row, as video_write_sheet */
    const Provenance *prov;  /* may be NULL; Y4M has none */
    int force;
} VideoSpec;

typedef struct VideoWriter VideoWriter;

int video_writer_open(VideoWriter **w, const VideoSpec *spec, TempFiles *tf, T2vError *err);
int video_writer_append(VideoWriter *w, const uint8_t *rgb, int n, T2vError *err);
int video_writer_close(VideoWriter *w, T2vError *err);
void video_writer_abort(VideoWriter *w);

/* ----------------------------------------------------------------------------
 * Preview picture: rgb [h][w][3] (e.g. a latent frame mapped by
 * vae_preview_rgb) written as a PNG, each pixel scaled up `scale` times
 * (nearest; the VAE's scale_s gives the output size), without provenance.
 * A preview is refreshed in place, so the CLI passes its --force on the
 * first call and 1 afterwards. */
int video_write_preview_rgb(const char *path, const uint8_t *rgb, int h, int w, int scale, int force,
                            TempFiles *tf, T2vError *err);

/* Low level, exposed for tests and `t2v info`: CRC-32 of PNG chunks. */
uint32_t png_crc32(const unsigned char *p, size_t n);

#endif
