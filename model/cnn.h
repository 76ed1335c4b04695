// cnn.h — the CNN family: a sequence of conv / pool / ReLU / flatten / linear layers on NCHW
// images, described by a spec string, with hook points on every layer's output.
//
// ---- spec grammar ----------------------------------------------------------------------------
//   spec    := layer ("," layer)*                  (no spaces)
//   layer   := conv | "relu" | maxpool | avgpool | "flatten" | linear
//   conv    := "conv" K "x" K ["s" S] ["p" P] ":" OC     square K×K kernel, OC output channels
//   maxpool := "maxpool" K ["s" S]                       K×K window
//   avgpool := "avgpool" K ["s" S]
//   linear  := "linear:" N                               N output features
// Numbers are unsigned decimals: K 1..32, S 1..32, P 0..K-1, OC 1..4096, N 1..1048576.
// Defaults: a conv's stride is 1; its padding is "same" — P = (K-1)/2, so the output keeps the
// input's size — when K is odd and S = 1, and 0 otherwise (write p0 for a "valid" odd conv).
// A pool's stride defaults to its window (non-overlapping windows); pools never pad, and the
// output is floor((H - K)/S) + 1 (PyTorch's default; a leftover border row is dropped).
// A conv's output is (H + 2P - K)/S + 1 (floor). `flatten` turns [B,C,H,W] into [B, C·H·W]
// (row-major: c, then h, then w — torch.flatten(x, 1)); a linear layer after an image flattens
// it implicitly, so `flatten` is optional. After the first flatten or linear layer only relu
// and linear may follow. The network's output ("logits") is the last layer's output, flattened
// per image: n_out features. Example (a 28×28 input):
//   conv3x3:16,relu,maxpool2,conv3x3:32,relu,maxpool2,linear:10
//   → [16,28,28] [16,28,28] [16,14,14] [32,14,14] [32,14,14] [32,7,7] [10]
//
// ---- parameters (one ParamSet) ---------------------------------------------------------------
// Layer i of the spec (counting from 0, every token a layer) owns, when it is a
//   conv:    "layers.{i}.W" [OC, C, K, K]   "layers.{i}.b" [OC]     (PyTorch's Conv2d layout)
//   linear:  "layers.{i}.W" [in, out]       "layers.{i}.b" [out]
// A linear weight is [in, out], as model/ops.h's linear and TransformerLens' W_in / W_U, so the
// forward is one row-major GEMM with no transpose. PyTorch's nn.Linear stores weight [out, in]:
// an export to PyTorch transposes these tensors (and only these).
// cnn_init_weights: He/Kaiming normal, W ~ N(0, 2/fan_in) with fan_in = C·K·K (conv) or `in`
// (linear), all biases 0; one Rng seeded with `seed`, tensors drawn in table order.
//
// ---- activations and hook points ---------------------------------------------------------------
// One block `acts` sized at cnn_create for max_batch images holds the input copy and every
// layer's output; `dacts` (same layout) holds their gradients; a pool's argmax indices and the
// conv scratch are sized there too. Nothing is allocated in cnn_forward / cnn_backward*.
// Hook points, in forward order:
//   hook_in              [B, C, H, W]   the input images (a forward hook may change them; a
//                                       backward hook sees d/d(input), for attribution)
//   layers.{i}.hook_out  [B, C', H', W'] after conv / relu / pools on images,
//                        [B, N] after flatten / linear / relu on vectors
// `flatten` moves no data: its hook_out shares memory with the previous layer's (as the
// transformer's resid_post / next resid_pre do); hooks on both run, the later layer's first in
// backward. Besides the hook points cnn_act knows "logits" (the last layer's output as [B,n_out]),
// "probs" [B, n_out] and "losses" [B] (after a forward with labels).
//
// Hooks (model/hooks.h): the forward pass runs forward hooks right after each point is computed;
// a hook may overwrite the activation and everything downstream sees the change. Every pattern
// in the list must match some hook point of the model (a typo is an error, not a silent no-op).
// Backward hooks run once d(·)/d(activation) at their point is complete; they may modify it and
// upstream layers receive the modified gradient. Upstream of a forward patch the backward passes
// the gradient through as if the patch were a constant added to the activation: ReLU's backward
// uses the sign of its (unpatched) input, max-pool routes to the argmax recorded before any
// patch of its output.
//
// A Cnn is not thread-safe (one pass at a time); the ops inside use the thread pool and give
// bit-identical results for any thread count.
#ifndef MECHLAB_CNN_H
#define MECHLAB_CNN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hooks.h"
#include "params.h"
#include "tensor.h"

typedef enum {
    CNN_CONV = 0,
    CNN_RELU = 1,
    CNN_MAXPOOL = 2,
    CNN_AVGPOOL = 3,
    CNN_FLATTEN = 4,
    CNN_LINEAR = 5,
} CnnKind;

