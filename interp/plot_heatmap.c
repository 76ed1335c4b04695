// plot_heatmap.c — a matrix as coloured cells: attention patterns, W_E·W_U, feature overlaps.
//
// Row 0 is at the top (a matrix reads like it prints). Up to HEATMAP_RECT_CELLS cells are rects
// in one crispEdges group: the renderer snaps them to pixels, so neighbouring cells never show
// hairline seams, and each cell is an element a test or a script can find. Larger matrices are
// one PNG, a pixel a cell, embedded as a data: URI and scaled up without smoothing (browsers
// honour that; librsvg smooths): a rect costs about 70 bytes of SVG, a pixel 4 of base64, so a
// 64 × 64 attention pattern is 22 KB instead of 290 KB (five figures of four such heads made the
// induction report 4.3 MB; it is 0.36 MB now).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/plot.h"
#include "interp/plot_internal.h"
#include "interp/png.h"
#include "model/err.h"

// Cells above this count would make an SVG too large to open comfortably (~60 bytes a cell).
#define HEATMAP_MAX_CELLS (1 << 20)
// Above this many cells the cells are drawn as one embedded image (see the top of the file).
#define HEATMAP_RECT_CELLS 1024

static void axis_label(char *out, size_t n, const char *const *labels, int i) {
    if (labels && labels[i]) snprintf(out, n, "%s", labels[i]);
    else snprintf(out, n, "%d", i);
}

static double labels_maxw(const char *const *labels, int count) {
    double w = 0;
    char lab[256];
    for (int i = 0; i < count; i++) {
        axis_label(lab, sizeof lab, labels, i);
        w = fmax(w, plot_text_width(lab, PLOT_FS_TICK));
    }
    return w;
}

// Black or white, whichever reads better on the cell colour (by relative luminance).
static const char *ink_on(PlotColor c) {
    double r = (c >> 16) & 255u, g = (c >> 8) & 255u, b = c & 255u;
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 ? "#000" : "#fff";
}

// The cells as one RGB PNG (row 0 on top, a pixel a cell) stretched over the plot area a.
// image-rendering asks for blocky scaling: the SVG 1.1 attribute and the CSS value browsers use.
static int cells_image(Buf *out, const PlotScaleR *sc, const float *data, int R, int C, PlotRect a) {
    uint8_t *pix = malloc((size_t)R * C * 3), *png = NULL;
    size_t len = 0;
    if (!pix) return err_set("plot_heatmap: out of memory");
    for (size_t k = 0; k < (size_t)R * C; k++) {
        PlotColor c = plot_scale_color(sc, data[k]);
        pix[3 * k] = (uint8_t)(c >> 16), pix[3 * k + 1] = (uint8_t)(c >> 8), pix[3 * k + 2] = (uint8_t)c;
    }
    int rc = png_encode(&png, &len, pix, C, R, 3);
    free(pix);
    if (rc) return err_prefix("plot_heatmap");
    buf_printf(out, "<image x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                    "preserveAspectRatio=\"none\" image-rendering=\"optimizeSpeed\" "
                    "style=\"image-rendering:pixelated\" href=\"data:image/png;base64,",
               a.x, a.y, a.w, a.h);
    buf_put_base64(out, png, len);
    buf_puts(out, "\"/>\n");
    free(png);
    return 0;
}

