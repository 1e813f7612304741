/*
 * Tests for sim/stream: the Media Streams client runs against a small
 * WebSocket server written here with libwebsockets, in a thread, on
 * 127.0.0.1. The server checks the upgrade's X-Twilio-Signature, records
 * every message, and plays the application's part per test: echo audio,
 * send marks and clear, send malformed messages, close, or say nothing.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <math.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mulaw.h"
#include "core/sig.h"
#include "sim/audio.h"
#include "sim/stream.h"

#define TOKEN "12345"
#define ACCOUNT "AC0123456789abcdef0123456789abcdef"
#define CALL "CA0123456789abcdef0123456789abcdef"
#define MAX_MSGS 4096

enum mode {
    M_RECORD, /* only record */
    M_ECHO,   /* send back every non-silent frame */
    M_MARK,   /* on start: 25 frames of tone, then mark "m1" */
    M_CLEAR,  /* on start: 150 frames, marks "a" and "b"; clear after 10 frames in */
    M_BAD,    /* on start: send `bad` (MZSID replaced by the stream sid) */
    M_BINARY, /* on start: send a binary frame */
    M_CLOSE,  /* after 3 frames in: close 1000 "bye" */
    M_LATE,   /* once the caller is quiet again: 5 quiet frames then 5 of tone, one message */
    M_QUIET,  /* once the caller is quiet again: 10 quiet frames (never above the voiced level) */
};

struct out {
    struct out *next;
    int binary;
    size_t len;
    unsigned char buf[];
};

struct srv {
    struct lws_context *ctx;
    pthread_t thread;
    atomic_int stop;
    int port;
    enum mode mode;
    const char *bad;
    /* Filled by the server thread; read by the test after srv_stop(). */
    int upgrades;
    int sig_ok;
    char signed_url[256];
    char stream_sid[64];
    json_t *msgs;
    long media_in;
    long media_at_mark; /* inbound frames when the mark was sent */
    long media_at_echo; /* inbound frames when the mark came back */
    long media_at_clear;
    long media_at_echo_a;
    long media_at_echo_b;
    int close_now;
    int heard_loud; /* M_LATE, M_QUIET: 1 while the caller speaks, 2 once answered */
    int invalid_json;
    struct out *out_head;
    struct out *out_tail;
    struct lws *wsi;
};

static struct srv S;

static void srv_queue(struct srv *s, const void *data, size_t len, int binary)
{
    struct out *o = malloc(sizeof(*o) + LWS_PRE + len);

    cr_assert_not_null(o);
    o->next = NULL;
    o->binary = binary;
    o->len = len;
    memcpy(o->buf + LWS_PRE, data, len);
    if (s->out_tail)
        s->out_tail->next = o;
    else
        s->out_head = o;
    s->out_tail = o;
    if (s->wsi)
        lws_callback_on_writable(s->wsi);
}

static void srv_queue_json(struct srv *s, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);

    cr_assert_not_null(text);
    srv_queue(s, text, strlen(text), 0);
    free(text);
    json_decref(msg);
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/*
 * `quiet` frames of a 500 Hz tone at amplitude 300 (under the voiced level),
 * then `frames` frames of it at 8000, as one outbound media message.
 */
static void srv_send_audio(struct srv *s, int quiet, int frames)
{
    size_t n = (size_t)(quiet + frames) * 160;
    unsigned char *mu = malloc(n);
    char *text = malloc(4 * (n / 3 + 1) + 1);

    cr_assert(mu && text);
    for (size_t i = 0; i < n; i++)
        mu[i] = mulaw_encode((int16_t)((i < (size_t)quiet * 160 ? 300 : 8000) *
                                       sin(2 * M_PI * 500 * (double)i / 8000)));
    b64(mu, n, text);
    srv_queue_json(s, json_pack("{s:s, s:s, s:{s:s}}", "event", "media", "streamSid", s->stream_sid,
                                "media", "payload", text));
    free(mu);
    free(text);
}

/* `frames` frames of a 500 Hz tone as one outbound media message. */
static void srv_send_tone(struct srv *s, int frames)
{
    srv_send_audio(s, 0, frames);
}

static void srv_send_mark(struct srv *s, const char *name)
{
    srv_queue_json(s, json_pack("{s:s, s:s, s:{s:s}}", "event", "mark", "streamSid", s->stream_sid,
                                "mark", "name", name));
}

static void srv_on_start(struct srv *s)
{
    char text[512];
    const char *p;
    size_t n = 0;

    switch (s->mode) {
    case M_MARK:
        for (int i = 0; i < 5; i++)
            srv_send_tone(s, 5);
        srv_send_mark(s, "m1");
        s->media_at_mark = s->media_in;
        break;
    case M_CLEAR:
        srv_send_tone(s, 100);
        srv_send_mark(s, "a");
        srv_send_tone(s, 50);
        srv_send_mark(s, "b");
        break;
    case M_BAD:
        /* Substitutes the stream sid for the placeholder MZSID. */
        for (p = s->bad; *p && n < sizeof(text) - 64; p++) {
            if (strncmp(p, "MZSID", 5) == 0) {
                n += (size_t)snprintf(text + n, sizeof(text) - n, "%s", s->stream_sid);
                p += 4;
            } else {
                text[n++] = *p;
            }
        }
        srv_queue(s, text, n, 0);
        break;
    case M_BINARY:
        srv_queue(s, "\x01\x02\x03", 3, 1);
        break;
    default:
        break;
    }
}

/* Whether a payload is one frame of µ-law silence. */
static int is_silence(const char *payload)
{
    unsigned char silence[160];
    char text[220];

    memset(silence, MULAW_SILENCE, sizeof(silence));
    b64(silence, sizeof(silence), text);
    return strcmp(payload, text) == 0;
}

