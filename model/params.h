// params.h — a model's parameters: one contiguous float block with a table of named views.
//
// Gradients live in a second block of the same length and layout, so zeroing grads is one
// memset, an optimiser is one loop over `numel` floats, and a checkpoint is one table. Names and
// shapes follow TransformerLens ("embed.W_E" [d_vocab, d_model], "blocks.0.attn.W_Q"
// [n_heads, d_model, d_head], ...).
//
// Build: params_add() every tensor in order, then params_alloc() once. Free with params_free().
#ifndef MECHLAB_PARAMS_H
#define MECHLAB_PARAMS_H

#include <stddef.h>

#include "tensor.h"

#define PARAM_NAME_MAX 96

typedef struct {
    char name[PARAM_NAME_MAX];
    int ndim;
    int shape[TENSOR_MAX_DIMS];
    size_t offset;  // in floats, into data and grad
    size_t numel;
} ParamInfo;

typedef struct {
    float *data;  // all parameters (numel floats), zeroed by params_alloc
    float *grad;  // gradients, same layout
    size_t numel;
    int count;
    int cap;
    ParamInfo *info;
} ParamSet;

// Appends a tensor to the table (before params_alloc). Returns its index, or -1 with err_set
// (name too long or duplicated, bad shape, out of memory).
int params_add(ParamSet *ps, const char *name, int ndim, const int *shape);
// Allocates data and grad (zeroed, 64-byte aligned). Returns 0, or -1 with err_set.
int params_alloc(ParamSet *ps);
// Index of a name, or -1.
int params_index(const ParamSet *ps, const char *name);
// Pointer to a named tensor's values / gradients (NULL if the name is unknown).
float *params_data(const ParamSet *ps, const char *name);
float *params_grad(const ParamSet *ps, const char *name);
// View of tensor i's values.
Tensor params_tensor(const ParamSet *ps, int i);
void params_zero_grad(ParamSet *ps);
// Frees the blocks and the table; a zeroed or freed ParamSet is fine.
void params_free(ParamSet *ps);

#endif
