/*
 * Tests of the voice webhooks that answer with TwiML: /voice/incoming,
 * /voice/gather, the apology, and the reply helpers. Documents are compared
 * byte for byte with what twilio-python writes for the same verbs.
 */
#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "fixture.h"
#include "store/writer.h"
#include "voice/voice.h"

TestSuite(voice, .init = fixture_setup, .fini = fixture_teardown, .timeout = 60);

/* Asserts that `r` is a 200 TwiML answer whose body is exactly `doc`. */
static void assert_doc(const struct reply *r, const char *doc)
{
    cr_assert_eq(r->status, 200);
    cr_assert_str_eq(r->content_type, "text/xml");
    cr_assert_not_null(r->body);
    cr_assert_str_eq(r->body, doc);
    cr_assert_eq(r->len, strlen(doc));
}

static void incoming(struct reply *out, const char *sid, const char *from, const char *to)
{
    struct form f;

    form_from(&f, "AccountSid", "AC0123456789abcdef0123456789abcdef", "CallSid", sid, "From", from,
              "To", to, "CallStatus", "ringing", "Direction", "inbound", NULL);
    /* The fixture routes no number to a flow: every call is answered here. */
    cr_assert_eq(voice_incoming(&fx_ctx, &f, out), VOICE_ANSWERED);
    form_release(&f);
}

static void gather_speech(struct reply *out, const char *from, const char *to, const char *speech)
{
    struct form f;

    form_from(&f, "CallSid", "CA0000000000000000000000000000g001", "From", from, "To", to,
              "SpeechResult", speech, "Confidence", "0.92", NULL);
    voice_gather(&fx_ctx, &f, out);
    form_release(&f);
}

static void gather_digits(struct reply *out, const char *from, const char *to, const char *digits)
{
    struct form f;

    form_from(&f, "CallSid", "CA0000000000000000000000000000g002", "From", from, "To", to, "Digits",
              digits, NULL);
    voice_gather(&fx_ctx, &f, out);
    form_release(&f);
}

/* The starter tier's turn: `text` inside the speech Gather, then goodbye and hangup. */
#define LISTEN_DOC(speech_lang, voice, text, goodbye)                                              \
    DECL "<Response><Gather action=\"/voice/gather\" input=\"speech\" language=\"" speech_lang     \
         "\" speechTimeout=\"auto\"><Say voice=\"" voice "\">" text                                \
         "</Say></Gather><Say voice=\"" voice "\">" goodbye "</Say><Hangup /></Response>"

#define BYE_EN "Thank you for calling. Goodbye!"
#define BYE_ES "Gracias por llamar. ¡Hasta luego!"
#define HOURS_EN                                                                                   \
    "We are open Monday to Friday, from nine in the morning to five in the afternoon. "            \
    "What else can I do for you?"
#define REPROMPT_EN "Sorry, I didn't catch that. You can ask about our hours, or ask for a person."

/*
 * A pro or enterprise call handed to the Media Stream with its six
 * parameters and the token binding the stream to the call.
 */
#define STREAM_DOC(sid, from, to, tenant, agent, lang, token)                                      \
    DECL "<Response><Connect action=\"/voice/stream-ended\"><Stream url=\"" STREAM_URL "\">"       \
         "<Parameter name=\"CallSid\" value=\"" sid "\" />"                                        \
         "<Parameter name=\"From\" value=\"" from "\" />"                                          \
         "<Parameter name=\"To\" value=\"" to "\" />"                                              \
         "<Parameter name=\"tenant\" value=\"" tenant "\" />"                                      \
         "<Parameter name=\"agent\" value=\"" agent "\" />"                                        \
         "<Parameter name=\"lang\" value=\"" lang "\" />"                                          \
         "<Parameter name=\"token\" value=\"" token "\" />"                                        \
         "</Stream></Connect></Response>"

/*
 * Stream tokens keyed with the auth token "test-auth-token"; the values were
 * computed independently (Python's hmac) from core/stream_token.h.
 */
#define TOKEN_P001 "Gz7m8o0eptjb+txtlbTTSY4+rIfTEQPbStAqhSCVDv0="
#define TOKEN_E001 "3C915/UifidmqguPWVP66IpkgMI5Z3bCCQ/8hEF1Gn4="

static void key_stream_tokens(void)
{
    cr_assert_eq(stream_token_key_init(&fx_ctx.stream_key, "", "test-auth-token"), 0);
}

