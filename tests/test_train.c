// The training loop on a transformer: resume is bit-identical, a NaN stops training and keeps
// the last good checkpoint, hostile checkpoints are refused with a message, and the command-line
// verbs (train, inspect, hooks, eval) work end to end.
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datasets/npy.h"
#include "helpers.h"
#include "model/err.h"
#include "model/fileio.h"
#include "train/tf_checkpoint.h"
#include "train/tf_train.h"

TestSuite(train);

static TfTrainSpec tiny_spec(const char *out, long steps) {
    TfTrainSpec s;
    memset(&s, 0, sizeof s);
    snprintf(s.data, sizeof s.data, "repeat");
    s.model = (TfConfig){.n_layers = 1, .d_model = 16, .n_heads = 2, .d_head = 8, .d_mlp = 32,
                         .n_ctx = 12, .d_vocab = 12, .act_fn = TF_ACT_GELU_NEW,
                         .normalization_type = TF_NORM_LN, .eps = 1e-5f};
    s.batch = 4;
    s.seed = 7;
    s.eval_batches = 2;
    s.train.steps = steps;
    s.train.eval_every = 5;
    s.train.ckpt_every = 0;
    s.train.clip = 1.0;
    s.train.optim = optim_defaults(OPTIM_ADAMW);
    s.train.sched = (Sched){.kind = SCHED_WARMUP_COSINE, .lr = 3e-3f, .warmup = 3, .total = 20,
                            .min_lr = 3e-4f};
    s.train.out_dir = out;
    s.train.quiet = 1;
    return s;
}

Test(train, resume_is_bit_identical_to_an_uninterrupted_run) {
    char a[64], b[64];
    make_tmpdir(a, sizeof a);
    make_tmpdir(b, sizeof b);
    TfTrainSpec sa = tiny_spec(a, 20);
    TfTrainer *ta = tftrain_create(&sa);
    cr_assert_not_null(ta, "%s", err_msg());
    cr_assert_eq(tftrain_run(ta), 0, "%s", err_msg());
    // The same run stopped at step 10, then resumed to 20 from its checkpoint.
    TfTrainSpec sb = tiny_spec(b, 10);
    TfTrainer *tb = tftrain_create(&sb);
    cr_assert_eq(tftrain_run(tb), 0, "%s", err_msg());
    tftrain_free(tb);
    tb = tftrain_resume(b, 20, 0, 1);
    cr_assert_not_null(tb, "%s", err_msg());
    cr_assert_eq(tb->state.step, 10);
    cr_assert_eq(tftrain_run(tb), 0, "%s", err_msg());
    cr_assert_eq(memcmp(ta->m->params.data, tb->m->params.data, ta->m->params.numel * 4), 0,
                 "parameters differ after resume");
    cr_assert_eq(memcmp(ta->opt->m, tb->opt->m, ta->m->params.numel * 4), 0);
    cr_assert_eq(memcmp(ta->opt->v, tb->opt->v, ta->m->params.numel * 4), 0);
    // The files agree byte for byte: model, optimiser state and metrics.
    assert_same_run_files(a, b);
    tftrain_free(ta);
    tftrain_free(tb);
    rm_tree(a);
    rm_tree(b);
}

