/*
 * Connection limits: each accepted socket is admitted or refused by the
 * number of connections open in total and from its peer address
 * (--max-connections, --max-connections-per-ip). A refused socket gets a
 * plain 503 and is closed before lws ever sees it. The counts are the
 * process's (every loop's sockets), under the group's lock; the rest is the
 * loop thread's.
 */
#ifndef SB_SERVER_CONN_LIMITS_H
#define SB_SERVER_CONN_LIMITS_H

#include <libwebsockets.h>

#include "core/conn_count.h"

struct server;
struct server_group;
struct config;

/*
 * What the server keeps per accepted socket for its whole life, across the
 * requests of a keep-alive connection (lws re-creates the per-request
 * session data between them). Owned by the wsi (lws's opaque user data),
 * freed at LWS_CALLBACK_WSI_DESTROY.
 */
struct conn_info {
    unsigned char key[CONN_COUNT_KEY_MAX]; /* the peer address it counts under */
    size_t len;
    /*
     * The answer this connection waits for from another thread, if any
     * (http.c sets it once a request is deferred, the loop clears it when
     * the answer arrives); orphaned when the socket goes, even when lws let
     * go of the session first.
     */
    struct pending *pending;
};

/** The connection's info, or NULL for sockets the server did not accept itself. */
struct conn_info *conn_info_of(struct lws *wsi);

/** Sets up the process's counters from `cfg`. Returns 0, SB_EINVAL or SB_ENOMEM. */
int conn_limits_init(struct server_group *g, const struct config *cfg)
    __attribute__((warn_unused_result));

/** Lets go of a loop's peer admitted but never adopted. */
void conn_limits_forget_peer(struct server *srv);

/** Frees the process's counters. */
void conn_limits_release(struct server_group *g);

/**
 * LWS_CALLBACK_FILTER_NETWORK_CONNECTION: returns 0 to admit the socket
 * `fd` from filt->cli_addr, or -1 after answering it 503 (lws closes it).
 */
int conn_limits_filter(struct server *srv, const struct lws_filter_network_conn_args *filt, int fd);

/** LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED: ties the peer just admitted to its new connection.
 */
void conn_limits_created(struct server *srv, struct lws *wsi);

/** LWS_CALLBACK_WSI_DESTROY: releases what the connection counted. */
void conn_limits_destroyed(struct server *srv, struct lws *wsi);

#endif
