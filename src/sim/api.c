/*
 * switchboard sim api: the HTTP side. One libwebsockets context serves the
 * REST paths under /2010-04-01/Accounts/{AccountSid}/, the inline TwiML of
 * calls at /_sim/twiml/{CallSid} and the record of requests at
 * /_sim/requests; requests are decided at once on the loop thread (calls
 * run in their own threads, see api_calls.c), and answered at once or, with
 * --slow-ms or a create timeout, when the session's timer fires. The faults
 * (--fail-every, --garbage-every) are decided here too.
 */
#include "sim/api.h"

#include <libwebsockets.h>
#include <stdarg.h>
#include <sys/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/form.h"
#include "core/log.h"
#include "net/http_method.h"
#include "net/http_reply.h"
#include "net/listen.h"
#include "sim/api_internal.h"
#include "sim/api_params.h"
#include "core/banned.h"

/* Request bodies: Twilio caps TwiML at 4000 characters; 64 KiB is far beyond any form. */
#define API_MAX_BODY 65536
/* Bodies are written in pieces of this size when the socket is ready. */
#define API_CHUNK 16384
/* The longest --slow-ms or --create-timeout-ms: ten minutes. */
#define API_DELAY_MAX_MS 600000L
/* How long running calls get to end after SIGTERM. */
#define API_DRAIN_S 20.0

static const char accounts_prefix[] = "/" API_VERSION "/Accounts/";
static const char twiml_prefix[] = "/_sim/twiml/";
static const char sim_prefix[] = "/_sim/";
static const char requests_path[] = "/_sim/requests";
/* What --garbage-every answers: a 200 that is not JSON, as a broken proxy might send. */
static const char garbage_body[] =
    "<html><head><title>OK</title></head><body><p>Service temporarily unavailable. "
    "Please try again later.</p></body></html>\n";
static const char basic_realm[] = "Basic realm=\"Twilio API\"";

struct api_session {
    struct buf body;
    char method[8];
    char path[1024];
    char auth[1024];
    struct form query;
    int body_error;
    int query_error; /* the query string could not be kept: answer 500 */
    int active;
    double started;
    /* The reply: headers (after LWS_PRE), then the body in chunks. */
    unsigned char *head;
    size_t head_len;
    unsigned char *body_out; /* LWS_PRE + body */
    size_t body_len, body_sent;
    int head_sent;
    int close_after;
    int delayed;       /* the reply waits for the session's timer */
    unsigned long seq; /* the request's number among those to the REST API; 0 for /_sim/ */
};

/* --- helpers for the handlers -------------------------------------------------------------- */

json_t *api_time_json(time_t t)
{
    struct tm tm;
    char buf[64];

    if (t == 0)
        return json_null();
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return json_string(buf);
}

void api_set_str(json_t *obj, const char *key, const char *value)
{
    json_t *v = value ? json_string(value) : json_null();

    /* Not UTF-8: Twilio would have refused it; serve it as null rather than drop the key. */
    json_object_set_new(obj, key, v ? v : json_null());
}

void api_reply_json(struct api_reply *r, int status, json_t *doc)
{
    free(r->body);
    r->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    r->len = r->body ? strlen(r->body) : 0;
    r->status = r->body || status == 204 ? status : 500;
    r->content_type = "application/json";
    json_decref(doc);
}

void api_reply_error(struct api_reply *r, int status, int code, const char *fmt, ...)
{
    char message[1024], more[64];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    snprintf(more, sizeof(more), "https://www.twilio.com/docs/errors/%d", code);
    r->code = code;
    api_reply_json(r, status,
                   json_pack("{s:i, s:s, s:s, s:i}", "code", code, "message", message, "more_info",
                             more, "status", status));
}

void api_reply_not_found(struct api_reply *r, const struct api_request *req)
{
    api_reply_error(r, 404, 20404, "The requested resource %s was not found", req->path);
}

/* The SID a list item is known by (participants: their call's). */
static const char *item_sid(const json_t *item)
{
    const char *sid = json_string_value(json_object_get(item, "sid"));

    return sid ? sid : json_string_value(json_object_get(item, "call_sid"));
}

