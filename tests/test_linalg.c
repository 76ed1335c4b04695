// linalg: both eigensolvers against hand-computed eigenpairs (2×2 cases, a diagonal, a 1×1),
// matrices built from a known orthonormal basis and spectrum (repeated eigenvalues included),
// reconstruction A = Vᵀ·diag(w)·V and orthonormality on odd sizes, agreement between the
// tridiagonal-QR solver and the Jacobi reference, and power iteration with deflation for the top
// eigenpairs. Cholesky against reconstruction and a solve residual; syrk against a triple loop and
// across thread counts.
#include <float.h>
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "interp/linalg.h"
#include "model/err.h"
#include "model/pool.h"
#include "model/rng.h"

TestSuite(linalg);

typedef int (*eigh_fn)(double *, double *, const double *, int);
static const eigh_fn SOLVERS[2] = {linalg_eigh, linalg_eigh_jacobi};
static const char *SOLVER_NAMES[2] = {"eigh", "eigh_jacobi"};

// Q[n,n] with orthonormal rows: modified Gram–Schmidt, run twice, on Gaussian rows.
static void random_orthonormal(double *Q, int n, Rng *r) {
    for (int i = 0; i < n * n; i++) Q[i] = rng_normal(r);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) {
            double *qi = Q + (size_t)i * n;
            for (int k = 0; k < i; k++) {
                const double *qk = Q + (size_t)k * n;
                double dot = 0;
                for (int j = 0; j < n; j++) dot += qi[j] * qk[j];
                for (int j = 0; j < n; j++) qi[j] -= dot * qk[j];
            }
            double nrm = 0;
            for (int j = 0; j < n; j++) nrm += qi[j] * qi[j];
            nrm = sqrt(nrm);
            for (int j = 0; j < n; j++) qi[j] /= nrm;
        }
    }
}

// A = Qᵀ·diag(lam)·Q: row i of Q is the eigenvector for lam[i].
static void compose(double *A, const double *Q, const double *lam, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += Q[(size_t)k * n + i] * lam[k] * Q[(size_t)k * n + j];
            A[(size_t)i * n + j] = s;
        }
}

static double max_reconstruct_err(const double *A, const double *w, const double *V, int n) {
    double *B = malloc((size_t)n * n * sizeof *B);
    compose(B, V, w, n);
    double m = 0;
    for (int i = 0; i < n * n; i++) m = fmax(m, fabs(A[i] - B[i]));
    free(B);
    return m;
}

static double max_orthonormal_err(const double *V, int n) {
    double m = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += V[(size_t)i * n + k] * V[(size_t)j * n + k];
            m = fmax(m, fabs(s - (i == j)));
        }
    return m;
}

static void random_symmetric(double *A, int n, Rng *r) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) A[(size_t)i * n + j] = A[(size_t)j * n + i] = rng_normal(r);
}

// |dot| of two unit rows: 1 when they span the same line, whatever their signs.
static double abs_cos(const double *a, const double *b, int n) {
    double s = 0, na = 0, nb = 0;
    for (int i = 0; i < n; i++) {
        s += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
    }
    return fabs(s) / sqrt(na * nb);
}

Test(linalg, two_by_two_ones_off_diagonal) {
    // [[2,1],[1,2]]: eigenvalues 3 and 1, eigenvectors (1,1)/√2 and (1,−1)/√2.
    const double A[4] = {2, 1, 1, 2};
    const double v0[2] = {M_SQRT1_2, M_SQRT1_2}, v1[2] = {M_SQRT1_2, -M_SQRT1_2};
    for (int s = 0; s < 2; s++) {
        double w[2], V[4];
        cr_assert_eq(SOLVERS[s](w, V, A, 2), 0, "%s", SOLVER_NAMES[s]);
        cr_assert(fabs(w[0] - 3) < 1e-14 && fabs(w[1] - 1) < 1e-14, "%s: %.17g %.17g",
                  SOLVER_NAMES[s], w[0], w[1]);
        cr_assert(fabs(abs_cos(V, v0, 2) - 1) < 1e-14, "%s", SOLVER_NAMES[s]);
        cr_assert(fabs(abs_cos(V + 2, v1, 2) - 1) < 1e-14, "%s", SOLVER_NAMES[s]);
    }
}

