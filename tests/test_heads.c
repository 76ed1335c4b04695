// Head analysis: detector scores on hand-built patterns with exact answers, the ICL score's
// positions, composition scores of matrices with closed-form answers, circuits of hand-set
// weights, eigenvalues of matrices with known spectra, and ablation through hooks.
#include <math.h>
#include <string.h>

#include "datasets/npy.h"
#include "datasets/tokens.h"
#include "helpers.h"
#include "interp/heads.h"
#include "model/err.h"
#include "model/rng.h"

TestSuite(heads);

static const HeadsScoreOpts TL = {0};  // TL's defaults: mul, nothing excluded, every row

// att[T,T] of a head that attends exactly to the previous token (position 0 attends to itself).
static void prev_attention(float *att, int T) {
    memset(att, 0, sizeof(float) * T * T);
    att[0] = 1;
    for (int t = 1; t < T; t++) att[t * T + t - 1] = 1;
}

static void uniform_attention(float *att, int T) {
    memset(att, 0, sizeof(float) * T * T);
    for (int t = 0; t < T; t++)
        for (int s = 0; s <= t; s++) att[t * T + s] = 1.0f / (t + 1);
}

Test(heads, detection_patterns_match_a_hand_worked_sequence) {
    // positions: 0  1  2  3  4  5  6
    const int tok[7] = {9, 1, 2, 1, 2, 3, 3};
    float det[49];
    heads_detection_pattern(det, HEADS_PREV, tok, 7);
    for (int t = 0; t < 7; t++)
        for (int s = 0; s < 7; s++) cr_assert_eq(det[t * 7 + s], (float)(s == t - 1));
    // Duplicates (earlier position, same token): (3,1), (4,2), (6,5).
    heads_detection_pattern(det, HEADS_DUP, tok, 7);
    int want_dup[][2] = {{3, 1}, {4, 2}, {6, 5}}, n = 0;
    for (int i = 0; i < 49; i++) n += det[i] != 0;
    cr_assert_eq(n, 3);
    for (int i = 0; i < 3; i++) cr_assert_eq(det[want_dup[i][0] * 7 + want_dup[i][1]], 1.0f);
    // Induction (the position after an earlier occurrence): 3 → 2, 4 → 3, and 6 → 6 (token 5 is a
    // 3 like token 6, and TL's shifted pattern keeps the diagonal).
    heads_detection_pattern(det, HEADS_IND, tok, 7);
    int want_ind[][2] = {{3, 2}, {4, 3}, {6, 6}};
    n = 0;
    for (int i = 0; i < 49; i++) n += det[i] != 0;
    cr_assert_eq(n, 3);
    for (int i = 0; i < 3; i++) cr_assert_eq(det[want_ind[i][0] * 7 + want_ind[i][1]], 1.0f);
}

Test(heads, an_exact_previous_token_head) {
    enum { T = 17 };
    float att[T * T], det[T * T];
    int tok[T];
    for (int t = 0; t < T; t++) tok[t] = t;
    prev_attention(att, T);
    heads_detection_pattern(det, HEADS_PREV, tok, T);
    // TL: position 0 has no previous token but its row still counts: (T-1)/T.
    cr_assert_float_eq(heads_score(att, det, T, &TL), (T - 1.0) / T, 1e-12);
    HeadsScoreOpts rows = {.target_rows_only = 1}, bos = {.exclude_bos = 1};
    cr_assert_float_eq(heads_score(att, det, T, &rows), 1.0, 1e-12);
    // Excluding BOS drops row 0's mass and row 1's (which is on position 0): (T-2)/(T-2).
    cr_assert_float_eq(heads_score(att, det, T, &bos), 1.0, 1e-12);
    // abs: the only mismatch is row 0's attention to itself: 1 - 1/T.
    HeadsScoreOpts ab = {.measure = HEADS_ABS};
    cr_assert_float_eq(heads_score(att, det, T, &ab), 1.0 - 1.0 / T, 1e-12);
    // The same head scores 0 as an induction head on distinct tokens (no targets at all) ...
    heads_detection_pattern(det, HEADS_IND, tok, T);
    cr_assert_float_eq(heads_score(att, det, T, &TL), 0.0, 1e-12);
    // ... and NaN where only target rows count and there are none.
    cr_assert(isnan(heads_score(att, det, T, &rows)));
}

