/*
 * Sample-rate conversion of 16-bit mono PCM with libsoxr. Every engine and
 * every audio path that has to reach the phone network's 8 kHz goes through
 * this one function, so there is one place that knows libsoxr.
 */
#ifndef SB_SPEECH_RESAMPLE_H
#define SB_SPEECH_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Lowest and highest rates accepted, in Hz. */
#define SPEECH_RATE_MIN 1000
#define SPEECH_RATE_MAX 192000
/* Longest result produced: one hour at 48 kHz. */
#define SPEECH_RESAMPLE_MAX_SAMPLES ((size_t)3600 * 48000)

/**
 * Converts `n` samples at `from` Hz in `in` (borrowed) to `to` Hz with
 * libsoxr's high quality filter. The result has about n * to / from samples;
 * pitch and duration are kept. On success *out is a new malloc'd array the
 * caller frees with free(), even when `from` equals `to` (a copy); with
 * `n` 0 it is NULL and *outn is 0. Returns 0, SB_EINVAL (a rate outside
 * SPEECH_RATE_MIN..SPEECH_RATE_MAX, or `in` NULL with `n` > 0), SB_ETOOBIG
 * (result over SPEECH_RESAMPLE_MAX_SAMPLES), SB_ENOMEM or SB_EIO (libsoxr
 * failed). On failure *out is NULL and *outn 0.
 */
SB_MUST_CHECK int speech_resample(const int16_t *in, size_t n, int from, int to, int16_t **out,
                                  size_t *outn);

#endif
