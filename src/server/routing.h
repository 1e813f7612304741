/*
 * The routing snapshot every event loop reads: the numbers and tenants, the
 * compiled IVR flows and the LLM agents (with their API keys from the
 * environment), all at one routing version. One copy for the process:
 *
 *   - the first loop to see the routing version move loads the new snapshot
 *     (one load at a time, so a change is read from the store once, not
 *     once per loop; outside the lock, so a slow store holds that loop
 *     only) and publishes it; a loop that sees the change meanwhile keeps
 *     reading its snapshot, and takes the new one when the loader wakes it
 *     (routing_adopt) or at its next look;
 *   - each loop holds a reference to the snapshot it reads and keeps it
 *     until it takes a newer one, so what a callback finds in it (a route,
 *     a tenant, a flow, an agent) stays valid for as long as the loop's
 *     callback runs; the last reference frees it.
 *
 * A snapshot is never changed once published. struct routing_shared is
 * thread-safe: its lock guards `current` and every reference count.
 */
#ifndef SB_SERVER_ROUTING_H
#define SB_SERVER_ROUTING_H

#include <pthread.h>
#include <stddef.h>

#include "core/err.h"
#include "store/agents.h"
#include "store/routes.h"
#include "store/store.h"
#include "voice/flow_cache.h"

/* One agent's settings and what its API key variable held when loaded. */
struct agent_entry {
    struct agent_config cfg;
    char *api_key; /* "" when the agent names no variable */
    int usable;    /* 0: the variable it names is not set */
};

struct routing {
    struct routes routes;
    struct flow_cache flows;
    struct agent_entry *agents;
    size_t nagents;
    int refs;                      /* guarded by the routing_shared's lock */
    unsigned long long generation; /* routing_shared.loads when it was published */
};

struct routing_shared {
    pthread_mutex_t lock;
    pthread_cond_t loaded;    /* a load ended (a loop with no snapshot yet waits for it) */
    struct routing *current;  /* the newest, holding a reference of its own; NULL before a load */
    int loading;              /* a loop is reading a change from the store (outside the lock) */
    long long wanted;         /* the newest version another loop saw meanwhile: loaded next */
    unsigned long long loads; /* snapshots published so far; written under the lock, atomically */
};

/** Starts with no snapshot. */
void routing_shared_init(struct routing_shared *rs);

/**
 * Makes `*held` the newest snapshot: reads the routing version with `s`
 * (the calling loop's store connection) and, when it moved past the
 * published snapshot, loads a new one from `s` and publishes it, unless
 * another loop is loading: then `*held` stays as it is (the loader loads
 * this version too) or, when it is NULL, the call waits for that load. The
 * reference `*held` had (NULL: none) is given back when it changes.
 * `*loaded` (when `loaded` is not NULL) is set to 1 when this call loaded a
 * snapshot (the caller then wakes the other loops to routing_adopt it), else 0. On failure nothing
 * changes (the old snapshot stays) and the store's error is returned; else 0.
 */
SB_MUST_CHECK int routing_take(struct routing_shared *rs, struct store *s, struct routing **held,
                               int *loaded);

/**
 * Makes `*held` the published snapshot without reading the store (after
 * another loop loaded one). Returns 1 when `*held` changed, else 0.
 */
int routing_adopt(struct routing_shared *rs, struct routing **held);

/** Gives back a reference routing_take handed out (NULL is allowed). */
void routing_put(struct routing_shared *rs, struct routing *held);

/** Drops the published snapshot; every loop's reference must be given back first. */
void routing_shared_release(struct routing_shared *rs);

/** The agent `name` of `tenant` in the snapshot, or NULL. */
const struct agent_entry *routing_agent(const struct routing *r, const char *tenant,
                                        const char *name);

#endif
