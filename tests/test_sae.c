// Sparse autoencoders (interp/sae*.c).
//
//   - forward against double loops written from the formulas (ReLU and TopK, L1 with decoder
//     norms, AuxK on dead latents)
//   - every gradient against central finite differences (ReLU + decoder-norm L1, ReLU + plain
//     L1, TopK + AuxK with the residual held fixed), away from kinks; backward accumulates
//   - the unit-decoder constraint, init, TopK selection and ties by hand
//   - trainer: λ warm-up, epochs visit every sample once, dead tracking over the window,
//     resampling (inputs drawn ∝ ℓ², encoder norm 0.2 × alive mean, Adam moments reset),
//     bit-identical results on 1 and 2 threads
//   - metrics (MSE, FVU, L0, densities, histogram, MMCS) on SAEs whose answers are known
//   - SAELens folders: exact names, shapes, cfg fields, round trip, SAELens-written configs,
//     errors
//   - ground truth (32 features in 16 dims, a 64-latent dictionary): the λ sweep's best MMCS,
//     share above cos 0.9 and L0, a λ ten times too small, L0 and FVU monotone in λ
//   - the sae-toy command: --help, usage errors, a tiny run writes its files
//   - spliced into a transformer through a forward hook: an exact SAE recovers all the loss, a
//     zero SAE none, a random one the loss of an independent reconstruction; errors
#include <math.h>
#include <string.h>

#include "datasets/features.h"
#include "gradcheck.h"
#include "helpers.h"
#include "interp/sae.h"
#include "model/err.h"
#include "model/json.h"
#include "model/hooks.h"
#include "model/pool.h"
#include "model/transformer.h"
#include "train/safetensors.h"

TestSuite(sae);

static void fill_uniform(float *p, size_t n, Rng *r, float lo, float hi) { rng_fill_uniform(r, p, n, lo, hi); }

// Random parameters of moderate size (so ReLU and TopK have a mix of signs and gaps).
static Sae *random_sae(SaeConfig c, uint64_t seed) {
    Sae *s = sae_create(&c, seed);
    cr_assert_not_null(s, "%s", err_msg());
    Rng r;
    rng_seed(&r, seed + 100);
    fill_uniform(s->ps.data, s->ps.numel, &r, -1.0f, 1.0f);
    return s;
}

// ---- reference forward in double ------------------------------------------------------------

typedef struct {
    double mse, l1, aux;
    double *pre, *f, *xhat;  // [B,L], [B,L], [B,D]
} Ref;

