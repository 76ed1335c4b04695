// sae.h — sparse autoencoders: dictionary learning that finds the features superposition hides.
//
// The model (SAELens' "standard" and "topk" architectures, same maths and layout):
//
//     f = act(W_encᵀ·(x − b_dec) + b_enc)      x̂ = W_decᵀ·f + b_dec
//
// stored as SAELens stores it, rows = samples: for a batch X[B, d_in]
//
//     PRE[B, d_sae] = (X − b_dec)·W_enc + b_enc      W_enc [d_in, d_sae], b_enc [d_sae]
//     F = act(PRE)                                   W_dec [d_sae, d_in], b_dec [d_in]
//     X̂[B, d_in] = F·W_dec + b_dec
//
// Row i of W_dec is latent i's dictionary direction ("decoder column i" in the papers' x̂ = W·f);
// column i of W_enc is its encoder direction.
//
// Activations and losses (B = batch size; every mean is over the batch, sums over features):
//   SAE_RELU   f = ReLU(pre).  loss = MSE + λ·L1 with MSE = (1/B) Σ_b ‖x̂_b − x_b‖² and
//              L1 = (1/B) Σ_b Σ_i f_bi · w_i. Two ways to stop the L1 from shrinking f while
//              the decoder grows (SaeSparsity):
//                SAE_L1_DECODER_NORM (the default): w_i = ‖W_dec,i‖, no constraint on the
//                  decoder — Anthropic's April 2024 update and SAELens'
//                  scale_sparsity_penalty_by_decoder_norm; the loss is one smooth function of
//                  every parameter, so its gradient is checked as a whole.
//                SAE_L1_UNIT_DECODER: w_i = 1 and the decoder rows are held at unit norm: the
//                  part of each row's gradient parallel to the row is removed before the Adam
//                  step and the rows are renormalised after it (Sharkey et al. 2022; Bricken et
//                  al. 2023).
//   SAE_TOPK   f = ReLU(TopK(pre)): the k largest pre-activations of each sample are kept (ties:
//              the lower index), all others set to 0, then ReLU (Gao et al. 2024; SAELens'
//              topk). loss = MSE (+ λ·L1 if λ > 0) + α·AuxK with the AuxK loss for dead latents:
//              e = x − x̂ (held constant: no gradient flows through it), ê = W_decᵀ·z where z
//              keeps the k_aux largest pre-activations among the DEAD latents only (then ReLU),
//              AuxK = (1/B) Σ_b ‖ê_b − e_b‖², α = 1/32 by default; k_aux = min(k_aux, #dead).
//
// Init (sae_create): decoder rows random unit vectors, W_enc = W_decᵀ, b_enc = b_dec = 0.
//
// Training (sae_trainer_*): Adam from train/optim.h over the one ParamSet; λ rises linearly over
// the first l1_warmup steps; batches come from an activation buffer [n, d_in] read through a
// permutation that is reshuffled with the trainer's Rng at the start of every epoch. A latent
// is dead when it has not fired (f > 0) on any of the last dead_window training samples. Every
// resample_every steps the dead latents are resampled as in Towards Monosemanticity (Bricken et
// al. 2023): resample_inputs inputs drawn at random from the buffer are scored by their
// reconstruction loss ℓ = ‖x − x̂‖², each dead latent draws one of them with probability
// ∝ ℓ², its decoder row becomes x/‖x‖, its encoder column x/‖x‖ · resample_scale · (mean norm
// of the alive latents' encoder columns), its b_enc 0, and the Adam moments of those entries
// are reset. No allocation happens inside a step: every buffer is sized at sae_trainer_create.
//
// Results do not depend on the thread count: the products go through gemm(), row loops own
// their rows, and every sum over rows runs in a fixed order (in double where it is reported).
#ifndef MECHLAB_SAE_H
#define MECHLAB_SAE_H

#include <stddef.h>
#include <stdint.h>

#include "model/params.h"
#include "model/transformer.h"
#include "model/rng.h"
#include "train/optim.h"

typedef enum { SAE_RELU = 0, SAE_TOPK = 1 } SaeArch;
typedef enum { SAE_L1_DECODER_NORM = 0, SAE_L1_UNIT_DECODER = 1 } SaeSparsity;

#define SAE_NAME_MAX 128