Test(linalg, two_by_two_rotated_diagonal) {
    // A = Rᵀ·diag(5, −2)·R with R's rows (cos φ, sin φ), (−sin φ, cos φ): by hand,
    // A = [[5c² − 2s², 7cs], [7cs, 5s² − 2c²]].
    double phi = 0.3, c = cos(phi), s = sin(phi);
    const double A[4] = {5 * c * c - 2 * s * s, 7 * c * s, 7 * c * s, 5 * s * s - 2 * c * c};
    const double v0[2] = {c, s}, v1[2] = {-s, c};
    for (int k = 0; k < 2; k++) {
        double w[2], V[4];
        cr_assert_eq(SOLVERS[k](w, V, A, 2), 0);
        cr_assert(fabs(w[0] - 5) < 1e-14 && fabs(w[1] + 2) < 1e-14, "%s: %.17g %.17g",
                  SOLVER_NAMES[k], w[0], w[1]);
        cr_assert(fabs(abs_cos(V, v0, 2) - 1) < 1e-14, "%s", SOLVER_NAMES[k]);
        cr_assert(fabs(abs_cos(V + 2, v1, 2) - 1) < 1e-14, "%s", SOLVER_NAMES[k]);
    }
}

Test(linalg, diagonal_matrix_sorted_descending) {
    const double A[16] = {1, 0, 0, 0, 0, 4, 0, 0, 0, 0, -3, 0, 0, 0, 0, 2};
    const double want_w[4] = {4, 2, 1, -3};
    const int want_axis[4] = {1, 3, 0, 2};
    for (int k = 0; k < 2; k++) {
        double w[4], V[16];
        cr_assert_eq(SOLVERS[k](w, V, A, 4), 0);
        for (int i = 0; i < 4; i++) {
            cr_assert_eq(w[i], want_w[i], "%s: w[%d] = %g", SOLVER_NAMES[k], i, w[i]);
            for (int j = 0; j < 4; j++)
                cr_assert_eq(fabs(V[i * 4 + j]), j == want_axis[i] ? 1.0 : 0.0);
        }
    }
}

Test(linalg, one_by_one) {
    const double A[1] = {-7.5};
    for (int k = 0; k < 2; k++) {
        double w[1], V[1];
        cr_assert_eq(SOLVERS[k](w, V, A, 1), 0);
        cr_assert_eq(w[0], -7.5);
        cr_assert_eq(fabs(V[0]), 1.0);
    }
}

Test(linalg, repeated_eigenvalues) {
    // Spectrum {3, 3, 3, 1, 1, −2} in a random basis: eigenvalues to roundoff, and the computed
    // vectors of each repeated eigenvalue must span the same space as the planted ones (the sum of
    // squared projections onto the planted subspace equals its dimension).
    enum { N = 6 };
    const double lam[N] = {3, 3, 3, 1, 1, -2};
    double Q[N * N], A[N * N], w[N], V[N * N];
    Rng r;
    rng_seed(&r, 11);
    random_orthonormal(Q, N, &r);
    compose(A, Q, lam, N);
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(SOLVERS[k](w, V, A, N), 0);
        for (int i = 0; i < N; i++)
            cr_assert(fabs(w[i] - lam[i]) < 1e-13, "%s: w[%d] %.17g", SOLVER_NAMES[k], i, w[i]);
        cr_assert_lt(max_reconstruct_err(A, w, V, N), 1e-13);
        cr_assert_lt(max_orthonormal_err(V, N), 1e-13);
        const int groups[3][2] = {{0, 3}, {3, 5}, {5, 6}};
        for (int g = 0; g < 3; g++) {
            double mass = 0;
            for (int i = groups[g][0]; i < groups[g][1]; i++)
                for (int p = groups[g][0]; p < groups[g][1]; p++) {
                    double dot = 0;
                    for (int j = 0; j < N; j++) dot += V[i * N + j] * Q[p * N + j];
                    mass += dot * dot;
                }
            cr_assert(fabs(mass - (groups[g][1] - groups[g][0])) < 1e-12, "%s: group %d mass %.17g",
                      SOLVER_NAMES[k], g, mass);
        }
    }
}