// Index order of row v[L] by (value desc, index asc).
static void rank_desc(const double *v, int L, int *order) {
    for (int i = 0; i < L; i++) order[i] = i;
    for (int i = 1; i < L; i++)  // insertion sort: stable, so equal values keep index order
        for (int j = i; j > 0 && v[order[j]] > v[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

static Ref ref_forward(const Sae *s, const float *x, int B, const SaeLoss *loss) {
    const int D = s->cfg.d_in, L = s->cfg.d_sae;
    Ref R = {0};
    R.pre = calloc((size_t)B * L, sizeof(double));
    R.f = calloc((size_t)B * L, sizeof(double));
    R.xhat = calloc((size_t)B * D, sizeof(double));
    int *order = malloc(sizeof(int) * L);
    double *v = malloc(sizeof(double) * L), *z = malloc(sizeof(double) * L);
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < L; i++) {
            double p = s->b_enc[i];
            for (int d = 0; d < D; d++) p += ((double)x[b * D + d] - s->b_dec[d]) * s->W_enc[d * L + i];
            R.pre[b * L + i] = p;
        }
        double *f = R.f + (size_t)b * L;
        if (s->cfg.arch == SAE_RELU) {
            for (int i = 0; i < L; i++) f[i] = fmax(R.pre[b * L + i], 0.0);
        } else {
            rank_desc(R.pre + (size_t)b * L, L, order);
            for (int q = 0; q < s->cfg.k; q++) f[order[q]] = fmax(R.pre[b * L + order[q]], 0.0);
        }
        double sq = 0;
        for (int d = 0; d < D; d++) {
            double xh = s->b_dec[d];
            for (int i = 0; i < L; i++) xh += f[i] * s->W_dec[i * D + d];
            R.xhat[b * D + d] = xh;
            sq += (xh - x[b * D + d]) * (xh - x[b * D + d]);
        }
        R.mse += sq / B;
        for (int i = 0; i < L; i++) {
            double w = 1;
            if (s->cfg.sparsity == SAE_L1_DECODER_NORM) {
                w = 0;
                for (int d = 0; d < D; d++) w += (double)s->W_dec[i * D + d] * s->W_dec[i * D + d];
                w = sqrt(w);
            }
            R.l1 += f[i] * w / B;
        }
        if (loss && loss->dead && loss->aux_coeff > 0) {
            // top k_aux of the dead latents' pre-activations, then ReLU; ê = W_decᵀ z
            int nd = 0;
            for (int i = 0; i < L; i++) v[i] = loss->dead[i] ? R.pre[b * L + i] : -INFINITY;
            for (int i = 0; i < L; i++) nd += loss->dead[i] != 0;
            rank_desc(v, L, order);
            int k = loss->k_aux < nd ? loss->k_aux : nd;
            memset(z, 0, sizeof(double) * L);
            for (int q = 0; q < k; q++) z[order[q]] = fmax(v[order[q]], 0.0);
            double a = 0;
            for (int d = 0; d < D; d++) {
                double e = x[b * D + d] - R.xhat[b * D + d], eh = 0;
                for (int i = 0; i < L; i++) eh += z[i] * s->W_dec[i * D + d];
                a += (eh - e) * (eh - e);
            }
            R.aux += a / B;
        }
    }
    free(order);
    free(v);
    free(z);
    return R;
}

static void ref_free(Ref *R) {
    free(R->pre);
    free(R->f);
    free(R->xhat);
}

static void check_forward(SaeConfig c, int B, const unsigned char *dead, int k_aux) {
    Sae *s = random_sae(c, 5);
    Rng r;
    rng_seed(&r, 9);
    float *x = malloc(sizeof(float) * B * c.d_in);
    fill_uniform(x, (size_t)B * c.d_in, &r, -1, 1);
    SaeLoss loss = {.l1_coeff = 0.3f, .aux_coeff = dead ? 0.25f : 0.0f, .k_aux = k_aux, .dead = dead};
    SaeActs *a = sae_acts_create(s, B, dead != NULL, k_aux);
    cr_assert_not_null(a);
    sae_forward(s, a, x, B, &loss);
    Ref R = ref_forward(s, x, B, &loss);
    float *pre = malloc(sizeof(float) * B * c.d_sae), *f = malloc(sizeof(float) * B * c.d_sae);
    float *xh = malloc(sizeof(float) * B * c.d_in);
    for (int i = 0; i < B * c.d_sae; i++) pre[i] = (float)R.pre[i], f[i] = (float)R.f[i];
    for (int i = 0; i < B * c.d_in; i++) xh[i] = (float)R.xhat[i];
    assert_allclose(a->pre, pre, (size_t)B * c.d_sae, 1e-5, 1e-5);
    assert_allclose(a->f, f, (size_t)B * c.d_sae, 1e-5, 1e-5);
    assert_allclose(a->xhat, xh, (size_t)B * c.d_in, 1e-5, 1e-5);
    cr_assert(fabs(a->mse - R.mse) < 1e-5 * (1 + R.mse), "mse %.9g vs %.9g", a->mse, R.mse);
    cr_assert(fabs(a->l1 - R.l1) < 1e-5 * (1 + R.l1), "l1 %.9g vs %.9g", a->l1, R.l1);
    cr_assert(fabs(a->aux - R.aux) < 1e-5 * (1 + R.aux), "aux %.9g vs %.9g", a->aux, R.aux);
    if (dead) cr_assert(R.aux > 0, "the AuxK case must exercise AuxK");
    double want = R.mse + 0.3 * R.l1 + (dead ? 0.25 * R.aux : 0);
    cr_assert(fabs(a->loss - want) < 1e-5 * (1 + want), "loss %.9g vs %.9g", a->loss, want);
    double l0 = 0;
    for (int i = 0; i < B * c.d_sae; i++) l0 += R.f[i] > 0;
    cr_assert(fabs(a->l0 - l0 / B) < 1e-12, "l0 %g vs %g", a->l0, l0 / B);
    ref_free(&R);
    free(pre);
    free(f);
    free(xh);
    free(x);
    sae_acts_free(a);
    sae_free(s);
}

Test(sae, forward_relu_matches_reference) {
    check_forward(sae_config(5, 9), 7, NULL, 0);
    SaeConfig c = sae_config(17, 33);  // odd sizes, more rows than one pool task
    c.sparsity = SAE_L1_UNIT_DECODER;
    check_forward(c, 65, NULL, 0);
}

Test(sae, forward_topk_auxk_matches_reference) {
    SaeConfig c = sae_config(6, 10);
    c.arch = SAE_TOPK;
    c.k = 3;
    unsigned char dead[10] = {0, 1, 0, 1, 1, 0, 0, 1, 0, 1};
    check_forward(c, 6, dead, 2);
    check_forward(c, 40, dead, 9);  // k_aux above the number of dead latents: all 5 are used
    c.k = 10;                       // k = d_sae: TopK is plain ReLU
    check_forward(c, 3, NULL, 0);
}

Test(sae, topk_selection_by_hand) {
    // One sample, identity-like encoder: pre = x (b_dec = b_enc = 0, W_enc = I).
    SaeConfig c = sae_config(6, 6);
    c.arch = SAE_TOPK;
    c.k = 3;
    Sae *s = sae_create(&c, 1);
    memset(s->ps.data, 0, sizeof(float) * s->ps.numel);
    for (int i = 0; i < 6; i++) s->W_enc[i * 6 + i] = 1, s->W_dec[i * 6 + i] = 1;
    SaeActs *a = sae_acts_create(s, 2, 0, 0);
    // Row 0: 0.5 ties with 0.5 (lower index kept); row 1: only two positive among the top 3.
    float x[12] = {0.1f, 0.5f, -2.0f, 0.5f, 0.9f, 0.5f, /**/ -1.0f, 0.2f, -0.1f, -3.0f, 0.7f, -0.5f};
    sae_forward(s, a, x, 2, NULL);
    float want[12] = {0, 0.5f, 0, 0.5f, 0.9f, 0, /**/ 0, 0.2f, 0, 0, 0.7f, 0};
    for (int i = 0; i < 12; i++) cr_assert_eq(a->f[i], want[i], "f[%d] = %g, want %g", i, (double)a->f[i], (double)want[i]);
    cr_assert_eq(a->l0, 2.5);
    sae_acts_free(a);
    sae_free(s);
}

// ---- gradients ------------------------------------------------------------------------------

typedef struct {
    Sae *s;
    SaeActs *a;
    float *x;
    int B;
    SaeLoss loss;
    float *e0;  // AuxK: the residual at the unperturbed point, held fixed
} GradCtx;

static int grad_loss(void *p, double *out) {
    GradCtx *c = p;
    sae_forward(c->s, c->a, c->x, c->B, &c->loss);
    double L = c->a->mse + (double)c->loss.l1_coeff * c->a->l1;
    if (c->e0 && c->a->aux_used) {
        const int D = c->s->cfg.d_in;
        double aux = 0;
        for (int i = 0; i < c->B * D; i++) {
            double r = (double)c->a->ehat[i] - c->e0[i];
            aux += r * r;
        }
        L += (double)c->loss.aux_coeff * aux / c->B;
    }
    *out = L;
    return 0;
}

static void check_gradients(SaeConfig c, int B, const unsigned char *dead, int k_aux, uint64_t seed) {
    Sae *s = random_sae(c, seed);
    Rng r;
    rng_seed(&r, seed + 1);
    GradCtx ctx = {.s = s, .B = B, .loss = {.l1_coeff = 0.4f}};
    ctx.x = malloc(sizeof(float) * B * c.d_in);
    fill_uniform(ctx.x, (size_t)B * c.d_in, &r, -1, 1);
    if (dead) {
        ctx.loss.aux_coeff = 0.5f;  // larger than 1/32 so the AuxK part is not lost in the rest
        ctx.loss.k_aux = k_aux;
        ctx.loss.dead = dead;
    }
    ctx.a = sae_acts_create(s, B, dead != NULL, k_aux);
    params_zero_grad(&s->ps);
    sae_forward(s, ctx.a, ctx.x, B, &ctx.loss);
    if (dead) {
        cr_assert(ctx.a->aux_used && ctx.a->aux > 0, "AuxK inactive in its own gradient test");
        ctx.e0 = malloc(sizeof(float) * B * c.d_in);
        for (int i = 0; i < B * c.d_in; i++) ctx.e0[i] = ctx.x[i] - ctx.a->xhat[i];
    }
    sae_backward(s, ctx.a, ctx.x, &ctx.loss);
    float *g = malloc(sizeof(float) * s->ps.numel);
    memcpy(g, s->ps.grad, sizeof(float) * s->ps.numel);
    GcOpts o = gc_defaults();
    // A step small enough that few pre-activations cross 0 or change rank, and kink detection
    // for those that do; the loss is summed in double from float activations, so rounding
    // costs ~1e-7·|L|/h.
    o.step = 2e-3f;
    o.kink = 0.05;
    o.atol = 2e-3;
    o.rtol = 1e-2;
    o.max_points = 0;
    for (int t = 0; t < s->ps.count; t++) {
        const ParamInfo *pi = &s->ps.info[t];
        double nz = 0;
        for (size_t i = 0; i < pi->numel; i++) nz += fabs(g[pi->offset + i]);
        cr_assert(nz > 0, "%s: gradient identically zero", pi->name);
        assert_gradcheck(pi->name, grad_loss, &ctx, s->ps.data + pi->offset, g + pi->offset, pi->numel, &o);
    }
    // backward accumulates: a second call on the same forward doubles every gradient
    grad_loss(&ctx, &(double){0});
    sae_backward(s, ctx.a, ctx.x, &ctx.loss);
    float *g2 = malloc(sizeof(float) * s->ps.numel);
    for (size_t i = 0; i < s->ps.numel; i++) g2[i] = 2 * g[i];
    assert_allclose(s->ps.grad, g2, s->ps.numel, 1e-6, 1e-5);
    free(g);
    free(g2);
    free(ctx.x);
    free(ctx.e0);
    sae_acts_free(ctx.a);
    sae_free(s);
}

Test(sae, gradients_relu_decoder_norm_l1) { check_gradients(sae_config(5, 9), 7, NULL, 0, 21); }

Test(sae, gradients_relu_plain_l1) {
    SaeConfig c = sae_config(4, 11);
    c.sparsity = SAE_L1_UNIT_DECODER;
    check_gradients(c, 6, NULL, 0, 22);
}

Test(sae, gradients_topk_auxk) {
    SaeConfig c = sae_config(6, 12);
    c.arch = SAE_TOPK;
    c.k = 3;
    unsigned char dead[12] = {1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1};
    check_gradients(c, 8, dead, 2, 23);
}

Test(sae, unit_decoder_projection_and_renormalisation) {
    SaeConfig c = sae_config(7, 5);
    c.sparsity = SAE_L1_UNIT_DECODER;
    Sae *s = random_sae(c, 3);
    Rng r;
    rng_seed(&r, 4);
    fill_uniform(s->ps.grad, s->ps.numel, &r, -1, 1);
    float *before = malloc(sizeof(float) * s->ps.numel);
    memcpy(before, s->ps.grad, sizeof(float) * s->ps.numel);
    sae_project_decoder_grad(s);
    for (int i = 0; i < 5; i++) {
        double wg = 0, ww = 0;
        for (int d = 0; d < 7; d++) wg += (double)s->W_dec[i * 7 + d] * s->dW_dec[i * 7 + d];
        for (int d = 0; d < 7; d++) ww += (double)s->W_dec[i * 7 + d] * s->W_dec[i * 7 + d];
        cr_assert(fabs(wg) < 1e-5 * sqrt(ww), "row %d: gradient keeps %g along the row", i, wg);
        // only the parallel part was removed: g − g_proj is parallel to w
        double c0 = 0;
        for (int d = 0; d < 7; d++) c0 += (double)s->W_dec[i * 7 + d] * (before[s->ps.info[2].offset + i * 7 + d]);
        for (int d = 0; d < 7; d++) {
            double removed = before[s->ps.info[2].offset + i * 7 + d] - s->dW_dec[i * 7 + d];
            cr_assert(fabs(removed - c0 / ww * s->W_dec[i * 7 + d]) < 1e-5);
        }
    }
    // the other gradients are untouched
    cr_assert(!memcmp(before, s->ps.grad, sizeof(float) * s->ps.info[2].offset));
    sae_normalize_decoder(s);
    for (int i = 0; i < 5; i++) {
        double ww = 0;
        for (int d = 0; d < 7; d++) ww += (double)s->W_dec[i * 7 + d] * s->W_dec[i * 7 + d];
        cr_assert(fabs(ww - 1) < 1e-6, "row %d norm² %g", i, ww);
    }
    free(before);
    sae_free(s);
}

Test(sae, init_unit_decoder_rows_encoder_transpose) {
    SaeConfig c = sae_config(8, 13);
    Sae *s = sae_create(&c, 42), *s2 = sae_create(&c, 42);
    for (int i = 0; i < 13; i++) {
        double ww = 0;
        for (int d = 0; d < 8; d++) {
            ww += (double)s->W_dec[i * 8 + d] * s->W_dec[i * 8 + d];
            cr_assert_eq(s->W_enc[d * 13 + i], s->W_dec[i * 8 + d], "W_enc != W_decᵀ at (%d,%d)", d, i);
        }
        cr_assert(fabs(ww - 1) < 1e-6);
        cr_assert_eq(s->b_enc[i], 0.0f);
    }
    for (int d = 0; d < 8; d++) cr_assert_eq(s->b_dec[d], 0.0f);
    cr_assert(!memcmp(s->ps.data, s2->ps.data, sizeof(float) * s->ps.numel), "same seed, different init");
    sae_free(s);
    sae_free(s2);
}

Test(sae, bad_configs_are_errors) {
    SaeConfig c = sae_config(0, 4);
    cr_assert_null(sae_create(&c, 1));
    c = sae_config(4, 4);
    c.arch = SAE_TOPK;
    c.k = 5;
    cr_assert_null(sae_create(&c, 1));
    cr_assert(strstr(err_msg(), "k = 5"), "%s", err_msg());
    c.k = 0;
    cr_assert_null(sae_create(&c, 1));
    c = sae_config(4, 4);
    Sae *s = sae_create(&c, 1);
    float x[4 * 4] = {0};
    SaeTrainConfig tc = sae_train_defaults();
    tc.batch = 8;  // more than the 4 samples
    cr_assert_null(sae_trainer_create(s, &tc, x, 4));
    cr_assert(strstr(err_msg(), "fewer than one batch"), "%s", err_msg());
    tc.batch = 2;
    tc.l1_coeff = -1;
    cr_assert_null(sae_trainer_create(s, &tc, x, 4));
    tc.l1_coeff = 0;
    tc.dead_window = 0;
    cr_assert_null(sae_trainer_create(s, &tc, x, 4));
    sae_free(s);
    sae_free(NULL);
    sae_trainer_free(NULL);
    sae_acts_free(NULL);
}

// ---- trainer --------------------------------------------------------------------------------

Test(sae, l1_warmup_is_linear) {
    SaeConfig c = sae_config(3, 4);
    Sae *s = sae_create(&c, 1);
    float x[8 * 3];
    Rng r;
    rng_seed(&r, 1);
    fill_uniform(x, 24, &r, 0, 1);
    SaeTrainConfig tc = sae_train_defaults();
    tc.batch = 4;
    tc.l1_coeff = 2.0f;
    tc.l1_warmup = 4;
    SaeTrainer *t = sae_trainer_create(s, &tc, x, 8);
    const float want[] = {0.5f, 1.0f, 1.5f, 2.0f, 2.0f, 2.0f};
    for (int i = 0; i < 6; i++) {
        SaeStepStats st;
        cr_assert_eq(sae_trainer_step(t, &st), 0, "%s", err_msg());
        cr_assert_eq(st.step, i);
        cr_assert(fabs(st.l1_coeff - want[i]) < 1e-6, "step %d: λ %g, want %g", i, (double)st.l1_coeff, (double)want[i]);
        cr_assert(fabs(st.loss - (st.mse + st.l1_coeff * st.l1)) < 1e-6 * (1 + st.loss));
    }
    sae_trainer_free(t);
    sae_free(s);
}

Test(sae, epochs_visit_every_sample_once_in_fresh_orders) {
    const int n = 12, B = 4;
    SaeConfig c = sae_config(2, 3);
    Sae *s = sae_create(&c, 1);
    float x[12 * 2];
    for (int i = 0; i < n; i++) x[2 * i] = (float)i, x[2 * i + 1] = 0;
    SaeTrainConfig tc = sae_train_defaults();
    tc.batch = B;
    tc.lr.lr = 0;  // the order is all this test looks at
    SaeTrainer *t = sae_trainer_create(s, &tc, x, n);
    int order[2][12];
    for (int e = 0; e < 2; e++) {
        int seen[12] = {0};
        for (int st = 0; st < n / B; st++) {
            cr_assert_eq(sae_trainer_step(t, NULL), 0);
            const float *xb = sae_trainer_batch(t);
            for (int b = 0; b < B; b++) {
                int id = (int)xb[2 * b];
                seen[id]++;
                order[e][st * B + b] = id;
            }
        }
        for (int i = 0; i < n; i++) cr_assert_eq(seen[i], 1, "epoch %d: sample %d seen %d times", e, i, seen[i]);
    }
    cr_assert(memcmp(order[0], order[1], sizeof order[0]), "the second epoch was not reshuffled");
    sae_trainer_free(t);
    sae_free(s);
}

// An SAE (d_in = 2) whose latent i fires on every input or on none, per `fires`.
static Sae *fixed_firing_sae(int L, const int *fires) {
    SaeConfig c = sae_config(2, L);
    Sae *s = sae_create(&c, 1);
    memset(s->ps.data, 0, sizeof(float) * s->ps.numel);
    for (int i = 0; i < L; i++) s->b_enc[i] = fires[i] ? 100.0f : -100.0f;
    return s;
}

Test(sae, dead_latents_tracked_over_the_window) {
    const int fires[3] = {1, 1, 0};
    Sae *s = fixed_firing_sae(3, fires);
    float x[4 * 2] = {1, 0, 0, 1, 1, 1, 0.5f, 0.5f};
    SaeTrainConfig tc = sae_train_defaults();
    tc.batch = 4;
    tc.lr.lr = 0;
    tc.dead_window = 10;
    SaeTrainer *t = sae_trainer_create(s, &tc, x, 4);
    SaeStepStats st;
    // samples seen after each step: 4, 8, 12 — latent 2 is dead once 10 samples passed silently
    const int want[3] = {0, 0, 1};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(sae_trainer_step(t, &st), 0);
        cr_assert_eq(st.n_dead, want[i], "after %d samples: %d dead, want %d", 4 * (i + 1), st.n_dead, want[i]);
    }
    const unsigned char *dead = sae_trainer_dead(t);
    cr_assert(!dead[0] && !dead[1] && dead[2]);
    sae_trainer_free(t);
    sae_free(s);
}

