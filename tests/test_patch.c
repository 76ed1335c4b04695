// Patching: on a hand-built 2-layer induction circuit whose every answer is known in closed form,
// activation patching (denoise, noise), zero- and mean-ablation and path patching give exactly
// the expected effects, and patching everything gives exactly 0 and 1 at the ends; the metric
// gradient (tf_backward_logits) matches the loss backward and finite differences; attribution
// patching equals activation patching where the metric is linear in the site (logit difference,
// no LayerNorm, final-layer heads) and per-head effects add up there; on an induction model
// trained in-process, attribution correlates with exact per-head patching; the built-in pairs
// have the stated layout; bad requests are refused by name; `mechlab patch` on the hand-built
// circuit saved as a checkpoint writes the closed-form numbers.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "interp/patch.h"
#include "model/err.h"
#include "model/params.h"
#include "model/rng.h"
#include "model/transformer.h"
#include "datasets/npy.h"
#include "train/checkpoint.h"
#include "train/tf_checkpoint.h"
#include "train/tf_train.h"

TestSuite(patch);


static Transformer *random_model(int layers, bool ln, bool attn_only, int max_batch,
                                 uint64_t seed) {
    TfConfig c = {.n_layers = layers, .d_model = 16, .n_heads = 3, .d_head = 4, .d_mlp = 24,
                  .attn_only = attn_only, .n_ctx = 12, .d_vocab = 11,
                  .act_fn = TF_ACT_GELU_NEW,
                  .normalization_type = ln ? TF_NORM_LN : TF_NORM_NONE, .eps = 1e-5f};
    Transformer *m = tf_create(&c, max_batch);
    cr_assert_not_null(m, "%s", err_msg());
    tf_init_weights(m, seed);
    // Non-zero biases too, so nothing is accidentally symmetric.
    Rng r;
    rng_seed(&r, seed + 1);
    for (int i = 0; i < m->params.count; i++) {
        const ParamInfo *v = &m->params.info[i];
        if (strstr(v->name, ".b") || strstr(v->name, "b_"))
            rng_fill_normal(&r, m->params.data + v->offset, v->numel, 0, 0.1f);
    }
    return m;
}

// ---- the hand-built induction circuit ----------------------------------------------------------
//
// V = 8 tokens, T = 6 positions (n_ctx 7, so the answer can follow in a token file), D = 23 =
// [token one-hot | previous-token one-hot | position one-hot], 2 layers of 2 heads (d_head 8),
// attention only, no LayerNorm. Head 1 of each layer is all zeros.
//   L0H0, previous-token head: query = position t, key = position s + 1, score 200 where
//        s = t - 1 (exp(-200) is 0 in float, so the pattern is exactly one-hot); value = token
//        one-hot; writes the token into the previous-token block.
//   L1H0, induction head: query = own token, key = previous-token block, score 200 on a match,
//        0 elsewhere (uniform attention when nothing matches); value = token one-hot; writes
//        ALPHA × the token into the token block.
//   unembed reads the token block.
// On [x0 A B x3 x4 A] the induction head at the last position attends to B's position and the
// logit of B is ALPHA (plus the token's own one-hot on A). The corrupted run replaces the first
// A by D: nothing matches, attention is uniform, the logit of B is ALPHA / T.
#define HV 8
#define HT 6
#define HCTX (HT + 1)
#define HD (2 * HV + HCTX)
#define HDH 8
#define ALPHA 4.0f

static Transformer *hand_model(void) {
    TfConfig c = {.n_layers = 2, .d_model = HD, .n_heads = 2, .d_head = HDH, .attn_only = true,
                  .n_ctx = HCTX, .d_vocab = HV, .normalization_type = TF_NORM_NONE, .eps = 1e-5f};
    Transformer *m = tf_create(&c, 2);
    cr_assert_not_null(m, "%s", err_msg());
    memset(m->params.data, 0, sizeof(float) * m->params.numel);
    const float g = sqrtf(200.0f * sqrtf((float)HDH));  // q·k / sqrt(dh) = 200
    float *WE = params_data(&m->params, "embed.W_E"), *Wpos = params_data(&m->params, "pos_embed.W_pos");
    float *WU = params_data(&m->params, "unembed.W_U");
    for (int v = 0; v < HV; v++) WE[v * HD + v] = 1;
    for (int t = 0; t < HCTX; t++) Wpos[t * HD + 2 * HV + t] = 1;
    for (int v = 0; v < HV; v++) WU[v * HV + v] = 1;
    // [H, D, dh] and [H, dh, D]: head 0 is the first block of each
    float *Q0 = params_data(&m->params, "blocks.0.attn.W_Q"), *K0 = params_data(&m->params, "blocks.0.attn.W_K");
    float *V0 = params_data(&m->params, "blocks.0.attn.W_V"), *O0 = params_data(&m->params, "blocks.0.attn.W_O");
    for (int t = 0; t < HCTX; t++) {
        Q0[(2 * HV + t) * HDH + t] = g;           // query dim t  <- position t
        if (t + 1 < HDH) K0[(2 * HV + t) * HDH + t + 1] = g;  // key dim t+1 <- position t
    }
    for (int v = 0; v < HV; v++) {
        V0[v * HDH + v] = 1;        // value dim v <- token v
        O0[v * HD + HV + v] = 1;    // previous-token block <- value dim v
    }
    float *Q1 = params_data(&m->params, "blocks.1.attn.W_Q"), *K1 = params_data(&m->params, "blocks.1.attn.W_K");
    float *V1 = params_data(&m->params, "blocks.1.attn.W_V"), *O1 = params_data(&m->params, "blocks.1.attn.W_O");
    for (int v = 0; v < HV; v++) {
        Q1[v * HDH + v] = g;            // query <- own token
        K1[(HV + v) * HDH + v] = g;     // key <- previous token
        V1[v * HDH + v] = 1;            // value <- own token
        O1[v * HD + v] = ALPHA;         // token block <- ALPHA × value
    }
    return m;
}