// Uniform causal attention: row t spreads 1/(t+1) over positions 0..t.
Test(heads, uniform_attention_has_closed_form_scores) {
    enum { L = 9, T = 2 * L + 1 };
    float att[T * T], det[T * T];
    int tok[T];
    tok[0] = 100;  // BOS, then L distinct tokens, repeated
    for (int i = 0; i < L; i++) tok[1 + i] = tok[1 + L + i] = i;
    uniform_attention(att, T);
    // previous token: Σ_{t>=1} 1/(t+1) / T = (H_T - 1)/T.
    double harm = 0;
    for (int t = 1; t <= T; t++) harm += 1.0 / t;
    heads_detection_pattern(det, HEADS_PREV, tok, T);
    cr_assert_float_eq(heads_score(att, det, T, &TL), (harm - 1) / T, 1e-7);
    // Excluding the current token: numerator as before, denominator Σ_t t/(t+1) = T - H_T.
    HeadsScoreOpts cur = {.exclude_current_token = 1};
    cr_assert_float_eq(heads_score(att, det, T, &cur), (harm - 1) / (T - harm), 1e-7);
    // induction: query 1+L+i has the one target 2+i and T' = 2+L+i keys.
    double s = 0;
    for (int i = 0; i < L; i++) s += 1.0 / (2 + L + i);
    heads_detection_pattern(det, HEADS_IND, tok, T);
    cr_assert_float_eq(heads_score(att, det, T, &TL), s / T, 1e-7);
    HeadsScoreOpts rows = {.target_rows_only = 1};
    cr_assert_float_eq(heads_score(att, det, T, &rows), s / L, 1e-7);
    // duplicate: query 1+L+i has the one target 1+i, mass 1/(2+L+i) too.
    heads_detection_pattern(det, HEADS_DUP, tok, T);
    cr_assert_float_eq(heads_score(att, det, T, &TL), s / T, 1e-7);
}

// ---- a model to run the model-level functions on ----------------------------------------------

static Transformer *make_model(int layers, int heads, int d_model, int d_head, int vocab, int n_ctx,
                               TfNorm norm, int max_batch, uint64_t seed) {
    TfConfig c = {.n_layers = layers, .d_model = d_model, .n_heads = heads, .d_head = d_head,
                  .attn_only = true, .n_ctx = n_ctx, .d_vocab = vocab,
                  .normalization_type = norm, .eps = 1e-5f};
    Transformer *m = tf_create(&c, max_batch);
    cr_assert_not_null(m, "%s", err_msg());
    tf_init_weights(m, seed);
    return m;
}

// Overwrites every head's pattern with an exact previous-token pattern.
static int force_prev(const char *name, Tensor p, void *u) {
    (void)name;
    (void)u;
    int T = p.shape[2];
    for (int r = 0; r < p.shape[0] * p.shape[1]; r++) prev_attention(p.data + (size_t)r * T * T, T);
    return 0;
}

Test(heads, detect_averages_per_sequence_scores_over_batches) {
    Transformer *m = make_model(2, 3, 12, 4, 10, 9, TF_NORM_LN, 2, 1);
    enum { N = 5, T = 9 };  // 5 sequences through a model that takes 2 at a time
    int tok[N * T];
    Rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < N * T; i++) tok[i] = (int)rng_int(&r, 10);
    HookList hl = {0};
    hooks_add(&hl, "blocks.*.attn.hook_pattern", HOOK_FORWARD, force_prev, NULL);
    float sc[HEADS_N_PATTERNS * 6];
    cr_assert_eq(heads_detect(m, tok, N, T, &hl, &TL, sc), 0, "%s", err_msg());
    for (int i = 0; i < 6; i++) cr_assert_float_eq(sc[HEADS_PREV * 6 + i], (T - 1.0) / T, 1e-6);
    // Induction and duplicate scores of that head: the mean over sequences of the number of
    // query rows whose target is the previous position, over T.
    double want_ind = 0, want_dup = 0;
    for (int b = 0; b < N; b++) {
        const int *s = tok + b * T;
        int ni = 0, nd = 0;
        for (int t = 1; t < T; t++) {
            if (t >= 2 && s[t - 2] == s[t]) ni++;  // attends t-1, the token after s[t-2]
            if (s[t - 1] == s[t]) nd++;
        }
        want_ind += (double)ni / T / N, want_dup += (double)nd / T / N;
    }
    for (int i = 0; i < 6; i++) {
        cr_assert_float_eq(sc[HEADS_IND * 6 + i], want_ind, 1e-6);
        cr_assert_float_eq(sc[HEADS_DUP * 6 + i], want_dup, 1e-6);
    }
    // Without the hook the model's own (random) patterns are far from previous-token.
    cr_assert_eq(heads_detect(m, tok, N, T, NULL, &TL, sc), 0, "%s", err_msg());
    for (int i = 0; i < 6; i++) cr_assert_lt(sc[HEADS_PREV * 6 + i], 0.6);
    hooks_free(&hl);
    tf_free(m);
}

Test(heads, icl_score_positions_scale_with_the_context) {
    double lp[512];
    for (int p = 0; p < 512; p++) lp[p] = p;  // loss of predicting token k = k - 1
    HeadsIcl a = heads_icl_score(lp, 512);
    cr_assert(a.k_early == 50 && a.k_late == 500);
    cr_assert_float_eq(a.score, 450.0, 1e-12);
    HeadsIcl b = heads_icl_score(lp, 63);  // 50·63/512 = 6.15, 500·63/512 = 61.5
    cr_assert(b.k_early == 6 && b.k_late == 62, "%d %d", b.k_early, b.k_late);
    cr_assert_float_eq(b.loss_early, 5.0, 1e-12);
    cr_assert_float_eq(b.score, 56.0, 1e-12);
}

