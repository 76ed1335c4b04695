// sae_train.c — training an SAE: batches from a shuffled buffer, Adam, λ warm-up, the decoder
// constraint, dead-latent tracking and resampling (see sae.h for the recipe).
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"
#include "sae.h"

struct SaeTrainer {
    Sae *s;
    SaeTrainConfig cfg;
    const float *data;  // [n, d_in], not owned
    size_t n;
    Optim *opt;
    SaeActs *acts;
    float *xb;          // [batch, d_in] the current batch
    int *perm;          // [n] the epoch's order
    size_t pos;         // next position in perm
    Rng rng;
    long step;          // steps taken
    long samples;       // training samples seen
    long *last_fire;    // [d_sae] value of `samples` when the latent last fired
    unsigned char *dead;   // [d_sae]
    unsigned char *fired;  // [d_sae] scratch
    int n_dead;
    int k_aux;
    double *rs_cum;     // [resample_inputs] cumulative ℓ² weights
    int *rs_idx;        // [resample_inputs] which inputs were scored
    long n_resampled;
};

SaeTrainConfig sae_train_defaults(void) {
    SaeTrainConfig c;
    memset(&c, 0, sizeof c);
    c.batch = 256;
    c.lr = (Sched){.kind = SCHED_CONSTANT, .lr = 1e-3f};
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.aux_coeff = 1.0f / 32.0f;
    c.dead_window = 100000;
    c.resample_inputs = 8192;
    c.resample_scale = 0.2f;
    return c;
}

static int check_train_config(const SaeTrainConfig *c, size_t n) {
    if (c->batch < 1) return err_set("sae trainer: batch %d must be >= 1", c->batch);
    if (n < (size_t)c->batch)
        return err_set("sae trainer: %zu activations are fewer than one batch of %d", n, c->batch);
    if (n > (size_t)INT_MAX) return err_set("sae trainer: %zu activations exceed the %d limit", n, INT_MAX);
    if (sched_check(&c->lr)) return err_prefix("sae trainer");
    if (!(c->l1_coeff >= 0.0f) || !isfinite(c->l1_coeff))
        return err_set("sae trainer: l1 coefficient %g must be finite and >= 0", (double)c->l1_coeff);
    if (c->l1_warmup < 0) return err_set("sae trainer: l1 warm-up %ld must be >= 0", c->l1_warmup);
    if (!(c->aux_coeff >= 0.0f) || !isfinite(c->aux_coeff))
        return err_set("sae trainer: AuxK coefficient %g must be finite and >= 0", (double)c->aux_coeff);
    if (c->k_aux < 0) return err_set("sae trainer: k_aux %d must be >= 0", c->k_aux);
    if (c->dead_window < 1) return err_set("sae trainer: dead window %ld must be >= 1", c->dead_window);
    if (c->resample_every < 0 || c->resample_stop < 0)
        return err_set("sae trainer: resampling steps must be >= 0");
    if (c->resample_inputs < 1)
        return err_set("sae trainer: resample_inputs %d must be >= 1", c->resample_inputs);
    if (!(c->resample_scale > 0.0f) || !isfinite(c->resample_scale))
        return err_set("sae trainer: resample scale %g must be finite and > 0", (double)c->resample_scale);
    return 0;
}

void sae_trainer_free(SaeTrainer *t) {
    if (!t) return;
    optim_free(t->opt);
    sae_acts_free(t->acts);
    free(t->xb);
    free(t->perm);
    free(t->last_fire);
    free(t->dead);
    free(t->fired);
    free(t->rs_cum);
    free(t->rs_idx);
    free(t);
}

