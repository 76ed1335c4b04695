// Logit lens and direct logit attribution: on random models (LayerNorm or none, with MLPs or
// attention-only, every parameter random including biases and LayerNorm weights) the components
// sum to the model's own logit and logit difference within 1e-4 and the stack sums to the final
// residual stream; each final-layer component's attribution equals the change in the logit when
// that component is removed in the real model (with the final LayerNorm scale frozen at its
// clean value, which is what apply_ln_to_stack assumes); the logit lens reproduces the model's
// logits at the last stream bit for bit and a hand computation at the first; names and errors.
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "interp/lens.h"
#include "model/err.h"
#include "model/rng.h"
#include "model/transformer.h"

TestSuite(lens);

enum { B = 3, T = 7, V = 11 };

// A model with every parameter drawn at random: weights N(0, 0.4²), biases too, LayerNorm
// weights 1 + N(0, 0.3²), so no term of the decomposition is trivially zero.
static Transformer *random_model(bool ln, bool attn_only, uint64_t seed) {
    TfConfig c = {.n_layers = 2, .d_model = 16, .n_heads = 3, .d_head = 5, .d_mlp = 24,
                  .attn_only = attn_only, .n_ctx = 8, .d_vocab = V, .act_fn = TF_ACT_GELU_NEW,
                  .normalization_type = ln ? TF_NORM_LN : TF_NORM_NONE, .eps = 1e-5f};
    Transformer *m = tf_create(&c, B);
    cr_assert_not_null(m, "%s", err_msg());
    Rng r;
    rng_seed(&r, seed);
    rng_fill_normal(&r, m->params.data, m->params.numel, 0, 0.4f);
    for (int i = 0; i < m->params.count; i++) {
        const ParamInfo *pi = &m->params.info[i];
        size_t n = strlen(pi->name);
        if (n >= 2 && !strcmp(pi->name + n - 2, ".w"))
            for (size_t j = 0; j < pi->numel; j++) m->params.data[pi->offset + j] += 1.0f;
    }
    return m;
}

static void random_tokens(int *tok, int n, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) tok[i] = (int)rng_int(&r, V);
}

static const struct {
    bool ln, attn_only;
    const char *what;
} CONFIGS[] = {{true, false, "LN + MLP"}, {true, true, "LN, attention-only"},
               {false, false, "no LN + MLP"}, {false, true, "no LN, attention-only"}};

Test(lens, dla_components_sum_to_the_logit_and_logit_difference) {
    for (size_t ci = 0; ci < sizeof CONFIGS / sizeof *CONFIGS; ci++) {
        Transformer *m = random_model(CONFIGS[ci].ln, CONFIGS[ci].attn_only, 100 + ci);
        const int NC = lens_n_components(&m->cfg), D = m->cfg.d_model;
        int tok[B * T], ta[B * T], tb[B * T];
        random_tokens(tok, B * T, 7 + ci);
        random_tokens(ta, B * T, 8 + ci);
        random_tokens(tb, B * T, 9 + ci);
        ta[4] = -1;  // a skipped row
        double attr[B * T * 40], logit[B * T], worst = 0, worst_d = 0, maxlogit = 0;
        cr_assert_lt(NC, 40);
        // The logit of one token, then a logit difference.
        for (int diff = 0; diff < 2; diff++) {
            cr_assert_eq(lens_dla(m, tok, B, T, ta, diff ? tb : NULL, attr, logit), 0, "%s",
                         err_msg());
            const float *lg = tf_act(m, "logits").data;
            for (int r = 0; r < B * T; r++) {
                if (ta[r] < 0) {
                    cr_assert(isnan(logit[r]) && isnan(attr[(size_t)r * NC]));
                    continue;
                }
                double want = (double)lg[r * V + ta[r]] - (diff ? lg[r * V + tb[r]] : 0.0);
                cr_assert_eq(logit[r], want);
                double s = 0;
                for (int i = 0; i < NC; i++) s += attr[(size_t)r * NC + i];
                double e = fabs(s - want);
                if (diff) worst_d = fmax(worst_d, e);
                else worst = fmax(worst, e);
                maxlogit = fmax(maxlogit, fabs(want));
                cr_assert_leq(e, 1e-4, "%s row %d: components sum to %.9g, logit %.9g",
                              CONFIGS[ci].what, r, s, want);
            }
        }
        // The stack itself sums to the final residual stream.
        char nm[64];
        snprintf(nm, sizeof nm, "blocks.%d.hook_resid_post", m->cfg.n_layers - 1);
        const float *resid = tf_act(m, nm).data;
        double stack[40 * 16];
        for (int r = 0; r < B * T; r++) {
            cr_assert_eq(lens_resid_stack(m, r / T, r % T, stack), 0, "%s", err_msg());
            for (int d = 0; d < D; d++) {
                double s = 0;
                for (int i = 0; i < lens_n_stack(&m->cfg); i++) s += stack[i * D + d];
                cr_assert_leq(fabs(s - resid[r * D + d]), 1e-5 * (1 + fabs(s)),
                              "%s row %d dim %d: stack %.9g, resid %.9g", CONFIGS[ci].what, r, d,
                              s, resid[r * D + d]);
            }
        }
        cr_log_info("dla %s: max |sum - logit| %.2e, logit difference %.2e (|logit| up to %.1f)",
                    CONFIGS[ci].what, worst, worst_d, maxlogit);
        tf_free(m);
    }
}