/* ---- reply helpers and the apology ---- */

Test(voice, reply_text_copies_and_release_empties)
{
    struct reply r = REPLY_INIT;
    char text[] = "error: missing CallSid\n";

    cr_assert_eq(reply_text(&r, 400, text), 0);
    text[0] = 'X';
    cr_assert_eq(r.status, 400);
    cr_assert_str_eq(r.content_type, "text/plain; charset=utf-8");
    cr_assert_str_eq(r.body, "error: missing CallSid\n");
    cr_assert_eq(r.len, strlen("error: missing CallSid\n"));
    cr_assert_eq(reply_text(&r, 503, ""), 0);
    cr_assert_eq(r.status, 503);
    cr_assert_str_eq(r.body, "");
    cr_assert_eq(r.len, 0);
    reply_release(&r);
    cr_assert_null(r.body);
    cr_assert_eq(r.len, 0);
    reply_release(&r);
}

Test(voice, apology_is_the_exact_bilingual_document)
{
    struct reply r = REPLY_INIT;

    voice_apology(&r);
    assert_doc(&r, APOLOGY_DOC);
    reply_release(&r);
}

Test(voice, apology_replaces_an_earlier_body)
{
    struct reply r = REPLY_INIT;

    /* The earlier body must be freed (the sanitizer build reports the leak otherwise). */
    cr_assert_eq(reply_text(&r, 400, "error: something earlier\n"), 0);
    voice_apology(&r);
    assert_doc(&r, APOLOGY_DOC);
    reply_release(&r);
}

/* ---- /voice/incoming: tiers ---- */

Test(voice, pro_number_connects_a_media_stream)
{
    struct reply r = REPLY_INIT;

    key_stream_tokens();
    incoming(&r, "CA0000000000000000000000000000p001", CALLER_US, NUM_PRO);
    assert_doc(&r, STREAM_DOC("CA0000000000000000000000000000p001", CALLER_US, NUM_PRO, "acme",
                              "rules", "en-US", TOKEN_P001));
    reply_release(&r);
}

Test(voice, enterprise_number_connects_a_media_stream)
{
    struct reply r = REPLY_INIT;

    key_stream_tokens();
    incoming(&r, "CA0000000000000000000000000000e001", CALLER_MX, NUM_ENTERPRISE);
    assert_doc(&r, STREAM_DOC("CA0000000000000000000000000000e001", CALLER_MX, NUM_ENTERPRISE,
                              "acme", "concierge", "es-MX", TOKEN_E001));
    reply_release(&r);
}

Test(voice, stream_url_comes_from_the_context)
{
    struct reply r = REPLY_INIT;

    fx_ctx.stream_url = "wss://other.example.test/voice/stream?x=1&y=2";
    incoming(&r, "CA1", CALLER_US, NUM_PRO);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(
        strstr(r.body, "<Stream url=\"wss://other.example.test/voice/stream?x=1&amp;y=2\">"), "%s",
        r.body);
    cr_assert_null(strstr(r.body, STREAM_URL));
    reply_release(&r);
}

Test(voice, the_stream_token_depends_on_the_key_and_the_call)
{
    struct reply a = REPLY_INIT, b = REPLY_INIT, c = REPLY_INIT;

    /* Unkeyed (tests only): no token at all. */
    incoming(&a, "CA0000000000000000000000000000p001", CALLER_US, NUM_PRO);
    cr_assert_null(strstr(a.body, "name=\"token\""), "%s", a.body);
    key_stream_tokens();
    incoming(&b, "CA0000000000000000000000000000p002", CALLER_US, NUM_PRO);
    cr_assert_not_null(strstr(b.body, "name=\"token\""), "%s", b.body);
    cr_assert_null(strstr(b.body, TOKEN_P001), "%s", b.body);
    /* SWITCHBOARD_STREAM_SECRET keys it instead of the auth token. */
    stream_token_key_clear(&fx_ctx.stream_key);
    cr_assert_eq(stream_token_key_init(&fx_ctx.stream_key, "shared", "test-auth-token"), 0);
    incoming(&c, "CA0000000000000000000000000000p001", CALLER_US, NUM_PRO);
    cr_assert_not_null(strstr(c.body, "name=\"token\""), "%s", c.body);
    cr_assert_null(strstr(c.body, TOKEN_P001), "%s", c.body);
    reply_release(&a);
    reply_release(&b);
    reply_release(&c);
}