// Two pairs; the answer (B) is scored at the last position only, against a token (6) that
// appears nowhere, so its logit is always 0.
static const int H_CLEAN[2 * HT] = {0, 1, 2, 3, 4, 1, /**/ 4, 0, 3, 1, 2, 0};
static const int H_CORRUPT[2 * HT] = {0, 5, 2, 3, 4, 1, /**/ 4, 7, 3, 1, 2, 0};
#define H_P 1  // position of the first A (B at H_P + 1)

static Patcher *hand_patcher(Transformer *m, int N) {
    static int answer[2 * HT], wrong[2 * HT];
    for (int i = 0; i < 2 * HT; i++) answer[i] = wrong[i] = -1;
    answer[HT - 1] = 2;
    answer[2 * HT - 1] = 3;
    wrong[HT - 1] = wrong[2 * HT - 1] = 6;
    PatchTask task = {.clean = H_CLEAN, .corrupt = H_CORRUPT, .N = N, .T = HT,
                      .metric = PATCH_LOGIT_DIFF, .answer = answer, .wrong = wrong};
    Patcher *p = patch_create(m, &task);
    cr_assert_not_null(p, "%s", err_msg());
    return p;
}

static void check_grid(const PatchGrid *g, const float *want, const char *what) {
    for (int i = 0; i < g->rows * g->cols; i++)
        cr_expect(fabsf(g->exact[i] - want[i]) <= 1e-6f, "%s: cell (%d, %d) is %.9g, expected %.9g",
                  what, i / g->cols, i % g->cols, g->exact[i], want[i]);
}

Test(patch, hand_built_circuit_baselines_are_the_closed_form) {
    Transformer *m = hand_model();
    Patcher *p = hand_patcher(m, 2);
    cr_expect(fabs(patch_metric_clean(p) - ALPHA) < 1e-6, "clean %.9g", patch_metric_clean(p));
    cr_expect(fabs(patch_metric_corrupt(p) - ALPHA / HT) < 1e-6, "corrupt %.9g",
              patch_metric_corrupt(p));
    patch_free(p);
    tf_free(m);
}

Test(patch, hand_built_circuit_denoise_and_noise_grids) {
    Transformer *m = hand_model();
    Patcher *p = hand_patcher(m, 2);
    const int T = HT, last = HT - 1;
    float want[4 * HT];
    PatchGrid g;
    for (int mode = PATCH_DENOISE; mode <= PATCH_NOISE; mode++) {
        // noising is the mirror image: the one site that restores everything breaks everything
        float on = mode == PATCH_DENOISE ? 1.0f : 0.0f, off = 1.0f - on;
        const char *mn = patch_mode_name(mode);
        // resid_pre: the corrupted token at layer 0, the previous-token info at layer 1
        cr_assert_eq(patch_grid(p, PATCH_SITE_RESID_PRE, mode, 1, 0, &g), 0, "%s", err_msg());
        cr_assert(g.rows == 2 && g.cols == T);
        for (int i = 0; i < 2 * T; i++) want[i] = off;
        want[H_P] = on;
        want[T + H_P + 1] = on;
        check_grid(&g, want, mn);
        patch_grid_free(&g);
        // attn_out: L0 where it writes A as B's previous token, L1 at the answer
        cr_assert_eq(patch_grid(p, PATCH_SITE_ATTN_OUT, mode, 1, 0, &g), 0, "%s", err_msg());
        for (int i = 0; i < 2 * T; i++) want[i] = off;
        want[H_P + 1] = on;
        want[T + last] = on;
        check_grid(&g, want, mn);
        patch_grid_free(&g);
        // heads over all positions: both head 0s carry it, the zero heads nothing
        cr_assert_eq(patch_grid(p, PATCH_SITE_HEAD, mode, 1, 0, &g), 0, "%s", err_msg());
        cr_assert(g.rows == 2 && g.cols == 2);
        float wh[4] = {on, off, on, off};
        check_grid(&g, wh, mn);
        patch_grid_free(&g);
        // heads by position: rows L0H0 L0H1 L1H0 L1H1
        cr_assert_eq(patch_grid(p, PATCH_SITE_HEAD_POS, mode, 1, 0, &g), 0, "%s", err_msg());
        cr_assert(g.rows == 4 && g.cols == T);
        for (int i = 0; i < 4 * T; i++) want[i] = off;
        want[0 * T + H_P + 1] = on;
        want[2 * T + last] = on;
        check_grid(&g, want, mn);
        patch_grid_free(&g);
    }
    cr_expect_neq(patch_grid(p, PATCH_SITE_MLP_OUT, PATCH_DENOISE, 1, 0, &g), 0);
    cr_expect(strstr(err_msg(), "attention-only") != NULL, "%s", err_msg());
    patch_free(p);
    tf_free(m);
}

