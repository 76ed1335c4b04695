#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "model/gemm.h"
#include "model/pool.h"
#include "model/rng.h"
#include "model/timer.h"

typedef void (*GemmFn)(bool, bool, int, int, int, const float *, int, const float *, int, float *,
                       int, bool);

// Best-of-reps GFLOP/s of C = A·B for one shape.
static double gflops(GemmFn f, int M, int N, int K, int reps) {
    Rng r;
    rng_seed(&r, 1);
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C = malloc(sizeof(float) * M * N);
    rng_fill_uniform(&r, A, (size_t)M * K, -1, 1);
    rng_fill_uniform(&r, B, (size_t)K * N, -1, 1);
    f(false, false, M, N, K, A, K, B, N, C, N, false);  // warm up
    double best = 1e30;
    for (int i = 0; i < reps; i++) {
        double t0 = timer_now();
        f(false, false, M, N, K, A, K, B, N, C, N, false);
        double t = timer_now() - t0;
        if (t < best) best = t;
    }
    free(A);
    free(B);
    free(C);
    return 2.0 * M * N * K / best * 1e-9;
}

void bench_gemm(void) {
    const int sq[] = {64, 128, 256, 512, 1024};
    int all = pool_threads();
    for (int i = 0; i < 5; i++) {
        int n = sq[i];
        pool_set_threads(1);
        printf("bench gemm impl=fast M=%d N=%d K=%d threads=1 gflops=%.2f\n", n, n, n,
               gflops(gemm, n, n, n, 5));
        pool_set_threads(all);
        printf("bench gemm impl=fast M=%d N=%d K=%d threads=%d gflops=%.2f\n", n, n, n, all,
               gflops(gemm, n, n, n, 5));
        if (n <= 512)
            printf("bench gemm impl=ref M=%d N=%d K=%d threads=1 gflops=%.2f\n", n, n, n,
                   gflops(gemm_ref, n, n, n, 1));
    }
}
