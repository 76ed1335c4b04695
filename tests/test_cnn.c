// The CNN family (model/cnn.c).
//
// Spec parser: accepted specs give hand-computed shapes, parameter shapes and counts; rejected
// ones name the bad token and the problem. Conv layers: the model's output against a direct
// (non-GEMM) convolution in double on odd shapes, strides and paddings. Gradients: every layer
// type alone (conv variants, relu, max/avg pool with overlapping windows, flatten, linear) and
// a whole small net (loss → params and input, and a chosen unit → input) against central finite
// differences, with accumulation and NULL-skipping checked by gc_check_op. Hooks: zeroing the
// last hidden layer leaves only the bias path in the logits; an input hook; backward hooks see
// the gradient and can cut it; bad patterns and failing callbacks are errors. 1 vs 2 threads
// give the same bits. He init statistics. A tiny net learns line orientation.
#include <math.h>
#include <string.h>

#include "datasets/images.h"
#include "gradcheck.h"
#include "helpers.h"
#include "model/cnn.h"
#include "model/err.h"
#include "model/pool.h"
#include "train/optim.h"

TestSuite(cnn);

static Cnn *make(const char *spec, int C, int H, int W, int max_batch) {
    Cnn *m = cnn_create(spec, C, H, W, max_batch);
    cr_assert_not_null(m, "cnn_create('%s'): %s", spec, err_msg());
    return m;
}

// ---- spec parser -----------------------------------------------------------------------------

static void expect_shape(const Cnn *m, int layer, int c, int h, int w) {
    const CnnLayer *L = &m->layers[layer];
    cr_assert(L->out_c == c && L->out_h == h && L->out_w == w,
              "%s: layer %d is %dx%dx%d, expected %dx%dx%d", m->spec, layer, L->out_c, L->out_h,
              L->out_w, c, h, w);
}

Test(cnn, spec_accepts) {
    Cnn *m = make("conv3x3:16,relu,maxpool2,conv3x3:32,relu,maxpool2,linear:10", 1, 28, 28, 4);
    cr_assert_eq(m->n_layers, 7);
    expect_shape(m, 0, 16, 28, 28);
    expect_shape(m, 2, 16, 14, 14);
    expect_shape(m, 3, 32, 14, 14);
    expect_shape(m, 5, 32, 7, 7);
    expect_shape(m, 6, 10, 1, 1);
    cr_assert_eq(m->n_out, 10);
    // 16·1·9 + 16 + 32·16·9 + 32 + 1568·10 + 10
    cr_assert_eq(m->params.numel, (size_t)(160 + 4640 + 15690));
    cr_assert_eq(m->params.count, 6);
    const char *names[] = {"layers.0.W", "layers.0.b", "layers.3.W",
                           "layers.3.b", "layers.6.W", "layers.6.b"};
    for (int i = 0; i < 6; i++) cr_assert_str_eq(m->params.info[i].name, names[i]);
    const ParamInfo *w6 = &m->params.info[4];
    cr_assert(w6->ndim == 2 && w6->shape[0] == 1568 && w6->shape[1] == 10, "linear W is [in,out]");
    const ParamInfo *w3 = &m->params.info[2];
    cr_assert(w3->ndim == 4 && w3->shape[0] == 32 && w3->shape[1] == 16 && w3->shape[2] == 3 &&
              w3->shape[3] == 3, "conv W is [OC,C,K,K]");
    cr_assert_eq(cnn_hook_count(m), 8);
    CnnHookInfo hi = cnn_hook_info(m, 0, 4);
    cr_assert(!strcmp(hi.name, "hook_in") && hi.ndim == 4 && hi.shape[0] == 4 && hi.shape[1] == 1 &&
              hi.shape[2] == 28);
    hi = cnn_hook_info(m, 7, 3);
    cr_assert(!strcmp(hi.name, "layers.6.hook_out") && hi.ndim == 2 && hi.shape[0] == 3 &&
              hi.shape[1] == 10);
    cnn_free(m);

    // stride 2 with explicit padding, overlapping avg pool, explicit flatten, relu on a vector:
    // conv: (9 + 4 - 5)/2 + 1 = 5, (7 + 4 - 5)/2 + 1 = 4; avgpool3s1: 3x2; flatten: 4·3·2 = 24
    m = make("conv5x5s2p2:4,avgpool3s1,flatten,relu,linear:3", 3, 9, 7, 2);
    expect_shape(m, 0, 4, 5, 4);
    expect_shape(m, 1, 4, 3, 2);
    expect_shape(m, 2, 24, 1, 1);
    expect_shape(m, 3, 24, 1, 1);
    cr_assert(m->layers[3].out_vec && !m->layers[1].out_vec);
    cr_assert_eq(m->n_out, 3);
    const float *w0 = params_data(&m->params, "layers.0.W");
    cr_assert_not_null(w0);
    cr_assert_eq(params_index(&m->params, "layers.4.W"), 2);
    cr_assert_eq(m->params.info[2].shape[0], 24);
    cr_assert_eq(m->layers[2].act, m->layers[1].act, "flatten is a view of its input");
    cnn_free(m);

    // defaults: even kernel → no padding; odd kernel at stride 2 → no padding; pool floors
    m = make("conv4x4:2", 1, 6, 6, 1);
    expect_shape(m, 0, 2, 3, 3);
    cnn_free(m);
    m = make("conv3x3s2:2", 1, 7, 7, 1);
    expect_shape(m, 0, 2, 3, 3);
    cnn_free(m);
    m = make("conv3x3p0:2,maxpool2", 1, 7, 7, 1);  // 5x5 → 2x2, the last row dropped
    expect_shape(m, 0, 2, 5, 5);
    expect_shape(m, 1, 2, 2, 2);
    cnn_free(m);
    m = make("linear:4", 2, 3, 3, 1);  // implicit flatten of the input
    cr_assert_eq(m->params.info[0].shape[0], 18);
    cnn_free(m);
}

