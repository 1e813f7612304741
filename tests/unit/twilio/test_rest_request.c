/*
 * Tests of src/twilio/rest.c: configuration, the requests' exact URLs and
 * bodies (the bytes twilio-python 9.11 sends for the same calls), what the
 * builders refuse, and what a submission hands the transport.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "net/http_client.h"
#include "twilio/rest.h"

#define ACCOUNT "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define TOKEN "tok"
#define API_KEY "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define CALL_SID "CA11111111111111111111111111111111"
#define REC_SID "RE22222222222222222222222222222222"
#define PREFIX "https://api.twilio.com/2010-04-01/Accounts/" ACCOUNT
#define TO "+14155550100"
#define FROM "+14155550199"

static struct twilio_rest *client(void)
{
    struct twilio_rest_config cfg = {ACCOUNT, NULL, TOKEN, NULL, 0, 0};
    struct twilio_rest *r = NULL;
    char err[200] = "";

    cr_assert_eq(twilio_rest_new(&r, &cfg, err, sizeof(err)), 0, "%s", err);
    return r;
}

/* ---- configuration ---- */

/* A fake environment: NAME=value strings. */
static const char *fake_get(void *arg, const char *name)
{
    const char *const *vars = arg;
    size_t n = strlen(name);

    for (; *vars; vars++)
        if (strncmp(*vars, name, n) == 0 && (*vars)[n] == '=')
            return *vars + n + 1;
    return NULL;
}

