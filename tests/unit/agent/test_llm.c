/*
 * Tests for agent/llm: the LLM engine driven through agent_ops with a fake
 * network (submit/cancel record what the engine asks) and a fake clock;
 * the tests hand it deliveries as the server's inbox would.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/llm.h"
#include "core/err.h"
#include "core/log.h"
#include "net/http_client.h"

#define MAX_EVENTS 32

/* ---- the fakes ---- */

static struct {
    int submits;
    int cancels;
    uint64_t last_id;
    uint64_t cancelled[8];
    char url[512];
    char auth[256];
    char body[64 * 1024];
    int refuse; /* submit fails with this code */
} net;

static long long clock_now;

static struct {
    enum agent_event_kind kind[MAX_EVENTS];
    char text[MAX_EVENTS][512];
    enum agent_action action[MAX_EVENTS];
    char reason[MAX_EVENTS][128];
    int n;
} ev;

static struct {
    int messages;
    char name[CHAT_ARG_NAME_MAX + 1], number[CHAT_ARG_NUMBER_MAX + 1];
    char message[CHAT_ARG_MESSAGE_MAX + 1];
    int records[4];
    char last_event[32];
} hooks_seen;

static long long fake_now(void)
{
    return clock_now;
}

static int fake_submit(void *n, const struct http_request *req, uint64_t *id)
{
    (void)n;
    if (net.refuse)
        return net.refuse;
    net.submits++;
    snprintf(net.url, sizeof(net.url), "%s", req->url);
    net.auth[0] = '\0';
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strncmp(req->headers[i], "Authorization:", 14) == 0)
            snprintf(net.auth, sizeof(net.auth), "%s", req->headers[i]);
    }
    cr_assert_lt(req->body_len, sizeof(net.body));
    memcpy(net.body, req->body, req->body_len);
    net.body[req->body_len] = '\0';
    cr_assert_eq(req->stream, HTTP_STREAM_SSE);
    *id = ++net.last_id;
    return 0;
}

static int fake_cancel(void *n, uint64_t id)
{
    (void)n;
    if (net.cancels < 8)
        net.cancelled[net.cancels] = id;
    net.cancels++;
    return 0;
}

static void sink_emit(void *arg, const struct agent_event *e)
{
    (void)arg;
    cr_assert_lt(ev.n, MAX_EVENTS);
    ev.kind[ev.n] = e->kind;
    snprintf(ev.text[ev.n], sizeof(ev.text[0]), "%s", e->text ? e->text : "");
    ev.action[ev.n] = e->action;
    snprintf(ev.reason[ev.n], sizeof(ev.reason[0]), "%s", e->reason ? e->reason : "");
    ev.n++;
}

static void hook_message(void *arg, const char *call_sid, const struct chat_tool_args *m)
{
    (void)arg;
    cr_assert_str_eq(call_sid, "CA0000000000000000000000000000llm1");
    hooks_seen.messages++;
    snprintf(hooks_seen.name, sizeof(hooks_seen.name), "%s", m->caller_name);
    snprintf(hooks_seen.number, sizeof(hooks_seen.number), "%s", m->callback_number);
    snprintf(hooks_seen.message, sizeof(hooks_seen.message), "%s", m->message);
}

static void hook_record(void *arg, const struct llm_record *r)
{
    (void)arg;
    hooks_seen.records[r->kind]++;
    if (r->kind == LLM_REC_EVENT)
        snprintf(hooks_seen.last_event, sizeof(hooks_seen.last_event), "%s", r->event);
}

static const struct agent_env env = {fake_now, fake_submit, fake_cancel, NULL, NULL};
static struct agent_sink sink = {sink_emit, NULL};

static struct llm_settings settings(void)
{
    struct llm_settings s;

    memset(&s, 0, sizeof(s));
    s.base_url = "http://127.0.0.1:8099/v1/";
    s.model = "sim-llm";
    s.api_key = "sk-test-secret";
    s.persona = "You answer the phone for Acme Dental.";
    s.temperature = -1;
    s.fallback = LLM_FALLBACK_RULES;
    s.business_hours = "Monday to Friday, 9:00 to 17:00";
    s.hooks.take_message = hook_message;
    s.hooks.record = hook_record;
    return s;
}

