/*
 * Tests for media/session over simulated time. A fake io table records what
 * the session sends (parsed back with jansson), the closes it asks for, the
 * synthesis requests and the start callback; the tests play Twilio's part
 * (connected, start, media, dtmf, mark, stop) and the synthesizer's
 * (session_audio), and move the clock in 20 ms steps.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mulaw.h"
#include "core/phone.h"
#include "media/event.h"
#include "media/pacer.h"
#include "media/session.h"

#define MS 1000LL
#define FRAME_US (20 * MS)
#define F PHONE_FRAME_BYTES
#define LEAD_FRAMES (PACER_DEFAULT_LEAD_MS / 20)

#define STREAM "MZ18ad3ab5a668481ce02b83e7395059f0"
#define OTHER_STREAM "MZ00000000000000000000000000000000"
#define CALL "CA2a4ef7a0ad0c4b8f3e0a1b2c3d4e5f60"
#define ACCOUNT "AC0123456789abcdef0123456789abcdef"

#define GREETING "Thank you for calling Acme Dental. How can I help you?"
#define LANG "en-US"
#define VOICE "Polly.Joanna-Neural"

/* The rule agent's English lines (agent/rules.c). */
#define HOURS_TEXT                                                                                 \
    "We are open Monday to Friday, from nine in the morning to five in the afternoon. What "       \
    "else can I do for you?"
#define TRANSFER_TEXT "Please hold while I connect you with a person."
#define GOODBYE_TEXT "Thank you for calling. Goodbye!"

/* The start message arrives 1 s after the socket opened. */
#define T_START (1000 * MS)

/* -10 dBFS peak: 32767 * 10^(-10/20), worked out by hand to keep the tests free of libm. */
#define TONE_PEAK 10362.0

#define MAX_SENT 4096
#define MAX_SYNTH 16

#define CONNECTED_MSG "{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0.0\"}"

/* The start example of Twilio's docs, with this test's SIDs. */
#define START_MSG_FOR(sid)                                                                         \
    "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"accountSid\":\"" ACCOUNT           \
    "\",\"streamSid\":\"" sid "\",\"callSid\":\"" CALL                                             \
    "\",\"tracks\":[\"inbound\"],\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\","                 \
    "\"sampleRate\":8000,\"channels\":1},\"customParameters\":{\"FirstName\":\"Jane\","            \
    "\"LastName\":\"Doe\",\"RemoteParty\":\"Bob\"}},\"streamSid\":\"" sid "\"}"
#define START_MSG START_MSG_FOR(STREAM)

struct synth_req {
    unsigned id;
    char text[AGENT_TEXT_SIZE];
    char lang[16];
    char voice[64];
};

#define MAX_LINES 16

struct fake {
    char *sent[MAX_SENT];
    json_t *json[MAX_SENT];
    size_t nsent;
    int sends_tried;
    int send_fail_at; /* the send with this number (from 1) fails; 0: none */
    int closes;
    int close_code;
    char close_reason[128];
    size_t sent_at_close; /* messages sent before the close */
    struct synth_req synth[MAX_SYNTH];
    int nsynth;
    const char *synth_fail_text; /* synthesize refuses this text */
    int started;
    char started_call[SID_SIZE];
    char started_stream[SID_SIZE];
    char first_name[64];
    int nparams;
    const struct agent_ops *agent; /* NULL: agent_for("receptionist") */
    long long now;                 /* the time of the message being fed */
    long seq;
    /* the spy agent */
    int interrupted;
    long heard_ms;
    int hangups;
    /* the recogniser (listen_io) */
    int listen;                 /* open with listen_io */
    int recognized;             /* utterances handed over */
    unsigned rec_id;            /* the last one's id */
    size_t rec_len;             /* and its bytes */
    int recognize_fail;         /* recognize refuses */
    size_t heard_bytes;         /* audio streamed through hear */
    int hear_starts;            /* utterances begun there */
    char said[256];             /* the caller's last transcript line */
    char lines[MAX_LINES][256]; /* the agent's transcript lines, in the order written */
    long line_latency[MAX_LINES];
    int nlines;
};

static struct fake fk;
static struct session s;

/* -- the fake io table -- */

static int fake_send(void *arg, const char *text, size_t len)
{
    struct fake *f = arg;
    json_error_t jerr;

    f->sends_tried++;
    if (f->send_fail_at && f->sends_tried == f->send_fail_at)
        return SB_EIO;
    cr_assert_lt(f->nsent, MAX_SENT);
    f->sent[f->nsent] = strndup(text, len);
    f->json[f->nsent] = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    cr_assert_not_null(f->json[f->nsent], "sent message is not JSON (%s): %.*s", jerr.text,
                       (int)len, text);
    f->nsent++;
    return 0;
}

static void fake_close(void *arg, int code, const char *reason)
{
    struct fake *f = arg;

    f->closes++;
    f->close_code = code;
    f->sent_at_close = f->nsent;
    snprintf(f->close_reason, sizeof(f->close_reason), "%s", reason);
}

static int fake_synthesize(void *arg, unsigned id, const char *text, const char *lang,
                           const char *voice)
{
    struct fake *f = arg;
    struct synth_req *r;

    cr_assert_lt(f->nsynth, MAX_SYNTH);
    r = &f->synth[f->nsynth++];
    r->id = id;
    snprintf(r->text, sizeof(r->text), "%s", text);
    snprintf(r->lang, sizeof(r->lang), "%s", lang ? lang : "(null)");
    snprintf(r->voice, sizeof(r->voice), "%s", voice ? voice : "(null)");
    if (f->synth_fail_text && strcmp(text, f->synth_fail_text) == 0)
        return SB_EIO;
    return 0;
}

/* Plays the server: the call is found and the agent starts. */
static void fake_started(void *arg, struct session *ss, const struct media_event *start)
{
    struct fake *f = arg;
    const char *first = media_event_param(start, "FirstName");
    struct agent_call call;

    f->started++;
    snprintf(f->started_call, sizeof(f->started_call), "%s", ss->call_sid);
    snprintf(f->started_stream, sizeof(f->started_stream), "%s", start->stream_sid);
    snprintf(f->first_name, sizeof(f->first_name), "%s", first ? first : "");
    f->nparams = start->nparams;
    memset(&call, 0, sizeof(call));
    call.call_sid = ss->call_sid;
    call.tenant_name = "Acme Dental";
    call.lang = LANG;
    call.greeting = GREETING;
    call.can_transfer = 1;
    session_begin(ss, f->agent ? f->agent : agent_for("receptionist"), &call, VOICE, NULL, f->now);
}

static const struct session_io fake_io = {
    &fk, fake_send, fake_close, fake_synthesize, fake_started, NULL, NULL, NULL,
};

static int fake_recognize(void *arg, unsigned id, unsigned char *mulaw, size_t len,
                          const char *lang)
{
    struct fake *f = arg;

    cr_assert_str_eq(lang, LANG);
    free(mulaw);
    if (f->recognize_fail)
        return SB_EBUSY;
    f->recognized++;
    f->rec_id = id;
    f->rec_len = len;
    return 0;
}

static void fake_hear(void *arg, const unsigned char *mulaw, size_t len, int start)
{
    struct fake *f = arg;

    cr_assert(mulaw && len);
    if (start) {
        f->hear_starts++;
        f->heard_bytes = 0;
    }
    f->heard_bytes += len;
}

static void fake_transcript(void *arg, int agent, const char *text, long latency_ms)
{
    struct fake *f = arg;

    if (!agent) {
        snprintf(f->said, sizeof(f->said), "%s", text);
        return;
    }
    if (f->nlines < MAX_LINES) {
        snprintf(f->lines[f->nlines], sizeof(f->lines[0]), "%s", text);
        f->line_latency[f->nlines++] = latency_ms;
    }
}

/* The same with a recogniser: the session hands over utterances and waits for words. */
static const struct session_io listen_io = {
    &fk,          fake_send,      fake_close,      fake_synthesize,
    fake_started, fake_recognize, fake_transcript, fake_hear,
};

/* -- a spy agent: the rule agent's words, counting interruptions and hangups -- */

static int spy_open(void **out, const struct agent_call *call, const struct agent_sink *sink,
                    const struct agent_env *env)
{
    return agent_rules_ops.open(out, call, sink, env);
}

static void spy_start(void *agent)
{
    agent_rules_ops.start(agent);
}

static void spy_turn(void *agent, const struct agent_turn *turn)
{
    agent_rules_ops.turn(agent, turn);
}

