// optim.h — the optimisers, learning-rate schedules and gradient clipping of mechlab.
//
// Every optimiser is ONE loop over a flat parameter block (a ParamSet's `data`, `grad`, `numel`
// floats): no per-tensor bookkeeping, so the transformer, the CNN and the toy models share it.
// The maths follows PyTorch (torch.optim.SGD / Adam / AdamW, 1.13), so a run can be compared with
// a PyTorch run step by step:
//
//   SGD     g = grad + wd·p;  buf = μ·buf + g;  p -= lr·(nesterov ? g + μ·buf : buf)
//           (μ = 0: p -= lr·g; no dampening)
//   Adam    g = grad + wd·p   (weight decay as an L2 term in the gradient, like torch.optim.Adam)
//           m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²
//           p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps)          (t = step count, from 1)
//   AdamW   p -= lr·wd·p  (decoupled: before, and independent of, the gradient), then the Adam
//           update above with g = grad.
//
// Weight decay applies to EVERY parameter of the block (biases, LayerNorm weights, embeddings
// alike): there is no per-element mask. That is what torch.optim.AdamW does when it is handed
// model.parameters() with no parameter groups — its default weight_decay is 0.01 — and it is what
// TransformerLens' train() does (Adam without decay when weight_decay is None, else AdamW with
// that decay over all of model.parameters()), and what the Toy Models of Superposition code does
// (torch.optim.AdamW(model.parameters(), lr=1e-3): the default 0.01 on W and b_final).
//
// State for checkpoints is plain: `m` (SGD momentum buffer / Adam first moment), `v` (Adam
// second moment), both `numel` floats owned by the optimiser and allocated once at create, and
// `step` (the number of updates taken; Adam's bias correction uses it).
//
// Updates are threaded over fixed chunks of the block when the block is large; every element is
// updated by the same arithmetic whatever thread runs it, so results are bit-identical for any
// thread count.
#ifndef MECHLAB_OPTIM_H
#define MECHLAB_OPTIM_H

#include <stddef.h>

typedef enum { OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW } OptimKind;

typedef struct {
    OptimKind kind;
    // Hyperparameters are doubles, as torch's are Python floats: 1 - β2 is then computed in double
    // and rounded once (0.001f), not as 1 - 0.999f (0.00099998713), which would move the second
    // moment by 1e-5 relative to torch's.
    double weight_decay;  // SGD, Adam: L2 term added to the gradient; AdamW: decoupled decay
    double momentum;      // SGD only, in [0, 1)
    int nesterov;         // SGD only: Nesterov momentum (needs momentum > 0)
    double beta1, beta2;  // Adam/AdamW, in [0, 1)
    double eps;           // Adam/AdamW, > 0
} OptimConfig;

typedef struct {
    OptimConfig cfg;
    size_t numel;
    float *m;   // [numel] SGD momentum buffer or Adam first moment; NULL for SGD without momentum
    float *v;   // [numel] Adam second moment; NULL for SGD
    long step;  // updates taken so far (0 after create)
} Optim;

// PyTorch's defaults for each kind: SGD momentum 0, no decay; Adam betas (0.9, 0.999), eps 1e-8,
// no decay; AdamW the same with weight_decay 0.01.
OptimConfig optim_defaults(OptimKind kind);

// Checks the config and allocates the state for a block of `numel` floats (moments zeroed).
// Returns NULL with err_set on a bad config or out of memory.
Optim *optim_create(const OptimConfig *cfg, size_t numel);
void optim_free(Optim *o);  // optim_free(NULL) is fine

// One update of param[numel] from grad[numel] with learning rate lr (this step's value, e.g. from
// sched_lr). Increments o->step first. Returns 0, or -1 with err_set if lr is negative or not
// finite (nothing is changed then). Does not touch grad.
int optim_step(Optim *o, float *param, const float *grad, float lr);

// Zeroes the moments and the step count (a fresh optimiser, same allocation).
void optim_reset(Optim *o);

// ---- gradient norm and clipping -------------------------------------------------------------
// Global L2 norm of grad[n], summed in double over fixed chunks (bit-identical for any thread
// count). NaN or Inf if any element is.
double optim_grad_norm(const float *grad, size_t n);

// If the norm exceeds max_norm, scales grad by max_norm/norm so its norm becomes max_norm (no
// epsilon in the ratio, unlike torch's clip_grad_norm_, which uses max_norm/(norm + 1e-6)).
// Returns the norm BEFORE clipping. A NaN or Inf norm is returned as is and grad is left
// untouched, so the trainer can see it (isfinite) and stop. max_norm <= 0 means "do not clip".
double optim_clip_grad_norm(float *grad, size_t n, double max_norm);

// ---- learning-rate schedules ----------------------------------------------------------------
// The schedule gives the lr for step s = 0, 1, 2, ... (the s-th call of optim_step):
//   SCHED_CONSTANT          lr
//   SCHED_WARMUP_CONSTANT   lr·(s+1)/warmup for s < warmup, then lr
//   SCHED_WARMUP_COSINE     lr·(s+1)/warmup for s < warmup; then
//                           min_lr + (lr - min_lr)·½(1 + cos(π·(s - warmup)/(total - warmup)))
//                           for warmup <= s < total, and min_lr from s = total on.
// The warm-up's first step uses lr/warmup rather than 0 (TransformerLens' LambdaLR gives 0 at
// step 0, a wasted step) and reaches the full lr at s = warmup - 1. warmup = 0 means no warm-up.
typedef enum { SCHED_CONSTANT, SCHED_WARMUP_CONSTANT, SCHED_WARMUP_COSINE } SchedKind;

typedef struct {
    SchedKind kind;
    float lr;      // peak learning rate
    long warmup;   // warm-up steps (>= 0)
    long total;    // cosine: the step at which min_lr is reached (> warmup)
    float min_lr;  // cosine floor (0 <= min_lr <= lr)
} Sched;

// Checks a schedule: returns 0, or -1 with err_set naming the bad field.
int sched_check(const Sched *s);
// The learning rate at step s (s >= 0). The schedule must have passed sched_check.
float sched_lr(const Sched *s, long step);

#endif
