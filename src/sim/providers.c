/*
 * switchboard sim providers, the server: one libwebsockets context whose
 * HTTP upgrades are routed by path to the stand-ins (providers_deepgram.c,
 * providers_tts.c), checked first as each provider checks them (key,
 * query, headers; refused with the provider's HTTP status). Each socket
 * has one outbound queue whose messages carry the time they may go
 * (--first-byte-ms, --slow-ms), served by one lws_sul timer per socket.
 * Recognition and synthesis block, so they run on two worker threads,
 * whose answers come back through lws_cancel_service.
 */
#include "sim/providers.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/utf8.h"
#include "net/http_reply.h"
#include "net/listen.h"
#include "sim/providers_internal.h"
#include "core/banned.h"

#define TICK_US (100 * 1000)
#define MAX_ARGS 32
#define ARGS_BYTES 4096

/*
 * What pocketsphinx listens for without --phrases: what callers say to a
 * voice agent most (hours, a person, yes/no, thanks, goodbye, bookings).
 */
static const char *const default_phrases[] = {
    "what are your hours",
    "what are your opening hours",
    "when are you open",
    "what time do you close",
    "are you open today",
    "i want to talk to a person",
    "can i speak to someone",
    "talk to a human",
    "representative",
    "operator",
    "yes",
    "yes please",
    "no",
    "no thanks",
    "thank you",
    "goodbye",
    "hello",
    "help",
    "repeat that",
    "i want to book an appointment",
    "cancel my appointment",
    "where are you located",
    "how much does it cost",
    "i want to leave a message",
};

/* --- the workers ---------------------------------------------------------------------------- */

struct prov_job *prov_job_new(struct prov_conn *c, enum prov_job_kind kind)
{
    struct prov_job *j = calloc(1, sizeof(*j));

    if (!j)
        return NULL;
    j->kind = kind;
    j->conn_id = c->id;
    j->submitted_us = clock_mono_us();
    return j;
}

void prov_job_free(struct prov_job *j)
{
    if (!j)
        return;
    free(j->audio);
    free(j->text);
    free(j->mulaw);
    free(j);
}