static void *open_agent(const struct llm_settings *s, const char *lang, int can_transfer)
{
    struct agent_call call;
    void *a = NULL;

    memset(&call, 0, sizeof(call));
    call.call_sid = "CA0000000000000000000000000000llm1";
    call.tenant_name = "Acme Dental";
    call.lang = lang;
    call.greeting = NULL;
    call.can_transfer = can_transfer;
    call.llm = s;
    cr_assert_eq(agent_llm_ops.open(&a, &call, &sink, &env), 0);
    return a;
}

static void say_to(void *a, const char *words)
{
    struct agent_turn t;

    memset(&t, 0, sizeof(t));
    t.speech = words;
    agent_llm_ops.turn(a, &t);
}

static void chunk(void *a, const char *data)
{
    struct http_delivery d;

    memset(&d, 0, sizeof(d));
    d.id = net.last_id;
    d.arg = a;
    d.status = 200;
    d.data = (char *)data;
    d.len = strlen(data);
    agent_llm_ops.deliver(a, &d);
}

static void done_with(void *a, enum http_result result, long status, long retry_after)
{
    struct http_delivery d;
    struct http_response res;

    memset(&d, 0, sizeof(d));
    memset(&res, 0, sizeof(res));
    res.id = net.last_id;
    res.arg = a;
    res.result = result;
    res.status = status;
    res.body = (char *)"";
    res.retry_after_s = retry_after;
    if (result != HTTP_OK)
        snprintf(res.error, sizeof(res.error), "%s", http_result_str(result));
    d.id = net.last_id;
    d.arg = a;
    d.done = &res;
    agent_llm_ops.deliver(a, &d);
}

static void done_ok(void *a)
{
    done_with(a, HTTP_OK, 200, -1);
}

#define CONTENT(text)                                                                              \
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{"    \
    "\"content\":\"" text "\"},\"finish_reason\":null}]}"
#define FINISH(reason)                                                                             \
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},"  \
    "\"finish_reason\":\"" reason "\"}]}"
#define TOOL(id, name, args)                                                                       \
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{"    \
    "\"tool_calls\":[{\"index\":0,\"id\":\"" id "\",\"type\":\"function\",\"function\":{"          \
    "\"name\":\"" name "\",\"arguments\":\"" args "\"}}]},\"finish_reason\":null}]}"

/* The model's answer to José's words: a take_message call, streamed and complete. */
static void model_takes_a_message(void *a)
{
    chunk(a,
          TOOL("call_9", "take_message",
               "{\\\"caller_name\\\":\\\"José Núñez\\\",\\\"callback_number\\\":\\\"+15550100\\\","
               "\\\"message\\\":\\\"¿Pueden llamarme?\\\"}"));
    chunk(a, FINISH("tool_calls"));
    done_ok(a);
}

static int count(enum agent_event_kind kind)
{
    int n = 0;

    for (int i = 0; i < ev.n; i++)
        n += ev.kind[i] == kind;
    return n;
}

static int last_end(void)
{
    for (int i = ev.n - 1; i >= 0; i--) {
        if (ev.kind[i] == AGENT_EV_END)
            return i;
    }
    return -1;
}

static void setup(void)
{
    log_set_level(LOG_ERROR);
    memset(&net, 0, sizeof(net));
    memset(&ev, 0, sizeof(ev));
    memset(&hooks_seen, 0, sizeof(hooks_seen));
    clock_now = 1000000;
    llm_breakers_reset();
}

TestSuite(llm, .init = setup);

Test(llm, a_spanish_reply_streams_in_pieces_and_the_request_is_well_formed)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "es-MX", 1);

    say_to(a, "¿A qué hora abren mañana?");
    cr_assert_eq(net.submits, 1);
    cr_assert_str_eq(net.url, "http://127.0.0.1:8099/v1/chat/completions");
    cr_assert_str_eq(net.auth, "Authorization: Bearer sk-test-secret");
    cr_assert(strstr(net.body, "\"stream\": true") || strstr(net.body, "\"stream\":true"), "%s",
              net.body);
    cr_assert(strstr(net.body, "¿A qué hora abren mañana?"), "%s", net.body);
    cr_assert(strstr(net.body, "transfer_to_human"), "%s", net.body);
    cr_assert_eq(ev.n, 0, "nothing is said before the model answers");
    chunk(a, CONTENT("Abrimos a las nueve. "));
    chunk(a, CONTENT("¿Quiere una cita?"));
    chunk(a, FINISH("stop"));
    chunk(a, "[DONE]");
    done_ok(a);
    cr_assert_eq(count(AGENT_EV_TEXT), 2);
    cr_assert_str_eq(ev.text[0], "Abrimos a las nueve.");
    cr_assert_str_eq(ev.text[1], "¿Quiere una cita?");
    cr_assert_eq(ev.kind[ev.n - 1], AGENT_EV_END);
    cr_assert_eq(ev.action[ev.n - 1], AGENT_CONTINUE);
    cr_assert_eq(hooks_seen.records[LLM_REC_CALLER], 1);
    cr_assert_eq(hooks_seen.records[LLM_REC_AGENT], 1);
    /* The next turn carries the conversation so far. */
    say_to(a, "Sí, por favor.");
    cr_assert(strstr(net.body, "Abrimos a las nueve."), "%s", net.body);
    agent_llm_ops.close(a);
    done_with(a, HTTP_ECANCELLED, 0, -1);
}

