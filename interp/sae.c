// sae.c — the SAE model: create/init, forward/backward with the losses, decoder constraints,
// metrics, MMCS. Training lives in sae_train.c, SAELens files in sae_io.c.
#include "sae.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"
#include "model/gemm.h"
#include "model/pool.h"

// Rows per pool task in the row loops: large enough that the hand-off is cheap next to the
// work, small enough that both cores get a share of a 256-sample batch.
#define SAE_ROWS_PER_TASK 32

SaeConfig sae_config(int d_in, int d_sae) {
    SaeConfig c;
    memset(&c, 0, sizeof c);
    c.d_in = d_in;
    c.d_sae = d_sae;
    c.arch = SAE_RELU;
    c.sparsity = SAE_L1_DECODER_NORM;
    c.hook_layer = -1;
    return c;
}

static int check_config(const SaeConfig *c) {
    if (c->d_in < 1 || c->d_sae < 1)
        return err_set("sae: d_in (%d) and d_sae (%d) must be >= 1", c->d_in, c->d_sae);
    if (c->arch != SAE_RELU && c->arch != SAE_TOPK) return err_set("sae: unknown architecture %d", (int)c->arch);
    if (c->sparsity != SAE_L1_DECODER_NORM && c->sparsity != SAE_L1_UNIT_DECODER)
        return err_set("sae: unknown sparsity mode %d", (int)c->sparsity);
    if (c->arch == SAE_TOPK && (c->k < 1 || c->k > c->d_sae))
        return err_set("sae: topk k = %d must be in [1, d_sae = %d]", c->k, c->d_sae);
    if (!memchr(c->hook_name, 0, sizeof c->hook_name) || !memchr(c->model_name, 0, sizeof c->model_name))
        return err_set("sae: hook_name / model_name not NUL-terminated");
    return 0;
}

void sae_free(Sae *s) {
    if (!s) return;
    params_free(&s->ps);
    free(s);
}

static void bind_views(Sae *s) {
    s->W_enc = params_data(&s->ps, "W_enc");
    s->b_enc = params_data(&s->ps, "b_enc");
    s->W_dec = params_data(&s->ps, "W_dec");
    s->b_dec = params_data(&s->ps, "b_dec");
    s->dW_enc = params_grad(&s->ps, "W_enc");
    s->db_enc = params_grad(&s->ps, "b_enc");
    s->dW_dec = params_grad(&s->ps, "W_dec");
    s->db_dec = params_grad(&s->ps, "b_dec");
}

