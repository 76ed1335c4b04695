// PCA: a planted covariance (known basis and spectrum) recovered within bounds set by sampling
// statistics, against a brute-force two-pass covariance and power iteration with deflation;
// hand-computed small cases (centred and about the origin); explained-variance ratios, the sign
// convention, the projection of the mean; batching and thread count giving bit-identical results;
// a large common offset costing no precision; and the error paths.
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "interp/linalg.h"
#include "interp/pca.h"
#include "model/err.h"
#include "model/pool.h"
#include "model/rng.h"

TestSuite(pca);

// Q[d,d] with orthonormal rows (modified Gram–Schmidt twice on Gaussian rows).
static void random_orthonormal(double *Q, int d, Rng *r) {
    for (int i = 0; i < d * d; i++) Q[i] = rng_normal(r);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < d; i++) {
            double *qi = Q + (size_t)i * d;
            for (int k = 0; k < i; k++) {
                double dot = 0;
                for (int j = 0; j < d; j++) dot += qi[j] * Q[(size_t)k * d + j];
                for (int j = 0; j < d; j++) qi[j] -= dot * Q[(size_t)k * d + j];
            }
            double nrm = 0;
            for (int j = 0; j < d; j++) nrm += qi[j] * qi[j];
            for (int j = 0; j < d; j++) qi[j] /= sqrt(nrm);
        }
}

// X[n,d] rows x = mu + Σ_k sqrt(lam_k)·z_k·Q[k,:], z ~ N(0, I): covariance Qᵀ·diag(lam)·Q.
static float *planted_data(size_t n, int d, const double *Q, const double *lam, const double *mu,
                           Rng *r) {
    float *X = malloc(n * d * sizeof *X);
    double *x = malloc(d * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < d; j++) x[j] = mu ? mu[j] : 0;
        for (int k = 0; k < d; k++) {
            double a = sqrt(lam[k]) * rng_normal(r);
            for (int j = 0; j < d; j++) x[j] += a * Q[(size_t)k * d + j];
        }
        for (int j = 0; j < d; j++) X[i * d + j] = (float)x[j];
    }
    free(x);
    return X;
}

// The sample covariance of X[n,d] by the textbook two passes (mean, then centred products).
static void brute_cov(double *C, const float *X, size_t n, int d) {
    double *mu = calloc(d, sizeof *mu);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mu[j] += X[i * d + j];
    for (int j = 0; j < d; j++) mu[j] /= (double)n;
    memset(C, 0, (size_t)d * d * sizeof *C);
    for (size_t i = 0; i < n; i++)
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++)
                C[a * d + b] += (X[i * d + a] - mu[a]) * (X[i * d + b] - mu[b]);
    for (int a = 0; a < d * d; a++) C[a] /= (double)(n - 1);
    free(mu);
}

static double abs_cos(const double *a, const double *b, int d) {
    double s = 0, na = 0, nb = 0;
    for (int i = 0; i < d; i++) {
        s += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
    }
    return fabs(s) / sqrt(na * nb);
}

static void assert_sign_convention(const Pca *p) {
    int d = p->d;
    for (int k = 0; k < d; k++) {
        const double *v = p->components + (size_t)k * d;
        int arg = 0;
        for (int j = 1; j < d; j++)
            if (fabs(v[j]) > fabs(v[arg])) arg = j;
        cr_assert_gt(v[arg], 0, "component %d: largest loading v[%d] = %g", k, arg, v[arg]);
    }
}

