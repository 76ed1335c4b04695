// plot.c — colours, ticks, the shared frame (axes, grid, reference lines, legend, colour bar),
// and the line, bar and scatter plots. Heatmaps are in plot_heatmap.c.
//
// Coordinates are printed with %.2f: a hundredth of a pixel is invisible and keeps files small.
// No element carries an id (no clipPath, no gradient): lines are clipped to the plot area here,
// in C, so many figures can be inlined into one HTML page without their ids colliding.
#include "interp/plot.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp/plot_internal.h"
#include "model/err.h"
#include "model/fileio.h"

// ---- colours -------------------------------------------------------------------------------

// Categorical colours: ten hues that stay distinct from each other on white.
static const uint32_t PALETTE[10] = {
    0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
    0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf,
};

typedef struct {
    double t;
    uint32_t rgb;
} CmapStop;

// Viridis-like: perceptually ordered, readable in grey scale and by most colour-blind readers.
// Nine control points, linearly interpolated in sRGB.
static const CmapStop SEQ_STOPS[] = {
    {0.000, 0x440154}, {0.125, 0x472d7b}, {0.250, 0x3b528b}, {0.375, 0x2c728e}, {0.500, 0x21918c},
    {0.625, 0x28ae80}, {0.750, 0x5ec962}, {0.875, 0xaddc30}, {1.000, 0xfde725},
};
// Blue – white – red: white exactly in the middle so that 0 (the centre of a symmetric range)
// reads as "nothing".
static const CmapStop DIV_STOPS[] = {
    {0.00, 0x2166ac}, {0.25, 0x92c5de}, {0.50, 0xffffff}, {0.75, 0xf4a582}, {1.00, 0xb2182b},
};

static PlotColor cmap_interp(const CmapStop *s, int n, double t) {
    if (t <= s[0].t) return PLOT_HEX(s[0].rgb);
    if (t >= s[n - 1].t) return PLOT_HEX(s[n - 1].rgb);
    int k = 0;
    while (k + 2 < n && t > s[k + 1].t) k++;
    double f = (t - s[k].t) / (s[k + 1].t - s[k].t);
    uint32_t a = s[k].rgb, b = s[k + 1].rgb, out = 0;
    for (int sh = 16; sh >= 0; sh -= 8) {
        double ca = (a >> sh) & 255u, cb = (b >> sh) & 255u;
        out |= (uint32_t)lround(ca + f * (cb - ca)) << sh;
    }
    return PLOT_HEX(out);
}

PlotColor plot_cmap(PlotCmap cmap, double t) {
    if (isnan(t)) return PLOT_NAN_COLOR;
    if (cmap == PLOT_DIVERGING)
        return cmap_interp(DIV_STOPS, (int)(sizeof DIV_STOPS / sizeof DIV_STOPS[0]), t);
    return cmap_interp(SEQ_STOPS, (int)(sizeof SEQ_STOPS / sizeof SEQ_STOPS[0]), t);
}

PlotColor plot_palette(int i) {
    if (i < 0) i = 0;
    return PLOT_HEX(PALETTE[i % 10]);
}

void plot_color_hex(PlotColor c, char out[8]) {
    static const char hex[] = "0123456789abcdef";
    out[0] = '#';
    for (int i = 0; i < 6; i++) out[1 + i] = hex[(c >> (20 - 4 * i)) & 15u];
    out[7] = '\0';
}

void plot_put_color(Buf *b, PlotColor c) {
    char h[8];
    plot_color_hex(c, h);
    buf_append(b, h, 7);
}

PlotScaleR plot_scale_resolve(const PlotColorScale *cs, const float *v, size_t n) {
    PlotScaleR r = {cs->cmap, 0, 1, cs->label};
    if (cs->vmin < cs->vmax) {
        r.lo = cs->vmin;
        r.hi = cs->vmax;
    } else {
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            double x = v[i];
            if (!isfinite(x)) continue;
            if (!any || x < r.lo) r.lo = x;
            if (!any || x > r.hi) r.hi = x;
            any = 1;
        }
        if (!any) r.lo = 0, r.hi = 1;
        if (r.lo == r.hi) r.lo -= 0.5, r.hi += 0.5;
    }
    if (cs->cmap == PLOT_DIVERGING) {
        double m = fmax(fabs(r.lo), fabs(r.hi));
        if (!(m > 0)) m = 1;
        r.lo = -m;
        r.hi = m;
    }
    return r;
}

PlotColor plot_scale_color(const PlotScaleR *s, double v) {
    if (!isfinite(v)) return PLOT_NAN_COLOR;
    return plot_cmap(s->cmap, (v - s->lo) / (s->hi - s->lo));
}

// ---- ticks ---------------------------------------------------------------------------------

// The nice step m × 10^e (m in {1, 2, 5}) nearest to span/target.
static void nice_step(double span, int target, double *m, int *e) {
    if (target < 1) target = 1;
    double raw = span / target;
    int ex = (int)floor(log10(raw));
    double f = raw / pow(10, ex);
    double mm = f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10;
    if (mm == 10) mm = 1, ex++;
    *m = mm;
    *e = ex;
}

// k × m × 10^e computed so that decimal ticks come out as the nearest double (0.3, not
// 0.30000000000000004): dividing by an exact power of ten rounds once.
static double tick_value(double k, double m, int e) {
    return e < 0 ? (k * m) / pow(10, -e) : k * m * pow(10, e);
}

int plot_ticks(double lo, double hi, int target, double *out, int max, double *step) {
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi) || max <= 0) return 0;
    double m;
    int e;
    nice_step(hi - lo, target, &m, &e);
    double st = tick_value(1, m, e);
    double k0 = ceil(lo / st - 1e-9), k1 = floor(hi / st + 1e-9);
    int n = 0;
    for (double k = k0; k <= k1 && n < max; k++) {
        double v = tick_value(k, m, e);
        out[n++] = k == 0 ? 0.0 : v;
    }
    if (step) *step = st;
    return n;
}

static int log_ticks_with(double lo, double hi, const double *mults, int nm, int every, double *out,
                          int max) {
    int d0 = (int)floor(log10(lo)) - 1, d1 = (int)ceil(log10(hi)) + 1;
    int n = 0;
    for (int d = d0; d <= d1; d++) {
        if (every > 1 && ((d % every) + every) % every != 0) continue;
        for (int j = 0; j < nm; j++) {
            double v = d < 0 ? mults[j] / pow(10, -d) : mults[j] * pow(10, d);
            if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) && n < max) out[n++] = v;
        }
    }
    return n;
}

