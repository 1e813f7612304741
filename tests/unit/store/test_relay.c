/*
 * Tests of the relay plan and the tenants' ConversationRelay voices in the
 * store: migration 5 from an older file, round trips, partial updates and
 * cascades; over SQLite or PostgreSQL (store_target.h).
 */
#include <criterion/criterion.h>

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "store/routes.h"
#include "store/store.h"
#include "store_target.h"
#include "undo_migrations.h"

static struct store_target tgt;
static struct store *st;

static void setup(void)
{
    target_create(&tgt, "sb-relay");
    cr_assert_eq(store_open(&st, tgt.path), 0);
}

static void teardown(void)
{
    store_close(st);
    st = NULL;
    target_destroy(&tgt);
}

TestSuite(relay, .init = setup, .fini = teardown);

static long long raw_query(const char *sql)
{
    return target_query_i64(&tgt, sql);
}

static void raw_exec(const char *sql)
{
    target_exec(&tgt, sql);
}

static long long version(void)
{
    long long v = -1;

    cr_assert_eq(store_routes_version(st, &v), 0);
    return v;
}

static void set_lang(struct tenant_lang *l, const char *lang, const char *voice,
                     const char *greeting)
{
    snprintf(l->lang, sizeof(l->lang), "%s", lang);
    snprintf(l->voice, sizeof(l->voice), "%s", voice);
    snprintf(l->greeting, sizeof(l->greeting), "%s", greeting);
}

static void set_relay(struct tenant_relay_voice *r, const char *lang, const char *tts,
                      const char *voice, const char *stt)
{
    snprintf(r->lang, sizeof(r->lang), "%s", lang);
    snprintf(r->tts_provider, sizeof(r->tts_provider), "%s", tts);
    snprintf(r->voice, sizeof(r->voice), "%s", voice);
    snprintf(r->transcription_provider, sizeof(r->transcription_provider), "%s", stt);
}

static struct tenant make_tenant(const char *name)
{
    struct tenant t;

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "%s", name);
    snprintf(t.default_lang, sizeof(t.default_lang), "es-MX");
    snprintf(t.transfer_number, sizeof(t.transfer_number), "+15005550006");
    snprintf(t.timezone, sizeof(t.timezone), "America/Mexico_City");
    set_lang(&t.langs[0], "es-MX", "Polly.Mia", "Hola, ¿en qué le ayudo?");
    set_lang(&t.langs[1], "en-US", "Polly.Joanna", "Hello.");
    t.nlangs = 2;
    set_relay(&t.relay[0], "es-MX", "Google", "es-US-Neural2-A", "Deepgram");
    set_relay(&t.relay[1], "en-US", "ElevenLabs", "UgBBYS2sOqTuMpoF3BR0", "");
    t.nrelay = 2;
    return t;
}

static struct number make_number(const char *e164, const char *tenant, enum plan plan)
{
    struct number n;

    memset(&n, 0, sizeof(n));
    snprintf(n.e164, sizeof(n.e164), "%s", e164);
    snprintf(n.tenant, sizeof(n.tenant), "%s", tenant);
    snprintf(n.agent, sizeof(n.agent), "receptionist");
    n.plan = plan;
    n.active = 1;
    return n;
}

Test(relay, plan_names_include_relay)
{
    enum plan p = PLAN_STARTER;

    cr_assert_str_eq(plan_name(PLAN_RELAY), "relay");
    cr_assert_eq(plan_parse("relay", &p), 0);
    cr_assert_eq(p, PLAN_RELAY);
    cr_assert_eq(plan_parse("Relay", &p), SB_EINVAL);
    cr_assert_str_eq(plan_name((enum plan)(PLAN_RELAY + 1)), "unknown");
}

Test(relay, providers_are_spelt_canonically)
{
    cr_assert_str_eq(relay_tts_provider_canonical("elevenlabs"), "ElevenLabs");
    cr_assert_str_eq(relay_tts_provider_canonical("GOOGLE"), "Google");
    cr_assert_str_eq(relay_tts_provider_canonical("Amazon"), "Amazon");
    cr_assert_null(relay_tts_provider_canonical("Deepgram"));
    cr_assert_null(relay_tts_provider_canonical(""));
    cr_assert_null(relay_tts_provider_canonical(NULL));
    cr_assert_str_eq(relay_transcription_provider_canonical("deepgram"), "Deepgram");
    cr_assert_str_eq(relay_transcription_provider_canonical("google"), "Google");
    cr_assert_null(relay_transcription_provider_canonical("Amazon"));
}

