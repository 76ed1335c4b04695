// transformer.c — the transformer family: config, parameter table, activation layout, and
// forward/backward as straight lists of op calls (backward = forward read in reverse).
#include "transformer.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gemm.h"
#include "ops.h"
#include "rng.h"

// ---- config ----------------------------------------------------------------------------------

const char *tf_act_fn_name(TfActFn a) { return a == TF_ACT_RELU ? "relu" : "gelu_new"; }

int tf_act_fn_parse(const char *s, TfActFn *out) {
    if (!strcmp(s, "relu")) *out = TF_ACT_RELU;
    else if (!strcmp(s, "gelu_new")) *out = TF_ACT_GELU_NEW;
    else return err_set("act_fn '%s': expected relu or gelu_new", s);
    return 0;
}

const char *tf_norm_name(TfNorm n) { return n == TF_NORM_LN ? "LN" : "none"; }

int tf_norm_parse(const char *s, TfNorm *out) {
    if (!strcmp(s, "LN")) *out = TF_NORM_LN;
    else if (!strcmp(s, "none") || !strcmp(s, "None")) *out = TF_NORM_NONE;
    else return err_set("normalization_type '%s': expected LN or none", s);
    return 0;
}

// Layers beyond this are surely a typo; it also keeps every table size far from overflow.
#define TF_MAX_LAYERS 4096

// a·b·c·d <= INT_MAX for positive factors (ops and gemm take int dimensions and counts).
static bool fits_int(long long a, long long b, long long c, long long d) {
    long long f[4] = {a, b, c, d}, p = 1;
    for (int i = 0; i < 4; i++) {
        if (f[i] > INT_MAX / p) return false;
        p *= f[i];
    }
    return true;
}

