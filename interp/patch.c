// patch.c — activation patching, ablation, path patching and attribution patching (patch.h).
//
// Everything is a forward (and for attribution a backward) pass of the model with hooks from
// model/hooks.h: cache hooks copy a hook point's activation (or its metric gradient) for the
// chunk being run into a [N, ...] array; edit hooks overwrite (or add to) a slice of it.
#include "patch.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/tokens.h"
#include "model/err.h"
#include "model/rng.h"

#define NAME_MAX_LEN 64
#define RUN_MEAN 2  // a cache entry holding the clean run's mean over its N sequences

// One cached hook point of one run: activations or d(metric)/d(activation), all N sequences.
typedef struct {
    char name[NAME_MAX_LEN];
    int run;         // PATCH_RUN_CLEAN, PATCH_RUN_CORRUPT or RUN_MEAN
    int grad;        // 0 activation, 1 gradient of the metric
    int valid;       // filled by a completed pass
    size_t per_seq;  // floats per sequence (the point's numel for B = 1)
    float *data;     // [N, per_seq] ([per_seq] for RUN_MEAN)
} Cached;

struct Patcher {
    Transformer *m;
    int N, T, V;
    PatchMetric metric;
    int *tok[2];          // clean, corrupt [N,T]
    int *answer, *wrong;  // [N,T]; wrong NULL: compare with the mean logit
    long n_scored;
    double base[2];       // metric of the unpatched clean / corrupted run
    float *dlogits;       // [max_batch, T, V] d(metric)/d(logits) of one chunk
    int b0;               // first sequence of the chunk being run (read by the hooks)
    Cached *cache;
    int n_cache, cap_cache;
};

// ---- small helpers -----------------------------------------------------------------------------

double patch_metric_clean(const Patcher *p) { return p->base[PATCH_RUN_CLEAN]; }
double patch_metric_corrupt(const Patcher *p) { return p->base[PATCH_RUN_CORRUPT]; }

double patch_normalize(const Patcher *p, double metric) {
    return (metric - p->base[PATCH_RUN_CORRUPT]) /
           (p->base[PATCH_RUN_CLEAN] - p->base[PATCH_RUN_CORRUPT]);
}

static const char *const MODE_NAMES[] = {"denoise", "noise", "zero", "mean"};
static const char *const SITE_NAMES[] = {"resid_pre", "attn_out", "mlp_out", "head", "head_pos"};

const char *patch_mode_name(PatchMode mode) {
    return (unsigned)mode < 4 ? MODE_NAMES[mode] : "?";
}

int patch_mode_parse(const char *s, PatchMode *out) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, MODE_NAMES[i])) {
            *out = (PatchMode)i;
            return 0;
        }
    return err_set("patch mode '%s': expected denoise, noise, zero or mean", s);
}

PatchRun patch_mode_run(PatchMode mode) {
    return mode == PATCH_DENOISE ? PATCH_RUN_CORRUPT : PATCH_RUN_CLEAN;
}

PatchSource patch_mode_source(PatchMode mode) {
    switch (mode) {
    case PATCH_DENOISE: return PATCH_FROM_CLEAN;
    case PATCH_NOISE: return PATCH_FROM_CORRUPT;
    case PATCH_ZERO: return PATCH_FROM_ZERO;
    default: return PATCH_FROM_MEAN;
    }
}

const char *patch_site_name(PatchSite s) {
    return (unsigned)s < PATCH_N_SITES ? SITE_NAMES[s] : "?";
}

int patch_site_parse(const char *s, PatchSite *out) {
    for (int i = 0; i < PATCH_N_SITES; i++)
        if (!strcmp(s, SITE_NAMES[i])) {
            *out = (PatchSite)i;
            return 0;
        }
    return err_set("patch site '%s': expected resid_pre, attn_out, mlp_out, head or head_pos", s);
}

// The attention scores and pattern are [B,H,T,T]: their second axis is not the position.
static bool is_bhtt(const char *name) {
    size_t n = strlen(name);
    const char *a = "hook_attn_scores", *b = "hook_pattern";
    return (n >= strlen(a) && !strcmp(name + n - strlen(a), a)) ||
           (n >= strlen(b) && !strcmp(name + n - strlen(b), b));
}

