/* cli.c: helpers shared by the t2v subcommands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#if defined(_WIN32)
#include <direct.h>
#else
#include <unistd.h>
#endif

#include "cost.h"
#include "t2v.h"

int die(const T2vError *e) {
    fprintf(stderr, "t2v: %s\n", e->msg);
    return e->code ? e->code : 1;
}

int parse_model_flag(ModelArgs *m, const char *a) {
    if (strcmp(a, "--lora-ignore-unknown")) return 0;
    m->o.lora_ignore_unknown = 1;
    return 1;
}

/* --lora FILE[:SCALE]: SCALE is what follows the last ':' when it is a number.
 * 1, or -1 after a usage error. */
static int parse_lora(ModelArgs *m, const char *v) {
    if (m->o.n_lora == T2V_MAX_LORA) return -usage_error("at most 16 --lora files, not more ('%s')", v);
    LoraFile *f = &m->lora[m->o.n_lora];
    const char *colon = strrchr(v, ':');
    double scale = 1.0;
    f->path = v;
    int numeric = colon && colon[1] && (strchr("0123456789.+-", colon[1]) || !strncmp(colon + 1, "inf", 3) ||
                                        !strncmp(colon + 1, "nan", 3));
    if (numeric && (parse_double(colon + 1, &scale) || !isfinite((float)scale)))
        return -usage_error("--lora FILE[:SCALE]: the scale must be a finite number, not in '%s'", v);
    if (numeric) {
        char *path = m->lora_path[m->o.n_lora];
        size_t n = (size_t)(colon - v);
        if (n == 0 || n >= sizeof m->lora_path[0]) return -usage_error("--lora FILE[:SCALE]: bad file in '%s'", v);
        memcpy(path, v, n);
        path[n] = 0;
        f->path = path;
    }
    f->scale = (float)scale;
    m->o.lora = m->lora;
    m->o.n_lora++;
    return 1;
}

int parse_model_opt(ModelArgs *m, const char *a, const char *v) {
    if (!strcmp(a, "--dit")) m->o.dit = v;
    else if (!strcmp(a, "--t5")) m->o.t5 = v;
    else if (!strcmp(a, "--vae")) m->o.vae = v;
    else if (!strcmp(a, "--lora")) return parse_lora(m, v) < 0 ? -1 : 1;
    else return 0;
    return 1;
}

int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "t2v: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(run `t2v --help` for usage)\n");
    return T2V_EUSAGE;
}

/* ----------------------------------------------------------------------------
 * Help: one text per command; `t2v --help` prints them all. Every option a
 * parser takes is listed here (tests/test_cli.c checks both ways). */

static const char HELP_HEAD[] =
    "t2v " T2V_VERSION ": Wan2.1 / Wan2.2 text-to-video, a readable CPU reference in C99\n"
    "\n"
    "usage: t2v COMMAND [options]   (t2v COMMAND --help, or t2v help COMMAND: that command alone)\n"
    "       t2v --help | --version\n"
    "OpenBLAS build: when OpenBLAS picks kernels below what the CPU runs (an older OpenBLAS on a\n"
    "newer CPU), t2v restarts itself once with OPENBLAS_CORETYPE set and says so; set\n"
    "OPENBLAS_CORETYPE yourself to choose (t2v --version prints the kernels in use).\n";

/* The model-changing options generate, stage and info share (ModelArgs). */
#define HELP_MODEL_FILES \
    "  --dit FILE             the DiT from one file instead of the directory's: official,\n" \
    "                         ComfyUI (fp16/bf16/fp8), CausVid/Self-Forcing .pt, rCM (README,\n" \
    "                         Layouts); its config from its shapes (heads, text length: DIR's\n" \
    "                         config.json when its dim matches)\n" \
    "  --t5 FILE              the umT5 encoder from one file (official or Hugging Face names,\n" \
    "                         fp8 with per-tensor scales as ComfyUI's umt5_xxl_fp8_e4m3fn_scaled)\n" \
    "  --vae FILE             the VAE from one file (official or diffusers names)\n" \
    "  --lora FILE[:SCALE]    apply a LoRA to the DiT (repeatable, summed; SCALE default 1)\n" \
    "  --lora-ignore-unknown  skip LoRA keys that name nothing in the DiT (default: an error)\n"

static const char HELP_GENERATE[] =
    "usage: t2v [generate] -p PROMPT [options]          generate a video\n"
    "\n"
    "generate options (defaults from the model directory's t2v.json, else its family's official\n"
    "ones):\n"
    "  -p, --prompt TEXT      the prompt (required)\n"
    "  -n, --negative TEXT    negative prompt (default: the model's, else Wan2.1's Chinese default)\n"
    "  --model DIR            model directory in the official Wan2.1 / Wan2.2 or the diffusers\n"
    "                         layout (default: the demo model beside the binary: ../models/demo,\n"
    "                         or ../share/t2v/models/demo when installed; else models/demo in the\n"
    "                         current directory)\n"
    HELP_MODEL_FILES
    "  -W, --width N          width in pixels, a multiple of 16 (32 for Wan2.2 TI2V)\n"
    "  -H, --height N         height in pixels, a multiple of 16 (32 for Wan2.2 TI2V)\n"
    "  -f, --frames N         number of frames, 4k+1 (1, 5, 9, ..., 81)\n"
    "  --steps N              sampling steps (1..1000)\n"
    "  --cfg G                classifier-free guidance scale; <= 1 skips the unconditional pass;\n"
    "                         Wan2.2 A14B: G for both experts, or HIGH,LOW (default 4.0,3.0)\n"
    "  --boundary B           Wan2.2 A14B: the high-noise expert while t >= B*1000 (default 0.875)\n"
    "  -i, --image FILE       Wan2.2 TI2V image-to-video: animate this PNG/JPEG still; it is scaled\n"
    "                         and center-cropped to the best multiple-of-32 size within the area\n"
    "                         width x height, which then sets the video's size\n"
    "  --shift S              flow-matching schedule shift (> 0)\n"
    "  --sampler NAME         unipc (default, as Wan2.1), euler, or distill (few-step students:\n"
    "                         x0 = x - sigma v, renoised with fresh noise before each next step;\n"
    "                         CausVid: --timesteps 1000,757,522 --shift 1, Self-Forcing:\n"
    "                         --timesteps 1000,750,500,250 --shift 5; usually with --cfg 1)\n"
    "  --timesteps LIST       a schedule of listed timesteps in (0, 1000], decreasing, e.g.\n"
    "                         1000,750,500,250: sigma = shift s / (1 + (shift-1) s), s = t/1000,\n"
    "                         the DiT sees 1000 sigma; sets --steps (any sampler; UniPC: < 1000)\n"
    "  --cache KIND:THRESH    skip DiT passes whose input barely changed: teacache:T (TeaCache;\n"
    "                         Wan2.1 1.3B: 0.05 or 0.08, 14B: 0.1 or 0.2), teacache-ret:T (its\n"
    "                         retention-steps variant), fbcache:T (First-Block-Cache, e.g. 0.05),\n"
    "                         magcache:T[,K[,RET]][@FILE] (MagCache, e.g. 0.12,2,0.2; ratios\n"
    "                         published for 1.3B/14B widths, else FILE from magcache-calibrate:FILE,\n"
    "                         which computes every pass and writes them), easycache:T[,W]\n"
    "                         (EasyCache, e.g. 0.05, W warm-up steps, default 10); default none;\n"
    "                         --dump records which passes were computed (docs/MODEL.md 3.6)\n"
    "  --seed N               noise seed (default 42); noise = torch.manual_seed(N); torch.randn;\n"
    "                         the distill sampler's fresh noise continues that stream (docs/NOISE.md)\n";

