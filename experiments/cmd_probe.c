// mechlab probe — linear probes on a transformer's hook point (or on an activation .npy file):
// accuracy, the control task (Hewitt & Liang selectivity), the direction as .npy, a confusion
// matrix, and with a pattern matching several points a probe per point (accuracy by layer).
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "cli.h"
#include "datasets/npy.h"
#include "interp/plot.h"
#include "interp/probe.h"
#include "model/err.h"
#include "model/json.h"
#include "model/pool.h"
#include "verbs.h"

static void usage(FILE *f) {
    fprintf(f,
            "Usage: mechlab probe CKPT --hook PATTERN --label LABEL --out DIR [options]\n"
            "       mechlab probe --npy ACTS.npy --label file:LABELS.npy --out DIR [options]\n"
            "Train a linear probe on the activations at a hook point (chosen positions, one row\n"
            "per sequence and position) and score it on held-out rows beside a control probe\n"
            "trained on shuffled labels (selectivity = accuracy - control accuracy). Integer\n"
            "labels train a logistic probe (softmax for 3+ classes); float labels a ridge\n"
            "regression (R^2). A pattern matching several hook points (blocks.*.hook_resid_post)\n"
            "probes each one and plots accuracy by layer.\n\n"
            "  --hook PATTERNS   hook point names or globs, comma-separated (mechlab hooks CKPT\n"
            "                    lists them), e.g. 'hook_embed,blocks.*.hook_resid_post'\n"
            "  --npy ACTS.npy    probe an array instead: [..., features], one row per leading index\n"
            "  --label LABEL     repeat    the token already occurred earlier in its sequence\n"
            "                    token     the token id            next   the next token id\n"
            "                    position  the position\n"
            "                    file:LABELS.npy  integer (classes) or float (ridge) labels,\n"
            "                              [sequences, positions] or [sequences] for a checkpoint,\n"
            "                              one per row of ACTS for --npy; a negative integer or a\n"
            "                              NaN leaves that row out\n"
            "  --out DIR         output folder: metrics.csv, metrics.json, and per hook point\n"
            "                    <hook>.direction.npy [outputs, features], <hook>.bias.npy,\n"
            "                    <hook>.confusion.svg; accuracy_by_layer.svg for a sweep\n"
            "Probe:\n"
            "  --l2 X            L2 strength in standardised units                  [1e-4]\n"
            "  --test-frac X     held-out fraction of the rows                      [0.25]\n"
            "  --probe-seed S    split and control shuffle                          [0]\n"
            "  --max-iter N      L-BFGS iterations                                  [1000]\n"
            "  --no-control      skip the control task\n"
            ANA_DATA_HELP
            "  -h, --help\n");
}

enum { O_HOOK = 256, O_NPY, O_LABEL, O_OUT, O_L2, O_TESTFRAC, O_PSEED, O_MAXIT, O_NOCTRL };

// The rows every probe of one run shares: labels (classes or ridge targets) and their names.
typedef struct {
    int ridge;       // 1: float targets Y[rows, K]; 0: classes
    int rows, K;     // rows kept; ridge targets per row
    int *cls;        // [rows] class index (logistic)
    float *Y;        // [rows, K] (ridge)
    int n_classes;
    char (*names)[24];  // [n_classes] the label value of each class
} Labels;

static void labels_free(Labels *L) {
    free(L->cls);
    free(L->Y);
    free(L->names);
    memset(L, 0, sizeof *L);
}

