/*
 * The placer (outbound.h): one thread, its own store connection, the
 * Twilio REST client on the shared HTTP client. Everything that moves a job
 * happens on this thread; the HTTP client's callbacks only queue the answer
 * and wake it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/redact.h"
#include "core/twiml.h"
#include "server/outbound.h"
#include "store/jobs.h"
#include "store/store.h"
#include "twilio/rest.h"
#include "twilio/rest_result.h"
#include "twilio/retry.h"
#include "voice/outbound.h"
#include "voice/sms.h"
#include "voice/tz.h"
#include "core/banned.h"

#define QUIET_START_S (8 * 3600) /* no call before 08:00 local time */
#define QUIET_END_S (21 * 3600)  /* nor from 21:00 */
#define LOOKUP_PAGE 50
/* A lookup reads at most this many pages (1000 calls between the two numbers) in one go. */
#define LOOKUP_PAGES_MAX 20
/* Calls created this long before the claim are older than any attempt of it (clock skew). */
#define LOOKUP_SKEW_S 300
#define MAX_ALLOW 64
#define DRY_SEEN_MAX 4096
#define UPDATE_TRIES 4
/* A placed job's call still live at start is fetched again after 5 s, doubling up to 60 s. */
#define FETCH_AGAIN_MS 5000
#define FETCH_AGAIN_MAX_MS 60000
/* A claim is a write transaction: at most one per tick (250 ms), however many answers wake us. */
#define CLAIM_EVERY_US 200000
/* The store could not give a create slot: none is sent, and it is asked again after this. */
#define RATE_RETRY_US 1000000

enum task_kind { TASK_STATUS, TASK_AMD, TASK_OPTOUT, TASK_TEXT, TASK_CALL };

/* A callback handed over by a webhook. */
struct task {
    struct task *next;
    enum task_kind kind;
    long long job_id;
    char call_sid[CALL_SID_SIZE];
    char status[STATUS_SIZE];
    char answered_by[ANSWERED_BY_SIZE];
    char tenant[TENANT_NAME_SIZE]; /* OPTOUT */
    char number[E164_SIZE];        /* OPTOUT; TEXT: the caller */
    char from[E164_SIZE];          /* TEXT: the tenant's number called */
    int on;                        /* OPTOUT: 1 opts out, 0 back in */
    outbound_done_fn done;
    void *arg;
    /* CALL: a request of the HTTP API, answered through call_done after the pass's commit. */
    struct call_request call;
    char key[IDEMPOTENCY_KEY_SIZE];
    outbound_call_fn call_done;
    struct outbound_call_result *call_res; /* what run_call found; NULL: out of memory */
    int rc; /* what run_task did, handed to `done` once the pass is committed */
};

enum op_kind { OP_CREATE, OP_LOOKUP, OP_UPDATE, OP_SMS, OP_FETCH };

/* A request to Twilio: sent, answered, or waiting to be sent again. */
struct op {
    struct op *next;          /* in inflight or waiting: the placer's thread only */
    struct op *answered_next; /* in answered, under the lock */
    enum op_kind kind;
    struct job job;
    char from[E164_SIZE];
    char call_sid[CALL_SID_SIZE]; /* UPDATE, FETCH */
    struct twilio_rest_request req;
    int tries;
    int pages;           /* LOOKUP: the pages read so far of this lookup */
    int recovery;        /* a lookup of the start-up recovery */
    long long resend_us; /* waiting: when to send it again */
    uint64_t http_id;
    struct http_response *res;
    struct outbound *o;
};

struct outbound {
    struct outbound_settings s;
    char base[512];
    char allow_buf[OUTBOUND_ALLOW_SIZE];
    char allow_text[OUTBOUND_ALLOW_SIZE]; /* the list as given, for call_check_allowed */
    const char *allow[MAX_ALLOW];
    size_t nallow;
    struct store *store;
    struct twilio_rest *rest; /* NULL: no credentials, nothing is placed */
    pthread_t thread;
    int started;
    pthread_mutex_t lock; /* guards stop, kicked, tasks, answered */
    pthread_cond_t cond;
    int stop;
    int kicked;
    struct task *tasks, *tasks_tail;
    struct op *answered; /* answers back from the HTTP client */
    /* The thread's own: */
    struct op *inflight;
    struct op *waiting;
    int recovering;
    /*
     * The rate limit. The store's slots (rate_take under rate_key) hold it
     * across every process sharing the store; this process's own creates of
     * the last second (mono us, oldest first) are a first check that costs
     * no transaction.
     */
    long long *sent_us; /* a ring of calls_per_second */
    size_t sent_head, nsent;
    char rate_key[RATE_KEY_SIZE];
    long long rate_wait_us; /* mono: no slot is asked of the store before this */
    int rate_failing;       /* the last rate_take failed (logged once until it works again) */
    /* Claimed jobs waiting for a slot, oldest first: at most calls_per_second. */
    struct job *ready;
    size_t nready;
    long long claimed_us; /* the last claim: one per tick, not one per answer */
    int more_due;         /* the last claim took all the budget allowed: more may be due */
    int retry_streak;     /* creates in a row to retry (429, never sent) */
    long long dry_seen[DRY_SEEN_MAX];
    size_t ndry_seen;
    /* A pass in one transaction: the SMS fallbacks it made due, sent once it is committed. */
    long long *sms_later; /* NULL: no pass open, sms_fallback sends at once */
    size_t nsms_later, sms_later_cap;
};

static long long now_s(const struct outbound *o)
{
    return (long long)time(NULL) + o->s.clock_offset;
}

static void op_free(struct op *op)
{
    if (!op)
        return;
    twilio_rest_request_release(&op->req);
    http_response_free(op->res);
    free(op);
}

static void list_remove(struct op **head, struct op *op)
{
    for (struct op **p = head; *p; p = &(*p)->next) {
        if (*p == op) {
            *p = op->next;
            op->next = NULL;
            return;
        }
    }
}

/* The HTTP client's thread: queue the answer for the placer. */
static void on_answer(void *arg, struct http_response *res)
{
    struct op *op = arg;
    struct outbound *o = op->o;

    pthread_mutex_lock(&o->lock);
    op->res = res;
    op->answered_next = o->answered;
    o->answered = op;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
}

static int op_send(struct outbound *o, struct op *op)
{
    struct twilio_rest_send send = {twilio_rest_http_submit, o->s.http, on_answer, op, NULL};
    int rc;

    http_response_free(op->res);
    op->res = NULL;
    rc = twilio_rest_submit(o->rest, &op->req, &send, &op->http_id);
    if (rc == 0) {
        op->next = o->inflight;
        o->inflight = op;
    }
    return rc;
}

static void op_wait(struct outbound *o, struct op *op, long delay_ms)
{
    op->resend_us = clock_mono_us() + (long long)delay_ms * 1000;
    op->next = o->waiting;
    o->waiting = op;
}

static const char *redact(const char *number, char buf[REDACT_SIZE])
{
    return redact_number(number, buf);
}

/* ---- the allowlist ---- */

static void allow_parse(struct outbound *o, const char *list)
{
    char *save = NULL;

    if (!list || !*list)
        return;
    snprintf(o->allow_buf, sizeof(o->allow_buf), "%s", list);
    snprintf(o->allow_text, sizeof(o->allow_text), "%s", list);
    for (char *tok = strtok_r(o->allow_buf, ", ", &save); tok && o->nallow < MAX_ALLOW;
         tok = strtok_r(NULL, ", ", &save))
        o->allow[o->nallow++] = tok;
}

static int allowed(const struct outbound *o, const char *to)
{
    if (o->nallow == 0 && !(o->s.allow && *o->s.allow))
        return 1;
    for (size_t i = 0; i < o->nallow; i++) {
        if (strcmp(o->allow[i], to) == 0)
            return 1;
    }
    return 0;
}

static void sms_fallback(struct outbound *o, long long job_id);
static void watch_call(struct outbound *o, struct op *op, const char *call_sid);

/* ---- the rate limit: at most calls_per_second creates in any second ---- */

