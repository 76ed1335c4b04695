// Synthetic images (datasets/images.c): geometry checked by measurements the test makes itself.
//
// Lines: the principal axis of the pixel intensities (second moments about the centroid) lies
// at θ for many θ and offsets, and the centroid sits `offset` along the normal; a horizontal
// stroke's column profile matches the hand-computed box-filter coverage (intermediate values
// at the stroke's borders, column mass = width). Curves: stroke pixels lie at distance 1/κ from
// the centre of curvature on the left; κ = 0 draws the line. Edges: the intensity gradient is
// normal to θ, bright side by polarity. Sets: same seed → identical bits, labels = bins of the
// recorded θ / curvature classes, all bins used, noise of the requested std, bad configs named.
#include <math.h>
#include <string.h>

#include "datasets/images.h"
#include "helpers.h"
#include "model/err.h"

TestSuite(images);

#define PI_D 3.14159265358979323846

// Pixel-centre coordinates (u right, v up, origin at the centre), as images.h defines them.
static double pu(int j, int W) { return j + 0.5 - 0.5 * W; }
static double pv(int i, int H) { return 0.5 * H - (i + 0.5); }

typedef struct {
    double mass, cu, cv, angle;  // total intensity, centroid, principal-axis angle in [0, π)
} Moments;

static Moments moments(const float *img, int H, int W) {
    Moments m = {0};
    double su = 0, sv = 0;
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            double w = img[i * W + j];
            m.mass += w;
            su += w * pu(j, W);
            sv += w * pv(i, H);
        }
    m.cu = su / m.mass;
    m.cv = sv / m.mass;
    double uu = 0, vv = 0, uv = 0;
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            double w = img[i * W + j], du = pu(j, W) - m.cu, dv = pv(i, H) - m.cv;
            uu += w * du * du;
            vv += w * dv * dv;
            uv += w * du * dv;
        }
    m.angle = 0.5 * atan2(2 * uv, uu - vv);
    if (m.angle < 0) m.angle += PI_D;
    return m;
}

// |a - b| modulo `period`
static double angle_diff(double a, double b, double period) {
    double d = fmod(fabs(a - b), period);
    return fmin(d, period - d);
}

Test(images, line_principal_axis_is_theta) {
    enum { S = 28 };
    float img[S * S];
    const double thetas[] = {0, 0.1, 0.3, PI_D / 4, 1.2, PI_D / 2, 2.0, 2.5, 3.0, 3.1};
    const double offsets[] = {0, 2.5, -3.7};
    for (int t = 0; t < 10; t++)
        for (int o = 0; o < 3; o++) {
            ImgStim st = {.kind = IMG_LINES, .theta = (float)thetas[t], .offset = (float)offsets[o],
                          .width = 1.5f, .length = 16};
            images_render(img, S, S, &st);
            Moments m = moments(img, S, S);
            double d = angle_diff(m.angle, thetas[t], PI_D);
            // 1°: a sweep of 1000 θ at offset 0 gives at most 0.69° (near the axes, where a
            // 1.5-px stroke sampled at pixel centres aliases most); bins are 22.5° wide
            cr_assert(d < 1.0 * PI_D / 180, "θ %.3f offset %.1f: principal axis at %.4f (%.3f°)",
                      thetas[t], offsets[o], m.angle, d * 180 / PI_D);
            // the centroid is the midpoint, `offset` along the normal (-sin θ, cos θ); sampling
            // the box-filtered profile at pixel centres keeps its mass exactly but can move its
            // centroid by up to ~0.07 px (at θ = 0, offset -3.7: (−3.5·1 − 4.5·0.45 − 2.5·0.05)
            // / 1.5 = −3.767)
            double eu = -sin(thetas[t]) * offsets[o], ev = cos(thetas[t]) * offsets[o];
            cr_assert(hypot(m.cu - eu, m.cv - ev) < 0.1, "centroid (%.3f, %.3f) vs (%.3f, %.3f)",
                      m.cu, m.cv, eu, ev);
            // mass ≈ width · (length + the round caps' area π(w/2)² spread over a pixel)
            double want = 1.5 * 16 + PI_D * 0.75 * 0.75;
            cr_assert(fabs(m.mass - want) < 0.05 * want, "mass %.3f vs %.3f", m.mass, want);
        }
}

