// Plots: colour maps against their control points, nice ticks against hand-made lists and
// invariants, and the SVG itself: well-formed (a small XML checker below), escaped, and with
// data landing on the pixels the axis arithmetic says (read back out of the SVG text).
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "interp/plot.h"
#include "model/err.h"
#include "model/fileio.h"

TestSuite(plot);

// ---- a small XML well-formedness checker ----------------------------------------------------
// What the tests need of an XML parser: one root element, every tag closed in order, attribute
// values quoted and not repeated within a tag, '<' never in text or attribute values, '&' only as
// a known entity. Also used by test_report.c (declared there).

static int xml_bad(char *why, size_t n, const char *s0, const char *p, const char *msg) {
    snprintf(why, n, "%s at byte %ld: \"%.40s\"", msg, (long)(p - s0), p);
    return -1;
}

static const char *xml_entity(const char *p) {  // p at '&': the byte after the entity, or NULL
    static const char *named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (strncmp(p, named[i], strlen(named[i])) == 0) return p + strlen(named[i]);
    if (p[1] != '#') return NULL;
    const char *q = p + 2;
    int hex = *q == 'x';
    if (hex) q++;
    const char *d = q;
    while (hex ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q)) q++;
    return q > d && *q == ';' ? q + 1 : NULL;
}

static int xml_name_char(char c) {
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == ':' || c == '.';
}

int test_xml_check(const char *s, char *root, size_t rootn, char *why, size_t whyn);
int test_xml_check(const char *s, char *root, size_t rootn, char *why, size_t whyn) {
    enum { MAXD = 64, MAXA = 32 };
    const char *stack[MAXD];
    size_t stlen[MAXD];
    int depth = 0, roots = 0;
    const char *p = s;
    if (root && rootn) root[0] = '\0';
    while (*p) {
        if (*p != '<') {
            if (depth == 0 && !isspace((unsigned char)*p))
                return xml_bad(why, whyn, s, p, "text outside the root element");
            if (*p == '&' && !xml_entity(p)) return xml_bad(why, whyn, s, p, "bare '&'");
            p++;
            continue;
        }
        if (strncmp(p, "<!--", 4) == 0) {
            const char *q = strstr(p, "-->");
            if (!q) return xml_bad(why, whyn, s, p, "unterminated comment");
            p = q + 3;
            continue;
        }
        if (p[1] == '?' || p[1] == '!') {  // declaration / doctype: only before the root
            if (depth || roots) return xml_bad(why, whyn, s, p, "declaration inside the document");
            const char *q = strchr(p, '>');
            if (!q) return xml_bad(why, whyn, s, p, "unterminated declaration");
            p = q + 1;
            continue;
        }
        if (p[1] == '/') {
            const char *n0 = p + 2, *q = n0;
            while (xml_name_char(*q)) q++;
            size_t len = (size_t)(q - n0);
            while (isspace((unsigned char)*q)) q++;
            if (*q != '>') return xml_bad(why, whyn, s, p, "malformed end tag");
            if (depth == 0) return xml_bad(why, whyn, s, p, "end tag without a start tag");
            depth--;
            if (len != stlen[depth] || strncmp(n0, stack[depth], len) != 0)
                return xml_bad(why, whyn, s, p, "end tag does not match the open element");
            p = q + 1;
            continue;
        }
        const char *n0 = p + 1, *q = n0;
        if (!isalpha((unsigned char)*q)) return xml_bad(why, whyn, s, p, "bad element name");
        while (xml_name_char(*q)) q++;
        size_t len = (size_t)(q - n0);
        if (depth == 0) {
            if (roots++) return xml_bad(why, whyn, s, p, "a second root element");
            if (root) snprintf(root, rootn, "%.*s", (int)len, n0);
        }
        const char *an[MAXA];
        size_t al[MAXA];
        int na = 0, selfclose = 0;
        for (;;) {
            int ws = 0;
            while (isspace((unsigned char)*q)) q++, ws = 1;
            if (*q == '/' && q[1] == '>') {
                selfclose = 1;
                q += 2;
                break;
            }
            if (*q == '>') {
                q++;
                break;
            }
            if (!ws) return xml_bad(why, whyn, s, q, "no space before an attribute");
            const char *a0 = q;
            while (xml_name_char(*q)) q++;
            if (q == a0) return xml_bad(why, whyn, s, q, "bad attribute name");
            for (int i = 0; i < na; i++)
                if (al[i] == (size_t)(q - a0) && strncmp(an[i], a0, al[i]) == 0)
                    return xml_bad(why, whyn, s, a0, "repeated attribute");
            if (na < MAXA) an[na] = a0, al[na++] = (size_t)(q - a0);
            if (*q != '=') return xml_bad(why, whyn, s, q, "attribute without a value");
            q++;
            char quote = *q;
            if (quote != '"' && quote != '\'') return xml_bad(why, whyn, s, q, "unquoted value");
            q++;
            while (*q && *q != quote) {
                if (*q == '<') return xml_bad(why, whyn, s, q, "'<' in an attribute value");
                if (*q == '&') {
                    if (!xml_entity(q)) return xml_bad(why, whyn, s, q, "bare '&' in a value");
                }
                q++;
            }
            if (!*q) return xml_bad(why, whyn, s, a0, "unterminated attribute value");
            q++;
        }
        if (!selfclose) {
            if (depth == MAXD) return xml_bad(why, whyn, s, p, "nesting too deep");
            stack[depth] = n0;
            stlen[depth++] = len;
        }
        p = q;
    }
    if (depth) return xml_bad(why, whyn, s, stack[depth - 1], "element never closed");
    if (!roots) return xml_bad(why, whyn, s, s, "no root element");
    return 0;
}

