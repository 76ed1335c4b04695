// sparse.h — synthetic sparse features for Toy Models of Superposition (Elhage et al. 2022).
//
// A batch is x[I, B, n]: for every instance i (a separate toy model trained in the same step) B
// rows of n features. Instance-major, so each instance's rows are one contiguous [B, n] matrix
// (the paper's code uses [B, I, n]; only the order of the loops differs).
//
// Every feature has the same probability p_i = 1 - S_i of being present in instance i (S_i is the
// instance's sparsity). A present feature takes a value drawn U[0, 1); an absent one is exactly 0.
// The features come in three groups, in this order:
//
//   features [0, 2c)            c CORRELATED pairs (2k, 2k+1): one draw decides for the pair;
//                               with probability p both are present, else both are 0. Their
//                               values are drawn independently.
//   features [2c, 2c + 2a)      a ANTI-CORRELATED pairs (2c + 2k, 2c + 2k + 1): with probability
//                               2p the pair is active, and then exactly one of the two (each
//                               with probability 1/2) is present. So at most one of the pair is
//                               ever nonzero, and each feature is still present with probability
//                               p (this needs p <= 1/2).
//   features [2c + 2a, n)       INDEPENDENT features, each present with probability p.
//
// These are the definitions of the paper's correlated / anti-correlated experiments (its code's
// generate_correlated_features / generate_anticorrelated_features), with pairs kept adjacent.
//
// Determinism: one call draws a single 64-bit key from the caller's Rng, and every block of rows
// of every instance gets its own generator derived from (key, block). The batch therefore depends
// only on the Rng state and the shapes — the same for any thread count — and the caller's Rng
// advances by exactly one draw per call.
#ifndef MECHLAB_SPARSE_H
#define MECHLAB_SPARSE_H

#include "model/rng.h"

typedef struct {
    int n_instances;       // I >= 1
    int n_features;        // n >= 1
    int n_correlated;      // c: correlated pairs (features 0 .. 2c-1)
    int n_anticorrelated;  // a: anti-correlated pairs (the next 2a features); 2c + 2a <= n
} SparseSpec;

// Checks the spec and the per-instance feature probabilities prob[I] (each in [0, 1], and <= 1/2
// when there are anti-correlated pairs). Returns 0, or -1 with err_set.
int sparse_check(const SparseSpec *spec, const float *prob);

// Fills x[I, B, n] with one batch (B >= 1). Returns 0, or -1 with err_set if the spec or the
// probabilities are bad (x is then untouched). Threaded over the pool; no allocation.
int sparse_batch(float *x, const SparseSpec *spec, const float *prob, int B, Rng *rng);

// The paper's sweep of feature probabilities across instances: prob[i] = base^(-i/(I-1)),
// i = 0..I-1 (1 for the first instance down to 1/base for the last; all 1 when I = 1).
// The paper uses base = 20 with 10 instances.
void sparse_prob_sweep(float *prob, int I, float base);

#endif
