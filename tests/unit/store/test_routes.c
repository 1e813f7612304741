/* Tests of the routing cache, over SQLite or PostgreSQL (store_target.h). */
#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/routes.h"
#include "store_target.h"

static struct store_target tgt;
static struct store *st;
static struct routes r = ROUTES_INIT;

static void setup(void)
{
    target_create(&tgt, "sb-routes");
    cr_assert_eq(store_open(&st, tgt.path), 0);
}

static void teardown(void)
{
    routes_release(&r);
    store_close(st);
    st = NULL;
    target_destroy(&tgt);
}

TestSuite(routes, .init = setup, .fini = teardown);

static void add_tenant(struct store *s, const char *name, const char *lang)
{
    struct tenant t;

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "%s", name);
    snprintf(t.default_lang, sizeof(t.default_lang), "%s", lang);
    snprintf(t.langs[0].lang, sizeof(t.langs[0].lang), "%s", lang);
    snprintf(t.langs[0].greeting, sizeof(t.langs[0].greeting), "Welcome to %s.", name);
    t.nlangs = 1;
    cr_assert_eq(store_tenant_add(s, &t), 0);
}

static void add_number(struct store *s, const char *e164, const char *tenant, enum plan plan)
{
    struct number n;

    memset(&n, 0, sizeof(n));
    snprintf(n.e164, sizeof(n.e164), "%s", e164);
    snprintf(n.tenant, sizeof(n.tenant), "%s", tenant);
    snprintf(n.agent, sizeof(n.agent), "rules");
    n.plan = plan;
    n.active = 1;
    cr_assert_eq(store_number_add(s, &n), 0);
}

static void seed(void)
{
    add_tenant(st, "zeta", "es-MX");
    add_tenant(st, "acme", "en-US");
    add_number(st, "+15005550009", "acme", PLAN_PRO);
    add_number(st, "+15005550006", "zeta", PLAN_ENTERPRISE);
    add_number(st, "+15005550007", "acme", PLAN_STARTER);
}

Test(routes, load_and_find)
{
    const struct route *rt;
    long long v;

    seed();
    cr_assert_eq(routes_refresh(&r, st), 0);
    cr_assert_eq(store_routes_version(st, &v), 0);
    cr_assert_eq(r.version, v);
    cr_assert_eq(r.count, 3);
    cr_assert_eq(r.ntenants, 2);
    cr_assert_str_eq(r.items[0].number.e164, "+15005550006");
    cr_assert_str_eq(r.items[2].number.e164, "+15005550009");

    rt = routes_find(&r, "+15005550006");
    cr_assert_not_null(rt);
    cr_assert_eq(rt->number.plan, PLAN_ENTERPRISE);
    cr_assert_str_eq(rt->tenant->name, "zeta");
    cr_assert_str_eq(rt->tenant->default_lang, "es-MX");
    cr_assert_str_eq(rt->tenant->langs[0].greeting, "Welcome to zeta.");
    /* The tenant pointer is into the table's own tenant array. */
    cr_assert(rt->tenant >= r.tenants && rt->tenant < r.tenants + r.ntenants);

    rt = routes_find(&r, "+15005550007");
    cr_assert_not_null(rt);
    cr_assert_str_eq(rt->tenant->name, "acme");
    cr_assert_eq(rt->number.plan, PLAN_STARTER);
    cr_assert_str_eq(rt->number.agent, "rules");
}

Test(routes, find_unknown_returns_null)
{
    struct routes empty = ROUTES_INIT;

    cr_assert_null(routes_find(&empty, "+15005550006"));
    seed();
    cr_assert_eq(routes_refresh(&r, st), 0);
    cr_assert_null(routes_find(&r, "+15005550000"));
    cr_assert_null(routes_find(&r, ""));
    cr_assert_null(routes_find(&r, "+1500555000"));
}

Test(routes, first_refresh_loads_an_empty_store)
{
    cr_assert_eq(routes_refresh(&r, st), 0);
    cr_assert_geq(r.version, 0);
    cr_assert_eq(r.count, 0);
    cr_assert_null(routes_find(&r, "+15005550006"));
}

Test(routes, no_reload_when_unchanged)
{
    const struct route *items;
    long long version;

    seed();
    cr_assert_eq(routes_refresh(&r, st), 0);
    items = r.items;
    version = r.version;
    /*
     * A reload builds the new table while the old one is alive, so an
     * unchanged items pointer proves that nothing was reloaded.
     */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(routes_refresh(&r, st), 0);
        cr_assert_eq(r.items, items);
        cr_assert_eq(r.version, version);
    }
}

Test(routes, change_from_another_connection_triggers_reload)
{
    struct store *other = NULL;
    const struct route *items;
    long long before;

    seed();
    cr_assert_eq(routes_refresh(&r, st), 0);
    items = r.items;
    before = r.version;
    cr_assert_null(routes_find(&r, "+15005550008"));

    cr_assert_eq(store_open(&other, tgt.path), 0);
    add_tenant(other, "beta", "fr-FR");
    add_number(other, "+15005550008", "beta", PLAN_PRO);
    cr_assert_eq(store_number_remove(other, "+15005550009"), 0);
    store_close(other);

    cr_assert_eq(routes_refresh(&r, st), 0);
    cr_assert_neq(r.items, items);
    cr_assert_gt(r.version, before);
    cr_assert_eq(r.count, 3);
    cr_assert_not_null(routes_find(&r, "+15005550008"));
    cr_assert_str_eq(routes_find(&r, "+15005550008")->tenant->name, "beta");
    cr_assert_null(routes_find(&r, "+15005550009"));
}

Test(routes, failed_reload_keeps_the_old_table)
{
    const struct route *items;
    long long version;

    seed();
    cr_assert_eq(routes_refresh(&r, st), 0);
    items = r.items;
    version = r.version;
    /* Break the store behind the cache's back: the next load must fail. */
    target_exec(&tgt, "UPDATE routes_version SET version = version + 1;"
                      "DROP TABLE numbers;");

    cr_assert_lt(routes_refresh(&r, st), 0);
    cr_assert_eq(r.items, items);
    cr_assert_eq(r.version, version);
    cr_assert_not_null(routes_find(&r, "+15005550007"));
}
