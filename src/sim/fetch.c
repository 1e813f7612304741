#include "sim/fetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/form.h"
#include "core/sig.h"
#include "core/banned.h"

/*
 * Twilio's error codes as this module reports them. Besides the four that
 * fetch.h names, three more have their own entries in Twilio's dictionary
 * and are reported as such, because the point of the simulator is to show
 * what Twilio would log: a host name that does not resolve, a redirect
 * chain longer than Twilio follows, and a TLS handshake that fails.
 */
#define ERR_RETRIEVAL 11200
#define ERR_CONNECT 11205
#define ERR_BAD_HOST 11210
#define ERR_REDIRECTS 11215
#define ERR_TLS 11220
#define ERR_TOO_BIG 11750
#define ERR_CONTENT_TYPE 12300

/* Twilio gives a TCP connection 5 s (error 11205) and follows 10 redirects. */
#define CONNECT_TIMEOUT_MS 5000L
#define MAX_REDIRECTS 10

struct sim_fetcher {
    CURL *curl; /* kept for the fetcher's lifetime so that its cookies are too */
};

/* The outcome of one HTTP exchange, before Twilio's rules are applied. */
struct hop {
    struct buf body;
    int too_big;      /* the body went past SIM_FETCH_MAX_BODY */
    int keep_reading; /* past the maximum, drop bytes instead of failing */
    CURLcode code;
    long status;
    long os_errno;
    curl_off_t connect_us; /* 0 when no connection was made */
    char *location;        /* absolute redirect target, owned, or NULL */
    char curl_error[CURL_ERROR_SIZE];
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct hop *h = userdata;
    size_t n = size * nmemb;
    size_t room;