Test(relay, relay_numbers_round_trip)
{
    struct tenant t = make_tenant("acme");
    struct number n = make_number("+15005550009", "acme", PLAN_RELAY);
    struct number *list = NULL;
    size_t count = 0;

    cr_assert_eq(store_tenant_add(st, &t), 0);
    cr_assert_eq(store_number_add(st, &n), 0);
    cr_assert_eq(store_number_list(st, &list, &count), 0);
    cr_assert_eq(count, 1);
    cr_assert_eq(list[0].plan, PLAN_RELAY);
    free(list);
    cr_assert_eq(raw_query("SELECT count(*) FROM numbers WHERE plan = 'relay'"), 1);
    n = make_number("+15005550010", "acme", (enum plan)(PLAN_RELAY + 1));
    cr_assert_eq(store_number_add(st, &n), SB_EINVAL);
}

Test(relay, relay_voices_round_trip_through_get_list_and_routes)
{
    struct tenant a = make_tenant("acme");
    struct tenant b = make_tenant("beta");
    struct number n = make_number("+15005550009", "acme", PLAN_RELAY);
    struct routes r = ROUTES_INIT;
    const struct route *found;
    struct tenant got;
    struct tenant *list = NULL;
    size_t count = 0;

    b.nrelay = 1;
    set_relay(&b.relay[0], "pt-BR", "Amazon", "Camila-Neural", "Google");
    cr_assert_eq(store_tenant_add(st, &b), 0);
    cr_assert_eq(store_tenant_add(st, &a), 0);
    cr_assert_eq(store_tenant_get(st, "acme", &got), 0);
    cr_assert_eq(got.nrelay, 2);
    cr_assert_str_eq(got.relay[0].lang, "es-MX");
    cr_assert_str_eq(got.relay[0].tts_provider, "Google");
    cr_assert_str_eq(got.relay[0].voice, "es-US-Neural2-A");
    cr_assert_str_eq(got.relay[0].transcription_provider, "Deepgram");
    cr_assert_str_eq(got.relay[1].lang, "en-US");
    cr_assert_str_eq(got.relay[1].tts_provider, "ElevenLabs");
    cr_assert_str_eq(got.relay[1].transcription_provider, "");
    cr_assert_str_eq(got.langs[0].greeting, "Hola, ¿en qué le ayudo?");

    cr_assert_eq(store_tenant_list(st, &list, &count), 0);
    cr_assert_eq(count, 2);
    cr_assert_str_eq(list[0].name, "acme");
    cr_assert_eq(list[0].nrelay, 2);
    cr_assert_str_eq(list[0].relay[1].voice, "UgBBYS2sOqTuMpoF3BR0");
    cr_assert_str_eq(list[1].name, "beta");
    cr_assert_eq(list[1].nrelay, 1);
    cr_assert_str_eq(list[1].relay[0].lang, "pt-BR");
    cr_assert_str_eq(list[1].relay[0].voice, "Camila-Neural");
    free(list);

    cr_assert_eq(store_number_add(st, &n), 0);
    cr_assert_eq(routes_refresh(&r, st), 0);
    found = routes_find(&r, "+15005550009");
    cr_assert_not_null(found);
    cr_assert_eq(found->number.plan, PLAN_RELAY);
    cr_assert_eq(found->tenant->nrelay, 2);
    cr_assert_str_eq(found->tenant->relay[0].voice, "es-US-Neural2-A");
    routes_release(&r);
}

