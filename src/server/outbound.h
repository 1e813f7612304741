/*
 * The placer: the server's side of the outbound job queue (store/jobs.h).
 *
 * One thread owns a store connection of its own, so that neither the loop
 * nor the writer ever waits on the queue's transactions (BEGIN IMMEDIATE
 * claims, lookups of calls already recorded). The loop's 250 ms tick wakes
 * it (outbound_kick); every pass it
 *   1. applies the status and AMD callbacks handed over by the webhooks
 *      (job_status_by_call), answering each through its `done`;
 *   2. reads the Twilio answers that came back (creates, lookups, updates);
 *      A job that ended unreached with --sms-fallback (job_update.sms_due)
 *      gets the tenant's template by SMS, once (job_mark_sms_sent), never
 *      when its number opted out;
 *   3. claims the jobs due (job_claim_due with the per-tenant cap), within
 *      the account's calls-per-second budget, and asks Twilio to place them.
 * Requests go out on the shared HTTP client; their answers come back to this
 * thread (never to the loop), which is the only one touching the queue.
 *
 * At start, the jobs left `placing` by a crash are looked up (Calls list by
 * To and From) and resolved before anything new is claimed. Without Twilio
 * credentials nothing is placed (logged once), but the callbacks are still
 * applied. A dry run claims nothing: each due job is logged once and stays
 * queued.
 */
#ifndef SB_SERVER_OUTBOUND_H
#define SB_SERVER_OUTBOUND_H

#include "core/err.h"
#include "net/http_client.h"

#define OUTBOUND_CALLS_PER_SECOND 1
#define OUTBOUND_CAP 10
#define OUTBOUND_ALLOW_SIZE 2048

struct outbound_settings {
    const char *db_path;
    const char *public_base_url; /* no trailing slash */
    struct http_client *http;    /* the shared client; outlives the placer */
    int calls_per_second;        /* creates per second for the account (>= 1) */
    int cap;                     /* jobs placing or placed at once per tenant (>= 1) */
    int dry_run;                 /* log what would be placed, place nothing */
    const char *allow;           /* comma-separated E.164 numbers, or NULL/"" for any */
    long long clock_offset;      /* seconds added to the system clock (--clock) */
};

struct outbound;
struct transfer_text;

/**
 * Starts the placer's thread with its own store connection. Reads the
 * Twilio credentials from the environment (twilio_rest_config_from_env):
 * without them it only applies callbacks. Returns 0 or the store's error.
 */
SB_MUST_CHECK int outbound_start(struct outbound **out, const struct outbound_settings *s);

/** Wakes the placer (the loop's tick). Any thread; NULL is allowed. */
void outbound_kick(struct outbound *o);

/* Called on the placer's thread once the callback was applied: rc 0, or the store's error. */
typedef void (*outbound_done_fn)(void *arg, int rc);

/**
 * Hands a status callback of job `job_id` to the placer (copied). `done`
 * is called exactly once when it returns 0. Returns 0, SB_ENOMEM or
 * SB_ECLOSED. Any thread.
 */
SB_MUST_CHECK int outbound_submit_status(struct outbound *o, long long job_id, const char *call_sid,
                                         const char *status, const char *answered_by,
                                         outbound_done_fn done, void *arg);

/**
 * Hands an AMD result to the placer: stored on the job; machine_end_* makes
 * it redirect the call to the voicemail message, fax hangs it up. Returns
 * 0, SB_ENOMEM or SB_ECLOSED. Any thread.
 */
SB_MUST_CHECK int outbound_submit_amd(struct outbound *o, long long job_id, const char *call_sid,
                                      const char *answered_by);

/**
 * Hands an opt-out (`on` 1: STOP) or opt-in (0: START) of `number` for
 * `tenant` to the placer, which writes it (optout_set). `done` is called
 * exactly once when it returns 0. Returns 0, SB_ENOMEM or SB_ECLOSED. Any
 * thread.
 */
SB_MUST_CHECK int outbound_submit_optout(struct outbound *o, const char *tenant, const char *number,
                                         int on, outbound_done_fn done, void *arg);

/**
 * Hands the SMS fallback of an inbound call whose transfer nobody took to
 * the placer: the tenant's template (with {{tenant}}; {{name}} empty) is
 * texted to the caller once per call (transfer_text_mark), unless they
 * opted out or the tenant has none. Returns 0, SB_ENOMEM or SB_ECLOSED.
 * Any thread.
 */
SB_MUST_CHECK int outbound_submit_text(struct outbound *o, const struct transfer_text *text);

/** Stops the thread (requests in flight are cancelled: their jobs stay placing) and frees. */
void outbound_stop(struct outbound *o);

#endif
