/*
 * Tests of switchboard sim providers' pure parts: routes, keys, the query
 * checks of Deepgram's and ElevenLabs' handshakes, the parsers of what
 * clients send (Deepgram control messages, ElevenLabs stream-input
 * messages, Cartesia generation requests), sentence cuts, the messages the
 * stand-ins send in each provider's shape, and the segmenter that cuts a
 * Deepgram stream into utterances.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mulaw.h"
#include "sim/providers.h"

static char err[512];

/* --- routes and keys ------------------------------------------------------------------------ */

Test(sim_providers, routes_by_path)
{
    char voice[72] = "";

    cr_assert_eq(sim_providers_route("/v1/listen", voice, sizeof(voice)), SIM_PROVIDERS_DEEPGRAM);
    cr_assert_eq(sim_providers_route("/tts/websocket", NULL, 0), SIM_PROVIDERS_CARTESIA);
    cr_assert_eq(sim_providers_route("/healthz", NULL, 0), SIM_PROVIDERS_HEALTH);
    cr_assert_eq(sim_providers_route("/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input", voice,
                                     sizeof(voice)),
                 SIM_PROVIDERS_ELEVENLABS);
    cr_assert_str_eq(voice, "21m00Tcm4TlvDq8ikWAM");
    cr_assert_eq(sim_providers_route("/v1/text-to-speech//stream-input", voice, sizeof(voice)),
                 SIM_PROVIDERS_NONE);
    cr_assert_eq(sim_providers_route("/v1/text-to-speech/a b/stream-input", voice, sizeof(voice)),
                 SIM_PROVIDERS_NONE);
    cr_assert_eq(sim_providers_route("/v1/text-to-speech/x/y/stream-input", voice, sizeof(voice)),
                 SIM_PROVIDERS_NONE);
    cr_assert_eq(
        sim_providers_route("/v1/text-to-speech/x/multi-stream-input", voice, sizeof(voice)),
        SIM_PROVIDERS_NONE);
    cr_assert_eq(sim_providers_route("/v1/listen/", NULL, 0), SIM_PROVIDERS_NONE);
    cr_assert_eq(sim_providers_route("/", NULL, 0), SIM_PROVIDERS_NONE);
    cr_assert_eq(sim_providers_route(NULL, NULL, 0), SIM_PROVIDERS_NONE);
}

Test(sim_providers, query_arguments_last_one_wins)
{
    const char *args[] = {"encoding=linear16", "flag", "encoding=mulaw", "empty="};

    cr_assert_str_eq(sim_providers_arg(args, 4, "encoding"), "mulaw");
    cr_assert_str_eq(sim_providers_arg(args, 4, "flag"), "");
    cr_assert_str_eq(sim_providers_arg(args, 4, "empty"), "");
    cr_assert_null(sim_providers_arg(args, 4, "enc"));
    cr_assert_null(sim_providers_arg(args, 4, "missing"));
}

Test(sim_providers, keys_by_scheme)
{
    cr_assert(sim_providers_key_matches("Token s3cret", "Token Bearer", "s3cret"));
    cr_assert(sim_providers_key_matches("bearer s3cret", "Token Bearer", "s3cret"));
    cr_assert(!sim_providers_key_matches("Basic s3cret", "Token Bearer", "s3cret"));
    cr_assert(!sim_providers_key_matches("Token s3cre", "Token Bearer", "s3cret"));
    cr_assert(!sim_providers_key_matches("Token s3cretX", "Token Bearer", "s3cret"));
    cr_assert(!sim_providers_key_matches("Tokens3cret", "Token Bearer", "s3cret"));
    cr_assert(!sim_providers_key_matches("", "Token Bearer", "s3cret"));
    cr_assert(sim_providers_key_matches("s3cret", NULL, "s3cret"));
    cr_assert(!sim_providers_key_matches("Bearer s3cret", NULL, "s3cret"));
    cr_assert(!sim_providers_key_matches(NULL, NULL, "s3cret"));
}

/* --- handshakes ----------------------------------------------------------------------------- */

static int dg(struct sim_providers_dg_query *q, const char *const *args, size_t n)
{
    err[0] = '\0';
    return sim_providers_dg_query_parse(q, args, n, err, sizeof(err));
}

Test(sim_providers, deepgram_query_defaults_and_settings)
{
    struct sim_providers_dg_query q;
    const char *plain[] = {"encoding=mulaw", "sample_rate=8000"};
    const char *full[] = {"model=nova-2-phonecall",
                          "language=es-419",
                          "encoding=mulaw",
                          "sample_rate=8000",
                          "channels=1",
                          "interim_results=true",
                          "endpointing=300",
                          "utterance_end_ms=1000",
                          "vad_events=true",
                          "smart_format=true",
                          "punctuate=yes"};

    cr_assert_eq(dg(&q, plain, 2), 0, "%s", err);
    cr_assert_str_eq(q.language, "en");
    cr_assert_str_eq(q.model, "nova-3");
    cr_assert_eq(q.endpointing_ms, 10);
    cr_assert_eq(q.interim_results, 0);
    cr_assert_eq(q.utterance_end_ms, 0);
    /* Arguments the stand-in does not use are not checked (punctuate=yes). */
    cr_assert_eq(dg(&q, full, sizeof(full) / sizeof(full[0])), 0, "%s", err);
    cr_assert_str_eq(q.language, "es-419");
    cr_assert_str_eq(q.model, "nova-2-phonecall");
    cr_assert_eq(q.interim_results, 1);
    cr_assert_eq(q.vad_events, 1);
    cr_assert_eq(q.endpointing_ms, 300);
    cr_assert_eq(q.utterance_end_ms, 1000);
}