/* (C99 guarantees string literals of 4,095 characters: the rest of generate's help.) */
static const char HELP_GENERATE_OUTPUTS[] =
    "  --context-window F     clips longer than F frames are sampled in overlapping windows of F\n"
    "                         frames, blended with linear ramps (default: the model's trained\n"
    "                         length, t2v.json context_window, else 81); off: one pass\n"
    "  --context-overlap F    frames shared by neighbouring windows (default: the model's, else 16)\n"
    "  --context-schedule S   uniform (windows shift from step to step), static, or chain (each\n"
    "                         window sampled in turn, continuing the frames before it; the model\n"
    "                         must be trained for it); default: the model's (t2v.json), else uniform\n"
    "  --riflex K|auto|off    RIFLEx: time RoPE component K gets the frequency 0.9 x 2 pi / latent\n"
    "                         frames; auto (default): the component nearest the trained length,\n"
    "                         when a clip longer than it runs in one pass\n"
    "  --causal-block N       causal generation (Self-Forcing, CausVid students): N latent frames\n"
    "                         at a time (Self-Forcing: 3), each attending to itself and to a\n"
    "                         key/value cache of earlier blocks; the distill sampler and cfg 1\n"
    "                         (the defaults with it; others are refused),\n"
    "                         frames = 4 N k - 3 (N = 3: 9, 21, ..., 81); no context windows\n"
    "  --causal-window F|off  latent frames the cache keeps (default: the trained length, 21 for\n"
    "                         Wan2.1): past it the oldest frames are evicted; off: all of them\n"
    "  --causal-sink N        the first N latent frames are never evicted (default 0); the three\n"
    "                         default to t2v.json's causal_block, causal_window, causal_sink\n"
    "                         (--causal-block 0: not causal)\n"
    "  --threads N            threads (default: the physical cores); results do not depend on it\n"
    "  --precision P          fp32 (default) or bf16: linear layers, attention products and VAE\n"
    "                         convolutions take bf16 operands, fp32 sums (the same bits on every\n"
    "                         CPU; vdpbf16ps where the CPU has AVX512-BF16)\n";

/* (C99 again: the rest of generate's help, its files and what watches the run.) */
static const char HELP_GENERATE_FILES[] =
    "  -o, --output OUT       output base name (default out/t2v): OUT.png (animated PNG),\n"
    "                         OUT_0000.png... (frames), OUT_sheet.png, OUT.y4m, OUT.mp4,\n"
    "                         OUT.json (provenance sidecar); a pattern such as out_%04d.png\n"
    "                         names the frames and its prefix the other files\n"
    "  --format LIST          comma list of png,apng,y4m,mp4,sheet (default png,apng,sheet),\n"
    "                         written a few frames at a time as the VAE decodes: the video is\n"
    "                         not held whole (docs/OUTPUTS.md, Streamed writing)\n"
    "  --fps N                frame rate of the animated PNG / Y4M / MP4 (default: model's, 16)\n"
    "  --preview FILE         refresh a latent preview PNG after every step\n"
    "  --dump DIR             write DIR/dump.safetensors with every stage's tensors (DIR is\n"
    "                         created if its parent exists); the decoded video is one of them,\n"
    "                         so with --dump it is held whole (12 bytes per pixel and frame)\n"
    "  --dump-level L         with --dump: stage (default), block (adds the first DiT forward's\n"
    "                         block outputs blocks.N) or op (every op inside its blocks, as\n"
    "                         `t2v stage dit --dump-level op`; docs/VERIFY.md); size printed first\n"
    "  --dump-blocks LIST     with --dump-level: only these blocks, e.g. 0,1,29\n"
    "  --names N              with --dump-level: official module paths (default) or diffusers\n"
    "  --trace DIR            after every step decode the x0 prediction to DIR/step_NNN.png;\n"
    "                         DIR/trace.json (schedule, CFG difference); tools/plot_trace.py plots it\n"
    "                         (DIR is created if its parent exists)\n"
    "  --force                overwrite existing output files\n"
    "  --sign-cert FILE       PEM certificate chain (signing certificate first) that signs the\n"
    "                         outputs' C2PA manifests (Content Credentials); with --sign-key\n"
    "  --sign-key FILE        its PEM private key (EC P-256 or Ed25519). Without both:\n"
    "                         $T2V_SIGN_CERT and $T2V_SIGN_KEY, else the local chain of\n"
    "                         `t2v keygen` (made at first use): a valid, untrusted signer\n"
    "  --no-sign              no C2PA manifest: only the unsigned metadata (PNG text, MP4 tags,\n"
    "                         OUT.json); when signing fails, nothing is written\n"
    "  -q, --quiet            no progress (a bar on a terminal, else a line per step)\n"
    "  -h, --help             this help\n";

