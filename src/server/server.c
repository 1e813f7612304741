#include "server/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "net/listen.h"
#include "server/accept.h"
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

/* Points the voice layer at the loop's routing snapshot, after it changed. */
static void loop_voice_routing(struct server *srv)
{
    srv->voice.routes = &srv->routing->routes;
    srv->voice.flows = &srv->routing->flows;
}

/* The loop now reads another snapshot: the voice layer follows, and the log says so. */
static void routing_changed(struct server *srv, int loaded, const char *source)
{
    const struct routing *r = srv->routing;

    loop_voice_routing(srv);
    /* The loop that loaded the change says so; the others, taking it, only at debug. */
    log_event(loaded ? LOG_INFO : LOG_DEBUG, "routes.loaded",
              "numbers=%zu tenants=%zu flows=%zu agents=%zu version=%lld source=%s loop=%d",
              r->routes.count, r->routes.ntenants, r->flows.count, r->nagents, r->routes.version,
              source, srv->index);
}

void server_refresh_routes(struct server *srv, const char *source)
{
    const struct routing *before = srv->routing;
    struct server_group *g = srv->group;
    int loaded = 0;
    int rc = routing_take(&g->routing, srv->store, &srv->routing, &loaded);

    if (rc) {
        /* Not left to the safety poll: a notification is taken once, and its change is owed. */
        if (!srv->routes_owed)
            log_event(LOG_ERROR, "routes.refresh_failed", "error=\"%s\" source=%s", sb_strerror(rc),
                      source);
        srv->routes_owed = source;
        return;
    }
    srv->routes_owed = NULL;
    /* The other loops take what this one loaded now, not at their next look. */
    for (int i = 0; loaded && i < g->nloops; i++) {
        if (g->loops[i] != srv && g->loops[i]->lws)
            lws_cancel_service(g->loops[i]->lws);
    }
    if (srv->routing != before)
        routing_changed(srv, loaded, source);
}

void server_adopt_routes(struct server *srv)
{
    if (routing_adopt(&srv->group->routing, &srv->routing))
        routing_changed(srv, 0, "loop");
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    struct server *srv = lws_container_of(sul, struct server, tick);

    /* Pushed changes make the poll a safety net: every ROUTES_SAFETY_TICKS ticks. A refresh
     * that failed (the store was down) is tried again every tick, under its own source. */
    if (!srv->draining && (srv->routes_owed || !routes_watch_live(srv->routes_watch) ||
                           ++srv->routes_poll_ticks >= ROUTES_SAFETY_TICKS)) {
        srv->routes_poll_ticks = 0;
        server_refresh_routes(srv, srv->routes_owed ? srv->routes_owed : "poll");
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
    {ACCEPT_PROTOCOL, accept_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int server_raw_reason(enum lws_callback_reasons reason)
{
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        return 1;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    case LWS_CALLBACK_ESTABLISHED:
        return -1;
    default:
        return 0;
    }
}

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
    /*
     * Several loops: each listens on its own socket on the port
     * (SO_REUSEPORT, server/accept.c), which lws 4.1 cannot open itself.
     */
    if (srv->group->nloops > 1)
        info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    srv->lws = lws_create_context(&info);
    if (!srv->lws)
        return SB_EIO;
    deadline_queue_init(&srv->body_deadlines, srv->lws,
                        (lws_usec_t)cfg->body_timeout_s * LWS_US_PER_SEC,
                        http_body_deadline_expired);
    return 0;
}

/* Requests accepted by any loop and not yet answered: a handed-over one needs two loops. */
static int group_inflight(const struct server_group *g)
{
    int n = 0;

    for (int i = 0; i < g->nloops; i++)
        n += __atomic_load_n(&g->loops[i]->inflight, __ATOMIC_RELAXED);
    return n;
}

/* Keeps serving until every accepted request is answered or the deadline passes. */
static void drain(struct server *srv)
{
    long long deadline = clock_mono_us() + DRAIN_US;

    srv->draining = 1;
    log_event(LOG_INFO, "server.draining", "loop=%d inflight=%d streams=%zu", srv->index,
              __atomic_load_n(&srv->inflight, __ATOMIC_RELAXED), srv->nstreams);
    stream_close_all(srv);
    relay_close_all(srv);
    while ((group_inflight(srv->group) > 0 || srv->nstreams > 0 || srv->nrelays > 0) &&
           clock_mono_us() < deadline) {
        if (lws_service(srv->lws, 0) < 0)
            break;
    }
    if (__atomic_load_n(&srv->inflight, __ATOMIC_RELAXED) > 0)
        log_event(LOG_WARN, "server.drain_timeout", "loop=%d unanswered=%d", srv->index,
                  __atomic_load_n(&srv->inflight, __ATOMIC_RELAXED));
}

/* Serves until a termination signal, then drains. The loop's own thread. */
static void loop_serve(struct server *srv)
{
    struct server_group *g = srv->group;

    lws_sul_schedule(srv->lws, 0, &srv->tick, on_tick, TICK_US);
    while (!net_stop_requested()) {
        long long pass_started_us = clock_mono_us();

        if (lws_service(srv->lws, 0) < 0)
            break;
        loop_clock_end_pass(srv, pass_started_us);
    }
    /* The signal woke one loop: wake the others rather than wait for their tick. */
    for (int i = 0; i < g->nloops; i++) {
        if (g->loops[i] != srv)
            lws_cancel_service(g->loops[i]->lws);
    }
    drain(srv);
}

static void *loop_main(void *arg)
{
    loop_serve(arg);
    return NULL;
}

/*
 * What every loop has of its own: the signature key (a MAC state), a read
 * connection, the routing, flow and agent caches, the flows' states in
 * memory, the lws context and its listening socket, the loop clock, the
 * Gather conversations and their HTTP client. `first` (NULL for loop 0)
 * lends the parts loop 0 created for all.
 */
static int loop_open(struct server *srv, const struct server *first)
{
    const struct config *cfg = srv->cfg;
    char db_shown[STORE_TARGET_DISPLAY_MAX];
    int rc;

    srv->clock_fd = -1;
    pthread_mutex_init(&srv->done_lock, NULL);
    pthread_mutex_init(&srv->metrics.lock, NULL);
    if (first) {
        srv->writer = first->writer;
        srv->workers = first->workers;
        srv->tts = first->tts;
        srv->stt = first->stt;
        srv->outbound = first->outbound;
    }
    rc = sig_key_new(&srv->sig_key, cfg->auth_token);
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot key the auth token: %s\"",
                  sb_strerror(rc));
        return rc;
    }
    store_target_display(cfg->db_path, db_shown, sizeof(db_shown));
    rc = store_open(&srv->store, cfg->db_path);
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot open store %s: %s\"", db_shown,
                  sb_strerror(rc));
        return rc;
    }
    rc = routing_take(&srv->group->routing, srv->store, &srv->routing, NULL);
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot load routes: %s\"",
                  sb_strerror(rc));
        return rc;
    }
    srv->flow_states = calloc(1, sizeof(*srv->flow_states));
    if (!srv->flow_states)
        return SB_ENOMEM;
    rc = stream_token_key_init(&srv->voice.stream_key, cfg->stream_secret, cfg->auth_token);
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot key stream tokens: %s\"",
                  sb_strerror(rc));
        return rc;
    }
    srv->clock_offset = cfg->clock_offset;
    return 0;
}