static void expect_reject(const char *spec, int C, int H, int W, const char *want) {
    Cnn *m = cnn_create(spec, C, H, W, 2);
    cr_assert_null(m, "'%s' was accepted", spec);
    cr_assert(strstr(err_msg(), want), "'%s': message lacks \"%s\": %s", spec, want, err_msg());
}

Test(cnn, spec_rejects_name_the_token) {
    expect_reject("", 1, 8, 8, "empty");
    expect_reject("conv3x3:16,rleu", 1, 8, 8, "token 1 'rleu': unknown layer; expected conv<K>");
    expect_reject("conv3x3:0", 1, 8, 8, "token 0 'conv3x3:0': output channels must be 1..4096");
    expect_reject("conv3x:16", 1, 8, 8, "expected <K>x<K>");
    expect_reject("conv3x5:4", 1, 8, 8, "only square kernels");
    expect_reject("conv3x3", 1, 8, 8, "expected ':<channels>'");
    expect_reject("conv3x3s0:4", 1, 8, 8, "stride must be 1..32");
    expect_reject("conv3x3p3:4", 1, 8, 8, "padding must be 0..K-1");
    expect_reject("conv40x40:1", 1, 8, 8, "kernel size");
    expect_reject("conv3x3:4x", 1, 8, 8, "unexpected characters");
    expect_reject("conv3x3:5000", 1, 8, 8, "output channels");
    expect_reject("maxpool0", 1, 8, 8, "window must be 1..32");
    expect_reject("relu,avgpool2s", 1, 8, 8, "token 1 'avgpool2s': stride");
    expect_reject("maxpool5", 1, 4, 4, "token 0 'maxpool5' (layers.0): window 5 larger than its 4x4");
    expect_reject("conv3x3:4,maxpool2,maxpool2,maxpool2", 1, 6, 6,
                  "token 3 'maxpool2' (layers.3): window 2 larger than its 1x1 input");
    expect_reject("conv7x7p0:2", 1, 5, 5, "kernel 7 larger than its 5x5 input");
    expect_reject("linear:", 1, 8, 8, "output features must be");
    expect_reject("linear10", 1, 8, 8, "expected linear:<N>");
    expect_reject("linear:99999999999999999999", 1, 8, 8, "output features must be");
    expect_reject("linear:10,conv3x3:4", 1, 8, 8, "token 1 'conv3x3:4' (layers.1): a conv needs an image");
    expect_reject("flatten,maxpool2", 1, 8, 8, "a pool needs an image");
    expect_reject("flatten,flatten", 1, 8, 8, "already flat");
    expect_reject("relu,,relu", 1, 8, 8, "token 1 is empty");
    expect_reject("relu,", 1, 8, 8, "token 1 is empty");
    expect_reject("relu", 0, 8, 8, "input shape");
    Cnn *m = cnn_create("relu", 1, 8, 8, 0);
    cr_assert_null(m);
    cr_assert(strstr(err_msg(), "max_batch 0"), "%s", err_msg());
}

