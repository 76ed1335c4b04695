#include "linalg.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"
#include "model/pool.h"

// ---- shared helpers ---------------------------------------------------------------------------

// Checks n and the finiteness of the lower triangle of A[n,n].
static int check_sym(const double *A, int n, const char *who) {
    if (n < 1) return err_set("%s: matrix order %d must be >= 1", who, n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++)
            if (!isfinite(A[(size_t)i * n + j]))
                return err_set("%s: element [%d,%d] is %g", who, i, j, A[(size_t)i * n + j]);
    return 0;
}

// Full symmetric copy of the lower triangle of A[n,n] into a[n,n].
static void copy_sym(double *a, const double *A, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) a[(size_t)i * n + j] = a[(size_t)j * n + i] = A[(size_t)i * n + j];
}

// Rows k and l of W[·,n] ← (c·W_k − s·W_l, s·W_k + c·W_l): a plane rotation of two eigenvector rows.
static void rotate_rows(double *W, int n, int k, int l, double c, double s) {
    double *wk = W + (size_t)k * n, *wl = W + (size_t)l * n;
    for (int j = 0; j < n; j++) {
        double a = wk[j], b = wl[j];
        wk[j] = c * a - s * b;
        wl[j] = s * a + c * b;
    }
}

// w[n] ← d[n] sorted descending and V's rows ← the matching rows of W[n,n]. Insertion sort on an
// index array: n is at most a few thousand and the order of equal values is then fixed by the
// input (ties keep the solver's order), so repeated runs agree.
static int sort_desc(double *w, double *V, const double *d, const double *W, int n) {
    int *idx = malloc((size_t)n * sizeof *idx);
    if (!idx) return err_set("eigh: out of memory");
    for (int i = 0; i < n; i++) {
        int k = i;
        while (k > 0 && d[idx[k - 1]] < d[i]) {
            idx[k] = idx[k - 1];
            k--;
        }
        idx[k] = i;
    }
    for (int i = 0; i < n; i++) {
        w[i] = d[idx[i]];
        memcpy(V + (size_t)i * n, W + (size_t)idx[i] * n, (size_t)n * sizeof *V);
    }
    free(idx);
    return 0;
}

// ---- Householder tridiagonalisation + implicit QR (the fast solver) ---------------------------

