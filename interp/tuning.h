// tuning.h — orientation tuning curves of CNN units and their selectivity, from stimuli drawn
// exactly by datasets/images.h (images_render): the way neuroscience maps a V1 cell, applied to
// the units of a small CNN (Olah et al. 2020 "Zoom In"; Cammarata et al. 2020 "Curve Detectors").
//
// A unit is one channel of an image hook point. Its response to a stimulus is, as a neuron's is
// measured with a stimulus centred on its receptive field (and as Cammarata et al. render curves
// at the neuron's position), the activation of the channel's CENTRE unit, at (H'/2, W'/2), for
// a stroke through the image centre — or, with `map_mean`, the mean of the channel's whole map
// (a population measure: it also counts the units that see only a stroke's end or a crossing).
// Either is averaged over n_offsets parallel copies of the stimulus displaced along its normal,
// so an edge detector, which likes the stroke a pixel to one side, is not missed. Orientations are θ_k = k·period/n_theta,
// k = 0..n_theta-1, period = images_orient_period(kind) (π for lines and edges).
//
// Selectivity: the orientation selectivity index (global OSI, 1 − circular variance),
//     OSI = |Σ_k r_k e^{i·2π·θ_k/period}| / Σ_k r_k,     preferred θ = arg(Σ_k r_k e^{i·2π·θ_k/period})·period/(2π)
// on responses r_k clipped at 0 (measure after a ReLU). OSI is 0 for a flat curve and 1 for a
// response at one orientation only; for r(θ) = 1 + a·cos(2(θ − θ0)) it is a/2, so OSI ≥ 0.2
// means the preferred orientation gets at least (1 + 0.4)/(1 − 0.4) ≈ 2.3 times the response of
// the orthogonal one. A unit that never responds (Σ r = 0) has OSI 0.
#ifndef MECHLAB_TUNING_H
#define MECHLAB_TUNING_H

#include "datasets/images.h"
#include "model/cnn.h"

typedef struct {
    ImgStim stim;      // template: kind, width, length, curvature, polarity (θ, offset set here)
    int n_theta;       // orientations over one period
    int n_offsets;     // parallel copies, offsets evenly spread over [−max_offset, max_offset]
    float max_offset;  // pixels (n_offsets = 1: offset 0)
    float mean, std;   // stimuli are fed as (pixel − mean)/std (the model's input normalisation)
    int map_mean;      // 1: the mean over the channel's map; 0: its centre unit
} TuneConfig;

// Defaults for a model input of side `size`: a line of width 1.5 and length 0.6·size, 36
// orientations (5°), 5 offsets within ±2 pixels, no normalisation, the centre unit.
TuneConfig tuning_defaults(int size);

// resp[channels, n_theta] = the tuning curve of every channel at an image hook point.
// Returns 0, or -1 with err_set (unknown point, a vector point, bad config, out of memory).
int tuning_curves(Cnn *m, const char *point, const TuneConfig *c, float *resp);

// OSI and preferred orientation (radians, in [0, period)) of one tuning curve r[n] at
// θ_k = k·period/n.
void tuning_osi(const float *r, int n, double period, double *osi, double *pref);

// |a − b| between two orientations of period `period`, folded into [0, period/2].
double tuning_angle_diff(double a, double b, double period);

#endif
