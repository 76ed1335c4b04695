// hooks.h — the one mechanism for caching, patching, ablation, steering and gradients.
//
// A HookList is a list of {name pattern, direction, callback, user pointer}. A model that supports
// hooks (the transformer, tf_forward / tf_backward) calls, at each of its named hook points
// ("blocks.0.attn.hook_z", ...), every callback whose pattern matches the point's name, in the
// order they were added:
//
//   HOOK_FORWARD   right after the forward pass has computed the activation. The callback gets a
//                  view of it (for the current batch and length) and may read it (cache, probe)
//                  or overwrite it in place (patch, ablate, add a steering vector); everything
//                  downstream, forward and backward, uses the modified values.
//   HOOK_BACKWARD  during the backward pass, once d(loss)/d(activation) at the point is complete
//                  (every use of the activation downstream has contributed). The callback gets a
//                  view of the gradient and may read it (attribution patching, saliency) or
//                  modify it in place; earlier layers then receive the modified gradient.
//
// A callback returns 0 to continue. A non-zero return aborts the pass: the model returns -1 and
// err_msg() holds "<hook name>: <the callback's err_set message>" (or a generic message if the
// callback set none).
//
// Patterns are globs over the whole name: '*' matches any run of characters (dots included, so
// "blocks.*.attn.hook_pattern" matches every layer and "*" matches everything), '?' matches one
// character, everything else matches itself. No other syntax.
//
// Building a list allocates (hooks_add); running one does not. An empty list (or a NULL pointer)
// costs one comparison per hook point.
//
//     HookList hl = {0};
//     hooks_add(&hl, "blocks.1.attn.hook_z", HOOK_FORWARD, zero_head_2, NULL);
//     tf_forward(model, tokens, targets, B, T, &hl, &loss);
//     hooks_free(&hl);
#ifndef MECHLAB_HOOKS_H
#define MECHLAB_HOOKS_H

#include <stdbool.h>

#include "tensor.h"

typedef enum { HOOK_FORWARD = 0, HOOK_BACKWARD = 1 } HookDir;

// name: the hook point's full name; act: a view of the activation (forward) or of its gradient
// (backward), shaped for the current batch; user: the pointer given to hooks_add.
typedef int (*HookFn)(const char *name, Tensor act, void *user);

typedef struct {
    char *pattern;  // owned copy
    HookDir dir;
    HookFn fn;
    void *user;
} Hook;

typedef struct {
    Hook *items;
    int n;
    int cap;
} HookList;  // start zeroed: HookList hl = {0};

// Appends a hook (the pattern is copied). Returns 0, or -1 with err_set (empty or over-long
// pattern, NULL callback, bad direction, out of memory).
int hooks_add(HookList *hl, const char *pattern, HookDir dir, HookFn fn, void *user);

// Removes every hook (keeps the memory for reuse).
void hooks_clear(HookList *hl);

// Frees the list; a zeroed or freed list is fine.
void hooks_free(HookList *hl);

// True if the glob `pattern` matches the whole of `name`.
bool hooks_match(const char *pattern, const char *name);

// True if at least one hook of direction `dir` in `hl` (may be NULL) matches `name`.
bool hooks_wants(const HookList *hl, const char *name, HookDir dir);

// Calls every hook of direction `dir` whose pattern matches `name`, in list order, with `act`.
// Returns 0, or -1 as soon as one returns non-zero (err_msg() prefixed with `name`).
// hl may be NULL.
int hooks_run(const HookList *hl, const char *name, HookDir dir, Tensor act);

#endif
