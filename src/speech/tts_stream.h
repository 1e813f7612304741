/*
 * Streaming synthesis by a cloud engine for one call: each piece of the
 * agent's reply (a sentence, as the agent writes it) becomes 8 kHz µ-law
 * audio that comes back in chunks as the provider produces it, so the
 * caller hears the first words while the rest is still being made.
 *
 * Engines:
 * - ElevenLabs, WebSocket `stream-input` with output_format=ulaw_8000: one
 *   socket per piece (initialize, the text with flush, then `{"text":""}`),
 *   audio chunks until `isFinal`.
 * - Cartesia, WebSocket `/tts/websocket` with raw pcm_mulaw at 8000: one
 *   socket per piece, one context (`continue` false), chunks until `done`.
 * - OpenAI-compatible `POST {base}/audio/speech` (response_format pcm, 24 kHz
 *   16-bit): resampled to 8 kHz and encoded when the body is whole.
 *
 * Cancelling (barge-in): tts_stream_cancel closes the sockets (or cancels
 * the requests) of every piece up to an id; no audio of theirs follows.
 *
 * Ownership and threads: the object owns its connections; config strings
 * are copied; the key goes in a header (xi-api-key, Authorization) and is
 * never logged. Functions may be called from any thread (a mutex inside);
 * the sink is called on the WebSocket or HTTP client's thread WITH that
 * mutex held (so that tts_stream_close can promise silence): it must not
 * block nor call back into the object. Each accepted piece gets on_audio
 * zero or more times, then on_done exactly once, unless it was cancelled or
 * the object closed (then nothing more; once tts_stream_close returns, no
 * sink call runs).
 */
#ifndef SB_SPEECH_TTS_STREAM_H
#define SB_SPEECH_TTS_STREAM_H

#include <stddef.h>

#include "core/err.h"
#include "net/http_client.h"
#include "net/ws_client.h"

enum tts_stream_engine {
    TTS_STREAM_ELEVENLABS,
    TTS_STREAM_CARTESIA,
    TTS_STREAM_OPENAI,
};

struct tts_stream_config {
    enum tts_stream_engine engine;
    const char *base_url; /* NULL or "": the provider's; http(s):// is ws(s):// for sockets */
    const char *model;    /* NULL or "": the engine's low-latency default */
    const char *voice;    /* the provider's voice ID or name; NULL or "": a default */
    const char *lang;     /* BCP-47 ("es-MX") */
    const char *key;      /* NULL or "": none */
};

struct tts_stream_sink {
    /* A chunk of piece `id`'s audio: 8 kHz µ-law, `len` > 0 bytes (lent for the call). */
    void (*on_audio)(void *arg, unsigned id, const unsigned char *mulaw, size_t len);
    /*
     * Piece `id` is over: rc 0 (all of it was sent), or SB_EIO / SB_ETOOBIG
     * (the provider refused, failed, or sent what is not audio) with a
     * lower-case reason; `sent` is how many bytes of audio went out before.
     */
    void (*on_done)(void *arg, unsigned id, int rc, size_t sent, const char *err);
    void *arg;
};

struct tts_stream;

/**
 * Makes a call's synthesizer over `ws` and `http` (borrowed; they must
 * outlive it; `http` may be NULL unless the engine is OpenAI). Returns 0
 * with *out set, SB_EINVAL (a bad base URL) or SB_ENOMEM.
 */
SB_MUST_CHECK int tts_stream_open(struct tts_stream **out, struct ws_client *ws,
                                  struct http_client *http, const struct tts_stream_config *cfg,
                                  const struct tts_stream_sink *sink);

/**
 * Starts synthesizing `text` as piece `id`. Returns 0, SB_EINVAL (empty
 * text), SB_ENOMEM or SB_EBUSY (too many pieces in flight); no sink call
 * follows an error.
 */
SB_MUST_CHECK int tts_stream_say(struct tts_stream *t, unsigned id, const char *text);

/** Stops every piece up to and including `upto` (0: none); nothing more of theirs is reported. */
void tts_stream_cancel(struct tts_stream *t, unsigned upto);

/** Stops piece `id` alone; nothing more of it is reported. */
void tts_stream_cancel_one(struct tts_stream *t, unsigned id);

/** Stops everything and frees the object once its connections are closed. NULL is allowed. */
void tts_stream_close(struct tts_stream *t);

/** "elevenlabs", "cartesia" or "openai" to its engine; -1 for other names. */
int tts_stream_engine_of(const char *name);

#endif