Test(sae, resampling_draws_inputs_by_squared_loss) {
    // Every latent dead (b_enc = -100, all else 0): x̂ = 0, so ℓ(x) = ‖x‖²: 1 for e1, 4 for 2·e2.
    // Each dead latent takes 2·e2 with probability 16 n2 / (n1 + 16 n2) ≈ 16/17 over the
    // scored inputs (n1 ≈ n2: drawn uniformly from the two rows).
    const int L = 2000;
    int *fires = calloc(L, sizeof(int));
    Sae *s = fixed_firing_sae(L, fires);
    float x[2 * 2] = {1, 0, 0, 2};
    SaeTrainConfig tc = sae_train_defaults();
    tc.batch = 2;
    tc.lr.lr = 0;
    tc.dead_window = 1;
    tc.resample_inputs = 4096;
    tc.seed = 5;
    SaeTrainer *t = sae_trainer_create(s, &tc, x, 2);
    cr_assert_eq(sae_trainer_step(t, NULL), 0);
    cr_assert_eq(sae_trainer_n_dead(t), L);
    Optim *o = sae_trainer_optim(t);
    for (size_t i = 0; i < s->ps.numel; i++) o->m[i] = o->v[i] = 1.0f;
    cr_assert_eq(sae_trainer_resample(t), L);
    cr_assert_eq(sae_trainer_n_dead(t), 0);
    cr_assert_eq(sae_trainer_n_resampled(t), L);
    int n2 = 0;
    for (int i = 0; i < L; i++) {
        const float *w = s->W_dec + 2 * i;
        int is2 = w[0] == 0.0f && w[1] == 1.0f;
        cr_assert(is2 || (w[0] == 1.0f && w[1] == 0.0f), "latent %d: decoder (%g, %g) is no normalised input", i, (double)w[0], (double)w[1]);
        n2 += is2;
        // no alive latents: the mean alive encoder norm falls back to 1, times 0.2
        cr_assert(fabsf(s->W_enc[0 * L + i] - 0.2f * w[0]) < 1e-7f && fabsf(s->W_enc[1 * L + i] - 0.2f * w[1]) < 1e-7f);
        cr_assert_eq(s->b_enc[i], 0.0f);
    }
    // n2 ~ Binomial(2000, 16/17): mean 1882, σ 10.5 (plus the pool's own spread, ~2); 6 σ.
    cr_assert(fabs(n2 - 2000.0 * 16 / 17) < 63, "%d of 2000 latents took the input with 4× the loss", n2);
    // Adam moments: zero for every resampled entry (all of W_enc, b_enc, W_dec), 1 for b_dec.
    for (int p = 0; p < 3; p++) {
        const ParamInfo *pi = &s->ps.info[p];
        for (size_t i = 0; i < pi->numel; i++)
            cr_assert(o->m[pi->offset + i] == 0.0f && o->v[pi->offset + i] == 0.0f, "%s[%zu] moments not reset", pi->name, i);
    }
    const ParamInfo *bd = &s->ps.info[3];
    for (size_t i = 0; i < bd->numel; i++) cr_assert(o->m[bd->offset + i] == 1.0f && o->v[bd->offset + i] == 1.0f);
    sae_trainer_free(t);
    sae_free(s);
    free(fires);
}

