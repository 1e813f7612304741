/*
 * The store writer: a bounded queue of jobs and one thread that drains it in
 * batches, one transaction per batch. Whatever queues up while a batch is
 * being committed becomes the next batch, so the number of fsyncs follows
 * the disk's speed rather than the number of events.
 */
#include "store/writer.h"

#include "store/agents.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/banned.h"

/* Jobs waiting at most; past it submitters get SB_EBUSY instead of memory growth. */
#define WRITER_QUEUE_MAX 65536
/* Jobs per transaction at most, so that one commit never holds the lock for long. */
#define WRITER_BATCH_MAX 512
/*
 * How long a batch may wait for company once its first job arrived. Under
 * load this turns thousands of tiny commits (each an fsync) into a few
 * hundred; a status callback's answer waits at most this much longer.
 */
#define WRITER_LINGER_NS (2 * 1000 * 1000)
#define WRITER_NICE 5
/*
 * A failed batch's jobs that nobody waits on (a call's log row, transcript
 * turns, stream records) are put back and tried again, the store being
 * down for a while (a PostgreSQL restart, a locked SQLite file), with a
 * growing pause between tries; after WRITER_RETRIES tries (about two
 * minutes) they are given up, logged. Jobs someone waits on fail at once:
 * their webhook is answered with an error rather than acknowledged.
 */
#define WRITER_RETRIES 24
#define WRITER_RETRY_FIRST_MS 50
#define WRITER_RETRY_MAX_MS 5000

enum job_kind {
    JOB_CALL,
    JOB_STATUS,
    JOB_STREAM,
    JOB_FLOW_CALL,
    JOB_RECORDING,
    JOB_TURN,
    JOB_MESSAGE
};

struct writer_job {
    enum job_kind kind;
    union {
        struct call_record call;
        struct status_event status;
        struct stream_record stream;
        struct flow_call flow_call; /* last_twiml owned by the job */
        struct recording recording;
        struct call_turn turn;       /* text, tool_args, tool_result, heard owned by the job */
        struct call_message message; /* message owned by the job */
    } u;
    writer_done_fn done;
    void *arg;
    int rc;
    enum status_outcome outcome;
    int tries; /* failed batches it was in (jobs nobody waits on are tried again) */
};

struct writer {
    struct store *store; /* used by the writer thread only */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    /* A ring of job pointers, guarded by lock. */
    struct writer_job **ring;
    size_t head;
    size_t count;
    int stopping;
    int idle;      /* the thread waits for a first job: submitters must wake it */
    int lingering; /* the thread waits for a fuller batch: wake it only when full */
    size_t waited; /* queued jobs someone waits on (a done callback): never linger for them */
    int retry_ms;  /* the pause before a batch after a failed one; 0 while the store works */
    /* The batch being applied; touched by the writer thread only. */
    struct writer_job *batch[WRITER_BATCH_MAX];
};

/* Frees a job and the strings it owns. */
static void job_free(struct writer_job *j)
{
    if (j->kind == JOB_FLOW_CALL) {
        free(j->u.flow_call.last_twiml);
    } else if (j->kind == JOB_TURN) {
        free(j->u.turn.text);
        free(j->u.turn.tool_args);
        free(j->u.turn.tool_result);
        free(j->u.turn.heard);
    } else if (j->kind == JOB_MESSAGE) {
        free(j->u.message.message);
    }
    free(j);
}

/*
 * Puts the jobs of a failed batch that nobody waits on back at the head of
 * the queue, in their order, unless they were tried WRITER_RETRIES times or
 * the queue has no room, or the writer is stopping (a store that is down
 * must not hold the shutdown); their places in the batch become NULL.
 */
static void requeue_unawaited(struct writer *w, struct writer_job **jobs, size_t n)
{
    size_t dropped = 0;

    pthread_mutex_lock(&w->lock);
    for (size_t i = n; i-- > 0;) {
        struct writer_job *j = jobs[i];

        if (j->done)
            continue;
        if (++j->tries >= WRITER_RETRIES || w->count >= WRITER_QUEUE_MAX || w->stopping) {
            dropped++;
            continue;
        }
        w->head = (w->head + WRITER_QUEUE_MAX - 1) % WRITER_QUEUE_MAX;
        w->ring[w->head] = j;
        w->count++;
        jobs[i] = NULL;
    }
    pthread_mutex_unlock(&w->lock);
    if (dropped)
        log_event(LOG_ERROR, "store.writer", "reason=\"writes given up\" jobs=%zu", dropped);
}

/*
 * Applies a batch in one transaction and records each job's result. A job
 * refused for its own input (SB_EINVAL), or a flow step that lost to another
 * process (SB_EBUSY), fails alone, since the backend undid its partial work; any other failure
 * means the transaction itself is in doubt, so the whole batch is rolled back and every job reports
 * the error.
 */
