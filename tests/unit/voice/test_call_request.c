/*
 * Tests for voice/call_request (the body of POST /api/v1/calls) and the
 * store-free checks of voice/call_check: what is read, what is refused and
 * which field each refusal names, in the API's and the command line's words.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "voice/call_check.h"
#include "voice/call_request.h"

static int parse(const char *body, struct call_request *req, const char **field, char *err)
{
    return call_request_parse(body, strlen(body), req, field, err, CALL_ERROR_SIZE);
}

Test(call_request, a_spanish_say_call_with_every_field)
{
    struct call_request req;
    struct job_request jr;
    const char *field = "x";
    char err[CALL_ERROR_SIZE];

    cr_assert_eq(parse("{\"to\": \"+15551234567\", \"from\": \"+15005550006\", "
                       "\"say\": \"\xc2\xbfHola {{name}}? Su cita es ma\xc3\xb1"
                       "ana.\", \"name\": \"Jos\xc3\xa9 N\xc3\xba\xc3\xb1"
                       "ez\", \"lang\": \"es-MX\", \"at\": \"2027-03-01T09:30\", "
                       "\"amd\": true, \"retries\": 10, \"sms_fallback\": true}",
                       &req, &field, err),
                 0, "%s", err);
    cr_assert_null(field);
    cr_assert_str_eq(req.to, "+15551234567");
    cr_assert_str_eq(req.from, "+15005550006");
    cr_assert_eq(req.kind, JOB_KIND_SAY);
    cr_assert_str_eq(req.say, "\xc2\xbfHola {{name}}? Su cita es ma\xc3\xb1"
                              "ana.");
    cr_assert_str_eq(req.name, "Jos\xc3\xa9 N\xc3\xba\xc3\xb1"
                               "ez");
    cr_assert_str_eq(req.lang, "es-MX");
    cr_assert_str_eq(req.at, "2027-03-01T09:30");
    cr_assert_eq(req.amd, 1);
    cr_assert_eq(req.retries, 10);
    cr_assert_eq(req.sms_fallback, 1);
    call_request_job(&req, "acme", &jr);
    cr_assert_str_eq(jr.tenant, "acme");
    cr_assert_null(jr.target);
    cr_assert_eq(jr.say_text, req.say);
    cr_assert_eq(jr.max_retries, 10);
}

Test(call_request, flow_and_agent_and_nulls)
{
    struct call_request req;
    const char *field;
    char err[CALL_ERROR_SIZE];

    cr_assert_eq(parse("{\"to\":\"+15551234567\",\"flow\":\"desk\",\"say\":null,\"from\":null}",
                       &req, &field, err),
                 0, "%s", err);
    cr_assert_eq(req.kind, JOB_KIND_FLOW);
    cr_assert_str_eq(req.target, "desk");
    cr_assert_str_eq(req.from, "");
    cr_assert_eq(parse("{\"agent\":\"front-desk\",\"to\":\"+15551234567\"}", &req, &field, err), 0);
    cr_assert_eq(req.kind, JOB_KIND_AGENT);
    cr_assert_str_eq(req.target, "front-desk");
}

/* Each body is refused with SB_EINVAL naming `field` (NULL: the body as a whole). */
static const struct {
    const char *body;
    const char *field;
    const char *words;
} refused[] = {
    {"{\"to\": 15551234567, \"say\": \"x\"}", "to", "'to' must be a string"},
    {"{\"say\": \"x\"}", "to", "'to' is missing"},
    {"{\"to\": null, \"say\": \"x\"}", "to", "'to' is missing"},
    {"{\"to\": \"+15551234567\"}", "flow", "exactly one of 'flow', 'agent' and 'say'"},
    {"{\"to\": \"+15551234567\", \"flow\": \"a\", \"agent\": \"b\"}", "say", "exactly one"},
    {"{\"to\": \"+15551234567\", \"say\": \"x\", \"amd\": 1}", "amd", "true or false"},
    {"{\"to\": \"+15551234567\", \"say\": \"x\", \"sms_fallback\": \"true\"}", "sms_fallback",
     "true or false"},
    {"{\"to\": \"+15551234567\", \"say\": \"x\", \"retries\": 11}", "retries", "0 to 10"},
    {"{\"to\": \"+15551234567\", \"say\": \"x\", \"retries\": -1}", "retries", "0 to 10"},
    {"{\"to\": \"+15551234567\", \"say\": \"x\", \"retries\": 2.0}", "retries", "whole number"},
    {"{\"to\": \"+15551234567\", \"say\": \"x\", \"at\": 1767225600}", "at", "must be a string"},
    {"{\"to\": \"+1555123456789012345678901234567\", \"say\": \"x\"}", "to", "E.164"},
    {"{\"to\": \"+15551234567\", \"say\": \"x\", \"lang\": \"es-MX-and-far-too-long\"}", "lang",
     "longer than 15 bytes"},
    {"{\"to\": \"+15551234567\", \"say\": \"x\", \"retry\": 2}", NULL, "unknown field 'retry'"},
};

