/*
 * Twilio voice webhook handlers. Each takes the parsed (and already
 * signature-checked) form parameters and fills a reply; none touches a
 * socket, so they are tested without a network. A voice handler never fails
 * without TwiML: anything that goes wrong inside becomes the apology.
 */
#ifndef SB_VOICE_VOICE_H
#define SB_VOICE_VOICE_H

#include <stddef.h>

#include "agent/agent.h"
#include "core/form.h"
#include "core/phone.h"
#include "core/stream_token.h"
#include "store/routes.h"
#include "store/writer.h"

struct flow_cache;
struct flow_states;

/* An HTTP answer, independent of the server that sends it. */
struct reply {
    int status;               /* 200, 204, 400, ... */
    const char *content_type; /* static string, NULL for none */
    char *body;               /* owned (free()), may be NULL */
    size_t len;
    /*
     * A flow step whose new state could not be committed: the event loop
     * drops this call's state from its memory (flow_states_forget), so that
     * nothing is ever answered from a state the store does not have.
     */
    char uncommitted_call[SID_SIZE];
    /*
     * With uncommitted_call: the step was not committed because another
     * process committed it first (store_flow_call_put's SB_EBUSY), so the
     * loop answers with the stored step instead (voice_flow_replay_stored).
     */
    int answered_elsewhere;
};

#define REPLY_INIT                                                                                 \
    {                                                                                              \
        0, NULL, NULL, 0, "", 0                                                                    \
    }

/** Frees the body and empties the reply. */
void reply_release(struct reply *r);

/** Sets a plain-text reply ("error: ...\n" style); copies `text`. Returns 0 or SB_ENOMEM. */
int reply_text(struct reply *r, int status, const char *text);

/* How a call's media stream ended, for the <Connect action> that follows it. */
enum voice_stream_outcome {
    VOICE_STREAM_UNKNOWN,  /* no stream was seen (or it failed) */
    VOICE_STREAM_TRANSFER, /* the agent hands the caller to a person */
    VOICE_STREAM_HANGUP,   /* the agent already said goodbye */
    VOICE_STREAM_STOPPED,  /* the caller hung up */
};

struct voice_stream_end {
    enum voice_stream_outcome outcome;
};

/* What the handlers need from the running server. Owned by the server. */
struct voice_ctx {
    const struct routes *routes; /* the routing cache (loop thread) */
    struct writer *writer;       /* the store writer; may be NULL in tests */
    const char *stream_url;      /* wss://host/voice/stream for <Connect><Stream> */
    /*
     * Keys the token <Parameter> of every <Stream>, checked at the stream's
     * start (core/stream_token.h). Not ready (tests): no token is written.
     */
    struct stream_token_key stream_key;
    /* Unix seconds (NULL: time(NULL)); the server moves it with --clock. Read with voice_now. */
    long long (*now)(void *arg);
    void *now_arg;
    /* How a call's stream ended; NULL when streams are not served (tests). */
    int (*stream_outcome)(void *arg, const char *call_sid, struct voice_stream_end *out);
    void *stream_outcome_arg;
    /* IVR flows; NULL when flows are not served (tests). */
    const struct flow_cache *flows;
    struct flow_states *flow_states;
    struct store *store; /* the loop's read connection: flow state after a restart */
    /*
     * True when the route's number is answered by an LLM agent, whose
     * Gathers ask for partial results (/voice/gather/partial). NULL: never.
     */
    int (*speculates)(void *arg, const struct route *route);
    void *speculates_arg;
};

/** The handlers' clock: ctx->now, or the system's time. */
long long voice_now(const struct voice_ctx *ctx);

/* A deferred answer: the callee owns `reply` (its body) and runs on the writer thread. */
typedef void (*voice_reply_fn)(void *arg, struct reply *reply);

/* What voice_incoming did with a call. */
enum voice_incoming_result {
    VOICE_ANSWERED, /* `out` holds the answer */
    VOICE_RUN_FLOW, /* the number answers with an IVR flow: run voice_flow; `out` untouched */
};

/**
 * POST /voice/incoming: routes the call by `To`, picks the language from
 * `From`, and answers a Media Stream (pro, enterprise), a speech Gather
 * (starter), or the bilingual apology (unknown or inactive number, missing
 * parameters), with 200 TwiML; queues the call row to the writer without
 * waiting. A number with an IVR flow is left to voice_flow (VOICE_RUN_FLOW).
 */
enum voice_incoming_result voice_incoming(const struct voice_ctx *ctx, const struct form *params,
                                          struct reply *out);

/**
 * POST /voice/outbound of an agent job: the call placed for it connected.
 * `ctx->routes` routes it (server/outbound_route.h: the person called as
 * the number it was placed from, with the job's agent and language); the
 * answer is that number's plan's (a Gather, a Media Stream or a
 * ConversationRelay) as voice_incoming gives it, flows aside.
 */
void voice_connect_agent(const struct voice_ctx *ctx, const struct form *params, struct reply *out);

