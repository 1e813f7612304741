/*
 * The shared HTTP client: requests are copied into transfers (each with its
 * own easy handle, set up on the submitting thread) and put on a list guarded
 * by one lock; the client thread moves them into its multi handle, runs
 * curl_multi_perform / curl_multi_poll, and finishes each transfer exactly
 * once: when libcurl reports it done, when a deadline of ours passes (first
 * byte, idle), when it is cancelled, or at shutdown.
 *
 * Only the client thread touches the multi handle and the easy handles of
 * running transfers; other threads only append to the list, set a
 * transfer's cancel flag, and call curl_multi_wakeup.
 */
#include "net/http_client.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/banned.h"

#define DEFAULT_MAX_TRANSFERS 16
#define DEFAULT_MAX_QUEUED 1024
/* The longest the client thread sleeps without looking at its deadlines. */
#define POLL_MAX_MS 1000

enum transfer_state { QUEUED, ACTIVE };

struct transfer {
    uint64_t id;
    CURL *easy;
    struct curl_slist *headers;
    char *body; /* the request body (owned; libcurl reads it in place) */
    char method[16];
    char host[128]; /* for the debug log: never the path or the query */
    enum http_stream stream;
    long first_byte_ms;
    long idle_ms;
    size_t max_response;
    void (*on_chunk)(void *arg, const struct http_chunk *chunk);
    void (*on_done)(void *arg, struct http_response *res);
    void *arg;
    struct http_inbox *inbox;

    atomic_int cancel; /* set (under the client's lock) by http_client_cancel */
    enum transfer_state state;

    /* The client thread's own, from here on. */
    long long started_ms;
    long long last_byte_ms;
    int got_byte;            /* a byte of the response (header or body) arrived */
    int stream_known;        /* the status was looked at for streaming */
    int streaming;           /* the body goes to on_chunk */
    size_t received;         /* body bytes so far */
    long status;             /* once stream_known */
    enum http_result forced; /* a failure decided by the client, not libcurl */
    char forced_msg[160];
    struct buf body_buf;
    struct buf scratch; /* a raw chunk, NUL-terminated */
    struct sse sse;
    char errbuf[CURL_ERROR_SIZE];

    struct transfer *prev, *next;         /* the live list (client lock) */
    struct transfer *act_prev, *act_next; /* the running list (client thread) */
    struct transfer *fin_next;            /* to finish, collected under the lock */
};

struct http_client {
    pthread_mutex_t lock;
    pthread_t thread;
    CURLM *multi;
    CURLSH *share;
    int max_transfers;
    size_t max_queued;

    /* Guarded by lock. */
    struct transfer *live_head, *live_tail; /* queued and running, in submission order */
    size_t nqueued;
    uint64_t next_id;
    int stopping;
    int dirty; /* something was submitted or cancelled since the thread last looked */

    /* The client thread's own. */
    struct transfer *active;
    int nactive;
    int peak_active; /* the most transfers at once since memory was last given back */
};

struct http_inbox {
    pthread_mutex_t lock;
    struct http_delivery *head, *tail;
    void (*wake)(void *wake_arg);
    void *wake_arg;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *http_result_str(enum http_result r)
{
    switch (r) {
    case HTTP_OK:
        return "ok";
    case HTTP_ECANCELLED:
        return "cancelled";
    case HTTP_ETIMEOUT:
        return "timeout";
    case HTTP_ECONNREFUSED:
        return "connection refused";
    case HTTP_EDNS:
        return "dns failure";
    case HTTP_ETLS:
        return "tls failure";
    case HTTP_ETOOLARGE:
        return "too large";
    case HTTP_ECONNECTION:
        return "connection failed";
    case HTTP_EREQUEST:
        return "bad request";
    case HTTP_EFAILED:
        break;
    }
    return "failed";
}

/* ---- the inbox ---- */

int http_inbox_new(struct http_inbox **out, void (*wake)(void *wake_arg), void *wake_arg)
{
    struct http_inbox *q = calloc(1, sizeof(*q));

    *out = NULL;
    if (!q)
        return SB_ENOMEM;
    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        free(q);
        return SB_ENOMEM;
    }
    q->wake = wake;
    q->wake_arg = wake_arg;
    *out = q;
    return 0;
}

