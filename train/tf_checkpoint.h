// tf_checkpoint.h — transformers to and from safetensors checkpoints.
//
// model.safetensors holds every parameter under its TransformerLens name and, in __metadata__:
//   "mechlab_arch": "transformer"
//   "config":       the TfConfig as JSON with TL's HookedTransformerConfig field names
//                   (normalization_type null for none, d_mlp null when attn_only), so
//                   HookedTransformerConfig(**json.loads(meta["config"])) works in Python
//   "step":         training steps taken
// and whatever the trainer adds (data state, training settings) for resuming.
#ifndef MECHLAB_TF_CHECKPOINT_H
#define MECHLAB_TF_CHECKPOINT_H

#include "model/buf.h"
#include "model/transformer.h"
#include "train/checkpoint.h"

// Appends the config as a JSON object to b.
void tf_config_to_json(const TfConfig *c, Buf *b);
// Parses a config JSON object (as written above; unknown fields are ignored, missing ones are an
// error naming the field). `where` prefixes error messages (e.g. the checkpoint path).
int tf_config_from_json(const char *json, size_t len, const char *where, TfConfig *c);

// Adds "mechlab_arch" and "config" to meta.
int tf_ckpt_meta(const TfConfig *c, Meta *meta);

// Opens a transformer checkpoint: validates the file, reads the config, builds a model for
// batches up to max_batch and loads its parameters. The open file is returned in *f (for the
// caller's other metadata; close it with st_close). Errors name the file ("PATH: ...").
Transformer *tf_ckpt_load(const char *path, int max_batch, StFile *f);

#endif