static void spy_interrupt(void *agent, long heard_ms, const char *heard)
{
    (void)agent;
    (void)heard;
    fk.interrupted++;
    fk.heard_ms = heard_ms;
}

static void spy_close(void *agent)
{
    fk.hangups++;
    agent_rules_ops.close(agent);
}

static const struct agent_ops spy_ops = {
    "spy", spy_open, spy_start, spy_turn, spy_interrupt, NULL, NULL, spy_close, NULL, NULL,
};

/* -- fixture -- */

static void setup(void)
{
    log_set_level(LOG_ERROR);
    memset(&fk, 0, sizeof(fk));
    memset(&s, 0, sizeof(s));
    fk.seq = 1;
    fk.heard_ms = -1;
}

static void teardown(void)
{
    session_release(&s);
    for (size_t i = 0; i < fk.nsent; i++) {
        free(fk.sent[i]);
        json_decref(fk.json[i]);
    }
}

TestSuite(session, .init = setup, .fini = teardown);

/* -- Twilio's side -- */

static void open_session(const struct session_config *cfg)
{
    session_init(&s, fk.listen ? &listen_io : &fake_io, cfg, 0);
}

static int feed(const char *text, long long now)
{
    fk.now = now;
    return session_message(&s, text, strlen(text), now);
}

static int feedf(long long now, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int feedf(long long now, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    cr_assert(n > 0 && (size_t)n < sizeof(text));
    return feed(text, now);
}

/* connected at 0, the docs' start at T_START: the agent greets. */
static void open_and_start(void)
{
    open_session(NULL);
    cr_assert_eq(feed(CONNECTED_MSG, 0), 0);
    cr_assert_eq(feed(START_MSG, T_START), 0);
    cr_assert_eq(fk.started, 1);
}

/* One inbound media message carrying `len` mu-law bytes, on stream `sid`. */
static int feed_media_on(const char *sid, const unsigned char *audio, size_t len, long long now)
{
    char b64[F * 4];
    long seq = ++fk.seq;

    cr_assert_lt((len + 2) / 3 * 4, sizeof(b64));
    EVP_EncodeBlock((unsigned char *)b64, audio, (int)len);
    return feedf(
        now,
        "{\"event\":\"media\",\"sequenceNumber\":\"%ld\",\"media\":{\"track\":\"inbound\","
        "\"chunk\":\"%ld\",\"timestamp\":\"%lld\",\"payload\":\"%s\"},\"streamSid\":\"%s\"}",
        seq, seq - 1, now > T_START ? (now - T_START) / MS : 0, b64, sid);
}

static int feed_media(const unsigned char *frame, long long now)
{
    return feed_media_on(STREAM, frame, F, now);
}

static int feed_dtmf(char digit, long long now)
{
    return feedf(now,
                 "{\"event\":\"dtmf\",\"streamSid\":\"" STREAM "\",\"sequenceNumber\":\"%ld\","
                 "\"dtmf\":{\"track\":\"inbound_track\",\"digit\":\"%c\"}}",
                 ++fk.seq, digit);
}

static int feed_mark(const char *name, long long now)
{
    return feedf(now,
                 "{\"event\":\"mark\",\"sequenceNumber\":\"%ld\",\"streamSid\":\"" STREAM "\","
                 "\"mark\":{\"name\":\"%s\"}}",
                 ++fk.seq, name);
}

static int feed_stop(long long now)
{
    return feedf(now,
                 "{\"event\":\"stop\",\"sequenceNumber\":\"%ld\",\"stop\":{\"accountSid\":"
                 "\"" ACCOUNT "\",\"callSid\":\"" CALL "\"},\"streamSid\":\"" STREAM "\"}",
                 ++fk.seq);
}

/* -- audio -- */

/* One period of 1 kHz at 8 kHz: sin(2 pi k / 8). */
static const double sine8[8] = {0, 0.70710678, 1, 0.70710678, 0, -0.70710678, -1, -0.70710678};

/* 20 ms of a 1 kHz tone at -10 dBFS: loud speech as far as the detector goes. */
static void tone_frame(unsigned char *out)
{
    for (int i = 0; i < F; i++)
        out[i] = mulaw_encode((int16_t)(sine8[i % 8] * TONE_PEAK));
}

static void silence_frame(unsigned char *out)
{
    for (int i = 0; i < F; i++)
        out[i] = mulaw_encode(0);
}

/* `n` bytes of reply audio whose content depends on `seed`, so that frames can be matched. */
static unsigned char *reply_audio(size_t n, unsigned seed)
{
    unsigned char *a = malloc(n ? n : 1);

    cr_assert_not_null(a);
    for (size_t i = 0; i < n; i++)
        a[i] = (unsigned char)((seed * 37u + i) % 251u);
    return a;
}

/* The synthesizer delivers `ms` of audio for utterance `id`. */
static void say(unsigned id, long ms, long long now)
{
    size_t n = (size_t)ms * 8;
    unsigned char *a = reply_audio(n, id);

    session_audio(&s, id, a, n, now);
    session_audio_end(&s, id, now);
    free(a);
}

/* -- what the session sent -- */

static const char *str_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    cr_assert(json_is_string(v), "'%s' is not a string", key);
    return json_string_value(v);
}

static const char *event_of(size_t i)
{
    cr_assert_lt(i, fk.nsent);
    return str_at(fk.json[i], "event");
}

static size_t count_from(size_t from, const char *event)
{
    size_t n = 0;

    for (size_t i = from; i < fk.nsent; i++)
        n += strcmp(event_of(i), event) == 0;
    return n;
}

/* Index of the first `event` message at or after `from`, or (size_t)-1. */
static size_t find_from(size_t from, const char *event)
{
    for (size_t i = from; i < fk.nsent; i++) {
        if (strcmp(event_of(i), event) == 0)
            return i;
    }
    return (size_t)-1;
}

/* Checks that message i is a media message on this stream with one 160-byte frame. */
static void media_frame(size_t i, unsigned char *out)
{
    unsigned char buf[1024];
    json_t *media;
    const char *payload;
    size_t n, pad = 0;
    int got;

    cr_assert_str_eq(event_of(i), "media", "message %zu: %s", i, fk.sent[i]);
    cr_assert_str_eq(str_at(fk.json[i], "streamSid"), STREAM);
    cr_assert_eq(json_object_size(fk.json[i]), 3, "%s", fk.sent[i]);
    media = json_object_get(fk.json[i], "media");
    cr_assert(json_is_object(media));
    payload = str_at(media, "payload");
    n = strlen(payload);
    cr_assert(n > 0 && n % 4 == 0 && n / 4 * 3 <= sizeof(buf), "payload length %zu", n);
    got = EVP_DecodeBlock(buf, (const unsigned char *)payload, (int)n);
    cr_assert_geq(got, 0, "payload is not base64");
    while (pad < 2 && payload[n - 1 - pad] == '=')
        pad++;
    cr_assert_eq((size_t)got - pad, (size_t)F, "frame %zu has %zu bytes", i, (size_t)got - pad);
    if (out)
        memcpy(out, buf, F);
}

static void assert_mark(size_t i, const char *name)
{
    json_t *mark;

    cr_assert_str_eq(event_of(i), "mark", "message %zu: %s", i, fk.sent[i]);
    cr_assert_str_eq(str_at(fk.json[i], "streamSid"), STREAM);
    mark = json_object_get(fk.json[i], "mark");
    cr_assert(json_is_object(mark), "%s", fk.sent[i]);
    cr_assert_str_eq(str_at(mark, "name"), name);
}

static void assert_closed(int code, enum session_outcome outcome, const char *reason)
{
    cr_assert_eq(fk.closes, 1, "closes: %d", fk.closes);
    cr_assert_eq(fk.close_code, code, "close code %d, want %d", fk.close_code, code);
    cr_assert_eq(s.outcome, outcome, "outcome %s, want %s", session_outcome_name(s.outcome),
                 session_outcome_name(outcome));
    cr_assert_str_eq(s.reason, reason);
    cr_assert_str_eq(fk.close_reason, reason);
}

/* Ticks every 20 ms from `from` until nothing is queued; returns the time of the last tick. */
static long long play_out(long long from)
{
    long long t = from;

    for (int i = 0; i < 100000; i++, t += FRAME_US) {
        if (session_tick(&s, t) < 0)
            return t;
    }
    cr_assert_fail("the reply never finished");
    return t;
}