typedef struct {
    int d_in, d_sae;
    SaeArch arch;
    SaeSparsity sparsity;  // SAE_RELU's way of making the L1 scale-free (see above)
    int k;                 // SAE_TOPK: latents kept per sample (1 <= k <= d_sae)
    // Where the SAE reads its input; written to SAELens' cfg.json (free text for a toy).
    char hook_name[SAE_NAME_MAX];   // e.g. "blocks.0.hook_resid_post"
    int hook_layer;                 // e.g. 0 (-1 when not a transformer layer)
    char model_name[SAE_NAME_MAX];  // e.g. "mechlab-induction"
    int context_size;               // tokens per context the activations came from (0: n/a)
} SaeConfig;

typedef struct {
    SaeConfig cfg;
    ParamSet ps;  // "W_enc" [d_in, d_sae], "b_enc" [d_sae], "W_dec" [d_sae, d_in], "b_dec" [d_in]
    float *W_enc, *b_enc, *W_dec, *b_dec;      // views into ps.data
    float *dW_enc, *db_enc, *dW_dec, *db_dec;  // views into ps.grad
} Sae;

// A config with the given sizes, ReLU with the decoder-norm-weighted L1, hook_layer -1, the
// rest empty/zero.
SaeConfig sae_config(int d_in, int d_sae);

// Checks the config and builds an SAE initialised from `seed` (see Init above). NULL with
// err_set on a bad config or out of memory.
Sae *sae_create(const SaeConfig *cfg, uint64_t seed);
void sae_free(Sae *s);  // sae_free(NULL) is fine

// Sets b_dec to the mean of x[n, d_in] (SAELens' b_dec_init_method "mean").
void sae_init_b_dec_mean(Sae *s, const float *x, size_t n);

// ---- one batch: forward, losses, backward --------------------------------------------------

// What the loss contains for a forward/backward pair.
typedef struct {
    float l1_coeff;              // λ (this step's, after warm-up)
    float aux_coeff;             // α of the AuxK loss (0: none)
    int k_aux;                   // dead latents AuxK may use per sample
    const unsigned char *dead;   // [d_sae] 1 = dead (for AuxK); NULL: no AuxK
} SaeLoss;

// Activations of one batch and the backward's scratch, sized for up to max_batch samples.
typedef struct {
    int max_batch, B;
    int d_in, d_sae, kmax;
    int has_aux;
    float *xc;      // [B, d_in]  x − b_dec
    float *pre;     // [B, d_sae] pre-activations
    float *f;       // [B, d_sae] latent activations
    float *xhat;    // [B, d_in]  reconstruction
    float *wnorm;   // [d_sae]    the L1's per-latent weight w_i (decoder norm or 1)
    int *sel;       // [B, kmax]  TopK / AuxK selection scratch
    int *dead_idx;  // [d_sae]    indices of dead latents (AuxK)
    float *faux;    // [B, d_sae] AuxK activations z (has_aux)
    float *ehat;    // [B, d_in]  AuxK reconstruction ê of the residual (has_aux)
    float *dxhat;   // [B, d_in]  backward scratch (also dê)
    float *df;      // [B, d_sae] backward scratch
    float *dfaux;   // [B, d_sae] backward scratch (has_aux)
    float *colsum;  // [d_sae]
    double *row_sq, *row_l1, *row_aux;  // [B] per-sample ‖x̂ − x‖², Σ_i f_i·w_i, ‖ê − e‖²
    int *row_nnz;                       // [B] per-sample number of active latents
    int aux_used;   // 1 if the last forward computed AuxK (some latent dead, α > 0)
    // Results of the last forward:
    double mse, l1, aux, loss, l0;
} SaeActs;

// Buffers for batches of up to max_batch samples; with_aux also allocates what AuxK needs
// (k_aux_max latents per sample). NULL with err_set when out of memory.
SaeActs *sae_acts_create(const Sae *s, int max_batch, int with_aux, int k_aux_max);
void sae_acts_free(SaeActs *a);

// x[B, d_in] → a->xc, pre, f, xhat and the losses (a->mse, l1, aux, loss = mse + λ·l1 + α·aux,
// l0 = mean number of active latents). loss may be NULL (only the reconstruction: MSE and L0).
// B <= a->max_batch; AuxK needs a->has_aux.
void sae_forward(const Sae *s, SaeActs *a, const float *x, int B, const SaeLoss *loss);

// Accumulates (+=) d loss / d parameters into s->ps.grad for the state the last sae_forward
// left in `a` (same x, same loss).
void sae_backward(Sae *s, SaeActs *a, const float *x, const SaeLoss *loss);

