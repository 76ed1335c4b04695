// vision.c — helpers shared by the vision experiments (see vision.h).
#include "vision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/plot.h"
#include "model/err.h"
#include "model/fileio.h"

void vis_path(char *out, size_t n, const char *dir, const char *file) {
    snprintf(out, n, "%s/%s", dir, file);
}

void vis_curve_record(void *user, long step, const double *values) {
    VisCurve *c = user;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        float *s = realloc(c->step, sizeof(float) * cap);
        if (s) c->step = s;
        float *l = realloc(c->loss, sizeof(float) * cap);
        if (l) c->loss = l;
        float *a = realloc(c->acc, sizeof(float) * cap);
        if (a) c->acc = a;
        if (!s || !l || !a) return;  // out of memory: the curve just stops growing
        c->cap = cap;
    }
    c->step[c->n] = (float)step;
    c->loss[c->n] = (float)values[0];
    c->acc[c->n] = (float)values[1];
    c->n++;
}

void vis_curve_free(VisCurve *c) {
    free(c->step);
    free(c->loss);
    free(c->acc);
    memset(c, 0, sizeof *c);
}

int vis_report_curve(Report *r, const VisCurve *c, const char *dir) {
    if (c->n == 0) return 0;
    PlotSeries s[2] = {{.x = c->step, .y = c->acc, .n = c->n, .label = "test accuracy", .markers = 1},
                       {.x = c->step, .y = c->loss, .n = c->n, .label = "test loss", .markers = 1}};
    PlotOpts o = {.title = "Learning curve", .xlabel = "step", .ylabel = "accuracy / loss"};
    Buf svg = {0};
    char path[4200];
    vis_path(path, sizeof path, dir, "learning_curve.svg");
    int rc = plot_line(&svg, &o, s, 2);
    if (!rc) rc = plot_save(path, &svg);
    if (!rc) report_figure(r, svg.p, "Test accuracy and loss at every evaluation.");
    buf_free(&svg);
    return rc;
}

int vis_report_png(Report *r, const char *dir, const char *file, int zoom, const char *caption) {
    char path[4200];
    vis_path(path, sizeof path, dir, file);
    char *data;
    size_t len;
    if (fileio_read_all(path, (size_t)1 << 28, &data, &len)) return -1;
    // the width is the big-endian u32 at byte 16 (IHDR, right after the signature)
    const unsigned char *u = (const unsigned char *)data;
    long w = len >= 24 ? (long)u[16] << 24 | (long)u[17] << 16 | (long)u[18] << 8 | u[19] : 0;
    report_image(r, data, len, zoom > 1 && w > 0 && w * zoom < 4096 ? (int)(w * zoom) : 0, NULL,
                 caption);
    report_link(r, file, "the image file");
    free(data);
    return 0;
}
