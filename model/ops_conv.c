// ops_conv.c — image ops on NCHW tensors: conv2d (im2col + gemm), max-pool, average-pool.
//
// conv2d splits the batch over a fixed number of slots, S = min(B, CONV_SLOTS): slot g handles
// samples g, g+S, g+2S, ... with its own im2col buffer and its own partial sum of dW. Which slot
// gets which sample depends only on B, and the partials are added in slot order at the end, so
// dW has the same bits for any thread count (no "each thread sums what it happened to get").
#include <stdbool.h>
#include <string.h>

#include "gemm.h"
#include "ops.h"
#include "ops_internal.h"

#define CONV_SLOTS 16

typedef struct {
    int B, C, H, W, OC, KH, KW, s, p, OH, OW;
    size_t CK, HW;  // rows of the im2col matrix (C·KH·KW), columns (OH·OW)
} ConvDims;

static ConvDims conv_dims(int B, int C, int H, int W, int OC, int KH, int KW, int s, int p) {
    ConvDims d = {B, C, H, W, OC, KH, KW, s, p, (H + 2 * p - KH) / s + 1, (W + 2 * p - KW) / s + 1,
                  0, 0};
    d.CK = (size_t)C * KH * KW;
    d.HW = (size_t)d.OH * d.OW;
    return d;
}

static int conv_slots(int B) { return B < CONV_SLOTS ? B : CONV_SLOTS; }

// Scratch: S im2col buffers [CK, OH·OW], then S dW partials [OC, CK].
size_t conv2d_scratch_floats(int B, int C, int H, int W, int OC, int KH, int KW, int s, int p) {
    ConvDims d = conv_dims(B, C, H, W, OC, KH, KW, s, p);
    return (size_t)conv_slots(B) * (d.CK * d.HW + (size_t)OC * d.CK);
}

// col[CK, OH·OW] from one image x[C,H,W]: col[(c,kh,kw), (oh,ow)] = x[c, oh·s-p+kh, ow·s-p+kw],
// zero where that falls in the padding.
static void im2col(float *col, const float *x, const ConvDims *d) {
    for (int c = 0; c < d->C; c++)
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++) {
                float *row = col + ((size_t)(c * d->KH + kh) * d->KW + kw) * d->HW;
                for (int oh = 0; oh < d->OH; oh++) {
                    int ih = oh * d->s - d->p + kh;
                    float *r = row + (size_t)oh * d->OW;
                    if (ih < 0 || ih >= d->H) {
                        memset(r, 0, sizeof(float) * (size_t)d->OW);
                        continue;
                    }
                    const float *xr = x + ((size_t)c * d->H + ih) * d->W;
                    for (int ow = 0; ow < d->OW; ow++) {
                        int iw = ow * d->s - d->p + kw;
                        r[ow] = iw >= 0 && iw < d->W ? xr[iw] : 0.0f;
                    }
                }
            }
}

// dx[C,H,W] += col2im(dcol[CK, OH·OW]): the transpose of im2col, padding entries dropped.
static void col2im_add(float *dx, const float *dcol, const ConvDims *d) {
    for (int c = 0; c < d->C; c++)
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++) {
                const float *row = dcol + ((size_t)(c * d->KH + kh) * d->KW + kw) * d->HW;
                for (int oh = 0; oh < d->OH; oh++) {
                    int ih = oh * d->s - d->p + kh;
                    if (ih < 0 || ih >= d->H) continue;
                    const float *r = row + (size_t)oh * d->OW;
                    float *xr = dx + ((size_t)c * d->H + ih) * d->W;
                    for (int ow = 0; ow < d->OW; ow++) {
                        int iw = ow * d->s - d->p + kw;
                        if (iw >= 0 && iw < d->W) xr[iw] += r[ow];
                    }
                }
            }
}

typedef struct {
    ConvDims d;
    int slots;
    float *out, *dinp, *dw, *db, *scratch;
    const float *inp, *w, *b, *dout;
} ConvArgs;

static float *conv_col(const ConvArgs *a, int g) { return a->scratch + (size_t)g * a->d.CK * a->d.HW; }
static float *conv_part(const ConvArgs *a, int g) {
    return a->scratch + (size_t)a->slots * a->d.CK * a->d.HW + (size_t)g * a->d.OC * a->d.CK;
}

