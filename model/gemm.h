// gemm.h — the one matrix multiply of mechlab.
//
//   C[M,N] = op(A)[M,K] · op(B)[K,N]        (accumulate = false)
//   C[M,N] += op(A)[M,K] · op(B)[K,N]       (accumulate = true)
//
// op(X) is X, or Xᵀ when the matching trans flag is set. All matrices are row-major with leading
// dimensions (row strides, in floats): A is [M,K] (lda >= K) or, transposed, stored as [K,M]
// (lda >= M); likewise B is [K,N] or stored as [N,K]; C is [M,N] with ldc >= N.
// The backward passes use the variants: dX = dY·Wᵀ (tb), dW += Xᵀ·dY (ta, accumulate).
//
// gemm() is the fast one (packed, cache-blocked, SIMD, threaded over the pool); every element of
// C has a fixed reduction order, so the result does not depend on the thread count.
// gemm_ref() is the plain triple loop the tests compare gemm() to. Neither allocates per call
// beyond per-thread packing buffers created once.
#ifndef MECHLAB_GEMM_H
#define MECHLAB_GEMM_H

#include <stdbool.h>

void gemm(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
          float *C, int ldc, bool accumulate);

void gemm_ref(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B,
              int ldb, float *C, int ldc, bool accumulate);

#endif
