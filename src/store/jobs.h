/*
 * Outbound calls as a durable job queue. Each requested call is a job:
 *
 *   queued -> placing -> placed -> completed | busy | no-answer | failed | canceled
 *
 * plus `skipped` (the number opted out before the call was placed) and
 * `canceled` (by a person, or with its campaign, before it was placed). A
 * job that ends busy or no-answer with retries left goes back to `queued`
 * after its retry delay. Every transition is one transaction, so a crash
 * leaves each job in exactly one state: a job found `placing` at start-up
 * may or may not have a call behind it, and is resolved by looking the call
 * up (job_list_placing, job_resolve_placing) before anything places it again.
 *
 * Also here: campaigns (jobs imported together, paused and resumed
 * together), the per-tenant do-not-call list (opt-outs), per-tenant API keys
 * (only their SHA-256 is stored) and idempotency keys (24 h).
 *
 * The store keeps no clock for the queue: every function that moves a job
 * takes `now` (unix seconds), so the placer and the tests choose the time.
 * Quiet hours and rate limits are the placer's, not the store's.
 *
 * Like the rest of the store, a connection is used by one thread at a time;
 * several connections (processes, threads) may share one file, and
 * job_claim_due never hands one job to two of them.
 *
 * Ownership: every argument is copied or only read. struct job, struct
 * campaign, struct api_key and struct idempotency are plain structs; the
 * arrays the list functions return are the caller's, freed with
 * job_list_free (or free()). On failure a list's *out is NULL and *n 0.
 * Phone numbers never appear in the messages written to `err`.
 */
#ifndef SB_STORE_JOBS_H
#define SB_STORE_JOBS_H

#include <stddef.h>

#include "core/e164.h"
#include "core/err.h"
#include "store/store.h"

/* Sizes with their NUL; the ..._MAX are in bytes. */
#define JOB_NAME_SIZE 128   /* a contact's name, UTF-8 */
#define JOB_TARGET_SIZE 64  /* a flow's name (FLOW_REF_SIZE) or an agent's (AGENT_SIZE) */
#define JOB_SAY_MAX 1000    /* the text of a JOB_KIND_SAY call, UTF-8 */
#define JOB_ERROR_SIZE 256  /* why a job failed or was skipped */
#define ANSWERED_BY_SIZE 32 /* Twilio's AnsweredBy: "human", "machine_start", ... */
#define JOB_MAX_RETRIES 10
#define JOB_RETRY_DELAY_DEFAULT_S 600
#define JOB_RETRY_DELAY_MAX_S 86400
#define CAMPAIGN_NAME_SIZE 64
#define CAMPAIGN_IMPORT_MAX 100000 /* jobs in one campaign_import */
#define JOB_HASH_SIZE 65           /* SHA-256 in lower-case hex, with its NUL */
/* An API key's secret: "sb_" and 64 hex digits (32 random bytes), with its NUL. */
#define API_KEY_SECRET_SIZE 68
#define API_KEY_PREFIX_SIZE 12 /* its first 11 characters, for lists: "sb_1a2b3c4d" */
#define API_KEY_NAME_SIZE 64   /* a name for people, UTF-8 */
#define IDEMPOTENCY_KEY_SIZE 256
#define IDEMPOTENCY_WINDOW_S 86400

/* What the called person gets. */
enum job_kind {
    JOB_KIND_FLOW,  /* an IVR flow of the tenant: target names it */
    JOB_KIND_AGENT, /* an agent of the tenant: target names it */
    JOB_KIND_SAY,   /* a plain message: say_text, "{{name}}" filled in from the contact */
};

enum job_status {
    JOB_QUEUED,
    JOB_PLACING, /* a create request may be in flight: never placed again without a lookup */
    JOB_PLACED,  /* Twilio took it: call_sid is known */
    JOB_COMPLETED,
    JOB_BUSY,
    JOB_NO_ANSWER,
    JOB_FAILED,
    JOB_CANCELED,
    JOB_SKIPPED, /* the number opted out */
};