// An SAE with zeroed parameters (the loader fills them).
static Sae *sae_alloc(const SaeConfig *cfg) {
    if (check_config(cfg)) return NULL;
    Sae *s = calloc(1, sizeof *s);
    if (!s) {
        err_set("sae: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    const int D = cfg->d_in, L = cfg->d_sae;
    if (params_add(&s->ps, "W_enc", 2, (int[]){D, L}) < 0 ||
        params_add(&s->ps, "b_enc", 1, (int[]){L}) < 0 ||
        params_add(&s->ps, "W_dec", 2, (int[]){L, D}) < 0 ||
        params_add(&s->ps, "b_dec", 1, (int[]){D}) < 0 || params_alloc(&s->ps)) {
        sae_free(s);
        return NULL;
    }
    bind_views(s);
    return s;
}

Sae *sae_create(const SaeConfig *cfg, uint64_t seed) {
    Sae *s = sae_alloc(cfg);
    if (!s) return NULL;
    const int D = cfg->d_in, L = cfg->d_sae;
    Rng r;
    rng_seed(&r, seed);
    // Decoder rows: uniformly random directions (normalised normal draws); encoder = decoder
    // transpose, so at init every latent reads the direction it writes.
    for (int i = 0; i < L; i++) {
        float *w = s->W_dec + (size_t)i * D;
        double nn;
        do {
            rng_fill_normal(&r, w, (size_t)D, 0.0f, 1.0f);
            nn = 0;
            for (int j = 0; j < D; j++) nn += (double)w[j] * w[j];
        } while (!(nn > 1e-20));
        float inv = (float)(1.0 / sqrt(nn));
        for (int j = 0; j < D; j++) {
            w[j] *= inv;
            s->W_enc[(size_t)j * L + i] = w[j];
        }
    }
    return s;
}

void sae_init_b_dec_mean(Sae *s, const float *x, size_t n) {
    const int D = s->cfg.d_in;
    for (int j = 0; j < D; j++) {
        double m = 0;
        for (size_t b = 0; b < n; b++) m += x[b * D + j];
        s->b_dec[j] = n ? (float)(m / (double)n) : 0.0f;
    }
}

// ---- activations ---------------------------------------------------------------------------

void sae_acts_free(SaeActs *a) {
    if (!a) return;
    free(a->xc);
    free(a->pre);
    free(a->f);
    free(a->xhat);
    free(a->wnorm);
    free(a->sel);
    free(a->dead_idx);
    free(a->faux);
    free(a->ehat);
    free(a->dxhat);
    free(a->df);
    free(a->dfaux);
    free(a->colsum);
    free(a->row_sq);
    free(a->row_l1);
    free(a->row_aux);
    free(a->row_nnz);
    free(a);
}

SaeActs *sae_acts_create(const Sae *s, int max_batch, int with_aux, int k_aux_max) {
    if (max_batch < 1) {
        err_set("sae: batch size %d must be >= 1", max_batch);
        return NULL;
    }
    SaeActs *a = calloc(1, sizeof *a);
    if (!a) {
        err_set("sae: out of memory");
        return NULL;
    }
    const size_t B = (size_t)max_batch, D = (size_t)s->cfg.d_in, L = (size_t)s->cfg.d_sae;
    a->max_batch = max_batch;
    a->d_in = (int)D;
    a->d_sae = (int)L;
    a->has_aux = with_aux;
    int kmax = s->cfg.arch == SAE_TOPK ? s->cfg.k : 1;
    if (with_aux) {
        if (k_aux_max < 1) k_aux_max = 1;
        if (k_aux_max > (int)L) k_aux_max = (int)L;
        if (k_aux_max > kmax) kmax = k_aux_max;
    }
    a->kmax = kmax;
    int ok = (a->xc = malloc(sizeof(float) * B * D)) && (a->pre = malloc(sizeof(float) * B * L)) &&
             (a->f = malloc(sizeof(float) * B * L)) && (a->xhat = malloc(sizeof(float) * B * D)) &&
             (a->wnorm = malloc(sizeof(float) * L)) &&
             (a->sel = malloc(sizeof(int) * B * (size_t)kmax)) &&
             (a->dead_idx = malloc(sizeof(int) * L)) && (a->dxhat = malloc(sizeof(float) * B * D)) &&
             (a->df = malloc(sizeof(float) * B * L)) && (a->colsum = malloc(sizeof(float) * L)) &&
             (a->row_sq = malloc(sizeof(double) * B)) && (a->row_l1 = malloc(sizeof(double) * B)) &&
             (a->row_aux = malloc(sizeof(double) * B)) && (a->row_nnz = malloc(sizeof(int) * B));
    if (ok && with_aux)
        ok = (a->faux = malloc(sizeof(float) * B * L)) && (a->ehat = malloc(sizeof(float) * B * D)) &&
             (a->dfaux = malloc(sizeof(float) * B * L));
    if (!ok) {
        sae_acts_free(a);
        err_set("sae: out of memory for activations of %d samples", max_batch);
        return NULL;
    }
    return a;
}

// ---- top-k selection -----------------------------------------------------------------------

// "a ranks below b": smaller value, or equal value and larger index (ties keep the lower index).
static inline int ranks_below(const float *v, int a, int b) {
    return v[a] < v[b] || (v[a] == v[b] && a > b);
}

// Restores the min-heap (root = the lowest-ranked kept entry) below position i.
static void heap_down(int *h, int n, int i, const float *v) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && ranks_below(v, h[l], h[m])) m = l;
        if (r < n && ranks_below(v, h[r], h[m])) m = r;
        if (m == i) return;
        int t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

// The k highest-ranked of the candidates cand[0..nc) (or 0..nc-1 when cand is NULL) of v into
// out[0..k) (in heap order). k <= nc.
static void top_k(int *out, int k, const float *v, const int *cand, int nc) {
    for (int j = 0; j < k; j++) out[j] = cand ? cand[j] : j;
    for (int i = k / 2 - 1; i >= 0; i--) heap_down(out, k, i, v);
    for (int j = k; j < nc; j++) {
        int c = cand ? cand[j] : j;
        if (ranks_below(v, out[0], c)) {
            out[0] = c;
            heap_down(out, k, 0, v);
        }
    }
}

// Branch-free selects: the sign of a pre-activation is a coin flip, so a branch per element
// mispredicts half the time. keep_if_pos(v, c) = c > 0 ? v : +0.0 (NaN c counts as not > 0).
static inline float keep_if_pos(float v, float c) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u &= (uint32_t)0 - (uint32_t)(c > 0.0f);
    memcpy(&v, &u, sizeof v);
    return v;
}

