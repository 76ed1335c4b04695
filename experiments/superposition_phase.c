// The n = 2, m = 1 phase diagram of Toy Models of Superposition (Elhage et al. 2022, "Phase
// Change"): one hidden dimension, two features; feature 1 has importance 1, feature 2 a
// relative importance r (importance [1, r]: the setting's decay is r); both have density p.
// Each (p, r) cell ends in one of three phases, read off the best of R replicas:
//
//   feature 2 not represented   ‖W_2‖ <= 0.5                  (r small: feature 1 wins)
//   dedicated dimension          ‖W_2‖ > 0.5 and ‖W_1‖ <= 0.5  (feature 2 has the dimension)
//   superposition                ‖W_1‖, ‖W_2‖ > 0.5 and ‖W‖_F² > 1.5
//                                (two features in one dimension: the antipodal pair W_1 ≈ −W_2,
//                                whose interference the ReLU and a negative bias filter out)
//   one mixed direction          ‖W_1‖, ‖W_2‖ > 0.5 and ‖W‖_F² <= 1.5
//                                (a single unit direction that reads both features at once)
//
// with 0.5 the represented threshold of interp/superposition.h. Superposition means more
// features than dimensions, and ‖W‖_F² counts the features represented (the paper's measure; 2
// for an antipodal pair). The fourth class exists because of the dense cell at r = 1: there the
// two features are interchangeable, every unit W = (cos θ, sin θ) reconstructs equally well
// (the linear optimum is degenerate), and training lands anywhere on that circle — e.g.
// (0.79, −0.62), ‖W‖_F² = 1.00. A first version called every cell with both norms above 0.5
// superposition and so counted that cell as one; it is one direction shared, not two features
// in one dimension. 1.5 is the midpoint between the two cases (1 and 2), not fitted to the runs.
// Published: no superposition when the features are dense (p = 1), superposition everywhere at
// p = 0.01, and the superposition region widening as p falls.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/plot.h"
#include "interp/superposition.h"
#include "superposition_internal.h"

enum { ND = 7, NR = 9, NS = ND * NR };  // densities 1 .. 0.01, 3 per decade; r 0.1 .. 10, 4 per decade
enum { PH_NONE = 0, PH_DEDICATED = 1, PH_SUPER = 2, PH_MIXED = 3, N_PHASES = 4 };
static const char *const PHASE_NAMES[N_PHASES] = {"feature 2 not represented", "dedicated dimension",
                                                  "superposition", "one mixed direction"};
// ‖W‖_F² above which the one dimension holds more than one feature (between 1 and 2).
#define SUPER_FROB2 1.5

static int classify(const float *W) {  // W [2, 1]
    double w1 = fabs(W[0]), w2 = fabs(W[1]);
    if (w2 <= SUPERPOS_REPRESENTED) return PH_NONE;
    if (w1 <= SUPERPOS_REPRESENTED) return PH_DEDICATED;
    return w1 * w1 + w2 * w2 > SUPER_FROB2 ? PH_SUPER : PH_MIXED;
}

