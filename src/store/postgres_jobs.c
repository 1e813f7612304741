/*
 * The PostgreSQL backend of store/jobs.h: the outbound job queue, campaigns,
 * opt-outs, API keys and idempotency keys. The arguments were checked by
 * store/jobs.c; this file only moves rows.
 *
 * Many server processes share one database, so nothing here counts on one
 * writer at a time as the SQLite backend does:
 * - a transition reads its job with SELECT ... FOR UPDATE and writes it in
 *   one transaction (pg_tx_enter), or is one UPDATE carrying its condition;
 * - job_claim_due takes due jobs with FOR UPDATE SKIP LOCKED, so two
 *   claimers never share one, and with a cap holds a transaction-scoped
 *   advisory lock per tenant while it counts that tenant's calls in
 *   flight, so the cap holds across processes;
 * - rate_take holds a transaction-scoped advisory lock per key while it
 *   counts and takes a slot, so the rate holds across processes;
 * - duplicates are settled by unique constraints (INSERT ... ON CONFLICT),
 *   and a missing tenant by INSERT ... SELECT from tenants, so that no
 *   expected refusal aborts the caller's transaction.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "store/jobs.h"
#include "store/postgres_internal.h"
#include "core/banned.h"

#define JOB_COLUMNS                                                                                \
    "id, tenant, campaign_id, to_number, from_number, contact_name, lang, kind, target, "          \
    "say_text, not_before, status, attempts, max_retries, retry_delay_s, next_attempt_at, "        \
    "call_sid, answered_by, amd, sms_fallback, sms_sent, error, created_at, updated_at, "          \
    "placing_since"

/* A queued job that is due at $1: its time has come, alone or in an active campaign. */
#define JOB_DUE(j)                                                                                 \
    j ".status = 'queued' AND " j ".next_attempt_at <= $1::bigint AND " j                          \
      ".not_before <= $1::bigint AND (" j ".campaign_id IS NULL OR EXISTS(SELECT 1 FROM "          \
      "campaigns c WHERE c.id = " j ".campaign_id AND c.status = 'active'))"

#define JOB_OPTED_OUT(j)                                                                           \
    "EXISTS(SELECT 1 FROM opt_outs o "                                                             \
    "WHERE o.tenant = " j ".tenant AND o.number = " j ".to_number)"

/* The two conditions, for the jobs of a query aliased j. */
#define DUE_J JOB_DUE("j")
#define OPTED_OUT_J JOB_OPTED_OUT("j")

/* The claimed jobs: placing since $1, one more attempt. */
#define CLAIM_UPDATE                                                                               \
    "UPDATE jobs SET status = 'placing', placing_since = $1::bigint, attempts = attempts + 1, "    \
    "updated_at = $1::bigint WHERE id IN (SELECT id FROM picked) RETURNING " JOB_COLUMNS

static const char SQL_JOB_INSERT[] =
    "INSERT INTO jobs(tenant, campaign_id, to_number, from_number, contact_name, lang, kind, "
    "target, say_text, not_before, status, attempts, max_retries, retry_delay_s, "
    "next_attempt_at, amd, sms_fallback, created_at, updated_at) "
    "SELECT t.name, $2::bigint, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, "
    "$9::text, $10::bigint, 'queued', 0, $11::int, $12::int, GREATEST($10::bigint, $13::bigint), "
    "$14::int, $15::int, $13::bigint, $13::bigint "
    "FROM tenants t WHERE t.name = $1 RETURNING id";

/*
 * A campaign's jobs, many rows a statement: one array per column ($4 ...),
 * in the order given, so that their ids follow the file.
 */
static const char SQL_JOB_IMPORT[] =
    "INSERT INTO jobs(tenant, campaign_id, to_number, from_number, contact_name, lang, kind, "
    "target, say_text, not_before, status, attempts, max_retries, retry_delay_s, "
    "next_attempt_at, amd, sms_fallback, created_at, updated_at) "
    "SELECT $1::text, $2::bigint, u.to_number, u.from_number, u.contact_name, u.lang, u.kind, "
    "u.target, u.say_text, u.not_before, 'queued', 0, u.max_retries, u.retry_delay_s, "
    "GREATEST(u.not_before, $3::bigint), u.amd, u.sms_fallback, $3::bigint, $3::bigint "
    "FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], "
    "$10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::int[], $15::int[]) "
    "WITH ORDINALITY AS u(to_number, from_number, contact_name, lang, kind, target, say_text, "
    "not_before, max_retries, retry_delay_s, amd, sms_fallback, ord) ORDER BY u.ord";

static const char SQL_JOB_GET[] = "SELECT " JOB_COLUMNS " FROM jobs WHERE id = $1::bigint";
static const char SQL_JOB_GET_LOCK[] =
    "SELECT " JOB_COLUMNS " FROM jobs WHERE id = $1::bigint FOR UPDATE";

/* The current attempt's call, or an earlier attempt's through the call log. */
#define JOB_BY_CALL                                                                                \
    "SELECT " JOB_COLUMNS " FROM jobs WHERE call_sid = $1 "                                        \
    "OR id = (SELECT job_id FROM calls WHERE call_sid = $1) "                                      \
    "ORDER BY call_sid IS DISTINCT FROM $1 LIMIT 1"
static const char SQL_JOB_GET_BY_CALL[] = JOB_BY_CALL;
static const char SQL_JOB_GET_BY_CALL_LOCK[] = JOB_BY_CALL " FOR UPDATE";

/* No limit is a NULL $4. */
static const char SQL_JOB_LIST[] =
    "SELECT " JOB_COLUMNS " FROM jobs WHERE ($1 = '' OR tenant = $1) "
    "AND ($2::bigint = 0 OR campaign_id = $2::bigint) "
    "AND ($3 = '' OR status = $3) ORDER BY id DESC LIMIT $4::bigint";

/* FOR SHARE: a job added to a campaign waits for, or holds back, the campaign's cancel. */
static const char SQL_CAMPAIGN_STATE[] =
    "SELECT tenant, status FROM campaigns WHERE id = $1::bigint FOR SHARE";
static const char SQL_CAMPAIGN_STATE_LOCK[] =
    "SELECT tenant, status FROM campaigns WHERE id = $1::bigint FOR UPDATE";

/*
 * Driven from the opt-outs, usually few or none, rather than from the due
 * jobs. Locked rows are another claimer's: it skips them itself.
 */
static const char SQL_SKIP_OPTED_OUT[] =
    "UPDATE jobs SET status = 'skipped', error = 'the number opted out', updated_at = $1::bigint "
    "WHERE id IN (SELECT j.id FROM opt_outs o JOIN jobs j ON j.tenant = o.tenant "
    "AND j.to_number = o.number WHERE " DUE_J " FOR UPDATE OF j SKIP LOCKED)";

/* Without a cap: the oldest due jobs no other claimer holds, at most $2. */
static const char SQL_CLAIM[] =
    "WITH picked AS MATERIALIZED (SELECT j.id FROM jobs j WHERE " DUE_J " AND NOT " OPTED_OUT_J
    " ORDER BY j.next_attempt_at, j.id LIMIT $2::bigint FOR UPDATE OF j SKIP LOCKED) " CLAIM_UPDATE;

