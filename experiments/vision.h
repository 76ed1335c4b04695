// vision.h — what the vision experiments (curves.c, fashion.c) share: the learning curve
// recorded during training, images embedded in the report, and feature-visualisation grids.
#ifndef MECHLAB_VISION_H
#define MECHLAB_VISION_H

#include "interp/featviz.h"
#include "interp/report.h"
#include "train/cnn_train.h"

// Test loss and accuracy after every evaluation (a CnnEvalFn: t->on_eval = vis_curve_record).
typedef struct {
    int n, cap;
    float *step, *loss, *acc;
} VisCurve;
void vis_curve_record(void *user, long step, const double *values);
void vis_curve_free(VisCurve *c);

// Plots test accuracy and loss over training into DIR/learning_curve.svg and the report.
int vis_report_curve(Report *r, const VisCurve *c, const char *dir);

// Embeds DIR/FILE (a PNG written by interp/png.h) in the report, shown `zoom` times its pixel
// size (crisp: the page scales without smoothing, so the files stay small), with a link to it.
int vis_report_png(Report *r, const char *dir, const char *file, int zoom, const char *caption);

// Feature visualisations of n channels of `point` (cfg->n_seeds each) into
// images[n · n_seeds, H, W] (NULL: not kept) and act[n · n_seeds] (NULL: not kept), written as
// a grid with one row per channel and one column per seed to `path` (per-tile grey range).
int vis_featviz_grid(Cnn *m, const char *point, const int *channels, int n, FvKind kind,
                     const FvConfig *cfg, const char *path, int scale, float *images,
                     double *act);

// "DIR/FILE" into out.
void vis_path(char *out, size_t n, const char *dir, const char *file);

#endif
