#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "net/ws_client.h"

/*
 * A small WebSocket server for these tests, on 127.0.0.1 with a port the
 * kernel picks, run by libwebsockets on a thread of its own. By path:
 * /echo sends every message back as it came (text or binary, whole);
 * /close closes at once with 1011 "NET-0001"; /reject refuses the upgrade
 * with HTTP 401. It records what the tests look at: the handshake's
 * Authorization and X-Custom headers and query, the text messages in the
 * order they arrived, and the close frame the client sent.
 */
#define SPANISH                                                                                    \
    "\xC2\xBF"                                                                                     \
    "Cu\xC3\xA1l es el horario? Ma\xC3\xB1"                                                        \
    "ana"
#define BIG (200 * 1024)
/* How long a test waits for something that must happen (never a timing assertion). */
#define WAIT_MS 10000
#define MAX_RECORDED 16

struct smsg {
    struct smsg *next;
    size_t len;
    int binary;
    unsigned char data[]; /* LWS_PRE, then the message */
};

struct sess {
    struct smsg *head, *tail;
    unsigned char *rx;
    size_t rx_len;
    int close_now;
};

struct srv {
    struct lws_context *ctx;
    pthread_t thread;
    atomic_int stop;
    int port;
    lws_sorted_usec_list_t tick;
    pthread_mutex_t lock;
    /* Recorded under lock. */
    char auth[128], custom[128], args[128];
    int nmsgs;
    char msgs[MAX_RECORDED][64];
    int peer_code;
    char peer_reason[128];
};

static struct srv S = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void path_of(struct lws *wsi, char *out, size_t size)
{
    if (lws_hdr_copy(wsi, out, (int)size, WSI_TOKEN_GET_URI) <= 0)
        snprintf(out, size, "?");
}

static int srv_confirm(struct lws *wsi)
{
    char path[64], auth[128] = "", custom[128] = "", args[128] = "";

    path_of(wsi, path, sizeof(path));
    if (strcmp(path, "/reject") == 0) {
        lws_return_http_status(wsi, HTTP_STATUS_UNAUTHORIZED, "error: bad token");
        return -1;
    }
    if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
        auth[0] = '\0';
    if (lws_hdr_custom_copy(wsi, custom, sizeof(custom), "x-custom:", 9) < 0)
        custom[0] = '\0';
    if (lws_hdr_copy(wsi, args, sizeof(args), WSI_TOKEN_HTTP_URI_ARGS) < 0)
        args[0] = '\0';
    pthread_mutex_lock(&S.lock);
    snprintf(S.auth, sizeof(S.auth), "%s", auth);
    snprintf(S.custom, sizeof(S.custom), "%s", custom);
    snprintf(S.args, sizeof(S.args), "%s", args);
    pthread_mutex_unlock(&S.lock);
    return 0;
}

/* Collects a message across fragments; a whole one is recorded and queued to go back. */
static int srv_receive(struct lws *wsi, struct sess *s, const void *in, size_t len)
{
    unsigned char *grown = realloc(s->rx, s->rx_len + len + 1);
    struct smsg *m;

    if (!grown)
        return -1;
    s->rx = grown;
    memcpy(s->rx + s->rx_len, in, len);
    s->rx_len += len;
    if (!lws_is_final_fragment(wsi))
        return 0;
    m = malloc(sizeof(*m) + LWS_PRE + s->rx_len);
    if (!m)
        return -1;
    m->next = NULL;
    m->len = s->rx_len;
    m->binary = lws_frame_is_binary(wsi);
    memcpy(m->data + LWS_PRE, s->rx, s->rx_len);
    pthread_mutex_lock(&S.lock);
    if (!m->binary && S.nmsgs < MAX_RECORDED) {
        snprintf(S.msgs[S.nmsgs], sizeof(S.msgs[0]), "%.*s", (int)(s->rx_len > 63 ? 63 : s->rx_len),
                 (const char *)s->rx);
        S.nmsgs++;
    }
    pthread_mutex_unlock(&S.lock);
    s->rx_len = 0;
    if (s->tail)
        s->tail->next = m;
    else
        s->head = m;
    s->tail = m;
    lws_callback_on_writable(wsi);
    return 0;
}

