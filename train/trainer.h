// trainer.h — the one training loop, shared by every model family.
//
// The loop owns what is the same for every model: the learning-rate schedule, zeroing gradients,
// gradient clipping, the optimiser step, NaN/Inf detection, periodic evaluation into
// metrics.csv, the progress line, checkpoints every N steps / at the end / on SIGINT or SIGTERM,
// and resuming. The model supplies what differs through a TrainModel: one forward+backward on the
// next batch, its evaluation columns, and its checkpoint metadata (architecture, config and the
// data generator's state, so a resumed run draws the same batches).
//
// Files in cfg->out_dir: model.safetensors (parameters + metadata, see checkpoint.h),
// optim.safetensors (optimiser moments + trainer state), metrics.csv (header row, one row per
// evaluation). A resumed run continues bit-identically to an uninterrupted one: parameters,
// moments, step, schedule position, data Rng and the running training-loss sum are all restored.
#ifndef MECHLAB_TRAINER_H
#define MECHLAB_TRAINER_H

#include "model/buf.h"
#include "model/json.h"
#include "model/params.h"
#include "train/checkpoint.h"
#include "train/optim.h"

#define TRAIN_MAX_EVAL 256  // room for per-head columns (mechlab run induction: 4 per head)

typedef struct {
    void *ctx;
    ParamSet *params;
    // Forward + backward on the next training batch; gradients ACCUMULATE into params->grad
    // (the trainer zeroes them before the call). Sets *loss. Returns 0, or -1 with err_set.
    int (*train_step)(void *ctx, double *loss);
    // Evaluation: fills values[0..n_eval) (columns named eval_names). May be NULL.
    int n_eval;
    const char *eval_names[TRAIN_MAX_EVAL];
    int (*eval)(void *ctx, long step, double *values);
    // Adds the model's metadata (arch, config, data state) to a checkpoint's __metadata__.
    int (*meta)(void *ctx, Meta *m);
} TrainModel;

typedef struct {
    long steps;         // train until this step count
    long eval_every;    // evaluate every this many steps (and at the end); 0 = only at the end
    long ckpt_every;    // checkpoint every this many steps (and at the end); 0 = only at the end
    double clip;        // global gradient-norm clip; <= 0 = none
    OptimConfig optim;
    Sched sched;
    const char *out_dir;
    int progress;       // 1: progress line (stderr is a terminal), 0: one line per evaluation
    int quiet;          // no output at all (tests)
} TrainConfig;

// Trainer state that a checkpoint carries besides the model and the optimiser moments.
typedef struct {
    long step;            // steps completed
    double loss_sum;      // training losses summed since the last evaluation
    long loss_count;
    double last_loss;     // the most recent training loss
    double last_eval[TRAIN_MAX_EVAL];
} TrainState;

// Runs from state->step to cfg->steps. `optim` must be created for params->numel floats and, on
// resume, loaded with train_load_optim. Returns 0 on completion, 1 when stopped by a signal
// (after saving a checkpoint), -1 on failure with err_set (a NaN/Inf loss or gradient stops
// training without overwriting the last good checkpoint; the message says which step and where
// the good checkpoint is).
int train_run(const TrainConfig *cfg, TrainModel *m, Optim *optim, TrainState *state);

// Reads DIR/optim.safetensors into optim (moments, step count) and state. The optimiser config
// stored there must match cfg->optim's kind. Returns 0, or -1 with err_set.
int train_load_optim(const char *dir, const ParamSet *params, Optim *optim, TrainState *state);

// Writes DIR/optim.safetensors and then DIR/model.safetensors (each atomically).
int train_save(const char *dir, TrainModel *m, const Optim *optim, const TrainState *state);

// The settings every model family shares, as JSON members for a run's "train_spec" metadata:
// appends ', "steps": N, "eval_every": ..., "min_lr": X' (leading comma, no braces) to b, numbers
// written so they read back exactly; train_config_from_json reads the same members of object o
// (out_dir, progress and quiet are left alone). Returns 0, or -1 with err_set naming the key.
void train_config_to_json(const TrainConfig *c, Buf *b);
int train_config_from_json(const JsonValue *o, TrainConfig *c);

// Stops a running train_run at the next step boundary (what the SIGINT/SIGTERM handler calls).
void train_request_stop(void);

#endif
