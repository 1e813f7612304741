#include "voice/flow_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/banned.h"

void flow_cache_release(struct flow_cache *c)
{
    for (size_t i = 0; i < c->count; i++)
        flow_free(c->items[i].flow);
    free(c->items);
    c->items = NULL;
    c->count = 0;
}

int flow_cache_load(struct flow_cache *c, struct store *s)
{
    struct flow_ref *refs = NULL;
    struct flow_cache next = FLOW_CACHE_INIT;
    size_t n = 0;
    int rc = store_flow_list(s, NULL, &refs, &n);

    if (rc)
        return rc;
    next.items = n ? calloc(n, sizeof(*next.items)) : NULL;
    if (n && !next.items) {
        free(refs);
        return SB_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        char *json = NULL;
        char err[256];
        struct flow *f = NULL;

        rc = store_flow_get(s, refs[i].tenant, refs[i].name, &json);
        if (rc)
            break;
        if (flow_load(&f, json, strlen(json), err, sizeof(err)) == 0) {
            next.items[next.count].ref = refs[i];
            next.items[next.count].flow = f;
            next.count++;
        } else {
            log_event(LOG_ERROR, "flow.invalid", "tenant=%s flow=%s error=\"%s\"", refs[i].tenant,
                      refs[i].name, err);
        }
        free(json);
    }
    free(refs);
    if (rc) {
        flow_cache_release(&next);
        return rc;
    }
    flow_cache_release(c);
    *c = next;
    return 0;
}

const struct flow *flow_cache_find(const struct flow_cache *c, const char *tenant, const char *name)
{
    for (size_t i = 0; i < c->count; i++) {
        if (strcmp(c->items[i].ref.tenant, tenant) == 0 && strcmp(c->items[i].ref.name, name) == 0)
            return c->items[i].flow;
    }
    return NULL;
}