int prov_submit(struct prov_server *s, struct prov_job *j)
{
    pthread_mutex_lock(&s->lock);
    if (s->quit) {
        pthread_mutex_unlock(&s->lock);
        prov_job_free(j);
        return SB_EBUSY;
    }
    j->next = NULL;
    if (s->todo_tail)
        s->todo_tail->next = j;
    else
        s->todo = j;
    s->todo_tail = j;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void run_job(struct prov_server *s, struct prov_job *j)
{
    char err[200] = "";
    long long t0 = clock_mono_us();

    if (j->kind == PROV_JOB_RECOGNIZE) {
        struct stt_request req;

        memset(&req, 0, sizeof(req));
        req.mulaw = j->audio;
        req.len = j->len;
        req.lang = j->lang;
        req.phrases = s->phrases;
        req.nphrases = s->nphrases;
        j->rc = s->have_stt ? stt_recognize(&s->stt, &req, &j->heard, err, sizeof(err)) : SB_EIO;
    } else if (s->o->replay_audio) {
        /* --replay-audio: the same clip for any text, a copy the job owns. */
        j->mulaw = malloc(s->o->replay_len);
        j->rc = j->mulaw ? 0 : SB_ENOMEM;
        if (j->mulaw) {
            memcpy(j->mulaw, s->o->replay_audio, s->o->replay_len);
            j->mulaw_len = s->o->replay_len;
        }
    } else {
        j->rc = tts_synth_mulaw(&s->tts, j->text, j->lang, NULL, &j->mulaw, &j->mulaw_len, err,
                                sizeof(err));
    }
    j->ms = (double)(clock_mono_us() - t0) / 1000.0;
    if (j->rc)
        log_event(LOG_WARN, "providers.engine_failed", "conn=%llu kind=%s error=\"%s\"", j->conn_id,
                  j->kind == PROV_JOB_RECOGNIZE ? "recognize" : "synthesize", err);
}

static void *worker(void *arg)
{
    struct prov_server *s = arg;

    pthread_mutex_lock(&s->lock);
    while (!s->quit) {
        struct prov_job *j = s->todo;

        if (!j) {
            pthread_cond_wait(&s->wake, &s->lock);
            continue;
        }
        s->todo = j->next;
        if (!s->todo)
            s->todo_tail = NULL;
        pthread_mutex_unlock(&s->lock);
        run_job(s, j);
        pthread_mutex_lock(&s->lock);
        j->next = NULL;
        if (s->done_tail)
            s->done_tail->next = j;
        else
            s->done = j;
        s->done_tail = j;
        /* The loop is alive while workers run: sim_providers_run joins them first. */
        lws_cancel_service(s->lws);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static int workers_start(struct prov_server *s)
{
    sigset_t all, old;

    sigfillset(&all);
    /* Signals are the loop's: the workers start with every one blocked. */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 0; i < PROV_WORKERS; i++) {
        if (pthread_create(&s->threads[i], NULL, worker, s) != 0)
            break;
        s->nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return s->nthreads == PROV_WORKERS ? 0 : SB_EIO;
}

static void workers_stop(struct prov_server *s)
{
    pthread_mutex_lock(&s->lock);
    s->quit = 1;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    s->nthreads = 0;
    while (s->todo) {
        struct prov_job *j = s->todo;

        s->todo = j->next;
        prov_job_free(j);
    }
    while (s->done) {
        struct prov_job *j = s->done;

        s->done = j->next;
        prov_job_free(j);
    }
    s->todo_tail = s->done_tail = NULL;
}

static struct prov_conn *conn_by_id(struct prov_server *s, unsigned long long id)
{
    for (struct prov_conn *c = s->conns; c; c = c->next) {
        if (c->id == id)
            return c;
    }
    return NULL;
}

/* The loop: every answer to its connection, if it is still there. */
static void drain_done(struct prov_server *s)
{
    struct prov_job *list;

    pthread_mutex_lock(&s->lock);
    list = s->done;
    s->done = s->done_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    while (list) {
        struct prov_job *j = list;
        struct prov_conn *c = conn_by_id(s, j->conn_id);

        list = j->next;
        if (c && !c->closing) {
            if (c->kind == SIM_PROVIDERS_DEEPGRAM)
                prov_dg_job_done(c, j);
            else if (c->kind == SIM_PROVIDERS_ELEVENLABS)
                prov_el_job_done(c, j);
            else
                prov_ca_job_done(c, j);
        }
        prov_job_free(j);
    }
}

/* --- the outbound queue --------------------------------------------------------------------- */

static void on_due(lws_sorted_usec_list_t *sul)
{
    struct prov_conn *c = lws_container_of(sul, struct prov_conn, sul);

    lws_callback_on_writable(c->wsi);
}

/* Asks for a writable callback when the first queued message is due. */
static void arm(struct prov_conn *c)
{
    long long now = clock_mono_us();

    if (!c->out)
        return;
    if (c->out->due_us <= now)
        lws_callback_on_writable(c->wsi);
    else
        lws_sul_schedule(c->srv->lws, 0, &c->sul, on_due, (lws_usec_t)(c->out->due_us - now));
}

static void queue(struct prov_conn *c, struct prov_msg *m, long long not_before)
{
    long long now = clock_mono_us();
    long long due = not_before > now ? not_before : now;
    long long slow = (long long)c->srv->o->slow_ms * 1000;

    /* In order, and --slow-ms apart. */
    if (c->last_due_us && due < c->last_due_us + slow)
        due = c->last_due_us + slow;
    m->due_us = due;
    c->last_due_us = due;
    m->next = NULL;
    if (c->out_tail)
        c->out_tail->next = m;
    else
        c->out = m;
    c->out_tail = m;
    c->nout++;
    if (c->out == m)
        arm(c);
}

void prov_close(struct prov_conn *c, int code, const char *reason)
{
    struct prov_msg *m;
    char shown[128];

    if (c->closing)
        return;
    c->closing = 1;
    c->close_code = code;
    log_event(code == 1000 ? LOG_INFO : LOG_WARN, "providers.closing",
              "conn=%llu code=%d reason=\"%s\"", c->id, code,
              prov_loggable(reason, shown, sizeof(shown)));
    m = calloc(1, sizeof(*m) + LWS_PRE);
    if (!m) {
        /* Without memory for the close frame, the socket just goes. */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        return;
    }
    m->close_code = code;
    snprintf(m->reason, sizeof(m->reason), "%s", reason);
    /* A close frame's reason is UTF-8: a character cut by the limit goes whole. */
    for (size_t n = strlen(m->reason); n > 0 && !utf8_valid(m->reason, n); n--)
        m->reason[n - 1] = '\0';
    queue(c, m, 0);
}

const char *prov_loggable(const char *reason, char *out, size_t size)
{
    const char *near = strstr(reason, " near ");
    size_t n = strcspn(reason, "'");

    if (near && (size_t)(near - reason) < n)
        n = (size_t)(near - reason);
    snprintf(out, size, "%.*s", (int)n, reason);
    return out;
}

int prov_send(struct prov_conn *c, char *json, long long not_before, unsigned tag, int audio)
{
    struct prov_msg *m;
    size_t len;

    if (c->closing) {
        free(json);
        return -1;
    }
    if (!json || c->nout >= PROV_MAX_QUEUED) {
        free(json);
        prov_close(c, 1011, json ? "too many messages waiting" : "out of memory");
        return -1;
    }
    len = strlen(json);
    m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m) {
        free(json);
        prov_close(c, 1011, "out of memory");
        return -1;
    }
    memset(m, 0, sizeof(*m));
    m->tag = tag;
    m->len = len;
    memcpy(m->data + LWS_PRE, json, len);
    free(json);
    queue(c, m, not_before);
    if (audio && c->srv->o->cut_after > 0 &&
        ++c->audio_out >= (unsigned long)c->srv->o->cut_after) {
        log_event(LOG_INFO, "providers.cut", "conn=%llu after=%lu", c->id, c->audio_out);
        prov_close(c, 1011, "cut by --cut-after");
    }
    return 0;
}

void prov_drop_tag(struct prov_conn *c, unsigned tag)
{
    struct prov_msg **pp = &c->out, *m;

    c->out_tail = NULL;
    while ((m = *pp) != NULL) {
        if (m->tag == tag && !m->close_code) {
            *pp = m->next;
            c->nout--;
            free(m);
            continue;
        }
        c->out_tail = m;
        pp = &m->next;
    }
    arm(c);
}

int prov_send_audio(struct prov_conn *c, const struct prov_job *j, unsigned tag,
                    prov_piece_json piece, void *arg)
{
    long long first = j->submitted_us + (long long)c->srv->o->first_byte_ms * 1000;

    for (size_t off = 0; off < j->mulaw_len; off += SIM_PROVIDERS_PIECE) {
        size_t n = j->mulaw_len - off;

        if (n > SIM_PROVIDERS_PIECE)
            n = SIM_PROVIDERS_PIECE;
        if (prov_send(c, piece(arg, j->mulaw + off, n), off == 0 ? first : 0, tag, 1) != 0)
            return -1;
    }
    return 0;
}

/* Writes the first queued message when it is due; the close frame ends the socket (-1). */
static int on_writable(struct prov_conn *c)
{
    struct prov_msg *m = c->out;
    long long now = clock_mono_us();
    int n;

    if (!m)
        return 0;
    if (m->due_us > now) {
        arm(c);
        return 0;
    }
    c->out = m->next;
    if (!c->out)
        c->out_tail = NULL;
    c->nout--;
    if (m->close_code) {
        lws_close_reason(c->wsi, (enum lws_close_status)m->close_code, (unsigned char *)m->reason,
                         strlen(m->reason));
        free(m);
        return -1;
    }
    n = lws_write(c->wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
    n = n < (int)m->len ? -1 : 0;
    free(m);
    if (n)
        return -1;
    c->sent++;
    arm(c);
    return 0;
}

/* --- handshakes ----------------------------------------------------------------------------- */

/* What an upgrade asked for, read from its request. */
struct upgrade {
    enum sim_providers_route route;
    char path[512];
    char voice[72];
    char argbuf[ARGS_BYTES];
    const char *args[MAX_ARGS];
    size_t nargs;
    struct sim_providers_dg_query dg;
    struct sim_providers_el_query el;
    int key_checked; /* ElevenLabs: the header carried the key */
};

/* A random version-4 UUID, as Deepgram's request ids. */
static void new_uuid(char out[40])
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1)
        memset(b, 0, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static char *json_text(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    return text;
}

static int header(struct lws *wsi, const char *hname, const char *value, unsigned char **p,
                  unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)hname,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

/*
 * Answers the request with `status` and `body` and closes: a refused
 * upgrade, or a plain HTTP request. Deepgram's refusals carry its
 * dg-request-id and dg-error headers and its JSON error body; ElevenLabs'
 * its {"detail":{"status","message"}}; the others are plain text.
 */
static int answer(struct lws *wsi, enum sim_providers_route route, int status, const char *code,
                  const char *message)
{
    unsigned char buf[LWS_PRE + 4096];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf);
    char request_id[40], *body = NULL;
    const char *type = "text/plain; charset=utf-8";
    size_t blen;
    int n;

    new_uuid(request_id);
    if (route == SIM_PROVIDERS_DEEPGRAM)
        body = json_text(json_pack("{s:s,s:s,s:s}", "err_code", code, "err_msg", message,
                                   "request_id", request_id));
    else if (route == SIM_PROVIDERS_ELEVENLABS)
        body = json_text(json_pack("{s:{s:s,s:s}}", "detail", "status", code, "message", message));
    if (body) {
        type = "application/json";
    } else {
        size_t need = strlen(message) + 16;

        body = malloc(need);
        if (!body)
            return -1;
        snprintf(body, need, "%s%s\n", status < 300 ? "" : "error: ", message);
    }
    blen = strlen(body);
    n = snprintf((char *)p, (size_t)(end - p), "HTTP/1.1 %d %s\r\n", status,
                 net_http_reason(status));
    if (n < 0 || n >= end - p)
        goto fail;
    p += n;
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char *)type,
                                     (int)strlen(type), &p, end) ||
        lws_add_http_header_content_length(wsi, blen, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                     &p, end))
        goto fail;
    if (route == SIM_PROVIDERS_DEEPGRAM &&
        (header(wsi, "dg-request-id:", request_id, &p, end) ||
         (status >= 400 && header(wsi, "dg-error:", message, &p, end))))
        goto fail;
    if (lws_finalize_http_header(wsi, &p, end) || blen > (size_t)(end - p))
        goto fail;
    memcpy(p, body, blen);
    p += blen;
    free(body);
    lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS);
    return -1;
