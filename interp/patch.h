// patch.h — activation patching, ablation, path patching and attribution patching on a
// transformer, all through the model's hook mechanism (model/hooks.h).
//
// A task is N pairs of token sequences of length T — a clean run where the model does the
// thing, a corrupted run where it cannot — and a metric read off the logits. The metric is a
// mean over "scored" (sequence, position) entries, each with a correct next token:
//   PATCH_LOGPROB      mean log p(correct | prefix)                    (log-softmax, in double)
//   PATCH_LOGIT_DIFF   mean of logit[correct] - logit[wrong], or logit[correct] - mean_v logit[v]
//                      where the entry has no wrong token
// and is reported normalised: norm(m) = (m - m_corrupt) / (m_clean - m_corrupt), so the
// corrupted run scores 0 and the clean run 1.
//
// Activation patching runs one input (the "base" run) with part of one activation replaced:
//   denoise   base = corrupted, the part taken from the clean run: how much does this site
//             alone restore the behaviour? (normalised metric of the patched run; 0 = nothing)
//   noise     base = clean, the part taken from the corrupted run: how much does breaking this
//             site alone destroy it? (normalised metric; 1 = nothing)
//   zero      base = clean, the part set to 0 (zero-ablation)
//   mean      base = clean, the part set to its mean over the N clean sequences at the same
//             position (mean-ablation)
// The part is a hook point sliced by position and/or head: "blocks.1.hook_resid_pre" at
// position 7, "blocks.1.attn.hook_z" head 3 at every position, ... (PatchEdit).
//
// Attribution patching (Nanda 2023) estimates every such patch to first order from one forward
// pass on the source run and one forward + backward on the base run:
//   m(patched) - m(base) ≈ Σ_{slice} (source - base) · ∂m/∂activation |base
// The gradient of the metric (not of the training loss) is backpropagated with
// tf_backward_logits from d(metric)/d(logits) and collected with backward hooks. Where the
// metric is linear in the activation (a logit difference, no LayerNorm, a final-layer head or
// the final attn_out / mlp_out) the estimate is exact.
//
// Path patching (Wang et al. 2022, minimal form): the effect of a sender head on the metric
// through only a receiver head's query, key or value input, the receiver in a later layer.
//   run A: the base input, with Δ = sender's output (hook_result) in the source run minus
//          the same in the base run added to the receiver layer's residual input
//          (blocks.{r}.hook_resid_pre). That is the residual stream the receiver would see if
//          the sender were patched and every other component between them frozen at its base
//          value. Record the receiver head's hook_q (hook_k, hook_v) there.
//   run B: the base input with only that head's q (k, v) replaced by the recorded one; all
//          that is downstream of the receiver recomputes.
// The result is the normalised metric of run B (0 / 1 conventions as for activation patching).
//
// Shapes: N pairs, T positions, L layers, H heads. A Patcher runs the N pairs in chunks of the
// model's max_batch; it caches the activations (and metric gradients) it needs, per hook point
// and run, for all N sequences, and frees them in patch_free. It does not change the model's
// parameters; backward passes leave the parameter gradients zeroed.
#ifndef MECHLAB_PATCH_H
#define MECHLAB_PATCH_H

#include <stdint.h>

#include "model/transformer.h"

typedef enum { PATCH_LOGPROB = 0, PATCH_LOGIT_DIFF = 1 } PatchMetric;

typedef struct {
    const int *clean, *corrupt;  // [N,T] token ids
    int N, T;
    PatchMetric metric;
    const int *answer;  // [N,T]: the correct next token at (n,t), or -1 where (n,t) is not
                        // scored; at least one entry must be scored
    const int *wrong;   // [N,T] or NULL (PATCH_LOGIT_DIFF only): the token the correct one is
                        // compared with at (n,t), or -1 (and NULL) for the mean logit
} PatchTask;

typedef enum { PATCH_DENOISE = 0, PATCH_NOISE = 1, PATCH_ZERO = 2, PATCH_MEAN = 3 } PatchMode;

// The run a patch is applied to: clean or corrupted input.
typedef enum { PATCH_RUN_CLEAN = 0, PATCH_RUN_CORRUPT = 1 } PatchRun;

typedef enum {
    PATCH_FROM_CLEAN = 0,    // the clean run's activation
    PATCH_FROM_CORRUPT = 1,  // the corrupted run's activation
    PATCH_FROM_ZERO = 2,     // zeros
    PATCH_FROM_MEAN = 3,     // the clean run's mean over its N sequences, per position
    PATCH_FROM_VALUES = 4,   // the caller's values, laid out like the hook point for all N
} PatchSource;

// One intervention: the slice [*, pos, head, ...] of a hook point takes values from `src`.
typedef struct {
    const char *hook;     // a hook point's full name ("blocks.0.attn.hook_z")
    int pos;              // one position, or -1 for every position
    int head;             // one head (hook points shaped [B,T,H,*]: hook_q/k/v/z/result), or
                          // -1 for all of the point. The attention scores and pattern
                          // ([B,H,T,T]) can only be patched whole (pos = head = -1).
    PatchSource src;
    const float *values;  // PATCH_FROM_VALUES: [N, <the point's shape without B>]
    int add;              // add the source to the activation instead of replacing it
} PatchEdit;

