// pca.h — principal component analysis of any activation or weight matrix.
//
// X is [n, d] row-major float: activations at one hook point and position (one row per example),
// or a weight matrix such as W_pos [n_ctx, d_model]. Rows may arrive in batches, so n can be far
// larger than memory holds at once:
//
//     Pca *p = pca_create(d, 1);
//     for each batch: pca_accumulate(p, rows, n_rows);
//     pca_finish(p);                      // eigenvalues, components, ratios
//     pca_transform(p, out, X, n, k);     // projections onto the top k components
//     pca_free(p);
//
// Maths. With centring, the covariance is C = Σ_r (x_r − μ)(x_r − μ)ᵀ / (n − 1) (the sample
// covariance, as numpy.cov and sklearn's explained_variance_); without centring (PCA about the
// origin, i.e. the right singular vectors of X) it is Σ_r x_r x_rᵀ / n. The components are the unit
// eigenvectors of C in descending order of eigenvalue; eigval[k] is the variance of the data along
// component k, ratio[k] = eigval[k] / Σ eigval.
//
// Numerics. Sums are in double. Rows are gathered into fixed chunks of PCA_CHUNK rows (counted
// from the first row ever accumulated, not per call); each chunk is centred on its own mean and its
// scatter merged into the running one with Chan et al.'s pairwise update
//     M2 ← M2 + M2_chunk + δ·δᵀ · n_a·n_b / (n_a + n_b),   δ = mean_chunk − mean_so_far,
// so a large common offset (a residual stream far from the origin) costs no precision, as the
// one-pass Σxxᵀ − n·μμᵀ would. Because chunk boundaries do not depend on how the caller splits
// the rows, any batching gives a bit-identical result; the scatter is threaded with a fixed
// reduction order (linalg_syrk), so any thread count does too. Memory: 2·d² doubles held (the
// scatter and the components) plus PCA_CHUNK·d, and 3·d² more while pca_finish runs; none of it
// grows with n.
//
// Sign convention: an eigenvector's sign is arbitrary, so each component is flipped to make its
// largest-|loading| entry positive (the first such entry on an exact tie). Runs then agree, and
// so do projections. Where eigenvalues repeat, the components within that eigenspace are one
// orthonormal basis of it, not a unique one.
#ifndef MECHLAB_PCA_H
#define MECHLAB_PCA_H

#include <stddef.h>
#include <stdint.h>

#define PCA_CHUNK 256

typedef struct {
    int d;
    int center;  // 1: covariance about the mean; 0: second moment about the origin
    int64_t n;   // rows accumulated so far
    int finished;

    // Results, valid once pca_finish has returned 0.
    double *mean;        // [d] mean row (zeros when center == 0)
    double *eigval;      // [d] variance along each component, descending, >= 0
    double *ratio;       // [d] explained-variance ratios (sum 1; all 0 if the data has no variance)
    double *components;  // [d, d] row k = unit component k, sign convention above
    double total_var;    // Σ eigval (the trace of the covariance)

    // Accumulator state (internal).
    double *m2;   // [d, d] lower triangle: scatter about the running mean
    double *buf;  // [PCA_CHUNK, d] rows of the chunk being filled
    int nbuf;     // rows in buf
} Pca;

// An empty accumulator for rows of d floats; center as above. NULL with err_set if d < 1 or out of
// memory.
Pca *pca_create(int d, int center);
void pca_free(Pca *p);  // pca_free(NULL) is fine

// Adds the rows X[n, d]. Checks the whole batch first: a NaN or Inf anywhere rejects it (-1 with
// err_set naming the row, counted from the first row ever accumulated) and nothing is added.
// -1 too if pca_finish has already run.
int pca_accumulate(Pca *p, const float *X, size_t n);

// Computes mean, eigval, ratio, components and total_var. Needs n >= 2 when centring (n >= 1
// otherwise); -1 with err_set if not, or if the eigensolver fails. Afterwards the accumulator is
// closed: pca_accumulate refuses more rows.
int pca_finish(Pca *p);

// create + accumulate + finish in one call for a matrix in memory. NULL with err_set on failure.
Pca *pca_fit(const float *X, size_t n, int d, int center);

// out[n, k] = (X[n, d] − mean) · components[0:k, :]ᵀ, in double, rounded to float once. X may be
// any rows (new data too). Returns -1 with err_set if p is not finished or k is not in [1, d].
// Threaded over rows; each row's value is the same for any thread count.
int pca_transform(const Pca *p, float *out, const float *X, size_t n, int k);

#endif
