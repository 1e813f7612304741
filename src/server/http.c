/*
 * HTTP/1.1 on libwebsockets: method and path checks, the body cap, and
 * writing replies. What a request means is decided in dispatch.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "net/http_method.h"
#include "net/http_reply.h"
#include "server/api.h"
#include "server/conn_limits.h"
#include "server/conversations.h"
#include "server/relay.h"
#include "server/routes_watch.h"
#include "server/server_internal.h"
#include "server/stream.h"
#include "server/stream_cloud.h"
#include "server/stream_listen.h"
#include "core/banned.h"

/* Longest request path answered; longer ones get 414 (lws holds at most HTTP_MAX_HEADERS). */
#define HTTP_MAX_PATH 2048

/* Ends the request's accounting: metrics and the in-flight count. */
static void session_finish(struct http_session *sess, int status)
{
    struct server *srv = sess->srv;

    if (!sess->active)
        return;
    sess->active = 0;
    __atomic_sub_fetch(&srv->inflight, 1, __ATOMIC_RELAXED);
    metrics_request(&srv->metrics, sess->endpoint ? sess->endpoint->name : "other", status,
                    (double)(clock_mono_us() - sess->started_us) / 1e6);
}

/*
 * Writes status line, headers and body in one send. Returns 0 to keep the
 * connection for the next request, -1 to close it.
 */
static int write_reply(struct lws *wsi, struct http_session *sess, const struct reply *r,
                       const char *allow)
{
    unsigned char *out = sess->srv->out_buf;
    unsigned char *start = out + LWS_PRE, *p = start;
    /* The head may use what the body leaves; the body is capped at HTTP_MAX_BODY. */
    unsigned char *end = out + sizeof(sess->srv->out_buf);
    size_t body_len = r->body ? r->len : 0;
    /*
     * An error to a request that had a body closes the connection: lws 4.1
     * spins on a connection whose short body was followed by a pipelined
     * request once that one is answered too, and a peer that sends bad
     * requests gets no second one on the same socket. Twilio's signed
     * webhooks are answered 2xx and keep their connection.
     */
    int close_after =
        sess->close_after || sess->srv->draining || (r->status >= 400 && sess->body.len > 0);
    struct net_http_head head;

    if (body_len > HTTP_MAX_BODY)
        body_len = 0;
    memset(&head, 0, sizeof(head));
    head.status = r->status;
    head.content_type = r->content_type;
    head.content_length = body_len;
    head.allow = allow;
    /* RFC 9110 11.6.1: a 401 says which scheme it wants. */
    head.authenticate = r->status == 401 ? "Bearer realm=\"switchboard\"" : NULL;
    head.close = close_after;
    /* TwiML is what a call's webhooks get: the cookie keeps the call's next ones here. */
    if (sess->srv->cfg->instance_cookie[0] && r->content_type &&
        strncmp(r->content_type, "text/xml", 8) == 0)
        head.set_cookie = sess->srv->cfg->instance_cookie;
    if (net_http_write_head(wsi, &head, &p, end - body_len - 1))
        return -1;
    if (body_len) {
        memcpy(p, r->body, body_len);
        p += body_len;
    }
    session_finish(sess, r->status);
    if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) < 0)
        return -1;
    if (close_after)
        return -1;
    /* From here on `sess` may be freed: lws re-creates it for the next request. */
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void http_answer_detached(int fd, const struct reply *r)
{
    char head[256];
    size_t body_len = r->body ? r->len : 0;
    int n;

    char clen[48] = "";

    /* RFC 9110 8.6: no Content-Length on a 204. */
    if (r->status != 204)
        snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", body_len);
    n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%s%s%s%sConnection: close\r\n\r\n",
                 r->status, net_http_reason(r->status), r->content_type ? "Content-Type: " : "",
                 r->content_type ? r->content_type : "", r->content_type ? "\r\n" : "", clen);
    /* A short answer on a socket that has sent nothing back yet: the kernel takes it whole. */
    if (n > 0 && (size_t)n < sizeof(head) && write(fd, head, (size_t)n) == n && body_len)
        (void)!write(fd, r->body, body_len);
    close(fd);
}