static const char HELP_STAGE[] =
    "usage: t2v stage NAME --model DIR --in IN.safetensors --out OUT.safetensors [options]\n"
    "  one stage of the pipeline on given tensors (their names: docs/MODEL.md)\n"
    "  NAME: t5 | dit | sampler | causal | vae-decode | vae-encode\n"
    "\n"
    "stage options:\n"
    "  --model DIR            model directory (required)\n"
    HELP_MODEL_FILES
    "  --in FILE              input tensors (required)\n"
    "  --out FILE             output tensors (required)\n"
    "  --steps N              sampler stage: sampling steps (default: the model's)\n"
    "  --cfg G                sampler stage: guidance scale (A14B: G or HIGH,LOW)\n"
    "  --boundary B           sampler and dit stages, A14B: the expert switch (default 0.875)\n"
    "  --shift S              sampler stage: schedule shift\n"
    "  --sampler NAME         sampler stage: unipc, euler or distill\n"
    "  --timesteps LIST       sampler stage: listed timesteps (as generate's)\n"
    "  --cache KIND:THRESH    sampler stage: a step cache (as generate's); OUT gets cache.computed;\n"
    "                         magcache-calibrate:FILE writes the measured ratios to FILE\n"
    "  --seed N               sampler stage, distill: seed of the fresh noise when IN has no\n"
    "                         renoise.0, renoise.1, ... (default 42: generate --seed's stream)\n"
    "  --context-window F     sampler stage: context windows of F frames, or off (as generate)\n"
    "  --context-overlap F    sampler stage: frames shared by neighbouring windows\n"
    "  --context-schedule S   sampler stage: uniform, static or chain (as generate)\n"
    "  --riflex K|auto|off    sampler stage: RIFLEx component (as generate)\n"
    "  --causal-block N       causal stage (noise, context, renoise.b<b>.k<k> -> latent.final):\n"
    "                         blocks of N latent frames through the key/value cache (as\n"
    "                         generate; default t2v.json causal_block); with --timesteps, --shift,\n"
    "                         --seed (the fresh noise when IN has no renoise.b0.k0, ...)\n"
    "  --causal-window F|off  causal stage: latent frames the cache keeps (as generate)\n"
    "  --causal-sink N        causal stage: latent frames never evicted (as generate)\n"
    "  --dump-level L         stage (default: the stage's output only); block: adds each block's\n"
    "                         output (dit and t5: blocks.N; vae-decode: every decoder layer under\n"
    "                         its official name); op (dit only): every op inside the blocks: norms,\n"
    "                         modulated inputs, q/k/v, their norms, RoPE, attention, projections,\n"
    "                         FFN, and the inputs bisect needs; sizes are printed before writing\n"
    "  --dump-blocks LIST     dit stage: only these blocks, e.g. 0,1,29 (default: all)\n"
    "  --names N              dit stage: official module paths (default) or diffusers\n"
    "  --threads N            threads (default: the physical cores)\n"
    "  --precision P          t5, dit, sampler, causal, vae-decode, vae-encode stages: fp32\n"
    "                         (default) or bf16 (see generate --help)\n"
    "  --force                overwrite OUT\n"
    "  -q, --quiet            no progress\n"
    "  -h, --help             this help\n";

static const char HELP_BISECT[] =
    "usage: t2v bisect THEIRS.safetensors [--model DIR] [--profile NAME] [--all]\n"
    "  THEIRS: another implementation's op-level dump of one DiT forward (tools/dump_hooks.py,\n"
    "  official or diffusers names). Every op of every dumped block is replayed in t2v from\n"
    "  THEIR inputs and compared with THEIR output; the first op outside the profile's op\n"
    "  bounds is reported with its formula and worst element. Exit 0: no wrong op; 1: one found\n"
    "\n"
    "bisect options:\n"
    "  --model DIR            the model THEIRS ran (default: the demo model)\n"
    "  --profile NAME         fp32 (default), tf32, bf16 or fp16: the precision THEIRS ran in\n"
    "  --profiles FILE        the profiles (default: golden/tolerances.json beside the binary)\n"
    "  --all                  print every op checked, not only the wrong one\n"
    "  --threads N            threads (default: all processors)\n"
    "  -h, --help             this help\n";

static const char HELP_PACK[] =
    "usage: t2v golden-pack -o PACK_DIR [--model DIR] [-W N -H N -f N] [--steps N] [--seed N] [options]\n"
    "  one generation written as a golden pack for another implementation's tests: one file\n"
    "  per stage (t5, dit, sampler, vae-decode) with that stage's inputs and outputs under the\n"
    "  names `t2v stage` uses, the tolerance profiles, and manifest.json (settings, tool\n"
    "  version, sha256 of the model files and of every tensor); tools/check_pack.py (NumPy\n"
    "  only) checks a port's outputs against it (docs/VERIFY.md)\n"
    "\n"
    "golden-pack options:\n"
    "  -o, --output DIR       the pack directory (required; created one level deep)\n"
    "  --model DIR            model directory (default: the demo model)\n"
    "  -p, --prompt TEXT      prompt (default: \"" "a red circle moving to the right" "\")\n"
    "  -n, --negative TEXT    negative prompt (default: the model's)\n"
    "  -W, -H, -f N           width, height, frames (default: the model's)\n"
    "  --seed N               noise seed (default 42)\n"
    "  --steps N              sampling steps, at most 60 (default: the model's)\n"
    "  --cfg G, --shift S, --sampler NAME   as generate\n"
    "  --profiles FILE        the profiles copied into the pack (default: golden/tolerances.json)\n"
    "  --threads N            threads (default: all processors)\n"
    "  --force                overwrite a pack in DIR\n"
    "  -q, --quiet            no progress\n"
    "  -h, --help             this help\n";

static const char HELP_COMPARE[] =
    "usage: t2v compare A.safetensors B.safetensors [--tol FILE | --profile NAME] [--subset]\n"
    "  the error of every tensor of A against the reference B; exit 0 when at least one\n"
    "  tensor is compared, every tensor of A is in B and all are within tolerance\n"
    "\n"
    "compare options:\n"
    "  --tol FILE             tolerances: lines 'PATTERN TOL MIN_COS' ('*' matches any run,\n"
    "                         the first matching line wins, '#' comments; default 1e-4 0.99999)\n"
    "  --profile NAME         fp32, tf32, bf16 or fp16: bounds on max|a-b|/rms and 1-cos per\n"
    "                         stage and tensor kind for a run in that precision (docs/VERIFY.md)\n"
    "  --profiles FILE        the profiles (default: golden/tolerances.json beside the binary)\n"
    "  --subset               tensors of A missing from B are skipped (listed), not a failure\n"
    "  -h, --help             this help\n";