/* Forgets the creates that went a second or more before `mono`; returns how many more may go. */
static size_t budget(struct outbound *o, long long mono)
{
    size_t cap = (size_t)o->s.calls_per_second;

    while (o->nsent && o->sent_us[o->sent_head] <= mono - 1000000) {
        o->sent_head = (o->sent_head + 1) % cap;
        o->nsent--;
    }
    return cap - o->nsent;
}

/* Counts a create as gone at `mono` (taken after it was handed over: never too early). */
static void spend(struct outbound *o, long long mono)
{
    size_t cap = (size_t)o->s.calls_per_second;

    if (o->nsent == cap)
        return;
    o->sent_us[(o->sent_head + o->nsent) % cap] = mono;
    o->nsent++;
}

/* The whole second's budget spent now. */
static void hold_creates(struct outbound *o)
{
    long long mono = clock_mono_us();

    while (o->nsent < (size_t)o->s.calls_per_second)
        spend(o, mono);
}

/* ---- releasing a claimed job ---- */

static void release(struct outbound *o, const struct job *job, long long retry_at,
                    const char *reason)
{
    struct job_update u;
    int rc = job_release_placing(o->store, job->id, retry_at, reason, now_s(o), &u);

    if (rc)
        log_event(LOG_ERROR, "outbound.release_failed", "job=%lld error=\"store: %s\"", job->id,
                  sb_strerror(rc));
    else
        log_event(retry_at ? LOG_INFO : LOG_WARN, retry_at ? "outbound.retry" : "outbound.failed",
                  "job=%lld retry_at=%lld reason=\"%s\"", job->id, retry_at, reason);
    if (rc == 0 && u.sms_due)
        sms_fallback(o, job->id);
}

/* The number to call from: the job's, else the tenant's first active number. */
static int job_from(struct outbound *o, const struct job *job, char from[E164_SIZE])
{
    struct number *nums = NULL;
    size_t n = 0;

    if (job->from[0]) {
        snprintf(from, E164_SIZE, "%s", job->from);
        return 0;
    }
    from[0] = '\0';
    if (store_number_list(o->store, &nums, &n) != 0)
        return SB_ESTORE;
    for (size_t i = 0; i < n; i++) {
        if (nums[i].active && strcmp(nums[i].tenant, job->tenant) == 0) {
            snprintf(from, E164_SIZE, "%s", nums[i].e164);
            break;
        }
    }
    free(nums);
    return from[0] ? 0 : SB_ENOTFOUND;
}

/*
 * 0 when `now` is within calling hours in the tenant's zone; else the time
 * the next 08:00 comes there.
 */
static long long quiet_until(struct outbound *o, const char *tenant, long long now)
{
    struct tenant t;
    int minutes = 0;
    long long local, sod;

    if (store_tenant_get(o->store, tenant, &t) != 0)
        return 0;
    if (tz_offset_minutes(t.timezone, (time_t)now, &minutes) != 0)
        minutes = 0;
    local = now + (long long)minutes * 60;
    sod = ((local % 86400) + 86400) % 86400;
    if (sod >= QUIET_START_S && sod < QUIET_END_S)
        return 0;
    if (sod < QUIET_START_S)
        return now + (QUIET_START_S - sod);
    return now + (86400 - sod) + QUIET_START_S;
}

/* ---- lookups: what became of a create whose answer never came ---- */

static int lookup_send(struct outbound *o, struct op *op)
{
    struct twilio_call_filter f;
    char day[16], err[256];
    time_t since = (time_t)(op->job.placing_since - o->s.clock_offset);
    struct tm tm;
    int rc;

    gmtime_r(&since, &tm);
    strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    memset(&f, 0, sizeof(f));
    f.to = op->job.to;
    f.from = op->from;
    f.start_time_after = day;
    f.page_size = LOOKUP_PAGE;
    op->kind = OP_LOOKUP;
    op->pages = 0;
    twilio_rest_request_release(&op->req);
    rc = twilio_rest_call_list(o->rest, &f, &op->req, err, sizeof(err));
    if (rc) {
        log_event(LOG_ERROR, "outbound.lookup_failed", "job=%lld error=\"%s\"", op->job.id, err);
        return rc;
    }
    return op_send(o, op);
}

static void lookup_later(struct outbound *o, struct op *op)
{
    long delay = 1000L << (op->tries < 6 ? op->tries : 6);

    op->tries++;
    op_wait(o, op, delay);
}

/* 1 when the job has left placing with `call_sid` (NULL: any call) as its call. */
static int bound_to(struct outbound *o, long long id, const char *call_sid)
{
    struct job job;

    if (job_get(o->store, id, &job) != 0 || job.status == JOB_PLACING || !job.call_sid[0])
        return 0;
    return !call_sid || strcmp(job.call_sid, call_sid) == 0;
}

/*
 * The rest of a lookup whose page held no call of the job: 1 when the next
 * page was asked for; 0 when there is none worth reading (the last page, or
 * one whose oldest call was created before the claim: the list is newest
 * first); -1 when it could not be sent, or LOOKUP_PAGES_MAX pages were read
 * (the job stays placing and is looked up again later: never created twice).
 */
static int lookup_next_page(struct outbound *o, struct op *op, const struct twilio_rest_result *r)
{
    char next[2048], err[256];
    long long oldest = 0;
    int rc;

    if (!r->next_page_uri || !r->next_page_uri[0])
        return 0;
    if (r->ncalls && r->calls[r->ncalls - 1].date_created &&
        twilio_rest_date(r->calls[r->ncalls - 1].date_created, &oldest) == 0 &&
        oldest < op->job.placing_since - o->s.clock_offset - LOOKUP_SKEW_S)
        return 0;
    if (op->pages + 1 >= LOOKUP_PAGES_MAX) {
        log_event(LOG_WARN, "outbound.lookup_incomplete",
                  "job=%lld pages=%d reason=\"more calls between the numbers than a lookup "
                  "reads: left placing, looked up again later\"",
                  op->job.id, op->pages + 1);
        return -1;
    }
    if (snprintf(next, sizeof(next), "%s", r->next_page_uri) >= (int)sizeof(next))
        return -1;
    twilio_rest_request_release(&op->req);
    rc = twilio_rest_next_page(o->rest, TWILIO_CALL_LIST, next, &op->req, err, sizeof(err));
    if (rc) {
        log_event(LOG_WARN, "outbound.lookup_failed", "job=%lld error=\"%s\" next=retry",
                  op->job.id, err);
        return -1;
    }
    op->pages++;
    return op_send(o, op) == 0 ? 1 : -1;
}

static void lookup_answered(struct outbound *o, struct op *op)
{
    struct twilio_rest_result r;
    const char *found = NULL;
    char tolog[REDACT_SIZE];
    struct job now;
    int rc;

    /* A status callback naming the job may have bound its call meanwhile: nothing to resolve. */
    if (job_get(o->store, op->job.id, &now) == 0 && now.status != JOB_PLACING) {
        log_event(LOG_INFO, "outbound.resolved",
                  "job=%lld call_sid=%s result=\"bound by its status callback\"", op->job.id,
                  now.call_sid[0] ? now.call_sid : "-");
        if (op->recovery)
            o->recovering--;
        op_free(op);
        return;
    }

    rc = twilio_rest_result_parse(&r, TWILIO_CALL_LIST, op->res);
    if (rc || r.outcome != TWILIO_OUTCOME_OK) {
        log_event(LOG_WARN, "outbound.lookup_failed", "job=%lld error=\"%s\" next=retry",
                  op->job.id, r.error);
        twilio_rest_result_release(&r);
        lookup_later(o, op);
        return;
    }
    for (size_t i = 0; i < r.ncalls && !found; i++) {
        struct job other;
        const struct twilio_call *c = &r.calls[i];

        if (!c->sid || (c->to && strcmp(c->to, op->job.to) != 0) ||
            (c->from && strcmp(c->from, op->from) != 0))
            continue;
        /* A call already recorded (another job's, or an earlier attempt) is not this one. */
        if (job_get_by_call(o->store, c->sid, &other) == 0)
            continue;
        found = c->sid;
    }
    if (!found) {
        /* Not on this page: the next one, until the pages end. */
        rc = lookup_next_page(o, op, &r);
        twilio_rest_result_release(&r);
        if (rc > 0)
            return;
        if (rc < 0) {
            lookup_later(o, op);
            return;
        }
        rc = job_resolve_placing(o->store, op->job.id, NULL, op->from, now_s(o));
        log_event(rc ? LOG_ERROR : LOG_INFO, "outbound.resolved",
                  "job=%lld to=%s call_sid=- result=\"no call: queued again\" pages=%d%s%s",
                  op->job.id, redact(op->job.to, tolog), op->pages + 1, rc ? " error=" : "",
                  rc ? sb_strerror(rc) : "");
        if (op->recovery)
            o->recovering--;
        op_free(op);
        return;
    }
    rc = job_resolve_placing(o->store, op->job.id, found, op->from, now_s(o));
    log_event(rc ? LOG_ERROR : LOG_INFO, "outbound.resolved",
              "job=%lld to=%s call_sid=%s result=placed pages=%d%s%s", op->job.id,
              redact(op->job.to, tolog), found, op->pages + 1, rc ? " error=" : "",
              rc ? sb_strerror(rc) : "");
    if (op->recovery)
        o->recovering--;
    if (rc == 0 && op->recovery) {
        /* Its callbacks may have come while the server was down: watched until it ends. */
        char sid[CALL_SID_SIZE];

        snprintf(sid, sizeof(sid), "%s", found);
        twilio_rest_result_release(&r);
        op->recovery = 0;
        watch_call(o, op, sid);
        return;
    }
    twilio_rest_result_release(&r);
    op_free(op);
}

