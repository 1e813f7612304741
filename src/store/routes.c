/*
 * The routing cache. A table is built whole and swapped in, so a failed
 * reload leaves the previous table serving calls.
 */
#include "store/routes.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/banned.h"

/*
 * Loads are retried when the routing version moved during one, so that
 * numbers and tenants come from the same state of the store. Past this many
 * attempts the last load is kept with the version read before it, which
 * makes the next refresh load again.
 */
#define ROUTES_LOAD_ATTEMPTS 3

static int tenant_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tenant *)a)->name, ((const struct tenant *)b)->name);
}

static int route_cmp(const void *a, const void *b)
{
    return strcmp(((const struct route *)a)->number.e164, ((const struct route *)b)->number.e164);
}

static int route_key_cmp(const void *key, const void *item)
{
    return strcmp(key, ((const struct route *)item)->number.e164);
}

/*
 * Builds a table from the store's lists. On success *out owns its arrays;
 * numbers whose tenant is not in the list (removed while loading) are left
 * out, so every route has a tenant.
 */
static int routes_load(struct routes *out, struct store *s)
{
    struct tenant *tenants = NULL;
    struct number *numbers = NULL;
    struct route *items = NULL;
    size_t ntenants = 0;
    size_t nnumbers = 0;
    size_t count = 0;
    int rc;

    rc = store_tenant_list(s, &tenants, &ntenants);
    if (rc < 0)
        goto out;
    rc = store_number_list(s, &numbers, &nnumbers);
    if (rc < 0)
        goto out;
    if (nnumbers) {
        items = calloc(nnumbers, sizeof(*items));
        if (!items) {
            rc = SB_ENOMEM;
            goto out;
        }
    }
    /* The store lists in order already; sorting again makes bsearch safe whatever it did. */
    if (ntenants)
        qsort(tenants, ntenants, sizeof(*tenants), tenant_cmp);
    for (size_t i = 0; i < nnumbers; i++) {
        struct tenant key;
        const struct tenant *t;

        memcpy(key.name, numbers[i].tenant, sizeof(key.name));
        t = ntenants ? bsearch(&key, tenants, ntenants, sizeof(*tenants), tenant_cmp) : NULL;
        if (!t)
            continue;
        items[count].number = numbers[i];
        items[count].tenant = t;
        count++;
    }
    if (count)
        qsort(items, count, sizeof(*items), route_cmp);
    out->items = items;
    out->count = count;
    out->tenants = tenants;
    out->ntenants = ntenants;
    items = NULL;
    tenants = NULL;
out:
    free(items);
    free(numbers);
    free(tenants);
    return rc;
}

int routes_refresh(struct routes *r, struct store *s)
{
    struct routes next = ROUTES_INIT;
    long long before;
    long long after;
    int rc;

    rc = store_routes_version(s, &before);
    if (rc < 0)
        goto out;
    if (r->version >= 0 && r->version == before)
        goto out;
    for (int attempt = 0; attempt < ROUTES_LOAD_ATTEMPTS; attempt++) {
        routes_release(&next);
        rc = routes_load(&next, s);
        if (rc < 0)
            goto out;
        rc = store_routes_version(s, &after);
        if (rc < 0)
            goto out;
        if (after == before)
            break;
        /* Only a version read before a load may label it. */
        if (attempt + 1 < ROUTES_LOAD_ATTEMPTS)
            before = after;
    }
    /*
     * `before` was read before the last load began, so the table holds at
     * least that version; a later change moves the version past it.
     */
    next.version = before;
    routes_release(r);
    *r = next;
    next = (struct routes)ROUTES_INIT;
    log_event(LOG_INFO, "routes.loaded", "version=%lld numbers=%zu tenants=%zu", r->version,
              r->count, r->ntenants);
out:
    if (rc < 0)
        log_event(LOG_WARN, "routes.refresh", "reason=\"keeping the old table\" rc=%d", rc);
    routes_release(&next);
    return rc;
}

const struct route *routes_find(const struct routes *r, const char *e164)
{
    if (!r || !e164 || r->count == 0)
        return NULL;
    return bsearch(e164, r->items, r->count, sizeof(*r->items), route_key_cmp);
}

void routes_release(struct routes *r)
{
    free(r->items);
    free(r->tenants);
    *r = (struct routes)ROUTES_INIT;
}
