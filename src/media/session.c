#include "media/session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mulaw.h"
#include "core/phone.h"
#include "core/words.h"
#include "core/banned.h"

enum { S_OPENED, S_CONNECTED, S_ACTIVE, S_CLOSING };

/* Frames sent per tick at most: a tick after a stall must not burst the whole lead at once. */
#define TICK_MAX_FRAMES 16

static const char *const outcome_names[] = {"open",    "transfer", "hangup",
                                            "stopped", "failed",   "replaced"};

const char *session_outcome_name(enum session_outcome o)
{
    return (size_t)o < sizeof(outcome_names) / sizeof(outcome_names[0]) ? outcome_names[o] : "?";
}

/* Twilio-bound messages are a few hundred bytes; a media message is the largest. */
#define SESSION_MESSAGE_MAX 1024
/* The lines of one reply held until its first audio (a reply is a few sentences). */
#define SESSION_REPLY_LINES_MAX (16 * 1024)
/* Audio one piece may hold while it waits for those before it: a minute. */
#define SESSION_PIECE_MAX (60 * 8000)

void session_init(struct session *s, const struct session_io *io, const struct session_config *cfg,
                  long long now_us)
{
    memset(s, 0, sizeof(*s));
    s->io = *io;
    s->state = S_OPENED;
    s->opened_us = now_us;
    s->lead_ms = cfg && cfg->lead_ms > 0 ? cfg->lead_ms : PACER_DEFAULT_LEAD_MS;
    pacer_init(&s->pacer, (int)s->lead_ms);
    buf_init(&s->tx, SESSION_MESSAGE_MAX);
    buf_init(&s->reply_lines, SESSION_REPLY_LINES_MAX);
    s->parsed = cfg ? cfg->scratch : NULL;
    vad_init(&s->vad);
    utterance_init(&s->said);
    s->first_audio_ms = -1;
    s->last_turn_gap_ms = -1;
    s->after_utterance = AGENT_CONTINUE;
}

/* Closes with `code` and remembers why; later calls keep the first reason. */
static void finish(struct session *s, enum session_outcome outcome, int code, const char *reason)
{
    if (s->state == S_CLOSING)
        return;
    s->state = S_CLOSING;
    s->outcome = outcome;
    snprintf(s->reason, sizeof(s->reason), "%s", reason);
    log_event(outcome == SESSION_FAILED ? LOG_WARN : LOG_INFO, "stream.ending",
              "call_sid=%s stream_sid=%s outcome=%s reason=\"%s\"",
              s->call_sid[0] ? s->call_sid : "-", s->stream_sid[0] ? s->stream_sid : "-",
              session_outcome_name(outcome), reason);
    s->io.close(s->io.arg, code, reason);
}

void session_end(struct session *s, enum session_outcome outcome, int code, const char *reason)
{
    finish(s, outcome, code, reason);
}

static int fail(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct session *s, const char *fmt, ...)
{
    char reason[96];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    finish(s, SESSION_FAILED, 1011, reason);
    return SB_EPARSE;
}

/*
 * The session's message buffer, emptied: every outgoing message is written
 * there, so that 50 media messages a second reuse one allocation.
 */
static struct buf *tx(struct session *s)
{
    buf_reset(&s->tx);
    return &s->tx;
}

/* Sends what was written in tx(s) unless writing failed (rc); a send error fails the session. */
static int send_tx(struct session *s, int rc)
{
    if (rc == 0)
        rc = s->io.send(s->io.arg, s->tx.data, s->tx.len);
    if (rc)
        finish(s, SESSION_FAILED, 1011, "cannot send to twilio");
    return rc;
}

/* Writes the held lines of a reply, the first with `latency_ms`. */
static void reply_lines_flush(struct session *s, long latency_ms)
{
    const char *p = s->reply_lines.data;
    const char *end = p ? p + s->reply_lines.len : NULL;

    s->reply_awaited = 0;
    for (; p && p < end; p += strlen(p) + 1) {
        s->io.transcript(s->io.arg, 1, p, latency_ms);
        latency_ms = -1;
    }
    buf_reset(&s->reply_lines);
}

