/* Tests of the store interface, over SQLite or PostgreSQL (store_target.h). */
#include <criterion/criterion.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "store/store.h"
#include "store_target.h"
#include "undo_migrations.h"

static struct store_target tgt;
static struct store *st;

static void setup(void)
{
    target_create(&tgt, "sb-store");
    cr_assert_eq(store_open(&st, tgt.path), 0);
}

static void teardown(void)
{
    store_close(st);
    st = NULL;
    target_destroy(&tgt);
}

TestSuite(store, .init = setup, .fini = teardown);

/* Runs a one-number query on the database through a connection of its own. */
static long long raw_query(const char *sql)
{
    return target_query_i64(&tgt, sql);
}

static void raw_exec(const char *sql)
{
    target_exec(&tgt, sql);
}

static struct tenant make_tenant(const char *name)
{
    struct tenant t;

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "%s", name);
    snprintf(t.default_lang, sizeof(t.default_lang), "en-US");
    snprintf(t.transfer_number, sizeof(t.transfer_number), "+15005550006");
    snprintf(t.timezone, sizeof(t.timezone), "America/New_York");
    snprintf(t.langs[0].lang, sizeof(t.langs[0].lang), "en-US");
    snprintf(t.langs[0].voice, sizeof(t.langs[0].voice), "Polly.Joanna");
    snprintf(t.langs[0].greeting, sizeof(t.langs[0].greeting), "Hello from %s.", name);
    snprintf(t.langs[1].lang, sizeof(t.langs[1].lang), "es-MX");
    snprintf(t.langs[1].voice, sizeof(t.langs[1].voice), "Polly.Mia");
    snprintf(t.langs[1].greeting, sizeof(t.langs[1].greeting), "Hola, ¿en qué le ayudo?");
    t.nlangs = 2;
    return t;
}

static struct number make_number(const char *e164, const char *tenant, enum plan plan)
{
    struct number n;

    memset(&n, 0, sizeof(n));
    snprintf(n.e164, sizeof(n.e164), "%s", e164);
    snprintf(n.tenant, sizeof(n.tenant), "%s", tenant);
    snprintf(n.agent, sizeof(n.agent), "rules");
    n.plan = plan;
    n.active = 1;
    return n;
}

static struct call_record make_call(const char *sid, const char *status, long long started)
{
    struct call_record c;

    memset(&c, 0, sizeof(c));
    snprintf(c.call_sid, sizeof(c.call_sid), "%s", sid);
    snprintf(c.tenant, sizeof(c.tenant), "acme");
    snprintf(c.direction, sizeof(c.direction), "inbound");
    snprintf(c.from, sizeof(c.from), "+14155550100");
    snprintf(c.to, sizeof(c.to), "+15005550006");
    snprintf(c.status, sizeof(c.status), "%s", status);
    snprintf(c.lang, sizeof(c.lang), "en-US");
    c.duration = -1;
    c.started_at = started;
    return c;
}

static struct status_event make_event(const char *sid, long seq, const char *status, long long at)
{
    struct status_event e;

    memset(&e, 0, sizeof(e));
    snprintf(e.call_sid, sizeof(e.call_sid), "%s", sid);
    snprintf(e.status, sizeof(e.status), "%s", status);
    snprintf(e.direction, sizeof(e.direction), "outbound-api");
    snprintf(e.from, sizeof(e.from), "+15005550006");
    snprintf(e.to, sizeof(e.to), "+14155550101");
    e.sequence = seq;
    e.duration = -1;
    e.at = at;
    return e;
}

static enum status_outcome apply(const struct status_event *e)
{
    enum status_outcome o = STATUS_STALE;

    cr_assert_eq(store_status_apply(st, e, &o), 0);
    return o;
}

Test(store, plan_names_round_trip)
{
    enum plan p;

    cr_assert_str_eq(plan_name(PLAN_STARTER), "starter");
    cr_assert_str_eq(plan_name(PLAN_PRO), "pro");
    cr_assert_str_eq(plan_name(PLAN_ENTERPRISE), "enterprise");
    cr_assert_eq(plan_parse("enterprise", &p), 0);
    cr_assert_eq(p, PLAN_ENTERPRISE);
    cr_assert_eq(plan_parse("Pro", &p), SB_EINVAL);
    cr_assert_eq(plan_parse("", &p), SB_EINVAL);
}

Test(store, opens_in_wal_mode_and_answers_ping)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;

    cr_assert_eq(store_ping(st), 0);
    target_sqlite_only("WAL is a SQLite journal mode");
    cr_assert_eq(sqlite3_open_v2(tgt.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_close(db);
}

Test(store, open_fails_on_unusable_path)
{
    struct store *s = NULL;
    char bad[400];

    target_sqlite_only("a file path");
    snprintf(bad, sizeof(bad), "%s/missing/dir/sb.db", tgt.dir);
    cr_assert_eq(store_open(&s, bad), SB_EIO);
    cr_assert_null(s);
    snprintf(bad, sizeof(bad), "sqlite:%s/missing/dir/sb.db", tgt.dir);
    cr_assert_eq(store_open(&s, bad), SB_EIO);
    cr_assert_eq(store_open(&s, "sqlite:"), SB_EINVAL);
    cr_assert_null(s);
}

Test(store, sqlite_prefix_names_a_file)
{
    struct store *s = NULL;
    char named[1100];

    target_sqlite_only("a file path");
    snprintf(named, sizeof(named), "sqlite:%s", tgt.path);
    cr_assert_eq(store_open(&s, named), 0);
    cr_assert_eq(store_ping(s), 0);
    store_close(s);
    /* The same file as without the prefix: its schema is there. */
    cr_assert_eq(raw_query("SELECT count(*) FROM schema_migrations") > 0, 1);
}

Test(store, migrations_idempotent_on_reopen)
{
    long long n = raw_query("SELECT count(*) FROM schema_migrations");
    struct store *again = NULL;

    cr_assert_gt(n, 0);
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), n);
    cr_assert_eq(raw_query("SELECT min(applied_at) > 0 FROM schema_migrations"), 1);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(store_open(&again, tgt.path), 0);
        store_close(again);
    }
    cr_assert_eq(raw_query("SELECT count(*) FROM schema_migrations"), n);
}

