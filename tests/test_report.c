// Report: every section appears in order, escaped, inside a page that is well-formed XML and
// self-contained (inline SVG and CSS, no scripts, nothing fetched); misuse is an error on save.
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "interp/plot.h"
#include "interp/report.h"
#include "model/err.h"

TestSuite(report);

// The XML well-formedness checker in test_plot.c.
int test_xml_check(const char *s, char *root, size_t rootn, char *why, size_t whyn);

static void assert_page(const char *html) {
    char root[32], why[200];
    cr_assert_eq(test_xml_check(html, root, sizeof root, why, sizeof why), 0,
                 "report not well-formed: %s", why);
    cr_assert_str_eq(root, "html");
    cr_assert(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    cr_assert(strstr(html, "<meta charset=\"utf-8\"/>"));
    cr_assert(strstr(html, "<style>"));
    // Self-contained: no scripts, no external resources; the only URL is the SVG namespace.
    cr_assert_null(strstr(html, "<script"));
    cr_assert_null(strstr(html, "src="));
    cr_assert_null(strstr(html, "<link"));
    cr_assert_null(strstr(html, "@import"));
    for (const char *p = strstr(html, "http"); p; p = strstr(p + 1, "http"))
        cr_assert(strncmp(p, "http://www.w3.org/2000/svg", 26) == 0, "external URL: %.40s", p);
}

// Fails unless the needles occur in `s` in the given order; returns where the last one is.
static const char *assert_in_order(const char *s, const char *const *needles, int n) {
    const char *p = s;
    for (int i = 0; i < n; i++) {
        const char *q = strstr(p, needles[i]);
        cr_assert_not_null(q, "'%s' missing (or out of order) after byte %ld", needles[i],
                           (long)(p - s));
        p = q + strlen(needles[i]);
    }
    return p;
}

Test(report, every_section_in_order_escaped_and_well_formed) {
    float y[3] = {3, 2, 1};
    PlotSeries s = {.y = y, .n = 3, .label = "loss"};
    PlotOpts o = {.title = "Loss & co"};
    Buf svg = {0};
    cr_assert_eq(plot_line(&svg, &o, &s, 1), 0, "%s", err_msg());
    float m[4] = {0, 1, 2, 3};
    Buf svg2 = {0};
    PlotHeatmap h = {.data = m, .rows = 2, .cols = 2};
    cr_assert_eq(plot_heatmap(&svg2, NULL, &h), 0, "%s", err_msg());

    Report *r = report_create("Run <a> & b");
    cr_assert_not_null(r);
    report_paragraph(r, "Reproduces \"Toy Models\" <2022> & more.");
    report_heading(r, 2, "Loss");
    report_figure(r, svg.p, "Loss < 1 after step 420");
    report_heading(r, 3, "Numbers");
    const char *hdr[3] = {"metric", "ours", "paper & co"};
    report_table_begin(r, 3, hdr);
    char a[32], b[32];
    report_table_row(r, (const char *[]){"loss <final>", report_num(a, sizeof a, 0.012345, 3), "0.01"});
    report_table_row(r, (const char *[]){"accuracy", "97.5%", NULL});
    report_table_row(r, (const char *[]){"step", report_num(b, sizeof b, 420, 3), "~ 400"});
    report_table_end(r);
    report_pre(r, "mechlab run induction --seed 1\n  <tokens> & such");
    report_paragraphf(r, "%d heads, %.1f%% of them <induction>", 8, 25.0);
    report_figure(r, svg2.p, NULL);
    report_link(r, "metrics.csv", "metrics over training");
    report_link(r, "summary.json", "reproduced & published numbers");
    report_heading(r, 2, "End");

    Buf page = {0};
    cr_assert_eq(report_render(r, &page), 0, "%s", err_msg());
    assert_page(page.p);
    const char *order[] = {
        "<title>Run &lt;a&gt; &amp; b</title>", "<h1>Run &lt;a&gt; &amp; b</h1>",
        "<p>Reproduces &quot;Toy Models&quot; &lt;2022&gt; &amp; more.</p>", "<h2>Loss</h2>",
        "<figure>\n<svg xmlns=", "Loss &amp; co", "</svg>",
        "<figcaption>Loss &lt; 1 after step 420</figcaption>", "</figure>", "<h3>Numbers</h3>",
        "<table>", "<th>paper &amp; co</th>", "<td>loss &lt;final&gt;</td>",
        "<td class=\"num\">0.0123</td>", "<td class=\"num\">97.5%</td>", "<td></td>",
        "<td class=\"num\">420</td>", "<td>~ 400</td>", "</table>",
        "<pre>mechlab run induction --seed 1\n  &lt;tokens&gt; &amp; such</pre>",
        "<p>8 heads, 25.0% of them &lt;induction&gt;</p>", "<figure>\n<svg", "</figure>",
        "<ul class=\"files\">", "<a href=\"metrics.csv\">metrics.csv</a>",
        "reproduced &amp; published numbers", "</ul>", "<h2>End</h2>", "</main>", "</html>"};
    assert_in_order(page.p, order, (int)(sizeof order / sizeof order[0]));
    // The figure is inlined verbatim.
    cr_assert(strstr(page.p, svg.p));
    buf_free(&page);
    buf_free(&svg);
    buf_free(&svg2);
    report_free(r);
    report_free(NULL);
}

Test(report, figure_drops_an_xml_declaration_and_rejects_non_svg) {
    Report *r = report_create("t");
    report_figure(r, "<?xml version=\"1.0\"?>\n<!-- made by hand -->\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
                     "width=\"10\" height=\"10\" viewBox=\"0 0 10 10\"><rect width=\"5\" height=\"5\"/></svg>",
                  "hand-made");
    Buf page = {0};
    cr_assert_eq(report_render(r, &page), 0, "%s", err_msg());
    assert_page(page.p);
    cr_assert_null(strstr(page.p, "<?xml"));
    cr_assert(strstr(page.p, "<figure>\n<svg xmlns"));
    report_figure(r, "<html>not a figure</html>", NULL);
    buf_reset(&page);
    cr_assert_eq(report_render(r, &page), -1);
    cr_assert(strstr(err_msg(), "<svg"), "%s", err_msg());
    buf_free(&page);
    report_free(r);
}

Test(report, misuse_is_an_error_on_render_not_a_crash) {
    Report *r = report_create("t");
    report_table_begin(r, 2, NULL);
    report_table_row(r, (const char *[]){"a", "b"});
    Buf page = {0};
    cr_assert_eq(report_render(r, &page), -1, "an open table rendered");
    cr_assert(strstr(err_msg(), "table"), "%s", err_msg());
    report_table_end(r);
    cr_assert_eq(report_render(r, &page), 0, "%s", err_msg());
    assert_page(page.p);
    report_free(r);
    r = report_create("t");
    report_table_row(r, (const char *[]){"a"});
    buf_reset(&page);
    cr_assert_eq(report_render(r, &page), -1);
    cr_assert(strstr(err_msg(), "report_table_row"), "%s", err_msg());
    report_free(r);
    r = report_create("t");
    report_table_begin(r, 1, NULL);
    report_paragraph(r, "inside a table");
    report_table_end(r);
    buf_reset(&page);
    cr_assert_eq(report_render(r, &page), -1);
    cr_assert(strstr(err_msg(), "report_paragraph"), "%s", err_msg());
    report_free(r);
    buf_free(&page);
}

Test(report, numbers_are_formatted_for_tables) {
    char s[32];
    cr_assert_str_eq(report_num(s, sizeof s, 1234.56, 3), "1235");
    cr_assert_str_eq(report_num(s, sizeof s, 0.0123456, 3), "0.0123");
    cr_assert_str_eq(report_num(s, sizeof s, -2.5, 2), "-2.5");
    cr_assert_str_eq(report_num(s, sizeof s, 0.5, 0), "0.5000");
    cr_assert_str_eq(report_num(s, sizeof s, 1e-5, 3), "1.00e-05");
    cr_assert_str_eq(report_num(s, sizeof s, 2.5e7, 2), "2.5e+07");
    cr_assert_str_eq(report_num(s, sizeof s, 0, 3), "0");
    cr_assert_str_eq(report_num(s, sizeof s, NAN, 3), "nan");
    cr_assert_str_eq(report_num(s, sizeof s, -INFINITY, 3), "-inf");
}

Test(report, save_writes_the_page_atomically) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/report.html", dir);
    Report *r = report_create("Saved");
    report_paragraph(r, "hello");
    cr_assert_eq(report_save(r, path), 0, "%s", err_msg());
    char *text = read_text(path);
    Buf page = {0};
    cr_assert_eq(report_render(r, &page), 0);
    cr_assert_str_eq(text, page.p);
    free(text);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 1", dir);
    cr_assert_eq(system(cmd), 0, "temporary file left behind");
    snprintf(path, sizeof path, "%s/no/such/dir/report.html", dir);
    cr_assert_eq(report_save(r, path), -1);
    cr_assert(strstr(err_msg(), path), "%s", err_msg());
    report_table_begin(r, 1, NULL);
    cr_assert_eq(report_save(r, path), -1);
    cr_assert(strstr(err_msg(), path), "message names the file: %s", err_msg());
    buf_free(&page);
    report_free(r);
    rm_tree(dir);
}