Test(sim_providers, deepgram_endpointing_false)
{
    struct sim_providers_dg_query q;
    const char *off[] = {"encoding=mulaw", "sample_rate=8000", "endpointing=false"};

    cr_assert_eq(dg(&q, off, 3), 0, "%s", err);
    cr_assert_eq(q.endpointing_ms, -1);
}

Test(sim_providers, deepgram_query_refusals)
{
    static const struct {
        const char *args[3];
        const char *reason;
    } cases[] = {
        {{"sample_rate=8000", NULL, NULL}, "encoding is required"},
        {{"encoding=linear16", "sample_rate=8000", NULL}, "'linear16' is not supported"},
        {{"encoding=mulaw", NULL, NULL}, "sample_rate must be 8000"},
        {{"encoding=mulaw", "sample_rate=16000", NULL}, "sample_rate must be 8000"},
        {{"encoding=mulaw", "sample_rate=8000", "channels=2"}, "channels must be 1"},
        {{"encoding=mulaw", "sample_rate=8000", "interim_results=yes"}, "interim_results"},
        {{"encoding=mulaw", "sample_rate=8000", "endpointing=soon"}, "endpointing"},
        {{"encoding=mulaw", "sample_rate=8000", "endpointing=-5"}, "endpointing"},
        {{"encoding=mulaw", "sample_rate=8000", "utterance_end_ms=0"}, "utterance_end_ms"},
        {{"encoding=mulaw", "sample_rate=8000", "language=en us"}, "language"},
        {{"encoding=mulaw", "sample_rate=8000", "vad_events=1"}, "vad_events"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sim_providers_dg_query q;
        size_t n = 0;

        while (n < 3 && cases[i].args[n])
            n++;
        cr_assert_eq(dg(&q, cases[i].args, n), SB_EPARSE, "case %zu accepted", i);
        cr_assert(strstr(err, cases[i].reason), "case %zu: '%s'", i, err);
    }
}

Test(sim_providers, deepgram_refusal_never_quotes_control_bytes)
{
    struct sim_providers_dg_query q;
    const char *args[] = {"encoding=mu\nlaw\x01", "sample_rate=8000"};

    cr_assert_eq(dg(&q, args, 2), SB_EPARSE);
    cr_assert_null(strchr(err, '\n'));
    cr_assert_null(strchr(err, '\x01'));
    cr_assert(strstr(err, "'mu?law?'"), "%s", err);
}

Test(sim_providers, elevenlabs_query)
{
    struct sim_providers_el_query q;
    const char *ok[] = {"model_id=eleven_flash_v2_5", "output_format=ulaw_8000", "language_code=es",
                        "inactivity_timeout=180"};
    const char *mp3[] = {"model_id=eleven_flash_v2_5"};
    const char *pcm[] = {"output_format=pcm_16000"};
    const char *idle[] = {"output_format=ulaw_8000", "inactivity_timeout=0"};

    cr_assert_eq(sim_providers_el_query_parse(&q, ok, 4, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(q.model, "eleven_flash_v2_5");
    cr_assert_str_eq(q.language, "es");
    cr_assert_eq(q.inactivity_s, 180);
    cr_assert_eq(sim_providers_el_query_parse(&q, ok + 1, 1, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(q.inactivity_s, 20);
    cr_assert_str_eq(q.language, "");
    /* Without output_format ElevenLabs sends MP3, which the stand-in does not make. */
    cr_assert_eq(sim_providers_el_query_parse(&q, mp3, 1, err, sizeof(err)), SB_EPARSE);
    cr_assert(strstr(err, "ulaw_8000"), "%s", err);
    cr_assert_eq(sim_providers_el_query_parse(&q, pcm, 1, err, sizeof(err)), SB_EPARSE);
    cr_assert(strstr(err, "'pcm_16000'"), "%s", err);
    cr_assert_eq(sim_providers_el_query_parse(&q, idle, 2, err, sizeof(err)), SB_EPARSE);
    cr_assert(strstr(err, "inactivity_timeout"), "%s", err);
}

/* --- client messages ------------------------------------------------------------------------ */

static int control(const char *text, enum sim_providers_dg_control *out)
{
    err[0] = '\0';
    return sim_providers_dg_control_parse(text, strlen(text), out, err, sizeof(err));
}

Test(sim_providers, deepgram_control_messages)
{
    enum sim_providers_dg_control c;

    cr_assert_eq(control("{\"type\":\"KeepAlive\"}", &c), 0, "%s", err);
    cr_assert_eq(c, SIM_PROVIDERS_DG_KEEPALIVE);
    cr_assert_eq(control("{\"type\":\"Finalize\",\"channel\":0}", &c), 0, "%s", err);
    cr_assert_eq(c, SIM_PROVIDERS_DG_FINALIZE);
    cr_assert_eq(control(" {\"type\":\"CloseStream\"} ", &c), 0, "%s", err);
    cr_assert_eq(c, SIM_PROVIDERS_DG_CLOSESTREAM);
    cr_assert_eq(control("{\"type\":\"KeepAlive\"", &c), SB_EPARSE);
    cr_assert(strstr(err, "not JSON"), "%s", err);
    cr_assert_eq(control("[\"KeepAlive\"]", &c), SB_EPARSE);
    cr_assert(strstr(err, "not a JSON object"), "%s", err);
    cr_assert_eq(control("{\"kind\":\"KeepAlive\"}", &c), SB_EPARSE);
    cr_assert(strstr(err, "\"type\""), "%s", err);
    cr_assert_eq(control("{\"type\":\"keepalive\"}", &c), SB_EPARSE);
    cr_assert(strstr(err, "unknown control message type 'keepalive'"), "%s", err);
    cr_assert_eq(control("{\"type\":7}", &c), SB_EPARSE);
}

static int el(struct sim_providers_el_message *m, const char *text, int first)
{
    err[0] = '\0';
    return sim_providers_el_message_parse(m, text, strlen(text), first, err, sizeof(err));
}

Test(sim_providers, elevenlabs_messages)
{
    struct sim_providers_el_message m;

    cr_assert_eq(el(&m,
                    "{\"text\":\" \",\"voice_settings\":{\"stability\":0.5},"
                    "\"generation_config\":{\"chunk_length_schedule\":[120]},\"xi-api-key\":\"k\"}",
                    1),
                 0, "%s", err);
    cr_assert_str_eq(m.text, " ");
    cr_assert_str_eq(m.key, "k");
    sim_providers_el_message_release(&m);
    cr_assert_eq(el(&m, "{\"text\":\" \",\"xi_api_key\":\"k2\"}", 1), 0, "%s", err);
    cr_assert_str_eq(m.key, "k2");
    sim_providers_el_message_release(&m);
    cr_assert_eq(el(&m, "{\"text\":\"¿Cuál es el horario? \",\"flush\":true}", 0), 0, "%s", err);
    cr_assert_str_eq(m.text, "¿Cuál es el horario? ");
    cr_assert_eq(m.flush, 1);
    cr_assert_null(m.key);
    sim_providers_el_message_release(&m);
    cr_assert_eq(el(&m, "{\"text\":\"\"}", 0), 0, "%s", err);
    cr_assert_str_eq(m.text, "");
    cr_assert_eq(m.flush, 0);
    sim_providers_el_message_release(&m);
}

Test(sim_providers, elevenlabs_message_refusals)
{
    static const struct {
        const char *text;
        int first;
        const char *reason;
    } cases[] = {
        {"{\"text\":\"Hello\"}", 1, "single space"},
        {"{\"flush\":true}", 0, "string \"text\""},
        {"{\"text\":5}", 0, "string \"text\""},
        {"{\"text\":\"a\",\"flush\":\"yes\"}", 0, "flush"},
        {"{\"text\":\"a\",\"try_trigger_generation\":1}", 0, "try_trigger_generation"},
        {"{\"text\":\" \",\"voice_settings\":[]}", 1, "voice_settings"},
        {"{\"text\":\" \",\"xi-api-key\":42}", 1, "key"},
        {"{\"text\":\"a\\u0000b\"}", 0, "NUL"},
        {"{\"text\":", 0, "not JSON"},
        {"[\"text\"]", 0, "not a JSON object"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sim_providers_el_message m;

        cr_assert_eq(el(&m, cases[i].text, cases[i].first), SB_EPARSE, "accepted: %s",
                     cases[i].text);
        cr_assert(strstr(err, cases[i].reason), "%s: '%s'", cases[i].text, err);
        cr_assert_null(m.text);
        cr_assert_null(m.key);
    }
}

#define FORMAT                                                                                     \
    "\"output_format\":{\"container\":\"raw\",\"encoding\":\"pcm_mulaw\",\"sample_rate\":8000}"
#define VOICE "\"voice\":{\"mode\":\"id\",\"id\":\"f786b574\"}"

static int ca(struct sim_providers_ca_request *r, const char *text)
{
    err[0] = '\0';
    return sim_providers_ca_request_parse(r, text, strlen(text), err, sizeof(err));
}

Test(sim_providers, cartesia_requests)
{
    struct sim_providers_ca_request r;

    cr_assert_eq(ca(&r, "{\"context_id\":\"turn-1\",\"model_id\":\"sonic-3\",\"transcript\":"
                        "\"We open at nine. \"," VOICE "," FORMAT
                        ",\"language\":\"es\",\"continue\":true,\"add_timestamps\":true}"),
                 0, "%s", err);
    cr_assert_str_eq(r.context_id, "turn-1");
    cr_assert_str_eq(r.transcript, "We open at nine. ");
    cr_assert_str_eq(r.language, "es");
    cr_assert_eq(r.cont, 1);
    cr_assert_eq(r.flush, 0);
    cr_assert_eq(r.cancel, 0);
    sim_providers_ca_request_release(&r);
    cr_assert_eq(ca(&r,
                    "{\"context_id\":\"turn-1\",\"model_id\":\"sonic-3\",\"transcript\":\"\"," VOICE
                    "," FORMAT ",\"continue\":true,\"flush\":true}"),
                 0, "%s", err);
    cr_assert_str_eq(r.transcript, "");
    cr_assert_eq(r.flush, 1);
    sim_providers_ca_request_release(&r);
    /* A cancel needs nothing but the context. */
    cr_assert_eq(ca(&r, "{\"context_id\":\"turn-1\",\"cancel\":true}"), 0, "%s", err);
    cr_assert_eq(r.cancel, 1);
    cr_assert_null(r.transcript);
    sim_providers_ca_request_release(&r);
}

Test(sim_providers, cartesia_request_refusals_keep_the_context)
{
    static const struct {
        const char *text;
        const char *reason;
    } cases[] = {
        {"{\"context_id\":\"c\",\"transcript\":\"x\"," VOICE "," FORMAT "}", "model_id"},
        {"{\"context_id\":\"c\",\"model_id\":\"m\"," VOICE "," FORMAT "}", "transcript"},
        {"{\"context_id\":\"c\",\"model_id\":\"m\",\"transcript\":\"x\"," FORMAT "}", "voice"},
        {"{\"context_id\":\"c\",\"model_id\":\"m\",\"transcript\":\"x\",\"voice\":{\"mode\":"
         "\"embedding\",\"id\":\"v\"}," FORMAT "}",
         "voice"},
        {"{\"context_id\":\"c\",\"model_id\":\"m\",\"transcript\":\"x\"," VOICE "}",
         "output_format"},
        {"{\"context_id\":\"c\",\"model_id\":\"m\",\"transcript\":\"x\"," VOICE
         ",\"output_format\":{\"container\":\"raw\",\"encoding\":\"pcm_s16le\","
         "\"sample_rate\":8000}}",
         "output_format"},
        {"{\"context_id\":\"c\",\"model_id\":\"m\",\"transcript\":\"x\"," VOICE
         ",\"output_format\":{\"container\":\"raw\",\"encoding\":\"pcm_mulaw\","
         "\"sample_rate\":16000}}",
         "output_format"},
        {"{\"context_id\":\"c\",\"model_id\":\"m\",\"transcript\":\"x\"," VOICE "," FORMAT
         ",\"continue\":\"yes\"}",
         "continue"},
        {"{\"context_id\":\"c\",\"cancel\":1}", "cancel"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sim_providers_ca_request r;

        cr_assert_eq(ca(&r, cases[i].text), SB_EPARSE, "accepted: %s", cases[i].text);
        cr_assert(strstr(err, cases[i].reason), "%s: '%s'", cases[i].text, err);
        cr_assert_str_eq(r.context_id, "c");
        cr_assert_null(r.transcript);
        sim_providers_ca_request_release(&r);
    }
}

Test(sim_providers, cartesia_context_id_is_required)
{
    struct sim_providers_ca_request r;
    char longid[200];

    cr_assert_eq(ca(&r, "{\"model_id\":\"m\",\"transcript\":\"x\"," VOICE "," FORMAT "}"),
                 SB_EPARSE);
    cr_assert(strstr(err, "context_id"), "%s", err);
    cr_assert_null(r.context_id);
    memset(longid, 'a', sizeof(longid));
    snprintf(longid, sizeof(longid), "{\"context_id\":\"%0150d\",\"cancel\":true}", 7);
    cr_assert_eq(ca(&r, longid), SB_EPARSE);
    cr_assert_null(r.context_id);
    cr_assert_eq(ca(&r, "{\"context_id\":\"\",\"cancel\":true}"), SB_EPARSE);
    cr_assert_eq(ca(&r, "not json"), SB_EPARSE);
    cr_assert(strstr(err, "not JSON"), "%s", err);
}

/* --- sentences and words -------------------------------------------------------------------- */

static size_t cut(const char *text)
{
    return sim_providers_sentence_end(text, strlen(text));
}

Test(sim_providers, sentences_end_before_whitespace)
{
    cr_assert_eq(cut("We open at nine. We close"), 16);
    cr_assert_eq(cut("We open at nine. We close at five. "), 34);
    cr_assert_eq(cut("We open at nine."), 0, "no space after it yet: the text may go on");
    cr_assert_eq(cut("It costs 1.5 dollars"), 0);
    cr_assert_eq(cut("¿Cuál es el horario? Abrimos"), strlen("¿Cuál es el horario?"));
    cr_assert_eq(cut("Really! Yes"), 7);
    cr_assert_eq(cut("He said \"yes.\" Then"), strlen("He said \"yes.\""));
    cr_assert_eq(cut("one; two"), 4);
    cr_assert_eq(cut(""), 0);
}

Test(sim_providers, words)
{
    cr_assert_eq(sim_providers_count_words("  what are\tyour\nhours  "), 4);
    cr_assert_eq(sim_providers_count_words(""), 0);
    cr_assert_eq(sim_providers_count_words("   "), 0);
    cr_assert_eq(sim_providers_words_len("¿Cuál es el horario?", 2), strlen("¿Cuál es"));
    cr_assert_eq(sim_providers_words_len("  one two", 1), strlen("  one"));
    cr_assert_eq(sim_providers_words_len("one two", 9), strlen("one two"));
    cr_assert_eq(sim_providers_words_len("one two", 0), 0);
}

/* --- what the stand-ins send ---------------------------------------------------------------- */

static json_t *parsed(char *text)
{
    json_error_t jerr;
    json_t *doc;

    cr_assert_not_null(text);
    doc = json_loads(text, 0, &jerr);
    cr_assert_not_null(doc, "%s: %s", text, jerr.text);
    free(text);
    return doc;
}

static double num(json_t *doc, const char *path)
{
    json_t *v = json_object_get(doc, path);

    cr_assert(json_is_number(v), "%s is not a number", path);
    return json_number_value(v);
}

Test(sim_providers, deepgram_results)
{
    struct sim_providers_dg_result r = {
        .start = 0.0,
        .duration = 1.8004,
        .is_final = 1,
        .speech_final = 1,
        .transcript = "¿Cuál es el horario?",
        .confidence = 0.9,
        .words_start = 0.5,
        .words_end = 1.5,
        .request_id = "rid",
        .model = "nova-3",
    };
    json_t *doc = parsed(sim_providers_dg_results_json(&r));
    json_t *alt, *words, *w;

    cr_assert_str_eq(json_string_value(json_object_get(doc, "type")), "Results");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(doc, "channel_index"), 1)), 1);
    cr_assert_float_eq(num(doc, "duration"), 1.8, 1e-9);
    cr_assert(json_is_true(json_object_get(doc, "is_final")));
    cr_assert(json_is_true(json_object_get(doc, "speech_final")));
    cr_assert(json_is_false(json_object_get(doc, "from_finalize")));
    alt = json_array_get(json_object_get(json_object_get(doc, "channel"), "alternatives"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(alt, "transcript")), "¿Cuál es el horario?");
    words = json_object_get(alt, "words");
    cr_assert_eq(json_array_size(words), 4);
    w = json_array_get(words, 0);
    cr_assert_str_eq(json_string_value(json_object_get(w, "word")), "cuál");
    cr_assert_str_eq(json_string_value(json_object_get(w, "punctuated_word")), "¿Cuál");
    cr_assert_float_eq(num(w, "start"), 0.5, 1e-9);
    cr_assert_float_eq(num(w, "end"), 0.75, 1e-9);
    w = json_array_get(words, 3);
    cr_assert_str_eq(json_string_value(json_object_get(w, "word")), "horario");
    cr_assert_float_eq(num(w, "end"), 1.5, 1e-9);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(doc, "metadata"), "request_id")), "rid");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(doc, "metadata"), "model_info"), "name")),
                     "nova-3");
    json_decref(doc);
}

