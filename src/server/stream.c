/*
 * Media Streams over libwebsockets. Each socket owns a media session
 * (media/session.c); this file is the I/O around it: the upgrade check, the
 * fragment assembly of inbound messages, the bounded queue of outbound ones,
 * the pacing times, text-to-speech on the worker pool, the lifecycle record,
 * and the table of outcomes that /voice/stream-ended reads.
 *
 * Binding and limits: a start message must carry the token of its CallSid
 * (core/stream_token), and a stream must start within
 * cfg->stream_start_timeout_s of the upgrade and then hear from the caller at
 * least every cfg->stream_idle_timeout_s. The deadlines are checked when the
 * loop clock fires (it is armed for the earliest); a message only notes its
 * time, so a frame costs no timer update and no system call.
 */
#include "server/stream.h"
#include "server/stream_cloud.h"
#include "server/stream_listen.h"
#include "store/agents.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/err.h"
#include "core/log.h"
#include "core/phone.h"
#include "core/redact.h"
#include "core/stream_token.h"
#include "agent/llm.h"
#include "media/session.h"
#include "server/conversations.h"
#include "net/ws_queue.h"
#include "server/loop_clock.h"
#include "server/server_internal.h"
#include "server/workers.h"
#include "speech/tts.h"
#include "voice/persona.h"
#include "core/banned.h"

/* Outbound messages queued on one socket at most: a reader that stops reading is cut off. */
#define STREAM_MAX_QUEUED 1024
/* A stream asked to close is killed if its closing handshake has not ended by then. */
#define CLOSE_GRACE_S 10
/* Outcomes remembered for the <Connect action> request (it follows within seconds). */
#define OUTCOME_SLOTS 4096
#define OUTCOME_TTL_MS (10 * 60 * 1000)

struct stream_conn {
    struct stream_conn *next;
    unsigned long long id;
    struct lws *wsi;
    struct server *srv;
    struct session session;
    struct buf rx;
    struct ws_queue out;
    int closing;
    int dead; /* a direct write failed: the socket is being killed */
    int close_code;
    char close_reason[96];
    long long due_us; /* when pacing sends next (clock_mono_us); 0: nothing queued */
    long long opened_wall_ms;
    long long opened_us;  /* clock_mono_us at the upgrade: the start deadline counts from it */
    long long last_rx_us; /* the last whole message from the caller: the idle deadline */
    int started;          /* the start message was accepted */
    int registered;       /* in the group's live streams (live_register) */
    char transfer[E164_SIZE];
    int llm;                       /* the agent is an LLM agent: it records its own transcript */
    struct stream_speech speech;   /* the agent's own engines (stream_cloud.h); keys inside */
    struct stream_cloud *cloud;    /* its cloud engines, NULL for none */
    struct stream_phrases phrases; /* its tenant's flow keywords, for the grammar */
    struct agent_link link;        /* its hooks' argument */
};

/* A synthesis job: runs on a worker, comes back to the loop by connection id. */
struct tts_job {
    struct tts_job *next;
    struct server *srv;
    unsigned long long conn_id;
    unsigned utterance;
    char *text;
    char lang[16];
    char voice[64];
    unsigned char *audio;
    size_t len;
    int rc;
    char err[128];
};

/*
 * Recently synthesized phrases (greetings, prompts), reused so that the
 * first words of a call go out without waiting for the synthesizer.
 */
#define TTS_CACHE_SLOTS 32
#define TTS_CACHE_MAX_TEXT 600

struct tts_cache_slot {
    char *text;
    char lang[16];
    unsigned char *audio;
    size_t len;
    unsigned long long used;
};

struct outcome_slot {
    char call_sid[SID_SIZE];
    enum voice_stream_outcome outcome;
    long long at_ms;
};

static struct stream_conn *conn_by_id(struct server *srv, unsigned long long id)
{
    for (struct stream_conn *c = srv->streams; c; c = c->next) {
        if (c->id == id)
            return c;
    }
    return NULL;
}

/* --- outcomes -------------------------------------------------------------- */

/*
 * The table is the process's: the stream ends on the loop that accepted it,
 * the call's next webhook may reach another (the group's lock).
 */
static void outcome_remember(struct server *srv, const char *call_sid,
                             enum voice_stream_outcome outcome)
{
    struct server_group *g = srv->group;
    struct outcome_slot *slots;
    size_t i, oldest = 0;

