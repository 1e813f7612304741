/*
 * The HTTP API for applications that queue outbound calls:
 *
 *   POST /api/v1/calls        queue a call (voice/call_request.h's body)
 *   GET  /api/v1/calls/{id}   the job, as `calls job ID --json` prints it
 *
 * described in docs/openapi.yaml. Every request carries a tenant's key
 * (Authorization: Bearer sb_...); the key names the tenant, and another
 * tenant's job is 404. Errors are JSON, {"error": {"code", "message",
 * "field"}}, with a precise status (api_error_reply).
 *
 * Runs on the loop thread. The key and the job are read on the loop's read
 * connection (one indexed row each, as /voice/outbound reads its job); the
 * job is checked and queued by the placer's thread on its own connection
 * (outbound_submit_call), and the answer waits for it as a struct pending,
 * freed by the loop like every deferred answer.
 */
#ifndef SB_SERVER_API_H
#define SB_SERVER_API_H

#include "voice/voice.h"

struct http_session;
struct lws;

/* Bodies of POST /api/v1/calls stop here: a request is a few hundred bytes. */
#define API_MAX_BODY 16384
#define API_PATH_PREFIX "/api/"

/** True when `path` is the API's: its errors are JSON. */
int api_path(const char *path);

/**
 * What can be refused before a body is read, once the method is known to
 * be right: the key (401), and for a POST the Content-Type (415) and a
 * missing Content-Length (411). Sets sess->api_tenant. Returns 0 to go on,
 * or 1 with the answer in sess->reply (reply_ready).
 */
int api_precheck(struct http_session *sess, struct lws *wsi);

/** Answers a request whose body (if any) is in: now, or later through sess->pending. */
void api_request(struct http_session *sess, struct lws *wsi);

/**
 * Fills `r` with a JSON error: `status`, {"error": {"code": code, "message":
 * message, "field": field or null}}. `code` NULL: the status's own
 * ("not_found", "method_not_allowed", ...). `message` is one line, "error:
 * ..."; a trailing newline is dropped. Returns 0, or SB_ENOMEM (then r
 * holds the status alone).
 */
int api_error_reply(struct reply *r, int status, const char *code, const char *field,
                    const char *message);

#endif
