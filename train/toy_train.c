#include "toy_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"
#include "train/toy_checkpoint.h"

// The held-out stream: a fixed seed derived from the run's, reseeded at every evaluation.
#define TOY_EVAL_SEED_XOR 0x0e7a15eedc0ffee1ULL
#define TOY_DATA_SEED_XOR 0xda7a5eedULL

ToyTrainSpec toytrain_defaults(long steps, const char *out_dir) {
    ToyTrainSpec s;
    memset(&s, 0, sizeof s);
    s.n_settings = 1;
    s.replicas = 1;
    s.relu = 1;
    s.batch = 1024;
    s.eval_batches = 32;
    s.train.steps = steps;
    s.train.optim = optim_defaults(OPTIM_ADAMW);
    s.train.sched = (Sched){.kind = SCHED_CONSTANT, .lr = 1e-3f};
    s.train.out_dir = out_dir;
    s.train.quiet = 1;
    return s;
}

// ---- the TrainModel callbacks ---------------------------------------------------------------

static int step_fn(void *ctx, double *loss) {
    ToyTrainer *t = ctx;
    const int B = t->spec.batch;
    if (sparse_batch(t->x, &t->data, t->prob_inst, B, &t->rng)) return -1;
    double total;
    if (toy_forward(t->toy, t->x, B, &total) || toy_backward(t->toy, t->x)) return -1;
    // The gradient is that of the sum over instances (each instance gets its own); the number
    // reported is the mean, comparable across runs with different instance counts.
    *loss = total / t->toy->cfg.n_instances;
    return 0;
}

int toytrain_evaluate(ToyTrainer *t, double *mean) {
    const int S = t->spec.n_settings, R = t->spec.replicas, I = S * R, B = t->spec.batch;
    const int n = t->spec.n_features;
    const size_t block = (size_t)B * n;
    Rng er;
    rng_seed(&er, t->spec.seed ^ TOY_EVAL_SEED_XOR);
    for (int i = 0; i < I; i++) t->eval_loss[i] = 0.0;
    for (int e = 0; e < t->spec.eval_batches; e++) {
        if (sparse_batch(t->xs, &t->data_set, t->prob_set, B, &er)) return -1;
        for (int i = 0; i < I; i++)  // every replica of setting s sees setting s's rows
            memcpy(t->x + (size_t)i * block, t->xs + (size_t)(i / R) * block, block * sizeof(float));
        if (toy_forward(t->toy, t->x, B, NULL)) return -1;
        for (int i = 0; i < I; i++) t->eval_loss[i] += t->toy->loss[i];
    }
    double sum = 0;
    for (int i = 0; i < I; i++) {
        t->eval_loss[i] /= t->spec.eval_batches;
        sum += t->eval_loss[i];
    }
    for (int s = 0; s < S; s++) {
        int b = s * R;
        for (int i = s * R + 1; i < s * R + R; i++)
            if (t->eval_loss[i] < t->eval_loss[b]) b = i;  // ties: the lowest replica index
        t->best[s] = b;
    }
    if (mean) *mean = sum / I;
    return 0;
}

static int eval_fn(void *ctx, long step, double *values) {
    (void)step;
    return toytrain_evaluate(ctx, &values[0]);
}

static int meta_fn(void *ctx, Meta *meta) {
    ToyTrainer *t = ctx;
    return toy_ckpt_meta(&t->toy->cfg, t->spec.n_settings, t->spec.replicas, t->prob_set,
                         t->decay_set, meta);
}

// ---- create / run / free ---------------------------------------------------------------------

static int check_spec(const ToyTrainSpec *s) {
    if (s->n_features < 1 || s->n_hidden < 1)
        return err_set("toy training: n_features %d and n_hidden %d must be >= 1", s->n_features,
                       s->n_hidden);
    if (s->n_settings < 1 || s->replicas < 1)
        return err_set("toy training: %d settings × %d replicas: both must be >= 1", s->n_settings,
                       s->replicas);
    if ((long)s->n_settings * s->replicas > (1L << 24))
        return err_set("toy training: %d settings × %d replicas is too many instances",
                       s->n_settings, s->replicas);
    if (s->batch < 1 || s->eval_batches < 1)
        return err_set("toy training: batch %d and eval_batches %d must be >= 1", s->batch,
                       s->eval_batches);
    if (!s->prob) return err_set("toy training: no feature probabilities");
    if (s->train.steps < 0) return err_set("toy training: steps %ld < 0", s->train.steps);
    if (!s->train.out_dir) return err_set("toy training: no output folder");
    for (int k = 0; k < s->n_settings; k++)
        if (s->decay && !(s->decay[k] >= 0.0f && isfinite(s->decay[k])))
            return err_set("toy training: importance decay %g of setting %d must be finite and >= 0",
                           s->decay[k], k);
    // Importance decay^f must stay finite for every feature.
    for (int k = 0; k < s->n_settings && s->decay; k++)
        if (!isfinite(powf(s->decay[k], (float)(s->n_features - 1))))
            return err_set("toy training: importance %g^%d of setting %d overflows", s->decay[k],
                           s->n_features - 1, k);
    return 0;
}

