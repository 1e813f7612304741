/*
 * The routing refresh (store/routes.c over store/sqlite.c) through every
 * failing allocation, SQLite's own included: on a store opened for the run,
 * and on a store that stays open while a failed refresh must keep the old
 * table serving.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "oom.h"
#include "store/routes.h"

static char dir[256];
static char path[300];
static int devnull = -1;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void add_tenant(struct store *s, const char *name, const char *greeting_es)
{
    struct tenant t;

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "%s", name);
    snprintf(t.default_lang, sizeof(t.default_lang), "es-MX");
    snprintf(t.transfer_number, sizeof(t.transfer_number), "+15557654321");
    snprintf(t.timezone, sizeof(t.timezone), "America/Mexico_City");
    snprintf(t.langs[0].lang, sizeof(t.langs[0].lang), "es-MX");
    snprintf(t.langs[0].voice, sizeof(t.langs[0].voice), "Polly.Mia");
    snprintf(t.langs[0].greeting, sizeof(t.langs[0].greeting), "%s", greeting_es);
    snprintf(t.langs[1].lang, sizeof(t.langs[1].lang), "en-US");
    snprintf(t.langs[1].voice, sizeof(t.langs[1].voice), "Polly.Joanna");
    snprintf(t.langs[1].greeting, sizeof(t.langs[1].greeting), "Thanks for calling %s.", name);
    t.nlangs = 2;
    cr_assert_eq(store_tenant_add(s, &t), 0);
}

static void add_number(struct store *s, const char *e164, const char *tenant, enum plan plan,
                       const char *flow)
{
    struct number n;

    memset(&n, 0, sizeof(n));
    snprintf(n.e164, sizeof(n.e164), "%s", e164);
    snprintf(n.tenant, sizeof(n.tenant), "%s", tenant);
    snprintf(n.agent, sizeof(n.agent), "receptionist");
    snprintf(n.flow, sizeof(n.flow), "%s", flow);
    n.plan = plan;
    n.active = 1;
    cr_assert_eq(store_number_add(s, &n), 0);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    struct store *s = NULL;
    char e164[16];

    oom_route_sqlite(1);
    /* Thousands of failures, each logged by the store: not to the test's output. */
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    cr_assert_geq(devnull, 0);
    log_set_fd(devnull);
    /* Thousands of opens and closes: in memory (tmpfs) when there is one, fsync is free there. */
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof(dir), "%s/sb-oom-XXXXXX", tmp);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sb.db", dir);
    cr_assert_eq(store_open(&s, path), 0);
    add_tenant(s, "peluqueria",
               "¡Hola! Gracias por llamar a la Peluquería Ñandú. ¿En qué le ayudo?");
    add_tenant(s, "acme", "Gracias por llamar a Acme, en Querétaro.");
    add_tenant(s, "zapateria", "Bienvenido a la Zapatería «El Señor».");
    for (int i = 0; i < 24; i++) {
        static const char *const tenants[] = {"peluqueria", "acme", "zapateria"};

        snprintf(e164, sizeof(e164), "+150055500%02d", 99 - i);
        add_number(s, e164, tenants[i % 3], (enum plan)(i % 3), i % 4 ? "" : "principal");
    }
    store_close(s);
}

