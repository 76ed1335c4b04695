// Training toy models of superposition (train/toy_train.h, train/toy_checkpoint.h): the same seed
// gives the same bits for any thread count, the held-out evaluation matches a closed form and
// pairs the replicas of a setting, checkpoints round-trip with their settings, and bad specs and
// foreign checkpoints are refused with a message.
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "model/err.h"
#include "model/pool.h"
#include "train/toy_checkpoint.h"
#include "train/toy_train.h"

TestSuite(toy_train);

// n = 5, m = 2, two settings (dense, 1 - S = 0.3) × R replicas, importance 0.9^f / 0.8^f.
static const float PROB[2] = {1.0f, 0.3f}, DECAY[2] = {0.9f, 0.8f};

static ToyTrainSpec small_spec(const char *out, long steps, int R) {
    ToyTrainSpec s = toytrain_defaults(steps, out);
    s.n_features = 5;
    s.n_hidden = 2;
    s.n_settings = 2;
    s.replicas = R;
    s.prob = PROB;
    s.decay = DECAY;
    s.batch = 64;
    s.eval_batches = 4;
    s.seed = 11;
    return s;
}

Test(toy_train, defaults_are_the_papers_recipe) {
    ToyTrainSpec s = toytrain_defaults(10000, "x");
    cr_assert_eq(s.batch, 1024);
    cr_assert_eq(s.train.steps, 10000);
    cr_assert_eq(s.train.optim.kind, OPTIM_ADAMW);
    cr_assert_float_eq(s.train.optim.weight_decay, 0.01, 1e-12);
    cr_assert_eq(s.train.sched.kind, SCHED_CONSTANT);
    cr_assert_float_eq(s.train.sched.lr, 1e-3f, 0);
    cr_assert(s.train.clip <= 0, "no clipping");
}

Test(toy_train, same_seed_same_bits_for_any_thread_count) {
    char d[2][64];
    float *W[2];
    double ev[2][6];
    const int threads[2] = {1, 3};
    size_t N = 0;
    for (int k = 0; k < 2; k++) {
        make_tmpdir(d[k], sizeof d[k]);
        pool_set_threads(threads[k]);
        ToyTrainSpec s = small_spec(d[k], 60, 3);
        ToyTrainer *t = toytrain_create(&s);
        cr_assert_not_null(t, "%s", err_msg());
        cr_assert_eq(toytrain_run(t), 0, "%s", err_msg());
        N = t->toy->params.numel;
        W[k] = malloc(N * sizeof(float));
        memcpy(W[k], t->toy->params.data, N * sizeof(float));
        memcpy(ev[k], t->eval_loss, sizeof ev[k]);
        toytrain_free(t);
        rm_tree(d[k]);
    }
    pool_set_threads(0);
    cr_assert_eq(memcmp(W[0], W[1], N * sizeof(float)), 0, "parameters differ across threads");
    cr_assert_eq(memcmp(ev[0], ev[1], sizeof ev[0]), 0, "held-out losses differ across threads");
    free(W[0]);
    free(W[1]);
}