// a[n,n] (full symmetric, overwritten) → diag[n], off[n-1] of T = Qᵀ·a·Q and W[n,n] = Qᵀ.
// Step k reflects x = a[k+1:, k] onto alpha·e1 with H = I − β·v·vᵀ (v = x − alpha·e1,
// alpha = −sign(x0)·|x| so v0 does not cancel), applied to the trailing block as
// A22 ← A22 − v·qᵀ − q·vᵀ with p = β·A22·v, q = p − (β·vᵀp/2)·v. Each v is kept in row k of a
// (columns k+1..) and Qᵀ = H_{n−3}···H_0 is accumulated into W afterwards.
static void tridiagonalise(double *a, double *diag, double *off, double *W, double *beta,
                           double *p, int n) {
    for (int k = 0; k + 2 < n; k++) {
        double *v = a + (size_t)k * n;  // row k: by symmetry its tail is x = a[k+1:, k]
        int lo = k + 1;
        double scale = 0;
        for (int i = lo; i < n; i++) scale = fmax(scale, fabs(v[i]));
        beta[k] = 0;
        if (scale == 0) {
            off[k] = 0;
            continue;
        }
        double ss = 0;
        for (int i = lo; i < n; i++) ss += (v[i] / scale) * (v[i] / scale);
        double xnorm = scale * sqrt(ss);
        double alpha = v[lo] >= 0 ? -xnorm : xnorm;
        v[lo] -= alpha;
        double vtv = 0;
        for (int i = lo; i < n; i++) vtv += v[i] * v[i];
        off[k] = alpha;
        if (vtv == 0) continue;
        double b = 2.0 / vtv;
        beta[k] = b;
        double vtp = 0;
        for (int i = lo; i < n; i++) {
            const double *ai = a + (size_t)i * n;
            double s = 0;
            for (int j = lo; j < n; j++) s += ai[j] * v[j];
            p[i] = b * s;
            vtp += v[i] * p[i];
        }
        double K = 0.5 * b * vtp;
        for (int i = lo; i < n; i++) p[i] -= K * v[i];  // p is now q
        for (int i = lo; i < n; i++) {
            double *ai = a + (size_t)i * n;
            for (int j = lo; j < n; j++) ai[j] -= v[i] * p[j] + p[i] * v[j];
        }
    }
    for (int k = 0; k < n; k++) diag[k] = a[(size_t)k * n + k];
    if (n >= 2) off[n - 2] = a[(size_t)(n - 1) * n + (n - 2)];
    // W = H_{n−3}···H_0·I: apply H_0 first. H_k touches rows k+1.. only: u = vᵀ·W[k+1:, :],
    // W[k+1:, :] −= β·v·u.
    memset(W, 0, (size_t)n * n * sizeof *W);
    for (int i = 0; i < n; i++) W[(size_t)i * n + i] = 1;
    for (int k = 0; k + 2 < n; k++) {
        if (beta[k] == 0) continue;
        const double *v = a + (size_t)k * n;
        for (int j = 0; j < n; j++) p[j] = 0;
        for (int i = k + 1; i < n; i++) {
            const double *wi = W + (size_t)i * n;
            for (int j = 0; j < n; j++) p[j] += v[i] * wi[j];
        }
        for (int i = k + 1; i < n; i++) {
            double *wi = W + (size_t)i * n;
            double f = beta[k] * v[i];
            for (int j = 0; j < n; j++) wi[j] -= f * p[j];
        }
    }
}

static int negligible(const double *d, const double *e, int i) {
    return fabs(e[i]) <= DBL_EPSILON * (fabs(d[i]) + fabs(d[i + 1]));
}

// Diagonalises the tridiagonal (d[n], e[n-1]) by implicit symmetric QR steps with a Wilkinson
// shift, chasing the bulge with plane rotations R on coordinates (k, k+1):
// T ← Rᵀ·T·R, R = [[c, s], [−s, c]], and the eigenvector rows W ← Rᵀ·W.
static int tridiag_qr(double *d, double *e, double *W, int n) {
    long steps = 0, max_steps = 30L * n;
    int hi = n - 1;
    while (hi > 0) {
        if (negligible(d, e, hi - 1)) {
            e[hi - 1] = 0;
            hi--;
            continue;
        }
        int lo = hi - 1;
        while (lo > 0 && !negligible(d, e, lo - 1)) lo--;
        if (lo > 0) e[lo - 1] = 0;
        if (++steps > max_steps) return err_set("eigh: QR iteration did not converge");
        // Wilkinson shift: the eigenvalue of the trailing 2×2 block nearer d[hi].
        double dd = 0.5 * (d[hi - 1] - d[hi]), bb = e[hi - 1];
        double mu = d[hi] - bb * (bb / (dd + copysign(hypot(dd, bb), dd)));
        double x = d[lo] - mu, z = e[lo];
        for (int k = lo; k < hi; k++) {
            double r = hypot(x, z);
            double c = 1, s = 0;
            if (r > 0) {
                c = x / r;
                s = -z / r;
            }
            if (k > lo) e[k - 1] = r;  // the bulge at (k+1, k−1) is folded into (k, k−1)
            double p = d[k], q = e[k], t = d[k + 1];
            d[k] = c * c * p - 2 * c * s * q + s * s * t;
            e[k] = c * s * (p - t) + (c * c - s * s) * q;
            d[k + 1] = s * s * p + 2 * c * s * q + c * c * t;
            if (k + 1 < hi) {
                z = -s * e[k + 1];  // new bulge at (k+2, k)
                e[k + 1] *= c;
                x = e[k];
            }
            rotate_rows(W, n, k, k + 1, c, s);
        }
    }
    return 0;
}

