// Attribution: on a linear model every method has a closed form (saliency = the weights,
// integrated gradients = gradient × (x − baseline) exactly, occlusion = the occluded pixels'
// contribution); occluding a region the model ignores changes nothing; on a small trained CNN
// integrated gradients are complete within 1 % (and converge as the steps grow).
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "interp/attribution.h"
#include "model/err.h"
#include "train/cnn_train.h"

TestSuite(attribution);

enum { C = 2, H = 5, W = 6, IN = C * H * W, NCLS = 3 };

// logits = x·Wt + b on 2×5×6 images, random weights; class 1's weights are zero on the left
// half (columns 0..2) of both channels, so that region is irrelevant to it.
static Cnn *linear_model(void) {
    Cnn *m = cnn_create("linear:3", C, H, W, 4);
    cr_assert_not_null(m, "%s", err_msg());
    cnn_init_weights(m, 9);
    float *w = params_data(&m->params, "layers.0.W"), *b = params_data(&m->params, "layers.0.b");
    for (int i = 0; i < IN; i++)
        if (i % W < 3) w[i * NCLS + 1] = 0;
    b[0] = 0.5f, b[1] = -0.25f, b[2] = 1.0f;
    return m;
}

static void random_image(float *x, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    rng_fill_uniform(&r, x, IN, -1, 1);
}

Test(attribution, linear_model_closed_forms) {
    Cnn *m = linear_model();
    const float *w = params_data(&m->params, "layers.0.W");
    float x[IN], base[IN], sal[IN], gxi[IN], ig[IN], want[IN];
    random_image(x, 1);
    random_image(base, 2);
    for (int cls = 0; cls < NCLS; cls++) {
        AttrTarget t = {.point = NULL, .index = cls};
        cr_assert_eq(attr_saliency(m, &t, x, sal), 0, "%s", err_msg());
        for (int i = 0; i < IN; i++) want[i] = w[i * NCLS + cls];
        assert_allclose(sal, want, IN, 1e-7, 0);
        cr_assert_eq(attr_grad_x_input(m, &t, x, gxi), 0);
        for (int i = 0; i < IN; i++) want[i] = w[i * NCLS + cls] * x[i];
        assert_allclose(gxi, want, IN, 1e-7, 0);
        // IG = ∇f ⊙ (x − x') for a linear f, for both rules and any step count
        for (int rule = 0; rule < 2; rule++)
            for (int steps = 1; steps <= 7; steps += 3) {
                AttrIgCheck chk;
                cr_assert_eq(attr_integrated_gradients(m, &t, x, base, steps, rule, ig, &chk), 0,
                             "%s", err_msg());
                for (int i = 0; i < IN; i++) want[i] = w[i * NCLS + cls] * (x[i] - base[i]);
                assert_allclose(ig, want, IN, 1e-6, 1e-6);
                cr_assert(chk.rel_err < 1e-5, "rule %d steps %d: completeness error %g", rule,
                          steps, chk.rel_err);
                double fx = 0, fb = 0;
                for (int i = 0; i < IN; i++) fx += w[i * NCLS + cls] * x[i], fb += w[i * NCLS + cls] * base[i];
                cr_assert_float_eq(chk.f_x - chk.f_base, fx - fb, 1e-5);
            }
        // NULL baseline = zeros: IG = grad × input
        cr_assert_eq(attr_integrated_gradients(m, &t, x, NULL, 4, ATTR_TRAPEZOID, ig, NULL), 0);
        assert_allclose(ig, gxi, IN, 1e-6, 1e-6);
    }
    cnn_free(m);
}

Test(attribution, occlusion_of_an_irrelevant_region_changes_nothing) {
    Cnn *m = linear_model();
    const float *w = params_data(&m->params, "layers.0.W");
    float x[IN], occ[H * W];
    random_image(x, 3);
    AttrTarget t = {.point = "logits", .index = 1};
    // 3×3 windows with stride 3: origins x0 ∈ {0, 3}, y0 ∈ {0, 2} (the last moved to the border)
    float value = 0.3f;
    cr_assert_eq(attr_occlusion(m, &t, x, 3, 3, value, occ), 0, "%s", err_msg());
    for (int i = 0; i < H; i++)
        for (int j = 0; j < 3; j++)
            cr_assert_eq(occ[i * W + j], 0.0f, "pixel (%d,%d) in the ignored half: %g", i, j,
                         occ[i * W + j]);
    // elsewhere each pixel is the mean over its windows of Σ_window w·(x − value)
    int y0s[2] = {0, 2};
    for (int i = 0; i < H; i++)
        for (int j = 3; j < W; j++) {
            double sum = 0;
            int cnt = 0;
            for (int a = 0; a < 2; a++) {
                int y0 = y0s[a];
                if (i < y0 || i >= y0 + 3) continue;
                double d = 0;
                for (int c = 0; c < C; c++)
                    for (int yy = y0; yy < y0 + 3; yy++)
                        for (int xx = 3; xx < 6; xx++) {
                            int k = (c * H + yy) * W + xx;
                            d += w[k * NCLS + 1] * ((double)x[k] - value);
                        }
                sum += d;
                cnt++;
            }
            cr_assert_float_eq(occ[i * W + j], sum / cnt, 1e-5, "pixel (%d,%d)", i, j);
        }
    // a 1×1 window with stride 1 is w·(x − value) per pixel, summed over channels
    cr_assert_eq(attr_occlusion(m, &t, x, 1, 1, value, occ), 0);
    for (int p = 0; p < H * W; p++) {
        double want = 0;
        for (int c = 0; c < C; c++) want += w[(c * H * W + p) * NCLS + 1] * ((double)x[c * H * W + p] - value);
        cr_assert_float_eq(occ[p], want, 1e-5);
    }
    cnn_free(m);
}

