/*
 * Tests of the worker pool: every accepted job runs exactly once on a worker
 * thread with its done after it, a full queue and a stopping pool refuse
 * work, and stopping drains what was accepted.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "server/workers.h"

/* One job's record of what happened to it. */
struct probe {
    atomic_int runs;
    atomic_int dones;
    atomic_int done_before_run; /* done found run unfinished */
    atomic_int wrong_thread;    /* done ran on another thread than run */
    pthread_t run_thread;
    int value; /* written by run, read by done */
};

static pthread_t main_thread;

static void probe_run(void *arg)
{
    struct probe *p = arg;

    p->run_thread = pthread_self();
    p->value = 42;
    atomic_fetch_add(&p->runs, 1);
}

static void probe_done(void *arg)
{
    struct probe *p = arg;

    if (atomic_load(&p->runs) != 1 || p->value != 42)
        atomic_fetch_add(&p->done_before_run, 1);
    if (!pthread_equal(p->run_thread, pthread_self()) || pthread_equal(p->run_thread, main_thread))
        atomic_fetch_add(&p->wrong_thread, 1);
    atomic_fetch_add(&p->dones, 1);
}

/* Submits, waiting out a full queue: callers that must not lose work retry. */
static void submit_retrying(struct workers *w, void (*run)(void *), void (*done)(void *), void *arg)
{
    int rc;

    for (;;) {
        rc = workers_submit(w, run, done, arg);
        if (rc != SB_EBUSY)
            break;
        sched_yield();
    }
    cr_assert_eq(rc, 0, "submit: %d", rc);
}

#define SUBMITTERS 4
#define JOBS_EACH 2500

struct submitter {
    struct workers *w;
    struct probe *probes;
};

static void *submit_many(void *arg)
{
    struct submitter *s = arg;

    for (int i = 0; i < JOBS_EACH; i++)
        submit_retrying(s->w, probe_run, probe_done, &s->probes[i]);
    return NULL;
}

static void check_probe(struct probe *p, const char *what, int i)
{
    cr_assert_eq(atomic_load(&p->runs), 1, "%s %d ran %d times", what, i, atomic_load(&p->runs));
    cr_assert_eq(atomic_load(&p->dones), 1, "%s %d done %d times", what, i, atomic_load(&p->dones));
    cr_assert_eq(atomic_load(&p->done_before_run), 0, "%s %d: done before run", what, i);
    cr_assert_eq(atomic_load(&p->wrong_thread), 0, "%s %d: not on one worker", what, i);
}

Test(workers, jobs_from_many_threads_run_exactly_once)
{
    struct workers *w = NULL;
    struct submitter subs[SUBMITTERS];
    pthread_t th[SUBMITTERS];
    struct probe *probes = calloc(SUBMITTERS * JOBS_EACH, sizeof(*probes));

    main_thread = pthread_self();
    cr_assert_not_null(probes);
    cr_assert_eq(workers_start(&w, 4, 64), 0);
    for (int i = 0; i < SUBMITTERS; i++) {
        subs[i].w = w;
        subs[i].probes = probes + i * JOBS_EACH;
        cr_assert_eq(pthread_create(&th[i], NULL, submit_many, &subs[i]), 0);
    }
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_join(th[i], NULL);
    workers_stop(w);
    for (int i = 0; i < SUBMITTERS * JOBS_EACH; i++)
        check_probe(&probes[i], "job", i);
    free(probes);
}

Test(workers, done_may_be_null)
{
    struct workers *w = NULL;
    struct probe p;

    memset(&p, 0, sizeof(p));
    cr_assert_eq(workers_start(&w, 1, 1), 0);
    cr_assert_eq(workers_submit(w, probe_run, NULL, &p), 0);
    workers_stop(w);
    cr_assert_eq(atomic_load(&p.runs), 1);
    cr_assert_eq(atomic_load(&p.dones), 0);
}

