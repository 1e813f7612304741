/*
 * The caller's words as audio: the µ-law frames of one utterance, from a
 * little before the voice activity detector noticed speech (its onset
 * takes a few frames, and a recogniser needs the word's first sound) to
 * its end, for a speech recogniser. Bounded: an utterance longer than
 * UTTERANCE_MAX_BYTES is cut, and the rest is the next one.
 *
 * Ownership: the struct owns its buffers; utterance_take hands the audio
 * to the caller. One thread (the session's) uses it.
 */
#ifndef SB_MEDIA_UTTERANCE_H
#define SB_MEDIA_UTTERANCE_H

#include <stddef.h>

#include "core/buf.h"

/* 300 ms of 8 kHz µ-law kept before speech starts. */
#define UTTERANCE_PREROLL_BYTES 2400
/* 15 s: a caller who talks on is recognised in pieces of this length. */
#define UTTERANCE_MAX_BYTES (15 * 8000)

struct utterance {
    unsigned char preroll[UTTERANCE_PREROLL_BYTES];
    size_t preroll_len;
    struct buf audio; /* the utterance so far (empty outside speech) */
};

void utterance_init(struct utterance *u);

/** A frame outside speech: kept as the next utterance's lead-in. */
void utterance_quiet(struct utterance *u, const unsigned char *frame, size_t len);

/** Speech started with this frame: the utterance is the lead-in and it. Returns 0 or SB_ENOMEM. */
int utterance_start(struct utterance *u, const unsigned char *frame, size_t len);

/**
 * A frame of speech. Returns 0, 1 when the utterance is full (take it now;
 * the frame is not in it) or SB_ENOMEM.
 */
int utterance_add(struct utterance *u, const unsigned char *frame, size_t len);

/**
 * Hands over the utterance's audio (free with free()) and empties it;
 * NULL with *len 0 when there is none or memory ran out.
 */
unsigned char *utterance_take(struct utterance *u, size_t *len);

void utterance_release(struct utterance *u);

#endif
