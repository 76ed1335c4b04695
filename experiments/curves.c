// curves.c — mechlab run curves: oriented line and edge detectors in the first layers of a
// small CNN trained on synthetic strokes.
//
// Reproduces the first steps of Olah et al. 2020 ("Zoom In: An Introduction to Circuits") and
// Cammarata et al. 2020 ("Curve Detectors"): the early units of a vision CNN are oriented
// edge / line detectors, each with a preferred orientation, and a feature visualisation of such
// a unit shows an edge or line at that orientation.
//
// Recipe: train a CNN (conv5x5:8, relu, maxpool2, conv3x3:16, relu, maxpool2, linear) on
// 16×16 anti-aliased curves labelled by orientation bin × curvature class (datasets/images.h);
// then, for every unit (channel) of the first two conv layers:
//   - a tuning curve: the response of the channel's centre unit after its ReLU to a straight
//     line through the image centre at 36 orientations over 0–180° (5 offsets within ±2 pixels
//     averaged), drawn exactly by images_render (interp/tuning.h) — a stimulus on the unit's
//     receptive field, as Cammarata et al. render curves at the neuron's position (the share
//     with the whole map's mean as the response is reported beside it);
//   - its orientation selectivity index OSI = |Σ r(θ) e^{2iθ}| / Σ r(θ) and preferred
//     orientation arg(Σ r(θ) e^{2iθ})/2; a unit has a CLEAR preferred orientation when
//     OSI ≥ 0.2 (the preferred orientation gets ≥ 2.3× the orthogonal one's response for a
//     cos 2θ tuning curve; a unit that never responds has OSI 0);
//   - a feature visualisation of its centre unit (before the ReLU: featviz.h, Fourier
//     parameterisation, jitter, L2 + TV, images squashed into the pixel range, 4 seeds), and
//     the visualisation's dominant orientation from its structure tensor
//     (featviz_orientation, the seeds combined as a coherence-weighted doubled-angle mean).
//     It MATCHES the unit's preferred orientation when they differ by ≤ 22.5° (the width of
//     one of the 8 orientation bins the net is trained on).
// Checks: the net learned the task; most (> 50 %) first-layer units have a clear preferred
// orientation; for most (> 50 %) of those the visualisation's orientation matches.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "interp/plot.h"
#include "interp/png.h"
#include "interp/summary.h"
#include "interp/tuning.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/pool.h"
#include "model/timer.h"
#include "verbs.h"
#include "vision.h"

#define PI 3.14159265358979323846
#define OSI_CLEAR 0.2
#define MATCH_DEG 22.5
#define N_THETA 36

static const char *REPRODUCES =
    "Olah et al. 2020 (Zoom In), Cammarata et al. 2020 (Curve Detectors): early conv units are "
    "oriented edge/line detectors";

static void usage(FILE *f) {
    fprintf(f,
        "Usage: mechlab run curves [options]\n"
        "Train a small CNN on synthetic curves, then measure the orientation tuning of every unit\n"
        "of its first two conv layers and visualise the most selective ones. Writes report.html,\n"
        "summary.json, the model and the figures to --out.\n\n"
        "  --out DIR        [runs/curves]\n"
        "  --data KIND      curves (orientation x curvature labels) or lines (orientation) [curves]\n"
        "  --size N         image side in pixels                                   [16]\n"
        "  --arch SPEC      [conv5x5:8,relu,maxpool2,conv3x3:16,relu,maxpool2,linear:<classes>]\n"
        "  --steps N        training steps (batch 64)                              [3000]\n"
        "  --n-train N      training images                                        [8192]\n"
        "  --fv-steps N     feature-visualisation steps per unit                   [256]\n"
        "  --top K          units per layer shown with their tuning curve          [4]\n"
        "  --seed S         [0]\n"
        "  --threads N      worker threads (default: MECHLAB_THREADS or all cores)\n"
        "  -h, --help\n");
}

typedef struct {
    int layer;            // index of the conv layer in the spec
    char conv_point[32];  // its output (featviz target, before the ReLU)
    char resp_point[32];  // where responses are measured (after its ReLU if one follows)
    int K;                // units
    float *resp;          // [K, N_THETA]
    double *osi, *pref;   // [K]
    double *fv_theta, *fv_coh;  // [K] visualisation orientation and mean coherence
    int *order;           // [K] units by OSI, most selective first
    float *resp_map_scratch;  // [K, N_THETA]
    int n_clear, n_dead, n_match;
    int n_clear_map;      // units with OSI >= 0.2 when the response is the map mean instead
} Layer;

