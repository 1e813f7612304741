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

#include "core/err.h"

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
SB_MUST_CHECK int tts_synth(const struct tts *t, const char *text, const char *lang,
                            const char *voice, int16_t **pcm, size_t *n, int *rate, char *err,
                            size_t errsize);

/**
 * Synthesises as tts_synth does, resamples to PHONE_RATE (core/phone.h), drops the
 * engine's lead-in silence but 20 ms (speech_lead_in: flite starts some phrases with a
 * quarter of a second of it) and encodes to G.711 µ-law, ready for a Media Streams
 * payload: one byte per sample.
 * On success the caller owns *out (free with free(); NULL when *len is 0,
 * which happens only when the engine renders the text as nothing). Returns
 * what tts_synth returns, or SB_ENOMEM / SB_EIO from resampling, with a
 * lower-case reason in `err` (may be NULL). On failure *out is NULL and
 * *len 0.
 */
/* A sample this loud (about -40 dBFS) is sound; the 20 ms before the first one are kept. */
#define TTS_SOUND_LEVEL 330
#define TTS_LEAD_IN_KEEP 160

/**
 * How many samples of quiet lead `pcm` (8 kHz) in, less TTS_LEAD_IN_KEEP:
 * what to skip so the first sound comes 20 ms in. 0 when it is all quiet.
 */
size_t speech_lead_in(const int16_t *pcm, size_t n);

SB_MUST_CHECK int tts_synth_mulaw(const struct tts *t, const char *text, const char *lang,
                                  const char *voice, unsigned char **out, size_t *len, char *err,
                                  size_t errsize);

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
 * the same name, else its base language ("fr-CA" -> "fr"). Tags compare by
 * core/lang's rules ("EN_us" is "en-US"). Voice names are ignored: the
 * language chooses the voice.
 */
extern const struct tts_ops tts_espeak_ops;

/*
 * flite with its 8 kHz "kal" voice: English only (other languages are
 * SB_EINVAL), clearer than espeak-ng and recognised better by pocketsphinx.
 * Global state; `engine` is NULL.
 */
extern const struct tts_ops tts_flite_ops;

/*
 * The offline voice the server speaks with: flite for English (clearer, and
 * recognised better), espeak-ng for every other language and for text flite
 * renders as nothing. Global state; `engine` is NULL.
 */
extern const struct tts_ops tts_offline_ops;

/** Starts espeak-ng (flite starts at its first use) and makes `t` use tts_offline_ops. */
SB_MUST_CHECK int tts_offline_init(struct tts *t, char *err, size_t errsize);

/**
 * Starts espeak-ng (once per process; later calls only fill `t`) and makes
 * `t` use it; `t` owns nothing, but release it with tts_release all the same.
 * Returns 0, or SB_EIO when espeak-ng cannot start (its data is missing),
 * with a lower-case reason in `err` (may be NULL); `t` is then empty.
 */
SB_MUST_CHECK int tts_espeak_init(struct tts *t, char *err, size_t errsize);

/**
 * Writes to `out` the espeak-ng language that `tag` speaks as (see above;
 * NULL or "" means "en-US"), starting espeak-ng if needed. Returns 0,
 * SB_EINVAL when espeak-ng has no voice for it, SB_ETOOBIG when `out` is too
 * small, or SB_EIO when espeak-ng cannot start.
 */
SB_MUST_CHECK int tts_espeak_language(const char *tag, char *out, size_t outsize);

/*
 * The isolated engine: espeak-ng in a small pool of child processes, so that
 * a crash inside the library (espeak-ng 1.51 reads uninitialised memory on
 * some Spanish text) costs one child, not the process that asked.
 *
 * Each slot owns one child, fed over a socket pair with a length-prefixed
 * binary protocol (request: language, voice, text; reply: rc, reason, rate,
 * samples). A synthesis takes a free slot (waiting while all are busy), so
 * tts_ops.synth may be called from several threads at once. A child that
 * dies or stays silent past the deadline is killed, reaped and restarted,
 * and the request retried once; when that fails too the answer is a short
 * apology, "Lo siento, ..." for Spanish and English otherwise, synthesized
 * once at start and kept. Deaths and restarts are logged
 * (tts.worker_died, tts.worker_restarted) with the pid and the signal,
 * never the text.
 *
 * Children are started with posix_spawn from one thread the engine owns
 * (a child's death signal follows the thread that started it), with the
 * default signal dispositions and an empty signal mask. They exit at the
 * end of their input, and when the engine's process dies.
 */

/* The hidden subcommand that runs a synthesizer child: `switchboard __tts-worker`. */
#define TTS_WORKER_COMMAND "__tts-worker"
/* Most children one isolated engine runs. */
#define TTS_ISOLATED_MAX_WORKERS 16
/* Longest a child may take for one request, by default. */
#define TTS_ISOLATED_DEADLINE_MS 10000

extern const struct tts_ops tts_isolated_ops;

/**
 * Starts `workers` (1..TTS_ISOLATED_MAX_WORKERS) children running `argv`
 * (NULL-terminated, borrowed and copied; argv[0] is the program's path), or,
 * with `argv` NULL, this executable (the path /proc/self/exe names) as
 * `switchboard __tts-worker`; waits until each is ready, and synthesizes
 * the apologies through them.
 * `deadline_ms` bounds each request (0: TTS_ISOLATED_DEADLINE_MS). On
 * success `t` owns the children: tts_release ends and reaps them. Returns 0,
 * SB_EINVAL (bad arguments), SB_ENOMEM, or SB_EIO (a child could not start
 * or speak), with a lower-case reason in `err` (may be NULL); `t` is then
 * empty and no child is left.
 */
SB_MUST_CHECK int tts_isolated_init(struct tts *t, const char *const *argv, unsigned workers,
                                    int deadline_ms, char *err, size_t errsize);

/**
 * Writes the pid of each slot's child to `pids` (0 for a slot whose child is
 * being restarted), at most `max` of them. Returns the number of slots, or
 * 0 when `t` is not an isolated engine. For tests and diagnostics.
 */
size_t tts_isolated_pids(const struct tts *t, int *pids, size_t max);

/**
 * The child's side: makes the socket on fd 0 its channel (fd 0 then reads
 * /dev/null and stdout goes to stderr, so nothing the library prints can
 * reach the channel), asks to be killed when its parent dies, says it is
 * ready, and answers requests with `engine` (borrowed; NULL: espeak-ng)
 * until the channel ends. Returns the exit status: 0 at the end of the
 * input, 1 on a broken channel or request.
 */
int tts_worker_main(const struct tts *engine);

#endif