/* ---- creates ---- */

static void place(struct outbound *o, const struct job *job)
{
    static const char *const events[] = {"initiated", "ringing", "answered", "completed"};
    struct twilio_call_params p;
    char url[700], status_url[700], amd_url[700], err[256], tolog[REDACT_SIZE];
    struct op *op = calloc(1, sizeof(*op));
    int rc;

    if (!op) {
        release(o, job, now_s(o) + 5, "out of memory");
        return;
    }
    op->o = o;
    op->kind = OP_CREATE;
    op->job = *job;
    rc = job_from(o, job, op->from);
    if (rc) {
        release(o, job, rc == SB_ENOTFOUND ? 0 : now_s(o) + 5,
                rc == SB_ENOTFOUND ? "the tenant has no active number to call from"
                                   : "the store could not list the numbers");
        op_free(op);
        return;
    }
    snprintf(url, sizeof(url), "%s/voice/outbound?job=%lld", o->base, job->id);
    snprintf(status_url, sizeof(status_url), "%s/voice/status?job=%lld", o->base, job->id);
    snprintf(amd_url, sizeof(amd_url), "%s/voice/amd?job=%lld", o->base, job->id);
    memset(&p, 0, sizeof(p));
    p.to = job->to;
    p.from = op->from;
    p.url = url;
    p.method = "POST";
    p.status_callback = status_url;
    p.status_callback_method = "POST";
    p.status_callback_events = events;
    p.nstatus_callback_events = sizeof(events) / sizeof(events[0]);
    if (job->amd) {
        p.machine_detection = "DetectMessageEnd";
        p.async_amd = 1;
        p.async_amd_status_callback = amd_url;
        p.async_amd_status_callback_method = "POST";
    }
    rc = twilio_rest_call_create(o->rest, &p, &op->req, err, sizeof(err));
    if (rc) {
        release(o, job, 0, err);
        op_free(op);
        return;
    }
    rc = op_send(o, op);
    if (rc) {
        /* Never sent: no call can be behind it. */
        release(o, job, now_s(o) + 1, "the HTTP client did not take the request");
        op_free(op);
        return;
    }
    log_event(LOG_INFO, "outbound.placing", "job=%lld tenant=%s to=%s kind=%s attempt=%d amd=%d",
              job->id, job->tenant, redact(job->to, tolog), job_kind_name(job->kind), job->attempts,
              job->amd);
}

static void create_answered(struct outbound *o, struct op *op, int stopping)
{
    struct twilio_rest_result r;
    char tolog[REDACT_SIZE];
    long delay;
    int rc;

    rc = twilio_rest_result_parse(&r, TWILIO_CALL_CREATE, op->res);
    if (rc)
        r.outcome = TWILIO_OUTCOME_UNKNOWN;
    switch (r.outcome) {
    case TWILIO_OUTCOME_OK:
        o->retry_streak = 0;
        rc = job_placed(o->store, op->job.id, r.call.sid, op->from, now_s(o));
        if (rc == SB_EBUSY && bound_to(o, op->job.id, r.call.sid))
            rc = 0; /* its status callback came first and bound the call (store/jobs.h) */
        log_event(rc ? LOG_ERROR : LOG_INFO, "outbound.placed", "job=%lld to=%s call_sid=%s%s%s",
                  op->job.id, redact(op->job.to, tolog), r.call.sid, rc ? " error=" : "",
                  rc ? sb_strerror(rc) : "");
        break;
    case TWILIO_OUTCOME_RETRY: {
        /* The attempt does not count: the backoff follows the failures in a row instead. */
        static const struct twilio_retry_policy policy = {1000, 60000, 1000, 3600000};

        delay = twilio_retry_delay_ms(&policy, o->retry_streak < 10 ? o->retry_streak : 10,
                                      r.retry_after_s, twilio_retry_random, NULL);
        if (delay < 0)
            delay = 60000;
        o->retry_streak++;
        if (r.http_status == 429 || r.code == 20429)
            hold_creates(o); /* Twilio asks for less: none for a second */
        release(o, &op->job, now_s(o) + 1 + delay / 1000, r.error);
        break;
    }
    case TWILIO_OUTCOME_UNKNOWN:
        log_event(LOG_WARN, "outbound.unknown", "job=%lld error=\"%s\" next=%s", op->job.id,
                  r.error, stopping ? "left placing for the next start" : "lookup");
        twilio_rest_result_release(&r);
        if (stopping || lookup_send(o, op) != 0) {
            if (!stopping)
                lookup_later(o, op);
            else
                op_free(op);
        }
        return;
    case TWILIO_OUTCOME_FAILED:
    default:
        release(o, &op->job, 0, r.error[0] ? r.error : "Twilio refused the call");
        break;
    }
    twilio_rest_result_release(&r);
    op_free(op);
}

/* ---- updates (AMD) ---- */

static void update_answered(struct outbound *o, struct op *op, int stopping)
{
    struct twilio_rest_result r;
    int rc = twilio_rest_result_parse(&r, TWILIO_CALL_UPDATE, op->res);

    if (rc == 0 && r.outcome == TWILIO_OUTCOME_OK) {
        log_event(LOG_INFO, "outbound.call_updated", "job=%lld call_sid=%s", op->job.id,
                  op->call_sid);
    } else if (!stopping && r.outcome == TWILIO_OUTCOME_RETRY && op->tries < UPDATE_TRIES) {
        long delay =
            twilio_retry_delay_ms(NULL, op->tries, r.retry_after_s, twilio_retry_random, NULL);

        op->tries++;
        twilio_rest_result_release(&r);
        op_wait(o, op, delay < 0 ? 1000 : delay);
        return;
    } else {
        log_event(LOG_WARN, "outbound.update_failed", "job=%lld call_sid=%s error=\"%s\"",
                  op->job.id, op->call_sid, r.error);
    }
    twilio_rest_result_release(&r);
    op_free(op);
}