// One layer: the kind, its per-image input and output shapes, and the fields of its kind only.
// An image shape is (c, h, w); a vector of n features is (n, 1, 1) with `vec` set.
typedef struct {
    CnnKind kind;
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    bool in_vec, out_vec;  // input / output is a vector (after flatten or linear)
    union {
        struct {
            int k, s, p;
            int W, b;  // parameter indices
        } conv;
        struct {
            int k, s;
            size_t argmax;  // maxpool: offset (in ints) of its argmax block
        } pool;
        struct {
            int W, b;  // parameter indices; in = in_c·in_h·in_w, out = out_c
        } linear;
    } u;
    size_t act;  // offset (floats) of its output in acts / dacts
} CnnLayer;

typedef struct {
    char *spec;            // the spec string it was built from
    int C, H, W;           // input image shape
    int n_layers;
    CnnLayer *layers;
    int n_out;             // output features per image
    int max_batch;
    ParamSet params;       // names above; grads in params.grad

    // Internal below: buffers and the state of the last pass.
    float *acts, *dacts;   // [acts_floats] each; the input copy at offset 0
    size_t acts_floats;
    int *argmax;           // max-pool winners
    float *scratch;        // conv scratch (the largest conv's need at max_batch)
    float *probs, *losses; // [max_batch·n_out], [max_batch]
    int *labels;           // [max_batch] copy of the last forward's labels
    char **hook_names;     // [n_layers + 1]: "hook_in", "layers.{i}.hook_out"
    int B;                 // batch of the last forward (0 before the first)
    bool have_fwd, have_labels;
    int loss_count;
} Cnn;

// Parses the spec for an input of C×H×W images and builds the model for batches up to
// max_batch (parameters zeroed: call cnn_init_weights or load them). Returns NULL with err_set
// on a bad spec ("cnn spec: token 3 'maxpool5': ..."), a shape that does not work (a window or
// kernel larger than its input, an output of size 0), a bad C/H/W/max_batch, or out of memory.
Cnn *cnn_create(const char *spec, int C, int H, int W, int max_batch);
void cnn_free(Cnn *m);  // NULL is fine

// He-normal weights, zero biases (see above); zeroes the gradients too.
void cnn_init_weights(Cnn *m, uint64_t seed);

// Forward pass on images[B, C, H, W]. labels[B] may be NULL (no loss); with labels, each must be
// in [0, n_out) and *loss (if non-NULL) gets the mean cross-entropy (NAN without labels).
// Returns 0, or -1 with err_set on a bad B (1..max_batch), a label out of range, a hook pattern
// matching no hook point, or a failing hook callback.
int cnn_forward(Cnn *m, const float *images, const int *labels, int B, const HookList *hooks,
                double *loss);

// What a backward pass computes besides the activation gradients (which are always there for
// the layers it passes through):
enum {
    CNN_GRAD_PARAMS = 1,  // accumulate d/d(param) into params.grad
    CNN_GRAD_INPUT = 2,   // compute d/d(input) ("hook_in"; also computed when a backward hook
                          // matches hook_in)
};

// Backward of the mean loss of the last forward (which must have had labels): params.grad +=
// d(loss)/d(params); gradients at every hook point (cnn_act_grad). Same as
// cnn_backward_from(m, NULL, NULL, CNN_GRAD_PARAMS, hooks). Returns 0 or -1 with err_set.
int cnn_backward(Cnn *m, const HookList *hooks);

// Backward from any hook point (or "logits") with a given gradient there:
//   point  a hook point name or "logits"; NULL: the loss (dact must be NULL, labels needed)
//   dact   d(objective)/d(activation at point), shaped like cnn_act(m, point) for the last B
// E.g. d(unit)/d(input) for feature visualisation: dact = one-hot on the unit (per image),
// flags = CNN_GRAD_INPUT, then read cnn_act_grad(m, "hook_in"). Layers after `point` are not
// touched. The gradient buffers of the layers at and before `point` are overwritten (not
// accumulated); params.grad is accumulated (+=) when flags has CNN_GRAD_PARAMS.
// Returns 0, or -1 with err_set (no forward yet, unknown point, loss without labels, a
// failing hook). After a hook fails mid-pass, params.grad holds the contributions of the layers
// already passed (zero the gradients before retrying).
int cnn_backward_from(Cnn *m, const char *point, const float *dact, unsigned flags,
                      const HookList *hooks);

// Hook points: cnn_hook_count of them in forward order (0 is hook_in, i+1 is layer i's
// hook_out); cnn_hook_info gives the name and shape of point i for a batch B.
typedef struct {
    const char *name;  // owned by the model
    int ndim;
    int shape[TENSOR_MAX_DIMS];
} CnnHookInfo;
int cnn_hook_count(const Cnn *m);
CnnHookInfo cnn_hook_info(const Cnn *m, int i, int B);

// A view of a named activation (a hook point, "logits", "probs", "losses") or of its gradient
// from the last pass, shaped for the last forward's B. data == NULL with err_set if the name is
// unknown or no forward has completed ("probs" / "losses" have no gradient). Gradients are
// valid for the points the last backward passed through.
Tensor cnn_act(const Cnn *m, const char *name);
Tensor cnn_act_grad(const Cnn *m, const char *name);

// Layer kind names as in the spec ("conv", "relu", "maxpool", "avgpool", "flatten", "linear").
const char *cnn_kind_name(CnnKind k);

#endif
