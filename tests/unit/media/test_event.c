/*
 * Tests for media/event: the Media Streams messages of Twilio's docs parsed
 * field by field, the exact JSON the writers produce, base64 both ways, and
 * every kind of malformed input getting a reason that names the field.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "media/event.h"
#include "media/event_internal.h"

#define STREAM "MZ18ad3ab5a668481ce02b83e7395059f0"
#define CALL "CA2a4ef7a0ad0c4b8f3e0a1b2c3d4e5f60"
#define ACCOUNT "AC0123456789abcdef0123456789abcdef"

static struct media_event ev;
static char err[256];

static int parse(const char *text)
{
    err[0] = '\0';
    return media_event_parse(text, strlen(text), &ev, err, sizeof(err));
}

/* Expects `text` to be refused with `code` and exactly the reason `why`. */
static void refuse(const char *text, int code, const char *why)
{
    int rc = parse(text);

    cr_assert_eq(rc, code, "%s: rc %d, want %d (%s)", text, rc, code, err);
    cr_assert_str_eq(err, why, "%s: reason '%s', want '%s'", text, err, why);
}

/* A media message around a given payload string, as Twilio sends it. */
static char *media_msg(const char *payload)
{
    struct buf b = BUF_INIT(1 << 20);

    cr_assert_eq(buf_printf(&b,
                            "{\"event\":\"media\",\"sequenceNumber\":\"4\",\"media\":{\"track\":"
                            "\"inbound\",\"chunk\":\"2\",\"timestamp\":\"5\",\"payload\":\"%s\"},"
                            "\"streamSid\":\"" STREAM "\"}",
                            payload),
                 0);
    return buf_detach(&b, NULL);
}

/* -- messages from Twilio (section 5.2) -- */

Test(event, connected)
{
    cr_assert_eq(parse("{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0.0\"}"), 0);
    cr_assert_eq(ev.kind, MEDIA_EV_CONNECTED);
    cr_assert_str_eq(ev.event, "connected");
    cr_assert_eq(ev.sequence, -1);
    cr_assert_str_eq(ev.stream_sid, "");
    cr_assert_str_eq(err, "");
}

Test(event, start_with_custom_parameters)
{
    const char *msg =
        "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"accountSid\":\"" ACCOUNT
        "\",\"streamSid\":\"" STREAM "\",\"callSid\":\"" CALL
        "\",\"tracks\":[\"inbound\"],\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\","
        "\"sampleRate\":8000,\"channels\":1},\"customParameters\":{\"FirstName\":\"Jane\","
        "\"LastName\":\"Doe\",\"RemoteParty\":\"Bob\"}},\"streamSid\":\"" STREAM "\"}";

    cr_assert_eq(parse(msg), 0, "%s", err);
    cr_assert_eq(ev.kind, MEDIA_EV_START);
    cr_assert_eq(ev.sequence, 1);
    cr_assert_str_eq(ev.stream_sid, STREAM);
    cr_assert_str_eq(ev.call_sid, CALL);
    cr_assert_str_eq(ev.account_sid, ACCOUNT);
    cr_assert_str_eq(ev.encoding, "audio/x-mulaw");
    cr_assert_eq(ev.sample_rate, 8000);
    cr_assert_eq(ev.nparams, 3);
    /* Document order is kept. */
    cr_assert_str_eq(ev.params[0].name, "FirstName");
    cr_assert_str_eq(ev.params[0].value, "Jane");
    cr_assert_str_eq(ev.params[1].name, "LastName");
    cr_assert_str_eq(ev.params[2].name, "RemoteParty");
    cr_assert_str_eq(media_event_param(&ev, "LastName"), "Doe");
    cr_assert_str_eq(media_event_param(&ev, "RemoteParty"), "Bob");
    cr_assert_null(media_event_param(&ev, "firstname"));
    cr_assert_null(media_event_param(&ev, "Missing"));
    cr_assert_null(media_event_param(NULL, "FirstName"));
}

Test(event, start_example_verbatim_from_the_docs)
{
    /* The docs abbreviate the SIDs with an ellipsis; it is still a valid message. */
    const char *msg =
        "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"accountSid\":"
        "\"AC\xe2\x80\xa6\","
        "\"streamSid\":\"MZ\xe2\x80\xa6\",\"callSid\":\"CA\xe2\x80\xa6\",\"tracks\":[\"inbound\"],"
        "\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1},"
        "\"customParameters\":{\"FirstName\":\"Jane\",\"LastName\":\"Doe\",\"RemoteParty\":"
        "\"Bob\"}},\"streamSid\":\"MZ\xe2\x80\xa6\"}";

    cr_assert_eq(parse(msg), 0, "%s", err);
    cr_assert_str_eq(ev.stream_sid, "MZ\xe2\x80\xa6");
    cr_assert_str_eq(media_event_param(&ev, "FirstName"), "Jane");
}

Test(event, start_without_custom_parameters_or_tracks)
{
    cr_assert_eq(
        parse("{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"accountSid\":\"" ACCOUNT
              "\",\"callSid\":\"" CALL "\",\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\","
              "\"sampleRate\":8000}},\"streamSid\":\"" STREAM "\"}"),
        0, "%s", err);
    cr_assert_eq(ev.nparams, 0);
    cr_assert_str_eq(ev.stream_sid, STREAM);
}