int tf_config_validate(const TfConfig *c) {
#define POS(field)                                                                           \
    if (c->field < 1)                                                                        \
        return err_set("transformer config: " #field " must be >= 1 (got %d)", c->field);
    POS(n_layers) POS(d_model) POS(n_heads) POS(d_head) POS(n_ctx) POS(d_vocab)
    if (!c->attn_only) { POS(d_mlp) }
#undef POS
    if (c->n_layers > TF_MAX_LAYERS)
        return err_set("transformer config: n_layers %d is more than %d", c->n_layers,
                       TF_MAX_LAYERS);
    if (c->normalization_type != TF_NORM_LN && c->normalization_type != TF_NORM_NONE)
        return err_set("transformer config: normalization_type %d is neither LN nor none",
                       (int)c->normalization_type);
    if (!c->attn_only && c->act_fn != TF_ACT_RELU && c->act_fn != TF_ACT_GELU_NEW)
        return err_set("transformer config: act_fn %d is neither relu nor gelu_new",
                       (int)c->act_fn);
    if (c->positional_embedding_type != TF_POS_STANDARD)
        return err_set("transformer config: positional_embedding_type %d: only standard is "
                       "supported", (int)c->positional_embedding_type);
    if (c->normalization_type == TF_NORM_LN && !(c->eps > 0 && isfinite(c->eps)))
        return err_set("transformer config: eps must be a positive number (got %g)",
                       (double)c->eps);
    // Parameter tensors and per-row widths must fit the int sizes the ops take.
    if (!fits_int(c->d_vocab, c->d_model, 1, 1) || !fits_int(c->n_ctx, c->d_model, 1, 1) ||
        !fits_int(c->n_heads, c->d_model, c->d_head, 1) ||
        (!c->attn_only && !fits_int(c->d_model, c->d_mlp, 1, 1)))
        return err_set("transformer config: a parameter tensor would have more than %d "
                       "elements", INT_MAX);
    return 0;
}

// ---- layout ----------------------------------------------------------------------------------

// Shape classes of the activations.
enum { K_BTD, K_BT1, K_BT, K_BTHd, K_BHTT, K_BTHD, K_BTM, K_BTV };

struct TfRegion {
    char name[64];
    int kind;
    bool hook;    // a hook point (else logits, probs, losses, LN means)
    bool grad;    // tf_backward zeroes and fills its gradient
    bool lazy;    // hook_result: only touched when a hook asks for it
    int alias;    // region whose memory this one shares (-1: its own)
    size_t offset;  // floats into acts / dacts
};

struct TfLayer {
    // region ids (-1 when the config has no such activation)
    int resid_pre, ln1_mean, ln1_scale, ln1_norm, q, k, v, scores, pattern, z, result, attn_out,
        resid_mid, ln2_mean, ln2_scale, ln2_norm, mlp_pre, mlp_post, mlp_out, resid_post;
    // parameter indices (-1 when absent)
    int ln1_w, ln1_b, W_Q, W_K, W_V, W_O, b_Q, b_K, b_V, b_O, ln2_w, ln2_b, W_in, b_in, W_out,
        b_out;
};

static int kind_shape(const TfConfig *c, int kind, int B, int T, int shape[TENSOR_MAX_DIMS]) {
    const int D = c->d_model, H = c->n_heads, dh = c->d_head;
    switch (kind) {
    case K_BTD: shape[0] = B, shape[1] = T, shape[2] = D; return 3;
    case K_BT1: shape[0] = B, shape[1] = T, shape[2] = 1; return 3;
    case K_BT: shape[0] = B, shape[1] = T; return 2;
    case K_BTHd: shape[0] = B, shape[1] = T, shape[2] = H, shape[3] = dh; return 4;
    case K_BHTT: shape[0] = B, shape[1] = H, shape[2] = T, shape[3] = T; return 4;
    case K_BTHD: shape[0] = B, shape[1] = T, shape[2] = H, shape[3] = D; return 4;
    case K_BTM: shape[0] = B, shape[1] = T, shape[2] = c->d_mlp; return 3;
    default: shape[0] = B, shape[1] = T, shape[2] = c->d_vocab; return 3;  // K_BTV
    }
}

static size_t kind_numel(const TfConfig *c, int kind, int B, int T) {
    int s[TENSOR_MAX_DIMS] = {1, 1, 1, 1};
    int nd = kind_shape(c, kind, B, T, s);
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= (size_t)s[i];
    return n;
}

static int add_region(Transformer *m, int *cap, const char *name, int kind, bool hook, bool grad,
                      int alias) {
    if (m->n_regions == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        TfRegion *p = realloc(m->regions, sizeof(TfRegion) * (size_t)nc);
        if (!p) return err_set("transformer: out of memory building the activation table");
        m->regions = p;
        *cap = nc;
    }
    TfRegion *r = &m->regions[m->n_regions];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->kind = kind;
    r->hook = hook;
    r->grad = grad;
    r->alias = alias;
    return m->n_regions++;
}

static int add_param(Transformer *m, const char *name, int ndim, int a, int b, int c) {
    int shape[3] = {a, b, c};
    return params_add(&m->params, name, ndim, shape);
}

// The parameter table, TL names and shapes, TL's state_dict order.
static int build_params(Transformer *m) {
    const TfConfig *c = &m->cfg;
    const int D = c->d_model, H = c->n_heads, dh = c->d_head, M = c->d_mlp, V = c->d_vocab;
    const bool ln = c->normalization_type == TF_NORM_LN, mlp = !c->attn_only;
    char nm[PARAM_NAME_MAX];
#define PARAM(dst, nd, a, b, cc, ...)                                \
    do {                                                             \
        snprintf(nm, sizeof nm, __VA_ARGS__);                        \
        if (((dst) = add_param(m, nm, (nd), (a), (b), (cc))) < 0) return -1; \
    } while (0)
    PARAM(m->W_E, 2, V, D, 0, "embed.W_E");
    PARAM(m->W_pos, 2, c->n_ctx, D, 0, "pos_embed.W_pos");
    for (int l = 0; l < c->n_layers; l++) {
        TfLayer *L = &m->layers[l];
        L->ln1_w = L->ln1_b = L->ln2_w = L->ln2_b = -1;
        L->W_in = L->b_in = L->W_out = L->b_out = -1;
        if (ln) {
            PARAM(L->ln1_w, 1, D, 0, 0, "blocks.%d.ln1.w", l);
            PARAM(L->ln1_b, 1, D, 0, 0, "blocks.%d.ln1.b", l);
            if (mlp) {
                PARAM(L->ln2_w, 1, D, 0, 0, "blocks.%d.ln2.w", l);
                PARAM(L->ln2_b, 1, D, 0, 0, "blocks.%d.ln2.b", l);
            }
        }
        PARAM(L->W_Q, 3, H, D, dh, "blocks.%d.attn.W_Q", l);
        PARAM(L->W_K, 3, H, D, dh, "blocks.%d.attn.W_K", l);
        PARAM(L->W_V, 3, H, D, dh, "blocks.%d.attn.W_V", l);
        PARAM(L->W_O, 3, H, dh, D, "blocks.%d.attn.W_O", l);
        PARAM(L->b_Q, 2, H, dh, 0, "blocks.%d.attn.b_Q", l);
        PARAM(L->b_K, 2, H, dh, 0, "blocks.%d.attn.b_K", l);
        PARAM(L->b_V, 2, H, dh, 0, "blocks.%d.attn.b_V", l);
        PARAM(L->b_O, 1, D, 0, 0, "blocks.%d.attn.b_O", l);
        if (mlp) {
            PARAM(L->W_in, 2, D, M, 0, "blocks.%d.mlp.W_in", l);
            PARAM(L->b_in, 1, M, 0, 0, "blocks.%d.mlp.b_in", l);
            PARAM(L->W_out, 2, M, D, 0, "blocks.%d.mlp.W_out", l);
            PARAM(L->b_out, 1, D, 0, 0, "blocks.%d.mlp.b_out", l);
        }
    }
    m->lnf_w = m->lnf_b = -1;
    if (ln) {
        PARAM(m->lnf_w, 1, D, 0, 0, "ln_final.w");
        PARAM(m->lnf_b, 1, D, 0, 0, "ln_final.b");
    }
    PARAM(m->W_U, 2, D, V, 0, "unembed.W_U");
    PARAM(m->b_U, 1, V, 0, 0, "unembed.b_U");
#undef PARAM
    return params_alloc(&m->params);
}

// The activation table in forward order, then offsets: every region gets its own span (64-byte
// aligned) except aliases; the lazy hook_result regions go last so their untouched pages sit
// together at the end of the block.
static int build_layout(Transformer *m) {
    const TfConfig *c = &m->cfg;
    const bool ln = c->normalization_type == TF_NORM_LN, mlp = !c->attn_only;
    int cap = 0;
    char nm[64];
#define REGION(dst, kind, hook, grad, alias, ...)                                   \
    do {                                                                            \
        snprintf(nm, sizeof nm, __VA_ARGS__);                                       \
        if (((dst) = add_region(m, &cap, nm, (kind), (hook), (grad), (alias))) < 0) \
            return -1;                                                              \
    } while (0)
    REGION(m->embed, K_BTD, true, true, -1, "hook_embed");
    REGION(m->pos_embed, K_BTD, true, true, -1, "hook_pos_embed");
    for (int l = 0; l < c->n_layers; l++) {
        TfLayer *L = &m->layers[l];
        int prev = l ? m->layers[l - 1].resid_post : -1;
        REGION(L->resid_pre, K_BTD, true, true, prev, "blocks.%d.hook_resid_pre", l);
        L->ln1_mean = L->ln1_scale = L->ln1_norm = -1;
        if (ln) {
            REGION(L->ln1_mean, K_BT, false, false, -1, "blocks.%d.ln1.mean", l);
            REGION(L->ln1_scale, K_BT1, true, false, -1, "blocks.%d.ln1.hook_scale", l);
            REGION(L->ln1_norm, K_BTD, true, true, -1, "blocks.%d.ln1.hook_normalized", l);
        }
        REGION(L->q, K_BTHd, true, true, -1, "blocks.%d.attn.hook_q", l);
        REGION(L->k, K_BTHd, true, true, -1, "blocks.%d.attn.hook_k", l);
        REGION(L->v, K_BTHd, true, true, -1, "blocks.%d.attn.hook_v", l);
        REGION(L->scores, K_BHTT, true, true, -1, "blocks.%d.attn.hook_attn_scores", l);
        REGION(L->pattern, K_BHTT, true, true, -1, "blocks.%d.attn.hook_pattern", l);
        REGION(L->z, K_BTHd, true, true, -1, "blocks.%d.attn.hook_z", l);
        REGION(L->result, K_BTHD, true, false, -1, "blocks.%d.attn.hook_result", l);
        m->regions[L->result].lazy = true;
        REGION(L->attn_out, K_BTD, true, true, -1, "blocks.%d.hook_attn_out", l);
        L->resid_mid = L->ln2_mean = L->ln2_scale = L->ln2_norm = -1;
        L->mlp_pre = L->mlp_post = L->mlp_out = -1;
        if (mlp) {
            REGION(L->resid_mid, K_BTD, true, true, -1, "blocks.%d.hook_resid_mid", l);
            if (ln) {
                REGION(L->ln2_mean, K_BT, false, false, -1, "blocks.%d.ln2.mean", l);
                REGION(L->ln2_scale, K_BT1, true, false, -1, "blocks.%d.ln2.hook_scale", l);
                REGION(L->ln2_norm, K_BTD, true, true, -1, "blocks.%d.ln2.hook_normalized", l);
            }
            REGION(L->mlp_pre, K_BTM, true, true, -1, "blocks.%d.mlp.hook_pre", l);
            REGION(L->mlp_post, K_BTM, true, true, -1, "blocks.%d.mlp.hook_post", l);
            REGION(L->mlp_out, K_BTD, true, true, -1, "blocks.%d.hook_mlp_out", l);
        }
        REGION(L->resid_post, K_BTD, true, true, -1, "blocks.%d.hook_resid_post", l);
    }
    m->lnf_mean = m->lnf_scale = m->lnf_norm = -1;
    if (ln) {
        REGION(m->lnf_mean, K_BT, false, false, -1, "ln_final.mean");
        REGION(m->lnf_scale, K_BT1, true, false, -1, "ln_final.hook_scale");
        REGION(m->lnf_norm, K_BTD, true, true, -1, "ln_final.hook_normalized");
    }
    REGION(m->logits, K_BTV, false, true, -1, "logits");
    REGION(m->probs, K_BTV, false, false, -1, "probs");
    REGION(m->losses, K_BT, false, false, -1, "losses");
#undef REGION

    // Every activation must fit the int sizes the ops take (B·H·T·T, B·T·H·D, ...).
    int s[TENSOR_MAX_DIMS];
    for (int kind = K_BTD; kind <= K_BTV; kind++) {
        for (int i = 0; i < TENSOR_MAX_DIMS; i++) s[i] = 1;
        int nd = kind_shape(c, kind, m->max_batch, c->n_ctx, s);
        (void)nd;
        if ((kind != K_BTM || mlp) && !fits_int(s[0], s[1], s[2], s[3]))
            return err_set("transformer: max_batch %d × n_ctx %d gives an activation of "
                           "[%d,%d,%d,%d], more than %d elements; use a smaller batch",
                           m->max_batch, c->n_ctx, s[0], s[1], s[2], s[3], INT_MAX);
    }

    size_t off = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < m->n_regions; i++) {
            TfRegion *r = &m->regions[i];
            if (r->lazy != (pass == 1)) continue;
            if (r->alias >= 0) {
                r->offset = m->regions[r->alias].offset;
                continue;
            }
            r->offset = off;
            off += (kind_numel(c, r->kind, m->max_batch, c->n_ctx) + 15) / 16 * 16;
        }
    m->acts_floats = off;

    m->n_hooks = 0;
    m->hook_ids = malloc(sizeof(int) * (size_t)m->n_regions);
    if (!m->hook_ids) return err_set("transformer: out of memory building the hook table");
    for (int i = 0; i < m->n_regions; i++)
        if (m->regions[i].hook) m->hook_ids[m->n_hooks++] = i;
    return 0;
}

