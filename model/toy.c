#include "toy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gemm.h"
#include "ops.h"
#include "pool.h"
#include "rng.h"

Toy *toy_create(const ToyConfig *cfg, const float *importance) {
    const int I = cfg->n_instances, n = cfg->n_features, m = cfg->n_hidden, B = cfg->max_batch;
    if (I < 1 || n < 1 || m < 1 || B < 1) {
        err_set("toy model: n_instances %d, n_features %d, n_hidden %d, max_batch %d must all "
                "be >= 1",
                I, n, m, B);
        return NULL;
    }
    if (!(cfg->init_std >= 0.0f) || !isfinite(cfg->init_std)) {
        err_set("toy model: init_std %g must be finite and >= 0 (0: Xavier)", cfg->init_std);
        return NULL;
    }
    if (importance)
        for (size_t k = 0; k < (size_t)I * n; k++)
            if (!(importance[k] >= 0.0f) || !isfinite(importance[k])) {
                err_set("toy model: importance[%zu] = %g must be finite and >= 0", k,
                        importance[k]);
                return NULL;
            }
    Toy *t = calloc(1, sizeof *t);
    if (!t) {
        err_set("toy model: out of memory");
        return NULL;
    }
    t->cfg = *cfg;
    const int wshape[3] = {I, n, m}, bshape[2] = {I, n};
    if (params_add(&t->params, "W", 3, wshape) < 0 || params_add(&t->params, "b_final", 2, bshape) < 0 ||
        params_alloc(&t->params))
        goto fail;
    t->W = params_data(&t->params, "W");
    t->b_final = params_data(&t->params, "b_final");
    t->dW = params_grad(&t->params, "W");
    t->db_final = params_grad(&t->params, "b_final");

    // One activation block: hidden, dhidden [I,B,m]; pre, dout, dpre [I,B,n]; out [I,B,n] for the
    // ReLU model only (the linear model's output is pre itself).
    const size_t hm = (size_t)I * B * m, hn = (size_t)I * B * n;
    const size_t total = 2 * hm + (cfg->relu ? 4 : 3) * hn;
    t->act = malloc(total * sizeof(float));
    t->importance = malloc((size_t)I * n * sizeof(float));
    t->loss = calloc((size_t)I, sizeof(double));
    if (!t->act || !t->importance || !t->loss) {
        err_set("toy model: out of memory for %zu activations", total);
        goto fail;
    }
    float *p = t->act;
    t->hidden = p, p += hm;
    t->dhidden = p, p += hm;
    t->pre = p, p += hn;
    t->dout = p, p += hn;
    t->dpre = p, p += hn;
    t->out = cfg->relu ? p : t->pre;
    for (size_t k = 0; k < (size_t)I * n; k++) t->importance[k] = importance ? importance[k] : 1.0f;
    return t;
fail:
    toy_free(t);
    return NULL;
}

void toy_free(Toy *t) {
    if (!t) return;
    params_free(&t->params);
    free(t->act);
    free(t->importance);
    free(t->loss);
    free(t);
}

void toy_init(Toy *t, uint64_t seed) {
    const int I = t->cfg.n_instances, n = t->cfg.n_features, m = t->cfg.n_hidden;
    const float std = t->cfg.init_std > 0.0f ? t->cfg.init_std : sqrtf(2.0f / (float)(n + m));
    for (int i = 0; i < I; i++) {
        // Instance i's own stream, from a hash of (seed, i): its W does not depend on I.
        uint64_t st = seed ^ ((uint64_t)(i + 1) * 0xD1B54A32D192ED03ULL);
        Rng r;
        rng_seed(&r, rng_splitmix64(&st));
        rng_fill_normal(&r, t->W + (size_t)i * n * m, (size_t)n * m, 0.0f, std);
    }
    memset(t->b_final, 0, (size_t)I * n * sizeof(float));
    params_zero_grad(&t->params);
}

// ---- one instance ---------------------------------------------------------------------------

typedef struct {
    Toy *t;
    const float *x;
    int B;
} Job;

