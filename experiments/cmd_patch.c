// mechlab patch — activation patching, ablation, path patching and attribution patching of a
// transformer checkpoint on clean/corrupted pairs (interp/patch.h): prints the top sites and,
// with --method both, how well attribution tracks exact patching; writes CSV, JSON, .npy, SVG
// heatmaps and report.html.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "datasets/npy.h"
#include "interp/patch.h"
#include "interp/plot.h"
#include "interp/report.h"
#include "model/buf.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/json.h"
#include "model/pool.h"
#include "train/tf_checkpoint.h"
#include "verbs.h"

#define IND_SCORE_MIN 0.3   // a head "is an induction head" on the pairs above this score
#define IND_EFFECT_MIN 0.15  // issue 6: every layer-1 induction head denoises at least this
#define PEARSON_MIN 0.9      // issue 6: attribution vs exact per-head denoising

static void usage(FILE *f) {
    fprintf(f,
        "Usage: mechlab patch CKPT --out DIR [options]\n"
        "Activation patching and attribution patching of a transformer on clean/corrupted pairs.\n"
        "Effects are normalised metrics: 0 = the corrupted run, 1 = the clean run.\n\n"
        "Inputs (built-in induction pairs unless --clean/--corrupt are given):\n"
        "  --pairs induction    repeated sequences vs the same with the first half resampled;\n"
        "                       scored: the repeated tokens (from the repeat's 2nd token on)\n"
        "  --n-pairs N          [32]   --seed S [0]\n"
        "  --seq-len T          [the checkpoint's training length, else n_ctx]\n"
        "  --bos | --no-bos     start with BOS (id d_vocab-1) [as the checkpoint was trained]\n"
        "  --clean A.npy --corrupt B.npy   integer tokens [N, T], the same shape\n"
        "  --score FROM:TO      with files: positions t whose next clean token clean[t+1] is\n"
        "                       scored [T-2:T-2, i.e. the last token is the answer]\n"
        "Metric:\n"
        "  --metric logprob|logit-diff     mean log-prob of the answers, or mean logit\n"
        "                       difference answer - wrong                       [logprob]\n"
        "  --wrong mean|corrupt|ID         logit-diff: against the mean logit, the corrupted\n"
        "                       sequence's next token, or a token id            [mean]\n"
        "Patching:\n"
        "  --sites LIST         comma-separated from resid_pre,attn_out,mlp_out,head,head_pos\n"
        "                       [all that the model has]\n"
        "  --mode M             denoise (clean into the corrupted run), noise (corrupted into the\n"
        "                       clean run), zero or mean (ablate in the clean run)   [denoise]\n"
        "  --method M           exact, attribution or both                      [both]\n"
        "  --path L.H           also path-patch from head L.H into the q, k and v input of every\n"
        "                       head of a later layer (denoise or noise)\n"
        "  --top K              sites listed per kind [5]\n"
        "  --batch N            sequences per forward pass [32]\n"
        "  --threads N          worker threads\n"
        "  -h, --help\n\n"
        "Writes DIR/patch.csv, DIR/patch.json, DIR/<site>.svg (exact | attribution side by side),\n"
        "DIR/<site>_exact.npy / _attr.npy, DIR/path.csv (with --path) and DIR/report.html.\n");
}

typedef struct {
    PatchSite site;
    PatchGrid g;
    double r;  // Pearson r of exact and attribution (NaN unless both)
} SiteResult;

// The change a cell makes: denoise effects count up from 0, the others down from 1.
static float effect(PatchMode mode, float v) { return mode == PATCH_DENOISE ? v : v - 1.0f; }

static void cell_name(char *out, size_t n, const Transformer *m, PatchSite s, int r, int c) {
    int H = m->cfg.n_heads;
    switch (s) {
    case PATCH_SITE_HEAD: snprintf(out, n, "L%dH%d", r, c); break;
    case PATCH_SITE_HEAD_POS: snprintf(out, n, "L%dH%d pos %d", r / H, r % H, c); break;
    default: snprintf(out, n, "L%d pos %d", r, c); break;
    }
}

