/*
 * <Connect><ConversationRelay> in a simulated call: the sim plays Twilio's
 * side of the session (docs/sim.md, "ConversationRelay"). It says the
 * welcomeGreeting, opens the WebSocket to the relay's url signed like
 * Twilio, sends setup, turns the script's `say` into prompts and `press`
 * into dtmf, assembles the app's text tokens into what the caller hears,
 * interrupts a reply still being spoken, and ends when the app sends `end`,
 * the caller hangs up or the socket fails. Runs in the calling thread on its
 * own libwebsockets context; call.c then requests <Connect action> with
 * what call_relay put in its parameters.
 */
#include <jansson.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/sig.h"
#include "net/ws_queue.h"
#include "sim/call_internal.h"
#include "sim/relay_reply.h"
#include "sim/stream.h"
#include "core/banned.h"

/* Largest message taken from the app, as Twilio's limit for one message. */
#define RELAY_MAX_MESSAGE (64 * 1024)
#define RELAY_MAX_QUEUED 256
/* How long the caller waits for a reply, or for the app to end the session. */
#define REPLY_WAIT_MS SIM_STREAM_DEFAULT_WAIT_MS
/* Real time given to the app while the caller hears a reply out (the rest is skipped). */
#define HEAR_OUT_REAL_MS 250
/* The closing handshake may take this long. */
#define CLOSE_GRACE_MS 2000
/* Twilio's error for a ConversationRelay WebSocket that failed. */
#define RELAY_SOCKET_ERROR 39001
/* `silence` in a session: the caller says nothing this long. */
#define SILENCE_MS 1000
/* A `w` in press keys: half a second. */
#define KEY_PAUSE_MS 500

struct relay_run {
    struct call *c;
    const struct sim_node *relay;
    const char *url; /* as in the TwiML (borrowed) */
    struct lws_context *ctx;
    struct lws *wsi;
    lws_sorted_usec_list_t tick_sul;
    char *url_copy;
    const char *address;
    int port;
    char *path;
    char *host;
    int tls;
    char sig[SIG_B64_SIZE];
    int have_sig;
    char session_id[SID_SIZE];
    char speaker[256];
    char tts_lang[36];
    char stt_lang[36];
    int dtmf_detection;
    int interrupt_speech;
    int interrupt_dtmf;

    struct ws_queue out;
    struct buf rx;
    int handshake_sent;
    int established;
    int closing; /* we close once the queue is written */
    int closed;
    int ended;         /* the app sent end */
    int server_closed; /* the app closed the socket */
    int failed;
    int destroying;
    int timed_out;
    int close_code;
    char close_reason[124];
    char error[300];
    char *handoff; /* end's handoffData (owned); NULL when absent */

    long long t0_us;   /* when the session started (wall) */
    long long max_us;  /* real-time bound on the session */
    double skipped_ms; /* simulated time the caller spent hearing replies out */
    double base_ms;    /* the call's clock when the session started */
    struct sim_relay_reply reply;
    long shown_count; /* replies put in the transcript */
    int heard_out;    /* the current reply has been heard to its end */
    long prompts;
    long digits;
    long interrupts;
};

/* --- time and transcript ---------------------------------------------------------- */

static double session_ms(const struct relay_run *r)
{
    return (double)(clock_mono_us() - r->t0_us) / 1000.0 + r->skipped_ms;
}

/* A transcript event at the session's current time. */
static json_t *event(struct relay_run *r, const char *kind)
{
    r->c->clock_ms = r->base_ms + session_ms(r);
    return call_event(r->c, kind);
}

static void relay_note(struct relay_run *r, const char *what, const char *detail)
{
    json_t *ev = event(r, "relay");

    json_object_set_new(ev, "event", json_string(what));
    json_object_set_new(ev, "detail", json_string(detail));
}

