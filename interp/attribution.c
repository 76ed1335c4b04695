// attribution.c — saliency, gradient × input, integrated gradients, occlusion (see attribution.h).
#include "attribution.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp/png.h"
#include "model/err.h"

// The point's hook index and per-image size; checks the index.
static int resolve(const Cnn *m, const AttrTarget *t, const char **name, int *per) {
    const char *p = t->point ? t->point : "logits";
    int h = -1;
    if (!strcmp(p, "logits")) h = m->n_layers;
    else
        for (int i = 0; i < cnn_hook_count(m); i++)
            if (!strcmp(cnn_hook_info(m, i, 1).name, p)) h = i;
    if (h < 0)
        return err_set("attribution: '%s' is not a hook point of this CNN (hook_in, "
                       "layers.0.hook_out .. layers.%d.hook_out, logits)", p, m->n_layers - 1);
    CnnHookInfo hi = cnn_hook_info(m, h, 1);
    int n = hi.shape[1] * hi.shape[2] * hi.shape[3];
    if (t->index < 0 || t->index >= n)
        return err_set("attribution: index %d outside the %d values of %s", t->index, n, p);
    *name = p;
    *per = n;
    return 0;
}

int attr_value(Cnn *m, const AttrTarget *t, const float *x, int n, double *out) {
    const char *name;
    int per;
    if (resolve(m, t, &name, &per)) return -1;
    size_t in = (size_t)m->C * m->H * m->W;
    for (int i = 0; i < n; i += m->max_batch) {
        int B = n - i < m->max_batch ? n - i : m->max_batch;
        if (cnn_forward(m, x + i * in, NULL, B, NULL, NULL)) return -1;
        Tensor a = cnn_act(m, name);
        for (int b = 0; b < B; b++) out[i + b] = a.data[(size_t)b * per + t->index];
    }
    return 0;
}

// grads[n, C, H, W] = ∂f/∂x for n images x[n, C, H, W], vals[n] = f (either may be NULL);
// dact is scratch of max_batch · per floats.
static int grads_of(Cnn *m, const char *name, int per, int index, const float *x, int n,
                    float *grads, double *vals, float *dact) {
    size_t in = (size_t)m->C * m->H * m->W;
    for (int i = 0; i < n; i += m->max_batch) {
        int B = n - i < m->max_batch ? n - i : m->max_batch;
        if (cnn_forward(m, x + i * in, NULL, B, NULL, NULL)) return -1;
        if (vals) {
            Tensor a = cnn_act(m, name);
            for (int b = 0; b < B; b++) vals[i + b] = a.data[(size_t)b * per + index];
        }
        if (!grads) continue;
        memset(dact, 0, sizeof(float) * (size_t)B * per);
        for (int b = 0; b < B; b++) dact[(size_t)b * per + index] = 1.0f;
        if (cnn_backward_from(m, name, dact, CNN_GRAD_INPUT, NULL)) return -1;
        Tensor g = cnn_act_grad(m, "hook_in");
        if (!g.data) return -1;
        memcpy(grads + i * in, g.data, sizeof(float) * B * in);
    }
    return 0;
}

int attr_saliency(Cnn *m, const AttrTarget *t, const float *x, float *out) {
    const char *name;
    int per;
    if (resolve(m, t, &name, &per)) return -1;
    float *dact = malloc(sizeof(float) * per);
    if (!dact) return err_set("attribution: out of memory");
    int rc = grads_of(m, name, per, t->index, x, 1, out, NULL, dact);
    free(dact);
    return rc;
}

int attr_grad_x_input(Cnn *m, const AttrTarget *t, const float *x, float *out) {
    if (attr_saliency(m, t, x, out)) return -1;
    size_t in = (size_t)m->C * m->H * m->W;
    for (size_t i = 0; i < in; i++) out[i] *= x[i];
    return 0;
}

