// cnn_train.c — a CNN plugged into the one training loop (trainer.h): image data with per-epoch
// shuffling, evaluation on the test split, checkpoint metadata, resume (see cnn_train.h).
#include "cnn_train.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/idx.h"
#include "model/err.h"
#include "model/json.h"

// Seeds of the data streams, derived from spec.seed so one number fixes a run.
#define SEED_SHUFFLE 0xda7a5eedULL
#define SEED_SYNTH_TRAIN 0x5917a1ULL
#define SEED_SYNTH_TEST 0x7e575e7ULL

static const char *label_name(ImgLabel l) {
    return l == IMG_LABEL_ORIENT ? "orient" : l == IMG_LABEL_CURV ? "curv" : "joint";
}
static int label_parse(const char *s, ImgLabel *out) {
    if (!strcmp(s, "orient")) *out = IMG_LABEL_ORIENT;
    else if (!strcmp(s, "curv")) *out = IMG_LABEL_CURV;
    else if (!strcmp(s, "joint")) *out = IMG_LABEL_JOINT;
    else return err_set("label '%s': expected orient, curv or joint", s);
    return 0;
}

static int is_fashion(const char *data) { return !strcmp(data, "fashion-mnist"); }

CnnTrainSpec cnntrain_defaults(const char *data) {
    CnnTrainSpec s;
    memset(&s, 0, sizeof s);
    snprintf(s.data, sizeof s.data, "%s", data ? data : "lines");
    s.size = 16;
    s.n_train = is_fashion(s.data) ? 0 : 8192;
    s.n_test = is_fashion(s.data) ? 0 : 1024;
    s.label = !strcmp(s.data, "curves") ? IMG_LABEL_JOINT : IMG_LABEL_ORIENT;
    s.normalize = is_fashion(s.data);
    s.batch = 64;
    s.train.steps = 1000;
    s.train.eval_every = 500;
    s.train.ckpt_every = 500;
    s.train.clip = 1.0;
    s.train.optim = optim_defaults(OPTIM_ADAM);
    s.train.sched = (Sched){.kind = SCHED_WARMUP_COSINE, .lr = 1e-3f, .warmup = 50,
                            .total = 1000, .min_lr = 1e-5f};
    return s;
}

// ---- checkpoint config -------------------------------------------------------------------------

static void config_to_json(const CnnCkptConfig *c, Buf *b) {
    buf_puts(b, "{\"spec\": ");
    buf_put_json_str(b, c->spec);
    buf_printf(b, ", \"in_channels\": %d, \"height\": %d, \"width\": %d, \"n_out\": %d, "
                  "\"input_mean\": ", c->C, c->H, c->W, c->n_out);
    json_put_float(b, c->input_mean);
    buf_puts(b, ", \"input_std\": ");
    json_put_float(b, c->input_std);
    buf_puts(b, ", \"data\": ");
    buf_put_json_str(b, c->data);
    buf_puts(b, "}");
}

static int config_from_json(const char *text, CnnCkptConfig *c) {
    JsonDoc doc = {0};
    memset(c, 0, sizeof *c);
    const char *spec, *data;
    int64_t v[4];
    double mean, std;
    int rc = -1;
    if (json_parse(&doc, text, strlen(text))) goto done;
    const JsonValue *o = doc.root;
    if (!json_is(o, JSON_OBJECT)) {
        err_set("not a JSON object");
        goto done;
    }
    if (json_get_string(o, "spec", &spec) || json_get_string(o, "data", &data) ||
        json_get_int(o, "in_channels", 1, 4096, &v[0]) || json_get_int(o, "height", 1, 4096, &v[1]) ||
        json_get_int(o, "width", 1, 4096, &v[2]) || json_get_int(o, "n_out", 1, 1 << 20, &v[3]) ||
        json_get_double(o, "input_mean", &mean) || json_get_double(o, "input_std", &std))
        goto done;
    if (strlen(spec) >= sizeof c->spec || strlen(data) >= sizeof c->data) {
        err_set("spec or data name too long");
        goto done;
    }
    if (!(std > 0) || !isfinite(mean)) {
        err_set("input_std must be positive and input_mean finite");
        goto done;
    }
    snprintf(c->spec, sizeof c->spec, "%s", spec);
    snprintf(c->data, sizeof c->data, "%s", data);
    c->C = (int)v[0];
    c->H = (int)v[1];
    c->W = (int)v[2];
    c->n_out = (int)v[3];
    c->input_mean = (float)mean;
    c->input_std = (float)std;
    rc = 0;
done:
    json_free(&doc);
    return rc;
}