/*
 * The loop's lws context, listening (its own socket `fd` when several loops
 * share the port, else lws's listener), and its clock: the last step of
 * starting, so that the port takes connections only once they are served.
 */
static int loop_listen(struct server *srv, int fd)
{
    const struct config *cfg = srv->cfg;
    int rc = context_create(srv);

    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot listen on %s:%d\"",
                  cfg->listen_host, cfg->listen_port);
        if (fd >= 0)
            close(fd);
        return rc;
    }
    if (fd >= 0 && (rc = accept_start(srv, fd)) != 0)
        return rc;
    return loop_clock_start(srv);
}

/* The voice layer's view of the loop; the writer must exist. */
static void loop_voice(struct server *srv)
{
    const struct config *cfg = srv->cfg;

    srv->voice.stream_outcome = stream_outcome_lookup;
    srv->voice.stream_outcome_arg = srv;
    srv->voice.speculates = conversations_speculates;
    srv->voice.speculates_arg = srv;
    loop_voice_routing(srv);
    srv->voice.flow_states = srv->flow_states;
    srv->voice.store = srv->store;
    srv->voice.writer = srv->writer;
    srv->voice.stream_url = cfg->stream_url;
    if (srv->clock_offset) {
        srv->voice.now = server_voice_now;
        srv->voice.now_arg = srv;
    }
}

/* Loop 0's threads that every loop shares: the writer, the synthesizers and recognizer, the
 * workers. */
static int shared_start(struct server *srv)
{
    const struct config *cfg = srv->cfg;
    char errbuf[128];
    int rc;

    rc = writer_start(&srv->writer, cfg->db_path);
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot start writer: %s\"",
                  sb_strerror(rc));
        return rc;
    }
    rc = tts_isolated_init(&srv->tts, NULL, 2, 0, errbuf, sizeof(errbuf));
    if (rc) {
        log_event(LOG_ERROR, "server.start_failed", "error=\"text-to-speech: %s\"", errbuf);
        return rc;
    }
    /* Without its model the streams keep hearing only that the caller spoke. */
    if (stt_sphinx_open(&srv->stt, NULL) != 0)
        log_event(LOG_WARN, "server.no_recognizer",
                  "reason=\"the pocketsphinx model is not installed (pocketsphinx-en-us)\"");
    rc = workers_start(&srv->workers, 2, 4096);
    if (rc)
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot start workers: %s\"",
                  sb_strerror(rc));
    return rc;
}