    if (buf_append(&h->body, data, n) == 0)
        return n;
    h->too_big = 1;
    if (!h->keep_reading)
        return 0;
    /* Keep what fits; the rest of a body nobody reads is dropped. */
    room = h->body.max - h->body.len;
    if (room > 0 && buf_append(&h->body, data, room) != 0)
        return 0;
    return n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

/*
 * curl_global_init is not safe to race with itself on every build of
 * libcurl, and simulated calls may start on several threads at once.
 */
static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int sim_fetcher_new(struct sim_fetcher **out)
{
    struct sim_fetcher *f = NULL;
    int rc = 0;

    if (!out)
        return SB_EINVAL;
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        rc = SB_ENOMEM;
        goto out;
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        rc = SB_ENOMEM;
        goto out;
    }
    f->curl = curl_easy_init();
    if (!f->curl) {
        rc = SB_ENOMEM;
        goto out;
    }
    /*
     * What is the same for every request of the call is set once. The handle
     * is never reset: cookies live in it, and enabling the cookie engine
     * again on every request would only pile up empty file names.
     */
    curl_easy_setopt(f->curl, CURLOPT_COOKIEFILE, "");
    /* Documents choose the URLs fetched; nothing but HTTP may be reachable. */
    curl_easy_setopt(f->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(f->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(f->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(f->curl, CURLOPT_USERAGENT, "TwilioProxy/1.1");
    curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, on_body);
    *out = f;
    f = NULL;
out:
    sim_fetcher_free(f);
    return rc;
}

void sim_fetcher_free(struct sim_fetcher *f)
{
    if (!f)
        return;
    if (f->curl)
        curl_easy_cleanup(f->curl);
    free(f);
}

void sim_fetch_result_release(struct sim_fetch_result *res)
{
    if (!res)
        return;
    free(res->body);
    res->body = NULL;
    res->len = 0;
}

/* Records the Twilio error for the result; the first one recorded stands. */
static void set_error(struct sim_fetch_result *res, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(struct sim_fetch_result *res, int code, const char *fmt, ...)
{
    va_list ap;

    if (res->error_code)
        return;
    res->error_code = code;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
}

/*
 * "host:port" of `url` for messages. Credentials in the URL stay out of
 * them. Falls back to "the server" when the URL does not parse.
 */
static void describe_host(const char *url, char *out, size_t size)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;

    snprintf(out, size, "the server");
    if (!u)
        return;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    snprintf(out, size, "%s:%s", host, port);
out:
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

/*
 * The URL of a GET: the parameters go into the query string, after any
 * query the URL already has. A fragment (Twilio's connection overrides) is
 * never sent, so it is left out rather than having the query land in it.
 */
static char *get_url(const char *url, const char *query)
{
    struct buf b = BUF_INIT(SIZE_MAX);
    const char *hash = strchr(url, '#');
    size_t n = hash ? (size_t)(hash - url) : strlen(url);
    char *out = NULL;
    int rc;

    rc = buf_append(&b, url, n);
    if (!rc && query && *query) {
        if (!memchr(url, '?', n))
            rc = buf_putc(&b, '?');
        else if (url[n - 1] != '?' && url[n - 1] != '&')
            rc = buf_putc(&b, '&');
        if (!rc)
            rc = buf_puts(&b, query);
    }
    if (!rc)
        out = buf_detach(&b, NULL);
    buf_release(&b);
    return out;
}

/* The request line and headers of one hop, as Twilio's proxy sends them. */
static int build_headers(const char *token, const char *url, const struct form *params, int post,
                         struct curl_slist **out)
{
    struct curl_slist *list = NULL, *next;
    char sig[SIG_B64_SIZE];
    char line[sizeof("X-Twilio-Signature: ") + SIG_B64_SIZE];
    int rc = 0;
    size_t i;
    const char *fixed[] = {
        "Accept: */*",
        /* Twilio sends the body at once; curl would otherwise wait for 100. */
        "Expect:",
        post ? "Content-Type: application/x-www-form-urlencoded" : NULL,
    };

    *out = NULL;
    for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (!fixed[i])
            continue;
        next = curl_slist_append(list, fixed[i]);
        if (!next) {
            rc = SB_ENOMEM;
            goto out;
        }
        list = next;
    }
    if (token) {
        /* A GET carries its parameters in the URL, which is signed as is. */
        rc = sig_compute(token, url, post ? params : NULL, sig);
        if (rc)
            goto out;
        snprintf(line, sizeof(line), "X-Twilio-Signature: %s", sig);
        next = curl_slist_append(list, line);
        if (!next) {
            rc = SB_ENOMEM;
            goto out;
        }
        list = next;
    }
    *out = list;
    list = NULL;
out:
    curl_slist_free_all(list);
    return rc;
}

/*
 * Performs one HTTP exchange with `remaining_ms` of the budget left and
 * fills `h`. Redirects are not followed here: each hop is signed over its
 * own URL, which curl's automatic following could not do.
 */
static int perform(struct sim_fetcher *f, const char *url, int post, const char *form_body,
                   const struct form *params, const char *token, long remaining_ms, struct hop *h)
{
    CURL *c = f->curl;
    struct curl_slist *headers = NULL;
    char *location = NULL;
    long connect_ms = remaining_ms < CONNECT_TIMEOUT_MS ? remaining_ms : CONNECT_TIMEOUT_MS;
    int rc;

    rc = build_headers(token, url, params, post, &headers);
    if (rc)
        goto out;
    /* Every option that differs between requests is set on each one. */
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, remaining_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curl_error);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(form_body));
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form_body);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    h->curl_error[0] = '\0';
    h->code = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &h->os_errno);
    curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &h->connect_us);
    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location);
    if (location) {
        h->location = strdup(location);
        if (!h->location)
            rc = SB_ENOMEM;
    }
    /* The error buffer belongs to `h`; curl must not keep pointing at it. */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
out:
    curl_slist_free_all(headers);
    return rc;
}

static void hop_release(struct hop *h)
{
    buf_release(&h->body);
    free(h->location);
    h->location = NULL;
}

static int is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* ASCII-only case-insensitive prefix match of a media type token. */
static int media_type_is(const char *ct, const char *type)
{
    size_t n = strlen(type), i;

    for (i = 0; i < n; i++) {
        char a = ct[i], b = type[i];

        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != b)
            return 0;
    }
    /* The type must end here: parameters, spaces or nothing may follow. */
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

static int looks_like_xml(const char *body, size_t len)
{
    size_t i = 0;

    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    return i < len && body[i] == '<';
}

/*
 * Twilio parses text/xml, application/xml and text/html as TwiML; text/plain
 * only when it holds TwiML. Anything else (audio included, which Twilio
 * would play) is not something a TwiML document can be made of.
 */
