// mechlab pca — principal components of activations at a hook point, of a weight matrix of a
// checkpoint, or of any .npy array: components, projections, explained variance, a scree plot
// and a 2-D projection scatter coloured by a label.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "cli.h"
#include "datasets/npy.h"
#include "interp/pca.h"
#include "interp/plot.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/json.h"
#include "model/pool.h"
#include "train/tf_checkpoint.h"
#include "verbs.h"

#define SCATTER_MAX 4000  // points drawn in projection.svg (evenly spaced rows beyond that)

static void usage(FILE *f) {
    fprintf(f,
            "Usage: mechlab pca CKPT --hook NAME [-k K] --out DIR [options]\n"
            "       mechlab pca CKPT --weight NAME [-k K] --out DIR\n"
            "       mechlab pca --npy FILE.npy [-k K] --out DIR\n"
            "Principal components of a matrix whose rows are examples and whose last axis holds\n"
            "the features: the activations at one hook point (one row per sequence and chosen\n"
            "position), a parameter of a checkpoint (e.g. pos_embed.W_pos [n_ctx, d_model]), or\n"
            "an .npy array of any numeric dtype [..., features]. Covariance in double, symmetric\n"
            "eigensolver, each component signed so its largest |loading| is positive.\n\n"
            "  --hook NAME       one hook point shaped [batch, pos, ...] (mechlab hooks CKPT)\n"
            "  --weight NAME     one parameter (mechlab inspect CKPT lists them)\n"
            "  --npy FILE.npy    an array\n"
            "  -k, --k K         components kept for components.npy and projections.npy [10]\n"
            "  --no-center       about the origin instead of the mean\n"
            "  --color C         projection.svg colour: position, token, row or none\n"
            "                    [position for --hook, row (the position for W_pos) otherwise]\n"
            "  --out DIR         components.npy [K, features], projections.npy [..., K],\n"
            "                    mean.npy, explained_variance.csv, pca.json, scree.svg,\n"
            "                    projection.svg\n"
            ANA_DATA_HELP
            "  -h, --help\n");
}

enum { O_HOOK = 256, O_WEIGHT, O_NPY, O_K, O_NOCENTER, O_COLOR, O_OUT };

typedef enum { COL_DEFAULT, COL_POSITION, COL_TOKEN, COL_ROW, COL_NONE } ColorBy;

// The scree plot: explained-variance ratio of the first components, and the cumulative ratio.
static int save_scree(const char *dir, const Pca *p, const char *what) {
    int n = p->d < 50 ? p->d : 50;
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n),
          *cum = malloc(sizeof(float) * (size_t)n);
    if (!x || !y || !cum) {
        free(x), free(y), free(cum);
        return err_set("out of memory");
    }
    double s = 0;
    for (int i = 0; i < n; i++) {
        x[i] = (float)(i + 1);
        y[i] = (float)p->ratio[i];
        s += p->ratio[i];
        cum[i] = (float)s;
    }
    PlotSeries ser[2] = {{.x = x, .y = y, .n = n, .label = "ratio", .markers = 1},
                         {.x = x, .y = cum, .n = n, .label = "cumulative", .dashed = 1}};
    char title[200];
    snprintf(title, sizeof title, "Explained variance: %.150s", what);  // long names are cut
    PlotOpts o = {.title = title, .xlabel = "component", .ylabel = "fraction of variance",
                  .ymin = 0, .ymax = 1};
    Buf svg = {0};
    int rc = plot_line(&svg, &o, ser, 2);
    if (!rc) rc = ana_write(dir, "scree.svg", &svg);
    buf_free(&svg);
    free(x), free(y), free(cum);
    return rc;
}