Test(llm, a_transfer_tool_call_ends_the_turn_with_a_transfer)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "en-US", 1);

    say_to(a, "I want to talk to a person");
    chunk(a, TOOL("call_1", "transfer_to_human", "{\\\"reason\\\":\\\"wants a person\\\"}"));
    chunk(a, FINISH("tool_calls"));
    done_ok(a);
    cr_assert_eq(net.submits, 1, "a transfer needs no second round");
    cr_assert_eq(ev.kind[ev.n - 1], AGENT_EV_END);
    cr_assert_eq(ev.action[ev.n - 1], AGENT_TRANSFER);
    cr_assert_str_eq(ev.reason[ev.n - 1], "wants a person");
    cr_assert_eq(count(AGENT_EV_TEXT), 1, "something is said before the transfer");
    cr_assert_eq(hooks_seen.records[LLM_REC_TOOL], 1);
    agent_llm_ops.close(a);
}

Test(llm, a_transfer_without_anyone_to_take_it_is_refused_to_the_model)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "en-US", 0);

    say_to(a, "I want to talk to a person");
    chunk(a, TOOL("call_1", "transfer_to_human", "{}"));
    chunk(a, FINISH("tool_calls"));
    done_ok(a);
    cr_assert_eq(net.submits, 2, "the model is asked again with the refusal");
    cr_assert(strstr(net.body, "nobody can take the call"), "%s", net.body);
    cr_assert_eq(count(AGENT_EV_END), 0);
    chunk(a, CONTENT("Nobody is free now. Can I take a message?"));
    chunk(a, FINISH("stop"));
    done_ok(a);
    cr_assert_eq(ev.action[last_end()], AGENT_CONTINUE);
    agent_llm_ops.close(a);
}

Test(llm, take_message_is_stored_and_the_model_answers_after_it)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "es-MX", 1);

    say_to(a, "Soy José Núñez, llámeme al 555 0100");
    model_takes_a_message(a);
    cr_assert_eq(hooks_seen.messages, 1);
    cr_assert_str_eq(hooks_seen.name, "José Núñez");
    cr_assert_str_eq(hooks_seen.message, "¿Pueden llamarme?");
    cr_assert_eq(net.submits, 2);
    cr_assert(strstr(net.body, "\"tool_call_id\"") != NULL, "%s", net.body);
    chunk(a, CONTENT("Listo, le llamaremos pronto."));
    chunk(a, FINISH("stop"));
    done_ok(a);
    cr_assert_str_eq(ev.text[0], "Listo, le llamaremos pronto.");
    cr_assert_eq(ev.action[last_end()], AGENT_CONTINUE);
    agent_llm_ops.close(a);
}

Test(llm, unknown_tools_and_bad_arguments_are_answered_with_errors_never_run)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "en-US", 1);

    say_to(a, "Delete everything");
    chunk(a, TOOL("call_1", "rm_rf", "{}"));
    chunk(a, FINISH("tool_calls"));
    done_ok(a);
    cr_assert_eq(net.submits, 2);
    cr_assert(strstr(net.body, "error:"), "%s", net.body);
    chunk(a, TOOL("call_2", "take_message", "{not json"));
    chunk(a, FINISH("tool_calls"));
    done_ok(a);
    cr_assert_eq(hooks_seen.messages, 0, "a call with broken arguments is never run");
    cr_assert_eq(net.submits, 3);
    /* A third round of tools is one too many: the rule agent answers. */
    chunk(a, TOOL("call_3", "rm_rf", "{}"));
    chunk(a, FINISH("tool_calls"));
    done_ok(a);
    cr_assert_eq(net.submits, 3);
    cr_assert_eq(ev.kind[ev.n - 1], AGENT_EV_END);
    cr_assert_str_eq(hooks_seen.last_event, "fallback");
    agent_llm_ops.close(a);
}