static void layer_free(Layer *L) {
    free(L->resp);
    free(L->osi);
    free(L->pref);
    free(L->fv_theta);
    free(L->fv_coh);
    free(L->order);
    free(L->resp_map_scratch);
}

static const double *sort_key;
static int by_osi_desc(const void *a, const void *b) {
    double x = sort_key[*(const int *)a], y = sort_key[*(const int *)b];
    return x < y ? 1 : x > y ? -1 : *(const int *)a - *(const int *)b;
}

static double deg(double rad) { return rad * 180 / PI; }

// Tuning curves, OSI, feature visualisations and their orientation for one conv layer.
static int analyse_layer(Cnn *m, Layer *L, const TuneConfig *tc, const FvConfig *fc,
                         const char *dir, const char *grid_file, int top) {
    L->resp = malloc(sizeof(float) * L->K * N_THETA);
    L->osi = malloc(sizeof(double) * L->K);
    L->pref = malloc(sizeof(double) * L->K);
    L->fv_theta = malloc(sizeof(double) * L->K);
    L->fv_coh = malloc(sizeof(double) * L->K);
    L->order = malloc(sizeof(int) * L->K);
    L->resp_map_scratch = malloc(sizeof(float) * L->K * N_THETA);
    if (!L->resp || !L->osi || !L->pref || !L->fv_theta || !L->fv_coh || !L->order ||
        !L->resp_map_scratch)
        return err_set("curves: out of memory");
    if (tuning_curves(m, L->resp_point, tc, L->resp)) return -1;
    for (int u = 0; u < L->K; u++) {
        const float *r = L->resp + (size_t)u * N_THETA;
        tuning_osi(r, N_THETA, PI, &L->osi[u], &L->pref[u]);
        double s = 0;
        for (int k = 0; k < N_THETA; k++) s += r[k] > 0 ? r[k] : 0;
        L->n_dead += s == 0;
        L->n_clear += L->osi[u] >= OSI_CLEAR;
        L->order[u] = u;
    }
    // The population version (mean over the whole map), reported beside it: it also counts the
    // units that see only a stroke's end or a crossing, so its OSIs are lower.
    TuneConfig tm = *tc;
    tm.map_mean = 1;
    if (tuning_curves(m, L->resp_point, &tm, L->resp_map_scratch)) return -1;
    for (int u = 0; u < L->K; u++) {
        double o, p;
        tuning_osi(L->resp_map_scratch + (size_t)u * N_THETA, N_THETA, PI, &o, &p);
        L->n_clear_map += o >= OSI_CLEAR;
    }
    sort_key = L->osi;
    qsort(L->order, (size_t)L->K, sizeof(int), by_osi_desc);
    // Feature visualisations of every unit, most selective first (one grid row per unit).
    int S = fc->n_seeds, HW = m->H * m->W;
    float *img = malloc(sizeof(float) * (size_t)L->K * S * HW);
    if (!img) return err_set("curves: out of memory");
    char path[4200];
    vis_path(path, sizeof path, dir, grid_file);
    int rc = featviz_save_grid(m, L->conv_point, L->order, L->K, FV_UNIT, fc, path, 2, img, NULL);
    for (int i = 0; i < L->K && !rc; i++) {
        int u = L->order[i];
        double cs = 0, sn = 0, coh_sum = 0;
        for (int s = 0; s < S; s++) {
            double th, coh;
            featviz_orientation(img + ((size_t)i * S + s) * HW, m->H, m->W, &th, &coh);
            cs += coh * cos(2 * th);
            sn += coh * sin(2 * th);
            coh_sum += coh;
        }
        double t = atan2(sn, cs) / 2;
        L->fv_theta[u] = t < 0 ? t + PI : t;
        L->fv_coh[u] = coh_sum / S;
        if (L->osi[u] >= OSI_CLEAR && deg(tuning_angle_diff(L->fv_theta[u], L->pref[u], PI)) <= MATCH_DEG)
            L->n_match++;
    }
    // One small grid per top unit (its seeds in a row) for the report.
    for (int i = 0; i < top && i < L->K && !rc; i++) {
        char file[64];
        snprintf(file, sizeof file, "featviz_layer%d_unit%d.png", L->layer, L->order[i]);
        vis_path(path, sizeof path, dir, file);
        PngStyle st = {.cmap = PNG_GREY, .scale = 2};
        rc = png_write_grid(path, img + (size_t)i * S * HW, S, m->H, m->W, S, &st, 1);
    }
    free(img);
    return rc;
}

