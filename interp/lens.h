// lens.h — direct logit attribution and the logit lens for the transformer family.
//
// Direct logit attribution (DLA). The final residual stream at a position is a sum of what every
// component wrote into it (model/transformer.h):
//     resid_final = hook_embed + hook_pos_embed
//                 + Σ_l ( Σ_h hook_result[l, h] + b_O[l] )        each head's write, each b_O
//                 + Σ_l hook_mlp_out[l]                           (models with MLPs)
// and the logit of token a is  LN_final(resid_final) · W_U[:, a] + b_U[a]  with
//     LN_final(x) = (x − mean(x)) / scale · w + b,  scale = sqrt(var(x) + eps)  (TL's hook_scale).
// As TransformerLens' apply_ln_to_stack does, each component c is centred (c − mean(c)) and
// divided by the scale of the REAL forward pass (ln_final.hook_scale), so the LayerNorm is
// treated as the linear map it is for that one input; centring is linear and the centred
// components sum to x − mean(x), so nothing is lost. The weight w is folded into the unembedding
// direction u = w ⊙ (W_U[:, a] − W_U[:, b]) (what TL's fold_ln does to W_U), and
//     attr(c) = Σ_d (c_d − mean(c)) / scale · u_d.
// The bias terms of the LayerNorm and of the unembedding do not depend on the residual stream;
// they make one more component, "bias" = ln_final.b · (W_U[:, a] − W_U[:, b]) + b_U[a] − b_U[b]
// (TL leaves them out; here they are kept so the components sum EXACTLY to the model's logit or
// logit difference, up to float rounding in the forward pass). Without LayerNorm the map is
// the identity: attr(c) = c · (W_U[:, a] − W_U[:, b]) and "bias" = b_U[a] − b_U[b].
//
// Components, in this order (lens_component_name gives their names):
//     embed, pos_embed, then per layer l: L{l}H0 .. L{l}H{H−1}, L{l}.b_O, L{l}.mlp_out (MLP
//     models only), and last: bias.
//
// The logit lens decodes the residual stream after every block as if it were the last one:
// stream k (k = 0 .. n_layers) is the residual stream after k blocks (k = 0: embed + pos_embed,
// k = n_layers: the final one), decoded as LN_final(stream) · W_U + b_U with the LayerNorm's OWN
// statistics for that stream (nostalgebraist's logit lens; at k = n_layers this is exactly the
// model's computation, so it reproduces the model's logits).
#ifndef MECHLAB_LENS_H
#define MECHLAB_LENS_H

#include <stddef.h>
#include <stdint.h>

#include "model/transformer.h"

// Number of residual-stream components (without "bias") and of DLA components (with it).
int lens_n_stack(const TfConfig *c);
int lens_n_components(const TfConfig *c);
// Name of component i (0 <= i < lens_n_components) into out[n]: "embed", "L1H3", "L0.b_O", ...
void lens_component_name(const TfConfig *c, int i, char *out, size_t n);

// Runs m on tokens[B, T] and decomposes, for every row r = b·T + t with tok_a[r] >= 0, the
// logit of tok_a[r] (minus the logit of tok_b[r] when tok_b is non-NULL and tok_b[r] >= 0):
//     attr[r, i]  component i's direct contribution (in double), i < lens_n_components
//     logit[r]    the model's own logit (difference), read from its forward pass
// Rows with tok_a[r] < 0 get NaN in both. Returns 0, or -1 with err_set (bad tokens or shape, a
// token id out of range, out of memory).
int lens_dla(Transformer *m, const int *tokens, int B, int T, const int *tok_a, const int *tok_b,
             double *attr, double *logit);

// After any forward of m: the lens_n_stack components of the final residual stream at batch
// row b, position t, as stack[n_stack, D] in double. Each head's output is computed from hook_z
// as z[b, t, h, :] · W_O[h] (TL's hook_result, which the forward computes only when a hook asks
// for it), so a forward that patched hook_result itself is not decomposed faithfully (one that
// patched hook_z or anything upstream is). Returns 0, or -1 with err_set if no forward has run
// or (b, t) is outside its batch.
int lens_resid_stack(const Transformer *m, int b, int t, double *stack);

// Logit lens, accumulated over batches. Streams k = 0 .. n_layers as described at the top.
typedef struct {
    int n_streams;         // n_layers + 1
    int64_t count;         // rows scored (target >= 0)
    int64_t *correct;      // [n_streams] rows whose top-1 token is the target
    double *logprob_sum;   // [n_streams] Σ log p(target)
    double *prob_sum;      // [n_streams] Σ p(target)
} LensStats;

int lens_stats_init(LensStats *s, const TfConfig *c);  // zeroed counts; -1 if out of memory
void lens_stats_free(LensStats *s);                     // a zeroed or freed one is fine

// After any forward of m: logits[B·T, V] of stream k (0 <= k <= n_layers) for every row of the
// last batch. Returns 0, or -1 with err_set (no forward, k out of range, out of memory).
int lens_decode(const Transformer *m, int k, float *logits);

// Runs m on tokens[B, T] and adds, for every row with targets[r] >= 0 and every stream, whether
// the lens's top-1 token is the target and the log-probability of the target. top[k·B·T + r]
// (may be NULL) receives stream k's top-1 token at each row (all rows, targets or not).
// Returns 0, or -1 with err_set.
int lens_logit_lens(Transformer *m, const int *tokens, const int *targets, int B, int T,
                    LensStats *s, int *top);

#endif
