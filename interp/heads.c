#include "heads.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"
#include "model/gemm.h"

// ---- detector scores -------------------------------------------------------------------------

const char *heads_pattern_name(HeadsPattern p) {
    return p == HEADS_PREV ? "previous_token_head"
           : p == HEADS_DUP ? "duplicate_token_head"
                            : "induction_head";
}

const char *heads_pattern_short(HeadsPattern p) {
    return p == HEADS_PREV ? "prev" : p == HEADS_DUP ? "dup" : "ind";
}

// det[T,T] query-major; TL's get_*_detection_pattern.
void heads_detection_pattern(float *det, HeadsPattern p, const int *tok, int T) {
    memset(det, 0, sizeof(float) * (size_t)T * T);
    for (int t = 0; t < T; t++) {
        float *row = det + (size_t)t * T;
        if (p == HEADS_PREV) {
            if (t > 0) row[t - 1] = 1;
        } else if (p == HEADS_DUP) {
            for (int s = 0; s < t; s++) row[s] = tok[s] == tok[t];
        } else {
            // TL shifts the duplicate pattern one column right and keeps the lower triangle:
            // key s is a target when token s-1 (an earlier position) equals the query's token.
            for (int s = 1; s <= t; s++) row[s] = tok[s - 1] == tok[t];
        }
    }
}

double heads_score(const float *att, const float *det, int T, const HeadsScoreOpts *o) {
    double num = 0, den = 0;
    int rows = 0;
    for (int t = 0; t < T; t++) {
        const float *a = att + (size_t)t * T, *d = det + (size_t)t * T;
        if (o->target_rows_only) {
            int any = 0;
            for (int s = 0; s <= t && !any; s++) any = d[s] != 0;
            if (!any) continue;
        }
        rows++;
        // Keys s > t: the pattern is 0 there (TL's patterns are lower-triangular); this model's
        // hook_pattern is 0 above the diagonal too, but a patched one need not be, so read all.
        for (int s = 0; s < T; s++) {
            if ((o->exclude_bos && s == 0) || (o->exclude_current_token && s == t)) continue;
            if (o->measure == HEADS_MUL) {
                num += (double)a[s] * d[s];
                den += a[s];
            } else {
                num += fabs((double)a[s] - d[s]);
            }
        }
    }
    if (o->measure == HEADS_MUL) return den != 0 ? num / den : NAN;
    // TL: 1 - mean|A - P|·T = 1 - Σ|A - P| / T; over the scored rows only with target_rows_only.
    if (rows == 0) return NAN;
    return 1.0 - num / (o->target_rows_only ? rows : T);
}

static int check_seqs(const Transformer *m, int n, int T) {
    if (n < 1) return err_set("heads: need at least one sequence, got %d", n);
    if (T < 2 || T > m->cfg.n_ctx)
        return err_set("heads: sequence length %d must be in [2, n_ctx = %d]", T, m->cfg.n_ctx);
    return 0;
}

