/*
 * The body of POST /api/v1/calls: a JSON object read into a struct
 * call_request, the HTTP API's spelling of `switchboard calls create`.
 *
 *   {"to": "+15551234567", "from": "+15005550006",
 *    "flow": "desk" | "agent": "front-desk" | "say": "¿Hola {{name}}?",
 *    "at": "2027-03-01T09:30", "amd": false, "retries": 2,
 *    "sms_fallback": true, "name": "José Núñez", "lang": "es-MX"}
 *
 * Only the shape is read here: types, sizes, exactly one of flow, agent
 * and say, no unknown or repeated field. What the values mean (E.164, a
 * flow that exists, a time not past) is voice/call_check's, the one checker
 * the command line uses too. Pure: no store, no clock; any thread.
 *
 * Ownership: struct call_request holds its texts (plain arrays), so it is
 * copied by value (to the placer's thread, for one). call_request_job
 * fills a struct job_request that borrows from it.
 */
#ifndef SB_VOICE_CALL_REQUEST_H
#define SB_VOICE_CALL_REQUEST_H

#include <stddef.h>

#include "core/err.h"
#include "store/jobs.h"
#include "store/store.h"

/* Room for a field's text, with its NUL; longer texts are refused by name. */
#define CALL_NUMBER_SIZE 32 /* past E164_SIZE, so that a long one is named "not E.164" */
#define CALL_AT_SIZE 64
#define CALL_ERROR_SIZE 256

struct call_request {
    char to[CALL_NUMBER_SIZE];
    char from[CALL_NUMBER_SIZE]; /* "": the tenant's first active number */
    enum job_kind kind;
    char target[JOB_TARGET_SIZE]; /* FLOW and AGENT */
    char say[JOB_SAY_MAX + 1];    /* SAY */
    char at[CALL_AT_SIZE];        /* ISO 8601 as given; "": at once */
    int amd;
    int retries;
    int sms_fallback;
    char name[JOB_NAME_SIZE]; /* the contact; "" none */
    char lang[LANG_SIZE];     /* "": the tenant's */
};

/**
 * Reads a request body of `len` bytes (not NUL-terminated). Returns 0;
 * SB_EPARSE when it is not one JSON object in UTF-8 (a repeated key
 * included); SB_EINVAL when a field is unknown, of the wrong type, too long
 * or missing, or not exactly one of flow, agent and say is given. On
 * failure `err` says why in one lower-case line naming the field, and
 * *field (may be NULL) is that field's static name, or NULL when the body
 * as a whole is at fault.
 */
SB_MUST_CHECK int call_request_parse(const char *body, size_t len, struct call_request *out,
                                     const char **field, char *err, size_t errsize);

/**
 * Points `out` at `req`'s texts for `tenant` (borrowed: both must outlive
 * `out`). not_before is 0: the caller resolves `at` (call_check_at).
 */
void call_request_job(const struct call_request *req, const char *tenant, struct job_request *out);

#endif
