/*
 * Audio for the simulated caller: WAV files in and out, resampling to and
 * from the 8 kHz of the phone network (libsoxr), and speech synthesis (flite
 * for English, espeak-ng for other languages). Samples are always 16-bit
 * signed mono PCM in memory.
 */
#ifndef SB_SIM_AUDIO_H
#define SB_SIM_AUDIO_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/phone.h"

/* The phone network's rate, the rate of every Media Streams payload. */
#define SIM_AUDIO_RATE PHONE_RATE
/* Largest WAV file accepted (about 35 minutes of 16 kHz stereo). */
#define SIM_AUDIO_MAX_FILE (64u * 1024u * 1024u)
/* Longest audio held in one sim_audio, in seconds at any rate up to 48 kHz. */
#define SIM_AUDIO_MAX_SECONDS 3600

struct sim_audio {
    int16_t *samples; /* owned; NULL while empty */
    size_t len;       /* samples held */
    size_t cap;       /* samples allocated */
    int rate;         /* sample rate in Hz */
};

#define SIM_AUDIO_INIT                                                                             \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/** Initialises an empty clip at `rate` Hz. Allocates nothing. */
void sim_audio_init(struct sim_audio *a, int rate);

/**
 * Appends `n` samples (copied). Returns 0, SB_ETOOBIG when the clip would
 * exceed SIM_AUDIO_MAX_SECONDS at 48 kHz, or SB_ENOMEM.
 */
SB_MUST_CHECK int sim_audio_append(struct sim_audio *a, const int16_t *samples, size_t n);

/**
 * Decodes a WAV file held in memory into `a` (which must be empty or
 * released): 16-bit PCM or 8-bit G.711 µ-law, any rate, any number of
 * channels up to 8, which are averaged to mono; `a->rate` is the file's rate.
 * On failure writes a lower-case reason to `err` (may be NULL) and returns
 * SB_EPARSE (not a WAV file, unsupported encoding) or SB_ENOMEM.
 */
SB_MUST_CHECK int sim_audio_parse_wav(struct sim_audio *a, const void *data, size_t len, char *err,
                                      size_t errsize);

/**
 * Reads and decodes the WAV file at `path` as sim_audio_parse_wav does.
 * Returns 0, SB_EIO (cannot read), SB_ETOOBIG (over SIM_AUDIO_MAX_FILE),
 * SB_EPARSE or SB_ENOMEM, with a reason naming the file in `err` (may be NULL).
 */
SB_MUST_CHECK int sim_audio_read_wav(struct sim_audio *a, const char *path, char *err,
                                     size_t errsize);

/**
 * Writes `a` to `path` as a 16-bit mono PCM WAV file at `a->rate`
 * (8 kHz for what a caller heard). Returns 0, SB_EINVAL or SB_EIO.
 */
SB_MUST_CHECK int sim_audio_write_wav(const struct sim_audio *a, const char *path);

/**
 * Resamples `a` in place to `rate` Hz with libsoxr (high quality); a clip
 * already at that rate is left alone. The length scales with the rate ratio.
 * Returns 0, SB_EINVAL (rate outside 1000..192000), SB_ENOMEM or SB_EIO
 * (libsoxr failed); `a` is unchanged on failure.
 */
SB_MUST_CHECK int sim_audio_resample(struct sim_audio *a, int rate);

/**
 * Speaks UTF-8 `text` in `lang` (a BCP-47 tag such as "en-US", "es" or
 * "es-MX"; NULL or "" means "en-us") into `a` (empty or released) at
 * SIM_AUDIO_RATE. English (base language "en") is spoken by flite's 8 kHz
 * "kal" voice, which pocketsphinx recognises reliably (text flite makes no
 * sound for, such as "...", falls back to espeak-ng); any other language by
 * espeak-ng in its voice for `lang`. Both engines keep global state and
 * serialise their calls inside. Returns 0, SB_EINVAL (empty text or no voice
 * for lang), SB_EIO (the engine failed to start or synthesise; reason in
 * `err`, may be NULL) or SB_ENOMEM.
 */
SB_MUST_CHECK int sim_audio_tts(struct sim_audio *a, const char *text, const char *lang, char *err,
                                size_t errsize);

/** Frees the samples; the clip is empty (same rate) and reusable. */
void sim_audio_release(struct sim_audio *a);

#endif