int heads_detect(Transformer *m, const int *tokens, int n, int T, const HookList *hooks,
                 const HeadsScoreOpts *o, float *scores) {
    if (check_seqs(m, n, T)) return -1;
    const int L = m->cfg.n_layers, H = m->cfg.n_heads, NH = L * H;
    const size_t TT = (size_t)T * T;
    float *det = malloc(sizeof(float) * TT * HEADS_N_PATTERNS);
    double *sum = calloc((size_t)HEADS_N_PATTERNS * NH, sizeof(double));
    int *cnt = calloc((size_t)HEADS_N_PATTERNS * NH, sizeof(int));
    int rc = -1;
    if (!det || !sum || !cnt) {
        err_set("heads: out of memory");
        goto done;
    }
    for (int b0 = 0; b0 < n; b0 += m->max_batch) {
        int B = n - b0 < m->max_batch ? n - b0 : m->max_batch;
        const int *tok = tokens + (size_t)b0 * T;
        if (tf_forward(m, tok, NULL, B, T, hooks, NULL)) goto done;
        for (int b = 0; b < B; b++) {
            for (int p = 0; p < HEADS_N_PATTERNS; p++)
                heads_detection_pattern(det + p * TT, (HeadsPattern)p, tok + (size_t)b * T, T);
            for (int l = 0; l < L; l++) {
                char name[64];
                snprintf(name, sizeof name, "blocks.%d.attn.hook_pattern", l);
                Tensor pat = tf_act(m, name);  // [B,H,T,T]
                if (!pat.data) goto done;
                for (int h = 0; h < H; h++) {
                    const float *att = pat.data + ((size_t)b * H + h) * TT;
                    for (int p = 0; p < HEADS_N_PATTERNS; p++) {
                        double s = heads_score(att, det + p * TT, T, o);
                        if (isnan(s)) continue;
                        sum[p * NH + l * H + h] += s;
                        cnt[p * NH + l * H + h]++;
                    }
                }
            }
        }
    }
    for (int i = 0; i < HEADS_N_PATTERNS * NH; i++)
        scores[i] = cnt[i] ? (float)(sum[i] / cnt[i]) : NAN;
    rc = 0;
done:
    free(det);
    free(sum);
    free(cnt);
    return rc;
}

// ---- losses by position ------------------------------------------------------------------------

int heads_position_losses(Transformer *m, const int *tokens, const int *targets, int n, int T,
                          const HookList *hooks, double *loss_pos) {
    if (check_seqs(m, n, T)) return -1;
    long *cnt = calloc((size_t)T, sizeof(long));
    if (!cnt) return err_set("heads: out of memory");
    for (int p = 0; p < T; p++) loss_pos[p] = 0;
    for (int b0 = 0; b0 < n; b0 += m->max_batch) {
        int B = n - b0 < m->max_batch ? n - b0 : m->max_batch;
        const int *tok = tokens + (size_t)b0 * T, *tg = targets + (size_t)b0 * T;
        if (tf_forward(m, tok, tg, B, T, hooks, NULL)) {
            free(cnt);
            return -1;
        }
        Tensor losses = tf_act(m, "losses");  // [B,T], 0 where the target is ignored
        for (int b = 0; b < B; b++)
            for (int p = 0; p < T; p++)
                if (tg[(size_t)b * T + p] >= 0) {
                    loss_pos[p] += losses.data[(size_t)b * T + p];
                    cnt[p]++;
                }
    }
    for (int p = 0; p < T; p++) loss_pos[p] = cnt[p] ? loss_pos[p] / (double)cnt[p] : NAN;
    free(cnt);
    return 0;
}

HeadsIcl heads_icl_score(const double *loss_pos, int T) {
    HeadsIcl r;
    r.k_early = (int)lround(50.0 * T / 512.0);
    r.k_late = (int)lround(500.0 * T / 512.0);
    if (r.k_early < 1) r.k_early = 1;
    if (r.k_late > T - 1) r.k_late = T - 1;
    if (r.k_early > T - 1) r.k_early = T - 1;
    // Token k is the target of position k - 1.
    r.loss_early = loss_pos[r.k_early - 1];
    r.loss_late = loss_pos[r.k_late - 1];
    r.score = r.loss_late - r.loss_early;
    return r;
}

// ---- circuits ----------------------------------------------------------------------------------

typedef struct {
    int D, dh, V, n_ctx;
    const float *W_Q, *W_K, *W_V, *W_O;  // this head's slices
    const float *ln;                     // the block's ln1.w, or NULL (no LN or not folding)
    const float *lnf;                    // ln_final.w, or NULL
    int center;                          // centre what is read through a LayerNorm
} HeadW;

