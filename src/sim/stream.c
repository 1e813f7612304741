#include "sim/stream.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/mulaw.h"
#include "core/sid.h"
#include "core/sig.h"
#include "net/ws_queue.h"
#include "core/banned.h"

#define FRAME_US (SIM_STREAM_FRAME_MS * 1000LL)
/* Each DTMF key takes this many frames of the caller's time. */
#define DTMF_FRAMES 5
/* Messages waiting to be written; more means the server stopped reading. */
#define MAX_OUT_QUEUE 2000
/* After the run decides to end, how long the closing handshake may take. */
#define CLOSE_GRACE_US (2000 * 1000LL)
/* Bytes of an offending message quoted in an error. */
#define QUOTE_MAX 48

/* The server's audio waiting to play, with its marks in between. */
struct play_item {
    struct play_item *next;
    char *mark; /* non-NULL: a mark; else audio */
    size_t len;
    size_t off;
    unsigned char data[];
};

struct clip {
    unsigned char *mulaw; /* whole frames, padded with silence */
    size_t frames;
};

struct run {
    const struct sim_stream_opts *o;
    struct sim_stream_result *res;
    struct lws_context *ctx;
    struct lws *wsi;
    lws_sorted_usec_list_t tick_sul;
    lws_sorted_usec_list_t limit_sul;
    int max_ms;

    /* Where to connect. */
    char *url_copy;
    const char *address;
    int port;
    char *path;
    char *host;
    int tls;
    char sig[SIG_B64_SIZE];
    int have_sig;
    char account_sid[SID_SIZE];
    char call_sid[SID_SIZE];
    struct clip *clips; /* one per step; empty for steps without audio */

    /* Lifecycle. */
    long long t_run_us;
    long long t_open_us;
    long long deadline_us;
    int handshake_sent; /* TCP (and TLS) are up: errors now are handshake errors */
    int established;
    int stopping;   /* no more frames: stop sent, or failing */
    int close_code; /* nonzero: close with this code once the queue is written */
    int close_sent;
    int done;
    int failed;
    int destroying; /* lws_context_destroy may still call back: ignore it */

    /* Sending. */
    struct ws_queue out;
    long seq;
    long chunk;
    long long next_tick_us;
    long long tick_us; /* the time of the frame being produced */
    int pumping;       /* fast mode: frames are produced as the socket drains */

    /* The script. */
    size_t step;
    size_t pos; /* frames of the current step done */
    long long wait_start_us;

    /* Receiving and playback. */
    struct buf rx;
    struct play_item *play_head;
    struct play_item *play_tail;
    size_t play_bytes; /* audio bytes queued */
    long long playing_until_us;
    long long bytes_played;
    long long last_audio_us; /* the last server audio arrived or finished playing */
    int reply_active;
    int reply_since_utt;
    long gap_turn; /* turn whose reply gap is still open, or -1 */
    long v2v_turn; /* turn still waiting for a voiced reply, or -1 */
    long long utt_end_us;
    struct sim_audio rec;
};

static void emit(struct run *r, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void emit(struct run *r, const char *event, const char *fmt, ...)
{
    char detail[256];
    va_list ap;

    if (!r->o->on_event)
        return;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    r->o->on_event(r->o->event_arg, (long)((clock_mono_us() - r->t_run_us) / 1000), event, detail);
}

static void shorten_deadline(struct run *r, long long us)
{
    long long when = clock_mono_us() + us;

    if (when < r->deadline_us)
        r->deadline_us = when;
}

/* Starts closing the WebSocket with `code` once what is queued has been written. */
static void begin_close(struct run *r, int code)
{
    r->stopping = 1;
    if (!r->close_code)
        r->close_code = code;
    shorten_deadline(r, CLOSE_GRACE_US);
    if (r->wsi)
        lws_callback_on_writable(r->wsi);
    else
        r->done = 1;
}

static void fail(struct run *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first failure and ends the run. */
static void fail(struct run *r, int code, const char *fmt, ...)
{
    va_list ap;

    if (!r->failed) {
        r->failed = 1;
        r->res->ok = 0;
        r->res->error_code = code;
        va_start(ap, fmt);
        vsnprintf(r->res->error, sizeof(r->res->error), fmt, ap);
        va_end(ap);
        emit(r, "error", "%s", r->res->error);
    }
    if (r->established)
        begin_close(r, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
    else
        r->done = 1;
}

/* A printable excerpt of a message for error text. */
static void quote(char *out, size_t size, const unsigned char *data, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n + 4 < size && i < QUOTE_MAX; i++)
        out[n++] = (data[i] >= 0x20 && data[i] < 0x7F) ? (char)data[i] : '?';
    if (len > QUOTE_MAX && n + 4 < size) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

static int queue_text(struct run *r, const char *text)
{
    int rc = ws_queue_push(&r->out, text, strlen(text));

    if (rc == SB_EBUSY) {
        fail(r, 0, "the server stopped reading: %d messages are waiting to be sent", MAX_OUT_QUEUE);
        return SB_EIO;
    }
    if (rc) {
        fail(r, 0, "out of memory");
        return SB_ENOMEM;
    }
    r->res->messages_sent++;
    if (r->wsi)
        lws_callback_on_writable(r->wsi);
    return 0;
}

/* Serialises and queues a message; takes the reference to `msg`. */
static int queue_json(struct run *r, json_t *msg)
{
    char *text;
    int rc;

    if (!msg) {
        fail(r, 0, "out of memory");
        return SB_ENOMEM;
    }
    text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text) {
        fail(r, 0, "out of memory");
        return SB_ENOMEM;
    }
    rc = queue_text(r, text);
    free(text);
    return rc;
}

/* Every message after `connected` carries the next sequence number, as a string. */
static void next_seq(struct run *r, char out[24])
{
    r->seq++;
    snprintf(out, 24, "%ld", r->seq);
}

static int send_connected(struct run *r)
{
    return queue_json(r, json_pack("{s:s, s:s, s:s}", "event", "connected", "protocol", "Call",
                                   "version", "1.0.0"));
}

static int send_start(struct run *r)
{
    json_t *custom = json_object();
    const struct form *p = r->o->custom;
    char seq[24];

    if (!custom) {
        fail(r, 0, "out of memory");
        return SB_ENOMEM;
    }
    for (size_t i = 0; p && i < p->count; i++) {
        if (json_object_set_new(custom, p->fields[i].key, json_string(p->fields[i].value))) {
            json_decref(custom);
            fail(r, 0, "custom parameter '%s' is not valid UTF-8", p->fields[i].key);
            return SB_EINVAL;
        }
    }
    next_seq(r, seq);
    /* The key order of Twilio's documented example. */
    return queue_json(
        r, json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:[s], s:{s:s, s:i, s:i}, s:o}, s:s}", "event",
                     "start", "sequenceNumber", seq, "start", "accountSid", r->account_sid,
                     "streamSid", r->res->stream_sid, "callSid", r->call_sid, "tracks", "inbound",
                     "mediaFormat", "encoding", "audio/x-mulaw", "sampleRate", SIM_AUDIO_RATE,
                     "channels", 1, "customParameters", custom, "streamSid", r->res->stream_sid));
}

