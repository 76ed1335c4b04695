// ops_attn.c — causal self-attention in three hookable steps (TransformerLens layout).
//
// q, k, v, z are [B,T,H,dh]; for one (b,h) the [T,dh] slice starts at b·T·H·dh + h·dh with row
// stride H·dh, which gemm() addresses directly through its leading dimension (no copies).
// scores and pattern are [B,H,T,T], query-major. Work is split into one pool task per (b,h);
// each task owns its slices of every output, so results do not depend on the thread count.
//
// Only the causal entries (s <= t) of scores/pattern take part in any product: the [T,T]
// matrices are cut into ATTN_TILE×ATTN_TILE tiles, tiles above the diagonal are skipped, and a
// diagonal tile is copied to a stack buffer with its upper part zeroed before it meets gemm().
// So a hook that writes above the diagonal changes nothing, and dpattern is never written there.
#include <math.h>
#include <stdbool.h>

#include "gemm.h"
#include "ops.h"
#include "pool.h"

#define ATTN_TILE 32

static int imin(int a, int b) { return a < b ? a : b; }

// blk[mi,mj] = alpha·A[mi,mj] (row stride lda); on a diagonal tile, zero where column > row.
static void attn_load_tile(float *blk, const float *A, int lda, int mi, int mj, float alpha,
                           bool diag) {
    for (int r = 0; r < mi; r++)
        for (int c = 0; c < mj; c++)
            blk[r * mj + c] = diag && c > r ? 0.0f : alpha * A[(size_t)r * lda + c];
}

// C[T,n] (+)= alpha·tril(A[T,T])·X[T,n]        (acc false: C is overwritten)
static void tril_mm(float *C, int ldc, const float *A, int lda, const float *X, int ldx, int T,
                    int n, float alpha, bool acc) {
    float blk[ATTN_TILE * ATTN_TILE];
    for (int i0 = 0; i0 < T; i0 += ATTN_TILE) {
        int mi = imin(ATTN_TILE, T - i0);
        for (int j0 = 0; j0 <= i0; j0 += ATTN_TILE) {
            int mj = imin(ATTN_TILE, T - j0);
            attn_load_tile(blk, A + (size_t)i0 * lda + j0, lda, mi, mj, alpha, j0 == i0);
            gemm(false, false, mi, n, mj, blk, mj, X + (size_t)j0 * ldx, ldx,
                 C + (size_t)i0 * ldc, ldc, acc || j0 > 0);
        }
    }
}

// C[T,n] += alpha·tril(A[T,T])ᵀ·X[T,n], i.e. C[s] += alpha·Σ_{t>=s} A[t,s]·X[t]
static void trilT_mm(float *C, int ldc, const float *A, int lda, const float *X, int ldx, int T,
                     int n, float alpha) {
    float blk[ATTN_TILE * ATTN_TILE];
    for (int j0 = 0; j0 < T; j0 += ATTN_TILE) {
        int mj = imin(ATTN_TILE, T - j0);
        for (int i0 = j0; i0 < T; i0 += ATTN_TILE) {
            int mi = imin(ATTN_TILE, T - i0);
            attn_load_tile(blk, A + (size_t)i0 * lda + j0, lda, mi, mj, alpha, i0 == j0);
            gemm(true, false, mj, n, mi, blk, mj, X + (size_t)i0 * ldx, ldx,
                 C + (size_t)j0 * ldc, ldc, true);
        }
    }
}

// tril(C[T,T]) += Y[T,n]·X[T,n]ᵀ; entries above the diagonal are left untouched.
static void tril_outer(float *C, int ldc, const float *Y, int ldy, const float *X, int ldx, int T,
                       int n) {
    float blk[ATTN_TILE * ATTN_TILE];
    for (int i0 = 0; i0 < T; i0 += ATTN_TILE) {
        int mi = imin(ATTN_TILE, T - i0);
        const float *y = Y + (size_t)i0 * ldy;
        float *c = C + (size_t)i0 * ldc;
        gemm(false, true, mi, i0, n, y, ldy, X, ldx, c, ldc, true);  // columns s < i0
        gemm(false, true, mi, mi, n, y, ldy, X + (size_t)i0 * ldx, ldx, blk, mi, false);
        for (int r = 0; r < mi; r++)
            for (int s = 0; s <= r; s++) c[(size_t)r * ldc + i0 + s] += blk[r * mi + s];
    }
}

typedef struct {
    float *scores, *dq, *dk, *z, *dpattern, *dv;
    const float *q, *k, *dscores, *pattern, *v, *dz;
    int B, T, H, dh;
} AttnArgs;