// Compacts integer labels raw[n] (< 0 = leave out) to class indices over the kept rows; keep[n]
// receives 1 for kept rows. Classes are the sorted distinct values.
static int compact_classes(Labels *L, const int64_t *raw, size_t n, unsigned char *keep) {
    size_t kept = 0;
    int64_t *vals = malloc(sizeof(int64_t) * (n ? n : 1));
    if (!vals) return err_set("out of memory");
    for (size_t i = 0; i < n; i++) {
        keep[i] = raw[i] >= 0;
        if (keep[i]) vals[kept++] = raw[i];
    }
    // Sort the kept values (insertion into a sorted distinct list; few classes in practice).
    int64_t *uniq = malloc(sizeof(int64_t) * (kept ? kept : 1));
    int nu = 0;
    if (!uniq) {
        free(vals);
        return err_set("out of memory");
    }
    for (size_t i = 0; i < kept; i++) {
        int lo = 0, hi = nu;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (uniq[mid] < vals[i]) lo = mid + 1;
            else hi = mid;
        }
        if (lo < nu && uniq[lo] == vals[i]) continue;
        memmove(uniq + lo + 1, uniq + lo, sizeof(int64_t) * (size_t)(nu - lo));
        uniq[lo] = vals[i];
        nu++;
    }
    int rc = -1;
    if (kept > (size_t)INT32_MAX / 2) {
        err_set("too many rows (%zu)", kept);
        goto done;
    }
    L->rows = (int)kept;
    L->n_classes = nu;
    L->cls = malloc(sizeof(int) * (kept ? kept : 1));
    L->names = malloc(sizeof *L->names * (size_t)(nu ? nu : 1));
    if (!L->cls || !L->names) {
        err_set("out of memory");
        goto done;
    }
    for (int c = 0; c < nu; c++) snprintf(L->names[c], sizeof L->names[c], "%lld", (long long)uniq[c]);
    for (size_t i = 0; i < kept; i++) {
        int lo = 0, hi = nu - 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (uniq[mid] < vals[i]) lo = mid + 1;
            else hi = mid;
        }
        L->cls[i] = lo;
    }
    rc = 0;
done:
    free(vals);
    free(uniq);
    return rc;
}

// Float targets raw[n, K]; a row with any NaN is left out.
static int keep_targets(Labels *L, const float *raw, size_t n, int K, unsigned char *keep) {
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        keep[i] = 1;
        for (int k = 0; k < K; k++)
            if (raw[i * K + k] != raw[i * K + k]) keep[i] = 0;
        kept += keep[i];
    }
    if (kept > (size_t)INT32_MAX / 2) return err_set("too many rows (%zu)", kept);
    L->ridge = 1;
    L->K = K;
    L->rows = (int)kept;
    L->Y = malloc(sizeof(float) * (kept ? kept : 1) * (size_t)K);
    if (!L->Y) return err_set("out of memory");
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (keep[i]) memcpy(L->Y + (j++) * K, raw + i * K, sizeof(float) * (size_t)K);
    return 0;
}

static int is_float(NpyDtype t) { return t == NPY_F16 || t == NPY_F32 || t == NPY_F64; }