// SAE_L1_UNIT_DECODER: removes from each decoder row's gradient its component along the row;
// sae_normalize_decoder() rescales every decoder row to unit norm.
void sae_project_decoder_grad(Sae *s);
void sae_normalize_decoder(Sae *s);

// ---- training ------------------------------------------------------------------------------

typedef struct {
    int batch;              // samples per step
    long steps;             // total steps (for the trainer's own bookkeeping; stats only)
    Sched lr;               // learning-rate schedule (default constant 1e-3)
    double beta1, beta2;    // Adam (0.9, 0.999)
    float l1_coeff;         // λ
    long l1_warmup;         // λ·min(1, (step+1)/l1_warmup); 0: no warm-up
    float aux_coeff;        // TopK: AuxK coefficient (1/32); ignored for SAE_RELU
    int k_aux;              // TopK: dead latents per sample in AuxK (0 → d_in/2)
    long dead_window;       // samples without firing after which a latent counts as dead
    long resample_every;    // steps between resamplings (0: never resample)
    long resample_stop;     // no resampling at step >= this (0: no limit)
    int resample_inputs;    // inputs scored for resampling
    float resample_scale;   // encoder norm of a resampled latent / mean alive encoder norm (0.2)
    uint64_t seed;          // shuffling and resampling
} SaeTrainConfig;

// batch 256, constant lr 1e-3, Adam (0.9, 0.999), λ 0, no warm-up, α 1/32, k_aux d_in/2,
// dead_window 100 000 samples, no resampling (resample_inputs 8192, scale 0.2), seed 0.
SaeTrainConfig sae_train_defaults(void);

typedef struct {
    long step;        // the step just taken (0-based)
    double loss, mse, l1, aux, l0;  // of this step's batch (before the update)
    float lr, l1_coeff;
    int n_dead;       // dead latents after this step
    int n_resampled;  // latents resampled after this step (0 unless a resampling step)
} SaeStepStats;

typedef struct SaeTrainer SaeTrainer;

// A trainer over the activation buffer data[n, d_in] (not copied: it must outlive the
// trainer; n >= batch). NULL with err_set on a bad config or out of memory.
SaeTrainer *sae_trainer_create(Sae *s, const SaeTrainConfig *tc, const float *data, size_t n);
void sae_trainer_free(SaeTrainer *t);

// One step: next batch, forward, backward, (projection), Adam, (renormalisation), dead-latent
// tracking and, when due, resampling. Returns 0, or -1 with err_set if the loss is not finite
// (the parameters are left as they were before the update).
int sae_trainer_step(SaeTrainer *t, SaeStepStats *st);

// Resamples the currently dead latents now (what a due step does). Returns how many.
int sae_trainer_resample(SaeTrainer *t);

// Dead latents per the window (n_dead; the mask is [d_sae], 1 = dead, owned by the trainer).
int sae_trainer_n_dead(const SaeTrainer *t);
const unsigned char *sae_trainer_dead(const SaeTrainer *t);
// The inputs of the last step's batch [batch, d_in] (rows of the buffer, in batch order). A
// resampling step scores its inputs in the same buffer, so after one it holds those instead.
const float *sae_trainer_batch(const SaeTrainer *t);
// Total latents resampled so far.
long sae_trainer_n_resampled(const SaeTrainer *t);
// The optimiser (its moments o->m / o->v are laid out like s->ps).
Optim *sae_trainer_optim(SaeTrainer *t);

// ---- metrics -------------------------------------------------------------------------------

typedef struct {
    double mse;            // (1/n) Σ ‖x − x̂‖²
    double fvu;            // fraction of variance unexplained Σ‖x − x̂‖² / Σ‖x − mean(x)‖²
    double l0;             // mean number of active latents per sample
    double l1;             // mean Σ_i f_i (unweighted)
    double dead_frac;      // latents that never fired on these samples
    double low_frac;       // latents with density < low_threshold (dead ones included)
    double low_threshold;
} SaeEval;

// Runs the SAE over x[n, d_in] (in chunks; sums in double) and fills *ev; density[d_sae] (may
// be NULL) receives each latent's firing frequency (fraction of samples with f > 0).
// low_threshold: the ultra-low density cut (e.g. 1e-5; meaningful only when n >> 1/threshold).
// Returns 0, or -1 with err_set (n == 0, out of memory).
int sae_evaluate(const Sae *s, const float *x, size_t n, double low_threshold, SaeEval *ev,
                 float *density);

