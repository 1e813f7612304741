/*
 * What the files of the SQLite backend share (sqlite.c, sqlite_jobs.c): the
 * connection, the statement helpers and the transaction helpers. Private to
 * store/: nothing outside the backend includes it.
 *
 * A connection is used by one thread at a time, like every struct store.
 * Statements are prepared once at open and finalized at close; the helpers
 * below bind, run and reset them, and log a SQLite failure under the name of
 * the operation (`op`) before mapping it to an SB_E* code.
 */
#ifndef SB_STORE_SQLITE_INTERNAL_H
#define SB_STORE_SQLITE_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "store/jobs.h"
#include "store/store.h"

struct sqlite_store {
    struct store base; /* first, so that a struct store * is a struct sqlite_store * */
    sqlite3 *db;
    sqlite3_stmt **jobs_st; /* sqlite_jobs.c's statements (sqlite_jobs_prepare) */
    sqlite3_stmt *st[];     /* sqlite.c's statements, allocated with the connection */
};

/* How an operation protects its several statements. */
enum tx_kind {
    TX_TOP,       /* it opened the transaction itself */
    TX_SAVEPOINT, /* it runs inside the caller's transaction (the writer's batch) */
};

static inline struct sqlite_store *to_sqlite(struct store *s)
{
    return (struct sqlite_store *)s;
}