Test(voice, stream_parameters_are_escaped)
{
    struct reply r = REPLY_INIT;

    /* Twilio sends SIP and client callers as they are; they must stay well-formed XML. */
    incoming(&r, "CA1", "sip:\"bob\"<b@example.test>", NUM_PRO);
    cr_assert_not_null(strstr(r.body, "<Parameter name=\"From\" "
                                      "value=\"sip:&quot;bob&quot;&lt;b@example.test&gt;\" />"),
                       "%s", r.body);
    /* Not E.164: the tenant's default language. */
    cr_assert_not_null(strstr(r.body, "<Parameter name=\"lang\" value=\"en-US\" />"), "%s", r.body);
    reply_release(&r);
}

Test(voice, starter_number_gathers_speech_with_the_tenant_greeting)
{
    struct reply r = REPLY_INIT;

    incoming(&r, "CA0000000000000000000000000000s001", CALLER_US, NUM_STARTER);
    assert_doc(&r,
               LISTEN_DOC("en-US", "Polly.Matthew", "Thanks for calling Acme &amp; Sons.", BYE_EN));
    reply_release(&r);
}

/* ---- /voice/incoming: language of the caller ---- */

Test(voice, mexican_caller_gets_es_mx_and_the_tenant_base_language_persona)
{
    struct reply r = REPLY_INIT;

    /* acme has "es" but not "es-MX": its Spanish voice and greeting, recognised as es-MX. */
    incoming(&r, "CA2", CALLER_MX, NUM_STARTER);
    assert_doc(&r, LISTEN_DOC("es-MX", "Polly.Conchita", "Gracias por llamar a Acme.", BYE_ES));
    reply_release(&r);
}

Test(voice, spanish_caller_gets_es_recognised_as_es_us)
{
    struct reply r = REPLY_INIT;

    incoming(&r, "CA3", CALLER_ES, NUM_STARTER);
    assert_doc(&r, LISTEN_DOC("es-US", "Polly.Conchita", "Gracias por llamar a Acme.", BYE_ES));
    reply_release(&r);
}

Test(voice, other_country_falls_back_to_the_tenant_default)
{
    struct reply r = REPLY_INIT;

    incoming(&r, "CA4", CALLER_FR, NUM_STARTER);
    assert_doc(&r,
               LISTEN_DOC("en-US", "Polly.Matthew", "Thanks for calling Acme &amp; Sons.", BYE_EN));
    reply_release(&r);
}

Test(voice, anonymous_caller_gets_the_tenant_default)
{
    struct reply r = REPLY_INIT;

    incoming(&r, "CA5", "anonymous", NUM_BODEGA);
    assert_doc(&r, LISTEN_DOC("es-MX", "Polly.Mia",
                              "Gracias por llamar a bodega. ¿En qué puedo ayudarle?", BYE_ES));
    reply_release(&r);
}

Test(voice, tenant_without_personas_uses_built_in_english)
{
    struct reply r = REPLY_INIT;

    incoming(&r, "CA6", CALLER_US, NUM_BODEGA);
    assert_doc(&r, LISTEN_DOC("en-US", "Polly.Joanna",
                              "Thank you for calling bodega. How can I help you today?", BYE_EN));
    reply_release(&r);
}

Test(voice, tenant_without_personas_uses_built_in_spanish)
{
    struct reply r = REPLY_INIT;

    incoming(&r, "CA7", CALLER_ES, NUM_BODEGA);
    assert_doc(&r, LISTEN_DOC("es-US", "Polly.Lupe",
                              "Gracias por llamar a bodega. ¿En qué puedo ayudarle?", BYE_ES));
    reply_release(&r);
}

/* ---- /voice/incoming: calls that get the apology ---- */

Test(voice, unknown_number_gets_the_apology)
{
    struct reply r = REPLY_INIT;

    incoming(&r, "CA8", CALLER_US, NUM_UNKNOWN);
    assert_doc(&r, APOLOGY_DOC);
    reply_release(&r);
}

Test(voice, inactive_number_gets_the_apology)
{
    struct reply r = REPLY_INIT;

    incoming(&r, "CA9", CALLER_US, NUM_INACTIVE);
    assert_doc(&r, APOLOGY_DOC);
    reply_release(&r);
}