Test(relay, tenant_add_refuses_bad_relay_voices_and_writes_nothing)
{
    struct tenant t = make_tenant("acme");
    struct tenant got;

    /* Not the canonical spelling. */
    set_relay(&t.relay[0], "es-MX", "google", "es-US-Neural2-A", "");
    cr_assert_eq(store_tenant_add(st, &t), SB_EINVAL);
    /* A voice without its provider. */
    set_relay(&t.relay[0], "es-MX", "", "es-US-Neural2-A", "");
    cr_assert_eq(store_tenant_add(st, &t), SB_EINVAL);
    set_relay(&t.relay[0], "es-MX", "Google", "x", "Whisper");
    cr_assert_eq(store_tenant_add(st, &t), SB_EINVAL);
    set_relay(&t.relay[0], "", "Google", "x", "");
    cr_assert_eq(store_tenant_add(st, &t), SB_EINVAL);
    t = make_tenant("acme");
    t.nrelay = TENANT_MAX_LANGS + 1;
    cr_assert_eq(store_tenant_add(st, &t), SB_EINVAL);
    /* The same language twice: the tenant row is rolled back with it. */
    t = make_tenant("acme");
    set_relay(&t.relay[1], "es-MX", "Amazon", "Mia-Neural", "");
    cr_assert_eq(store_tenant_add(st, &t), SB_EINVAL);
    cr_assert_eq(store_tenant_get(st, "acme", &got), SB_ENOTFOUND);
    cr_assert_eq(raw_query("SELECT count(*) FROM tenant_relay_voices"), 0);
    /* Only a transcription provider: the voice stays Twilio's default. */
    t = make_tenant("acme");
    set_relay(&t.relay[1], "en-US", "", "", "Google");
    cr_assert_eq(store_tenant_add(st, &t), 0);
}

Test(relay, tenant_update_writes_only_the_fields_named)
{
    struct tenant t = make_tenant("acme");
    struct tenant u;
    struct tenant got;
    long long before;

    cr_assert_eq(store_tenant_add(st, &t), 0);
    before = version();

    /* Only the time zone: the rest of `u` is ignored. */
    memset(&u, 0, sizeof(u));
    snprintf(u.name, sizeof(u.name), "acme");
    snprintf(u.timezone, sizeof(u.timezone), "Europe/Madrid");
    cr_assert_eq(store_tenant_update(st, &u, TENANT_FIELD_TIMEZONE), 0);
    cr_assert_gt(version(), before);
    cr_assert_eq(store_tenant_get(st, "acme", &got), 0);
    cr_assert_str_eq(got.timezone, "Europe/Madrid");
    cr_assert_str_eq(got.default_lang, "es-MX");
    cr_assert_str_eq(got.transfer_number, "+15005550006");
    cr_assert_eq(got.nlangs, 2);
    cr_assert_eq(got.nrelay, 2);

    /* The transfer number can be cleared; the language changes with it. */
    snprintf(u.default_lang, sizeof(u.default_lang), "en-US");
    cr_assert_eq(store_tenant_update(st, &u, TENANT_FIELD_TRANSFER | TENANT_FIELD_DEFAULT_LANG), 0);
    cr_assert_eq(store_tenant_get(st, "acme", &got), 0);
    cr_assert_str_eq(got.transfer_number, "");
    cr_assert_str_eq(got.default_lang, "en-US");
    cr_assert_str_eq(got.timezone, "Europe/Madrid");

    /* One language replaced, one added; en-US stays as it was. */
    u.nlangs = 2;
    set_lang(&u.langs[0], "es-MX", "Polly.Andres", "Buenas tardes, ¿cómo le ayudo?");
    set_lang(&u.langs[1], "pt-BR", "Polly.Camila", "Olá");
    before = version();
    cr_assert_eq(store_tenant_update(st, &u, TENANT_FIELD_LANGS), 0);
    cr_assert_gt(version(), before);
    cr_assert_eq(store_tenant_get(st, "acme", &got), 0);
    cr_assert_eq(got.nlangs, 3);
    cr_assert_str_eq(got.langs[0].lang, "es-MX");
    cr_assert_str_eq(got.langs[0].voice, "Polly.Andres");
    cr_assert_str_eq(got.langs[0].greeting, "Buenas tardes, ¿cómo le ayudo?");
    cr_assert_str_eq(got.langs[1].lang, "en-US");
    cr_assert_str_eq(got.langs[1].greeting, "Hello.");
    cr_assert_str_eq(got.langs[2].lang, "pt-BR");
    cr_assert_eq(got.nrelay, 2);

    /* Relay voices the same way. */
    u.nrelay = 1;
    set_relay(&u.relay[0], "en-US", "Amazon", "Joanna-Generative", "Deepgram");
    cr_assert_eq(store_tenant_update(st, &u, TENANT_FIELD_RELAY), 0);
    cr_assert_eq(store_tenant_get(st, "acme", &got), 0);
    cr_assert_eq(got.nrelay, 2);
    cr_assert_str_eq(got.relay[0].voice, "es-US-Neural2-A");
    cr_assert_str_eq(got.relay[1].tts_provider, "Amazon");
    cr_assert_str_eq(got.relay[1].voice, "Joanna-Generative");
    cr_assert_str_eq(got.relay[1].transcription_provider, "Deepgram");
    cr_assert_eq(got.nlangs, 3);
}

