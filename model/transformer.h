// transformer.h — the decoder-only transformer family, with TransformerLens' names and maths.
//
// One model = a TfConfig (the blueprint, TL's HookedTransformerConfig field names), a ParamSet
// (every parameter in one block, TL names and shapes: "embed.W_E" [V,D], "blocks.0.attn.W_Q"
// [H,D,dh], ...), and two activation blocks sized at tf_create from the config and a maximum
// batch: `acts` holds every activation of a forward pass, `dacts` (same layout) holds
// d(loss)/d(activation) for backward. Every hook point is a named view into them. Nothing is
// allocated inside tf_forward / tf_backward.
//
// The maths is TL's HookedTransformer (pre-LN blocks, learned absolute positions):
//   resid_pre_0 = hook_embed + hook_pos_embed,   hook_embed = W_E[tok], hook_pos_embed = W_pos[t]
//   per block:  a = LN1(resid_pre)     LN(x) = (x - mean) / sqrt(var + eps) · w + b
//               q/k/v[b,t,h,:] = a[b,t,:] · W_Q[h] + b_Q[h]      (likewise K, V)
//               scores = q·k / sqrt(dh), causal mask;  pattern = softmax(scores)
//               z[b,t,h,:] = Σ_s pattern[b,h,t,s] · v[b,s,h,:]
//               attn_out = Σ_h z[h] · W_O[h] + b_O
//               resid_mid = resid_pre + attn_out
//               mlp_out = act(LN2(resid_mid) · W_in + b_in) · W_out + b_out
//               resid_post = resid_mid + mlp_out          (attn_only: resid_post = resid_mid,
//                                                          and there is no hook_resid_mid)
//   logits = LN_final(resid_post_last) · W_U + b_U;  loss = mean cross-entropy over the targets
// With normalization_type none the LNs are the identity and have neither parameters nor hooks.
//
// Hook points (forward order; B batch, T positions, D d_model, H heads, dh d_head, M d_mlp):
//   hook_embed, hook_pos_embed                                   [B,T,D]
//   blocks.{l}.hook_resid_pre                                    [B,T,D]
//   blocks.{l}.ln1.hook_scale [B,T,1], blocks.{l}.ln1.hook_normalized [B,T,D]     (LN only)
//   blocks.{l}.attn.hook_q, hook_k, hook_v                        [B,T,H,dh]
//   blocks.{l}.attn.hook_attn_scores, hook_pattern                [B,H,T,T]  (query-major;
//           masked scores are -inf, pattern 0 there; z never reads entries above the diagonal,
//           so writing them has no effect and their gradient is 0)
//   blocks.{l}.attn.hook_z                                        [B,T,H,dh]
//   blocks.{l}.attn.hook_result                                   [B,T,H,D]  (see below)
//   blocks.{l}.hook_attn_out                                      [B,T,D]
//   blocks.{l}.hook_resid_mid                                     [B,T,D]    (not attn_only)
//   blocks.{l}.ln2.hook_scale, ln2.hook_normalized                (LN, not attn_only)
//   blocks.{l}.mlp.hook_pre, mlp.hook_post                        [B,T,M]    (not attn_only)
//   blocks.{l}.hook_mlp_out                                       [B,T,D]    (not attn_only)
//   blocks.{l}.hook_resid_post                                    [B,T,D]
//   ln_final.hook_scale [B,T,1], ln_final.hook_normalized [B,T,D]                 (LN only)
// blocks.{l}.hook_resid_post and blocks.{l+1}.hook_resid_pre are the same tensor (TL computes
// the same value twice); they share memory, and hooks on both are called in that order.
// hook_result (each head's write into the residual stream, TL's use_attn_result) is computed
// only when a forward hook matches it; then attn_out = Σ_h result + b_O, so a patched result
// flows downstream. Otherwise its memory is never touched (its pages are never faulted in).
// Besides the hook points, tf_act() also returns "logits" [B,T,V], "probs" [B,T,V] (softmax of
// the logits) and "losses" [B,T] (per-token loss, 0 where the target is ignored; only after a
// forward with targets), and the LayerNorm means ("blocks.{l}.ln1.mean" [B,T], ...).
//
// Hooks and gradients: forward hooks may overwrite activations; everything downstream (forward
// and backward) then uses the patched values, so gradients at and downstream of a patched point
// are exact. Upstream of it, backward passes the gradient straight through the patch (as if
// the change were a constant added to the activation) — exact for additive interventions; where
// an op's backward reads its own output (softmax → hook_pattern, LayerNorm → hook_scale) the
// local derivative is taken at the patched value. Backward hooks at hook_scale see
// d(loss)/d(scale) but changing it has no effect (LayerNorm's backward folds the scale path in).
//
// Initialisation (tf_init_weights) is TL's default, init_mode "gpt2": every weight matrix
// (W_E, W_pos, W_Q, W_K, W_V, W_O, W_in, W_out, W_U) ~ N(0, initializer_range²) with
// initializer_range = 0.8 / sqrt(d_model); every bias 0; LayerNorm w = 1, b = 0. Draws come
// from one Rng seeded with `seed`, parameters in table order, so a seed gives the same model
// on every machine.
//
// A Transformer is not thread-safe: one forward/backward at a time (the ops inside use the
// thread pool, and results do not depend on the thread count).
#ifndef MECHLAB_TRANSFORMER_H
#define MECHLAB_TRANSFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hooks.h"
#include "params.h"
#include "tensor.h"

typedef enum { TF_ACT_RELU = 0, TF_ACT_GELU_NEW = 1 } TfActFn;
typedef enum { TF_NORM_LN = 0, TF_NORM_NONE = 1 } TfNorm;
typedef enum { TF_POS_STANDARD = 0 } TfPosEmbed;

