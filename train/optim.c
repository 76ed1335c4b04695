#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"
#include "model/pool.h"

#define OPTIM_PI 3.14159265358979323846

// Elementwise work is split into chunks of this many floats; below OPTIM_SERIAL_MAX floats the
// pool's hand-off costs more than the loop, so it runs on the calling thread.
#define OPTIM_CHUNK 16384
#define OPTIM_SERIAL_MAX (4 * OPTIM_CHUNK)
// The norm reduction uses at most this many partial sums (a stack array: no allocation per call).
#define OPTIM_MAX_PARTS 256

OptimConfig optim_defaults(OptimKind kind) {
    OptimConfig c = {0};
    c.kind = kind;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    c.weight_decay = kind == OPTIM_ADAMW ? 0.01 : 0.0;
    return c;
}

static int check_config(const OptimConfig *c) {
    if (c->kind != OPTIM_SGD && c->kind != OPTIM_ADAM && c->kind != OPTIM_ADAMW)
        return err_set("optimiser: unknown kind %d", (int)c->kind);
    if (!(c->weight_decay >= 0.0) || !isfinite(c->weight_decay))
        return err_set("optimiser: weight_decay %g must be finite and >= 0", c->weight_decay);
    if (c->kind == OPTIM_SGD) {
        if (!(c->momentum >= 0.0 && c->momentum < 1.0))
            return err_set("optimiser: momentum %g must be in [0, 1)", c->momentum);
        if (c->nesterov && !(c->momentum > 0.0))
            return err_set("optimiser: Nesterov momentum needs momentum > 0");
    } else {
        if (!(c->beta1 >= 0.0 && c->beta1 < 1.0))
            return err_set("optimiser: beta1 %g must be in [0, 1)", c->beta1);
        if (!(c->beta2 >= 0.0 && c->beta2 < 1.0))
            return err_set("optimiser: beta2 %g must be in [0, 1)", c->beta2);
        if (!(c->eps > 0.0) || !isfinite(c->eps))
            return err_set("optimiser: eps %g must be finite and > 0", c->eps);
    }
    return 0;
}

static float *alloc_zeroed(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p) memset(p, 0, bytes ? bytes : 64);
    return p;
}

Optim *optim_create(const OptimConfig *cfg, size_t numel) {
    if (check_config(cfg)) return NULL;
    Optim *o = calloc(1, sizeof *o);
    if (!o) {
        err_set("optimiser: out of memory");
        return NULL;
    }
    o->cfg = *cfg;
    o->numel = numel;
    int need_m = cfg->kind != OPTIM_SGD || cfg->momentum > 0.0;
    int need_v = cfg->kind != OPTIM_SGD;
    if ((need_m && !(o->m = alloc_zeroed(numel))) || (need_v && !(o->v = alloc_zeroed(numel)))) {
        optim_free(o);
        err_set("optimiser: out of memory for the state of %zu parameters", numel);
        return NULL;
    }
    return o;
}

void optim_free(Optim *o) {
    if (!o) return;
    free(o->m);
    free(o->v);
    free(o);
}

void optim_reset(Optim *o) {
    if (o->m) memset(o->m, 0, o->numel * sizeof(float));
    if (o->v) memset(o->v, 0, o->numel * sizeof(float));
    o->step = 0;
}

// ---- the update kernels: one loop each over elements [lo, hi) -------------------------------

typedef struct {
    const Optim *o;
    float *p;
    const float *g;
    float lr;
    float decay_mul;  // AdamW: 1 - lr·wd
    float step_size;  // Adam: lr / (1 - β1^t)
    float bc2_sqrt;   // Adam: sqrt(1 - β2^t)
} StepJob;

