// Hooks: glob matching and the list; on the transformer, read hooks see the right values,
// patches change the logits exactly as an independent calculation says, activation patching
// reproduces the donor run, backward hooks give d(loss)/d(activation) that matches finite
// differences at every hook point, modified gradients flow upstream, failing callbacks abort.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "model/err.h"
#include "model/hooks.h"
#include "model/rng.h"
#include "model/transformer.h"

TestSuite(hooks);

// ---- the list itself ----------------------------------------------------------------------------

Test(hooks, glob_matching) {
    struct {
        const char *p, *s;
        bool want;
    } cases[] = {
        {"*", "blocks.0.attn.hook_z", true},
        {"*", "", true},
        {"", "", true},
        {"", "a", false},
        {"blocks.*.attn.hook_z", "blocks.0.attn.hook_z", true},
        {"blocks.*.attn.hook_z", "blocks.10.attn.hook_z", true},
        {"blocks.?.attn.hook_z", "blocks.10.attn.hook_z", false},
        {"blocks.?.attn.hook_z", "blocks.7.attn.hook_z", true},
        {"blocks.*.hook_resid_*", "blocks.3.hook_resid_mid", true},
        {"blocks.*.hook_resid_*", "blocks.3.attn.hook_z", false},
        {"*hook_embed", "hook_pos_embed", false},
        {"*embed", "hook_pos_embed", true},
        {"hook_embed", "hook_embed", true},
        {"hook_embed", "hook_embedx", false},
        {"hook_embedx", "hook_embed", false},
        {"a*b*c", "aXbYc", true},
        {"a*b*c", "abc", true},
        {"a*b*c", "aXbY", false},
        {"a*b*c", "acb", false},
        {"**", "", true},
        {"*a", "aaa", true},
        {"*ab", "aab", true},
        {"a*", "b", false},
        {"?", "", false},
        {"??", "ab", true},
        {"*.hook_scale", "ln_final.hook_scale", true},
        {"*.hook_scale", "blocks.0.ln1.hook_scale", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_assert_eq(hooks_match(cases[i].p, cases[i].s), cases[i].want, "'%s' on '%s'",
                     cases[i].p, cases[i].s);
}

typedef struct {
    char log[256];
    int fail_with;  // non-zero: return it
    bool set_msg;
} LogCtx;

static int log_a(const char *name, Tensor t, void *u) {
    LogCtx *c = u;
    (void)t;
    strcat(c->log, "a:");
    strcat(c->log, name);
    strcat(c->log, ";");
    return 0;
}

static int log_b(const char *name, Tensor t, void *u) {
    LogCtx *c = u;
    (void)t;
    strcat(c->log, "b:");
    strcat(c->log, name);
    strcat(c->log, ";");
    if (c->fail_with && c->set_msg) return err_set("probe %d failed", c->fail_with), c->fail_with;
    return c->fail_with;
}

Test(hooks, list_runs_matching_callbacks_in_order) {
    HookList hl = {0};
    LogCtx c = {{0}, 0, false};
    cr_assert_eq(hooks_add(&hl, "x.*", HOOK_FORWARD, log_a, &c), 0);
    cr_assert_eq(hooks_add(&hl, "*.y", HOOK_FORWARD, log_b, &c), 0);
    cr_assert_eq(hooks_add(&hl, "*", HOOK_BACKWARD, log_a, &c), 0);
    char tmp[8] = "x.y";  // the pattern is copied: changing the caller's string changes nothing
    cr_assert_eq(hooks_add(&hl, tmp, HOOK_FORWARD, log_a, &c), 0);
    tmp[0] = 'q';
    Tensor t = TENSOR1(NULL, 0);
    cr_assert_eq(hooks_run(&hl, "x.y", HOOK_FORWARD, t), 0);
    cr_assert_str_eq(c.log, "a:x.y;b:x.y;a:x.y;");
    c.log[0] = 0;
    cr_assert_eq(hooks_run(&hl, "z.y", HOOK_BACKWARD, t), 0);
    cr_assert_str_eq(c.log, "a:z.y;");
    cr_assert(hooks_wants(&hl, "x.q", HOOK_FORWARD));
    cr_assert(!hooks_wants(&hl, "q.q", HOOK_FORWARD));
    cr_assert(hooks_wants(&hl, "q.q", HOOK_BACKWARD));
    cr_assert(!hooks_wants(NULL, "q.q", HOOK_BACKWARD));
    cr_assert_eq(hooks_run(NULL, "x.y", HOOK_FORWARD, t), 0);

    // A failing callback stops the run; its message gets the hook name in front.
    c.log[0] = 0;
    c.fail_with = 3;
    c.set_msg = true;
    cr_assert_eq(hooks_run(&hl, "x.y", HOOK_FORWARD, t), -1);
    cr_assert_str_eq(c.log, "a:x.y;b:x.y;");
    cr_assert_str_eq(err_msg(), "x.y: probe 3 failed");
    c.set_msg = false;
    cr_assert_eq(hooks_run(&hl, "x.y", HOOK_FORWARD, t), -1);
    cr_assert(strstr(err_msg(), "x.y: ") && strstr(err_msg(), "returned 3"), "%s", err_msg());

    cr_assert_eq(hooks_add(&hl, "", HOOK_FORWARD, log_a, &c), -1);
    cr_assert(strstr(err_msg(), "empty"), "%s", err_msg());
    cr_assert_eq(hooks_add(&hl, "a", HOOK_FORWARD, NULL, &c), -1);
    cr_assert_eq(hooks_add(&hl, "a", (HookDir)5, log_a, &c), -1);
    cr_assert_eq(hl.n, 4);
    hooks_clear(&hl);
    cr_assert_eq(hl.n, 0);
    hooks_free(&hl);
    hooks_free(&hl);
}

// ---- on the transformer -------------------------------------------------------------------------

static const TfConfig ATTN = {.n_layers = 2, .d_model = 16, .n_heads = 2, .d_head = 8,
                              .attn_only = true, .n_ctx = 8, .d_vocab = 13,
                              .normalization_type = TF_NORM_LN, .eps = 1e-5f};
static const TfConfig FULL = {.n_layers = 2, .d_model = 16, .n_heads = 2, .d_head = 8,
                              .d_mlp = 24, .n_ctx = 6, .d_vocab = 11,
                              .act_fn = TF_ACT_GELU_NEW, .normalization_type = TF_NORM_LN,
                              .eps = 1e-5f};

// TL init plus non-zero biases and LayerNorm shifts.
static Transformer *make_model(const TfConfig *c, int max_batch, uint64_t seed) {
    Transformer *m = tf_create(c, max_batch);
    cr_assert_not_null(m, "%s", err_msg());
    tf_init_weights(m, seed);
    Rng r;
    rng_seed(&r, seed + 1);
    for (int i = 0; i < m->params.count; i++) {
        const ParamInfo *pi = &m->params.info[i];
        if (strstr(pi->name, ".W_")) continue;
        float *p = m->params.data + pi->offset;
        for (size_t j = 0; j < pi->numel; j++) p[j] += 0.2f * rng_normal(&r);
    }
    return m;
}

static void random_tokens(uint64_t seed, int *tok, int *tg, int n, int T, int V) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) tok[i] = (int)rng_int(&r, (uint32_t)V);
    for (int i = 0; i < n; i++) tg[i] = (i % T == T - 1) ? (int)rng_int(&r, (uint32_t)V) : tok[i + 1];
}