static void srv_on_message(struct srv *s, const char *data, size_t len)
{
    json_t *msg = json_loadb(data, len, 0, NULL);
    const char *event;

    if (!msg) {
        /* Asserted on the test's thread, in srv_stop(). */
        s->invalid_json++;
        return;
    }
    json_object_set_new(msg, "_rx_media", json_integer(s->media_in));
    json_array_append(s->msgs, msg);
    event = json_string_value(json_object_get(msg, "event"));
    if (event && strcmp(event, "start") == 0) {
        snprintf(s->stream_sid, sizeof(s->stream_sid), "%s",
                 json_string_value(json_object_get(msg, "streamSid")));
        srv_on_start(s);
    } else if (event && strcmp(event, "media") == 0) {
        const char *payload =
            json_string_value(json_object_get(json_object_get(msg, "media"), "payload"));

        s->media_in++;
        if (s->mode == M_ECHO && payload && !is_silence(payload))
            srv_queue_json(s, json_pack("{s:s, s:s, s:{s:s}}", "event", "media", "streamSid",
                                        s->stream_sid, "media", "payload", payload));
        if (s->mode == M_CLEAR && s->media_in == 10) {
            srv_queue_json(s,
                           json_pack("{s:s, s:s}", "event", "clear", "streamSid", s->stream_sid));
            s->media_at_clear = s->media_in;
        }
        /* The caller's first silent frame after speech: the utterance has ended. */
        if ((s->mode == M_LATE || s->mode == M_QUIET) && payload && s->heard_loud < 2) {
            if (!is_silence(payload)) {
                s->heard_loud = 1;
            } else if (s->heard_loud) {
                s->heard_loud = 2;
                srv_send_audio(s, s->mode == M_LATE ? 5 : 10, s->mode == M_LATE ? 5 : 0);
            }
        }
        if (s->mode == M_CLOSE && s->media_in == 3) {
            s->close_now = 1;
            lws_callback_on_writable(s->wsi);
        }
    } else if (event && strcmp(event, "mark") == 0) {
        const char *name = json_string_value(json_object_get(json_object_get(msg, "mark"), "name"));

        if (name && strcmp(name, "m1") == 0)
            s->media_at_echo = s->media_in;
        if (name && strcmp(name, "a") == 0)
            s->media_at_echo_a = s->media_in;
        if (name && strcmp(name, "b") == 0)
            s->media_at_echo_b = s->media_in;
    }
    json_decref(msg);
}

/* The URL the client signed: the server sits behind TLS, so wss://host/path. */
static void srv_check_signature(struct srv *s, struct lws *wsi)
{
    char host[128] = "", uri[128] = "", sig[64] = "";

    lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST);
    lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
    if (lws_hdr_custom_copy(wsi, sig, sizeof(sig), "x-twilio-signature:", 19) < 0)
        sig[0] = '\0';
    snprintf(s->signed_url, sizeof(s->signed_url), "wss://%s%s", host, uri);
    s->sig_ok = sig_validate(TOKEN, s->signed_url, NULL, sig) == 0;
}

static int srv_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    struct srv *s = &S;
    static char rx[SIM_STREAM_MAX_MESSAGE];
    static size_t rxlen;
    struct out *o;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        s->upgrades++;
        srv_check_signature(s, wsi);
        return s->sig_ok ? 0 : 1;
    case LWS_CALLBACK_ESTABLISHED:
        s->wsi = wsi;
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (rxlen + len > sizeof(rx))
            return -1;
        memcpy(rx + rxlen, in, len);
        rxlen += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            srv_on_message(s, rx, rxlen);
            rxlen = 0;
        }
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        o = s->out_head;
        if (o) {
            s->out_head = o->next;
            if (!s->out_head)
                s->out_tail = NULL;
            lws_write(wsi, o->buf + LWS_PRE, o->len, o->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
            free(o);
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (s->close_now) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"bye", 3);
            return -1;
        }
        return 0;
    case LWS_CALLBACK_CLOSED:
        s->wsi = NULL;
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols srv_protocols[] = {
    {"twilio-media", srv_callback, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *srv_main(void *arg)
{
    struct srv *s = arg;

    while (!atomic_load(&s->stop))
        lws_service(s->ctx, 0);
    return NULL;
}

static void srv_start(enum mode mode, const char *bad)
{
    struct lws_context_creation_info info;

    memset(&S, 0, sizeof(S));
    S.mode = mode;
    S.bad = bad;
    S.msgs = json_array();
    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof(info));
    info.port = 0;
    info.iface = "127.0.0.1";
    info.protocols = srv_protocols;
    info.fd_limit_per_thread = 32;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    S.ctx = lws_create_context(&info);
    cr_assert_not_null(S.ctx);
    S.port = lws_get_vhost_listen_port(lws_get_vhost_by_name(S.ctx, "default"));
    cr_assert_gt(S.port, 0);
    cr_assert_eq(pthread_create(&S.thread, NULL, srv_main, &S), 0);
}

static void srv_stop(void)
{
    /* Lets the last messages in flight arrive before looking at them. */
    usleep(50 * 1000);
    atomic_store(&S.stop, 1);
    lws_cancel_service(S.ctx);
    pthread_join(S.thread, NULL);
    lws_context_destroy(S.ctx);
    while (S.out_head) {
        struct out *o = S.out_head;

        S.out_head = o->next;
        free(o);
    }
    cr_assert_eq(S.invalid_json, 0, "the client sent messages that are not JSON");
}

static void srv_free(void)
{
    json_decref(S.msgs);
}

static void url_for(char *out, size_t size, const char *scheme, int port)
{
    snprintf(out, size, "%s://127.0.0.1:%d/voice/stream", scheme, port);
}

static void opts_init(struct sim_stream_opts *o, char *url, size_t size)
{
    memset(o, 0, sizeof(*o));
    url_for(url, size, "wss", S.port);
    o->url = url;
    o->plain = 1;
    o->token = TOKEN;
    o->account_sid = ACCOUNT;
    o->call_sid = CALL;
    o->bidirectional = 1;
    o->realtime = 1;
    o->max_ms = 10000;
}

static json_t *msg_at(size_t i)
{
    json_t *m = json_copy(json_array_get(S.msgs, i));

    cr_assert_not_null(m, "no message %zu (got %zu)", i, json_array_size(S.msgs));
    json_object_del(m, "_rx_media");
    return m;
}

static void assert_json(json_t *got, json_t *want)
{
    char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
    char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);

    cr_assert(json_equal(got, want), "got  %s\nwant %s", g, w);
    free(g);
    free(w);
    json_decref(got);
    json_decref(want);
}

static const char *event_at(size_t i)
{
    return json_string_value(json_object_get(json_array_get(S.msgs, i), "event"));
}

