// mechlab train cnn — train a CNN on Fashion-MNIST or synthetic stimuli and write a run folder.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "datasets/idx.h"
#include "model/buf.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/pool.h"
#include "train/cnn_train.h"
#include "verbs.h"

#define FASHION_ARCH "conv3x3:16,relu,maxpool2,conv3x3:32,relu,maxpool2,linear:10"

static void usage(FILE *f) {
    fprintf(f,
        "Usage: mechlab train cnn --out DIR [options]\n"
        "Train a CNN (a spec string of conv/relu/pool/linear layers) on images and write DIR/\n"
        "model.safetensors, optim.safetensors, metrics.csv (test_loss, test_acc) and config.json.\n\n"
        "Data:\n"
        "  --data NAME          fashion-mnist, lines, curves or edges              [lines]\n"
        "  --data-dir DIR       folder of the Fashion-MNIST IDX files (.gz or plain)\n"
        "                       [" IDX_FASHION_DIR "]\n"
        "  --size N             synthetic image side in pixels                     [16]\n"
        "  --n-train N  --n-test N   synthetic set sizes [8192, 1024]; fashion-mnist: keep the\n"
        "                       first N of a split (0 = all)\n"
        "  --label L            synthetic labels: orient, curv or joint  [orient; curves: joint]\n"
        "  --noise X            synthetic: std of Gaussian pixel noise             [0]\n"
        "  --normalize | --no-normalize   standardise pixels with the training set's mean/std\n"
        "                       [on for fashion-mnist, off for synthetic data]\n"
        "Model:\n"
        "  --arch SPEC          e.g. conv3x3:16,relu,maxpool2,conv3x3:32,relu,maxpool2,linear:10\n"
        "                       (see model/cnn.h; the last layer needs one output per class)\n"
        "                       [fashion-mnist: " FASHION_ARCH ";\n"
        "                        synthetic: conv5x5:8,relu,maxpool2,conv3x3:16,relu,maxpool2,\n"
        "                        linear:<classes>]\n"
        "Training:\n"
        "  --epochs X | --steps N   length of the run                            [1000 steps]\n"
        "  --batch B  [64]   --seed S  [0]\n"
        "  --optim adam|adamw|sgd [adam]  --lr X [1e-3]  --weight-decay X [0.01 adamw, else 0]\n"
        "  --momentum X         SGD momentum                                     [0.9]\n"
        "  --schedule constant|warmup|cosine [cosine]  --warmup N [50]  --min-lr X [lr/100]\n"
        "  --clip X             global gradient-norm clip, 0 = none               [1.0]\n"
        "  --eval-every N [500]  --eval-max N (test images per eval, 0 = all) [0]\n"
        "  --ckpt-every N [500]\n"
        "  --resume             continue the run in --out from its last checkpoint\n"
        "                       (settings come from the checkpoint; --steps may extend it)\n"
        "  --threads N          worker threads (default: MECHLAB_THREADS or all cores)\n"
        "  -h, --help\n");
}

enum {
    O_DATA = 256, O_DIR, O_SIZE, O_NTRAIN, O_NTEST, O_LABEL, O_NOISE, O_NORM, O_NONORM, O_ARCH,
    O_EPOCHS, O_STEPS, O_BATCH, O_SEED, O_OPTIM, O_LR, O_WD, O_MOM, O_SCHED, O_WARM, O_MINLR,
    O_CLIP, O_EVAL, O_EVALMAX, O_CKPT, O_RESUME, O_THREADS, O_OUT
};