// Copies the activation into a caller buffer (a "cache" of one point).
typedef struct {
    float *buf;
    size_t n;
    Tensor seen;
    char name[64];
    int calls;
} Cache;

static int cache_hook(const char *name, Tensor t, void *u) {
    Cache *c = u;
    c->n = tensor_numel(&t);
    c->buf = realloc(c->buf, c->n * sizeof(float));
    memcpy(c->buf, t.data, c->n * sizeof(float));
    c->seen = t;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->calls++;
    return 0;
}

static int zero_hook(const char *name, Tensor t, void *u) {
    (void)name;
    (void)u;
    memset(t.data, 0, tensor_numel(&t) * sizeof(float));
    return 0;
}

Test(hooks, read_hooks_see_the_activations) {
    Transformer *m = make_model(&FULL, 3, 1);
    const int B = 2, T = 5, D = 16, H = 2;
    int tok[10], tg[10];
    random_tokens(2, tok, tg, B * T, T, 11);
    Cache ce = {0}, cp = {0}, cpat = {0};
    HookList hl = {0};
    hooks_add(&hl, "hook_embed", HOOK_FORWARD, cache_hook, &ce);
    hooks_add(&hl, "hook_pos_embed", HOOK_FORWARD, cache_hook, &cp);
    hooks_add(&hl, "blocks.1.attn.hook_pattern", HOOK_FORWARD, cache_hook, &cpat);
    cr_assert_eq(tf_forward(m, tok, tg, B, T, &hl, NULL), 0, "%s", err_msg());
    cr_assert_eq(ce.calls, 1);
    cr_assert_str_eq(ce.name, "hook_embed");
    cr_assert(ce.seen.ndim == 3 && ce.seen.shape[0] == B && ce.seen.shape[1] == T &&
              ce.seen.shape[2] == D);
    const float *W_E = params_data(&m->params, "embed.W_E");
    const float *W_pos = params_data(&m->params, "pos_embed.W_pos");
    for (int i = 0; i < B * T; i++)
        for (int d = 0; d < D; d++) {
            cr_assert_eq(ce.buf[i * D + d], W_E[tok[i] * D + d]);
            cr_assert_eq(cp.buf[i * D + d], W_pos[(i % T) * D + d]);
        }
    Tensor pt = cpat.seen;
    cr_assert(pt.ndim == 4 && pt.shape[0] == B && pt.shape[1] == H && pt.shape[2] == T &&
              pt.shape[3] == T);
    for (int r = 0; r < B * H * T; r++) {
        int t = r % T;
        double s = 0;
        for (int k = 0; k < T; k++) {
            float p = cpat.buf[r * T + k];
            if (k > t) cr_assert_eq(p, 0.0f, "pattern above the diagonal");
            else cr_assert(p > 0);
            s += p;
        }
        cr_assert(fabs(s - 1) < 1e-5, "row %d sums to %g", r, s);
    }
    // The hook saw the model's own buffer, which tf_act returns after the pass.
    Tensor after = tf_act(m, "blocks.1.attn.hook_pattern");
    cr_assert_eq(after.data, pt.data);
    cr_assert_eq(memcmp(after.data, cpat.buf, cpat.n * sizeof(float)), 0);
    free(ce.buf);
    free(cp.buf);
    free(cpat.buf);
    hooks_free(&hl);
    tf_free(m);
}