fail:
    free(body);
    return -1;
}

static int refuse(struct lws *wsi, enum sim_providers_route route, const char *path, int status,
                  const char *code, const char *message)
{
    log_event(LOG_WARN, "providers.refused", "path=%.64s status=%d reason=\"%s\"", path, status,
              message);
    return answer(wsi, route, status, code, message);
}

/* Reads the upgrade's path and query. Returns the route (NONE for an unknown path). */
static enum sim_providers_route read_request(struct lws *wsi, struct upgrade *u)
{
    size_t used = 0;

    memset(u, 0, sizeof(*u));
    if (lws_hdr_copy(wsi, u->path, sizeof(u->path), WSI_TOKEN_GET_URI) <= 0)
        return SIM_PROVIDERS_NONE;
    u->route = sim_providers_route(u->path, u->voice, sizeof(u->voice));
    for (int i = 0; u->nargs < MAX_ARGS && used < sizeof(u->argbuf); i++) {
        int n = lws_hdr_copy_fragment(wsi, u->argbuf + used, (int)(sizeof(u->argbuf) - used),
                                      WSI_TOKEN_HTTP_URI_ARGS, i);

        if (n < 0)
            break;
        u->args[u->nargs++] = u->argbuf + used;
        used += (size_t)n + 1;
    }
    return u->route;
}

