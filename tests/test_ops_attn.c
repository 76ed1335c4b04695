// Causal attention (model/ops_attn.c): the three steps scores → softmax → z.
//
// Gradients of each step and of the whole chain against finite differences (T = 37 crosses a
// 32-wide tile edge), forward values against double loops on T = 1, 3, 17, 65, masked positions
// exactly 0 / -inf, entries above the diagonal ignored in every product, and bit-identical
// results on 1 and 2 threads.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <string.h>

#include "gradcheck.h"
#include "helpers.h"
#include "model/ops.h"
#include "model/pool.h"
#include "model/rng.h"

TestSuite(ops_attn);

typedef struct {
    int B, T, H, dh;
    size_t nq, ns;  // floats in a [B,T,H,dh] and in a [B,H,T,T] tensor
    float *q, *k, *v, *scores, *pattern, *z;
    float *dq, *dk, *dv, *dscores, *dpattern, *dz;
    float *Rs, *Rz;  // fixed random weights of the test losses
} Attn;

static void attn_setup(Attn *a, GcBufs *bufs, Rng *r, int B, int T, int H, int dh) {
    *a = (Attn){.B = B, .T = T, .H = H, .dh = dh};
    a->nq = (size_t)B * T * H * dh;
    a->ns = (size_t)B * H * T * T;
    a->q = gc_uniform(bufs, r, a->nq, -1, 1);
    a->k = gc_uniform(bufs, r, a->nq, -1, 1);
    a->v = gc_uniform(bufs, r, a->nq, -1, 1);
    a->z = gc_floats(bufs, a->nq);
    a->scores = gc_floats(bufs, a->ns);
    a->pattern = gc_floats(bufs, a->ns);
    a->dq = gc_floats(bufs, a->nq);
    a->dk = gc_floats(bufs, a->nq);
    a->dv = gc_floats(bufs, a->nq);
    a->dz = gc_floats(bufs, a->nq);
    a->dscores = gc_floats(bufs, a->ns);
    a->dpattern = gc_floats(bufs, a->ns);
    a->Rs = gc_uniform(bufs, r, a->ns, -1, 1);
    a->Rz = gc_uniform(bufs, r, a->nq, -1, 1);
}

// Index of [b,h,t,s] in a [B,H,T,T] tensor and of [b,t,h,i] in a [B,T,H,dh] one.
static size_t sidx(const Attn *a, int b, int h, int t, int s) {
    return (((size_t)b * a->H + h) * a->T + t) * a->T + s;
}
static size_t qidx(const Attn *a, int b, int t, int h, int i) {
    return (((size_t)b * a->T + t) * a->H + h) * a->dh + i;
}

// ---- step 1: scores ------------------------------------------------------------------------

// Σ scores·Rs over the causal entries only (the others are -inf by design).
static int scores_loss(void *p, double *loss) {
    Attn *a = p;
    attn_scores_forward(a->scores, a->q, a->k, a->B, a->T, a->H, a->dh);
    double s = 0;
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++)
            for (int t = 0; t < a->T; t++)
                for (int u = 0; u <= t; u++)
                    s += (double)a->scores[sidx(a, b, h, t, u)] * a->Rs[sidx(a, b, h, t, u)];
    *loss = s;
    return 0;
}

static void scores_backward(void *p, unsigned want) {
    Attn *a = p;
    attn_scores_backward(want & 1 ? a->dq : NULL, want & 2 ? a->dk : NULL, a->Rs, a->q, a->k,
                         a->B, a->T, a->H, a->dh);
}

static GcOpts opts_bilinear(void) {
    GcOpts o = gc_defaults();
    o.step = 1e-2f;
    o.atol = 1e-4;
    o.rtol = 1e-3;
    return o;
}

// Rs holds random values above the diagonal too: the backward must ignore them.
Test(ops_attn, scores_gradients) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 1);
    Attn a;
    attn_setup(&a, &bufs, &r, 2, 37, 2, 5);
    GcParam p[] = {{"q", a.q, a.dq, a.nq, opts_bilinear()}, {"k", a.k, a.dk, a.nq, opts_bilinear()}};
    gc_check_op("attn_scores", scores_loss, scores_backward, &a, p, 2);
    gc_free_all(&bufs);
}

// ---- step 3: z -----------------------------------------------------------------------------

static int z_loss(void *p, double *loss) {
    Attn *a = p;
    attn_z_forward(a->z, a->pattern, a->v, a->B, a->T, a->H, a->dh);
    *loss = gc_dot(a->z, a->Rz, a->nq);
    return 0;
}

static void z_backward(void *p, unsigned want) {
    Attn *a = p;
    attn_z_backward(want & 1 ? a->dpattern : NULL, want & 2 ? a->dv : NULL, a->Rz, a->pattern,
                    a->v, a->B, a->T, a->H, a->dh);
}