// base64 of RFC 4648 §10's test vectors, and an image round trip: the data URI decodes (with
// the tests' own decoder, tests/png_reader.c) to the bytes given; the page stays well-formed and
// fetches nothing.

Test(report, image_is_embedded_as_a_data_uri) {
    const char *vec[][2] = {{"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
                            {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (int i = 0; i < 6; i++) {
        Report *r = report_create("img");
        report_image(r, vec[i][0], strlen(vec[i][0]), 0, "alt <text>", NULL);
        Buf page = {0};
        cr_assert_eq(report_render(r, &page), 0, "%s", err_msg());
        char want[64];
        snprintf(want, sizeof want, "src=\"data:image/png;base64,%s\"", vec[i][1]);
        cr_assert(strstr(page.p, want), "'%s' missing", want);
        uint8_t dec[8];  // and the tests' decoder reads the vector back
        cr_assert(test_base64_decode(vec[i][1], dec, sizeof dec) == strlen(vec[i][0]) &&
                      !memcmp(dec, vec[i][0], strlen(vec[i][0])),
                  "decoding %s", vec[i][1]);
        cr_assert(strstr(page.p, "alt=\"alt &lt;text&gt;\""));
        buf_free(&page);
        report_free(r);
    }
    unsigned char bytes[300];
    for (int i = 0; i < 300; i++) bytes[i] = (unsigned char)(i * 37 + 11);
    Report *r = report_create("img");
    report_image(r, bytes, sizeof bytes, 240, NULL, "Filters & more");
    report_paragraph(r, "after");
    Buf page = {0};
    cr_assert_eq(report_render(r, &page), 0, "%s", err_msg());
    char root[32], why[200];
    cr_assert_eq(test_xml_check(page.p, root, sizeof root, why, sizeof why), 0, "%s", why);
    cr_assert(strstr(page.p, "width=\"240\"") && strstr(page.p, "<figcaption>Filters &amp; more"));
    unsigned char back[310];
    size_t n = test_base64_decode(strstr(page.p, "base64,") + 7, back, sizeof back);
    cr_assert_eq(n, 300);
    cr_assert_eq(memcmp(back, bytes, 300), 0);
    cr_assert_null(strstr(page.p, "http:"), "nothing fetched");
    buf_free(&page);
    report_free(r);
    // no data is misuse, reported on render
    r = report_create("img");
    report_image(r, NULL, 0, 0, NULL, NULL);
    cr_assert_eq(report_render(r, &page), -1);
    cr_assert(strstr(err_msg(), "report_image"), "%s", err_msg());
    buf_free(&page);
    report_free(r);
}