Test(voice, non_e164_to_gets_the_apology_even_when_stored)
{
    struct reply r = REPLY_INIT;

    cr_assert_not_null(routes_find(&fx_routes, NUM_NOT_E164));
    incoming(&r, "CA10", CALLER_US, NUM_NOT_E164);
    assert_doc(&r, APOLOGY_DOC);
    reply_release(&r);
    incoming(&r, "CA11", CALLER_US, "client:alice");
    assert_doc(&r, APOLOGY_DOC);
    reply_release(&r);
}

Test(voice, missing_parameters_get_the_apology)
{
    struct reply r = REPLY_INIT;
    struct form f;

    form_from(&f, "From", CALLER_US, "To", NUM_PRO, NULL);
    voice_incoming(&fx_ctx, &f, &r);
    assert_doc(&r, APOLOGY_DOC);
    form_release(&f);

    form_from(&f, "CallSid", "", "From", CALLER_US, "To", NUM_PRO, NULL);
    voice_incoming(&fx_ctx, &f, &r);
    assert_doc(&r, APOLOGY_DOC);
    form_release(&f);

    form_from(&f, "CallSid", "CA12", "To", NUM_PRO, NULL);
    voice_incoming(&fx_ctx, &f, &r);
    assert_doc(&r, APOLOGY_DOC);
    form_release(&f);

    form_from(&f, "CallSid", "CA13", "From", CALLER_US, NULL);
    voice_incoming(&fx_ctx, &f, &r);
    assert_doc(&r, APOLOGY_DOC);
    form_release(&f);

    form_from(&f, "CallSid", "CA14", "From", CALLER_US, "To", "", NULL);
    voice_incoming(&fx_ctx, &f, &r);
    assert_doc(&r, APOLOGY_DOC);
    form_release(&f);
    reply_release(&r);
}

Test(voice, no_routing_table_gets_the_apology)
{
    struct reply r = REPLY_INIT;

    fx_ctx.routes = NULL;
    incoming(&r, "CA15", CALLER_US, NUM_PRO);
    assert_doc(&r, APOLOGY_DOC);
    reply_release(&r);
}

Test(voice, incoming_replaces_an_earlier_body)
{
    struct reply r = REPLY_INIT;

    cr_assert_eq(reply_text(&r, 400, "error: something earlier\n"), 0);
    incoming(&r, "CA16", CALLER_US, NUM_STARTER);
    assert_doc(&r,
               LISTEN_DOC("en-US", "Polly.Matthew", "Thanks for calling Acme &amp; Sons.", BYE_EN));
    reply_release(&r);
}

/* ---- /voice/incoming: the call row ---- */

Test(voice, incoming_logs_the_call_through_the_writer)
{
    struct reply r = REPLY_INIT;
    struct call_record c;
    struct writer *w = NULL;

    cr_assert_eq(writer_start(&w, fx_path), 0);
    fx_ctx.writer = w;
    incoming(&r, "CA0000000000000000000000000000w001", CALLER_MX, NUM_PRO);
    cr_assert_eq(r.status, 200);
    /* Stopping drains the queue, so the row is committed afterwards. */
    writer_stop(w);
    fx_ctx.writer = NULL;
    cr_assert_eq(store_call_get(fx_store, "CA0000000000000000000000000000w001", &c), 0);
    cr_expect_str_eq(c.tenant, "acme");
    cr_expect_str_eq(c.direction, "inbound");
    cr_expect_str_eq(c.from, CALLER_MX);
    cr_expect_str_eq(c.to, NUM_PRO);
    cr_expect_str_eq(c.status, "ringing");
    cr_expect_str_eq(c.lang, "es-MX");
    cr_expect_eq(c.duration, -1);
    cr_expect_eq(c.started_at, FIXED_NOW);
    cr_expect_eq(c.ended_at, 0);
    reply_release(&r);
}

