/*
 * Media Streams load generator: plays Twilio's part on N WebSocket streams at
 * once from one libwebsockets context (one thread, one event loop), and
 * measures what comes back from an echoing server (switchboard's echo agent,
 * or the node-stream reference peer).
 *
 * Each stream sends `connected`, `start` (customParameters routing the call
 * and the stream token of its CallSid, keyed as the server keys it: from
 * SWITCHBOARD_STREAM_SECRET, else from --token)
 * and then D seconds of `media` at 50 frames/s: 160 mu-law bytes, base64,
 * sequenceNumber / chunk / timestamp as Twilio numbers them, against an
 * absolute clock (frame k of stream i is due at E + phase_i + k * 20 ms, the
 * phases spread evenly over 20 ms, as independent calls would be). The first
 * six bytes of every payload carry the frame's index and the stream's index,
 * so each echoed frame is identified exactly: losses, duplicates and frames
 * delivered to the wrong stream are counted, and each echo's lateness is
 * measured against its own schedule.
 *
 * Lateness of echo k: arrival_k - (E + phase + k * 20 ms) - offset, where
 * offset is, per stream, that of the first echoed frame (the issue's
 * definition: frames should keep arriving every 20 ms after the first one),
 * and, stricter, the smallest offset seen on the stream. A frame is late
 * when it is more than 20 ms behind that schedule.
 *
 * The event loop is lws on libev (epoll) with a 1 ms timerfd clock, and due
 * frames are written at once from the clock when lws holds nothing buffered
 * for the socket: with lws's default poll() loop and a writable callback per
 * frame the generator cost as much CPU as the server it measured.
 *
 * It also reports the server's VmRSS and CPU time (--server-pid), and the
 * time both processes waited for their CPU (/proc/PID/schedstat: what other
 * processes took), to tell a slow server from a busy machine.
 *
 * Talk mode (--talk FILE): each stream is a caller who talks. The frames go
 * out on the same schedule, but they carry a recorded utterance (8 kHz
 * mu-law, or a 16-bit 8 kHz mono WAV) every --talk-every ms and silence in
 * between; the first utterances are spread over --talk-spread ms from
 * --talk-first ms (after the greeting), as independent callers would talk.
 * An utterance is said only when a whole --talk-every is left after its
 * start, for its answer. What comes back is the agent's speech: a reply is
 * the media from its first frame to the server's mark after it (or a
 * `clear`), and frame m of a reply is due m * 20 ms after the reply's first
 * frame; it is late more than 20 ms after that (and, stricter, off pace more
 * than 20 ms behind the reply's median offset: see reply_close). Marks are
 * echoed as Twilio echoes them, once the audio before them has played (a
 * playout clock that plays each frame 20 ms from its arrival or from the end
 * of the previous one), and at once on a `clear`. A reply that starts after
 * an utterance ended and before the next one is that utterance's answer:
 * counted, with the time from the utterance's last frame to the reply's
 * first.
 *
 *   stream_load --port P -n N -d SECS [options]      load mode
 *   stream_load --port P -n N -d SECS --talk FILE    talk mode
 *   stream_load --port P --first-audio CALLS [...]   time start -> first media
 *
 * Build: see bench/stream.sh (it links the project's libsb_core.a for
 * sig_compute, stream_token_for and mulaw_encode, libwebsockets, libcrypto
 * and libev).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <libwebsockets.h>

#include "core/mulaw.h"
#include "core/sig.h"
#include "core/stream_token.h"

#define FRAME_US 20000LL
#define FRAME_BYTES 160
#define TAG 0xA5
#define NO_ARRIVAL INT32_MIN
#define HIST_BUCKET_US 50
#define HIST_BUCKETS 1200000 /* 60 s */
#define RX_MAX 2048
#define MSG_MAX 1024

enum phase { PH_CONNECT, PH_MEDIA, PH_STOP, PH_DONE };

struct conn {
    struct lws *wsi;
    int idx;
    int failed;       /* the connection could not be made */
    int open;         /* established and not closed */
    int closed;       /* was open, is now closed */
    int closed_early; /* closed before we sent stop */
    int hello;        /* 0 nothing sent, 1 connected sent, 2 start sent */
    int stop_sent;
    int error;    /* a write failed outside the writable callback */
    int seq;      /* next sequenceNumber */
    long long t0; /* due time of frame 0 */
    int next;     /* next frame to send */
    int received;
    int dups, misrouted, other;
    int agent_frames; /* media that is not an echo: the agent's own audio */
    long long agent_first_us, agent_last_us;
    int32_t *arr;    /* arrival - due, us, per frame; NO_ARRIVAL when none */
    int32_t *sent;   /* send - due, us, per frame */
    int first_frame; /* the first echoed frame to arrive, -1 before */
    long long t_start_sent;
    long long t_first_media;
    /* talk mode */
    int talk_f0;           /* frame at which the first utterance starts */
    int talk_count;        /* utterances this stream says */
    int said;              /* utterances sent to their last frame */
    int answered_of;       /* the last utterance a reply answered (1-based; 0 none) */
    long long said_end_us; /* when the last frame of the latest utterance was sent */
    int reply_open;        /* frames are arriving for a reply */
    int reply_len, reply_cap;
    int32_t *reply_arr; /* the open reply's arrivals, us after its first frame */
    long long reply_first_us;
    long long play_end_us; /* the playout clock: when what arrived so far has played */
    int marks;             /* marks waiting to be echoed */
    long long mark_due[4];
    char mark_name[4][24];
    size_t rxlen;
    char rx[RX_MAX];
    char stream_sid[40];
    char call_sid[40];
};

static struct {
    const char *host, *path, *token, *url, *to, *agent, *from, *tenant, *lang;
    int port, n, secs, inflight_max, server_pid, first_audio, drain_ms, quiet, use_poll;
    int via_writable, silence, spin;
    const char *talk;
    int talk_every_ms, talk_first_ms, talk_spread_ms;
} opt = {"127.0.0.1",
         "/voice/stream",
         NULL,
         NULL,
         "+15005550007",
         "echo",
         "+15551234567",
         "bench",
         "en-US",
         0,
         100,
         10,
         64,
         0,
         0,
         1000,
         0,
         0,
         0,
         0,
         0,
         NULL,
         10000,
         3000,
         -1};

static struct lws_context *ctx;
static struct conn *conns;
static int nframes;
static char sig[SIG_B64_SIZE];
static struct stream_token_key stream_key;
static char host_hdr[300];
static char tail_b64[256];    /* base64 of payload bytes 6..159 */
static char silence_b64[256]; /* base64 of 160 bytes of mu-law silence (--silence) */
static enum phase phase = PH_CONNECT;
static int launched, inflight, established, failed_n, closed_n;
static long long epoch, media_end, phase_deadline, t_begin;
static int tick_fd = -1;
static struct ev_loop *loop;
static ev_idle spin_watcher; /* --spin: always due, so that the loop never sleeps */
static ev_io tick_watcher;
static volatile sig_atomic_t interrupted;
/* first-audio mode */
static int fa_done;
static long long *fa_lat;
/* server samples */
static long rss_idle = -1, rss_conn = -1, rss_mid = -1, rss_max = -1, rss_end = -1;
static long long srv_cpu0 = -1, srv_cpu1 = -1, wall_media0, wall_media1;
static struct rusage ru0, ru1;
static long long gen_wait0, gen_wait1, srv_wait0 = -1, srv_wait1 = -1;
/* generator send lateness */
static long long send_late_max;
static long send_late_over5, send_late_over20;
/* echoes still on their way: the run waits for them (see on_tick) */
static long long frames_sent_total, frames_echoed_total, last_echo_us;
/* talk mode: the utterance, one base64 payload per frame */
static char (*talk_b64)[256];
static int talk_len;   /* frames of speech */
static int talk_every; /* frames from one utterance's start to the next */
static uint32_t *h_reply_first, *h_reply_pace, *h_reply_len;
static unsigned long long reply_frames, reply_late_first, reply_late_pace;
static long replies_total, replies_late, replies_cut, greetings, answers, extra_replies;
static long marks_echoed, clears_in, unknown_in;
static long long *gaps;
static long ngaps;
static long long srv_cpu_steady0 = -1, srv_cpu_steady1 = -1, steady_t0, steady_t1;
static long long steady_from, steady_to;

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