// p, g, buf: [n]
static void sgd_range(const StepJob *j, size_t lo, size_t hi) {
    const OptimConfig *c = &j->o->cfg;
    float *p = j->p, *buf = j->o->m;
    const float *g = j->g;
    const float wd = (float)c->weight_decay, mu = (float)c->momentum, lr = j->lr;
    for (size_t i = lo; i < hi; i++) {
        float d = g[i] + wd * p[i];
        if (buf) {
            buf[i] = mu * buf[i] + d;
            d = c->nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

// p, g, m, v: [n]. The order of operations follows torch's single-tensor Adam so the floats
// agree closely: denom = sqrt(v)/sqrt(bc2) + eps; p += -step_size · m/denom.
static void adam_range(const StepJob *j, size_t lo, size_t hi) {
    const OptimConfig *c = &j->o->cfg;
    float *p = j->p, *m = j->o->m, *v = j->o->v;
    const float *g = j->g;
    // 1 - β is formed in double and rounded once, like torch's Python-float scalars.
    const float b1 = (float)c->beta1, omb1 = (float)(1.0 - c->beta1);
    const float b2 = (float)c->beta2, omb2 = (float)(1.0 - c->beta2);
    const float eps = (float)c->eps;
    const float l2 = c->kind == OPTIM_ADAM ? (float)c->weight_decay : 0.0f;
    const float decay_mul = j->decay_mul, step_size = j->step_size, bc2_sqrt = j->bc2_sqrt;
    for (size_t i = lo; i < hi; i++) {
        float gi = g[i] + l2 * p[i];
        p[i] *= decay_mul;
        m[i] = m[i] * b1 + gi * omb1;
        v[i] = v[i] * b2 + omb2 * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] += -step_size * (m[i] / denom);
    }
}

static void step_range(const StepJob *j, size_t lo, size_t hi) {
    if (j->o->cfg.kind == OPTIM_SGD)
        sgd_range(j, lo, hi);
    else
        adam_range(j, lo, hi);
}

static void step_task(void *ctx, int task, int thread) {
    (void)thread;
    const StepJob *j = ctx;
    size_t lo = (size_t)task * OPTIM_CHUNK;
    size_t hi = lo + OPTIM_CHUNK < j->o->numel ? lo + OPTIM_CHUNK : j->o->numel;
    step_range(j, lo, hi);
}

int optim_step(Optim *o, float *param, const float *grad, float lr) {
    if (!(lr >= 0.0) || !isfinite(lr))
        return err_set("optimiser: learning rate %g must be finite and >= 0", lr);
    o->step++;
    StepJob j = {o, param, grad, lr, 1.0f, 0.0f, 1.0f};
    if (o->cfg.kind != OPTIM_SGD) {
        // Bias corrections in double (as torch does in Python floats), then one float each.
        double t = (double)o->step;
        double bc1 = 1.0 - pow(o->cfg.beta1, t);
        double bc2 = 1.0 - pow(o->cfg.beta2, t);
        j.step_size = (float)((double)lr / bc1);
        j.bc2_sqrt = (float)sqrt(bc2);
        if (o->cfg.kind == OPTIM_ADAMW)
            j.decay_mul = (float)(1.0 - (double)lr * o->cfg.weight_decay);
    }
    if (o->numel <= OPTIM_SERIAL_MAX)
        step_range(&j, 0, o->numel);
    else
        pool_for((int)((o->numel + OPTIM_CHUNK - 1) / OPTIM_CHUNK), step_task, &j);
    return 0;
}

// ---- gradient norm -------------------------------------------------------------------------

typedef struct {
    const float *g;
    size_t n, chunk;
    double *part;
} NormJob;

static void norm_task(void *ctx, int task, int thread) {
    (void)thread;
    NormJob *j = ctx;
    size_t lo = (size_t)task * j->chunk;
    size_t hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
    double s = 0.0;
    for (size_t i = lo; i < hi; i++) s += (double)j->g[i] * (double)j->g[i];
    j->part[task] = s;
}

double optim_grad_norm(const float *grad, size_t n) {
    // The chunking depends only on n, and the partial sums are added in chunk order, so the
    // result does not depend on the thread count.
    size_t chunk = OPTIM_CHUNK;
    if ((n + chunk - 1) / chunk > OPTIM_MAX_PARTS) chunk = (n + OPTIM_MAX_PARTS - 1) / OPTIM_MAX_PARTS;
    int parts = (int)((n + chunk - 1) / chunk);
    double part[OPTIM_MAX_PARTS];
    NormJob j = {grad, n, chunk, part};
    if (n <= OPTIM_SERIAL_MAX)
        for (int t = 0; t < parts; t++) norm_task(&j, t, 0);
    else
        pool_for(parts, norm_task, &j);
    double s = 0.0;
    for (int t = 0; t < parts; t++) s += part[t];
    return sqrt(s);
}

typedef struct {
    float *g;
    size_t n;
    float scale;
} ScaleJob;

static void scale_task(void *ctx, int task, int thread) {
    (void)thread;
    ScaleJob *j = ctx;
    size_t lo = (size_t)task * OPTIM_CHUNK;
    size_t hi = lo + OPTIM_CHUNK < j->n ? lo + OPTIM_CHUNK : j->n;
    for (size_t i = lo; i < hi; i++) j->g[i] *= j->scale;
}

double optim_clip_grad_norm(float *grad, size_t n, double max_norm) {
    double norm = optim_grad_norm(grad, n);
    if (!isfinite(norm) || max_norm <= 0.0 || norm <= max_norm) return norm;
    ScaleJob j = {grad, n, (float)(max_norm / norm)};
    int chunks = (int)((n + OPTIM_CHUNK - 1) / OPTIM_CHUNK);
    if (n <= OPTIM_SERIAL_MAX)
        for (int t = 0; t < chunks; t++) scale_task(&j, t, 0);
    else
        pool_for(chunks, scale_task, &j);
    return norm;
}

// ---- schedules -----------------------------------------------------------------------------

int sched_check(const Sched *s) {
    if (s->kind != SCHED_CONSTANT && s->kind != SCHED_WARMUP_CONSTANT &&
        s->kind != SCHED_WARMUP_COSINE)
        return err_set("schedule: unknown kind %d", (int)s->kind);
    if (!(s->lr >= 0.0) || !isfinite(s->lr))
        return err_set("schedule: lr %g must be finite and >= 0", s->lr);
    if (s->warmup < 0) return err_set("schedule: warmup %ld must be >= 0", s->warmup);
    if (s->kind == SCHED_WARMUP_COSINE) {
        if (s->total <= s->warmup)
            return err_set("schedule: total %ld must exceed warmup %ld", s->total, s->warmup);
        if (!(s->min_lr >= 0.0 && s->min_lr <= s->lr))
            return err_set("schedule: min_lr %g must be in [0, lr = %g]", s->min_lr, s->lr);
    }
    return 0;
}

float sched_lr(const Sched *s, long step) {
    if (s->kind == SCHED_CONSTANT) return s->lr;
    if (step < s->warmup) return (float)((double)s->lr * (double)(step + 1) / (double)s->warmup);
    if (s->kind == SCHED_WARMUP_CONSTANT) return s->lr;
    if (step >= s->total) return s->min_lr;
    double progress = (double)(step - s->warmup) / (double)(s->total - s->warmup);
    double lr = s->min_lr + ((double)s->lr - s->min_lr) * 0.5 * (1.0 + cos(OPTIM_PI * progress));
    return (float)lr;
}