static void inbox_push(struct http_inbox *q, struct http_delivery *d)
{
    int was_empty;

    pthread_mutex_lock(&q->lock);
    was_empty = q->head == NULL;
    if (q->tail)
        q->tail->next = d;
    else
        q->head = d;
    q->tail = d;
    pthread_mutex_unlock(&q->lock);
    /*
     * Only the first delivery of a batch wakes the taker: until it takes the
     * list, the wake already sent stands for the rest (each wake costs a
     * system call on both sides, and a stream brings a delivery per event).
     */
    if (q->wake && was_empty)
        q->wake(q->wake_arg);
}

struct http_delivery *http_inbox_take(struct http_inbox *q)
{
    struct http_delivery *d;

    pthread_mutex_lock(&q->lock);
    d = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->lock);
    return d;
}

void http_delivery_free(struct http_delivery *d)
{
    if (!d)
        return;
    http_response_free(d->done);
    free(d->data);
    free(d->event_type);
    free(d->event_id);
    free(d);
}

void http_inbox_free(struct http_inbox *q)
{
    struct http_delivery *d, *next;

    if (!q)
        return;
    for (d = q->head; d; d = next) {
        next = d->next;
        http_delivery_free(d);
    }
    pthread_mutex_destroy(&q->lock);
    free(q);
}

/* ---- responses ---- */

void http_response_free(struct http_response *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->nheaders; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    free(res->headers);
    free(res->body);
    free(res);
}

const char *http_response_header(const struct http_response *res, const char *name)
{
    if (!res || !name)
        return NULL;
    for (size_t i = 0; i < res->nheaders; i++) {
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    }
    return NULL;
}

/* The final response's headers, as libcurl parsed them. */
static void response_headers(struct transfer *t, struct http_response *res)
{
    struct curl_header *h = NULL;
    size_t n = 0, i = 0;

    while ((h = curl_easy_nextheader(t->easy, CURLH_HEADER, -1, h)) != NULL)
        n++;
    if (n == 0)
        return;
    res->headers = calloc(n, sizeof(*res->headers));
    if (!res->headers)
        return;
    h = NULL;
    while (i < n && (h = curl_easy_nextheader(t->easy, CURLH_HEADER, -1, h)) != NULL) {
        res->headers[i].name = strdup(h->name);
        res->headers[i].value = strdup(h->value);
        if (!res->headers[i].name || !res->headers[i].value) {
            free(res->headers[i].name);
            free(res->headers[i].value);
            break;
        }
        i++;
    }
    res->nheaders = i;
}

/* ---- transfers ---- */

static void transfer_free(struct transfer *t)
{
    if (!t)
        return;
    if (t->easy)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->body);
    buf_release(&t->body_buf);
    buf_release(&t->scratch);
    sse_release(&t->sse);
    free(t);
}

