#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "net/http_client.h"

/*
 * A small HTTP server for these tests: it listens on 127.0.0.1 with a port
 * the kernel picks, serves each connection on a thread of its own (keep-alive
 * included), and answers by path with canned responses, some of them
 * deliberately awkward: split writes, a stream that stalls, a body cut short.
 */
#define SPANISH                                                                                    \
    "\xC2\xBF"                                                                                     \
    "En qu\xC3\xA9 puedo ayudarle?"
#define MAX_CONNS 512
#define REQ_MAX 65536
/* How long a test waits for something that must happen (never a timing assertion). */
#define WAIT_MS 30000

struct tserver {
    int fd;
    int port;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int accepted;    /* connections accepted */
    int peer_closed; /* handlers that waited and saw the client close */
    int stalled;     /* handlers now waiting for the client to close */
    pthread_t conns[MAX_CONNS];
    int nconns;
};

struct conn {
    struct tserver *s;
    int fd;
};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    ssize_t n;

    while (len > 0) {
        n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Waits until the client closes the connection (or the server stops). */
static void wait_peer_close(struct conn *c)
{
    struct pollfd p = {c->fd, POLLIN, 0};
    char tmp[4096];
    int closed = 0;

    pthread_mutex_lock(&c->s->lock);
    c->s->stalled++;
    pthread_cond_broadcast(&c->s->cond);
    pthread_mutex_unlock(&c->s->lock);
    while (!atomic_load(&c->s->stop)) {
        if (poll(&p, 1, 50) > 0) {
            ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
            if (n <= 0) {
                closed = 1;
                break;
            }
        }
    }
    pthread_mutex_lock(&c->s->lock);
    c->s->stalled--;
    c->s->peer_closed += closed;
    pthread_cond_broadcast(&c->s->cond);
    pthread_mutex_unlock(&c->s->lock);
}

/*
 * Reads one request into req (head and Content-Length body); `*have` bytes
 * are already there. Returns its length, or 0 when the connection ended.
 */
static size_t read_request(struct conn *c, char *req, size_t *have)
{
    struct pollfd p = {c->fd, POLLIN, 0};
    size_t want = 0;
    char *end, *cl;
    ssize_t n;

    for (;;) {
        req[*have] = '\0';
        end = strstr(req, "\r\n\r\n");
        if (end && want == 0) {
            want = (size_t)(end - req) + 4;
            cl = strcasestr(req, "\r\nContent-Length:");
            if (cl && cl < end)
                want += strtoul(cl + 17, NULL, 10);
        }
        if (want > 0 && *have >= want)
            return want;
        if (*have >= REQ_MAX - 1)
            return 0;
        if (atomic_load(&c->s->stop))
            return 0;
        if (poll(&p, 1, 50) <= 0)
            continue;
        n = recv(c->fd, req + *have, REQ_MAX - 1 - *have, 0);
        if (n <= 0)
            return 0;
        *have += (size_t)n;
    }
}

/* An SSE stream cut at awkward places: mid-line, mid-character, between CR and LF. */
static const char *const sse_pieces[] = {
    ": keep-alive comment\r",
    "\nevent: greeting\r\nid: 1\r\nretry: 3000\r\ndata: \xC2\xBF"
    "En qu",
    "\xC3",
    "\xA9 puedo\r",
    "\ndata: ayudarle?\r\n",
    "\r",
    "\n",
    "data: {\"delta\":\"Hola\"}\n\nda",
    "ta:no-space\r\rdata: two\n",
    "data:  two spaces\n\n",
    "event: end\ndata: [DONE]\n\n",
    "data: never finished",
};

static void answer(int fd, const char *status, const char *headers, const char *body)
{
    char head[1024];

    snprintf(head, sizeof(head), "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n\r\n", status, headers,
             strlen(body));
    send_str(fd, head);
    send_str(fd, body);
}

/* Answers one request; returns 0 to keep the connection open. */
static int route(struct conn *c, const char *req, size_t len)
{
    char path[256] = "";
    char head[256];
    int one = 1;

    sscanf(req, "%*s %255s", path);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (strcmp(path, "/hello") == 0) {
        answer(c->fd, "200 OK",
               "Content-Type: text/plain; charset=utf-8\r\nX-Greeting: " SPANISH "\r\n", SPANISH);
        return 0;
    }
    if (strcmp(path, "/echo") == 0) {
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", len);
        send_str(c->fd, head);
        send_all(c->fd, req, len);
        return 0;
    }
    if (strcmp(path, "/chunked") == 0) {
        send_str(c->fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        send_str(c->fd, "6\r\n\xC2\xBF"
                        "En q\r\n");
        usleep(2000);
        send_str(c->fd, "a\r\nu\xC3\xA9 puedo \r\n");
        usleep(2000);
        send_str(c->fd, "9\r\nayudarle?\r\n0\r\n\r\n");
        return 0;
    }
    if (strcmp(path, "/sse") == 0) {
        send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                        "Connection: close\r\n\r\n");
        for (size_t i = 0; i < sizeof(sse_pieces) / sizeof(sse_pieces[0]); i++) {
            usleep(2000);
            send_str(c->fd, sse_pieces[i]);
        }
        return 1;
    }
    if (strcmp(path, "/sse-many") == 0) {
        char events[2048] = "";
        for (int i = 1; i <= 50; i++)
            snprintf(events + strlen(events), sizeof(events) - strlen(events), "data: %d\n\n", i);
        send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
        send_str(c->fd, events);
        wait_peer_close(c);
        return 1;
    }
    if (strcmp(path, "/stall") == 0) {
        send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
                        "data: first\n\n");
        wait_peer_close(c);
        return 1;
    }
    if (strcmp(path, "/slow") == 0) {
        wait_peer_close(c);
        return 1;
    }
    if (strcmp(path, "/huge") == 0) {
        send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n");
        wait_peer_close(c);
        return 1;
    }
    if (strcmp(path, "/huge-chunked") == 0 || strcmp(path, "/huge-sse") == 0) {
        char block[8192 + 16];
        int sse = strcmp(path, "/huge-sse") == 0;
        send_str(c->fd, sse ? "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                              "Connection: close\r\n\r\ndata: "
                            : "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < 2048; i++) {
            ssize_t n;
            if (sse) {
                memset(block, 'x', 8192);
                n = send(c->fd, block, 8192, MSG_NOSIGNAL);
            } else {
                memcpy(block, "2000\r\n", 6);
                memset(block + 6, 'x', 8192);
                memcpy(block + 6 + 8192, "\r\n", 2);
                n = send(c->fd, block, 8192 + 8, MSG_NOSIGNAL);
            }
            if (n <= 0)
                break;
        }
        return 1;
    }
    if (strcmp(path, "/cut") == 0) {
        char part[100];
        memset(part, 'y', sizeof(part));
        send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        send_all(c->fd, part, sizeof(part));
        return 1;
    }
    if (strcmp(path, "/429") == 0) {
        answer(c->fd, "429 Too Many Requests",
               "Retry-After: 7\r\nContent-Type: application/json\r\n",
               "{\"code\":20429,\"message\":\"Too Many Requests\"}");
        return 0;
    }
    if (strcmp(path, "/500") == 0) {
        answer(c->fd, "500 Internal Server Error", "", "internal error");
        return 0;
    }
    answer(c->fd, "404 Not Found", "", "no such path");
    return 0;
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    char *req = malloc(REQ_MAX);
    size_t have = 0, len;

    while (req && (len = read_request(c, req, &have)) > 0) {
        if (route(c, req, len))
            break;
        memmove(req, req + len, have - len);
        have -= len;
    }
    free(req);
    close(c->fd);
    free(c);
    return NULL;
}