// Fails unless svg is a well-formed standalone SVG document.
static void assert_svg(const char *svg) {
    char root[32], why[200];
    cr_assert_not_null(svg);
    cr_assert_eq(test_xml_check(svg, root, sizeof root, why, sizeof why), 0, "not well-formed: %s",
                 why);
    cr_assert_str_eq(root, "svg");
    static const char head[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" ";
    cr_assert(strncmp(svg, head, sizeof head - 1) == 0,
              "root lacks the SVG namespace: %.60s", svg);
    cr_assert(strstr(svg, " viewBox=\"0 0 ") && strstr(svg, " width=\"") &&
              strstr(svg, " height=\""));
    // Inline in one HTML page with other figures: no ids to collide, nothing external to fetch.
    cr_assert_null(strstr(svg, " id="), "an id in the SVG");
    cr_assert_null(strstr(svg, "<script"));
    for (const char *h = strstr(svg, "href"); h; h = strstr(h + 1, "href"))  // embedded data only
        cr_assert(!strncmp(h, "href=\"data:image/png;base64,", 28), "a link out: %.40s", h);
}

Test(plot, xml_checker_rejects_broken_documents) {
    // The checker is what makes "well-formed" mean something: it must reject each of these.
    static const char *bad[] = {
        "<svg><g></svg></g>", "<svg><g>", "<svg>a < b</svg>", "<svg>a & b</svg>",
        "<svg x=\"1\" x=\"2\"/>", "<svg x=1/>", "<svg t=\"a<b\"/>", "<svg/><svg/>",
        "text<svg/>", "<svg>&amp</svg>", "<svg></g>", "", "<svg x=\"1\"y=\"2\"/>",
    };
    char why[200];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(test_xml_check(bad[i], NULL, 0, why, sizeof why), -1, "accepted: %s", bad[i]);
    static const char *good[] = {
        "<svg/>", "<?xml version=\"1.0\"?>\n<!DOCTYPE svg>\n<svg a='1' b=\"&lt;&#39;&#x41;\">t &amp; u<g/></svg>\n",
        "<html><!-- c < & --><p>x</p></html>",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert_eq(test_xml_check(good[i], NULL, 0, why, sizeof why), 0, "rejected %s: %s", good[i], why);
}

// ---- reading the SVG back ------------------------------------------------------------------

// The start of the first element (at or after `from`) whose tag contains `needle`.
static const char *elem_with(const char *from, const char *needle) {
    const char *p = strstr(from, needle);
    if (!p) return NULL;
    while (p > from && *p != '<') p--;
    return p;
}

// Numeric attribute of the element starting at e (NaN when absent).
static double attr_d(const char *e, const char *name) {
    const char *end = strchr(e, '>');
    char key[40];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(e, key);
    if (!p || p > end) return NAN;
    return strtod(p + strlen(key), NULL);
}

static void attr_s(const char *e, const char *name, char *out, size_t n) {
    const char *end = strchr(e, '>');
    char key[40];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(e, key);
    out[0] = '\0';
    if (!p || p > end) return;
    p += strlen(key);
    size_t len = (size_t)(strchr(p, '"') - p);
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), p);
}

typedef struct {
    double x, y, w, h;
} Rect;

static Rect area_of(const char *svg) {
    const char *e = elem_with(svg, "class=\"plot-area\"");
    cr_assert_not_null(e, "no plot-area rect");
    return (Rect){attr_d(e, "x"), attr_d(e, "y"), attr_d(e, "width"), attr_d(e, "height")};
}

static int count_str(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

// The commands of a path's d attribute: cmd[i] in {'M', 'L'} with its point.
typedef struct {
    int n, moves;
    char cmd[256];
    double x[256], y[256];
} Path;

static Path path_of(const char *e) {
    Path P = {0};
    const char *d = strstr(e, " d=\"");
    cr_assert_not_null(d);
    d += 4;
    while (*d && *d != '"' && P.n < 256) {
        char c = *d++;
        cr_assert(c == 'M' || c == 'L', "unexpected path command '%c'", c);
        char *end;
        P.x[P.n] = strtod(d, &end);
        P.y[P.n] = strtod(end, &end);
        P.cmd[P.n++] = c;
        P.moves += c == 'M';
        d = end;
    }
    return P;
}

// A rect in the group starting at `group` with this x and y (within 0.01 px), or NULL.
static const char *rect_at(const char *group, double x, double y) {
    const char *end = strstr(group, "</g>");
    for (const char *e = strstr(group, "<rect"); e && e < end; e = strstr(e + 1, "<rect"))
        if (fabs(attr_d(e, "x") - x) < 0.011 && fabs(attr_d(e, "y") - y) < 0.011) return e;
    return NULL;
}

#define CLOSE(a, b, tol) cr_assert(fabs((a) - (b)) <= (tol), "%s = %.4f, expected %.4f", #a, (double)(a), (double)(b))

// ---- colour maps ---------------------------------------------------------------------------

static void assert_hex(PlotColor c, const char *want) {
    char h[8];
    plot_color_hex(c, h);
    cr_assert_str_eq(h, want);
}

Test(plot, cmap_hits_its_control_points_and_interpolates_between) {
    assert_hex(plot_cmap(PLOT_SEQUENTIAL, 0), "#440154");
    assert_hex(plot_cmap(PLOT_SEQUENTIAL, 0.5), "#21918c");
    assert_hex(plot_cmap(PLOT_SEQUENTIAL, 1), "#fde725");
    assert_hex(plot_cmap(PLOT_SEQUENTIAL, -3), "#440154");  // clamped
    assert_hex(plot_cmap(PLOT_SEQUENTIAL, 7), "#fde725");
    // Half way between #440154 (t=0) and #472d7b (t=0.125), by hand: (68+71)/2 = 69.5 -> 70 = 0x46,
    // (1+45)/2 = 23 = 0x17, (84+123)/2 = 103.5 -> 104 = 0x68.
    assert_hex(plot_cmap(PLOT_SEQUENTIAL, 0.0625), "#461768");
    assert_hex(plot_cmap(PLOT_DIVERGING, 0), "#2166ac");
    assert_hex(plot_cmap(PLOT_DIVERGING, 0.5), "#ffffff");
    assert_hex(plot_cmap(PLOT_DIVERGING, 1), "#b2182b");
    assert_hex(plot_cmap(PLOT_SEQUENTIAL, NAN), "#bdbdbd");
    assert_hex(plot_cmap(PLOT_DIVERGING, NAN), "#bdbdbd");
    assert_hex(PLOT_RGB(1, 2, 255), "#0102ff");
}

static double luminance(PlotColor c) {
    return 0.2126 * ((c >> 16) & 255u) + 0.7152 * ((c >> 8) & 255u) + 0.0722 * (c & 255u);
}

Test(plot, sequential_map_brightens_and_diverging_map_is_lightest_at_zero) {
    // What makes viridis readable: luminance rises monotonically from 0 to 1.
    for (int i = 1; i <= 200; i++)
        cr_assert_gt(luminance(plot_cmap(PLOT_SEQUENTIAL, i / 200.0)),
                     luminance(plot_cmap(PLOT_SEQUENTIAL, (i - 1) / 200.0)), "at t = %g", i / 200.0);
    // Diverging: luminance rises towards the white centre from both ends.
    for (int i = 1; i <= 100; i++) {
        cr_assert_geq(luminance(plot_cmap(PLOT_DIVERGING, i / 200.0)),
                      luminance(plot_cmap(PLOT_DIVERGING, (i - 1) / 200.0)));
        cr_assert_geq(luminance(plot_cmap(PLOT_DIVERGING, 1 - i / 200.0)),
                      luminance(plot_cmap(PLOT_DIVERGING, 1 - (i - 1) / 200.0)));
    }
    // Blue side below the centre, red side above.
    PlotColor lo = plot_cmap(PLOT_DIVERGING, 0.2), hi = plot_cmap(PLOT_DIVERGING, 0.8);
    cr_assert_gt(lo & 255u, (lo >> 16) & 255u);
    cr_assert_gt((hi >> 16) & 255u, hi & 255u);
}

Test(plot, palette_colours_are_distinct_and_cycle) {
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < i; j++) cr_assert_neq(plot_palette(i), plot_palette(j));
    cr_assert_eq(plot_palette(13), plot_palette(3));
    cr_assert_eq(plot_palette(-1), plot_palette(0));
}

