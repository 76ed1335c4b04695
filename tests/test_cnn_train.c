// The CNN in the training loop: resume is bit-identical (across an epoch boundary, from a
// checkpoint written mid-epoch), every epoch visits each training image once, a NaN stops
// training and keeps the last good checkpoint, evaluation counts what it should, hostile
// checkpoints are refused by name, and `mechlab train cnn` works end to end.
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "model/err.h"
#include "model/fileio.h"
#include "train/cnn_train.h"

TestSuite(cnn_train);

// 256 training images, batch 32: 8 steps an epoch.
static CnnTrainSpec tiny_spec(const char *out, long steps) {
    CnnTrainSpec s = cnntrain_defaults("lines");
    snprintf(s.arch, sizeof s.arch, "conv3x3:4,relu,maxpool2,linear:8");
    s.size = 12;
    s.n_train = 256;
    s.n_test = 64;
    s.normalize = 1;
    s.batch = 32;
    s.seed = 11;
    s.train.steps = steps;
    s.train.eval_every = 4;
    s.train.ckpt_every = 0;
    s.train.optim = optim_defaults(OPTIM_ADAMW);
    s.train.sched = (Sched){.kind = SCHED_WARMUP_COSINE, .lr = 3e-3f, .warmup = 3, .total = 21,
                            .min_lr = 3e-4f};
    s.train.out_dir = out;
    s.train.quiet = 1;
    return s;
}

Test(cnn_train, resume_is_bit_identical_across_epochs) {
    char a[64], b[64];
    make_tmpdir(a, sizeof a);
    make_tmpdir(b, sizeof b);
    CnnTrainSpec sa = tiny_spec(a, 21);
    CnnTrainer *ta = cnntrain_create(&sa);
    cr_assert_not_null(ta, "%s", err_msg());
    cr_assert_eq(cnntrain_run(ta), 0, "%s", err_msg());
    cr_assert_eq(ta->epoch, 3, "21 steps of 8 per epoch span 3 epochs, got %ld", ta->epoch);
    // Stopped at step 12 (mid-epoch 2; a multiple of eval_every, so metrics.csv matches too),
    // resumed to 21.
    CnnTrainSpec sb = tiny_spec(b, 12);
    CnnTrainer *tb = cnntrain_create(&sb);
    cr_assert_eq(cnntrain_run(tb), 0, "%s", err_msg());
    cnntrain_free(tb);
    tb = cnntrain_resume(b, 21, 0, 1);
    cr_assert_not_null(tb, "%s", err_msg());
    cr_assert_eq(tb->state.step, 12);
    cr_assert_eq(tb->pos, 4 * 32, "resumed at position %d of the epoch", tb->pos);
    cr_assert_eq(cnntrain_run(tb), 0, "%s", err_msg());
    size_t n = ta->m->params.numel;
    cr_assert_eq(memcmp(ta->m->params.data, tb->m->params.data, n * 4), 0, "parameters differ");
    cr_assert_eq(memcmp(ta->opt->m, tb->opt->m, n * 4), 0);
    cr_assert_eq(memcmp(ta->opt->v, tb->opt->v, n * 4), 0);
    assert_same_run_files(a, b);
    cnntrain_free(ta);
    cnntrain_free(tb);
    rm_tree(a);
    rm_tree(b);
}

