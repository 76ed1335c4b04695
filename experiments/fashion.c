// fashion.c — mechlab run fashion: a small CNN on Fashion-MNIST, trained and then dissected.
//
// Fashion-MNIST (Xiao et al. 2017): 28×28 greyscale clothing, 10 classes, 60000 train / 10000
// test images, from Debian's dataset-fashion-mnist (or --data-dir). Recipe:
//   1. train conv3x3:16, relu, maxpool2, conv3x3:32, relu, maxpool2, linear:128, relu,
//      linear:10 with Adam (lr 2e-3, warm-up + cosine), batch 64, 5 epochs, pixels standardised
//      — the target is >= 90 % test accuracy in under 10 minutes on two cores;
//   2. test accuracy over the whole test split and the confusion matrix;
//   3. feature visualisations of every channel of the last conv layer (the mean of the
//      channel's map, and its centre unit, before the ReLU; featviz.h with the Fourier
//      parameterisation, jitter, L2 and TV, pixels squashed into the data range);
//   4. integrated gradients (Sundararajan et al. 2017) of the true class's logit for a few test
//      images from a black baseline, 128 trapezoid steps, with the completeness error
//      |Σ IG − (f(x) − f(black))| / |f(x) − f(black)| (must be < 1 %);
//   5. a linear probe for the class at every hook point (interp/probe.h: softmax regression,
//      L2 1e-3, a quarter of the rows held out, and a control task on shuffled labels) on 2000
//      test images, each image map average-pooled to at most 4×4 cells per channel — linear
//      decodability of the class should grow with depth (Alain & Bengio 2016).
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "datasets/idx.h"
#include "interp/attribution.h"
#include "interp/plot.h"
#include "interp/png.h"
#include "interp/probe.h"
#include "interp/summary.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/pool.h"
#include "model/timer.h"
#include "verbs.h"
#include "vision.h"

#define FASHION_ARCH "conv3x3:16,relu,maxpool2,conv3x3:32,relu,maxpool2,linear:128,relu,linear:10"
#define POOL_CELLS 4
#define TIME_BUDGET 600.0

static const char *REPRODUCES =
    "a small CNN on Fashion-MNIST (Xiao et al. 2017), dissected: >= 90% test accuracy, feature "
    "visualisation, integrated gradients (Sundararajan et al. 2017), probes (Alain & Bengio 2016)";

static void usage(FILE *f) {
    fprintf(f,
        "Usage: mechlab run fashion [options]\n"
        "Train a small CNN on Fashion-MNIST and dissect it: confusion matrix, feature\n"
        "visualisations of the last conv layer, integrated gradients, a linear probe per layer.\n"
        "Writes report.html, summary.json, the model and the figures to --out.\n\n"
        "  --out DIR        [runs/fashion]\n"
        "  --data-dir DIR   the Fashion-MNIST IDX files [" IDX_FASHION_DIR "]\n"
        "  --arch SPEC      [" FASHION_ARCH "]\n"
        "  --epochs X       [5]    --lr X [2e-3]    --batch B [64]    --seed S [0]\n"
        "  --n-train N      use the first N training images (0 = all 60000)      [0]\n"
        "  --fv-steps N     feature-visualisation steps per channel              [256]\n"
        "  --ig-images N    test images with integrated-gradients maps           [6]\n"
        "  --probe-n N      test images for the probes                           [2000]\n"
        "  --threads N      worker threads (default: MECHLAB_THREADS or all cores)\n"
        "  -h, --help\n"
        "Without the data: sudo apt-get install dataset-fashion-mnist (or --data-dir).\n");
}

// Average-pools one image's activation [C, h, w] to [C, ph, pw] cells (ph = min(h, 4), cell
// boundaries at floor(i·h/ph)); a vector is copied as is. Returns the feature count.
static int pooled_features(const float *a, int C, int h, int w, float *out) {
    int ph = h < POOL_CELLS ? h : POOL_CELLS, pw = w < POOL_CELLS ? w : POOL_CELLS, k = 0;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < ph; i++)
            for (int j = 0; j < pw; j++) {
                int y0 = i * h / ph, y1 = (i + 1) * h / ph, x0 = j * w / pw, x1 = (j + 1) * w / pw;
                double s = 0;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) s += a[((size_t)c * h + y) * w + x];
                out[k++] = (float)(s / ((y1 - y0) * (x1 - x0)));
            }
    return k;
}