/*
 * path?<the request's parameters but paging>&PageSize=..&Page=..[&PageToken=PA<after>]
 * into `out`; an empty string when it does not fit.
 */
static void page_uri(char *out, size_t size, const char *path, const char *filters, long page_size,
                     long page, const char *after)
{
    int n =
        snprintf(out, size, "%s?%s%sPageSize=%ld&Page=%ld%s%s", path, filters, *filters ? "&" : "",
                 page_size, page, after ? "&PageToken=PA" : "", after ? after : "");

    if (n < 0 || (size_t)n >= size)
        out[0] = '\0';
}

void api_reply_page(struct api_reply *r, const struct api_request *req, const char *key,
                    json_t *items)
{
    struct api_params_page pg;
    struct form filters = FORM_INIT;
    size_t n = json_array_size(items), start, end;
    json_t *doc = NULL, *slice = NULL;
    char *encoded = NULL, bad[32];
    char uri[2048], first[2048], next[2048], prev[2048];

    if (api_params_page_parse(req->params, &pg, bad, sizeof(bad)) != 0) {
        if (strcmp(bad, "PageToken") == 0)
            api_reply_error(r, 400, 20001, "Invalid PageToken");
        else
            api_reply_error(r, 400, 20001, "Invalid %s: a number from %d to %d is expected", bad,
                            strcmp(bad, "PageSize") == 0 ? 1 : 0,
                            strcmp(bad, "PageSize") == 0 ? API_PAGE_SIZE_MAX : API_PAGE_MAX);
        goto out;
    }
    /* --page-size-max: a smaller page than asked for, its next_page_uri saying so. */
    if (req->page_size_max > 0 && pg.size > req->page_size_max)
        pg.size = req->page_size_max;
    /* The next page starts after the token's item, so calls created meanwhile shift nothing. */
    start = (size_t)pg.number * (size_t)pg.size;
    if (pg.after_sid) {
        for (size_t i = 0; i < n; i++) {
            const char *sid = item_sid(json_array_get(items, i));

            if (sid && strcmp(sid, pg.after_sid) == 0) {
                start = i + 1;
                break;
            }
        }
    }
    if (start > n)
        start = n;
    end = n - start > (size_t)pg.size ? start + (size_t)pg.size : n;
    for (size_t i = 0; req->params && i < req->params->count; i++) {
        const char *k = req->params->fields[i].key;

        if (strcmp(k, "PageSize") != 0 && strcmp(k, "Page") != 0 && strcmp(k, "PageToken") != 0 &&
            form_add(&filters, k, req->params->fields[i].value) != 0)
            goto oom;
    }
    encoded = form_encode(&filters);
    slice = json_array();
    doc = json_object();
    if (!encoded || !slice || !doc)
        goto oom;
    for (size_t i = start; i < end; i++)
        json_array_append(slice, json_array_get(items, i));
    page_uri(uri, sizeof(uri), req->path, encoded, pg.size, pg.number, pg.after_sid);
    page_uri(first, sizeof(first), req->path, encoded, pg.size, 0, NULL);
    if (end < n)
        page_uri(next, sizeof(next), req->path, encoded, pg.size, pg.number + 1,
                 item_sid(json_array_get(items, end - 1)));
    if (start > 0)
        page_uri(prev, sizeof(prev), req->path, encoded, pg.size, (long)(start - 1) / pg.size,
                 NULL);
    json_object_set_new(doc, key, slice);
    slice = NULL;
    json_object_set_new(doc, "page", json_integer(pg.number));
    json_object_set_new(doc, "page_size", json_integer(pg.size));
    json_object_set_new(doc, "start", json_integer((json_int_t)start));
    json_object_set_new(doc, "end", json_integer((json_int_t)(end > start ? end - 1 : start)));
    api_set_str(doc, "uri", uri);
    api_set_str(doc, "first_page_uri", first);
    api_set_str(doc, "next_page_uri", end < n && next[0] ? next : NULL);
    api_set_str(doc, "previous_page_uri", start > 0 && prev[0] ? prev : NULL);
    api_reply_json(r, 200, doc);
    doc = NULL;
    goto out;
oom:
    api_reply_error(r, 500, 20500, "Internal Server Error: out of memory");
out:
    json_decref(doc);
    json_decref(slice);
    json_decref(items);
    free(encoded);
    form_release(&filters);
}

