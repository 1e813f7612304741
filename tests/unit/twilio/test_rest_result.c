/*
 * Tests of src/twilio/rest_result.c: the resources as Twilio's docs show
 * them, pages, Twilio's error documents turned into one plain line, and
 * bodies that are garbage (a clear error, never a crash).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "net/http_client.h"
#include "twilio/rest_result.h"

#define ACCOUNT "AC0123456789abcdef0123456789abcdef"
#define CALL_SID "CA0123456789abcdef0123456789abcdef"

/* The call resource of the API reference, as create answers it (201). */
static const char call_json[] =
    "{\"sid\":\"" CALL_SID "\",\"account_sid\":\"" ACCOUNT "\","
    "\"parent_call_sid\":null,\"to\":\"+14155550100\",\"to_formatted\":\"(415) 555-0100\","
    "\"from\":\"+14155550199\",\"from_formatted\":\"(415) 555-0199\","
    "\"phone_number_sid\":\"PN0123456789abcdef0123456789abcdef\",\"status\":\"queued\","
    "\"start_time\":null,\"end_time\":null,\"duration\":null,\"price\":null,"
    "\"price_unit\":\"USD\",\"direction\":\"outbound-api\",\"answered_by\":null,"
    "\"api_version\":\"2010-04-01\",\"forwarded_from\":null,\"group_sid\":null,"
    "\"caller_name\":null,\"queue_time\":\"0\",\"trunk_sid\":null,"
    "\"date_created\":\"Tue, 31 Aug 2010 20:36:28 +0000\","
    "\"date_updated\":\"Tue, 31 Aug 2010 20:36:44 +0000\","
    "\"uri\":\"/2010-04-01/Accounts/" ACCOUNT "/Calls/" CALL_SID ".json\","
    "\"subresource_uris\":{\"recordings\":\"/2010-04-01/Accounts/" ACCOUNT "/Calls/" CALL_SID
    "/Recordings.json\"}}";

static struct twilio_rest_result read_ok(enum twilio_rest_op op, long status, const char *body)
{
    struct twilio_rest_result r;

    cr_assert_eq(twilio_rest_result_read(&r, op, HTTP_OK, status, body, strlen(body), -1, NULL), 0);
    cr_assert_eq(r.outcome, TWILIO_OUTCOME_OK, "%s", r.error);
    cr_expect_str_eq(r.error, "");
    return r;
}

Test(result, call_created)
{
    struct twilio_rest_result r = read_ok(TWILIO_CALL_CREATE, 201, call_json);
    long long t = 0;

    cr_expect_eq(r.op, TWILIO_CALL_CREATE);
    cr_expect_eq(r.http_status, 201);
    cr_expect_eq(r.code, 0);
    cr_expect_str_eq(r.call.sid, CALL_SID);
    cr_expect_str_eq(r.call.account_sid, ACCOUNT);
    cr_expect_str_eq(r.call.to, "+14155550100");
    cr_expect_str_eq(r.call.from, "+14155550199");
    cr_expect_str_eq(r.call.status, "queued");
    cr_expect_str_eq(r.call.direction, "outbound-api");
    cr_expect_null(r.call.answered_by);
    cr_expect_null(r.call.start_time);
    cr_expect_null(r.call.duration);
    cr_expect_null(r.call.parent_call_sid);
    cr_expect_str_eq(r.call.queue_time, "0");
    cr_expect_str_eq(r.call.price_unit, "USD");
    cr_expect_str_eq(r.call.uri, "/2010-04-01/Accounts/" ACCOUNT "/Calls/" CALL_SID ".json");
    cr_assert_eq(twilio_rest_date(r.call.date_created, &t), 0);
    cr_expect_eq(t, 1283286988LL);
    twilio_rest_result_release(&r);
    cr_expect_null(r.call.sid);
    twilio_rest_result_release(&r);
}

