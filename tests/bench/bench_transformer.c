// Training throughput of the transformer: tokens/s of a full step (zero grads, forward, backward,
// AdamW update) for two fixed reference configs, and the process's peak resident memory.
//
//   R1  attention-only, 2 layers, d_model 64, 4 heads × 16, LN, n_ctx 64, vocab 64, batch 64
//   R2  2 layers, d_model 256, 8 heads × 32, d_mlp 1024, GELU, LN, n_ctx 128, vocab 64, batch 32
//
// peak_rss_mb is getrusage's ru_maxrss: the high-water mark of the whole process so far (the
// benchmarks before this one included), so it bounds the model's footprint from above;
// model_mb is what the model and optimiser allocate (parameters, gradients, two Adam moments,
// the activation block and its gradient block).
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "bench.h"
#include "model/err.h"
#include "model/pool.h"
#include "model/rng.h"
#include "model/timer.h"
#include "model/transformer.h"
#include "train/optim.h"

typedef struct {
    const char *name;
    TfConfig cfg;
    int batch;
} BenchCfg;

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;  // kilobytes on Linux
}

// Runs steps until at least `min_seconds` have passed (and at least 3 steps), after one warm-up
// step; returns tokens per second, or -1 on an error (printed).
static double train_rate(const BenchCfg *b, int threads, double min_seconds, double *model_mb) {
    pool_set_threads(threads);
    Transformer *m = tf_create(&b->cfg, b->batch);
    if (!m) {
        fprintf(stderr, "bench transformer: %s\n", err_msg());
        return -1;
    }
    tf_init_weights(m, 1);
    OptimConfig oc = optim_defaults(OPTIM_ADAMW);
    Optim *o = optim_create(&oc, m->params.numel);
    const int B = b->batch, T = b->cfg.n_ctx, n = B * T;
    int *tok = malloc(sizeof(int) * (size_t)n), *tg = malloc(sizeof(int) * (size_t)n);
    Rng r;
    rng_seed(&r, 2);
    for (int i = 0; i < n; i++) tok[i] = (int)rng_int(&r, (uint32_t)b->cfg.d_vocab);
    for (int i = 0; i < n; i++) tg[i] = (i % T == T - 1) ? -1 : tok[i + 1];
    double rate = -1;
    if (!o || !tok || !tg) {
        fprintf(stderr, "bench transformer: %s\n", o ? "out of memory" : err_msg());
        goto done;
    }
    *model_mb = (4.0 * m->params.numel + 2.0 * m->acts_floats) * sizeof(float) / (1 << 20);
    int steps = 0;
    double t0 = 0;
    for (;;) {
        params_zero_grad(&m->params);
        if (tf_forward(m, tok, tg, B, T, NULL, NULL) || tf_backward(m, NULL) ||
            optim_step(o, m->params.data, m->params.grad, 1e-3f)) {
            fprintf(stderr, "bench transformer: %s\n", err_msg());
            goto done;
        }
        if (steps++ == 0) t0 = timer_now();  // the first step is the warm-up
        double el = timer_now() - t0;
        if (steps >= 4 && el >= min_seconds) {
            rate = (double)(steps - 1) * n / el;
            break;
        }
    }
done:
    free(tok);
    free(tg);
    optim_free(o);
    tf_free(m);
    return rate;
}

void bench_transformer(void) {
    const BenchCfg cfgs[] = {
        {"R1",
         {.n_layers = 2, .d_model = 64, .n_heads = 4, .d_head = 16, .attn_only = true,
          .n_ctx = 64, .d_vocab = 64, .normalization_type = TF_NORM_LN, .eps = 1e-5f},
         64},
        {"R2",
         {.n_layers = 2, .d_model = 256, .n_heads = 8, .d_head = 32, .d_mlp = 1024,
          .n_ctx = 128, .d_vocab = 64, .act_fn = TF_ACT_GELU_NEW,
          .normalization_type = TF_NORM_LN, .eps = 1e-5f},
         32},
    };
    int all = pool_threads();
    for (int i = 0; i < 2; i++) {
        const int ths[2] = {1, all};
        for (int k = 0; k < (all > 1 ? 2 : 1); k++) {
            int th = ths[k];
            double mb = 0, rate = train_rate(&cfgs[i], th, 2.0, &mb);
            if (rate < 0) continue;
            printf("bench transformer config=%s threads=%d tokens_per_s=%.0f peak_rss_mb=%.1f "
                   "model_mb=%.1f\n", cfgs[i].name, th, rate, peak_rss_mb(), mb);
        }
    }
    pool_set_threads(all);
}