void api_wake(struct sim_api *api)
{
    if (api->lws)
        lws_cancel_service(api->lws);
}

int api_thread_start(struct sim_api *api, void *(*fn)(void *), void *arg, struct api_thread **out)
{
    struct api_thread *t = calloc(1, sizeof(*t));

    *out = t;
    if (!t)
        return SB_ENOMEM;
    pthread_mutex_lock(&api->lock);
    t->next = api->thread_list;
    api->thread_list = t;
    api->threads++;
    if (pthread_create(&t->id, NULL, fn, arg) != 0) {
        api->thread_list = t->next;
        api->threads--;
        free(t);
        *out = NULL;
        pthread_mutex_unlock(&api->lock);
        return SB_EIO;
    }
    pthread_mutex_unlock(&api->lock);
    return 0;
}

void api_thread_finish(struct sim_api *api, struct api_thread *t)
{
    pthread_mutex_lock(&api->lock);
    t->finished = 1;
    api->threads--;
    pthread_cond_broadcast(&api->cond);
    pthread_mutex_unlock(&api->lock);
    api_wake(api);
}

/* Joins the threads that have finished (they only have their return left to run). */
static void reap_threads(struct sim_api *api)
{
    struct api_thread *done = NULL, **link;

    pthread_mutex_lock(&api->lock);
    link = &api->thread_list;
    while (*link) {
        struct api_thread *t = *link;

        if (t->finished) {
            *link = t->next;
            t->next = done;
            done = t;
        } else {
            link = &t->next;
        }
    }
    pthread_mutex_unlock(&api->lock);
    while (done) {
        struct api_thread *t = done;

        done = t->next;
        pthread_join(t->id, NULL);
        free(t);
    }
}

/* --- routing ------------------------------------------------------------------------------- */

struct route {
    const char *pattern; /* segments after /Accounts/{AccountSid}/; '*' captures one */
    const char *name;    /* the resource, for the record's action: "calls" gives "calls.create" */
    void (*get)(struct sim_api *, const struct api_request *, struct api_reply *);
    void (*post)(struct sim_api *, const struct api_request *, struct api_reply *);
    void (*del)(struct sim_api *, const struct api_request *, struct api_reply *);
    int media; /* recording media: no auth, as Twilio serves it by default */
    int list;  /* GET lists and POST creates; otherwise GET fetches and POST updates */
};

static const struct route routes[] = {
    {"Calls.json", "calls", api_calls_list, api_calls_create, NULL, 0, 1},
    {"Calls/*.json", "call", api_call_fetch, api_call_update, api_call_delete, 0, 0},
    {"Calls/*/Recordings.json", "call.recordings", api_call_recordings_list, NULL, NULL, 0, 1},
    {"Messages.json", "messages", api_messages_list, api_messages_create, NULL, 0, 1},
    {"Messages/*.json", "message", api_message_fetch, NULL, api_message_delete, 0, 0},
    {"Recordings.json", "recordings", api_recordings_list, NULL, NULL, 0, 1},
    {"Recordings/*.json", "recording", api_recording_fetch, NULL, api_recording_delete, 0, 0},
    {"Recordings/*", "recording.media", api_recording_media, NULL, NULL, 1, 0},
    {"Conferences.json", "conferences", api_conferences_list, NULL, NULL, 0, 1},
    {"Conferences/*.json", "conference", api_conference_fetch, NULL, NULL, 0, 0},
    {"Conferences/*/Participants.json", "participants", api_participants_list, NULL, NULL, 0, 1},
    {"Conferences/*/Participants/*.json", "participant", api_participant_fetch,
     api_participant_update, NULL, 0, 0},
};