static void *server_main(void *arg)
{
    struct tserver *s = arg;
    struct pollfd p = {s->fd, POLLIN, 0};
    struct conn *c;
    int fd;

    while (!atomic_load(&s->stop)) {
        if (poll(&p, 1, 50) <= 0)
            continue;
        fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            continue;
        c = malloc(sizeof(*c));
        pthread_mutex_lock(&s->lock);
        if (!c || s->nconns == MAX_CONNS) {
            pthread_mutex_unlock(&s->lock);
            free(c);
            close(fd);
            continue;
        }
        c->s = s;
        c->fd = fd;
        if (pthread_create(&s->conns[s->nconns], NULL, conn_main, c) == 0)
            s->nconns++;
        else {
            free(c);
            close(fd);
        }
        s->accepted++;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
    }
    for (int i = 0; i < s->nconns; i++)
        pthread_join(s->conns[i], NULL);
    return NULL;
}

static int listen_local(int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 128), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static struct tserver *server_start(void)
{
    struct tserver *s = calloc(1, sizeof(*s));

    cr_assert_not_null(s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->fd = listen_local(&s->port);
    cr_assert_eq(pthread_create(&s->thread, NULL, server_main, s), 0);
    return s;
}

static void server_stop(struct tserver *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

/* Waits until *counter (guarded by the server's lock) reaches n; 0 if it never does. */
static int server_wait(struct tserver *s, int *counter, int n)
{
    long long deadline = now_ms() + WAIT_MS;
    struct timespec ts;
    int ok;

    pthread_mutex_lock(&s->lock);
    while (*counter < n && now_ms() < deadline) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    ok = *counter >= n;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

static void url(char *out, size_t size, struct tserver *s, const char *path)
{
    snprintf(out, size, "http://127.0.0.1:%d%s", s->port, path);
}

/* ---- what the client delivers, recorded for the test thread to check ---- */

#define MAX_CHUNKS 64

struct collect {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;             /* on_done calls */
    int chunk_after_done; /* chunks that came after on_done */
    int nchunks;
    char chunks[MAX_CHUNKS][256];
    char types[MAX_CHUNKS][32];
    char ids[MAX_CHUNKS][32];
    long retries[MAX_CHUNKS];
    size_t raw_bytes;
    struct http_response *res;
    /* Cancel from inside on_chunk when this many chunks arrived (0: never). */
    struct http_client *client;
    uint64_t id;
    int cancel_at;
    int cancel_rc;
};

static void collect_init(struct collect *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
}

static void collect_release(struct collect *c)
{
    http_response_free(c->res);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
}

static void on_chunk(void *arg, const struct http_chunk *chunk)
{
    struct collect *c = arg;
    int cancel = 0;

    pthread_mutex_lock(&c->lock);
    if (c->done)
        c->chunk_after_done++;
    c->raw_bytes += chunk->len;
    if (c->nchunks < MAX_CHUNKS) {
        snprintf(c->chunks[c->nchunks], sizeof(c->chunks[0]), "%.*s", (int)chunk->len, chunk->data);
        if (chunk->event) {
            snprintf(c->types[c->nchunks], sizeof(c->types[0]), "%s", chunk->event->type);
            snprintf(c->ids[c->nchunks], sizeof(c->ids[0]), "%s", chunk->event->id);
            c->retries[c->nchunks] = chunk->event->retry_ms;
        }
    }
    c->nchunks++;
    cancel = c->cancel_at > 0 && c->nchunks == c->cancel_at;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (cancel)
        c->cancel_rc = http_client_cancel(c->client, chunk->id);
}

static void on_done(void *arg, struct http_response *res)
{
    struct collect *c = arg;

    pthread_mutex_lock(&c->lock);
    c->done++;
    if (c->res)
        http_response_free(res); /* a second on_done: counted, and the test fails */
    else
        c->res = res;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* Waits until *field (guarded by c->lock) reaches n; 0 if it never does. */
static int collect_wait(struct collect *c, int *field, int n)
{
    long long deadline = now_ms() + WAIT_MS;
    struct timespec ts;
    int ok;

    pthread_mutex_lock(&c->lock);
    while (*field < n && now_ms() < deadline) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cond, &c->lock, &ts);
    }
    ok = *field >= n;
    pthread_mutex_unlock(&c->lock);
    return ok;
}

static struct http_request request(struct collect *c, const char *u)
{
    struct http_request r;

    memset(&r, 0, sizeof(r));
    r.url = u;
    r.on_chunk = on_chunk;
    r.on_done = on_done;
    r.arg = c;
    return r;
}

/* Submits one request and waits for its on_done. */
static void run(struct http_client *hc, struct http_request *r, struct collect *c)
{
    cr_assert_eq(http_client_submit(hc, r, &c->id), 0);
    cr_assert_neq(c->id, 0);
    cr_assert(collect_wait(c, &c->done, 1), "on_done never came");
}

static struct http_client *client(int max_transfers, size_t max_queued)
{
    struct http_client_config cfg = {max_transfers, max_queued};
    struct http_client *hc = NULL;

    cr_assert_eq(http_client_new(&hc, &cfg), 0);
    cr_assert_not_null(hc);
    return hc;
}

TestSuite(http_client, .timeout = 120);

Test(http_client, get_roundtrip_spanish_headers_and_body)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    struct collect c;
    char u[128];
    struct http_request r;

    collect_init(&c);
    url(u, sizeof(u), s, "/hello");
    r = request(&c, u);
    run(hc, &r, &c);
    cr_assert_eq(c.res->result, HTTP_OK, "%s", c.res->error);
    cr_assert_eq(c.res->status, 200);
    cr_assert_str_eq(c.res->error, "");
    cr_assert_eq(c.res->body_len, strlen(SPANISH));
    cr_assert_str_eq(c.res->body, SPANISH);
    cr_assert_str_eq(http_response_header(c.res, "x-greeting"), SPANISH);
    cr_assert_str_eq(http_response_header(c.res, "Content-Type"), "text/plain; charset=utf-8");
    cr_assert_null(http_response_header(c.res, "Retry-After"));
    cr_assert_eq(c.res->retry_after_s, -1);
    cr_assert_eq(c.nchunks, 0, "a response that is not streamed has no chunks");
    cr_assert_eq(c.res->id, c.id);
    cr_assert_eq(c.res->arg, &c);
    http_client_free(hc);
    cr_assert_eq(c.done, 1);
    collect_release(&c);
    server_stop(s);
}

Test(http_client, post_sends_method_headers_and_body_intact)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    const char *methods[] = {"POST", "PUT", "PATCH", "DELETE"};
    const char *headers[] = {"Authorization: Basic QUN4eHg6c2VjcmV0",
                             "Content-Type: application/x-www-form-urlencoded",
                             "X-Custom: " SPANISH};
    char body[3000];
    char u[128], line[64];

    /* Past 1 KiB, so that libcurl would ask for 100-continue if let. */
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (char)(i % 251);
    memcpy(body, SPANISH, strlen(SPANISH));
    url(u, sizeof(u), s, "/echo");
    for (size_t m = 0; m < 4; m++) {
        struct collect c;
        struct http_request r;
        const char *got;

        collect_init(&c);
        r = request(&c, u);
        r.method = methods[m];
        r.headers = headers;
        r.nheaders = 3;
        r.body = body;
        r.body_len = sizeof(body);
        run(hc, &r, &c);
        cr_assert_eq(c.res->result, HTTP_OK, "%s", c.res->error);
        cr_assert_eq(c.res->status, 200);
        got = c.res->body;
        snprintf(line, sizeof(line), "%s /echo HTTP/1.1\r\n", methods[m]);
        cr_assert_eq(strncmp(got, line, strlen(line)), 0, "%s", got);
        cr_assert_not_null(strstr(got, "\r\nAuthorization: Basic QUN4eHg6c2VjcmV0\r\n"));
        cr_assert_not_null(strstr(got, "\r\nX-Custom: " SPANISH "\r\n"));
        cr_assert_not_null(strstr(got, "\r\nContent-Length: 3000\r\n"));
        cr_assert_null(strcasestr(got, "\r\nExpect:"));
        cr_assert(c.res->body_len >= sizeof(body));
        cr_assert_eq(memcmp(got + c.res->body_len - sizeof(body), body, sizeof(body)), 0,
                     "the body arrived changed");
        collect_release(&c);
    }
    http_client_free(hc);
    server_stop(s);
}

