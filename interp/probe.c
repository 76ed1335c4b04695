#include "probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp/linalg.h"
#include "model/err.h"
#include "model/pool.h"
#include "model/rng.h"

// Loss/gradient sums run over fixed chunks of train rows: at least CHUNK_MIN rows each and at
// most MAX_CHUNKS of them, so the chunking (and every rounding) depends on n_train alone.
#define CHUNK_MIN 256
#define MAX_CHUNKS 64
// Below this many multiply-adds per evaluation the pool's hand-off costs more than the work.
#define SERIAL_MAX (1L << 16)
// L-BFGS: correction pairs kept, Armijo constant, halvings before the line search gives up.
#define LBFGS_M 10
#define ARMIJO_C 1e-4
#define MAX_HALVINGS 60
// Rows per task for probe_decision / probe_predict.
#define ROWS_PER_TASK 256

ProbeConfig probe_defaults(void) {
    ProbeConfig c = {0};
    c.l2 = 1e-4;
    c.test_frac = 0.25;
    c.seed = 0;
    c.max_iter = 1000;
    c.tol = 1e-6;
    c.control = 1;
    return c;
}

// ---- setup shared by both kinds -------------------------------------------------------------

static int check_config(const ProbeConfig *c, int n, int *n_test) {
    if (!(c->l2 >= 0) || !isfinite(c->l2)) return err_set("probe: l2 %g must be finite and >= 0", c->l2);
    if (!(c->test_frac > 0 && c->test_frac < 1))
        return err_set("probe: test_frac %g must be in (0, 1)", c->test_frac);
    if (c->max_iter < 1) return err_set("probe: max_iter %d must be >= 1", c->max_iter);
    if (!(c->tol > 0) || !isfinite(c->tol)) return err_set("probe: tol %g must be finite and > 0", c->tol);
    if (n < 3) return err_set("probe: %d rows; need at least 3 (1 test, 2 train)", n);
    int nt = (int)floor(c->test_frac * n + 0.5);
    if (nt < 1 || n - nt < 2)
        return err_set("probe: test_frac %g of %d rows leaves %d test and %d train rows; need at "
                       "least 1 and 2", c->test_frac, n, nt, n - nt);
    *n_test = nt;
    return 0;
}

