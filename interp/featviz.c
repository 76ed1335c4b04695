// featviz.c — activation maximisation with jitter, L2 and TV penalties, in pixel or Fourier
// parameterisation (see featviz.h).
#include "featviz.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp/png.h"
#include "model/err.h"
#include "model/rng.h"
#include "train/optim.h"

#define FV_PI 3.14159265358979323846

FvConfig featviz_defaults(void) {
    return (FvConfig){.steps = 256, .lr = 0.05f, .l2 = 0.01f, .tv = 0.05f, .tv_eps = 0.01f,
                      .jitter = 1, .fourier = 1, .decay_power = 1.0f, .init_std = 0.01f,
                      .n_seeds = 4, .seed = 0};
}

// ---- total variation -------------------------------------------------------------------------

double featviz_tv(const float *x, int H, int W, float eps, float *grad) {
    double sum = 0, e = eps;
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            double c = x[i * W + j];
            double dh = j + 1 < W ? x[i * W + j + 1] - c : 0;
            double dv = i + 1 < H ? x[(i + 1) * W + j] - c : 0;
            double t = sqrt(dh * dh + dv * dv + e * e);
            sum += t - e;
            if (grad) {
                // d t / d x: +dh/t at (i, j+1), +dv/t at (i+1, j), -(dh + dv)/t at (i, j)
                if (j + 1 < W) grad[i * W + j + 1] += (float)(dh / t);
                if (i + 1 < H) grad[(i + 1) * W + j] += (float)(dv / t);
                grad[i * W + j] -= (float)((dh + dv) / t);
            }
        }
    return sum;
}

// ---- the real 2-D DFT (direct, separable) ----------------------------------------------------

int featviz_spec_cols(int W) { return W / 2 + 1; }

// cos/sin tables of 2π·k·n/N for k, n < N, the angle reduced mod N first (exact phases).
typedef struct {
    int H, W, Wf;
    double *ch, *sh;  // [H, H]
    double *cw, *sw;  // [Wf, W]
    double *yr, *yi;  // [H, Wf] scratch
} Dft;

static void dft_free(Dft *d) {
    free(d->ch);
    free(d->sh);
    free(d->cw);
    free(d->sw);
    free(d->yr);
    free(d->yi);
    memset(d, 0, sizeof *d);
}

static int dft_init(Dft *d, int H, int W) {
    memset(d, 0, sizeof *d);
    d->H = H;
    d->W = W;
    d->Wf = W / 2 + 1;
    d->ch = malloc(sizeof(double) * H * H);
    d->sh = malloc(sizeof(double) * H * H);
    d->cw = malloc(sizeof(double) * d->Wf * W);
    d->sw = malloc(sizeof(double) * d->Wf * W);
    d->yr = malloc(sizeof(double) * H * d->Wf);
    d->yi = malloc(sizeof(double) * H * d->Wf);
    if (!d->ch || !d->sh || !d->cw || !d->sw || !d->yr || !d->yi) {
        dft_free(d);
        return err_set("featviz: out of memory");
    }
    for (int u = 0; u < H; u++)
        for (int h = 0; h < H; h++) {
            double a = 2 * FV_PI * (double)((long)u * h % H) / H;
            d->ch[u * H + h] = cos(a);
            d->sh[u * H + h] = sin(a);
        }
    for (int v = 0; v < d->Wf; v++)
        for (int w = 0; w < W; w++) {
            double a = 2 * FV_PI * (double)((long)v * w % W) / W;
            d->cw[v * W + w] = cos(a);
            d->sw[v * W + w] = sin(a);
        }
    return 0;
}

static double col_weight(int v, int W) { return v == 0 || (W % 2 == 0 && v == W / 2) ? 1 : 2; }

// x[H, W] = irfft2(spec[H, Wf, 2]), ortho.
static void dft_inverse(Dft *d, float *x, const float *spec) {
    int H = d->H, W = d->W, Wf = d->Wf;
    // Y[h, v] = Σ_u X[u, v] e^{+2πi uh/H}
    for (int h = 0; h < H; h++)
        for (int v = 0; v < Wf; v++) {
            double yr = 0, yi = 0;
            for (int u = 0; u < H; u++) {
                double xr = spec[(u * Wf + v) * 2], xi = spec[(u * Wf + v) * 2 + 1];
                double c = d->ch[u * H + h], s = d->sh[u * H + h];
                yr += xr * c - xi * s;
                yi += xr * s + xi * c;
            }
            d->yr[h * Wf + v] = yr;
            d->yi[h * Wf + v] = yi;
        }
    // x[h, w] = (1/√HW) Σ_v c_v Re(Y[h, v] e^{+2πi vw/W})
    double norm = 1 / sqrt((double)H * W);
    for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++) {
            double s = 0;
            for (int v = 0; v < Wf; v++)
                s += col_weight(v, W) *
                     (d->yr[h * Wf + v] * d->cw[v * W + w] - d->yi[h * Wf + v] * d->sw[v * W + w]);
            x[h * W + w] = (float)(s * norm);
        }
}