// Zeroing hook_attn_out of every layer of an attention-only model leaves the embedding path:
// logits = LN_final(W_E[tok] + W_pos[t]) · W_U + b_U, computed here in double.
Test(hooks, zeroing_every_attn_out_leaves_the_embedding_path) {
    Transformer *m = make_model(&ATTN, 3, 3);
    const int B = 3, T = 7, D = 16, V = 13;
    int tok[21], tg[21];
    random_tokens(4, tok, tg, B * T, T, V);
    HookList hl = {0};
    hooks_add(&hl, "blocks.*.hook_attn_out", HOOK_FORWARD, zero_hook, NULL);
    cr_assert_eq(tf_forward(m, tok, NULL, B, T, &hl, NULL), 0, "%s", err_msg());
    const float *W_E = params_data(&m->params, "embed.W_E");
    const float *W_pos = params_data(&m->params, "pos_embed.W_pos");
    const float *w = params_data(&m->params, "ln_final.w"), *b = params_data(&m->params, "ln_final.b");
    const float *W_U = params_data(&m->params, "unembed.W_U");
    const float *b_U = params_data(&m->params, "unembed.b_U");
    float *want = malloc(sizeof(float) * B * T * V);
    for (int i = 0; i < B * T; i++) {
        double x[16], mean = 0, var = 0;
        for (int d = 0; d < D; d++) {
            x[d] = (double)W_E[tok[i] * D + d] + W_pos[(i % T) * D + d];
            mean += x[d] / D;
        }
        for (int d = 0; d < D; d++) var += (x[d] - mean) * (x[d] - mean) / D;
        double sc = sqrt(var + 1e-5);
        for (int v = 0; v < V; v++) {
            double s = b_U[v];
            for (int d = 0; d < D; d++) s += ((x[d] - mean) / sc * w[d] + b[d]) * W_U[d * V + v];
            want[i * V + v] = (float)s;
        }
    }
    Tensor lg = tf_act(m, "logits");
    assert_allclose(lg.data, want, (size_t)B * T * V, 1e-5, 1e-5);
    // ... and without the hooks the logits are different (the test can fail).
    cr_assert_eq(tf_forward(m, tok, NULL, B, T, NULL, NULL), 0);
    cr_assert_gt(max_abs_diff(tf_act(m, "logits").data, want, (size_t)B * T * V), 1e-2);
    free(want);
    hooks_free(&hl);
    tf_free(m);
}

