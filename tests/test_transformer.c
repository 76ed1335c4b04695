// Transformer: parity with a PyTorch implementation of TransformerLens' maths (logits, loss,
// every parameter gradient, hook activations and their gradients, from committed reference
// files made by tests/ref/make_transformer_ref.py), finite-difference gradients of the C model
// (with and without hooks), input validation, the loss of a fresh model, the hook-point table,
// and bit-identical results on 1 and 2 threads.
//
// Set MECHLAB_TEST_VERBOSE=1 to print the max difference of every compared tensor.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "model/err.h"
#include "model/hooks.h"
#include "model/pool.h"
#include "model/rng.h"
#include "model/transformer.h"
#include "train/safetensors.h"

TestSuite(transformer);

// ---- loading a reference file ------------------------------------------------------------------

typedef struct {
    StFile f;
    Transformer *m;
    int B, T;
    int *tokens, *targets;
    double loss;
    int nfail;  // tensors outside tolerance (all are compared and printed before failing)
} Ref;

static int meta_int(const StFile *f, const char *key) {
    const char *s = st_meta(f, key);
    cr_assert_not_null(s, "reference metadata lacks '%s'", key);
    return (int)strtol(s, NULL, 10);
}

static const int *st_i32(const StFile *f, const char *name, int n) {
    const StTensor *t = st_find(f, name);
    cr_assert_not_null(t, "reference lacks '%s'", name);
    cr_assert_eq(t->dtype, ST_I32, "%s: dtype", name);
    cr_assert_eq(t->end - t->begin, (size_t)n * sizeof(int), "%s: size", name);
    return t->data;
}

static void ref_load(Ref *r, const char *name) {
    memset(r, 0, sizeof *r);
    char path[256];
    snprintf(path, sizeof path, "tests/ref/tf_%s.safetensors", name);
    cr_assert_eq(st_open(&r->f, path), 0, "%s", err_msg());
    const StFile *f = &r->f;
    TfConfig c = {0};
    c.n_layers = meta_int(f, "n_layers");
    c.d_model = meta_int(f, "d_model");
    c.n_heads = meta_int(f, "n_heads");
    c.d_head = meta_int(f, "d_head");
    c.d_mlp = meta_int(f, "d_mlp");
    c.n_ctx = meta_int(f, "n_ctx");
    c.d_vocab = meta_int(f, "d_vocab");
    c.attn_only = !strcmp(st_meta(f, "attn_only"), "true");
    cr_assert_eq(tf_act_fn_parse(st_meta(f, "act_fn"), &c.act_fn), 0, "%s", err_msg());
    cr_assert_eq(tf_norm_parse(st_meta(f, "normalization_type"), &c.normalization_type), 0, "%s",
                 err_msg());
    c.positional_embedding_type = TF_POS_STANDARD;
    c.eps = strtof(st_meta(f, "eps"), NULL);
    r->B = meta_int(f, "B");
    r->T = meta_int(f, "T");
    r->m = tf_create(&c, r->B);
    cr_assert_not_null(r->m, "%s", err_msg());
    const ParamSet *ps = &r->m->params;
    for (int i = 0; i < ps->count; i++) {
        const ParamInfo *pi = &ps->info[i];
        cr_assert_eq(st_copy_f32(f, pi->name, ps->data + pi->offset, pi->ndim, pi->shape), 0,
                     "%s: %s", pi->name, err_msg());
    }
    int n = r->B * r->T;
    r->tokens = malloc(sizeof(int) * (size_t)n);
    r->targets = malloc(sizeof(int) * (size_t)n);
    memcpy(r->tokens, st_i32(f, "tokens", n), sizeof(int) * (size_t)n);
    memcpy(r->targets, st_i32(f, "targets", n), sizeof(int) * (size_t)n);
    const StTensor *lt = st_find(f, "loss");
    cr_assert(lt && lt->dtype == ST_F64 && lt->end - lt->begin == sizeof(double));
    memcpy(&r->loss, lt->data, sizeof(double));
}

static void ref_free(Ref *r) {
    tf_free(r->m);
    st_close(&r->f);
    free(r->tokens);
    free(r->targets);
}

static bool verbose(void) { return getenv("MECHLAB_TEST_VERBOSE") != NULL; }

