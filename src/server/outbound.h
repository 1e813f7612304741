/*
 * The placer: the server's side of the outbound job queue (store/jobs.h).
 *
 * One thread owns a store connection of its own, so that neither the loop
 * nor the writer ever waits on the queue's transactions (BEGIN IMMEDIATE
 * claims, lookups of calls already recorded). The loop's 250 ms tick wakes
 * it (outbound_kick); every pass it
 *   1. applies the status and AMD callbacks handed over by the webhooks
 *      (job_status_by_call), the opt-outs of /sms/incoming and the calls
 *      the HTTP API asks for (checked and queued: outbound_submit_call),
 *      answering each through its `done`;
 *   2. reads the Twilio answers that came back (creates, lookups, updates);
 *      A job that ended unreached with --sms-fallback (job_update.sms_due)
 *      gets the tenant's template by SMS, once (job_mark_sms_sent), never
 *      when its number opted out;
 *   3. claims the jobs due (job_claim_due with the per-tenant cap), within
 *      the account's calls-per-second budget, and asks Twilio to place them,
 *      each once the store gives it a create slot (rate_take: the budget
 *      holds across every server sharing the store; a claimed job waits for
 *      its slot, and goes back to the queue if the server stops first).
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
#include "store/jobs.h"
#include "voice/call_check.h"
#include "voice/call_request.h"

#define OUTBOUND_CALLS_PER_SECOND 1
#define OUTBOUND_CAP 10
#define OUTBOUND_ALLOW_SIZE 2048

struct outbound_settings {
    const char *db_path;
    const char *public_base_url; /* no trailing slash */
    struct http_client *http;    /* the shared client; outlives the placer */
    int calls_per_second;        /* creates per second for the account, all servers (>= 1) */
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

/* What became of a call the HTTP API asked for (outbound_submit_call). */
struct outbound_call_result {
    int rc;                  /* 0: queued, or the job of the same request under the same key */
    int replayed;            /* rc 0: the Idempotency-Key's first job, nothing added */
    int key_reused;          /* the Idempotency-Key was used within 24 h for another request */
    struct call_check check; /* rc != 0 and not key_reused: why (voice/call_check.h) */
    struct job job;          /* rc 0: the job as stored */
};

/* Called on the placer's thread, exactly once; `res` is borrowed for the call. */
typedef void (*outbound_call_fn)(void *arg, const struct outbound_call_result *res);

/**
 * Hands a call request of `tenant` (copied) to the placer, which checks it
 * against the store (call_check_all, the server's allowlist) and queues it
 * (job_add_idempotent under `idempotency_key`, NULL or "": none; job_add).
 * The same key with the same request within the window gives the first job
 * back, whatever changed since (a time now past, a flow removed). The queue
 * is written on the placer's connection, never on the loop's; it works
 * without Twilio credentials too (the job waits for a placer that has
 * them). `done` is called exactly once when it returns 0. Returns 0,
 * SB_ENOMEM or SB_ECLOSED. Any thread.
 */
SB_MUST_CHECK int outbound_submit_call(struct outbound *o, const char *tenant,
                                       const struct call_request *req, const char *idempotency_key,
                                       outbound_call_fn done, void *arg);

/** Stops the thread (requests in flight are cancelled: their jobs stay placing) and frees. */
void outbound_stop(struct outbound *o);

#endif