static void check_content_type(struct sim_fetch_result *res)
{
    const char *ct = res->content_type;

    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (!*ct) {
        set_error(res, ERR_CONTENT_TYPE, "response has no content type");
        return;
    }
    if (media_type_is(ct, "text/xml") || media_type_is(ct, "application/xml") ||
        media_type_is(ct, "text/html"))
        return;
    if (media_type_is(ct, "text/plain") && looks_like_xml(res->body, res->len))
        return;
    set_error(res, ERR_CONTENT_TYPE,
              "content type '%s' is not twiml (send text/xml or application/xml)",
              res->content_type);
}

/*
 * curl's own account of a failure, which names the cause (a certificate
 * problem, say), with its first letter lowered to match our messages.
 */
static const char *detail(struct hop *h)
{
    char *e = h->curl_error;

    if (!*e)
        return curl_easy_strerror(h->code);
    if (e[0] >= 'A' && e[0] <= 'Z' && !(e[1] >= 'A' && e[1] <= 'Z'))
        e[0] = (char)(e[0] - 'A' + 'a');
    return e;
}

/* Turns a failed transfer into the error Twilio would log for it. */
static void transfer_error(struct sim_fetch_result *res, struct hop *h, const char *url,
                           long budget_ms)
{
    char host[160];

    describe_host(url, host, sizeof(host));
    switch (h->code) {
    case CURLE_WRITE_ERROR:
        /* An error page that is also huge is reported for its status. */
        if (h->too_big && (h->status < 200 || h->status > 299)) {
            set_error(res, ERR_RETRIEVAL, "http status %ld", h->status);
            return;
        }
        if (h->too_big) {
            set_error(res, ERR_TOO_BIG, "response body is larger than %d bytes",
                      SIM_FETCH_MAX_BODY);
            return;
        }
        break;
    case CURLE_COULDNT_CONNECT:
        if (h->os_errno == ECONNREFUSED)
            set_error(res, ERR_CONNECT, "could not connect to %s: connection refused", host);
        else
            set_error(res, ERR_CONNECT, "could not connect to %s", host);
        return;
    case CURLE_OPERATION_TIMEDOUT:
        if (h->connect_us == 0)
            set_error(res, ERR_CONNECT, "could not connect to %s: timed out", host);
        else
            set_error(res, ERR_RETRIEVAL, "no complete response from %s: timed out after %ld ms",
                      host, budget_ms);
        return;
    case CURLE_COULDNT_RESOLVE_HOST:
        set_error(res, ERR_BAD_HOST, "could not resolve the host of %s", host);
        return;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        set_error(res, ERR_TLS, "tls handshake with %s failed: %s", host, detail(h));
        return;
    case CURLE_UNSUPPORTED_PROTOCOL:
        set_error(res, ERR_RETRIEVAL, "url scheme is not http or https");
        return;
    case CURLE_URL_MALFORMAT:
        set_error(res, ERR_RETRIEVAL, "malformed url");
        return;
    case CURLE_GOT_NOTHING:
        set_error(res, ERR_RETRIEVAL, "%s closed the connection without a response", host);
        return;
    default:
        break;
    }
    set_error(res, ERR_RETRIEVAL, "request to %s failed: %s", host, detail(h));
}

