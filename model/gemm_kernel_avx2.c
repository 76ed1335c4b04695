// gemm_kernel_avx2.c — the micro-kernel compiled for AVX2 + FMA (x86-64 only), whatever the
// command line targets; gemm_kernel.c runs it only on CPUs that have both.
#if defined(__x86_64__)
#define TILE_VEC_BYTES 32
#define TILE_NV 2
#define TILE_TARGET __attribute__((target("avx2,fma")))

#include "gemm_tile.h"

const GemmKernel gemm_kernel_avx2 = {"avx2+fma", TILE_NR, tile_kernel, tile_small, tile_fma_loop,
                                     TILE_FMA_FLOPS_PER_ITER};
#else
typedef int gemm_kernel_avx2_unused;  // ISO C wants something in every translation unit
#endif