// Removing one final-layer component in the real model, with the final LayerNorm scale frozen
// at its clean value (and, for a head, the final MLP's output frozen too, so only the direct
// path is cut), changes the logit difference by exactly minus its attribution: the final
// LayerNorm with a fixed scale is affine, and then nothing but the unembedding reads the
// component.
typedef struct {
    int layer_head;      // head of the last layer whose result is zeroed, or -1
    const float *scale;  // clean ln_final scale to restore
    const float *mlp;    // clean final mlp_out to restore
    int H, D;
} Ablate;

static int zero_head(const char *name, Tensor act, void *u) {
    (void)name;
    const Ablate *a = u;
    size_t rows = (size_t)act.shape[0] * act.shape[1];
    for (size_t r = 0; r < rows; r++)
        memset(act.data + (r * a->H + a->layer_head) * a->D, 0, sizeof(float) * a->D);
    return 0;
}

static int zero_all(const char *name, Tensor act, void *u) {
    (void)name, (void)u;
    memset(act.data, 0, sizeof(float) * tensor_numel(&act));
    return 0;
}

static int freeze_scale(const char *name, Tensor act, void *u) {
    (void)name;
    const Ablate *a = u;
    memcpy(act.data, a->scale, sizeof(float) * tensor_numel(&act));
    return 0;
}

static int freeze_mlp(const char *name, Tensor act, void *u) {
    (void)name;
    const Ablate *a = u;
    memcpy(act.data, a->mlp, sizeof(float) * tensor_numel(&act));
    return 0;
}

