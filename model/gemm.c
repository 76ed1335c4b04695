#include "gemm.h"

#include "pool.h"

// First version: the reference loop split over rows of C. Replaced by the packed SIMD kernel.
typedef struct {
    bool ta, tb, acc;
    int M, N, K, lda, ldb, ldc;
    const float *A, *B;
    float *C;
} RowJob;

#define ROWS_PER_TASK 16

static void row_task(void *ctx, int task, int thread) {
    (void)thread;
    RowJob *j = ctx;
    int i0 = task * ROWS_PER_TASK;
    int m = j->M - i0 < ROWS_PER_TASK ? j->M - i0 : ROWS_PER_TASK;
    const float *A = j->ta ? j->A + i0 : j->A + (long)i0 * j->lda;
    gemm_ref(j->ta, j->tb, m, j->N, j->K, A, j->lda, j->B, j->ldb, j->C + (long)i0 * j->ldc, j->ldc,
             j->acc);
}

void gemm(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
          float *C, int ldc, bool accumulate) {
    RowJob j = {ta, tb, accumulate, M, N, K, lda, ldb, ldc, A, B, C};
    pool_for((M + ROWS_PER_TASK - 1) / ROWS_PER_TASK, row_task, &j);
}