Transformer *tf_create(const TfConfig *c, int max_batch) {
    if (tf_config_validate(c) < 0) return NULL;
    if (max_batch < 1) {
        err_set("transformer: max_batch must be >= 1 (got %d)", max_batch);
        return NULL;
    }
    Transformer *m = calloc(1, sizeof *m);
    if (!m) {
        err_set("transformer: out of memory");
        return NULL;
    }
    m->cfg = *c;
    m->max_batch = max_batch;
    m->layers = calloc((size_t)c->n_layers, sizeof(TfLayer));
    if (!m->layers) {
        err_set("transformer: out of memory");
        goto fail;
    }
    if (build_params(m) < 0 || build_layout(m) < 0) goto fail;
    // calloc: large blocks come straight from the kernel as untouched zero pages, so regions a
    // run never uses (hook_result, the tail beyond the current B and T) cost no memory.
    size_t rows = (size_t)max_batch * (size_t)c->n_ctx;
    m->acts = calloc(m->acts_floats, sizeof(float));
    m->dacts = calloc(m->acts_floats, sizeof(float));
    m->tokens = calloc(rows, sizeof(int));
    m->targets = calloc(rows, sizeof(int));
    m->scratch = calloc(rows, sizeof(float));
    if (!m->acts || !m->dacts || !m->tokens || !m->targets || !m->scratch) {
        err_set("transformer: out of memory allocating %zu activation floats (twice) for "
                "max_batch %d, n_ctx %d", m->acts_floats, max_batch, c->n_ctx);
        goto fail;
    }
    return m;
fail:
    tf_free(m);
    return NULL;
}

