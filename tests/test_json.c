// JSON reader: every value type, escapes and UTF-8 against hand-encoded bytes, exact integers,
// and hostile input (depth bombs, bad escapes, lone surrogates, trailing garbage, duplicates),
// each with the message fragment and byte offset it must report.
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "model/err.h"
#include "model/json.h"

TestSuite(json);

// Parses s (strlen) and returns the doc; fails the test on error.
static JsonDoc ok(const char *s) {
    JsonDoc d = {0};
    int rc = json_parse(&d, s, strlen(s));
    cr_assert_eq(rc, 0, "parse of %s failed: %s", s, err_msg());
    cr_assert_not_null(d.root);
    return d;
}

// Parse must fail with a message containing every fragment given.
static void bad_n(const char *s, size_t n, const char *frag1, const char *frag2) {
    JsonDoc d = {0};
    err_clear();
    cr_assert_eq(json_parse(&d, s, n), -1, "accepted: %.60s", s);
    cr_assert_null(d.root);
    cr_assert_null(d.chunks, "arena not released on failure");
    cr_assert(strstr(err_msg(), frag1), "input %.40s: message '%s' lacks '%s'", s, err_msg(),
              frag1);
    if (frag2)
        cr_assert(strstr(err_msg(), frag2), "input %.40s: message '%s' lacks '%s'", s, err_msg(),
                  frag2);
    json_free(&d);
}
static void bad(const char *s, const char *frag1, const char *frag2) {
    bad_n(s, strlen(s), frag1, frag2);
}

Test(json, parses_every_type_in_order) {
    JsonDoc d = ok(" {\"a\": [1, -2.5e3, true, false, null, \"x\"], \"b\": {}, \"c\": [] } ");
    const JsonValue *r = d.root;
    cr_assert_eq(r->type, JSON_OBJECT);
    cr_assert_eq(json_len(r), 3u);
    cr_assert_eq(r->offset, 1u);
    cr_assert_str_eq(json_at(r, 0)->key, "a");
    cr_assert_str_eq(json_at(r, 2)->key, "c");
    const JsonValue *a = json_get(r, "a");
    cr_assert_eq(json_len(a), 6u);
    cr_assert_eq(json_at(a, 0)->type, JSON_NUMBER);
    cr_assert_eq(json_at(a, 0)->u.num.d, 1.0);
    cr_assert(json_at(a, 0)->is_int);
    cr_assert_eq(json_at(a, 1)->u.num.d, -2500.0);
    cr_assert_not(json_at(a, 1)->is_int);
    cr_assert_eq(json_at(a, 1)->offset, 11u);
    cr_assert(json_at(a, 2)->type == JSON_BOOL && json_at(a, 2)->u.boolean == 1);
    cr_assert(json_at(a, 3)->type == JSON_BOOL && json_at(a, 3)->u.boolean == 0);
    cr_assert_eq(json_at(a, 4)->type, JSON_NULL);
    cr_assert_str_eq(json_str(json_at(a, 5)), "x");
    cr_assert_null(json_at(a, 6));
    cr_assert(json_is(json_get(r, "b"), JSON_OBJECT) && json_len(json_get(r, "b")) == 0);
    cr_assert(json_is(json_get(r, "c"), JSON_ARRAY) && json_len(json_get(r, "c")) == 0);
    cr_assert_null(json_get(r, "zz"));
    cr_assert_null(json_get(a, "a"), "json_get on an array");
    cr_assert_null(json_str(json_get(json_get(r, "nope"), "deeper")), "NULL chains are safe");
    json_free(&d);
    json_free(&d);  // twice is fine
}

Test(json, top_level_scalars_and_whitespace) {
    JsonDoc d = ok("\t\r\n 42 \n");
    cr_assert_eq(d.root->u.num.i, 42);
    json_free(&d);
    d = ok("\"s\"");
    cr_assert_str_eq(json_str(d.root), "s");
    json_free(&d);
    d = ok("null");
    cr_assert_eq(d.root->type, JSON_NULL);
    json_free(&d);
}