Test(patch, hand_built_circuit_zero_and_mean_ablation) {
    Transformer *m = hand_model();
    Patcher *p = hand_patcher(m, 2);
    PatchGrid g;
    // Zero-ablating the induction head leaves only the own-token logit: metric 0, normalised
    // (0 - ALPHA/T) / (ALPHA - ALPHA/T) = -1/(T-1). Without the previous-token head no key
    // matches and attention is uniform, as in the corrupted run: 0. The zero heads: no change.
    cr_assert_eq(patch_grid(p, PATCH_SITE_HEAD, PATCH_ZERO, 1, 0, &g), 0, "%s", err_msg());
    float wz[4] = {0.0f, 1.0f, -1.0f / (HT - 1), 1.0f};
    check_grid(&g, wz, "zero");
    patch_grid_free(&g);
    // Mean-ablating the induction head: its output at the answer becomes the mean of the two
    // sequences' answers, each logit ALPHA/2: (1/2 - 1/T) / (1 - 1/T).
    PatchEdit e = {.hook = "blocks.1.attn.hook_z", .pos = -1, .head = 0, .src = PATCH_FROM_MEAN};
    double v;
    cr_assert_eq(patch_run(p, PATCH_RUN_CLEAN, &e, 1, &v, NULL), 0, "%s", err_msg());
    cr_expect(fabs(v - (0.5 - 1.0 / HT) / (1.0 - 1.0 / HT)) < 1e-6, "mean ablation %.9g", v);
    e.head = 1;
    cr_assert_eq(patch_run(p, PATCH_RUN_CLEAN, &e, 1, &v, NULL), 0, "%s", err_msg());
    cr_expect(v == 1.0, "mean-ablating a zero head changed the metric: %.9g", v);
    patch_free(p);
    tf_free(m);
}

Test(patch, hand_built_circuit_path_patching_finds_the_one_path) {
    Transformer *m = hand_model();
    Patcher *p = hand_patcher(m, 2);
    // The previous-token head matters only through the induction head's key.
    const double want_dn[3] = {0, 1, 0};
    for (int ch = 0; ch < 3; ch++) {
        double v;
        cr_assert_eq(patch_path(p, PATCH_DENOISE, 0, 0, 1, 0, ch, &v), 0, "%s", err_msg());
        cr_expect(fabs(v - want_dn[ch]) < 1e-6, "L0H0 -> L1H0.%c denoise %.9g", "qkv"[ch], v);
        cr_assert_eq(patch_path(p, PATCH_NOISE, 0, 0, 1, 0, ch, &v), 0, "%s", err_msg());
        cr_expect(fabs(v - (1 - want_dn[ch])) < 1e-6, "L0H0 -> L1H0.%c noise %.9g", "qkv"[ch], v);
        cr_assert_eq(patch_path(p, PATCH_DENOISE, 0, 0, 1, 1, ch, &v), 0, "%s", err_msg());
        cr_expect(fabs(v) < 1e-6, "L0H0 -> L1H1.%c %.9g", "qkv"[ch], v);
        cr_assert_eq(patch_path(p, PATCH_DENOISE, 0, 1, 1, 0, ch, &v), 0, "%s", err_msg());
        cr_expect(fabs(v) < 1e-6, "L0H1 -> L1H0.%c %.9g", "qkv"[ch], v);
    }
    double v;
    cr_expect_neq(patch_path(p, PATCH_DENOISE, 1, 0, 1, 0, PATCH_K, &v), 0);
    cr_expect(strstr(err_msg(), "before") != NULL, "%s", err_msg());
    cr_expect_neq(patch_path(p, PATCH_ZERO, 0, 0, 1, 0, PATCH_K, &v), 0);
    patch_free(p);
    tf_free(m);
}

// With every site patched the patched run is the other run: exactly 1 and 0 at the ends.
static void check_ends(Patcher *p, const char *first, const char *last) {
    double v;
    cr_assert_eq(patch_run(p, PATCH_RUN_CORRUPT, NULL, 0, &v, NULL), 0, "%s", err_msg());
    cr_expect(v == 0.0, "unpatched corrupted run: %.17g", v);
    cr_assert_eq(patch_run(p, PATCH_RUN_CLEAN, NULL, 0, &v, NULL), 0, "%s", err_msg());
    cr_expect(v == 1.0, "unpatched clean run: %.17g", v);
    const char *pts[2] = {first, last};
    for (int i = 0; i < 2; i++) {
        PatchEdit e = {.hook = pts[i], .pos = -1, .head = -1, .src = PATCH_FROM_CLEAN};
        cr_assert_eq(patch_run(p, PATCH_RUN_CORRUPT, &e, 1, &v, NULL), 0, "%s", err_msg());
        cr_expect(v == 1.0, "%s clean -> corrupted at every position: %.17g", pts[i], v);
        e.src = PATCH_FROM_CORRUPT;
        cr_assert_eq(patch_run(p, PATCH_RUN_CLEAN, &e, 1, &v, NULL), 0, "%s", err_msg());
        cr_expect(v == 0.0, "%s corrupted -> clean at every position: %.17g", pts[i], v);
    }
}

Test(patch, all_sites_patched_give_exactly_0_and_1) {
    Transformer *m = hand_model();
    Patcher *p = hand_patcher(m, 2);
    check_ends(p, "blocks.0.hook_resid_pre", "blocks.1.hook_resid_post");
    patch_free(p);
    tf_free(m);
    // A random model with LayerNorm and MLPs, the log-prob metric on induction pairs, chunks of
    // 3 sequences for 7 pairs.
    m = random_model(2, true, false, 3, 11);
    const int N = 7, T = 11;
    int clean[7 * 11], corrupt[7 * 11], answer[7 * 11];
    cr_assert_eq(patch_induction_pairs(m->cfg.d_vocab, 1, T, N, 5, clean, corrupt, answer), 0);
    PatchTask task = {.clean = clean, .corrupt = corrupt, .N = N, .T = T,
                      .metric = PATCH_LOGPROB, .answer = answer};
    p = patch_create(m, &task);
    cr_assert_not_null(p, "%s", err_msg());
    check_ends(p, "blocks.0.hook_resid_pre", "blocks.1.hook_resid_post");
    patch_free(p);
    tf_free(m);
}

// ---- the metric gradient -----------------------------------------------------------------------

