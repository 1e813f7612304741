#include "media/relay.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/banned.h"

enum { R_AWAIT_SETUP, R_STARTED, R_ACTIVE, R_CLOSING };

void relay_init(struct relay_session *s, const struct relay_io *io)
{
    memset(s, 0, sizeof(*s));
    s->io = *io;
    s->state = R_AWAIT_SETUP;
    s->first_text_us = -1;
    buf_init(&s->tx, RELAY_MESSAGE_MAX);
}

const char *relay_outcome_name(enum relay_outcome o)
{
    switch (o) {
    case RELAY_OPEN:
        return "open";
    case RELAY_TRANSFER:
        return "transfer";
    case RELAY_HANGUP:
        return "hangup";
    case RELAY_FAILED:
        return "failed";
    }
    return "unknown";
}

void relay_end(struct relay_session *s, enum relay_outcome outcome, int code, const char *reason)
{
    if (s->state == R_CLOSING)
        return;
    s->state = R_CLOSING;
    s->outcome = outcome;
    snprintf(s->reason, sizeof(s->reason), "%s", reason);
    log_event(outcome == RELAY_FAILED ? LOG_WARN : LOG_INFO, "relay.ending",
              "call_sid=%s outcome=%s reason=\"%s\"", s->call_sid[0] ? s->call_sid : "-",
              relay_outcome_name(outcome), reason);
    s->io.close(s->io.arg, code, reason);
}

/* Sends one JSON object (and frees it). */
static int send_json(struct relay_session *s, json_t *msg)
{
    char *text;
    int rc;

    if (!msg)
        return SB_ENOMEM;
    text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return SB_ENOMEM;
    rc = s->io.send(s->io.arg, text, strlen(text));
    free(text);
    if (rc)
        relay_end(s, RELAY_FAILED, 1011, "cannot send to twilio");
    return rc;
}

/* A `text` token; tokens are sent as the model writes them, a space after each piece. */
static void send_text(struct relay_session *s, const char *piece, int last)
{
    char token[1024];

    if (s->state != R_ACTIVE)
        return;
    snprintf(token, sizeof(token), "%s%s", piece, piece[0] && !last ? " " : "");
    if (send_json(s, json_pack("{s:s, s:s, s:b}", "type", "text", "token", token, "last", last)) ==
            0 &&
        piece[0] && s->sent_in_turn++ == 0 && s->asked_us)
        s->first_text_us = clock_mono_us() - s->asked_us;
}

static void send_end(struct relay_session *s, enum agent_action action, const char *reason)
{
    json_t *data = json_pack("{s:s, s:s}", "reasonCode",
                             action == AGENT_TRANSFER ? "live-agent-handoff" : "end-call", "reason",
                             reason ? reason : "");
    char *handoff = data ? json_dumps(data, JSON_COMPACT) : NULL;

    json_decref(data);
    snprintf(s->handoff, sizeof(s->handoff), "%s", handoff ? handoff : "");
    free(handoff);
    if (send_json(s, json_pack("{s:s, s:s}", "type", "end", "handoffData", s->handoff)) == 0)
        relay_end(s, action == AGENT_TRANSFER ? RELAY_TRANSFER : RELAY_HANGUP, 1000,
                  action == AGENT_TRANSFER ? "agent transfers the call" : "agent ends the call");
}

/* The agent's events (agent_sink). */
static void on_agent_event(void *arg, const struct agent_event *ev)
{
    struct relay_session *s = arg;

    if (s->state != R_ACTIVE)
        return;
    switch (ev->kind) {
    case AGENT_EV_TEXT:
    case AGENT_EV_FILLER:
        if (ev->text && *ev->text)
            send_text(s, ev->text, 0);
        break;
    case AGENT_EV_LANG:
        if (ev->text && *ev->text) {
            snprintf(s->lang, sizeof(s->lang), "%s", ev->text);
            (void)send_json(s, json_pack("{s:s, s:s, s:s}", "type", "language", "ttsLanguage",
                                         ev->text, "transcriptionLanguage", ev->text));
        }
        break;
    case AGENT_EV_END:
        s->turn_open = 0;
        /* The talk cycle's end: an empty last token, then `end` when the call moves on. */
        if (s->sent_in_turn || ev->action == AGENT_CONTINUE)
            send_text(s, "", 1);
        if (ev->action != AGENT_CONTINUE && s->state == R_ACTIVE)
            send_end(s, ev->action, ev->reason);
        break;
    }
}

int relay_begin(struct relay_session *s, const struct agent_ops *agent,
                const struct agent_call *call, const struct agent_env *env)
{
    struct agent_sink sink = {on_agent_event, s};

    if (s->state != R_STARTED)
        return SB_EINVAL;
    if (call->lang)
        snprintf(s->lang, sizeof(s->lang), "%s", call->lang);
    if (agent->open(&s->agent_obj, call, &sink, env) != 0) {
        relay_end(s, RELAY_FAILED, 1011, "cannot start the agent");
        return SB_ENOMEM;
    }
    s->agent = agent;
    /* Twilio already says the welcome greeting: nothing the agent's start emits is sent. */
    agent->start(s->agent_obj);
    s->state = R_ACTIVE;
    return 0;
}