#define JOB_STATUS_COUNT 9

/** "flow", "agent", "say" ("unknown" for another value). */
const char *job_kind_name(enum job_kind k);
/** Parses a kind name. Returns 0 or SB_EINVAL. */
SB_MUST_CHECK int job_kind_parse(const char *s, enum job_kind *out);

/** Reads a job id as URLs carry it: 1 to 18 digits, not 0. Returns 0 or SB_EINVAL. */
SB_MUST_CHECK int job_id_parse(const char *s, long long *id);
/** "queued", "placing", "placed", "completed", "busy", "no-answer", "failed", "canceled",
 * "skipped". */
const char *job_status_name(enum job_status st);
/** Parses a status name. Returns 0 or SB_EINVAL. */
SB_MUST_CHECK int job_status_parse(const char *s, enum job_status *out);
/** True for the statuses a job never leaves (completed ... skipped). */
int job_status_final(enum job_status st);

/* A call to place, as the CLI, a campaign file or the HTTP API asks for it. */
struct job_request {
    const char *tenant;
    long long campaign_id;    /* 0: none; else a campaign of the same tenant */
    const char *to;           /* E.164 */
    const char *from;         /* E.164; NULL or "": the tenant's first active number */
    const char *contact_name; /* NULL or "": none; UTF-8, under JOB_NAME_SIZE bytes */
    const char *lang;         /* NULL or "": the tenant's default; a language tag ("es-MX") */
    enum job_kind kind;
    const char *target;   /* FLOW and AGENT: the name; must be NULL or "" for SAY */
    const char *say_text; /* SAY: 1 to JOB_SAY_MAX bytes of UTF-8; NULL or "" otherwise */
    long long not_before; /* unix seconds (--at); 0: at once */
    int max_retries;      /* 0 to JOB_MAX_RETRIES more attempts after busy or no-answer */
    int retry_delay_s;    /* 0: JOB_RETRY_DELAY_DEFAULT_S; at most JOB_RETRY_DELAY_MAX_S */
    int amd;              /* ask Twilio for answering machine detection */
    int sms_fallback;     /* text the tenant's template when the job ends unreached */
};

struct job {
    long long id;
    char tenant[TENANT_NAME_SIZE];
    long long campaign_id; /* 0: none */
    char to[E164_SIZE];
    char from[E164_SIZE]; /* "": the tenant's first active number */
    char contact_name[JOB_NAME_SIZE];
    char lang[LANG_SIZE];
    enum job_kind kind;
    char target[JOB_TARGET_SIZE];
    char say_text[JOB_SAY_MAX + 1];
    long long not_before;
    enum job_status status;
    int attempts; /* how many times it was claimed for placing */
    int max_retries;
    int retry_delay_s;
    long long next_attempt_at;
    char call_sid[CALL_SID_SIZE]; /* the current attempt's call; "" before it is placed */
    char answered_by[ANSWERED_BY_SIZE];
    int amd;
    int sms_fallback;
    int sms_sent;
    char error[JOB_ERROR_SIZE];
    long long created_at;
    long long updated_at;
    long long placing_since; /* when the current attempt was claimed; 0 before */
};

/** Frees a list of jobs (or of campaigns, keys: any list below). NULL is allowed. */
void job_list_free(void *list);

/**
 * Checks a request as job_add does, without a store: E.164 numbers, kind and
 * target, the UTF-8 and sizes of the texts, the retry settings. Returns 0;
 * SB_EINVAL or SB_ETOOBIG (an oversized text) with a reason in `err`.
 */
SB_MUST_CHECK int job_request_check(const struct job_request *r, char *err, size_t errsize);

/**
 * job_request_check that also names the field at fault: *field (may be
 * NULL) is a static name as the HTTP API spells it ("to", "from", "name",
 * "lang", "flow", "agent", "say", "at", "retries", ...), or NULL when the
 * request is valid or no field is to blame.
 */
