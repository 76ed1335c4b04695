// mechlab run sae-toy — sparse autoencoders recover known features from superposition.
//
// Reproduces Sharkey, Braun & Millidge 2022 ("Taking features out of superposition with sparse
// autoencoders"): data built from F known sparse features in D < F dimensions
// (datasets/features.h), SAEs with a larger dictionary trained over a sweep of the L1
// coefficient λ, and the mean max cosine similarity (MMCS) between the true features and the
// learned decoder directions. Their finding: MMCS close to 1 at the right λ, lower when λ is too
// small (dense, mixed latents) or too large (latents die, features merge). Also: L0 and FVU
// against λ, the feature-density histogram, and the dead fraction with and without resampling
// (Bricken et al. 2023) at a dictionary 8× larger than the truth: for the best-λ ReLU SAE, and
// for TopK SAEs without AuxK (where resampling is the only thing that revives a latent) at
// dictionaries 1×, 2× and 8× the truth — a latent can only stay alive if there is a feature left
// for it to learn, so the comparison is made at more than one size.
//
// Writes OUT/summary.json, OUT/report.html, OUT/sweep.csv, OUT/*.svg and OUT/sae-best/ (the
// best-λ SAE as a SAELens folder).
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "datasets/features.h"
#include "interp/plot.h"
#include "interp/report.h"
#include "interp/sae.h"
#include "interp/summary.h"
#include "model/buf.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/json.h"
#include "model/pool.h"
#include "model/timer.h"
#include "verbs.h"

#define VERB "run sae-toy"
#define MAX_LAMBDAS 32
#define CURVE_POINTS 100
#define HIST_LO (-6.0)
#define HIST_HI 0.0
#define HIST_BINS 12
// A latent firing on fewer than this share of samples is "ultra-low density": a true feature
// here fires on p = active/features of them (5/128 ≈ 0.04 by default), 400× more often.
#define LOW_DENSITY 1e-4
#define RECOVERED_COS 0.9f
// "Clearly lower": an MMCS at least this far below the best one.
#define CLEARLY_LOWER 0.02

static const char *REPRODUCES =
    "Sharkey, Braun & Millidge 2022 - sparse autoencoders recover known features from superposition";

typedef struct {
    int features, dims, dict, big_dict, batch;
    int topk;             // k of the TopK resampling comparison (0: round(active))
    long steps;
    long resample_every;  // steps between resamplings (0: steps/8)
    long dead_window;     // samples without firing that make a latent dead (0: half the period)
    size_t samples, eval;
    double active, lr;
    uint64_t seed;
    float lambdas[MAX_LAMBDAS];
    int n_lambdas;
    const char *out;
} ToyOpts;

typedef struct {
    float lambda;  // ReLU: the L1 coefficient (0 for TopK)
    int k;         // TopK: latents kept per sample (0 for ReLU)
    int L;
    double mmcs, share, l0, fvu, mse, dead, low, seconds;
    long resampled;
    float *best_cos;  // [features]
    int *best_idx;    // [features]
    float *density;   // [L]
    float curve_step[CURVE_POINTS], curve_dead[CURVE_POINTS];  // dead fraction (window) over training
    int n_curve;
    Sae *sae;
} Run;

static void usage(FILE *f) {
    fprintf(f,
            "Usage: mechlab run sae-toy [options]\n"
            "Sparse autoencoders on data made of known sparse features in superposition:\n"
            "a sweep over the L1 coefficient lambda, MMCS / L0 / FVU against lambda, and dead\n"
            "latents with and without resampling at a dictionary 8x larger than the truth.\n"
            "Reproduces %s.\n\n"
            "Options:\n"
            "  --out DIR          output folder (default runs/sae-toy)\n"
            "  --seed N           seed of the features, the data and the SAEs (default 1)\n"
            "  --steps N          training steps per SAE (default 4000)\n"
            "  --batch N          samples per step (default 256)\n"
            "  --lr X             Adam learning rate (default 3e-3)\n"
            "  --lambdas LIST     comma-separated L1 coefficients, > 0\n"
            "                     (default 0.01,0.0316,0.1,0.316,1,3.16: half-decade steps)\n"
            "  --features N       true features (default 128)\n"
            "  --dims N           dimensions they live in (default 64)\n"
            "  --active X         mean active features per sample (default 5)\n"
            "  --dict N           dictionary size of the sweep (default 2 x features)\n"
            "  --big-dict N       largest dictionary of the resampling comparisons (default\n"
            "                     8 x features; 0 skips them)\n"
            "  --topk K           k of the TopK SAEs (no AuxK) compared with and without\n"
            "                     resampling at 1x, 2x features and --big-dict (default: round(active))\n"
            "  --resample-every N steps between resamplings, until 3/4 of training (default steps/8)\n"
            "  --dead-window N    samples without firing after which a latent is dead (default:\n"
            "                     half the resampling period, in samples)\n"
            "  --samples N        training activations (default 65536)\n"
            "  --eval N           held-out samples for the metrics (default 65536)\n"
            "  --threads N        threads (default: MECHLAB_THREADS or all cores)\n"
            "  -h, --help         this help\n\n"
            "Exit status: 0 when the run completes (a check that misses is a [MISS] line and\n"
            "is counted in summary.json), 1 on an error, 2 on a usage error.\n",
            REPRODUCES);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int parse_lambdas(const char *s, ToyOpts *o) {
    o->n_lambdas = 0;
    const char *p = s;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || (*end && *end != ',') || !(v > 0) || !isfinite(v)) {
            cli_usage(VERB, "--lambdas: '%s' is not a comma-separated list of numbers > 0", s);
            return -1;
        }
        if (o->n_lambdas == MAX_LAMBDAS) {
            cli_usage(VERB, "--lambdas: at most %d values", MAX_LAMBDAS);
            return -1;
        }
        o->lambdas[o->n_lambdas++] = (float)v;
        p = *end ? end + 1 : end;
        if (*end && !*p) {
            cli_usage(VERB, "--lambdas: '%s' ends with a comma", s);
            return -1;
        }
    }
    if (o->n_lambdas == 0) {
        cli_usage(VERB, "--lambdas: no values");
        return -1;
    }
    qsort(o->lambdas, (size_t)o->n_lambdas, sizeof(float), cmp_float);
    return 0;
}

