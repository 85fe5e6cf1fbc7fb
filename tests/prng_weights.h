/*
 * prng_weights.h: the weights of the VAE goldens (tools/golden_vae.py,
 * tools/golden_vae22.py), which are not committed: every tensor is made from
 * the PRNG of harness.h, seeded per tensor by name, as listed in the
 * golden's metadata ("weights": "name d0,d1,.. e offset;...", "seed").
 * Include after harness.h.
 */
#ifndef T2V_PRNG_WEIGHTS_H
#define T2V_PRNG_WEIGHTS_H

static uint64_t fnv1a64(const char *s) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ULL;
    return h;
}

/* value = offset + 2^e * u, rounded to fp32 (as tools/golden_vae.py). */
static int make_weights(TensorList *tl, const SafeTensors *st, DType dt) {
    const char *list = st_meta(st, "weights"), *seed_s = st_meta(st, "seed");
    T2vError e = {0, {0}};
    if (!list || !seed_s) {
        h_report(0, "%s: metadata 'weights'/'seed' missing (re-run `make golden`)", st->path);
        return 0;
    }
    uint64_t base = strtoull(seed_s, NULL, 10);
    memset(tl, 0, sizeof *tl);
    char *copy = malloc(strlen(list) + 1);
    strcpy(copy, list);
    int ok = 1;
    for (char *save = NULL, *ent = strtok_r(copy, ";", &save); ent && ok; ent = strtok_r(NULL, ";", &save)) {
        char name[128], dims[64];
        int ex, off;
        if (sscanf(ent, "%127s %63s %d %d", name, dims, &ex, &off) != 4) { ok = 0; break; }
        Tensor t;
        int64_t shape[8];
        int nd = 0;
        for (char *d = dims; *d && nd < 8; nd++) {
            shape[nd] = strtoll(d, &d, 10);
            if (*d == ',') d++;
        }
        if (tensor_alloc(&t, dt, nd, shape, &e)) { ok = 0; break; }
        int64_t n = tensor_numel(&t);
        float *v = malloc(sizeof(float) * (size_t)n);
        prng_fill(base ^ fnv1a64(name), v, n, ldexpf(1.0f, ex));
        for (int64_t i = 0; i < n; i++) {
            float x = (float)((double)off + (double)v[i]);
            if (dt == DT_F32) wr_u32le((float *)t.data + i, f32_to_bits(x)); /* LE bytes */
            else wr_u16le((uint16_t *)t.data + i, f32_to_bf16(x));
        }
        free(v);
        if (tl_add(tl, name, &t, "prng", &e)) ok = 0;
    }
    free(copy);
    if (!ok) h_report(0, "building PRNG weights from %s: %s", st->path, e.msg);
    return ok;
}

#endif
