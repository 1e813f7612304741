/*
 * The HTTP client every outbound call shares (REST APIs, LLM streams,
 * provider uploads): one object owning one thread that runs a libcurl multi
 * handle, so that no request ever blocks the caller's thread.
 *
 * Threads and ownership:
 * - http_client_new starts the client thread (every signal blocked).
 *   http_client_submit and http_client_cancel may be called from any thread,
 *   the client's own included (from inside a callback). http_client_free
 *   must not be called from a callback.
 * - Every callback runs on the client thread: on_chunk for each piece of a
 *   streamed response, then on_done exactly once per accepted request, and
 *   nothing for that request after on_done. Callbacks must not block: the
 *   server's callbacks push the result onto its completion list and wake the
 *   loop (lws_cancel_service), the same path as the writer's; or the request
 *   names an http_inbox (below), which does exactly that.
 * - The request is copied by http_client_submit (URL, headers, body): the
 *   caller's memory is free again when it returns. `arg` is only passed on
 *   and must stay valid until on_done returns.
 * - on_done receives the response and owns it (it may keep it, hand it to
 *   another thread, and frees it with http_response_free). A chunk is lent
 *   for the duration of on_chunk only.
 *
 * Transfers share one multi handle, so connections to the same host are
 * reused; at most `max_transfers` run at once and `max_queued` wait behind
 * them (more are refused with SB_EBUSY). http_client_free cancels whatever is
 * still queued or running (on_done reports HTTP_ECANCELLED) and joins the
 * thread.
 *
 * Redirects are not followed (a 3xx is a response like any other), and only
 * http and https are spoken.
 *
 * Secrets: the client never logs header values (Authorization included),
 * bodies, or URLs beyond their host.
 */
#ifndef SB_NET_HTTP_CLIENT_H
#define SB_NET_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "net/sse.h"

/* The outcome of a transfer, in plain words by http_result_str. */
enum http_result {
    HTTP_OK = 0,       /* a whole response arrived, whatever its status */
    HTTP_ECANCELLED,   /* http_client_cancel, or http_client_free */
    HTTP_ETIMEOUT,     /* connect, first byte, idle or total time exceeded */
    HTTP_ECONNREFUSED, /* nothing listens, or the host cannot be reached */
    HTTP_EDNS,         /* the host name did not resolve */
    HTTP_ETLS,         /* handshake or certificate failure */
    HTTP_ETOOLARGE,    /* the body (or an SSE line or event) went past max_response */
    HTTP_ECONNECTION,  /* the connection failed or closed before the response ended */
    HTTP_EREQUEST,     /* the request itself is unusable (bad URL, unsupported scheme) */
    HTTP_EFAILED,      /* anything else libcurl reports */
};

enum http_stream {
    HTTP_STREAM_NONE = 0, /* the body comes whole in on_done */
    HTTP_STREAM_RAW,      /* each piece of a 2xx body goes to on_chunk as it arrives */
    HTTP_STREAM_SSE,      /* each Server-Sent Event of a 2xx body goes to on_chunk */
};

/* Defaults applied to a request's 0 fields. */
#define HTTP_DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define HTTP_DEFAULT_MAX_RESPONSE (4u << 20)
#define HTTP_ERROR_SIZE 512

struct http_header {
    char *name;  /* as the server sent it */
    char *value; /* without surrounding white space */
};

/*
 * A response. The body of a 2xx response streamed as chunks is not repeated
 * here: `body` is "" then. Otherwise `body` holds what arrived: all of it for
 * HTTP_OK, what came before the failure otherwise (at most max_response
 * bytes). A non-2xx response is never streamed: its body (an API's error
 * document) comes here whole.
 */
struct http_response {
    uint64_t id; /* the request's id */
    void *arg;   /* the request's arg */
    enum http_result result;
    long status;                 /* the HTTP status, 0 when no response came */
    struct http_header *headers; /* the final response's headers, in order */
    size_t nheaders;
    char *body; /* never NULL, NUL-terminated; see above */
    size_t body_len;
    long retry_after_s;          /* Retry-After (seconds or a date) in seconds, -1 when absent */
    char error[HTTP_ERROR_SIZE]; /* "" for HTTP_OK; else plain words, then libcurl's detail */
};

/*
 * One piece of a streamed 2xx response. HTTP_STREAM_RAW: `data` holds the
 * bytes as they arrived, `event` is NULL. HTTP_STREAM_SSE: `event` is the
 * event and `data` its data (event->data).
 */
struct http_chunk {
    uint64_t id;
    long status;
    const char *data; /* NUL-terminated */
    size_t len;
    const struct sse_event *event;
};

struct http_inbox;

