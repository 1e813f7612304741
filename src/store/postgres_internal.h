/*
 * What the files of the PostgreSQL backend share (postgres.c,
 * postgres_jobs.c): the connection, the query helpers and the transaction
 * helpers. Private to store/: nothing outside the backend includes it.
 *
 * A connection is used by one thread at a time, like every struct store.
 * Every query is parameterised (libpq text parameters, $1, $2, ...): no value
 * is ever pasted into SQL. A failure is logged under the name of the
 * operation (`op`) before it is mapped to an SB_E* code.
 *
 * Unlike SQLite, PostgreSQL aborts the whole open transaction when one of its
 * statements fails. An operation whose statement may fail for an expected
 * reason (a unique violation: SB_EEXISTS) while the caller's transaction is
 * open (the writer's batch) runs it between pg_tx_enter and pg_tx_leave, so
 * that only its savepoint is undone and the caller's work survives.
 */
#ifndef SB_STORE_POSTGRES_INTERNAL_H
#define SB_STORE_POSTGRES_INTERNAL_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "store/jobs.h"
#include "store/store.h"

/* A statement prepared on the connection, by its text (postgres.c). */
struct pg_prepared {
    unsigned long hash;
    char *sql;
};

/* Where a reconnect stands (reconnect in postgres.c). */
enum pg_reset {
    PG_RESET_NONE,      /* none: the connection is used as libpq reports it */
    PG_RESET_UNDER_WAY, /* PQresetStart was called; the handshake goes on with each use */
    PG_RESET_TIMED_OUT, /* the last try met the connect timeout: its connection is unusable */
};

struct pg_store {
    struct store base; /* first, so that a struct store * is a struct pg_store * */
    PGconn *conn;
    /* The statements prepared so far; entry i is named "sb<i>" on the server. */
    struct pg_prepared *prepared;
    size_t nprepared;
    /*
     * The connection was lost inside a transaction: it is replaced only
     * once that transaction is ended (rolled back), so that no statement of
     * the transaction runs, alone, on a new connection.
     */
    int lost_in_tx;
    /* While the server is unreachable: when the next try to connect may be, and the pause. */
    long long retry_at_us;
    long long retry_pause_us;
    /*
     * A reconnect is carried on by the uses of the store without holding
     * them, so that an unreachable host never holds the caller (an event
     * loop) for the whole connect timeout; past that timeout the try has
     * failed.
     */
    enum pg_reset reset;
    PostgresPollingStatusType reset_poll; /* what the handshake waits for next */
    long long reset_deadline_us;
    long long connect_timeout_us; /* the connection's connect_timeout */
    int listening;                /* LISTEN was issued on this connection (pg_changes_wait) */
    /*
     * Call rows logged inside a transaction (the writer's batch), held until
     * the transaction's next statement or its commit and then written in
     * one statement: one round trip for a batch of new calls, not one each.
     */
    struct call_record *pending_calls;
    size_t npending_calls;
    size_t cap_pending_calls;
    int flushing_calls;
};

/* How an operation protects its several statements. */
enum pg_tx_kind {
    PG_TX_TOP,       /* it opened the transaction itself */
    PG_TX_SAVEPOINT, /* it runs inside the caller's transaction (the writer's batch) */
};

static inline struct pg_store *to_pg(struct store *s)
{
    return (struct pg_store *)s;
}

/* True when `s` is NUL-terminated within its `size` bytes. */
static inline int pg_terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

/* Room for any long long in decimal, with its sign and NUL. */
#define PG_I64_SIZE 24

/* Writes `v` in decimal into `buf` (PG_I64_SIZE bytes) and returns `buf`, a text parameter. */
const char *pg_i64_param(char *buf, long long v);

