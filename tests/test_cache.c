// Cache: batched caching at chosen positions equals one forward over every sequence, read with
// the test's own index arithmetic ([N, P, ...] and query-selected [N, H, P, T]); the files hold
// exactly the memory-mode values and load back with the right dtype and shape, with tokens.npy
// and an index.json that lists them; hook_result is there when asked for and sums with b_O to
// attn_out; the errors (unknown pattern, memory cap, bad batch, unwritable folder). The data:
// repeat / mixed / random / text / token-file sequences, hostile token files refused by name,
// the built-in labels on hand-made sequences, position lists, checkpoint metadata.
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/npy.h"
#include "helpers.h"
#include "interp/cache.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/json.h"
#include "model/rng.h"
#include "train/checkpoint.h"
#include "train/tf_checkpoint.h"

TestSuite(cache);

enum { N = 7, T = 12, V = 13, D = 16, H = 2, DH = 8 };

static Transformer *small_model(int max_batch) {
    TfConfig c = {.n_layers = 2, .d_model = D, .n_heads = H, .d_head = DH, .d_mlp = 32,
                  .n_ctx = T, .d_vocab = V, .act_fn = TF_ACT_GELU_NEW,
                  .normalization_type = TF_NORM_LN, .eps = 1e-5f};
    Transformer *m = tf_create(&c, max_batch);
    cr_assert_not_null(m, "%s", err_msg());
    tf_init_weights(m, 5);
    // Non-zero biases, so every point carries something position- and token-dependent.
    Rng r;
    rng_seed(&r, 6);
    for (int i = 0; i < m->params.count; i++)
        if (strstr(m->params.info[i].name, ".b"))
            rng_fill_normal(&r, m->params.data + m->params.info[i].offset, m->params.info[i].numel,
                            0, 0.1f);
    return m;
}

static CacheData repeat_data(void) {
    CacheData d;
    CacheDataOpts o = {.n_seqs = N, .seed = 3, .use_bos = 1};
    TfConfig c = {.n_ctx = T, .d_vocab = V};
    cr_assert_eq(cache_data_make(&d, "repeat", &c, &o), 0, "%s", err_msg());
    return d;
}

static const char *HOOKS[] = {"blocks.1.hook_resid_post", "blocks.0.attn.hook_pattern",
                              "blocks.1.attn.hook_z", "ln_final.hook_scale"};
static const int POS[] = {1, 3, 4, 11};
enum { P = 4 };

// Checks a cache of the four HOOKS against the full forward's views in `full` (copies).
static void check_against_full(const Cache *c, float *const *full) {
    cr_assert_eq(c->n_points, 4);
    // Forward order: pattern (layer 0), z (layer 1), resid_post (layer 1), ln_final scale.
    const char *order[] = {HOOKS[1], HOOKS[2], HOOKS[0], HOOKS[3]};
    for (int i = 0; i < 4; i++) cr_assert_str_eq(c->points[i].name, order[i]);
    const CachePoint *pat = cache_get(c, HOOKS[1]), *z = cache_get(c, HOOKS[2]),
                     *res = cache_get(c, HOOKS[0]), *sc = cache_get(c, HOOKS[3]);
    int64_t want_pat[] = {N, H, P, T}, want_z[] = {N, P, H, DH}, want_res[] = {N, P, D},
            want_sc[] = {N, P, 1};
    cr_assert(pat->ndim == 4 && !memcmp(pat->shape, want_pat, sizeof want_pat));
    cr_assert(z->ndim == 4 && !memcmp(z->shape, want_z, sizeof want_z));
    cr_assert(res->ndim == 3 && !memcmp(res->shape, want_res, sizeof want_res));
    cr_assert(sc->ndim == 3 && !memcmp(sc->shape, want_sc, sizeof want_sc));
    cr_assert_eq(pat->pos_axis, 2);
    cr_assert_eq(res->pos_axis, 1);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < P; k++) {
            int t = POS[k];
            for (int d = 0; d < D; d++)
                cr_assert_eq(res->data[(n * P + k) * D + d], full[0][(n * T + t) * D + d],
                             "resid_post [%d, %d, %d]", n, k, d);
            for (int h = 0; h < H; h++) {
                for (int s = 0; s < T; s++)
                    cr_assert_eq(pat->data[((n * H + h) * P + k) * T + s],
                                 full[1][((n * H + h) * T + t) * T + s], "pattern [%d,%d,%d,%d]",
                                 n, h, k, s);
                for (int e = 0; e < DH; e++)
                    cr_assert_eq(z->data[((n * P + k) * H + h) * DH + e],
                                 full[2][((n * T + t) * H + h) * DH + e]);
            }
            cr_assert_eq(sc->data[n * P + k], full[3][n * T + t]);
        }
}