/* Why an upgrade is refused: the HTTP status, the provider's error code and a message. */
struct refusal {
    int status;
    const char *code;
    char message[300];
};

static int refused(struct refusal *r, int status, const char *code, const char *message)
{
    r->status = status;
    r->code = code;
    snprintf(r->message, sizeof(r->message), "%s", message);
    return -1;
}

/*
 * Checks an upgrade as its provider would. Returns 0 to accept, or -1 with
 * the refusal in `r`. `count`: this is the handshake itself (--fail-every
 * counts it); at ESTABLISHED the checks are only repeated.
 */
static int examine(struct prov_server *s, struct lws *wsi, struct upgrade *u, int count,
                   struct refusal *r)
{
    const char *key = s->o->api_key && *s->o->api_key ? s->o->api_key : NULL;
    char auth[512], custom[512], err[300], lang[64];
    const char *v;

    if (read_request(wsi, u) == SIM_PROVIDERS_NONE || u->route == SIM_PROVIDERS_HEALTH) {
        u->route = SIM_PROVIDERS_NONE;
        return refused(r, 404, "not_found",
                       "no WebSocket endpoint here (/v1/listen, "
                       "/v1/text-to-speech/{voice_id}/stream-input, /tts/websocket)");
    }
    if (count && s->o->fail_every > 0 && ++s->upgrades % (unsigned long)s->o->fail_every == 0)
        return refused(r, 503, "service_unavailable", "injected failure (--fail-every)");
    if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0)
        auth[0] = '\0';
    switch (u->route) {
    case SIM_PROVIDERS_DEEPGRAM:
        if (key && !sim_providers_key_matches(auth, "Token Bearer", key))
            return refused(r, 401, "INVALID_AUTH",
                           "Invalid credentials: Authorization must be 'Token KEY' or "
                           "'Bearer TOKEN'");
        if (sim_providers_dg_query_parse(&u->dg, u->args, u->nargs, err, sizeof(err)) != 0)
            return refused(r, 400, "Bad Request", err);
        return 0;
    case SIM_PROVIDERS_ELEVENLABS:
        if (lws_hdr_custom_copy(wsi, custom, sizeof(custom), "xi-api-key:", 11) > 0) {
            if (key && !sim_providers_key_matches(custom, NULL, key))
                return refused(r, 401, "invalid_api_key", "Invalid API key");
            u->key_checked = 1;
        } else {
            /* Without the header the key must come in the first message. */
            u->key_checked = !key;
        }
        if (sim_providers_el_query_parse(&u->el, u->args, u->nargs, err, sizeof(err)) != 0)
            return refused(r, 400, "invalid_request", err);
        if (u->el.language[0] && tts_espeak_language(u->el.language, lang, sizeof(lang)) != 0) {
            snprintf(err, sizeof(err), "language_code '%s' is not supported", u->el.language);
            return refused(r, 400, "invalid_language_code", err);
        }
        return 0;
    case SIM_PROVIDERS_CARTESIA:
        v = sim_providers_arg(u->args, u->nargs, "api_key");
        if (!v)
            v = sim_providers_arg(u->args, u->nargs, "access_token");
        if (key && !sim_providers_key_matches(auth, "Bearer", key) &&
            !(v && sim_providers_key_matches(v, NULL, key)))
            return refused(r, 401, "unauthorized",
                           "Authorization: Bearer KEY (or ?api_key=KEY) is missing or wrong");
        v = sim_providers_arg(u->args, u->nargs, "cartesia_version");
        if ((!v || !*v) &&
            lws_hdr_custom_copy(wsi, custom, sizeof(custom), "cartesia-version:", 17) <= 0)
            return refused(r, 400, "bad_request",
                           "the Cartesia-Version header (or ?cartesia_version=) is required");
        return 0;
    default:
        return refused(r, 404, "not_found", "no such endpoint");
    }
}