Test(attribution, integrated_gradients_complete_within_one_percent_on_a_trained_cnn) {
    char d[64];
    make_tmpdir(d, sizeof d);
    CnnTrainSpec s = cnntrain_defaults("lines");
    snprintf(s.arch, sizeof s.arch, "conv3x3:6,relu,maxpool2,conv3x3:8,relu,maxpool2,linear:8");
    s.size = 16;
    s.n_train = 2048;
    s.n_test = 64;
    s.batch = 32;
    s.seed = 2;
    s.train.steps = 150;
    s.train.eval_every = 0;
    s.train.sched = (Sched){.kind = SCHED_CONSTANT, .lr = 1e-2f};
    s.train.out_dir = d;
    s.train.quiet = 1;
    CnnTrainer *t = cnntrain_create(&s);
    cr_assert_not_null(t, "%s", err_msg());
    cr_assert_eq(cnntrain_run(t), 0, "%s", err_msg());
    double acc;
    cr_assert_eq(cnntrain_evaluate(t->m, &t->test, 0, NULL, NULL, &acc, NULL), 0);
    cr_assert(acc > 0.5, "the net did not learn (test accuracy %g)", acc);
    // ReLU nets are piecewise linear: the path gradient jumps, and the quadrature error falls
    // as O(1/m) — about 1e-2 at 32 steps, 3e-3 at 128, 5e-4 at 512 on this net.
    float ig[256];
    double worst = 0, worst16 = 0, worst512 = 0;
    for (int i = 0; i < 8; i++) {
        const float *x = t->test.x + i * 256;
        AttrTarget tg = {.point = "logits", .index = t->test.y[i]};
        AttrIgCheck chk, c16, c512;
        cr_assert_eq(attr_integrated_gradients(t->m, &tg, x, NULL, 128, ATTR_TRAPEZOID, ig, &chk), 0,
                     "%s", err_msg());
        cr_assert(fabs(chk.f_x - chk.f_base) > 0.5, "image %d: f(x) − f(0) = %g is too small to test",
                  i, chk.f_x - chk.f_base);
        cr_assert(chk.rel_err < 0.01, "image %d: completeness error %.4f (sum %g, f(x) − f(0) = %g)",
                  i, chk.rel_err, chk.sum, chk.f_x - chk.f_base);
        worst = fmax(worst, chk.rel_err);
        cr_assert_eq(attr_integrated_gradients(t->m, &tg, x, NULL, 16, ATTR_TRAPEZOID, ig, &c16), 0);
        cr_assert_eq(attr_integrated_gradients(t->m, &tg, x, NULL, 512, ATTR_RIGHT_RIEMANN, ig, &c512), 0);
        worst16 = fmax(worst16, c16.rel_err);
        worst512 = fmax(worst512, c512.rel_err);
    }
    cr_assert(worst512 < worst && worst < worst16, "no convergence: 16 steps %g, 128 %g, 512 %g",
              worst16, worst, worst512);
    cr_assert(worst512 < 0.003, "512 right-Riemann steps: %g", worst512);
    cr_log_info("IG completeness, worst relative error over 8 images: %.2e (16 trapezoid steps), "
                "%.2e (128 trapezoid), %.2e (512 right Riemann)", worst16, worst, worst512);
    cnntrain_free(t);
    rm_tree(d);
}

Test(attribution, bad_targets_are_errors_and_overlay_writes) {
    char d[64], p[128];
    make_tmpdir(d, sizeof d);
    Cnn *m = linear_model();
    float x[IN], out[IN];
    random_image(x, 4);
    AttrTarget t = {.point = "logits", .index = 3};
    cr_assert_eq(attr_saliency(m, &t, x, out), -1);
    cr_assert(strstr(err_msg(), "index 3"), "%s", err_msg());
    t = (AttrTarget){.point = "layers.4.hook_out", .index = 0};
    cr_assert_eq(attr_saliency(m, &t, x, out), -1);
    t = (AttrTarget){.point = "logits", .index = 0};
    cr_assert_eq(attr_integrated_gradients(m, &t, x, NULL, 0, ATTR_TRAPEZOID, out, NULL), -1);
    cr_assert_eq(attr_occlusion(m, &t, x, 6, 1, 0, out), -1);
    cr_assert_eq(attr_occlusion(m, &t, x, 2, 0, 0, out), -1);
    cr_assert_eq(attr_saliency(m, &t, x, out), 0);
    snprintf(p, sizeof p, "%s/o.png", d);
    cr_assert_eq(attr_save_overlay(p, x, out, C, H, W, 0.7f, 3), 0, "%s", err_msg());
    char *png = read_text(p);
    cr_assert(png && !memcmp(png, "\x89PNG", 4));
    free(png);
    cnn_free(m);
    rm_tree(d);
}
