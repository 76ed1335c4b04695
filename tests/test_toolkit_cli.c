// The analysis verbs end to end (cache, probe, pca, lens) on a tiny checkpoint trained in-process
// and on arrays with planted structure: cached files load back with the right dtype, shape and
// values (checked against the test's own forward pass); a probe recovers a planted direction
// (cos > 0.99) with its control at chance, and ridge a planted map; PCA recovers a planted
// covariance (|cos| > 0.999, eigenvalues within 1 %) and matches the library on W_pos; the lens's
// components sum to the model's logit and its last layer scores what the model's own
// probabilities say; hostile .npy files given to every verb that reads one exit 1 with
// "mechlab: FILE: ...", never a crash; usage errors exit 2.
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "datasets/npy.h"
#include "helpers.h"
#include "interp/cache.h"
#include "interp/pca.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/json.h"
#include "model/rng.h"
#include "train/tf_checkpoint.h"
#include "train/tf_train.h"

TestSuite(toolkit_cli);

static char dir[64], run[128];

// A tiny transformer trained for a few steps on repeat data with BOS: a real run folder, whose
// metadata (data spec, BOS) the verbs take as their defaults.
static void setup(void) {
    make_tmpdir(dir, sizeof dir);
    snprintf(run, sizeof run, "%s/run", dir);
    train_tiny_transformer(run, 6, 1e-3f, 3);
}

static void teardown(void) { rm_tree(dir); }

static float *load_f32(const char *path, int ndim, const int64_t *shape) {
    NpyArray a;
    cr_assert_eq(npy_load(&a, path), 0, "%s", err_msg());
    cr_assert_eq(a.dtype, NPY_F32, "%s: dtype %s", path, npy_dtype_name(a.dtype));
    cr_assert_eq(a.ndim, ndim, "%s: %d-D", path, a.ndim);
    for (int i = 0; i < ndim; i++)
        cr_assert_eq(a.shape[i], shape[i], "%s: axis %d is %lld, expected %lld", path, i,
                     (long long)a.shape[i], (long long)shape[i]);
    return a.data;  // the caller frees
}

static Transformer *load_run(int max_batch) {
    char path[160];
    snprintf(path, sizeof path, "%s/model.safetensors", run);
    StFile f;
    Transformer *m = tf_ckpt_load(path, max_batch, &f);
    cr_assert_not_null(m, "%s", err_msg());
    st_close(&f);
    return m;
}