Test(linalg, planted_spectrum_recovered) {
    // Distinct planted eigenvalues in a random basis: values to 1e-12, vectors |cos| to 1e-12.
    enum { N = 9 };
    const double lam[N] = {8, 5, 3.5, 2, 1, 0.5, 0, -1, -4};
    double Q[N * N], A[N * N], w[N], V[N * N];
    Rng r;
    rng_seed(&r, 12);
    random_orthonormal(Q, N, &r);
    compose(A, Q, lam, N);
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(SOLVERS[k](w, V, A, N), 0);
        for (int i = 0; i < N; i++) {
            cr_assert(fabs(w[i] - lam[i]) < 1e-12, "%s: w[%d] %.17g", SOLVER_NAMES[k], i, w[i]);
            cr_assert(fabs(abs_cos(V + i * N, Q + i * N, N) - 1) < 1e-12, "%s: v[%d]",
                      SOLVER_NAMES[k], i);
        }
    }
}

Test(linalg, reconstruction_and_orthonormality_odd_sizes) {
    const int sizes[] = {1, 2, 3, 5, 17, 65, 130};
    Rng r;
    rng_seed(&r, 13);
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
        int n = sizes[t];
        double *A = malloc((size_t)n * n * sizeof *A), *V = malloc((size_t)n * n * sizeof *V);
        double *w = malloc((size_t)n * sizeof *w);
        random_symmetric(A, n, &r);
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(SOLVERS[k](w, V, A, n), 0);
            double rec = max_reconstruct_err(A, w, V, n), orth = max_orthonormal_err(V, n);
            cr_assert_lt(rec, 1e-10, "%s n=%d: reconstruction error %g", SOLVER_NAMES[k], n, rec);
            cr_assert_lt(orth, 1e-12, "%s n=%d: orthonormality error %g", SOLVER_NAMES[k], n, orth);
            for (int i = 1; i < n; i++) cr_assert_geq(w[i - 1], w[i]);
        }
        free(A);
        free(V);
        free(w);
    }
}

Test(linalg, qr_solver_agrees_with_jacobi) {
    enum { N = 40 };
    double *A = malloc(N * N * sizeof *A), *V1 = malloc(N * N * sizeof *V1),
           *V2 = malloc(N * N * sizeof *V2), w1[N], w2[N];
    Rng r;
    rng_seed(&r, 14);
    random_symmetric(A, N, &r);
    cr_assert_eq(linalg_eigh(w1, V1, A, N), 0);
    cr_assert_eq(linalg_eigh_jacobi(w2, V2, A, N), 0);
    double gap = INFINITY;
    for (int i = 1; i < N; i++) gap = fmin(gap, w2[i - 1] - w2[i]);
    cr_assert_gt(gap, 1e-4);  // random spectra are well separated: vectors are then unique
    for (int i = 0; i < N; i++) {
        cr_assert(fabs(w1[i] - w2[i]) < 1e-12, "w[%d]: %.17g vs %.17g", i, w1[i], w2[i]);
        double c = abs_cos(V1 + i * N, V2 + i * N, N);
        cr_assert(fabs(c - 1) < 1e-10, "vector %d: |cos| %.17g", i, c);
    }
    free(A);
    free(V1);
    free(V2);
}