/* --- connections ---------------------------------------------------------------------------- */

struct pss {
    struct prov_conn *conn;
};

static const char *route_name(enum sim_providers_route r)
{
    switch (r) {
    case SIM_PROVIDERS_DEEPGRAM:
        return "deepgram";
    case SIM_PROVIDERS_ELEVENLABS:
        return "elevenlabs";
    case SIM_PROVIDERS_CARTESIA:
        return "cartesia";
    default:
        return "none";
    }
}

static int on_established(struct prov_server *s, struct lws *wsi, struct pss *pss)
{
    struct refusal r;
    struct upgrade u;
    struct prov_conn *c;
    int rc;

    pss->conn = NULL;
    /* The same checks as at the handshake, which passed: they read what the stand-in needs. */
    if (examine(s, wsi, &u, 0, &r) != 0)
        return -1;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->id = ++s->next_conn_id;
    c->wsi = wsi;
    c->srv = s;
    c->kind = u.route;
    c->opened_us = clock_mono_us();
    buf_init(&c->rx, SIM_PROVIDERS_MAX_TEXT);
    if (u.route == SIM_PROVIDERS_DEEPGRAM)
        rc = prov_dg_open(c, &u.dg);
    else if (u.route == SIM_PROVIDERS_ELEVENLABS)
        rc = prov_el_open(c, &u.el, u.voice, u.key_checked);
    else
        rc = prov_ca_open(c);
    if (rc != 0) {
        buf_release(&c->rx);
        free(c);
        return -1;
    }
    c->next = s->conns;
    s->conns = c;
    pss->conn = c;
    return 0;
}

static void on_text(struct prov_conn *c, const char *text, size_t len)
{
    if (c->kind == SIM_PROVIDERS_DEEPGRAM)
        prov_dg_text(c, text, len);
    else if (c->kind == SIM_PROVIDERS_ELEVENLABS)
        prov_el_text(c, text, len);
    else
        prov_ca_text(c, text, len);
}