int plot_log_ticks(double lo, double hi, int target, double *out, int max) {
    if (!(lo > 0 && lo < hi) || !isfinite(hi) || max <= 0) return 0;
    if (target < 2) target = 2;
    double decades = log10(hi) - log10(lo);
    static const double m125[] = {1, 2, 5}, m15[] = {1, 5}, m1[] = {1};
    if (decades < 3) {
        int n = log_ticks_with(lo, hi, m125, 3, 1, out, max);
        if (n >= 2 && n <= target + 1) return n;
        if (n > target + 1) {
            n = log_ticks_with(lo, hi, m15, 2, 1, out, max);
            if (n >= 2 && n <= target + 1) return n;
            n = log_ticks_with(lo, hi, m1, 1, 1, out, max);
            if (n >= 2) return n;
        }
        // Within about a decade and without two 1-2-5 values in it: linear nice ticks.
        return plot_ticks(lo, hi, target, out, max, NULL);
    }
    int ndec = (int)floor(decades + 1e-9) + 1;
    int every = ndec > target ? (ndec + target - 1) / target : 1;
    return log_ticks_with(lo, hi, m1, 1, every, out, max);
}

void plot_fmt_tick(char *out, size_t n, double v, double step) {
    double av = fabs(v);
    if (av == 0 || (step > 0 && av < step * 1e-6)) {
        snprintf(out, n, "0");
        return;
    }
    if (av >= 1e6 || av < 1e-4) {
        snprintf(out, n, "%.3g", v);
        return;
    }
    if (!(step > 0)) step = av;
    int dec = (int)ceil(-log10(step) - 1e-9);
    if (dec < 0) dec = 0;
    if (dec > 10) dec = 10;
    snprintf(out, n, "%.*f", dec, v);
}

void plot_axis_tick_label(char *out, size_t n, const PlotAxis *a, double v, double step) {
    plot_fmt_tick(out, n, v, a->log ? fabs(v) : step);
}

// ---- SVG primitives ------------------------------------------------------------------------

double plot_axis_px(const PlotAxis *a, double v) {
    if (!isfinite(v)) return NAN;
    double t;
    if (a->log) {
        if (!(v > 0)) return NAN;
        t = (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo));
    } else {
        t = (v - a->lo) / (a->hi - a->lo);
    }
    return a->p0 + t * (a->p1 - a->p0);
}

double plot_text_width(const char *s, double size) {
    if (!s) return 0;
    size_t cps = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80) cps++;  // count code points, not UTF-8 bytes
    return 0.58 * size * (double)cps;
}

void plot_svg_begin(Buf *b, int w, int h, const char *title) {
    buf_printf(b,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"%g\">\n",
               w, h, w, h, PLOT_FS_TICK);
    if (title && *title) {
        buf_puts(b, "<title>");
        buf_put_xml(b, title);
        buf_puts(b, "</title>\n");
    }
    buf_printf(b, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", w, h);
}

void plot_svg_end(Buf *b) { buf_puts(b, "</svg>\n"); }

void plot_text(Buf *b, double x, double y, double size, const char *anchor, const char *attrs,
               const char *s) {
    buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\"", x, y);
    if (size > 0 && size != PLOT_FS_TICK) buf_printf(b, " font-size=\"%g\"", size);
    if (anchor && strcmp(anchor, "start") != 0) buf_printf(b, " text-anchor=\"%s\"", anchor);
    if (attrs) buf_puts(b, attrs);
    buf_puts(b, ">");
    buf_put_xml(b, s);
    buf_puts(b, "</text>\n");
}

void plot_text_vertical(Buf *b, double x, double y, double size, const char *s) {
    char rot[64];
    snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.2f %.2f)\"", x, y);
    plot_text(b, x, y + 0.35 * size, size, "middle", rot, s);
}

double plot_colorbar_width(const PlotScaleR *s) {
    double t[PLOT_MAX_TICKS], step = 0, w = 0;
    int n = plot_ticks(s->lo, s->hi, 6, t, PLOT_MAX_TICKS, &step);
    for (int i = 0; i < n; i++) {
        char lab[32];
        plot_fmt_tick(lab, sizeof lab, t[i], step);
        w = fmax(w, plot_text_width(lab, PLOT_FS_TICK));
    }
    return 18 + 14 + 6 + w + (s->label ? 22 : 0) + 6;
}

void plot_colorbar(Buf *b, const PlotScaleR *s, double x, double y, double h) {
    enum { STEPS = 64 };
    const double w = 14;
    buf_puts(b, "<g class=\"colorbar\">\n<g shape-rendering=\"crispEdges\">\n");
    for (int k = 0; k < STEPS; k++) {
        // Step k covers [k, k+1)/STEPS of the range, bottom up; drawn a little taller than its
        // share so neighbouring steps overlap instead of leaving hairline gaps.
        double y0 = y + h - h * (k + 1) / STEPS;
        buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"", x, y0, w,
                   h / STEPS + (k + 1 < STEPS ? 0.5 : 0));
        plot_put_color(b, plot_cmap(s->cmap, (k + 0.5) / STEPS));
        buf_puts(b, "\"/>\n");
    }
    buf_puts(b, "</g>\n");
    buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
               "stroke=\"#444\"/>\n", x, y, w, h);
    double t[PLOT_MAX_TICKS], step = 0, maxw = 0;
    int n = plot_ticks(s->lo, s->hi, h > 160 ? 6 : 4, t, PLOT_MAX_TICKS, &step);
    for (int i = 0; i < n; i++) {
        double py = y + h - h * (t[i] - s->lo) / (s->hi - s->lo);
        char lab[32];
        plot_fmt_tick(lab, sizeof lab, t[i], step);
        maxw = fmax(maxw, plot_text_width(lab, PLOT_FS_TICK));
        buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#444\"/>\n",
                   x + w, py, x + w + 4, py);
        plot_text(b, x + w + 6, py + 0.35 * PLOT_FS_TICK, 0, NULL, NULL, lab);
    }
    if (s->label) plot_text_vertical(b, x + w + 6 + maxw + 14, y + h / 2, PLOT_FS_LABEL, s->label);
    buf_puts(b, "</g>\n");
}

int plot_check_size(const char *fn, const PlotOpts *o, int defw, int defh, int *w, int *h) {
    *w = o->width ? o->width : defw;
    *h = o->height ? o->height : defh;
    if (*w < 120 || *h < 100 || *w > 20000 || *h > 20000)
        return err_set("%s: figure size %d x %d pixels is outside 120..20000 x 100..20000", fn,
                       *w, *h);
    return 0;
}

int plot_save(const char *path, const Buf *svg) {
    if (svg->oom) return err_set("%s: the figure ran out of memory while rendering", path);
    if (svg->len == 0) return err_set("%s: no figure was rendered", path);
    return fileio_write_all(path, svg->p, svg->len);
}

int plot_label_every(double pitch, double need) {
    static const int seq[] = {1, 2, 5};
    for (int mag = 1; mag < 100000000; mag *= 10)
        for (int k = 0; k < 3; k++)
            if (seq[k] * mag * pitch >= need) return seq[k] * mag;
    return 100000000;
}

// ---- clipping ------------------------------------------------------------------------------

