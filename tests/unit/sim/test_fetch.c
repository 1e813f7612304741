#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/form.h"
#include "core/sig.h"
#include "sim/fetch.h"
#include "core/form.h"

/*
 * A throwaway HTTP server for these tests: it listens on 127.0.0.1 with a
 * port the kernel picks, takes one request per connection (headers, then a
 * Content-Length body), answers it with the next canned response and closes
 * the connection. What it received is kept for the test to look at.
 */
#define MAX_EXCHANGES 16
#define REQ_MAX 16384

struct server {
    int fd;
    int port;
    pthread_t thread;
    const char *responses[MAX_EXCHANGES];
    size_t response_len[MAX_EXCHANGES]; /* 0: strlen */
    int count;
    char requests[MAX_EXCHANGES][REQ_MAX];
    int served;
    int no_read; /* answer at once without reading the request */
};

static int listen_local(int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 8), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Reads one request: up to the blank line, then Content-Length bytes. */
static void read_request(int c, char *out)
{
    size_t n = 0, want = 0;
    char *end = NULL, *cl;
    ssize_t r;

    while (n < REQ_MAX - 1) {
        r = recv(c, out + n, REQ_MAX - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        out[n] = '\0';
        if (!end) {
            end = strstr(out, "\r\n\r\n");
            if (end) {
                cl = strcasestr(out, "\r\nContent-Length:");
                want = (size_t)(end - out) + 4;
                if (cl && cl < end)
                    want += (size_t)strtoul(cl + 17, NULL, 10);
            }
        }
        if (end && n >= want)
            break;
    }
    out[n] = '\0';
}

static void *serve(void *arg)
{
    struct server *s = arg;
    size_t len, off;
    ssize_t w;
    int c;

    while (s->served < s->count) {
        c = accept(s->fd, NULL, NULL);
        if (c < 0)
            break;
        if (!s->no_read)
            read_request(c, s->requests[s->served]);
        len = s->response_len[s->served] ? s->response_len[s->served]
                                         : strlen(s->responses[s->served]);
        /* The client may hang up early (an oversized body): no SIGPIPE. */
        for (off = 0; off < len; off += (size_t)w) {
            w = send(c, s->responses[s->served] + off, len - off, MSG_NOSIGNAL);
            if (w <= 0)
                break;
        }
        s->served++;
        shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

static void server_start(struct server *s)
{
    s->fd = listen_local(&s->port);
    cr_assert_eq(pthread_create(&s->thread, NULL, serve, s), 0);
}

/*
 * Shutting the listening socket down wakes a thread still blocked in
 * accept (a fetch that failed before connecting), so a failing test fails
 * instead of hanging. Exchanges already accepted run to their end.
 */
static void server_stop(struct server *s)
{
    shutdown(s->fd, SHUT_RDWR);
    pthread_join(s->thread, NULL);
    close(s->fd);
}

static struct server *server_new(void)
{
    struct server *s = calloc(1, sizeof(*s));

    cr_assert_not_null(s);
    return s;
}

static void server_add(struct server *s, const char *response)
{
    cr_assert_lt(s->count, MAX_EXCHANGES);
    s->responses[s->count++] = response;
}

static char *url_for(const struct server *s, const char *path)
{
    char *u = malloc(256);

    cr_assert_not_null(u);
    snprintf(u, 256, "http://127.0.0.1:%d%s", s->port, path);
    return u;
}

/* The value of header `name` in a captured request, copied into `out`. */
static const char *header(const char *req, const char *name, char *out, size_t size)
{
    char key[64];
    const char *p, *end;

    snprintf(key, sizeof(key), "\r\n%s:", name);
    p = strcasestr(req, key);
    if (!p)
        return NULL;
    p += strlen(key);
    while (*p == ' ')
        p++;
    end = strstr(p, "\r\n");
    snprintf(out, size, "%.*s", (int)(end ? end - p : (long)strlen(p)), p);
    return out;
}

static const char *body_of(const char *req)
{
    const char *p = strstr(req, "\r\n\r\n");

    return p ? p + 4 : "";
}

#define OK_TWIML                                                                                   \
    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\nContent-Length: 62\r\n"     \
    "\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Hangup/></Response>"

static void standard_params(struct form *p)
{
    cr_assert_eq(form_add(p, "CallSid", "CA1234567890ABCDE"), 0);
    cr_assert_eq(form_add(p, "From", "+14158675309"), 0);
    cr_assert_eq(form_add(p, "To", "+18005551212"), 0);
    cr_assert_eq(form_add(p, "SpeechResult", "yes & no = maybe"), 0);
    cr_assert_eq(form_add(p, "Digits", "5678"), 0);
    cr_assert_eq(form_add(p, "Digits", "1234"), 0);
}

Test(sim_fetch, post_is_signed_over_url_and_params)
{
    struct server *s = server_new();
    struct sim_fetcher *f = NULL;
    struct form p = FORM_INIT;
    struct sim_fetch_result res;
    struct form form = FORM_INIT;
    char *url, *body;
    char v[256], want[SIG_B64_SIZE];
    const char *req;

    server_add(s, OK_TWIML);
    server_start(s);
    url = url_for(s, "/voice/incoming?tenant=acme&x=1");
    standard_params(&p);
    cr_assert_eq(sim_fetcher_new(&f), 0);
    cr_assert_eq(sim_fetch(f,
                           &(struct sim_fetch_request){
                               .url = url, .params = &p, .token = "12345", .expect_twiml = 1},
                           &res),
                 0, "%d %s", res.error_code, res.error);
    server_stop(s);

    cr_assert_eq(res.error_code, 0);
    cr_assert_eq(res.status, 200);
    cr_assert_str_eq(res.content_type, "text/xml");
    cr_assert_eq(res.len, 62);
    cr_assert_not_null(strstr(res.body, "<Hangup/>"));
    cr_assert_geq(res.elapsed_ms, 0.0);

    req = s->requests[0];
    cr_assert_eq(strncmp(req, "POST /voice/incoming?tenant=acme&x=1 HTTP/1.1\r\n", 47), 0, "%s",
                 req);
    cr_assert_str_eq(header(req, "Content-Type", v, sizeof(v)),
                     "application/x-www-form-urlencoded");
    cr_assert_str_eq(header(req, "User-Agent", v, sizeof(v)), "TwilioProxy/1.1");
    cr_assert_str_eq(header(req, "Accept", v, sizeof(v)), "*/*");
    cr_assert_null(header(req, "Expect", v, sizeof(v)));

    /* The body is the parameters, in order, form-encoded. */
    body = form_encode(&p);
    cr_assert_str_eq(body_of(req), body);

    /* The signature is the one a receiver computes from what it got. */
    cr_assert_eq(form_parse(&form, body_of(req), strlen(body_of(req))), 0);
    cr_assert_eq(sig_compute("12345", url, &form, want), 0);
    cr_assert_str_eq(header(req, "X-Twilio-Signature", v, sizeof(v)), want);
    cr_assert_eq(sig_validate("12345", url, &form, v), 0);
    cr_assert_eq(sig_validate("54321", url, &form, v), SB_EBADSIG);

    form_release(&form);
    free(body);
    free(url);
    sim_fetch_result_release(&res);
    cr_assert_null(res.body);
    form_release(&p);
    sim_fetcher_free(f);
    free(s);
}

Test(sim_fetch, get_puts_params_in_query_and_signs_the_url)
{
    struct server *s = server_new();
    struct sim_fetcher *f = NULL;
    struct form p = FORM_INIT;
    struct sim_fetch_result res;
    char *url, *full;
    char v[256], want[SIG_B64_SIZE], line[512];
    const char *req;

    server_add(s, OK_TWIML);
    server_add(s, OK_TWIML);
    server_start(s);
    cr_assert_eq(form_add(&p, "CallSid", "CA1"), 0);
    cr_assert_eq(form_add(&p, "From", "+1 415"), 0);
    cr_assert_eq(sim_fetcher_new(&f), 0);

    url = url_for(s, "/voice");
    cr_assert_eq(
        sim_fetch(
            f,
            &(struct sim_fetch_request){
                .url = url, .method = "GET", .params = &p, .token = "12345", .expect_twiml = 1},
            &res),
        0, "%s", res.error);
    sim_fetch_result_release(&res);
    free(url);

    /* A URL with a query gets the parameters after it; a fragment is not sent. */
    url = url_for(s, "/voice?a=1#rc=2");
    cr_assert_eq(
        sim_fetch(
            f,
            &(struct sim_fetch_request){
                .url = url, .method = "GET", .params = &p, .token = "12345", .expect_twiml = 1},
            &res),
        0, "%s", res.error);
    sim_fetch_result_release(&res);
    free(url);
    server_stop(s);

    req = s->requests[0];
    cr_assert_eq(strncmp(req, "GET /voice?CallSid=CA1&From=%2B1+415 HTTP/1.1\r\n", 46), 0, "%s",
                 req);
    cr_assert_null(header(req, "Content-Type", v, sizeof(v)));
    cr_assert_str_eq(body_of(req), "");
    full = url_for(s, "/voice?CallSid=CA1&From=%2B1+415");
    cr_assert_eq(sig_compute("12345", full, NULL, want), 0);
    cr_assert_str_eq(header(req, "X-Twilio-Signature", v, sizeof(v)), want);
    cr_assert_eq(sig_validate("12345", full, NULL, v), 0);
    free(full);

    req = s->requests[1];
    snprintf(line, sizeof(line), "GET /voice?a=1&CallSid=CA1&From=%%2B1+415 HTTP/1.1\r\n");
    cr_assert_eq(strncmp(req, line, strlen(line)), 0, "%s", req);
    full = url_for(s, "/voice?a=1&CallSid=CA1&From=%2B1+415");
    cr_assert_eq(sig_compute("12345", full, NULL, want), 0);
    cr_assert_str_eq(header(req, "X-Twilio-Signature", v, sizeof(v)), want);
    free(full);

    form_release(&p);
    sim_fetcher_free(f);
    free(s);
}

Test(sim_fetch, no_token_no_signature)
{
    struct server *s = server_new();
    struct sim_fetcher *f = NULL;
    struct sim_fetch_result res;
    char *url;
    char v[64];

    server_add(s, OK_TWIML);
    server_start(s);
    url = url_for(s, "/x");
    cr_assert_eq(sim_fetcher_new(&f), 0);
    cr_assert_eq(sim_fetch(f, &(struct sim_fetch_request){.url = url}, &res), 0);
    server_stop(s);
    cr_assert_null(header(s->requests[0], "X-Twilio-Signature", v, sizeof(v)));
    cr_assert_eq(strncmp(s->requests[0], "POST /x HTTP/1.1", 16), 0);
    sim_fetch_result_release(&res);
    free(url);
    sim_fetcher_free(f);
    free(s);
}

/* Fetches `path` from a server that answers with `response` once. */
static int fetch_canned(const char *response, size_t response_len, int expect_twiml,
                        struct sim_fetch_result *res)
{
    struct server *s = server_new();
    struct sim_fetcher *f = NULL;
    char *url;
    int rc;

    server_add(s, response);
    s->response_len[0] = response_len;
    server_start(s);
    url = url_for(s, "/voice");
    cr_assert_eq(sim_fetcher_new(&f), 0);
    rc = sim_fetch(
        f, &(struct sim_fetch_request){.url = url, .token = "t", .expect_twiml = expect_twiml},
        res);
    server_stop(s);
    sim_fetcher_free(f);
    free(url);
    free(s);
    return rc;
}

Test(sim_fetch, status_500_is_11200)
{
    struct sim_fetch_result res;

    cr_assert_eq(fetch_canned("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/xml\r\n"
                              "Content-Length: 11\r\nConnection: close\r\n\r\n<Response/>",
                              0, 1, &res),
                 SB_EIO);
    cr_assert_eq(res.status, 500);
    cr_assert_eq(res.error_code, 11200);
    cr_assert_not_null(strstr(res.error, "500"), "%s", res.error);
    sim_fetch_result_release(&res);

    /* Status callbacks too want a 2xx. */
    cr_assert_eq(fetch_canned("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                              "Connection: close\r\n\r\n",
                              0, 0, &res),
                 SB_EIO);
    cr_assert_eq(res.error_code, 11200);
    cr_assert_not_null(strstr(res.error, "404"));
    sim_fetch_result_release(&res);
}

Test(sim_fetch, content_types)
{
    struct {
        const char *type;
        const char *body;
        int code;
    } cases[] = {
        {"text/xml", "<Response/>", 0},       {"application/xml", "<Response/>", 0},
        {"text/html", "<Response/>", 0},      {"Text/XML; charset=utf-8", "<Response/>", 0},
        {"text/plain", "<Response/>", 0},     {"text/plain; charset=utf-8", "\n<Response/>", 0},
        {"text/plain", "Hello there", 12300}, {"application/json", "{\"a\":1}", 12300},
        {"audio/mpeg", "ID3xxxxxxx", 12300},  {"text/xmlish", "<Response/>", 12300},
        {NULL, "<Response/>", 12300},
    };
    struct sim_fetch_result res;
    char resp[512];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char ct[128] = "";

        if (cases[i].type)
            snprintf(ct, sizeof(ct), "Content-Type: %s\r\n", cases[i].type);
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 200 OK\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s", ct,
                 strlen(cases[i].body), cases[i].body);
        fetch_canned(resp, 0, 1, &res);
        cr_assert_eq(res.error_code, cases[i].code, "%s: %s", cases[i].type, res.error);
        if (cases[i].code)
            cr_assert_neq(res.error[0], '\0');
        cr_assert_str_eq(res.body, cases[i].body);
        sim_fetch_result_release(&res);
    }

    /* Content-Type does not matter when no TwiML is expected. */
    cr_assert_eq(fetch_canned("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                              "Content-Length: 2\r\nConnection: close\r\n\r\nok",
                              0, 0, &res),
                 0);
    cr_assert_str_eq(res.content_type, "text/plain");
    sim_fetch_result_release(&res);
}

Test(sim_fetch, empty_twiml_is_11200)
{
    struct sim_fetch_result res;

    cr_assert_eq(fetch_canned("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                              "Content-Length: 0\r\nConnection: close\r\n\r\n",
                              0, 1, &res),
                 SB_EIO);
    cr_assert_eq(res.error_code, 11200);
    cr_assert_str_eq(res.error, "empty response");
    cr_assert_null(res.body);
    sim_fetch_result_release(&res);

    /* A status callback may answer 204 with nothing. */
    cr_assert_eq(fetch_canned("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", 0, 0, &res),
                 0);
    cr_assert_eq(res.status, 204);
    sim_fetch_result_release(&res);
}

/* A 200 text/xml response with a body of `n` bytes. */
static char *sized_response(size_t n, size_t *len)
{
    char head[160];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      n);
    char *r = malloc((size_t)hl + n + 1);

    cr_assert_not_null(r);
    memcpy(r, head, (size_t)hl);
    memset(r + hl, ' ', n);
    memcpy(r + hl, "<Response>", 10);
    memcpy(r + hl + n - 11, "</Response>", 11);
    r[(size_t)hl + n] = '\0';
    *len = (size_t)hl + n;
    return r;
}