Test(sim_providers, deepgram_results_with_nothing_heard)
{
    struct sim_providers_dg_result r = {
        .start = 2.0, .duration = 0.0, .is_final = 1, .from_finalize = 1, .transcript = ""};
    json_t *doc = parsed(sim_providers_dg_results_json(&r));
    json_t *alt =
        json_array_get(json_object_get(json_object_get(doc, "channel"), "alternatives"), 0);

    cr_assert_str_eq(json_string_value(json_object_get(alt, "transcript")), "");
    cr_assert_eq(json_array_size(json_object_get(alt, "words")), 0);
    cr_assert(json_is_true(json_object_get(doc, "from_finalize")));
    cr_assert(json_is_false(json_object_get(doc, "speech_final")));
    json_decref(doc);
}

Test(sim_providers, deepgram_other_messages)
{
    json_t *doc = parsed(sim_providers_dg_speech_started_json(3.4801));

    cr_assert_str_eq(json_string_value(json_object_get(doc, "type")), "SpeechStarted");
    cr_assert_float_eq(num(doc, "timestamp"), 3.48, 1e-9);
    json_decref(doc);
    doc = parsed(sim_providers_dg_utterance_end_json(4.54));
    cr_assert_str_eq(json_string_value(json_object_get(doc, "type")), "UtteranceEnd");
    cr_assert_float_eq(num(doc, "last_word_end"), 4.54, 1e-9);
    cr_assert_eq(json_array_size(json_object_get(doc, "channel")), 2);
    json_decref(doc);
    doc = parsed(sim_providers_dg_metadata_json("rid", "e3b0", "2024-08-29T22:37:55.202Z", 1.5, 1));
    cr_assert_str_eq(json_string_value(json_object_get(doc, "type")), "Metadata");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "transaction_key")), "deprecated");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "sha256")), "e3b0");
    cr_assert_eq(json_integer_value(json_object_get(doc, "channels")), 1);
    json_decref(doc);
}