Test(relay, tenant_update_refuses_and_leaves_everything_as_it_was)
{
    struct tenant t = make_tenant("acme");
    struct tenant u = make_tenant("acme");
    struct tenant got;
    long long before;

    cr_assert_eq(store_tenant_add(st, &t), 0);
    before = version();
    cr_assert_eq(store_tenant_update(st, &u, 0), SB_EINVAL);
    cr_assert_eq(store_tenant_update(st, &u, 1u << 7), SB_EINVAL);
    cr_assert_eq(store_tenant_update(NULL, &u, TENANT_FIELD_TIMEZONE), SB_EINVAL);
    snprintf(u.relay[0].tts_provider, sizeof(u.relay[0].tts_provider), "Polly");
    cr_assert_eq(store_tenant_update(st, &u, TENANT_FIELD_RELAY), SB_EINVAL);
    u = make_tenant("nobody");
    cr_assert_eq(store_tenant_update(st, &u, TENANT_FIELD_TIMEZONE), SB_ENOTFOUND);
    cr_assert_eq(store_tenant_update(st, &u, TENANT_FIELD_LANGS), SB_ENOTFOUND);
    cr_assert_eq(raw_query("SELECT count(*) FROM tenant_langs WHERE tenant = 'nobody'"), 0);

    /* Seven new languages on top of two: nine is one too many, and none is kept. */
    u = make_tenant("acme");
    u.nlangs = 7;
    for (int i = 0; i < 7; i++) {
        char tag[LANG_SIZE];

        snprintf(tag, sizeof(tag), "x%c", 'a' + i);
        set_lang(&u.langs[i], tag, "", "");
    }
    snprintf(u.timezone, sizeof(u.timezone), "Asia/Tokyo");
    cr_assert_eq(store_tenant_update(st, &u, TENANT_FIELD_LANGS | TENANT_FIELD_TIMEZONE),
                 SB_EINVAL);
    cr_assert_eq(store_tenant_get(st, "acme", &got), 0);
    cr_assert_eq(got.nlangs, 2);
    cr_assert_str_eq(got.timezone, "America/Mexico_City");
    cr_assert_eq(version(), before);

    /* Inside the caller's transaction it is undone with it. */
    u = make_tenant("acme");
    snprintf(u.timezone, sizeof(u.timezone), "Asia/Tokyo");
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_tenant_update(st, &u, TENANT_FIELD_TIMEZONE), 0);
    cr_assert_eq(store_rollback(st), 0);
    cr_assert_eq(store_tenant_get(st, "acme", &got), 0);
    cr_assert_str_eq(got.timezone, "America/Mexico_City");
}

Test(relay, removing_a_tenant_removes_its_relay_voices)
{
    struct tenant a = make_tenant("acme");
    struct tenant b = make_tenant("beta");
    long long before;

    cr_assert_eq(store_tenant_add(st, &a), 0);
    cr_assert_eq(store_tenant_add(st, &b), 0);
    cr_assert_eq(raw_query("SELECT count(*) FROM tenant_relay_voices"), 4);
    before = version();
    cr_assert_eq(store_tenant_remove(st, "acme"), 0);
    cr_assert_gt(version(), before);
    cr_assert_eq(raw_query("SELECT count(*) FROM tenant_relay_voices WHERE tenant = 'acme'"), 0);
    cr_assert_eq(raw_query("SELECT count(*) FROM tenant_langs WHERE tenant = 'acme'"), 0);
    cr_assert_eq(raw_query("SELECT count(*) FROM tenant_relay_voices WHERE tenant = 'beta'"), 2);
}

