/*
 * lws tells us of an accepted socket twice, and neither time with both
 * facts: FILTER_NETWORK_CONNECTION has the peer's address but no connection
 * yet, and SERVER_NEW_CLIENT_INSTANTIATED, which follows it at once for that
 * socket, has the connection but not the address (lws clears the opaque
 * user data after WSI_CREATE, so that one is too early). The peer admitted by the first is kept
 * in srv->pending_peer until the second attaches it to the connection
 * (lws's opaque user data), where WSI_DESTROY finds it again.
 */
#include "server/conn_limits.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "server/server_internal.h"
#include "core/banned.h"

/* A refusal is logged at most once a second, with the count since the last line. */
#define REFUSAL_LOG_US 1000000LL

/* The counts are the process's, shared by its loops under the group's lock. */
static enum conn_refusal admit(struct server *srv, const struct conn_info *ref, int *open)
{
    struct server_group *g = srv->group;
    enum conn_refusal why;

    pthread_mutex_lock(&g->lock);
    why = conn_count_admit(&g->conns, ref->key, ref->len);
    *open = g->conns.total;
    pthread_mutex_unlock(&g->lock);
    return why;
}

static void release(struct server *srv, const struct conn_info *ref)
{
    struct server_group *g = srv->group;

    pthread_mutex_lock(&g->lock);
    conn_count_release(&g->conns, ref->key, ref->len);
    pthread_mutex_unlock(&g->lock);
}

int conn_limits_init(struct server_group *g, const struct config *cfg)
{
    return conn_count_init(&g->conns, cfg->max_connections, cfg->max_connections_per_ip);
}

void conn_limits_forget_peer(struct server *srv)
{
    if (srv->pending_peer)
        release(srv, srv->pending_peer);
    free(srv->pending_peer);
    srv->pending_peer = NULL;
}

void conn_limits_release(struct server_group *g)
{
    conn_count_release_all(&g->conns);
}

/* The address bytes of a peer: 4 for IPv4 (also when mapped into IPv6), 16 for IPv6. */
static size_t peer_key(const struct sockaddr_storage *ss, unsigned char *key)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

        memcpy(key, &in->sin_addr, 4);
        return 4;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            memcpy(key, in6->sin6_addr.s6_addr + 12, 4);
            return 4;
        }
        memcpy(key, in6->sin6_addr.s6_addr, 16);
        return 16;
    }
    return 0;
}

static void log_refusal(struct server *srv, enum conn_refusal why, int open)
{
    long long now = clock_mono_us();

    srv->refused_since_log++;
    if (now - srv->refused_logged_us < REFUSAL_LOG_US)
        return;
    log_event(LOG_WARN, "http.connection_refused", "reason=%s refused=%lu open=%d",
              why == CONN_TOO_MANY_TOTAL ? "max_connections" : "max_connections_per_ip",
              srv->refused_since_log, open);
    srv->refused_logged_us = now;
    srv->refused_since_log = 0;
}

/* Answers a refused socket with a plain 503; best effort, the socket is fresh and empty. */
static void answer_refusal(int fd, enum conn_refusal why)
{
    const char *body = why == CONN_TOO_MANY_TOTAL
                           ? "error: the server has too many connections open\n"
                           : "error: too many connections from your address\n";
    char msg[320];
    int n;

    n = snprintf(msg, sizeof(msg),
                 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\nRetry-After: 1\r\n\r\n%s",
                 strlen(body), body);
    if (fd >= 0 && n > 0 && (size_t)n < sizeof(msg) && write(fd, msg, (size_t)n) < 0)
        return; /* the peer is gone already: nothing to tell */
}

int conn_limits_filter(struct server *srv, const struct lws_filter_network_conn_args *filt, int fd)
{
    struct conn_info *ref;
    enum conn_refusal why;
    int open = 0;

    /* An admitted peer whose adoption failed never reached its instantiation: let it go. */
    conn_limits_forget_peer(srv);
    ref = calloc(1, sizeof(*ref));
    if (!ref)
        return -1;
    ref->len = filt ? peer_key(&filt->cli_addr, ref->key) : 0;
    why = admit(srv, ref, &open);
    if (why != CONN_OK) {
        free(ref);
        log_refusal(srv, why, open);
        answer_refusal(fd, why);
        return -1;
    }
    srv->pending_peer = ref;
    return 0;
}

void conn_limits_created(struct server *srv, struct lws *wsi)
{
    if (!srv->pending_peer)
        return;
    lws_set_opaque_user_data(wsi, srv->pending_peer);
    srv->pending_peer = NULL;
}

void conn_limits_destroyed(struct server *srv, struct lws *wsi)
{
    struct conn_info *ref = lws_get_opaque_user_data(wsi);

    if (!ref)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    if (ref->pending)
        ref->pending->orphaned = 1;
    release(srv, ref);
    free(ref);
}

struct conn_info *conn_info_of(struct lws *wsi)
{
    return wsi ? lws_get_opaque_user_data(wsi) : NULL;
}
