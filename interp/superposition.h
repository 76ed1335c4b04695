// superposition.h — the geometry of features in a toy model's weights (Elhage et al. 2022).
//
// Every function looks at ONE instance: W is [n, m], row f is feature f's direction W_f in the
// m-dimensional hidden space (for a Toy, instance i is t->W + i·n·m). Sums are in double.
//
//   ‖W_f‖                          how strongly feature f is represented (1: fully, 0: dropped)
//   superposition_f = Σ_{g≠f} (Ŵ_f·W_g)²      how much other features interfere along W_f
//   D_f = ‖W_f‖² / Σ_g (Ŵ_f·W_g)²              feature dimensionality (the g = f term is ‖W_f‖²)
//   dimensions per feature = m / ‖W‖_F²
//   angle_f = atan2(W_f[1], W_f[0])             for m = 2, in degrees [0, 360)
//
// with Ŵ_f = W_f/‖W_f‖. A feature with W_f = 0 has no direction: its superposition and D_f are
// reported as 0 (it occupies no dimension). D_f is 1 for a feature with a dimension to itself,
// 1/2 for each of an antipodal pair, 2/5 for each of five features on a regular pentagon in 2-D.
//
// A feature counts as REPRESENTED when ‖W_f‖ > SUPERPOS_REPRESENTED (0.5), the midpoint between
// where trained features settle: a learned feature has ‖W_f‖ ≈ 1 (≈ 1.13 on the sparse pentagon),
// a dropped one decays towards 0 (< 0.05 in the dense n = 5, m = 2 model). Stuck instances can
// hold a feature part-way — the "square" local minimum of the sparse model leaves the fifth at
// ‖W_f‖ ≈ 0.3 — and that one is counted as not represented.
#ifndef MECHLAB_SUPERPOSITION_H
#define MECHLAB_SUPERPOSITION_H

#define SUPERPOS_REPRESENTED 0.5

// norm[f] = ‖W_f‖, f = 0..n-1.
void superpos_norms(double *norm, const float *W, int n, int m);

// sup[f] = Σ_{g≠f} (Ŵ_f·W_g)²  (0 where W_f = 0).
void superpos_interference(double *sup, const float *W, int n, int m);

// D[f] = ‖W_f‖² / Σ_g (Ŵ_f·W_g)²  (0 where W_f = 0).
void superpos_dimensionality(double *D, const float *W, int n, int m);

// Number of features with ‖W_f‖ > threshold (pass SUPERPOS_REPRESENTED for the standard count).
int superpos_represented(const float *W, int n, int m, double threshold);

// m / ‖W‖_F² (the paper's "dimensions per feature"); +Inf if W is all zero.
double superpos_dims_per_feature(const float *W, int n, int m);

// m = 2 only: angle[f] = atan2(W_f[1], W_f[0]) in degrees, in [0, 360) (0 where W_f = 0).
void superpos_angles(double *angle, const float *W, int n);

// m = 2 only: the angular gaps between consecutive represented features (‖W_f‖ > threshold) going
// round the circle: sorts their angles and writes gap[k] = angle[k+1] - angle[k] (the last one
// wraps past 360°), so the gaps sum to 360 when any feature is represented. gap must hold n
// values. Returns the number of represented features (= number of gaps).
int superpos_angle_gaps(double *gap, const float *W, int n, double threshold);

#endif