static void run_free(Run *r) {
    free(r->best_cos);
    free(r->best_idx);
    free(r->density);
    sae_free(r->sae);
    memset(r, 0, sizeof *r);
}

// Trains one SAE with L latents and measures it: k == 0 → ReLU with the decoder-norm L1 at λ;
// k > 0 → TopK keeping k latents, with no AuxK (so only resampling can revive a dead latent).
// resample: resampling every o->resample_every steps until 3/4 of training; the dead window is
// o->dead_window samples (by default half the resampling period: Bricken et al. resample every
// 25k steps, dead = silent for 12.5k).
static int train_run(const ToyOpts *o, const FeatSet *fs, const float *x, const float *xe, int L,
                     float lambda, int k, int resample, Run *r) {
    memset(r, 0, sizeof *r);
    r->lambda = k > 0 ? 0.0f : lambda;
    r->k = k;
    r->L = L;
    SaeConfig c = sae_config(o->dims, L);
    if (k > 0) {
        c.arch = SAE_TOPK;
        c.k = k < L ? k : L;
    }
    snprintf(c.hook_name, sizeof c.hook_name, "sae-toy.x");
    snprintf(c.model_name, sizeof c.model_name, "sae-toy F=%d D=%d seed=%llu", o->features, o->dims,
             (unsigned long long)o->seed);
    r->sae = sae_create(&c, o->seed + 2);
    r->best_cos = malloc(sizeof(float) * (size_t)o->features);
    r->best_idx = malloc(sizeof(int) * (size_t)o->features);
    r->density = malloc(sizeof(float) * (size_t)L);
    if (!r->sae || !r->best_cos || !r->best_idx || !r->density) return err_set("sae-toy: out of memory");
    SaeTrainConfig tc = sae_train_defaults();
    tc.batch = o->batch;
    tc.steps = o->steps;
    tc.lr.lr = (float)o->lr;
    tc.l1_coeff = r->lambda;
    tc.l1_warmup = o->steps / 10;
    tc.aux_coeff = 0.0f;  // TopK: no AuxK (ReLU ignores it)
    const long period = o->resample_every;
    tc.dead_window = o->dead_window;
    if (resample) {
        tc.resample_every = period;
        tc.resample_stop = o->steps * 3 / 4 + 1;
    }
    tc.seed = o->seed + 3;
    SaeTrainer *t = sae_trainer_create(r->sae, &tc, x, o->samples);
    if (!t) return -1;
    double t0 = timer_now();
    long every = o->steps / CURVE_POINTS > 0 ? o->steps / CURVE_POINTS : 1;
    for (long i = 0; i < o->steps; i++) {
        SaeStepStats st;
        if (sae_trainer_step(t, &st)) {
            sae_trainer_free(t);
            return -1;
        }
        if ((i + 1) % every == 0 && r->n_curve < CURVE_POINTS) {
            r->curve_step[r->n_curve] = (float)(i + 1);
            r->curve_dead[r->n_curve++] = (float)st.n_dead / L;
        }
    }
    r->seconds = timer_now() - t0;
    r->resampled = sae_trainer_n_resampled(t);
    sae_trainer_free(t);
    SaeEval ev;
    if (sae_evaluate(r->sae, xe, o->eval, LOW_DENSITY, &ev, r->density) ||
        sae_mmcs(fs->dirs, o->features, r->sae->W_dec, L, o->dims, r->best_cos, r->best_idx, &r->mmcs))
        return -1;
    r->share = sae_share_above(r->best_cos, o->features, RECOVERED_COS);
    r->l0 = ev.l0;
    r->fvu = ev.fvu;
    r->mse = ev.mse;
    r->dead = ev.dead_frac;
    r->low = ev.low_frac;
    char what[32];
    if (k > 0) snprintf(what, sizeof what, "TopK k %d", k);
    else snprintf(what, sizeof what, "lambda %-7.4g", (double)lambda);
    printf("  %5d latents, %s%s MMCS %.4f, cos>=0.9 %5.1f %%, L0 %6.2f, FVU %.4f, dead %.3f, "
           "density<1e-4 %.3f, resampled %ld (%.1f s)\n",
           L, what, resample ? " resampling:" : ":", r->mmcs, 100 * r->share, r->l0, r->fvu, r->dead, r->low,
           r->resampled, r->seconds);
    fflush(stdout);
    return 0;
}

// ---- figures --------------------------------------------------------------------------------

static int save_fig(Report *rep, const char *dir, const char *name, const Buf *svg, const char *caption) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (plot_save(path, svg)) return -1;
    report_figure(rep, svg->p, caption);
    return 0;
}

static int fig_vs_lambda(Report *rep, const char *dir, const char *name, const char *title,
                         const char *ylabel, const PlotSeries *s, int ns, const PlotRefLine *refs,
                         int nrefs, int log_y, const char *caption) {
    PlotOpts po = {.title = title, .xlabel = "L1 coefficient lambda", .ylabel = ylabel, .log_x = 1,
                   .log_y = log_y, .refs = refs, .n_refs = nrefs};
    Buf svg = {0};
    int rc = plot_line(&svg, &po, s, ns) || save_fig(rep, dir, name, &svg, caption) ? -1 : 0;
    buf_free(&svg);
    return rc;
}

