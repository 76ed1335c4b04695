// Dense ops (model/ops_nn.c): linear, embeddings, LayerNorm, ReLU, GELU, softmax, losses.
//
// Every op: all gradients against central finite differences (gc_check_op: also checks that
// backward accumulates and that NULL gradients are skipped), forward values against an
// independent reference (double loops, closed forms, values computed in Python), and the
// threaded paths (sizes above OPS_GRAIN) against the same references and on 1 vs 2 threads.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <criterion/theories.h>
#include <math.h>
#include <string.h>

#include "gradcheck.h"
#include "helpers.h"
#include "model/ops.h"
#include "model/pool.h"
#include "model/rng.h"

TestSuite(ops);

#define PI 3.14159265358979323846

// Options for an op that is linear in the perturbed input: central differences are exact up to
// float rounding of the outputs (the step is gc_defaults' 1e-2, large enough to keep it small).
static GcOpts opts_linear(void) {
    GcOpts o = gc_defaults();
    o.atol = 1e-4;
    o.rtol = 1e-3;
    return o;
}

// ---- linear --------------------------------------------------------------------------------

typedef struct {
    int N, I, O;
    float *inp, *w, *b, *out, *R, *dinp, *dw, *db;
} Lin;

static int lin_loss(void *p, double *loss) {
    Lin *c = p;
    linear_forward(c->out, c->inp, c->w, c->b, c->N, c->I, c->O);
    *loss = gc_dot(c->out, c->R, (size_t)c->N * c->O);
    return 0;
}

static void lin_backward(void *p, unsigned want) {
    Lin *c = p;
    linear_backward(want & 1 ? c->dinp : NULL, want & 2 ? c->dw : NULL,
                    want & 4 ? c->db : NULL, c->R, c->inp, c->w, c->N, c->I, c->O);
}

static void lin_setup(Lin *c, GcBufs *bufs, Rng *r, int N, int I, int O, int bias) {
    *c = (Lin){.N = N, .I = I, .O = O};
    c->inp = gc_uniform(bufs, r, (size_t)N * I, -1, 1);
    c->w = gc_uniform(bufs, r, (size_t)I * O, -1, 1);
    c->b = bias ? gc_uniform(bufs, r, (size_t)O, -1, 1) : NULL;
    c->out = gc_floats(bufs, (size_t)N * O);
    c->R = gc_uniform(bufs, r, (size_t)N * O, -1, 1);
    c->dinp = gc_floats(bufs, (size_t)N * I);
    c->dw = gc_floats(bufs, (size_t)I * O);
    c->db = gc_floats(bufs, (size_t)O);
}

Test(ops, linear_gradients) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 1);
    for (int bias = 0; bias < 2; bias++) {
        Lin c;
        lin_setup(&c, &bufs, &r, 5, 7, 6, bias);
        GcParam p[] = {{"inp", c.inp, c.dinp, (size_t)c.N * c.I, opts_linear()},
                       {"w", c.w, c.dw, (size_t)c.I * c.O, opts_linear()},
                       {"b", c.b, c.db, (size_t)c.O, opts_linear()}};
        gc_check_op(bias ? "linear" : "linear (no bias)", lin_loss, lin_backward, &c, p,
                    bias ? 3 : 2);
    }
    gc_free_all(&bufs);
}