static double wav_rms(const char *path)
{
    struct sim_audio a;
    char err[256];
    double sum = 0;

    cr_assert_eq(sim_audio_read_wav(&a, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(a.rate, 8000);
    for (size_t i = 0; i < a.len; i++)
        sum += (double)a.samples[i] * a.samples[i];
    sum = a.len ? sqrt(sum / (double)a.len) : 0;
    sim_audio_release(&a);
    return sum;
}

static void make_tone(struct sim_audio *a, double seconds)
{
    size_t n = (size_t)(8000 * seconds);

    sim_audio_init(a, 8000);
    for (size_t i = 0; i < n; i++) {
        int16_t v = (int16_t)(6000 * sin(2 * M_PI * 400 * (double)i / 8000));

        cr_assert_eq(sim_audio_append(a, &v, 1), 0);
    }
}

static long long mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tmp_path(char *out, size_t size, const char *name)
{
    const char *dir = getenv("TMPDIR");

    snprintf(out, size, "%s/sb-stream-%ld-%s", dir && *dir ? dir : "/tmp", (long)getpid(), name);
}

static void quiet_lws(void)
{
    lws_set_log_level(LLL_ERR, NULL);
}

TestSuite(stream, .init = quiet_lws, .fini = srv_free, .timeout = 60);

Test(stream, messages_are_exactly_twilios)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    char n1[] = "FirstName", v1[] = "Jane", n2[] = "RemoteParty", v2[] = "Bob";
    struct form_field items[2] = {{n1, v1}, {n2, v2}};
    struct form custom = {items, 2, NULL};
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_SILENCE, .ms = 100},
        {.kind = SIM_STEP_DTMF, .text = "5"},
        {.kind = SIM_STEP_HANGUP},
    };
    unsigned char silence[160];
    char payload[220];
    const char *sid;
    size_t i;
    int rc;

    srv_start(M_RECORD, NULL);
    opts_init(&o, url, sizeof(url));
    o.custom = &custom;
    o.steps = steps;
    o.nsteps = 3;
    rc = sim_stream_run(&o, &res);
    srv_stop();
    cr_assert_eq(rc, 0, "%s", res.error);
    cr_assert(res.ok);
    cr_assert(S.sig_ok, "signature over %s", S.signed_url);
    cr_assert_str_eq(S.signed_url, url);
    sid = res.stream_sid;
    cr_assert_eq(strlen(sid), 34);
    cr_assert_eq(strncmp(sid, "MZ", 2), 0);
    cr_assert_eq(strspn(sid + 2, "0123456789abcdef"), 32);

    memset(silence, MULAW_SILENCE, sizeof(silence));
    b64(silence, sizeof(silence), payload);
    cr_assert_eq(json_array_size(S.msgs), 14);
    assert_json(msg_at(0), json_pack("{s:s, s:s, s:s}", "event", "connected", "protocol", "Call",
                                     "version", "1.0.0"));
    assert_json(msg_at(1),
                json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:[s], s:{s:s, s:s}, s:{s:s, s:i, s:i}}, "
                          "s:s}",
                          "event", "start", "sequenceNumber", "1", "start", "accountSid", ACCOUNT,
                          "streamSid", sid, "callSid", CALL, "tracks", "inbound",
                          "customParameters", "FirstName", "Jane", "RemoteParty", "Bob",
                          "mediaFormat", "encoding", "audio/x-mulaw", "sampleRate", 8000,
                          "channels", 1, "streamSid", sid));
    /* Five frames of silence, the key (with its 100 ms of silence), stop. */
    for (i = 2; i <= 12; i++) {
        char seq[24], chunk[24], ts[24];
        long k = i <= 6 ? (long)i - 1 : (long)i - 2;

        if (i == 7)
            continue;
        snprintf(seq, sizeof(seq), "%zu", i);
        snprintf(chunk, sizeof(chunk), "%ld", k);
        snprintf(ts, sizeof(ts), "%ld", (k - 1) * 20);
        assert_json(msg_at(i),
                    json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:s}", "event", "media",
                              "sequenceNumber", seq, "media", "track", "inbound", "chunk", chunk,
                              "timestamp", ts, "payload", payload, "streamSid", sid));
    }
    assert_json(msg_at(7),
                json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "event", "dtmf", "streamSid", sid,
                          "sequenceNumber", "7", "dtmf", "track", "inbound_track", "digit", "5"));
    assert_json(msg_at(13),
                json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "event", "stop", "sequenceNumber", "13",
                          "stop", "accountSid", ACCOUNT, "callSid", CALL, "streamSid", sid));
    cr_assert_eq(res.frames_sent, 10);
    cr_assert_eq(res.dtmf_sent, 1);
    cr_assert_eq(res.messages_sent, 14);
    cr_assert_eq(res.steps_done, 3);
    cr_assert(res.hung_up);
    cr_assert_eq(res.close_code, 1000);
    cr_assert_eq(res.frames_received, 0);
    cr_assert_eq(res.first_audio_ms, -1);
}

Test(stream, raw_json_keeps_numbers_as_strings)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_SILENCE, .ms = 20},
        {.kind = SIM_STEP_HANGUP},
    };
    json_t *start, *media;

    srv_start(M_RECORD, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 2;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    start = json_array_get(S.msgs, 1);
    media = json_array_get(S.msgs, 2);
    cr_assert(json_is_string(json_object_get(start, "sequenceNumber")));
    cr_assert(json_is_integer(json_object_get(
        json_object_get(json_object_get(start, "start"), "mediaFormat"), "sampleRate")));
    cr_assert(json_is_object(json_object_get(json_object_get(start, "start"), "customParameters")));
    cr_assert_eq(
        json_object_size(json_object_get(json_object_get(start, "start"), "customParameters")), 0);
    cr_assert(json_is_string(json_object_get(json_object_get(media, "media"), "chunk")));
    cr_assert(json_is_string(json_object_get(json_object_get(media, "media"), "timestamp")));
}

Test(stream, sequence_numbers_count_every_message)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_WAIT_REPLY, .ms = 100, .timeout_ms = 3000},
        {.kind = SIM_STEP_HANGUP},
    };
    long chunk = 0;

    srv_start(M_MARK, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 2;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    for (size_t i = 1; i < json_array_size(S.msgs); i++) {
        json_t *m = json_array_get(S.msgs, i);
        char want[24];

        snprintf(want, sizeof(want), "%zu", i);
        cr_assert_str_eq(json_string_value(json_object_get(m, "sequenceNumber")), want,
                         "message %zu (%s)", i, event_at(i));
        if (strcmp(event_at(i), "media") == 0) {
            char c[24], ts[24];

            chunk++;
            snprintf(c, sizeof(c), "%ld", chunk);
            snprintf(ts, sizeof(ts), "%ld", (chunk - 1) * 20);
            cr_assert_str_eq(
                json_string_value(json_object_get(json_object_get(m, "media"), "chunk")), c);
            cr_assert_str_eq(
                json_string_value(json_object_get(json_object_get(m, "media"), "timestamp")), ts);
        }
    }
    cr_assert_eq(chunk, res.frames_sent);
}