// Histogram of log10(density) over [lo, hi) in nbins bins (values outside are clamped into the
// end bins); latents with density 0 are not binned but counted in *n_zero.
void sae_density_histogram(const float *density, int d_sae, double lo, double hi, int nbins,
                           float *counts, int *n_zero);

// Mean max cosine similarity between true feature directions truth[n_true, d] and dictionary
// directions dict[n_dict, d] (W_dec's rows): for every true feature the largest (signed)
// cosine with any dictionary row, averaged (Sharkey et al. 2022). best_cos[n_true] and
// best_idx[n_true] (either may be NULL) receive each feature's best value and row. Zero rows
// have cosine 0 with everything. Returns 0, or -1 with err_set (out of memory, bad sizes).
int sae_mmcs(const float *truth, int n_true, const float *dict, int n_dict, int d,
             float *best_cos, int *best_idx, double *mmcs);

// Share of the n values in best_cos that are >= thr.
double sae_share_above(const float *best_cos, int n, float thr);

// ---- splicing into a transformer -------------------------------------------------------------

// Cross-entropy loss recovered at a transformer hook point (SAELens' / Anthropic's metric):
//   recovered = (L_zero − L_sae) / (L_zero − L_orig)
// with L_orig the model's mean loss on tokens/targets [B,T], L_sae the loss with the activation
// at `hook` replaced by the SAE's reconstruction x̂ (a forward hook writes it in place, so
// everything downstream sees it), and L_zero the loss with that activation set to 0. 1 means the
// SAE loses nothing; 0 means it is as bad as deleting the activation.
typedef struct {
    double loss_orig, loss_sae, loss_zero;
    double recovered;  // NaN when L_zero == L_orig (the hook point does not matter)
} SaeLossRecovered;

// `hook` is one hook point's exact name (e.g. "blocks.0.hook_resid_post"); its activation, seen
// as [B·T, rest], must have rest == d_in ([B,T,D] points with D = d_in; hook_z [B,T,H,dh] with
// H·dh = d_in). Three forward passes; allocates the SAE's activations for the call. Returns 0,
// or -1 with err_set (unknown hook point, size mismatch, a failed forward).
int sae_loss_recovered(Transformer *m, const Sae *s, const char *hook, const int *tokens,
                       const int *targets, int B, int T, SaeLossRecovered *out);

// The forward hook behind it, for use in other hook lists: overwrites the activation with the
// SAE's reconstruction. user = a SaeSplice (sae and acts with max_batch >= 1; rows are done in
// chunks of acts->max_batch).
typedef struct {
    const Sae *sae;
    SaeActs *acts;
} SaeSplice;
int sae_splice_hook(const char *name, Tensor act, void *user);

// ---- SAELens interop -----------------------------------------------------------------------

// Writes dir/sae_weights.safetensors (F32 "W_enc" [d_in, d_sae], "b_enc" [d_sae], "W_dec"
// [d_sae, d_in], "b_dec" [d_in]) and dir/cfg.json with SAELens' config fields: architecture
// ("standard" / "topk"), d_in, d_sae, dtype "float32", device "cpu", model_name, hook_name,
// hook_layer, hook_head_index null, activation_fn_str ("relu" / "topk"), activation_fn_kwargs
// ({} / {"k": k}), k (topk), apply_b_dec_to_input true, finetuning_scaling_factor false,
// context_size, dataset_path "", dataset_trust_remote_code true, prepend_bos false,
// normalize_activations "none", sae_lens_training_version null, neuronpedia_id null,
// model_from_pretrained_kwargs {}, seqpos_slice [null], plus what mechlab trained with:
// scale_sparsity_penalty_by_decoder_norm, normalize_sae_decoder, l1_coefficient (pass the λ
// used; < 0 leaves it out). No "sae_lens_version": SAELens >= 6 reads the file through its
// pre-6.0 conversion (activation_fn_str → activation_fn, k from activation_fn_kwargs), and
// 4.x/5.x read these fields as they are. Creates dir. Returns 0, or -1 with err_set.
int sae_save_saelens(const char *dir, const Sae *s, double l1_coefficient);

// Reads such a folder back (also SAELens' own: "standard" or "topk"; apply_b_dec_to_input must
// be true and normalize_activations "none", the only forward mechlab computes). NULL with
// err_set naming the file and the problem.
Sae *sae_load_saelens(const char *dir);

#endif
