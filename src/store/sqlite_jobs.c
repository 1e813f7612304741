/*
 * The SQLite backend of store/jobs.h: the outbound job queue, campaigns,
 * opt-outs, API keys and idempotency keys. The arguments were checked by
 * store/jobs.c; this file only moves rows.
 *
 * Every transition reads the job and writes it in one transaction
 * (sqlite_tx_enter: BEGIN IMMEDIATE when none is open), so two connections
 * never both see a job in the state they move it from. job_claim_due is one
 * UPDATE ... RETURNING under that lock, and rate_take counts and takes its
 * slot under it.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/jobs.h"
#include "store/sqlite_internal.h"
#include "core/banned.h"

enum jst_id {
    JST_JOB_INSERT,
    JST_JOB_GET,
    JST_JOB_GET_BY_CALL,
    JST_JOB_LIST,
    JST_CAMPAIGN_STATE,
    JST_SKIP_OPTED_OUT,
    JST_CLAIM,
    JST_JOB_SET_PLACED,
    JST_CALL_JOB,
    JST_CALL_LINK,
    JST_JOB_ANSWERED_BY,
    JST_JOB_RETRY,
    JST_JOB_END,
    JST_JOB_REQUEUE,
    JST_JOB_CANCEL,
    JST_SMS_MARK,
    JST_OPTED_OUT,
    JST_CAMPAIGN_INSERT,
    JST_CAMPAIGN_GET,
    JST_CAMPAIGN_LIST,
    JST_CAMPAIGN_COUNTS,
    JST_CAMPAIGN_SET,
    JST_CAMPAIGN_CANCEL_JOBS,
    JST_OPTOUT_ADD,
    JST_TRANSFER_TEXT,
    JST_OPTOUT_DEL,
    JST_KEY_INSERT,
    JST_KEY_FIND,
    JST_KEY_REVOKE,
    JST_KEY_LIST,
    JST_IDEM_GET,
    JST_IDEM_PUT,
    JST_RATE_FORGET,
    JST_RATE_COUNT,
    JST_RATE_NTH,
    JST_RATE_INSERT,
    JST_COUNT
};

#define JOB_COLUMNS                                                                                \
    "id, tenant, campaign_id, to_number, from_number, contact_name, lang, kind, target, "          \
    "say_text, not_before, status, attempts, max_retries, retry_delay_s, next_attempt_at, "        \
    "call_sid, answered_by, amd, sms_fallback, sms_sent, error, created_at, updated_at, "          \
    "placing_since"

/* A queued job that is due at ?1: its time has come, alone or in an active campaign. */
#define JOB_DUE(j)                                                                                 \
    j ".status = 'queued' AND " j ".next_attempt_at <= ?1 AND " j ".not_before <= ?1 AND "         \
      "(" j ".campaign_id IS NULL OR "                                                             \
      "(SELECT c.status FROM campaigns c WHERE c.id = " j ".campaign_id) = 'active')"

#define CAMPAIGN_COLUMNS "id, tenant, name, status, created_at, updated_at"