static const char HELP_INFO[] =
    "usage: t2v info (--model DIR | --config config.json) [options]   model tree, parameters,\n"
    "                                                               FLOPs, memory\n"
    "       t2v info DIR                                  the same for a model directory\n"
    "       t2v info FILE.safetensors | FILE.pth          tensors\n"
    "       t2v info FILE.gguf                            GGUF: tensors, types (quantized ones\n"
    "                                                     with counts and bytes), metadata\n"
    "       t2v info FILE.png | FILE.mp4 | FILE.y4m | FILE.c2pa   Content Credentials: checks the\n"
    "                         C2PA manifest (signature, chain, hashes) and prints it, the verdict\n"
    "                         (valid / INVALID and why, exit 2 / none), and the PNG's provenance\n"
    "\n"
    "info options:\n"
    "  --model DIR            model directory\n"
    HELP_MODEL_FILES
    "  --config FILE          an official config.json alone (the official files' sizes)\n"
    "  -W, --width N          width (default: the model's)\n"
    "  -H, --height N         height\n"
    "  -f, --frames N         frames\n"
    "  --steps N              sampling steps\n"
    "  --cfg G                guidance scale (> 1: two DiT passes per step)\n"
    "  --cache KIND:THRESH    with a step cache: the DiT FLOPs as a range (which passes it skips\n"
    "                         is known only during the run); with --model and TeaCache, which\n"
    "                         decides from t alone, also the exact count for the model's schedule;\n"
    "                         MagCache decides from its ratios alone: the exact count always\n"
    "  --tokens L             prompt tokens (default: text_len)\n"
    "  -p, --prompt TEXT      count the prompt's tokens instead (needs --model)\n"
    "  --context-window F     context windows of F frames (default: the model's trained length)\n"
    "                         or off; shows the windows and the DiT FLOPs they cost\n"
    "  --context-overlap F    frames shared by neighbouring windows\n"
    "  --context-schedule S   uniform, static or chain (as generate)\n"
    "  --riflex K|auto|off    RIFLEx component (as generate)\n"
    "  --causal-block N       causal generation (as generate): blocks, the key/value cache's size\n"
    "                         and the block passes' FLOPs\n"
    "  --causal-window F|off  latent frames the cache keeps (as generate)\n"
    "  --causal-sink N        latent frames never evicted (as generate)\n"
    "  --ranks N              what each of N MPI ranks computes and sends (make MPI=1)\n"
    "  --full                 every layer, not only the first of each kind\n"
    "  -h, --help             this help\n";

static const char HELP_TOKENIZE[] =
    "usage: t2v tokenize (--model DIR | --tokenizer FILE) [--pieces] [--raw] [--] TEXT...\n"
    "  the ids of each TEXT, one line each (with --model cut to the model's text_len, as\n"
    "  generate cuts)\n"
    "\n"
    "tokenize options:\n"
    "  --model DIR            the model directory's tokenizer\n"
    "  --tokenizer FILE       a SentencePiece .model file\n"
    "  --pieces               print pieces instead of ids\n"
    "  --raw                  SentencePiece alone: no Wan cleaning, no cut, no EOS\n"
    "  -h, --help             this help\n";

static const char HELP_KEYGEN[] =
    "usage: t2v keygen [--dir DIR] [--force]\n"
    "  makes a local signing chain for the outputs' C2PA manifests: a self-signed EC P-256 root\n"
    "  and a signing certificate (digitalSignature; emailProtection, documentSigning), in\n"
    "  DIR (default $XDG_CONFIG_HOME/t2v, else ~/.config/t2v): c2pa-chain.pem, c2pa-key.pem\n"
    "  (mode 0600), c2pa-root.pem. Manifests signed with it are valid; their signer is\n"
    "  untrusted, as no trust list holds the root (docs/OUTPUTS.md)\n"
    "\n"
    "keygen options:\n"
    "  --dir DIR              where to write the files\n"
    "  --force                replace an existing key\n"
    "  -h, --help             this help\n";

static const char HELP_TAIL[] =
    "\n"
    "exit codes: 0 ok, 1 usage, 2 bad model or input file, 3 resources (memory, disk)\n";

/* Each command's help, in up to three literals printed one after the other. */
static const struct { const char *name, *text, *more, *last; } HELPS[] = {
    {"generate", HELP_GENERATE, HELP_GENERATE_OUTPUTS, HELP_GENERATE_FILES}, {"stage", HELP_STAGE, "", ""},
    {"compare", HELP_COMPARE, "", ""}, {"info", HELP_INFO, "", ""}, {"tokenize", HELP_TOKENIZE, "", ""},
    {"keygen", HELP_KEYGEN, "", ""}, {"bisect", HELP_BISECT, "", ""}, {"golden-pack", HELP_PACK, "", ""}};
enum { N_HELPS = sizeof HELPS / sizeof HELPS[0] };

static int help_index(const char *cmd) {
    for (int i = 0; i < N_HELPS; i++)
        if (!strcmp(cmd, HELPS[i].name)) return i;
    return -1;
}

void print_help(FILE *f) {
    fputs(HELP_HEAD, f);
    for (int i = 0; i < N_HELPS; i++) fprintf(f, "\n%s%s%s", HELPS[i].text, HELPS[i].more, HELPS[i].last);
    fputs(HELP_TAIL, f);
}

int command_help(const char *cmd) {
    int i = help_index(cmd);
    if (i < 0) return usage_error("no help for '%s'", cmd);
    fputs(HELPS[i].text, stdout);
    fputs(HELPS[i].more, stdout);
    fputs(HELPS[i].last, stdout);
    fputs(HELP_TAIL, stdout);
    return 0;
}

int is_help_opt(const char *a) { return !strcmp(a, "-h") || !strcmp(a, "--help"); }

int opt_in(const char *a, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(a, names[i])) return 1;
    return 0;
}

int bad_option(const char *cmd, const char *a, const char *const *value_opts) {
    char msg[200];
    if (opt_in(a, value_opts)) snprintf(msg, sizeof msg, "%s: option '%%s' needs a value", cmd);
    else snprintf(msg, sizeof msg, "%s: unknown option '%%s'", cmd);
    return usage_error(msg, a);
}

/* ----------------------------------------------------------------------------
 * Progress: a bar on a terminal, plain lines otherwise (see cli.h). */

void run_plan_for(RunPlan *plan, const ModelDesc *md, const ClipSize *s, int steps, double cfg) {
    memset(plan, 0, sizeof *plan);
    Flops f;
    cost_flops(md, s, &f);
    int passes = cfg > 1 ? 2 : 1;
    plan->items[PHASE_TEXT] = passes;
    plan->item_flops[PHASE_TEXT] = (double)f.t5;
    plan->items[PHASE_SAMPLING] = steps;
    plan->item_flops[PHASE_SAMPLING] = (double)passes * (double)f.dit;
    plan->items[PHASE_DECODE] = s->T;
    plan->item_flops[PHASE_DECODE] = s->T ? (double)f.vae_decode / s->T : 0;
}