// ---- conv against a direct convolution -------------------------------------------------------

Test(cnn, conv_matches_direct_reference) {
    const char *specs[] = {"conv3x3:4",      "conv3x3s2:4", "conv5x5s3p2:4", "conv1x1:4",
                           "conv4x4:4",      "conv2x2s2p1:4", "conv3x3s2p2:4"};
    enum { B = 3, C = 3, H = 7, W = 5 };
    Rng r;
    rng_seed(&r, 5);
    float x[B * C * H * W];
    rng_fill_uniform(&r, x, B * C * H * W, -1, 1);
    for (int si = 0; si < 7; si++) {
        Cnn *m = make(specs[si], C, H, W, B);
        cnn_init_weights(m, 1);
        float *b = params_data(&m->params, "layers.0.b");
        rng_fill_uniform(&r, b, 4, -1, 1);  // biases are 0 after init: give them values
        cr_assert_eq(cnn_forward(m, x, NULL, B, NULL, NULL), 0, "%s", err_msg());
        const CnnLayer *L = &m->layers[0];
        int k = L->u.conv.k, s = L->u.conv.s, p = L->u.conv.p, OH = L->out_h, OW = L->out_w;
        cr_assert_eq(OH, (H + 2 * p - k) / s + 1);
        const float *w = params_data(&m->params, "layers.0.W");
        Tensor out = cnn_act(m, "layers.0.hook_out");
        cr_assert(out.ndim == 4 && out.shape[1] == 4 && out.shape[2] == OH && out.shape[3] == OW);
        double maxd = 0;
        for (int n = 0; n < B; n++)
            for (int oc = 0; oc < 4; oc++)
                for (int oh = 0; oh < OH; oh++)
                    for (int ow = 0; ow < OW; ow++) {
                        double acc = b[oc];
                        for (int c = 0; c < C; c++)
                            for (int kh = 0; kh < k; kh++)
                                for (int kw = 0; kw < k; kw++) {
                                    int ih = oh * s - p + kh, iw = ow * s - p + kw;
                                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                    acc += (double)w[((oc * C + c) * k + kh) * k + kw] *
                                           x[((n * C + c) * H + ih) * W + iw];
                                }
                        double got = out.data[((n * 4 + oc) * OH + oh) * OW + ow];
                        if (fabs(got - acc) > maxd) maxd = fabs(got - acc);
                    }
        cr_assert(maxd < 1e-5, "%s: max |conv - direct| = %.3g", specs[si], maxd);
        cnn_free(m);
    }
}

// ---- gradients, layer by layer ---------------------------------------------------------------

typedef struct {
    Cnn *m;
    float *x, *R, *dx;  // input, the random weights of the objective Σ out·R, input gradient
    int *labels;        // NULL: objective Σ logits·R; else the mean cross-entropy
    int B;
    size_t nin, nout;
} Net;

static int net_loss(void *p, double *loss) {
    Net *n = p;
    double l;
    if (cnn_forward(n->m, n->x, n->labels, n->B, NULL, &l)) return -1;
    if (n->labels) {
        *loss = l;
    } else {
        Tensor o = cnn_act(n->m, "logits");
        *loss = gc_dot(o.data, n->R, n->nout);
    }
    return 0;
}

// want bit 0: input gradient (accumulated into n->dx), bit 1: parameter gradients
static void net_backward(void *p, unsigned want) {
    Net *n = p;
    unsigned flags = (want & 1 ? CNN_GRAD_INPUT : 0) | (want & 2 ? CNN_GRAD_PARAMS : 0);
    int rc = n->labels ? cnn_backward_from(n->m, NULL, NULL, flags, NULL)
                       : cnn_backward_from(n->m, "logits", n->R, flags, NULL);
    cr_assert_eq(rc, 0, "%s", err_msg());
    if (want & 1) {
        Tensor g = cnn_act_grad(n->m, "hook_in");
        for (size_t i = 0; i < n->nin; i++) n->dx[i] += g.data[i];
    }
}

