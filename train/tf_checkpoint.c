#include "tf_checkpoint.h"

#include <stdio.h>
#include <string.h>

#include "model/err.h"
#include "model/json.h"

void tf_config_to_json(const TfConfig *c, Buf *b) {
    buf_printf(b, "{\"n_layers\": %d, \"d_model\": %d, \"n_heads\": %d, \"d_head\": %d, ",
               c->n_layers, c->d_model, c->n_heads, c->d_head);
    if (c->attn_only) buf_puts(b, "\"d_mlp\": null, ");
    else buf_printf(b, "\"d_mlp\": %d, ", c->d_mlp);
    buf_printf(b, "\"attn_only\": %s, \"n_ctx\": %d, \"d_vocab\": %d, \"act_fn\": ",
               c->attn_only ? "true" : "false", c->n_ctx, c->d_vocab);
    buf_put_json_str(b, tf_act_fn_name(c->act_fn));
    buf_puts(b, ", \"normalization_type\": ");
    if (c->normalization_type == TF_NORM_NONE) buf_puts(b, "null");
    else buf_put_json_str(b, tf_norm_name(c->normalization_type));
    buf_puts(b, ", \"positional_embedding_type\": \"standard\", \"eps\": ");
    json_put_float(b, c->eps);
    buf_puts(b, "}");
}

static int get_int(const JsonValue *o, const char *key, int *out) {
    int64_t v;
    if (json_get_int(o, key, 0, 1 << 30, &v)) return -1;
    *out = (int)v;
    return 0;
}

int tf_config_from_json(const char *json, size_t len, const char *where, TfConfig *c) {
    JsonDoc doc = {0};
    memset(c, 0, sizeof *c);
    if (json_parse(&doc, json, len)) goto fail;
    const JsonValue *o = doc.root;
    if (!json_is(o, JSON_OBJECT)) {
        err_set("config is not a JSON object");
        goto fail;
    }
    int attn_only;
    if (get_int(o, "n_layers", &c->n_layers) || get_int(o, "d_model", &c->d_model) ||
        get_int(o, "n_heads", &c->n_heads) || get_int(o, "d_head", &c->d_head) ||
        get_int(o, "n_ctx", &c->n_ctx) || get_int(o, "d_vocab", &c->d_vocab) ||
        json_get_bool(o, "attn_only", &attn_only))
        goto fail;
    c->attn_only = attn_only;
    const JsonValue *mlp = json_get(o, "d_mlp");
    if (!c->attn_only || (mlp && !json_is(mlp, JSON_NULL))) {
        if (get_int(o, "d_mlp", &c->d_mlp)) goto fail;
    }
    const char *s;
    if (json_get_string(o, "act_fn", &s) || tf_act_fn_parse(s, &c->act_fn)) goto fail;
    const JsonValue *norm = json_get(o, "normalization_type");
    if (!norm) {
        err_set("missing key 'normalization_type'");
        goto fail;
    }
    if (json_is(norm, JSON_NULL)) c->normalization_type = TF_NORM_NONE;
    else if (json_get_string(o, "normalization_type", &s) || tf_norm_parse(s, &c->normalization_type))
        goto fail;
    const JsonValue *pos = json_get(o, "positional_embedding_type");
    if (pos && (!json_str(pos) || strcmp(json_str(pos), "standard"))) {
        err_set("positional_embedding_type: only \"standard\" is supported");
        goto fail;
    }
    c->positional_embedding_type = TF_POS_STANDARD;
    double eps;
    if (json_get_double(o, "eps", &eps)) goto fail;
    c->eps = (float)eps;
    json_free(&doc);
    if (tf_config_validate(c)) return err_prefix(where);
    return 0;
fail:
    json_free(&doc);
    return err_prefix(where);
}

int tf_ckpt_meta(const TfConfig *c, Meta *meta) {
    Buf b = {0};
    tf_config_to_json(c, &b);
    int rc = b.oom ? err_set("out of memory") : 0;
    if (!rc) rc = meta_set(meta, "mechlab_arch", "transformer");
    if (!rc) rc = meta_set(meta, "config", "%s", b.p);
    buf_free(&b);
    return rc;
}

Transformer *tf_ckpt_load(const char *path, int max_batch, StFile *f) {
    memset(f, 0, sizeof *f);
    if (st_open(f, path)) return NULL;
    const char *arch = ckpt_meta_str(f, path, "mechlab_arch");
    const char *cfg_json = arch ? ckpt_meta_str(f, path, "config") : NULL;
    Transformer *m = NULL;
    TfConfig c;
    if (!cfg_json) goto fail;
    if (strcmp(arch, "transformer")) {
        err_set("%s: a '%s' checkpoint, not a transformer", path, arch);
        goto fail;
    }
    char where[4200];
    snprintf(where, sizeof where, "%s: __metadata__ config", path);
    if (tf_config_from_json(cfg_json, strlen(cfg_json), where, &c)) goto fail;
    m = tf_create(&c, max_batch);
    if (!m) {
        err_prefix(path);
        goto fail;
    }
    if (ckpt_load_params(f, path, &m->params)) goto fail;
    return m;
fail:
    tf_free(m);
    st_close(f);
    return NULL;
}