// Compares got[n] with the reference tensor `refname` (F32, n elements): every element within
// atol + rtol·|ref|. Prints the max |diff| on failure (or always when verbose) and counts
// failures in r->nfail.
static double compare_rel(Ref *r, const char *refname, const float *got, size_t n, double atol,
                          double rtol) {
    const StTensor *t = st_find(&r->f, refname);
    cr_assert_not_null(t, "reference lacks '%s'", refname);
    cr_assert_eq(t->dtype, ST_F32, "%s: dtype", refname);
    cr_assert_eq(t->end - t->begin, n * sizeof(float), "%s: %zu bytes, expected %zu floats",
                 refname, t->end - t->begin, n);
    float *want = malloc(n * sizeof(float));
    memcpy(want, t->data, n * sizeof(float));
    double d = max_abs_diff(got, want, n);
    bool ok = d == d;
    for (size_t i = 0; i < n && ok; i++)
        ok = fabs((double)got[i] - want[i]) <= atol + rtol * fabs((double)want[i]);
    if (!ok || verbose())
        fprintf(stderr, "  %-44s max |diff| %.3g (atol %.0e rtol %.0e)%s\n", refname, d, atol,
                rtol, ok ? "" : "  FAIL");
    if (!ok) r->nfail++;
    free(want);
    return d;
}

static double compare(Ref *r, const char *refname, const float *got, size_t n, double atol) {
    return compare_rel(r, refname, got, n, atol, 0.0);
}

// Hook activations: the residual stream grows to |x| ~ 20 in these models, so they are compared
// relative to their size; logits (|x| < 6) absolutely at 1e-5, gradients absolutely at 1e-4.
#define ACT_ATOL 1e-5
#define ACT_RTOL 1e-5

// A hook that compares the activation (forward: "act.<name>") or its gradient (backward:
// "actgrad.<name>") with the reference, when the reference has it.
typedef struct {
    Ref *r;
    int seen;
} CmpCtx;

static int cmp_hook_common(const char *prefix, const char *name, Tensor t, CmpCtx *cx,
                           double atol, double rtol) {
    char key[128];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    if (!st_find(&cx->r->f, key)) return 0;
    compare_rel(cx->r, key, t.data, tensor_numel(&t), atol, rtol);
    cx->seen++;
    return 0;
}

static int cmp_fwd(const char *name, Tensor t, void *u) {
    return cmp_hook_common("act.", name, t, u, ACT_ATOL, ACT_RTOL);
}

static int cmp_bwd(const char *name, Tensor t, void *u) {
    return cmp_hook_common("actgrad.", name, t, u, 1e-4, 0.0);
}

static int count_prefix(const StFile *f, const char *prefix) {
    int n = 0;
    for (int i = 0; i < f->n; i++) n += !strncmp(f->tensors[i].name, prefix, strlen(prefix));
    return n;
}

