// GEMM: the fast kernel against the reference loop, for every kernel variant this CPU runs
// ("avx2+fma" and the portable "generic" here), every transpose variant, with and without
// accumulate, padded leading dimensions, odd shapes and shapes on either side of every block
// edge (register tile MR × nr, MC, KC, NC); the small path (narrow C) bit-identical to the packed
// one; bit-identical results on 1, 2 and 3 threads; gemm called from inside pool tasks.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "model/err.h"
#include "model/gemm.h"
#include "model/gemm_kernel.h"
#include "model/pool.h"
#include "model/rng.h"

TestSuite(gemm, .timeout = 60);

// The kernel variants to test: every one this build has and this CPU runs.
static const char *const variant_names[] = {"avx2+fma", "generic"};
#define NVARIANT_NAMES 2

// Restores the default variant (tests run in one process, one after another).
static void reset_variant(void) {
    const char *best = NULL;
    for (int i = 0; i < NVARIANT_NAMES && !best; i++)
        if (gemm_kernel_select(variant_names[i]) == 0) best = variant_names[i];
}

typedef struct {
    int M, N, K;
} Shape;

typedef struct {
    float *A, *B, *C, *R;
    int lda, ldb, ldc;
} Operands;

// Operands for C = op(A)·op(B) with `pad` extra columns in every leading dimension. integers:
// entries in {-2..2} (every sum then is exact in float, so fast and reference must agree
// bit for bit), else uniform in (-1, 1). C and R start equal (for accumulate).
static Operands make_operands(int M, int N, int K, bool ta, bool tb, int pad, bool integers,
                              uint64_t seed) {
    Operands o;
    Rng r;
    rng_seed(&r, seed);
    o.lda = (ta ? M : K) + pad, o.ldb = (tb ? K : N) + pad, o.ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * o.lda, nb = (size_t)(tb ? N : K) * o.ldb,
           nc = (size_t)M * o.ldc;
    o.A = malloc(na * sizeof(float)), o.B = malloc(nb * sizeof(float));
    o.C = malloc(nc * sizeof(float)), o.R = malloc(nc * sizeof(float));
    cr_assert(o.A && o.B && o.C && o.R);
    float *all[3] = {o.A, o.B, o.C};
    size_t n[3] = {na, nb, nc};
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < n[t]; i++)
            all[t][i] = integers ? (float)rng_int(&r, 5) - 2.0f : 2.0f * rng_uniform(&r) - 1.0f;
    memcpy(o.R, o.C, nc * sizeof(float));
    return o;
}

static void free_operands(Operands *o) {
    free(o->A);
    free(o->B);
    free(o->C);
    free(o->R);
}

// gemm vs gemm_ref on one case. Exact (integer) cases must match bit for bit; random ones within
// the rounding of two sums of K products in different orders (~ sqrt(K)·eps per unit term).
// The padding columns of C must be left alone.
static void check_case(int M, int N, int K, bool ta, bool tb, bool acc, int pad, bool integers) {
    Operands o = make_operands(M, N, K, ta, tb, pad, integers, (uint64_t)(M * 131 + N * 17 + K));
    gemm(ta, tb, M, N, K, o.A, o.lda, o.B, o.ldb, o.C, o.ldc, acc);
    gemm_ref(ta, tb, M, N, K, o.A, o.lda, o.B, o.ldb, o.R, o.ldc, acc);
    double atol = integers ? 0 : 4e-5 * (1 + sqrt((double)K));
    for (int i = 0; i < M; i++) {
        double d = max_abs_diff(o.C + (size_t)i * o.ldc, o.R + (size_t)i * o.ldc, (size_t)N);
        cr_assert(d <= atol, "%s M=%d N=%d K=%d ta=%d tb=%d acc=%d pad=%d: row %d max diff %g > %g",
                  gemm_kernel()->name, M, N, K, ta, tb, acc, pad, i, d, atol);
        for (int j = N; j < o.ldc; j++)
            cr_assert_eq(o.C[(size_t)i * o.ldc + j], o.R[(size_t)i * o.ldc + j],
                         "M=%d N=%d K=%d: padding C[%d,%d] written", M, N, K, i, j);
    }
    free_operands(&o);
}

