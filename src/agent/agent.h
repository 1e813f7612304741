/*
 * The dialog brain behind a call. For now one engine, the rule agent: it
 * recognises a few intents by keyword (greeting, hours, a person, goodbye)
 * in English and Spanish. Replies are text plus an action for the transport
 * (webhook gather loop or media stream) to carry out.
 */
#ifndef SB_AGENT_AGENT_H
#define SB_AGENT_AGENT_H

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
};

/** Answers one caller turn with the rule agent. Never fails. */
void agent_rules_turn(const struct agent_turn *turn, struct agent_reply *out);

/** Writes the goodbye line for `lang` (static storage). */
const char *agent_goodbye(const char *lang);

#endif
