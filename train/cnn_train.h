// cnn_train.h — training a CNN on an image dataset: what `mechlab train cnn` and the vision
// experiments (curves, fashion) share — data, model, optimiser, evaluation, checkpoints, resume —
// on top of the one training loop in trainer.h.
//
// Data (spec.data):
//   fashion-mnist   the IDX files of Fashion-MNIST (datasets/idx.h) from spec.data_dir or
//                   /usr/share/datasets/fashion-mnist; the train split trains, the test split
//                   evaluates. n_train / n_test > 0 keep only the first n of a split.
//   lines | curves | edges
//                   synthetic stimuli (datasets/images.h) at spec.size pixels, n_train and n_test
//                   images drawn from seeds derived from spec.seed (the test set from its own
//                   seed). Labels: spec.label (orientation bin, curvature class or both).
// With spec.normalize the pixels are standardised, x ← (x − mean)/std, with the mean and
// standard deviation of the training images; both are kept in the checkpoint's config so a
// loaded model knows what its input looked like.
//
// Mini-batches: every epoch draws a fresh permutation of the training images from the data Rng
// (the identity shuffled by Fisher–Yates) and walks through it batch by batch; the images left
// over at the end of an epoch (fewer than a batch) are skipped, as PyTorch's drop_last does.
// A checkpoint records the Rng as it was before the current epoch's shuffle and the position in
// the permutation, so a resumed run draws exactly the batches an uninterrupted one would.
//
// Evaluation columns in metrics.csv: test_loss (mean cross-entropy) and test_acc (fraction of
// test images whose largest logit is the label), on the first eval_max test images (0: all).
//
// Checkpoint (model.safetensors): the parameters under the CNN's names (model/cnn.h), and in
// __metadata__
//   "mechlab_arch": "cnn"
//   "config":  {"spec": "...", "in_channels": C, "height": H, "width": W, "n_out": N,
//               "input_mean": m, "input_std": s, "data": "..."}
//   "train_spec", "data_rng", "data_pos", "data_epoch": what --resume needs.
#ifndef MECHLAB_CNN_TRAIN_H
#define MECHLAB_CNN_TRAIN_H

#include <stdint.h>

#include "datasets/images.h"
#include "model/cnn.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

#define CNNTRAIN_SPEC_MAX 1024

typedef struct {
    char arch[CNNTRAIN_SPEC_MAX];  // the CNN spec string (model/cnn.h)
    char data[32];                 // "fashion-mnist", "lines", "curves" or "edges"
    char data_dir[4096];           // fashion-mnist: folder of the IDX files ("": the default)
    int size;                      // synthetic: image side in pixels (8..256)
    int n_train, n_test;           // synthetic: set sizes; fashion-mnist: 0 = whole split
    ImgLabel label;                // synthetic: what the label is
    float noise;                   // synthetic: std of Gaussian pixel noise
    int normalize;                 // standardise pixels with the training set's mean and std
    int batch;                     // images per step
    uint64_t seed;                 // model init, shuffling, synthetic data
    int eval_max;                  // test images per evaluation (0 = all)
    TrainConfig train;             // steps, schedule, optimiser, clip, cadence, out_dir, progress
} CnnTrainSpec;

// Defaults for `data`: batch 64, 8192/1024 synthetic images of 16 pixels (fashion-mnist: whole
// splits), orientation labels (curves: orientation × curvature), normalisation on for
// fashion-mnist only, Adam at 1e-3 with a warm-up + cosine schedule, clip 1, eval and checkpoint
// every 500 steps. The caller still sets arch, steps (or cnntrain_epoch_steps), out_dir.
CnnTrainSpec cnntrain_defaults(const char *data);

// Model, data and the input normalisation a CNN checkpoint's config records.
typedef struct {
    char spec[CNNTRAIN_SPEC_MAX];
    int C, H, W, n_out;
    float input_mean, input_std;  // x_model = (x_pixels − mean)/std (0 and 1: none)
    char data[32];
} CnnCkptConfig;

// Adds "mechlab_arch" = "cnn" and "config" (above) to meta.
int cnn_ckpt_meta(const CnnCkptConfig *c, Meta *meta);

// Opens a CNN checkpoint: validates the file, reads the config, builds a model for batches up
// to max_batch and loads its parameters. The open file is returned in *f (close it with
// st_close) and the config in *cfg (may be NULL). Errors name the file ("PATH: ...").
Cnn *cnn_ckpt_load(const char *path, int max_batch, StFile *f, CnnCkptConfig *cfg);

typedef struct CnnTrainer CnnTrainer;
// Called after every evaluation with (test_loss, test_acc), e.g. to record a learning curve.
typedef void (*CnnEvalFn)(void *user, long step, const double *values);

struct CnnTrainer {
    CnnTrainSpec spec;
    Cnn *m;
    ImageSet train, test;   // normalised when spec.normalize
    float mean, std;        // the normalisation applied (0 and 1 when off)
    Rng rng;                // the shuffling stream, after the current epoch's shuffle
    Rng epoch_rng;          // the same before that shuffle (saved in checkpoints)
    long epoch;             // epochs started (1 after create)
    int pos;                // next position in perm
    int *perm;              // [train.n] the current epoch's order
    float *x;               // [batch, C, H, W] one batch
    int *y, *idx;           // [batch]
    Optim *opt;
    TrainState state;
    TrainModel tm;
    CnnEvalFn on_eval;      // may be NULL
    void *on_eval_user;
};

// Steps in `epochs` epochs of this trainer's data (epochs · floor(n_train / batch)).
long cnntrain_epoch_steps(const CnnTrainer *t, double epochs);

// Builds data, model (He init from spec->seed) and optimiser. NULL + err_set on bad input
// (an unknown data name, a bad spec, fashion-mnist missing: the message says how to install it).
CnnTrainer *cnntrain_create(const CnnTrainSpec *spec);
// Rebuilds a trainer from a run folder (DIR/model.safetensors + optim.safetensors): spec, data,
// model, optimiser moments and the batch stream's position. steps > 0 replaces the target step
// count (the schedule stays the saved one).
CnnTrainer *cnntrain_resume(const char *dir, long steps, int progress, int quiet);
// Trains to spec.train.steps (train_run's return values: 0 done, 1 stopped by a signal, -1).
int cnntrain_run(CnnTrainer *t);
void cnntrain_free(CnnTrainer *t);

// The model's config as a checkpoint records it.
CnnCkptConfig cnntrain_ckpt_config(const CnnTrainer *t);

// Evaluates m on the first n images of s (n <= 0: all), in batches of m->max_batch, with optional
// hooks: mean loss, accuracy and, if confusion is not NULL, the confusion matrix
// confusion[true·n_out + predicted] (n_out × n_out, overwritten). Returns 0 or -1 with err_set.
int cnntrain_evaluate(Cnn *m, const ImageSet *s, int n, const HookList *hooks, double *loss,
                      double *acc, int64_t *confusion);

#endif