/*
 * The class of a tenant's claim lock (two 32-bit keys: this class, then the
 * hash of the schema's and the tenant's names), 0x73620002: next to
 * postgres.c's migration lock, and per schema like it.
 */
#define LOCK_CLAIM_TENANT "1935802370"

/*
 * Locks the tenants that have queued jobs due at $1 (advisory, until the
 * transaction ends), in the order of their keys so that two claimers cannot
 * deadlock; returns their names.
 */
static const char SQL_CLAIM_LOCK_TENANTS[] =
    "SELECT t.tenant, pg_advisory_xact_lock(" LOCK_CLAIM_TENANT ", t.k) FROM (SELECT DISTINCT "
    "j.tenant, hashtext(current_schema() || '.' || j.tenant) AS k FROM jobs j "
    "WHERE j.status = 'queued' AND j.next_attempt_at <= $1::bigint ORDER BY k, j.tenant) t";

/*
 * With a cap ($3), for each tenant locked ($4, their names): the room left
 * under the cap by its jobs placing or placed, filled with its oldest due
 * jobs; of those, the oldest due first, at most $2. The status is checked
 * again where the rows are locked, since the room reads the statement's
 * snapshot.
 */
static const char SQL_CLAIM_CAPPED[] =
    "WITH room AS (SELECT r.tenant, $3::bigint - (SELECT count(*) FROM jobs b "
    "WHERE b.tenant = r.tenant AND b.status IN ('placing', 'placed')) AS n "
    "FROM unnest($4::text[]) AS r(tenant)), "
    "fits AS (SELECT f.id FROM room, LATERAL (SELECT j.id FROM jobs j "
    "WHERE j.tenant = room.tenant AND " DUE_J " AND NOT " OPTED_OUT_J
    " ORDER BY j.next_attempt_at, j.id LIMIT GREATEST(room.n, 0)) f), "
    "picked AS MATERIALIZED (SELECT j.id FROM jobs j WHERE j.status = 'queued' "
    "AND j.id IN (SELECT id FROM fits) ORDER BY j.next_attempt_at, j.id LIMIT $2::bigint "
    "FOR UPDATE OF j SKIP LOCKED) " CLAIM_UPDATE;

static const char SQL_JOB_SET_PLACED[] =
    "UPDATE jobs SET status = 'placed', call_sid = $2, updated_at = $3::bigint "
    "WHERE id = $1::bigint AND status = 'placing'";

static const char SQL_CALL_JOB[] =
    "SELECT job_id FROM calls WHERE call_sid = $1 AND job_id IS NOT NULL";

/*
 * The call log's row for a placed call. A status callback may have made the
 * row first: it keeps its status, and learns its job and direction.
 */
static const char SQL_CALL_LINK[] =
    "INSERT INTO calls(call_sid, tenant, direction, from_number, to_number, status, duration, "
    "lang, started_at, ended_at, updated_at, job_id) "
    "VALUES($1, $2, 'outbound-api', $3, $4, 'queued', -1, $5, $6::bigint, 0, $6::bigint, "
    "$7::bigint) "
    "ON CONFLICT(call_sid) DO UPDATE SET job_id = excluded.job_id, "
    "direction = excluded.direction, "
    "tenant = CASE WHEN calls.tenant = '' THEN excluded.tenant ELSE calls.tenant END, "
    "from_number = CASE WHEN calls.from_number = '' THEN excluded.from_number "
    "ELSE calls.from_number END, "
    "to_number = CASE WHEN calls.to_number = '' THEN excluded.to_number "
    "ELSE calls.to_number END, "
    "lang = CASE WHEN calls.lang = '' THEN excluded.lang ELSE calls.lang END";

static const char SQL_JOB_ANSWERED_BY[] =
    "UPDATE jobs SET answered_by = $2, updated_at = $3::bigint WHERE id = $1::bigint";

static const char SQL_JOB_RETRY[] =
    "UPDATE jobs SET status = 'queued', call_sid = NULL, error = $2, "
    "next_attempt_at = $3::bigint, updated_at = $4::bigint WHERE id = $1::bigint";

static const char SQL_JOB_END[] =
    "UPDATE jobs SET status = $2, error = CASE WHEN $3 = '' THEN error ELSE $3 END, "
    "updated_at = $4::bigint WHERE id = $1::bigint";

/* A create that never placed a call: the attempt does not count. */
static const char SQL_JOB_REQUEUE[] =
    "UPDATE jobs SET status = 'queued', attempts = GREATEST(attempts - 1, 0), error = $2, "
    "next_attempt_at = GREATEST($3::bigint, not_before), updated_at = $4::bigint "
    "WHERE id = $1::bigint AND status = 'placing'";

static const char SQL_JOB_CANCEL[] = "UPDATE jobs SET status = 'canceled', updated_at = $2::bigint "
                                     "WHERE id = $1::bigint AND status = 'queued'";

static const char SQL_SMS_MARK[] =
    "UPDATE jobs SET sms_sent = 1 WHERE id = $1::bigint AND sms_sent = 0";

/*
 * The class of a rate's lock (two 32-bit keys: this class, then the hash of
 * the schema's name and the key), 0x73620003: next to the claim lock.
 */
#define LOCK_RATE_KEY "1935802371"

static const char SQL_RATE_LOCK[] =
    "SELECT pg_advisory_xact_lock(" LOCK_RATE_KEY ", hashtext(current_schema() || '.' || $1))";

/*
 * Under the key's lock, in one statement: forgets the slots before $6 or
 * after $5; counts those after $4 up to $5 (the statement's snapshot holds
 * every slot committed before the lock: the forgotten ones are outside the
 * range counted); takes a slot at $2 when fewer than $3 count. Returns
 * whether it took one and, when not, the time of the slot whose leaving the
 * window makes room.
 */
static const char SQL_RATE_TAKE[] =
    "WITH forgot AS (DELETE FROM rate_slots WHERE key = $1 "
    "AND (at_ms < $6::bigint OR at_ms > $5::bigint)), "
    "live AS (SELECT at_ms FROM rate_slots WHERE key = $1 AND at_ms > $4::bigint "
    "AND at_ms <= $5::bigint), "
    "n AS (SELECT count(*) AS c FROM live), "
    "took AS (INSERT INTO rate_slots(key, at_ms) SELECT $1, $2::bigint FROM n "
    "WHERE n.c < $3::bigint RETURNING at_ms) "
    "SELECT (SELECT count(*) FROM took), (SELECT at_ms FROM live ORDER BY at_ms "
    "OFFSET GREATEST((SELECT c FROM n) - $3::bigint, 0) LIMIT 1)";

static const char SQL_OPTED_OUT[] = "SELECT 1 FROM opt_outs WHERE tenant = $1 AND number = $2";

static const char SQL_TENANT_EXISTS[] = "SELECT 1 FROM tenants WHERE name = $1";

static const char SQL_CAMPAIGN_INSERT[] =
    "INSERT INTO campaigns(tenant, name, status, created_at, updated_at) "
    "SELECT t.name, $2::text, 'active', $3::bigint, $3::bigint FROM tenants t WHERE t.name = $1 "
    "ON CONFLICT(tenant, name) DO NOTHING RETURNING id";

