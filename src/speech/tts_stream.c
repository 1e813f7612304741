/*
 * Streaming synthesis by ElevenLabs, Cartesia or an OpenAI-compatible
 * server (see tts_stream.h). Each piece is its own connection: simple to
 * cancel (close it) and nothing of one piece can reach another.
 */
#include "speech/tts_stream.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mulaw.h"
#include "speech/provider_wire.h"
#include "speech/resample.h"
#include "speech/tts_wire.h"
#include "core/banned.h"

/* Pieces in flight at once per call (a reply is a few sentences). */
#define TS_PIECES 16
/* ElevenLabs' "Rachel" and a Cartesia voice from its docs: used when the agent names none. */
#define ELEVENLABS_DEFAULT_VOICE "21m00Tcm4TlvDq8ikWAM"
#define CARTESIA_DEFAULT_VOICE "f786b574-daa5-4673-aa0c-cbe3e8534c02"
#define OPENAI_DEFAULT_URL "https://api.openai.com/v1"
#define OPENAI_DEFAULT_MODEL "gpt-4o-mini-tts"
#define OPENAI_DEFAULT_VOICE "alloy"
#define OPENAI_PCM_RATE 24000

struct ts_piece {
    struct tts_stream *owner;
    unsigned id;      /* 0: the slot is free */
    uint64_t conn;    /* its socket, or */
    uint64_t request; /* its HTTP request */
    size_t sent;      /* audio bytes handed to the sink */
    int over;         /* on_done was reported (or it was cancelled): say nothing more */
};

struct tts_stream {
    pthread_mutex_t lock;
    enum tts_stream_engine engine;
    struct ws_client *ws;
    struct http_client *http;
    struct tts_stream_sink sink;
    char *url;        /* the socket's URL, or the HTTP endpoint */
    char *headers[3]; /* key and version headers */
    size_t nheaders;
    char *model, *voice, *lang;
    struct ts_piece pieces[TS_PIECES];
    size_t live; /* connections and requests not yet ended */
    int closing;
    struct buf audio; /* decoded audio of one message (client thread only) */
};

/* Adds the header "name: <scheme>value" (scheme "" or "Bearer "). */
static int dup_header(struct tts_stream *t, const char *name, const char *scheme, const char *value)
{
    size_t n = strlen(name) + strlen(scheme) + strlen(value) + 3;
    char *h = malloc(n);

    if (!h)
        return SB_ENOMEM;
    snprintf(h, n, "%s: %s%s", name, scheme, value);
    t->headers[t->nheaders++] = h;
    return 0;
}

int tts_stream_engine_of(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "elevenlabs") == 0)
        return TTS_STREAM_ELEVENLABS;
    if (strcmp(name, "cartesia") == 0)
        return TTS_STREAM_CARTESIA;
    if (strcmp(name, "openai") == 0)
        return TTS_STREAM_OPENAI;
    return -1;
}

static const char *or_default(const char *s, const char *fallback)
{
    return s && *s ? s : fallback;
}

