// mechlab lens — the logit lens (every layer's residual stream decoded as if it were the last)
// and direct logit attribution (the logit of the correct token split into what each component
// wrote into the residual stream), on a checkpoint over a dataset.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "cli.h"
#include "datasets/npy.h"
#include "interp/lens.h"
#include "interp/plot.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/json.h"
#include "verbs.h"

#define PRINT_MAX 40  // components printed in full; beyond that the largest by |mean|

static void usage(FILE *f) {
    fprintf(f,
            "Usage: mechlab lens CKPT --out DIR [options]\n"
            "Direct logit attribution: the final residual stream at each chosen position is the\n"
            "sum of embed, pos_embed, every head's output, every attention b_O and every MLP's\n"
            "output; each is centred and divided by the final LayerNorm's scale from the real\n"
            "forward pass (TransformerLens' apply_ln_to_stack), then projected on the\n"
            "unembedding direction of the token (ln_final.w folded in). The LayerNorm and\n"
            "unembedding biases form one more component, 'bias', so the components sum to the\n"
            "model's logit (up to float rounding; the sum is checked and printed). The logit\n"
            "lens decodes the residual stream after each block\n"
            "with the final LayerNorm and W_U: accuracy and log-prob of the next token by layer.\n\n"
            "  --token T      whose logit to attribute: next (the true next token) or an id [next]\n"
            "  --vs ID        attribute the logit difference: token T minus token ID\n"
            "  --out DIR      dla.csv, dla.json, dla.svg, dla.npy [rows, components] with\n"
            "                 dla_rows.npy [rows, 2] (sequence, position); lens.csv, lens.svg,\n"
            "                 lens_top.csv (the lens's top token per layer, first sequence)\n"
            ANA_DATA_HELP
            "  -h, --help\n");
}

enum { O_TOKEN = 256, O_VS, O_OUT };

typedef struct {
    int nc;
    double *sum, *sumsq, *sumabs;  // [nc]
    double logit_sum, max_err;     // Σ model logit; max |Σ components − logit| over rows
    long rows;
} DlaAcc;

static int write_dla(const char *dir, const DlaAcc *A, const TfConfig *cfg, const char *target,
                     const char *data, const char *pos) {
    const int nc = A->nc;
    Buf csv = {0}, js = {0};
    char nm[64];
    buf_puts(&csv, "component,mean,std,mean_abs\n");
    buf_puts(&js, "{\n  \"target\": ");
    buf_put_json_str(&js, target);
    buf_puts(&js, ",\n  \"data\": ");
    buf_put_json_str(&js, data);
    buf_puts(&js, ",\n  \"positions\": ");
    buf_put_json_str(&js, pos);
    buf_printf(&js, ",\n  \"rows\": %ld,\n  \"mean_logit\": ", A->rows);
    json_put_double(&js, A->logit_sum / A->rows);
    buf_puts(&js, ",\n  \"max_abs_sum_minus_logit\": ");
    json_put_double(&js, A->max_err);
    buf_puts(&js, ",\n  \"components\": [");
    float *mean = malloc(sizeof(float) * (size_t)nc);
    const char **labels = malloc(sizeof(char *) * (size_t)nc);
    char(*names)[64] = malloc(sizeof *names * (size_t)nc);
    if (!mean || !labels || !names) {
        free(mean), free(labels), free(names);
        buf_free(&csv), buf_free(&js);
        return err_set("out of memory");
    }
    for (int i = 0; i < nc; i++) {
        lens_component_name(cfg, i, nm, sizeof nm);
        double m = A->sum[i] / A->rows, var = A->sumsq[i] / A->rows - m * m;
        double sd = var > 0 ? sqrt(var) : 0;
        buf_printf(&csv, "%s,%.9g,%.9g,%.9g\n", nm, m, sd, A->sumabs[i] / A->rows);
        buf_puts(&js, i ? ",\n    {\"name\": " : "\n    {\"name\": ");
        buf_put_json_str(&js, nm);
        buf_puts(&js, ", \"mean\": ");
        json_put_double(&js, m);
        buf_puts(&js, ", \"std\": ");
        json_put_double(&js, sd);
        buf_puts(&js, "}");
        mean[i] = (float)m;
        snprintf(names[i], sizeof names[i], "%s", nm);
        labels[i] = names[i];
    }
    buf_puts(&js, "\n  ]\n}\n");
    char title[200];
    snprintf(title, sizeof title, "Direct logit attribution: %s (mean over %ld rows)", target,
             A->rows);
    PlotOpts o = {.title = title, .xlabel = "contribution to the logit"};
    PlotBars b = {.values = mean, .n = nc, .labels = labels, .horizontal = 1,
                  .show_values = nc <= 40};
    Buf svg = {0};
    int rc = plot_bars(&svg, &o, &b);
    if (!rc) rc = ana_write(dir, "dla.svg", &svg);
    if (!rc) rc = ana_write(dir, "dla.csv", &csv);
    if (!rc) rc = ana_write(dir, "dla.json", &js);
    buf_free(&svg), buf_free(&csv), buf_free(&js);
    free(mean), free(labels), free(names);
    return rc;
}