Test(cnn_train, every_epoch_is_a_fresh_permutation) {
    char d[64];
    make_tmpdir(d, sizeof d);
    CnnTrainSpec s = tiny_spec(d, 1);
    CnnTrainer *t = cnntrain_create(&s);
    cr_assert_not_null(t, "%s", err_msg());
    int n = t->train.n, *seen = calloc(n, sizeof(int)), *first = malloc(sizeof(int) * n);
    memcpy(first, t->perm, sizeof(int) * n);
    // Run two epochs' worth of steps and collect the images each epoch drew.
    int counted = 0;
    for (long step = 0; step < 16; step++) {
        long ep = t->epoch;
        double loss;
        params_zero_grad(&t->m->params);
        cr_assert_eq(t->tm.train_step(t, &loss), 0, "%s", err_msg());
        if (t->epoch != ep) {
            for (int i = 0; i < n; i++) cr_assert_eq(seen[i], 1, "image %d drawn %d times", i, seen[i]);
            memset(seen, 0, sizeof(int) * n);
            counted++;
        }
        for (int b = 0; b < s.batch; b++) seen[t->idx[b]]++;
    }
    for (int i = 0; i < n; i++) cr_assert_eq(seen[i], 1, "image %d drawn %d times", i, seen[i]);
    cr_assert_eq(counted, 1);
    cr_assert_neq(memcmp(first, t->perm, sizeof(int) * n), 0, "epoch 2 reused epoch 1's order");
    free(seen);
    free(first);
    cnntrain_free(t);
    rm_tree(d);
}

Test(cnn_train, nan_loss_stops_and_keeps_last_good_checkpoint) {
    char d[64], p[128];
    make_tmpdir(d, sizeof d);
    CnnTrainSpec s = tiny_spec(d, 200);
    s.train.ckpt_every = 2;
    s.train.clip = 0;
    s.train.sched = (Sched){.kind = SCHED_CONSTANT, .lr = 1e30f};
    s.train.optim = optim_defaults(OPTIM_SGD);
    CnnTrainer *t = cnntrain_create(&s);
    cr_assert_not_null(t, "%s", err_msg());
    cr_assert_eq(cnntrain_run(t), -1, "training did not stop");
    cr_assert(strstr(err_msg(), "NaN") || strstr(err_msg(), "infinite"), "%s", err_msg());
    long failed = t->state.step;
    cnntrain_free(t);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    if (failed >= 2) {
        StFile f;
        Cnn *m = cnn_ckpt_load(p, 1, &f, NULL);
        cr_assert_not_null(m, "last good checkpoint unreadable: %s", err_msg());
        long step;
        cr_assert_eq(ckpt_meta_long(&f, p, "step", 0, 1000, &step), 0);
        cr_assert(step <= failed && step % 2 == 0, "checkpoint step %ld, failed at %ld", step, failed);
        for (size_t i = 0; i < m->params.numel; i++)
            cr_assert(isfinite(m->params.data[i]), "non-finite parameter saved");
        st_close(&f);
        cnn_free(m);
    } else {
        cr_assert(access(p, F_OK) != 0, "a checkpoint was written from a diverged model");
    }
    rm_tree(d);
}

// A hand-built classifier on 1×1×2 "images": logits = x (identity linear layer), so the
// prediction is the larger pixel and the loss is log-sum-exp minus the label's pixel.
Test(cnn_train, evaluate_counts_accuracy_loss_and_confusion) {
    Cnn *m = cnn_create("linear:2", 2, 1, 1, 2);  // max_batch 2: three batches for 5 images
    cr_assert_not_null(m, "%s", err_msg());
    float *W = params_data(&m->params, "layers.0.W");
    W[0] = 1, W[1] = 0, W[2] = 0, W[3] = 1;
    ImageSet s;
    cr_assert_eq(images_alloc(&s, 5, 2, 1, 1, 2, 0), 0);
    float px[5][2] = {{1, 0}, {0, 2}, {3, 1}, {0, 1}, {2, 0}};
    int y[5] = {0, 1, 1, 0, 0};  // right, right, wrong (pred 0), wrong (pred 1), right
    double want = 0;
    for (int i = 0; i < 5; i++) {
        s.x[2 * i] = px[i][0];
        s.x[2 * i + 1] = px[i][1];
        s.y[i] = y[i];
        want += log(exp(px[i][0]) + exp(px[i][1])) - px[i][y[i]];
    }
    double loss, acc;
    int64_t conf[4];
    cr_assert_eq(cnntrain_evaluate(m, &s, 0, NULL, &loss, &acc, conf), 0, "%s", err_msg());
    cr_assert_float_eq(acc, 0.6, 1e-12);
    cr_assert_float_eq(loss, want / 5, 1e-6, "loss %g, want %g", loss, want / 5);
    cr_assert(conf[0] == 2 && conf[1] == 1 && conf[2] == 1 && conf[3] == 1,
              "confusion [[%ld %ld] [%ld %ld]]", (long)conf[0], (long)conf[1], (long)conf[2],
              (long)conf[3]);
    // the first 2 images only
    cr_assert_eq(cnntrain_evaluate(m, &s, 2, NULL, &loss, &acc, NULL), 0);
    cr_assert_float_eq(acc, 1.0, 1e-12);
    images_free(&s);
    cnn_free(m);
}