// ---- ticks ---------------------------------------------------------------------------------

Test(plot, ticks_are_round_numbers) {
    double t[PLOT_MAX_TICKS], step;
    int n = plot_ticks(0, 1, 5, t, PLOT_MAX_TICKS, &step);
    double want[] = {0, 0.2, 0.4, 0.6, 0.8, 1.0};
    cr_assert_eq(n, 6);
    for (int i = 0; i < n; i++) cr_assert_eq(t[i], want[i], "tick %d = %.17g", i, t[i]);  // exact
    cr_assert_eq(step, 0.2);
    n = plot_ticks(-3.7, 12.2, 5, t, PLOT_MAX_TICKS, &step);
    double want2[] = {-2, 0, 2, 4, 6, 8, 10, 12};
    cr_assert_eq(n, 8);
    for (int i = 0; i < n; i++) cr_assert_eq(t[i], want2[i]);
    n = plot_ticks(0.1, 0.7, 6, t, PLOT_MAX_TICKS, &step);  // 0.1 0.2 ... 0.7, decimals exact
    cr_assert_eq(n, 7);
    cr_assert_eq(t[2], 0.3);
    cr_assert_eq(plot_ticks(1, 1, 5, t, PLOT_MAX_TICKS, NULL), 0);
    cr_assert_eq(plot_ticks(0, INFINITY, 5, t, PLOT_MAX_TICKS, NULL), 0);
}

Test(plot, ticks_cover_any_range_with_a_1_2_5_step) {
    unsigned s = 12345;
    for (int trial = 0; trial < 2000; trial++) {
        s = s * 1103515245u + 12345u;
        double mag = pow(10, (int)(s >> 8) % 13 - 6);
        s = s * 1103515245u + 12345u;
        double lo = ((int)(s >> 8) % 2001 - 1000) / 100.0 * mag;
        s = s * 1103515245u + 12345u;
        double hi = lo + ((s >> 8) % 1000 + 1) / 100.0 * mag;
        int target = 2 + (int)(s >> 20) % 9;
        double t[PLOT_MAX_TICKS], step;
        int n = plot_ticks(lo, hi, target, t, PLOT_MAX_TICKS, &step);
        cr_assert_geq(n, 1, "[%g, %g]", lo, hi);
        cr_assert_leq(n, 2 * target + 2, "[%g, %g] target %d gave %d", lo, hi, target, n);
        double m = step / pow(10, floor(log10(step) + 1e-9));
        cr_assert(fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9, "step %g", step);
        cr_assert(t[0] >= lo - 1e-9 * step && t[n - 1] <= hi + 1e-9 * step);
        cr_assert(t[0] - lo < step * (1 + 1e-9) && hi - t[n - 1] < step * (1 + 1e-9),
                  "[%g, %g]: ticks %g..%g step %g leave a gap", lo, hi, t[0], t[n - 1], step);
        for (int i = 1; i < n; i++) cr_assert(fabs(t[i] - t[i - 1] - step) <= 1e-9 * fabs(step) + 1e-12 * fabs(t[i]));
    }
}

Test(plot, log_ticks_are_decades_or_1_2_5) {
    double t[PLOT_MAX_TICKS];
    int n = plot_log_ticks(1, 1e4, 8, t, PLOT_MAX_TICKS);
    double d[] = {1, 10, 100, 1000, 10000};
    cr_assert_eq(n, 5);
    for (int i = 0; i < n; i++) cr_assert_eq(t[i], d[i]);
    n = plot_log_ticks(0.5, 60, 8, t, PLOT_MAX_TICKS);
    double w[] = {0.5, 1, 2, 5, 10, 20, 50};
    cr_assert_eq(n, 7);
    for (int i = 0; i < n; i++) cr_assert_eq(t[i], w[i]);
    n = plot_log_ticks(1e-6, 1e6, 5, t, PLOT_MAX_TICKS);  // 13 decades, every 3rd
    double e[] = {1e-6, 1e-3, 1, 1e3, 1e6};
    cr_assert_eq(n, 5);
    for (int i = 0; i < n; i++) cr_assert(fabs(t[i] / e[i] - 1) < 1e-12, "tick %d = %g", i, t[i]);
    n = plot_log_ticks(3, 4.5, 4, t, PLOT_MAX_TICKS);  // no 1-2-5 value inside: linear fallback
    cr_assert_geq(n, 2);
    for (int i = 0; i < n; i++) cr_assert(t[i] >= 3 && t[i] <= 4.5);
    cr_assert_eq(plot_log_ticks(-1, 10, 5, t, PLOT_MAX_TICKS), 0);
}

Test(plot, tick_labels_print_the_digits_the_step_needs) {
    char s[32];
    plot_fmt_tick(s, sizeof s, 0.25, 0.05);
    cr_assert_str_eq(s, "0.25");
    plot_fmt_tick(s, sizeof s, 0.3, 0.1);
    cr_assert_str_eq(s, "0.3");
    plot_fmt_tick(s, sizeof s, 1000, 200);
    cr_assert_str_eq(s, "1000");
    plot_fmt_tick(s, sizeof s, -1e-12, 0.1);
    cr_assert_str_eq(s, "0");
    plot_fmt_tick(s, sizeof s, 1e-6, 1e-6);
    cr_assert_str_eq(s, "1e-06");
    plot_fmt_tick(s, sizeof s, 2.5e7, 5e6);
    cr_assert_str_eq(s, "2.5e+07");
}

// ---- line plots ----------------------------------------------------------------------------

Test(plot, line_points_land_on_the_axis_pixels) {
    float x[3] = {0, 5, 10}, y[3] = {0, 0.5f, 1};
    PlotSeries s = {.x = x, .y = y, .n = 3, .label = "s"};
    PlotOpts o = {.title = "t", .xlabel = "x", .ylabel = "y", .xmin = 0, .xmax = 10, .ymin = 0,
                  .ymax = 1, .width = 500, .height = 300};
    Buf b = {0};
    cr_assert_eq(plot_line(&b, &o, &s, 1), 0, "%s", err_msg());
    assert_svg(b.p);
    cr_assert(strstr(b.p, "width=\"500\" height=\"300\" viewBox=\"0 0 500 300\""));
    Rect a = area_of(b.p);
    cr_assert(a.w > 100 && a.h > 100 && a.x > 0 && a.y > 0 && a.x + a.w <= 500 && a.y + a.h <= 300);
    Path P = path_of(elem_with(b.p, "class=\"line\""));
    cr_assert_eq(P.n, 3);
    cr_assert_eq(P.moves, 1);
    CLOSE(P.x[0], a.x, 0.01);  // x minimum at the left edge, y minimum at the bottom
    CLOSE(P.y[0], a.y + a.h, 0.01);
    CLOSE(P.x[1], a.x + a.w / 2, 0.01);
    CLOSE(P.y[1], a.y + a.h / 2, 0.01);
    CLOSE(P.x[2], a.x + a.w, 0.01);
    CLOSE(P.y[2], a.y, 0.01);
    buf_free(&b);
}