static float *copy_act(const Transformer *m, const char *name) {
    Tensor t = tf_act(m, name);
    cr_assert_not_null(t.data, "%s", err_msg());
    float *p = malloc(sizeof(float) * tensor_numel(&t));
    memcpy(p, t.data, sizeof(float) * tensor_numel(&t));
    return p;
}

Test(cache, batched_memory_cache_equals_one_full_forward) {
    Transformer *m = small_model(N);
    CacheData d = repeat_data();
    cr_assert_eq(tf_forward(m, d.tokens, NULL, N, T, NULL, NULL), 0, "%s", err_msg());
    float *full[4];
    for (int i = 0; i < 4; i++) full[i] = copy_act(m, HOOKS[i]);
    Cache c;
    CacheOpts o = {.hooks = HOOKS, .n_hooks = 4, .pos = POS, .n_pos = P, .batch = 3};
    cr_assert_eq(cache_run(m, &d, &o, &c), 0, "%s", err_msg());
    check_against_full(&c, full);
    cr_assert_eq(c.n_pos, P);
    cr_assert_eq(memcmp(c.pos, POS, sizeof POS), 0);
    cache_free(&c);
    cache_free(&c);  // twice is fine
    for (int i = 0; i < 4; i++) free(full[i]);
    cache_data_free(&d);
    tf_free(m);
}

