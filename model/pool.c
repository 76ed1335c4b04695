#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "err.h"

#define POOL_MAX_THREADS 256

// One job at a time: the caller publishes (fn, ctx, ntasks), bumps the generation, and takes part
// in the work itself as thread 0. Workers claim task indices from an atomic counter.
static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    pthread_t tid[POOL_MAX_THREADS];
    int nthreads;  // including the caller; 0 = not started
    int started;   // workers alive (nthreads - 1 of them)
    int stop;
    unsigned long generation;
    unsigned long gen_start;  // generation when the current workers were started
    pool_fn fn;
    void *ctx;
    int ntasks;
    atomic_int next;
    int active;  // workers still inside the current job
} P = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .wake = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER};

static _Thread_local int in_task;  // nonzero inside a task: nested pool_for runs serially
static pthread_mutex_t job_mu = PTHREAD_MUTEX_INITIALIZER;  // one pool_for at a time

// Claims and runs tasks of the job (fn, ctx, n) until none are left. Workers pass the copy they
// took under P.mu; the caller passes the job it published.
static void run_tasks(pool_fn fn, void *ctx, int n, int thread) {
    in_task = 1;
    for (;;) {
        int t = atomic_fetch_add_explicit(&P.next, 1, memory_order_relaxed);
        if (t >= n) break;
        fn(ctx, t, thread);
    }
    in_task = 0;
}

// A worker starts from the generation its pool was started at (no job runs then: pool_start
// holds job_mu), so it takes part in every later job exactly once. Starting from 0, as a first
// version did, a worker of a restarted pool took the last job's generation for a new one: it
// could read the job while the caller was publishing the next, run that one too and count itself
// done twice, and pool_for then returned with another worker still inside a task (a rare crash
// under load in the gemm thread test; tests/test_pool.c). The job is copied under the lock.
static void *worker(void *arg) {
    int thread = (int)(size_t)arg;
    pthread_mutex_lock(&P.mu);
    unsigned long seen = P.gen_start;
    for (;;) {
        while (!P.stop && P.generation == seen) pthread_cond_wait(&P.wake, &P.mu);
        if (P.stop) break;
        seen = P.generation;
        pool_fn fn = P.fn;
        void *ctx = P.ctx;
        int n = P.ntasks;
        pthread_mutex_unlock(&P.mu);
        run_tasks(fn, ctx, n, thread);
        pthread_mutex_lock(&P.mu);
        if (--P.active == 0) pthread_cond_signal(&P.done);
    }
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

static int default_threads(void) {
    const char *env = getenv("MECHLAB_THREADS");
    if (env && *env) {
        int n = atoi(env);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void pool_shutdown(void) {
    pthread_mutex_lock(&P.mu);
    P.stop = 1;
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mu);
    for (int i = 1; i < P.started + 1; i++) pthread_join(P.tid[i], NULL);
    P.started = 0;
    P.nthreads = 0;
    P.stop = 0;
}

static int pool_start(int n) {
    if (n <= 0) n = default_threads();
    if (n > POOL_MAX_THREADS) n = POOL_MAX_THREADS;
    P.nthreads = n;
    P.started = 0;
    pthread_mutex_lock(&P.mu);
    P.gen_start = P.generation;
    pthread_mutex_unlock(&P.mu);
    for (int i = 1; i < n; i++) {
        if (pthread_create(&P.tid[i], NULL, worker, (void *)(size_t)i) != 0) {
            P.nthreads = P.started + 1;
            return err_set("thread pool: could not start thread %d of %d", i + 1, n);
        }
        P.started++;
    }
    return 0;
}

int pool_set_threads(int n) {
    pthread_mutex_lock(&job_mu);
    if (P.nthreads) pool_shutdown();
    int rc = pool_start(n);
    pthread_mutex_unlock(&job_mu);
    return rc;
}

int pool_threads(void) {
    if (in_task) return 1;  // nested pool_for runs serially; job_mu is held by the outer job
    pthread_mutex_lock(&job_mu);
    if (!P.nthreads) pool_start(0);
    int n = P.nthreads;
    pthread_mutex_unlock(&job_mu);
    return n;
}

void pool_for(int ntasks, pool_fn fn, void *ctx) {
    if (ntasks <= 0) return;
    if (in_task || ntasks == 1) {
        for (int t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&job_mu);
    if (!P.nthreads) pool_start(0);
    if (P.nthreads == 1) {
        pthread_mutex_unlock(&job_mu);
        for (int t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&P.mu);
    P.fn = fn;
    P.ctx = ctx;
    P.ntasks = ntasks;
    atomic_store(&P.next, 0);
    P.active = P.started;
    P.generation++;
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mu);

    run_tasks(fn, ctx, ntasks, 0);

    pthread_mutex_lock(&P.mu);
    while (P.active > 0) pthread_cond_wait(&P.done, &P.mu);
    pthread_mutex_unlock(&P.mu);
    pthread_mutex_unlock(&job_mu);
}
