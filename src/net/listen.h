/*
 * A listening libwebsockets context, as the server and the sim's REST API
 * open one, and stopping its loop on SIGTERM or SIGINT.
 */
#ifndef SB_NET_LISTEN_H
#define SB_NET_LISTEN_H

#include <libwebsockets.h>

/**
 * Fills `info` (cleared first) to listen on host:port with `protocols`;
 * `user` becomes the context's user data (lws_context_user). IPv6 is off
 * unless `host` is an IPv6 address: otherwise lws binds the dual-stack
 * wildcard even for 127.0.0.1. The caller adds its own timeouts and
 * options, then calls lws_create_context. `host` and `protocols` must
 * outlive the context.
 */
void net_listen_info(struct lws_context_creation_info *info, const char *host, int port,
                     const struct lws_protocols *protocols, void *user);

/**
 * From now on SIGTERM and SIGINT set the flag net_stop_requested reads and
 * wake `ctx`'s loop (lws_cancel_service only writes to its event pipe);
 * SIGPIPE is ignored. One context per process: the handler keeps it in a
 * static, the one place a signal can find it.
 */
void net_stop_on_signals(struct lws_context *ctx);

/** Nonzero once SIGTERM or SIGINT arrived. */
int net_stop_requested(void);

/** Forgets the context (call before destroying it); the flag stays. */
void net_stop_forget(void);

#endif