Test(call_request, refusals_name_the_field)
{
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct call_request req;
        const char *field = "unset";
        char err[CALL_ERROR_SIZE];

        cr_assert_eq(parse(refused[i].body, &req, &field, err), SB_EINVAL, "%s", refused[i].body);
        if (refused[i].field)
            cr_assert_str_eq(field, refused[i].field, "%s", refused[i].body);
        else
            cr_assert_null(field, "%s", refused[i].body);
        cr_assert_not_null(strstr(err, refused[i].words), "%s: %s", refused[i].body, err);
        cr_assert_str_eq(req.to, "", "nothing is left behind");
    }
}

Test(call_request, not_json_or_not_an_object)
{
    static const char *const bodies[] = {
        "",
        "{",
        "[]",
        "\"x\"",
        "42",
        "null",
        "{\"to\": \"a\", \"to\": \"b\", \"say\": \"x\"}",
        "{\"to\": \"+15551234567\", \"say\": \"a\\u0000b\"}",
        "{\"say\": \"\xff\"}",
    };

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct call_request req;
        const char *field = "unset";
        char err[CALL_ERROR_SIZE];

        cr_assert_eq(parse(bodies[i], &req, &field, err), SB_EPARSE, "%s", bodies[i]);
        cr_assert_null(field);
        cr_assert_eq(strncmp(err, "the body", 8), 0, "%s", err);
    }
}

Test(call_request, longest_texts_fit_and_one_more_byte_does_not)
{
    char body[4096], say[JOB_SAY_MAX + 2];
    struct call_request req;
    const char *field;
    char err[CALL_ERROR_SIZE];

    memset(say, 'a', JOB_SAY_MAX);
    say[JOB_SAY_MAX] = '\0';
    snprintf(body, sizeof(body), "{\"to\": \"+15551234567\", \"say\": \"%s\"}", say);
    cr_assert_eq(parse(body, &req, &field, err), 0, "%s", err);
    cr_assert_eq(strlen(req.say), JOB_SAY_MAX);
    say[JOB_SAY_MAX] = 'a';
    say[JOB_SAY_MAX + 1] = '\0';
    snprintf(body, sizeof(body), "{\"to\": \"+15551234567\", \"say\": \"%s\"}", say);
    cr_assert_eq(parse(body, &req, &field, err), SB_EINVAL);
    cr_assert_str_eq(field, "say");
    cr_assert_str_eq(err, "'say' is longer than 1000 bytes");
}

