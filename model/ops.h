// ops.h — every op of mechlab as a forward/backward pair (llm.c style).
//
// Conventions:
//   - outputs first, then inputs (const), then dimensions; a shape comment on each.
//   - forward writes its outputs (=); backward ACCUMULATES (+=) into every gradient it produces,
//     so one memset of the gradient block clears a step. A NULL gradient pointer means "not
//     needed" and is skipped (e.g. dinp of the first layer, db of a layer without bias).
//   - all arrays are row-major and contiguous; N is the number of rows (B*T for token models).
//   - no op allocates; scratch, where needed, is passed in and sized by a _scratch() function.
//   - results do not depend on the thread count (threaded loops own their outputs; reductions
//     across rows run in a fixed order).
// Inputs are trusted here (token ids in range, shapes consistent): models validate user input
// before they call an op.
#ifndef MECHLAB_OPS_H
#define MECHLAB_OPS_H

#include <stddef.h>

// ---- linear --------------------------------------------------------------------------------
// out[N,O] = inp[N,I] · w[I,O] + b[O]      (w is [in, out], as TransformerLens' W_in / W_U)
// b may be NULL (no bias).
void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int I,
                    int O);
// dinp[N,I] += dout·wᵀ; dw[I,O] += inpᵀ·dout; db[O] += Σ_n dout[n,:]. Any of dinp/dw/db may be NULL.
void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int N, int I, int O);

// ---- embeddings ----------------------------------------------------------------------------
// out[N,D] = W_E[tok[n], :]               (tokens must be in [0, V))
void embedding_forward(float *out, const int *tok, const float *W_E, int N, int D);
// dW_E[tok[n], :] += dout[n, :]  (rows added in order n = 0..N-1)
void embedding_backward(float *dW_E, const float *dout, const int *tok, int N, int D);

// out[B,T,D] = W_pos[t, :]                (positions 0..T-1, T <= n_ctx)
void posembed_forward(float *out, const float *W_pos, int B, int T, int D);
// dW_pos[t, :] += Σ_b dout[b, t, :]
void posembed_backward(float *dW_pos, const float *dout, int B, int T, int D);

// ---- LayerNorm (TransformerLens maths) -------------------------------------------------------
// For each row x[D]: mean = Σx/D; scale = sqrt(Σ(x-mean)²/D + eps);
// out = (x - mean) / scale * w + b.   mean[N] and scale[N] are saved for backward (scale is TL's
// hook_scale). w and b may both be NULL (no affine part, TL's LNPre).
void layernorm_forward(float *out, float *mean, float *scale, const float *inp, const float *w,
                       const float *b, int N, int D, float eps);
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *mean, const float *scale, const float *w, int N, int D);

// ---- activations (elementwise over n values) ------------------------------------------------
void relu_forward(float *out, const float *inp, size_t n);
void relu_backward(float *dinp, const float *dout, const float *inp, size_t n);
// GELU, tanh form (TL's gelu_new): 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³)))
void gelu_forward(float *out, const float *inp, size_t n);
void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);

// ---- softmax over the last axis --------------------------------------------------------------
// out[N,C] = softmax(inp[N,C]) row-wise; -inf entries get probability 0 (each row needs at
// least one finite entry).
void softmax_forward(float *out, const float *inp, int N, int C);
// dinp[n,c] += out[n,c] · (dout[n,c] - Σ_c' dout[n,c']·out[n,c'])
void softmax_backward(float *dinp, const float *dout, const float *out, int N, int C);

// ---- causal multi-head attention (TransformerLens layout) ------------------------------------
// q, k, v, z are [B,T,H,dh] (TL's hook_q/k/v/z); scores and pattern are [B,H,T,T]
// (hook_attn_scores / hook_pattern, query-major). The three steps are separate so hooks can sit
// between them:
//   scores = attn_scores(q, k)   q·k / sqrt(dh), with -inf above the diagonal (causal mask)
//   pattern = softmax(scores)    softmax_forward over rows of length T
//   z = attn_z(pattern, v)       z[b,t,h,:] = Σ_{s<=t} pattern[b,h,t,s] · v[b,s,h,:]
void attn_scores_forward(float *scores, const float *q, const float *k, int B, int T, int H,
                         int dh);
