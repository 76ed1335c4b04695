// gemm.c — the one fast matrix multiply: cache blocking, packed panels, threads.
//
// The scheme (Goto / BLIS). For a slab of C (all of it on one thread):
//
//   for jc over N in steps of NC                      B block  kc × nc   (L3)
//     for pc over K in steps of KC
//       pack op(B)[pc:pc+kc, jc:jc+nc] into nr-column panels, k-major, zero-padded
//       for ic over M in steps of MC                  A block  mc × kc   (L2)
//         pack op(A)[ic:ic+mc, pc:pc+kc] into MR-row panels, k-major, zero-padded
//         for jr over nc in steps of nr               B panel  kc × nr   (L1)
//           for ir over mc in steps of MR             A panel  MR × kc   (streams from L2)
//             C[MR × nr tile] (+)= A panel · B panel   (gemm_tile.h: registers)
//
// Packing is where the transposes go: op(A) and op(B) are read through (row, column) strides,
// so all four variants feed one micro-kernel that only ever sees unit-stride panels. The packed
// panels are zero-padded to whole tiles, so an edge tile runs the same kernel (into a small
// scratch tile that is then copied out) and needs no code of its own.
//
// Sizes (Zen 4: 32 KB L1d, 1 MB L2 per core, shared L3): KC = 256 makes one B panel 256×16×4 =
// 16 KB (half of L1; it is reused by every A panel of the block) and one A panel 6 KB; MC = 144
// makes the A block 144 KB of L2; NC = 3072 keeps the B block (3 MB) in L3 and, for the shapes
// mechlab uses, means B is packed once per kc step. The register tile is 6 × 16 (AVX2, NEON)
// or 6 × 8 (SSE2); gemm_tile.h says why.
//
// Reduction order: C[i,j] is one chain of multiply-adds over k = 0..K-1 in order, in float,
// carried across the KC steps through C itself (the kernel reloads the tile and goes on; with
// accumulate the old C starts the chain). No partial sums are ever combined, so the result
// depends neither on KC nor on how C is cut into slabs and tiles: it is bit-identical for any
// number of threads. It differs from gemm_ref's only by FMA rounding (and, with accumulate, by
// adding C first rather than last).
//
// Threads: C is split into slabs of whole rows (or columns, when N > M), one pool task each,
// each running the scheme above with its own packing buffers. A slab re-packs the operand it
// shares with the others (B for row slabs), which costs little next to its share of the flops;
// problems below GEMM_MIN_PAR_FLOPS stay on the calling thread.
//
// Narrow products (N <= GEMM_SMALL_NMAX columns) that run on one thread anyway (below
// GEMM_MIN_PAR_FLOPS), as in the toy models (h = x·W with m = 1..8 hidden units): packing would
// copy every operand element and the register tile would be mostly padding, so they go to the
// kernel's small path, which stages only op(B) and runs the same per-element chains
// (bit-identical results; tests/test_gemm.c compares the two). Measured on one Zen 4 core, small
// vs packed: 1024×1×2 1.5 vs 5.1 µs, 2×1×1024 (ta) 2.2 vs 16.3, 1024×5×50 12.3 vs 25.0,
// 4096×8×1024 1.49 vs 2.70 ms; above 1e7 flops the packed path has both cores.
//
// Buffers: each thread keeps its packing buffers in thread-specific storage, allocated the first
// time and grown only when a larger block first appears (freed when the thread exits). If an
// allocation fails the slab falls back to gemm_ref: slower, still correct.
#include "gemm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_kernel.h"
#include "pool.h"

#define KC 256
#define MC 144   // multiple of GEMM_MR
#define NC 3072  // multiple of every nr
// Below this many flops a problem is done on the calling thread: a pool_for costs 35-65 µs here
// (waking sleeping workers), about what a 160×160×160 multiply takes on one core.
#define GEMM_MIN_PAR_FLOPS 1.0e7
// Row (column) slabs per thread: more than one evens out threads that are slowed by other
// processes, at the price of re-packing the shared operand once more per slab.
#define SLABS_PER_THREAD 2
// Off only in tests and benchmarks that compare the small path with the packed one.
static _Atomic bool small_path = true;
void gemm_set_small_path(bool on) { small_path = on; }

static inline int imin(int a, int b) { return a < b ? a : b; }

// ---- packing -----------------------------------------------------------------------------------

