#include "agent/llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "agent/chat_stream.h"
#include "agent/speakable.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/lang.h"
#include "core/log.h"
#include "net/http_client.h"
#include "core/banned.h"

#define KNOWLEDGE_PASSAGES 3
#define BODY_MAX (256 * 1024)
#define SAID_MAX (16 * 1024)
/* About how fast a reply is spoken, to guess what an interrupted caller heard. */
#define CHARS_PER_SECOND 14

/* One call's LLM agent. */
struct llm_agent {
    struct agent_base base; /* first: deliveries name the agent by it */
    struct agent_sink sink;
    struct agent_env env;
    struct llm_settings set; /* strings below are the agent's own copies */
    char *base_url, *model, *api_key, *persona, *hours;
    char call_sid[64];
    char tenant[64];
    char lang[CHAT_ARG_LANGUAGE_MAX + 1];
    int can_transfer;
    struct chat_history hist;

    /* The turn in progress. */
    int active;
    uint64_t req;          /* the request in flight, 0 when none */
    int inflight;          /* requests whose on_done has not arrived yet */
    int closed;            /* close() ran while requests were in flight: freed at the last */
    int rounds;            /* requests made this turn */
    int retried;           /* a 429/5xx was retried this turn */
    int spoke;             /* a piece of this turn was emitted */
    int filler;            /* the filler was said this turn */
    long long started_ms;  /* when the turn's first request went out */
    long long first_ms;    /* when its first text arrived, 0 before */
    long long retry_at_ms; /* a retry waits until then, 0 when none */
    char *caller;          /* the turn's words, for the fallback */
    struct chat_stream cs;
    struct speakable sp;
    struct buf said; /* the reply's text emitted this turn */

    /* A speculative turn (agent_turn.speculative) until confirm or withdraw. */
    int speculative;
    int parked;      /* its model round is complete: round_done waits for confirm */
    int spec_failed; /* it failed quietly: confirm asks again */
    struct buf held; /* its pieces not yet emitted, each ended by '\0' */
};

/* ---- the breaker: one per base URL, loop thread only ---- */

#define BREAKERS 16

static struct breaker {
    char url[256];
    int failures;
    long long open_until;
} breakers[BREAKERS];

void llm_breakers_reset(void)
{
    memset(breakers, 0, sizeof(breakers));
}

static struct breaker *breaker_for(const char *url, int create)
{
    struct breaker *free_slot = NULL;

    for (size_t i = 0; i < BREAKERS; i++) {
        if (breakers[i].url[0] && strcmp(breakers[i].url, url) == 0)
            return &breakers[i];
        if (!breakers[i].url[0] && !free_slot)
            free_slot = &breakers[i];
    }
    if (!create)
        return NULL;
    if (!free_slot)
        free_slot = &breakers[0]; /* more URLs than slots: forget one */
    memset(free_slot, 0, sizeof(*free_slot));
    snprintf(free_slot->url, sizeof(free_slot->url), "%s", url);
    return free_slot;
}

/* ---- small helpers ---- */

static long long now_ms(const struct llm_agent *a)
{
    return a->env.now_ms();
}

static int spanish(const struct llm_agent *a)
{
    return strcmp(lang_base(a->lang), "es") == 0;
}

static void record(const struct llm_agent *a, const struct llm_record *r)
{
    if (a->set.hooks.record)
        a->set.hooks.record(a->set.hooks.arg, r);
}

static void record_event(const struct llm_agent *a, const char *event, const char *why)
{
    struct llm_record r = {LLM_REC_EVENT, a->call_sid, why, NULL, NULL, event, 0, NULL, -1};

    log_event(strcmp(event, "filler") == 0 ? LOG_INFO : LOG_WARN, "agent.llm",
              "call_sid=%s event=%s reason=\"%s\"", a->call_sid, event, why ? why : "");
    record(a, &r);
}

static void emit(struct llm_agent *a, enum agent_event_kind kind, const char *text,
                 enum agent_action action, const char *reason)
{
    struct agent_event ev = {kind, text, action, reason};