Test(store, migrations_safe_for_concurrent_openers)
{
    struct store_target fresh;
    pid_t kids[8];
    struct store *s = NULL;
    int status;

    target_create(&fresh, "sb-store-fresh");
    for (int i = 0; i < 8; i++) {
        kids[i] = fork();
        cr_assert_neq(kids[i], -1);
        if (kids[i] == 0) {
            struct store *mine = NULL;
            int rc = store_open(&mine, fresh.path);

            store_close(mine);
            _exit(rc == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(waitpid(kids[i], &status, 0), kids[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "opener %d failed", i);
    }
    cr_assert_eq(store_open(&s, fresh.path), 0);
    store_close(s);
    cr_assert_eq(target_query_i64(&fresh, "SELECT count(*) FROM schema_migrations"),
                 target_query_i64(&fresh, "SELECT max(version) FROM schema_migrations"));
    target_destroy(&fresh);
}

Test(store, refuses_a_newer_schema)
{
    struct store *s = NULL;

    raw_exec("INSERT INTO schema_migrations(version, applied_at) VALUES(9999, 0)");
    cr_assert_eq(store_open(&s, tgt.path), SB_ESTORE);
    cr_assert_null(s);
}

Test(store, tenant_add_get_list)
{
    struct tenant a = make_tenant("acme");
    struct tenant b = make_tenant("beta");
    struct tenant got;
    struct tenant *list = NULL;
    size_t n = 0;

    cr_assert_eq(store_tenant_add(st, &b), 0);
    cr_assert_eq(store_tenant_add(st, &a), 0);
    cr_assert_eq(store_tenant_get(st, "acme", &got), 0);
    cr_assert_str_eq(got.name, "acme");
    cr_assert_str_eq(got.default_lang, "en-US");
    cr_assert_str_eq(got.transfer_number, "+15005550006");
    cr_assert_str_eq(got.timezone, "America/New_York");
    cr_assert_eq(got.nlangs, 2);
    cr_assert_str_eq(got.langs[0].lang, "en-US");
    cr_assert_str_eq(got.langs[0].greeting, "Hello from acme.");
    cr_assert_str_eq(got.langs[1].lang, "es-MX");
    cr_assert_str_eq(got.langs[1].voice, "Polly.Mia");
    cr_assert_str_eq(got.langs[1].greeting, "Hola, ¿en qué le ayudo?");

    cr_assert_eq(store_tenant_list(st, &list, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(list[0].name, "acme");
    cr_assert_str_eq(list[1].name, "beta");
    cr_assert_eq(list[1].nlangs, 2);
    cr_assert_str_eq(list[1].langs[0].greeting, "Hello from beta.");
    free(list);
}

Test(store, tenant_list_empty)
{
    struct tenant *list = (struct tenant *)1;
    size_t n = 7;

    cr_assert_eq(store_tenant_list(st, &list, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(list);
}

Test(store, tenant_errors)
{
    struct tenant a = make_tenant("acme");
    struct tenant empty = make_tenant("");
    struct tenant dup = make_tenant("dup");
    struct tenant got;

    cr_assert_eq(store_tenant_add(st, &a), 0);
    cr_assert_eq(store_tenant_add(st, &a), SB_EEXISTS);
    cr_assert_eq(store_tenant_add(st, &empty), SB_EINVAL);
    /* A repeated language fails the whole add: no half-made tenant is left. */
    dup.langs[1] = dup.langs[0];
    cr_assert_eq(store_tenant_add(st, &dup), SB_EINVAL);
    cr_assert_eq(store_tenant_get(st, "dup", &got), SB_ENOTFOUND);
    dup.nlangs = TENANT_MAX_LANGS + 1;
    cr_assert_eq(store_tenant_add(st, &dup), SB_EINVAL);
    cr_assert_eq(store_tenant_get(st, "nobody", &got), SB_ENOTFOUND);
    cr_assert_eq(store_tenant_remove(st, "nobody"), SB_ENOTFOUND);
}

Test(store, tenant_timezone_defaults_to_utc)
{
    struct tenant a = make_tenant("acme");
    struct tenant got;

    a.timezone[0] = '\0';
    a.nlangs = 0;
    cr_assert_eq(store_tenant_add(st, &a), 0);
    cr_assert_eq(store_tenant_get(st, "acme", &got), 0);
    cr_assert_str_eq(got.timezone, "UTC");
    cr_assert_eq(got.nlangs, 0);
}

Test(store, tenant_remove_busy_while_numbers_point_at_it)
{
    struct tenant a = make_tenant("acme");
    struct number n = make_number("+15005550006", "acme", PLAN_PRO);
    struct tenant got;

    cr_assert_eq(store_tenant_add(st, &a), 0);
    cr_assert_eq(store_number_add(st, &n), 0);
    cr_assert_eq(store_tenant_remove(st, "acme"), SB_EBUSY);
    cr_assert_eq(store_tenant_get(st, "acme", &got), 0);
    cr_assert_eq(store_number_remove(st, "+15005550006"), 0);
    cr_assert_eq(store_tenant_remove(st, "acme"), 0);
    cr_assert_eq(store_tenant_get(st, "acme", &got), SB_ENOTFOUND);
    /* The languages went with the tenant, so the same tenant can come back. */
    cr_assert_eq(raw_query("SELECT count(*) FROM tenant_langs"), 0);
    cr_assert_eq(store_tenant_add(st, &a), 0);
}

Test(store, numbers_add_list_remove)
{
    struct tenant a = make_tenant("acme");
    struct number n1 = make_number("+15005550009", "acme", PLAN_ENTERPRISE);
    struct number n2 = make_number("+15005550006", "acme", PLAN_STARTER);
    struct number *list = NULL;
    size_t n = 0;

    cr_assert_eq(store_tenant_add(st, &a), 0);
    n2.active = 0;
    snprintf(n2.agent, sizeof(n2.agent), "llm");
    cr_assert_eq(store_number_add(st, &n1), 0);
    cr_assert_eq(store_number_add(st, &n2), 0);
    cr_assert_eq(store_number_list(st, &list, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(list[0].e164, "+15005550006");
    cr_assert_eq(list[0].plan, PLAN_STARTER);
    cr_assert_eq(list[0].active, 0);
    cr_assert_str_eq(list[0].agent, "llm");
    cr_assert_str_eq(list[0].tenant, "acme");
    cr_assert_str_eq(list[1].e164, "+15005550009");
    cr_assert_eq(list[1].plan, PLAN_ENTERPRISE);
    cr_assert_eq(list[1].active, 1);
    free(list);

    cr_assert_eq(store_number_remove(st, "+15005550009"), 0);
    cr_assert_eq(store_number_remove(st, "+15005550009"), SB_ENOTFOUND);
    cr_assert_eq(store_number_list(st, &list, &n), 0);
    cr_assert_eq(n, 1);
    free(list);
}

Test(store, number_errors)
{
    struct tenant a = make_tenant("acme");
    struct number n = make_number("+15005550006", "acme", PLAN_PRO);
    struct number orphan = make_number("+15005550007", "nobody", PLAN_PRO);
    struct number bad = make_number("+15005550008", "acme", PLAN_PRO);

    cr_assert_eq(store_tenant_add(st, &a), 0);
    cr_assert_eq(store_number_add(st, &n), 0);
    cr_assert_eq(store_number_add(st, &n), SB_EEXISTS);
    cr_assert_eq(store_number_add(st, &orphan), SB_ENOTFOUND);
    bad.plan = (enum plan)7;
    cr_assert_eq(store_number_add(st, &bad), SB_EINVAL);
    bad = make_number("", "acme", PLAN_PRO);
    cr_assert_eq(store_number_add(st, &bad), SB_EINVAL);
}

Test(store, routes_version_moves_on_every_routing_change)
{
    struct tenant a = make_tenant("acme");
    struct number n = make_number("+15005550006", "acme", PLAN_PRO);
    long long v0;
    long long v1;
    long long v2;
    long long v3;
    long long v4;

    cr_assert_eq(store_routes_version(st, &v0), 0);
    cr_assert_eq(store_tenant_add(st, &a), 0);
    cr_assert_eq(store_routes_version(st, &v1), 0);
    cr_assert_gt(v1, v0);
    cr_assert_eq(store_number_add(st, &n), 0);
    cr_assert_eq(store_routes_version(st, &v2), 0);
    cr_assert_gt(v2, v1);
    raw_exec("UPDATE numbers SET active = 0");
    cr_assert_eq(store_routes_version(st, &v3), 0);
    cr_assert_gt(v3, v2);
    /* Call logging is not a routing change. */
    struct call_record c = make_call("CA1", "ringing", 100);
    cr_assert_eq(store_call_insert(st, &c), 0);
    cr_assert_eq(store_routes_version(st, &v4), 0);
    cr_assert_eq(v4, v3);
}

Test(store, call_insert_twice_keeps_first)
{
    struct call_record c1 = make_call("CA1", "ringing", 100);
    struct call_record c2 = make_call("CA1", "in-progress", 200);
    struct call_record got;

    snprintf(c2.tenant, sizeof(c2.tenant), "other");
    cr_assert_eq(store_call_insert(st, &c1), 0);
    cr_assert_eq(store_call_insert(st, &c2), 0);
    cr_assert_eq(store_call_get(st, "CA1", &got), 0);
    cr_assert_str_eq(got.status, "ringing");
    cr_assert_str_eq(got.tenant, "acme");
    cr_assert_str_eq(got.from, "+14155550100");
    cr_assert_str_eq(got.lang, "en-US");
    cr_assert_eq(got.started_at, 100);
    cr_assert_eq(got.duration, -1);
    cr_assert_eq(got.ended_at, 0);
    cr_assert_eq(store_call_get(st, "CA404", &got), SB_ENOTFOUND);
}

Test(store, call_list_newest_first_with_limit)
{
    struct call_record *list = NULL;
    size_t n = 0;
    char sid[CALL_SID_SIZE];

    for (int i = 0; i < 5; i++) {
        snprintf(sid, sizeof(sid), "CA%d", i);
        struct call_record c = make_call(sid, "ringing", 100 + i);
        cr_assert_eq(store_call_insert(st, &c), 0);
    }
    cr_assert_eq(store_call_list(st, 3, &list, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(list[0].call_sid, "CA4");
    cr_assert_str_eq(list[2].call_sid, "CA2");
    free(list);
    cr_assert_eq(store_call_list(st, 0, &list, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(list);
}

Test(store, status_applied_moves_call_forward)
{
    struct call_record c = make_call("CA1", "ringing", 100);
    struct status_event e = make_event("CA1", 1, "in-progress", 110);
    struct call_record got;

    cr_assert_eq(store_call_insert(st, &c), 0);
    cr_assert_eq(apply(&e), STATUS_APPLIED);
    cr_assert_eq(store_call_get(st, "CA1", &got), 0);
    cr_assert_str_eq(got.status, "in-progress");
    cr_assert_eq(got.ended_at, 0);
    cr_assert_eq(got.started_at, 100);
}

Test(store, status_duplicate_by_sequence)
{
    struct status_event e1 = make_event("CA1", 1, "ringing", 100);
    struct status_event e2 = make_event("CA1", 1, "in-progress", 101);
    struct call_record got;

    cr_assert_eq(apply(&e1), STATUS_APPLIED);
    cr_assert_eq(apply(&e1), STATUS_DUPLICATE);
    /* The sequence number alone names the event, whatever it says. */
    cr_assert_eq(apply(&e2), STATUS_DUPLICATE);
    cr_assert_eq(store_call_get(st, "CA1", &got), 0);
    cr_assert_str_eq(got.status, "ringing");
    cr_assert_eq(raw_query("SELECT count(*) FROM call_events"), 1);
}

Test(store, status_duplicate_by_status_without_sequence)
{
    struct status_event e1 = make_event("CA1", -1, "ringing", 100);
    struct status_event e2 = make_event("CA1", -1, "in-progress", 101);
    struct status_event e3 = make_event("CA1", -1, "answered", 102);

    cr_assert_eq(apply(&e1), STATUS_APPLIED);
    cr_assert_eq(apply(&e1), STATUS_DUPLICATE);
    cr_assert_eq(apply(&e2), STATUS_APPLIED);
    /* "answered" is in-progress by another name. */
    cr_assert_eq(apply(&e3), STATUS_DUPLICATE);
}

Test(store, status_answered_maps_to_in_progress)
{
    struct status_event e = make_event("CA1", 2, "answered", 100);
    struct call_record got;

    cr_assert_eq(apply(&e), STATUS_APPLIED);
    cr_assert_eq(store_call_get(st, "CA1", &got), 0);
    cr_assert_str_eq(got.status, "in-progress");
}

Test(store, status_reordered_completed_before_ringing)
{
    struct status_event done = make_event("CA1", 3, "completed", 200);
    struct status_event ring = make_event("CA1", 1, "ringing", 100);
    struct status_event talk = make_event("CA1", 2, "in-progress", 150);
    struct call_record got;

    done.duration = 42;
    cr_assert_eq(apply(&done), STATUS_APPLIED);
    cr_assert_eq(apply(&ring), STATUS_STALE);
    cr_assert_eq(apply(&talk), STATUS_STALE);
    cr_assert_eq(apply(&ring), STATUS_DUPLICATE);
    cr_assert_eq(store_call_get(st, "CA1", &got), 0);
    cr_assert_str_eq(got.status, "completed");
    cr_assert_eq(got.duration, 42);
    cr_assert_eq(got.ended_at, 200);
    /* Stale events are kept for the record, marked as not applied. */
    cr_assert_eq(raw_query("SELECT count(*) FROM call_events WHERE applied = 0"), 2);
    cr_assert_eq(raw_query("SELECT count(*) FROM call_events WHERE applied = 1"), 1);
}

Test(store, status_equal_rank_is_stale)
{
    struct status_event r1 = make_event("CA1", 1, "ringing", 100);
    struct status_event r2 = make_event("CA1", 2, "ringing", 101);

    cr_assert_eq(apply(&r1), STATUS_APPLIED);
    cr_assert_eq(apply(&r2), STATUS_STALE);
}

Test(store, status_terminal_is_final)
{
    struct status_event done = make_event("CA1", 3, "completed", 200);
    struct status_event busy = make_event("CA1", 4, "busy", 300);
    struct status_event again = make_event("CA1", 5, "completed", 400);
    struct call_record got;

    done.duration = 10;
    busy.duration = 99;
    cr_assert_eq(apply(&done), STATUS_APPLIED);
    cr_assert_eq(apply(&busy), STATUS_STALE);
    cr_assert_eq(apply(&again), STATUS_STALE);
    cr_assert_eq(store_call_get(st, "CA1", &got), 0);
    cr_assert_str_eq(got.status, "completed");
    cr_assert_eq(got.duration, 10);
    cr_assert_eq(got.ended_at, 200);
}

Test(store, status_duration_recorded_on_terminal_only)
{
    struct call_record c = make_call("CA1", "ringing", 100);
    struct status_event talk = make_event("CA1", 1, "in-progress", 110);
    struct status_event done = make_event("CA1", 2, "completed", 170);
    struct call_record got;

    talk.duration = 5;
    done.duration = 60;
    cr_assert_eq(store_call_insert(st, &c), 0);
    cr_assert_eq(apply(&talk), STATUS_APPLIED);
    cr_assert_eq(store_call_get(st, "CA1", &got), 0);
    cr_assert_eq(got.duration, -1);
    cr_assert_eq(apply(&done), STATUS_APPLIED);
    cr_assert_eq(store_call_get(st, "CA1", &got), 0);
    cr_assert_eq(got.duration, 60);
    cr_assert_eq(got.ended_at, 170);
    cr_assert_eq(got.started_at, 100);
}

Test(store, status_terminal_without_duration_keeps_unknown)
{
    struct status_event e = make_event("CA1", 0, "no-answer", 130);
    struct call_record got;

    cr_assert_eq(apply(&e), STATUS_APPLIED);
    cr_assert_eq(store_call_get(st, "CA1", &got), 0);
    cr_assert_eq(got.duration, -1);
    cr_assert_eq(got.ended_at, 130);
}

Test(store, status_unknown_call_is_created)
{
    struct status_event e = make_event("CA9", 0, "initiated", 500);
    struct call_record got;

    cr_assert_eq(apply(&e), STATUS_APPLIED);
    cr_assert_eq(store_call_get(st, "CA9", &got), 0);
    cr_assert_str_eq(got.status, "initiated");
    cr_assert_str_eq(got.tenant, "");
    cr_assert_str_eq(got.direction, "outbound-api");
    cr_assert_str_eq(got.from, "+15005550006");
    cr_assert_str_eq(got.to, "+14155550101");
    cr_assert_eq(got.started_at, 500);
    cr_assert_eq(got.ended_at, 0);
    cr_assert_eq(got.duration, -1);
}

Test(store, status_invalid_is_refused_and_not_recorded)
{
    struct status_event e = make_event("CA1", 1, "exploded", 100);
    struct call_record got;
    enum status_outcome o;

    cr_assert_eq(store_status_apply(st, &e, &o), SB_EINVAL);
    cr_assert_eq(store_call_get(st, "CA1", &got), SB_ENOTFOUND);
    e = make_event("", 1, "ringing", 100);
    cr_assert_eq(store_status_apply(st, &e, &o), SB_EINVAL);
    cr_assert_eq(raw_query("SELECT count(*) FROM call_events"), 0);
}

Test(store, status_inside_transaction_rolls_back_with_it)
{
    struct status_event e = make_event("CA1", 1, "ringing", 100);
    struct call_record got;

    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(apply(&e), STATUS_APPLIED);
    cr_assert_eq(store_rollback(st), 0);
    cr_assert_eq(store_call_get(st, "CA1", &got), SB_ENOTFOUND);
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(apply(&e), STATUS_APPLIED);
    cr_assert_eq(apply(&e), STATUS_DUPLICATE);
    cr_assert_eq(store_commit(st), 0);
    cr_assert_eq(store_call_get(st, "CA1", &got), 0);
}

Test(store, call_insert_after_status_fills_tenant_and_keeps_status)
{
    struct status_event e = make_event("CA10", 3, "completed", 900);
    struct call_record c = make_call("CA10", "ringing", 880);
    struct call_record got;

    e.duration = 20;
    cr_assert_eq(apply(&e), STATUS_APPLIED);
    cr_assert_eq(store_call_insert(st, &c), 0);
    cr_assert_eq(store_call_get(st, "CA10", &got), 0);
    cr_assert_str_eq(got.status, "completed");
    cr_assert_eq(got.duration, 20);
    cr_assert_str_eq(got.tenant, "acme");
    cr_assert_str_eq(got.lang, "en-US");
    cr_assert_eq(got.started_at, 880);
}

Test(store, stream_records_upsert_and_list_by_call)
{
    struct stream_record r, *list = NULL;
    size_t n = 0;

    memset(&r, 0, sizeof(r));
    snprintf(r.stream_sid, sizeof(r.stream_sid), "MZ1");
    snprintf(r.call_sid, sizeof(r.call_sid), "CA1");
    snprintf(r.reason, sizeof(r.reason), "replaced");
    r.started_at = 1000;
    r.stopped_at = 3000;
    r.duration_ms = 2000;
    r.frames_in = 100;
    r.frames_out = 90;
    cr_assert_eq(store_stream_record(st, &r), 0);
    snprintf(r.stream_sid, sizeof(r.stream_sid), "MZ2");
    snprintf(r.reason, sizeof(r.reason), "running");
    r.started_at = 2500;
    cr_assert_eq(store_stream_record(st, &r), 0);
    snprintf(r.reason, sizeof(r.reason), "transfer");
    r.frames_in = 400;
    cr_assert_eq(store_stream_record(st, &r), 0);
    cr_assert_eq(store_stream_list(st, "CA1", &list, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(list[0].stream_sid, "MZ1");
    cr_assert_str_eq(list[0].reason, "replaced");
    cr_assert_str_eq(list[1].reason, "transfer");
    cr_assert_eq(list[1].frames_in, 400);
    cr_assert_eq(list[1].started_at, 2500);
    free(list);
    cr_assert_eq(store_stream_list(st, "CA9", &list, &n), 0);
    cr_assert_eq(n, 0);
    memset(&r, 0, sizeof(r));
    cr_assert_eq(store_stream_record(st, &r), SB_EINVAL);
}

Test(store, flows_numbers_and_call_state)
{
    struct tenant t = make_tenant("acme");
    struct number n = make_number("+15005550006", "acme", PLAN_PRO);
    struct flow_ref *refs = NULL;
    struct flow_call fc, got;
    struct number *nums = NULL;
    size_t count = 0;
    long long v1 = 0, v2 = 0;
    char *json = NULL;

    cr_assert_eq(store_tenant_add(st, &t), 0);
    cr_assert_eq(store_number_add(st, &n), 0);
    cr_assert_eq(store_flow_put(st, "nobody", "main", "{}"), SB_ENOTFOUND);
    cr_assert_eq(store_routes_version(st, &v1), 0);
    cr_assert_eq(store_flow_put(st, "acme", "main", "{\"a\":1}"), 0);
    cr_assert_eq(store_routes_version(st, &v2), 0);
    cr_assert_gt(v2, v1, "a flow change must move the routing version");
    cr_assert_eq(store_flow_put(st, "acme", "main", "{\"a\":2}"), 0);
    cr_assert_eq(store_flow_get(st, "acme", "main", &json), 0);
    cr_assert_str_eq(json, "{\"a\":2}");
    free(json);
    cr_assert_eq(store_flow_get(st, "acme", "nope", &json), SB_ENOTFOUND);
    cr_assert_eq(store_flow_list(st, NULL, &refs, &count), 0);
    cr_assert_eq(count, 1);
    cr_assert_str_eq(refs[0].name, "main");
    free(refs);
    cr_assert_eq(store_number_set_flow(st, "+15005550006", "main"), 0);
    cr_assert_eq(store_number_set_flow(st, "+15009999999", "main"), SB_ENOTFOUND);
    cr_assert_eq(store_number_list(st, &nums, &count), 0);
    cr_assert_str_eq(nums[0].flow, "main");
    free(nums);

    memset(&fc, 0, sizeof(fc));
    snprintf(fc.call_sid, sizeof(fc.call_sid), "CA1");
    snprintf(fc.tenant, sizeof(fc.tenant), "acme");
    snprintf(fc.flow, sizeof(fc.flow), "main");
    snprintf(fc.node, sizeof(fc.node), "menu");
    fc.attempts = 2;
    fc.step_no = 3;
    fc.last_twiml = "<Response />";
    cr_assert_eq(store_flow_call_put(st, &fc), 0);
    /* The same step again (another process answering Twilio's retry): refused, unchanged. */
    fc.attempts = 0;
    snprintf(fc.node, sizeof(fc.node), "bye");
    fc.done = 1;
    fc.last_twiml = "<Response><Hangup/></Response>";
    cr_assert_eq(store_flow_call_put(st, &fc), SB_EBUSY);
    cr_assert_eq(store_flow_call_get(st, "CA1", &got), 0);
    cr_assert_str_eq(got.node, "menu");
    cr_assert_eq(got.attempts, 2);
    free(got.last_twiml);
    /* An earlier step: refused too. The next one goes in. */
    fc.step_no = 2;
    cr_assert_eq(store_flow_call_put(st, &fc), SB_EBUSY);
    fc.step_no = 4;
    cr_assert_eq(store_flow_call_put(st, &fc), 0);
    cr_assert_eq(store_flow_call_get(st, "CA1", &got), 0);
    cr_assert_str_eq(got.node, "bye");
    cr_assert_eq(got.done, 1);
    cr_assert_eq(got.step_no, 4);
    cr_assert_str_eq(got.last_twiml, "<Response><Hangup/></Response>");
    free(got.last_twiml);
    cr_assert_eq(store_flow_call_get(st, "CA2", &got), SB_ENOTFOUND);
}

Test(store, recordings_are_logged_per_call)
{
    struct recording r, *list = NULL;
    size_t n = 0;

    memset(&r, 0, sizeof(r));
    snprintf(r.recording_sid, sizeof(r.recording_sid), "RE1");
    snprintf(r.call_sid, sizeof(r.call_sid), "CA1");
    snprintf(r.url, sizeof(r.url), "https://api.twilio.com/x/RE1");
    snprintf(r.status, sizeof(r.status), "in-progress");
    r.duration = 0;
    cr_assert_eq(store_recording_put(st, &r), 0);
    snprintf(r.status, sizeof(r.status), "completed");
    r.duration = 14;
    cr_assert_eq(store_recording_put(st, &r), 0);
    cr_assert_eq(store_recording_list(st, "CA1", &list, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(list[0].status, "completed");
    cr_assert_eq(list[0].duration, 14);
    free(list);
}

/* Reads what the logger wrote to `f` since it was made. */
static void read_log(FILE *f, char *buf, size_t size)
{
    size_t n;

    fflush(f);
    rewind(f);
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
}

Test(store, postgres_unreachable_server_fails_and_log_hides_the_password)
{
    static const char *const urls[] = {
        "postgresql://sbuser:s3cret-pw@127.0.0.1:1/sbdb?connect_timeout=5",
        "postgres:///sbdb?host=/nonexistent/socket/dir&user=sbuser&password=s3cret-pw",
    };
    static const char *const hosts[] = {"host=127.0.0.1", "host=/nonexistent/socket/dir"};
    char log[4096];

    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        struct store *s = NULL;
        FILE *f = tmpfile();

        cr_assert_not_null(f);
        log_set_fd(fileno(f));
        cr_assert_eq(store_open(&s, urls[i]), SB_EIO, "%s", urls[i]);
        log_set_fd(2);
        cr_assert_null(s);
        read_log(f, log, sizeof(log));
        fclose(f);
        cr_assert_not_null(strstr(log, hosts[i]), "%s", log);
        cr_assert_not_null(strstr(log, "db=sbdb"), "%s", log);
        cr_assert_null(strstr(log, "s3cret-pw"), "%s", log);
    }
}

Test(store, postgres_schema_newer_than_the_program_is_refused_and_logged)
{
    struct store *s = NULL;
    char log[4096];
    FILE *f;

    if (!target_postgres())
        cr_skip_test("PostgreSQL only: SB_TEST_POSTGRES is not set");
    /* The migration after the newest this program knows. */
    {
        char sql[128];

        snprintf(sql, sizeof(sql),
                 "INSERT INTO schema_migrations(version, applied_at) VALUES(%d, 0)",
                 LATEST_MIGRATION + 1);
        raw_exec(sql);
    }
    f = tmpfile();
    cr_assert_not_null(f);
    log_set_fd(fileno(f));
    cr_assert_eq(store_open(&s, tgt.path), SB_ESTORE);
    log_set_fd(2);
    cr_assert_null(s);
    read_log(f, log, sizeof(log));
    fclose(f);
    cr_assert_not_null(strstr(log, "schema is newer than this program"), "%s", log);
    /* Nothing was changed by the refused opener. */
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), LATEST_MIGRATION + 1);
}

/* Two threads open a new database at once: one migrates, the other waits and finds it done. */
static void *open_in_thread(void *arg)
{
    struct store *s = NULL;
    intptr_t rc = store_open(&s, arg);

    store_close(s);
    return (void *)rc;
}

Test(store, two_openers_migrate_a_new_database_once)
{
    struct store_target fresh;
    pthread_t t[2];
    void *rc[2];

    target_create(&fresh, "sb-store-two");
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, open_in_thread, fresh.path), 0);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(pthread_join(t[i], &rc[i]), 0);
        cr_assert_eq((intptr_t)rc[i], 0, "opener %d", i);
    }
    cr_assert_eq(target_query_i64(&fresh, "SELECT count(*) FROM schema_migrations"),
                 target_query_i64(&fresh, "SELECT max(version) FROM schema_migrations"));
    cr_assert_eq(target_query_i64(&fresh, "SELECT count(*) FROM routes_version"), 1);
    target_destroy(&fresh);
}

/*
 * Several processes receive the same status callbacks of one call at once
 * (Twilio retried them to other instances): each event is applied by exactly
 * one of them, and the call ends where the events lead.
 */
static const char *const race_statuses[] = {"initiated", "ringing", "in-progress", "completed"};
#define RACE_N (int)(sizeof(race_statuses) / sizeof(race_statuses[0]))

/* One process's share: the call's callbacks one by one; returns how many it applied. */
static int race_one_by_one(int i, struct store *mine, void *arg)
{
    int count = 0;

    (void)i;
    (void)arg;
    for (int k = 0; k < RACE_N; k++) {
        struct status_event e = make_event("CA-race", k, race_statuses[k], 100 + k);
        enum status_outcome out;

        if (store_status_apply(mine, &e, &out) != 0)
            return 101;
        count += out == STATUS_APPLIED;
    }
    return count;
}

Test(store, status_callbacks_apply_once_across_processes)
{
    struct call_record got;

    cr_assert_eq(target_in_processes(&tgt, 6, race_one_by_one, NULL), RACE_N);
    cr_assert_eq(raw_query("SELECT count(*) FROM call_events WHERE call_sid = 'CA-race'"), RACE_N);
    cr_assert_eq(store_call_get(st, "CA-race", &got), 0);
    cr_assert_str_eq(got.status, "completed");
    cr_assert_eq(got.ended_at, 100 + RACE_N - 1);
}

/* Many status callbacks at once (the writer's batch; one round trip on PostgreSQL). */
Test(store, status_many_match_what_one_by_one_would_do)
{
    struct status_event ev[] = {
        make_event("CA-m1", 1, "initiated", 100),    /* logs the call */
        make_event("CA-m1", 2, "ringing", 101),      /* moves it */
        make_event("CA-m1", 2, "ringing", 101),      /* Twilio's retry, in the same batch */
        make_event("CA-m2", -1, "answered", 102),    /* another call, logged as in-progress */
        make_event("CA-m1", 4, "completed", 110),    /* final, with its duration */
        make_event("CA-m1", 3, "in-progress", 105),  /* late: recorded, not applied */
        make_event("CA-m1", 5, "exploded", 111),     /* refused alone */
        make_event("", 1, "ringing", 100),           /* refused alone */
        make_event("CA-m2", -1, "in-progress", 103), /* the same status as answered: a duplicate */
    };
    enum { N = sizeof(ev) / sizeof(ev[0]) };
    static const int want_rc[N] = {0, 0, 0, 0, 0, 0, SB_EINVAL, SB_EINVAL, 0};
    static const enum status_outcome want[N] = {STATUS_APPLIED,
                                                STATUS_APPLIED,
                                                STATUS_DUPLICATE,
                                                STATUS_APPLIED,
                                                STATUS_APPLIED,
                                                STATUS_STALE,
                                                0,
                                                0,
                                                STATUS_DUPLICATE};
    const struct status_event *events[N];
    enum status_outcome outs[N];
    struct call_record got;
    int rcs[N];

    ev[4].duration = 42;
    ev[0].direction[0] = 'i'; /* "iutbound-api": kept as given */
    for (int i = 0; i < N; i++)
        events[i] = &ev[i];
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_status_apply_many(st, events, N, rcs, outs), 0);
    cr_assert_eq(store_commit(st), 0);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(rcs[i], want_rc[i], "event %d: %d", i, rcs[i]);
        if (want_rc[i] == 0)
            cr_assert_eq(outs[i], want[i], "event %d: %d", i, outs[i]);
    }
    cr_assert_eq(store_call_get(st, "CA-m1", &got), 0);
    cr_assert_str_eq(got.status, "completed");
    cr_assert_eq(got.duration, 42);
    cr_assert_eq(got.ended_at, 110);
    cr_assert_eq(got.started_at, 100);
    cr_assert_str_eq(got.direction, "iutbound-api");
    cr_assert_eq(store_call_get(st, "CA-m2", &got), 0);
    cr_assert_str_eq(got.status, "in-progress");
    cr_assert_eq(raw_query("SELECT count(*) FROM call_events WHERE call_sid = 'CA-m1'"), 4);
    cr_assert_eq(raw_query("SELECT count(*) FROM call_events WHERE applied = 0"), 1);
    /* Outside a transaction it opens its own; nothing at all is fine too. */
    cr_assert_eq(store_status_apply_many(st, events, 3, rcs, outs), 0);
    cr_assert(outs[0] == STATUS_DUPLICATE && outs[1] == STATUS_DUPLICATE);
    cr_assert_eq(store_status_apply_many(st, events, 0, rcs, outs), 0);
}

Test(store, status_many_roll_back_with_the_batch)
{
    struct status_event ev[] = {make_event("CA-r", 1, "ringing", 100),
                                make_event("CA-r", 2, "completed", 130)};
    const struct status_event *events[] = {&ev[0], &ev[1]};
    enum status_outcome outs[2];
    struct call_record got;
    int rcs[2];

    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_status_apply_many(st, events, 2, rcs, outs), 0);
    cr_assert_eq(store_rollback(st), 0);
    cr_assert_eq(store_call_get(st, "CA-r", &got), SB_ENOTFOUND);
    cr_assert_eq(raw_query("SELECT count(*) FROM call_events"), 0);
}

/* One process's share: the call's callbacks in one batch, in an order of its own. */
static int race_in_one_batch(int i, struct store *mine, void *arg)
{
    struct status_event ev[RACE_N];
    const struct status_event *events[RACE_N];
    enum status_outcome outs[RACE_N];
    int rcs[RACE_N], count = 0, rc = -1;

    (void)arg;
    for (int k = 0; k < RACE_N; k++) {
        int seq = (k + i) % RACE_N;

        ev[k] = make_event("CA-mrace", seq, race_statuses[seq], 100 + seq);
        events[k] = &ev[k];
    }
    /* Conflicts undo the batch; it runs again, as the writer does. */
    for (int t = 0; t < 8 && rc != 0; t++) {
        rc = store_begin(mine);
        if (rc == 0)
            rc = store_status_apply_many(mine, events, RACE_N, rcs, outs);
        rc = rc == 0 ? store_commit(mine) : (store_rollback(mine), rc);
    }
    if (rc != 0)
        return 101;
    for (int k = 0; k < RACE_N; k++)
        count += rcs[k] == 0 && outs[k] == STATUS_APPLIED;
    return count;
}

/* Processes apply the same batch of one call's callbacks at once: each event once in all. */
Test(store, status_many_apply_once_across_processes)
{
    struct call_record got;

    cr_assert_geq(target_in_processes(&tgt, 6, race_in_one_batch, NULL), 1);
    cr_assert_eq(raw_query("SELECT count(*) FROM call_events WHERE call_sid = 'CA-mrace'"), RACE_N);
    cr_assert_eq(store_call_get(st, "CA-mrace", &got), 0);
    cr_assert_str_eq(got.status, "completed");
}

/* Two instances answered the same call: the state of the later step stays. */
/* The server ended the store's connection (a restart): the store connects again. */
Test(store, postgres_store_connects_again_after_losing_its_connection)
{
    char named[1200], sql[256];
    struct store *s = NULL;
    int rc;

    if (!target_postgres())
        cr_skip_test("PostgreSQL only: a SQLite file has no connection to lose");
    /* A name of its own, so that only this test's connection is ended. */
    snprintf(named, sizeof(named), "%s&application_name=sb_%s", tgt.path, tgt.schema);
    cr_assert_eq(store_open(&s, named), 0);
    snprintf(sql, sizeof(sql),
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
             "WHERE application_name = 'sb_%s'",
             tgt.schema);
    cr_assert_eq(raw_query(sql), 1);
    /* The statement that finds the connection gone fails; the next one connects again. */
    rc = store_ping(s);
    cr_assert(rc == 0 || rc == SB_EIO, "%d", rc);
    cr_assert_eq(store_ping(s), 0);
    cr_assert_eq(store_begin(s), 0);
    cr_assert_eq(store_commit(s), 0);

    /*
     * Lost inside a transaction (the writer's batch): nothing more of that
     * transaction runs, on any connection, until it is rolled back.
     */
    cr_assert_eq(store_begin(s), 0);
    {
        struct call_record c = make_call("CA-before", "ringing", 100);

        cr_assert_eq(store_call_insert(s, &c), 0);
    }
    cr_assert_eq(raw_query(sql), 1);
    {
        struct call_record c = make_call("CA-after", "ringing", 100);

        /* A call row is held until the transaction's next statement: the loss may show then. */
        int held = store_call_insert(s, &c);

        cr_assert(held == 0 || held == SB_EIO, "%d", held);
        cr_assert_eq(store_ping(s), SB_EIO);
    }
    cr_assert_neq(store_commit(s), 0);
    cr_assert_eq(store_rollback(s), 0);
    cr_assert_eq(store_ping(s), 0);
    {
        struct call_record got;

        cr_assert_eq(store_call_get(s, "CA-before", &got), SB_ENOTFOUND);
        cr_assert_eq(store_call_get(s, "CA-after", &got), SB_ENOTFOUND);
    }
    store_close(s);
}

/*
 * Call rows logged inside one transaction (the writer's batch): the same call
 * twice merges as two upserts would, and a status callback after them in the
 * same transaction finds the row (PostgreSQL holds such rows until the next
 * statement).
 */
Test(store, calls_logged_in_one_batch_merge_and_are_seen_by_the_rest_of_it)
{
    struct call_record first = make_call("CA-batch", "ringing", 200);
    struct call_record again = make_call("CA-batch", "in-progress", 100);
    struct call_record other = make_call("CA-other", "ringing", 300);
    struct status_event e;
    enum status_outcome out;
    struct call_record got;

    first.tenant[0] = '\0';
    first.lang[0] = '\0';
    snprintf(again.lang, sizeof(again.lang), "es-MX");
    memset(&e, 0, sizeof(e));
    snprintf(e.call_sid, sizeof(e.call_sid), "CA-other");
    snprintf(e.status, sizeof(e.status), "in-progress");
    e.sequence = 2;
    e.duration = -1;
    e.at = 310;
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_call_insert(st, &first), 0);
    cr_assert_eq(store_call_insert(st, &other), 0);
    cr_assert_eq(store_call_insert(st, &again), 0);
    cr_assert_eq(store_status_apply(st, &e, &out), 0);
    cr_assert_eq(out, STATUS_APPLIED);
    cr_assert_eq(store_commit(st), 0);
    cr_assert_eq(store_call_get(st, "CA-batch", &got), 0);
    cr_assert_str_eq(got.status, "ringing");
    cr_assert_str_eq(got.tenant, "acme");
    cr_assert_str_eq(got.lang, "es-MX");
    cr_assert_eq(got.started_at, 100);
    cr_assert_eq(store_call_get(st, "CA-other", &got), 0);
    cr_assert_str_eq(got.status, "in-progress");
    /* Rolled back, held rows go too. */
    cr_assert_eq(store_begin(st), 0);
    {
        struct call_record gone = make_call("CA-gone", "ringing", 400);

        cr_assert_eq(store_call_insert(st, &gone), 0);
    }
    cr_assert_eq(store_rollback(st), 0);
    cr_assert_eq(store_call_get(st, "CA-gone", &got), SB_ENOTFOUND);
}
