/*
 * image.h: the still of `generate -i` (Wan2.2 TI2V image-to-video), prepared
 * as the official textimage2video.py prepares it: the output size is the
 * best multiple of 32 (the VAE's 16 x the DiT's patch 2) under the pixel
 * area max_area that keeps the image's aspect ratio (best_output_size); the
 * image is scaled by the larger of the two ratios with a Lanczos filter
 * (PIL's Image.LANCZOS: support 3, widened when shrinking; horizontal pass,
 * then vertical, each rounded to 8 bits), center-cropped to that size and
 * mapped to [-1, 1].
 */
#ifndef T2V_IMAGE_H
#define T2V_IMAGE_H

#include "t2v.h"

/* best_output_size(w, h, dw, dh, area) of wan/utils/utils.py. */
void image_best_size(int w, int h, int dw, int dh, long long area, int *ow, int *oh);

/* Loads PNG/JPEG `path` and prepares it for an area of max_area pixels:
 * *out [3, *H, *W] in [-1, 1] (caller frees). Errors name the file. */
int image_load_i2v(const char *path, long long max_area, int *W, int *H, float **out, T2vError *err);

/* Loads PNG/JPEG `path` as 8-bit RGB *rgb [h][w][3] (caller frees with free). */
int image_load_rgb(const char *path, int *w, int *h, unsigned char **rgb, T2vError *err);

/* The Lanczos resize alone: rgb [h][w][3] -> out [H][W][3] (8 bits). */
int image_resize_lanczos(const unsigned char *rgb, int w, int h, unsigned char *out, int W, int H, T2vError *err);

#endif
