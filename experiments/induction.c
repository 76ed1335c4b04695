// mechlab run induction — induction heads form in a phase change (Elhage et al. 2021, "A
// Mathematical Framework for Transformer Circuits"; Olsson et al. 2022, "In-context Learning and
// Induction Heads").
//
// Trains a 2-layer attention-only transformer on [BOS] r r sequences (a random segment, then the
// same segment again: the second half is predictable only by looking back), and a 1-layer
// control the same way, then takes the 2-layer model apart with interp/heads.h: head-detector
// scores over training, attention patterns, QK/OV circuits, K-composition, and ablations through
// hooks. Writes OUT/ (runs/induction): model.safetensors, metrics.csv, summary.json, report.html,
// a few SVG figures, and control/ with the 1-layer run.
//
// Published results it checks (see the "Done when" list of the issue, and the report):
//   - repeated-half loss ends below 1 nat while the first half stays near ln(vocab), with a sharp
//     drop (Olsson et al. 2022, the phase change);
//   - a layer-1 head with induction (prefix-matching) score >= 0.7 and a layer-0 previous-token
//     head with score >= 0.3, the previous-token head K-composing into the induction heads more
//     than the other layer-0 heads do (Elhage et al. 2021);
//   - ablating the induction heads removes the in-context gain; a 1-layer model cannot do it.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "interp/heads.h"
#include "interp/plot.h"
#include "interp/report.h"
#include "interp/summary.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/json.h"
#include "model/pool.h"
#include "model/timer.h"
#include "train/tf_train.h"
#include "verbs.h"

#define REPRODUCES \
    "Elhage et al. 2021; Olsson et al. 2022 - induction heads, phase change, K-composition"

// Classification thresholds, fixed before any run: a head is of a kind when at least 30 % of its
// attention (over the queries that have a target of that kind) goes to that kind's targets.
#define THRESH_PREV 0.3
#define THRESH_IND 0.3
#define THRESH_DUP 0.3

enum { CLS_PREV = 1, CLS_DUP = 2, CLS_IND = 4 };
enum { S_PREV, S_DUP, S_IND, S_PREFIX, N_S };  // per-head columns of the score history

typedef struct {
    TfConfig cfg;
    int use_bos, repeat_min, batch, eval_batches;
    long steps, eval_every, warmup;
    double lr;
    uint64_t seed;
} Settings;

// One trained model and everything measured on it.
typedef struct {
    Settings set;
    char dir[4096];
    const char *label;  // "2-layer", "1-layer control"
    TfTrainer *t;
    int L, H, NH, T, n;  // layers, heads, heads total, sequence length, held-out sequences
    // history, one entry per evaluation
    int nh, cap;
    float *h_step, *h_train, *h_val, *h_first, *h_rep, *h_icl, *h_sc;  // h_sc [cap][N_S][NH]
    char (*colnames)[32];
    const char **colptr;
    // final numbers
    double train, val, first, rep, ln_vocab;
    double phase_step, sharpness;
    float *tl, *tg;  // [3·NH] TL scores, target-row scores (prev, dup, ind)
    double ind_ceiling;
    double *loss_pos;
    HeadsIcl icl;
    float *patterns;  // [NH][T][T] on held-out sequence 0
    int *cls;         // [NH]
    HeadsCopying *copy;
    float *cq, *ck, *cv;  // [(L-1)·H·H]
    double *abl_zero, *abl_mean, *abl_zero_first, *abl_mean_first;  // [NH] losses
    int n_ind, n_prev;
    double grp_ind_zero, grp_ind_mean, grp_prev_mean, grp_ind_first;
    int top_ind, top_prev;  // head indices (-1 if none)
    float *ov_circuit, *qk_pos;
    double wall;
} Model;

static void usage(FILE *f) {
    fprintf(f,
        "Usage: mechlab run induction [options]\n"
        "Train a 2-layer attention-only transformer on repeated random segments and watch\n"
        "induction heads form (Elhage et al. 2021; Olsson et al. 2022); train a 1-layer control the\n"
        "same way; analyse heads (scores, patterns, circuits, composition, ablations). Writes\n"
        "OUT/model.safetensors, metrics.csv, summary.json, report.html and control/.\n\n"
        "  --out DIR            output folder                                   [runs/induction]\n"
        "  --seed S             model init and data                              [0]\n"
        "  --steps N            training steps of the main model                 [1000]\n"
        "  --control-steps N    training steps of the 1-layer control       [half of --steps]\n"
        "  --no-control         skip the 1-layer control\n"
        "  --layers N           layers of the main model; 1 runs only the control config [2]\n"
        "  --heads H            heads per layer                                  [4]\n"
        "  --d-model D          residual width (d_head = D/H)                    [64]\n"
        "  --vocab V            vocabulary, BOS included                         [64]\n"
        "  --n-ctx N            sequence length; the longest segment is (N-1)/2  [64]\n"
        "  --no-bos             no BOS token\n"
        "  --repeat-min N       shortest segment: each sequence draws its length from [N, longest]\n"
        "                       and repeats it to the end; 0 = always the longest, repeated\n"
        "                       once (one layer can then solve it)       [half the longest]\n"
        "  --batch B            sequences per step                               [32]\n"
        "  --lr X               peak learning rate (AdamW, cosine to lr/10)      [3e-3]\n"
        "  --warmup N           warm-up steps                                    [100]\n"
        "  --eval-every N       evaluate (losses, head scores) every N steps     [20]\n"
        "  --threads N          worker threads (default: MECHLAB_THREADS or all cores)\n"
        "  -h, --help\n");
}

// ---- training with head scores every evaluation -------------------------------------------------

static int hist_grow(Model *M) {
    if (M->nh < M->cap) return 0;
    int cap = M->cap ? 2 * M->cap : 64;
    float **arrs[] = {&M->h_step, &M->h_train, &M->h_val, &M->h_first, &M->h_rep, &M->h_icl};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        float *p = realloc(*arrs[i], sizeof(float) * cap);
        if (!p) return err_set("out of memory");
        *arrs[i] = p;
    }
    float *p = realloc(M->h_sc, sizeof(float) * (size_t)cap * N_S * M->NH);
    if (!p) return err_set("out of memory");
    M->h_sc = p;
    M->cap = cap;
    return 0;
}

// Every evaluation: the trainer has filled val / first / repeat (state.last_eval[0..2]); add every
// head's scores on the first held-out batch and the ICL score.
static int extra_eval(void *user, TfTrainer *t, long step, double *values) {
    Model *M = user;
    const int NH = M->NH, B = t->spec.batch, T = t->T;
    float sc[HEADS_N_PATTERNS * TRAIN_MAX_EVAL], tg[HEADS_N_PATTERNS * TRAIN_MAX_EVAL];  // NH < TRAIN_MAX_EVAL / 4
    HeadsScoreOpts tl = {0}, rows = {.target_rows_only = 1};
    if (heads_detect(t->m, t->vtok, B, T, NULL, &tl, sc) ||
        heads_detect(t->m, t->vtok, B, T, NULL, &rows, tg) ||
        heads_position_losses(t->m, t->vtok, t->vtg, B, T, NULL, M->loss_pos) || hist_grow(M))
        return -1;
    HeadsIcl icl = heads_icl_score(M->loss_pos, T);
    values[0] = icl.score;
    float *row = M->h_sc + (size_t)M->nh * N_S * NH;
    for (int i = 0; i < NH; i++) {
        double v[N_S] = {sc[HEADS_PREV * NH + i], sc[HEADS_DUP * NH + i], sc[HEADS_IND * NH + i],
                         tg[HEADS_IND * NH + i]};
        for (int k = 0; k < N_S; k++) {
            values[1 + i * N_S + k] = v[k];
            row[k * NH + i] = (float)v[k];
        }
    }
    const TrainState *st = &t->state;
    M->h_step[M->nh] = (float)step;
    M->h_train[M->nh] = (float)(st->loss_count ? st->loss_sum / st->loss_count : st->last_loss);
    M->h_val[M->nh] = (float)st->last_eval[0];
    M->h_first[M->nh] = (float)st->last_eval[1];
    M->h_rep[M->nh] = (float)st->last_eval[2];
    M->h_icl[M->nh] = (float)icl.score;
    M->nh++;
    return 0;
}

