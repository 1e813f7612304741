/*
 * Open addressing with linear probing over a table sized from max_total, so
 * that it never grows: there are never more live peers than open
 * connections, and the table has at least twice as many slots. A peer whose
 * last connection closes is removed with backward-shift deletion, so no
 * tombstones build up under churn.
 */
#include "core/conn_count.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/banned.h"

/* The key that stands for a peer whose address is unknown. */
static const unsigned char unknown_peer = 0xff;

/* FNV-1a: keys are at most 16 bytes. */
static size_t hash_key(const unsigned char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= key[i];
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 29));
}

static void normalise(const void **key, size_t *len)
{
    if (!*key || *len == 0 || *len > CONN_COUNT_KEY_MAX) {
        *key = &unknown_peer;
        *len = 1;
    }
}

int conn_count_init(struct conn_count *c, int max_total, int max_per_peer)
{
    size_t cap = 16;

    memset(c, 0, sizeof(*c));
    if (max_total < 1 || max_per_peer < 1)
        return SB_EINVAL;
    while (cap < (size_t)max_total * 2)
        cap *= 2;
    c->peers = calloc(cap, sizeof(*c->peers));
    if (!c->peers)
        return SB_ENOMEM;
    c->cap = cap;
    c->max_total = max_total;
    c->max_per_peer = max_per_peer;
    return 0;
}

/* The slot of `key` (*found = 1) or the free slot that ends its probe path. */
static size_t find(const struct conn_count *c, const unsigned char *key, size_t len, int *found)
{
    size_t mask = c->cap - 1, i = hash_key(key, len) & mask;

    *found = 0;
    /* The table is never full (cap >= 2 * max_total), so a free slot ends every probe. */
    while (c->peers[i].key_len != 0) {
        if (c->peers[i].key_len == len && memcmp(c->peers[i].key, key, len) == 0) {
            *found = 1;
            break;
        }
        i = (i + 1) & mask;
    }
    return i;
}

enum conn_refusal conn_count_admit(struct conn_count *c, const void *key, size_t key_len)
{
    struct conn_peer *p;
    size_t i;
    int found;

    if (!c->peers || c->total >= c->max_total)
        return CONN_TOO_MANY_TOTAL;
    normalise(&key, &key_len);
    i = find(c, key, key_len, &found);
    p = &c->peers[i];
    if (found && p->open >= c->max_per_peer)
        return CONN_TOO_MANY_FROM_PEER;
    if (!found) {
        memcpy(p->key, key, key_len);
        p->key_len = (uint8_t)key_len;
        p->open = 0;
    }
    p->open++;
    c->total++;
    return CONN_OK;
}

int conn_count_of(const struct conn_count *c, const void *key, size_t key_len)
{
    int found;
    size_t i;

    if (!c->peers)
        return 0;
    normalise(&key, &key_len);
    i = find(c, key, key_len, &found);
    return found ? c->peers[i].open : 0;
}

/* Empties slot `i` and shifts back the entries whose probe path crossed it. */
static void remove_at(struct conn_count *c, size_t i)
{
    size_t mask = c->cap - 1, j = i;

    for (;;) {
        size_t home;

        c->peers[i].key_len = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (c->peers[j].key_len == 0)
                return;
            home = hash_key(c->peers[j].key, c->peers[j].key_len) & mask;
            /* Entry j may move to i only if i lies on its path from home to j. */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        c->peers[i] = c->peers[j];
        i = j;
    }
}

void conn_count_release(struct conn_count *c, const void *key, size_t key_len)
{
    int found;
    size_t i;

    if (!c->peers)
        return;
    normalise(&key, &key_len);
    i = find(c, key, key_len, &found);
    if (!found)
        return;
    c->total--;
    if (--c->peers[i].open == 0)
        remove_at(c, i);
}

void conn_count_release_all(struct conn_count *c)
{
    free(c->peers);
    memset(c, 0, sizeof(*c));
}