Test(http_client, request_is_copied_at_submit)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    struct collect c;
    char u[128], hdr[64], body[32];
    const char *headers[1] = {hdr};
    struct http_request r;

    collect_init(&c);
    url(u, sizeof(u), s, "/echo");
    snprintf(hdr, sizeof(hdr), "X-Copy: kept");
    snprintf(body, sizeof(body), "the body");
    r = request(&c, u);
    r.headers = headers;
    r.nheaders = 1;
    r.body = body;
    r.body_len = strlen(body);
    cr_assert_eq(http_client_submit(hc, &r, &c.id), 0);
    /* The caller's memory is its own again at once. */
    memset(u, 'z', sizeof(u) - 1);
    memset(hdr, 'z', sizeof(hdr) - 1);
    memset(body, 'z', sizeof(body) - 1);
    cr_assert(collect_wait(&c, &c.done, 1));
    cr_assert_eq(c.res->result, HTTP_OK, "%s", c.res->error);
    cr_assert_eq(strncmp(c.res->body, "POST /echo ", 11), 0);
    cr_assert_not_null(strstr(c.res->body, "\r\nX-Copy: kept\r\n"));
    cr_assert_not_null(strstr(c.res->body, "\r\n\r\nthe body"));
    http_client_free(hc);
    collect_release(&c);
    server_stop(s);
}