Test(toolkit_cli, cache_writes_loadable_files_equal_to_a_forward_pass, .init = setup,
     .fini = teardown) {
    cr_assert_eq(run_clif(dir, "cache %s --hooks 'blocks.*.hook_resid_post,blocks.0.attn.hook_pattern' "
                     "--n-seqs 10 --batch 4 --pos 1:5 --out %s/acts",
                     run, dir),
                 0, "%s", read_in(dir, "err.txt"));
    char *out = read_in(dir, "out.txt");
    cr_assert(strstr(out, "blocks.1.hook_resid_post") && strstr(out, "[10, 4, 16]") &&
                  strstr(out, "[10, 2, 4, 12]"),
              "%s", out);
    free(out);
    char p[256];
    snprintf(p, sizeof p, "%s/acts/tokens.npy", dir);
    NpyArray tk;
    cr_assert_eq(npy_load(&tk, p), 0, "%s", err_msg());
    cr_assert(tk.dtype == NPY_I32 && tk.ndim == 2 && tk.shape[0] == 10 && tk.shape[1] == 12);
    const int32_t *tok = tk.data;
    for (int i = 0; i < 10; i++) cr_assert_eq(tok[i * 12], 11, "BOS from the checkpoint's spec");
    // The test's own forward pass on those tokens.
    Transformer *m = load_run(10);
    int itok[120];
    for (int i = 0; i < 120; i++) itok[i] = tok[i];
    cr_assert_eq(tf_forward(m, itok, NULL, 10, 12, NULL, NULL), 0, "%s", err_msg());
    for (int l = 0; l < 2; l++) {
        snprintf(p, sizeof p, "%s/acts/blocks.%d.hook_resid_post.npy", dir, l);
        int64_t sh[3] = {10, 4, 16};
        float *a = load_f32(p, 3, sh);
        char nm[64];
        snprintf(nm, sizeof nm, "blocks.%d.hook_resid_post", l);
        const float *ref = tf_act(m, nm).data;
        for (int n = 0; n < 10; n++)
            for (int k = 0; k < 4; k++)
                assert_allclose(a + (n * 4 + k) * 16, ref + (n * 12 + 1 + k) * 16, 16, 1e-6, 0);
        free(a);
    }
    snprintf(p, sizeof p, "%s/acts/blocks.0.attn.hook_pattern.npy", dir);
    int64_t psh[4] = {10, 2, 4, 12};
    float *a = load_f32(p, 4, psh);
    const float *ref = tf_act(m, "blocks.0.attn.hook_pattern").data;
    for (int n = 0; n < 10; n++)
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
                assert_allclose(a + ((n * 2 + h) * 4 + k) * 12, ref + ((n * 2 + h) * 12 + 1 + k) * 12,
                                12, 1e-6, 0);
    free(a);
    npy_free(&tk);
    tf_free(m);
    char *idx = read_in(dir, "acts/index.json");
    cr_assert(strstr(idx, "\"positions\": [1, 2, 3, 4]"), "%s", idx);
    free(idx);
    // An unknown hook: exit 1, and the message says how to list the names.
    cr_assert_eq(run_clif(dir, "cache %s --hooks blocks.7.hook_z --out %s/x", run, dir), 1);
    char *err = read_in(dir, "err.txt");
    cr_assert(!strncmp(err, "mechlab: ", 9) && strstr(err, "blocks.7.hook_z") &&
                  strstr(err, "mechlab hooks"),
              "%s", err);
    free(err);
    cr_assert_eq(run_clif(dir, "cache %s --hooks hook_embed", run), 2);
    cr_assert_eq(run_clif(dir, "cache %s --out %s/x", run, dir), 2);
    cr_assert_eq(run_clif(dir, "cache %s --hooks hook_embed --out %s/x --pos 40", run, dir), 1);
    cr_assert_eq(run_clif(dir, "cache %s --hooks hook_embed --out %s/x --batch 0", run, dir), 2);
    cr_assert_eq(run_clif(dir, "cache --help"), 0);
}

// X[n, d] ~ N(0, I) and a random unit w.
static float *gaussian(int n, int d, double *w, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    double nw = 0;
    for (int j = 0; j < d; j++) {
        w[j] = rng_normal(&r);
        nw += w[j] * w[j];
    }
    for (int j = 0; j < d; j++) w[j] /= sqrt(nw);
    float *X = malloc(sizeof(float) * (size_t)n * d);
    rng_fill_normal(&r, X, (size_t)n * d, 0, 1);
    return X;
}

static double cosine(const float *a, const double *b, int d) {
    double s = 0, na = 0, nb = 0;
    for (int j = 0; j < d; j++) {
        s += a[j] * b[j];
        na += (double)a[j] * a[j];
        nb += b[j] * b[j];
    }
    return s / sqrt(na * nb);
}

static double json_num(const JsonValue *o, const char *key) {
    double v = NAN;
    cr_assert_eq(json_get_double(o, key, &v), 0, "%s", err_msg());
    return v;
}

