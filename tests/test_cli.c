/*
 * test_cli.c: end-to-end tests of the t2v binary (README: the command line; docs/MODEL.md 9: stage tensors; docs/ARCHITECTURE.md: errors)
 * on the tiny model golden/models/tiny. Runs the built program with system()
 * (outputs under a mkdtemp directory in /tmp) and checks exit codes, messages,
 * the files written, the --dump contents (against the PyTorch golden
 * golden/pipeline/case_a.safetensors, which uses the model's t2v.json
 * defaults), --force, `t2v stage` + `t2v compare` on golden inputs, `t2v info`
 * and a table of bad invocations.
 *
 * The binary: $T2V_BIN if set, else BUILD/t2v where this program is
 * BUILD/tests/test_cli (tests/run.sh runs it from the repository root).
 */
#include "harness.h"
#include "../ref/app/blas_core.h"

#include "../ref/lib/sampler.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODEL "golden/models/tiny"
#define CASE_A "golden/pipeline/case_a.safetensors"

static char g_bin[1024], g_tmp[256];
static char g_out[1 << 16]; /* stdout + stderr of the last run */

/* Runs BIN + args (a shell fragment) with output captured; returns the exit
 * status, or -1 when it did not exit normally (a crash). */
static int t2v(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = h_vrun_bin("", g_bin, g_tmp, g_out, sizeof g_out, fmt, ap);
    va_end(ap);
    return rc;
}


static char *slurp(const char *path, size_t *n) { return h_slurp(path, n); }

static void first_line(char *dst, size_t n, const char *s) {
    size_t k = 0;
    while (s[k] && s[k] != '\n' && k + 1 < n) dst[k] = s[k], k++;
    dst[k] = 0;
}

/* ----------------------------------------------------------------------------
 * generate, --dump, --force */

static const char *OUT_FILES[] = {"x.png", "x_0000.png", "x_0001.png", "x_0002.png", "x_0003.png",
                                  "x_0004.png", "x_sheet.png", "x.y4m", "x.json", "dump.safetensors", "prev.png"};
enum { N_OUT = sizeof OUT_FILES / sizeof OUT_FILES[0] };

static void check_dump(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/dump.safetensors", dir);
    SafeTensors st;
    if (!golden_open(&st, path)) return;
    struct { const char *name; int ndim; int64_t shape[4]; DType dt; } want[] = {
        {"tokens", 1, {16}, DT_I32},          {"tokens_neg", 1, {11}, DT_I32},
        {"context", 2, {16, 32}, DT_F32},     {"context_neg", 2, {11, 32}, DT_F32},
        {"noise", 4, {16, 2, 4, 4}, DT_F32},  {"timesteps", 1, {4}, DT_F32},
        {"latent.step0", 4, {16, 2, 4, 4}, DT_F32}, {"latent.step1", 4, {16, 2, 4, 4}, DT_F32},
        {"latent.step2", 4, {16, 2, 4, 4}, DT_F32}, {"latent.step3", 4, {16, 2, 4, 4}, DT_F32},
        {"latent.final", 4, {16, 2, 4, 4}, DT_F32}, {"video", 4, {3, 5, 32, 32}, DT_F32},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const Tensor *t = tl_find(&st.tensors, want[i].name);
        int ok = t && t->dtype == want[i].dt && t->ndim == want[i].ndim;
        for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == want[i].shape[d];
        char shp[64] = "missing";
        if (t) shape_str(t, shp, sizeof shp);
        h_report(ok, "dump: %-14s %s %s", want[i].name, t ? dtype_name(t->dtype) : "", shp);
    }
    CHECK(st.tensors.n == (int)(sizeof want / sizeof want[0]), "dump: %d tensors, no others", st.tensors.n);
    const char *keys[] = {"prompt", "negative_prompt", "seed", "steps", "cfg", "shift", "sampler", "size",
                          "t2v_version", "precision"};
    const char *vals[] = {"a red circle moving to the right", "a blurry picture", "42", "4", "4", "3", "unipc",
                          "32x32x5", NULL, "fp32"};
    for (int i = 0; i < 10; i++) {
        const char *v = st_meta(&st, keys[i]);
        CHECK(v && (!vals[i] || !strcmp(v, vals[i])), "dump: __metadata__ %s = %s", keys[i], v ? v : "(missing)");
    }
    st_close(&st);
    /* The dump equals the PyTorch pipeline on the model's defaults (case a). */
    int rc = t2v("compare '%s' " CASE_A, path);
    CHECK(rc == 0 && strstr(g_out, "12 compared, 0 over tolerance"),
          "t2v compare dump.safetensors case_a.safetensors: exit %d (every dumped tensor within 1e-4)", rc);
    if (rc) printf("%s", g_out);
}

static void test_generate(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/gen", g_tmp);
    mkdir(dir, 0755);
    int rc = t2v("generate --model " MODEL " -p 'a red circle moving to the right' -o '%s/x' "
                 "--format png,apng,sheet,y4m --dump '%s' --preview '%s/prev.png' --threads 2",
                 dir, dir, dir);
    CHECK(rc == 0, "generate --format png,apng,sheet,y4m --dump --preview: exit %d", rc);
    if (rc) printf("%s", g_out);
    char *before[N_OUT];
    size_t nb[N_OUT];
    for (int i = 0; i < N_OUT; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, OUT_FILES[i]);
        before[i] = slurp(p, &nb[i]);
        CHECK(before[i] && nb[i] > 0, "generate wrote %s (%zu bytes)", OUT_FILES[i], before[i] ? nb[i] : 0);
    }
    CHECK(h_sh("ls '%s' | grep -q t2v-tmp", dir) != 0, "no temporary files left behind");
    if (before[7]) CHECK(!strncmp(before[7], "YUV4MPEG2 W32 H32", 17), "x.y4m starts with 'YUV4MPEG2 W32 H32'");
    if (before[0]) {
        int actl = 0;
        for (size_t i = 8; i + 4 <= nb[0] && !actl; i++) actl = !memcmp(before[0] + i, "acTL", 4);
        CHECK(nb[0] > 8 && !memcmp(before[0], "\x89PNG", 4) && actl, "x.png is an animated PNG (acTL chunk)");
    }
    check_dump(dir);

    /* Without --force: refused, exit 1, every file kept byte for byte. */
    rc = t2v("generate --model " MODEL " -p 'another prompt' -o '%s/x' --format png,apng,sheet,y4m --dump '%s' "
             "--preview '%s/prev.png'",
             dir, dir, dir);
    char msg[300];
    first_line(msg, sizeof msg, g_out);
    CHECK(rc == 1 && strstr(g_out, "--force"), "again without --force: exit %d, '%s'", rc, msg);
    int same = 1;
    for (int i = 0; i < N_OUT; i++) {
        char p[512];
        size_t n = 0;
        snprintf(p, sizeof p, "%s/%s", dir, OUT_FILES[i]);
        char *now = slurp(p, &n);
        if (!before[i] || !now || n != nb[i] || memcmp(now, before[i], n)) same = 0;
        free(now);
    }
    CHECK(same, "without --force: all %d files unchanged byte for byte", N_OUT);
    /* Only the dump exists: still refused. */
    char dir2[300];
    snprintf(dir2, sizeof dir2, "%s/gen2", g_tmp);
    mkdir(dir2, 0755);
    rc = t2v("generate --model " MODEL " -p x -o '%s/y' --dump '%s'", dir2, dir);
    CHECK(rc == 1 && strstr(g_out, "dump.safetensors exists"), "existing dump without --force: exit %d", rc);

    rc = t2v("generate --model " MODEL " -p 'another prompt' -o '%s/x' --format png,apng,sheet,y4m --dump '%s' "
             "--preview '%s/prev.png' --force --seed 7 --threads 1",
             dir, dir, dir);
    CHECK(rc == 0, "with --force: exit %d", rc);
    int changed = 0;
    for (int i = 0; i < N_OUT; i++) {
        char p[512];
        size_t n = 0;
        snprintf(p, sizeof p, "%s/%s", dir, OUT_FILES[i]);
        char *now = slurp(p, &n);
        if (now && before[i] && (n != nb[i] || memcmp(now, before[i], n))) changed++;
        free(now);
        free(before[i]);
    }
    CHECK(changed == N_OUT, "with --force: %d of %d files rewritten", changed, N_OUT);

    /* info on the outputs and the model. */
    rc = t2v("info '%s/x_0000.png'", dir);
    CHECK(rc == 0 && strstr(g_out, "another prompt") && strstr(g_out, "seed"), "info x_0000.png: exit %d, provenance",
          rc);
    rc = t2v("info '%s/x.png'", dir);
    CHECK(rc == 0 && strstr(g_out, "another prompt"), "info x.png (APNG): exit %d, provenance", rc);
    rc = t2v("info " MODEL);
    CHECK(rc == 0 && strstr(g_out, "diffusion_pytorch_model.safetensors") && strstr(g_out, "Wan2.1_VAE.pth") &&
              strstr(g_out, "models_t5_umt5-xxl-enc-bf16.pth") && strstr(g_out, "self_attn") &&
              strstr(g_out, "decoder.head") && strstr(g_out, "ffn.gate.0"),
          "info %s: exit %d, lists the DiT, T5 and VAE files and tensors", MODEL, rc);
    rc = t2v("info '%s/dump.safetensors'", dir);
    CHECK(rc == 0 && strstr(g_out, "latent.final") && strstr(g_out, "seed"), "info dump.safetensors: exit %d", rc);
    /* GGUF: header facts, tensors by type with counts and bytes, metadata; a cut file: exit 2 naming it */
    rc = t2v("info golden/gguf/kq_mixed.gguf");
    CHECK(rc == 0 && strstr(g_out, "GGUF version 3, 42 tensors") && strstr(g_out, "architecture wan") &&
              strstr(g_out, "Q4_K      3 tensors") && strstr(g_out, "quantized tensors") &&
              strstr(g_out, "general.quantization_version (u32) = 2"),
          "info kq_mixed.gguf: exit %d, version, count, types, metadata", rc);
    /* a model directory whose DiT is diffusion_pytorch_model.gguf: `stage dit` against the float64 golden */
    h_sh("mkdir -p '%s/ggm' && cp golden/gguf/tiny_config.json '%s/ggm/config.json' && "
       "cp golden/gguf/tiny_q4_0.gguf '%s/ggm/diffusion_pytorch_model.gguf'", dir, dir, dir);
    rc = t2v("stage dit --model '%s/ggm' --in golden/gguf/tiny_q4_0.safetensors --out '%s/ggm/v.safetensors'", dir, dir);
    int rc2 = t2v("compare '%s/ggm/v.safetensors' golden/gguf/tiny_q4_0.safetensors --subset", dir);
    CHECK(rc == 0 && rc2 == 0 && strstr(g_out, "1 compared, 0 over tolerance"),
          "stage dit on a Q4_0 diffusion_pytorch_model.gguf: exit %d, compare exit %d", rc, rc2);
    /* the tiny model with its DiT as an F32 GGUF (the same values): generate gives the same video bytes */
    h_sh("cp -R " MODEL " '%s/ggt' && rm '%s/ggt/diffusion_pytorch_model.safetensors' && "
       "cp golden/gguf/tiny_model_f32.gguf '%s/ggt/diffusion_pytorch_model.gguf'", dir, dir, dir);
    rc = t2v("generate --model " MODEL " -p 'a red circle' --steps 2 -q --format y4m -o '%s/ggt_st'", dir);
    rc2 = t2v("generate --model '%s/ggt' -p 'a red circle' --steps 2 -q --format y4m -o '%s/ggt_gguf'", dir, dir);
    int cmp = h_sh("cmp -s '%s/ggt_st.y4m' '%s/ggt_gguf.y4m'", dir, dir);
    CHECK(rc == 0 && rc2 == 0 && cmp == 0,
          "generate with the DiT as F32 GGUF: exit %d / %d, the same video bytes as the safetensors model (cmp %d)",
          rc, rc2, cmp);
    h_sh("head -c 1000 golden/gguf/kq_mixed.gguf > '%s/cut.gguf'", dir);
    rc = t2v("info '%s/cut.gguf'", dir);
    CHECK(rc == 2 && strstr(g_out, "cut.gguf") && strstr(g_out, "truncated GGUF"), "info cut.gguf: exit %d: %.120s", rc,
          g_out);
    rc = t2v("tokenize --model " MODEL " 'a red circle moving to the right' 'a blurry picture'");
    /* cut to the model's text_len as generation cuts: case a's tokens and tokens_neg */
    char want[512] = "";
    SafeTensors g;
    if (golden_open(&g, CASE_A)) {
        const char *names[2] = {"tokens", "tokens_neg"};
        for (int k = 0; k < 2; k++) {
            const Tensor *t = tl_find(&g.tensors, names[k]);
            for (int64_t i = 0; t && i < t->shape[0]; i++)
                snprintf(want + strlen(want), sizeof want - strlen(want), i ? " %d" : "%d",
                         (int)rd_u32le((const char *)t->data + 4 * i));
            snprintf(want + strlen(want), sizeof want - strlen(want), "\n");
        }
        st_close(&g);
    }
    CHECK(rc == 0 && strlen(want) > 4 && strstr(g_out, want),
          "tokenize --model: exit %d, the ids generation uses (case a's tokens, tokens_neg): %s", rc, want);
}