Test(http_client, chunked_body_and_raw_streaming)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    struct collect a, b;
    char u[128], joined[256] = "";
    struct http_request r;

    url(u, sizeof(u), s, "/chunked");
    collect_init(&a);
    r = request(&a, u);
    run(hc, &r, &a);
    cr_assert_eq(a.res->result, HTTP_OK, "%s", a.res->error);
    cr_assert_str_eq(a.res->body, SPANISH);

    collect_init(&b);
    r = request(&b, u);
    r.stream = HTTP_STREAM_RAW;
    run(hc, &r, &b);
    cr_assert_eq(b.res->result, HTTP_OK, "%s", b.res->error);
    cr_assert_str_eq(b.res->body, "", "a streamed body is not repeated in the response");
    cr_assert(b.nchunks >= 1);
    cr_assert(b.nchunks <= MAX_CHUNKS);
    for (int i = 0; i < b.nchunks; i++)
        strcat(joined, b.chunks[i]);
    cr_assert_str_eq(joined, SPANISH);
    cr_assert_eq(b.chunk_after_done, 0);
    http_client_free(hc);
    collect_release(&a);
    collect_release(&b);
    server_stop(s);
}

Test(http_client, sse_events_assembled_exactly)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    struct collect c;
    char u[128];
    struct http_request r;

    collect_init(&c);
    url(u, sizeof(u), s, "/sse");
    r = request(&c, u);
    r.stream = HTTP_STREAM_SSE;
    run(hc, &r, &c);
    cr_assert_eq(c.res->result, HTTP_OK, "%s", c.res->error);
    cr_assert_eq(c.res->status, 200);
    cr_assert_eq(c.nchunks, 5);
    cr_assert_str_eq(c.types[0], "greeting");
    cr_assert_str_eq(c.ids[0], "1");
    cr_assert_eq(c.retries[0], 3000);
    cr_assert_str_eq(c.chunks[0], "\xC2\xBF"
                                  "En qu\xC3\xA9 puedo\nayudarle?");
    cr_assert_str_eq(c.types[1], "message");
    cr_assert_str_eq(c.ids[1], "1", "the last event id carries over");
    cr_assert_str_eq(c.chunks[1], "{\"delta\":\"Hola\"}");
    cr_assert_str_eq(c.chunks[2], "no-space");
    cr_assert_str_eq(c.chunks[3], "two\n two spaces");
    cr_assert_str_eq(c.types[4], "end");
    cr_assert_str_eq(c.chunks[4], "[DONE]");
    cr_assert_eq(c.chunk_after_done, 0);
    http_client_free(hc);
    collect_release(&c);
    server_stop(s);
}

