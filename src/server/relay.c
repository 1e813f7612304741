#include "server/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/llm.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/stream_token.h"
#include "media/relay.h"
#include "net/ws_queue.h"
#include "server/conversations.h"
#include "server/server_internal.h"
#include "voice/call_context.h"
#include "core/banned.h"

/* Outbound messages queued on one socket at most: a reader that stops reading is cut off. */
#define RELAY_MAX_QUEUED 1024
/* A session asked to close is killed if its closing handshake has not ended by then. */
#define CLOSE_GRACE_S 10

struct relay_conn {
    struct relay_conn *next;
    struct lws *wsi;
    struct server *srv;
    struct relay_session session;
    struct agent_link link; /* the LLM agent's hooks */
    struct buf rx;
    struct ws_queue out;
    int closing;
    int close_code;
    char close_reason[96];
    long long opened_us;
    long long last_rx_us;
    int started;
};

static int io_send(void *arg, const char *text, size_t len)
{
    struct relay_conn *c = arg;
    int rc = ws_queue_push(&c->out, text, len);

    if (rc)
        return rc;
    lws_callback_on_writable(c->wsi);
    return 0;
}

static void io_close(void *arg, int code, const char *reason)
{
    struct relay_conn *c = arg;

    if (c->closing)
        return;
    c->closing = 1;
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
    lws_callback_on_writable(c->wsi);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_GRACE_S);
}

/* The setup message: check the binding, find the call's agent, start the session. */
static void io_started(void *arg, struct relay_session *s, const struct relay_setup *setup)
{
    struct relay_conn *c = arg;
    struct server *srv = c->srv;
    const struct route *route;
    struct agent_call call;
    struct llm_settings llm;
    const struct agent_ops *ops = &agent_rules_ops;
    char greeting_lang[36];

    if (!srv->cfg->dev &&
        stream_token_check(&srv->voice.stream_key, setup->call_sid, setup->token) != 0) {
        log_event(LOG_WARN, "security.relay_unbound", "call_sid=%s reason=\"token\"",
                  setup->call_sid);
        relay_end(s, RELAY_FAILED, 1008, "the session's token does not match its call");
        return;
    }
    route = setup->to ? routes_find(&srv->routing->routes, setup->to) : NULL;
    /* A call we placed: To is the person called, From the tenant's number. */
    if (!route && setup->from && setup->direction && strncmp(setup->direction, "outbound", 8) == 0)
        route = routes_find(&srv->routing->routes, setup->from);
    if (!route || !route->number.active) {
        relay_end(s, RELAY_FAILED, 1008, "the called number is not routed");
        return;
    }
    c->started = 1;
    snprintf(greeting_lang, sizeof(greeting_lang), "%s",
             setup->lang && *setup->lang ? setup->lang : route->tenant->default_lang);
    memset(&call, 0, sizeof(call));
    call.call_sid = setup->call_sid;
    call.tenant_name = route->tenant->name;
    call.lang = greeting_lang;
    call.can_transfer = route->tenant->transfer_number[0] != '\0';
    if (conversations_llm_named(srv, route,
                                setup->agent && *setup->agent ? setup->agent : route->number.agent,
                                &c->link, &llm) == 0) {
        call.llm = &llm;
        ops = &agent_llm_ops;
    }
    log_event(LOG_INFO, "relay.started", "call_sid=%s tenant=%s agent=%s lang=%s", setup->call_sid,
              route->tenant->name, ops->name, greeting_lang);
    (void)relay_begin(s, ops, &call, conversations_env(srv));
}

static int on_established(struct server *srv, struct lws *wsi, struct relay_conn **slot)
{
    struct relay_conn *c = calloc(1, sizeof(*c));
    struct relay_io io = {NULL, io_send, io_close, io_started};

    if (!c)
        return -1;
    c->wsi = wsi;
    c->srv = srv;
    c->opened_us = clock_mono_us();
    buf_init(&c->rx, RELAY_MESSAGE_MAX);
    c->out = (struct ws_queue)WS_QUEUE_INIT(RELAY_MAX_QUEUED);
    io.arg = c;
    relay_init(&c->session, &io);
    c->next = srv->relays;
    srv->relays = c;
    __atomic_add_fetch(&srv->nrelays, 1, __ATOMIC_RELAXED); /* /metrics reads it from any loop */
    *slot = c;
    return 0;
}

static int on_receive(struct relay_conn *c, struct lws *wsi, const void *in, size_t len)
{
    if (c->closing)
        return 0;
    if (lws_frame_is_binary(wsi)) {
        relay_end(&c->session, RELAY_FAILED, 1003, "binary frames are not relay messages");
        return 0;
    }
    if (c->rx.len || !lws_is_final_fragment(wsi)) {
        if (buf_append(&c->rx, in, len) != 0) {
            relay_end(&c->session, RELAY_FAILED, 1009, "message larger than 65536 bytes");
            return 0;
        }
        if (!lws_is_final_fragment(wsi))
            return 0;
        in = c->rx.data;
        len = c->rx.len;
    }
    c->last_rx_us = clock_mono_us();
    (void)relay_message(&c->session, in, len, c->last_rx_us);
    buf_reset(&c->rx);
    return 0;
}

static int on_writable(struct relay_conn *c, struct lws *wsi)
{
    return ws_queue_on_writable(&c->out, wsi, c->closing ? c->close_code : 0, c->close_reason);
}

static void on_closed(struct server *srv, struct relay_conn *c)
{
    struct relay_session *s = &c->session;
    struct relay_conn **pp;

    if (s->call_sid[0])
        log_event(LOG_INFO, "relay.stopped",
                  "call_sid=%s outcome=%s reason=\"%s\" turns=%ld interrupts=%ld "
                  "first_text_us=%ld",
                  s->call_sid, relay_outcome_name(s->outcome), s->reason[0] ? s->reason : "closed",
                  s->turns, s->interrupts, s->first_text_us);
    relay_release(s);
    for (pp = &srv->relays; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    __atomic_sub_fetch(&srv->nrelays, 1, __ATOMIC_RELAXED);
    ws_queue_release(&c->out);
    buf_release(&c->rx);
    free(c);
}

int relay_callback(struct server *srv, struct lws *wsi, enum lws_callback_reasons reason,
                   struct relay_conn **conn, void *in, size_t len)
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

void relay_tick(struct server *srv)
{
    long long now = clock_mono_us();
    long long start_us = (long long)srv->cfg->stream_start_timeout_s * 1000000;
    long long idle_us = (long long)srv->cfg->stream_idle_timeout_s * RELAY_IDLE_FACTOR * 1000000;

    for (struct relay_conn *c = srv->relays; c; c = c->next) {
        struct relay_session *s = &c->session;

        if (c->closing)
            continue;
        if (!c->started && now - c->opened_us > start_us) {
            relay_end(s, RELAY_FAILED, 1008, "no setup message in time");
            continue;
        }
        if (c->started && now - (c->last_rx_us ? c->last_rx_us : c->opened_us) > idle_us) {
            relay_end(s, RELAY_FAILED, 1008, "nothing from the caller in time");
            continue;
        }
        if (s->agent && s->agent->tick)
            s->agent->tick(s->agent_obj, clock_mono_ms());
    }
}

void relay_close_all(struct server *srv)
{
    for (struct relay_conn *c = srv->relays; c; c = c->next)
        relay_end(&c->session, RELAY_FAILED, 1001, "server is shutting down");
}