void tf_free(Transformer *m) {
    if (!m) return;
    params_free(&m->params);
    free(m->acts);
    free(m->dacts);
    free(m->regions);
    free(m->hook_ids);
    free(m->layers);
    free(m->tokens);
    free(m->targets);
    free(m->scratch);
    free(m);
}

void tf_init_weights(Transformer *m, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    const float std = 0.8f / sqrtf((float)m->cfg.d_model);  // TL's initializer_range
    ParamSet *ps = &m->params;
    for (int i = 0; i < ps->count; i++) {
        const ParamInfo *pi = &ps->info[i];
        float *p = ps->data + pi->offset;
        size_t len = strlen(pi->name);
        if (strstr(pi->name, ".W_")) {
            rng_fill_normal(&r, p, pi->numel, 0.0f, std);
        } else if (len >= 2 && !strcmp(pi->name + len - 2, ".w")) {  // LayerNorm gain
            for (size_t j = 0; j < pi->numel; j++) p[j] = 1.0f;
        } else {  // biases, LayerNorm shift
            memset(p, 0, pi->numel * sizeof(float));
        }
    }
    params_zero_grad(ps);
}

// ---- hook points and views --------------------------------------------------------------------

int tf_hook_count(const Transformer *m) { return m->n_hooks; }

TfHookInfo tf_hook_info(const Transformer *m, int i, int B, int T) {
    TfHookInfo h = {NULL, 0, {1, 1, 1, 1}};
    if (i < 0 || i >= m->n_hooks) return h;
    const TfRegion *r = &m->regions[m->hook_ids[i]];
    h.name = r->name;
    h.ndim = kind_shape(&m->cfg, r->kind, B, T, h.shape);
    return h;
}

// View of region `id` in block `base` (acts or dacts) for the current B, T.
static Tensor view(const Transformer *m, float *base, int id) {
    Tensor t = {base + m->regions[id].offset, 0, {1, 1, 1, 1}};
    t.ndim = kind_shape(&m->cfg, m->regions[id].kind, m->B, m->T, t.shape);
    return t;
}

static int find_region(const Transformer *m, const char *name) {
    for (int i = 0; i < m->n_regions; i++)
        if (!strcmp(m->regions[i].name, name)) return i;
    return -1;
}

static Tensor named_view(const Transformer *m, float *base, const char *name, bool grad) {
    Tensor none = {NULL, 0, {1, 1, 1, 1}};
    int id = find_region(m, name);
    if (id < 0) {
        err_set("transformer: no activation named '%s'", name);
        return none;
    }
    if (!m->have_fwd) {
        err_set("transformer: '%s': no forward pass has completed", name);
        return none;
    }
    if (grad && !m->regions[id].grad && !m->regions[id].hook) {
        err_set("transformer: '%s' has no gradient", name);
        return none;
    }
    return view(m, base, id);
}

Tensor tf_act(const Transformer *m, const char *name) { return named_view(m, m->acts, name, false); }