/* A campaign with its counts ("status n,status n"), read in one statement: one snapshot. */
#define CAMPAIGN_SELECT                                                                            \
    "SELECT c.id, c.tenant, c.name, c.status, c.created_at, c.updated_at, "                        \
    "coalesce((SELECT string_agg(x.status || ' ' || x.n, ',') FROM (SELECT j.status, "             \
    "count(*) AS n FROM jobs j WHERE j.campaign_id = c.id GROUP BY j.status) x), '') "             \
    "FROM campaigns c "
static const char SQL_CAMPAIGN_GET[] = CAMPAIGN_SELECT "WHERE c.id = $1::bigint";
static const char SQL_CAMPAIGN_LIST[] =
    CAMPAIGN_SELECT "WHERE $1 = '' OR c.tenant = $1 ORDER BY c.id DESC";

static const char SQL_CAMPAIGN_SET[] =
    "UPDATE campaigns SET status = $2, updated_at = $3::bigint WHERE id = $1::bigint";
static const char SQL_CAMPAIGN_CANCEL_JOBS[] =
    "UPDATE jobs SET status = 'canceled', updated_at = $2::bigint "
    "WHERE campaign_id = $1::bigint AND status = 'queued'";

static const char SQL_OPTOUT_ADD[] =
    "INSERT INTO opt_outs(tenant, number, at) SELECT t.name, $2::text, $3::bigint FROM tenants t "
    "WHERE t.name = $1 ON CONFLICT(tenant, number) DO NOTHING";
static const char SQL_OPTOUT_DEL[] = "DELETE FROM opt_outs WHERE tenant = $1 AND number = $2";

static const char SQL_TRANSFER_TEXT[] =
    "INSERT INTO transfer_texts(call_sid, tenant, at) SELECT $1::text, t.name, $3::bigint "
    "FROM tenants t WHERE t.name = $2 ON CONFLICT(call_sid) DO NOTHING";

static const char SQL_KEY_INSERT[] =
    "INSERT INTO api_keys(tenant, key_hash, prefix, created_at, name) "
    "SELECT t.name, $2::text, $3::text, $4::bigint, $5::text FROM tenants t WHERE t.name = $1 "
    "ON CONFLICT(key_hash) DO NOTHING RETURNING id";
static const char SQL_KEY_FIND[] =
    "SELECT id, tenant FROM api_keys WHERE key_hash = $1 AND revoked = 0";
static const char SQL_KEY_REVOKE[] =
    "UPDATE api_keys SET revoked = 1 WHERE id = $1::bigint AND tenant = $2";
static const char SQL_KEY_LIST[] = "SELECT id, tenant, prefix, created_at, revoked, name "
                                   "FROM api_keys WHERE $1 = '' OR tenant = $1 ORDER BY id";

/* $3 is the oldest time still inside the window. */
static const char SQL_IDEM_GET[] =
    "SELECT tenant, key, job_id, request_hash, created_at FROM idempotency "
    "WHERE tenant = $1 AND key = $2 AND created_at >= $3::bigint";

/*
 * An expired record (older than $6) is replaced; a live one stays (no
 * change). The unique key settles two adds of one key at the same time: the
 * second waits for the first and then changes nothing.
 */
static const char SQL_IDEM_PUT[] =
    "INSERT INTO idempotency(tenant, key, job_id, request_hash, created_at) "
    "SELECT t.name, $2::text, $3::bigint, $4::text, $5::bigint FROM tenants t WHERE t.name = $1 "
    "AND EXISTS(SELECT 1 FROM jobs WHERE id = $3::bigint) "
    "ON CONFLICT(tenant, key) DO UPDATE SET job_id = excluded.job_id, "
    "request_hash = excluded.request_hash, created_at = excluded.created_at "
    "WHERE idempotency.created_at < $6::bigint";
static const char SQL_IDEM_REFS[] = "SELECT 1 FROM tenants WHERE name = $1 "
                                    "AND EXISTS(SELECT 1 FROM jobs WHERE id = $2::bigint)";

/* A PostgreSQL array literal being written, a text parameter: {"a","b"} or {1,2}. */
struct pg_array {
    char *p;
    size_t len;
    size_t cap;
};

static int arr_put(struct pg_array *a, const char *s, size_t n)
{
    if (a->len + n + 1 > a->cap) {
        size_t ncap = a->cap ? a->cap : 256;
        char *q;

        while (ncap < a->len + n + 1)
            ncap *= 2;
        q = realloc(a->p, ncap);
        if (!q)
            return SB_ENOMEM;
        a->p = q;
        a->cap = ncap;
    }
    memcpy(a->p + a->len, s, n);
    a->len += n;
    a->p[a->len] = '\0';
    return 0;
}

/* Appends a text element, quoted, with its '"' and '\\' escaped. */
static int arr_text(struct pg_array *a, const char *s)
{
    int rc = arr_put(a, a->len ? ",\"" : "{\"", 2);

    while (rc == 0 && *s) {
        size_t run = strcspn(s, "\"\\");

        rc = arr_put(a, s, run);
        s += run;
        if (rc == 0 && *s) {
            char esc[2] = {'\\', *s++};

            rc = arr_put(a, esc, 2);
        }
    }
    return rc ? rc : arr_put(a, "\"", 1);
}

static int arr_i64(struct pg_array *a, long long v)
{
    char buf[PG_I64_SIZE + 1];
    int w = snprintf(buf, sizeof(buf), "%s%lld", a->len ? "," : "{", v);

    return arr_put(a, buf, (size_t)w);
}

/* Ends the literal: the text of the parameter (an empty array when nothing was appended). */
static int arr_end(struct pg_array *a)
{
    return a->len ? arr_put(a, "}", 1) : arr_put(a, "{}", 2);
}

static int job_row(const PGresult *res, int row, void *elem)
{
    struct job *j = elem;
    char name[16];

    memset(j, 0, sizeof(*j));
    j->id = pg_i64(res, row, 0);
    pg_str(res, row, 1, j->tenant, sizeof(j->tenant));
    j->campaign_id = pg_i64(res, row, 2);
    pg_str(res, row, 3, j->to, sizeof(j->to));
    pg_str(res, row, 4, j->from, sizeof(j->from));
    pg_str(res, row, 5, j->contact_name, sizeof(j->contact_name));
    pg_str(res, row, 6, j->lang, sizeof(j->lang));
    pg_str(res, row, 7, name, sizeof(name));
    if (job_kind_parse(name, &j->kind) < 0)
        return SB_ESTORE;
    pg_str(res, row, 8, j->target, sizeof(j->target));
    pg_str(res, row, 9, j->say_text, sizeof(j->say_text));
    j->not_before = pg_i64(res, row, 10);
    pg_str(res, row, 11, name, sizeof(name));
    if (job_status_parse(name, &j->status) < 0)
        return SB_ESTORE;
    j->attempts = (int)pg_i64(res, row, 12);
    j->max_retries = (int)pg_i64(res, row, 13);
    j->retry_delay_s = (int)pg_i64(res, row, 14);
    j->next_attempt_at = pg_i64(res, row, 15);
    pg_str(res, row, 16, j->call_sid, sizeof(j->call_sid));
    pg_str(res, row, 17, j->answered_by, sizeof(j->answered_by));
    j->amd = pg_bool(res, row, 18);
    j->sms_fallback = pg_bool(res, row, 19);
    j->sms_sent = pg_bool(res, row, 20);
    pg_str(res, row, 21, j->error, sizeof(j->error));
    j->created_at = pg_i64(res, row, 22);
    j->updated_at = pg_i64(res, row, 23);
    j->placing_since = pg_i64(res, row, 24);
    return 0;
}

