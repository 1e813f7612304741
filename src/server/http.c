/*
 * HTTP/1.1 on libwebsockets: method and path checks, the body cap, and
 * writing replies. What a request means is decided in dispatch.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "net/http_method.h"
#include "server/server_internal.h"
#include "server/stream.h"

/* Replies are written from one loop-thread buffer with room for lws's prefix. */
static unsigned char out_buf[LWS_PRE + 2048 + HTTP_MAX_BODY + 1024];

/* Ends the request's accounting: metrics and the in-flight count. */
static void session_finish(struct http_session *sess, int status)
{
    struct server *srv = sess->srv;

    if (!sess->active)
        return;
    sess->active = 0;
    srv->inflight--;
    metrics_request(&srv->metrics, sess->endpoint ? sess->endpoint->name : "other", status,
                    (double)(server_now_us() - sess->started_us) / 1e6);
}

/*
 * Writes status line, headers and body in one send. Returns 0 to keep the
 * connection for the next request, -1 to close it.
 */
static int write_reply(struct lws *wsi, struct http_session *sess, const struct reply *r,
                       const char *allow)
{
    unsigned char *start = out_buf + LWS_PRE, *p = start;
    unsigned char *end = out_buf + sizeof(out_buf) - 1;
    size_t body_len = r->body ? r->len : 0;
    int close_after = sess->close_after || sess->srv->draining;

    if (body_len > HTTP_MAX_BODY)
        body_len = 0;
    if (r->status == 204) {
        /* lws's status table has no reason phrase for 204. */
        static const char line[] = "HTTP/1.1 204 No Content\r\n";

        memcpy(p, line, sizeof(line) - 1);
        p += sizeof(line) - 1;
    } else if (lws_add_http_header_status(wsi, (unsigned int)r->status, &p, end)) {
        return -1;
    }
    if (r->content_type && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                                        (const unsigned char *)r->content_type,
                                                        (int)strlen(r->content_type), &p, end))
        return -1;
    if (r->status != 204 && lws_add_http_header_content_length(wsi, body_len, &p, end))
        return -1;
    if (allow && lws_add_http_header_by_name(
                     wsi, (const unsigned char *)"allow:", (const unsigned char *)allow,
                     (int)strlen(allow), &p, end))
        return -1;
    if (close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                                    (const unsigned char *)"close", 5, &p, end))
        return -1;
    if (lws_finalize_http_header(wsi, &p, end))
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
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Answers with a plain-text error. */
static int reply_error(struct lws *wsi, struct http_session *sess, int status, const char *msg,
                       const char *allow)
{
    struct reply r = REPLY_INIT;

    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = (char *)msg;
    r.len = strlen(msg);
    log_event(LOG_INFO, "http.error", "status=%d path=%s", status, sess->path);
    return write_reply(wsi, sess, &r, allow);
}

/* Sends sess->reply (filled by dispatch or a writer completion) and frees it. */
static int send_session_reply(struct lws *wsi, struct http_session *sess)
{
    int rc;

    struct reply r = sess->reply;

    if (!sess->reply_ready)
        return 0;
    /* Detach first: lws may free the session while it completes the transaction. */
    sess->reply_ready = 0;
    sess->reply = (struct reply)REPLY_INIT;
    rc = write_reply(wsi, sess, &r, NULL);
    reply_release(&r);
    return rc;
}

static void session_reset(struct http_session *sess, struct server *srv)
{
    buf_release(&sess->body);
    reply_release(&sess->reply);
    memset(sess, 0, sizeof(*sess));
    sess->srv = srv;
    buf_init(&sess->body, HTTP_MAX_BODY);
}

/* Starts a request once its headers are in: route, method and size checks. */
static int on_request(struct lws *wsi, struct http_session *sess, const char *path)
{
    struct server *srv = lws_context_user(lws_get_context(wsi));
    const char *method;
    const struct endpoint *ep;
    char msg[384];
    char clen[32];

    session_reset(sess, srv);
    sess->started_us = server_now_us();
    sess->active = 1;
    srv->inflight++;
    snprintf(sess->path, sizeof(sess->path), "%s", path);
    method = net_http_method(wsi);
    ep = endpoint_find(path);
    sess->endpoint = ep;
    if (srv->draining) {
        sess->close_after = 1;
        return reply_error(wsi, sess, 503, "error: server is shutting down\n", NULL);
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
    if (!ep->post) {
        dispatch_request(sess, wsi);
        return send_session_reply(wsi, sess);
    }
    if (lws_hdr_copy(wsi, clen, sizeof(clen), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
        strtoull(clen, NULL, 10) > HTTP_MAX_BODY) {
        /* Refuse before reading: the client learns at once, and we hold nothing. */
        sess->close_after = 1;
        snprintf(msg, sizeof(msg), "error: request body exceeds %d bytes\n", HTTP_MAX_BODY);
        return reply_error(wsi, sess, 413, msg, NULL);
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
        strtoull(clen, NULL, 10) == 0) {
        /* No body is coming: lws will not call BODY_COMPLETION. */
        dispatch_request(sess, wsi);
        return send_session_reply(wsi, sess);
    }
    return 0;
}

static int on_body(struct lws *wsi, struct http_session *sess, const void *in, size_t len)
{
    if (sess->body_error)
        return 0;
    if (buf_append(&sess->body, in, len) == SB_ETOOBIG)
        sess->body_error = 1;
    return 0;
}

static int on_body_complete(struct lws *wsi, struct http_session *sess)
{
    char msg[128];

    if (sess->body_error) {
        sess->close_after = 1;
        snprintf(msg, sizeof(msg), "error: request body exceeds %d bytes\n", HTTP_MAX_BODY);
        return reply_error(wsi, sess, 413, msg, NULL);
    }
    dispatch_request(sess, wsi);
    return send_session_reply(wsi, sess);
}

/* The connection is going away: a writer completion must not touch it later. */
static void on_close(struct http_session *sess)
{
    if (!sess || !sess->srv)
        return;
    if (sess->pending) {
        sess->pending->orphaned = 1;
        sess->pending = NULL;
    }
    if (sess->active) {
        sess->active = 0;
        sess->srv->inflight--;
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
        if (reason == LWS_CALLBACK_ESTABLISHED)
            memset(sess, 0, sizeof(*sess));
        return stream_callback(srv, wsi, reason, &sess->stream, in, len);
    case LWS_CALLBACK_HTTP:
        return on_request(wsi, sess, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        return on_body(wsi, sess, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        /* Answer here: falling through to the dummy handler ends the transaction. */
        return on_body_complete(wsi, sess);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return send_session_reply(wsi, sess);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        on_close(sess);
        break;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        srv = lws_context_user(lws_get_context(wsi));
        if (srv) {
            server_drain_completions(srv);
            stream_drain_tts(srv);
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
