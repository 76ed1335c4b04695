#include "gemm.h"

// The reference: one dot product per output element, summed in float from k = 0 upwards.
void gemm_ref(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B,
              int ldb, float *C, int ldc, bool accumulate) {
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(long)k * lda + i] : A[(long)i * lda + k];
                float b = tb ? B[(long)j * ldb + k] : B[(long)k * ldb + j];
                s += a * b;
            }
            float *c = &C[(long)i * ldc + j];
            *c = accumulate ? *c + s : s;
        }
    }
}