/*
 * Reads one job by id (call_sid NULL) or by call; `lock` holds it until the
 * transaction ends. Returns 0, SB_ENOTFOUND or the failure.
 */
static int job_read(struct pg_store *ps, long long id, const char *call_sid, int lock,
                    struct job *out)
{
    char idb[PG_I64_SIZE];
    const char *p[1];
    const char *sql;
    PGresult *res = NULL;
    int rc;

    if (call_sid) {
        p[0] = call_sid;
        sql = lock ? SQL_JOB_GET_BY_CALL_LOCK : SQL_JOB_GET_BY_CALL;
    } else {
        p[0] = pg_i64_param(idb, id);
        sql = lock ? SQL_JOB_GET_LOCK : SQL_JOB_GET;
    }
    rc = pg_row(ps, "job_get", sql, 1, p, &res);
    if (rc == 0)
        rc = job_row(res, 0, out);
    PQclear(res);
    return rc;
}

/* Whether `number` opted out of `tenant`: 0 or 1, or a negative code. */
static int opted_out(struct pg_store *ps, const char *tenant, const char *number)
{
    const char *p[] = {tenant, number};
    PGresult *res = NULL;
    int rc;

    rc = pg_row(ps, "optout_check", SQL_OPTED_OUT, 2, p, &res);
    PQclear(res);
    return rc == 0 ? 1 : rc == SB_ENOTFOUND ? 0 : rc;
}

/*
 * Why an INSERT ... SELECT FROM tenants wrote nothing: `present` (what the
 * conflict means) when the tenant exists, SB_ENOTFOUND when it does not, or
 * the failure.
 */
static int tenant_or(struct pg_store *ps, const char *tenant, int present, const char *op)
{
    const char *p[] = {tenant};
    PGresult *res = NULL;
    int rc;

    rc = pg_row(ps, op, SQL_TENANT_EXISTS, 1, p, &res);
    PQclear(res);
    return rc == 0 ? present : rc;
}

/*
 * Checks that a campaign can take jobs of `tenant` ("" : any, written to
 * `tenant_out` when not NULL), and locks it until the transaction ends (for
 * update when `update`, else shared). Returns 0, SB_ENOTFOUND (absent or
 * another tenant's), SB_ECLOSED (canceled) or the failure.
 */