Test(cache, files_hold_the_memory_values_and_load_back) {
    char dir[64], out[128], path[256];
    make_tmpdir(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/acts/deeper", dir);
    Transformer *m = small_model(4);
    CacheData d = repeat_data();
    Cache mem, files;
    CacheOpts o = {.hooks = HOOKS, .n_hooks = 4, .pos = POS, .n_pos = P, .batch = 4};
    cr_assert_eq(cache_run(m, &d, &o, &mem), 0, "%s", err_msg());
    o.out_dir = out;
    o.batch = 2;
    cr_assert_eq(cache_run(m, &d, &o, &files), 0, "%s", err_msg());
    for (int i = 0; i < 4; i++) {
        const CachePoint *p = &mem.points[i];
        cr_assert_null(files.points[i].data);
        snprintf(path, sizeof path, "%s/%s.npy", out, p->name);
        NpyArray a;
        cr_assert_eq(npy_load(&a, path), 0, "%s", err_msg());
        cr_assert_eq(a.dtype, NPY_F32);
        cr_assert_eq(a.ndim, p->ndim);
        cr_assert_eq(memcmp(a.shape, p->shape, sizeof(int64_t) * p->ndim), 0);
        cr_assert_eq(a.numel, p->seq_floats * N);
        cr_assert_eq(memcmp(a.data, p->data, a.numel * sizeof(float)), 0, "%s differs", p->name);
        npy_free(&a);
    }
    snprintf(path, sizeof path, "%s/tokens.npy", out);
    NpyArray a;
    cr_assert_eq(npy_load(&a, path), 0, "%s", err_msg());
    cr_assert(a.dtype == NPY_I32 && a.ndim == 2 && a.shape[0] == N && a.shape[1] == T);
    cr_assert_eq(memcmp(a.data, d.tokens, sizeof(int) * N * T), 0);
    npy_free(&a);
    // index.json lists every file with its shape.
    snprintf(path, sizeof path, "%s/index.json", out);
    JsonDoc doc = {0};
    cr_assert_eq(json_parse_file(&doc, path, 1 << 20), 0, "%s", err_msg());
    cr_assert_str_eq(json_str(json_get(doc.root, "data")), "repeat");
    int64_t v;
    cr_assert_eq(json_get_int(doc.root, "n_seqs", 0, 100, &v), 0);
    cr_assert_eq(v, N);
    cr_assert_eq(json_get_int(doc.root, "repeat_start", 0, 100, &v), 0);
    cr_assert_eq(v, d.repeat_start);
    const JsonValue *pos = json_get(doc.root, "positions"), *hooks = json_get(doc.root, "hooks");
    cr_assert_eq(json_len(pos), P);
    cr_assert_eq(json_len(hooks), 4);
    for (int i = 0; i < 4; i++) {
        const JsonValue *h = json_at(hooks, i), *sh = json_get(h, "shape");
        cr_assert_str_eq(json_str(json_get(h, "name")), mem.points[i].name);
        cr_assert_eq(json_len(sh), (size_t)mem.points[i].ndim);
        for (int k = 0; k < mem.points[i].ndim; k++) {
            cr_assert_eq(json_int(json_at(sh, k), 0, 1 << 20, &v), 0);
            cr_assert_eq(v, mem.points[i].shape[k]);
        }
    }
    json_free(&doc);
    cache_free(&mem);
    cache_free(&files);
    cache_data_free(&d);
    tf_free(m);
    rm_tree(dir);
}

Test(cache, head_results_sum_with_b_O_to_attn_out) {
    Transformer *m = small_model(N);
    CacheData d = repeat_data();
    const char *hooks[] = {"blocks.0.attn.hook_result", "blocks.0.hook_attn_out"};
    Cache c;
    CacheOpts o = {.hooks = hooks, .n_hooks = 2, .batch = 5};
    cr_assert_eq(cache_run(m, &d, &o, &c), 0, "%s", err_msg());
    const CachePoint *res = cache_get(&c, hooks[0]), *out = cache_get(&c, hooks[1]);
    int64_t want[] = {N, T, H, D};
    cr_assert(res->ndim == 4 && !memcmp(res->shape, want, sizeof want));
    const float *bO = params_data(&m->params, "blocks.0.attn.b_O");
    for (int r = 0; r < N * T; r++)
        for (int e = 0; e < D; e++) {
            double s = bO[e];
            for (int h = 0; h < H; h++) s += res->data[(r * H + h) * D + e];
            cr_assert_leq(fabs(s - out->data[r * D + e]), 1e-5, "row %d dim %d", r, e);
        }
    cache_free(&c);
    cache_data_free(&d);
    tf_free(m);
}

Test(cache, errors_name_the_problem) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    Transformer *m = small_model(4);
    CacheData d = repeat_data();
    Cache c;
    const char *bad[] = {"blocks.*.hook_resid_post", "blocks.9.hook_z"};
    CacheOpts o = {.hooks = bad, .n_hooks = 2};
    cr_assert_eq(cache_run(m, &d, &o, &c), -1);
    cr_assert(strstr(err_msg(), "'blocks.9.hook_z' matches no hook point"), "%s", err_msg());
    cr_assert_eq(c.n_points, 0);
    o.n_hooks = 1;
    o.max_bytes = 1000;  // 7 x 12 x 16 x 2 floats do not fit
    cr_assert_eq(cache_run(m, &d, &o, &c), -1);
    cr_assert(strstr(err_msg(), "MB allowed in memory"), "%s", err_msg());
    o.max_bytes = 0;
    o.batch = 5;  // the model holds 4
    cr_assert_eq(cache_run(m, &d, &o, &c), -1);
    cr_assert(strstr(err_msg(), "batch 5"), "%s", err_msg());
    o.batch = 0;  // 0 = the model's max_batch
    const int desc[] = {3, 1};
    o.pos = desc;
    o.n_pos = 2;
    cr_assert_eq(cache_run(m, &d, &o, &c), -1);
    cr_assert(strstr(err_msg(), "ascend"), "%s", err_msg());
    o.pos = NULL;
    // A folder that cannot be made (a file is in the way): nothing is left behind.
    snprintf(path, sizeof path, "%s/file", dir);
    cr_assert_eq(fileio_write_all(path, "x", 1), 0);
    snprintf(path, sizeof path, "%s/file/acts", dir);
    o.out_dir = path;
    cr_assert_eq(cache_run(m, &d, &o, &c), -1);
    cr_assert(strstr(err_msg(), "file"), "%s", err_msg());
    o.out_dir = NULL;
    cr_assert_eq(cache_run(m, &d, &o, &c), 0, "%s", err_msg());
    cr_assert_eq(c.n_points, 2);  // both resid_post points
    cr_assert_null(cache_get(&c, "hook_embed"));
    cr_assert(strstr(err_msg(), "not cached"));
    cache_free(&c);
    // cache_match lists what a pattern matches, in forward order.
    const char **names;
    int n;
    const char *pat[] = {"blocks.*.hook_resid_p*", "hook_embed"};
    cr_assert_eq(cache_match(m, pat, 2, &names, &n), 0);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(names[0], "hook_embed");
    cr_assert_str_eq(names[1], "blocks.0.hook_resid_pre");
    cr_assert_str_eq(names[4], "blocks.1.hook_resid_post");
    free(names);
    cache_data_free(&d);
    tf_free(m);
    rm_tree(dir);
}