Test(sae, resampling_scales_encoder_to_alive_mean_and_leaves_alive_alone) {
    const int fires[4] = {1, 0, 1, 0};
    Sae *s = fixed_firing_sae(4, fires);
    // alive latents 0 and 2 with encoder norms 3 and 5 → mean 4 → resampled norm 0.8
    s->W_enc[0 * 4 + 0] = 3;
    s->W_enc[1 * 4 + 2] = 5;
    s->W_dec[0 * 2 + 0] = 0.5f;
    s->W_dec[2 * 2 + 1] = 0.25f;
    float x[2 * 2] = {3, 4, 3, 4};
    SaeTrainConfig tc = sae_train_defaults();
    tc.batch = 2;
    tc.lr.lr = 0;
    tc.dead_window = 1;
    tc.resample_every = 1;  // the step itself resamples
    tc.resample_inputs = 16;
    SaeTrainer *t = sae_trainer_create(s, &tc, x, 2);
    float alive_before[2 * 4];
    for (int d = 0; d < 2; d++) alive_before[d * 4 + 0] = s->W_enc[d * 4 + 0], alive_before[d * 4 + 2] = s->W_enc[d * 4 + 2];
    SaeStepStats st;
    cr_assert_eq(sae_trainer_step(t, &st), 0);
    cr_assert_eq(st.n_resampled, 2);
    for (int i = 1; i < 4; i += 2) {
        cr_assert(fabsf(s->W_dec[i * 2] - 0.6f) < 1e-6f && fabsf(s->W_dec[i * 2 + 1] - 0.8f) < 1e-6f);
        cr_assert(fabsf(s->W_enc[0 * 4 + i] - 0.8f * 0.6f) < 1e-6f && fabsf(s->W_enc[1 * 4 + i] - 0.8f * 0.8f) < 1e-6f,
                  "latent %d: encoder (%g, %g)", i, (double)s->W_enc[i], (double)s->W_enc[4 + i]);
    }
    for (int d = 0; d < 2; d++)
        cr_assert(s->W_enc[d * 4 + 0] == alive_before[d * 4 + 0] && s->W_enc[d * 4 + 2] == alive_before[d * 4 + 2]);
    cr_assert(s->b_enc[0] == 100.0f && s->b_enc[2] == 100.0f);
    sae_trainer_free(t);
    sae_free(s);
}

// Trains for `steps` on toy data with `threads` threads; returns the parameters (malloc'd).
static float *train_toy(int threads, SaeArch arch, int steps, size_t *numel) {
    pool_set_threads(threads);
    FeatSet *fs = feat_create(24, 10, 0.15, 1);
    const size_t n = 600;
    float *x = malloc(sizeof(float) * n * 10);
    Rng r;
    rng_seed(&r, 2);
    cr_assert_eq(feat_sample(fs, &r, x, NULL, n), 0);
    SaeConfig c = sae_config(10, 70);  // 70 > one column task, odd
    c.arch = arch;
    c.k = 4;
    Sae *s = sae_create(&c, 3);
    SaeTrainConfig tc = sae_train_defaults();
    tc.batch = 100;  // several row tasks
    tc.l1_coeff = arch == SAE_RELU ? 0.1f : 0.0f;
    tc.lr.lr = 1e-2f;
    tc.dead_window = 200;
    tc.resample_every = 10;
    tc.resample_inputs = 300;
    SaeTrainer *t = sae_trainer_create(s, &tc, x, n);
    long resampled = 0;
    for (int i = 0; i < steps; i++) {
        SaeStepStats st;
        cr_assert_eq(sae_trainer_step(t, &st), 0, "%s", err_msg());
        resampled += st.n_resampled;
    }
    cr_assert(sae_trainer_n_resampled(t) == resampled);
    float *p = malloc(sizeof(float) * s->ps.numel);
    memcpy(p, s->ps.data, sizeof(float) * s->ps.numel);
    *numel = s->ps.numel;
    sae_trainer_free(t);
    sae_free(s);
    feat_free(fs);
    free(x);
    return p;
}