// pattern is random everywhere, above the diagonal too: z must not depend on those entries
// (finite differences 0 there) and dpattern must stay 0 there.
Test(ops_attn, z_gradients) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 2);
    Attn a;
    attn_setup(&a, &bufs, &r, 2, 37, 2, 5);
    rng_fill_uniform(&r, a.pattern, a.ns, 0, 1);
    GcParam p[] = {{"pattern", a.pattern, a.dpattern, a.ns, opts_bilinear()},
                   {"v", a.v, a.dv, a.nq, opts_bilinear()}};
    gc_check_op("attn_z", z_loss, z_backward, &a, p, 2);
    for (int b = 0; b < a.B; b++)
        for (int h = 0; h < a.H; h++)
            for (int t = 0; t < a.T; t++)
                for (int s = t + 1; s < a.T; s++)
                    cr_assert_eq(a.dpattern[sidx(&a, b, h, t, s)], 0.0f, "dpattern above diagonal");
    gc_free_all(&bufs);
}

// ---- the chain q, k, v → scores → pattern → z ----------------------------------------------

static int chain_loss(void *p, double *loss) {
    Attn *a = p;
    attn_scores_forward(a->scores, a->q, a->k, a->B, a->T, a->H, a->dh);
    softmax_forward(a->pattern, a->scores, a->B * a->H * a->T, a->T);
    attn_z_forward(a->z, a->pattern, a->v, a->B, a->T, a->H, a->dh);
    *loss = gc_dot(a->z, a->Rz, a->nq);
    return 0;
}

// The model's backward read in reverse, intermediate gradients cleared first.
static void chain_backward(void *p, unsigned want) {
    Attn *a = p;
    memset(a->dpattern, 0, sizeof(float) * a->ns);
    memset(a->dscores, 0, sizeof(float) * a->ns);
    attn_z_backward(a->dpattern, want & 4 ? a->dv : NULL, a->Rz, a->pattern, a->v, a->B, a->T,
                    a->H, a->dh);
    softmax_backward(a->dscores, a->dpattern, a->pattern, a->B * a->H * a->T, a->T);
    attn_scores_backward(want & 1 ? a->dq : NULL, want & 2 ? a->dk : NULL, a->dscores, a->q, a->k,
                         a->B, a->T, a->H, a->dh);
}

Test(ops_attn, chain_gradients) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 3);
    Attn a;
    attn_setup(&a, &bufs, &r, 2, 37, 2, 5);
    rng_fill_uniform(&r, a.q, a.nq, -2, 2);  // sharper patterns: more curvature to get right
    GcOpts o = gc_defaults();  // step 1e-2: rounding noise, not truncation, limits a smaller one
    o.atol = 1e-4;
    o.rtol = 1e-3;
    GcParam p[] = {{"q", a.q, a.dq, a.nq, o}, {"k", a.k, a.dk, a.nq, o}, {"v", a.v, a.dv, a.nq, o}};
    gc_check_op("attention chain", chain_loss, chain_backward, &a, p, 3);
    gc_free_all(&bufs);
}

// ---- forward values ------------------------------------------------------------------------

ParameterizedTestParameters(ops_attn, forward_matches_loops) {
    static int T[] = {1, 3, 17, 65};
    return cr_make_param_array(int, T, sizeof T / sizeof T[0]);
}

// scores, pattern and z against double loops; masked scores are -inf and their weight exactly 0.
ParameterizedTest(int *Tp, ops_attn, forward_matches_loops) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 40 + *Tp);
    Attn a;
    attn_setup(&a, &bufs, &r, 2, *Tp, 3, 7);
    chain_loss(&a, &(double){0});
    double sq = sqrt(7.0), *w = malloc(sizeof(double) * a.T);
    for (int b = 0; b < a.B; b++)
        for (int h = 0; h < a.H; h++)
            for (int t = 0; t < a.T; t++) {
                double mx = -INFINITY, sum = 0;
                for (int s = 0; s <= t; s++) {
                    double d = 0;
                    for (int i = 0; i < a.dh; i++)
                        d += (double)a.q[qidx(&a, b, t, h, i)] * a.k[qidx(&a, b, s, h, i)];
                    w[s] = d / sq;
                    float got = a.scores[sidx(&a, b, h, t, s)];
                    cr_assert(fabs(got - w[s]) <= 1e-6, "score %d %d %d %d: %g vs %g", b, h, t, s,
                              (double)got, w[s]);
                    mx = fmax(mx, w[s]);
                }
                for (int s = t + 1; s < a.T; s++) {
                    cr_assert(isinf(a.scores[sidx(&a, b, h, t, s)]) &&
                              a.scores[sidx(&a, b, h, t, s)] < 0, "masked score not -inf");
                    cr_assert_eq(a.pattern[sidx(&a, b, h, t, s)], 0.0f, "masked weight not 0");
                }
                for (int s = 0; s <= t; s++) sum += exp(w[s] - mx);
                for (int s = 0; s <= t; s++) {
                    double pw = exp(w[s] - mx) / sum;
                    w[s] = pw;
                    cr_assert(fabs(a.pattern[sidx(&a, b, h, t, s)] - pw) <= 1e-6,
                              "pattern %d %d %d %d", b, h, t, s);
                }
                for (int i = 0; i < a.dh; i++) {
                    double zi = 0;
                    for (int s = 0; s <= t; s++) zi += w[s] * a.v[qidx(&a, b, s, h, i)];
                    cr_assert(fabs(a.z[qidx(&a, b, t, h, i)] - zi) <= 2e-6, "z %d %d %d %d: %g vs %g",
                              b, t, h, i, (double)a.z[qidx(&a, b, t, h, i)], zi);
                }
            }
    free(w);
    gc_free_all(&bufs);
}

