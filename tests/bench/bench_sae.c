// SAE training throughput for a fixed config: the ground-truth toy's data (128 features in 64
// dims), a ReLU SAE with 512 latents, batches of 1024, Adam.
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "datasets/features.h"
#include "interp/sae.h"
#include "model/err.h"
#include "model/pool.h"
#include "model/timer.h"

// Samples per second over `steps` training steps after two warm-up steps.
static double sae_rate(const float *x, size_t n, int steps) {
    SaeConfig c = sae_config(64, 512);
    Sae *s = sae_create(&c, 1);
    SaeTrainConfig tc = sae_train_defaults();
    tc.batch = 1024;
    tc.l1_coeff = 0.3f;
    SaeTrainer *t = s ? sae_trainer_create(s, &tc, x, n) : NULL;
    if (!t) {
        fprintf(stderr, "bench sae: %s\n", err_msg());
        sae_free(s);
        return 0;
    }
    sae_trainer_step(t, NULL);
    sae_trainer_step(t, NULL);
    double t0 = timer_now();
    for (int i = 0; i < steps; i++) sae_trainer_step(t, NULL);
    double dt = timer_now() - t0;
    sae_trainer_free(t);
    sae_free(s);
    return (double)steps * tc.batch / dt;
}

void bench_sae(void) {
    FeatSet *fs = feat_create(128, 64, 5.0 / 128, 1);
    const size_t n = 16384;
    float *x = malloc(sizeof(float) * n * 64);
    if (!fs || !x) {
        fprintf(stderr, "bench sae: out of memory\n");
        feat_free(fs);
        free(x);
        return;
    }
    Rng r;
    rng_seed(&r, 2);
    if (feat_sample(fs, &r, x, NULL, n)) {
        fprintf(stderr, "bench sae: %s\n", err_msg());
        free(x);
        feat_free(fs);
        return;
    }
    int all = pool_threads();
    const int steps = 20;
    pool_set_threads(1);
    printf("bench sae d_in=64 d_sae=512 batch=1024 threads=1 samples_per_s=%.0f\n", sae_rate(x, n, steps));
    if (all > 1) {
        pool_set_threads(all);
        printf("bench sae d_in=64 d_sae=512 batch=1024 threads=%d samples_per_s=%.0f\n", all,
               sae_rate(x, n, steps));
    }
    pool_set_threads(all);
    free(x);
    feat_free(fs);
}