/**
 * POST /voice/gather: one turn of the starter tier's speech loop: the rule
 * agent answers SpeechResult (or Digits) and the caller is gathered again,
 * transferred, or said goodbye to. Always fills `out` with 200 TwiML.
 */
void voice_gather(const struct voice_ctx *ctx, const struct form *params, struct reply *out);

/* Where Twilio posts a Gather's partial speech results (LLM agents' numbers only). */
#define GATHER_PARTIAL_PATH "/voice/gather/partial"

/**
 * POST /voice/relay-ended: a ConversationRelay session ended. Its
 * HandoffData says why: a transfer gets <Dial> to the tenant's number, the
 * end of the call a <Hangup>; a failed session a person or an apology; a
 * caller who hung up an empty answer. Always fills `out` with 200 TwiML.
 */
void voice_relay_ended(const struct voice_ctx *ctx, const struct form *params, struct reply *out);

/* Where the <Dial> of a transfer to a person reports how it ended. */
#define TRANSFER_ENDED_PATH "/voice/transfer-ended"

/* The SMS fallback an inbound caller is due when nobody took their transfer. */
struct transfer_text {
    char tenant[TENANT_NAME_SIZE];
    char call_sid[CALL_SID_SIZE];
    char to[E164_SIZE];   /* the caller */
    char from[E164_SIZE]; /* the tenant's number they called */
};

/**
 * POST /voice/transfer-ended: the <Dial> of a transfer ended. Always fills
 * `out` with 200 TwiML (goodbye, then <Hangup/>). Returns 1 with `text`
 * filled when the SMS fallback is due: DialCallStatus busy, no-answer or
 * failed on an inbound call from an E.164 number; 0 otherwise.
 */
int voice_transfer_ended(const struct voice_ctx *ctx, const struct form *params, struct reply *out,
                         struct transfer_text *text);

struct call_context;

/**
 * The answer to a Gather turn an agent finished: `text` in the caller's
 * language (cc->lang), then the caller is gathered again, transferred or
 * said goodbye to, as `action` says. Always fills `out` with 200 TwiML.
 */
void voice_gather_answer(const struct call_context *cc, enum agent_action action, const char *text,
                         struct reply *out);

/**
 * The agent is still thinking: `filler` (may be NULL) and a <Redirect> (POST)
 * to `path`, where the rest of the turn is answered. Fills `out` with 200 TwiML.
 */
void voice_gather_hold(const struct call_context *cc, const char *filler, const char *path,
                       struct reply *out);

/*
 * A status callback is answered only after its event is committed: the
 * handler validates and queues it, and `done` runs (on the writer thread)
 * with the reply to send.
 */
typedef void (*voice_status_done_fn)(void *arg, int status_code, enum status_outcome outcome,
                                     const char *call_status);

/**
 * POST /voice/status: validates the callback and queues it to the writer.
 * Returns 0 when queued (then `done` will be called exactly once), or fills
 * `out` with the error reply (400 for bad parameters, 503 when the writer
 * cannot take it) and returns a negative SB_E* code (then `done` is never
 * called).
 */
int voice_status(const struct voice_ctx *ctx, const struct form *params, voice_status_done_fn done,
                 void *arg, struct reply *out);

/**
 * POST /voice/stream-ended (the <Connect action> of a pro call): after the
 * media stream closes, transfers the caller to the tenant's number when the
 * agent decided so, or says goodbye and hangs up. Always 200 TwiML.
 */
void voice_stream_ended(const struct voice_ctx *ctx, const struct form *params, struct reply *out);

/** True when the routed number answers with one of its tenant's IVR flows. */
int voice_flow_answers(const struct voice_ctx *ctx, const struct route *route);

/**
 * An IVR step: POST /voice/incoming for a flow number, then each action of
 * the flow at POST /voice/flow?step=N. The call's state comes from memory or
 * the store, never from the URL: `step` only recognises a retried request,
 * which gets the same answer again without counting an attempt twice. The
 * new state is committed before the answer goes out: returns 0 and calls
 * `done` once with the TwiML then; or fills `out` at once (apology, replay)
 * and returns 1.
 */
int voice_flow(const struct voice_ctx *ctx, const struct form *params, const char *step,
               voice_reply_fn done, void *arg, struct reply *out);

/**
 * Replaces `r` (an answer marked answered_elsewhere) with the TwiML of the
 * step the store holds for `call_sid`, which another process committed;
 * leaves `r` (the apology) when the store cannot tell. Event loop only.
 */
void voice_flow_replay_stored(const struct voice_ctx *ctx, const char *call_sid, struct reply *r);

/**
 * POST /voice/flow/recording: a voicemail's recordingStatusCallback. Logs the
 * recording on the call; returns 0 and answers 204 through `done` once
 * committed, or fills `out` with a 400 and returns 1.
 */
int voice_flow_recording(const struct voice_ctx *ctx, const struct form *params,
                         voice_reply_fn done, void *arg, struct reply *out);

/**
 * Fills `out` with the bilingual apology and <Hangup />. Used for unknown
 * numbers and for any internal failure in a voice handler. Never fails:
 * when even that cannot be built, a static copy is used.
 */
void voice_apology(struct reply *out);

#endif
