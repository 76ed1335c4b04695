// mechlab sae end to end: on a tiny checkpoint trained in-process the verb writes the SAELens
// folder (which loads back with the right shapes and hook), report.html with its sections,
// features.csv and metrics.json, and prints a loss recovered <= 1 that matches the test's own
// splice of the saved SAE on the same sequences; on activations with planted token and position
// codes (an .npy with tokens.npy beside it) it counts the token- and position-specific features;
// a character-level checkpoint's contexts read as text; bad input (unknown hook, missing --out,
// hostile .npy files) exits 1 or 2 with a message.
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "datasets/npy.h"
#include "helpers.h"
#include "interp/cache.h"
#include "interp/sae.h"
#include "model/err.h"
#include "model/fileio.h"
#include "train/tf_checkpoint.h"
#include "train/tf_train.h"

TestSuite(sae_cli);

static char dir[64], run[128];

// A tiny transformer trained for a few steps on repeat data with BOS (a real run folder).
static void setup(void) {
    make_tmpdir(dir, sizeof dir);
    snprintf(run, sizeof run, "%s/run", dir);
    train_tiny_transformer(run, 20, 3e-3f, 3);
}

static void teardown(void) { rm_tree(dir); }

Test(sae_cli, trains_saves_and_reports_on_a_checkpoint, .init = setup, .fini = teardown) {
    cr_assert_eq(run_clif(dir, "sae %s --hook blocks.0.hook_resid_post --n-seqs 32 --steps 80 "
                     "--sae-batch 64 --d-sae 48 --topk 4 --features 5 --out %s/s",
                     run, dir),
                 0, "%s", read_in(dir, "err.txt"));
    char *out = read_in(dir, "out.txt");
    const char *lr = strstr(out, "loss recovered ");
    cr_assert_not_null(lr, "%s", out);
    double rec, lo, ls, lz;
    cr_assert_eq(sscanf(lr, "loss recovered %lf (L_orig %lf, L_sae %lf, L_zero-ablation %lf)",
                        &rec, &lo, &ls, &lz),
                 4, "%s", out);
    cr_assert(rec <= 1 && isfinite(rec), "loss recovered %g", rec);
    cr_assert(fabs(rec - (lz - ls) / (lz - lo)) < 2e-3, "%g vs the printed losses", rec);
    const char *l0 = strstr(out, "L0 ");
    double vl0, fvu;
    cr_assert(l0 && sscanf(l0, "L0 %lf, FVU %lf", &vl0, &fvu) == 2, "%s", out);
    cr_assert(vl0 > 0 && vl0 <= 4.0001, "TopK 4: L0 %g", vl0);  // never more than k
    cr_assert(fvu >= 0 && fvu < 1, "FVU %g", fvu);
    cr_assert(strstr(out, "token/position-specific"), "%s", out);
    free(out);

    // The SAELens folder loads back as trained.
    char p[256];
    snprintf(p, sizeof p, "%s/s/sae", dir);
    Sae *s = sae_load_saelens(p);
    cr_assert_not_null(s, "%s", err_msg());
    cr_assert(s->cfg.d_in == 16 && s->cfg.d_sae == 48 && s->cfg.arch == SAE_TOPK && s->cfg.k == 4);
    cr_assert_str_eq(s->cfg.hook_name, "blocks.0.hook_resid_post");
    cr_assert_eq(s->cfg.hook_layer, 0);

    // The test's own splice of the saved SAE on the same sequences (the checkpoint's repeat data
    // with BOS, seed 0, 32 sequences, one batch) gives the printed losses.
    snprintf(p, sizeof p, "%s/model.safetensors", run);
    StFile f;
    Transformer *m = tf_ckpt_load(p, 32, &f);
    cr_assert_not_null(m, "%s", err_msg());
    st_close(&f);
    CacheData d;
    CacheDataOpts o = {.n_seqs = 32, .seed = 0, .use_bos = 1};
    cr_assert_eq(cache_data_make(&d, "repeat", &m->cfg, &o), 0, "%s", err_msg());
    int *tg = malloc(sizeof(int) * (size_t)d.n * d.T);
    cache_data_targets(&d, tg);
    SaeLossRecovered r;
    cr_assert_eq(sae_loss_recovered(m, s, "blocks.0.hook_resid_post", d.tokens, tg, d.n, d.T, &r),
                 0, "%s", err_msg());
    cr_assert(fabs(r.loss_orig - lo) < 1e-3 && fabs(r.loss_sae - ls) < 1e-3 &&
                  fabs(r.loss_zero - lz) < 1e-3,
              "ours %g %g %g, printed %g %g %g", r.loss_orig, r.loss_sae, r.loss_zero, lo, ls, lz);
    free(tg);
    cache_data_free(&d);
    tf_free(m);
    sae_free(s);

    char *html = read_in(dir, "s/report.html");
    const char *want[] = {"Summary", "loss recovered", "Feature density", "<svg",
                          "Feature dashboard", "Feature ", "promotes: ", "suppresses: ",
                          "\xe2\x9f\xa6", "BOS", "sae/cfg.json"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert(strstr(html, want[i]), "report.html lacks '%s'", want[i]);
    free(html);
    char *csv = read_in(dir, "s/features.csv");
    cr_assert(!strncmp(csv, "feature,density,top_token,", 26), "%s", csv);
    free(csv);
    char *js = read_in(dir, "s/metrics.json");
    cr_assert(strstr(js, "\"loss_recovered\": ") && strstr(js, "\"token_specific\": "), "%s", js);
    free(js);
}

// A character-level checkpoint (trained from a text file through the CLI): the dashboard's
// contexts read as the text's characters, not as ids, with a space shown as ␣.
Test(sae_cli, text_checkpoint_contexts_read_as_characters, .init = setup, .fini = teardown) {
    char p[256];
    snprintf(p, sizeof p, "%s/words.txt", dir);
    static const char *words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran"};
    char text[4096];
    size_t len = 0;
    uint64_t st = 7;
    while (len < sizeof text - 8) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        len += (size_t)snprintf(text + len, sizeof text - len, "%s ", words[(st >> 33) % 9]);
    }
    cr_assert_eq(fileio_write_all(p, text, len), 0, "%s", err_msg());
    cr_assert_eq(run_clif(dir, "train transformer --data text:%s --layers 1 --d-model 16 --heads 2 --n-ctx 16 "
                     "--steps 20 --batch 8 --eval-batches 1 --threads 1 --out %s/t",
                     p, dir),
                 0, "%s", read_in(dir, "err.txt"));
    cr_assert_eq(run_clif(dir, "sae %s/t --hook blocks.0.hook_resid_post --n-seqs 16 --steps 40 --sae-batch 32 "
                     "--d-sae 16 --topk 2 --features 3 --threads 1 --out %s/s",
                     dir, dir),
                 0, "%s", read_in(dir, "err.txt"));
    char *html = read_in(dir, "s/report.html");
    // the first context: after the opening bracket, one character of the text or ␣, then ⟧
    const char *c = strstr(html, "\xe2\x9f\xa6");  // ⟦
    c = c ? strstr(c + 3, "\xe2\x9f\xa6") : NULL;  // skip the legend's "⟦ ⟧"
    cr_assert_not_null(c, "no context in report.html");
    c += 3;
    int one_char = (strchr("thecasonmdgr", *c) && *c && !strncmp(c + 1, "\xe2\x9f\xa7", 3)) ||
                   !strncmp(c, "\xe2\x90\xa3\xe2\x9f\xa7", 6);  // ␣⟧
    cr_assert(one_char, "context is not one character of the text: %.40s", c);
    cr_assert(strstr(html, "\xe2\x90\xa3"), "no ␣ for a space in any context");
    free(html);
}