int linalg_eigh(double *w, double *V, const double *A, int n) {
    if (check_sym(A, n, "eigh")) return -1;
    size_t nn = (size_t)n * n;
    double *a = malloc(nn * sizeof *a), *W = malloc(nn * sizeof *W);
    double *work = malloc((size_t)4 * n * sizeof *work);
    if (!a || !W || !work) {
        free(a);
        free(W);
        free(work);
        return err_set("eigh: out of memory for order %d", n);
    }
    double *diag = work, *off = work + n, *beta = work + 2 * n, *p = work + 3 * n;
    copy_sym(a, A, n);
    tridiagonalise(a, diag, off, W, beta, p, n);
    int rc = tridiag_qr(diag, off, W, n);
    if (!rc) rc = sort_desc(w, V, diag, W, n);
    free(a);
    free(W);
    free(work);
    return rc;
}

// ---- cyclic Jacobi (the reference) ------------------------------------------------------------

int linalg_eigh_jacobi(double *w, double *V, const double *A, int n) {
    if (check_sym(A, n, "eigh_jacobi")) return -1;
    size_t nn = (size_t)n * n;
    double *a = malloc(nn * sizeof *a), *W = calloc(nn, sizeof *W), *d = malloc((size_t)n * sizeof *d);
    if (!a || !W || !d) {
        free(a);
        free(W);
        free(d);
        return err_set("eigh_jacobi: out of memory for order %d", n);
    }
    copy_sym(a, A, n);
    for (int i = 0; i < n; i++) W[(size_t)i * n + i] = 1;
    double amax = 0;
    for (size_t i = 0; i < nn; i++) amax = fmax(amax, fabs(a[i]));
    // Off-diagonal entries shrink quadratically once small and are built only from other
    // off-diagonal entries, so they fall far below roundoff in the eigenvalues; stopping at
    // ε²·max|a| leaves them with no effect on any result.
    double tol = DBL_EPSILON * DBL_EPSILON * amax;
    int rc = -1;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) off = fmax(off, fabs(a[(size_t)p * n + q]));
        if (off <= tol) {
            rc = 0;
            break;
        }
        for (int p = 0; p < n; p++) {
            for (int q = p + 1; q < n; q++) {
                double apq = a[(size_t)p * n + q];
                if (fabs(apq) <= tol) continue;
                // R on (p, q) zeroes a[p,q] when t = tan φ solves t² + 2θt − 1 = 0 with
                // θ = (a_qq − a_pp)/(2 a_pq); the smaller root keeps |φ| <= π/4.
                double theta = (a[(size_t)q * n + q] - a[(size_t)p * n + p]) / (2 * apq);
                double t = fabs(theta) > 1e150 ? 0.5 / theta
                                               : copysign(1.0, theta) /
                                                     (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {  // columns p, q: a ← a·R
                    double *ak = a + (size_t)k * n;
                    double x = ak[p], y = ak[q];
                    ak[p] = c * x - s * y;
                    ak[q] = s * x + c * y;
                }
                rotate_rows(a, n, p, q, c, s);  // rows p, q: a ← Rᵀ·a
                a[(size_t)p * n + q] = a[(size_t)q * n + p] = 0;
                rotate_rows(W, n, p, q, c, s);
            }
        }
    }
    if (rc) {
        err_set("eigh_jacobi: no convergence in 100 sweeps");
    } else {
        for (int i = 0; i < n; i++) d[i] = a[(size_t)i * n + i];
        rc = sort_desc(w, V, d, W, n);
    }
    free(a);
    free(W);
    free(d);
    return rc;
}

// ---- Cholesky ---------------------------------------------------------------------------------