Test(stream, mark_is_echoed_after_its_audio_has_played)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128], wav[256];
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_WAIT_REPLY, .ms = 200, .timeout_ms = 5000},
        {.kind = SIM_STEP_HANGUP},
    };
    size_t n;
    long frames_between;

    tmp_path(wav, sizeof(wav), "heard.wav");
    srv_start(M_MARK, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 2;
    o.record_path = wav;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    cr_assert_eq(res.frames_received, 5);
    cr_assert_eq(res.bytes_received, 25 * 160);
    cr_assert_eq(res.played_ms, 500);
    cr_assert_eq(res.marks_received, 1);
    cr_assert_eq(res.marks_echoed, 1);
    cr_assert_geq(res.first_audio_ms, 0);
    cr_assert_gt(S.media_at_echo, 0, "mark never echoed");
    /*
     * 500 ms of audio: the client sends one frame per 20 ms played, so about
     * 25 of its frames pass between the mark and its echo.
     */
    frames_between = S.media_at_echo - S.media_at_mark;
    cr_assert(frames_between >= 23 && frames_between <= 28, "%ld frames", frames_between);
    /* The echo is exactly Twilio's shape, and comes before stop. */
    n = json_array_size(S.msgs);
    cr_assert_str_eq(event_at(n - 1), "stop");
    cr_assert_str_eq(event_at(n - 2) ? event_at(n - 2) : "", "media");
    for (size_t i = 0; i < n; i++) {
        if (strcmp(event_at(i), "mark") == 0) {
            char seq[24];

            snprintf(seq, sizeof(seq), "%zu", i);
            assert_json(msg_at(i),
                        json_pack("{s:s, s:s, s:s, s:{s:s}}", "event", "mark", "sequenceNumber",
                                  seq, "streamSid", res.stream_sid, "mark", "name", "m1"));
        }
    }
    cr_assert_gt(wav_rms(wav), 1000);
    unlink(wav);
}

Test(stream, clear_drops_audio_and_returns_every_pending_mark)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_SILENCE, .ms = 600},
        {.kind = SIM_STEP_HANGUP},
    };
    int a = -1, b = -1;

    srv_start(M_CLEAR, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 2;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    cr_assert_eq(res.clears, 1);
    cr_assert_eq(res.marks_received, 2);
    cr_assert_eq(res.marks_echoed, 2);
    /* Only what played before the clear: about 10 of 150 frames. */
    cr_assert(res.played_ms >= 100 && res.played_ms <= 400, "%ld ms", res.played_ms);
    cr_assert_gt(S.media_at_echo_a, 0);
    cr_assert(S.media_at_echo_a - S.media_at_clear <= 3, "a after %ld frames",
              S.media_at_echo_a - S.media_at_clear);
    cr_assert(S.media_at_echo_b - S.media_at_clear <= 3);
    for (size_t i = 0; i < json_array_size(S.msgs); i++) {
        json_t *m = json_array_get(S.msgs, i);

        if (strcmp(event_at(i), "mark") != 0)
            continue;
        if (a < 0)
            a = (int)i;
        else
            b = (int)i;
        (void)m;
    }
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(S.msgs, (size_t)a), "mark"), "name")),
                     "a");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(S.msgs, (size_t)b), "mark"), "name")),
                     "b");
    cr_assert_eq(b, a + 1, "the pending marks go back together");
}

Test(stream, echo_reply_is_played_recorded_and_timed)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    struct sim_audio tone;
    char url[128], wav[256];
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_SAY_AUDIO, .audio = &tone},
        {.kind = SIM_STEP_WAIT_REPLY, .ms = 200, .timeout_ms = 5000},
        {.kind = SIM_STEP_HANGUP},
    };

    make_tone(&tone, 0.4);
    tmp_path(wav, sizeof(wav), "echo.wav");
    srv_start(M_ECHO, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 3;
    o.record_path = wav;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    cr_assert_eq(res.frames_received, 20);
    cr_assert_eq(res.played_ms, 400);
    cr_assert_eq(res.nturns, 1);
    cr_assert_geq(res.turn_gap_ms[0], 0);
    cr_assert_geq(res.voice_to_voice_ms[0], res.turn_gap_ms[0]);
    cr_assert_geq(res.first_audio_ms, 0);
    cr_assert_gt(wav_rms(wav), 500);
    sim_audio_release(&tone);
    unlink(wav);
}

Test(stream, no_reply_leaves_the_gap_at_minus_one)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    struct sim_audio tone;
    char url[128];
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_SAY_AUDIO, .audio = &tone},
        {.kind = SIM_STEP_WAIT_REPLY, .timeout_ms = 200},
        {.kind = SIM_STEP_HANGUP},
    };

    make_tone(&tone, 0.1);
    srv_start(M_RECORD, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 3;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    cr_assert_eq(res.nturns, 1);
    cr_assert_eq(res.turn_gap_ms[0], -1);
    cr_assert_eq(res.voice_to_voice_ms[0], -1);
    cr_assert_eq(res.steps_done, 3);
    sim_audio_release(&tone);
}