// tftrain_losses splits the losses by each sequence's own layout (variable-length repeats): the
// first copy's targets from its second token, the repeats' from the second token of the first
// repeat, and everything.
Test(train, repeat_losses_follow_each_sequence_layout) {
    TfTrainSpec s = tiny_spec("/nonexistent", 1);
    s.model.n_ctx = 17;
    s.use_bos = 1;
    s.repeat_min = 3;
    TfTrainer *t = tftrain_create(&s);
    cr_assert_not_null(t, "%s", err_msg());
    const int n = s.batch * s.eval_batches, T = 17;
    double val, first, rep, want[3] = {0}, cnt[3] = {0};
    int lens = 0;
    cr_assert_eq(tftrain_eval_losses(t, NULL, &val, &first, &rep), 0, "%s", err_msg());
    for (int b = 0; b < n; b++) {
        const TokRepeat *l = &t->vlay[b];
        cr_assert(l->len >= 3 && l->len <= 8 && l->start == 1 && l->end == T);
        lens |= 1 << l->len;
        cr_assert_eq(tf_forward(t->m, t->vtok + b * T, t->vtg + b * T, 1, T, NULL, NULL), 0);
        const float *loss = tf_act(t->m, "losses").data;
        for (int p = 0; p + 1 < T; p++) {  // position p predicts token p + 1
            int q = p + 1;
            want[0] += loss[p], cnt[0]++;
            if (q > l->start && q < l->start + l->len) want[1] += loss[p], cnt[1]++;
            if (q > l->start + l->len && q < l->end) want[2] += loss[p], cnt[2]++;
        }
    }
    cr_assert_neq(lens & (lens - 1), 0, "the held-out set has more than one length");
    cr_assert_float_eq(val, want[0] / cnt[0], 1e-6);
    cr_assert_float_eq(first, want[1] / cnt[1], 1e-6);
    cr_assert_float_eq(rep, want[2] / cnt[2], 1e-6);
    tftrain_free(t);
}

Test(train, nan_loss_stops_and_keeps_last_good_checkpoint) {
    char d[64], p[128];
    make_tmpdir(d, sizeof d);
    TfTrainSpec s = tiny_spec(d, 200);
    s.train.ckpt_every = 2;
    s.train.clip = 0;
    s.train.sched = (Sched){.kind = SCHED_CONSTANT, .lr = 1e30f};  // diverges within a few steps
    s.train.optim = optim_defaults(OPTIM_SGD);
    TfTrainer *t = tftrain_create(&s);
    cr_assert_not_null(t, "%s", err_msg());
    cr_assert_eq(tftrain_run(t), -1, "training did not stop");
    const char *msg = err_msg();
    cr_assert(strstr(msg, "NaN") || strstr(msg, "infinite"), "%s", msg);
    long failed = t->state.step;
    tftrain_free(t);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    if (failed >= 2) {
        StFile f;
        Transformer *m = tf_ckpt_load(p, 1, &f);
        cr_assert_not_null(m, "last good checkpoint unreadable: %s", err_msg());
        long step;
        cr_assert_eq(ckpt_meta_long(&f, p, "step", 0, 1000, &step), 0);
        cr_assert(step <= failed && step % 2 == 0, "checkpoint step %ld, failed at %ld", step, failed);
        for (size_t i = 0; i < m->params.numel; i++)
            cr_assert(isfinite(m->params.data[i]), "non-finite parameter saved");
        st_close(&f);
        tf_free(m);
    } else {
        cr_assert(access(p, F_OK) != 0, "a checkpoint was written from a diverged model");
    }
    rm_tree(d);
}

// Writes a modified copy of a good checkpoint and checks tf_ckpt_load refuses it by name.
static void expect_refused(const char *dir, const char *good, const TfConfig *cfg,
                           void (*edit)(ParamSet *ps, Meta *meta), const char *fragment) {
    char path[128];
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    StFile f;
    Transformer *m = tf_ckpt_load(good, 1, &f);
    cr_assert_not_null(m);
    st_close(&f);
    Meta meta = {0};
    tf_ckpt_meta(cfg, &meta);
    ParamSet ps = m->params;
    edit(&ps, &meta);
    cr_assert_eq(ckpt_save_params(path, &ps, &meta), 0, "%s", err_msg());
    Transformer *bad = tf_ckpt_load(path, 1, &f);
    cr_assert_null(bad, "hostile checkpoint (%s) accepted", fragment);
    cr_assert(strstr(err_msg(), fragment) && strstr(err_msg(), path), "message: %s", err_msg());
    tf_free(m);
}

