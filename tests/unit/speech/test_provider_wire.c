/*
 * Tests for the cloud speech providers' wire code: speech/provider_wire
 * (what they share), speech/deepgram_wire (Deepgram's streaming
 * recognition) and speech/tts_wire (ElevenLabs stream-input, Cartesia's
 * TTS socket). Each builder's exact output in English and Spanish, each
 * parser on messages shaped as the providers' SDKs and docs show them (the
 * source is named above each), and malformed input refused with a reason.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/utf8.h"
#include "speech/deepgram_wire.h"
#include "speech/provider_wire.h"
#include "speech/tts_wire.h"

#define SPANISH "¿Cuál es el horario? Mañana."

/* A JSON text's member `key` as a string (the builders' output read back). */
static char *json_member(const char *text, const char *key)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    char *value;

    cr_assert_not_null(root, "%s: %s", text, je.text);
    cr_assert(json_is_string(json_object_get(root, key)), "%s", text);
    value = strdup(json_string_value(json_object_get(root, key)));
    json_decref(root);
    return value;
}

/* ---- provider_wire ------------------------------------------------------ */

Test(provider_wire, escape_keeps_unreserved_and_encodes_the_rest)
{
    struct buf b = BUF_INIT(256);

    cr_assert_eq(provider_wire_escape(&b, "nova-3.x_y~Z9"), 0);
    cr_assert_str_eq(buf_cstr(&b), "nova-3.x_y~Z9");
    buf_reset(&b);
    cr_assert_eq(provider_wire_escape(&b, "a b/c?d&e=f#ñ%"), 0);
    cr_assert_str_eq(buf_cstr(&b), "a%20b%2Fc%3Fd%26e%3Df%23%C3%B1%25");
    buf_release(&b);
}

Test(provider_wire, escape_past_the_maximum_leaves_the_buffer)
{
    struct buf b = BUF_INIT(8);

    cr_assert_eq(buf_puts(&b, "x="), 0);
    cr_assert_eq(provider_wire_escape(&b, "ñññ"), SB_ETOOBIG);
    cr_assert_str_eq(buf_cstr(&b), "x=");
    buf_release(&b);
}

Test(provider_wire, base_url_default_trailing_slash_and_http_schemes)
{
    struct buf b = BUF_INIT(256);
    char err[128] = "";

    cr_assert_eq(provider_wire_base_url(&b, NULL, "wss://api.x.com", "x", err, sizeof(err)), 0);
    cr_assert_str_eq(buf_cstr(&b), "wss://api.x.com");
    buf_reset(&b);
    cr_assert_eq(provider_wire_base_url(&b, "", "wss://api.x.com", "x", err, sizeof(err)), 0);
    cr_assert_str_eq(buf_cstr(&b), "wss://api.x.com");
    buf_reset(&b);
    cr_assert_eq(provider_wire_base_url(&b, "http://127.0.0.1:8080/dg//", "wss://api.x.com", "x",
                                        err, sizeof(err)),
                 0);
    cr_assert_str_eq(buf_cstr(&b), "ws://127.0.0.1:8080/dg");
    buf_reset(&b);
    cr_assert_eq(provider_wire_base_url(&b, "https://proxy.example", "wss://api.x.com", "x", err,
                                        sizeof(err)),
                 0);
    cr_assert_str_eq(buf_cstr(&b), "wss://proxy.example");
    buf_release(&b);
}

Test(provider_wire, base_url_refusals_name_the_provider)
{
    const char *bad[] = {"ftp://x",      "api.deepgram.com", "wss://",    "wss:///path",
                         "wss://x/?a=b", "wss://x#f",        "wss://a b", "wss://\xc3\xb1.com"};
    struct buf b = BUF_INIT(256);
    char err[128];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        cr_assert_eq(provider_wire_base_url(&b, bad[i], "wss://d", "deepgram", err, sizeof(err)),
                     SB_EINVAL, "%s", bad[i]);
        cr_assert(strncmp(err, "deepgram url", 12) == 0, "%s: %s", bad[i], err);
        cr_assert_eq(b.len, 0);
    }
    buf_release(&b);
}

Test(provider_wire, iso639_1_of_tags)
{
    cr_assert_str_eq(provider_wire_iso639_1("es-MX"), "es");
    cr_assert_str_eq(provider_wire_iso639_1("EN_us"), "en");
    cr_assert_str_eq(provider_wire_iso639_1("cmn-CN"), "zh");
    cr_assert_str_eq(provider_wire_iso639_1("arb"), "ar");
    cr_assert_str_eq(provider_wire_iso639_1("xx-YY"), "");
    cr_assert_str_eq(provider_wire_iso639_1(""), "");
    cr_assert_str_eq(provider_wire_iso639_1(NULL), "");
}

Test(provider_wire, base64_strict)
{
    struct buf b = BUF_INIT(64);

    cr_assert_eq(provider_wire_base64(&b, "", 0), 0);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(provider_wire_base64(&b, "TQ==", 4), 0);
    cr_assert_eq(provider_wire_base64(&b, "TWE=", 4), 0);
    cr_assert_eq(provider_wire_base64(&b, "TWFu", 4), 0);
    cr_assert_eq(b.len, 6);
    cr_assert(memcmp(b.data, "MMaMan", 6) == 0);
    /* Each leaves what was decoded before. */
    const char *bad[] = {"TWF", "TW=u", "T===", "TW\nu", " TWFu", "TWF-", "TWF_", "====", "TWFu="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(provider_wire_base64(&b, bad[i], strlen(bad[i])), SB_EPARSE, "%s", bad[i]);
        cr_assert_eq(b.len, 6, "%s", bad[i]);
    }
    buf_release(&b);
}

Test(provider_wire, base64_past_the_maximum_and_long_input)
{
    struct buf small = BUF_INIT(2), big = BUF_INIT(1 << 20);
    size_t n = 3 * 5000; /* more than one of the decoder's chunks */
    unsigned char *bytes = malloc(n);
    char *text = malloc(n / 3 * 4 + 1);

    cr_assert_eq(provider_wire_base64(&small, "TWFu", 4), SB_ETOOBIG);
    cr_assert_eq(small.len, 0);
    for (size_t i = 0; i < n; i++)
        bytes[i] = (unsigned char)(i * 7);
    /* Encoded here by the obvious table, to check the decoder against another coder. */
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0, o = 0; i < n; i += 3) {
        unsigned v = (unsigned)bytes[i] << 16 | (unsigned)bytes[i + 1] << 8 | bytes[i + 2];

        text[o++] = alphabet[v >> 18];
        text[o++] = alphabet[(v >> 12) & 63];
        text[o++] = alphabet[(v >> 6) & 63];
        text[o++] = alphabet[v & 63];
    }
    cr_assert_eq(provider_wire_base64(&big, text, n / 3 * 4), 0);
    cr_assert_eq(big.len, n);
    cr_assert(memcmp(big.data, bytes, n) == 0);
    free(bytes);
    free(text);
    buf_release(&small);
    buf_release(&big);
}

