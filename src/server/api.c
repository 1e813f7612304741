#include "server/api.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/log.h"
#include "server/outbound.h"
#include "store/jobs.h"
#include "voice/call_check.h"
#include "voice/call_request.h"
#include "server/server_internal.h"
#include "core/banned.h"

#define CALLS_PATH "/api/v1/calls"
#define JSON_TYPE "application/json"

int api_path(const char *path)
{
    return path && strncmp(path, API_PATH_PREFIX, sizeof(API_PATH_PREFIX) - 1) == 0;
}

/* The code an error has when nothing more precise is known: the status's name. */
static const char *status_code(int status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthorized";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 408:
        return "request_timeout";
    case 409:
        return "conflict";
    case 411:
        return "length_required";
    case 413:
        return "body_too_large";
    case 414:
        return "path_too_long";
    case 415:
        return "unsupported_media_type";
    case 422:
        return "unprocessable";
    case 501:
        return "not_implemented";
    case 503:
        return "unavailable";
    default:
        return "error";
    }
}

/* Takes `o` (decref'd): its compact text becomes r's body. */
static int json_reply(struct reply *r, int status, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    reply_release(r);
    r->status = status;
    if (!text)
        return SB_ENOMEM;
    r->content_type = JSON_TYPE;
    r->body = text;
    r->len = strlen(text);
    return 0;
}

int api_error_reply(struct reply *r, int status, const char *code, const char *field,
                    const char *message)
{
    json_t *err = json_object(), *o = json_object();
    size_t len = message ? strlen(message) : 0;
    int bad = 0;

    /* http.c's plain-text messages end in a newline; a JSON string needs none. */
    while (len && (message[len - 1] == '\n' || message[len - 1] == '\r'))
        len--;
    if (!err || !o) {
        json_decref(err);
        json_decref(o);
        return json_reply(r, status, NULL);
    }
    /* json_object_set_new takes its value even when it fails. */
    bad |= json_object_set_new(err, "code", json_string(code ? code : status_code(status))) != 0;
    bad |= json_object_set_new(err, "message", json_stringn(message ? message : "", len)) != 0;
    bad |= json_object_set_new(err, "field", field ? json_string(field) : json_null()) != 0;
    bad |= json_object_set_new(o, "error", err) != 0;
    if (bad) {
        json_decref(o);
        return json_reply(r, status, NULL);
    }
    return json_reply(r, status, o);
}

/* An error answered now, the message formatted as "error: ...". */
static void fail(struct http_session *sess, int status, const char *code, const char *field,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail(struct http_session *sess, int status, const char *code, const char *field,
                 const char *fmt, ...)
{
    char msg[CALL_CHECK_MESSAGE_SIZE + 32];
    va_list ap;
    int n = snprintf(msg, sizeof(msg), "error: ");

    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    (void)!api_error_reply(&sess->reply, status, code, field, msg);
    sess->reply_ready = 1;
}

/* ---- before the body ---- */

/*
 * The tenant of the request's key, read on the loop's connection: one
 * indexed row by the key's SHA-256. Neither the key nor a part of it is
 * logged.
 */
static int authorize(struct http_session *sess, struct lws *wsi)
{
    char header[160];
    const char *key;
    int n = lws_hdr_copy(wsi, header, sizeof(header), WSI_TOKEN_HTTP_AUTHORIZATION);
    int rc;

    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) <= 0) {
        log_event(LOG_INFO, "api.unauthorized", "path=%.200s reason=\"no Authorization\"",
                  sess->path);
        fail(sess, 401, "unauthorized", NULL,
             "missing Authorization header; send Authorization: Bearer sb_... with a key from "
             "switchboard apikeys create");
        return 1;
    }
    if (n <= 0 || strncasecmp(header, "Bearer ", 7) != 0) {
        log_event(LOG_INFO, "api.unauthorized", "path=%.200s reason=\"not a Bearer key\"",
                  sess->path);
        fail(sess, 401, "unauthorized", NULL,
             "the Authorization header must be Bearer and an API key (sb_...)");
        return 1;
    }
    key = header + 7;
    while (*key == ' ')
        key++;
    rc = api_key_verify(sess->srv->store, key, sess->api_tenant, NULL);
    if (rc == SB_ENOTFOUND) {
        log_event(LOG_INFO, "api.unauthorized", "path=%.200s reason=\"unknown or revoked key\"",
                  sess->path);
        fail(sess, 401, "unauthorized", NULL, "the API key is unknown or revoked");
        return 1;
    }
    if (rc) {
        log_event(LOG_ERROR, "api.store_failed", "path=%.200s error=\"%s\"", sess->path,
                  sb_strerror(rc));
        fail(sess, 503, "store_unavailable", NULL, "the store cannot check the API key now; retry");
        return 1;
    }
    return 0;
}

