#include "server/stream_cloud.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/clock.h"
#include "core/log.h"
#include "server/conversations.h"
#include "server/server_internal.h"
#include "server/stream.h"
#include "speech/stt_deepgram.h"
#include "speech/tts_stream.h"
#include "core/banned.h"

/* Utterances awaiting words, and pieces being said, per call at most. */
#define CLOUD_UTTERANCES 8
#define CLOUD_PIECES 32
/*
 * A piece whose first audio has not come this long after it was asked is
 * said by the offline voice instead: a slow provider must not leave the
 * caller in silence. After a piece falls back, the call's next pieces go to
 * the offline voice for CLOUD_TTS_REST_MS, so an outage costs one wait,
 * not one per sentence.
 */
#define CLOUD_FIRST_AUDIO_MS 2500
#define CLOUD_TTS_REST_MS 30000

enum cloud_event_kind { EV_HEARD, EV_AUDIO, EV_SAID, EV_PARTIAL };

/* What an engine produced, on its client's thread, for the loop. */
struct cloud_event {
    struct cloud_event *next;
    unsigned long long conn_id;
    enum cloud_event_kind kind;
    unsigned id;
    int rc;
    size_t sent;           /* EV_SAID: audio bytes that went out */
    struct stt_result res; /* EV_HEARD; EV_PARTIAL: res.text */
    char err[128];
    size_t len; /* EV_AUDIO: the bytes in data */
    unsigned char data[];
};

struct cloud_queue {
    pthread_mutex_t lock;
    struct cloud_event *head, *tail;
    struct server *srv;
};

struct kept_utterance {
    unsigned id;
    long long asked_ms; /* when its words were asked for: the provider's time counts from it */
    unsigned char *audio;
    size_t len;
};

struct kept_piece {
    unsigned id;
    long long asked_ms;
    int heard; /* some of its audio came */
    char *text;
    char lang[16];
    char voice[64];
};

struct stream_cloud {
    struct server *srv;
    unsigned long long conn_id;
    char lang[16];
    char call[16]; /* the CallSid's start, for logs */
    struct stt_deepgram *dg;
    struct tts_stream *ts;
    struct kept_utterance utts[CLOUD_UTTERANCES];
    struct kept_piece pieces[CLOUD_PIECES];
    int stt_fallback_said;
    long long tts_rest_until_ms; /* the cloud voice rests until then (it failed) */
};

/* The server's queue, made with its WebSocket client at the first cloud call. */
static struct cloud_queue *queue_of(struct server *srv)
{
    return srv->cloud_queue;
}

static void wake(struct cloud_queue *q)
{
    lws_cancel_service(q->srv->lws);
}

static void push(struct cloud_queue *q, struct cloud_event *e)
{
    int was_empty;

    pthread_mutex_lock(&q->lock);
    was_empty = q->head == NULL;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    pthread_mutex_unlock(&q->lock);
    if (was_empty)
        wake(q);
}

/* The sinks' argument: the queue and the stream, fixed for the engine's life. */
struct cloud_tag {
    struct cloud_queue *q;
    unsigned long long conn_id;
};

static struct cloud_event *event_new(const struct cloud_tag *t, enum cloud_event_kind kind,
                                     unsigned id, size_t len)
{
    struct cloud_event *e = calloc(1, sizeof(*e) + len);

    if (!e) {
        log_event(LOG_ERROR, "stream.cloud_lost", "reason=\"out of memory\"");
        return NULL;
    }
    e->conn_id = t->conn_id;
    e->kind = kind;
    e->id = id;
    e->len = len;
    return e;
}

static void on_result(void *arg, unsigned id, int rc, const struct stt_result *res, const char *err)
{
    struct cloud_tag *t = arg;
    struct cloud_event *e = event_new(t, EV_HEARD, id, 0);

    if (!e)
        return;
    e->rc = rc;
    if (res)
        e->res = *res;
    snprintf(e->err, sizeof(e->err), "%s", err ? err : "");
    push(t->q, e);
}

static void on_partial(void *arg, const char *text)
{
    struct cloud_tag *t = arg;
    struct cloud_event *e = event_new(t, EV_PARTIAL, 0, 0);

    if (!e)
        return;
    snprintf(e->res.text, sizeof(e->res.text), "%s", text);
    push(t->q, e);
}

static void on_audio(void *arg, unsigned id, const unsigned char *mulaw, size_t len)
{
    struct cloud_tag *t = arg;
    struct cloud_event *e = event_new(t, EV_AUDIO, id, len);

    if (!e)
        return;
    memcpy(e->data, mulaw, len);
    push(t->q, e);
}

