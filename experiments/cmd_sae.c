// mechlab sae — train a sparse autoencoder on a transformer's activations at one hook point (or
// on an activation .npy from `mechlab cache`), measure it (L0, FVU, dead fraction, the
// cross-entropy loss recovered through the hook splice), save it as a SAELens folder and write a
// feature dashboard: per feature its density, top-activating contexts, the share of those at one
// token / one position, and the logits it promotes and suppresses through the unembedding.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis.h"
#include "cli.h"
#include "datasets/npy.h"
#include "interp/plot.h"
#include "interp/report.h"
#include "interp/sae.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/json.h"
#include "model/pool.h"
#include "model/timer.h"
#include "verbs.h"

#define TOPN 32          // activations kept per latent (the shares are over these)
#define MIN_TOP 8        // a latent needs this many for its shares to count
#define SPECIFIC 0.8     // "mostly one token / one position"
#define HIST_LO (-6.0)
#define HIST_HI 0.0
#define HIST_BINS 24
#define N_LOGITS 6       // promoted / suppressed tokens shown per feature

static void usage(FILE *f) {
    fprintf(f,
            "Usage: mechlab sae CKPT --hook HOOK --out DIR [options]\n"
            "       mechlab sae --npy ACTS.npy [CKPT] --out DIR [options]\n"
            "Cache the activations at one hook point (all chosen positions), train a sparse\n"
            "autoencoder on them, print L0, FVU, the dead fraction and the cross-entropy loss\n"
            "recovered (L_zero - L_sae) / (L_zero - L_orig) with the SAE spliced into the forward\n"
            "pass, and write DIR/sae/ (a SAELens folder), DIR/report.html (metrics, density\n"
            "histogram, a dashboard of the most frequent alive features: top-activating\n"
            "contexts, share at one token / one position, promoted and suppressed logits),\n"
            "DIR/density.svg, DIR/features.csv and DIR/metrics.json.\n\n"
            "  --hook HOOK       one hook point, e.g. blocks.0.hook_resid_post (mechlab hooks CKPT)\n"
            "  --npy ACTS.npy    train on an array [sequences, positions, d] (or [rows, d]) from\n"
            "                    mechlab cache; tokens.npy beside it gives the contexts. With a\n"
            "                    CKPT too, the hook (--hook, else the file name) is spliced for\n"
            "                    the loss recovered on those tokens\n"
            "  --out DIR         output folder (created if missing)\n"
            "SAE:\n"
            "  --d-sae N         latents                                  [expansion x d_in]\n"
            "  --expansion F     latents per input dimension                               [4]\n"
            "  --l1 X            ReLU SAE with L1 coefficient X (decoder-norm weighted)\n"
            "  --topk K          TopK SAE keeping K latents per sample (with AuxK)       [8]\n"
            "  --steps N         training steps                                         [2000]\n"
            "  --sae-batch N     samples per step                                        [256]\n"
            "  --lr X            Adam learning rate                                    [1e-3]\n"
            "  --sae-seed S      initialisation, shuffling, resampling                    [0]\n"
            "  --features N      features in the dashboard                                [32]\n"
            "  --contexts N      top contexts shown per feature                           [8]\n"
            "  --window N        tokens shown before the activating one                    [8]\n"
            ANA_DATA_HELP
            "  -h, --help\n");
}

enum { O_HOOK = 256, O_NPY, O_OUT, O_DSAE, O_EXP, O_L1, O_TOPK, O_STEPS, O_SBATCH, O_LR,
       O_SSEED, O_FEAT, O_CTX, O_WIN };

typedef struct {
    // The activations X[rows, d] and where each row came from.
    float *X;
    size_t rows;
    int d;
    int P;             // rows per sequence (positions kept); 0: rows have no sequence
    const int *posv;   // [P] the position of row r % P
    int *pos_own;      // npy mode: 0..P-1
    // Tokens [N, T] for contexts (NULL: none).
    int *tok;
    int *tok_own;
    int N, T, bos;
    int text;          // ids print as characters
    unsigned char vocab[256];
    int n_vocab;
} Acts;

typedef struct {
    float *val;    // [d_sae, TOPN] descending
    size_t *row;   // [d_sae, TOPN]
    int *cnt;      // [d_sae]
} Tops;

// ---- tokens as text -------------------------------------------------------------------------

static void tok_str(const Acts *a, int id, char *out, size_t n) {
    if (id == a->bos) {
        snprintf(out, n, "BOS");
    } else if (a->text && id >= 0 && id < a->n_vocab) {
        unsigned c = a->vocab[id];
        if (c == '\n') snprintf(out, n, "\\n");
        else if (c == '\t') snprintf(out, n, "\\t");
        else if (c == ' ') snprintf(out, n, "\xe2\x90\xa3");  // ␣, so a space is visible
        else if (c < 32 || c >= 127) snprintf(out, n, "\\x%02x", c);
        else snprintf(out, n, "%c", (char)c);
    } else {
        snprintf(out, n, "%d", id);
    }
}

