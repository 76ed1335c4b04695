// mechlab inspect — what is in a checkpoint: architecture, config, training state, and every
// tensor with its shape, dtype and norm.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "train/safetensors.h"
#include "verbs.h"

static void usage(FILE *f) {
    fprintf(f, "Usage: mechlab inspect CKPT\n"
               "Print a checkpoint's architecture, config and training state, and every tensor\n"
               "with its shape, dtype, L2 norm and max |value|. CKPT is a .safetensors file or a\n"
               "run folder (its model.safetensors).\n"
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
    st_close(&f);
    return EXIT_OK;
}