Test(lens, final_layer_attribution_equals_ablation_with_frozen_scale) {
    for (size_t ci = 0; ci < sizeof CONFIGS / sizeof *CONFIGS; ci++) {
        const bool ln = CONFIGS[ci].ln, mlp = !CONFIGS[ci].attn_only;
        Transformer *m = random_model(ln, !mlp, 200 + ci);
        const TfConfig *c = &m->cfg;
        const int NC = lens_n_components(c), H = c->n_heads, L = c->n_layers;
        int tok[B * T], ta[B * T], tb[B * T];
        random_tokens(tok, B * T, 17 + ci);
        random_tokens(ta, B * T, 18 + ci);
        random_tokens(tb, B * T, 19 + ci);
        double attr[B * T * 40], logit[B * T];
        cr_assert_eq(lens_dla(m, tok, B, T, ta, tb, attr, logit), 0, "%s", err_msg());
        float scale[B * T], mlp_out[B * T * 16];
        char nm[64];
        if (ln) memcpy(scale, tf_act(m, "ln_final.hook_scale").data, sizeof scale);
        snprintf(nm, sizeof nm, "blocks.%d.hook_mlp_out", L - 1);
        if (mlp) memcpy(mlp_out, tf_act(m, nm).data, sizeof mlp_out);
        // Component indices of the last layer: its heads, then b_O, then mlp_out.
        const int first = 2 + (L - 1) * (H + 1 + mlp);
        for (int j = 0; j < H + mlp; j++) {
            Ablate a = {.layer_head = j < H ? j : -1, .scale = scale, .mlp = mlp_out, .H = H,
                        .D = c->d_model};
            HookList hl = {0};
            if (j < H) {
                snprintf(nm, sizeof nm, "blocks.%d.attn.hook_result", L - 1);
                cr_assert_eq(hooks_add(&hl, nm, HOOK_FORWARD, zero_head, &a), 0);
                snprintf(nm, sizeof nm, "blocks.%d.hook_mlp_out", L - 1);
                if (mlp) cr_assert_eq(hooks_add(&hl, nm, HOOK_FORWARD, freeze_mlp, &a), 0);
            } else {
                snprintf(nm, sizeof nm, "blocks.%d.hook_mlp_out", L - 1);
                cr_assert_eq(hooks_add(&hl, nm, HOOK_FORWARD, zero_all, &a), 0);
            }
            if (ln) cr_assert_eq(hooks_add(&hl, "ln_final.hook_scale", HOOK_FORWARD, freeze_scale, &a), 0);
            cr_assert_eq(tf_forward(m, tok, NULL, B, T, &hl, NULL), 0, "%s", err_msg());
            hooks_free(&hl);
            const float *lg = tf_act(m, "logits").data;
            const int comp = j < H ? first + j : first + H + 1;
            lens_component_name(c, comp, nm, sizeof nm);
            for (int r = 0; r < B * T; r++) {
                double after = (double)lg[r * V + ta[r]] - lg[r * V + tb[r]];
                double change = logit[r] - after, want = attr[(size_t)r * NC + comp];
                cr_assert_leq(fabs(change - want), 1e-4 * (1 + fabs(want)),
                              "%s %s row %d: ablation changes the logit difference by %.9g, "
                              "attribution %.9g",
                              CONFIGS[ci].what, nm, r, change, want);
            }
        }
        tf_free(m);
    }
}