static void conv_forward_task(void *ctx, int g, int thread) {
    (void)thread;
    const ConvArgs *a = ctx;
    const ConvDims *d = &a->d;
    float *col = conv_col(a, g);
    for (int b = g; b < d->B; b += a->slots) {
        im2col(col, a->inp + (size_t)b * d->C * d->H * d->W, d);
        float *o = a->out + (size_t)b * d->OC * d->HW;
        if (a->b)
            for (int oc = 0; oc < d->OC; oc++)
                for (size_t i = 0; i < d->HW; i++) o[(size_t)oc * d->HW + i] = a->b[oc];
        // out_b[OC, OH·OW] (+)= w[OC, CK]·col[CK, OH·OW]
        gemm(false, false, d->OC, (int)d->HW, (int)d->CK, a->w, (int)d->CK, col, (int)d->HW, o,
             (int)d->HW, a->b != NULL);
    }
}

// out[B,OC,OH,OW] = conv(inp[B,C,H,W], w[OC,C,KH,KW]) + b[OC]; scratch per conv2d_scratch_floats
void conv2d_forward(float *out, const float *inp, const float *w, const float *b, int B, int C,
                    int H, int W, int OC, int KH, int KW, int s, int p, float *scratch) {
    ConvArgs a = {.d = conv_dims(B, C, H, W, OC, KH, KW, s, p), .slots = conv_slots(B),
                  .out = out, .scratch = scratch, .inp = inp, .w = w, .b = b};
    pool_for(a.slots, conv_forward_task, &a);
}

static void conv_backward_task(void *ctx, int g, int thread) {
    (void)thread;
    const ConvArgs *a = ctx;
    const ConvDims *d = &a->d;
    float *col = conv_col(a, g), *part = conv_part(a, g);
    int CK = (int)d->CK, HW = (int)d->HW;
    for (int b = g; b < d->B; b += a->slots) {
        const float *go = a->dout + (size_t)b * d->OC * d->HW;
        if (a->dw) {
            // part[OC, CK] (+)= dout_b[OC, OH·OW]·col_bᵀ; the first sample of the slot overwrites
            im2col(col, a->inp + (size_t)b * d->C * d->H * d->W, d);
            gemm(false, true, d->OC, CK, HW, go, HW, col, HW, part, CK, b != g);
        }
        if (a->dinp) {
            // dcol[CK, OH·OW] = wᵀ·dout_b, reusing the im2col buffer, then scattered back
            gemm(true, false, CK, HW, d->OC, a->w, CK, go, HW, col, HW, false);
            col2im_add(a->dinp + (size_t)b * d->C * d->H * d->W, col, d);
        }
    }
}

// db[oc] += Σ_b Σ_pixel dout[b, oc, pixel], for oc in [o0,o1), summed in order b then pixel.
static void conv_db_range(const void *p, size_t o0, size_t o1) {
    const ConvArgs *a = p;
    const ConvDims *d = &a->d;
    for (size_t oc = o0; oc < o1; oc++) {
        float sum = 0.0f;
        for (int b = 0; b < d->B; b++) {
            const float *go = a->dout + ((size_t)b * d->OC + oc) * d->HW;
            for (size_t i = 0; i < d->HW; i++) sum += go[i];
        }
        a->db[oc] += sum;
    }
}

// dinp[B,C,H,W] += convᵀ(dout); dw[OC,C,KH,KW] += Σ_b dout_b·col_bᵀ; db[OC] += Σ dout
void conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int B, int C, int H, int W, int OC, int KH, int KW, int s,
                     int p, float *scratch) {
    ConvArgs a = {.d = conv_dims(B, C, H, W, OC, KH, KW, s, p), .slots = conv_slots(B),
                  .dinp = dinp, .dw = dw, .db = db, .scratch = scratch, .dout = dout,
                  .inp = inp, .w = w};
    if (dinp || dw) pool_for(a.slots, conv_backward_task, &a);
    if (dw) {
        size_t n = (size_t)OC * a.d.CK;
        for (size_t i = 0; i < n; i++) {
            float sum = 0.0f;
            for (int g = 0; g < a.slots; g++) sum += conv_part(&a, g)[i];
            dw[i] += sum;
        }
    }
    if (db) ops_parallel(conv_db_range, &a, (size_t)OC, (size_t)B * a.d.HW);
}

// ---- pooling -------------------------------------------------------------------------------

typedef struct {
    float *out, *dinp;
    int *argmax;
    const float *inp, *dout;
    const int *argmax_in;
    int H, W, OH, OW, k, s;
} PoolArgs;

