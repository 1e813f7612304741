/*
 * Routing changes pushed to the event loop. On a store that can push them
 * (PostgreSQL's LISTEN/NOTIFY: store_changes_wait), a thread with a store
 * connection of its own waits for them and wakes the loop, which reloads
 * its routes at once (every loop of the group); the loops' 250 ms poll of the routing version then
 * slows to a safety net. On SQLite there is no thread and the poll stays.
 *
 * Owns: the thread and its connection. The loops read routes_watch_take;
 * the thread only counts changes and calls lws_cancel_service.
 */
#ifndef SB_SERVER_ROUTES_WATCH_H
#define SB_SERVER_ROUTES_WATCH_H

#include "core/err.h"

struct server_group;
struct routes_watch;

/**
 * Starts watching the store at `target` for the loops of `g` (their lws
 * contexts must exist). *out is NULL, and 0 returned, when the store cannot
 * push changes. Returns 0 or SB_ENOMEM.
 */
SB_MUST_CHECK int routes_watch_start(struct routes_watch **out, struct server_group *g,
                                     const char *target);

/**
 * True when a change came since the loop last looked; `seen` is the loop's
 * own count of changes seen (starts at 0). Loop thread.
 */
int routes_watch_take(struct routes_watch *w, unsigned *seen);

/** True while the thread listens (its connection is up). Any thread. */
int routes_watch_live(const struct routes_watch *w);

/** Stops the thread and closes its connection. NULL is allowed. */
void routes_watch_stop(struct routes_watch *w);

#endif
