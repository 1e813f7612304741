/*
 * IVR flows: a tenant's phone menu as data. A flow is a set of named nodes
 * (say, play, menu, hours, language, transfer, voicemail, agent, redirect,
 * hangup) loaded from JSON (docs/flows.md), validated once, and run by a
 * pure interpreter: (flow, state, input, environment) -> (TwiML, new state).
 * No I/O here: the caller persists the state by CallSid and passes the time.
 */
#ifndef SB_FLOW_FLOW_H
#define SB_FLOW_FLOW_H

#include <stddef.h>
#include <time.h>

#include "core/err.h"
#include "core/twiml.h"

#define FLOW_NAME_SIZE 64
#define FLOW_MAX_STEPS 64 /* nodes run per call at most: no flow can loop forever */

struct flow; /* opaque: built by flow_load, freed by flow_free */

/**
 * Parses and validates a flow document. On error returns SB_EPARSE (or
 * SB_ENOMEM) and writes "line L: node 'N': what is wrong" (or "line L:
 * column C: ..." for JSON syntax) to `err`. Validation rejects unknown node
 * types and fields of the wrong type, references to missing nodes, menus
 * without options, and cycles that pass through no node waiting for the
 * caller (menu, language, transfer, voicemail, agent). *out is owned by the
 * caller (flow_free).
 */
SB_MUST_CHECK int flow_load(struct flow **out, const char *json, size_t len, char *err,
                            size_t errlen);

/** Frees a flow. NULL is allowed. */
void flow_free(struct flow *f);

/** The flow's name ("name" in the document). */
const char *flow_name(const struct flow *f);

/**
 * Calls `each` with every keyword of every menu and language option of the
 * flow, in document order (borrowed: valid while the flow is). Returns how
 * many there were. What a recogniser's grammar listens for.
 */
size_t flow_keywords(const struct flow *f, void (*each)(void *arg, const char *keyword), void *arg);

/**
 * Writes a readable outline of the flow (one line per node with its
 * branches) to a new string the caller frees. NULL on allocation failure.
 */
SB_MUST_CHECK char *flow_outline(const struct flow *f);

/* Where a call is in its flow; persisted by CallSid between webhooks. */
struct flow_state {
    char node[FLOW_NAME_SIZE]; /* the node waiting for input ("" before the first step) */
    int attempts;              /* failed attempts at the current menu */
    int steps;                 /* nodes run so far (bounded by FLOW_MAX_STEPS) */
    char lang[16];             /* the caller's language, changed by a language node */
    int done;                  /* the flow ended the call (or handed it to the agent) */
};

enum flow_input_kind {
    FLOW_START,     /* the call just arrived */
    FLOW_DIGITS,    /* a <Gather> returned Digits */
    FLOW_SPEECH,    /* a <Gather> returned SpeechResult */
    FLOW_NO_INPUT,  /* the <Gather> timed out (actionOnEmptyResult) */
    FLOW_DIAL_DONE, /* the <Dial> ended: DialCallStatus in `text` */
    FLOW_RECORDED,  /* the voicemail <Record> ended */
};

struct flow_input {
    enum flow_input_kind kind;
    const char *text; /* digits, speech, or DialCallStatus */
};

/* What the interpreter needs from the world. */
struct flow_env {
    time_t now;                     /* unix time (the tests set it) */
    int utc_offset_min;             /* the tenant's offset from UTC at `now`, minutes */
    const char *transfer;           /* the tenant's transfer number, "" when none */
    const char *caller_id;          /* the Twilio number called (To): callerId of transfers */
    const char *action_url;         /* where Gather/Dial/Record actions go, e.g. "/voice/flow" */
    const char *recording_callback; /* recordingStatusCallback for voicemail */
    const char *voice_en;           /* TTS voices for say/prompts */
    const char *voice_es;
    int plan_stream;        /* agent nodes: 1 = <Connect><Stream> (pro), 0 = gather loop */
    const char *stream_url; /* for agent nodes on pro numbers */
    const char *call_sid, *from, *to, *tenant, *agent; /* stream Parameters */
    const char *stream_token; /* the `token` Parameter binding the stream to call_sid; NULL: none */
};

/* What a step produced besides the TwiML. */
struct flow_result {
    int voicemail;                      /* a voicemail <Record> was issued */
    char redirect_flow[FLOW_NAME_SIZE]; /* a redirect node names another flow: "" when none */
};

/**
 * Runs the flow from `state` with `input` until it must wait for the caller
 * (a menu, a transfer, a voicemail) or ends, writing the TwiML of that step
 * into `t` (already initialised with twiml_init) and the new state into
 * `next`. Pure and deterministic: the same arguments give the same TwiML.
 * Returns 0, or SB_EINVAL when the state names a node the flow lacks.
 * After FLOW_MAX_STEPS the call is ended with a goodbye.
 */
int flow_step(const struct flow *f, const struct flow_state *state, const struct flow_input *in,
              const struct flow_env *env, struct twiml *t, struct flow_state *next,
              struct flow_result *res);

#endif