static void expect_refused(const char *dir, const Cnn *m, const char *key, const char *val,
                           const char *fragment) {
    char path[128];
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    Meta meta = {0};
    CnnCkptConfig c = {.C = m->C, .H = m->H, .W = m->W, .n_out = m->n_out, .input_std = 1};
    snprintf(c.spec, sizeof c.spec, "%s", m->spec);
    snprintf(c.data, sizeof c.data, "lines");
    cr_assert_eq(cnn_ckpt_meta(&c, &meta), 0);
    if (key) meta_set(&meta, key, "%s", val);
    cr_assert_eq(ckpt_save_params(path, &m->params, &meta), 0, "%s", err_msg());
    StFile f;
    Cnn *bad = cnn_ckpt_load(path, 1, &f, NULL);
    cr_assert_null(bad, "hostile checkpoint (%s) accepted", fragment);
    cr_assert(strstr(err_msg(), fragment) && strstr(err_msg(), path), "message: %s", err_msg());
}

Test(cnn_train, checkpoints_load_and_hostile_ones_are_refused) {
    char d[64], path[128];
    make_tmpdir(d, sizeof d);
    Cnn *m = cnn_create("conv3x3:2,relu,linear:3", 1, 6, 6, 1);
    cr_assert_not_null(m);
    cnn_init_weights(m, 5);
    // a good one round-trips parameters and config
    snprintf(path, sizeof path, "%s/good.safetensors", d);
    Meta meta = {0};
    CnnCkptConfig c = {.C = 1, .H = 6, .W = 6, .n_out = 3, .input_mean = 0.25f, .input_std = 0.5f};
    snprintf(c.spec, sizeof c.spec, "%s", m->spec);
    snprintf(c.data, sizeof c.data, "edges");
    cr_assert_eq(cnn_ckpt_meta(&c, &meta), 0);
    cr_assert_eq(ckpt_save_params(path, &m->params, &meta), 0, "%s", err_msg());
    StFile f;
    CnnCkptConfig back;
    Cnn *r = cnn_ckpt_load(path, 4, &f, &back);
    cr_assert_not_null(r, "%s", err_msg());
    cr_assert_eq(memcmp(r->params.data, m->params.data, m->params.numel * 4), 0);
    cr_assert(r->max_batch == 4 && back.input_mean == 0.25f && back.input_std == 0.5f &&
              !strcmp(back.data, "edges") && !strcmp(back.spec, m->spec));
    st_close(&f);
    cnn_free(r);

    expect_refused(d, m, "mechlab_arch", "transformer", "not a cnn");
    expect_refused(d, m, "config", "{\"spec\": \"conv3x3:2,relu,linear:3\"", "config");
    expect_refused(d, m, "config",
                   "{\"spec\": \"conv3x3:2,relu,linear:4\", \"in_channels\": 1, \"height\": 6, "
                   "\"width\": 6, \"n_out\": 4, \"input_mean\": 0, \"input_std\": 1, \"data\": \"x\"}",
                   "shape");  // the spec's parameters differ from the file's tensors
    expect_refused(d, m, "config",
                   "{\"spec\": \"conv3x3:2,relu,linear:3\", \"in_channels\": 1, \"height\": 6, "
                   "\"width\": 6, \"n_out\": 3, \"input_mean\": 0, \"input_std\": 0, \"data\": \"x\"}",
                   "input_std");
    expect_refused(d, m, "config",
                   "{\"spec\": \"conv3x3:2,rel,linear:3\", \"in_channels\": 1, \"height\": 6, "
                   "\"width\": 6, \"n_out\": 3, \"input_mean\": 0, \"input_std\": 1, \"data\": \"x\"}",
                   "rel");
    cnn_free(m);
    rm_tree(d);
}

