/*
 * The switchboard server: one libwebsockets event loop that owns every
 * socket, the store writer thread, and the routing cache. server_run blocks
 * until SIGTERM or SIGINT, then finishes in-flight requests, flushes pending
 * writes and returns.
 */
#ifndef SB_SERVER_SERVER_H
#define SB_SERVER_SERVER_H

#include "server/config.h"

/**
 * Runs the server with `cfg` until a termination signal. Returns 0 after a
 * clean shutdown, or a negative SB_E* code when it could not start (the
 * reason is logged).
 */
int server_run(const struct config *cfg);

#endif
