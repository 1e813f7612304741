/*
 * Calls' flow states in memory, by CallSid, in front of the store: the
 * webhook of the next step reads them without SQL. The store stays the
 * truth across restarts (a miss falls back to it). Owned by the event loop.
 */
#ifndef SB_VOICE_FLOW_STATES_H
#define SB_VOICE_FLOW_STATES_H

#include <stddef.h>

#include "core/err.h"
#include "store/store.h"

#define FLOW_STATES_MAX 100000 /* past this the least recently written are forgotten */
/* A power of two above the limit, so that a lookup walks about one entry (1 MiB of heads). */
#define FLOW_STATES_BUCKETS 131072

struct flow_state_entry {
    struct flow_state_entry *next;          /* in its bucket */
    struct flow_state_entry *older, *newer; /* in write order */
    struct flow_call call;                  /* last_twiml owned by the entry */
};

struct flow_states {
    struct flow_state_entry *buckets[FLOW_STATES_BUCKETS];
    struct flow_state_entry *oldest, *newest;
    size_t count;
};

/** The state of a call, or NULL. The pointer lives until the next put or clear. */
const struct flow_call *flow_states_get(const struct flow_states *m, const char *call_sid);

/** Stores a copy of `c` (last_twiml copied). Returns 0 or SB_ENOMEM. */
SB_MUST_CHECK int flow_states_put(struct flow_states *m, const struct flow_call *c);

/**
 * Drops a call's state, if held: the next step reads it from the store. For
 * a state whose commit failed, so that it is never answered from.
 */
void flow_states_forget(struct flow_states *m, const char *call_sid);

/** Frees every entry. */
void flow_states_clear(struct flow_states *m);

#endif