/* Time the task spent waiting for a CPU while runnable (ns), from schedstat: other processes'
 * share. */
static long long read_wait_ns(int pid)
{
    char path[64];
    unsigned long long run = 0, wait = 0;
    FILE *f;
    int n;

    if (pid > 0)
        snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
    else
        snprintf(path, sizeof(path), "/proc/self/schedstat");
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fscanf(f, "%llu %llu", &run, &wait);
    fclose(f);
    return n == 2 ? (long long)wait : -1;
}

/* utime + stime of a process, in clock ticks. */
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

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t i, o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = b64chars[v >> 6 & 63];
        out[o++] = b64chars[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);

        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = i + 1 < len ? b64chars[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
}

static int b64_val(char c)
{
    const char *p = c ? strchr(b64chars, c) : NULL;

    return p ? (int)(p - b64chars) : -1;
}

/* Decodes the first 8 characters (6 bytes). Returns 0 or -1. */
static int b64_decode6(const char *in, unsigned char out[6])
{
    int v[8];

    for (int i = 0; i < 8; i++) {
        v[i] = b64_val(in[i]);
        if (v[i] < 0)
            return -1;
    }
    for (int g = 0; g < 2; g++) {
        unsigned x = (unsigned)v[g * 4] << 18 | (unsigned)v[g * 4 + 1] << 12 |
                     (unsigned)v[g * 4 + 2] << 6 | (unsigned)v[g * 4 + 3];

        out[g * 3] = (unsigned char)(x >> 16);
        out[g * 3 + 1] = (unsigned char)(x >> 8);
        out[g * 3 + 2] = (unsigned char)x;
    }
    return 0;
}

/* --- messages -------------------------------------------------------------- */

static int send_text(struct lws *wsi, unsigned char *buf, int len)
{
    return lws_write(wsi, buf + LWS_PRE, (size_t)len, LWS_WRITE_TEXT) < len ? -1 : 0;
}

static int send_connected(struct conn *c)
{
    unsigned char buf[LWS_PRE + MSG_MAX];
    int n = snprintf((char *)buf + LWS_PRE, MSG_MAX,
                     "{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0.0\"}");

    return send_text(c->wsi, buf, n);
}

static int send_start(struct conn *c)
{
    unsigned char buf[LWS_PRE + MSG_MAX];
    char token[STREAM_TOKEN_SIZE];
    int n;

    /* The token the server put in this call's TwiML: it refuses a start without it. */
    if (stream_token_for(&stream_key, c->call_sid, token) != 0)
        return -1;
    n = snprintf(
        (char *)buf + LWS_PRE, MSG_MAX,
        "{\"event\":\"start\",\"sequenceNumber\":\"%d\",\"start\":{\"accountSid\":"
        "\"AC00000000000000000000000000000001\",\"streamSid\":\"%s\",\"callSid\":\"%s\","
        "\"tracks\":[\"inbound\"],\"customParameters\":{\"CallSid\":\"%s\",\"From\":\"%s\","
        "\"To\":\"%s\",\"tenant\":\"%s\"%s%s%s,\"lang\":\"%s\",\"token\":\"%s\"},"
        "\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1}},"
        "\"streamSid\":\"%s\"}",
        c->seq++, c->stream_sid, c->call_sid, c->call_sid, opt.from, opt.to, opt.tenant,
        *opt.agent ? ",\"agent\":\"" : "", opt.agent, *opt.agent ? "\"" : "", opt.lang, token,
        c->stream_sid);

    if (n >= MSG_MAX)
        return -1;
    return send_text(c->wsi, buf, n);
}

/* A frame of silence, untagged: for agents that listen (the rule agent's VAD). */
static int send_silence(struct conn *c, int k)
{
    unsigned char buf[LWS_PRE + MSG_MAX];
    int n = snprintf((char *)buf + LWS_PRE, MSG_MAX,
                     "{\"event\":\"media\",\"sequenceNumber\":\"%d\",\"media\":{\"track\":"
                     "\"inbound\",\"chunk\":\"%d\",\"timestamp\":\"%d\",\"payload\":\"%s\"},"
                     "\"streamSid\":\"%s\"}",
                     c->seq++, k + 1, k * 20, silence_b64, c->stream_sid);

    return send_text(c->wsi, buf, n);
}

/* Talk mode: where frame k falls in the stream's talk (-1: silence), the utterance in *u. */
static int talk_frame(const struct conn *c, int k, int *u)
{
    int r = k - c->talk_f0;

    if (r < 0 || r / talk_every >= c->talk_count || r % talk_every >= talk_len)
        return -1;
    *u = r / talk_every;
    return r % talk_every;
}

/* Talk mode: frame k is the utterance's or silence. */
static int send_talk(struct conn *c, int k)
{
    unsigned char buf[LWS_PRE + MSG_MAX];
    int u = 0, f = talk_frame(c, k, &u);
    int n = snprintf((char *)buf + LWS_PRE, MSG_MAX,
                     "{\"event\":\"media\",\"sequenceNumber\":\"%d\",\"media\":{\"track\":"
                     "\"inbound\",\"chunk\":\"%d\",\"timestamp\":\"%d\",\"payload\":\"%s\"},"
                     "\"streamSid\":\"%s\"}",
                     c->seq++, k + 1, k * 20, f < 0 ? silence_b64 : talk_b64[f], c->stream_sid);

    return send_text(c->wsi, buf, n);
}

/* Talk mode: echoes a mark, as Twilio does once the audio before it has played. */
static int send_mark(struct conn *c, const char *name)
{
    unsigned char buf[LWS_PRE + MSG_MAX];
    int n = snprintf((char *)buf + LWS_PRE, MSG_MAX,
                     "{\"event\":\"mark\",\"sequenceNumber\":\"%d\",\"streamSid\":\"%s\","
                     "\"mark\":{\"name\":\"%s\"}}",
                     c->seq++, c->stream_sid, name);

    if (send_text(c->wsi, buf, n))
        return -1;
    marks_echoed++;
    return 0;
}

/* Echoes the marks that are due at t (all of them after a clear). Returns 0 or -1. */
static int send_due_marks(struct conn *c, long long t)
{
    while (c->marks > 0 && t >= c->mark_due[0]) {
        if (send_mark(c, c->mark_name[0]))
            return -1;
        c->marks--;
        memmove(c->mark_due, c->mark_due + 1, (size_t)c->marks * sizeof(c->mark_due[0]));
        memmove(c->mark_name, c->mark_name + 1, (size_t)c->marks * sizeof(c->mark_name[0]));
    }
    return 0;
}

static int send_media(struct conn *c, int k)
{
    unsigned char buf[LWS_PRE + MSG_MAX];
    unsigned char head[6] = {TAG,
                             (unsigned char)(k >> 16),
                             (unsigned char)(k >> 8),
                             (unsigned char)k,
                             (unsigned char)(c->idx >> 8),
                             (unsigned char)c->idx};
    char head_b64[12];
    int n;

    if (opt.talk)
        return send_talk(c, k);
    if (opt.silence)
        return send_silence(c, k);
    b64_encode(head, sizeof(head), head_b64);
    n = snprintf(
        (char *)buf + LWS_PRE, MSG_MAX,
        "{\"event\":\"media\",\"sequenceNumber\":\"%d\",\"media\":{\"track\":\"inbound\","
        "\"chunk\":\"%d\",\"timestamp\":\"%d\",\"payload\":\"%s%s\"},\"streamSid\":\"%s\"}",
        c->seq++, k + 1, k * 20, head_b64, tail_b64, c->stream_sid);
    return send_text(c->wsi, buf, n);
}

static int send_stop(struct conn *c)
{
    unsigned char buf[LWS_PRE + MSG_MAX];
    int n = snprintf((char *)buf + LWS_PRE, MSG_MAX,
                     "{\"event\":\"stop\",\"sequenceNumber\":\"%d\",\"stop\":{\"accountSid\":"
                     "\"AC00000000000000000000000000000001\",\"callSid\":\"%s\"},"
                     "\"streamSid\":\"%s\"}",
                     c->seq++, c->call_sid, c->stream_sid);

    return send_text(c->wsi, buf, n);
}