/* Answers with a plain-text error, or the API's JSON one on its paths. */
static int reply_error(struct lws *wsi, struct http_session *sess, int status, const char *msg,
                       const char *allow)
{
    struct reply r = REPLY_INIT;
    int rc;

    log_event(LOG_INFO, "http.error", "status=%d path=%s", status, sess->path);
    if (api_path(sess->path)) {
        (void)!api_error_reply(&r, status, NULL, NULL, msg);
        rc = write_reply(wsi, sess, &r, allow);
        reply_release(&r);
        return rc;
    }
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = (char *)msg;
    r.len = strlen(msg);
    return write_reply(wsi, sess, &r, allow);
}

/* Sends sess->reply (filled by dispatch or a writer completion) and frees it. */
static int send_session_reply(struct lws *wsi, struct http_session *sess)
{
    struct reply r = sess->reply;
    int rc;

    if (!sess->reply_ready)
        return 0;
    /* Detach first: lws may free the session while it completes the transaction. */
    sess->reply_ready = 0;
    sess->reply = (struct reply)REPLY_INIT;
    rc = write_reply(wsi, sess, &r, NULL);
    reply_release(&r);
    return rc;
}

static void keep_socket_for_answer(struct lws *wsi, struct pending *p);

/* Runs the request; a deferred answer is also tied to the socket (struct conn_info). */
static void dispatch(struct http_session *sess, struct lws *wsi)
{
    struct conn_info *ci;

    dispatch_request(sess, wsi);
    ci = sess->pending ? conn_info_of(wsi) : NULL;
    if (ci)
        ci->pending = sess->pending;
}

static void body_deadline_cancel(struct http_session *sess)
{
    deadline_queue_remove(&sess->body_deadline);
}

static void session_reset(struct http_session *sess, struct server *srv, struct lws *wsi)
{
    body_deadline_cancel(sess);
    buf_release(&sess->body);
    reply_release(&sess->reply);
    memset(sess, 0, sizeof(*sess));
    sess->srv = srv;
    sess->wsi = wsi;
    buf_init(&sess->body, HTTP_MAX_BODY);
}

/* The body did not arrive in time: answer 408 and drop the connection. */
void http_body_deadline_expired(struct deadline_entry *e)
{
    struct http_session *sess = lws_container_of(e, struct http_session, body_deadline);
    struct lws *wsi = sess->wsi;
    char msg[128];

    snprintf(msg, sizeof(msg), "error: request body did not arrive within %d s\n",
             sess->srv->cfg->body_timeout_s);
    sess->close_after = 1;
    sess->body_late = 1;
    reply_error(wsi, sess, 408, msg, NULL);
    /*
     * lws re-arms its content timeout on each body byte, which could undo an
     * asynchronous kill before lws's once-a-second check runs: so the next
     * byte (on_body) or writable callback closes the connection too.
     */
    lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
    lws_callback_on_writable(wsi);
}

/*
 * lws 4.1 mishandles a request with a body that was already in its buffer
 * when the previous answer went out (a pipelined request): it feeds the
 * request's own bytes, from its request line on, to the body callback and
 * then spins on the rest. So a first body chunk that starts with a request
 * line ("POST ", which no form or JSON body can start with) closes the
 * connection after the answers already sent, as HTTP/1.1 allows (RFC 9112,
 * 9.3.2). Requests without a body are not affected and are answered in
 * order; an error answered before a body is read closes the connection
 * (see on_request), so only this path reads bodies.
 */
static int pipelined_with_body(const struct http_session *sess, const void *in, size_t len)
{
    static const char line[] = "POST ";

    return sess->body.len == 0 && len >= sizeof(line) - 1 &&
           memcmp(in, line, sizeof(line) - 1) == 0;
}

