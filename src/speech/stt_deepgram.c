/*
 * Deepgram streaming for one call (see stt_deepgram.h). Only the caller's
 * speech is streamed (the utterances the session cuts), so stream time is
 * the audio sent on this socket; a result belongs to the utterance whose
 * start in that time it follows. A finalize's words are the settled
 * transcripts since its utterance began.
 */
#include "speech/stt_deepgram.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "speech/deepgram_wire.h"
#include "core/banned.h"

/* Finalizes awaiting their result at once, and settled pieces kept. */
#define DG_WANTS 8
#define DG_PIECES 32
/* A result this much before an utterance's start still belongs to it (Deepgram rounds). */
#define DG_SLACK_S 0.05

struct dg_want {
    unsigned id;
    double from_s; /* its utterance's start in stream time */
    long long asked_ms;
};

struct dg_piece {
    double start_s;
    char text[STT_TEXT_MAX];
};

struct stt_deepgram {
    pthread_mutex_t lock;
    struct ws_client *ws;
    char *url;
    char *auth; /* "Authorization: Token KEY", or NULL */
    struct stt_deepgram_sink sink;
    uint64_t conn; /* the socket, 0 when none */
    int reconnected, down, closing;
    struct buf utterance; /* the current utterance's audio, for a reconnect */
    int utterance_cut;    /* its kept copy reached STT_MAX_BYTES (logged once) */
    double sent_s;        /* audio sent on this socket, in seconds */
    double utterance_s;   /* where the current utterance began */
    struct dg_want wants[DG_WANTS];
    size_t nwants;
    struct dg_piece pieces[DG_PIECES];
    size_t npieces;
    long long last_send_ms, last_msg_ms, last_audio_ms;
};

static void on_message(void *arg, uint64_t id, const void *data, size_t len, int binary);
static void on_close(void *arg, uint64_t id, const struct ws_closed *how);

/* Opens a socket (lock held). Returns 0 or an SB_E* code. */
static int connect_now(struct stt_deepgram *d)
{
    const char *headers[1] = {d->auth};
    struct ws_open req;

    memset(&req, 0, sizeof(req));
    req.url = d->url;
    req.headers = headers;
    req.nheaders = d->auth ? 1 : 0;
    req.connect_timeout_ms = 5000;
    req.max_message = DEEPGRAM_MESSAGE_MAX;
    req.on_message = on_message;
    req.on_close = on_close;
    req.arg = d;
    d->sent_s = 0;
    d->utterance_s = 0;
    d->npieces = 0;
    return ws_client_open(d->ws, &req, &d->conn);
}

