/*
 * Every tenant's IVR flows, compiled once and kept in memory for the
 * webhooks; reloaded with the routing table when the routing version moves
 * (flows and numbers change it). Owned by the event loop.
 */
#ifndef SB_VOICE_FLOW_CACHE_H
#define SB_VOICE_FLOW_CACHE_H

#include <stddef.h>

#include "core/err.h"
#include "flow/flow.h"
#include "store/store.h"

struct flow_cache_entry {
    struct flow_ref ref;
    struct flow *flow;
};

struct flow_cache {
    struct flow_cache_entry *items;
    size_t count;
};

#define FLOW_CACHE_INIT                                                                            \
    {                                                                                              \
        NULL, 0                                                                                    \
    }

/**
 * Replaces the cache with every flow in the store. A stored flow that no
 * longer validates is skipped and logged (it was valid when imported).
 * On failure the old cache stays. Returns 0 or the store's error.
 */
SB_MUST_CHECK int flow_cache_load(struct flow_cache *c, struct store *s);

/** The compiled flow `name` of `tenant`, or NULL. */
const struct flow *flow_cache_find(const struct flow_cache *c, const char *tenant,
                                   const char *name);

/** Frees every flow. */
void flow_cache_release(struct flow_cache *c);

#endif
