// tf_train.h — training a transformer on a token dataset: what `mechlab train transformer` and
// the transformer experiments share (data, model, optimiser, evaluation, checkpoints, resume),
// on top of the generic loop in trainer.h.
//
// Evaluation columns in metrics.csv: val_loss (mean next-token loss on a fixed set of held-out
// batches), and for repeat data loss_first_half (targets in the random first segment) and
// loss_repeat_half (targets in the repeated segment, from its second token on: the first is
// unpredictable), then any columns an experiment adds through `extra_eval`.
#ifndef MECHLAB_TF_TRAIN_H
#define MECHLAB_TF_TRAIN_H

#include <stdint.h>

#include "datasets/tokens.h"
#include "model/transformer.h"
#include "train/trainer.h"

typedef struct {
    TfConfig model;     // d_vocab is taken from the data for text
    char data[4096];    // "repeat", "random" or "text:FILE"
    int use_bos;        // repeat: start every sequence with a BOS token (id d_vocab - 1)
    int repeat_min;     // repeat: shortest segment, drawn per sequence (0: fixed, see tokens.h)
    int batch;          // sequences per step
    int seq_len;        // T (<= n_ctx); 0 = n_ctx
    uint64_t seed;      // model init and data stream
    int eval_batches;   // held-out batches per evaluation
    TrainConfig train;  // steps, schedule, optimiser, clip, eval/ckpt cadence, out_dir, progress
} TfTrainSpec;

typedef struct TfTrainer TfTrainer;
// An experiment's extra evaluation: fills values[0..n_extra).
typedef int (*TfExtraEval)(void *user, TfTrainer *t, long step, double *values);

struct TfTrainer {
    TfTrainSpec spec;
    Transformer *m;
    TokenData data;
    Rng rng;             // the training data stream (saved in checkpoints)
    int T;
    int *tok, *tg;       // one training batch [batch, T]
    int *vtok, *vtg;     // the held-out set [eval_batches * batch, T], drawn once
    TokRepeat *vlay;     // repeat data: each held-out sequence's layout [eval_batches * batch]
    Optim *opt;
    TrainState state;
    TrainModel tm;
    int n_base_eval;
    TfExtraEval extra_eval;
    void *extra_user;
};

// Builds data, model (initialised from spec->seed), optimiser. NULL + err_set on bad input.
TfTrainer *tftrain_create(const TfTrainSpec *spec);
// Rebuilds a trainer from a run folder (DIR/model.safetensors + optim.safetensors): the model,
// the saved spec, the data stream position. steps > 0 replaces the target step count.
TfTrainer *tftrain_resume(const char *dir, long steps, int progress, int quiet);
// Adds evaluation columns computed by `fn` (call before tftrain_run).
int tftrain_add_eval(TfTrainer *t, int n, const char *const *names, TfExtraEval fn, void *user);
// Trains to spec.train.steps (see train_run for the return values).
int tftrain_run(TfTrainer *t);
void tftrain_free(TfTrainer *t);

// Mean losses on the held-out set: overall, and for repeat data the first and repeated halves
// (NAN for other data). Runs forwards through `hooks` (may be NULL) — e.g. an ablation.
int tftrain_eval_losses(TfTrainer *t, const HookList *hooks, double *val, double *first,
                        double *repeat);

// The same on any n sequences tok/tg [n, T] (forwards in chunks of m->max_batch): the mean loss
// over every target, and when layout[n] is given (repeat data), over the targets of the first
// copy from its second token on, and over those of the repeats from the second token of the
// first repeat on (its first token follows the unpredictable end of the first copy). NAN
// without a layout.
int tftrain_losses(Transformer *m, const int *tok, const int *tg, const TokRepeat *layout, int n,
                   int T, const HookList *hooks, double *val, double *first, double *repeat);

#endif
