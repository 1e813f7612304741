/*
 * Tests for media/relay: a ConversationRelay session driven with Twilio's
 * messages (as in Twilio's docs) and a fake io; the agent is the rule agent
 * or a scripted one that answers later, as an LLM does.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "core/err.h"
#include "core/log.h"
#include "media/relay.h"

#define SID "CA0123456789abcdef0123456789abcdef"
#define MAX_SENT 32

static struct {
    char sent[MAX_SENT][1024];
    int nsent;
    int closed;
    int close_code;
    char close_reason[128];
    int started;
    char token[64];
    char lang[16];
    char agent[32];
    int refuse; /* started() ends the session instead of beginning it */
} io_seen;

static struct relay_session s;

static int fake_send(void *arg, const char *text, size_t len)
{
    (void)arg;
    cr_assert_lt(io_seen.nsent, MAX_SENT);
    snprintf(io_seen.sent[io_seen.nsent++], sizeof(io_seen.sent[0]), "%.*s", (int)len, text);
    return 0;
}

static void fake_close(void *arg, int code, const char *reason)
{
    (void)arg;
    io_seen.closed++;
    io_seen.close_code = code;
    snprintf(io_seen.close_reason, sizeof(io_seen.close_reason), "%s", reason);
}

/* -- a scripted agent: remembers the turn, answers when the test says -- */

static struct {
    struct agent_sink sink;
    char last_speech[256];
    char last_digits[8];
    long heard_ms;
    char heard[256];
    int interrupts, closes;
} spy;

static int spy_open(void **out, const struct agent_call *call, const struct agent_sink *sink,
                    const struct agent_env *env)
{
    (void)call;
    (void)env;
    spy.sink = *sink;
    *out = &spy;
    return 0;
}

static void spy_emit(enum agent_event_kind kind, const char *text, enum agent_action action,
                     const char *reason)
{
    struct agent_event ev = {kind, text, action, reason};

    spy.sink.emit(spy.sink.arg, &ev);
}

static void spy_start(void *a)
{
    (void)a;
    spy_emit(AGENT_EV_TEXT, "Welcome!", AGENT_CONTINUE, NULL);
    spy_emit(AGENT_EV_END, NULL, AGENT_CONTINUE, NULL);
}

static void spy_turn(void *a, const struct agent_turn *t)
{
    (void)a;
    snprintf(spy.last_speech, sizeof(spy.last_speech), "%s", t->speech ? t->speech : "");
    snprintf(spy.last_digits, sizeof(spy.last_digits), "%s", t->digits ? t->digits : "");
}

static void spy_interrupt(void *a, long heard_ms, const char *heard)
{
    (void)a;
    spy.interrupts++;
    spy.heard_ms = heard_ms;
    snprintf(spy.heard, sizeof(spy.heard), "%s", heard ? heard : "");
}

static void spy_close(void *a)
{
    (void)a;
    spy.closes++;
}

static const struct agent_ops spy_ops = {
    "spy", spy_open, spy_start, spy_turn, spy_interrupt, NULL, NULL, spy_close, NULL, NULL,
};

static const struct agent_ops *agent_in_use;

static void fake_started(void *arg, struct relay_session *rs, const struct relay_setup *setup)
{
    struct agent_call call;

    (void)arg;
    io_seen.started++;
    snprintf(io_seen.token, sizeof(io_seen.token), "%s", setup->token ? setup->token : "");
    snprintf(io_seen.lang, sizeof(io_seen.lang), "%s", setup->lang ? setup->lang : "");
    snprintf(io_seen.agent, sizeof(io_seen.agent), "%s", setup->agent ? setup->agent : "");
    if (io_seen.refuse) {
        relay_end(rs, RELAY_FAILED, 1008, "stream token does not match");
        return;
    }
    memset(&call, 0, sizeof(call));
    call.call_sid = setup->call_sid;
    call.tenant_name = "Acme";
    call.lang = setup->lang ? setup->lang : "en-US";
    call.can_transfer = 1;
    cr_assert_eq(relay_begin(rs, agent_in_use, &call, NULL), 0);
}

