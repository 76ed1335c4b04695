// ops_nn.c — dense ops: linear, embeddings, LayerNorm, ReLU, GELU, softmax, losses.
//
// Matrix products go through gemm(). Row-wise and elementwise loops run on the pool in fixed
// ranges (ops_internal.h), each range owning its rows; reductions across rows (db of linear,
// dw and db of LayerNorm) are split by column instead, and the small ones (dW_pos, dW_E) run
// serially, so every output is summed over rows in the same order whatever the thread count.
#include <math.h>
#include <string.h>

#include "gemm.h"
#include "ops.h"
#include "ops_internal.h"

// ---- linear --------------------------------------------------------------------------------

// out[N,O] = inp[N,I]·w[I,O] + b[O]
void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int I,
                    int O) {
    // The bias goes in first and gemm accumulates onto it: one pass over out instead of two.
    if (b)
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * O, b, sizeof(float) * (size_t)O);
    gemm(false, false, N, O, I, inp, I, w, O, out, O, b != NULL);
}

// Column reductions work on blocks of this many columns: each column is summed over the rows in
// order n = 0..N-1 into a local accumulator and added to the gradient once, so a second backward
// adds exactly the same value again, and the row-major walk stays cache-friendly.
#define COL_BLOCK 64

typedef struct {
    float *db;
    const float *dout;
    int N, O;
} BiasSumArgs;

// db[o] += Σ_n dout[n,o] for o in [o0,o1)
static void bias_sum_cols(const void *p, size_t o0, size_t o1) {
    const BiasSumArgs *a = p;
    for (size_t c0 = o0; c0 < o1; c0 += COL_BLOCK) {
        size_t m = o1 - c0 < COL_BLOCK ? o1 - c0 : COL_BLOCK;
        float acc[COL_BLOCK] = {0};
        for (int n = 0; n < a->N; n++) {
            const float *row = a->dout + (size_t)n * a->O + c0;
            for (size_t j = 0; j < m; j++) acc[j] += row[j];
        }
        for (size_t j = 0; j < m; j++) a->db[c0 + j] += acc[j];
    }
}

// dinp[N,I] += dout[N,O]·wᵀ; dw[I,O] += inpᵀ·dout; db[O] += Σ_n dout[n,:]
void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int N, int I, int O) {
    if (dinp) gemm(false, true, N, I, O, dout, O, w, O, dinp, I, true);
    if (dw) gemm(true, false, I, O, N, inp, I, dout, O, dw, O, true);
    if (db) {
        BiasSumArgs a = {db, dout, N, O};
        ops_parallel(bias_sum_cols, &a, (size_t)O, (size_t)N);
    }
}

// ---- embeddings ----------------------------------------------------------------------------

// out[N,D] = W_E[tok[n], :]
void embedding_forward(float *out, const int *tok, const float *W_E, int N, int D) {
    for (int n = 0; n < N; n++)
        memcpy(out + (size_t)n * D, W_E + (size_t)tok[n] * D, sizeof(float) * (size_t)D);
}

// dW_E[tok[n], :] += dout[n, :]. Serial: repeated tokens add into the same row, in order n.
void embedding_backward(float *dW_E, const float *dout, const int *tok, int N, int D) {
    for (int n = 0; n < N; n++) {
        float *g = dW_E + (size_t)tok[n] * D;
        const float *d = dout + (size_t)n * D;
        for (int i = 0; i < D; i++) g[i] += d[i];
    }
}

// out[B,T,D] = W_pos[t, :]
void posembed_forward(float *out, const float *W_pos, int B, int T, int D) {
    for (int b = 0; b < B; b++)
        memcpy(out + (size_t)b * T * D, W_pos, sizeof(float) * (size_t)T * D);
}

// dW_pos[T,D] += Σ_b dout[b, :, :], batches summed in order b = 0..B-1, then added once.
void posembed_backward(float *dW_pos, const float *dout, int B, int T, int D) {
    size_t n = (size_t)T * D;
    for (size_t i = 0; i < n; i++) {
        float s = 0.0f;
        for (int b = 0; b < B; b++) s += dout[(size_t)b * n + i];
        dW_pos[i] += s;
    }
}

// ---- LayerNorm -----------------------------------------------------------------------------

typedef struct {
    float *out, *mean, *scale;
    const float *inp, *w, *b;
    int D;
    float eps;
} LnForwardArgs;