/* Starts, plays `ms` of greeting and echoes its mark: the agent now listens. */
static long long greet(long ms)
{
    long long t = T_START + 100 * MS;

    open_and_start();
    say(1, ms, t);
    t = play_out(t);
    cr_assert_str_eq(event_of(fk.nsent - 1), "mark");
    t += PACER_DEFAULT_LEAD_MS * MS;
    cr_assert_eq(feed_mark("u1", t), 0);
    cr_assert_eq(s.playing, 0);
    return t;
}

/* One 20 ms step: a caller frame arrives, then the session ticks. */
static void step(const unsigned char *frame, long long t)
{
    cr_assert_eq(feed_media(frame, t), 0);
    session_tick(&s, t);
}

/* -- start and the greeting -- */

Test(session, start_calls_started_and_greeting_is_paced_with_a_mark)
{
    const size_t len = 150 * F + 80; /* 151 frames, the last one half audio */
    unsigned char *audio = reply_audio(len, 1);
    unsigned char frame[F];
    long long t0 = T_START + 300 * MS, next;
    int k;

    open_session(NULL);
    cr_assert_eq(feed(CONNECTED_MSG, 0), 0);
    cr_assert_eq(fk.started, 0, "started before the start message");
    cr_assert_eq(feed(START_MSG, T_START), 0);
    cr_assert_eq(fk.started, 1);
    cr_assert_str_eq(fk.started_call, CALL);
    cr_assert_str_eq(fk.started_stream, STREAM);
    cr_assert_str_eq(fk.first_name, "Jane");
    cr_assert_eq(fk.nparams, 3);
    cr_assert_str_eq(s.stream_sid, STREAM);
    cr_assert_str_eq(s.call_sid, CALL);
    cr_assert_str_eq(s.account_sid, ACCOUNT);
    cr_assert_eq(s.started_us, T_START);

    /* The greeting is the first utterance, in the call's language and voice. */
    cr_assert_eq(fk.nsynth, 1);
    cr_assert_eq(fk.synth[0].id, 1);
    cr_assert_str_eq(fk.synth[0].text, GREETING);
    cr_assert_str_eq(fk.synth[0].lang, LANG);
    cr_assert_str_eq(fk.synth[0].voice, VOICE);
    cr_assert_eq(fk.nsent, 0);
    cr_assert_eq(fk.closes, 0);

    session_audio(&s, 1, audio, len, t0 - 10 * MS);
    session_audio_end(&s, 1, t0 - 10 * MS);
    cr_assert_eq(fk.nsent, 0, "audio goes out on ticks only");

    /* At t0 the lead goes out at once: the frame due now and 200 ms ahead. */
    next = session_tick(&s, t0);
    cr_assert_eq(fk.nsent, 1 + LEAD_FRAMES, "%zu frames at t0", fk.nsent);
    cr_assert_eq(next, FRAME_US, "next tick in %lld us", next);
    cr_assert_eq(s.first_audio_ms, 300);

    /* Then one frame per tick: 50 frames per simulated second. */
    for (k = 1; k <= 50; k++) {
        size_t before = fk.nsent;

        session_tick(&s, t0 + k * FRAME_US);
        cr_assert_eq(fk.nsent - before, 1, "tick at +%d ms sent %zu", k * 20, fk.nsent - before);
    }
    cr_assert_eq(count_from(0, "media"), 1 + LEAD_FRAMES + 50);

    /* The rest, to the end: a mark follows the last frame, not earlier. */
    for (; fk.nsent < 151 && k < 1000; k++)
        session_tick(&s, t0 + k * FRAME_US);
    cr_assert_eq(k - 1, 150 - LEAD_FRAMES, "the last frame went out at tick %d", k - 1);
    cr_assert_eq(fk.nsent, 152, "%zu messages", fk.nsent);
    for (size_t i = 0; i < 151; i++) {
        media_frame(i, frame);
        if (i < 150)
            cr_assert_arr_eq(frame, audio + i * F, F, "frame %zu differs", i);
    }
    cr_assert_arr_eq(frame, audio + 150 * F, 80);
    for (int i = 80; i < F; i++)
        cr_assert_eq(frame[i], MULAW_SILENCE, "padding byte %d is %#x", i, frame[i]);
    assert_mark(151, "u1");
    cr_assert_eq(json_object_size(fk.json[151]), 3);
    cr_assert_eq(s.frames_out, 151);

    cr_assert_eq(session_tick(&s, t0 + k * FRAME_US), -1);
    cr_assert_eq(fk.nsent, 152);
    cr_assert_eq(fk.closes, 0);
    free(audio);
}

Test(session, configured_lead_bounds_the_first_burst)
{
    struct session_config cfg = {.lead_ms = 100};
    long long t0 = T_START + 50 * MS;

    open_session(&cfg);
    cr_assert_eq(feed(START_MSG, T_START), 0, "start without connected is accepted");
    cr_assert_eq(fk.started, 1);
    say(1, 1000, t0);
    session_tick(&s, t0);
    cr_assert_eq(fk.nsent, 1 + 100 / 20);
    session_tick(&s, t0 + FRAME_US);
    cr_assert_eq(fk.nsent, 2 + 100 / 20);
}

Test(session, begin_happens_once)
{
    struct agent_call call = {CALL, "Acme Dental", LANG, "Another greeting", 1, NULL};

    open_and_start();
    cr_assert_eq(fk.nsynth, 1);
    session_begin(&s, agent_for("receptionist"), &call, VOICE, NULL, T_START);
    cr_assert_eq(fk.nsynth, 1, "a second begin spoke again");
}

/* -- marks and stale audio -- */

Test(session, mark_echo_ends_playing_and_stale_audio_is_dropped)
{
    long long t = T_START + 100 * MS;
    size_t n;

    open_and_start();
    say(1, 400, t);
    cr_assert_eq(s.playing, 1);
    t = play_out(t);
    assert_mark(fk.nsent - 1, "u1");
    cr_assert_eq(s.playing, 1, "the greeting plays until Twilio echoes its mark");

    cr_assert_eq(feed_mark("u9", t + 10 * MS), 0);
    cr_assert_eq(feed_mark("greeting", t + 10 * MS), 0);
    cr_assert_eq(s.playing, 1, "a mark that is not ours ended the greeting");
    cr_assert_eq(feed_mark("u1", t + 200 * MS), 0);
    cr_assert_eq(s.playing, 0);
    cr_assert_eq(fk.closes, 0);

    /* A new reply supersedes the greeting: late greeting audio is not played. */
    t += 1000 * MS;
    cr_assert_eq(feed_dtmf('1', t), 0);
    cr_assert_eq(fk.nsynth, 2);
    cr_assert_eq(fk.synth[1].id, 2);
    n = fk.nsent;
    say(1, 400, t);
    cr_assert(pacer_idle(&s.pacer), "stale audio was queued");
    cr_assert_eq(s.playing, 0);
    session_tick(&s, t);
    session_tick(&s, t + FRAME_US);
    cr_assert_eq(fk.nsent, n, "stale audio was sent");

    say(2, 400, t + 40 * MS);
    cr_assert_eq(s.playing, 2);
    session_tick(&s, t + 40 * MS);
    cr_assert_eq(fk.nsent, n + 1 + LEAD_FRAMES);
    media_frame(n, NULL);
}

/* -- keys -- */

Test(session, dtmf_1_speaks_the_hours)
{
    long long t = greet(400);

    cr_assert_eq(feed_dtmf('1', t), 0);
    cr_assert_eq(fk.nsynth, 2);
    cr_assert_eq(fk.synth[1].id, 2);
    cr_assert_str_eq(fk.synth[1].text, HOURS_TEXT);
    cr_assert_str_eq(fk.synth[1].lang, LANG);
    cr_assert_str_eq(fk.synth[1].voice, VOICE);
    say(2, 600, t + 100 * MS);
    t = play_out(t + 100 * MS);
    assert_mark(fk.nsent - 1, "u2");
    cr_assert_eq(feed_mark("u2", t + 200 * MS), 0);
    cr_assert_eq(fk.closes, 0, "the hours do not end the call");
    cr_assert_eq(s.outcome, SESSION_OPEN);
}

