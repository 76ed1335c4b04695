// plot_internal.h — what plot.c and plot_heatmap.c share; not part of the public API.
#ifndef MECHLAB_PLOT_INTERNAL_H
#define MECHLAB_PLOT_INTERNAL_H

#include <stddef.h>

#include "interp/plot.h"
#include "model/buf.h"

// Font sizes in pixels (the SVG root sets font-family sans-serif and the tick size).
#define PLOT_FS_TITLE 15.0
#define PLOT_FS_LABEL 13.0
#define PLOT_FS_TICK 11.0
#define PLOT_FS_SMALL 10.0

// A white outline behind text that sits on data, so it stays readable.
#define PLOT_HALO " stroke=\"#fff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\""

typedef struct {
    double x, y, w, h;
} PlotRect;

// One axis: data range [lo, hi] (log10-spaced when log) onto pixels [p0, p1] (p0 may exceed p1).
typedef struct {
    double lo, hi;
    int log;
    double p0, p1;
} PlotAxis;

// A PlotColorScale with its range resolved against the data.
typedef struct {
    PlotCmap cmap;
    double lo, hi;
    const char *label;
} PlotScaleR;

// Pixel position of v, or NaN when v is missing (not finite, or <= 0 on a log axis).
double plot_axis_px(const PlotAxis *a, double v);

// Approximate width of UTF-8 text at a font size (no font metrics in a plain C library: an
// average glyph is ~0.58 em in common sans-serif faces; good enough to lay out margins).
double plot_text_width(const char *s, double size);

void plot_svg_begin(Buf *b, int w, int h, const char *title);
void plot_svg_end(Buf *b);
// <text> with the string escaped; size 0 means the inherited tick size, anchor NULL "start";
// attrs (raw, may be NULL) is appended inside the tag.
void plot_text(Buf *b, double x, double y, double size, const char *anchor, const char *attrs,
               const char *s);
// Rotated -90° (reading upwards), centred on (x, y): y-axis labels.
void plot_text_vertical(Buf *b, double x, double y, double size, const char *s);
void plot_put_color(Buf *b, PlotColor c);  // "#rrggbb"

PlotScaleR plot_scale_resolve(const PlotColorScale *cs, const float *v, size_t n);
PlotColor plot_scale_color(const PlotScaleR *s, double v);
// Width a colour bar with its ticks and title takes to the right of the plot.
double plot_colorbar_width(const PlotScaleR *s);
// A vertical colour bar, vmin at the bottom, with its top-left corner at (x, y).
void plot_colorbar(Buf *b, const PlotScaleR *s, double x, double y, double h);

// Checks the figure size options; fills *w, *h with them or the defaults.
int plot_check_size(const char *fn, const PlotOpts *o, int defw, int defh, int *w, int *h);

// Tick label for a value on an axis (log axes format by value; linear ones by step).
void plot_axis_tick_label(char *out, size_t n, const PlotAxis *a, double v, double step);

// Show every k-th of a row of labels `pitch` pixels apart that each need `need` pixels; k from
// 1, 2, 5, 10, 20, ... so that index labels land on round numbers.
int plot_label_every(double pitch, double need);

#endif