Test(lens, logit_lens_reproduces_the_model_and_a_hand_computation) {
    for (size_t ci = 0; ci < sizeof CONFIGS / sizeof *CONFIGS; ci++) {
        Transformer *m = random_model(CONFIGS[ci].ln, CONFIGS[ci].attn_only, 300 + ci);
        const TfConfig *c = &m->cfg;
        const int D = c->d_model, L = c->n_layers;
        int tok[B * T], tg[B * T], top[(2 + 1) * B * T];
        random_tokens(tok, B * T, 27 + ci);
        random_tokens(tg, B * T, 28 + ci);
        tg[0] = tg[5] = -1;
        LensStats s;
        cr_assert_eq(lens_stats_init(&s, c), 0);
        cr_assert_eq(s.n_streams, L + 1);
        cr_assert_eq(lens_logit_lens(m, tok, tg, B, T, &s, top), 0, "%s", err_msg());
        cr_assert_eq(s.count, B * T - 2);
        float lg[B * T * V];
        // The last stream is the model's own computation: bit for bit.
        cr_assert_eq(lens_decode(m, L, lg), 0, "%s", err_msg());
        cr_assert_eq(memcmp(lg, tf_act(m, "logits").data, sizeof lg), 0,
                     "%s: the lens at the last layer differs from the logits by up to %.3g",
                     CONFIGS[ci].what, max_abs_diff(lg, tf_act(m, "logits").data, B * T * V));
        // Its statistics are those of the model's probabilities.
        const float *probs = tf_act(m, "probs").data;
        double lp = 0;
        long right = 0;
        for (int r = 0; r < B * T; r++) {
            int arg = 0;
            for (int v = 1; v < V; v++)
                if (probs[r * V + v] > probs[r * V + arg]) arg = v;
            cr_assert_eq(top[L * B * T + r], arg);
            if (tg[r] < 0) continue;
            lp += log(probs[r * V + tg[r]]);
            right += arg == tg[r];
        }
        cr_assert_eq(s.correct[L], right);
        cr_assert_leq(fabs(s.logprob_sum[L] - lp), 1e-4 * (1 + fabs(lp)), "%.9g vs %.9g",
                      s.logprob_sum[L], lp);
        // Stream 0 by hand, in double: LN(W_E[tok] + W_pos[t]) · W_U + b_U.
        cr_assert_eq(lens_decode(m, 0, lg), 0);
        const float *WE = params_data(&m->params, "embed.W_E"),
                    *Wp = params_data(&m->params, "pos_embed.W_pos"),
                    *WU = params_data(&m->params, "unembed.W_U"),
                    *bU = params_data(&m->params, "unembed.b_U");
        const float *w = CONFIGS[ci].ln ? params_data(&m->params, "ln_final.w") : NULL,
                    *b = CONFIGS[ci].ln ? params_data(&m->params, "ln_final.b") : NULL;
        for (int r = 0; r < B * T; r++) {
            double x[16], mu = 0, var = 0;
            for (int d = 0; d < D; d++) {
                x[d] = (double)WE[tok[r] * D + d] + Wp[(r % T) * D + d];
                mu += x[d] / D;
            }
            if (w) {
                for (int d = 0; d < D; d++) var += (x[d] - mu) * (x[d] - mu) / D;
                for (int d = 0; d < D; d++) x[d] = (x[d] - mu) / sqrt(var + c->eps) * w[d] + b[d];
            }
            for (int v = 0; v < V; v++) {
                double z = bU[v];
                for (int d = 0; d < D; d++) z += x[d] * WU[d * V + v];
                cr_assert_leq(fabs(z - lg[r * V + v]), 1e-4 * (1 + fabs(z)),
                              "%s stream 0 row %d token %d: %.9g vs %.9g", CONFIGS[ci].what, r, v,
                              lg[r * V + v], z);
            }
        }
        lens_stats_free(&s);
        tf_free(m);
    }
}

Test(lens, component_names_and_errors) {
    Transformer *m = random_model(true, false, 1);
    const char *want[] = {"embed", "pos_embed", "L0H0", "L0H1", "L0H2", "L0.b_O", "L0.mlp_out",
                          "L1H0", "L1H1", "L1H2", "L1.b_O", "L1.mlp_out", "bias"};
    cr_assert_eq(lens_n_components(&m->cfg), 13);
    cr_assert_eq(lens_n_stack(&m->cfg), 12);
    char nm[32];
    for (int i = 0; i < 13; i++) {
        lens_component_name(&m->cfg, i, nm, sizeof nm);
        cr_assert_str_eq(nm, want[i]);
    }
    float lg[B * T * V];
    double st[12 * 16];
    cr_assert_eq(lens_decode(m, 0, lg), -1);
    cr_assert(strstr(err_msg(), "no forward"), "%s", err_msg());
    cr_assert_eq(lens_resid_stack(m, 0, 0, st), -1);
    int tok[B * T], ta[B * T];
    random_tokens(tok, B * T, 3);
    random_tokens(ta, B * T, 4);
    ta[2] = V;
    double attr[B * T * 13], logit[B * T];
    cr_assert_eq(lens_dla(m, tok, B, T, ta, NULL, attr, logit), -1);
    cr_assert(strstr(err_msg(), "outside the vocabulary"), "%s", err_msg());
    ta[2] = 0;
    cr_assert_eq(lens_dla(m, tok, B, T, ta, NULL, attr, logit), 0, "%s", err_msg());
    cr_assert_eq(lens_decode(m, 3, lg), -1);
    cr_assert_eq(lens_resid_stack(m, B, 0, st), -1);
    cr_assert_eq(lens_resid_stack(m, 0, T, st), -1);
    cr_assert_eq(lens_resid_stack(m, 0, 0, st), 0, "%s", err_msg());
    tf_free(m);
}