/* The record's name of what a request asked for: "calls.create", "call.fetch", ... */
static void action_name(const struct route *rt, const char *method, char *out, size_t size)
{
    const char *verb = strcmp(method, "GET") == 0      ? (rt->list ? "list" : "fetch")
                       : strcmp(method, "POST") == 0   ? (rt->list ? "create" : "update")
                       : strcmp(method, "DELETE") == 0 ? "delete"
                                                       : NULL;

    if (rt->media && verb)
        verb = "get";
    if (verb)
        snprintf(out, size, "%s.%s", rt->name, verb);
    else
        snprintf(out, size, "%s", rt->name);
}

/*
 * Matches `path` (no leading slash) against a pattern whose segments are
 * literal, '*' or '*' followed by a suffix (".json"); captures the '*' parts.
 */
static int route_match(const char *pattern, const char *path, struct api_request *req)
{
    size_t nargs = 0;

    while (*pattern && *path) {
        const char *pend = strchr(pattern, '/');
        const char *send = strchr(path, '/');
        size_t plen = pend ? (size_t)(pend - pattern) : strlen(pattern);
        size_t slen = send ? (size_t)(send - path) : strlen(path);

        if (pattern[0] == '*') {
            size_t suffix = plen - 1;

            if (slen <= suffix || memcmp(path + slen - suffix, pattern + 1, suffix) != 0 ||
                nargs >= 2 || slen - suffix >= sizeof(req->args[0]))
                return 0;
            memcpy(req->args[nargs], path, slen - suffix);
            req->args[nargs][slen - suffix] = '\0';
            nargs++;
        } else if (plen != slen || memcmp(pattern, path, plen) != 0) {
            return 0;
        }
        pattern += plen + (pend ? 1 : 0);
        path += slen + (send ? 1 : 0);
        if (!pend != !send)
            return 0;
    }
    return *pattern == '\0' && *path == '\0';
}

/* The Allow header of a route. */
static const char *allowed(const struct route *rt)
{
    if (rt->get && rt->post)
        return rt->del ? "GET, POST, DELETE" : "GET, POST";
    if (rt->get)
        return rt->del ? "GET, DELETE" : "GET";
    return "POST";
}

/* Checks HTTP Basic credentials: the account SID (or an API key SID) and the auth token. */
static int authorized(const struct sim_api *api, const char *header, const char *path_account)
{
    char decoded[512];
    char *colon;
    int n;

    if (strncasecmp(header, "Basic ", 6) != 0)
        return 0;
    n = lws_b64_decode_string(header + 6, decoded, (int)sizeof(decoded));
    if (n <= 0)
        return 0;
    decoded[n < (int)sizeof(decoded) ? n : (int)sizeof(decoded) - 1] = '\0';
    colon = strchr(decoded, ':');
    if (!colon)
        return 0;
    *colon = '\0';
    if (strcmp(path_account, api->account_sid) != 0)
        return 0;
    if (strcmp(decoded, api->account_sid) != 0 &&
        !(strncmp(decoded, "SK", 2) == 0 && strlen(decoded) == 34))
        return 0;
    return strcmp(colon + 1, api->o->token) == 0;
}

/* Sliding one-second window over the last rate_limit accepted requests. */
static int rate_limited(struct sim_api *api)
{
    size_t n = (size_t)api->o->rate_limit;
    double now = clock_mono_s();

    if (!api->rate_times)
        return 0;
    if (api->rate_times[api->rate_next] > 0 && now - api->rate_times[api->rate_next] < 1.0)
        return 1;
    api->rate_times[api->rate_next] = now;
    api->rate_next = (api->rate_next + 1) % n;
    return 0;
}

/* What handle() found out about a request besides its reply, for the record. */
struct api_handled {
    struct form form;          /* the parsed form body (owned) */
    const struct form *params; /* the form body or the query string */
    char action[40];
};

/*
 * --fail-every and --garbage-every: answers request number `seq` in their
 * stead, without handling it. Returns 1 when it did.
 */
