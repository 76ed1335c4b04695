// sae_splice.c — an SAE spliced into a transformer's forward pass through a hook, and the
// cross-entropy loss recovered.
#include <math.h>
#include <string.h>

#include "model/err.h"
#include "model/hooks.h"
#include "sae.h"

#define SAE_SPLICE_CHUNK 1024

// Rows of a hook activation: [B, T, ...] → B·T rows of the product of the remaining dims.
static int hook_rows(Tensor act, int d_in, const char *name, size_t *rows) {
    size_t n = tensor_numel(&act);
    size_t row = 1;
    for (int i = 2; i < act.ndim; i++) row *= (size_t)act.shape[i];
    if (act.ndim < 3 || row != (size_t)d_in)
        return err_set("%s: the SAE reads d_in = %d values per position, the hook point has %zu", name,
                       d_in, act.ndim < 3 ? n : row);
    *rows = n / row;
    return 0;
}

int sae_splice_hook(const char *name, Tensor act, void *user) {
    SaeSplice *sp = user;
    const int D = sp->sae->cfg.d_in;
    size_t rows;
    if (hook_rows(act, D, name, &rows)) return -1;
    for (size_t r0 = 0; r0 < rows; r0 += (size_t)sp->acts->max_batch) {
        int B = rows - r0 < (size_t)sp->acts->max_batch ? (int)(rows - r0) : sp->acts->max_batch;
        float *x = act.data + r0 * D;
        sae_forward(sp->sae, sp->acts, x, B, NULL);
        memcpy(x, sp->acts->xhat, sizeof(float) * (size_t)B * D);
    }
    return 0;
}

static int zero_hook(const char *name, Tensor act, void *user) {
    (void)name;
    (void)user;
    memset(act.data, 0, sizeof(float) * tensor_numel(&act));
    return 0;
}

int sae_loss_recovered(Transformer *m, const Sae *s, const char *hook, const int *tokens,
                       const int *targets, int B, int T, SaeLossRecovered *out) {
    // The hook point must exist and have the SAE's width (checked before any forward pass).
    int found = 0;
    for (int i = 0; i < tf_hook_count(m) && !found; i++) {
        TfHookInfo hi = tf_hook_info(m, i, B, T);
        if (strcmp(hi.name, hook)) continue;
        found = 1;
        Tensor shape = {NULL, hi.ndim, {hi.shape[0], hi.shape[1], hi.shape[2], hi.shape[3]}};
        size_t rows;
        if (hook_rows(shape, s->cfg.d_in, hook, &rows)) return -1;
    }
    if (!found) return err_set("%s: not a hook point of this model", hook);
    int chunk = B * T < SAE_SPLICE_CHUNK ? B * T : SAE_SPLICE_CHUNK;
    SaeActs *a = sae_acts_create(s, chunk, 0, 0);
    if (!a) return -1;
    SaeSplice sp = {s, a};
    HookList hs = {0}, hz = {0};
    int rc = -1;
    if (hooks_add(&hs, hook, HOOK_FORWARD, sae_splice_hook, &sp) ||
        hooks_add(&hz, hook, HOOK_FORWARD, zero_hook, NULL))
        goto done;
    if (tf_forward(m, tokens, targets, B, T, NULL, &out->loss_orig) ||
        tf_forward(m, tokens, targets, B, T, &hs, &out->loss_sae) ||
        tf_forward(m, tokens, targets, B, T, &hz, &out->loss_zero))
        goto done;
    double den = out->loss_zero - out->loss_orig;
    out->recovered = den != 0 ? (out->loss_zero - out->loss_sae) / den : NAN;
    rc = 0;
done:
    hooks_free(&hs);
    hooks_free(&hz);
    sae_acts_free(a);
    return rc;
}