/* A piece the agent says: held while its reply's first audio is awaited, else written now. */
static void reply_line(struct session *s, const char *text)
{
    if (!s->io.transcript)
        return;
    if (s->reply_awaited && buf_append(&s->reply_lines, text, strlen(text) + 1) == 0)
        return;
    if (s->reply_awaited)
        reply_lines_flush(s, -1); /* too much held: written without a latency */
    s->io.transcript(s->io.arg, 1, text, -1);
}

static struct session_piece *piece_of(struct session *s, unsigned id)
{
    for (size_t i = 0; i < s->npieces; i++) {
        if (s->pieces[i].id == id)
            return &s->pieces[i];
    }
    return NULL;
}

static void pieces_clear(struct session *s)
{
    for (size_t i = 0; i < s->npieces; i++)
        buf_release(&s->pieces[i].audio);
    s->npieces = 0;
    s->mark_owed = 0;
}

/* Hands audio of the first piece to the pacer. */
static void play(struct session *s, unsigned id, const unsigned char *mulaw, size_t len)
{
    if (len == 0)
        return;
    if (pacer_queue(&s->pacer, id, mulaw, len) != 0) {
        finish(s, SESSION_FAILED, 1011, "cannot queue the reply audio");
        return;
    }
    /* A later chunk of the same reply keeps its start: heard_ms counts from the first frame. */
    if (s->playing != id)
        s->utterance_first_us = 0;
    s->playing = id;
}

/* Asks for a piece of a reply to be spoken. */
static void speak(struct session *s, const char *text)
{
    unsigned id = ++s->utterance;
    struct session_piece *p;

    if (!text[0] || s->npieces == SESSION_PIECES)
        return;
    /* Known before asking: a cached phrase comes back inside the call. */
    p = &s->pieces[s->npieces++];
    p->id = id;
    p->ended = 0;
    buf_init(&p->audio, SESSION_PIECE_MAX);
    if (s->io.synthesize(s->io.arg, id, text, s->lang, s->voice) == 0)
        s->turn_last = id;
    else
        session_audio_end(s, id, 0);
}

/* The end of the agent's turn: its action takes effect once the turn's words have been heard. */
static void turn_end(struct session *s, enum agent_action action)
{
    if (action == AGENT_CONTINUE)
        return;
    if (s->turn_last) {
        s->after_utterance = action;
        s->action_utterance = s->turn_last;
    } else if (action == AGENT_TRANSFER) {
        finish(s, SESSION_TRANSFER, 1000, "agent transfers the call");
    } else {
        finish(s, SESSION_HANGUP, 1000, "agent hangs up");
    }
}

/* The agent's events (agent_sink): said in order as they come. */
static void on_agent_event(void *arg, const struct agent_event *ev)
{
    struct session *s = arg;

    if (s->state != S_ACTIVE)
        return;
    switch (ev->kind) {
    case AGENT_EV_TEXT:
    case AGENT_EV_FILLER:
        speak(s, ev->text ? ev->text : "");
        if (ev->text && *ev->text)
            reply_line(s, ev->text);
        break;
    case AGENT_EV_LANG:
        if (ev->text && *ev->text)
            snprintf(s->lang, sizeof(s->lang), "%s", ev->text);
        break;
    case AGENT_EV_END:
        turn_end(s, ev->action);
        break;
    }
}

void session_begin(struct session *s, const struct agent_ops *agent, const struct agent_call *call,
                   const char *voice, const struct agent_env *env, long long now_us)
{
    struct agent_sink sink = {on_agent_event, s};

    (void)now_us;
    if (s->state != S_ACTIVE || s->agent_started)
        return;
    snprintf(s->lang, sizeof(s->lang), "%s", call->lang ? call->lang : "es");
    snprintf(s->voice, sizeof(s->voice), "%s", voice ? voice : "");
    s->agent = agent;
    s->echo = agent == &agent_echo_ops;
    if (agent->open(&s->agent_obj, call, &sink, env) != 0) {
        finish(s, SESSION_FAILED, 1011, "cannot start the agent");
        return;
    }
    s->agent_started = 1;
    s->turn_last = 0;
    agent->start(s->agent_obj);
}