// ---- composition and circuits ------------------------------------------------------------------

static void rand_vec(Rng *r, float *x, int n) { rng_fill_normal(r, x, (size_t)n, 0, 1); }
static double dotf(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

Test(heads, composition_score_of_known_matrices) {
    enum { n = 6 };
    float I[n * n] = {0}, E1[n * n] = {0}, E2[n * n] = {0};
    for (int i = 0; i < n; i++) I[i * n + i] = 1;
    E1[0] = 1;
    E2[n + 1] = 1;
    cr_assert_float_eq(heads_composition_score(I, I, n, n, n), 1 / sqrt((double)n), 1e-6);
    cr_assert_float_eq(heads_composition_score(E1, E1, n, n, n), 1.0, 1e-6);
    cr_assert_float_eq(heads_composition_score(E1, E2, n, n, n), 0.0, 1e-6);
    // Rank one: L = a·bᵀ, R = c·dᵀ gives |cos(b, c)|; rectangular shapes.
    Rng r;
    rng_seed(&r, 11);
    float a[5], b[7], c[7], d[3], Lm[5 * 7], R[7 * 3];
    rand_vec(&r, a, 5), rand_vec(&r, b, 7), rand_vec(&r, c, 7), rand_vec(&r, d, 3);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 7; j++) Lm[i * 7 + j] = a[i] * b[j];
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 3; j++) R[i * 3 + j] = c[i] * d[j];
    double want = fabs(dotf(b, c, 7)) / sqrt(dotf(b, b, 7) * dotf(c, c, 7));
    cr_assert_float_eq(heads_composition_score(Lm, R, 5, 7, 3), want, 1e-5);
}

// With d_head = 1 every W_OV and W_QK is rank one, so Q-, K- and V-composition are cosines:
// W_OV(0,i) = a_i·b_iᵀ, W_QK(1,j) = c_j·d_jᵀ, W_OV(1,j) = e_j·f_jᵀ give Q = |cos(b_i, c_j)|,
// K = |cos(b_i, d_j)|, V = |cos(b_i, e_j)|.
Test(heads, composition_of_rank_one_heads_is_a_cosine) {
    enum { D = 8, H = 2 };
    Transformer *m = make_model(2, H, D, 1, 5, 4, TF_NORM_NONE, 1, 2);
    float q[H * H], k[H * H], v[H * H];
    cr_assert_eq(heads_composition(m, 1, q, k, v), 0, "%s", err_msg());
    const float *W_O0 = params_data(&m->params, "blocks.0.attn.W_O");  // [H,1,D]: b_i
    const float *W_Q1 = params_data(&m->params, "blocks.1.attn.W_Q");  // [H,D,1]: c_j
    const float *W_K1 = params_data(&m->params, "blocks.1.attn.W_K");
    const float *W_V1 = params_data(&m->params, "blocks.1.attn.W_V");
    for (int i = 0; i < H; i++)
        for (int j = 0; j < H; j++) {
            const float *bi = W_O0 + i * D;
            double nb = sqrt(dotf(bi, bi, D));
#define COS(x) (fabs(dotf(bi, (x), D)) / (nb * sqrt(dotf((x), (x), D))))
            cr_assert_float_eq(q[i * H + j], COS(W_Q1 + j * D), 1e-5);
            cr_assert_float_eq(k[i * H + j], COS(W_K1 + j * D), 1e-5);
            cr_assert_float_eq(v[i * H + j], COS(W_V1 + j * D), 1e-5);
#undef COS
        }
    float one[1];
    Transformer *m1 = make_model(1, 1, D, 1, 5, 4, TF_NORM_NONE, 1, 2);
    cr_assert_eq(heads_composition(m1, 0, one, one, one), -1);
    tf_free(m1);
    tf_free(m);
}

