// Image ops (model/ops_conv.c): conv2d, max-pool, average-pool on NCHW tensors.
//
// conv2d: every gradient against finite differences and forward + backward against direct
// nested loops on odd shapes (C=3, H=7, W=5, k=3, stride 1 and 2, padding 0/1/2, B=3), plus a
// batch larger than the number of slots, a non-square kernel, and bit-identical results on 1
// and 2 threads. The scratch is allocated at exactly conv2d_scratch_floats() floats, so an
// overrun shows under make sanitize. Pools: gradients, values against loops, tie-breaking.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <string.h>

#include "gradcheck.h"
#include "helpers.h"
#include "model/ops.h"
#include "model/pool.h"
#include "model/rng.h"

TestSuite(ops_conv);

typedef struct {
    int B, C, H, W, OC, KH, KW, s, p;
} ConvShape;

typedef struct {
    ConvShape d;
    int OH, OW;
    size_t nin, nw, nout;
    float *inp, *w, *b, *out, *R, *dinp, *dw, *db, *scratch;
} Conv;

static void conv_setup(Conv *c, GcBufs *bufs, Rng *r, ConvShape d) {
    *c = (Conv){.d = d};
    c->OH = (d.H + 2 * d.p - d.KH) / d.s + 1;
    c->OW = (d.W + 2 * d.p - d.KW) / d.s + 1;
    c->nin = (size_t)d.B * d.C * d.H * d.W;
    c->nw = (size_t)d.OC * d.C * d.KH * d.KW;
    c->nout = (size_t)d.B * d.OC * c->OH * c->OW;
    c->inp = gc_uniform(bufs, r, c->nin, -1, 1);
    c->w = gc_uniform(bufs, r, c->nw, -1, 1);
    c->b = gc_uniform(bufs, r, (size_t)d.OC, -1, 1);
    c->out = gc_floats(bufs, c->nout);
    c->R = gc_uniform(bufs, r, c->nout, -1, 1);
    c->dinp = gc_floats(bufs, c->nin);
    c->dw = gc_floats(bufs, c->nw);
    c->db = gc_floats(bufs, (size_t)d.OC);
    c->scratch =
        gc_floats(bufs, conv2d_scratch_floats(d.B, d.C, d.H, d.W, d.OC, d.KH, d.KW, d.s, d.p));
}

static int conv_loss(void *p, double *loss) {
    Conv *c = p;
    ConvShape d = c->d;
    conv2d_forward(c->out, c->inp, c->w, c->b, d.B, d.C, d.H, d.W, d.OC, d.KH, d.KW, d.s, d.p,
                   c->scratch);
    *loss = gc_dot(c->out, c->R, c->nout);
    return 0;
}

static void conv_backward(void *p, unsigned want) {
    Conv *c = p;
    ConvShape d = c->d;
    conv2d_backward(want & 1 ? c->dinp : NULL, want & 2 ? c->dw : NULL, want & 4 ? c->db : NULL,
                    c->R, c->inp, c->w, d.B, d.C, d.H, d.W, d.OC, d.KH, d.KW, d.s, d.p,
                    c->scratch);
}