// ---- data ------------------------------------------------------------------------------------

Test(cache, synthetic_data_has_its_structure) {
    TfConfig c = {.n_ctx = 16, .d_vocab = V};
    CacheData d, d2;
    CacheDataOpts o = {.n_seqs = 40, .seed = 9, .use_bos = 1};
    cr_assert_eq(cache_data_make(&d, "repeat", &c, &o), 0, "%s", err_msg());
    cr_assert(d.n == 40 && d.T == 16 && d.bos == V - 1);
    cr_assert_eq(d.repeat_start, 1 + 7);
    cr_assert_eq(d.repeat_len, 7);
    for (int i = 0; i < d.n; i++) {
        const int *t = d.tokens + i * 16;
        cr_assert_eq(t[0], V - 1);
        for (int k = 0; k < 7; k++) {
            cr_assert_eq(t[1 + k], t[8 + k]);
            cr_assert(t[1 + k] >= 0 && t[1 + k] < V - 1);
        }
        cr_assert(d.repeats[i]);
    }
    cache_data_free(&d);
    // Mixed: about half repeat; the others' second segment is fresh.
    cr_assert_eq(cache_data_make(&d, "mixed", &c, &o), 0, "%s", err_msg());
    int nrep = 0;
    for (int i = 0; i < d.n; i++) {
        const int *t = d.tokens + i * 16;
        int same = 1;
        for (int k = 0; k < 7; k++) same &= t[1 + k] == t[8 + k];
        cr_assert_eq(same, d.repeats[i], "sequence %d", i);
        nrep += d.repeats[i];
    }
    cr_assert(nrep > 8 && nrep < 32, "%d of 40 repeat", nrep);
    // The same seed gives the same sequences; another seed others.
    cr_assert_eq(cache_data_make(&d2, "mixed", &c, &o), 0);
    cr_assert_eq(memcmp(d.tokens, d2.tokens, sizeof(int) * 40 * 16), 0);
    cache_data_free(&d2);
    o.seed = 10;
    cr_assert_eq(cache_data_make(&d2, "mixed", &c, &o), 0);
    cr_assert_neq(memcmp(d.tokens, d2.tokens, sizeof(int) * 40 * 16), 0);
    cache_data_free(&d2);
    cache_data_free(&d);
    // Random data, a shorter length, no BOS.
    o.seq_len = 5;
    o.use_bos = 0;
    cr_assert_eq(cache_data_make(&d, "random", &c, &o), 0);
    cr_assert(d.T == 5 && d.bos == -1 && d.repeat_start == -1 && !d.repeats);
    for (int i = 0; i < d.n * d.T; i++) cr_assert(d.tokens[i] >= 0 && d.tokens[i] < V);
    cache_data_free(&d);
    // Bad specs and lengths.
    cr_assert_eq(cache_data_make(&d, "repeats", &c, &o), -1);
    cr_assert(strstr(err_msg(), "expected random, repeat, mixed"), "%s", err_msg());
    o.seq_len = 17;
    cr_assert_eq(cache_data_make(&d, "random", &c, &o), -1);
    cr_assert(strstr(err_msg(), "[2, n_ctx = 16]"), "%s", err_msg());
    o.seq_len = 4;
    o.use_bos = 1;
    cr_assert_eq(cache_data_make(&d, "repeat", &c, &o), -1);
    cr_assert(strstr(err_msg(), "at least 4 tokens"), "%s", err_msg());
    cache_data_free(&d);
}