// dspec[H, Wf, 2] = adjoint of dft_inverse applied to dx[H, W].
static void dft_inverse_adjoint(Dft *d, float *dspec, const float *dx) {
    int H = d->H, W = d->W, Wf = d->Wf;
    double norm = 1 / sqrt((double)H * W);
    // dYr[h, v] = c_v/√HW Σ_w g cos;  dYi[h, v] = −c_v/√HW Σ_w g sin
    for (int h = 0; h < H; h++)
        for (int v = 0; v < Wf; v++) {
            double a = 0, b = 0;
            for (int w = 0; w < W; w++) {
                a += dx[h * W + w] * d->cw[v * W + w];
                b += dx[h * W + w] * d->sw[v * W + w];
            }
            double cv = col_weight(v, W) * norm;
            d->yr[h * Wf + v] = cv * a;
            d->yi[h * Wf + v] = -cv * b;
        }
    // dXr[u, v] = Σ_h dYr c + dYi s;  dXi[u, v] = Σ_h −dYr s + dYi c
    for (int u = 0; u < H; u++)
        for (int v = 0; v < Wf; v++) {
            double a = 0, b = 0;
            for (int h = 0; h < H; h++) {
                double c = d->ch[u * H + h], s = d->sh[u * H + h];
                double yr = d->yr[h * Wf + v], yi = d->yi[h * Wf + v];
                a += yr * c + yi * s;
                b += -yr * s + yi * c;
            }
            dspec[(u * Wf + v) * 2] = (float)a;
            dspec[(u * Wf + v) * 2 + 1] = (float)b;
        }
}

// spec[H, Wf, 2] = rfft2(x[H, W]), ortho.
static void dft_forward(Dft *d, float *spec, const float *x) {
    int H = d->H, W = d->W, Wf = d->Wf;
    // Z[h, v] = Σ_w x e^{−2πi vw/W}
    for (int h = 0; h < H; h++)
        for (int v = 0; v < Wf; v++) {
            double a = 0, b = 0;
            for (int w = 0; w < W; w++) {
                a += x[h * W + w] * d->cw[v * W + w];
                b -= x[h * W + w] * d->sw[v * W + w];
            }
            d->yr[h * Wf + v] = a;
            d->yi[h * Wf + v] = b;
        }
    // X[u, v] = (1/√HW) Σ_h Z[h, v] e^{−2πi uh/H}
    double norm = 1 / sqrt((double)H * W);
    for (int u = 0; u < H; u++)
        for (int v = 0; v < Wf; v++) {
            double a = 0, b = 0;
            for (int h = 0; h < H; h++) {
                double c = d->ch[u * H + h], s = d->sh[u * H + h];
                double zr = d->yr[h * Wf + v], zi = d->yi[h * Wf + v];
                a += zr * c + zi * s;
                b += zi * c - zr * s;
            }
            spec[(u * Wf + v) * 2] = (float)(a * norm);
            spec[(u * Wf + v) * 2 + 1] = (float)(b * norm);
        }
}

// The public transforms build their tables per call (tests, one-off use); featviz_run keeps one.
void featviz_irfft2(float *x, const float *spec, int H, int W) {
    Dft d;
    if (dft_init(&d, H, W)) return;
    dft_inverse(&d, x, spec);
    dft_free(&d);
}

void featviz_irfft2_adjoint(float *dspec, const float *dx, int H, int W) {
    Dft d;
    if (dft_init(&d, H, W)) return;
    dft_inverse_adjoint(&d, dspec, dx);
    dft_free(&d);
}

void featviz_rfft2(float *spec, const float *x, int H, int W) {
    Dft d;
    if (dft_init(&d, H, W)) return;
    dft_forward(&d, spec, x);
    dft_free(&d);
}

