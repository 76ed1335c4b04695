// Optimisers, schedules and clipping: three steps of every optimiser against torch.optim
// (tests/ref/make_optim_ref.py, printed once and pasted below), closed forms for fresh Adam and
// for AdamW's decoupled decay, schedule values at the warm-up end / middle / end, clipping to
// exactly max_norm, NaN reporting, thread-count independence, and convergence on a quadratic.
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "model/err.h"
#include "model/pool.h"
#include "model/rng.h"
#include "train/optim.h"

TestSuite(optim);

// ---- torch.optim reference values (tests/ref/make_optim_ref.py) -------------------------------
static const float P0[5] = {0.5f, -1.2f, 2.0f, 0.0f, -0.3f};
static const float GRADS[3][5] = {
    {0.3f, -0.7f, 1.5f, 0.0f, 2.0f},
    {-0.1f, -0.4f, 0.9f, 0.25f, -1.0f},
    {0.05f, 0.6f, -2.0f, 0.5f, 0.0f},
};
static const float LRS[3] = {0.1f, 0.05f, 0.02f};

// sgd: SGD({'lr': 1.0})
static const float ref_sgd_p[3][5] = {
    {4.699999988e-01f, -1.129999995e+00f, 1.850000024e+00f, 0.000000000e+00f, -5.000000000e-01f},
    {4.749999940e-01f, -1.110000014e+00f, 1.805000067e+00f, -1.250000019e-02f, -4.499999881e-01f},
    {4.740000069e-01f, -1.121999979e+00f, 1.845000029e+00f, -2.250000089e-02f, -4.499999881e-01f},
};

// sgd_momentum_wd: SGD({'lr': 1.0, 'momentum': 0.9, 'weight_decay': 0.1})
static const float ref_sgd_momentum_wd_p[3][5] = {
    {4.650000036e-01f, -1.118000031e+00f, 1.830000043e+00f, 0.000000000e+00f, -4.970000088e-01f},
    {4.519250095e-01f, -1.055510044e+00f, 1.699349999e+00f, -1.250000019e-02f, -5.331650376e-01f},
    {4.453141689e-01f, -1.042902589e+00f, 1.688917279e+00f, -2.697500028e-02f, -5.451180935e-01f},
};
static const float ref_sgd_momentum_wd_buf[5] = {3.305425346e-01f, -6.303709745e-01f, 5.216348171e-01f, 7.237499952e-01f, 5.976535082e-01f};

// sgd_nesterov: SGD({'lr': 1.0, 'momentum': 0.8, 'nesterov': True})
static const float ref_sgd_nesterov_p[3][5] = {
    {4.460000098e-01f, -1.074000001e+00f, 1.730000019e+00f, 0.000000000e+00f, -6.600000262e-01f},
    {4.453999996e-01f, -1.015599966e+00f, 1.601000071e+00f, -2.249999903e-02f, -6.340000033e-01f},
    {4.418079853e-01f, -1.024912000e+00f, 1.646120071e+00f, -4.369999841e-02f, -6.416800022e-01f},
};
static const float ref_sgd_nesterov_buf[5] = {1.620000154e-01f, -1.680000424e-01f, -3.200000525e-01f, 6.999999881e-01f, 4.800000191e-01f};

// adam: Adam({'lr': 1.0})
static const float ref_adam_p[3][5] = {
    {4.000000060e-01f, -1.100000024e+00f, 1.899999976e+00f, 0.000000000e+00f, -4.000000060e-01f},
    {3.799890876e-01f, -1.052448153e+00f, 1.852125406e+00f, -3.720683977e-02f, -4.133168459e-01f},
    {3.718805909e-01f, -1.048288703e+00f, 1.852005124e+00f, -5.377829075e-02f, -4.174344242e-01f},
};
static const float ref_adam_m[5] = {2.030000091e-02f, -3.269999474e-02f, 2.499997616e-03f, 7.249999791e-02f, 7.199998945e-02f};
static const float ref_adam_v[5] = {1.023101067e-04f, 1.008860534e-03f, 7.054692134e-03f, 3.124375071e-04f, 4.991004243e-03f};

