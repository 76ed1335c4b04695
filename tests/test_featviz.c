// Feature visualisation: the TV penalty's gradient against finite differences; the real 2-D DFT
// against closed forms (one frequency, a constant), its round trip and its adjoint; the
// frequency scale; the structure-tensor orientation of rendered lines; and the optimisation
// itself — on a hand-built conv whose filter is a known oriented edge the visualisation is that
// filter (exactly without jitter and TV, still clearly with the defaults), and it raises the
// activation of a unit of a random deeper net from every seed.
#include <math.h>
#include <string.h>

#include "datasets/images.h"
#include "gradcheck.h"
#include "helpers.h"
#include "interp/featviz.h"
#include "model/err.h"
#include "model/fileio.h"

TestSuite(featviz);

#define PI 3.14159265358979323846

// ---- total variation ---------------------------------------------------------------------------

typedef struct {
    float *x;
    int H, W;
    float eps;
} TvCtx;

static int tv_loss(void *ctx, double *loss) {
    TvCtx *c = ctx;
    *loss = featviz_tv(c->x, c->H, c->W, c->eps, NULL);
    return 0;
}

Test(featviz, tv_gradient_matches_finite_differences) {
    int sizes[][2] = {{1, 5}, {4, 1}, {5, 7}, {8, 8}};
    for (int t = 0; t < 4; t++) {
        int H = sizes[t][0], W = sizes[t][1];
        float x[64], g[64] = {0};
        Rng r;
        rng_seed(&r, 40 + t);
        rng_fill_normal(&r, x, (size_t)H * W, 0, 1);
        TvCtx c = {x, H, W, 0.05f};
        featviz_tv(x, H, W, c.eps, g);
        GcOpts o = gc_defaults();
        o.step = 1e-3f;
        o.atol = 2e-3;
        o.rtol = 2e-3;
        assert_gradcheck("tv", tv_loss, &c, x, g, (size_t)H * W, &o);
    }
    // closed forms: a constant image has TV 0; a unit step between two columns costs one per row
    float flat[12], step[12];
    for (int i = 0; i < 12; i++) flat[i] = 3, step[i] = (i % 4) >= 2;
    cr_assert_float_eq(featviz_tv(flat, 3, 4, 0.01f, NULL), 0.0, 1e-12);
    double want = 3 * (sqrt(1 + 1e-4) - 0.01);
    cr_assert_float_eq(featviz_tv(step, 3, 4, 0.01f, NULL), want, 1e-6);
}

// ---- the DFT -----------------------------------------------------------------------------------

Test(featviz, irfft2_of_one_frequency_is_a_cosine) {
    int sizes[][2] = {{7, 6}, {8, 5}, {4, 4}};
    for (int t = 0; t < 3; t++) {
        int H = sizes[t][0], W = sizes[t][1], Wf = featviz_spec_cols(W);
        int freqs[][2] = {{0, 0}, {1, 0}, {2, 1}, {H - 1, Wf - 1}, {0, W / 2}};
        for (int f = 0; f < 5; f++) {
            int u0 = freqs[f][0], v0 = freqs[f][1];
            float spec[2 * 8 * 5] = {0}, x[64];
            float a = 0.7f, b = -1.3f;
            spec[(u0 * Wf + v0) * 2] = a;
            spec[(u0 * Wf + v0) * 2 + 1] = b;
            featviz_irfft2(x, spec, H, W);
            // v = 0 and the Nyquist column count once and keep only the real part's cosine
            // (numpy's c2r ignores their imaginary parts: sin(2πu0h/H) pairs do not cancel
            // for v0 = 0 only when u0 = 0, so check the formula as documented)
            double cv = (v0 == 0 || (W % 2 == 0 && v0 == W / 2)) ? 1 : 2, err = 0;
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++) {
                    double ph = 2 * PI * ((double)u0 * h / H + (double)v0 * w / W);
                    double want = cv / sqrt((double)H * W) * (a * cos(ph) - b * sin(ph));
                    err = fmax(err, fabs(x[h * W + w] - want));
                }
            cr_assert(err < 1e-5, "%dx%d frequency (%d,%d): max error %g", H, W, u0, v0, err);
        }
    }
}