/* Copies the Content-Type of the last hop, truncating what does not fit. */
static void copy_content_type(struct sim_fetcher *f, struct sim_fetch_result *res)
{
    char *ct = NULL;

    curl_easy_getinfo(f->curl, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(res->content_type, sizeof(res->content_type), "%s", ct ? ct : "");
}

int sim_fetch(struct sim_fetcher *f, const struct sim_fetch_request *req,
              struct sim_fetch_result *res)
{
    struct hop h;
    char *url = NULL, *next = NULL, *form_body = NULL;
    const struct form *params;
    long long start_us = clock_mono_us();
    long budget_ms, remaining_ms;
    int post, hops, rc = 0;

    memset(&h, 0, sizeof(h));
    buf_init(&h.body, SIM_FETCH_MAX_BODY);
    if (!res)
        return SB_EINVAL;
    memset(res, 0, sizeof(*res));
    if (!f || !req || !req->url) {
        set_error(res, ERR_RETRIEVAL, "no url to fetch");
        rc = SB_EINVAL;
        goto out;
    }
    if (req->method && strcmp(req->method, "POST") != 0 && strcmp(req->method, "GET") != 0) {
        set_error(res, ERR_RETRIEVAL, "method '%s' is neither get nor post", req->method);
        rc = SB_EINVAL;
        goto out;
    }
    post = !req->method || strcmp(req->method, "POST") == 0;
    params = req->params;
    budget_ms = req->budget_ms > 0 ? req->budget_ms : SIM_FETCH_BUDGET_MS;
    /* Without parameters the body is empty (form_encode wants a form). */
    form_body = params ? form_encode(params) : strdup("");
    if (!form_body) {
        rc = SB_ENOMEM;
        goto out;
    }
    url = post ? strdup(req->url) : get_url(req->url, form_body);
    if (!url) {
        rc = SB_ENOMEM;
        goto out;
    }
    h.keep_reading = !req->expect_twiml;

    for (hops = 0;; hops++) {
        remaining_ms = budget_ms - (long)((clock_mono_us() - start_us) / 1000);
        if (remaining_ms <= 0) {
            set_error(res, ERR_RETRIEVAL, "no complete response: timed out after %ld ms",
                      budget_ms);
            goto judged;
        }
        hop_release(&h);
        h.too_big = 0;
        rc = perform(f, url, post, post ? form_body : "", params, req->token, remaining_ms, &h);
        if (rc)
            goto out;
        res->status = h.status;
        copy_content_type(f, res);
        if (h.code != CURLE_OK) {
            transfer_error(res, &h, url, budget_ms);
            goto judged;
        }
        if (!is_redirect(h.status) || !h.location)
            break;
        if (hops == MAX_REDIRECTS) {
            set_error(res, ERR_REDIRECTS, "more than %d redirects", MAX_REDIRECTS);
            goto judged;
        }
        /*
         * Like a browser: 307 and 308 repeat the request as it was, the
         * others turn it into a GET of the new location without a body.
         */
        if (h.status != 307 && h.status != 308) {
            post = 0;
            params = NULL;
        }
        next = h.location;
        h.location = NULL;
        free(url);
        url = next;
        next = NULL;
    }

    if (h.status < 200 || h.status > 299) {
        if (is_redirect(h.status))
            set_error(res, ERR_RETRIEVAL, "http status %ld without a location", h.status);
        else
            set_error(res, ERR_RETRIEVAL, "http status %ld", h.status);
    }
judged:
    if (h.body.len > 0) {
        res->body = buf_detach(&h.body, &res->len);
        if (!res->body) {
            rc = SB_ENOMEM;
            goto out;
        }
    }
    if (req->expect_twiml && !res->error_code) {
        if (res->len == 0)
            set_error(res, ERR_RETRIEVAL, "empty response");
        else
            check_content_type(res);
    }
out:
    if (rc && !res->error_code)
        set_error(res, ERR_RETRIEVAL, "could not make the request: %s", sb_strerror(rc));
    if (!rc && res->error_code)
        rc = SB_EIO;
    res->elapsed_ms = (double)(clock_mono_us() - start_us) / 1000.0;
    hop_release(&h);
    free(url);
    free(form_body);
    return rc;
}

char *sim_url_resolve(const char *base, const char *ref)
{
    CURLU *u = NULL;
    char *resolved = NULL, *out = NULL;

    if (!base || !ref)
        goto out;
    u = curl_url();
    if (!u)
        goto out;
    if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK)
        goto out;
    /*
     * The base's fragment never takes part in resolution (RFC 3986 5.2.2).
     * curl 7.88 would otherwise append a query-only reference after it.
     */
    if (curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK)
        goto out;
    /*
     * An empty reference is the base itself and "#f" is the base with a new
     * fragment; curl resolves both against the base's directory instead, so
     * they are handled as the parts they are.
     */
    if (ref[0] == '#') {
        if (curl_url_set(u, CURLUPART_FRAGMENT, ref + 1, 0) != CURLUE_OK)
            goto out;
    } else if (ref[0] != '\0') {
        if (curl_url_set(u, CURLUPART_URL, ref, 0) != CURLUE_OK)
            goto out;
    }
    if (curl_url_get(u, CURLUPART_URL, &resolved, 0) != CURLUE_OK)
        goto out;
    out = strdup(resolved);
out:
    curl_free(resolved);
    curl_url_cleanup(u);
    return out;
}

void sim_url_speaker(const char *url, char *out, size_t size)
{
    CURLU *u = url ? curl_url() : NULL;
    char *host = NULL;

    if (!size)
        return;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host)
        snprintf(out, size, "%s", host);
    else
        snprintf(out, size, "app");
    curl_free(host);
    curl_url_cleanup(u);
}
