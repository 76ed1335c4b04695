// ops_internal.h — the one threading helper the op files share (not part of the public API).
//
// ops_parallel(fn, args, n, cost) runs fn(args, i0, i1) over [0, n) split into fixed ranges of
// about OPS_GRAIN floats of work each (`cost` floats per item). The split depends only on n and
// cost, never on the thread count, and each range owns items i0..i1-1 and what they write; so a
// kernel whose items write disjoint outputs gives the same bits on any number of threads.
#ifndef MECHLAB_OPS_INTERNAL_H
#define MECHLAB_OPS_INTERNAL_H

#include <stddef.h>

#include "pool.h"

// Below about this many floats per task, handing work to the pool costs more than doing it.
#define OPS_GRAIN 16384

typedef void (*ops_range_fn)(const void *args, size_t i0, size_t i1);

typedef struct {
    ops_range_fn fn;
    const void *args;
    size_t n, per;
} OpsRangeJob;

static inline void ops_range_task(void *ctx, int task, int thread) {
    (void)thread;
    const OpsRangeJob *j = ctx;
    size_t i0 = (size_t)task * j->per;
    size_t i1 = j->n - i0 < j->per ? j->n : i0 + j->per;
    j->fn(j->args, i0, i1);
}

static inline void ops_parallel(ops_range_fn fn, const void *args, size_t n, size_t cost) {
    size_t per = OPS_GRAIN / (cost ? cost : 1);
    if (per < 1) per = 1;
    if (n <= per) {
        if (n) fn(args, 0, n);
        return;
    }
    OpsRangeJob j = {fn, args, n, per};
    pool_for((int)((n + per - 1) / per), ops_range_task, &j);
}

#endif
