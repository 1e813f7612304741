/*
 * Tests of the store writer: group commit, callbacks, draining, durability;
 * over SQLite or PostgreSQL (store_target.h).
 */
#include <criterion/criterion.h>

#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "store/writer.h"
#include "store_target.h"

static struct store_target tgt;

static void setup(void)
{
    target_create(&tgt, "sb-writer");
}

static void teardown(void)
{
    target_destroy(&tgt);
}

TestSuite(writer, .init = setup, .fini = teardown, .timeout = 120);

/* What a job's callback saw: how often it ran, with which result. */
struct slot {
    atomic_int calls;
    atomic_int rc;
    atomic_int outcome;
};

static void on_done(void *arg, int rc, enum status_outcome outcome)
{
    struct slot *s = arg;

    atomic_store(&s->rc, rc);
    atomic_store(&s->outcome, (int)outcome);
    atomic_fetch_add(&s->calls, 1);
}

static struct call_record make_call(const char *sid)
{
    struct call_record c;

    memset(&c, 0, sizeof(c));
    snprintf(c.call_sid, sizeof(c.call_sid), "%s", sid);
    snprintf(c.tenant, sizeof(c.tenant), "acme");
    snprintf(c.direction, sizeof(c.direction), "inbound");
    snprintf(c.from, sizeof(c.from), "+14155550100");
    snprintf(c.to, sizeof(c.to), "+15005550006");
    snprintf(c.status, sizeof(c.status), "queued");
    c.duration = -1;
    c.started_at = 1000;
    return c;
}

static struct status_event make_event(const char *sid, long seq, const char *status)
{
    struct status_event e;

    memset(&e, 0, sizeof(e));
    snprintf(e.call_sid, sizeof(e.call_sid), "%s", sid);
    snprintf(e.status, sizeof(e.status), "%s", status);
    snprintf(e.direction, sizeof(e.direction), "inbound");
    e.sequence = seq;
    e.duration = -1;
    e.at = 1000 + seq;
    return e;
}

/* Submits, waiting while the queue is full, which a fast producer may hit. */
static int submit_call(struct writer *w, const struct call_record *c, struct slot *s)
{
    int rc = writer_submit_call(w, c, on_done, s);

    while (rc == SB_EBUSY) {
        sched_yield();
        rc = writer_submit_call(w, c, on_done, s);
    }
    return rc;
}

static int submit_status(struct writer *w, const struct status_event *e, struct slot *s)
{
    int rc = writer_submit_status(w, e, on_done, s);

    while (rc == SB_EBUSY) {
        sched_yield();
        rc = writer_submit_status(w, e, on_done, s);
    }
    return rc;
}

static size_t count_calls(void)
{
    struct store *s = NULL;
    struct call_record *list = NULL;
    size_t n = 0;

    cr_assert_eq(store_open(&s, tgt.path), 0);
    cr_assert_eq(store_call_list(s, 1000000, &list, &n), 0);
    free(list);
    store_close(s);
    return n;
}

#define PRODUCERS 4
#define CALLS_PER_PRODUCER 1000
/* Each call gets its insert and three status events. */
#define JOBS_PER_CALL 4

struct producer {
    struct writer *w;
    int id;
    struct slot *slots; /* JOBS_PER_CALL per call */
    int failures;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    static const char *const statuses[] = {"ringing", "in-progress", "completed"};
    char sid[CALL_SID_SIZE];

    for (int i = 0; i < CALLS_PER_PRODUCER; i++) {
        struct slot *s = &p->slots[i * JOBS_PER_CALL];
        struct call_record c;

        snprintf(sid, sizeof(sid), "CA%d-%d", p->id, i);
        c = make_call(sid);
        if (submit_call(p->w, &c, &s[0]) != 0)
            p->failures++;
        for (int k = 0; k < 3; k++) {
            struct status_event e = make_event(sid, k, statuses[k]);

            if (submit_status(p->w, &e, &s[1 + k]) != 0)
                p->failures++;
        }
    }
    return NULL;
}

