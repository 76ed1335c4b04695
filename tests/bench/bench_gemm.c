// GEMM benchmark: the measured FMA peak of this CPU, then gemm() and the reference loop on square
// and transformer shapes, on one thread and on all threads. Every figure is the best of several
// runs (the machine may be shared), reported as GFLOP/s = 2·M·N·K / seconds.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "model/gemm.h"
#include "model/gemm_kernel.h"
#include "model/pool.h"
#include "model/rng.h"
#include "model/timer.h"

typedef void (*GemmFn)(bool, bool, int, int, int, const float *, int, const float *, int, float *,
                       int, bool);

// ---- FMA peak ----------------------------------------------------------------------------------

#define PEAK_ITERS 20000000L  // ~0.2 s per thread at 100 GFLOP/s

typedef struct {
    const GemmKernel *k;
    volatile float sink;
} PeakJob;

static void peak_task(void *ctx, int task, int thread) {
    (void)thread;
    PeakJob *p = ctx;
    p->sink = p->k->fma_loop(PEAK_ITERS, 1.0f + (float)task * 1e-3f);
}

// GFLOP/s of the register-only FMA loop on `threads` threads at once (best of 3).
static double fma_peak(int threads) {
    PeakJob p = {gemm_kernel(), 0};
    pool_set_threads(threads);
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = timer_now();
        pool_for(threads, peak_task, &p);
        double t = timer_now() - t0;
        if (t < best) best = t;
    }
    return (double)threads * PEAK_ITERS * p.k->fma_flops_per_iter / best * 1e-9;
}

// ---- GEMM --------------------------------------------------------------------------------------

// Best-of GFLOP/s of C = op(A)·op(B) for one shape: repeats for ~0.3 s (at least 3 times,
// reps_max at most) after one warm-up call that also sizes the packing buffers.
static double gflops(GemmFn f, bool ta, bool tb, int M, int N, int K, int reps_max) {
    Rng r;
    rng_seed(&r, 1);
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C = malloc(sizeof(float) * M * N);
    if (!A || !B || !C) {
        fprintf(stderr, "bench gemm: out of memory\n");
        exit(1);
    }
    rng_fill_uniform(&r, A, (size_t)M * K, -1, 1);
    rng_fill_uniform(&r, B, (size_t)K * N, -1, 1);
    int lda = ta ? M : K, ldb = tb ? K : N;
    double t0 = timer_now();
    f(ta, tb, M, N, K, A, lda, B, ldb, C, N, false);  // warm up
    double first = timer_now() - t0, best = first;
    int reps = first > 0 ? (int)(0.3 / first) : reps_max;
    if (reps < 3) reps = 3;
    if (reps > reps_max) reps = reps_max;
    for (int i = 0; i < reps; i++) {
        t0 = timer_now();
        f(ta, tb, M, N, K, A, lda, B, ldb, C, N, false);
        double t = timer_now() - t0;
        if (t < best) best = t;
    }
    free(A);
    free(B);
    free(C);
    return 2.0 * M * N * K / best * 1e-9;
}

void bench_gemm(void) {
    int all = pool_threads();
    const GemmKernel *k = gemm_kernel();
    double peak1 = fma_peak(1);
    printf("bench fma_peak threads=1 gflops=%.2f kernel=%s\n", peak1, k->name);
    if (all > 1) printf("bench fma_peak threads=%d gflops=%.2f kernel=%s\n", all, fma_peak(all), k->name);

    // M×N×K: square, then transformer shapes: one head's pattern·V at T = 64, d_head = 16; then
    // T = 4096 tokens through a 64-wide projection and the MLP's down and up projections
    // (d_model 256, d_mlp 1024).
    const int shapes[][3] = {{64, 64, 64},     {128, 128, 128},  {256, 256, 256},
                             {512, 512, 512},  {1024, 1024, 1024}, {64, 16, 64},
                             {4096, 64, 64},   {4096, 256, 1024}, {4096, 1024, 256}};
    const double ref_max = 512.0 * 512 * 512;  // the reference loop only up to 512³ work
    double fast512 = 0, ref512 = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        pool_set_threads(1);
        double g1 = gflops(gemm, false, false, M, N, K, 1000);
        printf("bench gemm impl=fast M=%d N=%d K=%d threads=1 gflops=%.2f\n", M, N, K, g1);
        if (all > 1) {
            pool_set_threads(all);
            printf("bench gemm impl=fast M=%d N=%d K=%d threads=%d gflops=%.2f\n", M, N, K, all,
                   gflops(gemm, false, false, M, N, K, 1000));
        }
        if ((double)M * N * K <= ref_max) {
            double gr = gflops(gemm_ref, false, false, M, N, K, 3);
            printf("bench gemm impl=ref M=%d N=%d K=%d threads=1 gflops=%.2f\n", M, N, K, gr);
            if (M == 512 && N == 512 && K == 512) fast512 = g1, ref512 = gr;
        }
    }
    // The transpose variants go through packing only: they should match the plain one.
    pool_set_threads(1);
    for (int v = 1; v < 4; v++)
        printf("bench gemm impl=fast M=512 N=512 K=512 threads=1 gflops=%.2f ta=%d tb=%d\n",
               gflops(gemm, v & 1, v & 2, 512, 512, 512, 1000), v & 1, (v & 2) != 0);
    // The portable baseline variant (what a CPU without AVX2 gets), when it is not the default.
    if (strcmp(k->name, "generic") != 0 && gemm_kernel_select("generic") == 0) {
        printf("bench fma_peak threads=1 gflops=%.2f kernel=generic\n", fma_peak(1));
        pool_set_threads(1);
        printf("bench gemm impl=fast M=512 N=512 K=512 threads=1 gflops=%.2f kernel=generic\n",
               gflops(gemm, false, false, 512, 512, 512, 1000));
        gemm_kernel_select(k->name);
    }
    pool_set_threads(all);
    // The target of the GEMM work: at 512³ on one thread, half the FMA peak and 20× the loop.
    double frac = fast512 / peak1, speedup = fast512 / ref512;
    printf("bench gemm_512 threads=1 fraction_of_peak=%.3f speedup_over_ref=%.1f target=0.5,20 "
           "met=%s\n",
           frac, speedup, frac >= 0.5 && speedup >= 20 ? "yes" : "no");
}
