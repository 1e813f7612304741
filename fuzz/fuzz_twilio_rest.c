/*
 * libFuzzer target for twilio/rest_result, the reader of Twilio's answers.
 * The first byte picks the operation and the HTTP status, the second the
 * transport's result and Retry-After; the rest is the body. Besides the
 * sanitizers it checks what a caller relies on: an OK outcome carries the
 * resource (a SID for each item) and no error, any other outcome one plain
 * line of UTF-8 with no control character; the outcome is the decision
 * table's; a page's next_page_uri is either refused by twilio_rest_next_page
 * or makes a GET under the account; dates parse or are refused.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "net/http_client.h"
#include "twilio/rest.h"
#include "twilio/rest_result.h"
#include "twilio/retry.h"

#define ACCOUNT "AC0123456789abcdef0123456789abcdef"

static const long statuses[] = {200, 201, 204, 301, 400, 401, 404, 429, 500, 503, 0, 299};
static const enum http_result transports[] = {HTTP_OK,        HTTP_OK,        HTTP_OK,
                                              HTTP_OK,        HTTP_ETIMEOUT,  HTTP_ECONNREFUSED,
                                              HTTP_ETOOLARGE, HTTP_ECANCELLED};

static void check_line(const char *s, int may_be_empty)
{
    size_t n = strlen(s);

    if (n >= TWILIO_ERROR_SIZE || (!may_be_empty && n == 0) || !utf8_valid(s, n))
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            abort();
}

static void check_date(const char *s)
{
    long long t;

    if (s && twilio_rest_date(s, &t) != 0 && twilio_rest_date(s, &t) != SB_EPARSE)
        abort();
}

static void check_next_page(const struct twilio_rest *r, enum twilio_rest_op op, const char *uri)
{
    struct twilio_rest_request req;
    const char *base = twilio_rest_base_url(r);
    int rc = twilio_rest_next_page(r, op, uri, &req, NULL, 0);

    if (rc == 0) {
        if (strncmp(req.url, base, strlen(base)) != 0 ||
            strncmp(req.url + strlen(base), "/2010-04-01/Accounts/" ACCOUNT "/",
                    strlen("/2010-04-01/Accounts/" ACCOUNT "/")) != 0 ||
            strcmp(req.method, "GET") != 0 || req.body)
            abort();
        for (const char *c = req.url; *c; c++)
            if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
                abort();
    } else if (rc != SB_EINVAL || req.url) {
        abort();
    }
    twilio_rest_request_release(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct twilio_rest *client;
    struct twilio_rest_result r;
    enum twilio_rest_op op;
    enum http_result transport;
    long status, retry_after;

    if (!client) {
        struct twilio_rest_config cfg = {ACCOUNT, NULL, "token", "https://api.twilio.com", 0, 0};
        if (twilio_rest_new(&client, &cfg, NULL, 0) != 0)
            abort();
    }
    if (size < 2)
        return 0;
    op = (enum twilio_rest_op)(data[0] % 8);
    status = statuses[(data[0] >> 3) % (sizeof(statuses) / sizeof(statuses[0]))];
    transport = transports[data[1] % (sizeof(transports) / sizeof(transports[0]))];
    retry_after = (data[1] >> 3) % 4 == 0 ? -1 : (long)(data[1] >> 3);
    if (twilio_rest_result_read(&r, op, transport, status, (const char *)data + 2, size - 2,
                                retry_after, transport == HTTP_OK ? NULL : "detail") != 0)
        abort(); /* no allocation fails here */
    if (r.outcome == TWILIO_OUTCOME_OK) {
        check_line(r.error, 1);
        if (r.error[0] || transport != HTTP_OK || status < 200 || status > 299)
            abort();
        switch (op) {
        case TWILIO_CALL_CREATE:
        case TWILIO_CALL_FETCH:
        case TWILIO_CALL_UPDATE:
            if (!r.call.sid || !*r.call.sid)
                abort();
            check_date(r.call.date_created);
            check_date(r.call.start_time);
            break;
        case TWILIO_MESSAGE_CREATE:
            if (!r.message.sid || !*r.message.sid)
                abort();
            break;
        case TWILIO_RECORDING_FETCH:
            if (!r.recording.sid || !*r.recording.sid)
                abort();
            break;
        case TWILIO_CALL_LIST:
            for (size_t i = 0; i < r.ncalls; i++)
                if (!r.calls[i].sid || !*r.calls[i].sid)
                    abort();
            if (r.next_page_uri)
                check_next_page(client, op, r.next_page_uri);
            break;
        case TWILIO_RECORDING_LIST:
            for (size_t i = 0; i < r.nrecordings; i++)
                if (!r.recordings[i].sid || !*r.recordings[i].sid)
                    abort();
            if (r.next_page_uri)
                check_next_page(client, op, r.next_page_uri);
            break;
        case TWILIO_RECORDING_DELETE:
            break;
        }
    } else {
        check_line(r.error, 0);
        if (r.call.sid || r.calls || r.recordings || r.message.sid || r.recording.sid)
            abort();
        /* The outcome is the decision table's, or (an unreadable 2xx) no better than it. */
        if (twilio_retry_decide(twilio_rest_op_kind(op), transport, status, r.code) != r.outcome &&
            !(transport == HTTP_OK && status >= 200 && status < 300))
            abort();
        if (r.outcome == TWILIO_OUTCOME_RETRY && twilio_rest_op_kind(op) == TWILIO_RETRY_CREATE &&
            transport == HTTP_OK && status != 429 && r.code != 20429)
            abort(); /* a create Twilio may have carried out is never sent again */
    }
    twilio_rest_result_release(&r);
    return 0;
}
