/*
 * A listening libwebsockets context, as the server and the sim's REST API
 * open one; listening sockets several event loops share (SO_REUSEPORT);
 * and stopping the loops on SIGTERM or SIGINT.
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
 * Opens `n` listening TCP sockets, nonblocking, all bound to host:port
 * with SO_REUSEPORT, so that the kernel spreads new connections among
 * them (one per event loop). lws 4.1 built without its SMP support
 * (Debian's) never sets SO_REUSEPORT itself, so the server opens these and
 * adopts what they accept. The port is first bound alone, without the
 * option: a port another program holds (even one that shares it) is
 * refused, never joined. Port 0 picks a free port for all. Returns 0 with
 * the descriptors in fds, or -1 with a plain reason in `err`.
 */
int net_listen_shared(const char *host, int port, int *fds, int n, char *err, size_t errlen);

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