// Labels from a file, expanded to one per row of `rows_shape` (the leading shape of the data):
// a checkpoint's rows are (sequence, chosen position); an array's rows are its leading indices.
// For a checkpoint the file is [N, T] (indexed by absolute position) or [N]; for an array it has
// the rows' count of elements (ridge: optionally times K targets, the last axis).
static int file_labels(Labels *L, const char *path, const CacheData *d, const int *pos, int n_pos,
                       size_t n_rows, unsigned char *keep) {
    NpyArray a;
    if (npy_load(&a, path)) return -1;
    int rc = -1, K = 1;
    int64_t *iv = NULL;
    float *fv = NULL, *Y = NULL;
    int64_t *raw = NULL;
    char sh[128];
    ana_shape_str(sh, sizeof sh, a.ndim, a.shape);
    // Map each row to an element index of the file.
    size_t *src = malloc(sizeof(size_t) * (n_rows ? n_rows : 1));
    if (!src) {
        err_set("out of memory");
        goto done;
    }
    if (d) {
        if (a.ndim == 2 && a.shape[0] == d->n && a.shape[1] == d->T) {
            for (size_t r = 0; r < n_rows; r++) src[r] = (r / n_pos) * d->T + pos[r % n_pos];
        } else if (a.ndim == 1 && a.shape[0] == d->n) {
            for (size_t r = 0; r < n_rows; r++) src[r] = r / n_pos;
        } else {
            err_set("%s: labels of shape %s do not fit %d sequences x %d positions (expected "
                    "[%d, %d] or [%d])", path, sh, d->n, d->T, d->n, d->T, d->n);
            goto done;
        }
    } else {
        if (a.numel != n_rows) {
            if (is_float(a.dtype) && a.ndim >= 2 && a.shape[a.ndim - 1] > 0 &&
                a.numel / (size_t)a.shape[a.ndim - 1] == n_rows &&
                a.numel % (size_t)a.shape[a.ndim - 1] == 0 && a.shape[a.ndim - 1] <= 4096) {
                K = (int)a.shape[a.ndim - 1];
            } else {
                err_set("%s: %zu labels of shape %s for %zu rows of activations", path, a.numel,
                        sh, n_rows);
                goto done;
            }
        }
        for (size_t r = 0; r < n_rows; r++) src[r] = r;
    }
    if (is_float(a.dtype)) {
        fv = malloc(sizeof(float) * (a.numel ? a.numel : 1));
        Y = malloc(sizeof(float) * (n_rows ? n_rows : 1) * (size_t)K);
        if (!fv || !Y) {
            err_set("out of memory");
            goto done;
        }
        npy_to_f32(&a, fv);
        for (size_t r = 0; r < n_rows; r++)
            for (int k = 0; k < K; k++) {
                float v = fv[src[r] * K + k];
                if (isinf(v)) {
                    err_set("%s: label %zu is infinite", path, src[r]);
                    goto done;
                }
                Y[r * K + k] = v;
            }
        if (keep_targets(L, Y, n_rows, K, keep)) goto done;
    } else {
        iv = malloc(sizeof(int64_t) * (a.numel ? a.numel : 1));
        raw = malloc(sizeof(int64_t) * (n_rows ? n_rows : 1));
        if (!iv || !raw) {
            err_set("out of memory");
            goto done;
        }
        if (a.dtype == NPY_BOOL) {
            for (size_t i = 0; i < a.numel; i++) iv[i] = ((const unsigned char *)a.data)[i];
        } else if (npy_to_i64(&a, iv)) {
            err_prefix(path);
            goto done;
        }
        for (size_t r = 0; r < n_rows; r++) raw[r] = iv[src[r]];
        if (compact_classes(L, raw, n_rows, keep)) goto done;
    }
    rc = 0;
done:
    npy_free(&a);
    free(src);
    free(iv);
    free(fv);
    free(Y);
    free(raw);
    return rc;
}

// Built-in labels for the rows (sequence, chosen position).
static int builtin_labels(Labels *L, const char *name, const CacheData *d, const int *pos,
                          int n_pos, unsigned char *keep) {
    int *lab = malloc(sizeof(int) * (size_t)d->n * d->T);
    size_t n_rows = (size_t)d->n * n_pos;
    int64_t *raw = malloc(sizeof(int64_t) * n_rows);
    int rc = -1;
    if (!lab || !raw) {
        err_set("out of memory");
        goto done;
    }
    if (cache_label(d, name, lab)) goto done;
    for (size_t r = 0; r < n_rows; r++) raw[r] = lab[(r / n_pos) * d->T + pos[r % n_pos]];
    rc = compact_classes(L, raw, n_rows, keep);
done:
    free(lab);
    free(raw);
    return rc;
}

// One probe's results for the tables, files and plot.
typedef struct {
    char name[80];
    int features;
    Probe *p;
    double majority;  // most frequent class among the test rows (logistic)
} Result;

// Where a hook point sits for the sweep plot. Residual-stream points get "blocks applied"
// (hook_embed, hook_pos_embed, blocks.0.hook_resid_pre: 0; blocks.L.hook_resid_post: L + 1);
// anything else inside block L gets L + 0.5. -1 for points outside the blocks (ln_final).
static double sweep_x(const char *name, int *resid) {
    int l, n = 0;
    *resid = 1;
    if (!strcmp(name, "hook_embed") || !strcmp(name, "hook_pos_embed")) return 0;
    if (sscanf(name, "blocks.%d.%n", &l, &n) == 1 && n > 0) {
        if (!strcmp(name + n, "hook_resid_pre")) return l;
        if (!strcmp(name + n, "hook_resid_post")) return l + 1;
        *resid = 0;
        return l + 0.5;
    }
    *resid = 0;
    return -1;
}