    pthread_mutex_lock(&g->lock);
    slots = g->outcomes;
    if (!slots) {
        slots = calloc(OUTCOME_SLOTS, sizeof(*slots));
        if (!slots) {
            pthread_mutex_unlock(&g->lock);
            return;
        }
        g->outcomes = slots;
    }
    for (i = 0; i < OUTCOME_SLOTS; i++) {
        if (strcmp(slots[i].call_sid, call_sid) == 0 || !slots[i].call_sid[0])
            break;
        if (slots[i].at_ms < slots[oldest].at_ms)
            oldest = i;
    }
    if (i == OUTCOME_SLOTS)
        i = oldest;
    snprintf(slots[i].call_sid, sizeof(slots[i].call_sid), "%s", call_sid);
    slots[i].outcome = outcome;
    slots[i].at_ms = clock_wall_ms();
    pthread_mutex_unlock(&g->lock);
}

int stream_outcome_lookup(void *arg, const char *call_sid, struct voice_stream_end *out)
{
    struct server *srv = arg;
    struct server_group *g = srv->group;
    long long now = clock_wall_ms();
    int rc = SB_ENOTFOUND;

    out->outcome = VOICE_STREAM_UNKNOWN;
    if (!call_sid)
        return SB_ENOTFOUND;
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; g->outcomes && i < OUTCOME_SLOTS; i++) {
        if (strcmp(g->outcomes[i].call_sid, call_sid) == 0 &&
            now - g->outcomes[i].at_ms < OUTCOME_TTL_MS) {
            out->outcome = g->outcomes[i].outcome;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&g->lock);
    return rc;
}

void stream_outcomes_release(struct server_group *g)
{
    free(g->outcomes);
    g->outcomes = NULL;
}

/* --- the session's io ------------------------------------------------------ */

/*
 * The process's live streams by call, every loop's (the group's lock): a
 * call's second stream may reach another loop than its first, which must
 * still be refused without the token, or else replace the first.
 */
struct live_stream {
    struct live_stream *next;
    char call_sid[SID_SIZE];
    struct server *loop;
    unsigned long long id;
};

/* A stream another loop's newer stream of the same call replaces (server->replaced). */
struct stream_replace {
    struct stream_replace *next;
    unsigned long long id;
};

static void replace_post(struct server *loop, unsigned long long id)
{
    struct stream_replace *r = calloc(1, sizeof(*r));

    if (!r)
        return; /* it stays until its own call ends it */
    r->id = id;
    pthread_mutex_lock(&loop->done_lock);
    r->next = loop->replaced;
    loop->replaced = r;
    pthread_mutex_unlock(&loop->done_lock);
    lws_cancel_service(loop->lws);
}

/* `c` is its call's live stream now: the call's streams on other loops are replaced. */
static void live_register(struct stream_conn *c)
{
    struct server_group *g = c->srv->group;
    struct live_stream *n = calloc(1, sizeof(*n));

    pthread_mutex_lock(&g->lock);
    for (struct live_stream *l = g->live_streams; l; l = l->next) {
        if (l->loop != c->srv && strcmp(l->call_sid, c->session.call_sid) == 0)
            replace_post(l->loop, l->id);
    }
    if (n) {
        snprintf(n->call_sid, sizeof(n->call_sid), "%s", c->session.call_sid);
        n->loop = c->srv;
        n->id = c->id;
        n->next = g->live_streams;
        g->live_streams = n;
        c->registered = 1;
    }
    pthread_mutex_unlock(&g->lock);
}

static void live_unregister(struct stream_conn *c)
{
    struct server_group *g = c->srv->group;

    if (!c->registered)
        return;
    c->registered = 0;
    pthread_mutex_lock(&g->lock);
    for (struct live_stream **pp = &g->live_streams; *pp; pp = &(*pp)->next) {
        if ((*pp)->loop == c->srv && (*pp)->id == c->id) {
            struct live_stream *gone = *pp;

            *pp = gone->next;
            free(gone);
            break;
        }
    }
    pthread_mutex_unlock(&g->lock);
}

/* True when another stream of the same call is open and started, on any loop. */
static int call_has_live_stream(const struct stream_conn *c, const char *call_sid)
{
    struct server_group *g = c->srv->group;
    int live = 0;

    pthread_mutex_lock(&g->lock);
    for (const struct live_stream *l = g->live_streams; l && !live; l = l->next)
        live = !(l->loop == c->srv && l->id == c->id) && strcmp(l->call_sid, call_sid) == 0;
    pthread_mutex_unlock(&g->lock);
    return live;
}

void stream_take_replacements(struct server *srv)
{
    struct stream_replace *list;

    pthread_mutex_lock(&srv->done_lock);
    list = srv->replaced;
    srv->replaced = NULL;
    pthread_mutex_unlock(&srv->done_lock);
    while (list) {
        struct stream_replace *r = list;
        struct stream_conn *c = conn_by_id(srv, r->id);

        list = r->next;
        if (c && !c->closing)
            session_end(&c->session, SESSION_REPLACED, 1000, "replaced by a newer stream");
        free(r);
    }
}