Test(sim_fetch, body_over_64k_is_11750)
{
    struct sim_fetch_result res;
    size_t len;
    char *r = sized_response(SIM_FETCH_MAX_BODY + 1, &len);

    cr_assert_eq(fetch_canned(r, len, 1, &res), SB_EIO);
    cr_assert_eq(res.error_code, 11750, "%d %s", res.error_code, res.error);
    cr_assert_leq(res.len, SIM_FETCH_MAX_BODY);
    sim_fetch_result_release(&res);
    free(r);
}

Test(sim_fetch, body_of_exactly_64k_is_fine)
{
    struct sim_fetch_result res;
    size_t len;
    char *r = sized_response(SIM_FETCH_MAX_BODY, &len);

    cr_assert_eq(fetch_canned(r, len, 1, &res), 0, "%s", res.error);
    cr_assert_eq(res.len, SIM_FETCH_MAX_BODY);
    cr_assert_eq(strlen(res.body), SIM_FETCH_MAX_BODY);
    sim_fetch_result_release(&res);
    free(r);
}

Test(sim_fetch, big_body_is_no_error_when_no_twiml_is_expected)
{
    struct sim_fetch_result res;
    size_t len;
    char *r = sized_response(3 * SIM_FETCH_MAX_BODY, &len);

    cr_assert_eq(fetch_canned(r, len, 0, &res), 0, "%s", res.error);
    cr_assert_eq(res.len, SIM_FETCH_MAX_BODY);
    sim_fetch_result_release(&res);
    free(r);
}