Test(event, start_stream_sid_inside_only)
{
    cr_assert_eq(
        parse("{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"streamSid\":\"" STREAM
              "\",\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL
              "\",\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000}}}"),
        0, "%s", err);
    cr_assert_str_eq(ev.stream_sid, STREAM);
}

Test(event, start_stream_sids_must_agree)
{
    refuse("{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"streamSid\":\"MZ1\","
           "\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"mediaFormat\":{\"encoding\":"
           "\"audio/x-mulaw\",\"sampleRate\":8000}},\"streamSid\":\"MZ2\"}",
           SB_EPARSE, "start.streamSid does not match streamSid");
    refuse("{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"accountSid\":\"" ACCOUNT
           "\",\"callSid\":\"" CALL "\",\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\","
           "\"sampleRate\":8000}}}",
           SB_EPARSE, "streamSid is missing");
}

Test(event, media_example)
{
    static const unsigned char want[] = {0x9e, 0x8f, 0x89, 0x86, 0x86, 0x89, 0x8e, 0x9c, 0xd2};
    char *msg = media_msg("no+JhoaJjpzS");

    cr_assert_eq(parse(msg), 0, "%s", err);
    cr_assert_eq(ev.kind, MEDIA_EV_MEDIA);
    cr_assert_eq(ev.sequence, 4);
    cr_assert_str_eq(ev.stream_sid, STREAM);
    cr_assert_str_eq(ev.track, "inbound");
    cr_assert_eq(ev.chunk, 2);
    cr_assert_eq(ev.timestamp, 5);
    cr_assert_eq(ev.payload_len, sizeof(want));
    cr_assert_arr_eq(ev.payload, want, sizeof(want));
    free(msg);
}

Test(event, media_padding_gives_exact_lengths)
{
    const char *cases[][2] = {
        {"QQ==", "A"}, {"QUI=", "AB"}, {"QUJD", "ABC"}, {"QUJDRA==", "ABCD"}, {"", ""}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *msg = media_msg(cases[i][0]);

        cr_assert_eq(parse(msg), 0, "%s: %s", cases[i][0], err);
        cr_assert_eq(ev.payload_len, strlen(cases[i][1]), "%s", cases[i][0]);
        cr_assert_arr_eq(ev.payload, cases[i][1], ev.payload_len);
        free(msg);
    }
}

Test(event, dtmf)
{
    cr_assert_eq(parse("{\"event\":\"dtmf\",\"streamSid\":\"" STREAM "\",\"sequenceNumber\":\"5\","
                       "\"dtmf\":{\"track\":\"inbound_track\",\"digit\":\"1\"}}"),
                 0, "%s", err);
    cr_assert_eq(ev.kind, MEDIA_EV_DTMF);
    cr_assert_eq(ev.sequence, 5);
    cr_assert_str_eq(ev.track, "inbound_track");
    cr_assert_eq(ev.digit, '1');
    cr_assert_eq(parse("{\"event\":\"dtmf\",\"streamSid\":\"" STREAM "\",\"sequenceNumber\":\"6\","
                       "\"dtmf\":{\"track\":\"inbound_track\",\"digit\":\"#\"}}"),
                 0, "%s", err);
    cr_assert_eq(ev.digit, '#');
}

Test(event, mark)
{
    cr_assert_eq(parse("{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":\"" STREAM "\","
                       "\"mark\":{\"name\":\"my label\"}}"),
                 0, "%s", err);
    cr_assert_eq(ev.kind, MEDIA_EV_MARK);
    cr_assert_eq(ev.sequence, 4);
    cr_assert_str_eq(ev.mark, "my label");
}

Test(event, stop)
{
    cr_assert_eq(
        parse("{\"event\":\"stop\",\"sequenceNumber\":\"5\",\"stop\":{\"accountSid\":\"" ACCOUNT
              "\",\"callSid\":\"" CALL "\"},\"streamSid\":\"" STREAM "\"}"),
        0, "%s", err);
    cr_assert_eq(ev.kind, MEDIA_EV_STOP);
    cr_assert_eq(ev.sequence, 5);
    cr_assert_str_eq(ev.stream_sid, STREAM);
    cr_assert_str_eq(ev.call_sid, CALL);
    cr_assert_str_eq(ev.account_sid, ACCOUNT);
    /* Nothing in the body is needed to act on a stop. */
    cr_assert_eq(
        parse("{\"event\":\"stop\",\"sequenceNumber\":\"6\",\"streamSid\":\"" STREAM "\"}"), 0,
        "%s", err);
}

Test(event, unknown_event_is_not_an_error)
{
    cr_assert_eq(
        parse("{\"event\":\"transcription\",\"sequenceNumber\":\"7\",\"streamSid\":\"" STREAM
              "\",\"transcription\":{\"text\":[1,2]}}"),
        0, "%s", err);
    cr_assert_eq(ev.kind, MEDIA_EV_UNKNOWN);
    cr_assert_str_eq(ev.event, "transcription");
    cr_assert_eq(ev.sequence, 7);
    cr_assert_str_eq(ev.stream_sid, STREAM);
    cr_assert_eq(parse("{\"event\":\"future\"}"), 0, "%s", err);
    cr_assert_eq(ev.kind, MEDIA_EV_UNKNOWN);
    cr_assert_eq(ev.sequence, -1);
    /* The envelope is still checked when it is there. */
    refuse("{\"event\":\"future\",\"sequenceNumber\":7}", SB_EPARSE,
           "sequenceNumber is not a string of digits");
}