void stream_live_release(struct server_group *g)
{
    while (g->live_streams) {
        struct live_stream *l = g->live_streams;

        g->live_streams = l->next;
        free(l);
    }
}

static enum voice_stream_outcome outcome_for_voice(enum session_outcome o)
{
    switch (o) {
    case SESSION_TRANSFER:
        return VOICE_STREAM_TRANSFER;
    case SESSION_HANGUP:
        return VOICE_STREAM_HANGUP;
    case SESSION_STOPPED:
        return VOICE_STREAM_STOPPED;
    default:
        return VOICE_STREAM_UNKNOWN;
    }
}

/*
 * Writes a message at once when nothing is queued before it: waiting for a
 * writable callback costs every frame a second trip round the loop. What the
 * kernel does not take, lws keeps and sends first; while it holds some, the
 * message waits its turn (asking the socket with lws_send_pipe_choked would
 * cost a poll() per frame). Returns 1 when written (or dropped with a dead
 * socket), 0 when it must be queued.
 */
static int send_now(struct stream_conn *c, const char *text, size_t len)
{
    int rc;

    /* After a failed write nothing more goes out: lws is closing the socket. */
    if (c->dead)
        return 1;
    if (c->closing)
        return 0;
    rc = ws_queue_send_now(&c->out, c->wsi, text, len);
    if (rc < 0) {
        /* The caller hung up: lws closes the socket soon, and on_closed records it. */
        c->dead = 1;
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    return rc != 0;
}

static int io_send(void *arg, const char *text, size_t len)
{
    struct stream_conn *c = arg;
    int rc;

    if (send_now(c, text, len))
        return 0;
    rc = ws_queue_push(&c->out, text, len);
    if (rc)
        return rc;
    lws_callback_on_writable(c->wsi);
    return 0;
}

static void io_close(void *arg, int code, const char *reason)
{
    struct stream_conn *c = arg;

    if (c->closing)
        return;
    /*
     * Remember the outcome now, not when the socket is gone: Twilio requests
     * the <Connect action> as soon as it sees the close, possibly before the
     * closing handshake ends here.
     */
    if (c->session.call_sid[0] && c->session.outcome != SESSION_REPLACED)
        outcome_remember(c->srv, c->session.call_sid, outcome_for_voice(c->session.outcome));
    live_unregister(c);
    c->closing = 1;
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
    lws_callback_on_writable(c->wsi);
    /* A peer that never lets the close out (it stopped reading) does not keep the socket. */
    if (!c->dead)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_GRACE_S);
}

static void tts_run(void *arg)
{
    struct tts_job *j = arg;

    j->rc = tts_synth_mulaw(&j->srv->tts, j->text, j->lang, j->voice, &j->audio, &j->len, j->err,
                            sizeof(j->err));
}

static void tts_done(void *arg)
{
    struct tts_job *j = arg;
    struct server *srv = j->srv;

    pthread_mutex_lock(&srv->done_lock);
    j->next = srv->tts_done;
    srv->tts_done = j;
    pthread_mutex_unlock(&srv->done_lock);
    lws_cancel_service(srv->lws);
}

static void tts_job_free(struct tts_job *j)
{
    free(j->text);
    free(j->audio);
    free(j);
}

/* The process's cache (every loop's streams say the same greetings): the group's lock held. */
static struct tts_cache_slot *cache_find(struct server_group *g, const char *text, const char *lang)
{
    struct tts_cache_slot *slots = g->tts_cache;

    for (size_t i = 0; slots && i < TTS_CACHE_SLOTS; i++) {
        if (slots[i].text && strcmp(slots[i].text, text) == 0 && strcmp(slots[i].lang, lang) == 0) {
            slots[i].used = ++g->tts_cache_clock;
            return &slots[i];
        }
    }
    return NULL;
}

/* A copy of a cached synthesis, or NULL (not cached, or out of memory). */
static unsigned char *cache_copy(struct server_group *g, const char *text, const char *lang,
                                 size_t *len)
{
    struct tts_cache_slot *hit;
    unsigned char *copy = NULL;

    pthread_mutex_lock(&g->lock);
    hit = cache_find(g, text, lang);
    if (hit && (copy = malloc(hit->len)) != NULL) {
        memcpy(copy, hit->audio, hit->len);
        *len = hit->len;
    }
    pthread_mutex_unlock(&g->lock);
    return copy;
}

