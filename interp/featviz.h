// featviz.h — feature visualisation: the input that maximises a unit of a CNN (activation
// maximisation; Erhan et al. 2009, Olah et al. 2017 "Feature Visualization", Lucent).
//
// The objective of one image x [C, H, W] for a target unit a(x) is, to be MAXIMISED,
//     J(x) = a(x) − (l2/2)·‖x‖² − tv · TV(x)
// with ‖x‖² summed over the C·H·W pixels and TV the smoothed isotropic total variation of
// featviz_tv, summed over channels. For a unit that is linear in its receptive field,
// a = w·x + b, the maximiser without TV is x* = w/l2 inside the field and 0 outside: the
// visualisation of an edge filter is that filter. The target is
//     FV_CHANNEL  the mean of channel c's map at a hook point (all positions)
//     FV_UNIT     channel c at one position (y, x) of the map (default: its centre)
// and for a vector point ("logits", a linear layer's output) simply feature c.
//
// Each step (gradient ascent, Adam on the parameterisation):
//   1. x = image(p): the pixels themselves, or, with `fourier`, the decorrelated
//      parameterisation of Lucent / Olah et al. 2017: x = irfft2(S ⊙ p) with p a real and an
//      imaginary coefficient per rfft2 frequency and S(f) = 1 / max(f, 1/max(H, W))^decay_power
//      (f the frequency in cycles per pixel; S normalised to unit RMS), so every frequency takes gradient steps of its
//      natural size (a natural image's spectrum falls as 1/f) instead of white noise dominating.
//      With range_lo < range_hi the image is squashed into that range,
//      x ← lo + (hi − lo)·sigmoid(x), like Lucent's sigmoid to [0, 1].
//   2. Jitter: x is rolled (circular shift) by a random (dy, dx) in [−jitter, jitter]², the
//      forward and backward pass run on the rolled image, and the gradient is rolled back: the
//      image must work at every nearby shift, which suppresses high-frequency adversarial
//      patterns.
//   3. dJ/dx = da/dx (cnn_backward_from at the target point, a one-hot or 1/(H'·W') map there)
//      minus the penalties' gradients; chained back through the squashing and the inverse FFT
//      (its adjoint, featviz_irfft2_adjoint) to p; an Adam step (train/optim.h) on −dJ/dp.
// A target after a ReLU that is 0 for the starting image has no gradient and never moves: aim
// at the layer before the ReLU (the conv output), as the experiments do.
// Several seeds per unit: n_seeds images with independent random starts p ~ N(0, init_std²)
// (and independent jitter), optimised together as one batch (chunks of the model's max_batch).
//
// The DFT here is the direct O(H·W·(H + W)) separable transform: the images are small (16–64
// pixels a side), so an FFT would save nothing worth its code.
#ifndef MECHLAB_FEATVIZ_H
#define MECHLAB_FEATVIZ_H

#include <stdint.h>

#include "model/cnn.h"

typedef enum { FV_CHANNEL = 0, FV_UNIT = 1 } FvKind;

typedef struct {
    const char *point;  // a hook point ("layers.2.hook_out") or "logits"
    int channel;        // channel of an image point, feature of a vector point
    FvKind kind;        // image points: mean of the channel's map, or one unit
    int y, x;           // FV_UNIT: the position in the map; -1: the centre (H'/2, W'/2)
} FvTarget;

typedef struct {
    int steps;          // gradient-ascent steps
    float lr;           // Adam learning rate (on p)
    float l2;           // weight of ‖x‖²/2
    float tv;           // weight of TV(x)
    float tv_eps;       // TV smoothing (see featviz_tv), in pixel units
    int jitter;         // max |shift| in pixels per axis per step (0: none)
    int fourier;        // 1: decorrelated (Fourier) parameterisation
    float decay_power;  // S(f) = 1/f^decay_power
    float init_std;     // std of the random start of p
    float range_lo, range_hi;  // lo < hi: squash the image into [lo, hi] with a sigmoid
    int n_seeds;        // images per target
    uint64_t seed;      // starts and jitter; seed i of a target uses (seed, i)
} FvConfig;

// steps 256, lr 0.05, l2 0.01, tv 0.05, tv_eps 0.01, jitter 1, fourier 1, decay 1,
// init_std 0.01, no range, 4 seeds, seed 0.
FvConfig featviz_defaults(void);