Test(plot, line_pixels_are_monotone_like_the_data) {
    enum { N = 200 };
    float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = (float)(i * i) * 0.01f - 7, y[i] = sinf(i * 0.05f);
    PlotSeries s = {.x = x, .y = y, .n = N};
    Buf b = {0};
    cr_assert_eq(plot_line(&b, NULL, &s, 1), 0, "%s", err_msg());
    assert_svg(b.p);
    cr_assert(strstr(b.p, "width=\"640\" height=\"400\""));  // the default size
    Path P = path_of(elem_with(b.p, "class=\"line\""));
    cr_assert_eq(P.n, N);
    Rect a = area_of(b.p);
    for (int i = 1; i < N; i++) {
        cr_assert_gt(P.x[i], P.x[i - 1], "x pixels not increasing at %d", i);
        // y pixels move opposite to the data (SVG y grows downwards), or stay within rounding.
        double dy = y[i] - y[i - 1], dp = P.y[i] - P.y[i - 1];
        if (fabs(dy) > 1e-3) cr_assert(dy * dp < 0, "y pixel moved the wrong way at %d", i);
        cr_assert(P.y[i] >= a.y - 0.01 && P.y[i] <= a.y + a.h + 0.01);
    }
    buf_free(&b);
}

Test(plot, log_axes_put_decades_equally_apart) {
    float x[4] = {1, 10, 100, 1000}, y[4] = {0.001f, 0.01f, 0.1f, 1};
    PlotSeries s = {.x = x, .y = y, .n = 4};
    PlotOpts o = {.log_x = 1, .log_y = 1, .xmin = 1, .xmax = 1000, .ymin = 0.001, .ymax = 1};
    Buf b = {0};
    cr_assert_eq(plot_line(&b, &o, &s, 1), 0, "%s", err_msg());
    assert_svg(b.p);
    Rect a = area_of(b.p);
    Path P = path_of(elem_with(b.p, "class=\"line\""));
    cr_assert_eq(P.n, 4);
    for (int i = 0; i < 4; i++) {
        CLOSE(P.x[i], a.x + a.w * i / 3, 0.01);
        CLOSE(P.y[i], a.y + a.h - a.h * i / 3, 0.01);
    }
    // The tick labels are the decades.
    const char *xt = strstr(b.p, "<g class=\"xticks\">");
    cr_assert(strstr(xt, ">1</text>") && strstr(xt, ">10</text>") && strstr(xt, ">100</text>") &&
              strstr(xt, ">1000</text>"));
    cr_assert(strstr(b.p, ">0.001</text>"));
    // Non-positive values are missing on a log axis: the line breaks there.
    float y2[4] = {1, -1, 10, 100};
    PlotSeries s2 = {.x = x, .y = y2, .n = 4};
    PlotOpts o2 = {.log_y = 1};
    buf_reset(&b);
    cr_assert_eq(plot_line(&b, &o2, &s2, 1), 0, "%s", err_msg());
    P = path_of(elem_with(b.p, "class=\"line\""));
    cr_assert_eq(P.n, 2);  // only (100, 10) - (1000, 100) joins; (1, 1) stands alone
    cr_assert_eq(P.moves, 1);
    cr_assert_eq(count_str(b.p, "<circle"), 1);
    buf_free(&b);
}

Test(plot, nan_breaks_the_line_and_lonely_points_get_a_dot) {
    float y[7] = {1, 2, NAN, 3, 4, INFINITY, 5};
    PlotSeries s = {.y = y, .n = 7};
    Buf b = {0};
    cr_assert_eq(plot_line(&b, NULL, &s, 1), 0, "%s", err_msg());
    assert_svg(b.p);
    Path P = path_of(elem_with(b.p, "class=\"line\""));
    cr_assert_eq(P.moves, 2);  // 1-2 and 3-4; 5 has no neighbour
    cr_assert_eq(P.n, 4);
    cr_assert_eq(count_str(b.p, "<circle"), 1, "the lonely point 5 needs a dot");
    // A series with nothing to draw is still a valid document.
    float z[3] = {NAN, NAN, NAN};
    PlotSeries e[2] = {{.y = z, .n = 3, .label = "all missing"}, {.y = NULL, .n = 0}};
    buf_reset(&b);
    cr_assert_eq(plot_line(&b, NULL, e, 2), 0, "%s", err_msg());
    assert_svg(b.p);
    buf_free(&b);
}

Test(plot, a_fixed_range_clips_the_line_to_the_plot_area) {
    float x[5] = {-10, 0, 5, 10, 20}, y[5] = {5, 0, 1, 0, -5};
    PlotSeries s = {.x = x, .y = y, .n = 5};
    PlotOpts o = {.xmin = 0, .xmax = 10, .ymin = 0, .ymax = 1};
    Buf b = {0};
    cr_assert_eq(plot_line(&b, &o, &s, 1), 0, "%s", err_msg());
    Rect a = area_of(b.p);
    Path P = path_of(elem_with(b.p, "class=\"line\""));
    cr_assert_geq(P.n, 3);
    for (int i = 0; i < P.n; i++)
        cr_assert(P.x[i] >= a.x - 0.01 && P.x[i] <= a.x + a.w + 0.01 && P.y[i] >= a.y - 0.01 &&
                  P.y[i] <= a.y + a.h + 0.01, "point %d (%g, %g) outside the area", i, P.x[i], P.y[i]);
    buf_free(&b);
}

Test(plot, text_is_escaped) {
    float y[2] = {0, 1};
    PlotSeries s = {.y = y, .n = 2, .label = "<&> \"q\""};
    PlotRefLine r = {.vertical = 1, .at = 0.5, .label = "a<b"};
    PlotOpts o = {.title = "loss < 1 & done", .xlabel = "x<", .ylabel = "&y", .refs = &r, .n_refs = 1};
    Buf b = {0};
    cr_assert_eq(plot_line(&b, &o, &s, 1), 0, "%s", err_msg());
    assert_svg(b.p);
    cr_assert(strstr(b.p, "loss &lt; 1 &amp; done"));
    cr_assert(strstr(b.p, "&lt;&amp;&gt; &quot;q&quot;"));
    cr_assert(strstr(b.p, "a&lt;b") && strstr(b.p, "x&lt;") && strstr(b.p, "&amp;y"));
    cr_assert_null(strstr(b.p, "a<b"));
    cr_assert_null(strstr(b.p, "< 1"));
    buf_free(&b);
}