typedef struct {
    char name[32];
    char kind[16];
    int d;
    double acc, control, train_acc;
} ProbeRow;

// A probe for the class at every hook point, on the first n test images.
static int probe_layers(Cnn *m, const ImageSet *test, int n, uint64_t seed, ProbeRow *rows) {
    int H = cnn_hook_count(m), rc = 0;
    size_t in = (size_t)m->C * m->H * m->W;
    for (int h = 0; h < H && !rc; h++) {
        CnnHookInfo hi = cnn_hook_info(m, h, 1);
        int C = hi.shape[1], ih = hi.ndim == 4 ? hi.shape[2] : 1, iw = hi.ndim == 4 ? hi.shape[3] : 1;
        int d = C * (ih < POOL_CELLS ? ih : POOL_CELLS) * (iw < POOL_CELLS ? iw : POOL_CELLS);
        float *X = malloc(sizeof(float) * (size_t)n * d);
        if (!X) return err_set("probe: out of memory");
        for (int i = 0; i < n && !rc; i += m->max_batch) {
            int B = n - i < m->max_batch ? n - i : m->max_batch;
            if (cnn_forward(m, test->x + i * in, NULL, B, NULL, NULL)) {
                rc = -1;
                break;
            }
            Tensor a = cnn_act(m, hi.name);
            for (int b = 0; b < B; b++)
                pooled_features(a.data + (size_t)b * C * ih * iw, C, ih, iw, X + (size_t)(i + b) * d);
        }
        if (!rc) {
            // L2 1e-3, stop at ‖∇f‖∞ <= 1e-4 or 100 L-BFGS iterations: the held-out accuracy has
            // settled by then (measured: within 0.01 of 200 iterations at tol 1e-6), and the
            // probes stay a small part of the run.
            ProbeConfig pc = probe_defaults();
            pc.seed = seed;
            pc.l2 = 1e-3;
            pc.tol = 1e-4;
            pc.max_iter = 100;
            Probe *p = probe_train_logistic(X, test->y, n, d, 10, &pc);
            if (!p) {
                rc = err_prefix(hi.name);
            } else {
                ProbeRow *r = &rows[h];
                snprintf(r->name, sizeof r->name, "%s", hi.name);
                snprintf(r->kind, sizeof r->kind, "%s",
                         h == 0 ? "input" : cnn_kind_name(m->layers[h - 1].kind));
                r->d = d;
                r->acc = p->test_acc;
                r->control = p->control_acc;
                r->train_acc = p->train_acc;
                probe_free(p);
            }
        }
        free(X);
    }
    return rc;
}

enum { O_OUT = 256, O_DIR, O_ARCH, O_EPOCHS, O_LR, O_BATCH, O_SEED, O_NTRAIN, O_FV, O_IG, O_PROBE,
       O_THREADS };