SB_MUST_CHECK int job_request_check_field(const struct job_request *r, const char **field,
                                          char *err, size_t errsize);

/**
 * The SHA-256 (lower-case hex) of what a request asks for, every field
 * included, independent of how it was spelt on the wire: two requests with
 * the same hash place the same call. Returns 0, SB_EINVAL or SB_ENOMEM.
 */
SB_MUST_CHECK int job_request_hash(const struct job_request *r, char out[JOB_HASH_SIZE]);

/**
 * Queues a job (status queued, due at max(not_before, now)). *id receives
 * its id. Returns 0; what job_request_check returns; SB_ENOTFOUND when the
 * tenant or the campaign does not exist (or the campaign is another
 * tenant's); SB_ECLOSED when the campaign is canceled.
 */
SB_MUST_CHECK int job_add(struct store *s, const struct job_request *r, long long now,
                          long long *id, char *err, size_t errsize);

/**
 * job_add under an Idempotency-Key, in one transaction: when the tenant
 * used `key` within IDEMPOTENCY_WINDOW_S for the same request
 * (job_request_hash), nothing is added, *id is that job and *replayed 1;
 * else the job is added, the key recorded and *replayed 0. Returns what
 * job_add returns; SB_EEXISTS when the key was used for another request in
 * the window; SB_EINVAL for a key that is not 1 to IDEMPOTENCY_KEY_SIZE-1
 * visible ASCII characters.
 */
SB_MUST_CHECK int job_add_idempotent(struct store *s, const struct job_request *r, const char *key,
                                     long long now, long long *id, int *replayed, char *err,
                                     size_t errsize);

/** Reads one job. SB_ENOTFOUND when absent. */
SB_MUST_CHECK int job_get(struct store *s, long long id, struct job *out);

/** Reads the job that placed `call_sid` (now or in an earlier attempt). SB_ENOTFOUND when none. */
SB_MUST_CHECK int job_get_by_call(struct store *s, const char *call_sid, struct job *out);

/* Which jobs job_list returns. */
struct job_filter {
    const char *tenant;    /* NULL or "": every tenant */
    long long campaign_id; /* 0: any */
    int status;            /* an enum job_status, or -1 for any */
    size_t limit;          /* at most this many; 0: none */
};

/** Lists jobs, newest first. */
SB_MUST_CHECK int job_list(struct store *s, const struct job_filter *f, struct job **out,
                           size_t *n);

/**
 * Claims the jobs due at `now`, at most `limit`, in one write transaction
 * (BEGIN IMMEDIATE): a queued job whose not_before and next_attempt_at have
 * come, alone or in an active campaign. One whose number opted out becomes
 * `skipped` instead. The others become `placing` (placing_since = now,
 * attempts + 1), oldest due first, while their tenant has fewer than
 * `cap` jobs placing or placed (0: no cap). Two connections claiming at the
 * same time never both get one job. *out is the claimed jobs, by id.
 * Must not be called inside an open transaction (SB_EBUSY).
 */
SB_MUST_CHECK int job_claim_due(struct store *s, long long now, size_t limit, int cap,
                                struct job **out, size_t *n);

/**
 * Records that Twilio took a claimed job's call: placing -> placed with
 * `call_sid`, and logs the call (direction outbound-api, this job) in the
 * call log. `from` is the number it was placed from (NULL: the job's).
 * Returns 0 (also when the job is already placed with this call_sid);
 * SB_ENOTFOUND; SB_EBUSY when the job is not placing; SB_EEXISTS when
 * `call_sid` belongs to another job; SB_EINVAL for an empty call_sid.
 */
SB_MUST_CHECK int job_placed(struct store *s, long long id, const char *call_sid, const char *from,
                             long long now);

/* What a status callback or a release did to its job. */
enum job_outcome {
    JOB_OUTCOME_NONE,     /* nothing: not a final status, a duplicate, an earlier attempt's call */
    JOB_OUTCOME_RETRYING, /* busy or no-answer with retries left: queued again */
    JOB_OUTCOME_FINAL,    /* the job ended with `status` */
};