Test(pca, recovers_planted_covariance) {
    // Sampling statistics fix n. For Gaussian data a simple eigenvalue of the sample covariance
    // is asymptotically normal around λ_k with standard deviation λ_k·sqrt(2/n) (Anderson 1963).
    // With n = 400 000 that is 0.22 % of λ_k, so the 1 % bound is 4.5 standard deviations for
    // each of the ten eigenvalues (two-sided tail 7e-6 each). Each recovered component is
    // v_k + Σ_{j≠k} ε_kj·v_j with Var ε_kj = λ_kλ_j / (n(λ_k − λ_j)²), so E[1 − |cos|] ≈
    // ½ Σ_j λ_kλ_j / (n(λ_k − λ_j)²); the test computes it and requires it to be 50× below the
    // 1e-3 bound (a sum of d − 1 squared normals exceeds 50× its mean with probability < 1e-9).
    enum { D = 10 };
    const size_t n = 400000;
    const double lam[D] = {16, 9, 5, 3, 2, 1.2, 0.7, 0.4, 0.2, 0.1};
    double Q[D * D], mu[D];
    for (int j = 0; j < D; j++) mu[j] = 3.0 + j;
    Rng r;
    rng_seed(&r, 101);
    random_orthonormal(Q, D, &r);
    double worst = 0;
    for (int k = 0; k < D; k++) {
        double s = 0;
        for (int j = 0; j < D; j++)
            if (j != k) s += lam[k] * lam[j] / ((double)n * (lam[k] - lam[j]) * (lam[k] - lam[j]));
        worst = fmax(worst, 0.5 * s);
    }
    cr_assert_lt(50 * worst, 1e-3, "n too small: expected 1 − |cos| up to %g", worst);
    float *X = planted_data(n, D, Q, lam, mu, &r);

    Pca *p = pca_fit(X, n, D, 1);
    cr_assert_not_null(p, "%s", err_msg());
    cr_assert_eq(p->n, (int64_t)n);
    double sum = 0, min_cos = 1, max_rel = 0;
    for (int k = 0; k < D; k++) {
        double rel = fabs(p->eigval[k] / lam[k] - 1), c = abs_cos(p->components + k * D, Q + k * D, D);
        max_rel = fmax(max_rel, rel);
        min_cos = fmin(min_cos, c);
        cr_assert_lt(rel, 0.01, "eigval[%d] = %g, planted %g", k, p->eigval[k], lam[k]);
        cr_assert_gt(c, 0.999, "component %d: |cos| %g", k, c);
        sum += p->ratio[k];
    }
    cr_log_info("pca planted: max eigenvalue rel err %.4f, min |cos| %.7f", max_rel, min_cos);
    cr_assert(fabs(sum - 1) < 1e-12, "ratios sum to %.17g", sum);
    assert_sign_convention(p);
    // The mean, within 5 standard errors sqrt(C_jj/n) of the planted one.
    for (int j = 0; j < D; j++) {
        double cjj = 0;
        for (int k = 0; k < D; k++) cjj += lam[k] * Q[k * D + j] * Q[k * D + j];
        cr_assert_lt(fabs(p->mean[j] - mu[j]), 5 * sqrt(cjj / n), "mean[%d] %g", j, p->mean[j]);
    }

    // Against the brute-force covariance: the whole matrix Vᵀ·diag(w)·V, then power iteration with
    // deflation for the top three pairs (neighbour ratios <= 0.6: 300 iterations are plenty).
    double C[D * D], B[D * D];
    brute_cov(C, X, n, D);
    double cmax = 0, err = 0;
    for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++) {
            double s = 0;
            for (int k = 0; k < D; k++)
                s += p->components[k * D + a] * p->eigval[k] * p->components[k * D + b];
            err = fmax(err, fabs(s - C[a * D + b]));
            cmax = fmax(cmax, fabs(C[a * D + b]));
        }
    cr_assert_lt(err, 1e-10 * cmax, "covariance differs from two-pass by %g", err);
    memcpy(B, C, sizeof B);
    for (int k = 0; k < 3; k++) {
        double x[D], y[D], mu_k = 0;
        for (int i = 0; i < D; i++) x[i] = 1.0 / (i + 1);
        for (int it = 0; it < 300; it++) {
            double nrm = 0;
            for (int i = 0; i < D; i++) {
                y[i] = 0;
                for (int j = 0; j < D; j++) y[i] += B[i * D + j] * x[j];
                nrm += y[i] * y[i];
            }
            for (int i = 0; i < D; i++) x[i] = y[i] / sqrt(nrm);
        }
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) mu_k += x[i] * B[i * D + j] * x[j];
        cr_assert(fabs(mu_k / p->eigval[k] - 1) < 1e-10, "pair %d: power %.17g pca %.17g", k, mu_k,
                  p->eigval[k]);
        cr_assert(1 - abs_cos(x, p->components + k * D, D) < 1e-10, "pair %d vector", k);
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) B[i * D + j] -= mu_k * x[i] * x[j];
    }

    // Projections: the mean projects to 0; each column's variance is its eigenvalue.
    float mean_row[D], proj_mean[D];
    for (int j = 0; j < D; j++) mean_row[j] = (float)p->mean[j];
    cr_assert_eq(pca_transform(p, proj_mean, mean_row, 1, D), 0);
    for (int k = 0; k < D; k++) cr_assert_lt(fabs(proj_mean[k]), 1e-5, "proj[%d] %g", k, proj_mean[k]);
    float *Z = malloc(n * 3 * sizeof *Z);
    cr_assert_eq(pca_transform(p, Z, X, n, 3), 0);
    for (int k = 0; k < 3; k++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < n; i++) m += Z[i * 3 + k];
        m /= (double)n;
        for (size_t i = 0; i < n; i++) v += (Z[i * 3 + k] - m) * (Z[i * 3 + k] - m);
        v /= (double)(n - 1);
        cr_assert_lt(fabs(m), 1e-5, "projection %d mean %g", k, m);
        cr_assert_lt(fabs(v / p->eigval[k] - 1), 1e-6, "projection %d variance %g vs %g", k, v,
                     p->eigval[k]);
    }
    free(Z);
    free(X);
    pca_free(p);
}