static void force(struct transfer *t, enum http_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records a failure the client decided; the first one stands. */
static void force(struct transfer *t, enum http_result r, const char *fmt, ...)
{
    va_list ap;

    if (t->forced != HTTP_OK)
        return;
    t->forced = r;
    va_start(ap, fmt);
    vsnprintf(t->forced_msg, sizeof(t->forced_msg), fmt, ap);
    va_end(ap);
}

/* Hands one piece of a streamed body over; returns nonzero once cancelled. */
static int deliver_chunk(struct transfer *t, const char *data, size_t len,
                         const struct sse_event *ev)
{
    struct http_chunk chunk = {t->id, t->status, data, len, ev};
    struct http_delivery *d;

    if (atomic_load(&t->cancel))
        return 1;
    if (t->inbox) {
        d = calloc(1, sizeof(*d));
        if (d) {
            d->id = t->id;
            d->arg = t->arg;
            d->status = t->status;
            d->len = len;
            d->data = malloc(len + 1);
            if (d->data) {
                memcpy(d->data, data, len);
                d->data[len] = '\0';
            }
            d->retry_ms = ev ? ev->retry_ms : -1;
            if (ev) {
                d->event_type = strdup(ev->type);
                d->event_id = strdup(ev->id);
            }
        }
        if (!d || !d->data || (ev && (!d->event_type || !d->event_id))) {
            http_delivery_free(d);
            force(t, HTTP_EFAILED, "failed: out of memory");
            return 1;
        }
        inbox_push(t->inbox, d);
    } else if (t->on_chunk) {
        t->on_chunk(t->arg, &chunk);
    }
    return atomic_load(&t->cancel) ? 1 : 0;
}

static int emit_event(void *arg, const struct sse_event *ev)
{
    struct transfer *t = arg;

    return deliver_chunk(t, ev->data, ev->data_len, ev);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;

    (void)data;
    if (atomic_load(&t->cancel))
        return 0;
    t->got_byte = 1;
    t->last_byte_ms = now_ms();
    return size * nmemb;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nmemb;
    int rc;

    if (atomic_load(&t->cancel))
        return 0;
    t->got_byte = 1;
    t->last_byte_ms = now_ms();
    if (n > t->max_response - t->received) {
        force(t, HTTP_ETOOLARGE, "too large: the body went past %zu bytes", t->max_response);
        return 0;
    }
    t->received += n;
    if (!t->stream_known) {
        t->stream_known = 1;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
        t->streaming = t->stream != HTTP_STREAM_NONE && t->status >= 200 && t->status < 300;
    }
    if (!t->streaming) {
        if (buf_append(&t->body_buf, data, n) != 0) {
            force(t, HTTP_EFAILED, "failed: out of memory");
            return 0;
        }
        return n;
    }
    if (t->stream == HTTP_STREAM_RAW) {
        buf_reset(&t->scratch);
        if (buf_append(&t->scratch, data, n) != 0) {
            force(t, HTTP_EFAILED, "failed: out of memory");
            return 0;
        }
        return deliver_chunk(t, t->scratch.data, n, NULL) ? 0 : n;
    }
    rc = sse_feed(&t->sse, data, n, emit_event, t);
    if (rc == SB_ETOOBIG)
        force(t, HTTP_ETOOLARGE, "too large: an event stream line or event past %zu bytes",
              t->max_response);
    else if (rc < 0)
        force(t, HTTP_EFAILED, "failed: %s", sb_strerror(rc));
    return rc == 0 ? n : 0;
}

static enum http_result map_curl(CURLcode code)
{
    switch (code) {
    case CURLE_OK:
        return HTTP_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return HTTP_ETIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return HTTP_EDNS;
    case CURLE_COULDNT_CONNECT:
        return HTTP_ECONNREFUSED;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return HTTP_ETLS;
    case CURLE_FILESIZE_EXCEEDED:
        return HTTP_ETOOLARGE;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return HTTP_EREQUEST;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_BAD_CONTENT_ENCODING:
        return HTTP_ECONNECTION;
    default:
        return HTTP_EFAILED;
    }
}

/* Takes a transfer out of the running list and the multi handle. */
static void deactivate(struct http_client *c, struct transfer *t)
{
    if (t->state != ACTIVE)
        return;
    curl_multi_remove_handle(c->multi, t->easy);
    if (t->act_prev)
        t->act_prev->act_next = t->act_next;
    else
        c->active = t->act_next;
    if (t->act_next)
        t->act_next->act_prev = t->act_prev;
    t->act_prev = t->act_next = NULL;
    c->nactive--;
}

/*
 * Ends a transfer: its response is built, it leaves every list, and on_done
 * (or the inbox) gets the response. `code` is libcurl's verdict (CURLE_OK
 * when the client ends it itself). A cancel flag seen here, under the lock
 * that http_client_cancel takes, always wins.
 */
static void finish(struct http_client *c, struct transfer *t, CURLcode code)
{
    struct http_response *res = calloc(1, sizeof(*res));
    struct http_delivery *d = NULL;
    enum http_result result;
    curl_off_t retry = 0;
    char *body;
    int cancelled;

    if (res && t->state == ACTIVE) {
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &res->status);
        response_headers(t, res);
        if (http_response_header(res, "Retry-After") &&
            curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK)
            res->retry_after_s = (long)retry;
        else
            res->retry_after_s = -1;
    } else if (res) {
        res->retry_after_s = -1;
    }
    deactivate(c, t);

    pthread_mutex_lock(&c->lock);
    if (t->prev)
        t->prev->next = t->next;
    else
        c->live_head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        c->live_tail = t->prev;
    if (t->state == QUEUED)
        c->nqueued--;
    cancelled = atomic_load(&t->cancel);
    pthread_mutex_unlock(&c->lock);

    if (cancelled)
        result = HTTP_ECANCELLED;
    else if (t->forced != HTTP_OK)
        result = t->forced;
    else
        result = map_curl(code);

    if (!res) {
        /* Without memory for a response there is no way to report it: say so. */
        log_event(LOG_ERROR, "http.done", "id=%llu host=%s error=\"out of memory\"",
                  (unsigned long long)t->id, t->host);
        transfer_free(t);
        return;
    }
    res->id = t->id;
    res->arg = t->arg;
    res->result = result;
    if (result == HTTP_ECANCELLED)
        snprintf(res->error, sizeof(res->error), "cancelled");
    else if (result != HTTP_OK && t->forced == result && !cancelled)
        snprintf(res->error, sizeof(res->error), "%s", t->forced_msg);
    else if (result != HTTP_OK)
        snprintf(res->error, sizeof(res->error), "%s: %s", http_result_str(result),
                 t->errbuf[0] ? t->errbuf : curl_easy_strerror(code));
    body = buf_detach(&t->body_buf, &res->body_len);
    res->body = body ? body : strdup("");
    if (!res->body)
        res->body_len = 0;

    if (log_enabled(LOG_DEBUG))
        log_event(LOG_DEBUG, "http.done", "id=%llu method=%s host=%s status=%ld result=%s",
                  (unsigned long long)t->id, t->method, t->host, res->status,
                  http_result_str(result));

    if (!res->body) {
        http_response_free(res);
        log_event(LOG_ERROR, "http.done", "id=%llu host=%s error=\"out of memory\"",
                  (unsigned long long)t->id, t->host);
    } else if (t->inbox) {
        d = calloc(1, sizeof(*d));
        if (d) {
            d->id = t->id;
            d->arg = t->arg;
            d->done = res;
            d->status = res->status;
            d->retry_ms = -1;
            inbox_push(t->inbox, d);
        } else {
            http_response_free(res);
            log_event(LOG_ERROR, "http.done", "id=%llu host=%s error=\"out of memory\"",
                      (unsigned long long)t->id, t->host);
        }
    } else {
        t->on_done(t->arg, res);
    }
    transfer_free(t);
}