/* ----------------------------------------------------------------------------
 * stage + compare on a golden case */

/* Writes the named tensors of case a (renamed) to path. */
static int write_inputs(const char *path, const char *const *from, const char *const *to, int n) {
    SafeTensors st;
    if (!golden_open(&st, CASE_A)) return 0;
    StItem items[8];
    for (int i = 0; i < n; i++) {
        const Tensor *t = tl_find(&st.tensors, from[i]);
        if (!t) {
            h_report(0, "%s: no tensor %s", CASE_A, from[i]);
            st_close(&st);
            return 0;
        }
        items[i] = (StItem){to[i], t};
    }
    T2vError e = {0, {0}};
    int rc = st_write(path, items, n, NULL, NULL, 0, &e);
    if (rc) h_report(0, "st_write %s: %s", path, e.msg);
    st_close(&st);
    return rc == 0;
}

static void stage_case(const char *name, const char *opts, const char *const *from, const char *const *to, int n,
                       int n_compared) {
    char in[512], out[512], want[64];
    snprintf(in, sizeof in, "%s/%s_in.safetensors", g_tmp, name);
    snprintf(out, sizeof out, "%s/%s_out.safetensors", g_tmp, name);
    if (!write_inputs(in, from, to, n)) return;
    int rc = t2v("stage %s --model " MODEL " --in '%s' --out '%s' %s", name, in, out, opts);
    CHECK(rc == 0, "stage %s %s: exit %d", name, opts, rc);
    if (rc) printf("%s", g_out);
    rc = t2v("compare '%s' " CASE_A, out);
    snprintf(want, sizeof want, "%d compared, 0 over tolerance", n_compared);
    CHECK(rc == 0 && strstr(g_out, want), "compare stage %s output with the golden: exit %d (%s)", name, rc, want);
    if (rc) printf("%s", g_out);
}

/* `stage vae-decode --precision bf16` (the VAE's convolutions and attention
 * products in bf16, tests/test_vae_bf16.c): recorded in the metadata; not
 * the fp32 video, but within bf16's error of its golden (golden/README.md,
 * bf16, VAE); the same bytes with 1 and 3 threads and the portable kernel. */
static int same_file(const char *a, const char *b);
static void stage_vae_bf16(void) {
    char in[512], out[3][512], tol[512];
    snprintf(in, sizeof in, "%s/vae-decode_in.safetensors", g_tmp);
    snprintf(tol, sizeof tol, "%s/vae_bf16.tol", g_tmp);
    for (int i = 0; i < 3; i++) snprintf(out[i], sizeof out[i], "%s/vae_bf16_%d.safetensors", g_tmp, i);
    FILE *tf = fopen(tol, "w");
    if (tf) { fputs("video 2e-1 0.9998\n", tf); fclose(tf); } /* measured 0.12, 1-cos 9e-5 */
    const char *g0 = getenv("T2V_GEMM_GENERIC");
    char generic0[8];
    snprintf(generic0, sizeof generic0, "%s", g0 ? g0 : "");
    int rc = t2v("stage vae-decode --precision bf16 --model " MODEL " --in '%s' --out '%s' -q", in, out[0]);
    int rc1 = t2v("stage vae-decode --precision bf16 --threads 1 --model " MODEL " --in '%s' --out '%s' -q", in,
                  out[1]);
    h_env_set("T2V_GEMM_GENERIC", "1");
    int rc2 = t2v("stage vae-decode --precision bf16 --threads 3 --model " MODEL " --in '%s' --out '%s' -q", in, out[2]);
    h_env_set("T2V_GEMM_GENERIC", g0 ? generic0 : NULL);
    SafeTensors o;
    T2vError e = {0, {0}};
    if (!rc && st_open(&o, out[0], &e) == T2V_OK) {
        const char *pm = st_meta(&o, "precision");
        CHECK(pm && !strcmp(pm, "bf16"), "stage vae-decode --precision bf16: __metadata__ precision = %s",
              pm ? pm : "(missing)");
        st_close(&o);
    } else {
        CHECK(0, "stage vae-decode --precision bf16: exit %d %s", rc, e.msg);
    }
    CHECK(!rc1 && !rc2 && same_file(out[0], out[1]) && same_file(out[0], out[2]),
          "stage vae-decode --precision bf16: the same bytes with 1 thread and with the portable kernel on 3 "
          "(exit %d, %d)", rc1, rc2);
    rc = t2v("compare '%s' " CASE_A, out[0]);
    CHECK(rc == 1 && strstr(g_out, "1 over tolerance"), "bf16 video is not the fp32 one (over 1e-4): exit %d", rc);
    rc = t2v("compare '%s' " CASE_A " --tol '%s'", out[0], tol);
    CHECK(rc == 0, "bf16 video within 2e-1 of the fp32 golden: exit %d", rc);
    if (rc) printf("%s", g_out);
}

/* `generate --precision bf16` decodes in bf16 too: its dump's video is, byte
 * for byte, `stage vae-decode --precision bf16` of its dump's latent.final
 * (and not the fp32 decode of it). */
static void generate_vae_bf16(void) {
    char dir[512], dump[600], in[512], out[2][512];
    snprintf(dir, sizeof dir, "%s/gen_bf16_dump", g_tmp);
    snprintf(dump, sizeof dump, "%s/dump.safetensors", dir);
    snprintf(in, sizeof in, "%s/gen_bf16_latent.safetensors", g_tmp);
    for (int i = 0; i < 2; i++) snprintf(out[i], sizeof out[i], "%s/gen_bf16_video%d.safetensors", g_tmp, i);
    int rc = t2v("generate --model " MODEL " -p 'a red circle' --seed 7 --steps 2 --precision bf16 --format y4m "
                 "-q --force --no-sign -o '%s/gen_bf16' --dump '%s'", g_tmp, dir);
    SafeTensors d;
    T2vError e = {0, {0}};
    if (rc || st_open(&d, dump, &e)) {
        CHECK(0, "generate --precision bf16 --dump: exit %d %s", rc, e.msg);
        return;
    }
    const Tensor *lat = tl_find(&d.tensors, "latent.final"), *vid = tl_find(&d.tensors, "video");
    StItem it = {"latent", lat};
    rc = lat && vid ? st_write(in, &it, 1, NULL, NULL, 0, &e) : -1;
    int r16 = rc ? -1 : t2v("stage vae-decode --precision bf16 --model " MODEL " --in '%s' --out '%s' -q", in, out[0]);
    int r32 = rc ? -1 : t2v("stage vae-decode --model " MODEL " --in '%s' --out '%s' -q", in, out[1]);
    int same16 = 0, same32 = 0;
    for (int i = 0; i < 2 && !r16 && !r32; i++) {
        SafeTensors o;
        if (st_open(&o, out[i], &e)) continue;
        const Tensor *v = tl_find(&o.tensors, "video");
        int same = v && tensor_nbytes(v) == tensor_nbytes(vid) && !memcmp(v->data, vid->data, tensor_nbytes(v));
        if (i == 0) same16 = same;
        else same32 = same;
        st_close(&o);
    }
    CHECK(!rc && !r16 && !r32 && same16 && !same32, "generate --precision bf16: the dump's video is the bf16 "
          "decode of its latent.final (%s), not the fp32 one (%s)", same16 ? "same bytes" : "differs",
          same32 ? "same bytes" : "differs");
    st_close(&d);
}

/* `stage sampler` runs generate's loop: on generate's dump (noise, context,
 * context_neg; the model's default settings) every step's latent and the
 * final one have the dump's bits. */