/* Puts what the app said since the last time into the transcript, as the caller hears it. */
static void show_reply(struct relay_run *r)
{
    const char *text;
    size_t n = sim_relay_reply_unshown(&r->reply, &text);
    json_t *ev;
    char *copy;

    if (!n)
        return;
    copy = strndup(text, n);
    ev = event(r, "say");
    json_object_set_new(ev, "speaker", json_string(r->speaker));
    json_object_set_new(ev, "text", json_stringn(text, n));
    if (r->tts_lang[0])
        json_object_set_new(ev, "language", json_string(r->tts_lang));
    r->shown_count++;
    if (copy)
        call_heard(r->c, copy);
    free(copy);
}

/* Records the session's failure once; the socket closes if it is open. */
static void relay_failed(struct relay_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void relay_failed(struct relay_run *r, const char *fmt, ...)
{
    va_list ap;

    if (!r->failed) {
        r->failed = 1;
        va_start(ap, fmt);
        vsnprintf(r->error, sizeof(r->error), fmt, ap);
        va_end(ap);
    }
    if (r->wsi && !r->closing) {
        r->closing = 1;
        r->close_code = LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
        lws_callback_on_writable(r->wsi);
    }
}

/* --- sending ------------------------------------------------------------------------- */

/* Queues one message (the reference to `msg` is taken). */
static int send_json(struct relay_run *r, json_t *msg)
{
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    int rc;

    json_decref(msg);
    if (!text) {
        relay_failed(r, "out of memory");
        return SB_ENOMEM;
    }
    rc = ws_queue_push(&r->out, text, strlen(text));
    free(text);
    if (rc) {
        relay_failed(r, "the relay server stopped reading: %d messages are waiting",
                     RELAY_MAX_QUEUED);
        return rc;
    }
    if (r->wsi)
        lws_callback_on_writable(r->wsi);
    return 0;
}

static int send_setup(struct relay_run *r)
{
    const struct call *c = r->c;
    json_t *custom = json_object();

    if (!custom) {
        relay_failed(r, "out of memory");
        return SB_ENOMEM;
    }
    for (size_t i = 0; i < r->relay->nchildren; i++) {
        const struct sim_node *p = &r->relay->children[i];
        const char *name = sim_node_attr(p, "name");
        const char *value = sim_node_attr(p, "value");

        if (strcmp(p->name, "Parameter") == 0 && name &&
            json_object_set_new(custom, name, json_string(value ? value : "")) != 0) {
            json_decref(custom);
            relay_failed(r, "<Parameter> '%s' is not valid UTF-8", name);
            return SB_EINVAL;
        }
    }
    /* The fields and their order as Twilio's documented example. */
    return send_json(
        r, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "type",
                     "setup", "sessionId", r->session_id, "accountSid", c->account_sid,
                     "parentCallSid", "", "callSid", c->call_sid, "from", c->o->from, "to",
                     c->o->to, "forwardedFrom", "", "callerName", "", "direction",
                     c->o->direction ? c->o->direction : "inbound", "callType", "PSTN",
                     "callStatus", "RINGING", "customParameters", custom));
}

/* --- receiving ----------------------------------------------------------------------- */

static void on_text(struct relay_run *r, json_t *msg)
{
    json_t *token = json_object_get(msg, "token");
    json_t *last = json_object_get(msg, "last");
    int rc;

    if (!json_is_string(token)) {
        relay_note(r, "warning", "a text message without a \"token\" string: ignored");
        return;
    }
    rc =
        sim_relay_reply_add(&r->reply, json_string_value(token), json_is_true(last), session_ms(r));
    if (rc) {
        relay_failed(r, "the app's reply is longer than %d bytes", SIM_RELAY_REPLY_MAX);
        return;
    }
    if (json_is_true(last))
        show_reply(r);
}