Test(writer, many_jobs_from_many_threads_all_committed_once)
{
    struct writer *w = NULL;
    struct producer prods[PRODUCERS];
    pthread_t threads[PRODUCERS];
    size_t per = (size_t)CALLS_PER_PRODUCER * JOBS_PER_CALL;
    struct slot *slots = calloc(PRODUCERS * per, sizeof(*slots));
    struct store *s = NULL;
    struct call_record got;

    cr_assert_not_null(slots);
    cr_assert_eq(writer_start(&w, tgt.path), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        prods[i] = (struct producer){w, i, &slots[i * per], 0};
        cr_assert_eq(pthread_create(&threads[i], NULL, produce, &prods[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        cr_assert_eq(pthread_join(threads[i], NULL), 0);
        cr_assert_eq(prods[i].failures, 0);
    }
    writer_stop(w);
    for (size_t i = 0; i < PRODUCERS * per; i++) {
        cr_assert_eq(atomic_load(&slots[i].calls), 1, "job %zu called %d times", i,
                     atomic_load(&slots[i].calls));
        cr_assert_eq(atomic_load(&slots[i].rc), 0);
        if (i % JOBS_PER_CALL)
            cr_assert_eq(atomic_load(&slots[i].outcome), STATUS_APPLIED);
    }
    cr_assert_eq(count_calls(), (size_t)PRODUCERS * CALLS_PER_PRODUCER);
    cr_assert_eq(store_open(&s, tgt.path), 0);
    cr_assert_eq(store_call_get(s, "CA3-999", &got), 0);
    cr_assert_str_eq(got.status, "completed");
    cr_assert_str_eq(got.tenant, "acme");
    store_close(s);
    free(slots);
}

struct waiter {
    sem_t sem;
    int rc;
};

static void on_done_post(void *arg, int rc, enum status_outcome outcome)
{
    struct waiter *wt = arg;

    wt->rc = rc;
    sem_post(&wt->sem);
}

Test(writer, data_visible_from_another_connection_after_done)
{
    struct writer *w = NULL;
    struct store *reader = NULL;
    struct call_record c = make_call("CA-visible");
    struct call_record got;
    struct waiter wt;

    cr_assert_eq(sem_init(&wt.sem, 0, 0), 0);
    wt.rc = 1;
    cr_assert_eq(writer_start(&w, tgt.path), 0);
    cr_assert_eq(store_open(&reader, tgt.path), 0);
    cr_assert_eq(store_call_get(reader, "CA-visible", &got), SB_ENOTFOUND);
    cr_assert_eq(writer_submit_call(w, &c, on_done_post, &wt), 0);
    while (sem_wait(&wt.sem) != 0)
        ;
    cr_assert_eq(wt.rc, 0);
    cr_assert_eq(store_call_get(reader, "CA-visible", &got), 0);
    cr_assert_str_eq(got.call_sid, "CA-visible");
    store_close(reader);
    writer_stop(w);
    sem_destroy(&wt.sem);
}

Test(writer, stop_drains_the_queue)
{
    enum { JOBS = 5000 };
    struct writer *w = NULL;
    struct slot *slots = calloc(JOBS, sizeof(*slots));
    char sid[CALL_SID_SIZE];

    cr_assert_not_null(slots);
    cr_assert_eq(writer_start(&w, tgt.path), 0);
    for (int i = 0; i < JOBS; i++) {
        snprintf(sid, sizeof(sid), "CA%d", i);
        struct call_record c = make_call(sid);
        cr_assert_eq(submit_call(w, &c, &slots[i]), 0);
    }
    writer_stop(w);
    for (int i = 0; i < JOBS; i++)
        cr_assert_eq(atomic_load(&slots[i].calls), 1);
    cr_assert_eq(count_calls(), JOBS);
    free(slots);
}

Test(writer, callbacks_carry_each_jobs_outcome)
{
    struct writer *w = NULL;
    struct slot slots[5];
    struct status_event first = make_event("CA1", 1, "ringing");
    struct status_event bad = make_event("CA1", 2, "exploded");
    struct status_event after = make_event("CA1", 3, "in-progress");
    struct status_event old = make_event("CA1", 0, "queued");

    memset(slots, 0, sizeof(slots));
    cr_assert_eq(writer_start(&w, tgt.path), 0);
    cr_assert_eq(submit_status(w, &first, &slots[0]), 0);
    cr_assert_eq(submit_status(w, &first, &slots[1]), 0);
    /* A job with bad input fails alone; the rest of its batch commits. */
    cr_assert_eq(submit_status(w, &bad, &slots[2]), 0);
    cr_assert_eq(submit_status(w, &after, &slots[3]), 0);
    cr_assert_eq(submit_status(w, &old, &slots[4]), 0);
    /* Jobs without a callback are fine too. */
    cr_assert_eq(writer_submit_status(w, &after, NULL, NULL), 0);
    writer_stop(w);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(atomic_load(&slots[i].calls), 1);
    cr_assert_eq(atomic_load(&slots[0].rc), 0);
    cr_assert_eq(atomic_load(&slots[0].outcome), STATUS_APPLIED);
    cr_assert_eq(atomic_load(&slots[1].outcome), STATUS_DUPLICATE);
    cr_assert_eq(atomic_load(&slots[2].rc), SB_EINVAL);
    cr_assert_eq(atomic_load(&slots[3].rc), 0);
    cr_assert_eq(atomic_load(&slots[3].outcome), STATUS_APPLIED);
    cr_assert_eq(atomic_load(&slots[4].outcome), STATUS_STALE);
}

/*
 * Bytes that are not UTF-8 (a party's name as someone sent it): PostgreSQL
 * cannot store them and refuses that job alone; SQLite stores them. Either
 * way the jobs around it commit.
 */
Test(writer, a_job_the_database_cannot_store_fails_alone)
{
    struct writer *w = NULL;
    struct slot slots[3];
    struct call_record a = make_call("CA-a");
    struct call_record bad = make_call("CA-bad");
    struct call_record c = make_call("CA-c");
    struct status_event e = make_event("CA-c", 1, "ringing");
    struct store *s = NULL;
    struct call_record got;

    snprintf(bad.from, sizeof(bad.from), "caller \xff\xfe");
    memset(slots, 0, sizeof(slots));
    cr_assert_eq(writer_start(&w, tgt.path), 0);
    cr_assert_eq(submit_call(w, &a, &slots[0]), 0);
    cr_assert_eq(submit_call(w, &bad, &slots[1]), 0);
    cr_assert_eq(submit_call(w, &c, &slots[2]), 0);
    cr_assert_eq(writer_submit_status(w, &e, NULL, NULL), 0);
    writer_stop(w);
    cr_assert_eq(atomic_load(&slots[0].rc), 0);
    cr_assert(atomic_load(&slots[1].rc) == 0 || atomic_load(&slots[1].rc) == SB_EINVAL);
    cr_assert_eq(atomic_load(&slots[2].rc), 0);
    cr_assert_eq(store_open(&s, tgt.path), 0);
    cr_assert_eq(store_call_get(s, "CA-a", &got), 0);
    cr_assert_eq(store_call_get(s, "CA-c", &got), 0);
    cr_assert_str_eq(got.status, "ringing");
    store_close(s);
}

Test(writer, start_fails_on_unusable_path)
{
    struct writer *w = (struct writer *)1;
    char bad[400];

    target_sqlite_only("a file path");
    snprintf(bad, sizeof(bad), "%s/missing/sb.db", tgt.dir);
    cr_assert_eq(writer_start(&w, bad), SB_EIO);
    cr_assert_null(w);
    writer_stop(NULL);
}

/* In the child: tells the parent the callback fired, then waits to be killed. */
static int report_fd = -1;

static void on_done_report(void *arg, int rc, enum status_outcome outcome)
{
    char byte = rc == 0 ? 'y' : 'n';

    if (write(report_fd, &byte, 1) != 1)
        _exit(3);
    for (;;)
        pause();
}

Test(writer, acknowledged_job_survives_sigkill)
{
    enum { BEFORE = 200 };
    int fds[2];
    pid_t kid;
    char byte = 0;
    int status;
    struct store *s = NULL;
    struct call_record got;

    cr_assert_eq(pipe(fds), 0);
    kid = fork();
    cr_assert_neq(kid, -1);
    if (kid == 0) {
        struct writer *w = NULL;
        char sid[CALL_SID_SIZE];

        close(fds[0]);
        report_fd = fds[1];
        if (writer_start(&w, tgt.path) != 0)
            _exit(1);
        for (int i = 0; i < BEFORE; i++) {
            snprintf(sid, sizeof(sid), "CA-before-%d", i);
            struct call_record c = make_call(sid);
            if (writer_submit_call(w, &c, NULL, NULL) != 0)
                _exit(1);
        }
        struct status_event e = make_event("CA-acked", 7, "completed");
        e.duration = 33;
        if (writer_submit_status(w, &e, on_done_report, NULL) != 0)
            _exit(1);
        for (;;)
            pause();
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], &byte, 1), 1);
    cr_assert_eq(byte, 'y');
    cr_assert_eq(kill(kid, SIGKILL), 0);
    cr_assert_eq(waitpid(kid, &status, 0), kid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(fds[0]);

    cr_assert_eq(store_open(&s, tgt.path), 0);
    cr_assert_eq(store_call_get(s, "CA-acked", &got), 0);
    cr_assert_str_eq(got.status, "completed");
    cr_assert_eq(got.duration, 33);
    /* Jobs queued before the acknowledged one were committed no later than it. */
    cr_assert_eq(store_call_get(s, "CA-before-0", &got), 0);
    cr_assert_eq(store_call_get(s, "CA-before-199", &got), 0);
    store_close(s);
}
