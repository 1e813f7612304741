/*
 * The Twilio REST client over real sockets, through net/http_client:
 *
 * - against a small HTTP server in this process that records each request's
 *   bytes and answers what the test says (or nothing at all), for the exact
 *   request on the wire, a timeout after sending (the unknown outcome of a
 *   create, resolved by a lookup), a connection refused, and an inbox;
 * - against `switchboard sim api` (the binary built beside this test, or
 *   $SB_SWITCHBOARD), started on a free port of 127.0.0.1: a call's life,
 *   a message in Spanish, paging, Twilio's errors, its 429, a lost create
 *   answer resolved by a lookup, injected 5xx and garbage. These tests are
 *   skipped when that binary was not built, or is older than the libraries
 *   beside it (a build of the unit tests only).
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "net/http_client.h"
#include "twilio/rest.h"
#include "twilio/rest_result.h"

#define ACCOUNT "AC0123456789abcdef0123456789abcdef"
#define SIM_ACCOUNT "AC00000000000000000000000000000000"
#define TOKEN "wire-test-token"
#define CALL_SID "CA0123456789abcdef0123456789abcdef"
#define TO "+15551234567"
#define FROM "+15005550006"
#define SPANISH "¿Llegó su cita? Mañana a las 9"
/* How long a test waits for something that must happen (never a timing assertion). */
#define WAIT_MS 30000

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- waiting for an answer ---- */

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct http_response *res;
    int woken;
};

static void waiter_init(struct waiter *w)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->res = NULL;
    w->woken = 0;
}