// Shape of hook point `name` for B = 1: shape[0] = 1, then the rest. -1 if it is not one.
static int point_shape(const Patcher *p, const char *name, int shape[TENSOR_MAX_DIMS], int *ndim) {
    for (int i = 0; i < tf_hook_count(p->m); i++) {
        TfHookInfo h = tf_hook_info(p->m, i, 1, p->T);
        if (!strcmp(h.name, name)) {
            *ndim = h.ndim;
            for (int d = 0; d < TENSOR_MAX_DIMS; d++) shape[d] = d < h.ndim ? h.shape[d] : 1;
            return 0;
        }
    }
    return err_set("patch: '%s' is not a hook point of this model (mechlab hooks CKPT lists them)",
                   name);
}

static size_t point_per_seq(const int shape[TENSOR_MAX_DIMS], int ndim) {
    size_t n = 1;
    for (int d = 1; d < ndim; d++) n *= (size_t)shape[d];
    return n;
}

// ---- the metric ------------------------------------------------------------------------------

// Sum of the metric over the scored entries of sequences [b0, b0+B) from the last forward's
// logits [B,T,V]; if dl is not NULL it receives d(mean metric)/d(logits) [B,T,V] (the mean is
// over all n_scored entries of the task, so chunks add up).
static double chunk_metric(const Patcher *p, int b0, int B, float *dl) {
    const int T = p->T, V = p->V;
    const float *logits = tf_act(p->m, "logits").data;
    const double inv = 1.0 / (double)p->n_scored;
    double sum = 0;
    if (dl) memset(dl, 0, sizeof(float) * (size_t)B * T * V);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)(b0 + b) * T + t;
            int c = p->answer[i];
            if (c < 0) continue;
            const float *x = logits + ((size_t)b * T + t) * V;
            float *g = dl ? dl + ((size_t)b * T + t) * V : NULL;
            if (p->metric == PATCH_LOGPROB) {
                double mx = x[0];
                for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
                double s = 0;
                for (int v = 0; v < V; v++) s += exp((double)x[v] - mx);
                double lse = mx + log(s);
                sum += (double)x[c] - lse;
                // d/dx_v (x_c - logsumexp x) = [v == c] - softmax(x)_v
                if (g)
                    for (int v = 0; v < V; v++)
                        g[v] = (float)(((v == c) - exp((double)x[v] - lse)) * inv);
            } else {
                int w = p->wrong ? p->wrong[i] : -1;
                double ref = 0;
                if (w >= 0) {
                    ref = x[w];
                } else {
                    for (int v = 0; v < V; v++) ref += x[v];
                    ref /= V;
                }
                sum += (double)x[c] - ref;
                // d/dx_v = [v == c] - [v == w]  (or - 1/V against the mean)
                if (g)
                    for (int v = 0; v < V; v++)
                        g[v] = (float)(((v == c) - (w >= 0 ? (v == w) : 1.0 / V)) * inv);
            }
        }
    return sum;
}

// Runs the N sequences of `run` in chunks of max_batch through the hooks in hl (which read
// p->b0); stores the mean metric. With `backward`, d(metric)/d(logits) is backpropagated
// through the same hooks (backward ones run), and the parameter gradients are cleared after.
static int run_pass(Patcher *p, int run, const HookList *hl, bool backward, double *metric) {
    Transformer *m = p->m;
    const int T = p->T, mb = m->max_batch;
    double sum = 0;
    int rc = 0;
    for (int b0 = 0; b0 < p->N && !rc; b0 += mb) {
        int B = p->N - b0 < mb ? p->N - b0 : mb;
        p->b0 = b0;
        if (tf_forward(m, p->tok[run] + (size_t)b0 * T, NULL, B, T, hl, NULL)) {
            rc = -1;
            break;
        }
        sum += chunk_metric(p, b0, B, backward ? p->dlogits : NULL);
        if (backward && tf_backward_logits(m, p->dlogits, hl)) rc = -1;
    }
    if (backward) params_zero_grad(&m->params);
    if (!rc && metric) *metric = sum / (double)p->n_scored;
    return rc;
}

// ---- caches ----------------------------------------------------------------------------------

static Cached *cache_find(Patcher *p, const char *name, int run, int grad) {
    for (int i = 0; i < p->n_cache; i++) {
        Cached *c = &p->cache[i];
        if (c->run == run && c->grad == grad && !strcmp(c->name, name)) return c;
    }
    return NULL;
}

