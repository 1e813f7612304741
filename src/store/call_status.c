/* The order of a call's statuses (store/call_status.h). */
#include "store/call_status.h"

#include <stddef.h>
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