// ---- forward -------------------------------------------------------------------------------

typedef struct {
    const Sae *s;
    SaeActs *a;
    const float *x;
    const SaeLoss *loss;
    int B, n_dead, k_aux;
} FwdJob;

static void row_range(int task, int B, int *lo, int *hi) {
    *lo = task * SAE_ROWS_PER_TASK;
    *hi = *lo + SAE_ROWS_PER_TASK < B ? *lo + SAE_ROWS_PER_TASK : B;
}

static int row_tasks(int B) { return (B + SAE_ROWS_PER_TASK - 1) / SAE_ROWS_PER_TASK; }

// xc[b,:] = x[b,:] − b_dec   for the task's rows
static void fwd_center(void *ctx, int task, int thread) {
    (void)thread;
    FwdJob *j = ctx;
    const int D = j->s->cfg.d_in;
    int lo, hi;
    row_range(task, j->B, &lo, &hi);
    for (int b = lo; b < hi; b++)
        for (int d = 0; d < D; d++) j->a->xc[(size_t)b * D + d] = j->x[(size_t)b * D + d] - j->s->b_dec[d];
}

// Σ_i f_i·w_i over one row with 8 interleaved float partial sums per block of 64 and the block
// sums added in double: a fixed order (the same for any thread count) that vectorises, with
// float error only within 8-term sums.
static double row_l1(const float *restrict f, const float *restrict w, int L, int *restrict nnz) {
    double acc = 0;
    int nz = 0;
    int i = 0;
    for (; i + 64 <= L; i += 64) {
        float part[8] = {0};
        for (int q = 0; q < 64; q += 8)
            for (int u = 0; u < 8; u++) {
                part[u] += f[i + q + u] * w[i + q + u];
                nz += f[i + q + u] > 0.0f;
            }
        acc += (double)(((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7])));
    }
    for (; i < L; i++) {
        acc += (double)(f[i] * w[i]);
        nz += f[i] > 0.0f;
    }
    *nnz = nz;
    return acc;
}

// pre[b,:] += b_enc; f = ReLU(pre) or ReLU(TopK(pre)); row L1 and L0 parts.
static void fwd_act(void *ctx, int task, int thread) {
    (void)thread;
    FwdJob *j = ctx;
    const Sae *s = j->s;
    SaeActs *a = j->a;
    const int L = s->cfg.d_sae;
    const float *restrict b_enc = s->b_enc;
    int lo, hi;
    row_range(task, j->B, &lo, &hi);
    for (int b = lo; b < hi; b++) {
        float *restrict pre = a->pre + (size_t)b * L, *restrict f = a->f + (size_t)b * L;
        for (int i = 0; i < L; i++) pre[i] += b_enc[i];
        if (s->cfg.arch == SAE_RELU) {
            for (int i = 0; i < L; i++) f[i] = keep_if_pos(pre[i], pre[i]);
        } else {
            int *idx = a->sel + (size_t)b * a->kmax;
            top_k(idx, s->cfg.k, pre, NULL, L);
            memset(f, 0, sizeof(float) * L);
            for (int q = 0; q < s->cfg.k; q++) f[idx[q]] = pre[idx[q]] > 0.0f ? pre[idx[q]] : 0.0f;
        }
        a->row_l1[b] = row_l1(f, a->wnorm, L, &a->row_nnz[b]);
    }
}

// xhat[b,:] += b_dec; row_sq[b] = ‖xhat − x‖²
static void fwd_out(void *ctx, int task, int thread) {
    (void)thread;
    FwdJob *j = ctx;
    const int D = j->s->cfg.d_in;
    int lo, hi;
    row_range(task, j->B, &lo, &hi);
    for (int b = lo; b < hi; b++) {
        float *xh = j->a->xhat + (size_t)b * D;
        const float *x = j->x + (size_t)b * D;
        double sq = 0;
        for (int d = 0; d < D; d++) {
            xh[d] += j->s->b_dec[d];
            double e = (double)xh[d] - x[d];
            sq += e * e;
        }
        j->a->row_sq[b] = sq;
    }
}

