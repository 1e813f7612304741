/*
 * What the caller hears in a simulated ConversationRelay session: the app's
 * `text` tokens assembled into one reply, and how much of that reply has
 * been spoken at a given moment. Twilio speaks the tokens as they come; the
 * sim has no synthesizer, so speaking time is estimated at 150 words a
 * minute (SIM_RELAY_MS_PER_WORD a word) from when the reply's first token
 * arrived. The caller's `say` during that time interrupts the reply, and
 * what was "heard so far" is the words whose time has passed.
 *
 * Pure functions over one struct, no I/O. The caller owns the struct: it is
 * zeroed or SIM_RELAY_REPLY_INIT to start, and sim_relay_reply_release frees
 * its text. Times are milliseconds on any clock the caller keeps. One thread.
 */
#ifndef SB_SIM_RELAY_REPLY_H
#define SB_SIM_RELAY_REPLY_H

#include <stddef.h>

#include "core/err.h"

/* 150 words a minute, as the sim times a <Say>. */
#define SIM_RELAY_MS_PER_WORD 400
/* A reply longer than this is refused (the app is not talking to a person). */
#define SIM_RELAY_REPLY_MAX (64 * 1024)

struct sim_relay_reply {
    char *text;      /* the tokens so far, NUL-terminated when len > 0 (owned) */
    size_t len;      /* bytes of text */
    size_t cap;      /* bytes allocated */
    size_t shown;    /* bytes already taken by sim_relay_reply_unshown */
    double start_ms; /* when the first token with text arrived; < 0 while none has */
    int complete;    /* a token with "last": true arrived */
};

#define SIM_RELAY_REPLY_INIT                                                                       \
    {                                                                                              \
        NULL, 0, 0, 0, -1, 0                                                                       \
    }

/**
 * Appends one token that arrived at `now_ms` (an empty token is allowed: it
 * only ends the reply when `last`). Returns 0, SB_ETOOBIG past
 * SIM_RELAY_REPLY_MAX or SB_ENOMEM; on failure the reply is unchanged.
 */
SB_MUST_CHECK int sim_relay_reply_add(struct sim_relay_reply *r, const char *token, int last,
                                      double now_ms);

/** Empties the reply for the next one (keeps its memory). */
void sim_relay_reply_reset(struct sim_relay_reply *r);

/** Frees the text; the reply is empty and may be used again. */
void sim_relay_reply_release(struct sim_relay_reply *r);

/** Words (runs of bytes that are not ASCII whitespace) in the first `len` bytes of `text`. */
size_t sim_relay_words(const char *text, size_t len);

/** The estimated time to speak the whole reply so far: its words times SIM_RELAY_MS_PER_WORD. */
double sim_relay_reply_speaking_ms(const struct sim_relay_reply *r);

/** 1 when the reply has started and, by the estimate, is still being spoken at `now_ms`. */
int sim_relay_reply_speaking(const struct sim_relay_reply *r, double now_ms);

/**
 * What the caller has heard of the reply by `now_ms`: the words whose whole
 * time has passed. Returns the length of that prefix of r->text (without
 * the whitespace after it; 0 before the first word has been spoken) and
 * sets *elapsed_ms to the time since the reply started (0 when it has not).
 */
size_t sim_relay_reply_heard(const struct sim_relay_reply *r, double now_ms, double *elapsed_ms);

/**
 * The text not yet taken, without surrounding whitespace: sets *text (borrowed,
 * into r->text) and returns its length, 0 when there is nothing new. Marks
 * everything so far as taken.
 */
size_t sim_relay_reply_unshown(struct sim_relay_reply *r, const char **text);

#endif