void run_plan_windows(RunPlan *plan, const ModelDesc *md, const ClipSize *s, const SamplingSettings *ss) {
    const WindowSettings *ws = &ss->window;
    if (!window_active(ws, s->T) || plan->items[PHASE_SAMPLING] <= 0) return;
    long passes = window_passes(ws, s->T, ss->steps);
    ClipSize wc;
    Flops f, fw;
    cost_size(&wc, md, s->W, s->H, 1 + md->vae.scale_t * (ws->frames - 1), s->L);
    cost_flops(md, s, &f);
    cost_flops(md, &wc, &fw);
    if (passes > 0 && f.dit > 0)
        plan->item_flops[PHASE_SAMPLING] *= (double)fw.dit * passes / ((double)f.dit * ss->steps);
}

void run_plan_causal(RunPlan *plan, const ModelDesc *md, const ClipSize *s, const SamplingSettings *ss) {
    const CausalSettings *cs = &ss->causal;
    if (!cs->block || s->T % cs->block || plan->items[PHASE_SAMPLING] <= 0) return;
    int nb = s->T / cs->block, keys = causal_window_frames(cs, s->T); /* attention keys: at most the window */
    ClipSize bc;
    Flops fb;
    cost_size(&bc, md, s->W, s->H, 1 + md->vae.scale_t * (cs->block - 1), s->L);
    cost_flops(md, &bc, &fb);
    double pass = (double)fb.dit + (double)md->dit.num_layers * fb.self_attn * ((double)keys / cs->block - 1.0);
    plan->items[PHASE_SAMPLING] = nb * ss->steps; /* progress counts block steps */
    plan->item_flops[PHASE_SAMPLING] = pass * (ss->steps + 1.0) / ss->steps; /* + the clean pass */
}

void progress_init(Progress *p, int quiet) {
    memset(p, 0, sizeof *p);
    p->quiet = quiet;
    p->phase = -1;
    p->unit = "it";
}

void progress_start(Progress *p, const char *stage, int n) {
    p->stage = stage;
    p->n = n;
    p->enabled = !p->quiet && platform_stderr_is_tty();
    p->log = !p->quiet && !p->enabled;
    p->t0 = platform_now();
    if (p->enabled) fprintf(stderr, "\r%-14s 0/%d", stage, n), fflush(stderr);
}

/* Seconds left: this phase's items at the measured s/item; with a plan for
 * this phase, also the later phases' work at this phase's FLOP rate. */
static double progress_eta(const Progress *p, int k, double per_item) {
    double eta = per_item * (p->n - k);
    int ph = p->phase;
    const RunPlan *plan = &p->plan;
    if (ph < 0 || ph >= PHASE_COUNT || plan->item_flops[ph] <= 0 || per_item <= 0) return eta;
    double rate = plan->item_flops[ph] / per_item; /* FLOP/s */
    for (int q = ph + 1; q < PHASE_COUNT; q++) eta += plan->items[q] * plan->item_flops[q] / rate;
    return eta;
}

void progress_update(Progress *p, int k) {
    if (!p->enabled && !p->log) return;
    double el = platform_now() - p->t0, per = k ? el / k : 0, eta = progress_eta(p, k, per);
    int min = (int)(eta / 60), sec = (int)fmod(eta, 60);
    if (p->log) {
        fprintf(stderr, "t2v: %s %s %d/%d  %.2f s/%s  ETA %d:%02d\n", p->stage, p->unit, k, p->n, per, p->unit, min,
                sec);
        fflush(stderr);
        return;
    }
    int w = 24, fill = p->n ? (int)((double)w * k / p->n) : w;
    char bar[32];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
    bar[w] = 0;
    fprintf(stderr, "\r%-14s [%s] %d/%d  %.2f s/%s  ETA %d:%02d   ", p->stage, bar, k, p->n, per, p->unit, min, sec);
    if (k == p->n) fprintf(stderr, "(%.1f s)\n", el);
    fflush(stderr);
}

void progress_watch(void *user, PipelinePhase phase, int k, int n) {
    static const char *const units[PHASE_COUNT] = {"prompt", "step", "chunk"};
    Progress *p = (Progress *)user;
    if (k == 0) {
        p->phase = (int)phase;
        p->unit = phase >= 0 && phase < PHASE_COUNT ? units[phase] : "it";
        progress_start(p, pipeline_phase_name(phase), n);
    }
    p->n = n;
    if (k > 0) progress_update(p, k);
}

/* ----------------------------------------------------------------------------
 * Checks and warnings before a generation */

int warn_prompt_cut(const Model *m, const char *what, const char *text, T2vError *err) {
    if (!text || !*text || !m->has_dit) return T2V_OK;
    Tokenizer tk;
    int rc = model_load_tokenizer(m, &tk, err);
    if (rc) return rc;
    int32_t *ids = NULL;
    int n = 0, text_len = m->dit.text_len;
    /* the Wan encoding without the cut: every piece, then EOS */
    rc = tokenizer_encode_wan(&tk, text, INT_MAX, &ids, &n, err);
    if (!rc && n > text_len)
        fprintf(stderr, "t2v: warning: the %s has %d tokens; the model reads the first %d (text_len %d in %s, "
                "the last being the end-of-text token); the rest is ignored\n", what, n - 1, text_len - 1, text_len,
                m->paths.config ? m->paths.config : "config.json");
    free(ids);
    tokenizer_free(&tk);
    return rc;
}

void warn_size(const Model *m, int W, int H, int F) {
    const ModelDefaults *d = &m->defaults;
    const char *src = m->paths.defaults ? m->paths.defaults : "Wan2.1's defaults";
    const char *names[3] = {"width", "height", "frame count"};
    int got[3] = {W, H, F}, def[3] = {d->width, d->height, d->frames};
    for (int i = 0; i < 3; i++) {
        if (def[i] <= 0) continue;
        if (got[i] > 2 * (double)def[i] || 2 * (double)got[i] < def[i])
            fprintf(stderr, "t2v: warning: %s %d is more than 2x %s the model's default %d (%s); a model does "
                    "poorly far from the sizes it was trained on\n", names[i], got[i],
                    got[i] > def[i] ? "above" : "below", def[i], src);
    }
}

/* dir's parent ("." for a name without a slash). */
static void parent_dir(const char *dir, char *out, size_t n) {
    snprintf(out, n, "%s", dir);
    size_t k = strlen(out);
    while (k > 1 && out[k - 1] == '/') out[--k] = 0; /* "a/b/" -> "a/b" */
    char *slash = strrchr(out, '/');
    if (!slash) snprintf(out, n, ".");
    else if (slash == out) out[1] = 0; /* "/x" -> "/" */
    else *slash = 0;
}