static int save_probe(const char *dir, const Result *res, const Labels *L) {
    const Probe *p = res->p;
    char path[4200], file[128];
    snprintf(file, sizeof file, "%s.direction.npy", res->name);
    int64_t shape[2] = {p->n_out, p->d};
    if (ana_path(path, sizeof path, dir, file) || npy_save_f32(path, p->W, 2, shape)) return -1;
    snprintf(file, sizeof file, "%s.bias.npy", res->name);
    if (ana_path(path, sizeof path, dir, file) || npy_save_f32(path, p->b, 1, shape)) return -1;
    if (L->ridge) return 0;
    // Confusion of the test rows, as counts: true class down, predicted across.
    const int C = p->n_classes;
    float *cm = malloc(sizeof(float) * (size_t)C * C);
    const char **names = malloc(sizeof(char *) * (size_t)C);
    if (!cm || !names) {
        free(cm);
        free(names);
        return err_set("out of memory");
    }
    for (int i = 0; i < C * C; i++) cm[i] = (float)p->confusion[i];
    for (int c = 0; c < C; c++) names[c] = L->names[c];
    char title[200];
    snprintf(title, sizeof title, "%s: test accuracy %.3f (control %.3f)", res->name, p->test_acc,
             p->control_acc);
    // Small matrices get a fixed size so the title fits; large ones are sized by their cells.
    PlotOpts o = {.title = title, .xlabel = "predicted", .ylabel = "true",
                  .width = C <= 20 ? 560 : 0, .height = C <= 20 ? 460 : 0};
    PlotHeatmap h = {.data = cm, .rows = C, .cols = C, .row_labels = names, .col_labels = names,
                     .scale = {.cmap = PLOT_SEQUENTIAL, .label = "test rows"},
                     .show_values = C <= 12, .value_fmt = "%.0f"};
    Buf svg = {0};
    snprintf(file, sizeof file, "%s.confusion.svg", res->name);
    int rc = plot_heatmap(&svg, &o, &h);
    if (!rc) rc = ana_write(dir, file, &svg);
    buf_free(&svg);
    free(cm);
    free(names);
    return rc;
}

static int save_metrics(const char *dir, const Result *res, int n, const Labels *L,
                        const char *label, const char *data, const char *positions) {
    Buf csv = {0}, js = {0};
    if (L->ridge)
        buf_puts(&csv, "hook,features,rows,n_train,n_test,targets,train_r2,test_r2,control_r2,"
                       "selectivity\n");
    else
        buf_puts(&csv, "hook,features,rows,n_train,n_test,classes,majority,train_acc,test_acc,"
                       "control_acc,selectivity,converged,iters\n");
    buf_puts(&js, "{\n  \"label\": ");
    buf_put_json_str(&js, label);
    buf_puts(&js, ",\n  \"data\": ");
    buf_put_json_str(&js, data);
    buf_puts(&js, ",\n  \"positions\": ");
    buf_put_json_str(&js, positions);
    buf_printf(&js, ",\n  \"kind\": \"%s\",\n  \"rows\": %d,\n", L->ridge ? "ridge" : "logistic",
               L->rows);
    if (!L->ridge) {
        buf_puts(&js, "  \"classes\": [");
        for (int c = 0; c < L->n_classes; c++) {
            if (c) buf_puts(&js, ", ");
            buf_put_json_str(&js, L->names[c]);
        }
        buf_puts(&js, "],\n");
    }
    buf_puts(&js, "  \"probes\": [");
    for (int i = 0; i < n; i++) {
        const Probe *p = res[i].p;
        buf_printf(&csv, "%s,%d,%d,%d,%d,", res[i].name, p->d, L->rows, p->n_train, p->n_test);
        buf_puts(&js, i ? ",\n    {\"hook\": " : "\n    {\"hook\": ");
        buf_put_json_str(&js, res[i].name);
        buf_printf(&js, ", \"features\": %d, \"n_train\": %d, \"n_test\": %d", p->d, p->n_train,
                   p->n_test);
        if (L->ridge) {
            buf_printf(&csv, "%d,%.6g,%.6g,%.6g,%.6g\n", L->K, p->train_r2, p->test_r2,
                       p->control_r2, p->selectivity);
            buf_puts(&js, ", \"train_r2\": ");
            json_put_double(&js, p->train_r2);
            buf_puts(&js, ", \"test_r2\": ");
            json_put_double(&js, p->test_r2);
            buf_puts(&js, ", \"control_r2\": ");
            json_put_double(&js, p->control_r2);
        } else {
            buf_printf(&csv, "%d,%.6g,%.6g,%.6g,%.6g,%.6g,%d,%d\n", p->n_classes, res[i].majority,
                       p->train_acc, p->test_acc, p->control_acc, p->selectivity, p->converged,
                       p->iters);
            buf_puts(&js, ", \"majority\": ");
            json_put_double(&js, res[i].majority);
            buf_puts(&js, ", \"train_acc\": ");
            json_put_double(&js, p->train_acc);
            buf_puts(&js, ", \"test_acc\": ");
            json_put_double(&js, p->test_acc);
            buf_puts(&js, ", \"control_acc\": ");
            json_put_double(&js, p->control_acc);
            buf_printf(&js, ", \"converged\": %s, \"iters\": %d, \"confusion\": [",
                       p->converged ? "true" : "false", p->iters);
            for (int a = 0; a < p->n_classes; a++) {
                buf_puts(&js, a ? ", [" : "[");
                for (int b = 0; b < p->n_classes; b++)
                    buf_printf(&js, b ? ", %lld" : "%lld",
                               (long long)p->confusion[a * p->n_classes + b]);
                buf_puts(&js, "]");
            }
            buf_puts(&js, "]");
        }
        buf_puts(&js, ", \"selectivity\": ");
        json_put_double(&js, p->selectivity);
        buf_printf(&js, ", \"direction\": \"%s.direction.npy\"}", res[i].name);
    }
    buf_puts(&js, "\n  ]\n}\n");
    int rc = ana_write(dir, "metrics.csv", &csv);
    if (!rc) rc = ana_write(dir, "metrics.json", &js);
    buf_free(&csv);
    buf_free(&js);
    return rc;
}