/*
 * Runs `sql` with `n` text parameters (a NULL entry is SQL NULL), prepared
 * once per connection. On success returns 0 and, when `out` is not NULL,
 * the result (PQclear it); without `out` the result is dropped. Returns
 * SB_EEXISTS on a unique violation (SQLSTATE 23505, not logged: the caller
 * expects it), SB_EINVAL when a parameter is not UTF-8 (nothing is sent),
 * SB_EIO when the connection is lost (the next call connects again),
 * SB_ESTORE on any other failure (logged under `op`). *out is NULL on
 * failure.
 */
int pg_query(struct pg_store *ps, const char *op, const char *sql, int n, const char *const *params,
             PGresult **out);

/* pg_query for a write; *changed (may be NULL) gets the number of rows it changed. */
int pg_exec(struct pg_store *ps, const char *op, const char *sql, int n, const char *const *params,
            long long *changed);

/* pg_exec for a write that must change a row: SB_ENOTFOUND when none matched. */
int pg_change(struct pg_store *ps, const char *op, const char *sql, int n,
              const char *const *params);

/*
 * pg_query for a SELECT (or ... RETURNING) of which the first row is wanted:
 * 0 with *out holding at least one row (PQclear it), SB_ENOTFOUND when there
 * is none (*out NULL), or the failure.
 */
int pg_row(struct pg_store *ps, const char *op, const char *sql, int n, const char *const *params,
           PGresult **out);

/* Column readers: NULL reads as 0 or "". */
static inline int pg_isnull(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col);
}

static inline long long pg_i64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* A boolean column ('t'/'f') or an integer one, as 0 or 1. */
static inline int pg_bool(const PGresult *res, int row, int col)
{
    const char *v = PQgetvalue(res, row, col);

    if (PQgetisnull(res, row, col))
        return 0;
    return v[0] == 't' || (v[0] >= '1' && v[0] <= '9');
}

/* Copies a text column into a fixed buffer, truncating what does not fit. */
static inline void pg_str(const PGresult *res, int row, int col, char *dst, size_t size)
{
    size_t len = PQgetisnull(res, row, col) ? 0 : (size_t)PQgetlength(res, row, col);

    if (len >= size)
        len = size - 1;
    if (len)
        memcpy(dst, PQgetvalue(res, row, col), len);
    dst[len] = '\0';
}

/* Copies a text column into a new string (NULL on allocation failure). */
static inline char *pg_dup(const PGresult *res, int row, int col)
{
    size_t len = PQgetisnull(res, row, col) ? 0 : (size_t)PQgetlength(res, row, col);
    char *p = malloc(len + 1);

    if (p) {
        if (len)
            memcpy(p, PQgetvalue(res, row, col), len);
        p[len] = '\0';
    }
    return p;
}

/*
 * Grows an array so that it holds at least `need` elements. Returns the
 * (possibly moved) array, or NULL with the old array untouched.
 */
static inline void *pg_grow(void *arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 16;
    void *p;

    if (need <= *cap)
        return arr;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return NULL;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / elem)
        return NULL;
    p = realloc(arr, ncap * elem);
    if (p)
        *cap = ncap;
    return p;
}

/* Reads row `row` into a zeroed element of a list: 0, or a negative code with nothing owned. */
typedef int (*pg_row_reader)(const PGresult *res, int row, void *elem);

/* Frees a list of `n` elements and what they own. */
typedef void (*pg_list_release)(void *arr, size_t n);

/*
 * Runs a SELECT and collects its rows into a new array of `size`-byte
 * elements; NULL and 0 when there are none. On failure what was read is
 * freed with `release` (free() when NULL) and *out, *n are untouched.
 */
int pg_collect_rows(struct pg_store *ps, const char *op, const char *sql, int nparams,
                    const char *const *params, size_t size, pg_row_reader read,
                    pg_list_release release, void **out, size_t *n);

/*
 * Opens the protection for an operation of several statements: its own
 * transaction (BEGIN) when none is open, or a savepoint inside the caller's.
 * Returns 0 or the failure. Rows the operation reads to decide a write are
 * locked with SELECT ... FOR UPDATE (or the write carries its condition), as
 * other processes write the same tables at the same time.
 */