/* A job that holds its worker until the test lets it go. */
struct gate {
    sem_t started;
    sem_t release;
};

/* Waits out interruptions by signals, which the tests do not use but may get. */
static void sem_wait_through(sem_t *s)
{
    int rc;

    do {
        rc = sem_wait(s);
    } while (rc != 0);
}

static void gate_run(void *arg)
{
    struct gate *g = arg;

    sem_post(&g->started);
    sem_wait_through(&g->release);
}

static void gate_init(struct gate *g)
{
    cr_assert_eq(sem_init(&g->started, 0, 0), 0);
    cr_assert_eq(sem_init(&g->release, 0, 0), 0);
}

static void gate_wait_started(struct gate *g)
{
    sem_wait_through(&g->started);
}

Test(workers, full_queue_is_busy_and_refused_jobs_never_run)
{
    struct workers *w = NULL;
    struct gate g;
    struct probe queued[4];
    struct probe refused;

    memset(queued, 0, sizeof(queued));
    memset(&refused, 0, sizeof(refused));
    main_thread = pthread_self();
    gate_init(&g);
    cr_assert_eq(workers_start(&w, 1, 4), 0);
    /* Once the gate runs, the only worker is held and the queue only fills. */
    cr_assert_eq(workers_submit(w, gate_run, NULL, &g), 0);
    gate_wait_started(&g);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(workers_submit(w, probe_run, probe_done, &queued[i]), 0);
    cr_assert_eq(workers_submit(w, probe_run, probe_done, &refused), SB_EBUSY);
    cr_assert_eq(workers_submit(w, probe_run, probe_done, &refused), SB_EBUSY);
    sem_post(&g.release);
    workers_stop(w);
    for (int i = 0; i < 4; i++)
        check_probe(&queued[i], "queued", i);
    cr_assert_eq(atomic_load(&refused.runs), 0);
    cr_assert_eq(atomic_load(&refused.dones), 0);
}

struct stopper {
    struct workers *w;
};

static void *stop_thread(void *arg)
{
    struct stopper *s = arg;

    workers_stop(s->w);
    return NULL;
}

/* A job that, running while the pool drains, tries to queue more work. */
struct late {
    struct workers *w;
    struct probe probe;
    atomic_int rc;
};

static void late_run(void *arg)
{
    struct late *l = arg;

    atomic_store(&l->rc, workers_submit(l->w, probe_run, probe_done, &l->probe));
}

static atomic_long counted;

static void count_run(void *arg)
{
    atomic_fetch_add(&counted, 1);
}

#define DRAIN_JOBS 200

Test(workers, stop_drains_queued_jobs_and_refuses_new_ones)
{
    struct workers *w = NULL;
    struct gate g;
    struct probe *probes = calloc(DRAIN_JOBS, sizeof(*probes));
    struct stopper s;
    pthread_t th;
    long accepted = 0;
    int rc;

    main_thread = pthread_self();
    cr_assert_not_null(probes);
    gate_init(&g);
    cr_assert_eq(workers_start(&w, 2, 1024), 0);
    /* Hold one worker in the gate; the other drains alongside, which is fine. */
    cr_assert_eq(workers_submit(w, gate_run, NULL, &g), 0);
    gate_wait_started(&g);
    for (int i = 0; i < DRAIN_JOBS; i++)
        cr_assert_eq(workers_submit(w, probe_run, probe_done, &probes[i]), 0);
    /*
     * Stop from another thread: it cannot finish while the gate holds a
     * worker. Submitting until the pool says SB_ECLOSED proves stop began,
     * and every job accepted on the way must still run.
     */
    s.w = w;
    cr_assert_eq(pthread_create(&th, NULL, stop_thread, &s), 0);
    for (;;) {
        rc = workers_submit(w, count_run, NULL, NULL);
        if (rc == 0)
            accepted++;
        else if (rc == SB_EBUSY)
            sched_yield();
        else
            break;
    }
    cr_assert_eq(rc, SB_ECLOSED);
    cr_assert_eq(workers_submit(w, count_run, NULL, NULL), SB_ECLOSED);
    sem_post(&g.release);
    pthread_join(th, NULL);
    for (int i = 0; i < DRAIN_JOBS; i++)
        check_probe(&probes[i], "queued", i);
    cr_assert_eq(atomic_load(&counted), accepted);
    free(probes);
}

