// RNG: published splitmix64 values, an independent xoshiro256** implementation, and the moments
// of the uniform, integer and normal draws.
#include <math.h>

#include "helpers.h"
#include "model/rng.h"

TestSuite(rng);

Test(rng, splitmix64_matches_published_sequence) {
    // Rosetta Code "Pseudo-random numbers/Splitmix64", seed 1234567.
    const uint64_t want[5] = {6457827717110365317ULL, 3203168211198807973ULL,
                              9817491932198370423ULL, 4593380528125082431ULL,
                              16408922859458223821ULL};
    uint64_t st = 1234567;
    for (int i = 0; i < 5; i++) cr_assert_eq(rng_splitmix64(&st), want[i], "output %d", i);
}

Test(rng, xoshiro256ss_matches_independent_python) {
    // From a separate Python implementation of Vigna's xoshiro256** seeded by splitmix64(42).
    const uint64_t want[5] = {1546998764402558742ULL, 6990951692964543102ULL,
                              12544586762248559009ULL, 17057574109182124193ULL,
                              18295552978065317476ULL};
    Rng r;
    rng_seed(&r, 42);
    for (int i = 0; i < 5; i++) cr_assert_eq(rng_u64(&r), want[i], "output %d", i);
}

Test(rng, same_seed_same_stream_different_seed_different_stream) {
    Rng a, b, c;
    rng_seed(&a, 7);
    rng_seed(&b, 7);
    rng_seed(&c, 8);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = rng_u64(&a);
        cr_assert_eq(x, rng_u64(&b));
        differ += x != rng_u64(&c);
    }
    cr_assert_gt(differ, 95);
}

Test(rng, uniform_in_range_with_right_moments) {
    Rng r;
    rng_seed(&r, 1);
    const int n = 200000;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        float u = rng_uniform(&r);
        cr_assert(u >= 0.0f && u < 1.0f);
        s += u;
        s2 += (double)u * u;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    cr_assert(fabs(mean - 0.5) < 0.005, "mean %g", mean);
    cr_assert(fabs(var - 1.0 / 12) < 0.002, "var %g", var);
}

Test(rng, normal_has_zero_mean_unit_variance) {
    Rng r;
    rng_seed(&r, 2);
    const int n = 200000;
    double s = 0, s2 = 0, s4 = 0;
    for (int i = 0; i < n; i++) {
        double x = rng_normal(&r);
        s += x;
        s2 += x * x;
        s4 += x * x * x * x;
    }
    cr_assert(fabs(s / n) < 0.01, "mean %g", s / n);
    cr_assert(fabs(s2 / n - 1) < 0.015, "var %g", s2 / n);
    cr_assert(fabs(s4 / n - 3) < 0.1, "4th moment %g (normal: 3)", s4 / n);
}

Test(rng, int_is_unbiased_over_odd_range) {
    Rng r;
    rng_seed(&r, 3);
    int count[7] = {0};
    const int n = 70000;
    for (int i = 0; i < n; i++) {
        uint32_t k = rng_int(&r, 7);
        cr_assert_lt(k, 7u);
        count[k]++;
    }
    // Each bin ~ 10000 ± 3σ (σ ≈ 93).
    for (int k = 0; k < 7; k++) cr_assert(abs(count[k] - 10000) < 400, "bin %d: %d", k, count[k]);
}

Test(rng, shuffle_is_a_permutation) {
    Rng r;
    rng_seed(&r, 4);
    int idx[97], seen[97] = {0};
    for (int i = 0; i < 97; i++) idx[i] = i;
    rng_shuffle(&r, idx, 97);
    int moved = 0;
    for (int i = 0; i < 97; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 97; i++) cr_assert_eq(seen[i], 1);
    cr_assert_gt(moved, 80);
}