// The characters of a text checkpoint's ids: the checkpoint's recorded vocabulary, else the
// file's sorted distinct bytes (what cache_data_make does without one).
static int text_vocab(Acts *a, const char *ckpt, const char *spec) {
    StFile f = {0};
    if (st_open(&f, ckpt)) return -1;
    CacheDataOpts o = {0};
    char sp[16];
    unsigned char buf[256];
    int rc = cache_ckpt_data(&f, ckpt, &o, sp, sizeof sp, buf);
    st_close(&f);
    if (rc) return -1;
    if (o.text_vocab) {
        memcpy(a->vocab, o.text_vocab, (size_t)o.text_vocab_n);
        a->n_vocab = o.text_vocab_n;
        a->text = 1;
        return 0;
    }
    FILE *fp = fopen(spec + 5, "rb");
    if (!fp) return 0;  // ids then print as numbers
    unsigned char seen[256] = {0};
    int c;
    while ((c = fgetc(fp)) != EOF) seen[c] = 1;
    fclose(fp);
    a->n_vocab = 0;
    for (int i = 0; i < 256; i++)
        if (seen[i]) a->vocab[a->n_vocab++] = (unsigned char)i;
    a->text = 1;
    return 0;
}

// ---- top activations ------------------------------------------------------------------------

static void tops_free(Tops *t) {
    free(t->val), free(t->row), free(t->cnt);
    memset(t, 0, sizeof *t);
}

// Runs the SAE over every row and keeps each latent's TOPN largest activations (ties: the
// earlier row).
static int tops_collect(const Sae *s, const Acts *a, Tops *t) {
    const int L = s->cfg.d_sae, CH = 256;
    t->val = malloc(sizeof(float) * (size_t)L * TOPN);
    t->row = malloc(sizeof(size_t) * (size_t)L * TOPN);
    t->cnt = calloc((size_t)L, sizeof(int));
    SaeActs *sa = sae_acts_create(s, CH, 0, 0);
    if (!t->val || !t->row || !t->cnt || !sa) {
        sae_acts_free(sa);
        return err_set("sae: out of memory");
    }
    for (size_t r0 = 0; r0 < a->rows; r0 += CH) {
        int B = (int)(a->rows - r0 < (size_t)CH ? a->rows - r0 : (size_t)CH);
        sae_forward(s, sa, a->X + r0 * a->d, B, NULL);
        for (int b = 0; b < B; b++) {
            const float *f = sa->f + (size_t)b * L;
            for (int i = 0; i < L; i++) {
                float v = f[i];
                if (!(v > 0)) continue;
                float *tv = t->val + (size_t)i * TOPN;
                size_t *tr = t->row + (size_t)i * TOPN;
                int c = t->cnt[i];
                if (c == TOPN && !(v > tv[TOPN - 1])) continue;
                int j = c < TOPN ? c : TOPN - 1;
                while (j > 0 && v > tv[j - 1]) {
                    tv[j] = tv[j - 1];
                    tr[j] = tr[j - 1];
                    j--;
                }
                tv[j] = v;
                tr[j] = r0 + (size_t)b;
                if (c < TOPN) t->cnt[i] = c + 1;
            }
        }
    }
    sae_acts_free(sa);
    return 0;
}

// The most common value among the latent's top rows (token id or position) and its share.
static double top_share(const Acts *a, const Tops *t, int i, int by_token, int *mode) {
    const int c = t->cnt[i];
    int keys[TOPN];
    for (int j = 0; j < c; j++) {
        size_t row = t->row[(size_t)i * TOPN + j];
        int p = a->posv[row % (size_t)a->P];
        keys[j] = by_token ? a->tok[(row / (size_t)a->P) * (size_t)a->T + (size_t)p] : p;
    }
    int best = 0, bk = -1;
    for (int j = 0; j < c; j++) {
        int k = 0;
        for (int l = 0; l < c; l++) k += keys[l] == keys[j];
        if (k > best || (k == best && keys[j] < bk)) best = k, bk = keys[j];
    }
    *mode = bk;
    return c ? (double)best / c : 0;
}

// ---- the input ------------------------------------------------------------------------------

static void acts_free(Acts *a) {
    free(a->X);
    free(a->pos_own);
    free(a->tok_own);
    memset(a, 0, sizeof *a);
}

// tokens.npy beside the activations: [N, T] integers, used when its N and T match.
static int npy_tokens(Acts *a, const char *npy, int64_t N, int64_t P, int vocab_max) {
    char path[4200];
    const char *slash = strrchr(npy, '/');
    int dl = slash ? (int)(slash - npy) : 1;
    snprintf(path, sizeof path, "%.*s/tokens.npy", dl, slash ? npy : ".");
    struct stat st;
    if (stat(path, &st)) return 0;  // no contexts
    int64_t *t = NULL, shape[NPY_MAX_DIMS];
    int nd;
    if (npy_load_i64(path, &t, &nd, shape)) return -1;
    if (nd != 2 || shape[0] != N || shape[1] != P) {
        fprintf(stderr, "mechlab sae: %s is not [%lld, %lld]: no contexts in the dashboard\n", path,
                (long long)N, (long long)P);
        free(t);
        return 0;
    }
    a->tok_own = malloc(sizeof(int) * (size_t)(N * P));
    if (!a->tok_own) {
        free(t);
        return err_set("out of memory");
    }
    for (int64_t i = 0; i < N * P; i++) {
        if (t[i] < 0 || t[i] >= vocab_max) {
            err_set("%s: token %lld at [%lld, %lld] is outside [0, %d)", path, (long long)t[i],
                    (long long)(i / P), (long long)(i % P), vocab_max);
            free(t);
            return -1;
        }
        a->tok_own[i] = (int)t[i];
    }
    free(t);
    a->tok = a->tok_own;
    a->N = (int)N;
    a->T = (int)P;
    return 0;
}