Test(plot, reference_lines_sit_at_their_values_and_widen_the_range) {
    float x[3] = {0, 500, 1000}, y[3] = {3, 2, 1};
    PlotSeries s = {.x = x, .y = y, .n = 3};
    PlotRefLine r[2] = {{.vertical = 1, .at = 420, .label = "phase change at step 420"},
                        {.at = 4.1589, .label = "ln(64)", .solid = 1}};
    PlotOpts o = {.refs = r, .n_refs = 2};
    Buf b = {0};
    cr_assert_eq(plot_line(&b, &o, &s, 1), 0, "%s", err_msg());
    assert_svg(b.p);
    Rect a = area_of(b.p);
    const char *g = strstr(b.p, "<g class=\"refs\">");
    cr_assert_not_null(g);
    const char *v = elem_with(g, "<line");
    CLOSE(attr_d(v, "x1"), a.x + a.w * 0.42, 0.01);
    CLOSE(attr_d(v, "x2"), a.x + a.w * 0.42, 0.01);
    CLOSE(attr_d(v, "y1"), a.y, 0.01);
    CLOSE(attr_d(v, "y2"), a.y + a.h, 0.01);
    // The level 4.16 is above the data (max 3) yet inside the plot.
    const char *h = elem_with(v + 1, "<line");
    double py = attr_d(h, "y1");
    cr_assert(py > a.y && py < a.y + a.h, "level at %g outside [%g, %g]", py, a.y, a.y + a.h);
    cr_assert(strstr(b.p, ">phase change at step 420</text>") && strstr(b.p, ">ln(64)</text>"));
    buf_free(&b);
}

Test(plot, legend_goes_where_the_data_is_not) {
    // A rising line crosses the top-right and bottom-left corners: the legend goes top left.
    float up[2] = {0, 1};
    PlotSeries s = {.y = up, .n = 2, .label = "rising"};
    Buf b = {0};
    cr_assert_eq(plot_line(&b, NULL, &s, 1), 0, "%s", err_msg());
    Rect a = area_of(b.p);
    const char *lg = elem_with(strstr(b.p, "<g class=\"legend\">"), "<rect");
    cr_assert(attr_d(lg, "x") < a.x + a.w / 2 && attr_d(lg, "y") < a.y + a.h / 2, "legend at (%g, %g)",
              attr_d(lg, "x"), attr_d(lg, "y"));
    // A falling line leaves the top right free (the first choice).
    float down[2] = {1, 0};
    s.y = down;
    buf_reset(&b);
    cr_assert_eq(plot_line(&b, NULL, &s, 1), 0, "%s", err_msg());
    a = area_of(b.p);
    lg = elem_with(strstr(b.p, "<g class=\"legend\">"), "<rect");
    cr_assert(attr_d(lg, "x") > a.x + a.w / 2 && attr_d(lg, "y") < a.y + a.h / 2);
    // Data in every corner: the legend moves outside the plot.
    enum { N = 400 };
    float y[N];
    for (int i = 0; i < N; i++) y[i] = sinf(i * 0.3f);
    PlotSeries w = {.y = y, .n = N, .label = "wiggle"};
    buf_reset(&b);
    cr_assert_eq(plot_line(&b, NULL, &w, 1), 0, "%s", err_msg());
    a = area_of(b.p);
    lg = elem_with(strstr(b.p, "<g class=\"legend\">"), "<rect");
    cr_assert_geq(attr_d(lg, "x"), a.x + a.w, "legend inside although every corner has data");
    assert_svg(b.p);
    // No labels, or legend NONE: no legend.
    PlotOpts none = {.legend = PLOT_LEGEND_NONE};
    buf_reset(&b);
    cr_assert_eq(plot_line(&b, &none, &s, 1), 0);
    cr_assert_null(strstr(b.p, "class=\"legend\""));
    buf_free(&b);
}

Test(plot, x_tick_labels_do_not_overlap) {
    float x[2] = {0.000123f, 987654.0f}, y[2] = {0, 1};
    PlotSeries s = {.x = x, .y = y, .n = 2};
    for (int w = 200; w <= 1200; w += 250) {
        PlotOpts o = {.width = w, .height = 300};
        Buf b = {0};
        cr_assert_eq(plot_line(&b, &o, &s, 1), 0, "%s", err_msg());
        const char *g = strstr(b.p, "<g class=\"xticks\">"), *end = strstr(g, "</g>");
        double prev_right = -1e9;
        int n = 0;
        for (const char *e = strstr(g, "<text"); e && e < end; e = strstr(e + 1, "<text")) {
            const char *t = strchr(e, '>') + 1;
            double half = 0.5 * 0.58 * 11 * (double)(strchr(t, '<') - t), cx = attr_d(e, "x");
            cr_assert_gt(cx - half, prev_right, "width %d: tick labels overlap", w);
            prev_right = cx + half;
            n++;
        }
        cr_assert_geq(n, 2, "width %d: %d x tick labels", w, n);
        buf_free(&b);
    }
}

Test(plot, bad_arguments_are_errors_not_crashes) {
    float y[2] = {0, 1};
    PlotSeries s = {.y = y, .n = 2};
    Buf b = {0};
    cr_assert_eq(plot_line(&b, NULL, &s, -1), -1);
    cr_assert(strstr(err_msg(), "plot_line"), "%s", err_msg());
    PlotSeries bad = {.y = NULL, .n = 3, .label = "loss"};
    cr_assert_eq(plot_line(&b, NULL, &bad, 1), -1);
    cr_assert(strstr(err_msg(), "loss"), "message names the series: %s", err_msg());
    PlotOpts tiny = {.width = 50, .height = 50};
    cr_assert_eq(plot_line(&b, &tiny, &s, 1), -1);
    PlotOpts neg = {.log_x = 1, .xmin = -1, .xmax = 10};
    cr_assert_eq(plot_line(&b, &neg, &s, 1), -1);
    cr_assert(strstr(err_msg(), "log x"), "%s", err_msg());
    PlotOpts refs = {.n_refs = 2};
    cr_assert_eq(plot_line(&b, &refs, &s, 1), -1);
    cr_assert_eq(b.len, 0u, "a failed call wrote into the buffer");
    buf_free(&b);
}

// ---- heatmaps ------------------------------------------------------------------------------

Test(plot, heatmap_cells_sit_in_place_with_their_colours) {
    // [3, 4]; values chosen on the colour map's control points so colours are known exactly.
    float m[12] = {0, 0.25f, 0.5f, 0.75f, 1, NAN, 0.5f, 2, -1, 0.125f, 0.875f, 0.375f};
    const char *want[12] = {"#440154", "#3b528b", "#21918c", "#5ec962", "#fde725", "#bdbdbd",
                            "#21918c", "#fde725", "#440154", "#472d7b", "#addc30", "#2c728e"};
    PlotHeatmap h = {.data = m, .rows = 3, .cols = 4, .scale = {.vmin = 0, .vmax = 1}};
    Buf b = {0};
    cr_assert_eq(plot_heatmap(&b, NULL, &h), 0, "%s", err_msg());
    assert_svg(b.p);
    Rect a = area_of(b.p);
    double cw = a.w / 4, ch = a.h / 3;
    CLOSE(cw, ch, 0.01);  // square cells by default
    const char *cells = strstr(b.p, "<g class=\"cells\"");
    cr_assert_not_null(cells);
    cr_assert_eq(count_str(cells, "<rect") - count_str(strstr(cells, "</g>"), "<rect"), 12);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            const char *e = rect_at(cells, a.x + j * cw, a.y + i * ch);
            cr_assert_not_null(e, "no cell (%d, %d)", i, j);
            char fill[16];
            attr_s(e, "fill", fill, sizeof fill);
            cr_assert_str_eq(fill, want[i * 4 + j], "cell (%d, %d)", i, j);
            CLOSE(attr_d(e, "width"), cw, 0.01);
            CLOSE(attr_d(e, "height"), ch, 0.01);
        }
    cr_assert(strstr(b.p, "class=\"colorbar\""));
    buf_free(&b);
}

