#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/twiml.h"
#include "voice/call_context.h"
#include "voice/listen.h"
#include "voice/persona.h"
#include "voice/voice.h"
#include "core/banned.h"

long long voice_now(const struct voice_ctx *ctx)
{
    return ctx->now ? ctx->now(ctx->now_arg) : (long long)time(NULL);
}

/* Copies a C string into a fixed field, truncating; cheaper than snprintf on the hot path. */
static void copy_field(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Queues the call row; the webhook answer does not wait for it. */
static void log_call(const struct voice_ctx *ctx, const struct call_context *cc,
                     const struct form *params)
{
    struct call_record c;
    const char *direction = form_get(params, "Direction");
    const char *status = form_get(params, "CallStatus");
    int rc;

    if (!ctx->writer)
        return;
    copy_field(c.call_sid, sizeof(c.call_sid), cc->call_sid);
    copy_field(c.tenant, sizeof(c.tenant), cc->route ? cc->route->tenant->name : "");
    copy_field(c.direction, sizeof(c.direction), direction ? direction : "inbound");
    copy_field(c.from, sizeof(c.from), cc->from);
    copy_field(c.to, sizeof(c.to), cc->to);
    copy_field(c.status, sizeof(c.status), status && *status ? status : "ringing");
    copy_field(c.lang, sizeof(c.lang), cc->lang ? cc->lang : "");
    c.duration = -1;
    c.ended_at = 0;
    c.started_at = voice_now(ctx);
    rc = writer_submit_call(ctx->writer, &c, NULL, NULL);
    if (rc)
        log_event(LOG_ERROR, "call.log_failed", "call_sid=%s error=\"writer: %s\"", cc->call_sid,
                  sb_strerror(rc));
}

/* pro and enterprise: hand the call's audio to the Media Streams endpoint. */
/*
 * The <Parameter>s of a <Stream> or <ConversationRelay>, then the token that
 * binds the socket to this call (the server refuses a start or setup
 * without it).
 */
static void write_params(const struct voice_ctx *ctx, const struct call_context *cc,
                         struct twiml *t, const char *const (*params)[2], size_t n)
{
    char token[STREAM_TOKEN_SIZE];

    for (size_t i = 0; i < n; i++) {
        const char *attrs[] = {"name", params[i][0], "value", params[i][1], NULL};

        twiml_leaf(t, "Parameter", attrs, NULL);
    }
    if (stream_token_for(&ctx->stream_key, cc->call_sid, token) == 0) {
        const char *attrs[] = {"name", STREAM_TOKEN_PARAM, "value", token, NULL};

        twiml_leaf(t, "Parameter", attrs, NULL);
    }
}

static void write_stream(const struct voice_ctx *ctx, const struct call_context *cc,
                         struct twiml *t)
{
    const struct route *r = cc->route;
    const char *connect[] = {"action", "/voice/stream-ended", NULL};
    const char *stream[] = {"url", ctx->stream_url, NULL};
    const char *const params[][2] = {
        {"CallSid", cc->call_sid},   {"From", cc->from},         {"To", cc->to},
        {"tenant", r->tenant->name}, {"agent", r->number.agent}, {"lang", cc->lang},
    };

    /* Twilio requests the action when the stream closes: transfer or goodbye. */
    twiml_open(t, "Connect", connect);
    twiml_open(t, "Stream", stream);
    write_params(ctx, cc, t, params, sizeof(params) / sizeof(params[0]));
    twiml_close(t);
    twiml_close(t);
}

/* The relay endpoint next to the stream endpoint: wss://host[/prefix]/voice/relay. */
static void relay_url(const char *stream_url, char *out, size_t size)
{
    static const char stream_path[] = "/voice/stream";
    size_t n = strlen(stream_url), tail = sizeof(stream_path) - 1;

    if (n >= tail && strcmp(stream_url + n - tail, stream_path) == 0)
        n -= tail;
    snprintf(out, size, "%.*s/voice/relay", (int)n, stream_url);
}

/* The tenant's ConversationRelay speech for `lang`, or NULL (Twilio's defaults). */
static const struct tenant_relay_voice *relay_voice(const struct tenant *t, const char *lang)
{
    for (int i = 0; i < t->nrelay; i++) {
        if (strcmp(t->relay[i].lang, lang) == 0)
            return &t->relay[i];
    }
    return NULL;
}

/* Appends the provider attributes a relay voice sets (empty ones left to Twilio). */
static size_t voice_attrs(const struct tenant_relay_voice *v, const char **attrs, size_t n)
{
    if (!v)
        return n;
    if (v->tts_provider[0]) {
        attrs[n++] = "ttsProvider";
        attrs[n++] = v->tts_provider;
    }
    if (v->voice[0]) {
        attrs[n++] = "voice";
        attrs[n++] = v->voice;
    }
    if (v->transcription_provider[0]) {
        attrs[n++] = "transcriptionProvider";
        attrs[n++] = v->transcription_provider;
    }
    return n;
}

/*
 * relay: Twilio's ConversationRelay hears and speaks; the agent talks to it
 * over /voice/relay. Twilio says the greeting itself (welcomeGreeting).
 */
#define CONFIG_URL_MAX 1100

static void write_relay(const struct voice_ctx *ctx, const struct call_context *cc, struct twiml *t)
{
    const struct route *r = cc->route;
    const struct tenant_relay_voice *mine = relay_voice(r->tenant, cc->lang);
    const char *connect[] = {"action", "/voice/relay-ended", NULL};
    const char *relay[24];
    const char *const params[][2] = {
        {"tenant", r->tenant->name}, {"agent", r->number.agent}, {"lang", cc->lang}};
    char url[CONFIG_URL_MAX], greeting[GREETING_SIZE];
    size_t n = 0;

    relay_url(ctx->stream_url ? ctx->stream_url : "", url, sizeof(url));
    relay[n++] = "url";
    relay[n++] = url;
    relay[n++] = "language";
    relay[n++] = cc->lang;
    relay[n++] = "welcomeGreeting";
    relay[n++] = persona_greeting(r->tenant, cc->lang, greeting, sizeof(greeting));
    relay[n++] = "interruptible";
    relay[n++] = "any";
    relay[n++] = "dtmfDetection";
    relay[n++] = "true";
    n = voice_attrs(mine, relay, n);
    relay[n] = NULL;
    twiml_open(t, "Connect", connect);
    twiml_open(t, "ConversationRelay", relay);
    /* The tenant's other languages, for a switch mid-call (declaring one does not activate it). */
    for (int i = 0; i < r->tenant->nrelay; i++) {
        const char *lang[12] = {"code", r->tenant->relay[i].lang};

        if (&r->tenant->relay[i] == mine)
            continue;
        lang[voice_attrs(&r->tenant->relay[i], lang, 2)] = NULL;
        twiml_leaf(t, "Language", lang, NULL);
    }
    write_params(ctx, cc, t, params, sizeof(params) / sizeof(params[0]));
    twiml_close(t);
    twiml_close(t);
}

static enum voice_incoming_result answer(const struct voice_ctx *ctx, const struct form *params,
                                         int flows, struct reply *out)
{
    struct call_context cc;
    struct twiml t;
    const char *missing = NULL;
    char greeting[GREETING_SIZE];

    if (call_context_init(&cc, ctx->routes, params, &missing)) {
        log_event(LOG_WARN, "call.rejected", "call_sid=%s reason=\"missing %s\"",
                  cc.call_sid ? cc.call_sid : "-", missing);
        voice_apology(out);
        return VOICE_ANSWERED;
    }
    if (!cc.route) {
        log_event(LOG_INFO, "call.unrouted", "call_sid=%s from=%s to=%s", cc.call_sid, cc.from_log,
                  cc.to_log);
        log_call(ctx, &cc, params);
        voice_apology(out);
        return VOICE_ANSWERED;
    }
    if (flows && voice_flow_answers(ctx, cc.route))
        return VOICE_RUN_FLOW;
    log_event(LOG_INFO, flows ? "call.incoming" : "call.outbound_agent",
              "call_sid=%s from=%s to=%s tenant=%s plan=%s lang=%s agent=%s", cc.call_sid,
              cc.from_log, cc.to_log, cc.route->tenant->name, plan_name(cc.route->number.plan),
              cc.lang, cc.route->number.agent);
    twiml_init(&t);
    cc.partial_results = ctx->speculates && ctx->speculates(ctx->speculates_arg, cc.route);
    if (cc.route->number.plan == PLAN_STARTER)
        listen_write(&t, &cc,
                     persona_greeting(cc.route->tenant, cc.lang, greeting, sizeof(greeting)));
    else if (cc.route->number.plan == PLAN_RELAY)
        write_relay(ctx, &cc, &t);
    else
        write_stream(ctx, &cc, &t);
    listen_finish(&t, &cc, "call.incoming", out);
    log_call(ctx, &cc, params);
    return VOICE_ANSWERED;
}

enum voice_incoming_result voice_incoming(const struct voice_ctx *ctx, const struct form *params,
                                          struct reply *out)
{
    return answer(ctx, params, 1, out);
}

void voice_connect_agent(const struct voice_ctx *ctx, const struct form *params, struct reply *out)
{
    (void)answer(ctx, params, 0, out);
}