static void parity(const char *name) {
    Ref r;
    ref_load(&r, name);
    Transformer *m = r.m;
    const int N = r.B * r.T, V = m->cfg.d_vocab;
    if (verbose()) fprintf(stderr, "parity %s:\n", name);

    // 1. no hooks: logits, loss, every parameter gradient
    double loss = 0;
    cr_assert_eq(tf_forward(m, r.tokens, r.targets, r.B, r.T, NULL, &loss), 0, "%s", err_msg());
    Tensor lg = tf_act(m, "logits");
    cr_assert(lg.data && lg.ndim == 3 && lg.shape[0] == r.B && lg.shape[1] == r.T &&
              lg.shape[2] == V);
    compare(&r, "logits", lg.data, (size_t)N * V, 1e-5);
    if (verbose()) fprintf(stderr, "  %-44s |diff| %.3g\n", "loss", fabs(loss - r.loss));
    cr_assert(fabs(loss - r.loss) <= 1e-5, "%s: loss %.9g vs %.9g", name, loss, r.loss);
    params_zero_grad(&m->params);
    cr_assert_eq(tf_backward(m, NULL), 0, "%s", err_msg());
    const ParamSet *ps = &m->params;
    for (int i = 0; i < ps->count; i++) {
        char key[128];
        snprintf(key, sizeof key, "grad.%s", ps->info[i].name);
        compare(&r, key, ps->grad + ps->info[i].offset, ps->info[i].numel, 1e-4);
    }
    cr_assert_eq(count_prefix(&r.f, "grad."), ps->count, "parameter count differs from TL's");

    // 2. with hooks: hook activations and their gradients as the hooks see them, then through
    //    tf_act / tf_act_grad; logits again (hook_result changes how attn_out is summed).
    CmpCtx fc = {&r, 0}, bc = {&r, 0};
    HookList hl = {0};
    cr_assert_eq(hooks_add(&hl, "*", HOOK_FORWARD, cmp_fwd, &fc), 0);
    cr_assert_eq(hooks_add(&hl, "*", HOOK_BACKWARD, cmp_bwd, &bc), 0);
    params_zero_grad(&m->params);
    cr_assert_eq(tf_forward(m, r.tokens, r.targets, r.B, r.T, &hl, &loss), 0, "%s", err_msg());
    compare(&r, "logits", tf_act(m, "logits").data, (size_t)N * V, 1e-5);
    cr_assert_eq(tf_backward(m, &hl), 0, "%s", err_msg());
    for (int i = 0; i < ps->count; i++) {
        char key[128];
        snprintf(key, sizeof key, "grad.%s", ps->info[i].name);
        compare(&r, key, ps->grad + ps->info[i].offset, ps->info[i].numel, 1e-4);
    }
    int nact = count_prefix(&r.f, "act."), ngrad = count_prefix(&r.f, "actgrad.");
    // Every reference activation and gradient is handed to exactly one hook call.
    cr_assert_eq(fc.seen, nact, "forward hooks saw %d of %d reference activations", fc.seen,
                 nact);
    cr_assert_eq(bc.seen, ngrad, "backward hooks saw %d of %d reference gradients", bc.seen,
                 ngrad);
    for (int i = 0; i < r.f.n; i++) {
        const char *tn = r.f.tensors[i].name;
        if (!strncmp(tn, "act.", 4)) {
            Tensor t = tf_act(m, tn + 4);
            cr_assert_not_null(t.data, "%s", err_msg());
            compare_rel(&r, tn, t.data, tensor_numel(&t), ACT_ATOL, ACT_RTOL);
        } else if (!strncmp(tn, "actgrad.", 8)) {
            Tensor t = tf_act_grad(m, tn + 8);
            cr_assert_not_null(t.data, "%s", err_msg());
            compare(&r, tn, t.data, tensor_numel(&t), 1e-4);
        }
    }
    hooks_free(&hl);
    cr_assert_eq(r.nfail, 0, "%s: %d tensors differ from PyTorch (listed on stderr)", name,
                 r.nfail);
    ref_free(&r);
}

Test(transformer, parity_attention_only_ln) { parity("attn"); }
Test(transformer, parity_full_ln_gelu) { parity("full"); }
Test(transformer, parity_no_norm_relu) { parity("norelu"); }

// ---- finite differences -------------------------------------------------------------------------

// Central differences of the mean loss with respect to single parameter elements, against the
// analytic gradient. float weights: the step is 1e-2 and the actual step (after rounding) is
// used in the quotient; the loss is a double computed from float logits.
static void fd_params(Transformer *m, const int *tok, const int *tg, int B, int T,
                      const HookList *hl, const char *const *names, int nnames) {
    params_zero_grad(&m->params);
    cr_assert_eq(tf_forward(m, tok, tg, B, T, hl, NULL), 0, "%s", err_msg());
    cr_assert_eq(tf_backward(m, hl), 0, "%s", err_msg());
    Rng rng;
    rng_seed(&rng, 5);
    double worst = 0;
    for (int k = 0; k < nnames; k++) {
        int pi = params_index(&m->params, names[k]);
        cr_assert(pi >= 0, "no parameter %s", names[k]);
        const ParamInfo *info = &m->params.info[pi];
        for (int rep = 0; rep < 3; rep++) {
            size_t j = rng_int(&rng, (uint32_t)info->numel);
            float *p = m->params.data + info->offset + j;
            double an = m->params.grad[info->offset + j];
            float p0 = *p, hp = p0 + 1e-2f, hm = p0 - 1e-2f;
            double lp, lm;
            *p = hp;
            cr_assert_eq(tf_forward(m, tok, tg, B, T, hl, &lp), 0);
            *p = hm;
            cr_assert_eq(tf_forward(m, tok, tg, B, T, hl, &lm), 0);
            *p = p0;
            double fd = (lp - lm) / ((double)hp - (double)hm);
            double err = fabs(fd - an);
            if (err > worst) worst = err;
            if (verbose())
                fprintf(stderr, "  fd %-28s[%zu] analytic %+.6e fd %+.6e\n", names[k], j, an,
                        fd);
            cr_assert(err <= 2e-4 + 2e-2 * fabs(fd), "%s[%zu]: analytic %.6e vs fd %.6e",
                      names[k], j, an, fd);
        }
    }
}