/*
 * The status callbacks jobs[0..n) together (one round trip on PostgreSQL).
 * Returns 0 or the failure that puts the transaction in doubt.
 */
static int status_run(struct writer *w, struct writer_job **jobs, size_t n)
{
    const struct status_event *events[WRITER_BATCH_MAX] = {NULL};
    enum status_outcome outs[WRITER_BATCH_MAX];
    int rcs[WRITER_BATCH_MAX];
    int rc;

    for (size_t i = 0; i < n; i++)
        events[i] = &jobs[i]->u.status;
    rc = store_status_apply_many(w->store, events, n, rcs, outs);
    for (size_t i = 0; i < n; i++) {
        jobs[i]->rc = rc < 0 ? rc : rcs[i];
        jobs[i]->outcome = rcs[i] == 0 ? outs[i] : STATUS_APPLIED;
    }
    return rc;
}

static int batch_run(struct writer *w, struct writer_job **jobs, size_t n)
{
    int rc;

    rc = store_begin(w->store);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct writer_job *j = jobs[i];

        j->outcome = STATUS_APPLIED;
        if (j->kind == JOB_STATUS) {
            /* A run of status callbacks goes to the store at once. */
            size_t k = i + 1;

            while (k < n && jobs[k]->kind == JOB_STATUS)
                k++;
            rc = status_run(w, jobs + i, k - i);
            i = k - 1;
            continue;
        }
        if (j->kind == JOB_CALL)
            j->rc = store_call_insert(w->store, &j->u.call);
        else if (j->kind == JOB_STREAM)
            j->rc = store_stream_record(w->store, &j->u.stream);
        else if (j->kind == JOB_FLOW_CALL)
            j->rc = store_flow_call_put(w->store, &j->u.flow_call);
        else if (j->kind == JOB_RECORDING)
            j->rc = store_recording_put(w->store, &j->u.recording);
        else if (j->kind == JOB_TURN)
            j->rc = call_turn_append(w->store, &j->u.turn, NULL);
        else if (j->kind == JOB_MESSAGE)
            j->rc = call_message_add(w->store, &j->u.message);
        else
            j->rc = store_status_apply(w->store, &j->u.status, &j->outcome);
        /* Refused alone: its input (SB_EINVAL), or a flow step another process committed first. */
        if (j->rc < 0 && j->rc != SB_EINVAL && !(j->kind == JOB_FLOW_CALL && j->rc == SB_EBUSY))
            rc = j->rc;
    }
    if (rc == 0)
        rc = store_commit(w->store);
    if (rc < 0)
        store_rollback(w->store);
    return rc;
}

/* The call a job is about ("" for none): what its statements lock. */
static const char *job_call(const struct writer_job *j)
{
    switch (j->kind) {
    case JOB_CALL:
        return j->u.call.call_sid;
    case JOB_STATUS:
        return j->u.status.call_sid;
    case JOB_STREAM:
        return j->u.stream.call_sid;
    case JOB_FLOW_CALL:
        return j->u.flow_call.call_sid;
    case JOB_RECORDING:
        return j->u.recording.call_sid;
    case JOB_TURN:
        return j->u.turn.call_sid;
    case JOB_MESSAGE:
        return j->u.message.call_sid;
    }
    return "";
}

/*
 * Orders a batch by call, keeping each call's jobs in the order they came
 * (insertion sort: a batch is small and mostly one job a call). Every
 * process then locks the calls' rows in one order, so two writers sharing
 * a database (several instances on PostgreSQL) do not deadlock.
 */
static void batch_sort(struct writer_job **jobs, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct writer_job *j = jobs[i];
        size_t k = i;

        while (k > 0 && strcmp(job_call(jobs[k - 1]), job_call(j)) > 0) {
            jobs[k] = jobs[k - 1];
            k--;
        }
        jobs[k] = j;
    }
}

/* Tries of a batch that conflicted with another process's transaction (SB_ECONFLICT). */
#define WRITER_CONFLICT_TRIES 4

static void writer_apply(struct writer *w, struct writer_job **jobs, size_t n)
{
    int rc;

    batch_sort(jobs, n);
    rc = batch_run(w, jobs, n);
    /* Undone by the server because of another process: nothing was kept, so it runs again. */
    for (int t = 1; rc == SB_ECONFLICT && t < WRITER_CONFLICT_TRIES; t++)
        rc = batch_run(w, jobs, n);
    if (rc < 0) {
        log_event(LOG_ERROR, "store.writer", "reason=\"batch failed\" jobs=%zu rc=%d", n, rc);
        for (size_t i = 0; i < n; i++)
            jobs[i]->rc = rc;
        requeue_unawaited(w, jobs, n);
        w->retry_ms = w->retry_ms ? w->retry_ms * 2 : WRITER_RETRY_FIRST_MS;
        if (w->retry_ms > WRITER_RETRY_MAX_MS)
            w->retry_ms = WRITER_RETRY_MAX_MS;
    } else if (w->retry_ms) {
        log_event(LOG_INFO, "store.writer", "reason=\"the store takes writes again\"");
        w->retry_ms = 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct writer_job *j = jobs[i];

        if (!j)
            continue;
        if (j->done)
            j->done(j->arg, j->rc, j->outcome);
        job_free(j);
    }
}

