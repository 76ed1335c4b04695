// Toy Models of Superposition: the sparse-feature generator (density, range, pair structure,
// determinism), the geometry measures on hand-built W's (orthonormal pair, regular pentagon,
// antipodal pair), the model (a forward pass computed by hand, central finite differences for W
// and b_final with ReLU and linear outputs, thread-count independence), and short trainings that
// reproduce the paper's n = 5, m = 2 geometry: dense → 2 orthogonal features, sparse → pentagon,
// linear → 2 features at every sparsity.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/sparse.h"
#include "helpers.h"
#include "interp/superposition.h"
#include "model/err.h"
#include "model/pool.h"
#include "model/rng.h"
#include "model/toy.h"
#include "train/optim.h"

#define PI 3.14159265358979323846

TestSuite(toy);

// ==== sparse features =========================================================================

// Fraction of nonzero entries of feature f over the B rows of instance i.
static double density(const float *x, int B, int n, int i, int f) {
    int c = 0;
    for (int b = 0; b < B; b++) c += x[((size_t)i * B + b) * n + f] != 0.0f;
    return (double)c / B;
}

Test(toy, sparse_density_is_one_minus_sparsity_and_values_are_uniform) {
    enum { I = 4, n = 6, B = 20000 };
    const float prob[I] = {1.0f, 0.5f, 0.05f, 0.0f};
    SparseSpec s = {I, n, 0, 0};
    float *x = malloc(sizeof(float) * I * B * n);
    Rng r;
    rng_seed(&r, 3);
    cr_assert_eq(sparse_batch(x, &s, prob, B, &r), 0, "%s", err_msg());
    for (int i = 0; i < I; i++) {
        double sum = 0, sum2 = 0;
        long cnt = 0;
        for (int f = 0; f < n; f++) {
            double d = density(x, B, n, i, f), p = prob[i];
            // 5 binomial standard errors (plus a hair for p = 0 and 1, where it is 0)
            double tol = 5 * sqrt(p * (1 - p) / B) + 1e-4;
            cr_assert(fabs(d - p) <= tol, "instance %d feature %d: density %g, want %g ± %g", i,
                      f, d, p, tol);
        }
        for (size_t k = (size_t)i * B * n; k < (size_t)(i + 1) * B * n; k++) {
            cr_assert(x[k] >= 0.0f && x[k] < 1.0f, "x[%zu] = %g outside [0, 1)", k, x[k]);
            if (x[k] != 0.0f) sum += x[k], sum2 += (double)x[k] * x[k], cnt++;
        }
        if (cnt > 1000) {  // present values are U[0,1): mean 1/2, variance 1/12
            double mean = sum / cnt, var = sum2 / cnt - mean * mean;
            cr_assert(fabs(mean - 0.5) < 0.01, "instance %d: mean of present values %g", i, mean);
            cr_assert(fabs(var - 1.0 / 12) < 0.004, "instance %d: variance %g", i, var);
        }
    }
    free(x);
}

Test(toy, sparse_independent_features_are_independent) {
    enum { n = 4, B = 100000 };
    const float p = 0.3f;
    SparseSpec s = {1, n, 0, 0};
    float *x = malloc(sizeof(float) * B * n);
    Rng r;
    rng_seed(&r, 5);
    sparse_batch(x, &s, &p, B, &r);
    int both = 0;
    for (int b = 0; b < B; b++) both += x[b * n] != 0.0f && x[b * n + 1] != 0.0f;
    double pb = (double)both / B, want = (double)p * p;  // 0.09
    cr_assert(fabs(pb - want) < 5 * sqrt(want * (1 - want) / B), "P(both) %g, want %g", pb, want);
    free(x);
}