// A 2-dim model with hand-set weights: the circuits' shapes and entries worked by hand.
Test(heads, circuits_of_hand_set_weights) {
    enum { D = 2, V = 3 };
    Transformer *m = make_model(1, 2, D, 1, V, 2, TF_NORM_LN, 1, 1);
    float *W_E = params_data(&m->params, "embed.W_E"), *W_U = params_data(&m->params, "unembed.W_U");
    float *W_Q = params_data(&m->params, "blocks.0.attn.W_Q"), *W_K = params_data(&m->params, "blocks.0.attn.W_K");
    float *W_V = params_data(&m->params, "blocks.0.attn.W_V"), *W_O = params_data(&m->params, "blocks.0.attn.W_O");
    float *ln = params_data(&m->params, "blocks.0.ln1.w"), *lnf = params_data(&m->params, "ln_final.w");
    const float E[V * D] = {1, 2, 3, 5, -1, 4}, U[D * V] = {1, 0, 2, -1, 3, 1};
    memcpy(W_E, E, sizeof E);
    memcpy(W_U, U, sizeof U);
    // head 1 (head 0 keeps its random weights): W_Q = (1, 2)ᵀ, W_K = (3, -1)ᵀ, W_V = (2, 1)ᵀ,
    // W_O = (1, -1).
    const float q1[2] = {1, 2}, k1[2] = {3, -1}, v1[2] = {2, 1}, o1[2] = {1, -1};
    memcpy(W_Q + 2, q1, 8), memcpy(W_K + 2, k1, 8), memcpy(W_V + 2, v1, 8), memcpy(W_O + 2, o1, 8);
    ln[0] = 2, ln[1] = 0.5f, lnf[0] = 1, lnf[1] = 3;
    float ov[D * D], qk[D * D], full[V * V], qkf[V * V], pos[2 * 2];
    // Raw: W_OV = (2,1)ᵀ(1,-1) = [[2,-2],[1,-1]]; W_QK = (1,2)ᵀ(3,-1) = [[3,-1],[6,-2]].
    cr_assert_eq(heads_ov(m, 0, 1, 0, ov), 0, "%s", err_msg());
    const float ov_want[4] = {2, -2, 1, -1};
    assert_allclose(ov, ov_want, 4, 1e-6, 0);
    cr_assert_eq(heads_qk(m, 0, 1, 0, qk), 0);
    const float qk_want[4] = {3, -1, 6, -2};
    assert_allclose(qk, qk_want, 4, 1e-6, 0);
    // Full OV [V,V]: W_E[2] = (-1,4) → (-1,4)·W_OV = (2, -2) → ·W_U = (2·1 - 2·(-1), 0 - 6, 4 - 2)
    cr_assert_eq(heads_ov_circuit(m, 0, 1, 0, full), 0);
    cr_assert_float_eq(full[2 * V + 0], 4.0f, 1e-5);
    cr_assert_float_eq(full[2 * V + 1], -6.0f, 1e-5);
    cr_assert_float_eq(full[2 * V + 2], 2.0f, 1e-5);
    // Full QK: query token 0 (1,2), key token 1 (3,5): (1,2)·W_QK·(3,5)ᵀ = (15, -5)·(3,5) = 20.
    cr_assert_eq(heads_qk_circuit(m, 0, 1, 0, qkf), 0);
    cr_assert_float_eq(qkf[0 * V + 1], 20.0f, 1e-4);
    // Folded: W_QK ← diag(w)·W_QK·diag(w) = [[3·4, -1·1], [6·1, -2·0.25]].
    cr_assert_eq(heads_qk(m, 0, 1, 1, qk), 0);
    const float qkf_want[4] = {12, -1, 6, -0.5f};
    assert_allclose(qk, qkf_want, 4, 1e-6, 0);
    // Folded OV: diag(w)·W_OV = [[4,-4],[0.5,-0.5]], then each row centred: [[4,-4],[0.5,-0.5]]
    // (already zero-mean rows); the full circuit centres W_E rows: (-1,4) → (-2.5, 2.5), and
    // folds ln_final.w into W_U: rows (1,0,2), (-3,9,3).
    cr_assert_eq(heads_ov(m, 0, 1, 1, ov), 0);
    const float ovf_want[4] = {4, -4, 0.5f, -0.5f};
    assert_allclose(ov, ovf_want, 4, 1e-6, 0);
    cr_assert_eq(heads_ov_circuit(m, 0, 1, 1, full), 0);
    // (-2.5, 2.5)·W_OV' = (-10 + 1.25, 10 - 1.25) = (-8.75, 8.75); ·U' = (-8.75 - 26.25, 78.75,
    // -17.5 + 26.25)
    cr_assert_float_eq(full[2 * V + 0], -35.0f, 1e-4);
    cr_assert_float_eq(full[2 * V + 1], 78.75f, 1e-4);
    cr_assert_float_eq(full[2 * V + 2], 8.75f, 1e-4);
    cr_assert_eq(heads_qk_pos_circuit(m, 0, 1, 0, pos), 0);  // [n_ctx, n_ctx] = 2×2
    const float *W_pos = params_data(&m->params, "pos_embed.W_pos");
    double p01 = (W_pos[0] * 3 + W_pos[1] * 6) * W_pos[2] + (W_pos[0] * -1 + W_pos[1] * -2) * W_pos[3];
    cr_assert_float_eq(pos[1], p01, 1e-5);
    cr_assert_eq(heads_ov(m, 1, 0, 0, ov), -1, "layer 1 does not exist");
    tf_free(m);
}