/* Moves a queued transfer into the multi handle; called with the lock held. */
static int start(struct http_client *c, struct transfer *t)
{
    /* The share is the client thread's alone: attached here, not at submit. */
    curl_easy_setopt(t->easy, CURLOPT_SHARE, c->share);
    if (curl_multi_add_handle(c->multi, t->easy) != CURLM_OK)
        return -1;
    t->state = ACTIVE;
    c->nqueued--;
    t->started_ms = now_ms();
    t->last_byte_ms = t->started_ms;
    t->act_prev = NULL;
    t->act_next = c->active;
    if (c->active)
        c->active->act_prev = t;
    c->active = t;
    c->nactive++;
    if (c->nactive > c->peak_active)
        c->peak_active = c->nactive;
    return 0;
}

/*
 * Under the lock: starts what fits, and collects what was cancelled (or
 * everything, when stopping). Returns the list to finish.
 */
static struct transfer *take_work(struct http_client *c, int *stop)
{
    struct transfer *fin = NULL, **tail = &fin;

    pthread_mutex_lock(&c->lock);
    *stop = c->stopping;
    for (struct transfer *t = c->live_head; t; t = t->next) {
        if (*stop)
            atomic_store(&t->cancel, 1);
        if (atomic_load(&t->cancel)) {
            *tail = t;
            tail = &t->fin_next;
            t->fin_next = NULL;
        } else if (t->state == QUEUED && c->nactive < c->max_transfers) {
            if (start(c, t) != 0) {
                force(t, HTTP_EFAILED, "failed: the transfer could not start");
                *tail = t;
                tail = &t->fin_next;
                t->fin_next = NULL;
            }
        }
    }
    c->dirty = 0;
    pthread_mutex_unlock(&c->lock);
    return fin;
}

/* Ends the transfers whose deadline passed; returns ms until the next one. */
static long check_deadlines(struct http_client *c)
{
    long long now = now_ms();
    long long wait = POLL_MAX_MS, left;
    struct transfer *t = c->active, *next;

    for (; t; t = next) {
        next = t->act_next;
        if (t->first_byte_ms > 0 && !t->got_byte) {
            left = t->started_ms + t->first_byte_ms - now;
            if (left <= 0) {
                force(t, HTTP_ETIMEOUT, "timeout: no response within %ld ms", t->first_byte_ms);
                finish(c, t, CURLE_OK);
                continue;
            }
            wait = left < wait ? left : wait;
        }
        if (t->idle_ms > 0 && t->got_byte) {
            left = t->last_byte_ms + t->idle_ms - now;
            if (left <= 0) {
                force(t, HTTP_ETIMEOUT, "timeout: nothing received for %ld ms", t->idle_ms);
                finish(c, t, CURLE_OK);
                continue;
            }
            wait = left < wait ? left : wait;
        }
    }
    return (long)wait;
}