static void on_said(void *arg, unsigned id, int rc, size_t sent, const char *err)
{
    struct cloud_tag *t = arg;
    struct cloud_event *e = event_new(t, EV_SAID, id, 0);

    if (!e)
        return;
    e->rc = rc;
    e->sent = sent;
    snprintf(e->err, sizeof(e->err), "%s", err ? err : "");
    push(t->q, e);
}

/* The WebSocket client and the queue, started at the first call that needs them. */
static int cloud_start(struct server *srv)
{
    struct cloud_queue *q;
    int rc;

    if (srv->cloud_queue)
        return 0;
    q = calloc(1, sizeof(*q));
    if (!q)
        return SB_ENOMEM;
    pthread_mutex_init(&q->lock, NULL);
    q->srv = srv;
    rc = ws_client_new(&srv->ws);
    if (rc) {
        pthread_mutex_destroy(&q->lock);
        free(q);
        return rc;
    }
    srv->cloud_queue = q;
    return 0;
}

int stream_cloud_open(struct server *srv, unsigned long long conn_id,
                      const struct stream_speech *sp, const char *lang, struct stream_cloud **out)
{
    struct stream_cloud *cl;
    struct cloud_tag *tag;
    int engine = sp->tts[0] ? tts_stream_engine_of(sp->tts) : -1;
    int rc;

    *out = NULL;
    if (!sp->stt_deepgram && engine < 0)
        return 0;
    rc = cloud_start(srv);
    if (rc)
        return rc;
    /* One allocation: the object and its sinks' tag, which stays valid as long as it. */
    cl = calloc(1, sizeof(*cl) + sizeof(*tag));
    if (!cl)
        return SB_ENOMEM;
    tag = (struct cloud_tag *)(cl + 1);
    tag->q = queue_of(srv);
    tag->conn_id = conn_id;
    cl->srv = srv;
    cl->conn_id = conn_id;
    snprintf(cl->lang, sizeof(cl->lang), "%s", lang ? lang : "");
    if (sp->stt_deepgram) {
        struct stt_deepgram_config dc = {sp->stt.url, sp->stt.model, cl->lang, sp->stt.key};
        struct stt_deepgram_sink sink = {on_result, on_partial, tag};

        rc = stt_deepgram_open(&cl->dg, srv->ws, &dc, &sink);
        if (rc)
            log_event(LOG_ERROR, "stream.stt_unavailable",
                      "stt=deepgram error=\"%s\" using=pocketsphinx", sb_strerror(rc));
    }
    if (engine >= 0) {
        struct tts_stream_config tc = {(enum tts_stream_engine)engine,
                                       sp->tts_url,
                                       NULL,
                                       sp->tts_voice,
                                       cl->lang,
                                       sp->tts_key};
        struct tts_stream_sink sink = {on_audio, on_said, tag};

        rc = tts_stream_open(&cl->ts, srv->ws, conversations_http(srv), &tc, &sink);
        if (rc)
            log_event(LOG_ERROR, "stream.tts_unavailable", "tts=%s error=\"%s\" using=offline",
                      sp->tts, sb_strerror(rc));
    }
    if (!cl->dg && !cl->ts) {
        free(cl);
        return rc ? rc : SB_EIO;
    }
    *out = cl;
    return 0;
}

int stream_cloud_listens(const struct stream_cloud *cl)
{
    return cl && cl->dg;
}

int stream_cloud_speaks(const struct stream_cloud *cl)
{
    return cl && cl->ts;
}

void stream_cloud_hear(struct stream_cloud *cl, const unsigned char *mulaw, size_t len, int start)
{
    if (cl && cl->dg && !stt_deepgram_down(cl->dg))
        stt_deepgram_audio(cl->dg, mulaw, len, start);
}

/* Asks the server's own recogniser (the fallback); takes `audio`. Returns 0 or an SB_E* code. */
static int recognize_offline(struct stream_cloud *cl, unsigned id, unsigned char *audio, size_t len,
                             const char *why)
{
    if (!cl->stt_fallback_said) {
        log_event(LOG_WARN, "stream.stt_fallback", "stt=deepgram using=pocketsphinx reason=\"%s\"",
                  why);
        cl->stt_fallback_said = 1;
    }
    if (!audio)
        return SB_ENOMEM;
    return stream_listen_submit(cl->srv, cl->conn_id, id, audio, len, cl->lang, NULL, NULL);
}