typedef struct Patcher Patcher;

// Runs the clean and corrupted inputs once and records the metric of each. The task's arrays
// are copied. NULL with err_set on a bad task (sizes, tokens outside the vocabulary, T > n_ctx,
// nothing scored, wrong == answer) or when the clean and corrupted metrics are equal (nothing
// to normalise by). The model must outlive the Patcher.
Patcher *patch_create(Transformer *m, const PatchTask *task);
void patch_free(Patcher *p);  // NULL is fine

// The raw metric of the unpatched clean / corrupted run, and normalisation by them.
double patch_metric_clean(const Patcher *p);
double patch_metric_corrupt(const Patcher *p);
double patch_normalize(const Patcher *p, double metric);

// Runs the N sequences of `run` with the edits applied (in order) and stores the normalised
// metric in *norm (and the raw one in *raw if not NULL). n = 0 reproduces the plain run.
// Returns 0, or -1 with err_set (unknown hook point, slice out of range, ...).
int patch_run(Patcher *p, PatchRun run, const PatchEdit *edits, int n, double *norm,
              double *raw);

// The attribution estimate of the same: normalised metric of `run` plus, for every edit,
// Σ_{slice} (source - base)·∂m/∂act / (m_clean - m_corrupt). Edits with add = 1 count the
// source itself as the change. Caches one forward + backward per (run, hook point).
int patch_attr(Patcher *p, PatchRun run, const PatchEdit *edits, int n, double *norm);

// The base run and the source of a mode (denoise: corrupted run, clean source; ...).
PatchRun patch_mode_run(PatchMode mode);
PatchSource patch_mode_source(PatchMode mode);
const char *patch_mode_name(PatchMode mode);
int patch_mode_parse(const char *s, PatchMode *out);

// ---- sweeps --------------------------------------------------------------------------------

typedef enum {
    PATCH_SITE_RESID_PRE = 0,  // blocks.l.hook_resid_pre at one position     grid [L, T]
    PATCH_SITE_ATTN_OUT,       // blocks.l.hook_attn_out at one position      grid [L, T]
    PATCH_SITE_MLP_OUT,        // blocks.l.hook_mlp_out at one position       grid [L, T]
    PATCH_SITE_HEAD,           // blocks.l.attn.hook_z, one head, all positions   grid [L, H]
    PATCH_SITE_HEAD_POS,       // blocks.l.attn.hook_z, one head, one position    grid [L·H, T]
    PATCH_N_SITES
} PatchSite;

const char *patch_site_name(PatchSite s);  // "resid_pre", "attn_out", "mlp_out", "head", "head_pos"
int patch_site_parse(const char *s, PatchSite *out);

// Normalised metrics over every cell of a site; row r of a head_pos grid is layer r / H,
// head r % H.
typedef struct {
    PatchSite site;
    PatchMode mode;
    int rows, cols;
    float *exact;  // [rows, cols] activation patching, or NULL if not asked for
    float *attr;   // [rows, cols] attribution patching, or NULL if not asked for
} PatchGrid;

// Fills g for one site and mode with the exact patch (exact != 0: one patched run per cell)
// and/or the attribution estimate (attr != 0). Returns 0, or -1 with err_set (e.g. mlp_out on
// an attention-only model). Free with patch_grid_free.
int patch_grid(Patcher *p, PatchSite site, PatchMode mode, int exact, int attr, PatchGrid *g);
void patch_grid_free(PatchGrid *g);

// The edit that a grid cell stands for (hook names are written into name[64]).
int patch_grid_edit(const Patcher *p, PatchSite site, PatchMode mode, int row, int col,
                    char name[64], PatchEdit *e);

// ---- path patching -------------------------------------------------------------------------

typedef enum { PATCH_Q = 0, PATCH_K = 1, PATCH_V = 2 } PatchChannel;

// Normalised metric after patching sender (layer sl, head sh) → receiver (layer rl > sl, head
// rh) through the receiver's q, k or v input; mode denoise (source clean, base corrupted) or
// noise. See the top of this file for the two runs.
int patch_path(Patcher *p, PatchMode mode, int sl, int sh, int rl, int rh, PatchChannel ch,
               double *norm);

// ---- inputs and helpers --------------------------------------------------------------------

// Built-in induction pairs, the layout of `repeat` data (datasets/tokens.h): clean [N,T] =
// [BOS] r_1..r_L r_1..r_L [pad]; corrupt = the same with every token of the first segment
// redrawn (uniform over the non-BOS vocabulary, never equal to the clean token there), so the
// second segment no longer repeats anything. answer[n,t] = clean[n,t+1] for the positions of
// the repeated segment from its first token to its second-to-last (the predictions induction
// makes), -1 elsewhere. Draws from an Rng seeded with `seed`. Returns 0, or -1 with err_set
// (vocab too small, T too short for a repeat).
int patch_induction_pairs(int vocab, int use_bos, int T, int N, uint64_t seed, int *clean,
                          int *corrupt, int *answer);

// Pearson correlation of a[0..n) and b[0..n) in double (NaN values are skipped pairwise;
// NaN if fewer than two pairs remain or either has no variance).
double patch_pearson(const float *a, const float *b, int n);

#endif