struct job_update {
    enum job_outcome outcome;
    long long job_id;
    enum job_status status;    /* the job's status after the call */
    long long next_attempt_at; /* RETRYING: when it is due again */
    /*
     * FINAL busy, no-answer or failed, with the SMS fallback asked for, not
     * yet sent, and the number not opted out: send it, then
     * job_mark_sms_sent.
     */
    int sms_due;
};

/**
 * Applies a call status (Twilio's CallStatus) to the job whose call it is.
 * `job_id` is the job the callback's URL names (0: unknown): a job still
 * placing takes `call_sid` first, since a callback can beat the answer to
 * the create. A final status (completed, busy, no-answer, failed,
 * canceled) ends the attempt: busy and no-answer with attempts <=
 * max_retries queue the job again at now + retry_delay_s; anything else
 * makes the status the job's. Other statuses (queued, initiated, ringing,
 * in-progress, answered) change nothing but `answered_by`, which is
 * recorded whenever it is not NULL or "". A repeated callback, or one for
 * an earlier attempt, is JOB_OUTCOME_NONE. Returns 0; SB_ENOTFOUND when no
 * job has the call; SB_EINVAL for an unknown status.
 */
SB_MUST_CHECK int job_status_by_call(struct store *s, long long job_id, const char *call_sid,
                                     const char *status, const char *answered_by, long long now,
                                     struct job_update *out);

/**
 * Gives back a claimed job whose create failed for sure (Twilio refused it,
 * or it was never sent): `retry_at` > 0 queues it again, due then, and the
 * attempt does not count; 0 makes it `failed` for good. `reason` (may be
 * NULL) goes to its error. *out says which (may be NULL). Returns 0;
 * SB_ENOTFOUND; SB_EBUSY when the job is not placing.
 */
SB_MUST_CHECK int job_release_placing(struct store *s, long long id, long long retry_at,
                                      const char *reason, long long now, struct job_update *out);

/** The jobs left placing (after a crash: resolve each before placing anything), newest first. */
SB_MUST_CHECK int job_list_placing(struct store *s, struct job **out, size_t *n);

/**
 * Resolves a job found placing after a restart, from the lookup of its call:
 * `call_sid` found -> placed with it (as job_placed); NULL -> queued again,
 * due at once, the attempt not counted. Returns what job_placed returns
 * (SB_EEXISTS: the call found is another job's, so it is not this one's).
 */
SB_MUST_CHECK int job_resolve_placing(struct store *s, long long id, const char *call_sid,
                                      const char *from, long long now);

/**
 * Cancels a queued job. Returns 0; SB_ENOTFOUND; SB_EBUSY while it is
 * placing or placed (its call is up to Twilio); SB_ECLOSED when it has ended.
 */
SB_MUST_CHECK int job_cancel(struct store *s, long long id, long long now);

/**
 * Marks a job's SMS fallback sent. *already is 1 when it was marked before
 * (do not send again), 0 when this call marked it. Returns 0 or SB_ENOTFOUND.
 */
SB_MUST_CHECK int job_mark_sms_sent(struct store *s, long long id, int *already);

/* Campaigns: jobs imported together. */
enum campaign_status { CAMPAIGN_ACTIVE, CAMPAIGN_PAUSED, CAMPAIGN_CANCELED };

/** "active", "paused", "canceled" ("unknown" for another value). */
const char *campaign_status_name(enum campaign_status st);
/** Parses a campaign status name. Returns 0 or SB_EINVAL. */
SB_MUST_CHECK int campaign_status_parse(const char *s, enum campaign_status *out);

struct campaign {
    long long id;
    char tenant[TENANT_NAME_SIZE];
    char name[CAMPAIGN_NAME_SIZE];
    enum campaign_status status;
    long long created_at;
    long long updated_at;
    long long total;                    /* its jobs */
    long long counts[JOB_STATUS_COUNT]; /* its jobs by enum job_status */
};