/* Checks framing headers lws does not: returns 0, or answers and returns its result. */
static int check_framing(struct lws *wsi, struct http_session *sess, int *rc)
{
    char te[64];
    int has_len = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;

    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) <= 0)
        return 0;
    /* Whatever we answer, the body's framing is unknown: the connection cannot go on. */
    sess->close_after = 1;
    if (has_len) {
        *rc = reply_error(wsi, sess, 400,
                          "error: a request may not have both Content-Length and "
                          "Transfer-Encoding\n",
                          NULL);
        return 1;
    }
    if (lws_hdr_copy(wsi, te, sizeof(te), WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 &&
        strcasestr(te, "chunked")) {
        *rc = reply_error(wsi, sess, 411,
                          "error: chunked request bodies are not accepted; send the body "
                          "with a Content-Length header\n",
                          NULL);
        return 1;
    }
    *rc = reply_error(wsi, sess, 501, "error: this Transfer-Encoding is not supported\n", NULL);
    return 1;
}

/* Starts a request once its headers are in: route, method and size checks. */
static int on_request(struct lws *wsi, struct http_session *sess, const char *path)
{
    struct server *srv = lws_context_user(lws_get_context(wsi));
    const char *method;
    const struct endpoint *ep;
    char msg[384];
    enum net_http_body body;
    struct conn_info *ci;
    int rc = 0, max_body;

    /*
     * A request pipelined behind one whose answer is still deferred (the
     * placer or the writer has it): lws 4.1 parses it from its buffer at
     * once, with fresh session data, and would go on doing so. The waiting
     * answer keeps the socket (as for a half-closed client) and is written
     * there when it comes; this request is never read, and lws closes the
     * connection.
     */
    ci = conn_info_of(wsi);
    if (ci && ci->pending) {
        log_event(LOG_INFO, "http.pipeline_closed",
                  "path=%.200s reason=\"a request was pipelined behind an answer not yet sent\"",
                  path);
        keep_socket_for_answer(wsi, ci->pending);
        ci->pending->orphaned = 1;
        ci->pending = NULL;
        return -1;
    }
    session_reset(sess, srv, wsi);
    sess->started_us = clock_mono_us();
    sess->active = 1;
    __atomic_add_fetch(&srv->inflight, 1, __ATOMIC_RELAXED);
    snprintf(sess->path, sizeof(sess->path), "%s", path);
    method = net_http_method(wsi);
    ep = endpoint_find(path);
    sess->endpoint = ep;
    max_body = api_path(path) ? API_MAX_BODY : HTTP_MAX_BODY;
    body = net_http_body_check(wsi, (unsigned long long)max_body);
    /* An answer before the body is read ends the connection: its bytes would be taken for a
     * request. */
    if (body != NET_HTTP_BODY_NONE)
        sess->close_after = 1;
    if (check_framing(wsi, sess, &rc))
        return rc;
    if (srv->draining) {
        sess->close_after = 1;
        return reply_error(wsi, sess, 503, "error: server is shutting down\n", NULL);
    }
    if (strlen(path) > HTTP_MAX_PATH) {
        snprintf(msg, sizeof(msg), "error: request path is longer than %d bytes\n", HTTP_MAX_PATH);
        sess->close_after = 1;
        return reply_error(wsi, sess, 414, msg, NULL);
    }
    if (!ep) {
        snprintf(msg, sizeof(msg), "error: no such path '%.300s'\n", path);
        return reply_error(wsi, sess, 404, msg, NULL);
    }
    if (strcmp(method, ep->post ? "POST" : "GET") != 0) {
        snprintf(msg, sizeof(msg), "error: method %s is not allowed on %s; use %s\n", method,
                 ep->path, ep->post ? "POST" : "GET");
        return reply_error(wsi, sess, 405, msg, ep->post ? "POST" : "GET");
    }
    /* The API's key (and a POST's type and length) before a byte of its body is read. */
    if (api_path(path) && api_precheck(sess, wsi))
        return send_session_reply(wsi, sess);
    if (!ep->post) {
        dispatch(sess, wsi);
        return send_session_reply(wsi, sess);
    }
    if (body == NET_HTTP_BODY_TOO_BIG) {
        /* Refuse before reading: the client learns at once, and we hold nothing. */
        sess->close_after = 1;
        snprintf(msg, sizeof(msg), "error: request body exceeds %d bytes\n", max_body);
        return reply_error(wsi, sess, 413, msg, NULL);
    }
    if (body == NET_HTTP_BODY_NONE) {
        /* No body is coming: lws will not call BODY_COMPLETION. */
        dispatch(sess, wsi);
        return send_session_reply(wsi, sess);
    }
    sess->close_after = 0; /* the body is read: the connection may carry the next request */
    deadline_queue_add(&srv->body_deadlines, &sess->body_deadline);
    return 0;
}

