// Probes: the logistic objective against closed-form values and central finite differences; a
// planted direction recovered from separable data with the control task at chance; multi-class
// clusters against the Bayes (nearest-centre) rule; ridge recovering a planted linear map exactly,
// a 1-D closed form with shrinkage, R² ≈ 0 on noise; confusion matrices, predictions and the
// original-space direction checked against the test's own arithmetic; determinism for seeds and
// thread counts; the error paths.
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "interp/probe.h"
#include "model/err.h"
#include "model/pool.h"
#include "model/rng.h"

TestSuite(probe);

// X[n,d] ~ N(0, I), labels [w·x + b > 0] for a random unit w. Returns X; w[d] is written.
static float *planted_binary(int n, int d, double b, double *w, int *labels, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    double nw = 0;
    for (int j = 0; j < d; j++) {
        w[j] = rng_normal(&r);
        nw += w[j] * w[j];
    }
    for (int j = 0; j < d; j++) w[j] /= sqrt(nw);
    float *X = malloc((size_t)n * d * sizeof *X);
    rng_fill_normal(&r, X, (size_t)n * d, 0, 1);
    for (int i = 0; i < n; i++) {
        double s = b;
        for (int j = 0; j < d; j++) s += w[j] * X[(size_t)i * d + j];
        labels[i] = s > 0;
    }
    return X;
}

static double cosine_f(const float *a, const double *b, int d) {
    double s = 0, na = 0, nb = 0;
    for (int j = 0; j < d; j++) {
        s += a[j] * b[j];
        na += (double)a[j] * a[j];
        nb += b[j] * b[j];
    }
    return s / sqrt(na * nb);
}

// The control probe's accuracy must sit at chance: for predictions that carry no information
// about the (shuffled) labels, the expected accuracy given the prediction frequencies q_c and
// label frequencies p_c on the test rows is Σ_c q_c·p_c, with standard deviation at most
// 0.5/sqrt(n_test) (a sum of n_test Bernoulli draws). The bound is 4 of those.
static void assert_control_at_chance(const Probe *p) {
    int C = p->n_classes;
    int64_t total = 0, diag = 0;
    double chance = 0;
    for (int a = 0; a < C; a++) {
        int64_t row = 0, col = 0;
        for (int b = 0; b < C; b++) {
            row += p->control_confusion[a * C + b];
            col += p->control_confusion[b * C + a];
        }
        chance += ((double)row / p->n_test) * ((double)col / p->n_test);
        total += row;
        diag += p->control_confusion[a * C + a];
    }
    cr_assert_eq(total, p->n_test);
    cr_assert(fabs((double)diag / p->n_test - p->control_acc) < 1e-15);
    double bound = 4 * 0.5 / sqrt(p->n_test);
    cr_log_info("control acc %.4f, chance %.4f, bound ±%.4f", p->control_acc, chance, bound);
    cr_assert_lt(fabs(p->control_acc - chance), bound, "control %.4f vs chance %.4f",
                 p->control_acc, chance);
}

Test(probe, objective_closed_form_at_zero) {
    // At θ = 0 every class is equally likely: f = log 2 (binary) and log C (softmax), whatever the
    // data; the bias gradient is the mean of (1/C − onehot) = 1/C − class frequency.
    enum { N = 40, D = 3 };
    float X[N * D];
    int lab2[N], lab3[N], rows[N];
    Rng r;
    rng_seed(&r, 1);
    rng_fill_normal(&r, X, N * D, 0, 1);
    int count3[3] = {0};
    for (int i = 0; i < N; i++) {
        rows[i] = i;
        lab2[i] = i % 2;
        lab3[i] = (int)rng_int(&r, 3);
        count3[lab3[i]]++;
    }
    double mean[D] = {0}, inv[D] = {1, 1, 1}, theta[3 * (D + 1)] = {0}, g[3 * (D + 1)], f;
    ProbeObjective o = {X, D, rows, N, lab2, 2, mean, inv, 0.5};
    cr_assert_eq(probe_logistic_objective(&o, theta, &f, g), 0);
    cr_assert(fabs(f - log(2.0)) < 1e-15, "%.17g", f);
    cr_assert(fabs(g[D]) < 1e-15, "binary bias gradient %g (balanced labels)", g[D]);
    o.labels = lab3;
    o.n_classes = 3;
    cr_assert_eq(probe_logistic_objective(&o, theta, &f, g), 0);
    cr_assert(fabs(f - log(3.0)) < 1e-15, "%.17g", f);
    for (int c = 0; c < 3; c++)
        cr_assert(fabs(g[3 * D + c] - (1.0 / 3 - (double)count3[c] / N)) < 1e-15, "class %d", c);
}