static void on_language(struct relay_run *r, json_t *msg)
{
    const char *tts = json_string_value(json_object_get(msg, "ttsLanguage"));
    const char *stt = json_string_value(json_object_get(msg, "transcriptionLanguage"));
    json_t *ev;

    if (!tts && !stt) {
        relay_note(r, "warning",
                   "a language message without ttsLanguage or "
                   "transcriptionLanguage: ignored");
        return;
    }
    if (tts)
        snprintf(r->tts_lang, sizeof(r->tts_lang), "%s", tts);
    if (stt)
        snprintf(r->stt_lang, sizeof(r->stt_lang), "%s", stt);
    ev = event(r, "language");
    json_object_set_new(ev, "tts", json_string(r->tts_lang));
    json_object_set_new(ev, "transcription", json_string(r->stt_lang));
}

static void on_end(struct relay_run *r, json_t *msg)
{
    json_t *data = json_object_get(msg, "handoffData");
    json_t *ev;

    show_reply(r);
    r->ended = 1;
    free(r->handoff);
    r->handoff = json_is_string(data) ? strdup(json_string_value(data)) : NULL;
    ev = event(r, "relay");
    json_object_set_new(ev, "event", json_string("end"));
    json_object_set_new(ev, "detail", json_string(r->handoff ? r->handoff : ""));
    /* Twilio closes the socket and requests <Connect action>. */
    if (r->wsi && !r->closing) {
        r->closing = 1;
        r->close_code = LWS_CLOSE_STATUS_NORMAL;
        lws_callback_on_writable(r->wsi);
    }
}

static void on_message(struct relay_run *r, const char *data, size_t len)
{
    json_error_t jerr;
    json_t *msg = json_loadb(data, len, 0, &jerr);
    const char *type = json_string_value(json_object_get(msg, "type"));
    char detail[200];

    if (!json_is_object(msg) || !type) {
        snprintf(detail, sizeof(detail),
                 "a message that is not a JSON object with a \"type\": %.100s",
                 msg ? "no type" : jerr.text);
        relay_note(r, "warning", detail);
    } else if (strcmp(type, "text") == 0) {
        on_text(r, msg);
    } else if (strcmp(type, "language") == 0) {
        on_language(r, msg);
    } else if (strcmp(type, "end") == 0) {
        on_end(r, msg);
    } else {
        snprintf(detail, sizeof(detail), "unknown message type \"%.40s\": ignored", type);
        relay_note(r, "warning", detail);
    }
    json_decref(msg);
}

/* --- libwebsockets ------------------------------------------------------------------- */

static void connection_error(struct relay_run *r, struct lws *wsi, const char *why)
{
    unsigned status = wsi ? lws_http_client_http_response(wsi) : 0;

    if (status && status != 101)
        relay_failed(r, "the relay server %s answered HTTP %u instead of 101 to the upgrade",
                     r->url, status);
    else if (r->handshake_sent)
        relay_failed(r, "the relay server %s did not accept the WebSocket upgrade (%s)", r->url,
                     why ? why : "no reason given");
    else
        relay_failed(r, "cannot connect to the relay server %s: %s", r->url,
                     why ? why : "unknown error");
}