static const char *const jst_sql[JST_COUNT] = {
    [JST_JOB_INSERT] =
        "INSERT INTO jobs(tenant, campaign_id, to_number, from_number, contact_name, lang, kind, "
        "target, say_text, not_before, status, attempts, max_retries, retry_delay_s, "
        "next_attempt_at, amd, sms_fallback, created_at, updated_at) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'queued', 0, ?11, ?12, "
        "max(?10, ?13), ?14, ?15, ?13, ?13)",
    [JST_JOB_GET] = "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?1",
    /* The current attempt's call, or an earlier attempt's through the call log. */
    [JST_JOB_GET_BY_CALL] = "SELECT " JOB_COLUMNS " FROM jobs WHERE call_sid = ?1 "
                            "OR id = (SELECT job_id FROM calls WHERE call_sid = ?1) "
                            "ORDER BY call_sid IS NOT ?1 LIMIT 1",
    [JST_JOB_LIST] = "SELECT " JOB_COLUMNS " FROM jobs WHERE (?1 = '' OR tenant = ?1) "
                     "AND (?2 = 0 OR campaign_id = ?2) AND (?3 = '' OR status = ?3) "
                     "ORDER BY id DESC LIMIT ?4",
    [JST_CAMPAIGN_STATE] = "SELECT tenant, status FROM campaigns WHERE id = ?1",
    [JST_SKIP_OPTED_OUT] =
        "UPDATE jobs SET status = 'skipped', error = 'the number opted out', updated_at = ?1 "
        "WHERE " JOB_DUE("jobs") " AND EXISTS(SELECT 1 FROM opt_outs o "
                                 "WHERE o.tenant = jobs.tenant AND o.number = jobs.to_number)",
    /*
     * The due jobs, numbered per tenant in the order they are claimed; a job
     * is taken while its number plus the tenant's jobs placing or placed
     * stays within the cap (?2, none when 0), oldest due first, at most ?3.
     */
    [JST_CLAIM] =
        "UPDATE jobs SET status = 'placing', placing_since = ?1, attempts = attempts + 1, "
        "updated_at = ?1 WHERE id IN ("
        "  SELECT d.id FROM ("
        "    SELECT j.id, j.tenant, j.next_attempt_at, row_number() OVER ("
        "      PARTITION BY j.tenant ORDER BY j.next_attempt_at, j.id) AS rn"
        "    FROM jobs j WHERE " JOB_DUE(
            "j") ") d"
                 "  WHERE ?2 <= 0 OR d.rn + (SELECT count(*) FROM jobs b WHERE b.tenant = d.tenant"
                 "    AND b.status IN ('placing', 'placed')) <= ?2"
                 "  ORDER BY d.next_attempt_at, d.id LIMIT ?3) "
                 "RETURNING " JOB_COLUMNS,
    [JST_JOB_SET_PLACED] = "UPDATE jobs SET status = 'placed', call_sid = ?2, updated_at = ?3 "
                           "WHERE id = ?1 AND status = 'placing'",
    [JST_CALL_JOB] = "SELECT job_id FROM calls WHERE call_sid = ?1 AND job_id IS NOT NULL",
    /*
     * The call log's row for a placed call. A status callback may have made
     * the row first: it keeps its status, and learns its job and direction.
     */
    [JST_CALL_LINK] =
        "INSERT INTO calls(call_sid, tenant, direction, from_number, to_number, status, "
        "duration, lang, started_at, ended_at, updated_at, job_id) "
        "VALUES(?1, ?2, 'outbound-api', ?3, ?4, 'queued', -1, ?5, ?6, 0, ?6, ?7) "
        "ON CONFLICT(call_sid) DO UPDATE SET job_id = excluded.job_id, "
        "direction = excluded.direction, "
        "tenant = CASE WHEN tenant = '' THEN excluded.tenant ELSE tenant END, "
        "from_number = CASE WHEN from_number = '' THEN excluded.from_number ELSE from_number END, "
        "to_number = CASE WHEN to_number = '' THEN excluded.to_number ELSE to_number END, "
        "lang = CASE WHEN lang = '' THEN excluded.lang ELSE lang END",
    [JST_JOB_ANSWERED_BY] = "UPDATE jobs SET answered_by = ?2, updated_at = ?3 WHERE id = ?1",
    [JST_JOB_RETRY] = "UPDATE jobs SET status = 'queued', call_sid = NULL, error = ?2, "
                      "next_attempt_at = ?3, updated_at = ?4 WHERE id = ?1",
    [JST_JOB_END] =
        "UPDATE jobs SET status = ?2, error = CASE WHEN ?3 = '' THEN error ELSE ?3 END, "
        "updated_at = ?4 WHERE id = ?1",
    /* A create that never placed a call: the attempt does not count. */
    [JST_JOB_REQUEUE] = "UPDATE jobs SET status = 'queued', attempts = max(attempts - 1, 0), "
                        "error = ?2, next_attempt_at = max(?3, not_before), updated_at = ?4 "
                        "WHERE id = ?1 AND status = 'placing'",
    [JST_JOB_CANCEL] = "UPDATE jobs SET status = 'canceled', updated_at = ?2 "
                       "WHERE id = ?1 AND status = 'queued'",
    [JST_SMS_MARK] = "UPDATE jobs SET sms_sent = 1 WHERE id = ?1 AND sms_sent = 0",
    [JST_OPTED_OUT] = "SELECT 1 FROM opt_outs WHERE tenant = ?1 AND number = ?2",
    [JST_CAMPAIGN_INSERT] = "INSERT INTO campaigns(tenant, name, status, created_at, updated_at) "
                            "VALUES(?1, ?2, 'active', ?3, ?3)",
    [JST_CAMPAIGN_GET] = "SELECT " CAMPAIGN_COLUMNS " FROM campaigns WHERE id = ?1",
    [JST_CAMPAIGN_LIST] = "SELECT " CAMPAIGN_COLUMNS " FROM campaigns "
                          "WHERE ?1 = '' OR tenant = ?1 ORDER BY id DESC",
    [JST_CAMPAIGN_COUNTS] = "SELECT status, count(*) FROM jobs WHERE campaign_id = ?1 "
                            "GROUP BY status",
    [JST_CAMPAIGN_SET] = "UPDATE campaigns SET status = ?2, updated_at = ?3 WHERE id = ?1",
    [JST_CAMPAIGN_CANCEL_JOBS] = "UPDATE jobs SET status = 'canceled', updated_at = ?2 "
                                 "WHERE campaign_id = ?1 AND status = 'queued'",
    [JST_OPTOUT_ADD] = "INSERT INTO opt_outs(tenant, number, at) VALUES(?1, ?2, ?3) "
                       "ON CONFLICT(tenant, number) DO NOTHING",
    [JST_TRANSFER_TEXT] = "INSERT INTO transfer_texts(call_sid, tenant, at) VALUES(?1, ?2, ?3) "
                          "ON CONFLICT(call_sid) DO NOTHING",
    [JST_OPTOUT_DEL] = "DELETE FROM opt_outs WHERE tenant = ?1 AND number = ?2",
    [JST_KEY_INSERT] = "INSERT INTO api_keys(tenant, key_hash, prefix, created_at, name) "
                       "VALUES(?1, ?2, ?3, ?4, ?5)",
    [JST_KEY_FIND] = "SELECT id, tenant FROM api_keys WHERE key_hash = ?1 AND revoked = 0",
    [JST_KEY_REVOKE] = "UPDATE api_keys SET revoked = 1 WHERE id = ?1 AND tenant = ?2",
    [JST_KEY_LIST] = "SELECT id, tenant, prefix, created_at, revoked, name FROM api_keys "
                     "WHERE ?1 = '' OR tenant = ?1 ORDER BY id",
    /* ?3 is the oldest time still inside the window. */
    [JST_IDEM_GET] = "SELECT tenant, key, job_id, request_hash, created_at FROM idempotency "
                     "WHERE tenant = ?1 AND key = ?2 AND created_at >= ?3",
    /* An expired record (older than ?6) is replaced; a live one stays (no change). */
    [JST_IDEM_PUT] = "INSERT INTO idempotency(tenant, key, job_id, request_hash, created_at) "
                     "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(tenant, key) DO UPDATE SET "
                     "job_id = excluded.job_id, request_hash = excluded.request_hash, "
                     "created_at = excluded.created_at WHERE idempotency.created_at < ?6",
    /* rate_take: ?2 is the oldest time kept, ?3 the newest. */
    [JST_RATE_FORGET] = "DELETE FROM rate_slots WHERE key = ?1 AND (at_ms < ?2 OR at_ms > ?3)",
    /* The slots that count: after ?2, up to ?3. */
    [JST_RATE_COUNT] = "SELECT count(*) FROM rate_slots WHERE key = ?1 AND at_ms > ?2 "
                       "AND at_ms <= ?3",
    [JST_RATE_NTH] = "SELECT at_ms FROM rate_slots WHERE key = ?1 AND at_ms > ?2 "
                     "AND at_ms <= ?3 ORDER BY at_ms LIMIT 1 OFFSET ?4",
    [JST_RATE_INSERT] = "INSERT INTO rate_slots(key, at_ms) VALUES(?1, ?2)",
};