// dq += dscores·k / sqrt(dh); dk += dscoresᵀ·q / sqrt(dh); masked entries contribute nothing.
void attn_scores_backward(float *dq, float *dk, const float *dscores, const float *q,
                          const float *k, int B, int T, int H, int dh);
void attn_z_forward(float *z, const float *pattern, const float *v, int B, int T, int H, int dh);
// dpattern += dz·vᵀ (causal entries only); dv += patternᵀ·dz
void attn_z_backward(float *dpattern, float *dv, const float *dz, const float *pattern,
                     const float *v, int B, int T, int H, int dh);

// ---- losses (the mean is computed in double) -------------------------------------------------
// Cross-entropy of logits[N,V] against integer targets[N]; a target < 0 is ignored (no loss, no
// gradient). Writes probs[N,V] (softmax) and losses[N] (-log p[target], 0 where ignored); returns
// the mean loss over the counted rows (0 if none) and sets *count to their number.
double crossentropy_forward(float *probs, float *losses, const float *logits, const int *targets,
                            int N, int V, int *count);
// dlogits[n,:] += scale · (probs[n,:] - onehot(target[n]))  for counted rows; pass
// scale = 1/count for the gradient of the mean.
void crossentropy_backward(float *dlogits, const float *probs, const int *targets, int N, int V,
                           float scale);

// Weighted squared error: returns (1/N) Σ_n Σ_f w[f]·(pred[n,f] - target[n,f])²; w may be NULL
// (all ones). This is the loss of Toy Models of Superposition (importance-weighted, mean over the
// batch, summed over features).
double mse_forward(const float *pred, const float *target, const float *w, int N, int F);
// dpred[n,f] += scale · 2·w[f]·(pred - target); pass scale = 1/N for the gradient of the mean.
void mse_backward(float *dpred, const float *pred, const float *target, const float *w, int N,
                  int F, float scale);

// ---- images (NCHW) ---------------------------------------------------------------------------
// out[B,OC,OH,OW] = conv(inp[B,C,H,W], w[OC,C,KH,KW]) + b[OC], stride s, zero padding p,
// OH = (H + 2p - KH)/s + 1, OW likewise. Lowered onto gemm() via im2col, threaded over the
// batch. `scratch` holds conv2d_scratch_floats(...) floats (caller-allocated, reused every step).
size_t conv2d_scratch_floats(int B, int C, int H, int W, int OC, int KH, int KW, int s, int p);
void conv2d_forward(float *out, const float *inp, const float *w, const float *b, int B, int C,
                    int H, int W, int OC, int KH, int KW, int s, int p, float *scratch);
void conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int B, int C, int H, int W, int OC, int KH, int KW, int s,
                     int p, float *scratch);

// Max-pool, k×k window, stride s, no padding: OH = (H - k)/s + 1. argmax[B,C,OH,OW] records the
// winning input index ih·W + iw within its [H,W] plane (ties: first in row-major order) for
// backward.
void maxpool2d_forward(float *out, int *argmax, const float *inp, int B, int C, int H, int W,
                       int k, int s);
void maxpool2d_backward(float *dinp, const float *dout, const int *argmax, int B, int C, int OH,
                        int OW, int H, int W);
// Average-pool, k×k window, stride s, no padding.
void avgpool2d_forward(float *out, const float *inp, int B, int C, int H, int W, int k, int s);
void avgpool2d_backward(float *dinp, const float *dout, int B, int C, int H, int W, int k, int s);

// Flatten [B,C,H,W] → [B, C·H·W] is a view in row-major layout: no data moves, so it has no
// kernel; a model just reinterprets the buffer (and its gradient) with the new shape.

#endif