Test(relay, relay_voice_changes_move_the_routing_version)
{
    struct tenant t = make_tenant("acme");
    long long before;

    cr_assert_eq(store_tenant_add(st, &t), 0);
    before = version();
    raw_exec("UPDATE tenant_relay_voices SET voice = 'es-US-Neural2-B' WHERE lang = 'es-MX'");
    cr_assert_gt(version(), before);
    before = version();
    raw_exec("DELETE FROM tenant_relay_voices WHERE lang = 'en-US'");
    cr_assert_gt(version(), before);
}

/*
 * Puts the file back to the schema of migration 4, as that program left it:
 * numbers as migration 1 made it plus migration 3's flow column (the CHECK
 * without 'relay'), its index and triggers, no tenant_relay_voices, and
 * agents without the speech columns of migration 6, and no job queue
 * (migration 7). The rows are kept.
 */
static void back_to_migration_4(void)
{
    raw_exec("BEGIN;"
             "DROP TABLE tenant_relay_voices;"
             "CREATE TABLE numbers_v4("
             "  e164 TEXT PRIMARY KEY NOT NULL,"
             "  tenant TEXT NOT NULL REFERENCES tenants(name),"
             "  plan TEXT NOT NULL CHECK(plan IN ('starter', 'pro', 'enterprise')),"
             "  agent TEXT NOT NULL DEFAULT '',"
             "  active INTEGER NOT NULL DEFAULT 1 CHECK(active IN (0, 1)));"
             "ALTER TABLE numbers_v4 ADD COLUMN flow TEXT NOT NULL DEFAULT '';"
             "INSERT INTO numbers_v4 SELECT e164, tenant, plan, agent, active, flow FROM numbers;"
             "DROP TABLE numbers;"
             "ALTER TABLE numbers_v4 RENAME TO numbers;"
             "CREATE INDEX numbers_by_tenant ON numbers(tenant);"
             "CREATE TRIGGER numbers_ai AFTER INSERT ON numbers"
             "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
             "CREATE TRIGGER numbers_au AFTER UPDATE ON numbers"
             "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
             "CREATE TRIGGER numbers_ad AFTER DELETE ON numbers"
             "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
             "ALTER TABLE agents DROP COLUMN stt;"
             "ALTER TABLE agents DROP COLUMN stt_model;"
             "ALTER TABLE agents DROP COLUMN stt_url;"
             "ALTER TABLE agents DROP COLUMN stt_key_env;"
             "ALTER TABLE agents DROP COLUMN tts;"
             "ALTER TABLE agents DROP COLUMN tts_url;"
             "ALTER TABLE agents DROP COLUMN tts_key_env;"
             "ALTER TABLE agents DROP COLUMN voices;" UNDO_MIGRATION_11 UNDO_MIGRATION_10
                 UNDO_MIGRATION_9 UNDO_MIGRATION_8 UNDO_MIGRATION_7
             "DELETE FROM schema_migrations WHERE version >= 5;"
             "COMMIT;");
}