int stream_cloud_recognize(struct stream_cloud *cl, unsigned id, unsigned char *mulaw, size_t len,
                           const char *lang)
{
    struct kept_utterance *slot = NULL;

    (void)lang;
    if (stt_deepgram_down(cl->dg))
        return recognize_offline(cl, id, mulaw, len, "deepgram is unavailable");
    for (size_t i = 0; i < CLOUD_UTTERANCES && !slot; i++) {
        if (!cl->utts[i].id)
            slot = &cl->utts[i];
    }
    if (!slot) {
        /* Too many answers awaited: the oldest is given up (it is long stale). */
        slot = &cl->utts[0];
        for (size_t i = 1; i < CLOUD_UTTERANCES; i++) {
            if (cl->utts[i].id < slot->id)
                slot = &cl->utts[i];
        }
        free(slot->audio);
    }
    slot->id = id;
    slot->asked_ms = clock_mono_ms();
    slot->audio = mulaw;
    slot->len = len;
    if (stt_deepgram_finalize(cl->dg, id, clock_mono_ms()) != 0) {
        slot->id = 0;
        slot->audio = NULL;
        return recognize_offline(cl, id, mulaw, len, "deepgram is unavailable");
    }
    return 0;
}

static struct kept_utterance *kept_utterance(struct stream_cloud *cl, unsigned id)
{
    for (size_t i = 0; i < CLOUD_UTTERANCES; i++) {
        if (cl->utts[i].id == id)
            return &cl->utts[i];
    }
    return NULL;
}

static struct kept_piece *kept_piece(struct stream_cloud *cl, unsigned id)
{
    for (size_t i = 0; i < CLOUD_PIECES; i++) {
        if (cl->pieces[i].id == id)
            return &cl->pieces[i];
    }
    return NULL;
}

static void piece_forget(struct kept_piece *p)
{
    free(p->text);
    memset(p, 0, sizeof(*p));
}

int stream_cloud_say(struct stream_cloud *cl, unsigned id, const char *text, const char *lang,
                     const char *voice)
{
    struct kept_piece *slot = kept_piece(cl, 0);
    long long now = clock_mono_ms();
    int rc;

    if (now < cl->tts_rest_until_ms)
        return stream_synthesize_offline(cl->srv, cl->conn_id, id, text, lang, voice);
    if (!slot)
        return SB_EBUSY;
    slot->text = strdup(text);
    if (!slot->text)
        return SB_ENOMEM;
    slot->id = id;
    slot->asked_ms = now;
    snprintf(slot->lang, sizeof(slot->lang), "%s", lang ? lang : "");
    snprintf(slot->voice, sizeof(slot->voice), "%s", voice ? voice : "");
    rc = tts_stream_say(cl->ts, id, text);
    if (rc) {
        log_event(LOG_WARN, "stream.tts_fallback", "reason=\"%s\"", sb_strerror(rc));
        rc = stream_synthesize_offline(cl->srv, cl->conn_id, id, text, slot->lang, slot->voice);
        piece_forget(slot);
    }
    return rc;
}

void stream_cloud_cut(struct stream_cloud *cl, unsigned upto)
{
    if (!cl || !cl->ts)
        return;
    tts_stream_cancel(cl->ts, upto);
    for (size_t i = 0; i < CLOUD_PIECES; i++) {
        if (cl->pieces[i].id && cl->pieces[i].id <= upto)
            piece_forget(&cl->pieces[i]);
    }
}

/* Piece `p` is said by the offline voice after all; the cloud voice rests a while. */
static void say_offline(struct stream_cloud *cl, struct kept_piece *p, long long now_ms)
{
    log_event(LOG_WARN, "stream.tts_fallback", "utterance=%u using=offline", p->id);
    cl->tts_rest_until_ms = now_ms + CLOUD_TTS_REST_MS;
    if (stream_synthesize_offline(cl->srv, cl->conn_id, p->id, p->text, p->lang, p->voice) != 0) {
        log_event(LOG_ERROR, "stream.tts_lost", "utterance=%u", p->id);
        stream_audio_end(cl->srv, cl->conn_id, p->id); /* the pieces after it still play */
    }
}