// TL's HookedTransformerConfig fields (those this family supports).
typedef struct {
    int n_layers;        // >= 1
    int d_model;         // D
    int n_heads;         // H
    int d_head;          // dh
    int d_mlp;           // M (ignored when attn_only)
    bool attn_only;      // no MLPs
    int n_ctx;           // longest sequence, rows of W_pos
    int d_vocab;         // V (input and output vocabulary)
    TfActFn act_fn;      // MLP activation (ignored when attn_only)
    TfNorm normalization_type;
    TfPosEmbed positional_embedding_type;
    float eps;           // LayerNorm epsilon, inside the sqrt (TL default 1e-5)
} TfConfig;

// Names as TL spells them: "relu" / "gelu_new"; "LN" / "none"; "standard". parse returns 0, or
// -1 with err_set naming the accepted values.
const char *tf_act_fn_name(TfActFn a);
int tf_act_fn_parse(const char *s, TfActFn *out);
const char *tf_norm_name(TfNorm n);
int tf_norm_parse(const char *s, TfNorm *out);

// 0 if the config is usable, else -1 with err_set("transformer config: <field>: <problem>").
int tf_config_validate(const TfConfig *c);

typedef struct TfLayer TfLayer;  // per-block indices into the tables (internal)
typedef struct TfRegion TfRegion;

typedef struct {
    TfConfig cfg;
    ParamSet params;   // TL names; grads in params.grad (tf_backward accumulates there)
    int max_batch;

    // Internal below: the activation layout and the state of the last pass.
    float *acts, *dacts;  // activation values / gradients, same layout
    size_t acts_floats;
    TfRegion *regions;    // named views (hook points and the rest), forward order
    int n_regions;
    int *hook_ids;        // indices of the hook points in regions
    int n_hooks;
    TfLayer *layers;
    int embed, pos_embed, lnf_mean, lnf_scale, lnf_norm, logits, probs, losses;  // region ids
    int W_E, W_pos, lnf_w, lnf_b, W_U, b_U;  // parameter indices (-1 if absent)
    int *tokens, *targets;  // copies of the last forward's inputs [max_batch * n_ctx]
    float *scratch;         // [max_batch * n_ctx]: a hooked LN scale before its hooks ran
    int B, T;               // shape of the last forward (0 before the first)
    bool have_fwd;          // last forward completed
    bool have_targets;      // ... with targets (so tf_backward can run)
    int loss_count;         // targets counted in the loss
} Transformer;

// Builds the parameter table (zeroed; call tf_init_weights or load a checkpoint) and the two
// activation blocks for batches up to max_batch and sequences up to n_ctx. Returns NULL with
// err_set on a bad config, a bad max_batch, or out of memory.
Transformer *tf_create(const TfConfig *c, int max_batch);
void tf_free(Transformer *m);  // NULL is fine

// TL's default initialisation (see above) from `seed`; zeroes the gradients too.
void tf_init_weights(Transformer *m, uint64_t seed);

// Forward pass on tokens[B*T] (row-major [B,T]). targets[B*T] may be NULL (no loss); a target
// < 0 is ignored. Forward hooks in `hooks` (may be NULL) run at their points; every pattern in
// the list must match at least one hook point of this model. On success returns 0 and, if
// `loss` is non-NULL, stores the mean loss over the counted targets (NAN without targets).
// Returns -1 with err_set on a bad B (not in 1..max_batch), T (not in 1..n_ctx), token or target
// out of range, an unmatched pattern, or a hook callback that failed.
int tf_forward(Transformer *m, const int *tokens, const int *targets, int B, int T,
               const HookList *hooks, double *loss);

// Backward pass of the last forward (which must have had targets): d(mean loss)/d(param) is
// ACCUMULATED into m->params.grad (clear with params_zero_grad). Backward hooks in `hooks`
// (may be NULL; forward hooks in it are ignored) run as each activation gradient completes.
// Returns 0, or -1 with err_set (no forward with targets, a hook callback failed; the parameter
// gradients are then partly accumulated and should be cleared).
int tf_backward(Transformer *m, const HookList *hooks);

// The same backward pass started from a caller's d(metric)/d(logits) [B,T,V] (row-major, for
// the last forward's B and T) instead of the loss's: for metrics that are not the training loss
// (a logit difference, a mean log-prob over chosen positions — attribution patching). Needs a
// completed forward (targets not needed); otherwise as tf_backward (parameter gradients
// accumulate, backward hooks run).
int tf_backward_logits(Transformer *m, const float *dlogits, const HookList *hooks);

// The hook points: there are tf_hook_count(m) of them, in forward order; tf_hook_info gives
// the name and the shape of point i for a batch B and length T.
typedef struct {
    const char *name;  // owned by the model
    int ndim;
    int shape[TENSOR_MAX_DIMS];
} TfHookInfo;
int tf_hook_count(const Transformer *m);
TfHookInfo tf_hook_info(const Transformer *m, int i, int B, int T);

// A view of a named activation (a hook point, "logits", "probs" or "losses") or of its gradient
// from the last pass, shaped for the last forward's B and T. Returns a view with data == NULL
// and err_set if the name is unknown or no forward has completed. Gradients are valid after
// tf_backward; those of hook_scale and hook_result only when a backward hook matched them (they
// are not needed otherwise); "probs", "losses" and the LN means have none.
Tensor tf_act(const Transformer *m, const char *name);
Tensor tf_act_grad(const Transformer *m, const char *name);

#endif
