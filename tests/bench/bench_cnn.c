// Training throughput of the CNN: images/s of a full step (zero grads, forward with the
// cross-entropy loss, backward into the parameters, one SGD-with-momentum update) for the
// reference net on 28×28×1 inputs (the size of Fashion-MNIST), batch 64:
//
//   ref  conv3x3:8,relu,maxpool2,conv3x3:16,relu,maxpool2,linear:10
//
// on 1 thread and on all of them. model_mb is what the model and optimiser allocate
// (parameters, gradients, momentum, the activation block and its gradient block).
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "model/cnn.h"
#include "model/err.h"
#include "model/pool.h"
#include "model/rng.h"
#include "model/timer.h"
#include "train/optim.h"

#define CNN_REF_SPEC "conv3x3:8,relu,maxpool2,conv3x3:16,relu,maxpool2,linear:10"
enum { CNN_B = 64, CNN_HW = 28 };

// Steps until at least min_seconds have passed (and at least 3 timed steps) after one warm-up
// step; returns images per second, or -1 on an error (printed).
static double cnn_rate(int threads, double min_seconds, double *model_mb) {
    pool_set_threads(threads);
    Cnn *m = cnn_create(CNN_REF_SPEC, 1, CNN_HW, CNN_HW, CNN_B);
    if (!m) {
        fprintf(stderr, "bench cnn: %s\n", err_msg());
        return -1;
    }
    cnn_init_weights(m, 1);
    OptimConfig oc = optim_defaults(OPTIM_SGD);
    oc.momentum = 0.9;
    Optim *o = optim_create(&oc, m->params.numel);
    float *x = malloc(sizeof(float) * CNN_B * CNN_HW * CNN_HW);
    int y[CNN_B];
    double rate = -1;
    if (!o || !x) {
        fprintf(stderr, "bench cnn: %s\n", o ? "out of memory" : err_msg());
        goto done;
    }
    Rng r;
    rng_seed(&r, 2);
    rng_fill_uniform(&r, x, (size_t)CNN_B * CNN_HW * CNN_HW, 0, 1);
    for (int b = 0; b < CNN_B; b++) y[b] = (int)rng_int(&r, 10);
    *model_mb = (3.0 * m->params.numel + 2.0 * m->acts_floats) * sizeof(float) / (1 << 20);
    int steps = 0;
    double t0 = 0;
    for (;;) {
        params_zero_grad(&m->params);
        if (cnn_forward(m, x, y, CNN_B, NULL, NULL) || cnn_backward(m, NULL) ||
            optim_step(o, m->params.data, m->params.grad, 1e-2f)) {
            fprintf(stderr, "bench cnn: %s\n", err_msg());
            goto done;
        }
        if (steps++ == 0) t0 = timer_now();  // the first step is the warm-up
        double el = timer_now() - t0;
        if (steps >= 4 && el >= min_seconds) {
            rate = (double)(steps - 1) * CNN_B / el;
            break;
        }
    }
done:
    free(x);
    optim_free(o);
    cnn_free(m);
    return rate;
}

void bench_cnn(void) {
    int all = pool_threads();
    int counts[2] = {1, all};
    for (int i = 0; i < (all > 1 ? 2 : 1); i++) {
        int t = counts[i];
        double mb = 0, rate = cnn_rate(t, 1.0, &mb);
        if (rate > 0)
            printf("bench cnn net=ref batch=%d threads=%d images_per_s=%.0f model_mb=%.2f\n",
                   CNN_B, t, rate, mb);
    }
    pool_set_threads(all);
}
