/*
 * LLM agent load generator: plays Twilio's part for the two ways an LLM agent
 * answers a caller, against a server whose agent talks to `switchboard sim
 * llm`, and measures the time to the answer.
 *
 *   agent_load relay ...   ConversationRelay: N sessions on /voice/relay at once
 *                          (one libwebsockets context on a libev loop, as
 *                          stream_load.c), each sending `setup` and then a
 *                          `prompt` whenever its last answer is complete.
 *                          Measured per turn: prompt sent -> first `text`
 *                          token, and -> the `text` token with last:true.
 *   agent_load http ...    keep-alive HTTP/1.1 POSTs on C connections (epoll):
 *                          --gather: signed /voice/gather turns of calls of R
 *                          turns each, every call ended by a signed
 *                          /voice/status `completed` (not timed);
 *                          --bodies FILE...: the given request bodies POSTed
 *                          to /v1/chat/completions in turn (the model alone).
 *                          Measured: request written -> whole answer read.
 *
 * With --server-pid it also reads the server's VmRSS (idle, after the warm-up
 * turns, at the end) and its CPU time over the measured window (utime +
 * stime, all threads), so that CPU per turn can be given.
 *
 * Build: see bench/agent.sh (it links the project's libsb_core.a for
 * sig_compute, form_encode and stream_token_for, libwebsockets, libcrypto and
 * libev).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <libwebsockets.h>

#include "core/form.h"
#include "core/sig.h"
#include "core/stream_token.h"

#define HIST_BUCKET_US 10
#define HIST_BUCKETS 2000000 /* 20 s */
#define RX_MAX 8192
#define MSG_MAX 2048

static struct {
    const char *host, *token, *url, *to, *from, *tenant, *lang, *prompt, *expect;
    int port, n, secs, server_pid, think_ms, warm_turns, warm_secs, inflight_max, turns_per_call;
    int gather;
    char **bodies;
    int nbodies;
} opt = {.host = "127.0.0.1",
         .to = "+15005550007",
         .from = "+15551234567",
         .tenant = "bench",
         .lang = "en-US",
         .prompt = "How much is a cleaning?",
         .n = 200,
         .secs = 10,
         .warm_turns = 3,
         .warm_secs = 1,
         .inflight_max = 64,
         .turns_per_call = 10};

static volatile sig_atomic_t interrupted;

