/*
 * Outbound pacing: the agent's audio goes to Twilio in 20 ms frames against
 * an absolute clock, never more than `lead_ms` ahead of what the caller has
 * heard, so that a `clear` takes effect at once and the buffer Twilio holds
 * stays small. Marks follow each utterance so that Twilio's echoes tell what
 * was actually played. Pure: the caller passes the time and sends the frames.
 */
#ifndef SB_MEDIA_PACER_H
#define SB_MEDIA_PACER_H

#include <stddef.h>

#include "core/err.h"

#define PACER_DEFAULT_LEAD_MS 200

struct pacer {
    unsigned char *audio; /* mu-law bytes queued and not yet sent */
    size_t len, cap, head;
    long long start_us;    /* when the first frame of the current run was due */
    long long sent_frames; /* frames sent since start_us */
    int lead_ms;
    /* utterance bookkeeping */
    unsigned utterance;     /* id of the utterance being sent */
    size_t utterance_bytes; /* bytes of it queued */
    size_t utterance_sent;  /* bytes of it sent */
    int mark_pending;       /* a mark is due once the utterance is fully sent */
};

/** Initialises an empty pacer with a lead of `lead_ms` (0: the default). */
void pacer_init(struct pacer *p, int lead_ms);

/** Queues an utterance's audio (copied). Returns 0 or SB_ENOMEM / SB_ETOOBIG. */
SB_MUST_CHECK int pacer_queue(struct pacer *p, unsigned utterance, const unsigned char *audio,
                              size_t len);

/**
 * How many frames may be sent at `now_us`, given the absolute clock and the
 * lead; takes up to that many frames into `out` (PHONE_FRAME_BYTES each, the
 * last one padded with silence 0xFF) and returns the number taken. Sets
 * *mark to 1 when the utterance's last byte went out with these frames.
 */
size_t pacer_take(struct pacer *p, long long now_us, unsigned char *out, size_t max_frames,
                  int *mark);

/** Microseconds until the next frame is due, or -1 when nothing is queued. */
long long pacer_next_due(const struct pacer *p, long long now_us);

/**
 * Drops everything queued (barge-in). Returns how many ms of the current
 * utterance had been sent before the drop.
 */
long pacer_clear(struct pacer *p);

/** True when nothing is queued. */
int pacer_idle(const struct pacer *p);

/** Frees the buffer. */
void pacer_release(struct pacer *p);

#endif
