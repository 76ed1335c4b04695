// gemm_kernel_generic.c — the portable micro-kernel variant, compiled for whatever the command
// line targets (x86-64 baseline SSE2, AArch64 NEON, anything else GCC or Clang builds for).
// Vector width: the widest the target certainly has (32 bytes when the build already has AVX,
// e.g. NATIVE=1; else 16). Tile width: 4 vectors where there are 32 vector registers (AArch64),
// else 2.
#if defined(__AVX__)
#define TILE_VEC_BYTES 32
#define TILE_NV 2
#elif defined(__aarch64__)
#define TILE_VEC_BYTES 16
#define TILE_NV 4
#else
#define TILE_VEC_BYTES 16
#define TILE_NV 2
#endif
#define TILE_TARGET

#include "gemm_tile.h"

const GemmKernel gemm_kernel_generic = {"generic", TILE_NR, tile_kernel, tile_small, tile_fma_loop,
                                        TILE_FMA_FLOPS_PER_ITER};
