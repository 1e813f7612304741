/*
 * Twilio's call statuses in the order a call moves through them: the rule
 * both backends' status_apply follow (a call never moves back; a terminal
 * status is final; "answered" is stored as "in-progress").
 */
#ifndef SB_STORE_CALL_STATUS_H
#define SB_STORE_CALL_STATUS_H

#include <stddef.h>

/* The rank of completed, busy, failed, no-answer and canceled: nothing follows them. */
#define RANK_TERMINAL 4

struct call_status {
    const char *name;
    const char *canonical; /* what the call log stores */
    int rank;
};

/** The status named `name` as Twilio sends it, or NULL for one the log does not know. */
const struct call_status *call_status_find(const char *name);

/**
 * Writes an SQL expression for the rank of the status in `column` (a
 * column name of the caller's own, never input): "CASE column WHEN
 * 'queued' THEN 0 ... ELSE -1 END", the table above for a database to
 * compare by. Returns 0, or -1 when `size` is too small.
 */
int call_status_rank_sql(const char *column, char *out, size_t size);

#endif