Tensor tf_act_grad(const Transformer *m, const char *name) {
    return named_view(m, m->dacts, name, true);
}

// Every pattern must name something: a typo in a hook pattern would otherwise do nothing at all.
static int check_patterns(const Transformer *m, const HookList *hl) {
    for (int i = 0; i < hl->n; i++) {
        bool hit = false;
        for (int j = 0; j < m->n_hooks && !hit; j++)
            hit = hooks_match(hl->items[i].pattern, m->regions[m->hook_ids[j]].name);
        if (!hit)
            return err_set("transformer: hook pattern '%s' matches no hook point of this model",
                           hl->items[i].pattern);
    }
    return 0;
}

// ---- small kernels (the model's own glue; the heavy lifting is gemm() and ops.h) ---------------

#define A(id) (m->acts + m->regions[(id)].offset)   // activation of region id
#define G(id) (m->dacts + m->regions[(id)].offset)  // its gradient
#define P(ix) ((ix) < 0 ? NULL : m->params.data + m->params.info[(ix)].offset)
#define PG(ix) ((ix) < 0 ? NULL : m->params.grad + m->params.info[(ix)].offset)

// out[n] = a[n] + b[n]
static void add_vec(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

// out[n] += a[n]
static void acc_vec(float *out, const float *a, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] += a[i];
}

// Per-head projection, TL's einsum "btd,hde->bthe":
// out[N,H,dh] = a[N,D] · W[h] + b[h] for each head h, with W [H,D,dh] and b [H,dh].
// W[h] is a contiguous [D,dh] matrix and out's head h is a strided [N,dh] slice (ldc = H·dh), so
// each head is one gemm with no copies; the bias is written first and the product accumulated.
static void head_proj_forward(float *out, const float *a, const float *W, const float *b, int N,
                              int D, int H, int dh) {
    const int HD = H * dh;
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * HD, b, sizeof(float) * (size_t)HD);
    for (int h = 0; h < H; h++)
        gemm(false, false, N, dh, D, a, D, W + (size_t)h * D * dh, dh, out + (size_t)h * dh, HD,
             true);
}

// da[N,D] += Σ_h dout[:,h]·W[h]ᵀ;  dW[h] += aᵀ·dout[:,h];  db[H,dh] += Σ_n dout[n]
static void head_proj_backward(float *da, float *dW, float *db, const float *dout, const float *a,
                               const float *W, int N, int D, int H, int dh) {
    const int HD = H * dh;
    for (int h = 0; h < H; h++) {
        const float *dout_h = dout + (size_t)h * dh;
        gemm(false, true, N, D, dh, dout_h, HD, W + (size_t)h * D * dh, dh, da, D, true);
        gemm(true, false, D, dh, N, a, D, dout_h, HD, dW + (size_t)h * D * dh, dh, true);
    }
    for (int n = 0; n < N; n++) acc_vec(db, dout + (size_t)n * HD, (size_t)HD);
}

static void act_forward(TfActFn f, float *out, const float *inp, size_t n) {
    if (f == TF_ACT_RELU) relu_forward(out, inp, n);
    else gelu_forward(out, inp, n);
}

static void act_backward(TfActFn f, float *dinp, const float *dout, const float *inp, size_t n) {
    if (f == TF_ACT_RELU) relu_backward(dinp, dout, inp, n);
    else gelu_backward(dinp, dout, inp, n);
}

// Runs the hooks of one point; the fast path (no hooks) is the caller's `hooked` test.
static int run_hook(Transformer *m, const HookList *hl, int id, HookDir dir) {
    return hooks_run(hl, m->regions[id].name, dir,
                     view(m, dir == HOOK_FORWARD ? m->acts : m->dacts, id));
}

#define FWD(id)                                                                   \
    do {                                                                          \
        if (hooked && run_hook(m, hl, (id), HOOK_FORWARD) < 0) return -1;         \
    } while (0)
#define BWD(id)                                                                   \
    do {                                                                          \
        if (hooked && run_hook(m, hl, (id), HOOK_BACKWARD) < 0) return -1;        \
    } while (0)

// LayerNorm of x[N,D] into region `norm`, saving mean and scale, with its hook points. If a hook
// changed the scale, the output is recomputed with it so the patch reaches downstream.
static int ln_forward(Transformer *m, const HookList *hl, bool hooked, const float *x, int mean,
                      int scale, int norm, int w, int b, int N) {
    const int D = m->cfg.d_model;
    float *out = A(norm), *mu = A(mean), *sc = A(scale);
    const float *wp = P(w), *bp = P(b);
    layernorm_forward(out, mu, sc, x, wp, bp, N, D, m->cfg.eps);
    if (hooked && hooks_wants(hl, m->regions[scale].name, HOOK_FORWARD)) {
        memcpy(m->scratch, sc, sizeof(float) * (size_t)N);
        FWD(scale);
        if (memcmp(m->scratch, sc, sizeof(float) * (size_t)N) != 0)
            for (int n = 0; n < N; n++)
                for (int d = 0; d < D; d++) {
                    size_t i = (size_t)n * D + d;
                    out[i] = (x[i] - mu[n]) / sc[n] * wp[d] + bp[d];
                }
    }
    FWD(norm);
    return 0;
}

