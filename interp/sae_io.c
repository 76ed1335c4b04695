// sae_io.c — SAEs as folders SAELens loads (SAE.load_from_disk): sae_weights.safetensors and
// cfg.json. See sae.h for the fields.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/buf.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/json.h"
#include "sae.h"
#include "train/safetensors.h"

#define SAE_CFG_MAX (1u << 20)  // cfg.json is a few hundred bytes; anything past 1 MB is not one

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void put_key(Buf *b, const char *k, int *first) {
    buf_puts(b, *first ? "{\n  " : ",\n  ");
    *first = 0;
    buf_put_json_str(b, k);
    buf_puts(b, ": ");
}

int sae_save_saelens(const char *dir, const Sae *s, double l1_coefficient) {
    const SaeConfig *c = &s->cfg;
    if (!json_utf8_valid(c->hook_name, strlen(c->hook_name)) ||
        !json_utf8_valid(c->model_name, strlen(c->model_name)))
        return err_set("%s: hook_name / model_name is not valid UTF-8", dir);
    if (fileio_mkdirs(dir)) return -1;
    char *wpath = join(dir, "sae_weights.safetensors"), *cpath = join(dir, "cfg.json");
    if (!wpath || !cpath) {
        free(wpath);
        free(cpath);
        return err_set("%s: out of memory", dir);
    }
    const int64_t D = c->d_in, L = c->d_sae;
    const int64_t sh_we[] = {D, L}, sh_be[] = {L}, sh_wd[] = {L, D}, sh_bd[] = {D};
    StWriteTensor t[] = {{"W_enc", ST_F32, 2, sh_we, s->W_enc},
                         {"b_enc", ST_F32, 1, sh_be, s->b_enc},
                         {"W_dec", ST_F32, 2, sh_wd, s->W_dec},
                         {"b_dec", ST_F32, 1, sh_bd, s->b_dec}};
    int rc = st_save(wpath, t, 4, NULL, NULL, 0);
    if (rc == 0) {
        const int topk = c->arch == SAE_TOPK;
        Buf b = {0};
        int first = 1;
        put_key(&b, "architecture", &first);
        buf_puts(&b, topk ? "\"topk\"" : "\"standard\"");
        put_key(&b, "d_in", &first);
        buf_printf(&b, "%d", c->d_in);
        put_key(&b, "d_sae", &first);
        buf_printf(&b, "%d", c->d_sae);
        put_key(&b, "dtype", &first);
        buf_puts(&b, "\"float32\"");
        put_key(&b, "device", &first);
        buf_puts(&b, "\"cpu\"");
        put_key(&b, "model_name", &first);
        buf_put_json_str(&b, c->model_name);
        put_key(&b, "hook_name", &first);
        buf_put_json_str(&b, c->hook_name);
        put_key(&b, "hook_layer", &first);
        buf_printf(&b, "%d", c->hook_layer);
        put_key(&b, "hook_head_index", &first);
        buf_puts(&b, "null");
        put_key(&b, "activation_fn_str", &first);
        buf_puts(&b, topk ? "\"topk\"" : "\"relu\"");
        put_key(&b, "activation_fn_kwargs", &first);
        if (topk)
            buf_printf(&b, "{\"k\": %d}", c->k);
        else
            buf_puts(&b, "{}");
        if (topk) {
            put_key(&b, "k", &first);
            buf_printf(&b, "%d", c->k);
        }
        put_key(&b, "apply_b_dec_to_input", &first);
        buf_puts(&b, "true");
        put_key(&b, "finetuning_scaling_factor", &first);
        buf_puts(&b, "false");
        put_key(&b, "context_size", &first);
        buf_printf(&b, "%d", c->context_size);
        put_key(&b, "dataset_path", &first);
        buf_puts(&b, "\"\"");
        put_key(&b, "dataset_trust_remote_code", &first);
        buf_puts(&b, "true");
        put_key(&b, "prepend_bos", &first);
        buf_puts(&b, "false");
        put_key(&b, "normalize_activations", &first);
        buf_puts(&b, "\"none\"");
        put_key(&b, "sae_lens_training_version", &first);
        buf_puts(&b, "null");
        put_key(&b, "neuronpedia_id", &first);
        buf_puts(&b, "null");
        put_key(&b, "model_from_pretrained_kwargs", &first);
        buf_puts(&b, "{}");
        put_key(&b, "seqpos_slice", &first);
        buf_puts(&b, "[null]");
        put_key(&b, "scale_sparsity_penalty_by_decoder_norm", &first);
        buf_puts(&b, !topk && c->sparsity == SAE_L1_DECODER_NORM ? "true" : "false");
        put_key(&b, "normalize_sae_decoder", &first);
        buf_puts(&b, !topk && c->sparsity == SAE_L1_UNIT_DECODER ? "true" : "false");
        if (l1_coefficient >= 0) {
            put_key(&b, "l1_coefficient", &first);
            json_put_float(&b, (float)l1_coefficient);  // λ is a float in the trainer
        }
        buf_puts(&b, "\n}\n");
        rc = b.oom ? err_set("%s: out of memory", cpath) : fileio_write_all(cpath, b.p, b.len);
        buf_free(&b);
    }
    free(wpath);
    free(cpath);
    return rc;
}

// An optional string member: NULL when absent or null; an error when of another type.
static int opt_str(const JsonValue *root, const char *key, const char **out) {
    const JsonValue *v = json_get(root, key);
    *out = NULL;
    if (!v || json_is(v, JSON_NULL)) return 0;
    return json_get_string(root, key, out);
}