int check_option_dir(const char *opt, const char *dir, int *create, T2vError *err) {
    *create = 0;
    if (platform_is_dir(dir)) return T2V_OK;
    if (platform_file_exists(dir))
        return t2v_fail(err, T2V_ERESOURCE, "%s: %s exists and is not a directory", opt, dir);
    char parent[1100];
    parent_dir(dir, parent, sizeof parent);
    if (!platform_is_dir(parent))
        return t2v_fail(err, T2V_ERESOURCE, "%s: cannot create directory %s: its parent %s does not exist", opt, dir,
                        parent);
    *create = 1;
    return T2V_OK;
}

int make_option_dir(const char *opt, const char *dir, int quiet, T2vError *err) {
#if defined(_WIN32)
    int rc = _mkdir(dir);
#else
    int rc = mkdir(dir, 0777);
#endif
    if (rc && !platform_is_dir(dir))
        return t2v_fail(err, T2V_ERESOURCE, "%s: cannot create directory %s: %s", opt, dir, strerror(errno));
    if (!quiet) fprintf(stderr, "t2v: created directory %s for %s\n", dir, opt);
    return T2V_OK;
}

/* ----------------------------------------------------------------------------
 * The default model directory */

/* The directory of the running binary (no trailing slash); 0 when unknown. */
static int exe_dir(const char *argv0, char *out, size_t n) {
    char path[4096] = "";
#if defined(__linux__)
    ssize_t k = readlink("/proc/self/exe", path, sizeof path - 1);
    path[k > 0 ? k : 0] = 0;
#endif
#if !defined(_WIN32)
    if (!*path && argv0 && strchr(argv0, '/')) {
        char *r = realpath(argv0, NULL);
        if (r && strlen(r) < sizeof path) strcpy(path, r);
        free(r);
    }
    if (!*path && argv0 && *argv0) { /* found on PATH */
        const char *env = getenv("PATH");
        while (env && *env && !*path) {
            const char *colon = strchr(env, ':');
            size_t len = colon ? (size_t)(colon - env) : strlen(env);
            char cand[4096];
            if (len && len + strlen(argv0) + 2 < sizeof cand) {
                snprintf(cand, sizeof cand, "%.*s/%s", (int)len, env, argv0);
                if (access(cand, X_OK) == 0) {
                    char *r = realpath(cand, NULL);
                    if (r && strlen(r) < sizeof path) strcpy(path, r);
                    free(r);
                }
            }
            env = colon ? colon + 1 : NULL;
        }
    }
#else
    if (argv0) snprintf(path, sizeof path, "%s", argv0);
    for (char *c = path; *c; c++)
        if (*c == '\\') *c = '/';
#endif
    char *slash = strrchr(path, '/');
    if (!slash) return 0;
    *slash = 0;
    snprintf(out, n, "%s", *path ? path : "/");
    return 1;
}

void default_model_path(const char *argv0, char *default_model, size_t n) {
    char dir[4096];
    snprintf(default_model, n, "models/demo");
    if (!exe_dir(argv0, dir, sizeof dir)) return;
    const char *const rel[] = {"/../models/demo", "/../share/t2v/models/demo"};
    for (int i = 0; i < 2; i++) {
        char cand[4200], config[4300];
        snprintf(cand, sizeof cand, "%s%s", dir, rel[i]);
        snprintf(config, sizeof config, "%s/config.json", cand);
        if (!platform_file_exists(config)) continue;
#if !defined(_WIN32)
        /* the same directory as ./models/demo keeps that short name (outputs record it) */
        char *a = realpath(cand, NULL), *b = realpath("models/demo", NULL);
        int same = a && b && !strcmp(a, b);
        if (a && !same && strlen(a) < n) strcpy(default_model, a);
        else if (!same) snprintf(default_model, n, "%s", cand);
        free(a);
        free(b);
#else
        snprintf(default_model, n, "%s", cand);
#endif
        return;
    }
}

void default_tolerances_path(const char *argv0, char *out, size_t n) {
    char dir[4096];
    snprintf(out, n, "golden/tolerances.json");
    if (!exe_dir(argv0, dir, sizeof dir)) return;
    const char *const rel[] = {"/../golden/tolerances.json", "/../../golden/tolerances.json",
                               "/../share/t2v/tolerances.json"};
    for (int i = 0; i < 3; i++) {
        char cand[4200];
        snprintf(cand, sizeof cand, "%s%s", dir, rel[i]);
        if (platform_file_exists(cand)) { snprintf(out, n, "%s", cand); return; }
    }
}

/* ----------------------------------------------------------------------------
 * Small parsing helpers */

int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