// AuxK activations: z[b,:] keeps the k_aux largest pre-activations among the dead latents.
static void fwd_aux_select(void *ctx, int task, int thread) {
    (void)thread;
    FwdJob *j = ctx;
    SaeActs *a = j->a;
    const int L = j->s->cfg.d_sae;
    int lo, hi;
    row_range(task, j->B, &lo, &hi);
    for (int b = lo; b < hi; b++) {
        const float *pre = a->pre + (size_t)b * L;
        float *z = a->faux + (size_t)b * L;
        int *idx = a->sel + (size_t)b * a->kmax;
        top_k(idx, j->k_aux, pre, a->dead_idx, j->n_dead);
        memset(z, 0, sizeof(float) * L);
        for (int q = 0; q < j->k_aux; q++) z[idx[q]] = pre[idx[q]] > 0.0f ? pre[idx[q]] : 0.0f;
    }
}

// row_aux[b] = ‖ê − e‖² with e = x − x̂
static void fwd_aux_loss(void *ctx, int task, int thread) {
    (void)thread;
    FwdJob *j = ctx;
    SaeActs *a = j->a;
    const int D = j->s->cfg.d_in;
    int lo, hi;
    row_range(task, j->B, &lo, &hi);
    for (int b = lo; b < hi; b++) {
        double sq = 0;
        for (int d = 0; d < D; d++) {
            size_t o = (size_t)b * D + d;
            double r = (double)a->ehat[o] - ((double)j->x[o] - a->xhat[o]);
            sq += r * r;
        }
        a->row_aux[b] = sq;
    }
}

static void decoder_weights(const Sae *s, float *w) {
    const int D = s->cfg.d_in, L = s->cfg.d_sae;
    for (int i = 0; i < L; i++) {
        if (s->cfg.sparsity == SAE_L1_UNIT_DECODER) {
            w[i] = 1.0f;
            continue;
        }
        const float *r = s->W_dec + (size_t)i * D;
        double nn = 0;
        for (int d = 0; d < D; d++) nn += (double)r[d] * r[d];
        w[i] = (float)sqrt(nn);
    }
}

void sae_forward(const Sae *s, SaeActs *a, const float *x, int B, const SaeLoss *loss) {
    const int D = s->cfg.d_in, L = s->cfg.d_sae;
    FwdJob j = {.s = s, .a = a, .x = x, .loss = loss, .B = B};
    a->B = B;
    decoder_weights(s, a->wnorm);
    pool_for(row_tasks(B), fwd_center, &j);
    // pre[B,L] = xc[B,D] · W_enc[D,L]
    gemm(false, false, B, L, D, a->xc, D, s->W_enc, L, a->pre, L, false);
    pool_for(row_tasks(B), fwd_act, &j);
    // xhat[B,D] = f[B,L] · W_dec[L,D]
    gemm(false, false, B, D, L, a->f, L, s->W_dec, D, a->xhat, D, false);
    pool_for(row_tasks(B), fwd_out, &j);

    double sq = 0, l1 = 0;
    size_t nnz = 0;
    for (int b = 0; b < B; b++) {
        sq += a->row_sq[b];
        l1 += a->row_l1[b];
        nnz += (size_t)a->row_nnz[b];
    }
    a->mse = sq / B;
    a->l1 = l1 / B;
    a->l0 = (double)nnz / B;
    a->aux = 0;
    a->aux_used = 0;
    a->loss = a->mse;
    if (!loss) return;
    a->loss += (double)loss->l1_coeff * a->l1;

    if (loss->aux_coeff > 0.0f && loss->dead && a->has_aux) {
        int nd = 0;
        for (int i = 0; i < L; i++)
            if (loss->dead[i]) a->dead_idx[nd++] = i;
        int k = loss->k_aux < nd ? loss->k_aux : nd;
        if (k > a->kmax) k = a->kmax;
        if (k > 0) {
            j.n_dead = nd;
            j.k_aux = k;
            pool_for(row_tasks(B), fwd_aux_select, &j);
            // ehat[B,D] = z[B,L] · W_dec[L,D]   (no b_dec: it reconstructs a residual)
            gemm(false, false, B, D, L, a->faux, L, s->W_dec, D, a->ehat, D, false);
            pool_for(row_tasks(B), fwd_aux_loss, &j);
            double aux = 0;
            for (int b = 0; b < B; b++) aux += a->row_aux[b];
            a->aux = aux / B;
            a->aux_used = 1;
            a->loss += (double)loss->aux_coeff * a->aux;
        }
    }
}