Test(session, dtmf_0_transfers_once_the_words_have_been_heard)
{
    long long t = greet(400);

    cr_assert_eq(feed_dtmf('0', t), 0);
    cr_assert_eq(fk.nsynth, 2);
    cr_assert_eq(fk.synth[1].id, 2);
    cr_assert_str_eq(fk.synth[1].text, TRANSFER_TEXT);
    cr_assert_eq(fk.closes, 0, "closed before the caller heard why");
    say(2, 600, t + 100 * MS);
    t = play_out(t + 100 * MS);
    assert_mark(fk.nsent - 1, "u2");
    cr_assert_eq(fk.closes, 0, "closed before the mark came back");
    cr_assert_eq(feed_mark("u1", t + 100 * MS), 0);
    cr_assert_eq(fk.closes, 0, "the greeting's mark started the transfer");
    cr_assert_eq(feed_mark("u2", t + 200 * MS), 0);
    assert_closed(1000, SESSION_TRANSFER, "agent transfers the call");
}

Test(session, dtmf_hash_hangs_up_after_goodbye)
{
    long long t = greet(400);

    cr_assert_eq(feed_dtmf('#', t), 0);
    cr_assert_eq(fk.nsynth, 2);
    cr_assert_str_eq(fk.synth[1].text, GOODBYE_TEXT);
    say(2, 600, t + 100 * MS);
    t = play_out(t + 100 * MS);
    cr_assert_eq(fk.closes, 0);
    cr_assert_eq(feed_mark("u2", t + 200 * MS), 0);
    assert_closed(1000, SESSION_HANGUP, "agent hangs up");
}

Test(session, transfer_that_cannot_be_synthesized_transfers_at_once)
{
    long long t = greet(400);

    fk.synth_fail_text = HOURS_TEXT;
    cr_assert_eq(feed_dtmf('1', t), 0);
    cr_assert_eq(fk.closes, 0, "a failed reply that continues must not end the call");
    fk.synth_fail_text = TRANSFER_TEXT;
    cr_assert_eq(feed_dtmf('0', t + 20 * MS), 0);
    assert_closed(1000, SESSION_TRANSFER, "agent transfers the call");
}

/* -- barge-in -- */

/* Feeds 5 quiet frames then loud ones, ticking, until a clear is sent; returns the loud count. */
static int talk_over(long long *t)
{
    unsigned char quiet[F], loud[F];
    int n;

    silence_frame(quiet);
    tone_frame(loud);
    for (int i = 0; i < 5; i++, *t += FRAME_US)
        step(quiet, *t);
    cr_assert_eq(count_from(0, "clear"), 0, "silence cut the agent off");
    for (n = 1; n <= 10; n++, *t += FRAME_US) {
        cr_assert_eq(feed_media(loud, *t), 0);
        if (find_from(0, "clear") != (size_t)-1)
            return n;
        session_tick(&s, *t);
    }
    cr_assert_fail("no clear after 10 loud frames");
    return n;
}

Test(session, barge_in_clears_the_greeting)
{
    long long t0 = T_START + 100 * MS, t = t0;
    unsigned char loud[F];
    size_t clear_at, n;
    int frames;

    open_and_start();
    say(1, 3000, t0);
    frames = talk_over(&t);
    cr_assert(frames >= 3, "a %d-frame click cut the agent off", frames);
    cr_assert(frames <= 4, "the clear took %d loud frames", frames);
    clear_at = find_from(0, "clear");
    cr_assert_gt(count_from(0, "media"), 0);
    cr_assert_eq(clear_at, fk.nsent - 1);
    cr_assert_str_eq(str_at(fk.json[clear_at], "streamSid"), STREAM);
    cr_assert_eq(json_object_size(fk.json[clear_at]), 2, "%s", fk.sent[clear_at]);
    cr_assert_eq(s.clears, 1);
    cr_assert_eq(s.playing, 0);
    cr_assert(pacer_idle(&s.pacer));

    /* The caller keeps talking: nothing more of the greeting, no second clear. */
    tone_frame(loud);
    n = fk.nsent;
    for (int i = 0; i < 50; i++) {
        t += FRAME_US;
        step(loud, t);
    }
    cr_assert_eq(fk.nsent, n, "%zu messages after the clear, first: %s", fk.nsent - n,
                 fk.nsent > n ? fk.sent[n] : "");
    cr_assert_eq(s.clears, 1);
    cr_assert_eq(fk.closes, 0);
}

/*
 * The staleness decision on its own: audio is wanted for a piece asked and
 * not ended, and not once barge-in cut it, even while its synthesis is still
 * out; the reply after the cut is wanted again.
 */
Test(session, wants_audio_only_for_pieces_neither_ended_nor_cut)
{
    long long t = T_START + 100 * MS;
    unsigned char *late = reply_audio(800, 2);
    size_t n;

    open_and_start();
    cr_assert_eq(session_wants_audio(&s, 1), 1, "the greeting, asked");
    cr_assert_eq(session_wants_audio(&s, 0), 0);
    cr_assert_eq(session_wants_audio(&s, 2), 0, "an utterance never asked");
    say(1, 3000, t);
    cr_assert_eq(session_wants_audio(&s, 1), 0, "the greeting ended");

    /* Keys while the greeting plays: the hours are asked behind it. */
    cr_assert_eq(feed_dtmf('1', t), 0);
    cr_assert_eq(fk.nsynth, 2);
    cr_assert_eq(session_wants_audio(&s, 2), 1, "the hours, being synthesized");

    /* The caller talks over the greeting: the hours are cut while still being synthesized. */
    talk_over(&t);
    cr_assert_eq(s.clears, 1);
    cr_assert_eq(session_wants_audio(&s, 2), 0, "a reply cut by barge-in");
    n = fk.nsent;
    session_synthesized(&s, 2, 0, late, 800, t);
    session_tick(&s, t);
    session_tick(&s, t + FRAME_US);
    cr_assert_eq(fk.nsent, n, "the cut reply's audio was sent");
    cr_assert_eq(s.playing, 0);

    /* The next reply is wanted, and played. */
    cr_assert_eq(feed_dtmf('1', t + 40 * MS), 0);
    cr_assert_eq(fk.nsynth, 3);
    cr_assert_eq(fk.synth[2].id, 3);
    cr_assert_eq(session_wants_audio(&s, 3), 1);
    session_synthesized(&s, 3, 0, late, 800, t + 40 * MS);
    cr_assert_eq(session_wants_audio(&s, 3), 0, "it ended");
    cr_assert_eq(s.playing, 3);
    /* A failed synthesis ends the piece without audio. */
    cr_assert_eq(feed_dtmf('1', t + 60 * MS), 0);
    cr_assert_eq(fk.nsynth, 4);
    session_synthesized(&s, 4, SB_EIO, NULL, 0, t + 60 * MS);
    cr_assert_eq(session_wants_audio(&s, 4), 0);
    cr_assert_eq(s.npieces, 0);
    free(late);
}

Test(session, barge_in_tells_the_agent_how_much_was_heard)
{
    long long t0 = T_START + 100 * MS, t = t0;

    fk.agent = &spy_ops;
    open_and_start();
    say(1, 3000, t0);
    talk_over(&t);
    cr_assert_eq(fk.interrupted, 1);
    cr_assert_eq(fk.heard_ms, (t - t0) / MS, "heard %ld ms, want %lld", fk.heard_ms, (t - t0) / MS);
}

/*
 * BUG (session.c, session_audio): every chunk of audio resets
 * utterance_first_us, so when an utterance arrives in more than one chunk
 * (streamed synthesis, which the pacer supports) the time heard is counted
 * from the first frame after the latest chunk instead of from the
 * utterance's first frame. This test fails until that is fixed.
 */
Test(session, barge_in_heard_counts_from_the_first_chunk)
{
    long long t0 = T_START + 100 * MS, t = t0;
    unsigned char quiet[F];

    fk.agent = &spy_ops;
    open_and_start();
    silence_frame(quiet);
    say(1, 1000, t0);
    for (int i = 0; i < 25; i++, t += FRAME_US)
        step(quiet, t);
    say(1, 1000, t); /* the rest of the same reply */
    cr_assert_eq(count_from(0, "mark"), 0);
    talk_over(&t);
    cr_assert_eq(fk.interrupted, 1);
    cr_assert_eq(fk.heard_ms, (t - t0) / MS, "heard %ld ms, want %lld", fk.heard_ms, (t - t0) / MS);
}

/*
 * BUG (session.c, session_audio): after a barge-in the cut reply's id is
 * still s->utterance, so a later chunk of it (streamed synthesis) is queued
 * and played although barge_in says that audio is not wanted any more.
 * This test fails until that is fixed.
 */