static long long now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static long read_rss_kb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* utime + stime of a process (all threads), in clock ticks. */
static long long read_cpu_ticks(int pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

/* --- latency histograms (10 us buckets) ----------------------------------------- */

struct hist {
    uint32_t *b;
    unsigned long long n;
    long long max_us;
};

static void hist_init(struct hist *h)
{
    h->b = calloc(HIST_BUCKETS, sizeof(*h->b));
    if (!h->b) {
        perror("calloc");
        exit(2);
    }
}

static void hist_add(struct hist *h, long long us)
{
    long long b = us < 0 ? 0 : us / HIST_BUCKET_US;

    h->b[b >= HIST_BUCKETS ? HIST_BUCKETS - 1 : b]++;
    h->n++;
    if (us > h->max_us)
        h->max_us = us;
}

/* The q-quantile in ms (upper edge of its bucket); q = 1: the largest value seen. */
static double hist_q(const struct hist *h, double q)
{
    unsigned long long want = (unsigned long long)(q * (double)h->n), acc = 0;

    if (!h->n)
        return 0;
    if (q >= 1.0)
        return h->max_us / 1000.0;
    if (want >= h->n)
        want = h->n - 1;
    for (int b = 0; b < HIST_BUCKETS; b++) {
        acc += h->b[b];
        if (acc > want)
            return (b + 1) * HIST_BUCKET_US / 1000.0;
    }
    return HIST_BUCKETS * HIST_BUCKET_US / 1000.0;
}

static void hist_print(const char *what, const struct hist *h)
{
    printf("%-34s p50 %.3f  p90 %.3f  p99 %.3f  max %.3f ms  (%llu)\n", what, hist_q(h, 0.5),
           hist_q(h, 0.9), hist_q(h, 0.99), hist_q(h, 1.0), h->n);
}

/* --- shared report state ---------------------------------------------------------- */

static long rss_idle = -1, rss_warm = -1, rss_end = -1;
static long long cpu0 = -1, cpu1 = -1, t_meas0, t_meas1;
static struct rusage ru0, ru1;

static void measure_begin(long long t)
{
    t_meas0 = t;
    rss_warm = read_rss_kb(opt.server_pid);
    cpu0 = read_cpu_ticks(opt.server_pid);
    getrusage(RUSAGE_SELF, &ru0);
}

static void measure_end(long long t)
{
    t_meas1 = t;
    cpu1 = read_cpu_ticks(opt.server_pid);
    getrusage(RUSAGE_SELF, &ru1);
}

static double gen_cpu_pct(void)
{
    double s =
        (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
        (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
         ru0.ru_stime.tv_usec) /
            1e6;
    double wall = (t_meas1 - t_meas0) / 1e6;

    return wall > 0 ? 100 * s / wall : 0;
}

/* Server CPU over the window, in ms (all threads), or -1. */
static double server_cpu_ms(void)
{
    return cpu0 >= 0 && cpu1 >= 0 ? (cpu1 - cpu0) * 1000.0 / (double)sysconf(_SC_CLK_TCK) : -1;
}

/* --- relay mode ---------------------------------------------------------------------- */

enum rphase { R_CONNECT, R_WARM, R_MEASURE, R_DRAIN, R_CLOSE, R_DONE };

enum rstate { RS_SETUP, RS_IDLE, RS_ASKED };

struct rconn {
    struct lws *wsi;
    int idx;
    int open, failed, closed, ended;
    enum rstate state;
    int want_send;     /* a prompt is due: send it from the writable callback */
    long long next_at; /* not before (think time) */
    long long t_sent;  /* the prompt went out */
    long long t_first; /* the first text token came, 0 before */
    int turns;         /* answered turns */
    int measured;      /* this turn's prompt went out in the measured window */
    size_t rxlen;
    char rx[RX_MAX];
    char call_sid[40];
};

static struct lws_context *ctx;
static struct ev_loop *loop;
static ev_io tick_watcher;
static int tick_fd = -1;
static struct rconn *rconns;
static enum rphase rphase = R_CONNECT;
static int launched, inflight, established, failed_n, closed_n, ended_n;
static long long phase_deadline;
static char sig[SIG_B64_SIZE];
static struct stream_token_key stream_key;
static char host_hdr[300];
static struct hist h_first, h_last;
static unsigned long long turns_measured, other_msgs, empty_first;

static int relay_send(struct lws *wsi, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int relay_send(struct lws *wsi, const char *fmt, ...)
{
    unsigned char buf[LWS_PRE + MSG_MAX];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf((char *)buf + LWS_PRE, MSG_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= MSG_MAX)
        return -1;
    return lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n ? -1 : 0;
}

static int send_setup(struct rconn *c)
{
    char token[STREAM_TOKEN_SIZE];

    /* The token switchboard put in the call's TwiML: a setup without it is refused. */
    if (stream_token_for(&stream_key, c->call_sid, token) != 0)
        return -1;
    return relay_send(c->wsi,
                      "{\"type\":\"setup\",\"sessionId\":\"VX%032x\",\"accountSid\":"
                      "\"AC00000000000000000000000000000001\",\"parentCallSid\":\"\","
                      "\"callSid\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"forwardedFrom\":\"\","
                      "\"callType\":\"PSTN\",\"callerName\":\"\",\"direction\":\"inbound\","
                      "\"callStatus\":\"RINGING\",\"customParameters\":{\"tenant\":\"%s\","
                      "\"lang\":\"%s\",\"token\":\"%s\"}}",
                      c->idx + 1, c->call_sid, opt.from, opt.to, opt.tenant, opt.lang, token);
}

static int send_prompt(struct rconn *c)
{
    return relay_send(c->wsi,
                      "{\"type\":\"prompt\",\"voicePrompt\":\"%s\",\"lang\":\"%s\",\"last\":true}",
                      opt.prompt, opt.lang);
}

static void rconn_launch(struct rconn *c)
{
    struct lws_client_connect_info i;

    memset(&i, 0, sizeof(i));
    i.context = ctx;
    i.address = opt.host;
    i.port = opt.port;
    i.path = "/voice/relay";
    i.host = host_hdr;
    i.origin = host_hdr;
    i.ietf_version_or_minus_one = -1;
    i.local_protocol_name = "agent-load";
    i.userdata = c;
    i.pwsi = &c->wsi;
    launched++;
    inflight++;
    if (!lws_client_connect_via_info(&i) && !c->failed) {
        c->failed = 1;
        failed_n++;
        inflight--;
    }
}

/* Prompts may go out in this phase (the warm-up only up to its turns). */
static int may_ask(const struct rconn *c)
{
    return (rphase == R_WARM && c->turns < opt.warm_turns) || rphase == R_MEASURE;
}

/* One whole message from the server. */
static void relay_message(struct rconn *c, char *msg, size_t len, long long t)
{
    char *ty;

    msg[len] = '\0';
    ty = strstr(msg, "\"type\":\"");
    if (!ty) {
        other_msgs++;
        return;
    }
    ty += 8;
    if (strncmp(ty, "text\"", 5) == 0) {
        int last = strstr(msg, "\"last\":true") != NULL;

        if (c->state != RS_ASKED) {
            other_msgs++;
            return;
        }
        if (!c->t_first) {
            c->t_first = t;
            if (strstr(msg, "\"token\":\"\""))
                empty_first++;
        }
        if (!last)
            return;
        if (c->measured) {
            hist_add(&h_first, c->t_first - c->t_sent);
            hist_add(&h_last, t - c->t_sent);
            turns_measured++;
        }
        c->turns++;
        c->state = RS_IDLE;
        /*
         * Callers pause for different times: a pause drawn between half and one
         * and a half times --think-ms keeps the sessions from asking in step.
         */
        c->next_at = t + (long long)opt.think_ms * (500 + rand() % 1001);
        if (!opt.think_ms && may_ask(c)) {
            c->want_send = 1;
            lws_callback_on_writable(c->wsi);
        }
        return;
    }
    if (strncmp(ty, "end\"", 4) == 0) {
        /* The agent ended the session: not what this load asks for. */
        if (!c->ended) {
            c->ended = 1;
            ended_n++;
            if (ended_n <= 3)
                fprintf(stderr, "agent_load: session %d ended by the agent: %s\n", c->idx, msg);
        }
        c->state = RS_IDLE;
        return;
    }
    other_msgs++;
}

static int relay_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                          size_t len)
{
    struct rconn *c = user;
    long long t;

    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in, *end = *p + len;

        if (sig[0] &&
            lws_add_http_header_by_name(wsi, (const unsigned char *)"X-Twilio-Signature:",
                                        (const unsigned char *)sig, (int)strlen(sig), p, end))
            return -1;
        break;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c && !c->failed && !c->open) {
            c->failed = 1;
            failed_n++;
            inflight--;
            if (failed_n <= 5)
                fprintf(stderr, "agent_load: session %d could not connect: %s\n", c->idx,
                        in ? (const char *)in : "?");
        }
        if (c)
            c->wsi = NULL;
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!c)
            return -1;
        c->open = 1;
        c->wsi = wsi;
        inflight--;
        established++;
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (!c || !c->open || c->ended)
            break;
        if (c->state == RS_SETUP) {
            if (send_setup(c))
                return -1;
            c->state = RS_IDLE;
            break;
        }
        if (c->want_send && c->state == RS_IDLE) {
            c->want_send = 0;
            c->t_first = 0;
            c->t_sent = now_us();
            c->measured = rphase == R_MEASURE;
            if (send_prompt(c))
                return -1;
            c->state = RS_ASKED;
        }
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (!c)
            break;
        t = now_us();
        if (c->rxlen + len >= RX_MAX) {
            c->rxlen = 0;
            other_msgs++;
            break;
        }
        memcpy(c->rx + c->rxlen, in, len);
        c->rxlen += len;
        if (!lws_is_final_fragment(wsi))
            break;
        relay_message(c, c->rx, c->rxlen, t);
        c->rxlen = 0;
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c && c->open) {
            c->open = 0;
            c->closed = 1;
            closed_n++;
            c->wsi = NULL;
            if (rphase < R_CLOSE && !c->ended)
                fprintf(stderr, "agent_load: session %d closed by the server\n", c->idx);
        }
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"agent-load", relay_callback, 0, RX_MAX, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void relay_tick(void)
{
    long long t = now_us();
    int busy = 0, warm_done = 1;
    static long long settle_at;

    if (interrupted && rphase < R_CLOSE) {
        rphase = R_CLOSE;
        phase_deadline = t + 2000000;
    }
    switch (rphase) {
    case R_CONNECT:
        for (int k = 0; launched < opt.n && inflight < opt.inflight_max && k < 32; k++)
            rconn_launch(&rconns[launched]);
        if (launched == opt.n && established + failed_n == opt.n) {
            fprintf(stderr, "agent_load: %d of %d sessions open (%d failed)\n", established, opt.n,
                    failed_n);
            rphase = R_WARM;
        } else if (t > phase_deadline) {
            fprintf(stderr, "agent_load: connecting timed out (%d open)\n", established);
            rphase = R_WARM;
        }
        break;
    case R_WARM:
        for (int i = 0; i < opt.n; i++) {
            struct rconn *c = &rconns[i];

            if (c->open && !c->ended && c->turns < opt.warm_turns)
                warm_done = 0;
        }
        if (warm_done) {
            /* Every conversation open, each after its warm-up turns: RSS with N of them. */
            rphase = R_MEASURE;
            /*
             * The sessions that finished warming early have waited past their
             * pause: spread their next turns over one pause again, or they would
             * all ask at once and measure a burst no caller makes.
             */
            for (int i = 0; i < opt.n; i++) {
                struct rconn *c = &rconns[i];

                if (opt.think_ms && c->state == RS_IDLE)
                    c->next_at = t + (long long)opt.think_ms * (rand() % 1001);
            }
            measure_begin(t);
            phase_deadline = t + (long long)opt.secs * 1000000;
        }
        break;
    case R_MEASURE:
        if (t >= phase_deadline) {
            measure_end(t);
            rphase = R_DRAIN;
            phase_deadline = t + 3000000;
        }
        break;
    case R_DRAIN:
        for (int i = 0; i < opt.n; i++)
            if (rconns[i].open && rconns[i].state == RS_ASKED)
                busy = 1;
        /* Quiet: the server gets a second to settle (give memory back) before its RSS is read. */
        if (!busy && !settle_at)
            settle_at = t + 1000000;
        if ((settle_at && t >= settle_at) || t > phase_deadline + 1000000) {
            rss_end = read_rss_kb(opt.server_pid);
            rphase = R_CLOSE;
            phase_deadline = t + 3000000;
            for (int i = 0; i < opt.n; i++)
                if (rconns[i].open)
                    lws_set_timeout(rconns[i].wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        }
        break;
    case R_CLOSE:
        if (closed_n >= established || t > phase_deadline)
            rphase = R_DONE;
        break;
    case R_DONE:
        break;
    }
    /* Sessions due to ask: idle, their think time over. */
    for (int i = 0; i < opt.n && (rphase == R_WARM || rphase == R_MEASURE); i++) {
        struct rconn *c = &rconns[i];

        if (c->open && !c->ended && c->state == RS_IDLE && !c->want_send && t >= c->next_at &&
            may_ask(c)) {
            c->want_send = 1;
            lws_callback_on_writable(c->wsi);
        }
    }
    if (rphase == R_DONE)
        ev_break(loop, EVBREAK_ALL);
}

static void on_tick_fd(struct ev_loop *l, ev_io *w, int revents)
{
    uint64_t exp;

    (void)l;
    (void)w;
    (void)revents;
    if (read(tick_fd, &exp, sizeof(exp)) < 0 && errno != EAGAIN)
        return;
    relay_tick();
}

static void relay_report(void)
{
    double wall = (t_meas1 - t_meas0) / 1e6, cpu = server_cpu_ms();

    printf("relay: %d sessions asked, %d open, %d failed, %d ended by the agent; prompt "
           "\"%s\", think %d ms\n",
           opt.n, established, failed_n, ended_n, opt.prompt, opt.think_ms);
    hist_print("prompt -> first text token:", &h_first);
    hist_print("prompt -> last text token:", &h_last);
    printf("turns: %llu in %.1f s = %.0f turns/s; %llu first tokens empty; %llu other messages\n",
           turns_measured, wall, wall > 0 ? turns_measured / wall : 0, empty_first, other_msgs);
    if (opt.server_pid > 0)
        printf("server: RSS idle %ld KiB, after %d turns each %ld KiB (%.1f KiB a session), at "
               "the end %ld KiB (%.1f KiB a session); CPU %.0f%% of one core, %.1f us a turn\n",
               rss_idle, opt.warm_turns, rss_warm,
               established ? (rss_warm - rss_idle) / (double)established : 0, rss_end,
               established ? (rss_end - rss_idle) / (double)established : 0,
               wall > 0 && cpu >= 0 ? cpu / 10 / wall : -1,
               turns_measured && cpu >= 0 ? cpu * 1000 / turns_measured : -1);
    printf("generator: CPU %.0f%% of one core\n", gen_cpu_pct());
    printf("RESULT mode=relay n=%d open=%d failed=%d ended=%d think_ms=%d turns=%llu "
           "turns_per_s=%.0f first_p50_ms=%.3f first_p90_ms=%.3f first_p99_ms=%.3f "
           "first_max_ms=%.3f last_p50_ms=%.3f last_p99_ms=%.3f rss_idle_kb=%ld "
           "rss_warm_kb=%ld rss_end_kb=%ld warm_turns=%d srv_cpu_ms=%.0f gen_cpu=%.0f secs=%.2f\n",
           opt.n, established, failed_n, ended_n, opt.think_ms, turns_measured,
           wall > 0 ? turns_measured / wall : 0, hist_q(&h_first, 0.5), hist_q(&h_first, 0.9),
           hist_q(&h_first, 0.99), hist_q(&h_first, 1.0), hist_q(&h_last, 0.5),
           hist_q(&h_last, 0.99), rss_idle, rss_warm, rss_end, opt.warm_turns, cpu, gen_cpu_pct(),
           wall);
}

static int run_relay(void)
{
    struct lws_context_creation_info info;
    void *foreign_loops[1];
    char urlbuf[400];
    struct itimerspec its = {{0, 1000000}, {0, 1000000}};

    snprintf(host_hdr, sizeof(host_hdr), "%s:%d", opt.host, opt.port);
    if (opt.token) {
        if (!opt.url) {
            snprintf(urlbuf, sizeof(urlbuf), "wss://%s:%d/voice/relay", opt.host, opt.port);
            opt.url = urlbuf;
        }
        if (sig_compute(opt.token, opt.url, NULL, sig) != 0) {
            fprintf(stderr, "agent_load: cannot sign %s\n", opt.url);
            return 2;
        }
    }
    {
        const char *secret = getenv("SWITCHBOARD_STREAM_SECRET");

        if (stream_token_key_init(&stream_key, secret ? secret : "", opt.token ? opt.token : "") !=
            0) {
            fprintf(stderr, "agent_load: cannot key the stream tokens\n");
            return 2;
        }
    }
    rconns = calloc((size_t)opt.n, sizeof(*rconns));
    if (!rconns)
        return 2;
    for (int i = 0; i < opt.n; i++) {
        rconns[i].idx = i;
        snprintf(rconns[i].call_sid, sizeof(rconns[i].call_sid), "CA%08x%024x", (unsigned)getpid(),
                 i + 1);
    }
    hist_init(&h_first);
    hist_init(&h_last);

    lws_set_log_level(LLL_ERR, NULL);
    loop = ev_loop_new(EVBACKEND_EPOLL);
    if (!loop)
        return 2;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_LIBEV;
    info.foreign_loops = foreign_loops;
    foreign_loops[0] = loop;
    info.timeout_secs = 30;
    ctx = lws_create_context(&info);
    if (!ctx) {
        fprintf(stderr, "agent_load: cannot create the lws context (libev event lib)\n");
        return 2;
    }
    rss_idle = read_rss_kb(opt.server_pid);
    phase_deadline = now_us() + 30000000LL;
    tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tick_fd < 0 || timerfd_settime(tick_fd, 0, &its, NULL)) {
        fprintf(stderr, "agent_load: cannot set up the 1 ms clock\n");
        return 2;
    }
    ev_io_init(&tick_watcher, on_tick_fd, tick_fd, EV_READ);
    ev_io_start(loop, &tick_watcher);
    ev_run(loop, 0);
    ev_io_stop(loop, &tick_watcher);
    if (!t_meas1)
        measure_end(now_us());
    relay_report();
    fflush(stdout);
    lws_context_destroy(ctx);
    return established == opt.n && !ended_n && turns_measured ? 0 : 1;
}

