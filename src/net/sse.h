/*
 * The line framing of Server-Sent Events (the WHATWG "event stream"
 * interpretation), fed with bytes as they arrive, in pieces of any size.
 *
 * Lines end with CRLF, LF or CR alone (a CR at the end of one piece and an LF
 * at the start of the next are one line ending). A line starting with ':' is
 * a comment. "field: value" drops one space after the colon; a line with no
 * colon is a field with an empty value. `data` lines are joined with LF,
 * `event` sets the type of the event being built, `id` the last event id
 * (kept for the events that follow, ignored when it holds a NUL), `retry` the
 * reconnection time (digits only); other fields are ignored. An empty line
 * dispatches the event when it has data, and starts the next one. A UTF-8 BOM
 * at the very start is dropped. Bytes after the last empty line are not an
 * event (sse_pending says whether any were left).
 *
 * Nothing here reads what the data says (no JSON): the caller does. The same
 * bytes give the same events however they are split (fuzz/fuzz_sse.c).
 * One framer is used by one thread at a time.
 */
#ifndef SB_NET_SSE_H
#define SB_NET_SSE_H

#include <stddef.h>

#include "core/buf.h"

/* One dispatched event; every pointer is valid only during the callback. */
struct sse_event {
    const char *type; /* the `event` field, "message" when none came */
    const char *data; /* the `data` lines joined with LF, NUL-terminated */
    size_t data_len;  /* bytes in data (it may hold NULs) */
    const char *id;   /* the last event id seen on the stream, "" when none */
    long retry_ms;    /* the last `retry` value seen on the stream, -1 when none */
};

struct sse {
    struct buf line; /* the line being read */
    struct buf data; /* data lines of the event being built, each followed by LF */
    struct buf type; /* its event type */
    struct buf id;   /* the last event id */
    long retry_ms;
    int after_cr; /* the last byte was a CR: an LF right after it ends nothing */
    int started;  /* the first line was read (its BOM, if any, dropped) */
    size_t max;   /* the longest line and event data accepted */
};

/**
 * Returns nonzero to stop: sse_feed returns that value at once and the
 * framer must not be fed again (only sse_release).
 */
typedef int (*sse_emit_fn)(void *arg, const struct sse_event *ev);

/** Starts an empty framer whose lines and event data may hold at most `max` bytes each. */
void sse_init(struct sse *s, size_t max);

/**
 * Reads `len` bytes, calling emit(arg, event) for each event they complete,
 * in order. Returns 0, emit's nonzero value, SB_ETOOBIG when a line or an
 * event's data would exceed `max`, or SB_ENOMEM; after an error the framer
 * must not be fed again.
 */
int sse_feed(struct sse *s, const void *bytes, size_t len, sse_emit_fn emit, void *arg);

/** Returns 1 when bytes of an unfinished event or line were left (dropped), else 0. */
int sse_pending(const struct sse *s);

/** Frees the framer's memory; it may be initialised again. */
void sse_release(struct sse *s);

#endif