static void on_done(void *arg, struct http_response *res)
{
    struct waiter *w = arg;

    pthread_mutex_lock(&w->lock);
    w->res = res;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void on_wake(void *arg)
{
    struct waiter *w = arg;

    pthread_mutex_lock(&w->lock);
    w->woken++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static struct http_response *wait_response(struct waiter *w)
{
    struct http_response *res;
    struct timespec until;

    deadline_in(&until, WAIT_MS);
    pthread_mutex_lock(&w->lock);
    while (!w->res && pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
        ;
    res = w->res;
    w->res = NULL;
    pthread_mutex_unlock(&w->lock);
    cr_assert_not_null(res, "no answer within %d ms", WAIT_MS);
    return res;
}

/* Sends `req` and reads its answer: the whole round trip, as a caller would. */
static struct twilio_rest_result round_trip(const struct twilio_rest *r, struct http_client *http,
                                            const struct twilio_rest_request *req)
{
    struct waiter w;
    struct twilio_rest_send send = {twilio_rest_http_submit, http, on_done, &w, NULL};
    struct twilio_rest_result result;
    struct http_response *res;

    waiter_init(&w);
    cr_assert_eq(twilio_rest_submit(r, req, &send, NULL), 0, "%s", req->what);
    res = wait_response(&w);
    cr_assert_eq(twilio_rest_result_parse(&result, req->op, res), 0);
    http_response_free(res);
    return result;
}

static struct twilio_rest *client_for(const char *account, const char *token, const char *base,
                                      long timeout_ms)
{
    struct twilio_rest_config cfg = {account, NULL, token, base, 2000, timeout_ms};
    struct twilio_rest *r = NULL;
    char err[200] = "";

    cr_assert_eq(twilio_rest_new(&r, &cfg, err, sizeof(err)), 0, "%s", err);
    return r;
}

static struct http_client *http_new(void)
{
    struct http_client *http = NULL;

    cr_assert_eq(http_client_new(&http, NULL), 0);
    return http;
}

/* ---- the in-process server ---- */

#define HOLD NULL /* an answer that never comes: the server waits for the client to give up */
#define MAX_SEEN 8
#define REQ_MAX 16384

struct stub {
    int fd, port;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t lock;
    char *answers[MAX_SEEN]; /* in order; HOLD holds; past the last, the last again */
    size_t nanswers;
    char seen[MAX_SEEN][REQ_MAX]; /* each request's bytes, head and body */
    int nseen;
};

static struct stub S;

static char *answer(const char *status_line, const char *headers, const char *body)
{
    char *out = NULL;

    cr_assert_geq(asprintf(&out,
                           "HTTP/1.1 %s\r\nContent-Type: application/json\r\n%sContent-Length: "
                           "%zu\r\nConnection: close\r\n\r\n%s",
                           status_line, headers, strlen(body), body),
                  0);
    return out;
}

/* Reads one request (head and Content-Length body) into buf. Returns its length, 0 at EOF. */
static size_t read_request(int fd, char *buf, size_t size)
{
    size_t have = 0, want = 0;
    struct pollfd p = {fd, POLLIN, 0};

    for (;;) {
        char *end;
        ssize_t n;

        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end && !want) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            want = (size_t)(end + 4 - buf) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (want && have >= want)
            return have;
        if (have + 1 >= size || poll(&p, 1, 100) < 0)
            return 0;
        if (atomic_load(&S.stop))
            return 0;
        if (!(p.revents & (POLLIN | POLLHUP)))
            continue;
        n = recv(fd, buf + have, size - 1 - have, 0);
        if (n <= 0)
            return 0;
        have += (size_t)n;
    }
}

/* Waits until the client closes the connection (or the server stops). */
static void hold(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    char tmp[512];

    while (!atomic_load(&S.stop)) {
        if (poll(&p, 1, 50) > 0 && recv(fd, tmp, sizeof(tmp), 0) <= 0)
            return;
    }
}

static void *stub_run(void *arg)
{
    (void)arg;
    while (!atomic_load(&S.stop)) {
        struct pollfd p = {S.fd, POLLIN, 0};
        char req[REQ_MAX];
        const char *reply;
        int conn;

        if (poll(&p, 1, 50) <= 0)
            continue;
        conn = accept(S.fd, NULL, NULL);
        if (conn < 0)
            continue;
        if (read_request(conn, req, sizeof(req)) > 0) {
            pthread_mutex_lock(&S.lock);
            if (S.nseen < MAX_SEEN)
                snprintf(S.seen[S.nseen], REQ_MAX, "%s", req);
            reply = S.answers[S.nseen < (int)S.nanswers ? (size_t)S.nseen : S.nanswers - 1];
            S.nseen++;
            pthread_mutex_unlock(&S.lock);
            if (reply == HOLD)
                hold(conn);
            else
                send(conn, reply, strlen(reply), MSG_NOSIGNAL);
        }
        close(conn);
    }
    return NULL;
}

static void stub_start(void)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);

    memset(&S, 0, sizeof(S));
    pthread_mutex_init(&S.lock, NULL);
    S.fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(S.fd, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(S.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(S.fd, 16), 0);
    cr_assert_eq(getsockname(S.fd, (struct sockaddr *)&a, &len), 0);
    S.port = ntohs(a.sin_port);
}

static void stub_serve(void)
{
    cr_assert_eq(pthread_create(&S.thread, NULL, stub_run, NULL), 0);
}

static void stub_stop(void)
{
    atomic_store(&S.stop, 1);
    pthread_join(S.thread, NULL);
    close(S.fd);
    for (size_t i = 0; i < S.nanswers; i++)
        free(S.answers[i]);
}

static char *stub_base(void)
{
    static char base[64];

    snprintf(base, sizeof(base), "http://127.0.0.1:%d", S.port);
    return base;
}

static const char call_json[] =
    "{\"sid\":\"" CALL_SID "\",\"account_sid\":\"" ACCOUNT "\",\"to\":\"" TO "\","
    "\"from\":\"" FROM "\",\"status\":\"queued\",\"direction\":\"outbound-api\","
    "\"date_created\":\"Tue, 31 Aug 2010 20:36:28 +0000\"}";

Test(wire, the_request_on_the_wire_is_exact, .init = stub_start, .fini = stub_stop)
{
    static const char *const events[] = {"answered", "completed"};
    struct twilio_rest *r = client_for(ACCOUNT, TOKEN, stub_base(), 5000);
    struct twilio_call_params p = {0};
    struct twilio_rest_request req;
    struct twilio_rest_result res;
    struct http_client *http = http_new();
    const char *body;

    S.answers[S.nanswers++] = answer("201 Created", "", call_json);
    stub_serve();
    p.to = TO;
    p.from = FROM;
    p.url = "https://example.com/voice/outbound";
    p.status_callback = "https://example.com/voice/status";
    p.status_callback_events = events;
    p.nstatus_callback_events = 2;
    p.machine_detection = "Enable";
    p.async_amd = 1;
    p.async_amd_status_callback = "https://example.com/voice/amd";
    cr_assert_eq(twilio_rest_call_create(r, &p, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
    cr_expect_str_eq(res.call.sid, CALL_SID);
    cr_expect_str_eq(res.call.status, "queued");
    cr_assert_eq(S.nseen, 1);
    cr_expect(strncmp(S.seen[0], "POST /2010-04-01/Accounts/" ACCOUNT "/Calls.json HTTP/1.1\r\n",
                      strlen("POST /2010-04-01/Accounts/" ACCOUNT "/Calls.json HTTP/1.1\r\n")) == 0,
              "%s", S.seen[0]);
    /* base64 of ACCOUNT ":" TOKEN */
    cr_expect(strstr(S.seen[0],
                     "\r\nAuthorization: Basic "
                     "QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp3aXJlLXRlc3QtdG9rZW4="
                     "\r\n"),
              "%s", S.seen[0]);
    cr_expect(strstr(S.seen[0], "\r\nAccept: application/json\r\n"));
    cr_expect(strstr(S.seen[0], "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    body = strstr(S.seen[0], "\r\n\r\n");
    cr_assert_not_null(body);
    cr_expect_str_eq(body + 4, "To=%2B15551234567&From=%2B15005550006"
                               "&StatusCallback=https%3A%2F%2Fexample.com%2Fvoice%2Fstatus"
                               "&StatusCallbackEvent=answered&StatusCallbackEvent=completed"
                               "&MachineDetection=Enable&AsyncAmd=true"
                               "&AsyncAmdStatusCallback=https%3A%2F%2Fexample.com%2Fvoice%2Famd"
                               "&Url=https%3A%2F%2Fexample.com%2Fvoice%2Foutbound");
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);
    http_client_free(http);
    twilio_rest_free(r);
}

Test(wire, too_many_requests_then_done, .init = stub_start, .fini = stub_stop)
{
    struct twilio_rest *r = client_for(ACCOUNT, TOKEN, stub_base(), 5000);
    struct http_client *http = http_new();
    struct twilio_rest_request req;
    struct twilio_rest_result res;
    long wait;

    S.answers[S.nanswers++] =
        answer("429 Too Many Requests", "Retry-After: 1\r\n",
               "{\"code\":20429,\"message\":\"Too Many Requests\",\"more_info\":"
               "\"https://www.twilio.com/docs/errors/20429\",\"status\":429}");
    S.answers[S.nanswers++] = answer("200 OK", "", call_json);
    stub_serve();
    cr_assert_eq(twilio_rest_call_fetch(r, CALL_SID, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_RETRY);
    cr_expect_eq(res.code, 20429);
    cr_expect_eq(res.retry_after_s, 1);
    cr_expect_str_eq(res.error,
                     "twilio error 20429: Too Many Requests (HTTP 429, Retry-After 1 s)");
    wait = twilio_retry_delay_ms(NULL, 0, res.retry_after_s, twilio_retry_random, NULL);
    cr_expect_geq(wait, 1000);
    twilio_rest_result_release(&res);
    /* The same request, sent again, as a caller does after the wait. */
    res = round_trip(r, http, &req);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
    cr_expect_str_eq(res.call.sid, CALL_SID);
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);
    http_client_free(http);
    twilio_rest_free(r);
}

Test(wire, a_create_that_timed_out_is_looked_up, .init = stub_start, .fini = stub_stop)
{
    struct twilio_rest *r = client_for(ACCOUNT, TOKEN, stub_base(), 500);
    struct http_client *http = http_new();
    struct twilio_call_params p = {.to = TO, .from = FROM, .twiml = "<Response/>"};
    struct twilio_call_filter f = {.to = TO, .from = FROM, .page_size = 20};
    struct twilio_rest_request req, lookup;
    struct twilio_rest_result res;
    long long sent_at = 0, created = 0;

    /* Twilio placed the call but its answer never came; the lookup finds it. */
    S.answers[S.nanswers++] = HOLD;
    S.answers[S.nanswers++] =
        answer("200 OK", "",
               "{\"calls\":[{\"sid\":\"" CALL_SID "\",\"to\":\"" TO "\",\"from\":\"" FROM "\","
               "\"status\":\"ringing\",\"date_created\":\"Tue, 31 Aug 2010 20:36:28 +0000\"}],"
               "\"next_page_uri\":null,\"page\":0,\"page_size\":20}");
    stub_serve();
    cr_assert_eq(twilio_rest_call_create(r, &p, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_UNKNOWN, "%s", res.error);
    cr_expect_eq(res.transport, HTTP_ETIMEOUT);
    cr_expect(strncmp(res.error, "calls.create: no answer from Twilio: timeout", 44) == 0, "%s",
              res.error);
    cr_expect_eq(S.nseen, 1, "the create was sent");
    twilio_rest_result_release(&res);

    cr_assert_eq(twilio_rest_call_list(r, &f, &lookup, NULL, 0), 0);
    res = round_trip(r, http, &lookup);
    cr_assert_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
    cr_assert_eq(res.ncalls, 1);
    cr_expect_str_eq(res.calls[0].sid, CALL_SID);
    cr_assert_eq(twilio_rest_date("Tue, 31 Aug 2010 20:36:27 +0000", &sent_at), 0);
    cr_assert_eq(twilio_rest_date(res.calls[0].date_created, &created), 0);
    cr_expect_geq(created, sent_at, "created after the attempt began: the call to keep");
    cr_expect(strstr(S.seen[1], "GET /2010-04-01/Accounts/" ACCOUNT
                                "/Calls.json?To=%2B15551234567&From=%2B15005550006&PageSize=20 "),
              "%s", S.seen[1]);
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&lookup);

    twilio_rest_request_release(&req);
    http_client_free(http);
    twilio_rest_free(r);
}

Test(wire, a_read_that_times_out_is_retried, .init = stub_start, .fini = stub_stop)
{
    struct twilio_rest *r = client_for(ACCOUNT, TOKEN, stub_base(), 300);
    struct http_client *http = http_new();
    struct twilio_rest_request req;
    struct twilio_rest_result res;

    S.answers[S.nanswers++] = HOLD;
    stub_serve();
    cr_assert_eq(twilio_rest_call_fetch(r, CALL_SID, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_RETRY, "%s", res.error);
    cr_expect_eq(res.transport, HTTP_ETIMEOUT);
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);
    http_client_free(http);
    twilio_rest_free(r);
}

Test(wire, connection_refused_means_never_sent, .init = stub_start, .fini = stub_stop)
{
    char base[64];
    struct twilio_rest *r;
    struct http_client *http = http_new();
    struct twilio_message_params p = {.to = TO, .from = FROM, .body = SPANISH};
    struct twilio_rest_request req;
    struct twilio_rest_result res;

    /* The stub's port, closed: nothing listens there any more. */
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", S.port);
    close(S.fd);
    S.fd = -1;
    stub_serve();
    r = client_for(ACCOUNT, TOKEN, base, 5000);
    cr_assert_eq(twilio_rest_message_create(r, &p, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_expect_eq(res.transport, HTTP_ECONNREFUSED, "%s", res.error);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_RETRY, "a create that was never sent may go again");
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);
    http_client_free(http);
    twilio_rest_free(r);
}

Test(wire, answers_can_come_through_an_inbox, .init = stub_start, .fini = stub_stop)
{
    struct twilio_rest *r = client_for(ACCOUNT, TOKEN, stub_base(), 5000);
    struct http_client *http = http_new();
    struct http_inbox *inbox = NULL;
    struct waiter w;
    struct twilio_rest_send send;
    struct twilio_rest_request req;
    struct twilio_rest_result res;
    struct http_delivery *d = NULL;
    struct timespec until;
    int tag = 7;

    S.answers[S.nanswers++] =
        answer("404 Not Found", "",
               "{\"code\":20404,\"message\":\"The requested resource /2010-04-01/Accounts/" ACCOUNT
               "/Calls/" CALL_SID ".json was not found\",\"more_info\":"
               "\"https://www.twilio.com/docs/errors/20404\",\"status\":404}");
    stub_serve();
    waiter_init(&w);
    cr_assert_eq(http_inbox_new(&inbox, on_wake, &w), 0);
    send = (struct twilio_rest_send){twilio_rest_http_submit, http, NULL, &tag, inbox};
    cr_assert_eq(twilio_rest_call_fetch(r, CALL_SID, &req, NULL, 0), 0);
    cr_assert_eq(twilio_rest_submit(r, &req, &send, NULL), 0);
    deadline_in(&until, WAIT_MS);
    pthread_mutex_lock(&w.lock);
    while (!w.woken && pthread_cond_timedwait(&w.cond, &w.lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&w.lock);
    d = http_inbox_take(inbox);
    cr_assert_not_null(d);
    cr_assert_not_null(d->done);
    cr_expect_eq(d->arg, &tag);
    cr_assert_eq(twilio_rest_result_parse(&res, req.op, d->done), 0);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_FAILED);
    cr_expect_eq(res.code, 20404);
    cr_expect_str_eq(res.error,
                     "twilio error 20404: The requested resource /2010-04-01/Accounts/" ACCOUNT
                     "/Calls/" CALL_SID ".json was not found (HTTP 404)");
    twilio_rest_result_release(&res);
    http_delivery_free(d);
    twilio_rest_request_release(&req);
    http_client_free(http);
    http_inbox_free(inbox);
    twilio_rest_free(r);
}

/* ---- against switchboard sim api ---- */

static pid_t sim_pid;
static int sim_port;

/*
 * The switchboard binary of this build: $SB_SWITCHBOARD, or the one beside
 * this test when it is at least as new as the libraries beside it (a build
 * of the unit tests alone rebuilds those and leaves an older binary behind).
 * Returns 1 with its path in `out`, or 0 with the reason.
 */
static int switchboard_path(char *out, size_t size, const char **why)
{
    static const char *const libs[] = {"libsb_sim.a", "libsb_cli.a", "libsb_net.a", "libsb_core.a"};
    const char *env = getenv("SB_SWITCHBOARD");
    char self[PATH_MAX], lib[PATH_MAX + 16];
    struct stat bin_st, lib_st;
    size_t dir;
    ssize_t n;
    char *slash;

    *why = "no switchboard binary beside the test (a build of the unit tests only)";
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return access(out, X_OK) == 0;
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 0;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return 0;
    dir = (size_t)(slash - self);
    if (dir + sizeof("/switchboard") > size)
        return 0;
    memcpy(out, self, dir);
    memcpy(out + dir, "/switchboard", sizeof("/switchboard"));
    if (access(out, X_OK) != 0 || stat(out, &bin_st) != 0)
        return 0;
    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
        snprintf(lib, sizeof(lib), "%.*s/%s", (int)dir, self, libs[i]);
        if (stat(lib, &lib_st) == 0 && lib_st.st_mtime > bin_st.st_mtime) {
            *why = "the switchboard binary beside the test is older than its libraries";
            return 0;
        }
    }
    return 1;
}

static int free_port(void)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Starts `switchboard sim api` with `extra` flags (NULL-terminated); skips without the binary. */
static void sim_start(const char *const *extra)
{
    char bin[PATH_MAX], listen_at[64];
    const char *argv[24], *why = NULL;
    size_t argc = 0;
    long long until;

    if (!switchboard_path(bin, sizeof(bin), &why))
        cr_skip_test("%s", why);
    sim_port = free_port();
    snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", sim_port);
    argv[argc++] = "switchboard";
    argv[argc++] = "sim";
    argv[argc++] = "api";
    argv[argc++] = "--listen";
    argv[argc++] = listen_at;
    argv[argc++] = "--token";
    argv[argc++] = TOKEN;
    argv[argc++] = "--speed";
    argv[argc++] = "20";
    for (; extra && *extra && argc < 22; extra++)
        argv[argc++] = *extra;
    argv[argc] = NULL;
    sim_pid = fork();
    cr_assert_geq(sim_pid, 0);
    if (sim_pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        unsetenv("TWILIO_AUTH_TOKEN");
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    until = now_ms() + 10000;
    for (;;) {
        struct sockaddr_in a = {0};
        int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)sim_port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return;
        cr_assert_eq(waitpid(sim_pid, NULL, WNOHANG), 0, "sim api exited");
        cr_assert_lt(now_ms(), until, "sim api did not start");
        usleep(20000);
    }
}

static void sim_start_plain(void)
{
    sim_start(NULL);
}

static void sim_start_limited(void)
{
    static const char *const flags[] = {"--rate-limit", "1", NULL};
    sim_start(flags);
}

static void sim_start_create_timeout(void)
{
    static const char *const flags[] = {"--create-timeout-every", "1", "--create-timeout-ms",
                                        "3000", NULL};
    sim_start(flags);
}

static void sim_start_failing(void)
{
    static const char *const flags[] = {"--fail-every", "2", "--garbage-every", "3", NULL};
    sim_start(flags);
}

static void sim_stop(void)
{
    long long until = now_ms() + 20000;

    if (sim_pid <= 0)
        return;
    kill(sim_pid, SIGTERM);
    while (waitpid(sim_pid, NULL, WNOHANG) == 0) {
        if (now_ms() > until) {
            kill(sim_pid, SIGKILL);
            waitpid(sim_pid, NULL, 0);
            break;
        }
        usleep(20000);
    }
    sim_pid = 0;
}

static char *sim_base(void)
{
    static char base[64];

    snprintf(base, sizeof(base), "http://127.0.0.1:%d", sim_port);
    return base;
}

Test(sim_api, a_call_from_create_to_hang_up, .init = sim_start_plain, .fini = sim_stop,
     .timeout = 60)
{
    struct twilio_rest *r = client_for(SIM_ACCOUNT, TOKEN, sim_base(), 10000);
    struct http_client *http = http_new();
    struct twilio_call_params p = {0};
    struct twilio_call_filter f = {.to = TO, .page_size = 20};
    struct twilio_call_update hangup = {.status = "completed"};
    struct twilio_rest_request req;
    struct twilio_rest_result res;
    char sid[64];
    int found = 0;
    long long until;

    p.to = TO;
    p.from = FROM;
    p.twiml = "<Response><Say language=\"es-MX\">Le llamamos por su cita de mañana.</Say>"
              "<Pause length=\"60\"/></Response>";
    p.timeout_s = 20;
    cr_assert_eq(twilio_rest_call_create(r, &p, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_assert_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
    cr_expect_eq(res.http_status, 201);
    cr_expect_eq(strncmp(res.call.sid, "CA", 2), 0);
    cr_expect_str_eq(res.call.to, TO);
    cr_expect_str_eq(res.call.from, FROM);
    cr_expect_str_eq(res.call.direction, "outbound-api");
    snprintf(sid, sizeof(sid), "%s", res.call.sid);
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);

    cr_assert_eq(twilio_rest_call_fetch(r, sid, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_assert_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
    cr_expect_str_eq(res.call.sid, sid);
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);

    cr_assert_eq(twilio_rest_call_list(r, &f, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_assert_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
    for (size_t i = 0; i < res.ncalls; i++)
        found += strcmp(res.calls[i].sid, sid) == 0;
    cr_expect_eq(found, 1);
    cr_expect_null(res.next_page_uri);
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);

    /* Hang up once it is answered (calls run 20 times faster than real time). */
    until = now_ms() + 20000;
    for (;;) {
        cr_assert_eq(twilio_rest_call_fetch(r, sid, &req, NULL, 0), 0);
        res = round_trip(r, http, &req);
        twilio_rest_request_release(&req);
        cr_assert_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
        if (strcmp(res.call.status, "in-progress") == 0 || now_ms() > until)
            break;
        twilio_rest_result_release(&res);
        usleep(20000);
    }
    cr_assert_str_eq(res.call.status, "in-progress");
    twilio_rest_result_release(&res);
    cr_assert_eq(twilio_rest_call_update(r, sid, &hangup, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    twilio_rest_request_release(&req);
    cr_assert_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
    twilio_rest_result_release(&res);
    until = now_ms() + 20000;
    for (;;) {
        cr_assert_eq(twilio_rest_call_fetch(r, sid, &req, NULL, 0), 0);
        res = round_trip(r, http, &req);
        twilio_rest_request_release(&req);
        cr_assert_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
        if (strcmp(res.call.status, "in-progress") != 0 || now_ms() > until)
            break;
        twilio_rest_result_release(&res);
        usleep(20000);
    }
    cr_expect_str_eq(res.call.status, "completed");
    cr_expect_not_null(res.call.duration);
    twilio_rest_result_release(&res);

    cr_assert_eq(twilio_rest_recording_list(r, sid, 10, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
    cr_expect_null(res.next_page_uri);
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);

    cr_assert_eq(
        twilio_rest_recording_fetch(r, sid, "RE00000000000000000000000000000000", &req, NULL, 0),
        0);
    res = round_trip(r, http, &req);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_FAILED);
    cr_expect_eq(res.http_status, 404);
    cr_expect_eq(res.code, 20404);
    cr_expect(strncmp(res.error, "twilio error 20404: ", 20) == 0, "%s", res.error);
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);
    http_client_free(http);
    twilio_rest_free(r);
}

Test(sim_api, a_message_in_spanish, .init = sim_start_plain, .fini = sim_stop, .timeout = 60)
{
    struct twilio_rest *r = client_for(SIM_ACCOUNT, TOKEN, sim_base(), 10000);
    struct http_client *http = http_new();
    struct twilio_message_params p = {.to = "+5215512345678", .from = FROM, .body = SPANISH};
    struct twilio_rest_request req;
    struct twilio_rest_result res;

    cr_assert_eq(twilio_rest_message_create(r, &p, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_assert_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
    cr_expect_eq(strncmp(res.message.sid, "SM", 2), 0);
    cr_expect_str_eq(res.message.body, SPANISH);
    cr_expect_str_eq(res.message.to, "+5215512345678");
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);
    http_client_free(http);
    twilio_rest_free(r);
}

Test(sim_api, twilios_errors_in_plain_words, .init = sim_start_plain, .fini = sim_stop,
     .timeout = 60)
{
    struct twilio_rest *r = client_for(SIM_ACCOUNT, TOKEN, sim_base(), 10000);
    struct twilio_rest *wrong = client_for(SIM_ACCOUNT, "not-the-token", sim_base(), 10000);
    struct http_client *http = http_new();
    struct twilio_call_params p = {.to = "5551234567", .from = FROM, .twiml = "<Response/>"};
    struct twilio_rest_request req;
    struct twilio_rest_result res;

    cr_assert_eq(twilio_rest_call_create(r, &p, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_FAILED);
    cr_expect_eq(res.code, 21211);
    cr_expect_str_eq(res.error,
                     "twilio error 21211: Invalid 'To' Phone Number: ***4567 (HTTP 400)");
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);

    cr_assert_eq(twilio_rest_call_list(wrong, NULL, &req, NULL, 0), 0);
    res = round_trip(wrong, http, &req);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_FAILED);
    cr_expect_eq(res.code, 20003);
    cr_expect_eq(res.http_status, 401);
    cr_expect(strncmp(res.error, "twilio error 20003: ", 20) == 0, "%s", res.error);
    cr_expect_null(strstr(res.error, "not-the-token"));
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);
    http_client_free(http);
    twilio_rest_free(wrong);
    twilio_rest_free(r);
}

Test(sim_api, over_the_rate_limit_is_retried, .init = sim_start_limited, .fini = sim_stop,
     .timeout = 60)
{
    struct twilio_rest *r = client_for(SIM_ACCOUNT, TOKEN, sim_base(), 10000);
    struct http_client *http = http_new();
    struct twilio_rest_request req;
    struct twilio_rest_result res;
    int limited = 0;

    cr_assert_eq(twilio_rest_call_list(r, NULL, &req, NULL, 0), 0);
    /* One request a second: of a quick few, some are refused with 20429. */
    for (int i = 0; i < 4; i++) {
        res = round_trip(r, http, &req);
        if (res.outcome == TWILIO_OUTCOME_RETRY) {
            limited++;
            cr_expect_eq(res.code, 20429);
            cr_expect_eq(res.http_status, 429);
        } else {
            cr_expect_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
        }
        twilio_rest_result_release(&res);
    }
    cr_expect_gt(limited, 0);
    twilio_rest_request_release(&req);
    http_client_free(http);
    twilio_rest_free(r);
}

/* Creates a call with inline TwiML; returns its SID in `sid` (of SID-sized room). */
static void sim_create(struct twilio_rest *r, struct http_client *http, const char *to, char *sid)
{
    struct twilio_call_params p = {.to = to, .from = FROM, .twiml = "<Response/>"};
    struct twilio_rest_request req;
    struct twilio_rest_result res;

    cr_assert_eq(twilio_rest_call_create(r, &p, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_assert_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
    snprintf(sid, 35, "%s", res.call.sid);
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);
}

Test(sim_api, pages_follow_next_page_uri, .init = sim_start_plain, .fini = sim_stop, .timeout = 60)
{
    struct twilio_rest *r = client_for(SIM_ACCOUNT, TOKEN, sim_base(), 10000);
    struct http_client *http = http_new();
    struct twilio_call_filter f = {.to = "+15557654321", .page_size = 2};
    struct twilio_rest_request req;
    struct twilio_rest_result res;
    char sids[3][35], seen[8][35], today[16];
    size_t nseen = 0;
    int pages = 0;
    time_t now = time(NULL);
    struct tm tm;

    for (int i = 0; i < 3; i++)
        sim_create(r, http, f.to, sids[i]);
    sim_create(r, http, TO, seen[0]); /* another number: not in the list */
    gmtime_r(&now, &tm);
    strftime(today, sizeof(today), "%Y-%m-%d", &tm);
    f.start_time_after = today;
    cr_assert_eq(twilio_rest_call_list(r, &f, &req, NULL, 0), 0);
    for (;;) {
        res = round_trip(r, http, &req);
        twilio_rest_request_release(&req);
        cr_assert_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
        cr_assert_leq(res.ncalls, 2);
        for (size_t i = 0; i < res.ncalls && nseen < 8; i++)
            snprintf(seen[nseen++], 35, "%s", res.calls[i].sid);
        pages++;
        if (!res.next_page_uri || pages > 4) {
            twilio_rest_result_release(&res);
            break;
        }
        cr_assert_eq(twilio_rest_next_page(r, TWILIO_CALL_LIST, res.next_page_uri, &req, NULL, 0),
                     0, "%s", res.next_page_uri);
        twilio_rest_result_release(&res);
    }
    cr_expect_eq(nseen, 3);
    cr_expect_geq(pages, 2);
    /* Newest first, each once. */
    for (size_t i = 0; i < nseen && i < 3; i++)
        cr_expect_str_eq(seen[i], sids[2 - i]);
    http_client_free(http);
    twilio_rest_free(r);
}

Test(sim_api, a_lost_create_answer_is_resolved_by_a_lookup, .init = sim_start_create_timeout,
     .fini = sim_stop, .timeout = 60)
{
    struct twilio_rest *r = client_for(SIM_ACCOUNT, TOKEN, sim_base(), 500);
    struct http_client *http = http_new();
    struct twilio_call_params p = {.to = TO, .from = FROM, .twiml = "<Response/>"};
    struct twilio_call_filter f = {.to = TO, .from = FROM, .page_size = 20};
    struct twilio_rest_request req;
    struct twilio_rest_result res;
    long long first_attempt = (long long)time(NULL), created = 0;
    int found = 0;

    cr_assert_eq(twilio_rest_call_create(r, &p, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_UNKNOWN, "%s", res.error);
    cr_expect_null(res.call.sid);
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);
    /* Never resent: looked up by To and From, newest first, created since the attempt. */
    cr_assert_eq(twilio_rest_call_list(r, &f, &req, NULL, 0), 0);
    res = round_trip(r, http, &req);
    cr_assert_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
    for (size_t i = 0; i < res.ncalls; i++) {
        cr_assert_eq(twilio_rest_date(res.calls[i].date_created, &created), 0);
        found += created >= first_attempt - 1;
    }
    cr_expect_eq(found, 1, "the call the lost answer was about");
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&req);
    http_client_free(http);
    twilio_rest_free(r);
}

Test(sim_api, injected_faults, .init = sim_start_failing, .fini = sim_stop, .timeout = 60)
{
    struct twilio_rest *r = client_for(SIM_ACCOUNT, TOKEN, sim_base(), 10000);
    struct http_client *http = http_new();
    struct twilio_call_params p = {.to = TO, .from = FROM, .twiml = "<Response/>"};
    struct twilio_rest_request create, list;
    struct twilio_rest_result res;

    cr_assert_eq(twilio_rest_call_create(r, &p, &create, NULL, 0), 0);
    cr_assert_eq(twilio_rest_call_list(r, NULL, &list, NULL, 0), 0);
    /* Request 1 goes through, 2 is a 500, 3 a 200 that is not JSON, 4 a 503. */
    res = round_trip(r, http, &list);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_OK, "%s", res.error);
    twilio_rest_result_release(&res);
    res = round_trip(r, http, &create);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_UNKNOWN, "%s", res.error);
    cr_expect_str_eq(res.error, "twilio error 20500: Internal Server Error (HTTP 500)");
    twilio_rest_result_release(&res);
    res = round_trip(r, http, &list);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_RETRY, "%s", res.error);
    cr_expect_str_eq(res.error, "calls.list: Twilio's answer (HTTP 200) is not JSON");
    twilio_rest_result_release(&res);
    res = round_trip(r, http, &list);
    cr_expect_eq(res.outcome, TWILIO_OUTCOME_RETRY, "%s", res.error);
    cr_expect_eq(res.http_status, 503);
    twilio_rest_result_release(&res);
    twilio_rest_request_release(&create);
    twilio_rest_request_release(&list);
    http_client_free(http);
    twilio_rest_free(r);
}
