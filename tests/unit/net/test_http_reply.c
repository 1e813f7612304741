/*
 * Tests for net/http_reply: the reason phrases, and a real libwebsockets
 * server on 127.0.0.1 that answers with net_http_write_head after
 * net_http_body_check, read back over a plain socket.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/http_reply.h"

Test(http_reply, reasons)
{
    cr_assert_str_eq(net_http_reason(200), "OK");
    cr_assert_str_eq(net_http_reason(201), "Created");
    cr_assert_str_eq(net_http_reason(204), "No Content");
    cr_assert_str_eq(net_http_reason(404), "Not Found");
    cr_assert_str_eq(net_http_reason(413), "Payload Too Large");
    cr_assert_str_eq(net_http_reason(429), "Too Many Requests");
    cr_assert_str_eq(net_http_reason(503), "Service Unavailable");
    cr_assert_str_eq(net_http_reason(418), "Client Error");
    cr_assert_str_eq(net_http_reason(599), "Server Error");
}

/* The body limit of the test server. */
#define MAX_BODY 10

static const char *check_name(enum net_http_body b)
{
    return b == NET_HTTP_BODY_NONE ? "none" : b == NET_HTTP_BODY_COMING ? "coming" : "toobig";
}

/* Answers with the status the path names ("/204", "/401"...) and the body check as the body. */
static int answer(struct lws *wsi, const char *path, const char *what)
{
    unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start;
    struct net_http_head h;

    memset(&h, 0, sizeof(h));
    h.status = atoi(path + 1) ? atoi(path + 1) : 200;
    h.content_type = "text/plain";
    h.content_length = h.status == 204 ? 0 : strlen(what);
    h.allow = h.status == 405 ? "GET, POST" : NULL;
    h.authenticate = h.status == 401 ? "Basic realm=\"test\"" : NULL;
    h.close = 1;
    if (net_http_write_head(wsi, &h, &p, buf + sizeof(buf) - 1))
        return -1;
    if (h.status != 204) {
        memcpy(p, what, strlen(what));
        p += strlen(what);
    }
    lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS);
    return -1; /* close: the client reads to the end */
}

struct session {
    char path[64];
};

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct session *s = user;
    enum net_http_body b;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        snprintf(s->path, sizeof(s->path), "%s", in ? (const char *)in : "/");
        b = net_http_body_check(wsi, MAX_BODY);
        if (b != NET_HTTP_BODY_COMING)
            return answer(wsi, s->path, check_name(b));
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return answer(wsi, s->path, "coming");
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", callback, sizeof(struct session), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

struct exchange {
    int port;
    const char *request;
    char reply[2048];
    volatile int done;
};

static void *client(void *arg)
{
    struct exchange *x = arg;
    struct sockaddr_in a;
    size_t got = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)x->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        write(fd, x->request, strlen(x->request)) == (ssize_t)strlen(x->request)) {
        while (got < sizeof(x->reply) - 1 &&
               (n = read(fd, x->reply + got, sizeof(x->reply) - 1 - got)) > 0)
            got += (size_t)n;
    }
    x->reply[got] = '\0';
    if (fd >= 0)
        close(fd);
    x->done = 1;
    return NULL;
}

static lws_sorted_usec_list_t tick;

static void on_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
}

/* Sends `request` to a fresh server and returns its whole answer in x->reply. */
static void exchange(struct exchange *x, const char *request)
{
    struct lws_context_creation_info info;
    struct lws_context *ctx;
    pthread_t t;

    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof(info));
    info.port = 0;
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    ctx = lws_create_context(&info);
    cr_assert_not_null(ctx);
    memset(x, 0, sizeof(*x));
    x->port = lws_get_vhost_listen_port(lws_get_vhost_by_name(ctx, "default"));
    cr_assert_gt(x->port, 0);
    x->request = request;
    cr_assert_eq(pthread_create(&t, NULL, client, x), 0);
    /*
     * lws 4.1 ignores lws_service's timeout and waits for the next event: a
     * 10 ms tick ends the wait once the client thread is done.
     */
    while (!x->done) {
        lws_sul_schedule(ctx, 0, &tick, on_tick, 10 * LWS_US_PER_MS);
        lws_service(ctx, 0);
    }
    lws_sul_cancel(&tick);
    pthread_join(t, NULL);
    lws_context_destroy(ctx);
}

Test(http_reply, head_and_body_without_content_length)
{
    struct exchange x;

    exchange(&x, "GET /200 HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(strncmp(x.reply, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", x.reply);
    cr_assert(strcasestr(x.reply, "content-type: text/plain\r\n"), "%s", x.reply);
    cr_assert(strcasestr(x.reply, "content-length: 4\r\n"), "%s", x.reply);
    cr_assert(strcasestr(x.reply, "connection: close\r\n"), "%s", x.reply);
    cr_assert(strstr(x.reply, "\r\n\r\nnone"), "%s", x.reply);
}

Test(http_reply, zero_length_is_no_body)
{
    struct exchange x;

    exchange(&x, "POST /200 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    cr_assert(strstr(x.reply, "\r\n\r\nnone"), "%s", x.reply);
}

Test(http_reply, body_within_the_limit_is_awaited)
{
    struct exchange x;

    exchange(&x, "POST /201 HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789");
    cr_assert(strncmp(x.reply, "HTTP/1.1 201 Created\r\n", 22) == 0, "%s", x.reply);
    cr_assert(strstr(x.reply, "\r\n\r\ncoming"), "%s", x.reply);
}

Test(http_reply, body_past_the_limit_is_refused_before_reading)
{
    struct exchange x;

    exchange(&x, "POST /413 HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n");
    cr_assert(strncmp(x.reply, "HTTP/1.1 413 Payload Too Large\r\n", 32) == 0, "%s", x.reply);
    cr_assert(strstr(x.reply, "\r\n\r\ntoobig"), "%s", x.reply);
}

Test(http_reply, no_content_length_on_204)
{
    struct exchange x;

    exchange(&x, "GET /204 HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(strncmp(x.reply, "HTTP/1.1 204 No Content\r\n", 25) == 0, "%s", x.reply);
    cr_assert_null(strcasestr(x.reply, "content-length"), "%s", x.reply);
}

Test(http_reply, allow_and_authenticate_headers)
{
    struct exchange x;

    exchange(&x, "GET /405 HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(strcasestr(x.reply, "allow: GET, POST\r\n"), "%s", x.reply);
    cr_assert_null(strcasestr(x.reply, "www-authenticate"), "%s", x.reply);
    exchange(&x, "GET /401 HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(strcasestr(x.reply, "www-authenticate: Basic realm=\"test\"\r\n"), "%s", x.reply);
}

Test(http_reply, head_that_does_not_fit_is_refused)
{
    unsigned char buf[LWS_PRE + 8], *p = buf + LWS_PRE;
    struct net_http_head h;

    memset(&h, 0, sizeof(h));
    h.status = 200;
    /* Only the status line is written by hand; it must not pass `end`. */
    cr_assert_eq(net_http_write_head(NULL, &h, &p, buf + sizeof(buf)), -1);
    cr_assert_eq(p, buf + LWS_PRE);
}