// ---- backward ------------------------------------------------------------------------------

typedef struct {
    Sae *s;
    SaeActs *a;
    const float *x;
    const SaeLoss *loss;
    int B;
    float c_mse, c_l1, c_aux;
} BwdJob;

// dxhat = (2/B)(xhat − x)   for the task's rows
static void bwd_dxhat(void *ctx, int task, int thread) {
    (void)thread;
    BwdJob *j = ctx;
    SaeActs *a = j->a;
    const int D = j->s->cfg.d_in;
    int lo, hi;
    row_range(task, j->B, &lo, &hi);
    for (int b = lo; b < hi; b++)
        for (int d = 0; d < D; d++) {
            size_t o = (size_t)b * D + d;
            a->dxhat[o] = j->c_mse * (a->xhat[o] - j->x[o]);
        }
}

// dpre = (df + c_l1·w)·1[f > 0] + dfaux·1[z > 0], written into df
static void bwd_dpre(void *ctx, int task, int thread) {
    (void)thread;
    BwdJob *j = ctx;
    SaeActs *a = j->a;
    const int L = j->s->cfg.d_sae;
    const float c_l1 = j->c_l1;
    const float *restrict w = a->wnorm;
    int lo, hi;
    row_range(task, j->B, &lo, &hi);
    for (int b = lo; b < hi; b++) {
        const size_t o = (size_t)b * L;
        const float *restrict f = a->f + o;
        float *restrict df = a->df + o;
        for (int i = 0; i < L; i++) df[i] = keep_if_pos(df[i] + c_l1 * w[i], f[i]);
        if (a->aux_used) {
            const float *restrict z = a->faux + o, *restrict dz = a->dfaux + o;
            for (int i = 0; i < L; i++) df[i] += keep_if_pos(dz[i], z[i]);
        }
    }
}

// colsum[i] = Σ_b m[b,i] over rows in order (tasks own column ranges)
typedef struct {
    const float *m;
    float *out;
    int B, C;
} ColJob;

#define SAE_COLS_PER_TASK 64

static void col_sum_task(void *ctx, int task, int thread) {
    (void)thread;
    ColJob *j = ctx;
    int lo = task * SAE_COLS_PER_TASK, hi = lo + SAE_COLS_PER_TASK < j->C ? lo + SAE_COLS_PER_TASK : j->C;
    double acc[SAE_COLS_PER_TASK] = {0};
    for (int b = 0; b < j->B; b++) {
        const float *row = j->m + (size_t)b * j->C;
        for (int i = lo; i < hi; i++) acc[i - lo] += row[i];
    }
    for (int i = lo; i < hi; i++) j->out[i] = (float)acc[i - lo];
}

// out[C] = Σ_b m[B,C]
static void col_sums(float *out, const float *m, int B, int C) {
    ColJob j = {m, out, B, C};
    pool_for((C + SAE_COLS_PER_TASK - 1) / SAE_COLS_PER_TASK, col_sum_task, &j);
}