void session_agent_tick(struct session *s, long long now_ms)
{
    if (s->state == S_ACTIVE && s->agent_started && s->agent->tick)
        s->agent->tick(s->agent_obj, now_ms);
}

/* What has the caller heard of the utterance being played, in ms. */
static long heard_ms(const struct session *s, long sent_ms, long long now_us)
{
    long played = s->utterance_first_us ? (long)((now_us - s->utterance_first_us) / 1000) : 0;

    return played < sent_ms ? played : sent_ms;
}

/* The caller talks over the agent: stop at once and tell the agent how much was heard. */
static void barge_in(struct session *s, long long now_us)
{
    long sent = pacer_clear(&s->pacer);
    long heard = heard_ms(s, sent, now_us);
    unsigned cut = s->playing;

    s->clears++;
    if (send_tx(s, media_event_write_clear(tx(s), s->stream_sid)))
        return;
    log_event(LOG_INFO, "stream.barge_in", "call_sid=%s heard_ms=%ld", s->call_sid, heard);
    /* Audio still to come for this reply, or for one asked before, is not wanted any more. */
    s->cut_upto = s->utterance;
    pieces_clear(s);
    s->playing = 0;
    s->utterance_first_us = 0;
    if (s->agent_started)
        s->agent->interrupt(s->agent_obj, heard, NULL);
    if (cut && cut == s->action_utterance) {
        /* The parting words were cut short: the action still stands. */
        finish(s, s->after_utterance == AGENT_TRANSFER ? SESSION_TRANSFER : SESSION_HANGUP, 1000,
               "agent ends the stream after barge-in");
    }
}

/* A caller turn: keys, recognised words, or (both NULL) speech without words. */
static void caller_turn(struct session *s, const char *digits, const char *speech, long long now_us)
{
    struct agent_turn t;

    if (!s->agent_started)
        return;
    memset(&t, 0, sizeof(t));
    t.lang = s->lang;
    t.digits = digits;
    t.speech = speech;
    t.unrecognised_speech = digits == NULL && speech == NULL;
    reply_lines_flush(s, -1); /* the previous reply, if its audio never went out */
    if (speech && *speech && s->io.transcript)
        s->io.transcript(s->io.arg, 0, speech, -1);
    s->reply_awaited = s->io.transcript != NULL;
    /* With a recogniser the turn's end was when the caller stopped, noted then. */
    if (!s->io.recognize || digits)
        s->speech_end_us = now_us;
    s->turn_last = 0;
    s->agent->turn(s->agent_obj, &t);
}

/* The agent is speaking (or has audio on its way out). */
static int agent_talking(const struct session *s)
{
    return s->playing || !pacer_idle(&s->pacer);
}

/* The caller stopped talking (or talked too long): their utterance goes to the recogniser. */
static void utterance_done(struct session *s, long long now_us)
{
    size_t len;
    unsigned char *audio = utterance_take(&s->said, &len);
    unsigned id = ++s->listen_id;

    s->speech_end_us = now_us;
    if (!audio || s->io.recognize(s->io.arg, id, audio, len, s->lang) != 0) {
        log_event(LOG_WARN, "stream.recognize_failed", "call_sid=%s utterance=%u", s->call_sid, id);
        session_transcript(s, id, SESSION_HEARD_NOTHING, NULL, now_us);
    }
}

/*
 * The caller has talked over the agent for a while: what they said so far is
 * recognised now (a copy; the utterance goes on), so that words stop the
 * agent before the caller stops and noise does not.
 */
static void probe(struct session *s)
{
    size_t len = s->said.audio.len;
    unsigned char *copy = len ? malloc(len) : NULL;
    unsigned id = ++s->listen_id;

    s->probed = 1;
    if (!copy)
        return;
    memcpy(copy, s->said.audio.data, len);
    if (s->io.recognize(s->io.arg, id, copy, len, s->lang) == 0)
        s->probe_id = id;
}