int sqlite_jobs_prepare(struct sqlite_store *ss)
{
    ss->jobs_st = calloc(JST_COUNT, sizeof(*ss->jobs_st));
    if (!ss->jobs_st)
        return SB_ENOMEM;
    for (int i = 0; i < JST_COUNT; i++) {
        int src = sqlite3_prepare_v3(ss->db, jst_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                     &ss->jobs_st[i], NULL);

        if (src != SQLITE_OK)
            return fail(ss->db, "prepare_jobs", src) == SB_ENOMEM ? SB_ENOMEM : SB_ESTORE;
    }
    return 0;
}

void sqlite_jobs_finalize(struct sqlite_store *ss)
{
    if (!ss->jobs_st)
        return;
    for (int i = 0; i < JST_COUNT; i++)
        sqlite3_finalize(ss->jobs_st[i]);
    free(ss->jobs_st);
    ss->jobs_st = NULL;
}

static sqlite3_stmt *jst(struct sqlite_store *ss, enum jst_id id)
{
    return ss->jobs_st[id];
}

/* Binds an id, or NULL for 0 (no campaign). */
static void bind_id(sqlite3_stmt *st, int i, long long v, int *src)
{
    if (*src == SQLITE_OK)
        *src = v > 0 ? sqlite3_bind_int64(st, i, (sqlite3_int64)v) : sqlite3_bind_null(st, i);
}

static int job_row(sqlite3_stmt *st, void *elem)
{
    struct job *j = elem;
    char name[16];

    memset(j, 0, sizeof(*j));
    j->id = sqlite3_column_int64(st, 0);
    col_str(st, 1, j->tenant, sizeof(j->tenant));
    j->campaign_id = sqlite3_column_int64(st, 2);
    col_str(st, 3, j->to, sizeof(j->to));
    col_str(st, 4, j->from, sizeof(j->from));
    col_str(st, 5, j->contact_name, sizeof(j->contact_name));
    col_str(st, 6, j->lang, sizeof(j->lang));
    col_str(st, 7, name, sizeof(name));
    if (job_kind_parse(name, &j->kind) < 0)
        return SB_ESTORE;
    col_str(st, 8, j->target, sizeof(j->target));
    col_str(st, 9, j->say_text, sizeof(j->say_text));
    j->not_before = sqlite3_column_int64(st, 10);
    col_str(st, 11, name, sizeof(name));
    if (job_status_parse(name, &j->status) < 0)
        return SB_ESTORE;
    j->attempts = sqlite3_column_int(st, 12);
    j->max_retries = sqlite3_column_int(st, 13);
    j->retry_delay_s = sqlite3_column_int(st, 14);
    j->next_attempt_at = sqlite3_column_int64(st, 15);
    col_str(st, 16, j->call_sid, sizeof(j->call_sid));
    col_str(st, 17, j->answered_by, sizeof(j->answered_by));
    j->amd = sqlite3_column_int(st, 18);
    j->sms_fallback = sqlite3_column_int(st, 19);
    j->sms_sent = sqlite3_column_int(st, 20);
    col_str(st, 21, j->error, sizeof(j->error));
    j->created_at = sqlite3_column_int64(st, 22);
    j->updated_at = sqlite3_column_int64(st, 23);
    j->placing_since = sqlite3_column_int64(st, 24);
    return 0;
}

/* Reads one job by id (call_sid NULL) or by call. Returns 0, SB_ENOTFOUND or the failure. */
static int job_read(struct sqlite_store *ss, long long id, const char *call_sid, struct job *out)
{
    sqlite3_stmt *st = jst(ss, call_sid ? JST_JOB_GET_BY_CALL : JST_JOB_GET);
    int src = SQLITE_OK;
    int rc;

    if (call_sid)
        bind_str(st, 1, call_sid, &src);
    else
        bind_i64(st, 1, id, &src);
    rc = step_row(ss, st, src, "job_get");
    if (rc == 0)
        rc = job_row(st, out);
    stmt_done(st);
    return rc;
}

/* Whether `number` opted out of `tenant`: 0 or 1, or a negative code. */
static int opted_out(struct sqlite_store *ss, const char *tenant, const char *number)
{
    sqlite3_stmt *st = jst(ss, JST_OPTED_OUT);
    int src = SQLITE_OK;
    int rc;

    bind_str(st, 1, tenant, &src);
    bind_str(st, 2, number, &src);
    rc = step_row(ss, st, src, "optout_check");
    stmt_done(st);
    return rc == 0 ? 1 : rc == SB_ENOTFOUND ? 0 : rc;
}

/*
 * Checks that a campaign can take jobs of `tenant` ("" : any, written to
 * `tenant_out` when not NULL). Returns 0, SB_ENOTFOUND (absent or another
 * tenant's), SB_ECLOSED (canceled) or the failure.
 */
static int campaign_open(struct sqlite_store *ss, long long id, const char *tenant,
                         char tenant_out[TENANT_NAME_SIZE])
{
    sqlite3_stmt *st = jst(ss, JST_CAMPAIGN_STATE);
    char owner[TENANT_NAME_SIZE];
    char status[16];
    int src = SQLITE_OK;
    int rc;

    bind_i64(st, 1, id, &src);
    rc = step_row(ss, st, src, "campaign_state");
    if (rc == 0) {
        col_str(st, 0, owner, sizeof(owner));
        col_str(st, 1, status, sizeof(status));
    }
    stmt_done(st);
    if (rc < 0)
        return rc;
    if (tenant && tenant[0] && strcmp(tenant, owner) != 0)
        return SB_ENOTFOUND;
    if (strcmp(status, "canceled") == 0)
        return SB_ECLOSED;
    if (tenant_out)
        memcpy(tenant_out, owner, sizeof(owner));
    return 0;
}