Test(sae, training_is_bit_identical_on_1_and_2_threads) {
    for (int arch = 0; arch < 2; arch++) {
        size_t n1, n2;
        float *a = train_toy(1, (SaeArch)arch, 40, &n1), *b = train_toy(2, (SaeArch)arch, 40, &n2);
        cr_assert_eq(n1, n2);
        cr_assert(!memcmp(a, b, sizeof(float) * n1), "%s: parameters differ between 1 and 2 threads",
                  arch ? "topk" : "relu");
        free(a);
        free(b);
    }
}

// ---- metrics --------------------------------------------------------------------------------

Test(sae, evaluate_exact_reconstruction_and_zero_sae) {
    // W_enc = [I | −I], W_dec = [I; −I]: x̂ = ReLU(x) − ReLU(−x) = x exactly.
    const int D = 3, L = 6, n = 5;
    SaeConfig c = sae_config(D, L);
    Sae *s = sae_create(&c, 1);
    memset(s->ps.data, 0, sizeof(float) * s->ps.numel);
    for (int d = 0; d < D; d++) {
        s->W_enc[d * L + d] = 1, s->W_enc[d * L + D + d] = -1;
        s->W_dec[d * D + d] = 1, s->W_dec[(D + d) * D + d] = -1;
    }
    float x[5 * 3] = {1, 0, -2, 0.5f, 0.5f, 0, 0, 0, 0, -1, 3, 2, 0.25f, -0.25f, 0};
    SaeEval ev;
    float dens[6];
    cr_assert_eq(sae_evaluate(s, x, n, 0.3, &ev, dens), 0);
    cr_assert(ev.mse == 0 && ev.fvu == 0, "mse %g fvu %g", ev.mse, ev.fvu);
    cr_assert(fabs(ev.l0 - 9.0 / 5) < 1e-12, "l0 %g", ev.l0);  // 9 nonzero entries
    cr_assert(fabs(ev.l1 - 10.5 / 5) < 1e-6, "l1 %g", ev.l1);  // Σ|x| = 10.5
    // firing counts: x>0 per coordinate {3, 2, 1}, x<0 {1, 1, 1}; density 1/5 < 0.3
    const float want[6] = {0.6f, 0.4f, 0.2f, 0.2f, 0.2f, 0.2f};
    assert_allclose(dens, want, 6, 1e-7, 0);
    cr_assert_eq(ev.dead_frac, 0.0);
    cr_assert(fabs(ev.low_frac - 4.0 / 6) < 1e-12);
    // All parameters zero: x̂ = 0, FVU = Σ‖x‖² / Σ‖x − mean‖², every latent dead.
    memset(s->ps.data, 0, sizeof(float) * s->ps.numel);
    cr_assert_eq(sae_evaluate(s, x, n, 1e-5, &ev, NULL), 0);
    double sq = 0, var = 0, mean[3] = {0};
    for (int i = 0; i < n * D; i++) sq += (double)x[i] * x[i], mean[i % D] += x[i] / n;
    for (int i = 0; i < n * D; i++) var += (x[i] - mean[i % D]) * (x[i] - mean[i % D]);
    cr_assert(fabs(ev.fvu - sq / var) < 1e-12, "fvu %.15g vs %.15g", ev.fvu, sq / var);
    cr_assert(fabs(ev.mse - sq / n) < 1e-12);
    cr_assert(ev.dead_frac == 1.0 && ev.low_frac == 1.0 && ev.l0 == 0);
    cr_assert_eq(sae_evaluate(s, x, 0, 1e-5, &ev, NULL), -1);
    sae_free(s);
}

Test(sae, density_histogram_by_hand) {
    const float dens[6] = {0, 2e-5f, 2e-3f, 0.5f, 1.0f, 1e-9f};
    float counts[6];
    int zero;
    sae_density_histogram(dens, 6, -6, 0, 6, counts, &zero);
    // log10: -4.7 → bin 1; -2.7 → bin 3; -0.30 → bin 5; 0 → clamped to 5; -9 → clamped to 0
    const float want[6] = {1, 1, 0, 1, 0, 2};
    assert_allclose(counts, want, 6, 0, 0);
    cr_assert_eq(zero, 1);
}

Test(sae, mmcs_known_geometry) {
    // true features e0, e1, e2 in 4 dims; dictionary: 2·e0, −e1, (e1 + √3·e3)/2 (cos 1/2 with
    // e1), e3, 3·e2 → best cosines 1, 0.5, 1 (signed: −e1 does not count as a match).
    const float truth[3 * 4] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
    const float h = 0.8660254037844386f;
    const float dict[5 * 4] = {2, 0, 0, 0, 0, -1, 0, 0, 0, 0.5f, 0, h, 0, 0, 0, 1, 0, 0, 3, 0};
    float best[3];
    int idx[3];
    double m;
    cr_assert_eq(sae_mmcs(truth, 3, dict, 5, 4, best, idx, &m), 0);
    cr_assert(fabs(best[0] - 1) < 1e-6 && fabs(best[1] - 0.5) < 1e-6 && fabs(best[2] - 1) < 1e-6);
    cr_assert(idx[0] == 0 && idx[1] == 2 && idx[2] == 4);
    cr_assert(fabs(m - 2.5 / 3) < 1e-6, "mmcs %g", m);
    cr_assert(fabs(sae_share_above(best, 3, 0.9f) - 2.0 / 3) < 1e-12);
    cr_assert_eq(sae_mmcs(truth, 0, dict, 5, 4, NULL, NULL, &m), -1);
}

// ---- SAELens folders ------------------------------------------------------------------------

static char tmp[64];
static void setup(void) { make_tmpdir(tmp, sizeof tmp); }
static void teardown(void) { rm_tree(tmp); }

static void expect_tensor(const StFile *f, int i, const char *name, int ndim, int64_t a, int64_t b, const float *data) {
    const StTensor *t = &f->tensors[i];
    cr_assert_str_eq(t->name, name, "tensor %d is '%s', want '%s'", i, t->name, name);
    cr_assert_eq(t->dtype, ST_F32);
    cr_assert_eq(t->ndim, ndim, "%s: %d dims", name, t->ndim);
    cr_assert_eq(t->shape[0], a, "%s: shape[0] %lld", name, (long long)t->shape[0]);
    if (ndim == 2) cr_assert_eq(t->shape[1], b, "%s: shape[1] %lld", name, (long long)t->shape[1]);
    cr_assert(!memcmp(t->data, data, sizeof(float) * (size_t)a * (ndim == 2 ? (size_t)b : 1)), "%s: data differ", name);
}