// Liang–Barsky: clips the segment to r in place; returns 0 when nothing of it is inside.
static int clip_segment(PlotRect r, double *x0, double *y0, double *x1, double *y1) {
    double dx = *x1 - *x0, dy = *y1 - *y0, t0 = 0, t1 = 1;
    double p[4] = {-dx, dx, -dy, dy};
    double q[4] = {*x0 - r.x, r.x + r.w - *x0, *y0 - r.y, r.y + r.h - *y0};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0) return 0;
            continue;
        }
        double t = q[i] / p[i];
        if (p[i] < 0) {
            if (t > t1) return 0;
            if (t > t0) t0 = t;
        } else {
            if (t < t0) return 0;
            if (t < t1) t1 = t;
        }
    }
    double ax = *x0, ay = *y0;
    *x0 = ax + t0 * dx;
    *y0 = ay + t0 * dy;
    *x1 = ax + t1 * dx;
    *y1 = ay + t1 * dy;
    return 1;
}

static int in_rect(PlotRect r, double x, double y, double pad) {
    return x >= r.x - pad && x <= r.x + r.w + pad && y >= r.y - pad && y <= r.y + r.h + pad;
}

// ---- the frame: ranges, layout, axes --------------------------------------------------------

typedef struct {
    double lo, hi;
    int any;
} Extent;

static void extent_add(Extent *e, double v, int log) {
    if (!isfinite(v) || (log && !(v > 0))) return;
    if (!e->any || v < e->lo) e->lo = v;
    if (!e->any || v > e->hi) e->hi = v;
    e->any = 1;
}

// The axis range: fixed, or the data extent widened by `margin` (a fraction of the span) on
// each side; a log axis does this in log10 space.
static int axis_range(const char *fn, char which, PlotAxis *a, Extent e, double flo, double fhi,
                      int log, double margin) {
    a->log = log;
    if (flo < fhi) {
        if (log && !(flo > 0))
            return err_set("%s: log %c axis needs a positive range, got [%g, %g]", fn, which, flo,
                           fhi);
        a->lo = flo;
        a->hi = fhi;
        return 0;
    }
    if (!e.any) {
        a->lo = log ? 1 : 0;
        a->hi = log ? 10 : 1;
        return 0;
    }
    double lo = log ? log10(e.lo) : e.lo, hi = log ? log10(e.hi) : e.hi;
    if (hi - lo <= 1e-12 * fmax(1, fabs(lo))) {
        double half = log ? 0.5 : (lo != 0 ? fabs(lo) * 0.1 : 1);
        lo -= half;
        hi += half;
    } else {
        double span = hi - lo;
        lo -= margin * span;
        hi += margin * span;
    }
    a->lo = log ? pow(10, lo) : lo;
    a->hi = log ? pow(10, hi) : hi;
    return 0;
}

typedef struct {
    int W, H;
    PlotRect area;
    PlotAxis ax, ay;
    double xt[PLOT_MAX_TICKS], yt[PLOT_MAX_TICKS], xstep, ystep;
    int nxt, nyt;
    // Bar charts: the category axis ('x' or 'y', 0 for none) has its labels instead of ticks.
    char cat_axis;
    int ncat, cat_every, cat_rotated;
    const char *const *cat_labels;
    double cat_maxw;
} Frame;

static void cat_label(char *out, size_t n, const Frame *f, int i) {
    if (f->cat_labels && f->cat_labels[i]) snprintf(out, n, "%s", f->cat_labels[i]);
    else snprintf(out, n, "%d", i);
}

static double max_tick_width(const PlotAxis *a, const double *t, int n, double step) {
    double w = 0;
    for (int i = 0; i < n; i++) {
        char lab[32];
        plot_axis_tick_label(lab, sizeof lab, a, t[i], step);
        w = fmax(w, plot_text_width(lab, PLOT_FS_TICK));
    }
    return w;
}

static int axis_ticks(const PlotAxis *a, int target, double *t, double *step) {
    *step = 0;
    if (a->log) return plot_log_ticks(a->lo, a->hi, target, t, PLOT_MAX_TICKS);
    return plot_ticks(a->lo, a->hi, target, t, PLOT_MAX_TICKS, step);
}

// Lays out the frame: margins from the tick labels, axis labels, title and whatever sits at the
// right (colour bar, outside legend); ticks that fit without overlapping. The x and y ranges
// must be set (ax/ay lo, hi, log); this sets the pixel ends and the ticks.
static int frame_layout(const char *fn, Frame *f, const PlotOpts *o, double right_extra) {
    const double tick_h = 6 + 4 + PLOT_FS_TICK;  // tick mark, gap, one line of labels
    double top = (o->title ? 36 : 12);
    double right = 18 + right_extra;
    double left = 50, bottom = 10 + tick_h + (o->xlabel ? 20 : 0);
    PlotAxis bx = f->ax, by = f->ay;  // the ranges before equal-aspect widening
    for (int pass = 0; pass < 3; pass++) {
        f->area = (PlotRect){left, top, f->W - left - right, f->H - top - bottom};
        if (f->area.w < 40 || f->area.h < 40)
            return err_set("%s: a %d x %d figure leaves no room for the plot beside its labels",
                           fn, f->W, f->H);
        if (o->equal_aspect && !bx.log && !by.log && !f->cat_axis) {
            double u = fmax((bx.hi - bx.lo) / f->area.w, (by.hi - by.lo) / f->area.h);
            double cx = 0.5 * (bx.lo + bx.hi), cy = 0.5 * (by.lo + by.hi);
            f->ax.lo = cx - 0.5 * u * f->area.w;
            f->ax.hi = cx + 0.5 * u * f->area.w;
            f->ay.lo = cy - 0.5 * u * f->area.h;
            f->ay.hi = cy + 0.5 * u * f->area.h;
        }
        // y: about one tick per 45 px.
        double ylabw;
        if (f->cat_axis == 'y') {
            double pitch = f->area.h / f->ncat;
            f->cat_every = f->cat_labels ? (int)ceil((PLOT_FS_TICK + 3) / pitch)
                                         : plot_label_every(pitch, PLOT_FS_TICK + 3);
            ylabw = f->cat_maxw;
            f->nyt = 0;
        } else {
            // Log labels ("100") are short and decades sparse: ask for more, as x below.
            f->nyt = axis_ticks(&f->ay, (int)fmax(2, f->area.h / (f->ay.log ? 30 : 45)), f->yt,
                                &f->ystep);
            ylabw = max_tick_width(&f->ay, f->yt, f->nyt, f->ystep);
        }
        left = 10 + (o->ylabel ? 22 : 0) + ylabw + 8;
        // x: about one tick per 90 px, fewer while the labels would touch.
        if (f->cat_axis == 'x') {
            double pitch = f->area.w / f->ncat;
            // Names are turned upright rather than skipped; indices stay level and thin out
            // to round numbers (0, 5, 10, ...).
            f->cat_rotated = f->cat_labels && f->cat_maxw > pitch - 4;
            double need = f->cat_rotated ? PLOT_FS_TICK + 3 : f->cat_maxw + 6;
            f->cat_every = f->cat_labels ? (int)ceil(need / pitch) : plot_label_every(pitch, need);
            double lab_h = f->cat_rotated ? fmin(f->cat_maxw, 0.35 * f->H) + 4 : PLOT_FS_TICK;
            bottom = 10 + 10 + lab_h + (o->xlabel ? 20 : 0);
            f->nxt = 0;
        } else {
            int target = (int)fmax(2, f->area.w / (f->ax.log ? 50 : 80));
            for (;;) {
                f->nxt = axis_ticks(&f->ax, target, f->xt, &f->xstep);
                double widths = 0;
                for (int i = 0; i < f->nxt; i++) {
                    char lab[32];
                    plot_axis_tick_label(lab, sizeof lab, &f->ax, f->xt[i], f->xstep);
                    widths += plot_text_width(lab, PLOT_FS_TICK) + 12;
                }
                if (widths <= f->area.w || target <= 2) break;
                target--;
            }
        }
        // Equal aspect: one step on both axes, so grid cells are squares (the coarser step,
        // which fits wherever the finer one did).
        if (o->equal_aspect && !f->cat_axis && !f->ax.log && !f->ay.log && f->xstep != f->ystep &&
            f->xstep > 0 && f->ystep > 0) {
            int to_x = f->xstep < f->ystep;
            double st = fmax(f->xstep, f->ystep), step;
            PlotAxis *a = to_x ? &f->ax : &f->ay;
            double t[PLOT_MAX_TICKS];
            int nt = plot_ticks(a->lo, a->hi, (int)lround((a->hi - a->lo) / st), t, PLOT_MAX_TICKS,
                                &step);
            if (nt >= 2 && fabs(step - st) <= 1e-9 * st) {
                memcpy(to_x ? f->xt : f->yt, t, sizeof(double) * (size_t)nt);
                *(to_x ? &f->nxt : &f->nyt) = nt;
                *(to_x ? &f->xstep : &f->ystep) = step;
            }
        }
    }
    f->ax.p0 = f->area.x;
    f->ax.p1 = f->area.x + f->area.w;
    if (f->cat_axis == 'y') {  // first category at the top
        f->ay.p0 = f->area.y;
        f->ay.p1 = f->area.y + f->area.h;
    } else {
        f->ay.p0 = f->area.y + f->area.h;
        f->ay.p1 = f->area.y;
    }
    return 0;
}