int attr_integrated_gradients(Cnn *m, const AttrTarget *t, const float *x, const float *baseline,
                              int steps, AttrRule rule, float *out, AttrIgCheck *chk) {
    const char *name;
    int per;
    if (resolve(m, t, &name, &per)) return -1;
    if (steps < 1 || steps > 1000000) return err_set("integrated gradients: steps %d outside 1..1e6", steps);
    if (rule != ATTR_TRAPEZOID && rule != ATTR_RIGHT_RIEMANN)
        return err_set("integrated gradients: unknown rule %d", (int)rule);
    size_t in = (size_t)m->C * m->H * m->W;
    int Bmax = m->max_batch;
    float *pts = malloc(sizeof(float) * in * Bmax), *g = malloc(sizeof(float) * in * Bmax);
    float *dact = malloc(sizeof(float) * (size_t)per * Bmax);
    double *acc = calloc(in, sizeof(double));
    float *base = calloc(in, sizeof(float));
    int rc = -1;
    if (!pts || !g || !dact || !acc || !base) {
        err_set("integrated gradients: out of memory");
        goto done;
    }
    if (baseline) memcpy(base, baseline, sizeof(float) * in);
    // the path points α_k = k/m, k = k0..m, with their quadrature weights
    int k0 = rule == ATTR_TRAPEZOID ? 0 : 1, npts = steps - k0 + 1;
    for (int s = 0; s < npts; s += Bmax) {
        int B = npts - s < Bmax ? npts - s : Bmax;
        for (int b = 0; b < B; b++) {
            double a = (double)(k0 + s + b) / steps;
            float *p = pts + (size_t)b * in;
            for (size_t i = 0; i < in; i++) p[i] = (float)(base[i] + a * ((double)x[i] - base[i]));
        }
        if (grads_of(m, name, per, t->index, pts, B, g, NULL, dact)) goto done;
        for (int b = 0; b < B; b++) {
            int k = k0 + s + b;
            double w = (rule == ATTR_TRAPEZOID && (k == 0 || k == steps) ? 0.5 : 1.0) / steps;
            const float *gb = g + (size_t)b * in;
            for (size_t i = 0; i < in; i++) acc[i] += w * gb[i];
        }
    }
    double sum = 0;
    for (size_t i = 0; i < in; i++) {
        double v = ((double)x[i] - base[i]) * acc[i];
        out[i] = (float)v;
        sum += v;
    }
    if (chk) {
        double fx, fb;
        if (attr_value(m, t, x, 1, &fx) || attr_value(m, t, base, 1, &fb)) goto done;
        chk->f_x = fx;
        chk->f_base = fb;
        chk->sum = sum;
        chk->abs_err = fabs(sum - (fx - fb));
        chk->rel_err = fx != fb ? chk->abs_err / fabs(fx - fb) : chk->abs_err;
    }
    rc = 0;
done:
    free(pts);
    free(g);
    free(dact);
    free(acc);
    free(base);
    return rc;
}

int attr_occlusion(Cnn *m, const AttrTarget *t, const float *x, int patch, int stride,
                   float value, float *out) {
    const char *name;
    int per;
    if (resolve(m, t, &name, &per)) return -1;
    int C = m->C, H = m->H, W = m->W;
    if (patch < 1 || patch > H || patch > W || stride < 1)
        return err_set("occlusion: patch %d must be in 1..%d and stride %d >= 1", patch,
                       H < W ? H : W, stride);
    // window origins along one axis: 0, stride, ..., and the last one touching the border
    int ny = (H - patch) / stride + 1 + ((H - patch) % stride != 0);
    int nx = (W - patch) / stride + 1 + ((W - patch) % stride != 0);
    int n = ny * nx, Bmax = m->max_batch;
    size_t in = (size_t)C * H * W;
    float *batch = malloc(sizeof(float) * in * Bmax);
    double *vals = malloc(sizeof(double) * Bmax), *sum = calloc((size_t)H * W, sizeof(double));
    int *cnt = calloc((size_t)H * W, sizeof(int));
    int rc = -1;
    double fx;
    if (!batch || !vals || !sum || !cnt) {
        err_set("occlusion: out of memory");
        goto done;
    }
    if (attr_value(m, t, x, 1, &fx)) goto done;
    for (int s = 0; s < n; s += Bmax) {
        int B = n - s < Bmax ? n - s : Bmax;
        for (int b = 0; b < B; b++) {
            int wy = (s + b) / nx, wx = (s + b) % nx;
            int y0 = wy * stride < H - patch ? wy * stride : H - patch;
            int x0 = wx * stride < W - patch ? wx * stride : W - patch;
            float *img = batch + (size_t)b * in;
            memcpy(img, x, sizeof(float) * in);
            for (int c = 0; c < C; c++)
                for (int i = y0; i < y0 + patch; i++)
                    for (int j = x0; j < x0 + patch; j++) img[((size_t)c * H + i) * W + j] = value;
        }
        if (attr_value(m, t, batch, B, vals)) goto done;
        for (int b = 0; b < B; b++) {
            int wy = (s + b) / nx, wx = (s + b) % nx;
            int y0 = wy * stride < H - patch ? wy * stride : H - patch;
            int x0 = wx * stride < W - patch ? wx * stride : W - patch;
            for (int i = y0; i < y0 + patch; i++)
                for (int j = x0; j < x0 + patch; j++) {
                    sum[i * W + j] += fx - vals[b];
                    cnt[i * W + j]++;
                }
        }
    }
    for (int i = 0; i < H * W; i++) out[i] = cnt[i] ? (float)(sum[i] / cnt[i]) : 0.0f;
    rc = 0;
done:
    free(batch);
    free(vals);
    free(sum);
    free(cnt);
    return rc;
}

int attr_save_overlay(const char *path, const float *x, const float *attr, int C, int H, int W,
                      float alpha, int scale) {
    size_t n = (size_t)H * W;
    float *base = calloc(n, sizeof(float)), *heat = calloc(n, sizeof(float));
    if (!base || !heat) {
        free(base);
        free(heat);
        return err_set("%s: out of memory", path);
    }
    for (int c = 0; c < C; c++)
        for (size_t i = 0; i < n; i++) {
            base[i] += x[c * n + i] / (float)C;
            heat[i] += attr[c * n + i];
        }
    int rc = png_write_overlay(path, base, heat, H, W, alpha, scale);
    free(base);
    free(heat);
    return rc;
}