static void stage_sampler_is_generate(void) {
    char dump[512], out[512];
    snprintf(dump, sizeof dump, "%s/gen/dump.safetensors", g_tmp);
    snprintf(out, sizeof out, "%s/resample.safetensors", g_tmp);
    int rc = t2v("stage sampler --model " MODEL " --in '%s' --out '%s' --threads 1", dump, out);
    SafeTensors a, b;
    T2vError e = {0, {0}};
    if (rc || st_open(&a, dump, &e)) {
        CHECK(0, "stage sampler on generate's dump: exit %d %s", rc, e.msg);
        return;
    }
    if (st_open(&b, out, &e)) {
        CHECK(0, "stage sampler output: %s", e.msg);
        st_close(&a);
        return;
    }
    int n = 0, same = 1;
    for (int i = 0; i < b.tensors.n; i++) {
        const Tensor *x = &b.tensors.tensors[i], *y = tl_find(&a.tensors, b.tensors.names[i]);
        n += y != NULL;
        same &= y && tensor_nbytes(x) == tensor_nbytes(y) && !memcmp(x->data, y->data, tensor_nbytes(x));
    }
    CHECK(same && n == b.tensors.n && n >= 3, "stage sampler on generate's dump: %d tensors (latent.step*, "
          "latent.final, timesteps), the same bits as generate's", n);
    st_close(&a);
    st_close(&b);
}

/* A stage input: the named tensors of a golden case, plus extra ones. */
static int write_case_inputs(const char *path, const char *golden, const char *const *names, int n,
                             const StItem *extra, int n_extra) {
    SafeTensors st;
    if (!golden_open(&st, golden)) return 0;
    StItem items[16];
    int k = 0, ok = 1;
    for (int i = 0; i < n && ok; i++) {
        const Tensor *t = tl_find(&st.tensors, names[i]);
        ok = t != NULL;
        if (t) items[k++] = (StItem){names[i], t};
    }
    for (int i = 0; i < n_extra; i++) items[k++] = extra[i];
    T2vError e = {0, {0}};
    if (ok && st_write(path, items, k, NULL, NULL, 0, &e)) ok = 0, h_report(0, "st_write %s: %s", path, e.msg);
    st_close(&st);
    return ok;
}

/* stage sampler with the distill sampler (golden case d) and with a step
 * cache (case h): every step, the final latent (and the cache's decisions)
 * against the PyTorch reference. The fresh noise given as renoise.k wins
 * over --seed; without it --seed's stream is used. */
static void test_stage_few_steps(void) {
    const char *dn[] = {"noise", "context"}, *hn[] = {"noise", "context", "context_neg"};
    char in[512], in2[512], out[512];
    snprintf(in, sizeof in, "%s/distill_in.safetensors", g_tmp);
    snprintf(in2, sizeof in2, "%s/distill_in2.safetensors", g_tmp);
    snprintf(out, sizeof out, "%s/distill_out.safetensors", g_tmp);
#define DISTILL "stage sampler --model " MODEL " --sampler distill --timesteps 1000,750,500,250 --shift 5 --cfg 1"
    if (write_case_inputs(in, "golden/pipeline/case_d.safetensors", dn, 2, NULL, 0)) {
        int rc = t2v(DISTILL " --in '%s' --out '%s' --force", in, out);
        if (!rc) rc = t2v("compare '%s' golden/pipeline/case_d.safetensors", out);
        CHECK(rc == 0 && strstr(g_out, "6 compared, 0 over tolerance"), "stage sampler --sampler distill (seed 42's "
              "stream) = case d: exit %d", rc);
        if (rc) printf("%s", g_out);
        rc = t2v(DISTILL " --in '%s' --out '%s' --force --seed 7", in, out);
        if (!rc) rc = t2v("compare '%s' golden/pipeline/case_d.safetensors", out);
        CHECK(rc == 1, "stage sampler distill --seed 7: other fresh noise, not case d (compare exit %d)", rc);
        /* renoise.0..2 = seed 42's stream, given: --seed 7 is not used */
        static float eps[3][16 * 2 * 4 * 4];
        int64_t shape[4] = {16, 2, 4, 4};
        TorchGen g;
        torch_gen_seed(&g, 42);
        torch_gen_randn(&g, eps[0], 512); /* the initial noise */
        Tensor t[3];
        StItem extra[3];
        static const char *names[3] = {"renoise.0", "renoise.1", "renoise.2"};
        for (int k = 0; k < 3; k++) {
            torch_gen_randn(&g, eps[k], 512);
            tensor_from_f32(&t[k], eps[k], 4, shape, NULL);
            extra[k] = (StItem){names[k], &t[k]};
        }
        if (write_case_inputs(in2, "golden/pipeline/case_d.safetensors", dn, 2, extra, 3)) {
            rc = t2v(DISTILL " --in '%s' --out '%s' --force --seed 7", in2, out);
            if (!rc) rc = t2v("compare '%s' golden/pipeline/case_d.safetensors", out);
            CHECK(rc == 0 && strstr(g_out, "6 compared, 0 over tolerance"), "stage sampler distill with renoise.0..2 "
                  "in IN (and --seed 7): = case d, exit %d", rc);
        }
        if (write_case_inputs(in2, "golden/pipeline/case_d.safetensors", dn, 2, extra, 2)) {
            rc = t2v(DISTILL " --in '%s' --out '%s' --force", in2, out);
            CHECK(rc == 2 && strstr(g_out, "all or none"), "stage sampler distill with renoise.0, 1 of 0..2: exit %d "
                  "(all or none)", rc);
        }
        for (int k = 0; k < 3; k++) tensor_free(&t[k]);
    }
#undef DISTILL
    snprintf(in, sizeof in, "%s/cache_in.safetensors", g_tmp);
    snprintf(out, sizeof out, "%s/cache_out.safetensors", g_tmp);
    if (write_case_inputs(in, "golden/pipeline/case_h.safetensors", hn, 3, NULL, 0)) {
        int rc = t2v("stage sampler --model " MODEL " --steps 20 --cfg 5 --shift 3 --cache fbcache:0.3 --in '%s' "
                     "--out '%s' --force", in, out);
        if (!rc) rc = t2v("compare '%s' golden/pipeline/case_h.safetensors", out);
        CHECK(rc == 0 && strstr(g_out, "23 compared, 0 over tolerance"), "stage sampler --cache fbcache:0.3 = case h "
              "(20 steps, final, timesteps, cache.computed): exit %d", rc);
        if (rc) printf("%s", g_out);
    }
}

/* case i's cache.ratios (F64 [steps, 2], the reference's calibration) as a
 * ratio file for --cache magcache:T@FILE, in the official array's form. */
static int write_ratio_file(const char *path) {
    SafeTensors st;
    if (!golden_open(&st, "golden/pipeline/case_i.safetensors")) return 0;
    const Tensor *t = tl_find(&st.tensors, "cache.ratios");
    FILE *f = t && t->dtype == DT_F64 ? fopen(path, "w") : NULL;
    if (f) {
        fprintf(f, "# case i: the reference's magnitude ratios\n[");
        for (int64_t k = 0; k < tensor_numel(t); k++) {
            uint64_t u = rd_u64le((const char *)t->data + 8 * k);
            double v;
            memcpy(&v, &u, sizeof v);
            fprintf(f, "%s%.17g", k ? ", " : "", v);
        }
        fprintf(f, "]\n");
        fclose(f);
    }
    st_close(&st);
    return f != NULL;
}

/* stage sampler with MagCache on the reference's ratios (case i), with
 * ratios the C run calibrates itself (the same decisions), and EasyCache
 * (case j). */
static void test_stage_mag_easy(void) {
    const char *hn[] = {"noise", "context", "context_neg"};
    char in[512], out[512], ratios[512], mine[512];
    snprintf(in, sizeof in, "%s/mag_in.safetensors", g_tmp);
    snprintf(out, sizeof out, "%s/mag_out.safetensors", g_tmp);
    snprintf(ratios, sizeof ratios, "%s/ratios.txt", g_tmp);
    snprintf(mine, sizeof mine, "%s/ratios_c.txt", g_tmp);
#define SMP "stage sampler --model " MODEL " --steps 20 --cfg 5 --shift 3 --in '%s' --out '%s' --force "
    if (write_case_inputs(in, "golden/pipeline/case_i.safetensors", hn, 3, NULL, 0) && write_ratio_file(ratios)) {
        int rc = t2v(SMP "--cache 'magcache:0.25,3,0.2@%s'", in, out, ratios);
        if (!rc) rc = t2v("compare '%s' golden/pipeline/case_i.safetensors", out);
        CHECK(rc == 0 && strstr(g_out, "23 compared, 0 over tolerance"), "stage sampler --cache magcache:0.25,3,0.2"
              "@(case i's ratios) = case i (20 steps, final, timesteps, cache.computed): exit %d", rc);
        if (rc) printf("%s", g_out);
        rc = t2v(SMP "--cache 'magcache-calibrate:%s'", in, out, mine);
        if (!rc) rc = t2v(SMP "--cache 'magcache:0.25,3,0.2@%s'", in, out, mine);
        if (!rc) rc = t2v("compare '%s' golden/pipeline/case_i.safetensors", out);
        CHECK(rc == 0 && strstr(g_out, "23 compared, 0 over tolerance"), "stage sampler magcache-calibrate:FILE, "
              "then magcache:0.25,3,0.2@FILE = case i: exit %d", rc);
        if (rc) printf("%s", g_out);
    }
    if (write_case_inputs(in, "golden/pipeline/case_j.safetensors", hn, 3, NULL, 0)) {
        int rc = t2v(SMP "--cache easycache:0.6,4", in, out);
        if (!rc) rc = t2v("compare '%s' golden/pipeline/case_j.safetensors", out);
        CHECK(rc == 0 && strstr(g_out, "23 compared, 0 over tolerance"), "stage sampler --cache easycache:0.6,4 = "
              "case j: exit %d", rc);
        if (rc) printf("%s", g_out);
    }
#undef SMP
}