static int head_weights(const Transformer *m, int l, int h, int fold_ln, HeadW *w) {
    const TfConfig *c = &m->cfg;
    if (l < 0 || l >= c->n_layers || h < 0 || h >= c->n_heads)
        return err_set("heads: no head L%dH%d in a model with %d layers of %d heads", l, h,
                       c->n_layers, c->n_heads);
    char nm[PARAM_NAME_MAX];
    const float *p[4];
    static const char *const which[4] = {"W_Q", "W_K", "W_V", "W_O"};
    for (int i = 0; i < 4; i++) {
        snprintf(nm, sizeof nm, "blocks.%d.attn.%s", l, which[i]);
        p[i] = params_data(&m->params, nm);
        if (!p[i]) return err_set("heads: the model has no parameter %s", nm);
    }
    w->D = c->d_model;
    w->dh = c->d_head;
    w->V = c->d_vocab;
    w->n_ctx = c->n_ctx;
    size_t hs = (size_t)h * c->d_model * c->d_head;  // every per-head slice is D·dh floats
    w->W_Q = p[0] + hs;
    w->W_K = p[1] + hs;
    w->W_V = p[2] + hs;
    w->W_O = p[3] + hs;
    w->center = fold_ln && c->normalization_type == TF_NORM_LN;
    w->ln = w->lnf = NULL;
    if (w->center) {
        snprintf(nm, sizeof nm, "blocks.%d.ln1.w", l);
        w->ln = params_data(&m->params, nm);
        w->lnf = params_data(&m->params, "ln_final.w");
        if (!w->ln || !w->lnf) return err_set("heads: LayerNorm weights missing");
    }
    return 0;
}

// out[D,dh] = diag(ln)·W (a copy of W without LN).
static void fold_rows(float *out, const float *W, const float *ln, int D, int dh) {
    for (int i = 0; i < D; i++)
        for (int j = 0; j < dh; j++) out[(size_t)i * dh + j] = W[(size_t)i * dh + j] * (ln ? ln[i] : 1.0f);
}

// Removes each row's mean from X[r,c] (a write into the residual stream, as LN will see it).
static void center_rows(float *X, int r, int c) {
    for (int i = 0; i < r; i++) {
        double s = 0;
        for (int j = 0; j < c; j++) s += X[(size_t)i * c + j];
        float mu = (float)(s / c);
        for (int j = 0; j < c; j++) X[(size_t)i * c + j] -= mu;
    }
}

// OV of a resolved head into out[D,D].
static int ov_of(const HeadW *w, float *out) {
    float *Vf = malloc(sizeof(float) * (size_t)w->D * w->dh);
    if (!Vf) return err_set("heads: out of memory");
    fold_rows(Vf, w->W_V, w->ln, w->D, w->dh);
    gemm(false, false, w->D, w->D, w->dh, Vf, w->dh, w->W_O, w->D, out, w->D, false);
    if (w->center) center_rows(out, w->D, w->D);
    free(Vf);
    return 0;
}

static int qk_of(const HeadW *w, float *out) {
    float *Qf = malloc(sizeof(float) * (size_t)w->D * w->dh * 2);
    if (!Qf) return err_set("heads: out of memory");
    float *Kf = Qf + (size_t)w->D * w->dh;
    fold_rows(Qf, w->W_Q, w->ln, w->D, w->dh);
    fold_rows(Kf, w->W_K, w->ln, w->D, w->dh);
    gemm(false, true, w->D, w->D, w->dh, Qf, w->dh, Kf, w->dh, out, w->D, false);
    free(Qf);
    return 0;
}

int heads_ov(const Transformer *m, int l, int h, int fold_ln, float *out) {
    HeadW w;
    return head_weights(m, l, h, fold_ln, &w) ? -1 : ov_of(&w, out);
}

int heads_qk(const Transformer *m, int l, int h, int fold_ln, float *out) {
    HeadW w;
    return head_weights(m, l, h, fold_ln, &w) ? -1 : qk_of(&w, out);
}

// A copy of an embedding-like matrix X[r,D], centred when folding.
static float *embed_copy(const float *X, int r, int D, int center) {
    float *E = malloc(sizeof(float) * (size_t)r * D);
    if (!E) return NULL;
    memcpy(E, X, sizeof(float) * (size_t)r * D);
    if (center) center_rows(E, r, D);
    return E;
}

