#include "params.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int params_add(ParamSet *ps, const char *name, int ndim, const int *shape) {
    if (strlen(name) >= PARAM_NAME_MAX) return err_set("parameter name too long: %s", name);
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS) return err_set("%s: %d dims (max 4)", name, ndim);
    if (params_index(ps, name) >= 0) return err_set("duplicate parameter name: %s", name);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) return err_set("%s: dimension %d is %d", name, i, shape[i]);
        numel *= (size_t)shape[i];
    }
    if (ps->count == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 16;
        ParamInfo *p = realloc(ps->info, sizeof(ParamInfo) * (size_t)cap);
        if (!p) return err_set("out of memory adding parameter %s", name);
        ps->info = p;
        ps->cap = cap;
    }
    ParamInfo *pi = &ps->info[ps->count];
    memset(pi, 0, sizeof *pi);
    strcpy(pi->name, name);
    pi->ndim = ndim;
    for (int i = 0; i < TENSOR_MAX_DIMS; i++) pi->shape[i] = i < ndim ? shape[i] : 1;
    pi->offset = ps->numel;
    pi->numel = numel;
    ps->numel += numel;
    return ps->count++;
}

static float *alloc_floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p) memset(p, 0, bytes ? bytes : 64);
    return p;
}

int params_alloc(ParamSet *ps) {
    ps->data = alloc_floats(ps->numel);
    ps->grad = alloc_floats(ps->numel);
    if (!ps->data || !ps->grad) {
        free(ps->data);
        free(ps->grad);
        ps->data = ps->grad = NULL;
        return err_set("out of memory allocating %zu parameters", ps->numel);
    }
    return 0;
}

int params_index(const ParamSet *ps, const char *name) {
    for (int i = 0; i < ps->count; i++)
        if (!strcmp(ps->info[i].name, name)) return i;
    return -1;
}

float *params_data(const ParamSet *ps, const char *name) {
    int i = params_index(ps, name);
    return i < 0 || !ps->data ? NULL : ps->data + ps->info[i].offset;
}

float *params_grad(const ParamSet *ps, const char *name) {
    int i = params_index(ps, name);
    return i < 0 || !ps->grad ? NULL : ps->grad + ps->info[i].offset;
}

Tensor params_tensor(const ParamSet *ps, int i) {
    const ParamInfo *pi = &ps->info[i];
    return tensor_view(ps->data + pi->offset, pi->ndim, pi->shape);
}

void params_zero_grad(ParamSet *ps) {
    if (ps->grad) memset(ps->grad, 0, ps->numel * sizeof(float));
}

void params_free(ParamSet *ps) {
    free(ps->data);
    free(ps->grad);
    free(ps->info);
    memset(ps, 0, sizeof *ps);
}