/* Waits (lock held) until the batch is full, the linger time is up, or stop begins. */
static void linger(struct writer *w)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += WRITER_LINGER_NS;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    w->lingering = 1;
    /* A webhook waiting for its commit is answered at once, not after the linger. */
    while (w->count < WRITER_BATCH_MAX && !w->stopping && w->waited == 0) {
        if (pthread_cond_timedwait(&w->nonempty, &w->lock, &until) != 0)
            break;
    }
    w->lingering = 0;
}

/*
 * Waits (lock held) retry_ms after a failed batch, or until stop begins;
 * while stopping, a store that still fails gives up its retried jobs fast.
 */
static void pause_after_failure(struct writer *w)
{
    struct timespec until;

    if (w->stopping)
        return;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += w->retry_ms / 1000;
    until.tv_nsec += (long)(w->retry_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!w->stopping) {
        if (pthread_cond_timedwait(&w->nonempty, &w->lock, &until) != 0)
            break;
    }
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    size_t n;

    /*
     * A little below the event loop: on a busy core the loop answers first
     * and the writer catches up in bigger batches. Not lower: a starved
     * writer fills its queue.
     */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WRITER_NICE) != 0)
        log_event(LOG_DEBUG, "store.writer", "reason=\"cannot lower the writer's priority\"");
    pthread_mutex_lock(&w->lock);
    for (;;) {
        w->idle = 1;
        while (w->count == 0 && !w->stopping)
            pthread_cond_wait(&w->nonempty, &w->lock);
        w->idle = 0;
        /* Stopping still drains: every queued job is committed and answered. */
        if (w->count == 0)
            break;
        if (w->retry_ms)
            pause_after_failure(w);
        linger(w);
        n = w->count < WRITER_BATCH_MAX ? w->count : WRITER_BATCH_MAX;
        for (size_t i = 0; i < n; i++) {
            if (w->ring[w->head]->done)
                w->waited--;
            w->batch[i] = w->ring[w->head];
            w->ring[w->head] = NULL;
            w->head = (w->head + 1) % WRITER_QUEUE_MAX;
        }
        w->count -= n;
        /* Submitters keep queueing while the batch is applied and its callbacks run. */
        pthread_mutex_unlock(&w->lock);
        writer_apply(w, w->batch, n);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* The linger deadline is on the monotonic clock: wall-clock jumps must not stall commits. */
static int cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

int writer_start(struct writer **out, const char *path)
{
    struct writer *w = NULL;
    sigset_t all;
    sigset_t old;
    int lock_ready = 0;
    int cond_ready = 0;
    int rc;

    *out = NULL;
    w = calloc(1, sizeof(*w));
    if (!w) {
        rc = SB_ENOMEM;
        goto out;
    }
    w->ring = calloc(WRITER_QUEUE_MAX, sizeof(*w->ring));
    if (!w->ring) {
        rc = SB_ENOMEM;
        goto out;
    }
    rc = store_open(&w->store, path);
    if (rc < 0)
        goto out;
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        rc = SB_ENOMEM;
        goto out;
    }
    lock_ready = 1;
    if (cond_init_monotonic(&w->nonempty) != 0) {
        rc = SB_ENOMEM;
        goto out;
    }
    cond_ready = 1;
    /*
     * The thread starts with every signal blocked, so that SIGINT and
     * SIGTERM reach the thread that knows how to shut the server down.
     */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&w->thread, NULL, writer_main, w) == 0 ? 0 : SB_ENOMEM;
    if (rc == 0)
        pthread_setname_np(w->thread, "sb-writer"); /* names it in top -H, perf and /proc */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
    if (rc < 0 && w) {
        if (cond_ready)
            pthread_cond_destroy(&w->nonempty);
        if (lock_ready)
            pthread_mutex_destroy(&w->lock);
        store_close(w->store);
        free(w->ring);
        free(w);
        w = NULL;
    }
    *out = w;
    return rc;
}

