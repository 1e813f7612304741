#include "server/conversations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/llm.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/words.h"
#include "net/http_client.h"
#include "server/server_internal.h"
#include "server/stream_cloud.h"
#include "server/stream_listen.h"
#include "core/lang.h"
#include "store/agents.h"
#include "store/routes.h"
#include "flow/model.h"
#include "store/writer.h"
#include "voice/call_context.h"
#include "core/banned.h"

#define TURN_TEXT_MAX (16 * 1024)
/* Partial results longer than this are not speculated on (Twilio's are a sentence or two). */
#define PARTIAL_TEXT_MAX 2048
/* Speculative turns started per Gather at most: each one is a model request. */
#define SPECULATIONS_MAX 4

/* One call's LLM conversation on the Gather loop. */
struct conversation {
    struct conversation *next;
    struct server *srv;
    struct agent_link link; /* the hooks' argument */
    char call_sid[SID_SIZE];
    char from[PARTY_SIZE], to[PARTY_SIZE]; /* to rebuild the call's context when answering */
    char lang[36];
    int outbound; /* a call we placed: routed by From when its context is rebuilt */
    void *agent;
    struct buf text; /* the turn's words not yet answered */
    int ended;       /* the turn is over: answer with `text` and `action` */
    enum agent_action action;
    struct pending *waiting; /* the webhook waiting for the turn, or NULL */
    long long turn_ms;       /* when the waiting webhook came */
    long long used_ms;

    /* Partial results of the Gather in progress (reset by its final result). */
    char *spec;         /* the words the speculative turn runs on, or NULL */
    char *last_partial; /* the previous partial's words, or NULL */
    long last_seq;      /* its SequenceNumber (later ones only are taken) */
    int speculations;   /* speculative turns started for this Gather */
    int listening;      /* a Gather that asked for partials is listening (no turn runs) */
};

struct conversations {
    struct http_client *http;
    struct http_inbox *inbox;
    struct agent_env env;
    struct conversation *list;
};

static long long loop_ms(void)
{
    return clock_mono_ms();
}

static int net_submit(void *net, const struct http_request *req, uint64_t *id)
{
    return http_client_submit(net, req, id);
}

static int net_cancel(void *net, uint64_t id)
{
    return http_client_cancel(net, id);
}

/* Called on the client's thread after a delivery is queued. */
static void wake_loop(void *arg)
{
    struct server *srv = arg;

    if (srv->lws) /* none yet while starting, and then nothing is asked */
        lws_cancel_service(srv->lws);
}

/* ---- hooks the engine calls ---- */

static size_t hook_knowledge(void *arg, const char *query, char **out, size_t max)
{
    struct agent_link *l = arg;
    struct knowledge_passage *found = NULL;
    size_t n = 0, got = 0;

    if (knowledge_search(l->srv->store, l->tenant, l->agent, query, max, &found, &n) != 0)
        return 0;
    for (size_t i = 0; i < n && got < max; i++) {
        size_t len = strlen(found[i].heading) + strlen(found[i].text) + 4;
        char *p = malloc(len);

        if (!p)
            break;
        snprintf(p, len, "%s%s%s", found[i].heading, found[i].heading[0] ? ": " : "",
                 found[i].text);
        out[got++] = p;
    }
    free(found);
    return got;
}