static int inject_fault(struct sim_api *api, unsigned long seq, struct api_reply *r)
{
    const struct sim_api_opts *o = api->o;

    if (o->fail_every > 0 && seq % (unsigned long)o->fail_every == 0) {
        /* 500 and 503 by turns, both with Twilio's code for an internal error. */
        if (api->fails++ % 2 == 0)
            api_reply_error(r, 500, 20500, "Internal Server Error");
        else
            api_reply_error(r, 503, 20500, "Service Unavailable");
        r->fault = "fail";
        return 1;
    }
    if (o->garbage_every > 0 && seq % (unsigned long)o->garbage_every == 0) {
        free(r->body);
        r->body = strdup(garbage_body);
        r->len = r->body ? strlen(r->body) : 0;
        r->status = r->body ? 200 : 500;
        r->content_type = "text/html";
        r->fault = "garbage";
        return 1;
    }
    return 0;
}

/* GET /_sim/requests: the record, with the account's credentials. */
static void serve_requests(struct sim_api *api, struct api_session *s, struct api_reply *r)
{
    if (!authorized(api, s->auth, api->account_sid)) {
        api_reply_error(r, 401, 20003, "Authenticate");
        r->authenticate = 1;
    } else if (strcmp(s->method, "GET") != 0) {
        r->allow = "GET";
        api_reply_error(r, 405, 20004, "Method not allowed: %s on %s (allowed: GET)", s->method,
                        s->path);
    } else {
        api_requests_serve(api, r);
    }
}

/* Decides the reply to one complete request. */
static void handle(struct sim_api *api, struct api_session *s, struct api_reply *r,
                   struct api_handled *h)
{
    struct api_request req;
    const struct route *route = NULL;
    const char *rest = NULL, *slash = NULL;
    char account[SID_SIZE];
    int form_error = 0;
    void (*fn)(struct sim_api *, const struct api_request *, struct api_reply *) = NULL;

    reap_threads(api);
    memset(&req, 0, sizeof(req));
    req.method = s->method;
    req.path = s->path;
    req.params = &s->query;
    req.page_size_max = api->o->page_size_max;
    h->params = &s->query;
    if (strncmp(s->path, twiml_prefix, sizeof(twiml_prefix) - 1) == 0) {
        api_twiml_serve(api, s->path + sizeof(twiml_prefix) - 1, r);
        return;
    }
    if (strcmp(s->path, requests_path) == 0) {
        serve_requests(api, s, r);
        return;
    }
    /* The form first: the record keeps what was sent, whatever the answer. */
    if (strcmp(s->method, "POST") == 0 && s->body.len) {
        if (form_parse(&h->form, s->body.data, s->body.len) != 0)
            form_error = 1;
        else
            h->params = &h->form;
    }
    req.params = h->params;
    if (strncmp(s->path, accounts_prefix, sizeof(accounts_prefix) - 1) == 0) {
        rest = s->path + sizeof(accounts_prefix) - 1;
        slash = strchr(rest, '/');
        if (slash && (size_t)(slash - rest) < sizeof(account)) {
            memcpy(account, rest, (size_t)(slash - rest));
            account[slash - rest] = '\0';
            for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
                if (route_match(routes[i].pattern, slash + 1, &req)) {
                    route = &routes[i];
                    break;
                }
            }
        }
    }
    if (route)
        action_name(route, s->method, h->action, sizeof(h->action));
    if (s->seq && inject_fault(api, s->seq, r))
        return;
    if (rate_limited(api)) {
        api_reply_error(r, 429, 20429, "Too Many Requests");
        return;
    }
    if (strncmp(s->path, accounts_prefix, sizeof(accounts_prefix) - 1) != 0 || !slash ||
        (size_t)(slash - rest) >= sizeof(account)) {
        api_reply_not_found(r, &req);
        return;
    }
    if (!(route && route->media) && !authorized(api, s->auth, account)) {
        api_reply_error(r, 401, 20003, "Authenticate");
        r->authenticate = 1;
        return;
    }
    if (!route || (route->media && strcmp(account, api->account_sid) != 0)) {
        api_reply_not_found(r, &req);
        return;
    }
    if (strcmp(s->method, "GET") == 0)
        fn = route->get;
    else if (strcmp(s->method, "POST") == 0)
        fn = route->post;
    else if (strcmp(s->method, "DELETE") == 0)
        fn = route->del;
    if (!fn) {
        r->allow = allowed(route);
        api_reply_error(r, 405, 20004, "Method not allowed: %s on %s (allowed: %s)", s->method,
                        s->path, r->allow);
        return;
    }
    if (form_error) {
        api_reply_error(r, 400, 20001, "Request body is not application/x-www-form-urlencoded");
        return;
    }
    fn(api, &req, r);
}