typedef struct {
    int head, H, dh;
} HeadCtx;

// Zeroes one head of a [B,T,H,x] activation (hook_z: x = dh; hook_result: x = D).
static int zero_head(const char *name, Tensor t, void *u) {
    (void)name;
    const HeadCtx *c = u;
    size_t rows = (size_t)t.shape[0] * t.shape[1], w = (size_t)t.shape[3];
    for (size_t r = 0; r < rows; r++)
        memset(t.data + (r * t.shape[2] + c->head) * w, 0, w * sizeof(float));
    return 0;
}

// Zero-ablating head 1's hook_z in layer 1: hook_attn_out = b_O + head 0's z · W_O[0], from
// the unpatched z (cached by a hook that runs first). Ablating the same head's hook_result
// instead gives the same attn_out.
Test(hooks, zero_ablating_a_head) {
    Transformer *m = make_model(&ATTN, 2, 5);
    const int B = 2, T = 8, D = 16, dh = 8, H = 2, N = B * T;
    int tok[16], tg[16];
    random_tokens(6, tok, tg, N, T, 13);
    Cache cz = {0}, cout = {0}, cres = {0};
    HeadCtx hc = {1, H, dh};
    HookList hl = {0};
    hooks_add(&hl, "blocks.1.attn.hook_z", HOOK_FORWARD, cache_hook, &cz);
    hooks_add(&hl, "blocks.1.attn.hook_z", HOOK_FORWARD, zero_head, &hc);
    hooks_add(&hl, "blocks.1.hook_attn_out", HOOK_FORWARD, cache_hook, &cout);
    cr_assert_eq(tf_forward(m, tok, tg, B, T, &hl, NULL), 0, "%s", err_msg());
    const float *W_O = params_data(&m->params, "blocks.1.attn.W_O");
    const float *b_O = params_data(&m->params, "blocks.1.attn.b_O");
    float *want = malloc(sizeof(float) * N * D);
    for (int n = 0; n < N; n++)
        for (int d = 0; d < D; d++) {
            double s = b_O[d];
            for (int j = 0; j < dh; j++) s += (double)cz.buf[(n * H + 0) * dh + j] * W_O[j * D + d];
            want[n * D + d] = (float)s;
        }
    assert_allclose(cout.buf, want, (size_t)N * D, 1e-5, 1e-5);
    // the z seen downstream has head 1 zeroed, head 0 intact
    Tensor z = tf_act(m, "blocks.1.attn.hook_z");
    for (int n = 0; n < N; n++)
        for (int j = 0; j < dh; j++) {
            cr_assert_eq(z.data[(n * H + 1) * dh + j], 0.0f);
            cr_assert_eq(z.data[(n * H + 0) * dh + j], cz.buf[(n * H + 0) * dh + j]);
        }
    float *logits_z = malloc(sizeof(float) * N * 13);
    memcpy(logits_z, tf_act(m, "logits").data, sizeof(float) * N * 13);

    HookList h2 = {0};
    hooks_add(&h2, "blocks.1.attn.hook_result", HOOK_FORWARD, zero_head, &hc);
    hooks_add(&h2, "blocks.1.attn.hook_result", HOOK_FORWARD, cache_hook, &cres);
    hooks_add(&h2, "blocks.1.hook_attn_out", HOOK_FORWARD, cache_hook, &cout);
    cr_assert_eq(tf_forward(m, tok, tg, B, T, &h2, NULL), 0, "%s", err_msg());
    cr_assert(cres.seen.ndim == 4 && cres.seen.shape[2] == H && cres.seen.shape[3] == D);
    assert_allclose(cout.buf, want, (size_t)N * D, 1e-5, 1e-5);
    assert_allclose(tf_act(m, "logits").data, logits_z, (size_t)N * 13, 1e-5, 1e-5);
    // head 0's result is z_0 · W_O[0]
    for (int n = 0; n < N; n++)
        for (int d = 0; d < D; d++) {
            double s = 0;
            for (int j = 0; j < dh; j++) s += (double)cz.buf[(n * H + 0) * dh + j] * W_O[j * D + d];
            cr_assert(fabs(cres.buf[(n * H + 0) * D + d] - s) < 1e-5);
        }
    free(want);
    free(logits_z);
    free(cz.buf);
    free(cout.buf);
    free(cres.buf);
    hooks_free(&hl);
    hooks_free(&h2);
    tf_free(m);
}