Test(toolkit_cli, probe_recovers_a_planted_direction_with_control_at_chance, .init = setup,
     .fini = teardown) {
    enum { NR = 3000, DD = 24 };
    double w[DD];
    float *X = gaussian(NR, DD, w, 11);
    int64_t lab[NR];
    float y[NR];
    for (int i = 0; i < NR; i++) {
        double s = 0.2;
        for (int j = 0; j < DD; j++) s += w[j] * X[i * DD + j];
        lab[i] = s > 0;
        y[i] = (float)(3 * (s - 0.2) + 1);
    }
    char xp[128], lp[128], yp[128], p[256];
    snprintf(xp, sizeof xp, "%s/acts.npy", dir);
    snprintf(lp, sizeof lp, "%s/labels.npy", dir);
    snprintf(yp, sizeof yp, "%s/targets.npy", dir);
    int64_t xs[2] = {NR, DD}, ls[1] = {NR};
    cr_assert_eq(npy_save_f32(xp, X, 2, xs), 0);
    cr_assert_eq(npy_save_i64(lp, lab, 1, ls), 0);
    cr_assert_eq(npy_save_f32(yp, y, 1, ls), 0);
    cr_assert_eq(run_clif(dir, "probe --npy %s --label file:%s --out %s/p", xp, lp, dir), 0, "%s",
                 read_in(dir, "err.txt"));
    snprintf(p, sizeof p, "%s/p/acts.direction.npy", dir);
    int64_t ds[2] = {1, DD};
    float *dirn = load_f32(p, 2, ds);
    double c = cosine(dirn, w, DD);
    cr_log_info("probe CLI: cos(direction, planted) = %.5f", c);
    cr_assert_gt(c, 0.99, "cos %.5f", c);
    free(dirn);
    // Metrics: accuracy high, control at chance. The control's predictions carry no information
    // about its shuffled labels, so its accuracy is at most the majority rate plus sampling noise
    // (4 standard deviations of a mean of n_test Bernoulli draws).
    JsonDoc doc = {0};
    snprintf(p, sizeof p, "%s/p/metrics.json", dir);
    cr_assert_eq(json_parse_file(&doc, p, 1 << 20), 0, "%s", err_msg());
    const JsonValue *pr = json_at(json_get(doc.root, "probes"), 0);
    double acc = json_num(pr, "test_acc"), ctl = json_num(pr, "control_acc"),
           maj = json_num(pr, "majority"), nt = json_num(pr, "n_test");
    cr_assert_eq(nt, 750);
    cr_log_info("probe CLI: test %.4f control %.4f majority %.4f", acc, ctl, maj);
    cr_assert_gt(acc, 0.97);
    cr_assert_lt(ctl, maj + 4 * 0.5 / sqrt(nt), "control %.4f, majority %.4f", ctl, maj);
    cr_assert_gt(ctl, 1 - maj - 4 * 0.5 / sqrt(nt));
    cr_assert(fabs(json_num(pr, "selectivity") - (acc - ctl)) < 1e-12);
    json_free(&doc);
    char *out = read_in(dir, "out.txt");
    cr_assert(strstr(out, "2 classes") && strstr(out, "acts"), "%s", out);
    free(out);
    snprintf(p, sizeof p, "%s/p/acts.confusion.svg", dir);
    char *svg = read_text(p);
    cr_assert(svg && strstr(svg, "<svg"));
    free(svg);
    // Float targets: ridge recovers the map y = 3 w·x + 1 (R² ≈ 1, direction 3w, bias 1).
    cr_assert_eq(run_clif(dir, "probe --npy %s --label file:%s --out %s/r", xp, yp, dir), 0, "%s",
                 read_in(dir, "err.txt"));
    snprintf(p, sizeof p, "%s/r/acts.direction.npy", dir);
    dirn = load_f32(p, 2, ds);
    for (int j = 0; j < DD; j++) cr_assert_leq(fabs(dirn[j] - 3 * w[j]), 1e-3, "w[%d]", j);
    free(dirn);
    snprintf(p, sizeof p, "%s/r/acts.bias.npy", dir);
    int64_t bs[1] = {1};
    float *b = load_f32(p, 1, bs);
    cr_assert_leq(fabs(b[0] - 1), 1e-3);
    free(b);
    snprintf(p, sizeof p, "%s/r/metrics.json", dir);
    cr_assert_eq(json_parse_file(&doc, p, 1 << 20), 0, "%s", err_msg());
    pr = json_at(json_get(doc.root, "probes"), 0);
    cr_assert_gt(json_num(pr, "test_r2"), 0.99999);
    cr_assert_lt(fabs(json_num(pr, "control_r2")), 0.05);
    json_free(&doc);
    // Labels that do not fit the rows, and usage errors.
    int64_t s2[1] = {NR - 1};
    cr_assert_eq(npy_save_i64(lp, lab, 1, s2), 0);
    cr_assert_eq(run_clif(dir, "probe --npy %s --label file:%s --out %s/p", xp, lp, dir), 1);
    char *err = read_in(dir, "err.txt");
    cr_assert(strstr(err, "mechlab: ") && strstr(err, lp) && strstr(err, "rows"), "%s", err);
    free(err);
    cr_assert_eq(run_clif(dir, "probe --npy %s --label repeat --out %s/p", xp, dir), 2);
    cr_assert_eq(run_clif(dir, "probe --npy %s --label file:%s", xp, lp), 2);
    cr_assert_eq(run_clif(dir, "probe --npy %s --label file:%s --out %s/p --l2 -1", xp, lp, dir), 2);
    free(X);
}