static int send_media(struct run *r, const unsigned char frame[SIM_STREAM_FRAME_BYTES])
{
    /* Base64 of 160 bytes is 216 characters. */
    unsigned char b64[4 * ((SIM_STREAM_FRAME_BYTES + 2) / 3) + 1];
    char seq[24], chunk[24], ts[24];

    EVP_EncodeBlock(b64, frame, SIM_STREAM_FRAME_BYTES);
    next_seq(r, seq);
    r->chunk++;
    snprintf(chunk, sizeof(chunk), "%ld", r->chunk);
    /* The presentation time of the frame's first sample, in ms since the start. */
    snprintf(ts, sizeof(ts), "%ld", (r->chunk - 1) * SIM_STREAM_FRAME_MS);
    r->res->frames_sent++;
    return queue_json(r, json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:s}", "event", "media",
                                   "sequenceNumber", seq, "media", "track", "inbound", "chunk",
                                   chunk, "timestamp", ts, "payload", (const char *)b64,
                                   "streamSid", r->res->stream_sid));
}

static int send_dtmf(struct run *r, char digit)
{
    char seq[24];
    char d[2] = {digit, '\0'};

    next_seq(r, seq);
    r->res->dtmf_sent++;
    emit(r, "dtmf", "%c", digit);
    return queue_json(r, json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "event", "dtmf", "streamSid",
                                   r->res->stream_sid, "sequenceNumber", seq, "dtmf", "track",
                                   "inbound_track", "digit", d));
}

static int send_mark(struct run *r, const char *name)
{
    char seq[24];

    next_seq(r, seq);
    r->res->marks_echoed++;
    emit(r, "mark", "%s", name);
    return queue_json(r, json_pack("{s:s, s:s, s:s, s:{s:s}}", "event", "mark", "sequenceNumber",
                                   seq, "streamSid", r->res->stream_sid, "mark", "name", name));
}

static int send_stop(struct run *r)
{
    char seq[24];

    next_seq(r, seq);
    emit(r, "stop", "%s", r->call_sid);
    return queue_json(r, json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "event", "stop",
                                   "sequenceNumber", seq, "stop", "accountSid", r->account_sid,
                                   "callSid", r->call_sid, "streamSid", r->res->stream_sid));
}

/* The caller hangs up: stop, then a normal close. */
static void hang_up(struct run *r)
{
    if (r->stopping)
        return;
    if (!r->established) {
        r->res->hung_up = 1;
        fail(r, 0, "the call ended before the stream connected");
        return;
    }
    r->res->hung_up = 1;
    r->stopping = 1;
    if (send_stop(r) == 0)
        begin_close(r, LWS_CLOSE_STATUS_NORMAL);
}

/* ---- playback of the server's audio ---- */

static void play_pop(struct run *r)
{
    struct play_item *it = r->play_head;

    r->play_head = it->next;
    if (!r->play_head)
        r->play_tail = NULL;
    free(it->mark);
    free(it);
}

static int play_push(struct run *r, const unsigned char *audio, size_t len, const char *mark)
{
    struct play_item *it = malloc(sizeof(*it) + len);

    if (!it) {
        fail(r, 0, "out of memory");
        return SB_ENOMEM;
    }
    it->next = NULL;
    it->len = len;
    it->off = 0;
    it->mark = NULL;
    if (mark) {
        it->mark = strdup(mark);
        if (!it->mark) {
            free(it);
            fail(r, 0, "out of memory");
            return SB_ENOMEM;
        }
    } else {
        memcpy(it->data, audio, len);
        r->play_bytes += len;
    }
    if (r->play_tail)
        r->play_tail->next = it;
    else
        r->play_head = it;
    r->play_tail = it;
    return 0;
}

static int record(struct run *r, const unsigned char *mulaw, size_t n)
{
    int16_t pcm[SIM_STREAM_FRAME_BYTES];
    int rc = 0;

    if (!r->o->record_path)
        return 0;
    while (n > 0 && rc == 0) {
        size_t k = n > SIM_STREAM_FRAME_BYTES ? SIM_STREAM_FRAME_BYTES : n;

        mulaw_decode_buf(mulaw, k, pcm);
        rc = sim_audio_append(&r->rec, pcm, k);
        mulaw += k;
        n -= k;
    }
    if (rc)
        fail(r, 0, "cannot keep the recording: %s", sb_strerror(rc));
    return rc;
}

static void reply_ended(struct run *r)
{
    if (r->reply_active) {
        r->reply_active = 0;
        emit(r, "reply-end", "played_ms=%lld", r->bytes_played / 8);
    }
}

