// gemm_kernel.h — the register-tile micro-kernel behind gemm() (internal to model/gemm*.c and the
// benchmark; everyone else calls gemm()).
//
// A micro-kernel computes one GEMM_MR × nr tile of C from packed panels:
//   c[i*ldc + j] (+)= Σ_{k<kc} a[k*GEMM_MR + i] · b[k*nr + j]      i < GEMM_MR, j < nr
// a is an MR-row panel of op(A) stored k-major, b an nr-column panel of op(B) stored k-major
// (any alignment). With load_c the tile starts from C (the sum continues), else from zero.
// Every element is the same chain of multiply-adds in k order, whatever its place in the tile.
//
// The body is written once (model/gemm_tile.h) and compiled in variants: "generic" for whatever
// the build targets (SSE2 on x86-64, NEON on AArch64, ...) and, on x86-64, "avx2+fma" whatever
// the build flags; the best one the CPU supports is picked at run time. nr depends on the variant.
#ifndef MECHLAB_GEMM_KERNEL_H
#define MECHLAB_GEMM_KERNEL_H

#include <stdbool.h>
#include <stddef.h>

#define GEMM_MR 6       // rows of the register tile (every variant)
#define GEMM_NR_MAX 16  // the widest nr of any variant (gemm.c sizes scratch with it)

// Full unrolling of a short loop over a tile or panel (at -O2 neither gcc nor clang does it by
// itself, and without it tile accumulators stay in memory). In a macro so the loop still reads
// as one line.
#if defined(__clang__)
#define GEMM_UNROLL _Pragma("clang loop unroll(full)")
#else
#define GEMM_UNROLL _Pragma("GCC unroll 16")
#endif

typedef void (*gemm_kernel_fn)(int kc, const float *a, const float *b, float *c, size_t ldc,
                               bool load_c);

// Widest C (columns) the small path takes. Below that the register tile (nr = 8 or 16 columns)
// would be mostly padding, and for short products packing costs more than the multiply.
#define GEMM_SMALL_NMAX 8
// The unpacked path for C[M,N] with N <= GEMM_SMALL_NMAX, operands read through strides (element
// (i,k) of op(A) at A[i*ars + k*acs], (k,j) of op(B) at B[j*brs + k*bcs]); same chains as fn.
typedef void (*gemm_small_fn)(int M, int N, int K, const float *A, size_t ars, size_t acs,
                              const float *B, size_t brs, size_t bcs, float *C, size_t ldc,
                              bool load_c);

typedef struct {
    const char *name;   // "avx2+fma", "generic", ...
    int nr;             // columns of the register tile (8 or 16)
    gemm_kernel_fn fn;  // the micro-kernel
    gemm_small_fn small;  // the same arithmetic without packing, for narrow C
    // Register-only multiply-add loop in the same vector width and target as fn (the benchmark's
    // peak figure): `iters` iterations of fma_flops_per_iter flops; returns a value that depends
    // on all of them so the loop is not optimised away.
    float (*fma_loop)(long iters, float x);
    int fma_flops_per_iter;
} GemmKernel;

// The variant gemm() uses: the best this CPU supports, chosen on first call (thread-safe).
const GemmKernel *gemm_kernel(void);

// For tests and benchmarks: makes gemm() use the variant called `name` ("generic" always
// exists). Returns 0, or -1 (err_set) if it is not compiled in or the CPU lacks it. Not to be
// called while a gemm() is running.
int gemm_kernel_select(const char *name);

// For tests and benchmarks: false makes gemm() pack every product, even the ones it would give
// to the small path (to compare the two, which must agree bit for bit). Default true.
void gemm_set_small_path(bool on);

#endif