// Accuracy (or R²) by hook point, the control beside it and the majority baseline.
static int save_sweep(const char *dir, const Result *res, int n, const Labels *L,
                      const char *label) {
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n),
          *yc = malloc(sizeof(float) * (size_t)n);
    if (!x || !y || !yc) {
        free(x), free(y), free(yc);
        return err_set("out of memory");
    }
    // x: blocks applied when every point is in the residual stream, else the position in the
    // forward pass by blocks (L + 0.5 inside block L), else the index; always distinct.
    int all_resid = 1, ok = 1;
    for (int i = 0; i < n; i++) {
        int resid;
        x[i] = (float)sweep_x(res[i].name, &resid);
        all_resid &= resid;
        ok &= x[i] >= 0 && (i == 0 || x[i] > x[i - 1]);
    }
    const int by_layer = ok;
    for (int i = 0; i < n; i++) {
        if (!ok) x[i] = (float)i;
        y[i] = (float)(L->ridge ? res[i].p->test_r2 : res[i].p->test_acc);
        yc[i] = (float)(L->ridge ? res[i].p->control_r2 : res[i].p->control_acc);
    }
    PlotSeries s[2] = {
        {.x = x, .y = y, .n = n, .label = L->ridge ? "test R2" : "test accuracy", .markers = 1},
        {.x = x, .y = yc, .n = n, .label = "control (shuffled labels)", .dashed = 1, .markers = 1}};
    PlotRefLine ref = {.at = res[0].majority, .label = "majority class"};
    char title[160];
    snprintf(title, sizeof title, "Probe '%s' by %s", label, by_layer ? "layer" : "hook point");
    const char *xl = !by_layer   ? "hook point (forward order)"
                     : all_resid ? "blocks applied (0 = embeddings)"
                                 : "layer (+0.5: inside the block)";
    PlotOpts o = {.title = title, .xlabel = xl,
                  .ylabel = L->ridge ? "R2 (held-out rows)" : "accuracy (held-out rows)",
                  .refs = L->ridge ? NULL : &ref, .n_refs = L->ridge ? 0 : 1,
                  .ymin = L->ridge ? 0 : 0, .ymax = 1};
    Buf svg = {0};
    int rc = plot_line(&svg, &o, s, 2);
    if (!rc) rc = ana_write(dir, L->ridge ? "r2_by_layer.svg" : "accuracy_by_layer.svg", &svg);
    buf_free(&svg);
    free(x), free(y), free(yc);
    return rc;
}