ToyTrainer *toytrain_create(const ToyTrainSpec *spec) {
    if (check_spec(spec)) return NULL;
    ToyTrainer *t = calloc(1, sizeof *t);
    if (!t) {
        err_set("toy training: out of memory");
        return NULL;
    }
    t->spec = *spec;
    const int S = spec->n_settings, R = spec->replicas, I = S * R, n = spec->n_features;
    const size_t block = (size_t)spec->batch * n;
    float *imp = malloc(sizeof(float) * (size_t)I * n);
    t->prob_set = malloc(sizeof(float) * S);
    t->decay_set = malloc(sizeof(float) * S);
    t->prob_inst = malloc(sizeof(float) * I);
    t->eval_loss = malloc(sizeof(double) * I);
    t->best = malloc(sizeof(int) * S);
    t->x = malloc(sizeof(float) * block * I);
    t->xs = malloc(sizeof(float) * block * S);
    if (!imp || !t->prob_set || !t->decay_set || !t->prob_inst || !t->eval_loss || !t->best ||
        !t->x || !t->xs) {
        err_set("toy training: out of memory for %d instances × %d rows × %d features", I,
                spec->batch, n);
        goto fail;
    }
    for (int s = 0; s < S; s++) {
        t->prob_set[s] = spec->prob[s];
        t->decay_set[s] = spec->decay ? spec->decay[s] : 1.0f;
        t->best[s] = -1;
    }
    t->spec.prob = t->prob_set;
    t->spec.decay = t->decay_set;
    for (int i = 0; i < I; i++) {
        t->prob_inst[i] = t->prob_set[i / R];
        t->eval_loss[i] = NAN;
        for (int f = 0; f < n; f++) imp[(size_t)i * n + f] = powf(t->decay_set[i / R], (float)f);
    }
    t->data = (SparseSpec){I, n, spec->n_correlated, spec->n_anticorrelated};
    t->data_set = (SparseSpec){S, n, spec->n_correlated, spec->n_anticorrelated};
    if (sparse_check(&t->data_set, t->prob_set)) goto fail;
    ToyConfig c = {I, n, spec->n_hidden, spec->relu, spec->batch, spec->init_std};
    t->toy = toy_create(&c, imp);
    if (!t->toy) goto fail;
    // The checkpoint's metadata must fit; find out now rather than after training.
    Meta *probe = calloc(1, sizeof *probe);  // 260 kB: not on the stack
    if (!probe) {
        err_set("toy training: out of memory");
        goto fail;
    }
    int mrc = toy_ckpt_meta(&c, S, R, t->prob_set, t->decay_set, probe);
    free(probe);
    if (mrc) goto fail;
    toy_init(t->toy, spec->seed);
    rng_seed(&t->rng, spec->seed ^ TOY_DATA_SEED_XOR);
    if (sched_check(&spec->train.sched)) goto fail;
    t->opt = optim_create(&spec->train.optim, t->toy->params.numel);
    if (!t->opt) goto fail;
    t->tm = (TrainModel){.ctx = t, .params = &t->toy->params, .train_step = step_fn,
                         .eval = eval_fn, .meta = meta_fn, .n_eval = 1};
    t->tm.eval_names[0] = "eval_loss";
    free(imp);
    return t;
fail:
    free(imp);
    toytrain_free(t);
    return NULL;
}

int toytrain_run(ToyTrainer *t) { return train_run(&t->spec.train, &t->tm, t->opt, &t->state); }

const float *toytrain_W(const ToyTrainer *t, int instance) {
    return t->toy->W + (size_t)instance * t->spec.n_features * t->spec.n_hidden;
}

void toytrain_free(ToyTrainer *t) {
    if (!t) return;
    toy_free(t->toy);
    optim_free(t->opt);
    free(t->prob_set);
    free(t->decay_set);
    free(t->prob_inst);
    free(t->eval_loss);
    free(t->best);
    free(t->x);
    free(t->xs);
    free(t);
}