static void frame_grid(Buf *b, const Frame *f) {
    buf_printf(b, "<rect class=\"plot-area\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
               "fill=\"#fff\"/>\n", f->area.x, f->area.y, f->area.w, f->area.h);
    buf_puts(b, "<g class=\"grid\" stroke=\"#e6e6e6\" shape-rendering=\"crispEdges\">\n");
    for (int i = 0; i < f->nxt; i++) {
        double px = plot_axis_px(&f->ax, f->xt[i]);
        buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", px, f->area.y, px,
                   f->area.y + f->area.h);
    }
    for (int i = 0; i < f->nyt; i++) {
        double py = plot_axis_px(&f->ay, f->yt[i]);
        buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", f->area.x, py,
                   f->area.x + f->area.w, py);
    }
    buf_puts(b, "</g>\n");
}

static void frame_axes(Buf *b, const Frame *f, const PlotOpts *o) {
    const PlotRect a = f->area;
    const double bottom = a.y + a.h;
    buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
               "stroke=\"#444\" shape-rendering=\"crispEdges\"/>\n", a.x, a.y, a.w, a.h);
    // Minor marks at 2..9 × 10^k on log axes, so that a decade reads as a decade.
    for (int k = 0; k < 2; k++) {
        const PlotAxis *ax = k ? &f->ay : &f->ax;
        if (!ax->log || log10(ax->hi / ax->lo) > 12) continue;
        buf_puts(b, "<g class=\"minor\" stroke=\"#444\">\n");
        for (int d = (int)floor(log10(ax->lo)); d <= (int)ceil(log10(ax->hi)); d++)
            for (int m = 2; m <= 9; m++) {
                double p = plot_axis_px(ax, d < 0 ? m / pow(10, -d) : m * pow(10, d));
                if (isnan(p) || p < fmin(ax->p0, ax->p1) - 0.01 || p > fmax(ax->p0, ax->p1) + 0.01)
                    continue;
                if (k) buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
                                  a.x - 3, p, a.x, p);
                else buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", p,
                                bottom, p, bottom + 3);
            }
        buf_puts(b, "</g>\n");
    }
    char lab[256];
    buf_puts(b, "<g class=\"xticks\">\n");
    for (int i = 0; i < f->nxt; i++) {
        double px = plot_axis_px(&f->ax, f->xt[i]);
        plot_axis_tick_label(lab, sizeof lab, &f->ax, f->xt[i], f->xstep);
        buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#444\"/>\n",
                   px, bottom, px, bottom + 5);
        plot_text(b, px, bottom + 6 + 4 + PLOT_FS_TICK * 0.8, 0, "middle", NULL, lab);
    }
    if (f->cat_axis == 'x') {
        double pitch = a.w / f->ncat;
        for (int i = 0; i < f->ncat; i += f->cat_every) {
            double px = a.x + (i + 0.5) * pitch;
            cat_label(lab, sizeof lab, f, i);
            if (f->cat_rotated) {
                char rot[64];
                double ly = bottom + 8;
                snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.2f %.2f)\"",
                         px + 0.35 * PLOT_FS_TICK, ly);
                plot_text(b, px + 0.35 * PLOT_FS_TICK, ly, 0, "end", rot, lab);
            } else {
                plot_text(b, px, bottom + 8 + PLOT_FS_TICK * 0.8, 0, "middle", NULL, lab);
            }
        }
    }
    buf_puts(b, "</g>\n<g class=\"yticks\">\n");
    for (int i = 0; i < f->nyt; i++) {
        double py = plot_axis_px(&f->ay, f->yt[i]);
        plot_axis_tick_label(lab, sizeof lab, &f->ay, f->yt[i], f->ystep);
        buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#444\"/>\n",
                   a.x - 5, py, a.x, py);
        plot_text(b, a.x - 8, py + 0.35 * PLOT_FS_TICK, 0, "end", NULL, lab);
    }
    if (f->cat_axis == 'y') {
        double pitch = a.h / f->ncat;
        for (int i = 0; i < f->ncat; i += f->cat_every) {
            double py = a.y + (i + 0.5) * pitch;
            cat_label(lab, sizeof lab, f, i);
            plot_text(b, a.x - 6, py + 0.35 * PLOT_FS_TICK, 0, "end", NULL, lab);
        }
    }
    buf_puts(b, "</g>\n");
    if (o->xlabel) plot_text(b, a.x + a.w / 2, f->H - 10, PLOT_FS_LABEL, "middle", NULL, o->xlabel);
    if (o->ylabel) plot_text_vertical(b, 10 + PLOT_FS_LABEL * 0.75, a.y + a.h / 2, PLOT_FS_LABEL,
                                      o->ylabel);
    if (o->title)
        plot_text(b, f->W / 2.0, 24, PLOT_FS_TITLE, "middle", " font-weight=\"bold\"", o->title);
}

static int check_refs(const char *fn, const PlotOpts *o) {
    if (o->n_refs < 0 || (o->n_refs > 0 && !o->refs))
        return err_set("%s: %d reference lines but refs is %s", fn, o->n_refs,
                       o->refs ? "set" : "NULL");
    return 0;
}

