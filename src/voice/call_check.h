/*
 * The one checker of a request for an outbound call, whoever asks for it:
 * `switchboard calls create`, each row of `campaigns import`, and the HTTP
 * API (POST /api/v1/calls). Each check fills a struct call_check with a
 * verdict, the field at fault, a short code and one lower-case line naming
 * the thing; the command line turns the verdict into its exit status, the
 * API into an HTTP status. The checks, in the order call_check_all runs
 * them:
 *
 *   fields   E.164 numbers, kind and target, texts and sizes, `at`'s shape
 *   allowed  SWITCHBOARD_OUTBOUND_ALLOW (the caller passes the list)
 *   tenant   the tenant, its flow or agent, `from` one of its numbers (or
 *            an active number to call from)
 *   at       the time in the tenant's zone, not more than a minute past
 *   optout   the number has not opted out (STOP) of the tenant
 *
 * Messages name a field the caller's way: `--to '+1555'` on the command
 * line (CALL_NAMES_FLAGS), `'to'` in the API and a CSV row
 * (CALL_NAMES_FIELDS). They may quote the numbers asked for (the asker's
 * own input); they are not meant for logs.
 *
 * The store is only read, on the caller's connection and thread. Every
 * argument is borrowed or copied; nothing is allocated but by call_job_json.
 */
#ifndef SB_VOICE_CALL_CHECK_H
#define SB_VOICE_CALL_CHECK_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"
#include "store/jobs.h"
#include "store/store.h"

/* How far in the past `at` may be: a time typed a moment ago still counts as now. */
#define CALL_AT_PAST_SLACK_S 60
#define CALL_CHECK_MESSAGE_SIZE 320

enum call_names {
    CALL_NAMES_FLAGS,  /* --to '+1555' */
    CALL_NAMES_FIELDS, /* 'to' */
};

enum call_verdict {
    CALL_OK,
    CALL_INVALID,     /* a value that cannot be read: usage (exit 2), HTTP 400 */
    CALL_REFUSED,     /* readable, not accepted (an unknown flow, a time past): exit 1, HTTP 422 */
    CALL_OPTED_OUT,   /* the number opted out of the tenant: exit 1, HTTP 409 */
    CALL_UNAVAILABLE, /* the store or the server's settings failed: exit 1, HTTP 503 */
};

struct call_check {
    enum call_verdict verdict;
    const char *field; /* static: "to", "at", ...; NULL when no one field is at fault */
    const char *code;  /* static: "invalid_field", "unknown_flow", "opted_out", ... */
    char message[CALL_CHECK_MESSAGE_SIZE];
};

/**
 * The fields alone, without a store: what job_request_check checks, `to`
 * and `from` named the caller's way, and the shape of `at` (NULL or "":
 * none). Returns 0, or SB_EINVAL with *out saying why (CALL_INVALID).
 */
SB_MUST_CHECK int call_check_fields(const struct job_request *r, const char *at,
                                    enum call_names names, struct call_check *out);

/**
 * `to` against an allowlist (comma-separated E.164 numbers; NULL or "":
 * any number). Returns 0; SB_EINVAL when it is not listed (CALL_REFUSED,
 * "not_allowed") or the list holds something that is not E.164
 * (CALL_UNAVAILABLE).
 */
SB_MUST_CHECK int call_check_allowed(const char *allow, const char *to, struct call_check *out);

/**
 * Reads the tenant into *tenant (may be NULL) and checks its flow or agent
 * and `from`. Returns 0; SB_ENOTFOUND (CALL_REFUSED: no such tenant, flow,
 * agent, a `from` not the tenant's, no active number); the store's error
 * (CALL_UNAVAILABLE).
 */
SB_MUST_CHECK int call_check_tenant(struct store *s, const struct job_request *r,
                                    enum call_names names, struct tenant *tenant,
                                    struct call_check *out);

/**
 * Resolves `at` (NULL or "": 0, at once) to unix seconds in *not_before:
 * with an offset it is absolute, without one local time in `zone` (IANA;
 * NULL or "": UTC). With `now` > 0 a time more than CALL_AT_PAST_SLACK_S
 * before it is refused. Returns 0; SB_EINVAL (CALL_INVALID: not ISO 8601;
 * CALL_REFUSED: in the past or a zone this system does not know).
 */
SB_MUST_CHECK int call_check_at(const char *at, const char *zone, long long now,
                                enum call_names names, long long *not_before,
                                struct call_check *out);

/**
 * Whether `to` opted out of the tenant. Returns 0; SB_EEXISTS
 * (CALL_OPTED_OUT); the store's error (CALL_UNAVAILABLE).
 */
SB_MUST_CHECK int call_check_optout(struct store *s, const char *tenant, const char *to,
                                    struct call_check *out);

/**
 * Every check above in order; sets r->not_before from `at`. Returns 0 or
 * the first failing check's code, with *out saying why.
 */
SB_MUST_CHECK int call_check_all(struct store *s, struct job_request *r, const char *at,
                                 const char *allow, long long now, enum call_names names,
                                 struct call_check *out);

/**
 * Parses an ISO 8601 time ("2026-03-01T09:30[:SS[.fff]]", 'T' or a space,
 * then nothing, "Z" or an offset "+02:00") into unix seconds. Without an
 * offset it is local time in `zone` (IANA; NULL or "": UTC). Returns 0; -1
 * when it is not such a time; -2 when the zone is unknown.
 */
int call_parse_at(const char *s, const char *zone, long long *out);

/** "2026-03-01T09:30:00Z" for unix seconds `t` > 0, else "". Returns `out`. */
const char *call_iso_time(long long t, char *out, size_t size);

/**
 * A job as JSON, its numbers whole: what `calls job ID --json` prints and
 * the HTTP API answers. The caller owns the object (json_decref); NULL when
 * out of memory.
 */
json_t *call_job_json(const struct job *j);

#endif
