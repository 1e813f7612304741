/*
 * Cloud speech for Media Streams: a call whose agent names Deepgram for
 * recognition, or ElevenLabs, Cartesia or an OpenAI-compatible server for
 * synthesis, gets its own streaming recogniser (speech/stt_deepgram.h) and
 * synthesizer (speech/tts_stream.h) here, over the server's WebSocket and
 * HTTP clients. Their results come back on the clients' threads, are queued
 * in arrival order (audio chunks keep theirs) and handed to the stream on
 * the loop by stream_cloud_drain.
 *
 * Falling back: a recognition Deepgram cannot give (its socket refused or
 * lost twice) is asked of the server's pocketsphinx with the utterance's
 * audio, kept until the answer (English words, or "not a language I hear"
 * for others, which offers keys); a piece of speech the cloud engine could
 * not say before any of its audio went out is said by the offline voice.
 * Each fallback is logged (stream.stt_fallback, stream.tts_fallback).
 *
 * Ownership: a stream owns its struct stream_cloud (stream_cloud_free on
 * close); the server owns the WebSocket client and the queue
 * (stream_cloud_shutdown). Loop thread only, but the sinks.
 */
#ifndef SB_SERVER_STREAM_CLOUD_H
#define SB_SERVER_STREAM_CLOUD_H

#include <stddef.h>

#include "server/stream_listen.h"

struct server;
struct stream_cloud;

/* A call's speech engines, from its agent's settings (conversations_speech). Keys never logged. */
struct stream_speech {
    struct stream_stt stt; /* whisper-api or deepgram; url "" : the server's pocketsphinx */
    int stt_deepgram;      /* stt is Deepgram's streaming API */
    char tts[16];          /* "elevenlabs", "cartesia", "openai"; "": the offline voice */
    char tts_url[512];     /* "": the provider's */
    char tts_key[512];
    char tts_voice[128]; /* the voice for the call's language, "": the engine's default */
};

/**
 * Opens the cloud engines `sp` names for stream `conn_id` in `lang`. Sets
 * *out to NULL when it names none. Returns 0, or an SB_E* code (the call
 * then uses the offline engines, and a line says so).
 */
int stream_cloud_open(struct server *srv, unsigned long long conn_id,
                      const struct stream_speech *sp, const char *lang, struct stream_cloud **out);

/** True when the call's recognition, or its speech, is a cloud engine's. NULL: neither. */
int stream_cloud_listens(const struct stream_cloud *cl);
int stream_cloud_speaks(const struct stream_cloud *cl);

/** The caller's speech as it is spoken (session_io.hear). */
void stream_cloud_hear(struct stream_cloud *cl, const unsigned char *mulaw, size_t len, int start);

/**
 * The words of utterance `id` so far (session_io.recognize); takes `mulaw`
 * (kept for the fallback). Returns 0 or an SB_E* code.
 */
int stream_cloud_recognize(struct stream_cloud *cl, unsigned id, unsigned char *mulaw, size_t len,
                           const char *lang);

/** Says piece `id` (session_io.synthesize). Returns 0 or an SB_E* code. */
int stream_cloud_say(struct stream_cloud *cl, unsigned id, const char *text, const char *lang,
                     const char *voice);

/** Pieces up to `upto` were cut off by barge-in: their synthesis stops. */
void stream_cloud_cut(struct stream_cloud *cl, unsigned upto);

/** Time passed (KeepAlive, overdue results). */
void stream_cloud_tick(struct stream_cloud *cl, long long now_ms);

/** The stream is gone. NULL is allowed. */
void stream_cloud_free(struct stream_cloud *cl);

/** Hands what the engines produced to their streams (the loop woke up). */
void stream_cloud_drain(struct server *srv);

/** Server shutdown: frees the WebSocket client and what is still queued. */
void stream_cloud_shutdown(struct server *srv);

#endif