Test(provider_wire, copy_cuts_at_a_character)
{
    char small[6];

    cr_assert_eq(provider_wire_copy(small, sizeof(small), "abc", 3), 0);
    cr_assert_str_eq(small, "abc");
    /* "añoño" is 7 bytes; 5 fit, and the second ñ would be cut in two. */
    cr_assert_eq(provider_wire_copy(small, sizeof(small), "añoño", 7), 1);
    cr_assert_str_eq(small, "año");
}

/* ---- Deepgram: the URL -------------------------------------------------- */

#define DG_QUERY                                                                                   \
    "&encoding=mulaw&sample_rate=8000&channels=1&interim_results=true&endpointing=300"             \
    "&utterance_end_ms=1000&vad_events=true&smart_format=true&punctuate=true"

Test(deepgram_wire, url_english_defaults)
{
    struct buf b = BUF_INIT(1024);
    char err[128] = "";

    cr_assert_eq(deepgram_listen_url(&b, NULL, NULL, "en-US", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b),
                     "wss://api.deepgram.com/v1/listen?model=nova-3&language=en-US" DG_QUERY);
    buf_reset(&b);
    cr_assert_eq(deepgram_listen_url(&b, "", "", NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b),
                     "wss://api.deepgram.com/v1/listen?model=nova-3&language=en" DG_QUERY);
    buf_release(&b);
}

Test(deepgram_wire, url_spanish_languages)
{
    struct buf b = BUF_INIT(1024);
    char err[128] = "";

    /* Deepgram lists "es" and "es-419": a Mexican caller is heard as "es". */
    cr_assert_eq(deepgram_listen_url(&b, NULL, NULL, "es-MX", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b),
                     "wss://api.deepgram.com/v1/listen?model=nova-3&language=es" DG_QUERY);
    buf_reset(&b);
    cr_assert_eq(deepgram_listen_url(&b, NULL, NULL, "ES_419", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b),
                     "wss://api.deepgram.com/v1/listen?model=nova-3&language=es-419" DG_QUERY);
    buf_reset(&b);
    /* nova-3's multilingual model, for a caller who switches languages. */
    cr_assert_eq(deepgram_listen_url(&b, NULL, NULL, "multi", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b),
                     "wss://api.deepgram.com/v1/listen?model=nova-3&language=multi" DG_QUERY);
    buf_release(&b);
}

Test(deepgram_wire, url_base_and_model_are_kept_and_encoded)
{
    struct buf b = BUF_INIT(1024);
    char err[128] = "";

    cr_assert_eq(buf_puts(&b, "prefix "), 0);
    cr_assert_eq(deepgram_listen_url(&b, "http://127.0.0.1:9000/", "nova-2 phonecall", "en-GB", err,
                                     sizeof(err)),
                 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "prefix ws://127.0.0.1:9000/v1/listen?model=nova-2%20phonecall"
                                   "&language=en-GB" DG_QUERY);
    buf_release(&b);
}