/* A streaming recogniser hears the utterance as it grows (session_io.hear). */
static void hear(struct session *s, const unsigned char *audio, size_t len, int start)
{
    if (s->io.hear && len)
        s->io.hear(s->io.arg, audio, len, start);
}

/* With a recogniser: collect the utterance; talking over the agent at length is probed. */
static void listen_frame(struct session *s, const struct media_event *ev, enum vad_change change,
                         long long now_us)
{
    int rc = 0;

    if (change == VAD_SPEECH_START) {
        rc = utterance_start(&s->said, ev->payload, ev->payload_len);
        if (rc == 0)
            hear(s, (const unsigned char *)s->said.audio.data, s->said.audio.len, 1);
        s->caller_from_us = now_us;
        s->talked_over = 0;
        s->probed = 0;
        s->held_until_us = 0; /* the caller goes on: their next words join the held ones */
    } else if (change == VAD_SPEECH_END || s->vad.speech) {
        rc = utterance_add(&s->said, ev->payload, ev->payload_len);
        if (rc == 0)
            hear(s, ev->payload, ev->payload_len, 0);
        if (rc == 1) {
            /* Talking on without a pause: what was said so far is recognised now. */
            utterance_done(s, now_us);
            rc = utterance_start(&s->said, ev->payload, ev->payload_len);
            if (rc == 0)
                hear(s, (const unsigned char *)s->said.audio.data, s->said.audio.len, 1);
        }
    } else {
        utterance_quiet(&s->said, ev->payload, ev->payload_len);
    }
    if (rc < 0)
        log_event(LOG_WARN, "stream.listen_failed", "call_sid=%s error=\"%s\"", s->call_sid,
                  sb_strerror(rc));
    if (s->vad.speech && !s->talked_over && !s->probed && agent_talking(s) &&
        now_us - s->caller_from_us >= (long long)SESSION_TALK_OVER_MS * 1000)
        probe(s);
    if (change == VAD_SPEECH_END)
        utterance_done(s, now_us);
}

/* The held words become the caller's turn (they did not go on, or only made noise). */
static void take_held(struct session *s, long long now_us)
{
    char words[SESSION_HELD_MAX];

    memcpy(words, s->held, sizeof(words));
    s->held[0] = '\0';
    s->held_until_us = 0;
    caller_turn(s, NULL, words, now_us);
}

/*
 * Recognised words end the caller's turn, unless they trail off ("and",
 * "um"): then they wait SESSION_CONTINUE_MS for more, and what follows joins them.
 */
static void words_heard(struct session *s, const char *text, long long now_us)
{
    size_t had = strlen(s->held);
    int n;

    n = snprintf(s->held + had, sizeof(s->held) - had, "%s%s", had ? " " : "", text);
    if (n < 0 || (size_t)n >= sizeof(s->held) - had || !session_trails_off(s->held)) {
        if (n < 0 || (size_t)n >= sizeof(s->held) - had)
            snprintf(s->held, sizeof(s->held), "%s", text); /* too long to join: the newest */
        take_held(s, now_us);
        return;
    }
    log_event(LOG_INFO, "stream.turn_held", "call_sid=%s", s->call_sid);
    s->held_until_us = s->vad.speech ? 0 : now_us + (long long)SESSION_CONTINUE_MS * 1000;
}

static void on_media(struct session *s, const struct media_event *ev, long long now_us)
{
    int16_t pcm[MEDIA_MAX_PAYLOAD];
    enum vad_change change;

    s->frames_in++;
    if (s->echo) {
        if (pacer_queue(&s->pacer, 0, ev->payload, ev->payload_len) != 0)
            finish(s, SESSION_FAILED, 1011, "cannot queue the echoed audio");
        return;
    }
    mulaw_decode_buf(ev->payload, ev->payload_len, pcm);
    change = vad_feed(&s->vad, pcm, ev->payload_len);
    if (s->io.recognize && s->agent_started) {
        listen_frame(s, ev, change, now_us);
        if (s->held_until_us && !s->vad.speech && now_us >= s->held_until_us &&
            s->state == S_ACTIVE)
            take_held(s, now_us);
        return;
    }
    if (change == VAD_SPEECH_START && agent_talking(s))
        barge_in(s, now_us);
    else if (change == VAD_SPEECH_END)
        caller_turn(s, NULL, NULL, now_us);
}

