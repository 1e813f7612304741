/*
 * The dialog brain behind a call, behind one asynchronous interface
 * (struct agent_ops): the rule agent (a few intents by keyword, English and
 * Spanish), the echo agent, and engines that wait on the network. A turn's
 * reply comes as a stream of events: pieces of text for the transport
 * (webhook gather loop, media stream) to say, then what to do next.
 */
#ifndef SB_AGENT_AGENT_H
#define SB_AGENT_AGENT_H

#include <stddef.h>
#include <stdint.h>

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
    /*
     * The words are a recogniser's stable partial result, not its final one:
     * the engine may start thinking but holds every event and every effect
     * (transcript, tools) until `confirm`; `withdraw` forgets the turn. Only
     * for engines with confirm and withdraw.
     */
    int speculative;
};

struct llm_settings;

/* What an agent is told when a call starts. */
struct agent_call {
    const char *call_sid;
    const char *tenant_name;
    const char *lang;
    const char *greeting; /* the tenant's greeting in the caller's language */
    int can_transfer;
    const struct llm_settings *llm; /* the LLM engine's settings (agent/llm.h), else NULL */
};

/*
 * What a turn produces, in order: TEXT pieces as soon as they exist (cut for
 * speech), maybe a FILLER or a LANG switch, then exactly one END.
 */
enum agent_event_kind {
    AGENT_EV_TEXT,   /* say `text` now (a sentence or clause of the reply) */
    AGENT_EV_FILLER, /* the reply is slow: say `text` (a short filler) meanwhile */
    AGENT_EV_LANG,   /* from now on the caller's language is `text` ("es-MX") */
    AGENT_EV_END,    /* the turn is over: `action` says what follows */
};

struct agent_event {
    enum agent_event_kind kind;
    const char *text;         /* TEXT, FILLER, LANG; NULL for END */
    enum agent_action action; /* END */
    const char *reason;       /* END with AGENT_TRANSFER: why (handoff data), may be NULL */
};

/* Where an agent's events go: called on the thread that owns the call. */
struct agent_sink {
    void (*emit)(void *arg, const struct agent_event *ev);
    void *arg;
};

struct http_request;
struct http_delivery;
struct http_inbox;

/*
 * What engines that talk to the network are given; owned by the server and
 * outliving every agent. Engines without network needs ignore it (it may be
 * NULL for them). The server passes net/http_client's submit and cancel
 * with its client as `net`, and requests name its inbox; tests pass fakes.
 */
struct agent_env {
    long long (*now_ms)(void); /* the loop's clock, the one tick() is given */
    int (*submit)(void *net, const struct http_request *req, uint64_t *id);
    int (*cancel)(void *net, uint64_t id);
    void *net;
    struct http_inbox *inbox; /* where requests deliver; the loop hands them to agent_deliver */
};

/*
 * An engine that submits requests puts this first in its agent and passes
 * the agent as each request's arg, so the loop can hand a delivery to the
 * right engine without knowing it (agent_deliver).
 */
struct agent_base {
    const struct agent_ops *ops;
};

/*
 * An agent engine: a table of callbacks over one call's agent, created by
 * `open` and freed by `close`. Every callback runs on the thread that owns
 * the call (the event loop) and none blocks: an engine that needs the
 * network submits a request and returns; the loop hands it the results with
 * `deliver` and the passing of time with `tick`.
 *
 * Events go to the sink given to `open`, synchronously from inside
 * start/turn (the rule agent) or later from deliver/tick (an LLM). After
 * `interrupt` no further event of the interrupted turn arrives; after
 * `close` none at all. A turn asked while another runs cancels it first.
 */
struct agent_ops {
    const char *name;
    /** Creates the call's agent in *out. Returns 0, SB_ENOMEM or SB_EINVAL. */
    int (*open)(void **out, const struct agent_call *call, const struct agent_sink *sink,
                const struct agent_env *env);
    /** The call starts: the greeting (TEXT..., END). */
    void (*start)(void *agent);
    /** The caller said something or pressed keys. */
    void (*turn)(void *agent, const struct agent_turn *turn);
    /**
     * The caller talked over the reply after `heard_ms` of it; `heard` is the
     * text they heard when the transport knows it (else NULL). The running
     * turn, if any, is cancelled and the agent keeps only what was heard.
     */
    void (*interrupt)(void *agent, long heard_ms, const char *heard);
    /** A network result for this agent (the delivery's arg is the agent). NULL: none expected. */
    void (*deliver)(void *agent, struct http_delivery *d);
    /** Time passed (loop clock, ms): timeouts. NULL: the engine keeps no timers. */
    void (*tick)(void *agent, long long now_ms);
    /** The call is over: cancels what runs and frees the agent. NULL is allowed. */
    void (*close)(void *agent);
    /**
     * The caller's final words are those of the speculative turn running:
     * it becomes the real turn. Its held events are emitted now, in order
     * (maybe the whole reply and END, from inside this call), and the rest
     * follow as they come. Returns 1, or 0 when no speculative turn runs (it
     * was withdrawn, or could not start): the caller then asks a normal
     * turn. NULL: the engine never speculates (the rule and echo agents).
     */
    int (*confirm)(void *agent);
    /**
     * The caller's final words differ: the speculative turn is cancelled and
     * forgotten as if never asked (no event, no transcript, no memory of
     * it). No-op when no speculative turn runs. NULL as for confirm.
     */
    void (*withdraw)(void *agent);
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

/** True for the agent types built in (no stored agent needed): "receptionist", "echo". */
int agent_is_builtin(const char *agent_type);

/**
 * Hands a delivery taken from the env's inbox to the agent named by its arg
 * (a struct agent_base), and frees it. Loop thread only.
 */
void agent_deliver(struct http_delivery *d);

/**
 * Runs one turn of an engine that answers at once (the rule and echo
 * agents): open, `turn` (or the greeting when NULL), close; the TEXT pieces
 * are joined into out->text (cut at AGENT_TEXT_SIZE) and END's action is
 * out->action. Returns 0, SB_ENOMEM, or SB_EBUSY when the engine did not
 * finish the turn at once (it waits on the network: not for this path).
 */
int agent_answer_now(const struct agent_ops *ops, const struct agent_call *call,
                     const struct agent_turn *turn, struct agent_reply *out);

/** Answers one caller turn with the rule agent, without per-call state. Never fails. */
void agent_rules_turn(const struct agent_turn *turn, struct agent_reply *out);

/** The goodbye line for `lang` (static storage). */
const char *agent_goodbye(const char *lang);

#endif