Test(event, extra_fields_are_ignored)
{
    cr_assert_eq(parse("{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":\"" STREAM "\","
                       "\"mark\":{\"name\":\"x\",\"extra\":{}},\"new\":[null]}"),
                 0, "%s", err);
    cr_assert_str_eq(ev.mark, "x");
}

Test(event, parse_resets_the_previous_event)
{
    char *msg = media_msg("QUJD");

    cr_assert_eq(parse(msg), 0);
    cr_assert_eq(parse("{\"event\":\"connected\"}"), 0);
    cr_assert_eq(ev.payload_len, 0);
    cr_assert_str_eq(ev.stream_sid, "");
    cr_assert_str_eq(ev.track, "");
    free(msg);
}

/* -- malformed input -- */

Test(event, not_json)
{
    cr_assert_eq(parse("{"), SB_EPARSE);
    cr_assert(strncmp(err, "message is not valid JSON: ", 27) == 0, "%s", err);
    cr_assert_eq(parse(""), SB_EPARSE);
    cr_assert_eq(parse("hello"), SB_EPARSE);
    cr_assert_eq(parse("{\"event\":\"connected\"} x"), SB_EPARSE);
    cr_assert_eq(parse("{\"event\":\"connected\",}"), SB_EPARSE);
    cr_assert_eq(media_event_parse(NULL, 0, &ev, err, sizeof(err)), SB_EPARSE);
    /* An embedded NUL ends nothing early: the length is what counts. */
    cr_assert_eq(media_event_parse("{\"event\":\"connected\"}\0", 22, &ev, err, sizeof(err)),
                 SB_EPARSE);
    /* Strings with NUL in them would be cut short when copied out. */
    cr_assert_eq(parse("{\"event\":\"conn\\u0000ected\"}"), SB_EPARSE);
    cr_assert(strstr(err, "\\u0000 is not allowed") != NULL, "%s", err);
}

Test(event, not_an_object)
{
    refuse("[1]", SB_EPARSE, "message is not a JSON object");
    refuse("[{\"event\":\"connected\"}]", SB_EPARSE, "message is not a JSON object");
    refuse("\"connected\"", SB_EPARSE, "message is not a JSON object");
    refuse("3", SB_EPARSE, "message is not a JSON object");
    refuse("null", SB_EPARSE, "message is not a JSON object");
}

Test(event, duplicate_keys_are_ambiguous)
{
    cr_assert_eq(parse("{\"event\":\"mark\",\"event\":\"stop\"}"), SB_EPARSE);
    cr_assert(strncmp(err, "message is not valid JSON: ", 27) == 0, "%s", err);
}

Test(event, event_field)
{
    refuse("{}", SB_EPARSE, "event is missing");
    refuse("{\"streamSid\":\"" STREAM "\"}", SB_EPARSE, "event is missing");
    refuse("{\"event\":3}", SB_EPARSE, "event is not a string");
    refuse("{\"event\":null}", SB_EPARSE, "event is not a string");
    refuse("{\"event\":\"\"}", SB_EPARSE, "event is empty");
    refuse("{\"event\":\"0123456789012345678901234567890123\"}", SB_EPARSE, "event is too long");
}

Test(event, sequence_number_must_be_a_string_of_digits)
{
    refuse("{\"event\":\"mark\",\"streamSid\":\"MZ1\",\"mark\":{\"name\":\"a\"}}", SB_EPARSE,
           "sequenceNumber is missing");
    refuse(
        "{\"event\":\"mark\",\"sequenceNumber\":4,\"streamSid\":\"MZ1\",\"mark\":{\"name\":\"a\"}}",
        SB_EPARSE, "sequenceNumber is not a string of digits");
    refuse("{\"event\":\"mark\",\"sequenceNumber\":\"\",\"streamSid\":\"MZ1\",\"mark\":{\"name\":"
           "\"a\"}}",
           SB_EPARSE, "sequenceNumber is not a string of digits");
    refuse("{\"event\":\"mark\",\"sequenceNumber\":\"-1\",\"streamSid\":\"MZ1\",\"mark\":{\"name\":"
           "\"a\"}}",
           SB_EPARSE, "sequenceNumber is not a string of digits");
    refuse("{\"event\":\"mark\",\"sequenceNumber\":\" 1\",\"streamSid\":\"MZ1\",\"mark\":{\"name\":"
           "\"a\"}}",
           SB_EPARSE, "sequenceNumber is not a string of digits");
    refuse(
        "{\"event\":\"mark\",\"sequenceNumber\":\"1e3\",\"streamSid\":\"MZ1\",\"mark\":{\"name\":"
        "\"a\"}}",
        SB_EPARSE, "sequenceNumber is not a string of digits");
    refuse("{\"event\":\"mark\",\"sequenceNumber\":\"99999999999999999999\",\"streamSid\":\"MZ1\","
           "\"mark\":{\"name\":\"a\"}}",
           SB_EPARSE, "sequenceNumber is out of range");
}