int plot_heatmap(Buf *out, const PlotOpts *o, const PlotHeatmap *h) {
    static const char *fn = "plot_heatmap";
    static const PlotOpts defaults = {0};
    if (!o) o = &defaults;
    if (!h || !h->data || h->rows <= 0 || h->cols <= 0)
        return err_set("%s: need a [rows, cols] matrix with rows, cols > 0 (got [%d, %d], data %s)",
                       fn, h ? h->rows : 0, h ? h->cols : 0, h && h->data ? "set" : "NULL");
    const int R = h->rows, C = h->cols;
    if ((double)R * C > HEATMAP_MAX_CELLS)
        return err_set("%s: [%d, %d] has more than %d cells; downsample it first", fn, R, C,
                       HEATMAP_MAX_CELLS);
    int W, H;
    if (plot_check_size(fn, o, 640, 400, &W, &H)) return -1;
    PlotScaleR sc = plot_scale_resolve(&h->scale, h->data, (size_t)R * C);

    // Margins: row labels on the left, column labels below, colour bar on the right.
    double rowlab_w = labels_maxw(h->row_labels, R), collab_w = labels_maxw(h->col_labels, C);
    double left = 10 + (o->ylabel ? 22 : 0) + rowlab_w + 8;
    double right = 12 + plot_colorbar_width(&sc);
    double top = o->title ? 36 : 12;
    double cw, ch;
    if (o->width) {
        cw = (W - left - right) / C;
    } else {
        double fit = fmin(560.0 / C, 560.0 / R);
        if (h->show_values && R <= 20 && C <= 20) fit = fmax(fit, 30);
        cw = floor(fmin(fmax(fit, 3), 40));
        W = (int)ceil(left + cw * C + right);
    }
    // Column names are turned upright rather than skipped; indices stay level and thin out.
    int rotated = h->col_labels && collab_w > cw - 4;
    double collab_h = rotated ? fmin(collab_w, 0.35 * (o->height ? H : 600)) : PLOT_FS_TICK;
    double bottom = 10 + 8 + collab_h + 4 + (o->xlabel ? 20 : 0);
    if (o->height) {
        ch = (H - top - bottom) / R;
    } else {
        ch = o->width ? fmin(fmax(cw, 3), 40) : cw;  // square cells unless the width was fixed
        if (R * ch < 60) ch = fmin(40, 60.0 / R);     // one or two rows: still a readable strip
        H = (int)ceil(top + ch * R + bottom);
    }
    const double cbar_h = fmax(ch * R, 100);
    if (top + cbar_h + 10 > H) H = (int)ceil(top + cbar_h + 10);
    if (cw * C < 20 || ch * R < 20 || W > 20000 || H > 20000)
        return err_set("%s: a %d x %d figure does not fit a [%d, %d] matrix with its labels", fn, W,
                       H, R, C);
    const PlotRect a = {left, top, cw * C, ch * R};

    plot_svg_begin(out, W, H, o->title);
    buf_puts(out, "<g class=\"cells\" shape-rendering=\"crispEdges\">\n");
    if ((size_t)R * C <= HEATMAP_RECT_CELLS) {
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++) {
                buf_printf(out, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"",
                           a.x + j * cw, a.y + i * ch, cw, ch);
                plot_put_color(out, plot_scale_color(&sc, h->data[(size_t)i * C + j]));
                buf_puts(out, "\"/>\n");
            }
    } else if (cells_image(out, &sc, h->data, R, C, a)) {
        return -1;
    }
    buf_puts(out, "</g>\n");
    buf_printf(out, "<rect class=\"plot-area\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
               "fill=\"none\" stroke=\"#444\" shape-rendering=\"crispEdges\"/>\n", a.x, a.y, a.w, a.h);

    if (h->show_values) {
        const char *fmt = h->value_fmt ? h->value_fmt : "%.2f";
        // One font size for the whole matrix, from the widest value, so the grid reads evenly.
        double maxchars = 1;
        char lab[64];
        for (size_t k = 0; k < (size_t)R * C; k++) {
            if (!isfinite(h->data[k])) continue;
            snprintf(lab, sizeof lab, fmt, (double)h->data[k]);
            maxchars = fmax(maxchars, (double)strlen(lab));
        }
        double fs = fmin(fmin(PLOT_FS_TICK, 0.45 * ch), 0.92 * cw / (0.58 * maxchars));
        if (fs >= 5.5) {
            buf_printf(out, "<g class=\"values\" text-anchor=\"middle\" font-size=\"%.1f\">\n", fs);
            for (int i = 0; i < R; i++)
                for (int j = 0; j < C; j++) {
                    double v = h->data[(size_t)i * C + j];
                    if (!isfinite(v)) continue;
                    snprintf(lab, sizeof lab, fmt, v);
                    buf_printf(out, "<text x=\"%.2f\" y=\"%.2f\" fill=\"%s\">", a.x + (j + 0.5) * cw,
                               a.y + (i + 0.5) * ch + 0.35 * fs, ink_on(plot_scale_color(&sc, v)));
                    buf_put_xml(out, lab);
                    buf_puts(out, "</text>\n");
                }
            buf_puts(out, "</g>\n");
        }
    }

    char lab[256];
    buf_puts(out, "<g class=\"yticks\">\n");
    int every = h->row_labels ? (int)ceil((PLOT_FS_TICK + 2) / ch)
                              : plot_label_every(ch, PLOT_FS_TICK + 2);
    for (int i = 0; i < R; i += every) {
        axis_label(lab, sizeof lab, h->row_labels, i);
        plot_text(out, a.x - 6, a.y + (i + 0.5) * ch + 0.35 * PLOT_FS_TICK, 0, "end", NULL, lab);
    }
    buf_puts(out, "</g>\n<g class=\"xticks\">\n");
    double need = rotated ? PLOT_FS_TICK + 2 : collab_w + 6;
    every = h->col_labels ? (int)ceil(need / cw) : plot_label_every(cw, need);
    for (int j = 0; j < C; j += every) {
        axis_label(lab, sizeof lab, h->col_labels, j);
        double cx = a.x + (j + 0.5) * cw, by = a.y + a.h + 8;
        if (rotated) {
            char rot[64];
            snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.2f %.2f)\"",
                     cx + 0.35 * PLOT_FS_TICK, by);
            plot_text(out, cx + 0.35 * PLOT_FS_TICK, by, 0, "end", rot, lab);
        } else {
            plot_text(out, cx, by + 0.8 * PLOT_FS_TICK, 0, "middle", NULL, lab);
        }
    }
    buf_puts(out, "</g>\n");
    if (o->xlabel) plot_text(out, a.x + a.w / 2, H - 10, PLOT_FS_LABEL, "middle", NULL, o->xlabel);
    if (o->ylabel) plot_text_vertical(out, 10 + PLOT_FS_LABEL * 0.75, a.y + a.h / 2, PLOT_FS_LABEL,
                                      o->ylabel);
    if (o->title)
        plot_text(out, W / 2.0, 24, PLOT_FS_TITLE, "middle", " font-weight=\"bold\"", o->title);
    plot_colorbar(out, &sc, a.x + a.w + 18, a.y, cbar_h);
    plot_svg_end(out);
    if (out->oom) return err_set("%s: out of memory", fn);
    return 0;
}