int run_fashion(int argc, char **argv) {
    static const struct option opts[] = {
        {"out", 1, 0, O_OUT},       {"data-dir", 1, 0, O_DIR},   {"arch", 1, 0, O_ARCH},
        {"epochs", 1, 0, O_EPOCHS}, {"lr", 1, 0, O_LR},          {"batch", 1, 0, O_BATCH},
        {"seed", 1, 0, O_SEED},     {"n-train", 1, 0, O_NTRAIN}, {"fv-steps", 1, 0, O_FV},
        {"ig-images", 1, 0, O_IG},  {"probe-n", 1, 0, O_PROBE},  {"threads", 1, 0, O_THREADS},
        {"help", 0, 0, 'h'},        {0, 0, 0, 0}};
    const char *V = "run fashion", *out = "runs/fashion", *dir = NULL, *arch = FASHION_ARCH;
    double epochs = 5, lr = 2e-3, x;
    long batch = 64, seed = 0, ntrain = 0, fvsteps = 256, nig = 6, nprobe = 2000, threads = 0, v;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case O_OUT: out = optarg; break;
        case O_DIR: dir = optarg; break;
        case O_ARCH: arch = optarg; break;
        case O_EPOCHS: case O_LR:
            if (cli_float(V, cli_optname(opts, c), optarg, &x)) return EXIT_USAGE;
            if (!(x > 0)) return cli_usage(V, "%s must be positive", cli_optname(opts, c));
            if (c == O_EPOCHS) epochs = x;
            else lr = x;
            break;
        case '?': return cli_usage(V, "unknown or incomplete option");
        default:
            if (cli_int(V, cli_optname(opts, c), optarg, 0, 1L << 30, &v)) return EXIT_USAGE;
            if (c == O_BATCH) batch = v;
            if (c == O_SEED) seed = v;
            if (c == O_NTRAIN) ntrain = v;
            if (c == O_FV) fvsteps = v;
            if (c == O_IG) nig = v;
            if (c == O_PROBE) nprobe = v;
            if (c == O_THREADS) threads = v;
        }
    }
    if (optind < argc) return cli_usage(V, "unexpected argument '%s'", argv[optind]);
    if (batch < 1) return cli_usage(V, "--batch must be >= 1");
    if (nprobe < 40) return cli_usage(V, "--probe-n must be >= 40");
    if (threads > 0 && pool_set_threads((int)threads)) return cli_fail_err();
    double t_start = timer_now();

    CnnTrainSpec s = cnntrain_defaults("fashion-mnist");
    if (dir) snprintf(s.data_dir, sizeof s.data_dir, "%s", dir);
    if (strlen(arch) >= sizeof s.arch) return cli_usage(V, "--arch: spec too long");
    snprintf(s.arch, sizeof s.arch, "%s", arch);
    s.n_train = (int)ntrain;
    s.batch = (int)batch;
    s.seed = (uint64_t)seed;
    s.train.steps = 1;  // set from the epochs once the data is loaded
    s.train.sched = (Sched){.kind = SCHED_WARMUP_COSINE, .lr = (float)lr, .total = 2,
                            .min_lr = (float)lr / 100};
    s.train.ckpt_every = 0;
    s.train.out_dir = out;
    s.train.progress = isatty(2);
    if (fileio_mkdirs(out)) return cli_fail_err();
    CnnTrainer *t = cnntrain_create(&s);
    if (!t) return cli_fail_err();  // e.g. the data is missing: the message says how to get it
    long per_epoch = cnntrain_epoch_steps(t, 1);
    long steps = cnntrain_epoch_steps(t, epochs);
    t->spec.train.steps = steps;
    t->spec.train.eval_every = per_epoch;
    t->spec.train.sched.total = steps;
    t->spec.train.sched.warmup = steps / 50;
    if (nprobe > t->test.n) nprobe = t->test.n;
    if (nig > t->test.n) nig = t->test.n;

    VisCurve curve = {0};
    t->on_eval = vis_curve_record;
    t->on_eval_user = &curve;
    Report *r = NULL;
    Summary sum;
    summary_init(&sum, "fashion", REPRODUCES);
    int rc = EXIT_FAIL, K = 10;
    int64_t conf[100];
    ProbeRow *prow = NULL;
    double *fvact = NULL;
    int *chans = NULL;
    char path[4200];
    fprintf(stderr, "fashion: training %s on %d images for %.3g epochs (%ld steps)\n", s.arch,
            t->train.n, epochs, steps);
    double t0 = timer_now();
    if (cnntrain_run(t)) goto done;
    double train_s = timer_now() - t0;
    Cnn *m = t->m;
    if (m->n_out != K) {
        err_set("fashion: the architecture must end with linear:10 (it has %d outputs)", m->n_out);
        goto done;
    }

    // ---- test accuracy and confusion ----------------------------------------------------------
    double test_loss, test_acc;
    if (cnntrain_evaluate(m, &t->test, 0, NULL, &test_loss, &test_acc, conf)) goto done;
    double total_s_train = timer_now() - t_start;
    fprintf(stderr, "fashion: test accuracy %.4f after %.0f s of training\n", test_acc, train_s);

    // ---- feature visualisation of the last conv layer ------------------------------------------
    t0 = timer_now();
    int last_conv = -1;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == CNN_CONV) last_conv = i;
    char fv_point[32] = "";
    int n_fv = 0;
    FvConfig fc = featviz_defaults();
    fc.steps = (int)fvsteps;
    fc.n_seeds = 3;
    fc.range_lo = (0 - t->mean) / t->std;
    fc.range_hi = (1 - t->mean) / t->std;
    fc.seed = (uint64_t)seed;
    if (last_conv >= 0) {
        snprintf(fv_point, sizeof fv_point, "layers.%d.hook_out", last_conv);
        n_fv = m->layers[last_conv].out_c;
        chans = malloc(sizeof(int) * n_fv);
        fvact = malloc(sizeof(double) * n_fv * fc.n_seeds);
        if (!chans || !fvact) {
            err_set("fashion: out of memory");
            goto done;
        }
        for (int i = 0; i < n_fv; i++) chans[i] = i;
        vis_path(path, sizeof path, out, "featviz_last_conv.png");
        if (featviz_save_grid(m, fv_point, chans, n_fv, FV_CHANNEL, &fc, path, 2, NULL, fvact))
            goto done;
        // the centre unit of each channel: what it detects within its receptive field
        vis_path(path, sizeof path, out, "featviz_last_conv_unit.png");
        if (featviz_save_grid(m, fv_point, chans, n_fv, FV_UNIT, &fc, path, 2, NULL, NULL))
            goto done;
    }
    double fv_s = timer_now() - t0;

    // ---- integrated gradients ---------------------------------------------------------------------
    t0 = timer_now();
    size_t in = (size_t)m->C * m->H * m->W;
    float *base = malloc(sizeof(float) * in), *ig = malloc(sizeof(float) * in);
    AttrIgCheck *chk = calloc((size_t)nig + 1, sizeof(AttrIgCheck));
    int *pred = calloc((size_t)nig + 1, sizeof(int));
    if (!base || !ig || !chk || !pred) {
        free(base);
        free(ig);
        free(chk);
        free(pred);
        err_set("fashion: out of memory");
        goto done;
    }
    for (size_t i = 0; i < in; i++) base[i] = (0 - t->mean) / t->std;  // a black image
    double ig_worst = 0;
    int ig_ok = 1;
    for (int i = 0; i < nig && ig_ok; i++) {
        const float *img = t->test.x + in * i;
        AttrTarget tg = {.point = "logits", .index = t->test.y[i]};
        double logits[10];
        for (int k = 0; k < K && ig_ok; k++) {
            AttrTarget tk = {.point = "logits", .index = k};
            ig_ok = !attr_value(m, &tk, img, 1, &logits[k]);
        }
        pred[i] = 0;
        for (int k = 1; k < K; k++)
            if (logits[k] > logits[pred[i]]) pred[i] = k;
        if (!ig_ok || attr_integrated_gradients(m, &tg, img, base, 128, ATTR_TRAPEZOID, ig, &chk[i])) {
            ig_ok = 0;
            break;
        }
        ig_worst = fmax(ig_worst, chk[i].rel_err);
        char file[64];
        snprintf(file, sizeof file, "ig_%d.png", i);
        vis_path(path, sizeof path, out, file);
        // the image in pixel units for display
        float *px = malloc(sizeof(float) * in);
        if (!px) {
            ig_ok = 0;
            err_set("fashion: out of memory");
            break;
        }
        for (size_t k = 0; k < in; k++) px[k] = img[k] * t->std + t->mean;
        ig_ok = !attr_save_overlay(path, px, ig, m->C, m->H, m->W, 0.8f, 4);
        free(px);
    }
    free(base);
    free(ig);
    if (!ig_ok) {
        free(chk);
        free(pred);
        goto done;
    }
    double ig_s = timer_now() - t0;

    // ---- probes ---------------------------------------------------------------------------------------
    t0 = timer_now();
    int nh = cnn_hook_count(m);
    prow = calloc((size_t)nh, sizeof(ProbeRow));
    if (!prow || probe_layers(m, &t->test, (int)nprobe, (uint64_t)seed, prow)) {
        if (!prow) err_set("fashion: out of memory");
        free(chk);
        free(pred);
        goto done;
    }
    double probe_s = timer_now() - t0;
    double total_s = timer_now() - t_start;

    // ---- summary ----------------------------------------------------------------------------------------
    int last_hidden = nh - 2;  // the hook before the logits
    summary_str(&sum, "arch", s.arch);
    summary_num(&sum, "epochs", epochs);
    summary_int(&sum, "steps", steps);
    summary_int(&sum, "train_images", t->train.n);
    summary_num(&sum, "test_acc", test_acc);
    summary_num(&sum, "test_loss", test_loss);
    summary_num(&sum, "train_seconds", train_s);
    summary_num(&sum, "featviz_seconds", fv_s);
    summary_num(&sum, "ig_seconds", ig_s);
    summary_num(&sum, "probe_seconds", probe_s);
    summary_num(&sum, "total_seconds", total_s);
    summary_num(&sum, "ig_worst_completeness_error", ig_worst);
    {
        Buf b = {0};
        buf_puts(&b, "[");
        for (int i = 0; i < K; i++) {
            buf_puts(&b, i ? ", [" : "[");
            for (int j = 0; j < K; j++) buf_printf(&b, "%s%ld", j ? ", " : "", (long)conf[i * K + j]);
            buf_puts(&b, "]");
        }
        buf_puts(&b, "]");
        summary_json(&sum, "confusion", b.p);
        buf_reset(&b);
        buf_puts(&b, "[");
        for (int h = 0; h < nh; h++)
            buf_printf(&b, "%s{\"point\": \"%s\", \"features\": %d, \"test_acc\": %.4f, "
                           "\"control_acc\": %.4f}", h ? ", " : "", prow[h].name, prow[h].d,
                       prow[h].acc, prow[h].control);
        buf_puts(&b, "]");
        summary_json(&sum, "probes", b.p);
        buf_free(&b);
    }
    summary_check(&sum, "test accuracy", test_acc, ">= 0.90 (issue 7)", test_acc >= 0.90);
    summary_check(&sum, "seconds to a trained model (data, training, test evaluation)",
                  total_s_train, "< 600 on two cores (issue 7)", total_s_train < TIME_BUDGET);
    summary_check(&sum, "integrated gradients: worst completeness error (128 trapezoid steps)",
                  ig_worst, "< 0.01 (Sundararajan et al. 2017: sum = f(x) - f(baseline))",
                  ig_worst < 0.01);
    summary_check(&sum, "probe accuracy gain from the input to the last hidden layer",
                  prow[last_hidden].acc - prow[0].acc,
                  "> 0: linear decodability grows with depth (Alain & Bengio 2016)",
                  prow[last_hidden].acc > prow[0].acc);
    vis_path(path, sizeof path, out, "summary.json");
    if (summary_save(&sum, path)) goto done_ig;

    // ---- report ---------------------------------------------------------------------------------------
    r = report_create("Fashion-MNIST: a small CNN, dissected");
    if (!r) goto done_ig;
    report_paragraphf(r, "Reproduces: %s. The CNN %s (%zu parameters) was trained for %.3g epochs "
                      "(%ld steps of %d images) on %d images with Adam (lr %g, warm-up and cosine "
                      "decay), pixels standardised (mean %.4f, std %.4f).",
                      REPRODUCES, s.arch, m->params.numel, epochs, steps, s.batch, t->train.n, lr,
                      t->mean, t->std);
    report_paragraphf(r, "Timings: data + training + test evaluation %.0f s (training %.0f s); "
                      "feature visualisation %.0f s, integrated gradients %.0f s, probes %.0f s; "
                      "total %.0f s, on %d threads.", total_s_train, train_s, fv_s, ig_s, probe_s,
                      total_s, pool_threads());
    {
        char a[64], b[64], e[64], p[64], tmp[32];
        report_table_begin(r, 3, (const char *[]){"check", "measured", "expected"});
        snprintf(a, sizeof a, "%s %s", report_num(tmp, sizeof tmp, test_acc, 4),
                 test_acc >= 0.9 ? "[ok]" : "[MISS]");
        report_table_row(r, (const char *[]){"test accuracy (10000 images)", a, ">= 0.90"});
        snprintf(b, sizeof b, "%.0f s %s", total_s_train, total_s_train < TIME_BUDGET ? "[ok]" : "[MISS]");
        report_table_row(r, (const char *[]){"time to a trained model", b, "< 600 s on two cores"});
        snprintf(e, sizeof e, "%s %s", report_num(tmp, sizeof tmp, ig_worst, 2),
                 ig_worst < 0.01 ? "[ok]" : "[MISS]");
        report_table_row(r, (const char *[]){"IG completeness error (worst)", e, "< 0.01"});
        snprintf(p, sizeof p, "%.3f -> %.3f %s", prow[0].acc, prow[last_hidden].acc,
                 prow[last_hidden].acc > prow[0].acc ? "[ok]" : "[MISS]");
        report_table_row(r, (const char *[]){"probe accuracy, input -> last hidden layer", p,
                                             "grows with depth"});
        report_table_end(r);
    }
    report_heading(r, 2, "Training");
    if (vis_report_curve(r, &curve, out)) goto done_ig;

    report_heading(r, 2, "Confusion matrix");
    {
        float frac[100];
        const char *names[10];
        for (int i = 0; i < K; i++) {
            names[i] = idx_fashion_class_name(i);
            long row = 0;
            for (int j = 0; j < K; j++) row += (long)conf[i * K + j];
            for (int j = 0; j < K; j++) frac[i * K + j] = row ? (float)conf[i * K + j] / row : 0;
        }
        PlotHeatmap hm = {.data = frac, .rows = K, .cols = K, .row_labels = names, .col_labels = names,
                          .scale = {.cmap = PLOT_SEQUENTIAL, .vmin = 0, .vmax = 1,
                                    .label = "fraction of the true class"},
                          .show_values = 1, .value_fmt = "%.2f"};
        PlotOpts o = {.title = "Confusion (rows: true class, columns: predicted)",
                      .xlabel = "predicted", .ylabel = "true"};
        Buf svg = {0};
        vis_path(path, sizeof path, out, "confusion.svg");
        int prc = plot_heatmap(&svg, &o, &hm);
        if (!prc) prc = plot_save(path, &svg);
        if (!prc) report_figure(r, svg.p, "Each row is one true class (1000 test images), "
                                          "normalised to sum to 1.");
        buf_free(&svg);
        if (prc) goto done_ig;
        report_table_begin(r, 3, (const char *[]){"class", "accuracy", "most confused with"});
        for (int i = 0; i < K; i++) {
            long row = 0;
            int worst = -1;
            for (int j = 0; j < K; j++) {
                row += (long)conf[i * K + j];
                if (j != i && (worst < 0 || conf[i * K + j] > conf[i * K + worst])) worst = j;
            }
            char acc[32], with[64];
            report_num(acc, sizeof acc, row ? (double)conf[i * K + i] / row : 0, 3);
            snprintf(with, sizeof with, "%s (%ld)", names[worst], (long)conf[i * K + worst]);
            report_table_row(r, (const char *[]){names[i], acc, with});
        }
        report_table_end(r);
    }

    if (n_fv > 0) {
        char h[128];
        snprintf(h, sizeof h, "Feature visualisations: %s, all %d channels", fv_point, n_fv);
        report_heading(r, 2, h);
        report_paragraphf(r, "Each row maximises the mean of one channel's map (before the ReLU) "
                          "from %d random starts: Fourier parameterisation with 1/f scaling, "
                          "jitter of 1 pixel, L2 %.3g and total-variation %.3g penalties, pixels "
                          "squashed into the data's range, %d Adam steps.", fc.n_seeds, fc.l2,
                          fc.tv, fc.steps);
        if (vis_report_png(r, out, "featviz_last_conv.png", 2,
                           "Mean of each channel's map: one row per channel (0 at the top), one "
                           "column per seed. A whole-map objective on clothes against a black "
                           "background favours large bright or dark regions and their borders."))
            goto done_ig;
        if (vis_report_png(r, out, "featviz_last_conv_unit.png", 2,
                           "The centre unit of each channel instead: the pattern it detects "
                           "within its receptive field (the rest of the image stays grey)."))
            goto done_ig;
    }

    report_heading(r, 2, "Integrated gradients");
    report_paragraph(r, "Attribution of the true class's logit to each pixel, from a black "
                        "baseline, 128 steps of the trapezoid rule; red pixels raise the logit, "
                        "blue ones lower it. Completeness: the attributions sum to "
                        "f(x) - f(baseline) up to the quadrature error in the last column.");
    report_table_begin(r, 7, (const char *[]){"image", "true class", "predicted", "f(x)",
                                              "f(black)", "sum of IG", "relative error"});
    for (int i = 0; i < nig; i++) {
        char a[16], fx[32], fb[32], sm[32], er[32];
        snprintf(a, sizeof a, "%d", i);
        report_num(fx, sizeof fx, chk[i].f_x, 4);
        report_num(fb, sizeof fb, chk[i].f_base, 4);
        report_num(sm, sizeof sm, chk[i].sum, 4);
        report_num(er, sizeof er, chk[i].rel_err, 2);
        report_table_row(r, (const char *[]){a, idx_fashion_class_name(t->test.y[i]),
                                             idx_fashion_class_name(pred[i]), fx, fb, sm, er});
    }
    report_table_end(r);
    for (int i = 0; i < nig; i++) {
        char file[64], cap[160];
        snprintf(file, sizeof file, "ig_%d.png", i);
        snprintf(cap, sizeof cap, "Test image %d (%s): integrated gradients over the image.", i,
                 idx_fashion_class_name(t->test.y[i]));
        if (vis_report_png(r, out, file, 0, cap)) goto done_ig;
    }

    report_heading(r, 2, "Linear probes for the class, layer by layer");
    report_paragraphf(r, "Softmax regression on %ld test images (a quarter held out), each "
                      "activation average-pooled to at most %dx%d cells per channel; the control "
                      "probe is trained on shuffled labels (Hewitt & Liang 2019).", nprobe,
                      POOL_CELLS, POOL_CELLS);
    {
        float *xs = malloc(sizeof(float) * nh), *ya = malloc(sizeof(float) * nh),
              *yc = malloc(sizeof(float) * nh);
        if (!xs || !ya || !yc) {
            free(xs);
            free(ya);
            free(yc);
            err_set("fashion: out of memory");
            goto done_ig;
        }
        report_table_begin(r, 6, (const char *[]){"hook point", "after", "features",
                                                  "probe accuracy", "control", "train accuracy"});
        for (int h = 0; h < nh; h++) {
            xs[h] = (float)h;
            ya[h] = (float)prow[h].acc;
            yc[h] = (float)prow[h].control;
            char d[16], a[32], cc[32], tr[32];
            snprintf(d, sizeof d, "%d", prow[h].d);
            report_num(a, sizeof a, prow[h].acc, 3);
            report_num(cc, sizeof cc, prow[h].control, 3);
            report_num(tr, sizeof tr, prow[h].train_acc, 3);
            report_table_row(r, (const char *[]){prow[h].name, prow[h].kind, d, a, cc, tr});
        }
        report_table_end(r);
        PlotSeries ps[2] = {{.x = xs, .y = ya, .n = nh, .label = "class probe", .markers = 1},
                            {.x = xs, .y = yc, .n = nh, .label = "control (shuffled labels)",
                             .markers = 1, .dashed = 1}};
        PlotOpts o = {.title = "Linear probe accuracy by layer",
                      .xlabel = "hook point (0 = input, i + 1 = after layer i)",
                      .ylabel = "held-out accuracy", .ymin = 0, .ymax = 1};
        Buf svg = {0};
        vis_path(path, sizeof path, out, "probes.svg");
        int prc = plot_line(&svg, &o, ps, 2);
        if (!prc) prc = plot_save(path, &svg);
        if (!prc) report_figure(r, svg.p, "Probe accuracy at every hook point of the CNN.");
        buf_free(&svg);
        free(xs);
        free(ya);
        free(yc);
        if (prc) goto done_ig;
    }
    report_heading(r, 2, "Files");
    report_link(r, "summary.json", "the numbers above");
    report_link(r, "metrics.csv", "test loss and accuracy after every epoch");
    report_link(r, "model.safetensors", "the trained model (mechlab inspect)");
    vis_path(path, sizeof path, out, "report.html");
    if (report_save(r, path)) goto done_ig;
    fprintf(stderr, "fashion: wrote %s (%.0f s in all)\n", path, timer_now() - t_start);
    rc = EXIT_OK;  // a run that completes exits 0; summary.json and [MISS] lines say what missed
done_ig:
    free(chk);
    free(pred);
done:
    if (rc != EXIT_OK) cli_fail_err();
    report_free(r);
    summary_free(&sum);
    free(prow);
    free(fvact);
    free(chans);
    vis_curve_free(&curve);
    cnntrain_free(t);
    return rc;
}