static void drop_last_tensor(ParamSet *ps, Meta *meta) {
    (void)meta;
    ps->count--;
}
static void wrong_shape(ParamSet *ps, Meta *meta) {
    (void)meta;
    ps->info[0].shape[1] = ps->info[0].shape[1] / 2;  // the data block is only read, not resized
    ps->info[0].numel /= 2;
}
static void bad_config_json(ParamSet *ps, Meta *meta) {
    (void)ps;
    meta_set(meta, "config", "{\"n_layers\": 1, \"d_model\": ");
}
static void wrong_arch(ParamSet *ps, Meta *meta) {
    (void)ps;
    meta_set(meta, "mechlab_arch", "cnn");
}
static void bad_config_value(ParamSet *ps, Meta *meta) {
    (void)ps;
    meta_set(meta, "config", "{\"n_layers\": 1, \"d_model\": 16, \"n_heads\": 2, \"d_head\": 8, "
                             "\"d_mlp\": 32, \"attn_only\": false, \"n_ctx\": 12, \"d_vocab\": 12, "
                             "\"act_fn\": \"swish\", \"normalization_type\": \"LN\", \"eps\": 1e-5}");
}

Test(train, hostile_transformer_checkpoints_are_refused_by_name) {
    char d[64], good[128];
    make_tmpdir(d, sizeof d);
    TfTrainSpec s = tiny_spec(d, 1);
    TfTrainer *t = tftrain_create(&s);
    cr_assert_eq(tftrain_run(t), 0, "%s", err_msg());
    snprintf(good, sizeof good, "%s/model.safetensors", d);
    expect_refused(d, good, &t->m->cfg, drop_last_tensor, "missing");
    expect_refused(d, good, &t->m->cfg, wrong_shape, "shape");
    expect_refused(d, good, &t->m->cfg, bad_config_json, "config");
    expect_refused(d, good, &t->m->cfg, wrong_arch, "not a transformer");
    expect_refused(d, good, &t->m->cfg, bad_config_value, "swish");
    tftrain_free(t);
    rm_tree(d);
}

// ---- the command ------------------------------------------------------------------------------

Test(train, cli_train_inspect_hooks_eval_end_to_end) {
    char d[64], run[100], args[512];
    make_tmpdir(d, sizeof d);
    snprintf(run, sizeof run, "%s/run", d);
    snprintf(args, sizeof args,
             "train transformer --data repeat --vocab 12 --layers 1 --d-model 16 --heads 2 "
             "--n-ctx 12 --batch 4 --steps 12 --eval-every 4 --out %s",
             run);
    cr_assert_eq(run_cli(args, d), 0, "train failed: %s", read_in(d, "err.txt"));
    char *csv = read_in(run, "metrics.csv");
    cr_assert(!strncmp(csv, "step,lr,train_loss,grad_norm,val_loss,loss_first_half,loss_repeat_half\n", 70),
              "%s", csv);
    int rows = 0;
    for (char *p = csv; *p; p++) rows += *p == '\n';
    cr_assert_eq(rows, 4, "header + 3 evaluations expected:\n%s", csv);
    free(csv);
    char *cfg = read_in(run, "config.json");
    cr_assert(strstr(cfg, "\"d_model\": 16") && strstr(cfg, "\"normalization_type\": \"LN\""), "%s", cfg);
    free(cfg);

    snprintf(args, sizeof args, "inspect %s", run);
    cr_assert_eq(run_cli(args, d), 0);
    char *out = read_in(d, "out.txt");
    cr_assert(strstr(out, "blocks.0.attn.W_Q") && strstr(out, "[2,16,8]") &&
              strstr(out, "training step: 12"), "%s", out);
    free(out);

    snprintf(args, sizeof args, "hooks %s --batch 3", run);
    cr_assert_eq(run_cli(args, d), 0);
    out = read_in(d, "out.txt");
    cr_assert(strstr(out, "blocks.0.attn.hook_pattern") && strstr(out, "[3, 2, 12, 12]"), "%s", out);
    free(out);

    // eval on a token file; then an out-of-range token is an error, not a crash.
    char npy[128];
    snprintf(npy, sizeof npy, "%s/tok.npy", d);
    int64_t tok[2 * 10], shape[2] = {2, 10};
    for (int i = 0; i < 20; i++) tok[i] = (i * 7) % 11;
    cr_assert_eq(npy_save_i64(npy, tok, 2, shape), 0);
    snprintf(args, sizeof args, "eval %s --tokens %s --logits %s/logits.npy", run, npy, d);
    cr_assert_eq(run_cli(args, d), 0, "%s", read_in(d, "err.txt"));
    out = read_in(d, "out.txt");
    double loss = 0;
    cr_assert(sscanf(out, "loss %lf", &loss) == 1 && loss > 0 && loss < 10, "%s", out);
    free(out);
    char lp[128];
    snprintf(lp, sizeof lp, "%s/logits.npy", d);
    float *logits;
    int nd;
    int64_t ls[8];
    cr_assert_eq(npy_load_f32(lp, &logits, &nd, ls), 0, "%s", err_msg());
    cr_assert(nd == 3 && ls[0] == 2 && ls[1] == 10 && ls[2] == 12);
    free(logits);
    tok[5] = 12;
    cr_assert_eq(npy_save_i64(npy, tok, 2, shape), 0);
    snprintf(args, sizeof args, "eval %s --tokens %s", run, npy);
    cr_assert_eq(run_cli(args, d), 1);
    char *err = read_in(d, "err.txt");
    cr_assert(strstr(err, "mechlab: ") && strstr(err, "outside the vocabulary"), "%s", err);
    free(err);

    // A truncated checkpoint: exit 1 and a message naming the file.
    char ck[160], cut[160], cmd[400];
    snprintf(ck, sizeof ck, "%s/model.safetensors", run);
    snprintf(cut, sizeof cut, "%s/cut.safetensors", d);
    snprintf(cmd, sizeof cmd, "head -c 300 %s > %s", ck, cut);
    cr_assert_eq(system(cmd), 0);
    snprintf(args, sizeof args, "inspect %s", cut);
    cr_assert_eq(run_cli(args, d), 1);
    err = read_in(d, "err.txt");
    cr_assert(strstr(err, "mechlab: ") && strstr(err, "cut.safetensors"), "%s", err);
    free(err);

    // Usage errors exit 2.
    cr_assert_eq(run_cli("train transformer --steps nope --out x", d), 2);
    cr_assert_eq(run_cli("train transformer", d), 2);
    cr_assert_eq(run_cli("train transformer --help", d), 0);
    rm_tree(d);
}

