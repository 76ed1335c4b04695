// cnn.c — the CNN family: spec parser, layer table, forward, backward (see cnn.h).
//
// The forward is the layer list read top to bottom, one op call per layer; the backward is the
// same list read bottom to top. Activations of layer i live at layers[i].act in acts (gradients
// at the same offset in dacts); the input copy is at offset 0.
#include "cnn.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ops.h"
#include "rng.h"

#define CNN_MAX_K 32
#define CNN_MAX_S 32
#define CNN_MAX_CH 4096
#define CNN_MAX_LINEAR (1 << 20)
#define CNN_MAX_SIDE 4096
#define CNN_MAX_BATCH 65536
#define CNN_MAX_LAYERS 256
// Per-image activation size limit (floats): keeps every B·numel product far from overflow.
#define CNN_MAX_NUMEL ((size_t)1 << 28)

static const char *kind_names[] = {"conv", "relu", "maxpool", "avgpool", "flatten", "linear"};

const char *cnn_kind_name(CnnKind k) {
    return k >= CNN_CONV && k <= CNN_LINEAR ? kind_names[k] : "?";
}

// ---- spec parsing ----------------------------------------------------------------------------

#define SPEC_EXPECTED                                                                              \
    "expected conv<K>x<K>[s<S>][p<P>]:<OC>, relu, maxpool<K>[s<S>], avgpool<K>[s<S>], flatten or " \
    "linear:<N>"

// Reads an unsigned decimal in [lo, hi] at *p and advances past it. -1 if there is no digit or
// the value is out of range (the caller words the message).
static int read_num(const char **p, long lo, long hi, long *v) {
    const char *s = *p;
    if (*s < '0' || *s > '9') return -1;
    long x = 0;
    while (*s >= '0' && *s <= '9') {
        x = x * 10 + (*s - '0');
        if (x > hi) return -1;  // also stops overflow on long digit strings
        s++;
    }
    if (x < lo) return -1;
    *p = s;
    *v = x;
    return 0;
}

