#include "lens.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/err.h"
#include "model/ops.h"

int lens_n_stack(const TfConfig *c) {
    return 2 + c->n_layers * (c->n_heads + 1 + (c->attn_only ? 0 : 1));
}

int lens_n_components(const TfConfig *c) { return lens_n_stack(c) + 1; }

void lens_component_name(const TfConfig *c, int i, char *out, size_t n) {
    const int per = c->n_heads + 1 + (c->attn_only ? 0 : 1);
    if (i == 0) snprintf(out, n, "embed");
    else if (i == 1) snprintf(out, n, "pos_embed");
    else if (i == lens_n_stack(c)) snprintf(out, n, "bias");
    else if (i < 0 || i > lens_n_stack(c)) snprintf(out, n, "?");
    else {
        int l = (i - 2) / per, j = (i - 2) % per;
        if (j < c->n_heads) snprintf(out, n, "L%dH%d", l, j);
        else if (j == c->n_heads) snprintf(out, n, "L%d.b_O", l);
        else snprintf(out, n, "L%d.mlp_out", l);
    }
}

static const float *act_row(const Transformer *m, const char *name, int b, int t, int *ok) {
    Tensor a = tf_act(m, name);
    if (!a.data) {
        *ok = 0;
        return NULL;
    }
    // [B, T, ...]: the row of (b, t) starts after (b·T + t) rows of the trailing size.
    size_t inner = 1;
    for (int k = 2; k < a.ndim; k++) inner *= (size_t)a.shape[k];
    return a.data + ((size_t)b * a.shape[1] + t) * inner;
}

int lens_resid_stack(const Transformer *m, int b, int t, double *stack) {
    const TfConfig *c = &m->cfg;
    const int D = c->d_model, H = c->n_heads;
    if (!m->have_fwd) return err_set("lens: no forward pass has completed");
    if (b < 0 || b >= m->B || t < 0 || t >= m->T)
        return err_set("lens: row (%d, %d) outside the last batch [%d, %d]", b, t, m->B, m->T);
    int ok = 1, k = 0;
    char nm[96];
    const float *src[3];
    src[0] = act_row(m, "hook_embed", b, t, &ok);
    src[1] = act_row(m, "hook_pos_embed", b, t, &ok);
    if (!ok) return -1;
    for (int i = 0; i < 2; i++, k++)
        for (int d = 0; d < D; d++) stack[(size_t)k * D + d] = src[i][d];
    const int dh = c->d_head;
    for (int l = 0; l < c->n_layers; l++) {
        // Head h's write: z[b, t, h, :] · W_O[h] (what hook_result holds when it is computed).
        snprintf(nm, sizeof nm, "blocks.%d.attn.hook_z", l);
        const float *z = act_row(m, nm, b, t, &ok);  // [H, dh]
        if (!ok) return -1;
        snprintf(nm, sizeof nm, "blocks.%d.attn.W_O", l);
        const float *W_O = params_data(&m->params, nm);  // [H, dh, D]
        for (int h = 0; h < H; h++, k++) {
            double *out = stack + (size_t)k * D;
            for (int d = 0; d < D; d++) out[d] = 0;
            for (int e = 0; e < dh; e++) {
                const double ze = z[h * dh + e];
                const float *w = W_O + ((size_t)h * dh + e) * D;
                for (int d = 0; d < D; d++) out[d] += ze * w[d];
            }
        }
        snprintf(nm, sizeof nm, "blocks.%d.attn.b_O", l);
        const float *bO = params_data(&m->params, nm);
        for (int d = 0; d < D; d++) stack[(size_t)k * D + d] = bO[d];
        k++;
        if (!c->attn_only) {
            snprintf(nm, sizeof nm, "blocks.%d.hook_mlp_out", l);
            const float *mo = act_row(m, nm, b, t, &ok);
            if (!ok) return -1;
            for (int d = 0; d < D; d++) stack[(size_t)k * D + d] = mo[d];
            k++;
        }
    }
    return 0;
}

int lens_dla(Transformer *m, const int *tokens, int B, int T, const int *tok_a, const int *tok_b,
             double *attr, double *logit) {
    const TfConfig *c = &m->cfg;
    const int D = c->d_model, V = c->d_vocab, NS = lens_n_stack(c), NC = NS + 1;
    const bool ln = c->normalization_type == TF_NORM_LN;
    for (int r = 0; r < B * T && tokens; r++)
        if (tok_a[r] >= V || (tok_b && tok_b[r] >= V))
            return err_set("lens: token %d at row %d is outside the vocabulary [0, %d)",
                           tok_a[r] >= V ? tok_a[r] : tok_b[r], r, V);
    if (tf_forward(m, tokens, NULL, B, T, NULL, NULL)) return -1;
    double *stack = malloc(sizeof(double) * (size_t)NS * D), *u = malloc(sizeof(double) * D);
    if (!stack || !u) {
        free(stack);
        free(u);
        return err_set("lens: out of memory");
    }
    const float *W_U = params_data(&m->params, "unembed.W_U");  // [D, V]
    const float *b_U = params_data(&m->params, "unembed.b_U");
    const float *w = ln ? params_data(&m->params, "ln_final.w") : NULL;
    const float *lb = ln ? params_data(&m->params, "ln_final.b") : NULL;
    const float *scale = ln ? tf_act(m, "ln_final.hook_scale").data : NULL;  // [B, T, 1]
    const float *logits = tf_act(m, "logits").data;                         // [B, T, V]
    for (int r = 0; r < B * T; r++) {
        double *out = attr + (size_t)r * NC;
        if (tok_a[r] < 0) {
            for (int i = 0; i < NC; i++) out[i] = NAN;
            logit[r] = NAN;
            continue;
        }
        const int a = tok_a[r], bb = tok_b && tok_b[r] >= 0 ? tok_b[r] : -1;
        // The unembedding direction u = W_U[:, a] − W_U[:, b], and the bias component.
        double bias = b_U[a] - (bb >= 0 ? b_U[bb] : 0.0);
        for (int d = 0; d < D; d++) {
            double ud = (double)W_U[(size_t)d * V + a] - (bb >= 0 ? W_U[(size_t)d * V + bb] : 0.0);
            if (ln) {
                bias += lb[d] * ud;
                ud *= w[d];
            }
            u[d] = ud;
        }
        logit[r] = (double)logits[(size_t)r * V + a] - (bb >= 0 ? logits[(size_t)r * V + bb] : 0.0);
        if (lens_resid_stack(m, r / T, r % T, stack)) {
            free(stack);
            free(u);
            return -1;
        }
        const double inv = ln ? 1.0 / scale[r] : 1.0;
        for (int i = 0; i < NS; i++) {
            const double *ci = stack + (size_t)i * D;
            double mean = 0, s = 0;
            if (ln) {
                for (int d = 0; d < D; d++) mean += ci[d];
                mean /= D;
            }
            for (int d = 0; d < D; d++) s += (ci[d] - mean) * u[d];
            out[i] = s * inv;
        }
        out[NS] = bias;
    }
    free(stack);
    free(u);
    return 0;
}

