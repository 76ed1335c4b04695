#include "sparse.h"

#include <math.h>
#include <stdint.h>

#include "model/err.h"
#include "model/pool.h"

// Rows per task: each (instance, block of rows) is one task with its own generator.
#define SPARSE_BLOCK_ROWS 128

int sparse_check(const SparseSpec *s, const float *prob) {
    if (s->n_instances < 1) return err_set("sparse data: n_instances %d < 1", s->n_instances);
    if (s->n_features < 1) return err_set("sparse data: n_features %d < 1", s->n_features);
    if (s->n_correlated < 0 || s->n_anticorrelated < 0)
        return err_set("sparse data: negative number of pairs");
    if (2L * s->n_correlated + 2L * s->n_anticorrelated > s->n_features)
        return err_set("sparse data: %d correlated + %d anti-correlated pairs need %d features, "
                       "have %d",
                       s->n_correlated, s->n_anticorrelated,
                       2 * (s->n_correlated + s->n_anticorrelated), s->n_features);
    for (int i = 0; i < s->n_instances; i++) {
        if (!(prob[i] >= 0.0f && prob[i] <= 1.0f))
            return err_set("sparse data: feature probability %g of instance %d is not in [0, 1]",
                           prob[i], i);
        if (s->n_anticorrelated > 0 && prob[i] > 0.5f)
            return err_set("sparse data: anti-correlated pairs need feature probability <= 0.5, "
                           "instance %d has %g",
                           i, prob[i]);
    }
    return 0;
}

void sparse_prob_sweep(float *prob, int I, float base) {
    for (int i = 0; i < I; i++)
        prob[i] = I == 1 ? 1.0f : (float)pow((double)base, -(double)i / (double)(I - 1));
}

typedef struct {
    float *x;
    const SparseSpec *s;
    const float *prob;
    int B, blocks;
    uint64_t key;
} Job;

// One 64-bit draw gives both numbers an element needs: the top 32 bits decide presence
// (u < p, with u uniform on [0, 1) in steps of 2^-32, compared in double so that u never rounds
// up to 1 and p = 1 means always), the low 24 bits are the value. All bits of xoshiro256** are
// full quality, so the two are independent.
static inline int present(uint64_t r, double p) {
    return (double)(r >> 32) * (1.0 / 4294967296.0) < p;
}
static inline float value_of(uint64_t r) { return (float)(r & 0xFFFFFF) * (1.0f / 16777216.0f); }

// x rows [b0, b1) of instance i: x[i, b, :], n features each.
static void block_task(void *ctx, int task, int thread) {
    (void)thread;
    const Job *j = ctx;
    const SparseSpec *s = j->s;
    int i = task / j->blocks, blk = task % j->blocks;
    int b0 = blk * SPARSE_BLOCK_ROWS;
    int b1 = b0 + SPARSE_BLOCK_ROWS < j->B ? b0 + SPARSE_BLOCK_ROWS : j->B;
    // A generator per task, from a hash of (key, task): independent streams, and the result does
    // not depend on which thread runs the task.
    uint64_t st = j->key ^ ((uint64_t)(task + 1) * 0xD1B54A32D192ED03ULL);
    Rng r;
    rng_seed(&r, rng_splitmix64(&st));
    const int n = s->n_features, c2 = 2 * s->n_correlated, a2 = 2 * s->n_anticorrelated;
    const double p = j->prob[i];
    // Anti-correlated: the pair is active with probability 2p (p <= 1/2 was checked).
    const double p_pair = 2.0 * (double)p;
    for (int b = b0; b < b1; b++) {
        float *row = j->x + ((size_t)i * j->B + b) * n;
        for (int f = 0; f < c2; f += 2) {
            uint64_t r0 = rng_u64(&r), r1 = rng_u64(&r);
            int on = present(r0, p);
            row[f] = on ? value_of(r0) : 0.0f;
            row[f + 1] = on ? value_of(r1) : 0.0f;
        }
        for (int f = c2; f < c2 + a2; f += 2) {
            uint64_t r0 = rng_u64(&r);
            // top 32 bits: is the pair active; bit 31: which one; low 24 bits: the value
            int on = present(r0, p_pair);
            int second = (int)((r0 >> 31) & 1);
            row[f] = on && !second ? value_of(r0) : 0.0f;
            row[f + 1] = on && second ? value_of(r0) : 0.0f;
        }
        for (int f = c2 + a2; f < n; f++) {
            uint64_t r0 = rng_u64(&r);
            row[f] = present(r0, p) ? value_of(r0) : 0.0f;
        }
    }
}

int sparse_batch(float *x, const SparseSpec *s, const float *prob, int B, Rng *rng) {
    if (sparse_check(s, prob)) return -1;
    if (B < 1) return err_set("sparse data: batch size %d < 1", B);
    Job j = {x, s, prob, B, (B + SPARSE_BLOCK_ROWS - 1) / SPARSE_BLOCK_ROWS, rng_u64(rng)};
    pool_for(s->n_instances * j.blocks, block_task, &j);
    return 0;
}
