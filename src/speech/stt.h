/*
 * Speech recognition. An engine is a table of functions (struct stt_ops)
 * and its own state; struct stt pairs the two, so that callers never know
 * which engine listens.
 *
 * One request is one utterance of the caller: the 8 kHz µ-law audio from
 * just before their speech started to its end (the media session cuts
 * utterances with its voice activity detector and end-of-turn rule), the
 * call's language, and the phrases the caller can usefully say at that
 * point. Recognition blocks (pocketsphinx takes about 0.02 of the audio's
 * length): call it from a worker thread, never from the event loop.
 *
 * Ownership: a request's strings and audio are borrowed for the call; the
 * result is the caller's. Engines may be called from several threads at
 * once; an engine that cannot allow that serialises inside.
 */
#ifndef SB_SPEECH_STT_H
#define SB_SPEECH_STT_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define STT_TEXT_MAX 512
/* Longest utterance one request may carry, in seconds of 8 kHz µ-law. */
#define STT_MAX_SECONDS 30
#define STT_MAX_BYTES ((size_t)STT_MAX_SECONDS * 8000)

enum stt_outcome {
    STT_WORDS,       /* `text` is what the caller said */
    STT_NOTHING,     /* no words in the audio (noise, a cough, silence) */
    STT_REJECTED,    /* words the engine cannot tell apart (out of its grammar); `text` may
                        hold a low-confidence guess (pocketsphinx: its free-form model's) */
    STT_UNSUPPORTED, /* the engine does not recognise this language */
};

struct stt_request {
    const unsigned char *mulaw; /* 8 kHz µ-law, `len` bytes (at most STT_MAX_BYTES) */
    size_t len;
    const char *lang;           /* BCP-47 ("en-US") */
    const char *const *phrases; /* what the caller may say here; engines with a */
    size_t nphrases;            /* grammar listen for these, others may ignore them */
};

struct stt_result {
    enum stt_outcome outcome;
    char text[STT_TEXT_MAX]; /* STT_WORDS: the words (pocketsphinx: lower case; cloud engines:
                                as the provider writes them); STT_REJECTED: a guess or "" */
    double score;            /* engine-specific confidence (pocketsphinx: per-frame score) */
    long audio_ms;           /* the utterance's length */
};

struct stt_ops {
    const char *name; /* "pocketsphinx" */
    /**
     * Recognises one utterance. Returns 0 with `out` filled (any outcome),
     * or a negative SB_E* code with a lower-case reason in `err`: SB_EINVAL
     * (empty or oversized audio), SB_ENOMEM, SB_EIO (the engine failed).
     */
    int (*recognize)(void *engine, const struct stt_request *req, struct stt_result *out, char *err,
                     size_t errsize);
    void (*release)(void *engine);
};

struct stt {
    const struct stt_ops *ops;
    void *engine;
};

/**
 * Opens pocketsphinx with its English model from `model_dir` (NULL: the
 * Debian package's, /usr/share/pocketsphinx/model/en-us). Loads nothing
 * yet: each thread that recognises gets a decoder at its first request
 * (about 0.3 s and 20 MiB each, at most STT_SPHINX_DECODERS). English only:
 * other languages are STT_UNSUPPORTED. Returns 0, SB_EINVAL (the model is
 * not there) or SB_ENOMEM.
 */
SB_MUST_CHECK int stt_sphinx_open(struct stt *out, const char *model_dir);
#define STT_SPHINX_DECODERS 8
/*
 * pocketsphinx forces every utterance onto the nearest phrase of its
 * grammar; a per-frame acoustic score below this (over the frames of the
 * recognised words) means the caller said something else. Measured through
 * 8 kHz µ-law on flite's voice: phrases of the grammar score -21 to -65
 * (short words worst: "yes" -64, "thank you" -64), other sentences -54 to
 * -314; the limit leaves room below "yes". So sentences far from every phrase are rejected, and
 * some near ones ("where is your office" as "what are your hours", -54) are not. pocketsphinx's
 * search also differs slightly from run to run (scores move by a few points on the same audio), so
 * sentences near the line go either way.
 */
#define STT_SPHINX_MIN_FRAME_SCORE (-68.0)

/**
 * An OpenAI-compatible `POST {base_url}/audio/transcriptions` engine (OpenAI,
 * Groq, self-hosted Whisper servers): every language the server knows.
 * `model` NULL or "": whisper-1; `api_key` NULL or "": no Authorization.
 * Copies the strings. Returns 0, SB_EINVAL (not an http(s) URL) or SB_ENOMEM.
 */
SB_MUST_CHECK int stt_whisper_open(struct stt *out, const char *base_url, const char *model,
                                   const char *api_key);

/** Recognises through `s`'s engine (struct stt_ops.recognize). */
SB_MUST_CHECK int stt_recognize(const struct stt *s, const struct stt_request *req,
                                struct stt_result *out, char *err, size_t errsize);

/** Frees the engine. A zeroed `s` is allowed. */
void stt_release(struct stt *s);

/**
 * Writes a JSGF grammar of `phrases` into `out`: each phrase lower-cased,
 * cut into words of letters and apostrophes (anything else separates
 * words), kept only when it has a word and `known` (may be NULL: all are)
 * says every word is in the recogniser's dictionary; duplicates once.
 * Returns how many phrases were kept (0: no grammar, `out` untouched),
 * or a negative SB_ENOMEM / SB_ETOOBIG from the buffer.
 */
int stt_grammar_jsgf(const char *const *phrases, size_t n,
                     int (*known)(void *arg, const char *word), void *arg, struct buf *out);

#endif