struct http_request {
    const char *method; /* "GET", "POST", "PUT", "DELETE", ...; NULL: GET, or POST with a body */
    const char *url;    /* http:// or https:// only */
    const char *const
        *headers; /* "Name: value" lines (copied); "Name:" drops a header libcurl adds */
    size_t nheaders;
    const void *body; /* copied; NULL with body_len 0: no body */
    size_t body_len;
    long connect_timeout_ms;    /* TCP and TLS handshake; 0: HTTP_DEFAULT_CONNECT_TIMEOUT_MS */
    long first_byte_timeout_ms; /* from leaving the queue to the response's first byte; 0: none */
    long idle_timeout_ms;       /* longest silence once the response started; 0: none */
    long total_timeout_ms;      /* the whole exchange; 0: none */
    size_t max_response; /* body bytes accepted, streamed or not; 0: HTTP_DEFAULT_MAX_RESPONSE */
    enum http_stream stream;
    /*
     * Called on the client thread. on_chunk (streaming only; NULL ignores
     * the pieces) may call http_client_cancel for its own id: no further
     * chunk follows. on_done is required unless `inbox` is set.
     */
    void (*on_chunk)(void *arg, const struct http_chunk *chunk);
    void (*on_done)(void *arg, struct http_response *res);
    void *arg;
    /* When set, chunks and the response are queued there instead (callbacks unused). */
    struct http_inbox *inbox;
};

struct http_client_config {
    int max_transfers; /* running at once; 0: 16 */
    size_t max_queued; /* waiting for a free slot; 0: 1024 */
};

struct http_client;

/**
 * Starts a client and its thread. `config` may be NULL (defaults). Returns 0
 * with *out set, SB_EINVAL (negative limits), or SB_ENOMEM (memory, libcurl
 * or the thread could not be had); *out is NULL on failure.
 */
SB_MUST_CHECK int http_client_new(struct http_client **out,
                                  const struct http_client_config *config);

/**
 * Queues a request; `*id` (may be NULL) receives its id (never 0), for
 * http_client_cancel. On success on_done (or the inbox) will be called
 * exactly once for it; on error nothing is. Returns 0, SB_EINVAL (a URL
 * libcurl cannot parse or not http/https, a method that is not upper-case
 * letters, a header line with CR or LF, no on_done nor inbox), SB_ENOMEM,
 * SB_EBUSY (max_queued requests already wait) or SB_ECLOSED
 * (http_client_free began).
 */
SB_MUST_CHECK int http_client_submit(struct http_client *c, const struct http_request *req,
                                     uint64_t *id);

/**
 * Cancels a request, queued or running, from any thread: the client thread
 * drops the transfer (and its connection) at once and reports
 * HTTP_ECANCELLED. Returns 0 when the request was still in progress, and
 * then on_done reports HTTP_ECANCELLED whatever else happens; SB_ENOTFOUND
 * when it is unknown or its on_done already began. A chunk being delivered on
 * the client thread while this runs on another may still complete.
 */
int http_client_cancel(struct http_client *c, uint64_t id);

/**
 * Refuses new requests, cancels every queued and running one (each on_done
 * reports HTTP_ECANCELLED, on the client thread), joins the thread and frees
 * the client. NULL is allowed. Not from inside a callback.
 */
void http_client_free(struct http_client *c);

/** The plain words for a result: "ok", "cancelled", "timeout", "connection refused", ... */
const char *http_result_str(enum http_result r);

/** The value of the first response header named `name` (case-insensitive), or NULL. */
const char *http_response_header(const struct http_response *res, const char *name);

/** Frees a response handed to on_done. NULL is allowed. */
void http_response_free(struct http_response *res);

/*
 * The inbox: the common "queue this for the loop" pattern, free of any
 * server type. The client thread appends each chunk (copied) and each
 * response to a mutex-guarded list and, when the list was empty, calls
 * wake(wake_arg) (the server passes a function calling lws_cancel_service);
 * the loop takes the whole list with http_inbox_take, so one wake stands
 * for every delivery queued until then. Deliveries of one request keep their order and
 * its response is its last.
 */
struct http_delivery {
    uint64_t id;
    void *arg;                  /* the request's arg */
    struct http_response *done; /* the response (owned by the delivery), or NULL for a chunk */
    long status;                /* chunk: the response's status */
    char *data;                 /* chunk: its bytes (or the event's data), NUL-terminated */
    size_t len;
    char *event_type; /* SSE chunk: the event's type, id and retry; NULL otherwise */
    char *event_id;
    long retry_ms;
    struct http_delivery *next; /* the next delivery taken, oldest first */
};

/**
 * Creates an inbox. `wake` (may be NULL) is called on the client thread
 * after a delivery is queued on an empty list. Returns 0, or SB_ENOMEM; *out is NULL then.
 */
SB_MUST_CHECK int http_inbox_new(struct http_inbox **out, void (*wake)(void *wake_arg),
                                 void *wake_arg);

/** Takes every queued delivery, oldest first (NULL when none). Any thread. */
struct http_delivery *http_inbox_take(struct http_inbox *q);

/**
 * Frees one delivery, its response included unless the caller took it
 * (set `done` to NULL after taking it).
 */
void http_delivery_free(struct http_delivery *d);

/**
 * Frees the inbox and whatever is still queued in it. Only once no client
 * can deliver to it any more (its requests are done, or the client is freed).
 */
void http_inbox_free(struct http_inbox *q);

#endif