static int load_npy(Acts *a, const char *npy, int vocab_max) {
    int nd;
    int64_t sh[NPY_MAX_DIMS];
    if (npy_load_f32(npy, &a->X, &nd, sh)) return -1;
    if (nd != 2 && nd != 3) return err_set("%s: expected [sequences, positions, d] or [rows, d], got %d-D", npy, nd);
    int64_t rows = nd == 3 ? sh[0] * sh[1] : sh[0], d = sh[nd - 1];
    if (rows < 1 || d < 1 || d > (1 << 16) || rows > (int64_t)1 << 31)
        return err_set("%s: %lld rows x %lld features is not something to train an SAE on", npy,
                       (long long)rows, (long long)d);
    for (int64_t i = 0; i < rows * d; i++)
        if (!isfinite(a->X[i])) return err_set("%s: value %lld is not finite", npy, (long long)i);
    a->rows = (size_t)rows;
    a->d = (int)d;
    a->bos = -1;
    if (nd == 3) {
        a->P = (int)sh[1];
        a->pos_own = malloc(sizeof(int) * (size_t)a->P);
        if (!a->pos_own) return err_set("out of memory");
        for (int p = 0; p < a->P; p++) a->pos_own[p] = p;
        a->posv = a->pos_own;
        if (npy_tokens(a, npy, sh[0], sh[1], vocab_max)) return -1;
    }
    return 0;
}

// ---- the run --------------------------------------------------------------------------------

typedef struct {
    const char *hook, *npy, *out;
    long d_sae, steps, batch, topk, n_feat, n_ctx, window;
    double expansion, l1, lr;
    unsigned long long sae_seed;
} SaeOpts;

// Mean losses over all sequences of d, in batches (each weighted by its sequences).
static int loss_recovered(Transformer *m, const Sae *s, const char *hook, const CacheData *d,
                          int batch, SaeLossRecovered *out) {
    int *targets = malloc(sizeof(int) * (size_t)d->n * d->T);
    if (!targets) return err_set("out of memory");
    cache_data_targets(d, targets);
    double lo = 0, ls = 0, lz = 0;
    for (int i = 0; i < d->n; i += batch) {
        int B = d->n - i < batch ? d->n - i : batch;
        SaeLossRecovered r;
        if (sae_loss_recovered(m, s, hook, d->tokens + (size_t)i * d->T,
                               targets + (size_t)i * d->T, B, d->T, &r)) {
            free(targets);
            return -1;
        }
        lo += r.loss_orig * B, ls += r.loss_sae * B, lz += r.loss_zero * B;
    }
    free(targets);
    out->loss_orig = lo / d->n, out->loss_sae = ls / d->n, out->loss_zero = lz / d->n;
    double den = out->loss_zero - out->loss_orig;
    out->recovered = den != 0 ? (out->loss_zero - out->loss_sae) / den : NAN;
    return 0;
}

static const float *g_density;  // for qsort (single-threaded command)
static int cmp_idx(const void *pa, const void *pb) {
    int a = *(const int *)pa, b = *(const int *)pb;
    if (g_density[a] != g_density[b]) return g_density[a] > g_density[b] ? -1 : 1;
    return a - b;
}

// The context of one row: up to `window` tokens before, 2 after, the activating one in ⟦ ⟧.
static void context_str(const Acts *a, size_t row, int window, char *out, size_t n) {
    size_t k = 0;
    out[0] = 0;
    int p = a->posv[row % (size_t)a->P];
    const int *t = a->tok + (row / (size_t)a->P) * (size_t)a->T;
    int lo = p - window < 0 ? 0 : p - window, hi = p + 2 >= a->T ? a->T - 1 : p + 2;
    const char *sep = a->text ? "" : " ";
    if (lo > 0 && k < n) k += (size_t)snprintf(out + k, n - k, "\xe2\x80\xa6%s", sep);
    for (int q = lo; q <= hi && k < n; q++) {
        char ts[16];
        tok_str(a, t[q], ts, sizeof ts);
        if (q == p) k += (size_t)snprintf(out + k, n - k, "%s\xe2\x9f\xa6%s\xe2\x9f\xa7", q > lo ? sep : "", ts);
        else k += (size_t)snprintf(out + k, n - k, "%s%s", q > lo ? sep : "", ts);
    }
    if (hi < a->T - 1 && k < n) snprintf(out + k, n - k, "%s\xe2\x80\xa6", sep);
}

// The direct logit effect of latent i: W_dec[i] (∘ ln_final.w) · W_U  → logit[V].
static void feature_logits(const Transformer *m, const Sae *s, int i, float *logit) {
    const int D = m->cfg.d_model, V = m->cfg.d_vocab;
    const float *WU = params_data(&m->params, "unembed.W_U");
    const float *lnw = m->lnf_w >= 0 ? params_data(&m->params, "ln_final.w") : NULL;
    const float *w = s->W_dec + (size_t)i * D;
    for (int v = 0; v < V; v++) logit[v] = 0;
    for (int dd = 0; dd < D; dd++) {
        float x = w[dd] * (lnw ? lnw[dd] : 1.0f);
        for (int v = 0; v < V; v++) logit[v] += x * WU[(size_t)dd * V + v];
    }
}

// Indices of the k largest (desc = 1) or smallest values of x[n].
static void extreme_k(const float *x, int n, int k, int desc, int *idx) {
    for (int j = 0; j < k; j++) idx[j] = -1;
    for (int v = 0; v < n; v++) {
        for (int j = 0; j < k; j++) {
            if (idx[j] < 0 || (desc ? x[v] > x[idx[j]] : x[v] < x[idx[j]])) {
                memmove(idx + j + 1, idx + j, sizeof(int) * (size_t)(k - 1 - j));
                idx[j] = v;
                break;
            }
        }
    }
}

