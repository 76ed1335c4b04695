// Thread pool: every task runs exactly once, for any thread count, nested calls included.
#include <stdatomic.h>
#include <unistd.h>

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

// Restart the pool, wait a varying while, run jobs: every pool_for must return with all of its
// tasks finished. A first version started workers from generation 0, so after a restart they took
// the previous job for a new one; if the caller published a job in the instant between such a
// worker's look at the stale job and its "done", the worker was counted twice and pool_for could
// return with a task still running. CI hit it once (gemm's 3-thread result differed from 1
// thread, then a crash: the first 3-thread product after a restart). The window is too narrow
// for this test to hit reliably (it passed every time on the old code); it guards the invariant.
typedef struct {
    atomic_int done;
    atomic_int spin_sink;
} Slow;

static void slow_task(void *ctx, int task, int thread) {
    (void)thread;
    Slow *s = ctx;
    for (int i = 0; i < 2000 * (task % 3 + 1); i++) atomic_fetch_add_explicit(&s->spin_sink, 1, memory_order_relaxed);
    atomic_fetch_add(&s->done, 1);
}

Test(pool, restart_then_job_returns_only_when_all_tasks_are_done) {
    for (int rep = 0; rep < 1000; rep++) {
        cr_assert_eq(pool_set_threads(2 + rep % 3), 0);
        // Let the new workers start, for a varying while, before the first job is published (as
        // when the caller is descheduled on a loaded machine).
        if (rep % 4) usleep((useconds_t)(rep * 7 % 60));
        for (int job = 0; job < 2; job++) {
            Slow s;
            atomic_init(&s.done, 0);
            atomic_init(&s.spin_sink, 0);
            pool_for(7, slow_task, &s);
            cr_assert_eq(atomic_load(&s.done), 7, "restart %d, job %d: pool_for returned with %d of 7 tasks done",
                         rep, job, atomic_load(&s.done));
        }
    }
    pool_shutdown();
}