static int train_model(Model *M, int progress) {
    const Settings *s = &M->set;
    TfTrainSpec sp;
    memset(&sp, 0, sizeof sp);
    snprintf(sp.data, sizeof sp.data, "repeat");
    sp.model = s->cfg;
    sp.use_bos = s->use_bos;
    sp.repeat_min = s->repeat_min;
    sp.batch = s->batch;
    sp.seed = s->seed;
    sp.eval_batches = s->eval_batches;
    sp.train.steps = s->steps;
    sp.train.eval_every = s->eval_every;
    sp.train.ckpt_every = 0;
    sp.train.clip = 1.0;
    sp.train.optim = optim_defaults(OPTIM_ADAMW);
    long warm = s->warmup < s->steps ? s->warmup : s->steps / 10;
    sp.train.sched = (Sched){.kind = SCHED_WARMUP_COSINE, .lr = (float)s->lr, .warmup = warm,
                             .total = s->steps, .min_lr = (float)s->lr / 10};
    sp.train.out_dir = M->dir;
    sp.train.progress = progress;
    M->t = tftrain_create(&sp);
    if (!M->t) return -1;
    M->L = s->cfg.n_layers, M->H = s->cfg.n_heads, M->NH = M->L * M->H, M->T = M->t->T;
    M->n = s->batch * M->t->spec.eval_batches;
    M->ln_vocab = log((double)s->cfg.d_vocab);
    int ncol = 1 + N_S * M->NH;
    M->colnames = calloc((size_t)ncol, sizeof *M->colnames);
    M->colptr = calloc((size_t)ncol, sizeof *M->colptr);
    M->loss_pos = calloc((size_t)M->T, sizeof(double));
    if (!M->colnames || !M->colptr || !M->loss_pos) return err_set("out of memory");
    static const char *const sfx[N_S] = {"prev", "dup", "ind", "prefix"};
    snprintf(M->colnames[0], 32, "icl_score");
    for (int i = 0; i < M->NH; i++)
        for (int k = 0; k < N_S; k++)
            snprintf(M->colnames[1 + i * N_S + k], 32, "L%dH%d_%s", i / M->H, i % M->H, sfx[k]);
    for (int i = 0; i < ncol; i++) M->colptr[i] = M->colnames[i];
    if (tftrain_add_eval(M->t, ncol, M->colptr, extra_eval, M)) return -1;
    fprintf(stderr, "training the %s model (%d layer%s x %d heads, d_model %d, vocab %d, %d tokens, "
                    "%ld steps) -> %s\n",
            M->label, M->L, M->L > 1 ? "s" : "", M->H, s->cfg.d_model, s->cfg.d_vocab, M->T,
            s->steps, M->dir);
    int rc = tftrain_run(M->t);
    if (rc > 0) return err_set("interrupted; the checkpoint is in %s", M->dir);
    return rc;
}

// ---- analysis ------------------------------------------------------------------------------------

// The phase change: the evaluation interval with the steepest drop of the repeated-half loss (its
// midpoint), and how sharp it is: the largest share of the total drop that happens within any
// window of a tenth of training.
static void phase_change(Model *M) {
    M->phase_step = NAN;
    M->sharpness = NAN;
    double best = 0;
    for (int i = 1; i < M->nh; i++) {
        double slope = (M->h_rep[i - 1] - M->h_rep[i]) / (M->h_step[i] - M->h_step[i - 1]);
        if (slope > best) best = slope, M->phase_step = 0.5 * (M->h_step[i] + M->h_step[i - 1]);
    }
    if (M->nh < 2) return;
    double total = M->h_rep[0] - M->h_rep[M->nh - 1], bestw = 0;
    double win = fmax(0.1 * M->set.steps, (double)M->set.eval_every);  // at least one interval
    for (int i = 0; i < M->nh; i++)
        for (int j = i + 1; j < M->nh && M->h_step[j] - M->h_step[i] <= win + 1e-9; j++)
            if (M->h_rep[i] - M->h_rep[j] > bestw) bestw = M->h_rep[i] - M->h_rep[j];
    M->sharpness = total > 0 ? bestw / total : 0;
}

static int ablate(Model *M, HeadsAblateKind kind, const unsigned char *mask, const float *means,
                  double *first, double *rep) {
    HeadsAblation a = {.kind = kind, .n_layers = M->L, .n_heads = M->H,
                       .d_head = M->set.cfg.d_head, .mask = mask, .means = means};
    HookList hl = {0};
    double val;
    int rc = heads_ablation_hooks(&hl, &a) || tftrain_eval_losses(M->t, &hl, &val, first, rep);
    hooks_free(&hl);
    return rc ? -1 : 0;
}

static int analyse(Model *M) {
    TfTrainer *t = M->t;
    Transformer *m = t->m;
    const int L = M->L, H = M->H, NH = M->NH, T = M->T, n = M->n, V = M->set.cfg.d_vocab;
    fprintf(stderr, "analysing the %s model: scores, patterns, circuits, ablations\n", M->label);
    M->train = t->state.last_loss;
    if (tftrain_eval_losses(t, NULL, &M->val, &M->first, &M->rep)) return -1;
    phase_change(M);
    M->tl = malloc(sizeof(float) * 3 * NH);
    M->tg = malloc(sizeof(float) * 3 * NH);
    M->patterns = malloc(sizeof(float) * (size_t)NH * T * T);
    M->cls = calloc((size_t)NH, sizeof(int));
    M->copy = calloc((size_t)NH, sizeof(HeadsCopying));
    M->abl_zero = malloc(sizeof(double) * NH * 4);
    float *means = malloc(sizeof(float) * (size_t)NH * M->set.cfg.d_head);
    unsigned char *mask = malloc((size_t)NH);
    float *det = malloc(sizeof(float) * (size_t)T * T);
    if (!M->tl || !M->tg || !M->patterns || !M->cls || !M->copy || !M->abl_zero || !means ||
        !mask || !det) {
        free(means), free(mask), free(det);
        return err_set("out of memory");
    }
    M->abl_mean = M->abl_zero + NH, M->abl_zero_first = M->abl_mean + NH;
    M->abl_mean_first = M->abl_zero_first + NH;
    int rc = -1;
    HeadsScoreOpts tl = {0}, rows = {.target_rows_only = 1};
    if (heads_detect(m, t->vtok, n, T, NULL, &tl, M->tl) ||
        heads_detect(m, t->vtok, n, T, NULL, &rows, M->tg) ||
        heads_position_losses(m, t->vtok, t->vtg, n, T, NULL, M->loss_pos))
        goto done;
    M->icl = heads_icl_score(M->loss_pos, T);
    // The best TL induction score any head could reach here: the share of queries with a target.
    double ceil_sum = 0;
    for (int b = 0; b < n; b++) {
        heads_detection_pattern(det, HEADS_IND, t->vtok + (size_t)b * T, T);
        int rws = 0;
        for (int q = 0; q < T; q++) {
            int any = 0;
            for (int s = 0; s <= q; s++) any |= det[(size_t)q * T + s] != 0;
            rws += any;
        }
        ceil_sum += (double)rws / T;
    }
    M->ind_ceiling = ceil_sum / n;
    // Attention patterns on held-out sequence 0.
    if (tf_forward(m, t->vtok, NULL, 1, T, NULL, NULL)) goto done;
    for (int l = 0; l < L; l++) {
        char nm[64];
        snprintf(nm, sizeof nm, "blocks.%d.attn.hook_pattern", l);
        Tensor p = tf_act(m, nm);
        memcpy(M->patterns + (size_t)l * H * T * T, p.data, sizeof(float) * (size_t)H * T * T);
    }
    // Classes, and the heads the circuits section shows.
    M->top_ind = M->top_prev = -1;
    M->n_ind = M->n_prev = 0;
    for (int i = 0; i < NH; i++) {
        if (M->tl[HEADS_PREV * NH + i] >= THRESH_PREV) M->cls[i] |= CLS_PREV, M->n_prev++;
        if (M->tg[HEADS_DUP * NH + i] >= THRESH_DUP) M->cls[i] |= CLS_DUP;
        if (M->tg[HEADS_IND * NH + i] >= THRESH_IND) M->cls[i] |= CLS_IND, M->n_ind++;
        if (i / H >= (L > 1 ? 1 : 0) &&
            (M->top_ind < 0 || M->tg[HEADS_IND * NH + i] > M->tg[HEADS_IND * NH + M->top_ind]))
            M->top_ind = i;
        if (i < H && (M->top_prev < 0 || M->tl[HEADS_PREV * NH + i] > M->tl[HEADS_PREV * NH + M->top_prev]))
            M->top_prev = i;
        if (heads_copying(m, i / H, i % H, 1, &M->copy[i])) goto done;
    }
    M->ov_circuit = malloc(sizeof(float) * (size_t)V * V);
    M->qk_pos = malloc(sizeof(float) * (size_t)M->set.cfg.n_ctx * M->set.cfg.n_ctx);
    if (!M->ov_circuit || !M->qk_pos) {
        err_set("out of memory");
        goto done;
    }
    if (heads_ov_circuit(m, M->top_ind / H, M->top_ind % H, 1, M->ov_circuit) ||
        heads_qk_pos_circuit(m, M->top_prev / H, M->top_prev % H, 1, M->qk_pos))
        goto done;
    if (L > 1) {
        size_t nc = (size_t)(L - 1) * H * H;
        M->cq = malloc(sizeof(float) * nc * 3);
        if (!M->cq) {
            err_set("out of memory");
            goto done;
        }
        M->ck = M->cq + nc, M->cv = M->ck + nc;
        if (heads_composition(m, 1, M->cq, M->ck, M->cv)) goto done;
    }
    // Ablations: every head alone, zero and mean (over every held-out position); then groups.
    if (heads_z_means(m, t->vtok, n, T, means)) goto done;
    for (int i = 0; i < NH; i++) {
        memset(mask, 0, (size_t)NH);
        mask[i] = 1;
        if (ablate(M, HEADS_ABLATE_ZERO, mask, NULL, &M->abl_zero_first[i], &M->abl_zero[i]) ||
            ablate(M, HEADS_ABLATE_MEAN, mask, means, &M->abl_mean_first[i], &M->abl_mean[i]))
            goto done;
    }
    M->grp_ind_zero = M->grp_ind_mean = M->grp_prev_mean = M->grp_ind_first = NAN;
    double f;
    if (M->n_ind) {
        for (int i = 0; i < NH; i++) mask[i] = (M->cls[i] & CLS_IND) != 0;
        if (ablate(M, HEADS_ABLATE_ZERO, mask, NULL, &f, &M->grp_ind_zero) ||
            ablate(M, HEADS_ABLATE_MEAN, mask, means, &M->grp_ind_first, &M->grp_ind_mean))
            goto done;
    }
    if (M->n_prev) {
        for (int i = 0; i < NH; i++) mask[i] = (M->cls[i] & CLS_PREV) != 0;
        if (ablate(M, HEADS_ABLATE_MEAN, mask, means, &f, &M->grp_prev_mean)) goto done;
    }
    rc = 0;
done:
    free(means);
    free(mask);
    free(det);
    return rc;
}

