// The induction experiment end to end, shortened to seconds: `mechlab run induction` on a tiny
// 2-layer model learns to predict the repeated half better than the random half, and writes its
// run folder; `mechlab heads` analyses the checkpoint it wrote.
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "model/err.h"
#include "model/json.h"

TestSuite(induction);

static double get_num(const JsonValue *o, const char *key) {
    double v = NAN;
    cr_assert_eq(json_get_double(o, key, &v), 0, "%s", err_msg());
    return v;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

Test(induction, short_run_learns_the_repeated_half_and_writes_its_folder, .timeout = 120) {
    char dir[64], out[128], args[512], path[256];
    make_tmpdir(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/run", dir);
    snprintf(args, sizeof args,
             "run induction --out %s --heads 2 --d-model 32 --vocab 16 --n-ctx 24 --batch 16 "
             "--steps 500 --lr 3e-3 --eval-every 50 --control-steps 60 --seed 0",
             out);
    int rc = run_cli(args, dir);
    snprintf(path, sizeof path, "%s/err.txt", dir);
    char *err = read_text(path);
    // A model this small misses some of the full-size checks; a completed run still exits 0
    // (a miss is a result); an error would print "mechlab: ..." and exit 1.
    cr_assert_eq(rc, 0, "mechlab run induction exited %d: %s", rc, err ? err : "");
    cr_assert_null(strstr(err ? err : "", "mechlab:"), "%s", err);
    free(err);

    snprintf(path, sizeof path, "%s/summary.json", out);
    JsonDoc doc = {0};
    cr_assert_eq(json_parse_file(&doc, path, 1 << 24), 0, "%s", err_msg());
    const JsonValue *model = json_get(json_get(doc.root, "results"), "model");
    cr_assert_not_null(model, "summary.json has results.model");
    double first = get_num(model, "loss_first_half"), rep = get_num(model, "loss_repeat_half");
    // The repeated half is predictable by looking back; the first is not (ln 15 = 2.71 with BOS).
    cr_assert_lt(rep, first - 0.3, "repeated half %.3f vs first half %.3f", rep, first);
    cr_assert_gt(first, log(15.0) - 0.5);
    cr_assert_eq(json_len(json_get(model, "heads")), 4, "a row per head");
    cr_assert_not_null(json_get(json_get(doc.root, "results"), "control"));
    cr_assert(json_len(json_get(doc.root, "checks")) >= 8);
    json_free(&doc);

    // metrics.csv: a header with every head's scores, and a row per evaluation (10 + the end).
    snprintf(path, sizeof path, "%s/metrics.csv", out);
    char *csv = read_text(path);
    cr_assert_not_null(csv);
    cr_assert(strstr(csv, ",loss_repeat_half,icl_score,L0H0_prev,L0H0_dup,L0H0_ind,L0H0_prefix,"));
    cr_assert(strstr(csv, "L1H1_prefix\n"));
    cr_assert_eq(count_lines(csv), 11, "header + 10 evaluations");
    free(csv);
    const char *files[] = {"model.safetensors", "report.html", "loss.svg", "control/metrics.csv",
                           "control/model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", out, files[i]);
        char *t = read_text(path);
        cr_assert_not_null(t, "%s missing", files[i]);
        free(t);
    }
    snprintf(path, sizeof path, "%s/report.html", out);
    char *html = read_text(path);
    cr_assert(strstr(html, "<svg") && strstr(html, "K-composition") && strstr(html, "1-layer control"));
    free(html);

    // mechlab heads on the checkpoint the run wrote.
    snprintf(args, sizeof args, "heads %s --out %s/heads --n 32", out, dir);
    rc = run_cli(args, dir);
    cr_assert_eq(rc, 0, "mechlab heads exited %d", rc);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    char *txt = read_text(path);
    cr_assert(strstr(txt, "K-composition") && strstr(txt, "L1H1"), "%s", txt);
    free(txt);
    snprintf(path, sizeof path, "%s/heads/heads.csv", dir);
    csv = read_text(path);
    cr_assert_not_null(csv);
    cr_assert_eq(count_lines(csv), 5, "header + 4 heads");
    free(csv);
    rm_tree(dir);
}

// mechlab heads on a checkpoint from `mechlab train transformer` (MLPs, no LayerNorm, no BOS).
Test(induction, heads_on_any_transformer_checkpoint, .timeout = 60) {
    char dir[64], args[512], path[256];
    make_tmpdir(dir, sizeof dir);
    snprintf(args, sizeof args,
             "train transformer --out %s/tf --layers 3 --d-model 16 --heads 2 --n-ctx 12 "
             "--vocab 10 --norm none --steps 3 --batch 4",
             dir);
    cr_assert_eq(run_cli(args, dir), 0);
    snprintf(args, sizeof args, "heads %s/tf --n 8 --raw-ln --out %s/h", dir, dir);
    cr_assert_eq(run_cli(args, dir), 0);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    char *txt = read_text(path);
    // No BOS was trained, so none is used: two copies of 6.
    cr_assert(strstr(txt, "sequences of 12 tokens (no BOS, a segment of 6 twice)") &&
              strstr(txt, "L2H1"), "%s", txt);
    cr_assert(strstr(txt, "layer 1 heads (rows) into layer 2"), "composition of every layer pair");
    free(txt);
    snprintf(path, sizeof path, "%s/h/heads.json", dir);
    JsonDoc doc = {0};
    cr_assert_eq(json_parse_file(&doc, path, 1 << 20), 0, "%s", err_msg());
    cr_assert_eq(json_len(json_get(doc.root, "heads")), 6);
    cr_assert_eq(json_len(json_get(doc.root, "composition_k")), 2 * 2 * 2);
    json_free(&doc);
    rm_tree(dir);
}

// --layers 1 runs only the 1-layer configuration, with the control's checks.
Test(induction, one_layer_runs_the_control_alone, .timeout = 60) {
    char dir[64], args[512], path[256];
    make_tmpdir(dir, sizeof dir);
    snprintf(args, sizeof args,
             "run induction --out %s/run --layers 1 --heads 2 --d-model 16 --vocab 12 --n-ctx 16 "
             "--batch 8 --steps 40 --eval-every 20",
             dir);
    int rc = run_cli(args, dir);
    cr_assert_eq(rc, 0, "exit %d", rc);
    snprintf(path, sizeof path, "%s/run/summary.json", dir);
    JsonDoc doc = {0};
    cr_assert_eq(json_parse_file(&doc, path, 1 << 24), 0, "%s", err_msg());
    const JsonValue *res = json_get(doc.root, "results");
    cr_assert_not_null(json_get(res, "control"));
    cr_assert_null(json_get(res, "model"));
    cr_assert_eq(json_len(json_get(doc.root, "checks")), 3);
    json_free(&doc);
    rm_tree(dir);
}

Test(induction, usage_errors_exit_2) {
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    cr_assert_eq(run_cli("run induction --layers 0", dir), 2);
    cr_assert_eq(run_cli("run induction --d-model 30 --heads 4", dir), 2);
    cr_assert_eq(run_cli("run induction --bogus", dir), 2);
    cr_assert_eq(run_cli("heads", dir), 2);
    cr_assert_eq(run_cli("heads /nonexistent.safetensors", dir), 1);
    cr_assert_eq(run_cli("run induction --help", dir), 0);
    cr_assert_eq(run_cli("heads --help", dir), 0);
    rm_tree(dir);
}
