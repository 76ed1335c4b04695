// pool.h — one persistent pthread pool for the whole process.
//
// pool_for(n, fn, ctx) runs fn(ctx, task, thread) for task = 0..n-1 across the pool and returns
// when all are done. Tasks are handed out dynamically, so a task must own its outputs (write
// only what no other task writes) and must not depend on which thread runs it; then results are
// identical for any thread count. `thread` (0..pool_threads()-1) indexes per-thread scratch.
// A pool_for called from inside a task runs its tasks serially on the calling thread.
//
// The thread count comes from pool_set_threads() (the --threads flag), else MECHLAB_THREADS,
// else the number of online cores. Workers start on first use.
#ifndef MECHLAB_POOL_H
#define MECHLAB_POOL_H

typedef void (*pool_fn)(void *ctx, int task, int thread);

// Sets the number of threads (n <= 0: MECHLAB_THREADS or all cores). Restarts the pool if it was
// running. Returns 0, or -1 with err_set if threads could not be started (the pool then runs
// serially). Not to be called from inside a task.
int pool_set_threads(int n);

// Number of threads pool_for uses (starts the pool if needed).
int pool_threads(void);

// Runs fn for every task in [0, ntasks) and waits for all of them.
void pool_for(int ntasks, pool_fn fn, void *ctx);

// Stops and joins the workers (optional; the next pool_for restarts them).
void pool_shutdown(void);

#endif