// out[r,r] = X·M·Xᵀ for X[r,D] (centred when folding) and M[D,D].
static int sandwich(float *out, const float *X, int r, const float *M, int D, int center) {
    float *E = embed_copy(X, r, D, center), *EM = malloc(sizeof(float) * (size_t)r * D);
    int rc = 0;
    if (!E || !EM) {
        rc = err_set("heads: out of memory");
    } else {
        gemm(false, false, r, D, D, E, D, M, D, EM, D, false);
        gemm(false, true, r, r, D, EM, D, E, D, out, r, false);
    }
    free(E);
    free(EM);
    return rc;
}

int heads_qk_circuit(const Transformer *m, int l, int h, int fold_ln, float *out) {
    HeadW w;
    if (head_weights(m, l, h, fold_ln, &w)) return -1;
    float *qk = malloc(sizeof(float) * (size_t)w.D * w.D);
    int rc = !qk ? err_set("heads: out of memory") : qk_of(&w, qk);
    if (!rc) rc = sandwich(out, params_data(&m->params, "embed.W_E"), w.V, qk, w.D, w.center);
    free(qk);
    return rc;
}

int heads_qk_pos_circuit(const Transformer *m, int l, int h, int fold_ln, float *out) {
    HeadW w;
    if (head_weights(m, l, h, fold_ln, &w)) return -1;
    float *qk = malloc(sizeof(float) * (size_t)w.D * w.D);
    int rc = !qk ? err_set("heads: out of memory") : qk_of(&w, qk);
    if (!rc)
        rc = sandwich(out, params_data(&m->params, "pos_embed.W_pos"), w.n_ctx, qk, w.D, w.center);
    free(qk);
    return rc;
}

// U'[D,V] = diag(ln_final.w)·W_U (a copy of W_U without folding).
static float *unembed_copy(const Transformer *m, const HeadW *w) {
    const float *W_U = params_data(&m->params, "unembed.W_U");
    float *U = malloc(sizeof(float) * (size_t)w->D * w->V);
    if (!U) return NULL;
    for (int i = 0; i < w->D; i++)
        for (int j = 0; j < w->V; j++)
            U[(size_t)i * w->V + j] = W_U[(size_t)i * w->V + j] * (w->lnf ? w->lnf[i] : 1.0f);
    return U;
}

int heads_ov_circuit(const Transformer *m, int l, int h, int fold_ln, float *out) {
    HeadW w;
    if (head_weights(m, l, h, fold_ln, &w)) return -1;
    const int D = w.D, V = w.V;
    float *ov = malloc(sizeof(float) * (size_t)D * D), *EO = malloc(sizeof(float) * (size_t)V * D);
    float *E = embed_copy(params_data(&m->params, "embed.W_E"), V, D, w.center);
    float *U = unembed_copy(m, &w);
    int rc = (!ov || !EO || !E || !U) ? err_set("heads: out of memory") : ov_of(&w, ov);
    if (!rc) {
        gemm(false, false, V, D, D, E, D, ov, D, EO, D, false);
        gemm(false, false, V, V, D, EO, D, U, V, out, V, false);
    }
    free(ov);
    free(EO);
    free(E);
    free(U);
    return rc;
}

