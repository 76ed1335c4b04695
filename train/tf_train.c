#include "tf_train.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"
#include "model/json.h"
#include "train/tf_checkpoint.h"


// ---- the TrainModel callbacks ---------------------------------------------------------------

static int step_fn(void *ctx, double *loss) {
    TfTrainer *t = ctx;
    int B = t->spec.batch;
    tokens_batch(&t->data, &t->rng, 0, t->tok, t->tg, B, t->T);
    if (tf_forward(t->m, t->tok, t->tg, B, t->T, NULL, loss)) return -1;
    return tf_backward(t->m, NULL);
}

int tftrain_losses(Transformer *m, const int *tok, const int *tg, const TokRepeat *layout, int n,
                   int T, const HookList *hooks, double *val, double *first, double *repeat) {
    double sum = 0, s1 = 0, s2 = 0;
    long cnt = 0, n1 = 0, n2 = 0;
    for (int b0 = 0; b0 < n; b0 += m->max_batch) {
        int B = n - b0 < m->max_batch ? n - b0 : m->max_batch;
        const int *tk = tok + (size_t)b0 * T, *tt = tg + (size_t)b0 * T;
        if (tf_forward(m, tk, tt, B, T, hooks, NULL)) return -1;
        Tensor losses = tf_act(m, "losses");
        for (int b = 0; b < B; b++) {
            const TokRepeat *lay = layout ? &layout[b0 + b] : NULL;
            for (int p = 0; p < T; p++) {
                if (tt[b * T + p] < 0) continue;
                double l = losses.data[b * T + p];
                sum += l;
                cnt++;
                if (!lay) continue;
                // The target at position p is token p + 1.
                int q = p + 1, a = lay->start, L = lay->len;
                if (q >= a + 1 && q < a + L) s1 += l, n1++;
                if (q >= a + L + 1 && q < lay->end) s2 += l, n2++;
            }
        }
    }
    *val = cnt ? sum / (double)cnt : NAN;
    if (first) *first = n1 ? s1 / (double)n1 : NAN;
    if (repeat) *repeat = n2 ? s2 / (double)n2 : NAN;
    return 0;
}

int tftrain_eval_losses(TfTrainer *t, const HookList *hooks, double *val, double *first,
                        double *repeat) {
    return tftrain_losses(t->m, t->vtok, t->vtg, t->data.kind == TOK_REPEAT ? t->vlay : NULL,
                          t->spec.batch * t->spec.eval_batches, t->T, hooks, val, first, repeat);
}

static int eval_fn(void *ctx, long step, double *values) {
    TfTrainer *t = ctx;
    double v, a, b;
    if (tftrain_eval_losses(t, NULL, &v, &a, &b)) return -1;
    values[0] = v;
    if (t->n_base_eval == 3) {
        values[1] = a;
        values[2] = b;
    }
    if (t->extra_eval) return t->extra_eval(t->extra_user, t, step, values + t->n_base_eval);
    return 0;
}

static void spec_to_json(const TfTrainSpec *s, Buf *b) {
    buf_puts(b, "{\"data\": ");
    buf_put_json_str(b, s->data);
    buf_printf(b, ", \"use_bos\": %d, \"repeat_min\": %d, \"batch\": %d, \"seq_len\": %d, \"seed\": %" PRIu64
                  ", \"eval_batches\": %d",
               s->use_bos, s->repeat_min, s->batch, s->seq_len, s->seed, s->eval_batches);
    train_config_to_json(&s->train, b);
    buf_puts(b, "}");
}

static int spec_from_json(const char *text, const char *where, TfTrainSpec *s) {
    JsonDoc doc = {0};
    TrainConfig *c = &s->train;
    const JsonValue *o;
    const char *str;
    int64_t i;
    if (json_parse(&doc, text, strlen(text))) goto fail;
    o = doc.root;
    if (json_get_string(o, "data", &str)) goto fail;
    snprintf(s->data, sizeof s->data, "%s", str);
#define GETI(key, field, lo, hi)                                 \
    if (json_get_int(o, key, lo, hi, &i)) goto fail;             \
    field = i;
    GETI("use_bos", s->use_bos, 0, 1);
    // Absent in checkpoints written before variable-length repeats: fixed length.
    if (json_get(o, "repeat_min")) {
        GETI("repeat_min", s->repeat_min, 0, 1 << 20);
    }
    GETI("batch", s->batch, 1, 1 << 20);
    GETI("seq_len", s->seq_len, 0, 1 << 20);
    GETI("eval_batches", s->eval_batches, 1, 1 << 20);
#undef GETI
    {
        // The seed is a full uint64: read it as text.
        const JsonValue *sv = json_get(o, "seed");
        if (!sv || !json_is(sv, JSON_NUMBER) || sv->u.num.d < 0) {
            err_set("missing or bad key 'seed'");
            goto fail;
        }
        s->seed = sv->is_int ? (uint64_t)sv->u.num.i : (uint64_t)sv->u.num.d;
    }
    if (train_config_from_json(o, c)) goto fail;
    json_free(&doc);
    return 0;
fail:
    json_free(&doc);
    return err_prefix(where);
}