int pg_tx_enter(struct pg_store *ps, enum pg_tx_kind *kind, const char *op);

/* Closes what pg_tx_enter opened: keeps the work when rc is 0, undoes it otherwise. Returns rc
 * or the commit's failure. */
int pg_tx_leave(struct pg_store *ps, enum pg_tx_kind kind, int rc, const char *op);

/*
 * A read snapshot of several statements when no transaction is open (*own
 * says whether one was opened): REPEATABLE READ, READ ONLY.
 */
int pg_read_enter(struct pg_store *ps, int *own, const char *op);
int pg_read_leave(struct pg_store *ps, int own, int rc, const char *op);

/*
 * The operations of postgres_jobs.c, for postgres.c's ops table: the same
 * set as sqlite_jobs.c implements, with the signatures of struct store_ops.
 */
int pg_job_add(struct store *s, const struct job_request *r, const char *key,
               const char *request_hash, long long now, long long *id, int *replayed);
int pg_job_get(struct store *s, long long id, const char *call_sid, struct job *out);
int pg_job_list(struct store *s, const struct job_filter *f, struct job **out, size_t *n);
int pg_job_claim_due(struct store *s, long long now, size_t limit, int cap, struct job **out,
                     size_t *n);
int pg_job_placed(struct store *s, long long id, const char *call_sid, const char *from,
                  long long now);
int pg_job_status_by_call(struct store *s, long long job_id, const char *call_sid, int final,
                          const char *answered_by, long long now, struct job_update *out);
int pg_job_release(struct store *s, long long id, long long retry_at, const char *reason,
                   long long now, struct job_update *out);
int pg_job_cancel(struct store *s, long long id, long long now);
int pg_job_mark_sms_sent(struct store *s, long long id, int *already);
int pg_campaign_add(struct store *s, const char *tenant, const char *name, long long now,
                    long long *id);
int pg_campaign_get(struct store *s, long long id, struct campaign *out);
int pg_campaign_list(struct store *s, const char *tenant, struct campaign **out, size_t *n);
int pg_campaign_set_status(struct store *s, long long id, int status, long long now);
int pg_campaign_import(struct store *s, long long campaign_id, const struct job_request *reqs,
                       size_t n, long long now);
int pg_transfer_text_mark(struct store *s, const char *tenant, const char *call_sid, long long now,
                          int *already);
int pg_optout_set(struct store *s, const char *tenant, const char *number, int on, long long now);
int pg_optout_check(struct store *s, const char *tenant, const char *number, int *out);
int pg_api_key_add(struct store *s, const char *tenant, const char *key_hash, const char *prefix,
                   const char *name, long long now, long long *id);
int pg_api_key_find(struct store *s, const char *key_hash, char *tenant, size_t tenant_size,
                    long long *id);
int pg_api_key_revoke(struct store *s, const char *tenant, long long id);
int pg_api_key_list(struct store *s, const char *tenant, struct api_key **out, size_t *n);
int pg_idempotency_get(struct store *s, const char *tenant, const char *key, long long now,
                       struct idempotency *out);
int pg_idempotency_put(struct store *s, const char *tenant, const char *key,
                       const char *request_hash, long long job_id, long long now);
int pg_rate_take(struct store *s, const char *key, long long now_ms, int limit, long long *wait_ms);

/* Fills the search vector of passages whose vector is empty (rows a copy inserted). */
int pg_knowledge_index_missing(struct pg_store *ps);

/* The copy ops (postgres_copy.c), named by the ops table in postgres.c. */
int pg_schema_version(struct store *s, long long *version);
int pg_rows_count(struct store *s, const char *table, long long *n);
int pg_rows_read(struct store *s, const char *table, const char *const *cols, size_t ncols,
                 int (*row)(void *arg, const char *const *values), void *arg);
int pg_row_insert(struct store *s, const char *table, const char *const *cols, size_t ncols,
                  const char *const *values);
int pg_rows_inserted(struct store *s, const char *table, const char *id_col);

#endif