/*
 * One frame time of playback: marks whose audio finished in earlier frames
 * are echoed, then up to 160 bytes start playing (stopping at a mark, so
 * that the mark goes back once that audio has played).
 */
static void play_tick(struct run *r)
{
    unsigned char frame[SIM_STREAM_FRAME_BYTES];
    size_t have = 0;

    while (r->play_head && r->play_head->mark && !r->stopping) {
        send_mark(r, r->play_head->mark);
        play_pop(r);
    }
    while (have < sizeof(frame) && r->play_head && !r->play_head->mark) {
        struct play_item *it = r->play_head;
        size_t k = it->len - it->off;

        if (k > sizeof(frame) - have)
            k = sizeof(frame) - have;
        memcpy(frame + have, it->data + it->off, k);
        it->off += k;
        have += k;
        r->play_bytes -= k;
        if (it->off == it->len)
            play_pop(r);
    }
    if (have) {
        r->playing_until_us = r->tick_us + FRAME_US;
        r->last_audio_us = r->playing_until_us;
        r->bytes_played += (long long)have;
    } else if (r->tick_us >= r->playing_until_us && !r->play_bytes) {
        reply_ended(r);
    }
    memset(frame + have, MULAW_SILENCE, sizeof(frame) - have);
    record(r, frame, sizeof(frame));
}

/* ---- the caller's script ---- */

static int step_is_fast(const struct run *r)
{
    const struct sim_stream_step *st;

    if (r->o->realtime || r->step >= r->o->nsteps)
        return 0;
    st = &r->o->steps[r->step];
    return st->kind != SIM_STEP_WAIT_REPLY;
}

static void next_step(struct run *r)
{
    r->step++;
    r->pos = 0;
    r->wait_start_us = 0;
    r->res->steps_done = r->step;
}

static void utterance_ended(struct run *r)
{
    struct sim_stream_result *res = r->res;

    r->utt_end_us = clock_mono_us();
    r->reply_since_utt = 0;
    r->gap_turn = -1;
    r->v2v_turn = -1;
    if (res->nturns < SIM_STREAM_MAX_TURNS) {
        res->turn_gap_ms[res->nturns] = -1;
        res->voice_to_voice_ms[res->nturns] = -1;
        r->gap_turn = (long)res->nturns;
        r->v2v_turn = (long)res->nturns;
    }
    res->nturns++;
}

static int reply_done(struct run *r, const struct sim_stream_step *st)
{
    long long now = clock_mono_us();
    int quiet = st->ms > 0 ? st->ms : SIM_STREAM_DEFAULT_QUIET_MS;
    int limit = st->timeout_ms > 0 ? st->timeout_ms : SIM_STREAM_DEFAULT_WAIT_MS;

    if (!r->wait_start_us)
        r->wait_start_us = now;
    if (r->reply_since_utt && !r->play_bytes && now >= r->playing_until_us &&
        now - r->last_audio_us >= quiet * 1000LL)
        return 1;
    if (now - r->wait_start_us >= limit * 1000LL) {
        emit(r, "wait-timeout", "no reply within %d ms", limit);
        return 1;
    }
    return 0;
}

static int is_say(const struct sim_stream_step *st)
{
    return st->kind == SIM_STEP_SAY_TEXT || st->kind == SIM_STEP_SAY_WAV ||
           st->kind == SIM_STEP_SAY_AUDIO;
}

/* Steps whose frames come from a clip prepared before connecting. */
static int has_clip(const struct sim_stream_step *st)
{
    return is_say(st) || st->kind == SIM_STEP_NOISE;
}

/* How many frames of the caller's time a step takes (waits are open-ended). */
static size_t step_frames(const struct run *r, const struct sim_stream_step *st)
{
    if (st->kind == SIM_STEP_SILENCE)
        return (size_t)((st->ms + SIM_STREAM_FRAME_MS - 1) / SIM_STREAM_FRAME_MS);
    if (st->kind == SIM_STEP_DTMF)
        return strlen(st->text) * DTMF_FRAMES;
    if (has_clip(st))
        return r->clips[r->step].frames;
    return 0;
}

/*
 * Produces the caller's next frame: runs the steps that take no time (hang
 * up, a finished wait), then takes 20 ms from the current step, or silence
 * when no step has audio.
 */
static void caller_tick(struct run *r)
{
    unsigned char frame[SIM_STREAM_FRAME_BYTES];

    while (!r->stopping) {
        const struct sim_stream_step *st;
        size_t n;

        memset(frame, MULAW_SILENCE, sizeof(frame));
        if (r->step >= r->o->nsteps)
            break;
        st = &r->o->steps[r->step];
        if (st->kind == SIM_STEP_HANGUP) {
            next_step(r);
            hang_up(r);
            return;
        }
        if (st->kind == SIM_STEP_WAIT_REPLY) {
            if (!reply_done(r, st))
                break;
            next_step(r);
            continue;
        }
        n = step_frames(r, st);
        if (r->pos >= n) {
            next_step(r);
            continue;
        }
        if (st->kind == SIM_STEP_NOISE && r->pos == 0)
            emit(r, "noise", "ms=%d dbfs=%g", st->ms, st->level_dbfs);
        if (has_clip(st))
            memcpy(frame, r->clips[r->step].mulaw + r->pos * SIM_STREAM_FRAME_BYTES, sizeof(frame));
        /* Twilio reports keys only on bidirectional streams. */
        if (st->kind == SIM_STEP_DTMF && r->pos % DTMF_FRAMES == 0 && r->o->bidirectional)
            send_dtmf(r, st->text[r->pos / DTMF_FRAMES]);
        r->pos++;
        if (r->pos == n) {
            if (is_say(st))
                utterance_ended(r);
            else if (st->kind == SIM_STEP_NOISE || st->kind == SIM_STEP_DTMF)
                r->reply_since_utt = 0; /* a following wait is for what answers it */
            next_step(r);
        }
        break;
    }
    if (!r->stopping)
        send_media(r, frame);
}