static int on_writable(struct relay_run *r, struct lws *wsi)
{
    int written = ws_queue_write_one(&r->out, wsi);

    if (written < 0)
        return -1;
    if (written) {
        if (r->out.count || r->closing)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (r->closing) {
        lws_close_reason(wsi, (enum lws_close_status)r->close_code, NULL, 0);
        return -1;
    }
    return 0;
}

static int on_receive(struct relay_run *r, struct lws *wsi, const void *in, size_t len)
{
    if (r->closing)
        return 0;
    if (lws_frame_is_binary(wsi)) {
        relay_failed(r, "the relay server sent a binary frame (messages are JSON text)");
        return 0;
    }
    if (buf_append(&r->rx, in, len) != 0) {
        relay_failed(r, "the relay server sent a message larger than %d bytes", RELAY_MAX_MESSAGE);
        return 0;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;
    on_message(r, r->rx.data, r->rx.len);
    buf_reset(&r->rx);
    return 0;
}

static void on_peer_close(struct relay_run *r, const unsigned char *in, size_t len)
{
    size_t n;

    r->server_closed = 1;
    if (len >= 2) {
        r->close_code = (in[0] << 8) | in[1];
        n = len - 2 < sizeof(r->close_reason) - 1 ? len - 2 : sizeof(r->close_reason) - 1;
        memcpy(r->close_reason, in + 2, n);
        r->close_reason[n] = '\0';
    } else {
        r->close_code = LWS_CLOSE_STATUS_NO_STATUS;
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = wsi ? lws_get_context(wsi) : NULL;
    struct relay_run *r = ctx ? lws_context_user(ctx) : NULL;

    if (!r || r->destroying)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        r->handshake_sent = 1;
        if (r->have_sig) {
            unsigned char **p = (unsigned char **)in;

            if (lws_add_http_header_by_name(wsi, (const unsigned char *)"X-Twilio-Signature:",
                                            (const unsigned char *)r->sig, (int)strlen(r->sig), p,
                                            *p + len))
                return -1;
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        connection_error(r, wsi, in ? (const char *)in : NULL);
        r->wsi = NULL;
        r->closed = 1;
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        r->wsi = wsi;
        r->established = 1;
        (void)send_setup(r);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(r, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writable(r, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        on_peer_close(r, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        r->wsi = NULL;
        r->closed = 1;
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"sb-twilio-relay", callback, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Wakes lws_service so the waits below see the time pass. */
static void on_tick(lws_sorted_usec_list_t *sul)
{
    struct relay_run *r = lws_container_of(sul, struct relay_run, tick_sul);

    lws_sul_schedule(r->ctx, 0, &r->tick_sul, on_tick, 20 * LWS_US_PER_MS);
}

/* Services the socket until `done` holds, `ms` of real time pass, or the socket closes. */
static int service_until(struct relay_run *r, int (*done)(const struct relay_run *), long ms)
{
    long long deadline = clock_mono_us() + (long long)ms * 1000;

    while (!r->closed) {
        if (done && done(r))
            return 1;
        if (clock_mono_us() >= deadline)
            return 0;
        if (clock_mono_us() - r->t0_us > r->max_us && !r->timed_out) {
            r->timed_out = 1;
            return 0;
        }
        if (lws_service(r->ctx, 0) < 0)
            break;
    }
    return done ? done(r) : 0;
}

static int session_over(const struct relay_run *r)
{
    return r->ended || r->server_closed || r->failed || r->closed || r->timed_out;
}

static int reply_done(const struct relay_run *r)
{
    return r->reply.complete || session_over(r);
}

/* --- the caller ---------------------------------------------------------------------- */

/* The caller hears the current reply to its end: a little real time for the app, then a skip. */
static void hear_out(struct relay_run *r)
{
    double until, left;

    r->heard_out = 1;
    if (r->reply.start_ms < 0)
        return;
    until = r->reply.start_ms + sim_relay_reply_speaking_ms(&r->reply);
    left = until - session_ms(r);
    if (left <= 0)
        return;
    service_until(r, session_over, left < HEAR_OUT_REAL_MS ? (long)left : HEAR_OUT_REAL_MS);
    left = until - session_ms(r);
    if (left > 0)
        r->skipped_ms += left;
}

/* Waits for the app's reply to what the caller just did. */
static void wait_reply(struct relay_run *r)
{
    if (!service_until(r, reply_done, REPLY_WAIT_MS) && !session_over(r))
        relay_note(r, "wait-timeout", "no complete reply within 15 s");
}

/* A reply still being spoken is cut off by the caller's speech or keys (as interruptible allows).
 */
static void interrupt_if_speaking(struct relay_run *r, int by_speech)
{
    double now = session_ms(r), elapsed;
    size_t heard;
    json_t *ev;

    if (!sim_relay_reply_speaking(&r->reply, now) ||
        !(by_speech ? r->interrupt_speech : r->interrupt_dtmf))
        return;
    heard = sim_relay_reply_heard(&r->reply, now, &elapsed);
    show_reply(r);
    if (send_json(r, json_pack("{s:s, s:s%, s:I}", "type", "interrupt", "utteranceUntilInterrupt",
                               heard ? r->reply.text : "", heard, "durationUntilInterruptMs",
                               (json_int_t)elapsed)) != 0)
        return;
    r->interrupts++;
    ev = event(r, "interrupt");
    json_object_set_new(ev, "heard", json_stringn(heard ? r->reply.text : "", heard));
    json_object_set_new(ev, "ms", json_integer((json_int_t)elapsed));
}

/* The caller's turn begins: what the app was saying is over (heard or cut off). */
static void new_turn(struct relay_run *r)
{
    show_reply(r);
    sim_relay_reply_reset(&r->reply);
    r->heard_out = 0;
}

static void say(struct relay_run *r, const char *text)
{
    json_t *ev;

    interrupt_if_speaking(r, 1);
    new_turn(r);
    if (send_json(r, json_pack("{s:s, s:s, s:s, s:b}", "type", "prompt", "voicePrompt", text,
                               "lang", r->stt_lang, "last", 1)) != 0)
        return;
    r->prompts++;
    ev = event(r, "caller");
    json_object_set_new(ev, "says", json_string(text));
    json_object_set_new(ev, "language", json_string(r->stt_lang));
    wait_reply(r);
}

static void press(struct relay_run *r, const char *keys)
{
    json_t *ev = event(r, "caller");

    json_object_set_new(ev, "presses", json_string(keys));
    if (!r->dtmf_detection) {
        relay_note(r, "warning", "dtmfDetection is not \"true\": the keys are not sent");
        return;
    }
    interrupt_if_speaking(r, 0);
    new_turn(r);
    for (const char *k = keys; *k && !session_over(r); k++) {
        char digit[2] = {*k, '\0'};

        if (*k == 'w') {
            service_until(r, session_over, KEY_PAUSE_MS);
            continue;
        }
        if (send_json(r, json_pack("{s:s, s:s}", "type", "dtmf", "digit", digit)) != 0)
            return;
        r->digits++;
    }
    wait_reply(r);
}

/* The caller hangs up: the socket closes normally. */
static void hang_up(struct relay_run *r)
{
    if (session_over(r))
        return;
    show_reply(r);
    r->c->hung_up = 1;
    relay_note(r, "hangup", "the caller hangs up");
    if (r->wsi && !r->closing) {
        r->closing = 1;
        r->close_code = LWS_CLOSE_STATUS_NORMAL;
        lws_callback_on_writable(r->wsi);
    }
}

/* The next action of the caller (NULL: the script is over), and consuming it. */
static const struct sim_action *next_action(struct relay_run *r)
{
    struct call *c = r->c;

    if (c->o->interactive) {
        hear_out(r);
        return call_ask(c, "relay");
    }
    return c->o->script ? sim_script_peek(c->o->script) : NULL;
}

static void take(struct relay_run *r)
{
    if (!r->c->o->interactive && r->c->o->script)
        sim_script_take(r->c->o->script);
}

/* Plays the caller's side until the session is over. */
static void converse(struct relay_run *r)
{
    struct call *c = r->c;

    while (!session_over(r) && !c->failed) {
        const struct sim_action *a =
            c->o->interactive || !c->o->script ? NULL : sim_script_peek(c->o->script);

        /* Unless the caller waits (to talk over it), the reply is heard to its end. */
        if (!r->heard_out && (!a || a->kind != SIM_WAIT))
            hear_out(r);
        if (session_over(r))
            break;
        a = next_action(r);
        if (!a) {
            /* The script is over (no script: after the greeting): the caller hangs up. */
            service_until(r, session_over, HEAR_OUT_REAL_MS);
            hang_up(r);
            break;
        }
        switch (a->kind) {
        case SIM_SAY:
            take(r);
            say(r, a->text);
            break;
        case SIM_PRESS:
            take(r);
            press(r, a->text);
            break;
        case SIM_WAIT:
        case SIM_SILENCE:
            take(r);
            service_until(r, session_over,
                          a->kind == SIM_WAIT ? (long)(a->seconds * 1000) : SILENCE_MS);
            /* The caller listened this long only: their next words may cut the reply off. */
            r->heard_out = 1;
            break;
        case SIM_LISTEN:
            take(r);
            if (r->reply.start_ms < 0)
                wait_reply(r);
            hear_out(r);
            break;
        case SIM_HANGUP:
            take(r);
            hang_up(r);
            break;
        case SIM_PLAY: {
            json_t *ev = event(r, "warning");

            take(r);
            json_object_set_new(ev, "message",
                                json_sprintf("script line %d: play is not sent in a "
                                             "ConversationRelay session (Twilio transcribes "
                                             "speech: use say)",
                                             a->line));
            break;
        }
        case SIM_EXPECT_SAY: {
            long shown = r->shown_count;

            /* Not heard yet: the app may still be about to say it. */
            service_until(r, reply_done, REPLY_WAIT_MS);
            if (r->shown_count == shown && !session_over(r))
                show_reply(r);
            if (sim_script_peek(c->o->script) == a && !session_over(r)) {
                call_fail(c, 0, "script line %d: expected to hear '%s' before this point", a->line,
                          a->text);
                hang_up(r);
            }
            break;
        }
        default:
            /* dial, record, expect dial/hangup: TwiML after the session, which the app ends. */
            if (!service_until(r, session_over, REPLY_WAIT_MS)) {
                relay_note(r, "wait-timeout", "the app did not end the session within 15 s");
                hang_up(r);
            }
            break;
        }
    }
}

/* --- set-up -------------------------------------------------------------------------- */

static int parse_url(struct relay_run *r)
{
    const char *prot = NULL, *path = NULL, *auth, *auth_end;
    size_t plen;

    if (strncmp(r->url, "ws://", 5) != 0 && strncmp(r->url, "wss://", 6) != 0)
        return SB_EINVAL;
    auth = strstr(r->url, "://") + 3;
    auth_end = auth + strcspn(auth, "/?#");
    if (auth_end == auth)
        return SB_EINVAL;
    r->host = strndup(auth, (size_t)(auth_end - auth));
    r->url_copy = strdup(r->url);
    if (!r->host || !r->url_copy)
        return SB_ENOMEM;
    if (lws_parse_uri(r->url_copy, &prot, &r->address, &r->port, &path))
        return SB_EINVAL;
    r->tls = strcmp(prot, "wss") == 0 && !r->c->o->stream_plain;
    /* lws drops the leading '/' of the path. */
    plen = strlen(path);
    r->path = malloc(plen + 2);
    if (!r->path)
        return SB_ENOMEM;
    r->path[0] = '/';
    memcpy(r->path + 1, path, plen + 1);
    return 0;
}

static int connect_ws(struct relay_run *r)
{
    struct lws_context_creation_info info;
    struct lws_client_connect_info ci;

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = r;
    info.fd_limit_per_thread = 16;
    info.timeout_secs = 10;
    if (r->tls)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    lws_set_log_level(LLL_ERR, NULL);
    r->ctx = lws_create_context(&info);
    if (!r->ctx)
        return SB_ENOMEM;
    memset(&ci, 0, sizeof(ci));
    ci.context = r->ctx;
    ci.address = r->address;
    ci.port = r->port;
    ci.path = r->path;
    ci.host = r->host;
    ci.local_protocol_name = protocols[0].name;
    ci.ietf_version_or_minus_one = -1;
    ci.pwsi = &r->wsi;
    if (r->tls)
        ci.ssl_connection = LCCSCF_USE_SSL;
    lws_sul_schedule(r->ctx, 0, &r->tick_sul, on_tick, 20 * LWS_US_PER_MS);
    if (!lws_client_connect_via_info(&ci) && !r->closed) {
        relay_failed(r, "cannot connect to the relay server %s", r->url);
        r->closed = 1;
    }
    return 0;
}

/* Reads the <ConversationRelay> attributes the simulation uses. */
static void read_attributes(struct relay_run *r)
{
    const struct sim_node *n = r->relay;
    const char *lang = sim_node_attr(n, "language");
    const char *tts = sim_node_attr(n, "ttsLanguage");
    const char *stt = sim_node_attr(n, "transcriptionLanguage");
    const char *dtmf = sim_node_attr(n, "dtmfDetection");
    const char *inter = sim_node_attr(n, "interruptible");

    if (!lang || !*lang)
        lang = "en-US";
    snprintf(r->tts_lang, sizeof(r->tts_lang), "%s", tts && *tts ? tts : lang);
    snprintf(r->stt_lang, sizeof(r->stt_lang), "%s", stt && *stt ? stt : lang);
    r->dtmf_detection = dtmf && strcmp(dtmf, "true") == 0;
    /* Twilio's values: any (the default), speech, dtmf, none; and the older true/false. */
    if (!inter || !*inter)
        inter = "any";
    r->interrupt_speech =
        strcmp(inter, "any") == 0 || strcmp(inter, "speech") == 0 || strcmp(inter, "true") == 0;
    r->interrupt_dtmf =
        strcmp(inter, "any") == 0 || strcmp(inter, "dtmf") == 0 || strcmp(inter, "true") == 0;
}

static void greet(struct relay_run *r)
{
    const char *greeting = sim_node_attr(r->relay, "welcomeGreeting");

    if (!greeting || !*greeting)
        return;
    if (sim_relay_reply_add(&r->reply, greeting, 1, 0) != 0) {
        relay_failed(r, "the welcomeGreeting is longer than %d bytes", SIM_RELAY_REPLY_MAX);
        return;
    }
    show_reply(r);
}

/* Adds the session's outcome to the parameters of <Connect action>. */
static enum call_relay_status outcome(struct relay_run *r, struct form *params)
{
    enum call_relay_status status = CALL_RELAY_COMPLETED;
    char secs[32], code[16];
    const char *session_status = "completed";
    json_t *ev;
    int rc;

    if (r->ended) {
        status = CALL_RELAY_ENDED;
        session_status = "ended";
    } else if (r->failed || r->timed_out || !r->established || !r->c->hung_up) {
        /* A failure, or the app closed (or dropped) the socket without `end`. */
        status = CALL_RELAY_FAILED;
        session_status = "failed";
        if (!r->failed && r->timed_out)
            snprintf(r->error, sizeof(r->error),
                     "the session was still open when the time limit was reached");
        else if (!r->failed && r->server_closed)
            snprintf(r->error, sizeof(r->error),
                     "the relay server closed the WebSocket (code %d%s%s) without an end message",
                     r->close_code, r->close_reason[0] ? ", " : "", r->close_reason);
        else if (!r->failed)
            snprintf(r->error, sizeof(r->error),
                     "the relay server dropped the connection without a close frame");
    }
    snprintf(secs, sizeof(secs), "%.0f", session_ms(r) / 1000.0);
    snprintf(code, sizeof(code), "%d", RELAY_SOCKET_ERROR);
    {
        const char *const pairs[][2] = {
            {"SessionId", r->session_id},
            {"SessionStatus", session_status},
            {"SessionDuration", secs},
            {"HandoffData", r->ended ? r->handoff : NULL},
            {"ErrorCode", status == CALL_RELAY_FAILED ? code : NULL},
            {"ErrorMessage", status == CALL_RELAY_FAILED ? r->error : NULL},
        };

        rc = form_add_pairs(params, pairs, sizeof(pairs) / sizeof(pairs[0]));
    }
    ev = event(r, "relay");
    json_object_set_new(ev, "event", json_string("session"));
    json_object_set_new(ev, "url", json_string(r->url));
    json_object_set_new(ev, "session_id", json_string(r->session_id));
    json_object_set_new(ev, "status", json_string(session_status));
    json_object_set_new(ev, "prompts", json_integer(r->prompts));
    json_object_set_new(ev, "digits", json_integer(r->digits));
    json_object_set_new(ev, "interrupts", json_integer(r->interrupts));
    json_object_set_new(ev, "duration_s", json_real(session_ms(r) / 1000.0));
    json_object_set_new(
        ev, "detail",
        json_sprintf("session %s %s after %.1f s: %ld prompt%s, %ld digit%s, %ld interrupt%s",
                     r->session_id, session_status, session_ms(r) / 1000.0, r->prompts,
                     r->prompts == 1 ? "" : "s", r->digits, r->digits == 1 ? "" : "s",
                     r->interrupts, r->interrupts == 1 ? "" : "s"));
    if (status == CALL_RELAY_FAILED)
        call_fail_later(r->c, RELAY_SOCKET_ERROR, "conversation relay: %s", r->error);
    if (rc)
        call_fail(r->c, 0, "out of memory building the <Connect action> request");
    return status;
}

enum call_relay_status call_relay(struct call *c, const struct sim_node *relay, struct form *params)
{
    struct relay_run r;
    enum call_relay_status status = CALL_RELAY_FAILED;
    int rc;

    memset(&r, 0, sizeof(r));
    r.c = c;
    r.relay = relay;
    r.url = sim_node_attr(relay, "url");
    r.base_ms = c->clock_ms;
    r.t0_us = clock_mono_us();
    r.max_us =
        (long long)(c->o->stream_max_ms > 0 ? c->o->stream_max_ms : SIM_STREAM_DEFAULT_MAX_MS) *
        1000;
    r.reply = (struct sim_relay_reply)SIM_RELAY_REPLY_INIT;
    r.out = (struct ws_queue)WS_QUEUE_INIT(RELAY_MAX_QUEUED);
    buf_init(&r.rx, RELAY_MAX_MESSAGE);
    sim_url_speaker(c->doc_url, r.speaker, sizeof(r.speaker));
    call_new_sid(c, "VX", r.session_id, sizeof(r.session_id));
    read_attributes(&r);
    if (!r.url || !*r.url) {
        call_fail(c, 0, "<ConversationRelay> has no url");
        goto out;
    }
    rc = parse_url(&r);
    if (rc) {
        call_fail(c, 0,
                  rc == SB_ENOMEM ? "out of memory"
                                  : "<ConversationRelay> url '%s' is not a wss:// URL",
                  r.url);
        goto out;
    }
    /* Signed over the URL exactly as the TwiML wrote it, without parameters. */
    if (c->o->token) {
        if (sig_compute(c->o->token, r.url, NULL, r.sig) != 0) {
            call_fail(c, 0, "cannot sign the relay url");
            goto out;
        }
        r.have_sig = 1;
    }
    greet(&r);
    if (connect_ws(&r) != 0) {
        call_fail(c, 0, "cannot create a libwebsockets context");
        goto out;
    }
    while (!r.established && !r.closed && !r.failed && !r.timed_out)
        service_until(&r, NULL, 20);
    if (r.established) {
        relay_note(&r, "connected", r.url);
        converse(&r);
        if (!r.closed && !r.closing)
            hang_up(&r);
        /* The closing handshake, bounded. */
        {
            long long until = clock_mono_us() + CLOSE_GRACE_MS * 1000LL;

            while (!r.closed && clock_mono_us() < until)
                if (lws_service(r.ctx, 0) < 0)
                    break;
        }
    }
    show_reply(&r);
    status = outcome(&r, params);
    c->clock_ms = r.base_ms + session_ms(&r);
out:
    if (r.ctx) {
        lws_sul_schedule(r.ctx, 0, &r.tick_sul, NULL, LWS_SET_TIMER_USEC_CANCEL);
        r.destroying = 1;
        lws_context_destroy(r.ctx);
    }
    ws_queue_release(&r.out);
    buf_release(&r.rx);
    sim_relay_reply_release(&r.reply);
    free(r.handoff);
    free(r.url_copy);
    free(r.host);
    free(r.path);
    return c->failed ? CALL_RELAY_FAILED : status;
}