// Histogram of log10 density for several runs as lines over the bin centres.
static int fig_density(Report *rep, const char *dir, const Run *const *runs, const char *const *labels,
                       int n) {
    float centre[HIST_BINS], counts[3][HIST_BINS];
    PlotSeries s[3];
    char caption[1024];
    int len = snprintf(caption, sizeof caption,
                       "Feature density: latents per bin of log10(firing frequency) on the held-out "
                       "set; latents that never fired are not binned:");
    for (int b = 0; b < HIST_BINS; b++) centre[b] = (float)(HIST_LO + (b + 0.5) * (HIST_HI - HIST_LO) / HIST_BINS);
    for (int i = 0; i < n && i < 3; i++) {
        int zero;
        sae_density_histogram(runs[i]->density, runs[i]->L, HIST_LO, HIST_HI, HIST_BINS, counts[i], &zero);
        s[i] = (PlotSeries){.x = centre, .y = counts[i], .n = HIST_BINS, .label = labels[i], .markers = 1};
        if (len < (int)sizeof caption)
            len += snprintf(caption + len, sizeof caption - (size_t)len, "%s %s: %d never fired", i ? ";" : "",
                            labels[i], zero);
    }
    if (len < (int)sizeof caption) snprintf(caption + len, sizeof caption - (size_t)len, ".");
    PlotOpts po = {.title = "Feature density histogram", .xlabel = "log10(density)", .ylabel = "latents"};
    Buf svg = {0};
    int rc = plot_line(&svg, &po, s, n < 3 ? n : 3) || save_fig(rep, dir, "density.svg", &svg, caption) ? -1 : 0;
    buf_free(&svg);
    return rc;
}

// |cos| between every true feature (rows) and the best-matching latent of every true feature
// (columns, in the same order): the diagonal is each feature's best match.
static int fig_heatmap(Report *rep, const char *dir, const FeatSet *fs, const Run *r) {
    const int F = fs->n_features, D = fs->d;
    float *m = malloc(sizeof(float) * (size_t)F * F);
    if (!m) return err_set("sae-toy: out of memory");
    for (int j = 0; j < F; j++) {
        const float *w = r->sae->W_dec + (size_t)r->best_idx[j] * D;
        double ww = 0;
        for (int d = 0; d < D; d++) ww += (double)w[d] * w[d];
        double inv = ww > 0 ? 1.0 / sqrt(ww) : 0.0;
        for (int i = 0; i < F; i++) {
            double c = 0;
            for (int d = 0; d < D; d++) c += (double)fs->dirs[(size_t)i * D + d] * w[d];
            m[(size_t)i * F + j] = (float)fabs(c * inv);
        }
    }
    char title[128], caption[512];
    snprintf(title, sizeof title, "|cos|: true features vs their best latents (lambda %.3g)", (double)r->lambda);
    snprintf(caption, sizeof caption,
             "Row i: true feature i; column j: the latent that best matches true feature j. A bright "
             "diagonal on a dark background means every feature has its own latent; the off-diagonal "
             "is the interference between random directions in %d dimensions.",
             D);
    PlotOpts po = {.title = title, .xlabel = "best latent of true feature j", .ylabel = "true feature i",
                   .width = 760, .height = 700};
    PlotHeatmap h = {.data = m, .rows = F, .cols = F, .scale = {.vmin = 0, .vmax = 1, .label = "|cos|"}};
    Buf svg = {0};
    int rc = plot_heatmap(&svg, &po, &h) || save_fig(rep, dir, "cos_heatmap.svg", &svg, caption) ? -1 : 0;
    buf_free(&svg);
    free(m);
    return rc;
}

static int fig_dead(Report *rep, const char *dir, const Run *no, const Run *yes) {
    PlotSeries s[2] = {
        {.x = no->curve_step, .y = no->curve_dead, .n = no->n_curve, .label = "no resampling"},
        {.x = yes->curve_step, .y = yes->curve_dead, .n = yes->n_curve, .label = "resampling"},
    };
    char title[128];
    snprintf(title, sizeof title, "Dead latents during training (%d latents)", no->L);
    PlotOpts po = {.title = title, .xlabel = "step", .ylabel = "fraction dead (window)"};
    Buf svg = {0};
    int rc = plot_line(&svg, &po, s, 2) ||
                     save_fig(rep, dir, "dead_over_training.svg", &svg,
                              "Share of latents that did not fire during the trainer's dead window, "
                              "with and without resampling.")
                 ? -1
                 : 0;
    buf_free(&svg);
    return rc;
}

// ---- the run ----------------------------------------------------------------------------------

// A run's metrics as the last 7 cells of a table row: MMCS, cos>=0.9, L0, FVU, dead,
// density<1e-4, resampled.
static void metric_cells(char (*c)[32], const Run *r) {
    report_num(c[0], 32, r->mmcs, 4);
    report_num(c[1], 32, r->share, 3);
    report_num(c[2], 32, r->l0, 4);
    report_num(c[3], 32, r->fvu, 4);
    report_num(c[4], 32, r->dead, 3);
    report_num(c[5], 32, r->low, 3);
    snprintf(c[6], 32, "%ld", r->resampled);
}

static void table_row_run(Report *rep, const Run *r, const char *what) {
    char c[9][32];
    snprintf(c[0], 32, "%s", what);
    report_num(c[1], 32, r->lambda, 4);
    metric_cells(c + 2, r);
    report_table_row(rep, (const char *[]){c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]});
}