// adam_l2: Adam({'lr': 1.0, 'betas': (0.8, 0.99), 'eps': 1e-06, 'weight_decay': 0.1})
static const float ref_adam_l2_p[3][5] = {
    {4.000002742e-01f, -1.100000143e+00f, 1.900000095e+00f, 0.000000000e+00f, -3.999999762e-01f},
    {3.756048977e-01f, -1.052513719e+00f, 1.852290511e+00f, -3.918515518e-02f, -4.094654620e-01f},
    {3.653298616e-01f, -1.046771526e+00f, 1.851531267e+00f, -5.690373480e-02f, -4.119466245e-01f},
};
static const float ref_adam_l2_m[5] = {5.271210894e-02f, -8.761028945e-02f, 2.904585563e-02f, 1.392163038e-01f, 7.757071406e-02f};
static const float ref_adam_l2_v[5] = {1.312930835e-03f, 1.161294524e-02f, 7.302101701e-02f, 3.079718212e-03f, 4.876131192e-02f};

// adamw: AdamW({'lr': 1.0, 'weight_decay': 0.1})
static const float ref_adamw_p[3][5] = {
    {3.950000107e-01f, -1.088000059e+00f, 1.879999995e+00f, 0.000000000e+00f, -3.970000148e-01f},
    {3.730140924e-01f, -1.035008192e+00f, 1.822725415e+00f, -3.720683977e-02f, -4.083318710e-01f},
    {3.641595840e-01f, -1.028778791e+00f, 1.818959713e+00f, -5.370387807e-02f, -4.116328061e-01f},
};
static const float ref_adamw_m[5] = {2.030000091e-02f, -3.269999474e-02f, 2.499997616e-03f, 7.249999791e-02f, 7.199998945e-02f};
static const float ref_adamw_v[5] = {1.023101067e-04f, 1.008860534e-03f, 7.054692134e-03f, 3.124375071e-04f, 4.991004243e-03f};

// adamw_default: AdamW({'lr': 1.0})
static const float ref_adamw_default_p[3][5] = {
    {3.995000124e-01f, -1.098800063e+00f, 1.898000002e+00f, 0.000000000e+00f, -3.997000158e-01f},
    {3.792893291e-01f, -1.050698757e+00f, 1.849176407e+00f, -3.720683977e-02f, -4.128170013e-01f},
    {3.711049855e-01f, -1.046329141e+00f, 1.848686337e+00f, -5.377085134e-02f, -4.168520272e-01f},
};
static const float ref_adamw_default_m[5] = {2.030000091e-02f, -3.269999474e-02f, 2.499997616e-03f, 7.249999791e-02f, 7.199998945e-02f};
static const float ref_adamw_default_v[5] = {1.023101067e-04f, 1.008860534e-03f, 7.054692134e-03f, 3.124375071e-04f, 4.991004243e-03f};

// Runs the three reference steps with cfg and checks p after every step (and the state at the end).
static void check_against_torch(OptimConfig cfg, const float want_p[3][5], const float *want_m,
                                const float *want_v) {
    Optim *o = optim_create(&cfg, 5);
    cr_assert_not_null(o, "%s", err_msg());
    float p[5];
    memcpy(p, P0, sizeof p);
    for (int s = 0; s < 3; s++) {
        cr_assert_eq(optim_step(o, p, GRADS[s], LRS[s]), 0);
        cr_assert_eq(o->step, s + 1);
        // Measured: equal to within 4 float ulps (torch rounds some scalars differently and its
        // lr is a double); a wrong beta or a missing bias correction moves values by >= 1e-3.
        assert_allclose(p, want_p[s], 5, 1e-8, 5e-7);
    }
    if (want_m) assert_allclose(o->m, want_m, 5, 5e-8, 1e-6);  // m[2] is a difference of ~0.2s
    if (want_v) assert_allclose(o->v, want_v, 5, 1e-12, 1e-6);
    optim_free(o);
}

Test(optim, sgd_matches_torch) {
    check_against_torch(optim_defaults(OPTIM_SGD), ref_sgd_p, NULL, NULL);
}

Test(optim, sgd_momentum_weight_decay_matches_torch) {
    OptimConfig c = optim_defaults(OPTIM_SGD);
    c.momentum = 0.9;
    c.weight_decay = 0.1;
    check_against_torch(c, ref_sgd_momentum_wd_p, ref_sgd_momentum_wd_buf, NULL);
}

Test(optim, sgd_nesterov_matches_torch) {
    OptimConfig c = optim_defaults(OPTIM_SGD);
    c.momentum = 0.8;
    c.nesterov = 1;
    check_against_torch(c, ref_sgd_nesterov_p, ref_sgd_nesterov_buf, NULL);
}

Test(optim, adam_matches_torch) {
    check_against_torch(optim_defaults(OPTIM_ADAM), ref_adam_p, ref_adam_m, ref_adam_v);
}