/* info --cache: the DiT FLOPs as a range, the upper bound the uncached sum. */
static void test_info_cache(void) {
    int rc = t2v("info --config golden/configs/wan2.1-t2v-1.3b.json -W 832 -H 480 -f 81 --steps 50 --cfg 5 "
                 "--cache teacache:0.08");
    CHECK(rc == 0 && strstr(g_out, "coefficients Wan2.1 T2V-1.3B") &&
              strstr(g_out, "upper bound    28,299,292,940,697,600") && strstr(g_out, "48 of 50 steps skippable"),
          "info --cache teacache:0.08 (1.3B, 50 steps): upper bound = the uncached DiT FLOPs, 48 steps skippable");
    if (rc) printf("%s", g_out);
    /* with the weights TeaCache's count is exact: case f's run reused 18 of 40 passes */
    rc = t2v("info --model " MODEL " --steps 20 --cfg 5 --cache teacache:1.2");
    CHECK(rc == 0 && strstr(g_out, "(22 of 40 passes computed"), "info --model tiny --cache teacache:1.2: 22 of 40 "
          "passes computed, as case f's run decided");
    if (rc) printf("%s", g_out);
    rc = t2v("info --config golden/configs/wan2.1-t2v-1.3b.json --cache fbcache");
    CHECK(rc == 1 && strstr(g_out, "threshold"), "info --cache fbcache (no threshold): exit %d", rc);
    /* MagCache decides from the published ratios alone: the count is exact without weights */
    rc = t2v("info --config golden/configs/wan2.1-t2v-1.3b.json -W 832 -H 480 -f 81 --steps 50 --cfg 5 "
             "--cache magcache:0.12");
    CHECK(rc == 0 && strstr(g_out, "magnitude ratios Wan2.1 T2V-1.3B") && strstr(g_out, "40 of 50 steps skippable") &&
              strstr(g_out, "(50 of 100 passes computed"),
          "info --cache magcache:0.12 (1.3B, 50 steps): the published ratios, 50 of 100 passes computed");
    if (rc) printf("%s", g_out);
    rc = t2v("info --config golden/configs/wan2.1-t2v-1.3b.json -W 832 -H 480 -f 81 --steps 50 --cfg 5 "
             "--cache easycache:0.05");
    CHECK(rc == 0 && strstr(g_out, "39 of 50 steps skippable"),
          "info --cache easycache:0.05: 10 warm-up steps and the last computed, 39 of 50 skippable");
    rc = t2v("info --model " MODEL " --cache magcache:0.1");
    CHECK(rc == 1 && strstr(g_out, "width 32") && strstr(g_out, "magcache-calibrate"),
          "info --model tiny --cache magcache:0.1 (no published ratios for width 32): exit %d", rc);
}

static void test_stages(void) {
    const char *t5_from[] = {"tokens"}, *t5_to[] = {"tokens"};
    stage_case("t5", "", t5_from, t5_to, 1, 1);
    /* dit: `timestep` [1] = timesteps[0] (the golden's timesteps is [4]; write a [1] copy) */
    {
        SafeTensors st;
        if (golden_open(&st, CASE_A)) {
            const Tensor *ts = tl_find(&st.tensors, "timesteps");
            const Tensor *nz = tl_find(&st.tensors, "noise"), *cx = tl_find(&st.tensors, "context");
            char in[512], out[512];
            snprintf(in, sizeof in, "%s/dit_in.safetensors", g_tmp);
            snprintf(out, sizeof out, "%s/dit_out.safetensors", g_tmp);
            Tensor t1 = *ts;
            t1.shape[0] = 1;
            StItem items[3] = {{"latent", nz}, {"timestep", &t1}, {"context", cx}};
            T2vError e = {0, {0}};
            int rc = st_write(in, items, 3, NULL, NULL, 0, &e);
            st_close(&st);
            if (!rc) rc = t2v("stage dit --model " MODEL " --in '%s' --out '%s'", in, out);
            CHECK(rc == 0, "stage dit: exit %d", rc);
            rc = t2v("compare '%s' " CASE_A, out);
            CHECK(rc == 0 && strstr(g_out, "1 compared, 0 over tolerance"), "compare stage dit velocity: exit %d", rc);
            if (rc) printf("%s", g_out);
            /* --precision bf16: recorded, within the bf16 error of the fp32 golden (golden/README.md, bf16) */
            char out16[512], tol[512];
            snprintf(out16, sizeof out16, "%s/dit_out_bf16.safetensors", g_tmp);
            snprintf(tol, sizeof tol, "%s/bf16.tol", g_tmp);
            FILE *tf = fopen(tol, "w");
            if (tf) { fputs("velocity 3e-2 0.9999\n", tf); fclose(tf); }
            rc = t2v("stage dit --precision bf16 --model " MODEL " --in '%s' --out '%s'", in, out16);
            SafeTensors o16;
            const char *pm = NULL;
            if (!rc && st_open(&o16, out16, &e) == T2V_OK) {
                pm = st_meta(&o16, "precision");
                CHECK(pm && !strcmp(pm, "bf16"), "stage dit --precision bf16: __metadata__ precision = %s",
                      pm ? pm : "(missing)");
                st_close(&o16);
            } else {
                CHECK(0, "stage dit --precision bf16: exit %d %s", rc, e.msg);
            }
            rc = t2v("compare '%s' " CASE_A, out16);
            CHECK(rc == 1 && strstr(g_out, "1 over tolerance"), "bf16 velocity is not the fp32 one (over 1e-4): exit %d", rc);
            rc = t2v("compare '%s' " CASE_A " --tol '%s'", out16, tol);
            CHECK(rc == 0, "bf16 velocity within 3e-2 of the fp32 golden: exit %d", rc);
            if (rc) printf("%s", g_out);
        }
    }
    const char *s_from[] = {"noise", "context", "context_neg"};
    stage_case("sampler", "--steps 4 --cfg 4 --shift 3 --sampler unipc", s_from, s_from, 3, 6);
    const char *v_from[] = {"latent.final"}, *v_to[] = {"latent"};
    stage_case("vae-decode", "", v_from, v_to, 1, 1);
    stage_vae_bf16();
    generate_vae_bf16();
    stage_sampler_is_generate();

    /* compare fails (exit 1) on a perturbed copy. */
    char out[512], bad[512];
    snprintf(out, sizeof out, "%s/vae-decode_out.safetensors", g_tmp);
    snprintf(bad, sizeof bad, "%s/perturbed.safetensors", g_tmp);
    SafeTensors st;
    T2vError e = {0, {0}};
    if (st_open(&st, out, &e) == T2V_OK) {
        const Tensor *v = tl_find(&st.tensors, "video");
        float *x = v ? tensor_to_f32_alloc(v, NULL) : NULL;
        Tensor t;
        if (x) {
            x[1234] += 0.01f;
            tensor_from_f32(&t, x, v->ndim, v->shape, &e);
            StItem it = {"video", &t};
            st_write(bad, &it, 1, NULL, NULL, 0, &e);
            tensor_free(&t);
        }
        free(x);
        st_close(&st);
        int rc = t2v("compare '%s' " CASE_A, bad);
        CHECK(rc == 1 && strstr(g_out, "NOT OK") && strstr(g_out, "[1234]"),
              "compare on a video perturbed by 0.01 at [1234]: exit %d, NOT OK at [1234]", rc);
    } else {
        h_report(0, "open %s: %s", out, e.msg);
    }
}

/* ----------------------------------------------------------------------------
 * stage dit with float time: t = 737.25 ([1]) and one t per token ([N]), on
 * the tiny DiT of golden/dit (a model directory of its config and weights),
 * against the float64 goldens at test_dit's tolerance; bad timesteps refused. */

/* Writes latent, context and `timestep` (t: n values) to path. */
static int write_dit_inputs(const char *path, const SafeTensors *g, const float *t, int64_t n) {
    Tensor tt;
    T2vError e = {0, {0}};
    if (tensor_from_f32(&tt, t, 1, &n, &e)) return 0;
    StItem items[3] = {{"latent", tl_find(&g->tensors, "latent")}, {"timestep", &tt},
                       {"context", tl_find(&g->tensors, "context")}};
    int rc = items[0].t && items[2].t ? st_write(path, items, 3, NULL, NULL, 0, &e) : T2V_EINPUT;
    tensor_free(&tt);
    return rc == 0;
}

static void stage_dit_case(const char *model, const char *golden, const char *what) {
    SafeTensors g, o;
    if (!golden_open(&g, golden)) return;
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/time_in.safetensors", g_tmp);
    snprintf(out, sizeof out, "%s/time_out.safetensors", g_tmp);
    int64_t nt, nv;
    float *t = golden_f32(&g, "timestep", &nt), *vref = golden_f32(&g, "velocity", &nv);
    int rc = t && vref && write_dit_inputs(in, &g, t, nt) ? t2v("stage dit --model '%s' --in '%s' --out '%s' --force",
                                                                 model, in, out) : -2;
    CHECK(rc == 0, "stage dit, %s (timestep [%lld]): exit %d", what, (long long)nt, rc);
    if (rc) printf("%s", g_out);
    if (!rc && golden_open(&o, out)) {
        int64_t n;
        float *v = golden_f32(&o, "velocity", &n);
        char name[128];
        snprintf(name, sizeof name, "stage dit velocity, %s", what);
        if (v && n == nv) check_close(name, v, vref, n, 1e-5, 0.9999999); /* test_dit's TOL_TINY */
        else CHECK(0, "%s: %lld velocity values, golden %lld", name, (long long)n, (long long)nv);
        free(v);
        st_close(&o);
    }
    free(t);
    free(vref);
    st_close(&g);
}

static void test_stage_dit_time(void) {
    char model[300];
    snprintf(model, sizeof model, "%s/tinydit", g_tmp);
    if (h_sh("mkdir -p '%s' && cp golden/dit/tiny_config.json '%s/config.json' && "
           "cp golden/dit/tiny_weights.safetensors '%s/diffusion_pytorch_model.safetensors'", model, model, model)) {
        h_report(0, "cannot make %s", model);
        return;
    }
    stage_dit_case(model, "golden/dit/tiny_t_frac.safetensors", "t = 737.25");
    stage_dit_case(model, "golden/dit/tiny_t_frames.safetensors", "t per token (frame 0: 0, else 812.5)");
    stage_dit_case(model, "golden/dit/tiny_t_tokens.safetensors", "t per token (all distinct)");
    /* bad timesteps: count, range, NaN */
    SafeTensors g;
    if (!golden_open(&g, "golden/dit/tiny_t_frac.safetensors")) return;
    struct { float t[3]; int64_t n; const char *msg; } bad[] = {
        {{10, 20, 30}, 3, "timestep has 3 values, expected 1 (one t for every token) or 48"},
        {{1000.5f}, 1, "timestep[0] is 1000.5, expected a number in [0, 1000]"},
        {{-0.25f}, 1, "timestep[0] is -0.25"},
        {{NAN}, 1, "timestep[0] is nan"},
    };
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/bad_t.safetensors", g_tmp);
    snprintf(out, sizeof out, "%s/bad_t_out.safetensors", g_tmp);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = write_dit_inputs(in, &g, bad[i].t, bad[i].n) ? t2v("stage dit --model '%s' --in '%s' --out '%s' --force",
                                                                      model, in, out) : -2;
        char first[300];
        first_line(first, sizeof first, g_out);
        CHECK(rc == 2 && strstr(g_out, bad[i].msg), "stage dit refuses timestep [%lld] = %g...: exit %d, %s",
              (long long)bad[i].n, (double)bad[i].t[0], rc, first);
    }
    st_close(&g);
}