/* Sends frame c->next, which is due (t is now). */
static int send_due(struct conn *c, long long t)
{
    long long late = t - (c->t0 + c->next * FRAME_US);

    if (send_media(c, c->next))
        return -1;
    c->sent[c->next] = (int32_t)(late > INT32_MAX ? INT32_MAX : late);
    if (late > send_late_max)
        send_late_max = late;
    if (late > 5000)
        send_late_over5++;
    if (late > 20000)
        send_late_over20++;
    if (opt.talk) {
        int u = 0, f = talk_frame(c, c->next, &u);

        if (f == talk_len - 1) {
            c->said = u + 1;
            c->said_end_us = t;
        }
    }
    c->next++;
    frames_sent_total++;
    return 0;
}

static void hist_add(uint32_t *h, long long us);

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * Talk mode: closes the open reply, its frames measured against its own 20 ms
 * schedule from its first frame, and against its steady pace: the server sends
 * a reply's first frames ahead (its pacer's lead, 200 ms), so most frames of a
 * reply arrive that much before the first frame's schedule, and a stall shorter
 * than the lead is not late by that schedule. The pace is the reply's median
 * offset from the first frame's schedule (minus the lead): frame m is due at
 * max(0, m * 20 ms + pace) after the first, and off pace more than 20 ms
 * after that.
 */
static void reply_close(struct conn *c, int cut)
{
    long long pace;
    long late = 0;
    int32_t *offs;

    if (!c->reply_open)
        return;
    offs = malloc((size_t)c->reply_len * sizeof(*offs));
    if (!offs) {
        perror("malloc");
        exit(2);
    }
    for (int m = 0; m < c->reply_len; m++)
        offs[m] = (int32_t)(c->reply_arr[m] - (long long)m * FRAME_US);
    qsort(offs, (size_t)c->reply_len, sizeof(*offs), cmp_i32);
    pace = offs[c->reply_len / 2];
    free(offs);
    for (int m = 0; m < c->reply_len; m++) {
        long long off = c->reply_arr[m] - (long long)m * FRAME_US;
        /* On pace: m frames of 20 ms after the first, less the lead; the lead's own at once. */
        long long paced = (long long)m * FRAME_US + pace;

        hist_add(h_reply_first, off);
        hist_add(h_reply_pace, c->reply_arr[m] - (paced > 0 ? paced : 0));
        if (off > FRAME_US) {
            reply_late_first++;
            late++;
        }
        if (c->reply_arr[m] - (paced > 0 ? paced : 0) > FRAME_US)
            reply_late_pace++;
    }
    hist_add(h_reply_len, (long long)c->reply_len * FRAME_US);
    reply_frames += (unsigned long long)c->reply_len;
    replies_total++;
    if (late)
        replies_late++;
    if (cut)
        replies_cut++;
    c->reply_open = 0;
    c->reply_len = 0;
}

/* Talk mode: one message from the server (the agent's media, marks, clears). */
static void on_talk_message(struct conn *c, const char *msg, long long t)
{
    const char *ev = strstr(msg, "\"event\":\"");

    if (!ev) {
        unknown_in++;
        return;
    }
    ev += 9;
    if (strncmp(ev, "media\"", 6) == 0) {
        if (!c->reply_open) {
            c->reply_open = 1;
            c->reply_len = 0;
            c->reply_first_us = t;
            if (c->said > c->answered_of) {
                answers++;
                c->answered_of = c->said;
                gaps[ngaps++] = t - c->said_end_us;
            } else if (c->said == 0) {
                greetings++;
            } else {
                extra_replies++;
            }
        }
        if (c->reply_len == c->reply_cap) {
            int cap = c->reply_cap ? c->reply_cap * 2 : 512;
            int32_t *a = realloc(c->reply_arr, (size_t)cap * sizeof(*a));

            if (!a) {
                perror("realloc");
                exit(2);
            }
            c->reply_arr = a;
            c->reply_cap = cap;
        }
        c->reply_arr[c->reply_len++] =
            (int32_t)(t - c->reply_first_us > INT32_MAX ? INT32_MAX : t - c->reply_first_us);
        c->play_end_us = (c->play_end_us > t ? c->play_end_us : t) + FRAME_US;
        c->agent_frames++;
        return;
    }
    if (strncmp(ev, "mark\"", 5) == 0) {
        const char *name = strstr(msg, "\"name\":\"");

        reply_close(c, 0);
        if (name && c->marks < 4) {
            size_t l = strcspn(name + 8, "\"");

            if (l >= sizeof(c->mark_name[0]))
                l = sizeof(c->mark_name[0]) - 1;
            memcpy(c->mark_name[c->marks], name + 8, l);
            c->mark_name[c->marks][l] = '\0';
            c->mark_due[c->marks] = c->play_end_us > t ? c->play_end_us : t;
            c->marks++;
        }
        return;
    }
    if (strncmp(ev, "clear\"", 6) == 0) {
        /* Twilio drops what it holds and gives the pending marks back at once. */
        clears_in++;
        reply_close(c, 1);
        c->play_end_us = t;
        for (int i = 0; i < c->marks; i++)
            c->mark_due[i] = t;
        return;
    }
    unknown_in++;
}

/* One complete message from the server. */
static void on_message(struct conn *c, char *msg, size_t len, long long t)
{
    char *ev, *pl;
    unsigned char head[6];
    int k, idx;

    msg[len] = '\0';
    if (opt.talk) {
        on_talk_message(c, msg, t);
        return;
    }
    ev = strstr(msg, "\"event\":\"");
    if (!ev || strncmp(ev + 9, "media\"", 6) != 0) {
        c->other++; /* marks, clears */
        return;
    }
    if (opt.first_audio) {
        if (!c->t_first_media)
            c->t_first_media = t;
        return;
    }
    pl = strstr(msg, "\"payload\":\"");
    if (!pl || b64_decode6(pl + 11, head) || head[0] != TAG) {
        c->agent_frames++;
        if (!c->agent_first_us)
            c->agent_first_us = t;
        c->agent_last_us = t;
        return;
    }
    k = head[1] << 16 | head[2] << 8 | head[3];
    idx = head[4] << 8 | head[5];
    if (idx != (c->idx & 0xffff) || k >= nframes) {
        c->misrouted++;
        return;
    }
    if (c->arr[k] != NO_ARRIVAL) {
        c->dups++;
        return;
    }
    {
        long long off = t - (c->t0 + k * FRAME_US);

        if (off > INT32_MAX)
            off = INT32_MAX;
        c->arr[k] = (int32_t)off;
    }
    if (c->first_frame < 0)
        c->first_frame = k;
    c->received++;
    frames_echoed_total++;
    last_echo_us = t;
}

/* --- connections ----------------------------------------------------------- */

static void launch(struct conn *c)
{
    struct lws_client_connect_info i;

    memset(&i, 0, sizeof(i));
    i.context = ctx;
    i.address = opt.host;
    i.port = opt.port;
    i.path = opt.path;
    i.host = host_hdr;
    i.origin = host_hdr;
    i.ietf_version_or_minus_one = -1;
    i.local_protocol_name = "stream-load";
    i.userdata = c;
    i.pwsi = &c->wsi;
    launched++;
    inflight++;
    if (!lws_client_connect_via_info(&i)) {
        /* CONNECTION_ERROR may or may not have been called; count once. */
        if (!c->failed) {
            c->failed = 1;
            failed_n++;
            inflight--;
        }
    }
}