Test(toy, sparse_correlated_pairs_are_both_present_or_both_absent) {
    enum { n = 7, B = 40000 };  // 2 correlated pairs, then 3 independent features
    const float p = 0.2f;
    SparseSpec s = {1, n, 2, 0};
    float *x = malloc(sizeof(float) * B * n);
    Rng r;
    rng_seed(&r, 6);
    cr_assert_eq(sparse_batch(x, &s, &p, B, &r), 0, "%s", err_msg());
    double sab = 0, sa = 0, sb = 0;
    int cnt = 0;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < 2; k++) {
            float a = x[b * n + 2 * k], c = x[b * n + 2 * k + 1];
            cr_assert_eq(a != 0.0f, c != 0.0f, "row %d pair %d: %g and %g", b, k, a, c);
            if (a != 0.0f) sab += (double)a * c, sa += a, sb += c, cnt++;
        }
    for (int f = 0; f < n; f++) {
        double d = density(x, B, n, 0, f);
        cr_assert(fabs(d - p) < 5 * sqrt(p * (1 - p) / B), "feature %d density %g", f, d);
    }
    // The values of a present pair are drawn independently: covariance ≈ 0 (|cov| << 1/12).
    double cov = sab / cnt - (sa / cnt) * (sb / cnt);
    cr_assert(fabs(cov) < 0.005, "value covariance %g", cov);
    free(x);
}

Test(toy, sparse_anticorrelated_pairs_are_never_both_present) {
    enum { n = 5, B = 40000 };  // 1 correlated pair, 1 anti-correlated pair, 1 independent
    const float p = 0.3f;
    SparseSpec s = {1, n, 1, 1};
    float *x = malloc(sizeof(float) * B * n);
    Rng r;
    rng_seed(&r, 7);
    cr_assert_eq(sparse_batch(x, &s, &p, B, &r), 0, "%s", err_msg());
    int active = 0;
    for (int b = 0; b < B; b++) {
        float a = x[b * n + 2], c = x[b * n + 3];
        cr_assert(a == 0.0f || c == 0.0f, "row %d: anti-correlated pair both present", b);
        active += a != 0.0f || c != 0.0f;
        cr_assert_eq(x[b * n] != 0.0f, x[b * n + 1] != 0.0f);
    }
    for (int f = 0; f < n; f++) {  // each feature still present with probability p
        double d = density(x, B, n, 0, f);
        cr_assert(fabs(d - p) < 5 * sqrt(p * (1 - p) / B), "feature %d density %g", f, d);
    }
    double pa = (double)active / B;  // the pair is active with probability 2p
    cr_assert(fabs(pa - 2 * p) < 5 * sqrt(2 * p * (1 - 2 * p) / B), "pair active %g", pa);
    free(x);
}

Test(toy, sparse_same_seed_same_data_for_any_thread_count) {
    enum { I = 3, n = 9, B = 1000 };
    SparseSpec s = {I, n, 1, 2};
    const size_t N = (size_t)I * B * n;
    float *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
    float *c = malloc(sizeof(float) * N);
    Rng ra, rb, rc;
    rng_seed(&ra, 42);
    rng_seed(&rb, 42);
    rng_seed(&rc, 43);
    float p2[I] = {0.45f, 0.4f, 0.1f};  // anti-correlated pairs need p <= 1/2
    pool_set_threads(1);
    sparse_batch(a, &s, p2, B, &ra);
    pool_set_threads(3);
    sparse_batch(b, &s, p2, B, &rb);
    sparse_batch(c, &s, p2, B, &rc);
    pool_set_threads(0);
    cr_assert_eq(memcmp(a, b, sizeof(float) * N), 0, "same seed, 1 vs 3 threads differ");
    cr_assert_neq(memcmp(a, c, sizeof(float) * N), 0, "different seeds gave the same batch");
    // the caller's generator advanced by exactly one draw
    Rng r;
    rng_seed(&r, 42);
    rng_u64(&r);
    cr_assert_eq(memcmp(&r, &ra, sizeof r), 0);
    free(a);
    free(b);
    free(c);
}

Test(toy, sparse_bad_specs_are_refused) {
    float x[64];
    Rng r;
    rng_seed(&r, 1);
    float p = 0.6f;
    SparseSpec anti = {1, 4, 0, 1};
    cr_assert_eq(sparse_batch(x, &anti, &p, 2, &r), -1);
    cr_assert(strstr(err_msg(), "anti-correlated"), "%s", err_msg());
    SparseSpec pairs = {1, 5, 2, 1};  // 6 features needed
    p = 0.1f;
    cr_assert_eq(sparse_batch(x, &pairs, &p, 2, &r), -1);
    SparseSpec ok = {1, 4, 0, 0};
    float bad = 1.5f;
    cr_assert_eq(sparse_batch(x, &ok, &bad, 2, &r), -1);
    bad = NAN;
    cr_assert_eq(sparse_batch(x, &ok, &bad, 2, &r), -1);
    cr_assert_eq(sparse_batch(x, &ok, &p, 0, &r), -1);
}