Test(deepgram_wire, url_refusals)
{
    struct buf b = BUF_INIT(1024), tiny = BUF_INIT(40);
    char err[128] = "";

    cr_assert_eq(deepgram_listen_url(&b, NULL, NULL, "xx-YY", err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "deepgram has no language for 'xx-YY'");
    cr_assert_eq(deepgram_listen_url(&b, "api.deepgram.com", NULL, "en", err, sizeof(err)),
                 SB_EINVAL);
    cr_assert(strstr(err, "deepgram url") == err, "%s", err);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(deepgram_listen_url(&tiny, NULL, NULL, "en", err, sizeof(err)), SB_ETOOBIG);
    cr_assert_eq(tiny.len, 0);
    buf_release(&b);
    buf_release(&tiny);
}

Test(deepgram_wire, control_messages)
{
    cr_assert_str_eq(DEEPGRAM_KEEPALIVE, "{\"type\":\"KeepAlive\"}");
    cr_assert_str_eq(DEEPGRAM_FINALIZE, "{\"type\":\"Finalize\"}");
    cr_assert_str_eq(DEEPGRAM_CLOSE_STREAM, "{\"type\":\"CloseStream\"}");
}

/* ---- Deepgram: the parser ----------------------------------------------- */

static int dg(const char *json, struct deepgram_msg *m, char *err, size_t errsize)
{
    return deepgram_parse(json, strlen(json), m, err, errsize);
}

/* Shape: deepgram-js-sdk src/api/resources/listen/resources/v1/types/ListenV1Results.ts. */
Test(deepgram_wire, results_final)
{
    const char *msg =
        "{\"type\":\"Results\",\"channel_index\":[0,1],\"duration\":1.02,\"start\":3.5,"
        "\"is_final\":true,\"speech_final\":true,\"from_finalize\":false,"
        "\"channel\":{\"alternatives\":[{\"transcript\":\"book me for "
        "tuesday\",\"confidence\":0.98,"
        "\"words\":[{\"word\":\"book\",\"start\":3.52,\"end\":3.71,\"confidence\":0.99,"
        "\"punctuated_word\":\"Book\"}]}]},"
        "\"metadata\":{\"request_id\":\"1b2c\",\"model_uuid\":\"a\",\"model_info\":{\"name\":"
        "\"general-nova-3\",\"version\":\"2024\",\"arch\":\"nova-3\"}}}";
    struct deepgram_msg m;
    char err[128] = "";

    cr_assert_eq(dg(msg, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(m.kind, DEEPGRAM_RESULTS);
    cr_assert_str_eq(m.type, "Results");
    cr_assert_str_eq(m.transcript, "book me for tuesday");
    cr_assert_eq(m.truncated, 0);
    cr_assert_float_eq(m.confidence, 0.98, 1e-9);
    cr_assert(m.is_final && m.speech_final && !m.from_finalize);
    cr_assert_float_eq(m.start, 3.5, 1e-9);
    cr_assert_float_eq(m.duration, 1.02, 1e-9);
}

Test(deepgram_wire, results_interim_spanish_and_finalize)
{
    const char *interim = "{\"type\":\"Results\",\"start\":0,\"duration\":0.5,\"is_final\":false,"
                          "\"channel\":{\"alternatives\":[{\"transcript\":\"" SPANISH
                          "\",\"confidence\":0.9,\"words\":[]}]}}";
    const char *finalized = "{\"type\":\"Results\",\"start\":1,\"duration\":0.2,\"is_final\":true,"
                            "\"from_finalize\":true,"
                            "\"channel\":{\"alternatives\":[{\"transcript\":\"\"}]}}";
    struct deepgram_msg m;
    char err[128] = "";

    cr_assert_eq(dg(interim, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(m.transcript, SPANISH);
    cr_assert(!m.is_final && !m.speech_final && !m.from_finalize);
    cr_assert_eq(dg(finalized, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(m.transcript, "");
    cr_assert(m.is_final && m.from_finalize);
    cr_assert_float_eq(m.confidence, 0, 1e-9);
}

Test(deepgram_wire, results_without_alternatives_is_silence)
{
    struct deepgram_msg m;
    char err[128] = "";

    cr_assert_eq(
        dg("{\"type\":\"Results\",\"channel\":{\"alternatives\":[]}}", &m, err, sizeof(err)), 0,
        "%s", err);
    cr_assert_eq(m.kind, DEEPGRAM_RESULTS);
    cr_assert_str_eq(m.transcript, "");
}

/* Shapes: ListenV1UtteranceEnd.ts, ListenV1SpeechStarted.ts, ListenV1Metadata.ts (same SDK). */
Test(deepgram_wire, utterance_end_speech_started_metadata)
{
    struct deepgram_msg m;
    char err[128] = "";

    cr_assert_eq(dg("{\"type\":\"UtteranceEnd\",\"channel\":[0,1],\"last_word_end\":4.54}", &m, err,
                    sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(m.kind, DEEPGRAM_UTTERANCE_END);
    cr_assert_float_eq(m.last_word_end, 4.54, 1e-9);
    cr_assert_eq(
        dg("{\"type\":\"SpeechStarted\",\"channel\":[0],\"timestamp\":3.48}", &m, err, sizeof(err)),
        0, "%s", err);
    cr_assert_eq(m.kind, DEEPGRAM_SPEECH_STARTED);
    cr_assert_float_eq(m.timestamp, 3.48, 1e-9);
    /* The docs' close-stream example. */
    cr_assert_eq(dg("{\"type\":\"Metadata\",\"transaction_key\":\"deprecated\","
                    "\"request_id\":\"8c8ebea9-dbec-45fa-a035-e4632cb05b5f\","
                    "\"sha256\":\"e3b0c44298fc\",\"created\":\"2024-08-29T22:37:55.202Z\","
                    "\"duration\":0.0,\"channels\":0}",
                    &m, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(m.kind, DEEPGRAM_METADATA);
    cr_assert_str_eq(m.request_id, "8c8ebea9-dbec-45fa-a035-e4632cb05b5f");
    cr_assert_float_eq(m.duration, 0, 1e-9);
}

/*
 * Errors: deepgram-python-sdk 3.x deepgram/clients/live/v1/response.py
 * ErrorResponse (description, message, type, variant); deepgram-js-sdk
 * ListenV2FatalError.ts / AgentV1Error.ts (code, description);
 * ErrorResponseLegacyError.ts (err_code, err_msg) and
 * ErrorResponseModernError.ts (category, message, details).
 */
Test(deepgram_wire, errors_in_every_shape)
{
    struct deepgram_msg m;
    char err[128] = "";

    cr_assert_eq(dg("{\"type\":\"Error\",\"description\":\"Failed to decode audio\","
                    "\"message\":\"DATA-0000\",\"variant\":\"data\"}",
                    &m, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(m.kind, DEEPGRAM_ERROR);
    cr_assert_str_eq(m.error, "Failed to decode audio");
    cr_assert_str_eq(m.error_code, "data");
    cr_assert_eq(dg("{\"type\":\"Error\",\"sequence_id\":3,\"code\":\"INTERNAL_SERVER_ERROR\","
                    "\"description\":\"try again\"}",
                    &m, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_str_eq(m.error, "try again");
    cr_assert_str_eq(m.error_code, "INTERNAL_SERVER_ERROR");
    cr_assert_eq(dg("{\"err_code\":\"INVALID_AUTH\",\"err_msg\":\"Invalid credentials.\","
                    "\"request_id\":\"r-1\"}",
                    &m, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(m.kind, DEEPGRAM_ERROR);
    cr_assert_str_eq(m.error, "Invalid credentials.");
    cr_assert_str_eq(m.error_code, "INVALID_AUTH");
    cr_assert_str_eq(m.request_id, "r-1");
    cr_assert_eq(dg("{\"category\":\"INVALID_QUERY_PARAMETER\",\"message\":\"No such model\"}", &m,
                    err, sizeof(err)),
                 0, "%s", err);
    cr_assert_str_eq(m.error, "No such model");
    cr_assert_str_eq(m.error_code, "INVALID_QUERY_PARAMETER");
    cr_assert_eq(dg("{\"type\":\"Error\"}", &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(m.error, "deepgram sent an error without a reason");
}

Test(deepgram_wire, unknown_types_are_ignored_not_refused)
{
    struct deepgram_msg m;
    char err[128] = "";

    cr_assert_eq(dg("{\"type\":\"Warning\",\"description\":\"x\"}", &m, err, sizeof(err)), 0);
    cr_assert_eq(m.kind, DEEPGRAM_OTHER);
    cr_assert_str_eq(m.type, "Warning");
}

static void dg_refused(const char *json, int code, const char *reason)
{
    struct deepgram_msg m;
    char err[160] = "";

    memset(&m, 0x5a, sizeof(m));
    cr_assert_eq(deepgram_parse(json, json ? strlen(json) : 0, &m, err, sizeof(err)), code, "%s",
                 json);
    cr_assert_str_eq(err, reason, "%s", json);
    cr_assert_eq(m.kind, 0);
    cr_assert_eq(m.transcript[0], '\0');
}

Test(deepgram_wire, malformed_messages)
{
    dg_refused("", SB_EPARSE, "deepgram message is empty");
    dg_refused(NULL, SB_EPARSE, "deepgram message is empty");
    dg_refused("Results", SB_EPARSE,
               "deepgram message is not json: '[' or '{' expected near 'Results'");
    dg_refused("[1,2]", SB_EPARSE, "deepgram message is not a json object");
    dg_refused("{\"channel\":{}}", SB_EPARSE, "deepgram message has no type");
    dg_refused("{\"type\":7}", SB_EPARSE, "deepgram message type is not a string");
    dg_refused("{\"type\":\"Results\",\"is_final\":\"yes\",\"channel\":{\"alternatives\":[]}}",
               SB_EPARSE, "deepgram results is_final is not a boolean");
    dg_refused("{\"type\":\"Results\",\"start\":-1,\"channel\":{\"alternatives\":[]}}", SB_EPARSE,
               "deepgram results start is out of range");
    dg_refused("{\"type\":\"Results\"}", SB_EPARSE, "deepgram results has no channel.alternatives");
    dg_refused("{\"type\":\"Results\",\"channel\":{\"alternatives\":[{}]}}", SB_EPARSE,
               "deepgram results has no transcript");
    dg_refused("{\"type\":\"Results\",\"channel\":{\"alternatives\":[{\"transcript\":5}]}}",
               SB_EPARSE, "deepgram results transcript is not a string");
    dg_refused("{\"type\":\"Results\",\"channel\":{\"alternatives\":[\"x\"]}}", SB_EPARSE,
               "deepgram results alternative is not an object");
    dg_refused("{\"type\":\"Results\",\"channel\":{\"alternatives\":[{\"transcript\":\"a\","
               "\"confidence\":2}]}}",
               SB_EPARSE, "deepgram results confidence is out of range");
    dg_refused("{\"type\":\"UtteranceEnd\",\"last_word_end\":\"4\"}", SB_EPARSE,
               "deepgram utteranceend last_word_end is not a number");
    dg_refused("{\"type\":\"Results\",\"type\":\"Metadata\"}", SB_EPARSE,
               "deepgram message is not json: duplicate object key near '\"type\"'");
}

Test(deepgram_wire, invalid_utf8_and_nul_are_refused)
{
    const char bad[] = "{\"type\":\"Results\",\"channel\":{\"alternatives\":[{\"transcript\":"
                       "\"a\xc3\x28\"}]}}";
    const char nul[] = "{\"type\":\"Results\",\"channel\":{\"alternatives\":[{\"transcript\":"
                       "\"a\\u0000b\"}]}}";
    const char surrogate[] = "{\"type\":\"Results\",\"channel\":{\"alternatives\":[{\"transcript\":"
                             "\"\\ud800\"}]}}";
    struct deepgram_msg m;
    char err[160] = "";

    cr_assert_eq(deepgram_parse(bad, sizeof(bad) - 1, &m, err, sizeof(err)), SB_EPARSE);
    cr_assert(strncmp(err, "deepgram message is not json", 28) == 0, "%s", err);
    cr_assert_eq(deepgram_parse(nul, sizeof(nul) - 1, &m, err, sizeof(err)), SB_EPARSE);
    cr_assert(strncmp(err, "deepgram message is not json", 28) == 0, "%s", err);
    cr_assert_eq(deepgram_parse(surrogate, sizeof(surrogate) - 1, &m, err, sizeof(err)), SB_EPARSE);
    /* A length that cuts the text in a character. */
    cr_assert_eq(deepgram_parse("{\"type\":\"Warning\"}", 5, &m, err, sizeof(err)), SB_EPARSE);
}

Test(deepgram_wire, huge_transcript_is_cut_at_a_character)
{
    struct buf msg = BUF_INIT(DEEPGRAM_MESSAGE_MAX + 100);
    struct deepgram_msg m;
    char err[160] = "";

    cr_assert_eq(buf_puts(&msg, "{\"type\":\"Results\",\"is_final\":true,\"channel\":"
                                "{\"alternatives\":[{\"transcript\":\"a"),
                 0);
    for (int i = 0; i < 600; i++)
        cr_assert_eq(buf_puts(&msg, "ñ"), 0);
    cr_assert_eq(buf_puts(&msg, "\"}]}}"), 0);
    cr_assert_eq(deepgram_parse(msg.data, msg.len, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(m.truncated, 1);
    /* "a" then 255 of the 2-byte ñ: 511 bytes; one more would leave no room for the NUL. */
    cr_assert_eq(strlen(m.transcript), DEEPGRAM_TRANSCRIPT_SIZE - 1);
    cr_assert(utf8_valid(m.transcript, strlen(m.transcript)));
    buf_release(&msg);
}

Test(deepgram_wire, message_over_the_maximum_is_refused_unread)
{
    size_t n = DEEPGRAM_MESSAGE_MAX + 1;
    char *big = malloc(n);
    struct deepgram_msg m;
    char err[160] = "";

    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    cr_assert_eq(deepgram_parse(big, n, &m, err, sizeof(err)), SB_ETOOBIG);
    cr_assert_str_eq(err, "deepgram message is over 65536 bytes");
    free(big);
}

/* ---- ElevenLabs: what the client sends ---------------------------------- */

#define VOICE "21m00Tcm4TlvDq8ikWAM"

Test(elevenlabs_wire, url_english_and_spanish)
{
    struct buf b = BUF_INIT(1024);
    char err[128] = "";

    cr_assert_eq(elevenlabs_url(&b, NULL, VOICE, NULL, "en-US", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "wss://api.elevenlabs.io/v1/text-to-speech/" VOICE
                                   "/stream-input?model_id=eleven_flash_v2_5&language_code=en"
                                   "&output_format=ulaw_8000&auto_mode=true");
    buf_reset(&b);
    cr_assert_eq(elevenlabs_url(&b, "https://eu.example/", VOICE, "eleven_turbo_v2_5", "es-MX", err,
                                sizeof(err)),
                 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "wss://eu.example/v1/text-to-speech/" VOICE
                                   "/stream-input?model_id=eleven_turbo_v2_5&language_code=es"
                                   "&output_format=ulaw_8000&auto_mode=true");
    buf_release(&b);
}

Test(elevenlabs_wire, url_leaves_language_out_for_models_that_refuse_it)
{
    struct buf b = BUF_INIT(1024);
    char err[128] = "";

    cr_assert_eq(
        elevenlabs_url(&b, NULL, "a b", "eleven_multilingual_v2", "es-MX", err, sizeof(err)), 0,
        "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "wss://api.elevenlabs.io/v1/text-to-speech/a%20b/stream-input"
                                   "?model_id=eleven_multilingual_v2&output_format=ulaw_8000"
                                   "&auto_mode=true");
    buf_reset(&b);
    cr_assert_eq(elevenlabs_url(&b, NULL, VOICE, NULL, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "wss://api.elevenlabs.io/v1/text-to-speech/" VOICE
                                   "/stream-input?model_id=eleven_flash_v2_5"
                                   "&output_format=ulaw_8000&auto_mode=true");
    buf_release(&b);
}

Test(elevenlabs_wire, url_refusals)
{
    struct buf b = BUF_INIT(1024);
    char err[128] = "";

    cr_assert_eq(elevenlabs_url(&b, NULL, "", NULL, "en", err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "elevenlabs voice id is empty");
    cr_assert_eq(elevenlabs_url(&b, NULL, NULL, NULL, "en", err, sizeof(err)), SB_EINVAL);
    cr_assert_eq(elevenlabs_url(&b, NULL, VOICE, NULL, "xx", err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "elevenlabs has no language code for 'xx'");
    cr_assert_eq(elevenlabs_url(&b, "wss://x?y", VOICE, NULL, "en", err, sizeof(err)), SB_EINVAL);
    cr_assert_eq(b.len, 0);
    buf_release(&b);
}

/* Shape: elevenlabs-js src/serialization/types/InitializeConnection.ts, RealtimeVoiceSettings.ts.
 */
Test(elevenlabs_wire, init_message_defaults_and_schedule)
{
    struct elevenlabs_settings s = ELEVENLABS_SETTINGS_DEFAULT;
    struct buf b = BUF_INIT(1024);
    char err[128] = "";

    cr_assert_eq(elevenlabs_init_message(&b, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "{\"text\":\" \",\"voice_settings\":{\"stability\":0.5,"
                                   "\"similarity_boost\":0.75,\"style\":0.0,"
                                   "\"use_speaker_boost\":true,\"speed\":1.0}}");
    buf_reset(&b);
    s.similarity_boost = 0.8;
    s.use_speaker_boost = 0;
    s.speed = 1.1;
    s.nschedule = 4;
    s.schedule[0] = 120;
    s.schedule[1] = 160;
    s.schedule[2] = 250;
    s.schedule[3] = 290;
    cr_assert_eq(elevenlabs_init_message(&b, &s, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "{\"text\":\" \",\"voice_settings\":{\"stability\":0.5,"
                                   "\"similarity_boost\":0.8,\"style\":0.0,"
                                   "\"use_speaker_boost\":false,\"speed\":1.1},"
                                   "\"generation_config\":{\"chunk_length_schedule\":"
                                   "[120,160,250,290]}}");
    cr_assert_null(strstr(b.data, "api"), "the key goes in the header");
    buf_release(&b);
}

Test(elevenlabs_wire, init_message_refuses_settings_out_of_range)
{
    struct elevenlabs_settings s = ELEVENLABS_SETTINGS_DEFAULT;
    struct buf b = BUF_INIT(1024);
    char err[128] = "";

    s.speed = 2;
    cr_assert_eq(elevenlabs_init_message(&b, &s, err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "elevenlabs speed must be between 0.7 and 1.2");
    s.speed = 1;
    s.nschedule = 1;
    s.schedule[0] = 20;
    cr_assert_eq(elevenlabs_init_message(&b, &s, err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "elevenlabs chunk_length_schedule items must be between 50 and 500");
    s.nschedule = ELEVENLABS_SCHEDULE_MAX + 1;
    cr_assert_eq(elevenlabs_init_message(&b, &s, err, sizeof(err)), SB_EINVAL);
    cr_assert_eq(b.len, 0);
    buf_release(&b);
}

/* Shape: elevenlabs-js SendText.ts; CloseConnection.ts is {"text":""}. */
Test(elevenlabs_wire, text_messages_english_spanish_and_escapes)
{
    struct buf b = BUF_INIT(1024);
    char err[128] = "";
    char *text;

    cr_assert_eq(elevenlabs_text_message(&b, "We open at nine.", 0, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_str_eq(buf_cstr(&b), "{\"text\":\"We open at nine. \"}");
    buf_reset(&b);
    cr_assert_eq(elevenlabs_text_message(&b, SPANISH, 1, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "{\"text\":\"" SPANISH " \",\"flush\":true}");
    text = json_member(buf_cstr(&b), "text");
    cr_assert_str_eq(text, SPANISH " ");
    free(text);
    buf_reset(&b);
    cr_assert_eq(elevenlabs_text_message(&b, "Say \"hi\"\\\n\t", 0, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_str_eq(buf_cstr(&b), "{\"text\":\"Say \\\"hi\\\"\\\\\\n\\t \"}");
    text = json_member(buf_cstr(&b), "text");
    cr_assert_str_eq(text, "Say \"hi\"\\\n\t ");
    free(text);
    buf_reset(&b);
    /* Already ends with a space: none added. */
    cr_assert_eq(elevenlabs_text_message(&b, "Hola. ", 0, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "{\"text\":\"Hola. \"}");
    buf_release(&b);
    cr_assert_str_eq(ELEVENLABS_END_MESSAGE, "{\"text\":\"\"}");
    cr_assert_str_eq(ELEVENLABS_KEEPALIVE_MESSAGE, "{\"text\":\" \"}");
}

Test(elevenlabs_wire, text_message_refusals)
{
    struct buf b = BUF_INIT(1 << 16);
    char err[128] = "";
    char *big = malloc(TTS_WIRE_TEXT_MAX + 2);

    cr_assert_eq(elevenlabs_text_message(&b, "", 1, err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "elevenlabs text is empty");
    cr_assert_eq(elevenlabs_text_message(&b, NULL, 1, err, sizeof(err)), SB_EINVAL);
    cr_assert_eq(elevenlabs_text_message(&b,
                                         "ma\xf1"
                                         "ana",
                                         0, err, sizeof(err)),
                 SB_EINVAL);
    cr_assert_str_eq(err, "elevenlabs text is not valid utf-8");
    memset(big, 'a', TTS_WIRE_TEXT_MAX + 1);
    big[TTS_WIRE_TEXT_MAX + 1] = '\0';
    cr_assert_eq(elevenlabs_text_message(&b, big, 0, err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "elevenlabs text is over 4096 bytes");
    big[TTS_WIRE_TEXT_MAX] = '\0';
    cr_assert_eq(elevenlabs_text_message(&b, big, 0, err, sizeof(err)), 0, "%s", err);
    free(big);
    buf_release(&b);
}

Test(elevenlabs_wire, builders_past_the_maximum_leave_the_buffer)
{
    struct buf b = BUF_INIT(16);
    char err[128] = "";

    cr_assert_eq(buf_puts(&b, "x"), 0);
    cr_assert_eq(elevenlabs_text_message(&b, "We open at nine.", 0, err, sizeof(err)), SB_ETOOBIG);
    cr_assert_str_eq(buf_cstr(&b), "x");
    cr_assert_eq(elevenlabs_init_message(&b, NULL, err, sizeof(err)), SB_ETOOBIG);
    cr_assert_str_eq(buf_cstr(&b), "x");
    buf_release(&b);
}

/* ---- ElevenLabs: what the server sends ---------------------------------- */

static int el(const char *json, struct buf *audio, struct elevenlabs_msg *m, char *err,
              size_t errsize)
{
    return elevenlabs_parse(json, strlen(json), audio, m, err, errsize);
}

/*
 * The AudioOutput example of elevenlabs-docs fern/apis/api/asyncapi.yml
 * (stream-input), with its `charsDurationsMs`; the SDK's Alignment.ts
 * spells it `charDurationsMs`: alignment is ignored either way.
 */
Test(elevenlabs_wire, audio_message_from_the_docs)
{
    const char *msg =
        "{\"audio\":\"Y3VyaW91cyBtaW5kcyB0aGluayBhbGlrZSA6KQ==\",\"isFinal\":false,"
        "\"normalizedAlignment\":{\"charStartTimesMs\":[0,3,7,9,11,12,13,15,17,19,21],"
        "\"charsDurationsMs\":[3,4,2,2,1,1,2,2,2,2,3],"
        "\"chars\":[\"H\",\"e\",\"l\",\"l\",\"o\",\" \",\"w\",\"o\",\"r\",\"l\",\"d\"]},"
        "\"alignment\":{\"charStartTimesMs\":[0,3,7,9,11,12,13,15,17,19,21],"
        "\"charDurationsMs\":[3,4,2,2,1,1,2,2,2,2,3],"
        "\"chars\":[\"H\",\"e\",\"l\",\"l\",\"o\",\" \",\"w\",\"o\",\"r\",\"l\",\"d\"]}}";
    struct buf audio = BUF_INIT(4096);
    struct elevenlabs_msg m;
    char err[128] = "";

    cr_assert_eq(el(msg, &audio, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(m.kind, ELEVENLABS_AUDIO);
    cr_assert_eq(m.is_final, 0);
    cr_assert_eq(m.audio_len, 28);
    cr_assert_eq(audio.len, 28);
    cr_assert(memcmp(audio.data, "curious minds think alike :)", 28) == 0);
    /* A second chunk is appended after the first. */
    cr_assert_eq(el("{\"audio\":\"f39+fn1+\"}", &audio, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(m.audio_len, 6);
    cr_assert_eq(audio.len, 34);
    cr_assert(memcmp(audio.data + 28, "\x7f\x7f\x7e\x7e\x7d\x7e", 6) == 0);
    buf_release(&audio);
}

/*
 * FinalOutput.ts: {"isFinal":true} ("audio will be null", asyncapi.yml);
 * the docs' multi-context example writes `is_final`.
 */
Test(elevenlabs_wire, final_in_both_spellings)
{
    struct buf audio = BUF_INIT(4096);
    struct elevenlabs_msg m;
    char err[128] = "";

    cr_assert_eq(el("{\"isFinal\":true}", &audio, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(m.kind, ELEVENLABS_FINAL);
    cr_assert_eq(m.is_final, 1);
    cr_assert_eq(el("{\"audio\":null,\"isFinal\":true,\"normalizedAlignment\":null}", &audio, &m,
                    err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(m.kind, ELEVENLABS_FINAL);
    cr_assert_eq(el("{\"is_final\":true,\"contextId\":\"turn-1\"}", &audio, &m, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(m.kind, ELEVENLABS_FINAL);
    cr_assert_eq(el("{\"audio\":\"\",\"isFinal\":null}", &audio, &m, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(m.kind, ELEVENLABS_OTHER);
    cr_assert_eq(el("{\"audio\":\"TWFu\",\"isFinal\":true}", &audio, &m, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(m.kind, ELEVENLABS_AUDIO);
    cr_assert_eq(m.is_final, 1);
    cr_assert_eq(audio.len, 3);
    buf_release(&audio);
}

/*
 * The error the server sends before closing, as reported in
 * livekit/agents#218 and elevenlabs-python#167 (message, error, code), the
 * shape elevenlabs-js types as TextToDialogueWebsocketError.
 */
Test(elevenlabs_wire, errors)
{
    struct buf audio = BUF_INIT(4096);
    struct elevenlabs_msg m;
    char err[128] = "";

    cr_assert_eq(el("{\"message\":\"Have not received a new text input within the timeout of 20.0 "
                    "seconds. Streaming input terminated.\",\"error\":\"input_timeout_exceeded\","
                    "\"code\":1008}",
                    &audio, &m, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(m.kind, ELEVENLABS_ERROR);
    cr_assert(strncmp(m.error, "Have not received a new text input", 34) == 0, "%s", m.error);
    cr_assert_str_eq(m.error_code, "input_timeout_exceeded");
    cr_assert_eq(el("{\"error\":{\"message\":\"quota exceeded\",\"code\":429}}", &audio, &m, err,
                    sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(m.kind, ELEVENLABS_ERROR);
    cr_assert_str_eq(m.error, "quota exceeded");
    cr_assert_str_eq(m.error_code, "429");
    cr_assert_eq(el("{\"type\":\"error\",\"message\":\"bad voice\"}", &audio, &m, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_str_eq(m.error, "bad voice");
    cr_assert_eq(el("{\"error\":\"invalid_input_message\"}", &audio, &m, err, sizeof(err)), 0);
    cr_assert_str_eq(m.error, "invalid_input_message");
    cr_assert_eq(audio.len, 0);
    buf_release(&audio);
}

static void el_refused(const char *json, struct buf *audio, int code, const char *reason)
{
    struct elevenlabs_msg m;
    size_t before = audio->len;
    char err[160] = "";

    memset(&m, 0x5a, sizeof(m));
    cr_assert_eq(elevenlabs_parse(json, strlen(json), audio, &m, err, sizeof(err)), code, "%s",
                 json);
    cr_assert_str_eq(err, reason, "%s", json);
    cr_assert_eq(m.kind, 0);
    cr_assert_eq(m.audio_len, 0);
    cr_assert_eq(audio->len, before, "%s", json);
}

Test(elevenlabs_wire, malformed_messages)
{
    struct buf audio = BUF_INIT(8), tiny = BUF_INIT(2);

    cr_assert_eq(buf_puts(&audio, "ab"), 0);
    el_refused("not json", &audio, SB_EPARSE,
               "elevenlabs message is not json: '[' or '{' expected near 'not'");
    el_refused("\"audio\"", &audio, SB_EPARSE,
               "elevenlabs message is not json: '[' or '{' expected near '\"audio\"'");
    el_refused("{\"audio\":42}", &audio, SB_EPARSE, "elevenlabs audio is not a string");
    el_refused("{\"audio\":\"f39+fn1\"}", &audio, SB_EPARSE, "elevenlabs audio is not base64");
    el_refused("{\"audio\":\"f39 fn1+\"}", &audio, SB_EPARSE, "elevenlabs audio is not base64");
    el_refused("{\"audio\":\"TWFu\",\"isFinal\":\"true\"}", &audio, SB_EPARSE,
               "elevenlabs isFinal is not a boolean");
    el_refused("{\"audio\":\"TWFuTWFu\",\"is_final\":1}", &audio, SB_EPARSE,
               "elevenlabs is_final is not a boolean");
    el_refused("{\"audio\":\"TWFuTWFu\"}", &tiny, SB_ETOOBIG,
               "elevenlabs audio is over the 2 bytes the buffer holds");
    el_refused("{\"audio\":\"TWFuTWFuTWFu\"}", &audio, SB_ETOOBIG,
               "elevenlabs audio is over the 8 bytes the buffer holds");
    cr_assert_str_eq(buf_cstr(&audio), "ab");
    buf_release(&audio);
    buf_release(&tiny);
}

/* ---- Cartesia: what the client sends ------------------------------------ */

#define KATIE "f786b574-daa5-4673-aa0c-cbe3e8534c02"
#define MULAW_8K                                                                                   \
    "\"output_format\":{\"container\":\"raw\",\"encoding\":\"pcm_mulaw\",\"sample_rate\":8000}"

Test(cartesia_wire, url_and_version)
{
    struct buf b = BUF_INIT(256);
    char err[128] = "";

    cr_assert_eq(cartesia_url(&b, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "wss://api.cartesia.ai/tts/websocket");
    buf_reset(&b);
    cr_assert_eq(cartesia_url(&b, "http://127.0.0.1:7000/", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "ws://127.0.0.1:7000/tts/websocket");
    buf_reset(&b);
    cr_assert_eq(cartesia_url(&b, "cartesia.ai", err, sizeof(err)), SB_EINVAL);
    cr_assert_eq(b.len, 0);
    /* cartesia-js src/client.ts sends 'cartesia-version': '2025-11-04'. */
    cr_assert_str_eq(CARTESIA_VERSION, "2025-11-04");
    buf_release(&b);
}

/* Shape: cartesia-js src/resources/tts.ts GenerationRequest, RawOutputFormat, VoiceSpecifier. */
Test(cartesia_wire, request_english)
{
    struct cartesia_request r = {0};
    struct buf b = BUF_INIT(2048);
    char err[128] = "";

    r.context_id = "turn-1";
    r.transcript = "We open at nine. ";
    r.voice_id = KATIE;
    r.lang = "en-US";
    cr_assert_eq(cartesia_request_message(&b, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "{\"context_id\":\"turn-1\",\"model_id\":\"sonic-3.5\","
                                   "\"transcript\":\"We open at nine. \","
                                   "\"voice\":{\"mode\":\"id\",\"id\":\"" KATIE "\"},"
                                   "\"language\":\"en\"," MULAW_8K ",\"continue\":false,"
                                   "\"max_buffer_delay_ms\":0}");
    buf_release(&b);
}

Test(cartesia_wire, request_spanish_continue_flush_and_end)
{
    struct cartesia_request r = {0};
    struct buf b = BUF_INIT(2048);
    char err[128] = "";
    char *text;

    r.context_id = "turno-2";
    r.model_id = "sonic-3";
    r.transcript = SPANISH;
    r.voice_id = KATIE;
    r.lang = "es-MX";
    r.cont = 1;
    r.max_buffer_delay_ms = CARTESIA_BUFFER_UNSET;
    cr_assert_eq(cartesia_request_message(&b, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "{\"context_id\":\"turno-2\",\"model_id\":\"sonic-3\","
                                   "\"transcript\":\"" SPANISH "\","
                                   "\"voice\":{\"mode\":\"id\",\"id\":\"" KATIE "\"},"
                                   "\"language\":\"es\"," MULAW_8K ",\"continue\":true}");
    text = json_member(buf_cstr(&b), "transcript");
    cr_assert_str_eq(text, SPANISH);
    free(text);
    buf_reset(&b);
    /* A flush (ws.ts flush()): empty transcript, continue and flush. */
    r.transcript = "";
    r.flush = 1;
    r.max_buffer_delay_ms = 500;
    r.lang = NULL;
    cr_assert_eq(cartesia_request_message(&b, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b),
                     "{\"context_id\":\"turno-2\",\"model_id\":\"sonic-3\","
                     "\"transcript\":\"\","
                     "\"voice\":{\"mode\":\"id\",\"id\":\"" KATIE "\"}," MULAW_8K
                     ",\"continue\":true,\"flush\":true,\"max_buffer_delay_ms\":500}");
    buf_reset(&b);
    /* The end of the context (ws.ts done()): empty transcript, continue false. */
    r.flush = 0;
    r.cont = 0;
    r.transcript = NULL;
    cr_assert_eq(cartesia_request_message(&b, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert(strstr(b.data, "\"transcript\":\"\"") && strstr(b.data, "\"continue\":false"), "%s",
              b.data);
    buf_release(&b);
}

/* Shape: cartesia-js tts.ts WebsocketClientEvent.CancelContextRequest. */
Test(cartesia_wire, cancel)
{
    struct buf b = BUF_INIT(256);
    char err[128] = "";

    cr_assert_eq(cartesia_cancel_message(&b, "turn-1", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(buf_cstr(&b), "{\"context_id\":\"turn-1\",\"cancel\":true}");
    buf_reset(&b);
    cr_assert_eq(cartesia_cancel_message(&b, "", err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "cartesia context_id is empty");
    cr_assert_eq(b.len, 0);
    buf_release(&b);
}

Test(cartesia_wire, request_refusals)
{
    struct cartesia_request r = {0};
    struct buf b = BUF_INIT(2048);
    char err[128] = "";

    cr_assert_eq(cartesia_request_message(&b, NULL, err, sizeof(err)), SB_EINVAL);
    r.transcript = "Hola.";
    r.voice_id = KATIE;
    cr_assert_eq(cartesia_request_message(&b, &r, err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "cartesia context_id is empty");
    r.context_id = "0123456789012345678901234567890123456789012345678901234567890123456789";
    cr_assert_eq(cartesia_request_message(&b, &r, err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "cartesia context_id is over 64 bytes");
    r.context_id = "turn-1";
    r.voice_id = NULL;
    cr_assert_eq(cartesia_request_message(&b, &r, err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "cartesia voice id is empty");
    r.voice_id = KATIE;
    r.transcript = "caf\xe9";
    cr_assert_eq(cartesia_request_message(&b, &r, err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "cartesia transcript is not valid utf-8");
    r.transcript = "Hola.";
    r.lang = "xx";
    cr_assert_eq(cartesia_request_message(&b, &r, err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "cartesia has no language code for 'xx'");
    r.lang = "es";
    r.max_buffer_delay_ms = 5001;
    cr_assert_eq(cartesia_request_message(&b, &r, err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "cartesia max_buffer_delay_ms must be between 0 and 5000");
    cr_assert_eq(b.len, 0);
    buf_release(&b);
}

/* ---- Cartesia: what the server sends ------------------------------------ */

static int ca(const char *json, struct buf *audio, struct cartesia_msg *m, char *err,
              size_t errsize)
{
    return cartesia_parse(json, strlen(json), audio, m, err, errsize);
}

/* Shapes: cartesia-js src/resources/tts.ts WebsocketResponse (Chunk, Done, FlushDone, Timestamps).
 */
Test(cartesia_wire, chunk_flush_done_timestamps_done)
{
    struct buf audio = BUF_INIT(4096);
    struct cartesia_msg m;
    char err[128] = "";

    cr_assert_eq(ca("{\"type\":\"chunk\",\"context_id\":\"turn-1\",\"data\":\"f39+fn1+\","
                    "\"done\":false,\"status_code\":206,\"step_time\":12.3,\"flush_id\":1}",
                    &audio, &m, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(m.kind, CARTESIA_CHUNK);
    cr_assert_str_eq(m.context_id, "turn-1");
    cr_assert_eq(m.audio_len, 6);
    cr_assert(memcmp(audio.data, "\x7f\x7f\x7e\x7e\x7d\x7e", 6) == 0);
    cr_assert_eq(m.done, 0);
    cr_assert_eq(m.status_code, 206);
    cr_assert_eq(m.flush_id, 1);
    cr_assert_eq(ca("{\"type\":\"flush_done\",\"context_id\":\"turn-1\",\"flush_id\":1,"
                    "\"flush_done\":true,\"done\":false,\"status_code\":206}",
                    &audio, &m, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(m.kind, CARTESIA_FLUSH_DONE);
    cr_assert_eq(m.flush_id, 1);
    cr_assert_eq(ca("{\"type\":\"timestamps\",\"context_id\":\"turn-1\",\"word_timestamps\":"
                    "{\"words\":[\"Mañana\"],\"start\":[0.0],\"end\":[0.42]},\"done\":false,"
                    "\"status_code\":206,\"flush_id\":1}",
                    &audio, &m, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(m.kind, CARTESIA_TIMESTAMPS);
    cr_assert_eq(ca("{\"type\":\"phoneme_timestamps\",\"context_id\":\"turn-1\",\"done\":false}",
                    &audio, &m, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(m.kind, CARTESIA_TIMESTAMPS);
    cr_assert_eq(
        ca("{\"type\":\"done\",\"context_id\":\"turn-1\",\"done\":true,\"status_code\":200}",
           &audio, &m, err, sizeof(err)),
        0, "%s", err);
    cr_assert_eq(m.kind, CARTESIA_DONE);
    cr_assert_eq(m.done, 1);
    cr_assert_eq(m.status_code, 200);
    cr_assert_eq(audio.len, 6);
    buf_release(&audio);
}

/* Shape: cartesia-js tts.ts WebsocketResponse.Error (message, status_code, title, error_code, ...).
 */
Test(cartesia_wire, errors_and_unknown_types)
{
    struct buf audio = BUF_INIT(4096);
    struct cartesia_msg m;
    char err[128] = "";

    cr_assert_eq(ca("{\"type\":\"error\",\"context_id\":\"turn-1\",\"status_code\":400,"
                    "\"title\":\"Invalid request\",\"message\":\"Voice not found.\","
                    "\"error_code\":\"voice_not_found\",\"request_id\":\"req-9\","
                    "\"doc_url\":\"https://docs.cartesia.ai\",\"done\":true}",
                    &audio, &m, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(m.kind, CARTESIA_ERROR);
    cr_assert_str_eq(m.error, "Invalid request: Voice not found.");
    cr_assert_str_eq(m.error_code, "voice_not_found");
    cr_assert_eq(m.status_code, 400);
    cr_assert_eq(m.done, 1);
    cr_assert_eq(
        ca("{\"type\":\"error\",\"message\":\"La voz no existe.\"}", &audio, &m, err, sizeof(err)),
        0, "%s", err);
    cr_assert_str_eq(m.error, "La voz no existe.");
    cr_assert_eq(ca("{\"type\":\"error\"}", &audio, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(m.error, "cartesia sent an error without a message");
    cr_assert_eq(ca("{\"type\":\"error\",\"title\":\"\",\"message\":\"\",\"status_code\":500}",
                    &audio, &m, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_str_eq(m.error, "cartesia sent an error without a message");
    cr_assert_eq(
        ca("{\"type\":\"error\",\"title\":\"Rate limited\"}", &audio, &m, err, sizeof(err)), 0,
        "%s", err);
    cr_assert_str_eq(m.error, "Rate limited");
    cr_assert_eq(
        ca("{\"type\":\"audio_metadata\",\"context_id\":\"turn-1\"}", &audio, &m, err, sizeof(err)),
        0, "%s", err);
    cr_assert_eq(m.kind, CARTESIA_OTHER);
    buf_release(&audio);
}

static void ca_refused(const char *json, struct buf *audio, int code, const char *reason)
{
    struct cartesia_msg m;
    size_t before = audio->len;
    char err[160] = "";

    memset(&m, 0x5a, sizeof(m));
    cr_assert_eq(cartesia_parse(json, strlen(json), audio, &m, err, sizeof(err)), code, "%s", json);
    cr_assert_str_eq(err, reason, "%s", json);
    cr_assert_eq(m.kind, 0);
    cr_assert_eq(m.context_id[0], '\0');
    cr_assert_eq(audio->len, before, "%s", json);
}

Test(cartesia_wire, malformed_messages)
{
    struct buf audio = BUF_INIT(4);

    ca_refused("{", &audio, SB_EPARSE,
               "cartesia message is not json: string or '}' expected near end of file");
    ca_refused("{\"context_id\":\"turn-1\"}", &audio, SB_EPARSE, "cartesia message has no type");
    ca_refused("{\"type\":null}", &audio, SB_EPARSE, "cartesia message has no type");
    ca_refused("{\"type\":[\"chunk\"]}", &audio, SB_EPARSE,
               "cartesia message type is not a string");
    ca_refused("{\"type\":\"chunk\",\"context_id\":\"turn-1\"}", &audio, SB_EPARSE,
               "cartesia chunk has no data");
    ca_refused("{\"type\":\"chunk\",\"data\":\"%%%%\"}", &audio, SB_EPARSE,
               "cartesia chunk data is not base64");
    ca_refused("{\"type\":\"chunk\",\"data\":\"TWFuTWFu\"}", &audio, SB_ETOOBIG,
               "cartesia chunk data is over the 4 bytes the buffer holds");
    ca_refused("{\"type\":\"done\",\"status_code\":\"200\"}", &audio, SB_EPARSE,
               "cartesia status_code is not an integer");
    ca_refused("{\"type\":\"done\",\"status_code\":2000}", &audio, SB_EPARSE,
               "cartesia status_code is out of range");
    ca_refused("{\"type\":\"done\",\"done\":\"yes\"}", &audio, SB_EPARSE,
               "cartesia done is not a boolean");
    ca_refused("{\"type\":\"flush_done\",\"flush_id\":-1}", &audio, SB_EPARSE,
               "cartesia flush_id is out of range");
    ca_refused("{\"type\":\"done\",\"context_id\":\"012345678901234567890123456789012345678901234"
               "5678901234567890123456789\"}",
               &audio, SB_EPARSE, "cartesia context_id is over 64 bytes");
    buf_release(&audio);
}
