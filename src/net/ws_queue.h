/*
 * The outbound message queue of one WebSocket, shared by the server's Media
 * Streams endpoint and the sim's client: messages copied with LWS_PRE bytes
 * of room, bounded in count, written one per writable callback.
 */
#ifndef SB_NET_WS_QUEUE_H
#define SB_NET_WS_QUEUE_H

#include <libwebsockets.h>
#include <stddef.h>

#include "core/err.h"

struct ws_msg;

/* Loop thread only. The queue owns its messages: ws_queue_release frees them. */
struct ws_queue {
    struct ws_msg *head, *tail;
    size_t count;
    size_t max; /* pushes past this many waiting messages fail */
};

#define WS_QUEUE_INIT(max_messages)                                                                \
    {                                                                                              \
        NULL, NULL, 0, (max_messages)                                                              \
    }

/** Appends a copy of `len` bytes of text. Returns 0, SB_EBUSY (full) or SB_ENOMEM. */
SB_MUST_CHECK int ws_queue_push(struct ws_queue *q, const char *text, size_t len);

/**
 * Writes the oldest message as one text frame and frees it. Returns 1 when
 * one was written, 0 when the queue is empty, -1 when the write failed (the
 * message is dropped: the socket is closing).
 */
int ws_queue_write_one(struct ws_queue *q, struct lws *wsi);

/**
 * A server socket's LWS_CALLBACK_SERVER_WRITEABLE: writes one queued
 * message and asks for the next writable callback while more are queued or
 * a close waits; once the queue is empty and `close_code` is nonzero, sends
 * the close frame with `close_reason`. Returns what the callback returns
 * (-1: close the socket).
 */
int ws_queue_on_writable(struct ws_queue *q, struct lws *wsi, int close_code,
                         const char *close_reason);

/* Messages up to this size can be sent at once from the stack (a media frame is ~300 bytes). */
#define WS_SEND_NOW_MAX 1024

/**
 * Sends a message at once, without a copy on the heap or a writable
 * callback, when that keeps the order: nothing is queued before it, lws
 * holds no unsent part of an earlier one (lws_partial_buffered: asking the
 * socket with lws_send_pipe_choked would cost a poll() per message) and it
 * is at most WS_SEND_NOW_MAX bytes. Returns 1 when written, 0 when it must
 * be queued instead, -1 when the write failed.
 */
int ws_queue_send_now(struct ws_queue *q, struct lws *wsi, const char *text, size_t len);

/** Frees every waiting message; the queue is empty and usable again. */
void ws_queue_release(struct ws_queue *q);

#endif
