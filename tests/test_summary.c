// summary.json: valid JSON holding every result and check, misses counted.
#include <string.h>

#include "helpers.h"
#include "interp/summary.h"
#include "model/json.h"

TestSuite(summary);

Test(summary, writes_parseable_json_with_results_and_checks) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/summary.json", dir);
    Summary s;
    summary_init(&s, "toy", "Someone et al. \"2022\"");
    summary_num(&s, "loss", 0.25);
    summary_int(&s, "step", 420);
    summary_str(&s, "note", "a<b");
    summary_json(&s, "heads", "[\"L1H2\", \"L1H3\"]");
    summary_check(&s, "loss below 1", 0.25, "< 1 nat", 1);
    summary_check(&s, "score above 0.7", 0.5, ">= 0.7", 0);
    cr_assert_eq(summary_save(&s, path), 0);
    summary_free(&s);
    JsonDoc doc = {0};
    cr_assert_eq(json_parse_file(&doc, path, 1 << 20), 0, "summary.json does not parse");
    const JsonValue *r = json_get(doc.root, "results");
    double v;
    cr_assert_eq(json_get_double(r, "loss", &v), 0);
    cr_assert_eq(v, 0.25);
    cr_assert_str_eq(json_str(json_get(r, "note")), "a<b");
    cr_assert_eq(json_len(json_get(r, "heads")), 2u);
    const JsonValue *c = json_get(doc.root, "checks");
    cr_assert_eq(json_len(c), 2u);
    int pass;
    cr_assert_eq(json_get_bool(json_at(c, 1), "pass", &pass), 0);
    cr_assert_eq(pass, 0);
    double missed;
    cr_assert_eq(json_get_double(doc.root, "checks_missed", &missed), 0);
    cr_assert_eq(missed, 1);
    cr_assert_str_eq(json_str(json_get(doc.root, "reproduces")), "Someone et al. \"2022\"");
    json_free(&doc);
    rm_tree(dir);
}