Test(toy, sparse_probability_sweep_is_the_papers) {
    float p[10];
    sparse_prob_sweep(p, 10, 20.0f);  // 20^-linspace(0, 1, 10)
    cr_assert_float_eq(p[0], 1.0f, 1e-7f);
    cr_assert_float_eq(p[9], 0.05f, 1e-7f);
    cr_assert_float_eq(p[3], (float)pow(20.0, -3.0 / 9.0), 1e-7f);
    sparse_prob_sweep(p, 1, 20.0f);
    cr_assert_float_eq(p[0], 1.0f, 0.0f);
}

// ==== geometry measures ========================================================================

Test(toy, geometry_of_an_orthonormal_pair) {
    const float W[4] = {1, 0, 0, 1};  // two features, 2 dims
    double D[2], sup[2], norm[2], ang[2], gap[2];
    superpos_dimensionality(D, W, 2, 2);
    superpos_interference(sup, W, 2, 2);
    superpos_norms(norm, W, 2, 2);
    superpos_angles(ang, W, 2);
    for (int f = 0; f < 2; f++) {
        cr_assert(fabs(D[f] - 1.0) < 1e-12, "D[%d] = %g", f, D[f]);
        cr_assert(fabs(sup[f]) < 1e-12);
        cr_assert(fabs(norm[f] - 1.0) < 1e-12);
    }
    cr_assert(fabs(ang[0]) < 1e-12 && fabs(ang[1] - 90.0) < 1e-12);
    cr_assert_eq(superpos_represented(W, 2, 2, SUPERPOS_REPRESENTED), 2);
    cr_assert(fabs(superpos_dims_per_feature(W, 2, 2) - 1.0) < 1e-12);
    cr_assert_eq(superpos_angle_gaps(gap, W, 2, SUPERPOS_REPRESENTED), 2);
    cr_assert(fabs(gap[0] - 90.0) < 1e-9 && fabs(gap[1] - 270.0) < 1e-9);
}

Test(toy, geometry_of_a_regular_pentagon) {
    // Five unit vectors 72° apart, rotated by 10° and listed out of order.
    const int order[5] = {3, 0, 4, 1, 2};
    float W[10];
    for (int f = 0; f < 5; f++) {
        double a = (10.0 + 72.0 * order[f]) * PI / 180.0;
        W[2 * f] = (float)cos(a);
        W[2 * f + 1] = (float)sin(a);
    }
    double D[5], sup[5], gap[5];
    superpos_dimensionality(D, W, 5, 2);
    superpos_interference(sup, W, 5, 2);
    for (int f = 0; f < 5; f++) {
        // D = 1/(1 + 2cos²72° + 2cos²144°) = 1/(1 + 3/2) = 2/5 exactly
        cr_assert(fabs(D[f] - 0.4) < 1e-6, "D[%d] = %.9g", f, D[f]);
        cr_assert(fabs(sup[f] - 1.5) < 1e-6, "superposition[%d] = %.9g", f, sup[f]);
    }
    cr_assert_eq(superpos_angle_gaps(gap, W, 5, SUPERPOS_REPRESENTED), 5);
    for (int k = 0; k < 5; k++) cr_assert(fabs(gap[k] - 72.0) < 1e-4, "gap %d = %g", k, gap[k]);
    cr_assert(fabs(superpos_dims_per_feature(W, 5, 2) - 0.4) < 1e-6);
    // Scaling every W_f by 3 leaves D unchanged (it is a ratio of squared lengths).
    for (int k = 0; k < 10; k++) W[k] *= 3.0f;
    superpos_dimensionality(D, W, 5, 2);
    for (int f = 0; f < 5; f++) cr_assert(fabs(D[f] - 0.4) < 1e-6);
}