/* Keeps a copy of a finished synthesis, evicting the least recently used. */
static void cache_store(struct server_group *g, const struct tts_job *j)
{
    struct tts_cache_slot *slots, *victim;
    unsigned char *audio;
    char *text;

    if (strlen(j->text) > TTS_CACHE_MAX_TEXT)
        return;
    text = strdup(j->text);
    audio = malloc(j->len);
    if (!text || !audio) {
        free(text);
        free(audio);
        return;
    }
    memcpy(audio, j->audio, j->len);
    pthread_mutex_lock(&g->lock);
    if (!g->tts_cache)
        g->tts_cache = calloc(TTS_CACHE_SLOTS, sizeof(*g->tts_cache));
    slots = g->tts_cache;
    /* Out of memory, or another loop's stream cached the phrase meanwhile. */
    if (!slots || cache_find(g, j->text, j->lang)) {
        pthread_mutex_unlock(&g->lock);
        free(text);
        free(audio);
        return;
    }
    victim = &slots[0];
    for (size_t i = 1; i < TTS_CACHE_SLOTS; i++) {
        if (slots[i].used < victim->used)
            victim = &slots[i];
    }
    free(victim->text);
    free(victim->audio);
    victim->text = text;
    victim->audio = audio;
    victim->len = j->len;
    snprintf(victim->lang, sizeof(victim->lang), "%s", j->lang);
    victim->used = ++g->tts_cache_clock;
    pthread_mutex_unlock(&g->lock);
}

void stream_tts_cache_release(struct server_group *g)
{
    struct tts_cache_slot *slots = g->tts_cache;

    for (size_t i = 0; slots && i < TTS_CACHE_SLOTS; i++) {
        free(slots[i].text);
        free(slots[i].audio);
    }
    free(slots);
    g->tts_cache = NULL;
}

int stream_synthesize_offline(struct server *srv, unsigned long long conn_id, unsigned id,
                              const char *text, const char *lang, const char *voice)
{
    struct stream_conn *c = conn_by_id(srv, conn_id);
    unsigned char *hit;
    struct tts_job *j;
    size_t len = 0;
    int rc;

    if (!c)
        return SB_ENOTFOUND;
    /* Copied out under the lock: playing it may end the session, which takes the lock too. */
    hit = cache_copy(srv->group, text, lang, &len);
    if (hit) {
        session_audio(&c->session, id, hit, len, clock_mono_us());
        free(hit);
        session_audio_end(&c->session, id, clock_mono_us());
        return 0;
    }
    j = calloc(1, sizeof(*j));
    if (!j)
        return SB_ENOMEM;
    j->srv = srv;
    j->conn_id = conn_id;
    j->utterance = id;
    j->text = strdup(text);
    snprintf(j->lang, sizeof(j->lang), "%s", lang);
    snprintf(j->voice, sizeof(j->voice), "%s", voice ? voice : "");
    if (!j->text) {
        tts_job_free(j);
        return SB_ENOMEM;
    }
    rc = workers_submit(srv->workers, tts_run, tts_done, j);
    if (rc) {
        log_event(LOG_ERROR, "stream.tts_failed", "call_sid=%s error=\"workers: %s\"",
                  c->session.call_sid, sb_strerror(rc));
        tts_job_free(j);
    }
    return rc;
}

static int io_synthesize(void *arg, unsigned id, const char *text, const char *lang,
                         const char *voice)
{
    struct stream_conn *c = arg;

    if (stream_cloud_speaks(c->cloud))
        return stream_cloud_say(c->cloud, id, text, lang, voice);
    return stream_synthesize_offline(c->srv, c->id, id, text, lang, voice);
}

/* The conversation of a recognised call, through the writer (as the LLM agents' transcripts). */
static void io_transcript(void *arg, int agent, const char *text, long latency_ms)
{
    struct stream_conn *c = arg;
    struct call_turn t;

    if (!c->srv->writer || !c->session.call_sid[0] || c->llm)
        return;
    memset(&t, 0, sizeof(t));
    snprintf(t.call_sid, sizeof(t.call_sid), "%s", c->session.call_sid);
    t.role = agent ? TURN_AGENT : TURN_CALLER;
    t.text = (char *)text;
    t.latency_ms = latency_ms;
    if (writer_submit_turn(c->srv->writer, &t, NULL, NULL) != 0)
        log_event(LOG_ERROR, "stream.transcript_failed", "call_sid=%s", c->session.call_sid);
}

static int io_recognize(void *arg, unsigned id, unsigned char *mulaw, size_t len, const char *lang)
{
    struct stream_conn *c = arg;

    if (stream_cloud_listens(c->cloud))
        return stream_cloud_recognize(c->cloud, id, mulaw, len, lang);
    return stream_listen_submit(c->srv, c->id, id, mulaw, len, lang, &c->speech.stt, &c->phrases);
}

static void io_hear(void *arg, const unsigned char *mulaw, size_t len, int start)
{
    struct stream_conn *c = arg;

    stream_cloud_hear(c->cloud, mulaw, len, start);
}