// The entry for (name, run, grad), created (invalid, memory allocated) if missing.
static Cached *cache_entry(Patcher *p, const char *name, int run, int grad) {
    Cached *c = cache_find(p, name, run, grad);
    if (c) return c;
    int shape[TENSOR_MAX_DIMS], nd;
    if (strlen(name) >= NAME_MAX_LEN) {
        err_set("patch: hook name '%s' is too long", name);
        return NULL;
    }
    if (point_shape(p, name, shape, &nd)) return NULL;
    if (p->n_cache == p->cap_cache) {
        int nc = p->cap_cache ? 2 * p->cap_cache : 16;
        Cached *q = realloc(p->cache, sizeof(Cached) * (size_t)nc);
        if (!q) {
            err_set("patch: out of memory");
            return NULL;
        }
        p->cache = q;
        p->cap_cache = nc;
    }
    c = &p->cache[p->n_cache];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->run = run;
    c->grad = grad;
    c->per_seq = point_per_seq(shape, nd);
    size_t rows = run == RUN_MEAN ? 1 : (size_t)p->N;
    c->data = malloc(sizeof(float) * rows * c->per_seq);
    if (!c->data) {
        err_set("patch: out of memory caching '%s' (%zu floats)", name, rows * c->per_seq);
        return NULL;
    }
    p->n_cache++;
    return c;
}

typedef struct {
    Patcher *p;
    Cached *c;
} CacheCtx;

// Copies the chunk's activation (or gradient) [B, per_seq] into the cache at row p->b0.
static int cache_cb(const char *name, Tensor a, void *u) {
    const CacheCtx *x = u;
    (void)name;
    memcpy(x->c->data + (size_t)x->p->b0 * x->c->per_seq, a.data,
           sizeof(float) * (size_t)a.shape[0] * x->c->per_seq);
    return 0;
}

// Makes sure the activations (and, with grad, the metric gradients) of the named points are
// cached for `run`, with at most one pass over the data for all that is missing.
static int cache_ensure(Patcher *p, int run, const char *const *names, int n, bool grad) {
    CacheCtx *ctx = malloc(sizeof(CacheCtx) * (size_t)(2 * n + 1));
    HookList hl = {0};
    bool need_bwd = false;
    int rc = -1, k = 0;
    if (!ctx) return err_set("patch: out of memory");
    for (int i = 0; i < n; i++) {
        for (int g = 0; g <= (grad ? 1 : 0); g++) {
            // Pointers into p->cache move when it grows: look every entry up again below.
            Cached *c = cache_entry(p, names[i], run, g);
            if (!c) goto done;
            if (c->valid) continue;
            ctx[k] = (CacheCtx){p, NULL};
            if (hooks_add(&hl, names[i], g ? HOOK_BACKWARD : HOOK_FORWARD, cache_cb, &ctx[k]))
                goto done;
            k++;
            need_bwd |= g;
        }
    }
    if (k == 0) {
        rc = 0;
        goto done;
    }
    for (int i = 0; i < hl.n; i++)
        ctx[i].c = cache_find(p, hl.items[i].pattern, run, hl.items[i].dir == HOOK_BACKWARD);
    if (run_pass(p, run, &hl, need_bwd, NULL)) goto done;
    for (int i = 0; i < hl.n; i++) ctx[i].c->valid = 1;
    rc = 0;
done:
    hooks_free(&hl);
    free(ctx);
    return rc;
}

// The clean run's mean over its N sequences (per position and feature) of a hook point.
static Cached *cache_mean(Patcher *p, const char *name) {
    Cached *mean = cache_find(p, name, RUN_MEAN, 0);
    if (mean && mean->valid) return mean;
    if (!cache_entry(p, name, RUN_MEAN, 0) || cache_ensure(p, PATCH_RUN_CLEAN, &name, 1, false))
        return NULL;
    // Both looked up after the last call that can grow (move) the cache table.
    mean = cache_find(p, name, RUN_MEAN, 0);
    const Cached *src = cache_find(p, name, PATCH_RUN_CLEAN, 0);
    for (size_t j = 0; j < mean->per_seq; j++) {
        double s = 0;
        for (int b = 0; b < p->N; b++) s += src->data[(size_t)b * src->per_seq + j];
        mean->data[j] = (float)(s / p->N);
    }
    mean->valid = 1;
    return mean;
}

// ---- edits -----------------------------------------------------------------------------------

