// gemm_tile.h — the body of the GEMM micro-kernel, written once with GCC/Clang vector extensions.
// Not a public header: each model/gemm_kernel_<variant>.c defines
//     TILE_VEC_BYTES   vector width in bytes (16 = SSE2 / NEON, 32 = AVX2)
//     TILE_NV          vectors per tile row (tile = GEMM_MR × TILE_NV·lanes)
//     TILE_TARGET      a function attribute such as __attribute__((target("avx2,fma"))), or empty
// and then includes this file, which defines static tile_kernel() and tile_fma_loop() for it.
//
// Register tile: GEMM_MR = 6 rows × TILE_NV vectors. Per k step the kernel loads TILE_NV vectors
// of the packed B row, broadcasts the 6 values of the packed A column, and issues 6·TILE_NV
// independent multiply-adds into 6·TILE_NV accumulators that stay in registers for the whole kc
// loop. The tile is as large as the register file allows, because each loaded value is reused
// 6 (A) or TILE_NV·lanes (B) times:
//   AVX2, 6×16 (2 ymm per row): 12 accumulators + 2 B + 1 broadcast = 15 of 16 ymm; 12
//         independent FMA chains cover FMA latency 4 × 2 pipes = 8 FMAs in flight.
//   NEON, 6×16 (4 q per row):   24 accumulators + 4 B + 1 = 29 of 32 q registers.
//   SSE2, 6×8  (2 xmm per row): 12 accumulators + 2 B + 1 = 15 of 16 xmm.
//
// Fused multiply-add: the kernel is written acc += b * a. In ISO C mode (-std=c11) gcc does not
// contract a*b+c into an FMA and ignores the standard pragma; clang contracts within an
// expression and honours it. So each compiler is asked in its own words, for the kernel files
// only. Every element of C goes through the same instruction sequence, so results stay identical
// across tile positions and thread counts. Check: objdump -d build/obj/model/gemm_kernel_avx2.o
// | grep -c vfmadd231ps (gcc and clang builds alike).
#ifndef MECHLAB_GEMM_TILE_H
#define MECHLAB_GEMM_TILE_H

#if defined(__clang__)
#pragma STDC FP_CONTRACT ON
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=fast")
#endif

#include <stddef.h>
#include <string.h>

#include "gemm_kernel.h"

#define TILE_LANES (TILE_VEC_BYTES / 4)
#define TILE_NR (TILE_NV * TILE_LANES)
typedef float vec __attribute__((vector_size(TILE_VEC_BYTES)));

// c[i*ldc + j] (+)= Σ_k a[k*MR + i] · b[k*NR + j] for the MR × NR tile (see gemm_kernel.h).
// memcpy is the portable unaligned, alias-safe vector load and store; it compiles to one move.
TILE_TARGET static void tile_kernel(int kc, const float *restrict a, const float *restrict b,
                                    float *restrict c, size_t ldc, bool load_c) {
    vec acc[GEMM_MR][TILE_NV];
    GEMM_UNROLL for (int i = 0; i < GEMM_MR; i++)
        GEMM_UNROLL for (int v = 0; v < TILE_NV; v++) {
            if (load_c)
                memcpy(&acc[i][v], c + i * ldc + v * TILE_LANES, sizeof(vec));
            else
                acc[i][v] = (vec){0};
        }
    for (int k = 0; k < kc; k++) {
        vec bv[TILE_NV];
        GEMM_UNROLL for (int v = 0; v < TILE_NV; v++)
            memcpy(&bv[v], b + (size_t)k * TILE_NR + v * TILE_LANES, sizeof(vec));
        const float *ak = a + (size_t)k * GEMM_MR;
        GEMM_UNROLL for (int i = 0; i < GEMM_MR; i++)
            GEMM_UNROLL for (int v = 0; v < TILE_NV; v++) acc[i][v] += bv[v] * ak[i];
    }
    GEMM_UNROLL for (int i = 0; i < GEMM_MR; i++)
        GEMM_UNROLL for (int v = 0; v < TILE_NV; v++)
            memcpy(c + i * ldc + v * TILE_LANES, &acc[i][v], sizeof(vec));
}

// Small products, without packing: C[M,N] (+)= op(A)[M,K] · op(B)[K,N] for N <= GEMM_SMALL_NMAX,
// A read in place through strides (element (i,k) of op(A) is A[i*ars + k*acs], (k,j) of op(B) is
// B[j*brs + k*bcs]). A row of C is one zero-padded vector (two for 16-byte vectors); per k it
// takes one multiply-add with the broadcast A(i,k) and op(B)'s row k, staged SMALL_KB rows at a
// time into a zero-padded stack buffer (B may end right after its last element). Each lane is
// the same chain as in tile_kernel — start from C or +0, then c += b·a for k = 0..K-1 in order,
// carried through C between stagings, compiled under the same target and contraction rules — so
// the result is bit for bit what the packed path gives. GEMM_MR rows at a time (the last few
// together) keep that many independent chains in flight.
#define SMALL_NV ((GEMM_SMALL_NMAX + TILE_LANES - 1) / TILE_LANES)
#define SMALL_KB 256