Test(result, call_answered_by_a_machine)
{
    struct twilio_rest_result r =
        read_ok(TWILIO_CALL_FETCH, 200,
                "{\"sid\":\"" CALL_SID "\",\"status\":\"completed\",\"answered_by\":"
                "\"machine_end_beep\",\"start_time\":\"Fri, 01 Mar 2024 09:05:00 -0500\","
                "\"end_time\":\"Fri, 01 Mar 2024 09:05:41 -0500\",\"duration\":\"41\","
                "\"price\":\"-0.01400\",\"direction\":\"outbound-api\"}");

    cr_expect_str_eq(r.call.answered_by, "machine_end_beep");
    cr_expect_str_eq(r.call.status, "completed");
    cr_expect_str_eq(r.call.duration, "41");
    cr_expect_str_eq(r.call.price, "-0.01400");
    twilio_rest_result_release(&r);
}

Test(result, page_of_calls_and_its_next_page)
{
    static const char page[] =
        "{\"calls\":[{\"sid\":\"CA11111111111111111111111111111111\",\"status\":\"completed\","
        "\"to\":\"+14155550100\"},{\"sid\":\"CA22222222222222222222222222222222\","
        "\"status\":\"busy\",\"to\":\"+14155550100\"}],\"end\":1,"
        "\"first_page_uri\":\"/2010-04-01/Accounts/" ACCOUNT "/Calls.json?PageSize=2&Page=0\","
        "\"next_page_uri\":\"/2010-04-01/Accounts/" ACCOUNT
        "/Calls.json?PageSize=2&Page=1&PageToken=PACA11111111111111111111111111111111\","
        "\"page\":0,\"page_size\":2,\"previous_page_uri\":null,\"start\":0,"
        "\"uri\":\"/2010-04-01/Accounts/" ACCOUNT "/Calls.json?PageSize=2&Page=0\"}";
    struct twilio_rest_result r = read_ok(TWILIO_CALL_LIST, 200, page);
    struct twilio_rest_config cfg = {ACCOUNT, NULL, "tok", NULL, 0, 0};
    struct twilio_rest *client = NULL;
    struct twilio_rest_request next;

    cr_assert_eq(r.ncalls, 2);
    cr_expect_str_eq(r.calls[0].sid, "CA11111111111111111111111111111111");
    cr_expect_str_eq(r.calls[1].status, "busy");
    cr_assert_not_null(r.next_page_uri);
    cr_assert_eq(twilio_rest_new(&client, &cfg, NULL, 0), 0);
    cr_assert_eq(twilio_rest_next_page(client, TWILIO_CALL_LIST, r.next_page_uri, &next, NULL, 0),
                 0);
    cr_expect_str_eq(next.url, "https://api.twilio.com/2010-04-01/Accounts/" ACCOUNT
                               "/Calls.json?PageSize=2&Page=1"
                               "&PageToken=PACA11111111111111111111111111111111");
    twilio_rest_request_release(&next);
    twilio_rest_free(client);
    twilio_rest_result_release(&r);

    r = read_ok(TWILIO_CALL_LIST, 200, "{\"calls\":[],\"next_page_uri\":null,\"page\":0}");
    cr_expect_eq(r.ncalls, 0);
    cr_expect_null(r.calls);
    cr_expect_null(r.next_page_uri);
    twilio_rest_result_release(&r);
}

Test(result, message_in_spanish)
{
    struct twilio_rest_result r =
        read_ok(TWILIO_MESSAGE_CREATE, 201,
                "{\"account_sid\":\"" ACCOUNT "\",\"api_version\":\"2010-04-01\","
                "\"body\":\"\\u00bfLleg\\u00f3 su cita? Ma\\u00f1ana a las 9\","
                "\"date_created\":\"Thu, 24 Aug 2023 05:01:45 +0000\",\"date_sent\":null,"
                "\"direction\":\"outbound-api\",\"error_code\":null,\"error_message\":null,"
                "\"from\":\"+14155550199\",\"messaging_service_sid\":null,\"num_media\":\"0\","
                "\"num_segments\":\"1\",\"price\":null,\"price_unit\":\"USD\","
                "\"sid\":\"SM0123456789abcdef0123456789abcdef\",\"status\":\"queued\","
                "\"subresource_uris\":{},\"to\":\"+5215512345678\",\"uri\":\"/x.json\"}");

    cr_expect_str_eq(r.message.sid, "SM0123456789abcdef0123456789abcdef");
    cr_expect_str_eq(r.message.body, "¿Llegó su cita? Mañana a las 9");
    cr_expect_str_eq(r.message.status, "queued");
    cr_expect_str_eq(r.message.num_segments, "1");
    cr_expect_eq(r.message.error_code, 0);
    cr_expect_null(r.message.error_message);
    cr_expect_null(r.message.date_sent);
    twilio_rest_result_release(&r);
}