static void model_free(Model *M) {
    tftrain_free(M->t);
    free(M->h_step), free(M->h_train), free(M->h_val), free(M->h_first), free(M->h_rep);
    free(M->h_icl), free(M->h_sc), free(M->colnames), free(M->colptr), free(M->loss_pos);
    free(M->tl), free(M->tg), free(M->patterns), free(M->cls), free(M->copy), free(M->cq);
    free(M->abl_zero), free(M->ov_circuit), free(M->qk_pos);
}

// ---- checks, summary ------------------------------------------------------------------------------

static const char *head_name(char *out, int i, int H) {
    snprintf(out, 32, "L%dH%d", i / H, i % H);
    return out;
}

static const char *class_name(int c) {
    static const char *const names[8] = {"-", "previous-token", "duplicate-token",
                                         "previous-token, duplicate-token", "induction",
                                         "previous-token, induction", "duplicate-token, induction",
                                         "previous-token, duplicate-token, induction"};
    return names[c & 7];
}

typedef struct {
    const char *name;
    double measured;
    char published[256];
    int pass, applicable;
} Check;

#define MAX_CHECKS 12

// The "Done when" checks on the main model (and the control when there is one).
static double best_prefix(const Model *M, int from_layer) {
    double b = 0;
    for (int i = from_layer * M->H; i < M->NH; i++) b = fmax(b, M->tg[HEADS_IND * M->NH + i]);
    return b;
}

// A run of the 1-layer configuration alone: it should not do what the 2-layer model does.
static int control_checks(const Model *M, Check *ck) {
    int k = 0;
    ck[k] = (Check){"|first-half loss - ln(vocab)| (nat)", fabs(M->first - M->ln_vocab), "",
                    fabs(M->first - M->ln_vocab) <= 0.5, 1};
    snprintf(ck[k++].published, 256, "<= 0.5 nat (ln %d = %.3f)", M->set.cfg.d_vocab, M->ln_vocab);
    ck[k] = (Check){"1-layer model's repeated-half loss (nat)", M->rep, "", M->rep >= 1.0, 1};
    snprintf(ck[k++].published, 256, ">= 1 nat, where the 2-layer model goes below 1 (Olsson et al. "
                                     "2022, Elhage et al. 2021: one attention layer cannot form an "
                                     "induction head)");
    double b = best_prefix(M, 0);
    ck[k] = (Check){"1-layer model's best induction (prefix-matching) score", b, "", b < 0.7, 1};
    snprintf(ck[k++].published, 256, "< 0.7, the 2-layer model's induction threshold");
    return k;
}

