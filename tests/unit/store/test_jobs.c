/*
 * Tests of store/jobs.h: the outbound job queue and what goes with it, on
 * SQLite or, with SB_TEST_POSTGRES, on PostgreSQL (store_target.h).
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "store/jobs.h"
#include "store/store.h"
#include "store_target.h"
#include "undo_migrations.h"

#define T0 1767225600LL /* 2026-01-01 00:00:00 UTC */

static struct store_target tgt;
static const char *path; /* what store_open takes: tgt.path */
static struct store *st;

static void add_tenant(const char *name)
{
    struct tenant t;

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "%s", name);
    snprintf(t.default_lang, sizeof(t.default_lang), "es-MX");
    cr_assert_eq(store_tenant_add(st, &t), 0);
}

static void setup(void)
{
    target_create(&tgt, "sb-jobs");
    path = tgt.path;
    cr_assert_eq(store_open(&st, path), 0);
    add_tenant("acme");
    add_tenant("peluqueria");
}

static void teardown(void)
{
    store_close(st);
    st = NULL;
    target_destroy(&tgt);
}

TestSuite(jobs, .init = setup, .fini = teardown);

/* One integer from the test's database, read outside the store. */
static long long raw_query(const char *sql)
{
    return target_query_i64(&tgt, sql);
}

/* A say call from tenant acme to `to`. */
static struct job_request say_to(const char *to)
{
    struct job_request r = {
        .tenant = "acme",
        .to = to,
        .kind = JOB_KIND_SAY,
        .say_text = "Hola {{name}}, su cita es mañana a las 10.",
    };

    return r;
}

static long long add_job(const struct job_request *r, long long now)
{
    char err[256] = "";
    long long id = 0;

    cr_assert_eq(job_add(st, r, now, &id, err, sizeof(err)), 0, "%s", err);
    cr_assert_gt(id, 0);
    return id;
}

static struct job get(long long id)
{
    struct job j;

    cr_assert_eq(job_get(st, id, &j), 0);
    return j;
}

/* Claims at `now` with `limit` and `cap`; returns how many, the jobs in *out (free them). */
static size_t claim(long long now, size_t limit, int cap, struct job **out)
{
    struct job *list = NULL;
    size_t n = 99;

    cr_assert_eq(job_claim_due(st, now, limit, cap, &list, &n), 0);
    if (out)
        *out = list;
    else
        job_list_free(list);
    return n;
}

static struct job_update status(long long job_id, const char *sid, const char *s, long long now)
{
    struct job_update u;

    cr_assert_eq(job_status_by_call(st, job_id, sid, s, NULL, now, &u), 0);
    return u;
}

Test(jobs, names_round_trip)
{
    for (int i = 0; i < JOB_STATUS_COUNT; i++) {
        enum job_status s;

        cr_assert_eq(job_status_parse(job_status_name((enum job_status)i), &s), 0);
        cr_assert_eq((int)s, i);
        cr_assert_eq(job_status_final(s), i >= JOB_COMPLETED);
    }
    for (int i = 0; i < 3; i++) {
        enum job_kind k;
        enum campaign_status c;

        cr_assert_eq(job_kind_parse(job_kind_name((enum job_kind)i), &k), 0);
        cr_assert_eq((int)k, i);
        cr_assert_eq(campaign_status_parse(campaign_status_name((enum campaign_status)i), &c), 0);
        cr_assert_eq((int)c, i);
    }
    cr_assert_str_eq(job_status_name(JOB_NO_ANSWER), "no-answer");
    cr_assert_str_eq(job_kind_name((enum job_kind)9), "unknown");
    {
        enum job_kind k;

        cr_assert_eq(job_kind_parse("Say", &k), SB_EINVAL);
    }
}

Test(jobs, a_spanish_contact_round_trips)
{
    struct job_request r = say_to("+5215512345678");
    struct job j;
    long long id;

    r.contact_name = "José Núñez";
    r.lang = "es-MX";
    r.from = "+15005550006";
    r.not_before = T0 + 3600;
    r.max_retries = 2;
    r.retry_delay_s = 120;
    r.amd = 1;
    r.sms_fallback = 1;
    id = add_job(&r, T0);
    j = get(id);
    cr_assert_eq(j.id, id);
    cr_assert_str_eq(j.tenant, "acme");
    cr_assert_eq(j.campaign_id, 0);
    cr_assert_str_eq(j.to, "+5215512345678");
    cr_assert_str_eq(j.from, "+15005550006");
    cr_assert_str_eq(j.contact_name, "José Núñez");
    cr_assert_str_eq(j.lang, "es-MX");
    cr_assert_eq(j.kind, JOB_KIND_SAY);
    cr_assert_str_eq(j.target, "");
    cr_assert_str_eq(j.say_text, "Hola {{name}}, su cita es mañana a las 10.");
    cr_assert_eq(j.not_before, T0 + 3600);
    cr_assert_eq(j.next_attempt_at, T0 + 3600);
    cr_assert_eq(j.status, JOB_QUEUED);
    cr_assert_eq(j.attempts, 0);
    cr_assert_eq(j.max_retries, 2);
    cr_assert_eq(j.retry_delay_s, 120);
    cr_assert_str_eq(j.call_sid, "");
    cr_assert_eq(j.amd, 1);
    cr_assert_eq(j.sms_fallback, 1);
    cr_assert_eq(j.sms_sent, 0);
    cr_assert_eq(j.created_at, T0);
    cr_assert_eq(j.placing_since, 0);
    /* The stored bytes are the UTF-8 given, not a re-encoding. */
    cr_assert_eq(raw_query("SELECT count(*) FROM jobs WHERE contact_name = 'José Núñez' "
                           "AND lang = 'es-MX'"),
                 1);

    /* Defaults: the tenant's first number, the retry delay. */
    r = say_to("+15005550100");
    r.kind = JOB_KIND_FLOW;
    r.target = "recordatorio";
    r.say_text = NULL;
    j = get(add_job(&r, T0));
    cr_assert_str_eq(j.from, "");
    cr_assert_str_eq(j.target, "recordatorio");
    cr_assert_eq(j.retry_delay_s, JOB_RETRY_DELAY_DEFAULT_S);
    cr_assert_eq(j.next_attempt_at, T0);
    cr_assert_eq(job_get(st, 999, &j), SB_ENOTFOUND);
}

/* Adds `r`, expecting `rc` and a reason that holds `why`, never the number. */
static void refused(const struct job_request *r, int rc, const char *why)
{
    char err[256] = "";
    long long id = -1;

    cr_assert_eq(job_add(st, r, T0, &id, err, sizeof(err)), rc, "%s: got '%s'", why, err);
    cr_assert_not_null(strstr(err, why), "wanted '%s' in '%s'", why, err);
    cr_assert_null(strstr(err, "5512345"), "a number in '%s'", err);
}

Test(jobs, bad_input_is_refused_with_a_precise_reason)
{
    struct job_request r;
    char big[JOB_SAY_MAX + 2];
    char name[JOB_NAME_SIZE + 1];

    r = say_to("5512345678");
    refused(&r, SB_EINVAL, "'to' is not an E.164 number");
    r = say_to("+05512345678");
    refused(&r, SB_EINVAL, "'to' is not an E.164 number");
    r = say_to(NULL);
    refused(&r, SB_EINVAL, "'to' is missing");
    r = say_to("+5215512345678");
    r.from = "+1 500 555";
    refused(&r, SB_EINVAL, "'from' is not an E.164 number");
    r = say_to("+5215512345678");
    r.kind = (enum job_kind)7;
    refused(&r, SB_EINVAL, "unknown call kind 7");
    r = say_to("+5215512345678");
    r.kind = JOB_KIND_FLOW;
    r.say_text = NULL;
    refused(&r, SB_EINVAL, "a flow call needs the flow's name");
    r.kind = JOB_KIND_AGENT;
    r.target = "";
    refused(&r, SB_EINVAL, "an agent call needs the agent's name");
    r.target = "no spaces";
    refused(&r, SB_EINVAL, "agent name 'no spaces' is not valid");
    r.target = "ventas";
    r.say_text = "hola";
    refused(&r, SB_EINVAL, "only a say call has a text");
    r = say_to("+5215512345678");
    r.target = "ventas";
    refused(&r, SB_EINVAL, "a say call names no flow or agent");
    r = say_to("+5215512345678");
    r.say_text = "";
    refused(&r, SB_EINVAL, "a say call needs its text");
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    r.say_text = big;
    refused(&r, SB_ETOOBIG, "say text is longer than 1000 bytes");
    big[JOB_SAY_MAX] = '\0'; /* exactly the most: accepted */
    add_job(&r, T0);
    r = say_to("+5215512345678");
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    r.contact_name = name;
    refused(&r, SB_ETOOBIG, "contact name is longer than 127 bytes");
    r.contact_name = "Jos\xe9"; /* Latin-1 */
    refused(&r, SB_EINVAL, "contact name is not UTF-8 text");
    r.contact_name = "José\nNúñez";
    refused(&r, SB_EINVAL, "contact name holds a control character");
    r.contact_name = NULL;
    r.lang = "es MX";
    refused(&r, SB_EINVAL, "language is not a language tag");
    r.lang = "es-MX";
    r.max_retries = JOB_MAX_RETRIES + 1;
    refused(&r, SB_EINVAL, "retries must be 0 to 10");
    r.max_retries = 0;
    r.retry_delay_s = -1;
    refused(&r, SB_EINVAL, "retry delay must be 0 to 86400 seconds");
    r.retry_delay_s = 0;
    r.tenant = "nadie";
    refused(&r, SB_ENOTFOUND, "no tenant 'nadie'");
    r.tenant = "";
    refused(&r, SB_EINVAL, "tenant is missing");
    cr_assert_eq(raw_query("SELECT count(*) FROM jobs"), 1);
}