Test(json, does_not_read_past_len) {
    // The text is followed by bytes that would make it invalid if read.
    const char s[] = "[1,2]xyz";
    JsonDoc d = {0};
    cr_assert_eq(json_parse(&d, s, 5), 0, "%s", err_msg());
    cr_assert_eq(json_len(d.root), 2u);
    json_free(&d);
    bad_n("\"abc\"", 4, "unterminated string", "byte 0");
    bad_n("12345", 0, "unexpected end", NULL);
}

Test(json, escapes_decode_to_the_right_bytes) {
    JsonDoc d = ok("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", \"\\ud83d\\ude00\", "
                   "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\", \"\\u0041\\u007f\"]");
    cr_assert_str_eq(json_str(json_at(d.root, 0)), "\"\\/\b\f\n\r\t");
    // U+00E9 = C3 A9, U+20AC = E2 82 AC (hand-encoded per RFC 3629)
    cr_assert_str_eq(json_str(json_at(d.root, 1)), "\xc3\xa9\xe2\x82\xac");
    // U+1F600 = surrogates D83D DE00 = F0 9F 98 80
    cr_assert_str_eq(json_str(json_at(d.root, 2)), "\xf0\x9f\x98\x80");
    cr_assert_eq(json_at(d.root, 2)->u.str.len, 4u);
    cr_assert_str_eq(json_str(json_at(d.root, 3)), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    cr_assert_str_eq(json_str(json_at(d.root, 4)), "A\x7f");
    json_free(&d);
}

Test(json, exact_integers_and_integer_checks) {
    JsonDoc d = ok("[9007199254740993, -9223372036854775808, 9223372036854775807, "
                   "9223372036854775808, 1.0, 1e3, -5, -0, 0]");
    const JsonValue *r = d.root;
    int64_t v;
    // 2^53 + 1 is not a double, but the integer path keeps it exact.
    cr_assert_eq(json_int(json_at(r, 0), 0, INT64_MAX, &v), 0);
    cr_assert_eq(v, 9007199254740993LL);
    cr_assert_eq(json_int(json_at(r, 1), INT64_MIN, INT64_MAX, &v), 0);
    cr_assert_eq(v, INT64_MIN);
    cr_assert_eq(json_int(json_at(r, 2), 0, INT64_MAX, &v), 0);
    cr_assert_eq(v, INT64_MAX);
    cr_assert_eq(json_int(json_at(r, 3), 0, INT64_MAX, &v), -1, "2^63 does not fit");
    cr_assert(strstr(err_msg(), "beyond 64-bit"), "%s", err_msg());
    cr_assert_eq(json_at(r, 3)->u.num.d, 9223372036854775808.0);
    cr_assert_eq(json_int(json_at(r, 4), 0, 10, &v), -1, "1.0 is not an integer literal");
    cr_assert(strstr(err_msg(), "expected an integer") && strstr(err_msg(), "byte 83") &&
                  strstr(err_msg(), "fraction or exponent"), "%s",
              err_msg());
    cr_assert_eq(json_int(json_at(r, 5), 0, 10000, &v), -1, "1e3 is not an integer literal");
    cr_assert_eq(json_int(json_at(r, 6), 0, 10, &v), -1, "negative where >= 0 required");
    cr_assert(strstr(err_msg(), "-5 out of range [0, 10]"), "%s", err_msg());
    cr_assert_eq(json_int(json_at(r, 7), 0, 10, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert(signbit(json_at(r, 7)->u.num.d), "-0 keeps its sign as a double");
    cr_assert_eq(json_int(json_at(r, 8), 1, 10, &v), -1);
    double x;
    cr_assert_eq(json_double(json_at(r, 5), &x), 0);
    cr_assert_eq(x, 1000.0);
    cr_assert_eq(json_int(NULL, 0, 1, &v), -1);
    json_free(&d);
}

Test(json, doubles_parse_exactly) {
    JsonDoc d = ok("[0.1, -2.5E-3, 1e-400, 123456789.125, 1.7976931348623157e308, 5e-324]");
    const JsonValue *r = d.root;
    cr_assert_eq(json_at(r, 0)->u.num.d, 0.1);
    cr_assert_eq(json_at(r, 1)->u.num.d, -0.0025);
    cr_assert_eq(json_at(r, 2)->u.num.d, 0.0, "underflow reads as 0");
    cr_assert_eq(json_at(r, 3)->u.num.d, 123456789.125);
    cr_assert_eq(json_at(r, 4)->u.num.d, 1.7976931348623157e308);
    cr_assert_eq(json_at(r, 5)->u.num.d, 4.9406564584124654e-324);
    json_free(&d);
}

Test(json, bad_numbers) {
    bad("[1e400]", "out of range", "byte 1");
    bad("[-1e400]", "out of range", NULL);
    bad("01", "leading zero", "byte 0");
    bad("[-01]", "leading zero", NULL);
    bad("[1.]", "no digit after '.'", NULL);
    bad("[.5]", "expected a value", "byte 1");
    bad("[-]", "invalid number", NULL);
    bad("[+1]", "expected a value", NULL);
    bad("[1e]", "exponent", NULL);
    bad("[1e+]", "exponent", NULL);
    bad("[NaN]", "expected a value", NULL);
    bad("[Infinity]", "expected a value", NULL);
    bad("[0x10]", "expected ',' or ']'", NULL);
}

Test(json, depth_bomb_is_rejected_without_recursion) {
    size_t n = 100000;
    char *s = malloc(n);
    memset(s, '[', n);
    bad_n(s, n, "nesting too deep", "byte 256");
    memset(s, '{', n);
    bad_n(s, n, "expected a string key", NULL);  // '{{' is not a key
    // {"a":{"a":... 100000 deep
    size_t m = 100000 * 5;
    char *t = malloc(m);
    for (size_t i = 0; i < m; i += 5) memcpy(t + i, "{\"a\":", 5);
    bad_n(t, m, "nesting too deep", NULL);
    free(t);
    // exactly JSON_MAX_DEPTH levels are fine, one more is not
    for (size_t i = 0; i < JSON_MAX_DEPTH; i++) s[i] = '[';
    for (size_t i = 0; i < JSON_MAX_DEPTH; i++) s[JSON_MAX_DEPTH + i] = ']';
    JsonDoc d = {0};
    cr_assert_eq(json_parse(&d, s, 2 * JSON_MAX_DEPTH), 0, "%s", err_msg());
    json_free(&d);
    memset(s, '[', JSON_MAX_DEPTH + 1);
    memset(s + JSON_MAX_DEPTH + 1, ']', JSON_MAX_DEPTH + 1);
    bad_n(s, 2 * (JSON_MAX_DEPTH + 1), "nesting too deep", NULL);
    free(s);
}

Test(json, bad_escapes) {
    bad("\"a\\qb\"", "invalid escape", "byte 2");
    bad("\"\\x41\"", "invalid escape", NULL);
    bad("\"\\u12\"", "bad \\u escape", "byte 1");
    bad("\"\\u12G4\"", "bad \\u escape", NULL);
    bad("\"\\u\"", "bad \\u escape", NULL);
    bad("\"\\", "unterminated string", NULL);
    bad("\"\\\"", "unterminated string", NULL);
    bad("\"\\u0000\"", "\\u0000", NULL);
}

Test(json, lone_surrogates) {
    bad("\"\\ud800\"", "high surrogate", "byte 1");
    bad("\"\\udc00\"", "lone low surrogate", NULL);
    bad("\"\\ud800\\u0041\"", "high surrogate", NULL);
    bad("\"\\ud800\\ud800\"", "high surrogate", NULL);
    bad("\"\\ud800x\"", "high surrogate", NULL);
    bad("\"\\ud83d\\ude0\"", "high surrogate", NULL);
}

Test(json, trailing_garbage) {
    bad("{} x", "trailing characters", "byte 3");
    bad("[1] ]", "trailing characters", "byte 4");
    bad("1 2", "trailing characters", NULL);
    bad("\"a\"\"b\"", "trailing characters", NULL);
    bad("truex", "trailing characters", NULL);
    bad("nul", "expected a value", NULL);
}

Test(json, unterminated_and_empty) {
    bad("", "unexpected end", "byte 0");
    bad("   ", "unexpected end", "byte 3");
    bad("\"abc", "unterminated string", "byte 0");
    bad("[1,2", "unterminated array", "byte 0");
    bad("[1,", "unexpected end", NULL);
    bad("{\"a\":1", "unterminated object", NULL);
    bad("{\"a\"", "expected ':'", NULL);
    bad("{\"a\":", "unexpected end", NULL);
    bad("{", "unexpected end inside an object", NULL);
}

Test(json, structural_errors) {
    bad("[1,]", "expected a value", "byte 3");
    bad("{\"a\":1,}", "expected a string key", NULL);
    bad("[1 2]", "expected ',' or ']'", "byte 3");
    bad("{\"a\" 1}", "expected ':'", NULL);
    bad("{\"a\":1 \"b\":2}", "expected ',' or '}'", NULL);
    bad("{1:2}", "expected a string key", NULL);
    bad("[,]", "expected a value", NULL);
    bad("[}", "expected a value", NULL);
    bad("{]", "expected a string key", NULL);
    bad("[1}", "expected ',' or ']'", NULL);
    bad("\xef\xbb\xbf{}", "unexpected character", "byte 0");  // a BOM is not JSON
}

Test(json, control_characters_in_strings) {
    bad("\"a\x01b\"", "control character", "byte 2");
    bad("\"a\nb\"", "control character", NULL);
    bad("\"tab\there\"", "control character", NULL);
    const char nul[] = "\"a\0b\"";
    bad_n(nul, 5, "control character", "byte 2");
}

Test(json, invalid_utf8_in_strings) {
    bad("\"\xc0\x80\"", "invalid UTF-8", "byte 1");          // overlong NUL
    bad("\"\xe0\x80\xaf\"", "invalid UTF-8", NULL);          // overlong '/'
    bad("\"\xed\xa0\x80\"", "invalid UTF-8", NULL);          // encoded surrogate
    bad("\"\xf4\x90\x80\x80\"", "invalid UTF-8", NULL);      // > U+10FFFF
    bad("\"\xf5\x80\x80\x80\"", "invalid UTF-8", NULL);
    bad("\"\xe2\x82\"", "invalid UTF-8", NULL);              // truncated sequence
    bad("\"\x80\"", "invalid UTF-8", NULL);                  // lone continuation
    bad("\"\xff\"", "invalid UTF-8", NULL);
    cr_assert(json_utf8_valid("\xf4\x8f\xbf\xbf", 4), "U+10FFFF is valid");
    cr_assert_not(json_utf8_valid("\xf4\x8f\xbf", 3));
}

Test(json, duplicate_keys_are_reported) {
    bad("{\"a\":1,\"b\":2,\"a\":3}", "duplicate key 'a'", "byte 17");
    bad("{\"x\":{\"k\":1,\"k\":1}}", "duplicate key 'k'", NULL);
    // a big object takes the sorting path
    Buf b = {0};
    buf_puts(&b, "{");
    for (int i = 0; i < 1000; i++) buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
    buf_puts(&b, "}");
    JsonDoc d = ok(b.p);
    cr_assert_eq(json_len(d.root), 1000u);
    int64_t v;
    cr_assert_eq(json_get_int(d.root, "k777", 0, 10000, &v), 0);
    cr_assert_eq(v, 777);
    json_free(&d);
    b.len -= 1;
    buf_puts(&b, ",\"k500\":0}");
    bad(b.p, "duplicate key 'k500'", NULL);
    buf_free(&b);
    // keys equal after unescaping are the same key
    bad("{\"A\":1,\"\\u0041\":2}", "duplicate key 'A'", NULL);
}

Test(json, member_getters_name_the_key) {
    JsonDoc d = ok("{\"name\": \"tf\", \"lr\": 0.001, \"layers\": 2, \"ln\": true, \"n\": \"3\"}");
    const char *s;
    double x;
    int64_t i;
    int b;
    cr_assert_eq(json_get_string(d.root, "name", &s), 0);
    cr_assert_str_eq(s, "tf");
    cr_assert_eq(json_get_double(d.root, "lr", &x), 0);
    cr_assert_eq(x, 0.001);
    cr_assert_eq(json_get_int(d.root, "layers", 1, 8, &i), 0);
    cr_assert_eq(i, 2);
    cr_assert_eq(json_get_bool(d.root, "ln", &b), 0);
    cr_assert_eq(b, 1);
    cr_assert_eq(json_get_int(d.root, "n", 0, 8, &i), -1);
    cr_assert(strstr(err_msg(), "key 'n'") && strstr(err_msg(), "got string"), "%s", err_msg());
    cr_assert_eq(json_get_string(d.root, "missing", &s), -1);
    cr_assert(strstr(err_msg(), "missing key 'missing'"), "%s", err_msg());
    cr_assert_eq(json_get_int(d.root, "layers", 3, 8, &i), -1);
    cr_assert(strstr(err_msg(), "key 'layers'") && strstr(err_msg(), "out of range"), "%s",
              err_msg());
    cr_assert_eq(json_get_bool(json_get(d.root, "lr"), "x", &b), -1, "not an object");
    cr_assert(strstr(err_msg(), "expected an object"), "%s", err_msg());
    json_free(&d);
}

Test(json, number_formatting_round_trips) {
    const float fs[] = {0.1f, -3.4028235e38f, 1.17549435e-38f, 1e-45f, 123456.789f, -0.0f, 1.0f / 3};
    const double ds[] = {0.1, 1.0 / 3, -1.7976931348623157e308, 5e-324, 1e22};
    Buf b = {0};
    buf_puts(&b, "[");
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
        json_put_float(&b, fs[i]);
        buf_puts(&b, ",");
    }
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        json_put_double(&b, ds[i]);
        buf_puts(&b, ",");
    }
    json_put_float(&b, NAN);
    buf_puts(&b, ",");
    json_put_double(&b, -INFINITY);
    buf_puts(&b, "]");
    JsonDoc d = ok(b.p);
    size_t k = 0;
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++, k++) {
        float back = (float)json_at(d.root, k)->u.num.d;
        cr_assert_eq(memcmp(&back, &fs[i], 4), 0, "float %zu: %.9g vs %.9g (%s)", i,
                     (double)back, (double)fs[i], b.p);
    }
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++, k++)
        cr_assert_eq(json_at(d.root, k)->u.num.d, ds[i], "double %zu", i);
    cr_assert_eq(json_at(d.root, k)->type, JSON_NULL, "NaN is written as null");
    cr_assert_eq(json_at(d.root, k + 1)->type, JSON_NULL, "-inf is written as null");
    json_free(&d);
    buf_free(&b);
}

