#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/phone.h"
#include "voice/voice.h"
#include "core/banned.h"

static const char *const known_statuses[] = {"queued",    "initiated", "ringing", "in-progress",
                                             "answered",  "completed", "busy",    "failed",
                                             "no-answer", "canceled",  NULL};

/* What a queued status callback carries to the writer thread and back. */
struct status_job {
    voice_status_done_fn done;
    void *arg;
    char call_sid[SID_SIZE];
    char status[STATUS_SIZE];
    long sequence;
};

static int status_known(const char *s)
{
    for (const char *const *p = known_statuses; *p; p++) {
        if (strcmp(s, *p) == 0)
            return 1;
    }
    return 0;
}

/* Parses a non-negative decimal integer that fits a long. */
static int parse_count(const char *s, long *out)
{
    char *end = NULL;
    long v;

    if (!s || *s < '0' || *s > '9')
        return SB_EINVAL;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end)
        return SB_EINVAL;
    *out = v;
    return 0;
}

/*
 * A status event's Timestamp is trusted only within this window around the
 * clock: it orders the call log, so a year-9999 value would pin a call to
 * the top for ever. Twilio retries callbacks for hours, not a year.
 */
#define TIMESTAMP_PAST_S (366LL * 24 * 3600)
#define TIMESTAMP_FUTURE_S (24LL * 3600)

/* RFC 2822 ("Fri, 20 Aug 2010 01:13:42 +0000") to unix seconds. Returns 0 or SB_EINVAL. */
static int parse_timestamp(const char *s, long long *out)
{
    struct tm tm;
    const char *end;
    long offset;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%a, %d %b %Y %H:%M:%S %z", &tm);
    if (!end || *end)
        return SB_EINVAL;
    /* Read the offset first: timegm() resets tm_gmtoff. */
    offset = tm.tm_gmtoff;
    *out = (long long)timegm(&tm) - offset;
    return 0;
}

/*
 * When the event happened: its Timestamp when readable and within the window
 * around `now`, else `now`, with a warning naming the value it replaced.
 */
static long long event_time(const char *call_sid, const char *value, long long now)
{
    long long at = 0;
    int unreadable;

    if (!value)
        return now;
    unreadable = parse_timestamp(value, &at) != 0;
    if (!unreadable && at >= now - TIMESTAMP_PAST_S && at <= now + TIMESTAMP_FUTURE_S)
        return at;
    log_event(LOG_WARN, "status.timestamp_rejected",
              "call_sid=%s timestamp=\"%.64s\" reason=\"%s\" using=now", call_sid, value,
              unreadable ? "unreadable" : "outside the accepted window");
    return now;
}

static void status_committed(void *arg, int rc, enum status_outcome outcome)
{
    struct status_job *job = arg;
    static const char *const outcome_names[] = {"applied", "duplicate", "stale"};

    if (rc)
        log_event(LOG_ERROR, "status.failed", "call_sid=%s status=%s error=\"store: %s\"",
                  job->call_sid, job->status, sb_strerror(rc));
    else
        log_event(LOG_INFO, "status.recorded", "call_sid=%s status=%s seq=%ld outcome=%s",
                  job->call_sid, job->status, job->sequence, outcome_names[outcome]);
    job->done(job->arg, rc ? 503 : 204, outcome, job->status);
    free(job);
}

/* Fills `out` with a 400 "error: <problem> '<value>'"; returns SB_EINVAL. */
static int bad_request(struct reply *out, const char *problem, const char *value)
{
    char msg[256];

    if (value)
        snprintf(msg, sizeof(msg), "error: %s '%.64s'\n", problem, value);
    else
        snprintf(msg, sizeof(msg), "error: %s\n", problem);
    log_event(LOG_WARN, "status.rejected", "reason=\"%s\"", problem);
    reply_text(out, 400, msg);
    return SB_EINVAL;
}

int voice_status(const struct voice_ctx *ctx, const struct form *params, voice_status_done_fn done,
                 void *arg, struct reply *out)
{
    struct status_event ev;
    struct status_job *job = NULL;
    const char *sid = form_get(params, "CallSid");
    const char *status = form_get(params, "CallStatus");
    const char *seq = form_get(params, "SequenceNumber");
    const char *duration = form_get(params, "CallDuration");
    const char *direction = form_get(params, "Direction");
    const char *from = form_get(params, "From");
    const char *to = form_get(params, "To");
    int rc;

    if (!sid || !*sid)
        return bad_request(out, "missing CallSid", NULL);
    if (strlen(sid) >= SID_SIZE)
        return bad_request(out, "CallSid is too long", NULL);
    if (!status || !*status)
        return bad_request(out, "missing CallStatus", NULL);
    if (!status_known(status))
        return bad_request(out, "unknown CallStatus", status);
    memset(&ev, 0, sizeof(ev));
    ev.sequence = -1;
    ev.duration = -1;
    if (seq && parse_count(seq, &ev.sequence))
        return bad_request(out, "SequenceNumber is not a number:", seq);
    if (duration && *duration && parse_count(duration, &ev.duration))
        return bad_request(out, "CallDuration is not a number:", duration);
    ev.at = event_time(sid, form_get(params, "Timestamp"), voice_now(ctx));
    snprintf(ev.call_sid, sizeof(ev.call_sid), "%s", sid);
    snprintf(ev.status, sizeof(ev.status), "%s", status);
    snprintf(ev.direction, sizeof(ev.direction), "%s", direction ? direction : "");
    snprintf(ev.from, sizeof(ev.from), "%s", from ? from : "");
    snprintf(ev.to, sizeof(ev.to), "%s", to ? to : "");

    job = calloc(1, sizeof(*job));
    if (!job) {
        reply_text(out, 503, "error: out of memory\n");
        return SB_ENOMEM;
    }
    job->done = done;
    job->arg = arg;
    job->sequence = ev.sequence;
    memcpy(job->call_sid, ev.call_sid, sizeof(job->call_sid));
    memcpy(job->status, ev.status, sizeof(job->status));
    rc = ctx->writer ? writer_submit_status(ctx->writer, &ev, status_committed, job) : SB_ECLOSED;
    if (rc) {
        free(job);
        log_event(LOG_ERROR, "status.failed", "call_sid=%s error=\"writer: %s\"", sid,
                  sb_strerror(rc));
        reply_text(out, 503, "error: the call log cannot take this event now; retry\n");
        return rc;
    }
    return 0;
}