static void frame_tick(struct run *r)
{
    if (r->o->bidirectional && r->o->realtime)
        play_tick(r);
    if (!r->stopping)
        caller_tick(r);
}

static void check_hangup_flag(struct run *r)
{
    if (r->o->hangup && atomic_load(r->o->hangup) && !r->stopping && !r->done)
        hang_up(r);
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    struct run *r = lws_container_of(sul, struct run, tick_sul);
    long long now = clock_mono_us();

    check_hangup_flag(r);
    if (r->established && !r->stopping && !r->done) {
        if (step_is_fast(r)) {
            /* Fast mode: the socket drains the frames; see pump(). */
            r->pumping = 1;
            lws_callback_on_writable(r->wsi);
        } else {
            /* An absolute clock: late ticks catch up instead of drifting. */
            if (r->pumping) {
                r->pumping = 0;
                r->next_tick_us = now + FRAME_US;
            }
            while (r->next_tick_us <= now && !r->stopping && !step_is_fast(r)) {
                r->tick_us = r->next_tick_us;
                frame_tick(r);
                r->next_tick_us += FRAME_US;
            }
        }
    }
    if (!r->done) {
        long long delay = r->next_tick_us - clock_mono_us();

        if (!r->established || r->pumping || delay < 0)
            delay = FRAME_US;
        if (delay > FRAME_US)
            delay = FRAME_US;
        lws_sul_schedule(r->ctx, 0, &r->tick_sul, on_tick, (lws_usec_t)delay);
    }
}

/* Fast mode: a frame is produced each time the queue has been written. */
static void pump(struct run *r)
{
    if (!r->pumping || r->stopping || r->out.count)
        return;
    if (!step_is_fast(r)) {
        r->pumping = 0;
        r->next_tick_us = clock_mono_us() + FRAME_US;
        return;
    }
    r->tick_us = clock_mono_us();
    caller_tick(r);
}

static void on_limit(lws_sorted_usec_list_t *sul)
{
    struct run *r = lws_container_of(sul, struct run, limit_sul);

    r->res->timed_out = 1;
    if (!r->established) {
        fail(r, 31901, "no WebSocket connection to %s within the time limit of %d ms", r->o->url,
             r->max_ms);
        return;
    }
    fail(r, 0, "the stream was still open when the time limit of %d ms was reached", r->max_ms);
}

/* ---- messages from the server ---- */

static int check_sid(struct run *r, json_t *msg, const char *event)
{
    const char *sid = json_string_value(json_object_get(msg, "streamSid"));

    if (!sid) {
        fail(r, 0, "server %s message has no \"streamSid\" string", event);
        return SB_EPARSE;
    }
    if (strcmp(sid, r->res->stream_sid) != 0) {
        fail(r, 0, "server %s message has streamSid \"%.40s\", expected \"%s\"", event, sid,
             r->res->stream_sid);
        return SB_EPARSE;
    }
    return 0;
}

long sim_stream_first_voiced(const unsigned char *mulaw, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int v = mulaw_decode(mulaw[i]);

        if (v > SIM_STREAM_VOICED_LEVEL || v < -SIM_STREAM_VOICED_LEVEL)
            return (long)(i - i % SIM_STREAM_FRAME_BYTES);
    }
    return -1;
}

/*
 * Closes the open turn's voice to voice when `audio`, arrived at `now`, has
 * a voiced frame: the caller hears that frame once the audio queued ahead of
 * it has played (the server sends up to a few hundred ms ahead), at once in
 * fast mode.
 */
static void voice_to_voice(struct run *r, const unsigned char *audio, size_t n, long long now)
{
    long at = sim_stream_first_voiced(audio, n);
    long long heard_us = now;
    long ms;

    if (at < 0)
        return;
    if (r->o->realtime) {
        if (r->playing_until_us > heard_us)
            heard_us = r->playing_until_us;
        /* 8 kHz µ-law: 125 µs a byte. */
        heard_us += ((long long)r->play_bytes + at) * 125;
    }
    ms = (long)((heard_us - r->utt_end_us) / 1000);
    r->res->voice_to_voice_ms[r->v2v_turn] = ms;
    emit(r, "turn", "turn=%ld voice_to_voice_ms=%ld", r->v2v_turn + 1, ms);
    r->v2v_turn = -1;
}