static void net_setup(Net *n, GcBufs *bufs, const char *spec, int B, int C, int H, int W,
                      uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    n->m = make(spec, C, H, W, B);
    cnn_init_weights(n->m, seed);
    // random biases too, so their gradients and the bias path are exercised
    for (int i = 0; i < n->m->params.count; i++) {
        const ParamInfo *pi = &n->m->params.info[i];
        if (pi->ndim == 1) rng_fill_uniform(&r, n->m->params.data + pi->offset, pi->numel, -0.5f, 0.5f);
    }
    n->B = B;
    n->nin = (size_t)B * C * H * W;
    n->nout = (size_t)B * n->m->n_out;
    n->x = gc_uniform(bufs, &r, n->nin, -1, 1);
    n->R = gc_uniform(bufs, &r, n->nout, -1, 1);
    n->dx = gc_floats(bufs, n->nin);
    n->labels = NULL;
}

// A ReLU input within a step of 0: the finite difference straddles the kink. (Kink detection
// misses these when the objective's weight R there is tiny, as the jump is |R|.)
static int skip_relu_kink(void *ctx, size_t i, float h) {
    const Net *n = ctx;
    return n->m->layers[0].kind == CNN_RELU && fabsf(n->x[i]) < h;
}

static void check_layer(const char *spec, int C, int H, int W) {
    GcBufs bufs = {0};
    Net n;
    net_setup(&n, &bufs, spec, 2, C, H, W, 11);
    GcOpts o = gc_defaults();
    o.kink = 1e-2;  // max-pool switches: the one-sided slopes jump by ~|R|
    o.skip = skip_relu_kink;
    GcParam p[2] = {{"input", n.x, n.dx, n.nin, o}, {"params", n.m->params.data,
                                                     n.m->params.grad, n.m->params.numel, o}};
    gc_check_op(spec, net_loss, net_backward, &n, p, n.m->params.numel ? 2 : 1);
    cnn_free(n.m);
    gc_free_all(&bufs);
}

Test(cnn, gradients_per_layer_type) {
    check_layer("conv3x3:4", 3, 6, 5);
    check_layer("conv3x3s2p1:3", 2, 7, 6);
    check_layer("conv4x4s3p2:2", 2, 7, 5);
    check_layer("relu", 2, 5, 4);
    check_layer("maxpool2", 2, 6, 5);
    check_layer("maxpool3s2", 2, 7, 7);  // overlapping windows: gradients add up
    check_layer("avgpool2", 2, 6, 5);
    check_layer("avgpool3s2", 2, 7, 7);
    check_layer("linear:5", 2, 3, 3);
    check_layer("flatten,linear:4", 2, 3, 3);
    check_layer("conv3x3:2,flatten", 1, 4, 4);
}

Test(cnn, gradients_whole_net_loss) {
    GcBufs bufs = {0};
    Net n;
    const char *spec = "conv3x3:3,relu,maxpool2,conv3x3s2p1:4,relu,avgpool2s1,flatten,linear:6,"
                       "relu,linear:4";
    net_setup(&n, &bufs, spec, 3, 2, 9, 9, 3);
    n.labels = gc_ints(&bufs, 3);
    n.labels[0] = 1;
    n.labels[1] = 3;
    n.labels[2] = 0;
    GcOpts o = gc_defaults();
    o.kink = 2e-3;
    o.atol = 2e-4;
    o.rtol = 2e-2;
    GcParam p[2] = {{"input", n.x, n.dx, n.nin, o},
                    {"params", n.m->params.data, n.m->params.grad, n.m->params.numel, o}};
    gc_check_op("small net (loss)", net_loss, net_backward, &n, p, 2);
    // cnn_backward is the loss backward into params
    double l;
    cr_assert_eq(cnn_forward(n.m, n.x, n.labels, 3, NULL, &l), 0);
    cr_assert(l > 0 && isfinite(l));
    params_zero_grad(&n.m->params);
    cr_assert_eq(cnn_backward(n.m, NULL), 0, "%s", err_msg());
    float *g1 = gc_floats(&bufs, n.m->params.numel);
    memcpy(g1, n.m->params.grad, sizeof(float) * n.m->params.numel);
    params_zero_grad(&n.m->params);
    net_backward(&n, 2);
    cr_assert(memcmp(g1, n.m->params.grad, sizeof(float) * n.m->params.numel) == 0);
    cnn_free(n.m);
    gc_free_all(&bufs);
}