Test(cache, text_and_token_files) {
    char dir[64], path[128], spec[160];
    make_tmpdir(dir, sizeof dir);
    TfConfig c = {.n_ctx = 8, .d_vocab = V};
    CacheData d;
    // Text: windows are substrings of the file, ids by the sorted distinct bytes.
    const char *text = "the cat sat on the mat; the bat ate the hat";  // 12 distinct bytes
    snprintf(path, sizeof path, "%s/t.txt", dir);
    cr_assert_eq(fileio_write_all(path, text, strlen(text)), 0);
    snprintf(spec, sizeof spec, "text:%s", path);
    CacheDataOpts o = {.n_seqs = 20, .seed = 1};
    cr_assert_eq(cache_data_make(&d, spec, &c, &o), 0, "%s", err_msg());
    const char *chars = " ;abcehmnost";  // sorted distinct bytes of the text (12)
    for (int i = 0; i < d.n; i++) {
        char w[9];
        for (int t = 0; t < 8; t++) w[t] = chars[d.tokens[i * 8 + t]];
        w[8] = 0;
        cr_assert_not_null(strstr(text, w), "window '%s' is not in the text", w);
    }
    cache_data_free(&d);
    // With a checkpoint vocabulary that lacks a byte of the file: refused by name.
    o.text_vocab = (const unsigned char *)"abc";
    o.text_vocab_n = 3;
    cr_assert_eq(cache_data_make(&d, spec, &c, &o), -1);
    cr_assert(strstr(err_msg(), path) && strstr(err_msg(), "not in the vocabulary"), "%s",
              err_msg());
    o.text_vocab = NULL;
    // Token files: a good one, its first rows, then hostile ones.
    int64_t tok[3 * 6], sh[3] = {3, 6, 1};
    for (int i = 0; i < 18; i++) tok[i] = (i * 5) % V;
    snprintf(path, sizeof path, "%s/tok.npy", dir);
    snprintf(spec, sizeof spec, "tokens:%s", path);
    cr_assert_eq(npy_save_i64(path, tok, 2, sh), 0);
    o.n_seqs = 0;
    cr_assert_eq(cache_data_make(&d, spec, &c, &o), 0, "%s", err_msg());
    cr_assert(d.n == 3 && d.T == 6 && d.tokens[7] == tok[7]);
    cache_data_free(&d);
    o.n_seqs = 2;
    cr_assert_eq(cache_data_make(&d, spec, &c, &o), 0);
    cr_assert_eq(d.n, 2);
    cache_data_free(&d);
    struct {
        const char *what, *msg;
    } cases[] = {{"3-D", "2-D array"}, {"out of range", "outside the vocabulary"},
                 {"too long", "longer than the model's n_ctx"}, {"float", "integer"},
                 {"bad magic", "not a .npy file"}, {"truncated", "truncated"}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        if (k == 0) cr_assert_eq(npy_save_i64(path, tok, 3, sh), 0);
        if (k == 1) {
            tok[4] = V;
            cr_assert_eq(npy_save_i64(path, tok, 2, sh), 0);
            tok[4] = 0;
        }
        if (k == 2) {
            int64_t s2[2] = {1, 18};
            cr_assert_eq(npy_save_i64(path, tok, 2, s2), 0);
        }
        if (k == 3) {
            float f[18] = {0};
            cr_assert_eq(npy_save_f32(path, f, 2, sh), 0);
        }
        if (k == 4) cr_assert_eq(fileio_write_all(path, "NUMPY\x01\x00", 7), 0);
        if (k == 5) {
            cr_assert_eq(npy_save_i64(path, tok, 2, sh), 0);
            cr_assert_eq(truncate(path, 100), 0);
        }
        cr_assert_eq(cache_data_make(&d, spec, &c, &o), -1, "%s accepted", cases[k].what);
        cr_assert(strstr(err_msg(), path) && strstr(err_msg(), cases[k].msg), "%s: %s",
                  cases[k].what, err_msg());
        cr_assert_null(d.tokens);
    }
    rm_tree(dir);
}