static int make_checks(const Model *M, const Model *C, Check *ck) {
    if (M->L == 1) return control_checks(M, ck);
    int k = 0;
    const int H = M->H, NH = M->NH;
    ck[k] = (Check){"repeated-half loss (nat)", M->rep, "", M->rep < 1.0, 1};
    snprintf(ck[k++].published, 256, "< 1 nat at the end of training (issue threshold; Olsson et al. "
                                     "2022: in-context loss falls after the phase change)");
    ck[k] = (Check){"|first-half loss - ln(vocab)| (nat)", fabs(M->first - M->ln_vocab), "",
                    fabs(M->first - M->ln_vocab) <= 0.5, 1};
    snprintf(ck[k++].published, 256, "<= 0.5 nat: the random half stays unpredictable "
                                     "(ln %d = %.3f)", M->set.cfg.d_vocab, M->ln_vocab);
    ck[k] = (Check){"phase change: share of the repeated-half loss drop within 10 % of training",
                    M->sharpness, "", M->sharpness >= 0.5, 1};
    snprintf(ck[k++].published, 256, ">= 0.5, a sharp drop (Olsson et al. 2022: induction heads form "
                                     "in a narrow window of training, the phase change); at step %.0f",
             M->phase_step);
    double best_ind = -1, best_prev = -1;
    for (int i = H; i < NH; i++) best_ind = fmax(best_ind, M->tg[HEADS_IND * NH + i]);
    for (int i = 0; i < H; i++) best_prev = fmax(best_prev, M->tl[HEADS_PREV * NH + i]);
    ck[k] = (Check){"best induction (prefix-matching) score of a head in layer >= 1", best_ind, "",
                    best_ind >= 0.7, M->L > 1};
    snprintf(ck[k++].published, 256, ">= 0.7 (Olsson et al. 2022: induction heads attend to the "
                                     "token after the previous occurrence)");
    ck[k] = (Check){"best previous-token score of a layer-0 head", best_prev, "", best_prev >= 0.3,
                    M->L > 1};
    snprintf(ck[k++].published, 256, ">= 0.3 (Elhage et al. 2021: a previous-token head in layer 0 "
                                     "feeds the induction head)");
    // K-composition from the top previous-token head into the induction heads of layer 1, against
    // the best other layer-0 head.
    double kprev = NAN, kother = -1;
    int nind1 = 0;
    if (M->L > 1 && M->top_prev >= 0) {
        double sp = 0;
        for (int j = 0; j < H; j++) {
            if (!(M->cls[H + j] & CLS_IND)) continue;
            nind1++;
            sp += M->ck[M->top_prev * H + j];
        }
        if (nind1) {
            kprev = sp / nind1;
            for (int i = 0; i < H; i++) {
                if (i == M->top_prev) continue;
                double s = 0;
                for (int j = 0; j < H; j++)
                    if (M->cls[H + j] & CLS_IND) s += M->ck[i * H + j];
                kother = fmax(kother, s / nind1);
            }
        }
    }
    ck[k] = (Check){"K-composition: previous-token head into the induction heads minus the best "
                    "other layer-0 head",
                    kprev - kother, "", nind1 > 0 && kprev > kother, M->L > 1};
    snprintf(ck[k++].published, 256, "> 0 (Elhage et al. 2021: induction heads K-compose with a "
                                     "previous-token head); %.3f vs %.3f",
             kprev, kother);
    ck[k] = (Check){"heads in the ablation table", NH, "", 1, 1};
    snprintf(ck[k++].published, 256, "every head (%d)", NH);
    double gap = M->first - M->grp_ind_mean;
    ck[k] = (Check){"first-half minus repeated-half loss with every induction head mean-ablated",
                    gap, "", M->n_ind > 0 && gap <= 1.0, M->L > 1};
    snprintf(ck[k++].published, 256, "<= 1 nat: the in-context gain is gone (Olsson et al. 2022: "
                                     "ablating induction heads removes in-context learning)");
    double worst = -1;
    int nirr = 0;
    for (int i = 0; i < NH; i++)
        if (!M->cls[i]) nirr++, worst = fmax(worst, fabs(M->abl_mean[i] - M->rep));
    ck[k] = (Check){"largest |change| of repeated-half loss when mean-ablating a head the scores "
                    "call irrelevant",
                    nirr ? worst : NAN, "", nirr > 0 && worst < 0.3, 1};
    snprintf(ck[k++].published, 256, "< 0.3 nat (%d head%s classified as none of previous-token, "
                                     "duplicate-token, induction)",
             nirr, nirr == 1 ? "" : "s");
    if (C) {
        double d = C->rep - M->rep;
        ck[k] = (Check){"1-layer control's repeated-half loss minus the 2-layer model's", d, "",
                        d >= 1.0, 1};
        snprintf(ck[k++].published, 256, ">= 1 nat (Olsson et al. 2022, Elhage et al. 2021: a 1-layer "
                                         "attention-only model cannot form induction heads); control "
                                         "%.3f vs %.3f",
                 C->rep, M->rep);
        double b = best_prefix(C, 0);
        ck[k] = (Check){"1-layer control's best induction (prefix-matching) score", b, "", b < 0.7, 1};
        snprintf(ck[k++].published, 256, "< 0.7, the threshold the 2-layer model's induction head meets");
    }
    return k;
}

static void put_float_array(Buf *b, const float *x, int n) {
    buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        if (i) buf_puts(b, ", ");
        json_put_float(b, x[i]);
    }
    buf_puts(b, "]");
}

static void put_double_array(Buf *b, const double *x, int n) {
    buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        if (i) buf_puts(b, ", ");
        json_put_double(b, x[i]);
    }
    buf_puts(b, "]");
}

// One model's numbers as a JSON object.
static void model_json(const Model *M, Buf *b) {
    const int NH = M->NH, H = M->H;
    char nm[32];
    buf_printf(b, "{\"n_layers\": %d, \"n_heads\": %d, \"d_model\": %d, \"d_vocab\": %d, \"n_ctx\": %d, "
                  "\"steps\": %ld, \"train_loss\": ",
               M->L, H, M->set.cfg.d_model, M->set.cfg.d_vocab, M->T, M->set.steps);
    json_put_double(b, M->train);
    buf_puts(b, ", \"val_loss\": ");
    json_put_double(b, M->val);
    buf_puts(b, ", \"loss_first_half\": ");
    json_put_double(b, M->first);
    buf_puts(b, ", \"loss_repeat_half\": ");
    json_put_double(b, M->rep);
    buf_puts(b, ", \"phase_change_step\": ");
    json_put_double(b, M->phase_step);
    buf_puts(b, ", \"phase_change_sharpness\": ");
    json_put_double(b, M->sharpness);
    buf_puts(b, ", \"icl_score\": ");
    json_put_double(b, M->icl.score);
    buf_printf(b, ", \"icl_tokens\": [%d, %d], \"heads\": [", M->icl.k_early, M->icl.k_late);
    for (int i = 0; i < NH; i++) {
        if (i) buf_puts(b, ", ");
        buf_printf(b, "{\"head\": \"%s\", \"class\": \"%s\"", head_name(nm, i, H), class_name(M->cls[i]));
        static const char *const keys[3] = {"previous_token_head", "duplicate_token_head", "induction_head"};
        for (int p = 0; p < 3; p++) {
            buf_printf(b, ", \"%s\": ", keys[p]);
            json_put_float(b, M->tl[p * NH + i]);
        }
        buf_puts(b, ", \"duplicate_target_rows\": ");
        json_put_float(b, M->tg[HEADS_DUP * NH + i]);
        buf_puts(b, ", \"prefix_matching\": ");
        json_put_float(b, M->tg[HEADS_IND * NH + i]);
        buf_puts(b, ", \"copying_eig\": ");
        json_put_double(b, M->copy[i].eig);
        buf_puts(b, ", \"ablate_zero_repeat_loss\": ");
        json_put_double(b, M->abl_zero[i]);
        buf_puts(b, ", \"ablate_mean_repeat_loss\": ");
        json_put_double(b, M->abl_mean[i]);
        buf_puts(b, "}");
    }
    buf_puts(b, "], \"induction_heads\": [");
    for (int i = 0, c = 0; i < NH; i++)
        if (M->cls[i] & CLS_IND) buf_printf(b, "%s\"%s\"", c++ ? ", " : "", head_name(nm, i, H));
    buf_puts(b, "], \"previous_token_heads\": [");
    for (int i = 0, c = 0; i < NH; i++)
        if (M->cls[i] & CLS_PREV) buf_printf(b, "%s\"%s\"", c++ ? ", " : "", head_name(nm, i, H));
    buf_puts(b, "], \"ablate_induction_heads_zero_repeat_loss\": ");
    json_put_double(b, M->grp_ind_zero);
    buf_puts(b, ", \"ablate_induction_heads_mean_repeat_loss\": ");
    json_put_double(b, M->grp_ind_mean);
    buf_puts(b, ", \"ablate_previous_token_heads_mean_repeat_loss\": ");
    json_put_double(b, M->grp_prev_mean);
    if (M->L > 1) {
        int nc = (M->L - 1) * H * H;
        buf_puts(b, ", \"composition_q\": ");
        put_float_array(b, M->cq, nc);
        buf_puts(b, ", \"composition_k\": ");
        put_float_array(b, M->ck, nc);
        buf_puts(b, ", \"composition_v\": ");
        put_float_array(b, M->cv, nc);
    }
    buf_puts(b, ", \"loss_by_position\": ");
    put_double_array(b, M->loss_pos, M->T);
    buf_puts(b, ", \"wall_seconds\": ");
    json_put_double(b, M->wall);
    buf_puts(b, "}");
}

// ---- the report ------------------------------------------------------------------------------------

static char *fmt(char *out, double v) { return report_num(out, 32, v, 3); }

static int add_svg(Report *r, Buf *svg, int rc, const char *caption, const char *dir,
                   const char *file) {
    if (rc) return -1;
    if (file) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        if (plot_save(path, svg)) return -1;
    }
    report_figure(r, svg->p, caption);
    buf_reset(svg);
    return 0;
}