// Widens auto-ranged axes so that every reference line shows.
static void refs_extent(const PlotOpts *o, Extent *ex, Extent *ey) {
    for (int i = 0; i < o->n_refs; i++)
        extent_add(o->refs[i].vertical ? ex : ey, o->refs[i].at,
                   o->refs[i].vertical ? o->log_x : o->log_y);
}

// Where reference line i is drawn: its ends and its label's anchor. Returns 0 when the line is
// outside the plot (nothing is drawn). *kv counts labelled vertical lines, for staggering.
typedef struct {
    double x0, y0, x1, y1;  // the line
    double lx, ly;          // label anchor (baseline)
    const char *anchor;
    PlotRect box;           // the label's approximate extent
} RefGeom;

static int ref_geom(const Frame *f, const PlotRefLine *r, int *kv, RefGeom *g) {
    const PlotRect a = f->area;
    if (r->vertical) {
        g->x0 = g->x1 = plot_axis_px(&f->ax, r->at);
        g->y0 = a.y;
        g->y1 = a.y + a.h;
    } else {
        g->y0 = g->y1 = plot_axis_px(&f->ay, r->at);
        g->x0 = a.x;
        g->x1 = a.x + a.w;
    }
    if (isnan(g->x0) || isnan(g->y0) || !in_rect(a, g->x0, g->y0, 0.5)) return 0;
    double tw = plot_text_width(r->label, PLOT_FS_SMALL);
    if (r->vertical) {
        // Staggered so that markers close together do not print on top of each other; near the
        // right edge the label goes to the left of its line.
        g->ly = a.y + 14 + 14 * ((*kv)++ % 3);
        int left_side = g->x0 > a.x + 0.7 * a.w;
        g->lx = left_side ? g->x0 - 4 : g->x0 + 4;
        g->anchor = left_side ? "end" : "start";
        g->box = (PlotRect){left_side ? g->lx - tw : g->lx, g->ly - PLOT_FS_SMALL, tw, PLOT_FS_SMALL + 2};
    } else {
        g->ly = g->y0 - 4 < a.y + 12 ? g->y0 + 13 : g->y0 - 4;
        g->lx = a.x + a.w - 4;
        g->anchor = "end";
        g->box = (PlotRect){g->lx - tw, g->ly - PLOT_FS_SMALL, tw, PLOT_FS_SMALL + 2};
    }
    return 1;
}

static void draw_refs(Buf *b, const Frame *f, const PlotOpts *o) {
    if (o->n_refs == 0) return;
    buf_puts(b, "<g class=\"refs\">\n");
    int kv = 0;
    for (int i = 0; i < o->n_refs; i++) {
        const PlotRefLine *r = &o->refs[i];
        RefGeom g;
        if (!ref_geom(f, r, &kv, &g)) continue;
        PlotColor c = r->color ? r->color : PLOT_HEX(0x555555);
        buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"", g.x0, g.y0,
                   g.x1, g.y1);
        plot_put_color(b, c);
        buf_printf(b, "\" stroke-width=\"1.2\"%s/>\n", r->solid ? "" : " stroke-dasharray=\"5 4\"");
        if (!r->label) continue;
        char attrs[160];
        snprintf(attrs, sizeof attrs, " fill=\"#%06x\"" PLOT_HALO, (unsigned)(c & 0xffffffu));
        plot_text(b, g.lx, g.ly, PLOT_FS_SMALL, g.anchor, attrs, r->label);
    }
    buf_puts(b, "</g>\n");
}

// ---- legend --------------------------------------------------------------------------------

typedef struct {
    const char *label;
    PlotColor color;
    int dot;     // a dot (scatter category) instead of a line sample
    int dashed;
} LegendItem;

static void legend_size(const LegendItem *it, int n, double *w, double *h) {
    double tw = 0;
    for (int i = 0; i < n; i++) tw = fmax(tw, plot_text_width(it[i].label, PLOT_FS_SMALL + 1));
    *w = 8 + 24 + 6 + tw + 8;
    *h = 6 + 17 * n + 2;
}

static void legend_draw(Buf *b, const LegendItem *it, int n, double x, double y) {
    double w, h;
    legend_size(it, n, &w, &h);
    buf_printf(b, "<g class=\"legend\">\n<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
               "rx=\"3\" fill=\"#fff\" fill-opacity=\"0.88\" stroke=\"#bbb\"/>\n", x, y, w, h);
    for (int i = 0; i < n; i++) {
        double cy = y + 6 + 17 * i + 8.5;
        if (it[i].dot) {
            buf_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"", x + 20, cy);
            plot_put_color(b, it[i].color);
            buf_puts(b, "\"/>\n");
        } else {
            buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"", x + 8, cy,
                       x + 32, cy);
            plot_put_color(b, it[i].color);
            buf_printf(b, "\" stroke-width=\"2\"%s/>\n",
                       it[i].dashed ? " stroke-dasharray=\"6 4\"" : "");
        }
        plot_text(b, x + 38, cy + 0.35 * (PLOT_FS_SMALL + 1), PLOT_FS_SMALL + 1, NULL, NULL,
                  it[i].label);
    }
    buf_puts(b, "</g>\n");
}

// Pixel-space data the legend should avoid: points and the segments between consecutive ones.
typedef struct {
    const double *px, *py;  // NaN for a missing point
    int n;
    int segments;  // 1: consecutive valid points are joined by a line
} Footprint;

static int footprint_hits(const Footprint *fp, int nfp, PlotRect box) {
    int hits = 0;
    for (int s = 0; s < nfp; s++) {
        for (int i = 0; i < fp[s].n; i++) {
            double x = fp[s].px[i], y = fp[s].py[i];
            if (isnan(x) || isnan(y)) continue;
            if (in_rect(box, x, y, 4)) hits++;
            if (fp[s].segments && i + 1 < fp[s].n && !isnan(fp[s].px[i + 1]) &&
                !isnan(fp[s].py[i + 1])) {
                double x0 = x, y0 = y, x1 = fp[s].px[i + 1], y1 = fp[s].py[i + 1];
                if (clip_segment(box, &x0, &y0, &x1, &y1)) hits++;
            }
        }
    }
    return hits;
}

static int rects_overlap(PlotRect p, PlotRect q) {
    return p.x < q.x + q.w && q.x < p.x + p.w && p.y < q.y + q.h && q.y < p.y + p.h;
}

