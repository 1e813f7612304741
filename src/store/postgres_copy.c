/*
 * The PostgreSQL side of a whole-store copy (store/copy.h): rows read and
 * inserted as text, which the server casts to each column's type. Table and
 * column names come from copy.c's fixed list. Not the hot path.
 */
#include <stdio.h>
#include <string.h>

#include "store/copy.h"
#include "store/postgres_internal.h"

#include "core/banned.h"

#define COPY_SQL_MAX 2048
/* Rows fetched at a time from a cursor, so that a big table is never held whole. */
#define COPY_FETCH 1000

int pg_schema_version(struct store *s, long long *version)
{
    PGresult *res = NULL;
    int rc = pg_row(to_pg(s), "schema_version",
                    "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL, &res);

    if (rc == 0)
        *version = pg_i64(res, 0, 0);
    PQclear(res);
    return rc;
}

int pg_rows_count(struct store *s, const char *table, long long *n)
{
    PGresult *res = NULL;
    char sql[256];
    int w = snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    int rc;

    if (w < 0 || (size_t)w >= sizeof(sql))
        return SB_EINVAL;
    rc = pg_row(to_pg(s), "rows_count", sql, 0, NULL, &res);
    if (rc == 0)
        *n = pg_i64(res, 0, 0);
    PQclear(res);
    return rc;
}

int pg_rows_read(struct store *s, const char *table, const char *const *cols, size_t ncols,
                 int (*row)(void *arg, const char *const *values), void *arg)
{
    struct pg_store *ps = to_pg(s);
    const char **values = NULL;
    char list[COPY_SQL_MAX];
    char sql[COPY_SQL_MAX + 256];
    char fetch[64];
    int own = 0;
    int rc;
    int w;

    rc = copy_column_list(list, sizeof(list), cols, ncols, 0);
    if (rc)
        return rc;
    w = snprintf(sql, sizeof(sql), "DECLARE copy_rows NO SCROLL CURSOR FOR SELECT %s FROM %s", list,
                 table);
    if (w < 0 || (size_t)w >= sizeof(sql))
        return SB_EINVAL;
    snprintf(fetch, sizeof(fetch), "FETCH %d FROM copy_rows", COPY_FETCH);
    values = calloc(ncols, sizeof(*values));
    if (!values)
        return SB_ENOMEM;
    /* A cursor lives in a transaction: one snapshot of the whole table. */
    rc = pg_read_enter(ps, &own, "rows_read");
    if (rc == 0)
        rc = pg_exec(ps, "rows_read", sql, 0, NULL, NULL);
    while (rc == 0) {
        PGresult *res = NULL;
        int n;

        rc = pg_query(ps, "rows_read", fetch, 0, NULL, &res);
        if (rc)
            break;
        n = PQntuples(res);
        for (int r = 0; r < n && rc == 0; r++) {
            for (size_t c = 0; c < ncols; c++)
                values[c] = PQgetisnull(res, r, (int)c) ? NULL : PQgetvalue(res, r, (int)c);
            rc = row(arg, values);
        }
        PQclear(res);
        if (n < COPY_FETCH)
            break;
    }
    if (rc == 0)
        rc = pg_exec(ps, "rows_read", "CLOSE copy_rows", 0, NULL, NULL);
    rc = pg_read_leave(ps, own, rc, "rows_read");
    free(values);
    return rc;
}

int pg_row_insert(struct store *s, const char *table, const char *const *cols, size_t ncols,
                  const char *const *values)
{
    char list[COPY_SQL_MAX];
    char marks[COPY_SQL_MAX];
    char sql[2 * COPY_SQL_MAX + 256];
    int rc;
    int w;

    rc = copy_column_list(list, sizeof(list), cols, ncols, 0);
    if (rc == 0)
        rc = copy_column_list(marks, sizeof(marks), cols, ncols, '$');
    if (rc)
        return rc;
    /* A passage's search vector is the destination's own: empty here, built by rows_inserted. */
    if (strcmp(table, "knowledge_passages") == 0)
        w = snprintf(sql, sizeof(sql), "INSERT INTO %s(%s, tsv) VALUES(%s, ''::tsvector)", table,
                     list, marks);
    else
        w = snprintf(sql, sizeof(sql), "INSERT INTO %s(%s) VALUES(%s)", table, list, marks);
    if (w < 0 || (size_t)w >= sizeof(sql))
        return SB_EINVAL;
    return pg_exec(to_pg(s), "row_insert", sql, (int)ncols, values, NULL);
}

int pg_rows_inserted(struct store *s, const char *table, const char *id_col)
{
    struct pg_store *ps = to_pg(s);
    char sql[512];
    int rc;
    int w;

    /* The next generated id follows the largest copied one. */
    w = snprintf(sql, sizeof(sql),
                 "SELECT setval(pg_get_serial_sequence('%s', '%s'), "
                 "coalesce((SELECT max(%s) FROM %s), 0) + 1, false)",
                 table, id_col, id_col, table);
    if (w < 0 || (size_t)w >= sizeof(sql))
        return SB_EINVAL;
    rc = pg_exec(ps, "rows_inserted", sql, 0, NULL, NULL);
    /* Copied passages arrive without their search vector: it is built here, as an import does. */
    if (rc == 0 && strcmp(table, "knowledge_passages") == 0)
        rc = pg_knowledge_index_missing(ps);
    return rc;
}