Test(plot, diverging_heatmap_is_white_at_zero_with_a_symmetric_range) {
    float m[4] = {-1, 0, 2, 0.5f};
    PlotHeatmap h = {.data = m, .rows = 1, .cols = 4, .scale = {.cmap = PLOT_DIVERGING}};
    Buf b = {0};
    cr_assert_eq(plot_heatmap(&b, NULL, &h), 0, "%s", err_msg());
    assert_svg(b.p);
    Rect a = area_of(b.p);
    const char *cells = strstr(b.p, "<g class=\"cells\"");
    // Range ±2: -1 is t = 0.25, 0 is t = 0.5 (white), 2 is t = 1.
    const char *want[3] = {"#92c5de", "#ffffff", "#b2182b"};
    for (int j = 0; j < 3; j++) {
        char fill[16];
        const char *e = rect_at(cells, a.x + j * a.w / 4, a.y);
        cr_assert_not_null(e, "no cell %d", j);
        attr_s(e, "fill", fill, sizeof fill);
        cr_assert_str_eq(fill, want[j], "cell %d", j);
    }
    // The colour bar is labelled symmetrically.
    const char *cb = strstr(b.p, "class=\"colorbar\"");
    cr_assert(strstr(cb, ">-2</text>") && strstr(cb, ">2</text>") && strstr(cb, ">0</text>"));
    // A fixed asymmetric range is widened to stay centred on 0.
    h.scale.vmin = -1, h.scale.vmax = 4;
    buf_reset(&b);
    cr_assert_eq(plot_heatmap(&b, NULL, &h), 0);
    a = area_of(b.p);
    char fill[16];
    const char *e = rect_at(strstr(b.p, "<g class=\"cells\""), a.x + a.w / 4, a.y);
    cr_assert_not_null(e);
    attr_s(e, "fill", fill, sizeof fill);
    cr_assert_str_eq(fill, "#ffffff");
    buf_free(&b);
}

Test(plot, heatmap_labels_values_and_fixed_size) {
    float m[6] = {0.1f, 0.25f, 0.5f, 0.75f, 0.9f, NAN};
    const char *rows[2] = {"<bos>", "L0H3"}, *cols[3] = {"a&b", "the", "cat"};
    PlotHeatmap h = {.data = m, .rows = 2, .cols = 3, .row_labels = rows, .col_labels = cols,
                     .show_values = 1, .scale = {.vmin = 0, .vmax = 1, .label = "p(attn)"}};
    PlotOpts o = {.title = "pattern", .xlabel = "key", .ylabel = "query", .width = 500, .height = 260};
    Buf b = {0};
    cr_assert_eq(plot_heatmap(&b, &o, &h), 0, "%s", err_msg());
    assert_svg(b.p);
    cr_assert(strstr(b.p, "width=\"500\" height=\"260\""));
    cr_assert(strstr(b.p, ">&lt;bos&gt;</text>") && strstr(b.p, ">L0H3</text>") &&
              strstr(b.p, ">a&amp;b</text>"));
    const char *vals = strstr(b.p, "<g class=\"values\"");
    cr_assert_not_null(vals);
    cr_assert_eq(count_str(vals, "<text") - count_str(strstr(vals, "</g>"), "<text"), 5,
                 "NaN cell printed a value");
    cr_assert(strstr(vals, ">0.25</text>") && strstr(vals, ">0.90</text>"));
    // Dark cells get white text, light cells black: 0.1 (dark purple) and 0.9 (yellow).
    Rect a = area_of(b.p);
    const char *t01 = elem_with(vals, ">0.10<"), *t09 = elem_with(vals, ">0.90<");
    char ink[16];
    attr_s(t01, "fill", ink, sizeof ink);
    cr_assert_str_eq(ink, "#fff");
    attr_s(t09, "fill", ink, sizeof ink);
    cr_assert_str_eq(ink, "#000");
    CLOSE(attr_d(t09, "x"), a.x + 1.5 * a.w / 3, 0.01);  // cell (1, 1), centred
    cr_assert(strstr(b.p, ">p(attn)</text>"));
    h.value_fmt = "%.0f%%";
    buf_reset(&b);
    cr_assert_eq(plot_heatmap(&b, &o, &h), 0);
    assert_svg(b.p);
    cr_assert(strstr(b.p, ">1%</text>"));
    buf_free(&b);
}

Test(plot, big_heatmaps_thin_their_labels_and_bad_ones_are_errors) {
    enum { R = 100, C = 150 };
    float *m = malloc(sizeof(float) * R * C);
    for (int i = 0; i < R * C; i++) m[i] = (float)(i % 37);
    PlotHeatmap h = {.data = m, .rows = R, .cols = C};
    Buf b = {0};
    cr_assert_eq(plot_heatmap(&b, NULL, &h), 0, "%s", err_msg());
    assert_svg(b.p);
    int nx = count_str(strstr(b.p, "<g class=\"xticks\">"), "<text") -
             count_str(strstr(strstr(b.p, "<g class=\"xticks\">"), "</g>"), "<text");
    cr_assert(nx >= 3 && nx < C / 3, "%d column labels for %d columns", nx, C);
    cr_assert(strstr(b.p, ">0</text>"));
    buf_free(&b);
    free(m);
    PlotHeatmap bad = {.data = NULL, .rows = 2, .cols = 2};
    cr_assert_eq(plot_heatmap(&b, NULL, &bad), -1);
    cr_assert(strstr(err_msg(), "plot_heatmap"));
    float one = 1;
    PlotHeatmap zero = {.data = &one, .rows = 0, .cols = 1};
    cr_assert_eq(plot_heatmap(&b, NULL, &zero), -1);
    buf_free(&b);
}