Test(jobs, a_job_goes_queued_placing_placed_completed)
{
    struct job_request r = say_to("+5215512345678");
    struct job *list = NULL;
    struct job_update u;
    struct job j;
    long long id;

    r.lang = "es-MX";
    id = add_job(&r, T0);
    cr_assert_eq(claim(T0, 10, 0, &list), 1);
    cr_assert_eq(list[0].id, id);
    cr_assert_eq(list[0].status, JOB_PLACING);
    cr_assert_eq(list[0].attempts, 1);
    cr_assert_eq(list[0].placing_since, T0);
    job_list_free(list);
    /* Placing: never handed out again. */
    cr_assert_eq(claim(T0 + 1000, 10, 0, NULL), 0);
    cr_assert_eq(job_cancel(st, id, T0), SB_EBUSY);

    cr_assert_eq(job_placed(st, id, "CA0000000000000000000000000000001", "+15005550006", T0 + 1),
                 0);
    /* Twice (a retried answer) is fine; another call is not. */
    cr_assert_eq(job_placed(st, id, "CA0000000000000000000000000000001", NULL, T0 + 1), 0);
    cr_assert_eq(job_placed(st, id, "CA0000000000000000000000000000002", NULL, T0 + 1), SB_EBUSY);
    j = get(id);
    cr_assert_eq(j.status, JOB_PLACED);
    cr_assert_str_eq(j.call_sid, "CA0000000000000000000000000000001");
    /* The call log knows the call: outbound-api, placed by this job. */
    cr_assert_eq(raw_query("SELECT count(*) FROM calls WHERE call_sid = "
                           "'CA0000000000000000000000000000001' AND direction = 'outbound-api' "
                           "AND job_id = 1 AND to_number = '+5215512345678' "
                           "AND from_number = '+15005550006' AND lang = 'es-MX'"),
                 1);

    u = status(0, "CA0000000000000000000000000000001", "ringing", T0 + 2);
    cr_assert_eq(u.outcome, JOB_OUTCOME_NONE);
    cr_assert_eq(u.job_id, id);
    cr_assert_eq(job_status_by_call(st, 0, "CA0000000000000000000000000000001", "in-progress",
                                    "human", T0 + 3, &u),
                 0);
    cr_assert_eq(u.outcome, JOB_OUTCOME_NONE);
    cr_assert_str_eq(get(id).answered_by, "human");
    u = status(0, "CA0000000000000000000000000000001", "completed", T0 + 60);
    cr_assert_eq(u.outcome, JOB_OUTCOME_FINAL);
    cr_assert_eq(u.status, JOB_COMPLETED);
    cr_assert_eq(u.sms_due, 0);
    cr_assert_eq(get(id).status, JOB_COMPLETED);
    /* A repeated callback changes nothing. */
    u = status(0, "CA0000000000000000000000000000001", "completed", T0 + 61);
    cr_assert_eq(u.outcome, JOB_OUTCOME_NONE);
    cr_assert_eq(u.status, JOB_COMPLETED);
    cr_assert_eq(job_cancel(st, id, T0), SB_ECLOSED);

    cr_assert_eq(
        job_status_by_call(st, 0, "CA0000000000000000000000000000009", "completed", NULL, T0, &u),
        SB_ENOTFOUND);
    cr_assert_eq(
        job_status_by_call(st, 0, "CA0000000000000000000000000000001", "exploded", NULL, T0, &u),
        SB_EINVAL);
}

Test(jobs, a_callback_before_the_create_answer_binds_the_call)
{
    long long id = add_job(
        &(struct job_request){
            .tenant = "acme", .to = "+5215512345678", .kind = JOB_KIND_AGENT, .target = "ventas"},
        T0);
    struct job_update u;

    cr_assert_eq(claim(T0, 1, 0, NULL), 1);
    /* Without the job's id, the call is unknown. */
    cr_assert_eq(
        job_status_by_call(st, 0, "CA0000000000000000000000000000003", "ringing", NULL, T0, &u),
        SB_ENOTFOUND);
    u = status(id, "CA0000000000000000000000000000003", "ringing", T0);
    cr_assert_eq(u.outcome, JOB_OUTCOME_NONE);
    cr_assert_eq(get(id).status, JOB_PLACED);
    cr_assert_eq(job_placed(st, id, "CA0000000000000000000000000000003", NULL, T0 + 1), 0);
    u = status(id, "CA0000000000000000000000000000003", "failed", T0 + 2);
    cr_assert_eq(u.outcome, JOB_OUTCOME_FINAL);
    cr_assert_eq(u.status, JOB_FAILED);
}

Test(jobs, not_before_holds_a_job_back)
{
    struct job_request r = say_to("+5215512345678");
    long long id;

    r.not_before = T0 + 100;
    id = add_job(&r, T0);
    cr_assert_eq(claim(T0 + 99, 10, 0, NULL), 0);
    cr_assert_eq(claim(T0 + 100, 10, 0, NULL), 1);
    cr_assert_eq(get(id).status, JOB_PLACING);
}

Test(jobs, the_cap_limits_each_tenant_and_the_limit_each_claim)
{
    struct job_request r = say_to("+5215512345678");
    struct job *list = NULL;
    long long first;
    size_t n;

    first = add_job(&r, T0);
    for (int i = 1; i < 5; i++)
        add_job(&r, T0 + i);
    r.tenant = "peluqueria";
    for (int i = 0; i < 3; i++)
        add_job(&r, T0);
    /* Two of acme's (the oldest), two of peluqueria's. */
    n = claim(T0 + 10, 100, 2, &list);
    cr_assert_eq(n, 4);
    cr_assert_eq(list[0].id, first);
    cr_assert_eq(list[1].id, first + 1);
    cr_assert_str_eq(list[2].tenant, "peluqueria");
    job_list_free(list);
    cr_assert_eq(claim(T0 + 10, 100, 2, NULL), 0);
    /* Placed calls count too; an ended one frees its place. */
    cr_assert_eq(job_placed(st, first, "CA0000000000000000000000000000004", NULL, T0 + 11), 0);
    cr_assert_eq(claim(T0 + 12, 100, 2, NULL), 0);
    status(0, "CA0000000000000000000000000000004", "completed", T0 + 20);
    n = claim(T0 + 21, 100, 2, &list);
    cr_assert_eq(n, 1);
    cr_assert_eq(list[0].id, first + 2);
    job_list_free(list);
    /* The limit, whatever the cap. */
    cr_assert_eq(claim(T0 + 22, 1, 0, NULL), 1);
    cr_assert_eq(claim(T0 + 22, 0, 0, NULL), 0);
    cr_assert_eq(claim(T0 + 22, 10, 0, NULL), 2);
}