// An edit resolved against the model: its slice and where its source values live.
typedef struct {
    Patcher *p;
    const char *hook;
    int pos, head, add;
    int T, Hs;        // the point as [B, T, Hs, X] (Hs = 1 unless it has a head axis)
    size_t X, per_seq;
    const float *src;  // NULL: zeros
    size_t stride;     // floats between sequences of src (0: one row for every sequence)
} EditCtx;

static int resolve_edit(Patcher *p, const PatchEdit *e, EditCtx *x) {
    int shape[TENSOR_MAX_DIMS], nd;
    if (!e->hook) return err_set("patch: an edit has no hook point");
    if (point_shape(p, e->hook, shape, &nd)) return -1;
    bool bhtt = is_bhtt(e->hook);
    if (bhtt && (e->pos >= 0 || e->head >= 0))
        return err_set("patch: '%s' is laid out [batch, head, query, key]; it can only be "
                       "patched whole (pos = head = -1)", e->hook);
    if (e->pos < -1 || e->pos >= p->T)
        return err_set("patch: position %d is outside 0..%d", e->pos, p->T - 1);
    if (e->head >= 0 && (nd != 4 || e->head >= shape[2]))
        return err_set("patch: '%s' has %s", e->hook,
                       nd == 4 ? "fewer heads than that" : "no head axis");
    if (e->head < -1) return err_set("patch: head %d is negative", e->head);
    *x = (EditCtx){.p = p, .hook = e->hook, .pos = e->pos, .head = e->head, .add = e->add};
    x->per_seq = point_per_seq(shape, nd);
    x->T = bhtt ? 1 : shape[1];
    x->Hs = (!bhtt && nd == 4) ? shape[2] : 1;
    x->X = x->per_seq / ((size_t)x->T * x->Hs);
    switch (e->src) {
    case PATCH_FROM_CLEAN:
    case PATCH_FROM_CORRUPT: {
        int run = e->src == PATCH_FROM_CLEAN ? PATCH_RUN_CLEAN : PATCH_RUN_CORRUPT;
        if (cache_ensure(p, run, &e->hook, 1, false)) return -1;
        x->src = cache_find(p, e->hook, run, 0)->data;
        x->stride = x->per_seq;
        break;
    }
    case PATCH_FROM_ZERO: x->src = NULL; break;
    case PATCH_FROM_MEAN: {
        Cached *c = cache_mean(p, e->hook);
        if (!c) return -1;
        x->src = c->data;
        x->stride = 0;
        break;
    }
    case PATCH_FROM_VALUES:
        if (!e->values) return err_set("patch: an edit of '%s' from values has none", e->hook);
        x->src = e->values;
        x->stride = x->per_seq;
        break;
    default: return err_set("patch: unknown source %d", (int)e->src);
    }
    return 0;
}

// Writes (or adds) the source into the slice of the chunk's activation [B, T, Hs, X].
static int edit_cb(const char *name, Tensor a, void *u) {
    const EditCtx *x = u;
    (void)name;
    const int B = a.shape[0];
    const int t0 = x->pos < 0 ? 0 : x->pos, t1 = x->pos < 0 ? x->T : x->pos + 1;
    const int h0 = x->head < 0 ? 0 : x->head, h1 = x->head < 0 ? x->Hs : x->head + 1;
    for (int b = 0; b < B; b++) {
        float *dst = a.data + (size_t)b * x->per_seq;
        const float *s = x->src ? x->src + (size_t)(x->p->b0 + b) * x->stride : NULL;
        for (int t = t0; t < t1; t++)
            for (int h = h0; h < h1; h++) {
                size_t off = ((size_t)t * x->Hs + h) * x->X;
                if (x->add) {
                    if (s)
                        for (size_t j = 0; j < x->X; j++) dst[off + j] += s[off + j];
                } else if (s) {
                    memcpy(dst + off, s + off, sizeof(float) * x->X);
                } else {
                    memset(dst + off, 0, sizeof(float) * x->X);
                }
            }
    }
    return 0;
}

// Resolves every edit (caching sources, which may run passes) and then adds its hook.
static int add_edits(Patcher *p, HookList *hl, const PatchEdit *edits, int n, EditCtx *ctx) {
    for (int i = 0; i < n; i++)
        if (resolve_edit(p, &edits[i], &ctx[i])) return -1;
    for (int i = 0; i < n; i++)
        if (hooks_add(hl, edits[i].hook, HOOK_FORWARD, edit_cb, &ctx[i])) return -1;
    return 0;
}