/* --- http mode -------------------------------------------------------------------------- */

struct hconn {
    int fd;
    int idx;
    char *req; /* the request being written (owned) */
    size_t req_len, req_off;
    int timed;        /* a turn (timed), not a status callback */
    long long t_sent; /* the whole request was written */
    size_t rlen;
    char *rbuf;
    int call_serial, turn; /* gather: the call and its turn */
    int body_no;           /* bodies: the next body */
    char call_sid[40];
    char *turn_req; /* gather: this call's turn request, the same every turn */
    size_t turn_len;
};

#define RBUF_MAX (256 * 1024)

static struct hconn *hconns;
static int epfd = -1, serial_next;
static struct hist h_req;
static unsigned long long req_done, req_errors, req_other, statuses, reconnects;
static long long t_start, t_stop;
static int hphase; /* 0 warm, 1 measured, 2 over */

static int hconn_connect(struct hconn *c)
{
    struct sockaddr_in a;
    struct epoll_event ev;
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)opt.port);
    inet_pton(AF_INET, opt.host, &a.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("agent_load: connect");
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

/* POST path with a form body signed for the public URL. Returns a new request or NULL. */
static char *signed_post(const char *path, struct form *f, size_t *len)
{
    char url[512], s[SIG_B64_SIZE], *body, *req;
    int n;

    snprintf(url, sizeof(url), "%s%s", opt.url, path);
    body = form_encode(f);
    if (!body || sig_compute(opt.token, url, f, s) != 0) {
        free(body);
        return NULL;
    }
    n = snprintf(NULL, 0,
                 "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: "
                 "application/x-www-form-urlencoded\r\nX-Twilio-Signature: %s\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 path, opt.host, opt.port, s, strlen(body), body);
    req = malloc((size_t)n + 1);
    if (req)
        snprintf(req, (size_t)n + 1,
                 "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: "
                 "application/x-www-form-urlencoded\r\nX-Twilio-Signature: %s\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 path, opt.host, opt.port, s, strlen(body), body);
    free(body);
    *len = (size_t)n;
    return req;
}

/* The parameters Twilio sends with every call webhook (tests/integration/harness.py). */
static int call_params(struct form *f, const char *sid, const char *status)
{
    const char *const pairs[][2] = {
        {"CallSid", sid},
        {"AccountSid", "AC00000000000000000000000000000001"},
        {"From", opt.from},
        {"To", opt.to},
        {"CallStatus", status},
        {"Direction", "inbound"},
        {"ApiVersion", "2010-04-01"},
        {"Caller", opt.from},
        {"Called", opt.to},
        {"FromCountry", "US"},
        {"ToCountry", "US"},
    };

    return form_add_pairs(f, pairs, sizeof(pairs) / sizeof(pairs[0]));
}

/* A new call on this connection: its (fixed) turn request. */
static int gather_new_call(struct hconn *c)
{
    struct form f = FORM_INIT;
    int rc;

    c->call_serial = ++serial_next;
    c->turn = 0;
    snprintf(c->call_sid, sizeof(c->call_sid), "CA%08x%024x", (unsigned)getpid(), c->call_serial);
    rc = call_params(&f, c->call_sid, "in-progress");
    if (rc == 0)
        rc = form_add(&f, "SpeechResult", opt.prompt);
    if (rc == 0)
        rc = form_add(&f, "Confidence", "0.91");
    free(c->turn_req);
    c->turn_req = rc == 0 ? signed_post("/voice/gather", &f, &c->turn_len) : NULL;
    form_release(&f);
    return c->turn_req ? 0 : -1;
}

static char *status_req(struct hconn *c, size_t *len)
{
    struct form f = FORM_INIT;
    char *req = NULL;

    if (call_params(&f, c->call_sid, "completed") == 0 && form_add(&f, "CallDuration", "30") == 0)
        req = signed_post("/voice/status", &f, len);
    form_release(&f);
    return req;
}

static char *body_req(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *body, *req;
    long size;
    int n;

    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    body = malloc((size_t)size + 1);
    if (!body || fread(body, 1, (size_t)size, fp) != (size_t)size) {
        fclose(fp);
        free(body);
        return NULL;
    }
    fclose(fp);
    body[size] = '\0';
    n = snprintf(NULL, 0,
                 "POST /v1/chat/completions HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: "
                 "application/json\r\nAuthorization: Bearer bench\r\nAccept: "
                 "text/event-stream\r\nContent-Length: %ld\r\n\r\n",
                 opt.host, opt.port, size);
    req = malloc((size_t)n + (size_t)size + 1);
    if (req) {
        snprintf(req, (size_t)n + 1,
                 "POST /v1/chat/completions HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: "
                 "application/json\r\nAuthorization: Bearer bench\r\nAccept: "
                 "text/event-stream\r\nContent-Length: %ld\r\n\r\n",
                 opt.host, opt.port, size);
        memcpy(req + n, body, (size_t)size + 1);
    }
    free(body);
    *len = (size_t)n + (size_t)size;
    return req;
}

static char **body_reqs;
static size_t *body_lens;

/* Writes what is left of the request; the clock starts when the last byte is out. */
static int hconn_write(struct hconn *c)
{
    while (c->req_off < c->req_len) {
        ssize_t w = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);

        if (w < 0 && errno == EAGAIN) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};

            return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        }
        if (w <= 0)
            return -1;
        c->req_off += (size_t)w;
    }
    c->t_sent = now_us();
    return 0;
}