    a->sink.emit(a->sink.arg, &ev);
}

/* Says one piece of the reply and keeps it as said. */
static void say(struct llm_agent *a, const char *text)
{
    if (!text || !*text)
        return;
    /* The record of what was said is bounded (SAID_MAX); what does not fit is still said. */
    if ((a->said.len == 0 || buf_putc(&a->said, ' ') == 0) && buf_puts(&a->said, text) != 0)
        log_event(LOG_INFO, "agent.llm", "call_sid=%s event=reply_record_full", a->call_sid);
    if (a->speculative) {
        /* Nobody listens yet: kept for confirm (a piece that does not fit fails the speculation).
         */
        if (buf_append(&a->held, text, strlen(text) + 1) != 0)
            a->spec_failed = 1;
        return;
    }
    a->spoke = 1;
    emit(a, AGENT_EV_TEXT, text, AGENT_CONTINUE, NULL);
}

/* speakable's emit: says one piece. */
static int say_piece(void *arg, const char *piece, size_t len)
{
    char text[SPEAKABLE_MAX_PIECE + 1];

    if (len >= sizeof(text))
        len = sizeof(text) - 1; /* never: pieces are at most SPEAKABLE_MAX_PIECE bytes */
    memcpy(text, piece, len);
    text[len] = '\0';
    say(arg, text);
    return 0;
}

/* Says what the cutter holds, complete or not: the model's text is over. */
static void say_rest(struct llm_agent *a)
{
    if (speakable_flush(&a->sp, say_piece, a) != 0)
        speakable_reset(&a->sp);
}

/*
 * The turn's state and buffers go: a call spends most of its time between
 * turns, so they go back now, not at the next turn.
 */
static void turn_release(struct llm_agent *a)
{
    a->active = 0;
    a->retry_at_ms = 0;
    free(a->caller);
    a->caller = NULL;
    chat_stream_release(&a->cs);
    speakable_release(&a->sp);
    buf_release(&a->said);
    buf_release(&a->held);
}

/* Ends the turn: nothing more is emitted for it. */
static void end_turn(struct llm_agent *a, enum agent_action action, const char *reason)
{
    turn_release(a);
    emit(a, AGENT_EV_END, NULL, action, reason);
}

static void stream_reset(struct llm_agent *a)
{
    chat_stream_release(&a->cs);
    chat_stream_init(&a->cs, 0, 0);
}

/* Drops the request in flight: its deliveries are ignored from now on. */
static void drop_request(struct llm_agent *a)
{
    if (a->req)
        (void)a->env.cancel(a->env.net, a->req);
    a->req = 0;
}

static const char *transfer_line(const struct llm_agent *a)
{
    return spanish(a) ? "Le comunico con una persona." : "Let me connect you with a person.";
}

/* ---- the turn's end when the model cannot answer ---- */

static void fall_back(struct llm_agent *a, const char *why)
{
    struct agent_turn t;
    struct agent_reply r;
    struct breaker *b = breaker_for(a->set.base_url, 1);

    drop_request(a);
    if (a->speculative) {
        /*
         * Nobody waits on it yet: if it is confirmed, the turn is asked again
         * then (and counts for the breaker then, once).
         */
        a->spec_failed = 1;
        log_event(LOG_INFO, "agent.llm", "call_sid=%s event=speculation_failed reason=\"%s\"",
                  a->call_sid, why);
        return;
    }
    if (b && ++b->failures >= LLM_BREAKER_FAILURES && !b->open_until) {
        b->open_until = now_ms(a) + LLM_BREAKER_OPEN_MS;
        record_event(a, "breaker_open", a->set.base_url);
    }
    record_event(a, "fallback", why);
    if (a->spoke) {
        /* Part of a reply was heard: let the caller go on rather than repeat; a cut fragment is
         * dropped. */
        speakable_reset(&a->sp);
        end_turn(a, AGENT_CONTINUE, NULL);
        return;
    }
    if (a->set.fallback == LLM_FALLBACK_TRANSFER && a->can_transfer) {
        say(a, transfer_line(a));
        end_turn(a, AGENT_TRANSFER, "the assistant is not available");
        return;
    }
    memset(&t, 0, sizeof(t));
    t.lang = a->lang;
    t.speech = a->caller;
    t.tenant_name = a->tenant;
    t.can_transfer = a->can_transfer;
    agent_rules_turn(&t, &r);
    say(a, r.text);
    end_turn(a, r.action, r.action == AGENT_TRANSFER ? "the caller asked for a person" : NULL);
}

