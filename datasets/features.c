#include "features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"

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

// x[n, D], coef[n, F]
void feat_sample(const FeatSet *fs, Rng *r, float *x, float *coef, size_t n) {
    const int F = fs->n_features, D = fs->d;
    const float p = (float)fs->p_active;
    for (size_t s = 0; s < n; s++) {
        float *xs = x + s * D;
        float *cs = coef ? coef + s * F : NULL;
        memset(xs, 0, sizeof(float) * D);
        for (int i = 0; i < F; i++) {
            float c = 0.0f;
            if (rng_uniform(r) < p) c = rng_uniform(r);
            if (cs) cs[i] = c;
            if (c != 0.0f) {
                const float *v = fs->dirs + (size_t)i * D;
                for (int j = 0; j < D; j++) xs[j] += c * v[j];
            }
        }
    }
}
