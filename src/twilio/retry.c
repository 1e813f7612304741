#include "twilio/retry.h"

#include <stddef.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/banned.h"

/* Failures where the request never reached Twilio: nothing can have happened. */
static int never_sent(enum http_result transport)
{
    return transport == HTTP_ECONNREFUSED || transport == HTTP_EDNS || transport == HTTP_ETLS;
}

enum twilio_retry_outcome twilio_retry_decide(enum twilio_retry_kind kind,
                                              enum http_result transport, long status, int code)
{
    int create = kind == TWILIO_RETRY_CREATE;

    if (transport == HTTP_OK) {
        if (status >= 200 && status < 300)
            return TWILIO_OUTCOME_OK;
        if (status == 429 || code == 20429)
            return TWILIO_OUTCOME_RETRY;
        if (status >= 500)
            return create ? TWILIO_OUTCOME_UNKNOWN : TWILIO_OUTCOME_RETRY;
        if (status <= 0) /* no status with a whole answer: nothing is known */
            return create ? TWILIO_OUTCOME_UNKNOWN : TWILIO_OUTCOME_FAILED;
        return TWILIO_OUTCOME_FAILED;
    }
    if (never_sent(transport))
        return TWILIO_OUTCOME_RETRY;
    switch (transport) {
    case HTTP_ETIMEOUT:
    case HTTP_ECONNECTION:
    case HTTP_EFAILED:
        return create ? TWILIO_OUTCOME_UNKNOWN : TWILIO_OUTCOME_RETRY;
    case HTTP_ECANCELLED:
    case HTTP_ETOOLARGE:
        /* A read gives up (cancelled on purpose, or it would be too large again). */
        return create ? TWILIO_OUTCOME_UNKNOWN : TWILIO_OUTCOME_FAILED;
    case HTTP_EREQUEST: /* refused by the client itself: never sent */
    default:
        return TWILIO_OUTCOME_FAILED;
    }
}

long twilio_retry_delay_ms(const struct twilio_retry_policy *policy, int attempt,
                           long retry_after_s, uint64_t (*rnd)(void *rnd_arg), void *rnd_arg)
{
    static const struct twilio_retry_policy defaults = TWILIO_RETRY_POLICY_DEFAULT;
    const struct twilio_retry_policy *p = policy ? policy : &defaults;
    long ceiling, floor_ms = 0, delay;

    if (attempt < 0 || attempt >= p->max_retries)
        return -1;
    if (retry_after_s > 0) {
        if (retry_after_s > p->max_wait_ms / 1000)
            return -1;
        floor_ms = retry_after_s * 1000;
    }
    ceiling = p->base_ms > 0 ? p->base_ms : 0;
    for (int i = 0; i < attempt && ceiling < p->cap_ms; i++)
        ceiling = ceiling > p->cap_ms / 2 ? p->cap_ms : ceiling * 2;
    if (ceiling > p->cap_ms)
        ceiling = p->cap_ms > 0 ? p->cap_ms : 0;
    delay = rnd ? (long)(rnd(rnd_arg) % ((uint64_t)ceiling + 1)) : ceiling;
    if (floor_ms > p->max_wait_ms)
        return -1;
    return delay > floor_ms ? delay : floor_ms;
}

uint64_t twilio_retry_random(void *arg)
{
    uint64_t v = 0;
    struct timespec ts;

    (void)arg;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
        return v;
    /* No random bytes (a very early boot): the clock still spreads clients apart. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    v = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec;
    return v;
}

const char *twilio_retry_outcome_str(enum twilio_retry_outcome o)
{
    switch (o) {
    case TWILIO_OUTCOME_OK:
        return "ok";
    case TWILIO_OUTCOME_FAILED:
        return "failed";
    case TWILIO_OUTCOME_RETRY:
        return "retry";
    case TWILIO_OUTCOME_UNKNOWN:
        return "unknown outcome";
    }
    return "unknown";
}