static int copy_name(char *dst, const char *src, const char *key) {
    if (!src) return 0;
    if (strlen(src) >= SAE_NAME_MAX) return err_set("%s is longer than %d bytes", key, SAE_NAME_MAX - 1);
    strcpy(dst, src);
    return 0;
}

// Reads cfg.json into *c. Errors without the path (the caller prefixes it).
static int parse_cfg(const JsonValue *root, SaeConfig *c) {
    int64_t d_in, d_sae;
    if (!json_is(root, JSON_OBJECT)) return err_set("expected a JSON object");
    if (json_get_int(root, "d_in", 1, 1 << 24, &d_in) || json_get_int(root, "d_sae", 1, 1 << 26, &d_sae))
        return -1;
    *c = sae_config((int)d_in, (int)d_sae);
    const char *arch, *act, *s;
    if (opt_str(root, "architecture", &arch) || opt_str(root, "activation_fn_str", &act)) return -1;
    if (arch && !strcmp(arch, "topk"))
        c->arch = SAE_TOPK;
    else if (arch && strcmp(arch, "standard"))
        return err_set("architecture '%s' is not supported (mechlab reads \"standard\" and \"topk\")", arch);
    else if (act && !strcmp(act, "topk"))
        c->arch = SAE_TOPK;  // SAELens 3-5 wrote topk as a standard SAE with a topk activation
    else if (act && strcmp(act, "relu"))
        return err_set("activation_fn_str '%s' is not supported (relu or topk)", act);
    if (c->arch == SAE_TOPK) {
        const JsonValue *kv = json_get(root, "k");
        if (!kv || json_is(kv, JSON_NULL)) kv = json_get(json_get(root, "activation_fn_kwargs"), "k");
        int64_t k;
        if (!kv) return err_set("a topk SAE needs 'k' (or activation_fn_kwargs.k)");
        if (json_int(kv, 1, d_sae, &k)) return err_prefix("k");
        c->k = (int)k;
    }
    const JsonValue *ab = json_get(root, "apply_b_dec_to_input");
    int flag;
    if (ab) {
        if (json_bool(ab, &flag)) return err_prefix("apply_b_dec_to_input");
        if (!flag) return err_set("apply_b_dec_to_input false is not supported (mechlab subtracts b_dec)");
    }
    if (opt_str(root, "normalize_activations", &s)) return -1;
    if (s && strcmp(s, "none"))
        return err_set("normalize_activations '%s' is not supported (only \"none\")", s);
    if (opt_str(root, "dtype", &s)) return -1;
    if (s && strcmp(s, "float32") && strcmp(s, "torch.float32"))
        return err_set("dtype '%s' is not supported (only float32)", s);
    const JsonValue *nd = json_get(root, "normalize_sae_decoder");
    if (nd && json_is(nd, JSON_BOOL) && nd->u.boolean) c->sparsity = SAE_L1_UNIT_DECODER;
    if (opt_str(root, "hook_name", &s) || copy_name(c->hook_name, s, "hook_name")) return -1;
    if (opt_str(root, "model_name", &s) || copy_name(c->model_name, s, "model_name")) return -1;
    const JsonValue *hl = json_get(root, "hook_layer");
    int64_t v;
    if (hl && !json_is(hl, JSON_NULL)) {
        if (json_int(hl, -1, 1 << 20, &v)) return err_prefix("hook_layer");
        c->hook_layer = (int)v;
    }
    const JsonValue *cs = json_get(root, "context_size");
    if (cs && !json_is(cs, JSON_NULL)) {
        if (json_int(cs, 0, 1 << 30, &v)) return err_prefix("context_size");
        c->context_size = (int)v;
    }
    return 0;
}

// A loaded SAE starts from sae_create's init (seed 0) and every parameter is then overwritten.
Sae *sae_load_saelens(const char *dir) {
    char *wpath = join(dir, "sae_weights.safetensors"), *cpath = join(dir, "cfg.json");
    Sae *s = NULL;
    JsonDoc doc = {0};
    StFile f = {0};
    SaeConfig c;
    if (!wpath || !cpath) {
        err_set("%s: out of memory", dir);
        goto done;
    }
    if (json_parse_file(&doc, cpath, SAE_CFG_MAX)) goto done;
    if (parse_cfg(doc.root, &c)) {
        err_prefix(cpath);
        goto done;
    }
    if (st_open(&f, wpath)) goto done;
    if (st_find(&f, "threshold")) {
        err_set("%s: has a 'threshold' tensor (JumpReLU), which mechlab does not run", wpath);
        goto done;
    }
    if (!(s = sae_create(&c, 0))) {
        err_prefix(cpath);
        goto done;
    }
    const int D = c.d_in, L = c.d_sae;
    if (st_copy_f32(&f, "W_enc", s->W_enc, 2, (int[]){D, L}) ||
        st_copy_f32(&f, "b_enc", s->b_enc, 1, (int[]){L}) ||
        st_copy_f32(&f, "W_dec", s->W_dec, 2, (int[]){L, D}) ||
        st_copy_f32(&f, "b_dec", s->b_dec, 1, (int[]){D})) {
        sae_free(s);
        s = NULL;
    }
done:
    st_close(&f);
    json_free(&doc);
    free(wpath);
    free(cpath);
    return s;
}