int stt_deepgram_open(struct stt_deepgram **out, struct ws_client *ws,
                      const struct stt_deepgram_config *cfg, const struct stt_deepgram_sink *sink)
{
    struct stt_deepgram *d;
    struct buf url = BUF_INIT(4096);
    char err[160];
    int rc;

    *out = NULL;
    rc = deepgram_listen_url(&url, cfg->base_url, cfg->model, cfg->lang, err, sizeof(err));
    if (rc) {
        log_event(LOG_ERROR, "deepgram.bad_settings", "error=\"%s\"", err);
        buf_release(&url);
        return rc == SB_ENOMEM ? rc : SB_EINVAL;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        buf_release(&url);
        return SB_ENOMEM;
    }
    pthread_mutex_init(&d->lock, NULL);
    d->ws = ws;
    d->sink = *sink;
    d->url = buf_detach(&url, NULL);
    buf_init(&d->utterance, STT_MAX_BYTES);
    if (cfg->key && *cfg->key) {
        size_t n = strlen(cfg->key) + sizeof("Authorization: Token ");

        d->auth = malloc(n);
        if (d->auth)
            snprintf(d->auth, n, "Authorization: Token %s", cfg->key);
    }
    if (!d->url || (cfg->key && *cfg->key && !d->auth)) {
        rc = SB_ENOMEM;
    } else {
        pthread_mutex_lock(&d->lock);
        rc = connect_now(d);
        pthread_mutex_unlock(&d->lock);
    }
    if (rc) {
        buf_release(&d->utterance);
        free(d->url);
        free(d->auth);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

static void send_text(struct stt_deepgram *d, const char *msg, long long now_ms)
{
    if (d->conn && ws_client_send(d->ws, d->conn, msg, strlen(msg), 0) == 0)
        d->last_send_ms = now_ms;
}

static void send_audio(struct stt_deepgram *d, const unsigned char *mulaw, size_t len,
                       long long now_ms)
{
    if (!d->conn || len == 0)
        return;
    if (ws_client_send(d->ws, d->conn, mulaw, len, 1) == 0) {
        d->sent_s += (double)len / 8000.0;
        d->last_send_ms = now_ms;
    }
}

/* The settled words since `from_s`, joined; pieces before the oldest utterance still wanted go. */
static void words_since(struct stt_deepgram *d, double from_s, struct stt_result *res)
{
    size_t used = 0;

    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < d->npieces; i++) {
        const struct dg_piece *p = &d->pieces[i];
        int n;

        if (p->start_s + DG_SLACK_S < from_s || !p->text[0])
            continue;
        n = snprintf(res->text + used, sizeof(res->text) - used, "%s%s", used ? " " : "", p->text);
        if (n < 0 || (size_t)n >= sizeof(res->text) - used)
            break; /* longer than a result holds: the rest is left out */
        used += (size_t)n;
    }
    res->outcome = used ? STT_WORDS : STT_NOTHING;
    res->score = 0;
}

static void forget_before(struct stt_deepgram *d, double from_s)
{
    size_t kept = 0;

    for (size_t i = 0; i < d->npieces; i++) {
        if (d->pieces[i].start_s + DG_SLACK_S >= from_s)
            d->pieces[kept++] = d->pieces[i];
    }
    d->npieces = kept;
}

/* The oldest finalize is answered (lock held; the sink runs under it, see the header). */
static void answer_oldest(struct stt_deepgram *d)
{
    struct stt_result res;
    struct dg_want w = d->wants[0];

    memmove(d->wants, d->wants + 1, (d->nwants - 1) * sizeof(d->wants[0]));
    d->nwants--;
    words_since(d, w.from_s, &res);
    forget_before(d, d->nwants ? d->wants[0].from_s : d->utterance_s);
    if (!d->closing)
        d->sink.on_result(d->sink.arg, w.id, 0, &res, NULL);
}

/* Every awaited result fails: the recogniser is down (lock held). */
static void give_up(struct stt_deepgram *d, const char *why)
{
    if (!d->down)
        log_event(LOG_WARN, "deepgram.down", "reason=\"%s\"", why);
    d->down = 1;
    while (d->nwants) {
        unsigned id = d->wants[0].id;

        memmove(d->wants, d->wants + 1, (d->nwants - 1) * sizeof(d->wants[0]));
        d->nwants--;
        if (!d->closing)
            d->sink.on_result(d->sink.arg, id, SB_EIO, NULL, why);
    }
}

void stt_deepgram_audio(struct stt_deepgram *d, const unsigned char *mulaw, size_t len, int start)
{
    long long now = clock_mono_ms();

    if (!d || !len)
        return;
    pthread_mutex_lock(&d->lock);
    if (d->down || d->closing) {
        pthread_mutex_unlock(&d->lock);
        return;
    }
    if (start) {
        buf_reset(&d->utterance);
        d->utterance_cut = 0;
        if (!d->conn && connect_now(d) != 0)
            give_up(d, "cannot open a socket");
        d->utterance_s = d->sent_s;
    }
    /* Kept for a reconnect; an utterance past STT_MAX_BYTES keeps its beginning. */
    if (buf_append(&d->utterance, mulaw, len) != 0 && !d->utterance_cut) {
        d->utterance_cut = 1;
        log_event(LOG_INFO, "stt.utterance_cut",
                  "provider=deepgram reason=\"longer than the copy kept for a reconnect\"");
    }
    send_audio(d, mulaw, len, now);
    d->last_audio_ms = now;
    pthread_mutex_unlock(&d->lock);
}

int stt_deepgram_finalize(struct stt_deepgram *d, unsigned id, long long now_ms)
{
    int rc = 0;

    pthread_mutex_lock(&d->lock);
    if (d->down || d->closing) {
        rc = SB_EIO;
    } else {
        if (d->nwants == DG_WANTS)
            answer_oldest(d); /* with what it has: it is long overdue */
        d->wants[d->nwants].id = id;
        d->wants[d->nwants].from_s = d->utterance_s;
        d->wants[d->nwants].asked_ms = now_ms;
        d->nwants++;
        if (!d->conn && connect_now(d) != 0)
            give_up(d, "cannot open a socket");
        else
            send_text(d, DEEPGRAM_FINALIZE, now_ms);
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

void stt_deepgram_tick(struct stt_deepgram *d, long long now_ms)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    if (d->conn && !d->closing && now_ms - d->last_send_ms >= STT_DEEPGRAM_KEEPALIVE_MS)
        send_text(d, DEEPGRAM_KEEPALIVE, now_ms);
    while (d->nwants) {
        long long since =
            d->wants[0].asked_ms > d->last_msg_ms ? d->wants[0].asked_ms : d->last_msg_ms;

        if (now_ms - since < STT_DEEPGRAM_FINAL_WAIT_MS)
            break;
        log_event(LOG_WARN, "deepgram.final_late", "utterance=%u waited_ms=%lld", d->wants[0].id,
                  now_ms - d->wants[0].asked_ms);
        answer_oldest(d);
    }
    pthread_mutex_unlock(&d->lock);
}

int stt_deepgram_down(struct stt_deepgram *d)
{
    int down;

    if (!d)
        return 1;
    pthread_mutex_lock(&d->lock);
    down = d->down;
    pthread_mutex_unlock(&d->lock);
    return down;
}

static void on_message(void *arg, uint64_t id, const void *data, size_t len, int binary)
{
    struct stt_deepgram *d = arg;
    struct deepgram_msg m;
    char err[160];

    if (binary)
        return; /* Deepgram sends text only */
    if (deepgram_parse(data, len, &m, err, sizeof(err)) != 0) {
        log_event(LOG_WARN, "deepgram.bad_message", "error=\"%s\"", err);
        return;
    }
    pthread_mutex_lock(&d->lock);
    if (id != d->conn) {
        pthread_mutex_unlock(&d->lock);
        return;
    }
    d->last_msg_ms = clock_mono_ms();
    if (m.kind == DEEPGRAM_ERROR) {
        log_event(LOG_WARN, "deepgram.error", "code=\"%s\" error=\"%s\"", m.error_code, m.error);
    } else if (m.kind == DEEPGRAM_RESULTS && !m.is_final) {
        if (m.transcript[0] && d->sink.on_partial && !d->closing)
            d->sink.on_partial(d->sink.arg, m.transcript);
    } else if (m.kind == DEEPGRAM_RESULTS && m.is_final) {
        if (m.transcript[0] && !m.from_finalize && d->sink.on_partial && !d->closing)
            d->sink.on_partial(d->sink.arg, m.transcript);
        if (m.transcript[0] && d->npieces < DG_PIECES) {
            d->pieces[d->npieces].start_s = m.start;
            snprintf(d->pieces[d->npieces].text, sizeof(d->pieces[0].text), "%s", m.transcript);
            d->npieces++;
        }
        if (m.from_finalize && d->nwants)
            answer_oldest(d);
    }
    pthread_mutex_unlock(&d->lock);
}

/* Frees what the object holds (lock not held, nothing refers to it any more). */
static void destroy(struct stt_deepgram *d)
{
    buf_release(&d->utterance);
    free(d->url);
    if (d->auth)
        OPENSSL_cleanse(d->auth, strlen(d->auth));
    free(d->auth);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static void on_close(void *arg, uint64_t id, const struct ws_closed *how)
{
    struct stt_deepgram *d = arg;
    char why[200];

    pthread_mutex_lock(&d->lock);
    if (id != d->conn) {
        pthread_mutex_unlock(&d->lock);
        return;
    }
    d->conn = 0;
    if (d->closing) {
        pthread_mutex_unlock(&d->lock);
        destroy(d);
        return;
    }
    snprintf(why, sizeof(why), "%s%s%s",
             how->http_status ? "the handshake was refused: " : "the socket closed: ",
             how->reason[0] ? how->reason : "no reason", how->opened ? "" : " (never opened)");
    if (how->http_status == 401 || how->http_status == 403) {
        give_up(d, why); /* a refused key is not cured by trying again */
    } else if (d->nwants || clock_mono_ms() - d->last_audio_ms < 1000) {
        /* Mid-utterance: once more, with the utterance's audio again. */
        if (d->reconnected || connect_now(d) != 0) {
            give_up(d, why);
        } else {
            long long now = clock_mono_ms();

            d->reconnected = 1;
            log_event(LOG_WARN, "deepgram.reconnected", "reason=\"%s\"", why);
            /* Only the current utterance's audio is kept: older finalizes are answered now. */
            while (d->nwants && d->wants[0].from_s + DG_SLACK_S < d->utterance_s)
                answer_oldest(d);
            for (size_t i = 0; i < d->nwants; i++)
                d->wants[i].from_s = 0;
            send_audio(d, (const unsigned char *)d->utterance.data, d->utterance.len, now);
            if (d->nwants)
                send_text(d, DEEPGRAM_FINALIZE, now);
        }
    } else if (!how->opened) {
        give_up(d, why);
    }
    /* else: closed while idle (a timeout); the next utterance opens a new socket */
    pthread_mutex_unlock(&d->lock);
}

void stt_deepgram_close(struct stt_deepgram *d)
{
    int now_free;

    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->closing = 1;
    now_free = d->conn == 0;
    if (d->conn) {
        /* Its on_close has not run (it clears conn under the lock): it frees the object. */
        send_text(d, DEEPGRAM_CLOSE_STREAM, clock_mono_ms());
        (void)ws_client_close(d->ws, d->conn, 1000, NULL);
    }
    pthread_mutex_unlock(&d->lock);
    if (now_free)
        destroy(d);
}