int parse_u64(const char *s, unsigned long long *out) {
    char *end;
    errno = 0;
    if (*s == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

/* Reads a safetensors tensor as a new fp32 array, checking rank (and dims
 * when shape[i] >= 0). */
float *read_f32(const SafeTensors *st, const char *name, int ndim, const int64_t *shape, Tensor *info,
                       T2vError *err) {
    const Tensor *t = tl_find(&st->tensors, name);
    if (!t) {
        t2v_fail(err, T2V_EINPUT, "%s: tensor '%s' is missing", st->path, name);
        return NULL;
    }
    int ok = t->ndim == ndim && dtype_is_float(t->dtype);
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || shape[i] == t->shape[i];
    if (!ok) {
        char got[128];
        t2v_fail(err, T2V_EINPUT, "%s: tensor '%s' has %s %s, expected a float tensor of rank %d", st->path, name,
                 dtype_name(t->dtype), shape_str(t, got, sizeof got), ndim);
        return NULL;
    }
    if (info) *info = *t;
    return tensor_to_f32_alloc(t, err);
}


/* "1000,750.5,500" -> values, strictly decreasing in (0, 1000]; 0 ok, -1 bad. */
static int parse_listed(const char *v, double *out, int *n) {
    char buf[16384];
    if (strlen(v) >= sizeof buf) return -1;
    strcpy(buf, v);
    *n = 0;
    for (char *save = buf, *tok; (tok = strtok(save, ",")); save = NULL) {
        double x;
        if (*n == T2V_MAX_STEPS || parse_double(tok, &x) || !(x > 0 && x <= 1000) || (*n && !(x < out[*n - 1])))
            return -1;
        out[(*n)++] = x;
    }
    return *n && v[0] != ',' && !strstr(v, ",,") && v[strlen(v) - 1] != ',' ? 0 : -1;
}

/* --context-window, --context-overlap, --context-schedule, --riflex: as
 * parse_sampling_opt. */
static int parse_long_video_opt(SamplingOpts *s, const char *a, const char *v) {
    long iv;
    if (!strcmp(a, "--context-window")) {
        if (!strcmp(v, "off")) iv = 0;
        else if (parse_int(v, 1, 1 << 20, &iv))
            return -usage_error("--context-window must be a frame count or off, not '%s'", v);
        s->ctx_window = (int)iv, s->have_ctx_window = 1;
    } else if (!strcmp(a, "--context-overlap")) {
        if (parse_int(v, 0, 1 << 20, &iv)) return -usage_error("--context-overlap must be a frame count, not '%s'", v);
        s->ctx_overlap = (int)iv, s->have_ctx_overlap = 1;
    } else if (!strcmp(a, "--context-schedule")) {
        if (window_schedule_parse(v, &s->ctx_schedule))
            return -usage_error("--context-schedule must be " WINDOW_SCHEDULE_NAMES ", not '%s'", v);
        s->have_ctx_schedule = 1;
    } else if (!strcmp(a, "--causal-block")) {
        if (parse_int(v, 0, 1024, &iv))
            return -usage_error("--causal-block must be latent frames in 1..1024, or 0 (not causal), not '%s'", v);
        s->causal_block = (int)iv, s->have_causal_block = 1;
    } else if (!strcmp(a, "--causal-window")) {
        if (!strcmp(v, "off")) iv = 0;
        else if (parse_int(v, 1, 1024, &iv))
            return -usage_error("--causal-window must be latent frames in 1..1024 or off, not '%s'", v);
        s->causal_window = (int)iv, s->have_causal_window = 1;
    } else if (!strcmp(a, "--causal-sink")) {
        if (parse_int(v, 0, 1024, &iv)) return -usage_error("--causal-sink must be latent frames in 0..1024, not '%s'", v);
        s->causal_sink = (int)iv, s->have_causal_sink = 1;
    } else if (!strcmp(a, "--riflex")) {
        if (!strcmp(v, "auto")) iv = -1;
        else if (!strcmp(v, "off")) iv = 0;
        else if (parse_int(v, 1, 64, &iv))
            return -usage_error("--riflex must be a component number (1..64), auto or off, not '%s'", v);
        s->riflex = (int)iv, s->have_riflex = 1;
    } else {
        return 0;
    }
    return 1;
}

Dist *app_dist(App *app) {
    return app->dist.size > 1 ? &app->dist : NULL;
}

void app_report_dist(const Dist *d) {
    if (d) fprintf(stderr, "t2v: rank %d of %d: %lld bytes sent, %.2f s in MPI exchanges\n", d->rank, d->size,
                   (long long)d->bytes_sent, d->mpi_s);
}

int parse_sampling_opt(SamplingOpts *s, const char *a, const char *v) {
    long iv;
    SamplerKind kind;
    if (!strcmp(a, "--steps")) {
        if (parse_int(v, 1, 1000, &iv)) return -usage_error("--steps must be an integer in 1..1000, not '%s'", v);
        s->settings.steps = (int)iv, s->have_steps = 1;
    } else if (!strcmp(a, "--cfg")) { /* G, or HIGH,LOW: the A14B experts' (text2video.py's guide pair) */
        char hi[64];
        const char *comma = strchr(v, ',');
        size_t nh = comma ? (size_t)(comma - v) : strlen(v);
        if (nh >= sizeof hi) return -usage_error("--cfg takes G or HIGH,LOW, not '%s'", v);
        memcpy(hi, v, nh), hi[nh] = 0;
        s->settings.cfg_low = -1;
        if (parse_double(hi, &s->settings.cfg) || (comma && parse_double(comma + 1, &s->settings.cfg_low)) ||
            s->settings.cfg < 0 || s->settings.cfg > 100 || (comma && (s->settings.cfg_low < 0 ||
            s->settings.cfg_low > 100)))
            return -usage_error("--cfg takes G or HIGH,LOW, numbers in [0, 100], not '%s'", v);
        if (!comma) s->settings.cfg_low = s->settings.cfg; /* one G: both experts, as sample_guide_scale */
        s->have_cfg = 1, s->have_cfg_pair = comma != NULL;
    } else if (!strcmp(a, "--boundary")) {
        if (parse_double(v, &s->settings.boundary) || !(s->settings.boundary >= 0 && s->settings.boundary <= 1))
            return -usage_error("--boundary must be a number in [0, 1], not '%s'", v);
        s->have_boundary = 1;
    } else if (!strcmp(a, "--shift")) {
        if (parse_double(v, &s->settings.shift) || s->settings.shift <= 0 || s->settings.shift > 1000)
            return -usage_error("--shift must be a number in (0, 1000], not '%s'", v);
        s->have_shift = 1;
    } else if (!strcmp(a, "--sampler")) {
        if (sampler_kind_from_name(v, &kind))
            return -usage_error("--sampler must be unipc, euler or distill, not '%s'", v);
        s->settings.sampler = kind, s->have_sampler = 1;
    } else if (!strcmp(a, "--timesteps")) {
        if (parse_listed(v, s->listed, &s->n_listed))
            return -usage_error("--timesteps takes 1..1000 comma-separated numbers in (0, 1000], strictly "
                                "decreasing (e.g. 1000,750,500,250), not '%s'", v);
    } else if (!strcmp(a, "--cache")) {
        T2vError e = {0, {0}};
        if (cache_parse(v, &s->settings.cache, &e)) return -usage_error("%s", e.msg);
    } else if (!strcmp(a, "--threads")) {
        if (parse_int(v, 1, 1024, &iv)) return -usage_error("--threads must be an integer in 1..1024, not '%s'", v);
        s->threads = (int)iv;
    } else if (!strcmp(a, "--precision")) {
        if (precision_from_name(v, &s->settings.precision))
            return -usage_error("--precision must be fp32 or bf16, not '%s'", v);
    } else {
        return parse_long_video_opt(s, a, v);
    }
    return 1;
}

int long_video_settings(SamplingOpts *s, const Model *m, int T, T2vError *err) {
    SamplingSettings *ss = &s->settings;
    VaeConfig vd;
    vae_default_config(&vd);
    int st = m->has_vae ? m->vae.scale_t : vd.scale_t;
    int win = s->have_ctx_window ? s->ctx_window : m->defaults.context_window;
    int ov = s->have_ctx_overlap ? s->ctx_overlap : m->defaults.context_overlap;
    int trained = (m->defaults.context_window - 1) / st + 1; /* latent frames */
    memset(&ss->window, 0, sizeof ss->window);
    memset(&ss->causal, 0, sizeof ss->causal);
    ss->riflex_k = 0;
    if (s->causal_block) { /* block by block through a rolling key/value cache (causal.h) */
        if ((s->have_ctx_window && win > 0) || (s->have_riflex && s->riflex > 0))
            return t2v_fail(err, T2V_EUSAGE, "--causal-block: no --context-window or --riflex (the key/value cache "
                            "rolls instead)");
        CausalSettings cs = {s->causal_block, s->have_causal_window ? s->causal_window : trained, s->causal_sink, 0.0f};
        ss->causal = cs;
        return pipeline_causal_check(ss, T, err);
    }
    if (win > 0) {
        ss->window = window_from_video(win, ov, st, s->have_ctx_schedule ? s->ctx_schedule
                                                                          : m->defaults.context_schedule);
        if (ss->window.overlap >= ss->window.frames)
            return t2v_fail(err, T2V_EUSAGE, "--context-overlap %d frames (%d latent) must be shorter than the "
                            "context window of %d frames (%d latent)", ov, ss->window.overlap, win, ss->window.frames);
        if (window_chained(&ss->window, T) && m->defaults.context_schedule != WINDOW_CHAIN)
            fprintf(stderr, "t2v: warning: --context-schedule chain: %s does not name it; the chain needs a DiT "
                    "trained to continue the frames it holds (docs/ARCHITECTURE.md, 10b)\n",
                    m->paths.defaults ? m->paths.defaults : "the model's t2v.json");
    }
    int head = m->dit.dim / m->dit.num_heads, ct = (head - 4 * (head / 6)) / 2;
    if (s->have_riflex && s->riflex > 0) {
        if (s->riflex > ct)
            return t2v_fail(err, T2V_EUSAGE, "--riflex %d: the DiT's time axis has %d RoPE components", s->riflex, ct);
        ss->riflex_k = s->riflex;
    } else if ((!s->have_riflex || s->riflex < 0) && !window_active(&ss->window, T) && T > trained) {
        ss->riflex_k = dit_riflex_default_k(head, trained);
    }
    return T2V_OK;
}

void long_video_note(const SamplingSettings *s, int T) {
    if (s->causal.block)
        fprintf(stderr, "t2v: causal: %d latent frames in blocks of %d, key/value cache of %d latent frames (%d sink)\n",
                T, s->causal.block, causal_window_frames(&s->causal, T), s->causal.sink);
    if (window_active(&s->window, T))
        fprintf(stderr, "t2v: %d latent frames in %s context windows of %d, overlap %d\n", T,
                window_schedule_name(s->window.schedule), s->window.frames, s->window.overlap);
    if (s->riflex_k)
        fprintf(stderr, "t2v: RIFLEx: time RoPE component %d at 0.9 x 2 pi / %d latent frames\n", s->riflex_k, T);
}

int sampling_defaults(SamplingOpts *s, const ModelDefaults *d, T2vError *err) {
    if (s->n_listed && s->have_steps && s->settings.steps != s->n_listed)
        return t2v_fail(err, T2V_EUSAGE, "--steps %d and --timesteps with %d values disagree (give one)",
                        s->settings.steps, s->n_listed);
    s->settings.timesteps = s->n_listed ? s->listed : NULL;
    if (s->n_listed) s->settings.steps = s->n_listed, s->have_steps = 1;
    if (!s->have_steps) s->settings.steps = d->steps;
    if (!s->have_cfg) s->settings.cfg = d->cfg, s->settings.cfg_low = d->cfg_low;
    if (!s->have_boundary) s->settings.boundary = d->boundary;
    if (!s->have_shift) s->settings.shift = d->shift;
    if (!s->have_sampler && sampler_kind_from_name(d->sampler, &s->settings.sampler))
        return t2v_fail(err, T2V_EINPUT, "model defaults: unknown sampler '%s'", d->sampler);
    if (!s->have_causal_block) s->causal_block = d->causal_block; /* t2v.json: a causal student */
    if (!s->have_causal_window && d->causal_window) s->causal_window = d->causal_window, s->have_causal_window = 1;
    if (!s->have_causal_sink) s->causal_sink = d->causal_sink;
    if (s->causal_block && !s->have_sampler) s->settings.sampler = SAMPLER_DISTILL; /* causal students: x0, renoised */
    if (s->causal_block && !s->have_cfg) s->settings.cfg = s->settings.cfg_low = 1.0; /* ... unguided */
    if (!s->n_listed) return T2V_OK;
    /* the listed schedule's rules for this sampler and shift, before any work */
    double sig[T2V_MAX_STEPS + 1];
    float ts[T2V_MAX_STEPS];
    return sampler_schedule_listed(s->settings.sampler, s->listed, s->n_listed, s->settings.shift, sig, ts, err);
}

/* ----------------------------------------------------------------------------
 * TensorSet */

static int tset_add(TensorSet *s, const char *name, const void *x, int i32, int ndim, const int64_t *shape,
                    T2vError *err) {
    if (strlen(name) >= sizeof s->names[0]) return t2v_fail(err, T2V_EUSAGE, "tensor name '%s' is too long", name);
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        Tensor *t = (Tensor *)realloc(s->t, (size_t)cap * sizeof *t);
        if (t) s->t = t;
        char(*names)[64] = realloc(s->names, (size_t)cap * sizeof *names);
        if (names) s->names = names;
        if (!t || !names) return t2v_fail(err, T2V_ERESOURCE, "out of memory collecting output tensors");
        s->cap = cap;
    }
    int rc = i32 ? tensor_from_i32(&s->t[s->n], (const int32_t *)x, ndim, shape, err)
                 : tensor_from_f32(&s->t[s->n], (const float *)x, ndim, shape, err);
    if (rc) return rc;
    strcpy(s->names[s->n++], name);
    return T2V_OK;
}

int tset_add_f32(TensorSet *s, const char *name, const float *x, int ndim, const int64_t *shape, T2vError *err) {
    return tset_add(s, name, x, 0, ndim, shape, err);
}

int tset_add_i32(TensorSet *s, const char *name, const int32_t *x, int ndim, const int64_t *shape, T2vError *err) {
    return tset_add(s, name, x, 1, ndim, shape, err);
}

int tset_write(const TensorSet *s, const char *path, const char *const *meta_keys, const char *const *meta_values,
               int nmeta, T2vError *err) {
    StItem *items = (StItem *)t2v_malloc(((size_t)s->n + 1) * sizeof *items, "output tensors", err);
    if (!items) return T2V_ERESOURCE;
    for (int i = 0; i < s->n; i++) items[i] = (StItem){s->names[i], &s->t[i]};
    int rc = st_write(path, items, s->n, meta_keys, meta_values, nmeta, err);
    free(items);
    return rc;
}

void tset_free(TensorSet *s) {
    for (int i = 0; i < s->n; i++) tensor_free(&s->t[i]);
    free(s->t);
    free(s->names);
    memset(s, 0, sizeof *s);
}