Test(sim_providers, deepgram_error_quotes_at_most_256_bytes_of_whole_characters)
{
    char message[400];
    json_t *doc;
    const char *quoted;

    /* 255 'a' then "é" (2 bytes): the cut at 256 would split it. */
    memset(message, 'a', 255);
    memcpy(message + 255, "\xc3\xa9xyz", 5);
    doc = parsed(sim_providers_dg_error_json("bad", message, 260));
    cr_assert_str_eq(json_string_value(json_object_get(doc, "type")), "Error");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "variant")), "SchemaError");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "description")), "bad");
    quoted = json_string_value(json_object_get(doc, "message"));
    cr_assert_not_null(quoted);
    cr_assert_eq(strlen(quoted), 255);
    json_decref(doc);
    doc = parsed(sim_providers_dg_error_json("bad", NULL, 0));
    cr_assert_null(json_object_get(doc, "message"));
    json_decref(doc);
}

/* Decodes base64 with OpenSSL; returns the byte count (padding taken off) or -1. */
static int unbase64(const char *b64, unsigned char *out)
{
    size_t n = strlen(b64);
    int len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);

    if (len < 0)
        return -1;
    while (n > 0 && b64[n - 1] == '=') {
        len--;
        n--;
    }
    return len;
}

Test(sim_providers, elevenlabs_audio_and_final)
{
    unsigned char audio[5] = {0x01, 0x7f, 0x80, 0xff, 0x00}, back[16];
    json_t *doc = parsed(sim_providers_el_audio_json(audio, sizeof(audio), 0));

    cr_assert_eq(unbase64(json_string_value(json_object_get(doc, "audio")), back), 5);
    cr_assert_eq(memcmp(audio, back, 5), 0);
    cr_assert(json_is_false(json_object_get(doc, "isFinal")));
    cr_assert(json_is_null(json_object_get(doc, "alignment")));
    cr_assert(json_is_null(json_object_get(doc, "normalizedAlignment")));
    json_decref(doc);
    doc = parsed(sim_providers_el_audio_json(audio, sizeof(audio), 1));
    cr_assert_eq(unbase64(json_string_value(json_object_get(doc, "audio")), back), -1,
                 "the garbage is base64");
    json_decref(doc);
    doc = parsed(sim_providers_el_final_json());
    cr_assert(json_is_true(json_object_get(doc, "isFinal")));
    cr_assert_eq(json_object_size(doc), 1);
    json_decref(doc);
}