Test(toy, geometry_of_an_antipodal_pair_and_dropped_features) {
    // features 0, 1 antipodal along (0.6, 0.8); feature 2 dropped; feature 3 weak (0.3).
    const float W[8] = {0.6f, 0.8f, -0.6f, -0.8f, 0, 0, 0.3f, 0};
    double D[4], sup[4], ang[4], gap[4];
    superpos_dimensionality(D, W, 4, 2);
    superpos_interference(sup, W, 4, 2);
    superpos_angles(ang, W, 4);
    // along Ŵ_0: (Ŵ_0·W_1)² = 1 and (Ŵ_0·W_3)² = 0.18² = 0.0324, so D_0 = 1/(2 + 0.0324)
    cr_assert(fabs(D[0] - 1.0 / 2.0324) < 1e-6, "D[0] = %.9g", D[0]);
    cr_assert(fabs(sup[0] - 1.0324) < 1e-6, "superposition[0] = %.9g", sup[0]);
    cr_assert(fabs(D[2]) == 0.0 && sup[2] == 0.0, "a zero feature has D 0, superposition 0");
    cr_assert(fabs(ang[1] - (180.0 + atan2(0.8, 0.6) * 180.0 / PI)) < 1e-4, "angle %g", ang[1]);
    cr_assert_eq(superpos_represented(W, 4, 2, SUPERPOS_REPRESENTED), 2);
    cr_assert_eq(superpos_angle_gaps(gap, W, 4, SUPERPOS_REPRESENTED), 2);
    cr_assert(fabs(gap[0] - 180.0) < 1e-4 && fabs(gap[1] - 180.0) < 1e-4);
    // the pure antipodal pair: D = 1/2 each
    superpos_dimensionality(D, W, 2, 2);
    cr_assert(fabs(D[0] - 0.5) < 1e-7 && fabs(D[1] - 0.5) < 1e-7);
    const float zero[4] = {0};
    cr_assert(isinf(superpos_dims_per_feature(zero, 2, 2)));
    cr_assert_eq(superpos_angle_gaps(gap, zero, 2, SUPERPOS_REPRESENTED), 0);
}

Test(toy, geometry_in_three_dimensions) {
    // 4 features in 3-D: e1, e2, and (e3, -e3) antipodal: D = 1, 1, 1/2, 1/2.
    const float W[12] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, -1};
    double D[4];
    superpos_dimensionality(D, W, 4, 3);
    const double want[4] = {1, 1, 0.5, 0.5};
    for (int f = 0; f < 4; f++) cr_assert(fabs(D[f] - want[f]) < 1e-12, "D[%d] %g", f, D[f]);
    cr_assert(fabs(superpos_dims_per_feature(W, 4, 3) - 0.75) < 1e-12);  // Σ D_f / n too
}

// ==== the model ================================================================================

static Toy *make_toy(int I, int n, int m, int relu, int maxB, const float *imp) {
    ToyConfig c = {I, n, m, relu, maxB, 0.0f};
    Toy *t = toy_create(&c, imp);
    cr_assert_not_null(t, "%s", err_msg());
    return t;
}

// Two instances, n = 3, m = 2, worked out by hand (see the comments); batch of 2 equal rows.
Test(toy, forward_matches_a_hand_computation) {
    const float imp[6] = {1, 0.9f, 0.81f, 1, 0.9f, 0.81f};
    for (int relu = 0; relu < 2; relu++) {
        Toy *t = make_toy(2, 3, 2, relu, 4, imp);
        // instance 0: W rows (1,0), (0,1), (1,1); b = (0, -1, -2)
        // instance 1: W rows (0,2), (1,0), (0,0); b = (0.5, 0, 0)
        const float W[12] = {1, 0, 0, 1, 1, 1, 0, 2, 1, 0, 0, 0};
        const float b[6] = {0, -1, -2, 0.5f, 0, 0};
        memcpy(t->W, W, sizeof W);
        memcpy(t->b_final, b, sizeof b);
        // x: instance 0 rows (1, 0.5, 0) twice; instance 1 rows (0, 1, 1) twice
        const float x[12] = {1, 0.5f, 0, 1, 0.5f, 0, 0, 1, 1, 0, 1, 1};
        double total;
        cr_assert_eq(toy_forward(t, x, 2, &total), 0);
        // instance 0: h = (1, 0.5); Wh + b = (1, 0.5, 1.5) + b = (1, -0.5, -0.5)
        //   ReLU: x' = (1, 0, 0):  loss = 0 + 0.9·0.25 + 0 = 0.225
        //   linear: x' = (1, -0.5, -0.5): loss = 0 + 0.9·1 + 0.81·0.25 = 1.1025
        // instance 1: h = (1, 0); Wh + b = (0, 1, 0) + b = (0.5, 1, 0), ReLU changes nothing:
        //   loss = 0.25 + 0 + 0.81 = 1.06
        const float h_want[8] = {1, 0.5f, 1, 0.5f, 1, 0, 1, 0};
        assert_allclose(t->hidden, h_want, 8, 1e-7, 0);
        const float out0[3] = {1, relu ? 0 : -0.5f, relu ? 0 : -0.5f};
        assert_allclose(t->out, out0, 3, 1e-7, 0);
        const float out1[3] = {0.5f, 1, 0};
        assert_allclose(t->out + 9, out1, 3, 1e-7, 0);
        double l0 = relu ? 0.225 : 1.1025;
        cr_assert(fabs(t->loss[0] - l0) < 1e-6, "relu %d: loss[0] %.9g", relu, t->loss[0]);
        cr_assert(fabs(t->loss[1] - 1.06) < 1e-6, "loss[1] %.9g", t->loss[1]);
        cr_assert(fabs(total - (l0 + 1.06)) < 1e-6);
        toy_free(t);
    }
}

