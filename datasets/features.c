#include "features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/sparse.h"
#include "model/err.h"
#include "model/gemm.h"

FeatSet *feat_create(int n_features, int d, double p_active, uint64_t seed) {
    if (n_features < 1 || d < 1) {
        err_set("features: need at least one feature and one dimension (got %d features, %d dims)",
                n_features, d);
        return NULL;
    }
    if (!(p_active >= 0.0 && p_active <= 1.0)) {
        err_set("features: activation probability %g is not in [0, 1]", p_active);
        return NULL;
    }
    FeatSet *fs = calloc(1, sizeof *fs);
    if (fs) fs->dirs = malloc(sizeof(float) * (size_t)n_features * (size_t)d);
    if (!fs || !fs->dirs) {
        feat_free(fs);
        err_set("features: out of memory for %d x %d directions", n_features, d);
        return NULL;
    }
    fs->n_features = n_features;
    fs->d = d;
    fs->p_active = p_active;
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n_features; i++) {
        float *v = fs->dirs + (size_t)i * d;
        // A normal vector has a uniformly random direction; redraw the (practically impossible)
        // zero vector rather than divide by zero.
        double nn;
        do {
            rng_fill_normal(&r, v, (size_t)d, 0.0f, 1.0f);
            nn = 0;
            for (int j = 0; j < d; j++) nn += (double)v[j] * v[j];
        } while (!(nn > 1e-20));
        float inv = (float)(1.0 / sqrt(nn));
        for (int j = 0; j < d; j++) v[j] *= inv;
    }
    return fs;
}

void feat_free(FeatSet *fs) {
    if (!fs) return;
    free(fs->dirs);
    free(fs);
}

// x[n, D] = coef[n, F] · dirs[F, D], chunk by chunk
int feat_sample(const FeatSet *fs, Rng *r, float *x, float *coef, size_t n) {
    const int F = fs->n_features, D = fs->d;
    const float p = (float)fs->p_active;
    const SparseSpec spec = {.n_instances = 1, .n_features = F};
    float *scratch = NULL;
    if (!coef && n > 0) {
        size_t rows = n < FEAT_CHUNK ? n : FEAT_CHUNK;
        if (!(scratch = malloc(sizeof(float) * rows * (size_t)F)))
            return err_set("features: out of memory for %zu x %d coefficients", rows, F);
    }
    for (size_t s0 = 0; s0 < n; s0 += FEAT_CHUNK) {
        int B = n - s0 < FEAT_CHUNK ? (int)(n - s0) : FEAT_CHUNK;
        float *c = coef ? coef + s0 * F : scratch;
        if (sparse_batch(c, &spec, &p, B, r)) {
            free(scratch);
            return err_prefix("features");
        }
        gemm(false, false, B, D, F, c, F, fs->dirs, D, x + s0 * D, D, false);
    }
    free(scratch);
    return 0;
}
