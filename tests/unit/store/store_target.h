/*
 * The store a test of the store opens, on either backend. By default a
 * SQLite file in a new temporary directory. When SB_TEST_POSTGRES holds the
 * libpq URL of a running server (scripts/pg-test-server.sh start prints one)
 * a new schema on that server instead, named after the process and a
 * counter, with the URL given to store_open setting search_path to it: each
 * test starts from an empty database either way.
 *
 *   static struct store_target tgt;
 *   setup:    target_create(&tgt, "sb-store");  store_open(&st, tgt.path)
 *   teardown: store_close(st); target_destroy(&tgt);
 *
 * target_query_i64 and target_exec run SQL on the test's database, outside
 * the store, to look at or damage what it wrote.
 */
#ifndef SB_TESTS_STORE_TARGET_H
#define SB_TESTS_STORE_TARGET_H

#include <criterion/criterion.h>

#include <ftw.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"

struct store_target {
    char dir[256];   /* SQLite: the temporary directory holding the file */
    char path[1024]; /* what store_open takes: a file or a URL */
    char schema[64]; /* PostgreSQL: the test's schema */
};

/* The server's URL when the tests run on PostgreSQL, else NULL. */
static inline const char *target_postgres(void)
{
    const char *url = getenv("SB_TEST_POSTGRES");

    return url && *url ? url : NULL;
}

/*
 * The stand-in Criterion of the ThreadSanitizer build (tests/tsan) cannot
 * skip a test: there a skipped test returns, and passes.
 */
#ifndef cr_skip_test
#define cr_skip_test(...) return
#endif

/* Skips the running test on PostgreSQL: what it checks belongs to SQLite alone. */
#define target_sqlite_only(reason)                                                                 \
    do {                                                                                           \
        if (target_postgres())                                                                     \
            cr_skip_test("SQLite only: %s", reason);                                               \
    } while (0)

/* The server's notices (what DROP SCHEMA ... CASCADE dropped) are not wanted in the output. */
static inline void target_pg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Runs `sql` on the server at `url` and returns its result (PQclear it); fails the test. */
static inline PGresult *target_pg_run(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *res;
    ExecStatusType st;

    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, target_pg_quiet, NULL);
    res = PQexec(c, sql);
    st = PQresultStatus(res);
    cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
              PQresultErrorMessage(res));
    PQfinish(c);
    return res;
}

/*
 * `base` with search_path set to `schema` through libpq's options parameter
 * ("-c search_path=..." with its space and '=' percent-encoded).
 */
static inline void target_pg_url(char *out, size_t size, const char *base, const char *schema)
{
    int w = snprintf(out, size, "%s%soptions=-csearch_path%%3D%s", base,
                     strchr(base, '?') ? "&" : "?", schema);

    cr_assert(w > 0 && (size_t)w < size);
}

/* Makes a new, empty store target; `prefix` names the SQLite directory. */
static inline void target_create(struct store_target *t, const char *prefix)
{
    static unsigned counter;
    const char *url = target_postgres();
    int w;

    memset(t, 0, sizeof(*t));
    if (url) {
        char sql[256];

        w = snprintf(t->schema, sizeof(t->schema), "t_%ld_%u", (long)getpid(), counter++);
        cr_assert(w > 0 && (size_t)w < sizeof(t->schema));
        snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", t->schema,
                 t->schema);
        PQclear(target_pg_run(url, sql));
        target_pg_url(t->path, sizeof(t->path), url, t->schema);
        return;
    }
    {
        const char *tmp = getenv("TMPDIR");

        w = snprintf(t->dir, sizeof(t->dir), "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
        cr_assert(w > 0 && (size_t)w < sizeof(t->dir));
        cr_assert_not_null(mkdtemp(t->dir));
        w = snprintf(t->path, sizeof(t->path), "%s/sb.db", t->dir);
        cr_assert(w > 0 && (size_t)w < sizeof(t->path));
    }
}

static inline int target_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Removes what target_create made (the store must be closed). */
static inline void target_destroy(struct store_target *t)
{
    const char *url = target_postgres();

    if (url && t->schema[0]) {
        char sql[256];
        PGconn *c = PQconnectdb(url);

        snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", t->schema);
        PQsetNoticeProcessor(c, target_pg_quiet, NULL);
        if (PQstatus(c) == CONNECTION_OK)
            PQclear(PQexec(c, sql));
        PQfinish(c);
    } else if (t->dir[0]) {
        nftw(t->dir, target_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
    memset(t, 0, sizeof(*t));
}

/* Runs a query of one row and one integer column on the target's database. */
static inline long long target_query_i64(const struct store_target *t, const char *sql)
{
    long long v;

    if (target_postgres()) {
        PGresult *res = target_pg_run(t->path, sql);
        const char *text;

        cr_assert_eq(PQntuples(res), 1, "%s", sql);
        text = PQgetvalue(res, 0, 0);

        /* A comparison is a boolean here, an integer in SQLite. */
        if (strcmp(text, "t") == 0 || strcmp(text, "f") == 0)
            v = text[0] == 't';
        else
            v = strtoll(text, NULL, 10);
        PQclear(res);
    } else {
        sqlite3 *db = NULL;
        sqlite3_stmt *q = NULL;

        cr_assert_eq(sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s",
                     sqlite3_errmsg(db));
        cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
        v = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        sqlite3_close(db);
    }
    return v;
}

/* Runs SQL statements on the target's database; fails the test when they fail. */
static inline void target_exec(const struct store_target *t, const char *sql)
{
    if (target_postgres()) {
        PQclear(target_pg_run(t->path, sql));
    } else {
        sqlite3 *db = NULL;

        cr_assert_eq(sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
    }
}

/*
 * Runs child(i, mine, arg) in `n` processes at once (at most 16), each with a
 * store connection of its own to `t`, as several servers would. A child
 * returns 0 to 99 (exit 100: it could not connect). Returns the sum of what
 * they returned; a child that failed fails the test.
 */
static inline int target_in_processes(const struct store_target *t, int n,
                                      int (*child)(int i, struct store *mine, void *arg), void *arg)
{
    pid_t kids[16];
    int sum = 0, status;

    cr_assert(n > 0 && n <= 16);
    for (int i = 0; i < n; i++) {
        kids[i] = fork();
        cr_assert_neq(kids[i], -1);
        if (kids[i] == 0) {
            struct store *mine = NULL;
            int rc;

            if (store_open(&mine, t->path) != 0)
                _exit(100);
            rc = child(i, mine, arg);
            store_close(mine);
            _exit(rc);
        }
    }
    for (int i = 0; i < n; i++) {
        cr_assert_eq(waitpid(kids[i], &status, 0), kids[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) < 100, "process %d failed: %d", i,
                  WEXITSTATUS(status));
        sum += WEXITSTATUS(status);
    }
    return sum;
}

#endif