Test(featviz, rfft2_round_trip_adjoint_and_constant) {
    int sizes[][2] = {{7, 6}, {8, 9}, {16, 16}, {1, 5}};
    for (int t = 0; t < 4; t++) {
        int H = sizes[t][0], W = sizes[t][1], Wf = featviz_spec_cols(W), P = H * Wf * 2;
        float x[256], back[256], spec[16 * 9 * 2], p[16 * 9 * 2], dp[16 * 9 * 2], g[256], Lp[256];
        Rng r;
        rng_seed(&r, 7 + t);
        rng_fill_normal(&r, x, (size_t)H * W, 0, 1);
        featviz_rfft2(spec, x, H, W);
        featviz_irfft2(back, spec, H, W);
        assert_allclose(back, x, (size_t)H * W, 1e-5, 0);
        // <L p, g> = <p, Lᵀ g> for random p and g
        rng_fill_normal(&r, p, (size_t)P, 0, 1);
        rng_fill_normal(&r, g, (size_t)H * W, 0, 1);
        featviz_irfft2(Lp, p, H, W);
        featviz_irfft2_adjoint(dp, g, H, W);
        double lhs = 0, rhs = 0;
        for (int i = 0; i < H * W; i++) lhs += (double)Lp[i] * g[i];
        for (int i = 0; i < P; i++) rhs += (double)p[i] * dp[i];
        cr_assert(fabs(lhs - rhs) <= 1e-5 * (fabs(lhs) + 1), "%dx%d: <Lp,g> %g vs <p,L'g> %g", H,
                  W, lhs, rhs);
        // a constant c has only the DC coefficient, c·sqrt(HW) (ortho)
        for (int i = 0; i < H * W; i++) x[i] = 2.5f;
        featviz_rfft2(spec, x, H, W);
        cr_assert_float_eq(spec[0], 2.5 * sqrt((double)H * W), 1e-4);
        for (int i = 1; i < P; i++) cr_assert(fabsf(spec[i]) < 1e-4f, "coefficient %d = %g", i, spec[i]);
    }
}

Test(featviz, frequency_scale_falls_as_one_over_f_with_unit_rms) {
    int H = 8, W = 8, Wf = featviz_spec_cols(W);
    float s[8 * 5];
    featviz_freq_scale(s, H, W, 1.0f);
    // S ∝ 1/f: (0, 2) is twice (0, 4); (1, 0) equals (7, 0) (fy folds); DC is clamped to f = 1/8,
    // the same as (1, 0)
    cr_assert_float_eq(s[0 * Wf + 2] / s[0 * Wf + 4], 2.0, 1e-5);
    cr_assert_float_eq(s[1 * Wf + 0], s[7 * Wf + 0], 1e-6);
    cr_assert_float_eq(s[0], s[1 * Wf + 0], 1e-6);
    double ss = 0;
    for (int u = 0; u < H; u++)
        for (int v = 0; v < Wf; v++) ss += (v == 0 || v == W / 2 ? 1 : 2) * s[u * Wf + v] * s[u * Wf + v];
    cr_assert_float_eq(ss / (H * W), 1.0, 1e-5);
    featviz_freq_scale(s, H, W, 0.0f);
    for (int i = 0; i < H * Wf; i++) cr_assert_float_eq(s[i], 1.0, 1e-6);
}

// ---- orientation -------------------------------------------------------------------------------

Test(featviz, orientation_of_rendered_lines_and_edges) {
    float img[24 * 24];
    for (int k = 0; k < 18; k++) {
        double th = k * PI / 18;
        ImgStim lines = {.kind = IMG_LINES, .theta = (float)th, .width = 2, .length = 16};
        ImgStim edge = {.kind = IMG_EDGES, .theta = (float)th, .polarity = k % 2 ? 1 : -1};
        ImgStim *st[2] = {&lines, &edge};
        for (int s = 0; s < 2; s++) {
            images_render(img, 24, 24, st[s]);
            double t, coh;
            featviz_orientation(img, 24, 24, &t, &coh);
            double d = fabs(t - th);
            if (d > PI / 2) d = PI - d;
            cr_assert(d < 2 * PI / 180, "%s at %.0f°: measured %.1f°", s ? "edge" : "line",
                      th * 180 / PI, t * 180 / PI);
            cr_assert(coh > 0.5, "coherence %g", coh);
        }
    }
    float flat[64] = {0};
    double t, coh;
    featviz_orientation(flat, 8, 8, &t, &coh);
    cr_assert_eq(coh, 0.0);
}

// ---- the optimisation ----------------------------------------------------------------------------

enum { S = 15, K = 5 };