void featviz_freq_scale(float *scale, int H, int W, float decay) {
    int Wf = W / 2 + 1;
    double fmin = 1.0 / (H > W ? H : W);
    for (int u = 0; u < H; u++)
        for (int v = 0; v < Wf; v++) {
            double fy = (double)(u < H - u ? u : H - u) / H, fx = (double)v / W;
            double f = sqrt(fy * fy + fx * fx);
            scale[u * Wf + v] = (float)(1.0 / pow(f > fmin ? f : fmin, decay));
        }
    // Normalised to unit RMS over the spectrum (each column v counted c_v times, as it is in the
    // image): white noise in p then gives pixels of about the variance it gives in the pixel
    // parameterisation, so one learning rate suits both.
    double ss = 0;
    for (int u = 0; u < H; u++)
        for (int v = 0; v < Wf; v++) ss += col_weight(v, W) * scale[u * Wf + v] * scale[u * Wf + v];
    float k = (float)(1 / sqrt(ss / ((double)H * W)));
    for (int i = 0; i < H * Wf; i++) scale[i] *= k;
}

// ---- orientation -------------------------------------------------------------------------------

void featviz_orientation(const float *img, int H, int W, double *theta, double *coherence) {
    double juu = 0, jvv = 0, juv = 0;
    for (int i = 1; i + 1 < H; i++)
        for (int j = 1; j + 1 < W; j++) {
            // Scharr derivatives (3, 10, 3 across, central difference along): far less
            // orientation bias than a plain central difference on thin strokes (12° → 1° on
            // rendered lines). u to the right, v up (rows go down).
#define PX(a, b) img[(i + (a)) * W + j + (b)]
            double gu = (3 * (PX(-1, 1) - PX(-1, -1)) + 10 * (PX(0, 1) - PX(0, -1)) +
                         3 * (PX(1, 1) - PX(1, -1))) / 32.0;
            double gv = -(3 * (PX(1, -1) - PX(-1, -1)) + 10 * (PX(1, 0) - PX(-1, 0)) +
                          3 * (PX(1, 1) - PX(-1, 1))) / 32.0;
#undef PX
            juu += gu * gu;
            jvv += gv * gv;
            juv += gu * gv;
        }
    // dominant gradient direction φ; strokes run perpendicular to it
    double phi = 0.5 * atan2(2 * juv, juu - jvv);
    double t = fmod(phi + FV_PI / 2, FV_PI);
    if (t < 0) t += FV_PI;
    if (t >= FV_PI) t -= FV_PI;
    *theta = t;
    if (coherence) {
        double tr = juu + jvv;
        *coherence = tr > 0 ? sqrt((juu - jvv) * (juu - jvv) + 4 * juv * juv) / tr : 0;
    }
}

// ---- targets -----------------------------------------------------------------------------------

// Hook index of a point (0 = hook_in, i+1 = layer i) or "logits" (the last layer).
static int point_index(const Cnn *m, const char *point) {
    if (!point) return -1;
    if (!strcmp(point, "logits")) return m->n_layers;
    for (int h = 0; h < cnn_hook_count(m); h++)
        if (!strcmp(cnn_hook_info(m, h, 1).name, point)) return h;
    return -1;
}

int featviz_point_shape(const Cnn *m, const char *point, int *channels, int *h, int *w) {
    int i = point_index(m, point);
    if (i < 0)
        return err_set("featviz: '%s' is not a hook point of this CNN (hook_in, "
                       "layers.0.hook_out .. layers.%d.hook_out, logits)",
                       point ? point : "(null)", m->n_layers - 1);
    CnnHookInfo hi = cnn_hook_info(m, i, 1);
    *channels = hi.shape[1];
    *h = hi.ndim == 4 ? hi.shape[2] : 1;
    *w = hi.ndim == 4 ? hi.shape[3] : 1;
    return 0;
}

// A resolved target: the point's name, per-image size, and the weights of the objective on the
// point's activation (a one-hot or a uniform 1/(H'·W') over the channel's map).
typedef struct {
    const char *name;  // the hook point (or "logits")
    int per;           // activation floats per image
    int c, h, w;       // point shape
    int off, len;      // objective = Σ_{k < len} weight · act[off + k]
    float weight;
} Target;