static void amd_update(struct outbound *o, const struct task *t)
{
    struct twilio_call_update u;
    struct job job;
    struct tenant tenant;
    const struct tenant *tp = NULL;
    char err[256];
    char *doc = NULL;
    size_t len = 0;
    struct op *op;
    int machine = strncmp(t->answered_by, "machine_end_", 12) == 0;
    int fax = strcmp(t->answered_by, "fax") == 0;

    if ((!machine && !fax) || !o->rest)
        return;
    if (job_get(o->store, t->job_id, &job) != 0)
        return;
    memset(&u, 0, sizeof(u));
    if (machine) {
        if (store_tenant_get(o->store, job.tenant, &tenant) == 0)
            tp = &tenant;
        const char *lang = outbound_job_lang(&job, tp);

        if (outbound_say_twiml(tp, lang, outbound_voicemail_text(lang), &doc, &len) != 0)
            return;
        u.twiml = doc;
    } else {
        u.status = "completed";
    }
    op = calloc(1, sizeof(*op));
    if (!op) {
        free(doc);
        return;
    }
    op->o = o;
    op->kind = OP_UPDATE;
    op->job = job;
    snprintf(op->call_sid, sizeof(op->call_sid), "%s", t->call_sid);
    if (twilio_rest_call_update(o->rest, t->call_sid, &u, &op->req, err, sizeof(err)) != 0 ||
        op_send(o, op) != 0) {
        log_event(LOG_WARN, "outbound.update_failed", "job=%lld call_sid=%s error=\"%s\"", job.id,
                  t->call_sid, err);
        op_free(op);
    } else {
        log_event(LOG_INFO, "outbound.amd_action", "job=%lld call_sid=%s action=%s", job.id,
                  t->call_sid, machine ? "voicemail" : "hangup");
    }
    free(doc);
}

/* ---- the SMS fallback ---- */

static void sms_answered(struct outbound *o, struct op *op, int stopping)
{
    struct twilio_rest_result r;
    char tolog[REDACT_SIZE];
    int rc = twilio_rest_result_parse(&r, TWILIO_MESSAGE_CREATE, op->res);

    if (rc == 0 && r.outcome == TWILIO_OUTCOME_OK) {
        log_event(LOG_INFO, "outbound.sms_sent", "job=%lld call_sid=%s to=%s message_sid=%s",
                  op->job.id, op->call_sid[0] ? op->call_sid : "-", redact(op->job.to, tolog),
                  r.message.sid ? r.message.sid : "-");
    } else if (rc == 0 && !stopping && r.outcome == TWILIO_OUTCOME_RETRY &&
               op->tries < UPDATE_TRIES) {
        long delay =
            twilio_retry_delay_ms(NULL, op->tries, r.retry_after_s, twilio_retry_random, NULL);

        op->tries++;
        twilio_rest_result_release(&r);
        op_wait(o, op, delay < 0 ? 1000 : delay);
        return;
    } else {
        log_event(LOG_WARN, "outbound.sms_failed", "job=%lld call_sid=%s to=%s error=\"%s\"",
                  op->job.id, op->call_sid[0] ? op->call_sid : "-", redact(op->job.to, tolog),
                  rc ? sb_strerror(rc) : r.error);
    }
    twilio_rest_result_release(&r);
    op_free(op);
}

/* A text the SMS fallback sends: a job's (job_id) or an inbound call's failed transfer's. */
struct text_req {
    const char *tenant;
    const char *to;
    const char *from;
    const char *name;     /* {{name}}: the contact's, or "" */
    long long job_id;     /* 0: a transfer's, marked by call_sid */
    const char *call_sid; /* the transfer's call */
    char label[64];       /* "job=12" or "call_sid=CA...", for the logs */
};

/* Claims the right to text: a job's flag, or a call's row; exactly one claimer wins. */
static int text_mark(struct outbound *o, const struct text_req *q, int *already)
{
    if (q->job_id)
        return job_mark_sms_sent(o->store, q->job_id, already);
    return transfer_text_mark(o->store, q->tenant, q->call_sid, now_s(o), already);
}

/*
 * Texts the tenant's template, filled in, to q->to from q->from, once:
 * marked sent before it is sent, so a repeated callback never texts twice.
 * An opted-out number and a tenant without a template get nothing.
 */
static void text_fallback(struct outbound *o, const struct text_req *q)
{
    struct twilio_message_params p;
    struct tenant tenant;
    struct op *op = NULL;
    char tolog[REDACT_SIZE], err[256];
    char *body = NULL;
    size_t size;
    int out = 0, already = 0, rc;

    rc = optout_check(o->store, q->tenant, q->to, &out);
    if (rc || out) {
        log_event(LOG_INFO, "outbound.sms_skipped", "%s to=%s reason=\"%s\"", q->label,
                  redact(q->to, tolog),
                  rc ? "the opt-out list cannot be read" : "the number opted out");
        return;
    }
    if (store_tenant_get(o->store, q->tenant, &tenant) != 0 || !tenant.sms_fallback[0]) {
        log_event(LOG_INFO, "outbound.sms_skipped", "%s tenant=%s reason=\"%s\"", q->label,
                  q->tenant, "the tenant has no SMS fallback text (tenants set --sms-fallback)");
        return;
    }
    if (!o->rest) {
        log_event(LOG_WARN, "outbound.sms_skipped", "%s reason=\"no Twilio credentials\"",
                  q->label);
        return;
    }
    op = calloc(1, sizeof(*op));
    /* "{{name}}" (8 bytes) becomes at most 127: sixteen times the template is room enough. */
    size = 16 * sizeof(tenant.sms_fallback);
    body = malloc(size);
    if (!op || !body || sms_fill(tenant.sms_fallback, q->name, tenant.name, body, size)) {
        log_event(LOG_WARN, "outbound.sms_failed", "%s error=\"%s\"", q->label,
                  body && op ? "the filled text is too long" : "out of memory");
        goto out;
    }
    op->o = o;
    op->kind = OP_SMS;
    op->job.id = q->job_id;
    snprintf(op->job.to, sizeof(op->job.to), "%s", q->to);
    snprintf(op->from, sizeof(op->from), "%s", q->from);
    snprintf(op->call_sid, sizeof(op->call_sid), "%s", q->call_sid ? q->call_sid : "");
    rc = text_mark(o, q, &already);
    if (rc || already) {
        if (rc)
            log_event(LOG_ERROR, "outbound.sms_failed", "%s error=\"store: %s\"", q->label,
                      sb_strerror(rc));
        goto out;
    }
    memset(&p, 0, sizeof(p));
    p.to = q->to;
    p.from = q->from;
    p.body = body;
    err[0] = '\0';
    if (twilio_rest_message_create(o->rest, &p, &op->req, err, sizeof(err)) != 0 ||
        op_send(o, op) != 0) {
        log_event(LOG_WARN, "outbound.sms_failed", "%s to=%s error=\"%s\"", q->label,
                  redact(q->to, tolog), err[0] ? err : "the HTTP client did not take the request");
        goto out;
    }
    log_event(LOG_INFO, "outbound.sms_sending", "%s tenant=%s to=%s", q->label, q->tenant,
              redact(q->to, tolog));
    op = NULL;
out:
    free(body);
    op_free(op);
}

/* A job ended unreached with --sms-fallback: texted from the number it was called from. */
static void sms_fallback(struct outbound *o, long long job_id)
{
    struct text_req q;
    struct job job;
    char from[E164_SIZE];

    /* Marked sent before it is sent: so the mark must be on disk first (pass). */
    if (o->sms_later && o->nsms_later < o->sms_later_cap) {
        o->sms_later[o->nsms_later++] = job_id;
        return;
    }
    if (job_get(o->store, job_id, &job) != 0)
        return;
    memset(&q, 0, sizeof(q));
    snprintf(q.label, sizeof(q.label), "job=%lld", job.id);
    if (job_from(o, &job, from) != 0) {
        log_event(LOG_WARN, "outbound.sms_failed", "%s error=\"no number to text from\"", q.label);
        return;
    }
    q.tenant = job.tenant;
    q.to = job.to;
    q.from = from;
    q.name = job.contact_name;
    q.job_id = job.id;
    text_fallback(o, &q);
}

/* An inbound caller nobody took on a transfer: texted from the number they called. */
static void transfer_text(struct outbound *o, const struct task *t)
{
    struct text_req q;

    memset(&q, 0, sizeof(q));
    q.tenant = t->tenant;
    q.to = t->number;
    q.from = t->from;
    q.name = "";
    q.call_sid = t->call_sid;
    snprintf(q.label, sizeof(q.label), "call_sid=%s", t->call_sid);
    text_fallback(o, &q);
}

/* ---- the HTTP API's calls ---- */