// Backward of ln_forward: dx[N,D] += d/dx, d(w), d(b) from the complete gradient at `norm`.
// d(loss)/d(scale) is only computed when a backward hook asks for it:
//   out = (x - mean)/scale·w + b  ⇒  dscale[n] = -Σ_d dout[n,d]·w[d]·(x[n,d] - mean[n]) / scale[n]²
static int ln_backward(Transformer *m, const HookList *hl, bool hooked, const float *x, float *dx,
                       int mean, int scale, int norm, int w, int b, int N) {
    const int D = m->cfg.d_model;
    const float *dout = G(norm), *mu = A(mean), *sc = A(scale), *wp = P(w);
    BWD(norm);
    if (hooked && hooks_wants(hl, m->regions[scale].name, HOOK_BACKWARD)) {
        float *dsc = G(scale);
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int d = 0; d < D; d++) {
                size_t i = (size_t)n * D + d;
                s += (double)dout[i] * wp[d] * (x[i] - mu[n]);
            }
            dsc[n] = (float)(-s / ((double)sc[n] * sc[n]));
        }
        BWD(scale);
    }
    layernorm_backward(dx, PG(w), PG(b), dout, x, mu, sc, wp, N, D);
    return 0;
}

// ---- forward ---------------------------------------------------------------------------------

static int check_inputs(const Transformer *m, const int *tokens, const int *targets, int B,
                        int T) {
    const TfConfig *c = &m->cfg;
    if (!tokens) return err_set("tf_forward: tokens is NULL");
    if (B < 1 || B > m->max_batch)
        return err_set("tf_forward: batch size %d is outside 1..%d (the model's max_batch)", B,
                       m->max_batch);
    if (T < 1 || T > c->n_ctx)
        return err_set("tf_forward: sequence length %d is outside 1..%d (n_ctx)", T, c->n_ctx);
    for (int i = 0; i < B * T; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->d_vocab)
            return err_set("tf_forward: token %d at [%d,%d] is outside [0, %d) (d_vocab)",
                           tokens[i], i / T, i % T, c->d_vocab);
        if (targets && targets[i] >= c->d_vocab)
            return err_set("tf_forward: target %d at [%d,%d] is >= d_vocab %d (a negative "
                           "target marks a position to ignore)", targets[i], i / T, i % T,
                           c->d_vocab);
    }
    return 0;
}