Test(session, barge_in_drops_later_audio_of_the_cut_reply)
{
    long long t0 = T_START + 100 * MS, t = t0;
    size_t n;

    open_and_start();
    say(1, 1000, t0);
    talk_over(&t);
    cr_assert_eq(s.clears, 1);
    n = fk.nsent;
    say(1, 1000, t); /* the synthesizer's next chunk of the cut reply */
    for (int i = 0; i < 10; i++)
        session_tick(&s, t + i * FRAME_US);
    cr_assert_eq(fk.nsent, n, "%zu messages of the cut reply after the clear, first: %s",
                 fk.nsent - n, fk.nsent > n ? fk.sent[n] : "");
}

Test(session, barge_in_on_the_transfer_words_still_transfers)
{
    long long t = greet(400);
    size_t clear_at;

    cr_assert_eq(feed_dtmf('0', t), 0);
    cr_assert_str_eq(fk.synth[1].text, TRANSFER_TEXT);
    say(2, 3000, t);
    talk_over(&t);
    clear_at = find_from(0, "clear");
    cr_assert_neq(clear_at, (size_t)-1);
    cr_assert_eq(s.clears, 1);
    assert_closed(1000, SESSION_TRANSFER, "agent ends the stream after barge-in");
    cr_assert_gt(fk.sent_at_close, clear_at, "closed before the clear was sent");
}

Test(session, speech_end_asks_the_agent_for_a_turn)
{
    long long t = greet(400);
    unsigned char quiet[F], loud[F];
    int j;

    silence_frame(quiet);
    tone_frame(loud);
    for (int i = 0; i < 5; i++, t += FRAME_US)
        step(quiet, t);
    for (int i = 0; i < 10; i++, t += FRAME_US)
        step(loud, t);
    cr_assert_eq(count_from(0, "clear"), 0, "cleared with nothing playing");
    cr_assert_eq(s.clears, 0);
    cr_assert_eq(fk.nsynth, 1, "a turn while the caller speaks");

    /* A pause shorter than the hangover is not the end of the turn. */
    for (j = 1; j <= 100; j++, t += FRAME_US) {
        step(quiet, t);
        if (fk.nsynth > 1)
            break;
    }
    cr_assert_eq(j, s.vad.hangover, "the turn came after %d quiet frames", j);
    cr_assert_eq(fk.nsynth, 2);
    cr_assert_eq(fk.synth[1].id, 2);
    cr_assert_str_eq(fk.synth[1].lang, LANG);
    cr_assert_not_null(strstr(fk.synth[1].text, "can't understand speech yet"), "%s",
                       fk.synth[1].text);
    cr_assert_not_null(strstr(fk.synth[1].text, "Press 1"), "%s", fk.synth[1].text);
    cr_assert_eq(fk.closes, 0);

    /* The gap is measured from the end of speech to the reply's first frame. */
    say(2, 400, t + 40 * MS);
    session_tick(&s, t + 60 * MS);
    cr_assert_eq(s.last_turn_gap_ms, 60);
}

/* -- errors and the end -- */

Test(session, malformed_json_fails)
{
    const char *prefix = "malformed message: message is not valid JSON";

    open_session(NULL);
    cr_assert_eq(feed("{\"event\":\"connected\"", 0), SB_EPARSE);
    cr_assert_eq(fk.closes, 1);
    cr_assert_eq(fk.close_code, 1011);
    cr_assert_eq(s.outcome, SESSION_FAILED);
    cr_assert(strncmp(s.reason, prefix, strlen(prefix)) == 0, "reason '%s'", s.reason);
    cr_assert_str_eq(fk.close_reason, s.reason);
}

Test(session, malformed_field_names_it)
{
    open_and_start();
    cr_assert_eq(feedf(T_START + 20 * MS,
                       "{\"event\":\"media\",\"sequenceNumber\":\"2\",\"media\":{\"track\":"
                       "\"inbound\",\"chunk\":\"1\",\"timestamp\":\"20\",\"payload\":\"!!!!\"},"
                       "\"streamSid\":\"%s\"}",
                       STREAM),
                 SB_EPARSE);
    assert_closed(1011, SESSION_FAILED, "malformed message: media.payload is not valid base64");
}

Test(session, media_before_start_fails)
{
    unsigned char quiet[F];

    silence_frame(quiet);
    open_session(NULL);
    cr_assert_eq(feed(CONNECTED_MSG, 0), 0);
    cr_assert_eq(feed_media(quiet, 20 * MS), SB_EPARSE);
    assert_closed(1011, SESSION_FAILED, "media before start");
    cr_assert_eq(fk.started, 0);
    cr_assert_eq(fk.nsynth, 0);
}

Test(session, dtmf_before_start_fails)
{
    open_session(NULL);
    cr_assert_eq(feed(CONNECTED_MSG, 0), 0);
    cr_assert_eq(feed_dtmf('1', 20 * MS), SB_EPARSE);
    assert_closed(1011, SESSION_FAILED, "dtmf before start");
}

Test(session, second_start_fails)
{
    open_and_start();
    cr_assert_eq(feed(START_MSG, T_START + 20 * MS), SB_EPARSE);
    assert_closed(1011, SESSION_FAILED, "second start on one stream");
    cr_assert_eq(fk.started, 1);
    cr_assert_eq(fk.nsynth, 1);
}

Test(session, foreign_stream_sid_fails)
{
    unsigned char quiet[F];

    silence_frame(quiet);
    open_and_start();
    cr_assert_eq(feed_media_on(OTHER_STREAM, quiet, F, T_START + 20 * MS), SB_EPARSE);
    assert_closed(1011, SESSION_FAILED, "streamSid '" OTHER_STREAM "' is not this stream's");
}

Test(session, unknown_events_are_ignored)
{
    open_session(NULL);
    cr_assert_eq(feed("{\"event\":\"hello\"}", 0), 0);
    cr_assert_eq(feed(CONNECTED_MSG, 0), 0);
    cr_assert_eq(feed("{\"event\":\"dtmf-ish\",\"sequenceNumber\":\"1\",\"streamSid\":\"" STREAM
                      "\"}",
                      10 * MS),
                 0);
    cr_assert_eq(feed(START_MSG, T_START), 0);
    cr_assert_eq(feed("{\"event\":\"transcript\",\"sequenceNumber\":\"2\",\"streamSid\":"
                      "\"" OTHER_STREAM "\",\"transcript\":{\"text\":\"hi\"}}",
                      T_START + 20 * MS),
                 0);
    cr_assert_eq(fk.closes, 0, "closed: %s", fk.close_reason);
    cr_assert_eq(s.outcome, SESSION_OPEN);
    cr_assert_eq(fk.nsent, 0);
    /* Still working. */
    cr_assert_eq(feed_dtmf('1', T_START + 40 * MS), 0);
    cr_assert_eq(fk.nsynth, 2);
}

Test(session, stop_closes_and_later_messages_are_ignored)
{
    unsigned char quiet[F];
    long long t = greet(400);

    silence_frame(quiet);
    cr_assert_eq(feed_stop(t), 0);
    assert_closed(1000, SESSION_STOPPED, "twilio stopped the stream");
    cr_assert_eq(feed_dtmf('1', t + 20 * MS), 0);
    cr_assert_eq(feed_media(quiet, t + 40 * MS), 0);
    cr_assert_eq(feed("{nonsense", t + 60 * MS), 0);
    cr_assert_eq(feed_stop(t + 80 * MS), 0);
    cr_assert_eq(fk.nsynth, 1);
    session_end(&s, SESSION_FAILED, 1011, "too late");
    assert_closed(1000, SESSION_STOPPED, "twilio stopped the stream");
}

Test(session, end_replaced_closes_and_ignores_the_rest)
{
    long long t = T_START + 100 * MS;
    unsigned char quiet[F];
    size_t n;

    silence_frame(quiet);
    open_and_start();
    say(1, 2000, t);
    session_tick(&s, t);
    n = fk.nsent;
    cr_assert_gt(n, 0);
    session_end(&s, SESSION_REPLACED, 1000, "replaced by a newer stream");
    assert_closed(1000, SESSION_REPLACED, "replaced by a newer stream");
    cr_assert_str_eq(session_outcome_name(s.outcome), "replaced");

    cr_assert_eq(session_tick(&s, t + FRAME_US), -1);
    cr_assert_eq(feed_media(quiet, t + FRAME_US), 0);
    cr_assert_eq(feed_dtmf('0', t + 2 * FRAME_US), 0);
    cr_assert_eq(feed_mark("u1", t + 3 * FRAME_US), 0);
    say(1, 400, t + 4 * FRAME_US);
    cr_assert_eq(session_tick(&s, t + 5 * FRAME_US), -1);
    cr_assert_eq(fk.nsent, n, "sent after the end: %s", fk.nsent > n ? fk.sent[n] : "");
    cr_assert_eq(fk.nsynth, 1);
    cr_assert_eq(fk.closes, 1);
    cr_assert_eq(s.outcome, SESSION_REPLACED);
}