Test(jobs, an_opted_out_number_is_skipped_never_called)
{
    long long a, b, c;
    int out = -1;

    a = add_job(&(struct job_request){.tenant = "acme",
                                      .to = "+5215512345678",
                                      .kind = JOB_KIND_SAY,
                                      .say_text = "hola",
                                      .sms_fallback = 1},
                T0);
    b = add_job(
        &(struct job_request){
            .tenant = "acme", .to = "+5215500000000", .kind = JOB_KIND_SAY, .say_text = "hola"},
        T0);
    cr_assert_eq(optout_set(st, "acme", "+5215512345678", 1, T0), 0);
    cr_assert_eq(optout_set(st, "acme", "+5215512345678", 1, T0), 0); /* STOP twice */
    cr_assert_eq(optout_check(st, "acme", "+5215512345678", &out), 0);
    cr_assert_eq(out, 1);
    cr_assert_eq(optout_check(st, "peluqueria", "+5215512345678", &out), 0);
    cr_assert_eq(out, 0);
    cr_assert_eq(claim(T0, 10, 0, NULL), 1);
    cr_assert_eq(get(a).status, JOB_SKIPPED);
    cr_assert_str_eq(get(a).error, "the number opted out");
    cr_assert_eq(get(b).status, JOB_PLACING);
    /* START: called again. */
    cr_assert_eq(optout_set(st, "acme", "+5215512345678", 0, T0), 0);
    c = add_job(
        &(struct job_request){
            .tenant = "acme", .to = "+5215512345678", .kind = JOB_KIND_SAY, .say_text = "hola"},
        T0);
    cr_assert_eq(claim(T0, 10, 0, NULL), 1);
    cr_assert_eq(get(c).status, JOB_PLACING);
    cr_assert_eq(optout_set(st, "acme", "5512345678", 1, T0), SB_EINVAL);
    cr_assert_eq(optout_set(st, "nadie", "+5215512345678", 1, T0), SB_ENOTFOUND);
}

Test(jobs, busy_and_no_answer_retry_after_the_delay_up_to_the_limit)
{
    struct job_request r = say_to("+5215512345678");
    struct job_update u;
    struct job j;
    long long id;
    int already = -1;

    r.max_retries = 1;
    r.retry_delay_s = 60;
    r.sms_fallback = 1;
    id = add_job(&r, T0);
    cr_assert_eq(claim(T0, 10, 0, NULL), 1);
    cr_assert_eq(job_placed(st, id, "CA0000000000000000000000000000005", NULL, T0), 0);
    u = status(0, "CA0000000000000000000000000000005", "busy", T0 + 30);
    cr_assert_eq(u.outcome, JOB_OUTCOME_RETRYING);
    cr_assert_eq(u.status, JOB_QUEUED);
    cr_assert_eq(u.next_attempt_at, T0 + 90);
    cr_assert_eq(u.sms_due, 0);
    j = get(id);
    cr_assert_eq(j.status, JOB_QUEUED);
    cr_assert_str_eq(j.call_sid, "");
    cr_assert_str_eq(j.error, "busy");
    cr_assert_eq(claim(T0 + 89, 10, 0, NULL), 0);
    cr_assert_eq(claim(T0 + 90, 10, 0, NULL), 1);
    cr_assert_eq(get(id).attempts, 2);
    cr_assert_eq(job_placed(st, id, "CA0000000000000000000000000000006", NULL, T0 + 90), 0);
    /* The first attempt's call belongs to this job still, and is not this attempt's. */
    u = status(0, "CA0000000000000000000000000000005", "busy", T0 + 91);
    cr_assert_eq(u.outcome, JOB_OUTCOME_NONE);
    cr_assert_eq(u.job_id, id);
    cr_assert_eq(job_get_by_call(st, "CA0000000000000000000000000000005", &j), 0);
    cr_assert_eq(j.id, id);
    /* Neither can it be placed again under another job. */
    u = status(0, "CA0000000000000000000000000000006", "no-answer", T0 + 120);
    cr_assert_eq(u.outcome, JOB_OUTCOME_FINAL);
    cr_assert_eq(u.status, JOB_NO_ANSWER);
    cr_assert_eq(u.sms_due, 1);
    cr_assert_eq(get(id).status, JOB_NO_ANSWER);
    cr_assert_eq(claim(T0 + 1000, 10, 0, NULL), 0);

    /* The SMS fallback, exactly once. */
    cr_assert_eq(job_mark_sms_sent(st, id, &already), 0);
    cr_assert_eq(already, 0);
    cr_assert_eq(job_mark_sms_sent(st, id, &already), 0);
    cr_assert_eq(already, 1);
    cr_assert_eq(get(id).sms_sent, 1);
    cr_assert_eq(job_mark_sms_sent(st, 999, &already), SB_ENOTFOUND);
}

Test(jobs, job_ids_are_1_to_18_digits_not_0)
{
    long long id = -1;

    cr_assert_eq(job_id_parse("42", &id), 0);
    cr_assert_eq(id, 42);
    cr_assert_eq(job_id_parse("999999999999999999", &id), 0);
    cr_assert_eq(id, 999999999999999999LL);
    cr_assert_eq(job_id_parse("1000000000000000000", &id), SB_EINVAL); /* 19 digits */
    cr_assert_eq(job_id_parse("0", &id), SB_EINVAL);
    cr_assert_eq(job_id_parse("", &id), SB_EINVAL);
    cr_assert_eq(job_id_parse("-1", &id), SB_EINVAL);
    cr_assert_eq(job_id_parse("12a", &id), SB_EINVAL);
    cr_assert_eq(job_id_parse(NULL, &id), SB_EINVAL);
    cr_assert_eq(id, 999999999999999999LL, "a refused id leaves *id alone");
}

Test(jobs, a_failed_transfer_is_texted_once_per_call)
{
    int already = -1;

    cr_assert_eq(transfer_text_mark(st, "acme",
                                    "CA"
                                    "11111111111111111111111111111111",
                                    T0, &already),
                 0);
    cr_assert_eq(already, 0);
    cr_assert_eq(transfer_text_mark(st, "acme",
                                    "CA"
                                    "11111111111111111111111111111111",
                                    T0 + 5, &already),
                 0);
    cr_assert_eq(already, 1);
    /* Another call of the same caller is another text. */
    cr_assert_eq(transfer_text_mark(st, "acme",
                                    "CA"
                                    "22222222222222222222222222222222",
                                    T0, &already),
                 0);
    cr_assert_eq(already, 0);
    cr_assert_eq(transfer_text_mark(st, "nobody",
                                    "CA"
                                    "33333333333333333333333333333333",
                                    T0, &already),
                 SB_ENOTFOUND);
    cr_assert_eq(transfer_text_mark(st, "acme", "", T0, &already), SB_EINVAL);
    cr_assert_eq(transfer_text_mark(st, "acme", "CA1", 0, &already), SB_EINVAL);
}

Test(jobs, no_sms_to_an_opted_out_number_nor_without_the_fallback)
{
    struct job_request r = say_to("+5215512345678");
    struct job_update u;
    long long a, b;

    r.sms_fallback = 1;
    a = add_job(&r, T0);
    r.sms_fallback = 0;
    r.to = "+5215500000000";
    b = add_job(&r, T0);
    cr_assert_eq(claim(T0, 10, 0, NULL), 2);
    cr_assert_eq(job_placed(st, a, "CA0000000000000000000000000000007", NULL, T0), 0);
    cr_assert_eq(job_placed(st, b, "CA0000000000000000000000000000008", NULL, T0), 0);
    /* STOP arrives while the call rings. */
    cr_assert_eq(optout_set(st, "acme", "+5215512345678", 1, T0), 0);
    u = status(0, "CA0000000000000000000000000000007", "no-answer", T0 + 30);
    cr_assert_eq(u.outcome, JOB_OUTCOME_FINAL);
    cr_assert_eq(u.sms_due, 0);
    u = status(0, "CA0000000000000000000000000000008", "busy", T0 + 30);
    cr_assert_eq(u.outcome, JOB_OUTCOME_FINAL);
    cr_assert_eq(u.sms_due, 0);
}

Test(jobs, release_requeues_or_fails_a_claimed_job)
{
    struct job_request r = say_to("+5215512345678");
    struct job_update u;
    long long id;
    struct job j;

    r.sms_fallback = 1;
    id = add_job(&r, T0);
    cr_assert_eq(job_release_placing(st, id, 0, "x", T0, &u), SB_EBUSY);
    cr_assert_eq(claim(T0, 10, 0, NULL), 1);
    cr_assert_eq(job_release_placing(st, id, T0 + 30, "twilio answered 429", T0, &u), 0);
    cr_assert_eq(u.outcome, JOB_OUTCOME_RETRYING);
    j = get(id);
    cr_assert_eq(j.status, JOB_QUEUED);
    cr_assert_eq(j.attempts, 0);
    cr_assert_eq(j.next_attempt_at, T0 + 30);
    cr_assert_str_eq(j.error, "twilio answered 429");
    cr_assert_eq(claim(T0 + 29, 10, 0, NULL), 0);
    cr_assert_eq(claim(T0 + 30, 10, 0, NULL), 1);
    cr_assert_eq(job_release_placing(st, id, 0, "The 'To' number is not valid", T0 + 31, &u), 0);
    cr_assert_eq(u.outcome, JOB_OUTCOME_FINAL);
    cr_assert_eq(u.status, JOB_FAILED);
    cr_assert_eq(u.sms_due, 1);
    j = get(id);
    cr_assert_eq(j.status, JOB_FAILED);
    cr_assert_str_eq(j.error, "The 'To' number is not valid");
    cr_assert_eq(job_release_placing(st, 999, 0, NULL, T0, &u), SB_ENOTFOUND);
}