// Forward and backward against double loops, on odd shapes and on one big enough that db is
// split over several tasks; backward onto non-zero gradients (it must add).
Test(ops, linear_matches_loops) {
    const int shapes[][3] = {{1, 1, 1}, {3, 17, 5}, {17, 3, 65}, {67, 33, 700}};
    for (int si = 0; si < 4; si++) {
        int N = shapes[si][0], I = shapes[si][1], O = shapes[si][2];
        GcBufs bufs = {0};
        Rng r;
        rng_seed(&r, 10 + si);
        Lin c;
        lin_setup(&c, &bufs, &r, N, I, O, 1);
        float *g0 = gc_uniform(&bufs, &r, (size_t)I * O + N * I + O, -1, 1);
        memcpy(c.dinp, g0, sizeof(float) * N * I);
        memcpy(c.dw, g0 + N * I, sizeof(float) * I * O);
        memcpy(c.db, g0 + N * I + I * O, sizeof(float) * O);
        linear_forward(c.out, c.inp, c.w, c.b, N, I, O);
        linear_backward(c.dinp, c.dw, c.db, c.R, c.inp, c.w, N, I, O);
        float *ro = gc_floats(&bufs, (size_t)N * O), *rdi = gc_floats(&bufs, (size_t)N * I);
        float *rdw = gc_floats(&bufs, (size_t)I * O), *rdb = gc_floats(&bufs, (size_t)O);
        for (int n = 0; n < N; n++)
            for (int o = 0; o < O; o++) {
                double s = c.b[o];
                for (int i = 0; i < I; i++) s += (double)c.inp[n * I + i] * c.w[i * O + o];
                ro[n * O + o] = (float)s;
            }
        for (int n = 0; n < N; n++)
            for (int i = 0; i < I; i++) {
                double s = g0[n * I + i];
                for (int o = 0; o < O; o++) s += (double)c.R[n * O + o] * c.w[i * O + o];
                rdi[n * I + i] = (float)s;
            }
        for (int i = 0; i < I; i++)
            for (int o = 0; o < O; o++) {
                double s = g0[N * I + i * O + o];
                for (int n = 0; n < N; n++) s += (double)c.inp[n * I + i] * c.R[n * O + o];
                rdw[i * O + o] = (float)s;
            }
        for (int o = 0; o < O; o++) {
            double s = g0[N * I + I * O + o];
            for (int n = 0; n < N; n++) s += c.R[n * O + o];
            rdb[o] = (float)s;
        }
        // sums of up to 67 products of U(-1,1) terms in float: a few 1e-6 at most
        assert_allclose(c.out, ro, (size_t)N * O, 2e-5, 1e-5);
        assert_allclose(c.dinp, rdi, (size_t)N * I, 2e-5, 1e-5);
        assert_allclose(c.dw, rdw, (size_t)I * O, 2e-5, 1e-5);
        assert_allclose(c.db, rdb, (size_t)O, 2e-5, 1e-5);
        gc_free_all(&bufs);
    }
}

// ---- embeddings ----------------------------------------------------------------------------

typedef struct {
    int N, D, B, T;
    const int *tok;
    float *W, *out, *R, *dW;
} Emb;

static int emb_loss(void *p, double *loss) {
    Emb *c = p;
    embedding_forward(c->out, c->tok, c->W, c->N, c->D);
    *loss = gc_dot(c->out, c->R, (size_t)c->N * c->D);
    return 0;
}

static void emb_backward(void *p, unsigned want) {
    Emb *c = p;
    if (want & 1) embedding_backward(c->dW, c->R, c->tok, c->N, c->D);
}

Test(ops, embedding_gradients_and_values) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 2);
    const int tok[9] = {3, 0, 4, 3, 3, 1, 0, 4, 3};  // repeats add into the same row
    Emb c = {.N = 9, .D = 4, .tok = tok};
    c.W = gc_uniform(&bufs, &r, 5 * 4, -1, 1);
    c.out = gc_floats(&bufs, 9 * 4);
    c.R = gc_uniform(&bufs, &r, 9 * 4, -1, 1);
    c.dW = gc_floats(&bufs, 5 * 4);
    GcParam p[] = {{"W_E", c.W, c.dW, 5 * 4, opts_linear()}};
    gc_check_op("embedding", emb_loss, emb_backward, &c, p, 1);
    embedding_forward(c.out, tok, c.W, 9, 4);
    for (int n = 0; n < 9; n++)
        for (int d = 0; d < 4; d++) cr_assert_eq(c.out[n * 4 + d], c.W[tok[n] * 4 + d]);
    // row 2 is never used: its gradient stays exactly 0; row 3 gets the sum of four rows of R
    memset(c.dW, 0, sizeof(float) * 20);
    embedding_backward(c.dW, c.R, tok, 9, 4);
    for (int d = 0; d < 4; d++) {
        cr_assert_eq(c.dW[2 * 4 + d], 0.0f);
        float s = ((c.R[0 * 4 + d] + c.R[3 * 4 + d]) + c.R[4 * 4 + d]) + c.R[8 * 4 + d];
        cr_assert_float_eq(c.dW[3 * 4 + d], s, 1e-6);
    }
    gc_free_all(&bufs);
}