Test(session, end_passes_the_close_code_through)
{
    open_and_start();
    session_end(&s, SESSION_FAILED, 1009, "message larger than 16384 bytes");
    assert_closed(1009, SESSION_FAILED, "message larger than 16384 bytes");
}

Test(session, send_failure_fails_the_session)
{
    long long t = T_START + 100 * MS;

    fk.send_fail_at = 3;
    open_and_start();
    say(1, 1000, t);
    cr_assert_eq(session_tick(&s, t), -1);
    cr_assert_eq(fk.nsent, 2);
    assert_closed(1011, SESSION_FAILED, "cannot send to twilio");
    cr_assert_eq(session_tick(&s, t + FRAME_US), -1);
    cr_assert_eq(fk.nsent, 2);
}

/* -- the echo agent -- */

Test(session, echo_sends_caller_frames_back_at_20ms_pace)
{
    unsigned char in[F], out[F];
    long long t = T_START + 100 * MS;

    fk.agent = agent_for("echo");
    open_and_start();
    cr_assert(s.echo);
    cr_assert_eq(fk.nsynth, 0, "the echo agent spoke");
    for (int k = 0; k < 50; k++, t += FRAME_US) {
        size_t before = fk.nsent;

        /* Loud, varied frames: the detector must stay out of the way. */
        for (int i = 0; i < F; i++)
            in[i] = (unsigned char)((k * 13 + i * 7) % 251);
        cr_assert_eq(feed_media(in, t), 0);
        session_tick(&s, t);
        cr_assert_eq(fk.nsent - before, 1, "frame %d: %zu messages", k, fk.nsent - before);
        media_frame(before, out);
        cr_assert_arr_eq(out, in, F, "frame %d came back changed", k);
    }
    cr_assert_eq(count_from(0, "mark"), 0);
    cr_assert_eq(s.clears, 0);
    cr_assert_eq(fk.nsynth, 0);
    cr_assert_eq(s.frames_in, 50);
    cr_assert_eq(s.frames_out, 50);
}

Test(session, echo_paces_a_burst)
{
    unsigned char in[F], out[F];
    long long t0 = T_START + 100 * MS;
    int k;

    fk.agent = agent_for("echo");
    open_and_start();
    for (int f = 0; f < 30; f++) {
        memset(in, f + 1, F);
        cr_assert_eq(feed_media(in, t0), 0);
    }
    cr_assert_eq(fk.nsent, 0);
    session_tick(&s, t0);
    cr_assert_eq(fk.nsent, 1 + LEAD_FRAMES);
    for (k = 1; fk.nsent < 30 && k < 100; k++) {
        size_t before = fk.nsent;

        session_tick(&s, t0 + k * FRAME_US);
        cr_assert_eq(fk.nsent - before, 1, "tick %d: %zu frames", k, fk.nsent - before);
    }
    cr_assert_eq(k - 1, 30 - 1 - LEAD_FRAMES);
    for (size_t i = 0; i < 30; i++) {
        media_frame(i, out);
        memset(in, (int)i + 1, F);
        cr_assert_arr_eq(out, in, F, "frame %zu out of order", i);
    }
}

/* -- release -- */

Test(session, release_calls_no_io_and_frees_the_pacer)
{
    long long t = T_START + 100 * MS;
    size_t sent;
    int closes, nsynth;

    fk.agent = &spy_ops;
    open_and_start();
    say(1, 5000, t);
    session_tick(&s, t);
    cr_assert_not_null(s.pacer.audio);
    sent = fk.nsent;
    closes = fk.closes;
    nsynth = fk.nsynth;
    session_release(&s);
    cr_assert_eq(fk.nsent, sent);
    cr_assert_eq(fk.closes, closes);
    cr_assert_eq(fk.nsynth, nsynth);
    cr_assert_eq(fk.hangups, 1, "the agent was told %d times", fk.hangups);
    cr_assert_null(s.pacer.audio);
    cr_assert(pacer_idle(&s.pacer));
    session_release(&s);
    cr_assert_eq(fk.hangups, 1, "a second release told the agent again");
    cr_assert_eq(fk.nsent, sent);
    cr_assert_eq(fk.closes, closes);
}

Test(session, sessions_of_one_loop_parse_into_the_scratch_they_share)
{
    struct media_event *scratch = calloc(1, sizeof(*scratch));
    struct session_config cfg = {.scratch = scratch};
    struct session other;

    cr_assert_not_null(scratch);
    open_session(&cfg);
    session_init(&other, &fake_io, &cfg, 0);
    cr_assert_eq(feed(START_MSG, T_START), 0);
    cr_assert_eq(scratch->kind, MEDIA_EV_START, "the session parsed elsewhere");
    cr_assert_str_eq(scratch->stream_sid, STREAM);
    fk.now = T_START;
    cr_assert_eq(session_message(&other, START_MSG_FOR(OTHER_STREAM),
                                 strlen(START_MSG_FOR(OTHER_STREAM)), T_START),
                 0);
    cr_assert_str_eq(scratch->stream_sid, OTHER_STREAM);
    /* Each keeps its own stream; a DTMF for the first still finds it. */
    cr_assert_str_eq(s.stream_sid, STREAM);
    cr_assert_str_eq(other.stream_sid, OTHER_STREAM);
    cr_assert_eq(feed_dtmf('1', T_START + 20 * MS), 0);
    cr_assert_eq(scratch->kind, MEDIA_EV_DTMF);
    cr_assert_eq(fk.closes, 0);
    cr_assert_eq(fk.nsynth, 3, "two greetings and the hours: %d", fk.nsynth);
    cr_assert_str_eq(fk.synth[2].text, HOURS_TEXT);
    /* Releasing a session leaves the loop's scratch alone. */
    session_release(&other);
    session_release(&s);
    cr_assert_eq(scratch->kind, MEDIA_EV_DTMF);
    free(scratch);
}

Test(session, a_session_without_scratch_parses_into_its_own)
{
    struct session other;

    open_and_start();
    cr_assert_not_null(s.parsed);
    session_init(&other, &fake_io, NULL, 0);
    cr_assert_null(other.parsed, "session_init allocates nothing");
    fk.now = T_START;
    cr_assert_eq(session_message(&other, START_MSG_FOR(OTHER_STREAM),
                                 strlen(START_MSG_FOR(OTHER_STREAM)), T_START),
                 0);
    cr_assert_not_null(other.parsed);
    cr_assert_neq(other.parsed, s.parsed);
    cr_assert_str_eq(s.parsed->stream_sid, STREAM);
    cr_assert_str_eq(other.parsed->stream_sid, OTHER_STREAM);
    session_release(&other);
    cr_assert_null(other.parsed);
}

Test(session, outcome_names)
{
    cr_assert_str_eq(session_outcome_name(SESSION_OPEN), "open");
    cr_assert_str_eq(session_outcome_name(SESSION_TRANSFER), "transfer");
    cr_assert_str_eq(session_outcome_name(SESSION_HANGUP), "hangup");
    cr_assert_str_eq(session_outcome_name(SESSION_STOPPED), "stopped");
    cr_assert_str_eq(session_outcome_name(SESSION_FAILED), "failed");
    cr_assert_str_eq(session_outcome_name(SESSION_REPLACED), "replaced");
    cr_assert_str_eq(session_outcome_name((enum session_outcome)42), "?");
}

/* -- with a recogniser -- */

/* The caller says something for `loud` frames, then is quiet until the turn ends. */
static long long utter(long long t, int loud_frames)
{
    unsigned char quiet[F], loud[F];

    silence_frame(quiet);
    tone_frame(loud);
    for (int i = 0; i < 5; i++, t += FRAME_US)
        step(quiet, t);
    for (int i = 0; i < loud_frames; i++, t += FRAME_US)
        step(loud, t);
    for (int i = 0; i < s.vad.hangover + 2; i++, t += FRAME_US)
        step(quiet, t);
    return t;
}

