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