Test(toolkit_cli, probe_sweeps_hook_points_of_a_checkpoint, .init = setup, .fini = teardown) {
    cr_assert_eq(run_clif(dir, "probe %s --hook 'blocks.*.hook_resid_post' --label position --data random "
                     "--n-seqs 40 --pos 2:8 --out %s/sw",
                     run, dir),
                 0, "%s", read_in(dir, "err.txt"));
    char *csv = read_in(dir, "sw/metrics.csv");
    int lines = 0;
    for (char *q = csv; *q; q++) lines += *q == '\n';
    cr_assert_eq(lines, 3, "%s", csv);  // header + two layers
    cr_assert(strstr(csv, "\nblocks.0.hook_resid_post,16,240,") &&
                  strstr(csv, "\nblocks.1.hook_resid_post,16,240,"),
              "%s", csv);
    free(csv);
    char p[256];
    snprintf(p, sizeof p, "%s/sw/blocks.1.hook_resid_post.direction.npy", dir);
    int64_t ds[2] = {6, 16};  // six positions: six classes
    free(load_f32(p, 2, ds));
    char *svg = read_in(dir, "sw/accuracy_by_layer.svg");
    cr_assert(strstr(svg, "<svg") && strstr(svg, "layer"));
    free(svg);
    // "repeat" on repeat data warns that it follows position; BOS rows carry no label.
    cr_assert_eq(run_clif(dir, "probe %s --hook blocks.0.hook_resid_post --label repeat --n-seqs 40 "
                     "--out %s/rp",
                     run, dir),
                 0, "%s", read_in(dir, "err.txt"));
    char *out = read_in(dir, "out.txt");
    cr_assert(strstr(out, "440 rows") && strstr(out, "nearly a function of position"), "%s", out);
    free(out);
    // File labels for a checkpoint: [sequences, positions].
    int64_t lab[40 * 12], sh[2] = {40, 12};
    for (int i = 0; i < 480; i++) lab[i] = (i % 12) >= 6 ? 1 : (i % 12 == 0 ? -1 : 0);
    snprintf(p, sizeof p, "%s/lab.npy", dir);
    cr_assert_eq(npy_save_i64(p, lab, 2, sh), 0);
    cr_assert_eq(run_clif(dir, "probe %s --hook hook_pos_embed --label file:%s --n-seqs 40 --out %s/f", run,
                     p, dir),
                 0, "%s", read_in(dir, "err.txt"));
    out = read_in(dir, "out.txt");
    cr_assert(strstr(out, "440 rows, 2 classes"), "%s", out);
    free(out);
    // Attention patterns are not one row per position.
    cr_assert_eq(run_clif(dir, "probe %s --hook blocks.0.attn.hook_pattern --label token --out %s/x", run,
                     dir),
                 1);
    char *err = read_in(dir, "err.txt");
    cr_assert(strstr(err, "[batch, head, query, key]"), "%s", err);
    free(err);
    cr_assert_eq(run_clif(dir, "probe %s --hook 'blocks.*.attn.hook_pattern' --label token --out %s/x",
                     run, dir),
                 1);
    err = read_in(dir, "err.txt");
    cr_assert(strstr(err, "matches only attention patterns"), "%s", err);
    free(err);
    cr_assert_eq(run_clif(dir, "probe %s --hook hook_embed --label colour --out %s/x", run, dir), 2);
    cr_assert_eq(run_clif(dir, "probe %s --hook hook_zzz --label token --out %s/x", run, dir), 1);
}