static void random_tokens(Rng *r, int *tok, int *tg, int n, int T, int V) {
    for (int i = 0; i < n; i++) tok[i] = (int)rng_int(r, (uint32_t)V);
    for (int i = 0; i < n; i++) tg[i] = (i % T == T - 1) ? -1 : tok[i + 1];
}

static const TfConfig FULL = {.n_layers = 2, .d_model = 16, .n_heads = 2, .d_head = 8,
                              .d_mlp = 32, .attn_only = false, .n_ctx = 8, .d_vocab = 11,
                              .act_fn = TF_ACT_GELU_NEW, .normalization_type = TF_NORM_LN,
                              .positional_embedding_type = TF_POS_STANDARD, .eps = 1e-5f};

// Non-zero biases and LayerNorm shifts, so their gradients are not trivially structured.
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

static const char *const FD_NAMES[] = {
    "embed.W_E", "pos_embed.W_pos", "blocks.0.ln1.w", "blocks.0.ln1.b", "blocks.0.attn.W_Q",
    "blocks.0.attn.b_Q", "blocks.0.attn.b_V", "blocks.0.attn.W_V", "blocks.1.attn.W_O", "blocks.1.attn.b_O",
    "blocks.0.ln2.w", "blocks.1.mlp.W_in", "blocks.1.mlp.b_in", "blocks.0.mlp.W_out",
    "ln_final.w", "ln_final.b", "unembed.W_U", "unembed.b_U"};

Test(transformer, finite_differences_full_model) {
    Transformer *m = make_model(&FULL, 3, 11);
    int tok[3 * 7], tg[3 * 7];
    Rng r;
    rng_seed(&r, 12);
    random_tokens(&r, tok, tg, 3 * 7, 7, FULL.d_vocab);
    fd_params(m, tok, tg, 3, 7, NULL, FD_NAMES, (int)(sizeof FD_NAMES / sizeof *FD_NAMES));
    tf_free(m);
}

// A steering vector added at hook_resid_mid, hook_result requested forward and backward (so
// attn_out is summed per head and W_O's gradient goes through the per-head path): the
// gradients are still those of the loss of the hooked model.
static int steer_mid(const char *name, Tensor t, void *u) {
    (void)name;
    (void)u;
    size_t rows = (size_t)t.shape[0] * t.shape[1];
    for (size_t i = 0; i < rows; i++)
        for (int d = 0; d < t.shape[2]; d++) t.data[i * t.shape[2] + d] += 0.3f * (d % 3 - 1);
    return 0;
}

static int noop(const char *name, Tensor t, void *u) {
    (void)name;
    (void)t;
    (void)u;
    return 0;
}

Test(transformer, finite_differences_through_hooks) {
    Transformer *m = make_model(&FULL, 3, 21);
    int tok[2 * 8], tg[2 * 8];
    Rng r;
    rng_seed(&r, 22);
    random_tokens(&r, tok, tg, 2 * 8, 8, FULL.d_vocab);
    HookList hl = {0};
    cr_assert_eq(hooks_add(&hl, "blocks.0.hook_resid_mid", HOOK_FORWARD, steer_mid, NULL), 0);
    cr_assert_eq(hooks_add(&hl, "blocks.*.attn.hook_result", HOOK_FORWARD, noop, NULL), 0);
    cr_assert_eq(hooks_add(&hl, "blocks.*.attn.hook_result", HOOK_BACKWARD, noop, NULL), 0);
    cr_assert_eq(hooks_add(&hl, "*.hook_scale", HOOK_BACKWARD, noop, NULL), 0);
    const char *const names[] = {"blocks.0.attn.W_O", "blocks.1.attn.W_O", "blocks.0.attn.b_O",
                                 "blocks.0.attn.W_Q", "blocks.0.ln1.w", "embed.W_E"};
    fd_params(m, tok, tg, 2, 8, &hl, names, 6);
    // The per-head path and the fused path give the same W_O gradient (to rounding).
    size_t n = m->params.numel;
    float *g1 = malloc(n * sizeof(float));
    memcpy(g1, m->params.grad, n * sizeof(float));
    HookList plain = {0};
    cr_assert_eq(hooks_add(&plain, "blocks.0.hook_resid_mid", HOOK_FORWARD, steer_mid, NULL), 0);
    params_zero_grad(&m->params);
    cr_assert_eq(tf_forward(m, tok, tg, 2, 8, &plain, NULL), 0);
    cr_assert_eq(tf_backward(m, &plain), 0);
    assert_allclose(m->params.grad, g1, n, 1e-6, 1e-4);
    free(g1);
    hooks_free(&hl);
    hooks_free(&plain);
    tf_free(m);
}