// d(one unit)/d(input) through cnn_backward_from: channel 2 at (0, 1) of layers.3 (the second
// conv) for image 1 only.
typedef struct {
    Cnn *m;
    float *x;
    size_t unit;
} Unit;

static int unit_loss(void *p, double *loss) {
    Unit *u = p;
    if (cnn_forward(u->m, u->x, NULL, 2, NULL, NULL)) return -1;
    *loss = cnn_act(u->m, "layers.3.hook_out").data[u->unit];
    return 0;
}

Test(cnn, gradient_of_a_unit_wrt_input) {
    Cnn *m = make("conv3x3:3,relu,maxpool2,conv3x3:4,relu,linear:2", 1, 8, 8, 2);
    cnn_init_weights(m, 9);
    Rng r;
    rng_seed(&r, 4);
    float x[2 * 64];
    rng_fill_uniform(&r, x, 128, 0, 1);
    cr_assert_eq(cnn_forward(m, x, NULL, 2, NULL, NULL), 0);
    Tensor a = cnn_act(m, "layers.3.hook_out");
    cr_assert(a.ndim == 4 && a.shape[1] == 4 && a.shape[2] == 4 && a.shape[3] == 4);
    Unit u = {m, x, (size_t)((1 * 4 + 2) * 4 + 0) * 4 + 1};
    float dact[2 * 4 * 4 * 4] = {0};
    dact[u.unit] = 1;
    float before = m->params.grad[0];
    cr_assert_eq(cnn_backward_from(m, "layers.3.hook_out", dact, CNN_GRAD_INPUT, NULL), 0, "%s",
                 err_msg());
    cr_assert_eq(m->params.grad[0], before, "parameters untouched without CNN_GRAD_PARAMS");
    float g[128];
    memcpy(g, cnn_act_grad(m, "hook_in").data, sizeof g);
    for (int i = 0; i < 64; i++) cr_assert_eq(g[i], 0.0f, "image 0 does not feed the unit");
    float gmax = 0;
    for (int i = 64; i < 128; i++) gmax = fmaxf(gmax, fabsf(g[i]));
    cr_assert(gmax > 0, "the unit's receptive field gets gradient");
    GcOpts o = gc_defaults();
    o.kink = 1e-2;
    o.max_points = 0;
    assert_gradcheck("d unit / d input", unit_loss, &u, x, g, 128, &o);
    cnn_free(m);
}

// ---- hooks -----------------------------------------------------------------------------------

static int zero_act(const char *name, Tensor t, void *user) {
    (void)name;
    (void)user;
    memset(t.data, 0, sizeof(float) * tensor_numel(&t));
    return 0;
}

typedef struct {
    float *copy;
    size_t n;
    int calls;
    char name[64];
} Cache;

static int cache_act(const char *name, Tensor t, void *user) {
    Cache *c = user;
    c->n = tensor_numel(&t);
    memcpy(c->copy, t.data, sizeof(float) * c->n);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->calls++;
    return 0;
}

static int failing(const char *name, Tensor t, void *user) {
    (void)name;
    (void)t;
    (void)user;
    return err_set("no thanks");
}

Test(cnn, forward_hook_zeroing_leaves_the_bias_path) {
    GcBufs bufs = {0};
    Net n;
    net_setup(&n, &bufs, "conv3x3:4,relu,maxpool2,flatten,linear:5,relu,linear:3", 4, 1, 6, 6, 2);
    HookList hl = {0};
    cr_assert_eq(hooks_add(&hl, "layers.5.hook_out", HOOK_FORWARD, zero_act, NULL), 0);
    cr_assert_eq(cnn_forward(n.m, n.x, NULL, 4, &hl, NULL), 0, "%s", err_msg());
    Tensor lg = cnn_act(n.m, "logits");
    const float *b6 = params_data(&n.m->params, "layers.6.b");
    for (int b = 0; b < 4; b++)
        for (int k = 0; k < 3; k++)
            cr_assert_eq(lg.data[b * 3 + k], b6[k], "logit [%d,%d] %.9g, bias %.9g", b, k,
                         (double)lg.data[b * 3 + k], (double)b6[k]);
    // without the hook the logits differ from the bias
    cr_assert_eq(cnn_forward(n.m, n.x, NULL, 4, NULL, NULL), 0);
    cr_assert(cnn_act(n.m, "logits").data[0] != b6[0]);
    // zeroing the input = a forward on zero images
    hooks_free(&hl);
    cr_assert_eq(hooks_add(&hl, "hook_in", HOOK_FORWARD, zero_act, NULL), 0);
    cr_assert_eq(cnn_forward(n.m, n.x, NULL, 4, &hl, NULL), 0);
    float patched[12], zero_in[12];
    memcpy(patched, cnn_act(n.m, "logits").data, sizeof patched);
    float *zeros = gc_floats(&bufs, n.nin);
    cr_assert_eq(cnn_forward(n.m, zeros, NULL, 4, NULL, NULL), 0);
    memcpy(zero_in, cnn_act(n.m, "logits").data, sizeof zero_in);
    cr_assert(memcmp(patched, zero_in, sizeof patched) == 0);
    hooks_free(&hl);
    cnn_free(n.m);
    gc_free_all(&bufs);
}