Test(event, stream_sid_field)
{
    refuse("{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"mark\":{\"name\":\"a\"}}", SB_EPARSE,
           "streamSid is missing");
    refuse(
        "{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":7,\"mark\":{\"name\":\"a\"}}",
        SB_EPARSE, "streamSid is not a string");
    refuse("{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":\"\",\"mark\":{\"name\":"
           "\"a\"}}",
           SB_EPARSE, "streamSid is empty");
    /* 40 characters do not fit the 40-byte field with its NUL; 39 do. */
    refuse("{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":"
           "\"MZ0123456789012345678901234567890123456789\",\"mark\":{\"name\":\"a\"}}",
           SB_EPARSE, "streamSid is too long");
    refuse("{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":"
           "\"MZ01234567890123456789012345678901234567\",\"mark\":{\"name\":\"a\"}}",
           SB_EPARSE, "streamSid is too long");
    cr_assert_eq(parse("{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":"
                       "\"MZ0123456789012345678901234567890123456\",\"mark\":{\"name\":\"a\"}}"),
                 0, "%s", err);
    cr_assert_eq(strlen(ev.stream_sid), 39);
}

Test(event, start_fields)
{
    const char *head = "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"streamSid\":\"" STREAM "\","
                       "\"start\":";
    const struct {
        const char *body;
        const char *why;
    } cases[] = {
        {"3", "start is not an object"},
        {"{\"callSid\":\"" CALL "\",\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":"
         "8000}}",
         "start.accountSid is missing"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\","
         "\"sampleRate\":8000}}",
         "start.callSid is missing"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":1,\"mediaFormat\":{\"encoding\":"
         "\"audio/x-mulaw\",\"sampleRate\":8000}}",
         "start.callSid is not a string"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\"}",
         "start.mediaFormat is missing"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"mediaFormat\":[]}",
         "start.mediaFormat is not an object"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"mediaFormat\":{\"sampleRate\":"
         "8000}}",
         "start.mediaFormat.encoding is missing"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"mediaFormat\":{\"encoding\":"
         "\"audio/x-mulaw\"}}",
         "start.mediaFormat.sampleRate is missing"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"mediaFormat\":{\"encoding\":"
         "\"audio/x-mulaw\",\"sampleRate\":\"8000\"}}",
         "start.mediaFormat.sampleRate is not an integer"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"mediaFormat\":{\"encoding\":"
         "\"audio/x-mulaw\",\"sampleRate\":8000.5}}",
         "start.mediaFormat.sampleRate is not an integer"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"mediaFormat\":{\"encoding\":"
         "\"audio/x-mulaw\",\"sampleRate\":0}}",
         "start.mediaFormat.sampleRate is out of range"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"mediaFormat\":{\"encoding\":"
         "\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":\"1\"}}",
         "start.mediaFormat.channels is not an integer"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"tracks\":\"inbound\"}",
         "start.tracks is not an array"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"tracks\":[\"inbound\",2]}",
         "start.tracks[1] is not a string"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"customParameters\":[]}",
         "start.customParameters is not an object"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"customParameters\":{\"a\":"
         "\"1\",\"x\":2}}",
         "start.customParameters.x is not a string"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"customParameters\":{\"x\":"
         "null}}",
         "start.customParameters.x is not a string"},
        {"{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL "\",\"customParameters\":{\"\":"
         "\"v\"}}",
         "start.customParameters name '' is empty"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[1024];

        snprintf(msg, sizeof(msg), "%s%s}", head, cases[i].body);
        refuse(msg, SB_EPARSE, cases[i].why);
    }
}

/* A start message whose customParameters object is `params`. */
static char *start_msg(const char *params)
{
    struct buf b = BUF_INIT(1 << 20);

    cr_assert_eq(buf_printf(&b,
                            "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"streamSid\":\"" STREAM
                            "\",\"start\":{\"accountSid\":\"" ACCOUNT "\",\"callSid\":\"" CALL
                            "\",\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":"
                            "8000,\"channels\":1},\"customParameters\":%s}}",
                            params),
                 0);
    return buf_detach(&b, NULL);
}

Test(event, custom_parameter_limits)
{
    struct buf p = BUF_INIT(1 << 20);
    char name[80], value[300];
    char *msg;

    /* Exactly the field sizes minus the NUL fit. */
    memset(name, 'n', 63);
    name[63] = '\0';
    memset(value, 'v', 255);
    value[255] = '\0';
    cr_assert_eq(buf_printf(&p, "{\"%s\":\"%s\"}", name, value), 0);
    msg = start_msg(buf_cstr(&p));
    cr_assert_eq(parse(msg), 0, "%s", err);
    cr_assert_str_eq(media_event_param(&ev, name), value);
    free(msg);

    buf_reset(&p);
    value[255] = 'v';
    value[256] = '\0';
    cr_assert_eq(buf_printf(&p, "{\"k\":\"%s\"}", value), 0);
    msg = start_msg(buf_cstr(&p));
    refuse(msg, SB_EPARSE, "start.customParameters.k is too long");
    free(msg);

    buf_reset(&p);
    name[63] = 'n';
    name[64] = '\0';
    cr_assert_eq(buf_printf(&p, "{\"%s\":\"v\"}", name), 0);
    msg = start_msg(buf_cstr(&p));
    cr_assert_eq(parse(msg), SB_EPARSE);
    cr_assert(strstr(err, "is too long") != NULL, "%s", err);
    free(msg);

    /* MEDIA_MAX_PARAMS fit; one more is over the limit. */
    buf_reset(&p);
    cr_assert_eq(buf_putc(&p, '{'), 0);
    for (int i = 0; i < MEDIA_MAX_PARAMS; i++)
        cr_assert_eq(buf_printf(&p, "%s\"p%d\":\"%d\"", i ? "," : "", i, i), 0);
    cr_assert_eq(buf_putc(&p, '}'), 0);
    msg = start_msg(buf_cstr(&p));
    cr_assert_eq(parse(msg), 0, "%s", err);
    cr_assert_eq(ev.nparams, MEDIA_MAX_PARAMS);
    cr_assert_str_eq(media_event_param(&ev, "p15"), "15");
    free(msg);
    p.len--;
    cr_assert_eq(buf_puts(&p, ",\"p16\":\"16\"}"), 0);
    msg = start_msg(buf_cstr(&p));
    refuse(msg, SB_ETOOBIG, "start.customParameters has more than 16 entries");
    free(msg);
    buf_release(&p);
}

Test(event, media_fields)
{
    const char *head = "{\"event\":\"media\",\"sequenceNumber\":\"4\",\"streamSid\":\"" STREAM "\"";
    const struct {
        const char *body;
        const char *why;
    } cases[] = {
        {"", "media is missing"},
        {",\"media\":\"QUJD\"", "media is not an object"},
        {",\"media\":{\"chunk\":\"2\",\"timestamp\":\"5\",\"payload\":\"QUJD\"}",
         "media.track is missing"},
        {",\"media\":{\"track\":\"inbound\",\"timestamp\":\"5\",\"payload\":\"QUJD\"}",
         "media.chunk is missing"},
        {",\"media\":{\"track\":\"inbound\",\"chunk\":2,\"timestamp\":\"5\",\"payload\":\"QUJD\"}",
         "media.chunk is not a string of digits"},
        {",\"media\":{\"track\":\"inbound\",\"chunk\":\"2\",\"timestamp\":\"5ms\",\"payload\":"
         "\"QUJD\"}",
         "media.timestamp is not a string of digits"},
        {",\"media\":{\"track\":\"inbound\",\"chunk\":\"2\",\"timestamp\":5,\"payload\":\"QUJD\"}",
         "media.timestamp is not a string of digits"},
        {",\"media\":{\"track\":\"inbound\",\"chunk\":\"2\",\"timestamp\":\"5\"}",
         "media.payload is missing"},
        {",\"media\":{\"track\":\"inbound\",\"chunk\":\"2\",\"timestamp\":\"5\",\"payload\":[]}",
         "media.payload is not a string"},
        {",\"media\":{\"track\":\"inbound_track_and_more\",\"chunk\":\"2\",\"timestamp\":\"5\","
         "\"payload\":\"QUJD\"}",
         "media.track is too long"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[1024];

        snprintf(msg, sizeof(msg), "%s%s}", head, cases[i].body);
        refuse(msg, SB_EPARSE, cases[i].why);
    }
}

Test(event, bad_base64)
{
    const char *bad[] = {
        "QUJ", /* not a multiple of 4 */
        "Q",
        "QUJDR",
        "QU=D", /* '=' in the middle */
        "=QUJ",
        "QQ=A",
        "Q===", /* three pads */
        "QUJDRA==QUJD",
        "QUJD====",
        "QU JD",
        " QUJD",
        "QUJD\\n",
        "QUJ\\tD",
        "QU-_",
        "QUJ*",
        "QUJD\\u00e9AAA",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *msg = media_msg(bad[i]);

        refuse(msg, SB_EPARSE, "media.payload is not valid base64");
        free(msg);
    }
}

static char *b64(const unsigned char *data, size_t len)
{
    char *s = malloc(len / 3 * 4 + 5);

    cr_assert_not_null(s);
    EVP_EncodeBlock((unsigned char *)s, data, (int)len);
    return s;
}

Test(event, payload_limit)
{
    static unsigned char data[MEDIA_MAX_PAYLOAD + 3];
    char *enc, *msg;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 7 + 3);
    /* Exactly the maximum decodes in full, without touching past the array. */
    enc = b64(data, MEDIA_MAX_PAYLOAD);
    msg = media_msg(enc);
    cr_assert_eq(parse(msg), 0, "%s", err);
    cr_assert_eq(ev.payload_len, MEDIA_MAX_PAYLOAD);
    cr_assert_arr_eq(ev.payload, data, MEDIA_MAX_PAYLOAD);
    free(enc);
    free(msg);
    for (size_t extra = 1; extra <= 3; extra++) {
        enc = b64(data, MEDIA_MAX_PAYLOAD + extra);
        msg = media_msg(enc);
        refuse(msg, SB_ETOOBIG, "media.payload is over 4096 bytes");
        free(enc);
        free(msg);
    }
}

Test(event, huge_message)
{
    struct buf b = BUF_INIT(1 << 20);

    cr_assert_eq(buf_puts(&b, "{\"event\":\"connected\",\"pad\":\""), 0);
    while (b.len < MEDIA_EVENT_MAX_SIZE - 2)
        cr_assert_eq(buf_putc(&b, 'x'), 0);
    cr_assert_eq(buf_puts(&b, "\"}"), 0);
    cr_assert_eq(b.len, MEDIA_EVENT_MAX_SIZE);
    cr_assert_eq(media_event_parse(b.data, b.len, &ev, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(buf_putc(&b, ' '), 0);
    cr_assert_eq(media_event_parse(b.data, b.len, &ev, err, sizeof(err)), SB_ETOOBIG);
    cr_assert_str_eq(err, "message is over 16384 bytes");
    buf_release(&b);
}

Test(event, dtmf_fields)
{
    const char *head = "{\"event\":\"dtmf\",\"sequenceNumber\":\"5\",\"streamSid\":\"" STREAM "\"";
    const struct {
        const char *body;
        const char *why;
    } cases[] = {
        {"", "dtmf is missing"},
        {",\"dtmf\":{\"track\":\"inbound_track\"}", "dtmf.digit is missing"},
        {",\"dtmf\":{\"digit\":1}", "dtmf.digit is not a single DTMF digit"},
        {",\"dtmf\":{\"digit\":\"12\"}", "dtmf.digit is not a single DTMF digit"},
        {",\"dtmf\":{\"digit\":\"\"}", "dtmf.digit is not a single DTMF digit"},
        {",\"dtmf\":{\"digit\":\"x\"}", "dtmf.digit is not a single DTMF digit"},
        {",\"dtmf\":{\"track\":5,\"digit\":\"1\"}", "dtmf.track is not a string"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[512];

        snprintf(msg, sizeof(msg), "%s%s}", head, cases[i].body);
        refuse(msg, SB_EPARSE, cases[i].why);
    }
}

Test(event, mark_and_stop_fields)
{
    refuse("{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":\"" STREAM "\"}", SB_EPARSE,
           "mark is missing");
    refuse("{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":\"" STREAM "\",\"mark\":{}}",
           SB_EPARSE, "mark.name is missing");
    refuse("{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":\"" STREAM
           "\",\"mark\":{\"name\":false}}",
           SB_EPARSE, "mark.name is not a string");
    refuse("{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":\"" STREAM
           "\",\"mark\":{\"name\":"
           "\"0123456789012345678901234567890123456789012345678901234567890123\"}}",
           SB_EPARSE, "mark.name is too long");
    cr_assert_eq(parse("{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":\"" STREAM
                       "\",\"mark\":{\"name\":"
                       "\"012345678901234567890123456789012345678901234567890123456789012\"}}"),
                 0, "%s", err);
    cr_assert_eq(strlen(ev.mark), 63);
    refuse("{\"event\":\"stop\",\"sequenceNumber\":\"5\",\"streamSid\":\"" STREAM "\",\"stop\":1}",
           SB_EPARSE, "stop is not an object");
    refuse("{\"event\":\"stop\",\"sequenceNumber\":\"5\",\"streamSid\":\"" STREAM
           "\",\"stop\":{\"callSid\":[]}}",
           SB_EPARSE, "stop.callSid is not a string");
}

Test(event, connected_fields_are_typed)
{
    refuse("{\"event\":\"connected\",\"protocol\":1}", SB_EPARSE, "protocol is not a string");
    refuse("{\"event\":\"connected\",\"version\":1.0}", SB_EPARSE, "version is not a string");
}

Test(event, err_may_be_null_or_short)
{
    char small[8];

    cr_assert_eq(media_event_parse("[]", 2, &ev, NULL, 0), SB_EPARSE);
    cr_assert_eq(media_event_parse("[]", 2, &ev, small, sizeof(small)), SB_EPARSE);
    cr_assert_str_eq(small, "message");
    cr_assert_eq(media_event_parse("{}", 2, NULL, small, sizeof(small)), SB_EINVAL);
}

/* -- messages to Twilio (section 5.3) -- */

Test(event, write_media_exact)
{
    struct buf b = BUF_INIT(1 << 16);

    cr_assert_eq(media_event_write_media(&b, STREAM, (const unsigned char *)"ABC", 3), 0);
    cr_assert_str_eq(buf_cstr(&b), "{\"event\":\"media\",\"streamSid\":\"" STREAM
                                   "\",\"media\":{\"payload\":\"QUJD\"}}");
    buf_reset(&b);
    cr_assert_eq(media_event_write_media(&b, STREAM, (const unsigned char *)"AB", 2), 0);
    cr_assert_str_eq(buf_cstr(&b), "{\"event\":\"media\",\"streamSid\":\"" STREAM
                                   "\",\"media\":{\"payload\":\"QUI=\"}}");
    buf_reset(&b);
    cr_assert_eq(media_event_write_media(&b, STREAM, NULL, 0), 0);
    cr_assert_str_eq(buf_cstr(&b), "{\"event\":\"media\",\"streamSid\":\"" STREAM
                                   "\",\"media\":{\"payload\":\"\"}}");
    buf_release(&b);
}

Test(event, write_mark_and_clear_exact)
{
    struct buf b = BUF_INIT(1 << 16);

    cr_assert_eq(media_event_write_mark(&b, STREAM, "utt-7"), 0);
    cr_assert_str_eq(buf_cstr(&b), "{\"event\":\"mark\",\"streamSid\":\"" STREAM
                                   "\",\"mark\":{\"name\":\"utt-7\"}}");
    buf_reset(&b);
    cr_assert_eq(media_event_write_clear(&b, STREAM), 0);
    cr_assert_str_eq(buf_cstr(&b), "{\"event\":\"clear\",\"streamSid\":\"" STREAM "\"}");
    buf_release(&b);
}

/* The writers must agree byte for byte with jansson's compact output of the same shape. */
Test(event, writers_match_jansson)
{
    const char *names[] = {"plain",
                           "",
                           "quote\"back\\slash",
                           "tab\tnl\ncr\r\x01",
                           "caf\xc3\xa9",
                           "\xe2\x80\xa6 \xf0\x9f\x93\x9e",
                           "a/b",
                           "\x7f"};
    struct buf b = BUF_INIT(1 << 16);

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *j = json_pack("{s:s, s:s, s:{s:s}}", "event", "mark", "streamSid", names[i], "mark",
                              "name", names[i]);
        char *want = json_dumps(j, JSON_COMPACT);

        buf_reset(&b);
        cr_assert_eq(media_event_write_mark(&b, names[i], names[i]), 0);
        cr_assert_str_eq(buf_cstr(&b), want);
        free(want);
        json_decref(j);

        j = json_pack("{s:s, s:s}", "event", "clear", "streamSid", names[i]);
        want = json_dumps(j, JSON_COMPACT);
        buf_reset(&b);
        cr_assert_eq(media_event_write_clear(&b, names[i]), 0);
        cr_assert_str_eq(buf_cstr(&b), want);
        free(want);
        json_decref(j);
    }
    buf_release(&b);
}

Test(event, writers_refuse_bad_utf8_and_leave_the_buf_alone)
{
    struct buf b = BUF_INIT(1 << 16);

    cr_assert_eq(buf_puts(&b, "kept"), 0);
    cr_assert_eq(media_event_write_mark(&b, STREAM, "bad\xff"), SB_EINVAL);
    cr_assert_str_eq(buf_cstr(&b), "kept");
    cr_assert_eq(media_event_write_clear(&b, "\xc3"), SB_EINVAL);
    cr_assert_eq(media_event_write_media(&b, "\xc3", (const unsigned char *)"A", 1), SB_EINVAL);
    cr_assert_str_eq(buf_cstr(&b), "kept");
    cr_assert_eq(media_event_write_mark(&b, NULL, "x"), SB_EINVAL);
    cr_assert_eq(media_event_write_media(&b, STREAM, NULL, 3), SB_EINVAL);
    cr_assert_str_eq(buf_cstr(&b), "kept");
    buf_release(&b);
}

Test(event, writers_append_and_respect_the_maximum)
{
    unsigned char frame[PHONE_FRAME_BYTES];
    struct buf b = BUF_INIT(100);

    memset(frame, 0xFF, sizeof(frame));
    cr_assert_eq(buf_puts(&b, "x"), 0);
    cr_assert_eq(media_event_write_media(&b, STREAM, frame, sizeof(frame)), SB_ETOOBIG);
    cr_assert_str_eq(buf_cstr(&b), "x");
    cr_assert_eq(media_event_write_clear(&b, STREAM), 0);
    cr_assert_str_eq(buf_cstr(&b), "x{\"event\":\"clear\",\"streamSid\":\"" STREAM "\"}");
    buf_release(&b);
}

/* Writes `len` bytes, re-reads the JSON with jansson and decodes through the parser. */
static void round_trip(const unsigned char *data, size_t len)
{
    struct buf b = BUF_INIT(1 << 20);
    json_t *root, *payload;
    json_error_t jerr;
    char *msg;

    cr_assert_eq(media_event_write_media(&b, STREAM, data, len), 0);
    root = json_loadb(b.data, b.len, 0, &jerr);
    cr_assert_not_null(root, "%s", jerr.text);
    cr_assert_eq(json_unpack(root, "{s:{s:o}}", "media", "payload", &payload), 0);
    cr_assert_eq(json_string_length(payload), (len + 2) / 3 * 4);
    msg = media_msg(json_string_value(payload));
    cr_assert_eq(parse(msg), 0, "len %zu: %s", len, err);
    cr_assert_eq(ev.payload_len, len);
    if (len)
        cr_assert_arr_eq(ev.payload, data, len, "len %zu", len);
    free(msg);
    json_decref(root);
    buf_release(&b);
}

Test(event, base64_round_trips)
{
    static unsigned char data[MEDIA_MAX_PAYLOAD];
    unsigned x = 12345;

    for (size_t i = 0; i < sizeof(data); i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (unsigned char)(x >> 16);
    }
    for (size_t len = 0; len <= 400; len++)
        round_trip(data, len);
    /* The writer encodes in chunks: lengths around the chunk edges too. */
    for (size_t len = 760; len <= 1540; len += 1)
        round_trip(data, len);
    round_trip(data, MEDIA_MAX_PAYLOAD);
}

Test(event, base64_round_trip_of_160_byte_frames)
{
    unsigned char frame[PHONE_FRAME_BYTES];

    /* All 256 byte values pass through, including 0x00 and mu-law silence 0xFF. */
    for (int start = 0; start < 256; start += 32) {
        for (int i = 0; i < PHONE_FRAME_BYTES; i++)
            frame[i] = (unsigned char)(start + i);
        round_trip(frame, sizeof(frame));
    }
    memset(frame, 0xFF, sizeof(frame));
    round_trip(frame, sizeof(frame));
}

/* --- the media fast path ------------------------------------------------------ */

#define TWILIO_MEDIA                                                                               \
    "{\"event\":\"media\",\"sequenceNumber\":\"3\",\"media\":{\"track\":\"inbound\","              \
    "\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"no+JhoaJjpz/\"},\"streamSid\":\"" STREAM    \
    "\"}"

static struct media_event fast_ev, tree_ev;

Test(event_fast, takes_twilios_media_message_and_agrees_with_the_tree)
{
    char why[64];

    cr_assert_eq(media_event_parse_fast(TWILIO_MEDIA, strlen(TWILIO_MEDIA), &fast_ev), 1);
    cr_assert_eq(
        media_event_parse_tree(TWILIO_MEDIA, strlen(TWILIO_MEDIA), &tree_ev, why, sizeof(why)), 0);
    cr_assert_eq(fast_ev.kind, MEDIA_EV_MEDIA);
    cr_assert_str_eq(fast_ev.event, "media");
    cr_assert_eq(fast_ev.sequence, 3);
    cr_assert_str_eq(fast_ev.stream_sid, STREAM);
    cr_assert_str_eq(fast_ev.track, "inbound");
    cr_assert_eq(fast_ev.chunk, 1);
    cr_assert_eq(fast_ev.timestamp, 5);
    cr_assert_eq(fast_ev.payload_len, 9);
    cr_assert_eq(memcmp(fast_ev.payload, tree_ev.payload, 9), 0);
    cr_assert_eq(tree_ev.payload_len, 9);
}

Test(event_fast, escapes_and_whitespace_read_the_same)
{
    static const char text[] =
        " {\"event\" : \"med\\u0069a\",\n \"sequenceNumber\":\"3\",\"streamSid\":\"" STREAM "\","
        "\"media\":{\"track\":\"in\\/"
        "bound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"}}";

    /* Whichever reads it, the result is the tree's. */
    cr_assert_eq(parse(text), 0, "%s", err);
    cr_assert_str_eq(ev.track, "in/bound");
    cr_assert_str_eq(ev.event, "media");
}

#define KEY_32 "abcdefghijklmnopqrstuvwxyzabcdef"
#define LONG_KEY KEY_32 KEY_32 KEY_32 KEY_32 KEY_32 KEY_32 KEY_32 KEY_32

/* Messages the fast path must leave to the tree: it declines, and the tree decides. */
Test(event_fast, declines_what_it_cannot_vouch_for)
{
    static const struct {
        const char *text;
        int tree_takes_it; /* well-formed: only the fast path must leave it */
    } declined[] = {
        /* not media, or not only media's keys */
        {"{\"event\":\"mark\",\"sequenceNumber\":\"3\",\"streamSid\":\"MZ1\",\"mark\":{\"name\":"
         "\"x\"}}",
         1},
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"streamSid\":\"MZ1\",\"extra\":\"1\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"}}",
         1},
        /* a key twice */
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"streamSid\":\"MZ1\",\"streamSid\":"
         "\"MZ2\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"}}",
         0},
        /* a number where Twilio sends a string */
        {"{\"event\":\"media\",\"sequenceNumber\":3,\"streamSid\":\"MZ1\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"}}",
         0},
        /* a missing field, an empty one, a non-ASCII one */
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"streamSid\":\"MZ1\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"payload\":\"\"}}",
         0},
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"streamSid\":\"\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"}}",
         0},
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"streamSid\":\"MZ\xc3\xa9\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"}}",
         1},
        /* bad digits, bad base64 */
        {"{\"event\":\"media\",\"sequenceNumber\":\"-3\",\"streamSid\":\"MZ1\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"}}",
         0},
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"streamSid\":\"MZ1\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"abc\"}"
         "}",
         0},
        /* not JSON: a trailing comma, a comment, trailing bytes, cut short */
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"streamSid\":\"MZ1\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"},}",
         0},
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"streamSid\":\"MZ1\", // hi\n"
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"}}",
         0},
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"streamSid\":\"MZ1\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"}}x",
         0},
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"streamSid\":\"MZ1\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"}",
         0},
        /* JSON that LEJP reads otherwise: a '#' comment to the end of the line ... */
        {"{\"event\":\"media\",#junk \xff\n\"sequenceNumber\":\"3\",\"streamSid\":\"MZ1\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"}}",
         0},
        /* ... dotted keys at the root, taken for the nested ones ... */
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"streamSid\":\"MZ1\",\"media\":{},"
         "\"media.track\":\"inbound\",\"media.chunk\":\"1\",\"media.timestamp\":\"5\","
         "\"media.payload\":\"\"}",
         0},
        /* ... a NUL in a key, which ends LEJP's path there ... */
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"streamSid\\u0000x\":\"MZ1\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"}}",
         0},
        /* ... and a key longer than LEJP's path, which wraps round onto the next key. */
        {"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"" LONG_KEY "streamSid\":\"MZ1\","
         "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"5\",\"payload\":\"\"}}",
         0},
    };

    for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++) {
        const char *t = declined[i].text;
        char why[128];
        int rc;

        cr_expect_eq(media_event_parse_fast(t, strlen(t), &fast_ev), 0, "accepted: %s", t);
        rc = media_event_parse_tree(t, strlen(t), &tree_ev, why, sizeof(why));
        cr_expect_eq(rc == 0, declined[i].tree_takes_it, "tree rc %d (%s): %s", rc, why, t);
    }
}