// ---- validation ---------------------------------------------------------------------------------

Test(transformer, bad_inputs_fail_with_a_message) {
    Transformer *m = make_model(&FULL, 2, 1);
    int tok[2 * 9] = {0}, tg[2 * 9] = {0};
    double loss = 0;
    tok[5] = 11;  // == d_vocab
    cr_assert_eq(tf_forward(m, tok, tg, 2, 4, NULL, &loss), -1);
    cr_assert(strstr(err_msg(), "token 11") && strstr(err_msg(), "[1,1]"), "%s", err_msg());
    cr_assert(isnan(loss));
    tok[5] = -3;
    cr_assert_eq(tf_forward(m, tok, tg, 2, 4, NULL, NULL), -1);
    cr_assert(strstr(err_msg(), "token -3"), "%s", err_msg());
    tok[5] = 0;
    tg[2] = 11;
    cr_assert_eq(tf_forward(m, tok, tg, 2, 4, NULL, NULL), -1);
    cr_assert(strstr(err_msg(), "target 11"), "%s", err_msg());
    tg[2] = -1;  // ignored: fine
    cr_assert_eq(tf_forward(m, tok, tg, 2, 4, NULL, NULL), 0, "%s", err_msg());
    cr_assert_eq(tf_forward(m, tok, tg, 1, 1, NULL, &loss), 0, "%s", err_msg());  // smallest
    cr_assert(isfinite(loss) && loss > 0);
    cr_assert_eq(tf_backward(m, NULL), 0, "%s", err_msg());
    cr_assert_eq(tf_forward(m, tok, tg, 1, 9, NULL, NULL), -1);  // T > n_ctx
    cr_assert(strstr(err_msg(), "sequence length 9") && strstr(err_msg(), "n_ctx"), "%s",
              err_msg());
    cr_assert_eq(tf_forward(m, tok, tg, 1, 0, NULL, NULL), -1);
    cr_assert_eq(tf_forward(m, tok, tg, 3, 2, NULL, NULL), -1);  // B > max_batch
    cr_assert(strstr(err_msg(), "batch size 3"), "%s", err_msg());
    cr_assert_eq(tf_forward(m, NULL, tg, 1, 2, NULL, NULL), -1);
    // A failed forward leaves nothing for backward.
    cr_assert_eq(tf_backward(m, NULL), -1);
    cr_assert(strstr(err_msg(), "tf_forward"), "%s", err_msg());
    // Without targets there is no loss and no backward.
    cr_assert_eq(tf_forward(m, tok, NULL, 2, 8, NULL, &loss), 0, "%s", err_msg());
    cr_assert(isnan(loss));
    cr_assert_eq(tf_backward(m, NULL), -1);
    // probs are the softmax of the logits even without targets
    Tensor pr = tf_act(m, "probs");
    cr_assert_not_null(pr.data);
    for (int i = 0; i < 16; i++) {
        double s = 0;
        for (int v = 0; v < 11; v++) s += pr.data[i * 11 + v];
        cr_assert(fabs(s - 1) < 1e-5);
    }
    // A pattern that matches nothing is a typo, not a no-op.
    HookList hl = {0};
    cr_assert_eq(hooks_add(&hl, "blocks.0.attn.hook_zz", HOOK_FORWARD, noop, NULL), 0);
    cr_assert_eq(tf_forward(m, tok, tg, 2, 8, &hl, NULL), -1);
    cr_assert(strstr(err_msg(), "hook_zz") && strstr(err_msg(), "matches no hook point"), "%s",
              err_msg());
    hooks_free(&hl);
    cr_assert_null(tf_act(m, "blocks.0.attn.hook_nope").data);
    cr_assert(strstr(err_msg(), "hook_nope"), "%s", err_msg());
    // The model still works.
    cr_assert_eq(tf_forward(m, tok, tg, 2, 8, NULL, &loss), 0, "%s", err_msg());
    cr_assert(isfinite(loss));
    cr_assert_eq(tf_backward(m, NULL), 0, "%s", err_msg());
    tf_free(m);
}

