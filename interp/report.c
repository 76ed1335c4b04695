// report.c — the run report: escaped sections in a Buf, wrapped in a page on render.
//
// The markup is XHTML-style (every element closed, attributes quoted) so that the page is also
// well-formed XML: simple tools and the tests can check it without an HTML5 parser.
#include "interp/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"
#include "model/fileio.h"

struct Report {
    char *title;
    Buf body;
    int table_cols;   // columns of the open table, 0 when none is open
    int in_links;     // a <ul> of links is open
    char misuse[160]; // the first call out of order (a row without a table, ...), reported on render
};

// System fonts only (no downloads); figures scale down on narrow screens.
static const char CSS[] =
    "body{font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:#222;"
    "background:#fff;max-width:980px;margin:2em auto;padding:0 1.2em}\n"
    "h1{font-size:1.7em;margin:.2em 0 .6em}h2{font-size:1.3em;margin:1.6em 0 .5em;"
    "border-bottom:1px solid #e3e3e3;padding-bottom:.2em}h3,h4{font-size:1.08em;margin:1.3em 0 .4em}\n"
    "pre{background:#f6f7f8;border:1px solid #e3e3e3;border-radius:4px;padding:.7em 1em;"
    "overflow-x:auto;font-size:.88em;line-height:1.4}\n"
    "table{border-collapse:collapse;margin:.8em 0;font-size:.94em}"
    "th,td{padding:.3em .8em;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}"
    "th{border-bottom:2px solid #bbb}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "figure{margin:1.4em 0}figure svg{max-width:100%;height:auto;display:block}"
    "figcaption{color:#555;font-size:.92em;margin-top:.4em}\n"
    "ul.files{padding-left:1.2em}a{color:#1f5fa8}\n"
    "figure img{max-width:100%;height:auto;image-rendering:pixelated;display:block}\n";

Report *report_create(const char *title) {
    Report *r = calloc(1, sizeof *r);
    char *t = strdup(title ? title : "mechlab report");
    if (!r || !t) {
        free(r);
        free(t);
        err_set("report_create: out of memory");
        return NULL;
    }
    r->title = t;
    return r;
}

void report_free(Report *r) {
    if (!r) return;
    free(r->title);
    buf_free(&r->body);
    free(r);
}

static void misuse(Report *r, const char *what) {
    if (!r->misuse[0]) snprintf(r->misuse, sizeof r->misuse, "%s", what);
}

// Closes an open list of links; a table left open is an error, reported on render.
static void close_blocks(Report *r) {
    if (r->in_links) {
        buf_puts(&r->body, "</ul>\n");
        r->in_links = 0;
    }
}

static int block_ok(Report *r, const char *fn) {
    if (r->table_cols) {
        char m[96];
        snprintf(m, sizeof m, "%s called while a table is open (report_table_end missing)", fn);
        misuse(r, m);
        return 0;
    }
    close_blocks(r);
    return 1;
}

void report_heading(Report *r, int level, const char *text) {
    if (!block_ok(r, "report_heading")) return;
    if (level < 2) level = 2;
    if (level > 4) level = 4;
    buf_printf(&r->body, "<h%d>", level);
    buf_put_xml(&r->body, text ? text : "");
    buf_printf(&r->body, "</h%d>\n", level);
}

void report_paragraph(Report *r, const char *text) {
    if (!block_ok(r, "report_paragraph")) return;
    buf_puts(&r->body, "<p>");
    buf_put_xml(&r->body, text ? text : "");
    buf_puts(&r->body, "</p>\n");
}

void report_paragraphf(Report *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->body.oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    report_paragraph(r, s);
    free(s);
}

void report_pre(Report *r, const char *text) {
    if (!block_ok(r, "report_pre")) return;
    buf_puts(&r->body, "<pre>");
    buf_put_xml(&r->body, text ? text : "");
    buf_puts(&r->body, "</pre>\n");
}

// A cell is numeric when strtod reads all of it (an optional trailing % allowed): "0.93",
// "-1.2e-3", "97.5%".
static int is_number(const char *s) {
    if (!s || !*s) return 0;
    char *end;
    strtod(s, &end);
    if (end == s) return 0;
    if (*end == '%') end++;
    while (*end == ' ') end++;
    return *end == '\0';
}

void report_table_begin(Report *r, int ncols, const char *const *header) {
    if (!block_ok(r, "report_table_begin")) return;
    if (ncols <= 0) {
        misuse(r, "report_table_begin: ncols must be positive");
        return;
    }
    r->table_cols = ncols;
    buf_puts(&r->body, "<table>\n");
    if (header) {
        buf_puts(&r->body, "<thead><tr>");
        for (int j = 0; j < ncols; j++) {
            buf_puts(&r->body, "<th>");
            buf_put_xml(&r->body, header[j] ? header[j] : "");
            buf_puts(&r->body, "</th>");
        }
        buf_puts(&r->body, "</tr></thead>\n");
    }
    buf_puts(&r->body, "<tbody>\n");
}

void report_table_row(Report *r, const char *const *cells) {
    if (!r->table_cols) {
        misuse(r, "report_table_row called with no table open");
        return;
    }
    buf_puts(&r->body, "<tr>");
    for (int j = 0; j < r->table_cols; j++) {
        const char *c = cells ? cells[j] : NULL;
        buf_puts(&r->body, is_number(c) ? "<td class=\"num\">" : "<td>");
        buf_put_xml(&r->body, c ? c : "");
        buf_puts(&r->body, "</td>");
    }
    buf_puts(&r->body, "</tr>\n");
}