static void new_ids(struct conn *c, int serial)
{
    snprintf(c->stream_sid, sizeof(c->stream_sid), "MZ%08x%024x", (unsigned)getpid(), serial);
    snprintf(c->call_sid, sizeof(c->call_sid), "CA%08x%024x", (unsigned)getpid(), serial);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct conn *c = user;
    long long t;

    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        if (sig[0]) {
            unsigned char **p = (unsigned char **)in, *end = *p + len;

            if (lws_add_http_header_by_name(wsi, (const unsigned char *)"X-Twilio-Signature:",
                                            (const unsigned char *)sig, (int)strlen(sig), p, end))
                return -1;
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c && !c->failed && !c->open) {
            c->failed = 1;
            failed_n++;
            inflight--;
            if (!opt.quiet && failed_n <= 5)
                fprintf(stderr, "stream_load: connection %d failed: %s\n", c->idx,
                        in ? (const char *)in : "?");
        }
        if (c)
            c->wsi = NULL;
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!c)
            return -1;
        c->open = 1;
        inflight--;
        established++;
        c->wsi = wsi;
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (!c || !c->open)
            break;
        if (c->hello == 0) {
            if (send_connected(c))
                return -1;
            c->hello = 1;
            lws_callback_on_writable(wsi);
            break;
        }
        if (c->hello == 1) {
            if (send_start(c))
                return -1;
            c->hello = 2;
            c->t_start_sent = now_us();
            break;
        }
        if (c->error)
            return -1;
        if (c->marks && send_due_marks(c, now_us()))
            return -1;
        if (phase == PH_MEDIA && c->t0 && c->next < nframes) {
            t = now_us();
            if (t >= c->t0 + c->next * FRAME_US) {
                if (send_due(c, t))
                    return -1;
                if (c->next < nframes && t >= c->t0 + c->next * FRAME_US)
                    lws_callback_on_writable(wsi);
                break;
            }
        }
        if ((phase == PH_STOP || (opt.first_audio && c->t_first_media)) && !c->stop_sent) {
            if (send_stop(c))
                return -1;
            c->stop_sent = 1;
        }
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (!c)
            break;
        t = now_us();
        if (c->rxlen + len >= RX_MAX) {
            c->rxlen = 0; /* too big for a media message: drop it */
            c->other++;
            break;
        }
        memcpy(c->rx + c->rxlen, in, len);
        c->rxlen += len;
        if (!lws_is_final_fragment(wsi))
            break;
        on_message(c, c->rx, c->rxlen, t);
        c->rxlen = 0;
        if (opt.first_audio && c->t_first_media && !c->stop_sent)
            lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c && c->open) {
            c->open = 0;
            c->closed = 1;
            closed_n++;
            if (!c->stop_sent)
                c->closed_early = 1;
            c->wsi = NULL;
        }
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"stream-load", callback, 0, RX_MAX, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* --- the clock ------------------------------------------------------------------ */

static void start_media(long long t)
{
    epoch = t + 100000; /* a moment for the last start messages to be read */
    for (int i = 0; i < opt.n; i++) {
        struct conn *c = &conns[i];

        if (c->open && c->hello == 2)
            c->t0 = epoch + (long long)i * FRAME_US / opt.n;
    }
    media_end = epoch + (long long)nframes * FRAME_US;
    if (opt.talk) {
        /* From the last stream's first utterance to the last start with a whole cycle left. */
        steady_from = epoch + (long long)(opt.talk_first_ms + opt.talk_spread_ms) * 1000;
        steady_to = media_end - (long long)talk_every * FRAME_US;
    }
    phase_deadline = media_end + (long long)opt.drain_ms * 1000;
    phase = PH_MEDIA;
    rss_conn = read_rss_kb(opt.server_pid);
    srv_cpu0 = read_cpu_ticks(opt.server_pid);
    wall_media0 = epoch;
    getrusage(RUSAGE_SELF, &ru0);
    gen_wait0 = read_wait_ns(0);
    srv_wait0 = read_wait_ns(opt.server_pid);
    if (!opt.quiet)
        fprintf(stderr,
                "stream_load: %d of %d streams open (%d failed) in %.2f s; media for %d s\n",
                established, opt.n, failed_n, (t - t_begin) / 1e6, opt.secs);
}