typedef struct {
    float *dinp, *dw, *db;
    const float *dout, *inp, *mean, *scale, *w;
    int N, D;
} LnBackwardArgs;

// Rows [n0,n1) of: mean[n], scale[n] = sqrt(var + eps), out[n,:] = (x - mean)/scale·w + b.
// Sums in double; the float mean is the one both forward and backward subtract.
static void ln_forward_rows(const void *p, size_t n0, size_t n1) {
    const LnForwardArgs *a = p;
    int D = a->D;
    for (size_t n = n0; n < n1; n++) {
        const float *x = a->inp + n * D;
        float *o = a->out + n * D;
        double s = 0;
        for (int i = 0; i < D; i++) s += x[i];
        float m = (float)(s / D);
        double v = 0;
        for (int i = 0; i < D; i++) {
            double d = (double)x[i] - m;
            v += d * d;
        }
        float sc = (float)sqrt(v / D + a->eps);
        for (int i = 0; i < D; i++) {
            float xh = (x[i] - m) / sc;
            o[i] = a->w ? xh * a->w[i] + a->b[i] : xh;
        }
        a->mean[n] = m;
        a->scale[n] = sc;
    }
}

// inp, out [N,D]; w, b [D] or both NULL; mean, scale [N]
void layernorm_forward(float *out, float *mean, float *scale, const float *inp, const float *w,
                       const float *b, int N, int D, float eps) {
    LnForwardArgs a = {out, mean, scale, inp, w, b, D, eps};
    ops_parallel(ln_forward_rows, &a, (size_t)N, (size_t)D * 2);
}

// Rows [n0,n1) of dinp. With xh = (x-mean)/scale and g = dout·w (the gradient at xh):
//   dinp += (g - mean(g) - xh·mean(g·xh)) / scale
// (eps sits inside scale, so this is exact for TL's LayerNorm, not an approximation).
static void ln_backward_rows(const void *p, size_t n0, size_t n1) {
    const LnBackwardArgs *a = p;
    int D = a->D;
    for (size_t n = n0; n < n1; n++) {
        const float *x = a->inp + n * D, *d = a->dout + n * D;
        float m = a->mean[n], sc = a->scale[n];
        double s1 = 0, s2 = 0;
        for (int i = 0; i < D; i++) {
            float g = a->w ? d[i] * a->w[i] : d[i];
            s1 += g;
            s2 += (double)g * ((x[i] - m) / sc);
        }
        float m1 = (float)(s1 / D), m2 = (float)(s2 / D);
        float *dx = a->dinp + n * D;
        for (int i = 0; i < D; i++) {
            float g = a->w ? d[i] * a->w[i] : d[i];
            float xh = (x[i] - m) / sc;
            dx[i] += (g - m1 - xh * m2) / sc;
        }
    }
}

// Columns [i0,i1) of dw += Σ_n dout·xh and db += Σ_n dout, rows in order n = 0..N-1.
static void ln_backward_cols(const void *p, size_t i0, size_t i1) {
    const LnBackwardArgs *a = p;
    int D = a->D;
    for (size_t c0 = i0; c0 < i1; c0 += COL_BLOCK) {
        size_t m = i1 - c0 < COL_BLOCK ? i1 - c0 : COL_BLOCK;
        float aw[COL_BLOCK] = {0}, ab[COL_BLOCK] = {0};
        for (int n = 0; n < a->N; n++) {
            const float *x = a->inp + (size_t)n * D + c0, *d = a->dout + (size_t)n * D + c0;
            float mu = a->mean[n], sc = a->scale[n];
            for (size_t j = 0; j < m; j++) {
                aw[j] += d[j] * ((x[j] - mu) / sc);
                ab[j] += d[j];
            }
        }
        for (size_t j = 0; j < m; j++) {
            if (a->dw) a->dw[c0 + j] += aw[j];
            if (a->db) a->db[c0 + j] += ab[j];
        }
    }
}

// dinp, dout, inp [N,D]; dw, db, w [D] (w NULL: no affine part); mean, scale [N] from forward
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *mean, const float *scale, const float *w, int N, int D) {
    LnBackwardArgs a = {dinp, dw, db, dout, inp, mean, scale, w, N, D};
    if (dinp) ops_parallel(ln_backward_rows, &a, (size_t)N, (size_t)D * 3);
    if (dw || db) ops_parallel(ln_backward_cols, &a, (size_t)D, (size_t)N);
}

// ---- activations ---------------------------------------------------------------------------