Test(patch, backward_from_logits_matches_the_loss_backward) {
    Transformer *m = random_model(2, true, false, 2, 3);
    const int B = 2, T = 9, V = m->cfg.d_vocab, N = B * T;
    int tok[18], tg[18];
    Rng r;
    rng_seed(&r, 4);
    for (int i = 0; i < N; i++) {
        tok[i] = (int)rng_int(&r, (uint32_t)V);
        tg[i] = i % 4 == 3 ? -1 : (int)rng_int(&r, (uint32_t)V);
    }
    double loss;
    cr_assert_eq(tf_forward(m, tok, tg, B, T, NULL, &loss), 0, "%s", err_msg());
    params_zero_grad(&m->params);
    cr_assert_eq(tf_backward(m, NULL), 0, "%s", err_msg());
    const char *names[] = {"blocks.0.hook_resid_pre", "blocks.1.attn.hook_z", "hook_embed"};
    float *want[3], *pg = malloc(sizeof(float) * m->params.numel);
    for (int k = 0; k < 3; k++) {
        Tensor gk = tf_act_grad(m, names[k]);
        size_t n = tensor_numel(&gk);
        want[k] = malloc(sizeof(float) * n);
        memcpy(want[k], gk.data, sizeof(float) * n);
    }
    memcpy(pg, m->params.grad, sizeof(float) * m->params.numel);
    // d(mean cross-entropy)/d(logits) = (softmax - onehot) / count, written independently
    Tensor lg = tf_act(m, "logits");
    float *dl = calloc((size_t)N * V, sizeof(float));
    int count = 0;
    for (int i = 0; i < N; i++) count += tg[i] >= 0;
    for (int i = 0; i < N; i++) {
        if (tg[i] < 0) continue;
        const float *x = lg.data + (size_t)i * V;
        double mx = x[0], s = 0;
        for (int v = 1; v < V; v++) mx = fmax(mx, x[v]);
        for (int v = 0; v < V; v++) s += exp(x[v] - mx);
        for (int v = 0; v < V; v++)
            dl[(size_t)i * V + v] = (float)((exp(x[v] - mx) / s - (v == tg[i])) / count);
    }
    params_zero_grad(&m->params);
    cr_assert_eq(tf_backward_logits(m, dl, NULL), 0, "%s", err_msg());
    for (int k = 0; k < 3; k++) {
        Tensor gk = tf_act_grad(m, names[k]);
        assert_allclose(gk.data, want[k], tensor_numel(&gk), 1e-7, 1e-5);
        free(want[k]);
    }
    assert_allclose(m->params.grad, pg, m->params.numel, 1e-7, 1e-5);
    // It needs a forward first, and a gradient.
    Transformer *fresh = random_model(1, false, true, 1, 1);
    cr_expect_neq(tf_backward_logits(fresh, dl, NULL), 0);
    cr_expect_neq(tf_backward_logits(m, NULL, NULL), 0);
    tf_free(fresh);
    free(dl);
    free(pg);
    tf_free(m);
}

// d(normalised metric)/d(one activation element) from attribution (an added unit vector)
// against a central difference of two patched runs that add ±h there.
static void check_metric_grad(PatchMetric metric, const int *wrong) {
    Transformer *m = random_model(2, true, false, 2, 21);
    const int N = 3, T = 9;
    int clean[27], corrupt[27], answer[27];
    cr_assert_eq(patch_induction_pairs(m->cfg.d_vocab, 0, T, N, 8, clean, corrupt, answer), 0);
    PatchTask task = {.clean = clean, .corrupt = corrupt, .N = N, .T = T, .metric = metric,
                      .answer = answer, .wrong = wrong};
    Patcher *p = patch_create(m, &task);
    cr_assert_not_null(p, "%s", err_msg());
    const char *pts[] = {"blocks.0.hook_resid_pre", "blocks.0.attn.hook_z", "blocks.1.hook_mlp_out",
                         "blocks.1.attn.hook_v"};
    Rng r;
    rng_seed(&r, 99);
    for (int k = 0; k < 4; k++) {
        Tensor a = tf_act(m, pts[k]);  // shape for the last chunk; per sequence is what counts
        size_t per = tensor_numel(&a) / (size_t)a.shape[0];
        float *unit = calloc((size_t)N * per, sizeof(float));
        float *step = calloc((size_t)N * per, sizeof(float));
        for (int trial = 0; trial < 3; trial++) {
            size_t j = (size_t)rng_int(&r, (uint32_t)(N * per));
            const float h = 1e-2f;
            unit[j] = 1;
            PatchEdit e = {.hook = pts[k], .pos = -1, .head = -1, .src = PATCH_FROM_VALUES,
                           .values = unit, .add = 1};
            double g, plus, minus;
            cr_assert_eq(patch_attr(p, PATCH_RUN_CORRUPT, &e, 1, &g), 0, "%s", err_msg());
            e.values = step;
            step[j] = h;
            cr_assert_eq(patch_run(p, PATCH_RUN_CORRUPT, &e, 1, &plus, NULL), 0, "%s", err_msg());
            step[j] = -h;
            cr_assert_eq(patch_run(p, PATCH_RUN_CORRUPT, &e, 1, &minus, NULL), 0, "%s", err_msg());
            double fd = (plus - minus) / (2 * h);
            cr_expect(fabs(g - fd) <= 2e-3 + 2e-2 * fabs(fd), "%s[%zu]: gradient %.6g, finite difference %.6g",
                      pts[k], j, g, fd);
            unit[j] = step[j] = 0;
        }
        free(unit);
        free(step);
    }
    patch_free(p);
    tf_free(m);
}

Test(patch, metric_gradient_matches_finite_differences) {
    check_metric_grad(PATCH_LOGPROB, NULL);
    check_metric_grad(PATCH_LOGIT_DIFF, NULL);  // against the mean logit
    int wrong[27];
    for (int i = 0; i < 27; i++) wrong[i] = i % 11 == 3 ? 10 : 9;  // never the answer? checked below
    int clean[27], corrupt[27], answer[27];
    patch_induction_pairs(11, 0, 9, 3, 8, clean, corrupt, answer);
    for (int i = 0; i < 27; i++)
        if (answer[i] == wrong[i]) wrong[i] = (wrong[i] + 1) % 11;
    check_metric_grad(PATCH_LOGIT_DIFF, wrong);
}

