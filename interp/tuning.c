// tuning.c — orientation tuning curves and the orientation selectivity index (see tuning.h).
#include "tuning.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"

#define TUNE_PI 3.14159265358979323846

TuneConfig tuning_defaults(int size) {
    TuneConfig c;
    memset(&c, 0, sizeof c);
    c.stim = (ImgStim){.kind = IMG_LINES, .width = 1.5f, .length = 0.6f * (float)size,
                       .polarity = 1};
    c.n_theta = 36;
    c.n_offsets = 5;
    c.max_offset = 2.0f;
    c.std = 1.0f;
    return c;
}

int tuning_curves(Cnn *m, const char *point, const TuneConfig *c, float *resp) {
    if (c->n_theta < 1 || c->n_offsets < 1 || !(c->std > 0) || !(c->max_offset >= 0))
        return err_set("tuning: n_theta, n_offsets must be >= 1, std > 0, max_offset >= 0");
    if (m->C != 1) return err_set("tuning: stimuli are greyscale, the model takes %d channels", m->C);
    int h = -1;
    for (int i = 0; i < cnn_hook_count(m); i++)
        if (!strcmp(cnn_hook_info(m, i, 1).name, point)) h = i;
    if (h < 0) return err_set("tuning: '%s' is not a hook point of this CNN", point);
    CnnHookInfo hi = cnn_hook_info(m, h, 1);
    if (hi.ndim != 4) return err_set("tuning: %s is a vector, not an image with channels", point);
    int K = hi.shape[1], npos = hi.shape[2] * hi.shape[3], H = m->H, W = m->W;
    int n = c->n_theta * c->n_offsets, Bmax = m->max_batch;
    double period = images_orient_period(c->stim.kind);
    float *x = malloc(sizeof(float) * (size_t)Bmax * H * W);
    double *acc = calloc((size_t)K * c->n_theta, sizeof(double));
    if (!x || !acc) {
        free(x);
        free(acc);
        return err_set("tuning: out of memory");
    }
    int rc = 0;
    // stimulus s = (θ index s / n_offsets, offset index s % n_offsets), in chunks of the batch
    for (int s0 = 0; s0 < n && !rc; s0 += Bmax) {
        int B = n - s0 < Bmax ? n - s0 : Bmax;
        for (int b = 0; b < B; b++) {
            int s = s0 + b, k = s / c->n_offsets, o = s % c->n_offsets;
            ImgStim st = c->stim;
            st.theta = (float)(k * period / c->n_theta);
            st.offset = c->n_offsets > 1
                            ? -c->max_offset + 2 * c->max_offset * (float)o / (float)(c->n_offsets - 1)
                            : 0.0f;
            float *img = x + (size_t)b * H * W;
            images_render(img, H, W, &st);
            for (int i = 0; i < H * W; i++) img[i] = (img[i] - c->mean) / c->std;
        }
        if (cnn_forward(m, x, NULL, B, NULL, NULL)) {
            rc = -1;
            break;
        }
        Tensor a = cnn_act(m, point);
        for (int b = 0; b < B; b++) {
            int k = (s0 + b) / c->n_offsets;
            for (int ch = 0; ch < K; ch++) {
                const float *map = a.data + ((size_t)b * K + ch) * npos;
                double s = 0;
                if (c->map_mean) {
                    for (int p = 0; p < npos; p++) s += map[p];
                    s /= npos;
                } else {
                    s = map[(hi.shape[2] / 2) * hi.shape[3] + hi.shape[3] / 2];
                }
                acc[(size_t)ch * c->n_theta + k] += s;
            }
        }
    }
    if (!rc)
        for (size_t i = 0; i < (size_t)K * c->n_theta; i++) resp[i] = (float)(acc[i] / c->n_offsets);
    free(x);
    free(acc);
    return rc;
}

void tuning_osi(const float *r, int n, double period, double *osi, double *pref) {
    double re = 0, im = 0, sum = 0;
    for (int k = 0; k < n; k++) {
        double v = r[k] > 0 ? r[k] : 0;
        double a = 2 * TUNE_PI * k / n;  // θ_k · 2π/period
        re += v * cos(a);
        im += v * sin(a);
        sum += v;
    }
    *osi = sum > 0 ? sqrt(re * re + im * im) / sum : 0;
    double p = atan2(im, re) / (2 * TUNE_PI) * period;
    if (p < 0) p += period;
    if (p >= period) p -= period;
    *pref = p;
}

double tuning_angle_diff(double a, double b, double period) {
    double d = fmod(fabs(a - b), period);
    return d > period / 2 ? period - d : d;
}