// Σ_i loss_i for the current parameters on x.
static double total_loss(Toy *t, const float *x, int B) {
    double L;
    cr_assert_eq(toy_forward(t, x, B, &L), 0);
    return L;
}

// Central differences for every parameter (W and b_final) against toy_backward.
static void gradient_check(int relu) {
    enum { I = 2, n = 5, m = 3, B = 7 };
    float imp[I * n];
    for (int k = 0; k < I * n; k++) imp[k] = 0.5f + 0.1f * (float)k;
    Toy *t = make_toy(I, n, m, relu, B, imp);
    float x[I * B * n];
    const float prob[I] = {0.7f, 0.4f};
    SparseSpec s = {I, n, 0, 0};
    const float h = 1e-3f;
    // Finite differences are meaningless across the ReLU kink, so the ReLU check draws
    // parameters and data (seed 17, 18, ...) until no pre-activation is within reach of it: a step
    // of h moves a pre-activation by at most ~h·(|x|·|W| + |h|) < 10h. The first draw that
    // qualifies is used; the gradients are then compared everywhere.
    for (uint64_t seed = 17;; seed++) {
        cr_assert_lt(seed, 117u, "no kink-free draw in 100 tries");
        toy_init(t, seed);
        Rng r;
        rng_seed(&r, seed + 1000);
        rng_fill_uniform(&r, t->b_final, (size_t)I * n, -0.3f, 0.3f);
        sparse_batch(x, &s, prob, B, &r);
        total_loss(t, x, B);
        double mn = 1e9;
        for (int k = 0; k < I * B * n; k++) mn = fmin(mn, fabs(t->pre[k]));
        if (!relu || mn > 10 * h) break;
    }
    params_zero_grad(&t->params);
    cr_assert_eq(toy_backward(t, x), 0);
    const size_t N = t->params.numel;
    float *num = malloc(N * sizeof(float));
    for (size_t k = 0; k < N; k++) {
        float keep = t->params.data[k];
        t->params.data[k] = keep + h;
        double lp = total_loss(t, x, B);
        t->params.data[k] = keep - h;
        double lm = total_loss(t, x, B);
        t->params.data[k] = keep;
        num[k] = (float)((lp - lm) / (2.0 * h));
    }
    // float forward: each loss carries ~1e-7 relative rounding, /2h → ~1e-4 absolute noise
    assert_allclose(t->params.grad, num, N, 5e-4, 5e-3);
    // and the gradient is not trivially zero
    cr_assert_gt(optim_grad_norm(t->params.grad, N), 0.05);
    free(num);
    toy_free(t);
}

Test(toy, gradients_match_finite_differences_relu) { gradient_check(1); }
Test(toy, gradients_match_finite_differences_linear) { gradient_check(0); }

Test(toy, backward_accumulates) {
    Toy *t = make_toy(2, 4, 2, 1, 8, NULL);
    toy_init(t, 3);
    float x[2 * 8 * 4];
    Rng r;
    rng_seed(&r, 4);
    const float p[2] = {1, 1};
    SparseSpec s = {2, 4, 0, 0};
    sparse_batch(x, &s, p, 8, &r);
    toy_forward(t, x, 8, NULL);
    toy_backward(t, x);
    float *once = malloc(t->params.numel * sizeof(float));
    memcpy(once, t->params.grad, t->params.numel * sizeof(float));
    toy_backward(t, x);
    for (size_t k = 0; k < t->params.numel; k++) once[k] *= 2.0f;
    assert_allclose(t->params.grad, once, t->params.numel, 1e-7, 1e-6);
    free(once);
    toy_free(t);
}