// Planes [c0,c1) of the B·C planes: out = max over each k×k window, argmax = the winner's index
// ih·W + iw within its plane (ties: the first in row-major order, since only > replaces).
static void maxpool_forward_planes(const void *p, size_t c0, size_t c1) {
    const PoolArgs *a = p;
    for (size_t c = c0; c < c1; c++) {
        const float *x = a->inp + c * a->H * a->W;
        float *o = a->out + c * a->OH * a->OW;
        int *am = a->argmax + c * a->OH * a->OW;
        for (int oh = 0; oh < a->OH; oh++)
            for (int ow = 0; ow < a->OW; ow++) {
                int best = oh * a->s * a->W + ow * a->s;
                for (int kh = 0; kh < a->k; kh++)
                    for (int kw = 0; kw < a->k; kw++) {
                        int i = (oh * a->s + kh) * a->W + ow * a->s + kw;
                        if (x[i] > x[best]) best = i;
                    }
                o[oh * a->OW + ow] = x[best];
                am[oh * a->OW + ow] = best;
            }
    }
}

// out, argmax [B,C,OH,OW] from inp [B,C,H,W]; OH = (H-k)/s + 1
void maxpool2d_forward(float *out, int *argmax, const float *inp, int B, int C, int H, int W,
                       int k, int s) {
    PoolArgs a = {.out = out, .argmax = argmax, .inp = inp, .H = H, .W = W,
                  .OH = (H - k) / s + 1, .OW = (W - k) / s + 1, .k = k, .s = s};
    ops_parallel(maxpool_forward_planes, &a, (size_t)B * C, (size_t)H * W);
}

// Planes [c0,c1): dinp[plane, argmax] += dout, outputs in row-major order (windows may overlap).
static void maxpool_backward_planes(const void *p, size_t c0, size_t c1) {
    const PoolArgs *a = p;
    size_t n = (size_t)a->OH * a->OW;
    for (size_t c = c0; c < c1; c++)
        for (size_t i = 0; i < n; i++)
            a->dinp[c * a->H * a->W + a->argmax_in[c * n + i]] += a->dout[c * n + i];
}

// dinp [B,C,H,W] += dout [B,C,OH,OW] routed to each window's argmax
void maxpool2d_backward(float *dinp, const float *dout, const int *argmax, int B, int C, int OH,
                        int OW, int H, int W) {
    PoolArgs a = {.dinp = dinp, .dout = dout, .argmax_in = argmax, .H = H, .W = W, .OH = OH,
                  .OW = OW};
    ops_parallel(maxpool_backward_planes, &a, (size_t)B * C, (size_t)H * W);
}

static void avgpool_forward_planes(const void *p, size_t c0, size_t c1) {
    const PoolArgs *a = p;
    float inv = 1.0f / (float)(a->k * a->k);
    for (size_t c = c0; c < c1; c++) {
        const float *x = a->inp + c * a->H * a->W;
        float *o = a->out + c * a->OH * a->OW;
        for (int oh = 0; oh < a->OH; oh++)
            for (int ow = 0; ow < a->OW; ow++) {
                float sum = 0.0f;
                for (int kh = 0; kh < a->k; kh++)
                    for (int kw = 0; kw < a->k; kw++)
                        sum += x[(oh * a->s + kh) * a->W + ow * a->s + kw];
                o[oh * a->OW + ow] = sum * inv;
            }
    }
}

// out [B,C,OH,OW] = mean of each k×k window of inp [B,C,H,W], stride s
void avgpool2d_forward(float *out, const float *inp, int B, int C, int H, int W, int k, int s) {
    PoolArgs a = {.out = out, .inp = inp, .H = H, .W = W, .OH = (H - k) / s + 1,
                  .OW = (W - k) / s + 1, .k = k, .s = s};
    ops_parallel(avgpool_forward_planes, &a, (size_t)B * C, (size_t)H * W);
}

static void avgpool_backward_planes(const void *p, size_t c0, size_t c1) {
    const PoolArgs *a = p;
    float inv = 1.0f / (float)(a->k * a->k);
    for (size_t c = c0; c < c1; c++) {
        float *dx = a->dinp + c * a->H * a->W;
        const float *d = a->dout + c * a->OH * a->OW;
        for (int oh = 0; oh < a->OH; oh++)
            for (int ow = 0; ow < a->OW; ow++) {
                float g = d[oh * a->OW + ow] * inv;
                for (int kh = 0; kh < a->k; kh++)
                    for (int kw = 0; kw < a->k; kw++)
                        dx[(oh * a->s + kh) * a->W + ow * a->s + kw] += g;
            }
    }
}

// dinp [B,C,H,W] += dout [B,C,OH,OW] / k² spread over each window
void avgpool2d_backward(float *dinp, const float *dout, int B, int C, int H, int W, int k, int s) {
    PoolArgs a = {.dinp = dinp, .dout = dout, .H = H, .W = W, .OH = (H - k) / s + 1,
                  .OW = (W - k) / s + 1, .k = k, .s = s};
    ops_parallel(avgpool_backward_planes, &a, (size_t)B * C, (size_t)H * W);
}
