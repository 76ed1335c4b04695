// toy_train.h — training toy models of superposition (model/toy.h) on sparse features
// (datasets/sparse.h): what `mechlab run superposition` and its tests share, on top of the one
// training loop (train/trainer.h).
//
// A run trains S SETTINGS × R REPLICAS instances in one batched step. A setting is a feature
// probability p_s = 1 - S_s and an importance profile importance[f] = decay_s^f (the paper's
// family: 0.9^f, 0.7^f, 1 for equal importance; in the n = 2 phase diagram decay_s is the
// relative importance of feature 2). Instance i is replica i % R of setting i / R; replicas start
// from different initialisations (toy_init gives each instance its own stream) and see their own
// training batches. Toy runs can land in local minima, so the paper's geometry is read off the
// replica with the lowest loss: toytrain_evaluate() computes every instance's loss on a fixed
// held-out set — the same rows for all replicas of a setting (paired, so the choice is not
// swamped by sampling noise) and the same rows at every evaluation — and best[s] is the
// lowest-loss replica of setting s.
//
// Files in train.out_dir (written by train_run): model.safetensors (W, b_final and the
// metadata of train/toy_checkpoint.h), optim.safetensors, metrics.csv (train_loss is the mean
// over instances; eval_loss the mean held-out loss over instances). There is no resume: a toy
// run is minutes, so an interrupted run is started again.
#ifndef MECHLAB_TOY_TRAIN_H
#define MECHLAB_TOY_TRAIN_H

#include <stdint.h>

#include "datasets/sparse.h"
#include "model/toy.h"
#include "train/trainer.h"

typedef struct {
    int n_features, n_hidden;  // n, m
    int relu;                  // 1: ReLU output model, 0: linear
    int n_settings;            // S >= 1
    int replicas;              // R >= 1
    const float *prob;         // [S] feature probability of each setting (copied at create)
    const float *decay;        // [S] importance decay of each setting (copied), NULL: all 1
    int n_correlated, n_anticorrelated;  // feature pairs (datasets/sparse.h), usually 0
    int batch;                 // rows per instance per step (paper: 1024)
    int eval_batches;          // held-out batches of `batch` rows per evaluation (>= 1)
    uint64_t seed;             // initialisation and data
    float init_std;            // 0: Xavier-normal per instance (toy.h)
    TrainConfig train;         // steps, optimiser, schedule, eval/ckpt cadence, out_dir, output
} ToyTrainSpec;

// The paper's recipe for `steps` steps into out_dir: AdamW (torch defaults: β 0.9/0.999, eps
// 1e-8, weight decay 0.01), constant lr 1e-3, batch 1024, no clipping, evaluation and checkpoint
// only at the end, 32 evaluation batches, quiet. The caller fills in the model and the settings.
ToyTrainSpec toytrain_defaults(long steps, const char *out_dir);

typedef struct {
    ToyTrainSpec spec;  // prob/decay point at the trainer's own copies
    Toy *toy;           // S·R instances
    float *prob_set;    // [S]
    float *decay_set;   // [S] (all 1 when spec.decay was NULL)
    float *prob_inst;   // [I] the feature probability of each instance
    SparseSpec data;    // I instances (training batches)
    SparseSpec data_set;  // S instances (held-out rows, one block per setting)
    Rng rng;            // training data stream
    float *x;           // [I, batch, n] the current batch
    float *xs;          // [S, batch, n] held-out rows of one evaluation batch
    double *eval_loss;  // [I] held-out loss of the last evaluation (NAN before any)
    int *best;          // [S] lowest-held-out-loss instance of each setting (-1 before any)
    Optim *opt;
    TrainState state;
    TrainModel tm;
} ToyTrainer;

// Checks the spec, builds the model (initialised from spec->seed), data and optimiser. NULL
// with err_set on a bad spec (sizes, probabilities, decays, a schedule or optimiser config).
ToyTrainer *toytrain_create(const ToyTrainSpec *spec);
void toytrain_free(ToyTrainer *t);  // toytrain_free(NULL) is fine

// Trains to spec.train.steps with train_run (whose return value it passes on: 0 done, 1 stopped
// by a signal after saving, -1 with err_set). A completed run has been evaluated at its end, so
// eval_loss and best describe the final weights.
int toytrain_run(ToyTrainer *t);

// Held-out loss of every instance (into eval_loss) and the best replica of every setting (into
// best); *mean (if not NULL) gets the mean over instances. Returns 0, or -1 with err_set.
int toytrain_evaluate(ToyTrainer *t, double *mean);

// Instance i's W [n, m] (row f is feature f's direction).
const float *toytrain_W(const ToyTrainer *t, int instance);

#endif