Test(stream, voiced_frames_are_found_by_level)
{
    unsigned char mu[4 * SIM_STREAM_FRAME_BYTES];

    /* µ-law silence (both zeros) and the steps around it are not voiced. */
    memset(mu, MULAW_SILENCE, sizeof(mu));
    cr_assert_eq(sim_stream_first_voiced(mu, sizeof(mu)), -1);
    memset(mu, 0x7F, sizeof(mu));
    cr_assert_eq(sim_stream_first_voiced(mu, sizeof(mu)), -1);
    cr_assert_eq(sim_stream_first_voiced(mu, 0), -1);
    for (size_t i = 0; i < sizeof(mu); i++)
        mu[i] = mulaw_encode((int16_t)(i % 2 ? 480 : -480));
    cr_assert_eq(sim_stream_first_voiced(mu, sizeof(mu)), -1, "480 is under the level");
    /* One loud sample, of either sign, makes its frame voiced. */
    mu[2 * SIM_STREAM_FRAME_BYTES + 37] = mulaw_encode(600);
    cr_assert_eq(sim_stream_first_voiced(mu, sizeof(mu)), 2 * SIM_STREAM_FRAME_BYTES);
    mu[SIM_STREAM_FRAME_BYTES + 159] = mulaw_encode(-2000);
    cr_assert_eq(sim_stream_first_voiced(mu, sizeof(mu)), SIM_STREAM_FRAME_BYTES);
    mu[0] = mulaw_encode(32000);
    cr_assert_eq(sim_stream_first_voiced(mu, sizeof(mu)), 0);
    /* A partial frame counts from its start. */
    memset(mu, MULAW_SILENCE, sizeof(mu));
    mu[SIM_STREAM_FRAME_BYTES + 10] = mulaw_encode(1000);
    cr_assert_eq(sim_stream_first_voiced(mu, SIM_STREAM_FRAME_BYTES + 20), SIM_STREAM_FRAME_BYTES);
    cr_assert_eq(sim_stream_first_voiced(mu, SIM_STREAM_FRAME_BYTES + 10), -1);
}

/* Runs a 0.1 s tone, a wait for the reply and a hang-up against `mode`. */
static void run_one_turn(enum mode mode, struct sim_stream_result *res)
{
    struct sim_stream_opts o;
    struct sim_audio tone;
    char url[128];
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_SAY_AUDIO, .audio = &tone},
        {.kind = SIM_STEP_WAIT_REPLY, .ms = 200, .timeout_ms = 3000},
        {.kind = SIM_STEP_HANGUP},
    };

    make_tone(&tone, 0.1);
    srv_start(mode, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 3;
    cr_assert_eq(sim_stream_run(&o, res), 0, "%s", res->error);
    srv_stop();
    sim_audio_release(&tone);
    cr_assert_eq(res->nturns, 1);
}

Test(stream, voice_to_voice_counts_the_quiet_audio_ahead_of_the_voice)
{
    struct sim_stream_result res;

    run_one_turn(M_LATE, &res);
    cr_assert_eq(res.frames_received, 1);
    cr_assert_geq(res.turn_gap_ms[0], 0);
    /* The voice starts playing after the 5 quiet frames (100 ms) that came with it. */
    cr_assert_eq(res.voice_to_voice_ms[0], res.turn_gap_ms[0] + 100, "gap %ld, voice to voice %ld",
                 res.turn_gap_ms[0], res.voice_to_voice_ms[0]);
}

Test(stream, a_reply_without_voice_has_no_voice_to_voice)
{
    struct sim_stream_result res;

    run_one_turn(M_QUIET, &res);
    cr_assert_eq(res.frames_received, 1);
    cr_assert_geq(res.turn_gap_ms[0], 0, "the reply came");
    cr_assert_eq(res.voice_to_voice_ms[0], -1);
}

Test(stream, spoken_text_is_sent_as_audio)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_SAY_TEXT, .text = "hello world", .lang = "en-US"},
        {.kind = SIM_STEP_HANGUP},
    };
    long loud = 0;

    srv_start(M_RECORD, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 2;
    o.realtime = 0;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    cr_assert_gt(res.frames_sent, 20);
    cr_assert_lt(res.frames_sent, 150);
    for (size_t i = 0; i < json_array_size(S.msgs); i++) {
        const char *p = json_string_value(
            json_object_get(json_object_get(json_array_get(S.msgs, i), "media"), "payload"));

        if (p && !is_silence(p))
            loud++;
    }
    cr_assert_gt(loud, 10);
}

Test(stream, fast_mode_sends_without_pacing)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    struct sim_audio tone;
    char url[128];
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_SAY_AUDIO, .audio = &tone},
        {.kind = SIM_STEP_SILENCE, .ms = 1000},
        {.kind = SIM_STEP_HANGUP},
    };
    json_t *last;

    make_tone(&tone, 3.0);
    srv_start(M_RECORD, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 3;
    o.realtime = 0;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    cr_assert_eq(res.frames_sent, 200);
    /* Four seconds of media in well under that. */
    cr_assert_lt(res.duration_ms, 3000);
    last = json_array_get(S.msgs, json_array_size(S.msgs) - 2);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(last, "media"), "timestamp")), "3980");
    sim_audio_release(&tone);
}

Test(stream, signs_the_wss_url_when_connecting_to_ws)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128], wss[128];
    struct sim_stream_step steps[] = {{.kind = SIM_STEP_HANGUP}};

    srv_start(M_RECORD, NULL);
    opts_init(&o, url, sizeof(url));
    url_for(url, sizeof(url), "ws", S.port);
    url_for(wss, sizeof(wss), "wss", S.port);
    o.plain = 0;
    o.sign_url = wss;
    o.steps = steps;
    o.nsteps = 1;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    cr_assert(S.sig_ok);
    cr_assert_str_eq(event_at(2), "stop");
}

Test(stream, wrong_token_fails_the_handshake)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];

    srv_start(M_RECORD, NULL);
    opts_init(&o, url, sizeof(url));
    o.token = "wrong";
    cr_assert_eq(sim_stream_run(&o, &res), SB_EIO);
    srv_stop();
    cr_assert_eq(S.upgrades, 1);
    cr_assert_not(S.sig_ok);
    cr_assert_not(res.ok);
    cr_assert_eq(res.error_code, 31920, "%d: %s", res.error_code, res.error);
    cr_assert(strstr(res.error, "handshake"), "%s", res.error);
    cr_assert_eq(json_array_size(S.msgs), 0);
}

/* A malformed server message ends the run at once with a precise error. */
static void expect_bad(enum mode mode, const char *bad, int bidirectional, const char *want)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_SILENCE, .ms = 5000},
        {.kind = SIM_STEP_HANGUP},
    };
    long long t0 = mono_ms();
    int rc;

    srv_start(mode, bad);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 2;
    o.bidirectional = bidirectional;
    rc = sim_stream_run(&o, &res);
    srv_stop();
    cr_assert_eq(rc, SB_EIO);
    cr_assert_not(res.ok);
    cr_assert(strstr(res.error, want), "error '%s' lacks '%s'", res.error, want);
    cr_assert_lt(mono_ms() - t0, 4000, "the run went on after the bad message");
    cr_assert_eq(res.close_code, 1011);
}

