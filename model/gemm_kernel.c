// gemm_kernel.c — the GEMM micro-kernel, written once with GCC/Clang vector extensions and
// compiled in several variants (see gemm_kernel.h for the contract).
//
// Register tile: GEMM_MR = 6 rows × NV vectors of 8 floats. Per k step the kernel loads NV
// vectors of the packed B row, broadcasts 6 values of the packed A column, and issues 6·NV
// independent multiply-adds into 6·NV accumulators that stay in registers for the whole kc loop.
//   NV = 2 (6×16): 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 ymm registers of
//        AVX2, and 2·12 + 4 + 1 = 29 of the 32 q registers of AArch64 NEON (a v8 is two q).
//        12 independent FMA chains cover FMA latency (4 cycles) × 2 pipes = 8 in flight.
//   NV = 1 (6×8):  for 16 registers of 128 bits (x86-64 baseline SSE2): 12 xmm accumulators.
//
// Fused multiply-add: the kernel is written as acc += b * a. In ISO C mode gcc does not contract
// a*b+c into an FMA by default and ignores the standard pragma, so this file asks each compiler
// in its own words: clang honours `#pragma STDC FP_CONTRACT ON`, gcc takes
// `#pragma GCC optimize("fp-contract=fast")`. Both are confined to this file, and every element
// goes through the same instructions, so results stay identical across tiles and thread counts.
// (Check: objdump -d build/obj/model/gemm_kernel.o | grep vfmadd.)
#if defined(__clang__)
#pragma STDC FP_CONTRACT ON
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=fast")
#endif

#include "gemm_kernel.h"

#include <pthread.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(32)));

#define INLINE static inline __attribute__((always_inline))
// Full unrolling of the short tile loops, so acc[][] becomes registers (at -O2 neither compiler
// does it on its own). _Pragma inside a macro so a loop still reads as one line.
#if defined(__clang__)
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

// One MR × 8·nv tile; nv is a compile-time constant after inlining, so the loops unroll fully
// and acc[][] lives in registers. memcpy is the portable unaligned (and alias-safe) vector load.
INLINE void tile_body(int nv, int kc, const float *restrict a, const float *restrict b,
                      float *restrict c, size_t ldc, bool load_c) {
    const int nr = 8 * nv;
    v8 acc[GEMM_MR][2];
    UNROLL for (int i = 0; i < GEMM_MR; i++)
        UNROLL for (int v = 0; v < nv; v++) {
            if (load_c)
                memcpy(&acc[i][v], c + i * ldc + 8 * v, sizeof(v8));
            else
                acc[i][v] = (v8){0};
        }
    for (int k = 0; k < kc; k++) {
        v8 bv[2];
        UNROLL for (int v = 0; v < nv; v++) memcpy(&bv[v], b + (size_t)k * nr + 8 * v, sizeof(v8));
        const float *ak = a + (size_t)k * GEMM_MR;
        UNROLL for (int i = 0; i < GEMM_MR; i++)
            UNROLL for (int v = 0; v < nv; v++) acc[i][v] += bv[v] * ak[i];
    }
    UNROLL for (int i = 0; i < GEMM_MR; i++)
        UNROLL for (int v = 0; v < nv; v++) memcpy(c + i * ldc + 8 * v, &acc[i][v], sizeof(v8));
}

// The peak loop: 6·nv independent chains of acc = acc·m + d (one FMA each), registers only.
// m < 1 keeps the values bounded (they converge to d/(1-m)), so no overflow or denormals.
INLINE float fma_loop_body(int nv, long iters, float x) {
    v8 acc[GEMM_MR * 2];
    v8 m = (v8){0} + (1.0f - 1e-4f * x), d = (v8){0} + 1e-3f * x;
    UNROLL for (int i = 0; i < GEMM_MR * nv; i++) acc[i] = (v8){0} + (float)i * x;
    for (long n = 0; n < iters; n++)
        UNROLL for (int i = 0; i < GEMM_MR * nv; i++) acc[i] = acc[i] * m + d;
    v8 s = acc[0];
    UNROLL for (int i = 1; i < GEMM_MR * nv; i++) s += acc[i];
    float r = 0;
    for (int j = 0; j < 8; j++) r += s[j];
    return r;
}

// ---- the variants ------------------------------------------------------------------------------

// The baseline, compiled for whatever the command line targets. Wide tile where there are 32
// vector registers (AArch64) or the build already has AVX (NATIVE=1); narrow on 16 × 128 bit.
#if defined(__aarch64__) || defined(__AVX__)
#define GENERIC_NV 2
#else
#define GENERIC_NV 1
#endif

static void kernel_generic(int kc, const float *a, const float *b, float *c, size_t ldc,
                           bool load_c) {
    tile_body(GENERIC_NV, kc, a, b, c, ldc, load_c);
}
static float fma_loop_generic(long iters, float x) {
    return fma_loop_body(GENERIC_NV, iters, x);
}

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma")))
AVX2 static void kernel_avx2(int kc, const float *a, const float *b, float *c, size_t ldc,
                             bool load_c) {
    tile_body(2, kc, a, b, c, ldc, load_c);
}
AVX2 static float fma_loop_avx2(long iters, float x) {
    return fma_loop_body(2, iters, x);
}
#endif

// ---- run-time choice ---------------------------------------------------------------------------

static GemmKernel chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static void choose(void) {
    chosen = (GemmKernel){"generic", 8 * GENERIC_NV, kernel_generic, fma_loop_generic,
                          2 * 8 * GEMM_MR * GENERIC_NV};
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        chosen = (GemmKernel){"avx2+fma", 16, kernel_avx2, fma_loop_avx2, 2 * 8 * GEMM_MR * 2};
#endif
}

const GemmKernel *gemm_kernel(void) {
    pthread_once(&chosen_once, choose);
    return &chosen;
}
