/*
 * A small pool of threads for blocking or CPU-heavy work (REST calls,
 * speech, LLM requests, recordings) that must stay off the event loop. A job
 * is two functions and an argument: `run` does the work on a worker thread,
 * then `done` runs on the same thread, where the server pushes a completion
 * to the loop and wakes it. The queue is bounded: a full pool says so
 * (SB_EBUSY) instead of growing without limit.
 */
#ifndef SB_SERVER_WORKERS_H
#define SB_SERVER_WORKERS_H

#include <stddef.h>

#include "core/err.h"

/* Most threads and queued jobs one pool accepts. */
#define WORKERS_MAX_THREADS 256
#define WORKERS_MAX_QUEUE (1u << 20)

struct workers;

/**
 * Starts `nthreads` worker threads (1..WORKERS_MAX_THREADS) with every
 * signal blocked, sharing a queue of at most `queue_max` waiting jobs
 * (1..WORKERS_MAX_QUEUE). Returns 0 with *out set (the caller owns it and
 * frees it with workers_stop), SB_EINVAL for counts out of range, or
 * SB_ENOMEM (memory or a thread could not be had); *out is NULL on failure.
 */
SB_MUST_CHECK int workers_start(struct workers **out, int nthreads, size_t queue_max);

/**
 * Queues a job: a worker thread calls run(arg), then done(arg) (`done` may
 * be NULL). Jobs start in the order queued; with several threads they may
 * finish in any order. `arg` stays the caller's: the pool only passes it on,
 * so whatever it points to must live until `done` (or `run`, without done)
 * has returned. Neither function is called when this returns an error.
 * Returns 0, SB_EINVAL (`w` or `run` NULL), SB_EBUSY when `queue_max` jobs
 * already wait, or SB_ECLOSED once workers_stop has begun (also from inside
 * a job that runs while the pool drains).
 */
SB_MUST_CHECK int workers_submit(struct workers *w, void (*run)(void *arg), void (*done)(void *arg),
                                 void *arg);

/**
 * Refuses new jobs, runs every job already queued (run and done, as usual),
 * joins the threads and frees the pool. Blocks until the running and queued
 * jobs finish; must not be called from inside a job. NULL is allowed.
 */
void workers_stop(struct workers *w);

#endif