int patch_run(Patcher *p, PatchRun run, const PatchEdit *edits, int n, double *norm,
              double *raw) {
    if ((unsigned)run > 1) return err_set("patch_run: run %d is not clean (0) or corrupt (1)", run);
    if (n < 0 || (n > 0 && !edits)) return err_set("patch_run: bad edit list");
    EditCtx *ctx = malloc(sizeof(EditCtx) * (size_t)(n + 1));
    HookList hl = {0};
    double m = NAN;
    int rc = -1;
    if (!ctx) return err_set("patch: out of memory");
    if (add_edits(p, &hl, edits, n, ctx) == 0 && run_pass(p, run, &hl, false, &m) == 0) {
        if (norm) *norm = patch_normalize(p, m);
        if (raw) *raw = m;
        rc = 0;
    }
    hooks_free(&hl);
    free(ctx);
    return rc;
}

// ---- attribution -----------------------------------------------------------------------------

int patch_attr(Patcher *p, PatchRun run, const PatchEdit *edits, int n, double *norm) {
    if ((unsigned)run > 1) return err_set("patch_attr: run %d is not clean (0) or corrupt (1)", run);
    if (n < 0 || (n > 0 && !edits)) return err_set("patch_attr: bad edit list");
    double est = 0;
    for (int i = 0; i < n; i++) {
        EditCtx x;
        if (resolve_edit(p, &edits[i], &x)) return -1;
        if (cache_ensure(p, run, &edits[i].hook, 1, true)) return -1;
        // Entries are looked up after the last cache_ensure, which may move the table (the
        // data arrays themselves, like x.src, never move).
        const Cached *base = cache_find(p, edits[i].hook, run, 0);
        const Cached *grad = cache_find(p, edits[i].hook, run, 1);
        const int t0 = x.pos < 0 ? 0 : x.pos, t1 = x.pos < 0 ? x.T : x.pos + 1;
        const int h0 = x.head < 0 ? 0 : x.head, h1 = x.head < 0 ? x.Hs : x.head + 1;
        for (int b = 0; b < p->N; b++) {
            const float *a = base->data + (size_t)b * x.per_seq;
            const float *g = grad->data + (size_t)b * x.per_seq;
            const float *s = x.src ? x.src + (size_t)b * x.stride : NULL;
            for (int t = t0; t < t1; t++)
                for (int h = h0; h < h1; h++) {
                    size_t off = ((size_t)t * x.Hs + h) * x.X;
                    for (size_t j = 0; j < x.X; j++) {
                        // the change the edit makes to this element, times ∂m/∂element
                        double sv = s ? s[off + j] : 0.0;
                        double d = x.add ? sv : sv - a[off + j];
                        est += d * g[off + j];
                    }
                }
        }
    }
    *norm = patch_normalize(p, p->base[run]) +
            est / (p->base[PATCH_RUN_CLEAN] - p->base[PATCH_RUN_CORRUPT]);
    return 0;
}

// ---- sweeps ----------------------------------------------------------------------------------

static void grid_dims(const Patcher *p, PatchSite site, int *rows, int *cols) {
    const TfConfig *c = &p->m->cfg;
    *rows = site == PATCH_SITE_HEAD_POS ? c->n_layers * c->n_heads : c->n_layers;
    *cols = site == PATCH_SITE_HEAD ? c->n_heads : p->T;
}

int patch_grid_edit(const Patcher *p, PatchSite site, PatchMode mode, int row, int col,
                    char name[64], PatchEdit *e) {
    const TfConfig *c = &p->m->cfg;
    int rows, cols;
    if ((unsigned)site >= PATCH_N_SITES) return err_set("patch: unknown site %d", (int)site);
    if ((unsigned)mode > PATCH_MEAN) return err_set("patch: unknown mode %d", (int)mode);
    if (site == PATCH_SITE_MLP_OUT && c->attn_only)
        return err_set("patch: site mlp_out: the model is attention-only (it has no MLPs)");
    grid_dims(p, site, &rows, &cols);
    if (row < 0 || row >= rows || col < 0 || col >= cols)
        return err_set("patch: cell (%d, %d) is outside the %s grid [%d, %d]", row, col,
                       patch_site_name(site), rows, cols);
    int layer = site == PATCH_SITE_HEAD_POS ? row / c->n_heads : row;
    *e = (PatchEdit){.hook = name, .pos = -1, .head = -1, .src = patch_mode_source(mode)};
    switch (site) {
    case PATCH_SITE_RESID_PRE: snprintf(name, 64, "blocks.%d.hook_resid_pre", layer); break;
    case PATCH_SITE_ATTN_OUT: snprintf(name, 64, "blocks.%d.hook_attn_out", layer); break;
    case PATCH_SITE_MLP_OUT: snprintf(name, 64, "blocks.%d.hook_mlp_out", layer); break;
    default: snprintf(name, 64, "blocks.%d.attn.hook_z", layer); break;
    }
    if (site == PATCH_SITE_HEAD) e->head = col;
    else e->pos = col;
    if (site == PATCH_SITE_HEAD_POS) e->head = row % c->n_heads;
    return 0;
}