// Heatmap of every unit's tuning curve (each row scaled to its maximum), units by preferred
// orientation; OSI bars with the threshold.
static int report_layer_figures(Report *r, const Layer *L, const char *dir) {
    float *rows = malloc(sizeof(float) * L->K * N_THETA), *osi = malloc(sizeof(float) * L->K);
    char **labels = calloc((size_t)L->K, sizeof(char *)), **ulabels = calloc((size_t)L->K, sizeof(char *));
    char *lab = malloc((size_t)L->K * 48);
    int *ord = malloc(sizeof(int) * L->K);
    const char *cols[N_THETA];
    char colbuf[N_THETA][8];
    int rc = 0;
    if (!rows || !osi || !labels || !ulabels || !lab || !ord) {
        rc = err_set("curves: out of memory");
        goto done;
    }
    for (int u = 0; u < L->K; u++) ord[u] = u;
    sort_key = L->pref;  // ascending preferred orientation (reverse of by_osi_desc)
    qsort(ord, (size_t)L->K, sizeof(int), by_osi_desc);
    for (int i = 0; i < L->K; i++) {
        int u = ord[L->K - 1 - i];
        const float *rr = L->resp + (size_t)u * N_THETA;
        float mx = 0;
        for (int k = 0; k < N_THETA; k++) mx = rr[k] > mx ? rr[k] : mx;
        for (int k = 0; k < N_THETA; k++) rows[i * N_THETA + k] = mx > 0 ? (rr[k] > 0 ? rr[k] : 0) / mx : 0;
        labels[i] = lab + (size_t)i * 48;
        snprintf(labels[i], 48, "unit %d (OSI %.2f)", u, L->osi[u]);
    }
    for (int k = 0; k < N_THETA; k++) {
        snprintf(colbuf[k], sizeof colbuf[k], "%d", k * 5);
        cols[k] = k % 6 == 0 ? colbuf[k] : "";
    }
    char title[96], file[64], path[4200], cap[256];
    snprintf(title, sizeof title, "Layer %d: tuning curves (row max = 1)", L->layer);
    PlotHeatmap h = {.data = rows, .rows = L->K, .cols = N_THETA, .row_labels = (const char *const *)labels,
                     .col_labels = cols, .scale = {.cmap = PLOT_SEQUENTIAL, .vmin = 0, .vmax = 1,
                                                   .label = "response / max"}};
    PlotOpts o = {.title = title, .xlabel = "stimulus orientation (degrees)"};
    Buf svg = {0};
    snprintf(file, sizeof file, "tuning_layer%d.svg", L->layer);
    vis_path(path, sizeof path, dir, file);
    if ((rc = plot_heatmap(&svg, &o, &h)) || (rc = plot_save(path, &svg))) goto done;
    snprintf(cap, sizeof cap, "Every unit of layer %d (%s), sorted by preferred orientation; a "
             "selective unit is a bright spot in its row.", L->layer, L->resp_point);
    report_figure(r, svg.p, cap);
    buf_reset(&svg);
    for (int u = 0; u < L->K; u++) {
        osi[u] = (float)L->osi[u];
        ulabels[u] = lab + (size_t)u * 48;
        snprintf(ulabels[u], 48, "%d", u);
    }
    PlotRefLine ref = {.at = OSI_CLEAR, .label = "clear preference (0.2)"};
    snprintf(title, sizeof title, "Layer %d: orientation selectivity", L->layer);
    PlotOpts ob = {.title = title, .xlabel = "unit", .ylabel = "OSI", .refs = &ref, .n_refs = 1,
                   .ymin = 0, .ymax = 1};
    PlotBars bars = {.values = osi, .n = L->K, .labels = (const char *const *)ulabels};
    snprintf(file, sizeof file, "osi_layer%d.svg", L->layer);
    vis_path(path, sizeof path, dir, file);
    if ((rc = plot_bars(&svg, &ob, &bars)) || (rc = plot_save(path, &svg))) goto done;
    report_figure(r, svg.p, "OSI = |Σ r(θ) e^{2iθ}| / Σ r(θ) of every unit.");
    buf_free(&svg);
done:
    free(rows);
    free(osi);
    free(labels);
    free(ulabels);
    free(lab);
    free(ord);
    return rc;
}