static int paste_hook(const char *name, Tensor t, void *u) {
    (void)name;
    const Cache *c = u;
    cr_assert_eq(tensor_numel(&t), c->n);
    memcpy(t.data, c->buf, c->n * sizeof(float));
    return 0;
}

// Activation patching: everything after blocks.1.hook_resid_pre depends on it alone, so pasting
// run A's value into run B reproduces run A's logits bit for bit.
Test(hooks, patching_resid_pre_reproduces_the_donor_run) {
    Transformer *m = make_model(&FULL, 2, 7);
    const int B = 2, T = 6, V = 11, N = B * T;
    int ta[12], tb[12], tg[12];
    random_tokens(8, ta, tg, N, T, V);
    random_tokens(9, tb, tg, N, T, V);
    Cache c = {0};
    HookList hl = {0};
    hooks_add(&hl, "blocks.1.hook_resid_pre", HOOK_FORWARD, cache_hook, &c);
    cr_assert_eq(tf_forward(m, ta, NULL, B, T, &hl, NULL), 0, "%s", err_msg());
    float *la = malloc(sizeof(float) * N * V), *lb = malloc(sizeof(float) * N * V);
    memcpy(la, tf_act(m, "logits").data, sizeof(float) * N * V);
    cr_assert_eq(tf_forward(m, tb, NULL, B, T, NULL, NULL), 0);
    memcpy(lb, tf_act(m, "logits").data, sizeof(float) * N * V);
    cr_assert_gt(max_abs_diff(la, lb, (size_t)N * V), 1e-2, "runs A and B must differ");
    HookList hp = {0};
    hooks_add(&hp, "blocks.1.hook_resid_pre", HOOK_FORWARD, paste_hook, &c);
    cr_assert_eq(tf_forward(m, tb, NULL, B, T, &hp, NULL), 0, "%s", err_msg());
    cr_assert_eq(memcmp(tf_act(m, "logits").data, la, sizeof(float) * N * V), 0);
    // resid_post of layer 0 is the same tensor: patching it does the same
    hooks_clear(&hp);
    hooks_add(&hp, "blocks.0.hook_resid_post", HOOK_FORWARD, paste_hook, &c);
    cr_assert_eq(tf_forward(m, tb, NULL, B, T, &hp, NULL), 0, "%s", err_msg());
    cr_assert_eq(memcmp(tf_act(m, "logits").data, la, sizeof(float) * N * V), 0);
    free(la);
    free(lb);
    free(c.buf);
    hooks_free(&hl);
    hooks_free(&hp);
    tf_free(m);
}