static int check_finite(const float *A, int n, int d, const char *what) {
    for (size_t r = 0; r < (size_t)n; r++)
        for (int j = 0; j < d; j++)
            if (!isfinite(A[r * d + j]))
                return err_set("probe: %s row %zu column %d is %g", what, r, j, (double)A[r * d + j]);
    return 0;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static Probe *probe_alloc(ProbeKind kind, int n, int n_test, int d, int n_out, int n_classes,
                          int control) {
    Probe *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->kind = kind;
    p->d = d;
    p->n_out = n_out;
    p->n_classes = n_classes;
    p->n_test = n_test;
    p->n_train = n - n_test;
    p->test_rows = malloc((size_t)n * sizeof *p->test_rows);
    p->W = malloc((size_t)n_out * d * sizeof *p->W);
    p->b = malloc((size_t)n_out * sizeof *p->b);
    p->W_std = calloc((size_t)n_out * (d + 1), sizeof *p->W_std);  // weights then biases (θ)
    p->mean = malloc((size_t)d * sizeof *p->mean);
    p->std = malloc((size_t)d * sizeof *p->std);
    int ok = p->test_rows && p->W && p->b && p->W_std && p->mean && p->std;
    if (ok) {
        p->train_rows = p->test_rows + n_test;
        p->b_std = p->W_std + (size_t)n_out * d;
    }
    size_t cc = (size_t)n_classes * n_classes;
    if (kind == PROBE_LOGISTIC) {
        p->confusion = calloc(cc, sizeof *p->confusion);
        ok = ok && p->confusion;
        if (control) {
            p->control_confusion = calloc(cc, sizeof *p->control_confusion);
            ok = ok && p->control_confusion;
        }
    } else {
        p->test_r2_per_target = malloc((size_t)n_out * sizeof *p->test_r2_per_target);
        ok = ok && p->test_r2_per_target;
    }
    if (!ok) {
        probe_free(p);
        return NULL;
    }
    p->train_acc = p->test_acc = p->control_acc = NAN;
    p->train_r2 = p->test_r2 = p->control_r2 = NAN;
    p->selectivity = NAN;
    return p;
}

void probe_free(Probe *p) {
    if (!p) return;
    free(p->test_rows);
    free(p->W);
    free(p->b);
    free(p->W_std);
    free(p->mean);
    free(p->std);
    free(p->confusion);
    free(p->control_confusion);
    free(p->test_r2_per_target);
    free(p);
}

// The split: a seeded permutation of the rows, its first n_test test rows, each set sorted so the
// passes over X run forwards through memory. Leaves r positioned for the control shuffle.
static void split_rows(Probe *p, int n, Rng *r) {
    int *perm = p->test_rows;  // test_rows and train_rows are the two halves of one block
    for (int i = 0; i < n; i++) perm[i] = i;
    rng_shuffle(r, perm, (size_t)n);
    qsort(p->test_rows, (size_t)p->n_test, sizeof(int), cmp_int);
    qsort(p->train_rows, (size_t)p->n_train, sizeof(int), cmp_int);
}

// mean[d] and population std[d] over the train rows, two passes in double. is_const[j] (if not
// NULL) marks features with zero variance; their std is set to 1 so they standardise to 0.
static void standardise(Probe *p, const float *X, unsigned char *is_const) {
    int d = p->d, n = p->n_train;
    for (int j = 0; j < d; j++) p->mean[j] = p->std[j] = 0;
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)p->train_rows[i] * d;
        for (int j = 0; j < d; j++) p->mean[j] += x[j];
    }
    for (int j = 0; j < d; j++) p->mean[j] /= n;
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)p->train_rows[i] * d;
        for (int j = 0; j < d; j++) {
            double c = x[j] - p->mean[j];
            p->std[j] += c * c;
        }
    }
    for (int j = 0; j < d; j++) {
        double v = p->std[j] / n;
        if (is_const) is_const[j] = v == 0;
        p->std[j] = v > 0 ? sqrt(v) : 1;
    }
}

// W = W_std / std, b = b_std − W·mean: the probe in the original feature space.
static void to_original_space(Probe *p) {
    int d = p->d;
    for (int k = 0; k < p->n_out; k++) {
        double bk = p->b_std[k];
        for (int j = 0; j < d; j++) {
            double w = p->W_std[(size_t)k * d + j] / p->std[j];
            p->W[(size_t)k * d + j] = (float)w;
            bk -= w * p->mean[j];
        }
        p->b[k] = (float)bk;
    }
}

// z[K] = W_std·xs + b_std with xs[d] = (x − mean)·inv_std (xs is written: callers reuse it).
// θ holds K·d weights then K biases.
static void row_logits(double *z, double *xs, const float *x, const double *theta,
                       const double *mean, const double *inv_std, int d, int K) {
    for (int j = 0; j < d; j++) xs[j] = (x[j] - mean[j]) * inv_std[j];
    // Four logits at a time: four independent sums keep the adder busy where one dependent chain
    // would wait on its latency. Each z[k] still sums j = 0..d-1 in order.
    int k = 0;
    for (; k + 4 <= K; k += 4) {
        const double *w0 = theta + (size_t)k * d, *w1 = w0 + d, *w2 = w1 + d, *w3 = w2 + d;
        const double *bias = theta + (size_t)K * d + k;
        double s0 = bias[0], s1 = bias[1], s2 = bias[2], s3 = bias[3];
        for (int j = 0; j < d; j++) {
            s0 += w0[j] * xs[j];
            s1 += w1[j] * xs[j];
            s2 += w2[j] * xs[j];
            s3 += w3[j] * xs[j];
        }
        z[k] = s0;
        z[k + 1] = s1;
        z[k + 2] = s2;
        z[k + 3] = s3;
    }
    for (; k < K; k++) {
        const double *w = theta + (size_t)k * d;
        double s = theta[(size_t)K * d + k];
        for (int j = 0; j < d; j++) s += w[j] * xs[j];
        z[k] = s;
    }
}

// ---- the logistic objective -----------------------------------------------------------------

