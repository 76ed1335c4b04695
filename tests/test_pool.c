// Thread pool: every task runs exactly once, for any thread count, nested calls included.
#include <stdatomic.h>

#include "helpers.h"
#include "model/pool.h"

TestSuite(pool);

typedef struct {
    atomic_int runs[1000];
    int nthreads;
    atomic_int bad_thread;
} Count;

static void count_task(void *ctx, int task, int thread) {
    Count *c = ctx;
    atomic_fetch_add(&c->runs[task], 1);
    if (thread < 0 || thread >= c->nthreads) atomic_store(&c->bad_thread, 1);
}

Test(pool, every_task_runs_once_for_1_2_and_5_threads) {
    int counts[] = {1, 2, 5};
    for (int t = 0; t < 3; t++) {
        cr_assert_eq(pool_set_threads(counts[t]), 0);
        cr_assert_eq(pool_threads(), counts[t]);
        for (int rep = 0; rep < 20; rep++) {
            static Count c;
            for (int i = 0; i < 1000; i++) atomic_store(&c.runs[i], 0);
            c.nthreads = counts[t];
            atomic_store(&c.bad_thread, 0);
            pool_for(1000, count_task, &c);
            for (int i = 0; i < 1000; i++) cr_assert_eq(atomic_load(&c.runs[i]), 1, "task %d", i);
            cr_assert_eq(atomic_load(&c.bad_thread), 0);
        }
    }
    pool_shutdown();
}

static void inner_task(void *ctx, int task, int thread) {
    (void)thread;
    atomic_fetch_add(&((atomic_int *)ctx)[task], 1);
}

static void outer_task(void *ctx, int task, int thread) {
    (void)thread;
    atomic_int *cells = ctx;
    pool_for(10, inner_task, cells + 10 * task);  // nested: runs serially, must not deadlock
}

Test(pool, nested_pool_for_runs_serially) {
    pool_set_threads(2);
    static atomic_int cells[100];
    for (int i = 0; i < 100; i++) atomic_store(&cells[i], 0);
    pool_for(10, outer_task, cells);
    for (int i = 0; i < 100; i++) cr_assert_eq(atomic_load(&cells[i]), 1);
    pool_shutdown();
}