static void print_top(const Transformer *m, const SiteResult *sr, PatchMode mode, int top) {
    const PatchGrid *g = &sr->g;
    const float *key = g->exact ? g->exact : g->attr;
    int n = g->rows * g->cols, *idx = malloc(sizeof(int) * (size_t)n);
    if (!idx) return;
    for (int i = 0; i < n; i++) idx[i] = i;
    // selection of the `top` largest |effect| (n is small)
    int k = top < n ? top : n;
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < n; j++)
            if (fabsf(effect(mode, key[idx[j]])) > fabsf(effect(mode, key[idx[i]]))) {
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
            }
    printf("%s [%d x %d]", patch_site_name(sr->site), g->rows, g->cols);
    if (!isnan(sr->r)) printf("  Pearson r(attribution, exact) = %.4f", sr->r);
    printf("\n");
    for (int i = 0; i < k; i++) {
        char nm[64];
        cell_name(nm, sizeof nm, m, sr->site, idx[i] / g->cols, idx[i] % g->cols);
        printf("  %-16s", nm);
        if (g->exact) printf("  exact %8.4f", g->exact[idx[i]]);
        if (g->attr) printf("  attribution %8.4f", g->attr[idx[i]]);
        printf("\n");
    }
    free(idx);
}

// Labels for a heatmap axis; storage in one block.
typedef struct {
    char (*s)[24];
    const char **p;
} Labels;

static int labels_make(Labels *l, int n) {
    l->s = malloc(sizeof *l->s * (size_t)n);
    l->p = malloc(sizeof *l->p * (size_t)n);
    if (!l->s || !l->p) return err_set("out of memory");
    for (int i = 0; i < n; i++) {
        l->s[i][0] = 0;
        l->p[i] = l->s[i];
    }
    return 0;
}

static void labels_free(Labels *l) {
    free(l->s);
    free(l->p);
}

// One SVG per site: the exact and attribution effects side by side (a grey column between),
// white = no effect.
static int write_heatmap(const char *dir, const Transformer *m, const SiteResult *sr,
                         PatchMode mode, Buf *svg) {
    const PatchGrid *g = &sr->g;
    const int both = g->exact && g->attr, C = both ? 2 * g->cols + 1 : g->cols, R = g->rows;
    float *d = malloc(sizeof(float) * (size_t)R * C);
    Labels rl = {0}, cl = {0};
    int rc = -1;
    if (!d || labels_make(&rl, R) || labels_make(&cl, C)) {
        err_set("out of memory");
        goto done;
    }
    for (int r = 0; r < R; r++) {
        if (sr->site == PATCH_SITE_HEAD_POS)
            snprintf(rl.s[r], 24, "L%dH%d", r / m->cfg.n_heads, r % m->cfg.n_heads);
        else
            snprintf(rl.s[r], 24, "L%d", r);
        for (int c = 0; c < C; c++) {
            const float *src = g->exact ? g->exact : g->attr;
            int cc = c;
            if (both && c == g->cols) {
                d[(size_t)r * C + c] = NAN;
                continue;
            }
            if (both && c > g->cols) src = g->attr, cc = c - g->cols - 1;
            d[(size_t)r * C + c] = effect(mode, src[(size_t)r * g->cols + cc]);
        }
    }
    for (int c = 0; c < C; c++) {
        int cc = both && c > g->cols ? c - g->cols - 1 : c;
        if (both && c == g->cols) continue;
        snprintf(cl.s[c], 24, sr->site == PATCH_SITE_HEAD ? "H%d" : "%d", cc);
    }
    char title[160], xl[96], path[4200];
    snprintf(title, sizeof title, "%s, %s: %s", patch_site_name(sr->site), patch_mode_name(mode),
             both ? "exact (left) | attribution (right)" : g->exact ? "exact" : "attribution");
    snprintf(xl, sizeof xl, "%s", sr->site == PATCH_SITE_HEAD ? "head" : "position");
    PlotOpts o = {.title = title, .xlabel = xl,
                  .ylabel = sr->site == PATCH_SITE_HEAD_POS ? "layer, head" : "layer"};
    PlotHeatmap h = {.data = d, .rows = R, .cols = C, .row_labels = rl.p, .col_labels = cl.p,
                     .scale = {.cmap = PLOT_DIVERGING, .label = "effect"},
                     .show_values = R * C <= 64};
    buf_reset(svg);
    snprintf(path, sizeof path, "%s/%s.svg", dir, patch_site_name(sr->site));
    if (plot_heatmap(svg, &o, &h) || plot_save(path, svg)) goto done;
    rc = 0;
done:
    free(d);
    labels_free(&rl);
    labels_free(&cl);
    return rc;
}