Test(config, auth_token)
{
    const char *env[] = {"TWILIO_ACCOUNT_SID=" ACCOUNT, "TWILIO_AUTH_TOKEN=" TOKEN, NULL};
    struct twilio_rest_config cfg;
    char err[200] = "";

    cr_assert_eq(twilio_rest_config_from(&cfg, fake_get, env, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(cfg.account_sid, ACCOUNT);
    cr_expect_null(cfg.username);
    cr_expect_str_eq(cfg.password, TOKEN);
    cr_expect_null(cfg.base_url);
}

Test(config, api_key_is_preferred_and_needs_its_secret)
{
    const char *both[] = {"TWILIO_ACCOUNT_SID=" ACCOUNT,
                          "TWILIO_AUTH_TOKEN=" TOKEN,
                          "TWILIO_API_KEY=" API_KEY,
                          "TWILIO_API_SECRET=sec",
                          "TWILIO_API_BASE=http://127.0.0.1:9/",
                          NULL};
    const char *half[] = {"TWILIO_ACCOUNT_SID=" ACCOUNT, "TWILIO_AUTH_TOKEN=" TOKEN,
                          "TWILIO_API_KEY=" API_KEY, NULL};
    const char *other_half[] = {"TWILIO_ACCOUNT_SID=" ACCOUNT, "TWILIO_API_SECRET=sec", NULL};
    struct twilio_rest_config cfg;
    char err[200] = "";

    cr_assert_eq(twilio_rest_config_from(&cfg, fake_get, both, err, sizeof(err)), 0);
    cr_expect_str_eq(cfg.username, API_KEY);
    cr_expect_str_eq(cfg.password, "sec");
    cr_expect_str_eq(cfg.base_url, "http://127.0.0.1:9/");
    cr_expect_eq(twilio_rest_config_from(&cfg, fake_get, half, err, sizeof(err)), SB_EINVAL);
    cr_expect_str_eq(err, "TWILIO_API_KEY is set but TWILIO_API_SECRET is not: an API key needs "
                          "both");
    cr_expect_null(cfg.account_sid);
    cr_expect_eq(twilio_rest_config_from(&cfg, fake_get, other_half, err, sizeof(err)), SB_EINVAL);
    cr_expect_str_eq(err, "TWILIO_API_SECRET is set but TWILIO_API_KEY is not: an API key needs "
                          "both");
}

Test(config, missing_variables_are_named)
{
    const char *none[] = {NULL};
    const char *no_secret[] = {"TWILIO_ACCOUNT_SID=" ACCOUNT, "TWILIO_AUTH_TOKEN=", NULL};
    const char *no_account[] = {"TWILIO_AUTH_TOKEN=" TOKEN, NULL};
    struct twilio_rest_config cfg;
    char err[200] = "";

    cr_expect_eq(twilio_rest_config_from(&cfg, fake_get, none, err, sizeof(err)), SB_EINVAL);
    cr_expect(strstr(err, "TWILIO_ACCOUNT_SID is not set"), "%s", err);
    cr_expect_eq(twilio_rest_config_from(&cfg, fake_get, no_account, err, sizeof(err)), SB_EINVAL);
    cr_expect(strstr(err, "TWILIO_ACCOUNT_SID"), "%s", err);
    /* An empty value counts as unset. */
    cr_expect_eq(twilio_rest_config_from(&cfg, fake_get, no_secret, err, sizeof(err)), SB_EINVAL);
    cr_expect_str_eq(err, "set TWILIO_AUTH_TOKEN, or TWILIO_API_KEY and TWILIO_API_SECRET");
}

Test(config, from_the_process_environment)
{
    struct twilio_rest_config cfg;
    char err[200] = "";

    /* Criterion runs each test in a process of its own. */
    setenv("TWILIO_ACCOUNT_SID", ACCOUNT, 1);
    setenv("TWILIO_AUTH_TOKEN", "env-token", 1);
    unsetenv("TWILIO_API_KEY");
    unsetenv("TWILIO_API_SECRET");
    setenv("TWILIO_API_BASE", "http://127.0.0.1:1", 1);
    cr_assert_eq(twilio_rest_config_from_env(&cfg, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(cfg.password, "env-token");
    cr_expect_str_eq(cfg.base_url, "http://127.0.0.1:1");
}

Test(config, new_checks_and_never_shows_the_secret)
{
    static const char secret[] = "s3cr3t-value-that-must-not-show";
    struct {
        struct twilio_rest_config cfg;
        const char *error;
    } bad[] = {
        {{"AC123", NULL, secret, NULL, 0, 0}, "the account SID must be AC followed by 32 hex"},
        {{API_KEY, NULL, secret, NULL, 0, 0}, "the account SID must be AC followed by 32 hex"},
        {{ACCOUNT, "SKnothex", secret, NULL, 0, 0}, "the API key must be SK followed by 32 hex"},
        {{ACCOUNT, NULL, "", NULL, 0, 0}, "the auth token is missing or unusable"},
        {{ACCOUNT, API_KEY, NULL, NULL, 0, 0}, "the API key secret is missing or unusable"},
        {{ACCOUNT, NULL, "a\r\nX-Evil: 1", NULL, 0, 0}, "the auth token is missing or unusable"},
        {{ACCOUNT, NULL, secret, "ftp://api.twilio.com", 0, 0},
         "the API base URL must start with https:// or http://"},
        {{ACCOUNT, NULL, secret, "https://", 0, 0}, "the API base URL must name a host"},
        {{ACCOUNT, NULL, secret, "https://api.twilio.com?x=1", 0, 0},
         "the API base URL must name a host"},
        {{ACCOUNT, NULL, secret, NULL, -1, 0}, "timeouts cannot be negative"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct twilio_rest *r = (struct twilio_rest *)1;
        char err[200] = "";

        cr_expect_eq(twilio_rest_new(&r, &bad[i].cfg, err, sizeof(err)), SB_EINVAL, "case %zu", i);
        cr_expect_null(r, "case %zu", i);
        cr_expect(strstr(err, bad[i].error), "case %zu: %s", i, err);
        cr_expect_null(strstr(err, secret), "case %zu shows the secret", i);
    }
}

Test(config, base_url_loses_its_trailing_slashes)
{
    struct twilio_rest_config cfg = {ACCOUNT, ACCOUNT, TOKEN, "http://127.0.0.1:8090//", 0, 0};
    struct twilio_rest *r = NULL;

    cr_assert_eq(twilio_rest_new(&r, &cfg, NULL, 0), 0);
    cr_expect_str_eq(twilio_rest_base_url(r), "http://127.0.0.1:8090");
    cr_expect_str_eq(twilio_rest_account_sid(r), ACCOUNT);
    twilio_rest_free(r);
    twilio_rest_free(NULL);
}

/* ---- requests: exactly twilio-python's bytes ---- */

Test(request, call_create_with_machine_detection_and_events)
{
    static const char *const events[] = {"initiated", "ringing", "answered", "completed"};
    struct twilio_rest *r = client();
    struct twilio_call_params p = {0};
    struct twilio_rest_request req;
    char err[200] = "";

    p.to = TO;
    p.from = FROM;
    p.url = "https://example.com/voice/outbound?x=1&y=2";
    p.method = "POST";
    p.status_callback = "https://example.com/voice/status";
    p.status_callback_events = events;
    p.nstatus_callback_events = 4;
    p.machine_detection = "DetectMessageEnd";
    p.async_amd = 1;
    p.async_amd_status_callback = "https://example.com/amd";
    p.timeout_s = 25;
    p.record = 1;
    cr_assert_eq(twilio_rest_call_create(r, &p, &req, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(req.op, TWILIO_CALL_CREATE);
    cr_expect_str_eq(req.method, "POST");
    cr_expect_str_eq(req.url, PREFIX "/Calls.json");
    cr_expect_str_eq(req.body,
                     "To=%2B14155550100&From=%2B14155550199&Method=POST"
                     "&StatusCallback=https%3A%2F%2Fexample.com%2Fvoice%2Fstatus"
                     "&StatusCallbackEvent=initiated&StatusCallbackEvent=ringing"
                     "&StatusCallbackEvent=answered&StatusCallbackEvent=completed"
                     "&Timeout=25&Record=true&MachineDetection=DetectMessageEnd&AsyncAmd=true"
                     "&AsyncAmdStatusCallback=https%3A%2F%2Fexample.com%2Famd"
                     "&Url=https%3A%2F%2Fexample.com%2Fvoice%2Foutbound%3Fx%3D1%26y%3D2");
    cr_expect_eq(req.body_len, strlen(req.body));
    cr_expect_str_eq(req.what, "calls.create to=***0100");
    twilio_rest_request_release(&req);
    cr_expect_null(req.url);
    twilio_rest_free(r);
}

Test(request, call_create_with_spanish_twiml)
{
    struct twilio_rest *r = client();
    struct twilio_call_params p = {0};
    struct twilio_rest_request req;

    p.to = TO;
    p.from = FROM;
    p.twiml = "<Response><Say>Hola, ¿cómo está?</Say></Response>";
    cr_assert_eq(twilio_rest_call_create(r, &p, &req, NULL, 0), 0);
    cr_expect_str_eq(req.body, "To=%2B14155550100&From=%2B14155550199&Twiml=%3CResponse%3E%3CSay"
                               "%3EHola%2C+%C2%BFc%C3%B3mo+est%C3%A1%3F%3C%2FSay%3E%3C%2FResponse"
                               "%3E");
    twilio_rest_request_release(&req);
    twilio_rest_free(r);
}

Test(request, call_create_every_other_parameter)
{
    static const char *const rec_events[] = {"in-progress", "completed"};
    struct twilio_rest *r = client();
    struct twilio_call_params p = {0};
    struct twilio_rest_request req;

    p.to = "sip:alice@example.com";
    p.from = FROM;
    p.application_sid = "AP0123456789abcdef0123456789abcdef";
    p.fallback_url = "https://example.com/fb";
    p.fallback_method = "GET";
    p.status_callback_method = "GET";
    p.send_digits = "ww1234#";
    p.recording_channels = "dual";
    p.recording_status_callback = "https://example.com/rec";
    p.recording_status_callback_method = "POST";
    p.machine_detection = "Enable";
    p.machine_detection_timeout_s = 10;
    p.recording_status_callback_events = rec_events;
    p.nrecording_status_callback_events = 2;
    p.caller_id = "+15005550006";
    p.async_amd_status_callback_method = "GET";
    p.time_limit_s = 600;
    cr_assert_eq(twilio_rest_call_create(r, &p, &req, NULL, 0), 0);
    cr_expect_str_eq(req.body,
                     "To=sip%3Aalice%40example.com&From=%2B14155550199"
                     "&FallbackUrl=https%3A%2F%2Fexample.com%2Ffb&FallbackMethod=GET"
                     "&StatusCallbackMethod=GET&SendDigits=ww1234%23&RecordingChannels=dual"
                     "&RecordingStatusCallback=https%3A%2F%2Fexample.com%2Frec"
                     "&RecordingStatusCallbackMethod=POST&MachineDetection=Enable"
                     "&MachineDetectionTimeout=10&RecordingStatusCallbackEvent=in-progress"
                     "&RecordingStatusCallbackEvent=completed&CallerId=%2B15005550006"
                     "&AsyncAmdStatusCallbackMethod=GET&TimeLimit=600"
                     "&ApplicationSid=AP0123456789abcdef0123456789abcdef");
    /* A SIP address has no number to shorten but its last characters. */
    cr_expect_str_eq(req.what, "calls.create to=***.com");
    twilio_rest_request_release(&req);
    twilio_rest_free(r);
}

Test(request, call_fetch_update_and_hang_up)
{
    struct twilio_rest *r = client();
    struct twilio_rest_request req;
    struct twilio_call_update hangup = {0}, redirect = {0}, twiml = {0};

    cr_assert_eq(twilio_rest_call_fetch(r, CALL_SID, &req, NULL, 0), 0);
    cr_expect_str_eq(req.method, "GET");
    cr_expect_str_eq(req.url, PREFIX "/Calls/" CALL_SID ".json");
    cr_expect_null(req.body);
    cr_expect_str_eq(req.what, "calls.fetch " CALL_SID);
    twilio_rest_request_release(&req);

    hangup.status = "completed";
    cr_assert_eq(twilio_rest_call_update(r, CALL_SID, &hangup, &req, NULL, 0), 0);
    cr_expect_str_eq(req.method, "POST");
    cr_expect_str_eq(req.url, PREFIX "/Calls/" CALL_SID ".json");
    cr_expect_str_eq(req.body, "Status=completed");
    cr_expect_str_eq(req.what, "calls.update " CALL_SID " status=completed");
    twilio_rest_request_release(&req);

    redirect.url = "https://example.com/next";
    redirect.method = "GET";
    cr_assert_eq(twilio_rest_call_update(r, CALL_SID, &redirect, &req, NULL, 0), 0);
    cr_expect_str_eq(req.body, "Url=https%3A%2F%2Fexample.com%2Fnext&Method=GET");
    twilio_rest_request_release(&req);

    twiml.twiml = "<Response><Say language=\"es-MX\">Adiós</Say><Hangup/></Response>";
    twiml.time_limit_s = 30;
    cr_assert_eq(twilio_rest_call_update(r, CALL_SID, &twiml, &req, NULL, 0), 0);
    cr_expect_str_eq(req.body, "Twiml=%3CResponse%3E%3CSay+language%3D%22es-MX%22%3EAdi%C3%B3s%3C"
                               "%2FSay%3E%3CHangup%2F%3E%3C%2FResponse%3E&TimeLimit=30");
    twilio_rest_request_release(&req);
    twilio_rest_free(r);
}

Test(request, call_list_with_filters)
{
    struct twilio_rest *r = client();
    struct twilio_call_filter f = {0};
    struct twilio_rest_request req;

    f.to = TO;
    f.status = "completed";
    f.start_time_after = "2024-05-01T00:00:00Z";
    f.start_time_before = "2024-05-02T00:00:00Z";
    f.page_size = 20;
    cr_assert_eq(twilio_rest_call_list(r, &f, &req, NULL, 0), 0);
    cr_expect_str_eq(req.method, "GET");
    cr_expect_str_eq(req.url, PREFIX "/Calls.json?To=%2B14155550100&Status=completed"
                                     "&StartTime%3C=2024-05-02T00%3A00%3A00Z"
                                     "&StartTime%3E=2024-05-01T00%3A00%3A00Z&PageSize=20");
    cr_expect_null(req.body);
    cr_expect_str_eq(req.what, "calls.list to=***0100");
    cr_expect_null(strstr(req.what, TO));
    twilio_rest_request_release(&req);

    memset(&f, 0, sizeof(f));
    f.from = FROM;
    f.parent_call_sid = CALL_SID;
    f.start_time = "2024-05-01";
    f.end_time = "2024-05-01";
    f.end_time_before = "2024-05-03";
    f.end_time_after = "2024-04-30";
    cr_assert_eq(twilio_rest_call_list(r, &f, &req, NULL, 0), 0);
    cr_expect_str_eq(req.url, PREFIX "/Calls.json?From=%2B14155550199&ParentCallSid=" CALL_SID
                                     "&StartTime=2024-05-01&EndTime=2024-05-01"
                                     "&EndTime%3C=2024-05-03&EndTime%3E=2024-04-30");
    twilio_rest_request_release(&req);

    cr_assert_eq(twilio_rest_call_list(r, NULL, &req, NULL, 0), 0);
    cr_expect_str_eq(req.url, PREFIX "/Calls.json");
    cr_expect_str_eq(req.what, "calls.list");
    twilio_rest_request_release(&req);
    twilio_rest_free(r);
}

Test(request, message_in_spanish)
{
    struct twilio_rest *r = client();
    struct twilio_message_params p = {0};
    struct twilio_rest_request req;

    p.to = "+5215512345678";
    p.from = FROM;
    p.body = "¿Llegó su cita? Mañana a las 9";
    p.status_callback = "https://example.com/sms/status";
    cr_assert_eq(twilio_rest_message_create(r, &p, &req, NULL, 0), 0);
    cr_expect_str_eq(req.url, PREFIX "/Messages.json");
    cr_expect_str_eq(req.body, "To=%2B5215512345678"
                               "&StatusCallback=https%3A%2F%2Fexample.com%2Fsms%2Fstatus"
                               "&From=%2B14155550199"
                               "&Body=%C2%BFLleg%C3%B3+su+cita%3F+Ma%C3%B1ana+a+las+9");
    cr_expect_str_eq(req.what, "messages.create to=***5678");
    twilio_rest_request_release(&req);
    twilio_rest_free(r);
}

Test(request, message_with_a_service_and_media)
{
    static const char *const media[] = {"https://example.com/a.jpg", "https://example.com/b.png"};
    struct twilio_rest *r = client();
    struct twilio_message_params p = {0};
    struct twilio_rest_request req;

    p.to = "whatsapp:+5215512345678";
    p.messaging_service_sid = "MG0123456789abcdef0123456789abcdef";
    p.media_urls = media;
    p.nmedia_urls = 2;
    cr_assert_eq(twilio_rest_message_create(r, &p, &req, NULL, 0), 0);
    cr_expect_str_eq(req.body, "To=whatsapp%3A%2B5215512345678"
                               "&MessagingServiceSid=MG0123456789abcdef0123456789abcdef"
                               "&MediaUrl=https%3A%2F%2Fexample.com%2Fa.jpg"
                               "&MediaUrl=https%3A%2F%2Fexample.com%2Fb.png");
    twilio_rest_request_release(&req);
    twilio_rest_free(r);
}

Test(request, recordings_of_a_call)
{
    struct twilio_rest *r = client();
    struct twilio_rest_request req;

    cr_assert_eq(twilio_rest_recording_list(r, CALL_SID, 5, &req, NULL, 0), 0);
    cr_expect_str_eq(req.method, "GET");
    cr_expect_str_eq(req.url, PREFIX "/Calls/" CALL_SID "/Recordings.json?PageSize=5");
    twilio_rest_request_release(&req);
    cr_assert_eq(twilio_rest_recording_list(r, CALL_SID, 0, &req, NULL, 0), 0);
    cr_expect_str_eq(req.url, PREFIX "/Calls/" CALL_SID "/Recordings.json");
    twilio_rest_request_release(&req);
    cr_assert_eq(twilio_rest_recording_fetch(r, CALL_SID, REC_SID, &req, NULL, 0), 0);
    cr_expect_str_eq(req.method, "GET");
    cr_expect_str_eq(req.url, PREFIX "/Calls/" CALL_SID "/Recordings/" REC_SID ".json");
    cr_expect_eq(req.op, TWILIO_RECORDING_FETCH);
    twilio_rest_request_release(&req);
    cr_assert_eq(twilio_rest_recording_delete(r, CALL_SID, REC_SID, &req, NULL, 0), 0);
    cr_expect_str_eq(req.method, "DELETE");
    cr_expect_str_eq(req.url, PREFIX "/Calls/" CALL_SID "/Recordings/" REC_SID ".json");
    cr_expect_null(req.body);
    cr_expect_str_eq(req.what, "recordings.delete " REC_SID);
    twilio_rest_request_release(&req);
    twilio_rest_free(r);
}

Test(request, another_base_url)
{
    struct twilio_rest_config cfg = {ACCOUNT, NULL, TOKEN, "http://127.0.0.1:8090/", 0, 0};
    struct twilio_rest *r = NULL;
    struct twilio_rest_request req;

    cr_assert_eq(twilio_rest_new(&r, &cfg, NULL, 0), 0);
    cr_assert_eq(twilio_rest_call_fetch(r, CALL_SID, &req, NULL, 0), 0);
    cr_expect_str_eq(req.url, "http://127.0.0.1:8090/2010-04-01/Accounts/" ACCOUNT
                              "/Calls/" CALL_SID ".json");
    twilio_rest_request_release(&req);
    twilio_rest_free(r);
}

/* ---- refusals ---- */

/* Expects a builder's SB_EINVAL with `reason` in its error and a zeroed request. */
#define EXPECT_REFUSED(call, reason)                                                               \
    do {                                                                                           \
        struct twilio_rest_request req_;                                                           \
        char err_[300] = "";                                                                       \
        memset(&req_, 0x5a, sizeof(req_));                                                         \
        cr_expect_eq(call(&req_, err_, sizeof(err_)), SB_EINVAL, "%s", #call);                     \
        cr_expect(strstr(err_, reason), "%s: \"%s\" lacks \"%s\"", #call, err_, reason);           \
        cr_expect_null(req_.url);                                                                  \
        cr_expect_null(req_.body);                                                                 \
    } while (0)

static struct twilio_rest *R;
static struct twilio_call_params CP;
static struct twilio_call_update CU;
static struct twilio_message_params MP;
static struct twilio_call_filter CF;

static void refusal_setup(void)
{
    R = client();
    memset(&CP, 0, sizeof(CP));
    CP.to = TO;
    CP.from = FROM;
    CP.url = "https://example.com/voice";
    memset(&CU, 0, sizeof(CU));
    memset(&MP, 0, sizeof(MP));
    MP.to = TO;
    MP.from = FROM;
    MP.body = "hola";
    memset(&CF, 0, sizeof(CF));
}

static void refusal_teardown(void)
{
    twilio_rest_free(R);
}

#define CREATE(out, e, n) twilio_rest_call_create(R, &CP, out, e, n)
#define UPDATE(out, e, n) twilio_rest_call_update(R, CALL_SID, &CU, out, e, n)
#define MESSAGE(out, e, n) twilio_rest_message_create(R, &MP, out, e, n)
#define LIST(out, e, n) twilio_rest_call_list(R, &CF, out, e, n)

Test(refuse, call_create, .init = refusal_setup, .fini = refusal_teardown)
{
    static const char *const bad_event[] = {"ringing", "hungup"};
    static char long_twiml[4100 * 2 + 1];

    CP.to = NULL;
    EXPECT_REFUSED(CREATE, "To is required");
    CP.to = TO;
    CP.from = "";
    EXPECT_REFUSED(CREATE, "From is required");
    CP.from = FROM;
    CP.twiml = "<Response/>";
    EXPECT_REFUSED(CREATE, "give only one of Url, Twiml and ApplicationSid");
    CP.url = NULL;
    CP.twiml = NULL;
    EXPECT_REFUSED(CREATE, "Url, Twiml or ApplicationSid is required");
    CP.application_sid = "AP123";
    EXPECT_REFUSED(CREATE, "ApplicationSid is not AP");
    CP.application_sid = NULL;
    CP.url = "https://example.com/voice";
    CP.status_callback_events = bad_event;
    CP.nstatus_callback_events = 2;
    EXPECT_REFUSED(CREATE, "StatusCallbackEvent 'hungup' is not one of");
    CP.nstatus_callback_events = 0;
    CP.machine_detection = "enable";
    EXPECT_REFUSED(CREATE, "MachineDetection 'enable' is not Enable or DetectMessageEnd");
    CP.machine_detection = NULL;
    CP.method = "PUT";
    EXPECT_REFUSED(CREATE, "methods are GET or POST");
    CP.method = NULL;
    CP.timeout_s = 601;
    EXPECT_REFUSED(CREATE, "Timeout is 1 to 600 seconds");
    CP.timeout_s = 0;
    CP.url = NULL;
    /* 4000 characters are fine, 4001 are not (ñ is one character, two bytes). */
    for (size_t i = 0; i < 4000; i++)
        memcpy(long_twiml + 2 * i, "ñ", 2);
    CP.twiml = long_twiml;
    {
        struct twilio_rest_request req;

        cr_assert_eq(twilio_rest_call_create(R, &CP, &req, NULL, 0), 0);
        twilio_rest_request_release(&req);
    }
    memcpy(long_twiml + 8000, "x", 2);
    EXPECT_REFUSED(CREATE, "Twiml is longer than 4000 characters");
    CP.twiml = "<Say>\xff</Say>";
    EXPECT_REFUSED(CREATE, "Twiml is not UTF-8");
}

Test(refuse, sids_never_reach_the_path, .init = refusal_setup, .fini = refusal_teardown)
{
    static const char *const bad[] = {
        "CA1111111111111111111111111111111",   /* 33 characters */
        "CA111111111111111111111111111111111", /* 35 */
        "CA../../../Messages/x.json?a=111111", "MM11111111111111111111111111111111",
        "CA1111111111111111111111111111111g",  "",
    };
    struct twilio_rest_request req;
    char err[200];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(twilio_rest_call_fetch(R, bad[i], &req, err, sizeof(err)), SB_EINVAL, "%zu",
                     i);
        cr_expect_eq(twilio_rest_call_update(R, bad[i],
                                             &(struct twilio_call_update){.status = "completed"},
                                             &req, err, sizeof(err)),
                     SB_EINVAL, "%zu", i);
        cr_expect_eq(twilio_rest_recording_list(R, bad[i], 0, &req, err, sizeof(err)), SB_EINVAL);
        cr_expect_eq(twilio_rest_recording_fetch(R, CALL_SID, bad[i], &req, err, sizeof(err)),
                     SB_EINVAL);
        cr_expect_eq(twilio_rest_recording_delete(R, bad[i], REC_SID, &req, err, sizeof(err)),
                     SB_EINVAL);
    }
    cr_expect_eq(twilio_rest_call_fetch(R, NULL, &req, err, sizeof(err)), SB_EINVAL);
    cr_expect_str_eq(err, "calls.fetch: the call SID is not CA followed by 32 hex digits");
}

Test(refuse, call_update, .init = refusal_setup, .fini = refusal_teardown)
{
    EXPECT_REFUSED(UPDATE, "nothing to change");
    CU.url = "https://example.com/a";
    CU.twiml = "<Response/>";
    EXPECT_REFUSED(UPDATE, "give Url or Twiml, not both");
    CU.url = CU.twiml = NULL;
    CU.status = "hangup";
    EXPECT_REFUSED(UPDATE, "Status 'hangup' is not completed or canceled");
    CU.status = "canceled";
    CU.method = "get";
    EXPECT_REFUSED(UPDATE, "methods are GET or POST");
}

Test(refuse, call_list, .init = refusal_setup, .fini = refusal_teardown)
{
    CF.start_time_after = "2024-5-1";
    EXPECT_REFUSED(LIST, "'2024-5-1' is not a date");
    CF.start_time_after = "2024-05-01 00:00:00";
    EXPECT_REFUSED(LIST, "is not a date");
    CF.start_time_after = NULL;
    CF.status = "answered";
    EXPECT_REFUSED(LIST, "Status 'answered' is not a call status");
    CF.status = NULL;
    CF.page_size = 1001;
    EXPECT_REFUSED(LIST, "PageSize is 1 to 1000");
    CF.page_size = 0;
    CF.parent_call_sid = "CA1";
    EXPECT_REFUSED(LIST, "ParentCallSid is not CA");
}

Test(refuse, message, .init = refusal_setup, .fini = refusal_teardown)
{
    static char body[1601 * 2 + 1];
    struct twilio_rest_request req;

    MP.to = "";
    EXPECT_REFUSED(MESSAGE, "To is required");
    MP.to = TO;
    MP.from = NULL;
    EXPECT_REFUSED(MESSAGE, "From or MessagingServiceSid is required");
    MP.from = FROM;
    MP.body = NULL;
    EXPECT_REFUSED(MESSAGE, "Body or MediaUrl is required");
    MP.body = "caf\xc3";
    EXPECT_REFUSED(MESSAGE, "Body is not UTF-8");
    /* 1600 characters as Twilio counts them (UTF-16 units): ñ counts one, an emoji two. */
    for (size_t i = 0; i < 1600; i++)
        memcpy(body + 2 * i, "ñ", 2);
    MP.body = body;
    cr_assert_eq(twilio_rest_message_create(R, &MP, &req, NULL, 0), 0);
    twilio_rest_request_release(&req);
    memcpy(body + 3200, "x", 2);
    EXPECT_REFUSED(MESSAGE, "Body is longer than 1600 characters");
    {
        static char emoji[801 * 4 + 1];

        for (size_t i = 0; i < 800; i++)
            memcpy(emoji + 4 * i, "\xF0\x9F\x93\x85", 4);
        MP.body = emoji;
        cr_assert_eq(twilio_rest_message_create(R, &MP, &req, NULL, 0), 0);
        twilio_rest_request_release(&req);
        memcpy(emoji + 3200, "x", 2);
        EXPECT_REFUSED(MESSAGE, "Body is longer than 1600 characters");
    }
}

Test(refuse, next_page_stays_in_the_account, .init = refusal_setup, .fini = refusal_teardown)
{
    static const char *const bad[] = {
        "https://evil.example.com/2010-04-01/Accounts/" ACCOUNT "/Calls.json?Page=1",
        "/2010-04-01/Accounts/ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/Calls.json?Page=1",
        "/2010-04-01/Accounts/" ACCOUNT "/Messages.json?Page=1",
        "/2010-04-01/Accounts/" ACCOUNT "/Calls.json/../../x",
        "/2010-04-01/Accounts/" ACCOUNT "/Calls.json?Page=1 HTTP/1.1",
        "/2010-04-01/Accounts/" ACCOUNT "/Calls.jsonx",
        "/2010-04-01/Accounts/" ACCOUNT "/Calls.json#x",
        "//evil.example.com/2010-04-01/Accounts/" ACCOUNT "/Calls.json",
        "",
    };
    struct twilio_rest_request req;
    char err[200];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(twilio_rest_next_page(R, TWILIO_CALL_LIST, bad[i], &req, err, sizeof(err)),
                     SB_EINVAL, "%zu", i);
        cr_expect_null(req.url);
    }
    /* Recordings of a call are that call's pages only. */
    cr_expect_eq(twilio_rest_next_page(R, TWILIO_RECORDING_LIST,
                                       "/2010-04-01/Accounts/" ACCOUNT "/Calls.json?Page=1", &req,
                                       err, sizeof(err)),
                 SB_EINVAL);
    cr_expect_eq(twilio_rest_next_page(R, TWILIO_CALL_FETCH,
                                       "/2010-04-01/Accounts/" ACCOUNT "/Calls.json?Page=1", &req,
                                       err, sizeof(err)),
                 SB_EINVAL);
}

Test(request, next_page)
{
    struct twilio_rest *r = client();
    struct twilio_rest_request req;
    static const char calls_next[] =
        "/2010-04-01/Accounts/" ACCOUNT "/Calls.json?To=%2B14155550100&PageSize=50&Page=1"
        "&PageToken=PACAaaaa";
    static const char rec_next[] = "/2010-04-01/Accounts/" ACCOUNT "/Calls/" CALL_SID
                                   "/Recordings.json?PageSize=5&Page=1&PageToken=PAREbbbb";

    cr_assert_eq(twilio_rest_next_page(r, TWILIO_CALL_LIST, calls_next, &req, NULL, 0), 0);
    cr_expect_str_eq(req.url,
                     "https://api.twilio.com" /* + */ "/2010-04-01/Accounts/" ACCOUNT
                     "/Calls.json?To=%2B14155550100&PageSize=50&Page=1&PageToken=PACAaaaa");
    cr_expect_str_eq(req.method, "GET");
    cr_expect_eq(req.op, TWILIO_CALL_LIST);
    cr_expect_null(strstr(req.what, "+1"));
    twilio_rest_request_release(&req);
    cr_assert_eq(twilio_rest_next_page(r, TWILIO_RECORDING_LIST, rec_next, &req, NULL, 0), 0);
    cr_expect_eq(req.op, TWILIO_RECORDING_LIST);
    twilio_rest_request_release(&req);
    twilio_rest_free(r);
}

/* ---- submission ---- */

struct captured {
    struct http_request req;
    char headers[4][200];
    size_t nheaders;
    char body[2048];
    int calls;
    int rc;
};

static int fake_submit(void *net, const struct http_request *req, uint64_t *id)
{
    struct captured *c = net;

    c->calls++;
    c->req = *req;
    c->nheaders = req->nheaders;
    for (size_t i = 0; i < req->nheaders && i < 4; i++)
        snprintf(c->headers[i], sizeof(c->headers[i]), "%s", req->headers[i]);
    snprintf(c->body, sizeof(c->body), "%.*s", (int)req->body_len,
             req->body ? (const char *)req->body : "");
    c->req.headers = NULL;
    c->req.body = NULL;
    if (id)
        *id = 42;
    return c->rc;
}

static void ignore_done(void *arg, struct http_response *res)
{
    (void)arg;
    http_response_free(res);
}

Test(submit, adds_auth_accept_content_type_and_timeouts)
{
    struct twilio_rest *r = client();
    struct twilio_message_params p = {.to = TO, .from = FROM, .body = "hola"};
    struct twilio_rest_request req;
    struct captured cap = {0};
    struct twilio_rest_send send = {fake_submit, &cap, ignore_done, &cap, NULL};
    uint64_t id = 0;

    cr_assert_eq(twilio_rest_message_create(r, &p, &req, NULL, 0), 0);
    cr_assert_eq(twilio_rest_submit(r, &req, &send, &id), 0);
    cr_expect_eq(id, 42);
    cr_expect_eq(cap.calls, 1);
    cr_expect_str_eq(cap.req.method, "POST");
    cr_expect_str_eq(cap.req.url, req.url);
    cr_expect_eq(cap.nheaders, 3);
    /* base64("ACaaaa...:tok"), as twilio-python sends it. */
    cr_expect_str_eq(cap.headers[0], "Authorization: Basic "
                                     "QUNhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYTp0b2s=");
    cr_expect_str_eq(cap.headers[1], "Accept: application/json");
    cr_expect_str_eq(cap.headers[2], "Content-Type: application/x-www-form-urlencoded");
    cr_expect_str_eq(cap.body, "To=%2B14155550100&From=%2B14155550199&Body=hola");
    cr_expect_eq(cap.req.connect_timeout_ms, TWILIO_CONNECT_TIMEOUT_MS);
    cr_expect_eq(cap.req.total_timeout_ms, TWILIO_TIMEOUT_MS);
    cr_expect_eq(cap.req.max_response, TWILIO_MAX_RESPONSE);
    cr_expect_eq(cap.req.stream, HTTP_STREAM_NONE);
    cr_expect_eq(cap.req.on_done, ignore_done);
    cr_expect_eq(cap.req.arg, &cap);
    cr_expect_null(cap.req.inbox);
    twilio_rest_request_release(&req);
    twilio_rest_free(r);
}

Test(submit, api_key_get_without_body_and_the_transports_error)
{
    struct twilio_rest_config cfg = {ACCOUNT, API_KEY, "sec", NULL, 2500, 7000};
    struct twilio_rest *r = NULL;
    struct twilio_rest_request req;
    struct captured cap = {0};
    struct twilio_rest_send send = {fake_submit, &cap, NULL, &cap, (struct http_inbox *)&cap};

    cr_assert_eq(twilio_rest_new(&r, &cfg, NULL, 0), 0);
    cr_assert_eq(twilio_rest_call_fetch(r, CALL_SID, &req, NULL, 0), 0);
    cr_assert_eq(twilio_rest_submit(r, &req, &send, NULL), 0);
    cr_expect_eq(cap.nheaders, 2);
    cr_expect_str_eq(cap.headers[0], "Authorization: Basic "
                                     "U0tiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYjpzZWM=");
    cr_expect_str_eq(cap.req.method, "GET");
    cr_expect_eq(cap.req.body_len, 0);
    cr_expect_eq(cap.req.connect_timeout_ms, 2500);
    cr_expect_eq(cap.req.total_timeout_ms, 7000);
    cr_expect_eq(cap.req.inbox, (struct http_inbox *)&cap);
    /* What the transport refuses comes back as is. */
    cap.rc = SB_EBUSY;
    cr_expect_eq(twilio_rest_submit(r, &req, &send, NULL), SB_EBUSY);
    /* Nothing to deliver to, no transport, or no request: refused before the transport. */
    send.inbox = NULL;
    cr_expect_eq(twilio_rest_submit(r, &req, &send, NULL), SB_EINVAL);
    send.on_done = ignore_done;
    send.submit = NULL;
    cr_expect_eq(twilio_rest_submit(r, &req, &send, NULL), SB_EINVAL);
    send.submit = fake_submit;
    twilio_rest_request_release(&req);
    cr_expect_eq(twilio_rest_submit(r, &req, &send, NULL), SB_EINVAL);
    cr_expect_eq(cap.calls, 2);
    twilio_rest_free(r);
}
