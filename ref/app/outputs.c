/* outputs.c: see outputs.h. */
#include "outputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int outputs_add(OutputPlan *p, const char *what, const char *path, double bytes, T2vError *err) {
    if (strlen(path) >= OUT_PATH) return t2v_fail(err, T2V_EUSAGE, "%s: path too long: %s", what, path);
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        char(*name)[OUT_PATH] = realloc(p->name, (size_t)cap * sizeof *name);
        if (name) p->name = name;
        const char **w = (const char **)realloc((void *)p->what, (size_t)cap * sizeof *w);
        if (w) p->what = w;
        if (!name || !w) return t2v_fail(err, T2V_ERESOURCE, "out of memory planning the outputs");
        p->cap = cap;
    }
    strcpy(p->name[p->n], path);
    p->what[p->n++] = what;
    p->bytes += bytes;
    return T2V_OK;
}

/* -o's base: OUT, or a frame pattern's prefix; refuses "" and "DIR/". */
static int plan_base(OutputPlan *p, const char *output, T2vError *err) {
    size_t len = strlen(output);
    if (!len) return t2v_fail(err, T2V_EUSAGE, "-o: empty output name (give a base name such as out/clip)");
    if (output[len - 1] == '/' || platform_is_dir(output))
        return t2v_fail(err, T2V_EUSAGE, "-o %s: a directory; give a base name in it, such as %s%sclip", output,
                        output, output[len - 1] == '/' ? "" : "/");
    if (len >= sizeof p->base - 16) return t2v_fail(err, T2V_EUSAGE, "-o: path too long");
    const char *pct = strchr(output, '%');
    if (pct) {
        size_t k = (size_t)(pct - output);
        memcpy(p->base, output, k);
        p->base[k] = 0;
        while (k && (p->base[k - 1] == '_' || p->base[k - 1] == '-')) p->base[--k] = 0;
        if (!k || p->base[k - 1] == '/') snprintf(p->base + k, sizeof p->base - k, "t2v");
        snprintf(p->frames, sizeof p->frames, "%s", output);
    } else {
        snprintf(p->base, sizeof p->base, "%s", output);
        size_t k = strlen(p->base);
        if (k > 4 && !strcmp(p->base + k - 4, ".png")) p->base[k - 4] = 0;
        snprintf(p->frames, sizeof p->frames, "%s_%%04d.png", p->base);
    }
    const char *file = strrchr(p->base, '/');
    if (!*(file ? file + 1 : p->base)) return t2v_fail(err, T2V_EUSAGE, "-o %s: no file name", output);
    return T2V_OK;
}

int outputs_plan(OutputPlan *p, const char *output, int formats, int F, int H, int W, T2vError *err) {
    memset(p, 0, sizeof *p);
    p->formats = formats, p->nframes = F;
    int rc = plan_base(p, output, err);
    if (rc) return rc;
    snprintf(p->apng, sizeof p->apng, "%s.png", p->base);
    snprintf(p->sheet, sizeof p->sheet, "%s_sheet.png", p->base);
    snprintf(p->y4m, sizeof p->y4m, "%s.y4m", p->base);
    snprintf(p->mp4, sizeof p->mp4, "%s.mp4", p->base);
    snprintf(p->sidecar, sizeof p->sidecar, "%s.json", p->base);
    snprintf(p->c2pa, sizeof p->c2pa, "%s.c2pa", p->base);
    /* sizes: raw RGB bounds what PNG (deflate) and MP4 store, plus headers */
    const double frame = 3.0 * H * W + 4096, nsheet = F < 8 ? F : 8;
    if (formats & FMT_APNG) rc = outputs_add(p, "-o", p->apng, F * frame, err);
    if (!rc && (formats & FMT_SHEET)) rc = outputs_add(p, "-o", p->sheet, nsheet * frame, err);
    if (!rc && (formats & FMT_Y4M)) rc = outputs_add(p, "-o", p->y4m, F * (1.5 * H * W + 6) + 64, err);
    if (!rc && (formats & FMT_Y4M) && (formats & FMT_C2PA)) rc = outputs_add(p, "-o", p->c2pa, 65536, err);
    if (!rc && (formats & FMT_MP4)) rc = outputs_add(p, "-o", p->mp4, F * frame, err);
    for (int f = 0; !rc && (formats & FMT_PNG) && f < F; f++) {
        char name[OUT_PATH];
        if (!(rc = video_frame_name(p->frames, f, name, sizeof name, err))) rc = outputs_add(p, "-o", name, frame, err);
    }
    if (!rc) rc = outputs_add(p, "-o", p->sidecar, 4096 + 128.0 * p->n, err); /* the sidecar last */
    return rc;
}