/* ----------------------------------------------------------------------------
 * Bad invocations: exit code and a substring of the message. */

static void test_bad(void) {
    char broken[300], trunc[300], od[300], cmd[1200];
    snprintf(broken, sizeof broken, "%s/novae", g_tmp);
    h_sh("cp -r " MODEL " '%s' && rm '%s/Wan2.1_VAE.pth'", broken, broken);
    snprintf(trunc, sizeof trunc, "%s/trunc.safetensors", g_tmp);
    h_sh("head -c 3000 " CASE_A " > '%s'", trunc);
    snprintf(od, sizeof od, "%s/bad", g_tmp);
    mkdir(od, 0755);
#define G "generate --model " MODEL " -o '%s/x' "
    struct { const char *args; int code; const char *msg; } T[] = {
        {G "-p cat -W 40", 1, "multiple of 16"},
        {G "-p cat -H 0", 1, "--height"},
        {G "-p cat -f 6", 1, "4k+1"},
        {G "-p cat --sampler ddim", 1, "unipc, euler or distill"},
        {G "-p cat --timesteps 500,600", 1, "--timesteps"},
        {G "-p cat --timesteps 1000,,500", 1, "--timesteps"},
        {G "-p cat --timesteps 1200", 1, "--timesteps"},
        {G "-p cat --timesteps 1000,500 --steps 3", 1, "disagree"},
        {G "-p cat --timesteps 1000,500 --sampler unipc", 1, "UniPC needs sigma < 1"},
        {G "-p cat --cache bogus:1", 1, "--cache must be"},
        {G "-p cat --cache teacache", 1, "threshold"},
        {G "-p cat --cache fbcache:-1", 1, "threshold"},
        {G "-p cat --cache magcache:0", 1, "magcache:T[,K[,RET]]"},
        {G "-p cat --cache magcache:0.1,0", 1, "K an integer"},
        {G "-p cat --cache magcache:0.1,2,1.5", 1, "RET in [0, 1]"},
        {G "-p cat --cache magcache:0.1@/nonexistent/r.txt", 1, "cannot open the ratio file"},
        {G "-p cat --cache magcache:0.1@golden/models/tiny/config.json", 1, "expected magnitude ratios"},
        {G "-p cat --cache magcache:0.1", 1, "no published magnitude ratios for a DiT of width 32"},
        {G "-p cat --cache magcache-calibrate", 1, "needs the file"},
        {G "-p cat --cache magcache-calibrate:golden/models/tiny/config.json", 1, "exists; pass --force"},
        {G "-p cat --cache easycache:0.1,-1", 1, "W an integer"},
        {G "-p cat --cache easycache", 1, "easycache:T[,W]"},
        {"stage sampler --model " MODEL " --in " CASE_A " --out '%s/o.safetensors' --seed x", 1, "--seed"},
        {"stage sampler --model " MODEL " --in " CASE_A " --out '%s/o.safetensors' --steps 61", 1, "at most 60 steps"},
        {"golden-pack --model " MODEL " -p cat -o '%s/pack' --steps 61", 1, "at most 60 steps"},
        {G "-p cat --steps -3", 1, "--steps"},
        {G "-p cat --steps 0", 1, "--steps"},
        {G "-p cat --cfg abc", 1, "--cfg"},
        {G "-p cat --shift 0", 1, "--shift"},
        {G "-p cat --threads 0", 1, "--threads"},
        {G "-p cat --precision fp16", 1, "--precision must be fp32 or bf16"},
        {G "-p cat --seed -1", 1, "--seed"},
        {G "-p cat --fps 0", 1, "--fps"},
        {G "-p cat --bogus 1", 1, "unknown option '--bogus'"},
        {G "-p cat --steps", 1, "needs a value"},
        {G "-p cat stray", 1, "unexpected argument 'stray'"},
        {G "-W 32", 1, "prompt is required"},
        {G "-p ''", 1, "prompt is empty"},
        {G "-p cat --format gif", 1, "--format"},
        {"generate --model /nonexistent/model -o '%s/x' -p cat", 2, "/nonexistent/model"},
        {"generate --model '%s' -o '%s/x' -p cat", 2, "Wan2.1_VAE.pth"},
        {G "-p cat -W 16384 -H 16384 -f 4097", 3, "GiB"},
        {"generate --model " MODEL " -p cat -o /nonexistent/dir/x", 3, "does not exist"},
        {"generate --model " MODEL " -p cat -o /sys/x --format apng", 3, "/sys/x"},
        {G "-p cat --dump /nonexistent/dump", 3, "/nonexistent/dump"},
        {G "-p cat --preview /nonexistent/prev.png", 3, "/nonexistent"},
        {G "-p cat --preview '%s/../trunc.safetensors'", 1, "--force"},
        {"stage nosuch --model " MODEL " --in a --out b", 1, "unknown stage 'nosuch'"},
        {"stage dit --model " MODEL " --out '%s/o.safetensors'", 1, "--in"},
        {"stage", 1, "stage"},
        {"stage t5 --model " MODEL " --in " CASE_A " --out '%s/../trunc.safetensors'", 1, "--force"},
        {"stage t5 --model " MODEL " --in /nonexistent.safetensors --out '%s/o.safetensors'", 2, "/nonexistent.safetensors"},
        {"stage dit --model " MODEL " --in " CASE_A " --out '%s/o.safetensors'", 2, "latent"},
        {"compare " CASE_A, 1, "usage"},
        {"compare " CASE_A " /nonexistent.safetensors", 2, "/nonexistent.safetensors"},
        {"info '%s'", 2, "trunc.safetensors"},
        {"info /nonexistent.pth", 2, "/nonexistent.pth"},
        {"info", 1, "usage"},
        {"tokenize 'a cat'", 1, "--model"},
        {"tokenize --model " MODEL, 1, "no TEXT"},
        {"frobnicate", 1, "unknown command 'frobnicate'"},
        {"", 1, "usage"},
    };
#undef G
    int n = (int)(sizeof T / sizeof T[0]);
    for (int i = 0; i < n; i++) {
        /* the %s of each row: the output dir, or the broken model, or the truncated file */
        if (strstr(T[i].args, "--model '%s'")) snprintf(cmd, sizeof cmd, T[i].args, broken, od);
        else if (!strncmp(T[i].args, "info '%s'", 9)) snprintf(cmd, sizeof cmd, T[i].args, trunc);
        else snprintf(cmd, sizeof cmd, T[i].args, od, od); /* rows with two %s: both the output dir */
        int rc = t2v("%s", cmd);
        char msg[300];
        first_line(msg, sizeof msg, g_out);
        CHECK(rc == T[i].code && strstr(g_out, T[i].msg), "t2v %s -> exit %d (want %d, '%s'): %s", cmd, rc, T[i].code,
              T[i].msg, msg);
    }
    CHECK(h_sh("[ -z \"$(ls -A '%s')\" ]", od) == 0, "no bad invocation wrote anything in the output directory");
}

/* --help mentions every option the parsers accept. */
static void test_help(void) {
    int rc = t2v("--help");
    CHECK(rc == 0 && strstr(g_out, "usage"), "--help: exit %d", rc);
    const char *opts[] = {"-p,", "--prompt", "-n,", "--negative", "--model", "-W,", "--width", "-H,", "--height",
                          "-f,", "--frames", "--steps", "--cfg", "--shift", "--sampler", "--seed", "--threads",
                          "-o,", "--output", "--format", "--fps", "--preview", "--dump", "--force", "-q,",
                          "--quiet", "--in", "--out", "--tol", "--tokenizer", "--pieces", "--raw", "tokenize",
                          "stage", "compare", "info", "vae-encode"};
    int missing = 0;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strstr(g_out, opts[i])) printf("       --help does not mention %s\n", opts[i]), missing++;
    CHECK(missing == 0, "--help mentions all %zu options and commands", sizeof opts / sizeof opts[0]);
    rc = t2v("--version");
    CHECK(rc == 0 && strstr(g_out, "t2v "), "--version: exit %d", rc);
}

/* ----------------------------------------------------------------------------
 * Output sets: all or nothing (docs/OUTPUTS.md) */

/* Number of entries in dir (not . and ..); -1 when it cannot be read. */
static int count_files(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l > '%s/count.txt'", dir, g_tmp);
    if (h_sh("%s", cmd)) return -1;
    snprintf(cmd, sizeof cmd, "%s/count.txt", g_tmp);
    size_t n;
    char *t = slurp(cmd, &n);
    int k = t ? atoi(t) : -1;
    free(t);
    return k;
}

/* A fresh empty directory g_tmp/NAME. */
static const char *fresh_dir(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_tmp, name);
    h_sh("rm -rf '%s' && mkdir -p '%s'", buf, buf);
    return buf;
}

#define GEN "generate --model " MODEL " -p 'a red circle' --steps 2 -q "

static void test_refused_before_work(void) {
    char d[400];
    fresh_dir(d, sizeof d, "sets_refused");
    int rc = t2v(GEN "-o ''");
    CHECK(rc == 1 && strstr(g_out, "empty"), "-o '': refused, exit %d: %s", rc, g_out);
    rc = t2v(GEN "-o '%s/'", d);
    CHECK(rc == 1 && strstr(g_out, "a directory"), "-o DIR/: refused, exit %d: %s", rc, g_out);
    rc = t2v(GEN "-o '%s' --format png", d);
    CHECK(rc == 1 && strstr(g_out, "a directory"), "-o DIR (no slash): refused, exit %d", rc);
    rc = t2v(GEN "-o '%s/a' --preview '%s/a.png'", d, d);
    CHECK(rc == 1 && strstr(g_out, "both name"), "--preview X/a.png -o X/a: refused before work, exit %d: %s", rc,
          g_out);
    rc = t2v(GEN "-o '%s/a' --preview '%s/a.json'", d, d);
    CHECK(rc == 1 && strstr(g_out, "both name"), "--preview X/a.json -o X/a: refused before work, exit %d", rc);
    CHECK(count_files(d) == 0, "nothing written by the refused runs (%d entries)", count_files(d));
    h_sh("mkdir '%s/a_0003.png'", d);
    rc = t2v(GEN "-o '%s/a'", d);
    CHECK(rc == 1 && strstr(g_out, "a_0003.png is a directory"), "a directory at a frame's name: refused before "
          "work, exit %d: %s", rc, g_out);
    CHECK(count_files(d) == 1, "only that directory is there (%d entries)", count_files(d));
}