int cnn_ckpt_meta(const CnnCkptConfig *c, Meta *meta) {
    Buf b = {0};
    config_to_json(c, &b);
    int rc = b.oom ? err_set("out of memory") : 0;
    if (!rc) rc = meta_set(meta, "mechlab_arch", "cnn");
    if (!rc) rc = meta_set(meta, "config", "%s", b.p);
    buf_free(&b);
    return rc;
}

Cnn *cnn_ckpt_load(const char *path, int max_batch, StFile *f, CnnCkptConfig *cfg) {
    memset(f, 0, sizeof *f);
    if (st_open(f, path)) return NULL;
    const char *arch = ckpt_meta_str(f, path, "mechlab_arch");
    const char *js = arch ? ckpt_meta_str(f, path, "config") : NULL;
    Cnn *m = NULL;
    CnnCkptConfig c;
    if (!js) goto fail;
    if (strcmp(arch, "cnn")) {
        err_set("%s: a '%s' checkpoint, not a cnn", path, arch);
        goto fail;
    }
    if (config_from_json(js, &c)) {
        char where[4200];
        snprintf(where, sizeof where, "%s: __metadata__ config", path);
        err_prefix(where);
        goto fail;
    }
    m = cnn_create(c.spec, c.C, c.H, c.W, max_batch);
    if (!m) {
        err_prefix(path);
        goto fail;
    }
    if (m->n_out != c.n_out) {
        err_set("%s: config says n_out %d but the spec gives %d", path, c.n_out, m->n_out);
        goto fail;
    }
    if (ckpt_load_params(f, path, &m->params)) goto fail;
    if (cfg) *cfg = c;
    return m;
fail:
    cnn_free(m);
    st_close(f);
    return NULL;
}

// ---- the training spec as JSON ("train_spec" in the checkpoint) -------------------------------

static void spec_to_json(const CnnTrainSpec *s, Buf *b) {
    buf_puts(b, "{\"arch\": ");
    buf_put_json_str(b, s->arch);
    buf_puts(b, ", \"data\": ");
    buf_put_json_str(b, s->data);
    buf_puts(b, ", \"data_dir\": ");
    buf_put_json_str(b, s->data_dir);
    // The seed is a full uint64: as hex text, exactly.
    buf_printf(b, ", \"size\": %d, \"n_train\": %d, \"n_test\": %d, \"label\": \"%s\", \"noise\": ",
               s->size, s->n_train, s->n_test, label_name(s->label));
    json_put_float(b, s->noise);
    buf_printf(b, ", \"normalize\": %d, \"batch\": %d, \"seed\": \"%016" PRIx64 "\", "
                  "\"eval_max\": %d",
               s->normalize, s->batch, s->seed, s->eval_max);
    train_config_to_json(&s->train, b);
    buf_puts(b, "}");
}

static int copy_str(char *dst, size_t n, const char *src, const char *key) {
    if (strlen(src) >= n) return err_set("'%s' is too long", key);
    snprintf(dst, n, "%s", src);
    return 0;
}