// Central differences of the objective in double: |fd − g| <= 1e-8·(1 + |g|) at every parameter.
static void gradcheck_objective(int n_classes, double l2, uint64_t seed) {
    enum { N = 30, D = 5 };
    float X[N * D];
    int labels[N], rows[N / 2];
    Rng r;
    rng_seed(&r, seed);
    rng_fill_normal(&r, X, N * D, 0.5f, 2.0f);
    for (int i = 0; i < N; i++) labels[i] = (int)rng_int(&r, (uint32_t)n_classes);
    for (int i = 0; i < N / 2; i++) rows[i] = 2 * i + 1;  // a subset, as a split would give
    double mean[D], inv[D];
    for (int j = 0; j < D; j++) {
        mean[j] = 0.3 * j;
        inv[j] = 1.0 / (1 + 0.2 * j);
    }
    int K = n_classes == 2 ? 1 : n_classes, P = K * (D + 1);
    double theta[4 * (D + 1)], g[4 * (D + 1)], gp[4 * (D + 1)], f, fp, fm;
    for (int i = 0; i < P; i++) theta[i] = 0.7 * rng_normal(&r);
    ProbeObjective o = {X, D, rows, N / 2, labels, n_classes, mean, inv, l2};
    cr_assert_eq(probe_logistic_objective(&o, theta, &f, g), 0);
    double worst = 0;
    for (int i = 0; i < P; i++) {
        const double h = 1e-6;
        double t = theta[i];
        theta[i] = t + h;
        probe_logistic_objective(&o, theta, &fp, gp);
        theta[i] = t - h;
        probe_logistic_objective(&o, theta, &fm, gp);
        theta[i] = t;
        double fd = (fp - fm) / (2 * h), err = fabs(fd - g[i]) / (1 + fabs(g[i]));
        worst = fmax(worst, err);
        cr_assert_lt(err, 1e-8, "classes %d param %d: fd %.12g analytic %.12g", n_classes, i, fd,
                     g[i]);
    }
    cr_log_info("gradcheck classes=%d l2=%g: worst rel err %.2e", n_classes, l2, worst);
}

Test(probe, objective_gradient_binary) { gradcheck_objective(2, 0.1, 2); }
Test(probe, objective_gradient_softmax) { gradcheck_objective(4, 0.05, 3); }
Test(probe, objective_gradient_without_l2) { gradcheck_objective(3, 0, 4); }

Test(probe, recovers_planted_direction) {
    // Gaussian X in d = 32, labels [w·x + 0.3 > 0], n = 4000 (3000 train, 1000 test). The classes
    // are separable, so with a small L2 the fitted boundary approaches the max-margin one, which
    // the planted w determines up to O(d/n_train).
    enum { N = 4000, D = 32 };
    const double b_true = 0.3;
    double w[D];
    int labels[N];
    float *X = planted_binary(N, D, b_true, w, labels, 21);
    ProbeConfig cfg = probe_defaults();
    cfg.seed = 7;
    Probe *p = probe_train_logistic(X, labels, N, D, 2, &cfg);
    cr_assert_not_null(p, "%s", err_msg());
    cr_assert_eq(p->n_out, 1);
    cr_assert_eq(p->n_test, 1000);
    cr_assert_eq(p->n_train, 3000);
    cr_assert(p->converged, "L-BFGS stopped after %d iterations", p->iters);
    double c = cosine_f(p->W, w, D), nw = 0;
    for (int j = 0; j < D; j++) nw += (double)p->W[j] * p->W[j];
    double b_hat = p->b[0] / sqrt(nw);
    cr_log_info("planted: cos %.5f, b/|W| %.4f, train %.4f, test %.4f, control %.4f, "
                "selectivity %.4f, %d iterations",
                c, b_hat, p->train_acc, p->test_acc, p->control_acc, p->selectivity, p->iters);
    cr_assert_gt(c, 0.99, "cos(learned, planted) = %.5f", c);
    cr_assert_lt(fabs(b_hat - b_true), 0.05, "offset %.4f vs %.1f", b_hat, b_true);
    cr_assert_gt(p->test_acc, 0.98);
    // Confusion: sums to the test size, rows sum to each class's test count.
    int64_t total = 0, right = 0;
    int64_t cls[2] = {0};
    for (int i = 0; i < p->n_test; i++) cls[labels[p->test_rows[i]]]++;
    for (int a = 0; a < 2; a++) {
        cr_assert_eq(p->confusion[a * 2] + p->confusion[a * 2 + 1], cls[a]);
        total += p->confusion[a * 2] + p->confusion[a * 2 + 1];
        right += p->confusion[a * 2 + a];
    }
    cr_assert_eq(total, p->n_test);
    cr_assert(fabs((double)right / p->n_test - p->test_acc) < 1e-15);
    assert_control_at_chance(p);
    cr_assert(fabs(p->selectivity - (p->test_acc - p->control_acc)) < 1e-15);
    cr_assert_gt(p->selectivity, 0.25);
    // The reported point is a minimum: the gradient there, recomputed, is within tolerance.
    double inv[D], g[D + 1], f;
    for (int j = 0; j < D; j++) inv[j] = 1 / p->std[j];
    ProbeObjective o = {X, D, p->train_rows, p->n_train, labels, 2, p->mean, inv, cfg.l2};
    cr_assert_eq(probe_logistic_objective(&o, p->W_std, &f, g), 0);
    for (int i = 0; i <= D; i++) cr_assert_leq(fabs(g[i]), cfg.tol, "grad[%d] %g", i, g[i]);
    cr_assert_eq(f, p->loss);
    free(X);
    probe_free(p);
}