void patch_grid_free(PatchGrid *g) {
    if (!g) return;
    free(g->exact);
    free(g->attr);
    g->exact = g->attr = NULL;
}

int patch_grid(Patcher *p, PatchSite site, PatchMode mode, int exact, int attr, PatchGrid *g) {
    memset(g, 0, sizeof *g);
    char name[64];
    PatchEdit e;
    // Validates site and mode (and mlp_out on an attention-only model) before any work.
    if (patch_grid_edit(p, site, mode, 0, 0, name, &e)) return -1;
    g->site = site;
    g->mode = mode;
    grid_dims(p, site, &g->rows, &g->cols);
    size_t n = (size_t)g->rows * g->cols;
    if ((exact && !(g->exact = malloc(sizeof(float) * n))) ||
        (attr && !(g->attr = malloc(sizeof(float) * n)))) {
        patch_grid_free(g);
        return err_set("patch: out of memory");
    }
    const PatchRun run = patch_mode_run(mode);
    const PatchSource src = patch_mode_source(mode);
    // Cache every layer's point for the base run (and the source run) in one pass each.
    const int L = p->m->cfg.n_layers;
    char (*names)[64] = malloc(sizeof *names * (size_t)L);
    const char **np = malloc(sizeof *np * (size_t)L);
    if (!names || !np) {
        err_set("patch: out of memory");
        goto fail;
    }
    for (int l = 0; l < L; l++) {
        int row = site == PATCH_SITE_HEAD_POS ? l * p->m->cfg.n_heads : l;
        if (patch_grid_edit(p, site, mode, row, 0, names[l], &e)) goto fail;
        np[l] = names[l];
    }
    if (cache_ensure(p, run, np, L, attr != 0)) goto fail;
    if ((src == PATCH_FROM_CLEAN || src == PATCH_FROM_MEAN) &&
        cache_ensure(p, PATCH_RUN_CLEAN, np, L, false))
        goto fail;
    if (src == PATCH_FROM_CORRUPT && cache_ensure(p, PATCH_RUN_CORRUPT, np, L, false)) goto fail;
    for (int r = 0; r < g->rows; r++)
        for (int c = 0; c < g->cols; c++) {
            double v;
            if (patch_grid_edit(p, site, mode, r, c, name, &e)) goto fail;
            if (exact) {
                if (patch_run(p, run, &e, 1, &v, NULL)) goto fail;
                g->exact[(size_t)r * g->cols + c] = (float)v;
            }
            if (attr) {
                if (patch_attr(p, run, &e, 1, &v)) goto fail;
                g->attr[(size_t)r * g->cols + c] = (float)v;
            }
        }
    free(names);
    free(np);
    return 0;
fail:
    free(names);
    free(np);
    patch_grid_free(g);
    return -1;
}

// ---- path patching ---------------------------------------------------------------------------