Test(http_client, error_status_is_not_streamed)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    struct collect c;
    char u[128];
    struct http_request r;

    collect_init(&c);
    url(u, sizeof(u), s, "/429");
    r = request(&c, u);
    r.stream = HTTP_STREAM_SSE;
    run(hc, &r, &c);
    cr_assert_eq(c.res->result, HTTP_OK, "%s", c.res->error);
    cr_assert_eq(c.res->status, 429);
    cr_assert_eq(c.nchunks, 0);
    cr_assert_str_eq(c.res->body, "{\"code\":20429,\"message\":\"Too Many Requests\"}");
    cr_assert_str_eq(http_response_header(c.res, "Retry-After"), "7");
    cr_assert_eq(c.res->retry_after_s, 7);
    http_client_free(hc);
    collect_release(&c);
    server_stop(s);
}

Test(http_client, server_error_is_a_response)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    struct collect c;
    char u[128];
    struct http_request r;

    collect_init(&c);
    url(u, sizeof(u), s, "/500");
    r = request(&c, u);
    run(hc, &r, &c);
    cr_assert_eq(c.res->result, HTTP_OK, "%s", c.res->error);
    cr_assert_eq(c.res->status, 500);
    cr_assert_str_eq(c.res->body, "internal error");
    cr_assert_eq(c.res->retry_after_s, -1);
    http_client_free(hc);
    collect_release(&c);
    server_stop(s);
}

Test(http_client, cancel_mid_stream_from_another_thread)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    struct collect c;
    char u[128];
    struct http_request r;

    collect_init(&c);
    url(u, sizeof(u), s, "/stall");
    r = request(&c, u);
    r.stream = HTTP_STREAM_SSE;
    cr_assert_eq(http_client_submit(hc, &r, &c.id), 0);
    cr_assert(collect_wait(&c, &c.nchunks, 1), "the first event never came");
    cr_assert_eq(http_client_cancel(hc, c.id), 0);
    cr_assert(collect_wait(&c, &c.done, 1));
    cr_assert_eq(c.res->result, HTTP_ECANCELLED);
    cr_assert_str_eq(c.res->error, "cancelled");
    cr_assert_str_eq(c.chunks[0], "first");
    /* The transfer's connection is dropped, not left open. */
    cr_assert(server_wait(s, &s->peer_closed, 1), "the server never saw the connection close");
    cr_assert_eq(http_client_cancel(hc, c.id), SB_ENOTFOUND);
    http_client_free(hc);
    cr_assert_eq(c.done, 1);
    cr_assert_eq(c.nchunks, 1);
    cr_assert_eq(c.chunk_after_done, 0);
    collect_release(&c);
    server_stop(s);
}

Test(http_client, cancel_inside_on_chunk_stops_the_next_events)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    struct collect c;
    char u[128];
    struct http_request r;

    collect_init(&c);
    c.client = hc;
    c.cancel_at = 3;
    url(u, sizeof(u), s, "/sse-many");
    r = request(&c, u);
    r.stream = HTTP_STREAM_SSE;
    run(hc, &r, &c);
    cr_assert_eq(c.cancel_rc, 0);
    cr_assert_eq(c.res->result, HTTP_ECANCELLED);
    cr_assert_eq(c.nchunks, 3, "events kept coming after the cancel");
    cr_assert_str_eq(c.chunks[2], "3");
    http_client_free(hc);
    cr_assert_eq(c.done, 1);
    collect_release(&c);
    server_stop(s);
}

Test(http_client, cancel_a_queued_request)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(1, 0);
    struct collect a, b;
    char slow[128], hello[128];
    struct http_request r;

    collect_init(&a);
    collect_init(&b);
    url(slow, sizeof(slow), s, "/slow");
    url(hello, sizeof(hello), s, "/hello");
    r = request(&a, slow);
    cr_assert_eq(http_client_submit(hc, &r, &a.id), 0);
    cr_assert(server_wait(s, &s->stalled, 1));
    /* One transfer at a time: this one waits behind /slow. */
    r = request(&b, hello);
    cr_assert_eq(http_client_submit(hc, &r, &b.id), 0);
    cr_assert_eq(http_client_cancel(hc, b.id), 0);
    cr_assert(collect_wait(&b, &b.done, 1));
    cr_assert_eq(b.res->result, HTTP_ECANCELLED);
    cr_assert_eq(b.res->status, 0);
    cr_assert_eq(a.done, 0);
    cr_assert_eq(http_client_cancel(hc, a.id), 0);
    cr_assert(collect_wait(&a, &a.done, 1));
    cr_assert_eq(a.res->result, HTTP_ECANCELLED);
    cr_assert_eq(http_client_cancel(hc, 999999), SB_ENOTFOUND);
    http_client_free(hc);
    cr_assert_eq(a.done, 1);
    cr_assert_eq(b.done, 1);
    collect_release(&a);
    collect_release(&b);
    server_stop(s);
}

