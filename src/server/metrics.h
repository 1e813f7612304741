/*
 * Prometheus counters and histograms. Each event loop counts in its own
 * struct metrics (its mutex is only ever contended by /metrics, which adds
 * every loop's up with metrics_merge before rendering).
 */
#ifndef SB_SERVER_METRICS_H
#define SB_SERVER_METRICS_H

#include <pthread.h>

#include "core/buf.h"
#include "core/err.h"

#define METRICS_MAX_SERIES 128
#define METRICS_BUCKETS 12

struct metrics_request {
    const char *route; /* static string */
    int status;
    unsigned long long count;
};

struct metrics_latency {
    const char *route;
    unsigned long long buckets[METRICS_BUCKETS]; /* cumulative at render time */
    unsigned long long count;
    double sum;
};

struct metrics_status {
    char status[16];
    const char *outcome; /* "applied", "duplicate", "stale" */
    unsigned long long count;
};

struct metrics_agent {
    char event[24]; /* "filler", "retry", "fallback", "breaker_open", "message_taken" */
    unsigned long long count;
};

struct metrics {
    pthread_mutex_t lock; /* a zeroed struct is ready to use (glibc) */
    struct metrics_request requests[METRICS_MAX_SERIES];
    int nrequests;
    struct metrics_latency latency[16];
    int nlatency;
    struct metrics_status statuses[64];
    int nstatuses;
    struct metrics_agent agent_events[16];
    int nagent_events;
};

/** Counts one answered request and its latency in seconds. */
void metrics_request(struct metrics *m, const char *route, int status, double seconds);

/** Counts one committed status callback by call status and outcome. */
void metrics_call_status(struct metrics *m, const char *status, const char *outcome);

/** Counts one event of the LLM agents (a filler said, a retry, a fallback, ...). */
void metrics_agent_event(struct metrics *m, const char *event);

/** Adds what `src` counted to `dst` (locks `src`, not `dst`). */
void metrics_merge(struct metrics *dst, struct metrics *src);

/** Appends the Prometheus text exposition of everything counted. */
SB_MUST_CHECK int metrics_render(const struct metrics *m, struct buf *out);

/** What one event loop counts apart from `struct metrics`, read from its atomics
 *  (all of one type: metrics_render_loops renders them from one table). */
struct metrics_loop {
    unsigned long long accepted; /* connections it took */
    unsigned long long inflight; /* requests read and not yet answered */
    unsigned long long streams;  /* Media Streams open on it */
    unsigned long long relays;   /* ConversationRelay sessions open on it */
};

/** Appends each event loop's counts (loops 0 to nloops - 1). */
SB_MUST_CHECK int metrics_render_loops(const struct metrics_loop *loops, int nloops,
                                       struct buf *out);

#endif