/* The whole set of a previous run, read back (names in ls order, contents). */
static char *snapshot(const char *dir) {
    char list[600];
    snprintf(list, sizeof list, "%s/snap.txt", g_tmp);
    if (h_sh("cd '%s' && for f in $(ls -A); do echo \"$f\"; cat \"$f\"; done > '%s' 2>/dev/null", dir, list)) return NULL;
    size_t n;
    return slurp(list, &n);
}

static void test_failures_keep_nothing(void) {
    char d[400], e[480];
    fresh_dir(d, sizeof d, "sets_fail");
    /* a full disk at the 5th file write: exit 3, no file, no temporary */
    setenv("T2V_FAULT_WRITE", "5", 1);
    int rc = t2v(GEN "-o '%s/a' --format png,apng,sheet,y4m --dump '%s'", d, d);
    unsetenv("T2V_FAULT_WRITE");
    CHECK(rc == 3 && strstr(g_out, "No space left"), "disk full while writing: exit %d (want 3): %s", rc, g_out);
    CHECK(count_files(d) == 0, "disk full: nothing kept, not even a temporary (%d entries)", count_files(d));
    /* SIGINT at each phase and while writing: nothing kept (the shell reports 128 + 2) */
    const char *phases[] = {"text encoder", "sampling", "VAE decode"};
    for (int i = 0; i < 4; i++) {
        if (i < 3) setenv("T2V_FAULT_PHASE", phases[i], 1);
        else setenv("T2V_FAULT_SIGNAL", "7", 1);
        rc = t2v(GEN "-o '%s/a' --format png,apng,sheet,y4m --dump '%s'", d, d);
        unsetenv("T2V_FAULT_PHASE"), unsetenv("T2V_FAULT_SIGNAL");
        CHECK((rc == 130 || rc == -1) && count_files(d) == 0, "SIGINT during %s: killed (%d), nothing kept (%d entries)",
              i < 3 ? phases[i] : "the writing of the files", rc, count_files(d));
    }
    /* A previous set survives a failed --force run byte for byte. */
    rc = t2v(GEN "-o '%s/b' -f 9", d);
    char *before = snapshot(d);
    setenv("T2V_FAULT_WRITE", "9", 1);
    int rc2 = t2v(GEN "-o '%s/b' -f 5 --force", d);
    unsetenv("T2V_FAULT_WRITE");
    char *after = snapshot(d);
    CHECK(rc == 0 && rc2 == 3 && before && after && !strcmp(before, after),
          "a failed --force run leaves the previous set as it was (exit %d then %d)", rc, rc2);
    free(before);
    free(after);
    /* --force with fewer frames: the old run's extra frames go, other files stay */
    h_sh("echo keep > '%s/b_notes.txt' && echo keep > '%s/c_0007.png'", d, d);
    rc = t2v(GEN "-o '%s/b' -f 5 --force", d);
    snprintf(e, sizeof e, "%s/b_0005.png", d);
    int gone = 1;
    for (int f = 5; f < 9; f++) {
        snprintf(e, sizeof e, "%s/b_%04d.png", d, f);
        gone &= !platform_file_exists(e);
    }
    snprintf(e, sizeof e, "%s/b_0004.png", d);
    CHECK(rc == 0 && gone && platform_file_exists(e), "--force with 5 frames after 9: b_0005..b_0008 removed");
    CHECK(count_files(d) == 10, "b.png, b_sheet.png, b.json, 5 frames, and the 2 unrelated files (%d entries)",
          count_files(d));
}

/* A stand-in ffmpeg that writes the MP4 it is given (cat FILE > last arg). */
static void fake_ffmpeg(const char *bin, const char *mp4) {
    h_sh("mkdir -p '%s' && printf '#!/bin/sh\\nfor a; do out=\"$a\"; done\\ncat > /dev/null\\ncat \"%s\" > \"$out\"\\n' > "
       "'%s/ffmpeg' && chmod +x '%s/ffmpeg'", bin, mp4, bin, bin);
}

static void test_mp4_checked(void) {
    char d[400], bin[450], good[450], bad[450], path[2048];
    fresh_dir(d, sizeof d, "sets_mp4");
    snprintf(bin, sizeof bin, "%s/bin", g_tmp);
    snprintf(good, sizeof good, "%s/good.mp4", g_tmp);
    snprintf(bad, sizeof bad, "%s/bad.mp4", g_tmp);
    /* ftyp (16) + mdat (12) + moov (8): boxes that tile the file; bad: no moov */
    FILE *f = fopen(good, "wb"), *g = fopen(bad, "wb");
    static const unsigned char box[] = {0, 0, 0, 16, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0,
                                        0, 0, 0, 12, 'm', 'd', 'a', 't', 1, 2, 3, 4, 0, 0, 0, 8, 'm', 'o', 'o', 'v'};
    if (f) fwrite(box, 1, sizeof box, f), fclose(f);
    if (g) fwrite(box, 1, 28, g), fclose(g);
    snprintf(path, sizeof path, "%s:%s", bin, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", path, 1);
    fake_ffmpeg(bin, bad);
    int rc = t2v(GEN "-o '%s/m' --format mp4,png", d);
    CHECK(rc == 3 && strstr(g_out, "no moov") && count_files(d) == 0,
          "ffmpeg exits 0 with a truncated MP4 (no moov): exit %d, nothing kept (%d entries): %s", rc,
          count_files(d), g_out);
    fake_ffmpeg(bin, good);
    rc = t2v(GEN "-o '%s/m' --format mp4,png", d);
    CHECK(rc == 0 && count_files(d) == 7, "a complete MP4 (ftyp, mdat, moov) is kept with the set: exit %d, %d "
          "entries: %s", rc, count_files(d), g_out);
    if (old) setenv("PATH", old, 1);
    free(old);
}

/* ----------------------------------------------------------------------------
 * Help: every option a help text names exists in its command, every option
 * a parser takes (a literal "-x" / "--xx" in ref/app's command sources) is in
 * `t2v --help`, and an unknown option is told apart from a missing value. */

enum { MAX_OPTS = 128 };
typedef struct {
    char name[MAX_OPTS][32];
    int value[MAX_OPTS]; /* 1: listed with a value (an upper-case word follows) */
    int n;
} OptList;

static int opt_index(const OptList *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->name[i], name)) return i;
    return -1;
}

static void opt_add(OptList *l, const char *name, int value) {
    int i = opt_index(l, name);
    if (i >= 0) { l->value[i] |= value; return; }
    if (l->n < MAX_OPTS && strlen(name) < 32) strcpy(l->name[l->n], name), l->value[l->n++] = value;
}

/* Options a help text names: words "-x" / "--xx" after a space, '(', '[',
 * '|', ',' or '`'. Lines "  -x, --xx VALUE  text" define options (their
 * value: the upper-case word after the names); other mentions go to `named`. */
static void help_options(const char *text, OptList *defined, OptList *named) {
    memset(defined, 0, sizeof *defined);
    memset(named, 0, sizeof *named);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        int is_def = !strncmp(line, "  -", 3);
        const char *gap = is_def ? strstr(line + 2, "  ") : NULL; /* the names end at two spaces */
        if (!gap || gap > end) gap = end;
        char names[8][32];
        int nn = 0, value = 0;
        for (const char *c = line; c < end; c++) {
            int after = c == line || strchr(" ([|,`", c[-1]);
            if (!after || c[0] != '-') continue;
            const char *w = c + (c[1] == '-' ? 2 : 1);
            if (!((*w >= 'a' && *w <= 'z') || (*w >= 'A' && *w <= 'Z'))) continue;
            size_t k = 0;
            char word[32];
            while (c + k < end && k < 31 && (c[k] == '-' || (c[k] >= 'a' && c[k] <= 'z') ||
                                            (c[k] >= 'A' && c[k] <= 'Z') || (c[k] >= '0' && c[k] <= '9')))
                word[k] = c[k], k++;
            word[k] = 0;
            if (is_def && c < gap && nn < 8) strcpy(names[nn++], word);
            else opt_add(named, word, 0);
            c += k - 1;
        }
        if (is_def) { /* an upper-case word before the gap: the value */
            for (const char *c = line + 2; c + 1 < gap && !value; c++)
                value = c[0] == ' ' && c[1] >= 'A' && c[1] <= 'Z';
            for (int i = 0; i < nn; i++) opt_add(defined, names[i], value);
        }
        line = *end ? end + 1 : end;
    }
}