Test(http_client, timeouts_first_byte_idle_total)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    struct collect a, b, c;
    char slow[128], stall[128];
    struct http_request r;

    url(slow, sizeof(slow), s, "/slow");
    url(stall, sizeof(stall), s, "/stall");
    collect_init(&a);
    r = request(&a, slow);
    r.first_byte_timeout_ms = 200;
    run(hc, &r, &a);
    cr_assert_eq(a.res->result, HTTP_ETIMEOUT, "%s", a.res->error);
    cr_assert_str_eq(a.res->error, "timeout: no response within 200 ms");

    collect_init(&b);
    r = request(&b, stall);
    r.stream = HTTP_STREAM_SSE;
    r.first_byte_timeout_ms = 10000;
    r.idle_timeout_ms = 200;
    run(hc, &r, &b);
    cr_assert_eq(b.res->result, HTTP_ETIMEOUT, "%s", b.res->error);
    cr_assert_str_eq(b.res->error, "timeout: nothing received for 200 ms");
    cr_assert_eq(b.nchunks, 1);
    cr_assert_eq(b.res->status, 200);

    collect_init(&c);
    r = request(&c, slow);
    r.total_timeout_ms = 300;
    run(hc, &r, &c);
    cr_assert_eq(c.res->result, HTTP_ETIMEOUT, "%s", c.res->error);
    cr_assert_eq(strncmp(c.res->error, "timeout: ", 9), 0, "%s", c.res->error);
    http_client_free(hc);
    collect_release(&a);
    collect_release(&b);
    collect_release(&c);
    server_stop(s);
}

Test(http_client, too_large_by_length_by_chunks_and_by_event)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    const char *paths[] = {"/huge", "/huge-chunked", "/huge-sse"};
    char u[128];

    for (int i = 0; i < 3; i++) {
        struct collect c;
        struct http_request r;

        collect_init(&c);
        url(u, sizeof(u), s, paths[i]);
        r = request(&c, u);
        r.max_response = 64 * 1024;
        r.stream = i == 2 ? HTTP_STREAM_SSE : HTTP_STREAM_NONE;
        run(hc, &r, &c);
        cr_assert_eq(c.res->result, HTTP_ETOOLARGE, "%s: %s", paths[i], c.res->error);
        cr_assert_eq(strncmp(c.res->error, "too large", 9), 0, "%s", c.res->error);
        cr_assert(c.res->body_len <= 64 * 1024);
        cr_assert_eq(c.nchunks, 0);
        collect_release(&c);
    }
    http_client_free(hc);
    server_stop(s);
}

Test(http_client, connection_closed_mid_body)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    struct collect c;
    char u[128];
    struct http_request r;

    collect_init(&c);
    url(u, sizeof(u), s, "/cut");
    r = request(&c, u);
    run(hc, &r, &c);
    cr_assert_eq(c.res->result, HTTP_ECONNECTION, "%s", c.res->error);
    cr_assert_eq(strncmp(c.res->error, "connection failed: ", 19), 0, "%s", c.res->error);
    cr_assert_eq(c.res->status, 200);
    cr_assert_eq(c.res->body_len, 100, "what arrived before the cut is kept");
    http_client_free(hc);
    collect_release(&c);
    server_stop(s);
}

Test(http_client, connection_refused_and_dns)
{
    struct http_client *hc = client(0, 0);
    struct collect a, b;
    struct http_request r;
    char u[128];
    int port;
    int fd = listen_local(&port);

    /* A port that was just listening and is closed now: nothing answers there. */
    close(fd);
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/", port);
    collect_init(&a);
    r = request(&a, u);
    run(hc, &r, &a);
    cr_assert_eq(a.res->result, HTTP_ECONNREFUSED, "%s", a.res->error);
    cr_assert_eq(strncmp(a.res->error, "connection refused: ", 20), 0, "%s", a.res->error);
    cr_assert_eq(a.res->status, 0);

    /* .invalid never resolves (RFC 6761). */
    collect_init(&b);
    r = request(&b, "http://switchboard-test.invalid/");
    run(hc, &r, &b);
    cr_assert_eq(b.res->result, HTTP_EDNS, "%s", b.res->error);
    cr_assert_eq(strncmp(b.res->error, "dns failure: ", 13), 0, "%s", b.res->error);
    http_client_free(hc);
    collect_release(&a);
    collect_release(&b);
}

Test(http_client, connections_are_reused)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    char u[128];

    url(u, sizeof(u), s, "/hello");
    for (int i = 0; i < 5; i++) {
        struct collect c;
        struct http_request r;

        collect_init(&c);
        r = request(&c, u);
        run(hc, &r, &c);
        cr_assert_eq(c.res->result, HTTP_OK, "%s", c.res->error);
        collect_release(&c);
    }
    pthread_mutex_lock(&s->lock);
    cr_assert_eq(s->accepted, 1, "%d connections for 5 sequential requests", s->accepted);
    pthread_mutex_unlock(&s->lock);
    http_client_free(hc);
    server_stop(s);
}