Test(voice, unrouted_call_is_logged_without_a_tenant)
{
    struct reply r = REPLY_INIT;
    struct call_record c;
    struct writer *w = NULL;
    struct form f;

    cr_assert_eq(writer_start(&w, fx_path), 0);
    fx_ctx.writer = w;
    incoming(&r, "CA0000000000000000000000000000w002", CALLER_US, NUM_UNKNOWN);
    assert_doc(&r, APOLOGY_DOC);
    /* Without To there is nothing to log. */
    form_from(&f, "CallSid", "CA0000000000000000000000000000w003", "From", CALLER_US, NULL);
    voice_incoming(&fx_ctx, &f, &r);
    assert_doc(&r, APOLOGY_DOC);
    form_release(&f);
    writer_stop(w);
    fx_ctx.writer = NULL;
    cr_assert_eq(store_call_get(fx_store, "CA0000000000000000000000000000w002", &c), 0);
    cr_expect_str_eq(c.tenant, "");
    cr_expect_str_eq(c.to, NUM_UNKNOWN);
    cr_expect_str_eq(c.lang, "");
    cr_expect_str_eq(c.status, "ringing");
    cr_expect_eq(c.started_at, FIXED_NOW);
    cr_expect_eq(store_call_get(fx_store, "CA0000000000000000000000000000w003", &c), SB_ENOTFOUND);
    reply_release(&r);
}

static void count_done(void *arg, int status_code, enum status_outcome outcome,
                       const char *call_status)
{
    atomic_int *calls = arg;

    if (status_code == 204)
        atomic_fetch_add(calls, 1);
}

Test(voice, webhook_after_its_status_callback_fills_tenant_and_language)
{
    struct reply r = REPLY_INIT;
    struct call_record c;
    struct writer *w = NULL;
    atomic_int calls = 0;
    struct form f;

    cr_assert_eq(writer_start(&w, fx_path), 0);
    fx_ctx.writer = w;
    /* The status callback overtakes the webhook and creates the row without a tenant. */
    form_from(&f, "CallSid", "CA0000000000000000000000000000w004", "CallStatus", "in-progress",
              "SequenceNumber", "1", "From", CALLER_US, "To", NUM_STARTER, "Direction", "inbound",
              "Timestamp", "Tue, 14 Nov 2023 22:14:00 +0000", NULL);
    cr_assert_eq(voice_status(&fx_ctx, &f, count_done, &calls, &r), 0);
    form_release(&f);
    incoming(&r, "CA0000000000000000000000000000w004", CALLER_US, NUM_STARTER);
    cr_assert_eq(r.status, 200);
    /* The writer applies jobs in order and drains them before it stops. */
    writer_stop(w);
    fx_ctx.writer = NULL;
    cr_assert_eq(atomic_load(&calls), 1);
    cr_assert_eq(store_call_get(fx_store, "CA0000000000000000000000000000w004", &c), 0);
    cr_expect_str_eq(c.tenant, "acme");
    cr_expect_str_eq(c.lang, "en-US");
    /* The webhook's "ringing" does not move the call backwards. */
    cr_expect_str_eq(c.status, "in-progress");
    /* The earlier start wins: the webhook's clock (FIXED_NOW) is 40 s before the event. */
    cr_expect_eq(c.started_at, FIXED_NOW);
    reply_release(&r);
}

Test(voice, incoming_log_lines_carry_the_call_sid_but_no_full_number)
{
    struct reply r = REPLY_INIT;
    char *log;

    capture_start();
    incoming(&r, "CA0000000000000000000000000000L001", CALLER_US, NUM_PRO);
    incoming(&r, "CA0000000000000000000000000000L002", CALLER_MX, NUM_UNKNOWN);
    log = capture_stop();
    cr_expect_not_null(strstr(log, "event=call.incoming"), "%s", log);
    cr_expect_not_null(strstr(log, "call_sid=CA0000000000000000000000000000L001"), "%s", log);
    cr_expect_not_null(strstr(log, "call_sid=CA0000000000000000000000000000L002"), "%s", log);
    cr_expect_not_null(strstr(log, "***0100"), "%s", log);
    cr_expect_null(strstr(log, CALLER_US), "%s", log);
    cr_expect_null(strstr(log, CALLER_MX), "%s", log);
    cr_expect_null(strstr(log, NUM_PRO), "%s", log);
    cr_expect_null(strstr(log, NUM_UNKNOWN), "%s", log);
    free(log);
    reply_release(&r);
}

/* ---- /voice/gather ---- */

#define TRANSFER_EN_DOC(to)                                                                        \
    DECL "<Response><Say voice=\"Polly.Matthew\">Please hold while I connect you with a "          \
         "person.</Say><Dial action=\"/voice/transfer-ended\" callerId=\"" to "\" "                \
         "timeout=\"30\"><Number>" ACME_TRANSFER "</Number></Dial></Response>"

Test(voice, gather_transfer_in_english_dials_the_transfer_number)
{
    struct reply r = REPLY_INIT;

    gather_speech(&r, CALLER_US, NUM_STARTER, "Can I talk to a human, please?");
    assert_doc(&r, TRANSFER_EN_DOC(NUM_STARTER));
    reply_release(&r);
}

