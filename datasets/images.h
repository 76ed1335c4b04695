// images.h — labelled image sets, and synthetic stimuli with known ground truth.
//
// An ImageSet is n greyscale (C = 1) images as floats [n, C, H, W] (NCHW, what model/cnn.h
// takes) with integer labels in [0, n_classes). Loaders (datasets/idx.h) and the generators here
// produce one; images_batch copies a minibatch out of it for the trainer.
//
// Synthetic stimuli (the curve-detector experiments, Olah et al. 2020; Cammarata et al. 2020):
//   IMG_LINES   an anti-aliased straight stroke (a segment with round caps) at orientation θ
//   IMG_CURVES  an anti-aliased arc of curvature κ whose tangent at its midpoint has direction θ;
//               it bends towards the left of that direction. κ = 0 is a straight stroke.
//   IMG_EDGES   a step edge along orientation θ over the whole image, bright on one side
// Geometry, in pixels, with the origin at the image centre, u to the right and v UP (so θ is
// counter-clockwise as seen on screen): pixel (row i, col j) has its centre at
//   u = j + 0.5 - W/2,   v = H/2 - (i + 0.5).
// θ = 0 is horizontal, θ = π/2 vertical. The stimulus passes through the point
//   offset · (-sin θ, cos θ)   (its midpoint, displaced along the normal by `offset` pixels).
// Anti-aliasing: a pixel's value is the coverage of a unit-wide box filter across the stroke's
// profile: the length of [dist - 1/2, dist + 1/2] ∩ [-width/2, width/2], with dist the distance
// from the pixel centre to the stroke's centre line (to its end points beyond the ends) — for
// width >= 1 that is clamp(width/2 + 1/2 - dist, 0, 1). A stroke border falling inside a pixel
// gives an intermediate value, and a straight stroke's pixels sum to width per unit length for
// any offset. Edges are clamp(1/2 + signed distance, 0, 1). Background 0, stroke 1 (an edge's
// bright side 1); values stay in [0, 1] unless noise is added (noise comes from its own stream,
// so the same seed gives the same stimuli at any noise level).
//
// Orientation labels: θ is drawn uniformly from [0, π) for lines and edges (a line at θ + π is
// the same line; an edge's polarity is drawn separately and not part of the label) and from
// [0, 2π) for curves (bending left of θ + π is bending right of θ). The label is the bin
// floor(θ / (period / n_orient)); bin b spans [b, b+1)·period/n_orient.
// Curvature classes: κ_c = c · max_curvature / (n_curv - 1), c = 0..n_curv-1 (class 0 straight),
// drawn uniformly (n_curv = 1: always straight).
//
// Everything is deterministic from the seed: the same config and seed give bit-identical images
// on every machine and thread count (one Rng, stimuli drawn in index order).
#ifndef MECHLAB_IMAGES_H
#define MECHLAB_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "model/rng.h"

typedef enum { IMG_LINES = 0, IMG_CURVES = 1, IMG_EDGES = 2 } ImgKind;

// One stimulus, exactly: what images_render draws and what a synthetic set records per image.
typedef struct {
    ImgKind kind;
    float theta;      // orientation (radians), see above
    float offset;     // displacement along the normal (-sin θ, cos θ), pixels
    float curvature;  // κ = 1/radius (curves only; 0 = straight), pixels⁻¹, >= 0
    float width;      // stroke width, pixels (lines, curves)
    float length;     // stroke (arc) length, pixels (lines, curves)
    int polarity;     // edges: +1 bright on the normal's side, -1 bright on the other
} ImgStim;

typedef struct {
    int n;          // number of images
    int C, H, W;    // channels (1), rows, columns
    int n_classes;  // labels are in [0, n_classes)
    float *x;       // [n, C, H, W]
    int *y;         // [n]
    ImgStim *truth; // [n] the stimulus behind each image (synthetic sets), else NULL
} ImageSet;

// Allocates x (zeroed), y and, if with_truth, truth. Returns 0, or -1 with err_set (bad sizes,
// out of memory). images_free releases everything; a zeroed or freed set is fine.
int images_alloc(ImageSet *s, int n, int C, int H, int W, int n_classes, int with_truth);
void images_free(ImageSet *s);

// Copies images idx[0..B-1] into x[B, C, H, W] and their labels into y[B] (y may be NULL).
void images_batch(const ImageSet *s, const int *idx, int B, float *x, int *y);

// Mean and standard deviation of every pixel of the set, summed in double.
void images_mean_std(const ImageSet *s, double *mean, double *std);
// x = (x - mean) / std on every pixel (std > 0).
void images_normalize(ImageSet *s, float mean, float std);

// ---- synthetic stimuli -----------------------------------------------------------------------

typedef enum {
    IMG_LABEL_ORIENT = 0,  // the orientation bin (n_orient classes)
    IMG_LABEL_CURV = 1,    // the curvature class (n_curv classes)
    IMG_LABEL_JOINT = 2,   // orientation bin · n_curv + curvature class
} ImgLabel;

typedef struct {
    ImgKind kind;
    int size;             // H = W, 8..256
    int n_orient;         // orientation bins, >= 1
    int n_curv;           // curvature classes (curves), >= 1
    float max_curvature;  // κ of the highest class, pixels⁻¹ (curves; e.g. 0.15)
    float width;          // stroke width (e.g. 1.5)
    float length;         // stroke length (e.g. 0.6 · size)
    float max_offset;     // offset drawn uniformly from [-max_offset, max_offset]
    float noise;          // std of Gaussian pixel noise added after rendering (0: none)
    ImgLabel label;
} ImgSynthConfig;

// Defaults for a kind at a size: 8 orientation bins, 4 curvature classes up to κ = 2.4/size
// (radius size/2.4), width 1.5, length 0.6·size, offset up to size/8, no noise, orientation
// labels.
ImgSynthConfig images_synth_defaults(ImgKind kind, int size);

// 0, or -1 with err_set("synthetic images: <field>: <problem>").
int images_synth_check(const ImgSynthConfig *c);

// n images drawn from `seed`: θ, offset, curvature class and polarity per image, rendered, noise
// added. Fills *s (images_free it). Returns 0, or -1 with err_set.
int images_synth(ImageSet *s, const ImgSynthConfig *c, int n, uint64_t seed);

// Renders one stimulus into img[H, W] (overwritten), e.g. a line at an exact θ for a tuning
// curve. No noise.
void images_render(float *img, int H, int W, const ImgStim *st);

// Orientation period of a kind: π for lines and edges, 2π for curves.
double images_orient_period(ImgKind kind);

// Parses "lines", "curves", "edges". Returns 0, or -1 with err_set naming the accepted values.
int images_kind_parse(const char *s, ImgKind *out);
const char *images_kind_name(ImgKind k);

#endif