int tf_forward(Transformer *m, const int *tokens, const int *targets, int B, int T,
               const HookList *hl, double *loss) {
    m->have_fwd = m->have_targets = false;
    if (loss) *loss = NAN;
    if (check_inputs(m, tokens, targets, B, T) < 0) return -1;
    const bool hooked = hl && hl->n > 0;
    if (hooked && check_patterns(m, hl) < 0) return -1;
    const TfConfig *c = &m->cfg;
    const int D = c->d_model, H = c->n_heads, dh = c->d_head, M = c->d_mlp, V = c->d_vocab;
    const int N = B * T, HD = H * dh;
    const size_t ND = (size_t)N * D;
    const bool ln = c->normalization_type == TF_NORM_LN;
    m->B = B;
    m->T = T;
    memcpy(m->tokens, tokens, sizeof(int) * (size_t)N);

    embedding_forward(A(m->embed), tokens, P(m->W_E), N, D);
    FWD(m->embed);
    posembed_forward(A(m->pos_embed), P(m->W_pos), B, T, D);
    FWD(m->pos_embed);
    add_vec(A(m->layers[0].resid_pre), A(m->embed), A(m->pos_embed), ND);

    for (int l = 0; l < c->n_layers; l++) {
        const TfLayer *L = &m->layers[l];
        const float *x = A(L->resid_pre);  // [N,D]
        FWD(L->resid_pre);

        // attention
        const float *a = x;
        if (ln) {
            if (ln_forward(m, hl, hooked, x, L->ln1_mean, L->ln1_scale, L->ln1_norm, L->ln1_w,
                           L->ln1_b, N) < 0)
                return -1;
            a = A(L->ln1_norm);
        }
        head_proj_forward(A(L->q), a, P(L->W_Q), P(L->b_Q), N, D, H, dh);
        FWD(L->q);
        head_proj_forward(A(L->k), a, P(L->W_K), P(L->b_K), N, D, H, dh);
        FWD(L->k);
        head_proj_forward(A(L->v), a, P(L->W_V), P(L->b_V), N, D, H, dh);
        FWD(L->v);
        attn_scores_forward(A(L->scores), A(L->q), A(L->k), B, T, H, dh);
        FWD(L->scores);
        softmax_forward(A(L->pattern), A(L->scores), B * H * T, T);
        FWD(L->pattern);
        attn_z_forward(A(L->z), A(L->pattern), A(L->v), B, T, H, dh);
        FWD(L->z);
        float *attn_out = A(L->attn_out);
        if (hooked && hooks_wants(hl, m->regions[L->result].name, HOOK_FORWARD)) {
            // result[N,H,D]: head h's write z[:,h]·W_O[h]; attn_out = Σ_h result + b_O
            float *res = A(L->result);
            const float *z = A(L->z), *W_O = P(L->W_O), *b_O = P(L->b_O);
            for (int h = 0; h < H; h++)
                gemm(false, false, N, D, dh, z + (size_t)h * dh, HD, W_O + (size_t)h * dh * D, D,
                     res + (size_t)h * D, H * D, false);
            FWD(L->result);
            for (int n = 0; n < N; n++) {
                float *o = attn_out + (size_t)n * D;
                memcpy(o, b_O, sizeof(float) * (size_t)D);
                for (int h = 0; h < H; h++) acc_vec(o, res + ((size_t)n * H + h) * D, (size_t)D);
            }
        } else {
            // z viewed as [N, H·dh] times W_O viewed as [H·dh, D]: one gemm for all heads
            linear_forward(attn_out, A(L->z), P(L->W_O), P(L->b_O), N, HD, D);
        }
        FWD(L->attn_out);

        if (c->attn_only) {
            add_vec(A(L->resid_post), x, attn_out, ND);
        } else {
            float *mid = A(L->resid_mid);
            add_vec(mid, x, attn_out, ND);
            FWD(L->resid_mid);
            const float *a2 = mid;
            if (ln) {
                if (ln_forward(m, hl, hooked, mid, L->ln2_mean, L->ln2_scale, L->ln2_norm,
                               L->ln2_w, L->ln2_b, N) < 0)
                    return -1;
                a2 = A(L->ln2_norm);
            }
            linear_forward(A(L->mlp_pre), a2, P(L->W_in), P(L->b_in), N, D, M);
            FWD(L->mlp_pre);
            act_forward(c->act_fn, A(L->mlp_post), A(L->mlp_pre), (size_t)N * M);
            FWD(L->mlp_post);
            linear_forward(A(L->mlp_out), A(L->mlp_post), P(L->W_out), P(L->b_out), N, M, D);
            FWD(L->mlp_out);
            add_vec(A(L->resid_post), mid, A(L->mlp_out), ND);
        }
        FWD(L->resid_post);
    }

    const float *xf = A(m->layers[c->n_layers - 1].resid_post);
    if (ln) {
        if (ln_forward(m, hl, hooked, xf, m->lnf_mean, m->lnf_scale, m->lnf_norm, m->lnf_w,
                       m->lnf_b, N) < 0)
            return -1;
        xf = A(m->lnf_norm);
    }
    linear_forward(A(m->logits), xf, P(m->W_U), P(m->b_U), N, D, V);
    if (targets) {
        memcpy(m->targets, targets, sizeof(int) * (size_t)N);
        double mean = crossentropy_forward(A(m->probs), A(m->losses), A(m->logits), targets, N,
                                           V, &m->loss_count);
        if (loss) *loss = mean;
        m->have_targets = true;
    } else {
        softmax_forward(A(m->probs), A(m->logits), N, V);
    }
    m->have_fwd = true;
    return 0;
}

// ---- backward: the forward above, read from the bottom up -------------------------------------