/**
 * Adds a campaign (active). `name`: 1 to CAMPAIGN_NAME_SIZE-1 bytes of UTF-8
 * without control characters, unique within the tenant. Returns 0;
 * SB_EINVAL; SB_EEXISTS; SB_ENOTFOUND when the tenant does not exist.
 */
SB_MUST_CHECK int campaign_add(struct store *s, const char *tenant, const char *name, long long now,
                               long long *id);

/** Reads a campaign with its counts. SB_ENOTFOUND when absent. */
SB_MUST_CHECK int campaign_get(struct store *s, long long id, struct campaign *out);

/** Lists the campaigns of a tenant (NULL or "": all) with their counts, newest first. */
SB_MUST_CHECK int campaign_list(struct store *s, const char *tenant, struct campaign **out,
                                size_t *n);

/**
 * Pauses (its jobs wait), resumes or cancels a campaign; canceling cancels
 * its queued jobs in the same transaction (those placing or placed finish).
 * Returns 0; SB_ENOTFOUND; SB_ECLOSED when it is canceled already.
 */
SB_MUST_CHECK int campaign_set_status(struct store *s, long long id, enum campaign_status st,
                                      long long now);

/**
 * Adds `n` jobs (1 to CAMPAIGN_IMPORT_MAX) to a campaign in one
 * transaction: all or none. Each request is checked as by job_add; its
 * tenant and campaign_id are the campaign's whatever they say. On a bad
 * request nothing is added, *bad (may be NULL) is its index and `err` says
 * "row N: ..." (N from 1). Returns 0 or what job_add returns.
 */
SB_MUST_CHECK int campaign_import(struct store *s, long long campaign_id,
                                  const struct job_request *reqs, size_t n, long long now,
                                  size_t *bad, char *err, size_t errsize);

/**
 * Adds (`on`) or removes a number from a tenant's do-not-call list (STOP /
 * START). An opted-out number is never called (job_claim_due skips its
 * jobs) nor texted (sms_due). Returns 0; SB_EINVAL for a number that is not
 * E.164; SB_ENOTFOUND when the tenant does not exist.
 */
SB_MUST_CHECK int optout_set(struct store *s, const char *tenant, const char *number, int on,
                             long long now);

/** *out = 1 when `number` opted out of the tenant, else 0. Returns 0 or SB_EINVAL. */
/**
 * Marks the SMS fallback of inbound call `call_sid` (its transfer to a
 * person failed) as texted: *already is 0 for the first marker, 1 after.
 * Returns 0, SB_EINVAL, SB_ENOTFOUND (no such tenant) or a store error.
 */
SB_MUST_CHECK int transfer_text_mark(struct store *s, const char *tenant, const char *call_sid,
                                     long long now, int *already);

SB_MUST_CHECK int optout_check(struct store *s, const char *tenant, const char *number, int *out);

/* An API key as listed: never its secret. */
struct api_key {
    long long id;
    char tenant[TENANT_NAME_SIZE];
    char prefix[API_KEY_PREFIX_SIZE];
    char name[API_KEY_NAME_SIZE]; /* "": none */
    long long created_at;
    int revoked;
};

/**
 * Makes an API key for a tenant: a secret of 32 random bytes (OpenSSL's
 * RAND_bytes) written to `secret`, shown this once; the store keeps only its
 * SHA-256, its prefix and its `name` (NULL or "": none; UTF-8 under
 * API_KEY_NAME_SIZE bytes, no control characters). *id (may be NULL)
 * receives the key's id. Returns 0; SB_EINVAL for a bad name; SB_ENOTFOUND
 * when the tenant does not exist; SB_EIO when no random bytes could be had.
 * On failure `secret` is "".
 */
SB_MUST_CHECK int api_key_create(struct store *s, const char *tenant, const char *name,
                                 long long now, char secret[API_KEY_SECRET_SIZE], long long *id);