Test(sim_providers, cartesia_messages)
{
    unsigned char audio[3] = {0x10, 0x20, 0x30}, back[8];
    json_t *doc = parsed(sim_providers_ca_chunk_json("turn-1", audio, 3, 12.34, 2, 0));

    cr_assert_str_eq(json_string_value(json_object_get(doc, "type")), "chunk");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "context_id")), "turn-1");
    cr_assert_eq(unbase64(json_string_value(json_object_get(doc, "data")), back), 3);
    cr_assert_eq(memcmp(audio, back, 3), 0);
    cr_assert(json_is_false(json_object_get(doc, "done")));
    cr_assert_eq(json_integer_value(json_object_get(doc, "status_code")), 206);
    cr_assert_float_eq(num(doc, "step_time"), 12.3, 1e-9);
    cr_assert_eq(json_integer_value(json_object_get(doc, "flush_id")), 2);
    json_decref(doc);
    doc = parsed(sim_providers_ca_flush_done_json("turn-1", 1));
    cr_assert_str_eq(json_string_value(json_object_get(doc, "type")), "flush_done");
    cr_assert(json_is_true(json_object_get(doc, "flush_done")));
    cr_assert_eq(json_integer_value(json_object_get(doc, "flush_id")), 1);
    json_decref(doc);
    doc = parsed(sim_providers_ca_done_json("turn-1"));
    cr_assert_str_eq(json_string_value(json_object_get(doc, "type")), "done");
    cr_assert(json_is_true(json_object_get(doc, "done")));
    cr_assert_eq(json_integer_value(json_object_get(doc, "status_code")), 200);
    json_decref(doc);
    doc = parsed(sim_providers_ca_error_json(NULL, 400, "Invalid request", "bad"));
    cr_assert_str_eq(json_string_value(json_object_get(doc, "type")), "error");
    cr_assert_null(json_object_get(doc, "context_id"));
    cr_assert_eq(json_integer_value(json_object_get(doc, "status_code")), 400);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "message")), "bad");
    json_decref(doc);
    doc = parsed(sim_providers_ca_error_json("c", 400, "Invalid request", "bad"));
    cr_assert_str_eq(json_string_value(json_object_get(doc, "context_id")), "c");
    json_decref(doc);
}

