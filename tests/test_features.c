// Sparse features in superposition (datasets/features.c): unit directions, samples that are the
// stated sums of the stated coefficients, activity rate and coefficient law within sampling
// error, determinism, bad arguments.
#include <math.h>
#include <string.h>

#include "datasets/features.h"
#include "helpers.h"
#include "model/err.h"
#include "model/pool.h"

TestSuite(features);

Test(features, directions_are_unit_and_seeded) {
    FeatSet *a = feat_create(128, 64, 5.0 / 128, 7), *b = feat_create(128, 64, 5.0 / 128, 7);
    FeatSet *c = feat_create(128, 64, 5.0 / 128, 8);
    cr_assert(a && b && c, "%s", err_msg());
    for (int i = 0; i < 128; i++) {
        double nn = 0;
        for (int j = 0; j < 64; j++) nn += (double)a->dirs[i * 64 + j] * a->dirs[i * 64 + j];
        cr_assert(fabs(nn - 1.0) < 1e-5, "feature %d has norm² %.8f", i, nn);
    }
    cr_assert(!memcmp(a->dirs, b->dirs, sizeof(float) * 128 * 64), "same seed, different directions");
    cr_assert(memcmp(a->dirs, c->dirs, sizeof(float) * 128 * 64), "seed 8 gave seed 7's directions");
    // Random directions in 64 dims are far from parallel: |cos| < 0.7 for every pair (for 8128
    // pairs with σ(cos) = 1/8, 0.7 is 5.6 σ).
    double worst = 0;
    for (int i = 0; i < 128; i++)
        for (int k = i + 1; k < 128; k++) {
            double d = 0;
            for (int j = 0; j < 64; j++) d += (double)a->dirs[i * 64 + j] * a->dirs[k * 64 + j];
            if (fabs(d) > worst) worst = fabs(d);
        }
    cr_assert(worst < 0.7, "two directions have |cos| %.3f", worst);
    feat_free(a);
    feat_free(b);
    feat_free(c);
}

Test(features, samples_are_sums_of_active_coefficients) {
    const int F = 40, D = 12;
    const size_t n = 20000;
    FeatSet *fs = feat_create(F, D, 0.1, 3);
    cr_assert_not_null(fs);
    float *x = malloc(sizeof(float) * n * D), *coef = malloc(sizeof(float) * n * F);
    Rng r;
    rng_seed(&r, 11);
    cr_assert_eq(feat_sample(fs, &r, x, coef, n), 0, "%s", err_msg());
    size_t active = 0;
    double csum = 0, c2sum = 0, maxdiff = 0;
    for (size_t s = 0; s < n; s++) {
        for (int i = 0; i < F; i++) {
            float c = coef[s * F + i];
            cr_assert(c >= 0.0f && c < 1.0f, "coefficient %g outside [0, 1)", (double)c);
            if (c > 0) {
                active++;
                csum += c;
                c2sum += (double)c * c;
            }
        }
        // x = Σ_i c_i dir_i, recomputed in double
        for (int j = 0; j < D; j++) {
            double v = 0;
            for (int i = 0; i < F; i++) v += (double)coef[s * F + i] * fs->dirs[i * D + j];
            double d = fabs(v - x[s * D + j]);
            if (d > maxdiff) maxdiff = d;
        }
    }
    cr_assert(maxdiff < 1e-5, "x differs from Σ c·dir by %g", maxdiff);
    // Activity: Binomial(n·F, 0.1): mean 80000, σ ≈ 268; allow 5 σ.
    double exp_active = 0.1 * n * F, sd = sqrt(n * F * 0.1 * 0.9);
    cr_assert(fabs((double)active - exp_active) < 5 * sd, "%zu active, expected %.0f ± %.0f", active,
              exp_active, sd);
    // Coefficients U[0,1): mean 1/2 (σ of the mean 0.29/sqrt(80000) ≈ 0.001), E[c²] = 1/3.
    cr_assert(fabs(csum / active - 0.5) < 0.006, "mean coefficient %.4f", csum / active);
    cr_assert(fabs(c2sum / active - 1.0 / 3) < 0.006, "mean squared coefficient %.4f", c2sum / active);
    // The same Rng state gives the same samples, with or without coef (n spans several chunks).
    float *x2 = malloc(sizeof(float) * n * D);
    rng_seed(&r, 11);
    cr_assert_eq(feat_sample(fs, &r, x2, NULL, n), 0);
    cr_assert(!memcmp(x, x2, sizeof(float) * n * D), "same Rng state, different samples");
    free(x);
    free(x2);
    free(coef);
    feat_free(fs);
}

Test(features, extreme_probabilities) {
    FeatSet *fs = feat_create(5, 3, 0.0, 1);
    cr_assert_not_null(fs);
    float x[4 * 3], coef[4 * 5];
    Rng r;
    rng_seed(&r, 1);
    cr_assert_eq(feat_sample(fs, &r, x, coef, 4), 0);
    for (int i = 0; i < 12; i++) cr_assert_eq(x[i], 0.0f, "p = 0 must give x = 0");
    feat_free(fs);
    fs = feat_create(5, 3, 1.0, 1);
    cr_assert_eq(feat_sample(fs, &r, x, coef, 4), 0);
    int zero = 0;
    for (int i = 0; i < 20; i++) zero += coef[i] == 0.0f;
    cr_assert(zero <= 1, "p = 1: %d of 20 coefficients are 0", zero);  // U[0,1) is 0 w.p. 2^-24
    feat_free(fs);
}

Test(features, bad_arguments_are_errors) {
    cr_assert_null(feat_create(0, 4, 0.1, 1));
    cr_assert(strstr(err_msg(), "features"), "%s", err_msg());
    cr_assert_null(feat_create(4, 0, 0.1, 1));
    cr_assert_null(feat_create(4, 4, -0.1, 1));
    cr_assert_null(feat_create(4, 4, 1.5, 1));
    cr_assert_null(feat_create(4, 4, NAN, 1));
    cr_assert(strstr(err_msg(), "probability"), "%s", err_msg());
    feat_free(NULL);
}

Test(features, samples_do_not_depend_on_the_thread_count) {
    FeatSet *fs = feat_create(64, 16, 0.05, 2);
    const size_t n = 9000;  // more than two chunks
    float *a = malloc(sizeof(float) * n * 16), *b = malloc(sizeof(float) * n * 16);
    Rng r;
    pool_set_threads(1);
    rng_seed(&r, 3);
    cr_assert_eq(feat_sample(fs, &r, a, NULL, n), 0);
    pool_set_threads(2);
    rng_seed(&r, 3);
    cr_assert_eq(feat_sample(fs, &r, b, NULL, n), 0);
    cr_assert(!memcmp(a, b, sizeof(float) * n * 16), "1 and 2 threads gave different samples");
    free(a);
    free(b);
    feat_free(fs);
}