// Read-only hooks (and an empty list) change nothing, bit for bit — the LayerNorm scale hook
// included (its output is recomputed only when the scale was actually changed).
Test(hooks, read_only_hooks_change_nothing) {
    Transformer *m = make_model(&FULL, 2, 9);
    const int B = 2, T = 6, V = 11, N = B * T;
    int tok[12], tg[12];
    random_tokens(10, tok, tg, N, T, V);
    size_t np = m->params.numel;
    float *l0 = malloc(sizeof(float) * N * V), *g0 = malloc(sizeof(float) * np);
    params_zero_grad(&m->params);
    cr_assert_eq(tf_forward(m, tok, tg, B, T, NULL, NULL), 0);
    cr_assert_eq(tf_backward(m, NULL), 0);
    memcpy(l0, tf_act(m, "logits").data, sizeof(float) * N * V);
    memcpy(g0, m->params.grad, sizeof(float) * np);
    Cache c = {0};
    HookList empty = {0}, ro = {0};
    const char *pats[] = {"hook_*", "blocks.*.hook_resid_*", "*.hook_scale", "*.hook_normalized",
                          "*.attn.hook_?", "*hook_pattern", "*attn_scores", "*.mlp.*"};
    for (int i = 0; i < 8; i++) {
        hooks_add(&ro, pats[i], HOOK_FORWARD, cache_hook, &c);
        hooks_add(&ro, pats[i], HOOK_BACKWARD, cache_hook, &c);
    }
    const HookList *lists[] = {&empty, &ro};
    for (int k = 0; k < 2; k++) {
        params_zero_grad(&m->params);
        cr_assert_eq(tf_forward(m, tok, tg, B, T, lists[k], NULL), 0, "%s", err_msg());
        cr_assert_eq(tf_backward(m, lists[k]), 0, "%s", err_msg());
        cr_assert_eq(memcmp(tf_act(m, "logits").data, l0, sizeof(float) * N * V), 0, "list %d", k);
        cr_assert_eq(memcmp(m->params.grad, g0, sizeof(float) * np), 0, "list %d", k);
    }
    cr_assert_gt(c.calls, 60);
    free(c.buf);
    free(l0);
    free(g0);
    hooks_free(&ro);
    tf_free(m);
}

// ---- gradients at hook points -------------------------------------------------------------------

typedef struct {
    size_t idx;
    float delta;
    double grad;  // captured by the backward hook
} Probe;

static int add_at(const char *name, Tensor t, void *u) {
    (void)name;
    const Probe *p = u;
    t.data[p->idx] += p->delta;
    return 0;
}

static int grab_at(const char *name, Tensor t, void *u) {
    (void)name;
    Probe *p = u;
    p->grad = t.data[p->idx];
    return 0;
}

// An element of hook point `h` (B,T shape) that the forward actually uses: for [B,H,T,T]
// attention tensors, one on or below the diagonal.
static size_t pick_element(const TfHookInfo *h, Rng *r) {
    size_t n = 1;
    for (int d = 0; d < h->ndim; d++) n *= (size_t)h->shape[d];
    for (;;) {
        size_t i = rng_int(r, (uint32_t)n);
        bool attn = strstr(h->name, "attn_scores") || strstr(h->name, "hook_pattern");
        int T = h->shape[3];
        if (!attn || (int)(i % T) <= (int)(i / T % T)) return i;
    }
}

// d(loss)/d(activation) from the backward hook against central differences of the loss when a
// forward hook adds ±ε at that element — at every hook point of the full model.
Test(hooks, backward_hooks_match_finite_differences_at_every_point) {
    Transformer *m = make_model(&FULL, 2, 13);
    const int B = 2, T = 6, N = B * T;
    int tok[12], tg[12];
    random_tokens(14, tok, tg, N, T, 11);
    tg[3] = -1;
    Rng r;
    rng_seed(&r, 15);
    int npoints = tf_hook_count(m);
    for (int i = 0; i < npoints; i++) {
        TfHookInfo h = tf_hook_info(m, i, B, T);
        for (int rep = 0; rep < 2; rep++) {
            Probe p = {pick_element(&h, &r), 0, 0};
            HookList hl = {0};
            hooks_add(&hl, h.name, HOOK_FORWARD, add_at, &p);
            hooks_add(&hl, h.name, HOOK_BACKWARD, grab_at, &p);
            // the analytic gradient at the unperturbed point (delta = 0)
            cr_assert_eq(tf_forward(m, tok, tg, B, T, &hl, NULL), 0, "%s", err_msg());
            cr_assert_eq(tf_backward(m, &hl), 0, "%s", err_msg());
            double an = p.grad, lp, lm;
            const float eps = 1e-2f;
            p.delta = eps;
            cr_assert_eq(tf_forward(m, tok, tg, B, T, &hl, &lp), 0);
            p.delta = -eps;
            cr_assert_eq(tf_forward(m, tok, tg, B, T, &hl, &lm), 0);
            double fd = (lp - lm) / (2.0 * eps);
            if (getenv("MECHLAB_TEST_VERBOSE"))
                fprintf(stderr, "  %-32s[%4zu] analytic %+.6e fd %+.6e\n", h.name, p.idx, an, fd);
            cr_assert(fabs(fd - an) <= 5e-5 + 2e-2 * fabs(fd), "%s[%zu]: analytic %.6e vs fd %.6e",
                      h.name, p.idx, an, fd);
            hooks_free(&hl);
        }
    }
    tf_free(m);
}