static const char *const backchannels[] = {
    "uh huh", "uh-huh", "mhm", "mm",  "mm hmm", "hmm",  "okay",  "ok", "yeah",  "right", "sure",
    "i see",  "sí",     "si",  "ajá", "aja",    "vale", "claro", "ya", "bueno", NULL,
};

int session_is_backchannel(const char *text)
{
    for (size_t i = 0; backchannels[i]; i++) {
        if (words_same(text, backchannels[i]))
            return 1;
    }
    return 0;
}

/* Words a sentence does not end on: the caller has more to say. */
static const char *const trailing[] = {
    "and",  "so", "um",   "uh", "but",    "or",       "because", "then", "er", "y",
    "pero", "o",  "este", "eh", "porque", "entonces", "pues",    "que",  NULL,
};

int session_trails_off(const char *text)
{
    const char *pos = text, *word, *last = NULL;
    size_t len, last_len = 0;

    while (words_next(&pos, &word, &len)) {
        last = word;
        last_len = len;
    }
    if (!last)
        return 0;
    for (size_t i = 0; trailing[i]; i++) {
        if (words_equal(last, last_len, trailing[i], strlen(trailing[i])))
            return 1;
    }
    return 0;
}

void session_partial(struct session *s, const char *text, long long now_us)
{
    if (s->state != S_ACTIVE || !s->vad.speech || s->talked_over || !agent_talking(s) || !text ||
        !*text || session_is_backchannel(text))
        return;
    log_event(LOG_INFO, "stream.barge_in", "call_sid=%s by=partial", s->call_sid);
    s->talked_over = 1;
    barge_in(s, now_us);
}

void session_transcript(struct session *s, unsigned id, enum session_heard heard, const char *text,
                        long long now_us)
{
    int talking = agent_talking(s);

    if (id && id == s->probe_id) {
        /* A talk-over so far: words (not a backchannel) stop the agent; the turn comes later. */
        s->probe_id = 0;
        if (s->state == S_ACTIVE && heard == SESSION_HEARD_WORDS && text &&
            !session_is_backchannel(text) && talking && !s->talked_over) {
            s->talked_over = 1;
            barge_in(s, now_us);
        }
        return;
    }
    if (s->state != S_ACTIVE || id != s->listen_id || !s->agent_started)
        return; /* a newer utterance supersedes it, or the call is over */
    if (heard == SESSION_HEARD_WORDS && text && *text) {
        if (talking && session_is_backchannel(text)) {
            log_event(LOG_INFO, "stream.backchannel", "call_sid=%s", s->call_sid);
            return;
        }
        log_event(LOG_INFO, "stream.heard", "call_sid=%s words=%zu", s->call_sid, strlen(text));
        if (talking)
            barge_in(s, now_us);
        if (s->state == S_ACTIVE)
            words_heard(s, text, now_us);
        return;
    }
    /* Noise, or words it could not tell (or only guess at), over the agent: the agent goes on. */
    if (talking)
        return;
    if (heard == SESSION_HEARD_GUESS && text && *text) {
        log_event(LOG_INFO, "stream.heard", "call_sid=%s words=%zu guess=yes", s->call_sid,
                  strlen(text));
        words_heard(s, text, now_us);
        return;
    }
    /* Noise after words that trailed off: those words are the turn. */
    if (s->held[0]) {
        take_held(s, now_us);
        return;
    }
    /* Words it could not tell: "" (the agent asks again); a language it cannot hear: NULL. */
    caller_turn(s, NULL, heard == SESSION_HEARD_UNSUPPORTED ? NULL : "", now_us);
}

