/*
 * When a Twilio REST request may be sent again, and after how long: pure
 * functions, no clock, no state (the random source is passed in); any
 * thread.
 *
 * The decision table (twilio_retry_decide):
 * - A 2xx answer is TWILIO_OUTCOME_OK.
 * - 429, or Twilio's code 20429 under any status (too many concurrent
 *   requests: Twilio did not process the request), is TWILIO_OUTCOME_RETRY
 *   for every kind of request.
 * - A request that never left (connection refused, the host unreachable,
 *   DNS, the TLS handshake) is TWILIO_OUTCOME_RETRY for every kind.
 * - Reads and idempotent writes (GET; an update, a delete) also retry on
 *   5xx, a timeout and a connection that broke before the answer ended.
 * - A create (a new call, a new message) that got a 5xx, timed out, broke
 *   off, was cancelled or got an answer too large once it may have been
 *   sent has an UNKNOWN outcome (TWILIO_OUTCOME_UNKNOWN): Twilio may have
 *   placed the call. Sending it again could call the person twice; the
 *   caller looks the call up first (docs/outbound.md says how) and never
 *   resends it blindly.
 * - Anything else (4xx, 3xx, a request the client refused, a cancelled
 *   read, a read's answer too large) is TWILIO_OUTCOME_FAILED: sending it
 *   again would fail again.
 *
 * The wait (twilio_retry_delay_ms): exponential backoff with full jitter, a
 * uniformly random wait between 0 and min(cap, base * 2^attempt), and at
 * least what Retry-After asks for.
 */
#ifndef SB_TWILIO_RETRY_H
#define SB_TWILIO_RETRY_H

#include <stdint.h>

#include "net/http_client.h"

/* What a request does, for the decision table. */
enum twilio_retry_kind {
    TWILIO_RETRY_READ,   /* GET: fetch, list */
    TWILIO_RETRY_WRITE,  /* an idempotent change: update a call, delete a recording */
    TWILIO_RETRY_CREATE, /* POST that makes a new resource: a call, a message */
};

enum twilio_retry_outcome {
    TWILIO_OUTCOME_OK = 0,  /* done: a 2xx answer */
    TWILIO_OUTCOME_FAILED,  /* final: sending it again would fail again */
    TWILIO_OUTCOME_RETRY,   /* not done, and safe to send again after twilio_retry_delay_ms */
    TWILIO_OUTCOME_UNKNOWN, /* a create that may have happened: look it up, never resend blindly */
};

/* The wait between attempts. */
struct twilio_retry_policy {
    long base_ms;     /* the first retry waits up to this */
    long cap_ms;      /* no backoff ceiling above this */
    int max_retries;  /* retries after the first attempt */
    long max_wait_ms; /* a Retry-After longer than this gives up */
};

/*
 * 250 ms doubling up to 4 s, 4 retries, Retry-After up to 30 s. (twilio-node's
 * optional retries, on 429 and a reset or timed-out connection: 100 ms * 2^n from
 * n = 1, capped at 3 s, 3 retries.)
 */
#define TWILIO_RETRY_POLICY_DEFAULT                                                                \
    {                                                                                              \
        250, 4000, 4, 30000                                                                        \
    }

/**
 * The decision for one answer: `transport` as net/http_client reports it,
 * `status` the HTTP status (0 when no answer came) and `code` Twilio's
 * error code from the body (0 when none). Pure; the table is above.
 */
enum twilio_retry_outcome twilio_retry_decide(enum twilio_retry_kind kind,
                                              enum http_result transport, long status, int code);

/**
 * How long to wait before retry number `attempt` (0 for the first retry):
 * uniformly random in [0, min(cap_ms, base_ms * 2^attempt)] drawn from
 * `rnd(rnd_arg)`, raised to `retry_after_s` seconds when that is larger
 * (-1: no Retry-After). Returns -1 when no retry should follow: `attempt`
 * is max_retries or more, or Retry-After asks for more than max_wait_ms.
 * A NULL policy is TWILIO_RETRY_POLICY_DEFAULT.
 */
long twilio_retry_delay_ms(const struct twilio_retry_policy *policy, int attempt,
                           long retry_after_s, uint64_t (*rnd)(void *rnd_arg), void *rnd_arg);

/**
 * A random source for twilio_retry_delay_ms: the kernel's random bytes
 * (getrandom), any thread, no state; `arg` is unused.
 */
uint64_t twilio_retry_random(void *arg);

/** Plain words: "ok", "failed", "retry", "unknown outcome". */
const char *twilio_retry_outcome_str(enum twilio_retry_outcome o);

#endif