Test(images, antialiasing_profile_by_hand) {
    enum { S = 16 };
    float img[S * S];
    // horizontal stroke, width 2, centre line at v = 0.25: rows with centres v = 1.5, 0.5, -0.5
    // (rows 6, 7, 8) are at distances 1.25, 0.25, 0.75 → coverage 1 + 0.5 - d clamped:
    // 0.25, 1, 0.75; all other rows 0. The column sum is the width, 2.
    ImgStim st = {.kind = IMG_LINES, .theta = 0, .offset = 0.25f, .width = 2, .length = 10};
    images_render(img, S, S, &st);
    const float want[3] = {0.25f, 1.0f, 0.75f};
    int j = S / 2;  // a column well inside the stroke's length
    for (int i = 0; i < S; i++) {
        float w = i >= 6 && i <= 8 ? want[i - 6] : 0.0f;
        cr_assert(fabsf(img[i * S + j] - w) < 1e-6f, "row %d: %g vs %g", i, (double)img[i * S + j],
                  (double)w);
    }
    // an oblique line has a spread of intermediate values, and values stay in [0, 1]
    st = (ImgStim){.kind = IMG_LINES, .theta = 0.7f, .width = 1.5f, .length = 12};
    images_render(img, S, S, &st);
    int partial = 0, full = 0;
    for (int i = 0; i < S * S; i++) {
        cr_assert(img[i] >= 0 && img[i] <= 1);
        partial += img[i] > 0.05f && img[i] < 0.95f;
        full += img[i] == 1.0f;
    }
    cr_assert(partial >= 10 && full >= 3, "partial %d, full %d", partial, full);
}

Test(images, curve_pixels_lie_on_the_circle) {
    enum { S = 32 };
    float img[S * S], line[S * S];
    for (int t = 0; t < 6; t++) {
        double theta = t * 1.1, kappa = 0.125, r = 1 / kappa, off = 1.5;
        ImgStim st = {.kind = IMG_CURVES, .theta = (float)theta, .offset = (float)off,
                      .curvature = (float)kappa, .width = 1.5f, .length = 18};
        images_render(img, S, S, &st);
        // centre of curvature: midpoint + r · left normal
        double nu = -sin(theta), nv = cos(theta);
        double cu = (off + r) * nu, cv = (off + r) * nv;
        int on = 0;
        double mass = 0, su = 0, sv = 0;
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++) {
                double w = img[i * S + j];
                mass += w;
                su += w * pu(j, S);
                sv += w * pv(i, S);
                // more than half covered ⇔ within width/2 = 0.75 of the circle
                if (w <= 0.5) continue;
                double d = hypot(pu(j, S) - cu, pv(i, S) - cv);
                cr_assert(fabs(d - r) <= 0.75 + 1e-6,
                          "θ %.2f: a stroke pixel at distance %.3f from the centre, radius %.1f",
                          theta, d, r);
                on++;
            }
        cr_assert(on >= 15, "only %d stroke pixels", on);
        // the centroid of an arc of half-angle a = (length/2)/r lies r·sin(a)/a from the centre
        double a = 9.0 / r, want = r * sin(a) / a;
        double got = hypot(su / mass - cu, sv / mass - cv);
        cr_assert(fabs(got - want) < 0.3, "θ %.2f: centroid %.3f from the centre, arc gives %.3f",
                  theta, got, want);
    }
    // κ = 0 draws exactly the straight line
    ImgStim c0 = {.kind = IMG_CURVES, .theta = 0.4f, .offset = 1, .width = 1.5f, .length = 18};
    ImgStim l0 = c0;
    l0.kind = IMG_LINES;
    images_render(img, S, S, &c0);
    images_render(line, S, S, &l0);
    cr_assert(memcmp(img, line, sizeof img) == 0);
}

Test(images, edge_gradient_normal_to_theta) {
    enum { S = 24 };
    float img[S * S];
    for (int t = 0; t < 8; t++) {
        double theta = 0.05 + t * PI_D / 8;
        for (int pol = -1; pol <= 1; pol += 2) {
            ImgStim st = {.kind = IMG_EDGES, .theta = (float)theta, .offset = 2, .polarity = pol};
            images_render(img, S, S, &st);
            // mean intensity gradient (central differences; v up means row index down)
            double gu = 0, gv = 0;
            for (int i = 1; i < S - 1; i++)
                for (int j = 1; j < S - 1; j++) {
                    gu += 0.5 * (img[i * S + j + 1] - img[i * S + j - 1]);
                    gv += 0.5 * (img[(i - 1) * S + j] - img[(i + 1) * S + j]);
                }
            double ga = atan2(gv, gu);  // points towards the bright side
            double normal = theta + PI_D / 2 + (pol < 0 ? PI_D : 0);
            cr_assert(angle_diff(ga, normal, 2 * PI_D) < 2 * PI_D / 180,
                      "θ %.2f pol %d: gradient at %.3f, normal at %.3f", theta, pol, ga, normal);
            // pixels far on the bright side are 1, far on the other side 0
            for (int i = 0; i < S; i++)
                for (int j = 0; j < S; j++) {
                    double sd = (pu(j, S) + 2 * sin(theta)) * -sin(theta) +
                                (pv(i, S) - 2 * cos(theta)) * cos(theta);
                    sd *= pol;
                    if (sd > 1) cr_assert_eq(img[i * S + j], 1.0f);
                    if (sd < -1) cr_assert_eq(img[i * S + j], 0.0f);
                }
        }
    }
}