Test(result, recordings)
{
    struct twilio_rest_result r = read_ok(
        TWILIO_RECORDING_LIST, 200,
        "{\"recordings\":[{\"sid\":\"RE0123456789abcdef0123456789abcdef\",\"call_sid\":\"" CALL_SID
        "\",\"status\":\"completed\",\"duration\":\"12\",\"channels\":2,\"source\":"
        "\"RecordVerb\",\"track\":\"both\",\"error_code\":null}],\"next_page_uri\":null}");

    cr_assert_eq(r.nrecordings, 1);
    cr_expect_str_eq(r.recordings[0].call_sid, CALL_SID);
    cr_expect_eq(r.recordings[0].channels, 2);
    cr_expect_str_eq(r.recordings[0].duration, "12");
    twilio_rest_result_release(&r);

    r = read_ok(TWILIO_RECORDING_FETCH, 200,
                "{\"sid\":\"RE0123456789abcdef0123456789abcdef\",\"status\":\"processing\","
                "\"channels\":\"1\",\"error_code\":\"0\"}");
    cr_expect_str_eq(r.recording.status, "processing");
    cr_expect_eq(r.recording.channels, 1);
    twilio_rest_result_release(&r);

    /* A delete answers 204 with no body. */
    r = read_ok(TWILIO_RECORDING_DELETE, 204, "");
    cr_expect_eq(r.http_status, 204);
    twilio_rest_result_release(&r);
}

/* ---- errors ---- */

static struct twilio_rest_result read_err(enum twilio_rest_op op, long status, const char *body,
                                          long retry_after)
{
    struct twilio_rest_result r;

    cr_assert_eq(twilio_rest_result_read(&r, op, HTTP_OK, status, body, body ? strlen(body) : 0,
                                         retry_after, NULL),
                 0);
    cr_expect_neq(r.outcome, TWILIO_OUTCOME_OK);
    cr_expect_null(r.call.sid);
    return r;
}

Test(errors, invalid_to_names_the_code_and_hides_the_number)
{
    struct twilio_rest_result r =
        read_err(TWILIO_CALL_CREATE, 400,
                 "{\"code\": 21211, \"message\": \"The 'To' number 5551234567 is not a valid "
                 "phone number.\", \"more_info\": \"https://www.twilio.com/docs/errors/21211\", "
                 "\"status\": 400}",
                 -1);

    cr_expect_eq(r.outcome, TWILIO_OUTCOME_FAILED);
    cr_expect_eq(r.code, 21211);
    cr_expect_eq(r.http_status, 400);
    cr_expect_eq(r.retry_after_s, -1);
    cr_expect_str_eq(r.error, "twilio error 21211: The 'To' number ***4567 is not a valid phone "
                              "number. (HTTP 400)");
    twilio_rest_result_release(&r);
}

Test(errors, too_many_requests_with_retry_after)
{
    struct twilio_rest_result r =
        read_err(TWILIO_CALL_CREATE, 429,
                 "{\"code\":20429,\"message\":\"Too Many Requests\",\"more_info\":"
                 "\"https://www.twilio.com/docs/errors/20429\",\"status\":429}",
                 2);

    cr_expect_eq(r.outcome, TWILIO_OUTCOME_RETRY);
    cr_expect_eq(r.code, 20429);
    cr_expect_eq(r.retry_after_s, 2);
    cr_expect_str_eq(r.error, "twilio error 20429: Too Many Requests (HTTP 429, Retry-After 2 s)");
    twilio_rest_result_release(&r);
}

