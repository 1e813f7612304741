/* Tests of src/twilio/retry.c: the decision table and the backoff's bounds. */
#include <criterion/criterion.h>

#include <limits.h>
#include <stdint.h>

#include "net/http_client.h"
#include "twilio/rest.h"
#include "twilio/retry.h"

#define OK TWILIO_OUTCOME_OK
#define FAILED TWILIO_OUTCOME_FAILED
#define RETRY TWILIO_OUTCOME_RETRY
#define UNKNOWN TWILIO_OUTCOME_UNKNOWN

/* One row: what happened, and the outcome for a read, a write and a create. */
struct row {
    enum http_result transport;
    long status;
    int code;
    enum twilio_retry_outcome read, write, create;
};

static const struct row table[] = {
    /* Answers. */
    {HTTP_OK, 200, 0, OK, OK, OK},
    {HTTP_OK, 201, 0, OK, OK, OK},
    {HTTP_OK, 204, 0, OK, OK, OK},
    {HTTP_OK, 301, 0, FAILED, FAILED, FAILED},
    {HTTP_OK, 400, 21211, FAILED, FAILED, FAILED},
    {HTTP_OK, 401, 20003, FAILED, FAILED, FAILED},
    {HTTP_OK, 404, 20404, FAILED, FAILED, FAILED},
    {HTTP_OK, 409, 0, FAILED, FAILED, FAILED},
    /* Too many requests: never processed, so even a create goes again. */
    {HTTP_OK, 429, 20429, RETRY, RETRY, RETRY},
    {HTTP_OK, 429, 0, RETRY, RETRY, RETRY},
    {HTTP_OK, 503, 20429, RETRY, RETRY, RETRY},
    {HTTP_OK, 400, 20429, RETRY, RETRY, RETRY},
    /* Twilio's side failed: a create may have happened. */
    {HTTP_OK, 500, 20500, RETRY, RETRY, UNKNOWN},
    {HTTP_OK, 502, 0, RETRY, RETRY, UNKNOWN},
    {HTTP_OK, 503, 0, RETRY, RETRY, UNKNOWN},
    {HTTP_OK, 504, 0, RETRY, RETRY, UNKNOWN},
    /* Never sent. */
    {HTTP_ECONNREFUSED, 0, 0, RETRY, RETRY, RETRY},
    {HTTP_EDNS, 0, 0, RETRY, RETRY, RETRY},
    {HTTP_ETLS, 0, 0, RETRY, RETRY, RETRY},
    /* Sent, or perhaps sent: no answer. */
    {HTTP_ETIMEOUT, 0, 0, RETRY, RETRY, UNKNOWN},
    {HTTP_ECONNECTION, 0, 0, RETRY, RETRY, UNKNOWN},
    {HTTP_EFAILED, 0, 0, RETRY, RETRY, UNKNOWN},
    {HTTP_ECANCELLED, 0, 0, FAILED, FAILED, UNKNOWN},
    {HTTP_ETOOLARGE, 200, 0, FAILED, FAILED, UNKNOWN},
    /* Refused by the client itself. */
    {HTTP_EREQUEST, 0, 0, FAILED, FAILED, FAILED},
};

Test(retry, decision_table)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const struct row *r = &table[i];

        cr_expect_eq(twilio_retry_decide(TWILIO_RETRY_READ, r->transport, r->status, r->code),
                     r->read, "row %zu (%s, %ld, %d): read", i, http_result_str(r->transport),
                     r->status, r->code);
        cr_expect_eq(twilio_retry_decide(TWILIO_RETRY_WRITE, r->transport, r->status, r->code),
                     r->write, "row %zu (%s, %ld, %d): write", i, http_result_str(r->transport),
                     r->status, r->code);
        cr_expect_eq(twilio_retry_decide(TWILIO_RETRY_CREATE, r->transport, r->status, r->code),
                     r->create, "row %zu (%s, %ld, %d): create", i, http_result_str(r->transport),
                     r->status, r->code);
    }
}

Test(retry, every_status_of_a_create)
{
    /* A create is never sent again after a 5xx of any kind, nor after 4xx but 429. */
    for (long s = 100; s < 600; s++) {
        enum twilio_retry_outcome o = twilio_retry_decide(TWILIO_RETRY_CREATE, HTTP_OK, s, 0);

        if (s >= 200 && s < 300)
            cr_expect_eq(o, OK, "%ld", s);
        else if (s == 429)
            cr_expect_eq(o, RETRY, "%ld", s);
        else if (s >= 500)
            cr_expect_eq(o, UNKNOWN, "%ld", s);
        else
            cr_expect_eq(o, FAILED, "%ld", s);
    }
}

Test(retry, operations_have_their_kind)
{
    cr_expect_eq(twilio_rest_op_kind(TWILIO_CALL_CREATE), TWILIO_RETRY_CREATE);
    cr_expect_eq(twilio_rest_op_kind(TWILIO_MESSAGE_CREATE), TWILIO_RETRY_CREATE);
    cr_expect_eq(twilio_rest_op_kind(TWILIO_CALL_UPDATE), TWILIO_RETRY_WRITE);
    cr_expect_eq(twilio_rest_op_kind(TWILIO_RECORDING_DELETE), TWILIO_RETRY_WRITE);
    cr_expect_eq(twilio_rest_op_kind(TWILIO_CALL_FETCH), TWILIO_RETRY_READ);
    cr_expect_eq(twilio_rest_op_kind(TWILIO_CALL_LIST), TWILIO_RETRY_READ);
    cr_expect_eq(twilio_rest_op_kind(TWILIO_RECORDING_LIST), TWILIO_RETRY_READ);
    cr_expect_eq(twilio_rest_op_kind(TWILIO_RECORDING_FETCH), TWILIO_RETRY_READ);
    /* Anything unknown is handled as carefully as a create. */
    cr_expect_eq(twilio_rest_op_kind((enum twilio_rest_op)99), TWILIO_RETRY_CREATE);
    cr_expect_str_eq(twilio_retry_outcome_str(UNKNOWN), "unknown outcome");
}