// A conv5x5:1 with an edge filter: +1 on one side of a line through the kernel's centre at
// orientation th0 (images.h convention), −1 on the other, anti-aliased, zero mean.
static Cnn *edge_conv(double th0, float *filter) {
    Cnn *m = cnn_create("conv5x5:1", 1, S, S, 8);
    cr_assert_not_null(m, "%s", err_msg());
    float *w = params_data(&m->params, "layers.0.W");
    double mean = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double u = j - K / 2, v = K / 2 - i;
            double d = -u * sin(th0) + v * cos(th0);  // signed distance along the normal
            w[i * K + j] = (float)tanh(1.5 * d);
            mean += w[i * K + j] / (K * K);
        }
    for (int i = 0; i < K * K; i++) w[i] -= (float)mean;
    params_data(&m->params, "layers.0.b")[0] = 0.1f;
    // the centre unit (7, 7) sees rows and columns 5..9: the filter embedded there
    memset(filter, 0, sizeof(float) * S * S);
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) filter[(S / 2 - K / 2 + i) * S + S / 2 - K / 2 + j] = w[i * K + j];
    return m;
}

static double corr(const float *a, const float *b, int n) {
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) ma += a[i] / n, mb += b[i] / n;
    for (int i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / sqrt(saa * sbb);
}

Test(featviz, edge_filter_visualisation_is_the_filter) {
    double th0 = 30 * PI / 180;
    float filter[S * S], img[4 * S * S];
    Cnn *m = edge_conv(th0, filter);
    FvTarget t = {.point = "layers.0.hook_out", .channel = 0, .kind = FV_UNIT, .y = -1, .x = -1};
    // Without jitter and TV the maximiser of w·x + b − (l2/2)‖x‖² is w/l2 in the field, 0
    // outside: both parameterisations get there.
    for (int fourier = 0; fourier < 2; fourier++) {
        FvConfig c = featviz_defaults();
        c.fourier = fourier;
        c.jitter = 0;
        c.tv = 0;
        c.l2 = 1;
        c.n_seeds = 2;
        c.steps = 300;
        cr_assert_eq(featviz_run(m, &t, &c, img, NULL, NULL), 0, "%s", err_msg());
        for (int s = 0; s < 2; s++) {
            double r = corr(img + s * S * S, filter, S * S);
            cr_assert(r > 0.995, "fourier=%d seed %d: correlation with the filter %g", fourier, s, r);
            // and the scale: w/l2
            double err = max_abs_diff(img + s * S * S, filter, S * S);
            cr_assert(err < 0.05, "fourier=%d: max |x − w/l2| = %g", fourier, err);
        }
    }
    // The defaults (Fourier, jitter, TV) blur it but keep the pattern and its orientation.
    FvConfig c = featviz_defaults();
    c.l2 = 1;
    double a0[4], a1[4];
    cr_assert_eq(featviz_run(m, &t, &c, img, a0, a1), 0, "%s", err_msg());
    for (int s = 0; s < c.n_seeds; s++) {
        double r = corr(img + s * S * S, filter, S * S), th, coh;
        featviz_orientation(img + s * S * S, S, S, &th, &coh);
        double d = fabs(th - th0);
        if (d > PI / 2) d = PI - d;
        cr_assert(r > 0.8, "seed %d: correlation with the filter %g", s, r);
        cr_assert(d < 10 * PI / 180, "seed %d: orientation %.1f°, the filter's is 30°", s, th * 180 / PI);
        cr_assert(a1[s] > a0[s] + 1, "seed %d: activation %g -> %g", s, a0[s], a1[s]);
    }
    cnn_free(m);
}

Test(featviz, ascent_raises_a_deep_unit_from_every_seed) {
    Cnn *m = cnn_create("conv3x3:4,relu,maxpool2,conv3x3:6,relu,linear:3", 1, 12, 12, 3);
    cr_assert_not_null(m);
    cnn_init_weights(m, 3);
    // pre-ReLU points: a ReLU output that is 0 everywhere at the start has no gradient
    const char *pts[] = {"layers.3.hook_out", "layers.3.hook_out", "logits"};
    FvKind kinds[] = {FV_UNIT, FV_CHANNEL, FV_CHANNEL};
    for (int p = 0; p < 3; p++) {
        FvConfig c = featviz_defaults();
        c.n_seeds = 5;  // two chunks of the model's max_batch 3
        c.steps = 64;
        c.range_lo = 0;
        c.range_hi = 1;
        FvTarget t = {.point = pts[p], .channel = 2, .kind = kinds[p], .y = 1, .x = 4};
        float img[5 * 144];
        double a0[5], a1[5], check[5];
        cr_assert_eq(featviz_run(m, &t, &c, img, a0, a1), 0, "%s", err_msg());
        for (int s = 0; s < 5; s++) {
            cr_assert(a1[s] > a0[s] + 0.1, "%s seed %d: %g -> %g", pts[p], s, a0[s], a1[s]);
            for (int i = 0; i < 144; i++)
                cr_assert(img[s * 144 + i] >= 0 && img[s * 144 + i] <= 1, "outside the range");
        }
        // act_end is the target's activation of the returned images
        cr_assert_eq(featviz_activation(m, &t, img, 5, check), 0);
        for (int s = 0; s < 5; s++) cr_assert_float_eq(check[s], a1[s], 1e-9);
        // the same seed gives the same images; another seed other images
        float again[5 * 144];
        cr_assert_eq(featviz_run(m, &t, &c, again, NULL, NULL), 0);
        cr_assert_eq(memcmp(img, again, sizeof img), 0, "not deterministic");
        c.seed = 1;
        cr_assert_eq(featviz_run(m, &t, &c, again, NULL, NULL), 0);
        cr_assert_neq(memcmp(img, again, sizeof img), 0);
    }
    cnn_free(m);
}