Test(transformer, bad_configs_fail_with_a_message) {
    TfConfig c = FULL;
    cr_assert_eq(tf_config_validate(&c), 0, "%s", err_msg());
    c.d_model = 0;
    cr_assert_eq(tf_config_validate(&c), -1);
    cr_assert(strstr(err_msg(), "d_model"), "%s", err_msg());
    cr_assert_null(tf_create(&c, 4));
    c = FULL;
    c.d_mlp = 0;
    cr_assert_eq(tf_config_validate(&c), -1);
    cr_assert(strstr(err_msg(), "d_mlp"), "%s", err_msg());
    c.attn_only = true;  // d_mlp is then ignored
    cr_assert_eq(tf_config_validate(&c), 0, "%s", err_msg());
    c = FULL;
    c.eps = 0;
    cr_assert_eq(tf_config_validate(&c), -1);
    cr_assert(strstr(err_msg(), "eps"), "%s", err_msg());
    c.normalization_type = TF_NORM_NONE;  // eps unused
    cr_assert_eq(tf_config_validate(&c), 0, "%s", err_msg());
    c = FULL;
    c.act_fn = (TfActFn)7;
    cr_assert_eq(tf_config_validate(&c), -1);
    cr_assert(strstr(err_msg(), "act_fn"), "%s", err_msg());
    c = FULL;
    c.n_heads = -2;
    cr_assert_eq(tf_config_validate(&c), -1);
    cr_assert(strstr(err_msg(), "n_heads"), "%s", err_msg());
    c = FULL;
    c.d_vocab = 1 << 20;
    c.d_model = 1 << 12;
    cr_assert_eq(tf_config_validate(&c), -1);
    c = FULL;
    cr_assert_null(tf_create(&c, 0));
    cr_assert(strstr(err_msg(), "max_batch"), "%s", err_msg());
    c.n_ctx = 1 << 14;  // B·H·T·T > 2^31
    cr_assert_null(tf_create(&c, 8));
    cr_assert(strstr(err_msg(), "max_batch"), "%s", err_msg());
    TfActFn a;
    TfNorm nn;
    cr_assert_eq(tf_act_fn_parse("gelu_new", &a), 0);
    cr_assert_eq(a, TF_ACT_GELU_NEW);
    cr_assert_eq(tf_act_fn_parse("gelu", &a), -1);
    cr_assert(strstr(err_msg(), "gelu_new"), "%s", err_msg());
    cr_assert_eq(tf_norm_parse("LN", &nn), 0);
    cr_assert_eq(nn, TF_NORM_LN);
    cr_assert_eq(tf_norm_parse("RMS", &nn), -1);
    cr_assert_str_eq(tf_act_fn_name(TF_ACT_RELU), "relu");
    cr_assert_str_eq(tf_norm_name(TF_NORM_LN), "LN");
    tf_free(NULL);
}

// ---- initialisation -----------------------------------------------------------------------------

