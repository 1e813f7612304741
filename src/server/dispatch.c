/*
 * What each path means: Twilio webhooks get their body parsed and their
 * signature checked before a voice handler sees them; GET endpoints report
 * health and metrics.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/form.h"
#include "core/log.h"
#include "core/phone.h"
#include "core/sig.h"
#include "server/api.h"
#include "server/conn_limits.h"
#include "server/conversations.h"
#include "server/outbound.h"
#include "server/outbound_route.h"
#include "server/sms.h"
#include "store/jobs.h"
#include "voice/outbound.h"
#include "server/server_internal.h"
#include "core/banned.h"

static const struct endpoint endpoints[] = {
    {"/voice/incoming", "incoming", EP_INCOMING, 1, 0},
    {"/voice/gather", "gather", EP_GATHER, 1, 0},
    {"/voice/gather/continue", "gather_continue", EP_GATHER_CONTINUE, 1, 0},
    {GATHER_PARTIAL_PATH, "gather_partial", EP_GATHER_PARTIAL, 1, 0},
    {"/voice/status", "status", EP_STATUS, 1, 0},
    {"/voice/outbound", "outbound", EP_OUTBOUND, 1, 0},
    {"/voice/amd", "amd", EP_AMD, 1, 0},
    {"/voice/stream-ended", "stream_ended", EP_STREAM_ENDED, 1, 0},
    {"/voice/flow", "flow", EP_FLOW, 1, 0},
    {"/voice/flow/recording", "flow_recording", EP_FLOW_RECORDING, 1, 0},
    {"/voice/stream", "stream", EP_STREAM, 0, 0},
    {"/voice/relay", "relay", EP_RELAY, 0, 0},
    {"/voice/relay-ended", "relay_ended", EP_RELAY_ENDED, 1, 0},
    {TRANSFER_ENDED_PATH, "transfer_ended", EP_TRANSFER_ENDED, 1, 0},
    {"/sms/incoming", "sms_incoming", EP_SMS_INCOMING, 1, 0},
    {"/healthz", "healthz", EP_HEALTHZ, 0, 0},
    {"/metrics", "metrics", EP_METRICS, 0, 0},
    {"/api/v1/calls", "api_calls", EP_API_CALLS, 1, 0},
    {"/api/v1/calls/", "api_call", EP_API_CALL, 0, 1},
};

const struct endpoint *endpoint_find(const char *path)
{
    for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
        const struct endpoint *ep = &endpoints[i];

        if (ep->prefix ? strncmp(ep->path, path, strlen(ep->path)) == 0
                       : strcmp(ep->path, path) == 0)
            return ep;
    }
    return NULL;
}

/* Appends `s` percent-encoded the way form encoders write query strings. */
static int append_query_escaped(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        if (isalnum(*p) || strchr("-_.~", *p))
            rc = buf_putc(b, (char)*p);
        else if (*p == ' ')
            rc = buf_putc(b, '+');
        else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

            rc = buf_append(b, esc, 3);
        }
    }
    return rc;
}

/*
 * Rebuilds the query string. lws hands over the arguments already decoded,
 * one fragment per name=value pair, so they are encoded again canonically.
 */
static int append_query(struct buf *b, struct lws *wsi)
{
    char frag[1024];
    int rc = 0;

    for (int i = 0; !rc; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        char *eq;

        if (n < 0)
            break;
        rc = buf_putc(b, i == 0 ? '?' : '&');
        eq = strchr(frag, '=');
        if (eq)
            *eq = '\0';
        if (!rc)
            rc = append_query_escaped(b, frag);
        if (!rc && eq) {
            rc = buf_putc(b, '=');
            if (!rc)
                rc = append_query_escaped(b, eq + 1);
        }
    }
    return rc;
}

/* A proxy header value we are willing to put in a URL: no spaces, slashes or controls. */
static int header_clean(const char *s)
{
    if (!*s)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '/' || *p == '?' || *p == '#' || *p == '@')
            return 0;
    }
    return 1;
}

static int custom_header(struct lws *wsi, const char *name, char *out, int size)
{
    int n = lws_hdr_custom_copy(wsi, out, size, name, (int)strlen(name));

    if (n < 0)
        out[0] = '\0';
    return n;
}