/*
 * A CallSid from an unchecked message, fit for a log line: its first 10
 * characters (letters and digits only) and "..." when there were more.
 */
static const char *sid_for_log(const char *sid, char out[16])
{
    size_t i;

    for (i = 0; sid[i] && i < 10; i++)
        out[i] = (sid[i] >= '0' && sid[i] <= '9') || (sid[i] >= 'a' && sid[i] <= 'z') ||
                         (sid[i] >= 'A' && sid[i] <= 'Z')
                     ? sid[i]
                     : '?';
    snprintf(out + i, 16 - i, "%s", sid[i] ? "..." : "");
    return out;
}

static const char *peer_of(struct lws *wsi, char *buf, size_t size)
{
    const char *p = lws_get_peer_simple(wsi, buf, size);

    return p && *p ? p : "-";
}

/*
 * Only the holder of a call's TwiML may open its stream: the start message
 * must carry the call's token. --dev accepts a missing token (signatures are
 * not checked either), but never a wrong one, nor a second stream of a call.
 * A refused stream closes with 1008 and is bound to no call: it records no
 * outcome and no stream row. Returns 1 when the stream may go on.
 */
static int admit(struct stream_conn *c, struct session *s, const struct media_event *start)
{
    struct server *srv = c->srv;
    const char *token = media_event_param(start, STREAM_TOKEN_PARAM);
    int missing = !token || !*token, live;
    char sid[16], peer[64];
    const char *why;

    if (stream_token_check(&srv->voice.stream_key, s->call_sid, token) == 0)
        return 1;
    live = call_has_live_stream(c, s->call_sid);
    if (srv->cfg->dev && missing && !live) {
        log_event(LOG_WARN, "security.stream_unbound",
                  "call_sid=%s reason=\"--dev: a start without a stream token is accepted\"",
                  sid_for_log(s->call_sid, sid));
        return 1;
    }
    why = missing ? (live ? "token missing, the call has a live stream" : "token missing")
                  : "token does not match the call";
    log_event(LOG_WARN, "security.stream_refused", "call_sid=%s peer=%s reason=\"%s\"",
              sid_for_log(s->call_sid, sid), peer_of(c->wsi, peer, sizeof(peer)), why);
    /* Forget the CallSid the message claimed, so nothing is recorded against that call. */
    s->call_sid[0] = '\0';
    session_end(s, SESSION_FAILED, 1008, "stream token missing or does not match the call");
    return 0;
}

/* The start message: find the call's tenant and agent, and let the agent speak. */
static void io_started(void *arg, struct session *s, const struct media_event *start)
{
    struct stream_conn *c = arg;
    struct server *srv = c->srv;
    const char *to = media_event_param(start, "To");
    const char *from = media_event_param(start, "From");
    const char *lang = media_event_param(start, "lang");
    const char *agent_type = media_event_param(start, "agent");
    const struct route *route = to ? routes_find(&srv->routing->routes, to) : NULL;
    const struct tenant *tenant;
    struct agent_call call;
    struct llm_settings llm;
    const char *agent_name;
    char greeting[GREETING_SIZE];

    /* A call we placed: To is the person called, From the tenant's number (our TwiML set both). */
    if (!route && from)
        route = routes_find(&srv->routing->routes, from);
    tenant = route ? route->tenant : NULL;
    if (!admit(c, s, start))
        return;
    c->started = 1;
    c->last_rx_us = clock_mono_us();
    loop_clock_arm(srv, c->last_rx_us + (long long)srv->cfg->stream_idle_timeout_s * 1000000);
    /* A newer stream for the same call takes over; the older one is closed cleanly. */
    for (struct stream_conn *o = srv->streams; o; o = o->next) {
        if (o != c && !o->closing && strcmp(o->session.call_sid, s->call_sid) == 0)
            session_end(&o->session, SESSION_REPLACED, 1000, "replaced by a newer stream");
    }
    live_register(c); /* and on the other loops */
    if (!lang || !*lang)
        lang = tenant ? tenant->default_lang : "es";
    if (tenant)
        snprintf(c->transfer, sizeof(c->transfer), "%s", tenant->transfer_number);
    memset(&call, 0, sizeof(call));
    call.call_sid = s->call_sid;
    call.tenant_name = tenant ? tenant->name : "";
    call.lang = lang;
    call.greeting = persona_greeting(tenant, lang, greeting, sizeof(greeting));
    call.can_transfer = c->transfer[0] != '\0';
    log_event(LOG_INFO, "stream.started", "call_sid=%s stream_sid=%s tenant=%s lang=%s",
              s->call_sid, s->stream_sid, tenant ? tenant->name : "-", lang);
    agent_name = agent_type && *agent_type ? agent_type : (route ? route->number.agent : "");
    if (route && conversations_llm_named(srv, route, agent_name, &c->link, &llm) == 0) {
        call.llm = &llm;
        c->llm = 1;
    }
    if (tenant && stream_phrases_of_tenant(srv, tenant->name, &c->phrases) != 0)
        log_event(LOG_WARN, "stream.phrases_failed", "call_sid=%s", s->call_sid);
    if (route && conversations_speech(srv, route, agent_name, lang, &c->speech)) {
        int rc = stream_cloud_open(srv, c->id, &c->speech, lang, &c->cloud);

        log_event(rc ? LOG_ERROR : LOG_INFO, "stream.engines", "call_sid=%s stt=%s tts=%s%s%s",
                  s->call_sid,
                  c->speech.stt_deepgram ? "deepgram"
                  : c->speech.stt.url[0] ? "whisper-api"
                                         : "pocketsphinx",
                  c->speech.tts[0] ? c->speech.tts : "offline", rc ? " error=" : "",
                  rc ? sb_strerror(rc) : "");
    }
    session_begin(s, c->llm ? &agent_llm_ops : agent_for(agent_name), &call,
                  persona_voice(tenant, lang), conversations_env(srv), clock_mono_us());
}

