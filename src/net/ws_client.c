/*
 * The shared WebSocket client. Requests from any thread change a
 * connection under the client's lock, put it on the wake list and wake the
 * client thread (lws_cancel_service); the thread, in
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED, starts new connections, drops or closes
 * those asked to close, and asks for a writable callback for those with
 * something to send. Everything lws owns is the client thread's.
 *
 * A connection ends exactly once, in conn_finish: at LWS_CALLBACK_WSI_DESTROY
 * (lws gives it to every wsi it created, whatever ended it), or without a wsi
 * when lws_client_connect_via_info fails at once, when it is closed before it
 * started, and at ws_client_free. What happened on the way (the peer's close
 * frame, the handshake's status, our own close) is written into `how` as it
 * happens, and on_close reports it.
 */
#include "net/ws_client.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/banned.h"

#define PROTOCOL_NAME "sb-ws-client"
/* Room for the handshake request with its headers (lws's default, 4 KiB, is short for tokens). */
#define HANDSHAKE_ROOM 16384
/*
 * Sockets one client holds at once. Below the process limit, lws finds a
 * socket's connection by a scan instead of a table as large as that limit,
 * so a descriptor of any number still works.
 */
#define MAX_SOCKETS 1024
/* lws's own connect and response timeouts: each connection's connect timeout decides first. */
#define LWS_OWN_TIMEOUT_S 3600
/* After ws_client_close: how long the queue may take to drain before the socket is dropped. */
#define CLOSE_GRACE_US (10 * LWS_US_PER_SEC)
/* A close frame's payload is at most 125 bytes, 2 of them the code. */
#define CLOSE_REASON_MAX 123
#define CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

enum conn_state { CONN_NEW, CONN_CONNECTING, CONN_OPEN };

struct out_msg {
    struct out_msg *next;
    size_t len;
    int binary;
    unsigned char data[]; /* LWS_PRE bytes of room for lws's frame header, then the message */
};

struct header {
    char *name; /* "Name:", as lws_add_http_header_by_name wants it */
    char *value;
};

struct conn {
    uint64_t id;
    struct ws_client *c;
    /* The request, copied; read-only once linked. */
    char *host;      /* what is resolved: the URL's host without brackets */
    char *authority; /* the Host header: host[:port] as the URL writes it */
    char *path;      /* "/..." with the query */
    int port, tls;
    struct header *headers;
    size_t nheaders;
    lws_usec_t connect_timeout_us;
    size_t max_pending;
    void (*on_open)(void *arg, uint64_t id);
    void (*on_message)(void *arg, uint64_t id, const void *data, size_t len, int binary);
    void (*on_close)(void *arg, uint64_t id, const struct ws_closed *how);
    void *arg;

    /* Guarded by the client's lock. */
    struct out_msg *out_head, *out_tail;
    size_t pending; /* bytes waiting in the queue */
    int closing;    /* sends are refused: a close was asked for, or the connection is ending */
    int close_code; /* ws_client_close's code; 0 until it is called */
    char close_reason[CLOSE_REASON_MAX + 1];
    int woken; /* on the wake list */
    struct conn *wake_next;
    struct conn *prev, *next; /* every connection not yet finished */

    /* The client thread's own. */
    enum conn_state state;
    struct lws *wsi;
    int in_connect;    /* inside lws_client_connect_via_info, which may destroy the wsi itself */
    int wsi_destroyed; /* ... and did */
    struct conn *work_next; /* drain_wakes' own list: wake_next may be reused meanwhile */
    int handshake_sent;
    lws_sorted_usec_list_t deadline; /* the connect timeout, then the close grace */
    struct buf rx;                   /* the message being received */
    struct ws_closed how;
};

struct ws_client {
    pthread_mutex_t lock;
    pthread_t thread;
    struct lws_context *ctx;
    int tearing_down; /* the client thread's own: ws_client_free ends the connections */
    /* Guarded by lock. */
    struct conn *head, *wake_head;
    uint64_t next_id;
    int stopping;
};

