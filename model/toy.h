// toy.h — the Toy Models of Superposition model (Elhage et al. 2022), many instances at once.
//
// Each instance is a separate small autoencoder trained in the same batched step (as the paper's
// code does it, so a sweep over sparsity or a handful of seeds costs one run):
//
//   h  = W_iᵀ x           x ∈ R^n (n features), h ∈ R^m (m hidden dims), W_i ∈ R^{n×m}
//   x' = ReLU(W_i h + b_i)     (ReLU output model), or  x' = W_i h + b_i  (linear model)
//
// in the paper's notation W ∈ R^{m×n}, h = Wx, x' = ReLU(WᵀWx + b); here W is stored transposed,
// as the paper's code stores it: the parameter "W" is [I, n, m] and the direction of feature f in
// instance i (the paper's W_f) is row f of instance i's [n, m] matrix. "b_final" is [I, n].
//
// Loss (one batch of B rows per instance):
//     L = Σ_i (1/B) Σ_b Σ_f importance[i,f] · (x[i,b,f] - x'[i,b,f])²
// i.e. mse_forward per instance, summed over instances, so each instance's parameters get the
// gradient of its own loss. The paper's code takes the mean over features as well as the batch
// (L/n here); under Adam that constant factor changes nothing but the loss value printed (and the
// size of eps relative to the gradient), and decoupled weight decay does not see it at all.
//
// Batches are instance-major: x, h and x' are [I, B, ·] (datasets/sparse.h writes x so).
// Forward and backward are explicit (llm.c style): per instance, two gemm() products forward and
// three backward, plus the ReLU and MSE ops. All activations live in one block sized for
// max_batch at create; forward and backward allocate nothing. Instances are independent, so the
// step is threaded over instances (each owns its slice of every buffer) — bit-identical for any
// thread count.
//
// Initialisation: W ~ N(0, std²) with std = sqrt(2/(n + m)) by default — Xavier-normal for one
// instance's [n, m] matrix — and b_final = 0. The paper's code calls torch's xavier_normal_ on
// the whole [I, n, m] tensor; torch then treats dim 1 as fan-in and dim 0 as fan-out with the
// last dim as "receptive field", so its std is sqrt(2/(n·m + I·m)) (0.258 for the paper's
// I = 10, n = 5, m = 2) and depends on how many instances share the run. We keep an instance's
// init independent of its neighbours; set init_std to reproduce the paper's value exactly. Each
// instance draws from its own generator derived from (seed, instance), so instance i starts
// from the same W whatever I is.
#ifndef MECHLAB_TOY_H
#define MECHLAB_TOY_H

#include <stdint.h>

#include "params.h"

typedef struct {
    int n_instances;  // I >= 1
    int n_features;   // n >= 1
    int n_hidden;     // m >= 1
    int relu;         // 1: x' = ReLU(W h + b); 0: linear x' = W h + b
    int max_batch;    // the largest B passed to toy_forward (sizes the activation block)
    float init_std;   // 0: sqrt(2/(n + m)); > 0: this std
} ToyConfig;

typedef struct {
    ToyConfig cfg;
    ParamSet params;    // "W" [I, n, m], "b_final" [I, n]
    float *W, *b_final;  // views into params.data
    float *dW, *db_final;  // views into params.grad
    float *importance;  // [I, n], owned (all ones unless given at create)

    // Activations of the last toy_forward (B rows per instance), views into one block:
    float *hidden;  // [I, B, m]   h[i,b,:] = x[i,b,:] · W_i
    float *pre;     // [I, B, n]   W_i h + b_i (before the ReLU)
    float *out;     // [I, B, n]   x' (the same buffer as pre for the linear model)
    double *loss;   // [I]         each instance's loss on the last batch
    int B;          // rows per instance in the last forward (0 before any)

    // Backward scratch, same block.
    float *dout;     // [I, B, n]
    float *dpre;     // [I, B, n]
    float *dhidden;  // [I, B, m]
    float *act;      // the block itself
} Toy;

// Checks the config, allocates parameters (W and b_final zero until toy_init) and the activation
// block, and copies importance[I, n] (NULL: all ones; entries must be finite and >= 0).
// Returns NULL with err_set on a bad config or out of memory.
Toy *toy_create(const ToyConfig *cfg, const float *importance);
void toy_free(Toy *t);  // toy_free(NULL) is fine

// W ~ N(0, std²) (see above), b_final = 0, grads zeroed. Same seed → same parameters.
void toy_init(Toy *t, uint64_t seed);

// Forward pass on x[I, B, n] (1 <= B <= max_batch): fills hidden/pre/out and loss[I]; *total
// (if not NULL) gets Σ_i loss[i]. Returns 0, or -1 with err_set on a bad B.
int toy_forward(Toy *t, const float *x, int B, double *total);

// Backward pass for the x of the last toy_forward: ACCUMULATES d(Σ_i loss_i)/d(W, b_final) into
// params.grad (zero it with params_zero_grad first). Returns 0, or -1 with err_set if no forward
// has run.
int toy_backward(Toy *t, const float *x);

#endif
