/*
 * The routing cache: number -> (plan, agent, tenant) for the webhook hot
 * path, loaded from the store and reloaded when the routing version moves.
 * Owned by one thread (the event loop); no locking.
 */
#ifndef SB_STORE_ROUTES_H
#define SB_STORE_ROUTES_H

#include <stddef.h>

#include "core/err.h"
#include "store/store.h"

struct route {
    struct number number;
    const struct tenant *tenant; /* points into the same routes table */
};

struct routes {
    struct route *items; /* sorted by number.e164 */
    size_t count;
    struct tenant *tenants;
    size_t ntenants;
    long long version; /* routing version this table was loaded at; -1 before the first load */
};

#define ROUTES_INIT                                                                                \
    {                                                                                              \
        NULL, 0, NULL, 0, -1                                                                       \
    }

/**
 * Reloads the table from the store when the routing version changed since
 * the last load (always on the first call). On failure the old table stays.
 * Returns 0 (also when nothing changed) or the store's error.
 */
SB_MUST_CHECK int routes_refresh(struct routes *r, struct store *s);

/** Finds the route of a number, or NULL. The pointer lives until the next refresh. */
const struct route *routes_find(const struct routes *r, const char *e164);

/** Frees the table. */
void routes_release(struct routes *r);

#endif
