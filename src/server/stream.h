/*
 * The Media Streams endpoint: GET /voice/stream upgraded to a WebSocket,
 * signature-checked before the upgrade, one media session per socket, TTS on
 * the worker pool, pacing on the loop clock, and the outcome of each call kept
 * for the <Connect action> request that follows the stream.
 *
 * A stream is bound to its call: its start message must carry the token of
 * its CallSid (core/stream_token.h), and it must start within
 * cfg->stream_start_timeout_s and then hear from the caller at least every
 * cfg->stream_idle_timeout_s; otherwise it closes with 1008 (see
 * docs/streams.md, "Binding and limits"). Any WebSocket endpoint added to
 * the server must go through the same checks.
 */
#ifndef SB_SERVER_STREAM_H
#define SB_SERVER_STREAM_H

#include <libwebsockets.h>

#include "media/session.h"
#include "voice/voice.h"

struct server;
struct server_group;
struct stream_conn;

/**
 * Decides whether an upgrade to /voice/stream or /voice/relay may proceed
 * (path, draining, X-Twilio-Signature over the wss URL); writes the 404,
 * 503 or 403 itself.
 */
int stream_confirm_upgrade(struct server *srv, struct lws *wsi);

/** The lws WebSocket callbacks of a stream connection. */
int stream_callback(struct server *srv, struct lws *wsi, enum lws_callback_reasons reason,
                    struct stream_conn **conn, void *in, size_t len);

/** Recognised words of utterance `id` for stream `conn_id`, if it is still there. */
void stream_heard(struct server *srv, unsigned long long conn_id, unsigned id,
                  enum session_heard heard, const char *text);

/** Words heard so far of the caller's current utterance (a streaming recogniser's). */
void stream_partial(struct server *srv, unsigned long long conn_id, const char *text);

/** A piece of reply audio for utterance `id` of stream `conn_id`, if it is still there. */
void stream_audio(struct server *srv, unsigned long long conn_id, unsigned id,
                  const unsigned char *mulaw, size_t len);

/** All of utterance `id`'s audio came (or none will). */
void stream_audio_end(struct server *srv, unsigned long long conn_id, unsigned id);

/** Says utterance `id` of stream `conn_id` with the offline voice (the worker pool). */
int stream_synthesize_offline(struct server *srv, unsigned long long conn_id, unsigned id,
                              const char *text, const char *lang, const char *voice);

/** The cloud engines of stream `conn_id` (NULL: none, or the stream is gone). */
struct stream_cloud *stream_cloud_of(struct server *srv, unsigned long long conn_id);

/** Delivers finished syntheses to their sessions (called on the loop). */
void stream_drain_tts(struct server *srv);

/**
 * The loop clock fired at `now_us`: sends what is due on every stream whose
 * pacing time has come. Returns the next time one is due, or 0 for none.
 */
long long stream_clock_fired(struct server *srv, long long now_us);

/** Time passed: the streams' agents' timeouts (the LLM agent's filler and limits). */
void stream_agents_tick(struct server *srv);

/** Closes every stream (server shutdown). */
void stream_close_all(struct server *srv);

/** How a stream ended for a call: for /voice/stream-ended (voice_ctx.stream_outcome). */
int stream_outcome_lookup(void *arg, const char *call_sid, struct voice_stream_end *out);

/** Frees the process's cache of synthesized phrases (when every loop has stopped). */
void stream_tts_cache_release(struct server_group *g);

/** Ends the streams newer streams of their calls on other loops replaced (on the loop). */
void stream_take_replacements(struct server *srv);

/** Frees what is left of the process's live streams (when every loop has stopped). */
void stream_live_release(struct server_group *g);

/** Frees the process's outcome table (when every loop has stopped). */
void stream_outcomes_release(struct server_group *g);

#endif