// Above 1024 cells the cells are one embedded PNG, a pixel a cell, row 0 on top, stretched over
// the plot area: decoded with the tests' own reader, pixels are equal exactly where the values
// are, the largest value has the colour bar's top colour, and the cells group holds no rects.
Test(plot, large_heatmaps_embed_their_cells_as_one_image) {
    enum { R = 40, C = 50 };
    float *m = malloc(sizeof(float) * R * C);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) m[i * C + j] = (float)((i * 7 + j) % 3);  // 0, 1, 2
    m[0] = NAN;
    PlotHeatmap h = {.data = m, .rows = R, .cols = C, .scale = {.vmin = 0, .vmax = 2}};
    Buf b = {0};
    cr_assert_eq(plot_heatmap(&b, NULL, &h), 0, "%s", err_msg());
    assert_svg(b.p);
    const char *cells = strstr(b.p, "<g class=\"cells\"");
    const char *end = strstr(cells, "</g>");
    cr_assert(cells && end);
    cr_assert_eq(count_str(cells, "<image") - count_str(end, "<image"), 1);
    cr_assert_eq(count_str(cells, "<rect") - count_str(end, "<rect"), 0, "cells drawn as rects too");
    Rect a = area_of(b.p);
    const char *img = strstr(cells, "<image");
    double x, y, w, hh;
    cr_assert_eq(sscanf(img, "<image x=\"%lf\" y=\"%lf\" width=\"%lf\" height=\"%lf\"", &x, &y, &w, &hh), 4);
    cr_assert(fabs(x - a.x) < 0.01 && fabs(y - a.y) < 0.01 && fabs(w - a.w) < 0.01 && fabs(hh - a.h) < 0.01,
              "image %g %g %g %g vs plot area %g %g %g %g", x, y, w, hh, a.x, a.y, a.w, a.h);
    size_t cap = strlen(img);
    uint8_t *png = malloc(cap);
    size_t n = test_base64_decode(strstr(img, "base64,") + 7, png, cap);
    TestPng d = test_png_decode(png, n);
    cr_assert(d.w == C && d.h == R && d.channels == 3, "PNG %d x %d x %d", d.w, d.h, d.channels);
    const uint8_t *nan_px = d.pix;  // cell (0, 0) is NaN: a colour of its own
    for (int k = 1; k < R * C; k++)
        for (int q = 1; q < R * C; q += 97) {
            int same = !memcmp(d.pix + 3 * k, d.pix + 3 * q, 3);
            cr_assert_eq(same, m[k] == m[q], "cells %d and %d: values %g, %g, same colour %d", k, q, m[k], m[q], same);
        }
    for (int k = 1; k < R * C; k++) cr_assert(memcmp(d.pix + 3 * k, nan_px, 3), "cell %d coloured like NaN", k);
    // The colours are the rect path's: a 1 x 3 heatmap of 0, 1, 2 on the same scale, cell by cell.
    const float three[3] = {0, 1, 2};
    PlotHeatmap small = {.data = three, .rows = 1, .cols = 3, .scale = {.vmin = 0, .vmax = 2}};
    Buf sb = {0};
    cr_assert_eq(plot_heatmap(&sb, NULL, &small), 0, "%s", err_msg());
    const char *f = strstr(sb.p, "<g class=\"cells\"");
    for (int v = 0; v < 3; v++) {
        f = strstr(f + 1, "fill=\"");
        cr_assert_not_null(f);
        int k = v == 0 ? 3 : v == 1 ? 1 : 2;  // cells (0, 3), (0, 1), (0, 2) hold 0, 1, 2
        cr_assert_eq(m[k], (float)v);
        char want[16];
        snprintf(want, sizeof want, "fill=\"#%02x%02x%02x\"", d.pix[3 * k], d.pix[3 * k + 1], d.pix[3 * k + 2]);
        cr_assert(!strncmp(f, want, strlen(want)), "value %d: rect %.16s, pixel %s", v, f, want);
    }
    buf_free(&sb);
    free(d.pix);
    free(png);
    buf_free(&b);
    free(m);
}

// ---- bars ----------------------------------------------------------------------------------

Test(plot, bars_grow_from_zero_both_ways) {
    float v[3] = {1, -1, 2};
    const char *lab[3] = {"a", "b<", "c"};
    PlotColor col[3] = {PLOT_AUTO, PLOT_HEX(0x123456), PLOT_AUTO};
    PlotBars bars = {.values = v, .n = 3, .labels = lab, .colors = col, .color = PLOT_HEX(0xabcdef)};
    PlotOpts o = {.ymin = -2, .ymax = 2};
    Buf b = {0};
    cr_assert_eq(plot_bars(&b, &o, &bars), 0, "%s", err_msg());
    assert_svg(b.p);
    Rect a = area_of(b.p);
    const char *g = strstr(b.p, "<g class=\"bars\"");
    double zero = a.y + a.h / 2, unit = a.h / 4, pitch = a.w / 3;
    const char *e = elem_with(g, "<rect");
    const char *want[3] = {"#abcdef", "#123456", "#abcdef"};
    double top[3] = {zero - unit, zero, zero - 2 * unit}, len[3] = {unit, unit, 2 * unit};
    for (int i = 0; i < 3; i++, e = elem_with(e + 1, "<rect")) {
        CLOSE(attr_d(e, "x") + attr_d(e, "width") / 2, a.x + (i + 0.5) * pitch, 0.02);
        CLOSE(attr_d(e, "y"), top[i], 0.01);
        CLOSE(attr_d(e, "height"), len[i], 0.01);
        char fill[16];
        attr_s(e, "fill", fill, sizeof fill);
        cr_assert_str_eq(fill, want[i]);
    }
    cr_assert(strstr(b.p, ">b&lt;</text>"));
    buf_free(&b);
}

Test(plot, horizontal_bars_with_colour_values_and_printed_values) {
    float v[4] = {0.5f, 1, NAN, 0.25f}, share[4] = {0, 1, 0.5f, 0.5f};
    PlotBars bars = {.values = v, .n = 4, .color_values = share, .horizontal = 1, .show_values = 1,
                     .scale = {.vmin = 0, .vmax = 1, .label = "shared"}};
    PlotOpts o = {.xlabel = "||W_i||", .ylabel = "feature"};
    Buf b = {0};
    cr_assert_eq(plot_bars(&b, &o, &bars), 0, "%s", err_msg());
    assert_svg(b.p);
    Rect a = area_of(b.p);
    const char *g = strstr(b.p, "<g class=\"bars\"");
    cr_assert_eq(count_str(g, "<rect") - count_str(strstr(g, "</g>"), "<rect"), 3, "NaN bar drawn");
    const char *e0 = elem_with(g, "<rect"), *e1 = elem_with(e0 + 1, "<rect");
    // First bar at the top, growing right from x = 0 (the left edge: all values >= 0).
    cr_assert_lt(attr_d(e0, "y"), attr_d(e1, "y"));
    CLOSE(attr_d(e0, "x"), a.x, 0.01);
    CLOSE(attr_d(e1, "width"), 2 * attr_d(e0, "width"), 0.02);
    char fill[16];
    attr_s(e0, "fill", fill, sizeof fill);
    cr_assert_str_eq(fill, "#440154");
    attr_s(e1, "fill", fill, sizeof fill);
    cr_assert_str_eq(fill, "#fde725");
    cr_assert(strstr(b.p, "class=\"colorbar\"") && strstr(b.p, ">shared</text>"));
    cr_assert(strstr(b.p, ">0.5</text>") && strstr(b.p, ">0.25</text>"));
    PlotOpts lg = {.log_y = 1};
    buf_reset(&b);
    cr_assert_eq(plot_bars(&b, &lg, &bars), -1);
    PlotBars none = {.values = v, .n = 0};
    cr_assert_eq(plot_bars(&b, NULL, &none), -1);
    cr_assert(strstr(err_msg(), "plot_bars"));
    buf_free(&b);
}