// The reference: out = b + Σ_c Σ_kh Σ_kw inp·w, one output at a time, in double; and the
// backward as the same loops with the roles swapped, onto the given starting gradients.
static void conv_reference(const Conv *c, float *out, float *dinp, float *dw, float *db) {
    ConvShape d = c->d;
    int OH = c->OH, OW = c->OW;
    double *gi = calloc(c->nin, sizeof(double)), *gw = calloc(c->nw, sizeof(double));
    for (int b = 0; b < d.B; b++)
        for (int oc = 0; oc < d.OC; oc++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    size_t o = (((size_t)b * d.OC + oc) * OH + oh) * OW + ow;
                    double s = c->b[oc], g = c->R[o];
                    for (int ch = 0; ch < d.C; ch++)
                        for (int kh = 0; kh < d.KH; kh++)
                            for (int kw = 0; kw < d.KW; kw++) {
                                int ih = oh * d.s - d.p + kh, iw = ow * d.s - d.p + kw;
                                if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
                                size_t i = (((size_t)b * d.C + ch) * d.H + ih) * d.W + iw;
                                size_t wi = (((size_t)oc * d.C + ch) * d.KH + kh) * d.KW + kw;
                                s += (double)c->inp[i] * c->w[wi];
                                gi[i] += g * c->w[wi];
                                gw[wi] += g * c->inp[i];
                            }
                    out[o] = (float)s;
                    db[oc] = (float)(db[oc] + g);
                }
    for (size_t i = 0; i < c->nin; i++) dinp[i] = (float)(dinp[i] + gi[i]);
    for (size_t i = 0; i < c->nw; i++) dw[i] = (float)(dw[i] + gw[i]);
    free(gi);
    free(gw);
}

ParameterizedTestParameters(ops_conv, conv2d) {
    static ConvShape shapes[] = {
        {3, 3, 7, 5, 4, 3, 3, 1, 0}, {3, 3, 7, 5, 4, 3, 3, 1, 1}, {3, 3, 7, 5, 4, 3, 3, 1, 2},
        {3, 3, 7, 5, 4, 3, 3, 2, 0}, {3, 3, 7, 5, 4, 3, 3, 2, 1}, {3, 3, 7, 5, 4, 3, 3, 2, 2},
        {20, 2, 6, 7, 3, 3, 2, 2, 1},  // more samples than slots; a 3×2 kernel
        {1, 1, 4, 4, 1, 4, 4, 1, 0},   // kernel as large as the image: one output
    };
    return cr_make_param_array(ConvShape, shapes, sizeof shapes / sizeof shapes[0]);
}

// Finite differences for inp, w, b; then forward and backward against the loops.
ParameterizedTest(ConvShape *shape, ops_conv, conv2d) {
    ConvShape d = *shape;
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, (uint64_t)(d.B * 1000 + d.s * 100 + d.p * 10 + d.KW));
    Conv c;
    conv_setup(&c, &bufs, &r, d);
    GcOpts o = gc_defaults();  // linear in each input: exact up to rounding
    o.atol = 1e-4;
    o.rtol = 1e-3;
    GcParam p[] = {{"inp", c.inp, c.dinp, c.nin, o}, {"w", c.w, c.dw, c.nw, o},
                   {"b", c.b, c.db, (size_t)d.OC, o}};
    char name[96];
    snprintf(name, sizeof name, "conv2d B%d C%d %dx%d k%dx%d s%d p%d", d.B, d.C, d.H, d.W, d.KH,
             d.KW, d.s, d.p);
    gc_check_op(name, conv_loss, conv_backward, &c, p, 3);

    // Against the loops, backward onto non-zero gradients (it must add to them).
    float *g0 = gc_uniform(&bufs, &r, c.nin + c.nw + d.OC, -1, 1);
    float *ro = gc_floats(&bufs, c.nout), *ri = gc_floats(&bufs, c.nin);
    float *rw = gc_floats(&bufs, c.nw), *rb = gc_floats(&bufs, (size_t)d.OC);
    memcpy(c.dinp, g0, sizeof(float) * c.nin);
    memcpy(c.dw, g0 + c.nin, sizeof(float) * c.nw);
    memcpy(c.db, g0 + c.nin + c.nw, sizeof(float) * d.OC);
    memcpy(ri, c.dinp, sizeof(float) * c.nin);
    memcpy(rw, c.dw, sizeof(float) * c.nw);
    memcpy(rb, c.db, sizeof(float) * d.OC);
    conv_loss(&c, &(double){0});
    conv_backward(&c, 7);
    conv_reference(&c, ro, ri, rw, rb);
    assert_allclose(c.out, ro, c.nout, 1e-5, 1e-5);
    assert_allclose(c.dinp, ri, c.nin, 1e-5, 1e-5);
    assert_allclose(c.dw, rw, c.nw, 1e-5, 1e-5);
    assert_allclose(c.db, rb, (size_t)d.OC, 1e-5, 1e-5);
    gc_free_all(&bufs);
}