static int pos_loss(void *p, double *loss) {
    Emb *c = p;
    posembed_forward(c->out, c->W, c->B, c->T, c->D);
    *loss = gc_dot(c->out, c->R, (size_t)c->B * c->T * c->D);
    return 0;
}

static void pos_backward(void *p, unsigned want) {
    Emb *c = p;
    if (want & 1) posembed_backward(c->dW, c->R, c->B, c->T, c->D);
}

Test(ops, posembed_gradients_and_values) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 3);
    Emb c = {.B = 3, .T = 5, .D = 4};
    c.W = gc_uniform(&bufs, &r, 5 * 4, -1, 1);
    c.out = gc_floats(&bufs, 3 * 5 * 4);
    c.R = gc_uniform(&bufs, &r, 3 * 5 * 4, -1, 1);
    c.dW = gc_floats(&bufs, 5 * 4);
    GcParam p[] = {{"W_pos", c.W, c.dW, 5 * 4, opts_linear()}};
    gc_check_op("posembed", pos_loss, pos_backward, &c, p, 1);
    posembed_forward(c.out, c.W, 3, 5, 4);
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < 20; i++) cr_assert_eq(c.out[b * 20 + i], c.W[i]);
    gc_free_all(&bufs);
}

// ---- LayerNorm -----------------------------------------------------------------------------

typedef struct {
    int N, D;
    float eps;
    float *inp, *w, *b, *out, *mean, *scale, *R, *dinp, *dw, *db;
} Ln;

static int ln_loss(void *p, double *loss) {
    Ln *c = p;
    layernorm_forward(c->out, c->mean, c->scale, c->inp, c->w, c->b, c->N, c->D, c->eps);
    *loss = gc_dot(c->out, c->R, (size_t)c->N * c->D);
    return 0;
}

static void ln_backward(void *p, unsigned want) {
    Ln *c = p;
    layernorm_backward(want & 1 ? c->dinp : NULL, want & 2 ? c->dw : NULL, want & 4 ? c->db : NULL,
                       c->R, c->inp, c->mean, c->scale, c->w, c->N, c->D);
}

static void ln_setup(Ln *c, GcBufs *bufs, Rng *r, int N, int D, float eps, int affine) {
    *c = (Ln){.N = N, .D = D, .eps = eps};
    c->inp = gc_uniform(bufs, r, (size_t)N * D, -2, 2);
    for (int i = 0; i < N * D; i++) c->inp[i] += (float)(i / D);  // rows with different means
    c->w = affine ? gc_uniform(bufs, r, (size_t)D, 0.5f, 1.5f) : NULL;
    c->b = affine ? gc_uniform(bufs, r, (size_t)D, -1, 1) : NULL;
    c->out = gc_floats(bufs, (size_t)N * D);
    c->mean = gc_floats(bufs, (size_t)N);
    c->scale = gc_floats(bufs, (size_t)N);
    c->R = gc_uniform(bufs, r, (size_t)N * D, -1, 1);
    c->dinp = gc_floats(bufs, (size_t)N * D);
    c->dw = gc_floats(bufs, (size_t)D);
    c->db = gc_floats(bufs, (size_t)D);
}

// eps = 0.5 makes the eps term visible: a backward that left eps out of scale would fail there.
Test(ops, layernorm_gradients) {
    const float eps[] = {1e-5f, 0.5f};
    for (int e = 0; e < 2; e++)
        for (int affine = 0; affine < 2; affine++) {
            GcBufs bufs = {0};
            Rng r;
            rng_seed(&r, 4 + e * 2 + affine);
            Ln c;
            ln_setup(&c, &bufs, &r, 4, 9, eps[e], affine);
            GcOpts o = gc_defaults();
            o.atol = 5e-4;
            o.rtol = 5e-3;
            GcParam p[] = {{"inp", c.inp, c.dinp, (size_t)c.N * c.D, o},
                           {"w", c.w, c.dw, (size_t)c.D, opts_linear()},
                           {"b", c.b, c.db, (size_t)c.D, opts_linear()}};
            char name[64];
            snprintf(name, sizeof name, "layernorm (eps %g, %s)", eps[e],
                     affine ? "affine" : "no affine");
            gc_check_op(name, ln_loss, ln_backward, &c, p, affine ? 3 : 1);
            gc_free_all(&bufs);
        }
}

