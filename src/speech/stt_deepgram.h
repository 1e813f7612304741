/*
 * Deepgram's streaming recogniser for one call: a WebSocket to
 * `{base}/v1/listen` (encoding=mulaw, sample_rate=8000, interim results,
 * endpointing, utterance ends) over the shared WebSocket client.
 *
 * How a call uses it (the loop thread drives it; results come back on the
 * WebSocket client's thread through the sink):
 * - stt_deepgram_audio streams the caller's speech as it is spoken, one
 *   utterance after another (`start` 1 at each utterance's first piece); the
 *   socket opens at the first audio, or at stt_deepgram_open when asked.
 * - stt_deepgram_finalize(id) is switchboard's own end of turn (or a
 *   talk-over probe): it sends `Finalize`, and the words Deepgram settled
 *   since the utterance began come back as result `id` once the result
 *   marked `from_finalize` arrives (or STT_DEEPGRAM_FINAL_WAIT_MS after the
 *   last message, with what was settled by then).
 * - stt_deepgram_tick sends `KeepAlive` while no audio flows (Deepgram
 *   closes an idle socket after 10 s) and ends overdue finalizes.
 * - stt_deepgram_close sends `CloseStream`, and frees the object once the
 *   socket is closed; once it returns, no sink call runs or follows.
 *
 * Failures: a socket that closes while an utterance is being heard or a
 * result is awaited is opened again once, and the utterance's audio so far
 * (kept, at most STT_MAX_BYTES) is sent again, so the turn is not lost.
 * When that fails too, or the socket cannot be opened (a refused key, no
 * network), every awaited result is reported with rc SB_EIO and a reason,
 * and the object is `down`: later finalizes fail at once, and the caller
 * falls back to another recogniser.
 *
 * Ownership: the object owns its socket and buffers; the strings of the
 * config are copied. The key is sent in the Authorization header and never
 * logged. Thread safety: every function may be called from any thread (a
 * mutex inside); the sink is called on the WebSocket client's thread WITH
 * that mutex held (so that stt_deepgram_close can promise silence): it must
 * not block nor call back into the object.
 */
#ifndef SB_SPEECH_STT_DEEPGRAM_H
#define SB_SPEECH_STT_DEEPGRAM_H

#include <stddef.h>

#include "core/err.h"
#include "net/ws_client.h"
#include "speech/stt.h"

/* How long a finalize waits for Deepgram's `from_finalize` result after its last message. */
#define STT_DEEPGRAM_FINAL_WAIT_MS 1500
/* KeepAlive after this long without audio. */
#define STT_DEEPGRAM_KEEPALIVE_MS 4000

struct stt_deepgram_config {
    const char
        *base_url; /* "wss://api.deepgram.com" when NULL or ""; http(s):// is taken as ws(s):// */
    const char *model; /* "nova-3" when NULL or "" */
    const char *lang;  /* BCP-47 ("es-MX") */
    const char *key;   /* sent as "Authorization: Token KEY"; NULL or "": none */
};

struct stt_deepgram_sink {
    /*
     * Result `id` (a finalize's): rc 0 with `res` filled (STT_WORDS with the
     * settled words, or STT_NOTHING), or rc SB_EIO with a lower-case reason.
     */
    void (*on_result)(void *arg, unsigned id, int rc, const struct stt_result *res,
                      const char *err);
    /*
     * Words heard so far of the utterance being spoken (an interim result, or
     * a settled piece before its finalize), as soon as Deepgram sends them:
     * what lets a caller's words stop the agent while they still talk. May
     * be NULL.
     */
    void (*on_partial)(void *arg, const char *text);
    void *arg;
};

struct stt_deepgram;

/**
 * Makes a call's recogniser and starts opening its socket over `ws`
 * (borrowed; must outlive the object). Returns 0 with *out set, SB_EINVAL
 * (a base URL that is not ws, wss, http or https) or SB_ENOMEM.
 */
SB_MUST_CHECK int stt_deepgram_open(struct stt_deepgram **out, struct ws_client *ws,
                                    const struct stt_deepgram_config *cfg,
                                    const struct stt_deepgram_sink *sink);

/** Streams a piece of the caller's speech (`start`: a new utterance begins with it). */
void stt_deepgram_audio(struct stt_deepgram *d, const unsigned char *mulaw, size_t len, int start);

/**
 * Asks for the words of the utterance so far as result `id` (see above).
 * Returns 0, or SB_EIO when the recogniser is down (no sink call follows).
 */
SB_MUST_CHECK int stt_deepgram_finalize(struct stt_deepgram *d, unsigned id, long long now_ms);

/** Time passed: KeepAlive while idle, overdue finalizes answered. */
void stt_deepgram_tick(struct stt_deepgram *d, long long now_ms);

/** True once the recogniser gave up (see above). */
int stt_deepgram_down(struct stt_deepgram *d);

/** Ends the stream (CloseStream) and frees the object when its socket is closed. NULL is allowed.
 */
void stt_deepgram_close(struct stt_deepgram *d);

#endif