/* A job queued before stop and run during the drain cannot queue more. */
Test(workers, jobs_running_during_the_drain_cannot_queue_more)
{
    struct workers *w = NULL;
    struct gate g;
    struct late late;
    struct stopper s;
    pthread_t th;
    int rc;

    memset(&late, 0, sizeof(late));
    gate_init(&g);
    cr_assert_eq(workers_start(&w, 1, 1024), 0);
    late.w = w;
    atomic_store(&late.rc, 1);
    cr_assert_eq(workers_submit(w, gate_run, NULL, &g), 0);
    gate_wait_started(&g);
    cr_assert_eq(workers_submit(w, late_run, NULL, &late), 0);
    s.w = w;
    cr_assert_eq(pthread_create(&th, NULL, stop_thread, &s), 0);
    do {
        rc = workers_submit(w, count_run, NULL, NULL);
        if (rc == SB_EBUSY)
            sched_yield();
    } while (rc == 0 || rc == SB_EBUSY);
    cr_assert_eq(rc, SB_ECLOSED);
    sem_post(&g.release);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&late.rc), SB_ECLOSED);
}

static void signals_run(void *arg)
{
    atomic_int *blocked = arg;
    sigset_t set;

    pthread_sigmask(SIG_BLOCK, NULL, &set);
    atomic_store(blocked, sigismember(&set, SIGINT) == 1 && sigismember(&set, SIGTERM) == 1 &&
                              sigismember(&set, SIGPIPE) == 1);
}

Test(workers, threads_block_every_signal_and_the_caller_keeps_its_mask)
{
    struct workers *w = NULL;
    atomic_int blocked = -1;
    sigset_t before;
    sigset_t after;

    pthread_sigmask(SIG_BLOCK, NULL, &before);
    cr_assert_eq(workers_start(&w, 2, 8), 0);
    pthread_sigmask(SIG_BLOCK, NULL, &after);
    cr_assert_eq(sigismember(&after, SIGINT), sigismember(&before, SIGINT));
    cr_assert_eq(sigismember(&after, SIGTERM), sigismember(&before, SIGTERM));
    cr_assert_eq(workers_submit(w, signals_run, NULL, &blocked), 0);
    workers_stop(w);
    cr_assert_eq(atomic_load(&blocked), 1);
}

Test(workers, bad_arguments_are_refused)
{
    struct workers *w = (struct workers *)1;
    struct probe p;

    memset(&p, 0, sizeof(p));
    cr_assert_eq(workers_start(&w, 0, 8), SB_EINVAL);
    cr_assert_null(w);
    cr_assert_eq(workers_start(&w, WORKERS_MAX_THREADS + 1, 8), SB_EINVAL);
    cr_assert_eq(workers_start(&w, 1, 0), SB_EINVAL);
    cr_assert_eq(workers_start(&w, 1, (size_t)WORKERS_MAX_QUEUE + 1), SB_EINVAL);
    cr_assert_eq(workers_submit(NULL, probe_run, NULL, &p), SB_EINVAL);
    cr_assert_eq(workers_start(&w, 1, 8), 0);
    cr_assert_eq(workers_submit(w, NULL, probe_done, &p), SB_EINVAL);
    workers_stop(w);
    workers_stop(NULL);
    cr_assert_eq(atomic_load(&p.dones), 0);
}

Test(workers, stop_with_nothing_queued_returns)
{
    struct workers *w = NULL;

    cr_assert_eq(workers_start(&w, 8, 16), 0);
    workers_stop(w);
}
