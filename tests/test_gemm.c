// GEMM: the fast kernel against the reference loop, every transpose variant, odd shapes, with and
// without accumulate; bit-identical results on 1 and 2 threads.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "model/gemm.h"
#include "model/pool.h"
#include "model/rng.h"

TestSuite(gemm);

typedef struct {
    int M, N, K;
} Shape;

static void check_shape(int M, int N, int K, bool ta, bool tb, bool acc, int pad) {
    Rng r;
    rng_seed(&r, (uint64_t)(M * 131 + N * 17 + K));
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = malloc(na * sizeof(float)), *B = malloc(nb * sizeof(float));
    float *C = malloc(nc * sizeof(float)), *R = malloc(nc * sizeof(float));
    rng_fill_uniform(&r, A, na, -1, 1);
    rng_fill_uniform(&r, B, nb, -1, 1);
    rng_fill_uniform(&r, C, nc, -1, 1);
    memcpy(R, C, nc * sizeof(float));
    gemm(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc);
    gemm_ref(ta, tb, M, N, K, A, lda, B, ldb, R, ldc, acc);
    // Sums of K products of U(-1,1) terms: rounding differs by order, ~ sqrt(K) * eps * scale.
    double atol = 1e-5 * (1 + sqrt((double)K)) * 4;
    for (int i = 0; i < M; i++) {
        double d = max_abs_diff(C + (size_t)i * ldc, R + (size_t)i * ldc, (size_t)N);
        cr_assert(d <= atol, "M=%d N=%d K=%d ta=%d tb=%d acc=%d: row %d max diff %g > %g", M, N, K,
                  ta, tb, acc, i, d, atol);
    }
    // Padding columns of C are untouched.
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++)
            cr_assert_eq(C[(size_t)i * ldc + j], R[(size_t)i * ldc + j], "pad written");
    free(A);
    free(B);
    free(C);
    free(R);
}

Test(gemm, matches_reference_on_odd_shapes_all_variants) {
    const int dims[] = {1, 3, 17, 63, 65};
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
            for (int c = 0; c < 5; c++)
                for (int v = 0; v < 8; v++)
                    check_shape(dims[a], dims[b], dims[c], v & 1, v & 2, v & 4, (a + b) % 3);
}

Test(gemm, matches_reference_on_larger_shapes) {
    const Shape s[] = {{257, 129, 300}, {64, 1024, 256}, {1000, 3, 517}, {5, 700, 1030}};
    for (int i = 0; i < 4; i++)
        for (int v = 0; v < 4; v++) check_shape(s[i].M, s[i].N, s[i].K, v & 1, v & 2, false, 0);
}

Test(gemm, bit_identical_on_1_and_2_threads) {
    const int M = 300, N = 257, K = 513;
    Rng r;
    rng_seed(&r, 99);
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
    rng_fill_normal(&r, A, (size_t)M * K, 0, 1);
    rng_fill_normal(&r, B, (size_t)K * N, 0, 1);
    for (int v = 0; v < 4; v++) {
        bool ta = v & 1, tb = v & 2;
        pool_set_threads(1);
        gemm(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, C1, N, false);
        pool_set_threads(2);
        gemm(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, C2, N, false);
        cr_assert_eq(memcmp(C1, C2, sizeof(float) * M * N), 0, "variant %d differs", v);
    }
    pool_shutdown();
    free(A);
    free(B);
    free(C1);
    free(C2);
}

Test(gemm, k_zero_sets_or_keeps_c) {
    float C[6] = {1, 2, 3, 4, 5, 6};
    gemm(false, false, 2, 3, 0, NULL, 1, NULL, 3, C, 3, true);
    for (int i = 0; i < 6; i++) cr_assert_eq(C[i], (float)(i + 1));
    gemm(false, false, 2, 3, 0, NULL, 1, NULL, 3, C, 3, false);
    for (int i = 0; i < 6; i++) cr_assert_eq(C[i], 0.0f);
}