/* Adds, under migration 4, a tenant with two numbers (one on a flow). */
static void seed_at_migration_4(void)
{
    struct tenant t = make_tenant("acme");
    struct number pro = make_number("+15005550006", "acme", PLAN_PRO);
    struct number starter = make_number("+15005550001", "acme", PLAN_STARTER);

    t.nrelay = 0;
    starter.active = 0;
    snprintf(starter.flow, sizeof(starter.flow), "main");
    cr_assert_eq(store_tenant_add(st, &t), 0);
    cr_assert_eq(store_number_add(st, &pro), 0);
    cr_assert_eq(store_number_add(st, &starter), 0);
    store_close(st);
    st = NULL;
    back_to_migration_4();
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), 4);
    cr_assert_eq(raw_query("SELECT count(*) FROM sqlite_master WHERE name = 'tenant_relay_voices'"),
                 0);
    /* The old CHECK refuses the new plan. */
    {
        sqlite3 *db = NULL;

        cr_assert_eq(sqlite3_open_v2(tgt.path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        cr_assert_neq(sqlite3_exec(db,
                                   "INSERT INTO numbers(e164, tenant, plan) "
                                   "VALUES('+15005550009', 'acme', 'relay')",
                                   NULL, NULL, NULL),
                      SQLITE_OK);
        sqlite3_close(db);
    }
}

/* What migrations 5 and 6 must leave: the rows, the index, the triggers, the new table. */
static void check_migrated(void)
{
    struct number relay = make_number("+15005550009", "acme", PLAN_RELAY);
    struct number *list = NULL;
    struct tenant t;
    size_t count = 0;
    long long before;

    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), LATEST_MIGRATION);
    cr_assert_eq(raw_query("SELECT count(*) FROM schema_migrations"), LATEST_MIGRATION);
    cr_assert_eq(store_number_list(st, &list, &count), 0);
    cr_assert_eq(count, 2);
    cr_assert_str_eq(list[0].e164, "+15005550001");
    cr_assert_eq(list[0].plan, PLAN_STARTER);
    cr_assert_eq(list[0].active, 0);
    cr_assert_str_eq(list[0].flow, "main");
    cr_assert_str_eq(list[1].e164, "+15005550006");
    cr_assert_eq(list[1].plan, PLAN_PRO);
    cr_assert_eq(list[1].active, 1);
    free(list);
    cr_assert_eq(raw_query("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND "
                           "tbl_name = 'numbers' AND name IN ('numbers_ai', 'numbers_au', "
                           "'numbers_ad')"),
                 3);
    cr_assert_eq(raw_query("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                           "name = 'numbers_by_tenant' AND tbl_name = 'numbers'"),
                 1);
    cr_assert_eq(raw_query("SELECT count(*) FROM sqlite_master WHERE name = 'numbers_new'"), 0);
    cr_assert_eq(raw_query("SELECT count(*) FROM pragma_foreign_key_check"), 0);
    cr_assert_eq(raw_query("SELECT count(*) FROM pragma_foreign_key_list('numbers') "
                           "WHERE \"table\" = 'tenants'"),
                 1);
    cr_assert_eq(store_tenant_get(st, "acme", &t), 0);
    cr_assert_eq(t.nlangs, 2);
    cr_assert_eq(t.nrelay, 0);

    /* The triggers work: every change to numbers moves the routing version. */
    before = version();
    cr_assert_eq(store_number_add(st, &relay), 0);
    cr_assert_gt(version(), before);
    before = version();
    cr_assert_eq(store_number_set_flow(st, "+15005550009", "main"), 0);
    cr_assert_gt(version(), before);
    before = version();
    cr_assert_eq(store_number_remove(st, "+15005550009"), 0);
    cr_assert_gt(version(), before);
    /* The foreign key to tenants still holds. */
    cr_assert_eq(store_tenant_remove(st, "acme"), SB_EBUSY);
    relay = make_number("+15005550011", "nobody", PLAN_RELAY);
    cr_assert_eq(store_number_add(st, &relay), SB_ENOTFOUND);
    /* And relay voices can be written. */
    t.nrelay = 1;
    set_relay(&t.relay[0], "es-MX", "Google", "es-US-Neural2-A", "Deepgram");
    before = version();
    cr_assert_eq(store_tenant_update(st, &t, TENANT_FIELD_RELAY), 0);
    cr_assert_gt(version(), before);
}

Test(relay, a_database_at_migration_4_migrates_and_keeps_its_numbers)
{
    target_sqlite_only("undoes migrations with SQLite's SQL");
    seed_at_migration_4();
    cr_assert_eq(store_open(&st, tgt.path), 0);
    check_migrated();
}

Test(relay, concurrent_openers_migrate_an_older_database_once)
{
    pid_t kids[8];
    int status;

    target_sqlite_only("undoes migrations with SQLite's SQL");
    seed_at_migration_4();
    for (int i = 0; i < 8; i++) {
        kids[i] = fork();
        cr_assert_neq(kids[i], -1);
        if (kids[i] == 0) {
            struct store *mine = NULL;
            struct number *list = NULL;
            size_t n = 0;
            int rc = store_open(&mine, tgt.path);

            /* Each opener sees the numbers, whoever migrated. */
            if (rc == 0)
                rc = store_number_list(mine, &list, &n);
            free(list);
            store_close(mine);
            _exit(rc == 0 && n == 2 ? 0 : 1);
        }
    }
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(waitpid(kids[i], &status, 0), kids[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "opener %d failed", i);
    }
    cr_assert_eq(store_open(&st, tgt.path), 0);
    check_migrated();
}