static void summary_run(Buf *b, const Run *r) {
    buf_puts(b, "{\"lambda\": ");
    json_put_double(b, r->lambda);
    buf_printf(b, ", \"topk\": %d, \"latents\": %d, \"mmcs\": ", r->k, r->L);
    json_put_double(b, r->mmcs);
    buf_puts(b, ", \"share_cos_ge_0.9\": ");
    json_put_double(b, r->share);
    buf_puts(b, ", \"l0\": ");
    json_put_double(b, r->l0);
    buf_puts(b, ", \"fvu\": ");
    json_put_double(b, r->fvu);
    buf_puts(b, ", \"mse\": ");
    json_put_double(b, r->mse);
    buf_puts(b, ", \"dead_frac\": ");
    json_put_double(b, r->dead);
    buf_puts(b, ", \"low_density_frac\": ");
    json_put_double(b, r->low);
    buf_printf(b, ", \"resampled\": %ld, \"seconds\": ", r->resampled);
    json_put_double(b, r->seconds);
    buf_puts(b, "}");
}

// Index of the grid value within 2 % of target, or -1.
static int find_lambda(const ToyOpts *o, double target) {
    for (int i = 0; i < o->n_lambdas; i++)
        if (fabs(o->lambdas[i] / target - 1.0) < 0.02) return i;
    return -1;
}