void sae_backward(Sae *s, SaeActs *a, const float *x, const SaeLoss *loss) {
    const int D = s->cfg.d_in, L = s->cfg.d_sae, B = a->B;
    BwdJob j = {.s = s, .a = a, .x = x, .loss = loss, .B = B};
    j.c_mse = 2.0f / (float)B;
    j.c_l1 = loss ? loss->l1_coeff / (float)B : 0.0f;
    j.c_aux = a->aux_used ? 2.0f * loss->aux_coeff / (float)B : 0.0f;

    // MSE: dxhat[B,D]; db_dec += Σ_b dxhat; dW_dec[L,D] += fᵀ·dxhat; df[B,L] = dxhat·W_decᵀ
    pool_for(row_tasks(B), bwd_dxhat, &j);
    col_sums(a->colsum, a->dxhat, B, D);
    for (int d = 0; d < D; d++) s->db_dec[d] += a->colsum[d];
    gemm(true, false, L, D, B, a->f, L, a->dxhat, D, s->dW_dec, D, true);
    gemm(false, true, B, L, D, a->dxhat, D, s->W_dec, D, a->df, L, false);

    // L1 weighted by ‖W_dec,i‖: dW_dec[i,:] += (λ/B)·(Σ_b f_bi)·W_dec[i,:]/‖W_dec,i‖
    if (j.c_l1 != 0.0f && s->cfg.sparsity == SAE_L1_DECODER_NORM) {
        col_sums(a->colsum, a->f, B, L);
        for (int i = 0; i < L; i++) {
            if (a->colsum[i] == 0.0f || a->wnorm[i] == 0.0f) continue;
            float c = j.c_l1 * a->colsum[i] / a->wnorm[i];
            const float *w = s->W_dec + (size_t)i * D;
            float *dw = s->dW_dec + (size_t)i * D;
            for (int d = 0; d < D; d++) dw[d] += c * w[d];
        }
    }

    // AuxK: dê[B,D] = (2α/B)(ê − e) (in dxhat, free now); dW_dec += zᵀ·dê; dz = dê·W_decᵀ
    if (a->aux_used) {
        for (size_t o = 0; o < (size_t)B * D; o++)
            a->dxhat[o] = j.c_aux * (a->ehat[o] - (x[o] - a->xhat[o]));
        gemm(true, false, L, D, B, a->faux, L, a->dxhat, D, s->dW_dec, D, true);
        gemm(false, true, B, L, D, a->dxhat, D, s->W_dec, D, a->dfaux, L, false);
    }

    // Through the activation: dpre[B,L] (in df)
    pool_for(row_tasks(B), bwd_dpre, &j);

    // Encoder: db_enc += Σ_b dpre; dW_enc[D,L] += xcᵀ·dpre;
    // db_dec += −W_enc·(Σ_b dpre)   (pre depends on x − b_dec)
    col_sums(a->colsum, a->df, B, L);
    for (int i = 0; i < L; i++) s->db_enc[i] += a->colsum[i];
    gemm(true, false, D, L, B, a->xc, D, a->df, L, s->dW_enc, L, true);
    for (int d = 0; d < D; d++) {
        const float *w = s->W_enc + (size_t)d * L;
        double acc = 0;
        for (int i = 0; i < L; i++) acc += (double)w[i] * a->colsum[i];
        s->db_dec[d] -= (float)acc;
    }
}

// ---- decoder constraint (SAE_L1_UNIT_DECODER) ----------------------------------------------

void sae_project_decoder_grad(Sae *s) {
    const int D = s->cfg.d_in, L = s->cfg.d_sae;
    for (int i = 0; i < L; i++) {
        const float *w = s->W_dec + (size_t)i * D;
        float *g = s->dW_dec + (size_t)i * D;
        double wg = 0, ww = 0;
        for (int d = 0; d < D; d++) {
            wg += (double)w[d] * g[d];
            ww += (double)w[d] * w[d];
        }
        if (!(ww > 0)) continue;
        float c = (float)(wg / ww);
        for (int d = 0; d < D; d++) g[d] -= c * w[d];
    }
}

void sae_normalize_decoder(Sae *s) {
    const int D = s->cfg.d_in, L = s->cfg.d_sae;
    for (int i = 0; i < L; i++) {
        float *w = s->W_dec + (size_t)i * D;
        double ww = 0;
        for (int d = 0; d < D; d++) ww += (double)w[d] * w[d];
        if (!(ww > 0)) continue;
        float inv = (float)(1.0 / sqrt(ww));
        for (int d = 0; d < D; d++) w[d] *= inv;
    }
}

// ---- metrics -------------------------------------------------------------------------------

#define SAE_EVAL_CHUNK 1024