Test(errors, server_error_is_unknown_for_a_create_and_retried_for_a_read)
{
    static const char body[] = "{\"code\":20500,\"message\":\"Internal Server Error\","
                               "\"more_info\":\"https://www.twilio.com/docs/errors/20500\","
                               "\"status\":500}";
    struct twilio_rest_result r = read_err(TWILIO_CALL_CREATE, 500, body, -1);

    cr_expect_eq(r.outcome, TWILIO_OUTCOME_UNKNOWN);
    cr_expect_str_eq(r.error, "twilio error 20500: Internal Server Error (HTTP 500)");
    twilio_rest_result_release(&r);
    r = read_err(TWILIO_MESSAGE_CREATE, 500, body, -1);
    cr_expect_eq(r.outcome, TWILIO_OUTCOME_UNKNOWN);
    twilio_rest_result_release(&r);
    r = read_err(TWILIO_CALL_FETCH, 500, body, -1);
    cr_expect_eq(r.outcome, TWILIO_OUTCOME_RETRY);
    twilio_rest_result_release(&r);
    r = read_err(TWILIO_CALL_UPDATE, 503, "<html><body>Service Unavailable</body></html>", -1);
    cr_expect_eq(r.outcome, TWILIO_OUTCOME_RETRY);
    cr_expect_eq(r.code, 0);
    cr_expect_str_eq(r.error, "calls.update: Twilio answered without an error document (HTTP 503)");
    twilio_rest_result_release(&r);
}

Test(errors, other_shapes)
{
    struct twilio_rest_result r =
        read_err(TWILIO_CALL_FETCH, 404,
                 "{\"errors\":[{\"code\":20404,\"message\":\"The requested resource was not "
                 "found\",\"infoUrl\":\"https://www.twilio.com/docs/errors/20404\"}]}",
                 -1);

    cr_expect_eq(r.code, 20404);
    cr_expect_eq(r.outcome, TWILIO_OUTCOME_FAILED);
    cr_expect_str_eq(r.error,
                     "twilio error 20404: The requested resource was not found (HTTP 404)");
    twilio_rest_result_release(&r);

    r = read_err(TWILIO_CALL_FETCH, 401,
                 "{\"type\":\"https://www.twilio.com/docs/api/errors/20003\",\"title\":"
                 "\"Authentication Error\",\"status\":401,\"code\":20003,\"detail\":"
                 "\"Your credentials are invalid\"}",
                 -1);
    cr_expect_str_eq(r.error, "twilio error 20003: Your credentials are invalid (HTTP 401)");
    twilio_rest_result_release(&r);

    r = read_err(TWILIO_CALL_FETCH, 401, "{\"code\":\"20003\",\"status\":401}", -1);
    cr_expect_str_eq(r.error, "twilio error 20003 (HTTP 401)");
    twilio_rest_result_release(&r);

    r = read_err(TWILIO_CALL_FETCH, 400, "{\"message\":\"Bad request\"}", -1);
    cr_expect_str_eq(r.error, "twilio error: Bad request (HTTP 400)");
    twilio_rest_result_release(&r);
}

Test(errors, message_is_cleaned_numbers_and_all)
{
    struct twilio_rest_result r =
        read_err(TWILIO_MESSAGE_CREATE, 400,
                 "{\"code\":21610,\"message\":\"Attempt to send to unsubscribed recipient "
                 "+5215512345678\\n\\tfrom\\u0001 +14155550199 for " CALL_SID
                 " at 2024-05-01 (code 21610) \\u00a1ay!\"}",
                 -1);

    cr_expect_str_eq(r.error, "twilio error 21610: Attempt to send to unsubscribed recipient "
                              "***5678  from  ***0199 for " CALL_SID " at 2024-05-01 (code "
                              "21610) ¡ay! (HTTP 400)");
    cr_expect_null(strstr(r.error, "5215512345678"));
    twilio_rest_result_release(&r);
}

