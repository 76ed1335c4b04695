// mechlab heads — attention-head analysis of any transformer checkpoint (interp/heads.h):
// TransformerLens head-detector scores, the in-context-learning score, copying scores,
// composition scores and ablation deltas, on repeated random sequences made for the model's
// vocabulary.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "datasets/tokens.h"
#include "interp/heads.h"
#include "interp/plot.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/json.h"
#include "model/pool.h"
#include "train/tf_checkpoint.h"
#include "train/tf_train.h"
#include "verbs.h"

static void usage(FILE *f) {
    fprintf(f,
        "Usage: mechlab heads CKPT [options]\n"
        "Analyse every attention head of a transformer checkpoint on repeated random sequences\n"
        "([BOS] r r, made for the model's vocabulary): TransformerLens head-detector scores\n"
        "(previous-token, duplicate-token, induction), the prefix-matching score (induction over\n"
        "the queries that have a target), the OV copying score, the in-context-learning score,\n"
        "Q/K/V composition between consecutive layers, and the change in repeated-half loss when\n"
        "each head is zero- or mean-ablated.\n\n"
        "  --out DIR        also write DIR/heads.csv, heads.json and scores.svg\n"
        "  --n N            sequences                                            [128]\n"
        "  --seq-len T      tokens per sequence (<= n_ctx)  [the training length, else n_ctx; one less\n"
        "                   when a fixed layout would leave a pad token at the end]\n"
        "  --bos | --no-bos start sequences with BOS (id d_vocab-1)   [as trained; else no BOS]\n"
        "  --repeat-min N   segment length drawn from [N, longest]; 0 = longest  [as trained; 0]\n"
        "  --seed S         the sequences                                         [1]\n"
        "  --raw-ln         circuits from the raw weights (default: fold LN weights, centre writes)\n"
        "  --threads N      worker threads\n"
        "  -h, --help\n");
}

// The repeat-data settings a mechlab training run stored (train_spec), if any.
static void trained_settings(const StFile *f, int *bos, int *rmin, int *seq) {
    const char *js = st_meta(f, "train_spec");
    JsonDoc doc = {0};
    if (!js || json_parse(&doc, js, strlen(js))) {
        err_clear();
        return;
    }
    const char *data = json_str(json_get(doc.root, "data"));
    int64_t v;
    if (data && !strcmp(data, "repeat")) {
        if (!json_int(json_get(doc.root, "use_bos"), 0, 1, &v)) *bos = (int)v;
        if (!json_int(json_get(doc.root, "repeat_min"), 0, 1 << 20, &v)) *rmin = (int)v;
    }
    if (!json_int(json_get(doc.root, "seq_len"), 0, 1 << 20, &v) && v > 0) *seq = (int)v;
    err_clear();
    json_free(&doc);
}

static const char *head_name(char *out, int i, int H) {
    snprintf(out, 32, "L%dH%d", i / H, i % H);
    return out;
}