int linalg_cholesky(double *L, const double *A, int n) {
    if (check_sym(A, n, "cholesky")) return -1;
    if (L != A)
        for (int i = 0; i < n; i++) memcpy(L + (size_t)i * n, A + (size_t)i * n, (size_t)(i + 1) * sizeof *L);
    double dmax = 0;
    for (int i = 0; i < n; i++) dmax = fmax(dmax, L[(size_t)i * n + i]);
    double tol = n * DBL_EPSILON * dmax;
    for (int j = 0; j < n; j++) {
        double *lj = L + (size_t)j * n;
        double s = lj[j];
        for (int k = 0; k < j; k++) s -= lj[k] * lj[k];
        if (!(s > tol))
            return err_set("cholesky: matrix is not positive definite (pivot %d is %g, "
                           "tolerance %g)", j, s, tol);
        double ljj = sqrt(s);
        lj[j] = ljj;
        for (int i = j + 1; i < n; i++) {
            double *li = L + (size_t)i * n;
            double t = li[j];
            for (int k = 0; k < j; k++) t -= li[k] * lj[k];
            li[j] = t / ljj;
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) L[(size_t)i * n + j] = 0;
    return 0;
}

void linalg_cholesky_solve(double *B, const double *L, int n, int nrhs) {
    // L·Y = B, row by row (rows of B are contiguous).
    for (int i = 0; i < n; i++) {
        double *bi = B + (size_t)i * nrhs;
        const double *li = L + (size_t)i * n;
        for (int k = 0; k < i; k++) {
            const double *bk = B + (size_t)k * nrhs;
            for (int r = 0; r < nrhs; r++) bi[r] -= li[k] * bk[r];
        }
        for (int r = 0; r < nrhs; r++) bi[r] /= li[i];
    }
    // Lᵀ·X = Y, from the last row up.
    for (int i = n - 1; i >= 0; i--) {
        double *bi = B + (size_t)i * nrhs;
        for (int k = i + 1; k < n; k++) {
            const double *bk = B + (size_t)k * nrhs;
            double lki = L[(size_t)k * n + i];
            for (int r = 0; r < nrhs; r++) bi[r] -= lki * bk[r];
        }
        for (int r = 0; r < nrhs; r++) bi[r] /= L[(size_t)i * n + i];
    }
}

// ---- scatter ----------------------------------------------------------------------------------

// Rows of S per task: eight rows of up to d doubles stay in L1/L2 while every row of C streams by.
#define SYRK_ROWS 8
// Below this many multiply-adds the pool's hand-off costs more than the work.
#define SYRK_SERIAL_MAX (1L << 18)

typedef struct {
    double *S;
    const double *C;
    int m, d;
} SyrkCtx;

// S[i0:i1, 0:i+1] += Σ_r C[r,i]·C[r,0:i+1], r in order: each element's sum has one fixed order.
static void syrk_task(void *ctx, int task, int thread) {
    (void)thread;
    const SyrkCtx *c = ctx;
    int d = c->d, i0 = task * SYRK_ROWS, i1 = i0 + SYRK_ROWS < d ? i0 + SYRK_ROWS : d;
    for (int r = 0; r < c->m; r++) {
        const double *cr = c->C + (size_t)r * d;
        for (int i = i0; i < i1; i++) {
            double ci = cr[i];
            double *si = c->S + (size_t)i * d;
            for (int j = 0; j <= i; j++) si[j] += ci * cr[j];
        }
    }
}

void linalg_syrk(double *S, const double *C, int m, int d) {
    SyrkCtx ctx = {S, C, m, d};
    int ntasks = (d + SYRK_ROWS - 1) / SYRK_ROWS;
    if ((long)m * d * (d + 1) / 2 < SYRK_SERIAL_MAX) {
        for (int t = 0; t < ntasks; t++) syrk_task(&ctx, t, 0);
    } else {
        pool_for(ntasks, syrk_task, &ctx);
    }
}

void linalg_symmetrize_lower(double *S, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) S[(size_t)j * n + i] = S[(size_t)i * n + j];
}