static void on_mark(struct session *s, const char *name)
{
    unsigned long id;
    char *end = NULL;

    if (name[0] != 'u')
        return;
    id = strtoul(name + 1, &end, 10);
    if (*end || id == 0)
        return;
    if (id == s->playing) {
        s->playing = 0;
        s->utterance_first_us = 0;
    }
    if (id == s->action_utterance && s->after_utterance != AGENT_CONTINUE)
        finish(s, s->after_utterance == AGENT_TRANSFER ? SESSION_TRANSFER : SESSION_HANGUP, 1000,
               s->after_utterance == AGENT_TRANSFER ? "agent transfers the call"
                                                    : "agent hangs up");
}

int session_message(struct session *s, const char *text, size_t len, long long now_us)
{
    struct media_event *ev;
    char err[128];
    char digits[2];
    int rc = 0;

    if (s->state == S_CLOSING)
        return 0;
    if (!s->parsed) {
        /* No loop scratch was given: one buffer for this session, for all its messages. */
        s->parsed = malloc(sizeof(*s->parsed));
        if (!s->parsed) {
            finish(s, SESSION_FAILED, 1011, "out of memory");
            return SB_ENOMEM;
        }
        s->owns_parsed = 1;
    }
    ev = s->parsed;
    rc = media_event_parse(text, len, ev, err, sizeof(err));
    if (rc) {
        rc = fail(s, "malformed message: %s", err);
        goto out;
    }
    if (ev->kind != MEDIA_EV_CONNECTED && ev->kind != MEDIA_EV_START &&
        ev->kind != MEDIA_EV_UNKNOWN && s->state != S_ACTIVE) {
        rc = fail(s, "%s before start", ev->event);
        goto out;
    }
    if (s->state == S_ACTIVE && ev->kind != MEDIA_EV_UNKNOWN && ev->kind != MEDIA_EV_CONNECTED &&
        strcmp(ev->stream_sid, s->stream_sid) != 0) {
        rc = fail(s, "streamSid '%.40s' is not this stream's", ev->stream_sid);
        goto out;
    }
    switch (ev->kind) {
    case MEDIA_EV_CONNECTED:
        if (s->state == S_OPENED)
            s->state = S_CONNECTED;
        break;
    case MEDIA_EV_START:
        if (s->state == S_ACTIVE) {
            rc = fail(s, "%s", "second start on one stream");
            goto out;
        }
        /* Both SID_SIZE, and the parser NUL-terminates them. */
        memcpy(s->stream_sid, ev->stream_sid, sizeof(s->stream_sid));
        memcpy(s->call_sid, ev->call_sid, sizeof(s->call_sid));
        memcpy(s->account_sid, ev->account_sid, sizeof(s->account_sid));
        s->state = S_ACTIVE;
        s->started_us = now_us;
        s->io.started(s->io.arg, s, ev);
        break;
    case MEDIA_EV_MEDIA:
        on_media(s, ev, now_us);
        break;
    case MEDIA_EV_DTMF:
        digits[0] = ev->digit;
        digits[1] = '\0';
        log_event(LOG_INFO, "stream.dtmf", "call_sid=%s digit=%s", s->call_sid, digits);
        caller_turn(s, digits, NULL, now_us);
        break;
    case MEDIA_EV_MARK:
        on_mark(s, ev->mark);
        break;
    case MEDIA_EV_STOP:
        finish(s, SESSION_STOPPED, 1000, "twilio stopped the stream");
        break;
    case MEDIA_EV_UNKNOWN:
        log_event(LOG_INFO, "stream.unknown_event", "call_sid=%s event=%.32s",
                  s->call_sid[0] ? s->call_sid : "-", ev->event);
        break;
    }
out:
    return rc;
}

int session_wants_audio(const struct session *s, unsigned id)
{
    const struct session_piece *p = NULL;

    for (size_t i = 0; i < s->npieces && !p; i++) {
        if (s->pieces[i].id == id)
            p = &s->pieces[i];
    }
    /* Pieces cut by barge-in, or already ended, are not wanted any more. */
    return s->state == S_ACTIVE && p && !p->ended && id > s->cut_upto;
}

