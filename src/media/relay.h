/*
 * One ConversationRelay session: Twilio does the speech recognition and
 * synthesis and talks to us in JSON text messages over a WebSocket (the
 * formats are in docs/relay.md). The session reads Twilio's messages
 * (setup, prompt, dtmf, interrupt, error, info), hands the caller's turns to
 * the call's agent, and sends the agent's words back as `text` tokens as
 * they come (the turn's end as an empty token with "last": true), `language`
 * when the agent switches, and `end` with handoffData when the call goes to
 * a person or is over.
 *
 * It does no I/O itself: the server gives it an io table and the time, so it
 * is tested without sockets. One thread (the event loop) owns a session; the
 * agent it drives belongs to it and is closed by relay_release.
 */
#ifndef SB_MEDIA_RELAY_H
#define SB_MEDIA_RELAY_H

#include <stddef.h>

#include "agent/agent.h"
#include "core/buf.h"
#include "core/phone.h"

/* A message larger than this is refused (the socket closes with 1009). */
#define RELAY_MESSAGE_MAX (64 * 1024)
/* This many malformed messages in a row close the session (1007), as Twilio does with ours. */
#define RELAY_MAX_BAD_MESSAGES 10

enum relay_outcome {
    RELAY_OPEN,
    RELAY_TRANSFER, /* the agent hands the caller to a person: `end` was sent */
    RELAY_HANGUP,   /* the agent ended the call: `end` was sent */
    RELAY_FAILED,   /* a protocol error closed it */
};

/* What the setup message says of the call (borrowed for the started callback). */
struct relay_setup {
    const char *session_id;
    const char *call_sid;
    const char *account_sid;
    const char *from;
    const char *to;
    const char *direction;
    const char *lang;  /* the customParameter "lang", when the TwiML carried it */
    const char *agent; /* the customParameter "agent" (a job's agent on a call we placed) */
    const char *token; /* the customParameter "token" (the call's binding) */
};

struct relay_session;

struct relay_io {
    void *arg;
    /** Sends one text message. Returns 0 or a negative SB_E* code. */
    int (*send)(void *arg, const char *text, size_t len);
    /** Closes the socket after what was sent (1000 normal, 1007 bad data, 1008 policy). */
    void (*close)(void *arg, int code, const char *reason);
    /**
     * The setup message arrived: the server checks the binding, finds the
     * call's agent and calls relay_begin (or relay_end to refuse).
     */
    void (*started)(void *arg, struct relay_session *s, const struct relay_setup *setup);
};

struct relay_session {
    struct relay_io io;
    int state; /* see relay.c */
    char session_id[64];
    char call_sid[SID_SIZE];
    char lang[36];
    const struct agent_ops *agent;
    void *agent_obj;
    int turn_open;      /* a turn was asked and its END has not come */
    int sent_in_turn;   /* text tokens sent in the current turn */
    long long asked_us; /* when the current turn was asked (prompt or dtmf) */
    int bad_in_row;
    enum relay_outcome outcome;
    char reason[96];
    char handoff[256]; /* the handoffData sent with `end` */
    struct buf tx;
    /* figures */
    long turns;
    long interrupts;
    long first_text_us; /* the last turn: prompt -> first text token out, -1 until measured */
};

/** Starts a session for a newly opened socket. Allocates nothing. */
void relay_init(struct relay_session *s, const struct relay_io *io);

/**
 * The server found the call: the agent starts (its greeting was said by
 * Twilio's welcomeGreeting, so what start() emits is not sent). `env` is
 * given to the agent. Returns 0, or an error (the session is then ended).
 */
int relay_begin(struct relay_session *s, const struct agent_ops *agent,
                const struct agent_call *call, const struct agent_env *env);

/**
 * Handles one text message from Twilio. Returns 0, or a negative SB_E*
 * code when the session was closed (the reason in s->reason).
 */
int relay_message(struct relay_session *s, const char *text, size_t len, long long now_us);

/** Ends the session: sends nothing more and closes with `code`. */
void relay_end(struct relay_session *s, enum relay_outcome outcome, int code, const char *reason);

/** Closes the agent and frees what the session holds. */
void relay_release(struct relay_session *s);

/** "open", "transfer", "hangup", "failed". */
const char *relay_outcome_name(enum relay_outcome o);

#endif
