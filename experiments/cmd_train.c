// mechlab train — train a model on a dataset and write a run folder.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/pool.h"
#include "train/tf_checkpoint.h"
#include "train/tf_train.h"
#include "verbs.h"

static void usage_tf(FILE *f) {
    fprintf(f,
        "Usage: mechlab train transformer --out DIR [options]\n"
        "Train a decoder-only transformer (TransformerLens conventions) and write DIR/\n"
        "model.safetensors, optim.safetensors, metrics.csv and config.json.\n\n"
        "Data:\n"
        "  --data SPEC          repeat (random segment repeated: induction), random, or text:FILE\n"
        "                       (character level; vocabulary from the file)   [repeat]\n"
        "  --vocab N            vocabulary size for repeat/random               [64]\n"
        "  --bos                start repeat sequences with a BOS token (id vocab-1)\n"
        "  --repeat-min N       repeat: segment length drawn per sequence from [N, longest],\n"
        "                       repeated to the end; 0 = always the longest, twice  [0]\n"
        "  --seq-len T          tokens per sequence (<= n_ctx; 0 = n_ctx)        [0]\n"
        "Model:\n"
        "  --layers N  --d-model D  --heads H  --d-head dh  --d-mlp M   [2, 64, 4, D/H, 4D]\n"
        "  --attn-only          no MLP blocks\n"
        "  --act relu|gelu_new  MLP activation                                  [gelu_new]\n"
        "  --norm LN|none       normalisation                                   [LN]\n"
        "  --n-ctx N            context length                                  [64]\n"
        "Training:\n"
        "  --steps N            [2000]   --batch B  [32]   --seed S  [0]\n"
        "  --optim adamw|adam|sgd [adamw]  --lr X [1e-3]  --weight-decay X [0.01 adamw, else 0]\n"
        "  --momentum X         SGD momentum                                     [0.9]\n"
        "  --schedule constant|warmup|cosine  [cosine]  --warmup N [100]  --min-lr X [lr/10]\n"
        "  --clip X             global gradient-norm clip, 0 = none               [1.0]\n"
        "  --eval-every N       [100]    --eval-batches N [4]   --ckpt-every N [500]\n"
        "  --resume             continue the run in --out from its last checkpoint\n"
        "                       (settings come from the checkpoint; --steps may extend it)\n"
        "  --threads N          worker threads (default: MECHLAB_THREADS or all cores)\n"
        "  -h, --help\n");
}

enum {
    O_DATA = 256, O_VOCAB, O_BOS, O_SEQ, O_LAYERS, O_DMODEL, O_HEADS, O_DHEAD, O_DMLP, O_ATTN,
    O_ACT, O_NORM, O_NCTX, O_STEPS, O_BATCH, O_SEED, O_OPTIM, O_LR, O_WD, O_MOM, O_SCHED,
    O_WARM, O_MINLR, O_CLIP, O_EVAL, O_EVALB, O_CKPT, O_RESUME, O_THREADS, O_OUT, O_REPMIN
};