Test(pca, hand_example_centred) {
    // Points (10, −3) + {(1,1), (−1,−1), (2,2), (−2,−2)}: covariance [[10/3, 10/3], [10/3, 10/3]],
    // eigenvalues 20/3 and 0, first component (1,1)/√2, projections √2·(1, −1, 2, −2).
    const float X[8] = {11, -2, 9, -4, 12, -1, 8, -5};
    Pca *p = pca_fit(X, 4, 2, 1);
    cr_assert_not_null(p, "%s", err_msg());
    cr_assert(fabs(p->mean[0] - 10) < 1e-15 && fabs(p->mean[1] + 3) < 1e-15);
    cr_assert(fabs(p->eigval[0] - 20.0 / 3) < 1e-14, "%.17g", p->eigval[0]);
    cr_assert_lt(p->eigval[1], 1e-14);
    cr_assert(fabs(p->components[0] - M_SQRT1_2) < 1e-15 && fabs(p->components[1] - M_SQRT1_2) < 1e-15);
    cr_assert(fabs(p->ratio[0] - 1) < 1e-14 && p->ratio[1] < 1e-14);
    cr_assert(fabs(p->total_var - 20.0 / 3) < 1e-14);
    assert_sign_convention(p);
    float Z[4];
    const float want[4] = {(float)M_SQRT2, -(float)M_SQRT2, 2 * (float)M_SQRT2, -2 * (float)M_SQRT2};
    cr_assert_eq(pca_transform(p, Z, X, 4, 1), 0);
    assert_allclose(Z, want, 4, 1e-6, 1e-6);
    pca_free(p);

    // d = 1: the sample variance of {1, 2, 3} is 1.
    const float y[3] = {1, 2, 3};
    p = pca_fit(y, 3, 1, 1);
    cr_assert_not_null(p);
    cr_assert(fabs(p->eigval[0] - 1) < 1e-15 && p->components[0] == 1 && p->ratio[0] == 1);
    pca_free(p);
}

Test(pca, uncentred_rank_one_weight_matrix) {
    // Rows a_r·u with u = (0.75, 0.5, 0.25, 0.25, −0.25, 0) (unit, exact in float) and integer a_r:
    // about the origin the only non-zero eigenvalue is Σa²/n with component u; a weight matrix
    // such as W_pos is analysed this way.
    enum { N = 50, D = 6 };
    const float u[D] = {0.75f, 0.5f, 0.25f, 0.25f, -0.25f, 0};
    float X[N * D];
    double s2 = 0;
    for (int r = 0; r < N; r++) {
        int a = (r % 11) - 5;
        s2 += a * a;
        for (int j = 0; j < D; j++) X[r * D + j] = (float)a * u[j];
    }
    Pca *p = pca_fit(X, N, D, 0);
    cr_assert_not_null(p, "%s", err_msg());
    for (int j = 0; j < D; j++) cr_assert_eq(p->mean[j], 0.0);
    cr_assert(fabs(p->eigval[0] - s2 / N) < 1e-13, "%.17g vs %.17g", p->eigval[0], s2 / N);
    for (int k = 1; k < D; k++) cr_assert_lt(p->eigval[k], 1e-13);
    for (int j = 0; j < D; j++) cr_assert(fabs(p->components[j] - u[j]) < 1e-14, "u[%d]", j);
    cr_assert(fabs(p->ratio[0] - 1) < 1e-13);
    assert_sign_convention(p);
    pca_free(p);
}

Test(pca, batching_does_not_change_a_bit) {
    enum { D = 7 };
    const size_t n = 1500;
    double Q[D * D], lam[D] = {5, 4, 3, 2, 1, 0.5, 0.25}, mu[D] = {1, -2, 3, -4, 5, -6, 7};
    Rng r;
    rng_seed(&r, 102);
    random_orthonormal(Q, D, &r);
    float *X = planted_data(n, D, Q, lam, mu, &r);
    Pca *one = pca_fit(X, n, D, 1);
    Pca *many = pca_create(D, 1);
    const size_t sizes[] = {1, 2, 255, 256, 257, 3, 0, 500};
    size_t at = 0;
    for (size_t b = 0; b < sizeof sizes / sizeof *sizes; b++) {
        cr_assert_eq(pca_accumulate(many, X + at * D, sizes[b]), 0);
        at += sizes[b];
    }
    cr_assert_eq(pca_accumulate(many, X + at * D, n - at), 0);
    cr_assert_eq(pca_finish(many), 0);
    cr_assert_eq(memcmp(one->mean, many->mean, D * sizeof(double)), 0);
    cr_assert_eq(memcmp(one->eigval, many->eigval, D * sizeof(double)), 0);
    cr_assert_eq(memcmp(one->components, many->components, D * D * sizeof(double)), 0);
    pca_free(one);
    pca_free(many);
    free(X);
}