Test(optim, adam_l2_weight_decay_and_custom_betas_match_torch) {
    OptimConfig c = optim_defaults(OPTIM_ADAM);
    c.beta1 = 0.8;
    c.beta2 = 0.99;
    c.eps = 1e-6;
    c.weight_decay = 0.1;
    check_against_torch(c, ref_adam_l2_p, ref_adam_l2_m, ref_adam_l2_v);
}

Test(optim, adamw_matches_torch) {
    OptimConfig c = optim_defaults(OPTIM_ADAMW);
    c.weight_decay = 0.1;
    check_against_torch(c, ref_adamw_p, ref_adamw_m, ref_adamw_v);
}

Test(optim, adamw_defaults_match_torch_defaults) {
    OptimConfig c = optim_defaults(OPTIM_ADAMW);
    cr_assert_eq(c.weight_decay, 0.01);  // torch.optim.AdamW's default
    cr_assert_eq(c.beta1, 0.9);
    cr_assert_eq(c.beta2, 0.999);
    cr_assert_eq(c.eps, 1e-8);
    check_against_torch(c, ref_adamw_default_p, ref_adamw_default_m, ref_adamw_default_v);
}

// ---- closed forms ---------------------------------------------------------------------------

// Fresh Adam, step 1: m = (1-β1)g, v = (1-β2)g², the bias corrections divide those factors out,
// so the update is lr·g/(|g| + eps) = lr·sign(g) up to eps/|g|.
Test(optim, fresh_adam_step_is_lr_times_sign_of_gradient) {
    enum { N = 7 };
    const float g[N] = {3.0f, -0.02f, 1e-3f, -250.0f, 0.5f, -1.0f, 7e-2f};
    float p[N] = {0}, want[N];
    const float lr = 0.01f;
    for (int i = 0; i < N; i++) want[i] = -lr * (g[i] > 0 ? 1.0f : -1.0f);
    OptimConfig cfgs[2] = {optim_defaults(OPTIM_ADAM), optim_defaults(OPTIM_ADAMW)};
    for (int k = 0; k < 2; k++) {
        memset(p, 0, sizeof p);  // p = 0, so AdamW's decay has nothing to act on
        Optim *o = optim_create(&cfgs[k], N);
        cr_assert_eq(optim_step(o, p, g, lr), 0);
        assert_allclose(p, want, N, 0.0, 1e-4);  // eps/|g| <= 1e-5 for |g| >= 1e-3
        optim_free(o);
    }
}

// AdamW's decay is decoupled: with a zero gradient the moments stay zero, the Adam part is
// exactly 0 and p shrinks by exactly (1 - lr·wd). Adam's L2 decay instead feeds wd·p into the
// moments, so a fresh Adam moves every nonzero p by lr·sign(p) — a different update entirely.
Test(optim, adamw_decay_is_decoupled_from_the_gradient) {
    const float p0[4] = {1.0f, -2.0f, 0.25f, 4.0f}, zero[4] = {0};
    const float lr = 0.1f, wd = 0.5f;
    float p[4], want[4];
    OptimConfig c = optim_defaults(OPTIM_ADAMW);
    c.weight_decay = wd;
    Optim *o = optim_create(&c, 4);
    memcpy(p, p0, sizeof p);
    memcpy(want, p0, sizeof want);
    for (int s = 0; s < 3; s++) {
        cr_assert_eq(optim_step(o, p, zero, lr), 0);
        for (int i = 0; i < 4; i++) want[i] *= 1.0f - lr * wd;  // (1 - 0.05) per step
    }
    assert_allclose(p, want, 4, 0.0, 1e-6);
    for (int i = 0; i < 4; i++) cr_assert_eq(o->m[i], 0.0f);
    optim_free(o);

    OptimConfig a = optim_defaults(OPTIM_ADAM);
    a.weight_decay = wd;
    o = optim_create(&a, 4);
    memcpy(p, p0, sizeof p);
    cr_assert_eq(optim_step(o, p, zero, lr), 0);
    for (int i = 0; i < 4; i++) want[i] = p0[i] - lr * (p0[i] > 0 ? 1.0f : -1.0f);
    assert_allclose(p, want, 4, 0.0, 1e-5);
    optim_free(o);
}

