/*
 * The LLM agent: an engine behind agent_ops that asks an OpenAI-compatible
 * Chat Completions server (streamed, with tools) for each turn, through the
 * env's submit/cancel (net/http_client in the server), and says the reply
 * as it streams in, cut into speakable pieces.
 *
 * Per turn: the caller's words join the call's history (chat_request.h,
 * bounded: the oldest turns are dropped), the best knowledge passages for
 * them are asked of the `knowledge` hook, and the request goes out. Tool
 * calls are checked (chat_tool_check) and run: transfer_to_human and
 * end_call end the turn with that action, take_message and switch_language
 * and business_hours are answered to the model, which is asked again (at
 * most LLM_MAX_ROUNDS requests a turn). A bad call is answered with an
 * error text, never run.
 *
 * Failure is never silence: no first token within first_token_timeout_ms
 * says a filler; nothing within hard_timeout_ms, a failed stream, or a
 * second 429/5xx (the first is retried once after a jittered backoff) ends
 * the turn with the fallback (the rule agent's answer, or a transfer). A
 * base URL failing LLM_BREAKER_FAILURES turns in a row is not asked for
 * LLM_BREAKER_OPEN_MS (its turns fall back at once). Every such event goes
 * to the `record` hook, which the server turns into log lines and counters.
 *
 * Ownership: the settings are copied at open (strings included); hooks and
 * their arg must outlive the agent. Loop thread only. The breaker table is
 * process-wide state of the loop thread.
 */
#ifndef SB_AGENT_LLM_H
#define SB_AGENT_LLM_H

#include <stddef.h>

#include "agent/agent.h"
#include "agent/chat_request.h"

#define LLM_DEFAULT_FIRST_TOKEN_MS 2500L
#define LLM_DEFAULT_HARD_TIMEOUT_MS 8000L
#define LLM_MAX_ROUNDS 3
#define LLM_HISTORY_BYTES (24 * 1024)
#define LLM_BREAKER_FAILURES 5
#define LLM_BREAKER_OPEN_MS 30000L

enum llm_fallback {
    LLM_FALLBACK_RULES,    /* the rule agent answers the turn */
    LLM_FALLBACK_TRANSFER, /* the call goes to a person (the rule agent when there is none) */
};

/* What the engine tells the `record` hook: the call's transcript and its events. */
enum llm_record_kind {
    LLM_REC_CALLER, /* text: what the caller said */
    LLM_REC_AGENT,  /* text: the reply (heard: what was heard when interrupted), latency_ms */
    LLM_REC_TOOL,   /* tool, arguments, text: the result given to the model */
    LLM_REC_EVENT,  /* event: "filler", "retry", "fallback", "breaker_open", "error"; text: why */
};

struct llm_record {
    enum llm_record_kind kind;
    const char *call_sid;
    const char *text;
    const char *tool;
    const char *arguments;
    const char *event;
    int interrupted;
    const char *heard;
    long latency_ms; /* -1 when not measured */
};

struct llm_hooks {
    /*
     * Up to `max` knowledge passages for `query`, each malloc'd (the engine
     * frees them). Returns how many. NULL: no knowledge.
     */
    size_t (*knowledge)(void *arg, const char *query, char **out, size_t max);
    /* A take_message call, checked. NULL: the message is only in the transcript. */
    void (*take_message)(void *arg, const char *call_sid, const struct chat_tool_args *msg);
    /* Transcript lines and failure events. NULL: nothing is recorded. */
    void (*record)(void *arg, const struct llm_record *r);
    void *arg;
};

struct llm_settings {
    const char *base_url; /* "https://api.openai.com/v1" (no trailing /chat/completions) */
    const char *model;
    const char *api_key;         /* the secret itself; NULL or "": no Authorization header */
    const char *persona;         /* the system prompt's instructions; NULL: a receptionist's */
    double temperature;          /* negative: the server's default */
    unsigned max_tokens;         /* 0: not sent */
    long first_token_timeout_ms; /* 0: LLM_DEFAULT_FIRST_TOKEN_MS */
    long hard_timeout_ms;        /* 0: LLM_DEFAULT_HARD_TIMEOUT_MS */
    enum llm_fallback fallback;
    const char *business_hours; /* what the business_hours tool answers; NULL: not known */
    struct llm_hooks hooks;
};

/* The engine. agent_call.llm must point at its settings. */
extern const struct agent_ops agent_llm_ops;

/** Forgets every breaker (tests, and a server that reloads its agents). */
void llm_breakers_reset(void);

#endif