static int loss_figure(Buf *svg, const Model *M, const Model *C) {
    PlotSeries s[6];
    int ns = 0;
    s[ns++] = (PlotSeries){.x = M->h_step, .y = M->h_train, .n = M->nh, .label = "train loss"};
    s[ns++] = (PlotSeries){.x = M->h_step, .y = M->h_first, .n = M->nh, .label = "first copy (random)"};
    s[ns++] = (PlotSeries){.x = M->h_step, .y = M->h_rep, .n = M->nh, .label = "repeats"};
    if (C && C != M) {
        s[ns++] = (PlotSeries){.x = C->h_step, .y = C->h_first, .n = C->nh,
                               .label = "1-layer control: first copy", .dashed = 1,
                               .color = plot_palette(1)};
        s[ns++] = (PlotSeries){.x = C->h_step, .y = C->h_rep, .n = C->nh,
                               .label = "1-layer control: repeats", .dashed = 1,
                               .color = plot_palette(2)};
    }
    char lab[64], lv[64];
    snprintf(lab, sizeof lab, "phase change (step %.0f)", M->phase_step);
    snprintf(lv, sizeof lv, "ln(vocab) = %.2f", M->ln_vocab);
    PlotRefLine refs[2] = {{.vertical = 1, .at = M->phase_step, .label = lab},
                           {.at = M->ln_vocab, .label = lv}};
    char title[128];
    snprintf(title, sizeof title, "Held-out loss, %s model%s", M->label,
             C && C != M ? " (dashed: 1-layer control)" : "");
    PlotOpts o = {.title = title, .xlabel = "training step", .ylabel = "loss (nat)",
                  .refs = refs, .n_refs = isnan(M->phase_step) ? 0 : 2, .ymin = 0,
                  .ymax = M->ln_vocab + 0.6, .legend = PLOT_LEGEND_AUTO};
    if (isnan(M->phase_step)) o.refs = refs + 1, o.n_refs = 1;
    return plot_line(svg, &o, s, ns);
}

static int score_curves(Buf *svg, const Model *M, int which, const char *title, const char *ylabel) {
    const int NH = M->NH;
    PlotSeries s[64];
    char labels[64][32];
    float *ys = malloc(sizeof(float) * (size_t)NH * (M->nh ? M->nh : 1));
    if (!ys) return err_set("out of memory");
    int ns = 0;
    for (int i = 0; i < NH && ns < 64; i++, ns++) {
        for (int e = 0; e < M->nh; e++) ys[(size_t)i * M->nh + e] = M->h_sc[((size_t)e * N_S + which) * NH + i];
        head_name(labels[i], i, M->H);
        s[ns] = (PlotSeries){.x = M->h_step, .y = ys + (size_t)i * M->nh, .n = M->nh,
                             .label = labels[i], .dashed = i / M->H == 0};
    }
    char lab[64];
    snprintf(lab, sizeof lab, "phase change");
    PlotRefLine ref = {.vertical = 1, .at = M->phase_step, .label = lab};
    PlotOpts o = {.title = title, .xlabel = "training step", .ylabel = ylabel, .ymin = 0,
                  .ymax = 1, .refs = &ref, .n_refs = isnan(M->phase_step) ? 0 : 1,
                  .legend = PLOT_LEGEND_OUTSIDE};
    int rc = plot_line(svg, &o, s, ns);
    free(ys);
    return rc;
}

// Every head of a layer side by side: [T, H·(T+1) − 1] with a grey (NaN) column between heads.
static int pattern_figure(Buf *svg, const Model *M, int l) {
    const int H = M->H, T = M->T, W = H * (T + 1) - 1;
    float *img = malloc(sizeof(float) * (size_t)T * W);
    if (!img) return err_set("out of memory");
    for (int q = 0; q < T; q++)
        for (int c = 0; c < W; c++) {
            int h = c / (T + 1), s = c % (T + 1);
            img[(size_t)q * W + c] = s == T ? NAN : M->patterns[(((size_t)l * H + h) * T + q) * T + s];
        }
    char title[160], xl[200];
    snprintf(title, sizeof title, "Layer %d attention patterns, one held-out sequence", l);
    int o = 0;
    o += snprintf(xl + o, sizeof xl - o, "key position, heads left to right:");
    for (int h = 0; h < H && o < (int)sizeof xl - 16; h++) o += snprintf(xl + o, sizeof xl - o, " L%dH%d", l, h);
    PlotHeatmap hm = {.data = img, .rows = T, .cols = W,
                      .scale = {.cmap = PLOT_SEQUENTIAL, .vmin = 0, .vmax = 1, .label = "attention"}};
    // Square cells of 2 to 10 pixels, the plot about 800 pixels wide at most.
    double cell = fmin(10.0, fmax(2.0, 800.0 / W));
    PlotOpts po = {.title = title, .xlabel = xl, .ylabel = "query position",
                   .width = (int)fmax(560, 170 + cell * W), .height = (int)(150 + cell * T)};
    int rc = plot_heatmap(svg, &po, &hm);
    free(img);
    return rc;
}

