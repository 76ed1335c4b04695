#include "superposition.h"

#include <math.h>
#include <stddef.h>

#define SUPERPOS_PI 3.14159265358979323846

// Dot product of rows f and g of W[n, m], in double.
static double dot_rows(const float *W, int m, int f, int g) {
    const float *a = W + (size_t)f * m, *b = W + (size_t)g * m;
    double s = 0.0;
    for (int k = 0; k < m; k++) s += (double)a[k] * (double)b[k];
    return s;
}

void superpos_norms(double *norm, const float *W, int n, int m) {
    for (int f = 0; f < n; f++) norm[f] = sqrt(dot_rows(W, m, f, f));
}

// Σ_{g≠f} (W_f·W_g)² / ‖W_f‖², the interference along Ŵ_f; 0 for a zero row.
static double interference(const float *W, int n, int m, int f, double nf2) {
    if (nf2 == 0.0) return 0.0;
    double s = 0.0;
    for (int g = 0; g < n; g++) {
        if (g == f) continue;
        double d = dot_rows(W, m, f, g);
        s += d * d;
    }
    return s / nf2;
}

void superpos_interference(double *sup, const float *W, int n, int m) {
    for (int f = 0; f < n; f++) sup[f] = interference(W, n, m, f, dot_rows(W, m, f, f));
}

void superpos_dimensionality(double *D, const float *W, int n, int m) {
    for (int f = 0; f < n; f++) {
        double nf2 = dot_rows(W, m, f, f);
        // Σ_g (Ŵ_f·W_g)² = ‖W_f‖² (the g = f term) + the interference.
        D[f] = nf2 == 0.0 ? 0.0 : nf2 / (nf2 + interference(W, n, m, f, nf2));
    }
}

int superpos_represented(const float *W, int n, int m, double threshold) {
    int c = 0;
    for (int f = 0; f < n; f++) c += sqrt(dot_rows(W, m, f, f)) > threshold;
    return c;
}

double superpos_dims_per_feature(const float *W, int n, int m) {
    double fro2 = 0.0;
    for (int f = 0; f < n; f++) fro2 += dot_rows(W, m, f, f);
    return fro2 == 0.0 ? INFINITY : (double)m / fro2;
}

static double angle_deg(const float *w) {
    if (w[0] == 0.0f && w[1] == 0.0f) return 0.0;
    double a = atan2((double)w[1], (double)w[0]) * (180.0 / SUPERPOS_PI);
    return a < 0.0 ? a + 360.0 : a;
}

void superpos_angles(double *angle, const float *W, int n) {
    for (int f = 0; f < n; f++) angle[f] = angle_deg(W + 2 * (size_t)f);
}

int superpos_angle_gaps(double *gap, const float *W, int n, double threshold) {
    int k = 0;
    for (int f = 0; f < n; f++)
        if (sqrt(dot_rows(W, 2, f, f)) > threshold) gap[k++] = angle_deg(W + 2 * (size_t)f);
    // insertion sort: n is small (a toy model's feature count)
    for (int a = 1; a < k; a++) {
        double v = gap[a];
        int b = a - 1;
        for (; b >= 0 && gap[b] > v; b--) gap[b + 1] = gap[b];
        gap[b + 1] = v;
    }
    if (k == 0) return 0;
    double first = gap[0];
    for (int a = 0; a < k - 1; a++) gap[a] = gap[a + 1] - gap[a];
    gap[k - 1] = first + 360.0 - gap[k - 1];
    return k;
}
