/*
 * Text to speech. An engine is a table of functions (struct tts_ops) and its
 * own state; struct tts pairs the two, so that callers never know which
 * engine speaks. espeak-ng is the embedded engine that works with no API
 * key; cloud engines plug in behind the same table.
 *
 * Synthesis blocks for tens of milliseconds or more: call it from a worker
 * thread, never from the event loop.
 */
#ifndef SB_SPEECH_TTS_H
#define SB_SPEECH_TTS_H

#include <stddef.h>
#include <stdint.h>

/* The phone network's rate: what tts_synth_mulaw produces. */
#define TTS_PHONE_RATE 8000
/* Longest speech one call may produce, in seconds; longer is SB_ETOOBIG. */
#define TTS_MAX_SECONDS 900

/*
 * What an engine implements. Every function may be called from several
 * threads at once; an engine that cannot allow that serialises inside.
 */
struct tts_ops {
    const char *name; /* short and lower-case, for logs: "espeak-ng" */
    /*
     * Speaks UTF-8 `text` (non-empty) in BCP-47 language `lang` ("en-US",
     * "es-MX"; NULL means the engine's default) with the engine-specific
     * `voice` (may be NULL; an engine ignores names it does not know, such
     * as Twilio's "Polly.Joanna"). On success sets *pcm to a malloc'd array
     * of *n 16-bit mono samples at *rate Hz that the caller frees with
     * free() (NULL when *n is 0). Returns 0 or a negative SB_E* code with a
     * lower-case reason in `err` (may be NULL).
     */
    int (*synth)(void *engine, const char *text, const char *lang, const char *voice, int16_t **pcm,
                 size_t *n, int *rate, char *err, size_t errsize);
    /* Frees the engine's state; NULL when the engine owns nothing. */
    void (*release)(void *engine);
};

/* An engine ready to speak: its table and its state. */
struct tts {
    const struct tts_ops *ops;
    void *engine; /* owned by the tts; NULL for engines with global state */
};

#define TTS_INIT                                                                                   \
    {                                                                                              \
        NULL, NULL                                                                                 \
    }

/**
 * Synthesises `text` through `t`'s engine (see struct tts_ops.synth) and
 * checks what it returns. Empty or NULL text is refused with SB_EINVAL
 * ("nothing to say"), the same for every engine; text the engine renders as
 * nothing gives 0 with *pcm NULL and *n 0. On success the caller owns *pcm
 * (free with free()). Returns 0, SB_EINVAL (empty text, unknown language,
 * `t` not set up), SB_ETOOBIG (over TTS_MAX_SECONDS), SB_ENOMEM or SB_EIO
 * (the engine failed), with a lower-case reason in `err` (may be NULL). On
 * failure *pcm is NULL and *n, *rate are 0.
 */
int tts_synth(const struct tts *t, const char *text, const char *lang, const char *voice,
              int16_t **pcm, size_t *n, int *rate, char *err, size_t errsize);

/**
 * Synthesises as tts_synth does, resamples to TTS_PHONE_RATE and encodes to
 * G.711 µ-law, ready for a Media Streams payload: one byte per sample.
 * On success the caller owns *out (free with free(); NULL when *len is 0,
 * which happens only when the engine renders the text as nothing). Returns
 * what tts_synth returns, or SB_ENOMEM / SB_EIO from resampling, with a
 * lower-case reason in `err` (may be NULL). On failure *out is NULL and
 * *len 0.
 */
int tts_synth_mulaw(const struct tts *t, const char *text, const char *lang, const char *voice,
                    unsigned char **out, size_t *len, char *err, size_t errsize);

/** Releases the engine's state and empties `t`. An empty or zeroed `t` is allowed. */
void tts_release(struct tts *t);

/*
 * The embedded engine: espeak-ng, started once per process and shared by
 * every struct tts that uses it. espeak-ng keeps global state and is not
 * thread-safe, so its calls are serialised behind one lock: many threads
 * may synthesise at once, one at a time gets the engine.
 *
 * Languages: "en" and "en-US" speak as espeak-ng's "en-us"; "es-MX" (and
 * other Latin American Spanish: "es-US", "es-419") as "es-419" when
 * espeak-ng has it, else "es"; any other tag as the espeak-ng language of
 * the same name, else its base language ("fr-CA" -> "fr"). Voice names are
 * ignored: the language chooses the voice.
 */
extern const struct tts_ops tts_espeak_ops;

/**
 * Starts espeak-ng (once per process; later calls only fill `t`) and makes
 * `t` use it; `t` owns nothing, but release it with tts_release all the same.
 * Returns 0, or SB_EIO when espeak-ng cannot start (its data is missing),
 * with a lower-case reason in `err` (may be NULL); `t` is then empty.
 */
int tts_espeak_init(struct tts *t, char *err, size_t errsize);

/**
 * Writes to `out` the espeak-ng language that `tag` speaks as (see above;
 * NULL or "" means "en-US"), starting espeak-ng if needed. Returns 0,
 * SB_EINVAL when espeak-ng has no voice for it, SB_ETOOBIG when `out` is too
 * small, or SB_EIO when espeak-ng cannot start.
 */
int tts_espeak_language(const char *tag, char *out, size_t outsize);

#endif