Test(heads, copying_scores_of_a_copier_and_an_anti_copier) {
    enum { D = 4, V = 4 };
    Transformer *m = make_model(1, 1, D, D, V, 3, TF_NORM_NONE, 1, 1);
    float *W_E = params_data(&m->params, "embed.W_E"), *W_U = params_data(&m->params, "unembed.W_U");
    float *W_V = params_data(&m->params, "blocks.0.attn.W_V"), *W_O = params_data(&m->params, "blocks.0.attn.W_O");
    for (int i = 0; i < D * D; i++) W_E[i] = W_U[i] = W_V[i] = W_O[i] = (i % (D + 1)) == 0;
    HeadsCopying c;
    cr_assert_eq(heads_copying(m, 0, 0, 1, &c), 0, "%s", err_msg());
    cr_assert_float_eq(c.eig, 1.0, 1e-9);
    cr_assert_float_eq(c.top1, 1.0, 1e-12);
    // Identity 4×4: diagonal mean 1, overall mean 1/4, std sqrt(3)/4 → (3/4)/(sqrt(3)/4) = sqrt(3).
    cr_assert_float_eq(c.diag, sqrt(3.0), 1e-6);
    for (int i = 0; i < D * D; i++) W_O[i] = -W_O[i];
    cr_assert_eq(heads_copying(m, 0, 0, 1, &c), 0, "%s", err_msg());
    cr_assert_float_eq(c.eig, -1.0, 1e-9);
    cr_assert_float_eq(c.top1, 0.0, 1e-12);
    // A rotation by 90° in the first plane: eigenvalues ±i, 1, 1 → Σλ/Σ|λ| = 2/4.
    for (int i = 0; i < D * D; i++) W_O[i] = (i % (D + 1)) == 0;
    W_O[0] = 0, W_O[1] = 1, W_O[D] = -1, W_O[D + 1] = 0;
    cr_assert_eq(heads_copying(m, 0, 0, 1, &c), 0, "%s", err_msg());
    cr_assert_float_eq(c.eig, 0.5, 1e-9);
    tf_free(m);
}

// ---- eigenvalues -------------------------------------------------------------------------------

static int cmp_complex(const void *a, const void *b) {
    const double *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

// Eigenvalues of Q·B·Qᵀ for a block-diagonal B with known eigenvalues and an orthogonal Q (a
// product of two Householder reflections), compared sorted.
Test(heads, eigenvalues_of_a_rotated_block_diagonal_matrix) {
    enum { n = 7 };
    // Blocks: [[a, b], [-b, a]] has a ± ib.
    double B[n * n] = {0};
    double want[n][2] = {{2, 3}, {2, -3}, {-1, 0.5}, {-1, -0.5}, {4, 0}, {-7, 0}, {0.25, 0}};
    B[0 * n + 0] = 2, B[0 * n + 1] = 3, B[1 * n + 0] = -3, B[1 * n + 1] = 2;
    B[2 * n + 2] = -1, B[2 * n + 3] = 0.5, B[3 * n + 2] = -0.5, B[3 * n + 3] = -1;
    B[4 * n + 4] = 4, B[5 * n + 5] = -7, B[6 * n + 6] = 0.25;
    B[4 * n + 6] = 9;  // upper-triangular coupling does not change the spectrum
    double Q[n * n], T1[n * n], A[n * n];
    for (int i = 0; i < n * n; i++) Q[i] = (i % (n + 1)) == 0;
    Rng r;
    rng_seed(&r, 17);
    for (int rep = 0; rep < 2; rep++) {  // Q ← (I − 2uuᵀ/uᵀu)·Q
        double u[n], uu = 0;
        for (int i = 0; i < n; i++) u[i] = rng_normal(&r), uu += u[i] * u[i];
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += u[i] * Q[i * n + j];
            for (int i = 0; i < n; i++) Q[i * n + j] -= 2 * u[i] * s / uu;
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += Q[i * n + k] * B[k * n + j];
            T1[i * n + j] = s;
        }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += T1[i * n + k] * Q[j * n + k];
            A[i * n + j] = s;
        }
    double re[n], im[n], got[n][2];
    cr_assert_eq(heads_eigvals(re, im, A, n), 0, "%s", err_msg());
    for (int i = 0; i < n; i++) got[i][0] = re[i], got[i][1] = im[i];
    qsort(got, n, sizeof got[0], cmp_complex);
    qsort(want, n, sizeof want[0], cmp_complex);
    for (int i = 0; i < n; i++)
        cr_assert(fabs(got[i][0] - want[i][0]) < 1e-9 && fabs(got[i][1] - want[i][1]) < 1e-9,
                  "eigenvalue %d: %g%+gi, want %g%+gi", i, got[i][0], got[i][1], want[i][0],
                  want[i][1]);
}