/* application/json, with no charset or utf-8 (RFC 8259: JSON is UTF-8). */
static int json_content_type(struct lws *wsi)
{
    char ct[128];
    const char *charset;

    if (lws_hdr_copy(wsi, ct, sizeof(ct), WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
        return 0;
    if (strncasecmp(ct, JSON_TYPE, sizeof(JSON_TYPE) - 1) != 0)
        return 0;
    if (ct[sizeof(JSON_TYPE) - 1] != '\0' && ct[sizeof(JSON_TYPE) - 1] != ';' &&
        ct[sizeof(JSON_TYPE) - 1] != ' ')
        return 0;
    charset = strcasestr(ct, "charset=");
    if (!charset)
        return 1;
    charset += 8;
    if (*charset == '"')
        charset++;
    return strncasecmp(charset, "utf-8", 5) == 0;
}

int api_precheck(struct http_session *sess, struct lws *wsi)
{
    if (authorize(sess, wsi))
        return 1;
    if (!sess->endpoint->post)
        return 0;
    if (!json_content_type(wsi)) {
        fail(sess, 415, "unsupported_media_type", NULL,
             "Content-Type must be application/json (UTF-8)");
        return 1;
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 &&
        lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) <= 0) {
        fail(sess, 411, "length_required", NULL,
             "a Content-Length header is required (the JSON body's size in bytes)");
        return 1;
    }
    return 0;
}

/* ---- POST /api/v1/calls ---- */

/* What the placer said, as HTTP: built on the placer's thread, handed to the loop. */
static void call_done(void *arg, const struct outbound_call_result *res)
{
    struct pending *p = arg;
    struct reply r = REPLY_INIT;
    char msg[CALL_CHECK_MESSAGE_SIZE + 16];
    int status;

    if (res->rc == 0) {
        if (json_reply(&r, res->replayed ? 200 : 201, call_job_json(&res->job)) != 0)
            r.status = 503;
        server_complete(p, &r);
        return;
    }
    if (res->key_reused) {
        (void)!api_error_reply(&r, 422, "idempotency_key_reused", NULL,
                               "error: this Idempotency-Key was used within 24 h for another "
                               "request; use a new key for a new request");
        server_complete(p, &r);
        return;
    }
    switch (res->check.verdict) {
    case CALL_INVALID:
        status = 400;
        break;
    case CALL_REFUSED:
        status = 422;
        break;
    case CALL_OPTED_OUT:
        status = 409;
        break;
    default:
        status = 503;
        break;
    }
    snprintf(msg, sizeof(msg), "error: %s", res->check.message);
    (void)!api_error_reply(&r, status, res->check.code, res->check.field, msg);
    server_complete(p, &r);
}

/* The Idempotency-Key header: 0 with key "" (none) or the key, -1 when it is not one. */
static int idempotency_key(struct lws *wsi, char key[IDEMPOTENCY_KEY_SIZE])
{
    static const char name[] = "idempotency-key:";
    int len = lws_hdr_custom_length(wsi, name, (int)sizeof(name) - 1);

    key[0] = '\0';
    if (len < 0)
        return 0;
    if (len == 0 || len >= IDEMPOTENCY_KEY_SIZE ||
        lws_hdr_custom_copy(wsi, key, IDEMPOTENCY_KEY_SIZE, name, (int)sizeof(name) - 1) != len)
        return -1;
    for (const unsigned char *c = (const unsigned char *)key; *c; c++) {
        if (*c <= ' ' || *c >= 0x7f)
            return -1;
    }
    return 0;
}

static void create_call(struct http_session *sess, struct lws *wsi)
{
    struct call_request req;
    struct job_request jr;
    struct call_check chk;
    struct pending *p;
    const char *field = NULL;
    char err[CALL_ERROR_SIZE], key[IDEMPOTENCY_KEY_SIZE];
    int rc;

    if (sess->body.len == 0) {
        fail(sess, 400, "invalid_json", NULL, "the body is empty; send a JSON object");
        return;
    }
    if (idempotency_key(wsi, key) != 0) {
        fail(sess, 400, "invalid_idempotency_key", "Idempotency-Key",
             "Idempotency-Key must be 1 to %d visible ASCII characters", IDEMPOTENCY_KEY_SIZE - 1);
        return;
    }
    rc = call_request_parse(buf_cstr(&sess->body), sess->body.len, &req, &field, err, sizeof(err));
    if (rc) {
        fail(sess, 400,
             rc == SB_EPARSE ? "invalid_json"
             : field         ? "invalid_field"
                             : "unknown_field",
             field, "%s", err);
        return;
    }
    /* What needs no store is refused here, before the placer is asked. */
    call_request_job(&req, sess->api_tenant, &jr);
    if (call_check_fields(&jr, req.at, CALL_NAMES_FIELDS, &chk) != 0) {
        fail(sess, 400, chk.code, chk.field, "%s", chk.message);
        return;
    }
    p = server_pending_new(sess);
    if (!p) {
        fail(sess, 503, "unavailable", NULL, "out of memory; retry");
        return;
    }
    if (outbound_submit_call(sess->srv->outbound, sess->api_tenant, &req, key, call_done, p) != 0) {
        free(p);
        fail(sess, 503, "unavailable", NULL, "the job queue cannot take the call now; retry");
        return;
    }
    sess->pending = p;
}

/* ---- GET /api/v1/calls/{id} ---- */

/* The id of /api/v1/calls/{id}: 1 to 18 digits, not 0. Returns 0 or -1. */
static int path_id(const char *path, long long *id)
{
    return job_id_parse(path + sizeof(CALLS_PATH) /* past the slash */, id) == 0 ? 0 : -1;
}

static void get_call(struct http_session *sess)
{
    struct job job;
    long long id = 0;
    int rc;

    if (path_id(sess->path, &id) != 0) {
        fail(sess, 404, "not_found", NULL, "'%.40s' is not a job id (digits)",
             sess->path + sizeof(CALLS_PATH));
        return;
    }
    rc = job_get(sess->srv->store, id, &job);
    /* Another tenant's job is as absent as one that never was. */
    if (rc == SB_ENOTFOUND || (rc == 0 && strcmp(job.tenant, sess->api_tenant) != 0)) {
        fail(sess, 404, "not_found", NULL, "job %lld does not exist", id);
        return;
    }
    if (rc) {
        log_event(LOG_ERROR, "api.store_failed", "job=%lld error=\"%s\"", id, sb_strerror(rc));
        fail(sess, 503, "store_unavailable", NULL, "the store cannot read job %lld now; retry", id);
        return;
    }
    if (json_reply(&sess->reply, 200, call_job_json(&job)) != 0)
        fail(sess, 503, "unavailable", NULL, "out of memory; retry");
    sess->reply_ready = 1;
}

void api_request(struct http_session *sess, struct lws *wsi)
{
    if (sess->endpoint->post)
        create_call(sess, wsi);
    else
        get_call(sess);
}