void report_table_end(Report *r) {
    if (!r->table_cols) {
        misuse(r, "report_table_end called with no table open");
        return;
    }
    buf_puts(&r->body, "</tbody>\n</table>\n");
    r->table_cols = 0;
}

// Skips whitespace, an XML declaration, comments and a doctype before the <svg> element.
static const char *svg_start(const char *s) {
    for (;;) {
        while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t') s++;
        const char *close = NULL;
        if (strncmp(s, "<?", 2) == 0) close = strstr(s, "?>");
        else if (strncmp(s, "<!--", 4) == 0) close = strstr(s, "-->");
        else if (strncmp(s, "<!", 2) == 0) close = strchr(s, '>');
        else return s;
        if (!close) return s;
        s = strchr(close, '>') + 1;
    }
}

void report_figure(Report *r, const char *svg, const char *caption) {
    if (!block_ok(r, "report_figure")) return;
    if (!svg) {
        misuse(r, "report_figure: svg is NULL");
        return;
    }
    const char *s = svg_start(svg);
    if (strncmp(s, "<svg", 4) != 0) {
        misuse(r, "report_figure: the figure text does not start with <svg");
        return;
    }
    buf_puts(&r->body, "<figure>\n");
    buf_puts(&r->body, s);
    if (r->body.len && r->body.p[r->body.len - 1] != '\n') buf_puts(&r->body, "\n");
    if (caption) {
        buf_puts(&r->body, "<figcaption>");
        buf_put_xml(&r->body, caption);
        buf_puts(&r->body, "</figcaption>\n");
    }
    buf_puts(&r->body, "</figure>\n");
}

void report_image(Report *r, const void *png, size_t len, int display_width, const char *alt,
                  const char *caption) {
    if (!block_ok(r, "report_image")) return;
    if (!png || len == 0) {
        misuse(r, "report_image: no image data");
        return;
    }
    buf_puts(&r->body, "<figure>\n<img src=\"data:image/png;base64,");
    buf_put_base64(&r->body, png, len);
    buf_puts(&r->body, "\" alt=\"");
    buf_put_xml(&r->body, alt ? alt : caption ? caption : "");
    buf_puts(&r->body, "\"");
    if (display_width > 0) buf_printf(&r->body, " width=\"%d\"", display_width);
    buf_puts(&r->body, "/>\n");
    if (caption) {
        buf_puts(&r->body, "<figcaption>");
        buf_put_xml(&r->body, caption);
        buf_puts(&r->body, "</figcaption>\n");
    }
    buf_puts(&r->body, "</figure>\n");
}

void report_link(Report *r, const char *href, const char *text) {
    if (r->table_cols) {
        misuse(r, "report_link called while a table is open (report_table_end missing)");
        return;
    }
    if (!r->in_links) {
        buf_puts(&r->body, "<ul class=\"files\">\n");
        r->in_links = 1;
    }
    buf_puts(&r->body, "<li><a href=\"");
    buf_put_xml(&r->body, href ? href : "");
    buf_puts(&r->body, "\">");
    buf_put_xml(&r->body, href ? href : "");
    buf_puts(&r->body, "</a>");
    if (text && *text) {
        buf_puts(&r->body, " — ");
        buf_put_xml(&r->body, text);
    }
    buf_puts(&r->body, "</li>\n");
}

char *report_num(char *out, size_t n, double v, int sig) {
    if (sig <= 0) sig = 4;
    if (sig > 17) sig = 17;
    if (isnan(v)) snprintf(out, n, "nan");
    else if (isinf(v)) snprintf(out, n, v > 0 ? "inf" : "-inf");
    else if (v == 0) snprintf(out, n, "0");
    else if (fabs(v) >= 1e-4 && fabs(v) < 1e7) {
        int dec = sig - 1 - (int)floor(log10(fabs(v)));
        snprintf(out, n, "%.*f", dec > 0 ? dec : 0, v);
    } else {
        snprintf(out, n, "%.*e", sig - 1, v);
    }
    return out;
}

int report_render(const Report *r, Buf *out) {
    if (r->misuse[0]) return err_set("report: %s", r->misuse);
    if (r->table_cols) return err_set("report: a table is still open (report_table_end missing)");
    if (r->body.oom) return err_set("report: out of memory");
    buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
                  "<meta name=\"generator\" content=\"mechlab\"/>\n<title>");
    buf_put_xml(out, r->title);
    buf_puts(out, "</title>\n<style>\n");
    buf_puts(out, CSS);
    buf_puts(out, "</style>\n</head>\n<body>\n<main>\n<h1>");
    buf_put_xml(out, r->title);
    buf_puts(out, "</h1>\n");
    if (r->body.len) buf_append(out, r->body.p, r->body.len);
    if (r->in_links) buf_puts(out, "</ul>\n");
    buf_puts(out, "</main>\n</body>\n</html>\n");
    if (out->oom) return err_set("report: out of memory");
    return 0;
}

int report_save(const Report *r, const char *path) {
    Buf page = {0};
    int rc = report_render(r, &page);
    if (rc == 0) rc = fileio_write_all(path, page.p, page.len);
    else err_prefix(path);
    buf_free(&page);
    return rc;
}