Test(llm, a_slow_model_gets_a_filler_then_the_fallback)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "es-MX", 1);

    say_to(a, "¿Cuál es su horario?");
    clock_now += 1000;
    agent_llm_ops.tick(a, clock_now);
    cr_assert_eq(ev.n, 0);
    clock_now += 1600;
    agent_llm_ops.tick(a, clock_now);
    cr_assert_eq(ev.n, 1);
    cr_assert_eq(ev.kind[0], AGENT_EV_FILLER);
    cr_assert_str_eq(ev.text[0], "Un momento, por favor.");
    clock_now += LLM_DEFAULT_HARD_TIMEOUT_MS;
    agent_llm_ops.tick(a, clock_now);
    cr_assert_eq(net.cancels, 1, "the slow request is cancelled");
    cr_assert_eq(ev.kind[ev.n - 1], AGENT_EV_END);
    /* The rule agent's answer for the hours, in Spanish. */
    cr_assert(strstr(ev.text[1], "lunes") != NULL, "got '%s'", ev.text[1]);
    /* Late deliveries of the cancelled request change nothing. */
    chunk(a, CONTENT("Too late."));
    done_with(a, HTTP_ECANCELLED, 0, -1);
    cr_assert_eq(count(AGENT_EV_TEXT), 1);
    agent_llm_ops.close(a);
}

Test(llm, a_429_is_retried_once_then_the_fallback_transfers)
{
    struct llm_settings s = settings();
    void *a;

    s.fallback = LLM_FALLBACK_TRANSFER;
    a = open_agent(&s, "en-US", 1);
    say_to(a, "Hello?");
    done_with(a, HTTP_OK, 429, 1);
    cr_assert_eq(net.submits, 1);
    cr_assert_str_eq(hooks_seen.last_event, "retry");
    clock_now += 1000;
    agent_llm_ops.tick(a, clock_now);
    cr_assert_eq(net.submits, 2, "retried after the wait");
    done_with(a, HTTP_OK, 503, -1);
    cr_assert_eq(net.submits, 2, "only once");
    cr_assert_eq(ev.action[last_end()], AGENT_TRANSFER);
    cr_assert_str_eq(hooks_seen.last_event, "fallback");
    agent_llm_ops.close(a);
}

Test(llm, a_garbage_stream_falls_back_to_the_rules)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "en-US", 1);

    say_to(a, "What are your hours?");
    chunk(a, "this is not json");
    cr_assert_eq(ev.kind[ev.n - 1], AGENT_EV_END);
    cr_assert(strstr(ev.text[0], "Monday") != NULL, "got '%s'", ev.text[0]);
    cr_assert_eq(net.cancels, 1);
    done_with(a, HTTP_ECANCELLED, 0, -1);
    agent_llm_ops.close(a);
}

Test(llm, a_stream_cut_before_its_end_falls_back_after_what_was_said)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "en-US", 1);

    say_to(a, "Tell me about cleaning.");
    chunk(a, CONTENT("A cleaning takes an hour. It costs"));
    done_with(a, HTTP_ECONNECTION, 200, -1);
    cr_assert_str_eq(ev.text[0], "A cleaning takes an hour.");
    cr_assert_eq(count(AGENT_EV_TEXT), 1, "the cut fragment is not said");
    cr_assert_eq(ev.kind[ev.n - 1], AGENT_EV_END);
    cr_assert_eq(ev.action[ev.n - 1], AGENT_CONTINUE);
    cr_assert_eq(net.submits, 1, "nothing is retried once the caller heard part of it");
    agent_llm_ops.close(a);
}

Test(llm, an_interruption_cancels_the_turn_and_memory_keeps_what_was_heard)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "en-US", 1);
    int before;

    say_to(a, "What do you offer?");
    chunk(a, CONTENT("We offer cleanings, fillings and crowns. We also do whitening for "));
    before = ev.n;
    agent_llm_ops.interrupt(a, 900, NULL);
    cr_assert_eq(net.cancels, 1);
    chunk(a, CONTENT("everyone."));
    done_with(a, HTTP_ECANCELLED, 0, -1);
    cr_assert_eq(ev.n, before, "nothing is said after the interruption");
    say_to(a, "How much is whitening?");
    cr_assert(strstr(net.body, "[interrupted]") != NULL, "%s", net.body);
    cr_assert_null(strstr(net.body, "crowns"), "the caller did not hear that far: %s", net.body);
    agent_llm_ops.close(a);
    done_with(a, HTTP_ECANCELLED, 0, -1);
}