static int write_lens(const char *dir, const LensStats *s) {
    Buf csv = {0};
    const int K = s->n_streams;
    float *x = malloc(sizeof(float) * (size_t)K), *acc = malloc(sizeof(float) * (size_t)K),
          *pr = malloc(sizeof(float) * (size_t)K);
    if (!x || !acc || !pr) {
        free(x), free(acc), free(pr);
        return err_set("out of memory");
    }
    buf_puts(&csv, "blocks,accuracy,mean_logprob,mean_prob\n");
    for (int k = 0; k < K; k++) {
        x[k] = (float)k;
        acc[k] = (float)((double)s->correct[k] / s->count);
        pr[k] = (float)(s->prob_sum[k] / s->count);
        buf_printf(&csv, "%d,%.9g,%.9g,%.9g\n", k, (double)s->correct[k] / s->count,
                   s->logprob_sum[k] / s->count, s->prob_sum[k] / s->count);
    }
    PlotSeries ser[2] = {{.x = x, .y = acc, .n = K, .label = "top-1 accuracy", .markers = 1},
                         {.x = x, .y = pr, .n = K, .label = "mean p(next token)", .dashed = 1,
                          .markers = 1}};
    PlotOpts o = {.title = "Logit lens: the residual stream after each block, decoded",
                  .xlabel = "blocks applied (0 = embeddings)", .ylabel = "next-token prediction",
                  .ymin = 0, .ymax = 1};
    Buf svg = {0};
    int rc = plot_line(&svg, &o, ser, 2);
    if (!rc) rc = ana_write(dir, "lens.svg", &svg);
    if (!rc) rc = ana_write(dir, "lens.csv", &csv);
    buf_free(&svg), buf_free(&csv);
    free(x), free(acc), free(pr);
    return rc;
}