/* --- the segmenter -------------------------------------------------------------------------- */

#define EVENTS_MAX 64

struct seen {
    struct sim_providers_listen_event ev[EVENTS_MAX];
    size_t n;
    size_t audio_len[EVENTS_MAX];
};

static int record(void *arg, const struct sim_providers_listen_event *ev)
{
    struct seen *s = arg;

    cr_assert_lt(s->n, EVENTS_MAX);
    s->ev[s->n] = *ev;
    s->ev[s->n].audio = NULL; /* borrowed for the call only */
    s->audio_len[s->n] = ev->len;
    s->n++;
    return 0;
}

/* `ms` of a loud square wave (speech to an energy detector) or of silence, appended. */
static size_t sound(unsigned char *out, size_t at, int ms, int loud)
{
    size_t n = (size_t)ms * 8;

    for (size_t i = 0; i < n; i++)
        out[at + i] = loud ? mulaw_encode((i / 8) % 2 ? 6000 : -6000) : MULAW_SILENCE;
    return at + n;
}

static void listen_query(struct sim_providers_dg_query *q, int endpointing, int interim,
                         int utterance_end, int vad)
{
    memset(q, 0, sizeof(*q));
    q->endpointing_ms = endpointing;
    q->interim_results = interim;
    q->utterance_end_ms = utterance_end;
    q->vad_events = vad;
}