Test(llm, the_breaker_opens_after_repeated_failures)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "en-US", 1);

    for (int i = 0; i < LLM_BREAKER_FAILURES; i++) {
        say_to(a, "Hello?");
        done_with(a, HTTP_ECONNREFUSED, 0, -1);
    }
    cr_assert_eq(net.submits, LLM_BREAKER_FAILURES);
    cr_assert_str_eq(hooks_seen.last_event, "fallback");
    say_to(a, "Hello?");
    cr_assert_eq(net.submits, LLM_BREAKER_FAILURES, "the resting provider is not asked");
    cr_assert_eq(ev.kind[ev.n - 1], AGENT_EV_END);
    clock_now += LLM_BREAKER_OPEN_MS + 1;
    say_to(a, "Hello?");
    cr_assert_eq(net.submits, LLM_BREAKER_FAILURES + 1, "asked again once the pause is over");
    agent_llm_ops.close(a);
    done_with(a, HTTP_ECANCELLED, 0, -1);
}

Test(llm, closing_with_a_request_in_flight_frees_at_its_last_delivery)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "en-US", 1);

    say_to(a, "Hello?");
    agent_llm_ops.close(a);
    cr_assert_eq(net.cancels, 1);
    cr_assert_eq(ev.n, 0, "nothing after close");
    /* Under ASan a leak or a use after free shows here. */
    done_with(a, HTTP_ECANCELLED, 0, -1);
    cr_assert_eq(ev.n, 0);
}

Test(llm, open_refuses_missing_settings)
{
    struct agent_call call;
    struct llm_settings s = settings();
    void *a = (void *)1;

    memset(&call, 0, sizeof(call));
    call.lang = "en-US";
    cr_assert_eq(agent_llm_ops.open(&a, &call, &sink, &env), SB_EINVAL);
    cr_assert_null(a);
    s.model = "";
    call.llm = &s;
    cr_assert_eq(agent_llm_ops.open(&a, &call, &sink, &env), SB_EINVAL);
}

Test(llm, keys_pressed_become_words_for_the_model)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "en-US", 1);
    struct agent_turn t;

    memset(&t, 0, sizeof(t));
    t.digits = "1";
    agent_llm_ops.turn(a, &t);
    cr_assert(strstr(net.body, "pressed 1"), "%s", net.body);
    agent_llm_ops.close(a);
    done_with(a, HTTP_ECANCELLED, 0, -1);
}

/* ---- speculative turns (a Gather's partial results) ---- */

static void guess(void *a, const char *words)
{
    struct agent_turn t;

    memset(&t, 0, sizeof(t));
    t.speech = words;
    t.speculative = 1;
    agent_llm_ops.turn(a, &t);
}

Test(llm, a_confirmed_speculation_says_its_held_reply_at_once)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "es-MX", 1);

    guess(a, "¿Abren el sábado?");
    cr_assert_eq(net.submits, 1, "the model is asked before the caller's final words");
    cr_assert(strstr(net.body, "sábado") != NULL, "%s", net.body);
    chunk(a, CONTENT("Sí, abrimos el sábado de nueve a una. ¿Algo más?"));
    chunk(a, FINISH("stop"));
    done_ok(a);
    cr_assert_eq(ev.n, 0, "nothing is said before the turn is confirmed");
    cr_assert_eq(hooks_seen.records[LLM_REC_CALLER] + hooks_seen.records[LLM_REC_AGENT], 0,
                 "nothing is in the transcript before the turn is confirmed");
    agent_llm_ops.confirm(a);
    cr_assert_eq(net.submits, 1, "a confirmed speculation is not asked again");
    cr_assert_geq(count(AGENT_EV_TEXT), 1);
    cr_assert_str_eq(ev.text[0], "Sí, abrimos el sábado de nueve a una.");
    cr_assert_eq(ev.kind[ev.n - 1], AGENT_EV_END);
    cr_assert_eq(hooks_seen.records[LLM_REC_CALLER], 1);
    cr_assert_eq(hooks_seen.records[LLM_REC_AGENT], 1);
    /* The next turn's history holds the confirmed exchange once. */
    say_to(a, "No, gracias");
    cr_assert(strstr(net.body, "¿Abren el sábado?") != NULL, "%s", net.body);
    cr_assert(strstr(net.body, "nueve a una") != NULL, "%s", net.body);
    agent_llm_ops.close(a);
    done_with(a, HTTP_ECANCELLED, 0, -1);
}

