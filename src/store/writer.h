/*
 * The store writer: one thread that owns a write connection, takes jobs from
 * a queue and commits them in groups (one transaction per batch), so that
 * many status callbacks share one fsync. A job's completion callback runs on
 * the writer thread only after its batch committed (or failed), so a caller
 * that answers from the callback never acknowledges a lost write.
 */
#ifndef SB_STORE_WRITER_H
#define SB_STORE_WRITER_H

#include "core/err.h"
#include "store/store.h"

/* Runs on the writer thread after the job's batch committed (rc 0) or failed. */
typedef void (*writer_done_fn)(void *arg, int rc, enum status_outcome outcome);

struct writer;

/**
 * Opens its own connection to the store at `path` and starts the thread.
 * Returns 0 with *out set (free with writer_stop), or the store_open error.
 */
SB_MUST_CHECK int writer_start(struct writer **out, const char *path);

/**
 * Queues the logging of a new call (copied). `done` may be NULL when the
 * caller does not wait. Returns 0, SB_ECLOSED after writer_stop began,
 * SB_EBUSY when the queue is full, SB_ENOMEM. When it fails, `done` is never
 * called.
 */
SB_MUST_CHECK int writer_submit_call(struct writer *w, const struct call_record *c,
                                     writer_done_fn done, void *arg);

/** Queues a status event (copied); same contract as writer_submit_call. */
SB_MUST_CHECK int writer_submit_status(struct writer *w, const struct status_event *e,
                                       writer_done_fn done, void *arg);

/** Queues a stream's lifecycle record (copied); same contract as writer_submit_call. */
SB_MUST_CHECK int writer_submit_stream(struct writer *w, const struct stream_record *r,
                                       writer_done_fn done, void *arg);

/** Queues a call's flow state (copied, last_twiml too); same contract as writer_submit_call. */
SB_MUST_CHECK int writer_submit_flow_call(struct writer *w, const struct flow_call *c,
                                          writer_done_fn done, void *arg);

/** Queues a recording (copied); same contract as writer_submit_call. */
SB_MUST_CHECK int writer_submit_recording(struct writer *w, const struct recording *r,
                                          writer_done_fn done, void *arg);

struct call_turn;
struct call_message;

/** Queues a transcript turn (copied, strings too); same contract as writer_submit_call. */
SB_MUST_CHECK int writer_submit_turn(struct writer *w, const struct call_turn *t,
                                     writer_done_fn done, void *arg);

/** Queues a message taken for the business (copied); same contract as writer_submit_call. */
SB_MUST_CHECK int writer_submit_message(struct writer *w, const struct call_message *m,
                                        writer_done_fn done, void *arg);

/**
 * Commits everything queued, calls every pending callback, stops the thread
 * and frees the writer. NULL is allowed.
 */
void writer_stop(struct writer *w);

#endif