/*
 * The job an Idempotency-Key already names, when the request is the same:
 * 1 with res filled (replayed or key_reused), 0 when the key is new (or
 * expired), a negative code when the store failed.
 */
static int call_replay(struct outbound *o, struct task *t, struct job_request *r, long long now,
                       struct outbound_call_result *res)
{
    struct idempotency idem;
    struct tenant tn;
    char hash[JOB_HASH_SIZE];
    int rc;

    rc = idempotency_get(o->store, t->tenant, t->key, now, &idem);
    if (rc == SB_ENOTFOUND)
        return 0;
    if (rc == 0)
        rc = store_tenant_get(o->store, t->tenant, &tn);
    /* The request as it was hashed the first time: its time resolved, not checked against now. */
    if (rc == 0 && call_check_at(t->call.at, tn.timezone, 0, CALL_NAMES_FIELDS, &r->not_before,
                                 &res->check) != 0)
        return 0; /* not the same request: the checks that follow say what is wrong */
    if (rc == 0)
        rc = job_request_hash(r, hash);
    if (rc)
        return rc;
    if (strcmp(hash, idem.request_hash) != 0) {
        res->rc = SB_EEXISTS;
        res->key_reused = 1;
        return 1;
    }
    rc = job_get(o->store, idem.job_id, &res->job);
    if (rc)
        return rc;
    res->rc = 0;
    res->replayed = 1;
    return 1;
}

/* Fills res->check for a store failure. */
static void call_unavailable(struct outbound_call_result *res, const char *what, int rc)
{
    res->check.verdict = CALL_UNAVAILABLE;
    res->check.field = NULL;
    res->check.code = "store_unavailable";
    snprintf(res->check.message, sizeof(res->check.message), "%s: %s", what, sb_strerror(rc));
}

/* Checks, then queues (or finds under its key) the job of one request; fills res. */
static void call_queue(struct outbound *o, struct task *t, struct outbound_call_result *res)
{
    struct job_request r;
    long long now = now_s(o), id = 0;
    char err[256];
    int rc;

    call_request_job(&t->call, t->tenant, &r);
    if ((res->rc = call_check_fields(&r, t->call.at, CALL_NAMES_FIELDS, &res->check)) != 0)
        return;
    if (t->key[0]) {
        rc = call_replay(o, t, &r, now, res);
        if (rc < 0) {
            res->rc = rc;
            call_unavailable(res, "cannot read the idempotency key", rc);
        }
        if (rc != 0)
            return;
    }
    res->rc = call_check_all(o->store, &r, t->call.at, o->allow_text, now, CALL_NAMES_FIELDS,
                             &res->check);
    if (res->rc)
        return;
    err[0] = '\0';
    rc = t->key[0]
             ? job_add_idempotent(o->store, &r, t->key, now, &id, &res->replayed, err, sizeof(err))
             : job_add(o->store, &r, now, &id, err, sizeof(err));
    if (rc == SB_EEXISTS) {
        res->key_reused = 1;
    } else if (rc == SB_ENOTFOUND) {
        res->check.verdict = CALL_REFUSED;
        res->check.code = "unknown_tenant";
        snprintf(res->check.message, sizeof(res->check.message), "cannot queue the call: %s", err);
    } else if (rc) {
        call_unavailable(res, "cannot queue the call", rc);
    } else if ((rc = job_get(o->store, id, &res->job)) != 0) {
        call_unavailable(res, "cannot read the job queued", rc);
    }
    res->rc = rc;
}

static void run_call(struct outbound *o, struct task *t)
{
    t->call_res = calloc(1, sizeof(*t->call_res));
    if (t->call_res)
        call_queue(o, t, t->call_res);
}

/*
 * Answers an API request once the pass that queued its job is committed
 * (`commit_rc`): a job is never reported queued before it is on disk.
 */
static void answer_call(struct task *t, int commit_rc)
{
    struct outbound_call_result oom, *res = t->call_res;
    char tolog[REDACT_SIZE];

    if (!res) {
        /* The answer still goes back: a 503 rather than a request never answered. */
        memset(&oom, 0, sizeof(oom));
        oom.rc = SB_ENOMEM;
        call_unavailable(&oom, "cannot take the request", SB_ENOMEM);
        t->call_done(t->arg, &oom);
        return;
    }
    if (commit_rc && res->rc == 0) {
        res->rc = commit_rc;
        call_unavailable(res, "cannot commit the job", commit_rc);
    }
    if (res->rc == 0)
        log_event(LOG_INFO, "api.call_queued", "job=%lld tenant=%s to=%s kind=%s replayed=%s",
                  res->job.id, t->tenant, redact(t->call.to, tolog), job_kind_name(res->job.kind),
                  res->replayed ? "yes" : "no");
    else
        log_event(LOG_INFO, "api.call_refused", "tenant=%s code=%s field=%s", t->tenant,
                  res->key_reused ? "idempotency_key_reused"
                                  : (res->check.code ? res->check.code : "-"),
                  res->check.field ? res->check.field : "-");
    t->call_done(t->arg, res);
    free(res);
    t->call_res = NULL;
}

/* ---- the callbacks ---- */

/*
 * Applies a callback handed over by a webhook. Its answer (`done`) waits for
 * the pass's commit (placer_main): it may not say "on disk" before.
 */
static void run_task(struct outbound *o, struct task *t)
{
    struct job_update u;
    int rc;

    memset(&u, 0, sizeof(u));
    if (t->kind == TASK_TEXT)
        return; /* texted by pass() after its commit: the mark goes to disk on its own first */
    if (t->kind == TASK_CALL) {
        run_call(o, t);
        return;
    }
    if (t->kind == TASK_OPTOUT) {
        char tolog[REDACT_SIZE];

        rc = optout_set(o->store, t->tenant, t->number, t->on, now_s(o));
        log_event(rc ? LOG_WARN : LOG_INFO, t->on ? "sms.opted_out" : "sms.opted_in",
                  "tenant=%s from=%s%s%s", t->tenant, redact(t->number, tolog), rc ? " error=" : "",
                  rc ? sb_strerror(rc) : "");
        t->rc = rc;
        return;
    }
    if (t->kind == TASK_STATUS) {
        rc = job_status_by_call(o->store, t->job_id, t->call_sid, t->status,
                                t->answered_by[0] ? t->answered_by : NULL, now_s(o), &u);
        if (rc == SB_ENOTFOUND || rc == SB_EINVAL) {
            log_event(LOG_WARN, "outbound.status_ignored",
                      "job=%lld call_sid=%s status=%s "
                      "reason=\"%s\"",
                      t->job_id, t->call_sid, t->status,
                      rc == SB_ENOTFOUND ? "no job has this call" : "unknown status");
            rc = 0;
        } else if (rc == 0) {
            static const char *const outcomes[] = {"none", "retrying", "final"};

            log_event(LOG_INFO, "outbound.job_status",
                      "job=%lld call_sid=%s status=%s outcome=%s job_status=%s", u.job_id,
                      t->call_sid, t->status, outcomes[u.outcome], job_status_name(u.status));
            if (u.sms_due)
                sms_fallback(o, u.job_id);
        } else {
            log_event(LOG_ERROR, "outbound.status_failed", "job=%lld call_sid=%s error=\"%s\"",
                      t->job_id, t->call_sid, sb_strerror(rc));
        }
        t->rc = rc;
        return;
    }
    rc = job_status_by_call(o->store, t->job_id, t->call_sid, "in-progress", t->answered_by,
                            now_s(o), &u);
    log_event(rc ? LOG_WARN : LOG_INFO, "outbound.amd", "job=%lld call_sid=%s answered_by=%s%s%s",
              t->job_id, t->call_sid, t->answered_by, rc ? " error=" : "",
              rc ? sb_strerror(rc) : "");
    if (rc == 0)
        amd_update(o, t);
}

/* ---- jobs left placed: their final callback may have come while the server was down ---- */

static int final_status(const char *status)
{
    static const char *const finals[] = {"completed", "busy", "no-answer", "failed", "canceled"};

    for (size_t i = 0; status && i < sizeof(finals) / sizeof(finals[0]); i++) {
        if (strcmp(status, finals[i]) == 0)
            return 1;
    }
    return 0;
}

