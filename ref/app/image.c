/* image.c: see image.h. */
#include "image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* stb_image's functions are static here (tests link their own copy); the
 * ones this file does not call are reported at the end of the file, so that
 * warning stays off for all of it */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

void image_best_size(int w, int h, int dw, int dh, long long area, int *ow, int *oh) {
    double ratio = (double)w / h, fw = sqrt((double)area * ratio), fh = (double)area / fw;
    /* width first, then height first; the one whose ratio is closer wins */
    int w1 = (int)(floor(fw / dw) * dw), h1 = w1 > 0 ? (int)(floor((double)area / w1 / dh) * dh) : 0;
    int h2 = (int)(floor(fh / dh) * dh), w2 = h2 > 0 ? (int)(floor((double)area / h2 / dw) * dw) : 0;
    double r1 = h1 > 0 ? (double)w1 / h1 : 0, r2 = h2 > 0 ? (double)w2 / h2 : 0;
    double e1 = r1 > 0 ? fmax(ratio / r1, r1 / ratio) : INFINITY, e2 = r2 > 0 ? fmax(ratio / r2, r2 / ratio) : INFINITY;
    if (e1 < e2) *ow = w1, *oh = h1;
    else *ow = w2, *oh = h2;
}

static double sinc(double x) {
    if (x == 0.0) return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

static double lanczos3(double x) { return x > -3.0 && x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0; }

/* One pass along an axis of n_in samples to n_out (PIL's ImagingResample
 * coefficients): src/dst step between samples of a line (in units of 3
 * bytes), lines of them, line stride in and out. */
static int resample_pass(const unsigned char *in, int n_in, long long in_step, long long in_line, unsigned char *out,
                         int n_out, long long out_step, long long out_line, int lines, T2vError *err) {
    double scale = (double)n_in / n_out, fs = scale > 1.0 ? scale : 1.0, support = 3.0 * fs;
    int kmax = (int)ceil(support) * 2 + 1;
    double *k = (double *)t2v_malloc(sizeof(double) * (size_t)kmax, "resize coefficients", err);
    if (!k) return T2V_ERESOURCE;
    for (int o = 0; o < n_out; o++) {
        double center = (o + 0.5) * scale, ww = 0.0;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > n_in) hi = n_in;
        for (int x = lo; x < hi; x++) ww += k[x - lo] = lanczos3((x - center + 0.5) / fs);
        for (int x = lo; x < hi; x++) k[x - lo] = ww != 0.0 ? k[x - lo] / ww : 0.0;
        for (int l = 0; l < lines; l++)
            for (int c = 0; c < 3; c++) {
                double acc = 0.0;
                for (int x = lo; x < hi; x++) acc += k[x - lo] * in[l * in_line + x * in_step + c];
                long v = lround(acc);
                out[l * out_line + o * out_step + c] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    }
    free(k);
    return T2V_OK;
}

int image_resize_lanczos(const unsigned char *rgb, int w, int h, unsigned char *out, int W, int H, T2vError *err) {
    unsigned char *mid = (unsigned char *)t2v_malloc((size_t)W * h * 3, "resized image", err);
    if (!mid) return T2V_ERESOURCE;
    int rc = T2V_OK;
    if (W == w) memcpy(mid, rgb, (size_t)w * h * 3); /* PIL skips a pass that keeps the size */
    else rc = resample_pass(rgb, w, 3, 3LL * w, mid, W, 3, 3LL * W, h, err);
    if (!rc && H == h) memcpy(out, mid, (size_t)W * h * 3);
    else if (!rc) rc = resample_pass(mid, h, 3LL * W, 3, out, H, 3LL * W, 3, W, err);
    free(mid);
    return rc;
}

int image_load_rgb(const char *path, int *w, int *h, unsigned char **rgb, T2vError *err) {
    int n;
    unsigned char *p = stbi_load(path, w, h, &n, 3);
    *rgb = NULL;
    if (!p) return t2v_fail(err, T2V_EINPUT, "%s: cannot read the image (%s; PNG or JPEG expected)", path,
                            stbi_failure_reason());
    *rgb = (unsigned char *)t2v_malloc((size_t)*w * *h * 3, "image", err);
    if (*rgb) memcpy(*rgb, p, (size_t)*w * *h * 3);
    stbi_image_free(p);
    return *rgb ? T2V_OK : T2V_ERESOURCE;
}

int image_load_i2v(const char *path, long long max_area, int *W, int *H, float **out, T2vError *err) {
    int iw, ih;
    unsigned char *rgb;
    *out = NULL;
    int rc0 = image_load_rgb(path, &iw, &ih, &rgb, err);
    if (rc0) return rc0;
    int ow, oh;
    image_best_size(iw, ih, 32, 32, max_area, &ow, &oh);
    if (ow < 32 || oh < 32) {
        free(rgb);
        return t2v_fail(err, T2V_EUSAGE, "%s: a %dx%d image does not fit an area of %lld pixels in multiples of 32",
                        path, iw, ih, max_area);
    }
    /* scale = max(ow/iw, oh/ih); resize to (round(iw scale), round(ih scale)); center crop */
    double s = fmax((double)ow / iw, (double)oh / ih);
    int rw = (int)lround(iw * s), rh = (int)lround(ih * s);
    if (rw < ow) rw = ow;
    if (rh < oh) rh = oh;
    unsigned char *big = (unsigned char *)t2v_malloc((size_t)rw * rh * 3, "resized image", err);
    int rc = big ? image_resize_lanczos(rgb, iw, ih, big, rw, rh, err) : T2V_ERESOURCE;
    free(rgb);
    float *x = rc ? NULL : (float *)t2v_malloc(sizeof(float) * 3 * (size_t)ow * oh, "image", err);
    if (!rc && !x) rc = T2V_ERESOURCE;
    int x1 = (rw - ow) / 2, y1 = (rh - oh) / 2;
    for (int c = 0; !rc && c < 3; c++) /* TF.to_tensor, then (x - 0.5) / 0.5 */
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                x[((size_t)c * oh + i) * ow + j] =
                    ((float)big[((size_t)(y1 + i) * rw + x1 + j) * 3 + c] / 255.0f - 0.5f) / 0.5f;
    free(big);
    if (rc) return rc;
    *out = x, *W = ow, *H = oh;
    return T2V_OK;
}