static int experiment(const ToyOpts *o) {
    double t_start = timer_now();
    if (fileio_mkdirs(o->out)) return cli_fail_err();
    FeatSet *fs = feat_create(o->features, o->dims, o->active / o->features, o->seed);
    if (!fs) return cli_fail_err();
    float *x = malloc(sizeof(float) * o->samples * (size_t)o->dims);
    float *xe = malloc(sizeof(float) * o->eval * (size_t)o->dims);
    Run runs[MAX_LAMBDAS], big[2], tk[3][2];  // tk[size][without, with resampling]
    memset(runs, 0, sizeof runs);
    memset(big, 0, sizeof big);
    memset(tk, 0, sizeof tk);
    int tk_size[3], n_tk = 0;  // TopK comparison: 1x, 2x the truth and big_dict, ascending, unique
    if (o->big_dict > 0) {
        const int want[3] = {o->features, 2 * o->features, o->big_dict};
        for (int i = 0; i < 3; i++)
            if (want[i] <= o->big_dict && (n_tk == 0 || want[i] > tk_size[n_tk - 1])) tk_size[n_tk++] = want[i];
    }
    Report *rep = report_create("Sparse autoencoders recover features from superposition");
    Summary sum;
    summary_init(&sum, "sae-toy", REPRODUCES);
    Buf tmp = {0};
    int rc = EXIT_FAIL;
    if (!x || !xe || !rep) {
        err_set("sae-toy: out of memory");
        goto fail;
    }
    Rng rng;
    rng_seed(&rng, o->seed + 1);
    if (feat_sample(fs, &rng, x, NULL, o->samples) || feat_sample(fs, &rng, xe, NULL, o->eval)) goto fail;

    printf("sae-toy: %d features in %d dims, %.3g active per sample; %zu training samples, %ld steps of %d\n",
           o->features, o->dims, o->active, o->samples, o->steps, o->batch);
    printf("lambda sweep, %d latents:\n", o->dict);
    for (int i = 0; i < o->n_lambdas; i++)
        if (train_run(o, fs, x, xe, o->dict, o->lambdas[i], 0, 0, &runs[i])) goto fail;
    int b = 0;
    for (int i = 1; i < o->n_lambdas; i++)
        if (runs[i].mmcs > runs[b].mmcs) b = i;
    const Run *best = &runs[b];
    char path[4096];
    snprintf(path, sizeof path, "%s/sae-best", o->out);
    if (sae_save_saelens(path, best->sae, best->lambda)) goto fail;

    int have_big = o->big_dict > 0;
    if (have_big) {
        printf("resampling comparison, %d latents, lambda %.4g:\n", o->big_dict, (double)best->lambda);
        if (train_run(o, fs, x, xe, o->big_dict, best->lambda, 0, 0, &big[0]) ||
            train_run(o, fs, x, xe, o->big_dict, best->lambda, 0, 1, &big[1]))
            goto fail;
        printf("resampling comparison, TopK k %d without AuxK, by dictionary size:\n", o->topk);
        for (int i = 0; i < n_tk; i++)
            if (train_run(o, fs, x, xe, tk_size[i], 0, o->topk, 0, &tk[i][0]) ||
                train_run(o, fs, x, xe, tk_size[i], 0, o->topk, 1, &tk[i][1]))
                goto fail;
    }

    // ---- checks ----
    printf("checks:\n");
    char pub[256];
    summary_check(&sum, "MMCS at the best lambda >= 0.95", best->mmcs,
                  "MMCS close to 1 at a well-chosen lambda (Sharkey et al. 2022)", best->mmcs >= 0.95);
    summary_check(&sum, "share of true features with cos >= 0.9 at the best lambda >= 0.9", best->share,
                  "nearly every feature recovered at the right lambda (Sharkey et al. 2022)", best->share >= 0.9);
    summary_check(&sum, "L0 at the best lambda <= 20", best->l0,
                  "sparse codes: about as many active latents as active features", best->l0 <= 20);
    int lo = find_lambda(o, best->lambda / 10), hi = find_lambda(o, best->lambda * 10);
    if (lo >= 0) {
        snprintf(pub, sizeof pub, "MMCS falls when lambda is too small (Sharkey et al. 2022); best %.4f", best->mmcs);
        summary_check(&sum, "MMCS at lambda/10 at least 0.02 below the best", runs[lo].mmcs, pub,
                      runs[lo].mmcs <= best->mmcs - CLEARLY_LOWER);
    } else {
        printf("[n/a]  MMCS at lambda/10: lambda %.4g / 10 is not on the grid\n", (double)best->lambda);
    }
    if (hi >= 0) {
        snprintf(pub, sizeof pub, "MMCS falls when lambda is too large (Sharkey et al. 2022); best %.4f", best->mmcs);
        summary_check(&sum, "MMCS at 10 x lambda at least 0.02 below the best", runs[hi].mmcs, pub,
                      runs[hi].mmcs <= best->mmcs - CLEARLY_LOWER);
    } else {
        printf("[n/a]  MMCS at 10 x lambda: lambda %.4g x 10 is not on the grid\n", (double)best->lambda);
    }
    int l0_bad = 0, fvu_bad = 0;
    for (int i = 1; i < o->n_lambdas; i++) {
        l0_bad += !(runs[i].l0 < runs[i - 1].l0);
        fvu_bad += !(runs[i].fvu > runs[i - 1].fvu);
    }
    if (o->n_lambdas > 1) {
        summary_check(&sum, "steps up the lambda grid where L0 does not fall", l0_bad,
                      "0: a larger L1 penalty gives sparser codes", l0_bad == 0);
        summary_check(&sum, "steps up the lambda grid where FVU does not rise", fvu_bad,
                      "0: sparser codes reconstruct less of the variance", fvu_bad == 0);
    }
    if (have_big) {
        snprintf(pub, sizeof pub, "resampling lowers the dead fraction (Bricken et al. 2023); without: %.4f",
                 big[0].dead);
        char name[192];
        snprintf(name, sizeof name, "dead fraction with resampling below without, dictionary %.3gx the true features",
                 (double)o->big_dict / o->features);
        summary_check(&sum, name, big[1].dead, pub, big[1].dead < big[0].dead);
        const Run *t0 = &tk[n_tk - 1][0], *t1 = &tk[n_tk - 1][1];
        snprintf(pub, sizeof pub, "resampling lowers the dead fraction (Bricken et al. 2023); without: %.4f",
                 t0->dead);
        snprintf(name, sizeof name,
                 "dead fraction with resampling below without, TopK k %d without AuxK, dictionary %.3gx the true "
                 "features",
                 o->topk, (double)t0->L / o->features);
        summary_check(&sum, name, t1->dead, pub, t1->dead < t0->dead);
    }

    // ---- summary.json ----
    summary_int(&sum, "features", o->features);
    summary_int(&sum, "dims", o->dims);
    summary_num(&sum, "active_per_sample", o->active);
    summary_int(&sum, "dict", o->dict);
    summary_int(&sum, "big_dict", o->big_dict);
    summary_int(&sum, "steps", o->steps);
    summary_int(&sum, "batch", o->batch);
    summary_num(&sum, "lr", o->lr);
    summary_int(&sum, "seed", (long)o->seed);
    summary_num(&sum, "best_lambda", best->lambda);
    summary_num(&sum, "best_mmcs", best->mmcs);
    summary_num(&sum, "best_share_cos_ge_0.9", best->share);
    summary_num(&sum, "best_l0", best->l0);
    summary_num(&sum, "best_fvu", best->fvu);
    summary_num(&sum, "low_density_threshold", LOW_DENSITY);
    summary_int(&sum, "resample_every", o->resample_every);
    summary_int(&sum, "dead_window", o->dead_window);
    buf_puts(&tmp, "[");
    for (int i = 0; i < o->n_lambdas; i++) {
        if (i) buf_puts(&tmp, ", ");
        summary_run(&tmp, &runs[i]);
    }
    buf_puts(&tmp, "]");
    summary_json(&sum, "sweep", tmp.p);
    if (have_big) {
        buf_reset(&tmp);
        buf_puts(&tmp, "{\"without\": ");
        summary_run(&tmp, &big[0]);
        buf_puts(&tmp, ", \"with\": ");
        summary_run(&tmp, &big[1]);
        buf_puts(&tmp, "}");
        summary_json(&sum, "resampling", tmp.p);
        summary_num(&sum, "dead_frac_without_resampling", big[0].dead);
        summary_num(&sum, "dead_frac_with_resampling", big[1].dead);
        buf_reset(&tmp);
        buf_puts(&tmp, "[");
        for (int i = 0; i < n_tk; i++) {
            buf_printf(&tmp, "%s{\"latents\": %d, \"without\": ", i ? ", " : "", tk_size[i]);
            summary_run(&tmp, &tk[i][0]);
            buf_puts(&tmp, ", \"with\": ");
            summary_run(&tmp, &tk[i][1]);
            buf_puts(&tmp, "}");
        }
        buf_puts(&tmp, "]");
        summary_json(&sum, "resampling_topk", tmp.p);
        summary_int(&sum, "topk", o->topk);
    }
    double seconds = timer_now() - t_start;
    summary_num(&sum, "seconds", seconds);

    // ---- sweep.csv ----
    buf_reset(&tmp);
    buf_puts(&tmp, "latents,lambda,topk,resampling,mmcs,share_cos_ge_0.9,l0,fvu,mse,dead_frac,low_density_frac,"
                   "resampled,seconds\n");
    const int n_rows = o->n_lambdas + (have_big ? 2 + 2 * n_tk : 0);
    for (int i = 0; i < n_rows; i++) {
        const int j = i - o->n_lambdas - 2;  // index into the TopK runs
        const Run *r = i < o->n_lambdas ? &runs[i] : j < 0 ? &big[i - o->n_lambdas] : &tk[j / 2][j % 2];
        const int resampled = r == &big[1] || (j >= 0 && j % 2 == 1);
        buf_printf(&tmp, "%d,%.9g,%d,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%ld,%.3f\n", r->L, (double)r->lambda, r->k,
                   resampled, r->mmcs, r->share, r->l0, r->fvu, r->mse, r->dead, r->low, r->resampled, r->seconds);
    }
    snprintf(path, sizeof path, "%s/sweep.csv", o->out);
    if (tmp.oom || fileio_write_all(path, tmp.p, tmp.len)) goto fail;

    // ---- report.html ----
    report_paragraphf(rep,
                      "Data: %d random unit directions (the true features) in %d dimensions; each sample "
                      "activates every feature independently with probability %.4g (%.3g active on "
                      "average) with a coefficient uniform in [0, 1). SAEs: ReLU, L1 weighted by decoder "
                      "norms, Adam lr %.3g, %ld steps of %d samples from %zu training samples; metrics on "
                      "%zu held-out samples.",
                      o->features, o->dims, o->active / o->features, o->active, o->lr, o->steps, o->batch,
                      o->samples, o->eval);
    report_paragraph(rep,
                     "Published (Sharkey, Braun & Millidge 2022): with a dictionary at least as large as "
                     "the number of true features, the mean max cosine similarity (MMCS) between true "
                     "features and learned dictionary directions comes close to 1 at the right L1 "
                     "coefficient, and falls when the coefficient is too small (dense, mixed latents) or "
                     "too large (features merge, latents die). Resampling dead latents (Bricken et al. "
                     "2023) is meant to keep a large dictionary in use.");
    report_heading(rep, 2, "Checks");
    report_table_begin(rep, 4, (const char *[]){"check", "measured", "published", "pass"});
    {
        // one row per check, read back from what summary_check recorded
        JsonDoc doc = {0};
        Buf cj = {0};
        buf_puts(&cj, "[");
        if (sum.checks.len) buf_append(&cj, sum.checks.p, sum.checks.len);
        buf_puts(&cj, "]");
        if (!cj.oom && json_parse(&doc, cj.p, cj.len) == 0) {
            for (size_t i = 0; i < json_len(doc.root); i++) {
                const JsonValue *c = json_at(doc.root, i);
                double m = 0;
                int pass = 0;
                json_get_double(c, "measured", &m);
                json_get_bool(c, "pass", &pass);
                char mv[32];
                report_num(mv, sizeof mv, m, 4);
                report_table_row(rep, (const char *[]){json_str(json_get(c, "name")), mv,
                                                       json_str(json_get(c, "published")), pass ? "ok" : "MISS"});
            }
        }
        json_free(&doc);
        buf_free(&cj);
    }
    report_table_end(rep);

    report_heading(rep, 2, "Sweep over lambda");
    const char *hdr[9] = {"run", "lambda", "MMCS", "cos>=0.9", "L0", "FVU", "dead", "density<1e-4", "resampled"};
    report_table_begin(rep, 9, hdr);
    for (int i = 0; i < o->n_lambdas; i++) {
        char what[48];
        snprintf(what, sizeof what, "%d latents%s", runs[i].L, i == b ? " (best)" : "");
        table_row_run(rep, &runs[i], what);
    }
    if (have_big) {
        char what[48];
        snprintf(what, sizeof what, "%d latents", big[0].L);
        table_row_run(rep, &big[0], what);
        snprintf(what, sizeof what, "%d latents, resampling", big[1].L);
        table_row_run(rep, &big[1], what);
    }
    report_table_end(rep);

    float lam[MAX_LAMBDAS], mm[MAX_LAMBDAS], sh[MAX_LAMBDAS], l0[MAX_LAMBDAS], fvu[MAX_LAMBDAS];
    for (int i = 0; i < o->n_lambdas; i++) {
        lam[i] = runs[i].lambda;
        mm[i] = (float)runs[i].mmcs;
        sh[i] = (float)runs[i].share;
        l0[i] = (float)runs[i].l0;
        fvu[i] = (float)runs[i].fvu;
    }
    const int nl = o->n_lambdas;
    PlotSeries s_mm[2] = {{.x = lam, .y = mm, .n = nl, .label = "MMCS", .markers = 1},
                          {.x = lam, .y = sh, .n = nl, .label = "share with cos >= 0.9", .markers = 1, .dashed = 1}};
    PlotRefLine r_mm[2] = {{.at = 0.95, .label = "0.95"}, {.vertical = 1, .at = best->lambda, .label = "best"}};
    PlotSeries s_l0 = {.x = lam, .y = l0, .n = nl, .label = "L0", .markers = 1};
    PlotRefLine r_l0 = {.at = o->active, .label = "true mean active"};
    PlotSeries s_fvu = {.x = lam, .y = fvu, .n = nl, .label = "FVU", .markers = 1};
    if (fig_vs_lambda(rep, o->out, "mmcs.svg", "Feature recovery against lambda", "MMCS / share", s_mm, 2, r_mm, 2,
                      0, "MMCS (solid) and the share of true features whose best latent has cos >= 0.9 (dashed).") ||
        fig_vs_lambda(rep, o->out, "l0.svg", "L0 against lambda", "active latents per sample", &s_l0, 1, &r_l0, 1,
                      1, "Mean number of active latents per sample; the dashed line is the true mean number of active features.") ||
        fig_vs_lambda(rep, o->out, "fvu.svg", "FVU against lambda", "fraction of variance unexplained", &s_fvu, 1,
                      NULL, 0, 1, "Fraction of variance unexplained on the held-out set."))
        goto fail;

    report_heading(rep, 2, "The best dictionary");
    report_paragraphf(rep, "lambda %.4g: MMCS %.4f, %.1f %% of true features with cos >= 0.9, L0 %.2f, FVU %.4f.",
                      (double)best->lambda, best->mmcs, 100 * best->share, best->l0, best->fvu);
    if (fig_heatmap(rep, o->out, fs, best)) goto fail;

    report_heading(rep, 2, "Dead latents and resampling");
    const Run *hist_runs[3] = {best, &big[0], &big[1]};
    char lab[3][64];
    snprintf(lab[0], 64, "%d latents", best->L);
    snprintf(lab[1], 64, "%d latents", big[0].L);
    snprintf(lab[2], 64, "%d latents, resampling", big[1].L);
    const char *labels[3] = {lab[0], lab[1], lab[2]};
    if (have_big) {
        report_paragraphf(rep,
                          "Dictionary of %d latents (%.0fx the %d true features) at lambda %.4g. Resampling: "
                          "every %ld steps until 3/4 of training; dead = silent for the last %ld training "
                          "samples (by default half the resampling period, the proportions of Bricken et al. "
                          "2023); inputs drawn in proportion to their squared reconstruction loss, encoder "
                          "norm 0.2 x the mean alive norm, b_enc 0, Adam moments reset. Dead fraction on the "
                          "held-out set (never fired on %zu samples): %.4f without resampling, %.4f with "
                          "(%ld latents resampled); density < 1e-4: %.4f without, %.4f with.",
                          big[0].L, (double)big[0].L / o->features, o->features, (double)best->lambda,
                          o->resample_every, o->dead_window, o->eval, big[0].dead, big[1].dead,
                          big[1].resampled, big[0].low, big[1].low);
        if (fig_dead(rep, o->out, &big[0], &big[1])) goto fail;

        report_heading(rep, 3, "Resampling against dictionary size");
        report_paragraphf(rep,
                          "TopK SAEs keeping k = %d latents per sample, with no AuxK loss, so a latent that "
                          "stops reaching the top k gets no gradient and only resampling can bring it back. "
                          "Same resampling schedule and dead window as above; dictionaries of 1x, 2x and "
                          "%.3gx the %d true features. A resampled latent stays alive only if it finds "
                          "something the other latents do not already represent: with more latents than "
                          "true features, some must end up duplicated or unused.",
                          o->topk, (double)o->big_dict / o->features, o->features);
        const char *th[10] = {"latents", "x truth", "resampling", "MMCS", "cos>=0.9", "L0", "FVU", "dead",
                              "density<1e-4", "resampled"};
        report_table_begin(rep, 10, th);
        float xs[3], dead0[3], dead1[3];
        for (int i = 0; i < n_tk; i++) {
            xs[i] = (float)tk_size[i];
            dead0[i] = (float)tk[i][0].dead;
            dead1[i] = (float)tk[i][1].dead;
            for (int w = 0; w < 2; w++) {
                const Run *r = &tk[i][w];
                char c[10][32];
                snprintf(c[0], 32, "%d", r->L);
                report_num(c[1], 32, (double)r->L / o->features, 3);
                snprintf(c[2], 32, "%s", w ? "yes" : "no");
                metric_cells(c + 3, r);
                report_table_row(rep, (const char *[]){c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]});
            }
        }
        report_table_end(rep);
        PlotSeries s_d[2] = {{.x = xs, .y = dead0, .n = n_tk, .label = "no resampling", .markers = 1},
                             {.x = xs, .y = dead1, .n = n_tk, .label = "resampling", .markers = 1, .dashed = 1}};
        PlotRefLine r_d = {.vertical = 1, .at = o->features, .label = "true features"};
        char title[128];
        snprintf(title, sizeof title, "Dead latents against dictionary size (TopK k %d, no AuxK)", o->topk);
        PlotOpts po = {.title = title, .xlabel = "latents", .ylabel = "fraction dead (held-out)", .log_x = 1,
                       .refs = &r_d, .n_refs = 1};
        Buf svg = {0};
        int frc = plot_line(&svg, &po, s_d, 2) ||
                  save_fig(rep, o->out, "dead_vs_dict.svg", &svg,
                           "Share of latents that never fired on the held-out set at the end of training, "
                           "with and without resampling; the vertical line is the number of true features.");
        buf_free(&svg);
        if (frc) goto fail;
    }
    if (fig_density(rep, o->out, hist_runs, labels, have_big ? 3 : 1)) goto fail;

    report_heading(rep, 2, "Files");
    report_link(rep, "summary.json", "summary.json: every number and check");
    report_link(rep, "sweep.csv", "sweep.csv: one row per SAE");
    report_link(rep, "sae-best/cfg.json", "sae-best/: the best SAE as a SAELens folder (SAE.load_from_disk)");
    report_paragraphf(rep, "Wall time %.1f s.", seconds);
    snprintf(path, sizeof path, "%s/report.html", o->out);
    if (report_save(rep, path)) goto fail;
    snprintf(path, sizeof path, "%s/summary.json", o->out);
    if (summary_save(&sum, path)) goto fail;
    printf("wrote %s/report.html (%.1f s)\n", o->out, seconds);
    // A miss is a result, not a failure: it is in the [MISS] lines and summary.json.
    rc = EXIT_OK;
    goto done;
