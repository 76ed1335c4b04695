// checkpoint.h — a model's parameters (and, for resuming, its optimiser state) in safetensors.
//
// A run folder holds:
//   model.safetensors   every parameter by its TransformerLens-style name, F32 little-endian, and
//                       __metadata__ with the architecture, its config (field names as the Python
//                       tools use them), the training step and whatever else the model records
//   optim.safetensors   the optimiser moments as "<param>.m" / "<param>.v" (or ".momentum") and
//                       the optimiser's step count, written beside the model for --resume
// Both are written to a temporary name and renamed (model last), so a crash leaves the previous
// checkpoint whole.
#ifndef MECHLAB_CHECKPOINT_H
#define MECHLAB_CHECKPOINT_H

#include "model/params.h"
#include "train/safetensors.h"

#define META_MAX 64
#define META_VAL_MAX 4096

// String metadata for __metadata__ (safetensors allows only string values).
typedef struct {
    int n;
    char keys[META_MAX][64];
    char vals[META_MAX][META_VAL_MAX];
} Meta;

// Sets (or replaces) key = printf(fmt, ...). Returns 0, or -1 with err_set if full/too long.
int meta_set(Meta *m, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *meta_get(const Meta *m, const char *key);

// Writes every parameter of ps (values, not gradients) with the metadata.
int ckpt_save_params(const char *path, const ParamSet *ps, const Meta *meta);

// Writes extra float blocks laid out like ps (e.g. Adam's m and v) as "<name><suffix[k]>".
int ckpt_save_blocks(const char *path, const ParamSet *ps, const float *const *blocks,
                     const char *const *suffixes, int nblocks, const Meta *meta);

// Reads values into ps from an open file: every parameter of ps must be there with its exact
// shape and dtype F32, and the file must hold nothing else. Errors name the file and tensor.
int ckpt_load_params(const StFile *f, const char *path, ParamSet *ps);
// Reads blocks saved by ckpt_save_blocks (same checks).
int ckpt_load_blocks(const StFile *f, const char *path, const ParamSet *ps, float *const *blocks,
                     const char *const *suffixes, int nblocks);

// Metadata of an open file as integer / double / string with a clear error when missing or
// malformed ("PATH: __metadata__ 'n_layers' is 'x', expected an integer").
int ckpt_meta_long(const StFile *f, const char *path, const char *key, long lo, long hi,
                   long *out);
int ckpt_meta_double(const StFile *f, const char *path, const char *key, double *out);
// NULL + err_set if missing.
const char *ckpt_meta_str(const StFile *f, const char *path, const char *key);

#endif
