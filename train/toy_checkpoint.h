// toy_checkpoint.h — toy models of superposition (model/toy.h) to and from safetensors.
//
// model.safetensors holds "W" [I, n, m] and "b_final" [I, n] and, in __metadata__:
//   "mechlab_arch":        "toy"
//   "config":              {"n_instances": I, "n_features": n, "n_hidden": m, "relu": true,
//                           "init_std": 0}  (the paper's Config field names; init_std 0 means
//                           Xavier, see toy.h)
//   "replicas":            R — instances come in settings of R replicas: instance i is replica
//                           i % R of setting i / R (train/toy_train.h)
//   "feature_probability": [S floats] — 1 - S (sparsity) of each setting, S·R = I
//   "importance_decay":    [S floats] — importance of feature f in setting s is decay[s]^f
//   "step":                training steps taken
// The three layout keys are optional for the reader: without them every instance is its own
// setting with unknown probability and importance 1.
#ifndef MECHLAB_TOY_CHECKPOINT_H
#define MECHLAB_TOY_CHECKPOINT_H

#include "model/buf.h"
#include "model/toy.h"
#include "train/checkpoint.h"

// How the instances of a toy checkpoint are grouped into settings.
typedef struct {
    int n_settings;  // S
    int replicas;    // R (S·R = n_instances)
    float *prob;     // [S] feature probability 1 - S, or NULL when the checkpoint does not say
    float *decay;    // [S] importance decay, or NULL (importance 1)
} ToyLayout;

// Appends the model's config as a JSON object to b.
void toy_config_to_json(const ToyConfig *c, Buf *b);

// Adds "mechlab_arch", "config", and (when prob is not NULL) "replicas", "feature_probability"
// and "importance_decay" (decay NULL: all 1) for n_settings settings of `replicas` instances.
// Fails with err_set if a list is too long for a metadata value (about 300 settings).
int toy_ckpt_meta(const ToyConfig *c, int n_settings, int replicas, const float *prob,
                  const float *decay, Meta *meta);

// Reads the layout of an open toy checkpoint with n_instances instances (see above). The arrays
// are malloc'd; release them with toy_layout_free. Errors name the file and the key.
int toy_ckpt_layout(const StFile *f, const char *path, int n_instances, ToyLayout *out);
void toy_layout_free(ToyLayout *l);  // a zeroed or freed layout is fine

// Opens a toy checkpoint: validates it, reads the config, builds a model for batches up to
// max_batch with its importance (from the layout) and loads W and b_final. The open file is
// returned in *f (close it with st_close). NULL with err_set ("PATH: ...") on any problem.
Toy *toy_ckpt_load(const char *path, int max_batch, StFile *f);

#endif