fail:
    rc = cli_fail_err();
done:
    for (int i = 0; i < MAX_LAMBDAS; i++) run_free(&runs[i]);
    run_free(&big[0]);
    run_free(&big[1]);
    for (int i = 0; i < 3; i++) {
        run_free(&tk[i][0]);
        run_free(&tk[i][1]);
    }
    buf_free(&tmp);
    summary_free(&sum);
    report_free(rep);
    free(x);
    free(xe);
    feat_free(fs);
    return rc;
}

int run_sae_toy(int argc, char **argv) {
    ToyOpts o = {.features = 128, .dims = 64, .dict = 0, .big_dict = -1, .batch = 256, .steps = 4000,
                 .samples = 65536, .eval = 65536, .active = 5, .lr = 3e-3, .seed = 1, .out = "runs/sae-toy"};
    parse_lambdas("0.01,0.0316,0.1,0.316,1,3.16", &o);
    enum { O_OUT = 1, O_SEED, O_STEPS, O_BATCH, O_LR, O_LAMBDAS, O_FEATURES, O_DIMS, O_ACTIVE, O_DICT, O_BIG,
           O_SAMPLES, O_EVAL, O_THREADS, O_RESAMPLE, O_WINDOW, O_TOPK };
    static const struct option opts[] = {
        {"out", required_argument, 0, O_OUT},         {"seed", required_argument, 0, O_SEED},
        {"steps", required_argument, 0, O_STEPS},     {"batch", required_argument, 0, O_BATCH},
        {"lr", required_argument, 0, O_LR},           {"lambdas", required_argument, 0, O_LAMBDAS},
        {"features", required_argument, 0, O_FEATURES}, {"dims", required_argument, 0, O_DIMS},
        {"active", required_argument, 0, O_ACTIVE},   {"dict", required_argument, 0, O_DICT},
        {"big-dict", required_argument, 0, O_BIG},    {"samples", required_argument, 0, O_SAMPLES},
        {"eval", required_argument, 0, O_EVAL},       {"threads", required_argument, 0, O_THREADS},
        {"resample-every", required_argument, 0, O_RESAMPLE}, {"dead-window", required_argument, 0, O_WINDOW},
        {"topk", required_argument, 0, O_TOPK},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    long v;
    double d;
    optind = 0;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, ":h", opts, NULL);
        if (c == -1) break;
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case O_OUT: o.out = optarg; break;
        case O_SEED:
            if (cli_int(VERB, "--seed", optarg, 0, 0x7fffffffL, &v)) return EXIT_USAGE;
            o.seed = (uint64_t)v;
            break;
        case O_STEPS:
            if (cli_int(VERB, "--steps", optarg, 1, 100000000L, &v)) return EXIT_USAGE;
            o.steps = v;
            break;
        case O_BATCH:
            if (cli_int(VERB, "--batch", optarg, 1, 1 << 16, &v)) return EXIT_USAGE;
            o.batch = (int)v;
            break;
        case O_LR:
            if (cli_float(VERB, "--lr", optarg, &d)) return EXIT_USAGE;
            if (!(d > 0) || !isfinite(d)) return cli_usage(VERB, "--lr: %s must be > 0", optarg);
            o.lr = d;
            break;
        case O_LAMBDAS:
            if (parse_lambdas(optarg, &o)) return EXIT_USAGE;
            break;
        case O_FEATURES:
            if (cli_int(VERB, "--features", optarg, 1, 1 << 16, &v)) return EXIT_USAGE;
            o.features = (int)v;
            break;
        case O_DIMS:
            if (cli_int(VERB, "--dims", optarg, 1, 1 << 16, &v)) return EXIT_USAGE;
            o.dims = (int)v;
            break;
        case O_ACTIVE:
            if (cli_float(VERB, "--active", optarg, &d)) return EXIT_USAGE;
            o.active = d;
            break;
        case O_DICT:
            if (cli_int(VERB, "--dict", optarg, 1, 1 << 20, &v)) return EXIT_USAGE;
            o.dict = (int)v;
            break;
        case O_BIG:
            if (cli_int(VERB, "--big-dict", optarg, 0, 1 << 20, &v)) return EXIT_USAGE;
            o.big_dict = (int)v;
            break;
        case O_SAMPLES:
            if (cli_int(VERB, "--samples", optarg, 1, 1L << 30, &v)) return EXIT_USAGE;
            o.samples = (size_t)v;
            break;
        case O_EVAL:
            if (cli_int(VERB, "--eval", optarg, 1, 1L << 30, &v)) return EXIT_USAGE;
            o.eval = (size_t)v;
            break;
        case O_THREADS:
            if (cli_int(VERB, "--threads", optarg, 1, 1024, &v)) return EXIT_USAGE;
            if (pool_set_threads((int)v)) return cli_fail_err();
            break;
        case O_RESAMPLE:
            if (cli_int(VERB, "--resample-every", optarg, 1, 100000000L, &v)) return EXIT_USAGE;
            o.resample_every = v;
            break;
        case O_WINDOW:
            if (cli_int(VERB, "--dead-window", optarg, 1, 0x7fffffffL, &v)) return EXIT_USAGE;
            o.dead_window = v;
            break;
        case O_TOPK:
            if (cli_int(VERB, "--topk", optarg, 1, 1 << 20, &v)) return EXIT_USAGE;
            o.topk = (int)v;
            break;
        case ':': return cli_usage(VERB, "%s needs a value", argv[optind - 1]);
        default: return cli_usage(VERB, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage(VERB, "unexpected argument '%s'", argv[optind]);
    if (!(o.active > 0 && o.active <= o.features))
        return cli_usage(VERB, "--active: %g must be in (0, features = %d]", o.active, o.features);
    if (o.dict == 0) o.dict = 2 * o.features;
    if (o.topk == 0) o.topk = o.active < 1 ? 1 : (int)lround(o.active);
    if (o.big_dict < 0) o.big_dict = 8 * o.features;
    if (o.resample_every == 0) o.resample_every = o.steps / 8 > 0 ? o.steps / 8 : 1;
    if (o.dead_window == 0) o.dead_window = (o.resample_every / 2 > 0 ? o.resample_every / 2 : 1) * (long)o.batch;
    if (o.samples < (size_t)o.batch)
        return cli_usage(VERB, "--samples %zu is smaller than one batch of %d", o.samples, o.batch);
    if (o.dict > 1 << 20 || o.big_dict > 1 << 20) return cli_usage(VERB, "dictionary too large");
    return experiment(&o);
}