Test(featviz, bad_targets_and_configs_are_errors) {
    Cnn *m = cnn_create("conv3x3:2,relu,linear:3", 1, 6, 6, 2);
    cr_assert_not_null(m);
    FvConfig c = featviz_defaults();
    c.steps = 2;
    float img[4 * 36];
    FvTarget t = {.point = "layers.7.hook_out", .channel = 0};
    cr_assert_eq(featviz_run(m, &t, &c, img, NULL, NULL), -1);
    cr_assert(strstr(err_msg(), "layers.7.hook_out"), "%s", err_msg());
    t = (FvTarget){.point = "layers.0.hook_out", .channel = 2};
    cr_assert_eq(featviz_run(m, &t, &c, img, NULL, NULL), -1);
    cr_assert(strstr(err_msg(), "2 channels"), "%s", err_msg());
    t = (FvTarget){.point = "layers.0.hook_out", .channel = 1, .kind = FV_UNIT, .y = 6, .x = 0};
    cr_assert_eq(featviz_run(m, &t, &c, img, NULL, NULL), -1);
    cr_assert(strstr(err_msg(), "outside"), "%s", err_msg());
    t = (FvTarget){.point = "logits", .channel = 1};
    c.lr = 0;
    cr_assert_eq(featviz_run(m, &t, &c, img, NULL, NULL), -1);
    c = featviz_defaults();
    c.steps = 2;
    cr_assert_eq(featviz_run(m, &t, &c, img, NULL, NULL), 0, "%s", err_msg());
    int ch, h, w;
    cr_assert_eq(featviz_point_shape(m, "layers.1.hook_out", &ch, &h, &w), 0);
    cr_assert(ch == 2 && h == 6 && w == 6);
    cr_assert_eq(featviz_point_shape(m, "logits", &ch, &h, &w), 0);
    cr_assert(ch == 3 && h == 1 && w == 1);
    cnn_free(m);
}

// The grid: one row per channel, one column per seed, 1-pixel gaps around every tile.
Test(featviz, save_grid_writes_rows_of_seeds) {
    char d[64], p[128];
    make_tmpdir(d, sizeof d);
    Cnn *m = cnn_create("conv3x3:3,relu,linear:2", 1, 6, 7, 2);
    cr_assert_not_null(m);
    cnn_init_weights(m, 1);
    FvConfig c = featviz_defaults();
    c.steps = 3;
    c.n_seeds = 3;
    int ch[2] = {2, 0};
    float img[6 * 42];
    double act[6], one[3];
    snprintf(p, sizeof p, "%s/g.png", d);
    cr_assert_eq(featviz_save_grid(m, "layers.0.hook_out", ch, 2, FV_CHANNEL, &c, p, 2, img, act), 0,
                 "%s", err_msg());
    char *png;
    size_t len;
    cr_assert_eq(fileio_read_all(p, 1 << 20, &png, &len), 0);
    const unsigned char *u = (const unsigned char *)png;
    long w = (long)u[16] << 24 | u[17] << 16 | u[18] << 8 | u[19];
    long h = (long)u[20] << 24 | u[21] << 16 | u[22] << 8 | u[23];
    cr_assert(w == 2 * (3 * 7 + 4) && h == 2 * (2 * 6 + 3), "grid is %ldx%ld", w, h);
    free(png);
    // row 1 is channel 0 with the same seeds as a direct run
    FvTarget t = {.point = "layers.0.hook_out", .channel = 0, .kind = FV_CHANNEL};
    float direct[3 * 42];
    cr_assert_eq(featviz_run(m, &t, &c, direct, NULL, one), 0);
    cr_assert_eq(memcmp(direct, img + 3 * 42, sizeof direct), 0);
    for (int s = 0; s < 3; s++) cr_assert_eq(one[s], act[3 + s]);
    cnn_free(m);
    rm_tree(d);
}