/* Random sources for the tests. */
static uint64_t zero(void *arg)
{
    (void)arg;
    return 0;
}

static uint64_t all_ones(void *arg)
{
    (void)arg;
    return UINT64_MAX;
}

static uint64_t counter(void *arg)
{
    uint64_t *n = arg;
    return (*n)++;
}

static uint64_t xorshift(void *arg)
{
    uint64_t *s = arg;

    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

Test(retry, backoff_stays_within_full_jitter_bounds)
{
    const struct twilio_retry_policy p = {100, 3000, 8, 30000};
    const long ceilings[] = {100, 200, 400, 800, 1600, 3000, 3000, 3000};
    uint64_t state = 0x9E3779B97F4A7C15ull;

    for (int a = 0; a < 8; a++) {
        long lo = LONG_MAX, hi = -1;

        for (int i = 0; i < 20000; i++) {
            long d = twilio_retry_delay_ms(&p, a, -1, xorshift, &state);

            cr_assert(d >= 0 && d <= ceilings[a], "attempt %d: %ld", a, d);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* Full jitter: the waits spread over the whole range. */
        cr_expect_lt(lo, ceilings[a] / 10 + 1, "attempt %d: lowest %ld", a, lo);
        cr_expect_gt(hi, ceilings[a] * 9 / 10, "attempt %d: highest %ld", a, hi);
    }
}

Test(retry, backoff_reaches_exactly_its_ceiling)
{
    const struct twilio_retry_policy p = {250, 4000, 6, 30000};
    const long ceilings[] = {250, 500, 1000, 2000, 4000, 4000};

    for (int a = 0; a < 6; a++) {
        uint64_t n = 0;
        long hi = -1;

        cr_expect_eq(twilio_retry_delay_ms(&p, a, -1, zero, NULL), 0);
        for (long i = 0; i <= ceilings[a]; i++) {
            long d = twilio_retry_delay_ms(&p, a, -1, counter, &n);
            hi = d > hi ? d : hi;
        }
        cr_expect_eq(hi, ceilings[a], "attempt %d", a);
        cr_expect_leq(twilio_retry_delay_ms(&p, a, -1, all_ones, NULL), ceilings[a]);
    }
}

Test(retry, attempts_run_out)
{
    const struct twilio_retry_policy p = {100, 1000, 3, 30000};

    cr_expect_geq(twilio_retry_delay_ms(&p, 2, -1, zero, NULL), 0);
    cr_expect_eq(twilio_retry_delay_ms(&p, 3, -1, zero, NULL), -1);
    cr_expect_eq(twilio_retry_delay_ms(&p, 100, -1, zero, NULL), -1);
    cr_expect_eq(twilio_retry_delay_ms(&p, -1, -1, zero, NULL), -1);
}

Test(retry, retry_after_is_a_floor_and_too_long_gives_up)
{
    const struct twilio_retry_policy p = {100, 1000, 5, 30000};

    cr_expect_eq(twilio_retry_delay_ms(&p, 0, 2, zero, NULL), 2000);
    cr_expect_eq(twilio_retry_delay_ms(&p, 0, 0, zero, NULL), 0);
    /* A jittered wait longer than Retry-After stands. */
    cr_expect_eq(twilio_retry_delay_ms(&(struct twilio_retry_policy){5000, 5000, 5, 30000}, 0, 1,
                                       all_ones, NULL),
                 (long)(UINT64_MAX % 5001));
    cr_expect_eq(twilio_retry_delay_ms(&p, 0, 30, zero, NULL), 30000);
    cr_expect_eq(twilio_retry_delay_ms(&p, 0, 31, zero, NULL), -1);
    cr_expect_eq(twilio_retry_delay_ms(&p, 0, LONG_MAX, zero, NULL), -1);
}

Test(retry, huge_attempts_do_not_overflow)
{
    const struct twilio_retry_policy p = {1, LONG_MAX, INT_MAX, LONG_MAX};

    for (int a = 60; a < 200; a += 7) {
        long d = twilio_retry_delay_ms(&p, a, -1, all_ones, NULL);
        cr_expect_geq(d, 0, "attempt %d", a);
    }
}

Test(retry, default_policy_and_real_randomness)
{
    const struct twilio_retry_policy defaults = TWILIO_RETRY_POLICY_DEFAULT;
    int differ = 0;
    long first = twilio_retry_delay_ms(NULL, 3, -1, twilio_retry_random, NULL);

    for (int i = 0; i < 50; i++) {
        long d = twilio_retry_delay_ms(NULL, 3, -1, twilio_retry_random, NULL);

        cr_assert(d >= 0 && d <= defaults.cap_ms);
        differ += d != first;
    }
    cr_expect_gt(differ, 0, "the kernel's random bytes vary");
    cr_expect_eq(twilio_retry_delay_ms(NULL, defaults.max_retries, -1, zero, NULL), -1);
}