static int spec_from_json(const char *text, CnnTrainSpec *s) {
    JsonDoc doc = {0};
    TrainConfig *c = &s->train;
    const JsonValue *o;
    const char *str;
    int64_t i;
    double d;
    if (json_parse(&doc, text, strlen(text))) goto fail;
    o = doc.root;
    if (json_get_string(o, "arch", &str) || copy_str(s->arch, sizeof s->arch, str, "arch") ||
        json_get_string(o, "data", &str) || copy_str(s->data, sizeof s->data, str, "data") ||
        json_get_string(o, "data_dir", &str) ||
        copy_str(s->data_dir, sizeof s->data_dir, str, "data_dir") ||
        json_get_string(o, "label", &str) || label_parse(str, &s->label))
        goto fail;
#define GETI(key, field, lo, hi)                      \
    if (json_get_int(o, key, lo, hi, &i)) goto fail; \
    field = i;
#define GETD(key, field)                         \
    if (json_get_double(o, key, &d)) goto fail; \
    field = d;
    GETI("size", s->size, 0, 4096);
    GETI("n_train", s->n_train, 0, INT32_MAX);
    GETI("n_test", s->n_test, 0, INT32_MAX);
    GETI("normalize", s->normalize, 0, 1);
    GETI("batch", s->batch, 1, 65536);
    GETI("eval_max", s->eval_max, 0, INT32_MAX);
    GETD("noise", s->noise);
#undef GETI
#undef GETD
    if (json_get_string(o, "seed", &str)) goto fail;
    {
        char *end;
        s->seed = strtoull(str, &end, 16);
        if (strlen(str) != 16 || *end) {
            err_set("'seed' is not 16 hex digits");
            goto fail;
        }
    }
    if (train_config_from_json(o, c)) goto fail;
    json_free(&doc);
    return 0;
fail:
    json_free(&doc);
    return -1;
}

// ---- data ------------------------------------------------------------------------------------

static int load_data(CnnTrainer *t) {
    CnnTrainSpec *s = &t->spec;
    if (is_fashion(s->data)) {
        const char *dir = s->data_dir[0] ? s->data_dir : NULL;
        if (idx_load_fashion_mnist(&t->train, dir, 0) || idx_load_fashion_mnist(&t->test, dir, 1))
            return -1;
        // Keep the first n of a split (the memory stays allocated; images_free frees it).
        if (s->n_train > 0 && s->n_train < t->train.n) t->train.n = s->n_train;
        if (s->n_test > 0 && s->n_test < t->test.n) t->test.n = s->n_test;
    } else {
        ImgKind kind;
        if (images_kind_parse(s->data, &kind))
            return err_set("data '%s': expected fashion-mnist, lines, curves or edges", s->data);
        ImgSynthConfig c = images_synth_defaults(kind, s->size);
        c.label = s->label;
        c.noise = s->noise;
        if (s->n_train < 1 || s->n_test < 1)
            return err_set("synthetic data needs n_train and n_test >= 1 (got %d, %d)",
                           s->n_train, s->n_test);
        if (images_synth(&t->train, &c, s->n_train, s->seed ^ SEED_SYNTH_TRAIN) ||
            images_synth(&t->test, &c, s->n_test, s->seed ^ SEED_SYNTH_TEST))
            return -1;
    }
    t->mean = 0;
    t->std = 1;
    if (s->normalize) {
        double mean, std;
        images_mean_std(&t->train, &mean, &std);
        if (!(std > 0)) return err_set("data '%s': the training images are constant", s->data);
        t->mean = (float)mean;
        t->std = (float)std;
        images_normalize(&t->train, t->mean, t->std);
        images_normalize(&t->test, t->mean, t->std);
    }
    if (s->batch < 1 || s->batch > t->train.n)
        return err_set("batch %d must be in [1, %d training images]", s->batch, t->train.n);
    return 0;
}

// A new epoch: remember the Rng, shuffle the identity with it.
static void new_epoch(CnnTrainer *t) {
    t->epoch_rng = t->rng;
    for (int i = 0; i < t->train.n; i++) t->perm[i] = i;
    rng_shuffle(&t->rng, t->perm, (size_t)t->train.n);
    t->pos = 0;
    t->epoch++;
}

// ---- the TrainModel callbacks ---------------------------------------------------------------

static int step_fn(void *ctx, double *loss) {
    CnnTrainer *t = ctx;
    int B = t->spec.batch;
    if (t->pos + B > t->train.n) new_epoch(t);
    memcpy(t->idx, t->perm + t->pos, sizeof(int) * (size_t)B);
    t->pos += B;
    images_batch(&t->train, t->idx, B, t->x, t->y);
    if (cnn_forward(t->m, t->x, t->y, B, NULL, loss)) return -1;
    return cnn_backward(t->m, NULL);
}