static int write_npy(const char *dir, const SiteResult *sr) {
    char path[4200];
    int64_t shape[2] = {sr->g.rows, sr->g.cols};
    const float *arr[2] = {sr->g.exact, sr->g.attr};
    const char *suf[2] = {"exact", "attr"};
    for (int k = 0; k < 2; k++) {
        if (!arr[k]) continue;
        snprintf(path, sizeof path, "%s/%s_%s.npy", dir, patch_site_name(sr->site), suf[k]);
        if (npy_save_f32(path, arr[k], 2, shape)) return -1;
    }
    return 0;
}

static void csv_row(Buf *b, const Transformer *m, const SiteResult *sr, int r, int c) {
    const PatchGrid *g = &sr->g;
    int H = m->cfg.n_heads, layer = sr->site == PATCH_SITE_HEAD_POS ? r / H : r;
    buf_printf(b, "%s,%d,", patch_site_name(sr->site), layer);
    if (sr->site == PATCH_SITE_HEAD) buf_printf(b, "%d,", c);
    else if (sr->site == PATCH_SITE_HEAD_POS) buf_printf(b, "%d,", r % H);
    else buf_puts(b, ",");
    if (sr->site != PATCH_SITE_HEAD) buf_printf(b, "%d", c);
    size_t i = (size_t)r * g->cols + c;
    buf_puts(b, ",");
    if (g->exact) buf_printf(b, "%.9g", g->exact[i]);
    buf_puts(b, ",");
    if (g->attr) buf_printf(b, "%.9g", g->attr[i]);
    buf_puts(b, "\n");
}

static void json_matrix(Buf *b, const float *a, int rows, int cols) {
    if (!a) {
        buf_puts(b, "null");
        return;
    }
    buf_puts(b, "[");
    for (int r = 0; r < rows; r++) {
        buf_puts(b, r ? ", [" : "[");
        for (int c = 0; c < cols; c++) {
            if (c) buf_puts(b, ", ");
            json_put_float(b, a[(size_t)r * cols + c]);
        }
        buf_puts(b, "]");
    }
    buf_puts(b, "]");
}

// Mean attention of each head from a repeated token to the token after its first occurrence
// (the induction offset) over the clean induction pairs: score[l * H + h].
static int induction_scores(Transformer *m, const int *clean, int N, int T, int off,
                            double *score) {
    const int H = m->cfg.n_heads, L = (T - off) / 2;
    for (int i = 0; i < m->cfg.n_layers * H; i++) score[i] = 0;
    for (int b0 = 0; b0 < N; b0 += m->max_batch) {
        int B = N - b0 < m->max_batch ? N - b0 : m->max_batch;
        if (tf_forward(m, clean + (size_t)b0 * T, NULL, B, T, NULL, NULL)) return -1;
        for (int l = 0; l < m->cfg.n_layers; l++) {
            char nm[64];
            snprintf(nm, sizeof nm, "blocks.%d.attn.hook_pattern", l);
            const float *pat = tf_act(m, nm).data;  // [B,H,T,T]
            for (int b = 0; b < B; b++)
                for (int h = 0; h < H; h++)
                    for (int q = off + L; q < off + 2 * L; q++)
                        score[l * H + h] += pat[(((size_t)b * H + h) * T + q) * T + q - L + 1];
        }
    }
    for (int i = 0; i < m->cfg.n_layers * H; i++) score[i] /= (double)N * L;
    return 0;
}

// The repeat layout a checkpoint was trained on (train_spec metadata), if it says.
static void trained_layout(const StFile *f, const char *path, int *use_bos, int *seq_len) {
    const char *js = ckpt_meta_str(f, path, "train_spec");
    JsonDoc doc = {0};
    int64_t v;
    const char *data;
    if (js && !json_parse(&doc, js, strlen(js)) && !json_get_string(doc.root, "data", &data) &&
        !strcmp(data, "repeat")) {
        if (!json_get_int(doc.root, "use_bos", 0, 1, &v)) *use_bos = (int)v;
        if (!json_get_int(doc.root, "seq_len", 0, 1 << 20, &v) && v > 0) *seq_len = (int)v;
    }
    json_free(&doc);
    err_clear();
}