Test(toolkit_cli, pca_recovers_a_planted_covariance_and_matches_the_library, .init = setup,
     .fini = teardown) {
    // Planted: rows x = Σ_k sqrt(λ_k) z_k q_k with orthonormal q_k. For n = 300 000 Gaussian rows
    // an eigenvalue's relative standard error is sqrt(2/n) = 0.26 %, so 1 % is 3.9 of them; with
    // these well-separated λ the expected 1 − |cos| of each component is below 1e-5.
    enum { DD = 6 };
    const size_t n = 300000;
    const double lam[DD] = {9, 4, 2, 1, 0.5, 0.25};
    double Q[DD * DD];
    Rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < DD * DD; i++) Q[i] = rng_normal(&r);
    for (int i = 0; i < DD; i++) {  // Gram–Schmidt
        double *qi = Q + i * DD;
        for (int k = 0; k < i; k++) {
            double dot = 0;
            for (int j = 0; j < DD; j++) dot += qi[j] * Q[k * DD + j];
            for (int j = 0; j < DD; j++) qi[j] -= dot * Q[k * DD + j];
        }
        double nr = 0;
        for (int j = 0; j < DD; j++) nr += qi[j] * qi[j];
        for (int j = 0; j < DD; j++) qi[j] /= sqrt(nr);
    }
    float *X = calloc(n * DD, sizeof(float));
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < DD; k++) {
            double a = sqrt(lam[k]) * rng_normal(&r);
            for (int j = 0; j < DD; j++) X[i * DD + j] += (float)(a * Q[k * DD + j]);
        }
    char xp[128], p[256];
    snprintf(xp, sizeof xp, "%s/x.npy", dir);
    int64_t xs[2] = {(int64_t)n, DD};
    cr_assert_eq(npy_save_f32(xp, X, 2, xs), 0);
    free(X);
    cr_assert_eq(run_clif(dir, "pca --npy %s -k 3 --out %s/pc", xp, dir), 0, "%s", read_in(dir, "err.txt"));
    snprintf(p, sizeof p, "%s/pc/components.npy", dir);
    int64_t cs[2] = {3, DD};
    float *comp = load_f32(p, 2, cs);
    for (int k = 0; k < 3; k++) {
        double c = fabs(cosine(comp + k * DD, Q + k * DD, DD));
        cr_assert_gt(c, 0.999, "component %d: |cos| %.6f", k, c);
    }
    free(comp);
    char *csv = read_in(dir, "pc/explained_variance.csv");
    char *line = strchr(csv, '\n') + 1;
    double sum_ratio = 0;
    for (int k = 0; k < DD; k++) {
        int idx;
        double var, ratio, cum;
        cr_assert_eq(sscanf(line, "%d,%lf,%lf,%lf", &idx, &var, &ratio, &cum), 4, "%s", line);
        cr_assert_eq(idx, k + 1);
        cr_assert_lt(fabs(var / lam[k] - 1), 0.01, "eigenvalue %d: %.5f vs %.2f", k, var, lam[k]);
        sum_ratio += ratio;
        line = strchr(line, '\n') + 1;
    }
    cr_assert_lt(fabs(sum_ratio - 1), 1e-6);
    free(csv);
    snprintf(p, sizeof p, "%s/pc/projections.npy", dir);
    int64_t ps[2] = {(int64_t)n, 3};
    free(load_f32(p, 2, ps));
    char *svg = read_in(dir, "pc/scree.svg");
    cr_assert(strstr(svg, "<svg"));
    free(svg);
    svg = read_in(dir, "pc/projection.svg");
    cr_assert(strstr(svg, "<svg"));
    free(svg);

    // W_pos of the checkpoint: the same components as the library on the same matrix.
    cr_assert_eq(run_clif(dir, "pca %s --weight pos_embed.W_pos -k 4 --out %s/wp", run, dir), 0, "%s",
                 read_in(dir, "err.txt"));
    Transformer *m = load_run(1);
    Pca *lib = pca_fit(params_data(&m->params, "pos_embed.W_pos"), 12, 16, 1);
    cr_assert_not_null(lib);
    snprintf(p, sizeof p, "%s/wp/components.npy", dir);
    int64_t ws[2] = {4, 16};
    comp = load_f32(p, 2, ws);
    for (int i = 0; i < 4 * 16; i++) cr_assert_eq(comp[i], (float)lib->components[i]);
    free(comp);
    snprintf(p, sizeof p, "%s/wp/projections.npy", dir);
    int64_t wps[2] = {12, 4};
    free(load_f32(p, 2, wps));
    pca_free(lib);
    tf_free(m);
    // Activations at a hook point: projections keep the [sequences, positions] shape.
    cr_assert_eq(run_clif(dir, "pca %s --hook blocks.1.hook_resid_post --n-seqs 9 --pos repeat -k 2 --out "
                     "%s/hk",
                     run, dir),
                 0, "%s", read_in(dir, "err.txt"));
    snprintf(p, sizeof p, "%s/hk/projections.npy", dir);
    int64_t hs[3] = {9, 5, 2};  // BOS + 5 + 5 + pad: the second segment is 5 positions
    free(load_f32(p, 3, hs));
    cr_assert_eq(run_clif(dir, "pca %s --weight nope --out %s/x", run, dir), 1);
    cr_assert_eq(run_clif(dir, "pca %s --hook 'blocks.*.hook_resid_post' --out %s/x", run, dir), 1);
    cr_assert_eq(run_clif(dir, "pca %s --weight pos_embed.W_pos --hook hook_embed --out %s/x", run, dir), 2);
    cr_assert_eq(run_clif(dir, "pca --npy %s --out %s/x --color token", xp, dir), 2);
}