/* ---- requests ---- */

/* Builds the system prompt's context and the body, and submits it. Returns 0 or an SB_E* code. */
static int submit(struct llm_agent *a)
{
    static const char *const headers_base[] = {"Content-Type: application/json",
                                               "Accept: text/event-stream"};
    struct chat_request_params p;
    struct chat_context ctx;
    struct http_request req;
    struct buf body, url;
    char *passages[KNOWLEDGE_PASSAGES];
    const char *kp[KNOWLEDGE_PASSAGES];
    size_t np = 0;
    char auth[600];
    const char *headers[3];
    char err[200];
    int rc;

    memset(&ctx, 0, sizeof(ctx));
    ctx.persona = a->set.persona;
    ctx.tenant_name = a->tenant;
    ctx.lang = a->lang;
    ctx.can_transfer = a->can_transfer;
    if (a->set.hooks.knowledge && a->caller)
        np = a->set.hooks.knowledge(a->set.hooks.arg, a->caller, passages, KNOWLEDGE_PASSAGES);
    for (size_t i = 0; i < np; i++)
        kp[i] = passages[i];
    ctx.knowledge = np ? kp : NULL;
    ctx.nknowledge = np;
    memset(&p, 0, sizeof(p));
    p.model = a->set.model;
    p.temperature = a->set.temperature;
    p.max_tokens = a->set.max_tokens;
    p.tools = CHAT_TOOLS_ALL;
    buf_init(&body, BODY_MAX);
    buf_init(&url, 1024);
    rc = chat_request_build(&p, &ctx, &a->hist, &body, err, sizeof(err));
    for (size_t i = 0; i < np; i++)
        free(passages[i]);
    if (rc == 0)
        rc = buf_puts(&url, a->set.base_url);
    /* Both "…/v1" and "…/v1/" are common in settings. */
    while (rc == 0 && url.len && url.data[url.len - 1] == '/')
        url.data[--url.len] = '\0';
    if (rc == 0)
        rc = buf_puts(&url, "/chat/completions");
    if (rc == 0) {
        size_t nh = 0;

        headers[nh++] = headers_base[0];
        headers[nh++] = headers_base[1];
        if (a->set.api_key && *a->set.api_key) {
            snprintf(auth, sizeof(auth), "Authorization: Bearer %s", a->set.api_key);
            headers[nh++] = auth;
        }
        memset(&req, 0, sizeof(req));
        req.method = "POST";
        req.url = url.data;
        req.headers = headers;
        req.nheaders = nh;
        req.body = body.data;
        req.body_len = body.len;
        req.first_byte_timeout_ms = a->set.hard_timeout_ms;
        req.idle_timeout_ms = a->set.hard_timeout_ms;
        req.total_timeout_ms = 120000;
        req.stream = HTTP_STREAM_SSE;
        req.arg = a;
        req.inbox = a->env.inbox;
        stream_reset(a);
        rc = a->env.submit(a->env.net, &req, &a->req);
        if (rc == 0)
            a->inflight++;
        else
            a->req = 0;
    } else if (rc == SB_EINVAL) {
        log_event(LOG_WARN, "agent.llm", "call_sid=%s event=bad_request reason=\"%s\"", a->call_sid,
                  err);
    }
    OPENSSL_cleanse(auth, sizeof(auth));
    buf_release(&body);
    buf_release(&url);
    a->rounds++;
    return rc;
}