/* Transfers at once after which the end of the burst gives memory back (malloc_trim). */
#define TRIM_AFTER_PEAK 32

static void *client_main(void *arg)
{
    struct http_client *c = arg;
    struct transfer *fin, *t, *next;
    CURLMsg *msg;
    char *priv;
    int stop = 0, running, left, dirty = 1, prev_active;
    long wait;

    for (;;) {
        pthread_mutex_lock(&c->lock);
        dirty = dirty || c->dirty || c->stopping;
        pthread_mutex_unlock(&c->lock);
        if (dirty) {
            fin = take_work(c, &stop);
            for (t = fin; t; t = next) {
                next = t->fin_next;
                finish(c, t, CURLE_OK);
            }
            dirty = 0;
            if (stop)
                break;
        }
        prev_active = c->nactive;
        curl_multi_perform(c->multi, &running);
        while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            priv = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            if (priv)
                finish(c, (struct transfer *)priv, msg->data.result);
        }
        if (c->nactive == 0 && c->peak_active >= TRIM_AFTER_PEAK) {
            /*
             * A burst is over: each transfer's buffers (about 20 KiB in libcurl)
             * went back to the allocator, which keeps them; give them back to the
             * system, or the process stays at the burst's size.
             */
            malloc_trim(0);
            c->peak_active = 0;
        }
        wait = check_deadlines(c);
        /* A slot came free: queued transfers may start at once. */
        if (c->nactive < prev_active) {
            dirty = 1;
            continue;
        }
        curl_multi_poll(c->multi, NULL, 0, (int)wait, NULL);
    }
    return NULL;
}

/* ---- the client ---- */

static void client_destroy(struct http_client *c)
{
    if (c->multi)
        curl_multi_cleanup(c->multi);
    if (c->share)
        curl_share_cleanup(c->share);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int http_client_new(struct http_client **out, const struct http_client_config *config)
{
    struct http_client *c = NULL;
    sigset_t all, old;
    int rc;

    *out = NULL;
    if (config && (config->max_transfers < 0))
        return SB_EINVAL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return SB_ENOMEM;
    c = calloc(1, sizeof(*c));
    if (!c)
        return SB_ENOMEM;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return SB_ENOMEM;
    }
    c->max_transfers =
        config && config->max_transfers ? config->max_transfers : DEFAULT_MAX_TRANSFERS;
    c->max_queued = config && config->max_queued ? config->max_queued : DEFAULT_MAX_QUEUED;
    c->next_id = 1;
    c->multi = curl_multi_init();
    c->share = curl_share_init();
    if (!c->multi || !c->share) {
        client_destroy(c);
        return SB_ENOMEM;
    }
    /*
     * The multi handle keeps the pool of open connections every transfer
     * draws from; the share adds the DNS cache and TLS sessions. Only the
     * client thread uses either, so the share needs no lock callbacks.
     */
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->max_transfers * 2);

    /* Like the worker pool: signals go to the thread that handles them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&c->thread, NULL, client_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        client_destroy(c);
        return SB_ENOMEM;
    }
    *out = c;
    return 0;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = 1;
    pthread_mutex_unlock(&c->lock);
    curl_multi_wakeup(c->multi);
    pthread_join(c->thread, NULL);
    client_destroy(c);
}

int http_client_cancel(struct http_client *c, uint64_t id)
{
    int rc = SB_ENOTFOUND;

    if (!c)
        return SB_EINVAL;
    pthread_mutex_lock(&c->lock);
    for (struct transfer *t = c->live_head; t; t = t->next) {
        if (t->id == id) {
            atomic_store(&t->cancel, 1);
            c->dirty = 1;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (rc == 0)
        curl_multi_wakeup(c->multi);
    return rc;
}

/* A method is a token of upper-case letters; a header line holds no CR, LF or NUL. */
static int valid_method(const char *m)
{
    size_t n = strlen(m);

    if (n == 0 || n >= sizeof(((struct transfer *)0)->method))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i] < 'A' || m[i] > 'Z')
            return 0;
    }
    return 1;
}