// Before the affine part every row has mean 0 and variance var/(var + eps) (→ 1); with it, out
// is normalized·w + b; mean and scale match a double computation. D = 1 gives 0 (x = mean).
ParameterizedTestParameters(ops, layernorm_statistics) {
    static int dims[] = {1, 3, 17, 65, 1000};
    return cr_make_param_array(int, dims, sizeof dims / sizeof dims[0]);
}

ParameterizedTest(int *dim, ops, layernorm_statistics) {
    int D = *dim, N = D == 1000 ? 70 : 7;  // 70×1000 is split over several tasks
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 100 + D);
    Ln c;
    ln_setup(&c, &bufs, &r, N, D, 1e-5f, 1);
    float *plain = gc_floats(&bufs, (size_t)N * D);
    layernorm_forward(plain, c.mean, c.scale, c.inp, NULL, NULL, N, D, c.eps);
    layernorm_forward(c.out, c.mean, c.scale, c.inp, c.w, c.b, N, D, c.eps);
    for (int n = 0; n < N; n++) {
        const float *x = c.inp + (size_t)n * D, *y = plain + (size_t)n * D;
        double m = 0, v = 0, my = 0, vy = 0;
        for (int i = 0; i < D; i++) m += x[i];
        m /= D;
        for (int i = 0; i < D; i++) v += (x[i] - m) * (x[i] - m);
        v /= D;
        for (int i = 0; i < D; i++) my += y[i];
        my /= D;
        for (int i = 0; i < D; i++) vy += (y[i] - my) * (y[i] - my);
        vy /= D;
        double sc = sqrt(v + c.eps);
        cr_assert(fabs(c.mean[n] - m) <= 1e-6 * (1 + fabs(m)), "row %d mean %g vs %g", n,
                  (double)c.mean[n], m);
        cr_assert(fabs(c.scale[n] - sc) <= 1e-6 * sc, "row %d scale %g vs %g", n,
                  (double)c.scale[n], sc);
        // the float mean is off the true one by up to half an ulp of |m|: a bias of that / scale
        cr_assert(fabs(my) <= 1e-6 + 1.2e-7 * fabs(m) / sc, "row %d normalized mean %g", n, my);
        cr_assert(fabs(vy - v / (v + c.eps)) <= 1e-5, "row %d normalized var %g vs %g", n, vy,
                  v / (v + c.eps));
        for (int i = 0; i < D; i++) {
            double want = (x[i] - m) / sc * c.w[i] + c.b[i];
            cr_assert(fabs(c.out[(size_t)n * D + i] - want) <= 1e-5, "row %d col %d: %g vs %g",
                      n, i, (double)c.out[(size_t)n * D + i], want);
        }
    }
    gc_free_all(&bufs);
}

// ---- ReLU, GELU ----------------------------------------------------------------------------

typedef struct {
    size_t n;
    int gelu;
    float *x, *out, *R, *dx;
} Act;

static int act_loss(void *p, double *loss) {
    Act *c = p;
    (c->gelu ? gelu_forward : relu_forward)(c->out, c->x, c->n);
    *loss = gc_dot(c->out, c->R, c->n);
    return 0;
}

static void act_backward(void *p, unsigned want) {
    Act *c = p;
    if (want & 1) (c->gelu ? gelu_backward : relu_backward)(c->dx, c->R, c->x, c->n);
}

// ReLU's kink: a point within two steps of 0 is not differentiable on the scale of h.
static int relu_skip(void *p, size_t i, float h) { return fabsf(((Act *)p)->x[i]) < 2 * h; }

Test(ops, relu_gradients_and_values) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 5);
    Act c = {.n = 60};
    c.x = gc_uniform(&bufs, &r, 60, -1, 1);
    c.x[0] = 0.0f;  // exactly at the kink: skipped by gradcheck, gradient 0 by convention
    c.out = gc_floats(&bufs, 60);
    c.R = gc_uniform(&bufs, &r, 60, -1, 1);
    c.dx = gc_floats(&bufs, 60);
    GcOpts o = opts_linear();
    o.skip = relu_skip;
    GcParam p[] = {{"inp", c.x, c.dx, 60, o}};
    gc_check_op("relu", act_loss, act_backward, &c, p, 1);
    relu_forward(c.out, c.x, 60);
    for (int i = 0; i < 60; i++) cr_assert_eq(c.out[i], c.x[i] > 0 ? c.x[i] : 0.0f);
    memset(c.dx, 0, sizeof(float) * 60);
    relu_backward(c.dx, c.R, c.x, 60);
    cr_assert_eq(c.dx[0], 0.0f);
    gc_free_all(&bufs);
}