static void hook_message(void *arg, const char *call_sid, const struct chat_tool_args *m)
{
    struct agent_link *l = arg;
    struct call_message msg;
    int rc = SB_ECLOSED;
    size_t n;

    memset(&msg, 0, sizeof(msg));
    snprintf(msg.call_sid, sizeof(msg.call_sid), "%s", call_sid);
    /* Names longer than the column are cut (CALLER_NAME_SIZE), never inside a character. */
    n = strlen(m->caller_name);
    if (n >= sizeof(msg.caller_name)) {
        n = sizeof(msg.caller_name) - 1;
        while (n > 0 && ((unsigned char)m->caller_name[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(msg.caller_name, m->caller_name, n);
    msg.caller_name[n] = '\0';
    snprintf(msg.callback_number, sizeof(msg.callback_number), "%s", m->callback_number);
    msg.message = (char *)m->message;
    if (l->srv->writer)
        rc = writer_submit_message(l->srv->writer, &msg, NULL, NULL);
    /* The log line names no number and no message: they are the caller's. */
    log_event(rc ? LOG_ERROR : LOG_INFO, "agent.message_taken", "call_sid=%s tenant=%s stored=%s",
              call_sid, l->tenant, rc ? sb_strerror(rc) : "queued");
    metrics_agent_event(&l->srv->metrics, "message_taken");
}

/* The transcript: each caller turn, reply, tool call and event, through the writer. */
static void hook_record(void *arg, const struct llm_record *r)
{
    static const enum turn_role roles[] = {
        [LLM_REC_CALLER] = TURN_CALLER,
        [LLM_REC_AGENT] = TURN_AGENT,
        [LLM_REC_TOOL] = TURN_TOOL,
        [LLM_REC_EVENT] = TURN_EVENT,
    };
    struct agent_link *l = arg;
    struct call_turn t;
    char event[512];
    int rc;

    if (r->kind == LLM_REC_EVENT)
        metrics_agent_event(&l->srv->metrics, r->event);
    if (!l->srv->writer || !r->call_sid)
        return;
    memset(&t, 0, sizeof(t));
    snprintf(t.call_sid, sizeof(t.call_sid), "%s", r->call_sid);
    t.role = roles[r->kind];
    t.latency_ms = r->latency_ms;
    if (r->kind == LLM_REC_TOOL) {
        snprintf(t.tool, sizeof(t.tool), "%s", r->tool ? r->tool : "");
        t.tool_args = (char *)r->arguments;
        t.tool_result = (char *)r->text;
    } else if (r->kind == LLM_REC_EVENT) {
        snprintf(event, sizeof(event), "%s: %s", r->event ? r->event : "event",
                 r->text ? r->text : "");
        t.text = event;
    } else {
        t.text = (char *)r->text;
        t.interrupted = r->interrupted;
        t.heard = (char *)r->heard;
    }
    rc = writer_submit_turn(l->srv->writer, &t, NULL, NULL);
    if (rc)
        log_event(LOG_ERROR, "agent.transcript_failed", "call_sid=%s error=\"writer: %s\"",
                  r->call_sid, sb_strerror(rc));
}

/*
 * What the business_hours tool answers: the opening hours of the number's
 * IVR flow (its first hours node), in words the model can read out; "" when
 * the number has no flow with hours.
 */
static void hours_text(const struct server *srv, const struct route *r, char *out, size_t size)
{
    static const char *const days[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};
    const struct flow *f =
        r->number.flow[0] ? flow_cache_find(&srv->routing->flows, r->tenant->name, r->number.flow)
                          : NULL;
    const struct flow_node *h = NULL;
    size_t pos;

    out[0] = '\0';
    for (int i = 0; f && i < f->nnodes && !h; i++) {
        if (f->nodes[i].type == NODE_HOURS)
            h = &f->nodes[i];
    }
    if (!h)
        return;
    pos = (size_t)snprintf(out, size, "Times are in %s.", r->tenant->timezone);
    for (int d = 0; d < 7 && pos < size; d++) {
        pos += (size_t)snprintf(out + pos, size - pos, " %s: %s", days[d],
                                h->nranges[d] ? "" : "closed.");
        for (int k = 0; k < h->nranges[d] && pos < size; k++)
            pos += (size_t)snprintf(out + pos, size - pos, "%s%02d:%02d to %02d:%02d%s",
                                    k ? ", " : "", h->week[d][k].start / 60,
                                    h->week[d][k].start % 60, h->week[d][k].end / 60,
                                    h->week[d][k].end % 60, k + 1 == h->nranges[d] ? "." : "");
    }
    if (h->nholidays && pos < size)
        snprintf(out + pos, size - pos, " Closed on %d holidays a year.", h->nholidays);
}

int conversations_llm(struct server *srv, const struct route *route, struct agent_link *link,
                      struct llm_settings *s)
{
    return conversations_llm_named(srv, route, route->number.agent, link, s);
}

int conversations_llm_named(struct server *srv, const struct route *route, const char *agent,
                            struct agent_link *link, struct llm_settings *s)
{
    const struct agent_entry *a =
        srv->convs ? routing_agent(srv->routing, route->tenant->name, agent) : NULL;

    if (!a || !a->usable)
        return SB_ENOTFOUND;
    link->srv = srv;
    snprintf(link->tenant, sizeof(link->tenant), "%s", a->cfg.tenant);
    snprintf(link->agent, sizeof(link->agent), "%s", a->cfg.name);
    memset(s, 0, sizeof(*s));
    s->base_url = a->cfg.base_url;
    s->model = a->cfg.model;
    s->api_key = a->api_key;
    s->persona = a->cfg.prompt;
    s->temperature = a->cfg.temperature;
    s->max_tokens = a->cfg.max_tokens > 0 ? (unsigned)a->cfg.max_tokens : 0;
    s->first_token_timeout_ms = a->cfg.first_token_timeout_ms;
    s->fallback =
        a->cfg.fallback == AGENT_FALLBACK_TRANSFER ? LLM_FALLBACK_TRANSFER : LLM_FALLBACK_RULES;
    s->hooks.knowledge = hook_knowledge;
    s->hooks.take_message = hook_message;
    s->hooks.record = hook_record;
    s->hooks.arg = link;
    hours_text(srv, route, link->hours, sizeof(link->hours));
    s->business_hours = link->hours;
    return 0;
}

/* The key an agent's engine reads from `var` ("" for none); NULL with a log line when unset. */
static const char *engine_key(const struct agent_entry *a, const char *var, const char *what)
{
    const char *key = var[0] ? getenv(var) : "";

    if (!key)
        log_event(LOG_ERROR, "agents.key_missing",
                  "tenant=%s agent=%s variable=%s reason=\"the environment variable is not set; "
                  "the call uses the offline %s\"",
                  a->cfg.tenant, a->cfg.name, var, what);
    return key;
}

/* The recogniser of an agent (whisper-api or deepgram): 1 when it has one of its own. */
static int speech_stt(const struct agent_entry *a, struct stream_speech *out)
{
    int deepgram = strcmp(a->cfg.stt, "deepgram") == 0;
    const char *key;

    if (!deepgram && strcmp(a->cfg.stt, "whisper-api") != 0)
        return 0;
    key = engine_key(a, a->cfg.stt_key_env, "recogniser");
    if (!key)
        return 0;
    out->stt_deepgram = deepgram;
    snprintf(out->stt.url, sizeof(out->stt.url), "%s",
             a->cfg.stt_url[0] ? a->cfg.stt_url
             : deepgram        ? "wss://api.deepgram.com"
                               : "https://api.openai.com/v1");
    snprintf(out->stt.model, sizeof(out->stt.model), "%s", a->cfg.stt_model);
    snprintf(out->stt.key, sizeof(out->stt.key), "%s", key);
    return 1;
}

/* The cloud voice of an agent (elevenlabs, cartesia, openai): 1 when it has one. */
static int speech_tts(const struct agent_entry *a, const char *lang, struct stream_speech *out)
{
    const char *key;
    int best = -1;

    if (strcmp(a->cfg.tts, "elevenlabs") != 0 && strcmp(a->cfg.tts, "cartesia") != 0 &&
        strcmp(a->cfg.tts, "openai") != 0)
        return 0; /* "", espeak, flite: the offline voice */
    key = engine_key(a, a->cfg.tts_key_env, "voice");
    if (!key)
        return 0;
    snprintf(out->tts, sizeof(out->tts), "%s", a->cfg.tts);
    snprintf(out->tts_url, sizeof(out->tts_url), "%s", a->cfg.tts_url);
    snprintf(out->tts_key, sizeof(out->tts_key), "%s", key);
    /* The voice of the call's language, else of its base language ("es" for "es-MX"). */
    for (int i = 0; i < a->cfg.nvoices; i++) {
        if (lang_same(a->cfg.voices[i].lang, lang)) {
            best = i;
            break;
        }
        if (best < 0 && lang_same_base(a->cfg.voices[i].lang, lang))
            best = i;
    }
    if (best >= 0)
        snprintf(out->tts_voice, sizeof(out->tts_voice), "%s", a->cfg.voices[best].voice);
    return 1;
}

int conversations_speech(struct server *srv, const struct route *route, const char *agent,
                         const char *lang, struct stream_speech *out)
{
    const struct agent_entry *a =
        srv->convs ? routing_agent(srv->routing, route->tenant->name, agent) : NULL;
    int own;

    memset(out, 0, sizeof(*out));
    if (!a)
        return 0;
    own = speech_stt(a, out);
    own |= speech_tts(a, lang ? lang : "", out);
    return own;
}

struct http_client *conversations_http(struct server *srv)
{
    return srv->convs ? srv->convs->http : NULL;
}

const struct agent_env *conversations_env(struct server *srv)
{
    return srv->convs ? &srv->convs->env : NULL;
}

/* ---- answering the waiting webhook ---- */

/* The call's context for its TwiML, rebuilt from what the first webhook said. */
static int context_of(struct conversation *c, struct call_context *cc)
{
    struct form f = FORM_INIT;
    const char *missing = NULL;
    int rc = form_add(&f, "CallSid", c->call_sid);

    if (rc == 0)
        rc = form_add(&f, "From", c->from);
    if (rc == 0)
        rc = form_add(&f, "To", c->to);
    if (rc == 0 && c->outbound)
        rc = form_add(&f, "Direction", "outbound-api");
    if (rc == 0)
        rc = call_context_init(cc, &c->srv->routing->routes, &f, &missing);
    form_release(&f);
    if (rc == 0 && !cc->route)
        rc = SB_ENOTFOUND;
    /* The form is gone: point at the conversation's own copies. */
    cc->call_sid = c->call_sid;
    cc->from = c->from;
    cc->to = c->to;
    cc->lang = c->lang;
    return rc;
}

/* Answers the waiting webhook: the turn's end, or (`hold`) what is ready and a redirect. */
static void answer(struct conversation *c, int hold, const char *filler)
{
    struct call_context cc;
    struct reply r = REPLY_INIT;
    struct pending *p = c->waiting;

    if (!p)
        return;
    c->waiting = NULL;
    if (context_of(c, &cc) != 0) {
        voice_apology(&r);
    } else if (hold) {
        voice_gather_hold(&cc, c->text.len ? c->text.data : filler, GATHER_CONTINUE_PATH, &r);
        buf_reset(&c->text);
    } else {
        cc.partial_results = 1;
        voice_gather_answer(&cc, c->action, c->text.len ? c->text.data : "", &r);
        buf_reset(&c->text);
        c->ended = 0;
        /* Its partials may come now (a Gather follows only when the call goes on). */
        c->listening = c->action == AGENT_CONTINUE;
    }
    server_complete(p, &r);
}

static void on_event(void *arg, const struct agent_event *ev)
{
    struct conversation *c = arg;

    switch (ev->kind) {
    case AGENT_EV_TEXT:
        if ((c->text.len && buf_putc(&c->text, ' ') != 0) || buf_puts(&c->text, ev->text) != 0)
            log_event(LOG_WARN, "agent.reply_cut", "call_sid=%s", c->call_sid);
        break;
    case AGENT_EV_FILLER:
        /* Nothing to say yet and Twilio waiting: the filler, then come back for the rest. */
        if (c->waiting && !c->text.len)
            answer(c, 1, ev->text);
        break;
    case AGENT_EV_LANG:
        snprintf(c->lang, sizeof(c->lang), "%s", ev->text ? ev->text : c->lang);
        break;
    case AGENT_EV_END:
        c->ended = 1;
        c->action = ev->action;
        answer(c, 0, NULL);
        break;
    }
}

/* ---- conversations ---- */

/*
 * Which agent answers the call: the one a flow's agent node named on the
 * Gather's URL (?agent=NAME), else the one its conversation already has,
 * else the number's.
 */
static const char *agent_of_call(const struct call_context *cc, const struct conversation *c,
                                 const char *named)
{
    if (named && *named)
        return named;
    if (c)
        return c->link.agent;
    return cc->route->number.agent;
}

static struct conversation *find(struct conversations *cv, const char *call_sid)
{
    for (struct conversation *c = cv->list; c; c = c->next) {
        if (strcmp(c->call_sid, call_sid) == 0)
            return c;
    }
    return NULL;
}

static void conversation_free(struct conversations *cv, struct conversation *c)
{
    struct conversation **pp = &cv->list;

    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp)
        *pp = c->next;
    if (c->waiting) {
        struct reply r = REPLY_INIT;

        voice_apology(&r);
        server_complete(c->waiting, &r);
        c->waiting = NULL;
    }
    if (c->agent)
        agent_llm_ops.close(c->agent);
    buf_release(&c->text);
    free(c->spec);
    free(c->last_partial);
    free(c);
}

/* The Gather is over (its final result came): the next one starts afresh. */
static void partials_reset(struct conversation *c)
{
    free(c->spec);
    free(c->last_partial);
    c->spec = NULL;
    c->last_partial = NULL;
    c->last_seq = 0;
    c->speculations = 0;
}

/*
 * The final result of a Gather on which a speculative turn runs: the turn
 * becomes the real one when the words are the same, else it is withdrawn.
 * Returns 1 when it was confirmed (its events are flowing to `c`).
 */
static int speculation_settle(struct conversation *c, const char *speech, const char *digits)
{
    struct metrics *m = &c->srv->metrics;
    int same = c->spec && !(digits && *digits) && words_same(c->spec, speech);

    c->listening = 0;
    if (!c->spec) {
        partials_reset(c);
        return 0;
    }
    if (same) {
        /* Not running after all (it could not start): a normal turn then. */
        same = agent_llm_ops.confirm(c->agent);
        if (same)
            metrics_agent_event(m, "speculation_used");
    } else {
        metrics_agent_event(m, "speculation_withdrawn");
        agent_llm_ops.withdraw(c->agent);
    }
    partials_reset(c);
    return same;
}

static struct conversation *conversation_new(struct server *srv, const struct call_context *cc,
                                             const char *agent)
{
    struct conversations *cv = srv->convs;
    struct conversation *c = calloc(1, sizeof(*c));
    struct llm_settings s;
    struct agent_call call;
    struct agent_sink sink;

    if (!c)
        return NULL;
    c->srv = srv;
    snprintf(c->call_sid, sizeof(c->call_sid), "%s", cc->call_sid);
    snprintf(c->from, sizeof(c->from), "%s", cc->from ? cc->from : "");
    snprintf(c->to, sizeof(c->to), "%s", cc->to ? cc->to : "");
    snprintf(c->lang, sizeof(c->lang), "%s", cc->lang ? cc->lang : "en-US");
    c->outbound = cc->outbound;
    buf_init(&c->text, TURN_TEXT_MAX);
    if (conversations_llm_named(srv, cc->route, agent, &c->link, &s)) {
        buf_release(&c->text);
        free(c);
        return NULL;
    }
    memset(&call, 0, sizeof(call));
    call.call_sid = c->call_sid;
    call.tenant_name = cc->route->tenant->name;
    call.lang = c->lang;
    call.can_transfer = cc->route->tenant->transfer_number[0] != '\0';
    call.llm = &s;
    sink.emit = on_event;
    sink.arg = c;
    if (agent_llm_ops.open(&c->agent, &call, &sink, &cv->env) != 0) {
        buf_release(&c->text);
        free(c);
        return NULL;
    }
    c->next = cv->list;
    cv->list = c;
    return c;
}

int conversations_gather(struct http_session *sess, const char *agent, const struct routes *routes,
                         const struct form *params, int continuation)
{
    struct server *srv = sess->srv;
    struct conversations *cv = srv->convs;
    const struct agent_entry *a;
    struct call_context cc;
    struct conversation *c;
    struct agent_turn turn;
    struct pending *p;
    const char *missing = NULL, *name;

    if (!cv || call_context_init(&cc, routes, params, &missing) != 0 || !cc.route)
        return 0;
    c = find(cv, cc.call_sid);
    name = agent_of_call(&cc, c, agent);
    a = routing_agent(srv->routing, cc.route->tenant->name, name);
    if (!a || !a->usable) {
        if (!c)
            return 0;
        /* The agent went away mid-call: the rule agent goes on. */
        conversation_free(cv, c);
        return 0;
    }
    if (!c && !(c = conversation_new(srv, &cc, name))) {
        voice_apology(&sess->reply);
        sess->reply_ready = 1;
        return 1;
    }
    c->used_ms = loop_ms();
    p = server_pending_new(sess);
    if (!p) {
        voice_apology(&sess->reply);
        sess->reply_ready = 1;
        return 1;
    }
    if (c->waiting) {
        /* A retried webhook while the first still waits: the newest gets the answer. */
        struct reply r = REPLY_INIT;

        voice_apology(&r);
        server_complete(c->waiting, &r);
    }
    c->waiting = p;
    c->turn_ms = c->used_ms;
    sess->pending = p;
    if (continuation) {
        /* The rest of a held turn: answered now if it is over, else when it ends. */
        if (c->ended)
            answer(c, 0, NULL);
        return 1;
    }
    buf_reset(&c->text);
    c->ended = 0;
    if (speculation_settle(c, form_get(params, "SpeechResult"), form_get(params, "Digits")))
        return 1; /* answered now, or when the rest of the reply comes */
    memset(&turn, 0, sizeof(turn));
    turn.lang = c->lang;
    turn.speech = form_get(params, "SpeechResult");
    turn.digits = form_get(params, "Digits");
    turn.tenant_name = cc.route->tenant->name;
    turn.can_transfer = cc.route->tenant->transfer_number[0] != '\0';
    agent_llm_ops.turn(c->agent, &turn);
    return 1;
}

/* A partial's words: StableSpeechResult then UnstableSpeechResult, trimmed. NULL: none or too long.
 */
static char *partial_words(const struct form *params, int *settled)
{
    const char *stable = form_get(params, "StableSpeechResult");
    const char *unstable = form_get(params, "UnstableSpeechResult");
    struct buf b;

    stable = stable ? stable : "";
    unstable = unstable ? unstable : "";
    while (*unstable == ' ')
        unstable++;
    *settled = *unstable == '\0';
    buf_init(&b, PARTIAL_TEXT_MAX);
    if (buf_puts(&b, stable) != 0 || (*unstable && b.len && buf_putc(&b, ' ') != 0) ||
        buf_puts(&b, unstable) != 0 || words_same(buf_cstr(&b), NULL)) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

int conversations_speculates(void *arg, const struct route *route)
{
    struct server *srv = arg;
    const struct agent_entry *a =
        srv->convs ? routing_agent(srv->routing, route->tenant->name, route->number.agent) : NULL;

    return a && a->usable;
}

void conversations_partial(struct server *srv, const char *agent, const struct routes *routes,
                           const struct form *params)
{
    struct conversations *cv = srv->convs;
    const char *name;
    const char *seq_text = form_get(params, "SequenceNumber");
    const struct agent_entry *a;
    struct call_context cc;
    struct conversation *c;
    struct agent_turn turn;
    const char *missing = NULL;
    char *words, *end = NULL;
    long seq = 0;
    int settled = 0, again;

    if (!cv || call_context_init(&cc, routes, params, &missing) != 0 || !cc.route)
        return;
    c = find(cv, cc.call_sid);
    name = agent_of_call(&cc, c, agent);
    a = routing_agent(srv->routing, cc.route->tenant->name, name);
    if (!a || !a->usable)
        return;
    if (seq_text && *seq_text) {
        seq = strtol(seq_text, &end, 10);
        if (*end || seq <= 0)
            return;
    }
    if (!c) {
        /* The call's first Gather (the answer to /voice/incoming) is listening. */
        c = conversation_new(srv, &cc, name);
        if (!c)
            return;
        c->listening = 1;
    }
    c->used_ms = loop_ms();
    /*
     * A turn being answered or held (a late partial of its Gather must not
     * start another), or a partial overtaken by a later one: nothing to start.
     */
    if (!c->listening || c->waiting || (seq && seq <= c->last_seq))
        return;
    if (seq)
        c->last_seq = seq;
    words = partial_words(params, &settled);
    if (!words)
        return;
    /* Stable: nothing unstable is left, or the caller paused (the same words twice). */
    again = c->last_partial && words_same(c->last_partial, words);
    free(c->last_partial);
    c->last_partial = words;
    if ((!settled && !again) || (c->spec && words_same(c->spec, words)) ||
        c->speculations >= SPECULATIONS_MAX)
        return;
    if (c->spec) {
        agent_llm_ops.withdraw(c->agent);
        metrics_agent_event(&srv->metrics, "speculation_withdrawn");
        free(c->spec);
    }
    c->spec = strdup(words);
    if (!c->spec)
        return;
    c->speculations++;
    buf_reset(&c->text);
    c->ended = 0;
    metrics_agent_event(&srv->metrics, "speculation_started");
    memset(&turn, 0, sizeof(turn));
    turn.lang = c->lang;
    turn.speech = c->spec;
    turn.tenant_name = cc.route->tenant->name;
    turn.can_transfer = cc.route->tenant->transfer_number[0] != '\0';
    turn.speculative = 1;
    agent_llm_ops.turn(c->agent, &turn);
}

void conversations_forget(struct server *srv, const char *call_sid)
{
    struct conversations *cv = srv->convs;
    struct conversation *c = cv && call_sid ? find(cv, call_sid) : NULL;

    if (c)
        conversation_free(cv, c);
}

void conversations_drain(struct server *srv)
{
    struct conversations *cv = srv->convs;
    struct http_delivery *d;

    if (!cv)
        return;
    d = http_inbox_take(cv->inbox);
    while (d) {
        struct http_delivery *next = d->next;

        agent_deliver(d);
        d = next;
    }
}

void conversations_tick(struct server *srv)
{
    struct conversations *cv = srv->convs;
    long long now = loop_ms();
    struct conversation *c, *next;

    if (!cv)
        return;
    for (c = cv->list; c; c = next) {
        next = c->next;
        agent_llm_ops.tick(c->agent, now);
        /* Twilio gives a webhook 15 s: hold the turn well before that. */
        if (c->waiting && now - c->turn_ms >= CONVERSATION_HOLD_MS)
            answer(c, 1,
                   lang_base(c->lang)[0] == 'e' && lang_base(c->lang)[1] == 's'
                       ? "Un momento, por favor."
                       : "One moment, please.");
        else if (!c->waiting && now - c->used_ms >= CONVERSATION_IDLE_MS)
            conversation_free(cv, c);
    }
}

int conversations_init(struct server *srv)
{
    /* Every call can be waiting on its model at once; more wait in the queue. */
    struct http_client_config net = {CONVERSATION_MAX_REQUESTS, 4096};
    struct conversations *cv = calloc(1, sizeof(*cv));
    int rc;

    if (!cv)
        return SB_ENOMEM;
    rc = http_inbox_new(&cv->inbox, wake_loop, srv);
    if (rc == 0)
        rc = http_client_new(&cv->http, &net);
    if (rc) {
        http_inbox_free(cv->inbox);
        free(cv);
        return rc;
    }
    cv->env.now_ms = loop_ms;
    cv->env.submit = net_submit;
    cv->env.cancel = net_cancel;
    cv->env.net = cv->http;
    cv->env.inbox = cv->inbox;
    srv->convs = cv;
    return 0;
}

void conversations_release(struct server *srv)
{
    struct conversations *cv = srv->convs;
    struct http_delivery *d;

    if (!cv)
        return;
    while (cv->list)
        conversation_free(cv, cv->list);
    /* Every request is cancelled and reported; the agents waiting for that are freed here. */
    http_client_free(cv->http);
    while ((d = http_inbox_take(cv->inbox))) {
        while (d) {
            struct http_delivery *next = d->next;

            agent_deliver(d);
            d = next;
        }
    }
    http_inbox_free(cv->inbox);
    free(cv);
    srv->convs = NULL;
}