// SGD with momentum by hand: buf1 = g1, p1 = p0 - lr·g1; buf2 = μ·g1 + g2, p2 = p1 - lr·buf2.
Test(optim, sgd_momentum_two_steps_by_hand) {
    OptimConfig c = optim_defaults(OPTIM_SGD);
    c.momentum = 0.5;
    Optim *o = optim_create(&c, 1);
    float p = 1.0f;
    const float g1 = 2.0f, g2 = -1.0f;
    optim_step(o, &p, &g1, 0.25f);  // p = 1 - 0.5 = 0.5
    cr_assert_float_eq(p, 0.5f, 1e-7f);
    optim_step(o, &p, &g2, 0.25f);  // buf = 1 - 1 = 0, p unchanged
    cr_assert_float_eq(p, 0.5f, 1e-7f);
    cr_assert_float_eq(o->m[0], 0.0f, 1e-7f);
    optim_free(o);
}

Test(optim, reset_gives_a_fresh_optimiser) {
    OptimConfig c = optim_defaults(OPTIM_ADAMW);
    Optim *o = optim_create(&c, 5);
    float p[5], q[5];
    memcpy(p, P0, sizeof p);
    memcpy(q, P0, sizeof q);
    optim_step(o, p, GRADS[0], 0.1f);
    optim_step(o, p, GRADS[1], 0.1f);
    optim_reset(o);
    cr_assert_eq(o->step, 0);
    memcpy(p, P0, sizeof p);
    optim_step(o, p, GRADS[2], 0.1f);
    Optim *f = optim_create(&c, 5);
    optim_step(f, q, GRADS[2], 0.1f);
    cr_assert_eq(memcmp(p, q, sizeof p), 0);
    optim_free(o);
    optim_free(f);
}

// ---- bad input --------------------------------------------------------------------------------

Test(optim, bad_configs_and_learning_rates_are_refused) {
    OptimConfig c = optim_defaults(OPTIM_ADAM);
    c.beta1 = 1.0;
    cr_assert_null(optim_create(&c, 3));
    cr_assert(strstr(err_msg(), "beta1"), "%s", err_msg());
    c = optim_defaults(OPTIM_ADAMW);
    c.eps = 0.0;
    cr_assert_null(optim_create(&c, 3));
    c = optim_defaults(OPTIM_SGD);
    c.nesterov = 1;  // without momentum
    cr_assert_null(optim_create(&c, 3));
    cr_assert(strstr(err_msg(), "Nesterov"), "%s", err_msg());
    c = optim_defaults(OPTIM_SGD);
    c.weight_decay = -1.0;
    cr_assert_null(optim_create(&c, 3));
    c = optim_defaults(OPTIM_SGD);
    cr_assert_null(optim_create(&(OptimConfig){.kind = (OptimKind)7}, 3));

    c = optim_defaults(OPTIM_SGD);
    Optim *o = optim_create(&c, 1);
    cr_assert_null(o->m);  // plain SGD keeps no state
    float p = 1.0f, g = 1.0f;
    cr_assert_eq(optim_step(o, &p, &g, NAN), -1);
    cr_assert_eq(optim_step(o, &p, &g, -0.1f), -1);
    cr_assert(strstr(err_msg(), "learning rate"), "%s", err_msg());
    cr_assert_eq(o->step, 0);
    cr_assert_float_eq(p, 1.0f, 0.0f);
    optim_free(o);
    optim_free(NULL);
}

// ---- schedules ------------------------------------------------------------------------------

Test(optim, warmup_cosine_values_at_warmup_end_middle_and_end) {
    Sched s = {SCHED_WARMUP_COSINE, 1.0f, 10, 110, 0.1f};
    cr_assert_eq(sched_check(&s), 0);
    cr_assert_float_eq(sched_lr(&s, 0), 0.1f, 1e-7f);   // 1/10 of the peak
    cr_assert_float_eq(sched_lr(&s, 4), 0.5f, 1e-7f);
    cr_assert_float_eq(sched_lr(&s, 9), 1.0f, 1e-7f);   // warm-up ends at the peak
    cr_assert_float_eq(sched_lr(&s, 10), 1.0f, 1e-7f);  // cosine starts at the peak
    // a quarter of the way: 0.1 + 0.9·½(1 + cos(π/4)) = 0.868198052...
    cr_assert_float_eq(sched_lr(&s, 35), 0.8681980515f, 1e-6f);
    cr_assert_float_eq(sched_lr(&s, 60), 0.55f, 1e-6f);  // middle: (peak + floor)/2
    cr_assert_float_eq(sched_lr(&s, 110), 0.1f, 1e-7f);  // floor at total
    cr_assert_float_eq(sched_lr(&s, 5000), 0.1f, 1e-7f);
    // monotone non-increasing after the warm-up
    for (long t = 10; t < 120; t++) cr_assert_leq(sched_lr(&s, t + 1), sched_lr(&s, t));
}