Test(http_client, refuses_bad_requests)
{
    struct http_client *hc = client(0, 0);
    struct collect c;
    struct http_request r;
    const char *bad_header[] = {"X-Evil: a\r\nX-Injected: b"};
    uint64_t id = 42;

    collect_init(&c);
    r = request(&c, "ftp://127.0.0.1/file");
    cr_assert_eq(http_client_submit(hc, &r, &id), SB_EINVAL);
    cr_assert_eq(id, 0);
    r = request(&c, "not a url");
    cr_assert_eq(http_client_submit(hc, &r, NULL), SB_EINVAL);
    r = request(&c, "http://127.0.0.1/");
    r.headers = bad_header;
    r.nheaders = 1;
    cr_assert_eq(http_client_submit(hc, &r, NULL), SB_EINVAL);
    r = request(&c, "http://127.0.0.1/");
    r.method = "get me";
    cr_assert_eq(http_client_submit(hc, &r, NULL), SB_EINVAL);
    r = request(&c, "http://127.0.0.1/");
    r.on_done = NULL;
    cr_assert_eq(http_client_submit(hc, &r, NULL), SB_EINVAL);
    r = request(&c, NULL);
    cr_assert_eq(http_client_submit(hc, &r, NULL), SB_EINVAL);
    http_client_free(hc);
    cr_assert_eq(c.done, 0, "a refused request has no on_done");
    collect_release(&c);
}

Test(http_client, full_queue_is_busy)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(1, 1);
    struct collect a, b, c;
    char slow[128];
    struct http_request r;

    url(slow, sizeof(slow), s, "/slow");
    collect_init(&a);
    collect_init(&b);
    collect_init(&c);
    r = request(&a, slow);
    cr_assert_eq(http_client_submit(hc, &r, &a.id), 0);
    cr_assert(server_wait(s, &s->stalled, 1));
    r = request(&b, slow);
    cr_assert_eq(http_client_submit(hc, &r, &b.id), 0, "one may wait");
    r = request(&c, slow);
    cr_assert_eq(http_client_submit(hc, &r, &c.id), SB_EBUSY);
    http_client_free(hc);
    cr_assert_eq(a.done, 1);
    cr_assert_eq(b.done, 1);
    cr_assert_eq(c.done, 0);
    cr_assert_eq(a.res->result, HTTP_ECANCELLED);
    cr_assert_eq(b.res->result, HTTP_ECANCELLED);
    collect_release(&a);
    collect_release(&b);
    collect_release(&c);
    server_stop(s);
}

/* Many requests from several threads at once, through few transfer slots. */
#define SUBMITTERS 4
#define PER_THREAD 30

struct submitter {
    struct http_client *hc;
    struct tserver *s;
    int index;
    struct collect c[PER_THREAD];
    char bodies[PER_THREAD][32];
    int submit_failed;
};

static void *submit_main(void *arg)
{
    struct submitter *sub = arg;
    char echo[128], hello[128];

    url(echo, sizeof(echo), sub->s, "/echo");
    url(hello, sizeof(hello), sub->s, "/hello");
    for (int i = 0; i < PER_THREAD; i++) {
        struct http_request r;

        collect_init(&sub->c[i]);
        r = request(&sub->c[i], i % 3 == 0 ? hello : echo);
        if (i % 3 != 0) {
            snprintf(sub->bodies[i], sizeof(sub->bodies[i]), "thread %d request %d", sub->index, i);
            r.body = sub->bodies[i];
            r.body_len = strlen(sub->bodies[i]);
        }
        if (http_client_submit(sub->hc, &r, &sub->c[i].id) != 0)
            sub->submit_failed++;
    }
    return NULL;
}

Test(http_client, many_concurrent_requests_from_several_threads)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(4, 0);
    static struct submitter subs[SUBMITTERS];
    pthread_t threads[SUBMITTERS];

    for (int t = 0; t < SUBMITTERS; t++) {
        subs[t].hc = hc;
        subs[t].s = s;
        subs[t].index = t;
        cr_assert_eq(pthread_create(&threads[t], NULL, submit_main, &subs[t]), 0);
    }
    for (int t = 0; t < SUBMITTERS; t++)
        pthread_join(threads[t], NULL);
    for (int t = 0; t < SUBMITTERS; t++) {
        cr_assert_eq(subs[t].submit_failed, 0);
        for (int i = 0; i < PER_THREAD; i++) {
            struct collect *c = &subs[t].c[i];
            cr_assert(collect_wait(c, &c->done, 1), "thread %d request %d never ended", t, i);
            cr_assert_eq(c->res->result, HTTP_OK, "%s", c->res->error);
            cr_assert_eq(c->res->status, 200);
            if (i % 3 == 0) {
                cr_assert_str_eq(c->res->body, SPANISH);
            } else {
                size_t n = strlen(subs[t].bodies[i]);
                cr_assert(c->res->body_len >= n);
                cr_assert_str_eq(c->res->body + c->res->body_len - n, subs[t].bodies[i]);
            }
        }
    }
    http_client_free(hc);
    for (int t = 0; t < SUBMITTERS; t++) {
        for (int i = 0; i < PER_THREAD; i++) {
            cr_assert_eq(subs[t].c[i].done, 1);
            collect_release(&subs[t].c[i]);
        }
    }
    pthread_mutex_lock(&s->lock);
    cr_assert(s->accepted <= 4 * 2, "%d connections for 4 transfer slots", s->accepted);
    pthread_mutex_unlock(&s->lock);
    server_stop(s);
}