// With W = 0 and b = 0 the model outputs 0, so an instance's expected loss is
// Σ_f decay^f · E[x_f²] = p/3 · Σ_f decay^f (present values are U[0, 1): E[u²] = 1/3).
Test(toy_train, evaluation_matches_the_closed_form_and_pairs_replicas) {
    ToyTrainSpec s = small_spec("unused", 0, 2);
    s.eval_batches = 64;  // 4096 rows per setting
    ToyTrainer *t = toytrain_create(&s);
    cr_assert_not_null(t, "%s", err_msg());
    memset(t->toy->params.data, 0, t->toy->params.numel * sizeof(float));
    double mean;
    cr_assert_eq(toytrain_evaluate(t, &mean), 0, "%s", err_msg());
    for (int set = 0; set < 2; set++) {
        double want = 0, var = 0;
        for (int f = 0; f < 5; f++) {
            double w = pow(DECAY[set], f), p = PROB[set];
            want += w * p / 3.0;
            // Var(w·x²) for x = 0 w.p. 1-p, U[0,1) w.p. p: E[x⁴] = p/5
            var += w * w * (p / 5.0 - (p / 3.0) * (p / 3.0));
        }
        double se = sqrt(var / (64.0 * 64.0));
        for (int r = 0; r < 2; r++) {
            double got = t->eval_loss[set * 2 + r];
            cr_assert(fabs(got - want) < 5 * se, "setting %d replica %d: %g, want %g ± %g", set,
                      r, got, want, 5 * se);
        }
        // the two replicas of a setting saw the same rows: identical weights, identical loss
        cr_assert_eq(t->eval_loss[set * 2], t->eval_loss[set * 2 + 1]);
    }
    cr_assert(fabs(mean - (t->eval_loss[0] + t->eval_loss[1] + t->eval_loss[2] + t->eval_loss[3]) / 4) < 1e-12);
    // The same held-out rows at every evaluation.
    double again[4];
    memcpy(again, t->eval_loss, sizeof again);
    cr_assert_eq(toytrain_evaluate(t, NULL), 0);
    cr_assert_eq(memcmp(again, t->eval_loss, sizeof again), 0);
    // best: give replica 1 of setting 1 the perfect reconstruction of feature 0 (W_0 = e_0,
    // b = 0 — it can only lower the loss) and replica 0 a harmful bias.
    float *W = t->toy->W, *b = t->toy->b_final;
    W[3 * 10 + 0] = 1.0f;          // instance 3 (setting 1, replica 1): W_0 = (1, 0)
    for (int f = 0; f < 5; f++) b[2 * 5 + f] = 0.5f;  // instance 2: b = 0.5
    cr_assert_eq(toytrain_evaluate(t, NULL), 0);
    cr_assert_eq(t->best[1], 3, "best of setting 1 is %d", t->best[1]);
    cr_assert(t->eval_loss[3] < again[3] && t->eval_loss[2] > again[2]);
    cr_assert_eq(t->best[0], 0, "a tie goes to the lowest replica");
    toytrain_free(t);
}

Test(toy_train, checkpoint_round_trips_weights_and_settings) {
    char d[64], path[128];
    make_tmpdir(d, sizeof d);
    ToyTrainSpec s = small_spec(d, 20, 2);
    s.relu = 0;
    ToyTrainer *t = toytrain_create(&s);
    cr_assert_not_null(t, "%s", err_msg());
    cr_assert_eq(toytrain_run(t), 0, "%s", err_msg());
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    StFile f;
    Toy *u = toy_ckpt_load(path, 8, &f);
    cr_assert_not_null(u, "%s", err_msg());
    cr_assert_eq(u->cfg.n_instances, 4);
    cr_assert_eq(u->cfg.n_features, 5);
    cr_assert_eq(u->cfg.n_hidden, 2);
    cr_assert_eq(u->cfg.relu, 0);
    cr_assert_eq(memcmp(u->params.data, t->toy->params.data, t->toy->params.numel * 4), 0);
    // importance rebuilt from the recorded decays: instance i has decay[i / 2]^f
    assert_allclose(u->importance, t->toy->importance, 20, 0, 1e-6);
    cr_assert_float_eq(u->importance[2 * 5 + 3], powf(0.8f, 3.0f), 1e-7f);
    ToyLayout lay;
    cr_assert_eq(toy_ckpt_layout(&f, path, 4, &lay), 0, "%s", err_msg());
    cr_assert_eq(lay.replicas, 2);
    cr_assert_eq(lay.n_settings, 2);
    cr_assert_eq(memcmp(lay.prob, PROB, sizeof PROB), 0);
    cr_assert_eq(memcmp(lay.decay, DECAY, sizeof DECAY), 0);
    cr_assert_str_eq(st_meta(&f, "step"), "20");
    toy_layout_free(&lay);
    toy_layout_free(&lay);  // twice is fine
    toy_free(u);
    st_close(&f);
    toytrain_free(t);
    rm_tree(d);
}