// ---- logit lens --------------------------------------------------------------------------------

int lens_stats_init(LensStats *s, const TfConfig *c) {
    memset(s, 0, sizeof *s);
    s->n_streams = c->n_layers + 1;
    s->correct = calloc((size_t)s->n_streams, sizeof *s->correct);
    s->logprob_sum = calloc((size_t)s->n_streams, sizeof *s->logprob_sum);
    s->prob_sum = calloc((size_t)s->n_streams, sizeof *s->prob_sum);
    if (!s->correct || !s->logprob_sum || !s->prob_sum) {
        lens_stats_free(s);
        return err_set("lens: out of memory");
    }
    return 0;
}

void lens_stats_free(LensStats *s) {
    if (!s) return;
    free(s->correct);
    free(s->logprob_sum);
    free(s->prob_sum);
    memset(s, 0, sizeof *s);
}

int lens_decode(const Transformer *m, int k, float *logits) {
    const TfConfig *c = &m->cfg;
    if (!m->have_fwd) return err_set("lens: no forward pass has completed");
    if (k < 0 || k > c->n_layers)
        return err_set("lens: stream %d is outside 0..%d", k, c->n_layers);
    const int N = m->B * m->T, D = c->d_model, V = c->d_vocab;
    char nm[64];
    if (k == 0) snprintf(nm, sizeof nm, "blocks.0.hook_resid_pre");
    else snprintf(nm, sizeof nm, "blocks.%d.hook_resid_post", k - 1);
    const float *x = tf_act(m, nm).data;  // [N, D]
    if (!x) return -1;
    const float *W_U = params_data(&m->params, "unembed.W_U");
    const float *b_U = params_data(&m->params, "unembed.b_U");
    if (c->normalization_type != TF_NORM_LN) {
        linear_forward(logits, x, W_U, b_U, N, D, V);
        return 0;
    }
    // The same two ops the model's forward ends with, on the same N rows, so the last stream
    // reproduces the model's logits bit for bit.
    float *norm = malloc(sizeof(float) * ((size_t)N * D + 2 * (size_t)N));
    if (!norm) return err_set("lens: out of memory");
    float *mean = norm + (size_t)N * D, *scale = mean + N;
    layernorm_forward(norm, mean, scale, x, params_data(&m->params, "ln_final.w"),
                      params_data(&m->params, "ln_final.b"), N, D, c->eps);
    linear_forward(logits, norm, W_U, b_U, N, D, V);
    free(norm);
    return 0;
}

int lens_logit_lens(Transformer *m, const int *tokens, const int *targets, int B, int T,
                    LensStats *s, int *top) {
    const TfConfig *c = &m->cfg;
    const int V = c->d_vocab, N = B * T;
    if (s->n_streams != c->n_layers + 1) return err_set("lens: stats made for another model");
    for (int r = 0; r < N && tokens; r++)
        if (targets[r] >= V)
            return err_set("lens: target %d at row %d is outside the vocabulary [0, %d)",
                           targets[r], r, V);
    if (tf_forward(m, tokens, NULL, B, T, NULL, NULL)) return -1;
    float *logits = malloc(sizeof(float) * (size_t)N * V);
    if (!logits) return err_set("lens: out of memory");
    for (int k = 0; k <= c->n_layers; k++) {
        if (lens_decode(m, k, logits)) {
            free(logits);
            return -1;
        }
        for (int r = 0; r < N; r++) {
            const float *z = logits + (size_t)r * V;
            int arg = 0;
            for (int v = 1; v < V; v++)
                if (z[v] > z[arg]) arg = v;
            if (top) top[(size_t)k * N + r] = arg;
            if (targets[r] < 0) continue;
            double se = 0;  // log-softmax in double, shifted by the max
            for (int v = 0; v < V; v++) se += exp((double)z[v] - z[arg]);
            double lp = (double)z[targets[r]] - z[arg] - log(se);
            s->logprob_sum[k] += lp;
            s->prob_sum[k] += exp(lp);
            s->correct[k] += arg == targets[r];
        }
    }
    for (int r = 0; r < N; r++) s->count += targets[r] >= 0;
    free(logits);
    return 0;
}