// Chooses the corner of the plot area where the legend covers the least: data points, segments
// between them, and reference-line labels (ties: top right, top left, bottom right, bottom
// left). Returns how much it covers there (0: nothing).
static int legend_choose(const Frame *f, const PlotOpts *o, const LegendItem *it, int n,
                         const Footprint *fp, int nfp, double *x, double *y) {
    double w, h;
    legend_size(it, n, &w, &h);
    const PlotRect a = f->area;
    double cand[4][2] = {{a.x + a.w - w - 8, a.y + 8}, {a.x + 8, a.y + 8},
                         {a.x + a.w - w - 8, a.y + a.h - h - 8}, {a.x + 8, a.y + a.h - h - 8}};
    int best = 0, best_hits = -1;
    for (int c = 0; c < 4; c++) {
        PlotRect box = {cand[c][0], cand[c][1], w, h};
        int hits = footprint_hits(fp, nfp, box), kv = 0;
        for (int i = 0; i < o->n_refs; i++) {
            RefGeom g;
            if (o->refs[i].label && ref_geom(f, &o->refs[i], &kv, &g) && rects_overlap(box, g.box))
                hits++;
        }
        if (best_hits < 0 || hits < best_hits) best = c, best_hits = hits;
    }
    *x = cand[best][0];
    *y = cand[best][1];
    return best_hits;
}

static double legend_width(const LegendItem *it, int n) {
    double w, h;
    legend_size(it, n, &w, &h);
    return w + 12;
}

// Draws the legend: outside when asked or when every corner inside would cover data.
static void legend_place(Buf *b, const Frame *f, const PlotOpts *o, const LegendItem *it, int n,
                         int outside, const Footprint *fp, int nfp) {
    if (n == 0 || o->legend == PLOT_LEGEND_NONE) return;
    double x = f->area.x + f->area.w + 12, y = f->area.y;
    if (!outside) legend_choose(f, o, it, n, fp, nfp, &x, &y);
    legend_draw(b, it, n, x, y);
}

static int finish(const char *fn, Buf *out) {
    if (out->oom) return err_set("%s: out of memory", fn);
    return 0;
}

// ---- line plots ----------------------------------------------------------------------------

int plot_line(Buf *out, const PlotOpts *o, const PlotSeries *series, int n_series) {
    static const char *fn = "plot_line";
    static const PlotOpts defaults = {0};
    if (!o) o = &defaults;
    Frame f = {0};
    if (plot_check_size(fn, o, 640, 400, &f.W, &f.H) || check_refs(fn, o)) return -1;
    if (n_series < 0 || (n_series > 0 && !series))
        return err_set("%s: %d series but the array is %s", fn, n_series, series ? "set" : "NULL");
    size_t total = 0;
    for (int s = 0; s < n_series; s++) {
        if (series[s].n < 0 || (series[s].n > 0 && !series[s].y))
            return err_set("%s: series %d ('%s') has n = %d and y %s", fn, s,
                           series[s].label ? series[s].label : "", series[s].n,
                           series[s].y ? "set" : "NULL");
        total += (size_t)series[s].n;
    }
    Extent ex = {0}, ey = {0};
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            double x = series[s].x ? series[s].x[i] : i, y = series[s].y[i];
            if (!isfinite(x) || !isfinite(y) || (o->log_x && !(x > 0)) || (o->log_y && !(y > 0)))
                continue;
            extent_add(&ex, x, o->log_x);
            extent_add(&ey, y, o->log_y);
        }
    refs_extent(o, &ex, &ey);
    // Lines span the whole x range (steps from first to last); y gets a little air.
    if (axis_range(fn, 'x', &f.ax, ex, o->xmin, o->xmax, o->log_x, 0) ||
        axis_range(fn, 'y', &f.ay, ey, o->ymin, o->ymax, o->log_y, 0.05))
        return -1;

    LegendItem *items = calloc((size_t)n_series + 1, sizeof *items);
    Footprint *fp = calloc((size_t)n_series + 1, sizeof *fp);
    double *pix = malloc((2 * total + 1) * sizeof *pix);
    if (!items || !fp || !pix) {
        free(items), free(fp), free(pix);
        return err_set("%s: out of memory", fn);
    }
    int nitems = 0;
    for (int s = 0; s < n_series; s++)
        if (series[s].label) {
            PlotColor c = series[s].color ? series[s].color : plot_palette(s);
            items[nitems++] = (LegendItem){series[s].label, c, 0, series[s].dashed};
        }
    // Lay out, project, and lay out again with the legend outside when it would cover data in
    // every corner.
    int outside = nitems > 0 && o->legend == PLOT_LEGEND_OUTSIDE, rc;
    const PlotAxis ax0 = f.ax, ay0 = f.ay;
    for (;;) {
        f.ax = ax0, f.ay = ay0;
        rc = frame_layout(fn, &f, o, outside ? legend_width(items, nitems) : 0);
        if (rc) break;
        size_t off = 0;
        for (int s = 0; s < n_series; s++) {
            const PlotSeries *sr = &series[s];
            double *px = pix + off, *py = pix + total + off;
            off += (size_t)sr->n;
            for (int i = 0; i < sr->n; i++) {
                px[i] = plot_axis_px(&f.ax, sr->x ? sr->x[i] : i);
                py[i] = plot_axis_px(&f.ay, sr->y[i]);
                if (isnan(px[i]) || isnan(py[i])) px[i] = py[i] = NAN;
            }
            fp[s] = (Footprint){px, py, sr->n, 1};
        }
        double lx, ly;
        if (!outside && nitems > 0 && o->legend == PLOT_LEGEND_AUTO &&
            legend_choose(&f, o, items, nitems, fp, n_series, &lx, &ly) > 0) {
            outside = 1;
            continue;
        }
        break;
    }
    if (rc == 0) {
        plot_svg_begin(out, f.W, f.H, o->title);
        frame_grid(out, &f);
        buf_puts(out, "<g class=\"series\" fill=\"none\" stroke-width=\"1.8\" "
                      "stroke-linejoin=\"round\" stroke-linecap=\"round\">\n");
        for (int s = 0; s < n_series; s++) {
            const PlotSeries *sr = &series[s];
            const double *px = fp[s].px, *py = fp[s].py;
            PlotColor c = sr->color ? sr->color : plot_palette(s);
            // One path per series; a missing point lifts the pen, and segments are clipped to
            // the plot area (a fixed range may cut the data).
            buf_puts(out, "<path class=\"line\" stroke=\"");
            plot_put_color(out, c);
            buf_printf(out, "\"%s d=\"", sr->dashed ? " stroke-dasharray=\"6 4\"" : "");
            int pen = 0, drawn = 0;
            double penx = 0, peny = 0;
            for (int i = 0; i + 1 < sr->n; i++) {
                double x0 = px[i], y0 = py[i], x1 = px[i + 1], y1 = py[i + 1];
                if (isnan(x0) || isnan(x1) || !clip_segment(f.area, &x0, &y0, &x1, &y1)) {
                    pen = 0;
                    continue;
                }
                if (!pen || fabs(x0 - penx) > 1e-6 || fabs(y0 - peny) > 1e-6)
                    buf_printf(out, "M%.2f %.2f", x0, y0);
                buf_printf(out, "L%.2f %.2f", x1, y1);
                pen = 1, drawn = 1;
                penx = x1, peny = y1;
                if (x1 != px[i + 1] || y1 != py[i + 1]) pen = 0;  // left the area
            }
            if (!drawn) buf_puts(out, "M0 0");  // an empty path draws nothing but stays valid
            buf_puts(out, "\"/>\n");
            // Dots: every point when asked, and always a point with no neighbour to join, so
            // that no data point is silently invisible.
            for (int i = 0; i < sr->n; i++) {
                if (isnan(px[i]) || !in_rect(f.area, px[i], py[i], 0.01)) continue;
                int lonely = (i == 0 || isnan(px[i - 1])) && (i + 1 >= sr->n || isnan(px[i + 1]));
                if (!sr->markers && !lonely) continue;
                buf_printf(out, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\" fill=\"", px[i], py[i]);
                plot_put_color(out, c);
                buf_puts(out, "\" stroke=\"none\"/>\n");
            }
        }
        buf_puts(out, "</g>\n");
        draw_refs(out, &f, o);
        frame_axes(out, &f, o);
        legend_place(out, &f, o, items, nitems, outside, fp, n_series);
        plot_svg_end(out);
        rc = finish(fn, out);
    }
    free(items);
    free(fp);
    free(pix);
    return rc;
}