Test(sim_fetch, server_that_never_answers_times_out)
{
    struct sim_fetcher *f = NULL;
    struct sim_fetch_result res;
    char url[64];
    int port;
    /* Listening, never accepting: the kernel completes the handshake, nobody talks. */
    int fd = listen_local(&port);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", port);
    cr_assert_eq(sim_fetcher_new(&f), 0);
    cr_assert_eq(
        sim_fetch(f, &(struct sim_fetch_request){.url = url, .budget_ms = 300, .expect_twiml = 1},
                  &res),
        SB_EIO);
    cr_assert_eq(res.error_code, 11200, "%d %s", res.error_code, res.error);
    cr_assert_not_null(strstr(res.error, "timed out after 300 ms"), "%s", res.error);
    cr_assert_eq(res.status, 0);
    sim_fetch_result_release(&res);
    sim_fetcher_free(f);
    close(fd);
}

Test(sim_fetch, closed_port_is_11205)
{
    struct sim_fetcher *f = NULL;
    struct sim_fetch_result res;
    char url[64];
    int port;
    int fd = listen_local(&port);

    /* The port was free a moment ago and nothing listens on it now. */
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/voice", port);
    cr_assert_eq(sim_fetcher_new(&f), 0);
    cr_assert_eq(sim_fetch(f, &(struct sim_fetch_request){.url = url, .expect_twiml = 1}, &res),
                 SB_EIO);
    cr_assert_eq(res.error_code, 11205, "%d %s", res.error_code, res.error);
    cr_assert_not_null(strstr(res.error, "connection refused"), "%s", res.error);
    cr_assert_eq(res.status, 0);
    sim_fetch_result_release(&res);
    sim_fetcher_free(f);
}