// ---- the command ------------------------------------------------------------------------------

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

Test(cnn_train, cli_train_cnn_lines_end_to_end) {
    char d[64], run[100], args[600];
    make_tmpdir(d, sizeof d);
    snprintf(run, sizeof run, "%s/run", d);
    snprintf(args, sizeof args,
             "train cnn --data lines --size 12 --n-train 256 --n-test 64 --batch 16 "
             "--arch conv3x3:4,relu,maxpool2,linear:8 --steps 6 --eval-every 3 --out %s", run);
    cr_assert_eq(run_cli(args, d), 0, "train failed: %s", read_in(d, "err.txt"));
    char *csv = read_in(run, "metrics.csv");
    cr_assert(!strncmp(csv, "step,lr,train_loss,grad_norm,test_loss,test_acc\n", 48), "%s", csv);
    cr_assert_eq(count_lines(csv), 3, "header + 2 evaluations expected:\n%s", csv);
    free(csv);
    char *cfg = read_in(run, "config.json");
    cr_assert(strstr(cfg, "\"spec\": \"conv3x3:4,relu,maxpool2,linear:8\"") &&
              strstr(cfg, "\"height\": 12"), "%s", cfg);
    free(cfg);
    char *err = read_in(d, "err.txt");
    cr_assert(strstr(err, "test_acc") && strstr(err, "done: 6 steps"), "%s", err);
    free(err);

    snprintf(args, sizeof args, "inspect %s", run);
    cr_assert_eq(run_cli(args, d), 0);
    char *out = read_in(d, "out.txt");
    cr_assert(strstr(out, "architecture: cnn") && strstr(out, "layers.0.W") &&
              strstr(out, "[4,1,3,3]") && strstr(out, "training step: 6"), "%s", out);
    free(out);

    // resume to 9 steps: one more evaluation row
    snprintf(args, sizeof args, "train cnn --resume --steps 9 --out %s", run);
    cr_assert_eq(run_cli(args, d), 0, "resume failed: %s", read_in(d, "err.txt"));
    csv = read_in(run, "metrics.csv");
    cr_assert(count_lines(csv) == 4 && strstr(csv, "\n9,"), "%s", csv);
    free(csv);

    // --epochs: 256 images / batch 64 = 4 steps an epoch
    snprintf(args, sizeof args,
             "train cnn --data edges --size 12 --n-train 256 --n-test 32 --batch 64 --epochs 1.5 "
             "--eval-every 0 --out %s/e", d);
    cr_assert_eq(run_cli(args, d), 0, "%s", read_in(d, "err.txt"));
    err = read_in(d, "err.txt");
    cr_assert(strstr(err, "for 6 steps"), "%s", err);
    free(err);

    // Fashion-MNIST missing: exit 1 and say how to install it.
    snprintf(args, sizeof args, "train cnn --data fashion-mnist --data-dir %s/none --out %s/f", d, d);
    cr_assert_eq(run_cli(args, d), 1);
    err = read_in(d, "err.txt");
    cr_assert(strstr(err, "mechlab: ") && strstr(err, "apt-get install dataset-fashion-mnist"),
              "%s", err);
    free(err);

    // A spec with too few outputs for the classes: exit 1, naming the problem.
    snprintf(args, sizeof args, "train cnn --data lines --size 12 --arch linear:4 --out %s/x", d);
    cr_assert_eq(run_cli(args, d), 1);
    err = read_in(d, "err.txt");
    cr_assert(strstr(err, "8 classes"), "%s", err);
    free(err);

    // Usage errors exit 2.
    cr_assert_eq(run_cli("train cnn --data pictures --out x", d), 2);
    cr_assert_eq(run_cli("train cnn --steps 3 --epochs 1 --out x", d), 2);
    cr_assert_eq(run_cli("train cnn", d), 2);
    cr_assert_eq(run_cli("train cnn --help", d), 0);
    rm_tree(d);
}