Test(errors, a_long_message_is_cut_on_a_character)
{
    char body[4096];
    struct twilio_rest_result r;
    size_t n = 0;

    n += (size_t)snprintf(body, sizeof(body), "{\"code\":21211,\"message\":\"");
    for (int i = 0; i < 500; i++) {
        memcpy(body + n, "ñ", 2);
        n += 2;
    }
    snprintf(body + n, sizeof(body) - n, "\"}");
    r = read_err(TWILIO_CALL_CREATE, 400, body, -1);
    cr_expect_lt(strlen(r.error), sizeof(r.error));
    cr_expect(strstr(r.error, "(HTTP 400)"), "%s", r.error);
    /* Every ñ is whole: the text is still UTF-8. */
    for (const char *p = strstr(r.error, ": ") + 2; *p != ' '; p += 2)
        cr_assert(memcmp(p, "ñ", 2) == 0, "cut inside a character at %ld", (long)(p - r.error));
    twilio_rest_result_release(&r);
}

Test(errors, no_answer_at_all)
{
    struct twilio_rest_result r;

    cr_assert_eq(twilio_rest_result_read(&r, TWILIO_CALL_CREATE, HTTP_ETIMEOUT, 0, "", 0, -1,
                                         "timeout: Operation timed out after 30000 milliseconds"),
                 0);
    cr_expect_eq(r.outcome, TWILIO_OUTCOME_UNKNOWN);
    cr_expect_eq(r.http_status, 0);
    cr_expect_str_eq(r.error, "calls.create: no answer from Twilio: timeout: Operation timed out "
                              "after 30000 milliseconds");
    twilio_rest_result_release(&r);

    cr_assert_eq(
        twilio_rest_result_read(&r, TWILIO_CALL_CREATE, HTTP_ECONNREFUSED, 0, NULL, 0, -1, NULL),
        0);
    cr_expect_eq(r.outcome, TWILIO_OUTCOME_RETRY);
    cr_expect_str_eq(r.error, "calls.create: no answer from Twilio: connection refused");
    twilio_rest_result_release(&r);

    cr_assert_eq(
        twilio_rest_result_read(&r, TWILIO_CALL_FETCH, HTTP_ETIMEOUT, 0, NULL, 0, -1, NULL), 0);
    cr_expect_eq(r.outcome, TWILIO_OUTCOME_RETRY);
    twilio_rest_result_release(&r);
}

Test(errors, from_a_whole_response)
{
    struct http_response res;
    struct twilio_rest_result r;
    char body[] = "{\"code\":20429,\"message\":\"Too Many Requests\",\"status\":429}";

    memset(&res, 0, sizeof(res));
    res.result = HTTP_OK;
    res.status = 429;
    res.body = body;
    res.body_len = strlen(body);
    res.retry_after_s = 1;
    cr_assert_eq(twilio_rest_result_parse(&r, TWILIO_MESSAGE_CREATE, &res), 0);
    cr_expect_eq(r.outcome, TWILIO_OUTCOME_RETRY);
    cr_expect_eq(r.retry_after_s, 1);
    twilio_rest_result_release(&r);
    cr_assert_eq(twilio_rest_result_parse(&r, TWILIO_CALL_FETCH, NULL), 0);
    cr_expect_eq(r.outcome, TWILIO_OUTCOME_RETRY);
    twilio_rest_result_release(&r);
}

/* ---- garbage ---- */