int cmd_heads(int argc, char **argv) {
    static const struct option opts[] = {
        {"out", 1, 0, 'o'},      {"n", 1, 0, 'n'},       {"seq-len", 1, 0, 't'},
        {"bos", 0, 0, 'b'},      {"no-bos", 0, 0, 'B'},  {"repeat-min", 1, 0, 'r'},
        {"seed", 1, 0, 's'},     {"raw-ln", 0, 0, 'R'},  {"threads", 1, 0, 'j'},
        {"help", 0, 0, 'h'},     {0, 0, 0, 0}};
    const char *out = NULL;
    long n = 128, T = 0, rmin = -1, seed = 1, threads = 0, v;
    int bos = -1, fold = 1;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case 'o': out = optarg; break;
        case 'b': bos = 1; break;
        case 'B': bos = 0; break;
        case 'R': fold = 0; break;
        case 'n': case 't': case 'r': case 's': case 'j':
            if (cli_int("heads", cli_optname(opts, c), optarg, c == 'r' || c == 's' ? 0 : 1,
                        c == 'j' ? 256 : 1L << 24, &v))
                return EXIT_USAGE;
            if (c == 'n') n = v;
            if (c == 't') T = v;
            if (c == 'r') rmin = v;
            if (c == 's') seed = v;
            if (c == 'j') threads = v;
            break;
        default: return cli_usage("heads", "unknown or incomplete option");
        }
    }
    if (optind != argc - 1) return cli_usage("heads", "expected one checkpoint");
    if (threads && pool_set_threads((int)threads)) return cli_fail_err();
    char path[4096];
    if (cli_ckpt_path(argv[optind], path, sizeof path)) return cli_fail_err();
    StFile f;
    Transformer *m = tf_ckpt_load(path, 32, &f);
    if (!m) return cli_fail_err();
    int t_bos = 0, t_rmin = 0, t_seq = 0;
    trained_settings(&f, &t_bos, &t_rmin, &t_seq);
    st_close(&f);
    const TfConfig *cfg = &m->cfg;
    const int L = cfg->n_layers, H = cfg->n_heads, NH = L * H, V = cfg->d_vocab, dh = cfg->d_head;
    if (bos < 0) bos = t_bos;
    if (rmin < 0) rmin = t_rmin;
    if (T == 0) {
        T = t_seq > 0 && t_seq <= cfg->n_ctx ? t_seq : cfg->n_ctx;
        // Fixed layout: drop the random pad token an odd length leaves after the second copy (it
        // would be the ICL score's "late" token).
        if (rmin == 0 && (T - bos) % 2 && T - bos > 4) T--;
    }
    if (T > cfg->n_ctx) {
        tf_free(m);
        return cli_usage("heads", "--seq-len %ld is longer than n_ctx %d", T, cfg->n_ctx);
    }
    if (T - bos < 4 || V < 2 + bos) {
        tf_free(m);
        return cli_fail("%s: the model is too small for repeated sequences (n_ctx %d, vocab %d)",
                        path, cfg->n_ctx, V);
    }

    int rc = EXIT_FAIL;
    TokenData d;
    int *tok = malloc(sizeof(int) * n * T), *tg = malloc(sizeof(int) * n * T);
    TokRepeat *lay = malloc(sizeof(TokRepeat) * n);
    float *tl = malloc(sizeof(float) * 3 * NH), *tr = malloc(sizeof(float) * 3 * NH);
    float *means = malloc(sizeof(float) * NH * dh), *comp = NULL;
    double *lp = malloc(sizeof(double) * T), *abl = malloc(sizeof(double) * NH * 2);
    HeadsCopying *cp = calloc(NH, sizeof *cp);
    unsigned char *mask = malloc(NH);
    Buf csv = {0}, js = {0}, svg = {0};
    char nm[32];
    if (!tok || !tg || !lay || !tl || !tr || !means || !lp || !abl || !cp || !mask) {
        cli_fail("out of memory");
        goto done;
    }
    if (tokens_init_synthetic(&d, TOK_REPEAT, V, bos)) {
        cli_fail_err();
        goto done;
    }
    d.rep_min = (int)rmin;
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    tokens_batch_layout(&d, &rng, 1, tok, tg, (int)n, (int)T, lay);
    tokens_free(&d);

    HeadsScoreOpts o_tl = {0}, o_tr = {.target_rows_only = 1};
    double val, first, rep;
    if (heads_detect(m, tok, (int)n, (int)T, NULL, &o_tl, tl) ||
        heads_detect(m, tok, (int)n, (int)T, NULL, &o_tr, tr) ||
        heads_position_losses(m, tok, tg, (int)n, (int)T, NULL, lp) ||
        tftrain_losses(m, tok, tg, lay, (int)n, (int)T, NULL, &val, &first, &rep) ||
        heads_z_means(m, tok, (int)n, (int)T, means)) {
        cli_fail_err();
        goto done;
    }
    for (int i = 0; i < NH; i++) {
        if (heads_copying(m, i / H, i % H, fold, &cp[i])) {
            cli_fail_err();
            goto done;
        }
        for (int k = 0; k < 2; k++) {
            memset(mask, 0, NH);
            mask[i] = 1;
            HeadsAblation a = {.kind = k ? HEADS_ABLATE_MEAN : HEADS_ABLATE_ZERO, .n_layers = L,
                               .n_heads = H, .d_head = dh, .mask = mask, .means = means};
            HookList hl = {0};
            double v2, f2, r2;
            int e = heads_ablation_hooks(&hl, &a) ||
                    tftrain_losses(m, tok, tg, lay, (int)n, (int)T, &hl, &v2, &f2, &r2);
            hooks_free(&hl);
            if (e) {
                cli_fail_err();
                goto done;
            }
            abl[2 * i + k] = r2 - rep;
        }
    }
    HeadsIcl icl = heads_icl_score(lp, (int)T);
    printf("%s: %d layers x %d heads, d_model %d, vocab %d\n", path, L, H, cfg->d_model, V);
    if (rmin)
        printf("%ld repeated random sequences of %ld tokens (%s, segment length %ld..%ld, repeated "
               "to the end), seed %ld\n", n, T, bos ? "BOS first" : "no BOS", rmin, (T - bos) / 2, seed);
    else
        printf("%ld repeated random sequences of %ld tokens (%s, a segment of %ld twice), seed %ld\n",
               n, T, bos ? "BOS first" : "no BOS", (T - bos) / 2, seed);
    printf("loss: all %.4f  first half %.4f  repeated half %.4f nat;  ICL score %.4f (loss at "
           "token %d minus token %d)\n\n",
           val, first, rep, icl.score, icl.k_late, icl.k_early);
    printf("%-6s %8s %8s %8s %8s %8s %8s %11s %11s\n", "head", "prev", "dup", "ind", "dup_t",
           "prefix", "copying", "d_rep_zero", "d_rep_mean");
    buf_puts(&csv, "head,layer,index,previous_token_head,duplicate_token_head,induction_head,"
                   "duplicate_target_rows,prefix_matching,copying_eig,copying_top1,"
                   "delta_repeat_loss_zero,delta_repeat_loss_mean\n");
    for (int i = 0; i < NH; i++) {
        printf("%-6s %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %11.3f %11.3f\n", head_name(nm, i, H),
               tl[i], tl[NH + i], tl[2 * NH + i], tr[NH + i], tr[2 * NH + i], cp[i].eig,
               abl[2 * i], abl[2 * i + 1]);
        buf_printf(&csv, "%s,%d,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", nm, i / H, i % H,
                   tl[i], tl[NH + i], tl[2 * NH + i], tr[NH + i], tr[2 * NH + i], cp[i].eig,
                   cp[i].top1, abl[2 * i], abl[2 * i + 1]);
    }
    printf("(prev/dup/ind: TransformerLens scores; dup_t/prefix: over the queries that have a "
           "target; copying: Elhage et al.'s eigenvalue score of W_E W_OV W_U; d_rep: change in "
           "repeated-half loss when the head is ablated)\n");
    if (L > 1) {
        size_t nc = (size_t)(L - 1) * H * H;
        comp = malloc(sizeof(float) * nc * 3);
        if (!comp || heads_composition(m, fold, comp, comp + nc, comp + 2 * nc)) {
            comp ? cli_fail_err() : cli_fail("out of memory");
            goto done;
        }
        static const char *const kinds[3] = {"Q", "K", "V"};
        for (int l = 0; l + 1 < L; l++)
            for (int k = 0; k < 3; k++) {
                printf("\n%s-composition, layer %d heads (rows) into layer %d heads (columns):\n%6s",
                       kinds[k], l, l + 1, "");
                for (int j = 0; j < H; j++) printf(" %7s", head_name(nm, (l + 1) * H + j, H));
                printf("\n");
                for (int i = 0; i < H; i++) {
                    printf("%-6s", head_name(nm, l * H + i, H));
                    for (int j = 0; j < H; j++)
                        printf(" %7.3f", comp[k * nc + ((size_t)l * H + i) * H + j]);
                    printf("\n");
                }
            }
    }
    if (out) {
        if (fileio_mkdirs(out)) {
            cli_fail_err();
            goto done;
        }
        char p[4200];
        buf_printf(&js, "{\"checkpoint\": ");
        buf_put_json_str(&js, path);
        buf_printf(&js, ", \"sequences\": %ld, \"seq_len\": %ld, \"bos\": %d, \"repeat_min\": %ld, "
                        "\"seed\": %ld, \"fold_ln\": %d, \"loss\": ",
                   n, T, bos, rmin, seed, fold);
        json_put_double(&js, val);
        buf_puts(&js, ", \"loss_first_half\": ");
        json_put_double(&js, first);
        buf_puts(&js, ", \"loss_repeat_half\": ");
        json_put_double(&js, rep);
        buf_puts(&js, ", \"icl_score\": ");
        json_put_double(&js, icl.score);
        buf_puts(&js, ", \"heads\": [");
        for (int i = 0; i < NH; i++) {
            buf_printf(&js, "%s{\"head\": \"%s\", \"previous_token_head\": ", i ? ", " : "",
                       head_name(nm, i, H));
            json_put_float(&js, tl[i]);
            buf_puts(&js, ", \"duplicate_token_head\": ");
            json_put_float(&js, tl[NH + i]);
            buf_puts(&js, ", \"induction_head\": ");
            json_put_float(&js, tl[2 * NH + i]);
            buf_puts(&js, ", \"prefix_matching\": ");
            json_put_float(&js, tr[2 * NH + i]);
            buf_puts(&js, ", \"copying_eig\": ");
            json_put_double(&js, cp[i].eig);
            buf_puts(&js, ", \"delta_repeat_loss_zero\": ");
            json_put_double(&js, abl[2 * i]);
            buf_puts(&js, ", \"delta_repeat_loss_mean\": ");
            json_put_double(&js, abl[2 * i + 1]);
            buf_puts(&js, "}");
        }
        buf_puts(&js, "]");
        if (comp) {
            static const char *const keys[3] = {"composition_q", "composition_k", "composition_v"};
            size_t nc = (size_t)(L - 1) * H * H;
            for (int k = 0; k < 3; k++) {
                buf_printf(&js, ", \"%s\": [", keys[k]);
                for (size_t i = 0; i < nc; i++) {
                    if (i) buf_puts(&js, ", ");
                    json_put_float(&js, comp[k * nc + i]);
                }
                buf_puts(&js, "]");
            }
        }
        buf_puts(&js, "}\n");
        // Scores heatmap: one row per head, one column per score.
        float *hm = malloc(sizeof(float) * NH * 5);
        const char **rl = malloc(sizeof(char *) * NH);
        char (*rn)[32] = malloc(sizeof(*rn) * NH);
        int e = !hm || !rl || !rn;
        if (!e) {
            for (int i = 0; i < NH; i++) {
                hm[i * 5 + 0] = tl[i], hm[i * 5 + 1] = tl[NH + i], hm[i * 5 + 2] = tl[2 * NH + i];
                hm[i * 5 + 3] = tr[NH + i], hm[i * 5 + 4] = tr[2 * NH + i];
                rl[i] = head_name(rn[i], i, H);
            }
            static const char *const cl[5] = {"prev", "dup", "ind", "dup (targets)", "prefix"};
            PlotHeatmap h = {.data = hm, .rows = NH, .cols = 5, .row_labels = rl, .col_labels = cl,
                             .show_values = 1, .value_fmt = "%.2f",
                             .scale = {.cmap = PLOT_SEQUENTIAL, .vmin = 0, .vmax = 1, .label = "score"}};
            PlotOpts po = {.title = "Head scores", .xlabel = "score", .ylabel = "head"};
            e = plot_heatmap(&svg, &po, &h);
        } else {
            err_set("out of memory");
        }
        free(hm);
        free(rl);
        free(rn);
        snprintf(p, sizeof p, "%s/scores.svg", out);
        if (e || plot_save(p, &svg)) {
            cli_fail_err();
            goto done;
        }
        snprintf(p, sizeof p, "%s/heads.csv", out);
        if (csv.oom || fileio_write_all(p, csv.p, csv.len)) {
            csv.oom ? cli_fail("out of memory") : cli_fail_err();
            goto done;
        }
        snprintf(p, sizeof p, "%s/heads.json", out);
        if (js.oom || fileio_write_all(p, js.p, js.len)) {
            js.oom ? cli_fail("out of memory") : cli_fail_err();
            goto done;
        }
        printf("\nwrote %s/heads.csv, heads.json, scores.svg\n", out);
    }
    rc = EXIT_OK;
done:
    free(tok), free(tg), free(lay), free(tl), free(tr), free(means), free(comp), free(lp);
    free(abl), free(cp), free(mask);
    buf_free(&csv), buf_free(&js), buf_free(&svg);
    tf_free(m);
    return rc;
}