Test(stream, not_json)
{
    expect_bad(M_BAD, "hello there", 1, "not JSON");
}

Test(stream, json_not_object)
{
    expect_bad(M_BAD, "[1,2]", 1, "not an object");
}

Test(stream, no_event)
{
    expect_bad(M_BAD, "{\"streamSid\":\"MZSID\"}", 1, "no \"event\" string");
}

Test(stream, unknown_event)
{
    expect_bad(M_BAD, "{\"event\":\"dance\",\"streamSid\":\"MZSID\"}", 1,
               "unknown event \"dance\"");
}

Test(stream, media_without_payload)
{
    expect_bad(M_BAD, "{\"event\":\"media\",\"streamSid\":\"MZSID\",\"media\":{}}", 1,
               "no \"media.payload\" string");
}

Test(stream, media_with_bad_base64)
{
    expect_bad(M_BAD,
               "{\"event\":\"media\",\"streamSid\":\"MZSID\",\"media\":{\"payload\":\"!!!!\"}}", 1,
               "invalid base64");
}

Test(stream, media_with_cut_base64)
{
    expect_bad(M_BAD,
               "{\"event\":\"media\",\"streamSid\":\"MZSID\",\"media\":{\"payload\":\"//8\"}}", 1,
               "not a multiple of 4");
}

Test(stream, media_with_padding_inside_base64)
{
    expect_bad(M_BAD,
               "{\"event\":\"media\",\"streamSid\":\"MZSID\",\"media\":{\"payload\":\"/w==/w==\"}}",
               1, "'=' before the end");
}

Test(stream, mark_without_name)
{
    expect_bad(M_BAD, "{\"event\":\"mark\",\"streamSid\":\"MZSID\",\"mark\":{}}", 1,
               "no \"mark.name\" string");
}

Test(stream, wrong_stream_sid)
{
    expect_bad(M_BAD, "{\"event\":\"clear\",\"streamSid\":\"MZ00\"}", 1,
               "streamSid \"MZ00\", expected");
}

Test(stream, missing_stream_sid)
{
    expect_bad(M_BAD, "{\"event\":\"clear\"}", 1, "clear message has no \"streamSid\"");
}

Test(stream, binary_frame)
{
    expect_bad(M_BINARY, NULL, 1, "binary frame");
}

Test(stream, media_on_unidirectional_stream)
{
    expect_bad(M_BAD,
               "{\"event\":\"media\",\"streamSid\":\"MZSID\",\"media\":{\"payload\":\"/w==\"}}", 0,
               "unidirectional");
}

Test(stream, unidirectional_sends_no_dtmf)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_DTMF, .text = "12"},
        {.kind = SIM_STEP_HANGUP},
    };

    srv_start(M_RECORD, NULL);
    opts_init(&o, url, sizeof(url));
    o.bidirectional = 0;
    o.steps = steps;
    o.nsteps = 2;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    cr_assert_eq(res.dtmf_sent, 0);
    cr_assert_eq(res.frames_sent, 10);
    for (size_t i = 0; i < json_array_size(S.msgs); i++)
        cr_assert_str_neq(event_at(i), "dtmf");
}

Test(stream, server_close_ends_the_stream_cleanly)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    struct sim_stream_step steps[] = {{.kind = SIM_STEP_SILENCE, .ms = 8000}};

    srv_start(M_CLOSE, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 1;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    cr_assert(res.ok);
    cr_assert(res.closed_by_server);
    cr_assert_not(res.hung_up);
    cr_assert_eq(res.close_code, 1000);
    cr_assert_str_eq(res.close_reason, "bye");
    cr_assert_lt(res.duration_ms, 4000);
    cr_assert_eq(res.steps_done, 0);
}

static void *hang_up_later(void *arg)
{
    usleep(300 * 1000);
    atomic_store((atomic_int *)arg, 1);
    return NULL;
}

Test(stream, hangup_flag_before_connecting)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    atomic_int flag = 1;

    srv_start(M_RECORD, NULL);
    opts_init(&o, url, sizeof(url));
    o.hangup = &flag;
    cr_assert_eq(sim_stream_run(&o, &res), SB_EIO);
    srv_stop();
    cr_assert(strstr(res.error, "before the stream connected"), "%s", res.error);
}

Test(stream, hangup_flag_from_another_thread)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    atomic_int flag = 0;
    struct sim_stream_step steps[] = {{.kind = SIM_STEP_SILENCE, .ms = 8000}};
    pthread_t t;
    size_t n;

    srv_start(M_RECORD, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 1;
    o.hangup = &flag;
    cr_assert_eq(pthread_create(&t, NULL, hang_up_later, &flag), 0);
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    pthread_join(t, NULL);
    srv_stop();
    cr_assert(res.hung_up);
    cr_assert_eq(res.close_code, 1000);
    cr_assert_lt(res.duration_ms, 3000);
    n = json_array_size(S.msgs);
    cr_assert_str_eq(event_at(n - 1), "stop");
}

static int never_answering_socket(int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Answers one request with a plain HTTP 403, as a server does on a bad signature. */
static void *answer_403(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
    char req[4096];
    static const char reply[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n"
                                "Connection: close\r\n\r\n";

    if (fd >= 0) {
        ssize_t got = read(fd, req, sizeof(req));
        ssize_t put = got > 0 ? write(fd, reply, sizeof(reply) - 1) : 0;

        (void)put;
        close(fd);
    }
    return NULL;
}

Test(stream, http_403_is_a_handshake_error)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    int port;
    int fd = never_answering_socket(&port);
    pthread_t t;

    cr_assert_eq(pthread_create(&t, NULL, answer_403, &fd), 0);
    memset(&o, 0, sizeof(o));
    url_for(url, sizeof(url), "ws", port);
    o.url = url;
    o.token = TOKEN;
    o.bidirectional = 1;
    o.max_ms = 5000;
    cr_assert_eq(sim_stream_run(&o, &res), SB_EIO);
    pthread_join(t, NULL);
    close(fd);
    cr_assert_eq(res.error_code, 31920, "%d: %s", res.error_code, res.error);
    cr_assert(strstr(res.error, "HTTP 403 instead of 101"), "%s", res.error);
}

Test(stream, silent_server_is_bounded_by_max_ms)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    int port;
    int fd = never_answering_socket(&port);
    long long t0 = mono_ms();

    memset(&o, 0, sizeof(o));
    url_for(url, sizeof(url), "ws", port);
    o.url = url;
    o.token = TOKEN;
    o.bidirectional = 1;
    o.realtime = 1;
    o.max_ms = 500;
    cr_assert_eq(sim_stream_run(&o, &res), SB_EIO);
    close(fd);
    cr_assert(res.timed_out);
    cr_assert_eq(res.error_code, 31901, "%d: %s", res.error_code, res.error);
    cr_assert_lt(mono_ms() - t0, 3000);
}