int cnntrain_evaluate(Cnn *m, const ImageSet *s, int n, const HookList *hooks, double *loss,
                      double *acc, int64_t *confusion) {
    if (n <= 0 || n > s->n) n = s->n;
    if (s->C != m->C || s->H != m->H || s->W != m->W)
        return err_set("evaluate: images are %dx%dx%d, the model takes %dx%dx%d", s->C, s->H,
                       s->W, m->C, m->H, m->W);
    if (s->n_classes > m->n_out)
        return err_set("evaluate: %d classes but the model has %d outputs", s->n_classes,
                       m->n_out);
    int K = m->n_out;
    if (confusion) memset(confusion, 0, sizeof(int64_t) * (size_t)K * K);
    size_t per = (size_t)s->C * s->H * s->W;
    double sum = 0;
    long right = 0;
    for (int i = 0; i < n; i += m->max_batch) {
        int B = n - i < m->max_batch ? n - i : m->max_batch;
        if (cnn_forward(m, s->x + (size_t)i * per, s->y + i, B, hooks, NULL)) return -1;
        Tensor lg = cnn_act(m, "logits"), ls = cnn_act(m, "losses");
        for (int b = 0; b < B; b++) {
            const float *z = lg.data + (size_t)b * K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (z[k] > z[best]) best = k;
            int y = s->y[i + b];
            right += best == y;
            sum += ls.data[b];
            if (confusion) confusion[(size_t)y * K + best]++;
        }
    }
    if (loss) *loss = sum / n;
    if (acc) *acc = (double)right / n;
    return 0;
}

static int eval_fn(void *ctx, long step, double *values) {
    CnnTrainer *t = ctx;
    if (cnntrain_evaluate(t->m, &t->test, t->spec.eval_max, NULL, &values[0], &values[1], NULL))
        return -1;
    if (t->on_eval) t->on_eval(t->on_eval_user, step, values);
    return 0;
}

CnnCkptConfig cnntrain_ckpt_config(const CnnTrainer *t) {
    CnnCkptConfig c;
    memset(&c, 0, sizeof c);
    snprintf(c.spec, sizeof c.spec, "%s", t->m->spec);
    c.C = t->m->C;
    c.H = t->m->H;
    c.W = t->m->W;
    c.n_out = t->m->n_out;
    c.input_mean = t->mean;
    c.input_std = t->std;
    snprintf(c.data, sizeof c.data, "%s", t->spec.data);
    return c;
}

static int meta_fn(void *ctx, Meta *meta) {
    CnnTrainer *t = ctx;
    CnnCkptConfig c = cnntrain_ckpt_config(t);
    if (cnn_ckpt_meta(&c, meta)) return -1;
    Buf b = {0};
    spec_to_json(&t->spec, &b);
    int rc = b.oom ? err_set("out of memory") : meta_set(meta, "train_spec", "%s", b.p);
    buf_free(&b);
    if (rc) return -1;
    const uint64_t *s = t->epoch_rng.s;
    if (meta_set(meta, "data_rng", "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, s[0],
                 s[1], s[2], s[3]) ||
        meta_set(meta, "data_pos", "%d", t->pos) || meta_set(meta, "data_epoch", "%ld", t->epoch))
        return -1;
    return 0;
}

// ---- create / resume ---------------------------------------------------------------------------

// Data, buffers, callbacks: everything but the model's parameters and the optimiser state.
static int setup(CnnTrainer *t) {
    CnnTrainSpec *s = &t->spec;
    if (load_data(t)) return -1;
    if (s->eval_max < 0) s->eval_max = 0;
    size_t per = (size_t)t->train.C * t->train.H * t->train.W;
    t->perm = malloc(sizeof(int) * (size_t)t->train.n);
    t->x = malloc(sizeof(float) * per * (size_t)s->batch);
    t->y = malloc(sizeof(int) * (size_t)s->batch);
    t->idx = malloc(sizeof(int) * (size_t)s->batch);
    if (!t->perm || !t->x || !t->y || !t->idx) return err_set("out of memory");
    t->m = cnn_create(s->arch, t->train.C, t->train.H, t->train.W, s->batch);
    if (!t->m) return -1;
    if (t->m->n_out < t->train.n_classes)
        return err_set("cnn spec '%s' has %d outputs but data '%s' has %d classes (end the spec "
                       "with linear:%d)", s->arch, t->m->n_out, s->data, t->train.n_classes,
                       t->train.n_classes);
    t->tm = (TrainModel){.ctx = t, .params = &t->m->params, .train_step = step_fn,
                         .eval = eval_fn, .meta = meta_fn, .n_eval = 2};
    t->tm.eval_names[0] = "test_loss";
    t->tm.eval_names[1] = "test_acc";
    return 0;
}

