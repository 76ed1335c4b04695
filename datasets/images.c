// images.c — image sets and the synthetic line / curve / edge stimuli (geometry in images.h).
#include "images.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"

#define IMG_PI 3.14159265358979323846

int images_alloc(ImageSet *s, int n, int C, int H, int W, int n_classes, int with_truth) {
    memset(s, 0, sizeof *s);
    if (n < 1 || C < 1 || H < 1 || W < 1 || n_classes < 1)
        return err_set("image set: bad size n=%d C=%d H=%d W=%d classes=%d", n, C, H, W,
                       n_classes);
    size_t per = (size_t)C * H * W;
    if (per > ((size_t)1 << 24) || (size_t)n > ((size_t)1 << 36) / per)
        return err_set("image set: %d images of %dx%dx%d is too large", n, C, H, W);
    s->x = calloc((size_t)n * per, sizeof(float));
    s->y = calloc((size_t)n, sizeof(int));
    if (with_truth) s->truth = calloc((size_t)n, sizeof(ImgStim));
    if (!s->x || !s->y || (with_truth && !s->truth)) {
        images_free(s);
        return err_set("image set: out of memory for %d images of %dx%dx%d", n, C, H, W);
    }
    s->n = n;
    s->C = C;
    s->H = H;
    s->W = W;
    s->n_classes = n_classes;
    return 0;
}

void images_free(ImageSet *s) {
    if (!s) return;
    free(s->x);
    free(s->y);
    free(s->truth);
    memset(s, 0, sizeof *s);
}

void images_batch(const ImageSet *s, const int *idx, int B, float *x, int *y) {
    size_t per = (size_t)s->C * s->H * s->W;
    for (int b = 0; b < B; b++) {
        memcpy(x + (size_t)b * per, s->x + (size_t)idx[b] * per, per * sizeof(float));
        if (y) y[b] = s->y[idx[b]];
    }
}

void images_mean_std(const ImageSet *s, double *mean, double *std) {
    size_t n = (size_t)s->n * s->C * s->H * s->W;
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) sum += s->x[i];
    double m = n ? sum / (double)n : 0;
    // a second pass about the mean: no cancellation in the variance
    for (size_t i = 0; i < n; i++) sq += (s->x[i] - m) * (s->x[i] - m);
    *mean = m;
    *std = n ? sqrt(sq / (double)n) : 0;
}

void images_normalize(ImageSet *s, float mean, float std) {
    size_t n = (size_t)s->n * s->C * s->H * s->W;
    float inv = 1.0f / std;
    for (size_t i = 0; i < n; i++) s->x[i] = (s->x[i] - mean) * inv;
}

// ---- rendering -------------------------------------------------------------------------------

double images_orient_period(ImgKind kind) { return kind == IMG_CURVES ? 2 * IMG_PI : IMG_PI; }

static double clamp01(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

// Coverage of a unit-wide box filter centred at distance d from the centre line of a stroke of
// width w: the length of [d - 1/2, d + 1/2] ∩ [-w/2, w/2]. It is clamp(w/2 + 1/2 - d, 0, 1) when
// w >= 1, and never more than w (a thin stroke is dim, not fat).
static double coverage(double d, double w) {
    double hi = fmin(d + 0.5, 0.5 * w), lo = fmax(d - 0.5, -0.5 * w);
    return hi > lo ? hi - lo : 0;
}

// Distance from (u, v) to the segment a–b.
static double seg_dist(double u, double v, double au, double av, double bu, double bv) {
    double du = bu - au, dv = bv - av, len2 = du * du + dv * dv;
    double t = len2 > 0 ? ((u - au) * du + (v - av) * dv) / len2 : 0;
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    return hypot(u - (au + t * du), v - (av + t * dv));
}

void images_render(float *img, int H, int W, const ImgStim *st) {
    double c = cos(st->theta), s = sin(st->theta);
    double nu = -s, nv = c;  // left normal of the direction (c, s)
    double mu = st->offset * nu, mv = st->offset * nv;  // the stimulus's midpoint
    double half = 0.5 * st->length;
    // Curves: centre of curvature to the left, arc of half-angle `alpha` around the midpoint.
    int arc = st->kind == IMG_CURVES && st->curvature > 1e-6f;
    double r = arc ? 1.0 / st->curvature : 0, cu = mu + r * nu, cv = mv + r * nv;
    double phi0 = atan2(mv - cv, mu - cu), alpha = arc ? fmin(half / r, IMG_PI) : 0;
    double e1u = 0, e1v = 0, e2u = 0, e2v = 0;  // arc end points
    if (arc) {
        e1u = cu + r * cos(phi0 - alpha);
        e1v = cv + r * sin(phi0 - alpha);
        e2u = cu + r * cos(phi0 + alpha);
        e2v = cv + r * sin(phi0 + alpha);
    }
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            double u = j + 0.5 - 0.5 * W, v = 0.5 * H - (i + 0.5), val;
            if (st->kind == IMG_EDGES) {
                double sd = (u - mu) * nu + (v - mv) * nv;  // signed distance, + on the normal side
                val = clamp01(0.5 + (st->polarity < 0 ? -sd : sd));
            } else if (arc) {
                double qu = u - cu, qv = v - cv;
                double d = remainder(atan2(qv, qu) - phi0, 2 * IMG_PI);  // in [-π, π]
                double dist = fabs(d) <= alpha
                                  ? fabs(hypot(qu, qv) - r)
                                  : fmin(hypot(u - e1u, v - e1v), hypot(u - e2u, v - e2v));
                val = coverage(dist, st->width);
            } else {
                double dist = seg_dist(u, v, mu - half * c, mv - half * s, mu + half * c,
                                       mv + half * s);
                val = coverage(dist, st->width);
            }
            img[(size_t)i * W + j] = (float)val;
        }
}