typedef struct {
    float *out;
    const float *inp, *dout;
} EwArgs;

static void relu_forward_range(const void *p, size_t i0, size_t i1) {
    const EwArgs *a = p;
    for (size_t i = i0; i < i1; i++) a->out[i] = a->inp[i] > 0.0f ? a->inp[i] : 0.0f;
}

// out[n] = max(inp[n], 0)
void relu_forward(float *out, const float *inp, size_t n) {
    EwArgs a = {out, inp, NULL};
    ops_parallel(relu_forward_range, &a, n, 1);
}

static void relu_backward_range(const void *p, size_t i0, size_t i1) {
    const EwArgs *a = p;
    for (size_t i = i0; i < i1; i++)
        if (a->inp[i] > 0.0f) a->out[i] += a->dout[i];
}

// dinp[n] += dout[n] where inp[n] > 0 (the gradient at 0 is taken as 0)
void relu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    EwArgs a = {dinp, inp, dout};
    ops_parallel(relu_backward_range, &a, n, 1);
}

#define GELU_C 0.7978845608028654f  // sqrt(2/π)
#define GELU_K 0.044715f

// GELU (tanh form) through the identity ½(1 + tanh u) = σ(2u) = 1 / (1 + e^(−2u)): one expf in
// place of tanhf (3.6 against 13–15 ns an element here; GELU took about a quarter of an R2 step),
// and no cancellation in 1 + tanh u where tanh u ≈ −1 (large negative x), so it is also the more
// accurate of the two forms in float. e^(−2u) overflowing to +inf gives σ = 0, as it should.
static inline float gelu_sigma(float x) {
    return 1.0f / (1.0f + expf(-2.0f * GELU_C * (x + GELU_K * x * x * x)));
}

static void gelu_forward_range(const void *p, size_t i0, size_t i1) {
    const EwArgs *a = p;
    for (size_t i = i0; i < i1; i++) {
        float x = a->inp[i];
        a->out[i] = x * gelu_sigma(x);
    }
}

// out[n] = 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))), computed as x·σ(2u) (see above)
void gelu_forward(float *out, const float *inp, size_t n) {
    EwArgs a = {out, inp, NULL};
    ops_parallel(gelu_forward_range, &a, n, 8);
}

static void gelu_backward_range(const void *p, size_t i0, size_t i1) {
    const EwArgs *a = p;
    for (size_t i = i0; i < i1; i++) {
        float x = a->inp[i];
        float s = gelu_sigma(x);  // ½(1 + t); ½(1 − t²) = 2σ(1 − σ)
        float du = GELU_C * (1.0f + 3.0f * GELU_K * x * x);
        a->out[i] += a->dout[i] * (s + 2.0f * x * s * (1.0f - s) * du);
    }
}

// dinp[n] += dout[n]·gelu'(x), gelu'(x) = ½(1+t) + ½·x·(1-t²)·sqrt(2/π)·(1 + 3·0.044715·x²),
// with ½(1+t) = σ and ½(1−t²) = 2σ(1−σ)
void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    EwArgs a = {dinp, inp, dout};
    ops_parallel(gelu_backward_range, &a, n, 8);
}

// ---- softmax -------------------------------------------------------------------------------

// out[C] = softmax(x[C]); -inf entries give exp(-inf - max) = 0. Returns the sum Σ exp(x - max)
// (in double) so cross-entropy can reuse it for log-sum-exp.
static double softmax_row(float *out, const float *x, int C, float *max) {
    float mx = -INFINITY;
    for (int c = 0; c < C; c++)
        if (x[c] > mx) mx = x[c];
    double s = 0;
    for (int c = 0; c < C; c++) {
        out[c] = expf(x[c] - mx);
        s += out[c];
    }
    float inv = (float)(1.0 / s);
    for (int c = 0; c < C; c++) out[c] *= inv;
    *max = mx;
    return s;
}

typedef struct {
    float *out;
    const float *inp, *dout;
    int C;
} SoftmaxArgs;

static void softmax_forward_rows(const void *p, size_t n0, size_t n1) {
    const SoftmaxArgs *a = p;
    float mx;
    for (size_t n = n0; n < n1; n++) softmax_row(a->out + n * a->C, a->inp + n * a->C, a->C, &mx);
}

// out[N,C] = softmax(inp[N,C]) over each row
void softmax_forward(float *out, const float *inp, int N, int C) {
    SoftmaxArgs a = {out, inp, NULL, C};
    ops_parallel(softmax_forward_rows, &a, (size_t)N, (size_t)C * 4);
}