/* --- pacing ------------------------------------------------------------------ */

/* Sends what the pacer allows at `now_us` and notes when it allows more. */
static void serve(struct stream_conn *c, long long now_us)
{
    long long next = session_tick(&c->session, now_us);

    c->due_us = next >= 0 ? now_us + (next > 0 ? next : 1) : 0;
}

/* After anything that may queue audio: send what is due now and arm the clock. */
static void pump(struct stream_conn *c)
{
    long long now = clock_mono_us();

    serve(c, now);
    if (c->due_us)
        loop_clock_arm(c->srv, c->due_us);
}

/* When the stream must have started, or heard from the caller again; 0 when closing. */
static long long deadline_of(const struct stream_conn *c)
{
    const struct config *cfg = c->srv->cfg;

    if (c->closing)
        return 0;
    if (!c->started)
        return c->opened_us + (long long)cfg->stream_start_timeout_s * 1000000;
    return c->last_rx_us + (long long)cfg->stream_idle_timeout_s * 1000000;
}

static void time_out(struct stream_conn *c)
{
    const struct config *cfg = c->srv->cfg;
    char reason[96], peer[64];

    if (!c->started) {
        snprintf(reason, sizeof(reason), "no start message within %d s",
                 cfg->stream_start_timeout_s);
        log_event(LOG_WARN, "stream.timeout", "phase=start peer=%s limit_s=%d",
                  peer_of(c->wsi, peer, sizeof(peer)), cfg->stream_start_timeout_s);
    } else {
        snprintf(reason, sizeof(reason), "no message from the caller within %d s",
                 cfg->stream_idle_timeout_s);
        log_event(LOG_WARN, "stream.timeout", "phase=idle call_sid=%s limit_s=%d",
                  c->session.call_sid, cfg->stream_idle_timeout_s);
    }
    session_end(&c->session, SESSION_FAILED, 1008, reason);
}

long long stream_clock_fired(struct server *srv, long long now_us)
{
    long long next = 0, deadline;

    for (struct stream_conn *c = srv->streams; c; c = c->next) {
        if (c->due_us && c->due_us <= now_us)
            serve(c, now_us);
        deadline = deadline_of(c);
        if (deadline && deadline <= now_us) {
            time_out(c);
            deadline = 0;
        }
        if (c->due_us && (!next || c->due_us < next))
            next = c->due_us;
        if (deadline && (!next || deadline < next))
            next = deadline;
    }
    return next;
}

void stream_drain_tts(struct server *srv)
{
    struct tts_job *list;

    pthread_mutex_lock(&srv->done_lock);
    list = srv->tts_done;
    srv->tts_done = NULL;
    pthread_mutex_unlock(&srv->done_lock);
    while (list) {
        struct tts_job *j = list;
        struct stream_conn *c = conn_by_id(srv, j->conn_id);

        list = j->next;
        if (c && j->rc)
            log_event(LOG_ERROR, "stream.tts_failed", "call_sid=%s error=\"%s\"",
                      c->session.call_sid, j->err);
        if (c) {
            session_synthesized(&c->session, j->utterance, j->rc, j->audio, j->len,
                                clock_mono_us());
            pump(c);
        }
        if (!j->rc && j->len)
            cache_store(srv->group, j);
        tts_job_free(j);
    }
}

/* --- lws callbacks ---------------------------------------------------------------- */

/* The wss URL Twilio signs for `path`: the TwiML's, the stream URL with its path swapped. */
static int signed_ws_url(const struct server *srv, struct lws *wsi, const char *path,
                         struct buf *url)
{
    static const char stream_path[] = "/voice/stream";
    const char *stream = srv->cfg->stream_url;
    size_t n = strlen(stream), tail = sizeof(stream_path) - 1;
    char host[256];

