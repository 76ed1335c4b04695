// plot.h — the one plotting module: line plots, heatmaps, bar charts and scatter plots as SVG.
//
// Every plot function appends one standalone SVG document to a Buf (xmlns, width/height, viewBox,
// sans-serif text, no scripts, no external fonts and no ids, so several figures can be inlined
// into one HTML page without clashing). plot_save() writes the Buf atomically; report_figure()
// (report.h) inlines the same text into report.html. Options are plain structs whose zero value
// is a sensible default, so a call names only what it changes:
//
//     PlotSeries s = {.x = steps, .y = loss, .n = n, .label = "train loss"};
//     PlotRefLine r = {.at = logf(V), .label = "ln(vocab)"};
//     PlotOpts o = {.title = "Loss", .xlabel = "step", .ylabel = "loss", .refs = &r, .n_refs = 1};
//     Buf svg = {0};
//     if (plot_line(&svg, &o, &s, 1) || plot_save("runs/a/loss.svg", &svg)) ... err_msg() ...
//     buf_free(&svg);
//
// Data are float arrays (what tensors hold). A NaN or ±Inf value is "missing": a line breaks
// there, a point or bar is not drawn, a heatmap cell is grey. On a log axis values <= 0 count as
// missing too. Functions return 0, or -1 with err_set() when an argument is invalid (negative
// counts, NULL arrays, a category out of range, an absurd figure size) or memory ran out.
#ifndef MECHLAB_PLOT_H
#define MECHLAB_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "model/buf.h"

// ---- colours -------------------------------------------------------------------------------

// A colour as 0x1RRGGBB; 0 (PLOT_AUTO) means "choose for me" wherever a colour is optional.
typedef uint32_t PlotColor;
#define PLOT_AUTO ((PlotColor)0)
#define PLOT_HEX(rgb) ((PlotColor)(0x1000000u | ((uint32_t)(rgb)&0xffffffu)))
#define PLOT_RGB(r, g, b) PLOT_HEX((((uint32_t)(r)&255u) << 16) | (((uint32_t)(g)&255u) << 8) | ((uint32_t)(b)&255u))
#define PLOT_NAN_COLOR PLOT_HEX(0xbdbdbd)  // missing values (heatmap cells, colour-mapped NaN)

typedef enum {
    PLOT_SEQUENTIAL = 0,  // viridis-like: dark purple → blue → green → yellow
    PLOT_DIVERGING,       // blue → white → red, white at 0, range made symmetric about 0
} PlotCmap;

// The colour of map `cmap` at t in [0, 1] (t is clamped; NaN gives PLOT_NAN_COLOR).
PlotColor plot_cmap(PlotCmap cmap, double t);
// Categorical colour i (10 distinct colours, cycling); i < 0 counts as 0.
PlotColor plot_palette(int i);
// Writes "#rrggbb" (8 bytes with the NUL). PLOT_AUTO prints as black.
void plot_color_hex(PlotColor c, char out[8]);

// How values become colours (heatmaps, colour-valued scatter points and bars).
typedef struct {
    PlotCmap cmap;
    double vmin, vmax;   // a fixed range when vmin < vmax, else the data range; a diverging
                         // range is always widened to be symmetric about 0
    const char *label;   // colour-bar title; NULL for none
} PlotColorScale;

// ---- options every figure shares -----------------------------------------------------------

// A reference line across the plot: a marker ("phase change at step 420") or a level (ln(vocab)).
typedef struct {
    int vertical;       // 1: the line x = at; 0: the line y = at
    double at;          // in data units; an auto-ranged axis is widened to show it
    const char *label;  // written beside the line; NULL for none
    PlotColor color;    // PLOT_AUTO → dark grey
    int solid;          // 0 → dashed
} PlotRefLine;

typedef enum {
    PLOT_LEGEND_AUTO = 0,  // inside the plot, in the corner that covers the least data
    PLOT_LEGEND_NONE,
    PLOT_LEGEND_OUTSIDE,   // to the right of the plot
} PlotLegend;

typedef struct {
    const char *title, *xlabel, *ylabel;
    int width, height;      // pixels; 0 → 640 × 400 (heatmaps: sized from their cell count)
    int log_x, log_y;       // logarithmic axes with ticks at decades (line and scatter plots)
    double xmin, xmax;      // a fixed x range when xmin < xmax, else from the data
    double ymin, ymax;      // a fixed y range when ymin < ymax, else from the data
    int equal_aspect;       // one x unit as long as one y unit (directions in a plane)
    const PlotRefLine *refs;
    int n_refs;
    PlotLegend legend;
} PlotOpts;

