// tensor.h — a non-owning view of a row-major, contiguous float array with up to 4 dims.
//
// A Tensor never owns its memory: parameter sets, activation blocks and arenas do. Dimension
// letters used across mechlab: B batch, T positions, D d_model, H heads, dh d_head, V vocab,
// M d_mlp, C channels.
#ifndef MECHLAB_TENSOR_H
#define MECHLAB_TENSOR_H

#include <stddef.h>

#define TENSOR_MAX_DIMS 4

typedef struct {
    float *data;
    int ndim;
    int shape[TENSOR_MAX_DIMS];
} Tensor;

// Number of elements (1 for a 0-dim view).
static inline size_t tensor_numel(const Tensor *t) {
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

// Builds a view; unused trailing dims are set to 1.
static inline Tensor tensor_view(float *data, int ndim, const int *shape) {
    Tensor t = {data, ndim, {1, 1, 1, 1}};
    for (int i = 0; i < ndim && i < TENSOR_MAX_DIMS; i++) t.shape[i] = shape[i];
    return t;
}

#define TENSOR1(p, a) ((Tensor){(p), 1, {(a), 1, 1, 1}})
#define TENSOR2(p, a, b) ((Tensor){(p), 2, {(a), (b), 1, 1}})
#define TENSOR3(p, a, b, c) ((Tensor){(p), 3, {(a), (b), (c), 1}})
#define TENSOR4(p, a, b, c, d) ((Tensor){(p), 4, {(a), (b), (c), (d)}})

#endif