// ---- bar charts ----------------------------------------------------------------------------

int plot_bars(Buf *out, const PlotOpts *o, const PlotBars *bars) {
    static const char *fn = "plot_bars";
    static const PlotOpts defaults = {0};
    if (!o) o = &defaults;
    Frame f = {0};
    if (plot_check_size(fn, o, 640, 400, &f.W, &f.H) || check_refs(fn, o)) return -1;
    if (!bars || bars->n <= 0 || !bars->values)
        return err_set("%s: need n > 0 values (n = %d, values %s)", fn, bars ? bars->n : 0,
                       bars && bars->values ? "set" : "NULL");
    if (o->log_x || o->log_y) return err_set("%s: log axes are not supported for bars", fn);
    const int n = bars->n, hz = bars->horizontal;
    // The value axis always includes 0 (a bar's length is its value) and gets air on the side
    // away from 0 only.
    Extent ev = {0};
    extent_add(&ev, 0, 0);
    for (int i = 0; i < n; i++) extent_add(&ev, bars->values[i], 0);
    for (int i = 0; i < o->n_refs; i++)
        if (o->refs[i].vertical == hz) extent_add(&ev, o->refs[i].at, 0);
    PlotAxis va = {ev.lo, ev.hi, 0, 0, 0};
    double span = ev.hi - ev.lo;
    if (span == 0) va.hi = 1, span = 1;
    // Printed values need room beyond the bar ends.
    double air = bars->show_values ? 0.14 : 0.05;
    if (va.lo < 0) va.lo -= air * span;
    if (va.hi > 0) va.hi += air * span;
    double flo = hz ? o->xmin : o->ymin, fhi = hz ? o->xmax : o->ymax;
    if (flo < fhi) va.lo = flo, va.hi = fhi;
    PlotAxis ca = {0, n, 0, 0, 0};
    f.ax = hz ? va : ca;
    f.ay = hz ? ca : va;
    f.cat_axis = hz ? 'y' : 'x';
    f.ncat = n;
    f.cat_labels = bars->labels;
    for (int i = 0; i < n; i++) {
        char lab[256];
        cat_label(lab, sizeof lab, &f, i);
        f.cat_maxw = fmax(f.cat_maxw, plot_text_width(lab, PLOT_FS_TICK));
    }
    PlotScaleR sc = {0};
    if (bars->color_values) sc = plot_scale_resolve(&bars->scale, bars->color_values, (size_t)n);
    if (frame_layout(fn, &f, o, bars->color_values ? plot_colorbar_width(&sc) : 0)) return -1;

    plot_svg_begin(out, f.W, f.H, o->title);
    frame_grid(out, &f);
    const PlotAxis *vax = hz ? &f.ax : &f.ay;
    double zero = plot_axis_px(vax, 0);
    double pitch = (hz ? f.area.h : f.area.w) / n, thick = 0.72 * pitch;
    double vmin_px = fmin(vax->p0, vax->p1), vmax_px = fmax(vax->p0, vax->p1);
    buf_puts(out, "<g class=\"bars\" shape-rendering=\"crispEdges\">\n");
    for (int i = 0; i < n; i++) {
        double v = bars->values[i];
        if (!isfinite(v)) continue;
        double e = fmin(fmax(plot_axis_px(vax, v), vmin_px), vmax_px);
        double z = fmin(fmax(zero, vmin_px), vmax_px);
        double lo = fmin(e, z), len = fabs(e - z);
        double c0 = (hz ? f.area.y : f.area.x) + i * pitch + 0.5 * (pitch - thick);
        PlotColor c = bars->color ? bars->color : plot_palette(0);
        if (bars->colors && bars->colors[i]) c = bars->colors[i];
        if (bars->color_values) c = plot_scale_color(&sc, bars->color_values[i]);
        if (hz) buf_printf(out, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"",
                           lo, c0, len, thick);
        else buf_printf(out, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"", c0,
                        lo, thick, len);
        plot_put_color(out, c);
        buf_puts(out, "\"/>\n");
    }
    buf_puts(out, "</g>\n");
    if (zero >= vmin_px && zero <= vmax_px) {  // the baseline
        if (hz) buf_printf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                           "stroke=\"#444\"/>\n", zero, f.area.y, zero, f.area.y + f.area.h);
        else buf_printf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                        "stroke=\"#444\"/>\n", f.area.x, zero, f.area.x + f.area.w, zero);
    }
    if (bars->show_values) {
        buf_puts(out, "<g class=\"values\">\n");
        for (int i = 0; i < n; i++) {
            double v = bars->values[i];
            if (!isfinite(v)) continue;
            char lab[32];
            snprintf(lab, sizeof lab, "%.3g", v);
            double e = fmin(fmax(plot_axis_px(vax, v), vmin_px), vmax_px);
            double c = (hz ? f.area.y : f.area.x) + (i + 0.5) * pitch;
            double tw = plot_text_width(lab, PLOT_FS_SMALL), th = PLOT_FS_SMALL;
            // Beyond the bar's end; inside it when the end is too close to the plot's edge.
            int pos = v >= 0;
            if (hz) {
                int inside = pos ? e + 4 + tw > vmax_px : e - 4 - tw < vmin_px;
                int right_of = pos != inside;
                plot_text(out, right_of ? e + 4 : e - 4, c + 0.35 * th, th,
                          right_of ? "start" : "end", PLOT_HALO, lab);
            } else {
                int inside = pos ? e - 4 - th < vmin_px : e + 4 + th > vmax_px;
                int above = pos != inside;
                plot_text(out, c, above ? e - 4 : e + 4 + 0.8 * th, th, "middle", PLOT_HALO, lab);
            }
        }
        buf_puts(out, "</g>\n");
    }
    draw_refs(out, &f, o);
    frame_axes(out, &f, o);
    if (bars->color_values) plot_colorbar(out, &sc, f.area.x + f.area.w + 18, f.area.y, f.area.h);
    plot_svg_end(out);
    return finish(fn, out);
}

// ---- scatter plots -------------------------------------------------------------------------