static int train_transformer(int argc, char **argv) {
    static const struct option opts[] = {
        {"data", 1, 0, O_DATA},      {"vocab", 1, 0, O_VOCAB},     {"bos", 0, 0, O_BOS},
        {"seq-len", 1, 0, O_SEQ},    {"layers", 1, 0, O_LAYERS},   {"d-model", 1, 0, O_DMODEL},
        {"heads", 1, 0, O_HEADS},    {"d-head", 1, 0, O_DHEAD},    {"d-mlp", 1, 0, O_DMLP},
        {"attn-only", 0, 0, O_ATTN}, {"act", 1, 0, O_ACT},         {"norm", 1, 0, O_NORM},
        {"n-ctx", 1, 0, O_NCTX},     {"steps", 1, 0, O_STEPS},     {"batch", 1, 0, O_BATCH},
        {"seed", 1, 0, O_SEED},      {"optim", 1, 0, O_OPTIM},     {"lr", 1, 0, O_LR},
        {"weight-decay", 1, 0, O_WD}, {"momentum", 1, 0, O_MOM},   {"schedule", 1, 0, O_SCHED},
        {"warmup", 1, 0, O_WARM},    {"min-lr", 1, 0, O_MINLR},    {"clip", 1, 0, O_CLIP},
        {"eval-every", 1, 0, O_EVAL}, {"eval-batches", 1, 0, O_EVALB},
        {"ckpt-every", 1, 0, O_CKPT}, {"resume", 0, 0, O_RESUME},  {"threads", 1, 0, O_THREADS},
        {"out", 1, 0, O_OUT},        {"repeat-min", 1, 0, O_REPMIN}, {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *V = "train transformer";
    TfTrainSpec s;
    memset(&s, 0, sizeof s);
    snprintf(s.data, sizeof s.data, "repeat");
    s.model = (TfConfig){.n_layers = 2, .d_model = 64, .n_heads = 4, .n_ctx = 64, .d_vocab = 64,
                         .act_fn = TF_ACT_GELU_NEW, .normalization_type = TF_NORM_LN, .eps = 1e-5f};
    s.batch = 32;
    s.eval_batches = 4;
    s.train.steps = 2000;
    s.train.eval_every = 100;
    s.train.ckpt_every = 500;
    s.train.clip = 1.0;
    s.train.sched = (Sched){.kind = SCHED_WARMUP_COSINE, .lr = 1e-3f, .warmup = 100, .min_lr = -1};
    OptimKind okind = OPTIM_ADAMW;
    double wd = -1, mom = 0.9, x;
    long v, threads = 0;
    int resume = 0, steps_given = 0;
    const char *out = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage_tf(stdout); return EXIT_OK;
        case O_DATA: snprintf(s.data, sizeof s.data, "%s", optarg); break;
        case O_OUT: out = optarg; break;
        case O_BOS: s.use_bos = 1; break;
        case O_ATTN: s.model.attn_only = true; break;
        case O_RESUME: resume = 1; break;
        case O_ACT:
            if (tf_act_fn_parse(optarg, &s.model.act_fn)) return cli_usage(V, "--act: %s", err_msg());
            break;
        case O_NORM:
            if (tf_norm_parse(optarg, &s.model.normalization_type))
                return cli_usage(V, "--norm: %s", err_msg());
            break;
        case O_OPTIM:
            if (!strcmp(optarg, "adamw")) okind = OPTIM_ADAMW;
            else if (!strcmp(optarg, "adam")) okind = OPTIM_ADAM;
            else if (!strcmp(optarg, "sgd")) okind = OPTIM_SGD;
            else return cli_usage(V, "--optim: '%s' is not adamw, adam or sgd", optarg);
            break;
        case O_SCHED:
            if (!strcmp(optarg, "constant")) s.train.sched.kind = SCHED_CONSTANT;
            else if (!strcmp(optarg, "warmup")) s.train.sched.kind = SCHED_WARMUP_CONSTANT;
            else if (!strcmp(optarg, "cosine")) s.train.sched.kind = SCHED_WARMUP_COSINE;
            else return cli_usage(V, "--schedule: '%s' is not constant, warmup or cosine", optarg);
            break;
        case O_LR: case O_WD: case O_MOM: case O_MINLR: case O_CLIP:
            if (cli_float(V, cli_optname(opts, c), optarg, &x)) return EXIT_USAGE;
            if (c == O_LR) s.train.sched.lr = (float)x;
            if (c == O_WD) wd = x;
            if (c == O_MOM) mom = x;
            if (c == O_MINLR) s.train.sched.min_lr = (float)x;
            if (c == O_CLIP) s.train.clip = x;
            break;
        case '?': return cli_usage(V, "unknown or incomplete option");
        default:
            if (cli_int(V, cli_optname(opts, c), optarg, 0, 1L << 40, &v)) return EXIT_USAGE;
            switch (c) {
            case O_VOCAB: s.model.d_vocab = (int)v; break;
            case O_SEQ: s.seq_len = (int)v; break;
            case O_REPMIN: s.repeat_min = (int)v; break;
            case O_LAYERS: s.model.n_layers = (int)v; break;
            case O_DMODEL: s.model.d_model = (int)v; break;
            case O_HEADS: s.model.n_heads = (int)v; break;
            case O_DHEAD: s.model.d_head = (int)v; break;
            case O_DMLP: s.model.d_mlp = (int)v; break;
            case O_NCTX: s.model.n_ctx = (int)v; break;
            case O_STEPS: s.train.steps = v; steps_given = 1; break;
            case O_BATCH: s.batch = (int)v; break;
            case O_SEED: s.seed = (uint64_t)v; break;
            case O_WARM: s.train.sched.warmup = v; break;
            case O_EVAL: s.train.eval_every = v; break;
            case O_EVALB: s.eval_batches = (int)v; break;
            case O_CKPT: s.train.ckpt_every = v; break;
            case O_THREADS: threads = v; break;
            }
        }
    }
    if (optind < argc) return cli_usage(V, "unexpected argument '%s'", argv[optind]);
    if (!out) return cli_usage(V, "--out DIR is required");
    if (threads > 0 && pool_set_threads((int)threads)) return cli_fail_err();
    int progress = isatty(2);

    TfTrainer *t;
    if (resume) {
        t = tftrain_resume(out, steps_given ? s.train.steps : 0, progress, 0);
        if (!t) return cli_fail_err();
        fprintf(stderr, "resuming %s at step %ld of %ld\n", out, t->state.step, t->spec.train.steps);
    } else {
        if (!s.model.d_head && s.model.n_heads > 0) s.model.d_head = s.model.d_model / s.model.n_heads;
        if (!s.model.d_mlp) s.model.d_mlp = 4 * s.model.d_model;
        s.train.optim = optim_defaults(okind);
        if (wd >= 0) s.train.optim.weight_decay = wd;
        if (okind == OPTIM_SGD) s.train.optim.momentum = mom;
        if (s.train.sched.min_lr < 0) s.train.sched.min_lr = s.train.sched.lr / 10;
        if (s.train.sched.kind == SCHED_CONSTANT) s.train.sched.warmup = 0;
        if (s.train.sched.warmup >= s.train.steps) s.train.sched.warmup = s.train.steps / 10;
        s.train.sched.total = s.train.steps;
        s.train.out_dir = out;
        s.train.progress = progress;
        t = tftrain_create(&s);
        if (!t) return cli_fail_err();
    }
    int rc = tftrain_run(t);
    if (rc < 0) {
        tftrain_free(t);
        return cli_fail_err();
    }
    // config.json: the model config as the Python tools name it.
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", out);
    Buf b = {0};
    tf_config_to_json(&t->m->cfg, &b);
    buf_puts(&b, "\n");
    int wrc = fileio_write_all(path, b.p, b.len);
    buf_free(&b);
    if (wrc) {
        tftrain_free(t);
        return cli_fail_err();
    }
    if (rc == 0)
        fprintf(stderr, "done: %ld steps, final train loss %.4f; wrote %s/model.safetensors\n",
                t->state.step, t->state.last_loss, out);
    tftrain_free(t);
    return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

int cmd_train(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "Usage: mechlab train <arch> [options]\n"
                   "Architectures:\n"
                   "  transformer   decoder-only transformer on token data\n"
                   "  cnn           convolutional net on images (Fashion-MNIST, synthetic lines)\n"
                   "Run 'mechlab train <arch> --help' for its options.\n");
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (!strcmp(argv[1], "transformer")) return train_transformer(argc - 1, argv + 1);
    if (!strcmp(argv[1], "cnn")) return cmd_train_cnn(argc - 1, argv + 1);
    return cli_usage("train", "unknown architecture '%s'", argv[1]);
}