Test(session, recognised_words_are_the_callers_turn)
{
    long long t;
    int before;

    fk.listen = 1;
    t = greet(400);
    before = fk.nsynth;
    t = utter(t, 40);
    cr_assert_eq(fk.recognized, 1);
    cr_assert_eq(fk.nsynth, before, "no turn before the words are known");
    /* The lead-in, the speech and the hangover: about 0.3 + 0.8 + 0.3 s of audio. */
    cr_assert_geq(fk.rec_len, (size_t)(40 + s.vad.hangover) * F);
    cr_assert_leq(fk.rec_len, (size_t)(40 + s.vad.hangover + 3) * F + UTTERANCE_PREROLL_BYTES);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_WORDS, "what are your hours", t);
    cr_assert_eq(fk.nsynth, before + 1);
    cr_assert_str_eq(fk.synth[before].text, HOURS_TEXT);
    /* The turn ended when the caller stopped, not when the words came. */
    cr_assert_lt(s.speech_end_us, t);
}

Test(session, a_backchannel_over_the_agent_lets_it_go_on_and_words_stop_it)
{
    long long t0 = T_START + 100 * MS, t = t0;
    unsigned char quiet[F];

    fk.listen = 1;
    fk.agent = &spy_ops;
    open_and_start();
    say(1, 5000, t0);
    t = utter(t, 8); /* a short "uh-huh" over the greeting */
    cr_assert_eq(count_from(0, "clear"), 0, "short speech cut the agent off before its words");
    cr_assert_eq(fk.recognized, 1);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_WORDS, "uh huh", t);
    cr_assert_eq(count_from(0, "clear"), 0, "a backchannel stopped the agent");
    cr_assert_eq(fk.interrupted, 0);
    /* Noise it could not tell over the agent: it goes on too. */
    t = utter(t, 8);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_NOTHING, NULL, t);
    cr_assert_eq(count_from(0, "clear"), 0);
    /* Real words: the agent stops at once and answers them. */
    t = utter(t, 30);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_WORDS, "i want to talk to a person", t);
    cr_assert_eq(count_from(0, "clear"), 1);
    cr_assert_eq(fk.interrupted, 1);
    cr_assert_str_eq(fk.synth[fk.nsynth - 1].text, TRANSFER_TEXT);
    silence_frame(quiet);
    step(quiet, t + FRAME_US);
}

Test(session, talking_over_the_agent_is_probed_words_stop_it_and_noise_does_not)
{
    long long t0 = T_START + 100 * MS, t = t0;
    unsigned char loud[F], quiet[F];
    int frames = 0;

    fk.listen = 1;
    fk.agent = &spy_ops;
    open_and_start();
    say(1, 20000, t0);
    tone_frame(loud);
    silence_frame(quiet);
    /* Noise over the agent: after SESSION_TALK_OVER_MS what was heard so far is probed. */
    while (fk.recognized == 0 && frames < 200) {
        step(frames % 12 < 10 ? loud : quiet, t);
        t += FRAME_US;
        frames++;
    }
    cr_assert_eq(fk.recognized, 1);
    cr_assert_geq(frames * 20, SESSION_TALK_OVER_MS, "probed after %d ms", frames * 20);
    cr_assert_leq(frames * 20, SESSION_TALK_OVER_MS + 100, "probed after %d ms", frames * 20);
    cr_assert_eq(count_from(0, "clear"), 0, "cleared before anything was recognised");
    session_transcript(&s, fk.rec_id, SESSION_HEARD_NOTHING, NULL, t);
    cr_assert_eq(count_from(0, "clear"), 0, "noise stopped the agent");
    /* One probe per utterance; its end is recognised as usual (noise again: no turn). */
    for (int i = 0; i < 100; i++, t += FRAME_US)
        step(i % 12 < 10 ? loud : quiet, t);
    cr_assert_eq(fk.recognized, 1);
    for (int i = 0; i < s.vad.hangover + 2; i++, t += FRAME_US)
        step(quiet, t);
    cr_assert_eq(fk.recognized, 2);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_NOTHING, NULL, t);
    cr_assert_eq(count_from(0, "clear"), 0);
    cr_assert_eq(fk.interrupted, 0);

    /* Words over the agent: the probe stops it before the caller has finished. */
    frames = 0;
    while (fk.recognized == 2 && frames < 200) {
        step(frames % 12 < 10 ? loud : quiet, t);
        t += FRAME_US;
        frames++;
    }
    session_transcript(&s, fk.rec_id, SESSION_HEARD_WORDS, "i want to talk to a person", t);
    cr_assert_eq(count_from(0, "clear"), 1);
    cr_assert_eq(fk.interrupted, 1);
    /* The turn is the whole utterance, when the caller stops. */
    for (int i = 0; i < s.vad.hangover + 2; i++, t += FRAME_US)
        step(quiet, t);
    cr_assert_eq(fk.recognized, 4);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_WORDS, "i want to talk to a person please", t);
    cr_assert_str_eq(fk.synth[fk.nsynth - 1].text, TRANSFER_TEXT);
}

Test(session, nothing_heard_asks_again_and_an_unheard_language_offers_keys)
{
    long long t;

    fk.listen = 1;
    t = greet(400);
    t = utter(t, 20);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_NOTHING, NULL, t);
    cr_assert_not_null(strstr(fk.synth[fk.nsynth - 1].text, "didn't catch that"), "%s",
                       fk.synth[fk.nsynth - 1].text);
    t = play_out(t);
    cr_assert_eq(feed_mark("u2", t), 0);
    t = utter(t, 20);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_UNSUPPORTED, NULL, t);
    cr_assert_not_null(strstr(fk.synth[fk.nsynth - 1].text, "Press 1"), "%s",
                       fk.synth[fk.nsynth - 1].text);
}

Test(session, stale_words_and_a_failed_recogniser)
{
    long long t;
    int before;
    unsigned first;

    fk.listen = 1;
    t = greet(400);
    t = utter(t, 20);
    first = fk.rec_id;
    t = utter(t, 20);
    before = fk.nsynth;
    /* The first utterance's words come after the second was handed over: dropped. */
    session_transcript(&s, first, SESSION_HEARD_WORDS, "what are your hours", t);
    cr_assert_eq(fk.nsynth, before);
    /* A recogniser that refuses the work: the caller is asked again, not left waiting. */
    fk.recognize_fail = 1;
    t = utter(t, 20);
    cr_assert_eq(fk.nsynth, before + 1);
    cr_assert_not_null(strstr(fk.synth[before].text, "didn't catch that"), "%s",
                       fk.synth[before].text);
}

Test(session, a_caller_who_never_pauses_is_heard_in_pieces)
{
    long long t;
    unsigned char loud[F];
    unsigned char quiet[F];

    fk.listen = 1;
    t = greet(400);
    tone_frame(loud);
    silence_frame(quiet);
    /* Two minutes of speech with short dips (a steady tone would be taken for noise after 5 s). */
    for (int i = 0; i < 8 * UTTERANCE_MAX_BYTES / F + 10; i++, t += FRAME_US)
        step(i % 12 < 10 ? loud : quiet, t);
    cr_assert_eq(fk.recognized, 8, "%d pieces of a 2 min monologue", fk.recognized);
    cr_assert_leq(fk.rec_len, UTTERANCE_MAX_BYTES);
    cr_assert_eq(fk.closes, 0);
}

Test(session, backchannels)
{
    cr_assert(session_is_backchannel("Uh-huh."));
    cr_assert(session_is_backchannel("sí"));
    cr_assert(session_is_backchannel("OKAY"));
    cr_assert_not(session_is_backchannel("okay what are your hours"));
    cr_assert_not(session_is_backchannel("no"));
    cr_assert_not(session_is_backchannel(""));
}

Test(session, a_streaming_recogniser_hears_each_utterance_as_it_grows)
{
    long long t;

    fk.listen = 1;
    t = greet(400);
    t = utter(t, 40);
    cr_assert_eq(fk.hear_starts, 1);
    cr_assert_eq(fk.recognized, 1);
    cr_assert_eq(fk.heard_bytes, fk.rec_len, "streamed %zu bytes, the utterance has %zu",
                 fk.heard_bytes, fk.rec_len);
    (void)t;
}