// With TL's init, ln_final's output x has Σx² ≈ D, so each logit x·W_U[:,j] ~ N(0, σ²) with
// σ = 0.8 (independent across j), and the expected loss is E[log Σ_j e^{z_j}] - E[z_t]
// ≈ ln V + σ²/2 = ln V + 0.32 (for large V; the fluctuation is ~ sqrt((e^{σ²}-1)/V)).
Test(transformer, fresh_model_loss_is_about_ln_vocab) {
    TfConfig c = {.n_layers = 2, .d_model = 64, .n_heads = 4, .d_head = 16, .d_mlp = 256,
                  .n_ctx = 32, .d_vocab = 1024, .act_fn = TF_ACT_GELU_NEW,
                  .normalization_type = TF_NORM_LN, .eps = 1e-5f};
    Transformer *m = tf_create(&c, 4);
    cr_assert_not_null(m, "%s", err_msg());
    tf_init_weights(m, 2024);
    int tok[4 * 32], tg[4 * 32];
    Rng r;
    rng_seed(&r, 3);
    random_tokens(&r, tok, tg, 4 * 32, 32, c.d_vocab);
    double loss;
    cr_assert_eq(tf_forward(m, tok, tg, 4, 32, NULL, &loss), 0, "%s", err_msg());
    double lnv = log((double)c.d_vocab);
    cr_assert(fabs(loss - (lnv + 0.32)) < 0.1, "loss %.4f, expected ≈ ln V + 0.32 = %.4f", loss,
              lnv + 0.32);
    cr_assert(fabs(loss - lnv) < 0.5, "loss %.4f vs ln V %.4f", loss, lnv);

    // The init itself: weights ~ N(0, 0.8²/D), biases 0, LN gains 1; the same seed → the same
    // bits; another seed → other values.
    const float *wq = params_data(&m->params, "blocks.1.attn.W_Q");
    size_t n = (size_t)4 * 64 * 16;
    double s2 = 0, s1 = 0;
    for (size_t i = 0; i < n; i++) s1 += wq[i], s2 += (double)wq[i] * wq[i];
    double sd = sqrt(s2 / n - (s1 / n) * (s1 / n)), want = 0.8 / sqrt(64.0);
    cr_assert(fabs(sd - want) < 0.05 * want, "W_Q std %.4f vs %.4f", sd, want);
    cr_assert_eq(params_data(&m->params, "blocks.0.ln2.w")[7], 1.0f);
    cr_assert_eq(params_data(&m->params, "blocks.0.mlp.b_in")[3], 0.0f);
    cr_assert_eq(params_data(&m->params, "unembed.b_U")[5], 0.0f);
    float *copy = malloc(m->params.numel * sizeof(float));
    memcpy(copy, m->params.data, m->params.numel * sizeof(float));
    tf_init_weights(m, 2024);
    cr_assert_eq(memcmp(copy, m->params.data, m->params.numel * sizeof(float)), 0);
    tf_init_weights(m, 2025);
    cr_assert_neq(memcmp(copy, m->params.data, m->params.numel * sizeof(float)), 0);
    free(copy);
    tf_free(m);
}

// ---- the hook-point table -----------------------------------------------------------------------