Test(voice, gather_transfer_in_spanish_dials_the_transfer_number)
{
    struct reply r = REPLY_INIT;

    gather_speech(&r, CALLER_MX, NUM_STARTER, "Quiero hablar con un agente");
    assert_doc(&r, DECL "<Response><Say voice=\"Polly.Conchita\">Un momento, por favor. Le "
                        "comunico con una persona.</Say><Dial action=\"/voice/transfer-ended\" "
                        "callerId=\"" NUM_STARTER "\" timeout=\"30\"><Number>" ACME_TRANSFER
                        "</Number></Dial></Response>");
    reply_release(&r);
}

/* The <Dial>'s action: goodbye always; the SMS fallback only for an inbound caller nobody took. */
static int transfer_ended(struct reply *out, struct transfer_text *text, const char *direction,
                          const char *dial_status)
{
    struct form f;
    int due;

    form_from(&f, "CallSid", "CA0000000000000000000000000000t001", "From", CALLER_MX, "To",
              NUM_STARTER, "Direction", direction, "DialCallStatus", dial_status, NULL);
    due = voice_transfer_ended(&fx_ctx, &f, out, text);
    form_release(&f);
    return due;
}

Test(voice, a_transfer_nobody_took_says_goodbye_and_is_due_its_text)
{
    static const char *const unreached[] = {"busy", "no-answer", "failed"};
    struct transfer_text text;

    for (size_t i = 0; i < 3; i++) {
        struct reply r = REPLY_INIT;

        cr_assert_eq(transfer_ended(&r, &text, "inbound", unreached[i]), 1, "%s", unreached[i]);
        assert_doc(&r, DECL "<Response><Say voice=\"Polly.Conchita\">" BYE_ES
                            "</Say><Hangup /></Response>");
        cr_assert_str_eq(text.to, CALLER_MX);
        cr_assert_str_eq(text.from, NUM_STARTER);
        cr_assert_str_eq(text.tenant, "acme");
        cr_assert_str_eq(text.call_sid, "CA0000000000000000000000000000t001");
        reply_release(&r);
    }
}