// ---- attribution is exact where the metric is linear -----------------------------------------

static float max_abs(const float *a, int n) {
    float mx = 0;
    for (int i = 0; i < n; i++) mx = fmaxf(mx, fabsf(a[i]));
    return mx;
}

static void linear_case(const int *wrong) {
    Transformer *m = random_model(2, false, true, 4, 31);
    const int N = 5, T = 10, H = m->cfg.n_heads;
    int clean[50], corrupt[50], answer[50];
    cr_assert_eq(patch_induction_pairs(m->cfg.d_vocab, 1, T, N, 2, clean, corrupt, answer), 0);
    PatchTask task = {.clean = clean, .corrupt = corrupt, .N = N, .T = T,
                      .metric = PATCH_LOGIT_DIFF, .answer = answer, .wrong = wrong};
    Patcher *p = patch_create(m, &task);
    cr_assert_not_null(p, "%s", err_msg());
    for (int mode = 0; mode < 4; mode++) {
        // final layer: per head, per head and position, attn_out per position
        const PatchSite sites[3] = {PATCH_SITE_HEAD, PATCH_SITE_HEAD_POS, PATCH_SITE_ATTN_OUT};
        for (int s = 0; s < 3; s++) {
            PatchGrid g;
            cr_assert_eq(patch_grid(p, sites[s], mode, 1, 1, &g), 0, "%s", err_msg());
            int r0 = sites[s] == PATCH_SITE_HEAD_POS ? H : 1;  // first row of layer 1
            int n = (g.rows - r0) * g.cols;
            const float *ex = g.exact + r0 * g.cols, *at = g.attr + r0 * g.cols;
            float scale = max_abs(ex, n);
            // (in noise and ablation modes "no effect" is 1: compare changes)
            float base = mode == PATCH_DENOISE ? 0.0f : 1.0f, d[64], e2[64];
            cr_assert(n <= 64);
            for (int i = 0; i < n; i++) d[i] = at[i] - base, e2[i] = ex[i] - base;
            scale = max_abs(e2, n);
            cr_expect(scale > 1e-2, "%s/%s: effects too small to test (%g)", patch_site_name(sites[s]),
                      patch_mode_name(mode), scale);
            double md = max_abs_diff(d, e2, (size_t)n);
            if (getenv("MECHLAB_TEST_VERBOSE"))
                fprintf(stderr, "[patch] linear %s/%s: max |attr - exact| %.3g, relative %.3g\n",
                        patch_site_name(sites[s]), patch_mode_name(mode), md, md / scale);
            cr_expect(md <= 1e-5 * scale, "%s/%s final layer: attribution differs from exact "
                      "patching by %.3g (relative %.3g)", patch_site_name(sites[s]),
                      patch_mode_name(mode), md, md / scale);
            // Layer 0 heads act through layer 1's attention: not linear, the estimate is not exact.
            if (sites[s] == PATCH_SITE_HEAD && mode == PATCH_DENOISE)
                cr_expect(max_abs_diff(g.exact, g.attr, (size_t)H) > 1e-4,
                          "layer-0 attribution exact too: the model is not testing anything");
            patch_grid_free(&g);
        }
    }
    // Per-head effects add up in the final layer: the heads one by one against all at once,
    // and each head's positions one by one against all positions. (Tolerances are in normalised
    // units, i.e. 1e-5 of the clean - corrupted gap: the patched logits are float.)
    PatchGrid gh, gp;
    cr_assert_eq(patch_grid(p, PATCH_SITE_HEAD, PATCH_DENOISE, 1, 0, &gh), 0, "%s", err_msg());
    cr_assert_eq(patch_grid(p, PATCH_SITE_HEAD_POS, PATCH_DENOISE, 1, 0, &gp), 0, "%s", err_msg());
    PatchEdit all = {.hook = "blocks.1.attn.hook_z", .pos = -1, .head = -1, .src = PATCH_FROM_CLEAN};
    double v, sum = 0;
    cr_assert_eq(patch_run(p, PATCH_RUN_CORRUPT, &all, 1, &v, NULL), 0, "%s", err_msg());
    for (int h = 0; h < H; h++) {
        sum += gh.exact[H + h];
        double sp = 0;
        for (int t = 0; t < T; t++) sp += gp.exact[(H + h) * T + t];
        cr_expect(fabs(sp - gh.exact[H + h]) <= 1e-5, "head %d: positions sum to %.9g, "
                  "all positions %.9g", h, sp, gh.exact[H + h]);
    }
    cr_expect(fabs(sum - v) <= 1e-5, "heads sum to %.9g, all heads at once %.9g", sum, v);
    patch_grid_free(&gh);
    patch_grid_free(&gp);
    patch_free(p);
    tf_free(m);
}

Test(patch, attribution_equals_activation_patching_for_a_linear_metric) {
    linear_case(NULL);  // logit of the answer minus the mean logit
    int wrong[50];
    for (int i = 0; i < 50; i++) wrong[i] = 3;
    int clean[50], corrupt[50], answer[50];
    patch_induction_pairs(11, 1, 10, 5, 2, clean, corrupt, answer);
    for (int i = 0; i < 50; i++)
        if (answer[i] == 3) wrong[i] = 4;
    linear_case(wrong);
}