static int parse_range(const char *s, int *a, int *b) {
    char *e;
    long x = strtol(s, &e, 10), y = x;
    if (e == s) return -1;
    if (*e == ':') {
        const char *s2 = e + 1;
        y = strtol(s2, &e, 10);
        if (e == s2) return -1;
    }
    if (*e || x < 0 || y < x || y > 1 << 20) return -1;
    *a = (int)x;
    *b = (int)y;
    return 0;
}

enum {
    O_PAIRS = 256, O_NPAIRS, O_SEED, O_SEQ, O_BOS, O_NOBOS, O_CLEAN, O_CORRUPT, O_SCORE,
    O_METRIC, O_WRONG, O_SITES, O_MODE, O_METHOD, O_PATH, O_TOP, O_BATCH, O_THREADS, O_OUT
};

int cmd_patch(int argc, char **argv) {
    static const struct option opts[] = {
        {"pairs", 1, 0, O_PAIRS},     {"n-pairs", 1, 0, O_NPAIRS}, {"seed", 1, 0, O_SEED},
        {"seq-len", 1, 0, O_SEQ},     {"bos", 0, 0, O_BOS},        {"no-bos", 0, 0, O_NOBOS},
        {"clean", 1, 0, O_CLEAN},     {"corrupt", 1, 0, O_CORRUPT}, {"score", 1, 0, O_SCORE},
        {"metric", 1, 0, O_METRIC},   {"wrong", 1, 0, O_WRONG},    {"sites", 1, 0, O_SITES},
        {"mode", 1, 0, O_MODE},       {"method", 1, 0, O_METHOD},  {"path", 1, 0, O_PATH},
        {"top", 1, 0, O_TOP},         {"batch", 1, 0, O_BATCH},    {"threads", 1, 0, O_THREADS},
        {"out", 1, 0, O_OUT},         {"help", 0, 0, 'h'},         {0, 0, 0, 0}};
    const char *clean_path = NULL, *corrupt_path = NULL, *out = NULL, *sites_arg = NULL;
    const char *wrong_arg = "mean";
    long n_pairs = 32, seed = 0, seq_len = 0, top = 5, batch = 32, threads = 0;
    int bos = -1, score_from = -1, score_to = -1, path_l = -1, path_h = -1;
    int do_exact = 1, do_attr = 1;
    PatchMode mode = PATCH_DENOISE;
    PatchMetric metric = PATCH_LOGPROB;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case O_PAIRS:
            if (strcmp(optarg, "induction"))
                return cli_usage("patch", "--pairs: the built-in pairs are 'induction'");
            break;
        case O_NPAIRS: if (cli_int("patch", "--n-pairs", optarg, 1, 1 << 20, &n_pairs)) return EXIT_USAGE; break;
        case O_SEED: if (cli_int("patch", "--seed", optarg, 0, 0x7fffffffL, &seed)) return EXIT_USAGE; break;
        case O_SEQ: if (cli_int("patch", "--seq-len", optarg, 1, 1 << 20, &seq_len)) return EXIT_USAGE; break;
        case O_BOS: bos = 1; break;
        case O_NOBOS: bos = 0; break;
        case O_CLEAN: clean_path = optarg; break;
        case O_CORRUPT: corrupt_path = optarg; break;
        case O_SCORE:
            if (parse_range(optarg, &score_from, &score_to))
                return cli_usage("patch", "--score '%s': expected FROM:TO or T (positions)", optarg);
            break;
        case O_METRIC:
            if (!strcmp(optarg, "logprob")) metric = PATCH_LOGPROB;
            else if (!strcmp(optarg, "logit-diff")) metric = PATCH_LOGIT_DIFF;
            else return cli_usage("patch", "--metric '%s': expected logprob or logit-diff", optarg);
            break;
        case O_WRONG: wrong_arg = optarg; break;
        case O_SITES: sites_arg = optarg; break;
        case O_MODE:
            if (patch_mode_parse(optarg, &mode)) return cli_usage("patch", "%s", err_msg());
            break;
        case O_METHOD:
            do_exact = !strcmp(optarg, "exact") || !strcmp(optarg, "both");
            do_attr = !strcmp(optarg, "attribution") || !strcmp(optarg, "both");
            if (!do_exact && !do_attr)
                return cli_usage("patch", "--method '%s': expected exact, attribution or both", optarg);
            break;
        case O_PATH: {
            char *e;
            long l = strtol(optarg, &e, 10);
            if (e == optarg || *e != '.') return cli_usage("patch", "--path '%s': expected L.H", optarg);
            const char *hs = e + 1;
            long h = strtol(hs, &e, 10);
            if (e == hs || *e || l < 0 || h < 0 || l > 4096 || h > 4096)
                return cli_usage("patch", "--path '%s': expected L.H", optarg);
            path_l = (int)l;
            path_h = (int)h;
            break;
        }
        case O_TOP: if (cli_int("patch", "--top", optarg, 0, 1 << 20, &top)) return EXIT_USAGE; break;
        case O_BATCH: if (cli_int("patch", "--batch", optarg, 1, 4096, &batch)) return EXIT_USAGE; break;
        case O_THREADS: if (cli_int("patch", "--threads", optarg, 1, 256, &threads)) return EXIT_USAGE; break;
        case O_OUT: out = optarg; break;
        default: return cli_usage("patch", "unknown or incomplete option");
        }
    }
    if (optind != argc - 1) return cli_usage("patch", "expected one checkpoint");
    if (!out) return cli_usage("patch", "--out DIR is required");
    if (!clean_path != !corrupt_path)
        return cli_usage("patch", "--clean and --corrupt go together");
    const int files = clean_path != NULL;
    if (!files && score_from >= 0)
        return cli_usage("patch", "--score applies to --clean/--corrupt files (the induction "
                                  "pairs score the repeated tokens)");
    if (path_l >= 0 && mode != PATCH_DENOISE && mode != PATCH_NOISE)
        return cli_usage("patch", "--path needs --mode denoise or noise");
    int wrong_id = -1, wrong_kind = 0;  // 0 mean, 1 corrupt, 2 id
    if (!strcmp(wrong_arg, "corrupt")) {
        wrong_kind = 1;
    } else if (strcmp(wrong_arg, "mean")) {
        long w;
        if (cli_int("patch", "--wrong", wrong_arg, 0, 1 << 30, &w)) return EXIT_USAGE;
        wrong_kind = 2;
        wrong_id = (int)w;
    }
    if (threads && pool_set_threads((int)threads)) return cli_fail_err();
    char ckpt[4096];
    if (cli_ckpt_path(argv[optind], ckpt, sizeof ckpt)) return cli_fail_err();

    int rc = EXIT_FAIL, N = 0, T = 0, off = 0;
    int64_t *raw[2] = {NULL, NULL};
    int *tok[2] = {NULL, NULL}, *answer = NULL, *wrong = NULL;
    Transformer *m = NULL;
    Patcher *p = NULL;
    SiteResult res[PATCH_N_SITES];
    int n_res = 0;
    double *ind = NULL;
    Buf b = {0}, svg = {0};
    Report *rep = NULL;
    StFile f;
    int f_open = 0;

    if (files) {
        int64_t shape[2][NPY_MAX_DIMS];
        int nd[2];
        const char *pth[2] = {clean_path, corrupt_path};
        for (int k = 0; k < 2; k++) {
            if (npy_load_i64(pth[k], &raw[k], &nd[k], shape[k])) {
                cli_fail_err();
                goto done;
            }
            if (nd[k] != 2 || shape[k][0] < 1 || shape[k][1] < 2 || shape[k][1] > (1 << 20) ||
                shape[k][0] > (1 << 24)) {
                cli_fail("%s: tokens must be a 2-D array [N, T] with T >= 2", pth[k]);
                goto done;
            }
        }
        if (shape[0][0] != shape[1][0] || shape[0][1] != shape[1][1]) {
            cli_fail("%s and %s: shapes [%lld, %lld] and [%lld, %lld] differ", clean_path,
                     corrupt_path, (long long)shape[0][0], (long long)shape[0][1],
                     (long long)shape[1][0], (long long)shape[1][1]);
            goto done;
        }
        N = (int)shape[0][0];
        T = (int)shape[0][1];
    } else {
        N = (int)n_pairs;
    }
    m = tf_ckpt_load(ckpt, N < batch ? N : (int)batch, &f);
    if (!m) {
        cli_fail_err();
        goto done;
    }
    f_open = 1;
    const TfConfig *cfg = &m->cfg;
    const int L = cfg->n_layers, H = cfg->n_heads, V = cfg->d_vocab;
    if (path_l >= 0 && (path_l >= L - 1 || path_h >= H)) {
        cli_fail("--path %d.%d: the sender must be a head (0..%d) of a layer 0..%d, with a later "
                 "layer to send to", path_l, path_h, H - 1, L - 2);
        goto done;
    }
    if (!files) {
        int use_bos = 0, sl = 0;
        trained_layout(&f, ckpt, &use_bos, &sl);
        if (bos >= 0) use_bos = bos;
        T = seq_len ? (int)seq_len : sl ? sl : cfg->n_ctx;
        if (T > cfg->n_ctx) {
            cli_fail("--seq-len %d is longer than the model's n_ctx %d", T, cfg->n_ctx);
            goto done;
        }
        off = use_bos;
    }
    const size_t NT = (size_t)N * T;
    tok[0] = malloc(sizeof(int) * NT);
    tok[1] = malloc(sizeof(int) * NT);
    answer = malloc(sizeof(int) * NT);
    wrong = malloc(sizeof(int) * NT);
    ind = calloc((size_t)L * H, sizeof(double));
    if (!tok[0] || !tok[1] || !answer || !wrong || !ind) {
        cli_fail("out of memory");
        goto done;
    }
    if (files) {
        for (int k = 0; k < 2; k++)
            for (size_t i = 0; i < NT; i++) {
                if (raw[k][i] < 0 || raw[k][i] >= V) {
                    cli_fail("%s: token %lld at [%zu, %zu] is outside the vocabulary [0, %d)",
                             k ? corrupt_path : clean_path, (long long)raw[k][i], i / T, i % T, V);
                    goto done;
                }
                tok[k][i] = (int)raw[k][i];
            }
        if (score_from < 0) score_from = score_to = T - 2;
        if (score_to > T - 2) {
            cli_fail("--score %d:%d: the last scored position is T-2 = %d (its answer is the "
                     "last token)", score_from, score_to, T - 2);
            goto done;
        }
        for (size_t i = 0; i < NT; i++) {
            int t = (int)(i % T);
            answer[i] = t >= score_from && t <= score_to ? tok[0][i + 1] : -1;
        }
    } else if (patch_induction_pairs(V, off, T, N, (uint64_t)seed, tok[0], tok[1], answer)) {
        cli_fail_err();
        goto done;
    }
    for (size_t i = 0; i < NT; i++)
        wrong[i] = wrong_kind == 0 || answer[i] < 0 ? -1
                 : wrong_kind == 1                  ? tok[1][i + 1]
                                                    : wrong_id;
    if (wrong_kind == 2 && wrong_id >= V) {
        cli_fail("--wrong %d is outside the vocabulary [0, %d)", wrong_id, V);
        goto done;
    }
    PatchTask task = {.clean = tok[0], .corrupt = tok[1], .N = N, .T = T, .metric = metric,
                      .answer = answer, .wrong = metric == PATCH_LOGIT_DIFF ? wrong : NULL};
    p = patch_create(m, &task);
    if (!p) {
        cli_fail_err();
        goto done;
    }

    // sites
    int want[PATCH_N_SITES] = {0};
    if (sites_arg) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", sites_arg);
        for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
            PatchSite site;
            if (patch_site_parse(s, &site)) {
                rc = cli_usage("patch", "--sites: %s", err_msg());
                goto done;
            }
            if (site == PATCH_SITE_MLP_OUT && cfg->attn_only) {
                cli_fail("--sites mlp_out: the model is attention-only (it has no MLPs)");
                goto done;
            }
            want[site] = 1;
        }
    } else {
        for (int s = 0; s < PATCH_N_SITES; s++) want[s] = s != PATCH_SITE_MLP_OUT || !cfg->attn_only;
    }
    printf("%s: %d layers x %d heads%s; %d %s pairs of %d tokens\n", ckpt, L, H,
           cfg->attn_only ? ", attention only" : "", N, files ? "clean/corrupted" : "induction", T);
    printf("metric %s: clean %.6g, corrupted %.6g; mode %s; effects normalised: 0 = corrupted, "
           "1 = clean\n", metric == PATCH_LOGPROB ? "mean log-prob of the answers" : "logit difference",
           patch_metric_clean(p), patch_metric_corrupt(p), patch_mode_name(mode));
    for (int s = 0; s < PATCH_N_SITES; s++) {
        if (!want[s]) continue;
        SiteResult *sr = &res[n_res];
        sr->site = (PatchSite)s;
        sr->r = NAN;
        if (patch_grid(p, (PatchSite)s, mode, do_exact, do_attr, &sr->g)) {
            cli_fail_err();
            goto done;
        }
        n_res++;
        if (do_exact && do_attr) sr->r = patch_pearson(sr->g.exact, sr->g.attr, sr->g.rows * sr->g.cols);
        print_top(m, sr, mode, (int)top);
    }

    // induction heads (built-in pairs): their attention score beside their per-head effect
    const SiteResult *hr = NULL;
    for (int i = 0; i < n_res; i++)
        if (res[i].site == PATCH_SITE_HEAD) hr = &res[i];
    if (!files) {
        if (induction_scores(m, tok[0], N, T, off, ind)) {
            cli_fail_err();
            goto done;
        }
        printf("induction score (attention to the token after the first occurrence, mean):\n");
        for (int l = 0; l < L; l++) {
            printf("  L%d", l);
            for (int h = 0; h < H; h++) printf("  H%d %.3f", h, ind[l * H + h]);
            printf("\n");
        }
        if (hr && hr->g.exact && mode == PATCH_DENOISE && L > 1) {
            int n_ind = 0, ok = 0;
            for (int h = 0; h < H; h++)
                if (ind[H + h] >= IND_SCORE_MIN) {
                    n_ind++;
                    ok += hr->g.exact[H + h] >= IND_EFFECT_MIN;
                    printf("  layer-1 induction head L1H%d: score %.3f, denoising effect %.4f\n", h,
                           ind[H + h], hr->g.exact[H + h]);
                }
            if (n_ind)
                printf("[%s] every layer-1 induction head (score >= %.1f) has denoising effect "
                       ">= %.2f: %d of %d\n", ok == n_ind ? "ok" : "MISS", IND_SCORE_MIN,
                       IND_EFFECT_MIN, ok, n_ind);
            else
                printf("[MISS] no layer-1 head has an induction score >= %.1f: the model solves "
                       "the task another way (see the scores above)\n", IND_SCORE_MIN);
        }
        if (hr && !isnan(hr->r) && mode == PATCH_DENOISE)
            printf("[%s] attribution vs exact per-head denoising: Pearson r = %.4f (>= %.1f)\n",
                   hr->r >= PEARSON_MIN ? "ok" : "MISS", hr->r, PEARSON_MIN);
    }

    // outputs
    if (fileio_mkdirs(out)) {
        cli_fail_err();
        goto done;
    }
    char path[4200];
    buf_puts(&b, "site,layer,head,pos,exact,attribution\n");
    for (int i = 0; i < n_res; i++)
        for (int r = 0; r < res[i].g.rows; r++)
            for (int cc = 0; cc < res[i].g.cols; cc++) csv_row(&b, m, &res[i], r, cc);
    snprintf(path, sizeof path, "%s/patch.csv", out);
    if (b.oom || fileio_write_all(path, b.p, b.len)) {
        cli_fail_err();
        goto done;
    }
    // report.html: the heatmaps inline (each also written as DIR/<site>.svg), the files linked
    rep = report_create("mechlab patch");
    if (!rep) {
        cli_fail_err();
        goto done;
    }
    report_paragraphf(rep, "%s; %d %s pairs of %d tokens. Metric: %s (clean %.4g, corrupted %.4g); "
                      "mode %s. Effects are normalised so that 0 is the corrupted run and 1 the "
                      "clean run; the heatmaps show the change a single patch makes (white = none).",
                      ckpt, N, files ? "clean/corrupted" : "induction", T,
                      metric == PATCH_LOGPROB ? "mean log-prob of the answers" : "logit difference",
                      patch_metric_clean(p), patch_metric_corrupt(p), patch_mode_name(mode));
    for (int i = 0; i < n_res; i++) {
        const SiteResult *sr = &res[i];
        if (write_npy(out, sr) || write_heatmap(out, m, sr, mode, &svg)) {
            cli_fail_err();
            goto done;
        }
        char cap[128] = "";
        if (!isnan(sr->r)) snprintf(cap, sizeof cap, "Pearson r(attribution, exact) = %.4f", sr->r);
        report_heading(rep, 2, patch_site_name(sr->site));
        report_figure(rep, svg.p, cap[0] ? cap : NULL);
    }

    // path patching
    Buf pb = {0};
    if (path_l >= 0) {
        buf_puts(&pb, "sender,receiver,channel,effect\n");
        printf("path patching from L%dH%d (%s):\n", path_l, path_h, patch_mode_name(mode));
        for (int rl = path_l + 1; rl < L; rl++)
            for (int rh = 0; rh < H; rh++) {
                printf("  -> L%dH%d", rl, rh);
                for (int ch = 0; ch < 3; ch++) {
                    double v;
                    if (patch_path(p, mode, path_l, path_h, rl, rh, (PatchChannel)ch, &v)) {
                        buf_free(&pb);
                        cli_fail_err();
                        goto done;
                    }
                    printf("  %c %8.4f", "qkv"[ch], v);
                    buf_printf(&pb, "L%dH%d,L%dH%d,%c,%.9g\n", path_l, path_h, rl, rh, "qkv"[ch], v);
                }
                printf("\n");
            }
        snprintf(path, sizeof path, "%s/path.csv", out);
        int bad = pb.oom || fileio_write_all(path, pb.p, pb.len);
        buf_free(&pb);
        if (bad) {
            cli_fail_err();
            goto done;
        }
    }

    // patch.json
    buf_reset(&b);
    buf_puts(&b, "{\"checkpoint\": ");
    buf_put_json_str(&b, ckpt);
    buf_printf(&b, ", \"inputs\": \"%s\", \"n_pairs\": %d, \"seq_len\": %d, \"mode\": \"%s\", "
                   "\"metric\": \"%s\", \"metric_clean\": ", files ? "files" : "induction", N, T,
               patch_mode_name(mode), metric == PATCH_LOGPROB ? "logprob" : "logit-diff");
    json_put_double(&b, patch_metric_clean(p));
    buf_puts(&b, ", \"metric_corrupt\": ");
    json_put_double(&b, patch_metric_corrupt(p));
    buf_puts(&b, ", \"sites\": [");
    for (int i = 0; i < n_res; i++) {
        const SiteResult *sr = &res[i];
        buf_printf(&b, "%s{\"site\": \"%s\", \"rows\": %d, \"cols\": %d, \"pearson\": ", i ? ", " : "",
                   patch_site_name(sr->site), sr->g.rows, sr->g.cols);
        json_put_double(&b, sr->r);
        buf_puts(&b, ", \"exact\": ");
        json_matrix(&b, sr->g.exact, sr->g.rows, sr->g.cols);
        buf_puts(&b, ", \"attribution\": ");
        json_matrix(&b, sr->g.attr, sr->g.rows, sr->g.cols);
        buf_puts(&b, "}");
    }
    buf_puts(&b, "]");
    if (!files) {
        buf_puts(&b, ", \"induction_score\": [");
        for (int l = 0; l < L; l++) {
            buf_puts(&b, l ? ", [" : "[");
            for (int h = 0; h < H; h++) {
                if (h) buf_puts(&b, ", ");
                json_put_double(&b, ind[l * H + h]);
            }
            buf_puts(&b, "]");
        }
        buf_puts(&b, "]");
    }
    buf_puts(&b, "}\n");
    snprintf(path, sizeof path, "%s/patch.json", out);
    if (b.oom || fileio_write_all(path, b.p, b.len)) {
        cli_fail_err();
        goto done;
    }

    report_link(rep, "patch.csv", "every site: exact and attribution (CSV)");
    report_link(rep, "patch.json", "the same with the baselines (JSON)");
    if (path_l >= 0) report_link(rep, "path.csv", "path patching (CSV)");
    snprintf(path, sizeof path, "%s/report.html", out);
    if (report_save(rep, path)) {
        cli_fail_err();
        goto done;
    }
    printf("wrote %s/patch.csv, patch.json, report.html and a heatmap (.svg) and arrays (.npy) per "
           "site\n", out);
    rc = EXIT_OK;
done:
    for (int i = 0; i < n_res; i++) patch_grid_free(&res[i].g);
    report_free(rep);
    buf_free(&b);
    buf_free(&svg);
    patch_free(p);
    if (f_open) st_close(&f);
    tf_free(m);
    free(raw[0]);
    free(raw[1]);
    free(tok[0]);
    free(tok[1]);
    free(answer);
    free(wrong);
    free(ind);
    return rc;
}
