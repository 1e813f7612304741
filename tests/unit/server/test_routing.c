/*
 * Tests of the routing snapshot the event loops share (server/routing.h):
 * one load per change whichever loop sees it first, the same snapshot for
 * every loop, an old snapshot kept valid for a loop that still reads it and
 * freed with its last reference, a loop that finds another loading going on
 * with what it has, agents with their keys, and loops taking and adopting
 * snapshots on threads of their own while the routing changes (also run
 * under ThreadSanitizer). Each loop has its own connection to one SQLite
 * store, as in the server.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "server/routing.h"
#include "store/agents.h"
#include "store/store.h"

#define LOOPS 4

static char dir[64], path[128];
static struct store *writer_conn;
static struct store *loop_conn[LOOPS];
static struct routing *held[LOOPS];
static struct routing_shared rs;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sb-routing-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sb.db", dir);
    cr_assert_eq(store_open(&writer_conn, path), 0);
    for (int i = 0; i < LOOPS; i++)
        cr_assert_eq(store_open(&loop_conn[i], path), 0);
    routing_shared_init(&rs);
}

static void teardown(void)
{
    char file[160];

    for (int i = 0; i < LOOPS; i++) {
        routing_put(&rs, held[i]);
        held[i] = NULL;
        store_close(loop_conn[i]);
    }
    routing_shared_release(&rs);
    store_close(writer_conn);
    for (const char *const *ext = (const char *const[]){"", "-wal", "-shm", NULL}; *ext; ext++) {
        snprintf(file, sizeof(file), "%s%s", path, *ext);
        unlink(file);
    }
    rmdir(dir);
}

TestSuite(routing, .init = setup, .fini = teardown, .timeout = 60);

static void add_tenant(const char *name, const char *lang)
{
    struct tenant t;

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "%s", name);
    snprintf(t.default_lang, sizeof(t.default_lang), "%s", lang);
    snprintf(t.langs[0].lang, sizeof(t.langs[0].lang), "%s", lang);
    snprintf(t.langs[0].greeting, sizeof(t.langs[0].greeting), "¿En qué puedo ayudarle?");
    t.nlangs = 1;
    cr_assert_eq(store_tenant_add(writer_conn, &t), 0);
}

static void add_number(const char *e164, const char *tenant)
{
    struct number n;

    memset(&n, 0, sizeof(n));
    snprintf(n.e164, sizeof(n.e164), "%s", e164);
    snprintf(n.tenant, sizeof(n.tenant), "%s", tenant);
    snprintf(n.agent, sizeof(n.agent), "rules");
    n.plan = PLAN_PRO;
    n.active = 1;
    cr_assert_eq(store_number_add(writer_conn, &n), 0);
}

static int take(int loop)
{
    int loaded = -1;

    cr_assert_eq(routing_take(&rs, loop_conn[loop], &held[loop], &loaded), 0);
    cr_assert(loaded == 0 || loaded == 1);
    cr_assert_not_null(held[loop]);
    return loaded;
}

Test(routing, one_load_for_every_loop)
{
    add_tenant("clinica", "es-MX");
    add_number("+525550000001", "clinica");
    cr_assert_eq(take(0), 1);
    for (int i = 1; i < LOOPS; i++) {
        cr_assert_eq(take(i), 0, "loop %d loaded again what loop 0 loaded", i);
        cr_assert_eq(held[i], held[0]);
    }
    cr_assert_eq(rs.loads, 1);
    cr_assert_eq(held[0]->refs, LOOPS + 1); /* each loop's and the published one's */
    cr_assert_eq(held[0]->routes.count, 1);
    cr_assert_str_eq(routes_find(&held[0]->routes, "+525550000001")->tenant->langs[0].greeting,
                     "¿En qué puedo ayudarle?");
    /* Nothing changed: nothing is read again. */
    cr_assert_eq(take(2), 0);
    cr_assert_eq(rs.loads, 1);
}

Test(routing, a_change_is_loaded_once_and_the_old_snapshot_lives_while_held)
{
    struct routing *old;

    add_tenant("acme", "en-US");
    add_number("+15005550006", "acme");
    take(0);
    take(1);
    old = held[0];
    add_number("+15005550007", "acme");
    /* Loop 1 sees the change first: it loads; loop 0 still reads the old one. */
    cr_assert_eq(take(1), 1);
    cr_assert_neq(held[1], old);
    cr_assert_eq(held[1]->routes.count, 2);
    cr_assert_eq(held[0], old);
    cr_assert_eq(old->refs, 1);
    cr_assert_eq(old->routes.count, 1);
    cr_assert_not_null(routes_find(&old->routes, "+15005550006"));
    cr_assert_null(routes_find(&old->routes, "+15005550007"));
    /* Loop 0, woken, adopts the new one without the store; the old one goes with its last
     * reference (ASan would see it leak or freed twice). */
    cr_assert_eq(routing_adopt(&rs, &held[0]), 1);
    cr_assert_eq(held[0], held[1]);
    cr_assert_eq(routing_adopt(&rs, &held[0]), 0);
    cr_assert_eq(take(0), 0);
    cr_assert_eq(held[0], held[1]);
    cr_assert_eq(rs.loads, 2);
    cr_assert_not_null(routes_find(&held[0]->routes, "+15005550007"));
}