// Rows coded one-hot by their token (dims 0..7) and by their position (dims 8..15): a TopK-2
// SAE learns features that each fire on one token or one position, and the verb counts them.
Test(sae_cli, counts_planted_token_and_position_features, .init = setup, .fini = teardown) {
    enum { N = 96, T = 8, D = 16 };
    float *x = calloc((size_t)N * T * D, sizeof(float));
    int64_t tok[N * T];
    uint64_t st = 12345;
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            int k = (int)((st >> 33) % 8);
            tok[n * T + t] = k;
            x[((size_t)n * T + t) * D + k] = 1;
            x[((size_t)n * T + t) * D + 8 + t] = 1;
        }
    char p[256];
    snprintf(p, sizeof p, "%s/acts", dir);
    cr_assert_eq(fileio_mkdirs(p), 0);
    snprintf(p, sizeof p, "%s/acts/x.npy", dir);
    int64_t sx[3] = {N, T, D}, stk[2] = {N, T};
    cr_assert_eq(npy_save_f32(p, x, 3, sx), 0, "%s", err_msg());
    snprintf(p, sizeof p, "%s/acts/tokens.npy", dir);
    cr_assert_eq(npy_save_i64(p, tok, 2, stk), 0, "%s", err_msg());
    free(x);
    cr_assert_eq(run_clif(dir, "sae --npy %s/acts/x.npy --d-sae 32 --topk 2 --steps 600 --sae-batch 64 "
                     "--lr 3e-3 --out %s/s",
                     dir, dir),
                 0, "%s", read_in(dir, "err.txt"));
    char *out = read_in(dir, "out.txt");
    cr_assert(strstr(out, "loss recovered: n/a"), "%s", out);
    const char *q = strstr(out, "activations: ");
    int nt, np, ne;
    cr_assert(q && sscanf(q, "activations: %d token, %d position, %d either", &nt, &np, &ne) == 3,
              "%s", out);
    cr_assert(nt >= 6 && np >= 6, "planted 8 token and 8 position codes; counted %d token, %d "
              "position\n%s", nt, np, out);
    cr_assert(ne >= nt && ne >= np && ne <= nt + np);
    free(out);
    char *html = read_in(dir, "s/report.html");
    cr_assert(strstr(html, "token-specific") && strstr(html, "position-specific"));
    cr_assert_null(strstr(html, "promotes: "), "no checkpoint: no logits");
    free(html);
}

