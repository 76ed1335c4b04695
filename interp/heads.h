// heads.h — attention-head analysis on any transformer: head-detector scores, the in-context-
// learning score, QK and OV circuits, composition scores, and head ablations through hooks.
//
// Detector scores are TransformerLens' (transformer_lens.head_detector, error_measure "mul" by
// default): for one sequence and one head with attention pattern A[T,T] (query-major) and a 0/1
// detection pattern P[T,T],
//     score = Σ A∘P / Σ A            (after the optional exclusions below)
// and a head's score over several sequences is the mean of its per-sequence scores. TL's
// detection patterns (all lower-triangular, query t, key s):
//     previous_token_head   P[t,s] = 1 iff s = t − 1
//     duplicate_token_head  P[t,s] = 1 iff s < t and tok[s] = tok[t]
//     induction_head        P[t,s] = 1 iff 1 <= s <= t and tok[s−1] = tok[t] with s − 1 < t
//                           (the token after an earlier occurrence of the current token)
// TL's defaults are exclude_bos = 0 and exclude_current_token = 0 (both zero a part of A before
// the ratio: column 0, resp. the diagonal — in numerator and denominator alike).
// TL's "abs" measure is also here: score = 1 − Σ|A − P| / T (TL rounds it to 3 decimals; we do
// not).
//
// Σ A over all queries is T (every row sums to 1), so a perfect induction head on [BOS r r]
// scores only about 1/2 under TL's definition: the first half's queries have no target. Olsson
// et al.'s induction ("prefix matching") score averages over the queries that have one — the
// repeated half. `target_rows_only` gives that: the same ratio over the query rows whose
// detection row holds a 1 (an extension; with it off the numbers are TL's).
//
// Conventions: L layers, H heads per layer, head (l, h) at index l·H + h; D d_model, dh d_head,
// V d_vocab. Matrices are row-major float, in TL's row-vector convention (a residual row x is
// read as x·W_Q and a head writes x·W_V·W_O).
#ifndef MECHLAB_HEADS_H
#define MECHLAB_HEADS_H

#include "model/hooks.h"
#include "model/transformer.h"

// ---- detector scores -------------------------------------------------------------------------

typedef enum { HEADS_PREV = 0, HEADS_DUP = 1, HEADS_IND = 2 } HeadsPattern;
#define HEADS_N_PATTERNS 3

// TL's names: "previous_token_head", "duplicate_token_head", "induction_head".
const char *heads_pattern_name(HeadsPattern p);
// Short names for tables and CSV columns: "prev", "dup", "ind".
const char *heads_pattern_short(HeadsPattern p);

// The detection pattern det[T,T] (query-major, 0/1) of tokens[T].
void heads_detection_pattern(float *det, HeadsPattern p, const int *tokens, int T);

typedef enum { HEADS_MUL = 0, HEADS_ABS = 1 } HeadsMeasure;

typedef struct {
    int exclude_bos;            // zero the attention to position 0 first (TL flag; default 0)
    int exclude_current_token;  // zero the attention to the query itself first (TL; default 0)
    HeadsMeasure measure;       // TL's error_measure; default (0) "mul"
    int target_rows_only;       // not TL: only query rows whose detection row holds a 1
} HeadsScoreOpts;

// The score of one head's pattern att[T,T] (query-major) against det[T,T]. NaN when there is
// nothing to score: a zero denominator under "mul" (everything excluded, or target_rows_only with
// no target row), or no rows under "abs" with target_rows_only.
double heads_score(const float *att, const float *det, int T, const HeadsScoreOpts *o);

// Scores of every head of m on n sequences tokens[n,T] (forward passes in chunks of at most
// m->max_batch, through `hooks`, may be NULL): scores[p·L·H + l·H + h] for each HeadsPattern p,
// the mean over the sequences of heads_score (sequences where it is NaN are left out; NaN if all
// are). Returns 0, or -1 with err_set (a failed forward).
int heads_detect(Transformer *m, const int *tokens, int n, int T, const HookList *hooks,
                 const HeadsScoreOpts *o, float *scores);

// ---- losses by position and the in-context-learning score -----------------------------------
// (Losses on the two halves of repeat data, per sequence layout: tftrain_losses in tf_train.h.)

// Mean next-token loss at each position over n sequences: loss_pos[p], p in [0, T), is the mean
// loss of predicting targets[·, p] (NaN where every target is < 0, e.g. the last position of
// tokens.h data). Returns 0, or -1 with err_set.
int heads_position_losses(Transformer *m, const int *tokens, const int *targets, int n, int T,
                          const HookList *hooks, double *loss_pos);

// Olsson et al. 2022's in-context-learning score, loss(token 500) − loss(token 50) in a 512-token
// context, scaled to a context of T tokens: the loss of predicting the token at index
// k_late = round(500·T/512) minus that at k_early = round(50·T/512) (0-based indices into the
// sequence, clamped to [1, T − 1]). Negative when later tokens are predicted better.
typedef struct {
    double score;
    double loss_early, loss_late;
    int k_early, k_late;
} HeadsIcl;
HeadsIcl heads_icl_score(const double *loss_pos, int T);

