// Orientation tuning: the selectivity index on curves with closed forms, and the tuning curves
// of hand-built line detectors peaking at the orientations they were built for.
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "interp/tuning.h"
#include "model/err.h"

TestSuite(tuning);

#define PI 3.14159265358979323846

Test(tuning, osi_closed_forms) {
    enum { N = 36 };
    float r[N];
    double osi, pref;
    for (int k = 0; k < N; k++) r[k] = 2.5f;
    tuning_osi(r, N, PI, &osi, &pref);
    cr_assert(osi < 1e-6, "flat: %g", osi);
    memset(r, 0, sizeof r);
    r[9] = 3;  // 45°
    tuning_osi(r, N, PI, &osi, &pref);
    cr_assert_float_eq(osi, 1.0, 1e-6);
    cr_assert_float_eq(pref, PI / 4, 1e-6);
    // 1 + a·cos 2(θ − θ0): OSI = a/2, preferred θ0 (θ0 = 130°, not on the grid)
    double a = 0.6, th0 = 130 * PI / 180;
    for (int k = 0; k < N; k++) r[k] = (float)(1 + a * cos(2 * (k * PI / N - th0)));
    tuning_osi(r, N, PI, &osi, &pref);
    cr_assert_float_eq(osi, a / 2, 1e-6);
    cr_assert_float_eq(pref, th0, 1e-5);
    // negative responses count as 0: a half-wave rectified cos 2(θ − θ0) has OSI π/4 (continuum)
    for (int k = 0; k < N; k++) r[k] = (float)cos(2 * (k * PI / N - th0));
    tuning_osi(r, N, PI, &osi, &pref);
    cr_assert_float_eq(osi, PI / 4, 0.01);
    // period 2π (curves): one spike at 300°
    memset(r, 0, sizeof r);
    r[30] = 1;
    tuning_osi(r, N, 2 * PI, &osi, &pref);
    cr_assert_float_eq(pref, 300 * PI / 180, 1e-6);
    memset(r, 0, sizeof r);
    tuning_osi(r, N, PI, &osi, &pref);
    cr_assert_eq(osi, 0.0, "a silent unit has OSI 0");
    cr_assert_float_eq(tuning_angle_diff(10 * PI / 180, 170 * PI / 180, PI), 20 * PI / 180, 1e-12);
    cr_assert_float_eq(tuning_angle_diff(0.3, 0.3 + PI, PI), 0.0, 1e-12);
    cr_assert_float_eq(tuning_angle_diff(0.1, 0.1 + PI, 2 * PI), PI, 1e-12);
}

// conv5x5:2, relu on 16×16 images; channel c detects a bright line at orientation th[c]: +1 on
// the line through the kernel centre falling off as a Gaussian of its distance (σ 0.7 pixel)
// to −0.5 beside it, bias −0.5.
Test(tuning, line_detectors_peak_at_their_orientation) {
    double th[2] = {30 * PI / 180, 120 * PI / 180};
    Cnn *m = cnn_create("conv5x5:2,relu", 1, 16, 16, 16);
    cr_assert_not_null(m, "%s", err_msg());
    float *w = params_data(&m->params, "layers.0.W"), *b = params_data(&m->params, "layers.0.b");
    for (int c = 0; c < 2; c++) {
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++) {
                double u = j - 2, v = 2 - i, d = fabs(-u * sin(th[c]) + v * cos(th[c]));
                w[(c * 5 + i) * 5 + j] = (float)(1.5 * exp(-d * d / 0.98) - 0.5);
            }
        b[c] = -0.5f;
    }
    TuneConfig tc = tuning_defaults(16);
    float resp[2 * 36];
    cr_assert_eq(tuning_curves(m, "layers.1.hook_out", &tc, resp), 0, "%s", err_msg());
    for (int c = 0; c < 2; c++) {
        double osi, pref;
        tuning_osi(resp + c * 36, 36, PI, &osi, &pref);
        double d = tuning_angle_diff(pref, th[c], PI);
        cr_assert(d < 5 * PI / 180, "channel %d built for %.0f°, prefers %.1f°", c, th[c] * 180 / PI,
                  pref * 180 / PI);
        cr_assert(osi > 0.3, "channel %d: OSI %g", c, osi);
        // the response at the preferred grid angle beats the orthogonal one
        int k = (int)lround(th[c] / (PI / 36)) % 36;
        cr_assert(resp[c * 36 + k] > 2 * resp[c * 36 + (k + 18) % 36]);
    }
    // The stimuli are fed as (pixel − mean)/std: before the ReLU the map mean is linear in the
    // input, so std 2 halves the response minus the bias.
    float pre1[2 * 36], pre2[2 * 36];
    TuneConfig tn = tc;
    tn.std = 2.0f;
    cr_assert_eq(tuning_curves(m, "layers.0.hook_out", &tc, pre1), 0);
    cr_assert_eq(tuning_curves(m, "layers.0.hook_out", &tn, pre2), 0);
    for (int i = 0; i < 72; i++) cr_assert_float_eq(pre2[i], (pre1[i] - b[i / 36]) / 2 + b[i / 36], 1e-5);
    // errors
    cr_assert_eq(tuning_curves(m, "layers.5.hook_out", &tc, resp), -1);
    cnn_free(m);
    m = cnn_create("conv3x3:2,linear:3", 1, 8, 8, 4);
    cr_assert_eq(tuning_curves(m, "layers.1.hook_out", &tc, resp), -1);
    cr_assert(strstr(err_msg(), "vector"), "%s", err_msg());
    cnn_free(m);
}