Test(garbage, unreadable_2xx_answers)
{
    static const struct {
        enum twilio_rest_op op;
        const char *body;
        enum twilio_retry_outcome outcome;
        const char *error;
    } cases[] = {
        {TWILIO_CALL_CREATE, "not json", TWILIO_OUTCOME_UNKNOWN,
         "calls.create: Twilio's answer (HTTP 201) is not JSON"},
        {TWILIO_CALL_CREATE, "", TWILIO_OUTCOME_UNKNOWN,
         "calls.create: Twilio's answer (HTTP 201) is empty"},
        {TWILIO_CALL_CREATE, "{\"sid\":", TWILIO_OUTCOME_UNKNOWN,
         "calls.create: Twilio's answer (HTTP 201) is not JSON"},
        {TWILIO_CALL_FETCH, "<html><body>Bad Gateway</body></html>", TWILIO_OUTCOME_RETRY,
         "calls.fetch: Twilio's answer (HTTP 201) is not JSON"},
        {TWILIO_CALL_UPDATE, "{\"sid\":\"CA", TWILIO_OUTCOME_RETRY,
         "calls.update: Twilio's answer (HTTP 201) is not JSON"},
        {TWILIO_MESSAGE_CREATE, "{}", TWILIO_OUTCOME_UNKNOWN,
         "messages.create: Twilio's answer (HTTP 201) is not a message"},
        {TWILIO_CALL_FETCH, "{\"sid\":42}", TWILIO_OUTCOME_FAILED,
         "calls.fetch: Twilio's answer (HTTP 201) is not a call"},
        {TWILIO_CALL_FETCH, "{\"sid\":\"\"}", TWILIO_OUTCOME_FAILED,
         "calls.fetch: Twilio's answer (HTTP 201) is not a call"},
        {TWILIO_CALL_FETCH, "[1,2,3]", TWILIO_OUTCOME_FAILED,
         "calls.fetch: Twilio's answer (HTTP 201) is not a call"},
        {TWILIO_CALL_FETCH, "\"CA\"", TWILIO_OUTCOME_FAILED,
         "calls.fetch: Twilio's answer (HTTP 201) is not a call"},
        {TWILIO_CALL_LIST, "{\"calls\":{}}", TWILIO_OUTCOME_FAILED,
         "calls.list: Twilio's answer (HTTP 201) is not a page of calls"},
        {TWILIO_CALL_LIST, "{\"calls\":[{\"sid\":\"CA1\"},{\"to\":\"+1\"}]}", TWILIO_OUTCOME_FAILED,
         "calls.list: Twilio's answer (HTTP 201) is not a page of calls"},
        {TWILIO_CALL_LIST, "{\"calls\":[],\"next_page_uri\":7}", TWILIO_OUTCOME_FAILED,
         "calls.list: Twilio's answer (HTTP 201) is not a page of calls"},
        {TWILIO_RECORDING_LIST, "{\"calls\":[]}", TWILIO_OUTCOME_FAILED,
         "recordings.list: Twilio's answer (HTTP 201) is not a page of recordings"},
        {TWILIO_RECORDING_FETCH, "null", TWILIO_OUTCOME_FAILED,
         "recordings.fetch: Twilio's answer (HTTP 201) is not a recording"},
        {(enum twilio_rest_op)77, "{\"sid\":\"CA1\"}", TWILIO_OUTCOME_UNKNOWN,
         "unknown: Twilio's answer (HTTP 201) is not a call"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct twilio_rest_result r;

        cr_assert_eq(twilio_rest_result_read(&r, cases[i].op, HTTP_OK, 201, cases[i].body,
                                             strlen(cases[i].body), -1, NULL),
                     0, "case %zu", i);
        cr_expect_eq(r.outcome, cases[i].outcome, "case %zu", i);
        cr_expect_str_eq(r.error, cases[i].error, "case %zu", i);
        cr_expect_null(r.calls, "case %zu", i);
        cr_expect_eq(r.ncalls, 0);
        cr_expect_null(r.call.sid);
        twilio_rest_result_release(&r);
    }
}

Test(garbage, bytes_that_are_not_text)
{
    static const char bin[] = "{\"code\":21211,\0\"message\":\"x\"}\xff\xfe";
    unsigned char noise[4096];
    struct twilio_rest_result r;
    unsigned state = 7;

    cr_assert_eq(
        twilio_rest_result_read(&r, TWILIO_CALL_FETCH, HTTP_OK, 400, bin, sizeof(bin), -1, NULL),
        0);
    cr_expect_str_eq(r.error, "calls.fetch: Twilio answered without an error document (HTTP 400)");
    twilio_rest_result_release(&r);
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof(noise); i++) {
            state = state * 1103515245u + 12345u;
            noise[i] = (unsigned char)(state >> 16);
        }
        for (int op = TWILIO_CALL_CREATE; op <= TWILIO_RECORDING_DELETE; op++) {
            cr_assert_eq(twilio_rest_result_read(&r, (enum twilio_rest_op)op, HTTP_OK,
                                                 round % 2 ? 200 : 500, (const char *)noise,
                                                 (size_t)(round * 20), -1, NULL),
                         0);
            cr_assert_lt(strlen(r.error), sizeof(r.error));
            twilio_rest_result_release(&r);
        }
    }
}

