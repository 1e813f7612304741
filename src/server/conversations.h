/*
 * LLM agents on the speech <Gather> loop. A number whose `agent` names one
 * of its tenant's configured agents (store/agents.h) is answered by the LLM
 * engine (agent/llm.h): each /voice/gather turn is handed to the call's
 * conversation, and the webhook's answer waits (without blocking the loop)
 * until the turn ends. When the model is slow, the waiting webhook is
 * answered with what is ready (or a filler) and a <Redirect> to
 * /voice/gather/continue, which waits for the rest: Twilio never times out.
 *
 * Owns: the shared HTTP client and its inbox (the agents' network), the
 * agent settings loaded from the store (API keys read from the environment
 * variables the settings name, never stored or logged), and one
 * conversation per call, forgotten when the call ends or after
 * CONVERSATION_IDLE_MS without a turn. Loop thread only, except the
 * client's own thread, which only queues deliveries and wakes the loop.
 */
#ifndef SB_SERVER_CONVERSATIONS_H
#define SB_SERVER_CONVERSATIONS_H

#include <libwebsockets.h>

#include "core/err.h"
#include "core/form.h"

#define CONVERSATION_IDLE_MS (15L * 60 * 1000)
/* The longest a Gather webhook waits for a turn before it is held (Twilio waits 15 s). */
#define CONVERSATION_HOLD_MS 9000L
#define GATHER_CONTINUE_PATH "/voice/gather/continue"
/* Model requests running at once (each holds a connection to its provider). */
#define CONVERSATION_MAX_REQUESTS 256

struct server;
struct http_session;
struct routes;
struct llm_settings;
struct agent_env;
struct stream_speech;
struct http_client;

/* What an LLM agent's hooks (knowledge, messages, events) need: embedded by its owner. */
struct agent_link {
    struct server *srv;
    char tenant[64];
    char agent[32];
    char hours[1024]; /* the business_hours tool's answer */
};

struct route;

/**
 * The settings of the LLM agent the route's number names, with hooks pointing at
 * `link` (filled here; it must outlive the agent). The strings are borrowed
 * until the next reload: open the agent at once (it copies them). Returns 0,
 * or SB_ENOTFOUND when the tenant has no usable agent of that name (the rule
 * agent answers then).
 */
int conversations_llm(struct server *srv, const struct route *route, struct agent_link *link,
                      struct llm_settings *out);

/** The same for the tenant's agent `agent` (a flow's agent node names its own). */
int conversations_llm_named(struct server *srv, const struct route *route, const char *agent,
                            struct agent_link *link, struct llm_settings *out);

struct stream_speech;

/**
 * The speech engines the tenant's agent `agent` names for its Media Streams
 * in `lang`: its recogniser (whisper-api, deepgram) and its cloud voice
 * (elevenlabs, cartesia, openai, with the voice it names for the language),
 * each key read from the variable it names. Returns 1 when it names one of
 * them, 0 (out emptied: pocketsphinx and the offline voice) for the
 * defaults, for pocketsphinx, espeak and flite, and, with a log line
 * saying so, for a key whose variable is not set.
 */
int conversations_speech(struct server *srv, const struct route *route, const char *agent,
                         const char *lang, struct stream_speech *out);

/** The server's HTTP client (the LLM agents' and the cloud voices'), NULL before it starts. */
struct http_client *conversations_http(struct server *srv);

/** The agents' network (the shared HTTP client and its inbox). */
const struct agent_env *conversations_env(struct server *srv);

/** Starts the HTTP client and loads the agents. Returns 0 or SB_ENOMEM. */
SB_MUST_CHECK int conversations_init(struct server *srv);

/** Closes every conversation and stops the client (its pending answers are dropped). */
void conversations_release(struct server *srv);

/** Hands the network's deliveries to their agents (the loop woke up). */
void conversations_drain(struct server *srv);

/** Time passed: agents' timeouts, held webhooks, idle conversations. */
void conversations_tick(struct server *srv);

/**
 * A signed /voice/gather (or /voice/gather/continue when `continuation`) for
 * a call: when its number has an LLM agent, takes the turn and returns 1
 * (the answer is in sess->reply now, or later through sess->pending);
 * returns 0 when the number has none (the rule agent answers as before).
 * `routes` routes the call (the server's, or an outbound call's job route);
 * `agent` is the agent the URL names (?agent=NAME), NULL or "" for none.
 * Runs on the call's home loop (server_home_of).
 */
int conversations_gather(struct http_session *sess, const char *agent, const struct routes *routes,
                         const struct form *params, int continuation);

/**
 * A signed partial result of a call's Gather (/voice/gather/partial:
 * StableSpeechResult, UnstableSpeechResult, SequenceNumber). When the
 * caller's words look settled (nothing unstable is left, or the same words
 * came twice) the LLM agent starts a speculative turn on them; the Gather's
 * final result confirms it (the same words) or withdraws it. Out-of-order,
 * repeated and unknown-call partials are ignored. Twilio ignores the answer.
 */
void conversations_partial(struct server *srv, const char *agent, const struct routes *routes,
                           const struct form *params);

/** voice_ctx.speculates: the route's number is answered by a usable LLM agent. */
int conversations_speculates(void *arg, const struct route *route);

/** The call ended (status callback): its conversation goes. */
void conversations_forget(struct server *srv, const char *call_sid);

#endif