static int starts(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

// Parsed but not yet shaped: what one token says.
typedef struct {
    CnnKind kind;
    int k, s, p, n;  // n: conv OC or linear out; p = -1: default padding
} Tok;

static int tok_error(int i, const char *tok, const char *what) {
    return err_set("cnn spec: token %d '%s': %s", i, tok, what);
}

static int parse_token(const char *t, int i, Tok *out) {
    Tok k = {.p = -1};
    long v;
    const char *p = t;
    if (!strcmp(t, "relu")) {
        k.kind = CNN_RELU;
    } else if (!strcmp(t, "flatten")) {
        k.kind = CNN_FLATTEN;
    } else if (starts(t, "conv")) {
        k.kind = CNN_CONV;
        p += 4;
        if (read_num(&p, 1, CNN_MAX_K, &v))
            return tok_error(i, t, "kernel size after 'conv' must be 1..32 (conv<K>x<K>...)");
        k.k = (int)v;
        if (*p++ != 'x' || read_num(&p, 1, CNN_MAX_K, &v))
            return tok_error(i, t, "expected <K>x<K> after 'conv', e.g. conv3x3:16");
        if (v != k.k) return tok_error(i, t, "only square kernels are supported (K x K)");
        k.s = 1;
        if (*p == 's') {
            p++;
            if (read_num(&p, 1, CNN_MAX_S, &v)) return tok_error(i, t, "stride must be 1..32");
            k.s = (int)v;
        }
        if (*p == 'p') {
            p++;
            if (read_num(&p, 0, k.k - 1, &v))
                return tok_error(i, t, "padding must be 0..K-1");
            k.p = (int)v;
        }
        if (*p != ':')
            return tok_error(i, t, "expected ':<channels>' after the kernel (conv<K>x<K>[s<S>][p<P>]:<OC>)");
        p++;
        if (read_num(&p, 1, CNN_MAX_CH, &v))
            return tok_error(i, t, "output channels must be 1..4096");
        k.n = (int)v;
    } else if (starts(t, "maxpool") || starts(t, "avgpool")) {
        k.kind = t[0] == 'm' ? CNN_MAXPOOL : CNN_AVGPOOL;
        p += 7;
        if (read_num(&p, 1, CNN_MAX_K, &v)) return tok_error(i, t, "window must be 1..32");
        k.k = (int)v;
        k.s = k.k;
        if (*p == 's') {
            p++;
            if (read_num(&p, 1, CNN_MAX_S, &v)) return tok_error(i, t, "stride must be 1..32");
            k.s = (int)v;
        }
    } else if (starts(t, "linear")) {
        k.kind = CNN_LINEAR;
        p += 6;
        if (*p++ != ':') return tok_error(i, t, "expected linear:<N>");
        if (read_num(&p, 1, CNN_MAX_LINEAR, &v))
            return tok_error(i, t, "output features must be 1..1048576");
        k.n = (int)v;
    } else {
        return tok_error(i, t, "unknown layer; " SPEC_EXPECTED);
    }
    if (k.kind != CNN_RELU && k.kind != CNN_FLATTEN && *p != '\0')
        return tok_error(i, t, "unexpected characters at the end");
    *out = k;
    return 0;
}

// Splits the spec at commas into tokens (copies in `buf`), parses each.
static int parse_spec(const char *spec, Tok **toks, int *n) {
    *toks = NULL;
    *n = 0;
    if (!spec || !spec[0]) return err_set("cnn spec: empty (" SPEC_EXPECTED ")");
    size_t len = strlen(spec);
    if (len > 4096) return err_set("cnn spec: %zu characters (at most 4096)", len);
    char *buf = malloc(len + 1);
    Tok *t = calloc(CNN_MAX_LAYERS, sizeof(Tok));
    if (!buf || !t) {
        free(buf);
        free(t);
        return err_set("cnn spec: out of memory");
    }
    memcpy(buf, spec, len + 1);
    int count = 0, rc = 0;
    for (char *s = buf;;) {
        char *e = strchr(s, ',');
        if (e) *e = '\0';
        if (count == CNN_MAX_LAYERS) {
            rc = err_set("cnn spec: more than %d layers", CNN_MAX_LAYERS);
            break;
        }
        if (!s[0]) {
            rc = err_set("cnn spec '%s': token %d is empty (a stray comma?)", spec, count);
            break;
        }
        if (parse_token(s, count, &t[count])) {
            rc = -1;
            break;
        }
        count++;
        if (!e) break;
        s = e + 1;
    }
    free(buf);
    if (rc) {
        free(t);
        return -1;
    }
    *toks = t;
    *n = count;
    return 0;
}

// ---- building the model ------------------------------------------------------------------------

static size_t layer_numel_out(const CnnLayer *L) {
    return (size_t)L->out_c * L->out_h * L->out_w;
}
static size_t layer_numel_in(const CnnLayer *L) { return (size_t)L->in_c * L->in_h * L->in_w; }
static size_t align16(size_t n) { return (n + 15) / 16 * 16; }

// "cnn spec: token i '<token>' (layers.i): <what>", the token text recovered from the spec.
static int shape_error(const Cnn *m, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int shape_error(const Cnn *m, int i, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *s = m->spec;
    for (int k = 0; k < i; k++) s = strchr(s, ',') + 1;  // the spec parsed: i commas exist
    return err_set("cnn spec: token %d '%.*s' (layers.%d): %s", i, (int)strcspn(s, ","), s, i,
                   what);
}

// Fills in shapes, parameter entries and buffer offsets for every layer.
static int build_layers(Cnn *m, const Tok *toks, size_t *scratch, size_t *argmax_ints) {
    int c = m->C, h = m->H, w = m->W;
    bool vec = false;
    size_t off = align16((size_t)m->max_batch * c * h * w);  // after the input copy
    *scratch = 0;
    *argmax_ints = 0;
    char name[PARAM_NAME_MAX];
    for (int i = 0; i < m->n_layers; i++) {
        const Tok *t = &toks[i];
        CnnLayer *L = &m->layers[i];
        L->kind = t->kind;
        L->in_c = c;
        L->in_h = h;
        L->in_w = w;
        L->in_vec = vec;
        switch (t->kind) {
        case CNN_CONV: {
            if (vec)
                return shape_error(m, i, "a conv needs an image, but gets a vector of %d "
                                   "features (after flatten/linear)", c * h * w);
            int p = t->p >= 0 ? t->p : (t->k % 2 == 1 && t->s == 1 ? (t->k - 1) / 2 : 0);
            if (t->k > h + 2 * p || t->k > w + 2 * p)
                return shape_error(m, i, "kernel %d larger than its %dx%d input "
                                   "(with padding)", t->k, h + 2 * p, w + 2 * p);
            L->u.conv.k = t->k;
            L->u.conv.s = t->s;
            L->u.conv.p = p;
            L->out_c = t->n;
            L->out_h = (h + 2 * p - t->k) / t->s + 1;
            L->out_w = (w + 2 * p - t->k) / t->s + 1;
            if ((size_t)t->n * c * t->k * t->k > CNN_MAX_NUMEL)
                return shape_error(m, i, "weight of %d x %d x %d x %d is too large", t->n, c,
                                   t->k, t->k);
            snprintf(name, sizeof name, "layers.%d.W", i);
            L->u.conv.W = params_add(&m->params, name, 4, (int[]){t->n, c, t->k, t->k});
            snprintf(name, sizeof name, "layers.%d.b", i);
            L->u.conv.b = params_add(&m->params, name, 1, (int[]){t->n});
            if (L->u.conv.W < 0 || L->u.conv.b < 0) return -1;
            size_t sc = conv2d_scratch_floats(m->max_batch, c, h, w, t->n, t->k, t->k, t->s, p);
            if (sc > *scratch) *scratch = sc;
            break;
        }
        case CNN_RELU:
            L->out_c = c;
            L->out_h = h;
            L->out_w = w;
            break;
        case CNN_MAXPOOL:
        case CNN_AVGPOOL:
            if (vec)
                return shape_error(m, i, "a pool needs an image, but gets a vector of %d "
                                   "features (after flatten/linear)", c * h * w);
            if (t->k > h || t->k > w)
                return shape_error(m, i, "window %d larger than its %dx%d input", t->k,
                                   h, w);
            L->u.pool.k = t->k;
            L->u.pool.s = t->s;
            L->out_c = c;
            L->out_h = (h - t->k) / t->s + 1;
            L->out_w = (w - t->k) / t->s + 1;
            if (t->kind == CNN_MAXPOOL) {
                L->u.pool.argmax = *argmax_ints;
                *argmax_ints += (size_t)m->max_batch * layer_numel_out(L);
            }
            break;
        case CNN_FLATTEN:
            if (vec)
                return shape_error(m, i, "flatten of something already flat (%d "
                                   "features)", c);
            L->out_c = c * h * w;
            L->out_h = L->out_w = 1;
            break;
        case CNN_LINEAR: {
            int in = c * h * w;
            if ((size_t)in * t->n > CNN_MAX_NUMEL)
                return shape_error(m, i, "weight of %d x %d is too large", in, t->n);
            L->out_c = t->n;
            L->out_h = L->out_w = 1;
            snprintf(name, sizeof name, "layers.%d.W", i);
            L->u.linear.W = params_add(&m->params, name, 2, (int[]){in, t->n});
            snprintf(name, sizeof name, "layers.%d.b", i);
            L->u.linear.b = params_add(&m->params, name, 1, (int[]){t->n});
            if (L->u.linear.W < 0 || L->u.linear.b < 0) return -1;
            break;
        }
        }
        L->out_vec = vec || t->kind == CNN_FLATTEN || t->kind == CNN_LINEAR;
        if (layer_numel_out(L) > CNN_MAX_NUMEL)
            return shape_error(m, i, "output of %d x %d x %d per image is too large", L->out_c,
                               L->out_h, L->out_w);
        if (t->kind == CNN_FLATTEN) {
            L->act = i ? m->layers[i - 1].act : 0;  // a view: no data moves
        } else {
            L->act = off;
            off += align16((size_t)m->max_batch * layer_numel_out(L));
        }
        c = L->out_c;
        h = L->out_h;
        w = L->out_w;
        vec = L->out_vec;
    }
    m->acts_floats = off;
    m->n_out = c * h * w;
    return 0;
}

Cnn *cnn_create(const char *spec, int C, int H, int W, int max_batch) {
    if (C < 1 || C > CNN_MAX_CH || H < 1 || H > CNN_MAX_SIDE || W < 1 || W > CNN_MAX_SIDE ||
        (size_t)C * H * W > CNN_MAX_NUMEL) {
        err_set("cnn: input shape %dx%dx%d outside 1..%d channels, 1..%d pixels a side", C, H, W,
                CNN_MAX_CH, CNN_MAX_SIDE);
        return NULL;
    }
    if (max_batch < 1 || max_batch > CNN_MAX_BATCH) {
        err_set("cnn: max_batch %d outside 1..%d", max_batch, CNN_MAX_BATCH);
        return NULL;
    }
    Tok *toks;
    int n;
    if (parse_spec(spec, &toks, &n)) return NULL;
    Cnn *m = calloc(1, sizeof *m);
    size_t len = strlen(spec);
    if (m) m->spec = malloc(len + 1);
    if (m) m->layers = calloc((size_t)n, sizeof(CnnLayer));
    if (!m || !m->spec || !m->layers) {
        free(toks);
        cnn_free(m);
        err_set("cnn: out of memory");
        return NULL;
    }
    memcpy(m->spec, spec, len + 1);
    m->C = C;
    m->H = H;
    m->W = W;
    m->n_layers = n;
    m->max_batch = max_batch;
    size_t scratch, argmax_ints;
    int rc = build_layers(m, toks, &scratch, &argmax_ints);
    free(toks);
    if (rc || params_alloc(&m->params)) {
        cnn_free(m);
        return NULL;
    }
    // Hook names: one block of strings ("hook_in" and "layers.{i}.hook_out").
    m->hook_names = calloc((size_t)n + 1, sizeof(char *));
    char *names = m->hook_names ? malloc((size_t)(n + 1) * 32) : NULL;
    m->acts = calloc(m->acts_floats, sizeof(float));
    m->dacts = calloc(m->acts_floats, sizeof(float));
    m->argmax = calloc(argmax_ints ? argmax_ints : 1, sizeof(int));
    m->scratch = calloc(scratch ? scratch : 1, sizeof(float));
    m->probs = calloc((size_t)max_batch * m->n_out, sizeof(float));
    m->losses = calloc((size_t)max_batch, sizeof(float));
    m->labels = calloc((size_t)max_batch, sizeof(int));
    if (!names || !m->acts || !m->dacts || !m->argmax || !m->scratch || !m->probs ||
        !m->losses || !m->labels) {
        free(names);
        cnn_free(m);
        err_set("cnn: out of memory for the activations of '%s' at batch %d", spec, max_batch);
        return NULL;
    }
    for (int i = 0; i <= n; i++) {
        m->hook_names[i] = names + (size_t)i * 32;
        if (i == 0)
            snprintf(m->hook_names[i], 32, "hook_in");
        else
            snprintf(m->hook_names[i], 32, "layers.%d.hook_out", i - 1);
    }
    return m;
}

void cnn_free(Cnn *m) {
    if (!m) return;
    if (m->hook_names) free(m->hook_names[0]);  // the one block all names live in
    free(m->hook_names);
    free(m->spec);
    free(m->layers);
    params_free(&m->params);
    free(m->acts);
    free(m->dacts);
    free(m->argmax);
    free(m->scratch);
    free(m->probs);
    free(m->losses);
    free(m->labels);
    free(m);
}

void cnn_init_weights(Cnn *m, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    memset(m->params.data, 0, sizeof(float) * m->params.numel);
    // Table order is layer order, W before b: a seed gives the same model everywhere.
    for (int i = 0; i < m->params.count; i++) {
        const ParamInfo *pi = &m->params.info[i];
        if (pi->ndim == 1) continue;  // biases stay 0
        // fan_in: everything but the output axis — C·K·K of [OC,C,K,K], `in` of [in,out]
        size_t fan_in = pi->ndim == 4 ? pi->numel / (size_t)pi->shape[0] : (size_t)pi->shape[0];
        rng_fill_normal(&r, m->params.data + pi->offset, pi->numel, 0.0f,
                        (float)sqrt(2.0 / (double)fan_in));
    }
    params_zero_grad(&m->params);
}

// ---- hook points -------------------------------------------------------------------------------

int cnn_hook_count(const Cnn *m) { return m->n_layers + 1; }

// Shape of hook point h (0: input, i+1: layer i's output) for batch B.
static CnnHookInfo hook_info(const Cnn *m, int h, int B) {
    CnnHookInfo hi = {m->hook_names[h], 0, {1, 1, 1, 1}};
    int c = m->C, ht = m->H, w = m->W;
    bool vec = false;
    if (h > 0) {
        const CnnLayer *L = &m->layers[h - 1];
        c = L->out_c;
        ht = L->out_h;
        w = L->out_w;
        vec = L->out_vec;
    }
    if (vec) {
        hi.ndim = 2;
        hi.shape[0] = B;
        hi.shape[1] = c;
    } else {
        hi.ndim = 4;
        hi.shape[0] = B;
        hi.shape[1] = c;
        hi.shape[2] = ht;
        hi.shape[3] = w;
    }
    return hi;
}

CnnHookInfo cnn_hook_info(const Cnn *m, int i, int B) { return hook_info(m, i, B); }

static size_t hook_offset(const Cnn *m, int h) { return h ? m->layers[h - 1].act : 0; }

static Tensor hook_view(const Cnn *m, float *base, int h) {
    CnnHookInfo hi = hook_info(m, h, m->B);
    return tensor_view(base + hook_offset(m, h), hi.ndim, hi.shape);
}

static int hook_find(const Cnn *m, const char *name) {
    for (int h = 0; h <= m->n_layers; h++)
        if (!strcmp(m->hook_names[h], name)) return h;
    return -1;
}

// Every pattern must match some hook point: a typo should fail loudly, not do nothing.
static int check_patterns(const Cnn *m, const HookList *hl) {
    if (!hl) return 0;
    for (int i = 0; i < hl->n; i++) {
        HookList one = {&hl->items[i], 1, 1};
        int hit = 0;
        for (int h = 0; h <= m->n_layers && !hit; h++)
            hit = hooks_wants(&one, m->hook_names[h], hl->items[i].dir);
        if (!hit)
            return err_set("hooks: pattern '%s' matches no hook point of this CNN (hook_in, "
                           "layers.0.hook_out .. layers.%d.hook_out)",
                           hl->items[i].pattern, m->n_layers - 1);
    }
    return 0;
}

static int run_hooks(const Cnn *m, const HookList *hl, int h, HookDir dir) {
    if (!hl || hl->n == 0) return 0;
    return hooks_run(hl, m->hook_names[h], dir, hook_view(m, dir == HOOK_FORWARD ? m->acts : m->dacts, h));
}

// ---- forward -----------------------------------------------------------------------------------

int cnn_forward(Cnn *m, const float *images, const int *labels, int B, const HookList *hooks,
                double *loss) {
    m->have_fwd = m->have_labels = false;
    if (loss) *loss = NAN;
    if (B < 1 || B > m->max_batch)
        return err_set("cnn forward: batch %d outside 1..%d", B, m->max_batch);
    if (labels)
        for (int b = 0; b < B; b++)
            if (labels[b] < 0 || labels[b] >= m->n_out)
                return err_set("cnn forward: label %d of image %d outside 0..%d", labels[b], b,
                               m->n_out - 1);
    if (check_patterns(m, hooks)) return -1;
    m->B = B;
    float *a = m->acts;
    // memmove: a caller may pass the model's own hook_in view back in
    memmove(a, images, sizeof(float) * (size_t)B * m->C * m->H * m->W);
    if (run_hooks(m, hooks, 0, HOOK_FORWARD)) return -1;
    const float *pd = m->params.data;
    for (int i = 0; i < m->n_layers; i++) {
        const CnnLayer *L = &m->layers[i];
        const float *in = a + hook_offset(m, i);
        float *out = a + L->act;
        switch (L->kind) {
        case CNN_CONV:
            // out[B,OC,OH,OW] = conv(in[B,C,H,W], W[OC,C,K,K]) + b
            conv2d_forward(out, in, pd + m->params.info[L->u.conv.W].offset,
                           pd + m->params.info[L->u.conv.b].offset, B, L->in_c, L->in_h, L->in_w,
                           L->out_c, L->u.conv.k, L->u.conv.k, L->u.conv.s, L->u.conv.p,
                           m->scratch);
            break;
        case CNN_RELU:
            relu_forward(out, in, (size_t)B * layer_numel_in(L));
            break;
        case CNN_MAXPOOL:
            maxpool2d_forward(out, m->argmax + L->u.pool.argmax, in, B, L->in_c, L->in_h, L->in_w,
                              L->u.pool.k, L->u.pool.s);
            break;
        case CNN_AVGPOOL:
            avgpool2d_forward(out, in, B, L->in_c, L->in_h, L->in_w, L->u.pool.k, L->u.pool.s);
            break;
        case CNN_FLATTEN:
            break;  // out is in, seen as [B, C·H·W]
        case CNN_LINEAR:
            // out[B,O] = in[B,I]·W[I,O] + b
            linear_forward(out, in, pd + m->params.info[L->u.linear.W].offset,
                           pd + m->params.info[L->u.linear.b].offset, B, (int)layer_numel_in(L),
                           L->out_c);
            break;
        }
        if (run_hooks(m, hooks, i + 1, HOOK_FORWARD)) return -1;
    }
    if (labels) {
        memcpy(m->labels, labels, sizeof(int) * (size_t)B);
        int count;
        double l = crossentropy_forward(m->probs, m->losses, a + hook_offset(m, m->n_layers),
                                        m->labels, B, m->n_out, &count);
        m->loss_count = count;
        m->have_labels = true;
        if (loss) *loss = l;
    }
    m->have_fwd = true;
    return 0;
}

// ---- backward ----------------------------------------------------------------------------------

int cnn_backward(Cnn *m, const HookList *hooks) {
    return cnn_backward_from(m, NULL, NULL, CNN_GRAD_PARAMS, hooks);
}

int cnn_backward_from(Cnn *m, const char *point, const float *dact, unsigned flags,
                      const HookList *hooks) {
    if (!m->have_fwd) return err_set("cnn backward: no completed forward pass to go back through");
    int start;
    if (!point) {
        if (dact) return err_set("cnn backward: a gradient was given but no point to start at");
        if (!m->have_labels)
            return err_set("cnn backward: the last forward had no labels, so there is no loss");
        start = m->n_layers;
    } else {
        start = !strcmp(point, "logits") ? m->n_layers : hook_find(m, point);
        if (start < 0)
            return err_set("cnn backward: '%s' is not a hook point of this CNN (hook_in, "
                           "layers.0.hook_out .. layers.%d.hook_out, logits)",
                           point, m->n_layers - 1);
        if (!dact) return err_set("cnn backward: no gradient given at '%s'", point);
    }
    if (check_patterns(m, hooks)) return -1;
    int B = m->B;
    bool want_in = (flags & CNN_GRAD_INPUT) || start == 0 ||
                   hooks_wants(hooks, "hook_in", HOOK_BACKWARD);
    bool want_params = flags & CNN_GRAD_PARAMS;
    // Overwrite semantics for activation gradients: clear every region the pass will write
    // (the ops accumulate), then seed the start point.
    for (int h = want_in ? 0 : 1; h <= start; h++) {
        CnnHookInfo hi = hook_info(m, h, B);
        memset(m->dacts + hook_offset(m, h), 0,
               sizeof(float) * (size_t)B * hi.shape[1] * hi.shape[2] * hi.shape[3]);
    }
    float *d0 = m->dacts + hook_offset(m, start);
    if (!point) {
        // d(mean loss)/d(logits) = (probs - onehot) / count
        crossentropy_backward(d0, m->probs, m->labels, B, m->n_out, 1.0f / (float)m->loss_count);
    } else {
        CnnHookInfo hi = hook_info(m, start, B);
        memcpy(d0, dact, sizeof(float) * (size_t)B * hi.shape[1] * hi.shape[2] * hi.shape[3]);
    }
    const float *pd = m->params.data;
    float *pg = m->params.grad;
    const float *a = m->acts;
    for (int h = start; h >= 1; h--) {
        if (run_hooks(m, hooks, h, HOOK_BACKWARD)) return -1;
        int i = h - 1;
        const CnnLayer *L = &m->layers[i];
        const float *in = a + hook_offset(m, i), *dout = m->dacts + L->act;
        float *din = i > 0 || want_in ? m->dacts + hook_offset(m, i) : NULL;
        switch (L->kind) {
        case CNN_CONV: {
            float *dw = want_params ? pg + m->params.info[L->u.conv.W].offset : NULL;
            float *db = want_params ? pg + m->params.info[L->u.conv.b].offset : NULL;
            // din[B,C,H,W] += convᵀ(dout); dW += dout·colᵀ; db += Σ dout
            if (din || dw)
                conv2d_backward(din, dw, db, dout, in, pd + m->params.info[L->u.conv.W].offset, B,
                                L->in_c, L->in_h, L->in_w, L->out_c, L->u.conv.k, L->u.conv.k,
                                L->u.conv.s, L->u.conv.p, m->scratch);
            break;
        }
        case CNN_RELU:
            if (din) relu_backward(din, dout, in, (size_t)B * layer_numel_in(L));
            break;
        case CNN_MAXPOOL:
            if (din)
                maxpool2d_backward(din, dout, m->argmax + L->u.pool.argmax, B, L->in_c, L->out_h,
                                   L->out_w, L->in_h, L->in_w);
            break;
        case CNN_AVGPOOL:
            if (din)
                avgpool2d_backward(din, dout, B, L->in_c, L->in_h, L->in_w, L->u.pool.k,
                                   L->u.pool.s);
            break;
        case CNN_FLATTEN:
            break;  // din is dout (the same memory)
        case CNN_LINEAR: {
            float *dw = want_params ? pg + m->params.info[L->u.linear.W].offset : NULL;
            float *db = want_params ? pg + m->params.info[L->u.linear.b].offset : NULL;
            // din[B,I] += dout·Wᵀ; dW[I,O] += inᵀ·dout; db += Σ_b dout
            linear_backward(din, dw, db, dout, in, pd + m->params.info[L->u.linear.W].offset, B,
                            (int)layer_numel_in(L), L->out_c);
            break;
        }
        }
    }
    if (want_in && run_hooks(m, hooks, 0, HOOK_BACKWARD)) return -1;
    return 0;
}

// ---- views -------------------------------------------------------------------------------------

static Tensor act_view(const Cnn *m, const char *name, bool grad) {
    Tensor none = {0};
    if (!m->have_fwd) {
        err_set("cnn: no completed forward pass (asked for '%s')", name);
        return none;
    }
    if (!strcmp(name, "logits"))
        return TENSOR2((grad ? m->dacts : m->acts) + hook_offset(m, m->n_layers), m->B, m->n_out);
    if (!grad && !strcmp(name, "probs")) {
        if (!m->have_labels) goto nolabels;
        return TENSOR2(m->probs, m->B, m->n_out);
    }
    if (!grad && !strcmp(name, "losses")) {
        if (!m->have_labels) goto nolabels;
        return TENSOR1(m->losses, m->B);
    }
    int h = hook_find(m, name);
    if (h < 0) {
        err_set("cnn: no activation%s named '%s' (hook_in, layers.{i}.hook_out, logits%s)",
                grad ? " gradient" : "", name, grad ? "" : ", probs, losses");
        return none;
    }
    return hook_view(m, grad ? m->dacts : m->acts, h);
nolabels:
    err_set("cnn: '%s' needs a forward pass with labels", name);
    return none;
}

Tensor cnn_act(const Cnn *m, const char *name) { return act_view(m, name, false); }
Tensor cnn_act_grad(const Cnn *m, const char *name) { return act_view(m, name, true); }