Test(call_check, fields_name_the_field_the_callers_way)
{
    struct job_request r;
    struct call_check chk;

    memset(&r, 0, sizeof(r));
    r.tenant = "acme";
    r.to = "+1555";
    r.kind = JOB_KIND_SAY;
    r.say_text = "hola";
    cr_assert_eq(call_check_fields(&r, NULL, CALL_NAMES_FIELDS, &chk), SB_EINVAL);
    cr_assert_eq(chk.verdict, CALL_INVALID);
    cr_assert_str_eq(chk.field, "to");
    cr_assert_str_eq(chk.message, "'to' is not an E.164 number ('+' and 7 to 15 digits)");
    cr_assert_eq(call_check_fields(&r, NULL, CALL_NAMES_FLAGS, &chk), SB_EINVAL);
    cr_assert_str_eq(chk.message, "--to '+1555' is not an E.164 number ('+' and 7 to 15 digits)");
    r.to = "+15551234567";
    cr_assert_eq(call_check_fields(&r, "tomorrow", CALL_NAMES_FIELDS, &chk), SB_EINVAL);
    cr_assert_str_eq(chk.field, "at");
    r.contact_name = "two\nlines";
    cr_assert_eq(call_check_fields(&r, NULL, CALL_NAMES_FIELDS, &chk), SB_EINVAL);
    cr_assert_str_eq(chk.field, "name");
    r.contact_name = "Jos\xc3\xa9";
    r.lang = "not a tag";
    cr_assert_eq(call_check_fields(&r, NULL, CALL_NAMES_FIELDS, &chk), SB_EINVAL);
    cr_assert_str_eq(chk.field, "lang");
    r.lang = "es-MX";
    r.target = "desk";
    cr_assert_eq(call_check_fields(&r, NULL, CALL_NAMES_FIELDS, &chk), SB_EINVAL);
    cr_assert_str_eq(chk.field, "say");
    r.target = NULL;
    cr_assert_eq(call_check_fields(&r, "2027-03-01T09:30:00+02:00", CALL_NAMES_FIELDS, &chk), 0);
    cr_assert_eq(chk.verdict, CALL_OK);
}

Test(call_check, allowlist)
{
    struct call_check chk;

    cr_assert_eq(call_check_allowed(NULL, "+15551234567", &chk), 0);
    cr_assert_eq(call_check_allowed(" +15550000000 ,+15551234567 ", "+15551234567", &chk), 0);
    cr_assert_eq(call_check_allowed("+15550000000", "+15551234567", &chk), SB_EINVAL);
    cr_assert_eq(chk.verdict, CALL_REFUSED);
    cr_assert_str_eq(chk.code, "not_allowed");
    cr_assert_eq(call_check_allowed("+1555,+15551234567", "+15551234567", &chk), SB_EINVAL);
    cr_assert_eq(chk.verdict, CALL_UNAVAILABLE);
}

Test(call_check, at_in_a_zone_and_in_the_past)
{
    struct call_check chk;
    long long t = 0;

    /* 09:30 in New York in January is 14:30 UTC. */
    cr_assert_eq(
        call_check_at("2027-01-15T09:30", "America/New_York", 0, CALL_NAMES_FIELDS, &t, &chk), 0);
    cr_assert_eq(t, 1800023400LL);
    cr_assert_eq(
        call_check_at("2027-01-15T14:30Z", NULL, 1800023400LL + 61, CALL_NAMES_FIELDS, &t, &chk),
        SB_EINVAL);
    cr_assert_eq(chk.verdict, CALL_REFUSED);
    cr_assert_str_eq(chk.code, "time_in_the_past");
    cr_assert_eq(
        call_check_at("2027-01-15T14:30Z", NULL, 1800023400LL + 60, CALL_NAMES_FIELDS, &t, &chk),
        0);
    cr_assert_eq(call_check_at("2027-02-30T09:30", NULL, 0, CALL_NAMES_FLAGS, &t, &chk), SB_EINVAL);
    cr_assert_eq(chk.verdict, CALL_INVALID);
    cr_assert_str_eq(chk.message, "--at '2027-02-30T09:30' is not an ISO 8601 time like "
                                  "2026-03-01T09:30 or 2026-03-01T09:30:00+02:00");
    cr_assert_eq(
        call_check_at("2027-01-15T09:30", "Nowhere/Atlantis", 0, CALL_NAMES_FIELDS, &t, &chk),
        SB_EINVAL);
    cr_assert_str_eq(chk.code, "unknown_time_zone");
}