static int on_receive(struct prov_conn *c, struct lws *wsi, const void *in, size_t len)
{
    int last = lws_is_final_fragment(wsi);

    if (c->closing)
        return 0;
    if (lws_frame_is_binary(wsi)) {
        if (c->kind == SIM_PROVIDERS_ELEVENLABS) {
            prov_close(c, 1008, "binary messages are not accepted: send JSON text");
            return 0;
        }
        if (c->kind == SIM_PROVIDERS_CARTESIA) {
            prov_close(c, 1003, "binary messages are not accepted: send JSON text");
            return 0;
        }
        c->rx_binary += len;
        if (c->rx_binary > SIM_PROVIDERS_MAX_AUDIO) {
            prov_close(c, 1009, "audio message larger than 262144 bytes");
            return 0;
        }
        prov_dg_audio(c, in, len, last, c->rx_binary);
        if (last)
            c->rx_binary = 0;
        return 0;
    }
    /* A whole message in one piece is read where lws holds it. */
    if (c->rx.len || !last || len > c->rx.max) {
        if (buf_append(&c->rx, in, len) != 0) {
            prov_close(c, 1009, "message larger than 65536 bytes");
            return 0;
        }
        if (!last)
            return 0;
        in = c->rx.data;
        len = c->rx.len;
    }
    on_text(c, in, len);
    buf_reset(&c->rx);
    return 0;
}