// Clustered spectra (near-equal real eigenvalues, close complex pairs with small imaginary
// parts, as the OV circuits of trained heads have): Q·(B + N)·Qᵀ with B block-diagonal, N strictly
// upper-triangular coupling between blocks and Q orthogonal, so the eigenvalues are B's.
Test(heads, eigenvalues_of_clustered_non_normal_matrices) {
    enum { n = 16 };
    Rng r;
    rng_seed(&r, 23);
    for (int trial = 0; trial < 40; trial++) {
        double B[n * n] = {0}, want[n][2];
        int i = 0;
        while (i < n) {
            double c = 0.2 + 1.3 * rng_uniform_d(&r);
            if (i + 1 < n && rng_uniform_d(&r) < 0.5) {
                double b = 0.001 + 0.05 * rng_uniform_d(&r);
                B[i * n + i] = B[(i + 1) * n + i + 1] = c;
                B[i * n + i + 1] = b, B[(i + 1) * n + i] = -b;
                want[i][0] = want[i + 1][0] = c, want[i][1] = b, want[i + 1][1] = -b;
                i += 2;
            } else {
                B[i * n + i] = want[i][0] = c + 1e-3 * (rng_uniform_d(&r) - 0.5);
                want[i][1] = 0;
                i++;
            }
        }
        for (int a = 0; a < n; a++)  // coupling above the blocks
            for (int b = a + 2; b < n; b++) B[a * n + b] += 0.3 * (rng_uniform_d(&r) - 0.5);
        double Q[n * n], T1[n * n], A[n * n];
        for (int k = 0; k < n * n; k++) Q[k] = (k % (n + 1)) == 0;
        for (int rep = 0; rep < 3; rep++) {
            double u[n], uu = 0;
            for (int k = 0; k < n; k++) u[k] = rng_normal(&r), uu += u[k] * u[k];
            for (int j = 0; j < n; j++) {
                double sdot = 0;
                for (int k = 0; k < n; k++) sdot += u[k] * Q[k * n + j];
                for (int k = 0; k < n; k++) Q[k * n + j] -= 2 * u[k] * sdot / uu;
            }
        }
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) {
                double sdot = 0;
                for (int k = 0; k < n; k++) sdot += Q[a * n + k] * B[k * n + b];
                T1[a * n + b] = sdot;
            }
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) {
                double sdot = 0;
                for (int k = 0; k < n; k++) sdot += T1[a * n + k] * Q[b * n + k];
                A[a * n + b] = sdot;
            }
        double re[n], im[n], got[n][2];
        cr_assert_eq(heads_eigvals(re, im, A, n), 0, "trial %d: %s", trial, err_msg());
        for (int k = 0; k < n; k++) got[k][0] = re[k], got[k][1] = im[k];
        qsort(got, n, sizeof got[0], cmp_complex);
        qsort(want, n, sizeof want[0], cmp_complex);
        double tr = 0, sum = 0;
        for (int k = 0; k < n; k++) tr += A[k * n + k], sum += re[k];
        cr_assert(fabs(tr - sum) < 1e-12, "trial %d: eigenvalues sum to %.15g, trace %.15g", trial,
                  sum, tr);
        // Close eigenvalues are ill-conditioned: compare to 1e-5, far below their spacing.
        for (int k = 0; k < n; k++)
            cr_assert(fabs(got[k][0] - want[k][0]) < 1e-5 && fabs(got[k][1] - want[k][1]) < 1e-5,
                      "trial %d eigenvalue %d: %g%+gi, want %g%+gi", trial, k, got[k][0],
                      got[k][1], want[k][0], want[k][1]);
    }
}

// A matrix the QR iteration once stalled on (see tests/ref/make_eig_ref.py), against numpy.
static const double EIG_STALL[16][2] = {
    {0.21576776526575092, 0},
    {0.48756138903211549, 0},
    {0.62176670269680856, 0},
    {0.75600512312979085, -0.037390060262662873},
    {0.75600512312979085, 0.037390060262662873},
    {0.82431501588928557, 0},
    {0.84471989400941361, 0},
    {0.93252322301902102, 0},
    {1.0310644541234051, 0},
    {1.2021632395253405, 0},
    {1.2086259102589616, -0.04719712349005277},
    {1.2086259102589616, 0.04719712349005277},
    {1.3271774217094285, -0.030452106827311441},
    {1.3271774217094285, 0.030452106827311441},
    {1.3909988412253262, 0},
    {1.4835156141583299, 0},
};

Test(heads, eigenvalues_of_a_trained_heads_ov_circuit) {
    NpyArray a = {0};
    cr_assert_eq(npy_load(&a, "tests/ref/eig_stall.npy"), 0, "%s", err_msg());
    cr_assert(a.dtype == NPY_F64 && a.ndim == 2 && a.shape[0] == 16 && a.shape[1] == 16);
    double re[16], im[16], got[16][2];
    cr_assert_eq(heads_eigvals(re, im, a.data, 16), 0, "%s", err_msg());
    for (int k = 0; k < 16; k++) got[k][0] = re[k], got[k][1] = im[k];
    qsort(got, 16, sizeof got[0], cmp_complex);
    for (int k = 0; k < 16; k++)
        cr_assert(fabs(got[k][0] - EIG_STALL[k][0]) < 1e-10 && fabs(got[k][1] - EIG_STALL[k][1]) < 1e-10,
                  "eigenvalue %d: %.12g%+.12gi, numpy %.12g%+.12gi", k, got[k][0], got[k][1],
                  EIG_STALL[k][0], EIG_STALL[k][1]);
    npy_free(&a);
}

