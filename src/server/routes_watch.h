/*
 * Routing changes pushed to the event loop. On a store that can push them
 * (PostgreSQL's LISTEN/NOTIFY: store_changes_wait), a thread with a store
 * connection of its own waits for them and wakes the loop, which reloads
 * its routes at once; the loop's 250 ms poll of the routing version then
 * slows to a safety net. On SQLite there is no thread and the poll stays.
 *
 * Owns: the thread and its connection. The loop reads routes_watch_take;
 * the thread only sets the flag and calls lws_cancel_service.
 */
#ifndef SB_SERVER_ROUTES_WATCH_H
#define SB_SERVER_ROUTES_WATCH_H

#include "core/err.h"

struct server;
struct routes_watch;

/**
 * Starts watching the store at `target` for the loop of `srv` (its lws
 * context must exist). *out is NULL, and 0 returned, when the store cannot
 * push changes. Returns 0 or SB_ENOMEM.
 */
SB_MUST_CHECK int routes_watch_start(struct routes_watch **out, struct server *srv,
                                     const char *target);

/** True (once per change) when a change came since the last call. Loop thread. */
int routes_watch_take(struct routes_watch *w);

/** True while the thread listens (its connection is up). Any thread. */
int routes_watch_live(const struct routes_watch *w);

/** Stops the thread and closes its connection. NULL is allowed. */
void routes_watch_stop(struct routes_watch *w);

#endif
