// vision.h — what the vision experiments (curves.c, fashion.c) share: the learning curve
// recorded during training and images embedded in the report.
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

// "DIR/FILE" into out.
void vis_path(char *out, size_t n, const char *dir, const char *file);

#endif