/* The placer, started once the first loop's HTTP client exists (it sends on it). */
static int placer_start(struct server *srv)
{
    const struct config *cfg = srv->cfg;
    struct outbound_settings os = {
        cfg->db_path,      cfg->public_base_url,  conversations_http(srv), cfg->calls_per_second,
        cfg->outbound_cap, cfg->outbound_dry_run, cfg->outbound_allow,     cfg->clock_offset,
    };
    int rc = outbound_start(&srv->outbound, &os);

    if (rc)
        log_event(LOG_ERROR, "server.start_failed", "error=\"cannot start the placer: %s\"",
                  sb_strerror(rc));
    return rc;
}

static int agents_start(struct server *srv)
{
    int rc = conversations_init(srv);

    if (rc)
        log_event(LOG_ERROR, "server.start_failed",
                  "error=\"cannot start the agents' HTTP client: %s\"", sb_strerror(rc));
    return rc;
}

/* Before the contexts go: what still runs on the loops' results. */
static void loop_quiesce(struct server *srv)
{
    if (!srv->lws)
        return;
    stream_drain_tts(srv); /* frees the finished syntheses nobody will play */
    stream_listen_drain(srv);
}

static void loop_close_context(struct server *srv)
{
    if (!srv->lws)
        return;
    server_drain_completions(srv);
    lws_sul_cancel(&srv->tick);
    deadline_queue_release(&srv->body_deadlines);
    lws_context_destroy(srv->lws);
}

/* Completions that arrived after the loop stopped belong to closed connections. */
static void loop_free(struct server *srv, int owns_shared)
{
    while (srv->done_head) {
        struct pending *p = srv->done_head;

        srv->done_head = p->next;
        if (p->detached)
            close(p->detached_fd);
        if (p->has_reply)
            reply_release(&p->reply);
        free(p);
    }
    conn_limits_forget_peer(srv);
    stream_take_replacements(srv); /* no stream is left: only frees the requests */
    if (owns_shared) {
        tts_release(&srv->tts);
        stt_release(&srv->stt);
    }
    routing_put(&srv->group->routing, srv->routing);
    if (srv->flow_states)
        flow_states_clear(srv->flow_states);
    free(srv->flow_states);
    store_close(srv->store);
    sig_key_free(srv->sig_key);
    stream_token_key_clear(&srv->voice.stream_key);
    pthread_mutex_destroy(&srv->metrics.lock);
    pthread_mutex_destroy(&srv->done_lock);
    free(srv);
}