void session_audio(struct session *s, unsigned id, const unsigned char *mulaw, size_t len,
                   long long now_us)
{
    struct session_piece *p = piece_of(s, id);

    (void)now_us;
    if (!session_wants_audio(s, id) || len == 0)
        return;
    if (p == &s->pieces[0]) {
        play(s, id, mulaw, len);
        return;
    }
    /* Pieces asked before it are still coming: it waits its turn. */
    if (buf_append(&p->audio, mulaw, len) != 0)
        log_event(LOG_WARN, "stream.piece_too_long", "call_sid=%s utterance=%u", s->call_sid, id);
}

/* Sends the mark of `id` now: its audio has all gone out. */
static void send_mark(struct session *s, unsigned id)
{
    char name[24];

    snprintf(name, sizeof(name), "u%u", id);
    send_tx(s, media_event_write_mark(tx(s), s->stream_sid, name));
}

void session_audio_end(struct session *s, unsigned id, long long now_us)
{
    struct session_piece *p = piece_of(s, id);

    (void)now_us;
    if (s->state != S_ACTIVE || !p)
        return;
    p->ended = 1;
    /* The first pieces that ended make way; the next one's waiting audio plays. */
    while (s->npieces && s->pieces[0].ended) {
        unsigned done = s->pieces[0].id;

        buf_release(&s->pieces[0].audio);
        memmove(s->pieces, s->pieces + 1, (s->npieces - 1) * sizeof(s->pieces[0]));
        s->npieces--;
        if (s->mark_owed == done && pacer_idle(&s->pacer)) {
            s->mark_owed = 0;
            send_mark(s, done);
            if (s->state != S_ACTIVE)
                return;
        }
        if (s->npieces) {
            struct session_piece *next = &s->pieces[0];

            play(s, next->id, (const unsigned char *)next->audio.data, next->audio.len);
            buf_release(&next->audio);
            buf_init(&next->audio, SESSION_PIECE_MAX);
        }
    }
}

void session_synthesized(struct session *s, unsigned id, int rc, const unsigned char *mulaw,
                         size_t len, long long now_us)
{
    if (rc == 0)
        session_audio(s, id, mulaw, len, now_us);
    session_audio_end(s, id, now_us);
}

long long session_tick(struct session *s, long long now_us)
{
    unsigned char frames[TICK_MAX_FRAMES * PHONE_FRAME_BYTES];
    int mark = 0;
    size_t n;

    if (s->state != S_ACTIVE)
        return -1;
    n = pacer_take(&s->pacer, now_us, frames, TICK_MAX_FRAMES, &mark);
    for (size_t i = 0; i < n; i++) {
        if (send_tx(s, media_event_write_media(tx(s), s->stream_sid, frames + i * PHONE_FRAME_BYTES,
                                               PHONE_FRAME_BYTES)))
            return -1;
        s->frames_out++;
        if (!s->utterance_first_us) {
            s->utterance_first_us = now_us;
            if (s->first_audio_ms < 0)
                s->first_audio_ms = (long)((now_us - s->started_us) / 1000);
            if (s->speech_end_us) {
                s->last_turn_gap_ms = (long)((now_us - s->speech_end_us) / 1000);
                s->speech_end_us = 0;
                if (s->reply_awaited)
                    reply_lines_flush(s, s->last_turn_gap_ms);
            }
        }
    }
    if (mark && s->playing) {
        struct session_piece *p = piece_of(s, s->playing);

        /* A streamed piece whose next chunk has not come yet: its mark waits for its end. */
        if (p && !p->ended) {
            s->mark_owed = s->playing;
        } else {
            send_mark(s, s->playing);
            if (s->state != S_ACTIVE)
                return -1;
        }
    }
    return pacer_next_due(&s->pacer, now_us);
}

void session_release(struct session *s)
{
    if (s->agent_started && s->agent->close)
        s->agent->close(s->agent_obj);
    s->agent_obj = NULL;
    s->agent_started = 0;
    if (s->reply_lines.len)
        reply_lines_flush(s, -1);
    pieces_clear(s);
    pacer_release(&s->pacer);
    buf_release(&s->tx);
    buf_release(&s->reply_lines);
    utterance_release(&s->said);
    if (s->owns_parsed)
        free(s->parsed);
    s->parsed = NULL;
    s->owns_parsed = 0;
}