// The companion matrix of (x−1)(x−2)(x−3)(x²+1) = x⁵ − 6x⁴ + 12x³ − 12x² + 11x − 6 has the roots
// 1, 2, 3, ±i; small orders and bad input behave.
Test(heads, eigenvalues_of_a_companion_matrix_and_edge_cases) {
    enum { n = 5 };
    const double c[n] = {-6, 12, -12, 11, -6};  // x⁵ + c0·x⁴ + ... + c4
    double A[n * n] = {0};
    for (int j = 0; j < n; j++) A[j] = -c[j];
    for (int i = 1; i < n; i++) A[i * n + i - 1] = 1;
    double re[n], im[n], got[n][2], want[n][2] = {{0, -1}, {0, 1}, {1, 0}, {2, 0}, {3, 0}};
    cr_assert_eq(heads_eigvals(re, im, A, n), 0, "%s", err_msg());
    for (int i = 0; i < n; i++) got[i][0] = re[i], got[i][1] = im[i];
    qsort(got, n, sizeof got[0], cmp_complex);
    for (int i = 0; i < n; i++)
        cr_assert(fabs(got[i][0] - want[i][0]) < 1e-8 && fabs(got[i][1] - want[i][1]) < 1e-8,
                  "root %d: %g%+gi", i, got[i][0], got[i][1]);
    double one = 3.5;
    cr_assert_eq(heads_eigvals(re, im, &one, 1), 0);
    cr_assert(re[0] == 3.5 && im[0] == 0);
    double z[4] = {0};
    cr_assert_eq(heads_eigvals(re, im, z, 2), 0);
    cr_assert(re[0] == 0 && re[1] == 0);
    // A rank-one 2×2 (eigenvalues 0 and the trace) with a < d: the small root must not come
    // from a cancelling difference that the determinant is then divided by (that gave 0.123
    // for 0.00226).
    double r1[4] = {-0.08730343801982872, 0.1810540711968433, -0.04318606199151126,
                    0.089561333664162};
    cr_assert_eq(heads_eigvals(re, im, r1, 2), 0);
    double lo = fmin(re[0], re[1]), hi = fmax(re[0], re[1]), tr = r1[0] + r1[3];
    cr_assert(fabs(lo) < 1e-15 && fabs(hi - tr) < 1e-15, "%.17g %.17g (trace %.17g)", lo, hi, tr);
    double bad[4] = {1, NAN, 0, 1};
    cr_assert_eq(heads_eigvals(re, im, bad, 2), -1);
    cr_assert(strstr(err_msg(), "NaN"));
}

// ---- ablation ------------------------------------------------------------------------------------

static double ce_loss(const double *logits, int V, int target) {
    double mx = logits[0], s = 0;
    for (int v = 1; v < V; v++) mx = logits[v] > mx ? logits[v] : mx;
    for (int v = 0; v < V; v++) s += exp(logits[v] - mx);
    return log(s) + mx - logits[target];
}

// Zero-ablating the only head of a 1-layer attention-only model leaves the embedding path:
// loss = CE(LN_final(W_E[tok] + W_pos[t] + b_O)·W_U + b_U), computed here in double.
Test(heads, zero_ablating_the_only_head_leaves_the_embedding_path) {
    enum { D = 8, V = 7, T = 6, B = 3 };
    Transformer *m = make_model(1, 1, D, 4, V, T, TF_NORM_LN, B, 4);
    float *b_O = params_data(&m->params, "blocks.0.attn.b_O");
    for (int d = 0; d < D; d++) b_O[d] = 0.1f * (d - 3);  // non-zero so the test sees b_O kept
    int tok[B * T], tg[B * T];
    Rng r;
    rng_seed(&r, 8);
    for (int i = 0; i < B * T; i++) tok[i] = (int)rng_int(&r, V);
    for (int i = 0; i < B * T; i++) tg[i] = i % T == T - 1 ? -1 : tok[i + 1];
    const float *W_E = params_data(&m->params, "embed.W_E"), *W_pos = params_data(&m->params, "pos_embed.W_pos");
    const float *w = params_data(&m->params, "ln_final.w"), *b = params_data(&m->params, "ln_final.b");
    const float *W_U = params_data(&m->params, "unembed.W_U"), *b_U = params_data(&m->params, "unembed.b_U");
    double want = 0;
    int cnt = 0;
    for (int i = 0; i < B * T; i++) {
        if (tg[i] < 0) continue;
        double x[D], mean = 0, var = 0, lg[V];
        for (int d = 0; d < D; d++) x[d] = (double)W_E[tok[i] * D + d] + W_pos[(i % T) * D + d] + b_O[d], mean += x[d] / D;
        for (int d = 0; d < D; d++) var += (x[d] - mean) * (x[d] - mean) / D;
        for (int v = 0; v < V; v++) {
            lg[v] = b_U[v];
            for (int d = 0; d < D; d++) lg[v] += ((x[d] - mean) / sqrt(var + 1e-5) * w[d] + b[d]) * W_U[d * V + v];
        }
        want += ce_loss(lg, V, tg[i]);
        cnt++;
    }
    want /= cnt;
    unsigned char mask[1] = {1};
    HeadsAblation ab = {.kind = HEADS_ABLATE_ZERO, .n_layers = 1, .n_heads = 1, .d_head = 4, .mask = mask};
    HookList hl = {0};
    cr_assert_eq(heads_ablation_hooks(&hl, &ab), 0, "%s", err_msg());
    double loss, clean;
    cr_assert_eq(tf_forward(m, tok, tg, B, T, &hl, &loss), 0, "%s", err_msg());
    cr_assert_float_eq(loss, want, 1e-5);
    cr_assert_eq(tf_forward(m, tok, tg, B, T, NULL, &clean), 0);
    cr_assert_gt(fabs(clean - want), 1e-3, "the head matters without the ablation");
    hooks_free(&hl);
    tf_free(m);
}