Test(pca, thread_count_does_not_change_a_bit) {
    // d = 48 makes each chunk's scatter large enough for the pool; 2000 rows give 32 transform
    // tasks.
    enum { D = 48 };
    const size_t n = 2000;
    double Q[D * D], lam[D];
    for (int k = 0; k < D; k++) lam[k] = 1.0 / (1 + k);
    Rng r;
    rng_seed(&r, 103);
    random_orthonormal(Q, D, &r);
    float *X = planted_data(n, D, Q, lam, NULL, &r);
    float *Z1 = malloc(n * 4 * sizeof *Z1), *Z2 = malloc(n * 4 * sizeof *Z2);
    pool_set_threads(1);
    Pca *a = pca_fit(X, n, D, 1);
    cr_assert_eq(pca_transform(a, Z1, X, n, 4), 0);
    pool_set_threads(2);
    Pca *b = pca_fit(X, n, D, 1);
    cr_assert_eq(pca_transform(b, Z2, X, n, 4), 0);
    pool_set_threads(0);
    cr_assert_eq(memcmp(a->eigval, b->eigval, D * sizeof(double)), 0);
    cr_assert_eq(memcmp(a->components, b->components, D * D * sizeof(double)), 0);
    cr_assert_eq(memcmp(Z1, Z2, n * 4 * sizeof *Z1), 0);
    pca_free(a);
    pca_free(b);
    free(X);
    free(Z1);
    free(Z2);
}

Test(pca, large_offset_costs_no_precision) {
    // A residual stream far from the origin: mean 1e5 per coordinate, spread ~1. Whatever the float
    // rows hold, the covariance must match the two-pass one to 1e-9 relative; the one-pass
    // Σxxᵀ/n − μμᵀ would lose ~10 of its 16 digits here.
    enum { D = 5 };
    const size_t n = 5000;
    double Q[D * D], lam[D] = {3, 2, 1, 0.5, 0.1}, mu[D] = {1e5, -2e5, 1.5e5, 1e5, -1e5};
    Rng r;
    rng_seed(&r, 104);
    random_orthonormal(Q, D, &r);
    float *X = planted_data(n, D, Q, lam, mu, &r);
    Pca *p = pca_fit(X, n, D, 1);
    cr_assert_not_null(p);
    double C[D * D], w[D], V[D * D];
    brute_cov(C, X, n, D);
    cr_assert_eq(linalg_eigh(w, V, C, D), 0);
    for (int k = 0; k < D; k++)
        cr_assert_lt(fabs(p->eigval[k] / w[k] - 1), 1e-9, "eigval[%d] %.17g vs %.17g", k,
                     p->eigval[k], w[k]);
    pca_free(p);
    free(X);
}

Test(pca, error_paths) {
    err_clear();
    cr_assert_null(pca_create(0, 1));
    Pca *p = pca_create(3, 1);
    float bad[6] = {1, 2, 3, 4, NAN, 6};
    cr_assert_eq(pca_accumulate(p, bad, 2), -1);
    cr_assert(strstr(err_msg(), "row 1 column 1"), "%s", err_msg());
    cr_assert_eq(p->n + p->nbuf, 0, "a rejected batch must add nothing");
    float one[3] = {1, 2, 3}, out[3];
    cr_assert_eq(pca_transform(p, out, one, 1, 1), -1);
    cr_assert_eq(pca_accumulate(p, one, 1), 0);
    cr_assert_eq(pca_finish(p), -1);  // one row: no sample covariance
    cr_assert(strstr(err_msg(), "at least 2"), "%s", err_msg());
    cr_assert_eq(pca_accumulate(p, one, 1), 0);
    cr_assert_eq(pca_finish(p), 0);
    cr_assert_eq(pca_accumulate(p, one, 1), -1);
    cr_assert_eq(pca_finish(p), -1);
    cr_assert_eq(pca_transform(p, out, one, 1, 4), -1);
    cr_assert_eq(pca_transform(p, out, one, 1, 0), -1);
    // Two identical rows: no variance, ratios all 0 rather than 0/0.
    for (int k = 0; k < 3; k++) cr_assert_eq(p->ratio[k], 0.0);
    pca_free(p);
    pca_free(NULL);
}
