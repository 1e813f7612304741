/*
 * The routing snapshot the loops share (routing.h): loaded by the first loop
 * to see a change, published, and freed by the last reference.
 */
#include "server/routing.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/banned.h"

void routing_shared_init(struct routing_shared *rs)
{
    memset(rs, 0, sizeof(*rs));
    pthread_mutex_init(&rs->lock, NULL);
    pthread_cond_init(&rs->loaded, NULL);
}

static void agents_free(struct agent_entry *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        agent_config_release(&a[i].cfg);
        if (a[i].api_key) {
            OPENSSL_cleanse(a[i].api_key, strlen(a[i].api_key));
            free(a[i].api_key);
        }
    }
    free(a);
}

static void routing_free(struct routing *r)
{
    if (!r)
        return;
    routes_release(&r->routes);
    flow_cache_release(&r->flows);
    agents_free(r->agents, r->nagents);
    free(r);
}

/* Whether `prev` had this agent, as usable or not as it is now: then its missing key was said. */
static int agent_known(const struct routing *prev, const struct agent_entry *a)
{
    for (size_t j = 0; prev && j < prev->nagents; j++) {
        if (strcmp(prev->agents[j].cfg.tenant, a->cfg.tenant) == 0 &&
            strcmp(prev->agents[j].cfg.name, a->cfg.name) == 0 &&
            prev->agents[j].usable == a->usable)
            return 1;
    }
    return 0;
}

/* The agents' settings, each with its API key read from the environment now. */
static int agents_load(struct routing *r, struct store *s, const struct routing *prev)
{
    struct agent_config *list = NULL;
    size_t n = 0;
    int rc = agent_config_list(s, NULL, &list, &n);

    if (rc)
        return rc;
    r->agents = calloc(n ? n : 1, sizeof(*r->agents));
    if (!r->agents) {
        agent_config_list_free(list, n);
        return SB_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct agent_entry *a = &r->agents[i];
        const char *key = list[i].api_key_env[0] ? getenv(list[i].api_key_env) : "";

        a->cfg = list[i];
        list[i].prompt = NULL; /* moved */
        a->usable = key != NULL;
        a->api_key = strdup(key ? key : "");
        /* Said once per change, naming the variable, never its value. */
        if (!key && !agent_known(prev, a))
            log_event(LOG_ERROR, "agents.key_missing",
                      "tenant=%s agent=%s variable=%s reason=\"the environment variable is not "
                      "set; calls to this agent get the rule agent\"",
                      a->cfg.tenant, a->cfg.name, a->cfg.api_key_env);
        if (!a->api_key)
            a->usable = 0;
    }
    r->nagents = n;
    agent_config_list_free(list, n);
    return 0;
}

/* A whole snapshot from the store, or nothing. */
static int routing_load(struct store *s, const struct routing *prev, struct routing **out)
{
    struct routing *r = calloc(1, sizeof(*r));
    int rc;

    if (!r)
        return SB_ENOMEM;
    r->routes = (struct routes)ROUTES_INIT;
    r->flows = (struct flow_cache)FLOW_CACHE_INIT;
    rc = routes_refresh(&r->routes, s);
    if (!rc)
        rc = flow_cache_load(&r->flows, s);
    if (!rc)
        rc = agents_load(r, s, prev);
    if (rc) {
        routing_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* Drops one reference; returns the snapshot when that was its last, for the caller to free. */
static struct routing *unref(struct routing *r)
{
    return r && --r->refs == 0 ? r : NULL;
}

/* Makes *held the published snapshot, when it is not. Holds the lock; returns what to free. */
static struct routing *adopt(struct routing_shared *rs, struct routing **held)
{
    struct routing *gone = NULL;

    if (rs->current && *held != rs->current) {
        gone = unref(*held);
        rs->current->refs++;
        *held = rs->current;
    }
    return gone;
}

int routing_take(struct routing_shared *rs, struct store *s, struct routing **held, int *loaded)
{
    struct routing *fresh = NULL, *prev, *gone = NULL, *gone_held;
    long long version;
    int rc = store_routes_version(s, &version);

    if (loaded)
        *loaded = 0;
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&rs->lock);
    /*
     * The version only grows. Another loop may have loaded this version, or
     * a later one, while this one read it: then there is nothing to load.
     */
    while (!rs->current || version > rs->current->routes.version) {
        if (rs->loading) {
            /* Its loader loads this version too when it is done, and wakes the loops. */
            if (version > rs->wanted)
                rs->wanted = version;
            if (*held)
                break;                                 /* keep reading what it has meanwhile */
            pthread_cond_wait(&rs->loaded, &rs->lock); /* nothing to read yet: a first take */
            continue;
        }
        /* Read from the store outside the lock: a slow store holds this loop, not all. */
        rs->loading = 1;
        prev = rs->current;
        if (prev)
            prev->refs++; /* kept while loading: a key already said missing is not said again */
        pthread_mutex_unlock(&rs->lock);
        routing_free(gone);
        gone = NULL;
        rc = routing_load(s, prev, &fresh);
        pthread_mutex_lock(&rs->lock);
        /* Only the loader publishes, so prev is still current: this is never its last reference. */
        (void)unref(prev);
        rs->loading = 0;
        pthread_cond_broadcast(&rs->loaded);
        if (rc) {
            pthread_mutex_unlock(&rs->lock);
            return rc;
        }
        fresh->refs = 1; /* the published one's own */
        gone = unref(rs->current);
        rs->current = fresh;
        /* Atomic: routing_adopt reads it without the lock, to see there is nothing to take. */
        __atomic_store_n(&rs->loads, rs->loads + 1, __ATOMIC_RELEASE);
        fresh->generation = rs->loads;
        if (loaded)
            *loaded = 1;
        /* A loop saw a later version while this one loaded: load that too. */
        if (rs->wanted > version)
            version = rs->wanted;
    }
    gone_held = adopt(rs, held);
    pthread_mutex_unlock(&rs->lock);
    /* Freed outside the lock: the other loops need not wait for it. */
    routing_free(gone);
    routing_free(gone_held);
    return 0;
}

int routing_adopt(struct routing_shared *rs, struct routing **held)
{
    struct routing *before = *held, *gone;

    /* The usual case, on every wake-up of the loop: nothing was published since. */
    if (before && __atomic_load_n(&rs->loads, __ATOMIC_ACQUIRE) == before->generation)
        return 0;
    pthread_mutex_lock(&rs->lock);
    gone = adopt(rs, held);
    pthread_mutex_unlock(&rs->lock);
    routing_free(gone);
    return *held != before;
}

void routing_put(struct routing_shared *rs, struct routing *held)
{
    struct routing *gone;

    if (!held)
        return;
    pthread_mutex_lock(&rs->lock);
    gone = unref(held);
    pthread_mutex_unlock(&rs->lock);
    routing_free(gone);
}

void routing_shared_release(struct routing_shared *rs)
{
    routing_free(unref(rs->current));
    rs->current = NULL;
    pthread_cond_destroy(&rs->loaded);
    pthread_mutex_destroy(&rs->lock);
}

const struct agent_entry *routing_agent(const struct routing *r, const char *tenant,
                                        const char *name)
{
    for (size_t i = 0; r && i < r->nagents; i++) {
        if (strcmp(r->agents[i].cfg.tenant, tenant) == 0 &&
            strcmp(r->agents[i].cfg.name, name) == 0)
            return &r->agents[i];
    }
    return NULL;
}