// A hook may write anything above the diagonal (of pattern before z, of dscores before the
// scores backward): nothing downstream may change, to the bit; dpattern there stays untouched.
Test(ops_attn, entries_above_diagonal_are_ignored) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 5);
    Attn a;
    attn_setup(&a, &bufs, &r, 2, 70, 2, 8);
    chain_loss(&a, &(double){0});
    float *z0 = gc_floats(&bufs, a.nq), *dq0 = gc_floats(&bufs, a.nq), *dk0 = gc_floats(&bufs, a.nq);
    memcpy(z0, a.z, sizeof(float) * a.nq);
    rng_fill_uniform(&r, a.dscores, a.ns, -1, 1);
    for (int bh = 0; bh < a.B * a.H; bh++)  // the clean dscores: zero above the diagonal
        for (int t = 0; t < a.T; t++)
            for (int s = t + 1; s < a.T; s++) a.dscores[((size_t)bh * a.T + t) * a.T + s] = 0;
    attn_scores_backward(dq0, dk0, a.dscores, a.q, a.k, a.B, a.T, a.H, a.dh);
    for (int bh = 0; bh < a.B * a.H; bh++)  // now garbage, NaN included, above it
        for (int t = 0; t < a.T; t++)
            for (int s = t + 1; s < a.T; s++) {
                size_t i = ((size_t)bh * a.T + t) * a.T + s;
                a.dscores[i] = (s + t) % 7 == 0 ? NAN : 100.0f * (float)(s - t);
                a.pattern[i] = (s + t) % 5 == 0 ? INFINITY : 3.0f;
                a.dpattern[i] = 42.0f;
            }
    attn_z_forward(a.z, a.pattern, a.v, a.B, a.T, a.H, a.dh);
    cr_assert_eq(memcmp(a.z, z0, sizeof(float) * a.nq), 0, "z depends on pattern above diagonal");
    attn_scores_backward(a.dq, a.dk, a.dscores, a.q, a.k, a.B, a.T, a.H, a.dh);
    cr_assert_eq(memcmp(a.dq, dq0, sizeof(float) * a.nq), 0, "dq depends on masked dscores");
    cr_assert_eq(memcmp(a.dk, dk0, sizeof(float) * a.nq), 0, "dk depends on masked dscores");
    rng_fill_uniform(&r, a.dz, a.nq, -1, 1);
    attn_z_backward(a.dpattern, a.dv, a.dz, a.pattern, a.v, a.B, a.T, a.H, a.dh);
    for (int bh = 0; bh < a.B * a.H; bh++)
        for (int t = 0; t < a.T; t++)
            for (int s = t + 1; s < a.T; s++)
                cr_assert_eq(a.dpattern[((size_t)bh * a.T + t) * a.T + s], 42.0f,
                             "dpattern written above the diagonal");
    for (size_t i = 0; i < a.nq; i++) cr_assert(isfinite(a.dv[i]), "dv[%zu] saw a masked entry", i);
    gc_free_all(&bufs);
}

// ---- thread-count independence -------------------------------------------------------------

static void attn_run_all(Attn *a, float *out) {
    chain_loss(a, &(double){0});
    memset(a->dq, 0, sizeof(float) * a->nq);
    memset(a->dk, 0, sizeof(float) * a->nq);
    memset(a->dv, 0, sizeof(float) * a->nq);
    chain_backward(a, 7);
    float *p = out;
    memcpy(p, a->scores, sizeof(float) * a->ns), p += a->ns;
    memcpy(p, a->pattern, sizeof(float) * a->ns), p += a->ns;
    memcpy(p, a->dpattern, sizeof(float) * a->ns), p += a->ns;
    memcpy(p, a->dscores, sizeof(float) * a->ns), p += a->ns;
    memcpy(p, a->z, sizeof(float) * a->nq), p += a->nq;
    memcpy(p, a->dq, sizeof(float) * a->nq), p += a->nq;
    memcpy(p, a->dk, sizeof(float) * a->nq), p += a->nq;
    memcpy(p, a->dv, sizeof(float) * a->nq);
}

Test(ops_attn, bit_identical_on_1_and_2_threads) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 6);
    Attn a;
    attn_setup(&a, &bufs, &r, 3, 70, 4, 16);
    size_t n = 4 * a.ns + 4 * a.nq;
    float *r1 = gc_floats(&bufs, n), *r2 = gc_floats(&bufs, n);
    pool_set_threads(1);
    attn_run_all(&a, r1);
    pool_set_threads(2);
    attn_run_all(&a, r2);
    pool_shutdown();
    for (size_t i = 0; i < n; i++)
        cr_assert(memcmp(&r1[i], &r2[i], sizeof(float)) == 0, "element %zu: %.9g vs %.9g", i,
                  (double)r1[i], (double)r2[i]);
    gc_free_all(&bufs);
}