Test(sae, saelens_folder_names_shapes_and_round_trip, .init = setup, .fini = teardown) {
    for (int arch = 0; arch < 2; arch++) {
        SaeConfig c = sae_config(5, 7);
        c.arch = (SaeArch)arch;
        c.k = 2;
        snprintf(c.hook_name, sizeof c.hook_name, "blocks.0.hook_resid_post");
        snprintf(c.model_name, sizeof c.model_name, "mechlab-test");
        c.hook_layer = 0;
        c.context_size = 32;
        Sae *s = random_sae(c, 7 + arch);
        char dir[128], path[160];
        snprintf(dir, sizeof dir, "%s/sae%d/deeper", tmp, arch);
        cr_assert_eq(sae_save_saelens(dir, s, 0.25), 0, "%s", err_msg());
        snprintf(path, sizeof path, "%s/sae_weights.safetensors", dir);
        StFile f = {0};
        cr_assert_eq(st_open(&f, path), 0, "%s", err_msg());
        cr_assert_eq(f.n, 4);
        expect_tensor(&f, 0, "W_enc", 2, 5, 7, s->W_enc);
        expect_tensor(&f, 1, "b_enc", 1, 7, 0, s->b_enc);
        expect_tensor(&f, 2, "W_dec", 2, 7, 5, s->W_dec);
        expect_tensor(&f, 3, "b_dec", 1, 5, 0, s->b_dec);
        st_close(&f);
        snprintf(path, sizeof path, "%s/cfg.json", dir);
        JsonDoc doc = {0};
        cr_assert_eq(json_parse_file(&doc, path, 1 << 20), 0, "%s", err_msg());
        const JsonValue *r = doc.root;
        int64_t v;
        cr_assert(!json_get_int(r, "d_in", 0, 100, &v) && v == 5);
        cr_assert(!json_get_int(r, "d_sae", 0, 100, &v) && v == 7);
        cr_assert_str_eq(json_str(json_get(r, "architecture")), arch ? "topk" : "standard");
        cr_assert_str_eq(json_str(json_get(r, "activation_fn_str")), arch ? "topk" : "relu");
        cr_assert_str_eq(json_str(json_get(r, "dtype")), "float32");
        cr_assert_str_eq(json_str(json_get(r, "device")), "cpu");
        cr_assert_str_eq(json_str(json_get(r, "hook_name")), "blocks.0.hook_resid_post");
        cr_assert_str_eq(json_str(json_get(r, "model_name")), "mechlab-test");
        cr_assert_str_eq(json_str(json_get(r, "normalize_activations")), "none");
        cr_assert(!json_get_int(r, "hook_layer", -1, 100, &v) && v == 0);
        cr_assert(!json_get_int(r, "context_size", 0, 100, &v) && v == 32);
        int bv;
        cr_assert(!json_get_bool(r, "apply_b_dec_to_input", &bv) && bv);
        cr_assert(json_is(json_get(r, "hook_head_index"), JSON_NULL));
        if (arch) {
            cr_assert(!json_get_int(r, "k", 0, 100, &v) && v == 2);
            cr_assert(!json_get_int(json_get(r, "activation_fn_kwargs"), "k", 0, 100, &v) && v == 2);
        } else {
            cr_assert_null(json_get(r, "k"));
            cr_assert(!json_get_bool(r, "scale_sparsity_penalty_by_decoder_norm", &bv) && bv);
        }
        double l1;
        cr_assert(!json_get_double(r, "l1_coefficient", &l1) && l1 == 0.25);
        json_free(&doc);
        Sae *t = sae_load_saelens(dir);
        cr_assert_not_null(t, "%s", err_msg());
        cr_assert(t->cfg.arch == c.arch && t->cfg.d_in == 5 && t->cfg.d_sae == 7 && t->cfg.hook_layer == 0 &&
                  t->cfg.context_size == 32 && t->cfg.sparsity == c.sparsity);
        if (arch) cr_assert_eq(t->cfg.k, 2);
        cr_assert_str_eq(t->cfg.hook_name, c.hook_name);
        cr_assert_str_eq(t->cfg.model_name, c.model_name);
        cr_assert(!memcmp(t->ps.data, s->ps.data, sizeof(float) * s->ps.numel), "parameters differ after the round trip");
        sae_free(t);
        sae_free(s);
    }
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

// Weights for a d_in = 3, d_sae = 4 SAE with W_enc of the given shape (to make a bad one).
static void write_weights(const char *dir, int64_t we0, int64_t we1) {
    static float buf[64];
    for (int i = 0; i < 64; i++) buf[i] = (float)i / 8;
    const int64_t sh_we[] = {we0, we1}, sh_be[] = {4}, sh_wd[] = {4, 3}, sh_bd[] = {3};
    StWriteTensor t[] = {{"W_enc", ST_F32, 2, sh_we, buf}, {"b_enc", ST_F32, 1, sh_be, buf},
                         {"W_dec", ST_F32, 2, sh_wd, buf}, {"b_dec", ST_F32, 1, sh_bd, buf}};
    char path[192];
    snprintf(path, sizeof path, "%s/sae_weights.safetensors", dir);
    cr_assert_eq(st_save(path, t, 4, NULL, NULL, 0), 0, "%s", err_msg());
}

Test(sae, loads_configs_as_saelens_writes_them, .init = setup, .fini = teardown) {
    // SAELens 4.x: a topk SAE as activation_fn_str "topk" with activation_fn_kwargs {"k": …}
    write_weights(tmp, 3, 4);
    write_file(tmp, "cfg.json",
               "{\"architecture\": \"topk\", \"d_in\": 3, \"d_sae\": 4, \"dtype\": \"float32\", \"device\": "
               "\"cuda\", \"model_name\": \"gpt2\", \"hook_name\": \"blocks.2.hook_mlp_out\", \"hook_layer\": 2, "
               "\"hook_head_index\": null, \"activation_fn_str\": \"topk\", \"activation_fn_kwargs\": {\"k\": 3}, "
               "\"apply_b_dec_to_input\": true, \"finetuning_scaling_factor\": false, \"context_size\": 256, "
               "\"normalize_activations\": \"none\", \"neuronpedia_id\": null, \"seqpos_slice\": [null]}");
    Sae *s = sae_load_saelens(tmp);
    cr_assert_not_null(s, "%s", err_msg());
    cr_assert(s->cfg.arch == SAE_TOPK && s->cfg.k == 3 && s->cfg.hook_layer == 2 && s->cfg.context_size == 256);
    cr_assert_str_eq(s->cfg.hook_name, "blocks.2.hook_mlp_out");
    cr_assert_eq(s->W_enc[5], 5.0f / 8);
    sae_free(s);
    // A converted topk SAE: architecture "topk", top-level k, activation_fn_str "relu"
    write_file(tmp, "cfg.json",
               "{\"architecture\": \"topk\", \"hook_name\": \"blocks.8.hook_resid_post\", \"hook_layer\": 8, "
               "\"k\": 2, \"activation_fn_str\": \"relu\", \"d_sae\": 4, \"d_in\": 3, \"apply_b_dec_to_input\": true,"
               " \"normalize_activations\": \"none\", \"dtype\": \"float32\", \"activation_fn_kwargs\": {}}");
    s = sae_load_saelens(tmp);
    cr_assert_not_null(s, "%s", err_msg());
    cr_assert(s->cfg.arch == SAE_TOPK && s->cfg.k == 2);
    sae_free(s);
    // An older standard SAE: no architecture field at all
    write_file(tmp, "cfg.json", "{\"d_in\": 3, \"d_sae\": 4, \"hook_name\": \"blocks.0.hook_resid_pre\"}");
    s = sae_load_saelens(tmp);
    cr_assert_not_null(s, "%s", err_msg());
    cr_assert(s->cfg.arch == SAE_RELU && s->cfg.hook_layer == -1);
    sae_free(s);
}

static void expect_load_error(const char *dir, const char *cfg, const char *needle) {
    if (cfg) write_file(dir, "cfg.json", cfg);
    Sae *s = sae_load_saelens(dir);
    cr_assert_null(s, "loaded although: %s", needle);
    cr_assert(strstr(err_msg(), needle), "error '%s' does not mention '%s'", err_msg(), needle);
}

Test(sae, load_errors_name_the_problem, .init = setup, .fini = teardown) {
    expect_load_error(tmp, NULL, "cfg.json");  // no files at all
    write_weights(tmp, 3, 4);
    expect_load_error(tmp, "{\"d_in\": 3, \"d_sae\": 4, \"architecture\": \"jumprelu\"}", "jumprelu");
    expect_load_error(tmp, "{\"d_in\": 3, \"d_sae\": 4, \"apply_b_dec_to_input\": false}", "apply_b_dec_to_input");
    expect_load_error(tmp, "{\"d_in\": 3, \"d_sae\": 4, \"normalize_activations\": \"expected_average_only_in\"}",
                      "normalize_activations");
    expect_load_error(tmp, "{\"d_in\": 3, \"d_sae\": 4, \"architecture\": \"topk\"}", "'k'");
    expect_load_error(tmp, "{\"d_in\": 3, \"d_sae\": 4, \"architecture\": \"topk\", \"k\": 9}", "k");
    expect_load_error(tmp, "{\"d_sae\": 4}", "d_in");
    expect_load_error(tmp, "{\"d_in\": 3, \"d_sae\": 5}", "W_enc");  // the file's tensors are d_sae 4
    write_weights(tmp, 4, 3);                                         // W_enc stored transposed
    expect_load_error(tmp, "{\"d_in\": 3, \"d_sae\": 4}", "W_enc");
}

// ---- ground truth ---------------------------------------------------------------------------

// 32 true features in 16 dims (each active with p = 3/32), a 64-latent dictionary, a
// half-decade λ grid. The smaller setting of the sae-toy experiment (128 in 64, 256 latents),
// sized to train in well under a second per λ.
Test(sae, ground_truth_recovery_over_lambda, .timeout = 120) {
    const int F = 32, D = 16, L = 64, NL = 5;
    const float lambdas[5] = {0.01f, 0.0316f, 0.1f, 0.316f, 1.0f};
    FeatSet *fs = feat_create(F, D, 3.0 / F, 1);
    const size_t n = 16384, ne = 8192;
    float *x = malloc(sizeof(float) * n * D), *xe = malloc(sizeof(float) * ne * D);
    Rng r;
    rng_seed(&r, 2);
    cr_assert_eq(feat_sample(fs, &r, x, NULL, n), 0);
    cr_assert_eq(feat_sample(fs, &r, xe, NULL, ne), 0);
    double mmcs[5], share[5], l0[5], fvu[5];
    float best[32];
    for (int j = 0; j < NL; j++) {
        SaeConfig c = sae_config(D, L);
        Sae *s = sae_create(&c, 3);
        SaeTrainConfig tc = sae_train_defaults();
        tc.batch = 128;
        tc.lr.lr = 3e-3f;
        tc.l1_coeff = lambdas[j];
        tc.l1_warmup = 150;
        SaeTrainer *t = sae_trainer_create(s, &tc, x, n);
        for (int i = 0; i < 1500; i++) cr_assert_eq(sae_trainer_step(t, NULL), 0, "%s", err_msg());
        SaeEval ev;
        cr_assert_eq(sae_evaluate(s, xe, ne, 1e-4, &ev, NULL), 0);
        cr_assert_eq(sae_mmcs(fs->dirs, F, s->W_dec, L, D, best, NULL, &mmcs[j]), 0);
        share[j] = sae_share_above(best, F, 0.9f);
        l0[j] = ev.l0;
        fvu[j] = ev.fvu;
        cr_log_info("lambda %.4g: MMCS %.4f, share > 0.9 %.3f, L0 %.2f, FVU %.4f", (double)lambdas[j], mmcs[j],
                    share[j], l0[j], fvu[j]);
        sae_trainer_free(t);
        sae_free(s);
    }
    int b = 0;
    for (int j = 1; j < NL; j++)
        if (mmcs[j] > mmcs[b]) b = j;
    cr_expect(mmcs[b] >= 0.95, "best MMCS %.4f < 0.95 (lambda %g)", mmcs[b], (double)lambdas[b]);
    cr_expect(share[b] >= 0.9, "best lambda: %.3f of features above cos 0.9", share[b]);
    cr_expect(l0[b] <= 20, "best lambda: L0 %.2f", l0[b]);
    // λ ten times too small: two half-decade steps below the best; "clearly lower" = 0.02 less
    cr_assert(b >= 2, "the best lambda %g is at the bottom of the grid: no lambda ten times smaller", (double)lambdas[b]);
    cr_expect(mmcs[b - 2] <= mmcs[b] - 0.02, "lambda/10: MMCS %.4f vs best %.4f", mmcs[b - 2], mmcs[b]);
    for (int j = 1; j < NL; j++) {
        cr_expect(l0[j] < l0[j - 1], "L0 does not fall from lambda %g (%.3f) to %g (%.3f)", (double)lambdas[j - 1],
                  l0[j - 1], (double)lambdas[j], l0[j]);
        cr_expect(fvu[j] > fvu[j - 1], "FVU does not rise from lambda %g (%.4f) to %g (%.4f)", (double)lambdas[j - 1],
                  fvu[j - 1], (double)lambdas[j], fvu[j]);
    }
    free(x);
    free(xe);
    feat_free(fs);
}

// ---- the sae-toy command ----------------------------------------------------------------------

Test(sae, toy_command_help_and_usage_errors, .init = setup, .fini = teardown) {
    cr_assert_eq(run_cli("run sae-toy --help", tmp), 0);
    char *out = read_in(tmp, "out.txt");
    cr_assert(out && strstr(out, "--lambdas") && strstr(out, "Sharkey"), "help: %s", out ? out : "(none)");
    free(out);
    cr_assert_eq(run_cli("run sae-toy --bogus", tmp), 2);
    cr_assert_eq(run_cli("run sae-toy --lambdas 0.1,x", tmp), 2);
    cr_assert_eq(run_cli("run sae-toy --lambdas 0.1,", tmp), 2);
    cr_assert_eq(run_cli("run sae-toy --lambdas -1", tmp), 2);
    cr_assert_eq(run_cli("run sae-toy --steps 0", tmp), 2);
    cr_assert_eq(run_cli("run sae-toy --active 0", tmp), 2);
    cr_assert_eq(run_cli("run sae-toy --samples 10 --batch 20", tmp), 2);
    cr_assert_eq(run_cli("run sae-toy extra", tmp), 2);
    char *err = read_in(tmp, "err.txt");
    cr_assert(err && strstr(err, "mechlab run sae-toy:"), "usage message: %s", err ? err : "(none)");
    free(err);
    out = NULL;
    cr_assert_eq(run_cli("list", tmp), 0);
    out = read_in(tmp, "out.txt");
    cr_assert(out && strstr(out, "sae-toy"), "list: %s", out ? out : "(none)");
    free(out);
}

Test(sae, toy_command_tiny_run_writes_its_files, .init = setup, .fini = teardown) {
    char args[512];
    snprintf(args, sizeof args,
             "run sae-toy --out %s/run --features 8 --dims 4 --active 1 --steps 60 --batch 32 --samples 512 "
             "--eval 512 --lambdas 1,0.1 --big-dict 16 --resample-every 10 --dead-window 64 --threads 1",
             tmp);
    int rc = run_cli(args, tmp);
    char *err = read_in(tmp, "err.txt");
    cr_assert(rc == 0, "exit %d: %s", rc, err ? err : "");
    cr_assert(err && !strstr(err, "mechlab:"), "an error, not a check miss: %s", err);
    free(err);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/run", tmp);
    const char *files[] = {"report.html", "mmcs.svg", "l0.svg", "fvu.svg", "density.svg", "cos_heatmap.svg",
                           "dead_over_training.svg", "dead_vs_dict.svg", "sweep.csv"};
    for (int i = 0; i < 9; i++) {
        char *t = read_in(dir, files[i]);
        cr_assert(t && strlen(t) > 20, "%s missing or empty", files[i]);
        free(t);
    }
    char *csv = read_in(dir, "sweep.csv");
    int lines = 0;
    for (char *p = csv; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 9, "sweep.csv: %d lines (header, 2 lambdas, 2 ReLU and 4 TopK resampling runs)", lines);
    free(csv);
    char path[256];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    JsonDoc doc = {0};
    cr_assert_eq(json_parse_file(&doc, path, 1 << 20), 0, "%s", err_msg());
    const JsonValue *res = json_get(doc.root, "results");
    const JsonValue *sw = json_get(res, "sweep");
    cr_assert_eq(json_len(sw), 2u);
    double l0, l1;
    cr_assert(!json_get_double(json_at(sw, 0), "lambda", &l0) && !json_get_double(json_at(sw, 1), "lambda", &l1));
    cr_assert(l0 < l1, "sweep not sorted by lambda");
    cr_assert_not_null(json_get(json_get(res, "resampling"), "with"));
    // TopK comparison at 1x and 2x the 8 true features (--big-dict 16 is 2x, so two sizes)
    cr_assert_eq(json_len(json_get(res, "resampling_topk")), 2u);
    cr_assert(json_len(json_get(doc.root, "checks")) >= 6);
    double missed;
    cr_assert_eq(json_get_double(doc.root, "checks_missed", &missed), 0);
    cr_assert(missed >= 0);
    cr_assert_eq(rc, 0, "a completed run exits 0 whatever it missed (exit %d, %g missed)", rc, missed);
    json_free(&doc);
    snprintf(path, sizeof path, "%s/sae-best", dir);
    Sae *s = sae_load_saelens(path);
    cr_assert_not_null(s, "%s", err_msg());
    cr_assert(s->cfg.d_in == 4 && s->cfg.d_sae == 16);
    sae_free(s);
}

// ---- spliced into a transformer: loss recovered -------------------------------------------------

static const TfConfig TINY_TF = {.n_layers = 2, .d_model = 16, .n_heads = 2, .d_head = 8, .d_mlp = 32,
                                 .n_ctx = 8, .d_vocab = 11, .act_fn = TF_ACT_GELU_NEW,
                                 .normalization_type = TF_NORM_LN, .eps = 1e-5f};

typedef struct {
    const Sae *s;
} RefSplice;

// Writes the reference (double) reconstruction into the activation: an independent splice.
static int ref_splice(const char *name, Tensor act, void *user) {
    (void)name;
    const Sae *s = ((RefSplice *)user)->s;
    int rows = act.shape[0] * act.shape[1];
    Ref R = ref_forward(s, act.data, rows, NULL);
    for (int i = 0; i < rows * s->cfg.d_in; i++) act.data[i] = (float)R.xhat[i];
    ref_free(&R);
    return 0;
}

Test(sae, loss_recovered_through_hooks) {
    Transformer *m = tf_create(&TINY_TF, 3);
    cr_assert_not_null(m, "%s", err_msg());
    tf_init_weights(m, 4);
    const int B = 3, T = 8;
    int tok[24], tgt[24];
    Rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < B * T; i++) tok[i] = (int)rng_int(&r, 11), tgt[i] = (int)rng_int(&r, 11);
    const char *hook = "blocks.0.hook_resid_post";
    SaeLossRecovered lr;

    // An exact reconstruction (x̂ = ReLU(x) − ReLU(−x) = x): nothing lost, recovered = 1.
    SaeConfig c = sae_config(16, 32);
    Sae *s = sae_create(&c, 1);
    memset(s->ps.data, 0, sizeof(float) * s->ps.numel);
    for (int d = 0; d < 16; d++) {
        s->W_enc[d * 32 + d] = 1, s->W_enc[d * 32 + 16 + d] = -1;
        s->W_dec[d * 16 + d] = 1, s->W_dec[(16 + d) * 16 + d] = -1;
    }
    cr_assert_eq(sae_loss_recovered(m, s, hook, tok, tgt, B, T, &lr), 0, "%s", err_msg());
    cr_assert(lr.loss_orig == lr.loss_sae, "exact SAE: %.9g vs %.9g", lr.loss_sae, lr.loss_orig);
    cr_assert(fabs(lr.loss_zero - lr.loss_orig) > 1e-3, "zero ablation changed nothing");
    cr_assert_eq(lr.recovered, 1.0);
    // The same model without hooks gives L_orig (the splice left no trace).
    double l;
    cr_assert_eq(tf_forward(m, tok, tgt, B, T, NULL, &l), 0);
    cr_assert_eq(l, lr.loss_orig);

    // All parameters zero: x̂ = 0 is the zero ablation, recovered = 0.
    memset(s->ps.data, 0, sizeof(float) * s->ps.numel);
    cr_assert_eq(sae_loss_recovered(m, s, hook, tok, tgt, B, T, &lr), 0);
    cr_assert(lr.loss_sae == lr.loss_zero && lr.recovered == 0.0, "zero SAE: %.9g vs %.9g", lr.loss_sae, lr.loss_zero);
    sae_free(s);

    // A random SAE: L_sae equals the loss with an independent (double) reconstruction spliced in.
    s = random_sae(c, 8);
    cr_assert_eq(sae_loss_recovered(m, s, hook, tok, tgt, B, T, &lr), 0);
    RefSplice rs = {s};
    HookList hl = {0};
    cr_assert_eq(hooks_add(&hl, hook, HOOK_FORWARD, ref_splice, &rs), 0);
    cr_assert_eq(tf_forward(m, tok, tgt, B, T, &hl, &l), 0);
    cr_assert(fabs(l - lr.loss_sae) < 1e-5, "spliced loss %.9g vs reference %.9g", lr.loss_sae, l);
    double want = (lr.loss_zero - lr.loss_sae) / (lr.loss_zero - lr.loss_orig);
    cr_assert(fabs(lr.recovered - want) < 1e-12);
    hooks_free(&hl);

    // hook_z [B,T,H,dh] is read as B·T rows of H·dh = 16.
    cr_assert_eq(sae_loss_recovered(m, s, "blocks.1.attn.hook_z", tok, tgt, B, T, &lr), 0, "%s", err_msg());
    cr_assert(isfinite(lr.recovered));
    // Errors: no such hook point; a width that does not match.
    cr_assert_eq(sae_loss_recovered(m, s, "blocks.9.hook_resid_post", tok, tgt, B, T, &lr), -1);
    cr_assert(strstr(err_msg(), "not a hook point"), "%s", err_msg());
    cr_assert_eq(sae_loss_recovered(m, s, "blocks.0.attn.hook_pattern", tok, tgt, B, T, &lr), -1);
    cr_assert(strstr(err_msg(), "d_in = 16"), "%s", err_msg());
    sae_free(s);
    tf_free(m);
}