// The backward pass from d(logits): the loss's (dlogits NULL) or a caller's.
static int backward(Transformer *m, const HookList *hl, const float *dlogits) {
    const bool hooked = hl && hl->n > 0;
    if (hooked && check_patterns(m, hl) < 0) return -1;
    const TfConfig *c = &m->cfg;
    const int B = m->B, T = m->T;
    const int D = c->d_model, H = c->n_heads, dh = c->d_head, M = c->d_mlp, V = c->d_vocab;
    const int N = B * T, HD = H * dh;
    const size_t ND = (size_t)N * D;
    const bool ln = c->normalization_type == TF_NORM_LN;

    // Every op's backward accumulates, so the gradients of this B,T start at zero.
    for (int i = 0; i < m->n_regions; i++) {
        const TfRegion *r = &m->regions[i];
        if (r->grad && r->alias < 0)
            memset(m->dacts + r->offset, 0, sizeof(float) * kind_numel(c, r->kind, B, T));
    }

    if (dlogits)
        memcpy(G(m->logits), dlogits, sizeof(float) * (size_t)N * V);
    else if (m->loss_count > 0)
        crossentropy_backward(G(m->logits), A(m->probs), m->targets, N, V,
                              1.0f / (float)m->loss_count);
    const int last = m->layers[c->n_layers - 1].resid_post;
    if (ln) {
        linear_backward(G(m->lnf_norm), PG(m->W_U), PG(m->b_U), G(m->logits), A(m->lnf_norm),
                        P(m->W_U), N, D, V);
        if (ln_backward(m, hl, hooked, A(last), G(last), m->lnf_mean, m->lnf_scale, m->lnf_norm,
                        m->lnf_w, m->lnf_b, N) < 0)
            return -1;
    } else {
        linear_backward(G(last), PG(m->W_U), PG(m->b_U), G(m->logits), A(last), P(m->W_U), N, D,
                        V);
    }

    for (int l = c->n_layers - 1; l >= 0; l--) {
        const TfLayer *L = &m->layers[l];
        const float *x = A(L->resid_pre);
        float *dx = G(L->resid_pre);
        BWD(L->resid_post);
        const float *dmid = G(L->resid_post);  // gradient at resid_pre + attn_out
        if (!c->attn_only) {
            float *dres_mid = G(L->resid_mid);
            acc_vec(dres_mid, dmid, ND);  // resid_post = resid_mid + mlp_out
            acc_vec(G(L->mlp_out), dmid, ND);
            BWD(L->mlp_out);
            linear_backward(G(L->mlp_post), PG(L->W_out), PG(L->b_out), G(L->mlp_out),
                            A(L->mlp_post), P(L->W_out), N, M, D);
            BWD(L->mlp_post);
            act_backward(c->act_fn, G(L->mlp_pre), G(L->mlp_post), A(L->mlp_pre), (size_t)N * M);
            BWD(L->mlp_pre);
            const float *mid = A(L->resid_mid);
            if (ln) {
                linear_backward(G(L->ln2_norm), PG(L->W_in), PG(L->b_in), G(L->mlp_pre),
                                A(L->ln2_norm), P(L->W_in), N, D, M);
                if (ln_backward(m, hl, hooked, mid, dres_mid, L->ln2_mean, L->ln2_scale,
                                L->ln2_norm, L->ln2_w, L->ln2_b, N) < 0)
                    return -1;
            } else {
                linear_backward(dres_mid, PG(L->W_in), PG(L->b_in), G(L->mlp_pre), mid,
                                P(L->W_in), N, D, M);
            }
            BWD(L->resid_mid);
            dmid = dres_mid;
        }
        acc_vec(dx, dmid, ND);  // resid_mid = resid_pre + attn_out
        float *dattn = G(L->attn_out);
        acc_vec(dattn, dmid, ND);
        BWD(L->attn_out);

        float *dz = G(L->z);
        if (hooked && hooks_wants(hl, m->regions[L->result].name, HOOK_BACKWARD)) {
            // attn_out = Σ_h result[:,h] + b_O: every head's result gets the whole gradient
            float *dres = G(L->result);
            const float *z = A(L->z), *W_O = P(L->W_O);
            float *dW_O = PG(L->W_O);
            for (int n = 0; n < N; n++) {
                const float *g = dattn + (size_t)n * D;
                acc_vec(PG(L->b_O), g, (size_t)D);
                for (int h = 0; h < H; h++)
                    memcpy(dres + ((size_t)n * H + h) * D, g, sizeof(float) * (size_t)D);
            }
            BWD(L->result);
            for (int h = 0; h < H; h++) {
                gemm(false, true, N, dh, D, dres + (size_t)h * D, H * D,
                     W_O + (size_t)h * dh * D, D, dz + (size_t)h * dh, HD, true);
                gemm(true, false, dh, D, N, z + (size_t)h * dh, HD, dres + (size_t)h * D, H * D,
                     dW_O + (size_t)h * dh * D, D, true);
            }
        } else {
            linear_backward(dz, PG(L->W_O), PG(L->b_O), dattn, A(L->z), P(L->W_O), N, HD, D);
        }
        BWD(L->z);
        attn_z_backward(G(L->pattern), G(L->v), dz, A(L->pattern), A(L->v), B, T, H, dh);
        BWD(L->pattern);
        softmax_backward(G(L->scores), G(L->pattern), A(L->pattern), B * H * T, T);
        BWD(L->scores);
        attn_scores_backward(G(L->q), G(L->k), G(L->scores), A(L->q), A(L->k), B, T, H, dh);
        BWD(L->v);
        BWD(L->k);
        BWD(L->q);
        const float *a = ln ? A(L->ln1_norm) : x;
        float *da = ln ? G(L->ln1_norm) : dx;
        head_proj_backward(da, PG(L->W_V), PG(L->b_V), G(L->v), a, P(L->W_V), N, D, H, dh);
        head_proj_backward(da, PG(L->W_K), PG(L->b_K), G(L->k), a, P(L->W_K), N, D, H, dh);
        head_proj_backward(da, PG(L->W_Q), PG(L->b_Q), G(L->q), a, P(L->W_Q), N, D, H, dh);
        if (ln && ln_backward(m, hl, hooked, x, dx, L->ln1_mean, L->ln1_scale, L->ln1_norm,
                              L->ln1_w, L->ln1_b, N) < 0)
            return -1;
        BWD(L->resid_pre);
    }

    // resid_pre_0 = embed + pos_embed
    const float *d0 = G(m->layers[0].resid_pre);
    acc_vec(G(m->embed), d0, ND);
    acc_vec(G(m->pos_embed), d0, ND);
    BWD(m->embed);
    embedding_backward(PG(m->W_E), G(m->embed), m->tokens, N, D);
    BWD(m->pos_embed);
    posembed_backward(PG(m->W_pos), G(m->pos_embed), B, T, D);
    return 0;
}

int tf_backward(Transformer *m, const HookList *hl) {
    if (!m->have_fwd || !m->have_targets)
        return err_set("tf_backward: needs a completed tf_forward with targets first");
    return backward(m, hl, NULL);
}

int tf_backward_logits(Transformer *m, const float *dlogits, const HookList *hl) {
    if (!m->have_fwd) return err_set("tf_backward_logits: needs a completed tf_forward first");
    if (!dlogits) return err_set("tf_backward_logits: dlogits is NULL");
    return backward(m, hl, dlogits);
}