static void test_help_options(void) {
    static const char *const cmds[] = {"generate", "stage", "compare", "info", "tokenize", "keygen", "bisect",
                                       "golden-pack"};
    /* how to put an option before the parser: stage needs its NAME first */
    static const char *const prefix[] = {"generate", "stage t5", "compare", "info", "tokenize", "keygen --dir ''",
                                         "bisect", "golden-pack"};
    static OptList all_def, all_named, def, named, in_cmds; /* static: 8 KB each */
    memset(&in_cmds, 0, sizeof in_cmds);
    t2v("--help");
    help_options(g_out, &all_def, &all_named);
    int rc;
    for (int c = 0; c < 8; c++) {
        rc = t2v("%s --help", cmds[c]);
        char want[64];
        snprintf(want, sizeof want, "usage: t2v %s", c ? cmds[c] : "[generate]");
        CHECK(rc == 0 && strstr(g_out, want) && !strstr(g_out, "t2v: "), "t2v %s --help: exit %d, its usage on stdout",
              cmds[c], rc);
        help_options(g_out, &def, &named);
        for (int i = 0; i < def.n; i++) opt_add(&in_cmds, def.name[i], def.value[i]);
        int bad = 0;
        for (int i = 0; i < named.n; i++)
            if (opt_index(&def, named.name[i]) < 0)
                printf("       %s --help mentions %s without listing it\n", cmds[c], named.name[i]), bad++;
        for (int i = 0; i < def.n; i++) {
            if (opt_index(&all_def, def.name[i]) < 0)
                printf("       `t2v --help` does not list %s %s\n", cmds[c], def.name[i]), bad++;
            if (!strcmp(def.name[i], "-h") || !strcmp(def.name[i], "--help")) continue;
            /* the option alone, last: known to the parser, and a value is asked for when it takes one */
            rc = t2v("%s %s", prefix[c], def.name[i]);
            int unknown = strstr(g_out, "unknown option") != NULL, needs = strstr(g_out, "needs a value") != NULL;
            if (rc != 1 || unknown || needs != def.value[i]) {
                char msg[200];
                first_line(msg, sizeof msg, g_out);
                printf("       t2v %s %s: exit %d, '%s' (it %s a value)\n", prefix[c], def.name[i], rc, msg,
                       def.value[i] ? "takes" : "takes no");
                bad++;
            }
        }
        CHECK(bad == 0 && def.n >= 3, "%s --help lists %d options; each exists in the parser, asks for its value "
              "if it takes one, and is in `t2v --help`", cmds[c], def.n);
        rc = t2v("%s --frobnicate 3", prefix[c]);
        CHECK(rc == 1 && strstr(g_out, "unknown option '--frobnicate'") && !strstr(g_out, "needs a value"),
              "t2v %s --frobnicate 3: exit %d, unknown option (not 'needs a value')", prefix[c], rc);
        rc = t2v("%s --frobnicate", prefix[c]);
        CHECK(rc == 1 && strstr(g_out, "unknown option '--frobnicate'") && !strstr(g_out, "needs a value"),
              "t2v %s --frobnicate (last): exit %d, unknown option", prefix[c], rc);
    }
    int extra = 0;
    for (int i = 0; i < all_def.n; i++)
        if (opt_index(&in_cmds, all_def.name[i]) < 0) printf("       %s: in `t2v --help` only\n", all_def.name[i]), extra++;
    CHECK(extra == 0 && all_def.n == in_cmds.n, "`t2v --help` lists %d options, those of the commands' help texts",
          all_def.n);
    rc = t2v("generate -W");
    CHECK(rc == 1 && strstr(g_out, "'-W' needs a value") && !strstr(g_out, "unknown"),
          "generate -W: exit %d, '-W' needs a value", rc);
    /* every option literal in the parsers' sources is in `t2v --help` */
    FILE *p = popen("grep -ohE '\"--?[A-Za-z][A-Za-z0-9-]*\"' ref/app/main.c ref/app/cli.c ref/app/cmd_*.c | "
                    "tr -d '\"' | sort -u", "r");
    char line[64];
    int n = 0, missing = 0;
    while (p && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        n++;
        if (opt_index(&all_def, line) < 0 && opt_index(&all_named, line) < 0)
            printf("       the parsers take %s; `t2v --help` does not list it\n", line), missing++;
    }
    if (p) pclose(p);
    CHECK(n >= 30 && missing == 0, "all %d options the parsers take (ref/app sources) are in `t2v --help`", n);
}

/* ----------------------------------------------------------------------------
 * compare refuses to pass on nothing: no common tensor, a tensor of A missing
 * from B (unless --subset), and counts a shape mismatch as compared. */

static void write_tensor(const char *path, const char *name, const float *x, int ndim, const int64_t *shape,
                         const char *name2) {
    Tensor t;
    T2vError e = {0, {0}};
    if (tensor_from_f32(&t, x, ndim, shape, &e)) { h_report(0, "tensor_from_f32: %s", e.msg); return; }
    StItem items[2] = {{name, &t}, {name2, &t}};
    if (st_write(path, items, name2 ? 2 : 1, NULL, NULL, 0, &e)) h_report(0, "st_write %s: %s", path, e.msg);
    tensor_free(&t);
}

static void test_compare_strict(void) {
    char a[512], b[512], c[512], tol[512];
    snprintf(a, sizeof a, "%s/cmp_a.safetensors", g_tmp);
    snprintf(b, sizeof b, "%s/cmp_b.safetensors", g_tmp);
    snprintf(c, sizeof c, "%s/cmp_c.safetensors", g_tmp);
    snprintf(tol, sizeof tol, "%s/cmp.tol", g_tmp);
    float x[6] = {1, 2, 3, 4, 5, 6};
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s6[1] = {6};
    write_tensor(a, "x", x, 2, s23, "only_a");   /* A: x [2,3], only_a [2,3] */
    write_tensor(b, "y", x, 2, s23, "x");        /* B: y [2,3], x [2,3]      */
    write_tensor(c, "x", x, 2, s32, NULL);       /* C: x [3,2]               */

    int rc = t2v("compare '%s' '%s'", b, c); /* B's y is not in C; x differs in shape */
    CHECK(rc == 1 && strstr(g_out, "1 compared, 1 over tolerance") && strstr(g_out, "shape differs"),
          "compare with a shape mismatch: exit %d, '1 compared, 1 over tolerance' (over <= compared)", rc);
    char d[512];
    snprintf(d, sizeof d, "%s/cmp_d.safetensors", g_tmp);
    write_tensor(d, "z", x, 1, s6, NULL);
    rc = t2v("compare '%s' '%s'", d, a);
    CHECK(rc == 1 && strstr(g_out, "0 compared, 0 over tolerance") && strstr(g_out, "nothing was compared"),
          "compare of files with no common tensor: exit %d, '0 compared', nothing was compared", rc);
    rc = t2v("compare '%s' '%s' --subset", d, a);
    CHECK(rc == 1 && strstr(g_out, "0 compared"), "... and with --subset: exit %d (still nothing compared)", rc);
    rc = t2v("compare '%s' '%s'", a, b); /* A's only_a is not in B */
    CHECK(rc == 1 && strstr(g_out, "1 compared, 0 over tolerance") && strstr(g_out, "only_a") &&
              strstr(g_out, "--subset"),
          "compare where B lacks a tensor of A: exit %d, names it and --subset", rc);
    rc = t2v("compare '%s' '%s' --subset", a, b);
    CHECK(rc == 0 && strstr(g_out, "1 compared, 0 over tolerance") && strstr(g_out, "skipped"),
          "... with --subset: exit %d, only_a listed as skipped", rc);
    rc = t2v("compare '%s' '%s'", b, a); /* B's extra y is only in the reference A: fine */
    CHECK(rc == 1, "compare B A (B's y is not in A): exit %d", rc);
    h_sh("printf 'x 1e-3 0.9\\n# comment\\n\\nonly_* 1 0\\n' > '%s'", tol);
    rc = t2v("compare '%s' '%s' --tol '%s' --subset", a, b, tol);
    CHECK(rc == 0 && strstr(g_out, "tol 1e-03"), "compare --tol FILE: exit %d, the rule's tolerance used", rc);
    h_sh("printf 'x 1e-3 0.9\\nbroken line\\n' > '%s'", tol);
    rc = t2v("compare '%s' '%s' --tol '%s'", a, b, tol);
    CHECK(rc == 2 && strstr(g_out, "cmp.tol:2:"), "compare --tol with a malformed line 2: exit %d, names line 2", rc);
}

/* ----------------------------------------------------------------------------
 * info on files it does not read: what they are not, what it reads; exit 2 */

static void test_info_unsupported(void) {
    char f[512];
    struct { const char *name, *content, *want; } T[] = {
        {"empty.safetensors", "", "empty"},
        {"notes.txt", "hello world\\n", "text file"},
        {"config.json", "{\\n  \\\"_class_name\\\": \\\"WanModel\\\", \\\"dim\\\": 1536\\n}\\n", "--config"},
        {"random.bin", "\\001\\002\\003\\004\\005\\006\\007\\010\\011\\012", "not a safetensors"},
        {"old.pth", "\\200\\002\\212\\012lZ\\374\\234F\\371 j", "legacy"},
    };
    for (int i = 0; i < 5; i++) {
        snprintf(f, sizeof f, "%s/%s", g_tmp, T[i].name);
        h_sh("printf '%s' > '%s'", T[i].content, f);
        int rc = t2v("info '%s'", f);
        char msg[300];
        first_line(msg, sizeof msg, g_out);
        CHECK(rc == 2 && strstr(g_out, T[i].want) && strstr(g_out, ".safetensors") && strstr(g_out, ".pth") &&
                  !strstr(g_out, "does not fit"),
              "info %s: exit %d, says it is %s and what info reads: %.90s...", T[i].name, rc, T[i].want, msg);
    }
    /* an MP4 without a C2PA manifest: its Content Credentials are "none" (tests/test_c2pa.c: signed ones) */
    snprintf(f, sizeof f, "%s/clip.mp4", g_tmp);
    h_sh("printf '\\000\\000\\000\\020ftypisom\\000\\000\\002\\000' > '%s'", f);
    int rc = t2v("info '%s'", f);
    CHECK(rc == 0 && strstr(g_out, "Content Credentials (C2PA): none"), "info clip.mp4 (unsigned): exit %d, "
          "Content Credentials none", rc);
}

/* ----------------------------------------------------------------------------
 * Progress lines in a log, warnings, --dump / --trace directories */

static int count_lines(const char *s, const char *a, const char *b) {
    int n = 0;
    for (const char *line = s; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[512];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < 511 ? len : 511), line);
        if (strstr(buf, a) && (!b || strstr(buf, b))) n++;
        line = end ? end + 1 : NULL;
    }
    return n;
}

static void test_progress_log(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/prog", g_tmp);
    mkdir(dir, 0755);
    /* stderr to a file (not a terminal): one line per step with k/N, s/step and the ETA */
    int rc = t2v("generate --model " MODEL " -p 'a cat' -o '%s/x' --steps 3 --format png", dir);
    int steps = 0;
    for (int k = 1; k <= 3; k++) {
        char want[64];
        snprintf(want, sizeof want, "sampling step %d/3", k);
        steps += count_lines(g_out, want, "ETA") == 1 && count_lines(g_out, want, "s/step") == 1;
    }
    CHECK(rc == 0 && steps == 3 && count_lines(g_out, "text encoder prompt", "ETA") == 2 &&
              count_lines(g_out, "VAE decode chunk", "ETA") == 2,
          "generate with stderr in a file: exit %d, lines 'sampling step k/3 ... s/step ETA m:ss' for k = 1..3 "
          "(%d found), the text encoder's 2 and the VAE decode's 2 chunks", rc, steps);
    if (steps != 3) printf("%s", g_out);
    rc = t2v("generate --model " MODEL " -p 'a cat' -o '%s/x' --steps 3 --format png --force -q", dir);
    CHECK(rc == 0 && !strstr(g_out, "step") && !strstr(g_out, "ETA") && !strstr(g_out, "\r"),
          "... with --quiet: exit %d, no progress at all", rc);
}