/*
 * The URL Twilio signed: PUBLIC_BASE_URL + path + query, or with
 * --trust-proxy the scheme and host the proxy saw. Also yields the stream
 * URL for that host.
 */
static int public_url(struct server *srv, struct lws *wsi, const char *path, struct buf *url,
                      char *stream_url, size_t stream_size)
{
    const struct config *cfg = srv->cfg;
    int rc;

    if (cfg->trust_proxy) {
        char proto[16], host[256];

        custom_header(wsi, "x-forwarded-proto:", proto, sizeof(proto));
        custom_header(wsi, "x-forwarded-host:", host, sizeof(host));
        if (!header_clean(host) && lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
            return SB_EINVAL;
        if (!header_clean(host))
            return SB_EINVAL;
        if (strcmp(proto, "https") != 0 && strcmp(proto, "http") != 0)
            snprintf(proto, sizeof(proto), "https");
        rc = buf_puts(url, proto);
        rc = rc ? rc : buf_puts(url, "://");
        rc = rc ? rc : buf_puts(url, host);
        rc = rc ? rc : buf_puts(url, path);
        config_stream_url(host, stream_url, stream_size);
    } else {
        size_t n = strnlen(cfg->stream_url, stream_size - 1);

        rc = buf_puts(url, cfg->public_base_url);
        rc = rc ? rc : buf_puts(url, path);
        memcpy(stream_url, cfg->stream_url, n);
        stream_url[n] = '\0';
    }
    if (!rc)
        rc = append_query(url, wsi);
    return rc;
}

static void push_done(struct pending *p)
{
    struct server *srv = p->srv;

    pthread_mutex_lock(&srv->done_lock);
    p->next = srv->done_head;
    srv->done_head = p;
    pthread_mutex_unlock(&srv->done_lock);
    lws_cancel_service(srv->lws);
}

/* The placer applied an outbound job's status (or could not): answer the callback. */
static void job_status_done(void *arg, int rc)
{
    struct pending *p = arg;

    if (rc)
        p->status = 503;
    push_done(p);
}

/*
 * The writer committed (or failed) a status event: hand it to the loop, or
 * first to the placer when the callback names an outbound job.
 */
static void status_done(void *arg, int status_code, enum status_outcome outcome,
                        const char *call_status)
{
    struct pending *p = arg;
    struct server *srv = p->srv;

    p->status = status_code;
    p->outcome = (int)outcome;
    snprintf(p->call_status, sizeof(p->call_status), "%s", call_status);
    if (p->job_id > 0 && status_code == 204) {
        if (outbound_submit_status(srv->outbound, p->job_id, p->call_sid, call_status,
                                   p->answered_by, job_status_done, p) == 0)
            return;
        p->status = 503;
    }
    pthread_mutex_lock(&srv->done_lock);
    p->next = srv->done_head;
    srv->done_head = p;
    pthread_mutex_unlock(&srv->done_lock);
    lws_cancel_service(srv->lws);
}

/* A deferred answer is ready (a flow step or recording committed): hand it to the loop. */
static void reply_done(void *arg, struct reply *reply)
{
    server_complete(arg, reply);
}

void server_complete(struct pending *p, struct reply *reply)
{
    struct server *srv = p->srv;

    p->reply = *reply;
    p->status = reply->status;
    p->has_reply = 1;
    pthread_mutex_lock(&srv->done_lock);
    p->next = srv->done_head;
    srv->done_head = p;
    pthread_mutex_unlock(&srv->done_lock);
    lws_cancel_service(srv->lws);
}

struct pending *server_pending_new(struct http_session *sess)
{
    struct pending *p = sess->handed;

    if (p) {
        sess->handed = NULL; /* the origin loop's, which answers on its connection */
        return p;
    }
    p = calloc(1, sizeof(*p));
    if (p) {
        p->wsi = sess->wsi;
        p->srv = sess->srv;
    }
    return p;
}

/* ---- one call's conversation on one loop ---- */

/*
 * A Gather webhook of a call whose conversation lives on another loop: the
 * origin loop read the body and checked the signature, and keeps the
 * connection (`p`); the home loop runs the handler and answers through
 * server_complete. Without `p` it only tells the home loop that the call
 * is over.
 */
struct handoff {
    struct handoff *next;
    const struct endpoint *endpoint;
    struct pending *p;
    struct form form;
    char stream_url[CONFIG_URL_SIZE];
    char agent[64]; /* ?agent=NAME of the URL, or "" */
    char call_sid[SID_SIZE];
};

struct server *server_home_of(struct server *srv, const char *call_sid)
{
    const struct server_group *g = srv->group;
    unsigned long long h = 1469598103934665603ULL; /* FNV-1a */

    if (!g || g->nloops < 2 || !call_sid || !*call_sid)
        return srv;
    for (const unsigned char *c = (const unsigned char *)call_sid; *c; c++)
        h = (h ^ *c) * 1099511628211ULL;
    return g->loops[h % (unsigned long long)g->nloops];
}

static void handoff_push(struct server *home, struct handoff *h)
{
    pthread_mutex_lock(&home->done_lock);
    h->next = home->handoffs;
    home->handoffs = h;
    pthread_mutex_unlock(&home->done_lock);
    lws_cancel_service(home->lws);
}

static void handoff_free(struct handoff *h)
{
    form_release(&h->form);
    free(h);
}

/* The call ended: its conversation goes, on whichever loop holds it. */
static void forget_conversation(struct server *srv, const char *call_sid)
{
    struct server *home = server_home_of(srv, call_sid);
    struct handoff *h;

    if (home == srv) {
        conversations_forget(srv, call_sid);
        return;
    }
    h = calloc(1, sizeof(*h));
    if (!h)
        return; /* the conversation idles out instead */
    snprintf(h->call_sid, sizeof(h->call_sid), "%s", call_sid);
    handoff_push(home, h);
}

/*
 * Passes a signed Gather webhook (its parsed form is taken) to the call's
 * home loop; the session waits as for the writer. Returns 0, or -1 when
 * out of memory (the caller answers).
 */
static int hand_off(struct http_session *sess, struct server *home, struct form *form,
                    const char *stream_url, const char *agent)
{
    struct handoff *h = calloc(1, sizeof(*h));
    struct pending *p = h ? server_pending_new(sess) : NULL;

    if (!p) {
        free(h);
        return -1;
    }
    h->endpoint = sess->endpoint;
    h->p = p;
    h->form = *form;
    *form = (struct form)FORM_INIT;
    snprintf(h->stream_url, sizeof(h->stream_url), "%s", stream_url);
    snprintf(h->agent, sizeof(h->agent), "%s", agent ? agent : "");
    sess->pending = p;
    handoff_push(home, h);
    return 0;
}

/* The answer a completed status event gets: 204, or 503 when it could not be recorded. */
static void status_reply(const struct pending *p, struct reply *r)
{
    r->status = p->status;
    r->content_type = p->status == 204 ? NULL : "text/plain; charset=utf-8";
    if (p->status != 204 &&
        reply_text(r, p->status, "error: the call log could not record this event; retry\n"))
        r->content_type = NULL; /* out of memory: the status alone */
}

void server_drain_completions(struct server *srv)
{
    static const char *const outcomes[] = {"applied", "duplicate", "stale"};
    struct pending *list;

    pthread_mutex_lock(&srv->done_lock);
    list = srv->done_head;
    srv->done_head = NULL;
    pthread_mutex_unlock(&srv->done_lock);
    while (list) {
        struct pending *p = list;
        struct reply r = REPLY_INIT;

        list = p->next;
        if (p->has_reply) {
            if (p->reply.uncommitted_call[0] && srv->flow_states)
                flow_states_forget(srv->flow_states, p->reply.uncommitted_call);
            r = p->reply;
            if (r.answered_elsewhere)
                voice_flow_replay_stored(&srv->voice, r.uncommitted_call, &r);
        } else {
            if (p->status == 204)
                metrics_call_status(&srv->metrics, p->call_status, outcomes[p->outcome]);
            status_reply(p, &r);
        }
        if (!p->orphaned) {
            struct http_session *sess = lws_wsi_user(p->wsi);
            struct conn_info *ci = conn_info_of(p->wsi);

            if (ci && ci->pending == p)
                ci->pending = NULL;
            if (!sess || sess->pending != p) {
                /*
                 * lws 4.1 let go of the session under a deferred answer (a
                 * request with a body read from its buffer, pipelined behind
                 * an answer): nothing to answer on, so the connection closes.
                 */
                log_event(LOG_INFO, "http.pipeline_closed",
                          "reason=\"the session of a deferred answer is gone\"");
                lws_set_timeout(p->wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
                reply_release(&r);
                free(p);
                continue;
            }
            sess->pending = NULL;
            reply_release(&sess->reply);
            sess->reply = r;
            sess->reply_ready = 1;
            lws_callback_on_writable(p->wsi);
        } else {
            if (p->detached)
                http_answer_detached(p->detached_fd, &r);
            reply_release(&r);
        }
        free(p);
    }
}

/* Every loop's counts, added up. */
static int metrics_render_all(struct server_group *g, struct buf *out)
{
    struct metrics *all = calloc(1, sizeof(*all));
    struct metrics_loop *loops = calloc((size_t)g->nloops, sizeof(*loops));
    int rc = SB_ENOMEM;

    if (all && loops) {
        for (int i = 0; i < g->nloops; i++) {
            metrics_merge(all, &g->loops[i]->metrics);
            loops[i].accepted = __atomic_load_n(&g->loops[i]->accepted, __ATOMIC_RELAXED);
            loops[i].inflight = __atomic_load_n(&g->loops[i]->inflight, __ATOMIC_RELAXED);
            loops[i].streams = __atomic_load_n(&g->loops[i]->nstreams, __ATOMIC_RELAXED);
            loops[i].relays = __atomic_load_n(&g->loops[i]->nrelays, __ATOMIC_RELAXED);
        }
        rc = metrics_render(all, out);
        if (!rc)
            rc = metrics_render_loops(loops, g->nloops, out);
    }
    free(all);
    free(loops);
    return rc;
}

static void reply_plain(struct http_session *sess, int status, const char *msg)
{
    reply_text(&sess->reply, status, msg);
    sess->reply_ready = 1;
}

static void dispatch_get(struct http_session *sess)
{
    struct server *srv = sess->srv;
    struct buf text = BUF_INIT(HTTP_MAX_BODY);

    if (sess->endpoint->kind == EP_STREAM) {
        reply_plain(sess, 426,
                    "error: /voice/stream is a WebSocket endpoint (Twilio Media "
                    "Streams); send an Upgrade: websocket request\n");
        return;
    }
    if (sess->endpoint->kind == EP_RELAY) {
        reply_plain(sess, 426,
                    "error: /voice/relay is a WebSocket endpoint (Twilio "
                    "ConversationRelay); send an Upgrade: websocket request\n");
        return;
    }
    if (sess->endpoint->kind == EP_HEALTHZ) {
        if (store_ping(srv->store) == 0)
            reply_plain(sess, 200, "ok\n");
        else
            reply_plain(sess, 503, "error: store is not answering\n");
        return;
    }
    if (metrics_render_all(srv->group, &text)) {
        buf_release(&text);
        reply_plain(sess, 500, "error: metrics do not fit in a reply\n");
        return;
    }
    sess->reply.status = 200;
    sess->reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
    sess->reply.body = buf_detach(&text, &sess->reply.len);
    sess->reply_ready = 1;
}

/* Only form bodies are Twilio voice webhooks. */
static int content_type_ok(struct lws *wsi)
{
    char ct[128];

    if (lws_hdr_copy(wsi, ct, sizeof(ct), WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
        return 0;
    return strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0 &&
           (ct[33] == '\0' || ct[33] == ';' || ct[33] == ' ');
}

static int check_signature(struct http_session *sess, struct lws *wsi, const struct form *form,
                           char *stream_url, size_t stream_size)
{
    struct server *srv = sess->srv;
    struct buf url = BUF_INIT(8192);
    char header[128];
    int rc;

    rc = public_url(srv, wsi, sess->path, &url, stream_url, stream_size);
    if (rc)
        goto out;
    if (srv->cfg->dev) {
        log_event(LOG_WARN, "security.unsigned",
                  "path=%s reason=\"--dev: X-Twilio-Signature is not checked\"", sess->path);
        goto out;
    }
    custom_header(wsi, "x-twilio-signature:", header, sizeof(header));
    rc = sig_key_validate(srv->sig_key, buf_cstr(&url), form, header);
out:
    buf_release(&url);
    return rc;
}

/*
 * Runs a flow step (or logs a voicemail recording) whose answer waits for the
 * writer; `step` is the URL's step, NULL for the incoming webhook, or
 * "recording" for the recording callback.
 */
static void deferred_flow(struct http_session *sess, const struct voice_ctx *ctx,
                          const struct form *form, const char *step)
{
    struct pending *p = server_pending_new(sess);
    int rc;

    if (!p) {
        voice_apology(&sess->reply);
        sess->reply_ready = 1;
        return;
    }
    if (step && strcmp(step, "recording") == 0)
        rc = voice_flow_recording(ctx, form, reply_done, p, &sess->reply);
    else
        rc = voice_flow(ctx, form, step, reply_done, p, &sess->reply);
    if (rc == 0) {
        sess->pending = p;
    } else {
        free(p);
        sess->reply_ready = 1;
    }
}

/*
 * The job a URL names (?job=ID): 1 with *id set, 0 when the URL has none,
 * -1 when it is not a job id (1 to 18 digits, not 0).
 */
static int url_job(struct lws *wsi, long long *id)
{
    char arg[64];
    const char *v = lws_get_urlarg_by_name(wsi, "job=", arg, sizeof(arg));

    *id = 0;
    if (!v)
        return 0;
    return job_id_parse(v, id) == 0 ? 1 : -1;
}

/*
 * Routes a job's call as the tenant's number it was placed from (`flow`,
 * `agent`: the job's; server/outbound_route.h), in the job's language.
 * Returns 0, or answers the apology and returns -1 when the call is not from
 * one of the job's tenant's numbers.
 */
static int job_route_or_apology(struct http_session *sess, const struct form *form,
                                const struct job *job, const struct tenant *tenant,
                                struct job_route *jr)
{
    const char *flow = job->kind == JOB_KIND_FLOW ? job->target : NULL;
    const char *agent = job->kind == JOB_KIND_AGENT ? job->target : NULL;

    if (job_route_init(jr, &sess->srv->routing->routes, form_get(form, "To"),
                       form_get(form, "From"), flow, agent, outbound_job_lang(job, tenant)) == 0 &&
        strcmp(jr->tenant.name, job->tenant) == 0)
        return 0;
    log_event(LOG_WARN, "outbound.unknown_job",
              "job=%lld reason=\"the call is not from one of the job's tenant's numbers\"",
              job->id);
    voice_apology(&sess->reply);
    sess->reply_ready = 1;
    return -1;
}

/*
 * Starts a flow job's flow: the tenant's flow named by the job, in the
 * job's language. The start's From is hidden from the language guess
 * (it is the tenant's own number) so that the tenant's default, here the
 * job's language, applies.
 */
static void outbound_flow(struct http_session *sess, const struct voice_ctx *ctx,
                          const struct form *form, const struct job *job,
                          const struct tenant *tenant)
{
    struct voice_ctx fctx = *ctx;
    struct form start = FORM_INIT;
    struct job_route jr;

    if (job_route_or_apology(sess, form, job, tenant, &jr) != 0)
        return;
    if (form_extend(&start, form) != 0 || form_set(&start, "From", "anonymous") != 0) {
        form_release(&start);
        voice_apology(&sess->reply);
        sess->reply_ready = 1;
        return;
    }
    fctx.routes = &jr.routes;
    log_event(LOG_INFO, "outbound.answered", "job=%lld call_sid=%s kind=flow flow=%s lang=%s",
              job->id, form_get(form, "CallSid"), job->target, jr.tenant.default_lang);
    deferred_flow(sess, &fctx, &start, NULL);
    form_release(&start);
}

/*
 * Connects an agent job's call to its agent the way the number it was
 * placed from answers (its plan: a Gather, a Media Stream or a
 * ConversationRelay), in the job's language.
 */
static void outbound_agent(struct http_session *sess, const struct voice_ctx *ctx,
                           const struct form *form, const struct job *job,
                           const struct tenant *tenant)
{
    struct voice_ctx actx = *ctx;
    struct job_route jr;

    if (job_route_or_apology(sess, form, job, tenant, &jr) != 0)
        return;
    actx.routes = &jr.routes;
    log_event(LOG_INFO, "outbound.answered", "job=%lld call_sid=%s kind=agent agent=%s lang=%s",
              job->id, form_get(form, "CallSid"), job->target, jr.tenant.default_lang);
    voice_connect_agent(&actx, form, &sess->reply);
    sess->reply_ready = 1;
}

/*
 * /voice/outbound?job=ID: the call placed for a job connected. The job is
 * one indexed read on the loop's read connection (as a flow call's state
 * after a restart); its tenant comes from the routing cache.
 */
static void outbound_answer(struct http_session *sess, struct lws *wsi, const struct voice_ctx *ctx,
                            const struct form *form)
{
    struct server *srv = sess->srv;
    const char *sid = form_get(form, "CallSid");
    struct job job;
    long long id;
    int rc;

    if (url_job(wsi, &id) != 1) {
        reply_plain(sess, 400, "error: job must be a job id (?job=ID, digits)\n");
        return;
    }
    if (!sid || !*sid) {
        reply_plain(sess, 400, "error: missing CallSid\n");
        return;
    }
    rc = job_get(srv->store, id, &job);
    if (rc || (job.status != JOB_PLACING && job.status != JOB_PLACED) ||
        (job.call_sid[0] && strcmp(job.call_sid, sid) != 0)) {
        log_event(LOG_WARN, "outbound.unknown_job", "job=%lld call_sid=%.40s reason=\"%s\"", id,
                  sid,
                  rc == SB_ENOTFOUND ? "no such job"
                  : rc               ? "the store cannot read it"
                                     : "the job has no call in progress with this CallSid");
        voice_apology(&sess->reply);
        sess->reply_ready = 1;
        return;
    }
    if (job.kind == JOB_KIND_FLOW) {
        outbound_flow(sess, ctx, form, &job,
                      routes_tenant_named(&srv->routing->routes, job.tenant));
        return;
    }
    if (job.kind == JOB_KIND_AGENT) {
        outbound_agent(sess, ctx, form, &job,
                       routes_tenant_named(&srv->routing->routes, job.tenant));
        return;
    }
    voice_outbound(&job, routes_tenant_named(&srv->routing->routes, job.tenant), sid, &sess->reply);
    sess->reply_ready = 1;
}

/* /voice/amd?job=ID: the asynchronous AMD result, for the placer to store and act on. */
static void outbound_amd(struct http_session *sess, struct lws *wsi, const struct form *form)
{
    const char *sid = form_get(form, "CallSid");
    const char *by = form_get(form, "AnsweredBy");
    long long id;

    if (url_job(wsi, &id) != 1) {
        reply_plain(sess, 400, "error: job must be a job id (?job=ID, digits)\n");
        return;
    }
    if (!sid || !*sid || strlen(sid) >= 40 || !by || !*by || strlen(by) >= 32) {
        reply_plain(sess, 400, "error: missing or oversized CallSid or AnsweredBy\n");
        return;
    }
    log_event(LOG_INFO, "outbound.amd_result", "job=%lld call_sid=%s answered_by=%s", id, sid, by);
    if (outbound_submit_amd(sess->srv->outbound, id, sid, by) != 0) {
        reply_plain(sess, 503, "error: the placer cannot take this result now; retry\n");
        return;
    }
    reply_release(&sess->reply);
    sess->reply.status = 204;
    sess->reply_ready = 1;
}

/* A final call status: the call's conversation can go. */
static int call_is_over(const char *status)
{
    static const char *const over[] = {"completed", "busy", "failed", "no-answer", "canceled"};

    for (size_t i = 0; status && i < sizeof(over) / sizeof(over[0]); i++) {
        if (strcmp(status, over[i]) == 0)
            return 1;
    }
    return 0;
}

/* The webhooks that follow a call's answer, which an outbound call's job routes (gather_request
 * routes Gather's). */
static int routed_by_job(enum endpoint_kind kind)
{
    return kind == EP_FLOW || kind == EP_FLOW_RECORDING || kind == EP_STREAM_ENDED ||
           kind == EP_RELAY_ENDED || kind == EP_TRANSFER_ENDED;
}

static int is_gather(enum endpoint_kind kind)
{
    return kind == EP_GATHER || kind == EP_GATHER_CONTINUE || kind == EP_GATHER_PARTIAL;
}

/*
 * A signed Gather webhook on its call's home loop (routed by `ctx`, or by
 * its job for a call we placed): the call's LLM conversation takes it (the
 * answer comes later through sess's pending) or the rule agent answers now.
 * A partial result is answered 204 (Twilio ignores it).
 */
static void gather_request(struct http_session *sess, struct voice_ctx ctx, const struct form *form,
                           const char *agent)
{
    enum endpoint_kind kind = sess->endpoint->kind;
    struct job_route jr;

    /* A call we placed: routed by its job, not by To (the person called). */
    if (outbound_route_of_call(sess->srv, form, &jr))
        ctx.routes = &jr.routes;
    if (kind == EP_GATHER_PARTIAL) {
        conversations_partial(sess->srv, agent, ctx.routes, form);
        reply_release(&sess->reply);
        sess->reply.status = 204;
        sess->reply_ready = 1;
        return;
    }
    if (conversations_gather(sess, agent, ctx.routes, form, kind == EP_GATHER_CONTINUE))
        return;
    /* No LLM agent on this number: the rule agent answers (a continuation too). */
    voice_gather(&ctx, form, &sess->reply);
    sess->reply_ready = 1;
}

void server_take_handoffs(struct server *srv)
{
    struct handoff *list;

    pthread_mutex_lock(&srv->done_lock);
    list = srv->handoffs;
    srv->handoffs = NULL;
    pthread_mutex_unlock(&srv->done_lock);
    while (list) {
        struct handoff *h = list;
        struct http_session vs;
        struct voice_ctx ctx = srv->voice;

        list = h->next;
        if (!h->p) {
            conversations_forget(srv, h->call_sid);
            handoff_free(h);
            continue;
        }
        /* A session of this loop's own for the handler; the answer goes to the origin's. */
        memset(&vs, 0, sizeof(vs));
        vs.srv = srv;
        vs.endpoint = h->endpoint;
        vs.handed = h->p;
        vs.reply = (struct reply)REPLY_INIT;
        ctx.stream_url = h->stream_url;
        gather_request(&vs, ctx, &h->form, h->agent);
        if (vs.reply_ready)
            server_complete(h->p, &vs.reply); /* the reply moves to the origin loop */
        handoff_free(h);
    }
}

/* At shutdown, after every context is gone: webhooks no loop will run now. */
void server_drop_handoffs(struct server *srv)
{
    while (srv->handoffs) {
        struct handoff *h = srv->handoffs;

        srv->handoffs = h->next;
        /* The origin's context is gone with its sockets: nothing else holds `p` now. */
        if (h->p && h->p->detached)
            close(h->p->detached_fd);
        free(h->p);
        handoff_free(h);
    }
}

static void dispatch_post(struct http_session *sess, struct lws *wsi)
{
    struct server *srv = sess->srv;
    struct form form = FORM_INIT;
    struct voice_ctx ctx = srv->voice;
    char stream_url[CONFIG_URL_SIZE];
    struct pending *p = NULL;
    struct job_route jr;
    int rc;

    if (!content_type_ok(wsi)) {
        reply_plain(sess, 415, "error: Content-Type must be application/x-www-form-urlencoded\n");
        return;
    }
    rc = form_parse(&form, buf_cstr(&sess->body), sess->body.len);
    if (rc == SB_ETOOBIG) {
        reply_plain(sess, 400, "error: request body has more than 1000 form fields\n");
        return;
    }
    if (rc) {
        reply_plain(sess, 400,
                    "error: request body is not valid form encoding "
                    "(malformed percent-escape)\n");
        return;
    }
    rc = check_signature(sess, wsi, &form, stream_url, sizeof(stream_url));
    if (rc) {
        log_event(LOG_WARN, "security.bad_signature", "path=%s call_sid=%s", sess->path,
                  form_get(&form, "CallSid") ? form_get(&form, "CallSid") : "-");
        reply_plain(sess, 403,
                    rc == SB_EBADSIG ? "error: X-Twilio-Signature is missing or does not match\n"
                                     : "error: cannot rebuild the signed URL of this request\n");
        goto out;
    }
    ctx.stream_url = stream_url;
    if (is_gather(sess->endpoint->kind)) {
        /* On the call's home loop, which holds its conversation; passed there if not this. */
        struct server *home = server_home_of(srv, form_get(&form, "CallSid"));
        char arg[64];
        const char *agent = lws_get_urlarg_by_name(wsi, "agent=", arg, sizeof(arg));

        if (home == srv)
            gather_request(sess, ctx, &form, agent);
        else if (hand_off(sess, home, &form, stream_url, agent))
            reply_plain(sess, 503, "error: out of memory\n");
        goto out;
    }
    /*
     * A call we placed: routed by its job, not by To (the person called).
     * The flow's state, the conversation or the job decide the rest.
     */
    if (routed_by_job(sess->endpoint->kind) && outbound_route_of_call(srv, &form, &jr))
        ctx.routes = &jr.routes;
    switch (sess->endpoint->kind) {
    case EP_INCOMING:
        if (voice_incoming(&ctx, &form, &sess->reply) == VOICE_RUN_FLOW) {
            deferred_flow(sess, &ctx, &form, NULL);
            break;
        }
        sess->reply_ready = 1;
        break;
    case EP_FLOW: {
        char arg[32];
        /* lws copies "step=N" into arg and points past the name. */
        const char *step = lws_get_urlarg_by_name(wsi, "step=", arg, sizeof(arg));

        deferred_flow(sess, &ctx, &form, step ? step : "");
        break;
    }
    case EP_FLOW_RECORDING:
        deferred_flow(sess, &ctx, &form, "recording");
        break;
    case EP_STREAM_ENDED:
        voice_stream_ended(&ctx, &form, &sess->reply);
        sess->reply_ready = 1;
        break;
    case EP_RELAY_ENDED:
        voice_relay_ended(&ctx, &form, &sess->reply);
        sess->reply_ready = 1;
        break;
    case EP_STATUS:
        if (call_is_over(form_get(&form, "CallStatus")))
            forget_conversation(srv, form_get(&form, "CallSid"));
        p = server_pending_new(sess);
        if (!p) {
            reply_plain(sess, 503, "error: out of memory\n");
            break;
        }
        if (url_job(wsi, &p->job_id) < 0) {
            free(p);
            reply_plain(sess, 400, "error: job must be a job id (?job=ID, digits)\n");
            break;
        }
        snprintf(p->call_sid, sizeof(p->call_sid), "%s",
                 form_get(&form, "CallSid") ? form_get(&form, "CallSid") : "");
        snprintf(p->answered_by, sizeof(p->answered_by), "%s",
                 form_get(&form, "AnsweredBy") ? form_get(&form, "AnsweredBy") : "");
        if (voice_status(&ctx, &form, status_done, p, &sess->reply) == 0) {
            sess->pending = p;
        } else {
            free(p);
            sess->reply_ready = 1;
        }
        break;
    case EP_TRANSFER_ENDED: {
        struct transfer_text text;

        if (voice_transfer_ended(&ctx, &form, &sess->reply, &text) &&
            outbound_submit_text(srv->outbound, &text) != 0)
            log_event(LOG_ERROR, "transfer.sms_failed",
                      "call_sid=%s error=\"the placer cannot take the SMS fallback\"",
                      text.call_sid);
        sess->reply_ready = 1;
        break;
    }
    case EP_OUTBOUND:
        outbound_answer(sess, wsi, &ctx, &form);
        break;
    case EP_AMD:
        outbound_amd(sess, wsi, &form);
        break;
    case EP_SMS_INCOMING:
        sms_incoming(sess, &form);
        break;
    default:
        reply_plain(sess, 500, "error: endpoint has no handler\n");
        break;
    }
out:
    form_release(&form);
}

void dispatch_request(struct http_session *sess, struct lws *wsi)
{
    if (sess->endpoint->kind == EP_API_CALLS || sess->endpoint->kind == EP_API_CALL)
        api_request(sess, wsi);
    else if (sess->endpoint->post)
        dispatch_post(sess, wsi);
    else
        dispatch_get(sess);
}