static void fetch_later(struct outbound *o, struct op *op)
{
    long delay = FETCH_AGAIN_MS << (op->tries < 4 ? op->tries : 4);

    op->tries++;
    op_wait(o, op, delay < FETCH_AGAIN_MAX_MS ? delay : FETCH_AGAIN_MAX_MS);
}

/*
 * A fetched call: a final status is applied to its job as its status
 * callback would have been (a callback that comes after all the same
 * changes nothing); a live call is fetched again later, until its job has
 * left `placed` (its callbacks came) or the call ends.
 */
static void fetch_answered(struct outbound *o, struct op *op, int stopping)
{
    struct twilio_rest_result r;
    struct job_update u;
    struct job now;
    int rc;

    if (stopping || job_get(o->store, op->job.id, &now) != 0 || now.status != JOB_PLACED ||
        strcmp(now.call_sid, op->call_sid) != 0) {
        op_free(op);
        return;
    }
    rc = twilio_rest_result_parse(&r, TWILIO_CALL_FETCH, op->res);
    if (rc || r.outcome == TWILIO_OUTCOME_FAILED) {
        log_event(LOG_WARN, "outbound.fetch_failed", "job=%lld call_sid=%s error=\"%s\"",
                  op->job.id, op->call_sid, rc ? sb_strerror(rc) : r.error);
        twilio_rest_result_release(&r);
        op_free(op);
        return;
    }
    if (r.outcome != TWILIO_OUTCOME_OK || !final_status(r.call.status)) {
        twilio_rest_result_release(&r);
        fetch_later(o, op);
        return;
    }
    memset(&u, 0, sizeof(u));
    rc = job_status_by_call(o->store, op->job.id, op->call_sid, r.call.status,
                            r.call.answered_by && r.call.answered_by[0] ? r.call.answered_by : NULL,
                            now_s(o), &u);
    log_event(rc ? LOG_ERROR : LOG_INFO, "outbound.reconciled",
              "job=%lld call_sid=%s status=%s job_status=%s%s%s", op->job.id, op->call_sid,
              r.call.status, rc ? "-" : job_status_name(u.status), rc ? " error=" : "",
              rc ? sb_strerror(rc) : "");
    if (rc == 0 && u.sms_due)
        sms_fallback(o, u.job_id);
    twilio_rest_result_release(&r);
    op_free(op);
}

/* Fetches a placed job's call (`op` becomes the fetch) until it ends or the job leaves placed. */
static void watch_call(struct outbound *o, struct op *op, const char *call_sid)
{
    char err[256];

    op->kind = OP_FETCH;
    op->tries = 0;
    snprintf(op->call_sid, sizeof(op->call_sid), "%s", call_sid);
    twilio_rest_request_release(&op->req);
    if (twilio_rest_call_fetch(o->rest, op->call_sid, &op->req, err, sizeof(err)) != 0) {
        log_event(LOG_WARN, "outbound.fetch_failed", "job=%lld call_sid=%s error=\"%s\"",
                  op->job.id, op->call_sid, err);
        op_free(op);
        return;
    }
    if (op_send(o, op) != 0)
        fetch_later(o, op);
}

/* At start: every job left placed has its call fetched (Calls fetch). */
static void reconcile_placed(struct outbound *o)
{
    struct job_filter f = {NULL, 0, JOB_PLACED, 0};
    struct job *jobs = NULL;
    size_t n = 0;

    if (job_list(o->store, &f, &jobs, &n) != 0) {
        log_event(LOG_ERROR, "outbound.reconcile_failed", "error=\"the store cannot list jobs\"");
        return;
    }
    if (n)
        log_event(LOG_INFO, "outbound.reconcile",
                  "placed=%zu reason=\"left placed by the last run: each call is fetched, in "
                  "case its final callback came while the server was down\"",
                  n);
    for (size_t i = 0; i < n; i++) {
        struct op *op = calloc(1, sizeof(*op));

        if (!op)
            break;
        op->o = o;
        op->job = jobs[i];
        watch_call(o, op, jobs[i].call_sid);
    }
    job_list_free(jobs);
}

/* ---- claiming ---- */

/*
 * Takes a slot of the store's shared rate: 1 when taken, 0 when none is
 * left or the store failed (o->rate_wait_us says when to ask again).
 */
static int rate_slot(struct outbound *o)
{
    long long wait_ms = 0;
    int rc = rate_take(o->store, o->rate_key, clock_wall_ms(), o->s.calls_per_second, &wait_ms);

    if (rc) {
        /* Never a create without a slot: the jobs wait, claimed, until the store answers. */
        if (!o->rate_failing)
            log_event(LOG_ERROR, "outbound.rate_failed",
                      "error=\"store: %s\" result=\"no call created until the store gives a "
                      "slot\"",
                      sb_strerror(rc));
        o->rate_failing = 1;
        o->rate_wait_us = clock_mono_us() + RATE_RETRY_US;
        return 0;
    }
    if (o->rate_failing)
        log_event(LOG_INFO, "outbound.rate_recovered", "result=\"creates go on\"");
    o->rate_failing = 0;
    if (wait_ms > 0) {
        o->rate_wait_us = clock_mono_us() + wait_ms * 1000;
        return 0;
    }
    return 1;
}

/*
 * Places the claimed jobs waiting for the rate, oldest first, each once
 * this process's window and then the store's shared one give it a slot.
 */
static void place_ready(struct outbound *o)
{
    size_t placed = 0;

    while (placed < o->nready) {
        long long mono = clock_mono_us();

        if (mono < o->rate_wait_us || budget(o, mono) == 0 || !rate_slot(o))
            break;
        place(o, &o->ready[placed++]);
        spend(o, clock_mono_us());
    }
    if (placed) {
        memmove(o->ready, o->ready + placed, (o->nready - placed) * sizeof(*o->ready));
        o->nready -= placed;
    }
}

/* At stop: the claimed jobs never sent go back to the queue, due at once. */
static void release_ready(struct outbound *o)
{
    for (size_t i = 0; i < o->nready; i++)
        release(o, &o->ready[i], now_s(o), "not placed before the server stopped");
    o->nready = 0;
}

static void claim(struct outbound *o)
{
    struct job *jobs = NULL;
    size_t n = 0, want;
    long long mono = clock_mono_us(), now = now_s(o);
    int rc;

    place_ready(o);
    if (mono - o->claimed_us < CLAIM_EVERY_US)
        return;
    o->claimed_us = mono;
    /* As many as this process's window allows, less those claimed already and waiting. */
    want = budget(o, mono);
    if (want <= o->nready)
        return;
    want -= o->nready;
    rc = job_claim_due(o->store, now, want, o->s.cap, &jobs, &n);
    if (rc) {
        log_event(LOG_WARN, "outbound.claim_failed", "error=\"store: %s\"", sb_strerror(rc));
        return;
    }
    o->more_due = n == want;
    for (size_t i = 0; i < n; i++) {
        const struct job *job = &jobs[i];
        long long until;

        if (!allowed(o, job->to)) {
            release(o, job, 0, "the number is not in SWITCHBOARD_OUTBOUND_ALLOW: never placed");
            continue;
        }
        until = quiet_until(o, job->tenant, now);
        if (until) {
            release(o, job, until, "quiet hours (08:00 to 21:00 in the tenant's time zone)");
            continue;
        }
        o->ready[o->nready++] = *job;
    }
    job_list_free(jobs);
    place_ready(o);
}

/*
 * How long the placer may sleep when nothing wakes it: while claimed jobs
 * wait for a slot, until this process's window and the store's next free
 * one; while jobs wait for the budget, until the next one is due (one claim
 * per tick at most); else a second, the time a job queued by another
 * process waits at most.
 */