// Instance i, forward. x, pre, out: [B, n]; W: [n, m]; h: [B, m]; b: [n].
static void forward_instance(void *ctx, int i, int thread) {
    (void)thread;
    const Job *j = ctx;
    Toy *t = j->t;
    const int B = j->B, n = t->cfg.n_features, m = t->cfg.n_hidden;
    const float *x = j->x + (size_t)i * B * n;
    const float *W = t->W + (size_t)i * n * m, *b = t->b_final + (size_t)i * n;
    float *h = t->hidden + (size_t)i * B * m, *pre = t->pre + (size_t)i * B * n;
    float *out = t->out + (size_t)i * B * n;
    gemm(false, false, B, m, n, x, n, W, m, h, m, false);     // h[B,m] = x[B,n] · W[n,m]
    gemm(false, true, B, n, m, h, m, W, m, pre, n, false);    // pre[B,n] = h[B,m] · Wᵀ[m,n]
    for (int r = 0; r < B; r++)
        for (int f = 0; f < n; f++) pre[(size_t)r * n + f] += b[f];
    if (t->cfg.relu) relu_forward(out, pre, (size_t)B * n);
    t->loss[i] = mse_forward(out, x, t->importance + (size_t)i * n, B, n);
}

// Instance i, backward: the forward read in reverse. Gradients accumulate into dW[n,m], db[n].
static void backward_instance(void *ctx, int i, int thread) {
    (void)thread;
    const Job *j = ctx;
    Toy *t = j->t;
    const int B = j->B, n = t->cfg.n_features, m = t->cfg.n_hidden;
    const size_t bn = (size_t)B * n;
    const float *x = j->x + (size_t)i * bn;
    const float *W = t->W + (size_t)i * n * m;
    const float *h = t->hidden + (size_t)i * B * m, *pre = t->pre + (size_t)i * bn;
    const float *out = t->out + (size_t)i * bn;
    float *dW = t->dW + (size_t)i * n * m, *db = t->db_final + (size_t)i * n;
    float *dout = t->dout + (size_t)i * bn, *dh = t->dhidden + (size_t)i * B * m;
    // The ReLU model needs dout and dpre; the linear model's dpre is dout.
    float *dpre = t->cfg.relu ? t->dpre + (size_t)i * bn : dout;
    memset(dout, 0, bn * sizeof(float));
    mse_backward(dout, out, x, t->importance + (size_t)i * n, B, n, 1.0f / (float)B);
    if (t->cfg.relu) {
        memset(dpre, 0, bn * sizeof(float));
        relu_backward(dpre, dout, pre, bn);
    }
    for (int r = 0; r < B; r++)  // db[n] += Σ_b dpre[b,:], rows in order
        for (int f = 0; f < n; f++) db[f] += dpre[(size_t)r * n + f];
    gemm(true, false, n, m, B, dpre, n, h, m, dW, m, true);   // dW[n,m] += dpreᵀ[n,B] · h[B,m]
    gemm(false, false, B, m, n, dpre, n, W, m, dh, m, false); // dh[B,m] = dpre[B,n] · W[n,m]
    gemm(true, false, n, m, B, x, n, dh, m, dW, m, true);     // dW[n,m] += xᵀ[n,B] · dh[B,m]
}

// Runs fn for every instance. With at least as many instances as threads, the instances are the
// parallel tasks (gemm inside a task runs on that thread); with fewer, instances run one after
// another and each gemm spreads over the pool. gemm's reduction order is fixed, so both give the
// same bits.
static void for_instances(Job *j, pool_fn fn) {
    const int I = j->t->cfg.n_instances;
    if (I >= pool_threads())
        pool_for(I, fn, j);
    else
        for (int i = 0; i < I; i++) fn(j, i, 0);
}

int toy_forward(Toy *t, const float *x, int B, double *total) {
    if (B < 1 || B > t->cfg.max_batch)
        return err_set("toy model: batch %d outside [1, max_batch = %d]", B, t->cfg.max_batch);
    Job j = {t, x, B};
    for_instances(&j, forward_instance);
    t->B = B;
    if (total) {
        double s = 0.0;
        for (int i = 0; i < t->cfg.n_instances; i++) s += t->loss[i];
        *total = s;
    }
    return 0;
}

int toy_backward(Toy *t, const float *x) {
    if (t->B < 1) return err_set("toy model: backward before any forward");
    Job j = {t, x, t->B};
    for_instances(&j, backward_instance);
    return 0;
}
