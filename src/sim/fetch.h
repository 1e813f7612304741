/*
 * Fetching a webhook the way Twilio does: a signed POST (form body) or GET
 * (parameters in the query string) with X-Twilio-Signature, a connect
 * timeout, a 15 s total budget, and the checks Twilio applies to the answer.
 * Uses libcurl. Cookies set by the server are sent back on later fetches of
 * the same session.
 */
#ifndef SB_SIM_FETCH_H
#define SB_SIM_FETCH_H

#include <stddef.h>

#include "core/err.h"
#include "core/form.h"

/* Twilio's limits. */
#define SIM_FETCH_MAX_BODY 65536
#define SIM_FETCH_BUDGET_MS 15000

struct sim_fetch_request {
    const char *url;    /* absolute http(s) URL */
    const char *method; /* "POST" (default when NULL) or "GET" */
    const struct form *params;
    const char *token; /* auth token to sign with; NULL sends no signature */
    long budget_ms;    /* total time allowed; 0 means SIM_FETCH_BUDGET_MS */
    int expect_twiml;  /* 1: check Content-Type and size as for TwiML; 0: any 2xx is fine */
};

struct sim_fetch_result {
    long status;            /* HTTP status, 0 when no response */
    char content_type[128]; /* as sent, "" when absent */
    char *body;             /* owned, NUL-terminated, may be NULL */
    size_t len;
    double elapsed_ms;
    /*
     * 0 when the answer is usable; otherwise the Twilio error it would log:
     * 11200 (HTTP retrieval failure: error status, timeout, empty or bad
     * response), 11205 (connection failure), 11750 (body over 64 KiB),
     * 12300 (Content-Type Twilio cannot process).
     */
    int error_code;
    char error[256]; /* lower-case description when error_code != 0 */
};

struct sim_fetcher; /* one per simulated call: holds the curl handle and cookies */

/** Creates a fetcher. Returns 0 or SB_ENOMEM. Free with sim_fetcher_free. */
SB_MUST_CHECK int sim_fetcher_new(struct sim_fetcher **out);

/** Frees a fetcher. NULL is allowed. */
void sim_fetcher_free(struct sim_fetcher *f);

/**
 * Performs one request. Always fills `res` (release with
 * sim_fetch_result_release); returns 0 when a response was judged usable
 * (res->error_code == 0), else SB_EIO.
 */
int sim_fetch(struct sim_fetcher *f, const struct sim_fetch_request *req,
              struct sim_fetch_result *res);

/** Frees the body of a result. */
void sim_fetch_result_release(struct sim_fetch_result *res);

/**
 * Resolves `ref` (absolute, or relative as in a TwiML action attribute)
 * against `base`, the URL of the current document, as Twilio does (RFC 3986).
 * Writes into a new string (free() it); NULL on error.
 */
SB_MUST_CHECK char *sim_url_resolve(const char *base, const char *ref);

/**
 * Writes the host of `url` (lower-case as curl gives it; an IPv6 address
 * in brackets) to `out`, or "app" when `url` is NULL or has none: who
 * speaks in a transcript. Cut to fit `size`.
 */
void sim_url_speaker(const char *url, char *out, size_t size);

#endif