static void feed(const struct sim_providers_dg_query *q, const unsigned char *audio, size_t n,
                 size_t piece, struct seen *s)
{
    struct sim_providers_listen l;

    memset(s, 0, sizeof(*s));
    sim_providers_listen_init(&l, q);
    for (size_t at = 0; at < n; at += piece)
        cr_assert_eq(
            sim_providers_listen_feed(&l, audio + at, n - at < piece ? n - at : piece, record, s),
            0);
    sim_providers_listen_release(&l);
}

Test(sim_providers, an_utterance_ends_at_the_pause)
{
    static unsigned char audio[8 * 4000];
    struct sim_providers_dg_query q;
    struct seen s;
    size_t n = sound(audio, 0, 500, 0);

    n = sound(audio, n, 1000, 1);
    n = sound(audio, n, 1000, 0);
    listen_query(&q, 300, 0, 0, 1);
    feed(&q, audio, n, 160, &s);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.ev[0].kind, SIM_PROVIDERS_SPEECH_STARTED);
    cr_assert_float_eq(s.ev[0].timestamp, 0.5, 1e-9);
    cr_assert_eq(s.ev[1].kind, SIM_PROVIDERS_FINAL);
    cr_assert(s.ev[1].has_speech);
    cr_assert(s.ev[1].speech_final);
    cr_assert(!s.ev[1].from_finalize);
    cr_assert_float_eq(s.ev[1].start, 0.0, 1e-9);
    cr_assert_float_eq(s.ev[1].speech_start, 0.5, 1e-9);
    cr_assert_float_eq(s.ev[1].speech_end, 1.5, 1e-9);
    cr_assert_float_eq(s.ev[1].duration, 1.8, 1e-9);
    /* The recogniser gets the pre-roll, the speech and the pause. */
    cr_assert_eq(s.audio_len[1], (200 + 1000 + 300) * 8);
}

Test(sim_providers, the_same_audio_cuts_the_same_way_in_any_pieces)
{
    static unsigned char audio[8 * 4000];
    struct sim_providers_dg_query q;
    struct seen whole, bytes;
    size_t n = sound(audio, 0, 300, 0);

    n = sound(audio, n, 700, 1);
    n = sound(audio, n, 600, 0);
    listen_query(&q, 300, 1, 1000, 1);
    feed(&q, audio, n, n, &whole);
    feed(&q, audio, n, 7, &bytes);
    cr_assert_eq(whole.n, bytes.n);
    for (size_t i = 0; i < whole.n; i++) {
        cr_assert_eq(whole.ev[i].kind, bytes.ev[i].kind);
        cr_assert_float_eq(whole.ev[i].start, bytes.ev[i].start, 1e-9);
        cr_assert_float_eq(whole.ev[i].duration, bytes.ev[i].duration, 1e-9);
    }
}

Test(sim_providers, interim_results_every_500_ms_then_utterance_end)
{
    static unsigned char audio[8 * 5000];
    struct sim_providers_dg_query q;
    struct seen s;
    size_t n = sound(audio, 0, 200, 0), finals = 0, interims = 0;

    n = sound(audio, n, 1200, 1);
    n = sound(audio, n, 1500, 0);
    listen_query(&q, 300, 1, 1000, 0);
    feed(&q, audio, n, 160, &s);
    for (size_t i = 0; i < s.n; i++) {
        if (s.ev[i].kind == SIM_PROVIDERS_INTERIM) {
            cr_assert_eq(finals, 0, "an interim after the final");
            cr_assert(s.audio_len[i] > 0);
            interims++;
        }
        if (s.ev[i].kind == SIM_PROVIDERS_FINAL)
            finals++;
    }
    /* Speech from 0.2 s: interims at 0.7 and 1.2 (the pause ends it at 1.7). */
    cr_assert_eq(interims, 2);
    cr_assert_eq(finals, 1);
    cr_assert_eq(s.ev[s.n - 1].kind, SIM_PROVIDERS_UTTERANCE_END);
    cr_assert_float_eq(s.ev[s.n - 1].timestamp, 1.4, 1e-9);
}