/*
 * How an INSERT went: an unknown tenant (or job) is SB_ENOTFOUND, a duplicate
 * SB_EEXISTS, anything else a store error; *id (may be NULL) gets the new row.
 */
static int inserted(struct sqlite_store *ss, int src, const char *what, long long *id)
{
    if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        return SB_ENOTFOUND;
    if (is_unique_violation(src))
        return SB_EEXISTS;
    if (src != SQLITE_DONE)
        return fail(ss->db, what, src);
    if (id)
        *id = sqlite3_last_insert_rowid(ss->db);
    return 0;
}

/* Inserts one checked job (of `tenant`, in `campaign_id`, 0 for none). */
static int job_insert(struct sqlite_store *ss, const struct job_request *r, const char *tenant,
                      long long campaign_id, long long now, long long *id)
{
    sqlite3_stmt *st = jst(ss, JST_JOB_INSERT);
    int src = SQLITE_OK;

    bind_str(st, 1, tenant, &src);
    bind_id(st, 2, campaign_id, &src);
    bind_str(st, 3, r->to, &src);
    bind_str(st, 4, r->from ? r->from : "", &src);
    bind_str(st, 5, r->contact_name ? r->contact_name : "", &src);
    bind_str(st, 6, r->lang ? r->lang : "", &src);
    bind_str(st, 7, job_kind_name(r->kind), &src);
    bind_str(st, 8, r->target ? r->target : "", &src);
    bind_str(st, 9, r->say_text ? r->say_text : "", &src);
    bind_i64(st, 10, r->not_before, &src);
    bind_i64(st, 11, r->max_retries, &src);
    bind_i64(st, 12, r->retry_delay_s > 0 ? r->retry_delay_s : JOB_RETRY_DELAY_DEFAULT_S, &src);
    bind_i64(st, 13, now, &src);
    bind_i64(st, 14, r->amd ? 1 : 0, &src);
    bind_i64(st, 15, r->sms_fallback ? 1 : 0, &src);
    return inserted(ss, step_done(st, src), "job_add", id);
}

/* Records a tenant's key; SB_EEXISTS when a live record of it exists. */
static int idem_put(struct sqlite_store *ss, const char *tenant, const char *key,
                    const char *request_hash, long long job_id, long long now)
{
    sqlite3_stmt *st = jst(ss, JST_IDEM_PUT);
    int src = SQLITE_OK;

    bind_str(st, 1, tenant, &src);
    bind_str(st, 2, key, &src);
    bind_i64(st, 3, job_id, &src);
    bind_str(st, 4, request_hash, &src);
    bind_i64(st, 5, now, &src);
    bind_i64(st, 6, now - IDEMPOTENCY_WINDOW_S + 1, &src);
    src = step_done(st, src);
    if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        return SB_ENOTFOUND;
    if (src != SQLITE_DONE)
        return fail(ss->db, "idempotency_put", src);
    return sqlite3_changes(ss->db) == 0 ? SB_EEXISTS : 0;
}

static int idem_get(struct sqlite_store *ss, const char *tenant, const char *key, long long now,
                    struct idempotency *out)
{
    sqlite3_stmt *st = jst(ss, JST_IDEM_GET);
    int src = SQLITE_OK;
    int rc;

    bind_str(st, 1, tenant, &src);
    bind_str(st, 2, key, &src);
    bind_i64(st, 3, now - IDEMPOTENCY_WINDOW_S + 1, &src);
    rc = step_row(ss, st, src, "idempotency_get");
    if (rc == 0) {
        memset(out, 0, sizeof(*out));
        col_str(st, 0, out->tenant, sizeof(out->tenant));
        col_str(st, 1, out->key, sizeof(out->key));
        out->job_id = sqlite3_column_int64(st, 2);
        col_str(st, 3, out->request_hash, sizeof(out->request_hash));
        out->created_at = sqlite3_column_int64(st, 4);
    }
    stmt_done(st);
    return rc;
}

int sqlite_job_add(struct store *s, const struct job_request *r, const char *key,
                   const char *request_hash, long long now, long long *id, int *replayed)
{
    struct sqlite_store *ss = to_sqlite(s);
    struct idempotency seen;
    enum tx_kind kind;
    int rc;

    *replayed = 0;
    rc = sqlite_tx_enter(ss, &kind, "job_add");
    if (rc < 0)
        return rc;
    if (key) {
        rc = idem_get(ss, r->tenant, key, now, &seen);
        if (rc == 0) {
            if (strcmp(seen.request_hash, request_hash) == 0) {
                *id = seen.job_id;
                *replayed = 1;
            } else {
                rc = SB_EEXISTS;
            }
            goto leave;
        }
        if (rc != SB_ENOTFOUND)
            goto leave;
        rc = 0;
    }
    if (r->campaign_id > 0)
        rc = campaign_open(ss, r->campaign_id, r->tenant, NULL);
    if (rc == 0)
        rc = job_insert(ss, r, r->tenant, r->campaign_id, now, id);
    if (rc == 0 && key)
        rc = idem_put(ss, r->tenant, key, request_hash, *id, now);
leave:
    return sqlite_tx_leave(ss, kind, rc, "job_add");
}

int sqlite_job_get(struct store *s, long long id, const char *call_sid, struct job *out)
{
    return job_read(to_sqlite(s), id, call_sid, out);
}

int sqlite_job_list(struct store *s, const struct job_filter *f, struct job **out, size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = jst(ss, JST_JOB_LIST);
    int src = SQLITE_OK;

    bind_str(st, 1, f->tenant ? f->tenant : "", &src);
    bind_i64(st, 2, f->campaign_id, &src);
    bind_str(st, 3, f->status >= 0 ? job_status_name((enum job_status)f->status) : "", &src);
    bind_i64(st, 4, f->limit == 0 || f->limit > (size_t)INT64_MAX ? -1 : (long long)f->limit, &src);
    return sqlite_collect_rows(ss, st, src, sizeof(**out), job_row, NULL, "job_list", (void **)out,
                               n);
}