static int campaign_open(struct pg_store *ps, long long id, const char *tenant, int update,
                         char tenant_out[TENANT_NAME_SIZE])
{
    char idb[PG_I64_SIZE];
    const char *p[] = {pg_i64_param(idb, id)};
    char owner[TENANT_NAME_SIZE];
    char status[16];
    PGresult *res = NULL;
    int rc;

    rc = pg_row(ps, "campaign_state", update ? SQL_CAMPAIGN_STATE_LOCK : SQL_CAMPAIGN_STATE, 1, p,
                &res);
    if (rc == 0) {
        pg_str(res, 0, 0, owner, sizeof(owner));
        pg_str(res, 0, 1, status, sizeof(status));
    }
    PQclear(res);
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

/* Inserts one checked job (of `tenant`, in `campaign_id`, 0 for none); *id (may be NULL). */
static int job_insert(struct pg_store *ps, const struct job_request *r, const char *tenant,
                      long long campaign_id, long long now, long long *id)
{
    char camp[PG_I64_SIZE], nb[PG_I64_SIZE], retries[PG_I64_SIZE], delay[PG_I64_SIZE],
        nowb[PG_I64_SIZE];
    const char *p[] = {
        tenant,
        campaign_id > 0 ? pg_i64_param(camp, campaign_id) : NULL,
        r->to,
        r->from ? r->from : "",
        r->contact_name ? r->contact_name : "",
        r->lang ? r->lang : "",
        job_kind_name(r->kind),
        r->target ? r->target : "",
        r->say_text ? r->say_text : "",
        pg_i64_param(nb, r->not_before),
        pg_i64_param(retries, r->max_retries),
        pg_i64_param(delay, r->retry_delay_s > 0 ? r->retry_delay_s : JOB_RETRY_DELAY_DEFAULT_S),
        pg_i64_param(nowb, now),
        r->amd ? "1" : "0",
        r->sms_fallback ? "1" : "0",
    };
    PGresult *res = NULL;
    int rc;

    /* No row: no such tenant. */
    rc = pg_row(ps, "job_add", SQL_JOB_INSERT, 15, p, &res);
    if (rc == 0 && id)
        *id = pg_i64(res, 0, 0);
    PQclear(res);
    return rc;
}

/* Records a tenant's key; SB_EEXISTS when a live record of it exists. */
static int idem_put(struct pg_store *ps, const char *tenant, const char *key,
                    const char *request_hash, long long job_id, long long now)
{
    char jb[PG_I64_SIZE], nowb[PG_I64_SIZE], oldest[PG_I64_SIZE];
    const char *p[] = {
        tenant,
        key,
        pg_i64_param(jb, job_id),
        request_hash,
        pg_i64_param(nowb, now),
        pg_i64_param(oldest, now - IDEMPOTENCY_WINDOW_S + 1),
    };
    long long changed = 0;
    PGresult *res = NULL;
    int rc;

    rc = pg_exec(ps, "idempotency_put", SQL_IDEM_PUT, 6, p, &changed);
    if (rc < 0 || changed > 0)
        return rc;
    /* Nothing written: a live record, or no such tenant or job. */
    rc = pg_row(ps, "idempotency_put", SQL_IDEM_REFS, 2, (const char *const[]){tenant, p[2]}, &res);
    PQclear(res);
    return rc == 0 ? SB_EEXISTS : rc;
}

static int idem_get(struct pg_store *ps, const char *tenant, const char *key, long long now,
                    struct idempotency *out)
{
    char oldest[PG_I64_SIZE];
    const char *p[] = {tenant, key, pg_i64_param(oldest, now - IDEMPOTENCY_WINDOW_S + 1)};
    PGresult *res = NULL;
    int rc;

    rc = pg_row(ps, "idempotency_get", SQL_IDEM_GET, 3, p, &res);
    if (rc == 0) {
        memset(out, 0, sizeof(*out));
        pg_str(res, 0, 0, out->tenant, sizeof(out->tenant));
        pg_str(res, 0, 1, out->key, sizeof(out->key));
        out->job_id = pg_i64(res, 0, 2);
        pg_str(res, 0, 3, out->request_hash, sizeof(out->request_hash));
        out->created_at = pg_i64(res, 0, 4);
    }
    PQclear(res);
    return rc;
}

/*
 * The answer to a request under a key already recorded (`rc` is what
 * idem_get said): a replay of the same request, SB_EEXISTS for another.
 */
static int idem_replay(int rc, const struct idempotency *seen, const char *request_hash,
                       long long *id, int *replayed)
{
    if (rc < 0)
        return rc;
    if (strcmp(seen->request_hash, request_hash) != 0)
        return SB_EEXISTS;
    *id = seen->job_id;
    *replayed = 1;
    return 0;
}

int pg_job_add(struct store *s, const struct job_request *r, const char *key,
               const char *request_hash, long long now, long long *id, int *replayed)
{
    struct pg_store *ps = to_pg(s);
    struct idempotency seen;
    enum pg_tx_kind kind;
    long long got = 0;
    int rc;

    *replayed = 0;
    rc = pg_tx_enter(ps, &kind, "job_add");
    if (rc < 0)
        return rc;
    if (key) {
        rc = idem_get(ps, r->tenant, key, now, &seen);
        if (rc != SB_ENOTFOUND) {
            rc = idem_replay(rc, &seen, request_hash, id, replayed);
            return pg_tx_leave(ps, kind, rc, "job_add");
        }
        rc = 0;
    }
    if (r->campaign_id > 0)
        rc = campaign_open(ps, r->campaign_id, r->tenant, 0, NULL);
    if (rc == 0)
        rc = job_insert(ps, r, r->tenant, r->campaign_id, now, &got);
    if (rc == 0 && key)
        rc = idem_put(ps, r->tenant, key, request_hash, got, now);
    rc = pg_tx_leave(ps, kind, rc, "job_add");
    if (rc == 0)
        *id = got;
    if (rc == SB_EEXISTS && key) {
        /*
         * Another process added a job under this key since it was read: this
         * job is undone, and the request is answered from that record.
         */
        rc = idem_get(ps, r->tenant, key, now, &seen);
        rc = idem_replay(rc == SB_ENOTFOUND ? SB_EEXISTS : rc, &seen, request_hash, id, replayed);
    }
    return rc;
}

int pg_job_get(struct store *s, long long id, const char *call_sid, struct job *out)
{
    return job_read(to_pg(s), id, call_sid, 0, out);
}

int pg_job_list(struct store *s, const struct job_filter *f, struct job **out, size_t *n)
{
    char camp[PG_I64_SIZE], lim[PG_I64_SIZE];
    const char *p[] = {
        f->tenant ? f->tenant : "",
        pg_i64_param(camp, f->campaign_id),
        f->status >= 0 ? job_status_name((enum job_status)f->status) : "",
        f->limit == 0 || f->limit > (size_t)INT64_MAX ? NULL
                                                      : pg_i64_param(lim, (long long)f->limit),
    };

    return pg_collect_rows(to_pg(s), "job_list", SQL_JOB_LIST, 4, p, sizeof(**out), job_row, NULL,
                           (void **)out, n);
}

static int job_id_cmp(const void *a, const void *b)
{
    const struct job *x = a, *y = b;

    return (x->id > y->id) - (x->id < y->id);
}

/*
 * Takes the advisory locks of the tenants with jobs due at `now` (params: the
 * claim's) and writes their names as a text[] literal to *tenants (free()
 * it); NULL when no tenant has a due job.
 */
static int lock_due_tenants(struct pg_store *ps, const char *const *p, char **tenants)
{
    struct pg_array a = {0};
    PGresult *res = NULL;
    int rc;

    *tenants = NULL;
    rc = pg_query(ps, "job_claim_due", SQL_CLAIM_LOCK_TENANTS, 1, p, &res);
    for (int i = 0; rc == 0 && i < PQntuples(res); i++)
        rc = arr_text(&a, PQgetvalue(res, i, 0));
    if (rc == 0 && a.len)
        rc = arr_end(&a);
    PQclear(res);
    if (rc < 0) {
        free(a.p);
        return rc;
    }
    *tenants = a.p;
    return 0;
}

int pg_job_claim_due(struct store *s, long long now, size_t limit, int cap, struct job **out,
                     size_t *n)
{
    struct pg_store *ps = to_pg(s);
    char nowb[PG_I64_SIZE], lim[PG_I64_SIZE], capb[PG_I64_SIZE];
    const char *p[4];
    struct job *got = NULL;
    size_t count = 0;
    char *tenants = NULL;
    long long skipped = 0;
    enum pg_tx_kind kind;
    int rc;

    /* Claims are handed out at commit: a caller's open transaction would hold them back. */
    if (PQtransactionStatus(ps->conn) == PQTRANS_INTRANS ||
        PQtransactionStatus(ps->conn) == PQTRANS_INERROR)
        return SB_EBUSY;
    p[0] = pg_i64_param(nowb, now);
    p[1] = pg_i64_param(lim, limit > (size_t)INT64_MAX ? INT64_MAX : (long long)limit);
    p[2] = pg_i64_param(capb, cap);
    rc = pg_tx_enter(ps, &kind, "job_claim_due");
    if (rc < 0)
        return rc;
    /* Each statement must see the claims committed before it: the cap counts them. */
    rc = pg_exec(ps, "job_claim_due", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", 0, NULL,
                 NULL);
    if (rc == 0)
        rc = pg_exec(ps, "job_claim_due", SQL_SKIP_OPTED_OUT, 1, p, &skipped);
    if (rc == 0 && skipped > 0)
        log_event(LOG_INFO, "jobs.skipped", "count=%lld reason=\"opted out\"", skipped);
    if (rc < 0)
        goto leave;
    if (cap <= 0) {
        rc = pg_collect_rows(ps, "job_claim_due", SQL_CLAIM, 2, p, sizeof(*got), job_row, NULL,
                             (void **)&got, &count);
        goto leave;
    }
    /*
     * With a cap, the tenants are locked first and counted after, in a later
     * statement: its snapshot holds every claim committed before the lock.
     */
    rc = lock_due_tenants(ps, p, &tenants);
    if (rc == 0 && tenants) {
        p[3] = tenants;
        rc = pg_collect_rows(ps, "job_claim_due", SQL_CLAIM_CAPPED, 4, p, sizeof(*got), job_row,
                             NULL, (void **)&got, &count);
    }
    free(tenants);
leave:
    rc = pg_tx_leave(ps, kind, rc, "job_claim_due");
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
static long long call_owner(struct pg_store *ps, const char *call_sid)
{
    const char *p[] = {call_sid};
    PGresult *res = NULL;
    long long owner = 0;
    int rc;

    rc = pg_row(ps, "job_placed", SQL_CALL_JOB, 1, p, &res);
    if (rc == 0)
        owner = pg_i64(res, 0, 0);
    PQclear(res);
    return rc == 0 ? owner : rc == SB_ENOTFOUND ? 0 : rc;
}

/* job_placed inside an open transaction, for the job `j` just read and locked. */
static int placed_locked(struct pg_store *ps, const struct job *j, const char *call_sid,
                         const char *from, long long now)
{
    char idb[PG_I64_SIZE], nowb[PG_I64_SIZE];
    long long owner;
    int rc;

    if (j->status == JOB_PLACED && strcmp(j->call_sid, call_sid) == 0)
        return 0;
    if (j->status != JOB_PLACING)
        return SB_EBUSY;
    owner = call_owner(ps, call_sid);
    if (owner < 0)
        return (int)owner;
    if (owner > 0 && owner != j->id)
        return SB_EEXISTS;
    pg_i64_param(idb, j->id);
    pg_i64_param(nowb, now);
    /* A unique violation (the call is another job's current one) is SB_EEXISTS. */
    rc = pg_exec(ps, "job_placed", SQL_JOB_SET_PLACED, 3,
                 (const char *const[]){idb, call_sid, nowb}, NULL);
    if (rc < 0)
        return rc;
    return pg_exec(ps, "job_placed", SQL_CALL_LINK, 7,
                   (const char *const[]){call_sid, j->tenant, from && from[0] ? from : j->from,
                                         j->to, j->lang, nowb, idb},
                   NULL);
}

int pg_job_placed(struct store *s, long long id, const char *call_sid, const char *from,
                  long long now)
{
    struct pg_store *ps = to_pg(s);
    struct job j;
    enum pg_tx_kind kind;
    int rc;

    rc = pg_tx_enter(ps, &kind, "job_placed");
    if (rc < 0)
        return rc;
    rc = job_read(ps, id, NULL, 1, &j);
    if (rc == 0)
        rc = placed_locked(ps, &j, call_sid, from, now);
    return pg_tx_leave(ps, kind, rc, "job_placed");
}

/* Fills in sms_due for a job that just ended with `status`. */
static int sms_due(struct pg_store *ps, const struct job *j, enum job_status status)
{
    int out;

    if (!job_sms_wanted(j, status))
        return 0;
    out = opted_out(ps, j->tenant, j->to);
    return out < 0 ? out : !out;
}

/* Makes a job's status final (`error` "" keeps its error), for the job `j` read and locked. */
static int job_end(struct pg_store *ps, const struct job *j, enum job_status status,
                   const char *error, long long now, struct job_update *u, const char *op)
{
    char idb[PG_I64_SIZE], nowb[PG_I64_SIZE];
    const char *p[] = {pg_i64_param(idb, j->id), job_status_name(status), error,
                       pg_i64_param(nowb, now)};
    int rc;

    rc = pg_exec(ps, op, SQL_JOB_END, 4, p, NULL);
    if (rc < 0)
        return rc;
    u->outcome = JOB_OUTCOME_FINAL;
    u->status = status;
    rc = sms_due(ps, j, status);
    if (rc < 0)
        return rc;
    u->sms_due = rc;
    return 0;
}

/* Ends the current attempt of `j` with a final `status`: a retry or the end. */
static int end_attempt(struct pg_store *ps, const struct job *j, enum job_status status,
                       long long now, struct job_update *u)
{
    char idb[PG_I64_SIZE], at[PG_I64_SIZE], nowb[PG_I64_SIZE];
    int rc;

    if (job_retried_after(j, status)) {
        const char *p[] = {pg_i64_param(idb, j->id), job_status_name(status),
                           pg_i64_param(at, now + j->retry_delay_s), pg_i64_param(nowb, now)};

        rc = pg_exec(ps, "job_status", SQL_JOB_RETRY, 4, p, NULL);
        if (rc == 0) {
            u->outcome = JOB_OUTCOME_RETRYING;
            u->status = JOB_QUEUED;
            u->next_attempt_at = now + j->retry_delay_s;
        }
        return rc;
    }
    return job_end(ps, j, status, "", now, u, "job_status");
}

int pg_job_status_by_call(struct store *s, long long job_id, const char *call_sid, int final,
                          const char *answered_by, long long now, struct job_update *out)
{
    struct pg_store *ps = to_pg(s);
    struct job_update u = {.outcome = JOB_OUTCOME_NONE};
    struct job j;
    enum pg_tx_kind kind;
    int rc;

    rc = pg_tx_enter(ps, &kind, "job_status");
    if (rc < 0)
        return rc;
    rc = job_read(ps, 0, call_sid, 1, &j);
    if (rc == SB_ENOTFOUND && job_id > 0) {
        /* The callback beat the create's answer: the job named by the URL takes the call. */
        rc = job_read(ps, job_id, NULL, 1, &j);
        if (rc == 0 && j.status == JOB_PLACING) {
            rc = placed_locked(ps, &j, call_sid, NULL, now);
            if (rc == 0)
                rc = job_read(ps, job_id, NULL, 1, &j);
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
        char idb[PG_I64_SIZE], nowb[PG_I64_SIZE];
        const char *p[] = {pg_i64_param(idb, j.id), answered_by, pg_i64_param(nowb, now)};

        rc = pg_exec(ps, "job_status", SQL_JOB_ANSWERED_BY, 3, p, NULL);
    }
    if (rc == 0 && final >= 0)
        rc = end_attempt(ps, &j, (enum job_status) final, now, &u);
leave:
    rc = pg_tx_leave(ps, kind, rc, "job_status");
    if (rc == 0)
        *out = u;
    return rc;
}

int pg_job_release(struct store *s, long long id, long long retry_at, const char *reason,
                   long long now, struct job_update *out)
{
    struct pg_store *ps = to_pg(s);
    struct job_update u = {.outcome = JOB_OUTCOME_NONE};
    struct job j;
    enum pg_tx_kind kind;
    int rc;

    rc = pg_tx_enter(ps, &kind, "job_release");
    if (rc < 0)
        return rc;
    rc = job_read(ps, id, NULL, 1, &j);
    if (rc == 0 && j.status != JOB_PLACING)
        rc = SB_EBUSY;
    if (rc < 0)
        goto leave;
    u.job_id = id;
    if (retry_at > 0) {
        char idb[PG_I64_SIZE], at[PG_I64_SIZE], nowb[PG_I64_SIZE];
        const char *p[] = {pg_i64_param(idb, id), reason, pg_i64_param(at, retry_at),
                           pg_i64_param(nowb, now)};

        rc = pg_exec(ps, "job_release", SQL_JOB_REQUEUE, 4, p, NULL);
        u.outcome = JOB_OUTCOME_RETRYING;
        u.status = JOB_QUEUED;
        u.next_attempt_at = retry_at > j.not_before ? retry_at : j.not_before;
    } else {
        rc = job_end(ps, &j, JOB_FAILED, reason[0] ? reason : "failed", now, &u, "job_release");
    }
leave:
    rc = pg_tx_leave(ps, kind, rc, "job_release");
    if (rc == 0)
        *out = u;
    return rc;
}

int pg_job_cancel(struct store *s, long long id, long long now)
{
    struct pg_store *ps = to_pg(s);
    char idb[PG_I64_SIZE], nowb[PG_I64_SIZE];
    const char *p[] = {pg_i64_param(idb, id), pg_i64_param(nowb, now)};
    struct job j;
    int rc;

    rc = pg_change(ps, "job_cancel", SQL_JOB_CANCEL, 2, p);
    if (rc != SB_ENOTFOUND)
        return rc;
    /* Not queued: say why. */
    rc = job_read(ps, id, NULL, 0, &j);
    if (rc < 0)
        return rc;
    return job_status_final(j.status) ? SB_ECLOSED : SB_EBUSY;
}

int pg_job_mark_sms_sent(struct store *s, long long id, int *already)
{
    struct pg_store *ps = to_pg(s);
    char idb[PG_I64_SIZE];
    const char *p[] = {pg_i64_param(idb, id)};
    struct job j;
    int rc;

    /* One statement: of two concurrent markers exactly one changes the row. */
    rc = pg_change(ps, "job_mark_sms_sent", SQL_SMS_MARK, 1, p);
    if (rc == 0) {
        *already = 0;
        return 0;
    }
    if (rc != SB_ENOTFOUND)
        return rc;
    rc = job_read(ps, id, NULL, 0, &j);
    if (rc == 0)
        *already = 1;
    return rc;
}

int pg_campaign_add(struct store *s, const char *tenant, const char *name, long long now,
                    long long *id)
{
    struct pg_store *ps = to_pg(s);
    char nowb[PG_I64_SIZE];
    const char *p[] = {tenant, name, pg_i64_param(nowb, now)};
    PGresult *res = NULL;
    int rc;

    rc = pg_row(ps, "campaign_add", SQL_CAMPAIGN_INSERT, 3, p, &res);
    if (rc == 0)
        *id = pg_i64(res, 0, 0);
    PQclear(res);
    /* No row: a campaign of that name, or no such tenant. */
    return rc == SB_ENOTFOUND ? tenant_or(ps, tenant, SB_EEXISTS, "campaign_add") : rc;
}

/* Reads "status n,status n" into a campaign's counts; statuses it does not know are left out. */
static void campaign_counts(const char *s, struct campaign *c)
{
    while (*s) {
        const char *sp = strchr(s, ' ');
        const char *end = strchr(s, ',');
        char name[16];
        enum job_status js;
        size_t len;

        if (!end)
            end = s + strlen(s);
        if (sp && sp < end && (len = (size_t)(sp - s)) < sizeof(name)) {
            memcpy(name, s, len);
            name[len] = '\0';
            if (job_status_parse(name, &js) == 0) {
                c->counts[js] = strtoll(sp + 1, NULL, 10);
                c->total += c->counts[js];
            }
        }
        s = *end ? end + 1 : end;
    }
}

static int campaign_row(const PGresult *res, int row, void *elem)
{
    struct campaign *c = elem;
    char status[16];

    memset(c, 0, sizeof(*c));
    c->id = pg_i64(res, row, 0);
    pg_str(res, row, 1, c->tenant, sizeof(c->tenant));
    pg_str(res, row, 2, c->name, sizeof(c->name));
    pg_str(res, row, 3, status, sizeof(status));
    if (campaign_status_parse(status, &c->status) < 0)
        return SB_ESTORE;
    c->created_at = pg_i64(res, row, 4);
    c->updated_at = pg_i64(res, row, 5);
    campaign_counts(PQgetvalue(res, row, 6), c);
    return 0;
}

int pg_campaign_get(struct store *s, long long id, struct campaign *out)
{
    struct pg_store *ps = to_pg(s);
    char idb[PG_I64_SIZE];
    const char *p[] = {pg_i64_param(idb, id)};
    PGresult *res = NULL;
    int rc;

    rc = pg_row(ps, "campaign_get", SQL_CAMPAIGN_GET, 1, p, &res);
    if (rc == 0)
        rc = campaign_row(res, 0, out);
    PQclear(res);
    return rc;
}

int pg_campaign_list(struct store *s, const char *tenant, struct campaign **out, size_t *n)
{
    const char *p[] = {tenant ? tenant : ""};

    return pg_collect_rows(to_pg(s), "campaign_list", SQL_CAMPAIGN_LIST, 1, p, sizeof(**out),
                           campaign_row, NULL, (void **)out, n);
}

int pg_campaign_set_status(struct store *s, long long id, int status, long long now)
{
    struct pg_store *ps = to_pg(s);
    char idb[PG_I64_SIZE], nowb[PG_I64_SIZE];
    const char *p[] = {pg_i64_param(idb, id), campaign_status_name((enum campaign_status)status),
                       pg_i64_param(nowb, now)};
    enum pg_tx_kind kind;
    int rc;

    rc = pg_tx_enter(ps, &kind, "campaign_set_status");
    if (rc < 0)
        return rc;
    rc = campaign_open(ps, id, NULL, 1, NULL);
    if (rc == 0)
        rc = pg_exec(ps, "campaign_set_status", SQL_CAMPAIGN_SET, 3, p, NULL);
    /* The jobs being claimed right now are placing once their claim commits: they finish. */
    if (rc == 0 && status == CAMPAIGN_CANCELED)
        rc = pg_exec(ps, "campaign_set_status", SQL_CAMPAIGN_CANCEL_JOBS, 2,
                     (const char *const[]){idb, nowb}, NULL);
    return pg_tx_leave(ps, kind, rc, "campaign_set_status");
}

#define IMPORT_BATCH 1000 /* jobs a statement: one round trip each, not one a job */
#define IMPORT_TEXTS 7
#define IMPORT_NUMBERS 5

/* Inserts `n` (1 or more) checked jobs of a campaign with one statement. */
static int import_batch(struct pg_store *ps, const struct job_request *reqs, size_t n,
                        const char *tenant, long long campaign_id, long long now)
{
    struct pg_array a[IMPORT_TEXTS + IMPORT_NUMBERS] = {{0}};
    char camp[PG_I64_SIZE], nowb[PG_I64_SIZE];
    const char *p[3 + IMPORT_TEXTS + IMPORT_NUMBERS];
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct job_request *r = &reqs[i];
        const char *texts[IMPORT_TEXTS] = {
            r->to,
            r->from ? r->from : "",
            r->contact_name ? r->contact_name : "",
            r->lang ? r->lang : "",
            job_kind_name(r->kind),
            r->target ? r->target : "",
            r->say_text ? r->say_text : "",
        };
        long long numbers[IMPORT_NUMBERS] = {
            r->not_before,
            r->max_retries,
            r->retry_delay_s > 0 ? r->retry_delay_s : JOB_RETRY_DELAY_DEFAULT_S,
            r->amd ? 1 : 0,
            r->sms_fallback ? 1 : 0,
        };

        for (int k = 0; rc == 0 && k < IMPORT_TEXTS; k++)
            rc = arr_text(&a[k], texts[k]);
        for (int k = 0; rc == 0 && k < IMPORT_NUMBERS; k++)
            rc = arr_i64(&a[IMPORT_TEXTS + k], numbers[k]);
    }
    for (int k = 0; rc == 0 && k < IMPORT_TEXTS + IMPORT_NUMBERS; k++) {
        rc = arr_end(&a[k]);
        p[3 + k] = a[k].p;
    }
    if (rc == 0) {
        p[0] = tenant;
        p[1] = pg_i64_param(camp, campaign_id);
        p[2] = pg_i64_param(nowb, now);
        rc = pg_exec(ps, "campaign_import", SQL_JOB_IMPORT, 3 + IMPORT_TEXTS + IMPORT_NUMBERS, p,
                     NULL);
    }
    for (int k = 0; k < IMPORT_TEXTS + IMPORT_NUMBERS; k++)
        free(a[k].p);
    return rc;
}

int pg_campaign_import(struct store *s, long long campaign_id, const struct job_request *reqs,
                       size_t n, long long now)
{
    struct pg_store *ps = to_pg(s);
    char tenant[TENANT_NAME_SIZE];
    enum pg_tx_kind kind;
    int rc;

    rc = pg_tx_enter(ps, &kind, "campaign_import");
    if (rc < 0)
        return rc;
    rc = campaign_open(ps, campaign_id, NULL, 0, tenant);
    for (size_t i = 0; rc == 0 && i < n; i += IMPORT_BATCH)
        rc = import_batch(ps, reqs + i, n - i < IMPORT_BATCH ? n - i : IMPORT_BATCH, tenant,
                          campaign_id, now);
    return pg_tx_leave(ps, kind, rc, "campaign_import");
}

int pg_optout_set(struct store *s, const char *tenant, const char *number, int on, long long now)
{
    struct pg_store *ps = to_pg(s);
    char nowb[PG_I64_SIZE];
    const char *p[] = {tenant, number, pg_i64_param(nowb, now)};
    long long changed = 0;
    int rc;

    if (!on)
        return pg_exec(ps, "optout_set", SQL_OPTOUT_DEL, 2, p, NULL);
    rc = pg_exec(ps, "optout_set", SQL_OPTOUT_ADD, 3, p, &changed);
    if (rc < 0 || changed > 0)
        return rc;
    /* Nothing written: opted out already (STOP twice), or no such tenant. */
    return tenant_or(ps, tenant, 0, "optout_set");
}

int pg_transfer_text_mark(struct store *s, const char *tenant, const char *call_sid, long long now,
                          int *already)
{
    struct pg_store *ps = to_pg(s);
    char nowb[PG_I64_SIZE];
    const char *p[] = {call_sid, tenant, pg_i64_param(nowb, now)};
    long long changed = 0;
    int rc;

    /* One statement: of two markers of the same call exactly one inserts the row. */
    rc = pg_exec(ps, "transfer_text_mark", SQL_TRANSFER_TEXT, 3, p, &changed);
    if (rc == 0 && changed == 0)
        rc = tenant_or(ps, tenant, 0, "transfer_text_mark");
    if (rc == 0)
        *already = changed == 0;
    return rc;
}

int pg_optout_check(struct store *s, const char *tenant, const char *number, int *out)
{
    int rc = opted_out(to_pg(s), tenant, number);

    if (rc < 0)
        return rc;
    *out = rc;
    return 0;
}

int pg_api_key_add(struct store *s, const char *tenant, const char *key_hash, const char *prefix,
                   const char *name, long long now, long long *id)
{
    struct pg_store *ps = to_pg(s);
    char nowb[PG_I64_SIZE];
    const char *p[] = {tenant, key_hash, prefix, pg_i64_param(nowb, now), name ? name : ""};
    PGresult *res = NULL;
    int rc;

    rc = pg_row(ps, "api_key_add", SQL_KEY_INSERT, 5, p, &res);
    if (rc == 0 && id)
        *id = pg_i64(res, 0, 0);
    PQclear(res);
    return rc == SB_ENOTFOUND ? tenant_or(ps, tenant, SB_EEXISTS, "api_key_add") : rc;
}

int pg_api_key_find(struct store *s, const char *key_hash, char *tenant, size_t tenant_size,
                    long long *id)
{
    const char *p[] = {key_hash};
    PGresult *res = NULL;
    int rc;

    rc = pg_row(to_pg(s), "api_key_verify", SQL_KEY_FIND, 1, p, &res);
    if (rc == 0) {
        *id = pg_i64(res, 0, 0);
        pg_str(res, 0, 1, tenant, tenant_size);
    }
    PQclear(res);
    return rc;
}

int pg_api_key_revoke(struct store *s, const char *tenant, long long id)
{
    char idb[PG_I64_SIZE];
    const char *p[] = {pg_i64_param(idb, id), tenant};

    return pg_change(to_pg(s), "api_key_revoke", SQL_KEY_REVOKE, 2, p);
}

static int api_key_row(const PGresult *res, int row, void *elem)
{
    struct api_key *k = elem;

    k->id = pg_i64(res, row, 0);
    pg_str(res, row, 1, k->tenant, sizeof(k->tenant));
    pg_str(res, row, 2, k->prefix, sizeof(k->prefix));
    k->created_at = pg_i64(res, row, 3);
    k->revoked = pg_bool(res, row, 4);
    pg_str(res, row, 5, k->name, sizeof(k->name));
    return 0;
}

int pg_api_key_list(struct store *s, const char *tenant, struct api_key **out, size_t *n)
{
    const char *p[] = {tenant ? tenant : ""};

    return pg_collect_rows(to_pg(s), "api_key_list", SQL_KEY_LIST, 1, p, sizeof(**out), api_key_row,
                           NULL, (void **)out, n);
}

int pg_idempotency_get(struct store *s, const char *tenant, const char *key, long long now,
                       struct idempotency *out)
{
    return idem_get(to_pg(s), tenant, key, now, out);
}

int pg_idempotency_put(struct store *s, const char *tenant, const char *key,
                       const char *request_hash, long long job_id, long long now)
{
    return idem_put(to_pg(s), tenant, key, request_hash, job_id, now);
}

/*
 * As sqlite_rate_take: the slots within a window either side of now_ms
 * count, those more than two windows old or one ahead are forgotten.
 */
int pg_rate_take(struct store *s, const char *key, long long now_ms, int limit, long long *wait_ms)
{
    struct pg_store *ps = to_pg(s);
    char nowb[PG_I64_SIZE], limb[PG_I64_SIZE], fromb[PG_I64_SIZE], tob[PG_I64_SIZE],
        oldb[PG_I64_SIZE];
    const char *p[6];
    PGresult *res = NULL;
    long long wait = 0;
    enum pg_tx_kind kind;
    int rc;

    /* A slot is taken at commit: a caller's open transaction would hold it back. */
    if (PQtransactionStatus(ps->conn) == PQTRANS_INTRANS ||
        PQtransactionStatus(ps->conn) == PQTRANS_INERROR)
        return SB_EBUSY;
    p[0] = key;
    p[1] = pg_i64_param(nowb, now_ms);
    p[2] = pg_i64_param(limb, limit);
    p[3] = pg_i64_param(fromb, now_ms - RATE_WINDOW_MS);
    p[4] = pg_i64_param(tob, now_ms + RATE_WINDOW_MS);
    p[5] = pg_i64_param(oldb, now_ms - 2 * RATE_WINDOW_MS);
    rc = pg_tx_enter(ps, &kind, "rate_take");
    if (rc < 0)
        return rc;
    /* The count must see every slot committed before the lock: a snapshot per statement. */
    rc = pg_exec(ps, "rate_take", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", 0, NULL, NULL);
    if (rc == 0)
        rc = pg_query(ps, "rate_take", SQL_RATE_LOCK, 1, p, NULL);
    if (rc == 0)
        rc = pg_row(ps, "rate_take", SQL_RATE_TAKE, 6, p, &res);
    if (rc == 0 && pg_i64(res, 0, 0) == 0) {
        wait = pg_i64(res, 0, 1) + RATE_WINDOW_MS - now_ms;
        if (wait < 1)
            wait = 1;
    }
    PQclear(res);
    rc = pg_tx_leave(ps, kind, rc, "rate_take");
    if (rc < 0)
        return rc;
    *wait_ms = wait;
    return 0;
}
