/* preview_compat.c: transitional. The old latent-input video_write_preview
 * (declared in video.h) for cmd_generate.c, until it computes the RGB with
 * vae_preview_rgb and writes it with video_write_preview_rgb itself; then
 * this file and its block in video.h go. */
#include <stdlib.h>

#include "t2v.h"
#include "video.h"

int video_write_preview(const char *path, const float *latent, int T, int h, int w, int frame,
                        const LatentRgbFactors *f, int scale, int force, TempFiles *tf, T2vError *err) {
    if (!f) f = &vae_preview_wan21;
    uint8_t *rgb = (uint8_t *)t2v_malloc((size_t)h * w * 3 + 1, "latent preview", err);
    if (!rgb) return T2V_ERESOURCE;
    int rc = vae_preview_rgb(f, latent, f->channels, T, h, w, frame, rgb, err);
    if (!rc) rc = video_write_preview_rgb(path, rgb, h, w, scale, force, tf, err);
    free(rgb);
    return rc;
}
