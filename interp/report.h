// report.h — one static report.html per run: the page a student opens first.
//
// Sections are appended in order; report_save() wraps them in a complete HTML page with a small
// inline stylesheet and writes it atomically. Figures are inlined as SVG (the text plot_*()
// rendered), so the page is one self-contained file: it opens from the file system with no
// network, no JavaScript and no other files. All text passed in is escaped.
//
//     Report *r = report_create("Induction heads");
//     report_paragraph(r, "Reproduces Olsson et al. 2022 ...");
//     report_heading(r, 2, "Loss");
//     report_figure(r, svg.p, "Training loss; the phase change is marked.");
//     report_table_begin(r, 3, (const char *[]){"metric", "ours", "published"});
//     report_table_row(r, (const char *[]){"phase change step", "420", "~ 400"});
//     report_table_end(r);
//     report_link(r, "metrics.csv", "metrics over training (CSV)");
//     if (report_save(r, "runs/induction/report.html")) ... err_msg() ...
//     report_free(r);
#ifndef MECHLAB_REPORT_H
#define MECHLAB_REPORT_H

#include <stddef.h>

#include "model/buf.h"

typedef struct Report Report;

// A new report whose page title and top heading is `title`. NULL (err_set) when out of memory.
Report *report_create(const char *title);
void report_free(Report *r);  // report_free(NULL) is fine

// A heading; level 2 for sections, 3 for subsections (clamped to 2..4; the title is level 1).
void report_heading(Report *r, int level, const char *text);
// A paragraph of plain text.
void report_paragraph(Report *r, const char *text);
void report_paragraphf(Report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// A preformatted block (configs, command lines, logs), whitespace kept.
void report_pre(Report *r, const char *text);

// A table: a header row of ncols strings, then rows of ncols strings each (NULL cells print
// empty). Cells that read as numbers are right-aligned.
void report_table_begin(Report *r, int ncols, const char *const *header);
void report_table_row(Report *r, const char *const *cells);
void report_table_end(Report *r);

// An inline SVG figure (a standalone SVG document as text; an XML declaration is dropped) with an
// optional caption (NULL for none).
void report_figure(Report *r, const char *svg, const char *caption);

// An image embedded in the page as a data: URI (base64), so the page stays one self-contained
// file: `png` holds len bytes of a PNG file (interp/png.h writes them). display_width > 0 sets
// its width in CSS pixels (scaled without smoothing, so small filters stay crisp); 0 keeps its
// natural size. alt is the text shown without images (NULL: the caption); caption may be NULL.
void report_image(Report *r, const void *png, size_t len, int display_width, const char *alt,
                  const char *caption);

// A link to another file of the run (relative path) with its description; consecutive links
// form one list.
void report_link(Report *r, const char *href, const char *text);

// Formats a number for a table: `sig` significant digits (1..17; 0 → 4) without an exponent
// for 1e-4 <= |v| < 1e7, scientific outside that, "nan" / "inf" / "-inf" for the rest.
// Returns out.
char *report_num(char *out, size_t n, double v, int sig);

// Appends the whole page to `out`. Returns 0, or -1 with err_set (a table still open, out of
// memory).
int report_render(const Report *r, Buf *out);
// Renders and writes the page to `path` atomically.
int report_save(const Report *r, const char *path);

#endif