Test(garbage, deep_nesting_and_big_numbers)
{
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    struct twilio_rest_result r;

    cr_assert_not_null(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    cr_assert_eq(
        twilio_rest_result_read(&r, TWILIO_CALL_LIST, HTTP_OK, 200, deep, 2 * depth, -1, NULL), 0);
    cr_expect_eq(r.outcome, TWILIO_OUTCOME_RETRY);
    cr_expect_str_eq(r.error, "calls.list: Twilio's answer (HTTP 200) is not JSON");
    twilio_rest_result_release(&r);
    free(deep);

    r = read_err(TWILIO_CALL_FETCH, 400, "{\"code\":99999999999999999999999,\"message\":\"m\"}",
                 -1);
    cr_expect_eq(r.code, 0);
    twilio_rest_result_release(&r);
    r = read_err(TWILIO_CALL_FETCH, 400, "{\"code\":-5,\"message\":\"m\"}", -1);
    cr_expect_eq(r.code, 0);
    cr_expect_str_eq(r.error, "twilio error: m (HTTP 400)");
    twilio_rest_result_release(&r);
}

/* ---- dates ---- */

Test(dates, rfc_2822)
{
    long long t = -1;

    cr_expect_eq(twilio_rest_date("Tue, 31 Aug 2010 20:36:28 +0000", &t), 0);
    cr_expect_eq(t, 1283286988LL);
    cr_expect_eq(twilio_rest_date("31 Aug 2010 20:36:44 +0000", &t), 0);
    cr_expect_eq(t, 1283287004LL);
    cr_expect_eq(twilio_rest_date("Fri, 01 Mar 2024 09:05:00 -0500", &t), 0);
    cr_expect_eq(t, 1709301900LL);
    cr_expect_eq(twilio_rest_date("Thu, 29 Feb 2024 23:59:59 +0130", &t), 0);
    cr_expect_eq(t, 1709245799LL);
    cr_expect_eq(twilio_rest_date("Fri, 1 Mar 2024 09:05:00 -0500", &t), 0);
    cr_expect_eq(t, 1709301900LL);

    t = 5;
    cr_expect_eq(twilio_rest_date("", &t), SB_EPARSE);
    cr_expect_eq(twilio_rest_date("Tue,", &t), SB_EPARSE);
    cr_expect_eq(twilio_rest_date("Tue, 31 Aug 2010 20:36:28", &t), SB_EPARSE);
    cr_expect_eq(twilio_rest_date("Tue, 31 Agu 2010 20:36:28 +0000", &t), SB_EPARSE);
    cr_expect_eq(twilio_rest_date("Tue, 32 Aug 2010 20:36:28 +0000", &t), SB_EPARSE);
    cr_expect_eq(twilio_rest_date("Tue, 31 Aug 2010 24:36:28 +0000", &t), SB_EPARSE);
    cr_expect_eq(twilio_rest_date("Tue, 31 Aug 2010 20:36:28 +0000 ", &t), SB_EPARSE);
    cr_expect_eq(twilio_rest_date("2010-08-31T20:36:28Z", &t), SB_EPARSE);
    cr_expect_eq(twilio_rest_date(NULL, &t), SB_EPARSE);
    cr_expect_eq(t, 5);
}