SaeTrainer *sae_trainer_create(Sae *s, const SaeTrainConfig *tc, const float *data, size_t n) {
    if (!data) {
        err_set("sae trainer: no activation buffer");
        return NULL;
    }
    if (check_train_config(tc, n)) return NULL;
    SaeTrainer *t = calloc(1, sizeof *t);
    if (!t) {
        err_set("sae trainer: out of memory");
        return NULL;
    }
    t->s = s;
    t->cfg = *tc;
    t->data = data;
    t->n = n;
    const int D = s->cfg.d_in, L = s->cfg.d_sae;
    t->k_aux = tc->k_aux > 0 ? tc->k_aux : (D / 2 > 0 ? D / 2 : 1);
    if (t->k_aux > L) t->k_aux = L;
    int with_aux = s->cfg.arch == SAE_TOPK && tc->aux_coeff > 0.0f;
    OptimConfig oc = optim_defaults(OPTIM_ADAM);
    oc.beta1 = tc->beta1;
    oc.beta2 = tc->beta2;
    t->opt = optim_create(&oc, s->ps.numel);
    if (!t->opt) {
        sae_trainer_free(t);
        return NULL;
    }
    t->acts = sae_acts_create(s, tc->batch, with_aux, t->k_aux);
    const size_t rs = (size_t)tc->resample_inputs;  // sae_trainer_resample may be called any time
    if (!t->acts || !(t->xb = malloc(sizeof(float) * (size_t)tc->batch * D)) ||
        !(t->perm = malloc(sizeof(int) * n)) || !(t->last_fire = calloc((size_t)L, sizeof(long))) ||
        !(t->dead = calloc((size_t)L, 1)) || !(t->fired = calloc((size_t)L, 1)) ||
        !(t->rs_cum = malloc(sizeof(double) * rs)) || !(t->rs_idx = malloc(sizeof(int) * rs))) {
        sae_trainer_free(t);
        err_set("sae trainer: out of memory");
        return NULL;
    }
    rng_seed(&t->rng, tc->seed);
    for (size_t i = 0; i < n; i++) t->perm[i] = (int)i;
    rng_shuffle(&t->rng, t->perm, n);
    return t;
}

int sae_trainer_n_dead(const SaeTrainer *t) { return t->n_dead; }
const unsigned char *sae_trainer_dead(const SaeTrainer *t) { return t->dead; }
const float *sae_trainer_batch(const SaeTrainer *t) { return t->xb; }
long sae_trainer_n_resampled(const SaeTrainer *t) { return t->n_resampled; }
Optim *sae_trainer_optim(SaeTrainer *t) { return t->opt; }

// The next batch into t->xb: the epoch's permutation in order, reshuffled when it runs out
// (the last n mod batch samples of an epoch are skipped, a different set each epoch).
static void next_batch(SaeTrainer *t) {
    const int B = t->cfg.batch, D = t->s->cfg.d_in;
    if (t->pos + (size_t)B > t->n) {
        rng_shuffle(&t->rng, t->perm, t->n);
        t->pos = 0;
    }
    for (int b = 0; b < B; b++)
        memcpy(t->xb + (size_t)b * D, t->data + (size_t)t->perm[t->pos + b] * D, sizeof(float) * D);
    t->pos += (size_t)B;
}

// After a batch of B samples whose activations are in a->f: refresh last_fire and the dead mask.
static void track_dead(SaeTrainer *t, const SaeActs *a, int B) {
    const int L = t->s->cfg.d_sae;
    memset(t->fired, 0, (size_t)L);
    for (int b = 0; b < B; b++) {
        const float *f = a->f + (size_t)b * L;
        for (int i = 0; i < L; i++) t->fired[i] |= f[i] > 0.0f;
    }
    t->samples += B;
    int nd = 0;
    for (int i = 0; i < L; i++) {
        if (t->fired[i]) t->last_fire[i] = t->samples;
        t->dead[i] = t->samples - t->last_fire[i] >= t->cfg.dead_window;
        nd += t->dead[i];
    }
    t->n_dead = nd;
}

