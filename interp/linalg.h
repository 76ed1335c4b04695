// linalg.h — the small dense linear algebra the analyses need, in double, in one place.
//
// PCA needs the eigenpairs of a d×d covariance; probes need a d×d ridge solve; both need the
// scatter Σ cᵀc of many centred rows. Matrices are row-major double arrays; n is their order.
//
//   linalg_eigh         symmetric eigendecomposition: Householder reduction to tridiagonal form,
//                       then implicit QR steps with Wilkinson shifts (Golub & Van Loan §8.3).
//                       O(n³); a few seconds at n = 1024.
//   linalg_eigh_jacobi  the same by cyclic Jacobi rotations: slower (O(n³) per sweep, ~8 sweeps),
//                       but each step is a plain 2×2 diagonalisation anyone can check. It stays in
//                       the tree as the reference the tests compare linalg_eigh against.
//   linalg_cholesky     A = L·Lᵀ for symmetric positive definite A, and the solve that uses it.
//   linalg_syrk         S += Cᵀ·C (lower triangle), threaded over rows of S with a fixed reduction
//                       order, so the sum is bit-identical for any thread count.
//
// Eigen output convention (both solvers): w[n] in DESCENDING order, V[n,n] whose ROW i is the unit
// eigenvector for w[i], so A = Σ_i w[i]·V[i,:]ᵀ·V[i,:] (A = Vᵀ·diag(w)·V). The sign of each
// eigenvector is whatever the solver produced; callers that need a convention impose it (PCA does).
#ifndef MECHLAB_LINALG_H
#define MECHLAB_LINALG_H

#include <stddef.h>

// Eigenvalues w[n] (descending) and eigenvectors V[n,n] (row i ↔ w[i]) of the symmetric A[n,n].
// Only the lower triangle of A (j <= i) is read. A is not modified; w and V must not alias it.
// Returns 0, or -1 with err_set if n < 1, A holds a NaN/Inf, memory runs out, or the iteration
// fails to converge (not seen on finite input; the limit is 30 QR steps per eigenvalue).
int linalg_eigh(double *w, double *V, const double *A, int n);

// The same result by cyclic Jacobi (the reference). Same contract as linalg_eigh.
int linalg_eigh_jacobi(double *w, double *V, const double *A, int n);

// Cholesky factor of the symmetric positive definite A[n,n] (lower triangle read): L[n,n] lower
// triangular with A = L·Lᵀ, upper triangle set to 0. L may alias A. Returns 0, or -1 with err_set
// ("matrix is not positive definite (pivot k = …)") if a pivot is <= n·DBL_EPSILON·max_i A[i,i]:
// such a matrix is singular to working precision and a solve with it would be noise.
int linalg_cholesky(double *L, const double *A, int n);

// Solves A·X = B in place for B[n, nrhs] (row-major: column r of B is one right-hand side), given
// L from linalg_cholesky. Forward then back substitution.
void linalg_cholesky_solve(double *B, const double *L, int n, int nrhs);

// S[d,d] lower triangle (j <= i) += Σ_{r<m} C[r,i]·C[r,j] for C[m,d]. The upper triangle is not
// touched. Each element sums r = 0..m-1 in order, whatever the thread count.
void linalg_syrk(double *S, const double *C, int m, int d);

// Copies the lower triangle of S[n,n] onto the upper one.
void linalg_symmetrize_lower(double *S, int n);

#endif