/* Starts a model round, or falls back when the provider is resting or the request cannot go. */
static void ask(struct llm_agent *a)
{
    struct breaker *b = breaker_for(a->set.base_url, 0);

    if (b && b->open_until) {
        if (now_ms(a) < b->open_until) {
            fall_back(a, "the provider failed again and again; resting");
            return;
        }
        b->open_until = 0; /* half-open: this request decides */
        b->failures = LLM_BREAKER_FAILURES - 1;
    }
    if (submit(a) != 0)
        fall_back(a, "the request could not be sent");
}

/* ---- tools ---- */

/* Runs one checked call. Returns the action it ends the turn with, or AGENT_CONTINUE. */
static enum agent_action run_tool(struct llm_agent *a, const struct chat_tool_args *t, char *result,
                                  size_t size, const char **reason)
{
    switch (t->tool) {
    case CHAT_TOOL_TRANSFER_TO_HUMAN:
        if (!a->can_transfer) {
            snprintf(result, size,
                     "error: nobody can take the call now; offer to take a message instead");
            return AGENT_CONTINUE;
        }
        snprintf(result, size, "ok: transferring the call");
        *reason = t->reason[0] ? t->reason : "the caller asked for a person";
        return AGENT_TRANSFER;
    case CHAT_TOOL_END_CALL:
        snprintf(result, size, "ok: the call ends after your last words");
        return AGENT_HANGUP;
    case CHAT_TOOL_TAKE_MESSAGE:
        if (a->set.hooks.take_message)
            a->set.hooks.take_message(a->set.hooks.arg, a->call_sid, t);
        snprintf(result, size, "ok: the message is saved and will be passed on");
        return AGENT_CONTINUE;
    case CHAT_TOOL_SWITCH_LANGUAGE:
        snprintf(a->lang, sizeof(a->lang), "%s", t->language);
        emit(a, AGENT_EV_LANG, a->lang, AGENT_CONTINUE, NULL);
        snprintf(result, size, "ok: from now on speak %s", a->lang);
        return AGENT_CONTINUE;
    case CHAT_TOOL_BUSINESS_HOURS:
        snprintf(result, size, "%s",
                 a->set.business_hours && *a->set.business_hours
                     ? a->set.business_hours
                     : "unknown: the business has not published its hours");
        return AGENT_CONTINUE;
    case CHAT_TOOL_COUNT:
        break;
    }
    snprintf(result, size, "error: unknown tool");
    return AGENT_CONTINUE;
}

/* The model's answer is complete: speak the rest, run its tools, ask again or end the turn. */
static void round_done(struct llm_agent *a)
{
    struct chat_call calls[CHAT_STREAM_MAX_CALLS];
    size_t n = chat_stream_calls(&a->cs, calls, CHAT_STREAM_MAX_CALLS);
    enum agent_action action = AGENT_CONTINUE;
    const char *reason = NULL;
    char why[CHAT_ARG_REASON_MAX + 1] = "";
    const char *content = a->cs.content.len ? a->cs.content.data : NULL;
    struct breaker *b = breaker_for(a->set.base_url, 0);

    if (b)
        b->failures = 0;
    if (a->speculative) {
        /* Tools have effects and the caller may yet say something else: wait for confirm. */
        a->parked = 1;
        return;
    }
    say_rest(a);
    if (chat_history_add_assistant(&a->hist, content, calls, n) != 0) {
        fall_back(a, "the reply does not fit the conversation");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct chat_tool_args args;
        char result[512];
        struct llm_record r = {
            LLM_REC_TOOL, a->call_sid, result, calls[i].name, calls[i].arguments, NULL, 0,
            NULL,         -1};
        enum agent_action act = AGENT_CONTINUE;
        const char *rs = NULL;

        if (chat_tool_check(calls[i].name, calls[i].arguments, &args, result, sizeof(result)) == 0)
            act = run_tool(a, &args, result, sizeof(result), &rs);
        record(a, &r);
        if (chat_history_add_tool(&a->hist, calls[i].id, result) != 0) {
            fall_back(a, "a tool result does not fit the conversation");
            return;
        }
        if (act != AGENT_CONTINUE && action == AGENT_CONTINUE) {
            action = act;
            snprintf(why, sizeof(why), "%s", rs ? rs : "");
            reason = why;
        }
    }
    if (action == AGENT_CONTINUE && n > 0) {
        /* The model wants its tools' results before it answers. */
        if (a->rounds >= LLM_MAX_ROUNDS) {
            fall_back(a, "the model kept calling tools");
            return;
        }
        ask(a);
        return;
    }
    if (!a->spoke) {
        if (action == AGENT_TRANSFER)
            say(a, transfer_line(a));
        else if (action == AGENT_HANGUP)
            say(a, agent_goodbye(a->lang));
    }
    {
        struct llm_record r = {LLM_REC_AGENT,
                               a->call_sid,
                               a->said.len ? a->said.data : "",
                               NULL,
                               NULL,
                               NULL,
                               0,
                               NULL,
                               a->first_ms ? (long)(a->first_ms - a->started_ms) : -1};

        record(a, &r);
    }
    end_turn(a, action, action == AGENT_TRANSFER ? reason : NULL);
}