static const struct relay_io fake_io = {NULL, fake_send, fake_close, fake_started};

static int feed(const char *json)
{
    return relay_message(&s, json, strlen(json), 1000000);
}

static void setup_msg(const char *lang)
{
    char msg[1024];

    snprintf(msg, sizeof(msg),
             "{\"type\":\"setup\",\"sessionId\":\"VX00000000000000000000000000000001\","
             "\"accountSid\":\"AC00000000000000000000000000000000\",\"callSid\":\"" SID "\","
             "\"from\":\"+5215512345678\",\"to\":\"+15005550006\",\"direction\":\"inbound\","
             "\"callType\":\"PSTN\",\"callStatus\":\"RINGING\",\"customParameters\":{\"token\":"
             "\"tok\",\"lang\":\"%s\"}}",
             lang);
    cr_assert_eq(feed(msg), 0);
}

/* The n-th sent message, parsed. */
static json_t *sent(int n)
{
    json_error_t err;
    json_t *j;

    cr_assert_lt(n, io_seen.nsent, "only %d messages were sent", io_seen.nsent);
    j = json_loads(io_seen.sent[n], 0, &err);
    cr_assert_not_null(j, "not JSON: %s", io_seen.sent[n]);
    return j;
}

static void assert_text(int n, const char *token, int last)
{
    json_t *j = sent(n);

    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "text");
    cr_assert_str_eq(json_string_value(json_object_get(j, "token")), token);
    cr_assert_eq(json_is_true(json_object_get(j, "last")), last, "%s", io_seen.sent[n]);
    json_decref(j);
}

static void init(void)
{
    log_set_level(LOG_ERROR);
    memset(&io_seen, 0, sizeof(io_seen));
    memset(&spy, 0, sizeof(spy));
    agent_in_use = &spy_ops;
    relay_init(&s, &fake_io);
}

static void fini(void)
{
    relay_release(&s);
}

TestSuite(relay, .init = init, .fini = fini);

Test(relay, the_agent_parameter_of_a_call_we_placed_reaches_the_start)
{
    cr_assert_eq(feed("{\"type\":\"setup\",\"sessionId\":\"VX00000000000000000000000000000002\","
                      "\"accountSid\":\"AC00000000000000000000000000000000\",\"callSid\":\"" SID
                      "\",\"from\":\"+15005550006\",\"to\":\"+5215512345678\","
                      "\"direction\":\"outbound-api\",\"customParameters\":{\"token\":\"tok\","
                      "\"lang\":\"es-MX\",\"agent\":\"front-desk\"}}"),
                 0);
    cr_assert_eq(io_seen.started, 1);
    cr_assert_str_eq(io_seen.agent, "front-desk");
    cr_assert_str_eq(io_seen.lang, "es-MX");
}

Test(relay, setup_starts_the_agent_without_repeating_the_welcome_greeting)
{
    setup_msg("es-MX");
    cr_assert_eq(io_seen.started, 1);
    cr_assert_str_eq(io_seen.token, "tok");
    cr_assert_str_eq(io_seen.lang, "es-MX");
    cr_assert_str_eq(io_seen.agent, "", "no agent parameter, none read");
    cr_assert_str_eq(s.call_sid, SID);
    /* The agent's start is Twilio's welcomeGreeting: nothing goes out. */
    cr_assert_eq(io_seen.nsent, 0, "sent: %s", io_seen.sent[0]);
}