Test(cache, builtin_labels_on_hand_made_sequences) {
    // BOS = 9; "is a repeat" = the token already occurred earlier (BOS excluded).
    int tok[2 * 6] = {9, 5, 6, 5, 7, 6, /**/ 1, 1, 2, 3, 2, 1};
    CacheData d = {.n = 2, .T = 6, .tokens = tok, .vocab = 10, .bos = 9};
    int lab[12];
    cr_assert_eq(cache_label(&d, "repeat", lab), 0);
    int want_rep[12] = {-1, 0, 0, 1, 0, 1, /**/ 0, 1, 0, 0, 1, 1};
    cr_assert_eq(memcmp(lab, want_rep, sizeof lab), 0);
    cr_assert_eq(cache_label(&d, "next", lab), 0);
    int want_next[12] = {5, 6, 5, 7, 6, -1, 1, 2, 3, 2, 1, -1};
    cr_assert_eq(memcmp(lab, want_next, sizeof lab), 0);
    cr_assert_eq(cache_label(&d, "token", lab), 0);
    cr_assert_eq(memcmp(lab, tok, sizeof lab), 0);
    cr_assert_eq(cache_label(&d, "position", lab), 0);
    for (int i = 0; i < 12; i++) cr_assert_eq(lab[i], i % 6);
    cr_assert_eq(cache_label(&d, "colour", lab), -1);
    cr_assert(strstr(err_msg(), "expected repeat, token, next or position"));
}