// Cross-entropy of one row with label y and its gradient g[K] = dCE/dz (g may alias z).
// K = 1: CE = softplus(z) − [y=1]·z, g = sigmoid(z) − [y=1], both in forms that cannot overflow.
// K > 1: CE = logsumexp(z) − z_y, g = softmax(z) − onehot(y).
static double row_loss_grad(double *g, const double *z, int y, int K) {
    if (K == 1) {
        double t = z[0], e = exp(-fabs(t));
        double loss = fmax(t, 0) + log1p(e) - (y == 1 ? t : 0);
        double sig = t >= 0 ? 1 / (1 + e) : e / (1 + e);
        g[0] = sig - (y == 1);
        return loss;
    }
    double m = z[0];
    for (int k = 1; k < K; k++) m = fmax(m, z[k]);
    double s = 0;
    for (int k = 0; k < K; k++) s += exp(z[k] - m);
    double lse = m + log(s), loss = lse - z[y];
    for (int k = 0; k < K; k++) g[k] = exp(z[k] - lse) - (k == y);
    return loss;
}

typedef struct {
    ProbeObjective o;
    int K, P;                 // weight rows; parameters K·(d+1)
    int chunk_rows, nchunks;  // fixed by n alone
    double *slots;            // [nchunks, P + 1]: each chunk's gradient sum, then its loss sum
    double *scratch;          // [nchunks, d + K]: each chunk's xs and z
    const double *theta;      // the point being evaluated
} LogitCtx;

static void logit_task(void *vctx, int c, int thread) {
    (void)thread;
    const LogitCtx *ctx = vctx;
    const ProbeObjective *o = &ctx->o;
    int d = o->d, K = ctx->K, P = ctx->P;
    double *G = ctx->slots + (size_t)c * (P + 1), *Gb = G + (size_t)K * d;
    double *xs = ctx->scratch + (size_t)c * (d + K), *z = xs + d;
    memset(G, 0, (size_t)(P + 1) * sizeof *G);
    double loss = 0;
    int i0 = c * ctx->chunk_rows, i1 = i0 + ctx->chunk_rows < o->n ? i0 + ctx->chunk_rows : o->n;
    for (int i = i0; i < i1; i++) {
        int row = o->rows[i];
        row_logits(z, xs, o->X + (size_t)row * d, ctx->theta, o->mean, o->inv_std, d, K);
        loss += row_loss_grad(z, z, o->labels[row], K);
        for (int k = 0; k < K; k++) {
            double gk = z[k];
            double *Gk = G + (size_t)k * d;
            for (int j = 0; j < d; j++) Gk[j] += gk * xs[j];
            Gb[k] += gk;
        }
    }
    G[P] = loss;
}

static void logit_release(LogitCtx *c) {
    free(c->slots);
    free(c->scratch);
    c->slots = c->scratch = NULL;
}

static int logit_init(LogitCtx *c, const ProbeObjective *o) {
    memset(c, 0, sizeof *c);
    c->o = *o;
    c->K = o->n_classes == 2 ? 1 : o->n_classes;
    c->P = c->K * (o->d + 1);
    int per = (o->n + MAX_CHUNKS - 1) / MAX_CHUNKS;
    c->chunk_rows = per > CHUNK_MIN ? per : CHUNK_MIN;
    c->nchunks = (o->n + c->chunk_rows - 1) / c->chunk_rows;
    c->slots = malloc((size_t)c->nchunks * (c->P + 1) * sizeof *c->slots);
    c->scratch = malloc((size_t)c->nchunks * (o->d + c->K) * sizeof *c->scratch);
    if (!c->slots || !c->scratch) {
        logit_release(c);
        return err_set("probe: out of memory for the objective's scratch");
    }
    return 0;
}

// f(θ) and grad: the chunk sums added in chunk order, then the mean and the L2 term.
static double logit_eval(LogitCtx *c, const double *theta, double *grad) {
    int d = c->o.d, P = c->P;
    c->theta = theta;
    if ((long)c->o.n * c->K * d < SERIAL_MAX) {
        for (int t = 0; t < c->nchunks; t++) logit_task(c, t, 0);
    } else {
        pool_for(c->nchunks, logit_task, c);
    }
    double loss = 0;
    memset(grad, 0, (size_t)P * sizeof *grad);
    for (int t = 0; t < c->nchunks; t++) {
        const double *s = c->slots + (size_t)t * (P + 1);
        for (int i = 0; i < P; i++) grad[i] += s[i];
        loss += s[P];
    }
    double inv_n = 1.0 / c->o.n, reg = 0;
    for (int i = 0; i < P; i++) grad[i] *= inv_n;
    for (int i = 0; i < c->K * d; i++) {
        reg += theta[i] * theta[i];
        grad[i] += c->o.l2 * theta[i];
    }
    return loss * inv_n + 0.5 * c->o.l2 * reg;
}