/* ---- the engine's callbacks ---- */

static int llm_open(void **out, const struct agent_call *call, const struct agent_sink *sink,
                    const struct agent_env *env)
{
    struct llm_agent *a;
    const struct llm_settings *s = call ? call->llm : NULL;

    *out = NULL;
    if (!s || !sink || !sink->emit || !env || !env->submit || !env->cancel || !env->now_ms ||
        !s->base_url || !*s->base_url || !s->model || !*s->model)
        return SB_EINVAL;
    a = calloc(1, sizeof(*a));
    if (!a)
        return SB_ENOMEM;
    a->base.ops = &agent_llm_ops;
    a->sink = *sink;
    a->env = *env;
    a->set = *s;
    a->base_url = strdup(s->base_url);
    a->model = strdup(s->model);
    a->api_key = strdup(s->api_key ? s->api_key : "");
    a->persona = strdup(s->persona && *s->persona
                            ? s->persona
                            : "You are the friendly receptionist of this business. Help callers "
                              "with their questions, take messages, and transfer them to a "
                              "person when they ask or when you cannot help.");
    a->hours = strdup(s->business_hours ? s->business_hours : "");
    if (!a->base_url || !a->model || !a->api_key || !a->persona || !a->hours) {
        agent_llm_ops.close(a);
        return SB_ENOMEM;
    }
    a->set.base_url = a->base_url;
    a->set.model = a->model;
    a->set.api_key = a->api_key;
    a->set.persona = a->persona;
    a->set.business_hours = a->hours;
    if (a->set.first_token_timeout_ms <= 0)
        a->set.first_token_timeout_ms = LLM_DEFAULT_FIRST_TOKEN_MS;
    if (a->set.hard_timeout_ms <= 0)
        a->set.hard_timeout_ms = LLM_DEFAULT_HARD_TIMEOUT_MS;
    snprintf(a->call_sid, sizeof(a->call_sid), "%s", call->call_sid ? call->call_sid : "-");
    snprintf(a->tenant, sizeof(a->tenant), "%s", call->tenant_name ? call->tenant_name : "");
    snprintf(a->lang, sizeof(a->lang), "%s", call->lang ? call->lang : "en-US");
    a->can_transfer = call->can_transfer;
    chat_history_init(&a->hist, LLM_HISTORY_BYTES);
    chat_stream_init(&a->cs, 0, 0);
    speakable_init(&a->sp, 0, 0);
    buf_init(&a->said, SAID_MAX);
    buf_init(&a->held, SAID_MAX + SAID_MAX / 8);
    if (call->greeting && *call->greeting) {
        /* The greeting is said by the transport's first words: the model knows it was. */
        if (chat_history_add_assistant(&a->hist, call->greeting, NULL, 0) != 0)
            log_event(LOG_WARN, "agent.llm", "call_sid=%s event=greeting_not_kept", a->call_sid);
    }
    *out = a;
    return 0;
}