Test(cnn, hooks_cache_backward_and_errors) {
    GcBufs bufs = {0};
    Net n;
    net_setup(&n, &bufs, "conv3x3:2,relu,flatten,linear:3", 2, 1, 4, 4, 6);
    int labels[2] = {0, 2};
    Cache fc = {.copy = gc_floats(&bufs, 256)}, bc = {.copy = gc_floats(&bufs, 256)};
    HookList hl = {0};
    cr_assert_eq(hooks_add(&hl, "layers.1.*", HOOK_FORWARD, cache_act, &fc), 0);
    cr_assert_eq(hooks_add(&hl, "layers.?.hook_out", HOOK_BACKWARD, cache_act, &bc), 0);
    cr_assert_eq(cnn_forward(n.m, n.x, labels, 2, &hl, NULL), 0, "%s", err_msg());
    cr_assert_eq(fc.calls, 1);
    cr_assert_str_eq(fc.name, "layers.1.hook_out");
    Tensor a1 = cnn_act(n.m, "layers.1.hook_out");
    cr_assert(fc.n == tensor_numel(&a1) && memcmp(fc.copy, a1.data, fc.n * sizeof(float)) == 0);
    // flatten's hook point is the same memory, shaped [B, 32]
    Tensor a2 = cnn_act(n.m, "layers.2.hook_out");
    cr_assert(a2.data == a1.data && a2.ndim == 2 && a2.shape[1] == 32);
    // backward hooks run on every layer output, last one on layers.0: its gradient
    params_zero_grad(&n.m->params);
    cr_assert_eq(cnn_backward(n.m, &hl), 0, "%s", err_msg());
    cr_assert_eq(bc.calls, 4);
    cr_assert_str_eq(bc.name, "layers.0.hook_out");
    Tensor g0 = cnn_act_grad(n.m, "layers.0.hook_out");
    cr_assert(memcmp(bc.copy, g0.data, bc.n * sizeof(float)) == 0);
    hooks_free(&hl);
    // a backward hook that zeroes the gradient at layers.1 cuts off the conv's parameters
    cr_assert_eq(hooks_add(&hl, "layers.1.hook_out", HOOK_BACKWARD, zero_act, NULL), 0);
    params_zero_grad(&n.m->params);
    cr_assert_eq(cnn_backward(n.m, &hl), 0);
    const ParamInfo *w0 = &n.m->params.info[0], *w3 = &n.m->params.info[2];
    for (size_t i = 0; i < w0->numel; i++) cr_assert_eq(n.m->params.grad[w0->offset + i], 0.0f);
    float s = 0;
    for (size_t i = 0; i < w3->numel; i++) s += fabsf(n.m->params.grad[w3->offset + i]);
    cr_assert(s > 0, "the linear layer still gets its gradient");
    hooks_free(&hl);
    // errors: a pattern matching nothing, a failing callback (message prefixed by the point)
    cr_assert_eq(hooks_add(&hl, "blocks.0.hook_z", HOOK_FORWARD, zero_act, NULL), 0);
    cr_assert_eq(cnn_forward(n.m, n.x, NULL, 2, &hl, NULL), -1);
    cr_assert(strstr(err_msg(), "'blocks.0.hook_z' matches no hook point"), "%s", err_msg());
    hooks_free(&hl);
    cr_assert_eq(hooks_add(&hl, "layers.2.hook_out", HOOK_FORWARD, failing, NULL), 0);
    cr_assert_eq(cnn_forward(n.m, n.x, NULL, 2, &hl, NULL), -1);
    cr_assert(strstr(err_msg(), "layers.2.hook_out: no thanks"), "%s", err_msg());
    hooks_free(&hl);
    cnn_free(n.m);
    gc_free_all(&bufs);
}