int cmd_train_cnn(int argc, char **argv) {
    static const struct option opts[] = {
        {"data", 1, 0, O_DATA},       {"data-dir", 1, 0, O_DIR},     {"size", 1, 0, O_SIZE},
        {"n-train", 1, 0, O_NTRAIN},  {"n-test", 1, 0, O_NTEST},     {"label", 1, 0, O_LABEL},
        {"noise", 1, 0, O_NOISE},     {"normalize", 0, 0, O_NORM},   {"no-normalize", 0, 0, O_NONORM},
        {"arch", 1, 0, O_ARCH},       {"epochs", 1, 0, O_EPOCHS},    {"steps", 1, 0, O_STEPS},
        {"batch", 1, 0, O_BATCH},     {"seed", 1, 0, O_SEED},        {"optim", 1, 0, O_OPTIM},
        {"lr", 1, 0, O_LR},           {"weight-decay", 1, 0, O_WD},  {"momentum", 1, 0, O_MOM},
        {"schedule", 1, 0, O_SCHED},  {"warmup", 1, 0, O_WARM},      {"min-lr", 1, 0, O_MINLR},
        {"clip", 1, 0, O_CLIP},       {"eval-every", 1, 0, O_EVAL},  {"eval-max", 1, 0, O_EVALMAX},
        {"ckpt-every", 1, 0, O_CKPT}, {"resume", 0, 0, O_RESUME},    {"threads", 1, 0, O_THREADS},
        {"out", 1, 0, O_OUT},         {"help", 0, 0, 'h'},           {0, 0, 0, 0}};
    const char *V = "train cnn";
    // Options are collected first and applied over the defaults of the chosen data.
    const char *data = "lines", *dir = NULL, *arch = NULL, *out = NULL, *label = NULL;
    long size = -1, ntrain = -1, ntest = -1, batch = -1, warm = -1, evalev = -1, evalmax = -1,
         ckpt = -1, steps = -1, threads = 0, v;
    double noise = -1, epochs = -1, lr = -1, wd = -1, mom = 0.9, minlr = -1, clip = -1, x;
    int norm = -1, resume = 0, sched = -1;
    uint64_t seed = 0;
    OptimKind okind = OPTIM_ADAM;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case O_DATA: data = optarg; break;
        case O_DIR: dir = optarg; break;
        case O_ARCH: arch = optarg; break;
        case O_OUT: out = optarg; break;
        case O_LABEL: label = optarg; break;
        case O_NORM: norm = 1; break;
        case O_NONORM: norm = 0; break;
        case O_RESUME: resume = 1; break;
        case O_OPTIM:
            if (!strcmp(optarg, "adamw")) okind = OPTIM_ADAMW;
            else if (!strcmp(optarg, "adam")) okind = OPTIM_ADAM;
            else if (!strcmp(optarg, "sgd")) okind = OPTIM_SGD;
            else return cli_usage(V, "--optim: '%s' is not adam, adamw or sgd", optarg);
            break;
        case O_SCHED:
            if (!strcmp(optarg, "constant")) sched = SCHED_CONSTANT;
            else if (!strcmp(optarg, "warmup")) sched = SCHED_WARMUP_CONSTANT;
            else if (!strcmp(optarg, "cosine")) sched = SCHED_WARMUP_COSINE;
            else return cli_usage(V, "--schedule: '%s' is not constant, warmup or cosine", optarg);
            break;
        case O_NOISE: case O_EPOCHS: case O_LR: case O_WD: case O_MOM: case O_MINLR: case O_CLIP:
            if (cli_float(V, cli_optname(opts, c), optarg, &x)) return EXIT_USAGE;
            if (x < 0) return cli_usage(V, "%s must not be negative", cli_optname(opts, c));
            if (c == O_NOISE) noise = x;
            if (c == O_EPOCHS) epochs = x;
            if (c == O_LR) lr = x;
            if (c == O_WD) wd = x;
            if (c == O_MOM) mom = x;
            if (c == O_MINLR) minlr = x;
            if (c == O_CLIP) clip = x;
            break;
        case '?': return cli_usage(V, "unknown or incomplete option");
        default:
            if (cli_int(V, cli_optname(opts, c), optarg, 0, 1L << 40, &v)) return EXIT_USAGE;
            switch (c) {
            case O_SIZE: size = v; break;
            case O_NTRAIN: ntrain = v; break;
            case O_NTEST: ntest = v; break;
            case O_STEPS: steps = v; break;
            case O_BATCH: batch = v; break;
            case O_SEED: seed = (uint64_t)v; break;
            case O_WARM: warm = v; break;
            case O_EVAL: evalev = v; break;
            case O_EVALMAX: evalmax = v; break;
            case O_CKPT: ckpt = v; break;
            case O_THREADS: threads = v; break;
            }
        }
    }
    if (optind < argc) return cli_usage(V, "unexpected argument '%s'", argv[optind]);
    if (!out) return cli_usage(V, "--out DIR is required");
    if (steps >= 0 && epochs >= 0) return cli_usage(V, "give --epochs or --steps, not both");
    if (threads > 0 && pool_set_threads((int)threads)) return cli_fail_err();
    int progress = isatty(2);

    CnnTrainer *t;
    if (resume) {
        if (epochs >= 0) return cli_usage(V, "--resume takes --steps (the new total), not --epochs");
        t = cnntrain_resume(out, steps > 0 ? steps : 0, progress, 0);
        if (!t) return cli_fail_err();
        fprintf(stderr, "resuming %s at step %ld of %ld\n", out, t->state.step, t->spec.train.steps);
    } else {
        int fashion = !strcmp(data, "fashion-mnist");
        ImgKind kind = IMG_LINES;
        if (!fashion && images_kind_parse(data, &kind))
            return cli_usage(V, "--data: '%s' is not fashion-mnist, lines, curves or edges", data);
        CnnTrainSpec s = cnntrain_defaults(data);
        if (dir) snprintf(s.data_dir, sizeof s.data_dir, "%s", dir);
        if (size >= 0) s.size = (int)size;
        if (ntrain >= 0) s.n_train = (int)ntrain;
        if (ntest >= 0) s.n_test = (int)ntest;
        if (label) {
            if (!strcmp(label, "orient")) s.label = IMG_LABEL_ORIENT;
            else if (!strcmp(label, "curv")) s.label = IMG_LABEL_CURV;
            else if (!strcmp(label, "joint")) s.label = IMG_LABEL_JOINT;
            else return cli_usage(V, "--label: '%s' is not orient, curv or joint", label);
        }
        if (noise >= 0) s.noise = (float)noise;
        if (norm >= 0) s.normalize = norm;
        if (batch >= 0) s.batch = (int)batch;
        s.seed = seed;
        if (evalev >= 0) s.train.eval_every = evalev;
        if (evalmax >= 0) s.eval_max = (int)evalmax;
        if (ckpt >= 0) s.train.ckpt_every = ckpt;
        if (clip >= 0) s.train.clip = clip;
        s.train.optim = optim_defaults(okind);
        if (wd >= 0) s.train.optim.weight_decay = wd;
        if (okind == OPTIM_SGD) s.train.optim.momentum = mom;
        if (sched >= 0) s.train.sched.kind = (SchedKind)sched;
        if (lr >= 0) s.train.sched.lr = (float)lr;
        s.train.sched.min_lr = minlr >= 0 ? (float)minlr : s.train.sched.lr / 100;
        if (warm >= 0) s.train.sched.warmup = warm;
        if (arch) {
            if (strlen(arch) >= sizeof s.arch) return cli_usage(V, "--arch: spec too long");
            snprintf(s.arch, sizeof s.arch, "%s", arch);
        } else if (fashion) {
            snprintf(s.arch, sizeof s.arch, FASHION_ARCH);
        } else {
            ImgSynthConfig sc = images_synth_defaults(kind, s.size);
            int classes = s.label == IMG_LABEL_ORIENT ? sc.n_orient
                          : s.label == IMG_LABEL_CURV ? sc.n_curv
                                                      : sc.n_orient * sc.n_curv;
            snprintf(s.arch, sizeof s.arch,
                     "conv5x5:8,relu,maxpool2,conv3x3:16,relu,maxpool2,linear:%d", classes);
        }
        s.train.out_dir = out;
        s.train.progress = progress;
        // The step count may depend on the data (--epochs): build with a placeholder, then set.
        s.train.steps = 1;
        s.train.sched.total = 2;
        if (s.train.sched.warmup >= 1) s.train.sched.warmup = 0;
        long warm_want = warm >= 0 ? warm : 50;
        t = cnntrain_create(&s);
        if (!t) return cli_fail_err();
        long n = epochs >= 0 ? cnntrain_epoch_steps(t, epochs) : steps >= 0 ? steps : 1000;
        if (n < 1) {
            cnntrain_free(t);
            return cli_usage(V, "the run would take 0 steps");
        }
        Sched *sh = &t->spec.train.sched;
        t->spec.train.steps = n;
        sh->total = n;
        sh->warmup = sh->kind == SCHED_CONSTANT ? 0 : warm_want < n ? warm_want : n / 10;
        if (sched_check(sh)) {
            cnntrain_free(t);
            return cli_fail_err();
        }
        fprintf(stderr, "training %s on %s (%d train / %d test images) for %ld steps\n",
                t->spec.arch, t->spec.data, t->train.n, t->test.n, n);
    }
    int rc = cnntrain_run(t);
    if (rc < 0) {
        cnntrain_free(t);
        return cli_fail_err();
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", out);
    Buf b = {0};
    CnnCkptConfig cc = cnntrain_ckpt_config(t);
    Meta meta = {0};
    int wrc = cnn_ckpt_meta(&cc, &meta);
    if (!wrc) {
        buf_puts(&b, meta_get(&meta, "config"));
        buf_puts(&b, "\n");
        wrc = b.oom ? err_set("out of memory") : fileio_write_all(path, b.p, b.len);
    }
    buf_free(&b);
    if (wrc) {
        cnntrain_free(t);
        return cli_fail_err();
    }
    if (rc == 0)
        fprintf(stderr, "done: %ld steps, test accuracy %.4f, test loss %.4f; wrote "
                        "%s/model.safetensors\n",
                t->state.step, t->state.last_eval[1], t->state.last_eval[0], out);
    cnntrain_free(t);
    return rc == 0 ? EXIT_OK : EXIT_FAIL;
}