int probe_logistic_objective(const ProbeObjective *o, const double *theta, double *f,
                             double *grad) {
    LogitCtx c;
    if (logit_init(&c, o)) return -1;
    *f = logit_eval(&c, theta, grad);
    logit_release(&c);
    return 0;
}

static double dot(const double *a, const double *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

// Minimises the objective from θ (in: the start, out: the minimiser) by L-BFGS: the two-loop
// recursion with H0 = (sᵀy / yᵀy)·I from the newest pair, a backtracking Armijo line search from
// step 1, and a pair kept only when sᵀy > 0 (always, for a strictly convex f; the guard is for
// roundoff). Stops when ‖∇f‖_∞ <= tol, at max_iter, or when no step decreases f at double
// precision.
static int lbfgs(LogitCtx *c, double *theta, int max_iter, double tol, double *f_out,
                 int *iters_out, int *conv_out) {
    int P = c->P, m = LBFGS_M;
    double *work = malloc((size_t)(4 + 2 * m) * P * sizeof *work);
    if (!work) return err_set("probe: out of memory for L-BFGS (%d parameters)", P);
    double *g = work, *dir = g + P, *xn = dir + P, *gn = xn + P, *S = gn + P, *Yp = S + (size_t)m * P;
    double rho[LBFGS_M], alpha[LBFGS_M], gamma = 1;
    int head = 0, npairs = 0, it = 0, conv = 0;
    double f = logit_eval(c, theta, g);
    while (it < max_iter) {
        double gmax = 0;
        for (int i = 0; i < P; i++) gmax = fmax(gmax, fabs(g[i]));
        if (gmax <= tol) {
            conv = 1;
            break;
        }
        memcpy(dir, g, (size_t)P * sizeof *dir);
        for (int i = 0; i < npairs; i++) {
            int k = (head - 1 - i + m) % m;
            alpha[k] = rho[k] * dot(S + (size_t)k * P, dir, P);
            for (int j = 0; j < P; j++) dir[j] -= alpha[k] * Yp[(size_t)k * P + j];
        }
        for (int j = 0; j < P; j++) dir[j] *= gamma;
        for (int i = npairs - 1; i >= 0; i--) {
            int k = (head - 1 - i + m) % m;
            double beta = rho[k] * dot(Yp + (size_t)k * P, dir, P);
            for (int j = 0; j < P; j++) dir[j] += (alpha[k] - beta) * S[(size_t)k * P + j];
        }
        for (int j = 0; j < P; j++) dir[j] = -dir[j];
        double dg = dot(dir, g, P);
        if (!(dg < 0)) {  // not a descent direction (roundoff): restart from steepest descent
            for (int j = 0; j < P; j++) dir[j] = -g[j];
            dg = -dot(g, g, P);
            npairs = 0;
            gamma = 1;
        }
        double step = 1, fn = 0;
        int ok = 0;
        for (int h = 0; h < MAX_HALVINGS; h++) {
            for (int j = 0; j < P; j++) xn[j] = theta[j] + step * dir[j];
            fn = logit_eval(c, xn, gn);
            if (fn <= f + ARMIJO_C * step * dg) {
                ok = 1;
                break;
            }
            step *= 0.5;
        }
        if (!ok) break;
        it++;
        double *s = S + (size_t)head * P, *y = Yp + (size_t)head * P;
        for (int j = 0; j < P; j++) {
            s[j] = xn[j] - theta[j];
            y[j] = gn[j] - g[j];
        }
        double sy = dot(s, y, P), yy = dot(y, y, P);
        if (sy > 0 && yy > 0) {
            rho[head] = 1 / sy;
            gamma = sy / yy;
            head = (head + 1) % m;
            if (npairs < m) npairs++;
        }
        memcpy(theta, xn, (size_t)P * sizeof *theta);
        memcpy(g, gn, (size_t)P * sizeof *g);
        f = fn;
    }
    if (!conv) {  // the last accepted point may already meet the tolerance
        double gmax = 0;
        for (int i = 0; i < P; i++) gmax = fmax(gmax, fabs(g[i]));
        conv = gmax <= tol;
    }
    free(work);
    *f_out = f;
    *iters_out = it;
    *conv_out = conv;
    return 0;
}

// Accuracy of θ on rows[n] against labels (indexed by row); conf[C,C] (if not NULL) += counts.
static double score_logistic(const Probe *p, const double *theta, const double *inv_std,
                             const float *X, const int *rows, int n, const int *labels,
                             int64_t *conf, double *scratch) {
    int d = p->d, K = p->n_out, C = p->n_classes;
    double *xs = scratch, *z = scratch + d;
    int64_t right = 0;
    for (int i = 0; i < n; i++) {
        int row = rows[i];
        row_logits(z, xs, X + (size_t)row * d, theta, p->mean, inv_std, d, K);
        int pred = 0;
        if (K == 1) {
            pred = z[0] > 0;
        } else {
            for (int k = 1; k < K; k++)
                if (z[k] > z[pred]) pred = k;
        }
        right += pred == labels[row];
        if (conf) conf[(size_t)labels[row] * C + pred]++;
    }
    return (double)right / n;
}

Probe *probe_train_logistic(const float *X, const int *labels, int n, int d, int n_classes,
                            const ProbeConfig *cfg) {
    int n_test;
    if (check_config(cfg, n, &n_test)) return NULL;
    if (d < 1) {
        err_set("probe: dimension %d must be >= 1", d);
        return NULL;
    }
    if (n_classes < 2) {
        err_set("probe: %d classes; need at least 2", n_classes);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= n_classes) {
            err_set("probe: label %d of row %d is outside [0, %d)", labels[i], i, n_classes);
            return NULL;
        }
    }
    if (check_finite(X, n, d, "X")) return NULL;
    int K = n_classes == 2 ? 1 : n_classes;
    Probe *p = probe_alloc(PROBE_LOGISTIC, n, n_test, d, K, n_classes, cfg->control);
    double *inv_std = malloc((size_t)d * sizeof *inv_std);
    double *scratch = malloc((size_t)(d + K) * sizeof *scratch);
    int *shuffled = cfg->control ? malloc((size_t)n * sizeof *shuffled) : NULL;
    double *theta_c = cfg->control ? calloc((size_t)K * (d + 1), sizeof *theta_c) : NULL;
    LogitCtx ctx = {0};
    if (!p || !inv_std || !scratch || (cfg->control && (!shuffled || !theta_c))) {
        err_set("probe: out of memory (%d rows, %d features, %d classes)", n, d, n_classes);
        goto fail;
    }
    Rng r;
    rng_seed(&r, cfg->seed);
    split_rows(p, n, &r);
    standardise(p, X, NULL);
    for (int j = 0; j < d; j++) inv_std[j] = 1 / p->std[j];

    ProbeObjective o = {X, d, p->train_rows, p->n_train, labels, n_classes, p->mean, inv_std, cfg->l2};
    if (logit_init(&ctx, &o)) goto fail;
    if (lbfgs(&ctx, p->W_std, cfg->max_iter, cfg->tol, &p->loss, &p->iters, &p->converged))
        goto fail;
    to_original_space(p);
    p->train_acc = score_logistic(p, p->W_std, inv_std, X, p->train_rows, p->n_train, labels,
                                  NULL, scratch);
    p->test_acc = score_logistic(p, p->W_std, inv_std, X, p->test_rows, p->n_test, labels,
                                 p->confusion, scratch);

    if (cfg->control) {
        // Labels moved between rows by a seeded permutation (the same split; r continues from it),
        // so each class keeps its frequency but loses its relation to the activations.
        for (int i = 0; i < n; i++) shuffled[i] = i;
        rng_shuffle(&r, shuffled, (size_t)n);
        for (int i = 0; i < n; i++) shuffled[i] = labels[shuffled[i]];
        ctx.o.labels = shuffled;
        double fc;
        int itc, convc;
        if (lbfgs(&ctx, theta_c, cfg->max_iter, cfg->tol, &fc, &itc, &convc)) goto fail;
        p->control_acc = score_logistic(p, theta_c, inv_std, X, p->test_rows, p->n_test, shuffled,
                                        p->control_confusion, scratch);
        p->selectivity = p->test_acc - p->control_acc;
    }
    logit_release(&ctx);
    free(inv_std);
    free(scratch);
    free(shuffled);
    free(theta_c);
    return p;
fail:
    logit_release(&ctx);
    probe_free(p);
    free(inv_std);
    free(scratch);
    free(shuffled);
    free(theta_c);
    return NULL;
}