// Packs rows [0,m) × columns [0,kc) of X, element (i,k) at x[i*rs + k*cs], into panels of r rows:
// panel p holds rows p·r .. p·r+r-1 as dst[p·r·kc + k·r + i]; rows past m are zeros.
// Used for op(A) (rows = i, r = MR) and for op(B)ᵀ (rows = j, r = nr). Packing is a copy, but a
// copy of every operand element and must cost next to nothing per element: r is a constant in
// each instance (pack_panels switches on it), so the inner loops unroll into plain moves.
// One of rs, cs is always 1 (X is row-major, read as itself or as its transpose).
static inline __attribute__((always_inline)) void pack_r(float *restrict dst, const float *x,
                                                         size_t rs, size_t cs, int m, int kc,
                                                         const int r) {
    const int full = m / r * r;  // rows in whole panels
    if (rs == 1) {
        // A panel column (fixed k) is contiguous in X, and so is the block's: sweep k outside,
        // so X is read row by row (walking it panel by panel would hop by cs every step and,
        // for power-of-two cs, thrash one L1 set).
        for (int k = 0; k < kc; k++)
            for (int p = 0; p < full; p += r)
                memcpy(dst + (size_t)p * kc + (size_t)k * r, x + (size_t)k * cs + p,
                       sizeof(float) * r);
    } else if (cs == 1) {
        // Rows are contiguous along k: walk a panel's r rows side by side.
        for (int p = 0; p < full; p += r) {
            const float *row[GEMM_NR_MAX];
            for (int i = 0; i < r; i++) row[i] = x + (size_t)(p + i) * rs;
            float *restrict d = dst + (size_t)p * kc;
            for (int k = 0; k < kc; k++)
                GEMM_UNROLL for (int i = 0; i < r; i++) d[(size_t)k * r + i] = row[i][k];
        }
    }
    if (full < m) {  // the last, partial panel: element by element, zeros past m
        float *restrict d = dst + (size_t)full * kc;
        for (int k = 0; k < kc; k++)
            for (int i = 0; i < r; i++)
                d[(size_t)k * r + i] =
                    full + i < m ? x[(size_t)(full + i) * rs + (size_t)k * cs] : 0.0f;
    }
}

static void pack_panels(float *restrict dst, const float *x, size_t rs, size_t cs, int m, int kc,
                        int r) {
    switch (r) {
    case GEMM_MR: pack_r(dst, x, rs, cs, m, kc, GEMM_MR); break;
    case 8: pack_r(dst, x, rs, cs, m, kc, 8); break;
    case 16: pack_r(dst, x, rs, cs, m, kc, 16); break;
    default: pack_r(dst, x, rs, cs, m, kc, r); break;
    }
}

// ---- per-thread buffers ------------------------------------------------------------------------

typedef struct {
    float *a, *b;     // packed A block, packed B block (64-byte aligned)
    size_t na, nb;    // their capacities in floats
} PackBuf;

static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;
static int buf_key_ok;

static void buf_free(void *p) {
    PackBuf *pb = p;
    if (!pb) return;
    free(pb->a);
    free(pb->b);
    free(pb);
}

static void buf_key_init(void) { buf_key_ok = pthread_key_create(&buf_key, buf_free) == 0; }

// Grows *p (capacity *n floats) to hold `need` floats; 0, or -1 if out of memory (*p kept).
static int grow(float **p, size_t *n, size_t need) {
    if (need <= *n) return 0;
    size_t bytes = (need * sizeof(float) + 63) / 64 * 64;  // aligned_alloc wants a multiple
    float *q = aligned_alloc(64, bytes);
    if (!q) return -1;
    free(*p);
    *p = q;
    *n = need;
    return 0;
}

// This thread's buffers with room for na and nb floats, or NULL if memory ran out.
static PackBuf *buf_get(size_t na, size_t nb) {
    pthread_once(&buf_once, buf_key_init);
    if (!buf_key_ok) return NULL;
    PackBuf *pb = pthread_getspecific(buf_key);
    if (!pb) {
        pb = calloc(1, sizeof(*pb));
        if (!pb || pthread_setspecific(buf_key, pb) != 0) {
            free(pb);
            return NULL;
        }
    }
    if (grow(&pb->a, &pb->na, na) || grow(&pb->b, &pb->nb, nb)) return NULL;
    return pb;
}

// ---- one slab ----------------------------------------------------------------------------------

typedef struct {
    bool ta, tb, acc;
    int M, N, K, lda, ldb, ldc;
    const float *A, *B;
    float *C;
    const GemmKernel *kern;
    bool split_rows;  // slabs are row ranges (else column ranges)
    int slab;         // rows (columns) per slab
} Job;

