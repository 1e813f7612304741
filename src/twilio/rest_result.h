/*
 * Reading Twilio's answers: the call, message and recording resources, the
 * pages of a list (with next_page_uri), and Twilio's error document
 * ({"code":21211,"message":"...","more_info":"...","status":400}) turned
 * into one plain line that names the code, with the HTTP status, the
 * Retry-After and the retry outcome (twilio/retry.h) beside it.
 *
 * Pure: twilio_rest_result_read takes the pieces of an answer, so tests and
 * the fuzzer feed it bytes; twilio_rest_result_parse takes a whole
 * net/http_client response. Any bytes are accepted: garbage, a body cut
 * short or JSON of another shape gives a plain error, never a crash.
 *
 * Ownership: a result owns the parsed document; the resources' strings are
 * borrowed from it (NULL when Twilio sent null or left the field out) and
 * live until twilio_rest_result_release. Any thread; no shared state.
 *
 * Numbers: phone numbers inside Twilio's error message ("The 'To' number
 * 5551234567 is not a valid phone number.") are shortened the way
 * core/redact does ("***4567"), so `error` may go to a log line. The
 * resources' `to` and `from` are whole: redact them before logging.
 */
#ifndef SB_TWILIO_REST_RESULT_H
#define SB_TWILIO_REST_RESULT_H

#include <stddef.h>

#include "core/err.h"
#include "net/http_client.h"
#include "twilio/rest.h"
#include "twilio/retry.h"

#define TWILIO_ERROR_SIZE 512

/* A call (create, fetch, update, the items of a list). Dates are RFC 2822 text. */
struct twilio_call {
    const char *sid; /* CA...; never NULL in a result that is OK */
    const char *account_sid;
    const char *parent_call_sid;
    const char *to;
    const char *from;
    const char *status;      /* queued, ringing, in-progress, completed, busy, failed, ... */
    const char *direction;   /* inbound, outbound-api, outbound-dial */
    const char *answered_by; /* human, machine_start, ... with machine detection */
    const char *start_time;
    const char *end_time;
    const char *duration;   /* seconds, as text; NULL until the call ends */
    const char *queue_time; /* milliseconds, as text */
    const char *price;
    const char *price_unit;
    const char *date_created;
    const char *date_updated;
    const char *uri;
};

/* A message (create). */
struct twilio_message {
    const char *sid; /* SM... or MM...; never NULL in a result that is OK */
    const char *account_sid;
    const char *to;
    const char *from;
    const char *messaging_service_sid;
    const char *body;
    const char *status; /* queued, accepted, sending, sent, delivered, failed, ... */
    const char *direction;
    const char *num_segments;
    const char *num_media;
    const char *error_message;
    int error_code; /* 0 when none */
    const char *price;
    const char *date_created;
    const char *date_sent;
    const char *uri;
};

/* A recording (fetch, the items of a list). */
struct twilio_recording {
    const char *sid; /* RE...; never NULL in a result that is OK */
    const char *account_sid;
    const char *call_sid;
    const char *status; /* in-progress, paused, stopped, processing, completed, absent */
    const char *duration;
    const char *source;
    const char *track;
    const char *start_time;
    const char *date_created;
    const char *uri;
    int channels;
    int error_code;
};

struct twilio_rest_result {
    enum twilio_rest_op op;
    enum twilio_retry_outcome outcome; /* OK, or what to do about the failure */
    enum http_result transport;        /* HTTP_OK when an answer came, whatever its status */
    long http_status;                  /* 0 when no answer came */
    int code;                          /* Twilio's error code; 0 when none */
    long retry_after_s;                /* the answer's Retry-After; -1 when absent */
    char error[TWILIO_ERROR_SIZE];     /* "" when OK; else one plain line */
    /* When OK, by operation: */
    struct twilio_call call;           /* CALL_CREATE, CALL_FETCH, CALL_UPDATE */
    struct twilio_message message;     /* MESSAGE_CREATE */
    struct twilio_recording recording; /* RECORDING_FETCH */
    struct twilio_call *calls;         /* CALL_LIST: the page's calls (owned by the result) */
    size_t ncalls;
    struct twilio_recording *recordings; /* RECORDING_LIST */
    size_t nrecordings;
    const char *next_page_uri; /* lists: for twilio_rest_next_page; NULL on the last page */
    void *doc;                 /* private: the parsed answer */
};

/**
 * Reads one answer to `op`: `transport` and `transport_error` (its words,
 * may be NULL) as net/http_client reports them, the HTTP `status`, the
 * `len` bytes of `body` (may hold anything, NULs included) and Retry-After
 * in seconds (-1: none). Fills *out whatever the answer (zeroed first):
 * outcome OK with the resource, or another outcome with `error`:
 *   "twilio error 21211: The 'To' number ***4567 is not a valid phone
 *    number. (HTTP 400)"
 *   "twilio error 20429: Too Many Requests (HTTP 429, Retry-After 2 s)"
 *   "calls.create: no answer from Twilio: timeout (...)"
 *   "calls.fetch: Twilio's answer (HTTP 200) is not JSON"
 * A 2xx answer that cannot be read is not OK: for a create UNKNOWN (it may
 * have happened); for a read or write RETRY when it is not JSON at all (cut
 * short, a proxy's page) and FAILED when it is JSON of another shape (it
 * would come back the same). Returns 0, or SB_ENOMEM (then outcome and
 * error say so too). Release *out with twilio_rest_result_release either
 * way.
 */
SB_MUST_CHECK int twilio_rest_result_read(struct twilio_rest_result *out, enum twilio_rest_op op,
                                          enum http_result transport, long status, const char *body,
                                          size_t len, long retry_after_s,
                                          const char *transport_error);

/** twilio_rest_result_read over a net/http_client response (borrowed, not freed). */
SB_MUST_CHECK int twilio_rest_result_parse(struct twilio_rest_result *out, enum twilio_rest_op op,
                                           const struct http_response *res);

/** Frees what the result owns and zeroes it; a zeroed result is allowed. */
void twilio_rest_result_release(struct twilio_rest_result *r);

/**
 * Twilio's dates ("Tue, 31 Aug 2010 20:36:28 +0000", RFC 2822; the day name
 * is optional) as seconds since 1970 UTC in *epoch. Returns 0, or
 * SB_EPARSE (*epoch untouched).
 */
SB_MUST_CHECK int twilio_rest_date(const char *text, long long *epoch);

#endif