// The automatic kink detection of gradcheck finds ReLU's kinks without being told.
Test(ops, gradcheck_detects_kinks_itself) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 6);
    Act c = {.n = 400};
    c.x = gc_uniform(&bufs, &r, 400, -0.05f, 0.05f);  // many points within h of 0
    c.out = gc_floats(&bufs, 400);
    c.R = gc_uniform(&bufs, &r, 400, 0.5f, 1);
    c.dx = gc_floats(&bufs, 400);
    act_backward(&c, 1);
    GcOpts o = opts_linear();
    o.step = 1e-3f;
    o.max_points = 0;
    o.kink = 0.1;  // a smooth function's slopes here differ by ~0; a kink's by |R| >= 0.5
    GcResult res = gradcheck("relu (auto kinks)", act_loss, &c, c.x, c.dx, 400, &o);
    cr_assert(res.ok, "max excess %g", res.max_excess);
    cr_assert(res.skipped > 0 && res.skipped < 40, "skipped %zu", res.skipped);
    // Without skipping, the same points fail: the check is not vacuous.
    o.kink = 0;
    o.quiet = 1;
    res = gradcheck("relu (kinks not skipped, expected to fail)", act_loss, &c, c.x, c.dx, 400, &o);
    cr_assert(!res.ok);
    gc_free_all(&bufs);
}

Test(ops, gelu_gradients) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 7);
    Act c = {.n = 80, .gelu = 1};
    c.x = gc_uniform(&bufs, &r, 80, -4, 4);
    c.out = gc_floats(&bufs, 80);
    c.R = gc_uniform(&bufs, &r, 80, -1, 1);
    c.dx = gc_floats(&bufs, 80);
    GcOpts o = gc_defaults();
    o.atol = 2e-4;
    o.rtol = 2e-3;
    GcParam p[] = {{"inp", c.x, c.dx, 80, o}};
    gc_check_op("gelu", act_loss, act_backward, &c, p, 1);
    gc_free_all(&bufs);
}

// gelu_new at a few points, from the closed form in Python (float64):
//   0.5*x*(1+math.tanh(math.sqrt(2/math.pi)*(x+0.044715*x**3)))
// which torch.nn.functional.gelu(x, approximate='tanh') reproduces to the last digit.
Test(ops, gelu_matches_reference_values) {
    const double x[] = {-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 5.0};
    const double want[] = {-0.0036373920817729943, -0.15880800939172324, -0.15428599017485606, 0.0,
                           0.34571400982514394,    0.8411919906082768,   1.954597694087775,
                           4.999999770820381};
    float in[8], out[8];
    for (int i = 0; i < 8; i++) in[i] = (float)x[i];
    gelu_forward(out, in, 8);
    for (int i = 0; i < 8; i++)
        cr_assert(fabs(out[i] - want[i]) <= 2e-7 * (1 + fabs(want[i])), "gelu(%g) = %.9g, want %.9g",
                  x[i], (double)out[i], want[i]);
}

// Above OPS_GRAIN the elementwise ops run in several tasks: compare with scalar loops.
Test(ops, activations_large_match_scalar_loops) {
    size_t n = 100003;
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 8);
    float *x = gc_uniform(&bufs, &r, n, -5, 5), *d = gc_uniform(&bufs, &r, n, -1, 1);
    float *out = gc_floats(&bufs, n), *g = gc_floats(&bufs, n);
    relu_forward(out, x, n);
    relu_backward(g, d, x, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(out[i], x[i] > 0 ? x[i] : 0.0f, "relu %zu", i);
        cr_assert_eq(g[i], x[i] > 0 ? d[i] : 0.0f, "relu' %zu", i);
    }
    gelu_forward(out, x, n);
    for (size_t i = 0; i < n; i++) {
        double xi = x[i], want = 0.5 * xi * (1 + tanh(sqrt(2 / PI) * (xi + 0.044715 * xi * xi * xi)));
        cr_assert(fabs(out[i] - want) <= 1e-6 * (1 + fabs(want)), "gelu %zu: %g vs %g", i,
                  (double)out[i], want);
    }
    gc_free_all(&bufs);
}