Test(probe, predictions_and_original_space_direction_agree) {
    // probe_predict on the test rows reproduces test_acc; probe_decision equals W·x + b computed
    // here from the float original-space W and b (a check of the standardisation bookkeeping,
    // with features given large, different offsets and scales).
    enum { N = 600, D = 6 };
    double w[D];
    int labels[N];
    float *X = planted_binary(N, D, 0.0, w, labels, 22);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) X[i * D + j] = X[i * D + j] * (1 + j) + 100.0f * (j - 2);
    ProbeConfig cfg = probe_defaults();
    cfg.l2 = 1e-2;
    Probe *p = probe_train_logistic(X, labels, N, D, 2, &cfg);
    cr_assert_not_null(p, "%s", err_msg());
    int *pred = malloc(N * sizeof *pred);
    float *z = malloc(N * sizeof *z);
    cr_assert_eq(probe_predict(p, pred, X, N), 0);
    cr_assert_eq(probe_decision(p, z, X, N), 0);
    int right = 0;
    for (int i = 0; i < p->n_test; i++) right += pred[p->test_rows[i]] == labels[p->test_rows[i]];
    cr_assert(fabs((double)right / p->n_test - p->test_acc) < 1e-15);
    for (int i = 0; i < N; i++) {
        double s = p->b[0];
        for (int j = 0; j < D; j++) s += (double)p->W[j] * X[i * D + j];
        cr_assert(fabs(s - z[i]) < 1e-4 * (1 + fabs(z[i])), "row %d: %g vs %g", i, s, z[i]);
        cr_assert_eq(pred[i], z[i] > 0);
    }
    free(pred);
    free(z);
    free(X);
    probe_free(p);
}