Test(sim_providers, no_utterance_end_without_interim_results)
{
    static unsigned char audio[8 * 4000];
    struct sim_providers_dg_query q;
    struct seen s;
    size_t n = sound(audio, 0, 600, 1);

    n = sound(audio, n, 2000, 0);
    listen_query(&q, 300, 0, 1000, 0);
    feed(&q, audio, n, 160, &s);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.ev[0].kind, SIM_PROVIDERS_FINAL);
}

Test(sim_providers, endpointing_false_makes_results_final_without_speech_final)
{
    static unsigned char audio[8 * 3000];
    struct sim_providers_dg_query q;
    struct seen s;
    size_t n = sound(audio, 0, 600, 1);

    n = sound(audio, n, 400, 0);
    listen_query(&q, -1, 0, 0, 0);
    feed(&q, audio, n, 160, &s);
    cr_assert_eq(s.n, 0, "final before the 500 ms pause");
    n = sound(audio, n, 200, 0);
    feed(&q, audio, n, 160, &s);
    cr_assert_eq(s.n, 1);
    cr_assert(!s.ev[0].speech_final);
}

Test(sim_providers, short_pauses_and_clicks_do_not_cut)
{
    static unsigned char audio[8 * 4000];
    struct sim_providers_dg_query q;
    struct seen s;
    size_t n = sound(audio, 0, 20, 1); /* one loud frame: a click */

    n = sound(audio, n, 500, 0);
    n = sound(audio, n, 400, 1);
    n = sound(audio, n, 60, 0); /* shorter than the 100 ms floor of a 10 ms endpointing */
    n = sound(audio, n, 400, 1);
    n = sound(audio, n, 300, 0);
    listen_query(&q, 10, 0, 0, 1);
    feed(&q, audio, n, 160, &s);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.ev[0].kind, SIM_PROVIDERS_SPEECH_STARTED);
    cr_assert_float_eq(s.ev[0].timestamp, 0.52, 1e-9);
    cr_assert_eq(s.ev[1].kind, SIM_PROVIDERS_FINAL);
    cr_assert_float_eq(s.ev[1].speech_end, 1.38, 1e-9);
}

Test(sim_providers, finish_ends_what_is_pending)
{
    static unsigned char audio[8 * 2000];
    struct sim_providers_dg_query q;
    struct sim_providers_listen l;
    struct seen s;
    size_t n = sound(audio, 0, 300, 0);

    listen_query(&q, 300, 0, 0, 0);
    memset(&s, 0, sizeof(s));
    sim_providers_listen_init(&l, &q);
    /* Quiet only: a final with nothing heard, covering the quiet. */
    cr_assert_eq(sim_providers_listen_feed(&l, audio, n, record, &s), 0);
    cr_assert_eq(sim_providers_listen_finish(&l, 1, record, &s), 0);
    cr_assert_eq(s.n, 1);
    cr_assert(!s.ev[0].has_speech);
    cr_assert(s.ev[0].from_finalize);
    cr_assert_float_eq(s.ev[0].duration, 0.3, 1e-9);
    /* Nothing since: 0 s long, from where the last one ended. */
    cr_assert_eq(sim_providers_listen_finish(&l, 1, record, &s), 0);
    cr_assert_eq(s.n, 2);
    cr_assert_float_eq(s.ev[1].start, 0.3, 1e-9);
    cr_assert_float_eq(s.ev[1].duration, 0.0, 1e-9);
    /* In the middle of speech (and of a frame): the utterance so far, not speech_final. */
    n = sound(audio, 0, 405, 1);
    cr_assert_eq(sim_providers_listen_feed(&l, audio, n, record, &s), 0);
    cr_assert_eq(sim_providers_listen_finish(&l, 1, record, &s), 0);
    cr_assert_eq(s.n, 3);
    cr_assert(s.ev[2].has_speech);
    cr_assert(!s.ev[2].speech_final);
    cr_assert(s.ev[2].from_finalize);
    cr_assert_float_eq(s.ev[2].start, 0.3, 1e-9);
    cr_assert_float_eq(s.ev[2].duration, 0.405, 1e-9);
    sim_providers_listen_release(&l);
}

Test(sim_providers, long_speech_is_cut_every_15_seconds)
{
    size_t n = 8 * 16000;
    unsigned char *audio = malloc(n);
    struct sim_providers_dg_query q;
    struct seen s;

    cr_assert_not_null(audio);
    sound(audio, 0, 16000, 1);
    listen_query(&q, 300, 0, 0, 0);
    feed(&q, audio, n, 800, &s);
    free(audio);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.ev[0].kind, SIM_PROVIDERS_FINAL);
    cr_assert(!s.ev[0].speech_final);
    cr_assert_float_eq(s.ev[0].duration, 15.0, 1e-9);
    cr_assert_leq(s.audio_len[0], 8 * (200 + 15000 + 500 + 20));
}