Test(gemm, matches_reference_on_odd_shapes_all_variants) {
    const int dims[] = {1, 3, 17, 63, 65};
    for (int kv = 0; kv < NVARIANT_NAMES; kv++) {
        if (gemm_kernel_select(variant_names[kv]) != 0) continue;
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 5; b++)
                for (int c = 0; c < 5; c++)
                    for (int v = 0; v < 8; v++)
                        check_case(dims[a], dims[b], dims[c], v & 1, v & 2, v & 4, (a + b) % 3,
                                   false);
    }
    reset_variant();
}

// Either side of each edge: the register tile (MR = 6 rows, nr = 8 or 16 columns), MC = 144
// rows, KC = 256 (K split into a full and a partial step, or two full ones), NC = 3072 columns.
Test(gemm, exact_on_block_edges_all_variants) {
    const Shape s[] = {{6, 16, 256},  {7, 17, 257},  {5, 15, 255},   {144, 8, 512},
                       {145, 9, 300}, {143, 31, 1},  {257, 33, 513}, {12, 3073, 5},
                       {2, 3072, 260}};
    for (int kv = 0; kv < NVARIANT_NAMES; kv++) {
        if (gemm_kernel_select(variant_names[kv]) != 0) continue;
        for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
            for (int v = 0; v < 8; v++)
                check_case(s[i].M, s[i].N, s[i].K, v & 1, v & 2, v & 4, v % 3, true);
    }
    reset_variant();
}

// The small path (narrow C, short products: the toy models' shapes) must give what the packed
// path gives, bit for bit, on every variant: random operands, every transpose, accumulate, padded
// leading dimensions, N = 1..GEMM_SMALL_NMAX, every row count left over after its 6-row step, K
// on either side of its 256-row staging (carried through C), and shapes just past its limits
// (N = 9; 1e7 flops).
Test(gemm, small_path_bit_identical_to_packed_all_variants) {
    const Shape s[] = {{1, 1, 1},    {1024, 1, 2},  {1024, 2, 1},  {2, 1, 1024},  {1024, 5, 20},
                       {20, 5, 64},  {7, 8, 63},    {5, 2, 1024},  {3, 7, 65},    {1024, 8, 64},
                       {9, 3, 700},  {13, 8, 300},  {4, 6, 256},   {10, 4, 257},  {11, 8, 513},
                       {1024, 9, 5}, {1218, 8, 513}, {1219, 8, 513}};
    for (int kv = 0; kv < NVARIANT_NAMES; kv++) {
        if (gemm_kernel_select(variant_names[kv]) != 0) continue;
        for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
            for (int v = 0; v < 8; v++) {
                const int M = s[i].M, N = s[i].N, K = s[i].K, pad = v % 3;
                const bool ta = v & 1, tb = v & 2, acc = v & 4;
                Operands o = make_operands(M, N, K, ta, tb, pad, false, (uint64_t)(i * 8 + v));
                gemm_set_small_path(true);
                gemm(ta, tb, M, N, K, o.A, o.lda, o.B, o.ldb, o.C, o.ldc, acc);
                gemm_set_small_path(false);
                gemm(ta, tb, M, N, K, o.A, o.lda, o.B, o.ldb, o.R, o.ldc, acc);
                cr_assert(!memcmp(o.C, o.R, sizeof(float) * (size_t)M * o.ldc),
                          "%s M=%d N=%d K=%d ta=%d tb=%d acc=%d pad=%d: small and packed differ",
                          gemm_kernel()->name, M, N, K, ta, tb, acc, pad);
                free_operands(&o);
            }
    }
    gemm_set_small_path(true);
    reset_variant();
}

Test(gemm, matches_reference_on_larger_shapes) {
    const Shape s[] = {{257, 129, 300}, {64, 1024, 256}, {1000, 3, 517}, {5, 700, 1030}};
    for (int i = 0; i < 4; i++)
        for (int v = 0; v < 8; v++) check_case(s[i].M, s[i].N, s[i].K, v & 1, v & 2, v & 4, 1, false);
}

