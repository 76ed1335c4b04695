// attribution.h — which input pixels a CNN's output depends on: saliency, gradient × input,
// integrated gradients and occlusion, drawn as heatmaps over the image (interp/png.h).
//
// The attributed quantity f(x) is one number per image: element `index` of the activation at
// `point` for that image (point "logits" and index = a class: the class's logit, before the
// softmax, as Sundararajan et al. use it; any hook point works, e.g. one unit of a conv map).
//
//   saliency        S(x) = ∂f/∂x                       (Simonyan et al. 2014, signed)
//   grad × input    G(x) = x ⊙ ∂f/∂x                   (Shrikumar et al. 2016)
//   integrated      IG(x) = (x − x') ⊙ ∫₀¹ ∂f/∂x(x' + α(x − x')) dα   (Sundararajan et al. 2017)
//   gradients       with baseline x' (default: all zeros), the integral by a quadrature rule over
//                   m steps, α_k = k/m:
//                     ATTR_TRAPEZOID      k = 0..m, weights 1/(2m) at the ends, 1/m inside
//                     ATTR_RIGHT_RIEMANN  k = 1..m, weights 1/m
//                   Completeness: Σ IG = f(x) − f(x'), exactly for the exact integral; the
//                   quadrature's relative error |Σ IG − (f(x) − f(x'))| / |f(x) − f(x')| is
//                   reported (AttrIgCheck). A ReLU network is piecewise linear, so the path
//                   gradient is piecewise constant and both rules converge as O(1/m); the trapezoid
//                   rule is exact for a linear f and is the default.
//   occlusion       O[h, w] = mean over the patch×patch windows covering pixel (h, w) of
//                   f(x) − f(x with that window, all channels, set to `value`) (Zeiler & Fergus
//                   2014); windows start every `stride` pixels and the last row/column of windows
//                   is moved in to touch the border, so every pixel is covered.
//
// All functions take one image x[C, H, W] and batch their forward/backward passes through the
// model (up to its max_batch); they overwrite the model's last pass and never touch params.grad.
// They return 0, or -1 with err_set (unknown point, index out of range, bad parameters, out of
// memory).
#ifndef MECHLAB_ATTRIBUTION_H
#define MECHLAB_ATTRIBUTION_H

#include "model/cnn.h"

typedef struct {
    const char *point;  // a hook point or "logits" (NULL: "logits")
    int index;          // element of one image's activation at point (a class for logits)
} AttrTarget;

typedef enum { ATTR_TRAPEZOID = 0, ATTR_RIGHT_RIEMANN = 1 } AttrRule;

typedef struct {
    double f_x, f_base;  // f at the image and at the baseline
    double sum;          // Σ of the attributions
    double abs_err;      // |sum − (f_x − f_base)|
    double rel_err;      // abs_err / |f_x − f_base| (abs_err when f_x == f_base)
} AttrIgCheck;

// f for n images x[n, C, H, W]: out[n].
int attr_value(Cnn *m, const AttrTarget *t, const float *x, int n, double *out);

// out[C, H, W] = ∂f/∂x at x.
int attr_saliency(Cnn *m, const AttrTarget *t, const float *x, float *out);

// out[C, H, W] = x ⊙ ∂f/∂x.
int attr_grad_x_input(Cnn *m, const AttrTarget *t, const float *x, float *out);

// out[C, H, W] = integrated gradients from baseline[C, H, W] (NULL: zeros) to x with `steps`
// intervals (>= 1) under `rule`; chk (may be NULL) receives the completeness check.
int attr_integrated_gradients(Cnn *m, const AttrTarget *t, const float *x, const float *baseline,
                              int steps, AttrRule rule, float *out, AttrIgCheck *chk);

// out[H, W] = the occlusion map (patch 1..min(H, W), stride >= 1).
int attr_occlusion(Cnn *m, const AttrTarget *t, const float *x, int patch, int stride,
                   float value, float *out);

// Draws an attribution attr[C, H, W] (summed over channels) over image x[C, H, W] (channel
// mean, grey) with png_write_overlay: red positive, blue negative. scale: pixel upscaling.
int attr_save_overlay(const char *path, const float *x, const float *attr, int C, int H, int W,
                      float alpha, int scale);

#endif