Test(optim, warmup_constant_and_constant) {
    Sched w = {SCHED_WARMUP_CONSTANT, 3e-3f, 4, 0, 0.0f};
    cr_assert_eq(sched_check(&w), 0);
    const float want[6] = {0.75e-3f, 1.5e-3f, 2.25e-3f, 3e-3f, 3e-3f, 3e-3f};
    for (int t = 0; t < 6; t++) cr_assert_float_eq(sched_lr(&w, t), want[t], 1e-9f, "step %d", t);
    Sched c = {SCHED_CONSTANT, 2e-2f, 0, 0, 0.0f};
    cr_assert_eq(sched_check(&c), 0);
    cr_assert_float_eq(sched_lr(&c, 0), 2e-2f, 0.0f);
    cr_assert_float_eq(sched_lr(&c, 123456), 2e-2f, 0.0f);
    Sched nw = {SCHED_WARMUP_COSINE, 1.0f, 0, 4, 0.0f};  // no warm-up: cosine from step 0
    cr_assert_float_eq(sched_lr(&nw, 0), 1.0f, 1e-7f);
    cr_assert_float_eq(sched_lr(&nw, 2), 0.5f, 1e-7f);
    cr_assert_float_eq(sched_lr(&nw, 4), 0.0f, 1e-7f);
}

Test(optim, bad_schedules_are_refused) {
    Sched s = {SCHED_WARMUP_COSINE, 1.0f, 10, 10, 0.0f};
    cr_assert_eq(sched_check(&s), -1);
    cr_assert(strstr(err_msg(), "total"), "%s", err_msg());
    s = (Sched){SCHED_WARMUP_COSINE, 1.0f, 0, 10, 2.0f};
    cr_assert_eq(sched_check(&s), -1);
    s = (Sched){SCHED_WARMUP_CONSTANT, 1.0f, -1, 0, 0.0f};
    cr_assert_eq(sched_check(&s), -1);
    s = (Sched){SCHED_CONSTANT, NAN, 0, 0, 0.0f};
    cr_assert_eq(sched_check(&s), -1);
}

// ---- clipping -------------------------------------------------------------------------------

Test(optim, clipping_scales_to_exactly_max_norm_and_returns_the_old_norm) {
    float g[5] = {3.0f, -4.0f, 12.0f, 0.0f, 1e-3f};
    const float g0[5] = {3.0f, -4.0f, 12.0f, 0.0f, 1e-3f};
    // torch.nn.utils.clip_grad_norm_ reports 13.000000038461538 for this vector.
    double n = optim_clip_grad_norm(g, 5, 6.5);
    cr_assert(fabs(n - 13.000000038461538) < 1e-12, "pre-clip norm %.17g", n);
    double after = optim_grad_norm(g, 5);
    cr_assert(fabs(after - 6.5) < 6.5 * 1e-6, "norm after clip %.9g", after);
    for (int i = 0; i < 5; i++)  // direction kept: every element halved
        cr_assert_float_eq(g[i], g0[i] * (float)(6.5 / 13.000000038461538), 1e-6f);
    // under the limit (and max_norm <= 0): untouched
    float h[2] = {0.3f, 0.4f};
    cr_assert(fabs(optim_clip_grad_norm(h, 2, 1.0) - 0.5) < 1e-7);
    cr_assert_float_eq(h[0], 0.3f, 0.0f);
    cr_assert(fabs(optim_clip_grad_norm(g, 5, 0.0) - 6.5) < 1e-5);
}

Test(optim, nan_and_inf_norms_are_reported_and_grads_left_alone) {
    float g[3] = {1.0f, NAN, 2.0f};
    cr_assert(isnan(optim_clip_grad_norm(g, 3, 1.0)));
    cr_assert_float_eq(g[0], 1.0f, 0.0f);
    cr_assert_float_eq(g[2], 2.0f, 0.0f);
    float h[3] = {1.0f, INFINITY, 2.0f};
    double n = optim_clip_grad_norm(h, 3, 1.0);
    cr_assert(isinf(n), "%g", n);
    cr_assert_float_eq(h[0], 1.0f, 0.0f);
}

// ---- threads ---------------------------------------------------------------------------------