// Forward + backward give the same bits with 1 thread (instances as tasks) and 4 threads (more
// threads than instances: instances in turn, each gemm threaded).
Test(toy, identical_results_for_any_thread_count) {
    enum { I = 3, n = 20, m = 5, B = 300 };
    float *x = malloc(sizeof(float) * I * B * n);
    Rng r;
    rng_seed(&r, 9);
    const float p[I] = {1.0f, 0.3f, 0.05f};
    SparseSpec s = {I, n, 0, 0};
    sparse_batch(x, &s, p, B, &r);
    float *g[2];
    double L[2];
    const int threads[2] = {1, 4};
    for (int k = 0; k < 2; k++) {
        pool_set_threads(threads[k]);
        Toy *t = make_toy(I, n, m, 1, B, NULL);
        toy_init(t, 10);
        toy_forward(t, x, B, &L[k]);
        toy_backward(t, x);
        g[k] = malloc(t->params.numel * sizeof(float));
        memcpy(g[k], t->params.grad, t->params.numel * sizeof(float));
        toy_free(t);
    }
    pool_set_threads(0);
    cr_assert_eq(memcmp(&L[0], &L[1], sizeof(double)), 0, "loss %.17g vs %.17g", L[0], L[1]);
    cr_assert_eq(memcmp(g[0], g[1], sizeof(float) * (I * n * m + I * n)), 0);
    free(g[0]);
    free(g[1]);
    free(x);
}

Test(toy, init_is_xavier_normal_per_instance_and_independent_of_instance_count) {
    enum { n = 40, m = 10 };
    Toy *a = make_toy(2, n, m, 1, 1, NULL), *b = make_toy(5, n, m, 1, 1, NULL);
    toy_init(a, 77);
    toy_init(b, 77);
    // instances 0 and 1 start from the same W whatever I is
    cr_assert_eq(memcmp(a->W, b->W, sizeof(float) * 2 * n * m), 0);
    double s2 = 0, s = 0;
    const size_t N = (size_t)5 * n * m;
    for (size_t k = 0; k < N; k++) s += b->W[k], s2 += (double)b->W[k] * b->W[k];
    double std = sqrt(s2 / N - (s / N) * (s / N)), want = sqrt(2.0 / (n + m));  // 0.2
    cr_assert(fabs(std - want) < 0.01, "std %g, want %g", std, want);
    for (int k = 0; k < 5 * n; k++) cr_assert_eq(b->b_final[k], 0.0f);
    // a different seed, a different W; an explicit init_std is honoured
    toy_init(b, 78);
    cr_assert_neq(memcmp(a->W, b->W, sizeof(float) * n * m), 0);
    ToyConfig c = {1, n, m, 1, 1, 0.5f};
    Toy *d = toy_create(&c, NULL);
    toy_init(d, 1);
    s = s2 = 0;
    for (int k = 0; k < n * m; k++) s += d->W[k], s2 += (double)d->W[k] * d->W[k];
    std = sqrt(s2 / (n * m) - (s / (n * m)) * (s / (n * m)));
    cr_assert(fabs(std - 0.5) < 0.04, "std %g, want 0.5", std);
    toy_free(a);
    toy_free(b);
    toy_free(d);
}

Test(toy, bad_configs_and_batches_are_refused) {
    ToyConfig c = {0, 5, 2, 1, 16, 0};
    cr_assert_null(toy_create(&c, NULL));
    cr_assert(strstr(err_msg(), "n_instances"), "%s", err_msg());
    c = (ToyConfig){1, 5, 2, 1, 16, -1.0f};
    cr_assert_null(toy_create(&c, NULL));
    c = (ToyConfig){1, 2, 2, 1, 16, 0};
    const float bad_imp[2] = {1, -1};
    cr_assert_null(toy_create(&c, bad_imp));
    Toy *t = toy_create(&c, NULL);
    float x[2 * 17] = {0};
    cr_assert_eq(toy_backward(t, x), -1);  // no forward yet
    cr_assert_eq(toy_forward(t, x, 17, NULL), -1);
    cr_assert(strstr(err_msg(), "max_batch"), "%s", err_msg());
    cr_assert_eq(toy_forward(t, x, 0, NULL), -1);
    toy_free(t);
    toy_free(NULL);
}