// PC1 against PC2 (proj[rows, k], k >= 2), coloured by colour[rows] (NULL: one colour).
static int save_projection(const char *dir, const float *proj, size_t rows, int k,
                           const float *colour, const char *colour_label, const char *what,
                           const Pca *p) {
    size_t step = rows > SCATTER_MAX ? (rows + SCATTER_MAX - 1) / SCATTER_MAX : 1;
    int n = (int)((rows + step - 1) / step);
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n),
          *c = malloc(sizeof(float) * (size_t)n);
    if (!x || !y || !c) {
        free(x), free(y), free(c);
        return err_set("out of memory");
    }
    for (int i = 0; i < n; i++) {
        size_t r = (size_t)i * step;
        x[i] = proj[r * k];
        y[i] = proj[r * k + 1];
        c[i] = colour ? colour[r] : 0;
    }
    char title[240], xl[64], yl[64];
    snprintf(title, sizeof title, "%.150s: PC1 vs PC2%s", what,
             step > 1 ? " (every row shown would be too many; evenly spaced rows)" : "");
    snprintf(xl, sizeof xl, "PC1 (%.1f%% of variance)", 100 * p->ratio[0]);
    snprintf(yl, sizeof yl, "PC2 (%.1f%% of variance)", 100 * p->ratio[1]);
    PlotOpts o = {.title = title, .xlabel = xl, .ylabel = yl};
    PlotScatter s = {.x = x, .y = y, .n = n, .values = colour ? c : NULL,
                     .scale = {.cmap = PLOT_SEQUENTIAL, .label = colour_label},
                     .radius = n > 500 ? 2.5 : 0};
    Buf svg = {0};
    int rc = plot_scatter(&svg, &o, &s);
    if (!rc) rc = ana_write(dir, "projection.svg", &svg);
    buf_free(&svg);
    free(x), free(y), free(c);
    return rc;
}