/* A message we cannot use: logged, and too many in a row close the session. */
static int bad_message(struct relay_session *s, const char *why)
{
    log_event(LOG_WARN, "relay.bad_message", "call_sid=%s reason=\"%s\"",
              s->call_sid[0] ? s->call_sid : "-", why);
    if (++s->bad_in_row >= RELAY_MAX_BAD_MESSAGES) {
        relay_end(s, RELAY_FAILED, 1007, "too many malformed messages in a row");
        return SB_EPARSE;
    }
    return 0;
}

static const char *str_field(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int on_setup(struct relay_session *s, const json_t *msg)
{
    const json_t *custom = json_object_get(msg, "customParameters");
    struct relay_setup setup;

    if (s->state != R_AWAIT_SETUP)
        return bad_message(s, "a second setup message");
    memset(&setup, 0, sizeof(setup));
    setup.session_id = str_field(msg, "sessionId");
    setup.call_sid = str_field(msg, "callSid");
    setup.account_sid = str_field(msg, "accountSid");
    setup.from = str_field(msg, "from");
    setup.to = str_field(msg, "to");
    setup.direction = str_field(msg, "direction");
    if (json_is_object(custom)) {
        setup.lang = str_field(custom, "lang");
        setup.agent = str_field(custom, "agent");
        setup.token = str_field(custom, "token");
    }
    /* A CallSid is "CA" and 32 hex digits. */
    if (!setup.call_sid || strlen(setup.call_sid) != 34 || strncmp(setup.call_sid, "CA", 2) != 0) {
        relay_end(s, RELAY_FAILED, 1008, "setup without a valid callSid");
        return SB_EINVAL;
    }
    snprintf(s->call_sid, sizeof(s->call_sid), "%s", setup.call_sid);
    snprintf(s->session_id, sizeof(s->session_id), "%s", setup.session_id ? setup.session_id : "");
    s->state = R_STARTED;
    s->io.started(s->io.arg, s, &setup);
    if (s->state == R_STARTED)
        relay_end(s, RELAY_FAILED, 1011, "the call has no agent");
    return s->state == R_ACTIVE ? 0 : SB_EINVAL;
}

/* A caller's turn: the running one (if any) is replaced. */
static void ask(struct relay_session *s, const char *speech, const char *digits, long long now_us)
{
    struct agent_turn t;

    memset(&t, 0, sizeof(t));
    t.lang = s->lang;
    t.speech = speech;
    t.digits = digits;
    s->turn_open = 1;
    s->sent_in_turn = 0;
    s->asked_us = now_us;
    s->turns++;
    s->agent->turn(s->agent_obj, &t);
}

/* A number, or a numeric string (Twilio's docs show both), as whole ms. */
static long ms_field(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);

    if (json_is_number(v))
        return (long)json_number_value(v);
    if (json_is_string(v))
        return (long)strtod(json_string_value(v), NULL);
    return -1;
}

int relay_message(struct relay_session *s, const char *text, size_t len, long long now_us)
{
    json_error_t jerr;
    json_t *msg;
    const char *type;
    int rc = 0;

    if (s->state == R_CLOSING)
        return 0;
    msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(msg)) {
        json_decref(msg);
        return bad_message(s, "not a JSON object");
    }
    type = str_field(msg, "type");
    if (!type) {
        rc = bad_message(s, "no type");
    } else if (strcmp(type, "setup") == 0) {
        s->bad_in_row = 0;
        rc = on_setup(s, msg);
    } else if (s->state != R_ACTIVE) {
        json_decref(msg);
        relay_end(s, RELAY_FAILED, 1008, "a message before setup");
        return SB_EINVAL;
    } else if (strcmp(type, "prompt") == 0) {
        const char *words = str_field(msg, "voicePrompt");
        const json_t *last = json_object_get(msg, "last");

        s->bad_in_row = 0;
        if (!words)
            rc = bad_message(s, "prompt without voicePrompt");
        else if (json_is_false(last))
            ; /* a partial transcript: the final one follows */
        else
            ask(s, words, NULL, now_us);
    } else if (strcmp(type, "dtmf") == 0) {
        const char *digit = str_field(msg, "digit");

        s->bad_in_row = 0;
        if (!digit || !*digit)
            rc = bad_message(s, "dtmf without digit");
        else
            ask(s, NULL, digit, now_us);
    } else if (strcmp(type, "interrupt") == 0) {
        s->bad_in_row = 0;
        s->interrupts++;
        s->turn_open = 0;
        s->agent->interrupt(s->agent_obj, ms_field(msg, "durationUntilInterruptMs"),
                            str_field(msg, "utteranceUntilInterrupt"));
    } else if (strcmp(type, "error") == 0) {
        s->bad_in_row = 0;
        log_event(LOG_WARN, "relay.twilio_error", "call_sid=%s description=\"%.300s\"", s->call_sid,
                  str_field(msg, "description") ? str_field(msg, "description") : "");
    } else if (strcmp(type, "info") == 0) {
        s->bad_in_row = 0;
    } else {
        rc = bad_message(s, "unknown message type");
    }
    json_decref(msg);
    return rc;
}

void relay_release(struct relay_session *s)
{
    if (s->agent && s->agent->close)
        s->agent->close(s->agent_obj);
    s->agent = NULL;
    s->agent_obj = NULL;
    buf_release(&s->tx);
}