int patch_path(Patcher *p, PatchMode mode, int sl, int sh, int rl, int rh, PatchChannel ch,
               double *norm) {
    const TfConfig *c = &p->m->cfg;
    if (mode != PATCH_DENOISE && mode != PATCH_NOISE)
        return err_set("patch_path: mode must be denoise or noise");
    if (sl < 0 || rl >= c->n_layers || sl >= rl)
        return err_set("patch_path: sender layer %d must come before receiver layer %d "
                       "(layers 0..%d)", sl, rl, c->n_layers - 1);
    if (sh < 0 || sh >= c->n_heads || rh < 0 || rh >= c->n_heads)
        return err_set("patch_path: heads must be in 0..%d", c->n_heads - 1);
    if ((unsigned)ch > PATCH_V) return err_set("patch_path: channel must be q, k or v");
    const PatchRun run = patch_mode_run(mode);
    const int src_run = 1 - run;
    const int N = p->N, T = p->T, D = c->d_model, H = c->n_heads, dh = c->d_head;
    char sname[64], rname[64], qname[64];
    snprintf(sname, sizeof sname, "blocks.%d.attn.hook_result", sl);
    snprintf(rname, sizeof rname, "blocks.%d.hook_resid_pre", rl);
    snprintf(qname, sizeof qname, "blocks.%d.attn.hook_%c", rl, "qkv"[ch]);
    const char *sn = sname;
    if (cache_ensure(p, PATCH_RUN_CLEAN, &sn, 1, false) ||
        cache_ensure(p, PATCH_RUN_CORRUPT, &sn, 1, false))
        return -1;
    const Cached *rs = cache_find(p, sname, src_run, 0), *rb = cache_find(p, sname, run, 0);
    // delta[N,T,D]: the sender's output [N,T,H,D] at head sh, source minus base
    float *delta = malloc(sizeof(float) * (size_t)N * T * D);
    float *q = malloc(sizeof(float) * (size_t)N * T * H * dh);
    EditCtx ectx;
    HookList hl = {0};
    int rc = -1;
    if (!delta || !q) {
        err_set("patch: out of memory");
        goto done;
    }
    for (size_t nt = 0; nt < (size_t)N * T; nt++)
        for (int d = 0; d < D; d++) {
            size_t i = (nt * H + sh) * D + d;
            delta[nt * D + d] = rs->data[i] - rb->data[i];
        }
    // run A: the base input with delta added at the receiver's layer input; record its q/k/v
    PatchEdit add = {.hook = rname, .pos = -1, .head = -1, .src = PATCH_FROM_VALUES,
                     .values = delta, .add = 1};
    Cached qc = {.per_seq = (size_t)T * H * dh, .data = q};
    CacheCtx cctx = {p, &qc};
    if (resolve_edit(p, &add, &ectx) || hooks_add(&hl, rname, HOOK_FORWARD, edit_cb, &ectx) ||
        hooks_add(&hl, qname, HOOK_FORWARD, cache_cb, &cctx) || run_pass(p, run, &hl, false, NULL))
        goto done;
    // run B: the base input with only the receiver head's q/k/v from run A
    PatchEdit put = {.hook = qname, .pos = -1, .head = rh, .src = PATCH_FROM_VALUES, .values = q};
    rc = patch_run(p, run, &put, 1, norm, NULL);
done:
    hooks_free(&hl);
    free(delta);
    free(q);
    return rc;
}

// ---- setup -----------------------------------------------------------------------------------

Patcher *patch_create(Transformer *m, const PatchTask *t) {
    const TfConfig *c = &m->cfg;
    if (!t || !t->clean || !t->corrupt || !t->answer) {
        err_set("patch: the task needs clean and corrupted tokens and answers");
        return NULL;
    }
    if (t->N < 1 || t->T < 1 || t->T > c->n_ctx) {
        err_set("patch: %d pairs of %d tokens: need at least one pair and 1..%d (n_ctx) tokens",
                t->N, t->T, c->n_ctx);
        return NULL;
    }
    if (t->metric != PATCH_LOGPROB && t->metric != PATCH_LOGIT_DIFF) {
        err_set("patch: unknown metric %d", (int)t->metric);
        return NULL;
    }
    const size_t NT = (size_t)t->N * t->T;
    long scored = 0;
    for (size_t i = 0; i < NT; i++) {
        int a = t->answer[i], w = t->wrong && t->metric == PATCH_LOGIT_DIFF ? t->wrong[i] : -1;
        if (t->clean[i] < 0 || t->clean[i] >= c->d_vocab || t->corrupt[i] < 0 ||
            t->corrupt[i] >= c->d_vocab || a >= c->d_vocab || w >= c->d_vocab) {
            err_set("patch: a token at [%zu, %zu] is outside the vocabulary [0, %d)", i / t->T,
                    i % t->T, c->d_vocab);
            return NULL;
        }
        if (a >= 0 && a == w) {
            err_set("patch: at [%zu, %zu] the wrong token is the answer (%d): the logit "
                    "difference would be 0", i / t->T, i % t->T, a);
            return NULL;
        }
        scored += a >= 0;
    }
    if (!scored) {
        err_set("patch: no position is scored (every answer is -1)");
        return NULL;
    }
    Patcher *p = calloc(1, sizeof *p);
    if (!p) {
        err_set("patch: out of memory");
        return NULL;
    }
    p->m = m;
    p->N = t->N;
    p->T = t->T;
    p->V = c->d_vocab;
    p->metric = t->metric;
    p->n_scored = scored;
    p->tok[0] = malloc(sizeof(int) * NT);
    p->tok[1] = malloc(sizeof(int) * NT);
    p->answer = malloc(sizeof(int) * NT);
    if (t->wrong && t->metric == PATCH_LOGIT_DIFF) p->wrong = malloc(sizeof(int) * NT);
    p->dlogits = malloc(sizeof(float) * (size_t)m->max_batch * t->T * c->d_vocab);
    if (!p->tok[0] || !p->tok[1] || !p->answer || !p->dlogits ||
        (t->wrong && t->metric == PATCH_LOGIT_DIFF && !p->wrong)) {
        err_set("patch: out of memory");
        goto fail;
    }
    memcpy(p->tok[0], t->clean, sizeof(int) * NT);
    memcpy(p->tok[1], t->corrupt, sizeof(int) * NT);
    memcpy(p->answer, t->answer, sizeof(int) * NT);
    if (p->wrong) memcpy(p->wrong, t->wrong, sizeof(int) * NT);
    if (run_pass(p, PATCH_RUN_CLEAN, NULL, false, &p->base[0]) ||
        run_pass(p, PATCH_RUN_CORRUPT, NULL, false, &p->base[1]))
        goto fail;
    if (!(fabs(p->base[0] - p->base[1]) > 1e-6 * (fabs(p->base[0]) + fabs(p->base[1])))) {
        err_set("patch: the clean and corrupted runs score the same (metric %.6g and %.6g): "
                "there is nothing to normalise by", p->base[0], p->base[1]);
        goto fail;
    }
    return p;
fail:
    patch_free(p);
    return NULL;
}