Test(cnn, bad_calls_are_errors) {
    Cnn *m = make("conv3x3:2,relu,linear:3", 1, 4, 4, 2);
    cnn_init_weights(m, 1);
    float x[3 * 16] = {0};
    int labels[3] = {0, 3, 1};
    cr_assert_eq(cnn_backward(m, NULL), -1);
    cr_assert(strstr(err_msg(), "no completed forward"), "%s", err_msg());
    cr_assert_null(cnn_act(m, "logits").data);
    cr_assert_eq(cnn_forward(m, x, labels, 2, NULL, NULL), -1);
    cr_assert(strstr(err_msg(), "label 3 of image 1 outside 0..2"), "%s", err_msg());
    cr_assert_eq(cnn_forward(m, x, NULL, 3, NULL, NULL), -1);
    cr_assert(strstr(err_msg(), "batch 3 outside 1..2"), "%s", err_msg());
    double loss = 0;
    cr_assert_eq(cnn_forward(m, x, NULL, 2, NULL, &loss), 0);
    cr_assert(isnan(loss));
    cr_assert_eq(cnn_backward(m, NULL), -1);
    cr_assert(strstr(err_msg(), "no labels"), "%s", err_msg());
    cr_assert_null(cnn_act(m, "probs").data);
    float d[64] = {0};
    cr_assert_eq(cnn_backward_from(m, "layers.7.hook_out", d, 0, NULL), -1);
    cr_assert(strstr(err_msg(), "'layers.7.hook_out' is not a hook point"), "%s", err_msg());
    cr_assert_null(cnn_act(m, "hook_pattern").data);
    cr_assert(strstr(err_msg(), "'hook_pattern'"), "%s", err_msg());
    cnn_free(m);
    cnn_free(NULL);
}

// ---- determinism, init ------------------------------------------------------------------------

static void run_net(int threads, float *logits, float *grad, float *dx, size_t np) {
    cr_assert_eq(pool_set_threads(threads), 0);
    enum { B = 20 };  // more images than conv2d's 16 batch slots
    Cnn *m = make("conv3x3:6,relu,maxpool2,conv3x3s2:8,relu,avgpool2s1,linear:10", 2, 12, 12, B);
    cnn_init_weights(m, 42);
    cr_assert_eq(m->params.numel, np);
    Rng r;
    rng_seed(&r, 7);
    static float x[B * 2 * 144];
    rng_fill_uniform(&r, x, B * 2 * 144, 0, 1);
    int labels[B];
    for (int b = 0; b < B; b++) labels[b] = b % 10;
    cr_assert_eq(cnn_forward(m, x, labels, B, NULL, NULL), 0);
    memcpy(logits, cnn_act(m, "logits").data, sizeof(float) * B * 10);
    cr_assert_eq(cnn_backward_from(m, NULL, NULL, CNN_GRAD_PARAMS | CNN_GRAD_INPUT, NULL), 0);
    memcpy(grad, m->params.grad, sizeof(float) * np);
    memcpy(dx, cnn_act_grad(m, "hook_in").data, sizeof(float) * B * 2 * 144);
    cnn_free(m);
}

Test(cnn, bit_identical_on_1_and_2_threads) {
    // 12 → conv (same) 12 → pool 6 → conv s2 (no pad) 2 → avgpool2s1 1; params:
    // 6·2·9+6 + 8·6·9+8 + 8·10+10 = 114 + 440 + 90
    enum { NP = 644, NL = 200, NX = 20 * 288 };
    static float l1[NL], l2[NL], g1[NP], g2[NP], d1[NX], d2[NX];
    run_net(1, l1, g1, d1, NP);
    run_net(2, l2, g2, d2, NP);
    pool_set_threads(0);
    cr_assert(memcmp(l1, l2, sizeof l1) == 0, "logits differ");
    cr_assert(memcmp(g1, g2, sizeof g1) == 0, "parameter gradients differ");
    cr_assert(memcmp(d1, d2, sizeof d1) == 0, "input gradients differ");
}