static void destroy(struct tts_stream *t)
{
    for (size_t i = 0; i < t->nheaders; i++) {
        OPENSSL_cleanse(t->headers[i], strlen(t->headers[i]));
        free(t->headers[i]);
    }
    free(t->url);
    free(t->model);
    free(t->voice);
    free(t->lang);
    buf_release(&t->audio);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* The endpoint and headers of the engine. Returns 0 or an SB_E* code. */
static int endpoint(struct tts_stream *t, const struct tts_stream_config *cfg)
{
    struct buf url = BUF_INIT(4096);
    char err[160] = "";
    const char *key = cfg->key && *cfg->key ? cfg->key : NULL;
    int rc = 0;

    switch (cfg->engine) {
    case TTS_STREAM_ELEVENLABS:
        rc = elevenlabs_url(&url, cfg->base_url, t->voice, cfg->model, cfg->lang, err, sizeof(err));
        if (rc == 0 && key)
            rc = dup_header(t, "xi-api-key", "", key);
        break;
    case TTS_STREAM_CARTESIA:
        rc = cartesia_url(&url, cfg->base_url, err, sizeof(err));
        if (rc == 0 && key)
            rc = dup_header(t, "Authorization", "Bearer ", key);
        if (rc == 0)
            rc = dup_header(t, "Cartesia-Version", "", CARTESIA_VERSION);
        break;
    case TTS_STREAM_OPENAI:
        rc = buf_printf(&url, "%s", or_default(cfg->base_url, OPENAI_DEFAULT_URL));
        while (rc == 0 && url.len && url.data[url.len - 1] == '/')
            url.data[--url.len] = '\0';
        if (rc == 0)
            rc = buf_puts(&url, "/audio/speech");
        if (rc == 0 && key)
            rc = dup_header(t, "Authorization", "Bearer ", key);
        if (rc == 0)
            rc = dup_header(t, "Content-Type", "", "application/json");
        break;
    }
    if (rc) {
        log_event(LOG_ERROR, "tts.bad_settings", "error=\"%s\"", err[0] ? err : sb_strerror(rc));
        buf_release(&url);
        return rc == SB_ENOMEM ? rc : SB_EINVAL;
    }
    t->url = buf_detach(&url, NULL);
    return t->url ? 0 : SB_ENOMEM;
}

int tts_stream_open(struct tts_stream **out, struct ws_client *ws, struct http_client *http,
                    const struct tts_stream_config *cfg, const struct tts_stream_sink *sink)
{
    struct tts_stream *t;
    const char *voice;
    int rc;

    *out = NULL;
    if (cfg->engine == TTS_STREAM_OPENAI && !http)
        return SB_EINVAL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return SB_ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    t->engine = cfg->engine;
    t->ws = ws;
    t->http = http;
    t->sink = *sink;
    buf_init(&t->audio, TTS_WIRE_MESSAGE_MAX);
    voice = or_default(cfg->voice, cfg->engine == TTS_STREAM_ELEVENLABS ? ELEVENLABS_DEFAULT_VOICE
                                   : cfg->engine == TTS_STREAM_CARTESIA ? CARTESIA_DEFAULT_VOICE
                                                                        : OPENAI_DEFAULT_VOICE);
    t->voice = strdup(voice);
    t->model = strdup(or_default(cfg->model, ""));
    t->lang = strdup(or_default(cfg->lang, ""));
    rc = t->voice && t->model && t->lang ? endpoint(t, cfg) : SB_ENOMEM;
    if (rc) {
        destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* Ends piece `p` (lock held): tells the sink once, unless it was cancelled. */
static void piece_over(struct tts_stream *t, struct ts_piece *p, int rc, const char *why)
{
    if (p->over)
        return;
    p->over = 1;
    if (!t->closing)
        t->sink.on_done(t->sink.arg, p->id, rc, p->sent, why);
}

/* The connection of `p` ended (lock held): the slot is free again. */
static void piece_ended(struct tts_stream *t, struct ts_piece *p)
{
    memset(p, 0, sizeof(*p));
    t->live--;
}

static struct ts_piece *piece_of_conn(struct tts_stream *t, uint64_t conn)
{
    for (size_t i = 0; i < TS_PIECES; i++) {
        if (t->pieces[i].id && t->pieces[i].conn == conn)
            return &t->pieces[i];
    }
    return NULL;
}

static void give_audio(struct tts_stream *t, struct ts_piece *p, const unsigned char *a, size_t n)
{
    if (p->over || t->closing || n == 0)
        return;
    p->sent += n;
    t->sink.on_audio(t->sink.arg, p->id, a, n);
}

/* One message of a socket piece: audio, its end, or an error. */
static void on_ws_message(void *arg, uint64_t conn, const void *data, size_t len, int binary)
{
    struct tts_stream *t = arg;
    struct ts_piece *p;
    char err[TTS_WIRE_ERROR_SIZE + 64] = "";
    int rc, end = 0, fail = 0;

    pthread_mutex_lock(&t->lock);
    p = piece_of_conn(t, conn);
    if (!p || p->over) {
        pthread_mutex_unlock(&t->lock);
        return;
    }
    buf_reset(&t->audio);
    if (binary) {
        rc = SB_EPARSE;
        snprintf(err, sizeof(err), "the provider sent a binary message");
    } else if (t->engine == TTS_STREAM_ELEVENLABS) {
        struct elevenlabs_msg m;

        rc = elevenlabs_parse(data, len, &t->audio, &m, err, sizeof(err));
        if (rc == 0 && m.kind == ELEVENLABS_ERROR) {
            snprintf(err, sizeof(err), "elevenlabs: %s", m.error);
            fail = 1;
        }
        end = rc == 0 && (m.kind == ELEVENLABS_FINAL || m.is_final);
    } else {
        struct cartesia_msg m;

        rc = cartesia_parse(data, len, &t->audio, &m, err, sizeof(err));
        if (rc == 0 && m.kind == CARTESIA_ERROR) {
            snprintf(err, sizeof(err), "cartesia: %s", m.error);
            fail = 1;
        }
        end = rc == 0 && (m.kind == CARTESIA_DONE || m.done);
    }
    if (rc || fail) {
        /* Not audio, or the provider's error: the piece ends here, the socket goes. */
        piece_over(t, p, SB_EIO, err);
        (void)ws_client_close(t->ws, conn, 1000, NULL);
    } else {
        give_audio(t, p, (const unsigned char *)t->audio.data, t->audio.len);
        if (end) {
            piece_over(t, p, 0, NULL);
            (void)ws_client_close(t->ws, conn, 1000, NULL);
        }
    }
    pthread_mutex_unlock(&t->lock);
}

static void on_ws_close(void *arg, uint64_t conn, const struct ws_closed *how)
{
    struct tts_stream *t = arg;
    struct ts_piece *p;
    int last;

    pthread_mutex_lock(&t->lock);
    p = piece_of_conn(t, conn);
    if (p) {
        char why[200];

        snprintf(why, sizeof(why), "%s%s",
                 how->http_status ? "the handshake was refused: " : "the socket closed: ",
                 how->reason[0] ? how->reason : "before the end of the audio");
        /* A socket that closes cleanly after audio has said all it had. */
        piece_over(t, p, how->code == 1000 && p->sent ? 0 : SB_EIO, why);
        piece_ended(t, p);
    }
    last = t->closing && t->live == 0;
    pthread_mutex_unlock(&t->lock);
    if (last)
        destroy(t);
}

/* The first messages of a piece, queued before the handshake ends. */
static int ws_messages(struct tts_stream *t, struct ts_piece *p, const char *text)
{
    struct buf m = BUF_INIT(TTS_WIRE_TEXT_MAX * 2 + 1024);
    char err[160];
    int rc;

    if (t->engine == TTS_STREAM_ELEVENLABS) {
        rc = elevenlabs_init_message(&m, NULL, err, sizeof(err));
        if (rc == 0)
            rc = ws_client_send(t->ws, p->conn, m.data, m.len, 0);
        buf_reset(&m);
        if (rc == 0)
            rc = elevenlabs_text_message(&m, text, 1, err, sizeof(err));
        if (rc == 0)
            rc = ws_client_send(t->ws, p->conn, m.data, m.len, 0);
        if (rc == 0)
            rc = ws_client_send(t->ws, p->conn, ELEVENLABS_END_MESSAGE,
                                strlen(ELEVENLABS_END_MESSAGE), 0);
    } else {
        struct cartesia_request r;
        char ctx[24];

        memset(&r, 0, sizeof(r));
        snprintf(ctx, sizeof(ctx), "u%u", p->id);
        r.context_id = ctx;
        r.model_id = t->model;
        r.transcript = text;
        r.voice_id = t->voice;
        r.lang = t->lang;
        r.cont = 0;
        r.max_buffer_delay_ms = 0;
        rc = cartesia_request_message(&m, &r, err, sizeof(err));
        if (rc == 0)
            rc = ws_client_send(t->ws, p->conn, m.data, m.len, 0);
    }
    buf_release(&m);
    return rc;
}

/* OpenAI: the whole body is 24 kHz 16-bit PCM; it goes out as 8 kHz µ-law. */
static void on_http_done(void *arg, struct http_response *res)
{
    struct ts_piece *p = arg;
    struct tts_stream *t = p->owner;
    int16_t *pcm8 = NULL;
    size_t n8 = 0;
    int last;

    pthread_mutex_lock(&t->lock);
    if (!p->over) {
        char why[200] = "";

        if (res->result != HTTP_OK || res->status < 200 || res->status > 299) {
            snprintf(why, sizeof(why), "openai speech: %s %ld",
                     res->result != HTTP_OK ? http_result_str(res->result) : "status", res->status);
            piece_over(t, p, SB_EIO, why);
        } else if (res->body_len < 2 ||
                   speech_resample((const int16_t *)(const void *)res->body, res->body_len / 2,
                                   OPENAI_PCM_RATE, 8000, &pcm8, &n8) != 0) {
            piece_over(t, p, SB_EIO, "openai speech: the body is not 24 kHz pcm");
        } else {
            unsigned char *mulaw = malloc(n8 ? n8 : 1);

            if (mulaw) {
                mulaw_encode_buf(pcm8, n8, mulaw);
                give_audio(t, p, mulaw, n8);
                free(mulaw);
            }
            piece_over(t, p, mulaw ? 0 : SB_ENOMEM, mulaw ? NULL : "out of memory");
        }
    }
    free(pcm8);
    piece_ended(t, p);
    last = t->closing && t->live == 0;
    pthread_mutex_unlock(&t->lock);
    http_response_free(res);
    if (last)
        destroy(t);
}

static int http_piece(struct tts_stream *t, struct ts_piece *p, const char *text)
{
    json_t *o = json_object();
    char *body;
    struct http_request req;
    int rc = 0;

    provider_wire_put(&rc, o, "model", json_string(*t->model ? t->model : OPENAI_DEFAULT_MODEL));
    provider_wire_put(&rc, o, "input", json_string(text));
    provider_wire_put(&rc, o, "voice", json_string(t->voice));
    provider_wire_put(&rc, o, "response_format", json_string("pcm"));
    body = rc == 0 && o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!body)
        return rc ? rc : SB_EINVAL;
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = t->url;
    req.headers = (const char *const *)t->headers;
    req.nheaders = t->nheaders;
    req.body = body;
    req.body_len = strlen(body);
    req.connect_timeout_ms = 3000;
    req.total_timeout_ms = 15000;
    req.max_response = 4u << 20;
    req.on_done = on_http_done;
    req.arg = p;
    rc = http_client_submit(t->http, &req, &p->request);
    free(body);
    return rc;
}

int tts_stream_say(struct tts_stream *t, unsigned id, const char *text)
{
    struct ts_piece *p = NULL;
    int rc;

    if (!text || !*text || id == 0)
        return SB_EINVAL;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < TS_PIECES && !p; i++) {
        if (!t->pieces[i].id)
            p = &t->pieces[i];
    }
    if (!p || t->closing) {
        pthread_mutex_unlock(&t->lock);
        return SB_EBUSY;
    }
    memset(p, 0, sizeof(*p));
    p->owner = t;
    p->id = id;
    if (t->engine == TTS_STREAM_OPENAI) {
        rc = http_piece(t, p, text);
    } else {
        struct ws_open req;

        memset(&req, 0, sizeof(req));
        req.url = t->url;
        req.headers = (const char *const *)t->headers;
        req.nheaders = t->nheaders;
        req.connect_timeout_ms = 5000;
        req.max_message = TTS_WIRE_MESSAGE_MAX;
        req.on_message = on_ws_message;
        req.on_close = on_ws_close;
        req.arg = t;
        rc = ws_client_open(t->ws, &req, &p->conn);
        if (rc == 0 && ws_messages(t, p, text) != 0) {
            /*
             * The socket failed already (nothing listens, the key was refused) or
             * cannot take the text: its on_close reports why and frees the slot.
             */
            (void)ws_client_close(t->ws, p->conn, 1000, NULL);
        }
    }
    if (rc)
        memset(p, 0, sizeof(*p));
    else
        t->live++;
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* Stops one piece (lock held): nothing more of it is reported. */
static void piece_cancel(struct tts_stream *t, struct ts_piece *p)
{
    p->over = 1;
    if (p->conn)
        (void)ws_client_close(t->ws, p->conn, 1000, NULL);
    else if (p->request)
        (void)http_client_cancel(t->http, p->request);
}

void tts_stream_cancel(struct tts_stream *t, unsigned upto)
{
    if (!t || !upto)
        return;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < TS_PIECES; i++) {
        if (t->pieces[i].id && t->pieces[i].id <= upto && !t->pieces[i].over)
            piece_cancel(t, &t->pieces[i]);
    }
    pthread_mutex_unlock(&t->lock);
}

void tts_stream_cancel_one(struct tts_stream *t, unsigned id)
{
    if (!t || !id)
        return;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < TS_PIECES; i++) {
        if (t->pieces[i].id == id && !t->pieces[i].over)
            piece_cancel(t, &t->pieces[i]);
    }
    pthread_mutex_unlock(&t->lock);
}

void tts_stream_close(struct tts_stream *t)
{
    int now_free;

    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->closing = 1;
    for (size_t i = 0; i < TS_PIECES; i++) {
        if (t->pieces[i].id)
            piece_cancel(t, &t->pieces[i]);
    }
    now_free = t->live == 0;
    pthread_mutex_unlock(&t->lock);
    if (now_free)
        destroy(t);
}