Test(linalg, top_eigenpairs_match_power_iteration_with_deflation) {
    // Power iteration on B = A + shift·I (shift makes every eigenvalue positive, so the largest
    // one dominates), deflating B ← B − λ·v·vᵀ after each pair. The planted spectrum has ratios
    // <= 0.8 between neighbours, so 400 iterations converge to ~1e-39 in the ratio.
    enum { N = 12, TOP = 4 };
    const double lam[N] = {10, 8, 6, 4.5, 3, 2, 1, 0.5, 0, -0.5, -1, -2};
    double Q[N * N], A[N * N], B[N * N], w[N], V[N * N];
    Rng r;
    rng_seed(&r, 15);
    random_orthonormal(Q, N, &r);
    compose(A, Q, lam, N);
    cr_assert_eq(linalg_eigh(w, V, A, N), 0);
    const double shift = 3;
    memcpy(B, A, sizeof B);
    for (int i = 0; i < N; i++) B[i * N + i] += shift;
    for (int k = 0; k < TOP; k++) {
        double x[N], y[N];
        for (int i = 0; i < N; i++) x[i] = 1.0 / (i + 1);  // not orthogonal to any eigenvector
        double mu = 0;
        for (int it = 0; it < 400; it++) {
            double nrm = 0;
            for (int i = 0; i < N; i++) {
                y[i] = 0;
                for (int j = 0; j < N; j++) y[i] += B[i * N + j] * x[j];
                nrm += y[i] * y[i];
            }
            nrm = sqrt(nrm);
            for (int i = 0; i < N; i++) x[i] = y[i] / nrm;
        }
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) mu += x[i] * B[i * N + j] * x[j];
        cr_assert(fabs((mu - shift) - w[k]) < 1e-10, "pair %d: power %.17g eigh %.17g", k,
                  mu - shift, w[k]);
        cr_assert(fabs(abs_cos(x, V + k * N, N) - 1) < 1e-10, "pair %d vector", k);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) B[i * N + j] -= mu * x[i] * x[j];
    }
}

Test(linalg, eigh_reads_only_the_lower_triangle) {
    double A[9] = {2, 99, 99, 1, 3, 99, 0.5, -1, 4};  // upper triangle is junk
    double S[9] = {2, 1, 0.5, 1, 3, -1, 0.5, -1, 4};
    double w1[3], w2[3], V1[9], V2[9];
    cr_assert_eq(linalg_eigh(w1, V1, A, 3), 0);
    cr_assert_eq(linalg_eigh(w2, V2, S, 3), 0);
    cr_assert_eq(memcmp(w1, w2, sizeof w1), 0);
    cr_assert_eq(memcmp(V1, V2, sizeof V1), 0);
}

Test(linalg, eigh_rejects_bad_input) {
    double A[4] = {1, 0, NAN, 1}, w[2], V[4];
    err_clear();
    cr_assert_eq(linalg_eigh(w, V, A, 2), -1);
    cr_assert(strstr(err_msg(), "[1,0]"), "%s", err_msg());
    cr_assert_eq(linalg_eigh_jacobi(w, V, A, 2), -1);
    cr_assert_eq(linalg_eigh(w, V, A, 0), -1);
}