// ==== training: the paper's n = 5, m = 2 results ================================================
//
// The paper's recipe (toy_models.ipynb): importance 0.9^f, batch 1024, AdamW at lr 1e-3 with
// torch's default weight decay 0.01, constant lr, 10 000 steps. Each setting trains R = 3
// instances (3 seeds) in the same batched run; the geometry is read off the instance with the
// lowest loss on a shared evaluation set of 128 × 1024 rows (paired: the same rows for the 3, so
// the comparison is not swamped by sampling noise — with 4 × 1024 rows it was, in the dense case,
// where converged instances differ in loss by ~1e-5).

enum { TN = 5, TM = 2, TB = 1024, R = 3, EVAL_BATCHES = 128 };

// Trains a toy of S settings × R instances (prob[s] for setting s) and returns it; best[s] is the
// lowest-evaluation-loss instance of setting s.
static Toy *train_settings(int relu, const float *probs, int S, int steps, uint64_t seed,
                           int *best) {
    const int I = S * R;
    float *imp = malloc(sizeof(float) * I * TN), *prob = malloc(sizeof(float) * I);
    for (int i = 0; i < I; i++) {
        prob[i] = probs[i / R];
        for (int f = 0; f < TN; f++) imp[i * TN + f] = powf(0.9f, (float)f);
    }
    Toy *t = make_toy(I, TN, TM, relu, TB, imp);
    toy_init(t, seed);
    OptimConfig oc = optim_defaults(OPTIM_ADAMW);  // lr 1e-3 below, weight decay 0.01
    Optim *o = optim_create(&oc, t->params.numel);
    SparseSpec sp = {I, TN, 0, 0};
    float *x = malloc(sizeof(float) * I * TB * TN);
    Rng r;
    rng_seed(&r, seed + 1);
    for (int s = 0; s < steps; s++) {
        cr_assert_eq(sparse_batch(x, &sp, prob, TB, &r), 0);
        params_zero_grad(&t->params);
        double L;
        toy_forward(t, x, TB, &L);
        cr_assert(isfinite(L));
        toy_backward(t, x);
        optim_step(o, t->params.data, t->params.grad, 1e-3f);
    }
    // evaluation: the R instances of a setting see the same rows
    double *ev = calloc((size_t)I, sizeof(double));
    for (int e = 0; e < EVAL_BATCHES; e++) {
        sparse_batch(x, &sp, prob, TB, &r);
        for (int i = 0; i < I; i++)
            if (i % R)
                memcpy(x + (size_t)i * TB * TN, x + (size_t)(i - i % R) * TB * TN,
                       sizeof(float) * TB * TN);
        toy_forward(t, x, TB, NULL);
        for (int i = 0; i < I; i++) ev[i] += t->loss[i] / EVAL_BATCHES;
    }
    for (int s = 0; s < S; s++) {
        best[s] = s * R;
        for (int i = s * R; i < s * R + R; i++)
            if (ev[i] < ev[best[s]]) best[s] = i;
    }
    free(ev);
    free(x);
    free(imp);
    free(prob);
    optim_free(o);
    return t;
}

static void describe(char *buf, size_t len, const float *W) {
    double nr[TN], D[TN];
    superpos_norms(nr, W, TN, TM);
    superpos_dimensionality(D, W, TN, TM);
    snprintf(buf, len, "|W_f| %.3f %.3f %.3f %.3f %.3f  D_f %.3f %.3f %.3f %.3f %.3f", nr[0], nr[1],
             nr[2], nr[3], nr[4], D[0], D[1], D[2], D[3], D[4]);
}