static int job_id_cmp(const void *a, const void *b)
{
    const struct job *x = a, *y = b;

    return (x->id > y->id) - (x->id < y->id);
}

int sqlite_job_claim_due(struct store *s, long long now, size_t limit, int cap, struct job **out,
                         size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);
    struct job *got = NULL;
    size_t count = 0;
    sqlite3_stmt *st;
    enum tx_kind kind;
    int src = SQLITE_OK;
    int rc;

    /* Claims are handed out at commit: a caller's open transaction would hold them back. */
    if (!sqlite3_get_autocommit(ss->db))
        return SB_EBUSY;
    rc = sqlite_tx_enter(ss, &kind, "job_claim_due");
    if (rc < 0)
        return rc;
    st = jst(ss, JST_SKIP_OPTED_OUT);
    bind_i64(st, 1, now, &src);
    rc = run_write(ss, st, src, "job_claim_due");
    if (rc == 0 && sqlite3_changes(ss->db) > 0)
        log_event(LOG_INFO, "jobs.skipped", "count=%d reason=\"opted out\"",
                  sqlite3_changes(ss->db));
    if (rc == 0) {
        st = jst(ss, JST_CLAIM);
        src = SQLITE_OK;
        bind_i64(st, 1, now, &src);
        bind_i64(st, 2, cap, &src);
        bind_i64(st, 3, limit > (size_t)INT64_MAX ? INT64_MAX : (long long)limit, &src);
        rc = sqlite_collect_rows(ss, st, src, sizeof(*got), job_row, NULL, "job_claim_due",
                                 (void **)&got, &count);
    }
    rc = sqlite_tx_leave(ss, kind, rc, "job_claim_due");
    if (rc < 0) {
        free(got);
        return rc;
    }
    if (count > 1)
        qsort(got, count, sizeof(*got), job_id_cmp);
    *out = got;
    *n = count;
    return 0;
}

/*
 * The job that owned `call_sid` before, from the call log: its id, 0 when
 * none, or a negative code.
 */
static long long call_owner(struct sqlite_store *ss, const char *call_sid)
{
    sqlite3_stmt *st = jst(ss, JST_CALL_JOB);
    long long owner = 0;
    int src = SQLITE_OK;
    int rc;

    bind_str(st, 1, call_sid, &src);
    rc = step_row(ss, st, src, "job_placed");
    if (rc == 0)
        owner = sqlite3_column_int64(st, 0);
    stmt_done(st);
    return rc == 0 ? owner : rc == SB_ENOTFOUND ? 0 : rc;
}

/* job_placed inside an open transaction, for the job `j` just read. */
static int placed_locked(struct sqlite_store *ss, const struct job *j, const char *call_sid,
                         const char *from, long long now)
{
    sqlite3_stmt *st;
    long long owner;
    int src = SQLITE_OK;

    if (j->status == JOB_PLACED && strcmp(j->call_sid, call_sid) == 0)
        return 0;
    if (j->status != JOB_PLACING)
        return SB_EBUSY;
    owner = call_owner(ss, call_sid);
    if (owner < 0)
        return (int)owner;
    if (owner > 0 && owner != j->id)
        return SB_EEXISTS;
    st = jst(ss, JST_JOB_SET_PLACED);
    bind_i64(st, 1, j->id, &src);
    bind_str(st, 2, call_sid, &src);
    bind_i64(st, 3, now, &src);
    src = step_done(st, src);
    if (is_unique_violation(src))
        return SB_EEXISTS;
    if (src != SQLITE_DONE)
        return fail(ss->db, "job_placed", src);
    st = jst(ss, JST_CALL_LINK);
    src = SQLITE_OK;
    bind_str(st, 1, call_sid, &src);
    bind_str(st, 2, j->tenant, &src);
    bind_str(st, 3, from && from[0] ? from : j->from, &src);
    bind_str(st, 4, j->to, &src);
    bind_str(st, 5, j->lang, &src);
    bind_i64(st, 6, now, &src);
    bind_i64(st, 7, j->id, &src);
    return run_write(ss, st, src, "job_placed");
}

int sqlite_job_placed(struct store *s, long long id, const char *call_sid, const char *from,
                      long long now)
{
    struct sqlite_store *ss = to_sqlite(s);
    struct job j;
    enum tx_kind kind;
    int rc;

    rc = sqlite_tx_enter(ss, &kind, "job_placed");
    if (rc < 0)
        return rc;
    rc = job_read(ss, id, NULL, &j);
    if (rc == 0)
        rc = placed_locked(ss, &j, call_sid, from, now);
    return sqlite_tx_leave(ss, kind, rc, "job_placed");
}

/* Fills in sms_due for a job that just ended with `status`. */
static int sms_due(struct sqlite_store *ss, const struct job *j, enum job_status status)
{
    int out;

    if (!job_sms_wanted(j, status))
        return 0;
    out = opted_out(ss, j->tenant, j->to);
    return out < 0 ? out : !out;
}

/* Ends the current attempt of `j` with a final `status`: a retry or the end. */
static int end_attempt(struct sqlite_store *ss, const struct job *j, enum job_status status,
                       long long now, struct job_update *u)
{
    sqlite3_stmt *st;
    int src = SQLITE_OK;
    int rc;

    if (job_retried_after(j, status)) {
        st = jst(ss, JST_JOB_RETRY);
        bind_i64(st, 1, j->id, &src);
        bind_str(st, 2, job_status_name(status), &src);
        bind_i64(st, 3, now + j->retry_delay_s, &src);
        bind_i64(st, 4, now, &src);
        rc = run_write(ss, st, src, "job_status");
        if (rc == 0) {
            u->outcome = JOB_OUTCOME_RETRYING;
            u->status = JOB_QUEUED;
            u->next_attempt_at = now + j->retry_delay_s;
        }
        return rc;
    }
    st = jst(ss, JST_JOB_END);
    bind_i64(st, 1, j->id, &src);
    bind_str(st, 2, job_status_name(status), &src);
    bind_str(st, 3, "", &src);
    bind_i64(st, 4, now, &src);
    rc = run_write(ss, st, src, "job_status");
    if (rc == 0) {
        u->outcome = JOB_OUTCOME_FINAL;
        u->status = status;
        rc = sms_due(ss, j, status);
        if (rc >= 0) {
            u->sms_due = rc;
            rc = 0;
        }
    }
    return rc;
}