// ---- a trained induction model -----------------------------------------------------------------
//
// A 2-layer attention-only model trained in-process on the built-in `repeat` data (2 s), then
// per-head denoising on the built-in induction pairs with the mean log-prob of the repeated
// tokens: attribution must correlate with exact patching at r >= 0.9.
//
// What this small model does not give is the second check (every layer-1 induction head
// has a denoising effect >= 0.15): `repeat` data repeats at a fixed offset, and with n_ctx 21 the
// model solves it with layer-0 heads that attend to t - L + 1 by position alone; no layer-1 head
// attends there (the induction scores are printed). That check is made by `mechlab patch` on a
// model from `mechlab train transformer --data repeat --attn-only` (defaults), whose layer-1
// heads do attend there; it prints the heads' induction scores and effects.
Test(patch, trained_induction_model_attribution_tracks_exact) {
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    TfTrainSpec s;
    memset(&s, 0, sizeof s);
    snprintf(s.data, sizeof s.data, "repeat");
    s.model = (TfConfig){.n_layers = 2, .d_model = 32, .n_heads = 4, .d_head = 8, .attn_only = true,
                         .n_ctx = 21, .d_vocab = 16, .normalization_type = TF_NORM_LN, .eps = 1e-5f};
    s.batch = 16;
    s.seed = 1;
    s.eval_batches = 2;
    s.train.steps = 400;
    s.train.eval_every = 0;
    s.train.ckpt_every = 0;
    s.train.clip = 1.0;
    s.train.optim = optim_defaults(OPTIM_ADAMW);
    s.train.sched = (Sched){.kind = SCHED_WARMUP_COSINE, .lr = 3e-3f, .warmup = 40, .total = 400,
                            .min_lr = 3e-4f};
    s.train.out_dir = dir;
    s.train.quiet = 1;
    TfTrainer *t = tftrain_create(&s);
    cr_assert_not_null(t, "%s", err_msg());
    cr_assert_eq(tftrain_run(t), 0, "%s", err_msg());
    double val, first, rep;
    cr_assert_eq(tftrain_eval_losses(t, NULL, &val, &first, &rep), 0, "%s", err_msg());
    cr_assert(rep < 0.5, "the model did not learn the repeat task (repeat-half loss %.3f)", rep);
    Transformer *m = t->m;
    const int N = 16, T = 21, H = 4, L = 10;
    int clean[16 * 21], corrupt[16 * 21], answer[16 * 21];
    cr_assert_eq(patch_induction_pairs(16, 0, T, N, 77, clean, corrupt, answer), 0);
    PatchTask task = {.clean = clean, .corrupt = corrupt, .N = N, .T = T,
                      .metric = PATCH_LOGPROB, .answer = answer};
    Patcher *p = patch_create(m, &task);
    cr_assert_not_null(p, "%s", err_msg());
    PatchGrid g;
    cr_assert_eq(patch_grid(p, PATCH_SITE_HEAD, PATCH_DENOISE, 1, 1, &g), 0, "%s", err_msg());
    double r = patch_pearson(g.exact, g.attr, g.rows * g.cols);
    // Induction score of each head on the clean pairs: attention from a repeated token to the
    // token after its first occurrence (t - L + 1), averaged.
    double score[2][4] = {{0}};
    cr_assert_eq(tf_forward(m, clean, NULL, N, T, NULL, NULL), 0, "%s", err_msg());
    for (int l = 0; l < 2; l++) {
        char nm[64];
        snprintf(nm, sizeof nm, "blocks.%d.attn.hook_pattern", l);
        Tensor pat = tf_act(m, nm);  // [N,H,T,T]
        for (int n = 0; n < N; n++)
            for (int q = L; q < 2 * L; q++)
                for (int h = 0; h < H; h++)
                    score[l][h] += pat.data[(((size_t)n * H + h) * T + q) * T + q - L + 1] / (N * L);
    }
    fprintf(stderr, "[patch] trained repeat model: repeat-half loss %.4f; repeated tokens' "
            "log-prob clean %.4f, corrupted %.4f; Pearson r(attribution, exact) over %d heads = "
            "%.4f\n", rep, patch_metric_clean(p), patch_metric_corrupt(p), g.rows * g.cols, r);
    for (int l = 0; l < 2; l++)
        for (int h = 0; h < H; h++)
            fprintf(stderr, "[patch]   L%dH%d  denoise exact %7.4f  attribution %7.4f  "
                    "induction score %.3f\n", l, h, g.exact[l * H + h], g.attr[l * H + h],
                    score[l][h]);
    cr_expect(r >= 0.9, "attribution vs exact per-head patching: Pearson r = %.4f", r);
    patch_grid_free(&g);
    patch_free(p);
    tftrain_free(t);
    rm_tree(dir);
}

// ---- inputs and refusals -----------------------------------------------------------------------

Test(patch, induction_pairs_have_the_stated_layout) {
    for (int bos = 0; bos <= 1; bos++) {
        const int V = 9, T = 14, N = 20;  // T - bos odd when bos = 1: a pad token at the end
        int clean[20 * 14], corrupt[20 * 14], answer[20 * 14];
        cr_assert_eq(patch_induction_pairs(V, bos, T, N, 3, clean, corrupt, answer), 0);
        int off = bos, L = (T - off) / 2;
        for (int n = 0; n < N; n++) {
            const int *c = clean + n * T, *k = corrupt + n * T, *a = answer + n * T;
            if (bos) cr_expect(c[0] == V - 1 && k[0] == V - 1, "BOS missing");
            for (int i = 0; i < L; i++) {
                cr_expect_eq(c[off + i], c[off + L + i], "clean does not repeat");
                cr_expect_neq(k[off + i], c[off + i], "corrupted token %d not resampled", i);
                cr_expect(k[off + i] >= 0 && k[off + i] < V - bos, "token %d", k[off + i]);
                cr_expect_eq(k[off + L + i], c[off + L + i], "second half changed");
            }
            for (int t2 = off + 2 * L; t2 < T; t2++) cr_expect_eq(k[t2], c[t2]);
            for (int t2 = 0; t2 < T; t2++) {
                bool scored = t2 >= off + L && t2 <= off + 2 * L - 2;
                cr_expect_eq(a[t2], scored ? c[t2 + 1] : -1, "answer at %d", t2);
            }
        }
    }
    int x[8];
    cr_expect_neq(patch_induction_pairs(9, 1, 4, 1, 0, x, x, x), 0);  // L = 1
    cr_expect_neq(patch_induction_pairs(2, 1, 8, 1, 0, x, x, x), 0);  // vocab too small
}