static void on_closed(struct prov_server *s, struct prov_conn *c)
{
    struct prov_conn **pp;

    log_event(LOG_INFO, "providers.closed", "conn=%llu kind=%s messages_out=%lu ms=%lld", c->id,
              route_name(c->kind), c->sent, (clock_mono_us() - c->opened_us) / 1000);
    lws_sul_cancel(&c->sul);
    if (c->kind == SIM_PROVIDERS_DEEPGRAM)
        prov_dg_free(c);
    else if (c->kind == SIM_PROVIDERS_ELEVENLABS)
        prov_el_free(c);
    else
        prov_ca_free(c);
    while (c->out) {
        struct prov_msg *m = c->out;

        c->out = m->next;
        free(m);
    }
    buf_release(&c->rx);
    for (pp = &s->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    free(c);
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    struct prov_server *s = lws_container_of(sul, struct prov_server, tick);
    long long now = clock_mono_us();

    for (struct prov_conn *c = s->conns; c; c = c->next) {
        if (c->closing)
            continue;
        if (c->kind == SIM_PROVIDERS_DEEPGRAM)
            prov_dg_tick(c, now);
        else if (c->kind == SIM_PROVIDERS_ELEVENLABS)
            prov_el_tick(c, now);
    }
    lws_sul_schedule(s->lws, 0, &s->tick, on_tick, TICK_US);
}

/* Plain HTTP: /healthz, and a word for requests that should have been upgrades. */
static int on_http(struct lws *wsi, const char *path)
{
    switch (sim_providers_route(path, NULL, 0)) {
    case SIM_PROVIDERS_HEALTH:
        return answer(wsi, SIM_PROVIDERS_NONE, 200, "ok", "ok");
    case SIM_PROVIDERS_NONE:
        return refuse(wsi, SIM_PROVIDERS_NONE, path, 404, "not_found", "no such endpoint");
    default:
        return refuse(wsi, SIM_PROVIDERS_NONE, path, 400, "bad_request",
                      "this endpoint is a WebSocket: upgrade the connection");
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct prov_server *s = lws_context_user(lws_get_context(wsi));
    struct pss *pss = user;
    struct refusal r;
    struct upgrade u;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(wsi, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        if (!in || strcmp((const char *)in, "websocket") != 0)
            return -1;
        if (!s)
            return -1;
        if (examine(s, wsi, &u, 1, &r) == 0)
            return 0;
        return refuse(wsi, u.route, u.path, r.status, r.code, r.message);
    case LWS_CALLBACK_ESTABLISHED:
        return s && pss ? on_established(s, wsi, pss) : -1;
    case LWS_CALLBACK_RECEIVE:
        return pss && pss->conn ? on_receive(pss->conn, wsi, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss && pss->conn ? on_writable(pss->conn) : 0;
    case LWS_CALLBACK_CLOSED:
        if (s && pss && pss->conn)
            on_closed(s, pss->conn);
        if (pss)
            pss->conn = NULL;
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (s)
            drain_done(s);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", callback, sizeof(struct pss), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* --- running -------------------------------------------------------------------------------- */

static int engines_open(struct prov_server *s)
{
    char err[200] = "";
    int rc;

    if (!s->o->ntranscripts) {
        rc = stt_sphinx_open(&s->stt, NULL);
        if (rc) {
            log_event(LOG_ERROR, "providers.start_failed",
                      "error=\"pocketsphinx's English model is missing: give --transcripts\"");
            return SB_EIO;
        }
        s->have_stt = 1;
    }
    if (s->o->replay_audio)
        return 0; /* every synthesis is the clip: no voice to start */
    rc = tts_espeak_init(&s->tts, err, sizeof(err));
    if (rc) {
        log_event(LOG_ERROR, "providers.start_failed", "error=\"%s\"", err);
        return SB_EIO;
    }
    return 0;
}

int sim_providers_run(const struct sim_providers_opts *o)
{
    struct lws_context_creation_info info;
    struct prov_server s;
    struct lws_vhost *vh;
    int port, rc;

    if (!o || !o->host || o->port < 0 || o->port > 65535 || o->idle_ms < 0 ||
        o->first_byte_ms < 0 || o->slow_ms < 0 || o->cut_after < 0 || o->fail_every < 0 ||
        (o->replay_audio && !o->replay_len))
        return SB_EINVAL;
    memset(&s, 0, sizeof(s));
    s.o = o;
    s.phrases = o->nphrases ? o->phrases : default_phrases;
    s.nphrases = o->nphrases ? o->nphrases : sizeof(default_phrases) / sizeof(default_phrases[0]);
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.wake, NULL);
    rc = engines_open(&s);
    if (rc)
        goto out;
    lws_set_log_level(LLL_ERR, NULL);
    net_listen_info(&info, o->host, o->port, protocols, &s);
    info.max_http_header_data = 4096;
    /* Text frames must be UTF-8 (1007 otherwise), as JSON needs. */
    info.options |= LWS_SERVER_OPTION_VALIDATE_UTF8;
    s.lws = lws_create_context(&info);
    vh = s.lws ? lws_get_vhost_by_name(s.lws, "default") : NULL;
    port = vh ? lws_get_vhost_listen_port(vh) : -1;
    if (!s.lws || port <= 0) {
        log_event(LOG_ERROR, "providers.start_failed", "error=\"cannot listen on %s:%d\"", o->host,
                  o->port);
        rc = SB_EIO;
        goto out;
    }
    rc = workers_start(&s);
    if (rc) {
        log_event(LOG_ERROR, "providers.start_failed", "error=\"cannot start the workers\"");
        goto out;
    }
    net_stop_on_signals(s.lws);
    lws_sul_schedule(s.lws, 0, &s.tick, on_tick, TICK_US);
    if (o->ready) {
        fprintf(o->ready,
                strchr(o->host, ':') ? "listening on http://[%s]:%d\n"
                                     : "listening on http://%s:%d\n",
                o->host, port);
        fflush(o->ready);
    }
    log_event(LOG_INFO, "providers.listening",
              "addr=%s port=%d recogniser=%s key=%s first_byte_ms=%d slow_ms=%d cut_after=%d "
              "fail_every=%d garbage_audio=%s voice=%s",
              o->host, port, o->ntranscripts ? "transcripts" : "pocketsphinx",
              o->api_key && *o->api_key ? "required" : "none", o->first_byte_ms, o->slow_ms,
              o->cut_after, o->fail_every, o->garbage_audio ? "yes" : "no",
              o->replay_audio ? "replay" : "espeak-ng");
    while (!net_stop_requested()) {
        if (lws_service(s.lws, 0) < 0)
            break;
    }
    net_stop_forget();
    rc = 0;
out:
    /* The workers wake the loop: they stop before the context goes. */
    workers_stop(&s);
    if (s.lws) {
        lws_sul_cancel(&s.tick);
        lws_context_destroy(s.lws);
    }
    stt_release(&s.stt);
    tts_release(&s.tts);
    pthread_mutex_destroy(&s.lock);
    pthread_cond_destroy(&s.wake);
    if (rc == 0)
        log_event(LOG_INFO, "providers.stopped", "clean=yes");
    return rc;
}
