#include "toy_checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"
#include "model/json.h"

void toy_config_to_json(const ToyConfig *c, Buf *b) {
    buf_printf(b, "{\"n_instances\": %d, \"n_features\": %d, \"n_hidden\": %d, \"relu\": %s, "
                  "\"init_std\": ",
               c->n_instances, c->n_features, c->n_hidden, c->relu ? "true" : "false");
    json_put_float(b, c->init_std);
    buf_puts(b, "}");
}

// A JSON array of n floats ("[1, 0.5]"); ones when x is NULL.
static void put_list(Buf *b, const float *x, int n) {
    buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        if (i) buf_puts(b, ", ");
        json_put_float(b, x ? x[i] : 1.0f);
    }
    buf_puts(b, "]");
}

int toy_ckpt_meta(const ToyConfig *c, int n_settings, int replicas, const float *prob,
                  const float *decay, Meta *meta) {
    Buf b = {0};
    toy_config_to_json(c, &b);
    int rc = b.oom ? err_set("out of memory") : 0;
    if (!rc) rc = meta_set(meta, "mechlab_arch", "toy");
    if (!rc) rc = meta_set(meta, "config", "%s", b.p);
    if (!rc && prob) {
        rc = meta_set(meta, "replicas", "%d", replicas);
        buf_reset(&b);
        put_list(&b, prob, n_settings);
        if (!rc) rc = b.oom ? err_set("out of memory") : meta_set(meta, "feature_probability", "%s", b.p);
        buf_reset(&b);
        put_list(&b, decay, n_settings);
        if (!rc) rc = b.oom ? err_set("out of memory") : meta_set(meta, "importance_decay", "%s", b.p);
        if (rc) err_prefix("toy checkpoint");
    }
    buf_free(&b);
    return rc;
}

void toy_layout_free(ToyLayout *l) {
    if (!l) return;
    free(l->prob);
    free(l->decay);
    l->prob = l->decay = NULL;
}

// Parses a metadata value holding a JSON array of exactly n finite numbers into out[n].
static int read_list(const StFile *f, const char *path, const char *key, int n, float *out) {
    const char *v = ckpt_meta_str(f, path, key);
    if (!v) return -1;
    JsonDoc doc = {0};
    int rc = -1;
    if (json_parse(&doc, v, strlen(v))) goto done;
    if (!json_is(doc.root, JSON_ARRAY) || json_len(doc.root) != (size_t)n) {
        err_set("expected an array of %d numbers", n);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        double d;
        if (json_double(json_at(doc.root, (size_t)i), &d)) goto done;
        if (!isfinite(d) || !isfinite((float)d)) {
            err_set("element %d is not a finite float", i);
            goto done;
        }
        out[i] = (float)d;
    }
    rc = 0;
done:
    json_free(&doc);
    if (rc) {
        char where[4200];
        snprintf(where, sizeof where, "%s: __metadata__ '%s'", path, key);
        err_prefix(where);
    }
    return rc;
}

int toy_ckpt_layout(const StFile *f, const char *path, int n_instances, ToyLayout *out) {
    memset(out, 0, sizeof *out);
    if (!st_meta(f, "replicas")) {  // not recorded: every instance its own setting
        out->n_settings = n_instances;
        out->replicas = 1;
        return 0;
    }
    long R;
    if (ckpt_meta_long(f, path, "replicas", 1, n_instances, &R)) return -1;
    if (n_instances % R)
        return err_set("%s: __metadata__ 'replicas' is %ld, which does not divide the %d instances",
                       path, R, n_instances);
    out->replicas = (int)R;
    out->n_settings = n_instances / (int)R;
    out->prob = malloc(sizeof(float) * (size_t)out->n_settings);
    out->decay = malloc(sizeof(float) * (size_t)out->n_settings);
    if (!out->prob || !out->decay) {
        toy_layout_free(out);
        return err_set("%s: out of memory", path);
    }
    if (read_list(f, path, "feature_probability", out->n_settings, out->prob) ||
        read_list(f, path, "importance_decay", out->n_settings, out->decay)) {
        toy_layout_free(out);
        return -1;
    }
    for (int s = 0; s < out->n_settings; s++)
        if (!(out->prob[s] >= 0.0f && out->prob[s] <= 1.0f) || !(out->decay[s] >= 0.0f)) {
            err_set("%s: setting %d has feature probability %g (must be in [0, 1]) and importance "
                    "decay %g (must be >= 0)",
                    path, s, out->prob[s], out->decay[s]);
            toy_layout_free(out);
            return -1;
        }
    return 0;
}

static int get_int(const JsonValue *o, const char *key, int *out) {
    int64_t v;
    if (json_get_int(o, key, 1, 1 << 24, &v)) return -1;
    *out = (int)v;
    return 0;
}

Toy *toy_ckpt_load(const char *path, int max_batch, StFile *f) {
    memset(f, 0, sizeof *f);
    if (st_open(f, path)) return NULL;
    Toy *t = NULL;
    float *imp = NULL;
    ToyLayout lay = {0};
    JsonDoc doc = {0};
    const char *arch = ckpt_meta_str(f, path, "mechlab_arch");
    if (!arch) goto fail;
    if (strcmp(arch, "toy")) {
        err_set("%s: a '%s' checkpoint, not a toy model", path, arch);
        goto fail;
    }
    const char *cfg_json = ckpt_meta_str(f, path, "config");
    if (!cfg_json) goto fail;
    ToyConfig c = {0};
    double init_std;
    if (json_parse(&doc, cfg_json, strlen(cfg_json)) || get_int(doc.root, "n_instances", &c.n_instances) ||
        get_int(doc.root, "n_features", &c.n_features) || get_int(doc.root, "n_hidden", &c.n_hidden) ||
        json_get_bool(doc.root, "relu", &c.relu) || json_get_double(doc.root, "init_std", &init_std)) {
        char where[4200];
        snprintf(where, sizeof where, "%s: __metadata__ config", path);
        err_prefix(where);
        goto fail;
    }
    c.init_std = (float)init_std;
    c.max_batch = max_batch;
    if ((size_t)c.n_instances * c.n_features * c.n_hidden > ((size_t)1 << 31)) {
        err_set("%s: config of %d × %d × %d weights is too large", path, c.n_instances,
                c.n_features, c.n_hidden);
        goto fail;
    }
    if (toy_ckpt_layout(f, path, c.n_instances, &lay)) goto fail;
    if (lay.decay) {  // importance[i, f] = decay[setting of i]^f
        imp = malloc(sizeof(float) * (size_t)c.n_instances * c.n_features);
        if (!imp) {
            err_set("%s: out of memory", path);
            goto fail;
        }
        for (int i = 0; i < c.n_instances; i++)
            for (int k = 0; k < c.n_features; k++)
                imp[(size_t)i * c.n_features + k] = powf(lay.decay[i / lay.replicas], (float)k);
    }
    t = toy_create(&c, imp);
    if (!t) {
        err_prefix(path);
        goto fail;
    }
    if (ckpt_load_params(f, path, &t->params)) goto fail;
    free(imp);
    toy_layout_free(&lay);
    json_free(&doc);
    return t;
fail:
    toy_free(t);
    free(imp);
    toy_layout_free(&lay);
    json_free(&doc);
    st_close(f);
    return NULL;
}