// C[m0:m1, n0:n1] of the job, by the scheme at the top of the file.
static void gemm_slab(const Job *j, int m0, int m1, int n0, int n1) {
    const int nr = j->kern->nr, K = j->K;
    const int mb = imin(m1 - m0, MC), nb = imin(n1 - n0, NC), kb = imin(K, KC);
    // Element (i,k) of op(A) is A[i*ars + k*acs]; element (k,j) of op(B) is B[j*brs + k*bcs].
    const size_t ars = j->ta ? 1 : (size_t)j->lda, acs = j->ta ? (size_t)j->lda : 1;
    const size_t brs = j->tb ? (size_t)j->ldb : 1, bcs = j->tb ? 1 : (size_t)j->ldb;
    const size_t ldc = (size_t)j->ldc;

    PackBuf *pb = buf_get((size_t)(mb + GEMM_MR - 1) / GEMM_MR * GEMM_MR * kb,
                          (size_t)(nb + nr - 1) / nr * nr * kb);
    if (!pb) {
        gemm_ref(j->ta, j->tb, m1 - m0, n1 - n0, K, j->A + (size_t)m0 * ars, j->lda,
                 j->B + (size_t)n0 * brs, j->ldb, j->C + (size_t)m0 * ldc + n0, j->ldc, j->acc);
        return;
    }
    float tile[GEMM_MR * GEMM_NR_MAX] __attribute__((aligned(64)));

    for (int jc = n0; jc < n1; jc += NC) {
        const int nc = imin(NC, n1 - jc);
        for (int pc = 0; pc < K; pc += KC) {
            const int kc = imin(KC, K - pc);
            const bool load_c = j->acc || pc > 0;
            pack_panels(pb->b, j->B + (size_t)jc * brs + (size_t)pc * bcs, brs, bcs, nc, kc, nr);
            for (int ic = m0; ic < m1; ic += MC) {
                const int mc = imin(MC, m1 - ic);
                pack_panels(pb->a, j->A + (size_t)ic * ars + (size_t)pc * acs, ars, acs, mc, kc,
                            GEMM_MR);
                for (int jr = 0; jr < nc; jr += nr) {
                    const int n = imin(nr, nc - jr);
                    const float *bp = pb->b + (size_t)jr * kc;
                    for (int ir = 0; ir < mc; ir += GEMM_MR) {
                        const int m = imin(GEMM_MR, mc - ir);
                        const float *ap = pb->a + (size_t)ir * kc;
                        float *c = j->C + (size_t)(ic + ir) * ldc + jc + jr;
                        if (m == GEMM_MR && n == nr) {
                            j->kern->fn(kc, ap, bp, c, ldc, load_c);
                            continue;
                        }
                        // Edge tile: run the full tile on scratch, copy the valid part.
                        if (load_c)
                            for (int i = 0; i < m; i++)
                                memcpy(tile + i * nr, c + i * ldc, sizeof(float) * n);
                        j->kern->fn(kc, ap, bp, tile, (size_t)nr, load_c);
                        for (int i = 0; i < m; i++)
                            memcpy(c + i * ldc, tile + i * nr, sizeof(float) * n);
                    }
                }
            }
        }
    }
}

static void slab_task(void *ctx, int task, int thread) {
    (void)thread;  // buffers are found through thread-specific storage (works when nested too)
    const Job *j = ctx;
    int lo = task * j->slab;
    if (j->split_rows)
        gemm_slab(j, lo, imin(j->M, lo + j->slab), 0, j->N);
    else
        gemm_slab(j, 0, j->M, lo, imin(j->N, lo + j->slab));
}

// ---- entry -------------------------------------------------------------------------------------

void gemm(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
          float *C, int ldc, bool accumulate) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  // an empty sum: C = 0, or C unchanged
        if (!accumulate)
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, sizeof(float) * N);
        return;
    }
    Job j = {ta, tb, accumulate, M, N, K, lda, ldb, ldc, A, B, C, gemm_kernel(), true, M};
    double flops = 2.0 * M * N * K;
    if (N <= GEMM_SMALL_NMAX && flops < GEMM_MIN_PAR_FLOPS && small_path) {
        j.kern->small(M, N, K, A, ta ? 1 : (size_t)lda, ta ? (size_t)lda : 1, B,
                      tb ? (size_t)ldb : 1, tb ? 1 : (size_t)ldb, C, (size_t)ldc, accumulate);
        return;
    }
    int threads = flops < GEMM_MIN_PAR_FLOPS ? 1 : pool_threads();
    if (threads <= 1) {
        gemm_slab(&j, 0, M, 0, N);
        return;
    }
    // Slabs in whole register tiles, at most SLABS_PER_THREAD per thread.
    j.split_rows = M >= N;
    int unit = j.split_rows ? GEMM_MR : j.kern->nr, len = j.split_rows ? M : N;
    int units = (len + unit - 1) / unit;
    int nslab = imin(units, threads * SLABS_PER_THREAD);
    j.slab = (units + nslab - 1) / nslab * unit;
    pool_for((len + j.slab - 1) / j.slab, slab_task, &j);
}