    if (srv->cfg->trust_proxy &&
        lws_hdr_custom_copy(wsi, host, sizeof(host), "x-forwarded-host:", 17) > 0)
        return buf_printf(url, "wss://%s%s", host, path);
    if (n >= tail && strcmp(stream + n - tail, stream_path) == 0)
        n -= tail;
    return buf_printf(url, "%.*s%s", (int)n, stream, path);
}

int stream_confirm_upgrade(struct server *srv, struct lws *wsi)
{
    char path[64], header[128];
    struct buf url = BUF_INIT(1024);
    int rc = 0, n;

    n = lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
    if (n <= 0 || (strcmp(path, "/voice/stream") != 0 && strcmp(path, "/voice/relay") != 0)) {
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "error: no WebSocket endpoint here");
        return -1;
    }
    if (srv->draining) {
        lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "error: shutting down");
        return -1;
    }
    if (srv->cfg->dev) {
        log_event(LOG_WARN, "security.unsigned",
                  "path=%s reason=\"--dev: X-Twilio-Signature is not checked\"", path);
        return 0;
    }
    rc = signed_ws_url(srv, wsi, path, &url);
    if (lws_hdr_custom_copy(wsi, header, sizeof(header), "x-twilio-signature:", 19) <= 0)
        header[0] = '\0';
    /* Twilio signs the wss URL as written in the TwiML, with no parameters appended. */
    if (rc == 0)
        rc = sig_key_validate(srv->sig_key, buf_cstr(&url), NULL, header);
    buf_release(&url);
    if (rc) {
        log_event(LOG_WARN, "security.bad_signature", "path=%s upgrade=refused", path);
        lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN,
                               "error: X-Twilio-Signature is missing or does not match");
        return -1;
    }
    return 0;
}

static int on_established(struct server *srv, struct lws *wsi, struct stream_conn **slot)
{
    struct stream_conn *c = calloc(1, sizeof(*c));
    struct session_io io = {NULL,       io_send,      io_close,      io_synthesize,
                            io_started, io_recognize, io_transcript, io_hear};
    struct session_config cfg = {0};

    if (!c)
        return -1;
    c->id = ++srv->next_stream_id;
    c->wsi = wsi;
    c->srv = srv;
    c->opened_wall_ms = clock_wall_ms();
    c->opened_us = clock_mono_us();
    buf_init(&c->rx, MEDIA_EVENT_MAX_SIZE);
    c->out = (struct ws_queue)WS_QUEUE_INIT(STREAM_MAX_QUEUED);
    io.arg = c;
    cfg.scratch = &srv->stream_scratch;
    session_init(&c->session, &io, &cfg, c->opened_us);
    c->next = srv->streams;
    srv->streams = c;
    __atomic_add_fetch(&srv->nstreams, 1, __ATOMIC_RELAXED); /* /metrics reads it from any loop */
    *slot = c;
    loop_clock_arm(srv, deadline_of(c));
    return 0;
}

static int on_receive(struct stream_conn *c, struct lws *wsi, const void *in, size_t len)
{
    long long now;

    if (c->closing)
        return 0;
    if (lws_frame_is_binary(wsi)) {
        session_end(&c->session, SESSION_FAILED, 1003,
                    "binary frames are not media stream messages");
        return 0;
    }
    /* A whole message in one piece, as nearly always, is read where lws holds it. */
    if (c->rx.len || len > c->rx.max || !lws_is_final_fragment(wsi)) {
        if (buf_append(&c->rx, in, len) != 0) {
            session_end(&c->session, SESSION_FAILED, 1009, "message larger than 16384 bytes");
            return 0;
        }
        if (!lws_is_final_fragment(wsi))
            return 0;
        in = c->rx.data;
        len = c->rx.len;
    }
    /* Only a whole message counts as the caller being there (not a fragment, not a ping). */
    now = clock_mono_us();
    c->last_rx_us = now;
    session_message(&c->session, in, len, now);
    buf_reset(&c->rx);
    pump(c);
    return 0;
}

static int on_writable(struct stream_conn *c, struct lws *wsi)
{
    return ws_queue_on_writable(&c->out, wsi, c->closing ? c->close_code : 0, c->close_reason);
}

