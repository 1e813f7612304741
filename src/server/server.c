#include "server/server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "net/listen.h"
#include "server/conn_limits.h"
#include "server/loop_clock.h"
#include "server/conversations.h"
#include "server/outbound.h"
#include "server/relay.h"
#include "server/routes_watch.h"
#include "server/server_internal.h"
#include "server/stream.h"
#include "server/stream_cloud.h"
#include "server/stream_listen.h"
#include "server/workers.h"
#include "store/target.h"
#include "core/banned.h"

/* How often the loop checks for a signal and for routing changes. */
#define TICK_US (250 * LWS_US_PER_MS)
/* With routing changes pushed (PostgreSQL), the version is still read every 5 s. */
#define ROUTES_SAFETY_TICKS 20
/* How long in-flight requests get to finish after SIGTERM. */
#define DRAIN_US (10 * LWS_USEC_PER_SEC)

/* The voice layer's clock: the system's, moved by --clock. */
static long long server_voice_now(void *arg)
{
    const struct server *srv = arg;

    return (long long)time(NULL) + srv->clock_offset;
}

void server_refresh_routes(struct server *srv, const char *source)
{
    long long before = srv->routes.version;
    int rc = routes_refresh(&srv->routes, srv->store);

    if (rc) {
        log_event(LOG_ERROR, "routes.refresh_failed", "error=\"%s\"", sb_strerror(rc));
        return;
    }
    if (srv->routes.version == before)
        return;
    /* Flow changes move the same version: reload them with the numbers. */
    rc = flow_cache_load(&srv->flows, srv->store);
    if (rc)
        log_event(LOG_ERROR, "flows.load_failed", "error=\"%s\"", sb_strerror(rc));
    conversations_reload(srv);
    log_event(LOG_INFO, "routes.loaded", "numbers=%zu tenants=%zu flows=%zu version=%lld source=%s",
              srv->routes.count, srv->routes.ntenants, srv->flows.count, srv->routes.version,
              source);
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    struct server *srv = lws_container_of(sul, struct server, tick);

    /* Pushed changes make the poll a safety net: every ROUTES_SAFETY_TICKS ticks. */
    if (!srv->draining && (!routes_watch_live(srv->routes_watch) ||
                           ++srv->routes_poll_ticks >= ROUTES_SAFETY_TICKS)) {
        srv->routes_poll_ticks = 0;
        server_refresh_routes(srv, "poll");
    }
    conversations_tick(srv);
    outbound_kick(srv->outbound);
    relay_tick(srv);
    stream_agents_tick(srv);
    lws_sul_schedule(srv->lws, 0, &srv->tick, on_tick, TICK_US);
}