// ---- circuits ----------------------------------------------------------------------------------
//
// LayerNorm: with fold_ln = 1 (and a model with LN) each matrix is taken as the model applies it
// up to LN's per-token scale 1/σ and its biases, which are ignored (as Elhage et al. 2021 ignore
// LN): the LN weight that precedes a read is folded in (W_Q ← diag(w)·W_Q, likewise W_K, W_V,
// W_U with ln_final.w), and whatever is read through a LayerNorm is centred (its mean over d_model
// removed), which is what TL's fold_ln + center_writing_weights do. fold_ln = 0 takes the raw
// weights. A model without LN is the same either way.

// W_OV = W_V[h]·W_O[h] [D,D] of head (l, h) (the head's read-to-write map, reading side folded).
int heads_ov(const Transformer *m, int l, int h, int fold_ln, float *out);
// W_QK = W_Q[h]·W_K[h]ᵀ [D,D] (query row · W_QK · key rowᵀ = the attention score × sqrt(dh)).
int heads_qk(const Transformer *m, int l, int h, int fold_ln, float *out);
// The full OV circuit W_E·W_OV·W_U [V,V]: row = the attended token, column = the logit it raises.
int heads_ov_circuit(const Transformer *m, int l, int h, int fold_ln, float *out);
// The full QK circuit W_E·W_QK·W_Eᵀ [V,V]: row = query token, column = key token.
int heads_qk_circuit(const Transformer *m, int l, int h, int fold_ln, float *out);
// The positional QK circuit W_pos·W_QK·W_posᵀ [n_ctx,n_ctx] (a previous-token head lights up
// just below the diagonal).
int heads_qk_pos_circuit(const Transformer *m, int l, int h, int fold_ln, float *out);

// How much a head's full OV circuit copies:
//   eig     Elhage et al. 2021's copying score Σλ / Σ|λ| over the eigenvalues λ of W_E·W_OV·W_U
//           (Σλ is real: complex eigenvalues come in conjugate pairs); 1 for a pure copier.
//           Computed from the dh×dh matrix with the same non-zero eigenvalues.
//   top1    the fraction of tokens whose own logit is the largest in their row (the diagonal
//           wins), chance 1/V.
//   diag    the mean of the diagonal minus the mean of everything, in units of the matrix's
//           standard deviation.
typedef struct {
    double eig, top1, diag;
} HeadsCopying;
int heads_copying(const Transformer *m, int l, int h, int fold_ln, HeadsCopying *out);

// Eigenvalues of a general real matrix A[n,n] (double, row-major; not modified): re[n], im[n],
// complex pairs adjacent (im > 0 first), in no particular order. Householder reduction to
// Hessenberg form, then Francis double-shift QR steps (Golub & Van Loan §7.5). Returns 0, or -1
// with err_set (n < 1, NaN/Inf, no convergence within 30 steps per eigenvalue, out of memory).
int heads_eigvals(double *re, double *im, const double *A, int n);

// ---- composition -----------------------------------------------------------------------------

// ‖L·R‖_F / (‖L‖_F·‖R‖_F) for L[n,k] and R[k,m] (Elhage et al. 2021), norms in double. NaN when
// a norm is 0. In [0, 1].
double heads_composition_score(const float *L, const float *R, int n, int k, int m);

// Q-, K- and V-composition from every head of layer l to every head of layer l + 1, as TL's
// all_composition_scores: left = W_OV of the earlier head, right = W_QK (Q), W_QKᵀ (K) or W_OV
// (V) of the later one. Each of q, k, v holds (L − 1)·H·H floats: [l, h_early, h_late]. The
// earlier head's output is centred and the later head's LN weight folded when fold_ln (see
// above). Returns 0, or -1 with err_set (fewer than 2 layers, out of memory).
int heads_composition(const Transformer *m, int fold_ln, float *q, float *k, float *v);

// ---- ablation ----------------------------------------------------------------------------------

typedef enum { HEADS_ABLATE_ZERO = 0, HEADS_ABLATE_MEAN = 1 } HeadsAblateKind;

// Which heads to ablate and how: a forward hook on blocks.{l}.attn.hook_z overwrites z[:, :, h, :]
// of every masked head with 0 or with `means` (so the head's write becomes b_O's share, resp. its
// average write). The struct and its arrays must outlive every pass that uses the hooks.
typedef struct {
    HeadsAblateKind kind;
    int n_layers, n_heads, d_head;
    const unsigned char *mask;  // [L·H]: 1 = ablate head l·H + h
    const float *means;         // [L, H, dh] (heads_z_means); only for HEADS_ABLATE_MEAN
} HeadsAblation;

// Adds the ablation's hook to hl (one glob over every layer's hook_z). Returns 0, or -1 with
// err_set (a mean ablation without means, out of memory).
int heads_ablation_hooks(HookList *hl, const HeadsAblation *a);

// Mean of hook_z over every position of n sequences tokens[n,T]: means[L, H, dh] (summed in
// double). Returns 0, or -1 with err_set.
int heads_z_means(Transformer *m, const int *tokens, int n, int T, float *means);

#endif