// Dense (1 - S = 1): two features, orthogonal (D = 1), the others dropped (|W_f| < 0.05). The
// dropped features' weights decay slowly along an almost flat direction of the loss, and Adam's
// noise at a constant lr keeps them at ~0.01 even when converged. In scratch runs of this exact
// recipe (12 seeds, checked every 2 000 steps) the best-of-3 passed at 8 000 steps in all but one,
// and in this test's own run at the paper's 10 000 steps the chosen instance's largest dropped
// |W_f| was 0.048 — a pass by a hair (that instance was still shedding a third feature, and the
// loss cannot tell 0.05 from 0.01). From 12 000 steps on it was <= 0.017 for all 12 seeds, so we
// run 12 000.
Test(toy, dense_relu_model_keeps_two_orthogonal_features) {
    const float p = 1.0f;
    int best;
    Toy *t = train_settings(1, &p, 1, 12000, 1, &best);
    const float *W = t->W + (size_t)best * TN * TM;
    char d[256];
    describe(d, sizeof d, W);
    double nr[TN], D[TN];
    superpos_norms(nr, W, TN, TM);
    superpos_dimensionality(D, W, TN, TM);
    cr_assert_eq(superpos_represented(W, TN, TM, SUPERPOS_REPRESENTED), 2, "%s", d);
    for (int f = 0; f < TN; f++) {
        if (nr[f] > SUPERPOS_REPRESENTED)
            cr_assert(fabs(D[f] - 1.0) < 0.02, "feature %d: D %g (%s)", f, D[f], d);
        else
            cr_assert(nr[f] < 0.05, "feature %d: |W_f| %g should be ~0 (%s)", f, nr[f], d);
    }
    // the two kept are the two most important
    cr_assert(nr[0] > SUPERPOS_REPRESENTED && nr[1] > SUPERPOS_REPRESENTED, "%s", d);
    cr_log_info("dense ReLU, best instance %d: %s", best, d);
    toy_free(t);
}

// Sparse (1 - S = 0.05): all five features on a regular pentagon. In scratch runs of this exact
// recipe the best-of-3 passed from 1 500 steps on for all of 12 seeds (checked every 500 steps to
// 4 000), with |D_f - 0.4| <= 0.011 and gaps within 2° of 72° at 3 000 steps; Adam's noise at a
// constant lr once took |D_f - 0.4| to 0.020 (at 4 000). We run 3 000.
Test(toy, sparse_relu_model_puts_five_features_on_a_pentagon) {
    const float p = 0.05f;
    int best;
    Toy *t = train_settings(1, &p, 1, 3000, 1, &best);
    const float *W = t->W + (size_t)best * TN * TM;
    char d[256];
    describe(d, sizeof d, W);
    double D[TN], gap[TN];
    superpos_dimensionality(D, W, TN, TM);
    cr_assert_eq(superpos_angle_gaps(gap, W, TN, SUPERPOS_REPRESENTED), 5, "%s", d);
    for (int f = 0; f < TN; f++)
        cr_assert(fabs(D[f] - 0.4) < 0.02, "feature %d: D %g, want 0.4 (%s)", f, D[f], d);
    for (int k = 0; k < 5; k++)
        cr_assert(fabs(gap[k] - 72.0) < 5.0, "gap %d: %g°, want 72° (%s)", k, gap[k], d);
    cr_log_info("sparse ReLU, best instance %d: %s; gaps %.1f %.1f %.1f %.1f %.1f", best, d,
                gap[0], gap[1], gap[2], gap[3], gap[4]);
    toy_free(t);
}

// The linear model has no way to filter interference, so it keeps exactly m = 2 features, each
// with a dimension of its own, at every sparsity. The best-of-3 passed from 5 000 steps on at
// all three sparsities for all of 12 seeds (checked every 500 steps to 10 000); we run 7 000.
Test(toy, linear_model_keeps_two_features_at_every_sparsity) {
    const float p[3] = {1.0f, 0.3f, 0.05f};
    int best[3];
    Toy *t = train_settings(0, p, 3, 7000, 1, best);
    for (int s = 0; s < 3; s++) {
        const float *W = t->W + (size_t)best[s] * TN * TM;
        char d[256];
        describe(d, sizeof d, W);
        double nr[TN], D[TN];
        superpos_norms(nr, W, TN, TM);
        superpos_dimensionality(D, W, TN, TM);
        cr_assert_eq(superpos_represented(W, TN, TM, SUPERPOS_REPRESENTED), 2, "1-S = %g: %s",
                     p[s], d);
        for (int f = 0; f < TN; f++)
            if (nr[f] > SUPERPOS_REPRESENTED)
                cr_assert(D[f] > 0.98, "1-S = %g feature %d: D %g (%s)", p[s], f, D[f], d);
        cr_log_info("linear, 1-S = %g, best instance %d: %s", p[s], best[s], d);
    }
    toy_free(t);
}