int cmd_probe(int argc, char **argv) {
    static const struct option opts[] = {
        {"hook", 1, 0, O_HOOK},       {"npy", 1, 0, O_NPY},         {"label", 1, 0, O_LABEL},
        {"out", 1, 0, O_OUT},         {"l2", 1, 0, O_L2},           {"test-frac", 1, 0, O_TESTFRAC},
        {"probe-seed", 1, 0, O_PSEED}, {"max-iter", 1, 0, O_MAXIT}, {"no-control", 0, 0, O_NOCTRL},
        ANA_DATA_OPTIONS,             {"help", 0, 0, 'h'},          {0, 0, 0, 0}};
    const char *V = "probe";
    AnaOpts a = ana_defaults();
    ProbeConfig pc = probe_defaults();
    const char *hook = NULL, *npy = NULL, *label = NULL, *out = NULL;
    double x;
    long v;
    optind = 1;
    int c, h;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if ((h = ana_option(&a, V, c, optarg)) < 0) return EXIT_USAGE;
        if (h) continue;
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case O_HOOK: hook = optarg; break;
        case O_NPY: npy = optarg; break;
        case O_LABEL: label = optarg; break;
        case O_OUT: out = optarg; break;
        case O_NOCTRL: pc.control = 0; break;
        case O_L2:
            if (cli_float(V, "--l2", optarg, &x)) return EXIT_USAGE;
            if (!(x >= 0)) return cli_usage(V, "--l2 must be >= 0");
            pc.l2 = x;
            break;
        case O_TESTFRAC:
            if (cli_float(V, "--test-frac", optarg, &x)) return EXIT_USAGE;
            if (!(x > 0 && x < 1)) return cli_usage(V, "--test-frac must be in (0, 1)");
            pc.test_frac = x;
            break;
        case O_PSEED:
            if (cli_int(V, "--probe-seed", optarg, 0, 1L << 62, &v)) return EXIT_USAGE;
            pc.seed = (uint64_t)v;
            break;
        case O_MAXIT:
            if (cli_int(V, "--max-iter", optarg, 1, 1000000, &v)) return EXIT_USAGE;
            pc.max_iter = (int)v;
            break;
        default: return cli_usage(V, "unknown or incomplete option");
        }
    }
    if (!label) return cli_usage(V, "--label is required");
    if (!out) return cli_usage(V, "--out DIR is required");
    if (npy) {
        if (optind != argc) return cli_usage(V, "--npy takes no checkpoint");
        if (hook) return cli_usage(V, "--hook and --npy do not go together");
        if (strncmp(label, "file:", 5) || !label[5])
            return cli_usage(V, "--npy needs --label file:LABELS.npy (the built-in labels need "
                                "the tokens of a checkpoint run)");
    } else {
        if (optind != argc - 1) return cli_usage(V, "expected one checkpoint (or --npy)");
        if (!hook) return cli_usage(V, "--hook PATTERN is required");
    }
    if (a.threads && pool_set_threads((int)a.threads)) return cli_fail_err();

    int rc = EXIT_FAIL, n_res = 0;
    AnaRun r = {0};
    Cache cache = {0};
    Labels L = {0};
    Result *res = NULL;
    unsigned char *keep = NULL;
    float *acts = NULL, *X = NULL;
    char data_desc[4300] = "", pos_desc[256] = "all", hook_buf[1024];
    // The source matrices: one per hook point (rows x features, before the label filter).
    int n_src = 0;
    const float **src = NULL;
    int *feat = NULL;
    char (*names)[80] = NULL;
    size_t n_rows = 0;

    if (npy) {
        int ndim;
        int64_t shape[NPY_MAX_DIMS];
        if (npy_load_f32(npy, &acts, &ndim, shape)) {
            cli_fail_err();
            goto done;
        }
        if (ndim < 2 || shape[ndim - 1] < 1) {
            cli_fail("%s: activations must be [..., features] with at least 2 axes, got %d-D", npy,
                     ndim);
            goto done;
        }
        int64_t F = shape[ndim - 1], R = 1;
        for (int i = 0; i < ndim - 1; i++) R *= shape[i];
        if (F > 1 << 16 || R > INT32_MAX / 2) {
            cli_fail("%s: %lld rows x %lld features is more than a probe takes", npy, (long long)R,
                     (long long)F);
            goto done;
        }
        n_src = 1;
        n_rows = (size_t)R;
        src = malloc(sizeof *src);
        feat = malloc(sizeof *feat);
        names = malloc(sizeof *names);
        if (!src || !feat || !names) {
            cli_fail("out of memory");
            goto done;
        }
        src[0] = acts;
        feat[0] = (int)F;
        const char *base = strrchr(npy, '/');
        base = base ? base + 1 : npy;
        snprintf(names[0], sizeof names[0], "%.*s", (int)strcspn(base, "."), base);
        if (!names[0][0]) snprintf(names[0], sizeof names[0], "probe");
        snprintf(data_desc, sizeof data_desc, "%s", npy);
    } else {
        if (ana_open(&r, argv[optind], &a)) {
            cli_fail_err();
            goto done;
        }
        // Comma-separated patterns (hook names never contain one).
        if (strlen(hook) >= sizeof hook_buf) {
            rc = cli_usage(V, "--hook: too long");
            goto done;
        }
        snprintf(hook_buf, sizeof hook_buf, "%s", hook);
        const char *pats[32];
        int n_pat = 0;
        for (char *tok = strtok(hook_buf, ","); tok && n_pat < 32; tok = strtok(NULL, ","))
            pats[n_pat++] = tok;
        if (!n_pat) {
            rc = cli_usage(V, "--hook: no pattern given");
            goto done;
        }
        CacheOpts co = {.hooks = pats, .n_hooks = n_pat, .pos = r.pos, .n_pos = r.n_pos,
                        .batch = (int)a.batch};
        if (cache_run(r.m, &r.d, &co, &cache)) {
            if (strstr(err_msg(), "matches no hook point"))
                cli_fail("%s (list them with: mechlab hooks %s)", err_msg(), argv[optind]);
            else
                cli_fail_err();
            goto done;
        }
        n_src = cache.n_points;
        n_rows = (size_t)r.d.n * r.n_pos;
        src = malloc(sizeof *src * (size_t)n_src);
        feat = malloc(sizeof *feat * (size_t)n_src);
        names = malloc(sizeof *names * (size_t)n_src);
        if (!src || !feat || !names) {
            cli_fail("out of memory");
            goto done;
        }
        // Attention patterns and scores are [batch, head, query, key]: not one row per
        // position. A single one is an error; in a sweep they are skipped.
        int n_keep = 0;
        for (int i = 0; i < cache.n_points; i++) {
            const CachePoint *p = &cache.points[i];
            if (p->pos_axis != 1) {
                if (cache.n_points == 1) {
                    cli_fail("%s is [batch, head, query, key]; probe a point shaped [batch, "
                             "pos, ...]", p->name);
                    goto done;
                }
                fprintf(stderr, "mechlab probe: skipping %s ([batch, head, query, key])\n",
                        p->name);
                continue;
            }
            src[n_keep] = p->data;
            feat[n_keep] = (int)(p->seq_floats / (size_t)r.n_pos);
            snprintf(names[n_keep++], sizeof names[0], "%s", p->name);
        }
        n_src = n_keep;
        if (n_src == 0) {
            cli_fail("--hook '%s' matches only attention patterns/scores; probe points shaped "
                     "[batch, pos, ...]", hook);
            goto done;
        }
        snprintf(data_desc, sizeof data_desc, "%s, %d sequences", r.d.spec, r.d.n);
        ana_pos_str(pos_desc, sizeof pos_desc, r.pos, r.n_pos);
    }

    keep = malloc(n_rows ? n_rows : 1);
    if (!keep) {
        cli_fail("out of memory");
        goto done;
    }
    if (!strncmp(label, "file:", 5)) {
        if (file_labels(&L, label + 5, npy ? NULL : &r.d, r.pos, r.n_pos, n_rows, keep)) {
            cli_fail_err();
            goto done;
        }
    } else if (builtin_labels(&L, label, &r.d, r.pos, r.n_pos, keep)) {
        if (strstr(err_msg(), "expected repeat")) rc = cli_usage(V, "--%s", err_msg());
        else cli_fail_err();
        goto done;
    }
    if (!L.ridge && L.n_classes < 2) {
        cli_fail("label '%s' takes %s on the chosen rows: nothing to probe", label,
                 L.n_classes ? "a single value" : "no value");
        goto done;
    }
    if (L.rows < 4) {
        cli_fail("label '%s' leaves %d rows: too few to split into train and test", label, L.rows);
        goto done;
    }

    printf("probe '%s' on %s, positions %s: %d rows, ", label, data_desc, pos_desc, L.rows);
    if (L.ridge) printf("%d continuous target%s (ridge)\n", L.K, L.K == 1 ? "" : "s");
    else printf("%d classes (logistic%s)\n", L.n_classes, L.n_classes > 2 ? ", softmax" : "");
    if (!npy && !strcmp(label, "repeat") && r.d.kind == CACHE_DATA_REPEAT)
        printf("note: on repeat data 'repeat' is nearly a function of position; --data mixed "
               "separates the two\n");
    res = calloc((size_t)n_src, sizeof *res);
    if (!res) {
        cli_fail("out of memory");
        goto done;
    }
    if (L.ridge) printf("%-32s %8s %8s %8s %8s\n", "hook", "train R2", "test R2", "control", "select");
    else printf("%-32s %8s %8s %8s %8s %8s\n", "hook", "majority", "train", "test", "control",
                "select");
    for (int i = 0; i < n_src; i++, n_res++) {
        const int F = feat[i];
        free(X);
        X = malloc(sizeof(float) * (size_t)L.rows * F);
        if (!X) {
            cli_fail("out of memory");
            goto done;
        }
        size_t j = 0;
        for (size_t row = 0; row < n_rows; row++)
            if (keep[row]) memcpy(X + (j++) * F, src[i] + row * F, sizeof(float) * (size_t)F);
        Result *R = &res[i];
        snprintf(R->name, sizeof R->name, "%s", names[i]);
        R->features = F;
        R->p = L.ridge ? probe_train_ridge(X, L.Y, L.rows, F, L.K, &pc)
                       : probe_train_logistic(X, L.cls, L.rows, F, L.n_classes, &pc);
        if (!R->p) {
            cli_fail("%s: %s", names[i], err_msg());
            goto done;
        }
        const Probe *p = R->p;
        if (L.ridge) {
            printf("%-32s %8.4f %8.4f %8.4f %8.4f\n", R->name, p->train_r2, p->test_r2,
                   p->control_r2, p->selectivity);
        } else {
            int64_t best = 0;
            for (int ca = 0; ca < p->n_classes; ca++) {
                int64_t row = 0;
                for (int cb = 0; cb < p->n_classes; cb++) row += p->confusion[ca * p->n_classes + cb];
                if (row > best) best = row;
            }
            R->majority = (double)best / p->n_test;
            printf("%-32s %8.4f %8.4f %8.4f %8.4f %8.4f%s\n", R->name, R->majority, p->train_acc,
                   p->test_acc, p->control_acc, p->selectivity,
                   p->converged ? "" : "  (not converged)");
        }
        if (fileio_mkdirs(out) || save_probe(out, R, &L)) {
            cli_fail_err();
            goto done;
        }
    }
    if (save_metrics(out, res, n_res, &L, label, data_desc, pos_desc) ||
        (n_res > 1 && save_sweep(out, res, n_res, &L, label))) {
        cli_fail_err();
        goto done;
    }
    if (!L.ridge && L.n_classes == 2)
        printf("direction: towards class '%s' (logit > 0)\n", L.names[1]);
    printf("wrote %s/metrics.csv, metrics.json, <hook>.direction.npy%s%s\n", out,
           L.ridge ? "" : ", <hook>.confusion.svg",
           n_res > 1 ? (L.ridge ? ", r2_by_layer.svg" : ", accuracy_by_layer.svg") : "");
    rc = EXIT_OK;
done:
    for (int i = 0; i < n_res && res; i++) probe_free(res[i].p);
    if (res && n_res < n_src) probe_free(res[n_res].p);
    free(res);
    free(X);
    free(keep);
    free(acts);
    free(src);
    free(feat);
    free(names);
    labels_free(&L);
    cache_free(&cache);
    ana_close(&r);
    return rc;
}