// ---- scatter -------------------------------------------------------------------------------

Test(plot, scatter_points_colours_and_segments_from_the_origin) {
    float x[3] = {1, -1, 0.5f}, y[3] = {0, 0.5f, -1}, val[3] = {0, 1, 0.5f};
    const char *lab[3] = {"f0", NULL, "f<2>"};
    PlotScatter s = {.x = x, .y = y, .n = 3, .values = val, .labels = lab, .from_origin = 1,
                     .scale = {.vmin = 0, .vmax = 1, .label = "importance"}};
    PlotOpts o = {.xmin = -2, .xmax = 2, .ymin = -2, .ymax = 2, .width = 500, .height = 400};
    Buf b = {0};
    cr_assert_eq(plot_scatter(&b, &o, &s), 0, "%s", err_msg());
    assert_svg(b.p);
    Rect a = area_of(b.p);
    const char *g = strstr(b.p, "<g class=\"points\">");
    const char *c = elem_with(g, "<circle");
    const char *want[3] = {"#440154", "#fde725", "#21918c"};
    const char *seg = elem_with(g, "class=\"seg\"");
    for (int i = 0; i < 3; i++, c = elem_with(c + 1, "<circle"), seg = elem_with(strchr(seg, '>'), "class=\"seg\"")) {
        double px = a.x + a.w * (x[i] + 2) / 4, py = a.y + a.h - a.h * (y[i] + 2) / 4;
        CLOSE(attr_d(c, "cx"), px, 0.01);
        CLOSE(attr_d(c, "cy"), py, 0.01);
        char fill[16];
        attr_s(c, "fill", fill, sizeof fill);
        cr_assert_str_eq(fill, want[i]);
        CLOSE(attr_d(seg, "x1"), a.x + a.w / 2, 0.01);  // from the origin
        CLOSE(attr_d(seg, "y1"), a.y + a.h / 2, 0.01);
        CLOSE(attr_d(seg, "x2"), px, 0.01);
        CLOSE(attr_d(seg, "y2"), py, 0.01);
    }
    cr_assert(strstr(b.p, ">f0</text>") && strstr(b.p, ">f&lt;2&gt;</text>"));
    cr_assert(strstr(b.p, "class=\"colorbar\""));
    buf_free(&b);
}

Test(plot, scatter_equal_aspect_and_log_axes) {
    float x[2] = {0, 4}, y[2] = {0, 1};
    PlotScatter s = {.x = x, .y = y, .n = 2};
    PlotOpts o = {.equal_aspect = 1, .width = 400, .height = 400};
    Buf b = {0};
    cr_assert_eq(plot_scatter(&b, &o, &s), 0, "%s", err_msg());
    const char *c0 = elem_with(b.p, "<circle"), *c1 = elem_with(c0 + 1, "<circle");
    double dx = attr_d(c1, "cx") - attr_d(c0, "cx"), dy = attr_d(c0, "cy") - attr_d(c1, "cy");
    CLOSE(dx / 4, dy / 1, 0.02);  // pixels per unit the same on both axes
    // ... and one tick step on both, so the grid is square: read two neighbouring labels each.
    double tx[2], ty[2];
    const char *xt = strstr(b.p, "<g class=\"xticks\">"), *yt = strstr(b.p, "<g class=\"yticks\">");
    for (int k = 0; k < 2; k++) {
        xt = strchr(strstr(xt + 1, "<text"), '>') + 1;
        yt = strchr(strstr(yt + 1, "<text"), '>') + 1;
        tx[k] = strtod(xt, NULL);
        ty[k] = strtod(yt, NULL);
    }
    CLOSE(tx[1] - tx[0], ty[1] - ty[0], 1e-9);
    float lx[3] = {10, 100, 1000}, ly[3] = {1, 2, 3};
    PlotScatter ls = {.x = lx, .y = ly, .n = 3};
    PlotOpts lo = {.log_x = 1};
    buf_reset(&b);
    cr_assert_eq(plot_scatter(&b, &lo, &ls), 0, "%s", err_msg());
    assert_svg(b.p);
    c0 = elem_with(b.p, "<circle"), c1 = elem_with(c0 + 1, "<circle");
    const char *c2 = elem_with(c1 + 1, "<circle");
    CLOSE(attr_d(c1, "cx") - attr_d(c0, "cx"), attr_d(c2, "cx") - attr_d(c1, "cx"), 0.02);
    buf_free(&b);
}

Test(plot, scatter_categories_get_palette_colours_and_a_legend) {
    float x[4] = {0, 1, 2, 3}, y[4] = {0, 1, 0, 1};
    int cat[4] = {0, 1, 1, 2};
    const char *names[3] = {"dim 1", "dim 1/2", "dim 1/3"};
    PlotRefLine r[2] = {{.at = 0.5, .label = "1/2"}, {.at = 1.0 / 3, .label = "1/3"}};
    PlotScatter s = {.x = x, .y = y, .n = 4, .category = cat, .category_names = names,
                     .n_categories = 3};
    PlotOpts o = {.refs = r, .n_refs = 2};
    Buf b = {0};
    cr_assert_eq(plot_scatter(&b, &o, &s), 0, "%s", err_msg());
    assert_svg(b.p);
    const char *c = elem_with(strstr(b.p, "<g class=\"points\">"), "<circle");
    for (int i = 0; i < 4; i++, c = elem_with(c + 1, "<circle")) {
        char fill[16], want[8];
        attr_s(c, "fill", fill, sizeof fill);
        plot_color_hex(plot_palette(cat[i]), want);
        cr_assert_str_eq(fill, want);
    }
    const char *lg = strstr(b.p, "<g class=\"legend\">");
    cr_assert(lg && strstr(lg, ">dim 1/2</text>") && strstr(lg, ">dim 1/3</text>"));
    cat[2] = 3;
    buf_reset(&b);
    cr_assert_eq(plot_scatter(&b, &o, &s), -1);
    cr_assert(strstr(err_msg(), "category 3"), "%s", err_msg());
    buf_free(&b);
}

// ---- files ---------------------------------------------------------------------------------

Test(plot, save_writes_the_svg_atomically) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/fig.svg", dir);
    float y[3] = {1, 2, 3};
    PlotSeries s = {.y = y, .n = 3};
    Buf b = {0};
    cr_assert_eq(plot_line(&b, NULL, &s, 1), 0);
    cr_assert_eq(plot_save(path, &b), 0, "%s", err_msg());
    char *text = read_text(path);
    cr_assert_str_eq(text, b.p);
    free(text);
    Buf broken = {0};
    broken.oom = 1;
    cr_assert_eq(plot_save(path, &broken), -1);
    cr_assert(strstr(err_msg(), path));
    snprintf(path, sizeof path, "%s/missing/fig.svg", dir);
    cr_assert_eq(plot_save(path, &b), -1);
    buf_free(&b);
    rm_tree(dir);
}