// ---- ridge ----------------------------------------------------------------------------------

// R² of (W_std, b_std) on rows[n] with targets Y[ymap[row]] (ymap NULL: the row itself), per
// target into r2[T] (if not NULL); returns the mean over targets. Two passes: the set's mean of
// y, then SS_res and SS_tot about it.
static double score_ridge(const Probe *p, const double *theta, const double *inv_std,
                          const float *X, const float *Y, const int *ymap, const int *rows, int n,
                          double *r2, double *scratch) {
    int d = p->d, T = p->n_out;
    double *xs = scratch, *z = xs + d, *ymean = z + T, *ss_res = ymean + T, *ss_tot = ss_res + T;
    for (int t = 0; t < T; t++) ymean[t] = ss_res[t] = ss_tot[t] = 0;
    for (int i = 0; i < n; i++) {
        const float *y = Y + (size_t)(ymap ? ymap[rows[i]] : rows[i]) * T;
        for (int t = 0; t < T; t++) ymean[t] += y[t];
    }
    for (int t = 0; t < T; t++) ymean[t] /= n;
    for (int i = 0; i < n; i++) {
        int row = rows[i];
        const float *y = Y + (size_t)(ymap ? ymap[row] : row) * T;
        row_logits(z, xs, X + (size_t)row * d, theta, p->mean, inv_std, d, T);
        for (int t = 0; t < T; t++) {
            ss_res[t] += (y[t] - z[t]) * (y[t] - z[t]);
            ss_tot[t] += (y[t] - ymean[t]) * (y[t] - ymean[t]);
        }
    }
    double mean_r2 = 0;
    for (int t = 0; t < T; t++) {
        double v = ss_tot[t] > 0 ? 1 - ss_res[t] / ss_tot[t] : (ss_res[t] == 0 ? 1 : 0);
        if (r2) r2[t] = v;
        mean_r2 += v;
    }
    return mean_r2 / T;
}