Test(routing, a_loop_that_finds_a_load_under_way_keeps_reading_its_snapshot)
{
    struct routing *mine;
    long long version;

    add_tenant("acme", "en-US");
    add_number("+15005550006", "acme");
    take(0);
    take(1);
    mine = held[1];
    add_number("+15005550007", "acme");
    cr_assert_eq(store_routes_version(writer_conn, &version), 0);
    /* As while loop 0 reads the change from the store: loop 1 neither waits nor loads. */
    pthread_mutex_lock(&rs.lock);
    rs.loading = 1;
    pthread_mutex_unlock(&rs.lock);
    cr_assert_eq(take(1), 0);
    cr_assert_eq(held[1], mine);
    cr_assert_eq(rs.loads, 1);
    cr_assert_eq(rs.wanted, version, "the version it saw is left for the loader");
    pthread_mutex_lock(&rs.lock);
    rs.loading = 0;
    pthread_mutex_unlock(&rs.lock);
    cr_assert_eq(take(0), 1);
    cr_assert_eq(routing_adopt(&rs, &held[1]), 1);
    cr_assert_eq(held[1], held[0]);
    cr_assert_eq(held[1]->routes.count, 2);
}

Test(routing, agents_carry_their_keys_and_a_missing_variable_makes_one_unusable)
{
    struct agent_config a;
    const struct agent_entry *e;

    add_tenant("acme", "en-US");
    memset(&a, 0, sizeof(a));
    snprintf(a.tenant, sizeof(a.tenant), "acme");
    snprintf(a.name, sizeof(a.name), "desk");
    snprintf(a.base_url, sizeof(a.base_url), "http://127.0.0.1:9/v1");
    snprintf(a.model, sizeof(a.model), "m");
    snprintf(a.api_key_env, sizeof(a.api_key_env), "SB_ROUTING_TEST_KEY");
    a.temperature = -1;
    cr_assert_eq(agent_config_add(writer_conn, &a), 0);
    snprintf(a.name, sizeof(a.name), "open");
    a.api_key_env[0] = '\0';
    cr_assert_eq(agent_config_add(writer_conn, &a), 0);

    unsetenv("SB_ROUTING_TEST_KEY");
    take(0);
    e = routing_agent(held[0], "acme", "desk");
    cr_assert_not_null(e);
    cr_assert_eq(e->usable, 0);
    e = routing_agent(held[0], "acme", "open");
    cr_assert_not_null(e);
    cr_assert_eq(e->usable, 1);
    cr_assert_str_eq(e->api_key, "");
    cr_assert_null(routing_agent(held[0], "acme", "nobody"));
    cr_assert_null(routing_agent(held[0], "other", "desk"));
    cr_assert_null(routing_agent(NULL, "acme", "desk"));

    /* The key is read when the snapshot is loaded: after the next change. */
    setenv("SB_ROUTING_TEST_KEY", "sk-test-1234", 1);
    add_number("+15005550006", "acme");
    cr_assert_eq(take(0), 1);
    e = routing_agent(held[0], "acme", "desk");
    cr_assert_eq(e->usable, 1);
    cr_assert_str_eq(e->api_key, "sk-test-1234");
    unsetenv("SB_ROUTING_TEST_KEY");
}

/* A loop's thread: takes the snapshot over and over, reading it each time. */
struct loop_arg {
    int index;
    atomic_int *stop;
    long long takes;
};

static void *loop_thread(void *p)
{
    struct loop_arg *arg = p;
    int loaded;

    while (!atomic_load(arg->stop)) {
        /* As a loop does: it looks at the store, or is woken to adopt what another loaded. */
        if (arg->takes % 3 == 2)
            (void)routing_adopt(&rs, &held[arg->index]);
        else
            cr_assert_eq(routing_take(&rs, loop_conn[arg->index], &held[arg->index], &loaded), 0);
        /* Every number of the snapshot resolves to its tenant: the table is whole. */
        for (size_t i = 0; i < held[arg->index]->routes.count; i++)
            cr_assert_not_null(held[arg->index]->routes.items[i].tenant);
        arg->takes++;
    }
    return NULL;
}

Test(routing, loops_on_threads_see_every_change_and_load_each_once)
{
    enum { CHANGES = 30 };
    pthread_t t[LOOPS];
    struct loop_arg args[LOOPS];
    atomic_int stop = 0;
    long long version;
    char e164[16];

    add_tenant("acme", "en-US");
    for (int i = 0; i < LOOPS; i++) {
        args[i] = (struct loop_arg){i, &stop, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, loop_thread, &args[i]), 0);
    }
    for (int c = 0; c < CHANGES; c++) {
        snprintf(e164, sizeof(e164), "+1500555%04d", c);
        add_number(e164, "acme");
        usleep(2000);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < LOOPS; i++)
        cr_assert_eq(pthread_join(t[i], NULL), 0);
    /* Each loop, taking once more, ends on the last version with every number (loop 0 loads
     * it if nobody had yet; the others adopt it). */
    cr_assert_eq(store_routes_version(writer_conn, &version), 0);
    for (int i = 0; i < LOOPS; i++) {
        take(i);
        cr_assert_eq(held[i], held[0]);
        cr_assert_eq(held[i]->routes.version, version);
        cr_assert_eq(held[i]->routes.count, CHANGES);
        cr_assert(args[i].takes > 0);
    }
    /* One load per version seen (the first, and at most one per change), never one per loop. */
    cr_assert_leq(rs.loads, (unsigned long long)CHANGES + 1);
}