static void free_agent(struct llm_agent *a)
{
    chat_history_release(&a->hist);
    chat_stream_release(&a->cs);
    speakable_release(&a->sp);
    buf_release(&a->said);
    buf_release(&a->held);
    free(a->caller);
    if (a->api_key)
        OPENSSL_cleanse(a->api_key, strlen(a->api_key));
    free(a->api_key);
    free(a->base_url);
    free(a->model);
    free(a->persona);
    free(a->hours);
    free(a);
}

static void begin_turn(struct llm_agent *a)
{
    a->active = 1;
    a->rounds = 0;
    a->retried = 0;
    a->spoke = 0;
    a->filler = 0;
    a->first_ms = 0;
    a->retry_at_ms = 0;
    a->started_ms = now_ms(a);
    a->speculative = 0;
    a->parked = 0;
    a->spec_failed = 0;
    buf_reset(&a->said);
    buf_reset(&a->held);
    speakable_reset(&a->sp);
}

static void llm_withdraw(void *agent)
{
    struct llm_agent *a = agent;

    if (!a->speculative)
        return;
    drop_request(a);
    a->speculative = 0;
    a->parked = 0;
    a->spec_failed = 0;
    /* Nothing else joined the history while it ran (round_done parks first). */
    if (chat_history_pop_user(&a->hist) != 0)
        log_event(LOG_WARN, "agent.llm", "call_sid=%s event=withdraw_without_turn", a->call_sid);
    turn_release(a);
}

static void record_caller(const struct llm_agent *a, const char *words)
{
    struct llm_record r = {LLM_REC_CALLER, a->call_sid, words, NULL, NULL, NULL, 0, NULL, -1};

    record(a, &r);
}

static int llm_confirm(void *agent)
{
    struct llm_agent *a = agent;
    long long now = now_ms(a);

    if (!a->speculative)
        return 0;
    a->speculative = 0;
    /* The caller waits from now: the filler and the hard limit count from here. */
    a->started_ms = now;
    if (a->first_ms && a->first_ms < now)
        a->first_ms = now;
    record_caller(a, a->caller);
    log_event(LOG_INFO, "agent.llm", "call_sid=%s event=speculation_used ready=%s", a->call_sid,
              a->spec_failed ? "failed"
              : a->parked    ? "whole"
              : a->held.len  ? "part"
                             : "none");
    if (a->spec_failed) {
        /* Asked again for real: the failure policy (retry, fallback) applies now. */
        a->spec_failed = 0;
        a->parked = 0;
        a->first_ms = 0;
        a->rounds = 0;
        drop_request(a);
        buf_reset(&a->said);
        buf_reset(&a->held);
        speakable_reset(&a->sp);
        ask(a);
        return 1;
    }
    for (size_t at = 0; at < a->held.len;) {
        const char *piece = a->held.data + at;

        at += strlen(piece) + 1;
        a->spoke = 1;
        emit(a, AGENT_EV_TEXT, piece, AGENT_CONTINUE, NULL);
    }
    buf_reset(&a->held);
    if (a->parked) {
        a->parked = 0;
        round_done(a);
    }
    return 1;
}

static void llm_start(void *agent)
{
    struct llm_agent *a = agent;
    const struct chat_message *last = a->hist.n ? &a->hist.msgs[a->hist.n - 1] : NULL;

    /* The greeting is the tenant's, known at once: no model round for it. */
    begin_turn(a);
    if (last && last->role == CHAT_ROLE_ASSISTANT && last->content)
        say(a, last->content);
    end_turn(a, AGENT_CONTINUE, NULL);
}