Test(linalg, cholesky_factor_and_solve) {
    enum { N = 23, R = 3 };
    double G[N * N], A[N * N], L[N * N], X[N * R], B[N * R];
    Rng r;
    rng_seed(&r, 16);
    // A = GᵀG/N + I: symmetric positive definite.
    for (int i = 0; i < N * N; i++) G[i] = rng_normal(&r);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < N; k++) s += G[k * N + i] * G[k * N + j];
            A[i * N + j] = s / N + (i == j);
        }
    cr_assert_eq(linalg_cholesky(L, A, N), 0);
    double err = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            if (j > i) cr_assert_eq(L[i * N + j], 0.0);
            double s = 0;
            for (int k = 0; k < N; k++) s += L[i * N + k] * L[j * N + k];
            err = fmax(err, fabs(s - A[i * N + j]));
        }
    cr_assert_lt(err, 1e-13, "L·Lᵀ − A: %g", err);
    // B = A·X for a known X; the solve must return X.
    for (int i = 0; i < N * R; i++) X[i] = rng_normal(&r);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < R; c++) {
            double s = 0;
            for (int k = 0; k < N; k++) s += A[i * N + k] * X[k * R + c];
            B[i * R + c] = s;
        }
    linalg_cholesky_solve(B, L, N, R);
    for (int i = 0; i < N * R; i++) cr_assert(fabs(B[i] - X[i]) < 1e-12, "x[%d]", i);
    // In place (L aliasing A) gives the same factor.
    cr_assert_eq(linalg_cholesky(A, A, N), 0);
    cr_assert_eq(memcmp(A, L, sizeof A), 0);
}

Test(linalg, cholesky_hand_example) {
    // [[4, 2], [2, 5]] = L·Lᵀ with L = [[2, 0], [1, 2]]; solve [[4,2],[2,5]]·x = (8, 12) → (1, 2).
    const double A[4] = {4, 2, 2, 5};
    double L[4], b[2] = {8, 12};
    cr_assert_eq(linalg_cholesky(L, A, 2), 0);
    cr_assert(L[0] == 2 && L[1] == 0 && L[2] == 1 && L[3] == 2);
    linalg_cholesky_solve(b, L, 2, 1);
    cr_assert(fabs(b[0] - 1) < 1e-15 && fabs(b[1] - 2) < 1e-15);
}

Test(linalg, cholesky_rejects_indefinite_and_singular) {
    const double indef[4] = {1, 2, 2, 1};  // eigenvalues 3 and −1
    const double sing[9] = {1, 1, 2, 1, 1, 2, 2, 2, 4};  // rank 1
    double L[9];
    err_clear();
    cr_assert_eq(linalg_cholesky(L, indef, 2), -1);
    cr_assert(strstr(err_msg(), "not positive definite"), "%s", err_msg());
    cr_assert_eq(linalg_cholesky(L, sing, 3), -1);
}

Test(linalg, syrk_matches_triple_loop_for_any_thread_count) {
    enum { M = 300, D = 70 };
    double *C = malloc(M * D * sizeof *C), *S1 = calloc(D * D, sizeof *S1),
           *S2 = calloc(D * D, sizeof *S2), *ref = calloc(D * D, sizeof *ref);
    Rng r;
    rng_seed(&r, 17);
    for (int i = 0; i < M * D; i++) C[i] = rng_normal(&r);
    for (int i = 0; i < D * D; i++) S1[i] = S2[i] = ref[i] = 0.25;  // syrk accumulates
    for (int i = 0; i < D; i++)
        for (int j = 0; j <= i; j++)
            for (int k = 0; k < M; k++) ref[i * D + j] += C[k * D + i] * C[k * D + j];
    pool_set_threads(1);
    linalg_syrk(S1, C, M, D);
    pool_set_threads(2);
    linalg_syrk(S2, C, M, D);
    pool_set_threads(0);
    cr_assert_eq(memcmp(S1, S2, D * D * sizeof *S1), 0, "thread count changed the sum");
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) {
            if (j > i) {
                cr_assert_eq(S1[i * D + j], 0.25, "upper triangle touched at [%d,%d]", i, j);
            } else {
                cr_assert(fabs(S1[i * D + j] - ref[i * D + j]) < 1e-11, "[%d,%d]", i, j);
            }
        }
    linalg_symmetrize_lower(S1, D);
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) cr_assert_eq(S1[i * D + j], S1[j * D + i]);
    free(C);
    free(S1);
    free(S2);
    free(ref);
}