static int resolve(const Cnn *m, const FvTarget *t, Target *r) {
    int C, h, w;
    if (featviz_point_shape(m, t->point, &C, &h, &w)) return -1;
    if (t->channel < 0 || t->channel >= C)
        return err_set("featviz: %s has %d %s, asked for %d", t->point, C,
                       h * w > 1 || C == 1 ? "channels" : "features", t->channel);
    r->name = t->point;
    r->c = C;
    r->h = h;
    r->w = w;
    r->per = C * h * w;
    if (h * w == 1 || t->kind == FV_CHANNEL) {
        r->off = t->channel * h * w;
        r->len = h * w;
        r->weight = 1.0f / (float)(h * w);
        return 0;
    }
    int y = t->y < 0 ? h / 2 : t->y, x = t->x < 0 ? w / 2 : t->x;
    if (y >= h || x >= w)
        return err_set("featviz: position (%d, %d) outside the %dx%d map of %s", y, x, h, w,
                       t->point);
    r->off = t->channel * h * w + y * w + x;
    r->len = 1;
    r->weight = 1.0f;
    return 0;
}

static double objective(const Target *r, const float *act) {
    double s = 0;
    for (int k = 0; k < r->len; k++) s += act[r->off + k];
    return s * r->weight;
}

int featviz_activation(Cnn *m, const FvTarget *t, const float *x, int n, double *out) {
    Target r;
    if (resolve(m, t, &r)) return -1;
    size_t in = (size_t)m->C * m->H * m->W;
    for (int i = 0; i < n; i += m->max_batch) {
        int B = n - i < m->max_batch ? n - i : m->max_batch;
        if (cnn_forward(m, x + i * in, NULL, B, NULL, NULL)) return -1;
        Tensor a = cnn_act(m, r.name);
        for (int b = 0; b < B; b++) out[i + b] = objective(&r, a.data + (size_t)b * r.per);
    }
    return 0;
}

// ---- the optimisation --------------------------------------------------------------------------

static int check_cfg(const FvConfig *c) {
    if (c->steps < 0 || c->steps > 1000000) return err_set("featviz: steps %d outside 0..1e6", c->steps);
    if (!(c->lr > 0) || !(c->l2 >= 0) || !(c->tv >= 0) || !(c->tv_eps > 0) || !(c->init_std >= 0) ||
        !(c->decay_power >= 0))
        return err_set("featviz: lr and tv_eps must be > 0; l2, tv, init_std, decay_power >= 0");
    if (c->jitter < 0 || c->jitter > 64) return err_set("featviz: jitter %d outside 0..64", c->jitter);
    if (c->n_seeds < 1) return err_set("featviz: n_seeds must be >= 1");
    if (c->range_lo > c->range_hi) return err_set("featviz: range_lo > range_hi");
    return 0;
}

typedef struct {
    Cnn *m;
    const FvConfig *cfg;
    Target tg;
    Dft dft;
    int C, H, W, Wf, per, P;  // image floats per image, parameters per image
    float *p, *gp;            // [B, P] parameters and the gradient step
    float *z, *x, *xr, *gx;   // [B, per] pre-squash, image, rolled image, dJ/dx
    float *dact;              // [B, tg.per]
    float *scale;             // [H, Wf] Fourier scale
    float *tmp;               // [max(P/C, per/C)] one plane
    Rng *rng;                 // [B]
} Run;

static void run_free(Run *r) {
    dft_free(&r->dft);
    free(r->p);
    free(r->gp);
    free(r->z);
    free(r->x);
    free(r->xr);
    free(r->gx);
    free(r->dact);
    free(r->scale);
    free(r->tmp);
    free(r->rng);
}

static int squashing(const FvConfig *c) { return c->range_lo < c->range_hi; }

static float sigmoidf(float z) { return 1.0f / (1.0f + expf(-z)); }

// p → z → x for B images.
static void render(Run *r, int B) {
    int npix = r->H * r->W, pplane = r->H * r->Wf * 2;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < r->C; c++) {
            float *z = r->z + (size_t)b * r->per + (size_t)c * npix;
            if (r->cfg->fourier) {
                const float *p = r->p + (size_t)b * r->P + (size_t)c * pplane;
                for (int k = 0; k < pplane; k++) r->tmp[k] = p[k] * r->scale[k / 2];
                dft_inverse(&r->dft, z, r->tmp);
            } else {
                memcpy(z, r->p + (size_t)b * r->P + (size_t)c * npix, sizeof(float) * npix);
            }
        }
    size_t n = (size_t)B * r->per;
    if (squashing(r->cfg)) {
        float lo = r->cfg->range_lo, hi = r->cfg->range_hi;
        for (size_t k = 0; k < n; k++) r->x[k] = lo + (hi - lo) * sigmoidf(r->z[k]);
    } else {
        memcpy(r->x, r->z, sizeof(float) * n);
    }
}