// ---- softmax -------------------------------------------------------------------------------

typedef struct {
    int N, C;
    float *x, *out, *R, *dx;
} Sm;

static int sm_loss(void *p, double *loss) {
    Sm *c = p;
    softmax_forward(c->out, c->x, c->N, c->C);
    *loss = gc_dot(c->out, c->R, (size_t)c->N * c->C);
    return 0;
}

static void sm_backward(void *p, unsigned want) {
    Sm *c = p;
    if (want & 1) softmax_backward(c->dx, c->R, c->out, c->N, c->C);
}

// A -inf logit is a constant of the problem, not a point to perturb.
static int sm_skip(void *p, size_t i, float h) {
    (void)h;
    return !isfinite(((Sm *)p)->x[i]);
}

Test(ops, softmax_gradients_with_masked_entries) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 9);
    Sm c = {.N = 5, .C = 7};
    c.x = gc_uniform(&bufs, &r, 35, -3, 3);
    c.x[1 * 7 + 6] = -INFINITY;  // one masked entry in row 1 (skip count stays under a quarter)
    c.out = gc_floats(&bufs, 35);
    c.R = gc_uniform(&bufs, &r, 35, -1, 1);
    c.dx = gc_floats(&bufs, 35);
    GcOpts o = gc_defaults();
    o.atol = 2e-4;
    o.rtol = 2e-3;
    o.skip = sm_skip;
    GcParam p[] = {{"inp", c.x, c.dx, 35, o}};
    gc_check_op("softmax", sm_loss, sm_backward, &c, p, 1);
    cr_assert_eq(c.out[13], 0.0f);
    cr_assert_eq(c.dx[13], 0.0f, "gradient at a -inf logit must be exactly 0");
    gc_free_all(&bufs);
}

// Rows sum to 1, match a double reference, and -inf entries get exactly 0.
TheoryDataPoints(ops, softmax_rows_sum_to_one) = {
    DataPoints(int, 1, 3, 17, 65),
    DataPoints(int, 1, 3, 17, 65, 4099),
};

Theory((int N, int C), ops, softmax_rows_sum_to_one) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, (uint64_t)(N * 7919 + C));
    float *x = gc_uniform(&bufs, &r, (size_t)N * C, -20, 20), *y = gc_floats(&bufs, (size_t)N * C);
    for (int n = 0; n < N; n++)
        if (C > 1) x[(size_t)n * C + (n * 31) % C] = -INFINITY;
    softmax_forward(y, x, N, C);
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C, *yr = y + (size_t)n * C;
        double mx = -INFINITY, s = 0, sy = 0;
        for (int c = 0; c < C; c++) mx = fmax(mx, xr[c]);
        for (int c = 0; c < C; c++) s += exp(xr[c] - mx);
        for (int c = 0; c < C; c++) {
            double want = exp(xr[c] - mx) / s;
            if (isinf(xr[c])) cr_assert_eq(yr[c], 0.0f, "masked entry %d got %g", c, yr[c]);
            cr_assert(fabs(yr[c] - want) <= 1e-6 * want + 1e-12, "row %d col %d: %g vs %g", n, c,
                      (double)yr[c], want);
            sy += yr[c];
        }
        cr_assert(fabs(sy - 1) <= 1e-5, "row %d sums to %.9g", n, sy);
    }
    gc_free_all(&bufs);
}

// ---- cross-entropy -------------------------------------------------------------------------

typedef struct {
    int N, V, count;
    const int *targets;
    float *logits, *probs, *losses, *dlogits;
} Ce;

static int ce_loss(void *p, double *loss) {
    Ce *c = p;
    *loss = crossentropy_forward(c->probs, c->losses, c->logits, c->targets, c->N, c->V, &c->count);
    return 0;
}

static void ce_backward(void *p, unsigned want) {
    Ce *c = p;
    if (want & 1)
        crossentropy_backward(c->dlogits, c->probs, c->targets, c->N, c->V, 1.0f / c->count);
}