Test(llm, a_withdrawn_speculation_leaves_no_trace)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "en-US", 1);

    guess(a, "I want to book");
    chunk(a, CONTENT("Sure, when would you like to come in?"));
    agent_llm_ops.withdraw(a);
    cr_assert_eq(net.cancels, 1, "the speculative request is cancelled");
    chunk(a, FINISH("stop"));
    done_with(a, HTTP_ECANCELLED, 0, -1);
    cr_assert_eq(ev.n, 0);
    cr_assert_eq(hooks_seen.records[LLM_REC_CALLER], 0);
    say_to(a, "I want to cancel my booking");
    cr_assert_eq(net.submits, 2);
    cr_assert_null(strstr(net.body, "I want to book\""), "withdrawn words are forgotten: %s",
                   net.body);
    cr_assert_null(strstr(net.body, "when would you like"), "%s", net.body);
    cr_assert(strstr(net.body, "I want to cancel my booking") != NULL, "%s", net.body);
    chunk(a, CONTENT("I can help with that."));
    chunk(a, FINISH("stop"));
    done_ok(a);
    cr_assert_str_eq(ev.text[0], "I can help with that.");
    cr_assert_eq(ev.kind[ev.n - 1], AGENT_EV_END);
    agent_llm_ops.close(a);
}

Test(llm, a_speculation_runs_no_tool_before_it_is_confirmed)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "es-MX", 1);

    guess(a, "Soy José Núñez, llámeme al 555 0100");
    model_takes_a_message(a);
    cr_assert_eq(hooks_seen.messages, 0, "a tool with effects waits for the caller's final words");
    cr_assert_eq(net.submits, 1);
    agent_llm_ops.confirm(a);
    cr_assert_eq(hooks_seen.messages, 1);
    cr_assert_eq(net.submits, 2, "the model gets the tool's result after the confirmation");
    chunk(a, CONTENT("Listo, le llamaremos pronto."));
    chunk(a, FINISH("stop"));
    done_ok(a);
    cr_assert_str_eq(ev.text[0], "Listo, le llamaremos pronto.");
    agent_llm_ops.close(a);
}

Test(llm, a_failed_speculation_is_asked_again_when_confirmed)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "en-US", 1);

    guess(a, "What are your hours?");
    done_with(a, HTTP_OK, 503, -1);
    cr_assert_eq(ev.n, 0, "a failed speculation is silent: nobody waits on it");
    cr_assert_str_eq(hooks_seen.last_event, "");
    /* Long after: no filler, no fallback while nobody waits. */
    clock_now += 20000;
    agent_llm_ops.tick(a, clock_now);
    cr_assert_eq(ev.n, 0);
    agent_llm_ops.confirm(a);
    cr_assert_eq(net.submits, 2, "the confirmed turn is asked for real");
    chunk(a, CONTENT("We open at nine."));
    chunk(a, FINISH("stop"));
    done_ok(a);
    cr_assert_str_eq(ev.text[0], "We open at nine.");
    cr_assert_eq(ev.kind[ev.n - 1], AGENT_EV_END);
    agent_llm_ops.close(a);
}

Test(llm, confirm_and_withdraw_without_a_speculation_do_nothing)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "en-US", 1);

    agent_llm_ops.confirm(a);
    agent_llm_ops.withdraw(a);
    say_to(a, "Hello");
    agent_llm_ops.withdraw(a);
    cr_assert_eq(net.cancels, 0, "a real turn is never withdrawn");
    chunk(a, CONTENT("Hi there."));
    chunk(a, FINISH("stop"));
    done_ok(a);
    cr_assert_str_eq(ev.text[0], "Hi there.");
    agent_llm_ops.close(a);
}

Test(llm, a_speculation_that_could_not_start_is_not_confirmed)
{
    struct llm_settings s = settings();
    void *a = open_agent(&s, "en-US", 1);

    /* Not UTF-8: the history refuses the words, so nothing speculative runs. */
    guess(a, "caf\xe9 hours");
    cr_assert_eq(net.submits, 0);
    cr_assert_eq(agent_llm_ops.confirm(a), 0, "the caller must ask a normal turn");
    cr_assert_eq(ev.n, 0);
    agent_llm_ops.close(a);
}