static const struct lws_protocols protocols[] = {
    {"http", http_callback, sizeof(struct http_session), 0, 0, NULL, 0},
    {LOOP_CLOCK_PROTOCOL, loop_clock_callback, 0, 0, 0, NULL, 0},
    {HTTP_FALLBACK_PROTOCOL, http_fallback_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static int context_create(struct server *srv)
{
    struct lws_context_creation_info info;
    const struct config *cfg = srv->cfg;

    net_listen_info(&info, cfg->listen_host, cfg->listen_port, protocols, srv);
    /* Connect, or the end of the previous answer, to the end of the next request's headers. */
    info.timeout_secs_ah_idle = (unsigned int)cfg->header_timeout_s;
    info.keepalive_timeout = cfg->header_timeout_s;
    /* Room for a 2 KiB path and Twilio's headers; a longer path is answered 414. */
    info.max_http_header_data = HTTP_MAX_HEADERS;
    /* Not HTTP at all (an unknown method): answered by http_fallback_callback. */
    info.options |= LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG;
    info.listen_accept_role = "raw-skt";
    info.listen_accept_protocol = HTTP_FALLBACK_PROTOCOL;
    info.options |= LWS_SERVER_OPTION_VALIDATE_UTF8;
    srv->lws = lws_create_context(&info);
    if (!srv->lws)
        return SB_EIO;
    deadline_queue_init(&srv->body_deadlines, srv->lws,
                        (lws_usec_t)cfg->body_timeout_s * LWS_US_PER_SEC,
                        http_body_deadline_expired);
    return 0;
}

/* Keeps serving until every accepted request is answered or the deadline passes. */
static void drain(struct server *srv)
{
    long long deadline = clock_mono_us() + DRAIN_US;

    srv->draining = 1;
    log_event(LOG_INFO, "server.draining", "inflight=%d streams=%zu", srv->inflight, srv->nstreams);
    stream_close_all(srv);
    relay_close_all(srv);
    while ((srv->inflight > 0 || srv->nstreams > 0 || srv->nrelays > 0) &&
           clock_mono_us() < deadline) {
        if (lws_service(srv->lws, 0) < 0)
            break;
    }
    if (srv->inflight > 0)
        log_event(LOG_WARN, "server.drain_timeout", "unanswered=%d", srv->inflight);
}

int server_run(const struct config *cfg)
{
    struct server *srv = NULL;
    char errbuf[128];
    char db_shown[STORE_TARGET_DISPLAY_MAX];
    int rc;

    lws_set_log_level(LLL_ERR, NULL);
    srv = calloc(1, sizeof(*srv));
    if (!srv)
        return SB_ENOMEM;
    srv->cfg = cfg;
    srv->clock_fd = -1;
    srv->routes = (struct routes)ROUTES_INIT;
    srv->flows = (struct flow_cache)FLOW_CACHE_INIT;
    pthread_mutex_init(&srv->done_lock, NULL);

    rc = sig_key_new(&srv->sig_key, cfg->auth_token);
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot key the auth token: %s\"",
                  sb_strerror(rc));
        goto out;
    }
    store_target_display(cfg->db_path, db_shown, sizeof(db_shown));
    rc = store_open(&srv->store, cfg->db_path);
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot open store %s: %s\"", db_shown,
                  sb_strerror(rc));
        goto out;
    }
    rc = routes_refresh(&srv->routes, srv->store);
    if (!rc)
        rc = flow_cache_load(&srv->flows, srv->store);
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot load routes: %s\"",
                  sb_strerror(rc));
        goto out;
    }
    srv->flow_states = calloc(1, sizeof(*srv->flow_states));
    if (!srv->flow_states) {
        rc = SB_ENOMEM;
        goto out;
    }
    rc = writer_start(&srv->writer, cfg->db_path);
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot start writer: %s\"",
                  sb_strerror(rc));
        goto out;
    }
    rc = tts_isolated_init(&srv->tts, NULL, 2, 0, errbuf, sizeof(errbuf));
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"text-to-speech: %s\"", errbuf);
        goto out;
    }
    /* Without its model the streams keep hearing only that the caller spoke. */
    if (stt_sphinx_open(&srv->stt, NULL) != 0)
        log_event(LOG_WARN, "server.no_recognizer",
                  "reason=\"the pocketsphinx model is not installed (pocketsphinx-en-us)\"");
    rc = workers_start(&srv->workers, 2, 4096);
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot start workers: %s\"",
                  sb_strerror(rc));
        goto out;
    }
    srv->voice.stream_outcome = stream_outcome_lookup;
    srv->voice.stream_outcome_arg = srv;
    srv->voice.speculates = conversations_speculates;
    srv->voice.speculates_arg = srv;
    srv->voice.routes = &srv->routes;
    srv->voice.flows = &srv->flows;
    srv->voice.flow_states = srv->flow_states;
    srv->voice.store = srv->store;
    srv->voice.writer = srv->writer;
    srv->voice.stream_url = cfg->stream_url;
    rc = stream_token_key_init(&srv->voice.stream_key, cfg->stream_secret, cfg->auth_token);
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot key stream tokens: %s\"",
                  sb_strerror(rc));
        goto out;
    }
    srv->clock_offset = cfg->clock_offset;
    if (srv->clock_offset) {
        srv->voice.now = server_voice_now;
        srv->voice.now_arg = srv;
        log_event(LOG_WARN, "server.clock",
                  "offset_s=%lld reason=\"--clock: flows and the call log see a time that is "
                  "not the system's\"",
                  srv->clock_offset);
    }

    rc = conn_limits_init(srv);
    if (rc)
        goto out;
    rc = context_create(srv);
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot listen on %s:%d\"",
                  cfg->listen_host, cfg->listen_port);
        goto out;
    }
    rc = loop_clock_start(srv);
    if (rc)
        goto out;
    rc = routes_watch_start(&srv->routes_watch, srv, cfg->db_path);
    if (rc)
        goto out;
    rc = conversations_init(srv);
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed",
                  "error=\"cannot start the agents' HTTP client: %s\"", sb_strerror(rc));
        goto out;
    }
    {
        struct outbound_settings os = {
            cfg->db_path,          cfg->public_base_url, conversations_http(srv),
            cfg->calls_per_second, cfg->outbound_cap,    cfg->outbound_dry_run,
            cfg->outbound_allow,   cfg->clock_offset,
        };

        rc = outbound_start(&srv->outbound, &os);
        if (rc) {
            log_event(LOG_ERROR, "server.start_failed", "error=\"cannot start the placer: %s\"",
                      sb_strerror(rc));
            goto out;
        }
    }
    net_stop_on_signals(srv->lws);
    lws_sul_schedule(srv->lws, 0, &srv->tick, on_tick, TICK_US);
    log_event(LOG_INFO, "server.listening",
              "addr=%s port=%d db=%s public_base_url=%s signatures=%s numbers=%zu instance=%s "
              "routing_changes=%s",
              cfg->listen_host, cfg->listen_port, db_shown, cfg->public_base_url,
              cfg->dev ? "off" : "on", srv->routes.count, cfg->instance[0] ? cfg->instance : "-",
              srv->routes_watch ? "pushed" : "polled");
    if (cfg->dev)
        log_event(LOG_WARN, "security.dev_mode",
                  "reason=\"--dev: X-Twilio-Signature is NOT checked; never expose this\"");

    while (!net_stop_requested()) {
        long long pass_started_us = clock_mono_us();

        if (lws_service(srv->lws, 0) < 0)
            break;
        loop_clock_end_pass(srv, pass_started_us);
    }
    drain(srv);
    rc = 0;
