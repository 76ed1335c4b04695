#include "checkpoint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"

int meta_set(Meta *m, const char *key, const char *fmt, ...) {
    int i = 0;
    while (i < m->n && strcmp(m->keys[i], key)) i++;
    if (i == META_MAX) return err_set("checkpoint metadata: more than %d keys", META_MAX);
    if (strlen(key) >= sizeof m->keys[0]) return err_set("checkpoint metadata: key too long: %s", key);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->vals[i], META_VAL_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= META_VAL_MAX) return err_set("checkpoint metadata: value of '%s' too long", key);
    strcpy(m->keys[i], key);
    if (i == m->n) m->n++;
    return 0;
}

const char *meta_get(const Meta *m, const char *key) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->keys[i], key)) return m->vals[i];
    return NULL;
}

// Up to 3 suffixed copies of every parameter name; names live in one flat table.
static int save_tables(const char *path, const ParamSet *ps, const float *const *blocks,
                       const char *const *suffixes, int nblocks, const Meta *meta) {
    int n = ps->count * nblocks;
    // (n + 1: calloc(0) may return NULL, and a file with no tensors is valid.)
    StWriteTensor *t = calloc((size_t)n + 1, sizeof *t);
    int64_t *shapes = calloc(((size_t)n + 1) * TENSOR_MAX_DIMS, sizeof *shapes);
    char *names = calloc((size_t)n + 1, PARAM_NAME_MAX + 16);
    const char *keys[META_MAX], *vals[META_MAX];
    if (!t || !shapes || !names) {
        free(t);
        free(shapes);
        free(names);
        return err_set("%s: out of memory", path);
    }
    for (int b = 0; b < nblocks; b++) {
        for (int i = 0; i < ps->count; i++) {
            int k = b * ps->count + i;
            const ParamInfo *pi = &ps->info[i];
            char *nm = names + (size_t)k * (PARAM_NAME_MAX + 16);
            snprintf(nm, PARAM_NAME_MAX + 16, "%s%s", pi->name, suffixes ? suffixes[b] : "");
            for (int d = 0; d < pi->ndim; d++) shapes[k * TENSOR_MAX_DIMS + d] = pi->shape[d];
            t[k] = (StWriteTensor){nm, ST_F32, pi->ndim, shapes + k * TENSOR_MAX_DIMS,
                                   blocks[b] + pi->offset};
        }
    }
    int nm = meta ? meta->n : 0;
    for (int i = 0; i < nm; i++) {
        keys[i] = meta->keys[i];
        vals[i] = meta->vals[i];
    }
    int rc = st_save(path, t, n, keys, vals, nm);
    free(t);
    free(shapes);
    free(names);
    return rc;
}

int ckpt_save_params(const char *path, const ParamSet *ps, const Meta *meta) {
    const float *blocks[1] = {ps->data};
    return save_tables(path, ps, blocks, NULL, 1, meta);
}

int ckpt_save_blocks(const char *path, const ParamSet *ps, const float *const *blocks,
                     const char *const *suffixes, int nblocks, const Meta *meta) {
    return save_tables(path, ps, blocks, suffixes, nblocks, meta);
}

int ckpt_load_blocks(const StFile *f, const char *path, const ParamSet *ps, float *const *blocks,
                     const char *const *suffixes, int nblocks) {
    char name[PARAM_NAME_MAX + 16];
    for (int b = 0; b < nblocks; b++) {
        for (int i = 0; i < ps->count; i++) {
            const ParamInfo *pi = &ps->info[i];
            snprintf(name, sizeof name, "%s%s", pi->name, suffixes ? suffixes[b] : "");
            if (!st_find(f, name))
                return err_set("%s: tensor '%s' is missing (the config says the model has it)",
                               path, name);
            if (st_copy_f32(f, name, blocks[b] + pi->offset, pi->ndim, pi->shape)) return -1;
        }
    }
    if (f->n != ps->count * nblocks) {
        // Name the first tensor the model does not know.
        for (int k = 0; k < f->n; k++) {
            int known = 0;
            for (int b = 0; b < nblocks && !known; b++)
                for (int i = 0; i < ps->count && !known; i++) {
                    snprintf(name, sizeof name, "%s%s", ps->info[i].name,
                             suffixes ? suffixes[b] : "");
                    known = !strcmp(name, f->tensors[k].name);
                }
            if (!known)
                return err_set("%s: tensor '%s' does not belong to this model's config", path,
                               f->tensors[k].name);
        }
    }
    return 0;
}

int ckpt_load_params(const StFile *f, const char *path, ParamSet *ps) {
    float *blocks[1] = {ps->data};
    return ckpt_load_blocks(f, path, ps, blocks, NULL, 1);
}

const char *ckpt_meta_str(const StFile *f, const char *path, const char *key) {
    const char *v = st_meta(f, key);
    if (!v) err_set("%s: __metadata__ has no '%s'", path, key);
    return v;
}

int ckpt_meta_long(const StFile *f, const char *path, const char *key, long lo, long hi,
                   long *out) {
    const char *v = ckpt_meta_str(f, path, key);
    if (!v) return -1;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return err_set("%s: __metadata__ '%s' is '%s', expected an integer in [%ld, %ld]", path,
                       key, v, lo, hi);
    *out = x;
    return 0;
}

int ckpt_meta_double(const StFile *f, const char *path, const char *key, double *out) {
    const char *v = ckpt_meta_str(f, path, key);
    if (!v) return -1;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || x != x)
        return err_set("%s: __metadata__ '%s' is '%s', expected a number", path, key, v);
    *out = x;
    return 0;
}