// One ascent step on B images.
static int ascent_step(Run *r, int B, Optim *opt, float lr) {
    const FvConfig *cfg = r->cfg;
    int H = r->H, W = r->W, npix = H * W, j = cfg->jitter;
    render(r, B);
    int dy[256], dx[256];  // B <= max_batch; chunks are capped at 256 below
    for (int b = 0; b < B; b++) {
        dy[b] = j ? (int)rng_int(&r->rng[b], (uint32_t)(2 * j + 1)) - j : 0;
        dx[b] = j ? (int)rng_int(&r->rng[b], (uint32_t)(2 * j + 1)) - j : 0;
        // rolled[c][(i + dy) mod H][(k + dx) mod W] = x[c][i][k]
        for (int c = 0; c < r->C; c++) {
            const float *src = r->x + (size_t)b * r->per + (size_t)c * npix;
            float *dst = r->xr + (size_t)b * r->per + (size_t)c * npix;
            for (int i = 0; i < H; i++)
                for (int k = 0; k < W; k++)
                    dst[((i + dy[b] + H) % H) * W + (k + dx[b] + W) % W] = src[i * W + k];
        }
    }
    if (cnn_forward(r->m, r->xr, NULL, B, NULL, NULL)) return -1;
    memset(r->dact, 0, sizeof(float) * (size_t)B * r->tg.per);
    for (int b = 0; b < B; b++)
        for (int k = 0; k < r->tg.len; k++) r->dact[(size_t)b * r->tg.per + r->tg.off + k] = r->tg.weight;
    if (cnn_backward_from(r->m, r->tg.name, r->dact, CNN_GRAD_INPUT, NULL)) return -1;
    Tensor gin = cnn_act_grad(r->m, "hook_in");
    if (!gin.data) return -1;
    float l2 = cfg->l2, tv = cfg->tv;
    for (int b = 0; b < B; b++) {
        for (int c = 0; c < r->C; c++) {
            size_t o = (size_t)b * r->per + (size_t)c * npix;
            const float *g = gin.data + o, *x = r->x + o, *z = r->z + o;
            float *gx = r->gx + o;
            // un-roll the gradient, then subtract the penalties' gradients
            for (int i = 0; i < H; i++)
                for (int k = 0; k < W; k++)
                    gx[i * W + k] = g[((i + dy[b] + H) % H) * W + (k + dx[b] + W) % W] - l2 * x[i * W + k];
            if (cfg->tv > 0) {
                memset(r->tmp, 0, sizeof(float) * npix);
                featviz_tv(x, H, W, cfg->tv_eps, r->tmp);
                for (int k = 0; k < npix; k++) gx[k] -= tv * r->tmp[k];
            }
            if (squashing(cfg)) {
                float span = cfg->range_hi - cfg->range_lo;
                for (int k = 0; k < npix; k++) {
                    float s = sigmoidf(z[k]);
                    gx[k] *= span * s * (1 - s);
                }
            }
            // to the parameters, negated: the optimiser descends, we ascend
            float *gp = r->gp + (size_t)b * r->P;
            if (cfg->fourier) {
                int pplane = H * r->Wf * 2;
                float *d = gp + (size_t)c * pplane;
                dft_inverse_adjoint(&r->dft, d, gx);
                for (int k = 0; k < pplane; k++) d[k] *= -r->scale[k / 2];
            } else {
                for (int k = 0; k < npix; k++) gp[(size_t)c * npix + k] = -gx[k];
            }
        }
    }
    return optim_step(opt, r->p, r->gp, lr);
}