Test(toolkit_cli, lens_components_sum_to_the_logit_and_last_layer_matches_the_model,
     .init = setup, .fini = teardown) {
    cr_assert_eq(run_clif(dir, "lens %s --n-seqs 20 --batch 8 --pos 3: --out %s/l", run, dir), 0, "%s",
                 read_in(dir, "err.txt"));
    // Rebuild the same sequences (the checkpoint's data spec, seed 0) and run the model.
    Transformer *m = load_run(20);
    char path[160];
    snprintf(path, sizeof path, "%s/model.safetensors", run);
    StFile f;
    cr_assert_eq(st_open(&f, path), 0);
    CacheDataOpts o = {.n_seqs = 20};
    char spec[64];
    unsigned char vocab[256];
    cr_assert_eq(cache_ckpt_data(&f, path, &o, spec, sizeof spec, vocab), 0, "%s", err_msg());
    st_close(&f);
    CacheData d;
    cr_assert_eq(cache_data_make(&d, spec, &m->cfg, &o), 0, "%s", err_msg());
    cr_assert_eq(tf_forward(m, d.tokens, NULL, 20, 12, NULL, NULL), 0);
    const float *logits = tf_act(m, "logits").data, *probs = tf_act(m, "probs").data;
    // Every row of dla.npy sums to the model's logit of the next token at (sequence, position).
    char p[256];
    snprintf(p, sizeof p, "%s/l/dla_rows.npy", dir);
    NpyArray rows;
    cr_assert_eq(npy_load(&rows, p), 0, "%s", err_msg());
    cr_assert(rows.dtype == NPY_I32 && rows.ndim == 2 && rows.shape[1] == 2);
    const int R = (int)rows.shape[0], NC = 2 + 2 * (2 + 1 + 1) + 1;
    cr_assert_eq(R, 20 * 8, "rows: positions 3..10 have a next token");  // 3:12 minus the last
    snprintf(p, sizeof p, "%s/l/dla.npy", dir);
    int64_t as[2] = {R, NC};
    float *attr = load_f32(p, 2, as);
    const int32_t *rc = rows.data;
    double mean_logit = 0, worst = 0;
    for (int i = 0; i < R; i++) {
        int n = rc[2 * i], t = rc[2 * i + 1];
        cr_assert(n >= 0 && n < 20 && t >= 3 && t < 11, "row %d: (%d, %d)", i, n, t);
        double s = 0, want = logits[(n * 12 + t) * 12 + d.tokens[n * 12 + t + 1]];
        for (int j = 0; j < NC; j++) s += attr[i * NC + j];
        worst = fmax(worst, fabs(s - want));
        mean_logit += want / R;
    }
    cr_log_info("lens CLI: max |row sum - logit| %.2e", worst);
    cr_assert_lt(worst, 1e-4);
    free(attr);
    npy_free(&rows);
    // dla.csv means sum to the mean logit.
    char *csv = read_in(dir, "l/dla.csv");
    double tot = 0, v;
    char name[64];
    int nrow = 0;
    for (char *q = strchr(csv, '\n') + 1; *q; q = strchr(q, '\n') + 1, nrow++) {
        cr_assert_eq(sscanf(q, "%63[^,],%lf", name, &v), 2);
        tot += v;
    }
    cr_assert_eq(nrow, NC);
    cr_assert_lt(fabs(tot - mean_logit), 1e-4, "components %.7f, model %.7f", tot, mean_logit);
    free(csv);
    // lens.csv's last stream scores what the model's own probabilities say.
    double lp = 0;
    int right = 0, cnt = 0;
    for (int n = 0; n < 20; n++)
        for (int t = 3; t < 11; t++) {
            const float *pr = probs + (n * 12 + t) * 12;
            int tg = d.tokens[n * 12 + t + 1], arg = 0;
            for (int k = 1; k < 12; k++)
                if (pr[k] > pr[arg]) arg = k;
            right += arg == tg;
            lp += log(pr[tg]);
            cnt++;
        }
    csv = read_in(dir, "l/lens.csv");
    char *last = csv;
    for (int k = 0; k < 3; k++) last = strchr(last, '\n') + 1;  // header, 0 and 1 blocks
    int blocks;
    double acc, mlp, mp;
    cr_assert_eq(sscanf(last, "%d,%lf,%lf,%lf", &blocks, &acc, &mlp, &mp), 4, "%s", csv);
    cr_assert_eq(blocks, 2);
    cr_assert_lt(fabs(acc - (double)right / cnt), 1e-9);
    cr_assert_lt(fabs(mlp - lp / cnt), 1e-5, "%.7f vs %.7f", mlp, lp / cnt);
    free(csv);
    char *svg = read_in(dir, "l/dla.svg");
    cr_assert(strstr(svg, "L1H0") && strstr(svg, "bias"));
    free(svg);
    cache_data_free(&d);
    tf_free(m);
    // A logit difference; a token outside the vocabulary is a usage error.
    cr_assert_eq(run_clif(dir, "lens %s --n-seqs 4 --token 3 --vs 5 --out %s/l2", run, dir), 0, "%s",
                 read_in(dir, "err.txt"));
    char *out = read_in(dir, "out.txt");
    cr_assert(strstr(out, "logit of token 3 minus token 5"), "%s", out);
    free(out);
    cr_assert_eq(run_clif(dir, "lens %s --token 12 --out %s/l3", run, dir), 2);
    cr_assert_eq(run_clif(dir, "lens %s --pos -1 --out %s/l3", run, dir), 1);  // no next token there
}