static int on_media(struct run *r, json_t *msg)
{
    json_t *media = json_object_get(msg, "media");
    const char *payload = json_string_value(json_object_get(media, "payload"));
    unsigned char *audio = NULL;
    long long now = clock_mono_us();
    size_t plen;
    size_t pad;
    int n;
    int rc = 0;

    if (!json_is_object(media) || !payload) {
        fail(r, 0, "server media message has no \"media.payload\" string");
        return SB_EPARSE;
    }
    plen = strlen(payload);
    /*
     * EVP_DecodeBlock needs whole quanta, counts '=' padding as data and
     * lets '=' through mid-string, so those rules are checked first.
     */
    pad = strcspn(payload, "=");
    if (plen % 4 != 0) {
        fail(r, 0,
             "server media message has invalid base64 in media.payload (length %zu is not "
             "a multiple of 4)",
             plen);
        return SB_EPARSE;
    }
    if (pad < plen && (pad + 2 < plen || strspn(payload + pad, "=") != plen - pad)) {
        fail(r, 0,
             "server media message has invalid base64 in media.payload ('=' before the "
             "end)");
        return SB_EPARSE;
    }
    pad = plen - pad;
    audio = malloc(plen / 4 * 3 + 1);
    if (!audio) {
        fail(r, 0, "out of memory");
        return SB_ENOMEM;
    }
    n = plen ? EVP_DecodeBlock(audio, (const unsigned char *)payload, (int)plen) : 0;
    if (n < 0 || (size_t)n < pad) {
        fail(r, 0, "server media message has invalid base64 in media.payload");
        rc = SB_EPARSE;
        goto out;
    }
    n -= (int)pad;

    r->res->frames_received++;
    r->res->bytes_received += n;
    if (r->res->first_audio_ms < 0)
        r->res->first_audio_ms = (long)((now - r->t_open_us) / 1000);
    if (r->gap_turn >= 0) {
        r->res->turn_gap_ms[r->gap_turn] = (long)((now - r->utt_end_us) / 1000);
        r->gap_turn = -1;
    }
    r->reply_since_utt = 1;
    r->last_audio_us = now;
    if (!r->reply_active) {
        r->reply_active = 1;
        emit(r, "reply-start", "bytes=%d", n);
    }
    if (r->v2v_turn >= 0)
        voice_to_voice(r, audio, (size_t)n, now);
    if (n == 0)
        goto out;
    if (r->play_bytes + (size_t)n > SIM_STREAM_MAX_QUEUED_BYTES) {
        fail(r, 0, "server queued more than %d s of audio ahead of playback",
             SIM_STREAM_MAX_QUEUED_BYTES / PHONE_RATE);
        rc = SB_ETOOBIG;
        goto out;
    }
    if (r->o->realtime) {
        rc = play_push(r, audio, (size_t)n, NULL);
    } else {
        /* Fast mode plays the audio the moment it arrives. */
        r->bytes_played += n;
        rc = record(r, audio, (size_t)n);
    }
out:
    free(audio);
    return rc;
}

static int on_mark(struct run *r, json_t *msg)
{
    const char *name = json_string_value(json_object_get(json_object_get(msg, "mark"), "name"));

    if (!name) {
        fail(r, 0, "server mark message has no \"mark.name\" string");
        return SB_EPARSE;
    }
    r->res->marks_received++;
    /* Pending audio, or a frame still playing: the mark waits its turn. */
    if (r->play_head || (r->o->realtime && clock_mono_us() < r->playing_until_us))
        return play_push(r, NULL, 0, name);
    return send_mark(r, name);
}

static int on_clear(struct run *r)
{
    size_t dropped = r->play_bytes;

    r->res->clears++;
    emit(r, "clear", "dropped_ms=%zu", dropped / 8);
    /* Audio is dropped; every pending mark goes back at once, in order. */
    while (r->play_head) {
        if (r->play_head->mark)
            send_mark(r, r->play_head->mark);
        play_pop(r);
    }
    r->play_bytes = 0;
    return 0;
}

static void on_message(struct run *r, const unsigned char *data, size_t len)
{
    char q[QUOTE_MAX + 8];
    json_error_t jerr;
    json_t *msg = json_loadb((const char *)data, len, 0, &jerr);
    const char *event;

    quote(q, sizeof(q), data, len);
    if (!msg) {
        fail(r, 0, "server sent a message that is not JSON (%s at position %d): '%s'", jerr.text,
             jerr.position, q);
        return;
    }
    if (!json_is_object(msg)) {
        fail(r, 0, "server sent JSON that is not an object: '%s'", q);
        goto out;
    }
    event = json_string_value(json_object_get(msg, "event"));
    if (!event) {
        fail(r, 0, "server message has no \"event\" string: '%s'", q);
        goto out;
    }
    if (strcmp(event, "media") != 0 && strcmp(event, "mark") != 0 && strcmp(event, "clear") != 0) {
        fail(r, 0, "server sent unknown event \"%.40s\" (expected media, mark or clear)", event);
        goto out;
    }
    if (!r->o->bidirectional) {
        fail(r, 0, "server sent %s on a unidirectional stream (<Start><Stream> takes no messages)",
             event);
        goto out;
    }
    if (check_sid(r, msg, event))
        goto out;
    if (strcmp(event, "media") == 0)
        on_media(r, msg);
    else if (strcmp(event, "mark") == 0)
        on_mark(r, msg);
    else
        on_clear(r);
out:
    json_decref(msg);
}

/* ---- libwebsockets ---- */

/* Maps a connection error from lws to Twilio's stream error. */
static void connection_error(struct run *r, struct lws *wsi, const char *why)
{
    unsigned status = wsi ? lws_http_client_http_response(wsi) : 0;

    if (!why)
        why = "unknown error";
    if (status && status != 101)
        fail(r, 31920, "stream handshake failed: %s answered HTTP %u instead of 101", r->o->url,
             status);
    else if (r->handshake_sent || strstr(why, "HS:"))
        fail(r, 31920, "stream handshake failed: %s did not accept the WebSocket upgrade (%s)",
             r->o->url, why);
    else if (strstr(why, "tls") || strstr(why, "TLS") || strstr(why, "ssl") || strstr(why, "SSL"))
        fail(r, 31910, "stream TLS failure at %s: %s", r->o->url, why);
    else if (strstr(why, "timed out") || strstr(why, "timeout"))
        fail(r, 31901, "stream connection to %s timed out: %s", r->o->url, why);
    else
        fail(r, 31902, "stream connection to %s failed: %s", r->o->url, why);
}