int server_run(const struct config *cfg)
{
    struct server_group group;
    struct server *srv;
    pthread_t *threads = NULL;
    int *listen_fds = NULL;
    int nthreads = 0;
    char db_shown[STORE_TARGET_DISPLAY_MAX];
    int rc, n = cfg->threads > 0 ? cfg->threads : 1;

    lws_set_log_level(LLL_ERR, NULL);
    memset(&group, 0, sizeof(group));
    pthread_mutex_init(&group.lock, NULL);
    routing_shared_init(&group.routing);
    group.loops = calloc((size_t)n, sizeof(*group.loops));
    threads = calloc((size_t)n, sizeof(*threads));
    listen_fds = malloc((size_t)n * sizeof(*listen_fds));
    if (!group.loops || !threads || !listen_fds) {
        free(group.loops);
        free(threads);
        free(listen_fds);
        routing_shared_release(&group.routing);
        pthread_mutex_destroy(&group.lock);
        return SB_ENOMEM;
    }
    for (int i = 0; i < n; i++)
        listen_fds[i] = -1;
    rc = conn_limits_init(&group, cfg);
    for (int i = 0; i < n && !rc; i++) {
        group.loops[i] = calloc(1, sizeof(struct server));
        if (!group.loops[i]) {
            rc = SB_ENOMEM;
            break;
        }
        group.loops[i]->cfg = cfg;
        group.loops[i]->group = &group;
        group.loops[i]->index = i;
        group.nloops = i + 1;
    }
    srv = group.loops[0];
    if (rc)
        goto out;
    /* Loop 0 first: a store that cannot be opened is named by its own message. */
    rc = loop_open(srv, NULL);
    if (!rc)
        rc = shared_start(srv);
    for (int i = 1; i < n && !rc; i++)
        rc = loop_open(group.loops[i], srv);
    if (!rc)
        rc = agents_start(srv);
    if (!rc)
        rc = placer_start(srv);
    for (int i = 1; i < n && !rc; i++) {
        group.loops[i]->outbound = srv->outbound;
        rc = agents_start(group.loops[i]);
    }
    if (!rc && n > 1) {
        char why[256];

        if (net_listen_shared(cfg->listen_host, cfg->listen_port, listen_fds, n, why,
                              sizeof(why)) != 0) {
            log_event(LOG_ERROR, "server.start_failed", "error=\"%s\"", why);
            rc = SB_EIO;
        }
    }
    for (int i = 0; i < n && !rc; i++) {
        rc = loop_listen(group.loops[i], listen_fds[i]);
        listen_fds[i] = -1; /* the loop's now, or closed */
    }
    if (!rc)
        rc = routes_watch_start(&srv->routes_watch, &group, cfg->db_path);
    if (rc)
        goto out;
    for (int i = 0; i < n; i++) {
        group.loops[i]->routes_watch = srv->routes_watch;
        loop_voice(group.loops[i]);
    }
    if (srv->clock_offset)
        log_event(LOG_WARN, "server.clock",
                  "offset_s=%lld reason=\"--clock: flows and the call log see a time that is "
                  "not the system's\"",
                  srv->clock_offset);
    net_stop_on_signals(srv->lws);
    store_target_display(cfg->db_path, db_shown, sizeof(db_shown));
    log_event(LOG_INFO, "server.listening",
              "addr=%s port=%d db=%s public_base_url=%s signatures=%s numbers=%zu instance=%s "
              "routing_changes=%s threads=%d",
              cfg->listen_host, cfg->listen_port, db_shown, cfg->public_base_url,
              cfg->dev ? "off" : "on", srv->routing->routes.count,
              cfg->instance[0] ? cfg->instance : "-", srv->routes_watch ? "pushed" : "polled", n);
    if (cfg->dev)
        log_event(LOG_WARN, "security.dev_mode",
                  "reason=\"--dev: X-Twilio-Signature is NOT checked; never expose this\"");

    {
        /* The other loops' threads take no signals: the handler runs on this one. */
        sigset_t all, old;

        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        for (int i = 1; i < n; i++) {
            if (pthread_create(&threads[i], NULL, loop_main, group.loops[i]) != 0) {
                log_event(LOG_ERROR, "server.loop_failed",
                          "loop=%d error=\"cannot start its thread\"", i);
                break;
            }
            nthreads = i;
            {
                char name[16];

                snprintf(name, sizeof(name), "sb-loop-%d", i % 1000); /* 15 bytes at most */
                pthread_setname_np(threads[i], name);
            }
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    loop_serve(srv);
    for (int i = 1; i <= nthreads; i++)
        pthread_join(threads[i], NULL);
    rc = 0;
out:
    /* Workers first (their results go nowhere now), then the writer flushes its queue. */
    workers_stop(srv ? srv->workers : NULL);
    for (int i = 0; i < group.nloops; i++) {
        group.loops[i]->workers = NULL;
        loop_quiesce(group.loops[i]);
    }
    if (srv) {
        writer_stop(srv->writer);
        /*
         * The placer after the writer, whose last status callbacks it applies,
         * and before the HTTP client it sends on.
         */
        outbound_stop(srv->outbound);
        /* Before the contexts: the thread wakes them. */
        routes_watch_stop(srv->routes_watch);
    }
    for (int i = 0; i < group.nloops; i++) {
        group.loops[i]->writer = NULL;
        group.loops[i]->outbound = NULL;
        group.loops[i]->routes_watch = NULL;
    }
    net_stop_forget();
    /*
     * Every loop's conversations before any context: a conversation ending
     * answers its waiting webhook, which may be another loop's (handed over).
     */
    for (int i = 0; i < group.nloops; i++)
        conversations_release(group.loops[i]);
    for (int i = 0; i < group.nloops; i++)
        loop_close_context(group.loops[i]);
    for (int i = 0; i < group.nloops; i++) {
        /* The streams are closed, so their cloud engines are silent: the client can go. */
        stream_cloud_shutdown(group.loops[i]);
        loop_clock_stop(group.loops[i]);
        server_drop_handoffs(group.loops[i]);
    }
    for (int i = group.nloops - 1; i >= 0; i--)
        loop_free(group.loops[i], i == 0);
    stream_outcomes_release(&group);
    stream_live_release(&group);
    stream_tts_cache_release(&group);
    conn_limits_release(&group);
    routing_shared_release(&group.routing);
    pthread_mutex_destroy(&group.lock);
    for (int i = 0; i < n; i++) {
        if (listen_fds[i] >= 0)
            close(listen_fds[i]);
    }
    free(listen_fds);
    free(group.loops);
    free(threads);
    log_event(LOG_INFO, "server.stopped", "clean=%s", rc == 0 ? "yes" : "no");
    return rc;
}