static void on_tick(void)
{
    long long t = now_us();
    static long long next_sample;

    if (interrupted)
        phase = PH_DONE;
    switch (phase) {
    case PH_CONNECT:
        if (opt.first_audio) {
            /* One call at a time, each on its own conn slot. */
            struct conn *c = &conns[fa_done];

            if (fa_done >= opt.first_audio) {
                phase = PH_DONE;
                break;
            }
            if (launched == fa_done) {
                phase_deadline = t + 5000000;
                launch(c);
            } else if (c->closed || c->failed || t > phase_deadline) {
                fa_lat[fa_done++] =
                    c->t_first_media && c->t_start_sent ? c->t_first_media - c->t_start_sent : -1;
                if (c->open && c->wsi)
                    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
                inflight = 0;
            }
            break;
        }
        for (int burst = 0; launched < opt.n && inflight < opt.inflight_max && burst < 32; burst++)
            launch(&conns[launched]);
        if (launched == opt.n && established + failed_n == opt.n) {
            int ready = 1;

            for (int i = 0; i < opt.n && ready; i++)
                if (conns[i].open && conns[i].hello != 2)
                    ready = 0;
            if (ready)
                start_media(t);
        } else if (t > phase_deadline) {
            fprintf(stderr, "stream_load: connect phase timed out (%d open, %d failed)\n",
                    established, failed_n);
            start_media(t);
        }
        break;
    case PH_MEDIA:
        for (int i = 0; i < opt.n; i++) {
            struct conn *c = &conns[i];

            if (c->marks && c->open && t >= c->mark_due[0]) {
                if (lws_partial_buffered(c->wsi))
                    lws_callback_on_writable(c->wsi);
                else if (send_due_marks(c, t))
                    c->error = 1;
            }
            if (!c->open || !c->t0 || c->next >= nframes || t < c->t0 + c->next * FRAME_US)
                continue;
            /*
             * Write at once when nothing is buffered (lws keeps any partial
             * write and drains it on POLLOUT; we wait for that); asking for a
             * writable callback instead costs two epoll_ctl and a loop pass
             * per frame, a fifth of the generator's CPU.
             */
            while (!opt.via_writable && !c->error && !lws_partial_buffered(c->wsi) &&
                   c->next < nframes && t >= c->t0 + c->next * FRAME_US) {
                if (send_due(c, t))
                    c->error = 1;
            }
            if (c->error || (c->next < nframes && t >= c->t0 + c->next * FRAME_US))
                lws_callback_on_writable(c->wsi);
        }
        if (opt.server_pid > 0 && t >= next_sample) {
            long rss = read_rss_kb(opt.server_pid);

            next_sample = t + 1000000;
            if (rss > rss_max)
                rss_max = rss;
            if (rss_mid < 0 && t >= epoch + (media_end - epoch) / 2)
                rss_mid = rss;
        }
        /* Talk mode: the server's CPU while every stream is in its steady cycle. */
        if (steady_to > steady_from && srv_cpu_steady0 < 0 && t >= steady_from) {
            srv_cpu_steady0 = read_cpu_ticks(opt.server_pid);
            steady_t0 = t;
        }
        if (steady_to > steady_from && srv_cpu_steady0 >= 0 && srv_cpu_steady1 < 0 &&
            t >= steady_to) {
            srv_cpu_steady1 = read_cpu_ticks(opt.server_pid);
            steady_t1 = t;
        }
        if (t >= media_end && srv_cpu1 < 0) {
            srv_cpu1 = read_cpu_ticks(opt.server_pid);
            wall_media1 = t;
            getrusage(RUSAGE_SELF, &ru1);
            gen_wait1 = read_wait_ns(0);
            srv_wait1 = read_wait_ns(opt.server_pid);
            rss_end = read_rss_kb(opt.server_pid);
        }
        /*
         * After the last frame: wait --drain-ms, then on until every frame
         * is echoed, no echo came for 2 s, or 60 s passed, so that an
         * overloaded server's late echoes count as late, not as lost.
         */
        if (t >= phase_deadline && (frames_echoed_total >= frames_sent_total ||
                                    t - last_echo_us > 2000000 || t >= media_end + 60000000LL)) {
            phase = PH_STOP;
            phase_deadline = t + 5000000;
            for (int i = 0; i < opt.n; i++)
                if (conns[i].open)
                    lws_callback_on_writable(conns[i].wsi);
        }
        break;
    case PH_STOP:
        if (closed_n >= established || t > phase_deadline) {
            phase = PH_DONE;
            for (int i = 0; i < opt.n; i++)
                if (conns[i].open)
                    lws_set_timeout(conns[i].wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        }
        break;
    case PH_DONE:
        break;
    }
    if (phase == PH_DONE)
        ev_break(loop, EVBREAK_ALL);
}

/*
 * The 1 ms clock: a timerfd, so that it fires on time (lws_sul rounds the
 * poll timeout down to whole ms and spins below 1 ms; ev_timer rounds up).
 */
static void on_tick_fd(struct ev_loop *l, ev_io *w, int revents)
{
    uint64_t expirations;

    (void)l;
    (void)w;
    (void)revents;
    if (read(tick_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
        return;
    on_tick();
}

static void on_spin(struct ev_loop *l, ev_idle *w, int revents)
{
    (void)l;
    (void)w;
    (void)revents;
}

/* --- results -------------------------------------------------------------------- */

static uint32_t *hist_new(void)
{
    uint32_t *h = calloc(HIST_BUCKETS, sizeof(*h));

    if (!h) {
        perror("calloc");
        exit(2);
    }
    return h;
}

static void hist_add(uint32_t *h, long long us)
{
    long long b = us < 0 ? 0 : us / HIST_BUCKET_US;

    h[b >= HIST_BUCKETS ? HIST_BUCKETS - 1 : b]++;
}

/* The q-quantile, in ms (upper edge of its bucket). */
static double hist_q(const uint32_t *h, unsigned long long total, double q)
{
    unsigned long long want = (unsigned long long)(q * (double)total), acc = 0;

    if (!total)
        return 0;
    if (want >= total)
        want = total - 1;
    for (int b = 0; b < HIST_BUCKETS; b++) {
        acc += h[b];
        if (acc > want)
            return (b + 1) * HIST_BUCKET_US / 1000.0;
    }
    return HIST_BUCKETS * HIST_BUCKET_US / 1000.0;
}

/* The share of entries at or under `ms`, in percent (whole buckets). */
static double hist_share_upto(const uint32_t *h, unsigned long long total, double ms)
{
    unsigned long long acc = 0;
    int last = (int)(ms * 1000 / HIST_BUCKET_US);

    if (!total)
        return 0;
    for (int b = 0; b < last && b < HIST_BUCKETS; b++)
        acc += h[b];
    return 100.0 * (double)acc / (double)total;
}

/*
 * Late echoes by when they arrived, in 100 ms windows from the start of the
 * media: a stall of the whole system shows as a few windows with most
 * streams late in each; an overloaded server as late echoes everywhere.
 */
#define LATE_WINDOW_US 100000LL
#define LATE_WINDOWS 4096
static unsigned long late_when[LATE_WINDOWS];

static void report_late_windows(unsigned long long late_total)
{
    int top[5] = {-1, -1, -1, -1, -1}, windows = 0;

    if (!late_total)
        return;
    for (int b = 0; b < LATE_WINDOWS; b++) {
        if (!late_when[b])
            continue;
        windows++;
        for (int j = 0; j < 5; j++) {
            if (top[j] < 0 || late_when[b] > late_when[top[j]]) {
                memmove(top + j + 1, top + j, (size_t)(4 - j) * sizeof(*top));
                top[j] = b;
                break;
            }
        }
    }
    printf("late echoes by arrival: in %d windows of 100 ms; the most at", windows);
    for (int j = 0; j < 5 && top[j] >= 0; j++)
        printf(" %.1f s (%lu)", top[j] * LATE_WINDOW_US / 1e6, late_when[top[j]]);
    printf("\n");
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;

    return x < y ? -1 : x > y;
}

static void report_first_audio(void)
{
    long long rest[4096];
    int nrest = 0, bad = 0;

    printf("first-audio: %d calls, To=%s agent=%s\n", opt.first_audio, opt.to,
           *opt.agent ? opt.agent : "(number's)");
    for (int i = 0; i < opt.first_audio; i++) {
        printf("  call %2d: %s%.2f ms\n", i + 1, fa_lat[i] < 0 ? "no audio " : "",
               fa_lat[i] / 1000.0);
        if (fa_lat[i] < 0)
            bad++;
        else if (i > 0 && nrest < 4096)
            rest[nrest++] = fa_lat[i];
    }
    qsort(rest, (size_t)nrest, sizeof(rest[0]), cmp_ll);
    printf("RESULT mode=first-audio calls=%d no_audio=%d first_ms=%.2f rest_median_ms=%.2f "
           "rest_min_ms=%.2f rest_max_ms=%.2f\n",
           opt.first_audio, bad, fa_lat[0] / 1000.0,
           nrest ? (nrest % 2 ? rest[nrest / 2] : (rest[nrest / 2 - 1] + rest[nrest / 2]) / 2) /
                       1000.0
                 : -1.0,
           nrest ? rest[0] / 1000.0 : -1.0, nrest ? rest[nrest - 1] / 1000.0 : -1.0);
}

static void report_load(void)
{
    uint32_t *h_first = hist_new(), *h_min = hist_new(), *h_rtt = hist_new();
    unsigned long long sent = 0, got = 0, lost = 0, dups = 0, mis = 0, other = 0, unsent = 0;
    unsigned long long late_first = 0, late_min = 0, measured = 0;
    long closed_early = 0, streams_late = 0, streams_lossy = 0;
    double hz = (double)sysconf(_SC_CLK_TCK);
    double wall = (wall_media1 - wall_media0) / 1e6;
    double gen_cpu =
        (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
        (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
         ru0.ru_stime.tv_usec) /
            1e6;
    double srv_cpu = srv_cpu0 >= 0 && srv_cpu1 >= 0 ? (srv_cpu1 - srv_cpu0) / hz : -1;
    double pct_first, pct_min;

    for (int i = 0; i < opt.n; i++) {
        struct conn *c = &conns[i];
        int32_t off_first, off_min = INT32_MAX;
        long late_here = 0;

        if (c->closed_early)
            closed_early++;
        if (!c->t0)
            continue;
        sent += (unsigned long long)c->next;
        unsent += (unsigned long long)(nframes - c->next);
        got += (unsigned long long)c->received;
        dups += (unsigned long long)c->dups;
        mis += (unsigned long long)c->misrouted;
        other += (unsigned long long)c->other;
        if (c->received < c->next)
            streams_lossy++;
        lost += (unsigned long long)(c->next - c->received);
        if (c->first_frame < 0)
            continue;
        off_first = c->arr[c->first_frame];
        for (int k = 0; k < c->next; k++)
            if (c->arr[k] != NO_ARRIVAL && c->arr[k] < off_min)
                off_min = c->arr[k];
        for (int k = 0; k < c->next; k++) {
            if (c->arr[k] == NO_ARRIVAL)
                continue;
            measured++;
            hist_add(h_first, (long long)c->arr[k] - off_first);
            hist_add(h_min, (long long)c->arr[k] - off_min);
            hist_add(h_rtt, (long long)c->arr[k] - c->sent[k]);
            if ((long long)c->arr[k] - off_first > FRAME_US) {
                long long at = c->t0 + (long long)k * FRAME_US + c->arr[k] - epoch;
                long b = at < 0 ? 0 : (long)(at / LATE_WINDOW_US);

                late_first++;
                late_here++;
                late_when[b < LATE_WINDOWS ? b : LATE_WINDOWS - 1]++;
            }
            if ((long long)c->arr[k] - off_min > FRAME_US)
                late_min++;
        }
        if (late_here)
            streams_late++;
    }
    {
        long long frames = 0, span = 0;
        int streams = 0;

        for (int i = 0; i < opt.n; i++) {
            if (conns[i].agent_frames > 1) {
                frames += conns[i].agent_frames;
                span += conns[i].agent_last_us - conns[i].agent_first_us;
                streams++;
            }
        }
        if (streams)
            printf("agent audio (media that is not an echo): %d streams, %.1f frames each, "
                   "%.1f frames/s while it lasted (50 is real time)\n",
                   streams, (double)frames / streams,
                   span > 0 ? (double)(frames - streams) * 1e6 / (double)span : 0.0);
    }
    /* Lost frames count as late: they were not within 20 ms of due. */
    pct_first = sent ? 100.0 * (double)(sent - late_first - lost) / (double)sent : 0;
    pct_min = sent ? 100.0 * (double)(sent - late_min - lost) / (double)sent : 0;
    printf("streams: %d asked, %d open, %d failed to connect, %ld closed early\n", opt.n,
           established, failed_n, closed_early);
    printf("frames: %llu sent, %llu echoed, %llu lost, %llu unsent, %llu duplicated, "
           "%llu misrouted, %llu other messages\n",
           sent, got, lost, unsent, dups, mis, other);
    printf("on time (<= 20 ms behind schedule from first echo): %.3f%% (%llu late, %ld streams "
           "with a late frame)\n",
           pct_first, late_first, streams_late);
    printf("on time (<= 20 ms behind schedule from best echo):  %.3f%% (%llu late)\n", pct_min,
           late_min);
    printf("lateness vs first-echo schedule ms: p50 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
           hist_q(h_first, measured, 0.5), hist_q(h_first, measured, 0.99),
           hist_q(h_first, measured, 0.999), hist_q(h_first, measured, 1.0));
    printf("lateness vs best-echo schedule ms:  p50 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
           hist_q(h_min, measured, 0.5), hist_q(h_min, measured, 0.99),
           hist_q(h_min, measured, 0.999), hist_q(h_min, measured, 1.0));
    report_late_windows(late_first);
    printf("round trip (our send -> echo) ms:    p50 %.2f p99 %.2f p99.9 %.2f max %.2f; "
           "%.3f%% within 20 ms\n",
           hist_q(h_rtt, measured, 0.5), hist_q(h_rtt, measured, 0.99),
           hist_q(h_rtt, measured, 0.999), hist_q(h_rtt, measured, 1.0),
           hist_share_upto(h_rtt, measured, 20.0));
    printf("generator: sends > 5 ms late %ld, > 20 ms late %ld, worst %.2f ms; CPU %.0f%% of "
           "one core; waited %.0f ms for its CPU (%ld involuntary switches)\n",
           send_late_over5, send_late_over20, send_late_max / 1000.0,
           wall > 0 ? 100 * gen_cpu / wall : 0, (gen_wait1 - gen_wait0) / 1e6,
           ru1.ru_nivcsw - ru0.ru_nivcsw);
    if (opt.server_pid > 0)
        printf("server: RSS idle %ld KiB, all open %ld KiB, mid-run %ld KiB, max %ld KiB, end %ld "
               "KiB; CPU %.0f%% of one core during media; its loop thread waited %.0f ms for its "
               "CPU\n",
               rss_idle, rss_conn, rss_mid, rss_max, rss_end,
               wall > 0 && srv_cpu >= 0 ? 100 * srv_cpu / wall : -1.0,
               srv_wait0 >= 0 && srv_wait1 >= 0 ? (srv_wait1 - srv_wait0) / 1e6 : -1.0);
    printf("RESULT mode=load n=%d secs=%d open=%d failed=%d closed_early=%ld sent=%llu echoed=%llu "
           "lost=%llu unsent=%llu dup=%llu misrouted=%llu ontime_first=%.3f ontime_min=%.3f "
           "late_p999_ms=%.2f late_max_ms=%.2f rtt_p50_ms=%.2f rtt_p99_ms=%.2f rtt_p999_ms=%.2f "
           "send_late_over5=%ld send_late_max_ms=%.2f gen_cpu=%.0f rss_idle_kb=%ld "
           "rss_conn_kb=%ld rss_mid_kb=%ld rss_max_kb=%ld srv_cpu=%.0f gen_wait_ms=%.0f "
           "srv_wait_ms=%.0f send_late_over20=%ld rtt_within20=%.3f\n",
           opt.n, opt.secs, established, failed_n, closed_early, sent, got, lost, unsent, dups, mis,
           pct_first, pct_min, hist_q(h_first, measured, 0.999), hist_q(h_first, measured, 1.0),
           hist_q(h_rtt, measured, 0.5), hist_q(h_rtt, measured, 0.99),
           hist_q(h_rtt, measured, 0.999), send_late_over5, send_late_max / 1000.0,
           wall > 0 ? 100 * gen_cpu / wall : 0, rss_idle, rss_conn, rss_mid, rss_max,
           wall > 0 && srv_cpu >= 0 ? 100 * srv_cpu / wall : -1.0, (gen_wait1 - gen_wait0) / 1e6,
           srv_wait0 >= 0 && srv_wait1 >= 0 ? (srv_wait1 - srv_wait0) / 1e6 : -1.0,
           send_late_over20, hist_share_upto(h_rtt, measured, 20.0));
    free(h_first);
    free(h_min);
    free(h_rtt);
}

static void report_talk(void)
{
    unsigned long long planned = 0, said = 0;
    long closed_early = 0;
    double hz = (double)sysconf(_SC_CLK_TCK);
    double wall = (wall_media1 - wall_media0) / 1e6;
    double steady_wall = (steady_t1 - steady_t0) / 1e6;
    double gen_cpu =
        (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
        (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
         ru0.ru_stime.tv_usec) /
            1e6;
    double srv_cpu = srv_cpu0 >= 0 && srv_cpu1 >= 0 ? (srv_cpu1 - srv_cpu0) / hz : -1;
    double cpu_pct = wall > 0 && srv_cpu >= 0 ? 100 * srv_cpu / wall : -1.0;
    double steady_pct = srv_cpu_steady0 >= 0 && srv_cpu_steady1 >= 0 && steady_wall > 0
                            ? 100 * (srv_cpu_steady1 - srv_cpu_steady0) / hz / steady_wall
                            : -1.0;
    double pct_first, pct_pace, per_utt;

    for (int i = 0; i < opt.n; i++) {
        struct conn *c = &conns[i];

        if (c->closed_early)
            closed_early++;
        reply_close(c, 0); /* a reply still playing when the run ended */
        if (!c->t0)
            continue;
        planned += (unsigned long long)c->talk_count;
        said += (unsigned long long)c->said;
    }
    qsort(gaps, (size_t)ngaps, sizeof(gaps[0]), cmp_ll);
    pct_first =
        reply_frames ? 100.0 * (double)(reply_frames - reply_late_first) / (double)reply_frames : 0;
    pct_pace =
        reply_frames ? 100.0 * (double)(reply_frames - reply_late_pace) / (double)reply_frames : 0;
    per_utt = said ? (double)answers / (double)said : 0;
#define GAP_Q(q) (ngaps ? gaps[(long)((q) * (double)(ngaps - 1) + 0.5)] / 1000.0 : -1.0)
    printf("streams: %d asked, %d open, %d failed to connect, %ld closed early\n", opt.n,
           established, failed_n, closed_early);
    printf("caller: %s, %.2f s of speech every %d ms from %d ms, spread over %d ms; %llu "
           "utterances planned, %llu said\n",
           opt.talk, talk_len * FRAME_US / 1e6, opt.talk_every_ms, opt.talk_first_ms,
           opt.talk_spread_ms, planned, said);
    printf("replies: %ld in all: %ld greetings, %ld answers (%.3f per utterance), %ld more; %ld "
           "cut by a clear (%ld clears); %ld marks echoed; %ld other messages\n",
           replies_total, greetings, answers, per_utt, extra_replies, replies_cut, clears_in,
           marks_echoed, unknown_in);
    printf("answer gap (utterance's last frame sent -> the reply's first frame) ms: p50 %.1f p95 "
           "%.1f p99 %.1f max %.1f\n",
           GAP_Q(0.5), GAP_Q(0.95), GAP_Q(0.99), GAP_Q(1.0));
    printf("reply length s: p50 %.2f max %.2f\n", hist_q(h_reply_len, replies_total, 0.5) / 1000,
           hist_q(h_reply_len, replies_total, 1.0) / 1000);
    printf("reply frames: %llu; on time (<= 20 ms behind the reply's schedule from its first "
           "frame): %.3f%% (%llu late, %ld replies with a late frame)\n",
           reply_frames, pct_first, reply_late_first, replies_late);
    printf("on pace (<= 20 ms behind the reply's median pace, lead aside):     %.3f%% (%llu "
           "off pace)\n",
           pct_pace, reply_late_pace);
    printf("lateness vs first-frame schedule ms: p50 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
           hist_q(h_reply_first, reply_frames, 0.5), hist_q(h_reply_first, reply_frames, 0.99),
           hist_q(h_reply_first, reply_frames, 0.999), hist_q(h_reply_first, reply_frames, 1.0));
    printf("lateness vs the reply's pace ms:      p50 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
           hist_q(h_reply_pace, reply_frames, 0.5), hist_q(h_reply_pace, reply_frames, 0.99),
           hist_q(h_reply_pace, reply_frames, 0.999), hist_q(h_reply_pace, reply_frames, 1.0));
    printf("generator: sends > 5 ms late %ld, > 20 ms late %ld, worst %.2f ms; CPU %.0f%% of "
           "one core; waited %.0f ms for its CPU (%ld involuntary switches)\n",
           send_late_over5, send_late_over20, send_late_max / 1000.0,
           wall > 0 ? 100 * gen_cpu / wall : 0, (gen_wait1 - gen_wait0) / 1e6,
           ru1.ru_nivcsw - ru0.ru_nivcsw);
    if (opt.server_pid > 0)
        printf("server: RSS idle %ld KiB, all open %ld KiB, mid-run %ld KiB, max %ld KiB, end %ld "
               "KiB; CPU %.0f%% of one core during media, %.0f%% in the steady part (%.1f s); "
               "its loop thread waited %.0f ms for its CPU\n",
               rss_idle, rss_conn, rss_mid, rss_max, rss_end, cpu_pct, steady_pct, steady_wall,
               srv_wait0 >= 0 && srv_wait1 >= 0 ? (srv_wait1 - srv_wait0) / 1e6 : -1.0);
    printf("RESULT mode=talk n=%d secs=%d open=%d failed=%d closed_early=%ld planned=%llu "
           "said=%llu replies=%ld greetings=%ld answers=%ld extra=%ld cut=%ld clears=%ld "
           "marks=%ld reply_frames=%llu late_first=%llu ontime_first=%.3f onpace=%.3f "
           "late_p99_ms=%.2f late_p999_ms=%.2f late_max_ms=%.2f pace_p99_ms=%.2f pace_max_ms=%.2f "
           "gap_p50_ms=%.1f gap_p95_ms=%.1f gap_p99_ms=%.1f gap_max_ms=%.1f send_late_over5=%ld "
           "send_late_over20=%ld gen_cpu=%.0f rss_idle_kb=%ld rss_conn_kb=%ld rss_mid_kb=%ld "
           "rss_max_kb=%ld rss_end_kb=%ld srv_cpu=%.0f srv_cpu_steady=%.0f gen_wait_ms=%.0f "
           "srv_wait_ms=%.0f\n",
           opt.n, opt.secs, established, failed_n, closed_early, planned, said, replies_total,
           greetings, answers, extra_replies, replies_cut, clears_in, marks_echoed, reply_frames,
           reply_late_first, pct_first, pct_pace, hist_q(h_reply_first, reply_frames, 0.99),
           hist_q(h_reply_first, reply_frames, 0.999), hist_q(h_reply_first, reply_frames, 1.0),
           hist_q(h_reply_pace, reply_frames, 0.99), hist_q(h_reply_pace, reply_frames, 1.0),
           GAP_Q(0.5), GAP_Q(0.95), GAP_Q(0.99), GAP_Q(1.0), send_late_over5, send_late_over20,
           wall > 0 ? 100 * gen_cpu / wall : 0, rss_idle, rss_conn, rss_mid, rss_max, rss_end,
           cpu_pct, steady_pct, (gen_wait1 - gen_wait0) / 1e6,
           srv_wait0 >= 0 && srv_wait1 >= 0 ? (srv_wait1 - srv_wait0) / 1e6 : -1.0);
#undef GAP_Q
}

/*
 * Talk mode: reads the caller's utterance, raw 8 kHz mu-law or a WAV file
 * (8 kHz mono, 16-bit PCM or mu-law), into one base64 payload per frame.
 */
static int load_talk(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf, *mu = NULL;
    size_t len = 0, n = 0;
    long size;

    if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) <= 0 || size > 16 * 1024 * 1024 ||
        fseek(f, 0, SEEK_SET)) {
        fprintf(stderr, "stream_load: cannot read %s\n", path);
        if (f)
            fclose(f);
        return -1;
    }
    buf = malloc((size_t)size);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "stream_load: cannot read %s\n", path);
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    len = (size_t)size;
    if (len >= 12 && memcmp(buf, "RIFF", 4) == 0 && memcmp(buf + 8, "WAVE", 4) == 0) {
        unsigned fmt = 0, ch = 0, rate = 0, bits = 0;
        size_t at = 12;

        while (at + 8 <= len) {
            size_t sz = (size_t)buf[at + 4] | (size_t)buf[at + 5] << 8 | (size_t)buf[at + 6] << 16 |
                        (size_t)buf[at + 7] << 24;
            const unsigned char *d = buf + at + 8;

            if (sz > len - at - 8)
                sz = len - at - 8;
            if (memcmp(buf + at, "fmt ", 4) == 0 && sz >= 16) {
                fmt = d[0] | d[1] << 8;
                ch = d[2] | d[3] << 8;
                rate = d[4] | d[5] << 8 | (unsigned)d[6] << 16 | (unsigned)d[7] << 24;
                bits = d[14] | d[15] << 8;
            } else if (memcmp(buf + at, "data", 4) == 0) {
                if (ch != 1 || rate != 8000 ||
                    !((fmt == 1 && bits == 16) || (fmt == 7 && bits == 8)))
                    break;
                n = fmt == 1 ? sz / 2 : sz;
                mu = malloc(n ? n : 1);
                if (!mu)
                    break;
                if (fmt == 7) {
                    memcpy(mu, d, n);
                } else {
                    for (size_t i = 0; i < n; i++)
                        mu[i] = mulaw_encode((int16_t)(d[2 * i] | d[2 * i + 1] << 8));
                }
                break;
            }
            at += 8 + sz + (sz & 1);
        }
        free(buf);
        if (!mu) {
            fprintf(stderr,
                    "stream_load: %s: a WAV file must be 8 kHz mono, 16-bit PCM or "
                    "mu-law\n",
                    path);
            return -1;
        }
    } else {
        mu = buf; /* raw mu-law */
        n = len;
    }
    talk_len = (int)((n + FRAME_BYTES - 1) / FRAME_BYTES);
    talk_b64 = calloc((size_t)talk_len, sizeof(*talk_b64));
    if (!talk_len || !talk_b64) {
        fprintf(stderr, "stream_load: %s holds no audio\n", path);
        free(mu);
        return -1;
    }
    for (int k = 0; k < talk_len; k++) {
        unsigned char frame[FRAME_BYTES];
        size_t from = (size_t)k * FRAME_BYTES,
               take = n - from < FRAME_BYTES ? n - from : FRAME_BYTES;

        memset(frame, MULAW_SILENCE, sizeof(frame));
        memcpy(frame, mu + from, take);
        b64_encode(frame, sizeof(frame), talk_b64[k]);
    }
    free(mu);
    return 0;
}

/* --- main ------------------------------------------------------------------------ */

static void on_signal(int s)
{
    (void)s;
    interrupted = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: stream_load --port PORT [-n STREAMS] [-d SECONDS] [options]\n"
            "       stream_load --port PORT --first-audio CALLS [options]\n"
            "  --host ADDR        server address (127.0.0.1)\n"
            "  --path PATH        WebSocket path (/voice/stream)\n"
            "  --token TOKEN      sign the upgrade with this auth token (X-Twilio-Signature);\n"
            "                     the stream tokens are keyed with SWITCHBOARD_STREAM_SECRET\n"
            "                     when it is set, else with this token\n"
            "  --url URL          the URL signed (wss://HOST:PORT/voice/stream)\n"
            "  --to E164          customParameters.To (+15005550007)\n"
            "  --agent TYPE       customParameters.agent (echo; '' to leave it out)\n"
            "  --server-pid PID   sample the server's VmRSS and CPU time\n"
            "  --inflight N       handshakes in flight at most while connecting (64)\n"
            "  --drain-ms MS      wait at least this long for echoes after the last frame,\n"
            "                     then until all are in or none came for 2 s (1000)\n"
            "  --poll             libev's poll() backend instead of epoll (to compare)\n"
            "  --spin             never sleep in epoll_wait (the server's sends wake nobody)\n"
            "  --via-writable     send each frame from a writable callback, not at once\n"
            "  --silence          send untagged silence (nothing is matched as an echo; for\n"
            "                     agents that listen, e.g. to let a greeting play out)\n"
            "  --talk FILE        a caller who talks: FILE's utterance (raw 8 kHz mu-law, or a\n"
            "                     WAV of 8 kHz mono 16-bit PCM or mu-law), silence between;\n"
            "                     measures the agent's replies (see the top of the source)\n"
            "  --talk-every MS    one utterance every MS per stream (10000)\n"
            "  --talk-first MS    the first utterance MS after the media starts (3000)\n"
            "  --talk-spread MS   first utterances spread over MS across streams (--talk-every)\n"
            "  --quiet\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"path", required_argument, NULL, 'P'},
        {"token", required_argument, NULL, 't'},
        {"url", required_argument, NULL, 'u'},
        {"to", required_argument, NULL, 'T'},
        {"agent", required_argument, NULL, 'a'},
        {"server-pid", required_argument, NULL, 's'},
        {"inflight", required_argument, NULL, 'i'},
        {"first-audio", required_argument, NULL, 'f'},
        {"drain-ms", required_argument, NULL, 'D'},
        {"quiet", no_argument, NULL, 'q'},
        {"poll", no_argument, NULL, 'L'},
        {"spin", no_argument, NULL, 'Y'},
        {"via-writable", no_argument, NULL, 'W'},
        {"silence", no_argument, NULL, 'S'},
        {"talk", required_argument, NULL, 'K'},
        {"talk-every", required_argument, NULL, 'E'},
        {"talk-first", required_argument, NULL, 'F'},
        {"talk-spread", required_argument, NULL, 'R'},
        {"streams", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    struct lws_context_creation_info info;
    unsigned char tail[FRAME_BYTES - 6];
    char urlbuf[400];
    struct rlimit rl;
    void *foreign_loops[1];
    int ch;

    while ((ch = getopt_long(argc, argv, "n:d:q", longopts, NULL)) != -1) {
        switch (ch) {
        case 'H':
            opt.host = optarg;
            break;
        case 'p':
            opt.port = atoi(optarg);
            break;
        case 'P':
            opt.path = optarg;
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
        case 'a':
            opt.agent = optarg;
            break;
        case 's':
            opt.server_pid = atoi(optarg);
            break;
        case 'i':
            opt.inflight_max = atoi(optarg);
            break;
        case 'f':
            opt.first_audio = atoi(optarg);
            break;
        case 'D':
            opt.drain_ms = atoi(optarg);
            break;
        case 'q':
            opt.quiet = 1;
            break;
        case 'L':
            opt.use_poll = 1;
            break;
        case 'Y':
            opt.spin = 1;
            break;
        case 'W':
            opt.via_writable = 1;
            break;
        case 'S':
            opt.silence = 1;
            break;
        case 'K':
            opt.talk = optarg;
            break;
        case 'E':
            opt.talk_every_ms = atoi(optarg);
            break;
        case 'F':
            opt.talk_first_ms = atoi(optarg);
            break;
        case 'R':
            opt.talk_spread_ms = atoi(optarg);
            break;
        case 'n':
            opt.n = atoi(optarg);
            break;
        case 'd':
            opt.secs = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (opt.port <= 0 || opt.n <= 0 || opt.n > 65535 || opt.secs <= 0 || opt.inflight_max <= 0 ||
        opt.first_audio < 0 || opt.first_audio > 4096)
        usage();
    if (opt.first_audio)
        opt.n = opt.first_audio; /* one connection slot per call, used one after another */
    if (opt.talk) {
        if (opt.first_audio || load_talk(opt.talk))
            usage();
        if (opt.talk_spread_ms < 0)
            opt.talk_spread_ms = opt.talk_every_ms;
        talk_every = opt.talk_every_ms / (int)(FRAME_US / 1000);
        if (talk_every <= talk_len || opt.talk_first_ms < 0) {
            fprintf(stderr,
                    "stream_load: --talk-every %d ms is not longer than the utterance "
                    "(%d ms)\n",
                    opt.talk_every_ms, talk_len * 20);
            usage();
        }
    }
    snprintf(host_hdr, sizeof(host_hdr), "%s:%d", opt.host, opt.port);
    if (opt.token) {
        if (!opt.url) {
            snprintf(urlbuf, sizeof(urlbuf), "wss://%s:%d%s", opt.host, opt.port, opt.path);
            opt.url = urlbuf;
        }
        if (sig_compute(opt.token, opt.url, NULL, sig) != 0) {
            fprintf(stderr, "stream_load: cannot sign %s\n", opt.url);
            return 2;
        }
    }
    {
        const char *secret = getenv("SWITCHBOARD_STREAM_SECRET");

        if (stream_token_key_init(&stream_key, secret ? secret : "", opt.token ? opt.token : "") !=
            0) {
            fprintf(stderr, "stream_load: cannot key the stream tokens\n");
            return 2;
        }
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.n + 64)
        fprintf(stderr, "stream_load: warning: open-files limit %lu is below %d streams\n",
                (unsigned long)rl.rlim_cur, opt.n);

    /* The payload after the 6 tag bytes: a quiet 400 Hz-ish pattern, fixed. */
    for (size_t i = 0; i < sizeof(tail); i++)
        tail[i] = (unsigned char)(0xF0 + (i % 20 < 10 ? i % 10 : 10 - i % 10));
    b64_encode(tail, sizeof(tail), tail_b64);
    {
        unsigned char quiet[FRAME_BYTES];

        memset(quiet, 0xFF, sizeof(quiet));
        b64_encode(quiet, sizeof(quiet), silence_b64);
    }

    nframes = opt.secs * 50;
    conns = calloc((size_t)opt.n, sizeof(*conns));
    if (!conns)
        return 2;
    for (int i = 0; i < opt.n; i++) {
        struct conn *c = &conns[i];

        c->idx = i;
        c->first_frame = -1;
        new_ids(c, i + 1);
        if (opt.talk) {
            /* Each stream's talk, spread over --talk-spread; a whole cycle left for each answer. */
            c->talk_f0 =
                (int)(((long long)opt.talk_first_ms + (long long)i * opt.talk_spread_ms / opt.n) /
                      (FRAME_US / 1000));
            c->talk_count =
                nframes >= c->talk_f0 + talk_every ? (nframes - c->talk_f0) / talk_every : 0;
            ngaps += c->talk_count;
        }
        if (!opt.first_audio) {
            c->arr = malloc((size_t)nframes * sizeof(*c->arr));
            c->sent = calloc((size_t)nframes, sizeof(*c->sent));
            if (!c->arr || !c->sent)
                return 2;
            for (int k = 0; k < nframes; k++)
                c->arr[k] = NO_ARRIVAL;
        }
    }
    if (opt.talk) {
        gaps = calloc((size_t)ngaps + 1, sizeof(*gaps));
        h_reply_first = hist_new();
        h_reply_pace = hist_new();
        h_reply_len = hist_new();
        if (!gaps)
            return 2;
        ngaps = 0;
    }
    if (opt.first_audio) {
        fa_lat = calloc((size_t)opt.first_audio, sizeof(*fa_lat));
        if (!fa_lat)
            return 2;
    }

    lws_set_log_level(LLL_ERR, NULL);
    /*
     * libev (epoll) rather than lws's default poll(): poll() walks every
     * socket on every wake-up, which at a thousand streams made the
     * generator as expensive as the server it measures.
     */
    loop = ev_loop_new(opt.use_poll ? EVBACKEND_POLL : EVBACKEND_EPOLL);
    if (!loop) {
        fprintf(stderr, "stream_load: cannot create the event loop\n");
        return 2;
    }
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_LIBEV;
    info.foreign_loops = foreign_loops;
    foreign_loops[0] = loop;
    info.timeout_secs = 30;
    ctx = lws_create_context(&info);
    if (!ctx) {
        fprintf(stderr, "stream_load: cannot create the lws context (libev event lib)\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    rss_idle = read_rss_kb(opt.server_pid);
    t_begin = now_us();
    phase_deadline = t_begin + (opt.first_audio ? 5000000LL : 120000000LL);
    {
        struct itimerspec its = {{0, 1000000}, {0, 1000000}};

        tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (tick_fd < 0 || timerfd_settime(tick_fd, 0, &its, NULL)) {
            fprintf(stderr, "stream_load: cannot set up the 1 ms clock\n");
            return 2;
        }
        ev_io_init(&tick_watcher, on_tick_fd, tick_fd, EV_READ);
        ev_io_start(loop, &tick_watcher);
    }
    if (opt.spin) {
        ev_idle_init(&spin_watcher, on_spin);
        ev_idle_start(loop, &spin_watcher);
    }
    ev_run(loop, 0);
    if (opt.spin)
        ev_idle_stop(loop, &spin_watcher);
    ev_io_stop(loop, &tick_watcher);
    if (opt.first_audio)
        report_first_audio();
    else if (opt.talk)
        report_talk();
    else
        report_load();
    fflush(stdout);
    lws_context_destroy(ctx);
    return 0;
}