// No bias: the forward is the pure convolution.
Test(ops_conv, conv2d_without_bias) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 3);
    Conv c;
    conv_setup(&c, &bufs, &r, (ConvShape){2, 3, 7, 5, 2, 3, 3, 1, 1});
    float *ro = gc_floats(&bufs, c.nout), *ri = gc_floats(&bufs, c.nin);
    float *rw = gc_floats(&bufs, c.nw), *rb = gc_floats(&bufs, 2);
    memset(c.b, 0, sizeof(float) * 2);
    conv_reference(&c, ro, ri, rw, rb);
    ConvShape d = c.d;
    conv2d_forward(c.out, c.inp, c.w, NULL, d.B, d.C, d.H, d.W, d.OC, d.KH, d.KW, d.s, d.p,
                   c.scratch);
    assert_allclose(c.out, ro, c.nout, 1e-5, 1e-5);
    gc_free_all(&bufs);
}

Test(ops_conv, conv2d_bit_identical_on_1_and_2_threads) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 4);
    Conv c;
    conv_setup(&c, &bufs, &r, (ConvShape){37, 3, 12, 11, 8, 3, 3, 1, 1});
    size_t n = c.nout + c.nin + c.nw + 8;
    float *res[2] = {gc_floats(&bufs, n), gc_floats(&bufs, n)};
    for (int t = 0; t < 2; t++) {
        pool_set_threads(t + 1);
        memset(c.dinp, 0, sizeof(float) * c.nin);
        memset(c.dw, 0, sizeof(float) * c.nw);
        memset(c.db, 0, sizeof(float) * 8);
        conv_loss(&c, &(double){0});
        conv_backward(&c, 7);
        memcpy(res[t], c.out, sizeof(float) * c.nout);
        memcpy(res[t] + c.nout, c.dinp, sizeof(float) * c.nin);
        memcpy(res[t] + c.nout + c.nin, c.dw, sizeof(float) * c.nw);
        memcpy(res[t] + c.nout + c.nin + c.nw, c.db, sizeof(float) * 8);
    }
    pool_shutdown();
    for (size_t i = 0; i < n; i++)
        cr_assert(memcmp(&res[0][i], &res[1][i], sizeof(float)) == 0, "element %zu: %.9g vs %.9g",
                  i, (double)res[0][i], (double)res[1][i]);
    gc_free_all(&bufs);
}

// ---- pooling -------------------------------------------------------------------------------

typedef struct {
    int B, C, H, W, k, s, OH, OW, max;
    size_t nin, nout;
    float *inp, *out, *R, *dinp;
    int *argmax;
} Pool;

static void pool_setup(Pool *c, GcBufs *bufs, Rng *r, int B, int C, int H, int W, int k, int s,
                       int max) {
    *c = (Pool){.B = B, .C = C, .H = H, .W = W, .k = k, .s = s, .max = max};
    c->OH = (H - k) / s + 1;
    c->OW = (W - k) / s + 1;
    c->nin = (size_t)B * C * H * W;
    c->nout = (size_t)B * C * c->OH * c->OW;
    c->inp = gc_uniform(bufs, r, c->nin, -1, 1);
    c->out = gc_floats(bufs, c->nout);
    c->R = gc_uniform(bufs, r, c->nout, -1, 1);
    c->dinp = gc_floats(bufs, c->nin);
    c->argmax = gc_ints(bufs, c->nout);
}