static void llm_turn(void *agent, const struct agent_turn *turn)
{
    struct llm_agent *a = agent;
    const char *words = turn->speech && *turn->speech ? turn->speech : NULL;
    char keys[128];
    struct llm_record r = {LLM_REC_CALLER, a->call_sid, NULL, NULL, NULL, NULL, 0, NULL, -1};

    if (a->speculative)
        llm_withdraw(a);
    if (a->active) {
        drop_request(a);
        a->active = 0;
    }
    begin_turn(a);
    if (turn->speculative && !words) {
        a->active = 0; /* nothing to think about early */
        return;
    }
    if (!words && turn->digits && *turn->digits) {
        snprintf(keys, sizeof(keys), "(the caller pressed %.64s on the keypad)", turn->digits);
        words = keys;
    }
    if (!words) {
        /* Nothing to answer: the rule agent's prompt for unheard speech. */
        struct agent_turn t = *turn;
        struct agent_reply rep;

        t.lang = a->lang;
        t.can_transfer = a->can_transfer;
        agent_rules_turn(&t, &rep);
        say(a, rep.text);
        end_turn(a, AGENT_CONTINUE, NULL);
        return;
    }
    a->caller = strdup(words);
    a->speculative = turn->speculative;
    if (!a->speculative) {
        r.text = words;
        record(a, &r);
    }
    if (!a->caller || chat_history_add_user(&a->hist, words) != 0) {
        if (a->speculative) {
            /* Not in the history: nothing to withdraw; a confirm would find no turn. */
            a->speculative = 0;
            a->active = 0;
            free(a->caller);
            a->caller = NULL;
            return;
        }
        fall_back(a, "the caller's words could not be kept");
        return;
    }
    ask(a);
}

/* What the caller heard of `text` in `heard_ms`, cut at a word: a prefix of text. */
static size_t heard_prefix(const char *text, long heard_ms)
{
    size_t len = strlen(text), n;

    if (heard_ms < 0)
        return len;
    n = (size_t)(heard_ms * CHARS_PER_SECOND / 1000);
    if (n >= len)
        return len;
    while (n > 0 && text[n] != ' ')
        n--;
    return n;
}

static void llm_interrupt(void *agent, long heard_ms, const char *heard)
{
    struct llm_agent *a = agent;
    char *said = NULL, *full;
    const char *text;
    size_t keep;

    /* Nothing of a speculative turn was said: it is forgotten, the last reply is cut. */
    llm_withdraw(a);
    if (a->active) {
        /* Cut mid-turn: what was said so far becomes the turn's reply, as heard. */
        drop_request(a);
        speakable_reset(&a->sp);
        a->active = 0;
        free(a->caller);
        a->caller = NULL;
        if (a->said.len && chat_history_add_assistant(&a->hist, a->said.data, NULL, 0) != 0)
            return;
    }
    if (!a->hist.n || a->hist.msgs[a->hist.n - 1].role != CHAT_ROLE_ASSISTANT ||
        !a->hist.msgs[a->hist.n - 1].content)
        return;
    text = a->hist.msgs[a->hist.n - 1].content;
    if (heard && strncmp(text, heard, strlen(heard)) == 0) {
        keep = strlen(heard);
    } else {
        keep = heard_prefix(text, heard_ms);
    }
    said = strndup(text, keep);
    /* The history's copy is replaced by what was heard: the whole reply is recorded from this one.
     */
    full = strdup(text);
    if (said && full && chat_history_interrupt(&a->hist, said) == 0) {
        struct llm_record r = {LLM_REC_AGENT, a->call_sid, full, NULL, NULL, NULL, 1, said, -1};

        record(a, &r);
    }
    free(full);
    free(said);
}

static void on_chunk(struct llm_agent *a, const struct http_delivery *d)
{
    struct chat_stream_delta delta;

    if (!a->active || d->status < 200 || d->status > 299)
        return;
    if (chat_stream_feed(&a->cs, d->event_type, d->data, d->len, &delta) != 0) {
        char why[CHAT_STREAM_ERROR_SIZE + 32];

        snprintf(why, sizeof(why), "the model's stream is broken: %s", chat_stream_error(&a->cs));
        fall_back(a, why);
        return;
    }
    if (delta.text && delta.len) {
        if (!a->first_ms)
            a->first_ms = now_ms(a);
        if (speakable_push(&a->sp, delta.text, delta.len, say_piece, a) != 0) {
            fall_back(a, "out of memory while speaking the reply");
            return;
        }
    }
}