/**
 * Finds the tenant of a presented secret: writes it to `tenant` and the
 * key's id to *id (may be NULL). Returns 0; SB_ENOTFOUND for an unknown,
 * revoked or malformed secret.
 */
SB_MUST_CHECK int api_key_verify(struct store *s, const char *secret, char tenant[TENANT_NAME_SIZE],
                                 long long *id);

/** Revokes a tenant's key. Returns 0 or SB_ENOTFOUND (also for another tenant's key). */
SB_MUST_CHECK int api_key_revoke(struct store *s, const char *tenant, long long id);

/** Lists a tenant's keys (NULL or "": all), oldest first. */
SB_MUST_CHECK int api_key_list(struct store *s, const char *tenant, struct api_key **out,
                               size_t *n);

/* An Idempotency-Key as recorded. */
struct idempotency {
    char tenant[TENANT_NAME_SIZE];
    char key[IDEMPOTENCY_KEY_SIZE];
    long long job_id;
    char request_hash[JOB_HASH_SIZE];
    long long created_at;
};

/**
 * Reads a tenant's key when it was recorded within IDEMPOTENCY_WINDOW_S of
 * `now`. Returns 0; SB_ENOTFOUND (never recorded, or expired); SB_EINVAL.
 */
SB_MUST_CHECK int idempotency_get(struct store *s, const char *tenant, const char *key,
                                  long long now, struct idempotency *out);

/**
 * Records a tenant's key for a job; an expired record of the key is
 * replaced. `request_hash` is 64 lower-case hex digits (job_request_hash).
 * Returns 0; SB_EEXISTS when the key is recorded within the window; SB_EINVAL.
 */
SB_MUST_CHECK int idempotency_put(struct store *s, const char *tenant, const char *key,
                                  const char *request_hash, long long job_id, long long now);

/*
 * A rate shared by every process on one store: the placer takes a slot
 * before each create, so that the servers sharing a database together
 * create at most `limit` calls in any RATE_WINDOW_MS for a Twilio account.
 * Slots are times in wall-clock milliseconds, which every process reads
 * from its own clock: servers on several hosts keep their clocks in step
 * (NTP); a slot more than RATE_WINDOW_MS ahead of the taker's clock, left
 * by a clock set back, is forgotten rather than waited for.
 */
#define RATE_KEY_SIZE 128 /* with its NUL: "calls:" and an account SID */
#define RATE_WINDOW_MS 1000

/**
 * Takes one slot of `key` when fewer than `limit` (>= 1) were taken in the
 * window (now_ms - RATE_WINDOW_MS, now_ms], counting every connection to the
 * store (every process sharing it), in one short transaction of its own:
 * two takers never both get the last slot. Slots up to RATE_WINDOW_MS ahead
 * of now_ms (a clock a moment ahead) count as well; older than two windows
 * they are deleted as others are taken. So any RATE_WINDOW_MS holds at most
 * `limit` slots while the takers' clocks agree within RATE_WINDOW_MS.
 * Returns 0 with *wait_ms = 0 when the slot is taken; 0 with *wait_ms > 0,
 * how many milliseconds until a slot frees, when none is left (nothing is
 * taken). `now_ms` is read just before the call; `key` is 1 to
 * RATE_KEY_SIZE-1 visible ASCII characters.
 * Returns SB_EINVAL; SB_EBUSY inside an open transaction (a slot would be
 * held back until its commit); or the store's failure, with nothing taken.
 */
SB_MUST_CHECK int rate_take(struct store *s, const char *key, long long now_ms, int limit,
                            long long *wait_ms);

/** True when a job whose attempt ended `status` is tried again: busy or no answer, retries left. */
int job_retried_after(const struct job *j, enum job_status status);

/**
 * True when a job that ends `status` texts the tenant's SMS fallback: it
 * asked for one, none went yet, and the call was not reached (busy, no
 * answer, failed). The number's opt-out is the store's to check.
 */
int job_sms_wanted(const struct job *j, enum job_status status);

#endif