static int write_report(const Model *M, const Model *C, const Check *ck, int nck, const char *out,
                        double wall) {
    Report *r = report_create(M->L > 1 ? "Induction heads" : "Induction heads: the 1-layer control");
    if (!r) return -1;
    report_paragraph(r, "A Mathematical Framework for Transformer Circuits (Elhage et al. 2021) and "
                        "In-context Learning and Induction Heads (Olsson et al. 2022), reproduced "
                        "with mechlab.");
    Buf svg = {0};
    char a[32], b[32], c2[32], d[32], e[32], f[32], g[32], nm[32];
    const int H = M->H, NH = M->NH;
    int rc = -1;
    report_paragraphf(r,
        "Reproduces %s. A %d-layer attention-only transformer (%d heads per layer, d_model %d, "
        "d_head %d, LayerNorm, learned positions, vocabulary %d) on sequences of %d tokens that "
        "repeat a random segment: %sa segment of %d to %d random tokens (the length drawn per "
        "sequence), repeated until the sequence ends. The first copy cannot be predicted (best "
        "loss ln %d = %.2f nat); the repeats can, but only by looking back - which is what "
        "induction heads do: attend to the token after the previous occurrence of the current "
        "token and copy it. The segment length varies so that the distance between the copies "
        "does too: with a fixed distance one attention layer could predict the repeats from "
        "positions alone (measured: a 1-layer model reaches 0.02 nat that way), and the 1-layer "
        "control would not be one.",
        REPRODUCES, M->L, H, M->set.cfg.d_model, M->set.cfg.d_head, M->set.cfg.d_vocab, M->T,
        M->set.use_bos ? "a BOS token, " : "", M->set.repeat_min, (M->T - M->set.use_bos) / 2,
        M->set.cfg.d_vocab, M->ln_vocab);
    {
        Buf p = {0};
        buf_printf(&p, "mechlab run induction: seed %llu, %ld steps, batch %d, AdamW (weight decay "
                       "0.01), lr %g with %ld warm-up steps and cosine decay to lr/10, gradient "
                       "clip 1.0,\nevaluation every %ld steps on %d held-out sequences%s.\n"
                       "Wall time %.1f s.",
                   (unsigned long long)M->set.seed, M->set.steps, M->set.batch, M->set.lr,
                   M->set.warmup < M->set.steps ? M->set.warmup : M->set.steps / 10,
                   M->set.eval_every, M->n,
                   C && C != M ? "; the 1-layer control the same way, for fewer steps (control/)" : "",
                   wall);
        report_pre(r, p.p ? p.p : "");
        buf_free(&p);
    }

    report_heading(r, 2, "Checks against the published results");
    report_table_begin(r, 4, (const char *[]){"check", "measured", "published / threshold", "result"});
    for (int i = 0; i < nck; i++) {
        if (!ck[i].applicable) continue;
        report_table_row(r, (const char *[]){ck[i].name, fmt(a, ck[i].measured), ck[i].published,
                                             ck[i].pass ? "ok" : "MISS"});
    }
    report_table_end(r);

    report_heading(r, 2, "Loss and the phase change");
    if (add_svg(r, &svg, loss_figure(&svg, M, C),
                "Held-out loss over training on the first copy of the segment (random) and on its "
                "repeats. The repeats' loss falls suddenly (the marked step is the steepest drop); "
                "the first copy's stays near ln(vocab).", out, "loss.svg"))
        goto done;
    report_paragraphf(r,
        "Final losses: train %s, held-out %s, first copy %s, repeats %s nat. "
        "Phase change at step %s (steepest drop between evaluations); %s of the total drop "
        "happens within a window of a tenth of training. In-context-learning score (Olsson et al. "
        "2022: loss at token 500 minus loss at token 50 of 512, scaled here to tokens %d and %d of "
        "%d): %s nat.",
        fmt(a, M->train), fmt(b, M->val), fmt(c2, M->first), fmt(d, M->rep), fmt(e, M->phase_step),
        fmt(f, M->sharpness), M->icl.k_early, M->icl.k_late, M->T, fmt(g, M->icl.score));
    {
        float x[512], y[512], yc[512];
        int np = 0;
        for (int p = 0; p + 1 < M->T && np < 512; p++, np++) {
            x[np] = (float)(p + 1);
            y[np] = (float)M->loss_pos[p];
            yc[np] = C && C != M && p < C->T ? (float)C->loss_pos[p] : NAN;
        }
        PlotSeries s[2] = {{.x = x, .y = y, .n = np, .label = M->label},
                           {.x = x, .y = yc, .n = np, .label = "1-layer control", .dashed = 1}};
        // Where the repeats start: position has_bos + L for L in [repeat_min, longest].
        int longest = (M->T - M->set.use_bos) / 2, rmin = M->set.repeat_min;
        int varies = rmin > 0 && rmin < longest;
        PlotRefLine refs[2] = {
            {.vertical = 1, .at = M->set.use_bos + (varies ? rmin : longest) - 0.5,
             .label = varies ? "repeats start: earliest" : "repeat starts"},
            {.vertical = 1, .at = M->set.use_bos + longest - 0.5, .label = "latest"}};
        PlotOpts o = {.title = "Loss by position at the end of training", .xlabel = "token position",
                      .ylabel = "loss (nat)", .ymin = 0, .refs = refs, .n_refs = varies ? 2 : 1};
        if (add_svg(r, &svg, plot_line(&svg, &o, s, C && C != M ? 2 : 1),
                    "Mean loss of predicting the token at each position (held-out set). Between "
                    "the marks a position is in the first copy for some sequences and in a "
                    "repeat for others.", out, NULL))
            goto done;
    }

    report_heading(r, 2, "Head scores over training");
    report_paragraph(r,
        "Head-detector scores as TransformerLens defines them (transformer_lens.head_detector, "
        "error measure \"mul\", exclude_bos and exclude_current_token off): attention on the "
        "detection pattern divided by all attention, per sequence, averaged over sequences. Because "
        "TL divides by the attention of every query, and only the queries in the repeats have an "
        "induction target, a perfect induction head scores at most the share of queries that have "
        "one (see the score table). The induction score used for the checks and the "
        "classification is therefore Olsson et al.'s prefix-matching score: the same ratio over "
        "the queries that have a target. Layer-0 heads are dashed.");
    if (add_svg(r, &svg, score_curves(&svg, M, S_PREFIX, "Induction (prefix-matching) score", "score"),
                "Prefix-matching score of every head on one held-out batch, every evaluation.", out,
                "induction_scores.svg") ||
        add_svg(r, &svg, score_curves(&svg, M, S_PREV, "Previous-token score (TL)", "score"),
                "TL previous-token score of every head over training.", out, NULL))
        goto done;

    report_heading(r, 2, "Attention patterns");
    for (int l = 0; l < M->L; l++)
        if (add_svg(r, &svg, pattern_figure(&svg, M, l),
                    "Rows are queries, columns keys. A previous-token head lights the line just "
                    "below the diagonal; an induction head lights a line in the repeats, the "
                    "segment length minus one below the diagonal (or several: one per earlier "
                    "copy).", out, NULL))
            goto done;

    report_heading(r, 2, "Head scores");
    report_paragraphf(r,
        "On %d held-out sequences. Classes (thresholds fixed in advance): previous-token when the "
        "TL previous-token score >= %.1f; duplicate-token and induction when the score over the "
        "queries that have a target >= %.1f. The largest TL induction score any head could reach "
        "on these sequences is %.3f (the share of queries with a target). Copying: Elhage et "
        "al.'s eigenvalue score of the full OV circuit W_E W_OV W_U (1 = pure copying).",
        M->n, THRESH_PREV, THRESH_IND, M->ind_ceiling);
    report_table_begin(r, 8, (const char *[]){"head", "class", "previous-token (TL)",
                                              "duplicate-token (TL)", "induction (TL)",
                                              "duplicate, target rows", "prefix matching",
                                              "OV copying"});
    for (int i = 0; i < NH; i++)
        report_table_row(r, (const char *[]){head_name(nm, i, H), class_name(M->cls[i]),
                                             fmt(a, M->tl[HEADS_PREV * NH + i]),
                                             fmt(b, M->tl[HEADS_DUP * NH + i]),
                                             fmt(c2, M->tl[HEADS_IND * NH + i]),
                                             fmt(d, M->tg[HEADS_DUP * NH + i]),
                                             fmt(e, M->tg[HEADS_IND * NH + i]),
                                             fmt(f, M->copy[i].eig)});
    report_table_end(r);

    report_heading(r, 2, "Ablations");
    report_paragraphf(r,
        "Each head's output is removed through a forward hook on blocks.{l}.attn.hook_z: zero "
        "ablation writes 0, mean ablation the head's mean z over every held-out position. The "
        "table gives the repeated-half loss (clean: %s nat; first half %s nat) and its change. "
        "The checks use mean ablation.", fmt(a, M->rep), fmt(b, M->first));
    report_table_begin(r, 6, (const char *[]){"heads ablated", "class", "zero: repeated-half loss",
                                              "change", "mean: repeated-half loss", "change"});
    for (int i = 0; i < NH; i++)
        report_table_row(r, (const char *[]){head_name(nm, i, H), class_name(M->cls[i]),
                                             fmt(a, M->abl_zero[i]), fmt(b, M->abl_zero[i] - M->rep),
                                             fmt(c2, M->abl_mean[i]), fmt(d, M->abl_mean[i] - M->rep)});
    if (M->n_ind)
        report_table_row(r, (const char *[]){"every induction head", "induction",
                                             fmt(a, M->grp_ind_zero), fmt(b, M->grp_ind_zero - M->rep),
                                             fmt(c2, M->grp_ind_mean), fmt(d, M->grp_ind_mean - M->rep)});
    if (M->n_prev)
        report_table_row(r, (const char *[]){"every previous-token head", "previous-token", "", "",
                                             fmt(c2, M->grp_prev_mean), fmt(d, M->grp_prev_mean - M->rep)});
    report_table_end(r);
    {
        // Redundancy: does any single induction head's ablation come close to the group's?
        double single = 0;
        for (int i = 0; i < NH; i++)
            if (M->cls[i] & CLS_IND) single = fmax(single, M->abl_mean[i] - M->rep);
        double group = M->grp_ind_mean - M->rep;
        if (M->n_ind > 1 && group > 0 && single < 0.5 * group)
            report_paragraphf(r,
                "The induction heads are redundant: ablating any one of them alone raises the "
                "repeated-half loss by at most %s nat, ablating all %d together by %s nat - the "
                "others take over.", fmt(a, single), M->n_ind, fmt(b, group));
        else if (M->n_ind > 1)
            report_paragraphf(r, "Ablating the most important induction head alone raises the "
                                 "repeated-half loss by %s nat, all %d together by %s nat.",
                              fmt(a, single), M->n_ind, fmt(b, group));
        float vals[80];
        const char *labs[80];
        char lb[80][32];
        int nb = 0;
        for (int i = 0; i < NH && nb < 78; i++, nb++) {
            vals[nb] = (float)(M->abl_mean[i] - M->rep);
            labs[nb] = head_name(lb[nb], i, H);
        }
        if (M->n_ind) vals[nb] = (float)(M->grp_ind_mean - M->rep), labs[nb++] = "induction heads";
        if (M->n_prev) vals[nb] = (float)(M->grp_prev_mean - M->rep), labs[nb++] = "prev-token heads";
        PlotBars pb = {.values = vals, .n = nb, .labels = labs, .horizontal = 1, .show_values = 1};
        PlotOpts o = {.title = "Change in repeated-half loss under mean ablation",
                      .xlabel = "change in loss (nat)"};
        if (add_svg(r, &svg, plot_bars(&svg, &o, &pb), NULL, out, "ablation.svg")) goto done;
    }

    if (M->L > 1) {
        report_heading(r, 2, "Composition");
        report_paragraph(r,
            "Composition scores (Elhage et al. 2021) ||L R||_F / (||L||_F ||R||_F) from each head of "
            "layer 0 (rows; L = its W_OV) into each head of layer 1 (columns; R = W_QK for "
            "Q-composition, W_QK transposed for K-composition, W_OV for V-composition), as "
            "TransformerLens' all_composition_scores. LayerNorm: the layer-1 head's ln1 weight is "
            "folded into its W_Q, W_K and W_V, and the layer-0 head's output is centred (what LN "
            "removes), as TL's fold_ln and center_writing_weights do; LN's per-token scale is "
            "ignored, as Elhage et al. do. An induction head K-composes with a previous-token head: "
            "its keys read where the previous-token head wrote.");
        const char *rl[64], *cl[64];
        char rn[64][48], cn[64][48];
        for (int i = 0; i < H && i < 64; i++) {
            snprintf(rn[i], 48, "L0H%d%s", i, M->cls[i] & CLS_PREV ? " (prev)" : "");
            snprintf(cn[i], 48, "L1H%d%s", i, M->cls[H + i] & CLS_IND ? " (ind)" : "");
            rl[i] = rn[i], cl[i] = cn[i];
        }
        const float *mats[3] = {M->ck, M->cq, M->cv};
        const char *titles[3] = {"K-composition", "Q-composition", "V-composition"};
        const char *files[3] = {"composition_k.svg", NULL, NULL};
        for (int k = 0; k < 3; k++) {
            PlotHeatmap hm = {.data = mats[k], .rows = H, .cols = H, .row_labels = rl,
                              .col_labels = cl, .show_values = 1, .value_fmt = "%.3f",
                              .scale = {.cmap = PLOT_SEQUENTIAL, .label = "score"}};
            PlotOpts o = {.title = titles[k], .xlabel = "layer-1 head (reads)",
                          .ylabel = "layer-0 head (writes)"};
            if (add_svg(r, &svg, plot_heatmap(&svg, &o, &hm), NULL, out, files[k])) goto done;
        }
    }

    report_heading(r, 2, "Circuits");
    {
        const int V = M->set.cfg.d_vocab, NC = M->set.cfg.n_ctx;
        char title[128];
        snprintf(title, sizeof title, "Full OV circuit of %s (W_E W_OV W_U)", head_name(nm, M->top_ind, H));
        PlotHeatmap hm = {.data = M->ov_circuit, .rows = V, .cols = V,
                          .scale = {.cmap = PLOT_DIVERGING, .label = "logit"}};
        PlotOpts o = {.title = title, .xlabel = "logit of token", .ylabel = "attended token",
                      .width = 560, .height = 520};
        char cap[256];
        snprintf(cap, sizeof cap,
                 "The head with the highest prefix-matching score. A copying head has a bright "
                 "diagonal: attending to a token raises that token's logit. Copying score %.3f "
                 "(eigenvalues), diagonal wins in %.0f %% of rows.",
                 M->copy[M->top_ind].eig, 100 * M->copy[M->top_ind].top1);
        if (add_svg(r, &svg, plot_heatmap(&svg, &o, &hm), cap, out, NULL)) goto done;
        snprintf(title, sizeof title, "Positional QK circuit of %s (W_pos W_QK W_pos^T)",
                 head_name(nm, M->top_prev, H));
        // What softmax sees: each query row over the keys it may attend to (at or before it),
        // less the row's mean; the masked keys above the diagonal are grey.
        float *rel = malloc(sizeof(float) * (size_t)NC * NC);
        if (!rel) {
            err_set("out of memory");
            goto done;
        }
        for (int q = 0; q < NC; q++) {
            double mu = 0;
            for (int k = 0; k <= q; k++) mu += M->qk_pos[(size_t)q * NC + k] / (q + 1);
            for (int k = 0; k < NC; k++)
                rel[(size_t)q * NC + k] = k <= q ? (float)(M->qk_pos[(size_t)q * NC + k] - mu) : NAN;
        }
        PlotHeatmap hp = {.data = rel, .rows = NC, .cols = NC,
                          .scale = {.cmap = PLOT_DIVERGING, .label = "score"}};
        PlotOpts op = {.title = title, .xlabel = "key position", .ylabel = "query position",
                       .width = 560, .height = 520};
        int prc = plot_heatmap(&svg, &op, &hp);
        free(rel);
        if (add_svg(r, &svg, prc,
                    "The layer-0 head with the highest previous-token score, from positions alone "
                    "(token embeddings left out), each row less its mean over the keys the query "
                    "can see: a previous-token head scores the key just before the query highest, "
                    "the line below the diagonal.", out, NULL))
            goto done;
    }

    if (C && C != M) {
        const int CNH = C->NH;
        double best = 0;
        for (int i = 0; i < CNH; i++) best = fmax(best, C->tg[HEADS_IND * CNH + i]);
        report_heading(r, 2, "The 1-layer control");
        report_paragraphf(r,
            "The same data, settings and seed with one layer (%ld steps; its run folder is "
            "control/). A single attention layer cannot build an induction head: the key would "
            "have to carry the previous token, which takes a head in an earlier layer. First half "
            "%s, repeated half %s nat (the 2-layer model: %s); best prefix-matching score %s; ICL "
            "score %s nat (2-layer: %s). Over the second half of its training the control's "
            "repeated-half loss fell by %s nat: it had flattened out, at the level of a model that "
            "only knows which tokens occurred before (about ln of the segment length).",
            C->set.steps, fmt(a, C->first), fmt(b, C->rep), fmt(c2, M->rep), fmt(d, best),
            fmt(e, C->icl.score), fmt(f, M->icl.score),
            fmt(g, C->nh > 1 ? C->h_rep[(C->nh - 1) / 2] - C->h_rep[C->nh - 1] : NAN));
        report_table_begin(r, 6, (const char *[]){"head", "previous-token (TL)", "duplicate-token (TL)",
                                                  "induction (TL)", "prefix matching",
                                                  "mean-ablated: repeated-half loss"});
        for (int i = 0; i < CNH; i++)
            report_table_row(r, (const char *[]){head_name(nm, i, C->H),
                                                 fmt(a, C->tl[HEADS_PREV * CNH + i]),
                                                 fmt(b, C->tl[HEADS_DUP * CNH + i]),
                                                 fmt(c2, C->tl[HEADS_IND * CNH + i]),
                                                 fmt(d, C->tg[HEADS_IND * CNH + i]),
                                                 fmt(e, C->abl_mean[i])});
        report_table_end(r);
        if (add_svg(r, &svg, pattern_figure(&svg, C, 0),
                    "The control's attention on the same held-out sequence.", out, NULL))
            goto done;
    }
    rc = 0;
done:
    if (!rc) {
        report_link(r, "metrics.csv", "metrics over training (CSV): losses, ICL score, every head's scores");
        report_link(r, "summary.json", "summary.json: the numbers beside the published ones, and the checks");
        report_link(r, "model.safetensors", "the checkpoint (opens in safetensors / TransformerLens)");
        report_link(r, "loss.svg", "figures: loss.svg, induction_scores.svg, ablation.svg, composition_k.svg");
        if (C && C != M) report_link(r, "control/metrics.csv", "the 1-layer control's metrics (control/)");
        char path[4200];
        snprintf(path, sizeof path, "%s/report.html", out);
        rc = report_save(r, path);
    }
    buf_free(&svg);
    report_free(r);
    return rc;
}