Test(stream, open_stream_is_bounded_by_max_ms)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    long long t0 = mono_ms();

    srv_start(M_RECORD, NULL);
    opts_init(&o, url, sizeof(url));
    o.max_ms = 600;
    cr_assert_eq(sim_stream_run(&o, &res), SB_EIO);
    srv_stop();
    cr_assert(res.timed_out);
    cr_assert(strstr(res.error, "time limit of 600 ms"), "%s", res.error);
    cr_assert_lt(mono_ms() - t0, 4000);
    cr_assert_gt(res.frames_sent, 20);
}

Test(stream, refused_connection)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];
    int port;
    int fd = never_answering_socket(&port);

    close(fd);
    memset(&o, 0, sizeof(o));
    url_for(url, sizeof(url), "ws", port);
    o.url = url;
    o.max_ms = 5000;
    cr_assert_eq(sim_stream_run(&o, &res), SB_EIO);
    cr_assert_eq(res.error_code, 31902, "%d: %s", res.error_code, res.error);
    cr_assert_not(res.timed_out);
}

static void count_event(void *arg, long ms, const char *event, const char *detail)
{
    int *counts = arg;

    (void)ms;
    (void)detail;
    if (strcmp(event, "connected") == 0)
        counts[0]++;
    else if (strcmp(event, "reply-start") == 0)
        counts[1]++;
    else if (strcmp(event, "stop") == 0)
        counts[2]++;
}

Test(stream, wav_file_is_resampled_and_sent)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    struct sim_audio wide;
    char url[128], path[256];
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_SAY_WAV, .text = path},
        {.kind = SIM_STEP_HANGUP},
    };
    int counts[3] = {0, 0, 0};

    tmp_path(path, sizeof(path), "say16k.wav");
    sim_audio_init(&wide, 16000);
    for (int i = 0; i < 8000; i++) {
        int16_t v = (int16_t)(5000 * sin(2 * M_PI * 300 * i / 16000.0));

        cr_assert_eq(sim_audio_append(&wide, &v, 1), 0);
    }
    cr_assert_eq(sim_audio_write_wav(&wide, path), 0);
    srv_start(M_ECHO, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 2;
    o.realtime = 0;
    o.on_event = count_event;
    o.event_arg = counts;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    unlink(path);
    sim_audio_release(&wide);
    /* 0.5 s at 16 kHz is 4000 samples at 8 kHz: exactly 25 frames. */
    cr_assert_eq(res.frames_sent, 25);
    cr_assert_eq(res.nturns, 1);
    cr_assert_eq(counts[0], 1);
    cr_assert_eq(counts[2], 1);
}

Test(stream, tls_to_a_plain_server_fails)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128];

    srv_start(M_RECORD, NULL);
    opts_init(&o, url, sizeof(url));
    o.plain = 0;
    o.max_ms = 5000;
    cr_assert_eq(sim_stream_run(&o, &res), SB_EIO);
    srv_stop();
    cr_assert_eq(res.error_code, 31910, "%d: %s", res.error_code, res.error);
    cr_assert_eq(json_array_size(S.msgs), 0);
}

Test(stream, bad_options_are_explained)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    struct sim_stream_step wav[] = {{.kind = SIM_STEP_SAY_WAV, .text = "/nonexistent/a.wav"}};
    struct sim_stream_step keys[] = {{.kind = SIM_STEP_DTMF, .text = "12x"}};

    memset(&o, 0, sizeof(o));
    o.url = "http://127.0.0.1:1/x";
    cr_assert_eq(sim_stream_run(&o, &res), SB_EINVAL);
    cr_assert(strstr(res.error, "wss://"), "%s", res.error);

    o.url = "ws://127.0.0.1:1/x";
    o.steps = wav;
    o.nsteps = 1;
    cr_assert_eq(sim_stream_run(&o, &res), SB_EINVAL);
    cr_assert(strstr(res.error, "/nonexistent/a.wav"), "%s", res.error);

    o.steps = keys;
    cr_assert_eq(sim_stream_run(&o, &res), SB_EINVAL);
    cr_assert(strstr(res.error, "12x"), "%s", res.error);
}

/* --- noise --- */

static double rms_of(const int16_t *v, size_t n)
{
    double sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += (double)v[i] * v[i];
    return sqrt(sum / (double)n);
}

Test(stream, noise_is_white_at_its_level_and_repeats_with_its_seed)
{
    struct sim_audio a = SIM_AUDIO_INIT, b = SIM_AUDIO_INIT, c = SIM_AUDIO_INIT;
    double dbfs, mean = 0, lag1 = 0, power = 0;

    cr_assert_eq(sim_stream_noise(&a, 2000, -20, 42), 0);
    cr_assert_eq(a.rate, 8000);
    cr_assert_eq(a.len, 16000);
    dbfs = 20 * log10(rms_of(a.samples, a.len) / 32768.0);
    cr_assert(fabs(dbfs + 20) < 0.3, "level %.2f dBFS", dbfs);
    /* White: no offset, and a sample says nothing about the next one. */
    for (size_t i = 0; i < a.len; i++) {
        mean += a.samples[i];
        power += (double)a.samples[i] * a.samples[i];
        if (i)
            lag1 += (double)a.samples[i] * a.samples[i - 1];
    }
    mean /= (double)a.len;
    cr_assert(fabs(mean) < 100, "mean %.1f", mean);
    cr_assert(fabs(lag1 / power) < 0.05, "correlation %.3f", lag1 / power);
    /* The same seed, the same samples; another seed, others. */
    cr_assert_eq(sim_stream_noise(&b, 2000, -20, 42), 0);
    cr_assert_eq(memcmp(a.samples, b.samples, a.len * sizeof(int16_t)), 0);
    cr_assert_eq(sim_stream_noise(&c, 2000, -20, 43), 0);
    cr_assert_neq(memcmp(a.samples, c.samples, a.len * sizeof(int16_t)), 0);
    sim_audio_release(&a);
    sim_audio_release(&b);
    sim_audio_release(&c);

    /* Other levels; at 0 dBFS the peaks are clipped at full scale. */
    cr_assert_eq(sim_stream_noise(&a, 1000, -40, 0), 0);
    dbfs = 20 * log10(rms_of(a.samples, a.len) / 32768.0);
    cr_assert(fabs(dbfs + 40) < 0.3, "level %.2f dBFS", dbfs);
    sim_audio_release(&a);
    cr_assert_eq(sim_stream_noise(&a, 1000, 0, 7), 0);
    dbfs = 20 * log10(rms_of(a.samples, a.len) / 32768.0);
    cr_assert(dbfs < 0 && dbfs > -3, "level %.2f dBFS", dbfs);
    sim_audio_release(&a);
    cr_assert_eq(sim_stream_noise(&a, 1, -90, 7), 0);
    cr_assert_eq(a.len, 8);
    sim_audio_release(&a);
    cr_assert_eq(sim_stream_noise(&a, SIM_STREAM_MAX_NOISE_MS, -20, 7), 0);
    cr_assert_eq(a.len, 960000);
    sim_audio_release(&a);
}