// Optimises cfg->n_seeds images for the target. images[n_seeds, C, H, W] receives them (in the
// model's input space); act_start / act_end [n_seeds] (either may be NULL) receive the target's
// activation (without penalties or jitter) at the random start and at the end. Returns 0, or -1
// with err_set (unknown point, channel or position out of range, bad config, out of memory).
// Uses the model's buffers (its last forward is overwritten) and does not touch params.grad.
int featviz_run(Cnn *m, const FvTarget *t, const FvConfig *cfg, float *images, double *act_start,
                double *act_end);

// Feature visualisations of n channels of `point` (cfg->n_seeds each, target kind `kind` at the
// map's centre for FV_UNIT), written as a PNG grid to `path`: one row per channel, one column
// per seed, each tile in grey with its own range (interp/png.h, `scale` times upscaled). The
// images [n · n_seeds, C, H, W] and the final activations [n · n_seeds] are copied out when
// images / act are not NULL. Tiles show an image's first channel. Returns 0 or -1 with err_set.
int featviz_save_grid(Cnn *m, const char *point, const int *channels, int n, FvKind kind,
                      const FvConfig *cfg, const char *path, int scale, float *images,
                      double *act);

// The target's activation for each of n images x[n, C, H, W] (no penalties): out[n].
int featviz_activation(Cnn *m, const FvTarget *t, const float *x, int n, double *out);

// Number of channels (image point) or features (vector point) at a hook point or "logits", and
// the map size (1 × 1 for vectors). -1 with err_set for an unknown point.
int featviz_point_shape(const Cnn *m, const char *point, int *channels, int *h, int *w);

// ---- pieces, exposed for the tests -----------------------------------------------------------

// Smoothed isotropic total variation of x[H, W]:
//     TV(x) = Σ_{i,j} ( sqrt(dh² + dv² + eps²) − eps ),
//     dh = x[i, j+1] − x[i, j] (0 in the last column), dv = x[i+1, j] − x[i, j] (0 in the last row)
// (the − eps makes a constant image 0). grad[H, W] (may be NULL) receives += dTV/dx. eps > 0 keeps
// it differentiable where the image is flat.
double featviz_tv(const float *x, int H, int W, float eps, float *grad);

// Spectrum layout: spec[H, Wf, 2] with Wf = W/2 + 1: (re, im) of frequency (u, v), u = 0..H-1
// (rows), v = 0..W/2 (columns), "ortho" normalisation (1/sqrt(H·W) each way):
//   x[h, w] = (1/sqrt(HW)) Σ_u Σ_v c_v Re( X[u, v] e^{2πi(uh/H + vw/W)} ),
//   c_v = 1 for v = 0 and (W even) v = W/2, else 2
// which is numpy.fft.irfft2(X, s=(H, W), norm="ortho") (the imaginary parts of the v = 0 and
// v = W/2 columns are ignored, as numpy's c2r does).
int featviz_spec_cols(int W);  // W/2 + 1
void featviz_irfft2(float *x, const float *spec, int H, int W);
// dspec[H, Wf, 2] = the adjoint (transpose) of featviz_irfft2 applied to dx[H, W] (overwritten).
void featviz_irfft2_adjoint(float *dspec, const float *dx, int H, int W);
// spec = numpy.fft.rfft2(x, norm="ortho"); featviz_irfft2(featviz_rfft2(x)) = x.
void featviz_rfft2(float *spec, const float *x, int H, int W);
// S(u, v) ∝ 1 / max(f, 1/max(H, W))^decay with f = sqrt(fy² + fx²), fy = min(u, H−u)/H,
// fx = v/W (cycles per pixel): scale[H, Wf], normalised to unit RMS over the spectrum (column v
// weighted by c_v), so white noise in p gives pixels of about unit variance per unit variance
// of p, as in the pixel parameterisation: one learning rate suits both.
void featviz_freq_scale(float *scale, int H, int W, float decay);

// Dominant orientation of img[H, W] from its structure tensor (the gradient's second moments,
// Scharr derivatives on interior pixels): the angle θ in [0, π) of the strokes or edges, in the
// convention of datasets/images.h (0 horizontal, counter-clockwise, v up), which is the gradient's
// dominant direction + π/2. *coherence (may be NULL) = (λ1 − λ2)/(λ1 + λ2) of the tensor in
// [0, 1]: 1 for a perfectly oriented pattern, 0 for an isotropic one (or a flat image).
void featviz_orientation(const float *img, int H, int W, double *theta, double *coherence);

#endif
