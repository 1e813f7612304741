/*
 * The dialog brain behind a call. For now one engine, the rule agent: it
 * recognises a few intents by keyword (greeting, hours, a person, goodbye)
 * in English and Spanish. Replies are text plus an action for the transport
 * (webhook gather loop or media stream) to carry out.
 */
#ifndef SB_AGENT_AGENT_H
#define SB_AGENT_AGENT_H

#include <stddef.h>

#define AGENT_TEXT_SIZE 512

enum agent_action {
    AGENT_CONTINUE, /* say the text and listen again */
    AGENT_TRANSFER, /* say the text and connect the caller to a person */
    AGENT_HANGUP,   /* say the text and end the call */
};

struct agent_reply {
    enum agent_action action;
    char text[AGENT_TEXT_SIZE];
};

/* One caller turn. */
struct agent_turn {
    const char *lang;        /* "en-US", "es-MX", "es" */
    const char *speech;      /* what the caller said, may be NULL */
    const char *digits;      /* keys pressed, may be NULL */
    const char *tenant_name; /* for the reply wording */
    int can_transfer;        /* the tenant has a transfer number */
    int unrecognised_speech; /* the caller spoke but there is no transcript (no recogniser) */
};

/* What an agent is told when a call starts. */
struct agent_call {
    const char *call_sid;
    const char *tenant_name;
    const char *lang;
    const char *greeting; /* the tenant's greeting in the caller's language */
    int can_transfer;
};

#define AGENT_STATE_SIZE 256

/*
 * An agent engine: a table of callbacks over per-call state the caller
 * allocates (state_size bytes, at most AGENT_STATE_SIZE, zeroed). Every
 * callback runs on the thread that owns the call; none may block.
 */
struct agent_ops {
    const char *name;
    size_t state_size;
    /** The call starts: what to say first. */
    void (*start)(void *state, const struct agent_call *call, struct agent_reply *out);
    /** The caller said something or pressed keys. */
    void (*turn)(void *state, const struct agent_turn *turn, struct agent_reply *out);
    /** The caller talked over the agent after `heard_ms` of its last reply. */
    void (*interrupted)(void *state, long heard_ms);
    /** The call is over. */
    void (*hangup)(void *state);
};

/** The rule agent: keywords and keys, English and Spanish. */
extern const struct agent_ops agent_rules_ops;

/**
 * The echo agent: says nothing; a media stream with it sends every caller
 * frame straight back (for load tests and line checks).
 */
extern const struct agent_ops agent_echo_ops;

/**
 * The engine for a number's agent type: "echo" is the echo agent; every
 * other type ("receptionist", ...) is served by the rule agent until other
 * engines land. Never NULL.
 */
const struct agent_ops *agent_for(const char *agent_type);

/** Answers one caller turn with the rule agent, without per-call state. Never fails. */
void agent_rules_turn(const struct agent_turn *turn, struct agent_reply *out);

/** The goodbye line for `lang` (static storage). */
const char *agent_goodbye(const char *lang);

#endif