Test(probe, multiclass_clusters_reach_bayes_accuracy) {
    // Four Gaussian clusters N(μ_c, I) in d = 16 with equal priors. The Bayes rule is the nearest
    // centre, and softmax regression is well specified here: W_a − W_b = μ_a − μ_b exactly for
    // the population optimum (up to the small L2 shrinkage).
    enum { N = 4000, D = 16, C = 4 };
    double mu[C][D];
    Rng r;
    rng_seed(&r, 31);
    for (int c = 0; c < C; c++) {
        double nrm = 0;
        for (int j = 0; j < D; j++) {
            mu[c][j] = rng_normal(&r);
            nrm += mu[c][j] * mu[c][j];
        }
        for (int j = 0; j < D; j++) mu[c][j] *= 2.2 / sqrt(nrm);
    }
    float *X = malloc((size_t)N * D * sizeof *X);
    int labels[N];
    for (int i = 0; i < N; i++) {
        labels[i] = (int)rng_int(&r, C);
        for (int j = 0; j < D; j++) X[i * D + j] = (float)(mu[labels[i]][j] + rng_normal(&r));
    }
    ProbeConfig cfg = probe_defaults();
    Probe *p = probe_train_logistic(X, labels, N, D, C, &cfg);
    cr_assert_not_null(p, "%s", err_msg());
    cr_assert_eq(p->n_out, C);
    cr_assert(p->converged);
    // Bayes accuracy on the same test rows.
    int bayes_right = 0;
    for (int i = 0; i < p->n_test; i++) {
        const float *x = X + (size_t)p->test_rows[i] * D;
        int best = 0;
        double bd = INFINITY;
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int j = 0; j < D; j++) s += (x[j] - mu[c][j]) * (x[j] - mu[c][j]);
            if (s < bd) {
                bd = s;
                best = c;
            }
        }
        bayes_right += best == labels[p->test_rows[i]];
    }
    double bayes = (double)bayes_right / p->n_test;
    double min_cos = 1;
    for (int a = 0; a < C; a++)
        for (int b = a + 1; b < C; b++) {
            float dw[D];
            double dm[D];
            for (int j = 0; j < D; j++) {
                dw[j] = p->W[a * D + j] - p->W[b * D + j];
                dm[j] = mu[a][j] - mu[b][j];
            }
            min_cos = fmin(min_cos, cosine_f(dw, dm, D));
        }
    cr_log_info("clusters: test %.4f, Bayes %.4f, min cos(W_a−W_b, μ_a−μ_b) %.4f, control %.4f",
                p->test_acc, bayes, min_cos, p->control_acc);
    // The excess error of a fitted linear rule over the Bayes rule shrinks like C·d/n_train
    // (≈ 0.02 here); 0.03 leaves room for that and for the noise of the difference between two
    // rules scored on the same 1000 rows.
    cr_assert_gt(p->test_acc, bayes - 0.03, "test %.4f, Bayes %.4f", p->test_acc, bayes);
    cr_assert_gt(min_cos, 0.95);
    int64_t total = 0;
    for (int i = 0; i < C * C; i++) total += p->confusion[i];
    cr_assert_eq(total, p->n_test);
    assert_control_at_chance(p);
    // The softmax is unchanged by adding one vector to every row of W, and each loss gradient sums
    // to zero over classes; with L2 the iterates from θ = 0 keep Σ_c W_c = 0.
    for (int j = 0; j < D; j++) {
        double s = 0;
        for (int c = 0; c < C; c++) s += p->W_std[c * D + j];
        cr_assert_lt(fabs(s), 1e-9, "Σ_c W[c,%d] = %g", j, s);
    }
    free(X);
    probe_free(p);
}

Test(probe, same_seed_identical_probe_any_thread_count) {
    enum { N = 4000, D = 32 };
    double w[D];
    int labels[N];
    float *X = planted_binary(N, D, 0.1, w, labels, 41);
    ProbeConfig cfg = probe_defaults();
    cfg.seed = 99;
    pool_set_threads(1);
    Probe *a = probe_train_logistic(X, labels, N, D, 2, &cfg);
    pool_set_threads(2);
    Probe *b = probe_train_logistic(X, labels, N, D, 2, &cfg);
    pool_set_threads(0);
    cr_assert(a && b);
    cr_assert_eq(memcmp(a->W_std, b->W_std, (D + 1) * sizeof(double)), 0);
    cr_assert_eq(memcmp(a->W, b->W, D * sizeof(float)), 0);
    cr_assert_eq(memcmp(a->test_rows, b->test_rows, N * sizeof(int)), 0);
    cr_assert(a->test_acc == b->test_acc && a->control_acc == b->control_acc && a->loss == b->loss);
    cfg.seed = 100;
    Probe *c = probe_train_logistic(X, labels, N, D, 2, &cfg);
    cr_assert_neq(memcmp(a->test_rows, c->test_rows, c->n_test * sizeof(int)), 0,
                  "another seed must give another split");
    probe_free(a);
    probe_free(b);
    probe_free(c);
    free(X);
}