Test(relay, a_prompt_is_a_turn_and_the_reply_streams_as_text_tokens)
{
    setup_msg("es-MX");
    cr_assert_eq(
        feed("{\"type\":\"prompt\",\"voicePrompt\":\"¿A qué hora abren?\",\"lang\":\"es-MX\","
             "\"last\":true}"),
        0);
    cr_assert_str_eq(spy.last_speech, "¿A qué hora abren?");
    spy_emit(AGENT_EV_TEXT, "Abrimos a las nueve.", AGENT_CONTINUE, NULL);
    cr_assert_eq(io_seen.nsent, 1, "the first piece goes out at once");
    spy_emit(AGENT_EV_TEXT, "¿Algo más?", AGENT_CONTINUE, NULL);
    spy_emit(AGENT_EV_END, NULL, AGENT_CONTINUE, NULL);
    assert_text(0, "Abrimos a las nueve. ", 0);
    assert_text(1, "¿Algo más? ", 0);
    assert_text(2, "", 1);
    cr_assert_geq(s.first_text_us, 0);
    cr_assert_eq(io_seen.closed, 0);
}

Test(relay, partial_prompts_wait_for_the_last_one)
{
    setup_msg("en-US");
    cr_assert_eq(feed("{\"type\":\"prompt\",\"voicePrompt\":\"What are\",\"last\":false}"), 0);
    cr_assert_str_eq(spy.last_speech, "");
    cr_assert_eq(
        feed("{\"type\":\"prompt\",\"voicePrompt\":\"What are your hours?\",\"last\":true}"), 0);
    cr_assert_str_eq(spy.last_speech, "What are your hours?");
}

Test(relay, dtmf_is_a_turn_with_digits)
{
    setup_msg("en-US");
    cr_assert_eq(feed("{\"type\":\"dtmf\",\"digit\":\"1\"}"), 0);
    cr_assert_str_eq(spy.last_digits, "1");
}

Test(relay, interrupt_tells_the_agent_what_was_heard_as_number_or_string)
{
    setup_msg("en-US");
    cr_assert_eq(feed("{\"type\":\"interrupt\",\"utteranceUntilInterrupt\":\"Life is a complex set "
                      "of\",\"durationUntilInterruptMs\":460}"),
                 0);
    cr_assert_eq(spy.interrupts, 1);
    cr_assert_eq(spy.heard_ms, 460);
    cr_assert_str_eq(spy.heard, "Life is a complex set of");
    cr_assert_eq(feed("{\"type\":\"interrupt\",\"utteranceUntilInterrupt\":\"\","
                      "\"durationUntilInterruptMs\":\"120.5\"}"),
                 0);
    cr_assert_eq(spy.heard_ms, 120);
}

Test(relay, a_transfer_ends_the_talk_cycle_then_sends_end_with_handoff_data)
{
    json_t *end, *data;
    json_error_t err;

    setup_msg("en-US");
    cr_assert_eq(feed("{\"type\":\"prompt\",\"voicePrompt\":\"A person please\",\"last\":true}"),
                 0);
    spy_emit(AGENT_EV_TEXT, "Let me connect you.", AGENT_CONTINUE, NULL);
    spy_emit(AGENT_EV_END, NULL, AGENT_TRANSFER, "the caller asked");
    assert_text(1, "", 1);
    end = sent(2);
    cr_assert_str_eq(json_string_value(json_object_get(end, "type")), "end");
    data = json_loads(json_string_value(json_object_get(end, "handoffData")), 0, &err);
    cr_assert_not_null(data, "handoffData is JSON in a string");
    cr_assert_str_eq(json_string_value(json_object_get(data, "reasonCode")), "live-agent-handoff");
    cr_assert_str_eq(json_string_value(json_object_get(data, "reason")), "the caller asked");
    json_decref(data);
    json_decref(end);
    cr_assert_eq(s.outcome, RELAY_TRANSFER);
    cr_assert_eq(io_seen.closed, 1);
    cr_assert_eq(io_seen.close_code, 1000);
    /* Nothing more goes out after the end. */
    spy_emit(AGENT_EV_TEXT, "late", AGENT_CONTINUE, NULL);
    cr_assert_eq(io_seen.nsent, 3);
}