/* A 429 or 5xx (or no connection) before anything was said: one retry after a jittered wait. */
static int retry_later(struct llm_agent *a, const struct http_response *res)
{
    long wait;

    if (a->retried || a->spoke || a->speculative)
        return 0;
    a->retried = 1;
    wait = 250 + rand() % 500;
    if (res->retry_after_s > 0 && res->retry_after_s * 1000 < wait + 1500)
        wait = res->retry_after_s * 1000;
    a->retry_at_ms = now_ms(a) + wait;
    a->req = 0;
    a->rounds--;
    record_event(a, "retry", res->status ? "the provider is busy or failing" : res->error);
    return 1;
}

static void on_done(struct llm_agent *a, const struct http_response *res)
{
    char why[HTTP_ERROR_SIZE + 64];

    a->req = 0;
    if (res->result != HTTP_OK) {
        if (res->result == HTTP_ECONNECTION && retry_later(a, res))
            return;
        snprintf(why, sizeof(why), "no answer from the model: %s", res->error);
        fall_back(a, why);
        return;
    }
    if (res->status == 429 || res->status >= 500) {
        if (retry_later(a, res))
            return;
    }
    if (res->status < 200 || res->status > 299) {
        snprintf(why, sizeof(why), "the model's server answered %ld", res->status);
        fall_back(a, why);
        return;
    }
    if (chat_stream_end(&a->cs) != 0) {
        snprintf(why, sizeof(why), "the model's stream is broken: %s", chat_stream_error(&a->cs));
        fall_back(a, why);
        return;
    }
    round_done(a);
}

static void llm_deliver(void *agent, struct http_delivery *d)
{
    struct llm_agent *a = agent;
    int current = a->req && d->id == a->req;

    if (d->done) {
        a->inflight--;
        if (a->closed) {
            if (a->inflight <= 0)
                free_agent(a);
            return;
        }
    }
    if (!current || !a->active)
        return;
    if (d->done)
        on_done(a, d->done);
    else
        on_chunk(a, d);
}

static void llm_tick(void *agent, long long now)
{
    struct llm_agent *a = agent;

    if (!a->active)
        return;
    if (a->retry_at_ms) {
        if (now >= a->retry_at_ms) {
            a->retry_at_ms = 0;
            ask(a);
        }
        return;
    }
    if (a->speculative) {
        /* As for a real turn: the hard limit is for the first words, not a long reply. */
        if (!a->spec_failed && !a->parked && !a->first_ms &&
            now - a->started_ms >= a->set.hard_timeout_ms)
            fall_back(a, "the model did not answer in time");
        return;
    }
    if (a->first_ms || a->spoke)
        return;
    if (!a->filler && now - a->started_ms >= a->set.first_token_timeout_ms) {
        a->filler = 1;
        record_event(a, "filler", "the model is slow to answer");
        emit(a, AGENT_EV_FILLER, spanish(a) ? "Un momento, por favor." : "One moment, please.",
             AGENT_CONTINUE, NULL);
    }
    if (now - a->started_ms >= a->set.hard_timeout_ms)
        fall_back(a, "the model did not answer in time");
}

static void llm_close(void *agent)
{
    struct llm_agent *a = agent;

    if (!a)
        return;
    drop_request(a);
    a->active = 0;
    if (a->inflight > 0) {
        /* Its on_done is still to come through the inbox: the agent is freed then. */
        a->closed = 1;
        return;
    }
    free_agent(a);
}

const struct agent_ops agent_llm_ops = {
    "llm",       llm_open, llm_start, llm_turn,    llm_interrupt,
    llm_deliver, llm_tick, llm_close, llm_confirm, llm_withdraw,
};