// Offsets of the (b,h) slices: [T,dh] in a [B,T,H,dh] tensor, [T,T] in a [B,H,T,T] one.
static size_t attn_qoff(const AttnArgs *a, int bh) {
    int b = bh / a->H, h = bh % a->H;
    return (size_t)b * a->T * a->H * a->dh + (size_t)h * a->dh;
}
static size_t attn_soff(const AttnArgs *a, int bh) { return (size_t)bh * a->T * a->T; }

static void attn_scores_forward_task(void *ctx, int bh, int thread) {
    (void)thread;
    const AttnArgs *a = ctx;
    int T = a->T, ld = a->H * a->dh;
    const float *q = a->q + attn_qoff(a, bh), *k = a->k + attn_qoff(a, bh);
    float *S = a->scores + attn_soff(a, bh);
    float sq = sqrtf((float)a->dh);
    for (int i0 = 0; i0 < T; i0 += ATTN_TILE) {
        int mi = imin(ATTN_TILE, T - i0);
        // rows i0..i0+mi-1 need columns up to their diagonal, i.e. < i0 + mi
        gemm(false, true, mi, i0 + mi, a->dh, q + (size_t)i0 * ld, ld, k, ld,
             S + (size_t)i0 * T, T, false);
        for (int t = i0; t < i0 + mi; t++)
            for (int s = 0; s < T; s++)
                S[(size_t)t * T + s] = s <= t ? S[(size_t)t * T + s] / sq : -INFINITY;
    }
}

// scores[B,H,T,T] = q·kᵀ / sqrt(dh) with -inf above the diagonal; q, k [B,T,H,dh]
void attn_scores_forward(float *scores, const float *q, const float *k, int B, int T, int H,
                         int dh) {
    AttnArgs a = {.scores = scores, .q = q, .k = k, .B = B, .T = T, .H = H, .dh = dh};
    pool_for(B * H, attn_scores_forward_task, &a);
}

static void attn_scores_backward_task(void *ctx, int bh, int thread) {
    (void)thread;
    const AttnArgs *a = ctx;
    int T = a->T, ld = a->H * a->dh;
    size_t o = attn_qoff(a, bh);
    const float *dS = a->dscores + attn_soff(a, bh);
    float alpha = 1.0f / sqrtf((float)a->dh);
    if (a->dq) tril_mm(a->dq + o, ld, dS, T, a->k + o, ld, T, a->dh, alpha, true);
    if (a->dk) trilT_mm(a->dk + o, ld, dS, T, a->q + o, ld, T, a->dh, alpha);
}

// dq += tril(dscores)·k / sqrt(dh); dk += tril(dscores)ᵀ·q / sqrt(dh)
void attn_scores_backward(float *dq, float *dk, const float *dscores, const float *q,
                          const float *k, int B, int T, int H, int dh) {
    AttnArgs a = {.dq = dq, .dk = dk, .dscores = dscores, .q = q, .k = k, .B = B, .T = T, .H = H,
                  .dh = dh};
    pool_for(B * H, attn_scores_backward_task, &a);
}

static void attn_z_forward_task(void *ctx, int bh, int thread) {
    (void)thread;
    const AttnArgs *a = ctx;
    int ld = a->H * a->dh;
    size_t o = attn_qoff(a, bh);
    tril_mm(a->z + o, ld, a->pattern + attn_soff(a, bh), a->T, a->v + o, ld, a->T, a->dh, 1.0f,
            false);
}

// z[b,t,h,:] = Σ_{s<=t} pattern[b,h,t,s]·v[b,s,h,:]; pattern [B,H,T,T], v, z [B,T,H,dh]
void attn_z_forward(float *z, const float *pattern, const float *v, int B, int T, int H, int dh) {
    AttnArgs a = {.z = z, .pattern = pattern, .v = v, .B = B, .T = T, .H = H, .dh = dh};
    pool_for(B * H, attn_z_forward_task, &a);
}

static void attn_z_backward_task(void *ctx, int bh, int thread) {
    (void)thread;
    const AttnArgs *a = ctx;
    int T = a->T, ld = a->H * a->dh;
    size_t o = attn_qoff(a, bh), so = attn_soff(a, bh);
    if (a->dpattern) tril_outer(a->dpattern + so, T, a->dz + o, ld, a->v + o, ld, T, a->dh);
    if (a->dv) trilT_mm(a->dv + o, ld, a->pattern + so, T, a->dz + o, ld, T, a->dh, 1.0f);
}

// dpattern[t,s] += dz[t]·v[s] for s <= t; dv[s] += Σ_{t>=s} pattern[t,s]·dz[t]
void attn_z_backward(float *dpattern, float *dv, const float *dz, const float *pattern,
                     const float *v, int B, int T, int H, int dh) {
    AttnArgs a = {.dpattern = dpattern, .dv = dv, .dz = dz, .pattern = pattern, .v = v, .B = B,
                  .T = T, .H = H, .dh = dh};
    pool_for(B * H, attn_z_backward_task, &a);
}