Test(images, synthetic_sets_deterministic_and_labelled) {
    ImgSynthConfig c = images_synth_defaults(IMG_LINES, 16);
    ImageSet a, b, d;
    cr_assert_eq(images_synth(&a, &c, 400, 7), 0, "%s", err_msg());
    cr_assert_eq(images_synth(&b, &c, 400, 7), 0);
    cr_assert_eq(images_synth(&d, &c, 400, 8), 0);
    size_t nx = (size_t)400 * 16 * 16;
    cr_assert(memcmp(a.x, b.x, nx * sizeof(float)) == 0, "same seed, different images");
    cr_assert(memcmp(a.y, b.y, 400 * sizeof(int)) == 0);
    cr_assert(memcmp(a.x, d.x, nx * sizeof(float)) != 0, "different seeds, same images");
    cr_assert(a.n == 400 && a.C == 1 && a.H == 16 && a.W == 16 && a.n_classes == 8);
    int count[8] = {0};
    for (int i = 0; i < a.n; i++) {
        double th = a.truth[i].theta;
        cr_assert(th >= 0 && th <= PI_D, "θ %g", th);
        int bin = (int)floor(th / (PI_D / 8));
        if (bin > 7) bin = 7;
        cr_assert_eq(a.y[i], bin, "image %d: θ %.4f label %d", i, th, a.y[i]);
        cr_assert(fabsf(a.truth[i].offset) <= 2.0f);
        count[a.y[i]]++;
        // the image is the rendering of its recorded stimulus
        float img[16 * 16];
        images_render(img, 16, 16, &a.truth[i]);
        cr_assert(memcmp(img, a.x + (size_t)i * 256, sizeof img) == 0);
    }
    for (int k = 0; k < 8; k++) cr_assert(count[k] > 25, "bin %d has only %d of 400", k, count[k]);
    images_free(&a);
    images_free(&b);
    images_free(&d);

    // curves, joint labels: orientation over [0, 2π), curvature class c ↔ κ = c·κmax/3
    c = images_synth_defaults(IMG_CURVES, 20);
    c.label = IMG_LABEL_JOINT;
    cr_assert_eq(images_synth(&a, &c, 300, 3), 0, "%s", err_msg());
    cr_assert_eq(a.n_classes, 32);
    int ccount[4] = {0};
    for (int i = 0; i < a.n; i++) {
        int bin = (int)floor(a.truth[i].theta / (2 * PI_D / 8)), cls = a.y[i] % 4;
        if (bin > 7) bin = 7;
        cr_assert_eq(a.y[i] / 4, bin);
        cr_assert(fabsf(a.truth[i].curvature - c.max_curvature * (float)cls / 3.0f) < 1e-7f);
        ccount[cls]++;
    }
    for (int k = 0; k < 4; k++) cr_assert(ccount[k] > 40, "class %d: %d", k, ccount[k]);
    images_free(&a);
}

Test(images, noise_std_and_normalisation) {
    ImgSynthConfig c = images_synth_defaults(IMG_EDGES, 16);
    ImageSet clean, noisy;
    cr_assert_eq(images_synth(&clean, &c, 50, 11), 0);
    c.noise = 0.2f;
    cr_assert_eq(images_synth(&noisy, &c, 50, 11), 0);
    // same stimuli (the noise is drawn after them), residual std ≈ 0.2
    double s = 0, s2 = 0;
    size_t n = (size_t)50 * 256;
    for (size_t i = 0; i < n; i++) {
        double d = noisy.x[i] - clean.x[i];
        s += d;
        s2 += d * d;
    }
    double sd = sqrt(s2 / n - (s / n) * (s / n));
    cr_assert(fabs(sd - 0.2) < 0.01, "noise std %.4f", sd);
    cr_assert(memcmp(noisy.truth, clean.truth, 50 * sizeof(ImgStim)) == 0);
    double m, st;
    images_normalize(&noisy, 0.5f, 2.0f);
    images_mean_std(&noisy, &m, &st);
    double m0, st0;
    images_mean_std(&clean, &m0, &st0);
    cr_assert(fabs(m - (m0 - 0.5) / 2) < 0.01 && st > 0, "mean %.4f", m);
    images_free(&clean);
    images_free(&noisy);
}

Test(images, bad_configs_are_named) {
    ImgSynthConfig c = images_synth_defaults(IMG_LINES, 16);
    ImageSet s;
    c.size = 4;
    cr_assert_eq(images_synth(&s, &c, 10, 1), -1);
    cr_assert(strstr(err_msg(), "size: 4"), "%s", err_msg());
    c = images_synth_defaults(IMG_LINES, 16);
    c.width = -1;
    cr_assert_eq(images_synth(&s, &c, 10, 1), -1);
    cr_assert(strstr(err_msg(), "width"), "%s", err_msg());
    c = images_synth_defaults(IMG_LINES, 16);
    cr_assert_eq(images_synth(&s, &c, 0, 1), -1);
    cr_assert(strstr(err_msg(), "n=0"), "%s", err_msg());
    ImgKind k;
    cr_assert_eq(images_kind_parse("curves", &k), 0);
    cr_assert_eq(k, IMG_CURVES);
    cr_assert_eq(images_kind_parse("circles", &k), -1);
    cr_assert(strstr(err_msg(), "'circles'") && strstr(err_msg(), "lines, curves or edges"));
}
