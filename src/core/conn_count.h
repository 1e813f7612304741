/*
 * Counts open connections in total and per peer address, so that one client
 * cannot take every socket the server has. Pure bookkeeping: the caller
 * turns a peer into bytes (an IPv4 or IPv6 address) and asks to admit it; an
 * admitted connection holds a slot until it is released.
 *
 * Ownership: the caller owns the struct conn_count and frees its table with
 * conn_count_release. Not thread-safe: one event loop owns it.
 */
#ifndef SB_CORE_CONN_COUNT_H
#define SB_CORE_CONN_COUNT_H

#include <stddef.h>
#include <stdint.h>

/* Longest peer key: an IPv6 address. */
#define CONN_COUNT_KEY_MAX 16

struct conn_peer {
    unsigned char key[CONN_COUNT_KEY_MAX];
    uint8_t key_len; /* 0: the slot is free */
    int open;        /* connections this peer holds */
};

struct conn_count {
    struct conn_peer *peers; /* open addressing, `cap` slots (a power of two) */
    size_t cap;
    int total; /* open connections, all peers */
    int max_total;
    int max_per_peer;
};

/* Why conn_count_admit refused a peer. */
enum conn_refusal { CONN_OK = 0, CONN_TOO_MANY_TOTAL, CONN_TOO_MANY_FROM_PEER };

/**
 * Sets `c` up for at most `max_total` open connections, at most
 * `max_per_peer` of them from one address (both >= 1). Returns 0, SB_EINVAL
 * or SB_ENOMEM.
 */
int conn_count_init(struct conn_count *c, int max_total, int max_per_peer)
    __attribute__((warn_unused_result));

/**
 * Admits a connection from the peer `key` (1..CONN_COUNT_KEY_MAX bytes; any
 * other length counts as one shared "unknown" peer). Returns CONN_OK (call
 * conn_count_release with the same key when the connection closes), or the
 * limit that refused it (nothing is counted then).
 */
enum conn_refusal conn_count_admit(struct conn_count *c, const void *key, size_t key_len)
    __attribute__((warn_unused_result));

/** The open connections of the peer `key` (0 when it has none). */
int conn_count_of(const struct conn_count *c, const void *key, size_t key_len);

/** Releases one connection that conn_count_admit counted for `key`. */
void conn_count_release(struct conn_count *c, const void *key, size_t key_len);

/** Frees the table; `c` may be zeroed or already released. */
void conn_count_release_all(struct conn_count *c);

#endif