Test(jobs, placing_jobs_survive_a_restart_and_are_resolved)
{
    struct job_request r = say_to("+5215512345678");
    struct job *list = NULL;
    long long a, b, c;
    size_t n = 0;
    struct job j;

    a = add_job(&r, T0);
    b = add_job(&r, T0);
    c = add_job(&r, T0);
    cr_assert_eq(claim(T0, 10, 0, NULL), 3);
    cr_assert_eq(job_placed(st, c, "CA0000000000000000000000000000010", NULL, T0), 0);
    /* The process dies with a and b placing. */
    store_close(st);
    cr_assert_eq(store_open(&st, path), 0);
    cr_assert_eq(job_list_placing(st, &list, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert(list[0].id == b || list[1].id == b);
    cr_assert(list[0].id == a || list[1].id == a);
    job_list_free(list);
    /* A lookup that finds c's call is not a's. */
    cr_assert_eq(job_resolve_placing(st, a, "CA0000000000000000000000000000010", NULL, T0 + 5),
                 SB_EEXISTS);
    cr_assert_eq(job_resolve_placing(st, a, "CA0000000000000000000000000000011", NULL, T0 + 5), 0);
    j = get(a);
    cr_assert_eq(j.status, JOB_PLACED);
    cr_assert_str_eq(j.call_sid, "CA0000000000000000000000000000011");
    cr_assert_eq(j.attempts, 1);
    /* Nothing found: queued again, the attempt not counted, due at once. */
    cr_assert_eq(job_resolve_placing(st, b, NULL, NULL, T0 + 5), 0);
    j = get(b);
    cr_assert_eq(j.status, JOB_QUEUED);
    cr_assert_eq(j.attempts, 0);
    cr_assert_eq(job_resolve_placing(st, b, NULL, NULL, T0 + 5), SB_EBUSY);
    cr_assert_eq(job_list_placing(st, &list, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(list);
    cr_assert_eq(claim(T0 + 5, 10, 0, &list), 1);
    cr_assert_eq(list[0].id, b);
    job_list_free(list);
}

Test(jobs, cancel_only_a_queued_job)
{
    long long id = add_job(
        &(struct job_request){
            .tenant = "acme", .to = "+5215512345678", .kind = JOB_KIND_FLOW, .target = "encuesta"},
        T0);

    cr_assert_eq(job_cancel(st, id, T0), 0);
    cr_assert_eq(get(id).status, JOB_CANCELED);
    cr_assert_eq(job_cancel(st, id, T0), SB_ECLOSED);
    cr_assert_eq(job_cancel(st, 999, T0), SB_ENOTFOUND);
    cr_assert_eq(claim(T0, 10, 0, NULL), 0);
}

static struct job_request row(const char *to, const char *name, const char *lang)
{
    struct job_request r = {
        .to = to, .contact_name = name, .lang = lang, .kind = JOB_KIND_FLOW, .target = "cita"};

    return r;
}

Test(jobs, campaigns_import_pause_resume_cancel)
{
    struct job_request rows[3] = {
        row("+5215512345678", "José Núñez", "es-MX"),
        row("+15005550100", "Ann Lee", "en-US"),
        row("+5215500000000", "María", "es-MX"),
    };
    struct campaign c;
    struct campaign *list = NULL;
    struct job_filter f = {.status = -1};
    struct job *jobs = NULL;
    long long id, other;
    size_t n = 0, bad = 99;
    char err[256] = "";

    cr_assert_eq(campaign_add(st, "acme", "Recordatorios de enero", T0, &id), 0);
    cr_assert_eq(campaign_add(st, "acme", "Recordatorios de enero", T0, &other), SB_EEXISTS);
    cr_assert_eq(campaign_add(st, "nadie", "x", T0, &other), SB_ENOTFOUND);
    cr_assert_eq(campaign_add(st, "acme", "", T0, &other), SB_EINVAL);
    cr_assert_eq(campaign_add(st, "peluqueria", "Citas", T0, &other), 0);

    /* A bad row: nothing is added. */
    rows[1].to = "+1 500";
    cr_assert_eq(campaign_import(st, id, rows, 3, T0, &bad, err, sizeof(err)), SB_EINVAL);
    cr_assert_eq(bad, 1);
    cr_assert_str_eq(err, "row 2: 'to' is not an E.164 number ('+' and 7 to 15 digits)");
    cr_assert_eq(raw_query("SELECT count(*) FROM jobs"), 0);
    rows[1].to = "+15005550100";
    cr_assert_eq(campaign_import(st, id, rows, 3, T0, &bad, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(campaign_get(st, id, &c), 0);
    cr_assert_str_eq(c.name, "Recordatorios de enero");
    cr_assert_str_eq(c.tenant, "acme");
    cr_assert_eq(c.status, CAMPAIGN_ACTIVE);
    cr_assert_eq(c.total, 3);
    cr_assert_eq(c.counts[JOB_QUEUED], 3);
    f.campaign_id = id;
    cr_assert_eq(job_list(st, &f, &jobs, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(jobs[2].contact_name, "José Núñez"); /* newest first */
    cr_assert_str_eq(jobs[2].tenant, "acme");
    cr_assert_eq(jobs[2].campaign_id, id);
    job_list_free(jobs);

    /* Paused: its jobs wait; a job outside it does not. */
    cr_assert_eq(campaign_set_status(st, id, CAMPAIGN_PAUSED, T0), 0);
    add_job(
        &(struct job_request){
            .tenant = "acme", .to = "+5215511111111", .kind = JOB_KIND_SAY, .say_text = "hola"},
        T0);
    cr_assert_eq(claim(T0, 10, 0, NULL), 1);
    cr_assert_eq(campaign_set_status(st, id, CAMPAIGN_ACTIVE, T0), 0);
    cr_assert_eq(claim(T0, 1, 0, NULL), 1);
    cr_assert_eq(campaign_get(st, id, &c), 0);
    cr_assert_eq(c.counts[JOB_PLACING], 1);
    cr_assert_eq(c.counts[JOB_QUEUED], 2);

    /* Canceled: the queued jobs with it; the placing one finishes. */
    cr_assert_eq(campaign_set_status(st, id, CAMPAIGN_CANCELED, T0), 0);
    cr_assert_eq(campaign_get(st, id, &c), 0);
    cr_assert_eq(c.counts[JOB_CANCELED], 2);
    cr_assert_eq(c.counts[JOB_PLACING], 1);
    cr_assert_eq(campaign_set_status(st, id, CAMPAIGN_ACTIVE, T0), SB_ECLOSED);
    cr_assert_eq(campaign_import(st, id, rows, 1, T0, NULL, err, sizeof(err)), SB_ECLOSED);
    {
        struct job_request r = say_to("+5215512345678");

        r.campaign_id = id;
        refused(&r, SB_ECLOSED, "is canceled");
        r.campaign_id = other; /* peluqueria's */
        refused(&r, SB_ENOTFOUND, "no campaign");
    }

    cr_assert_eq(campaign_list(st, "acme", &list, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(list[0].total, 3);
    job_list_free(list);
    cr_assert_eq(campaign_list(st, NULL, &list, &n), 0);
    cr_assert_eq(n, 2);
    job_list_free(list);
    cr_assert_eq(campaign_get(st, 999, &c), SB_ENOTFOUND);
}

/* More rows than a server takes in one statement, with texts that array literals escape. */
Test(jobs, a_large_import_keeps_its_order_and_every_character)
{
    enum { ROWS = 2500 };
    static struct job_request rows[ROWS];
    static char to[ROWS][E164_SIZE];
    static const char name[] = "Ana \"La Jefa\" O'Brien, {VIP} \\ ñ";
    static const char say[] = "Hola {{name}}: \"sí\", {no}, a\\b, 'c'";
    struct job_filter f = {.status = -1};
    struct job *jobs = NULL;
    long long id;
    size_t n = 0;
    char err[256] = "";

    cr_assert_eq(campaign_add(st, "acme", "Grande", T0, &id), 0);
    for (int i = 0; i < ROWS; i++) {
        snprintf(to[i], sizeof(to[i]), "+1500555%04d", i);
        rows[i] = (struct job_request){.to = to[i], .kind = JOB_KIND_SAY, .say_text = "hola"};
    }
    rows[0].contact_name = name;
    rows[0].say_text = say;
    rows[0].lang = "es-MX";
    rows[0].from = "+15005550006";
    rows[0].not_before = T0 + 60;
    rows[0].max_retries = 3;
    rows[0].retry_delay_s = 90;
    rows[0].amd = 1;
    rows[0].sms_fallback = 1;
    rows[ROWS - 1].kind = JOB_KIND_FLOW;
    rows[ROWS - 1].target = "cita";
    rows[ROWS - 1].say_text = NULL;
    cr_assert_eq(campaign_import(st, id, rows, ROWS, T0, NULL, err, sizeof(err)), 0, "%s", err);
    f.campaign_id = id;
    cr_assert_eq(job_list(st, &f, &jobs, &n), 0);
    cr_assert_eq(n, ROWS);
    /* Newest first: the ids follow the file. */
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(jobs[i].to, to[ROWS - 1 - i]);
    cr_assert_str_eq(jobs[ROWS - 1].contact_name, name);
    cr_assert_str_eq(jobs[ROWS - 1].say_text, say);
    cr_assert_str_eq(jobs[ROWS - 1].lang, "es-MX");
    cr_assert_str_eq(jobs[ROWS - 1].from, "+15005550006");
    cr_assert_eq(jobs[ROWS - 1].not_before, T0 + 60);
    cr_assert_eq(jobs[ROWS - 1].next_attempt_at, T0 + 60);
    cr_assert_eq(jobs[ROWS - 1].max_retries, 3);
    cr_assert_eq(jobs[ROWS - 1].retry_delay_s, 90);
    cr_assert_eq(jobs[ROWS - 1].amd, 1);
    cr_assert_eq(jobs[ROWS - 1].sms_fallback, 1);
    cr_assert_eq(jobs[ROWS - 1].status, JOB_QUEUED);
    cr_assert_eq(jobs[ROWS - 1].created_at, T0);
    cr_assert_str_eq(jobs[1].contact_name, "");
    cr_assert_eq(jobs[1].retry_delay_s, JOB_RETRY_DELAY_DEFAULT_S);
    cr_assert_eq(jobs[1].next_attempt_at, T0);
    cr_assert_eq(jobs[0].kind, JOB_KIND_FLOW);
    cr_assert_str_eq(jobs[0].target, "cita");
    cr_assert_str_eq(jobs[0].say_text, "");
    job_list_free(jobs);

    /* A limit takes the newest; the filters hold with it. */
    f.limit = 10;
    f.status = JOB_QUEUED;
    cr_assert_eq(job_list(st, &f, &jobs, &n), 0);
    cr_assert_eq(n, 10);
    cr_assert_str_eq(jobs[0].to, to[ROWS - 1]);
    cr_assert_str_eq(jobs[9].to, to[ROWS - 10]);
    job_list_free(jobs);
    f.tenant = "peluqueria";
    cr_assert_eq(job_list(st, &f, &jobs, &n), 0);
    cr_assert_eq(n, 0);
    f.tenant = "acme";
    f.status = JOB_PLACING;
    cr_assert_eq(job_list(st, &f, &jobs, &n), 0);
    cr_assert_eq(n, 0);
}

/* Two connections on one file claim from two threads. */
struct claimer {
    struct store *s;
    long long ids[400];
    size_t n;
    int rc;
};

static void *claim_all(void *arg)
{
    struct claimer *c = arg;

    for (;;) {
        struct job *list = NULL;
        size_t n = 0;

        c->rc = job_claim_due(c->s, T0, 3, 0, &list, &n);
        if (c->rc < 0 || n == 0) {
            job_list_free(list);
            break;
        }
        for (size_t i = 0; i < n && c->n < 400; i++)
            c->ids[c->n++] = list[i].id;
        job_list_free(list);
    }
    return NULL;
}

Test(jobs, two_connections_never_claim_one_job_twice)
{
    static struct claimer a, b;
    struct job_request r = say_to("+5215512345678");
    pthread_t ta, tb;
    unsigned char seen[301] = {0};

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    for (int i = 0; i < 300; i++)
        add_job(&r, T0);
    cr_assert_eq(store_open(&a.s, path), 0);
    cr_assert_eq(store_open(&b.s, path), 0);
    cr_assert_eq(pthread_create(&ta, NULL, claim_all, &a), 0);
    cr_assert_eq(pthread_create(&tb, NULL, claim_all, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    store_close(a.s);
    store_close(b.s);
    cr_assert_eq(a.rc, 0);
    cr_assert_eq(b.rc, 0);
    cr_assert_eq(a.n + b.n, 300, "%zu + %zu", a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        cr_assert_eq(seen[a.ids[i]], 0);
        seen[a.ids[i]] = 1;
    }
    for (size_t i = 0; i < b.n; i++) {
        cr_assert_eq(seen[b.ids[i]], 0, "job %lld claimed twice", b.ids[i]);
        seen[b.ids[i]] = 1;
    }
    cr_assert_eq(raw_query("SELECT count(*) FROM jobs WHERE status = 'placing' AND attempts = 1"),
                 300);
}

/* Connections that claim at one moment, each with a cap of CAP calls per tenant. */
#define CLAIMERS 3
#define CAP 3

struct round_claimer {
    struct store *s;
    pthread_barrier_t *go;
    struct job *got;
    size_t n;
    int rc;
};

static void *claim_at_once(void *arg)
{
    struct round_claimer *c = arg;

    pthread_barrier_wait(c->go);
    c->rc = job_claim_due(c->s, T0, 10, CAP, &c->got, &c->n);
    return NULL;
}

/* The calls of a tenant placing or placed, read outside the store. */
static long long in_flight(const char *tenant)
{
    char sql[160];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM jobs WHERE tenant = '%s' AND status IN ('placing', 'placed')",
             tenant);
    return raw_query(sql);
}

Test(jobs, claimers_at_one_moment_never_share_a_job_nor_pass_the_cap)
{
    static struct round_claimer c[CLAIMERS];
    static unsigned char seen[121];
    struct job_request r = say_to("+5215512345678");
    char sid[CALL_SID_SIZE];

    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < 60; i++)
        add_job(&r, T0);
    r.tenant = "peluqueria";
    for (int i = 0; i < 60; i++)
        add_job(&r, T0);
    for (int i = 0; i < CLAIMERS; i++)
        cr_assert_eq(store_open(&c[i].s, path), 0);
    /* Each round fills both tenants to the cap at once; the calls then end, freeing it. */
    for (int round = 0; round < 20; round++) {
        pthread_barrier_t go;
        pthread_t t[CLAIMERS];
        size_t total = 0;

        cr_assert_eq(pthread_barrier_init(&go, NULL, CLAIMERS), 0);
        for (int i = 0; i < CLAIMERS; i++) {
            c[i].go = &go;
            c[i].got = NULL;
            c[i].n = 0;
            cr_assert_eq(pthread_create(&t[i], NULL, claim_at_once, &c[i]), 0);
        }
        for (int i = 0; i < CLAIMERS; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&go);
        cr_assert_eq(in_flight("acme"), CAP, "round %d", round);
        cr_assert_eq(in_flight("peluqueria"), CAP, "round %d", round);
        for (int i = 0; i < CLAIMERS; i++) {
            cr_assert_eq(c[i].rc, 0);
            for (size_t k = 0; k < c[i].n; k++) {
                long long id = c[i].got[k].id;

                cr_assert(id > 0 && id <= 120);
                cr_assert_eq(seen[id], 0, "job %lld claimed twice", id);
                seen[id] = 1;
                total++;
                snprintf(sid, sizeof(sid), "CA%032lld", id);
                cr_assert_eq(job_placed(st, id, sid, NULL, T0), 0);
                cr_assert_eq(status(0, sid, "completed", T0).outcome, JOB_OUTCOME_FINAL);
            }
            job_list_free(c[i].got);
        }
        cr_assert_eq(total, 2 * CAP, "round %d", round);
    }
    for (int i = 0; i < CLAIMERS; i++)
        store_close(c[i].s);
    cr_assert_eq(raw_query("SELECT count(*) FROM jobs WHERE status = 'completed' AND attempts = 1"),
                 120);
}

/* Connections that add one request under one idempotency key at one moment. */
struct adder {
    struct store *s;
    pthread_barrier_t *go;
    const char *key;
    long long id;
    int replayed;
    int rc;
};

static void *add_at_once(void *arg)
{
    struct adder *a = arg;
    struct job_request r = say_to("+5215512345678");
    char err[256];

    pthread_barrier_wait(a->go);
    a->rc = job_add_idempotent(a->s, &r, a->key, T0, &a->id, &a->replayed, err, sizeof(err));
    return NULL;
}

Test(jobs, two_adds_under_one_key_at_one_moment_make_one_job)
{
    static struct adder a[2];

    for (int i = 0; i < 2; i++)
        cr_assert_eq(store_open(&a[i].s, path), 0);
    for (int round = 0; round < 10; round++) {
        pthread_barrier_t go;
        pthread_t t[2];
        char key[32];

        snprintf(key, sizeof(key), "pedido-%d", round);
        cr_assert_eq(pthread_barrier_init(&go, NULL, 2), 0);
        for (int i = 0; i < 2; i++) {
            a[i].go = &go;
            a[i].key = key;
            a[i].id = 0;
            a[i].replayed = -1;
            cr_assert_eq(pthread_create(&t[i], NULL, add_at_once, &a[i]), 0);
        }
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&go);
        cr_assert_eq(a[0].rc, 0, "round %d", round);
        cr_assert_eq(a[1].rc, 0, "round %d", round);
        cr_assert_gt(a[0].id, 0);
        cr_assert_eq(a[0].id, a[1].id, "round %d", round);
        cr_assert_eq(a[0].replayed + a[1].replayed, 1, "round %d", round);
    }
    for (int i = 0; i < 2; i++)
        store_close(a[i].s);
    cr_assert_eq(raw_query("SELECT count(*) FROM jobs"), 10);
}

/* Runs `sql` on a connection of its own to the server, failing the test when it fails. */
static void pg_run(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType rs = PQresultStatus(res);

    cr_assert(rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK, "%s: %s", sql,
              PQresultErrorMessage(res));
    PQclear(res);
}

Test(jobs, a_claim_passes_over_the_jobs_another_process_holds)
{
    struct job_request r = say_to("+5215512345678");
    struct job *list = NULL;
    PGconn *other;
    long long a, b;
    char sql[96];

    if (!target_postgres())
        cr_skip_test("PostgreSQL only: the row locks of another server process");
    a = add_job(&r, T0);
    b = add_job(&r, T0);
    /* Another process is in the middle of claiming the oldest job. */
    other = PQconnectdb(path);
    cr_assert_eq(PQstatus(other), CONNECTION_OK, "%s", PQerrorMessage(other));
    pg_run(other, "BEGIN");
    snprintf(sql, sizeof(sql), "SELECT id FROM jobs WHERE id = %lld FOR UPDATE", a);
    pg_run(other, sql);
    /* Neither waits for it nor takes it. */
    cr_assert_eq(claim(T0, 10, 0, &list), 1);
    cr_assert_eq(list[0].id, b);
    job_list_free(list);
    pg_run(other, "ROLLBACK");
    PQfinish(other);
    cr_assert_eq(claim(T0, 10, 0, &list), 1);
    cr_assert_eq(list[0].id, a);
    job_list_free(list);
}

Test(jobs, claim_refuses_to_run_inside_an_open_transaction)
{
    struct job *list = NULL;
    size_t n = 0;

    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(job_claim_due(st, T0, 1, 0, &list, &n), SB_EBUSY);
    cr_assert_eq(store_rollback(st), 0);
}

/*
 * The writer's batch is one open transaction: an operation refused inside it
 * undoes only its own work (a server aborts a whole transaction on a failed
 * statement), and what the batch wrote before and after is committed.
 */
Test(jobs, refusals_inside_an_open_transaction_leave_it_usable)
{
    struct job_request r = say_to("+5215512345678");
    char secret[API_KEY_SECRET_SIZE];
    char err[256] = "";
    long long a, b, c, camp = 0, other = 0, key = 0;
    int already = -1;

    a = add_job(&r, T0);
    b = add_job(&r, T0);
    cr_assert_eq(claim(T0, 10, 0, NULL), 2);
    cr_assert_eq(job_placed(st, a, "CA0000000000000000000000000000030", NULL, T0), 0);
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(campaign_add(st, "acme", "Enero", T0, &camp), 0);
    r.tenant = "nadie";
    cr_assert_eq(job_add(st, &r, T0, &c, err, sizeof(err)), SB_ENOTFOUND);
    cr_assert_eq(campaign_add(st, "acme", "Enero", T0, &other), SB_EEXISTS);
    cr_assert_eq(campaign_add(st, "nadie", "Enero", T0, &other), SB_ENOTFOUND);
    cr_assert_eq(api_key_create(st, "nadie", NULL, T0, secret, &key), SB_ENOTFOUND);
    cr_assert_eq(optout_set(st, "nadie", "+5215512345678", 1, T0), SB_ENOTFOUND);
    cr_assert_eq(transfer_text_mark(st, "nadie", "CA0000000000000000000000000000031", T0, &already),
                 SB_ENOTFOUND);
    cr_assert_eq(job_placed(st, b, "CA0000000000000000000000000000030", NULL, T0), SB_EEXISTS);
    r.tenant = "acme";
    c = add_job(&r, T0);
    cr_assert_eq(store_commit(st), 0);
    cr_assert_eq(get(c).status, JOB_QUEUED);
    cr_assert_eq(get(b).status, JOB_PLACING);
    cr_assert_eq(raw_query("SELECT count(*) FROM campaigns"), 1);
    cr_assert_eq(raw_query("SELECT count(*) FROM jobs"), 3);
}

Test(jobs, an_idempotency_key_holds_for_24_hours)
{
    struct job_request r = say_to("+5215512345678");
    struct idempotency rec;
    char hash[JOB_HASH_SIZE], hash2[JOB_HASH_SIZE];
    char err[256] = "";
    long long id = 0, again = 0, later = 0;
    int replayed = -1;

    cr_assert_eq(job_add_idempotent(st, &r, "pedido-42", T0, &id, &replayed, err, sizeof(err)), 0);
    cr_assert_eq(replayed, 0);
    cr_assert_eq(job_add_idempotent(st, &r, "pedido-42", T0 + IDEMPOTENCY_WINDOW_S - 1, &again,
                                    &replayed, err, sizeof(err)),
                 0);
    cr_assert_eq(replayed, 1);
    cr_assert_eq(again, id);
    cr_assert_eq(raw_query("SELECT count(*) FROM jobs"), 1);
    /* The same key for another request. */
    r.contact_name = "José Núñez";
    cr_assert_eq(
        job_add_idempotent(st, &r, "pedido-42", T0 + 10, &again, &replayed, err, sizeof(err)),
        SB_EEXISTS);
    cr_assert_str_eq(err, "the idempotency key was used for another request");
    /* Another tenant's key of the same name is its own. */
    r.tenant = "peluqueria";
    cr_assert_eq(
        job_add_idempotent(st, &r, "pedido-42", T0 + 10, &again, &replayed, err, sizeof(err)), 0);
    cr_assert_eq(replayed, 0);
    cr_assert_neq(again, id);
    /* After 24 h the key is free again. */
    r.tenant = "acme";
    cr_assert_eq(job_add_idempotent(st, &r, "pedido-42", T0 + IDEMPOTENCY_WINDOW_S, &later,
                                    &replayed, err, sizeof(err)),
                 0);
    cr_assert_eq(replayed, 0);
    cr_assert_neq(later, id);
    cr_assert_eq(job_add_idempotent(st, &r, "con espacio", T0, &later, &replayed, err, sizeof(err)),
                 SB_EINVAL);

    /* The request hash ignores nothing and depends on nothing but the request. */
    r = say_to("+5215512345678");
    cr_assert_eq(job_request_hash(&r, hash), 0);
    cr_assert_eq(strlen(hash), 64);
    cr_assert_eq(job_request_hash(&r, hash2), 0);
    cr_assert_str_eq(hash, hash2);
    r.amd = 1;
    cr_assert_eq(job_request_hash(&r, hash2), 0);
    cr_assert_str_neq(hash, hash2);

    /* get and put by themselves. */
    cr_assert_eq(idempotency_get(st, "acme", "k", T0, &rec), SB_ENOTFOUND);
    cr_assert_eq(idempotency_put(st, "acme", "k", hash, id, T0), 0);
    cr_assert_eq(idempotency_put(st, "acme", "k", hash, id, T0 + 1), SB_EEXISTS);
    cr_assert_eq(idempotency_get(st, "acme", "k", T0 + IDEMPOTENCY_WINDOW_S - 1, &rec), 0);
    cr_assert_eq(rec.job_id, id);
    cr_assert_str_eq(rec.request_hash, hash);
    cr_assert_eq(rec.created_at, T0);
    cr_assert_eq(idempotency_get(st, "acme", "k", T0 + IDEMPOTENCY_WINDOW_S, &rec), SB_ENOTFOUND);
    cr_assert_eq(idempotency_put(st, "acme", "k", hash2, id, T0 + IDEMPOTENCY_WINDOW_S), 0);
    cr_assert_eq(idempotency_put(st, "acme", "k", "nothex", id, T0), SB_EINVAL);
}

/* True when the `n` bytes of `needle` are somewhere in the file at `p` (a missing file: no). */
static int file_holds(const char *p, const char *needle, size_t n)
{
    FILE *f = fopen(p, "rb");
    char *buf;
    long size;
    int found;

    if (!f)
        return 0;
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    cr_assert_eq(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t)size + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    found = memmem(buf, (size_t)size, needle, n) != NULL;
    free(buf);
    return found;
}

Test(jobs, api_keys_are_stored_hashed_and_shown_once)
{
    char secret[API_KEY_SECRET_SIZE];
    char other[API_KEY_SECRET_SIZE];
    char tenant[TENANT_NAME_SIZE];
    char side[320];
    struct api_key *keys = NULL;
    long long id = 0, got = 0, id2 = 0;
    size_t n = 0;

    cr_assert_eq(api_key_create(st, "acme", "billing", T0, secret, &id), 0);
    cr_assert_eq(strlen(secret), API_KEY_SECRET_SIZE - 1);
    cr_assert_eq(strncmp(secret, "sb_", 3), 0);
    cr_assert_eq(api_key_create(st, "peluqueria", NULL, T0, other, &id2), 0);
    cr_assert_str_neq(secret, other);
    cr_assert_eq(api_key_verify(st, secret, tenant, &got), 0);
    cr_assert_str_eq(tenant, "acme");
    cr_assert_eq(got, id);
    cr_assert_eq(api_key_verify(st, other, tenant, &got), 0);
    cr_assert_str_eq(tenant, "peluqueria");

    /*
     * Neither the secret nor its random part is anywhere in the files, or on
     * a server in any column of the keys' rows.
     */
    store_close(st);
    st = NULL;
    if (target_postgres()) {
        char sql[256];

        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM api_keys k WHERE position('%.16s' IN k::text) > 0",
                 secret + 3);
        cr_assert_eq(raw_query(sql), 0);
    }
    for (int i = 0; !target_postgres() && i < 3; i++) {
        snprintf(side, sizeof(side), "%s%s", path, i == 0 ? "" : i == 1 ? "-wal" : "-shm");
        cr_assert_not(file_holds(side, secret + 3, strlen(secret) - 3), "in %s", side);
        cr_assert_not(file_holds(side, secret + 3, 16), "in %s", side);
    }
    cr_assert_eq(raw_query("SELECT count(*) FROM api_keys WHERE length(key_hash) = 64"), 2);
    cr_assert_eq(store_open(&st, path), 0);

    cr_assert_eq(api_key_list(st, "acme", &keys, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(strncmp(keys[0].prefix, secret, API_KEY_PREFIX_SIZE - 1), 0);
    cr_assert_eq(keys[0].created_at, T0);
    cr_assert_eq(keys[0].revoked, 0);
    cr_assert_str_eq(keys[0].name, "billing");
    job_list_free(keys);

    /* Wrong, malformed, another tenant's revoke, revoked. */
    {
        char wrong[API_KEY_SECRET_SIZE];

        memcpy(wrong, secret, sizeof(wrong));
        wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
        cr_assert_eq(api_key_verify(st, wrong, tenant, &got), SB_ENOTFOUND);
        cr_assert_str_eq(tenant, "");
    }
    cr_assert_eq(api_key_verify(st, "sb_short", tenant, &got), SB_ENOTFOUND);
    cr_assert_eq(api_key_verify(st, NULL, tenant, &got), SB_ENOTFOUND);
    cr_assert_eq(api_key_revoke(st, "peluqueria", id), SB_ENOTFOUND);
    cr_assert_eq(api_key_revoke(st, "acme", id), 0);
    cr_assert_eq(api_key_verify(st, secret, tenant, &got), SB_ENOTFOUND);
    cr_assert_eq(api_key_verify(st, other, tenant, &got), 0);
    cr_assert_eq(api_key_create(st, "nadie", NULL, T0, secret, &id), SB_ENOTFOUND);
    /* A name is one line of text. */
    cr_assert_eq(api_key_create(st, "acme", "two\nlines", T0, secret, &id), SB_EINVAL);
    cr_assert_str_eq(secret, "");
    cr_assert_str_eq(secret, "");
}

Test(jobs, a_database_at_migration_6_gains_the_queue_and_keeps_its_calls)
{
    struct call_record c;
    sqlite3 *db = NULL;
    long long id;

    target_sqlite_only("the migrations undone are SQLite's");
    memset(&c, 0, sizeof(c));
    snprintf(c.call_sid, sizeof(c.call_sid), "CA0000000000000000000000000000020");
    snprintf(c.direction, sizeof(c.direction), "inbound");
    snprintf(c.status, sizeof(c.status), "completed");
    c.started_at = T0;
    cr_assert_eq(store_call_insert(st, &c), 0);
    store_close(st);
    st = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "BEGIN;" UNDO_MIGRATION_11 UNDO_MIGRATION_10 UNDO_MIGRATION_9
                                  UNDO_MIGRATION_8 UNDO_MIGRATION_7 "COMMIT;",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), 6);
    cr_assert_eq(store_open(&st, path), 0);
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), LATEST_MIGRATION);
    cr_assert_eq(raw_query("SELECT count(*) FROM calls WHERE job_id IS NULL"), 1);
    cr_assert_eq(store_call_get(st, "CA0000000000000000000000000000020", &c), 0);
    id = add_job(
        &(struct job_request){
            .tenant = "acme", .to = "+5215512345678", .kind = JOB_KIND_SAY, .say_text = "hola"},
        T0);
    cr_assert_gt(id, 0);
}

Test(jobs, a_tenant_keeps_its_sms_fallback_and_a_database_at_migration_7_gains_it)
{
    static const char text[] = "Hola {{name}}, no pudimos comunicarnos. — {{tenant}}";
    struct tenant t;
    sqlite3 *db = NULL;

    cr_assert_eq(store_tenant_get(st, "acme", &t), 0);
    cr_assert_str_eq(t.sms_fallback, "");
    snprintf(t.sms_fallback, sizeof(t.sms_fallback), "%s", text);
    snprintf(t.timezone, sizeof(t.timezone), "Europe/Madrid");
    cr_assert_eq(store_tenant_update(st, &t, TENANT_FIELD_SMS_FALLBACK), 0);
    cr_assert_eq(store_tenant_get(st, "acme", &t), 0);
    cr_assert_str_eq(t.sms_fallback, text);
    cr_assert_str_neq(t.timezone, "Europe/Madrid", "only the fields named are written");
    /* Not UTF-8: refused, the stored text stays. */
    snprintf(t.sms_fallback, sizeof(t.sms_fallback), "a\xff");
    cr_assert_eq(store_tenant_update(st, &t, TENANT_FIELD_SMS_FALLBACK), SB_EINVAL);
    cr_assert_eq(store_tenant_get(st, "acme", &t), 0);
    cr_assert_str_eq(t.sms_fallback, text);
    /* What follows undoes SQLite's migrations. */
    if (target_postgres())
        return;

    store_close(st);
    st = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    cr_assert_eq(
        sqlite3_exec(db,
                     "BEGIN;" UNDO_MIGRATION_11 UNDO_MIGRATION_10 UNDO_MIGRATION_9 UNDO_MIGRATION_8
                     "COMMIT;",
                     NULL, NULL, NULL),
        SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), 7);
    cr_assert_eq(store_open(&st, path), 0);
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), LATEST_MIGRATION);
    cr_assert_eq(store_tenant_get(st, "acme", &t), 0, "the tenant is kept");
    cr_assert_str_eq(t.sms_fallback, "");
}

Test(jobs, a_database_at_migration_9_gains_key_names_and_keeps_its_keys)
{
    char secret[API_KEY_SECRET_SIZE], tenant[TENANT_NAME_SIZE];
    struct api_key *keys = NULL;
    sqlite3 *db = NULL;
    long long id = 0;
    size_t n = 0;

    target_sqlite_only("the migrations undone are SQLite's");
    cr_assert_eq(api_key_create(st, "acme", NULL, T0, secret, &id), 0);
    store_close(st);
    st = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    cr_assert_eq(
        sqlite3_exec(db, "BEGIN;" UNDO_MIGRATION_11 UNDO_MIGRATION_10 "COMMIT;", NULL, NULL, NULL),
        SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), 9);
    cr_assert_eq(store_open(&st, path), 0);
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), LATEST_MIGRATION);
    cr_assert_eq(api_key_verify(st, secret, tenant, NULL), 0, "the key still works");
    cr_assert_str_eq(tenant, "acme");
    cr_assert_eq(api_key_list(st, "acme", &keys, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(keys[0].name, "");
    job_list_free(keys);
}

/* ---- the shared rate (rate_take) ---- */

#define MS0 (T0 * 1000) /* T0 in milliseconds */

/* Takes a slot of `key` at `now_ms`: 0 when taken, else how long until one frees. */
static long long take(const char *key, long long now_ms, int limit)
{
    long long wait = -1;

    cr_assert_eq(rate_take(st, key, now_ms, limit, &wait), 0);
    cr_assert_geq(wait, 0);
    return wait;
}

Test(jobs, a_rate_gives_limit_slots_a_second_and_the_window_slides)
{
    cr_assert_eq(take("calls:AC1", MS0, 3), 0);
    cr_assert_eq(take("calls:AC1", MS0 + 10, 3), 0);
    cr_assert_eq(take("calls:AC1", MS0 + 20, 3), 0);
    /* The fourth waits for the first to leave the second. */
    cr_assert_eq(take("calls:AC1", MS0 + 30, 3), 970);
    cr_assert_eq(take("calls:AC1", MS0 + 999, 3), 1);
    cr_assert_eq(raw_query("SELECT count(*) FROM rate_slots"), 3, "a refusal takes nothing");
    /* Another key (another account) has its own slots. */
    cr_assert_eq(take("calls:AC2", MS0 + 30, 1), 0);
    cr_assert_eq(take("calls:AC2", MS0 + 40, 1), 990);
    /* A second after the first, its slot is free again; the next waits for the second one. */
    cr_assert_eq(take("calls:AC1", MS0 + 1000, 3), 0);
    cr_assert_eq(take("calls:AC1", MS0 + 1001, 3), 9);
    cr_assert_eq(take("calls:AC1", MS0 + 1010, 3), 0);
    cr_assert_eq(take("calls:AC1", MS0 + 1020, 3), 0);
    cr_assert_eq(take("calls:AC1", MS0 + 1021, 3), 979);
    /* A lower limit waits until enough have left: two of the three, here. */
    cr_assert_eq(take("calls:AC1", MS0 + 1500, 1), 2020 - 1500);
    /* Old slots are forgotten as new ones are taken: the table stays small. */
    cr_assert_eq(take("calls:AC1", MS0 + 60000, 3), 0);
    cr_assert_eq(raw_query("SELECT count(*) FROM rate_slots WHERE key = 'calls:AC1'"), 1);
}

Test(jobs, a_slot_a_moment_ahead_counts_one_far_ahead_is_forgotten)
{
    /* Another process whose clock is 500 ms ahead took the only slot. */
    cr_assert_eq(take("calls:AC1", MS0 + 500, 1), 0);
    cr_assert_eq(take("calls:AC1", MS0, 1), 1500);
    /* A slot an hour ahead (a clock set back since) holds nothing up. */
    cr_assert_eq(take("calls:AC2", MS0 + 3600000, 1), 0);
    cr_assert_eq(take("calls:AC2", MS0, 1), 0);
    cr_assert_eq(raw_query("SELECT count(*) FROM rate_slots WHERE key = 'calls:AC2'"), 1);
}

Test(jobs, rate_take_refuses_bad_input_and_an_open_transaction)
{
    char long_key[RATE_KEY_SIZE + 1];
    long long wait = 7;

    memset(long_key, 'k', RATE_KEY_SIZE);
    long_key[RATE_KEY_SIZE] = '\0';
    cr_assert_eq(rate_take(st, "", MS0, 1, &wait), SB_EINVAL);
    cr_assert_eq(wait, 0);
    cr_assert_eq(rate_take(st, NULL, MS0, 1, &wait), SB_EINVAL);
    cr_assert_eq(rate_take(st, "calls AC1", MS0, 1, &wait), SB_EINVAL);
    cr_assert_eq(rate_take(st, "calls:\xc3\xb1", MS0, 1, &wait), SB_EINVAL);
    cr_assert_eq(rate_take(st, long_key, MS0, 1, &wait), SB_EINVAL);
    long_key[RATE_KEY_SIZE - 1] = '\0';
    cr_assert_eq(rate_take(st, long_key, MS0, 1, &wait), 0, "RATE_KEY_SIZE-1 characters");
    cr_assert_eq(rate_take(st, "calls:AC1", MS0, 0, &wait), SB_EINVAL);
    cr_assert_eq(rate_take(st, "calls:AC1", 0, 1, &wait), SB_EINVAL);
    cr_assert_eq(rate_take(st, "calls:AC1", MS0, 1, NULL), SB_EINVAL);
    cr_assert_eq(rate_take(NULL, "calls:AC1", MS0, 1, &wait), SB_EINVAL);
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(rate_take(st, "calls:AC1", MS0, 1, &wait), SB_EBUSY);
    cr_assert_eq(store_rollback(st), 0);
    cr_assert_eq(raw_query("SELECT count(*) FROM rate_slots WHERE key = 'calls:AC1'"), 0);
}

/* Connections taking slots of one key as fast as they can, on the wall clock. */
#define TAKERS 4
#define TAKE_LIMIT 5
#define TAKE_FOR_MS 1500
#define TAKEN_MAX 64

struct taker {
    struct store *s;
    pthread_barrier_t *go;
    long long taken[TAKEN_MAX]; /* the times of the slots it took */
    size_t n;
    long long tries;
    long long busy; /* refused for a lock held too long: no slot, as the placer takes it */
    int rc;
};

static long long wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *take_for_a_while(void *arg)
{
    struct taker *t = arg;
    long long end;

    pthread_barrier_wait(t->go);
    end = wall_ms() + TAKE_FOR_MS;
    for (;;) {
        long long now = wall_ms(), wait = 0;

        if (now >= end)
            break;
        t->rc = rate_take(t->s, "calls:AC1", now, TAKE_LIMIT, &wait);
        t->tries++;
        /* Under load a lock can be refused: the placer then waits and asks again, as here. */
        if (t->rc == SB_EBUSY) {
            t->busy++;
            t->rc = 0;
            continue;
        }
        if (t->rc < 0)
            break;
        if (wait == 0 && t->n < TAKEN_MAX)
            t->taken[t->n++] = now;
    }
    return NULL;
}

static int ll_cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;

    return (x > y) - (x < y);
}

Test(jobs, connections_racing_for_slots_never_pass_the_limit_in_any_second)
{
    static struct taker t[TAKERS];
    long long all[TAKERS * TAKEN_MAX];
    pthread_barrier_t go;
    pthread_t th[TAKERS];
    size_t n = 0;
    long long tries = 0, busy = 0;

    memset(t, 0, sizeof(t));
    cr_assert_eq(pthread_barrier_init(&go, NULL, TAKERS), 0);
    for (int i = 0; i < TAKERS; i++) {
        cr_assert_eq(store_open(&t[i].s, path), 0);
        t[i].go = &go;
    }
    for (int i = 0; i < TAKERS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, take_for_a_while, &t[i]), 0);
    for (int i = 0; i < TAKERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < TAKERS; i++) {
        store_close(t[i].s);
        cr_assert_eq(t[i].rc, 0, "taker %d: %d", i, t[i].rc);
        cr_assert_lt(t[i].n, TAKEN_MAX);
        for (size_t k = 0; k < t[i].n; k++)
            all[n++] = t[i].taken[k];
        tries += t[i].tries;
        busy += t[i].busy;
    }
    qsort(all, n, sizeof(all[0]), ll_cmp);
    /* Any TAKE_LIMIT + 1 slots span a second or more: no window of 1000 ms holds more. */
    for (size_t i = 0; i + TAKE_LIMIT < n; i++)
        cr_assert_geq(all[i + TAKE_LIMIT] - all[i], 1000, "%d slots within %lld ms", TAKE_LIMIT + 1,
                      all[i + TAKE_LIMIT] - all[i]);
    /* The window slid: the second after the first gave its slots too. */
    cr_assert_gt(n, (size_t)TAKE_LIMIT, "%zu slots in %lld tries", n, tries);
    cr_assert_leq(n, (size_t)(2 * TAKE_LIMIT));
    cr_assert_gt(tries - busy, (long long)(4 * n),
                 "the takers raced: %lld tries, %lld refused busy", tries, busy);
}

Test(jobs, a_database_at_migration_10_gains_the_rate_slots)
{
    sqlite3 *db = NULL;

    target_sqlite_only("the migrations undone are SQLite's");
    store_close(st);
    st = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "BEGIN;" UNDO_MIGRATION_11 "COMMIT;", NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), 10);
    cr_assert_eq(store_open(&st, path), 0);
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), LATEST_MIGRATION);
    cr_assert_eq(take("calls:AC1", MS0, 1), 0);
    cr_assert_eq(take("calls:AC1", MS0 + 1, 1), 999);
}