int sqlite_job_status_by_call(struct store *s, long long job_id, const char *call_sid, int final,
                              const char *answered_by, long long now, struct job_update *out)
{
    struct sqlite_store *ss = to_sqlite(s);
    struct job_update u = {.outcome = JOB_OUTCOME_NONE};
    struct job j;
    enum tx_kind kind;
    int rc;

    rc = sqlite_tx_enter(ss, &kind, "job_status");
    if (rc < 0)
        return rc;
    rc = job_read(ss, 0, call_sid, &j);
    if (rc == SB_ENOTFOUND && job_id > 0) {
        /* The callback beat the create's answer: the job named by the URL takes the call. */
        rc = job_read(ss, job_id, NULL, &j);
        if (rc == 0 && j.status == JOB_PLACING) {
            rc = placed_locked(ss, &j, call_sid, NULL, now);
            if (rc == 0)
                rc = job_read(ss, job_id, NULL, &j);
        } else if (rc == 0) {
            rc = SB_ENOTFOUND;
        }
    }
    if (rc < 0)
        goto leave;
    u.job_id = j.id;
    u.status = j.status;
    /* An earlier attempt's call, or a callback for an attempt that has ended. */
    if (strcmp(j.call_sid, call_sid) != 0 || j.status != JOB_PLACED)
        goto leave;
    if (answered_by && answered_by[0] && strcmp(answered_by, j.answered_by) != 0) {
        sqlite3_stmt *st = jst(ss, JST_JOB_ANSWERED_BY);
        int src = SQLITE_OK;

        bind_i64(st, 1, j.id, &src);
        bind_str(st, 2, answered_by, &src);
        bind_i64(st, 3, now, &src);
        rc = run_write(ss, st, src, "job_status");
    }
    if (rc == 0 && final >= 0)
        rc = end_attempt(ss, &j, (enum job_status) final, now, &u);
leave:
    rc = sqlite_tx_leave(ss, kind, rc, "job_status");
    if (rc == 0)
        *out = u;
    return rc;
}

int sqlite_job_release(struct store *s, long long id, long long retry_at, const char *reason,
                       long long now, struct job_update *out)
{
    struct sqlite_store *ss = to_sqlite(s);
    struct job_update u = {.outcome = JOB_OUTCOME_NONE};
    sqlite3_stmt *st;
    struct job j;
    enum tx_kind kind;
    int src = SQLITE_OK;
    int rc;

    rc = sqlite_tx_enter(ss, &kind, "job_release");
    if (rc < 0)
        return rc;
    rc = job_read(ss, id, NULL, &j);
    if (rc == 0 && j.status != JOB_PLACING)
        rc = SB_EBUSY;
    if (rc < 0)
        goto leave;
    u.job_id = id;
    if (retry_at > 0) {
        st = jst(ss, JST_JOB_REQUEUE);
        bind_i64(st, 1, id, &src);
        bind_str(st, 2, reason, &src);
        bind_i64(st, 3, retry_at, &src);
        bind_i64(st, 4, now, &src);
        rc = run_write(ss, st, src, "job_release");
        u.outcome = JOB_OUTCOME_RETRYING;
        u.status = JOB_QUEUED;
        u.next_attempt_at = retry_at > j.not_before ? retry_at : j.not_before;
    } else {
        st = jst(ss, JST_JOB_END);
        bind_i64(st, 1, id, &src);
        bind_str(st, 2, job_status_name(JOB_FAILED), &src);
        bind_str(st, 3, reason[0] ? reason : "failed", &src);
        bind_i64(st, 4, now, &src);
        rc = run_write(ss, st, src, "job_release");
        u.outcome = JOB_OUTCOME_FINAL;
        u.status = JOB_FAILED;
        if (rc == 0) {
            rc = sms_due(ss, &j, JOB_FAILED);
            if (rc >= 0) {
                u.sms_due = rc;
                rc = 0;
            }
        }
    }
leave:
    rc = sqlite_tx_leave(ss, kind, rc, "job_release");
    if (rc == 0)
        *out = u;
    return rc;
}

int sqlite_job_cancel(struct store *s, long long id, long long now)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = jst(ss, JST_JOB_CANCEL);
    struct job j;
    int src = SQLITE_OK;
    int rc;

    bind_i64(st, 1, id, &src);
    bind_i64(st, 2, now, &src);
    rc = run_change(ss, st, src, "job_cancel");
    if (rc != SB_ENOTFOUND)
        return rc;
    /* Not queued: say why. */
    rc = job_read(ss, id, NULL, &j);
    if (rc < 0)
        return rc;
    return job_status_final(j.status) ? SB_ECLOSED : SB_EBUSY;
}

int sqlite_job_mark_sms_sent(struct store *s, long long id, int *already)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = jst(ss, JST_SMS_MARK);
    struct job j;
    int src = SQLITE_OK;
    int rc;

    /* One statement: of two concurrent markers exactly one changes the row. */
    bind_i64(st, 1, id, &src);
    rc = run_change(ss, st, src, "job_mark_sms_sent");
    if (rc == 0) {
        *already = 0;
        return 0;
    }
    if (rc != SB_ENOTFOUND)
        return rc;
    rc = job_read(ss, id, NULL, &j);
    if (rc == 0)
        *already = 1;
    return rc;
}

int sqlite_campaign_add(struct store *s, const char *tenant, const char *name, long long now,
                        long long *id)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = jst(ss, JST_CAMPAIGN_INSERT);
    int src = SQLITE_OK;

    bind_str(st, 1, tenant, &src);
    bind_str(st, 2, name, &src);
    bind_i64(st, 3, now, &src);
    return inserted(ss, step_done(st, src), "campaign_add", id);
}