int cmd_lens(int argc, char **argv) {
    static const struct option opts[] = {{"token", 1, 0, O_TOKEN}, {"vs", 1, 0, O_VS},
                                         {"out", 1, 0, O_OUT},     ANA_DATA_OPTIONS,
                                         {"help", 0, 0, 'h'},      {0, 0, 0, 0}};
    const char *V = "lens";
    AnaOpts a = ana_defaults();
    const char *out = NULL;
    long tok_id = -1, vs = -1;  // tok_id -1: the next token
    optind = 1;
    int c, h;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if ((h = ana_option(&a, V, c, optarg)) < 0) return EXIT_USAGE;
        if (h) continue;
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case O_OUT: out = optarg; break;
        case O_TOKEN:
            if (strcmp(optarg, "next") && cli_int(V, "--token", optarg, 0, 1 << 24, &tok_id))
                return EXIT_USAGE;
            break;
        case O_VS: if (cli_int(V, "--vs", optarg, 0, 1 << 24, &vs)) return EXIT_USAGE; break;
        default: return cli_usage(V, "unknown or incomplete option");
        }
    }
    if (optind != argc - 1) return cli_usage(V, "expected one checkpoint");
    if (!out) return cli_usage(V, "--out DIR is required");

    int rc = EXIT_FAIL;
    AnaRun r;
    if (ana_open(&r, argv[optind], &a)) return cli_fail_err();
    const TfConfig *cfg = &r.m->cfg;
    const int N = r.d.n, T = r.d.T, NC = lens_n_components(cfg), B = (int)a.batch;
    DlaAcc A = {.nc = NC};
    LensStats ls = {0};
    NpyWriter wa = {0}, wr = {0};
    int *targets = malloc(sizeof(int) * (size_t)N * T), *sel = calloc((size_t)T, sizeof(int));
    int *ta = malloc(sizeof(int) * (size_t)B * T), *tb = malloc(sizeof(int) * (size_t)B * T),
        *lt = malloc(sizeof(int) * (size_t)B * T), *top = NULL;
    double *attr = malloc(sizeof(double) * (size_t)B * T * NC),
           *logit = malloc(sizeof(double) * (size_t)B * T);
    float *rowbuf = malloc(sizeof(float) * (size_t)NC);
    A.sum = calloc((size_t)NC, sizeof(double));
    A.sumsq = calloc((size_t)NC, sizeof(double));
    A.sumabs = calloc((size_t)NC, sizeof(double));
    char target_desc[128], pos_desc[256], data_desc[4300], path[4200];
    if (!targets || !sel || !ta || !tb || !lt || !attr || !logit || !rowbuf || !A.sum ||
        !A.sumsq || !A.sumabs || lens_stats_init(&ls, cfg)) {
        cli_fail("out of memory");
        goto done;
    }
    if ((tok_id >= cfg->d_vocab) || vs >= cfg->d_vocab) {
        rc = cli_usage(V, "token id %ld is outside the vocabulary [0, %d)",
                       tok_id >= cfg->d_vocab ? tok_id : vs, cfg->d_vocab);
        goto done;
    }
    top = malloc(sizeof(int) * (size_t)(cfg->n_layers + 1) * B * T);
    if (!top) {
        cli_fail("out of memory");
        goto done;
    }
    cache_data_targets(&r.d, targets);
    for (int k = 0; k < r.n_pos; k++) sel[r.pos[k]] = 1;
    if (tok_id < 0) snprintf(target_desc, sizeof target_desc, "logit of the next token");
    else snprintf(target_desc, sizeof target_desc, "logit of token %ld", tok_id);
    if (vs >= 0)
        snprintf(target_desc + strlen(target_desc), sizeof target_desc - strlen(target_desc),
                 " minus token %ld", vs);
    ana_pos_str(pos_desc, sizeof pos_desc, r.pos, r.n_pos);
    snprintf(data_desc, sizeof data_desc, "%s, %d sequences", r.d.spec, N);

    if (fileio_mkdirs(out)) {
        cli_fail_err();
        goto done;
    }
    int64_t ash[2] = {NPY_ROWS_UNKNOWN, NC}, rsh[2] = {NPY_ROWS_UNKNOWN, 2};
    if (ana_path(path, sizeof path, out, "dla.npy") ||
        npy_writer_begin(&wa, path, NPY_F32, 2, ash) ||
        ana_path(path, sizeof path, out, "dla_rows.npy") ||
        npy_writer_begin(&wr, path, NPY_I32, 2, rsh)) {
        cli_fail_err();
        goto done;
    }
    Buf topcsv = {0};
    buf_puts(&topcsv, "seq,pos,token,next");
    for (int k = 0; k <= cfg->n_layers; k++) buf_printf(&topcsv, ",top_after_%d_blocks", k);
    buf_puts(&topcsv, "\n");
    for (int b0 = 0; b0 < N; b0 += B) {
        const int Bc = N - b0 < B ? N - b0 : B;
        const int *tok = r.d.tokens + (size_t)b0 * T;
        for (int i = 0; i < Bc * T; i++) {
            const int t = i % T, tg = targets[(size_t)b0 * T + i];
            ta[i] = !sel[t] ? -1 : tok_id >= 0 ? (int)tok_id : tg;
            tb[i] = ta[i] >= 0 ? (int)vs : -1;
            lt[i] = sel[t] ? tg : -1;
        }
        if (lens_dla(r.m, tok, Bc, T, ta, tb, attr, logit) ||
            lens_logit_lens(r.m, tok, lt, Bc, T, &ls, top)) {
            cli_fail_err();
            buf_free(&topcsv);
            goto done;
        }
        for (int i = 0; i < Bc * T; i++) {
            if (ta[i] < 0) continue;
            const double *ai = attr + (size_t)i * NC;
            double s = 0;
            for (int j = 0; j < NC; j++) {
                A.sum[j] += ai[j];
                A.sumsq[j] += ai[j] * ai[j];
                A.sumabs[j] += fabs(ai[j]);
                s += ai[j];
                rowbuf[j] = (float)ai[j];
            }
            if (fabs(s - logit[i]) > A.max_err) A.max_err = fabs(s - logit[i]);
            A.logit_sum += logit[i];
            A.rows++;
            int32_t rowid[2] = {b0 + i / T, i % T};
            if (npy_writer_write(&wa, rowbuf, 1) || npy_writer_write(&wr, rowid, 1)) {
                cli_fail_err();
                buf_free(&topcsv);
                goto done;
            }
        }
        if (b0 == 0)
            for (int t = 0; t < T; t++) {
                if (!sel[t]) continue;
                buf_printf(&topcsv, "0,%d,%d,%d", t, tok[t], targets[t]);
                for (int k = 0; k <= cfg->n_layers; k++)
                    buf_printf(&topcsv, ",%d", top[(size_t)k * Bc * T + t]);
                buf_puts(&topcsv, "\n");
            }
    }
    if (A.rows == 0 || ls.count == 0) {
        cli_fail("no position with a next token among the chosen positions (%s)", pos_desc);
        buf_free(&topcsv);
        goto done;
    }
    {
        int e = npy_writer_commit(&wa) || npy_writer_commit(&wr) ||
                ana_write(out, "lens_top.csv", &topcsv) ||
                write_dla(out, &A, cfg, target_desc, data_desc, pos_desc) || write_lens(out, &ls);
        buf_free(&topcsv);
        if (e) {
            cli_fail_err();
            goto done;
        }
    }

    printf("direct logit attribution: %s, mean over %ld rows (%s, positions %s)\n", target_desc,
           A.rows, data_desc, pos_desc);
    printf("%-14s %10s %10s\n", "component", "mean", "std");
    {
        // All components in model order, or the largest by |mean| for a big model.
        int *order = malloc(sizeof(int) * (size_t)NC);
        if (!order) {
            cli_fail("out of memory");
            goto done;
        }
        for (int i = 0; i < NC; i++) order[i] = i;
        int shown = NC;
        if (NC > PRINT_MAX) {
            for (int i = 1; i < NC; i++)  // insertion sort by |mean|, descending
                for (int j = i; j > 0 && fabs(A.sum[order[j]]) > fabs(A.sum[order[j - 1]]); j--) {
                    int t = order[j];
                    order[j] = order[j - 1];
                    order[j - 1] = t;
                }
            shown = PRINT_MAX / 2;
        }
        char nm[64];
        for (int k = 0; k < shown; k++) {
            int i = order[k];
            double m = A.sum[i] / A.rows, var = A.sumsq[i] / A.rows - m * m;
            lens_component_name(cfg, i, nm, sizeof nm);
            printf("%-14s %10.4f %10.4f\n", nm, m, var > 0 ? sqrt(var) : 0);
        }
        if (shown < NC) printf("(%d more components in %s/dla.csv)\n", NC - shown, out);
        free(order);
        double tot = 0;
        for (int i = 0; i < NC; i++) tot += A.sum[i];
        printf("%-14s %10.4f   model: %.4f; max |sum - logit| over rows %.2g\n", "sum",
               tot / A.rows, A.logit_sum / A.rows, A.max_err);
    }
    printf("\nlogit lens: next-token prediction from the residual stream after k blocks "
           "(%ld rows)\n",
           (long)ls.count);
    printf("%-8s %10s %12s %12s\n", "blocks", "accuracy", "mean log p", "mean p");
    for (int k = 0; k < ls.n_streams; k++)
        printf("%-8d %10.4f %12.4f %12.4f\n", k, (double)ls.correct[k] / ls.count,
               ls.logprob_sum[k] / ls.count, ls.prob_sum[k] / ls.count);
    printf("wrote %s/dla.csv, dla.json, dla.svg, dla.npy, dla_rows.npy, lens.csv, lens.svg, "
           "lens_top.csv\n",
           out);
    rc = EXIT_OK;
done:
    npy_writer_abort(&wa);
    npy_writer_abort(&wr);
    free(targets), free(sel), free(ta), free(tb), free(lt), free(top), free(attr), free(logit);
    free(rowbuf), free(A.sum), free(A.sumsq), free(A.sumabs);
    lens_stats_free(&ls);
    ana_close(&r);
    return rc;
}