static long long claim_wait_us(const struct outbound *o)
{
    long long mono = clock_mono_us(), wait, tick;

    if (!o->rest || o->s.dry_run || (!o->more_due && !o->nready))
        return 1000000;
    wait = 0;
    if (o->nsent == (size_t)o->s.calls_per_second) /* when the oldest create leaves the second */
        wait = o->sent_us[o->sent_head] + 1000000 - mono + 1000;
    if (o->nready) {
        if (wait < o->rate_wait_us - mono)
            wait = o->rate_wait_us - mono;
    } else {
        tick = CLAIM_EVERY_US - (mono - o->claimed_us);
        if (wait < tick)
            wait = tick;
    }
    if (wait < 1000)
        wait = 1000;
    return wait < 1000000 ? wait : 1000000;
}

/* A dry run: each due job is logged once, and stays queued. */
static void dry_run(struct outbound *o)
{
    struct job_filter f = {NULL, 0, JOB_QUEUED, 1000};
    struct job *jobs = NULL;
    size_t n = 0;
    long long now = now_s(o);

    if (job_list(o->store, &f, &jobs, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        const struct job *job = &jobs[i];
        char tolog[REDACT_SIZE];
        int seen = 0;

        if (job->not_before > now || job->next_attempt_at > now)
            continue;
        for (size_t k = 0; k < o->ndry_seen && !seen; k++)
            seen = o->dry_seen[k] == job->id;
        if (seen || o->ndry_seen == DRY_SEEN_MAX)
            continue;
        o->dry_seen[o->ndry_seen++] = job->id;
        log_event(LOG_INFO, "outbound.dry_run",
                  "job=%lld tenant=%s to=%s kind=%s allowed=%s reason=\"--outbound-dry-run: not "
                  "placed, left queued\"",
                  job->id, job->tenant, redact(job->to, tolog), job_kind_name(job->kind),
                  allowed(o, job->to) ? "yes" : "no");
    }
    job_list_free(jobs);
}

/* At start: every job left placing is looked up before anything new is claimed. */
static void recover(struct outbound *o)
{
    struct job *jobs = NULL;
    size_t n = 0;
    int rc = job_list_placing(o->store, &jobs, &n);

    if (rc) {
        log_event(LOG_ERROR, "outbound.recovery_failed", "error=\"store: %s\"", sb_strerror(rc));
        return;
    }
    if (n)
        log_event(LOG_WARN, "outbound.recovery",
                  "placing=%zu reason=\"left placing by the last run: looked up before any new "
                  "call\"",
                  n);
    for (size_t i = 0; i < n; i++) {
        struct op *op = calloc(1, sizeof(*op));

        if (!op)
            break;
        op->o = o;
        op->job = jobs[i];
        op->recovery = 1;
        o->recovering++;
        if (job_from(o, &jobs[i], op->from) != 0 || lookup_send(o, op) != 0)
            lookup_later(o, op);
    }
    job_list_free(jobs);
}

static void answered(struct outbound *o, struct op *op, int stopping)
{
    list_remove(&o->inflight, op);
    switch (op->kind) {
    case OP_CREATE:
        create_answered(o, op, stopping);
        break;
    case OP_LOOKUP:
        if (stopping) {
            op_free(op);
            break;
        }
        lookup_answered(o, op);
        break;
    case OP_UPDATE:
        update_answered(o, op, stopping);
        break;
    case OP_SMS:
        sms_answered(o, op, stopping);
        break;
    case OP_FETCH:
        fetch_answered(o, op, stopping);
        break;
    }
}

static void resend_waiting(struct outbound *o)
{
    long long mono = clock_mono_us();
    struct op **p = &o->waiting;

    while (*p) {
        struct op *op = *p;

        if (op->resend_us > mono) {
            p = &op->next;
            continue;
        }
        *p = op->next;
        op->next = NULL;
        if (op->kind == OP_LOOKUP || (op->kind == OP_CREATE && op->req.url == NULL)) {
            if (!op->from[0] && job_from(o, &op->job, op->from) != 0) {
                lookup_later(o, op);
                continue;
            }
            if (lookup_send(o, op) != 0)
                lookup_later(o, op);
        } else if (op_send(o, op) != 0) {
            op_free(op);
        }
    }
}

/*
 * One pass over what woke the placer: the callbacks handed over, then
 * Twilio's answers. Their store changes share one transaction (each its own
 * savepoint, as the store makes them), so a pass costs one commit rather
 * than one per callback and answer; the webhooks' answers (`done`) and the
 * SMS fallbacks it made due wait for that commit. A pass whose commit fails
 * undoes its changes: its callbacks are answered failed (Twilio sends them
 * again), and a create's answer lost so leaves its job placing, for the
 * lookup of the next start.
 */
static void pass(struct outbound *o, struct task *tasks, struct op *ans)
{
    size_t items = 0, nsms;
    long long *sms;
    int rc = 0;

    for (struct task *t = tasks; t; t = t->next)
        items++;
    for (struct op *op = ans; op; op = op->answered_next)
        items++;
    if (items > 1) {
        o->sms_later = calloc(items, sizeof(*o->sms_later));
        o->sms_later_cap = items;
        o->nsms_later = 0;
        if (o->sms_later && store_begin(o->store) != 0) {
            free(o->sms_later);
            o->sms_later = NULL;
        }
    }
    for (struct task *t = tasks; t; t = t->next)
        run_task(o, t);
    while (ans) {
        struct op *op = ans;

        ans = op->answered_next;
        answered(o, op, 0);
    }
    sms = o->sms_later;
    nsms = o->nsms_later;
    o->sms_later = NULL;
    if (sms) {
        rc = store_commit(o->store);
        if (rc) {
            (void)store_rollback(o->store);
            log_event(LOG_ERROR, "outbound.pass_failed",
                      "items=%zu error=\"store: %s\" result=\"callbacks answered as failed\"",
                      items, sb_strerror(rc));
            nsms = 0;
        }
    }
    for (size_t i = 0; i < nsms; i++)
        sms_fallback(o, sms[i]);
    free(sms);
    while (tasks) {
        struct task *t = tasks;

        tasks = t->next;
        if (t->kind == TASK_TEXT)
            transfer_text(o, t);
        if (t->kind == TASK_CALL)
            answer_call(t, rc);
        if (t->done)
            t->done(t->arg, rc ? rc : t->rc);
        free(t);
    }
}

static void *placer_main(void *arg)
{
    struct outbound *o = arg;

    if (o->rest && !o->s.dry_run) {
        recover(o);
        reconcile_placed(o);
    }
    for (;;) {
        struct task *tasks;
        struct op *ans;
        struct timespec until;

        long long wait_us = claim_wait_us(o);

        pthread_mutex_lock(&o->lock);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_us / 1000000;
        until.tv_nsec += (wait_us % 1000000) * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!o->stop && !o->kicked && !o->tasks && !o->answered)
            if (pthread_cond_timedwait(&o->cond, &o->lock, &until) != 0)
                break;
        tasks = o->tasks;
        o->tasks = o->tasks_tail = NULL;
        ans = o->answered;
        o->answered = NULL;
        o->kicked = 0;
        pthread_mutex_unlock(&o->lock);

        pass(o, tasks, ans);
        pthread_mutex_lock(&o->lock);
        if (o->stop) {
            pthread_mutex_unlock(&o->lock);
            break;
        }
        pthread_mutex_unlock(&o->lock);
        if (!o->rest)
            continue;
        resend_waiting(o);
        if (o->s.dry_run)
            dry_run(o);
        else if (o->recovering <= 0)
            claim(o);
    }

    /* Stopping: the requests in flight are cancelled; a create's job stays placing. */
    release_ready(o);
    for (struct op *op = o->inflight; op; op = op->next)
        http_client_cancel(o->s.http, op->http_id);
    pthread_mutex_lock(&o->lock);
    while (o->inflight) {
        struct op *ans;

        while (!o->answered)
            pthread_cond_wait(&o->cond, &o->lock);
        ans = o->answered;
        o->answered = NULL;
        pthread_mutex_unlock(&o->lock);
        while (ans) {
            struct op *op = ans;

            ans = op->answered_next;
            answered(o, op, 1);
        }
        pthread_mutex_lock(&o->lock);
    }
    /* Callbacks that came in meanwhile are answered as failed: Twilio sends them again. */
    while (o->tasks) {
        struct task *t = o->tasks;

        o->tasks = t->next;
        if (t->done)
            t->done(t->arg, SB_ECLOSED);
        if (t->call_done) {
            struct outbound_call_result res;

            memset(&res, 0, sizeof(res));
            res.rc = SB_ECLOSED;
            res.check.verdict = CALL_UNAVAILABLE;
            res.check.code = "shutting_down";
            snprintf(res.check.message, sizeof(res.check.message), "the server is shutting down");
            t->call_done(t->arg, &res);
        }
        free(t);
    }
    pthread_mutex_unlock(&o->lock);
    while (o->waiting) {
        struct op *op = o->waiting;

        o->waiting = op->next;
        op_free(op);
    }
    return NULL;
}

