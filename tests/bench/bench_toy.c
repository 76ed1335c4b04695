// The toy model's training step: forward + backward + AdamW on one fixed batch (the data
// generator is not timed): n = 20 features, m = 5 hidden, batch 1024, 8 instances (the issue's
// figure), and the superposition phase diagram's n = 2, m = 1 with 63 × 3 = 189 instances.
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "datasets/sparse.h"
#include "model/pool.h"
#include "model/timer.h"
#include "model/toy.h"
#include "train/optim.h"

static double steps_per_s(int n, int m, int B, int I) {
    ToyConfig c = {I, n, m, 1, B, 0.0f};
    Toy *t = toy_create(&c, NULL);
    float *x = malloc(sizeof(float) * (size_t)I * B * n), *prob = malloc(sizeof(float) * I);
    OptimConfig oc = optim_defaults(OPTIM_ADAMW);
    Optim *o = optim_create(&oc, t ? t->params.numel : 0);
    if (!t || !x || !prob || !o) {
        fprintf(stderr, "bench toy: setup failed\n");
        toy_free(t), free(x), free(prob), optim_free(o);
        return 0;
    }
    toy_init(t, 1);
    sparse_prob_sweep(prob, I, 20.0f);
    SparseSpec sp = {I, n, 0, 0};
    Rng r;
    rng_seed(&r, 2);
    sparse_batch(x, &sp, prob, B, &r);
    int steps = 0;
    double t0 = timer_now(), el = 0;
    // at least 20 steps and 0.5 s
    while (steps < 20 || (el = timer_now() - t0) < 0.5) {
        params_zero_grad(&t->params);
        toy_forward(t, x, B, NULL);
        toy_backward(t, x);
        optim_step(o, t->params.data, t->params.grad, 1e-3f);
        steps++;
        el = timer_now() - t0;
    }
    toy_free(t);
    optim_free(o);
    free(x);
    free(prob);
    return steps / el;
}

void bench_toy(void) {
    static const int cfg[2][4] = {{20, 5, 1024, 8}, {2, 1, 1024, 189}};  // n, m, batch, instances
    int all = pool_threads();
    int th[2] = {1, all};
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < (all > 1 ? 2 : 1); k++) {
            const int n = cfg[c][0], m = cfg[c][1], B = cfg[c][2], I = cfg[c][3];
            pool_set_threads(th[k]);
            printf("bench toy n=%d m=%d batch=%d instances=%d threads=%d steps_per_s=%.1f\n", n, m,
                   B, I, th[k], steps_per_s(n, m, B, I));
        }
    pool_set_threads(all);
}
