#include "gradcheck.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/rng.h"

GcOpts gc_defaults(void) {
    return (GcOpts){.step = 1e-2f, .atol = 1e-3, .rtol = 1e-2, .max_points = 200, .seed = 1};
}

GcResult gradcheck(const char *what, gc_loss_fn f, void *ctx, float *x, const float *analytic,
                   size_t n, const GcOpts *o) {
    GcResult r = {.ok = 1};
    size_t m = o->max_points && o->max_points < n ? o->max_points : n;
    // The first m entries of a partial Fisher–Yates shuffle: m distinct points, or all in order.
    size_t *idx = malloc(sizeof(size_t) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) idx[i] = i;
    if (m < n) {
        Rng rng;
        rng_seed(&rng, o->seed);
        for (size_t j = 0; j < m; j++) {
            size_t k = j + (size_t)(rng_uniform_d(&rng) * (double)(n - j));
            if (k >= n) k = n - 1;
            size_t t = idx[j];
            idx[j] = idx[k];
            idx[k] = t;
        }
    }
    double f0 = 0;
    int forward_failed = o->kink > 0 && f(ctx, &f0) != 0;
    for (size_t j = 0; j < m && !forward_failed; j++) {
        size_t i = idx[j];
        if (o->skip && o->skip(ctx, i, o->step)) {
            r.skipped++;
            continue;
        }
        float x0 = x[i], xp = x0 + o->step, xm = x0 - o->step;
        double fp, fm;
        x[i] = xp;
        int bad = f(ctx, &fp);
        x[i] = xm;
        bad |= f(ctx, &fm);
        x[i] = x0;
        if (bad) {
            forward_failed = 1;
            r.worst = i;
            break;
        }
        // The steps float rounding really took; exact, since x0 ± h is near x0.
        double hp = (double)xp - x0, hm = (double)x0 - xm;
        if (o->kink > 0 && fabs((fp - f0) / hp - (f0 - fm) / hm) > o->kink) {
            r.skipped++;
            continue;
        }
        double fd = (fp - fm) / (hp + hm), g = analytic[i];
        double d = fabs(fd - g), excess = d / (o->atol + o->rtol * fabs(g));
        r.checked++;
        if (!(excess <= r.max_excess) || r.checked == 1) {
            r.max_excess = excess;
            r.worst = i;
            r.worst_fd = fd;
            r.worst_g = g;
        }
        if (d > r.max_abs || d != d) r.max_abs = d;
        if (!(excess <= 1.0)) r.ok = 0;  // NaN fails too
    }
    free(idx);
    if (forward_failed || r.skipped * 4 > m) r.ok = 0;
    double fl;
    if (f(ctx, &fl) != 0) r.ok = 0;  // leave the forward's caches at the restored x
    if ((!r.ok && !o->quiet) || getenv("MECHLAB_GRADCHECK_VERBOSE"))
        fprintf(stderr,
                "gradcheck %s: %s: checked %zu skipped %zu of %zu; max |fd - g| %.3g, max excess "
                "%.3g at %zu (fd %.7g, g %.7g)\n",
                what, r.ok ? "ok" : "FAILED", r.checked, r.skipped, n, r.max_abs, r.max_excess,
                r.worst, r.worst_fd, r.worst_g);
    return r;
}

double gc_dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

void gc_check_op(const char *op, gc_loss_fn loss, gc_backward_fn backward, void *ctx, GcParam *p,
                 int np) {
    cr_assert(np > 0 && np <= 16, "gc_check_op %s: %d params", op, np);
    unsigned all = (1u << np) - 1;
    float *ref[16];
    double l;
    for (int i = 0; i < np; i++) memset(p[i].g, 0, sizeof(float) * p[i].n);
    cr_assert_eq(loss(ctx, &l), 0, "%s: forward failed", op);
    backward(ctx, all);
    for (int i = 0; i < np; i++) {
        ref[i] = malloc(sizeof(float) * (p[i].n ? p[i].n : 1));
        memcpy(ref[i], p[i].g, sizeof(float) * p[i].n);
    }
    char what[128];
    for (int i = 0; i < np; i++) {
        float gmax = 0;
        for (size_t j = 0; j < p[i].n; j++) gmax = fmaxf(gmax, fabsf(ref[i][j]));
        snprintf(what, sizeof what, "%s d%s", op, p[i].name);
        cr_assert(gmax > 0, "%s: gradient is identically zero", what);
        assert_gradcheck(what, loss, ctx, p[i].x, ref[i], p[i].n, &p[i].opts);
    }
    // 2. accumulation: the state is back at the original x (gradcheck re-ran the forward there).
    for (int i = 0; i < np; i++) memset(p[i].g, 0, sizeof(float) * p[i].n);
    backward(ctx, all);
    backward(ctx, all);
    for (int i = 0; i < np; i++)
        for (size_t j = 0; j < p[i].n; j++) {
            double twice = 2.0 * ref[i][j], d = fabs(p[i].g[j] - twice);
            cr_assert(d <= 1e-6 * (1 + fabs(twice)),
                      "%s d%s[%zu]: two backward calls give %.9g, not twice %.9g", op, p[i].name,
                      j, (double)p[i].g[j], (double)ref[i][j]);
        }
    // 3. one gradient at a time: the others stay zero, the asked one has the same bits.
    for (int k = 0; k < np && np > 1; k++) {
        for (int i = 0; i < np; i++) memset(p[i].g, 0, sizeof(float) * p[i].n);
        backward(ctx, 1u << k);
        for (int i = 0; i < np; i++)
            for (size_t j = 0; j < p[i].n; j++) {
                if (i == k)
                    cr_assert(p[i].g[j] == ref[i][j], "%s d%s[%zu] alone: %.9g vs %.9g with all",
                              op, p[i].name, j, (double)p[i].g[j], (double)ref[i][j]);
                else
                    cr_assert(p[i].g[j] == 0.0f, "%s: asking only for d%s wrote d%s[%zu]", op,
                              p[k].name, p[i].name, j);
            }
    }
    for (int i = 0; i < np; i++) free(ref[i]);
}

float *gc_floats(GcBufs *b, size_t n) {
    cr_assert(b->n < 64, "gc_floats: too many buffers");
    float *p = calloc(n ? n : 1, sizeof(float));
    cr_assert_not_null(p);
    b->p[b->n++] = p;
    return p;
}

float *gc_uniform(GcBufs *b, Rng *r, size_t n, float lo, float hi) {
    float *p = gc_floats(b, n);
    rng_fill_uniform(r, p, n, lo, hi);
    return p;
}

int *gc_ints(GcBufs *b, size_t n) {
    cr_assert(b->n < 64, "gc_ints: too many buffers");
    int *p = calloc(n ? n : 1, sizeof(int));
    cr_assert_not_null(p);
    b->p[b->n++] = p;
    return p;
}

void gc_free_all(GcBufs *b) {
    for (int i = 0; i < b->n; i++) free(b->p[i]);
    b->n = 0;
}