Test(sim_fetch, tls_to_a_plain_http_server_is_11220)
{
    struct server *s = server_new();
    struct sim_fetcher *f = NULL;
    struct sim_fetch_result res;
    char url[64];

    s->no_read = 1;
    server_add(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    server_start(s);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/voice", s->port);
    cr_assert_eq(sim_fetcher_new(&f), 0);
    cr_assert_eq(sim_fetch(f, &(struct sim_fetch_request){.url = url, .expect_twiml = 1}, &res),
                 SB_EIO);
    server_stop(s);
    cr_assert_eq(res.error_code, 11220, "%d %s", res.error_code, res.error);
    cr_assert_not_null(strstr(res.error, "tls handshake"), "%s", res.error);
    sim_fetch_result_release(&res);
    sim_fetcher_free(f);
    free(s);
}

Test(sim_fetch, hang_up_without_response_is_11200)
{
    struct sim_fetch_result res;

    cr_assert_eq(fetch_canned("", 0, 1, &res), SB_EIO);
    cr_assert_eq(res.error_code, 11200, "%d %s", res.error_code, res.error);
    sim_fetch_result_release(&res);
}

Test(sim_fetch, cookies_come_back_on_the_next_fetch)
{
    struct server *s = server_new();
    struct sim_fetcher *f = NULL, *other = NULL;
    struct sim_fetch_result res;
    char *url;
    char v[256];

    server_add(s, "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nSet-Cookie: session=abc123; "
                  "Path=/\r\nContent-Length: 11\r\nConnection: close\r\n\r\n<Response/>");
    server_add(s, OK_TWIML);
    server_add(s, OK_TWIML);
    server_start(s);
    url = url_for(s, "/voice/incoming");
    cr_assert_eq(sim_fetcher_new(&f), 0);
    cr_assert_eq(sim_fetcher_new(&other), 0);
    cr_assert_eq(sim_fetch(f, &(struct sim_fetch_request){.url = url, .expect_twiml = 1}, &res), 0);
    sim_fetch_result_release(&res);
    free(url);
    url = url_for(s, "/voice/gather");
    cr_assert_eq(
        sim_fetch(f, &(struct sim_fetch_request){.url = url, .method = "GET", .expect_twiml = 1},
                  &res),
        0);
    sim_fetch_result_release(&res);
    /* Another call has its own cookie jar. */
    cr_assert_eq(sim_fetch(other, &(struct sim_fetch_request){.url = url}, &res), 0);
    sim_fetch_result_release(&res);
    server_stop(s);

    cr_assert_null(header(s->requests[0], "Cookie", v, sizeof(v)));
    cr_assert_not_null(header(s->requests[1], "Cookie", v, sizeof(v)), "%s", s->requests[1]);
    cr_assert_str_eq(v, "session=abc123");
    cr_assert_null(header(s->requests[2], "Cookie", v, sizeof(v)));
    free(url);
    sim_fetcher_free(f);
    sim_fetcher_free(other);
    free(s);
}

Test(sim_fetch, redirects_are_followed_and_each_hop_signed)
{
    struct server *s = server_new();
    struct sim_fetcher *f = NULL;
    struct form p = FORM_INIT;
    struct sim_fetch_result res;
    struct form form = FORM_INIT;
    char *url, *hop;
    char v[256], want[SIG_B64_SIZE];

    server_add(s, "HTTP/1.1 307 Temporary Redirect\r\nLocation: /b?k=1\r\nContent-Length: 0\r\n"
                  "Connection: close\r\n\r\n");
    server_add(s, "HTTP/1.1 302 Found\r\nLocation: /c\r\nContent-Length: 0\r\n"
                  "Connection: close\r\n\r\n");
    server_add(s, OK_TWIML);
    server_start(s);
    url = url_for(s, "/a");
    cr_assert_eq(form_add(&p, "CallSid", "CA1"), 0);
    cr_assert_eq(sim_fetcher_new(&f), 0);
    cr_assert_eq(sim_fetch(f,
                           &(struct sim_fetch_request){
                               .url = url, .params = &p, .token = "tok", .expect_twiml = 1},
                           &res),
                 0, "%s", res.error);
    server_stop(s);
    cr_assert_eq(res.status, 200);
    cr_assert_eq(s->served, 3);

    /* 307 repeats the POST with its body, signed over the new URL. */
    cr_assert_eq(strncmp(s->requests[1], "POST /b?k=1 HTTP/1.1", 20), 0, "%s", s->requests[1]);
    cr_assert_str_eq(body_of(s->requests[1]), "CallSid=CA1");
    hop = url_for(s, "/b?k=1");
    cr_assert_eq(form_parse(&form, "CallSid=CA1", 11), 0);
    cr_assert_eq(sig_compute("tok", hop, &form, want), 0);
    cr_assert_str_eq(header(s->requests[1], "X-Twilio-Signature", v, sizeof(v)), want);
    free(hop);

    /* 302 turns it into a GET without a body. */
    cr_assert_eq(strncmp(s->requests[2], "GET /c HTTP/1.1", 15), 0, "%s", s->requests[2]);
    hop = url_for(s, "/c");
    cr_assert_eq(sig_compute("tok", hop, NULL, want), 0);
    cr_assert_str_eq(header(s->requests[2], "X-Twilio-Signature", v, sizeof(v)), want);
    free(hop);

    form_release(&form);
    sim_fetch_result_release(&res);
    form_release(&p);
    free(url);
    sim_fetcher_free(f);
    free(s);
}

Test(sim_fetch, more_than_ten_redirects_is_11215)
{
    struct server *s = server_new();
    struct sim_fetcher *f = NULL;
    struct sim_fetch_result res;
    char *url;
    int i;

    for (i = 0; i < 11; i++)
        server_add(s, "HTTP/1.1 301 Moved\r\nLocation: /again\r\nContent-Length: 0\r\n"
                      "Connection: close\r\n\r\n");
    server_start(s);
    url = url_for(s, "/loop");
    cr_assert_eq(sim_fetcher_new(&f), 0);
    cr_assert_eq(sim_fetch(f, &(struct sim_fetch_request){.url = url, .expect_twiml = 1}, &res),
                 SB_EIO);
    server_stop(s);
    cr_assert_eq(s->served, 11);
    cr_assert_eq(res.error_code, 11215, "%d %s", res.error_code, res.error);
    sim_fetch_result_release(&res);
    free(url);
    sim_fetcher_free(f);
    free(s);
}

Test(sim_fetch, only_http_urls_are_fetched)
{
    struct sim_fetcher *f = NULL;
    struct sim_fetch_result res;

    cr_assert_eq(sim_fetcher_new(&f), 0);
    cr_assert_eq(sim_fetch(f, &(struct sim_fetch_request){.url = "file:///etc/passwd"}, &res),
                 SB_EIO);
    cr_assert_eq(res.error_code, 11200);
    cr_assert_null(res.body);
    sim_fetch_result_release(&res);
    cr_assert_eq(sim_fetch(f, &(struct sim_fetch_request){.url = NULL}, &res), SB_EINVAL);
    cr_assert_neq(res.error_code, 0);
    sim_fetch_result_release(&res);
    cr_assert_eq(
        sim_fetch(f, &(struct sim_fetch_request){.url = "http://x/", .method = "PUT"}, &res),
        SB_EINVAL);
    cr_assert_neq(res.error_code, 0);
    sim_fetch_result_release(&res);
    sim_fetcher_free(f);
    sim_fetcher_free(NULL);
}

static void expect_resolve(const char *base, const char *ref, const char *want)
{
    char *got = sim_url_resolve(base, ref);

    if (!want) {
        cr_assert_null(got, "'%s' resolved to '%s'", ref, got);
        return;
    }
    cr_assert_not_null(got, "'%s' did not resolve", ref);
    cr_assert_str_eq(got, want, "'%s'", ref);
    free(got);
}

/* RFC 3986 section 5.4.1, "Normal Examples". */
Test(sim_url, rfc3986_normal_examples)
{
    const char *base = "http://a/b/c/d;p?q";
    const char *cases[][2] = {
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        /* curl writes the empty path of an authority as "/" (RFC 3986 6.2.3). */
        {"//g", "http://g/"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"},
        {"g#s", "http://a/b/c/g#s"},
        {"g?y#s", "http://a/b/c/g?y#s"},
        {";x", "http://a/b/c/;x"},
        {"g;x", "http://a/b/c/g;x"},
        {"g;x?y#s", "http://a/b/c/g;x?y#s"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../", "http://a/"},
        {"../../g", "http://a/g"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_resolve(base, cases[i][0], cases[i][1]);
    /* "g:h" is absolute with a scheme Twilio cannot fetch: no URL. */
    expect_resolve(base, "g:h", NULL);
}

/* RFC 3986 section 5.4.2, the abnormal examples curl agrees with. */
Test(sim_url, rfc3986_abnormal_examples)
{
    const char *base = "http://a/b/c/d;p?q";
    const char *cases[][2] = {
        {"../../../g", "http://a/g"},
        {"../../../../g", "http://a/g"},
        {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."},
        {".g", "http://a/b/c/.g"},
        {"g..", "http://a/b/c/g.."},
        {"..g", "http://a/b/c/..g"},
        {"./../g", "http://a/b/g"},
        {"./g/.", "http://a/b/c/g/"},
        {"g/./h", "http://a/b/c/g/h"},
        {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
        {"g;x=1/../y", "http://a/b/c/y"},
        {"g?y/./x", "http://a/b/c/g?y/./x"},
        {"g?y/../x", "http://a/b/c/g?y/../x"},
        {"g#s/./x", "http://a/b/c/g#s/./x"},
        {"g#s/../x", "http://a/b/c/g#s/../x"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_resolve(base, cases[i][0], cases[i][1]);
}

Test(sim_url, twilio_style_action_urls)
{
    const char *base = "http://h:8080/voice/incoming";

    expect_resolve(base, "/voice/gather", "http://h:8080/voice/gather");
    expect_resolve(base, "gather", "http://h:8080/voice/gather");
    expect_resolve(base, "?x=1", "http://h:8080/voice/incoming?x=1");
    expect_resolve(base, "https://example.com/next", "https://example.com/next");
    /* The document URL's connection overrides do not leak into its actions. */
    expect_resolve("http://h/voice/incoming?a=1#ct=1000", "?x=1", "http://h/voice/incoming?x=1");
    expect_resolve("http://h/voice/incoming#ct=1000", "gather", "http://h/voice/gather");
    expect_resolve(NULL, "gather", NULL);
    expect_resolve(base, NULL, NULL);
    expect_resolve("not a url", "gather", NULL);
}
