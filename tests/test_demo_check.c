/*
 * test_demo_check.c: the demo's objective checks (tests/demo_check.h) agree
 * with their Python copy (tools/demo_data.measure) and with the truth, on
 * clips of the demo grammar. golden/demo_check/cases.safetensors
 * (tools/golden_demo_check.py) describes each clip by its parameters; this
 * test renders it with demo_check.h's shape templates, compares the object's
 * pixel count per frame with Python's rendering, and measures it against the
 * case Python measured: the true case (all four checks pass) or one with a
 * wrong shape, colour or direction (that check fails).
 */
#include "harness.h"

#include "demo_check.h"

static const int DIR_XY[5][2] = {{1, 0}, {-1, 0}, {0, -1}, {0, 1}, {0, 0}};

/* demo_data.render_at: the case's shape, moving from (cx0, cy0) on the torus.
 * Returns whether the object crosses an edge (is on both sides) in a frame. */
static int render(const float *p, float *video, int *npix) {
    int color = (int)p[0], shape = (int)p[1], dir = (int)p[2], bg = (int)p[3];
    double r = p[4], speed = p[5], cx0 = p[6], cy0 = p[7];
    int crosses = 0;
    for (int f = 0; f < F; f++) {
        double cx = cx0 + DIR_XY[dir][0] * speed * f, cy = cy0 + DIR_XY[dir][1] * speed * f;
        npix[f] = 0;
        for (int k = 0; k < S; k++)
            crosses |= (in_wrapped(shape, cx, cy, r, 0, k) && in_wrapped(shape, cx, cy, r, S - 1, k)) ||
                       (in_wrapped(shape, cx, cy, r, k, 0) && in_wrapped(shape, cx, cy, r, k, S - 1));
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int in = in_wrapped(shape, cx, cy, r, x, y);
                npix[f] += in;
                for (int k = 0; k < 3; k++)
                    video[((size_t)k * F + f) * S * S + y * S + x] =
                        (float)((in ? COLOR_RGB[color][k] : COLOR_RGB[bg][k]) / 127.5 - 1.0);
            }
    }
    return crosses;
}

int main(void) {
    SafeTensors g;
    if (!golden_open(&g, "golden/demo_check/cases.safetensors")) return h_finish();
    int64_t np_, na, nv, nn;
    float *params = golden_f32(&g, "params", &np_), *asked = golden_f32(&g, "asked", &na);
    float *verdicts = golden_f32(&g, "verdicts", &nv), *npix = golden_f32(&g, "npix", &nn);
    float *video = (float *)malloc(sizeof(float) * 3 * F * S * S);
    if (!params || !asked || !verdicts || !npix || !video || np_ % 8 || na != np_ / 2 || nv != np_ * 6 / 8 ||
        nn != np_ / 8 * F) {
        h_report(0, "golden/demo_check: tensors missing or of unexpected sizes");
    } else {
        int n = (int)(np_ / 8), agree = 0, pix_same = 0, truth = 0, nwrong = 0, ncross = 0;
        for (int i = 0; i < n; i++) {
            int cnt[F], a[4], same = 1;
            ncross += render(params + 8 * i, video, cnt) && i % 4 == 0; /* 4 measurements per clip */
            for (int f = 0; f < F; f++) same &= cnt[f] == (int)npix[i * F + f];
            pix_same += same;
            for (int k = 0; k < 4; k++) a[k] = (int)asked[4 * i + k];
            DemoScore sc;
            char why[256];
            int all = measure_clip(video, a, DEMO_SET_ALL, DEMO_SET_ALL, 2, &sc, why, sizeof why);
            const float *v = verdicts + 6 * i;
            int ok = sc.colour == (v[0] != 0) && sc.motion == (v[1] != 0) && sc.background == (v[2] != 0) &&
                     sc.shape == (v[3] != 0) && fabs(sc.dx - v[4]) < 1e-4 && fabs(sc.dy - v[5]) < 1e-4;
            if (!ok)
                printf("       case %d differs from Python (colour %g motion %g background %g shape %g dx %+.4f "
                       "dy %+.4f): %s\n", i, v[0], v[1], v[2], v[3], v[4], v[5], why);
            agree += ok;
            /* the truth: the rendered case passes all four; a changed word fails its check */
            int wrong_shape = a[1] != (int)params[8 * i + 1], wrong_colour = a[0] != (int)params[8 * i];
            int wrong_dir = a[2] != (int)params[8 * i + 2];
            if (!wrong_shape && !wrong_colour && !wrong_dir) truth += all;
            else nwrong++, truth += (wrong_shape && !sc.shape) || (wrong_colour && !sc.colour) ||
                                   (wrong_dir && !sc.motion);
        }
        CHECK(pix_same == n, "C renders the golden clips as Python does: %d of %d with equal pixel counts", pix_same,
              n);
        CHECK(agree == n, "C checks agree with demo_data.measure on %d of %d measurements", agree, n);
        CHECK(truth == n && nwrong > 0, "checks tell the truth on %d of %d measurements (%d with a wrong word)", truth,
              n, nwrong);
        CHECK(ncross >= n / 16, "the golden clips include objects crossing an edge of the wrapping frame: %d of %d",
              ncross, n / 4);
    }
    free(params), free(asked), free(verdicts), free(npix), free(video);

    /* demo_cases2 is demo_data.test_cases2 */
    int64_t n2;
    float *want = golden_f32(&g, "cases2", &n2);
    int c2[30][4], same = 0, trained = 0;
    demo_cases2(c2);
    for (int i = 0; want && n2 == 120 && i < 30; i++) {
        int eq = 1;
        for (int k = 0; k < 4; k++) eq &= c2[i][k] == (int)want[4 * i + k];
        same += eq;
        trained += i < 24 && demo_trained2(c2[i][0], c2[i][1], c2[i][3]);
    }
    CHECK(same == 30, "demo_cases2 is demo_data.test_cases2: %d of 30 prompts equal", same);
    CHECK(trained == 24, "demo_cases2's first 24 are training combinations (%d)", trained);
    free(want);
    st_close(&g);
    return h_finish();
}