Test(cnn, he_init_statistics_and_seed) {
    Cnn *m = make("conv5x5:32,relu,linear:256", 8, 10, 10, 1);
    cnn_init_weights(m, 3);
    for (int i = 0; i < m->params.count; i++) {
        const ParamInfo *pi = &m->params.info[i];
        const float *x = m->params.data + pi->offset;
        double s = 0, s2 = 0;
        for (size_t j = 0; j < pi->numel; j++) {
            s += x[j];
            s2 += (double)x[j] * x[j];
        }
        double mean = s / pi->numel, sd = sqrt(s2 / pi->numel - mean * mean);
        if (pi->ndim == 1) {
            cr_assert(s2 == 0, "%s: biases start at 0", pi->name);
            continue;
        }
        // fan_in: 8·5·5 = 200 (conv), 32·10·10 = 3200 (linear)
        double want = sqrt(2.0 / (i == 0 ? 200 : 3200));
        double se = want / sqrt(2.0 * pi->numel);  // standard error of a sample std
        cr_assert(fabs(sd - want) < 5 * se, "%s: std %.5f, He says %.5f", pi->name, sd, want);
        cr_assert(fabs(mean) < 5 * want / sqrt((double)pi->numel), "%s: mean %.5f", pi->name,
                  mean);
    }
    Cnn *m2 = make("conv5x5:32,relu,linear:256", 8, 10, 10, 1);
    cnn_init_weights(m2, 3);
    cr_assert(memcmp(m->params.data, m2->params.data, sizeof(float) * m->params.numel) == 0);
    cnn_init_weights(m2, 4);
    cr_assert(memcmp(m->params.data, m2->params.data, sizeof(float) * m->params.numel) != 0);
    cnn_free(m);
    cnn_free(m2);
}

// ---- integration -------------------------------------------------------------------------------

// A small CNN learns the orientation bin of synthetic lines (8 bins, 16×16) in 200 Adam steps:
// held-out accuracy far above chance (1/8); it reaches about 0.93 (0.5 s on two cores).
Test(cnn, learns_line_orientation) {
    ImgSynthConfig c = images_synth_defaults(IMG_LINES, 16);
    ImageSet train, test;
    cr_assert_eq(images_synth(&train, &c, 2048, 1), 0);
    cr_assert_eq(images_synth(&test, &c, 512, 2), 0);
    enum { B = 32 };
    Cnn *m = make("conv5x5:4,relu,maxpool4,linear:8", 1, 16, 16, B);
    cnn_init_weights(m, 1);
    OptimConfig oc = optim_defaults(OPTIM_ADAM);
    Optim *opt = optim_create(&oc, m->params.numel);
    cr_assert_not_null(opt);
    Rng r;
    rng_seed(&r, 3);
    float x[B * 256];
    int y[B], idx[B];
    double first = 0, last = 0;
    for (int step = 0; step < 200; step++) {
        for (int b = 0; b < B; b++) idx[b] = (int)rng_int(&r, (uint32_t)train.n);
        images_batch(&train, idx, B, x, y);
        double loss;
        cr_assert_eq(cnn_forward(m, x, y, B, NULL, &loss), 0);
        params_zero_grad(&m->params);
        cr_assert_eq(cnn_backward(m, NULL), 0);
        cr_assert_eq(optim_step(opt, m->params.data, m->params.grad, 1e-2f), 0);
        if (step < 20) first += loss / 20;
        if (step >= 180) last += loss / 20;
    }
    int correct = 0;
    for (int s0 = 0; s0 < test.n; s0 += B) {
        for (int b = 0; b < B; b++) idx[b] = s0 + b;
        images_batch(&test, idx, B, x, y);
        cr_assert_eq(cnn_forward(m, x, NULL, B, NULL, NULL), 0);
        Tensor lg = cnn_act(m, "logits");
        for (int b = 0; b < B; b++) {
            int best = 0;
            for (int k = 1; k < 8; k++)
                if (lg.data[b * 8 + k] > lg.data[b * 8 + best]) best = k;
            correct += best == y[b];
        }
    }
    double acc = (double)correct / test.n;
    cr_assert(acc > 0.8 && last < 0.5 * first, "accuracy %.3f, loss %.3f → %.3f", acc, first,
              last);
    optim_free(opt);
    cnn_free(m);
    images_free(&train);
    images_free(&test);
}