Test(relay, a_language_switch_is_sent_to_twilio)
{
    json_t *j;

    setup_msg("en-US");
    cr_assert_eq(feed("{\"type\":\"prompt\",\"voicePrompt\":\"¿Habla español?\",\"last\":true}"),
                 0);
    spy_emit(AGENT_EV_LANG, "es-MX", AGENT_CONTINUE, NULL);
    j = sent(0);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "language");
    cr_assert_str_eq(json_string_value(json_object_get(j, "ttsLanguage")), "es-MX");
    cr_assert_str_eq(json_string_value(json_object_get(j, "transcriptionLanguage")), "es-MX");
    json_decref(j);
}

Test(relay, the_rule_agent_answers_at_once)
{
    agent_in_use = agent_for("receptionist");
    setup_msg("en-US");
    cr_assert_eq(
        feed("{\"type\":\"prompt\",\"voicePrompt\":\"What are your hours?\",\"last\":true}"), 0);
    cr_assert_eq(io_seen.nsent, 2);
    cr_assert(strstr(io_seen.sent[0], "Monday") != NULL, "%s", io_seen.sent[0]);
    assert_text(1, "", 1);
}

Test(relay, garbage_and_unknown_types_are_ignored_until_too_many_in_a_row)
{
    setup_msg("en-US");
    cr_assert_eq(feed("not json"), 0);
    cr_assert_eq(feed("{\"type\":\"teleport\"}"), 0);
    cr_assert_eq(feed("{\"no\":\"type\"}"), 0);
    cr_assert_eq(feed("[1,2,3]"), 0);
    cr_assert_eq(feed("{\"type\":\"info\",\"name\":\"agentSpeaking\",\"value\":\"on\"}"), 0);
    cr_assert_eq(feed("{\"type\":\"error\",\"description\":\"Invalid message received\"}"), 0);
    cr_assert_eq(io_seen.closed, 0, "the session goes on");
    /* A good message in between starts the count again. */
    for (int i = 0; i < RELAY_MAX_BAD_MESSAGES - 1; i++)
        (void)feed("{\"type\":");
    cr_assert_eq(io_seen.closed, 0);
    (void)feed("{\"type\":");
    cr_assert_eq(io_seen.closed, 1);
    cr_assert_eq(io_seen.close_code, 1007);
    cr_assert_eq(s.outcome, RELAY_FAILED);
}

Test(relay, a_message_before_setup_closes_with_a_policy_error)
{
    cr_assert_neq(feed("{\"type\":\"prompt\",\"voicePrompt\":\"hi\",\"last\":true}"), 0);
    cr_assert_eq(io_seen.closed, 1);
    cr_assert_eq(io_seen.close_code, 1008);
    cr_assert_eq(io_seen.started, 0);
}

Test(relay, setup_without_a_call_sid_or_a_refused_binding_closes)
{
    cr_assert_neq(feed("{\"type\":\"setup\",\"callSid\":\"CA1\"}"), 0);
    cr_assert_eq(io_seen.close_code, 1008);
    relay_release(&s);
    memset(&io_seen, 0, sizeof(io_seen));
    relay_init(&s, &fake_io);
    io_seen.refuse = 1;
    cr_assert_neq(feed("{\"type\":\"setup\",\"callSid\":\"" SID "\"}"), 0);
    cr_assert_eq(io_seen.closed, 1);
    cr_assert_eq(io_seen.close_code, 1008);
    cr_assert_eq(spy.closes, 0, "no agent was opened");
}

Test(relay, a_second_setup_is_a_bad_message_not_a_restart)
{
    setup_msg("en-US");
    (void)feed("{\"type\":\"setup\",\"callSid\":\"" SID "\"}");
    cr_assert_eq(io_seen.started, 1);
    cr_assert_eq(io_seen.closed, 0);
}

Test(relay, release_closes_the_agent)
{
    setup_msg("en-US");
    relay_release(&s);
    cr_assert_eq(spy.closes, 1);
    relay_init(&s, &fake_io);
}