static int meta_fn(void *ctx, Meta *meta) {
    TfTrainer *t = ctx;
    if (tf_ckpt_meta(&t->m->cfg, meta)) return -1;
    Buf b = {0};
    spec_to_json(&t->spec, &b);
    int rc = b.oom ? err_set("out of memory") : meta_set(meta, "train_spec", "%s", b.p);
    buf_free(&b);
    if (rc) return -1;
    const uint64_t *s = t->rng.s;
    if (meta_set(meta, "data_rng", "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, s[0],
                 s[1], s[2], s[3]))
        return -1;
    if (t->data.kind == TOK_TEXT) {
        char hex[2 * TOK_VOCAB_MAX + 1];
        for (int i = 0; i < t->data.vocab; i++) sprintf(hex + 2 * i, "%02x", t->data.chars[i]);
        hex[2 * t->data.vocab] = '\0';
        if (meta_set(meta, "text_vocab", "%s", hex)) return -1;
    }
    return 0;
}

// ---- create / resume -------------------------------------------------------------------------

static int *alloc_ints(size_t n) { return malloc(n * sizeof(int) + 1); }

// Everything but the model and optimiser state: data, buffers, held-out set, callbacks.
static int setup(TfTrainer *t) {
    TfTrainSpec *s = &t->spec;
    TokKind kind;
    const char *path;
    if (tokens_parse_spec(s->data, &kind, &path)) return -1;
    int T = s->seq_len ? s->seq_len : s->model.n_ctx;
    if (T < 2 || T > s->model.n_ctx)
        return err_set("sequence length %d must be in [2, n_ctx = %d]", T, s->model.n_ctx);
    if (kind == TOK_TEXT) {
        if (tokens_init_text(&t->data, path, T)) return -1;
    } else if (tokens_init_synthetic(&t->data, kind, s->model.d_vocab, s->use_bos)) {
        return -1;
    }
    if (s->repeat_min < 0) return err_set("repeat_min %d must be >= 0", s->repeat_min);
    t->data.rep_min = kind == TOK_REPEAT ? s->repeat_min : 0;
    if (kind == TOK_REPEAT && T - (t->data.bos >= 0) < 4)
        return err_set("repeat data needs sequences of at least 4 tokens besides BOS");
    if (s->batch < 1) return err_set("batch size %d must be >= 1", s->batch);
    if (s->eval_batches < 1) s->eval_batches = 1;
    t->T = T;
    size_t bt = (size_t)s->batch * T, vbt = bt * (size_t)s->eval_batches;
    t->tok = alloc_ints(bt);
    t->tg = alloc_ints(bt);
    t->vtok = alloc_ints(vbt);
    t->vtg = alloc_ints(vbt);
    t->vlay = malloc(sizeof(TokRepeat) * (size_t)s->batch * s->eval_batches);
    if (!t->tok || !t->tg || !t->vtok || !t->vtg || !t->vlay) return err_set("out of memory");
    Rng vr;
    rng_seed(&vr, s->seed ^ 0x5eedc0ffee123457ULL);
    for (int e = 0; e < s->eval_batches; e++)
        tokens_batch_layout(&t->data, &vr, 1, t->vtok + e * bt, t->vtg + e * bt, s->batch, T,
                            t->vlay + (size_t)e * s->batch);
    t->n_base_eval = kind == TOK_REPEAT ? 3 : 1;
    t->tm = (TrainModel){.ctx = t, .train_step = step_fn, .eval = eval_fn, .meta = meta_fn,
                         .n_eval = t->n_base_eval};
    t->tm.eval_names[0] = "val_loss";
    t->tm.eval_names[1] = "loss_first_half";
    t->tm.eval_names[2] = "loss_repeat_half";
    return 0;
}