/* SWITCHBOARD_TWILIO_TIMEOUT_MS: how long a request may take (0, unset: the client's 30 s). */
static long rest_timeout_ms(void)
{
    const char *v = getenv("SWITCHBOARD_TWILIO_TIMEOUT_MS");
    long ms;

    if (!v || !*v)
        return 0;
    ms = strtol(v, NULL, 10);
    return ms > 0 && ms <= 600000 ? ms : 0;
}

int outbound_start(struct outbound **out, const struct outbound_settings *s)
{
    struct twilio_rest_config rc_cfg;
    struct outbound *o;
    char err[256];
    int rc;

    *out = NULL;
    o = calloc(1, sizeof(*o));
    if (!o)
        return SB_ENOMEM;
    o->s = *s;
    if (o->s.calls_per_second < 1)
        o->s.calls_per_second = OUTBOUND_CALLS_PER_SECOND;
    if (o->s.cap < 1)
        o->s.cap = OUTBOUND_CAP;
    snprintf(o->base, sizeof(o->base), "%s", s->public_base_url ? s->public_base_url : "");
    allow_parse(o, s->allow);
    o->s.public_base_url = o->base;
    o->s.allow = o->allow_buf;
    o->sent_us = calloc((size_t)o->s.calls_per_second, sizeof(*o->sent_us));
    o->ready = calloc((size_t)o->s.calls_per_second, sizeof(*o->ready));
    if (!o->sent_us || !o->ready) {
        free(o->sent_us);
        free(o->ready);
        free(o);
        return SB_ENOMEM;
    }
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->cond, NULL);
    rc = store_open(&o->store, s->db_path);
    if (rc)
        goto fail;
    if (!s->http) {
        log_event(LOG_WARN, "outbound.disabled", "reason=\"no HTTP client\"");
    } else if (twilio_rest_config_from_env(&rc_cfg, err, sizeof(err)) != 0) {
        /* A server that only answers calls is a normal setup: said once, not a warning. */
        log_event(LOG_INFO, "outbound.disabled",
                  "reason=\"no Twilio credentials: %s; queued calls are not placed\"", err);
    } else if ((rc_cfg.timeout_ms = rest_timeout_ms()) < 0 ||
               twilio_rest_new(&o->rest, &rc_cfg, err, sizeof(err)) != 0) {
        log_event(LOG_WARN, "outbound.disabled", "reason=\"%s; queued calls are not placed\"", err);
        o->rest = NULL;
    } else {
        /* The account's rate, shared with every server that places calls for it on this store. */
        snprintf(o->rate_key, sizeof(o->rate_key), "calls:%s", twilio_rest_account_sid(o->rest));
        log_event(LOG_INFO, "outbound.started", "calls_per_second=%d cap=%d dry_run=%s allow=%zu",
                  o->s.calls_per_second, o->s.cap, o->s.dry_run ? "yes" : "no", o->nallow);
    }
    rc = pthread_create(&o->thread, NULL, placer_main, o);
    if (rc == 0)
        pthread_setname_np(o->thread, "sb-placer");
    if (rc) {
        rc = SB_ENOMEM;
        goto fail;
    }
    o->started = 1;
    *out = o;
    return 0;
fail:
    twilio_rest_free(o->rest);
    store_close(o->store);
    pthread_cond_destroy(&o->cond);
    pthread_mutex_destroy(&o->lock);
    free(o->sent_us);
    free(o->ready);
    free(o);
    return rc;
}

void outbound_kick(struct outbound *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->lock);
    o->kicked = 1;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
}

static int submit_task(struct outbound *o, struct task *t)
{
    pthread_mutex_lock(&o->lock);
    if (o->stop) {
        pthread_mutex_unlock(&o->lock);
        free(t);
        return SB_ECLOSED;
    }
    if (o->tasks_tail)
        o->tasks_tail->next = t;
    else
        o->tasks = t;
    o->tasks_tail = t;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
    return 0;
}

/* A new task of `kind` for `job_id` and `call_sid` (either may be 0 or NULL), or NULL. */
static struct task *task_new(enum task_kind kind, long long job_id, const char *call_sid)
{
    struct task *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->kind = kind;
    t->job_id = job_id;
    snprintf(t->call_sid, sizeof(t->call_sid), "%s", call_sid ? call_sid : "");
    return t;
}

int outbound_submit_status(struct outbound *o, long long job_id, const char *call_sid,
                           const char *status, const char *answered_by, outbound_done_fn done,
                           void *arg)
{
    struct task *t = o ? task_new(TASK_STATUS, job_id, call_sid) : NULL;

    if (!o || !t)
        return o ? SB_ENOMEM : SB_ECLOSED;
    snprintf(t->status, sizeof(t->status), "%s", status ? status : "");
    snprintf(t->answered_by, sizeof(t->answered_by), "%s", answered_by ? answered_by : "");
    t->done = done;
    t->arg = arg;
    return submit_task(o, t);
}

int outbound_submit_optout(struct outbound *o, const char *tenant, const char *number, int on,
                           outbound_done_fn done, void *arg)
{
    struct task *t = o ? task_new(TASK_OPTOUT, 0, NULL) : NULL;

    if (!o || !t)
        return o ? SB_ENOMEM : SB_ECLOSED;
    snprintf(t->tenant, sizeof(t->tenant), "%s", tenant ? tenant : "");
    snprintf(t->number, sizeof(t->number), "%s", number ? number : "");
    t->on = on;
    t->done = done;
    t->arg = arg;
    return submit_task(o, t);
}

int outbound_submit_call(struct outbound *o, const char *tenant, const struct call_request *req,
                         const char *idempotency_key, outbound_call_fn done, void *arg)
{
    struct task *t = o && done ? task_new(TASK_CALL, 0, NULL) : NULL;

    if (!o || !done || !t)
        return o && done ? SB_ENOMEM : SB_ECLOSED;
    snprintf(t->tenant, sizeof(t->tenant), "%s", tenant ? tenant : "");
    t->call = *req;
    snprintf(t->key, sizeof(t->key), "%s", idempotency_key ? idempotency_key : "");
    t->call_done = done;
    t->arg = arg;
    return submit_task(o, t);
}

int outbound_submit_amd(struct outbound *o, long long job_id, const char *call_sid,
                        const char *answered_by)
{
    struct task *t = o ? task_new(TASK_AMD, job_id, call_sid) : NULL;

    if (!o || !t)
        return o ? SB_ENOMEM : SB_ECLOSED;
    snprintf(t->answered_by, sizeof(t->answered_by), "%s", answered_by ? answered_by : "");
    return submit_task(o, t);
}

int outbound_submit_text(struct outbound *o, const struct transfer_text *text)
{
    struct task *t = o ? task_new(TASK_TEXT, 0, text->call_sid) : NULL;

    if (!o || !t)
        return o ? SB_ENOMEM : SB_ECLOSED;
    snprintf(t->tenant, sizeof(t->tenant), "%s", text->tenant);
    snprintf(t->number, sizeof(t->number), "%s", text->to);
    snprintf(t->from, sizeof(t->from), "%s", text->from);
    return submit_task(o, t);
}

void outbound_stop(struct outbound *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->lock);
    o->stop = 1;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
    if (o->started)
        pthread_join(o->thread, NULL);
    twilio_rest_free(o->rest);
    store_close(o->store);
    pthread_cond_destroy(&o->cond);
    pthread_mutex_destroy(&o->lock);
    free(o->sent_us);
    free(o->ready);
    free(o);
}