Test(session, words_that_trail_off_wait_for_the_rest_of_the_turn)
{
    long long t;
    int before;
    unsigned char quiet[F];

    fk.listen = 1;
    silence_frame(quiet);
    t = greet(400);
    before = fk.nsynth;
    t = utter(t, 30);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_WORDS, "what are your hours and", t);
    cr_assert_eq(fk.nsynth, before, "a turn ending on 'and' was taken at once");
    /* A pause shorter than SESSION_CONTINUE_MS, then the caller goes on. */
    for (int i = 0; i < SESSION_CONTINUE_MS / 40; i++, t += FRAME_US)
        step(quiet, t);
    cr_assert_eq(fk.nsynth, before);
    t = utter(t, 30);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_WORDS, "where are you", t);
    cr_assert_eq(fk.nsynth, before + 1, "the joined turn was not taken");
    cr_assert_str_eq(fk.said, "what are your hours and where are you");
}

Test(session, trailing_words_become_the_turn_when_the_caller_stops)
{
    long long t;
    int before;
    unsigned char quiet[F];

    fk.listen = 1;
    silence_frame(quiet);
    t = greet(400);
    before = fk.nsynth;
    t = utter(t, 30);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_WORDS, "¿cuál es el horario? y", t);
    for (int i = 0; i < SESSION_CONTINUE_MS / 20 - 2; i++, t += FRAME_US)
        step(quiet, t);
    cr_assert_eq(fk.nsynth, before, "taken before SESSION_CONTINUE_MS");
    for (int i = 0; i < 4; i++, t += FRAME_US)
        step(quiet, t);
    cr_assert_eq(fk.nsynth, before + 1, "held words never became the turn");
    cr_assert_str_eq(fk.said, "¿cuál es el horario? y");
    /* Noise after trailing words: the held words are the turn at once. */
    t = utter(t, 30);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_WORDS, "um", t);
    t = utter(t, 10);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_NOTHING, NULL, t);
    cr_assert_eq(fk.nsynth, before + 2);
    cr_assert_str_eq(fk.said, "um");
}

Test(session, trailing_words)
{
    cr_assert(session_trails_off("I want to book, um"));
    cr_assert(session_trails_off("what are your hours AND"));
    cr_assert(session_trails_off("quiero una cita pero"));
    cr_assert_not(session_trails_off("what are your hours"));
    cr_assert_not(session_trails_off("and what are your hours"));
    cr_assert_not(session_trails_off(""));
    cr_assert_not(session_trails_off("sandy"));
}

Test(session, a_reply_is_recorded_with_its_latency_once_its_audio_goes_out)
{
    long long t;
    int before;

    fk.listen = 1;
    t = greet(400);
    cr_assert_eq(fk.nlines, 1, "the greeting is written at once");
    cr_assert_eq(fk.line_latency[0], -1);
    t = utter(t, 30);
    before = fk.nsynth;
    session_transcript(&s, fk.rec_id, SESSION_HEARD_WORDS, "what are your hours", t);
    cr_assert_eq(fk.nsynth, before + 1);
    cr_assert_eq(fk.nlines, 1, "the reply was written before its audio went out");
    /* Its audio comes 150 ms later and goes out: the line is written with the latency. */
    t += 150 * MS;
    say(fk.synth[before].id, 400, t);
    session_tick(&s, t);
    cr_assert_eq(fk.nlines, 2);
    cr_assert_str_eq(fk.lines[1], HOURS_TEXT);
    cr_assert_geq(fk.line_latency[1], 150, "latency %ld", fk.line_latency[1]);
}

Test(session, a_streaming_partial_stops_the_agent_while_the_caller_still_talks)
{
    long long t = T_START + 100 * MS;
    unsigned char loud[F];

    fk.listen = 1;
    fk.agent = &spy_ops;
    open_and_start();
    say(1, 5000, t);
    tone_frame(loud);
    for (int i = 0; i < 10; i++, t += FRAME_US)
        step(loud, t);
    cr_assert(s.vad.speech);
    session_partial(&s, "uh huh", t);
    cr_assert_eq(count_from(0, "clear"), 0, "a backchannel stopped the agent");
    session_partial(&s, "I want to", t);
    cr_assert_eq(count_from(0, "clear"), 1, "words heard so far did not stop the agent");
    cr_assert_eq(fk.interrupted, 1);
    /* Later partials of the same utterance change nothing. */
    session_partial(&s, "I want to talk", t);
    cr_assert_eq(count_from(0, "clear"), 1);
}

Test(session, a_partial_while_the_caller_is_quiet_is_ignored)
{
    long long t = T_START + 100 * MS;

    fk.listen = 1;
    fk.agent = &spy_ops;
    open_and_start();
    say(1, 5000, t);
    session_partial(&s, "I want to talk to a person", t);
    cr_assert_eq(count_from(0, "clear"), 0);
}

Test(session, a_guess_is_a_turn_when_the_agent_is_silent_and_never_stops_it)
{
    long long t = T_START + 100 * MS;
    int before;

    fk.listen = 1;
    fk.agent = &spy_ops;
    open_and_start();
    say(1, 5000, t);
    t = utter(t, 30);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_GUESS, "where is the nearest patient", t);
    cr_assert_eq(count_from(0, "clear"), 0, "a guess stopped the agent");
    cr_assert_eq(fk.interrupted, 0);
    session_release(&s);
    for (size_t i = 0; i < fk.nsent; i++) {
        free(fk.sent[i]);
        json_decref(fk.json[i]);
    }
    memset(&fk, 0, sizeof(fk));
    fk.seq = 1;
    fk.listen = 1;
    t = greet(400);
    before = fk.nsynth;
    t = utter(t, 30);
    session_transcript(&s, fk.rec_id, SESSION_HEARD_GUESS, "where is the nearest patient", t);
    cr_assert_eq(fk.nsynth, before + 1, "a guess while the agent is silent was no turn");
    cr_assert_str_eq(fk.said, "where is the nearest patient");
}

/* An agent whose greeting is two pieces, as an LLM agent's two sentences. */
static struct agent_sink two_sink;

static int two_open(void **out, const struct agent_call *call, const struct agent_sink *sink,
                    const struct agent_env *env)
{
    (void)call;
    (void)env;
    two_sink = *sink;
    *out = &two_sink;
    return 0;
}

static void two_start(void *agent)
{
    struct agent_event first = {AGENT_EV_TEXT, "First sentence.", AGENT_CONTINUE, NULL};
    struct agent_event second = {AGENT_EV_TEXT, "Second sentence.", AGENT_CONTINUE, NULL};
    struct agent_event end = {AGENT_EV_END, NULL, AGENT_CONTINUE, NULL};

    (void)agent;
    two_sink.emit(two_sink.arg, &first);
    two_sink.emit(two_sink.arg, &second);
    two_sink.emit(two_sink.arg, &end);
}

static void two_turn(void *agent, const struct agent_turn *turn)
{
    (void)agent;
    (void)turn;
}

static void two_interrupt(void *agent, long heard_ms, const char *heard)
{
    (void)agent;
    (void)heard_ms;
    (void)heard;
}

static void two_close(void *agent)
{
    (void)agent;
}

static const struct agent_ops two_ops = {
    "two", two_open, two_start, two_turn, two_interrupt, NULL, NULL, two_close, NULL, NULL,
};

Test(session, pieces_play_in_the_order_asked_whatever_order_their_audio_comes_in)
{
    long long t = T_START + 100 * MS;
    const size_t n = 10 * F;
    unsigned char *a1 = reply_audio(n, 1), *a2 = reply_audio(n, 2);

    fk.agent = &two_ops;
    open_and_start();
    cr_assert_eq(fk.nsynth, 2);
    /* The second sentence's audio comes first: it waits. */
    session_audio(&s, 2, a2, n, t);
    session_audio_end(&s, 2, t);
    session_tick(&s, t);
    cr_assert_eq(count_from(0, "media"), 0, "the second piece played before the first");
    /* The first streams in: half of it plays, and its mark waits for its end. */
    session_audio(&s, 1, a1, n / 2, t);
    t = play_out(t);
    cr_assert_eq(count_from(0, "media"), 5);
    cr_assert_eq(count_from(0, "mark"), 0, "a mark before the first piece ended");
    session_audio(&s, 1, a1 + n / 2, n - n / 2, t);
    session_audio_end(&s, 1, t);
    t = play_out(t);
    cr_assert_eq(count_from(0, "media"), 20, "both pieces, whole");
    cr_assert_geq(count_from(0, "mark"), 1);
    cr_assert_str_eq(event_of(fk.nsent - 1), "mark");
    free(a1);
    free(a2);
}