static void set_reason(struct conn *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Notes what ended the connection; the first cause stands. */
static void set_reason(struct conn *k, const char *fmt, ...)
{
    va_list ap;

    if (k->how.reason[0])
        return;
    va_start(ap, fmt);
    vsnprintf(k->how.reason, sizeof(k->how.reason), fmt, ap);
    va_end(ap);
}

static void conn_free(struct conn *k)
{
    while (k->out_head) {
        struct out_msg *m = k->out_head;

        k->out_head = m->next;
        free(m);
    }
    for (size_t i = 0; i < k->nheaders; i++) {
        free(k->headers[i].name);
        free(k->headers[i].value);
    }
    free(k->headers);
    free(k->host);
    free(k->authority);
    free(k->path);
    buf_release(&k->rx);
    free(k);
}

static void mark_closing(struct conn *k)
{
    pthread_mutex_lock(&k->c->lock);
    k->closing = 1;
    pthread_mutex_unlock(&k->c->lock);
}

/*
 * Reports the end and frees the connection (client thread). `lws_alive` is
 * 0 once the context is destroyed: the deadline's timer list went with it.
 */
static void conn_finish(struct conn *k, int lws_alive)
{
    struct ws_client *c = k->c;
    struct conn **pp;

    if (lws_alive)
        lws_sul_cancel(&k->deadline);
    pthread_mutex_lock(&c->lock);
    k->closing = 1;
    if (k->prev)
        k->prev->next = k->next;
    else
        c->head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    for (pp = &c->wake_head; k->woken && *pp; pp = &(*pp)->wake_next) {
        if (*pp == k) {
            *pp = k->wake_next;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);

    if (c->tearing_down) {
        k->how.by_us = 1;
        set_reason(k, "the client was freed");
    }
    if (!k->how.opened) {
        k->how.code = 0;
        set_reason(k, "connection failed");
    } else if (!k->how.code) {
        k->how.code = LWS_CLOSE_STATUS_ABNORMAL_CLOSE; /* 1006: no close frame came */
    }
    log_event(k->how.opened || k->how.by_us ? LOG_DEBUG : LOG_INFO, "ws.closed",
              "id=%llu host=%s opened=%d code=%d http_status=%ld by_us=%d reason=\"%s\"",
              (unsigned long long)k->id, k->host, k->how.opened, k->how.code, k->how.http_status,
              k->how.by_us, k->how.reason);
    k->on_close(k->arg, k->id, &k->how);
    conn_free(k);
}

/*
 * Kills the connection at once (lws may first flush bytes it holds, for at
 * most 5 s): k may be freed when this returns. Only outside the connection's
 * own callbacks (from a timer or another wsi's). Not LWS_TO_KILL_ASYNC: that
 * is a timeout, which lws replaces with its own as the connect progresses.
 */
static void drop(struct conn *k)
{
    mark_closing(k);
    lws_set_timeout(k->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

static void on_deadline(lws_sorted_usec_list_t *sul)
{
    struct conn *k = lws_container_of(sul, struct conn, deadline);

    if (k->state == CONN_CONNECTING)
        set_reason(k, "%s timed out", k->handshake_sent ? "handshake" : "connection");
    else
        set_reason(k, "the close did not complete in time");
    if (k->wsi)
        drop(k);
}

/* Starts a new connection; on an immediate failure it is finished here. */
static void conn_start(struct ws_client *c, struct conn *k)
{
    struct lws_client_connect_info ci;
    struct lws *wsi;

    memset(&ci, 0, sizeof(ci));
    ci.context = c->ctx;
    ci.address = k->host;
    ci.port = k->port;
    ci.path = k->path;
    ci.host = k->authority;
    ci.local_protocol_name = PROTOCOL_NAME;
    ci.ietf_version_or_minus_one = -1;
    /* A redirect would carry the headers (a key) to wherever it points: it is a refusal. */
    ci.ssl_connection = LCCSCF_HTTP_NO_FOLLOW_REDIRECT | (k->tls ? LCCSCF_USE_SSL : 0);
    /* lws 4.1 cannot carry a WebSocket over HTTP/2: never offer it. */
    ci.alpn = "http/1.1";
    ci.opaque_user_data = k;
    if (log_enabled(LOG_DEBUG))
        log_event(LOG_DEBUG, "ws.connect", "id=%llu host=%s port=%d tls=%d",
                  (unsigned long long)k->id, k->host, k->port, k->tls);
    k->state = CONN_CONNECTING;
    lws_sul_schedule(c->ctx, 0, &k->deadline, on_deadline, k->connect_timeout_us);
    k->in_connect = 1;
    wsi = lws_client_connect_via_info(&ci);
    k->in_connect = 0;
    if (!wsi || k->wsi_destroyed) {
        /* lws reports nothing for a failure before it returns (no CONNECTION_ERROR). */
        set_reason(k, "cannot connect (refused, unreachable or unknown host)");
        conn_finish(k, 1);
        return;
    }
    k->wsi = wsi;
}

/* A woken (or just opened) connection: start it, close or drop it, or have its queue written. */
static void conn_wake(struct ws_client *c, struct conn *k)
{
    int close_code, has_out;

    pthread_mutex_lock(&c->lock);
    close_code = k->close_code;
    has_out = k->out_head != NULL;
    pthread_mutex_unlock(&c->lock);

    if (close_code)
        k->how.by_us = 1;
    if (k->state == CONN_NEW && close_code) {
        set_reason(k, "closed before it connected");
        conn_finish(k, 1);
    } else if (k->state == CONN_NEW) {
        conn_start(c, k);
    } else if (k->state == CONN_CONNECTING && close_code) {
        set_reason(k, "closed while connecting");
        drop(k);
    } else if (k->state == CONN_OPEN) {
        if (close_code)
            lws_sul_schedule(c->ctx, 0, &k->deadline, on_deadline, CLOSE_GRACE_US);
        if (close_code || has_out)
            lws_callback_on_writable(k->wsi);
    }
}

/* LWS_CALLBACK_EVENT_WAIT_CANCELLED: takes the wake list and serves each connection. */
static void drain_wakes(struct ws_client *c)
{
    struct conn *wakes, *list = NULL, *k;

    if (c->tearing_down)
        return;
    pthread_mutex_lock(&c->lock);
    wakes = c->stopping ? NULL : c->wake_head;
    if (wakes)
        c->wake_head = NULL;
    /*
     * Pushed newest first: reversed, connections start in the order they were
     * opened. Once `woken` is clear another thread may push a connection
     * again, so the list taken here links through work_next.
     */
    while (wakes) {
        k = wakes;
        wakes = k->wake_next;
        k->woken = 0;
        k->work_next = list;
        list = k;
    }
    pthread_mutex_unlock(&c->lock);
    /* Serving a connection may finish it (never another): the next one is taken first. */
    while (list) {
        k = list;
        list = k->work_next;
        conn_wake(c, k);
    }
}

static int append_headers(struct conn *k, struct lws *wsi, void *in, size_t len)
{
    unsigned char **p = in, *end = *p + len;

    k->handshake_sent = 1;
    for (size_t i = 0; i < k->nheaders; i++) {
        const struct header *h = &k->headers[i];

        if (lws_add_http_header_by_name(wsi, (const unsigned char *)h->name,
                                        (const unsigned char *)h->value, (int)strlen(h->value), p,
                                        end)) {
            set_reason(k, "the handshake headers do not fit in %d bytes", HANDSHAKE_ROOM);
            return -1;
        }
    }
    return 0;
}

static void on_established(struct ws_client *c, struct conn *k)
{
    k->state = CONN_OPEN;
    k->how.opened = 1;
    lws_sul_cancel(&k->deadline);
    if (k->on_open)
        k->on_open(k->arg, k->id);
    /* What was queued (or a close asked for) before the handshake goes out now. */
    conn_wake(c, k);
}

/* One message per writable callback; once the queue is empty, the close asked for. */
static int on_writable(struct conn *k, struct lws *wsi)
{
    struct ws_client *c = k->c;
    struct out_msg *m;
    int more, close_code, n;
    char reason[CLOSE_REASON_MAX + 1];

    pthread_mutex_lock(&c->lock);
    m = k->out_head;
    if (m) {
        k->out_head = m->next;
        if (!k->out_head)
            k->out_tail = NULL;
        k->pending -= m->len;
    }
    more = k->out_head != NULL;
    close_code = k->close_code;
    memcpy(reason, k->close_reason, sizeof(reason));
    pthread_mutex_unlock(&c->lock);

    if (m) {
        /* lws keeps what the kernel does not take and sends it before anything else. */
        n = lws_write(wsi, m->data + LWS_PRE, m->len,
                      m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
        n = n < (int)m->len;
        free(m);
        if (n) {
            set_reason(k, "the connection failed while sending");
            mark_closing(k);
            return -1;
        }
        if (more || close_code)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (!close_code)
        return 0;
    k->how.by_us = 1;
    k->how.code = close_code;
    snprintf(k->how.reason, sizeof(k->how.reason), "%s", reason);
    lws_close_reason(wsi, (enum lws_close_status)close_code, (unsigned char *)reason,
                     strlen(reason));
    return -1; /* lws sends the close frame and waits (at most 5 s) for the peer's */
}

static int on_receive(struct conn *k, struct lws *wsi, const void *in, size_t len)
{
    static const char too_large[] = "message too large";
    int rc = buf_append(&k->rx, in, len);

    if (rc) {
        k->how.code = rc == SB_ETOOBIG ? LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE
                                       : LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
        if (rc == SB_ETOOBIG)
            set_reason(k, "a message went past %zu bytes", k->rx.max);
        else
            set_reason(k, "out of memory for a received message");
        lws_close_reason(wsi, (enum lws_close_status)k->how.code, (unsigned char *)too_large,
                         rc == SB_ETOOBIG ? sizeof(too_large) - 1 : 0);
        mark_closing(k);
        return -1;
    }
    /* The last frame of the message, and the last piece lws hands over of that frame. */
    if (!lws_is_final_fragment(wsi))
        return 0;
    if (k->on_message)
        k->on_message(k->arg, k->id, k->rx.data ? k->rx.data : "", k->rx.len,
                      lws_frame_is_binary(wsi));
    buf_reset(&k->rx);
    return 0;
}

/* The peer's close frame: two bytes of code (big-endian), then the reason. */
static void on_peer_close(struct conn *k, const unsigned char *in, size_t len)
{
    size_t n = len > 2 ? len - 2 : 0;

    mark_closing(k);
    if (k->how.code)
        return; /* we closed first: this is the peer's answer */
    k->how.code = len >= 2 ? (in[0] << 8) | in[1] : LWS_CLOSE_STATUS_NO_STATUS;
    n = n < sizeof(k->how.reason) ? n : sizeof(k->how.reason) - 1;
    memcpy(k->how.reason, n ? (const char *)in + 2 : "", n);
    k->how.reason[n] = '\0';
}

/* The connection or its handshake failed: `in` holds lws's words for it. */
static void on_connection_error(struct conn *k, struct lws *wsi, const char *in, size_t len)
{
    unsigned status = lws_http_client_http_response(wsi);
    int n = in ? (int)strnlen(in, len) : 0;

    mark_closing(k);
    if (status && status != 101) {
        k->how.http_status = (long)status;
        set_reason(k, "handshake refused with HTTP %u", status);
    } else if (n && strstr(in, "Unable to connect")) {
        set_reason(k, "cannot connect (refused or unreachable)");
    } else if (n && strcasestr(in, "ssl")) {
        set_reason(k, "tls failure: %.*s", n, in);
    } else if (n > 4 && strncmp(in, "HS: ", 4) == 0) {
        set_reason(k, "handshake failed: %.*s", n - 4, in + 4);
    } else {
        set_reason(k, "connection failed%s%.*s", n ? ": " : "", n, n ? in : "");
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct conn *k;

    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        drain_wakes(lws_context_user(lws_get_context(wsi)));
        return 0;
    }
    k = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    if (!k)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        return append_headers(k, wsi, in, len);
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        on_established(k->c, k);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(k, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writable(k, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        on_peer_close(k, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        on_connection_error(k, wsi, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        mark_closing(k);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        lws_set_opaque_user_data(wsi, NULL);
        k->wsi = NULL;
        if (k->in_connect)
            k->wsi_destroyed = 1;
        else
            conn_finish(k, 1);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {PROTOCOL_NAME, callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- the client thread ---- */

/*
 * Ends every connection at ws_client_free: those never started here; lws
 * ends the others as it destroys the context (CONNECTION_ERROR or
 * CLIENT_CLOSED, then WSI_DESTROY), without a close frame.
 */
static void teardown(struct ws_client *c)
{
    struct conn *k, *next;

    c->tearing_down = 1;
    pthread_mutex_lock(&c->lock);
    c->stopping = 1;
    for (k = c->wake_head; k; k = k->wake_next)
        k->woken = 0;
    c->wake_head = NULL;
    k = c->head;
    pthread_mutex_unlock(&c->lock);
    for (; k; k = next) {
        next = k->next;
        if (k->state == CONN_NEW)
            conn_finish(k, 1);
    }
    lws_context_destroy(c->ctx);
    /* Whatever lws did not report (it reports every wsi) still ends once. */
    while ((k = c->head) != NULL)
        conn_finish(k, 0);
}

static void *client_main(void *arg)
{
    struct ws_client *c = arg;
    int stop = 0;

    /* lws 4.1 ignores the timeout: each pass waits for a socket, a timer or a wake. */
    while (!stop) {
        pthread_mutex_lock(&c->lock);
        stop = c->stopping;
        pthread_mutex_unlock(&c->lock);
        if (!stop && lws_service(c->ctx, 0) < 0)
            stop = 1;
    }
    teardown(c);
    return NULL;
}

int ws_client_new(struct ws_client **out)
{
    struct lws_context_creation_info info;
    struct ws_client *c = calloc(1, sizeof(*c));
    sigset_t all, old;
    int rc;

    *out = NULL;
    if (!c || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return SB_ENOMEM;
    }
    c->next_id = 1;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = c;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT; /* lws makes the client TLS context */
    /* The system's CA store: lws adds OpenSSL's default paths; the bundle spares its warning. */
    if (access(CA_BUNDLE, R_OK) == 0)
        info.client_ssl_ca_filepath = CA_BUNDLE;
    info.pt_serv_buf_size = HANDSHAKE_ROOM;
    info.fd_limit_per_thread = MAX_SOCKETS;
    info.timeout_secs = LWS_OWN_TIMEOUT_S;
    info.connect_timeout_secs = LWS_OWN_TIMEOUT_S;
    c->ctx = lws_create_context(&info);
    rc = c->ctx ? 0 : -1;
    if (rc == 0) {
        /* Like the HTTP client: signals go to the thread that handles them. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        rc = pthread_create(&c->thread, NULL, client_main, c);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0)
            lws_context_destroy(c->ctx);
    }
    if (rc != 0) {
        pthread_mutex_destroy(&c->lock);
        free(c);
        return SB_ENOMEM;
    }
    *out = c;
    return 0;
}

void ws_client_free(struct ws_client *c)
{
    if (!c)
        return;
    /* Woken under the lock: the thread cannot have destroyed the context yet (wake_locked). */
    pthread_mutex_lock(&c->lock);
    if (!c->stopping)
        lws_cancel_service(c->ctx);
    c->stopping = 1;
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* ---- requests from any thread ---- */

/* Splits ws[s]://host[:port][/path][?query]: no user info, no byte outside 0x21-0x7e. */
static int parse_url(struct conn *k, const char *url)
{
    const char *auth, *end, *host, *host_end, *p;
    size_t n;
    char *e;
    long port;

    for (p = url; *p; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return SB_EINVAL;
    }
    k->tls = strncasecmp(url, "wss://", 6) == 0;
    if (!k->tls && strncasecmp(url, "ws://", 5) != 0)
        return SB_EINVAL;
    host = auth = url + (k->tls ? 6 : 5);
    end = auth + strcspn(auth, "/?#");
    if (*auth == '[') { /* an IPv6 address: lws wants it without the brackets */
        host = auth + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        p = host_end ? host_end + 1 : NULL;
    } else {
        host_end = p = auth + strcspn(auth, ":/?#");
    }
    if (!p || host_end == host || memchr(auth, '@', (size_t)(end - auth)))
        return SB_EINVAL;
    k->port = k->tls ? 443 : 80;
    if (p < end) {
        if (*p != ':' || !isdigit((unsigned char)p[1]))
            return SB_EINVAL;
        port = strtol(p + 1, &e, 10);
        if (e != end || port < 1 || port > 65535)
            return SB_EINVAL;
        k->port = (int)port;
    }
    /* The path as sent: a query alone gets its "/", a fragment is not sent. */
    n = strcspn(end, "#");
    k->host = strndup(host, (size_t)(host_end - host));
    k->authority = strndup(auth, (size_t)(end - auth));
    k->path = malloc(n + 2);
    if (!k->host || !k->authority || !k->path)
        return SB_ENOMEM;
    snprintf(k->path, n + 2, "%s%.*s", *end == '/' ? "" : "/", (int)n, end);
    return 0;
}

/* "Name: value" into "Name:" and the value without leading blanks; no CR or LF anywhere. */
static int parse_header(struct header *h, const char *line)
{
    const char *colon = line ? strchr(line, ':') : NULL;

    if (!colon || colon == line || strpbrk(line, "\r\n"))
        return SB_EINVAL;
    for (const char *p = line; p < colon; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return SB_EINVAL;
    }
    h->name = strndup(line, (size_t)(colon - line + 1));
    h->value = strdup(colon + 1 + strspn(colon + 1, " \t"));
    return h->name && h->value ? 0 : SB_ENOMEM;
}

static int conn_new(const struct ws_open *req, struct conn **out)
{
    struct conn *k = calloc(1, sizeof(*k));
    long timeout_ms =
        req->connect_timeout_ms ? req->connect_timeout_ms : WS_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS;
    int rc;

    *out = NULL;
    if (!k)
        return SB_ENOMEM;
    buf_init(&k->rx, req->max_message ? req->max_message : WS_CLIENT_DEFAULT_MAX_MESSAGE);
    rc = parse_url(k, req->url);
    if (rc == 0 && req->nheaders) {
        k->headers = calloc(req->nheaders, sizeof(*k->headers));
        rc = k->headers ? 0 : SB_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < req->nheaders; i++) {
        rc = parse_header(&k->headers[i], req->headers[i]);
        k->nheaders = i + 1;
    }
    if (rc) {
        conn_free(k);
        return rc;
    }
    k->connect_timeout_us = (lws_usec_t)timeout_ms * LWS_US_PER_MS;
    k->max_pending = req->max_pending ? req->max_pending : WS_CLIENT_DEFAULT_MAX_PENDING;
    k->on_open = req->on_open;
    k->on_message = req->on_message;
    k->on_close = req->on_close;
    k->arg = req->arg;
    *out = k;
    return 0;
}

/*
 * Puts a connection on the wake list and wakes the client thread. Under the
 * lock, so that the context cannot be destroyed meanwhile: the thread only
 * destroys it after seeing `stopping`, which is set under the same lock.
 */
static void wake_locked(struct ws_client *c, struct conn *k)
{
    if (!k->woken) {
        k->woken = 1;
        k->wake_next = c->wake_head;
        c->wake_head = k;
    }
    if (!c->stopping)
        lws_cancel_service(c->ctx);
}

static struct conn *find_locked(struct ws_client *c, uint64_t id)
{
    struct conn *k = c->head;

    while (k && k->id != id)
        k = k->next;
    return k;
}

int ws_client_open(struct ws_client *c, const struct ws_open *req, uint64_t *id)
{
    struct conn *k = NULL;
    int rc;

    if (id)
        *id = 0;
    if (!c || !req || !req->url || !req->on_close || (req->nheaders && !req->headers) ||
        req->connect_timeout_ms < 0)
        return SB_EINVAL;
    rc = conn_new(req, &k);
    if (rc)
        return rc;
    k->c = c;
    pthread_mutex_lock(&c->lock);
    if (c->stopping) {
        rc = SB_ECLOSED;
    } else {
        k->id = c->next_id++;
        k->next = c->head;
        if (c->head)
            c->head->prev = k;
        c->head = k;
        if (id)
            *id = k->id;
        wake_locked(c, k);
    }
    pthread_mutex_unlock(&c->lock);
    /* From here on k may already be finished and freed by the client thread. */
    if (rc)
        conn_free(k);
    return rc;
}

int ws_client_send(struct ws_client *c, uint64_t id, const void *data, size_t len, int binary)
{
    struct out_msg *m;
    struct conn *k;
    int rc = 0;

    if (!c || (len && !data) || (binary && len == 0))
        return SB_EINVAL;
    /* lws_write counts a frame's bytes in an int. */
    if (len > (size_t)0x7fffffff - LWS_PRE)
        return SB_EBUSY;
    m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m)
        return SB_ENOMEM;
    m->next = NULL;
    m->len = len;
    m->binary = binary != 0;
    if (len)
        memcpy(m->data + LWS_PRE, data, len);

    pthread_mutex_lock(&c->lock);
    k = find_locked(c, id);
    if (!k || k->closing)
        rc = SB_ENOTFOUND;
    else if (len > k->max_pending - k->pending)
        rc = SB_EBUSY;
    if (rc == 0) {
        /* Only a message that starts the queue needs a wake: later ones follow it. */
        if (!k->out_head)
            wake_locked(c, k);
        if (k->out_tail)
            k->out_tail->next = m;
        else
            k->out_head = m;
        k->out_tail = m;
        k->pending += len;
    }
    pthread_mutex_unlock(&c->lock);
    if (rc)
        free(m);
    return rc;
}

/* Codes an endpoint may send (RFC 6455, 7.4): 1004-1006 and 1015 only report. */
static int sendable_code(int code)
{
    return code >= 1000 && code <= 4999 && code != 1004 && code != 1005 && code != 1006 &&
           code != 1015;
}

int ws_client_close(struct ws_client *c, uint64_t id, int code, const char *reason)
{
    struct conn *k;
    size_t n = reason ? strlen(reason) : 0;
    int rc = 0;

    code = code ? code : LWS_CLOSE_STATUS_NORMAL;
    if (!c || !sendable_code(code))
        return SB_EINVAL;
    /* Cut to fit the frame, never inside a UTF-8 character. */
    if (n > CLOSE_REASON_MAX) {
        n = CLOSE_REASON_MAX;
        while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
            n--;
    }
    pthread_mutex_lock(&c->lock);
    k = find_locked(c, id);
    if (!k || k->closing) {
        rc = SB_ENOTFOUND;
    } else {
        k->closing = 1;
        k->close_code = code;
        memcpy(k->close_reason, reason ? reason : "", n);
        k->close_reason[n] = '\0';
        wake_locked(c, k);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}