static int on_body(struct lws *wsi, struct http_session *sess, const void *in, size_t len)
{
    /* Answered 408 already: close at this byte rather than wait for lws's timeout check. */
    if (sess->body_late)
        return -1;
    if (sess->body_error)
        return 0;
    if (pipelined_with_body(sess, in, len)) {
        log_event(LOG_INFO, "http.pipeline_closed",
                  "path=%.200s reason=\"a request with a body was pipelined behind an answer\"",
                  sess->path);
        sess->close_after = 1;
        return -1;
    }
    if (buf_append(&sess->body, in, len) == SB_ETOOBIG)
        sess->body_error = 1;
    return 0;
}

static int on_body_complete(struct lws *wsi, struct http_session *sess)
{
    char msg[128];

    /*
     * Called again for a request whose answer is already deferred: lws 4.1
     * does so over and over while a pipelined request waits in its buffer.
     * The waiting answer keeps the socket (as for a half-closed client),
     * the pipelined request is never read, and the connection closes.
     */
    if (sess->pending) {
        struct conn_info *ci = conn_info_of(wsi);

        log_event(LOG_INFO, "http.pipeline_closed",
                  "path=%.200s reason=\"a request was pipelined behind an answer not yet sent\"",
                  sess->path);
        if (ci && ci->pending == sess->pending)
            ci->pending = NULL;
        keep_socket_for_answer(wsi, sess->pending);
        sess->pending->orphaned = 1;
        sess->pending = NULL;
        sess->close_after = 1;
        return -1;
    }

    body_deadline_cancel(sess);
    if (sess->body_error) {
        sess->close_after = 1;
        snprintf(msg, sizeof(msg), "error: request body exceeds %d bytes\n", HTTP_MAX_BODY);
        return reply_error(wsi, sess, 413, msg, NULL);
    }
    dispatch(sess, wsi);
    return send_session_reply(wsi, sess);
}

/*
 * lws 4.1 closes a connection as soon as it reads the end of the client's
 * stream, even when the client only shut down its sending side and still
 * waits for the answer (a status callback waiting for its commit). lws then
 * also shuts the socket down for writing. So the socket is taken away from
 * lws first: a duplicate descriptor keeps it for the answer, and lws's
 * descriptor number is pointed at a fresh unconnected socket, which is what
 * lws then shuts down and closes.
 */
static void keep_socket_for_answer(struct lws *wsi, struct pending *p)
{
    int fd = lws_get_socket_fd(wsi);
    int kept, dummy;

    if (fd < 0)
        return;
    kept = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (kept < 0)
        return;
    dummy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (dummy < 0 || dup3(dummy, fd, O_CLOEXEC) < 0) {
        if (dummy >= 0)
            close(dummy);
        close(kept);
        return;
    }
    close(dummy);
    p->detached = 1;
    p->detached_fd = kept;
}

/* The connection is going away: a writer completion must not touch it later. */
static void on_close(struct lws *wsi, struct http_session *sess)
{
    if (!sess || !sess->srv)
        return;
    body_deadline_cancel(sess);
    if (sess->pending) {
        struct conn_info *ci = conn_info_of(wsi);

        if (ci && ci->pending == sess->pending)
            ci->pending = NULL;
        sess->pending->orphaned = 1;
        keep_socket_for_answer(wsi, sess->pending);
        sess->pending = NULL;
    }
    if (sess->active) {
        sess->active = 0;
        __atomic_sub_fetch(&sess->srv->inflight, 1, __ATOMIC_RELAXED);
    }
    buf_release(&sess->body);
    reply_release(&sess->reply);
}