/* Queues a job the caller allocated; frees it when the queue refuses it. */
static int writer_submit(struct writer *w, struct writer_job *j)
{
    int rc = 0;

    pthread_mutex_lock(&w->lock);
    if (w->stopping)
        rc = SB_ECLOSED;
    else if (w->count >= WRITER_QUEUE_MAX)
        rc = SB_EBUSY;
    if (rc == 0) {
        w->ring[(w->head + w->count) % WRITER_QUEUE_MAX] = j;
        w->count++;
        /* Waking the thread costs a futex call: only when it waits on us. */
        if (j->done)
            w->waited++;
        if (w->idle || (w->lingering && (w->count >= WRITER_BATCH_MAX || j->done)))
            pthread_cond_signal(&w->nonempty);
    }
    pthread_mutex_unlock(&w->lock);
    if (rc < 0)
        job_free(j);
    return rc;
}

/* A new job of `kind` for `done`/`arg`; its payload is filled by the caller. */
static struct writer_job *job_new(enum job_kind kind, writer_done_fn done, void *arg)
{
    struct writer_job *j = malloc(sizeof(*j));

    if (j) {
        j->kind = kind;
        j->done = done;
        j->arg = arg;
        j->rc = 0;
        j->outcome = STATUS_APPLIED;
        j->tries = 0;
    }
    return j;
}

int writer_submit_call(struct writer *w, const struct call_record *c, writer_done_fn done,
                       void *arg)
{
    struct writer_job *j;

    if (!w || !c)
        return SB_EINVAL;
    j = job_new(JOB_CALL, done, arg);
    if (!j)
        return SB_ENOMEM;
    j->u.call = *c;
    return writer_submit(w, j);
}

int writer_submit_status(struct writer *w, const struct status_event *e, writer_done_fn done,
                         void *arg)
{
    struct writer_job *j;

    if (!w || !e)
        return SB_EINVAL;
    j = job_new(JOB_STATUS, done, arg);
    if (!j)
        return SB_ENOMEM;
    j->u.status = *e;
    return writer_submit(w, j);
}

int writer_submit_stream(struct writer *w, const struct stream_record *r, writer_done_fn done,
                         void *arg)
{
    struct writer_job *j;

    if (!w || !r)
        return SB_EINVAL;
    j = job_new(JOB_STREAM, done, arg);
    if (!j)
        return SB_ENOMEM;
    j->u.stream = *r;
    return writer_submit(w, j);
}

int writer_submit_flow_call(struct writer *w, const struct flow_call *c, writer_done_fn done,
                            void *arg)
{
    struct writer_job *j;

    if (!w || !c)
        return SB_EINVAL;
    j = job_new(JOB_FLOW_CALL, done, arg);
    if (!j)
        return SB_ENOMEM;
    j->u.flow_call = *c;
    j->u.flow_call.last_twiml = strdup(c->last_twiml ? c->last_twiml : "");
    if (!j->u.flow_call.last_twiml) {
        free(j);
        return SB_ENOMEM;
    }
    return writer_submit(w, j);
}

int writer_submit_recording(struct writer *w, const struct recording *r, writer_done_fn done,
                            void *arg)
{
    struct writer_job *j;

    if (!w || !r)
        return SB_EINVAL;
    j = job_new(JOB_RECORDING, done, arg);
    if (!j)
        return SB_ENOMEM;
    j->u.recording = *r;
    return writer_submit(w, j);
}

/* A copy of `s` for a job (NULL stays NULL). Returns 0, or SB_ENOMEM. */
static int own(char **dst, const char *s)
{
    *dst = s ? strdup(s) : NULL;
    return s && !*dst ? SB_ENOMEM : 0;
}

int writer_submit_turn(struct writer *w, const struct call_turn *t, writer_done_fn done, void *arg)
{
    struct writer_job *j;

    if (!w || !t)
        return SB_EINVAL;
    j = job_new(JOB_TURN, done, arg);
    if (!j)
        return SB_ENOMEM;
    j->u.turn = *t;
    j->u.turn.text = j->u.turn.tool_args = j->u.turn.tool_result = j->u.turn.heard = NULL;
    if (own(&j->u.turn.text, t->text) || own(&j->u.turn.tool_args, t->tool_args) ||
        own(&j->u.turn.tool_result, t->tool_result) || own(&j->u.turn.heard, t->heard)) {
        job_free(j);
        return SB_ENOMEM;
    }
    return writer_submit(w, j);
}

int writer_submit_message(struct writer *w, const struct call_message *m, writer_done_fn done,
                          void *arg)
{
    struct writer_job *j;

    if (!w || !m)
        return SB_EINVAL;
    j = job_new(JOB_MESSAGE, done, arg);
    if (!j)
        return SB_ENOMEM;
    j->u.message = *m;
    if (own(&j->u.message.message, m->message)) {
        j->u.message.message = NULL;
        job_free(j);
        return SB_ENOMEM;
    }
    return writer_submit(w, j);
}

void writer_stop(struct writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_signal(&w->nonempty);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->nonempty);
    pthread_mutex_destroy(&w->lock);
    store_close(w->store);
    free(w->ring);
    free(w);
}