// The same product on 1, 2 and 3 threads must be bit-identical: C split into row slabs (M >= N)
// or column slabs (N > M), K over several KC steps, with and without accumulate.
Test(gemm, bit_identical_on_1_2_and_3_threads) {
    const Shape s[] = {{300, 257, 513}, {97, 700, 300}};
    for (int kv = 0; kv < NVARIANT_NAMES; kv++) {
        if (gemm_kernel_select(variant_names[kv]) != 0) continue;
        for (int si = 0; si < 2; si++)
            for (int v = 0; v < 8; v++) {
                bool ta = v & 1, tb = v & 2, acc = v & 4;
                int M = s[si].M, N = s[si].N, K = s[si].K;
                Operands o = make_operands(M, N, K, ta, tb, 2, false, 99 + v);
                size_t nc = (size_t)M * o.ldc;
                float *first = malloc(nc * sizeof(float));
                for (int threads = 1; threads <= 3; threads++) {
                    cr_assert_eq(pool_set_threads(threads), 0);
                    memcpy(o.C, o.R, nc * sizeof(float));
                    gemm(ta, tb, M, N, K, o.A, o.lda, o.B, o.ldb, o.C, o.ldc, acc);
                    if (threads == 1)
                        memcpy(first, o.C, nc * sizeof(float));
                    else
                        cr_assert_eq(memcmp(first, o.C, nc * sizeof(float)), 0,
                                     "%s M=%d N=%d K=%d ta=%d tb=%d acc=%d: %d threads differ "
                                     "from 1",
                                     gemm_kernel()->name, M, N, K, ta, tb, acc, threads);
                }
                free(first);
                free_operands(&o);
            }
    }
    reset_variant();
    pool_shutdown();
}

// gemm inside pool tasks (as conv2d does per image) runs on the calling thread: no deadlock, and
// each task's product is right.
typedef struct {
    Operands o[4];
    int M, N, K;
} Nested;

static void nested_task(void *ctx, int task, int thread) {
    (void)thread;
    Nested *n = ctx;
    Operands *o = &n->o[task];
    gemm(false, true, n->M, n->N, n->K, o->A, o->lda, o->B, o->ldb, o->C, o->ldc, false);
}

Test(gemm, inside_pool_tasks) {
    Nested n = {.M = 200, .N = 120, .K = 300};  // above the size that would use the pool
    for (int t = 0; t < 4; t++) n.o[t] = make_operands(n.M, n.N, n.K, false, true, 0, true, t);
    cr_assert_eq(pool_set_threads(2), 0);
    pool_for(4, nested_task, &n);
    for (int t = 0; t < 4; t++) {
        Operands *o = &n.o[t];
        gemm_ref(false, true, n.M, n.N, n.K, o->A, o->lda, o->B, o->ldb, o->R, o->ldc, false);
        cr_assert_eq(memcmp(o->C, o->R, sizeof(float) * n.M * n.N), 0, "task %d", t);
        free_operands(o);
    }
    pool_shutdown();
}

Test(gemm, k_zero_sets_or_keeps_c) {
    float C[6] = {1, 2, 3, 4, 5, 6};
    gemm(false, false, 2, 3, 0, NULL, 1, NULL, 3, C, 3, true);
    for (int i = 0; i < 6; i++) cr_assert_eq(C[i], (float)(i + 1));
    gemm(false, false, 2, 3, 0, NULL, 1, NULL, 3, C, 3, false);
    for (int i = 0; i < 6; i++) cr_assert_eq(C[i], 0.0f);
}

Test(gemm, empty_m_or_n_touches_nothing) {
    float A[4] = {1, 2, 3, 4}, B[4] = {1, 2, 3, 4}, C[4] = {7, 7, 7, 7};
    gemm(false, false, 0, 2, 2, A, 2, B, 2, C, 2, false);
    gemm(false, false, 2, 0, 2, A, 2, B, 2, C, 2, false);
    for (int i = 0; i < 4; i++) cr_assert_eq(C[i], 7.0f);
}

// A hand-checked product: [[1,2],[3,4]]·[[5,6],[7,8]] = [[19,22],[43,50]], and Aᵀ·Bᵀ.
Test(gemm, two_by_two_by_hand) {
    const float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8};
    float C[4];
    gemm(false, false, 2, 2, 2, A, 2, B, 2, C, 2, false);
    cr_assert(C[0] == 19 && C[1] == 22 && C[2] == 43 && C[3] == 50);
    gemm(true, true, 2, 2, 2, A, 2, B, 2, C, 2, false);  // [[1,3],[2,4]]·[[5,7],[6,8]]
    cr_assert(C[0] == 23 && C[1] == 31 && C[2] == 34 && C[3] == 46);
}

Test(gemm, select_rejects_unknown_variant) {
    cr_assert_eq(gemm_kernel_select("no-such-kernel"), -1);
    cr_assert(strstr(err_msg(), "no-such-kernel") != NULL);
    cr_assert_eq(gemm_kernel_select("generic"), 0);
    cr_assert_str_eq(gemm_kernel()->name, "generic");
    reset_variant();
}