// ---- line plots ----------------------------------------------------------------------------

typedef struct {
    const float *x;     // n values, or NULL for 0, 1, ..., n-1
    const float *y;     // n values; a missing value breaks the line
    int n;
    const char *label;  // legend entry; NULL keeps the series out of the legend
    PlotColor color;    // PLOT_AUTO → plot_palette(index of the series)
    int dashed;
    int markers;        // also draw a dot at every point
} PlotSeries;

// Several series on shared axes, with a legend when any series has a label.
int plot_line(Buf *out, const PlotOpts *o, const PlotSeries *series, int n_series);

// ---- heatmaps ------------------------------------------------------------------------------

typedef struct {
    const float *data;              // [rows, cols], row-major; row 0 is drawn at the top
    int rows, cols;
    const char *const *row_labels;  // rows strings ("L0H3"), or NULL for indices
    const char *const *col_labels;  // cols strings (tokens), or NULL for indices
    PlotColorScale scale;           // colour map, range and colour-bar title
    int show_values;                // print each value in its cell (small matrices)
    const char *value_fmt;          // printf format for one double; NULL → "%.2f"
} PlotHeatmap;

// A matrix as coloured cells with a colour bar. o->width/height fix the figure size; by default
// cells are square and the figure is sized from the matrix. Log axes, ranges, refs and legend in
// `o` do not apply.
int plot_heatmap(Buf *out, const PlotOpts *o, const PlotHeatmap *h);

// ---- bar charts ----------------------------------------------------------------------------

typedef struct {
    const float *values;           // n bar lengths; negative bars grow the other way from 0
    int n;
    const char *const *labels;     // n bar labels, or NULL for indices
    PlotColor color;               // every bar; PLOT_AUTO → plot_palette(0)
    const PlotColor *colors;       // n per-bar colours (PLOT_AUTO entries use `color`), or NULL
    const float *color_values;     // n values coloured through `scale` with a colour bar, or NULL
    PlotColorScale scale;
    int horizontal;                // bars grow rightwards, the first bar at the top
    int show_values;               // print each value at the end of its bar
} PlotBars;

// Labelled bars. Axis labels in `o` are literal: xlabel is under the horizontal axis whichever
// way the bars grow. Log axes do not apply (an error); a fixed value range does.
int plot_bars(Buf *out, const PlotOpts *o, const PlotBars *b);

// ---- scatter plots -------------------------------------------------------------------------

typedef struct {
    const float *x, *y;            // n points
    int n;
    PlotColor color;               // every point; PLOT_AUTO → plot_palette(0)
    const float *values;           // n values coloured through `scale` with a colour bar, or NULL
    PlotColorScale scale;
    const int *category;           // n indices in [0, n_categories): palette colours + legend
    const char *const *category_names;  // n_categories legend entries (NULL → "0", "1", ...)
    int n_categories;
    const char *const *labels;     // n point labels (NULL entries are skipped), or NULL
    double radius;                 // point radius in pixels; 0 → 3.5
    int from_origin;               // also draw a segment from (0, 0) to each point: directions
} PlotScatter;

// Points, optionally coloured by value or category and labelled; `values` wins over `category`.
int plot_scatter(Buf *out, const PlotOpts *o, const PlotScatter *s);

// ---- axes ----------------------------------------------------------------------------------

#define PLOT_MAX_TICKS 64

// Nice tick values (k × step, step 1, 2 or 5 × 10^j) inside [lo, hi], about `target` of them, in
// increasing order; the step is stored in *step when step is not NULL. Returns the count (at most
// max; 0 when lo >= hi or a bound is not finite).
int plot_ticks(double lo, double hi, int target, double *out, int max, double *step);

// Ticks for a log axis over [lo, hi] (0 < lo < hi): powers of ten (every k-th decade when there
// are more than about `target`), with 2 and 5 per decade added when fewer than three decades
// show, and plot_ticks() as a last resort for a range within one decade. Returns the count.
int plot_log_ticks(double lo, double hi, int target, double *out, int max);

// Formats a tick value with the digits its axis step needs ("0.25", "1000", "1e-06").
void plot_fmt_tick(char *out, size_t n, double v, double step);

// ---- files ---------------------------------------------------------------------------------

// Writes the SVG in `svg` to `path` atomically (fails if the Buf ran out of memory).
int plot_save(const char *path, const Buf *svg);

#endif
