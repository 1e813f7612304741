/*
 * The WebSocket client every provider stream shares (Deepgram's streaming
 * recogniser, ElevenLabs' and Cartesia's streaming synthesis): one object
 * owning one thread that runs a client-only libwebsockets context, so that
 * no connection ever blocks the caller's thread (the server's loop).
 *
 * Threads and ownership:
 * - ws_client_new starts the client thread (every signal blocked).
 *   ws_client_open, ws_client_send and ws_client_close may be called from
 *   any thread, the client's own included (from inside a callback); each
 *   wakes the client thread (lws_cancel_service). ws_client_free must not be
 *   called from a callback.
 * - Every callback runs on the client thread: on_open once the handshake
 *   succeeded, on_message for each whole message received, then on_close
 *   exactly once per accepted connection, and nothing for it after
 *   on_close. Callbacks must not block; they copy what they keep.
 * - Everything given to ws_client_open and ws_client_send is copied: the
 *   caller's memory is free again when the call returns. `arg` is only
 *   passed on and must stay valid until on_close returns.
 *
 * Messages queued before the handshake completes are sent after it, in
 * order; a message goes out whole, as one WebSocket frame (what the kernel
 * does not take at once, libwebsockets keeps and sends before anything
 * else). At most `max_pending` bytes may wait to be sent per connection
 * (more is refused with SB_EBUSY: the peer does not read). A received
 * message larger than `max_message` closes the connection (1009).
 *
 * Limits: host names are resolved on the client thread (getaddrinfo, which
 * blocks it, and every connection, while it waits); a client holds at most
 * about a thousand sockets; wss:// checks the server against the system's
 * CA store; a redirect is a refusal (its 3xx in http_status), never
 * followed, since it would carry the headers elsewhere; no subprotocol and
 * no compression are offered.
 *
 * Secrets: header values (Authorization, xi-api-key) and message contents
 * are never logged; a URL is logged only by its host.
 */
#ifndef SB_NET_WS_CLIENT_H
#define SB_NET_WS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define WS_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define WS_CLIENT_DEFAULT_MAX_MESSAGE (1u << 20)
#define WS_CLIENT_DEFAULT_MAX_PENDING (4u << 20)

/* How a connection ended, for on_close. */
struct ws_closed {
    int opened;       /* the handshake had succeeded (on_open was called) */
    int code;         /* the peer's close code (1000, 1011, ...; 1005 when its close frame had
                         none), or ours when we closed first (ws_client_close's code, 1009 for a
                         message past max_message); 1006 when the connection ended without a
                         close frame (ws_client_free sends none); 0 when it never opened */
    long http_status; /* the handshake's HTTP status when it was refused (401, 429, ...), else 0 */
    int by_us;        /* ws_client_close or ws_client_free ended it */
    char reason[128]; /* the close frame's reason ("NET-0001"), or plain words of what failed
                         ("cannot connect (refused or unreachable)", "handshake timed out",
                         "handshake refused with HTTP 401") */
};

struct ws_open {
    const char *url;            /* ws:// or wss:// with host, optional port, path and query */
    const char *const *headers; /* "Name: value" lines sent with the handshake (copied) */
    size_t nheaders;
    long connect_timeout_ms; /* TCP, TLS, handshake; 0: WS_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS */
    size_t max_message;      /* largest message received; 0: WS_CLIENT_DEFAULT_MAX_MESSAGE */
    size_t max_pending;      /* bytes waiting to be sent; 0: WS_CLIENT_DEFAULT_MAX_PENDING */
    /* Called on the client thread; on_close is required, the others may be NULL. */
    void (*on_open)(void *arg, uint64_t id);
    void (*on_message)(void *arg, uint64_t id, const void *data, size_t len, int binary);
    void (*on_close)(void *arg, uint64_t id, const struct ws_closed *how);
    void *arg;
};

struct ws_client;

/**
 * Starts a client and its thread. Returns 0 with *out set, or SB_ENOMEM
 * (memory, the lws context or the thread could not be had); *out is NULL
 * on failure.
 */
SB_MUST_CHECK int ws_client_new(struct ws_client **out);

/**
 * Starts connecting; `*id` (may be NULL) receives the connection's id
 * (never 0). On success on_close will be called exactly once for it; on
 * error nothing is. Returns 0, SB_EINVAL (not a ws/wss URL with a host, or
 * one with user info, a bad port or a byte outside printable ASCII; a
 * header line without "Name:" or with CR or LF; no on_close; a negative
 * timeout), SB_ENOMEM or SB_ECLOSED (ws_client_free began).
 */
SB_MUST_CHECK int ws_client_open(struct ws_client *c, const struct ws_open *req, uint64_t *id);

/**
 * Queues one message (text when `binary` is 0: it must be UTF-8; an empty
 * message is allowed for text only). Returns 0, SB_ENOTFOUND (unknown or
 * closed connection, or it is closing), SB_EINVAL (an empty binary message),
 * SB_EBUSY (max_pending would be passed) or SB_ENOMEM.
 */
SB_MUST_CHECK int ws_client_send(struct ws_client *c, uint64_t id, const void *data, size_t len,
                                 int binary);

/**
 * Closes a connection with `code` (1000 when 0) and `reason` (may be NULL;
 * cut to 123 bytes, the room in a close frame) after the messages already
 * queued are sent; a connection still connecting is dropped. If the queue
 * has not drained and the peer has not answered within 10 s, the socket is
 * dropped. on_close follows (by_us set). Returns 0, SB_ENOTFOUND (unknown,
 * or already closing) or SB_EINVAL (a code an endpoint may not send: below
 * 1000, above 4999, 1004-1006, 1015).
 */
int ws_client_close(struct ws_client *c, uint64_t id, int code, const char *reason);

/**
 * Closes every connection at once, without close frames (each on_close is
 * called, on the client thread, by_us set; ws_client_open from one of them
 * returns SB_ECLOSED), joins the thread and frees the client. NULL is
 * allowed. Not from inside a callback, nor while another thread may still
 * call into the client.
 */
void ws_client_free(struct ws_client *c);

#endif
