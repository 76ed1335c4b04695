#include "cache.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/tokens.h"
#include "model/buf.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/json.h"
#include "model/rng.h"

_Static_assert(sizeof(int) == sizeof(int32_t), "tokens.npy is written from int as int32");

#define CACHE_TEXT_MAX ((size_t)1 << 30)
#define CACHE_DEFAULT_SEQS 256
#define CACHE_DEFAULT_MAX_BYTES ((size_t)1 << 30)

// ---- data ------------------------------------------------------------------------------------

void cache_data_free(CacheData *d) {
    if (!d) return;
    free(d->tokens);
    free(d->repeats);
    memset(d, 0, sizeof *d);
}

// Token file: a 2-D integer array [N, T] with every id in [0, V).
static int data_from_npy(CacheData *d, const char *path, const TfConfig *cfg, int n_want) {
    int64_t *raw = NULL, shape[NPY_MAX_DIMS];
    int ndim;
    if (npy_load_i64(path, &raw, &ndim, shape)) return -1;
    int rc = -1;
    if (ndim != 2 || shape[0] < 1 || shape[1] < 1) {
        err_set("%s: tokens must be a 2-D array [sequences, positions], got %d-D%s", path, ndim,
                ndim == 2 ? " with an empty axis" : "");
        goto done;
    }
    if (shape[1] > cfg->n_ctx) {
        err_set("%s: sequences of %lld tokens are longer than the model's n_ctx %d", path,
                (long long)shape[1], cfg->n_ctx);
        goto done;
    }
    if (shape[0] > INT_MAX / shape[1]) {
        err_set("%s: %lld sequences are too many", path, (long long)shape[0]);
        goto done;
    }
    d->T = (int)shape[1];
    d->n = n_want > 0 && n_want < shape[0] ? n_want : (int)shape[0];
    size_t nt = (size_t)d->n * d->T;
    d->tokens = malloc(nt * sizeof(int));
    if (!d->tokens) {
        err_set("%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < nt; i++) {
        if (raw[i] < 0 || raw[i] >= cfg->d_vocab) {
            err_set("%s: token %lld at [%zu, %zu] is outside the vocabulary [0, %d)", path,
                    (long long)raw[i], i / d->T, i % d->T, cfg->d_vocab);
            goto done;
        }
        d->tokens[i] = (int)raw[i];
    }
    rc = 0;
done:
    free(raw);
    return rc;
}

// Text: random windows of T bytes, each byte mapped through the vocabulary.
static int data_from_text(CacheData *d, const char *path, const TfConfig *cfg,
                          const CacheDataOpts *o, Rng *r) {
    char *bytes;
    size_t len;
    if (fileio_read_all(path, CACHE_TEXT_MAX, &bytes, &len)) return -1;
    TokenData td;
    int rc = -1;
    int *ids = NULL;
    if (o->text_vocab) {
        if (tokens_init_text_vocab(&td, o->text_vocab, o->text_vocab_n)) goto done;
    } else {
        unsigned char chars[256];
        int seen[256] = {0}, n = 0;
        for (size_t i = 0; i < len; i++) seen[(unsigned char)bytes[i]] = 1;
        for (int c = 0; c < 256; c++)
            if (seen[c]) chars[n++] = (unsigned char)c;
        if (n == 0 || tokens_init_text_vocab(&td, chars, n)) {
            err_set("%s: empty file", path);
            goto done;
        }
    }
    if (td.vocab > cfg->d_vocab) {
        err_set("%s: %d distinct characters, more than the model's d_vocab %d", path, td.vocab,
                cfg->d_vocab);
        goto done;
    }
    if (len < (size_t)d->T) {
        err_set("%s: %zu bytes is shorter than one sequence of %d tokens", path, len, d->T);
        goto done;
    }
    ids = malloc(len * sizeof(int) + 1);
    if (!ids) {
        err_set("%s: out of memory", path);
        goto done;
    }
    if (tokens_encode(&td, bytes, len, ids)) {
        err_prefix(path);
        goto done;
    }
    size_t span = len - (size_t)d->T + 1;
    for (int i = 0; i < d->n; i++) {
        size_t start = (size_t)(rng_u64(r) % span);
        memcpy(d->tokens + (size_t)i * d->T, ids + start, sizeof(int) * (size_t)d->T);
    }
    rc = 0;
done:
    free(ids);
    free(bytes);
    return rc;
}

int cache_data_make(CacheData *d, const char *spec, const TfConfig *cfg, const CacheDataOpts *o) {
    memset(d, 0, sizeof *d);
    d->bos = -1;
    d->repeat_start = -1;
    d->vocab = cfg->d_vocab;
    if (!spec || strlen(spec) >= sizeof d->spec)
        return err_set("--data: missing or too long a spec");
    snprintf(d->spec, sizeof d->spec, "%s", spec);
    const char *path = NULL;
    if (!strcmp(spec, "random")) d->kind = CACHE_DATA_RANDOM;
    else if (!strcmp(spec, "repeat")) d->kind = CACHE_DATA_REPEAT;
    else if (!strcmp(spec, "mixed")) d->kind = CACHE_DATA_MIXED;
    else if (!strncmp(spec, "text:", 5) && spec[5]) d->kind = CACHE_DATA_TEXT, path = spec + 5;
    else if (!strncmp(spec, "tokens:", 7) && spec[7]) d->kind = CACHE_DATA_TOKENS, path = spec + 7;
    else
        return err_set("--data '%s': expected random, repeat, mixed, text:FILE or tokens:FILE.npy",
                       spec);
    if (o->n_seqs < 0) return err_set("number of sequences %d must be >= 0", o->n_seqs);

    if (d->kind == CACHE_DATA_TOKENS) {
        if (data_from_npy(d, path, cfg, o->n_seqs)) goto fail;
        return 0;
    }
    d->n = o->n_seqs ? o->n_seqs : CACHE_DEFAULT_SEQS;
    d->T = o->seq_len ? o->seq_len : cfg->n_ctx;
    if (d->T < 2 || d->T > cfg->n_ctx)
        return err_set("sequence length %d must be in [2, n_ctx = %d]", d->T, cfg->n_ctx);
    if (d->n > INT_MAX / d->T) return err_set("%d sequences of %d tokens are too many", d->n, d->T);
    d->tokens = malloc(sizeof(int) * (size_t)d->n * d->T);
    if (!d->tokens) {
        err_set("out of memory for %d sequences", d->n);
        goto fail;
    }
    Rng r;
    rng_seed(&r, o->seed ^ 0xca11ab1edULL);
    if (d->kind == CACHE_DATA_TEXT) {
        if (data_from_text(d, path, cfg, o, &r)) goto fail;
        return 0;
    }
    TokenData td;
    int rep = d->kind != CACHE_DATA_RANDOM;
    if (tokens_init_synthetic(&td, rep ? TOK_REPEAT : TOK_RANDOM, cfg->d_vocab, rep && o->use_bos))
        goto fail;
    if (rep) {
        d->bos = td.bos;
        d->repeat_start = tokens_repeat_half(&td, d->T);
        d->repeat_len = (d->T - (d->bos >= 0)) / 2;
        if (d->repeat_len < 2) {
            err_set("repeat data needs sequences of at least 4 tokens besides BOS (got %d)", d->T);
            goto fail;
        }
        d->repeats = malloc((size_t)d->n);
        if (!d->repeats) {
            err_set("out of memory");
            goto fail;
        }
        memset(d->repeats, 1, (size_t)d->n);
    }
    tokens_batch(&td, &r, 0, d->tokens, NULL, d->n, d->T);
    if (d->kind == CACHE_DATA_MIXED) {
        // Half of the sequences (a fair coin each) get a fresh second segment, drawn as the
        // first was: uniform over the vocabulary without BOS.
        uint32_t nv = (uint32_t)(d->bos >= 0 ? cfg->d_vocab - 1 : cfg->d_vocab);
        for (int i = 0; i < d->n; i++) {
            if (rng_int(&r, 2)) continue;
            d->repeats[i] = 0;
            int *tok = d->tokens + (size_t)i * d->T;
            for (int t = 0; t < d->repeat_len; t++) tok[d->repeat_start + t] = (int)rng_int(&r, nv);
        }
    }
    return 0;
fail:
    cache_data_free(d);
    return -1;
}

int cache_ckpt_data(const StFile *f, const char *path, CacheDataOpts *o, char *spec, size_t n,
                    unsigned char *vocab_buf) {
    const char *js = st_meta(f, "train_spec");
    if (js) {
        JsonDoc doc = {0};
        const char *s;
        int64_t v;
        if (json_parse(&doc, js, strlen(js)) || json_get_string(doc.root, "data", &s)) {
            char msg[ERR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err_msg());
            json_free(&doc);
            return err_set("%s: __metadata__ train_spec: %s", path, msg);
        }
        if (spec) snprintf(spec, n, "%s", s);
        if (!json_get_int(doc.root, "use_bos", 0, 1, &v)) o->use_bos = (int)v;
        if (!json_get_int(doc.root, "seq_len", 0, INT_MAX, &v) && v > 0) o->seq_len = (int)v;
        json_free(&doc);
    }
    const char *hex = st_meta(f, "text_vocab");
    if (hex) {
        size_t len = strlen(hex);
        if (len == 0 || len % 2 || len / 2 > TOK_VOCAB_MAX)
            return err_set("%s: __metadata__ text_vocab is malformed", path);
        for (size_t i = 0; i < len / 2; i++) {
            unsigned x;
            char two[3] = {hex[2 * i], hex[2 * i + 1], 0};
            char *end;
            x = (unsigned)strtoul(two, &end, 16);
            if (*end || !two[0] || two[0] == '-' || two[0] == '+' || two[0] == ' ')
                return err_set("%s: __metadata__ text_vocab is malformed", path);
            vocab_buf[i] = (unsigned char)x;
        }
        o->text_vocab = vocab_buf;
        o->text_vocab_n = (int)(len / 2);
    }
    return 0;
}

void cache_data_targets(const CacheData *d, int *targets) {
    for (int i = 0; i < d->n; i++)
        for (int t = 0; t < d->T; t++) {
            size_t k = (size_t)i * d->T + t;
            targets[k] = t + 1 < d->T ? d->tokens[k + 1] : -1;
        }
}

int cache_label(const CacheData *d, const char *name, int *labels) {
    const int T = d->T;
    if (!strcmp(name, "repeat")) {
        // Seen-before test per sequence; a small bitmap over the vocabulary, reset per row.
        unsigned char *seen = calloc((size_t)d->vocab, 1);
        if (!seen) return err_set("out of memory");
        for (int i = 0; i < d->n; i++) {
            const int *tok = d->tokens + (size_t)i * T;
            memset(seen, 0, (size_t)d->vocab);
            for (int t = 0; t < T; t++) {
                int *lab = labels + (size_t)i * T + t;
                if (tok[t] == d->bos) {
                    *lab = -1;
                    continue;
                }
                *lab = seen[tok[t]];
                seen[tok[t]] = 1;
            }
        }
        free(seen);
    } else if (!strcmp(name, "token")) {
        memcpy(labels, d->tokens, sizeof(int) * (size_t)d->n * T);
    } else if (!strcmp(name, "next")) {
        cache_data_targets(d, labels);
    } else if (!strcmp(name, "position")) {
        for (int i = 0; i < d->n; i++)
            for (int t = 0; t < T; t++) labels[(size_t)i * T + t] = t;
    } else {
        return err_set("label '%s': expected repeat, token, next or position", name);
    }
    return 0;
}

// One position or slice item of a --pos list into the mask; -1 with err_set if malformed.
static int parse_int(const char *s, const char *end, long *v) {
    if (s == end) return -1;
    char buf[32];
    if ((size_t)(end - s) >= sizeof buf) return -1;
    memcpy(buf, s, (size_t)(end - s));
    buf[end - s] = 0;
    char *e;
    *v = strtol(buf, &e, 10);
    return *e ? -1 : 0;
}

int cache_parse_pos(const char *spec, const CacheData *d, int **pos, int *n_pos) {
    *pos = NULL;
    *n_pos = 0;
    const int T = d->T;
    unsigned char *mask = calloc((size_t)T, 1);
    if (!mask) return err_set("out of memory");
    int rc = -1;
    if (!strcmp(spec, "all")) {
        memset(mask, 1, (size_t)T);
    } else if (!strcmp(spec, "repeat") || !strcmp(spec, "first")) {
        if (d->repeat_start < 0) {
            err_set("--pos %s: only for repeat or mixed data", spec);
            goto done;
        }
        int lo = spec[0] == 'r' ? d->repeat_start : d->repeat_start - d->repeat_len;
        memset(mask + lo, 1, (size_t)d->repeat_len);
    } else {
        const char *s = spec;
        for (;;) {
            const char *e = s + strcspn(s, ",");
            const char *colon = memchr(s, ':', (size_t)(e - s));
            long a, b;
            if (!colon) {
                if (parse_int(s, e, &a)) goto bad;
                if (a < 0) a += T;
                if (a < 0 || a >= T) {
                    err_set("--pos: position %.*s is outside [0, %d)", (int)(e - s), s, T);
                    goto done;
                }
                mask[a] = 1;
            } else {
                a = 0;
                b = T;
                if (colon > s && parse_int(s, colon, &a)) goto bad;
                if (colon + 1 < e && parse_int(colon + 1, e, &b)) goto bad;
                // Python slice semantics: negatives count from the end, then clamp to [0, T].
                if (a < 0) a += T;
                if (b < 0) b += T;
                a = a < 0 ? 0 : a > T ? T : a;
                b = b < 0 ? 0 : b > T ? T : b;
                for (long t = a; t < b; t++) mask[t] = 1;
            }
            if (!*e) break;
            s = e + 1;
        }
    }
    int n = 0;
    for (int t = 0; t < T; t++) n += mask[t];
    if (n == 0) {
        err_set("--pos '%s' selects no position of sequences of length %d", spec, T);
        goto done;
    }
    *pos = malloc(sizeof(int) * (size_t)n);
    if (!*pos) {
        err_set("out of memory");
        goto done;
    }
    n = 0;
    for (int t = 0; t < T; t++)
        if (mask[t]) (*pos)[n++] = t;
    *n_pos = n;
    rc = 0;
    goto done;
bad:
    err_set("--pos '%s': expected all, repeat, first, or positions and slices like 0,3,5:9,-1",
            spec);
done:
    free(mask);
    return rc;
}

// ---- caching ---------------------------------------------------------------------------------

static int match_ids(const Transformer *m, const char *const *pat, int n_pat, int **ids, int *n) {
    const int nh = tf_hook_count(m);
    *ids = malloc(sizeof(int) * (size_t)(nh ? nh : 1));
    *n = 0;
    if (!*ids) return err_set("out of memory");
    for (int p = 0; p < n_pat; p++) {
        int hit = 0;
        for (int i = 0; i < nh; i++) hit |= hooks_match(pat[p], tf_hook_info(m, i, 1, 1).name);
        if (!hit) {
            free(*ids);
            *ids = NULL;
            return err_set("hook pattern '%s' matches no hook point of this model", pat[p]);
        }
    }
    for (int i = 0; i < nh; i++) {
        const char *name = tf_hook_info(m, i, 1, 1).name;
        for (int p = 0; p < n_pat; p++)
            if (hooks_match(pat[p], name)) {
                (*ids)[(*n)++] = i;
                break;
            }
    }
    return 0;
}

int cache_match(const Transformer *m, const char *const *patterns, int n_patterns,
                const char ***names, int *n_names) {
    int *ids, n;
    *names = NULL;
    *n_names = 0;
    if (match_ids(m, patterns, n_patterns, &ids, &n)) return -1;
    *names = malloc(sizeof(char *) * (size_t)(n ? n : 1));
    if (!*names) {
        free(ids);
        return err_set("out of memory");
    }
    for (int i = 0; i < n; i++) (*names)[i] = tf_hook_info(m, ids[i], 1, 1).name;
    *n_names = n;
    free(ids);
    return 0;
}

void cache_free(Cache *c) {
    if (!c) return;
    for (int i = 0; i < c->n_points; i++) free(c->points[i].data);
    free(c->points);
    free(c->pos);
    memset(c, 0, sizeof *c);
}

const CachePoint *cache_get(const Cache *c, const char *name) {
    for (int i = 0; i < c->n_points; i++)
        if (!strcmp(c->points[i].name, name)) return &c->points[i];
    err_set("hook point '%s' was not cached", name);
    return NULL;
}

typedef struct {
    Cache *c;
    const int *pos;
    int T;
    int b0;            // first sequence of the current batch
    NpyWriter *w;      // file mode: one writer per point; NULL in memory mode
    float *stage;      // file mode: one batch of the selected values
} RunCtx;

typedef struct {
    RunCtx *ctx;
    int i;  // point index
} PointRef;

static int is_query_major(const char *name) {
    size_t n = strlen(name);
    return (n >= 12 && !strcmp(name + n - 12, "hook_pattern")) ||
           (n >= 16 && !strcmp(name + n - 16, "hook_attn_scores"));
}

// The forward hook: copies the chosen positions of act [Bc, ..., T, ...] (position axis
// pos_axis) into the point's array (memory) or the stage and on to its .npy writer (files).
static int copy_hook(const char *name, Tensor act, void *user) {
    (void)name;
    PointRef *ref = user;
    RunCtx *x = ref->ctx;
    CachePoint *p = &x->c->points[ref->i];
    const int Bc = act.shape[0], T = x->T, P = x->c->n_pos, ax = p->pos_axis;
    size_t outer = 1, inner = 1;
    for (int k = 1; k < ax; k++) outer *= (size_t)act.shape[k];
    for (int k = ax + 1; k < act.ndim; k++) inner *= (size_t)act.shape[k];
    float *dst0 = x->w ? x->stage : p->data + (size_t)x->b0 * p->seq_floats;
    for (int b = 0; b < Bc; b++)
        for (size_t o = 0; o < outer; o++) {
            const float *src = act.data + ((size_t)b * outer + o) * (size_t)T * inner;
            float *dst = dst0 + (size_t)b * p->seq_floats + o * (size_t)P * inner;
            for (int k = 0; k < P; k++)
                memcpy(dst + (size_t)k * inner, src + (size_t)x->pos[k] * inner,
                       sizeof(float) * inner);
        }
    if (x->w) return npy_writer_write(&x->w[ref->i], x->stage, Bc);
    return 0;
}

static int write_index(const Cache *c, const CacheData *d, const char *dir) {
    Buf b = {0};
    buf_puts(&b, "{\n  \"data\": ");
    buf_put_json_str(&b, d->spec);
    buf_printf(&b, ",\n  \"n_seqs\": %d,\n  \"seq_len\": %d,\n  \"positions\": [", d->n, d->T);
    for (int k = 0; k < c->n_pos; k++) buf_printf(&b, k ? ", %d" : "%d", c->pos[k]);
    buf_puts(&b, "],\n  \"repeat_start\": ");
    if (d->repeat_start >= 0) buf_printf(&b, "%d", d->repeat_start);
    else buf_puts(&b, "null");
    buf_printf(&b, ",\n  \"bos\": ");
    if (d->bos >= 0) buf_printf(&b, "%d", d->bos);
    else buf_puts(&b, "null");
    buf_printf(&b, ",\n  \"tokens\": {\"file\": \"tokens.npy\", \"shape\": [%d, %d], "
                   "\"dtype\": \"int32\"},\n  \"hooks\": [",
               d->n, d->T);
    for (int i = 0; i < c->n_points; i++) {
        const CachePoint *p = &c->points[i];
        char file[80];
        snprintf(file, sizeof file, "%s.npy", p->name);
        buf_puts(&b, i ? ",\n    {\"name\": " : "\n    {\"name\": ");
        buf_put_json_str(&b, p->name);
        buf_puts(&b, ", \"file\": ");
        buf_put_json_str(&b, file);
        buf_puts(&b, ", \"shape\": [");
        for (int k = 0; k < p->ndim; k++)
            buf_printf(&b, k ? ", %lld" : "%lld", (long long)p->shape[k]);
        buf_puts(&b, "], \"dtype\": \"float32\"}");
    }
    buf_puts(&b, "\n  ]\n}\n");
    char path[4200];
    snprintf(path, sizeof path, "%s/index.json", dir);
    int rc = b.oom ? err_set("out of memory") : fileio_write_all(path, b.p, b.len);
    buf_free(&b);
    return rc;
}

int cache_run(Transformer *m, const CacheData *d, const CacheOpts *o, Cache *c) {
    memset(c, 0, sizeof *c);
    const int T = d->T, N = d->n;
    const int B = o->batch ? o->batch : m->max_batch;
    if (B < 1 || B > m->max_batch)
        return err_set("batch %d is outside 1..%d (the model was loaded for %d)", B, m->max_batch,
                       m->max_batch);
    if (T < 1 || T > m->cfg.n_ctx)
        return err_set("sequences of %d tokens do not fit n_ctx %d", T, m->cfg.n_ctx);
    if (o->n_hooks < 1) return err_set("no hook pattern given");
    int *ids = NULL, n_ids = 0;
    RunCtx x = {c, NULL, T, 0, NULL, NULL};
    PointRef *refs = NULL;
    HookList hl = {0};
    int n_open = 0;
    size_t max_seq = 0;

    c->n_pos = o->pos ? o->n_pos : T;
    c->pos = malloc(sizeof(int) * (size_t)(c->n_pos > 0 ? c->n_pos : 1));
    if (!c->pos) {
        err_set("out of memory");
        goto fail;
    }
    if (c->n_pos < 1) {
        err_set("no positions selected");
        goto fail;
    }
    for (int k = 0; k < c->n_pos; k++) {
        c->pos[k] = o->pos ? o->pos[k] : k;
        if (c->pos[k] < 0 || c->pos[k] >= T || (k && c->pos[k] <= c->pos[k - 1])) {
            err_set("positions must ascend within [0, %d)", T);
            goto fail;
        }
    }
    x.pos = c->pos;
    if (match_ids(m, o->hooks, o->n_hooks, &ids, &n_ids)) goto fail;
    c->points = calloc((size_t)n_ids, sizeof *c->points);
    refs = calloc((size_t)n_ids, sizeof *refs);
    if (!c->points || !refs) {
        err_set("out of memory");
        goto fail;
    }
    c->n_points = n_ids;
    size_t total = 0;
    for (int i = 0; i < n_ids; i++) {
        CachePoint *p = &c->points[i];
        TfHookInfo h = tf_hook_info(m, ids[i], 1, T);
        snprintf(p->name, sizeof p->name, "%s", h.name);
        p->pos_axis = is_query_major(h.name) ? 2 : 1;
        p->ndim = h.ndim;
        p->shape[0] = N;
        p->seq_floats = 1;
        for (int k = 1; k < h.ndim; k++) {
            p->shape[k] = k == p->pos_axis ? c->n_pos : h.shape[k];
            p->seq_floats *= (size_t)p->shape[k];
        }
        if (p->seq_floats > max_seq) max_seq = p->seq_floats;
        total += p->seq_floats * (size_t)N * sizeof(float);
        refs[i] = (PointRef){&x, i};
        if (hooks_add(&hl, h.name, HOOK_FORWARD, copy_hook, &refs[i])) goto fail;
    }
    if (!o->out_dir) {
        size_t cap = o->max_bytes ? o->max_bytes : CACHE_DEFAULT_MAX_BYTES;
        if (total > cap) {
            err_set("the cached activations would take %.1f MB, more than the %.1f MB allowed in "
                    "memory; cache them to files (mechlab cache) or use fewer sequences, "
                    "positions or hooks",
                    total / 1e6, cap / 1e6);
            goto fail;
        }
        for (int i = 0; i < n_ids; i++) {
            CachePoint *p = &c->points[i];
            p->data = malloc(p->seq_floats * (size_t)N * sizeof(float));
            if (!p->data) {
                err_set("out of memory for %s", p->name);
                goto fail;
            }
        }
    } else {
        if (fileio_mkdirs(o->out_dir)) goto fail;
        x.w = calloc((size_t)n_ids, sizeof *x.w);
        x.stage = malloc(max_seq * (size_t)B * sizeof(float));
        if (!x.w || !x.stage) {
            err_set("out of memory");
            goto fail;
        }
        for (; n_open < n_ids; n_open++) {
            const CachePoint *p = &c->points[n_open];
            char path[4200];
            snprintf(path, sizeof path, "%s/%s.npy", o->out_dir, p->name);
            if (npy_writer_begin(&x.w[n_open], path, NPY_F32, p->ndim, p->shape)) goto fail;
        }
    }
    for (int b0 = 0; b0 < N; b0 += B) {
        int Bc = N - b0 < B ? N - b0 : B;
        x.b0 = b0;
        if (tf_forward(m, d->tokens + (size_t)b0 * T, NULL, Bc, T, &hl, NULL)) goto fail;
    }
    if (o->out_dir) {
        for (int i = 0; i < n_ids; i++)
            if (npy_writer_commit(&x.w[i])) goto fail;
        char path[4200];
        snprintf(path, sizeof path, "%s/tokens.npy", o->out_dir);
        int64_t shape[2] = {N, T};
        if (npy_save_i32(path, (const int32_t *)d->tokens, 2, shape)) goto fail;
        if (write_index(c, d, o->out_dir)) goto fail;
    }
    free(ids);
    free(refs);
    free(x.w);
    free(x.stage);
    hooks_free(&hl);
    return 0;
fail:
    for (int i = 0; i < n_open; i++) npy_writer_abort(&x.w[i]);  // no-op once closed
    free(ids);
    free(refs);
    free(x.w);
    free(x.stage);
    hooks_free(&hl);
    cache_free(c);
    return -1;
}