static int campaign_row(sqlite3_stmt *st, void *elem)
{
    struct campaign *c = elem;
    char status[16];

    memset(c, 0, sizeof(*c));
    c->id = sqlite3_column_int64(st, 0);
    col_str(st, 1, c->tenant, sizeof(c->tenant));
    col_str(st, 2, c->name, sizeof(c->name));
    col_str(st, 3, status, sizeof(status));
    if (campaign_status_parse(status, &c->status) < 0)
        return SB_ESTORE;
    c->created_at = sqlite3_column_int64(st, 4);
    c->updated_at = sqlite3_column_int64(st, 5);
    return 0;
}

/* Fills in a campaign's counts of jobs by status. */
static int campaign_counts(struct sqlite_store *ss, struct campaign *c)
{
    sqlite3_stmt *st = jst(ss, JST_CAMPAIGN_COUNTS);
    int src = SQLITE_OK;
    int rc = 0;

    bind_i64(st, 1, c->id, &src);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    while (src == SQLITE_ROW) {
        enum job_status js;

        if (job_status_parse((const char *)sqlite3_column_text(st, 0), &js) == 0) {
            c->counts[js] = sqlite3_column_int64(st, 1);
            c->total += c->counts[js];
        }
        src = sqlite3_step(st);
    }
    if (src != SQLITE_DONE)
        rc = fail(ss->db, "campaign_counts", src);
    stmt_done(st);
    return rc;
}

int sqlite_campaign_get(struct store *s, long long id, struct campaign *out)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = jst(ss, JST_CAMPAIGN_GET);
    int src = SQLITE_OK;
    int own;
    int rc;

    rc = sqlite_read_enter(ss, &own, "campaign_get");
    if (rc < 0)
        return rc;
    bind_i64(st, 1, id, &src);
    rc = step_row(ss, st, src, "campaign_get");
    if (rc == 0)
        rc = campaign_row(st, out);
    stmt_done(st);
    if (rc == 0)
        rc = campaign_counts(ss, out);
    return sqlite_read_leave(ss, own, rc, "campaign_get");
}

int sqlite_campaign_list(struct store *s, const char *tenant, struct campaign **out, size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = jst(ss, JST_CAMPAIGN_LIST);
    struct campaign *arr = NULL;
    size_t count = 0;
    int src = SQLITE_OK;
    int own;
    int rc;

    rc = sqlite_read_enter(ss, &own, "campaign_list");
    if (rc < 0)
        return rc;
    bind_str(st, 1, tenant ? tenant : "", &src);
    rc = sqlite_collect_rows(ss, st, src, sizeof(*arr), campaign_row, NULL, "campaign_list",
                             (void **)&arr, &count);
    for (size_t i = 0; rc == 0 && i < count; i++)
        rc = campaign_counts(ss, &arr[i]);
    rc = sqlite_read_leave(ss, own, rc, "campaign_list");
    if (rc < 0) {
        free(arr);
        return rc;
    }
    *out = arr;
    *n = count;
    return 0;
}

int sqlite_campaign_set_status(struct store *s, long long id, int status, long long now)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st;
    enum tx_kind kind;
    int src = SQLITE_OK;
    int rc;

    rc = sqlite_tx_enter(ss, &kind, "campaign_set_status");
    if (rc < 0)
        return rc;
    rc = campaign_open(ss, id, NULL, NULL);
    if (rc == 0) {
        st = jst(ss, JST_CAMPAIGN_SET);
        bind_i64(st, 1, id, &src);
        bind_str(st, 2, campaign_status_name((enum campaign_status)status), &src);
        bind_i64(st, 3, now, &src);
        rc = run_write(ss, st, src, "campaign_set_status");
    }
    if (rc == 0 && status == CAMPAIGN_CANCELED) {
        st = jst(ss, JST_CAMPAIGN_CANCEL_JOBS);
        src = SQLITE_OK;
        bind_i64(st, 1, id, &src);
        bind_i64(st, 2, now, &src);
        rc = run_write(ss, st, src, "campaign_set_status");
    }
    return sqlite_tx_leave(ss, kind, rc, "campaign_set_status");
}

int sqlite_campaign_import(struct store *s, long long campaign_id, const struct job_request *reqs,
                           size_t n, long long now)
{
    struct sqlite_store *ss = to_sqlite(s);
    char tenant[TENANT_NAME_SIZE];
    enum tx_kind kind;
    int rc;

    rc = sqlite_tx_enter(ss, &kind, "campaign_import");
    if (rc < 0)
        return rc;
    rc = campaign_open(ss, campaign_id, NULL, tenant);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = job_insert(ss, &reqs[i], tenant, campaign_id, now, NULL);
    return sqlite_tx_leave(ss, kind, rc, "campaign_import");
}

int sqlite_optout_set(struct store *s, const char *tenant, const char *number, int on,
                      long long now)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = jst(ss, on ? JST_OPTOUT_ADD : JST_OPTOUT_DEL);
    int src = SQLITE_OK;

    bind_str(st, 1, tenant, &src);
    bind_str(st, 2, number, &src);
    if (on)
        bind_i64(st, 3, now, &src);
    src = step_done(st, src);
    if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        return SB_ENOTFOUND;
    return src == SQLITE_DONE ? 0 : fail(ss->db, "optout_set", src);
}

int sqlite_transfer_text_mark(struct store *s, const char *tenant, const char *call_sid,
                              long long now, int *already)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = jst(ss, JST_TRANSFER_TEXT);
    int src = SQLITE_OK;

    /* One statement: of two markers of the same call exactly one inserts the row. */
    bind_str(st, 1, call_sid, &src);
    bind_str(st, 2, tenant, &src);
    bind_i64(st, 3, now, &src);
    src = step_done(st, src);
    if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        return SB_ENOTFOUND;
    if (src != SQLITE_DONE)
        return fail(ss->db, "transfer_text_mark", src);
    *already = sqlite3_changes(ss->db) == 0;
    return 0;
}