static void expect_fail(int code, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void expect_fail(int code, const char *msg, const char *fmt, ...) {
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int st = run_cli(args, dir);
    char *err = read_in(dir, "err.txt");
    cr_assert_eq(st, code, "'%s': exit %d, expected %d\n%s", args, st, code, err);
    cr_assert(strstr(err, msg), "'%s': stderr lacks '%s':\n%s", args, msg, err);
    cr_assert_null(strstr(err, "Sanitizer"), "%s", err);
    free(err);
}

Test(sae_cli, bad_input_exits_1_or_2_with_a_message, .init = setup, .fini = teardown) {
    expect_fail(1, "matches no hook point", "sae %s --hook blocks.7.hook_nothing --out %s/o", run,
                dir);
    expect_fail(2, "--out DIR is required", "sae %s --hook blocks.0.hook_resid_post", run);
    expect_fail(2, "--hook HOOK is required", "sae %s --out %s/o", run, dir);
    expect_fail(2, "matches 2 hook points", "sae %s --hook 'blocks.*.hook_resid_post' --out %s/o",
                run, dir);
    expect_fail(2, "more than the", "sae %s --hook hook_embed --d-sae 4 --topk 5 --out %s/o", run,
                dir);
    expect_fail(2, "do not go together", "sae %s --hook hook_embed --l1 1 --topk 5 --out %s/o",
                run, dir);
    expect_fail(1, "[batch, head, query, key]",
                "sae %s --hook blocks.0.attn.hook_pattern --steps 2 --out %s/o", run, dir);

    // Hostile activation files: a bad magic, a truncated payload, a NaN, a 1-D array.
    char bad[128], want[200];
    snprintf(bad, sizeof bad, "%s/bad.npy", dir);
    snprintf(want, sizeof want, "mechlab: %s: ", bad);
    cr_assert_eq(fileio_write_all(bad, "\x93NUMPX\x01\x00garbage", 15), 0);
    expect_fail(1, want, "sae --npy %s --out %s/o", bad, dir);
    float xs[64] = {0};
    int64_t sh[2] = {8, 8};
    cr_assert_eq(npy_save_f32(bad, xs, 2, sh), 0);
    cr_assert_eq(truncate(bad, 128 + 40), 0);
    expect_fail(1, "truncated", "sae --npy %s --out %s/o", bad, dir);
    xs[9] = NAN;
    cr_assert_eq(npy_save_f32(bad, xs, 2, sh), 0);
    expect_fail(1, "not finite", "sae --npy %s --out %s/o", bad, dir);
    int64_t sh1[1] = {64};
    cr_assert_eq(npy_save_f32(bad, xs, 1, sh1), 0);
    expect_fail(1, "expected [sequences, positions, d]", "sae --npy %s --out %s/o", bad, dir);
    // A tokens.npy beside the activations with an id outside the checkpoint's vocabulary.
    char good[128], tk[128];
    snprintf(good, sizeof good, "%s/acts.npy", dir);
    snprintf(tk, sizeof tk, "%s/tokens.npy", dir);
    float xg[2 * 4 * 16];
    for (int i = 0; i < 2 * 4 * 16; i++) xg[i] = (float)((i * 7) % 5);
    int64_t sg[3] = {2, 4, 16}, st2[2] = {2, 4}, tv[8] = {1, 2, 3, 4, 5, 6, 7, 99};
    cr_assert_eq(npy_save_f32(good, xg, 3, sg), 0);
    cr_assert_eq(npy_save_i64(tk, tv, 2, st2), 0);
    expect_fail(1, "token 99", "sae --npy %s %s --hook blocks.0.hook_resid_post --out %s/o", good,
                run, dir);
}