// ---- the command ------------------------------------------------------------------------------------

enum {
    O_OUT = 256, O_SEED, O_STEPS, O_CSTEPS, O_NOCTL, O_LAYERS, O_HEADS, O_DMODEL, O_VOCAB, O_NCTX,
    O_NOBOS, O_BATCH, O_LR, O_WARM, O_EVAL, O_THREADS, O_RMIN
};

int run_induction(int argc, char **argv) {
    static const struct option opts[] = {
        {"out", 1, 0, O_OUT},         {"seed", 1, 0, O_SEED},       {"steps", 1, 0, O_STEPS},
        {"control-steps", 1, 0, O_CSTEPS}, {"no-control", 0, 0, O_NOCTL},
        {"layers", 1, 0, O_LAYERS},   {"heads", 1, 0, O_HEADS},     {"d-model", 1, 0, O_DMODEL},
        {"vocab", 1, 0, O_VOCAB},     {"n-ctx", 1, 0, O_NCTX},      {"no-bos", 0, 0, O_NOBOS},
        {"batch", 1, 0, O_BATCH},     {"lr", 1, 0, O_LR},           {"warmup", 1, 0, O_WARM},
        {"eval-every", 1, 0, O_EVAL}, {"threads", 1, 0, O_THREADS}, {"repeat-min", 1, 0, O_RMIN},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *V = "run induction", *out = "runs/induction";
    Settings s = {.cfg = {.n_layers = 2, .d_model = 64, .n_heads = 4, .attn_only = true,
                          .n_ctx = 64, .d_vocab = 64, .normalization_type = TF_NORM_LN,
                          .eps = 1e-5f},
                  .use_bos = 1, .batch = 32, .eval_batches = 4, .steps = 1000, .eval_every = 20,
                  .warmup = 100, .lr = 3e-3, .seed = 0};
    long csteps = -1, threads = 0, rmin = -1, v;
    int control = 1;
    double x;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case O_OUT: out = optarg; break;
        case O_NOCTL: control = 0; break;
        case O_NOBOS: s.use_bos = 0; break;
        case O_LR:
            if (cli_float(V, "--lr", optarg, &x)) return EXIT_USAGE;
            if (!(x > 0 && x < 1)) return cli_usage(V, "--lr: %s is not in (0, 1)", optarg);
            s.lr = x;
            break;
        case '?': return cli_usage(V, "unknown or incomplete option");
        default: {
            long lo = 1, hi = 1L << 30;
            if (c == O_SEED || c == O_WARM || c == O_RMIN) lo = 0;
            if (c == O_LAYERS || c == O_HEADS) hi = 16;
            if (cli_int(V, cli_optname(opts, c), optarg, lo, hi, &v)) return EXIT_USAGE;
            switch (c) {
            case O_SEED: s.seed = (uint64_t)v; break;
            case O_STEPS: s.steps = v; break;
            case O_CSTEPS: csteps = v; break;
            case O_LAYERS: s.cfg.n_layers = (int)v; break;
            case O_HEADS: s.cfg.n_heads = (int)v; break;
            case O_DMODEL: s.cfg.d_model = (int)v; break;
            case O_VOCAB: s.cfg.d_vocab = (int)v; break;
            case O_NCTX: s.cfg.n_ctx = (int)v; break;
            case O_BATCH: s.batch = (int)v; break;
            case O_WARM: s.warmup = v; break;
            case O_EVAL: s.eval_every = v; break;
            case O_THREADS: threads = v; break;
            case O_RMIN: rmin = v; break;
            }
        }
        }
    }
    if (optind < argc) return cli_usage(V, "unexpected argument '%s'", argv[optind]);
    if (s.cfg.d_model % s.cfg.n_heads)
        return cli_usage(V, "--d-model %d is not a multiple of --heads %d", s.cfg.d_model, s.cfg.n_heads);
    s.cfg.d_head = s.cfg.d_model / s.cfg.n_heads;
    int longest = (s.cfg.n_ctx - s.use_bos) / 2;
    s.repeat_min = rmin >= 0 ? (int)rmin : (longest + 1) / 2;
    if (s.repeat_min > longest)
        return cli_usage(V, "--repeat-min %d is longer than the longest segment %d", s.repeat_min, longest);
    if (s.cfg.d_vocab < 3) return cli_usage(V, "--vocab must be at least 3");
    if (s.cfg.n_ctx < 5 || s.cfg.n_ctx > 512) return cli_usage(V, "--n-ctx must be in [5, 512]");
    if (1 + (long)N_S * s.cfg.n_layers * s.cfg.n_heads > TRAIN_MAX_EVAL)
        return cli_usage(V, "%d heads are too many: metrics.csv holds %d columns (4 per head)",
                         s.cfg.n_layers * s.cfg.n_heads, TRAIN_MAX_EVAL);
    if (tf_config_validate(&s.cfg)) return cli_usage(V, "%s", err_msg());
    if (threads > 0 && pool_set_threads((int)threads)) return cli_fail_err();

    double t0 = timer_now();
    int progress = isatty(2);
    Model main_m, ctl_m;
    memset(&main_m, 0, sizeof main_m);
    memset(&ctl_m, 0, sizeof ctl_m);
    Model *M = &main_m, *C = NULL;
    int rc = EXIT_FAIL;
    Summary sum;
    summary_init(&sum, "induction", REPRODUCES);
    if (s.cfg.n_layers == 1) {
        // Only the control configuration: this is the control.
        M->set = s;
        M->label = "1-layer";
        snprintf(M->dir, sizeof M->dir, "%s", out);
        C = M;
    } else {
        M->set = s;
        M->label = s.cfg.n_layers == 2 ? "2-layer" : "main";
        snprintf(M->dir, sizeof M->dir, "%s", out);
        if (control) {
            C = &ctl_m;
            C->set = s;
            C->set.cfg.n_layers = 1;
            // Short: its loss has flattened by then (measured: 3.20 nat at 500 steps, 3.06 at
            // 1000, against the 2-layer model's 0.04).
            C->set.steps = csteps > 0 ? csteps : (s.steps + 1) / 2;
            C->label = "1-layer control";
            if ((size_t)snprintf(C->dir, sizeof C->dir, "%s/control", out) >= sizeof C->dir)
                return cli_fail("%s: path too long", out);
        }
    }
    double tm = timer_now();
    if (train_model(M, progress) || analyse(M)) {
        cli_fail_err();
        goto done;
    }
    M->wall = timer_now() - tm;
    if (C && C != M) {
        tm = timer_now();
        if (train_model(C, progress) || analyse(C)) {
            cli_fail_err();
            goto done;
        }
        C->wall = timer_now() - tm;
    }
    double wall = timer_now() - t0;
    {
        Check ck[MAX_CHECKS];
        int nck = make_checks(M, C != M ? C : NULL, ck);
        printf("induction: %s model, seed %llu: first half %.3f, repeated half %.3f nat; phase "
               "change at step %.0f\n",
               M->label, (unsigned long long)s.seed, M->first, M->rep, M->phase_step);
        for (int i = 0; i < nck; i++)
            if (ck[i].applicable) summary_check(&sum, ck[i].name, ck[i].measured, ck[i].published, ck[i].pass);
        Buf b = {0};
        model_json(M, &b);
        summary_json(&sum, M->L > 1 ? "model" : "control", b.p ? b.p : "null");
        if (C && C != M) {
            buf_reset(&b);
            model_json(C, &b);
            summary_json(&sum, "control", b.p ? b.p : "null");
        }
        buf_free(&b);
        summary_num(&sum, "loss_first_half", M->first);
        summary_num(&sum, "loss_repeat_half", M->rep);
        summary_num(&sum, "phase_change_step", M->phase_step);
        summary_num(&sum, "thresholds_previous_token", THRESH_PREV);
        summary_num(&sum, "thresholds_induction_prefix_matching", THRESH_IND);
        summary_num(&sum, "wall_seconds", wall);
        char path[4200];
        snprintf(path, sizeof path, "%s/summary.json", out);
        if (summary_save(&sum, path) || write_report(M, C, ck, nck, out, wall)) {
            cli_fail_err();
            goto done;
        }
        if (C && C != M) {
            // The control's own folder gets its numbers too.
            Summary cs;
            summary_init(&cs, "induction-control", REPRODUCES);
            Buf cb = {0};
            model_json(C, &cb);
            summary_json(&cs, "control", cb.p ? cb.p : "null");
            buf_free(&cb);
            snprintf(path, sizeof path, "%s/summary.json", C->dir);
            int crc = summary_save(&cs, path);
            summary_free(&cs);
            if (crc) {
                cli_fail_err();
                goto done;
            }
        }
        fprintf(stderr, "wrote %s/report.html (%.1f s)\n", out, wall);
        if (sum.n_fail) printf("induction: %d check%s missed (see summary.json)\n", sum.n_fail,
                               sum.n_fail == 1 ? "" : "s");
    }
    // A miss is a result, not a failure: it is in the [MISS] lines and summary.json (cli.h).
    rc = EXIT_OK;
done:
    summary_free(&sum);
    model_free(M);
    if (C && C != M) model_free(C);
    return rc;
}