Test(ops, crossentropy_gradients_with_ignored_targets) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 11);
    const int targets[6] = {2, -1, 0, 4, -100, 4};
    Ce c = {.N = 6, .V = 5, .targets = targets};
    c.logits = gc_uniform(&bufs, &r, 30, -3, 3);
    c.probs = gc_floats(&bufs, 30);
    c.losses = gc_floats(&bufs, 6);
    c.dlogits = gc_floats(&bufs, 30);
    GcOpts o = gc_defaults();
    o.max_points = 0;
    o.atol = 1e-4;
    o.rtol = 2e-3;
    GcParam p[] = {{"logits", c.logits, c.dlogits, 30, o}};
    gc_check_op("crossentropy", ce_loss, ce_backward, &c, p, 1);
    cr_assert_eq(c.count, 4);
    for (int v = 0; v < 5; v++) {
        cr_assert_eq(c.dlogits[1 * 5 + v], 0.0f, "ignored row 1 got a gradient");
        cr_assert_eq(c.dlogits[4 * 5 + v], 0.0f, "ignored row 4 got a gradient");
    }
    cr_assert_eq(c.losses[1], 0.0f);
    cr_assert_eq(c.losses[4], 0.0f);
    gc_free_all(&bufs);
}

// Uniform logits give ln V; a hand example; all targets ignored gives 0 with count 0; a logit
// 200 below the others still gives a finite loss (log-sum-exp, not -log(p) with p = 0).
Test(ops, crossentropy_values) {
    const int V = 7, N = 3;
    float logits[21], probs[21], losses[3];
    int targets[3] = {0, 6, 3}, count = -1;
    for (int i = 0; i < 21; i++) logits[i] = 1.5f;
    double l = crossentropy_forward(probs, losses, logits, targets, N, V, &count);
    cr_assert_eq(count, 3);
    cr_assert(fabs(l - log(7.0)) <= 1e-6, "uniform: %.9g vs ln 7 = %.9g", l, log(7.0));
    for (int i = 0; i < 21; i++) cr_assert_float_eq(probs[i], 1.0f / 7, 1e-7);

    // logits (0, 0, ln 2): probs (1/4, 1/4, 1/2); target 2 → ln 2, target 0 → ln 4
    float lg[6] = {0, 0, (float)log(2.0), 0, 0, (float)log(2.0)}, pr[6], ls[2];
    int tg[2] = {2, 0};
    l = crossentropy_forward(pr, ls, lg, tg, 2, 3, &count);
    cr_assert(fabs(ls[0] - log(2.0)) <= 1e-6 && fabs(ls[1] - log(4.0)) <= 1e-6, "%g %g",
              (double)ls[0], (double)ls[1]);
    cr_assert(fabs(l - 0.5 * (log(2.0) + log(4.0))) <= 1e-6);
    cr_assert_float_eq(pr[2], 0.5f, 1e-7);

    int none[2] = {-1, -1};
    l = crossentropy_forward(pr, ls, lg, none, 2, 3, &count);
    cr_assert_eq(count, 0);
    cr_assert_eq(l, 0.0);

    float far[3] = {0, 0, -200};
    int t2 = 2;
    l = crossentropy_forward(pr, ls, far, &t2, 1, 3, &count);
    cr_assert(fabs(l - (200 + log(2.0))) <= 1e-4, "far logit: %.9g", l);
}

// ---- weighted MSE --------------------------------------------------------------------------

typedef struct {
    int N, F;
    float *pred, *target, *w, *dpred;
} Mse;

static int mse_loss(void *p, double *loss) {
    Mse *c = p;
    *loss = mse_forward(c->pred, c->target, c->w, c->N, c->F);
    return 0;
}

static void mse_bwd(void *p, unsigned want) {
    Mse *c = p;
    if (want & 1) mse_backward(c->dpred, c->pred, c->target, c->w, c->N, c->F, 1.0f / c->N);
}

