// mechlab inspect — what is in a checkpoint: architecture, config, training state, and every
// tensor with its shape, dtype and norm.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "interp/superposition.h"
#include "train/safetensors.h"
#include "train/toy_checkpoint.h"
#include "verbs.h"

static void usage(FILE *f) {
    fprintf(f, "Usage: mechlab inspect CKPT\n"
               "Print a checkpoint's architecture, config and training state, and every tensor\n"
               "with its shape, dtype, L2 norm and max |value|. CKPT is a .safetensors file or a\n"
               "run folder (its model.safetensors). For a toy model of superposition it also\n"
               "prints, per instance and feature, the norm ‖W_f‖, the superposition\n"
               "Σ_{g≠f} (Ŵ_f·W_g)² and the feature dimensionality D_f.\n"
               "  -h, --help\n");
}

// L2 norm and max |x| of an F32 tensor (data may be unaligned: copy element by element).
static void f32_stats(const StTensor *t, double *norm, double *maxabs) {
    size_t n = (t->end - t->begin) / 4;
    double s = 0, m = 0;
    const unsigned char *p = t->data;
    for (size_t i = 0; i < n; i++) {
        float x;
        memcpy(&x, p + 4 * i, 4);
        s += (double)x * x;
        if (fabs(x) > m || x != x) m = fabs(x);
    }
    *norm = sqrt(s);
    *maxabs = m;
}

// A toy model of superposition: the geometry of every instance's features (interp/superposition.h).
static int toy_geometry(const char *path) {
    StFile f;
    Toy *t = toy_ckpt_load(path, 1, &f);
    if (!t) return cli_fail_err();
    ToyLayout lay;
    if (toy_ckpt_layout(&f, path, t->cfg.n_instances, &lay)) {
        toy_free(t);
        st_close(&f);
        return cli_fail_err();
    }
    const int I = t->cfg.n_instances, n = t->cfg.n_features, m = t->cfg.n_hidden;
    double *nr = malloc(sizeof(double) * 3 * n);
    if (!nr) {
        toy_layout_free(&lay);
        toy_free(t);
        st_close(&f);
        return cli_fail("out of memory");
    }
    double *sup = nr + n, *D = nr + 2 * n;
    printf("\ntoy model: %d instances, n = %d features, m = %d hidden, %s output; a feature is "
           "represented when ‖W_f‖ > %.1f\n",
           I, n, m, t->cfg.relu ? "ReLU" : "linear", SUPERPOS_REPRESENTED);
    for (int i = 0; i < I; i++) {
        const float *W = t->W + (size_t)i * n * m;
        superpos_norms(nr, W, n, m);
        superpos_interference(sup, W, n, m);
        superpos_dimensionality(D, W, n, m);
        double dstar = superpos_dims_per_feature(W, n, m);
        printf("\ninstance %d", i);
        if (lay.prob)
            printf(" (setting %d, replica %d: 1-S = %.4g, importance %.4g^f)", i / lay.replicas,
                   i % lay.replicas, lay.prob[i / lay.replicas], lay.decay[i / lay.replicas]);
        printf(": %d of %d represented, ‖W‖_F² %.4f, dims per feature m/‖W‖_F² %.4f\n",
               superpos_represented(W, n, m, SUPERPOS_REPRESENTED), n, m / dstar, dstar);
        printf("  %7s %10s %14s %10s\n", "feature", "norm", "superposition", "D_f");
        for (int k = 0; k < n; k++)
            printf("  %7d %10.4f %14.4f %10.4f\n", k, nr[k], sup[k], D[k]);
    }
    free(nr);
    toy_layout_free(&lay);
    toy_free(t);
    st_close(&f);
    return EXIT_OK;
}

int cmd_inspect(int argc, char **argv) {
    static const struct option opts[] = {{"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return EXIT_OK;
        }
        return cli_usage("inspect", "unknown option");
    }
    if (optind != argc - 1) return cli_usage("inspect", "expected one checkpoint");
    char path[4096];
    if (cli_ckpt_path(argv[optind], path, sizeof path)) return cli_fail_err();
    StFile f = {0};
    if (st_open(&f, path)) return cli_fail_err();
    printf("%s\n", path);
    const char *arch = st_meta(&f, "mechlab_arch");
    printf("architecture: %s\n", arch ? arch : "(not a mechlab checkpoint: no mechlab_arch)");
    const char *cfg = st_meta(&f, "config");
    if (cfg) printf("config: %s\n", cfg);
    const char *step = st_meta(&f, "step");
    if (step) printf("training step: %s\n", step);
    const char *spec = st_meta(&f, "train_spec");
    if (spec) printf("training: %s\n", spec);
    for (int i = 0; i < f.nmeta; i++) {
        const char *k = f.meta_keys[i];
        if (strcmp(k, "mechlab_arch") && strcmp(k, "config") && strcmp(k, "step") &&
            strcmp(k, "train_spec"))
            printf("%s: %s\n", k, f.meta_vals[i]);
    }
    size_t total = 0;
    printf("\n%-40s %-20s %-5s %12s %12s\n", "tensor", "shape", "dtype", "norm", "max|x|");
    for (int i = 0; i < f.n; i++) {
        const StTensor *t = &f.tensors[i];
        char shape[64] = "[";
        for (int d = 0; d < t->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "," : "",
                     (long long)t->shape[d]);
        strncat(shape, "]", sizeof shape - strlen(shape) - 1);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];
        total += numel;
        if (t->dtype == ST_F32) {
            double norm, mx;
            f32_stats(t, &norm, &mx);
            printf("%-40s %-20s %-5s %12.5g %12.5g\n", t->name, shape, st_dtype_name(t->dtype),
                   norm, mx);
        } else {
            printf("%-40s %-20s %-5s %12s %12s\n", t->name, shape, st_dtype_name(t->dtype), "-", "-");
        }
    }
    printf("%d tensors, %zu values\n", f.n, total);
    int rc = arch && !strcmp(arch, "toy") ? toy_geometry(path) : EXIT_OK;
    st_close(&f);
    return rc;
}
