/*
 * The worker pool: a bounded ring of jobs guarded by one lock, and threads
 * that take jobs from it until the pool stops and the ring is empty.
 */
#include "server/workers.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/banned.h"

struct workers_job {
    void (*run)(void *arg);
    void (*done)(void *arg);
    void *arg;
};

struct workers {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    pthread_t *threads;
    int nthreads; /* threads started, and so to be joined */
    /* A ring of queue_max jobs, guarded by lock. */
    struct workers_job *ring;
    size_t queue_max;
    size_t head;
    size_t count;
    int idle; /* threads waiting for a job: submitters wake one only then */
    int stopping;
};

static void *workers_main(void *arg)
{
    struct workers *w = arg;
    struct workers_job job;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        w->idle++;
        while (w->count == 0 && !w->stopping)
            pthread_cond_wait(&w->nonempty, &w->lock);
        w->idle--;
        /* Stopping still drains: a queued job was accepted, so it runs. */
        if (w->count == 0)
            break;
        job = w->ring[w->head];
        w->head = (w->head + 1) % w->queue_max;
        w->count--;
        pthread_mutex_unlock(&w->lock);
        job.run(job.arg);
        if (job.done)
            job.done(job.arg);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Tells the threads to finish the queue and leave, and waits for them. */
static void workers_join(struct workers *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->nonempty);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    w->nthreads = 0;
}

int workers_start(struct workers **out, int nthreads, size_t queue_max)
{
    struct workers *w = NULL;
    sigset_t all;
    sigset_t old;
    int lock_ready = 0;
    int cond_ready = 0;
    int rc = 0;

    *out = NULL;
    if (nthreads < 1 || nthreads > WORKERS_MAX_THREADS || queue_max < 1 ||
        queue_max > WORKERS_MAX_QUEUE) {
        rc = SB_EINVAL;
        goto out;
    }
    w = calloc(1, sizeof(*w));
    if (!w) {
        rc = SB_ENOMEM;
        goto out;
    }
    w->queue_max = queue_max;
    w->ring = calloc(queue_max, sizeof(*w->ring));
    w->threads = calloc((size_t)nthreads, sizeof(*w->threads));
    if (!w->ring || !w->threads) {
        rc = SB_ENOMEM;
        goto out;
    }
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        rc = SB_ENOMEM;
        goto out;
    }
    lock_ready = 1;
    if (pthread_cond_init(&w->nonempty, NULL) != 0) {
        rc = SB_ENOMEM;
        goto out;
    }
    cond_ready = 1;
    /*
     * The threads start with every signal blocked, so that SIGINT and
     * SIGTERM reach the thread that knows how to shut the server down.
     */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (w->nthreads < nthreads && rc == 0) {
        if (pthread_create(&w->threads[w->nthreads], NULL, workers_main, w) == 0)
            w->nthreads++;
        else
            rc = SB_ENOMEM;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
    if (rc < 0 && w) {
        /* The threads that did start have nothing queued: they leave at once. */
        if (w->nthreads > 0)
            workers_join(w);
        if (cond_ready)
            pthread_cond_destroy(&w->nonempty);
        if (lock_ready)
            pthread_mutex_destroy(&w->lock);
        free(w->threads);
        free(w->ring);
        free(w);
        w = NULL;
    }
    *out = w;
    return rc;
}

int workers_submit(struct workers *w, void (*run)(void *arg), void (*done)(void *arg), void *arg)
{
    struct workers_job *slot;
    int rc = 0;

    if (!w || !run) {
        rc = SB_EINVAL;
        goto out;
    }
    pthread_mutex_lock(&w->lock);
    if (w->stopping)
        rc = SB_ECLOSED;
    else if (w->count >= w->queue_max)
        rc = SB_EBUSY;
    if (rc == 0) {
        slot = &w->ring[(w->head + w->count) % w->queue_max];
        slot->run = run;
        slot->done = done;
        slot->arg = arg;
        w->count++;
        /* Busy threads come back for the next job themselves: wake one only if one waits. */
        if (w->idle > 0)
            pthread_cond_signal(&w->nonempty);
    }
    pthread_mutex_unlock(&w->lock);
out:
    return rc;
}

void workers_stop(struct workers *w)
{
    if (!w)
        return;
    workers_join(w);
    pthread_cond_destroy(&w->nonempty);
    pthread_mutex_destroy(&w->lock);
    free(w->threads);
    free(w->ring);
    free(w);
}