static void teardown(void)
{
    log_set_fd(2);
    close(devnull);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(oom_store, .init = setup, .fini = teardown);

static int same_tenant(const struct tenant *a, const struct tenant *b)
{
    if (strcmp(a->name, b->name) || strcmp(a->default_lang, b->default_lang) ||
        strcmp(a->transfer_number, b->transfer_number) || strcmp(a->timezone, b->timezone) ||
        a->nlangs != b->nlangs)
        return 0;
    for (int i = 0; i < a->nlangs; i++) {
        if (strcmp(a->langs[i].lang, b->langs[i].lang) ||
            strcmp(a->langs[i].voice, b->langs[i].voice) ||
            strcmp(a->langs[i].greeting, b->langs[i].greeting))
            return 0;
    }
    return 1;
}

static int same_routes(const struct routes *a, const struct routes *b)
{
    if (a->count != b->count || a->ntenants != b->ntenants || a->version != b->version)
        return 0;
    for (size_t i = 0; i < a->ntenants; i++) {
        if (!same_tenant(&a->tenants[i], &b->tenants[i]))
            return 0;
    }
    for (size_t i = 0; i < a->count; i++) {
        const struct number *x = &a->items[i].number, *y = &b->items[i].number;

        if (strcmp(x->e164, y->e164) || strcmp(x->tenant, y->tenant) || x->plan != y->plan ||
            strcmp(x->agent, y->agent) || x->active != y->active || strcmp(x->flow, y->flow) ||
            !same_tenant(a->items[i].tenant, b->items[i].tenant) ||
            strcmp(a->items[i].tenant->name, x->tenant))
            return 0;
    }
    return 1;
}

/* A deep copy, made while the countdown is paused (the copy of the old table). */
static void copy_routes(struct routes *dst, const struct routes *src)
{
    *dst = *src;
    dst->tenants = malloc(src->ntenants * sizeof(*src->tenants) + 1);
    dst->items = malloc(src->count * sizeof(*src->items) + 1);
    cr_assert(dst->tenants && dst->items);
    memcpy(dst->tenants, src->tenants, src->ntenants * sizeof(*src->tenants));
    memcpy(dst->items, src->items, src->count * sizeof(*src->items));
    for (size_t i = 0; i < src->count; i++)
        dst->items[i].tenant = dst->tenants + (src->items[i].tenant - src->tenants);
}

static struct routes ref = ROUTES_INIT;

/* ---- a store opened, refreshed from and closed within the run ---- */

static int run_open_refresh(void *ctx)
{
    struct routes r = ROUTES_INIT;
    struct store *s = NULL;
    int rc = store_open(&s, path);

    if (rc < 0 && s)
        rc = OOM_WRONG;
    if (rc == 0) {
        rc = routes_refresh(&r, s);
        if (rc == 0 && !same_routes(&r, &ref))
            rc = OOM_WRONG;
        if (rc < 0 && (r.items || r.tenants || r.version != -1))
            rc = OOM_WRONG; /* a failed first load leaves the table empty */
    }
    routes_release(&r);
    store_close(s);
    return rc;
}

Test(oom_store, open_and_refresh)
{
    struct store *s = NULL;

    cr_assert_eq(store_open(&s, path), 0);
    cr_assert_eq(routes_refresh(&ref, s), 0);
    store_close(s);
    cr_assert_eq(ref.count, 24);
    cr_assert_eq(ref.ntenants, 3);
    cr_assert_str_eq(routes_find(&ref, "+15005550099")->tenant->langs[0].greeting,
                     "¡Hola! Gracias por llamar a la Peluquería Ñandú. ¿En qué le ayudo?");
    /*
     * Over 3000 allocations, most of them SQLite preparing the store's
     * statements: each one failing alone is enough here (closing allocates
     * nothing); the refresh below also runs with every later one failing.
     */
    oom_drive_one("store_open + routes_refresh", run_open_refresh, NULL, NULL);
    routes_release(&ref);
}

/* ---- a refresh on an open store: a failure keeps the old table ---- */

static struct store *live_store;
static struct routes old_table = ROUTES_INIT;

static int run_refresh(void *ctx)
{
    struct routes r;
    int rc;

    oom_pause();
    copy_routes(&r, &old_table);
    oom_resume();
    rc = routes_refresh(&r, live_store);
    if (rc == 0 && !same_routes(&r, &ref))
        rc = OOM_WRONG;
    if (rc < 0 && !same_routes(&r, &old_table))
        rc = OOM_WRONG; /* "On failure the old table stays" */
    routes_release(&r);
    return rc;
}

Test(oom_store, refresh_keeps_the_old_table)
{
    struct store *other = NULL;

    /* SQLite's page cache keeps what it read on this connection: no leak. */
    oom_route_sqlite(0);
    cr_assert_eq(store_open(&live_store, path), 0);
    cr_assert_eq(routes_refresh(&old_table, live_store), 0);
    cr_assert_eq(store_open(&other, path), 0);
    add_tenant(other, "tortilleria", "Tortillería Doña Lupe, ¿qué se le ofrece?");
    add_number(other, "+15005550001", "tortilleria", PLAN_PRO, "");
    cr_assert_eq(store_number_remove(other, "+15005550099"), 0);
    store_close(other);
    cr_assert_eq(routes_refresh(&ref, live_store), 0);
    cr_assert_gt(ref.version, old_table.version);
    cr_assert_eq(ref.ntenants, 4);
    cr_assert_eq(ref.count, 24);
    oom_drive("routes_refresh (open store)", run_refresh, NULL, NULL);
    routes_release(&ref);
    routes_release(&old_table);
    store_close(live_store);
}