/* Sends this connection's next request. */
static int hconn_next(struct hconn *c)
{
    free(c->req);
    c->req = NULL;
    c->req_off = 0;
    c->rlen = 0;
    if (opt.gather) {
        if (c->turn >= opt.turns_per_call) {
            /* The call is over: Twilio's status callback, then a new call. */
            c->req = status_req(c, &c->req_len);
            c->timed = 0;
            if (gather_new_call(c))
                return -1;
            c->turn = -1; /* the status first */
        } else {
            c->req = malloc(c->turn_len);
            if (c->req)
                memcpy(c->req, c->turn_req, c->turn_len);
            c->req_len = c->turn_len;
            c->timed = 1;
        }
        c->turn++;
    } else {
        int k = c->body_no++ % opt.nbodies;

        c->req = malloc(body_lens[k]);
        if (c->req)
            memcpy(c->req, body_reqs[k], body_lens[k]);
        c->req_len = body_lens[k];
        c->timed = 1;
    }
    if (!c->req)
        return -1;
    return hconn_write(c);
}

/* Is a whole answer in rbuf? 1 yes, 0 not yet, -1 malformed. Sets *status and *body. */
static int answer_complete(struct hconn *c, int *status, const char **body, size_t *blen)
{
    char *end, *h;
    size_t hlen;

    c->rbuf[c->rlen] = '\0';
    end = strstr(c->rbuf, "\r\n\r\n");
    if (!end)
        return 0;
    hlen = (size_t)(end - c->rbuf) + 4;
    if (sscanf(c->rbuf, "HTTP/1.%*d %d", status) != 1)
        return -1;
    *body = c->rbuf + hlen;
    for (h = strstr(c->rbuf, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n")) {
        if (strncasecmp(h + 2, "content-length:", 15) == 0) {
            size_t cl = strtoul(h + 17, NULL, 10);

            *blen = cl;
            return c->rlen >= hlen + cl;
        }
        if (strncasecmp(h + 2, "transfer-encoding:", 18) == 0 && strstr(h + 18, "chunked") &&
            strstr(h + 18, "chunked") < end) {
            size_t at = hlen;

            for (;;) {
                char *nl, *stop;
                unsigned long size;

                if (at >= c->rlen)
                    return 0;
                nl = strstr(c->rbuf + at, "\r\n");
                if (!nl)
                    return 0;
                size = strtoul(c->rbuf + at, &stop, 16);
                if (stop == c->rbuf + at)
                    return -1;
                at = (size_t)(nl - c->rbuf) + 2;
                if (size == 0) {
                    *blen = c->rlen - hlen;
                    return c->rlen >= at + 2; /* no trailers: the final CRLF */
                }
                at += size + 2;
            }
        }
    }
    *blen = 0;
    return 1; /* no body */
}

static void hconn_readable(struct hconn *c)
{
    int status = 0, done;
    const char *body = NULL;
    size_t blen = 0;
    long long t;

    for (;;) {
        ssize_t r;

        if (c->rlen >= RBUF_MAX - 1) {
            req_errors++;
            goto reconnect;
        }
        r = recv(c->fd, c->rbuf + c->rlen, RBUF_MAX - 1 - c->rlen, 0);
        if (r < 0 && errno == EAGAIN)
            break;
        if (r <= 0) {
            req_errors++;
            goto reconnect;
        }
        c->rlen += (size_t)r;
    }
    t = now_us();
    done = answer_complete(c, &status, &body, &blen);
    if (done == 0)
        return;
    if (done < 0 || !c->t_sent) {
        req_errors++;
        goto reconnect;
    }
    if (c->timed) {
        int ok = status == 200;

        if (ok && opt.expect && !memmem(body, blen, opt.expect, strlen(opt.expect)))
            req_other++; /* answered, but not by the model (a hold, an apology, the rules) */
        if (!ok) {
            req_errors++;
            if (req_errors <= 3)
                fprintf(stderr, "agent_load: status %d: %.300s\n", status, c->rbuf);
        } else if (hphase == 1) {
            hist_add(&h_req, t - c->t_sent);
            req_done++;
        }
    } else {
        if (status != 200 && status != 204)
            req_errors++;
        statuses++;
    }
    c->t_sent = 0;
    if (hphase >= 2)
        return;
    if (hconn_next(c) == 0)
        return;
    req_errors++;
reconnect:
    reconnects++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->t_sent = 0;
    if (hphase >= 2 || reconnects > 1000)
        return;
    if (opt.gather && gather_new_call(c))
        return;
    if (hconn_connect(c) == 0)
        (void)hconn_next(c);
}

static int run_http(void)
{
    struct epoll_event evs[256];
    char urlbuf[300];

    if (!opt.gather && opt.nbodies == 0) {
        fprintf(stderr, "agent_load: http needs --gather or --bodies\n");
        return 2;
    }
    if (opt.gather && !opt.token) {
        fprintf(stderr, "agent_load: --gather needs --token\n");
        return 2;
    }
    if (!opt.url) {
        snprintf(urlbuf, sizeof(urlbuf), "http://%s:%d", opt.host, opt.port);
        opt.url = urlbuf;
    }
    if (!opt.gather) {
        body_reqs = calloc((size_t)opt.nbodies, sizeof(*body_reqs));
        body_lens = calloc((size_t)opt.nbodies, sizeof(*body_lens));
        for (int i = 0; i < opt.nbodies; i++) {
            body_reqs[i] = body_req(opt.bodies[i], &body_lens[i]);
            if (!body_reqs[i]) {
                fprintf(stderr, "agent_load: cannot read %s\n", opt.bodies[i]);
                return 2;
            }
        }
    }
    hist_init(&h_req);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    hconns = calloc((size_t)opt.n, sizeof(*hconns));
    if (epfd < 0 || !hconns)
        return 2;
    rss_idle = read_rss_kb(opt.server_pid);
    t_start = now_us();
    for (int i = 0; i < opt.n; i++) {
        struct hconn *c = &hconns[i];

        c->idx = i;
        c->body_no = i; /* connections start at different bodies, as calls at different turns */
        c->rbuf = malloc(RBUF_MAX);
        if (!c->rbuf || (opt.gather && gather_new_call(c)) || hconn_connect(c) || hconn_next(c)) {
            fprintf(stderr, "agent_load: cannot start connection %d\n", i);
            return 2;
        }
    }
    while (!interrupted) {
        long long t = now_us();
        int n;

        if (hphase == 0 && t >= t_start + (long long)opt.warm_secs * 1000000) {
            hphase = 1;
            measure_begin(t);
            t_stop = t + (long long)opt.secs * 1000000;
        } else if (hphase == 1 && t >= t_stop) {
            measure_end(t);
            hphase = 2;
            break;
        }
        n = epoll_wait(epfd, evs, 256, 1);
        for (int i = 0; i < n; i++) {
            struct hconn *c = evs[i].data.ptr;

            if (c->fd < 0)
                continue;
            if (evs[i].events & EPOLLOUT) {
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

                epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
                if (hconn_write(c))
                    req_errors++;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                hconn_readable(c);
        }
    }
    if (!t_meas1)
        measure_end(now_us());
    rss_end = read_rss_kb(opt.server_pid);
    {
        double wall = (t_meas1 - t_meas0) / 1e6, cpu = server_cpu_ms();
        const char *what = opt.gather ? "gather" : "model";

        printf("%s: %d connections%s\n", what, opt.n,
               opt.gather ? ", calls of --turns-per-call turns then a status callback" : "");
        hist_print(opt.gather ? "signed /voice/gather -> TwiML:" : "chat request -> [DONE]:",
                   &h_req);
        printf("requests: %llu in %.1f s = %.0f/s; errors %llu, reconnects %llu, answers not "
               "from the model %llu, status callbacks %llu\n",
               req_done, wall, wall > 0 ? req_done / wall : 0, req_errors, reconnects, req_other,
               statuses);
        if (opt.server_pid > 0)
            printf("server: CPU %.0f%% of one core, %.1f us a request; RSS %ld -> %ld KiB\n",
                   wall > 0 && cpu >= 0 ? cpu / 10 / wall : -1,
                   req_done && cpu >= 0 ? cpu * 1000 / req_done : -1, rss_idle, rss_end);
        printf("generator: CPU %.0f%% of one core\n", gen_cpu_pct());
        printf("RESULT mode=%s conns=%d requests=%llu rate=%.0f p50_ms=%.3f p90_ms=%.3f "
               "p99_ms=%.3f max_ms=%.3f errors=%llu other=%llu srv_cpu_ms=%.0f gen_cpu=%.0f "
               "secs=%.2f\n",
               what, opt.n, req_done, wall > 0 ? req_done / wall : 0, hist_q(&h_req, 0.5),
               hist_q(&h_req, 0.9), hist_q(&h_req, 0.99), hist_q(&h_req, 1.0), req_errors,
               req_other, cpu, gen_cpu_pct(), wall);
    }
    return req_done && !req_errors ? 0 : 1;
}

/* --- main ------------------------------------------------------------------------------ */

static void on_signal(int s)
{
    (void)s;
    interrupted = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: agent_load relay --port P [-n SESSIONS] [-d SECS] [--token T] [options]\n"
            "       agent_load http --port P -c CONNS [-d SECS] (--gather --token T | --bodies "
            "FILE...)\n"
            "  --host ADDR          server address (127.0.0.1)\n"
            "  --token TOKEN        the auth token: signs the upgrade / the webhooks, keys the\n"
            "                       stream tokens (or SWITCHBOARD_STREAM_SECRET)\n"
            "  --url URL            relay: the signed wss URL; http: the public base URL\n"
            "  --to E164            the called number (+15005550007)\n"
            "  --prompt TEXT        what the caller says (How much is a cleaning?)\n"
            "  --server-pid PID     sample the server's VmRSS and CPU time\n"
            "  relay: --think-ms MS pause after each answer, drawn between MS/2 and 3*MS/2\n"
            "         (0: ask again at once)\n"
            "         --warm-turns K turns per session before the measured window (3)\n"
            "  http:  --warm-secs S unmeasured seconds first (1)\n"
            "         --turns-per-call R  gather turns per call (10)\n"
            "         --expect TEXT count 200 answers without TEXT as not from the model\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"token", required_argument, NULL, 't'},
        {"url", required_argument, NULL, 'u'},
        {"to", required_argument, NULL, 'T'},
        {"prompt", required_argument, NULL, 'P'},
        {"server-pid", required_argument, NULL, 's'},
        {"think-ms", required_argument, NULL, 'k'},
        {"warm-turns", required_argument, NULL, 'w'},
        {"warm-secs", required_argument, NULL, 'W'},
        {"turns-per-call", required_argument, NULL, 'r'},
        {"expect", required_argument, NULL, 'e'},
        {"gather", no_argument, NULL, 'g'},
        {"bodies", no_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    const char *mode;
    int ch, bodies = 0;

    if (argc < 2)
        usage();
    mode = argv[1];
    optind = 2;
    while ((ch = getopt_long(argc, argv, "n:c:d:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'H':
            opt.host = optarg;
            break;
        case 'p':
            opt.port = atoi(optarg);
            break;
        case 't':
            opt.token = optarg;
            break;
        case 'u':
            opt.url = optarg;
            break;
        case 'T':
            opt.to = optarg;
            break;
        case 'P':
            opt.prompt = optarg;
            break;
        case 's':
            opt.server_pid = atoi(optarg);
            break;
        case 'k':
            opt.think_ms = atoi(optarg);
            break;
        case 'w':
            opt.warm_turns = atoi(optarg);
            break;
        case 'W':
            opt.warm_secs = atoi(optarg);
            break;
        case 'r':
            opt.turns_per_call = atoi(optarg);
            break;
        case 'e':
            opt.expect = optarg;
            break;
        case 'g':
            opt.gather = 1;
            break;
        case 'b':
            bodies = 1;
            break;
        case 'n':
        case 'c':
            opt.n = atoi(optarg);
            break;
        case 'd':
            opt.secs = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (bodies) {
        opt.bodies = argv + optind;
        opt.nbodies = argc - optind;
    }
    if (opt.port <= 0 || opt.n <= 0 || opt.secs <= 0 || opt.think_ms < 0 || opt.warm_turns < 0 ||
        opt.turns_per_call <= 0 || (!bodies && optind != argc) || strchr(opt.prompt, '"') ||
        strchr(opt.prompt, '\\'))
        usage();
    {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.n + 64)
            fprintf(stderr, "agent_load: warning: open-files limit %lu is below %d connections\n",
                    (unsigned long)rl.rlim_cur, opt.n);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(mode, "relay") == 0)
        return run_relay();
    if (strcmp(mode, "http") == 0)
        return run_http();
    usage();
    return 2;
}