int sae_trainer_resample(SaeTrainer *t) {
    Sae *s = t->s;
    const int D = s->cfg.d_in, L = s->cfg.d_sae, B = t->cfg.batch;
    if (t->n_dead == 0) return 0;
    // Score inputs by ℓ = ‖x − x̂‖², in batches through the trainer's own buffers.
    const int M = t->cfg.resample_inputs;
    for (int q = 0; q < M; q++) t->rs_idx[q] = (int)rng_int(&t->rng, (uint32_t)t->n);
    double total = 0;
    for (int q0 = 0; q0 < M; q0 += B) {
        int nb = M - q0 < B ? M - q0 : B;
        for (int b = 0; b < nb; b++)
            memcpy(t->xb + (size_t)b * D, t->data + (size_t)t->rs_idx[q0 + b] * D, sizeof(float) * D);
        sae_forward(s, t->acts, t->xb, nb, NULL);
        for (int b = 0; b < nb; b++) {
            double l = t->acts->row_sq[b];
            total += l * l;
            t->rs_cum[q0 + b] = total;
        }
    }
    // Mean encoder norm of the alive latents (column i of W_enc is latent i's encoder).
    double norm_sum = 0;
    int alive = 0;
    for (int i = 0; i < L; i++) {
        if (t->dead[i]) continue;
        double nn = 0;
        for (int d = 0; d < D; d++) nn += (double)s->W_enc[(size_t)d * L + i] * s->W_enc[(size_t)d * L + i];
        norm_sum += sqrt(nn);
        alive++;
    }
    const double enc_norm = (alive ? norm_sum / alive : 1.0) * t->cfg.resample_scale;
    const size_t off_We = s->ps.info[params_index(&s->ps, "W_enc")].offset;
    const size_t off_be = s->ps.info[params_index(&s->ps, "b_enc")].offset;
    const size_t off_Wd = s->ps.info[params_index(&s->ps, "W_dec")].offset;
    float *m = t->opt->m, *v = t->opt->v;
    int done = 0;
    for (int i = 0; i < L; i++) {
        if (!t->dead[i]) continue;
        // Draw input j with probability ℓ_j² / Σ ℓ² (uniform if every loss is 0).
        int j;
        if (total > 0) {
            double u = rng_uniform_d(&t->rng) * total;
            int lo = 0, hi = M - 1;
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (t->rs_cum[mid] > u) hi = mid;
                else lo = mid + 1;
            }
            j = lo;
        } else {
            j = (int)rng_int(&t->rng, (uint32_t)M);
        }
        const float *x = t->data + (size_t)t->rs_idx[j] * D;
        double nn = 0;
        for (int d = 0; d < D; d++) nn += (double)x[d] * x[d];
        if (!(nn > 0)) continue;  // a zero input gives no direction; the latent stays dead
        const float inv = (float)(1.0 / sqrt(nn)), enc = (float)(enc_norm / sqrt(nn));
        for (int d = 0; d < D; d++) {
            s->W_dec[(size_t)i * D + d] = x[d] * inv;
            s->W_enc[(size_t)d * L + i] = x[d] * enc;
            size_t od = off_Wd + (size_t)i * D + d, oe = off_We + (size_t)d * L + i;
            m[od] = v[od] = m[oe] = v[oe] = 0.0f;
        }
        s->b_enc[i] = 0.0f;
        m[off_be + i] = v[off_be + i] = 0.0f;
        t->last_fire[i] = t->samples;  // a fresh window to prove itself
        t->dead[i] = 0;
        t->n_dead--;
        done++;
    }
    t->n_resampled += done;
    return done;
}

int sae_trainer_step(SaeTrainer *t, SaeStepStats *st) {
    Sae *s = t->s;
    const SaeTrainConfig *c = &t->cfg;
    next_batch(t);
    float lam = c->l1_coeff;
    if (c->l1_warmup > 0 && t->step + 1 < c->l1_warmup) lam *= (float)(t->step + 1) / (float)c->l1_warmup;
    int aux = t->acts->has_aux;
    SaeLoss loss = {.l1_coeff = lam,
                    .aux_coeff = aux ? c->aux_coeff : 0.0f,
                    .k_aux = t->k_aux,
                    .dead = aux ? t->dead : NULL};
    params_zero_grad(&s->ps);
    sae_forward(s, t->acts, t->xb, c->batch, &loss);
    if (!isfinite(t->acts->loss))
        return err_set("sae trainer: loss is %g at step %ld", t->acts->loss, t->step);
    sae_backward(s, t->acts, t->xb, &loss);
    if (s->cfg.sparsity == SAE_L1_UNIT_DECODER) sae_project_decoder_grad(s);
    float lr = sched_lr(&c->lr, t->step);
    if (optim_step(t->opt, s->ps.data, s->ps.grad, lr)) return err_prefix("sae trainer");
    if (s->cfg.sparsity == SAE_L1_UNIT_DECODER) sae_normalize_decoder(s);
    track_dead(t, t->acts, c->batch);
    if (st) {
        st->step = t->step;
        st->loss = t->acts->loss;
        st->mse = t->acts->mse;
        st->l1 = t->acts->l1;
        st->aux = t->acts->aux;
        st->l0 = t->acts->l0;
        st->lr = lr;
        st->l1_coeff = lam;
    }
    t->step++;
    int rs = 0;
    if (c->resample_every > 0 && t->step % c->resample_every == 0 &&
        (c->resample_stop == 0 || t->step < c->resample_stop))
        rs = sae_trainer_resample(t);
    if (st) {
        st->n_dead = t->n_dead;
        st->n_resampled = rs;
    }
    return 0;
}