int heads_copying(const Transformer *m, int l, int h, int fold_ln, HeadsCopying *out) {
    HeadW w;
    if (head_weights(m, l, h, fold_ln, &w)) return -1;
    const int D = w.D, V = w.V, dh = w.dh;
    float *M = malloc(sizeof(float) * (size_t)V * V);
    float *E = embed_copy(params_data(&m->params, "embed.W_E"), V, D, w.center);
    float *U = unembed_copy(m, &w);
    float *Vf = malloc(sizeof(float) * (size_t)D * dh), *A = malloc(sizeof(float) * (size_t)V * dh);
    float *OC = malloc(sizeof(float) * (size_t)dh * D), *Bm = malloc(sizeof(float) * (size_t)dh * V);
    double *S = malloc(sizeof(double) * (size_t)dh * dh * 3);
    int rc = -1;
    if (!M || !E || !U || !Vf || !A || !OC || !Bm || !S) {
        err_set("heads: out of memory");
        goto done;
    }
    if (heads_ov_circuit(m, l, h, fold_ln, M)) goto done;
    // Top-1 and diagonal contrast of the V×V circuit.
    int wins = 0;
    double sum = 0, sum2 = 0, dsum = 0;
    for (int i = 0; i < V; i++) {
        const float *row = M + (size_t)i * V;
        int best = 0;
        for (int j = 1; j < V; j++)
            if (row[j] > row[best]) best = j;
        wins += best == i;
        dsum += row[i];
        for (int j = 0; j < V; j++) sum += row[j], sum2 += (double)row[j] * row[j];
    }
    double nn = (double)V * V, mean = sum / nn, var = sum2 / nn - mean * mean;
    out->top1 = (double)wins / V;
    out->diag = var > 0 ? (dsum / V - mean) / sqrt(var) : NAN;
    // Eigenvalues: W_E·W_OV·W_U = A·B with A = E·diag(ln)·W_V [V,dh] and B = W_O·C·U [dh,V]
    // (C the centring); A·B and B·A [dh,dh] share their non-zero eigenvalues.
    fold_rows(Vf, w.W_V, w.ln, D, dh);
    gemm(false, false, V, dh, D, E, D, Vf, dh, A, dh, false);
    memcpy(OC, w.W_O, sizeof(float) * (size_t)dh * D);
    if (w.center) center_rows(OC, dh, D);
    gemm(false, false, dh, V, D, OC, D, U, V, Bm, V, false);
    double *BA = S, *re = S + (size_t)dh * dh, *im = re + dh;
    for (int i = 0; i < dh; i++)
        for (int j = 0; j < dh; j++) {
            double s = 0;
            for (int k = 0; k < V; k++) s += (double)Bm[(size_t)i * V + k] * A[(size_t)k * dh + j];
            BA[(size_t)i * dh + j] = s;
        }
    if (heads_eigvals(re, im, BA, dh)) goto done;
    double tr = 0, mag = 0;
    for (int i = 0; i < dh; i++) tr += re[i], mag += hypot(re[i], im[i]);
    out->eig = mag > 0 ? tr / mag : NAN;
    rc = 0;
done:
    free(M);
    free(E);
    free(U);
    free(Vf);
    free(A);
    free(OC);
    free(Bm);
    free(S);
    return rc;
}

// ---- eigenvalues of a general real matrix ------------------------------------------------------

// A Householder reflector P = I − β·v·vᵀ with P·x = ∓‖x‖·e1 for x of length n (2 or 3). Returns
// 0 when x is already zero (no reflection needed).
static int reflector(const double *x, int n, double *v, double *beta) {
    double nrm = 0;
    for (int i = 0; i < n; i++) nrm += x[i] * x[i];
    nrm = sqrt(nrm);
    if (nrm == 0) return 0;
    double alpha = x[0] > 0 ? -nrm : nrm;  // the sign that avoids cancellation in x0 − alpha
    v[0] = x[0] - alpha;
    double vv = v[0] * v[0];
    for (int i = 1; i < n; i++) v[i] = x[i], vv += x[i] * x[i];
    *beta = 2.0 / vv;
    return 1;
}

