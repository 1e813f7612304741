/*
 * Accepting connections when several event loops share the port: each loop
 * listens on its own socket (net_listen_shared, SO_REUSEPORT), adopted into
 * its lws context as a plain descriptor. What it accepts is admitted by the
 * connection limits and handed to lws as an HTTP connection, as lws's own
 * listener does (one loop keeps lws's listener).
 *
 * Owns: nothing once started; lws closes the descriptor with the context.
 * Loop thread only.
 */
#ifndef SB_SERVER_ACCEPT_H
#define SB_SERVER_ACCEPT_H

#include <libwebsockets.h>

#include "core/err.h"

struct server;

/* The lws protocol the listening descriptor is adopted under. */
#define ACCEPT_PROTOCOL "sb-accept"

/** Adds the listening socket `fd` to srv's loop. Returns 0 or SB_EIO (fd closed). */
SB_MUST_CHECK int accept_start(struct server *srv, int fd);

/** The lws protocol callback of the listening descriptor. */
int accept_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len);

#endif