// A block large enough to be split over the pool: the step, the norm and the clip give the same
// bits for 1 and 3 threads, and the norm equals a plain double sum.
Test(optim, large_blocks_are_identical_for_any_thread_count) {
    const size_t n = 300007;  // several chunks, ragged last chunk
    float *p1 = malloc(n * sizeof(float)), *p3 = malloc(n * sizeof(float));
    float *g = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float));
    float *g3 = malloc(n * sizeof(float));
    Rng r;
    rng_seed(&r, 11);
    rng_fill_normal(&r, p1, n, 0.0f, 1.0f);
    rng_fill_normal(&r, g, n, 0.0f, 1.0f);
    memcpy(p3, p1, n * sizeof(float));
    double want = 0;
    for (size_t i = 0; i < n; i++) want += (double)g[i] * g[i];
    want = sqrt(want);
    OptimConfig c = optim_defaults(OPTIM_ADAMW);
    double norms[2];
    float *ps[2] = {p1, p3}, *gs[2] = {g1, g3};
    const int threads[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        pool_set_threads(threads[k]);
        memcpy(gs[k], g, n * sizeof(float));
        norms[k] = optim_clip_grad_norm(gs[k], n, 100.0);
        Optim *o = optim_create(&c, n);
        for (int s = 0; s < 3; s++) optim_step(o, ps[k], gs[k], 1e-2f);
        optim_free(o);
    }
    pool_set_threads(0);
    cr_assert(fabs(norms[0] - want) < 1e-9 * want, "%.17g vs %.17g", norms[0], want);
    cr_assert_eq(memcmp(&norms[0], &norms[1], sizeof(double)), 0);
    cr_assert_eq(memcmp(g1, g3, n * sizeof(float)), 0);
    cr_assert_eq(memcmp(p1, p3, n * sizeof(float)), 0);
    free(p1);
    free(p3);
    free(g);
    free(g1);
    free(g3);
}

// ---- convergence ----------------------------------------------------------------------------

// f(p) = ½ Σ a_i (p_i - c_i)², curvatures spread over 100x; every optimiser reaches the minimum.
static double quad_grad(const float *p, float *g, int n) {
    double f = 0;
    for (int i = 0; i < n; i++) {
        float a = 0.1f + 9.9f * (float)i / (float)(n - 1), c = (float)i * 0.37f - 1.0f;
        g[i] = a * (p[i] - c);
        f += 0.5 * a * (double)(p[i] - c) * (p[i] - c);
    }
    return f;
}

static void converge(OptimConfig cfg, Sched sched, int steps, double tol) {
    enum { N = 9 };
    float p[N], g[N];
    for (int i = 0; i < N; i++) p[i] = 2.0f - 0.5f * (float)i;
    Optim *o = optim_create(&cfg, N);
    cr_assert_eq(sched_check(&sched), 0);
    double f0 = quad_grad(p, g, N), f = f0;
    for (int s = 0; s < steps; s++) {
        f = quad_grad(p, g, N);
        cr_assert_eq(optim_step(o, p, g, sched_lr(&sched, s)), 0);
    }
    f = quad_grad(p, g, N);
    for (int i = 0; i < N; i++) {
        float c = (float)i * 0.37f - 1.0f;
        cr_assert(fabsf(p[i] - c) < tol, "kind %d: p[%d] = %g, minimum at %g (f %g from %g)",
                  (int)cfg.kind, i, p[i], c, f, f0);
    }
    optim_free(o);
}

Test(optim, every_optimiser_converges_on_a_quadratic) {
    OptimConfig sgd = optim_defaults(OPTIM_SGD);
    converge(sgd, (Sched){SCHED_CONSTANT, 0.15f, 0, 0, 0}, 1500, 1e-4);  // lr < 2/max curvature
    sgd.momentum = 0.9;
    converge(sgd, (Sched){SCHED_CONSTANT, 0.02f, 0, 0, 0}, 1000, 1e-4);
    sgd.nesterov = 1;
    converge(sgd, (Sched){SCHED_CONSTANT, 0.02f, 0, 0, 0}, 1000, 1e-4);
    // Adam's steps are ~lr each, so it needs a decaying lr to settle: warm-up + cosine to 0.
    converge(optim_defaults(OPTIM_ADAM), (Sched){SCHED_WARMUP_COSINE, 0.05f, 20, 1500, 0}, 1500,
             1e-3);
    OptimConfig aw = optim_defaults(OPTIM_ADAMW);
    aw.weight_decay = 0.0;
    converge(aw, (Sched){SCHED_WARMUP_COSINE, 0.05f, 20, 1500, 0}, 1500, 1e-3);
}