Test(patch, pearson_known_values) {
    float a[5] = {1, 2, 3, 4, 5}, b[5] = {2, 4, 6, 8, 10}, c[5] = {5, 4, 3, 2, 1};
    float d[5] = {1, 3, 2, 5, 4};
    cr_expect(fabs(patch_pearson(a, b, 5) - 1) < 1e-12);
    cr_expect(fabs(patch_pearson(a, c, 5) + 1) < 1e-12);
    // Σxy over centred values: (-2,-1,0,1,2)·(-2,0,-1,2,1) = 8; Σx² = Σy² = 10: r = 0.8
    cr_expect(fabs(patch_pearson(a, d, 5) - 0.8) < 1e-12, "%.17g", patch_pearson(a, d, 5));
    float e[5] = {1, 1, 1, 1, 1};
    cr_expect(isnan(patch_pearson(a, e, 5)));
    float f[5] = {1, 2, NAN, 4, 5}, g[5] = {2, 4, 100, 8, 10};
    cr_expect(fabs(patch_pearson(f, g, 5) - 1) < 1e-12, "NaN pairs are skipped");
}

Test(patch, bad_requests_are_refused_by_name) {
    Transformer *m = hand_model();
    Patcher *p = hand_patcher(m, 2);
    double v;
    struct {
        PatchEdit e;
        const char *frag;
    } bad[] = {
        {{.hook = "blocks.7.hook_resid_pre", .pos = -1, .head = -1}, "not a hook point"},
        {{.hook = "blocks.0.hook_resid_pre", .pos = HT, .head = -1}, "position"},
        {{.hook = "blocks.0.hook_resid_pre", .pos = 0, .head = 0}, "no head axis"},
        {{.hook = "blocks.0.attn.hook_z", .pos = 0, .head = 2}, "fewer heads"},
        {{.hook = "blocks.0.attn.hook_pattern", .pos = 0, .head = -1}, "whole"},
        {{.hook = "blocks.0.attn.hook_z", .pos = -1, .head = -1, .src = PATCH_FROM_VALUES}, "none"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_neq(patch_run(p, PATCH_RUN_CORRUPT, &bad[i].e, 1, &v, NULL), 0, "case %zu", i);
        cr_expect(strstr(err_msg(), bad[i].frag) != NULL, "case %zu: %s", i, err_msg());
        cr_expect_neq(patch_attr(p, PATCH_RUN_CORRUPT, &bad[i].e, 1, &v), 0, "case %zu", i);
    }
    // a whole-pattern patch is fine
    PatchEdit e = {.hook = "blocks.1.attn.hook_pattern", .pos = -1, .head = -1, .src = PATCH_FROM_CLEAN};
    cr_expect_eq(patch_run(p, PATCH_RUN_CORRUPT, &e, 1, &v, NULL), 0, "%s", err_msg());
    cr_expect(fabs(v - 1) < 1e-6, "the clean layer-1 pattern restores everything: %.9g", v);
    patch_free(p);
    // Identical runs, nothing scored, a wrong token equal to the answer, a token out of range.
    int ans[HT] = {-1, -1, -1, -1, -1, 2}, none[HT] = {-1, -1, -1, -1, -1, -1};
    int wr[HT] = {-1, -1, -1, -1, -1, 2};
    int badtok[HT] = {0, 1, 2, 3, 4, HV};
    PatchTask t1 = {.clean = H_CLEAN, .corrupt = H_CLEAN, .N = 1, .T = HT, .answer = ans};
    cr_expect_null(patch_create(m, &t1));
    cr_expect(strstr(err_msg(), "same") != NULL, "%s", err_msg());
    PatchTask t2 = {.clean = H_CLEAN, .corrupt = H_CORRUPT, .N = 1, .T = HT, .answer = none};
    cr_expect_null(patch_create(m, &t2));
    cr_expect(strstr(err_msg(), "no position") != NULL, "%s", err_msg());
    PatchTask t3 = {.clean = H_CLEAN, .corrupt = H_CORRUPT, .N = 1, .T = HT, .answer = ans,
                    .wrong = wr, .metric = PATCH_LOGIT_DIFF};
    cr_expect_null(patch_create(m, &t3));
    cr_expect(strstr(err_msg(), "wrong token is the answer") != NULL, "%s", err_msg());
    PatchTask t4 = {.clean = badtok, .corrupt = H_CORRUPT, .N = 1, .T = HT, .answer = ans};
    cr_expect_null(patch_create(m, &t4));
    cr_expect(strstr(err_msg(), "vocabulary") != NULL, "%s", err_msg());
    PatchTask t5 = {.clean = H_CLEAN, .corrupt = H_CORRUPT, .N = 1, .T = HCTX + 1, .answer = ans};
    cr_expect_null(patch_create(m, &t5));
    tf_free(m);
}

// ---- the verb ----------------------------------------------------------------------------------

static char *cli_file(const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return read_text(path);
}

Test(patch, verb_writes_the_closed_form_numbers) {
    char dir[64], path[256], a[256], b[256], args[2048];
    make_tmpdir(dir, sizeof dir);
    Transformer *m = hand_model();
    Meta *meta = calloc(1, sizeof *meta);
    cr_assert_eq(tf_ckpt_meta(&m->cfg, meta), 0, "%s", err_msg());
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cr_assert_eq(ckpt_save_params(path, &m->params, meta), 0, "%s", err_msg());
    free(meta);
    tf_free(m);
    // The two pairs with their answers (B) appended: the answer is the last token.
    int32_t cl[2 * HCTX], co[2 * HCTX];
    for (int n = 0; n < 2; n++) {
        for (int t = 0; t < HT; t++) {
            cl[n * HCTX + t] = H_CLEAN[n * HT + t];
            co[n * HCTX + t] = H_CORRUPT[n * HT + t];
        }
        cl[n * HCTX + HT] = co[n * HCTX + HT] = n ? 3 : 2;
    }
    int64_t shape[2] = {2, HCTX};
    snprintf(a, sizeof a, "%s/clean.npy", dir);
    snprintf(b, sizeof b, "%s/corrupt.npy", dir);
    cr_assert_eq(npy_save_i32(a, cl, 2, shape), 0, "%s", err_msg());
    cr_assert_eq(npy_save_i32(b, co, 2, shape), 0, "%s", err_msg());
    snprintf(args, sizeof args, "patch %s --clean %s --corrupt %s --metric logit-diff --wrong 6 "
             "--sites head,resid_pre --path 0.0 --threads 1 --out %s/o", path, a, b, dir);
    int rc = run_cli(args, dir);
    char *err = cli_file(dir, "err.txt"), *out = cli_file(dir, "out.txt");
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err ? err : "");
    cr_expect(out && strstr(out, "Pearson r"), "%s", out ? out : "(no output)");
    free(err);
    free(out);
    // patch.csv: per head, exact = closed form; attribution equals it for the final-layer heads
    // (linear metric, no LayerNorm). The previous-token head acts through the induction head's
    // attention score, which its patch moves by 200 at B's position while the corrupted run's
    // attention is uniform (p = 1/T): the first-order estimate is ALPHA·p(1-p)·200 per
    // sequence, normalised by ALPHA(1 - 1/T): 200/T = 33.3 where the true effect is 1 — the
    // linear extrapolation of a softmax that saturates, attribution patching's known failure.
    snprintf(path, sizeof path, "%s/o", dir);
    char *csv = cli_file(path, "patch.csv");
    cr_assert_not_null(csv);
    const float want_exact[2][2] = {{1, 0}, {1, 0}}, want_attr[2][2] = {{200.0f / HT, 0}, {1, 0}};
    int seen = 0, seen_resid = 0;
    for (char *line = strtok(csv, "\n"); line; line = strtok(NULL, "\n")) {
        int l, h, pos;
        float ex, at;
        if (sscanf(line, "head,%d,%d,,%f,%f", &l, &h, &ex, &at) == 4) {
            cr_assert(l >= 0 && l < 2 && h >= 0 && h < 2, "%s", line);
            cr_expect(fabsf(ex - want_exact[l][h]) < 1e-6f, "exact: %s", line);
            cr_expect(fabsf(at - want_attr[l][h]) < 1e-5f * (1 + fabsf(want_attr[l][h])),
                      "attribution: %s", line);
            seen++;
        } else if (sscanf(line, "resid_pre,%d,,%d,%f,%f", &l, &pos, &ex, &at) == 4) {
            bool on = (l == 0 && pos == H_P) || (l == 1 && pos == H_P + 1);
            cr_expect(fabsf(ex - (on ? 1.0f : 0.0f)) < 1e-6f, "exact: %s", line);
            seen_resid++;
        }
    }
    cr_expect_eq(seen, 4, "head rows in patch.csv");
    cr_expect_eq(seen_resid, 2 * HCTX, "resid_pre rows in patch.csv");
    free(csv);
    char *pcsv = cli_file(path, "path.csv");
    cr_assert_not_null(pcsv);
    cr_expect(strstr(pcsv, "L0H0,L1H0,k,1\n") && strstr(pcsv, "L0H0,L1H0,q,0\n") &&
              strstr(pcsv, "L0H0,L1H0,v,0\n") && strstr(pcsv, "L0H0,L1H1,k,0\n"), "%s", pcsv);
    free(pcsv);
    const char *files[] = {"head.svg", "resid_pre.svg", "report.html", "patch.json",
                           "head_exact.npy", "head_attr.npy"};
    for (int i = 0; i < 6; i++) {
        char *x = cli_file(path, files[i]);
        cr_expect(x && strlen(x) > 0, "%s missing", files[i]);
        free(x);
    }
    NpyArray arr = {0};
    snprintf(a, sizeof a, "%s/o/head_exact.npy", dir);
    cr_assert_eq(npy_load(&arr, a), 0, "%s", err_msg());
    cr_expect(arr.dtype == NPY_F32 && arr.ndim == 2 && arr.shape[0] == 2 && arr.shape[1] == 2);
    npy_free(&arr);

    // Refusals: the corrupted next token is the answer here; a missing file; no --out.
    snprintf(a, sizeof a, "%s/clean.npy", dir);
    snprintf(args, sizeof args, "patch %s/model.safetensors --clean %s --corrupt %s --metric "
             "logit-diff --wrong corrupt --out %s/o2", dir, a, b, dir);
    cr_expect_eq(run_cli(args, dir), 1);
    err = cli_file(dir, "err.txt");
    cr_expect(err && strstr(err, "wrong token is the answer"), "%s", err ? err : "");
    free(err);
    snprintf(args, sizeof args, "patch %s/model.safetensors --clean %s/nope.npy --corrupt %s "
             "--out %s/o3", dir, dir, b, dir);
    cr_expect_eq(run_cli(args, dir), 1);
    snprintf(args, sizeof args, "patch %s/model.safetensors --clean %s --corrupt %s", dir, a, b);
    cr_expect_eq(run_cli(args, dir), 2);
    snprintf(args, sizeof args, "patch %s/model.safetensors --mode zero --path 0.0 --out %s/o4",
             dir, dir);
    cr_expect_eq(run_cli(args, dir), 2);
    rm_tree(dir);
}