// Here `out` is dinp and `inp` is the softmax output y: dinp += y·(dout - Σ dout·y).
static void softmax_backward_rows(const void *p, size_t n0, size_t n1) {
    const SoftmaxArgs *a = p;
    int C = a->C;
    for (size_t n = n0; n < n1; n++) {
        const float *y = a->inp + n * C, *d = a->dout + n * C;
        float *dx = a->out + n * C;
        double s = 0;
        for (int c = 0; c < C; c++) s += (double)d[c] * y[c];
        float dot = (float)s;
        for (int c = 0; c < C; c++) dx[c] += y[c] * (d[c] - dot);
    }
}

// dinp[N,C] += out·(dout - Σ_c dout·out), out being the forward's softmax output
void softmax_backward(float *dinp, const float *dout, const float *out, int N, int C) {
    SoftmaxArgs a = {dinp, out, dout, C};
    ops_parallel(softmax_backward_rows, &a, (size_t)N, (size_t)C * 2);
}

// ---- losses --------------------------------------------------------------------------------

typedef struct {
    float *probs, *losses, *dlogits;
    const float *logits, *probs_in;  // probs_in: the forward's probs, read by backward
    const int *targets;
    int V;
    float scale;
} CeArgs;

// Rows [n0,n1): probs = softmax(logits), losses = log Σ exp(x - max) - (x[target] - max),
// which stays finite where p[target] underflows to 0.
static void ce_forward_rows(const void *p, size_t n0, size_t n1) {
    const CeArgs *a = p;
    int V = a->V;
    for (size_t n = n0; n < n1; n++) {
        float mx;
        double s = softmax_row(a->probs + n * V, a->logits + n * V, V, &mx);
        int t = a->targets[n];
        a->losses[n] = t < 0 ? 0.0f : (float)(log(s) - ((double)a->logits[n * V + t] - mx));
    }
}

// probs, logits [N,V]; targets, losses [N]; returns the mean over rows with target >= 0
double crossentropy_forward(float *probs, float *losses, const float *logits, const int *targets,
                            int N, int V, int *count) {
    CeArgs a = {.probs = probs, .losses = losses, .logits = logits, .targets = targets, .V = V};
    ops_parallel(ce_forward_rows, &a, (size_t)N, (size_t)V * 4);
    double sum = 0;
    int cnt = 0;
    for (int n = 0; n < N; n++)
        if (targets[n] >= 0) {
            sum += losses[n];
            cnt++;
        }
    if (count) *count = cnt;
    return cnt ? sum / cnt : 0.0;
}

static void ce_backward_rows(const void *p, size_t n0, size_t n1) {
    const CeArgs *a = p;
    int V = a->V;
    for (size_t n = n0; n < n1; n++) {
        int t = a->targets[n];
        if (t < 0) continue;
        const float *pr = a->probs_in + n * V;
        float *d = a->dlogits + n * V;
        for (int v = 0; v < V; v++) d[v] += a->scale * (pr[v] - (v == t ? 1.0f : 0.0f));
    }
}

// dlogits[N,V] += scale·(probs - onehot(target)) on rows with target >= 0
void crossentropy_backward(float *dlogits, const float *probs, const int *targets, int N, int V,
                           float scale) {
    CeArgs a = {.dlogits = dlogits, .probs_in = probs, .targets = targets, .V = V,
                .scale = scale};
    ops_parallel(ce_backward_rows, &a, (size_t)N, (size_t)V);
}

// pred, target [N,F]; w [F] or NULL. Returns (1/N) Σ_n Σ_f w[f]·(pred - target)², in double.
double mse_forward(const float *pred, const float *target, const float *w, int N, int F) {
    if (N <= 0) return 0.0;
    double s = 0;
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++) {
            double d = (double)pred[(size_t)n * F + f] - target[(size_t)n * F + f];
            s += (w ? w[f] : 1.0) * d * d;
        }
    return s / N;
}

// dpred[N,F] += scale·2·w[f]·(pred - target)
void mse_backward(float *dpred, const float *pred, const float *target, const float *w, int N,
                  int F, float scale) {
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++) {
            size_t i = (size_t)n * F + f;
            dpred[i] += scale * 2.0f * (w ? w[f] : 1.0f) * (pred[i] - target[i]);
        }
}