/* The directory part of path ("." when none). */
static void dir_of(const char *path, char *dir, size_t len) {
    snprintf(dir, len, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, len, ".");
    else if (slash == dir) slash[1] = 0;
    else *slash = 0;
}

/* Names the previous run's sidecar lists that this run does not write:
 * plain names (no '/') in the sidecar's directory starting with OUT's file
 * name, so a stray or edited sidecar cannot name other files. */
static int read_old_set(OutputPlan *p, T2vError *err) {
    T2vError ignored = {0, {0}};
    JsonValue *j = read_json_file(p->sidecar, &ignored); /* unreadable: nothing to remove, nothing lost */
    char dir[OUT_PATH];
    const JsonValue *outs = j ? json_get(j, "outputs") : NULL;
    const char *stem = strrchr(p->base, '/') ? strrchr(p->base, '/') + 1 : p->base;
    dir_of(p->sidecar, dir, sizeof dir);
    int rc = T2V_OK;
    for (size_t i = 0; outs && outs->type == JSON_ARRAY && i < outs->len && !rc; i++) {
        const JsonValue *f = json_get(&outs->items[i], "file");
        if (!f || f->type != JSON_STRING || strchr(f->string, '/') || strncmp(f->string, stem, strlen(stem))) continue;
        char path[OUT_PATH];
        if (snprintf(path, sizeof path, "%s/%s", dir, f->string) >= (int)sizeof path) continue;
        int again = 0;
        for (int k = 0; k < p->n && !again; k++) again = !strcmp(p->name[k], path);
        if (again || !platform_file_exists(path)) continue;
        char(*old)[OUT_PATH] = realloc(p->old, ((size_t)p->nold + 1) * sizeof *old);
        if (!old) rc = t2v_fail(err, T2V_ERESOURCE, "out of memory");
        else strcpy((p->old = old)[p->nold++], path);
    }
    json_free(j);
    return rc;
}

/* Before any work: the refusals of outputs.h. */
int outputs_check(OutputPlan *p, int force, T2vError *err) {
    char last[OUT_PATH] = "";
    for (int i = 0; i < p->n; i++) {
        for (int k = 0; k < i; k++)
            if (!strcmp(p->name[i], p->name[k]))
                return t2v_fail(err, T2V_EUSAGE, "%s and %s both name %s: choose other names", p->what[k],
                                p->what[i], p->name[i]);
        char dir[OUT_PATH];
        dir_of(p->name[i], dir, sizeof dir);
        if (!platform_is_dir(dir))
            return t2v_fail(err, T2V_ERESOURCE, "%s: directory %s does not exist (create it, or choose %s)",
                            p->what[i], dir, p->what[i]);
        if (platform_is_dir(p->name[i]))
            return t2v_fail(err, T2V_EUSAGE, "%s: %s is a directory, expected a file name", p->what[i], p->name[i]);
        if (!force && platform_file_exists(p->name[i]))
            return t2v_fail(err, T2V_EUSAGE, "%s exists; pass --force to overwrite it", p->name[i]);
        if (!strcmp(dir, last)) continue;
        snprintf(last, sizeof last, "%s", dir);
        /* a trial write per directory, so an unwritable one is refused now */
        char probe[OUT_PATH + 16];
        snprintf(probe, sizeof probe, "%s.t2v-probe", p->name[i]);
        FILE *f = fopen(probe, "wb");
        if (!f) return t2v_fail(err, T2V_ERESOURCE, "cannot write %s: %s is not writable", p->name[i], dir);
        fclose(f);
        remove(probe);
        double avail = platform_disk_free(dir);
        if (avail >= 0 && avail < p->bytes)
            return t2v_fail(err, T2V_ERESOURCE, "%s has %.1f MB free; the outputs need up to %.1f MB", dir,
                            avail / 1e6, p->bytes / 1e6);
    }
    return force && platform_file_exists(p->sidecar) ? read_old_set(p, err) : T2V_OK;
}

void outputs_remove_old(const OutputPlan *p) {
    for (int i = 0; i < p->nold; i++) remove(p->old[i]);
}

void outputs_free(OutputPlan *p) {
    free(p->name);
    free((void *)p->what);
    free(p->old);
    memset(p, 0, sizeof *p);
}
