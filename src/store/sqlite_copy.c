/*
 * The SQLite side of a whole-store copy (store/copy.h): reading a table's
 * rows as text and inserting rows given as text. Column affinity turns the
 * text back into integers and reals. Not the hot path: statements are
 * prepared per table, not kept.
 */
#include <stdio.h>

#include "store/copy.h"
#include "store/sqlite_internal.h"

#include "core/banned.h"

#define COPY_SQL_MAX 2048

int sqlite_schema_version(struct store *s, long long *version)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(ss->db, "SELECT coalesce(max(version), 0) FROM schema_migrations",
                                 -1, &st, NULL);
    int rc = 0;

    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *version = sqlite3_column_int64(st, 0);
    else
        rc = fail(ss->db, "schema_version", src);
    sqlite3_finalize(st);
    return rc;
}

int sqlite_rows_count(struct store *s, const char *table, long long *n)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = NULL;
    char sql[256];
    int src;
    int rc = 0;
    int w = snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);

    if (w < 0 || (size_t)w >= sizeof(sql))
        return SB_EINVAL;
    src = sqlite3_prepare_v2(ss->db, sql, -1, &st, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        rc = fail(ss->db, "rows_count", src);
    sqlite3_finalize(st);
    return rc;
}

int sqlite_rows_read(struct store *s, const char *table, const char *const *cols, size_t ncols,
                     int (*row)(void *arg, const char *const *values), void *arg)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = NULL;
    char list[COPY_SQL_MAX];
    char sql[COPY_SQL_MAX + 256];
    const char **values = NULL;
    int src;
    int rc;
    int w;

    rc = copy_column_list(list, sizeof(list), cols, ncols, 0);
    if (rc)
        return rc;
    w = snprintf(sql, sizeof(sql), "SELECT %s FROM %s", list, table);
    if (w < 0 || (size_t)w >= sizeof(sql))
        return SB_EINVAL;
    values = calloc(ncols, sizeof(*values));
    if (!values)
        return SB_ENOMEM;
    src = sqlite3_prepare_v2(ss->db, sql, -1, &st, NULL);
    if (src != SQLITE_OK) {
        rc = fail(ss->db, "rows_read", src);
        goto out;
    }
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        for (size_t i = 0; i < ncols; i++) {
            values[i] = sqlite3_column_type(st, (int)i) == SQLITE_NULL
                            ? NULL
                            : (const char *)sqlite3_column_text(st, (int)i);
        }
        rc = row(arg, values);
        if (rc)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = fail(ss->db, "rows_read", src);
out:
    sqlite3_finalize(st);
    free(values);
    return rc;
}

int sqlite_row_insert(struct store *s, const char *table, const char *const *cols, size_t ncols,
                      const char *const *values)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = NULL;
    char list[COPY_SQL_MAX];
    char marks[COPY_SQL_MAX];
    char sql[2 * COPY_SQL_MAX + 256];
    int src;
    int rc;
    int w;

    rc = copy_column_list(list, sizeof(list), cols, ncols, 0);
    if (rc == 0)
        rc = copy_column_list(marks, sizeof(marks), cols, ncols, '?');
    if (rc)
        return rc;
    w = snprintf(sql, sizeof(sql), "INSERT INTO %s(%s) VALUES(%s)", table, list, marks);
    if (w < 0 || (size_t)w >= sizeof(sql))
        return SB_EINVAL;
    src = sqlite3_prepare_v2(ss->db, sql, -1, &st, NULL);
    for (size_t i = 0; i < ncols && src == SQLITE_OK; i++) {
        src = values[i] ? sqlite3_bind_text(st, (int)i + 1, values[i], -1, SQLITE_STATIC)
                        : sqlite3_bind_null(st, (int)i + 1);
    }
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = is_unique_violation(src) ? SB_EEXISTS : fail(ss->db, "row_insert", src);
    sqlite3_finalize(st);
    return rc;
}

int sqlite_rows_inserted(struct store *s, const char *table, const char *id_col)
{
    /* INTEGER PRIMARY KEY takes max(rowid) + 1 next: nothing to move. */
    return 0;
}
