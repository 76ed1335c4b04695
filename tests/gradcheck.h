// gradcheck.h — central finite differences against an analytic gradient, for any float array.
//
// The caller supplies a loss: f(ctx, &loss) runs the forward from the current contents of x and
// writes a scalar (in double; return nonzero on failure). gradcheck perturbs chosen elements of
// x by ±h, measures (f(x+h) - f(x-h)) / (actual step), restores x exactly and compares with
// analytic[i]: a point passes when |fd - g| <= atol + rtol·|g|.
//
// Points within a step of a kink (ReLU at 0, a max-pool tie) are skipped either by the caller's
// skip() or, when kink > 0, automatically: if the forward and backward one-sided slopes differ
// by more than `kink`, the function is not smooth on the scale of h there. A smooth function's
// slopes differ by about h·|f''|, so `kink` must sit well above that. More than a quarter of the
// points skipped is a failure (a forward that is non-smooth everywhere would hide any bug).
//
// Typical use from a test:
//     GcOpts o = gc_defaults();  o.atol = 1e-3;
//     assert_gradcheck("linear dw", loss_fn, &ctx, w, dw, nw, &o);
#ifndef MECHLAB_TEST_GRADCHECK_H
#define MECHLAB_TEST_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "model/rng.h"

typedef int (*gc_loss_fn)(void *ctx, double *loss);

typedef struct {
    float step;         // h; the step actually taken is measured after float rounding of x ± h
    double atol, rtol;  // tolerance on |fd - analytic|
    size_t max_points;  // check at most this many elements, chosen at random (0: all)
    uint64_t seed;      // for the choice of points
    double kink;        // > 0: skip points whose one-sided slopes differ by more than this
    // Optional: nonzero when element i must be skipped (e.g. |x[i]| < h for a ReLU input).
    int (*skip)(void *ctx, size_t i, float h);
    int quiet;          // do not print on failure (for a test that expects one)
} GcOpts;

typedef struct {
    int ok;                 // 1 if every checked point passed and the forward never failed
    size_t checked, skipped;
    double max_abs;         // max |fd - analytic| over checked points
    double max_excess;      // max |fd - analytic| / (atol + rtol·|analytic|): <= 1 passes
    size_t worst;           // index of the point with the largest excess
    double worst_fd, worst_g;
} GcResult;

// step 1e-2, atol 1e-3, rtol 1e-2, max_points 200, seed 1, no kink detection, no skip.
// In float the error of a central difference is about h²/6·|f'''| (truncation) plus
// ε·Σ|affected outputs·R| / h (rounding, ε ≈ 6e-8); for inputs of order 1 the second term
// dominates below h ≈ 1e-2, so a larger step is usually the more accurate one.
GcOpts gc_defaults(void);

// Checks analytic[0..n-1] = d loss / d x[0..n-1]. x is modified during the check and restored
// bit for bit before return, and f is run once more at the restored x, so whatever the forward
// caches is left as it was. On failure prints `what`, the worst point and the max difference to
// stderr; with MECHLAB_GRADCHECK_VERBOSE set it prints one summary line for every call.
GcResult gradcheck(const char *what, gc_loss_fn f, void *ctx, float *x, const float *analytic,
                   size_t n, const GcOpts *opts);

// Criterion assertion around gradcheck(): fails the test with the worst point and max difference.
#define assert_gradcheck(what, f, ctx, x, g, n, opts)                                              \
    do {                                                                                           \
        GcResult gc_r_ = gradcheck((what), (f), (ctx), (x), (g), (n), (opts));                     \
        cr_assert(gc_r_.ok,                                                                        \
                  "%s: gradient check failed at index %zu: finite difference %.7g vs analytic "    \
                  "%.7g; max |diff| %.3g, max excess %.3g, checked %zu, skipped %zu",              \
                  (what), gc_r_.worst, gc_r_.worst_fd, gc_r_.worst_g, gc_r_.max_abs,               \
                  gc_r_.max_excess, gc_r_.checked, gc_r_.skipped);                                 \
    } while (0)

// ---- checking a whole op (or model) ----------------------------------------------------------

// One differentiable array: its values x[n] and where the backward accumulates its gradient g[n].
typedef struct {
    const char *name;
    float *x, *g;
    size_t n;
    GcOpts opts;
} GcParam;

// backward(ctx, want) runs the backward for the state the last loss() call left, accumulating
// into p[i].g for every i whose bit is set in `want` and passing NULL for the others.
typedef void (*gc_backward_fn)(void *ctx, unsigned want);

// The full check of one op, as Criterion assertions:
//   1. every gradient, from one backward into zeroed arrays, against finite differences of loss
//      (each with its own opts), and none of them identically zero (a vacuous check proves nothing);
//   2. backward accumulates: a second call doubles every gradient (up to rounding);
//   3. NULL gradients are skipped: asking for one gradient alone writes only that one, with the
//      same bits as when all were asked for.
void gc_check_op(const char *op, gc_loss_fn loss, gc_backward_fn backward, void *ctx, GcParam *p,
                 int np);

// Σ a[i]·b[i] in double (the usual test loss: Σ out·R for a fixed random R).
double gc_dot(const float *a, const float *b, size_t n);

// ---- test buffers --------------------------------------------------------------------------

// Every array a test allocates, freed together at its end (keeps make sanitize leak-free).
typedef struct {
    void *p[64];
    int n;
} GcBufs;

float *gc_floats(GcBufs *b, size_t n);                             // zeroed
float *gc_uniform(GcBufs *b, Rng *r, size_t n, float lo, float hi);  // U[lo, hi)
int *gc_ints(GcBufs *b, size_t n);                                 // zeroed
void gc_free_all(GcBufs *b);

#endif