/* --- HTTP on libwebsockets ----------------------------------------------------------------- */

static void session_release(struct api_session *s)
{
    buf_release(&s->body);
    form_release(&s->query);
    free(s->head);
    free(s->body_out);
    s->head = NULL;
    s->body_out = NULL;
}

/* Copies the query string's arguments (lws has already decoded them) into s->query. */
static void read_query(struct lws *wsi, struct api_session *s)
{
    char frag[1024];

    for (int i = 0; i < 64; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, (int)sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        char *eq;

        if (n <= 0)
            break;
        eq = strchr(frag, '=');
        if (eq)
            *eq = '\0';
        if (form_add(&s->query, frag, eq ? eq + 1 : "") != 0) {
            s->query_error = 1;
            return;
        }
    }
}

/*
 * Formats the reply's headers and queues it for sending when the socket is
 * writable, or when the session's timer fires after r->delay_ms.
 */
static int queue_reply(struct lws *wsi, struct api_session *s, struct api_reply *r)
{
    struct net_http_head head;
    unsigned char *start, *p, *end;
    size_t cap = LWS_PRE + 1024;
    int rc = -1;

    s->head = malloc(cap);
    if (!s->head)
        goto out;
    start = s->head + LWS_PRE;
    p = start;
    end = s->head + cap - 1;
    memset(&head, 0, sizeof(head));
    head.status = r->status;
    head.content_type = r->content_type;
    head.content_length = r->len;
    head.allow = r->allow;
    head.authenticate = r->authenticate ? basic_realm : NULL;
    head.close = s->close_after;
    if (net_http_write_head(wsi, &head, &p, end))
        goto out;
    s->head_len = (size_t)(p - start);
    if (r->status != 204 && r->len) {
        s->body_out = malloc(LWS_PRE + r->len);
        if (!s->body_out)
            goto out;
        memcpy(s->body_out + LWS_PRE, r->body, r->len);
        s->body_len = r->len;
    }
    s->head_sent = 0;
    s->body_sent = 0;
    if (r->delay_ms > 0) {
        /* Held back: no lws timeout may end the request meanwhile; a client that leaves does. */
        s->delayed = 1;
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
        lws_set_timer_usecs(wsi, (lws_usec_t)r->delay_ms * LWS_US_PER_MS);
    } else {
        lws_callback_on_writable(wsi);
    }
    rc = 0;
out:
    return rc;
}

/* Answers a complete request: decides the reply, records and logs it, queues it. */
static int respond(struct lws *wsi, struct api_session *s)
{
    struct sim_api *api = lws_context_user(lws_get_context(wsi));
    struct api_handled h;
    struct api_reply r;
    char delay[32] = "";
    int rc;

    memset(&r, 0, sizeof(r));
    memset(&h, 0, sizeof(h));
    h.params = &s->query;
    if (strncmp(s->path, sim_prefix, sizeof(sim_prefix) - 1) != 0)
        s->seq = ++api->requests;
    if (s->body_error) {
        s->close_after = 1;
        api_reply_error(&r, 413, 20001, "Request body exceeds %d bytes", API_MAX_BODY);
    } else if (s->query_error) {
        api_reply_error(&r, 500, 20500, "Internal Server Error: out of memory");
    } else {
        handle(api, s, &r, &h);
    }
    if (!r.status)
        api_reply_error(&r, 500, 20500, "Internal Server Error");
    if (s->seq) {
        struct api_record_info info;

        if (api->o->slow_ms > r.delay_ms)
            r.delay_ms = api->o->slow_ms;
        memset(&info, 0, sizeof(info));
        info.seq = s->seq;
        info.method = s->method;
        info.path = s->path;
        info.action = h.action[0] ? h.action : NULL;
        info.params = h.params;
        info.reply = &r;
        api_requests_add(api, &info);
    }
    if (r.delay_ms > 0)
        snprintf(delay, sizeof(delay), " delay_ms=%ld", r.delay_ms);
    log_event(r.status >= 500 ? LOG_ERROR : LOG_INFO, "api.request",
              "method=%s path=%s status=%d code=%d ms=%.1f%s%s%s%s%s", s->method, s->path, r.status,
              r.code, (clock_mono_s() - s->started) * 1000, r.call_sid[0] ? " call_sid=" : "",
              r.call_sid, r.fault ? " fault=" : "", r.fault ? r.fault : "", delay);
    rc = queue_reply(wsi, s, &r);
    free(r.body);
    form_release(&h.form);
    s->active = 0;
    return rc;
}