// Fits θ = (W_std[T,d], b_std[T]) on the train rows with targets Y[ymap[row]]: the scatter of
// rows [xs, y − ȳ] (d + T columns, built CHUNK_MIN rows at a time in double) gives XsᵀXs and XsᵀYc;
// then (XsᵀXs/n + l2·I)·W_stdᵀ = XsᵀYc/n by Cholesky. A constant feature (xs ≡ 0) gets a unit
// diagonal and a zero right-hand side, so its weight is exactly 0 instead of a singular pivot.
// Returns the objective value in *loss.
static int fit_ridge(const Probe *p, double *theta, double *loss, const float *X, const float *Y,
                     const int *ymap, const double *inv_std, const unsigned char *is_const,
                     double l2) {
    int d = p->d, T = p->n_out, D = d + T, n = p->n_train;
    const int CH = CHUNK_MIN;
    double *S = calloc((size_t)D * D, sizeof *S), *buf = malloc((size_t)CH * D * sizeof *buf);
    double *B = malloc((size_t)d * T * sizeof *B), *ymean = calloc((size_t)T, sizeof *ymean);
    if (!S || !buf || !B || !ymean) {
        free(S);
        free(buf);
        free(B);
        free(ymean);
        return err_set("probe: out of memory for a %d×%d ridge system", d, d);
    }
    for (int i = 0; i < n; i++) {
        const float *y = Y + (size_t)(ymap ? ymap[p->train_rows[i]] : p->train_rows[i]) * T;
        for (int t = 0; t < T; t++) ymean[t] += y[t];
    }
    for (int t = 0; t < T; t++) ymean[t] /= n;
    for (int i0 = 0; i0 < n; i0 += CH) {
        int m = n - i0 < CH ? n - i0 : CH;
        for (int r = 0; r < m; r++) {
            int row = p->train_rows[i0 + r];
            const float *x = X + (size_t)row * d, *y = Y + (size_t)(ymap ? ymap[row] : row) * T;
            double *o = buf + (size_t)r * D;
            for (int j = 0; j < d; j++) o[j] = (x[j] - p->mean[j]) * inv_std[j];
            for (int t = 0; t < T; t++) o[d + t] = y[t] - ymean[t];
        }
        linalg_syrk(S, buf, m, D);
    }
    // G = XsᵀXs/n + l2·I in S's top-left block (lower triangle), B[j,t] = (XsᵀYc)[j,t]/n.
    for (int i = 0; i < d; i++) {
        for (int j = 0; j <= i; j++) S[(size_t)i * D + j] /= n;
        S[(size_t)i * D + i] += is_const[i] ? 1 : l2;
    }
    for (int j = 0; j < d; j++)
        for (int t = 0; t < T; t++) B[(size_t)j * T + t] = S[(size_t)(d + t) * D + j] / n;
    // The factor of the top-left d×d block: copy it out (linalg works on contiguous n×n).
    double *G = malloc((size_t)d * d * sizeof *G);
    int rc = G ? 0 : err_set("probe: out of memory for a %d×%d ridge system", d, d);
    if (!rc) {
        for (int i = 0; i < d; i++) memcpy(G + (size_t)i * d, S + (size_t)i * D, (size_t)(i + 1) * sizeof *G);
        rc = linalg_cholesky(G, G, d);
        if (rc)
            err_set("probe: ridge system is singular (collinear features, or fewer train rows "
                    "than the %d features) at l2 = %g; use a larger l2", d, l2);
    }
    if (!rc) {
        linalg_cholesky_solve(B, G, d, T);
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < d; j++) theta[(size_t)t * d + j] = B[(size_t)j * T + t];
            theta[(size_t)T * d + t] = ymean[t];
        }
        // f = (1/2n)·Σ‖y − W·xs − ȳ‖² + (l2/2)·‖W‖², by one more pass over the train rows.
        double res = 0, reg = 0, *xs = buf, *z = buf + d;  // buf is free again
        for (int i = 0; i < n; i++) {
            int row = p->train_rows[i];
            const float *y = Y + (size_t)(ymap ? ymap[row] : row) * T;
            row_logits(z, xs, X + (size_t)row * d, theta, p->mean, inv_std, d, T);
            for (int t = 0; t < T; t++) res += (y[t] - z[t]) * (y[t] - z[t]);
        }
        for (int i = 0; i < T * d; i++) reg += theta[i] * theta[i];
        *loss = res / (2.0 * n) + 0.5 * l2 * reg;
    }
    free(G);
    free(S);
    free(buf);
    free(B);
    free(ymean);
    return rc;
}

