/*
 * A CSV reader (RFC 4180 as spreadsheets write it): fields separated by
 * commas, records by LF or CRLF; a field in double quotes may hold commas,
 * line breaks and doubled quotes (""). Lines with nothing on them are
 * skipped. Pure: no I/O, any thread.
 *
 * Ownership: csv_parse copies the text; a struct csv owns the copy and the
 * record and field arrays, and every field is a NUL-terminated string
 * borrowed from it until csv_release. On failure *out is empty (and may be
 * released).
 */
#ifndef SB_CORE_CSV_H
#define SB_CORE_CSV_H

#include <stddef.h>

#include "core/err.h"

/* Limits that bound what a file may hold. */
#define CSV_MAX_BYTES (16u << 20) /* the whole text */
#define CSV_MAX_FIELDS 64         /* fields in one record */
#define CSV_MAX_FIELD 4096        /* bytes of one field */

struct csv_record {
    size_t line;         /* the line the record starts on, from 1 */
    const char **fields; /* borrowed from the struct csv */
    size_t nfields;
};

struct csv {
    struct csv_record *records;
    size_t nrecords;
    char *text;          /* private: the unquoted copy the fields point into */
    const char **fields; /* private: every record's fields, one after another */
};

/**
 * Parses `len` bytes of CSV. Returns 0 with the records in *out; SB_EPARSE
 * with a reason naming the line in `err` ("line 3: a quoted field is not
 * closed", "line 2: '\"' inside an unquoted field", "line 4: text after a
 * closing quote", "line 1: a NUL byte"); SB_ETOOBIG when a record or a
 * field passes the limits above (the reason names the line too) or the text
 * does ("the text is larger than ... bytes"); SB_ENOMEM. The bytes are not
 * checked for UTF-8: that is the caller's.
 */
SB_MUST_CHECK int csv_parse(const char *data, size_t len, struct csv *out, char *err,
                            size_t errsize);

/** Frees what a struct csv owns and zeroes it; a zeroed one is allowed. */
void csv_release(struct csv *c);

#endif
