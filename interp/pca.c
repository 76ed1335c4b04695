#include "pca.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp/linalg.h"
#include "model/err.h"
#include "model/pool.h"

Pca *pca_create(int d, int center) {
    if (d < 1) {
        err_set("pca: dimension %d must be >= 1", d);
        return NULL;
    }
    Pca *p = calloc(1, sizeof *p);
    if (!p) goto oom;
    size_t dd = (size_t)d * d;
    p->d = d;
    p->center = center ? 1 : 0;
    p->mean = calloc((size_t)d, sizeof *p->mean);
    p->eigval = calloc((size_t)d, sizeof *p->eigval);
    p->ratio = calloc((size_t)d, sizeof *p->ratio);
    p->components = calloc(dd, sizeof *p->components);
    p->m2 = calloc(dd, sizeof *p->m2);
    p->buf = malloc((size_t)PCA_CHUNK * d * sizeof *p->buf);
    if (!p->mean || !p->eigval || !p->ratio || !p->components || !p->m2 || !p->buf) goto oom;
    return p;
oom:
    pca_free(p);
    err_set("pca: out of memory for dimension %d", d);
    return NULL;
}

void pca_free(Pca *p) {
    if (!p) return;
    free(p->mean);
    free(p->eigval);
    free(p->ratio);
    free(p->components);
    free(p->m2);
    free(p->buf);
    free(p);
}

// Merges the nbuf rows in buf into (n, mean, m2) and empties buf.
static void flush_chunk(Pca *p) {
    int d = p->d, m = p->nbuf;
    if (m == 0) return;
    if (!p->center) {
        linalg_syrk(p->m2, p->buf, m, d);
        p->n += m;
        p->nbuf = 0;
        return;
    }
    // Chunk mean; the chunk centred on it; its scatter added to m2 by syrk; then Chan's correction
    // δ·δᵀ·n_a·n_b/(n_a+n_b) for the move between the old mean and the chunk's.
    double na = (double)p->n, nb = m, ntot = na + nb;
    double *cm = p->eigval;  // scratch: eigval is unused until pca_finish
    for (int j = 0; j < d; j++) cm[j] = 0;
    for (int r = 0; r < m; r++)
        for (int j = 0; j < d; j++) cm[j] += p->buf[(size_t)r * d + j];
    for (int j = 0; j < d; j++) cm[j] /= nb;
    for (int r = 0; r < m; r++)
        for (int j = 0; j < d; j++) p->buf[(size_t)r * d + j] -= cm[j];
    linalg_syrk(p->m2, p->buf, m, d);
    double w = na * nb / ntot;
    for (int j = 0; j < d; j++) cm[j] -= p->mean[j];  // δ
    if (na > 0) {
        for (int i = 0; i < d; i++) {
            double *mi = p->m2 + (size_t)i * d;
            double wi = w * cm[i];
            for (int j = 0; j <= i; j++) mi[j] += wi * cm[j];
        }
    }
    for (int j = 0; j < d; j++) p->mean[j] += cm[j] * (nb / ntot);
    p->n += m;
    p->nbuf = 0;
}

int pca_accumulate(Pca *p, const float *X, size_t n) {
    if (p->finished) return err_set("pca: rows added after pca_finish");
    int d = p->d;
    for (size_t r = 0; r < n; r++)
        for (int j = 0; j < d; j++)
            if (!isfinite(X[r * d + j]))
                return err_set("pca: row %" PRId64 " column %d is %g", p->n + p->nbuf + (int64_t)r,
                               j, (double)X[r * d + j]);
    for (size_t r = 0; r < n; r++) {
        double *dst = p->buf + (size_t)p->nbuf * d;
        const float *src = X + r * d;
        for (int j = 0; j < d; j++) dst[j] = src[j];
        if (++p->nbuf == PCA_CHUNK) flush_chunk(p);
    }
    return 0;
}

int pca_finish(Pca *p) {
    if (p->finished) return err_set("pca: pca_finish called twice");
    int d = p->d;
    int64_t n = p->n + p->nbuf;
    if (n < 1 + p->center)
        return err_set("pca: %" PRId64 " rows; %s needs at least %d", n,
                       p->center ? "a centred covariance" : "PCA", 1 + p->center);
    flush_chunk(p);
    size_t dd = (size_t)d * d;
    double *cov = malloc(dd * sizeof *cov);
    if (!cov) return err_set("pca: out of memory for a %d×%d covariance", d, d);
    double denom = p->center ? (double)(n - 1) : (double)n;
    for (size_t i = 0; i < dd; i++) cov[i] = p->m2[i] / denom;
    int rc = linalg_eigh(p->eigval, p->components, cov, d);
    free(cov);
    if (rc) return err_prefix("pca");
    // The covariance is positive semidefinite: a negative eigenvalue is roundoff around 0.
    double total = 0;
    for (int k = 0; k < d; k++) {
        if (p->eigval[k] < 0) p->eigval[k] = 0;
        total += p->eigval[k];
    }
    p->total_var = total;
    for (int k = 0; k < d; k++) p->ratio[k] = total > 0 ? p->eigval[k] / total : 0;
    for (int k = 0; k < d; k++) {
        double *v = p->components + (size_t)k * d;
        int arg = 0;
        for (int j = 1; j < d; j++)
            if (fabs(v[j]) > fabs(v[arg])) arg = j;
        if (v[arg] < 0)
            for (int j = 0; j < d; j++) v[j] = -v[j];
    }
    p->finished = 1;
    return 0;
}

Pca *pca_fit(const float *X, size_t n, int d, int center) {
    Pca *p = pca_create(d, center);
    if (!p) return NULL;
    if (pca_accumulate(p, X, n) || pca_finish(p)) {
        pca_free(p);
        return NULL;
    }
    return p;
}

// Rows per transform task: enough work to pay for the hand-off.
#define PCA_ROWS_PER_TASK 64

typedef struct {
    const Pca *p;
    float *out;
    const float *X;
    size_t n;
    int k;
} TransformCtx;

// out[r, 0:k] for rows r of this task: Σ_j V[i,j]·(x_j − μ_j), j in order.
static void transform_task(void *ctx, int task, int thread) {
    (void)thread;
    const TransformCtx *c = ctx;
    int d = c->p->d;
    size_t r0 = (size_t)task * PCA_ROWS_PER_TASK, r1 = r0 + PCA_ROWS_PER_TASK;
    if (r1 > c->n) r1 = c->n;
    for (size_t r = r0; r < r1; r++) {
        const float *x = c->X + r * d;
        for (int i = 0; i < c->k; i++) {
            const double *v = c->p->components + (size_t)i * d;
            double s = 0;
            for (int j = 0; j < d; j++) s += v[j] * ((double)x[j] - c->p->mean[j]);
            c->out[r * c->k + i] = (float)s;
        }
    }
}

int pca_transform(const Pca *p, float *out, const float *X, size_t n, int k) {
    if (!p->finished) return err_set("pca: transform before pca_finish");
    if (k < 1 || k > p->d) return err_set("pca: %d components requested, dimension is %d", k, p->d);
    size_t ntasks = (n + PCA_ROWS_PER_TASK - 1) / PCA_ROWS_PER_TASK;
    if (ntasks > INT32_MAX) return err_set("pca: %zu rows is too many for one transform", n);
    TransformCtx ctx = {p, out, X, n, k};
    if (ntasks <= 1) {
        if (n) transform_task(&ctx, 0, 0);
    } else {
        pool_for((int)ntasks, transform_task, &ctx);
    }
    return 0;
}