/* Logs a SQLite failure and maps it to an SB_E* code. */
static inline int fail(sqlite3 *db, const char *op, int src)
{
    log_event(LOG_ERROR, "store.sqlite", "op=%s code=%d err=\"%s\"", op, src,
              db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
    switch (src & 0xff) {
    case SQLITE_NOMEM:
        return SB_ENOMEM;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
        return SB_EIO;
    default:
        return SB_ESTORE;
    }
}

static inline int is_unique_violation(int src)
{
    return src == SQLITE_CONSTRAINT_PRIMARYKEY || src == SQLITE_CONSTRAINT_UNIQUE;
}

/* True when `s` is NUL-terminated within its `size` bytes. */
static inline int terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

/*
 * Binding helpers accumulate the first failure in *src so that a statement
 * with many parameters is checked once, before it runs. Bound text is
 * SQLITE_STATIC: the caller's strings outlive the statement's execution,
 * which always ends with a reset before the operation returns.
 */
static inline void bind_str(sqlite3_stmt *st, int i, const char *v, int *src)
{
    if (*src == SQLITE_OK)
        *src = sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static inline void bind_i64(sqlite3_stmt *st, int i, long long v, int *src)
{
    if (*src == SQLITE_OK)
        *src = sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

/* Makes a cached statement ready for its next use. */
static inline void stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/*
 * Runs a statement that returns no rows, unless binding already failed.
 * Returns the SQLite code (SQLITE_DONE on success); the statement is reset.
 */
static inline int step_done(sqlite3_stmt *st, int src)
{
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    stmt_done(st);
    return src;
}

/* Runs a bound write statement; returns 0 or the failure, logged under `op`. */
static inline int run_write(struct sqlite_store *ss, sqlite3_stmt *st, int src, const char *op)
{
    src = step_done(st, src);
    return src == SQLITE_DONE ? 0 : fail(ss->db, op, src);
}

/*
 * Runs a bound write that must change a row. Returns 0, SB_ENOTFOUND when no
 * row matched, or the failure logged under `op`.
 */
static inline int run_change(struct sqlite_store *ss, sqlite3_stmt *st, int src, const char *op)
{
    src = step_done(st, src);
    if (src != SQLITE_DONE)
        return fail(ss->db, op, src);
    return sqlite3_changes(ss->db) == 0 ? SB_ENOTFOUND : 0;
}

/*
 * Runs a bound SELECT (`src` carries a binding error) to its first row.
 * Returns 0 with that row ready to read, SB_ENOTFOUND when there is none, or
 * the failure logged under `op`. The caller resets the statement (stmt_done).
 */
static inline int step_row(struct sqlite_store *ss, sqlite3_stmt *st, int src, const char *op)
{
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        return 0;
    return src == SQLITE_DONE ? SB_ENOTFOUND : fail(ss->db, op, src);
}

/* Copies a text column into a fixed buffer, truncating what does not fit. */
static inline void col_str(sqlite3_stmt *st, int col, char *dst, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    size_t len = t ? (size_t)sqlite3_column_bytes(st, col) : 0;

    if (len >= size)
        len = size - 1;
    if (len)
        memcpy(dst, t, len);
    dst[len] = '\0';
}

/*
 * Grows an array so that it holds at least `need` elements. Returns the
 * (possibly moved) array, or NULL with the old array untouched.
 */
static inline void *grow(void *arr, size_t *cap, size_t need, size_t elem)
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

/* Reads one row into a zeroed element of a list: 0, or a negative code with nothing owned. */
typedef int (*row_reader)(sqlite3_stmt *st, void *elem);

/* Frees a list of `n` elements and what they own. */
typedef void (*list_release)(void *arr, size_t n);

/* Copies column `col` of the current row into a new string (NULL on allocation failure). */
static inline char *col_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    char *p = malloc((size_t)n + 1);

    if (p) {
        if (n)
            memcpy(p, v, (size_t)n);
        p[n] = '\0';
    }
    return p;
}

/*
 * Runs a bound SELECT (`src` carries a binding error) and collects its rows
 * into a new array of `size`-byte elements; NULL and 0 when there are none.
 * On failure what was read is freed with `release` (free() when NULL) and
 * *out, *n are untouched. Resets the statement.
 */
int sqlite_collect_rows(struct sqlite_store *ss, sqlite3_stmt *st, int src, size_t size,
                        row_reader read, list_release release, const char *op, void **out,
                        size_t *n);

/*
 * Opens the protection for an operation of several statements: its own
 * transaction (BEGIN IMMEDIATE) when none is open, or a savepoint inside the
 * caller's. Returns 0 or the failure.
 */
int sqlite_tx_enter(struct sqlite_store *ss, enum tx_kind *kind, const char *op);

/* Closes what sqlite_tx_enter opened: keeps the work when rc is 0, undoes it otherwise. */
int sqlite_tx_leave(struct sqlite_store *ss, enum tx_kind kind, int rc, const char *op);

/* A read snapshot of several statements when no transaction is open (*own says whether). */
int sqlite_read_enter(struct sqlite_store *ss, int *own, const char *op);
int sqlite_read_leave(struct sqlite_store *ss, int own, int rc, const char *op);

/*
 * sqlite_jobs.c's statements: prepared into ss->jobs_st at open, after the
 * migrations (returns 0, SB_ENOMEM or SB_ESTORE; on failure what was
 * prepared stays for sqlite_jobs_finalize), finalized and freed at close
 * (a connection without them is allowed).
 */
int sqlite_jobs_prepare(struct sqlite_store *ss);
void sqlite_jobs_finalize(struct sqlite_store *ss);

/* The outbound job queue's operations (store/jobs.h), for the ops table. */
int sqlite_job_add(struct store *s, const struct job_request *r, const char *key,
                   const char *request_hash, long long now, long long *id, int *replayed);
int sqlite_job_get(struct store *s, long long id, const char *call_sid, struct job *out);
int sqlite_job_list(struct store *s, const struct job_filter *f, struct job **out, size_t *n);
int sqlite_job_claim_due(struct store *s, long long now, size_t limit, int cap, struct job **out,
                         size_t *n);
int sqlite_job_placed(struct store *s, long long id, const char *call_sid, const char *from,
                      long long now);
int sqlite_job_status_by_call(struct store *s, long long job_id, const char *call_sid, int final,
                              const char *answered_by, long long now, struct job_update *out);
int sqlite_job_release(struct store *s, long long id, long long retry_at, const char *reason,
                       long long now, struct job_update *out);
int sqlite_job_cancel(struct store *s, long long id, long long now);
int sqlite_job_mark_sms_sent(struct store *s, long long id, int *already);
int sqlite_campaign_add(struct store *s, const char *tenant, const char *name, long long now,
                        long long *id);
int sqlite_campaign_get(struct store *s, long long id, struct campaign *out);
int sqlite_campaign_list(struct store *s, const char *tenant, struct campaign **out, size_t *n);
int sqlite_campaign_set_status(struct store *s, long long id, int status, long long now);
int sqlite_campaign_import(struct store *s, long long campaign_id, const struct job_request *reqs,
                           size_t n, long long now);
int sqlite_transfer_text_mark(struct store *s, const char *tenant, const char *call_sid,
                              long long now, int *already);
int sqlite_optout_set(struct store *s, const char *tenant, const char *number, int on,
                      long long now);
int sqlite_optout_check(struct store *s, const char *tenant, const char *number, int *out);
int sqlite_api_key_add(struct store *s, const char *tenant, const char *key_hash,
                       const char *prefix, const char *name, long long now, long long *id);
int sqlite_api_key_find(struct store *s, const char *key_hash, char *tenant, size_t tenant_size,
                        long long *id);
int sqlite_api_key_revoke(struct store *s, const char *tenant, long long id);
int sqlite_api_key_list(struct store *s, const char *tenant, struct api_key **out, size_t *n);
int sqlite_idempotency_get(struct store *s, const char *tenant, const char *key, long long now,
                           struct idempotency *out);
int sqlite_idempotency_put(struct store *s, const char *tenant, const char *key,
                           const char *request_hash, long long job_id, long long now);
int sqlite_rate_take(struct store *s, const char *key, long long now_ms, int limit,
                     long long *wait_ms);

/* The copy ops (sqlite_copy.c), named by the ops table in sqlite.c. */
int sqlite_schema_version(struct store *s, long long *version);
int sqlite_rows_count(struct store *s, const char *table, long long *n);
int sqlite_rows_read(struct store *s, const char *table, const char *const *cols, size_t ncols,
                     int (*row)(void *arg, const char *const *values), void *arg);
int sqlite_row_insert(struct store *s, const char *table, const char *const *cols, size_t ncols,
                      const char *const *values);
int sqlite_rows_inserted(struct store *s, const char *table, const char *id_col);

#endif