void stream_cloud_tick(struct stream_cloud *cl, long long now_ms)
{
    if (!cl)
        return;
    if (cl->dg)
        stt_deepgram_tick(cl->dg, now_ms);
    for (size_t i = 0; cl->ts && i < CLOUD_PIECES; i++) {
        struct kept_piece *p = &cl->pieces[i];

        if (p->id && !p->heard && now_ms - p->asked_ms >= CLOUD_FIRST_AUDIO_MS) {
            log_event(LOG_WARN, "stream.tts_slow", "utterance=%u waited_ms=%lld", p->id,
                      now_ms - p->asked_ms);
            tts_stream_cancel_one(cl->ts, p->id);
            say_offline(cl, p, now_ms);
            piece_forget(p);
        }
    }
}

void stream_cloud_free(struct stream_cloud *cl)
{
    if (!cl)
        return;
    /* Both promise no sink call once they return: the tag dies with cl. */
    stt_deepgram_close(cl->dg);
    tts_stream_close(cl->ts);
    for (size_t i = 0; i < CLOUD_UTTERANCES; i++)
        free(cl->utts[i].audio);
    for (size_t i = 0; i < CLOUD_PIECES; i++)
        free(cl->pieces[i].text);
    free(cl);
}

static void heard(struct stream_cloud *cl, const struct cloud_event *e)
{
    struct kept_utterance *u = kept_utterance(cl, e->id);
    unsigned char *audio = u ? u->audio : NULL;
    size_t len = u ? u->len : 0;
    long long wait_ms = u ? clock_mono_ms() - u->asked_ms : -1;

    if (u)
        memset(u, 0, sizeof(*u));
    if (e->rc) {
        log_event(LOG_WARN, "stream.stt_failed", "stt=deepgram utterance=%u error=\"%s\"", e->id,
                  e->err);
        if (recognize_offline(cl, e->id, audio, len, e->err) != 0)
            stream_heard(cl->srv, cl->conn_id, e->id, SESSION_HEARD_NOTHING, NULL);
        return;
    }
    free(audio);
    log_event(LOG_INFO, "stream.recognized", "utterance=%u outcome=%s stt=deepgram wait_ms=%lld",
              e->id, e->res.outcome == STT_WORDS ? "words" : "nothing", wait_ms);
    stream_heard(cl->srv, cl->conn_id, e->id,
                 e->res.outcome == STT_WORDS ? SESSION_HEARD_WORDS : SESSION_HEARD_NOTHING,
                 e->res.text);
}

static void said(struct stream_cloud *cl, const struct cloud_event *e)
{
    struct kept_piece *p = kept_piece(cl, e->id);

    if (!p)
        return; /* cut off by barge-in, or said offline already */
    if (e->rc) {
        log_event(LOG_WARN, "stream.tts_failed", "utterance=%u sent=%zu error=\"%s\"", e->id,
                  e->sent, e->err);
    }
    if (e->rc && e->sent == 0)
        say_offline(cl, p, clock_mono_ms()); /* the offline voice ends it */
    else
        stream_audio_end(cl->srv, cl->conn_id, e->id);
    piece_forget(p);
}

void stream_cloud_drain(struct server *srv)
{
    struct cloud_queue *q = queue_of(srv);
    struct cloud_event *list;

    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    list = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->lock);
    while (list) {
        struct cloud_event *e = list;
        struct stream_cloud *cl = stream_cloud_of(srv, e->conn_id);

        list = e->next;
        if (cl) {
            switch (e->kind) {
            case EV_HEARD:
                heard(cl, e);
                break;
            case EV_AUDIO: {
                struct kept_piece *p = kept_piece(cl, e->id);

                /* A piece no longer kept was cut off or said offline: its audio goes nowhere. */
                if (p) {
                    if (!p->heard)
                        log_event(LOG_INFO, "stream.tts_first_audio", "utterance=%u wait_ms=%lld",
                                  e->id, clock_mono_ms() - p->asked_ms);
                    p->heard = 1;
                    stream_audio(srv, e->conn_id, e->id, e->data, e->len);
                }
                break;
            }
            case EV_SAID:
                said(cl, e);
                break;
            case EV_PARTIAL:
                stream_partial(srv, e->conn_id, e->res.text);
                break;
            }
        }
        OPENSSL_cleanse(e->data, e->len);
        free(e);
    }
}

void stream_cloud_shutdown(struct server *srv)
{
    struct cloud_queue *q = queue_of(srv);

    ws_client_free(srv->ws);
    srv->ws = NULL;
    if (!q)
        return;
    while (q->head) {
        struct cloud_event *e = q->head;

        q->head = e->next;
        free(e);
    }
    pthread_mutex_destroy(&q->lock);
    free(q);
    srv->cloud_queue = NULL;
}