Test(probe, ridge_recovers_planted_map_exactly) {
    // Y = X·W*ᵀ + b* with no noise and l2 = 0: least squares returns W*, b* to the float rounding of
    // Y (~1e-7 relative), and R² = 1 to that precision. Offsets in X test the standardisation.
    enum { N = 2000, D = 20, T = 3 };
    double Wt[T][D], bt[T];
    Rng r;
    rng_seed(&r, 51);
    for (int t = 0; t < T; t++) {
        bt[t] = 2 * rng_normal(&r);
        for (int j = 0; j < D; j++) Wt[t][j] = rng_normal(&r);
    }
    float *X = malloc((size_t)N * D * sizeof *X), *Y = malloc((size_t)N * T * sizeof *Y);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) X[i * D + j] = rng_normal(&r) * (0.5f + 0.1f * j) + (float)j;
    for (int i = 0; i < N; i++)
        for (int t = 0; t < T; t++) {
            double s = bt[t];
            for (int j = 0; j < D; j++) s += Wt[t][j] * X[i * D + j];
            Y[i * T + t] = (float)s;
        }
    ProbeConfig cfg = probe_defaults();
    cfg.l2 = 0;
    Probe *p = probe_train_ridge(X, Y, N, D, T, &cfg);
    cr_assert_not_null(p, "%s", err_msg());
    double werr = 0, berr = 0;
    for (int t = 0; t < T; t++) {
        for (int j = 0; j < D; j++) werr = fmax(werr, fabs(p->W[t * D + j] - Wt[t][j]));
        berr = fmax(berr, fabs(p->b[t] - bt[t]));
    }
    cr_log_info("ridge planted: max |W − W*| %.2e, max |b − b*| %.2e, test R² 1 − %.2e, "
                "control R² %.4f", werr, berr, 1 - p->test_r2, p->control_r2);
    cr_assert_lt(werr, 1e-5);
    cr_assert_lt(berr, 1e-4);
    cr_assert_gt(p->test_r2, 1 - 1e-9);
    cr_assert_gt(p->train_r2, 1 - 1e-9);
    for (int t = 0; t < T; t++) cr_assert_gt(p->test_r2_per_target[t], 1 - 1e-9);
    // The loss at the exact solution is rounding noise.
    cr_assert_lt(p->loss, 1e-9);
    // Control: shuffled target rows carry no information about X: R² near 0 (or below).
    cr_assert_lt(p->control_r2, 0.05);
    cr_assert_gt(p->selectivity, 0.95);
    float *yhat = malloc((size_t)N * T * sizeof *yhat);
    cr_assert_eq(probe_decision(p, yhat, X, N), 0);
    assert_allclose(yhat, Y, (size_t)N * T, 1e-4, 1e-5);
    free(yhat);
    free(X);
    free(Y);
    probe_free(p);
}

Test(probe, ridge_one_feature_closed_form_with_shrinkage) {
    // d = 1 in standardised space: G = 1, so w_std = cov(x, y)/(σ_x·(1 + λ)) and in the original
    // space w = cov(x, y)/(var(x)·(1 + λ)), b = ȳ − w·x̄ (population moments over the train rows).
    enum { N = 500 };
    const double lam = 0.5;
    float X[N], Y[N];
    Rng r;
    rng_seed(&r, 52);
    for (int i = 0; i < N; i++) {
        X[i] = 3 + 2 * rng_normal(&r);
        Y[i] = 1.5f * X[i] - 4 + rng_normal(&r);
    }
    ProbeConfig cfg = probe_defaults();
    cfg.l2 = lam;
    cfg.control = 0;
    Probe *p = probe_train_ridge(X, Y, N, 1, 1, &cfg);
    cr_assert_not_null(p, "%s", err_msg());
    double mx = 0, my = 0, sxx = 0, sxy = 0;
    int n = p->n_train;
    for (int i = 0; i < n; i++) {
        mx += X[p->train_rows[i]];
        my += Y[p->train_rows[i]];
    }
    mx /= n;
    my /= n;
    for (int i = 0; i < n; i++) {
        double dx = X[p->train_rows[i]] - mx, dy = Y[p->train_rows[i]] - my;
        sxx += dx * dx;
        sxy += dx * dy;
    }
    double w = sxy / (sxx * (1 + lam)), b = my - w * mx;
    cr_assert(fabs(p->W[0] - w) < 1e-6 * fabs(w), "w %.9g vs %.9g", p->W[0], w);
    cr_assert(fabs(p->b[0] - b) < 1e-5 * fabs(b), "b %.9g vs %.9g", p->b[0], b);
    cr_assert(isnan(p->control_r2) && isnan(p->selectivity), "control off: NaN");
    cr_assert_null(p->control_confusion);
    probe_free(p);
}