Test(train, sigint_saves_a_checkpoint_that_resumes) {
    char d[64], run[100];
    make_tmpdir(d, sizeof d);
    snprintf(run, sizeof run, "%s/run", d);
    const char *cli = getenv("MECHLAB_CLI");
    if (!cli) cli = "build/mechlab";
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        execl(cli, cli, "train", "transformer", "--vocab", "12", "--layers", "1", "--d-model",
              "16", "--heads", "2", "--n-ctx", "12", "--batch", "4", "--steps", "100000000",
              "--eval-every", "1", "--ckpt-every", "0", "--out", run, (char *)NULL);
        _exit(127);
    }
    // metrics.csv appears after the first step, so the signal handlers are in place by then;
    // polling (not a fixed sleep) keeps the test honest on a loaded machine.
    char csv[160];
    snprintf(csv, sizeof csv, "%s/metrics.csv", run);
    for (int i = 0; i < 600 && access(csv, F_OK) != 0; i++) usleep(50 * 1000);
    cr_assert_eq(access(csv, F_OK), 0, "training did not start within 30 s");
    usleep(100 * 1000);
    kill(pid, SIGINT);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d", st);
    char p[160];
    snprintf(p, sizeof p, "%s/model.safetensors", run);
    StFile f;
    Transformer *m = tf_ckpt_load(p, 1, &f);
    cr_assert_not_null(m, "%s", err_msg());
    long step;
    cr_assert_eq(ckpt_meta_long(&f, p, "step", 1, 100000000, &step), 0, "%s", err_msg());
    st_close(&f);
    tf_free(m);
    TfTrainer *t = tftrain_resume(run, step + 3, 0, 1);
    cr_assert_not_null(t, "%s", err_msg());
    cr_assert_eq(tftrain_run(t), 0, "%s", err_msg());
    cr_assert_eq(t->state.step, step + 3);
    tftrain_free(t);
    rm_tree(d);
}