Probe *probe_train_ridge(const float *X, const float *Y, int n, int d, int T,
                         const ProbeConfig *cfg) {
    int n_test;
    if (check_config(cfg, n, &n_test)) return NULL;
    if (d < 1 || T < 1) {
        err_set("probe: %d features and %d targets; need at least 1 of each", d, T);
        return NULL;
    }
    if (check_finite(X, n, d, "X") || check_finite(Y, n, T, "Y")) return NULL;
    Probe *p = probe_alloc(PROBE_RIDGE, n, n_test, d, T, 0, cfg->control);
    double *inv_std = malloc((size_t)d * sizeof *inv_std);
    double *scratch = malloc((size_t)(d + 4 * T) * sizeof *scratch);
    unsigned char *is_const = malloc((size_t)d);
    int *perm = cfg->control ? malloc((size_t)n * sizeof *perm) : NULL;
    double *theta_c = cfg->control ? calloc((size_t)T * (d + 1), sizeof *theta_c) : NULL;
    if (!p || !inv_std || !scratch || !is_const || (cfg->control && (!perm || !theta_c))) {
        err_set("probe: out of memory (%d rows, %d features, %d targets)", n, d, T);
        goto fail;
    }
    Rng r;
    rng_seed(&r, cfg->seed);
    split_rows(p, n, &r);
    standardise(p, X, is_const);
    for (int j = 0; j < d; j++) inv_std[j] = 1 / p->std[j];
    if (fit_ridge(p, p->W_std, &p->loss, X, Y, NULL, inv_std, is_const, cfg->l2)) goto fail;
    p->iters = 0;
    p->converged = 1;
    to_original_space(p);
    p->train_r2 = score_ridge(p, p->W_std, inv_std, X, Y, NULL, p->train_rows, p->n_train, NULL,
                              scratch);
    p->test_r2 = score_ridge(p, p->W_std, inv_std, X, Y, NULL, p->test_rows, p->n_test,
                             p->test_r2_per_target, scratch);
    if (cfg->control) {
        // Target rows moved between examples by a seeded permutation (same split).
        for (int i = 0; i < n; i++) perm[i] = i;
        rng_shuffle(&r, perm, (size_t)n);
        double fc;
        if (fit_ridge(p, theta_c, &fc, X, Y, perm, inv_std, is_const, cfg->l2)) goto fail;
        p->control_r2 = score_ridge(p, theta_c, inv_std, X, Y, perm, p->test_rows, p->n_test,
                                    NULL, scratch);
        p->selectivity = p->test_r2 - p->control_r2;
    }
    free(inv_std);
    free(scratch);
    free(is_const);
    free(perm);
    free(theta_c);
    return p;
fail:
    probe_free(p);
    free(inv_std);
    free(scratch);
    free(is_const);
    free(perm);
    free(theta_c);
    return NULL;
}