// H[n,n] ← P·H·P on rows/columns k..k+len−1 with P from (v, beta); rows c0..c1 of the right
// application and columns c0..c1 of the left one (the rest of H is not touched).
static void apply_reflector(double *H, int n, int k, int len, const double *v, double beta,
                            int lo, int hi_row, int c_lo, int c_hi) {
    for (int j = c_lo; j <= c_hi; j++) {  // left: rows k..k+len-1
        double s = 0;
        for (int i = 0; i < len; i++) s += v[i] * H[(size_t)(k + i) * n + j];
        s *= beta;
        for (int i = 0; i < len; i++) H[(size_t)(k + i) * n + j] -= s * v[i];
    }
    for (int r = lo; r <= hi_row; r++) {  // right: columns k..k+len-1
        double s = 0;
        for (int i = 0; i < len; i++) s += H[(size_t)r * n + k + i] * v[i];
        s *= beta;
        for (int i = 0; i < len; i++) H[(size_t)r * n + k + i] -= s * v[i];
    }
}

// The two eigenvalues of [[a, b], [c, d]]: d + p ± sqrt(p² + bc) with p = (a − d)/2.
static void eig2(double a, double b, double c, double d, double *re, double *im) {
    double p = 0.5 * (a - d), disc = p * p + b * c, mid = 0.5 * (a + d);
    if (disc >= 0) {
        // z = p ± sq with the sign of p has no cancellation; the other root is d − bc/z
        // (because (p + sq)(p − sq) = −bc), which has none either.
        double sq = sqrt(disc), z = p + (p >= 0 ? sq : -sq);
        re[0] = d + z;
        re[1] = z != 0 ? d - b * c / z : mid;
        im[0] = im[1] = 0;
    } else {
        double sq = sqrt(-disc);
        re[0] = re[1] = mid, im[0] = sq, im[1] = -sq;
    }
}

int heads_eigvals(double *re, double *im, const double *A, int n) {
    if (n < 1) return err_set("eigenvalues: matrix order %d < 1", n);
    for (size_t i = 0; i < (size_t)n * n; i++)
        if (!isfinite(A[i])) return err_set("eigenvalues: the matrix holds NaN or Inf");
    double *H = malloc(sizeof(double) * (size_t)n * n);
    if (!H) return err_set("eigenvalues: out of memory");
    memcpy(H, A, sizeof(double) * (size_t)n * n);
    double anorm = 0;
    for (size_t i = 0; i < (size_t)n * n; i++) anorm += fabs(H[i]);

    // Hessenberg form: reflect H[k+1.., k] onto its first entry, k = 0..n-3.
    double *x = malloc(sizeof(double) * (size_t)n * 2);
    if (!x) {
        free(H);
        return err_set("eigenvalues: out of memory");
    }
    double *v = x + n;
    for (int k = 0; k + 2 < n; k++) {
        int len = n - k - 1;
        for (int i = 0; i < len; i++) x[i] = H[(size_t)(k + 1 + i) * n + k];
        double beta;
        if (!reflector(x, len, v, &beta)) continue;
        apply_reflector(H, n, k + 1, len, v, beta, 0, n - 1, k, n - 1);
        for (int i = k + 2; i < n; i++) H[(size_t)i * n + k] = 0;  // exactly zero below
    }
    free(x);

#define Hh(i, j) H[(size_t)(i) * n + (j)]
    // Francis double-shift QR on the active block [lo, hi]; deflate 1×1 and 2×2 blocks off the
    // bottom. Only the active block is transformed: the blocks above and to the right of it do
    // not change its eigenvalues.
    int hi = n - 1, iter = 0, rc = 0;
    while (hi >= 0) {
        int lo = hi;
        while (lo > 0) {
            double s = fabs(Hh(lo - 1, lo - 1)) + fabs(Hh(lo, lo));
            if (s == 0) s = anorm;
            if (fabs(Hh(lo, lo - 1)) <= DBL_EPSILON * s) {
                Hh(lo, lo - 1) = 0;
                break;
            }
            lo--;
        }
        if (lo == hi) {
            re[hi] = Hh(hi, hi), im[hi] = 0;
            hi--, iter = 0;
            continue;
        }
        if (lo == hi - 1) {
            eig2(Hh(hi - 1, hi - 1), Hh(hi - 1, hi), Hh(hi, hi - 1), Hh(hi, hi), re + hi - 1,
                 im + hi - 1);
            hi -= 2, iter = 0;
            continue;
        }
        if (++iter > 30) {
            rc = err_set("eigenvalues: QR iteration did not converge");
            break;
        }
        // Shifts: the eigenvalues of the trailing 2×2 (sum s, product t); every 10 steps an
        // exceptional shift near the trailing diagonal entry breaks a cycle (LAPACK's dlahqr:
        // the 2×2 [[a, -0.4375e], [e, a]] with a = H[hi,hi] + 0.75e).
        double s, t;
        if (iter % 10 == 0) {
            double e = fabs(Hh(hi, hi - 1)) + fabs(Hh(hi - 1, hi - 2)), a = Hh(hi, hi) + 0.75 * e;
            s = 2 * a, t = a * a + 0.4375 * e * e;
        } else {
            s = Hh(hi - 1, hi - 1) + Hh(hi, hi);
            t = Hh(hi - 1, hi - 1) * Hh(hi, hi) - Hh(hi - 1, hi) * Hh(hi, hi - 1);
        }
        // First column of (H − λ1)(H − λ2) = H² − s·H + t·I.
        double u[3] = {Hh(lo, lo) * Hh(lo, lo) + Hh(lo, lo + 1) * Hh(lo + 1, lo) - s * Hh(lo, lo) + t,
                       Hh(lo + 1, lo) * (Hh(lo, lo) + Hh(lo + 1, lo + 1) - s),
                       Hh(lo + 1, lo) * Hh(lo + 2, lo + 1)};
        double w[3], beta;
        for (int k = lo; k <= hi - 2; k++) {
            if (reflector(u, 3, w, &beta)) {
                int c0 = k > lo ? k - 1 : lo, r1 = k + 3 < hi ? k + 3 : hi;
                apply_reflector(H, n, k, 3, w, beta, lo, r1, c0, hi);
            }
            u[0] = Hh(k + 1, k);
            u[1] = Hh(k + 2, k);
            if (k + 3 <= hi) u[2] = Hh(k + 3, k);
        }
        // The last reflection is 2×2 (chasing the bulge off the bottom).
        if (reflector(u, 2, w, &beta)) apply_reflector(H, n, hi - 1, 2, w, beta, lo, hi, hi - 2, hi);
    }
#undef Hh
    free(H);
    return rc;
}