/* The socket is gone: record the stream and forget the connection. */
static void on_closed(struct server *srv, struct stream_conn *c)
{
    struct session *s = &c->session;
    struct stream_record rec;
    struct stream_conn **pp;

    if (s->outcome == SESSION_OPEN)
        snprintf(s->reason, sizeof(s->reason), "disconnected");
    if (s->call_sid[0]) {
        if (!c->closing)
            outcome_remember(srv, s->call_sid, VOICE_STREAM_UNKNOWN);
        memset(&rec, 0, sizeof(rec));
        snprintf(rec.stream_sid, sizeof(rec.stream_sid), "%s", s->stream_sid);
        snprintf(rec.call_sid, sizeof(rec.call_sid), "%s", s->call_sid);
        snprintf(rec.reason, sizeof(rec.reason), "%s",
                 s->outcome == SESSION_OPEN ? "disconnect" : session_outcome_name(s->outcome));
        rec.started_at = c->opened_wall_ms;
        rec.stopped_at = clock_wall_ms();
        rec.duration_ms = (long)(rec.stopped_at - rec.started_at);
        rec.frames_in = s->frames_in;
        rec.frames_out = s->frames_out;
        if (srv->writer) {
            int rc = writer_submit_stream(srv->writer, &rec, NULL, NULL);

            if (rc)
                log_event(LOG_ERROR, "stream.log_failed",
                          "call_sid=%s stream_sid=%s error=\"writer: %s\"", s->call_sid,
                          s->stream_sid, sb_strerror(rc));
        }
        log_event(LOG_INFO, "stream.stopped",
                  "call_sid=%s stream_sid=%s outcome=%s reason=\"%s\" duration_ms=%ld "
                  "frames_in=%ld frames_out=%ld first_audio_ms=%ld turn_gap_ms=%ld clears=%ld",
                  s->call_sid, s->stream_sid, session_outcome_name(s->outcome), s->reason,
                  rec.duration_ms, s->frames_in, s->frames_out, s->first_audio_ms,
                  s->last_turn_gap_ms, s->clears);
    }
    live_unregister(c);
    session_release(s);
    for (pp = &srv->streams; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    __atomic_sub_fetch(&srv->nstreams, 1, __ATOMIC_RELAXED);
    ws_queue_release(&c->out);
    buf_release(&c->rx);
    stream_cloud_free(c->cloud);
    stream_phrases_release(&c->phrases);
    OPENSSL_cleanse(&c->speech, sizeof(c->speech));
    free(c);
}

int stream_callback(struct server *srv, struct lws *wsi, enum lws_callback_reasons reason,
                    struct stream_conn **conn, void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(srv, wsi, conn);
    case LWS_CALLBACK_RECEIVE:
        return *conn ? on_receive(*conn, wsi, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return *conn ? on_writable(*conn, wsi) : 0;
    case LWS_CALLBACK_CLOSED:
        if (*conn)
            on_closed(srv, *conn);
        *conn = NULL;
        return 0;
    default:
        return 0;
    }
}

void stream_close_all(struct server *srv)
{
    for (struct stream_conn *c = srv->streams; c; c = c->next)
        session_end(&c->session, SESSION_FAILED, 1001, "server is shutting down");
}

void stream_audio(struct server *srv, unsigned long long conn_id, unsigned id,
                  const unsigned char *mulaw, size_t len)
{
    struct stream_conn *c = conn_by_id(srv, conn_id);

    if (!c)
        return;
    if (id <= c->session.cut_upto) {
        /* Barge-in cut this reply: its synthesis stops now, its audio is dropped. */
        stream_cloud_cut(c->cloud, c->session.cut_upto);
        return;
    }
    session_audio(&c->session, id, mulaw, len, clock_mono_us());
    pump(c);
}

void stream_partial(struct server *srv, unsigned long long conn_id, const char *text)
{
    struct stream_conn *c = conn_by_id(srv, conn_id);

    if (!c)
        return;
    session_partial(&c->session, text, clock_mono_us());
    pump(c);
}

void stream_audio_end(struct server *srv, unsigned long long conn_id, unsigned id)
{
    struct stream_conn *c = conn_by_id(srv, conn_id);

    if (!c)
        return;
    session_audio_end(&c->session, id, clock_mono_us());
    pump(c);
}

struct stream_cloud *stream_cloud_of(struct server *srv, unsigned long long conn_id)
{
    struct stream_conn *c = conn_by_id(srv, conn_id);

    return c ? c->cloud : NULL;
}

void stream_heard(struct server *srv, unsigned long long conn_id, unsigned id,
                  enum session_heard heard, const char *text)
{
    struct stream_conn *c = conn_by_id(srv, conn_id);

    if (!c)
        return;
    session_transcript(&c->session, id, heard, text, clock_mono_us());
    pump(c);
}

void stream_agents_tick(struct server *srv)
{
    long long now = clock_mono_ms();

    for (struct stream_conn *c = srv->streams; c; c = c->next) {
        if (!c->closing) {
            session_agent_tick(&c->session, now);
            stream_cloud_tick(c->cloud, now);
        }
    }
}