Test(ops, mse_gradients_and_values) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 12);
    for (int weighted = 0; weighted < 2; weighted++) {
        Mse c = {.N = 4, .F = 5};
        c.pred = gc_uniform(&bufs, &r, 20, -1, 1);
        c.target = gc_uniform(&bufs, &r, 20, -1, 1);
        c.w = weighted ? gc_uniform(&bufs, &r, 5, 0.1f, 2) : NULL;
        c.dpred = gc_floats(&bufs, 20);
        GcOpts o = opts_linear();  // quadratic: central differences are exact up to rounding
        GcParam p[] = {{"pred", c.pred, c.dpred, 20, o}};
        gc_check_op(weighted ? "mse (weighted)" : "mse", mse_loss, mse_bwd, &c, p, 1);
    }
    // By hand: N = 2, F = 2, w = (1, 3): ((1·1² + 3·2²) + (1·0² + 3·(-1)²)) / 2 = (13 + 3) / 2 = 8
    float pred[4] = {1, 2, 0, -1}, target[4] = {0, 0, 0, 0}, w[2] = {1, 3};
    cr_assert_eq(mse_forward(pred, target, w, 2, 2), 8.0);
    cr_assert_eq(mse_forward(pred, target, NULL, 2, 2), 3.0);  // (1 + 4 + 0 + 1) / 2
    float d[4] = {0};
    mse_backward(d, pred, target, w, 2, 2, 0.5f);  // 0.5·2·w·(p - t) = w·p
    cr_assert(d[0] == 1 && d[1] == 6 && d[2] == 0 && d[3] == -3);
    gc_free_all(&bufs);
}

// ---- thread-count independence -------------------------------------------------------------

// Runs every dense op big enough to be split into tasks, writing all outputs one after the other
// into res; returns how many floats that took.
static size_t run_dense_ops(float *res, const float *x, const float *w, const float *d, int N,
                          int I, int O, const int *targets) {
    size_t no = (size_t)N * O, ni = (size_t)N * I;
    float *p = res;
    linear_forward(p, x, w, w + (size_t)I * O, N, I, O), p += no;
    memset(p, 0, sizeof(float) * (ni + (size_t)I * O + O));
    linear_backward(p, p + ni, p + ni + (size_t)I * O, d, x, w, N, I, O);
    p += ni + (size_t)I * O + O;
    float *mean = p, *scale = p + N;
    p += 2 * N;
    layernorm_forward(p, mean, scale, x, w, w + I, N, I, 1e-5f), p += ni;
    memset(p, 0, sizeof(float) * (ni + 2 * I));
    layernorm_backward(p, p + ni, p + ni + I, d, x, mean, scale, w, N, I);
    p += ni + 2 * I;
    float *sm = p;
    softmax_forward(sm, x, N, I), p += ni;
    memset(p, 0, sizeof(float) * ni);
    softmax_backward(p, d, sm, N, I), p += ni;
    crossentropy_forward(p, p + ni, x, targets, N, I, NULL);
    memset(p + ni + N, 0, sizeof(float) * ni);
    crossentropy_backward(p + ni + N, p, targets, N, I, 0.01f);
    p += 2 * ni + N;
    gelu_forward(p, x, ni), p += ni;
    memset(p, 0, sizeof(float) * ni);
    gelu_backward(p, d, x, ni), p += ni;
    return (size_t)(p - res);
}

Test(ops, dense_ops_bit_identical_on_1_and_2_threads) {
    const int N = 300, I = 129, O = 70;
    size_t ni = (size_t)N * I, no = (size_t)N * O;
    size_t total = 12 * ni + no + (size_t)I * O + O + 3 * N + 2 * I;
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 13);
    float *x = gc_uniform(&bufs, &r, ni, -2, 2), *w = gc_uniform(&bufs, &r, (size_t)I * O + O, -1, 1);
    float *d = gc_uniform(&bufs, &r, ni > no ? ni : no, -1, 1);
    int *targets = gc_ints(&bufs, N);
    for (int n = 0; n < N; n++) targets[n] = n % 5 == 0 ? -1 : (n * 37) % I;
    float *r1 = gc_floats(&bufs, total), *r2 = gc_floats(&bufs, total);
    pool_set_threads(1);
    size_t used = run_dense_ops(r1, x, w, d, N, I, O, targets);
    cr_assert(used <= total);
    pool_set_threads(2);
    run_dense_ops(r2, x, w, d, N, I, O, targets);
    pool_shutdown();
    for (size_t i = 0; i < used; i++)
        cr_assert(memcmp(&r1[i], &r2[i], sizeof(float)) == 0, "element %zu: %.9g vs %.9g", i,
                  (double)r1[i], (double)r2[i]);
    gc_free_all(&bufs);
}