// ---- applying a probe -----------------------------------------------------------------------

typedef struct {
    const Probe *p;
    const float *X;
    int n;
    const double *inv_std;  // [d]
    double *scratch;        // [threads, d + n_out]: per-thread xs and z, overwritten every row
    float *out;             // [n, n_out] or NULL
    int *pred;              // [n] or NULL
} ApplyCtx;

static void apply_task(void *vctx, int task, int thread) {
    const ApplyCtx *c = vctx;
    const Probe *p = c->p;
    int d = p->d, K = p->n_out;
    double *xs = c->scratch + (size_t)thread * (d + K), *z = xs + d;
    int i0 = task * ROWS_PER_TASK, i1 = i0 + ROWS_PER_TASK < c->n ? i0 + ROWS_PER_TASK : c->n;
    for (int i = i0; i < i1; i++) {
        row_logits(z, xs, c->X + (size_t)i * d, p->W_std, p->mean, c->inv_std, d, K);
        if (c->out)
            for (int k = 0; k < K; k++) c->out[(size_t)i * K + k] = (float)z[k];
        if (c->pred) {
            int best = 0;
            if (K == 1) {
                best = z[0] > 0;
            } else {
                for (int k = 1; k < K; k++)
                    if (z[k] > z[best]) best = k;
            }
            c->pred[i] = best;
        }
    }
}

static int apply(const Probe *p, float *out, int *pred, const float *X, int n) {
    int d = p->d, K = p->n_out;
    int ntasks = (n + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
    int threads = ntasks <= 1 ? 1 : pool_threads();
    double *inv_std = malloc((size_t)d * sizeof *inv_std);
    double *scratch = malloc((size_t)threads * (d + K) * sizeof *scratch);
    if (!inv_std || !scratch) {
        free(inv_std);
        free(scratch);
        return err_set("probe: out of memory applying a probe to %d rows", n);
    }
    for (int j = 0; j < d; j++) inv_std[j] = 1 / p->std[j];
    ApplyCtx c = {p, X, n, inv_std, scratch, out, pred};
    if (ntasks <= 1) {
        if (n > 0) apply_task(&c, 0, 0);
    } else {
        pool_for(ntasks, apply_task, &c);
    }
    free(inv_std);
    free(scratch);
    return 0;
}

int probe_decision(const Probe *p, float *out, const float *X, int n) {
    return apply(p, out, NULL, X, n);
}

int probe_predict(const Probe *p, int *pred, const float *X, int n) {
    if (p->kind != PROBE_LOGISTIC) return err_set("probe: predict needs a logistic probe");
    return apply(p, NULL, pred, X, n);
}