// The top units: visualisation and tuning curve, one after the other.
static int report_top_units(Report *r, const Layer *L, int top, const char *dir) {
    static float theta[N_THETA];
    for (int k = 0; k < N_THETA; k++) theta[k] = (float)(k * 180.0 / N_THETA);
    for (int i = 0; i < top && i < L->K; i++) {
        int u = L->order[i];
        char head[160], file[64], path[4200], cap[300];
        snprintf(head, sizeof head, "Layer %d, unit %d: OSI %.2f, preferred %.0f°, visualisation %.0f°",
                 L->layer, u, L->osi[u], deg(L->pref[u]), deg(L->fv_theta[u]));
        report_heading(r, 3, head);
        snprintf(file, sizeof file, "featviz_layer%d_unit%d.png", L->layer, u);
        snprintf(cap, sizeof cap, "Feature visualisations of the centre unit (4 seeds); dominant "
                 "orientation %.0f° (mean coherence %.2f).", deg(L->fv_theta[u]), L->fv_coh[u]);
        if (vis_report_png(r, dir, file, 3, cap)) return -1;
        PlotSeries s = {.x = theta, .y = L->resp + (size_t)u * N_THETA, .n = N_THETA,
                        .label = "response", .markers = 1};
        PlotRefLine refs[2] = {{.vertical = 1, .at = deg(L->pref[u]), .label = "preferred", .solid = 1},
                               {.vertical = 1, .at = deg(L->fv_theta[u]), .label = "visualisation"}};
        PlotOpts o = {.title = head, .xlabel = "line orientation (degrees)", .ylabel = "mean response",
                      .refs = refs, .n_refs = 2, .xmin = 0, .xmax = 180, .width = 520, .height = 300,
                      .legend = PLOT_LEGEND_NONE};
        Buf svg = {0};
        snprintf(file, sizeof file, "tuning_layer%d_unit%d.svg", L->layer, u);
        vis_path(path, sizeof path, dir, file);
        int rc = plot_line(&svg, &o, &s, 1);
        if (!rc) rc = plot_save(path, &svg);
        if (!rc) report_figure(r, svg.p, "Tuning curve: response to a line vs its orientation.");
        buf_free(&svg);
        if (rc) return -1;
    }
    return 0;
}

static void layer_json(Buf *b, const Layer *L) {
    buf_printf(b, "{\"layer\": %d, \"point\": \"%s\", \"units\": %d, \"clear\": %d, \"dead\": %d, "
                  "\"match\": %d, \"osi\": [", L->layer, L->resp_point, L->K, L->n_clear, L->n_dead,
               L->n_match);
    for (int u = 0; u < L->K; u++) buf_printf(b, "%s%.4f", u ? ", " : "", L->osi[u]);
    buf_puts(b, "], \"preferred_deg\": [");
    for (int u = 0; u < L->K; u++) buf_printf(b, "%s%.1f", u ? ", " : "", deg(L->pref[u]));
    buf_puts(b, "], \"featviz_deg\": [");
    for (int u = 0; u < L->K; u++) buf_printf(b, "%s%.1f", u ? ", " : "", deg(L->fv_theta[u]));
    buf_puts(b, "]}");
}

enum { O_OUT = 256, O_DATA, O_SIZE, O_ARCH, O_STEPS, O_NTRAIN, O_FV, O_TOP, O_SEED, O_THREADS };