static int on_request(struct lws *wsi, struct api_session *s, const char *path)
{
    enum net_http_body body;

    session_release(s);
    memset(s, 0, sizeof(*s));
    buf_init(&s->body, API_MAX_BODY);
    s->active = 1;
    s->started = clock_mono_s();
    snprintf(s->method, sizeof(s->method), "%s", net_http_method(wsi));
    snprintf(s->path, sizeof(s->path), "%s", path);
    if (lws_hdr_copy(wsi, s->auth, (int)sizeof(s->auth), WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
        s->auth[0] = '\0';
    read_query(wsi, s);
    body = net_http_body_check(wsi, API_MAX_BODY);
    if (body == NET_HTTP_BODY_TOO_BIG) {
        s->body_error = 1;
        return respond(wsi, s);
    }
    if (body == NET_HTTP_BODY_NONE)
        return respond(wsi, s); /* no body is coming: lws will not call BODY_COMPLETION */
    return 0;
}

static int on_writable(struct lws *wsi, struct api_session *s)
{
    size_t n;
    int final;

    if (!s->head || s->delayed)
        return 0;
    if (!s->head_sent) {
        s->head_sent = 1;
        if (lws_write(wsi, s->head + LWS_PRE, s->head_len, LWS_WRITE_HTTP_HEADERS) < 0)
            return -1;
        if (s->body_len) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    } else if (s->body_sent < s->body_len) {
        n = s->body_len - s->body_sent;
        if (n > API_CHUNK)
            n = API_CHUNK;
        final = s->body_sent + n == s->body_len;
        if (lws_write(wsi, s->body_out + LWS_PRE + s->body_sent, n,
                      final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
            return -1;
        s->body_sent += n;
        if (!final) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    free(s->head);
    free(s->body_out);
    s->head = NULL;
    s->body_out = NULL;
    if (s->close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    struct api_session *s = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_request(wsi, s, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        if (!s->body_error && buf_append(&s->body, in, len) != 0)
            s->body_error = 1;
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return respond(wsi, s);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_writable(wsi, s);
    case LWS_CALLBACK_TIMER:
        /* A held-back reply (--slow-ms, a create timeout) may go now. */
        if (s && s->delayed) {
            s->delayed = 0;
            lws_callback_on_writable(wsi);
        }
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (s)
            session_release(s);
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", http_callback, sizeof(struct api_session), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* --- the server ---------------------------------------------------------------------------- */

int sim_api_outcome_valid(const char *status)
{
    return strcmp(status, "busy") == 0 || strcmp(status, "no-answer") == 0 ||
           strcmp(status, "failed") == 0;
}

int sim_api_answered_by_valid(const char *value)
{
    return api_params_answered_by_valid(value);
}

static int api_init(struct sim_api *api, const struct sim_api_opts *o)
{
    pthread_condattr_t attr;
    const char *host = o->host;

    api->o = o;
    api->record_fd = -1;
    api->record_tail = &api->record;
    api->speed = o->speed > 0 ? o->speed : 1;
    api->seed = o->seed;
    if (!o->seed_set && getrandom(&api->seed, sizeof(api->seed), 0) != (ssize_t)sizeof(api->seed))
        api->seed = (unsigned long long)clock_wall_ms();
    snprintf(api->account_sid, sizeof(api->account_sid), "%s",
             o->account_sid ? o->account_sid : "AC00000000000000000000000000000000");
    /* Internal URLs are fetched by this process: a wildcard address means this machine. */
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    if (strchr(host, ':'))
        snprintf(api->base_url, sizeof(api->base_url), "http://[%s]:%d", host, o->port);
    else
        snprintf(api->base_url, sizeof(api->base_url), "http://%s:%d", host, o->port);
    api->calls_tail = &api->calls;
    api->messages_tail = &api->messages;
    pthread_mutex_init(&api->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&api->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (o->rate_limit > 0) {
        api->rate_times = calloc((size_t)o->rate_limit, sizeof(*api->rate_times));
        if (!api->rate_times)
            return SB_ENOMEM;
    }
    return 0;
}

/* Lets calls end (they hang up when asked) while still serving their TwiML fetches. */
static void drain(struct sim_api *api)
{
    double deadline = clock_mono_s() + API_DRAIN_S;
    int threads;

    api_calls_stop(api);
    for (;;) {
        pthread_mutex_lock(&api->lock);
        threads = api->threads;
        pthread_mutex_unlock(&api->lock);
        if (threads == 0 || clock_mono_s() > deadline)
            break;
        if (lws_service(api->lws, 0) < 0)
            break;
    }
    if (threads > 0)
        log_event(LOG_WARN, "api.drain_timeout", "threads=%d", threads);
}

int sim_api_run(const struct sim_api_opts *o)
{
    struct lws_context_creation_info info;
    struct sim_api *api = NULL;
    int rc, leaked = 0;

    if (!o || !o->host || !o->token || !*o->token || o->port <= 0 || o->port > 65535 ||
        o->rate_limit < 0 || o->rate_limit > 100000 || o->fail_every < 0 || o->garbage_every < 0 ||
        o->create_timeout_every < 0 || o->create_timeout_ms < 0 ||
        o->create_timeout_ms > API_DELAY_MAX_MS || o->slow_ms < 0 || o->slow_ms > API_DELAY_MAX_MS)
        return SB_EINVAL;
    lws_set_log_level(LLL_ERR, NULL);
    api = calloc(1, sizeof(*api));
    if (!api)
        return SB_ENOMEM;
    rc = api_init(api, o);
    if (rc)
        goto out;
    rc = api_requests_open(api);
    if (rc)
        goto out;
    net_listen_info(&info, o->host, o->port, protocols, api);
    info.keepalive_timeout = 60;
    api->lws = lws_create_context(&info);
    if (!api->lws) {
        log_event(LOG_ERROR, "api.start_failed", "error=\"cannot listen on %s:%d\"", o->host,
                  o->port);
        rc = SB_EIO;
        goto out;
    }
    net_stop_on_signals(api->lws);
    log_event(LOG_INFO, "api.listening",
              "addr=%s port=%d account_sid=%s base_url=%s speed=%g rate_limit=%d seed=%llu "
              "fail_every=%d garbage_every=%d create_timeout_every=%d slow_ms=%ld",
              o->host, o->port, api->account_sid, api->base_url, api->speed, o->rate_limit,
              api->seed, o->fail_every, o->garbage_every, o->create_timeout_every, o->slow_ms);
    while (!net_stop_requested()) {
        if (lws_service(api->lws, 0) < 0)
            break;
    }
    drain(api);
    pthread_mutex_lock(&api->lock);
    leaked = api->threads > 0;
    pthread_mutex_unlock(&api->lock);
    if (!leaked)
        reap_threads(api);
    rc = 0;
out:
    if (api->lws) {
        net_stop_forget();
        lws_context_destroy(api->lws);
        api->lws = NULL;
    }
    if (leaked) {
        /* Threads still use the state: leave it to the process exit. */
        log_event(LOG_INFO, "api.stopped", "clean=no");
        return rc;
    }
    api_calls_free(api);
    api_records_free(api);
    api_requests_free(api);
    free(api->rate_times);
    pthread_mutex_destroy(&api->lock);
    pthread_cond_destroy(&api->cond);
    log_event(LOG_INFO, "api.stopped", "clean=%s", rc == 0 ? "yes" : "no");
    free(api);
    return rc;
}
