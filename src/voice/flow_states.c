#include "voice/flow_states.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/banned.h"

/* FNV-1a over the SID: SIDs are random hex, any decent mix spreads them. */
static size_t bucket_of(const char *sid)
{
    unsigned long h = 2166136261u;

    for (const unsigned char *p = (const unsigned char *)sid; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & (FLOW_STATES_BUCKETS - 1);
}

static struct flow_state_entry *find(const struct flow_states *m, const char *call_sid)
{
    for (struct flow_state_entry *e = m->buckets[bucket_of(call_sid)]; e; e = e->next) {
        if (strcmp(e->call.call_sid, call_sid) == 0)
            return e;
    }
    return NULL;
}

const struct flow_call *flow_states_get(const struct flow_states *m, const char *call_sid)
{
    struct flow_state_entry *e = find(m, call_sid);

    return e ? &e->call : NULL;
}

/* Unlinks `e` from the write-order list. */
static void order_unlink(struct flow_states *m, struct flow_state_entry *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        m->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        m->newest = e->older;
    e->older = e->newer = NULL;
}

static void order_append(struct flow_states *m, struct flow_state_entry *e)
{
    e->older = m->newest;
    e->newer = NULL;
    if (m->newest)
        m->newest->newer = e;
    else
        m->oldest = e;
    m->newest = e;
}

/* Removes `e` from its bucket and the write order, and frees it. */
static void drop(struct flow_states *m, struct flow_state_entry *e)
{
    struct flow_state_entry **pp;

    order_unlink(m, e);
    for (pp = &m->buckets[bucket_of(e->call.call_sid)]; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    }
    free(e->call.last_twiml);
    free(e);
    m->count--;
}

void flow_states_forget(struct flow_states *m, const char *call_sid)
{
    struct flow_state_entry *e = find(m, call_sid);

    if (e)
        drop(m, e);
}

int flow_states_put(struct flow_states *m, const struct flow_call *c)
{
    size_t b = bucket_of(c->call_sid);
    struct flow_state_entry *e;
    char *twiml = strdup(c->last_twiml ? c->last_twiml : "");

    if (!twiml)
        return SB_ENOMEM;
    e = find(m, c->call_sid);
    if (!e) {
        /* Memory is only a cache in front of the store, which answers for what it drops. */
        if (m->count >= FLOW_STATES_MAX && m->oldest)
            drop(m, m->oldest);
        e = calloc(1, sizeof(*e));
        if (!e) {
            free(twiml);
            return SB_ENOMEM;
        }
        e->next = m->buckets[b];
        m->buckets[b] = e;
        m->count++;
    } else {
        free(e->call.last_twiml);
        order_unlink(m, e);
    }
    order_append(m, e);
    e->call = *c;
    e->call.last_twiml = twiml;
    return 0;
}

void flow_states_clear(struct flow_states *m)
{
    for (size_t b = 0; b < FLOW_STATES_BUCKETS; b++) {
        while (m->buckets[b]) {
            struct flow_state_entry *e = m->buckets[b];

            m->buckets[b] = e->next;
            free(e->call.last_twiml);
            free(e);
        }
    }
    m->count = 0;
    m->oldest = m->newest = NULL;
}