int run_curves(int argc, char **argv) {
    static const struct option opts[] = {
        {"out", 1, 0, O_OUT},     {"data", 1, 0, O_DATA},       {"size", 1, 0, O_SIZE},
        {"arch", 1, 0, O_ARCH},   {"steps", 1, 0, O_STEPS},     {"n-train", 1, 0, O_NTRAIN},
        {"fv-steps", 1, 0, O_FV}, {"top", 1, 0, O_TOP},         {"seed", 1, 0, O_SEED},
        {"threads", 1, 0, O_THREADS}, {"help", 0, 0, 'h'},      {0, 0, 0, 0}};
    const char *V = "run curves", *out = "runs/curves", *data = "curves", *arch = NULL;
    long size = 16, steps = 3000, ntrain = 8192, fvsteps = 256, top = 4, seed = 0, threads = 0, v;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case O_OUT: out = optarg; break;
        case O_DATA: data = optarg; break;
        case O_ARCH: arch = optarg; break;
        case '?': return cli_usage(V, "unknown or incomplete option");
        default:
            if (cli_int(V, cli_optname(opts, c), optarg, c == O_FV || c == O_SEED || c == O_THREADS ? 0 : 1,
                        1L << 30, &v))
                return EXIT_USAGE;
            if (c == O_SIZE) size = v;
            if (c == O_STEPS) steps = v;
            if (c == O_NTRAIN) ntrain = v;
            if (c == O_FV) fvsteps = v;
            if (c == O_TOP) top = v;
            if (c == O_SEED) seed = v;
            if (c == O_THREADS) threads = v;
        }
    }
    if (optind < argc) return cli_usage(V, "unexpected argument '%s'", argv[optind]);
    if (strcmp(data, "curves") && strcmp(data, "lines"))
        return cli_usage(V, "--data: '%s' is not curves or lines", data);
    if (threads > 0 && pool_set_threads((int)threads)) return cli_fail_err();

    CnnTrainSpec s = cnntrain_defaults(data);
    s.size = (int)size;
    s.n_train = (int)ntrain;
    s.n_test = 1024;
    s.seed = (uint64_t)seed;
    ImgSynthConfig sc = images_synth_defaults(strcmp(data, "lines") ? IMG_CURVES : IMG_LINES, s.size);
    int classes = s.label == IMG_LABEL_JOINT ? sc.n_orient * sc.n_curv : sc.n_orient;
    if (arch) snprintf(s.arch, sizeof s.arch, "%s", arch);
    else
        snprintf(s.arch, sizeof s.arch, "conv5x5:8,relu,maxpool2,conv3x3:16,relu,maxpool2,linear:%d",
                 classes);
    s.train.steps = steps;
    s.train.eval_every = steps >= 10 ? steps / 10 : 1;
    s.train.ckpt_every = 0;
    s.train.sched = (Sched){.kind = SCHED_WARMUP_COSINE, .lr = 3e-3f, .warmup = steps / 20,
                            .total = steps, .min_lr = 3e-5f};
    s.train.out_dir = out;
    s.train.progress = isatty(2);
    if (fileio_mkdirs(out)) return cli_fail_err();

    CnnTrainer *t = cnntrain_create(&s);
    if (!t) return cli_fail_err();
    VisCurve curve = {0};
    t->on_eval = vis_curve_record;
    t->on_eval_user = &curve;
    Layer layers[2];
    memset(layers, 0, sizeof layers);
    Report *r = NULL;
    Summary sum;
    summary_init(&sum, "curves", REPRODUCES);
    int rc = EXIT_FAIL;
    fprintf(stderr, "curves: training %s on %d %s images (%dx%d) for %ld steps\n", s.arch,
            t->train.n, data, s.size, s.size, steps);
    double t0 = timer_now();
    if (cnntrain_run(t)) goto done;
    double train_s = timer_now() - t0;
    Cnn *m = t->m;
    double test_acc = t->state.last_eval[1];

    // the first two conv layers; responses after their ReLUs
    int nl = 0;
    for (int i = 0; i < m->n_layers && nl < 2; i++) {
        if (m->layers[i].kind != CNN_CONV) continue;
        Layer *L = &layers[nl++];
        L->layer = i;
        L->K = m->layers[i].out_c;
        snprintf(L->conv_point, sizeof L->conv_point, "layers.%d.hook_out", i);
        int j = i + 1 < m->n_layers && m->layers[i + 1].kind == CNN_RELU ? i + 1 : i;
        snprintf(L->resp_point, sizeof L->resp_point, "layers.%d.hook_out", j);
    }
    if (nl == 0) {
        err_set("curves: the architecture '%s' has no conv layer", s.arch);
        goto done;
    }
    TuneConfig tc = tuning_defaults(s.size);
    tc.n_theta = N_THETA;
    tc.mean = t->mean;
    tc.std = t->std;
    FvConfig fc = featviz_defaults();
    fc.steps = (int)fvsteps;
    fc.range_lo = (0 - t->mean) / t->std;  // the pixel range [0, 1] in the model's input space
    fc.range_hi = (1 - t->mean) / t->std;
    fc.seed = (uint64_t)seed;
    t0 = timer_now();
    for (int l = 0; l < nl; l++) {
        char grid[64];
        snprintf(grid, sizeof grid, "featviz_layer%d.png", layers[l].layer);
        if (analyse_layer(m, &layers[l], &tc, &fc, out, grid, (int)top)) goto done;
    }
    double analyse_s = timer_now() - t0;

    // filters of the first conv layer
    const CnnLayer *c0 = &m->layers[layers[0].layer];
    int k0 = c0->u.conv.k;
    char path[4200];
    vis_path(path, sizeof path, out, "filters_layer0.png");
    const float *W0 = m->params.data + m->params.info[c0->u.conv.W].offset;
    PngStyle fst = {.cmap = PNG_DIVERGING, .scale = 2};
    if (png_write_grid(path, W0, c0->out_c * c0->in_c, k0, k0, c0->out_c, &fst, 1)) goto done;

    // ---- summary --------------------------------------------------------------------------------
    const Layer *L0 = &layers[0];
    double share0 = (double)L0->n_clear / L0->K;
    double match0 = L0->n_clear ? (double)L0->n_match / L0->n_clear : 0;
    summary_str(&sum, "arch", s.arch);
    summary_str(&sum, "data", data);
    summary_int(&sum, "steps", steps);
    summary_num(&sum, "test_acc", test_acc);
    summary_num(&sum, "train_seconds", train_s);
    summary_num(&sum, "analysis_seconds", analyse_s);
    summary_num(&sum, "osi_threshold", OSI_CLEAR);
    summary_num(&sum, "match_tolerance_deg", MATCH_DEG);
    for (int l = 0; l < nl; l++) {
        char key[64];
        snprintf(key, sizeof key, "layer%d_share_clear", layers[l].layer);
        summary_num(&sum, key, (double)layers[l].n_clear / layers[l].K);
        snprintf(key, sizeof key, "layer%d_share_clear_map_mean", layers[l].layer);
        summary_num(&sum, key, (double)layers[l].n_clear_map / layers[l].K);
        snprintf(key, sizeof key, "layer%d_share_match", layers[l].layer);
        summary_num(&sum, key, layers[l].n_clear ? (double)layers[l].n_match / layers[l].n_clear : 0);
        Buf b = {0};
        layer_json(&b, &layers[l]);
        snprintf(key, sizeof key, "layer%d", layers[l].layer);
        summary_json(&sum, key, b.p);
        buf_free(&b);
    }
    double chance = 1.0 / classes;
    summary_check(&sum, "the net learned the task (test accuracy, >= 5x chance)", test_acc,
                  "(sanity check)", test_acc >= 5 * chance);
    summary_check(&sum, "share of first-layer units with a clear preferred orientation (OSI >= 0.2)",
                  share0, "most early units are oriented detectors (Olah et al. 2020)", share0 > 0.5);
    summary_check(&sum, "share of those whose feature visualisation has the preferred orientation "
                  "(within 22.5 deg)", match0,
                  "visualisations show edges/lines at the unit's orientation (Olah et al. 2020)",
                  match0 > 0.5);
    vis_path(path, sizeof path, out, "summary.json");
    if (summary_save(&sum, path)) goto done;

    // ---- report ---------------------------------------------------------------------------------
    r = report_create("Curves: oriented detectors in a small CNN");
    if (!r) goto done;
    report_paragraphf(r, "Reproduces %s. A CNN (%s) was trained for %ld steps on %d synthetic "
                      "%dx%d %s images (%d classes) and reached test accuracy %.3f. Training took "
                      "%.0f s, the analysis %.0f s.", REPRODUCES, s.arch, steps, t->train.n,
                      s.size, s.size, data, classes, test_acc, train_s, analyse_s);
    report_table_begin(r, 3, (const char *[]){"check", "measured", "published / expected"});
    {
        char a[32], b[32], m0[32];
        report_num(a, sizeof a, test_acc, 3);
        report_num(b, sizeof b, share0, 3);
        report_num(m0, sizeof m0, match0, 3);
        char b2[64], m2[64];
        snprintf(b2, sizeof b2, "%s %s", b, share0 > 0.5 ? "[ok]" : "[MISS]");
        snprintf(m2, sizeof m2, "%s %s", m0, match0 > 0.5 ? "[ok]" : "[MISS]");
        char a2[64];
        snprintf(a2, sizeof a2, "%s %s", a, test_acc >= 5 * chance ? "[ok]" : "[MISS]");
        report_table_row(r, (const char *[]){"test accuracy", a2, "well above chance"});
        report_table_row(r, (const char *[]){"first-layer units with OSI >= 0.2", b2,
                                             "most (Olah et al. 2020)"});
        report_table_row(r, (const char *[]){"of those, visualisation within 22.5 deg of the "
                                             "preferred orientation", m2, "most"});
    }
    report_table_end(r);
    report_heading(r, 2, "Method");
    report_paragraph(r, "Tuning curve: the response of a unit (the channel's centre unit, after its "
                        "ReLU) to a straight anti-aliased line (width 1.5 px, length 0.6 of the "
                        "image) through the image centre at 36 orientations 0-175 degrees, averaged "
                        "over 5 parallel offsets within 2 px. "
                        "Selectivity: OSI = |sum r(t) exp(2it)| / sum r(t) (1 - circular variance); "
                        "preferred orientation = arg(sum r(t) exp(2it)) / 2. A unit has a clear "
                        "preferred orientation when OSI >= 0.2: for r = 1 + a cos 2(t - t0) the OSI "
                        "is a/2, so the preferred orientation then draws at least 2.3 times the "
                        "orthogonal one's response. The responses are those of each channel's centre "
                        "unit to lines through the image centre, the way a neuron's tuning is "
                        "measured with stimuli on its receptive field (Cammarata et al. render "
                        "curves at the neuron's position); the headings also give the share when "
                        "the response is instead the mean over the channel's whole map, which "
                        "counts units that see only a line's end or a crossing and is lower.");
    report_paragraphf(r, "Feature visualisation: gradient ascent on the centre unit of the conv "
                         "output (before the ReLU), Fourier parameterisation with 1/f scaling, "
                         "jitter of 1 px, L2 %.3g and TV %.3g penalties, pixels squashed into the "
                         "input range, %d steps, %d seeds. Its orientation is that of the "
                         "structure tensor (Scharr gradients); the seeds are combined by a "
                         "coherence-weighted doubled-angle mean. Orientations in degrees, "
                         "counter-clockwise from horizontal.", fc.l2, fc.tv, fc.steps, fc.n_seeds);
    report_heading(r, 2, "Training");
    if (vis_report_curve(r, &curve, out)) goto done;
    report_heading(r, 2, "First-layer filters");
    if (vis_report_png(r, out, "filters_layer0.png", 6,
                       "The weights of every first-layer filter (red positive, blue negative)."))
        goto done;
    for (int l = 0; l < nl; l++) {
        const Layer *L = &layers[l];
        char h[160];
        snprintf(h, sizeof h, "Layer %d (%s): %d of %d units clearly oriented (map mean: %d), "
                 "%d silent; visualisation matches for %d of the %d", L->layer, L->conv_point,
                 L->n_clear, L->K, L->n_clear_map, L->n_dead, L->n_match, L->n_clear);
        report_heading(r, 2, h);
        if (report_layer_figures(r, L, out)) goto done;
        char grid[64];
        snprintf(grid, sizeof grid, "featviz_layer%d.png", L->layer);
        if (vis_report_png(r, out, grid, 3, "Feature visualisations of every unit, most "
                           "selective first (a row per unit, a column per seed)."))
            goto done;
        report_heading(r, 3, "The most selective units");
        if (report_top_units(r, L, (int)top, out)) goto done;
    }
    report_heading(r, 2, "Files");
    report_link(r, "summary.json", "the numbers above, per unit");
    report_link(r, "metrics.csv", "test loss and accuracy over training");
    report_link(r, "model.safetensors", "the trained model (mechlab inspect)");
    vis_path(path, sizeof path, out, "report.html");
    if (report_save(r, path)) goto done;
    fprintf(stderr, "curves: wrote %s\n", path);
    rc = EXIT_OK;  // a run that completes exits 0; summary.json and the [MISS] lines say which checks missed
done:
    if (rc == EXIT_FAIL && err_msg()[0]) cli_fail_err();
    report_free(r);
    summary_free(&sum);
    for (int l = 0; l < 2; l++) layer_free(&layers[l]);
    vis_curve_free(&curve);
    cnntrain_free(t);
    return rc;
}
