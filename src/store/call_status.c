/* The order of a call's statuses (store/call_status.h). */
#include "store/call_status.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

static const struct call_status call_statuses[] = {
    {"queued", "queued", 0},
    {"initiated", "initiated", 1},
    {"ringing", "ringing", 2},
    {"in-progress", "in-progress", 3},
    /* StatusCallbackEvent names the answer "answered"; CallStatus says in-progress. */
    {"answered", "in-progress", 3},
    {"completed", "completed", RANK_TERMINAL},
    {"busy", "busy", RANK_TERMINAL},
    {"failed", "failed", RANK_TERMINAL},
    {"no-answer", "no-answer", RANK_TERMINAL},
    {"canceled", "canceled", RANK_TERMINAL},
};

const struct call_status *call_status_find(const char *name)
{
    for (size_t i = 0; i < sizeof(call_statuses) / sizeof(call_statuses[0]); i++) {
        if (strcmp(name, call_statuses[i].name) == 0)
            return &call_statuses[i];
    }
    return NULL;
}

int call_status_rank_sql(const char *column, char *out, size_t size)
{
    size_t len;
    int w = snprintf(out, size, "CASE %s", column);

    if (w < 0 || (size_t)w >= size)
        return -1;
    len = (size_t)w;
    for (size_t i = 0; i < sizeof(call_statuses) / sizeof(call_statuses[0]); i++) {
        w = snprintf(out + len, size - len, " WHEN '%s' THEN %d", call_statuses[i].canonical,
                     call_statuses[i].rank);
        if (w < 0 || (size_t)w >= size - len)
            return -1;
        len += (size_t)w;
    }
    w = snprintf(out + len, size - len, " ELSE -1 END");
    return w < 0 || (size_t)w >= size - len ? -1 : 0;
}