typedef struct {
    float *z;
    size_t n;
} ZCopy;
static int copy_z(const char *name, Tensor t, void *u) {
    (void)name;
    ZCopy *c = u;
    c->n = tensor_numel(&t);
    memcpy(c->z, t.data, c->n * sizeof(float));
    return 0;
}

// Mean ablation writes the mean of z over every position of the set into the masked head only;
// the other heads' z are the clean run's.
Test(heads, mean_ablation_writes_the_mean_into_the_masked_head_only) {
    enum { L = 2, H = 3, dh = 4, V = 9, T = 5, N = 5, MB = 2 };
    Transformer *m = make_model(L, H, 12, dh, V, T, TF_NORM_LN, MB, 6);
    int tok[N * T];
    Rng r;
    rng_seed(&r, 9);
    for (int i = 0; i < N * T; i++) tok[i] = (int)rng_int(&r, V);
    float means[L * H * dh], want[L * H * dh] = {0};
    cr_assert_eq(heads_z_means(m, tok, N, T, means), 0, "%s", err_msg());
    for (int b = 0; b < N; b++) {  // the same means, one sequence at a time
        cr_assert_eq(tf_forward(m, tok + b * T, NULL, 1, T, NULL, NULL), 0);
        for (int l = 0; l < L; l++) {
            Tensor z = tf_act(m, l ? "blocks.1.attn.hook_z" : "blocks.0.attn.hook_z");
            for (int t = 0; t < T; t++)
                for (int i = 0; i < H * dh; i++) want[l * H * dh + i] += z.data[t * H * dh + i] / (N * T);
        }
    }
    assert_allclose(means, want, L * H * dh, 1e-6, 1e-5);
    float clean[MB * T * H * dh], got[MB * T * H * dh];
    ZCopy cc = {clean, 0}, cg = {got, 0};
    HookList hc = {0}, ha = {0};
    hooks_add(&hc, "blocks.1.attn.hook_z", HOOK_FORWARD, copy_z, &cc);
    unsigned char mask[L * H] = {0, 0, 0, 0, 1, 0};  // L1H1
    HeadsAblation ab = {.kind = HEADS_ABLATE_MEAN, .n_layers = L, .n_heads = H, .d_head = dh,
                        .mask = mask, .means = means};
    cr_assert_eq(heads_ablation_hooks(&ha, &ab), 0, "%s", err_msg());
    hooks_add(&ha, "blocks.1.attn.hook_z", HOOK_FORWARD, copy_z, &cg);  // after the ablation
    cr_assert_eq(tf_forward(m, tok, NULL, MB, T, &hc, NULL), 0);
    cr_assert_eq(tf_forward(m, tok, NULL, MB, T, &ha, NULL), 0, "%s", err_msg());
    for (int bt = 0; bt < MB * T; bt++)
        for (int h = 0; h < H; h++)
            for (int d = 0; d < dh; d++) {
                size_t i = ((size_t)bt * H + h) * dh + d;
                float w = h == 1 ? means[(1 * H + 1) * dh + d] : clean[i];
                cr_assert_eq(got[i], w, "bt %d head %d d %d", bt, h, d);
            }
    HeadsAblation no_means = {.kind = HEADS_ABLATE_MEAN, .n_layers = L, .n_heads = H, .d_head = dh, .mask = mask};
    cr_assert_eq(heads_ablation_hooks(&ha, &no_means), -1);
    hooks_free(&hc);
    hooks_free(&ha);
    tf_free(m);
}