Test(stream, noise_needs_a_length_and_a_level_in_range)
{
    struct sim_audio a = SIM_AUDIO_INIT;

    cr_assert_eq(sim_stream_noise(&a, 0, -20, 1), SB_EINVAL);
    cr_assert_eq(sim_stream_noise(&a, -5, -20, 1), SB_EINVAL);
    cr_assert_eq(sim_stream_noise(&a, SIM_STREAM_MAX_NOISE_MS + 1, -20, 1), SB_EINVAL);
    cr_assert_eq(sim_stream_noise(&a, 100, 0.5, 1), SB_EINVAL);
    cr_assert_eq(sim_stream_noise(&a, 100, -90.5, 1), SB_EINVAL);
    cr_assert_eq(sim_stream_noise(&a, 100, NAN, 1), SB_EINVAL);
    cr_assert_null(a.samples);
}

static void noise_events(void *arg, long ms, const char *event, const char *detail)
{
    char *out = arg;
    size_t n = strlen(out);

    (void)ms;
    if (strcmp(event, "noise") == 0 || strcmp(event, "wait-timeout") == 0 ||
        strcmp(event, "turn") == 0)
        snprintf(out + n, 512 - n, "%s:%s;", event, strcmp(event, "noise") == 0 ? detail : "");
}

Test(stream, noise_is_sent_as_audio_and_is_no_utterance)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    struct sim_audio want = SIM_AUDIO_INIT;
    unsigned char mu[SIM_STREAM_FRAME_BYTES];
    char url[128], seen[512] = "";
    struct sim_stream_step steps[] = {
        {.kind = SIM_STEP_NOISE, .ms = 400, .level_dbfs = -20, .seed = 9},
        {.kind = SIM_STEP_HANGUP},
    };
    size_t frame = 0;

    cr_assert_eq(sim_stream_noise(&want, 400, -20, 9), 0);
    srv_start(M_RECORD, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 2;
    o.realtime = 0;
    o.on_event = noise_events;
    o.event_arg = seen;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    cr_assert_eq(res.frames_sent, 20);
    cr_assert_eq(res.nturns, 0, "noise is not an utterance");
    cr_assert_str_eq(seen, "noise:ms=400 dbfs=-20;");
    /* Every frame is the seeded noise, in µ-law, in order. */
    for (size_t i = 0; i < json_array_size(S.msgs); i++) {
        const char *p = json_string_value(
            json_object_get(json_object_get(json_array_get(S.msgs, i), "media"), "payload"));
        char expect[220];

        if (!p)
            continue;
        cr_assert_lt(frame, 20);
        mulaw_encode_buf(want.samples + frame * SIM_STREAM_FRAME_BYTES, SIM_STREAM_FRAME_BYTES, mu);
        b64(mu, sizeof(mu), expect);
        cr_assert_str_eq(p, expect, "frame %zu", frame);
        frame++;
    }
    cr_assert_eq(frame, 20);
    sim_audio_release(&want);
}

Test(stream, a_wait_after_noise_waits_for_audio_that_comes_after_it)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    char url[128], seen[512] = "";
    struct sim_stream_step steps[] = {
        /* The greeting (25 frames of tone) is heard out... */
        {.kind = SIM_STEP_WAIT_REPLY, .ms = 200, .timeout_ms = 3000},
        {.kind = SIM_STEP_NOISE, .ms = 100, .level_dbfs = -30, .seed = 1},
        /* ...and nothing answers the noise: this wait runs out. */
        {.kind = SIM_STEP_WAIT_REPLY, .ms = 200, .timeout_ms = 500},
        {.kind = SIM_STEP_HANGUP},
    };

    srv_start(M_MARK, NULL);
    opts_init(&o, url, sizeof(url));
    o.steps = steps;
    o.nsteps = 4;
    o.on_event = noise_events;
    o.event_arg = seen;
    cr_assert_eq(sim_stream_run(&o, &res), 0, "%s", res.error);
    srv_stop();
    cr_assert_str_eq(seen, "noise:ms=100 dbfs=-30;wait-timeout:;");
    cr_assert_eq(res.nturns, 0);
    cr_assert_eq(res.steps_done, 4);
}

Test(stream, bad_noise_steps_are_explained)
{
    struct sim_stream_opts o;
    struct sim_stream_result res;
    struct sim_stream_step none[] = {{.kind = SIM_STEP_NOISE, .ms = 0, .level_dbfs = -20}};
    struct sim_stream_step loud[] = {{.kind = SIM_STEP_NOISE, .ms = 100, .level_dbfs = 3}};

    memset(&o, 0, sizeof(o));
    o.url = "ws://127.0.0.1:1/x";
    o.steps = none;
    o.nsteps = 1;
    cr_assert_eq(sim_stream_run(&o, &res), SB_EINVAL);
    cr_assert_str_eq(res.error, "stream step 1: noise lasts 1 to 120000 ms, not 0");
    o.steps = loud;
    cr_assert_eq(sim_stream_run(&o, &res), SB_EINVAL);
    cr_assert_str_eq(res.error, "stream step 1: noise level 3 dBFS is not within -90 to 0");
}