static int pool_loss(void *p, double *loss) {
    Pool *c = p;
    if (c->max)
        maxpool2d_forward(c->out, c->argmax, c->inp, c->B, c->C, c->H, c->W, c->k, c->s);
    else
        avgpool2d_forward(c->out, c->inp, c->B, c->C, c->H, c->W, c->k, c->s);
    *loss = gc_dot(c->out, c->R, c->nout);
    return 0;
}

static void pool_backward(void *p, unsigned want) {
    Pool *c = p;
    if (!(want & 1)) return;
    if (c->max)
        maxpool2d_backward(c->dinp, c->R, c->argmax, c->B, c->C, c->OH, c->OW, c->H, c->W);
    else
        avgpool2d_backward(c->dinp, c->R, c->B, c->C, c->H, c->W, c->k, c->s);
}

// Max-pool's kinks: an input within 2h of another value of a window it belongs to can swap the
// winner under a ±h step.
static int maxpool_skip(void *p, size_t i, float h) {
    Pool *c = p;
    size_t plane = i / ((size_t)c->H * c->W);
    int ih = (int)(i % ((size_t)c->H * c->W)) / c->W, iw = (int)(i % c->W);
    const float *x = c->inp + plane * c->H * c->W;
    for (int oh = 0; oh < c->OH; oh++)
        for (int ow = 0; ow < c->OW; ow++) {
            if (ih < oh * c->s || ih >= oh * c->s + c->k || iw < ow * c->s || iw >= ow * c->s + c->k)
                continue;
            for (int kh = 0; kh < c->k; kh++)
                for (int kw = 0; kw < c->k; kw++) {
                    int jh = oh * c->s + kh, jw = ow * c->s + kw;
                    if ((jh != ih || jw != iw) && fabsf(x[jh * c->W + jw] - x[ih * c->W + iw]) < 2 * h)
                        return 1;
                }
        }
    return 0;
}

// Window shapes: non-overlapping with leftover rows/columns, overlapping, stride 1.
static const int pool_ks[][2] = {{2, 2}, {3, 2}, {3, 1}};

Test(ops_conv, maxpool_gradients) {
    for (int i = 0; i < 3; i++) {
        GcBufs bufs = {0};
        Rng r;
        rng_seed(&r, 10 + i);
        Pool c;
        pool_setup(&c, &bufs, &r, 2, 3, 7, 5, pool_ks[i][0], pool_ks[i][1], 1);
        GcOpts o = gc_defaults();
        o.atol = 1e-4;
        o.rtol = 1e-3;
        o.step = 1e-3f;  // fewer points near a tie to skip
        o.skip = maxpool_skip;
        GcParam p[] = {{"inp", c.inp, c.dinp, c.nin, o}};
        char name[64];
        snprintf(name, sizeof name, "maxpool k%d s%d", c.k, c.s);
        gc_check_op(name, pool_loss, pool_backward, &c, p, 1);
        gc_free_all(&bufs);
    }
}

Test(ops_conv, avgpool_gradients) {
    for (int i = 0; i < 3; i++) {
        GcBufs bufs = {0};
        Rng r;
        rng_seed(&r, 20 + i);
        Pool c;
        pool_setup(&c, &bufs, &r, 2, 3, 7, 5, pool_ks[i][0], pool_ks[i][1], 0);
        GcOpts o = gc_defaults();
        o.atol = 1e-4;
        o.rtol = 1e-3;
        GcParam p[] = {{"inp", c.inp, c.dinp, c.nin, o}};
        char name[64];
        snprintf(name, sizeof name, "avgpool k%d s%d", c.k, c.s);
        gc_check_op(name, pool_loss, pool_backward, &c, p, 1);
        gc_free_all(&bufs);
    }
}

