/*
 * Copying a whole store between any two backends (`switchboard db copy`):
 * every table of the schema, row by row, as text, in one transaction on the
 * destination. Both stores are at the same migration (store_open applied
 * it), so the fixed table list here names the same columns in both.
 *
 * Owns the list of tables and their columns in the order a copy must follow
 * (a row's tenant before the row). A migration that adds a table or a column
 * adds it here too, or names the table among those skipped, with the reason;
 * tests/unit/store/test_copy.c fails until it does.
 */
#ifndef SB_STORE_COPY_H
#define SB_STORE_COPY_H

#include <stddef.h>

#include "core/err.h"

struct store;

struct copy_table {
    const char *name;
    const char *id_col; /* a generated integer key whose sequence follows the copy, or NULL */
    const char *const *cols;
    size_t ncols;
};

/** The tables a copy carries, in order. */
const struct copy_table *copy_tables(size_t *n);

/**
 * The tables of the schema a copy leaves out on purpose (store/copy.c says
 * why for each); every other table is in copy_tables.
 */
const char *const *copy_skipped_tables(size_t *n);

/**
 * Writes a table's column list into buf for the backends' statements:
 * "a, b, c" when `mark` is 0, else a placeholder a column: `mark` and the
 * column's 1-based number ("?1, ?2" for SQLite, "$1, $2" for PostgreSQL).
 * Returns 0, or SB_EINVAL when it does not fit.
 */
int copy_column_list(char *buf, size_t size, const char *const *cols, size_t ncols, char mark);

/* What a copy reports of each table. */
struct copy_progress {
    void (*table_done)(void *arg, const char *table, long long src_rows, long long copied);
    void *arg;
};

/**
 * Copies every row of `src` into `dst`. Returns 0; SB_EEXISTS when `dst`
 * already holds rows (*nonempty names the first such table, and nothing is
 * written); SB_ESTORE when the schemas are at different versions or a row
 * count after the copy differs from the source's; or the failing backend's
 * error (the destination's transaction is rolled back).
 */
SB_MUST_CHECK int store_copy(struct store *src, struct store *dst,
                             const struct copy_progress *progress, const char **nonempty);

#endif