/* Parses the URL (libcurl's parser): http or https with a host; notes the host. */
static int check_url(const char *url, struct transfer *t)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = SB_EINVAL;

    if (!u)
        return SB_ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)) {
        snprintf(t->host, sizeof(t->host), "%s", host);
        rc = 0;
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* Builds a transfer and its easy handle from a request (the caller's thread). */
static int transfer_new(const struct http_request *req, struct transfer **out)
{
    struct transfer *t = calloc(1, sizeof(*t));
    struct curl_slist *next;
    const char *method;
    int rc = SB_ENOMEM;

    *out = NULL;
    if (!t)
        return SB_ENOMEM;
    buf_init(&t->body_buf, 0);
    buf_init(&t->scratch, 0);
    sse_init(&t->sse, 0);
    atomic_init(&t->cancel, 0);
    method = req->method ? req->method : req->body_len > 0 ? "POST" : "GET";
    if (!valid_method(method)) {
        rc = SB_EINVAL;
        goto fail;
    }
    snprintf(t->method, sizeof(t->method), "%s", method);
    rc = check_url(req->url, t);
    if (rc != 0)
        goto fail;
    rc = SB_ENOMEM;
    t->stream = req->stream;
    t->first_byte_ms = req->first_byte_timeout_ms;
    t->idle_ms = req->idle_timeout_ms;
    t->max_response = req->max_response ? req->max_response : HTTP_DEFAULT_MAX_RESPONSE;
    t->on_chunk = req->on_chunk;
    t->on_done = req->on_done;
    t->arg = req->arg;
    t->inbox = req->inbox;
    buf_init(&t->body_buf, t->max_response);
    buf_init(&t->scratch, t->max_response);
    sse_init(&t->sse, t->max_response);

    for (size_t i = 0; i < req->nheaders; i++) {
        if (!req->headers[i] || strpbrk(req->headers[i], "\r\n")) {
            rc = SB_EINVAL;
            goto fail;
        }
        next = curl_slist_append(t->headers, req->headers[i]);
        if (!next)
            goto fail;
        t->headers = next;
    }
    /* No "Expect: 100-continue" round trip before a body. */
    next = curl_slist_append(t->headers, "Expect:");
    if (!next)
        goto fail;
    t->headers = next;

    if (req->body_len > 0) {
        t->body = malloc(req->body_len);
        if (!t->body)
            goto fail;
        memcpy(t->body, req->body, req->body_len);
    }

    t->easy = curl_easy_init();
    if (!t->easy)
        goto fail;
    curl_easy_setopt(t->easy, CURLOPT_URL, req->url);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, (char *)t);
    curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(t->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "switchboard");
    curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms > 0 ? req->connect_timeout_ms
                                                 : HTTP_DEFAULT_CONNECT_TIMEOUT_MS);
    if (req->total_timeout_ms > 0)
        curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, req->total_timeout_ms);
    /* A Content-Length past the limit fails before the body is read. */
    curl_easy_setopt(t->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_response);

    if (strcmp(method, "GET") == 0 && !t->body) {
        curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0 && !t->body) {
        curl_easy_setopt(t->easy, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, method);
        if (t->body || strcmp(method, "POST") == 0) {
            curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->body ? t->body : "");
        }
    }
    *out = t;
    return 0;
fail:
    transfer_free(t);
    return rc;
}

int http_client_submit(struct http_client *c, const struct http_request *req, uint64_t *id)
{
    struct transfer *t = NULL;
    int rc;

    if (id)
        *id = 0;
    if (!c || !req || !req->url || (!req->on_done && !req->inbox) ||
        (req->body_len > 0 && !req->body) || (req->nheaders > 0 && !req->headers) ||
        req->stream < HTTP_STREAM_NONE || req->stream > HTTP_STREAM_SSE)
        return SB_EINVAL;
    rc = transfer_new(req, &t);
    if (rc != 0)
        return rc;

    pthread_mutex_lock(&c->lock);
    if (c->stopping)
        rc = SB_ECLOSED;
    else if (c->nqueued >= c->max_queued)
        rc = SB_EBUSY;
    if (rc == 0) {
        t->id = c->next_id++;
        t->state = QUEUED;
        t->prev = c->live_tail;
        if (c->live_tail)
            c->live_tail->next = t;
        else
            c->live_head = t;
        c->live_tail = t;
        c->nqueued++;
        c->dirty = 1;
        if (id)
            *id = t->id;
    }
    pthread_mutex_unlock(&c->lock);
    if (rc != 0) {
        transfer_free(t);
        return rc;
    }
    curl_multi_wakeup(c->multi);
    return 0;
}