int cmd_pca(int argc, char **argv) {
    static const struct option opts[] = {
        {"hook", 1, 0, O_HOOK},   {"weight", 1, 0, O_WEIGHT},       {"npy", 1, 0, O_NPY},
        {"k", 1, 0, 'k'},         {"no-center", 0, 0, O_NOCENTER},  {"color", 1, 0, O_COLOR},
        {"out", 1, 0, O_OUT},     ANA_DATA_OPTIONS,                 {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *V = "pca";
    AnaOpts a = ana_defaults();
    const char *hook = NULL, *weight = NULL, *npy = NULL, *out = NULL;
    long k = 10;
    int center = 1;
    ColorBy color = COL_DEFAULT;
    optind = 1;
    int c, h;
    while ((c = getopt_long(argc, argv, "hk:", opts, NULL)) != -1) {
        if ((h = ana_option(&a, V, c, optarg)) < 0) return EXIT_USAGE;
        if (h) continue;
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case O_HOOK: hook = optarg; break;
        case O_WEIGHT: weight = optarg; break;
        case O_NPY: npy = optarg; break;
        case O_OUT: out = optarg; break;
        case O_NOCENTER: center = 0; break;
        case 'k': if (cli_int(V, "-k", optarg, 1, 1 << 16, &k)) return EXIT_USAGE; break;
        case O_COLOR:
            if (!strcmp(optarg, "position")) color = COL_POSITION;
            else if (!strcmp(optarg, "token")) color = COL_TOKEN;
            else if (!strcmp(optarg, "row")) color = COL_ROW;
            else if (!strcmp(optarg, "none")) color = COL_NONE;
            else return cli_usage(V, "--color: '%s' is not position, token, row or none", optarg);
            break;
        default: return cli_usage(V, "unknown or incomplete option");
        }
    }
    if (!out) return cli_usage(V, "--out DIR is required");
    if ((hook != NULL) + (weight != NULL) + (npy != NULL) != 1)
        return cli_usage(V, "give exactly one of --hook, --weight, --npy");
    if (npy && optind != argc) return cli_usage(V, "--npy takes no checkpoint");
    if (!npy && optind != argc - 1) return cli_usage(V, "expected one checkpoint");
    if (!hook && (color == COL_POSITION || color == COL_TOKEN))
        return cli_usage(V, "--color position/token need --hook (use row)");
    if (a.threads && pool_set_threads((int)a.threads)) return cli_fail_err();

    int rc = EXIT_FAIL;
    AnaRun r = {0};
    Cache cache = {0};
    Pca *p = NULL;
    float *owned = NULL, *proj = NULL, *colour = NULL;
    const float *X = NULL;
    size_t rows = 0;
    int F = 0, lead_ndim = 0;
    int64_t lead[NPY_MAX_DIMS];
    char what[4600] = "", colour_label[64] = "";

    if (npy) {
        int ndim;
        int64_t shape[NPY_MAX_DIMS];
        if (npy_load_f32(npy, &owned, &ndim, shape)) {
            cli_fail_err();
            goto done;
        }
        if (ndim < 2) {
            cli_fail("%s: PCA needs an array [..., features] with at least 2 axes, got %d-D", npy,
                     ndim);
            goto done;
        }
        if (shape[ndim - 1] < 1 || shape[ndim - 1] > 8192) {
            cli_fail("%s: %lld features (the last axis) is outside [1, 8192]", npy,
                     (long long)shape[ndim - 1]);
            goto done;
        }
        F = (int)shape[ndim - 1];
        rows = 1;
        for (int i = 0; i < ndim - 1; i++) rows *= (size_t)shape[i], lead[i] = shape[i];
        lead_ndim = ndim - 1;
        X = owned;
        char sh[128];
        snprintf(what, sizeof what, "%s %s", npy, ana_shape_str(sh, sizeof sh, ndim, shape));
        if (color == COL_DEFAULT) color = COL_ROW;
    } else if (weight) {
        char path[4096];
        StFile f = {0};
        if (cli_ckpt_path(argv[optind], path, sizeof path)) {
            cli_fail_err();
            goto done;
        }
        Transformer *m = tf_ckpt_load(path, 1, &f);
        if (!m) {
            cli_fail_err();
            goto done;
        }
        st_close(&f);
        int idx = params_index(&m->params, weight);
        if (idx < 0) {
            cli_fail("%s: no parameter '%s' (mechlab inspect %s lists them)", path, weight,
                     argv[optind]);
            tf_free(m);
            goto done;
        }
        const ParamInfo *pi = &m->params.info[idx];
        if (pi->ndim < 2) {
            cli_fail("%s is 1-D [%d]: PCA needs a matrix", weight, pi->shape[0]);
            tf_free(m);
            goto done;
        }
        F = pi->shape[pi->ndim - 1];
        rows = pi->numel / (size_t)F;
        lead_ndim = pi->ndim - 1;
        for (int i = 0; i < lead_ndim; i++) lead[i] = pi->shape[i];
        owned = malloc(sizeof(float) * pi->numel);
        if (!owned) {
            cli_fail("out of memory");
            tf_free(m);
            goto done;
        }
        memcpy(owned, m->params.data + pi->offset, sizeof(float) * pi->numel);
        X = owned;
        int64_t sh64[TENSOR_MAX_DIMS];
        for (int i = 0; i < pi->ndim; i++) sh64[i] = pi->shape[i];
        char sh[128];
        snprintf(what, sizeof what, "%s %s", weight, ana_shape_str(sh, sizeof sh, pi->ndim, sh64));
        tf_free(m);
        if (color == COL_DEFAULT) color = COL_ROW;
        if (color == COL_ROW)
            snprintf(colour_label, sizeof colour_label, "%s",
                     !strcmp(weight, "pos_embed.W_pos") ? "position"
                     : !strcmp(weight, "embed.W_E")     ? "token id"
                                                        : "row");
    } else {
        if (ana_open(&r, argv[optind], &a)) {
            cli_fail_err();
            goto done;
        }
        const char *pats[1] = {hook};
        CacheOpts co = {.hooks = pats, .n_hooks = 1, .pos = r.pos, .n_pos = r.n_pos,
                        .batch = (int)a.batch};
        if (cache_run(r.m, &r.d, &co, &cache)) {
            if (strstr(err_msg(), "matches no hook point"))
                cli_fail("%s (list them with: mechlab hooks %s)", err_msg(), argv[optind]);
            else
                cli_fail_err();
            goto done;
        }
        if (cache.n_points != 1) {
            cli_fail("--hook '%s' matches %d hook points; pca takes one (mechlab probe sweeps)",
                     hook, cache.n_points);
            goto done;
        }
        const CachePoint *pt = &cache.points[0];
        if (pt->pos_axis != 1) {
            cli_fail("%s is [batch, head, query, key]; use a point shaped [batch, pos, ...] or "
                     "write it with mechlab cache and use --npy",
                     pt->name);
            goto done;
        }
        F = (int)(pt->seq_floats / (size_t)r.n_pos);
        rows = (size_t)r.d.n * r.n_pos;
        lead_ndim = 2;
        lead[0] = r.d.n;
        lead[1] = r.n_pos;
        X = pt->data;
        char ps[200];
        snprintf(what, sizeof what, "%s (%s, %d sequences, positions %s)", pt->name, r.d.spec,
                 r.d.n, ana_pos_str(ps, sizeof ps, r.pos, r.n_pos));
        if (color == COL_DEFAULT) color = COL_POSITION;
    }
    if (k > F) k = F;
    if (rows < (size_t)(center ? 2 : 1)) {
        cli_fail("%s: %zu row%s: PCA needs at least %d", what, rows, rows == 1 ? "" : "s",
                 center ? 2 : 1);
        goto done;
    }
    p = pca_fit(X, rows, F, center);
    if (!p) {
        cli_fail("%s: %s", what, err_msg());
        goto done;
    }
    proj = malloc(sizeof(float) * rows * (size_t)k);
    if (!proj || pca_transform(p, proj, X, rows, (int)k)) {
        cli_fail("%s", proj ? err_msg() : "out of memory");
        goto done;
    }
    if (color != COL_NONE) {
        colour = malloc(sizeof(float) * rows);
        if (!colour) {
            cli_fail("out of memory");
            goto done;
        }
        for (size_t i = 0; i < rows; i++) {
            if (color == COL_ROW) colour[i] = (float)i;
            else if (color == COL_POSITION) colour[i] = (float)r.pos[i % r.n_pos];
            else colour[i] = (float)r.d.tokens[(i / r.n_pos) * r.d.T + r.pos[i % r.n_pos]];
        }
        if (!colour_label[0])
            snprintf(colour_label, sizeof colour_label, "%s",
                     color == COL_ROW ? "row" : color == COL_POSITION ? "position" : "token id");
    }

    // Files.
    if (fileio_mkdirs(out)) {
        cli_fail_err();
        goto done;
    }
    {
        char path[4200];
        float *comp = malloc(sizeof(float) * (size_t)k * F), *mean = malloc(sizeof(float) * F);
        if (!comp || !mean) {
            free(comp), free(mean);
            cli_fail("out of memory");
            goto done;
        }
        for (size_t i = 0; i < (size_t)k * F; i++) comp[i] = (float)p->components[i];
        for (int j = 0; j < F; j++) mean[j] = (float)p->mean[j];
        int64_t cs[2] = {k, F}, ms[1] = {F}, ps[NPY_MAX_DIMS];
        for (int i = 0; i < lead_ndim; i++) ps[i] = lead[i];
        ps[lead_ndim] = k;
        int e = ana_path(path, sizeof path, out, "components.npy") ||
                npy_save_f32(path, comp, 2, cs) || ana_path(path, sizeof path, out, "mean.npy") ||
                npy_save_f32(path, mean, 1, ms) ||
                ana_path(path, sizeof path, out, "projections.npy") ||
                npy_save_f32(path, proj, lead_ndim + 1, ps);
        free(comp), free(mean);
        if (e) {
            cli_fail_err();
            goto done;
        }
    }
    int k90 = 0;
    {
        Buf csv = {0}, js = {0};
        double cum = 0;
        buf_puts(&csv, "component,variance,ratio,cumulative\n");
        for (int i = 0; i < F; i++) {
            cum += p->ratio[i];
            if (!k90 && cum >= 0.9) k90 = i + 1;
            buf_printf(&csv, "%d,%.9g,%.9g,%.9g\n", i + 1, p->eigval[i], p->ratio[i], cum);
        }
        buf_puts(&js, "{\n  \"source\": ");
        buf_put_json_str(&js, what);
        buf_printf(&js, ",\n  \"rows\": %zu,\n  \"features\": %d,\n  \"centered\": %s,\n  \"k\": %ld,"
                        "\n  \"components_for_90pct\": %d,\n  \"total_variance\": ",
                   rows, F, center ? "true" : "false", k, k90);
        json_put_double(&js, p->total_var);
        buf_puts(&js, ",\n  \"ratio\": [");
        for (int i = 0; i < F; i++) {
            if (i) buf_puts(&js, ", ");
            json_put_double(&js, p->ratio[i]);
        }
        buf_puts(&js, "]\n}\n");
        int e = ana_write(out, "explained_variance.csv", &csv) || ana_write(out, "pca.json", &js);
        buf_free(&csv);
        buf_free(&js);
        if (e || save_scree(out, p, what) ||
            (k >= 2 && save_projection(out, proj, rows, (int)k, colour, colour_label, what, p))) {
            cli_fail_err();
            goto done;
        }
    }

    printf("PCA of %s: %zu rows x %d features, %s\n", what, rows, F,
           center ? "centred on the mean" : "about the origin");
    printf("%-10s %12s %8s %10s\n", "component", "variance", "ratio", "cumulative");
    double cum = 0;
    for (int i = 0; i < k; i++) {
        cum += p->ratio[i];
        printf("%-10d %12.6g %8.4f %10.4f\n", i + 1, p->eigval[i], p->ratio[i], cum);
    }
    printf("90%% of the variance lies in the first %d of %d components\n", k90, F);
    printf("wrote %s/components.npy [%ld, %d], projections.npy, mean.npy, explained_variance.csv, "
           "pca.json, scree.svg%s\n",
           out, k, F, k >= 2 ? ", projection.svg" : "");
    rc = EXIT_OK;
done:
    pca_free(p);
    free(owned);
    free(proj);
    free(colour);
    cache_free(&cache);
    ana_close(&r);
    return rc;
}
