// rng.h — the one source of randomness: xoshiro256** seeded through splitmix64.
//
// All state is in the Rng struct the caller owns (no hidden globals, no rand()), so the same seed
// gives the same stream on every machine and for any thread count. A generator can be saved in a
// checkpoint as its four 64-bit words and restored exactly.
#ifndef MECHLAB_RNG_H
#define MECHLAB_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

// splitmix64 step: advances *state and returns the next output (used for seeding).
uint64_t rng_splitmix64(uint64_t *state);

// Seeds the four words of r from splitmix64(seed).
void rng_seed(Rng *r, uint64_t seed);

// Next raw 64-bit output of xoshiro256**.
uint64_t rng_u64(Rng *r);

// Uniform float in [0, 1) with 24 random bits; uniform double in [0, 1) with 53.
float rng_uniform(Rng *r);
double rng_uniform_d(Rng *r);

// Unbiased integer in [0, n) (n > 0), Lemire's multiply-and-reject method.
uint32_t rng_int(Rng *r, uint32_t n);

// Standard normal draw (Box–Muller on two fresh uniforms; one draw per call, no cached spare,
// so the stream position depends only on how many draws were made).
float rng_normal(Rng *r);

// x[i] = mean + std * N(0,1), i = 0..n-1.
void rng_fill_normal(Rng *r, float *x, size_t n, float mean, float std);

// x[i] = lo + (hi - lo) * U[0,1), i = 0..n-1.
void rng_fill_uniform(Rng *r, float *x, size_t n, float lo, float hi);

// Fisher–Yates shuffle of idx[0..n-1].
void rng_shuffle(Rng *r, int *idx, size_t n);

#endif