static void test_warnings(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/warn", g_tmp);
    mkdir(dir, 0755);
    /* golden/models/tiny reads 16 tokens (text_len): 15 pieces and EOS */
    int rc = t2v("generate --model " MODEL " -p 'a red circle moving to the right across a wide black field under "
                 "a pale moon' -o '%s/x' --steps 1 --format png -q", dir);
    int has = 0, reads = 0;
    const char *w = strstr(g_out, "warning: the prompt has ");
    if (w) sscanf(w, "warning: the prompt has %d tokens; the model reads the first %d", &has, &reads);
    CHECK(rc == 0 && has > 15 && reads == 15, "a prompt longer than text_len: exit %d, warning 'the prompt has %d "
          "tokens; the model reads the first %d' (not a refusal)", rc, has, reads);
    rc = t2v("generate --model " MODEL " -p 'a cat' -o '%s/x' --steps 1 --format png -q --force", dir);
    CHECK(rc == 0 && !strstr(g_out, "warning"), "a short prompt at the default size: exit %d, no warning", rc);
    /* the tiny model's defaults are 32x32, 5 frames */
    rc = t2v("generate --model " MODEL " -p 'a cat' -o '%s/x' --steps 1 --format png -q --force -W 96 -f 1", dir);
    CHECK(rc == 0 && strstr(g_out, "warning: width 96 is more than 2x above the model's default 32") &&
              strstr(g_out, "warning: frame count 1 is more than 2x below the model's default 5") &&
              !strstr(g_out, "height"),
          "-W 96 -f 1 on a 32x32x5 model: exit %d, warns for width and frames, not height", rc);
}

static void test_option_dirs(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/dirs", g_tmp);
    mkdir(dir, 0755);
    int rc = t2v("generate --model " MODEL " -p 'a cat' -o '%s/x' --steps 2 --format png --dump '%s/d' --trace "
                 "'%s/t'", dir, dir, dir);
    char p1[400], p2[400];
    snprintf(p1, sizeof p1, "%s/d/dump.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/t/trace.json", dir);
    CHECK(rc == 0 && access(p1, F_OK) == 0 && access(p2, F_OK) == 0 && strstr(g_out, "created directory") &&
              strstr(g_out, "/d for --dump") && strstr(g_out, "/t for --trace"),
          "--dump DIR and --trace DIR that do not exist: exit %d, created (and said so), files inside", rc);
    rc = t2v("generate --model " MODEL " -p 'a cat' -o '%s/y' --steps 2 --format png --dump '%s/d2' -q", dir, dir);
    CHECK(rc == 0 && !strstr(g_out, "created"), "... with --quiet: exit %d, created silently", rc);
    rc = t2v("generate --model " MODEL " -p 'a cat' -o '%s/z' --steps 2 --dump '%s/no/such' ", dir, dir);
    char want[400];
    snprintf(want, sizeof want, "its parent %s/no does not exist", dir);
    CHECK(rc == 3 && strstr(g_out, want) && h_sh("[ ! -e '%s/no' ] && [ ! -e '%s/z.png' ]", dir, dir) == 0,
          "--dump DIR/no/such: exit %d, names the missing parent, creates nothing", rc);
    rc = t2v("generate --model " MODEL " -p 'a cat' -o '%s/z' --steps 2 --trace '%s/no/such' ", dir, dir);
    CHECK(rc == 3 && strstr(g_out, want), "--trace DIR/no/such: exit %d, names the missing parent", rc);
    rc = t2v("generate --model " MODEL " -p 'a cat' -o '%s/z' --steps 2 --dump '%s/x.json'", dir, dir);
    CHECK(rc == 3 && strstr(g_out, "not a directory"), "--dump on a file: exit %d, not a directory", rc);
}

/* The kernels (docs/ARCHITECTURE.md, Threading): `t2v --version` names them;
 * a user's OPENBLAS_CORETYPE stands, without a restart; without one, t2v
 * restarts itself (and says so) exactly when blas_core_choice asks for a
 * better core than the one OpenBLAS picks on this machine. */
static void test_blas_kernels(void) {
    const char *user = getenv("OPENBLAS_CORETYPE");
    char saved[64] = "";
    if (user) snprintf(saved, sizeof saved, "%s", user);
    int rc = t2v("--version");
    CHECK(rc == 0 && strstr(g_out, "kernels: "), "--version names the kernels: %.80s", g_out);
    CpuFeatures f;
    cpu_features(&f);
    if (strstr(g_out, "gemm: builtin") || !f.x86) return; /* no OpenBLAS, or not x86: nothing chosen */
    setenv("OPENBLAS_CORETYPE", "Prescott", 1); /* SSE3: every x86-64 runs it */
    rc = t2v("--version");
    CHECK(rc == 0 && strstr(g_out, "kernels: Prescott") && !strstr(g_out, "restarting"),
          "OPENBLAS_CORETYPE=Prescott stands, no restart: %.100s", g_out);
    unsetenv("OPENBLAS_CORETYPE");
    if (!saved[0]) { /* this process loaded OpenBLAS without the variable: its pick is t2v's */
        const char *picked = blas_core_name(), *want = blas_core_choice(&f, picked);
        char expect[96];
        snprintf(expect, sizeof expect, "kernels: %s", want ? want : picked);
        rc = t2v("--version");
        CHECK(rc == 0 && strstr(g_out, expect) && !strstr(g_out, "restarting") == !want,
              "no OPENBLAS_CORETYPE: OpenBLAS picks %s, t2v %s (%s)", picked,
              want ? "restarts with a better core" : "keeps it", expect);
    } else {
        setenv("OPENBLAS_CORETYPE", saved, 1);
    }
}

/* Files of two issues at once: a GGUF DiT given with --dit, a LoRA on it,
 * and bf16 products over quantized weights. The F32 GGUF holds the tiny
 * model's DiT bit for bit, so every pair must give the same video bytes. */
static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x), free(y);
    return same;
}

static void test_formats_combined(void) {
#define GEN_TINY "generate --model " MODEL " -p 'a red circle' --seed 7 --steps 2 --format y4m -q --force --no-sign "
    char a[600], b[600];
    int r1 = t2v(GEN_TINY "-o '%s/fmt_ref'", g_tmp);
    int r2 = t2v(GEN_TINY "--dit golden/gguf/tiny_model_f32.gguf -o '%s/fmt_gguf'", g_tmp);
    snprintf(a, sizeof a, "%s/fmt_ref.y4m", g_tmp), snprintf(b, sizeof b, "%s/fmt_gguf.y4m", g_tmp);
    CHECK(!r1 && !r2 && same_file(a, b), "--dit FILE.gguf (the tiny DiT as F32 GGUF): the video of the "
          "safetensors DiT, byte for byte (exit %d, %d)", r1, r2);
    r1 = t2v(GEN_TINY "--lora golden/layouts/lora_comfy.safetensors -o '%s/fmt_lora'", g_tmp);
    r2 = t2v(GEN_TINY "--dit golden/gguf/tiny_model_f32.gguf --lora golden/layouts/lora_comfy.safetensors "
             "-o '%s/fmt_glora'", g_tmp);
    snprintf(a, sizeof a, "%s/fmt_lora.y4m", g_tmp), snprintf(b, sizeof b, "%s/fmt_glora.y4m", g_tmp);
    char ref[600];
    snprintf(ref, sizeof ref, "%s/fmt_ref.y4m", g_tmp);
    CHECK(!r1 && !r2 && same_file(a, b) && !same_file(a, ref), "a LoRA on a GGUF base: the bytes of the same "
          "LoRA on the safetensors base, and not those of no LoRA (exit %d, %d)", r1, r2);
    r1 = t2v(GEN_TINY "--precision bf16 -o '%s/fmt_bf16'", g_tmp);
    r2 = t2v(GEN_TINY "--precision bf16 --dit golden/gguf/tiny_model_f32.gguf -o '%s/fmt_gbf16'", g_tmp);
    snprintf(a, sizeof a, "%s/fmt_bf16.y4m", g_tmp), snprintf(b, sizeof b, "%s/fmt_gbf16.y4m", g_tmp);
    CHECK(!r1 && !r2 && same_file(a, b), "--precision bf16 with a GGUF DiT: the bytes of the safetensors DiT "
          "(its weights widened through the same path; exit %d, %d)", r1, r2);
    /* bf16 products over Q4_0 blocks: the velocity within bf16's error of
     * the float64 run on the decoded weights (measured 1.5e-2 of rms, 1-cos
     * 3.6e-6; a block read as plain floats gives noise) */
    char out[600], tol[600];
    snprintf(out, sizeof out, "%s/fmt_q4.safetensors", g_tmp), snprintf(tol, sizeof tol, "%s/fmt_tol", g_tmp);
    FILE *f = fopen(tol, "w");
    if (f) fputs("velocity 5e-2 0.9999\n", f), fclose(f);
    r1 = t2v("stage dit --model " MODEL " --dit golden/gguf/tiny_q4_0.gguf --in golden/gguf/tiny_q4_0.safetensors "
             "--out '%s' --precision bf16 --force -q", out);
    r2 = r1 ? -1 : t2v("compare '%s' golden/gguf/tiny_q4_0.safetensors --subset --tol '%s'", out, tol);
    CHECK(!r1 && !r2, "stage dit --precision bf16 on a Q4_0 GGUF DiT: within 5e-2 of the float64 velocity (exit "
          "%d, compare %d)", r1, r2);
#undef GEN_TINY
}

int main(int argc, char **argv) {
    const char *env = getenv("T2V_BIN");
    if (env && *env) {
        snprintf(g_bin, sizeof g_bin, "%s", env);
    } else {
        /* argv[0] = BUILD/tests/test_cli -> BUILD/t2v */
        char self[900];
        snprintf(self, sizeof self, "%s", argc > 0 ? argv[0] : "");
        char *s = strrchr(self, '/');
        if (s) *s = 0;
        else strcpy(self, ".");
        snprintf(g_bin, sizeof g_bin, "%s/../t2v", self);
    }
    if (access(g_bin, X_OK) != 0) {
        h_report(0, "t2v binary not found at %s (build it, or set T2V_BIN)", g_bin);
        return h_finish();
    }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/t2v-cli-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        h_report(0, "mkdtemp failed");
        return h_finish();
    }
    printf("-- binary %s, temp dir %s\n", g_bin, g_tmp);
    test_help();
    test_help_options();
    test_blas_kernels();
    test_generate();
    test_stages();
    test_stage_few_steps();
    test_info_cache();
    test_stage_mag_easy();
    test_refused_before_work();
    test_failures_keep_nothing();
    test_mp4_checked();
    test_stage_dit_time();
    test_compare_strict();
    test_info_unsupported();
    test_progress_log();
    test_warnings();
    test_option_dirs();
    test_formats_combined();
    test_bad();
    if (h_failed == 0) h_sh("rm -rf '%s'", g_tmp);
    else printf("-- kept %s for inspection\n", g_tmp);
    return h_finish();
}