int featviz_run(Cnn *m, const FvTarget *t, const FvConfig *cfg, float *images, double *act_start,
                double *act_end) {
    Run r;
    memset(&r, 0, sizeof r);
    if (check_cfg(cfg) || resolve(m, t, &r.tg)) return -1;
    r.m = m;
    r.cfg = cfg;
    r.C = m->C;
    r.H = m->H;
    r.W = m->W;
    r.Wf = m->W / 2 + 1;
    r.per = r.C * r.H * r.W;
    r.P = cfg->fourier ? r.C * r.H * r.Wf * 2 : r.per;
    int Bmax = m->max_batch < 256 ? m->max_batch : 256;
    size_t plane = (size_t)(r.H * r.Wf * 2 > r.H * r.W ? r.H * r.Wf * 2 : r.H * r.W);
    r.p = malloc(sizeof(float) * (size_t)Bmax * r.P);
    r.gp = malloc(sizeof(float) * (size_t)Bmax * r.P);
    r.z = malloc(sizeof(float) * (size_t)Bmax * r.per);
    r.x = malloc(sizeof(float) * (size_t)Bmax * r.per);
    r.xr = malloc(sizeof(float) * (size_t)Bmax * r.per);
    r.gx = malloc(sizeof(float) * (size_t)Bmax * r.per);
    r.dact = malloc(sizeof(float) * (size_t)Bmax * r.tg.per);
    r.scale = malloc(sizeof(float) * (size_t)r.H * r.Wf);
    r.tmp = malloc(sizeof(float) * plane);
    r.rng = malloc(sizeof(Rng) * (size_t)Bmax);
    int rc = -1;
    if (!r.p || !r.gp || !r.z || !r.x || !r.xr || !r.gx || !r.dact || !r.scale || !r.tmp || !r.rng) {
        err_set("featviz: out of memory");
        goto done;
    }
    if (cfg->fourier) {
        if (dft_init(&r.dft, r.H, r.W)) goto done;
        featviz_freq_scale(r.scale, r.H, r.W, cfg->decay_power);
    }
    for (int s0 = 0; s0 < cfg->n_seeds; s0 += Bmax) {
        int B = cfg->n_seeds - s0 < Bmax ? cfg->n_seeds - s0 : Bmax;
        for (int b = 0; b < B; b++) {
            // seed i of a target: its own stream, the same whatever the chunking
            rng_seed(&r.rng[b], cfg->seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(s0 + b + 1)));
            rng_fill_normal(&r.rng[b], r.p + (size_t)b * r.P, (size_t)r.P, 0.0f, cfg->init_std);
        }
        OptimConfig oc = optim_defaults(OPTIM_ADAM);
        Optim *opt = optim_create(&oc, (size_t)B * r.P);
        if (!opt) goto done;
        render(&r, B);
        if (act_start && featviz_activation(m, t, r.x, B, act_start + s0)) {
            optim_free(opt);
            goto done;
        }
        // Cosine decay to 0: with jitter the gradient changes every step, and a decaying step
        // lets the image settle on the optimum averaged over shifts instead of stopping mid-jump.
        Sched sc = {.kind = SCHED_WARMUP_COSINE, .lr = cfg->lr, .total = cfg->steps > 0 ? cfg->steps : 1};
        for (int step = 0; step < cfg->steps; step++)
            if (ascent_step(&r, B, opt, sched_lr(&sc, step))) {
                optim_free(opt);
                goto done;
            }
        optim_free(opt);
        render(&r, B);
        memcpy(images + (size_t)s0 * r.per, r.x, sizeof(float) * (size_t)B * r.per);
        if (act_end && featviz_activation(m, t, r.x, B, act_end + s0)) goto done;
    }
    rc = 0;
done:
    run_free(&r);
    return rc;
}

// ---- grids ---------------------------------------------------------------------------------------

int featviz_save_grid(Cnn *m, const char *point, const int *channels, int n, FvKind kind,
                      const FvConfig *cfg, const char *path, int scale, float *images,
                      double *act) {
    size_t per = (size_t)m->C * m->H * m->W;
    int S = cfg->n_seeds;
    float *all = malloc(sizeof(float) * per * n * S);
    double *a = malloc(sizeof(double) * n * S);
    if (!all || !a) {
        free(all);
        free(a);
        return err_set("featviz: out of memory");
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        FvTarget t = {.point = point, .channel = channels[i], .kind = kind, .y = -1, .x = -1};
        rc = featviz_run(m, &t, cfg, all + per * i * S, NULL, a + (size_t)i * S);
    }
    if (!rc) {
        // greyscale tiles: the first channel of each image
        float *tiles = malloc(sizeof(float) * m->H * m->W * n * S);
        if (!tiles) {
            rc = err_set("featviz: out of memory");
        } else {
            for (int k = 0; k < n * S; k++)
                memcpy(tiles + (size_t)k * m->H * m->W, all + per * k, sizeof(float) * m->H * m->W);
            PngStyle st = {.cmap = PNG_GREY, .scale = scale};
            rc = png_write_grid(path, tiles, n * S, m->H, m->W, S, &st, 1);
            free(tiles);
        }
    }
    if (!rc && images) memcpy(images, all, sizeof(float) * per * n * S);
    if (!rc && act) memcpy(act, a, sizeof(double) * n * S);
    free(all);
    free(a);
    return rc;
}