int plot_scatter(Buf *out, const PlotOpts *o, const PlotScatter *sc) {
    static const char *fn = "plot_scatter";
    static const PlotOpts defaults = {0};
    if (!o) o = &defaults;
    Frame f = {0};
    if (plot_check_size(fn, o, 640, 400, &f.W, &f.H) || check_refs(fn, o)) return -1;
    if (!sc || sc->n < 0 || (sc->n > 0 && (!sc->x || !sc->y)))
        return err_set("%s: need n >= 0 points with x and y (n = %d)", fn, sc ? sc->n : 0);
    const int n = sc->n;
    const int by_value = sc->values != NULL, by_cat = !by_value && sc->category;
    if (by_cat) {
        if (sc->n_categories <= 0)
            return err_set("%s: category given but n_categories = %d", fn, sc->n_categories);
        for (int i = 0; i < n; i++)
            if (sc->category[i] < 0 || sc->category[i] >= sc->n_categories)
                return err_set("%s: point %d has category %d outside [0, %d)", fn, i,
                               sc->category[i], sc->n_categories);
    }
    Extent ex = {0}, ey = {0};
    for (int i = 0; i < n; i++) {
        double x = sc->x[i], y = sc->y[i];
        if (!isfinite(x) || !isfinite(y) || (o->log_x && !(x > 0)) || (o->log_y && !(y > 0)))
            continue;
        extent_add(&ex, x, o->log_x);
        extent_add(&ey, y, o->log_y);
    }
    if (sc->from_origin && !o->log_x && !o->log_y) {
        extent_add(&ex, 0, 0);
        extent_add(&ey, 0, 0);
    }
    refs_extent(o, &ex, &ey);
    if (axis_range(fn, 'x', &f.ax, ex, o->xmin, o->xmax, o->log_x, 0.06) ||
        axis_range(fn, 'y', &f.ay, ey, o->ymin, o->ymax, o->log_y, 0.06))
        return -1;

    PlotScaleR scale = {0};
    if (by_value) scale = plot_scale_resolve(&sc->scale, sc->values, (size_t)n);
    LegendItem *items = NULL;
    int nitems = 0;
    char (*catname)[16] = NULL;
    if (by_cat) {
        items = calloc((size_t)sc->n_categories, sizeof *items);
        catname = calloc((size_t)sc->n_categories, sizeof *catname);
        if (!items || !catname) {
            free(items), free(catname);
            return err_set("%s: out of memory", fn);
        }
        for (int k = 0; k < sc->n_categories; k++) {
            const char *name = sc->category_names ? sc->category_names[k] : NULL;
            if (!name) {
                snprintf(catname[k], sizeof catname[k], "%d", k);
                name = catname[k];
            }
            items[nitems++] = (LegendItem){name, plot_palette(k), 1, 0};
        }
    }
    double *pix = malloc((2 * (size_t)n + 1) * sizeof *pix);
    if (!pix) {
        free(items), free(catname);
        return err_set("%s: out of memory", fn);
    }
    double *px = pix, *py = pix + n;
    Footprint fp = {px, py, n, 0};
    // As for lines: the legend goes outside when every corner inside would cover points.
    int outside = nitems > 0 && o->legend == PLOT_LEGEND_OUTSIDE, rc;
    const PlotAxis ax0 = f.ax, ay0 = f.ay;
    for (;;) {
        f.ax = ax0, f.ay = ay0;
        double right = by_value ? plot_colorbar_width(&scale) : 0;
        if (outside) right += legend_width(items, nitems);
        rc = frame_layout(fn, &f, o, right);
        if (rc) break;
        for (int i = 0; i < n; i++) {
            px[i] = plot_axis_px(&f.ax, sc->x[i]);
            py[i] = plot_axis_px(&f.ay, sc->y[i]);
            if (isnan(px[i]) || isnan(py[i])) px[i] = py[i] = NAN;
        }
        double lx, ly;
        if (!outside && nitems > 0 && o->legend == PLOT_LEGEND_AUTO &&
            legend_choose(&f, o, items, nitems, &fp, 1, &lx, &ly) > 0) {
            outside = 1;
            continue;
        }
        break;
    }
    if (rc == 0) {
        const double r = sc->radius > 0 ? sc->radius : 3.5;
        plot_svg_begin(out, f.W, f.H, o->title);
        frame_grid(out, &f);
        double ox = plot_axis_px(&f.ax, 0), oy = plot_axis_px(&f.ay, 0);
        int have_origin = sc->from_origin && !isnan(ox) && !isnan(oy);
        buf_puts(out, "<g class=\"points\">\n");
        for (int i = 0; i < n; i++) {
            if (isnan(px[i])) continue;
            PlotColor c = sc->color ? sc->color : plot_palette(0);
            if (by_value) c = plot_scale_color(&scale, sc->values[i]);
            else if (by_cat) c = plot_palette(sc->category[i]);
            if (have_origin) {
                double x0 = ox, y0 = oy, x1 = px[i], y1 = py[i];
                if (clip_segment(f.area, &x0, &y0, &x1, &y1)) {
                    buf_printf(out, "<line class=\"seg\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                               "y2=\"%.2f\" stroke-width=\"2\" stroke=\"", x0, y0, x1, y1);
                    plot_put_color(out, c);
                    buf_puts(out, "\"/>\n");
                }
            }
            if (!in_rect(f.area, px[i], py[i], 0.01)) continue;
            buf_printf(out, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.2f\" fill=\"", px[i], py[i], r);
            plot_put_color(out, c);
            // A faint outline keeps pale colours (the white middle of a diverging map) visible.
            buf_puts(out, "\" fill-opacity=\"0.9\" stroke=\"#000\" stroke-opacity=\"0.35\" "
                          "stroke-width=\"0.6\"/>\n");
        }
        buf_puts(out, "</g>\n");
        if (sc->labels) {
            buf_puts(out, "<g class=\"labels\">\n");
            for (int i = 0; i < n; i++) {
                if (isnan(px[i]) || !sc->labels[i] || !in_rect(f.area, px[i], py[i], 0.01)) continue;
                if (have_origin) {  // beyond the tip, along the direction
                    double dx = px[i] - ox, dy = py[i] - oy, len = hypot(dx, dy);
                    if (len < 1e-9) dx = 1, dy = 0, len = 1;
                    double lx = px[i] + dx / len * (r + 5), ly = py[i] + dy / len * (r + 5);
                    plot_text(out, lx, ly + 0.35 * PLOT_FS_SMALL, PLOT_FS_SMALL,
                              dx >= 0 ? "start" : "end", PLOT_HALO, sc->labels[i]);
                } else {
                    plot_text(out, px[i] + r + 3, py[i] - r, PLOT_FS_SMALL, NULL, PLOT_HALO,
                              sc->labels[i]);
                }
            }
            buf_puts(out, "</g>\n");
        }
        draw_refs(out, &f, o);
        frame_axes(out, &f, o);
        if (by_value) plot_colorbar(out, &scale, f.area.x + f.area.w + 18, f.area.y, f.area.h);
        legend_place(out, &f, o, items, nitems, outside, &fp, 1);
        plot_svg_end(out);
        rc = finish(fn, out);
    }
    free(pix);
    free(items);
    free(catname);
    return rc;
}