Test(probe, ridge_on_noise_has_r2_near_zero) {
    // Y independent of X: the fitted map is noise of size ~sqrt(d/n_train) per target, so the test
    // R² is about −d/n_train = −0.013 with standard deviation ~2·sqrt(d/(n_train·n_test)) = 0.01;
    // |R²| < 0.06 is over four of those.
    enum { N = 2000, D = 20 };
    float *X = malloc((size_t)N * D * sizeof *X), Y[N];
    Rng r;
    rng_seed(&r, 53);
    rng_fill_normal(&r, X, (size_t)N * D, 0, 1);
    rng_fill_normal(&r, Y, N, 5, 2);
    ProbeConfig cfg = probe_defaults();
    cfg.l2 = 0;
    Probe *p = probe_train_ridge(X, Y, N, D, 1, &cfg);
    cr_assert_not_null(p, "%s", err_msg());
    cr_log_info("ridge noise: test R² %.4f, train R² %.4f, control %.4f", p->test_r2, p->train_r2,
                p->control_r2);
    cr_assert_lt(fabs(p->test_r2), 0.06);
    cr_assert_lt(fabs(p->control_r2), 0.06);
    cr_assert_lt(p->train_r2, 0.04);  // in-sample R² of noise: ~d/n_train = 0.013
    free(X);
    probe_free(p);
}

Test(probe, constant_and_collinear_features) {
    // A constant feature gets weight 0 (no singular pivot); a duplicated feature is singular
    // without L2 (an error naming the fix) and fine with it.
    enum { N = 300, D = 3 };
    float X[N * D], Y[N];
    Rng r;
    rng_seed(&r, 54);
    for (int i = 0; i < N; i++) {
        X[i * D] = rng_normal(&r);
        X[i * D + 1] = 7;
        X[i * D + 2] = rng_normal(&r);
        Y[i] = 2 * X[i * D] - X[i * D + 2];
    }
    ProbeConfig cfg = probe_defaults();
    cfg.l2 = 0;
    Probe *p = probe_train_ridge(X, Y, N, D, 1, &cfg);
    cr_assert_not_null(p, "%s", err_msg());
    cr_assert_eq(p->W[1], 0.0f);
    cr_assert(fabs(p->W[0] - 2) < 1e-5 && fabs(p->W[2] + 1) < 1e-5);
    probe_free(p);
    for (int i = 0; i < N; i++) X[i * D + 1] = X[i * D];
    err_clear();
    cr_assert_null(probe_train_ridge(X, Y, N, D, 1, &cfg));
    cr_assert(strstr(err_msg(), "use a larger l2"), "%s", err_msg());
    cfg.l2 = 1e-3;
    p = probe_train_ridge(X, Y, N, D, 1, &cfg);
    cr_assert_not_null(p, "%s", err_msg());
    probe_free(p);
}

Test(probe, error_paths) {
    enum { N = 10, D = 2 };
    float X[N * D] = {0};
    int labels[N] = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
    ProbeConfig cfg = probe_defaults();
    err_clear();
    labels[3] = 2;
    cr_assert_null(probe_train_logistic(X, labels, N, D, 2, &cfg));
    cr_assert(strstr(err_msg(), "label 2 of row 3"), "%s", err_msg());
    labels[3] = 1;
    cr_assert_null(probe_train_logistic(X, labels, N, D, 1, &cfg));
    X[5] = NAN;
    cr_assert_null(probe_train_logistic(X, labels, N, D, 2, &cfg));
    cr_assert(strstr(err_msg(), "row 2 column 1"), "%s", err_msg());
    X[5] = 0;
    cfg.test_frac = 1;
    cr_assert_null(probe_train_logistic(X, labels, N, D, 2, &cfg));
    cfg.test_frac = 0.01;  // rounds to 0 test rows
    cr_assert_null(probe_train_logistic(X, labels, N, D, 2, &cfg));
    cfg = probe_defaults();
    cfg.l2 = -1;
    cr_assert_null(probe_train_ridge(X, X, N, D, 1, &cfg));
    cfg = probe_defaults();
    cr_assert_null(probe_train_logistic(X, labels, 2, D, 2, &cfg));
    Probe *p = probe_train_ridge(X, X, N, D, 2, &cfg);  // all-constant X: weights 0, no error
    cr_assert_not_null(p, "%s", err_msg());
    int pred[N];
    cr_assert_eq(probe_predict(p, pred, X, N), -1);
    probe_free(p);
    probe_free(NULL);
}