Test(toy_train, bad_specs_are_refused) {
    ToyTrainSpec s = small_spec("x", 10, 1);
    s.n_features = 0;
    cr_assert_null(toytrain_create(&s));
    cr_assert(strstr(err_msg(), "n_features"), "%s", err_msg());
    s = small_spec("x", 10, 1);
    s.prob = NULL;
    cr_assert_null(toytrain_create(&s));
    const float bad_p[2] = {1.0f, 1.5f};
    s = small_spec("x", 10, 1);
    s.prob = bad_p;
    cr_assert_null(toytrain_create(&s));
    cr_assert(strstr(err_msg(), "probability"), "%s", err_msg());
    const float bad_d[2] = {0.9f, -1.0f};
    s = small_spec("x", 10, 1);
    s.decay = bad_d;
    cr_assert_null(toytrain_create(&s));
    cr_assert(strstr(err_msg(), "decay"), "%s", err_msg());
    s = small_spec("x", 10, 1);
    s.replicas = 0;
    cr_assert_null(toytrain_create(&s));
    s = small_spec("x", 10, 1);
    s.train.out_dir = NULL;
    cr_assert_null(toytrain_create(&s));
    // more settings than a checkpoint's metadata can record: refused before training
    enum { MANY = 400 };
    float p[MANY];
    for (int k = 0; k < MANY; k++) p[k] = 0.123456789f * (float)(k + 1) / MANY;
    s = small_spec("x", 10, 1);
    s.n_settings = MANY;
    s.prob = p;
    s.decay = NULL;
    cr_assert_null(toytrain_create(&s));
    cr_assert(strstr(err_msg(), "too long"), "%s", err_msg());
    toytrain_free(NULL);
}

Test(toy_train, foreign_and_broken_checkpoints_are_refused) {
    char d[64], path[160];
    make_tmpdir(d, sizeof d);
    snprintf(path, sizeof path, "%s/x.safetensors", d);
    // A toy-shaped file that says it is a transformer.
    ParamSet ps = {0};
    const int shp[3] = {2, 3, 1}, bshp[2] = {2, 3};
    params_add(&ps, "W", 3, shp);
    params_add(&ps, "b_final", 2, bshp);
    cr_assert_eq(params_alloc(&ps), 0);
    Meta m = {0};
    meta_set(&m, "mechlab_arch", "transformer");
    cr_assert_eq(ckpt_save_params(path, &ps, &m), 0, "%s", err_msg());
    StFile f;
    cr_assert_null(toy_ckpt_load(path, 4, &f));
    cr_assert(strstr(err_msg(), "not a toy"), "%s", err_msg());
    // A toy whose config disagrees with its tensors.
    m = (Meta){0};
    ToyConfig c = {2, 3, 2, 1, 1, 0};  // says m = 2, the file holds m = 1
    cr_assert_eq(toy_ckpt_meta(&c, 2, 1, (const float[]){1, 0.5f}, NULL, &m), 0);
    cr_assert_eq(ckpt_save_params(path, &ps, &m), 0);
    cr_assert_null(toy_ckpt_load(path, 4, &f));
    cr_assert(strstr(err_msg(), "W"), "%s", err_msg());
    // Replicas that do not divide the instances.
    c.n_hidden = 1;
    m = (Meta){0};
    cr_assert_eq(toy_ckpt_meta(&c, 2, 1, (const float[]){1, 0.5f}, NULL, &m), 0);
    meta_set(&m, "replicas", "3");
    cr_assert_eq(ckpt_save_params(path, &ps, &m), 0);
    cr_assert_null(toy_ckpt_load(path, 4, &f));
    cr_assert(strstr(err_msg(), "replicas"), "%s", err_msg());
    // A probability list of the wrong length.
    m = (Meta){0};
    cr_assert_eq(toy_ckpt_meta(&c, 2, 1, (const float[]){1, 0.5f}, NULL, &m), 0);
    meta_set(&m, "feature_probability", "[1]");
    cr_assert_eq(ckpt_save_params(path, &ps, &m), 0);
    cr_assert_null(toy_ckpt_load(path, 4, &f));
    cr_assert(strstr(err_msg(), "feature_probability"), "%s", err_msg());
    // Without the layout keys it still loads: each instance its own setting, importance 1.
    m = (Meta){0};
    cr_assert_eq(toy_ckpt_meta(&c, 0, 0, NULL, NULL, &m), 0);
    cr_assert_eq(ckpt_save_params(path, &ps, &m), 0);
    Toy *t = toy_ckpt_load(path, 4, &f);
    cr_assert_not_null(t, "%s", err_msg());
    cr_assert_eq(t->importance[5], 1.0f);
    ToyLayout lay;
    cr_assert_eq(toy_ckpt_layout(&f, path, 2, &lay), 0);
    cr_assert(lay.n_settings == 2 && lay.replicas == 1 && !lay.prob);
    toy_free(t);
    st_close(&f);
    params_free(&ps);
    rm_tree(d);
}