void patch_free(Patcher *p) {
    if (!p) return;
    for (int i = 0; i < p->n_cache; i++) free(p->cache[i].data);
    free(p->cache);
    free(p->tok[0]);
    free(p->tok[1]);
    free(p->answer);
    free(p->wrong);
    free(p->dlogits);
    free(p);
}

// ---- inputs and helpers ----------------------------------------------------------------------

int patch_induction_pairs(int vocab, int use_bos, int T, int N, uint64_t seed, int *clean,
                          int *corrupt, int *answer) {
    TokenData d;
    if (tokens_init_synthetic(&d, TOK_REPEAT, vocab, use_bos)) return -1;
    const int off = d.bos >= 0 ? 1 : 0, L = (T - off) / 2, h = tokens_repeat_half(&d, T);
    const int nv = vocab - off;  // tokens drawn: 0..nv-1 (BOS is vocab - 1)
    if (L < 2)
        return err_set("induction pairs: %d tokens%s make a repeated segment of %d; need >= 2",
                       T, off ? " with BOS" : "", L);
    if (nv < 2) return err_set("induction pairs: vocab %d leaves no token to resample", vocab);
    if (N < 1) return err_set("induction pairs: need at least one pair");
    Rng rng;
    rng_seed(&rng, seed);
    tokens_batch(&d, &rng, 0, clean, NULL, N, T);
    memcpy(corrupt, clean, sizeof(int) * (size_t)N * T);
    for (int n = 0; n < N; n++) {
        int *cl = clean + (size_t)n * T, *co = corrupt + (size_t)n * T;
        for (int t = off; t < off + L; t++) {
            // uniform over the nv - 1 tokens other than the clean one
            int r = (int)rng_int(&rng, (uint32_t)(nv - 1));
            co[t] = r >= cl[t] ? r + 1 : r;
        }
        for (int t = 0; t < T; t++)
            answer[(size_t)n * T + t] = (t >= h && t <= off + 2 * L - 2) ? cl[t + 1] : -1;
    }
    tokens_free(&d);
    return 0;
}

double patch_pearson(const float *a, const float *b, int n) {
    double sa = 0, sb = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(a[i]) && !isnan(b[i])) {
            sa += a[i];
            sb += b[i];
            k++;
        }
    if (k < 2) return NAN;
    double ma = sa / k, mb = sb / k, saa = 0, sbb = 0, sab = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(a[i]) && !isnan(b[i])) {
            double x = a[i] - ma, y = b[i] - mb;
            saa += x * x;
            sbb += y * y;
            sab += x * y;
        }
    if (saa <= 0 || sbb <= 0) return NAN;
    return sab / sqrt(saa * sbb);
}