Test(cache, position_lists) {
    CacheData d = {.n = 1, .T = 10, .repeat_start = 6, .repeat_len = 4};
    struct {
        const char *spec;
        int n;
        int want[10];
    } ok[] = {{"all", 10, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
              {"0,3,5:9,-1", 7, {0, 3, 5, 6, 7, 8, 9}},
              {":-1", 9, {0, 1, 2, 3, 4, 5, 6, 7, 8}},
              {"8:", 2, {8, 9}},
              {"-3:", 3, {7, 8, 9}},
              {"4,2,4,2", 2, {2, 4}},
              {"-20:3", 3, {0, 1, 2}},
              {"repeat", 4, {6, 7, 8, 9}},
              {"first", 4, {2, 3, 4, 5}}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int *pos, n;
        cr_assert_eq(cache_parse_pos(ok[i].spec, &d, &pos, &n), 0, "%s: %s", ok[i].spec,
                     err_msg());
        cr_assert_eq(n, ok[i].n, "%s", ok[i].spec);
        cr_assert_eq(memcmp(pos, ok[i].want, sizeof(int) * n), 0, "%s", ok[i].spec);
        free(pos);
    }
    const char *bad[] = {"x", "1:2:3", "10", "-11", "5:3", "", "1,,2", "1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int *pos, n;
        cr_assert_eq(cache_parse_pos(bad[i], &d, &pos, &n), -1, "'%s' accepted", bad[i]);
        cr_assert_null(pos);
    }
    d.repeat_start = -1;
    int *pos, n;
    cr_assert_eq(cache_parse_pos("repeat", &d, &pos, &n), -1);
    cr_assert(strstr(err_msg(), "only for repeat or mixed data"), "%s", err_msg());
}

Test(cache, checkpoint_metadata_gives_the_data_defaults) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    Transformer *m = small_model(1);
    Meta meta = {0};
    cr_assert_eq(tf_ckpt_meta(&m->cfg, &meta), 0);
    cr_assert_eq(meta_set(&meta, "train_spec", "{\"data\": \"text:x.txt\", \"use_bos\": 1, "
                                               "\"seq_len\": 10, \"batch\": 4}"), 0);
    cr_assert_eq(meta_set(&meta, "text_vocab", "0a2061"), 0);
    cr_assert_eq(ckpt_save_params(path, &m->params, &meta), 0, "%s", err_msg());
    StFile f;
    cr_assert_eq(st_open(&f, path), 0, "%s", err_msg());
    CacheDataOpts o = {0};
    char spec[64];
    unsigned char vocab[256];
    cr_assert_eq(cache_ckpt_data(&f, path, &o, spec, sizeof spec, vocab), 0, "%s", err_msg());
    st_close(&f);
    cr_assert_str_eq(spec, "text:x.txt");
    cr_assert(o.use_bos == 1 && o.seq_len == 10 && o.text_vocab_n == 3);
    cr_assert(o.text_vocab == vocab && !memcmp(vocab, "\n a", 3));
    // Malformed metadata names the file; absent metadata changes nothing.
    cr_assert_eq(meta_set(&meta, "text_vocab", "0a2g"), 0);
    cr_assert_eq(ckpt_save_params(path, &m->params, &meta), 0);
    cr_assert_eq(st_open(&f, path), 0);
    cr_assert_eq(cache_ckpt_data(&f, path, &o, spec, sizeof spec, vocab), -1);
    cr_assert(strstr(err_msg(), path) && strstr(err_msg(), "text_vocab"), "%s", err_msg());
    st_close(&f);
    Meta bare = {0};
    cr_assert_eq(tf_ckpt_meta(&m->cfg, &bare), 0);
    cr_assert_eq(meta_set(&bare, "train_spec", "{\"data\": 3}"), 0);
    cr_assert_eq(ckpt_save_params(path, &m->params, &bare), 0);
    cr_assert_eq(st_open(&f, path), 0);
    cr_assert_eq(cache_ckpt_data(&f, path, &o, spec, sizeof spec, vocab), -1);
    cr_assert(strstr(err_msg(), "train_spec"), "%s", err_msg());
    st_close(&f);
    Meta none = {0};
    cr_assert_eq(tf_ckpt_meta(&m->cfg, &none), 0);
    cr_assert_eq(ckpt_save_params(path, &m->params, &none), 0);
    cr_assert_eq(st_open(&f, path), 0);
    CacheDataOpts o2 = {.seq_len = 7};
    snprintf(spec, sizeof spec, "random");
    cr_assert_eq(cache_ckpt_data(&f, path, &o2, spec, sizeof spec, vocab), 0);
    cr_assert(!strcmp(spec, "random") && o2.seq_len == 7 && !o2.text_vocab);
    st_close(&f);
    tf_free(m);
    rm_tree(dir);
}