// ---- synthetic sets --------------------------------------------------------------------------

ImgSynthConfig images_synth_defaults(ImgKind kind, int size) {
    return (ImgSynthConfig){.kind = kind, .size = size, .n_orient = 8, .n_curv = 4,
                            .max_curvature = 2.4f / (float)size, .width = 1.5f,
                            .length = 0.6f * (float)size, .max_offset = (float)size / 8,
                            .noise = 0, .label = IMG_LABEL_ORIENT};
}

int images_synth_check(const ImgSynthConfig *c) {
    if (c->kind < IMG_LINES || c->kind > IMG_EDGES)
        return err_set("synthetic images: kind: %d is not lines, curves or edges", (int)c->kind);
    if (c->size < 8 || c->size > 256)
        return err_set("synthetic images: size: %d outside 8..256", c->size);
    if (c->n_orient < 1 || c->n_orient > 360)
        return err_set("synthetic images: n_orient: %d outside 1..360", c->n_orient);
    if (c->n_curv < 1 || c->n_curv > 64)
        return err_set("synthetic images: n_curv: %d outside 1..64", c->n_curv);
    if (!(c->max_curvature >= 0 && c->max_curvature <= 2))
        return err_set("synthetic images: max_curvature: %g outside [0, 2] per pixel",
                       (double)c->max_curvature);
    if (!(c->width > 0 && c->width <= c->size))
        return err_set("synthetic images: width: %g outside (0, size]", (double)c->width);
    if (!(c->length >= 0 && c->length <= 4 * c->size))
        return err_set("synthetic images: length: %g outside [0, 4·size]", (double)c->length);
    if (!(c->max_offset >= 0 && c->max_offset <= c->size))
        return err_set("synthetic images: max_offset: %g outside [0, size]",
                       (double)c->max_offset);
    if (!(c->noise >= 0 && c->noise <= 10))
        return err_set("synthetic images: noise: %g outside [0, 10]", (double)c->noise);
    if (c->label < IMG_LABEL_ORIENT || c->label > IMG_LABEL_JOINT)
        return err_set("synthetic images: label: %d is not orient, curv or joint", (int)c->label);
    return 0;
}

int images_synth(ImageSet *s, const ImgSynthConfig *c, int n, uint64_t seed) {
    memset(s, 0, sizeof *s);
    if (images_synth_check(c)) return -1;
    int n_curv = c->kind == IMG_CURVES ? c->n_curv : 1;
    int classes = c->label == IMG_LABEL_ORIENT ? c->n_orient
                  : c->label == IMG_LABEL_CURV ? n_curv
                                               : c->n_orient * n_curv;
    if (images_alloc(s, n, 1, c->size, c->size, classes, 1)) return -1;
    // Stimuli and noise from separate streams, so the same seed gives the same stimuli at any
    // noise level (noise draws would otherwise shift every later image's parameters).
    Rng rng, nrng;
    rng_seed(&rng, seed);
    rng_seed(&nrng, seed ^ 0x6e6f697365ull);  // "noise"
    double period = images_orient_period(c->kind);
    size_t per = (size_t)c->size * c->size;
    for (int i = 0; i < n; i++) {
        // Fixed draw order per image (θ, offset, class, polarity), whatever the kind.
        double theta = period * rng_uniform_d(&rng);
        double off = c->max_offset * (2 * rng_uniform_d(&rng) - 1);
        int cls = (int)rng_int(&rng, (uint32_t)n_curv);
        int pol = rng_int(&rng, 2) ? 1 : -1;
        ImgStim st = {.kind = c->kind, .theta = (float)theta, .offset = (float)off,
                      .curvature = n_curv > 1 ? c->max_curvature * (float)cls / (float)(n_curv - 1)
                                              : 0.0f,
                      .width = c->width, .length = c->length,
                      .polarity = c->kind == IMG_EDGES ? pol : 1};
        // The bin of the stored (float) θ, so labels agree with the recorded truth exactly; the
        // clamp covers a θ just below the period that rounds up to it in float.
        int bin = (int)((double)st.theta / (period / c->n_orient));
        if (bin >= c->n_orient) bin = c->n_orient - 1;
        float *img = s->x + (size_t)i * per;
        images_render(img, c->size, c->size, &st);
        if (c->noise > 0)
            for (size_t k = 0; k < per; k++) img[k] += c->noise * rng_normal(&nrng);
        s->truth[i] = st;
        s->y[i] = c->label == IMG_LABEL_ORIENT ? bin
                  : c->label == IMG_LABEL_CURV ? cls
                                               : bin * n_curv + cls;
    }
    return 0;
}

int images_kind_parse(const char *s, ImgKind *out) {
    static const char *names[] = {"lines", "curves", "edges"};
    for (int k = 0; k < 3; k++)
        if (!strcmp(s, names[k])) {
            *out = (ImgKind)k;
            return 0;
        }
    return err_set("image kind '%s': expected lines, curves or edges", s);
}

const char *images_kind_name(ImgKind k) {
    return k == IMG_LINES ? "lines" : k == IMG_CURVES ? "curves" : k == IMG_EDGES ? "edges" : "?";
}