Test(http_client, shutdown_cancels_transfers_in_flight_and_queued)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(3, 0);
    struct collect c[10];
    char stall[128], slow[128];

    url(stall, sizeof(stall), s, "/stall");
    url(slow, sizeof(slow), s, "/slow");
    for (int i = 0; i < 10; i++) {
        struct http_request r;

        collect_init(&c[i]);
        r = request(&c[i], i % 2 ? stall : slow);
        r.stream = HTTP_STREAM_SSE;
        cr_assert_eq(http_client_submit(hc, &r, &c[i].id), 0);
    }
    /* Three run (their handlers wait), seven wait in the queue. */
    cr_assert(server_wait(s, &s->stalled, 3));
    http_client_free(hc);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(c[i].done, 1, "request %d: %d on_done", i, c[i].done);
        cr_assert_eq(c[i].res->result, HTTP_ECANCELLED);
        cr_assert_eq(c[i].chunk_after_done, 0);
        collect_release(&c[i]);
    }
    cr_assert(server_wait(s, &s->peer_closed, 3), "running transfers were not closed");
    server_stop(s);
}

/* ---- the inbox ---- */

struct waker {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int wakes;
};

static void wake(void *arg)
{
    struct waker *w = arg;

    pthread_mutex_lock(&w->lock);
    w->wakes++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

Test(http_client, inbox_queues_chunks_then_the_response)
{
    struct tserver *s = server_start();
    struct http_client *hc = client(0, 0);
    struct http_inbox *q = NULL;
    struct waker w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct http_delivery *d, *next;
    struct http_response *res = NULL;
    struct http_request r;
    char u[128], events[5][64];
    int nevents = 0, after_done = 0, seen = 0;
    long long deadline = now_ms() + WAIT_MS;
    uint64_t id;

    cr_assert_eq(http_inbox_new(&q, wake, &w), 0);
    url(u, sizeof(u), s, "/sse");
    memset(&r, 0, sizeof(r));
    r.url = u;
    r.stream = HTTP_STREAM_SSE;
    r.inbox = q;
    r.arg = &w;
    cr_assert_eq(http_client_submit(hc, &r, &id), 0);
    while (!res && now_ms() < deadline) {
        pthread_mutex_lock(&w.lock);
        while (w.wakes == seen && now_ms() < deadline) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&w.cond, &w.lock, &ts);
        }
        seen = w.wakes;
        pthread_mutex_unlock(&w.lock);
        for (d = http_inbox_take(q); d; d = next) {
            next = d->next;
            cr_assert_eq(d->id, id);
            cr_assert_eq(d->arg, &w);
            if (res)
                after_done++;
            if (d->done) {
                res = d->done;
                d->done = NULL;
            } else if (nevents < 5) {
                cr_assert_not_null(d->event_type);
                cr_assert_eq(d->status, 200);
                snprintf(events[nevents++], sizeof(events[0]), "%s|%s|%s", d->event_type,
                         d->event_id, d->data);
            } else {
                nevents++;
            }
            http_delivery_free(d);
        }
    }
    cr_assert_not_null(res, "no response came through the inbox");
    cr_assert_eq(res->result, HTTP_OK, "%s", res->error);
    cr_assert_eq(after_done, 0);
    cr_assert_eq(nevents, 5);
    cr_assert_str_eq(events[0], "greeting|1|\xC2\xBF"
                                "En qu\xC3\xA9 puedo\nayudarle?");
    cr_assert_str_eq(events[1], "message|1|{\"delta\":\"Hola\"}");
    cr_assert_str_eq(events[4], "end|1|[DONE]");
    http_response_free(res);
    http_client_free(hc);
    http_inbox_free(q);
    server_stop(s);
}

Test(http_client, null_is_allowed_and_results_have_words)
{
    http_client_free(NULL);
    http_response_free(NULL);
    http_inbox_free(NULL);
    http_delivery_free(NULL);
    cr_assert_str_eq(http_result_str(HTTP_ETIMEOUT), "timeout");
    cr_assert_str_eq(http_result_str(HTTP_ECONNREFUSED), "connection refused");
    cr_assert_str_eq(http_result_str(HTTP_ETOOLARGE), "too large");
}
