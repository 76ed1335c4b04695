// features.h — data made of known sparse features in superposition (the ground truth a sparse
// autoencoder should recover; Sharkey, Braun & Millidge 2022).
//
// F feature directions are random unit vectors in D dimensions (F > D: they cannot all be
// orthogonal, so they sit in superposition). A sample is
//
//     x = Σ_i c_i · dir_i,   c_i = a_i · u_i,   a_i ~ Bernoulli(p) independently, u_i ~ U[0, 1)
//
// so on average F·p features are active per sample, each with a coefficient uniform in [0, 1).
// (Sharkey et al. also correlate features and decay their frequencies; here every feature is
// equally likely and independent, the plain version of their setting.)
//
// Everything is deterministic: the directions come from the seed given to feat_create, the
// samples from the Rng the caller passes to feat_sample (same state → same samples).
#ifndef MECHLAB_FEATURES_H
#define MECHLAB_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "model/rng.h"

typedef struct {
    int n_features;   // F
    int d;            // D
    double p_active;  // probability that a feature is active in a sample
    float *dirs;      // [F, D] unit rows, the true features
} FeatSet;

// F random unit directions (normal draws, normalised) in D dims from `seed`. Returns NULL with
// err_set on a bad argument (F or D < 1, p outside [0, 1]) or out of memory.
FeatSet *feat_create(int n_features, int d, double p_active, uint64_t seed);
void feat_free(FeatSet *fs);  // feat_free(NULL) is fine

// x[n, D] from n fresh samples; coef[n, F] (may be NULL) receives every c_i (0 when inactive).
// The coefficients are drawn by datasets/sparse.h (independent features, present with
// probability p, values U[0, 1)) in chunks of FEAT_CHUNK rows, one sparse_batch call each, and
// projected with gemm: the result depends only on the Rng state and n, for any thread count.
// Returns 0, or -1 with err_set (out of memory for the coefficients when coef is NULL).
#define FEAT_CHUNK 4096
int feat_sample(const FeatSet *fs, Rng *r, float *x, float *coef, size_t n);

#endif