// ---- hostile .npy files --------------------------------------------------------------------

// A version 1.0 file with the given header dict and payload.
static void write_npy_raw(const char *path, const char *dict, const void *data, size_t n) {
    char hdr[256];
    size_t dl = strlen(dict), total = (10 + dl + 1 + 63) / 64 * 64;
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)((total - 10) & 255);
    hdr[9] = (char)((total - 10) >> 8);
    memcpy(hdr + 10, dict, dl);
    memset(hdr + 10 + dl, ' ', total - 10 - dl);
    hdr[total - 1] = '\n';
    AtomicFile af;
    cr_assert_eq(fileio_begin(&af, path), 0);
    fwrite(hdr, 1, total, af.f);
    if (n) fwrite(data, 1, n, af.f);
    cr_assert_eq(fileio_commit(&af), 0);
}

Test(toolkit_cli, hostile_npy_files_exit_1_with_a_message_naming_the_file, .init = setup,
     .fini = teardown) {
    char good[128], goodlab[128], bad[128];
    snprintf(good, sizeof good, "%s/good.npy", dir);
    snprintf(goodlab, sizeof goodlab, "%s/goodlab.npy", dir);
    snprintf(bad, sizeof bad, "%s/bad.npy", dir);
    float x[8 * 4] = {0};
    for (int i = 0; i < 32; i++) x[i] = (float)((i * 7) % 5);
    int64_t xs[2] = {8, 4}, ls[1] = {8}, lab[8] = {0, 1, 0, 1, 1, 0, 1, 0};
    cr_assert_eq(npy_save_f32(good, x, 2, xs), 0);
    cr_assert_eq(npy_save_i64(goodlab, lab, 1, ls), 0);
    int64_t tok[2 * 6] = {1, 2, 3, 4, 5, 6, 6, 5, 4, 3, 2, 1};
    const struct {
        const char *what, *msg;
    } files[] = {{"bad magic", "not a .npy file"},
                 {"truncated", "truncated"},
                 {"float tokens", "integer"},
                 {"huge shape", "too large"},
                 {"huge shape, no data", "truncated"},
                 {"complex dtype", "unsupported dtype"},
                 {"object dtype", "unsupported dtype"},
                 {"empty file", "empty"}};
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        switch (k) {
        case 0: cr_assert_eq(fileio_write_all(bad, "\x93NUMPX\x01\x00garbage", 15), 0); break;
        case 1: {
            int64_t sh[2] = {2, 6};
            cr_assert_eq(npy_save_i64(bad, tok, 2, sh), 0);
            cr_assert_eq(truncate(bad, 128 + 40), 0);
            break;
        }
        case 2: {
            float ft[12] = {1, 2, 3, 4, 5, 6, 6, 5, 4, 3, 2, 1};
            int64_t sh[2] = {2, 6};
            cr_assert_eq(npy_save_f32(bad, ft, 2, sh), 0);
            break;
        }
        case 3:
            write_npy_raw(bad, "{'descr': '<i8', 'fortran_order': False, 'shape': "
                               "(4294967296, 4294967296, 4294967296), }", tok, 96);
            break;
        case 4:
            write_npy_raw(bad, "{'descr': '<i8', 'fortran_order': False, 'shape': "
                               "(2147483648, 1000), }", tok, 96);
            break;
        case 5:
            write_npy_raw(bad, "{'descr': '<c8', 'fortran_order': False, 'shape': (2, 6), }", tok,
                          96);
            break;
        case 6:
            write_npy_raw(bad, "{'descr': '|O', 'fortran_order': False, 'shape': (2, 6), }", tok,
                          96);
            break;
        case 7: cr_assert_eq(fileio_write_all(bad, "", 0), 0); break;
        }
        const char *cmds[6];
        char c0[400], c1[400], c2[400], c3[400], c4[400], c5[400];
        snprintf(c0, sizeof c0, "eval %s --tokens %s", run, bad);
        snprintf(c1, sizeof c1, "pca --npy %s --out %s/o", bad, dir);
        snprintf(c2, sizeof c2, "probe --npy %s --label file:%s --out %s/o", bad, goodlab, dir);
        snprintf(c3, sizeof c3, "probe --npy %s --label file:%s --out %s/o", good, bad, dir);
        snprintf(c4, sizeof c4, "cache %s --data tokens:%s --hooks hook_embed --out %s/o", run, bad,
                 dir);
        snprintf(c5, sizeof c5, "lens %s --data tokens:%s --out %s/o", run, bad, dir);
        cmds[0] = c0, cmds[1] = c1, cmds[2] = c2, cmds[3] = c3, cmds[4] = c4, cmds[5] = c5;
        for (int c = 0; c < 6; c++) {
            // Float tokens are a fine array for pca and probe labels (ridge): the others only.
            if (k == 2 && (c == 1 || c == 2 || c == 3)) continue;
            int st = run_cli(cmds[c], dir);
            char *err = read_in(dir, "err.txt");
            char want[160];
            snprintf(want, sizeof want, "mechlab: %s: ", bad);
            cr_assert_eq(st, 1, "%s on '%s': exit %d\n%s", files[k].what, cmds[c], st, err);
            cr_assert(!strncmp(err, want, strlen(want)) && strstr(err, files[k].msg),
                      "%s on '%s': %s", files[k].what, cmds[c], err);
            cr_assert_null(strstr(err, "Sanitizer"), "%s", err);
            free(err);
        }
    }
}