long cnntrain_epoch_steps(const CnnTrainer *t, double epochs) {
    return (long)ceil(epochs * (double)(t->train.n / t->spec.batch));
}

CnnTrainer *cnntrain_create(const CnnTrainSpec *spec) {
    CnnTrainer *t = calloc(1, sizeof *t);
    if (!t) {
        err_set("out of memory");
        return NULL;
    }
    t->spec = *spec;
    if (setup(t)) goto fail;
    cnn_init_weights(t->m, t->spec.seed);
    rng_seed(&t->rng, t->spec.seed ^ SEED_SHUFFLE);
    new_epoch(t);
    t->opt = optim_create(&t->spec.train.optim, t->m->params.numel);
    if (!t->opt || sched_check(&t->spec.train.sched)) goto fail;
    return t;
fail:
    cnntrain_free(t);
    return NULL;
}

CnnTrainer *cnntrain_resume(const char *dir, long steps, int progress, int quiet) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CnnTrainer *t = calloc(1, sizeof *t);
    StFile f = {0};
    CnnCkptConfig cfg;
    if (!t) {
        err_set("out of memory");
        return NULL;
    }
    Cnn *m = cnn_ckpt_load(path, 1, &f, &cfg);  // validates the file; rebuilt at full batch below
    if (!m) goto fail;
    cnn_free(m);
    const char *js = ckpt_meta_str(&f, path, "train_spec");
    if (!js) goto fail;
    if (spec_from_json(js, &t->spec)) {
        char where[4200];
        snprintf(where, sizeof where, "%s: __metadata__ train_spec", path);
        err_prefix(where);
        goto fail;
    }
    t->spec.train.out_dir = dir;  // the caller keeps dir alive while the trainer lives
    if (steps > 0) t->spec.train.steps = steps;
    t->spec.train.progress = progress;
    t->spec.train.quiet = quiet;
    if (setup(t)) goto fail;
    if (strcmp(cfg.spec, t->spec.arch) || t->mean != cfg.input_mean || t->std != cfg.input_std) {
        err_set("%s: the data or model differ from the checkpoint's (input mean/std %g/%g, saved "
                "%g/%g): has the dataset changed?", path, t->mean, t->std, cfg.input_mean,
                cfg.input_std);
        goto fail;
    }
    if (ckpt_load_params(&f, path, &t->m->params)) goto fail;
    const char *rs = ckpt_meta_str(&f, path, "data_rng");
    long pos, epoch;
    if (!rs || ckpt_meta_long(&f, path, "data_pos", 0, t->train.n, &pos) ||
        ckpt_meta_long(&f, path, "data_epoch", 1, 1L << 50, &epoch))
        goto fail;
    if (strlen(rs) != 64) {
        err_set("%s: __metadata__ data_rng is malformed", path);
        goto fail;
    }
    for (int i = 0; i < 4; i++) {
        char word[17] = {0}, *end;
        memcpy(word, rs + 16 * i, 16);
        t->rng.s[i] = strtoull(word, &end, 16);
        if (*end) {
            err_set("%s: __metadata__ data_rng is malformed", path);
            goto fail;
        }
    }
    // Replay the current epoch's shuffle from its saved Rng, then continue at the saved place.
    new_epoch(t);
    t->epoch = epoch;
    t->pos = (int)pos;
    st_close(&f);
    t->opt = optim_create(&t->spec.train.optim, t->m->params.numel);
    if (!t->opt || train_load_optim(dir, &t->m->params, t->opt, &t->state)) goto fail;
    return t;
fail:
    st_close(&f);
    cnntrain_free(t);
    return NULL;
}

int cnntrain_run(CnnTrainer *t) { return train_run(&t->spec.train, &t->tm, t->opt, &t->state); }

void cnntrain_free(CnnTrainer *t) {
    if (!t) return;
    cnn_free(t->m);
    optim_free(t->opt);
    images_free(&t->train);
    images_free(&t->test);
    free(t->perm);
    free(t->x);
    free(t->y);
    free(t->idx);
    free(t);
}