Test(transformer, hook_point_table_follows_transformerlens) {
    TfConfig attn = FULL, none = FULL;
    attn.attn_only = true;
    none.normalization_type = TF_NORM_NONE;
    Transformer *mf = tf_create(&FULL, 2), *ma = tf_create(&attn, 2), *mn = tf_create(&none, 2);
    cr_assert(mf && ma && mn, "%s", err_msg());
    // 2 + per layer (resid_pre, ln1 ×2, q k v scores pattern z result, attn_out, resid_mid,
    // ln2 ×2, pre post mlp_out, resid_post) + ln_final ×2
    cr_assert_eq(tf_hook_count(mf), 2 + 2 * 18 + 2);
    cr_assert_eq(tf_hook_count(ma), 2 + 2 * 12 + 2);
    cr_assert_eq(tf_hook_count(mn), 2 + 2 * 14);
    const char *expect[] = {"hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre",
                            "blocks.0.ln1.hook_scale", "blocks.0.ln1.hook_normalized",
                            "blocks.0.attn.hook_q", "blocks.0.attn.hook_k",
                            "blocks.0.attn.hook_v", "blocks.0.attn.hook_attn_scores",
                            "blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z",
                            "blocks.0.attn.hook_result", "blocks.0.hook_attn_out",
                            "blocks.0.hook_resid_mid", "blocks.0.ln2.hook_scale",
                            "blocks.0.ln2.hook_normalized", "blocks.0.mlp.hook_pre",
                            "blocks.0.mlp.hook_post", "blocks.0.hook_mlp_out",
                            "blocks.0.hook_resid_post", "blocks.1.hook_resid_pre"};
    for (int i = 0; i < 21; i++) cr_assert_str_eq(tf_hook_info(mf, i, 1, 1).name, expect[i]);
    cr_assert_str_eq(tf_hook_info(mf, 39, 1, 1).name, "ln_final.hook_normalized");
    cr_assert_null(tf_hook_info(mf, 40, 1, 1).name);
    // shapes for B = 2, T = 5 (D 16, H 2, dh 8, M 32)
    struct {
        int i, nd, s[4];
    } sh[] = {{0, 3, {2, 5, 16, 1}},  {3, 3, {2, 5, 1, 1}},  {5, 4, {2, 5, 2, 8}},
              {8, 4, {2, 2, 5, 5}},   {11, 4, {2, 5, 2, 16}}, {16, 3, {2, 5, 32, 1}}};
    for (int k = 0; k < 6; k++) {
        TfHookInfo h = tf_hook_info(mf, sh[k].i, 2, 5);
        cr_assert_eq(h.ndim, sh[k].nd, "%s", h.name);
        for (int d = 0; d < h.ndim; d++) cr_assert_eq(h.shape[d], sh[k].s[d], "%s[%d]", h.name, d);
    }
    // attn_only: no resid_mid, no ln2, no mlp; none: no ln hooks, no LN parameters
    for (int i = 0; i < tf_hook_count(ma); i++) {
        const char *nm = tf_hook_info(ma, i, 1, 1).name;
        cr_assert(!strstr(nm, "mlp") && !strstr(nm, "resid_mid") && !strstr(nm, "ln2"), "%s", nm);
    }
    for (int i = 0; i < tf_hook_count(mn); i++)
        cr_assert_null(strstr(tf_hook_info(mn, i, 1, 1).name, "ln"));
    cr_assert_eq(params_index(&mn->params, "blocks.0.ln1.w"), -1);
    cr_assert_eq(params_index(&ma->params, "blocks.0.mlp.W_in"), -1);
    // TL's parameter shapes
    const ParamInfo *wq = &mf->params.info[params_index(&mf->params, "blocks.1.attn.W_Q")];
    cr_assert(wq->ndim == 3 && wq->shape[0] == 2 && wq->shape[1] == 16 && wq->shape[2] == 8);
    const ParamInfo *wo = &mf->params.info[params_index(&mf->params, "blocks.1.attn.W_O")];
    cr_assert(wo->ndim == 3 && wo->shape[0] == 2 && wo->shape[1] == 8 && wo->shape[2] == 16);
    const ParamInfo *bq = &mf->params.info[params_index(&mf->params, "blocks.0.attn.b_Q")];
    cr_assert(bq->ndim == 2 && bq->shape[0] == 2 && bq->shape[1] == 8);
    tf_free(mf);
    tf_free(ma);
    tf_free(mn);
}

// ---- threads ------------------------------------------------------------------------------------

static void run_step(const TfConfig *c, int threads, float **logits, float **grads, size_t *nl,
                     size_t *ng) {
    pool_set_threads(threads);
    Transformer *m = make_model(c, 4, 77);
    int B = 4, T = c->n_ctx;
    int *tok = malloc(sizeof(int) * B * T), *tg = malloc(sizeof(int) * B * T);
    Rng r;
    rng_seed(&r, 78);
    random_tokens(&r, tok, tg, B * T, T, c->d_vocab);
    cr_assert_eq(tf_forward(m, tok, tg, B, T, NULL, NULL), 0, "%s", err_msg());
    cr_assert_eq(tf_backward(m, NULL), 0, "%s", err_msg());
    *nl = (size_t)B * T * c->d_vocab;
    *ng = m->params.numel;
    *logits = malloc(*nl * sizeof(float));
    *grads = malloc(*ng * sizeof(float));
    memcpy(*logits, tf_act(m, "logits").data, *nl * sizeof(float));
    memcpy(*grads, m->params.grad, *ng * sizeof(float));
    free(tok);
    free(tg);
    tf_free(m);
}

Test(transformer, bit_identical_on_1_and_2_threads) {
    TfConfig c = {.n_layers = 2, .d_model = 64, .n_heads = 4, .d_head = 16, .d_mlp = 160,
                  .n_ctx = 40, .d_vocab = 50, .act_fn = TF_ACT_GELU_NEW,
                  .normalization_type = TF_NORM_LN, .eps = 1e-5f};
    float *l1, *g1, *l2, *g2;
    size_t nl, ng;
    run_step(&c, 1, &l1, &g1, &nl, &ng);
    run_step(&c, 2, &l2, &g2, &nl, &ng);
    cr_assert_eq(memcmp(l1, l2, nl * sizeof(float)), 0, "logits differ");
    cr_assert_eq(memcmp(g1, g2, ng * sizeof(float)), 0, "gradients differ");
    pool_shutdown();
    free(l1);
    free(g1);
    free(l2);
    free(g2);
}