Test(voice, a_transfer_taken_or_of_a_call_we_placed_is_not_texted)
{
    struct transfer_text text;
    struct reply r = REPLY_INIT;

    cr_assert_eq(transfer_ended(&r, &text, "inbound", "completed"), 0);
    cr_assert_eq(r.status, 200);
    reply_release(&r);
    cr_assert_eq(transfer_ended(&r, &text, "inbound", "canceled"), 0);
    reply_release(&r);
    cr_assert_eq(transfer_ended(&r, &text, "outbound-api", "busy"), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(text.to[0], '\0');
    reply_release(&r);
}

Test(voice, gather_transfer_without_a_number_keeps_listening)
{
    struct reply r = REPLY_INIT;

    gather_speech(&r, CALLER_MX, NUM_BODEGA, "una persona por favor");
    assert_doc(&r, LISTEN_DOC("es-MX", "Polly.Mia",
                              "Lo siento, no hay nadie disponible para atenderle ahora. ¿En qué "
                              "más puedo ayudarle?",
                              BYE_ES));
    reply_release(&r);
    gather_speech(&r, CALLER_US, NUM_BODEGA, "operator");
    assert_doc(&r, LISTEN_DOC("en-US", "Polly.Joanna",
                              "I'm sorry, nobody is available to take your call right now. What "
                              "else can I do for you?",
                              BYE_EN));
    reply_release(&r);
}

Test(voice, gather_hours)
{
    struct reply r = REPLY_INIT;

    gather_speech(&r, CALLER_US, NUM_STARTER, "What are your hours?");
    assert_doc(&r, LISTEN_DOC("en-US", "Polly.Matthew", HOURS_EN, BYE_EN));
    reply_release(&r);
    gather_speech(&r, CALLER_ES, NUM_STARTER, "Cuál es su horario");
    assert_doc(&r, LISTEN_DOC("es-US", "Polly.Conchita",
                              "Abrimos de lunes a viernes, de nueve de la mañana a cinco de la "
                              "tarde. ¿En qué más puedo ayudarle?",
                              BYE_ES));
    reply_release(&r);
}

Test(voice, gather_goodbye_hangs_up)
{
    struct reply r = REPLY_INIT;

    gather_speech(&r, CALLER_US, NUM_STARTER, "OK, bye.");
    assert_doc(&r,
               DECL "<Response><Say voice=\"Polly.Matthew\">" BYE_EN "</Say><Hangup /></Response>");
    reply_release(&r);
    gather_speech(&r, CALLER_MX, NUM_BODEGA, "Adiós");
    assert_doc(&r, DECL "<Response><Say voice=\"Polly.Mia\">" BYE_ES "</Say><Hangup /></Response>");
    reply_release(&r);
}

Test(voice, gather_unknown_speech_reprompts)
{
    struct reply r = REPLY_INIT;

    gather_speech(&r, CALLER_US, NUM_STARTER, "what is the weather like");
    assert_doc(&r, LISTEN_DOC("en-US", "Polly.Matthew", REPROMPT_EN, BYE_EN));
    reply_release(&r);
}

Test(voice, gather_silence_reprompts)
{
    struct reply r = REPLY_INIT;
    struct form f;

    form_from(&f, "CallSid", "CA20", "From", CALLER_US, "To", NUM_STARTER, NULL);
    voice_gather(&fx_ctx, &f, &r);
    form_release(&f);
    assert_doc(&r, LISTEN_DOC("en-US", "Polly.Matthew", REPROMPT_EN, BYE_EN));
    reply_release(&r);
}

Test(voice, gather_digit_zero_transfers)
{
    struct reply r = REPLY_INIT;

    gather_digits(&r, CALLER_US, NUM_STARTER, "0");
    assert_doc(&r, TRANSFER_EN_DOC(NUM_STARTER));
    reply_release(&r);
}

Test(voice, gather_digit_one_gives_the_hours)
{
    struct reply r = REPLY_INIT;

    gather_digits(&r, CALLER_US, NUM_STARTER, "1");
    assert_doc(&r, LISTEN_DOC("en-US", "Polly.Matthew", HOURS_EN, BYE_EN));
    reply_release(&r);
}

Test(voice, gather_pound_hangs_up)
{
    struct reply r = REPLY_INIT;

    gather_digits(&r, CALLER_US, NUM_STARTER, "#");
    assert_doc(&r,
               DECL "<Response><Say voice=\"Polly.Matthew\">" BYE_EN "</Say><Hangup /></Response>");
    reply_release(&r);
}

Test(voice, gather_other_digits_reprompt)
{
    struct reply r = REPLY_INIT;

    gather_digits(&r, CALLER_US, NUM_STARTER, "00");
    assert_doc(&r, LISTEN_DOC("en-US", "Polly.Matthew", REPROMPT_EN, BYE_EN));
    reply_release(&r);
}

Test(voice, gather_unrouted_or_incomplete_gets_the_apology)
{
    struct reply r = REPLY_INIT;
    struct form f;

    gather_speech(&r, CALLER_US, NUM_UNKNOWN, "a person please");
    assert_doc(&r, APOLOGY_DOC);
    gather_speech(&r, CALLER_US, NUM_INACTIVE, "a person please");
    assert_doc(&r, APOLOGY_DOC);
    form_from(&f, "From", CALLER_US, "To", NUM_STARTER, "SpeechResult", "hours", NULL);
    voice_gather(&fx_ctx, &f, &r);
    assert_doc(&r, APOLOGY_DOC);
    form_release(&f);
    form_from(&f, "CallSid", "CA21", "To", NUM_STARTER, "SpeechResult", "hours", NULL);
    voice_gather(&fx_ctx, &f, &r);
    assert_doc(&r, APOLOGY_DOC);
    form_release(&f);
    reply_release(&r);
}

Test(voice, gather_log_lines_name_the_action_without_numbers)
{
    struct reply r = REPLY_INIT;
    char *log;

    capture_start();
    gather_speech(&r, CALLER_US, NUM_STARTER, "a person");
    log = capture_stop();
    cr_expect_not_null(strstr(log, "event=gather.turn"), "%s", log);
    cr_expect_not_null(strstr(log, "action=transfer"), "%s", log);
    cr_expect_not_null(strstr(log, "call_sid=CA0000000000000000000000000000g001"), "%s", log);
    cr_expect_null(strstr(log, CALLER_US), "%s", log);
    cr_expect_null(strstr(log, ACME_TRANSFER), "%s", log);
    free(log);
    reply_release(&r);
}
