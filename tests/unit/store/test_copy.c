/*
 * A whole store copied between two stores (store/copy.h): every table's
 * rows arrive, with their accents, ids and NULLs; the copy's table list
 * matches the schema; a non-empty destination is refused untouched.
 */
#include <criterion/criterion.h>

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/agents.h"
#include "store/copy.h"
#include "store/jobs.h"
#include "store/store.h"
#include "store_target.h"

static char dir[256];
static char src_path[300];
static struct store_target tgt; /* the destination: SQLite, or PostgreSQL with SB_TEST_POSTGRES */
static struct store *src;
static struct store *dst;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, sizeof(dir), "%s/sb-copy-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(src_path, sizeof(src_path), "%s/src.db", dir);
    cr_assert_eq(store_open(&src, src_path), 0);
    target_create(&tgt, "sb-copy-dst");
    cr_assert_eq(store_open(&dst, tgt.path), 0);
}

static void teardown(void)
{
    store_close(src);
    store_close(dst);
    src = dst = NULL;
    target_destroy(&tgt);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(copy, .init = setup, .fini = teardown);

static const char kb[] = "# Horario\n\nAbrimos de lunes a sábado, de 9:00 a 19:00.\n\n"
                         "# Precios\n\n¿Cuánto cuesta un corte? Veinte euros, con lavado.\n";

/* A store with a row in every table, in Spanish where there is text. */
static void fill(struct store *s)
{
    struct tenant t = {.name = "peluqueria", .default_lang = "es-MX", .timezone = "Europe/Madrid"};
    struct number n = {.e164 = "+34910000001",
                       .tenant = "peluqueria",
                       .plan = PLAN_PRO,
                       .agent = "recepcion",
                       .active = 1};
    struct agent_config a;
    struct call_record c = {.call_sid = "CA00000000000000000000000000000001",
                            .tenant = "peluqueria",
                            .direction = "inbound",
                            .from = "+34600000002",
                            .to = "+34910000001",
                            .status = "ringing",
                            .duration = -1,
                            .lang = "es-MX",
                            .started_at = 1760000000};
    struct status_event e = {.call_sid = "CA00000000000000000000000000000001",
                             .sequence = 3,
                             .status = "completed",
                             .duration = 42,
                             .at = 1760000042};
    struct call_turn turn = {.call_sid = "CA00000000000000000000000000000001",
                             .role = TURN_CALLER,
                             .text = "¿Abren el sábado?",
                             .latency_ms = -1,
                             .at = 1760000001000};
    struct call_message m = {.call_sid = "CA00000000000000000000000000000001",
                             .caller_name = "José Núñez",
                             .callback_number = "+34600000002",
                             .message = "Llámenme mañana, por favor.",
                             .at = 1760000002000};
    struct stream_record sr = {.stream_sid = "MZ00000000000000000000000000000001",
                               .call_sid = "CA00000000000000000000000000000001",
                               .started_at = 1760000000100,
                               .stopped_at = 1760000040000,
                               .reason = "stop",
                               .duration_ms = 39900,
                               .frames_in = 1995,
                               .frames_out = 1500};
    struct recording rec = {.recording_sid = "RE00000000000000000000000000000001",
                            .call_sid = "CA00000000000000000000000000000001",
                            .url = "https://api.twilio.com/rec",
                            .duration = 12,
                            .status = "completed",
                            .at = 1760000050};
    struct flow_call fc = {.call_sid = "CA00000000000000000000000000000001",
                           .tenant = "peluqueria",
                           .flow = "menu",
                           .node = "inicio",
                           .lang = "es-MX",
                           .step_no = 1,
                           .last_twiml = "<Response/>"};
    struct job_request jr = {.tenant = "peluqueria",
                             .to = "+34600000003",
                             .kind = JOB_KIND_SAY,
                             .say_text = "Hola {{name}}, su cita es mañana a las 10."};
    enum status_outcome out;
    char secret[API_KEY_SECRET_SIZE];
    char err[256] = "";
    long long id = 0;
    long long cid = 0;
    int already = 0;
    int replayed = 0;
    size_t np = 0;

    snprintf(t.langs[0].lang, LANG_SIZE, "es-MX");
    snprintf(t.langs[0].voice, VOICE_SIZE, "Polly.Mia");
    snprintf(t.langs[0].greeting, GREETING_SIZE, "¡Hola! ¿En qué puedo ayudarle?");
    t.nlangs = 1;
    snprintf(t.relay[0].lang, LANG_SIZE, "es-MX");
    snprintf(t.relay[0].tts_provider, sizeof(t.relay[0].tts_provider), "ElevenLabs");
    snprintf(t.relay[0].voice, sizeof(t.relay[0].voice), "UgBBYS2sOqTuMpoF3BR0");
    snprintf(t.relay[0].transcription_provider, sizeof(t.relay[0].transcription_provider),
             "Deepgram");
    t.nrelay = 1;
    cr_assert_eq(store_tenant_add(s, &t), 0);
    memset(&a, 0, sizeof(a));
    snprintf(a.tenant, sizeof(a.tenant), "peluqueria");
    snprintf(a.name, sizeof(a.name), "recepcion");
    snprintf(a.base_url, sizeof(a.base_url), "http://127.0.0.1:9/v1");
    snprintf(a.model, sizeof(a.model), "modelo");
    a.prompt = "Eres la recepcionista de la Peluquería Ñandú.";
    a.temperature = 0.4;
    a.first_token_timeout_ms = 1800;
    cr_assert_eq(agent_config_add(s, &a), 0);
    cr_assert_eq(store_number_add(s, &n), 0);
    cr_assert_eq(store_flow_put(s, "peluqueria", "menu", "{\"start\":\"inicio\"}"), 0);
    cr_assert_eq(knowledge_import(s, "peluqueria", "recepcion", "kb.md", kb, strlen(kb), &np), 0);
    cr_assert_eq(store_call_insert(s, &c), 0);
    cr_assert_eq(store_status_apply(s, &e, &out), 0);
    cr_assert_eq(call_turn_append(s, &turn, NULL), 0);
    cr_assert_eq(call_message_add(s, &m), 0);
    cr_assert_eq(store_stream_record(s, &sr), 0);
    cr_assert_eq(store_recording_put(s, &rec), 0);
    cr_assert_eq(store_flow_call_put(s, &fc), 0);
    cr_assert_eq(campaign_add(s, "peluqueria", "recordatorios", 1760000000, &cid), 0);
    jr.campaign_id = cid;
    cr_assert_eq(
        job_add_idempotent(s, &jr, "cita-42", 1760000000, &id, &replayed, err, sizeof(err)), 0,
        "%s", err);
    cr_assert_eq(optout_set(s, "peluqueria", "+34600000009", 1, 1760000000), 0);
    cr_assert_eq(api_key_create(s, "peluqueria", "agenda", 1760000000, secret, &id), 0);
    cr_assert_eq(transfer_text_mark(s, "peluqueria", "CA00000000000000000000000000000001",
                                    1760000000, &already),
                 0);
}

static long long rows(struct store *s, const char *table)
{
    long long n = -1;

    cr_assert_eq(s->ops->rows_count(s, table, &n), 0);
    return n;
}

Test(copy, every_row_of_every_table_arrives)
{
    const char *nonempty = NULL;
    const struct copy_table *t;
    struct knowledge_passage *p = NULL;
    struct call_turn *turns = NULL;
    struct tenant got;
    struct call_record call;
    struct job_request jr = {
        .tenant = "peluqueria", .to = "+34600000004", .kind = JOB_KIND_SAY, .say_text = "Adiós."};
    char err[256] = "";
    long long id = 0;
    size_t n = 0;

    fill(src);
    cr_assert_eq(store_copy(src, dst, NULL, &nonempty), 0);
    t = copy_tables(&n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_gt(rows(src, t[i].name), 0, "the test leaves %s empty", t[i].name);
        cr_assert_eq(rows(dst, t[i].name), rows(src, t[i].name), "%s", t[i].name);
    }
    cr_assert_eq(store_tenant_get(dst, "peluqueria", &got), 0);
    cr_assert_str_eq(got.langs[0].greeting, "¡Hola! ¿En qué puedo ayudarle?");
    cr_assert_eq(store_call_get(dst, "CA00000000000000000000000000000001", &call), 0);
    cr_assert_str_eq(call.status, "completed");
    cr_assert_eq(call.duration, 42);
    cr_assert_eq(call_turns_list(dst, "CA00000000000000000000000000000001", &turns, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(turns[0].text, "¿Abren el sábado?");
    cr_assert_eq(turns[0].latency_ms, -1);
    call_turns_free(turns, n);
    /* The destination's own index finds the copied passages. */
    cr_assert_eq(
        knowledge_search(dst, "peluqueria", "recepcion", "cuánto cuesta un corte", 3, &p, &n), 0);
    cr_assert_geq(n, 1);
    cr_assert(strstr(p[0].text, "Veinte euros") != NULL, "%s", p[0].text);
    free(p);
    /* A new job gets an id after the copied one. */
    cr_assert_eq(job_add(dst, &jr, 1760000100, &id, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(id, 2);
}

Test(copy, a_destination_with_rows_is_refused_untouched)
{
    const char *nonempty = NULL;
    struct tenant t = {.name = "otra", .default_lang = "en-US", .timezone = "UTC"};

    fill(src);
    cr_assert_eq(store_tenant_add(dst, &t), 0);
    cr_assert_eq(store_copy(src, dst, NULL, &nonempty), SB_EEXISTS);
    cr_assert_str_eq(nonempty, "tenants");
    cr_assert_eq(rows(dst, "tenants"), 1);
    cr_assert_eq(rows(dst, "numbers"), 0);
}

Test(copy, stores_at_other_schema_versions_are_refused)
{
    const char *nonempty = NULL;

    fill(src);
    /* The destination as a program one migration older sees it. */
    target_exec(&tgt, "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM "
                      "schema_migrations)");
    cr_assert_eq(store_copy(src, dst, NULL, &nonempty), SB_ESTORE);
    cr_assert_eq(rows(dst, "tenants"), 0);
}

Test(copy, back_again_every_row_is_the_same)
{
    char back_path[400];
    const char *nonempty = NULL;
    const struct copy_table *t;
    struct store *back = NULL;
    size_t n = 0;

    fill(src);
    cr_assert_eq(store_copy(src, dst, NULL, &nonempty), 0);
    snprintf(back_path, sizeof(back_path), "sqlite:%s/back.db", dir);
    cr_assert_eq(store_open(&back, back_path), 0);
    cr_assert_eq(store_copy(dst, back, NULL, &nonempty), 0);
    t = copy_tables(&n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(rows(back, t[i].name), rows(src, t[i].name), "%s", t[i].name);
    store_close(back);
}

/* 1 when `name` is a table the copy leaves out on purpose (copy_skipped_tables). */
static int skipped(const char *name)
{
    size_t n = 0;
    const char *const *s = copy_skipped_tables(&n);

    for (size_t i = 0; i < n; i++) {
        if (strcmp(s[i], name) == 0)
            return 1;
    }
    return 0;
}

/*
 * The copy's columns are the schema's, table for table (SQLite's schema is
 * the reference); a table not copied is one named as skipped.
 */
Test(copy, the_table_list_matches_the_schema)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    const struct copy_table *t;
    size_t n = 0;
    size_t seen = 0;
    size_t nskipped = 0;
    const char *const *skip = copy_skipped_tables(&nskipped);

    t = copy_tables(&n);
    cr_assert_eq(sqlite3_open_v2(src_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    /* Each table skipped exists, and is not copied as well. */
    for (size_t i = 0; i < nskipped; i++) {
        sqlite3_stmt *e = NULL;

        cr_assert_eq(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                        "AND name = ?1",
                                        -1, &e, NULL),
                     SQLITE_OK);
        cr_assert_eq(sqlite3_bind_text(e, 1, skip[i], -1, SQLITE_STATIC), SQLITE_OK);
        cr_assert_eq(sqlite3_step(e), SQLITE_ROW);
        cr_assert_eq(sqlite3_column_int(e, 0), 1, "table %s is skipped but absent", skip[i]);
        sqlite3_finalize(e);
        for (size_t k = 0; k < n; k++)
            cr_assert_str_neq(t[k].name, skip[i], "table %s is copied and skipped", skip[i]);
    }
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name "
                                    "NOT LIKE 'knowledge_fts%' AND name NOT LIKE 'sqlite_%'",
                                    -1, &q, NULL),
                 SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        const struct copy_table *ct = NULL;
        sqlite3_stmt *cols = NULL;
        char sql[128];
        size_t ncols = 0;

        if (skipped(name))
            continue;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(t[i].name, name) == 0)
                ct = &t[i];
        }
        cr_assert_not_null(ct, "table %s is not copied (store/copy.c)", name);
        seen++;
        snprintf(sql, sizeof(sql), "SELECT name FROM pragma_table_info('%s')", name);
        cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &cols, NULL), SQLITE_OK);
        while (sqlite3_step(cols) == SQLITE_ROW) {
            const char *col = (const char *)sqlite3_column_text(cols, 0);
            int found = 0;

            for (size_t i = 0; i < ct->ncols; i++)
                found |= strcmp(ct->cols[i], col) == 0;
            cr_assert(found, "column %s.%s is not copied (store/copy.c)", name, col);
            ncols++;
        }
        sqlite3_finalize(cols);
        cr_assert_eq(ncols, ct->ncols, "table %s", name);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    cr_assert_eq(seen, n);
}