static int write_one(struct run *r, struct lws *wsi)
{
    int written = ws_queue_write_one(&r->out, wsi);

    if (written < 0) {
        fail(r, 0, "cannot write to the stream's WebSocket");
        return -1;
    }
    if (written) {
        if (r->out.count)
            lws_callback_on_writable(wsi);
        else
            pump(r);
        if (!r->out.count && r->close_code)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (r->close_code && !r->close_sent) {
        r->close_sent = 1;
        if (!r->res->close_code)
            r->res->close_code = r->close_code;
        lws_close_reason(wsi, (enum lws_close_status)r->close_code, NULL, 0);
        return -1;
    }
    pump(r);
    return 0;
}

static int on_receive(struct run *r, struct lws *wsi, const void *in, size_t len)
{
    int rc;

    if (r->stopping)
        return 0;
    if (lws_frame_is_binary(wsi)) {
        fail(r, 0, "server sent a binary frame (Media Streams messages are JSON text)");
        return 0;
    }
    rc = buf_append(&r->rx, in, len);
    if (rc) {
        fail(r, 0, "server sent a message larger than %d bytes", SIM_STREAM_MAX_MESSAGE);
        return 0;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;
    on_message(r, (const unsigned char *)r->rx.data, r->rx.len);
    buf_reset(&r->rx);
    return 0;
}

static void on_peer_close(struct run *r, const unsigned char *in, size_t len)
{
    struct sim_stream_result *res = r->res;
    size_t n;

    res->closed_by_server = 1;
    if (len >= 2) {
        res->close_code = (in[0] << 8) | in[1];
        n = len - 2 < sizeof(res->close_reason) - 1 ? len - 2 : sizeof(res->close_reason) - 1;
        memcpy(res->close_reason, in + 2, n);
        res->close_reason[n] = '\0';
    } else {
        res->close_code = LWS_CLOSE_STATUS_NO_STATUS;
    }
    r->stopping = 1;
    shorten_deadline(r, CLOSE_GRACE_US);
    emit(r, "close", "code=%d reason=\"%s\"", res->close_code, res->close_reason);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = wsi ? lws_get_context(wsi) : NULL;
    struct run *r = ctx ? lws_context_user(ctx) : NULL;

    if (!r || r->destroying)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        r->handshake_sent = 1;
        if (r->have_sig) {
            unsigned char **p = (unsigned char **)in;
            unsigned char *end = *p + len;

            if (lws_add_http_header_by_name(wsi, (const unsigned char *)"X-Twilio-Signature:",
                                            (const unsigned char *)r->sig, (int)strlen(r->sig), p,
                                            end))
                return -1;
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        connection_error(r, wsi, in ? (const char *)in : NULL);
        r->wsi = NULL;
        r->done = 1;
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        r->wsi = wsi;
        r->established = 1;
        r->t_open_us = clock_mono_us();
        emit(r, "connected", "%s", r->o->url);
        if (send_connected(r) || send_start(r))
            return 0;
        r->next_tick_us = r->t_open_us + FRAME_US;
        lws_sul_schedule(r->ctx, 0, &r->tick_sul, on_tick, FRAME_US);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(r, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return write_one(r, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        on_peer_close(r, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (r->established && !r->res->duration_ms)
            r->res->duration_ms = (long)((clock_mono_us() - r->t_open_us) / 1000);
        if (!r->res->closed_by_server && !r->close_sent && !r->failed)
            fail(r, 0, "the server dropped the connection without a close frame");
        r->wsi = NULL;
        r->done = 1;
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"sb-twilio-stream", callback, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- setup ---- */

static void copy_str(char *out, size_t size, const char *in)
{
    snprintf(out, size, "%s", in);
}

static int invalid(struct sim_stream_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int invalid(struct sim_stream_result *res, const char *fmt, ...)
{
    va_list ap;

    res->ok = 0;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
    return SB_EINVAL;
}

/* Splits the URL into what lws needs; the Host header is the URL's authority. */
static int parse_url(struct run *r)
{
    const char *url = r->o->url;
    const char *prot = NULL;
    const char *path = NULL;
    const char *auth;
    const char *auth_end;
    const char *at;
    size_t plen;

    if (strncmp(url, "ws://", 5) != 0 && strncmp(url, "wss://", 6) != 0)
        return invalid(r->res, "stream url '%s' must start with wss:// (or ws:// for local tests)",
                       url);
    auth = strstr(url, "://") + 3;
    auth_end = auth + strcspn(auth, "/?#");
    at = memchr(auth, '@', (size_t)(auth_end - auth));
    if (at)
        auth = at + 1;
    if (auth_end == auth)
        return invalid(r->res, "stream url '%s' has no host", url);
    r->host = strndup(auth, (size_t)(auth_end - auth));
    r->url_copy = strdup(url);
    if (!r->host || !r->url_copy)
        return SB_ENOMEM;
    if (lws_parse_uri(r->url_copy, &prot, &r->address, &r->port, &path))
        return invalid(r->res, "stream url '%s' is malformed", url);
    r->tls = strcmp(prot, "wss") == 0 && !r->o->plain;
    /* lws drops the leading '/' of the path. */
    plen = strlen(path);
    r->path = malloc(plen + 2);
    if (!r->path)
        return SB_ENOMEM;
    r->path[0] = '/';
    memcpy(r->path + 1, path, plen + 1);
    return 0;
}

static int check_steps(struct run *r)
{
    const struct sim_stream_opts *o = r->o;

    if (o->nsteps && !o->steps)
        return invalid(r->res, "stream script has %zu steps but no step array", o->nsteps);
    for (size_t i = 0; i < o->nsteps; i++) {
        const struct sim_stream_step *st = &o->steps[i];

        switch (st->kind) {
        case SIM_STEP_SAY_TEXT:
        case SIM_STEP_SAY_WAV:
            if (!st->text || !*st->text)
                return invalid(r->res, "stream step %zu: nothing to say", i + 1);
            break;
        case SIM_STEP_SAY_AUDIO:
            if (!st->audio)
                return invalid(r->res, "stream step %zu: no audio to play", i + 1);
            break;
        case SIM_STEP_DTMF:
            if (!st->text || !*st->text ||
                st->text[strspn(st->text, "0123456789*#ABCDabcd")] != '\0')
                return invalid(r->res, "stream step %zu: keys '%s' are not DTMF (0-9 * # A-D)",
                               i + 1, st->text ? st->text : "");
            break;
        case SIM_STEP_NOISE:
            if (st->ms <= 0 || st->ms > SIM_STREAM_MAX_NOISE_MS)
                return invalid(r->res, "stream step %zu: noise lasts 1 to %d ms, not %d", i + 1,
                               SIM_STREAM_MAX_NOISE_MS, st->ms);
            if (!(st->level_dbfs >= SIM_STREAM_NOISE_MIN_DBFS &&
                  st->level_dbfs <= SIM_STREAM_NOISE_MAX_DBFS))
                return invalid(
                    r->res, "stream step %zu: noise level %g dBFS is not within %g to %g", i + 1,
                    st->level_dbfs, SIM_STREAM_NOISE_MIN_DBFS, SIM_STREAM_NOISE_MAX_DBFS);
            break;
        case SIM_STEP_SILENCE:
        case SIM_STEP_WAIT_REPLY:
            if (st->ms < 0 || st->timeout_ms < 0)
                return invalid(r->res, "stream step %zu: negative duration", i + 1);
            break;
        case SIM_STEP_HANGUP:
            break;
        default:
            return invalid(r->res, "stream step %zu: unknown kind %d", i + 1, (int)st->kind);
        }
    }
    return 0;
}

/* splitmix64: a small generator that any seed (0 included) starts well. */
static uint64_t noise_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* A uniform number in (0, 1]: never 0, so that its logarithm is finite. */
static double noise_uniform(uint64_t *state)
{
    return (double)((noise_next(state) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

static int16_t noise_clip(double v)
{
    if (v > 32767.0)
        return 32767;
    if (v < -32768.0)
        return -32768;
    return (int16_t)lrint(v);
}

int sim_stream_noise(struct sim_audio *a, int ms, double level_dbfs, unsigned seed)
{
    int16_t chunk[2 * SIM_STREAM_FRAME_BYTES];
    uint64_t state = seed;
    double rms;
    size_t total, done = 0;
    int rc = 0;

    if (ms <= 0 || ms > SIM_STREAM_MAX_NOISE_MS ||
        !(level_dbfs >= SIM_STREAM_NOISE_MIN_DBFS && level_dbfs <= SIM_STREAM_NOISE_MAX_DBFS))
        return SB_EINVAL;
    rms = 32768.0 * pow(10.0, level_dbfs / 20.0);
    total = (size_t)ms * SIM_AUDIO_RATE / 1000;
    sim_audio_init(a, SIM_AUDIO_RATE);
    while (done < total && rc == 0) {
        size_t n = total - done < sizeof(chunk) / sizeof(chunk[0])
                       ? total - done
                       : sizeof(chunk) / sizeof(chunk[0]);

        /* Box-Muller: two independent normal samples from two uniform ones. */
        for (size_t i = 0; i < n; i += 2) {
            double radius = rms * sqrt(-2.0 * log(noise_uniform(&state)));
            double angle = 2.0 * M_PI * noise_uniform(&state);

            chunk[i] = noise_clip(radius * cos(angle));
            if (i + 1 < n)
                chunk[i + 1] = noise_clip(radius * sin(angle));
        }
        rc = sim_audio_append(a, chunk, n);
        done += n;
    }
    if (rc)
        sim_audio_release(a);
    return rc;
}

/* Prepares the audio of every SAY and NOISE step as whole µ-law frames before connecting. */
static int prepare_clips(struct run *r)
{
    const struct sim_stream_opts *o = r->o;
    struct sim_audio a = SIM_AUDIO_INIT;
    char err[200];
    int rc = 0;

    r->clips = calloc(o->nsteps ? o->nsteps : 1, sizeof(*r->clips));
    if (!r->clips)
        return SB_ENOMEM;
    for (size_t i = 0; i < o->nsteps && rc == 0; i++) {
        const struct sim_stream_step *st = &o->steps[i];
        size_t frames;

        err[0] = '\0';
        if (st->kind == SIM_STEP_SAY_TEXT) {
            rc = sim_audio_tts(&a, st->text, st->lang, err, sizeof(err));
        } else if (st->kind == SIM_STEP_SAY_WAV) {
            rc = sim_audio_read_wav(&a, st->text, err, sizeof(err));
        } else if (st->kind == SIM_STEP_SAY_AUDIO) {
            sim_audio_init(&a, st->audio->rate);
            rc = sim_audio_append(&a, st->audio->samples, st->audio->len);
        } else if (st->kind == SIM_STEP_NOISE) {
            rc = sim_stream_noise(&a, st->ms, st->level_dbfs, st->seed);
        } else {
            continue;
        }
        if (rc == 0)
            rc = sim_audio_resample(&a, SIM_AUDIO_RATE);
        if (rc) {
            invalid(r->res, "stream step %zu: %s", i + 1, err[0] ? err : sb_strerror(rc));
            rc = rc == SB_ENOMEM ? SB_ENOMEM : SB_EINVAL;
            break;
        }
        frames = (a.len + SIM_STREAM_FRAME_BYTES - 1) / SIM_STREAM_FRAME_BYTES;
        r->clips[i].mulaw = malloc(frames * SIM_STREAM_FRAME_BYTES + 1);
        if (!r->clips[i].mulaw) {
            rc = SB_ENOMEM;
            break;
        }
        mulaw_encode_buf(a.samples, a.len, r->clips[i].mulaw);
        memset(r->clips[i].mulaw + a.len, MULAW_SILENCE, frames * SIM_STREAM_FRAME_BYTES - a.len);
        r->clips[i].frames = frames;
        sim_audio_release(&a);
    }
    sim_audio_release(&a);
    return rc;
}

static int setup(struct run *r)
{
    const struct sim_stream_opts *o = r->o;
    struct sim_stream_result *res = r->res;
    int rc;

    if (!o->url || !*o->url)
        return invalid(res, "no stream url");
    if (o->max_ms < 0)
        return invalid(res, "max_ms must not be negative");
    rc = parse_url(r);
    if (rc)
        return rc;
    rc = check_steps(r);
    if (rc)
        return rc;
    if (o->token) {
        rc = sig_compute(o->token, o->sign_url ? o->sign_url : o->url, NULL, r->sig);
        if (rc)
            return invalid(res, "cannot sign stream url: %s", sb_strerror(rc));
        r->have_sig = 1;
    }
    if (o->account_sid)
        copy_str(r->account_sid, sizeof(r->account_sid), o->account_sid);
    else
        rc = sid_new("AC", r->account_sid, sizeof(r->account_sid));
    if (o->call_sid)
        copy_str(r->call_sid, sizeof(r->call_sid), o->call_sid);
    else if (!rc)
        rc = sid_new("CA", r->call_sid, sizeof(r->call_sid));
    if (o->stream_sid)
        copy_str(res->stream_sid, sizeof(res->stream_sid), o->stream_sid);
    else if (!rc)
        rc = sid_new("MZ", res->stream_sid, sizeof(res->stream_sid));
    if (rc)
        return invalid(res, "cannot make a SID: %s", sb_strerror(rc));
    return prepare_clips(r);
}

static int connect_ws(struct run *r)
{
    struct lws_context_creation_info info;
    struct lws_client_connect_info ci;

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = r;
    /* A client needs few descriptors; the default sizes tables by the process limit. */
    info.fd_limit_per_thread = 16;
    info.timeout_secs = (unsigned)(r->max_ms / 1000 + 5);
    if (r->tls)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    r->ctx = lws_create_context(&info);
    if (!r->ctx) {
        fail(r, 0, "cannot create a libwebsockets context");
        return SB_ENOMEM;
    }
    memset(&ci, 0, sizeof(ci));
    ci.context = r->ctx;
    ci.address = r->address;
    ci.port = r->port;
    ci.path = r->path;
    ci.host = r->host;
    ci.local_protocol_name = protocols[0].name;
    ci.ietf_version_or_minus_one = -1;
    ci.pwsi = &r->wsi;
    if (r->tls) {
        ci.ssl_connection = LCCSCF_USE_SSL;
        if (r->o->insecure)
            ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                 LCCSCF_ALLOW_EXPIRED;
    }
    /* A call that already ended never opens its stream. */
    if (r->o->hangup && atomic_load(r->o->hangup)) {
        r->res->hung_up = 1;
        fail(r, 0, "the call ended before the stream connected");
        return 0;
    }
    lws_sul_schedule(r->ctx, 0, &r->limit_sul, on_limit, (lws_usec_t)r->max_ms * 1000);
    lws_sul_schedule(r->ctx, 0, &r->tick_sul, on_tick, FRAME_US);
    if (!lws_client_connect_via_info(&ci) && !r->done)
        fail(r, 31902, "cannot connect to %s", r->o->url);
    return 0;
}

static void run_release(struct run *r)
{
    ws_queue_release(&r->out);
    while (r->play_head)
        play_pop(r);
    if (r->clips) {
        for (size_t i = 0; i < r->o->nsteps; i++)
            free(r->clips[i].mulaw);
    }
    free(r->clips);
    free(r->url_copy);
    free(r->host);
    free(r->path);
    buf_release(&r->rx);
    sim_audio_release(&r->rec);
}

int sim_stream_run(const struct sim_stream_opts *opts, struct sim_stream_result *res)
{
    struct run r;
    int rc = 0;

    memset(res, 0, sizeof(*res));
    res->ok = 1;
    res->first_audio_ms = -1;
    /* lws's notices would mix with the transcript; errors are reported in res. */
    lws_set_log_level(LLL_ERR, NULL);
    memset(&r, 0, sizeof(r));
    r.o = opts;
    r.res = res;
    r.gap_turn = -1;
    r.v2v_turn = -1;
    r.t_run_us = clock_mono_us();
    buf_init(&r.rx, SIM_STREAM_MAX_MESSAGE);
    r.out = (struct ws_queue)WS_QUEUE_INIT(MAX_OUT_QUEUE);
    sim_audio_init(&r.rec, SIM_AUDIO_RATE);
    if (!opts)
        return invalid(res, "no stream options");
    r.max_ms = opts->max_ms > 0 ? opts->max_ms : SIM_STREAM_DEFAULT_MAX_MS;

    rc = setup(&r);
    if (rc) {
        if (rc == SB_ENOMEM)
            invalid(res, "out of memory");
        goto out;
    }
    r.t_run_us = clock_mono_us();
    r.deadline_us = r.t_run_us + (long long)r.max_ms * 1000 + CLOSE_GRACE_US;
    rc = connect_ws(&r);
    if (rc)
        goto out;
    while (!r.done && clock_mono_us() < r.deadline_us) {
        if (lws_service(r.ctx, 0) < 0)
            break;
    }
    if (!r.done)
        fail(&r, 0, "the stream did not close in time");
    res->played_ms = (long)(r.bytes_played / 8);
    if (r.established && !res->duration_ms)
        res->duration_ms = (long)((clock_mono_us() - r.t_open_us) / 1000);
    if (opts->record_path && r.established) {
        int wrc = sim_audio_write_wav(&r.rec, opts->record_path);

        if (wrc && !r.failed) {
            r.failed = 1;
            res->ok = 0;
            snprintf(res->error, sizeof(res->error), "cannot write recording '%s': %s",
                     opts->record_path, sb_strerror(wrc));
        }
    }
    rc = res->ok ? 0 : SB_EIO;
out:
    if (r.ctx) {
        lws_sul_schedule(r.ctx, 0, &r.tick_sul, NULL, LWS_SET_TIMER_USEC_CANCEL);
        lws_sul_schedule(r.ctx, 0, &r.limit_sul, NULL, LWS_SET_TIMER_USEC_CANCEL);
        r.destroying = 1;
        lws_context_destroy(r.ctx);
        r.ctx = NULL;
    }
    if (r.failed && rc == 0)
        rc = SB_EIO;
    run_release(&r);
    return rc;
}