int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct http_session *sess = user;
    struct server *srv;

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        srv = lws_context_user(lws_get_context(wsi));
        return srv ? conn_limits_filter(srv, user, (int)(lws_intptr_t)in) : 0;
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        srv = lws_context_user(lws_get_context(wsi));
        if (srv) {
            __atomic_add_fetch(&srv->accepted, 1, __ATOMIC_RELAXED);
            conn_limits_created(srv, wsi);
        }
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        srv = lws_context_user(lws_get_context(wsi));
        if (srv)
            conn_limits_destroyed(srv, wsi);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        srv = lws_context_user(lws_get_context(wsi));
        if (!in || strcmp((const char *)in, "websocket") != 0)
            return -1;
        return stream_confirm_upgrade(srv, wsi);
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_CLOSED:
        srv = lws_context_user(lws_get_context(wsi));
        if (reason == LWS_CALLBACK_ESTABLISHED) {
            char path[32];

            memset(sess, 0, sizeof(*sess));
            /* The upgrade was checked for one of the two paths (stream_confirm_upgrade). */
            sess->is_relay = lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) > 0 &&
                             strcmp(path, "/voice/relay") == 0;
        }
        if (sess->is_relay)
            return relay_callback(srv, wsi, reason, &sess->relay, in, len);
        return stream_callback(srv, wsi, reason, &sess->stream, in, len);
    case LWS_CALLBACK_HTTP:
        return on_request(wsi, sess, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        return on_body(wsi, sess, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        /* Answer here: falling through to the dummy handler ends the transaction. */
        return on_body_complete(wsi, sess);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (sess && sess->body_late)
            return -1;
        return send_session_reply(wsi, sess);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        on_close(wsi, sess);
        break;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        srv = lws_context_user(lws_get_context(wsi));
        if (srv) {
            server_adopt_routes(srv);
            if (routes_watch_take(srv->routes_watch, &srv->routes_seen) && !srv->draining)
                server_refresh_routes(srv, "notify");
            server_take_handoffs(srv);
            stream_take_replacements(srv);
            server_drain_completions(srv);
            conversations_drain(srv);
            stream_drain_tts(srv);
            stream_listen_drain(srv);
            stream_cloud_drain(srv);
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/*
 * A request whose first word is no HTTP method lws knows (TRACE, PROPFIND,
 * a TLS hello sent to a plain port, garbage) is handed here as raw bytes
 * (LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG) instead of
 * lws's own HTML 403: it gets a plain-text 501 or 400 and the connection
 * closes. Only the method token is looked at; nothing else is parsed.
 */
int http_fallback_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len)
{
    unsigned char out[LWS_PRE + 512];
    char method[17], body[160];
    const unsigned char *p = in;
    size_t n = 0;
    int status, hlen;

    if (reason != LWS_CALLBACK_RAW_RX)
        return 0;
    while (n < len && n < sizeof(method) - 1 && p[n] >= 'A' && p[n] <= 'Z') {
        method[n] = (char)p[n];
        n++;
    }
    method[n] = '\0';
    if (n > 0 && n < len && p[n] == ' ') {
        status = 501;
        snprintf(body, sizeof(body), "error: method %s is not supported; use GET or POST\n",
                 method);
    } else {
        status = 400;
        snprintf(body, sizeof(body), "error: malformed request: not HTTP/1.1\n");
    }
    log_event(LOG_INFO, "http.error", "status=%d method=%s", status, n ? method : "-");
    hlen = snprintf((char *)out + LWS_PRE, sizeof(out) - LWS_PRE,
                    "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                    status, status == 501 ? "Not Implemented" : "Bad Request", strlen(body), body);
    if (hlen > 0 && (size_t)hlen < sizeof(out) - LWS_PRE)
        lws_write(wsi, out + LWS_PRE, (size_t)hlen, LWS_WRITE_RAW);
    return -1; /* close */
}