// A backward hook that zeroes the gradient at blocks.1.hook_resid_pre cuts everything upstream:
// layer 0 and the embeddings get zero gradients; layer 1 and the unembedding are unchanged.
Test(hooks, modified_gradients_flow_upstream) {
    Transformer *m = make_model(&FULL, 2, 17);
    const int B = 2, T = 6, N = B * T;
    int tok[12], tg[12];
    random_tokens(18, tok, tg, N, T, 11);
    size_t np = m->params.numel;
    float *g0 = malloc(sizeof(float) * np);
    params_zero_grad(&m->params);
    cr_assert_eq(tf_forward(m, tok, tg, B, T, NULL, NULL), 0);
    cr_assert_eq(tf_backward(m, NULL), 0);
    memcpy(g0, m->params.grad, sizeof(float) * np);
    HookList hl = {0};
    hooks_add(&hl, "blocks.1.hook_resid_pre", HOOK_BACKWARD, zero_hook, NULL);
    params_zero_grad(&m->params);
    cr_assert_eq(tf_forward(m, tok, tg, B, T, &hl, NULL), 0);
    cr_assert_eq(tf_backward(m, &hl), 0, "%s", err_msg());
    int nonzero_upstream = 0, nonzero_before = 0, changed_downstream = 0;
    for (int i = 0; i < m->params.count; i++) {
        const ParamInfo *pi = &m->params.info[i];
        bool upstream = !strncmp(pi->name, "blocks.0.", 9) || !strcmp(pi->name, "embed.W_E") ||
                        !strcmp(pi->name, "pos_embed.W_pos");
        const float *g = m->params.grad + pi->offset;
        for (size_t j = 0; j < pi->numel; j++) {
            if (upstream) {
                nonzero_upstream += g[j] != 0.0f;
                nonzero_before += g0[pi->offset + j] != 0.0f;
            } else {
                changed_downstream += g[j] != g0[pi->offset + j];
            }
        }
    }
    cr_assert_eq(nonzero_upstream, 0);
    cr_assert_gt(nonzero_before, 100);
    cr_assert_eq(changed_downstream, 0);
    hooks_free(&hl);
    free(g0);
    tf_free(m);
}

static int fail_hook(const char *name, Tensor t, void *u) {
    (void)name;
    (void)t;
    (void)u;
    return err_set("cache file full");
}

Test(hooks, a_failing_callback_aborts_the_pass) {
    Transformer *m = make_model(&FULL, 2, 19);
    int tok[12], tg[12];
    random_tokens(20, tok, tg, 12, 6, 11);
    HookList hl = {0};
    hooks_add(&hl, "blocks.0.attn.hook_z", HOOK_FORWARD, fail_hook, NULL);
    cr_assert_eq(tf_forward(m, tok, tg, 2, 6, &hl, NULL), -1);
    cr_assert_str_eq(err_msg(), "blocks.0.attn.hook_z: cache file full");
    cr_assert_eq(tf_backward(m, NULL), -1);  // nothing to go back through
    hooks_clear(&hl);
    hooks_add(&hl, "blocks.1.mlp.hook_pre", HOOK_BACKWARD, fail_hook, NULL);
    cr_assert_eq(tf_forward(m, tok, tg, 2, 6, &hl, NULL), 0, "%s", err_msg());
    cr_assert_eq(tf_backward(m, &hl), -1);
    cr_assert_str_eq(err_msg(), "blocks.1.mlp.hook_pre: cache file full");
    hooks_free(&hl);
    tf_free(m);
}