static int srv_writable(struct lws *wsi, struct sess *s)
{
    struct smsg *m = s->head;
    int n;

    if (s->close_now) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, (unsigned char *)"NET-0001",
                         8);
        return -1;
    }
    if (!m)
        return 0;
    s->head = m->next;
    if (!s->head)
        s->tail = NULL;
    n = lws_write(wsi, m->data + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    free(m);
    if (n < 0)
        return -1;
    if (s->head)
        lws_callback_on_writable(wsi);
    return 0;
}

static void srv_peer_close(const unsigned char *in, size_t len)
{
    pthread_mutex_lock(&S.lock);
    S.peer_code = len >= 2 ? (in[0] << 8) | in[1] : 1005;
    snprintf(S.peer_reason, sizeof(S.peer_reason), "%.*s", len > 2 ? (int)len - 2 : 0,
             len > 2 ? (const char *)in + 2 : "");
    pthread_mutex_unlock(&S.lock);
}

static int srv_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    struct sess *s = user;
    char path[64];

    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return srv_confirm(wsi);
    case LWS_CALLBACK_ESTABLISHED:
        memset(s, 0, sizeof(*s));
        path_of(wsi, path, sizeof(path));
        if (strcmp(path, "/close") == 0) {
            s->close_now = 1;
            lws_callback_on_writable(wsi);
        }
        return 0;
    case LWS_CALLBACK_RECEIVE:
        return srv_receive(wsi, s, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return srv_writable(wsi, s);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        srv_peer_close(in, len);
        return 0;
    case LWS_CALLBACK_CLOSED:
        while (s->head) {
            struct smsg *m = s->head;

            s->head = m->next;
            free(m);
        }
        free(s->rx);
        s->rx = NULL;
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols srv_protocols[] = {
    {"test-echo", srv_callback, sizeof(struct sess), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws 4.1 waits in poll() as long as no timer is due: a short tick keeps the loop looking. */
static void srv_tick(lws_sorted_usec_list_t *sul)
{
    lws_sul_schedule(S.ctx, 0, &S.tick, srv_tick, 20 * LWS_US_PER_MS);
}

static void *srv_main(void *arg)
{
    while (!atomic_load(&S.stop))
        lws_service(S.ctx, 0);
    return NULL;
}

static void srv_start(void)
{
    struct lws_context_creation_info info;

    memset(&info, 0, sizeof(info));
    info.port = 0;
    info.iface = "127.0.0.1";
    info.protocols = srv_protocols;
    info.fd_limit_per_thread = 64;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    S.ctx = lws_create_context(&info);
    cr_assert_not_null(S.ctx);
    S.port = lws_get_vhost_listen_port(lws_get_vhost_by_name(S.ctx, "default"));
    cr_assert(S.port > 0);
    lws_sul_schedule(S.ctx, 0, &S.tick, srv_tick, 20 * LWS_US_PER_MS);
    cr_assert_eq(pthread_create(&S.thread, NULL, srv_main, NULL), 0);
}

static void srv_stop(void)
{
    atomic_store(&S.stop, 1);
    lws_cancel_service(S.ctx);
    pthread_join(S.thread, NULL);
    lws_context_destroy(S.ctx);
}

/* ---- what a client's callbacks saw ---- */

struct got_msg {
    unsigned char *data;
    size_t len;
    int binary;
};

struct rec {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int opened;
    int closes;      /* on_close calls: must end at 1 */
    int after_close; /* callbacks after on_close: must stay 0 */
    struct ws_closed how;
    int nmsgs;
    struct got_msg msgs[8];
    /* When set, on_close tries to open another connection and keeps the result. */
    struct ws_client *reopen;
    int reopen_rc;
    /* When set, on_open sends "hola" from the client thread and keeps the result. */
    struct ws_client *greet;
    int greet_rc;
};

static void rec_init(struct rec *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
}

static void rec_release(struct rec *r)
{
    for (int i = 0; i < r->nmsgs; i++)
        free(r->msgs[i].data);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
}

static void on_open(void *arg, uint64_t id)
{
    struct rec *r = arg;
    int rc = r->greet ? ws_client_send(r->greet, id, "hola", 4, 0) : 0;

    pthread_mutex_lock(&r->lock);
    r->greet_rc = rc;
    r->after_close += r->closes;
    r->opened++;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void on_message(void *arg, uint64_t id, const void *data, size_t len, int binary)
{
    struct rec *r = arg;
    unsigned char *copy = malloc(len + 1);

    memcpy(copy, data, len);
    pthread_mutex_lock(&r->lock);
    r->after_close += r->closes;
    if (r->nmsgs < 8) {
        r->msgs[r->nmsgs].data = copy;
        r->msgs[r->nmsgs].len = len;
        r->msgs[r->nmsgs].binary = binary;
        r->nmsgs++;
        copy = NULL;
    }
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    free(copy);
}

static void on_close(void *arg, uint64_t id, const struct ws_closed *how)
{
    struct rec *r = arg;
    struct ws_open req = {.url = "ws://127.0.0.1:1/", .on_close = on_close, .arg = r};
    uint64_t other;
    int rc = 0;

    if (r->reopen)
        rc = ws_client_open(r->reopen, &req, &other);
    pthread_mutex_lock(&r->lock);
    r->after_close += r->closes;
    r->closes++;
    r->how = *how;
    r->reopen_rc = rc;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits (at most WAIT_MS, only so that a failure does not hang) until `pred` holds. */
#define WAIT_FOR(rp, pred)                                                                         \
    do {                                                                                           \
        long long until_ = now_ms() + WAIT_MS;                                                     \
        int ok_;                                                                                   \
        pthread_mutex_lock(&(rp)->lock);                                                           \
        while (!(pred) && now_ms() < until_) {                                                     \
            struct timespec ts_;                                                                   \
            clock_gettime(CLOCK_REALTIME, &ts_);                                                   \
            ts_.tv_nsec += 20 * 1000000;                                                           \
            if (ts_.tv_nsec >= 1000000000) {                                                       \
                ts_.tv_sec++;                                                                      \
                ts_.tv_nsec -= 1000000000;                                                         \
            }                                                                                      \
            pthread_cond_timedwait(&(rp)->cond, &(rp)->lock, &ts_);                                \
        }                                                                                          \
        ok_ = (pred);                                                                              \
        pthread_mutex_unlock(&(rp)->lock);                                                         \
        cr_assert(ok_, "timed out waiting for " #pred);                                            \
    } while (0)

static void url_for(char *out, size_t size, int port, const char *path)
{
    snprintf(out, size, "ws://127.0.0.1:%d%s", port, path);
}

static struct ws_open open_req(const char *url, struct rec *r)
{
    struct ws_open req = {
        .url = url, .on_open = on_open, .on_message = on_message, .on_close = on_close, .arg = r};

    return req;
}

/* A port where nothing listens: bound, then closed again. */
static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A socket that listens and never accepts: the kernel completes TCP, nobody answers HTTP. */
static int silent_listener(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 16), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void quiet_lws(void)
{
    lws_set_log_level(LLL_ERR, NULL);
}

TestSuite(ws_client, .init = quiet_lws, .timeout = 60);

Test(ws_client, echoes_text_and_binary_exactly_with_headers)
{
    static const char *const headers[] = {"Authorization: Token abc", "X-Custom:   v1 two"};
    struct ws_client *c = NULL;
    struct rec r;
    char url[96];
    unsigned char small[256], *big = malloc(BIG);
    struct ws_open req;
    uint64_t id = 0;

    srv_start();
    rec_init(&r);
    for (int i = 0; i < 256; i++)
        small[i] = (unsigned char)i;
    for (size_t i = 0; i < BIG; i++)
        big[i] = (unsigned char)(i * 7 + 3);
    cr_assert_eq(ws_client_new(&c), 0);
    url_for(url, sizeof(url), S.port, "/echo?lang=es");
    req = open_req(url, &r);
    req.headers = headers;
    req.nheaders = 2;
    r.greet = c; /* on_open sends "hola" from the client thread: it goes first */
    cr_assert_eq(ws_client_open(c, &req, &id), 0);
    cr_assert_neq(id, 0);
    WAIT_FOR(&r, r.opened == 1);
    cr_assert_eq(r.greet_rc, 0);
    cr_assert_eq(ws_client_send(c, id, SPANISH, strlen(SPANISH), 0), 0);
    cr_assert_eq(ws_client_send(c, id, small, sizeof(small), 1), 0);
    cr_assert_eq(ws_client_send(c, id, big, BIG, 1), 0);
    cr_assert_eq(ws_client_send(c, id, "", 0, 0), 0);
    WAIT_FOR(&r, r.nmsgs == 5);
    cr_assert_eq(r.msgs[0].len, 4);
    cr_assert(memcmp(r.msgs[0].data, "hola", 4) == 0);
    cr_assert_eq(r.msgs[1].binary, 0);
    cr_assert_eq(r.msgs[1].len, strlen(SPANISH));
    cr_assert(memcmp(r.msgs[1].data, SPANISH, strlen(SPANISH)) == 0);
    cr_assert_eq(r.msgs[2].binary, 1);
    cr_assert_eq(r.msgs[2].len, sizeof(small));
    cr_assert(memcmp(r.msgs[2].data, small, sizeof(small)) == 0);
    cr_assert_eq(r.msgs[3].binary, 1);
    cr_assert_eq(r.msgs[3].len, BIG);
    cr_assert(memcmp(r.msgs[3].data, big, BIG) == 0);
    cr_assert_eq(r.msgs[4].binary, 0);
    cr_assert_eq(r.msgs[4].len, 0);
    pthread_mutex_lock(&S.lock);
    cr_assert_str_eq(S.auth, "Token abc");
    cr_assert_str_eq(S.custom, "v1 two");
    cr_assert_str_eq(S.args, "lang=es");
    cr_assert_str_eq(S.msgs[0], "hola");
    cr_assert_str_eq(S.msgs[1], SPANISH);
    pthread_mutex_unlock(&S.lock);

    ws_client_free(c);
    cr_assert_eq(r.closes, 1);
    cr_assert_eq(r.after_close, 0);
    cr_assert_eq(r.how.opened, 1);
    cr_assert_eq(r.how.by_us, 1);
    srv_stop();
    rec_release(&r);
    free(big);
}

Test(ws_client, messages_queued_before_the_handshake_go_in_order)
{
    static const char *const words[] = {"uno", "dos", "tres", "cuatro"};
    struct ws_client *c = NULL;
    struct rec r;
    char url[96];
    struct ws_open req;
    uint64_t id = 0;

    srv_start();
    rec_init(&r);
    cr_assert_eq(ws_client_new(&c), 0);
    url_for(url, sizeof(url), S.port, "/echo");
    req = open_req(url, &r);
    cr_assert_eq(ws_client_open(c, &req, &id), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ws_client_send(c, id, words[i], strlen(words[i]), 0), 0);
    WAIT_FOR(&r, r.nmsgs == 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(r.msgs[i].len, strlen(words[i]));
        cr_assert(memcmp(r.msgs[i].data, words[i], strlen(words[i])) == 0);
    }
    pthread_mutex_lock(&S.lock);
    cr_assert_eq(S.nmsgs, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_str_eq(S.msgs[i], words[i]);
    pthread_mutex_unlock(&S.lock);
    cr_assert_eq(r.opened, 1);
    ws_client_free(c);
    srv_stop();
    rec_release(&r);
}

Test(ws_client, a_close_from_the_server_is_reported_with_its_code_and_reason)
{
    struct ws_client *c = NULL;
    struct rec r;
    char url[96];
    struct ws_open req;
    uint64_t id = 0;

    srv_start();
    rec_init(&r);
    cr_assert_eq(ws_client_new(&c), 0);
    url_for(url, sizeof(url), S.port, "/close");
    req = open_req(url, &r);
    cr_assert_eq(ws_client_open(c, &req, &id), 0);
    WAIT_FOR(&r, r.closes == 1);
    cr_assert_eq(r.how.opened, 1);
    cr_assert_eq(r.how.code, 1011);
    cr_assert_str_eq(r.how.reason, "NET-0001");
    cr_assert_eq(r.how.by_us, 0);
    cr_assert_eq(r.how.http_status, 0);
    cr_assert_eq(ws_client_send(c, id, "late", 4, 0), SB_ENOTFOUND);
    ws_client_free(c);
    cr_assert_eq(r.closes, 1);
    cr_assert_eq(r.after_close, 0);
    srv_stop();
    rec_release(&r);
}

Test(ws_client, a_refused_connection_never_opens_and_says_why)
{
    struct ws_client *c = NULL;
    struct rec r;
    char url[96];
    struct ws_open req;
    uint64_t id = 0;

    rec_init(&r);
    cr_assert_eq(ws_client_new(&c), 0);
    url_for(url, sizeof(url), closed_port(), "/");
    req = open_req(url, &r);
    cr_assert_eq(ws_client_open(c, &req, &id), 0);
    WAIT_FOR(&r, r.closes == 1);
    cr_assert_eq(r.opened, 0);
    cr_assert_eq(r.how.opened, 0);
    cr_assert_eq(r.how.code, 0);
    cr_assert_eq(r.how.http_status, 0);
    cr_assert_eq(r.how.by_us, 0);
    cr_assert(strstr(r.how.reason, "connect") != NULL, "reason: %s", r.how.reason);
    ws_client_free(c);
    cr_assert_eq(r.closes, 1);
    rec_release(&r);
}

Test(ws_client, wss_to_a_server_without_tls_fails_with_a_reason)
{
    struct ws_client *c = NULL;
    struct rec r;
    char url[96];
    struct ws_open req;

    srv_start();
    rec_init(&r);
    cr_assert_eq(ws_client_new(&c), 0);
    snprintf(url, sizeof(url), "wss://127.0.0.1:%d/echo", S.port);
    req = open_req(url, &r);
    cr_assert_eq(ws_client_open(c, &req, NULL), 0);
    WAIT_FOR(&r, r.closes == 1);
    cr_assert_eq(r.how.opened, 0);
    cr_assert_eq(r.how.by_us, 0);
    cr_assert(r.how.reason[0] != '\0');
    ws_client_free(c);
    srv_stop();
    rec_release(&r);
}

Test(ws_client, a_refused_handshake_reports_the_http_status)
{
    struct ws_client *c = NULL;
    struct rec r;
    char url[96];
    struct ws_open req;

    srv_start();
    rec_init(&r);
    cr_assert_eq(ws_client_new(&c), 0);
    url_for(url, sizeof(url), S.port, "/reject");
    req = open_req(url, &r);
    cr_assert_eq(ws_client_open(c, &req, NULL), 0);
    WAIT_FOR(&r, r.closes == 1);
    cr_assert_eq(r.how.opened, 0);
    cr_assert_eq(r.how.http_status, 401);
    cr_assert_eq(r.how.code, 0);
    cr_assert(strstr(r.how.reason, "401") != NULL, "reason: %s", r.how.reason);
    ws_client_free(c);
    srv_stop();
    rec_release(&r);
}

Test(ws_client, a_message_past_max_message_closes_with_1009)
{
    struct ws_client *c = NULL;
    struct rec r;
    char url[96], text[1001];
    struct ws_open req;
    uint64_t id = 0;

    srv_start();
    rec_init(&r);
    memset(text, 'a', sizeof(text));
    cr_assert_eq(ws_client_new(&c), 0);
    url_for(url, sizeof(url), S.port, "/echo");
    req = open_req(url, &r);
    req.max_message = 1000;
    cr_assert_eq(ws_client_open(c, &req, &id), 0);
    /* Exactly the limit comes through; one byte more closes. */
    cr_assert_eq(ws_client_send(c, id, text, 1000, 0), 0);
    WAIT_FOR(&r, r.nmsgs == 1);
    cr_assert_eq(r.msgs[0].len, 1000);
    cr_assert_eq(ws_client_send(c, id, text, 1001, 0), 0);
    WAIT_FOR(&r, r.closes == 1);
    cr_assert_eq(r.nmsgs, 1);
    cr_assert_eq(r.how.opened, 1);
    cr_assert_eq(r.how.code, 1009);
    cr_assert_eq(r.how.by_us, 0);
    cr_assert(strstr(r.how.reason, "1000") != NULL, "reason: %s", r.how.reason);
    ws_client_free(c);
    srv_stop();
    pthread_mutex_lock(&S.lock);
    cr_assert_eq(S.peer_code, 1009);
    pthread_mutex_unlock(&S.lock);
    rec_release(&r);
}

Test(ws_client, a_close_from_us_sends_what_was_queued_then_the_close_frame)
{
    struct ws_client *c = NULL;
    struct rec r;
    char url[96];
    struct ws_open req;
    uint64_t id = 0;

    srv_start();
    rec_init(&r);
    cr_assert_eq(ws_client_new(&c), 0);
    url_for(url, sizeof(url), S.port, "/echo");
    req = open_req(url, &r);
    cr_assert_eq(ws_client_open(c, &req, &id), 0);
    WAIT_FOR(&r, r.opened == 1);
    cr_assert_eq(ws_client_send(c, id, "last words", 10, 0), 0);
    cr_assert_eq(ws_client_close(c, id, 0, "bye"), 0);
    cr_assert_eq(ws_client_close(c, id, 1000, "again"), SB_ENOTFOUND);
    cr_assert_eq(ws_client_send(c, id, "more", 4, 0), SB_ENOTFOUND);
    WAIT_FOR(&r, r.closes == 1);
    cr_assert_eq(r.how.opened, 1);
    cr_assert_eq(r.how.by_us, 1);
    cr_assert_eq(r.how.code, 1000);
    cr_assert_str_eq(r.how.reason, "bye");
    cr_assert_eq(ws_client_send(c, id, "more", 4, 0), SB_ENOTFOUND);
    cr_assert_eq(ws_client_close(c, id, 0, NULL), SB_ENOTFOUND);
    ws_client_free(c);
    srv_stop();
    pthread_mutex_lock(&S.lock);
    cr_assert_eq(S.nmsgs, 1);
    cr_assert_str_eq(S.msgs[0], "last words");
    cr_assert_eq(S.peer_code, 1000);
    cr_assert_str_eq(S.peer_reason, "bye");
    pthread_mutex_unlock(&S.lock);
    cr_assert_eq(r.closes, 1);
    rec_release(&r);
}

Test(ws_client, bad_arguments_are_refused)
{
    static const char *const crlf[] = {"X-Evil: a\r\nHost: b"};
    static const char *const no_colon[] = {"Authorization Token"};
    static const char *const bad_urls[] = {
        "http://127.0.0.1/",   "ws://",         "ws://:80/",       "ws://127.0.0.1:0/",
        "ws://127.0.0.1:x/",   "ws://host/a b", "ws://user@host/", "ws://[::1/",
        "ws://127.0.0.1:65536"};
    struct ws_client *c = NULL;
    struct rec r;
    char url[96];
    struct ws_open req;
    uint64_t id = 7;

    srv_start();
    rec_init(&r);
    cr_assert_eq(ws_client_new(&c), 0);
    for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
        req = open_req(bad_urls[i], &r);
        cr_assert_eq(ws_client_open(c, &req, &id), SB_EINVAL, "%s", bad_urls[i]);
        cr_assert_eq(id, 0);
    }
    url_for(url, sizeof(url), S.port, "/echo");
    req = open_req(url, &r);
    req.headers = crlf;
    req.nheaders = 1;
    cr_assert_eq(ws_client_open(c, &req, NULL), SB_EINVAL);
    req.headers = no_colon;
    cr_assert_eq(ws_client_open(c, &req, NULL), SB_EINVAL);
    req = open_req(url, &r);
    req.on_close = NULL;
    cr_assert_eq(ws_client_open(c, &req, NULL), SB_EINVAL);

    req = open_req(url, &r);
    cr_assert_eq(ws_client_open(c, &req, &id), 0);
    WAIT_FOR(&r, r.opened == 1);
    cr_assert_eq(ws_client_send(c, id, "", 0, 1), SB_EINVAL);
    cr_assert_eq(ws_client_send(c, id + 100, "x", 1, 0), SB_ENOTFOUND);
    cr_assert_eq(ws_client_close(c, id + 100, 0, NULL), SB_ENOTFOUND);
    cr_assert_eq(ws_client_close(c, id, 1005, NULL), SB_EINVAL);
    cr_assert_eq(ws_client_close(c, id, 999, NULL), SB_EINVAL);
    ws_client_free(c);
    cr_assert_eq(r.closes, 1, "only the one accepted connection reports a close");
    srv_stop();
    rec_release(&r);
}

Test(ws_client, sends_past_max_pending_are_refused_and_a_silent_peer_times_out)
{
    struct ws_client *c = NULL;
    struct rec r, t;
    char url[96], chunk[600];
    struct ws_open req;
    uint64_t id = 0;
    int port, fd = silent_listener(&port);

    rec_init(&r);
    rec_init(&t);
    memset(chunk, 'p', sizeof(chunk));
    cr_assert_eq(ws_client_new(&c), 0);
    url_for(url, sizeof(url), port, "/");
    req = open_req(url, &r);
    req.max_pending = 1000;
    cr_assert_eq(ws_client_open(c, &req, &id), 0);
    /* The handshake never completes: everything waits in the queue. */
    cr_assert_eq(ws_client_send(c, id, chunk, 600, 0), 0);
    cr_assert_eq(ws_client_send(c, id, chunk, 400, 1), 0);
    cr_assert_eq(ws_client_send(c, id, chunk, 1, 0), SB_EBUSY);
    cr_assert_eq(ws_client_send(c, id, "", 0, 0), 0);
    cr_assert_eq(ws_client_close(c, id, 0, NULL), 0);
    WAIT_FOR(&r, r.closes == 1);
    cr_assert_eq(r.how.opened, 0);
    cr_assert_eq(r.how.by_us, 1);

    req = open_req(url, &t);
    req.connect_timeout_ms = 200;
    cr_assert_eq(ws_client_open(c, &req, NULL), 0);
    WAIT_FOR(&t, t.closes == 1);
    cr_assert_eq(t.how.opened, 0);
    cr_assert_eq(t.how.by_us, 0);
    cr_assert(strstr(t.how.reason, "timed out") != NULL, "reason: %s", t.how.reason);
    ws_client_free(c);
    close(fd);
    rec_release(&r);
    rec_release(&t);
}

Test(ws_client, free_reports_every_connection_once)
{
    enum { NOPEN = 3 };
    struct ws_client *c = NULL;
    struct rec open[NOPEN], hanging, fresh;
    char url[96], silent_url[96];
    struct ws_open req;
    uint64_t id;
    int port, fd = silent_listener(&port);

    srv_start();
    cr_assert_eq(ws_client_new(&c), 0);
    url_for(url, sizeof(url), S.port, "/echo");
    url_for(silent_url, sizeof(silent_url), port, "/");
    for (int i = 0; i < NOPEN; i++) {
        rec_init(&open[i]);
        req = open_req(url, &open[i]);
        cr_assert_eq(ws_client_open(c, &req, &id), 0);
        cr_assert_eq(ws_client_send(c, id, "hola", 4, 0), 0);
    }
    for (int i = 0; i < NOPEN; i++)
        WAIT_FOR(&open[i], open[i].nmsgs == 1);
    rec_init(&hanging);
    req = open_req(silent_url, &hanging);
    cr_assert_eq(ws_client_open(c, &req, NULL), 0);
    /* Opened just before the free: it may not even have started connecting. */
    rec_init(&fresh);
    fresh.reopen = c;
    req = open_req(url, &fresh);
    cr_assert_eq(ws_client_open(c, &req, NULL), 0);

    ws_client_free(c);
    for (int i = 0; i < NOPEN; i++) {
        cr_assert_eq(open[i].closes, 1);
        cr_assert_eq(open[i].after_close, 0);
        cr_assert_eq(open[i].how.opened, 1);
        cr_assert_eq(open[i].how.by_us, 1);
        rec_release(&open[i]);
    }
    cr_assert_eq(hanging.closes, 1);
    cr_assert_eq(hanging.how.opened, 0);
    cr_assert_eq(hanging.how.by_us, 1);
    cr_assert_eq(fresh.closes, 1);
    cr_assert_eq(fresh.how.by_us, 1);
    cr_assert_eq(fresh.reopen_rc, SB_ECLOSED, "an open during the free is refused");
    srv_stop();
    close(fd);
    rec_release(&hanging);
    rec_release(&fresh);
}