int sqlite_optout_check(struct store *s, const char *tenant, const char *number, int *out)
{
    int rc = opted_out(to_sqlite(s), tenant, number);

    if (rc < 0)
        return rc;
    *out = rc;
    return 0;
}

int sqlite_api_key_add(struct store *s, const char *tenant, const char *key_hash,
                       const char *prefix, const char *name, long long now, long long *id)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = jst(ss, JST_KEY_INSERT);
    int src = SQLITE_OK;

    bind_str(st, 1, tenant, &src);
    bind_str(st, 2, key_hash, &src);
    bind_str(st, 3, prefix, &src);
    bind_i64(st, 4, now, &src);
    bind_str(st, 5, name ? name : "", &src);
    return inserted(ss, step_done(st, src), "api_key_add", id);
}

int sqlite_api_key_find(struct store *s, const char *key_hash, char *tenant, size_t tenant_size,
                        long long *id)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = jst(ss, JST_KEY_FIND);
    int src = SQLITE_OK;
    int rc;

    bind_str(st, 1, key_hash, &src);
    rc = step_row(ss, st, src, "api_key_verify");
    if (rc == 0) {
        *id = sqlite3_column_int64(st, 0);
        col_str(st, 1, tenant, tenant_size);
    }
    stmt_done(st);
    return rc;
}

int sqlite_api_key_revoke(struct store *s, const char *tenant, long long id)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = jst(ss, JST_KEY_REVOKE);
    int src = SQLITE_OK;

    bind_i64(st, 1, id, &src);
    bind_str(st, 2, tenant, &src);
    return run_change(ss, st, src, "api_key_revoke");
}

static int api_key_row(sqlite3_stmt *st, void *elem)
{
    struct api_key *k = elem;

    k->id = sqlite3_column_int64(st, 0);
    col_str(st, 1, k->tenant, sizeof(k->tenant));
    col_str(st, 2, k->prefix, sizeof(k->prefix));
    k->created_at = sqlite3_column_int64(st, 3);
    k->revoked = sqlite3_column_int(st, 4);
    col_str(st, 5, k->name, sizeof(k->name));
    return 0;
}

int sqlite_api_key_list(struct store *s, const char *tenant, struct api_key **out, size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = jst(ss, JST_KEY_LIST);
    int src = SQLITE_OK;

    bind_str(st, 1, tenant ? tenant : "", &src);
    return sqlite_collect_rows(ss, st, src, sizeof(**out), api_key_row, NULL, "api_key_list",
                               (void **)out, n);
}

int sqlite_idempotency_get(struct store *s, const char *tenant, const char *key, long long now,
                           struct idempotency *out)
{
    return idem_get(to_sqlite(s), tenant, key, now, out);
}

int sqlite_idempotency_put(struct store *s, const char *tenant, const char *key,
                           const char *request_hash, long long job_id, long long now)
{
    return idem_put(to_sqlite(s), tenant, key, request_hash, job_id, now);
}

/*
 * How long until the oldest of the `count` slots counting at `now_ms` whose
 * leaving makes room under `limit` leaves the window: the slot at
 * (count - limit) in time order. At least 1 ms.
 */
static long long rate_wait(long long nth, long long now_ms)
{
    long long wait = nth + RATE_WINDOW_MS - now_ms;

    return wait > 0 ? wait : 1;
}

/*
 * The slots that count are those within a window either side of now_ms: one
 * a moment ahead (another process's clock, or one that read its clock just
 * after ours) counts as well. Slots more than two windows old, or more than
 * one ahead (a clock set back), are forgotten; one that still counts for a
 * taker whose clock is within a window of ours is never forgotten.
 */
int sqlite_rate_take(struct store *s, const char *key, long long now_ms, int limit,
                     long long *wait_ms)
{
    struct sqlite_store *ss = to_sqlite(s);
    long long from = now_ms - RATE_WINDOW_MS, to = now_ms + RATE_WINDOW_MS;
    long long count = 0, wait = 0;
    sqlite3_stmt *st;
    enum tx_kind kind;
    int src = SQLITE_OK;
    int rc;

    /* A slot is taken at commit: a caller's open transaction would hold it back. */
    if (!sqlite3_get_autocommit(ss->db))
        return SB_EBUSY;
    rc = sqlite_tx_enter(ss, &kind, "rate_take");
    if (rc < 0)
        return rc;
    st = jst(ss, JST_RATE_FORGET);
    bind_str(st, 1, key, &src);
    bind_i64(st, 2, now_ms - 2 * RATE_WINDOW_MS, &src);
    bind_i64(st, 3, to, &src);
    rc = run_write(ss, st, src, "rate_take");
    if (rc == 0) {
        st = jst(ss, JST_RATE_COUNT);
        src = SQLITE_OK;
        bind_str(st, 1, key, &src);
        bind_i64(st, 2, from, &src);
        bind_i64(st, 3, to, &src);
        rc = step_row(ss, st, src, "rate_take");
        if (rc == 0)
            count = sqlite3_column_int64(st, 0);
        stmt_done(st);
    }
    if (rc == 0 && count < limit) {
        st = jst(ss, JST_RATE_INSERT);
        src = SQLITE_OK;
        bind_str(st, 1, key, &src);
        bind_i64(st, 2, now_ms, &src);
        rc = run_write(ss, st, src, "rate_take");
    } else if (rc == 0) {
        st = jst(ss, JST_RATE_NTH);
        src = SQLITE_OK;
        bind_str(st, 1, key, &src);
        bind_i64(st, 2, from, &src);
        bind_i64(st, 3, to, &src);
        bind_i64(st, 4, count - limit, &src);
        rc = step_row(ss, st, src, "rate_take");
        if (rc == 0)
            wait = rate_wait(sqlite3_column_int64(st, 0), now_ms);
        stmt_done(st);
    }
    rc = sqlite_tx_leave(ss, kind, rc, "rate_take");
    if (rc < 0)
        return rc;
    *wait_ms = wait;
    return 0;
}