int sae_evaluate(const Sae *s, const float *x, size_t n, double low_threshold, SaeEval *ev,
                 float *density) {
    if (n == 0) return err_set("sae: evaluation needs at least one sample");
    const int D = s->cfg.d_in, L = s->cfg.d_sae;
    int chunk = n < SAE_EVAL_CHUNK ? (int)n : SAE_EVAL_CHUNK;
    SaeActs *a = sae_acts_create(s, chunk, 0, 0);
    double *mean = calloc((size_t)D, sizeof(double));
    size_t *fired = calloc((size_t)L, sizeof(size_t));
    if (!a || !mean || !fired) {
        sae_acts_free(a);
        free(mean);
        free(fired);
        return err_set("sae: out of memory for evaluation");
    }
    for (size_t b = 0; b < n; b++)
        for (int d = 0; d < D; d++) mean[d] += x[b * D + d];
    for (int d = 0; d < D; d++) mean[d] /= (double)n;
    double sq = 0, var = 0, l1 = 0;
    size_t nnz = 0;
    for (size_t b0 = 0; b0 < n; b0 += (size_t)chunk) {
        int B = n - b0 < (size_t)chunk ? (int)(n - b0) : chunk;
        const float *xb = x + b0 * D;
        sae_forward(s, a, xb, B, NULL);
        for (int b = 0; b < B; b++) {
            sq += a->row_sq[b];
            for (int d = 0; d < D; d++) {
                double c = xb[(size_t)b * D + d] - mean[d];
                var += c * c;
            }
            const float *f = a->f + (size_t)b * L;
            for (int i = 0; i < L; i++)
                if (f[i] > 0.0f) {
                    fired[i]++;
                    nnz++;
                    l1 += f[i];
                }
        }
    }
    int dead = 0, low = 0;
    for (int i = 0; i < L; i++) {
        double dens = (double)fired[i] / (double)n;
        if (density) density[i] = (float)dens;
        dead += fired[i] == 0;
        low += dens < low_threshold;
    }
    ev->mse = sq / (double)n;
    ev->fvu = var > 0 ? sq / var : (sq > 0 ? INFINITY : 0.0);
    ev->l0 = (double)nnz / (double)n;
    ev->l1 = l1 / (double)n;
    ev->dead_frac = (double)dead / L;
    ev->low_frac = (double)low / L;
    ev->low_threshold = low_threshold;
    sae_acts_free(a);
    free(mean);
    free(fired);
    return 0;
}

void sae_density_histogram(const float *density, int d_sae, double lo, double hi, int nbins,
                           float *counts, int *n_zero) {
    int z = 0;
    for (int b = 0; b < nbins; b++) counts[b] = 0;
    for (int i = 0; i < d_sae; i++) {
        if (!(density[i] > 0.0f)) {
            z++;
            continue;
        }
        double t = (log10(density[i]) - lo) / (hi - lo) * nbins;
        int b = t < 0 ? 0 : t >= nbins ? nbins - 1 : (int)t;
        counts[b] += 1;
    }
    if (n_zero) *n_zero = z;
}

// Copies rows of m[n, d] into out with unit norm (zero rows stay zero).
static void unit_rows(float *out, const float *m, int n, int d) {
    for (int i = 0; i < n; i++) {
        const float *r = m + (size_t)i * d;
        double nn = 0;
        for (int j = 0; j < d; j++) nn += (double)r[j] * r[j];
        float inv = nn > 0 ? (float)(1.0 / sqrt(nn)) : 0.0f;
        for (int j = 0; j < d; j++) out[(size_t)i * d + j] = r[j] * inv;
    }
}

int sae_mmcs(const float *truth, int n_true, const float *dict, int n_dict, int d,
             float *best_cos, int *best_idx, double *mmcs) {
    if (n_true < 1 || n_dict < 1 || d < 1)
        return err_set("sae: mmcs needs non-empty sets (%d true, %d dictionary, %d dims)", n_true,
                       n_dict, d);
    float *t = malloc(sizeof(float) * (size_t)n_true * d);
    float *u = malloc(sizeof(float) * (size_t)n_dict * d);
    float *c = malloc(sizeof(float) * (size_t)n_true * n_dict);
    if (!t || !u || !c) {
        free(t);
        free(u);
        free(c);
        return err_set("sae: out of memory for a %d x %d cosine matrix", n_true, n_dict);
    }
    unit_rows(t, truth, n_true, d);
    unit_rows(u, dict, n_dict, d);
    // c[n_true, n_dict] = t[n_true, d] · u[n_dict, d]ᵀ
    gemm(false, true, n_true, n_dict, d, t, d, u, d, c, n_dict, false);
    double sum = 0;
    for (int i = 0; i < n_true; i++) {
        const float *row = c + (size_t)i * n_dict;
        int bi = 0;
        for (int j = 1; j < n_dict; j++)
            if (row[j] > row[bi]) bi = j;
        if (best_cos) best_cos[i] = row[bi];
        if (best_idx) best_idx[i] = bi;
        sum += row[bi];
    }
    *mmcs = sum / n_true;
    free(t);
    free(u);
    free(c);
    return 0;
}

double sae_share_above(const float *best_cos, int n, float thr) {
    if (n <= 0) return 0.0;
    int k = 0;
    for (int i = 0; i < n; i++) k += best_cos[i] >= thr;
    return (double)k / n;
}