static void logit_list(const Acts *a, const float *logit, const int *idx, int k, char *out,
                       size_t n) {
    size_t len = 0;
    out[0] = 0;
    for (int j = 0; j < k && idx[j] >= 0 && len < n; j++) {
        char ts[16];
        tok_str(a, idx[j], ts, sizeof ts);
        len += (size_t)snprintf(out + len, n - len, "%s%s (%+.2f)", j ? ", " : "", ts,
                                (double)logit[idx[j]]);
    }
}

int cmd_sae(int argc, char **argv) {
    static const struct option opts[] = {
        {"hook", 1, 0, O_HOOK},    {"npy", 1, 0, O_NPY},         {"out", 1, 0, O_OUT},
        {"d-sae", 1, 0, O_DSAE},   {"expansion", 1, 0, O_EXP},   {"l1", 1, 0, O_L1},
        {"topk", 1, 0, O_TOPK},    {"steps", 1, 0, O_STEPS},     {"sae-batch", 1, 0, O_SBATCH},
        {"lr", 1, 0, O_LR},        {"sae-seed", 1, 0, O_SSEED},  {"features", 1, 0, O_FEAT},
        {"contexts", 1, 0, O_CTX}, {"window", 1, 0, O_WIN},      ANA_DATA_OPTIONS,
        {"help", 0, 0, 'h'},       {0, 0, 0, 0}};
    const char *V = "sae";
    AnaOpts a = ana_defaults();
    SaeOpts o = {.steps = 2000, .batch = 256, .topk = 0, .n_feat = 32, .n_ctx = 8, .window = 8,
                 .expansion = 4, .l1 = -1, .lr = 1e-3};
    int have_exp = 0;
    double x;
    long v;
    optind = 1;
    int c, h;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if ((h = ana_option(&a, V, c, optarg)) < 0) return EXIT_USAGE;
        if (h) continue;
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case O_HOOK: o.hook = optarg; break;
        case O_NPY: o.npy = optarg; break;
        case O_OUT: o.out = optarg; break;
        case O_DSAE:
            if (cli_int(V, "--d-sae", optarg, 1, 1 << 20, &o.d_sae)) return EXIT_USAGE;
            break;
        case O_EXP:
            if (cli_float(V, "--expansion", optarg, &x)) return EXIT_USAGE;
            if (!(x > 0 && x <= 1024)) return cli_usage(V, "--expansion must be in (0, 1024]");
            o.expansion = x;
            have_exp = 1;
            break;
        case O_L1:
            if (cli_float(V, "--l1", optarg, &x)) return EXIT_USAGE;
            if (!(x >= 0 && x < 1e6)) return cli_usage(V, "--l1 must be in [0, 1e6)");
            o.l1 = x;
            break;
        case O_TOPK:
            if (cli_int(V, "--topk", optarg, 1, 1 << 20, &o.topk)) return EXIT_USAGE;
            break;
        case O_STEPS:
            if (cli_int(V, "--steps", optarg, 1, 100000000, &o.steps)) return EXIT_USAGE;
            break;
        case O_SBATCH:
            if (cli_int(V, "--sae-batch", optarg, 1, 1 << 16, &o.batch)) return EXIT_USAGE;
            break;
        case O_LR:
            if (cli_float(V, "--lr", optarg, &x)) return EXIT_USAGE;
            if (!(x > 0 && x < 10)) return cli_usage(V, "--lr must be in (0, 10)");
            o.lr = x;
            break;
        case O_SSEED:
            if (cli_int(V, "--sae-seed", optarg, 0, 1L << 62, &v)) return EXIT_USAGE;
            o.sae_seed = (unsigned long long)v;
            break;
        case O_FEAT:
            if (cli_int(V, "--features", optarg, 0, 4096, &o.n_feat)) return EXIT_USAGE;
            break;
        case O_CTX:
            if (cli_int(V, "--contexts", optarg, 1, TOPN, &o.n_ctx)) return EXIT_USAGE;
            break;
        case O_WIN:
            if (cli_int(V, "--window", optarg, 0, 64, &o.window)) return EXIT_USAGE;
            break;
        default: return cli_usage(V, "unknown or incomplete option");
        }
    }
    if (!o.out) return cli_usage(V, "--out DIR is required");
    if (o.l1 >= 0 && o.topk) return cli_usage(V, "--l1 and --topk do not go together");
    if (o.d_sae && have_exp) return cli_usage(V, "--d-sae and --expansion do not go together");
    if (o.l1 < 0 && !o.topk) o.topk = 8;
    const char *ckpt = NULL;
    if (o.npy) {
        if (optind < argc - 1) return cli_usage(V, "--npy takes at most one checkpoint");
        if (optind == argc - 1) ckpt = argv[optind];
    } else {
        if (optind != argc - 1) return cli_usage(V, "expected one checkpoint (or --npy)");
        if (!o.hook) return cli_usage(V, "--hook HOOK is required");
        ckpt = argv[optind];
    }
    if (a.threads && pool_set_threads((int)a.threads)) return cli_fail_err();

    int rc = EXIT_FAIL;
    AnaRun r = {0};
    Cache cache = {0};
    Acts A = {0};
    Sae *sae = NULL;
    SaeTrainer *tr = NULL;
    Tops tops = {0};
    Report *rep = NULL;
    float *density = NULL, *logit = NULL;
    int *order = NULL;
    Buf svg = {0}, csv = {0}, js = {0};
    char l1s[64] = "", hook[SAE_NAME_MAX] = "", data_desc[4400] = "", path[4300];
    A.bos = -1;

    if (ckpt) {
        if (ana_open(&r, ckpt, &a)) {
            cli_fail_err();
            goto done;
        }
    }
    if (o.npy) {
        if (load_npy(&A, o.npy, r.m ? r.m->cfg.d_vocab : 1 << 30)) {
            cli_fail_err();
            goto done;
        }
        if (o.hook) {
            snprintf(hook, sizeof hook, "%s", o.hook);
        } else {
            const char *base = strrchr(o.npy, '/');
            base = base ? base + 1 : o.npy;
            size_t bl = strlen(base);
            if (bl > 4 && !strcmp(base + bl - 4, ".npy")) bl -= 4;
            snprintf(hook, sizeof hook, "%.*s", (int)bl, base);
        }
        snprintf(data_desc, sizeof data_desc, "%s", o.npy);
        if (r.m && A.tok) {
            // Splice on the file's own sequences: they are what the activations came from.
            A.bos = r.d.bos;  // the checkpoint's BOS id names that token in the dashboard
            cache_data_free(&r.d);
            char spec[4300];
            snprintf(spec, sizeof spec, "tokens:%.*s/tokens.npy",
                     strrchr(o.npy, '/') ? (int)(strrchr(o.npy, '/') - o.npy) : 1,
                     strrchr(o.npy, '/') ? o.npy : ".");
            CacheDataOpts co = {0};
            if (cache_data_make(&r.d, spec, &r.m->cfg, &co)) {
                cli_fail_err();
                goto done;
            }
        }
    } else {
        const char *pats[1] = {o.hook};
        CacheOpts co = {.hooks = pats, .n_hooks = 1, .pos = r.pos, .n_pos = r.n_pos,
                        .batch = (int)a.batch};
        const char **names = NULL;
        int nn = 0;
        if (cache_match(r.m, pats, 1, &names, &nn)) {
            cli_fail("%s (list them with: mechlab hooks %s)", err_msg(), ckpt);
            goto done;
        }
        free(names);
        if (nn != 1) {
            rc = cli_usage(V, "--hook '%s' matches %d hook points; name one", o.hook, nn);
            goto done;
        }
        if (cache_run(r.m, &r.d, &co, &cache)) {
            cli_fail_err();
            goto done;
        }
        const CachePoint *p = &cache.points[0];
        if (p->pos_axis != 1) {
            cli_fail("%s is [batch, head, query, key]; an SAE needs a point shaped [batch, pos, ...]",
                     p->name);
            goto done;
        }
        snprintf(hook, sizeof hook, "%s", p->name);
        A.X = p->data;
        cache.points[0].data = NULL;  // ours now
        A.P = r.n_pos;
        A.posv = r.pos;
        A.rows = (size_t)r.d.n * r.n_pos;
        A.d = (int)(p->seq_floats / (size_t)r.n_pos);
        A.tok = r.d.tokens;
        A.N = r.d.n;
        A.T = r.d.T;
        A.bos = r.d.bos;
        if (r.d.kind == CACHE_DATA_TEXT && text_vocab(&A, r.ckpt, r.d.spec)) {
            cli_fail_err();
            goto done;
        }
        char ps[256];
        snprintf(data_desc, sizeof data_desc, "%s, %d sequences x positions %s", r.d.spec, r.d.n,
                 ana_pos_str(ps, sizeof ps, r.pos, r.n_pos));
    }
    if (A.rows < 2) {
        cli_fail("%s: %zu rows: too few to train an SAE on", o.npy ? o.npy : hook, A.rows);
        goto done;
    }

    // ---- train -----------------------------------------------------------------------------
    {
        SaeConfig sc = sae_config(A.d, o.d_sae ? (int)o.d_sae : (int)ceil(o.expansion * A.d));
        if (sc.d_sae < 1) sc.d_sae = 1;
        if (o.topk) {
            if (o.topk > sc.d_sae) {
                rc = cli_usage(V, "--topk %ld is more than the %d latents", o.topk, sc.d_sae);
                goto done;
            }
            sc.arch = SAE_TOPK;
            sc.k = (int)o.topk;
        }
        snprintf(sc.hook_name, sizeof sc.hook_name, "%s", hook);
        if (sscanf(hook, "blocks.%d.", &sc.hook_layer) != 1) sc.hook_layer = -1;
        if (r.m) {
            const char *b = strrchr(r.ckpt, '/');
            snprintf(sc.model_name, sizeof sc.model_name, "mechlab %.100s", b ? b + 1 : r.ckpt);
            sc.context_size = A.T ? A.T : r.d.T;
        }
        sae = sae_create(&sc, o.sae_seed);
        if (!sae) {
            cli_fail_err();
            goto done;
        }
        sae_init_b_dec_mean(sae, A.X, A.rows);
        SaeTrainConfig tc = sae_train_defaults();
        tc.batch = (int)(o.batch < (long)A.rows ? o.batch : (long)A.rows);
        tc.steps = o.steps;
        tc.lr.lr = (float)o.lr;
        tc.seed = o.sae_seed + 1;
        // Dead = silent for a quarter of the run (at least one pass over the data).
        long win = o.steps / 4 * tc.batch;
        tc.dead_window = win > (long)A.rows ? win : (long)A.rows;
        if (!o.topk) {
            tc.l1_coeff = (float)o.l1;
            tc.l1_warmup = o.steps / 10;
            // Resample twice a run until three quarters (Bricken et al. 2023).
            if (o.steps >= 8) {
                tc.resample_every = o.steps / 4;
                tc.resample_stop = o.steps * 3 / 4 + 1;
                tc.dead_window = tc.resample_every / 2 * tc.batch;
                if (tc.dead_window < 1) tc.dead_window = 1;
            }
        }
        tr = sae_trainer_create(sae, &tc, A.X, A.rows);
        if (!tr) {
            cli_fail_err();
            goto done;
        }
        if (o.topk) snprintf(l1s, sizeof l1s, "TopK k=%ld", o.topk);
        else snprintf(l1s, sizeof l1s, "ReLU, L1 %g", o.l1);
        printf("sae on %s, %s: %zu rows x %d, %d latents, %s, %ld steps of %d\n", hook, data_desc,
               A.rows, A.d, sc.d_sae, l1s, o.steps, tc.batch);
        fflush(stdout);  // before the progress lines on stderr
        double t0 = timer_now();
        SaeStepStats st = {0};
        for (long i = 0; i < o.steps; i++) {
            if (sae_trainer_step(tr, &st)) {
                cli_fail("%s: training step %ld: %s", hook, i, err_msg());
                goto done;
            }
            if ((i + 1) % (o.steps / 4 > 0 ? o.steps / 4 : 1) == 0)
                fprintf(stderr, "  step %ld: loss %.4g, mse %.4g, L0 %.2f, dead %d\n", i + 1,
                        st.loss, st.mse, st.l0, st.n_dead);
        }
        printf("trained in %.1f s, %ld latents resampled\n", timer_now() - t0,
               sae_trainer_n_resampled(tr));
    }

    // ---- measure ---------------------------------------------------------------------------
    const int L = sae->cfg.d_sae;
    density = malloc(sizeof(float) * (size_t)L);
    order = malloc(sizeof(int) * (size_t)L);
    if (!density || !order) {
        cli_fail("out of memory");
        goto done;
    }
    SaeEval ev;
    if (sae_evaluate(sae, A.X, A.rows, 1e-4, &ev, density)) {
        cli_fail_err();
        goto done;
    }
    SaeLossRecovered lr = {.recovered = NAN, .loss_orig = NAN, .loss_sae = NAN, .loss_zero = NAN};
    const int can_splice = r.m && r.d.tokens;
    if (can_splice) {
        if (loss_recovered(r.m, sae, hook, &r.d, r.m->max_batch, &lr)) {
            cli_fail("%s", err_msg());
            goto done;
        }
    }
    printf("%s, %d latents: L0 %.2f, FVU %.4f, MSE %.4g, dead %.3f, density<1e-4 %.3f\n", l1s, L,
           ev.l0, ev.fvu, ev.mse, ev.dead_frac, ev.low_frac);
    if (can_splice)
        printf("loss recovered %.4f (L_orig %.4f, L_sae %.4f, L_zero-ablation %.4f)\n",
               lr.recovered, lr.loss_orig, lr.loss_sae, lr.loss_zero);
    else
        printf("loss recovered: n/a (needs a checkpoint and the tokens)\n");

    const int have_ctx = A.tok && A.P > 0;
    if (tops_collect(sae, &A, &tops)) {
        cli_fail_err();
        goto done;
    }
    int n_alive = 0, n_eligible = 0, n_tok = 0, n_pos = 0, n_either = 0;
    for (int i = 0; i < L; i++) {
        if (density[i] > 0) order[n_alive++] = i;
        if (!have_ctx || tops.cnt[i] < MIN_TOP) continue;
        int md;
        double ts = top_share(&A, &tops, i, 1, &md), ps = top_share(&A, &tops, i, 0, &md);
        n_eligible++;
        n_tok += ts >= SPECIFIC;
        n_pos += ps >= SPECIFIC;
        n_either += ts >= SPECIFIC || ps >= SPECIFIC;
    }
    g_density = density;
    qsort(order, (size_t)n_alive, sizeof(int), cmp_idx);
    if (have_ctx)
        printf("token/position-specific (>= %.0f %% of a feature's top %d activations at one token "
               "id / one position), of %d alive features with >= %d activations: %d token, %d "
               "position, %d either\n",
               100 * SPECIFIC, TOPN, n_eligible, MIN_TOP, n_tok, n_pos, n_either);

    // ---- write -----------------------------------------------------------------------------
    if (fileio_mkdirs(o.out) || ana_path(path, sizeof path, o.out, "sae") ||
        sae_save_saelens(path, sae, sae->cfg.arch == SAE_TOPK ? -1 : o.l1)) {
        cli_fail_err();
        goto done;
    }
    char title[256];
    snprintf(title, sizeof title, "SAE on %s", hook);
    rep = report_create(title);
    if (!rep) {
        cli_fail_err();
        goto done;
    }
    report_paragraphf(rep,
                      "A sparse autoencoder (%s, %d latents on d_in = %d) trained for %ld steps on "
                      "%zu activation rows (%s). Saved as a SAELens folder in sae/.",
                      l1s, L, A.d, o.steps, A.rows, data_desc);
    report_heading(rep, 2, "Summary");
    {
        char v1[64], v2[64], v3[64], v4[64], v5[64], v6[64], v7[64];
        report_table_begin(rep, 2, (const char *[]){"metric", "value"});
        report_num(v1, sizeof v1, ev.l0, 4);
        report_table_row(rep, (const char *[]){"L0 (active latents per row)", v1});
        report_num(v2, sizeof v2, ev.fvu, 4);
        report_table_row(rep, (const char *[]){"fraction of variance unexplained", v2});
        report_num(v3, sizeof v3, ev.dead_frac, 4);
        report_table_row(rep, (const char *[]){"dead fraction (never fired)", v3});
        report_num(v4, sizeof v4, ev.low_frac, 4);
        report_table_row(rep, (const char *[]){"density < 1e-4 fraction", v4});
        report_num(v5, sizeof v5, lr.recovered, 4);
        report_table_row(rep, (const char *[]){"cross-entropy loss recovered", can_splice ? v5 : "n/a"});
        if (can_splice) {
            report_num(v6, sizeof v6, lr.loss_orig, 5);
            report_num(v7, sizeof v7, lr.loss_sae, 5);
            report_table_row(rep, (const char *[]){"loss: original", v6});
            report_table_row(rep, (const char *[]){"loss: SAE spliced in", v7});
            report_num(v6, sizeof v6, lr.loss_zero, 5);
            report_table_row(rep, (const char *[]){"loss: activation zero-ablated", v6});
        }
        if (have_ctx) {
            snprintf(v1, sizeof v1, "%d of %d", n_tok, n_eligible);
            snprintf(v2, sizeof v2, "%d of %d", n_pos, n_eligible);
            report_table_row(rep, (const char *[]){"token-specific features (>= 80 % one id)", v1});
            report_table_row(rep, (const char *[]){"position-specific features (>= 80 % one position)", v2});
        }
        report_table_end(rep);
        report_paragraphf(rep,
                          "Loss recovered = (L_zero - L_sae) / (L_zero - L_orig): the SAE's "
                          "reconstruction replaces %s in the forward pass; 1 loses nothing, 0 is as "
                          "bad as zeroing the activation. Token/position shares are over each "
                          "feature's top %d activations, for features with at least %d.",
                          hook, TOPN, MIN_TOP);
    }
    report_heading(rep, 2, "Feature density");
    {
        float centre[HIST_BINS], counts[HIST_BINS];
        int zero;
        for (int b = 0; b < HIST_BINS; b++)
            centre[b] = (float)(HIST_LO + (b + 0.5) * (HIST_HI - HIST_LO) / HIST_BINS);
        sae_density_histogram(density, L, HIST_LO, HIST_HI, HIST_BINS, counts, &zero);
        PlotBars pb = {.values = counts, .n = HIST_BINS};
        char lab[HIST_BINS][16];
        const char *labs[HIST_BINS];
        for (int b = 0; b < HIST_BINS; b++) {
            snprintf(lab[b], sizeof lab[b], "%.2f", (double)centre[b]);
            labs[b] = lab[b];
        }
        pb.labels = labs;
        PlotOpts po = {.title = "Feature density histogram", .xlabel = "log10(firing frequency)",
                       .ylabel = "latents"};
        char cap[256];
        snprintf(cap, sizeof cap,
                 "Latents per bin of log10(fraction of rows on which they fire); %d never fired "
                 "(not binned).",
                 zero);
        if (plot_bars(&svg, &po, &pb) || ana_write(o.out, "density.svg", &svg)) {
            cli_fail_err();
            goto done;
        }
        report_figure(rep, svg.p, cap);
    }

    // Feature table (csv: every alive latent) and dashboard (the most frequent ones).
    const int nV = r.m ? r.m->cfg.d_vocab : 0;
    const int can_logits = r.m && A.d == r.m->cfg.d_model && strstr(hook, "hook_z") == NULL &&
                           strstr(hook, "hook_q") == NULL && strstr(hook, "hook_k") == NULL &&
                           strstr(hook, "hook_v") == NULL;
    if (can_logits && !(logit = malloc(sizeof(float) * (size_t)nV))) {
        cli_fail("out of memory");
        goto done;
    }
    buf_puts(&csv, "feature,density,top_token,top_token_share,top_position,top_position_share\n");
    for (int j = 0; j < n_alive; j++) {
        int i = order[j], mt = -1, mp = -1;
        double ts = NAN, ps = NAN;
        if (have_ctx && tops.cnt[i]) ts = top_share(&A, &tops, i, 1, &mt), ps = top_share(&A, &tops, i, 0, &mp);
        buf_printf(&csv, "%d,%.6g,%d,%.4f,%d,%.4f\n", i, (double)density[i], mt, ts, mp, ps);
    }
    const int n_show = n_alive < o.n_feat ? n_alive : (int)o.n_feat;
    report_heading(rep, 2, "Feature dashboard");
    report_paragraphf(rep,
                      "The %d most frequent of %d alive features (features.csv lists all). "
                      "Contexts show up to %ld tokens before the activating one, which is in "
                      "\xe2\x9f\xa6 \xe2\x9f\xa7.%s",
                      n_show, n_alive, o.window,
                      can_logits ? " Logits: W_dec[i] (times ln_final.w when the model has it) "
                                   "through W_U; the direct effect, ignoring ln_final's scale."
                                 : "");
    {
        report_table_begin(rep, 6, (const char *[]){"feature", "density", "top token", "share",
                                                    "top position", "share"});
        for (int j = 0; j < n_show; j++) {
            int i = order[j], mt = -1, mp = -1;
            char c0[16], c1[32], c2[16], c3[16], c4[16], c5[16];
            snprintf(c0, sizeof c0, "%d", i);
            report_num(c1, sizeof c1, density[i], 3);
            c2[0] = c3[0] = c4[0] = c5[0] = 0;
            if (have_ctx && tops.cnt[i]) {
                double ts = top_share(&A, &tops, i, 1, &mt), ps = top_share(&A, &tops, i, 0, &mp);
                tok_str(&A, mt, c2, sizeof c2);
                snprintf(c3, sizeof c3, "%.0f %%", 100 * ts);
                snprintf(c4, sizeof c4, "%d", mp);
                snprintf(c5, sizeof c5, "%.0f %%", 100 * ps);
            }
            report_table_row(rep, (const char *[]){c0, c1, c2, c3, c4, c5});
        }
        report_table_end(rep);
    }
    for (int j = 0; j < n_show; j++) {
        int i = order[j], mt = -1, mp = -1;
        char hd[64];
        snprintf(hd, sizeof hd, "Feature %d", i);
        report_heading(rep, 3, hd);
        if (have_ctx && tops.cnt[i]) {
            double ts = top_share(&A, &tops, i, 1, &mt), ps = top_share(&A, &tops, i, 0, &mp);
            char tk[16];
            tok_str(&A, mt, tk, sizeof tk);
            report_paragraphf(rep,
                              "density %.4g (fires on %.0f of %zu rows); of its top %d activations "
                              "%.0f %% are at token %s and %.0f %% at position %d%s",
                              (double)density[i], (double)density[i] * (double)A.rows, A.rows,
                              tops.cnt[i], 100 * ts, tk, 100 * ps, mp,
                              ts >= SPECIFIC && ps >= SPECIFIC ? ": token- and position-specific."
                              : ts >= SPECIFIC   ? ": token-specific."
                              : ps >= SPECIFIC ? ": position-specific."
                                               : ".");
            report_table_begin(rep, 4, (const char *[]){"activation", "sequence", "position", "context"});
            for (int k = 0; k < tops.cnt[i] && k < o.n_ctx; k++) {
                size_t row = tops.row[(size_t)i * TOPN + k];
                char a0[32], a1[16], a2[16], a3[1024];
                report_num(a0, sizeof a0, tops.val[(size_t)i * TOPN + k], 4);
                snprintf(a1, sizeof a1, "%zu", row / (size_t)A.P);
                snprintf(a2, sizeof a2, "%d", A.posv[row % (size_t)A.P]);
                context_str(&A, row, (int)o.window, a3, sizeof a3);
                report_table_row(rep, (const char *[]){a0, a1, a2, a3});
            }
            report_table_end(rep);
        } else {
            report_paragraphf(rep, "density %.4g (no token contexts for this input)",
                              (double)density[i]);
        }
        if (can_logits) {
            feature_logits(r.m, sae, i, logit);
            int k = N_LOGITS < nV ? N_LOGITS : nV, idx[N_LOGITS];
            char lst[512];
            extreme_k(logit, nV, k, 1, idx);
            logit_list(&A, logit, idx, k, lst, sizeof lst);
            report_paragraphf(rep, "promotes: %s", lst);
            extreme_k(logit, nV, k, 0, idx);
            logit_list(&A, logit, idx, k, lst, sizeof lst);
            report_paragraphf(rep, "suppresses: %s", lst);
        }
    }
    report_link(rep, "features.csv", "every alive feature: density, top token and position with shares");
    report_link(rep, "metrics.json", "the summary metrics");
    report_link(rep, "sae/cfg.json", "the SAE (SAELens folder: cfg.json, sae_weights.safetensors)");

    buf_puts(&js, "{\n  \"hook\": ");
    buf_put_json_str(&js, hook);
    buf_puts(&js, ",\n  \"data\": ");
    buf_put_json_str(&js, data_desc);
    buf_printf(&js, ",\n  \"rows\": %zu, \"d_in\": %d, \"d_sae\": %d, \"architecture\": \"%s\"",
               A.rows, A.d, L, sae->cfg.arch == SAE_TOPK ? "topk" : "standard");
    if (sae->cfg.arch == SAE_TOPK) buf_printf(&js, ", \"k\": %d", sae->cfg.k);
    else buf_puts(&js, ", \"l1_coefficient\": "), json_put_double(&js, o.l1);
    buf_printf(&js, ", \"steps\": %ld,\n  \"l0\": ", o.steps);
    json_put_double(&js, ev.l0);
    buf_puts(&js, ", \"fvu\": ");
    json_put_double(&js, ev.fvu);
    buf_puts(&js, ", \"mse\": ");
    json_put_double(&js, ev.mse);
    buf_puts(&js, ", \"dead_frac\": ");
    json_put_double(&js, ev.dead_frac);
    buf_puts(&js, ", \"low_density_frac\": ");
    json_put_double(&js, ev.low_frac);
    if (can_splice) {
        buf_puts(&js, ",\n  \"loss_orig\": ");
        json_put_double(&js, lr.loss_orig);
        buf_puts(&js, ", \"loss_sae\": ");
        json_put_double(&js, lr.loss_sae);
        buf_puts(&js, ", \"loss_zero\": ");
        json_put_double(&js, lr.loss_zero);
        buf_puts(&js, ", \"loss_recovered\": ");
        if (isfinite(lr.recovered)) json_put_double(&js, lr.recovered);
        else buf_puts(&js, "null");
    }
    if (have_ctx)
        buf_printf(&js,
                   ",\n  \"features_with_contexts\": %d, \"token_specific\": %d, "
                   "\"position_specific\": %d, \"token_or_position_specific\": %d",
                   n_eligible, n_tok, n_pos, n_either);
    buf_puts(&js, "\n}\n");
    if (ana_write(o.out, "features.csv", &csv) || ana_write(o.out, "metrics.json", &js) ||
        ana_path(path, sizeof path, o.out, "report.html") || report_save(rep, path)) {
        cli_fail_err();
        goto done;
    }
    printf("wrote %s/report.html, density.svg, features.csv, metrics.json, sae/ (SAELens)\n", o.out);
    rc = EXIT_OK;
done:
    buf_free(&svg);
    buf_free(&csv);
    buf_free(&js);
    report_free(rep);
    free(logit);
    free(order);
    free(density);
    tops_free(&tops);
    sae_trainer_free(tr);
    sae_free(sae);
    acts_free(&A);
    cache_free(&cache);
    ana_close(&r);
    return rc;
}