TfTrainer *tftrain_create(const TfTrainSpec *spec) {
    TfTrainer *t = calloc(1, sizeof *t);
    if (!t) {
        err_set("out of memory");
        return NULL;
    }
    t->spec = *spec;
    if (setup(t)) goto fail;
    if (t->data.kind == TOK_TEXT) t->spec.model.d_vocab = t->data.vocab;
    t->m = tf_create(&t->spec.model, t->spec.batch);
    if (!t->m) goto fail;
    t->tm.params = &t->m->params;
    tf_init_weights(t->m, t->spec.seed);
    rng_seed(&t->rng, t->spec.seed ^ 0xda7a5eedULL);
    t->opt = optim_create(&t->spec.train.optim, t->m->params.numel);
    if (!t->opt || sched_check(&t->spec.train.sched)) goto fail;
    return t;
fail:
    tftrain_free(t);
    return NULL;
}

TfTrainer *tftrain_resume(const char *dir, long steps, int progress, int quiet) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    TfTrainer *t = calloc(1, sizeof *t);
    StFile f = {0};
    if (!t) {
        err_set("out of memory");
        return NULL;
    }
    Transformer *m = tf_ckpt_load(path, 1, &f);  // to read the config; rebuilt below
    if (!m) goto fail;
    t->spec.model = m->cfg;
    tf_free(m);
    const char *js = ckpt_meta_str(&f, path, "train_spec");
    if (!js) goto fail;
    char where[4200];
    snprintf(where, sizeof where, "%s: train_spec", path);
    if (spec_from_json(js, where, &t->spec)) goto fail;
    t->spec.train.out_dir = dir;  // the caller keeps dir alive while the trainer lives
    if (steps > 0) t->spec.train.steps = steps;
    t->spec.train.progress = progress;
    t->spec.train.quiet = quiet;
    if (setup(t)) goto fail;
    if (t->data.kind == TOK_TEXT) {
        const char *hex = ckpt_meta_str(&f, path, "text_vocab");
        if (!hex) goto fail;
        char mine[2 * TOK_VOCAB_MAX + 1];
        for (int i = 0; i < t->data.vocab; i++) sprintf(mine + 2 * i, "%02x", t->data.chars[i]);
        mine[2 * t->data.vocab] = '\0';
        if (strcmp(hex, mine)) {
            err_set("%s: the text file %s has changed since the checkpoint (vocabulary differs)",
                    path, t->data.path);
            goto fail;
        }
    }
    t->m = tf_create(&t->spec.model, t->spec.batch);
    if (!t->m || ckpt_load_params(&f, path, &t->m->params)) goto fail;
    t->tm.params = &t->m->params;
    const char *rs = ckpt_meta_str(&f, path, "data_rng");
    if (!rs) goto fail;
    for (int i = 0; i < 4; i++) {
        char word[17] = {0};
        memcpy(word, rs + 16 * i, strnlen(rs + 16 * i, 16));
        char *end;
        t->rng.s[i] = strtoull(word, &end, 16);
        if (strlen(rs) != 64 || *end) {
            err_set("%s: __metadata__ data_rng is malformed", path);
            goto fail;
        }
    }
    st_close(&f);
    t->opt = optim_create(&t->spec.train.optim, t->m->params.numel);
    if (!t->opt || train_load_optim(dir, &t->m->params, t->opt, &t->state)) goto fail;
    return t;
fail:
    st_close(&f);
    tftrain_free(t);
    return NULL;
}

int tftrain_add_eval(TfTrainer *t, int n, const char *const *names, TfExtraEval fn, void *user) {
    if (t->tm.n_eval + n > TRAIN_MAX_EVAL) return err_set("too many evaluation columns");
    for (int i = 0; i < n; i++) t->tm.eval_names[t->tm.n_eval + i] = names[i];
    t->tm.n_eval += n;
    t->extra_eval = fn;
    t->extra_user = user;
    return 0;
}

int tftrain_run(TfTrainer *t) { return train_run(&t->spec.train, &t->tm, t->opt, &t->state); }

void tftrain_free(TfTrainer *t) {
    if (!t) return;
    tf_free(t->m);
    optim_free(t->opt);
    tokens_free(&t->data);
    free(t->tok);
    free(t->tg);
    free(t->vtok);
    free(t->vtg);
    free(t->vlay);
    free(t);
}