int sup_phase(SupCtx *c) {
    float prob[NS], decay[NS];
    double dens[ND], rel[NR];
    for (int d = 0; d < ND; d++) dens[d] = pow(10.0, -2.0 * d / (ND - 1));
    for (int j = 0; j < NR; j++) rel[j] = pow(10.0, (j - (NR - 1) / 2.0) / ((NR - 1) / 2.0));
    for (int d = 0; d < ND; d++)
        for (int j = 0; j < NR; j++) prob[d * NR + j] = (float)dens[d], decay[d * NR + j] = (float)rel[j];
    ToyTrainSpec sp = toytrain_defaults(0, NULL);
    sp.n_features = 2;
    sp.n_hidden = 1;
    sp.n_settings = NS;
    sp.replicas = c->replicas;
    sp.prob = prob;
    sp.decay = decay;
    ToyTrainer *t = sup_train(c, "phase", &sp, 10000);
    if (!t) return -1;
    int phase[NS];
    for (int s = 0; s < NS; s++) phase[s] = classify(toytrain_W(t, t->best[s]));

    report_heading(c->rep, 2, "Phase diagram: n = 2, m = 1");
    report_paragraphf(c->rep,
        "Two features, one hidden dimension. Feature 1 has importance 1, feature 2 a relative "
        "importance r from 0.1 to 10; both are present with probability (density) 1 − S from 1 "
        "to 0.01; %d × %d cells × %d instances, %ld steps (phase/). A cell is classified by its "
        "best instance: feature 2 not represented when ‖W_2‖ ≤ 0.5; a dedicated dimension when "
        "‖W_2‖ > 0.5 and ‖W_1‖ ≤ 0.5; superposition when both exceed 0.5 and ‖W‖_F² > 1.5, i.e. "
        "the one dimension holds two features (an antipodal pair, ‖W‖_F² ≈ 2); one mixed "
        "direction when both exceed 0.5 but ‖W‖_F² ≤ 1.5 (a single unit direction reading both "
        "features). The column r = 1 lies on the dense phase boundary: there the two features "
        "are interchangeable, every unit W = (cos θ, sin θ) reconstructs dense features equally "
        "well, and which one a run ends at is decided by differences in held-out loss of a few "
        "1e-4.",
        ND, NR, c->replicas, t->spec.train.steps);
    int nsup[ND];
    for (int d = 0; d < ND; d++) {
        nsup[d] = 0;
        for (int j = 0; j < NR; j++) nsup[d] += phase[d * NR + j] == PH_SUPER;
    }
    char mt[200], list[100] = "";
    for (int d = 0; d < ND; d++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", d ? " " : "", nsup[d]);
    snprintf(mt, sizeof mt, "%d of %d", nsup[0], NR);
    sup_check(c, "n=2 m=1: superposition cells at density 1", nsup[0], mt, "0 (no superposition)",
              nsup[0] == 0);
    snprintf(mt, sizeof mt, "%d of %d", NR - nsup[ND - 1], NR);
    sup_check(c, "n=2 m=1: cells not in superposition at density 0.01", NR - nsup[ND - 1], mt,
              "0 (superposition everywhere)", nsup[ND - 1] == NR);
    int fall = 0;
    for (int d = 1; d < ND; d++)
        if (nsup[d] < nsup[d - 1] && nsup[d - 1] - nsup[d] > fall) fall = nsup[d - 1] - nsup[d];
    snprintf(mt, sizeof mt, "%d (superposition cells per density, 1 → 0.01: %s)", fall, list);
    sup_check(c, "n=2 m=1: largest narrowing of the superposition region as density falls", fall,
              mt, "0, and wider at 0.01 than at 1 (the region widens)",
              fall == 0 && nsup[ND - 1] > nsup[0]);
    sup_flush_checks(c);

    // The grid as a table: rows r from 10 (top) to 0.1, columns density 1 → 0.01.
    report_heading(c->rep, 3, "Phases (N: feature 2 not represented, D: dedicated, S: superposition, "
                              "M: one mixed direction)");
    const char *head[ND + 1];
    char hb[ND + 1][32];
    snprintf(hb[0], 32, "r \\ 1 − S");
    for (int d = 0; d < ND; d++) snprintf(hb[d + 1], 32, "%.3g", dens[d]);
    for (int d = 0; d <= ND; d++) head[d] = hb[d];
    report_table_begin(c->rep, ND + 1, head);
    for (int j = NR - 1; j >= 0; j--) {
        char cb[ND + 1][32];
        const char *row[ND + 1];
        snprintf(cb[0], 32, "%.3g", rel[j]);
        for (int d = 0; d < ND; d++) {
            const float *W = toytrain_W(t, t->best[d * NR + j]);
            snprintf(cb[d + 1], 32, "%c  (%.2f, %.2f)", "NDSM"[phase[d * NR + j]], W[0], W[1]);
        }
        for (int d = 0; d <= ND; d++) row[d] = cb[d];
        report_table_row(c->rep, row);
    }
    report_table_end(c->rep);
    report_paragraph(c->rep, "Each cell: the phase and the best instance's (W_1, W_2).");

    float x[NS], y[NS];
    for (int s = 0; s < NS; s++) x[s] = prob[s], y[s] = decay[s];
    PlotOpts o = {.title = "n = 2, m = 1: phase of feature 2", .xlabel = "feature density 1 − S",
                  .ylabel = "relative importance of feature 2", .log_x = 1, .log_y = 1,
                  .legend = PLOT_LEGEND_OUTSIDE, .width = 760, .height = 440};
    PlotScatter sc = {.x = x, .y = y, .n = NS, .category = phase,
                      .category_names = PHASE_NAMES, .n_categories = N_PHASES, .radius = 9};
    Buf svg = {0};
    int rc = plot_scatter(&svg, &o, &sc) ||
                     sup_figure(c, "phase/phase_diagram.svg", &svg,
                                "Which phase each (density, relative importance) cell ends in. "
                                "Dense features: the more important one gets the dimension; "
                                "sparse features: both share it in superposition.")
                 ? -1 : 0;
    buf_free(&svg);

    Buf js = {0};
    buf_puts(&js, "[");
    for (int s = 0; s < NS; s++) {
        const float *W = toytrain_W(t, t->best[s]);
        buf_printf(&js, "%s{\"density\": %.9g, \"relative_importance\": %.9g, \"phase\": \"%s\", "
                        "\"W\": [%.6g, %.6g]}",
                   s ? ", " : "", prob[s], decay[s], PHASE_NAMES[phase[s]], W[0], W[1]);
    }
    buf_puts(&js, "]");
    summary_json(&c->sum, "phase", js.oom ? "null" : js.p);
    buf_free(&js);
    toytrain_free(t);
    return rc;
}