// ---- composition -----------------------------------------------------------------------------

static double frob(const float *X, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)X[i] * X[i];
    return sqrt(s);
}

// Score with a caller-provided product buffer P[n,m].
static double comp_score(const float *Lm, const float *R, int n, int k, int m, float *P,
                         int transpose_r) {
    gemm(false, transpose_r != 0, n, m, k, Lm, k, R, transpose_r ? k : m, P, m, false);
    double ln = frob(Lm, (size_t)n * k), rn = frob(R, (size_t)k * m);
    if (ln == 0 || rn == 0) return NAN;
    return frob(P, (size_t)n * m) / (ln * rn);
}

double heads_composition_score(const float *Lm, const float *R, int n, int k, int m) {
    float *P = malloc(sizeof(float) * (size_t)n * m);
    if (!P) {
        err_set("heads: out of memory");
        return NAN;
    }
    double s = comp_score(Lm, R, n, k, m, P, 0);
    free(P);
    return s;
}

int heads_composition(const Transformer *m, int fold_ln, float *q, float *k, float *v) {
    const int L = m->cfg.n_layers, H = m->cfg.n_heads, D = m->cfg.d_model;
    if (L < 2) return err_set("heads: composition needs at least 2 layers, the model has %d", L);
    const size_t DD = (size_t)D * D;
    // OV of every head of layer l, QK and OV of every head of layer l+1, one product buffer.
    float *buf = malloc(sizeof(float) * DD * (3 * (size_t)H + 1));
    if (!buf) return err_set("heads: out of memory");
    float *ovA = buf, *qkB = ovA + DD * H, *ovB = qkB + DD * H, *P = ovB + DD * H;
    int rc = 0;
    for (int l = 0; l + 1 < L && !rc; l++) {
        for (int h = 0; h < H && !rc; h++) {
            HeadW a, b;
            rc = head_weights(m, l, h, fold_ln, &a) || head_weights(m, l + 1, h, fold_ln, &b) ||
                 ov_of(&a, ovA + DD * h) || qk_of(&b, qkB + DD * h) || ov_of(&b, ovB + DD * h);
        }
        for (int i = 0; i < H && !rc; i++)
            for (int j = 0; j < H; j++) {
                size_t at = ((size_t)l * H + i) * H + j;
                const float *Lm = ovA + DD * i;
                q[at] = (float)comp_score(Lm, qkB + DD * j, D, D, D, P, 0);
                k[at] = (float)comp_score(Lm, qkB + DD * j, D, D, D, P, 1);  // W_QKᵀ
                v[at] = (float)comp_score(Lm, ovB + DD * j, D, D, D, P, 0);
            }
    }
    free(buf);
    return rc ? -1 : 0;
}