TILE_TARGET static inline __attribute__((always_inline)) void
small_rows(const int R, int N, int kb, const float *A, size_t ars, size_t acs,
           const vec *restrict bs, float *C, size_t ldc, bool load_c) {
    // Lanes are set and read one by one: N is small and known only at run time, and a memcpy of
    // N floats would be a library call per row.
    vec c[GEMM_MR][SMALL_NV];
    GEMM_UNROLL for (int r = 0; r < R; r++) {
        GEMM_UNROLL for (int v = 0; v < SMALL_NV; v++) c[r][v] = (vec){0};
        if (load_c)
            for (int j = 0; j < N; j++) c[r][j / TILE_LANES][j % TILE_LANES] = C[(size_t)r * ldc + j];
    }
    for (int k = 0; k < kb; k++)
        GEMM_UNROLL for (int r = 0; r < R; r++) {
            const float a = A[(size_t)r * ars + (size_t)k * acs];
            GEMM_UNROLL for (int v = 0; v < SMALL_NV; v++) c[r][v] += bs[k * SMALL_NV + v] * a;
        }
    GEMM_UNROLL for (int r = 0; r < R; r++)
        for (int j = 0; j < N; j++) C[(size_t)r * ldc + j] = c[r][j / TILE_LANES][j % TILE_LANES];
}

TILE_TARGET static void tile_small(int M, int N, int K, const float *A, size_t ars, size_t acs,
                                   const float *B, size_t brs, size_t bcs, float *C, size_t ldc,
                                   bool load_c) {
    vec bs[SMALL_KB * SMALL_NV];  // op(B) rows k0 .. k0+kb-1, SMALL_NV vectors each
    for (int k0 = 0; k0 < K; k0 += SMALL_KB) {
        const int kb = K - k0 < SMALL_KB ? K - k0 : SMALL_KB;
        for (int k = 0; k < kb; k++) {
            vec *bk = bs + (size_t)k * SMALL_NV;
            GEMM_UNROLL for (int v = 0; v < SMALL_NV; v++) bk[v] = (vec){0};
            for (int j = 0; j < N; j++)
                bk[j / TILE_LANES][j % TILE_LANES] = B[(size_t)j * brs + (size_t)(k0 + k) * bcs];
        }
        const bool lc = load_c || k0 > 0;
        const float *Ak = A + (size_t)k0 * acs;
        int i = 0;
        for (; i + GEMM_MR <= M; i += GEMM_MR)
            small_rows(GEMM_MR, N, kb, Ak + (size_t)i * ars, ars, acs, bs, C + (size_t)i * ldc, ldc, lc);
        // The last M mod GEMM_MR rows together (still one chain per row and lane).
        const float *Ai = Ak + (size_t)i * ars;
        float *Ci = C + (size_t)i * ldc;
        switch (M - i) {
        case 5: small_rows(5, N, kb, Ai, ars, acs, bs, Ci, ldc, lc); break;
        case 4: small_rows(4, N, kb, Ai, ars, acs, bs, Ci, ldc, lc); break;
        case 3: small_rows(3, N, kb, Ai, ars, acs, bs, Ci, ldc, lc); break;
        case 2: small_rows(2, N, kb, Ai, ars, acs, bs, Ci, ldc, lc); break;
        case 1: small_rows(1, N, kb, Ai, ars, acs, bs, Ci, ldc, lc); break;
        default: break;
        }
    }
}

// The peak loop: as many independent chains acc = acc·m + d (one FMA each) as the kernel has
// accumulators, registers only. m < 1 keeps the values bounded (they converge to d/(1-m)).
#define TILE_FMA_FLOPS_PER_ITER (2 * GEMM_MR * TILE_NV * TILE_LANES)
TILE_TARGET static float tile_fma_loop(long iters, float x) {
    vec acc[GEMM_MR * TILE_NV];
    vec m = (vec){0} + (1.0f - 1e-4f * x), d = (vec){0} + 1e-3f * x;
    GEMM_UNROLL for (int i = 0; i < GEMM_MR * TILE_NV; i++) acc[i] = (vec){0} + (float)i * x;
    for (long n = 0; n < iters; n++)
        GEMM_UNROLL for (int i = 0; i < GEMM_MR * TILE_NV; i++) acc[i] = acc[i] * m + d;
    vec s = acc[0];
    GEMM_UNROLL for (int i = 1; i < GEMM_MR * TILE_NV; i++) s += acc[i];
    float r = 0;
    for (int j = 0; j < TILE_LANES; j++) r += s[j];
    return r;
}

#endif
