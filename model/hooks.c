#include "hooks.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

// Longest pattern accepted: hook names are short ("blocks.11.attn.hook_attn_scores" is 31).
#define HOOK_PATTERN_MAX 256

int hooks_add(HookList *hl, const char *pattern, HookDir dir, HookFn fn, void *user) {
    if (!pattern || !pattern[0]) return err_set("hooks: empty pattern");
    size_t len = strlen(pattern);
    if (len >= HOOK_PATTERN_MAX)
        return err_set("hooks: pattern of %zu characters (max %d)", len, HOOK_PATTERN_MAX - 1);
    if (!fn) return err_set("hooks: pattern '%s' has no callback", pattern);
    if (dir != HOOK_FORWARD && dir != HOOK_BACKWARD)
        return err_set("hooks: pattern '%s': direction %d is neither forward nor backward",
                       pattern, (int)dir);
    if (hl->n == hl->cap) {
        int cap = hl->cap ? 2 * hl->cap : 8;
        Hook *p = realloc(hl->items, sizeof(Hook) * (size_t)cap);
        if (!p) return err_set("hooks: out of memory adding '%s'", pattern);
        hl->items = p;
        hl->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return err_set("hooks: out of memory adding '%s'", pattern);
    memcpy(copy, pattern, len + 1);
    hl->items[hl->n++] = (Hook){copy, dir, fn, user};
    return 0;
}

void hooks_clear(HookList *hl) {
    for (int i = 0; i < hl->n; i++) free(hl->items[i].pattern);
    hl->n = 0;
}

void hooks_free(HookList *hl) {
    if (!hl) return;
    hooks_clear(hl);
    free(hl->items);
    memset(hl, 0, sizeof *hl);
}

// Iterative glob with one backtrack point: on a mismatch, the last '*' absorbs one more
// character. Linear in practice, O(len(pattern)·len(name)) at worst, no recursion.
bool hooks_match(const char *pattern, const char *name) {
    const char *p = pattern, *s = name;
    const char *star = NULL, *star_s = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            star_s = s;
        } else if (*p && (*p == '?' || *p == *s)) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++star_s;
        } else {
            return false;
        }
    }
    while (*p == '*') p++;
    return *p == '\0';
}

bool hooks_wants(const HookList *hl, const char *name, HookDir dir) {
    if (!hl) return false;
    for (int i = 0; i < hl->n; i++)
        if (hl->items[i].dir == dir && hooks_match(hl->items[i].pattern, name)) return true;
    return false;
}

int hooks_run(const HookList *hl, const char *name, HookDir dir, Tensor act) {
    if (!hl) return 0;
    for (int i = 0; i < hl->n; i++) {
        const Hook *h = &hl->items[i];
        if (h->dir != dir || !hooks_match(h->pattern, name)) continue;
        err_clear();
        int rc = h->fn(name, act, h->user);
        if (rc != 0) {
            if (!err_msg()[0])
                err_set("%s hook '%s' returned %d", dir == HOOK_FORWARD ? "forward" : "backward",
                        h->pattern, rc);
            return err_prefix(name);
        }
    }
    return 0;
}