Test(json, strings_written_by_buf_read_back) {
    const char *s = "q\"\\\n\t\x01 caf\xc3\xa9 \xf0\x9f\x98\x80";
    Buf b = {0};
    buf_put_json_str(&b, s);
    JsonDoc d = ok(b.p);
    cr_assert_str_eq(json_str(d.root), s);
    json_free(&d);
    buf_free(&b);
}

Test(json, parse_file_prefixes_the_path) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/cfg.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"d_model\": 64,\n \"n_layers\": 2,}", f);
    fclose(f);
    JsonDoc d = {0};
    cr_assert_eq(json_parse_file(&d, path, 1 << 20), -1);
    cr_assert(strstr(err_msg(), path) && strstr(err_msg(), "byte 31"), "%s", err_msg());
    cr_assert_eq(json_parse_file(&d, path, 10), -1, "size cap");
    f = fopen(path, "w");
    fputs("{\"d_model\": 64}", f);
    fclose(f);
    cr_assert_eq(json_parse_file(&d, path, 1 << 20), 0, "%s", err_msg());
    int64_t v;
    cr_assert_eq(json_get_int(d.root, "d_model", 1, 4096, &v), 0);
    cr_assert_eq(v, 64);
    json_free(&d);
    rm_tree(dir);
}

Test(json, message_strings_are_escaped_and_cut) {
    char out[16];
    cr_assert_str_eq(json_msg_str(out, sizeof out, "a\x1b[31mb"), "a\\x1b[31mb");
    cr_assert_str_eq(json_msg_str(out, sizeof out, "abcdefghijklmnopqrstuvwxyz"), "abcdefghijkl...");
    // cut before a 4-byte character, never inside it
    cr_assert_str_eq(json_msg_str(out, sizeof out, "abcdefghij\xf0\x9f\x98\x80xyz"),
                     "abcdefghij...");
}