out:
    /* Workers first (their results go nowhere now), then the writer flushes its queue. */
    workers_stop(srv->workers);
    srv->workers = NULL;

    if (srv->lws) {
        stream_drain_tts(srv); /* frees the finished syntheses nobody will play */
        stream_listen_drain(srv);
    }
    writer_stop(srv->writer);
    srv->writer = NULL;
    /*
     * The placer after the writer, whose last status callbacks it applies,
     * and before the HTTP client it sends on.
     */
    outbound_stop(srv->outbound);
    srv->outbound = NULL;
    /* Before the context: the thread wakes it. */
    routes_watch_stop(srv->routes_watch);
    srv->routes_watch = NULL;
    if (srv->lws) {
        conversations_release(srv);
        server_drain_completions(srv);
        net_stop_forget();
        lws_sul_cancel(&srv->tick);
        deadline_queue_release(&srv->body_deadlines);
        lws_context_destroy(srv->lws);
    }
    /* The streams are closed, so their cloud engines are silent: the client can go. */
    stream_cloud_shutdown(srv);
    loop_clock_stop(srv);
    /* Completions that arrived after the loop stopped belong to closed connections. */
    while (srv->done_head) {
        struct pending *p = srv->done_head;

        srv->done_head = p->next;
        if (p->detached)
            close(p->detached_fd);
        if (p->has_reply)
            reply_release(&p->reply);
        free(p);
    }
    conn_limits_release(srv);
    stream_outcomes_release(srv);
    stream_tts_cache_release(srv);
    tts_release(&srv->tts);
    stt_release(&srv->stt);
    routes_release(&srv->routes);
    flow_cache_release(&srv->flows);
    if (srv->flow_states)
        flow_states_clear(srv->flow_states);
    free(srv->flow_states);
    store_close(srv->store);
    sig_key_free(srv->sig_key);
    stream_token_key_clear(&srv->voice.stream_key);
    pthread_mutex_destroy(&srv->done_lock);
    log_event(LOG_INFO, "server.stopped", "clean=%s", rc == 0 ? "yes" : "no");
    free(srv);
    return rc;
}