// ---- ablation ----------------------------------------------------------------------------------

static int ablate_hook(const char *name, Tensor z, void *user) {
    const HeadsAblation *a = user;
    int l;
    if (sscanf(name, "blocks.%d.", &l) != 1 || l < 0 || l >= a->n_layers)
        return err_set("head ablation: unexpected hook point %s", name);
    const int B = z.shape[0], T = z.shape[1], H = z.shape[2], dh = z.shape[3];
    if (z.ndim != 4 || H != a->n_heads || dh != a->d_head)
        return err_set("head ablation: built for %d heads of %d, the model has %d of %d",
                       a->n_heads, a->d_head, H, dh);
    for (int h = 0; h < H; h++) {
        if (!a->mask[l * H + h]) continue;
        const float *mu = a->kind == HEADS_ABLATE_MEAN ? a->means + ((size_t)l * H + h) * dh : NULL;
        for (size_t bt = 0; bt < (size_t)B * T; bt++) {
            float *zz = z.data + (bt * H + h) * dh;
            for (int d = 0; d < dh; d++) zz[d] = mu ? mu[d] : 0.0f;
        }
    }
    return 0;
}

int heads_ablation_hooks(HookList *hl, const HeadsAblation *a) {
    if (!a->mask) return err_set("head ablation: no mask");
    if (a->kind == HEADS_ABLATE_MEAN && !a->means) return err_set("head ablation: mean ablation needs the means");
    return hooks_add(hl, "blocks.*.attn.hook_z", HOOK_FORWARD, ablate_hook, (void *)a);
}

int heads_z_means(Transformer *m, const int *tokens, int n, int T, float *means) {
    if (check_seqs(m, n, T)) return -1;
    const int L = m->cfg.n_layers, H = m->cfg.n_heads, dh = m->cfg.d_head;
    const size_t per = (size_t)H * dh;
    double *sum = calloc((size_t)L * per, sizeof(double));
    if (!sum) return err_set("heads: out of memory");
    for (int b0 = 0; b0 < n; b0 += m->max_batch) {
        int B = n - b0 < m->max_batch ? n - b0 : m->max_batch;
        if (tf_forward(m, tokens + (size_t)b0 * T, NULL, B, T, NULL, NULL)) {
            free(sum);
            return -1;
        }
        for (int l = 0; l < L; l++) {
            char name[64];
            snprintf(name, sizeof name, "blocks.%d.attn.hook_z", l);
            Tensor z = tf_act(m, name);  // [B,T,H,dh]
            for (size_t bt = 0; bt < (size_t)B * T; bt++)
                for (size_t i = 0; i < per; i++) sum[l * per + i] += z.data[bt * per + i];
        }
    }
    for (size_t i = 0; i < (size_t)L * per; i++) means[i] = (float)(sum[i] / ((double)n * T));
    free(sum);
    return 0;
}