// Values against direct loops; the argmax is the in-plane index ih·W + iw of the maximum.
Test(ops_conv, pools_match_loops) {
    for (int i = 0; i < 3; i++) {
        GcBufs bufs = {0};
        Rng r;
        rng_seed(&r, 30 + i);
        Pool c;
        pool_setup(&c, &bufs, &r, 3, 2, 9, 6, pool_ks[i][0], pool_ks[i][1], 1);
        float *avg = gc_floats(&bufs, c.nout);
        maxpool2d_forward(c.out, c.argmax, c.inp, c.B, c.C, c.H, c.W, c.k, c.s);
        avgpool2d_forward(avg, c.inp, c.B, c.C, c.H, c.W, c.k, c.s);
        for (int pl = 0; pl < c.B * c.C; pl++)
            for (int oh = 0; oh < c.OH; oh++)
                for (int ow = 0; ow < c.OW; ow++) {
                    const float *x = c.inp + (size_t)pl * c.H * c.W;
                    float mx = -INFINITY;
                    double sum = 0;
                    int am = -1;
                    for (int kh = 0; kh < c.k; kh++)
                        for (int kw = 0; kw < c.k; kw++) {
                            int j = (oh * c.s + kh) * c.W + ow * c.s + kw;
                            if (x[j] > mx) mx = x[j], am = j;
                            sum += x[j];
                        }
                    size_t o = ((size_t)pl * c.OH + oh) * c.OW + ow;
                    cr_assert_eq(c.out[o], mx, "max %zu", o);
                    cr_assert_eq(c.argmax[o], am, "argmax %zu: %d vs %d", o, c.argmax[o], am);
                    cr_assert(fabs(avg[o] - sum / (c.k * c.k)) <= 1e-6, "avg %zu", o);
                }
        gc_free_all(&bufs);
    }
}

// Ties go to the first element in row-major order, and the gradient only to it.
Test(ops_conv, maxpool_ties_go_to_the_first) {
    const float x[16] = {1, 5, 5, 0,  //
                         5, 2, 3, 3,  //
                         0, 0, 7, 7,  //
                         0, 0, 7, 7};
    float out[4], d[4] = {1, 2, 3, 4}, dx[16] = {0};
    int am[4];
    maxpool2d_forward(out, am, x, 1, 1, 4, 4, 2, 2);
    cr_assert(am[0] == 1 && am[1] == 2 && am[2] == 8 && am[3] == 10, "%d %d %d %d", am[0], am[1],
              am[2], am[3]);
    cr_assert(out[0] == 5 && out[1] == 5 && out[2] == 0 && out[3] == 7);
    maxpool2d_backward(dx, d, am, 1, 1, 2, 2, 4, 4);
    const float want[16] = {0, 1, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++) cr_assert_eq(dx[i], want[i], "dx[%d] = %g", i, (double)dx[i]);
}

// Large enough to be split over several tasks: same bits on 1 and 2 threads, overlapping windows
// (stride 1) included.
Test(ops_conv, pools_bit_identical_on_1_and_2_threads) {
    GcBufs bufs = {0};
    Rng r;
    rng_seed(&r, 40);
    Pool c;
    pool_setup(&c, &bufs, &r, 16, 8, 28, 28, 3, 1, 1);
    size_t n = 2 * c.nout + 2 * c.nin;
    float *res[2] = {gc_floats(&bufs, n), gc_floats(&bufs, n)};
    for (int t = 0; t < 2; t++) {
        pool_set_threads(t + 1);
        float *p = res[t];
        maxpool2d_forward(p, c.argmax, c.inp, c.B, c.C, c.H, c.W, c.k, c.s), p += c.nout;
        maxpool2d_backward(p, c.R, c.argmax, c.B, c.C, c.OH, c.OW, c.H, c.W), p += c.nin;
        avgpool2d_forward(p, c.inp, c.B, c.C, c.H, c.W, c.k, c.s), p += c.nout;
        avgpool2d_backward(p, c.R, c.B, c.C, c.H, c.W, c.k, c.s);
    }
    pool_shutdown();
    cr_assert_eq(memcmp(res[0], res[1], sizeof(float) * n), 0);
    gc_free_all(&bufs);
}
