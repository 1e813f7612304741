/*
 * The request side of an OpenAI-compatible Chat Completions dialog (see
 * docs/agents.md, "Providers"): the conversation a call holds
 * (struct chat_history), the system prompt, the five tools the model may
 * call, and the JSON body of `POST {base_url}/chat/completions` with
 * "stream": true. Pure code: no I/O, no threads, no global mutable state.
 *
 * Ownership: a struct chat_history owns copies of every string appended to
 * it and is emptied with chat_history_release (which a zeroed history also
 * accepts). The context and parameters are borrowed for one call. The body
 * is appended to the caller's struct buf, whose maximum bounds it. One
 * history is used by one thread at a time (the thread that owns the call).
 *
 * max_tokens vs max_completion_tokens: the body carries `max_tokens` by
 * default, the one name every target server reads: OpenAI (deprecated
 * there but still accepted by its chat models), Groq, Together, Mistral,
 * vLLM, Ollama (whose request struct has only max_tokens and silently
 * ignores the other name) and llama-server. OpenAI's reasoning models
 * (o-series, gpt-5) refuse max_tokens; for them choose
 * CHAT_MAX_COMPLETION_TOKENS. Both are never sent together.
 */
#ifndef SB_AGENT_CHAT_REQUEST_H
#define SB_AGENT_CHAT_REQUEST_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* ---- the tools ---------------------------------------------------------- */

enum chat_tool {
    CHAT_TOOL_TRANSFER_TO_HUMAN, /* {reason?: string} */
    CHAT_TOOL_END_CALL,          /* {} */
    CHAT_TOOL_TAKE_MESSAGE,      /* {caller_name, callback_number, message: string} all required */
    CHAT_TOOL_SWITCH_LANGUAGE,   /* {language: BCP-47 string, "es-MX"} required */
    CHAT_TOOL_BUSINESS_HOURS,    /* {} */
    CHAT_TOOL_COUNT,
};

/* A set of tools for chat_request_params.tools: bit (1u << enum chat_tool). */
#define CHAT_TOOLS_ALL ((1u << CHAT_TOOL_COUNT) - 1u)

/* The longest value each string argument may have, in bytes. */
#define CHAT_ARG_REASON_MAX 500
#define CHAT_ARG_NAME_MAX 200
#define CHAT_ARG_NUMBER_MAX 64
#define CHAT_ARG_MESSAGE_MAX 2000
#define CHAT_ARG_LANGUAGE_MAX 35

/*
 * The arguments of a checked tool call (chat_tool_check in
 * agent/chat_stream.h): every string NUL-terminated, "" when absent.
 */
struct chat_tool_args {
    enum chat_tool tool;
    char reason[CHAT_ARG_REASON_MAX + 1];
    char caller_name[CHAT_ARG_NAME_MAX + 1];
    char callback_number[CHAT_ARG_NUMBER_MAX + 1];
    char message[CHAT_ARG_MESSAGE_MAX + 1];
    char language[CHAT_ARG_LANGUAGE_MAX + 1];
};

/* One string parameter of a tool (every parameter of the five is a string). */
struct chat_tool_param {
    const char *name;
    const char *description;
    int required;
    size_t max_len;  /* longest accepted value in bytes */
    size_t offset;   /* where chat_tool_check stores it in struct chat_tool_args */
    int is_language; /* the value must be a BCP-47 tag of a known language */
};

#define CHAT_TOOL_MAX_PARAMS 3

/* A tool as the model sees it; the builder and the checker read the same table. */
struct chat_tool_def {
    enum chat_tool tool;
    const char *name;
    const char *description;
    size_t nparams;
    struct chat_tool_param params[CHAT_TOOL_MAX_PARAMS];
};

/** The definition of a tool (static storage); NULL for an out-of-range value. */
const struct chat_tool_def *chat_tool_def(enum chat_tool tool);

/** The tool called `name` (static storage), or NULL when there is none. */
const struct chat_tool_def *chat_tool_find(const char *name);

/* ---- the history -------------------------------------------------------- */

enum chat_role {
    CHAT_ROLE_USER,
    CHAT_ROLE_ASSISTANT,
    CHAT_ROLE_TOOL,
};

/* A tool call the model made; every string owned by the history. */
struct chat_call {
    char *id;
    char *name;
    char *arguments; /* the JSON text as the model wrote it */
};

/* One message; every string owned by the history. */
struct chat_message {
    enum chat_role role;
    char *content;           /* NULL only for an assistant message with calls and no text */
    struct chat_call *calls; /* assistant only */
    size_t ncalls;
    char *tool_call_id; /* tool only: the call this result answers */
    size_t bytes;       /* what the message counts against the budget */
};

/*
 * The conversation after the system prompt (which is not stored: it is
 * built for each request from a struct chat_context, so it is always kept).
 *
 * The budget: each message counts the bytes of its strings plus
 * CHAT_MESSAGE_OVERHEAD. After every append, while the total is over
 * max_bytes and more than one turn is held, the oldest turn is dropped
 * whole. A turn is a user message and everything up to the next user
 * message (the assistant's reply, its tool calls and their results); the
 * messages before the first user message (a greeting) are a turn of their
 * own. So an assistant tool call is never separated from its results and
 * the history, once trimmed, starts with a user message, which the chat
 * templates of some servers require. The newest turn is never dropped,
 * even over budget; a single message larger than max_bytes is refused.
 */
#define CHAT_MESSAGE_OVERHEAD 16

struct chat_history {
    struct chat_message *msgs;
    size_t n;
    size_t cap;
    size_t bytes;     /* sum of msgs[i].bytes */
    size_t max_bytes; /* the budget */
    size_t dropped;   /* messages dropped for the budget so far */
};

/** An empty history with a budget of `max_bytes`. Allocates nothing. */
void chat_history_init(struct chat_history *h, size_t max_bytes);

/** Frees every message; the history is empty (same budget) and reusable. Zeroed is fine. */
void chat_history_release(struct chat_history *h);

/**
 * Appends what the caller said (copies `text`, which must be valid UTF-8
 * without NUL). Returns 0, SB_EINVAL (NULL or not UTF-8), SB_ETOOBIG (larger
 * than the whole budget) or SB_ENOMEM; on failure the history is unchanged.
 */
SB_MUST_CHECK int chat_history_add_user(struct chat_history *h, const char *text);

/**
 * Removes the newest message when it is the caller's (a speculative turn
 * withdrawn before the model's answer joined the history). Turns dropped
 * for the budget when it was added stay dropped. Returns 0, or
 * SB_ENOTFOUND when the newest message is not a user message.
 */
int chat_history_pop_user(struct chat_history *h);

/**
 * Appends an assistant message: `text` (may be NULL or "" when `ncalls` > 0)
 * and `ncalls` tool calls, each with a non-empty id and name and arguments
 * (NULL taken as ""). Copies everything. Same returns as
 * chat_history_add_user; on failure the history is unchanged.
 */
SB_MUST_CHECK int chat_history_add_assistant(struct chat_history *h, const char *text,
                                             const struct chat_call *calls, size_t ncalls);

/**
 * Appends the result of the tool call `tool_call_id` (non-empty) as `text`.
 * Same returns as chat_history_add_user; on failure the history is unchanged.
 */
SB_MUST_CHECK int chat_history_add_tool(struct chat_history *h, const char *tool_call_id,
                                        const char *text);

/*
 * The caller talked over the last assistant reply: its content becomes what
 * was heard, `heard` (which must be a prefix of it; a trailing partial UTF-8
 * character is dropped), with trailing white space removed and
 * " [interrupted]" after it ("[interrupted]" when nothing was heard). Its
 * tool calls stay. Returns 0, SB_ENOTFOUND (no assistant message with text),
 * SB_EINVAL (`heard` is NULL or not a prefix of the text) or SB_ENOMEM; on
 * failure the history is unchanged.
 */
#define CHAT_INTERRUPTED_MARK "[interrupted]"
SB_MUST_CHECK int chat_history_interrupt(struct chat_history *h, const char *heard);

/* ---- the request -------------------------------------------------------- */

/* What the system prompt tells the model about this call; all borrowed. */
struct chat_context {
    const char *persona;          /* the persona's instructions (required, non-empty) */
    const char *const *knowledge; /* retrieved passages, may be NULL when nknowledge is 0 */
    size_t nknowledge;
    const char *tenant_name; /* the business answering; NULL or "" leaves it out */
    const char *lang;        /* the caller's language, "es-MX"; NULL or "" leaves it out */
    const char *local_time;  /* "Tuesday 14:05"; NULL or "" leaves it out */
    int can_transfer;        /* a person can take the call */
};

/* The longest system prompt chat_system_prompt writes. */
#define CHAT_SYSTEM_MAX (32 * 1024)

enum chat_max_tokens_field {
    CHAT_MAX_TOKENS,            /* "max_tokens": every server (see the top of this file) */
    CHAT_MAX_COMPLETION_TOKENS, /* "max_completion_tokens": OpenAI's reasoning models */
};

struct chat_request_params {
    const char *model;   /* required, non-empty */
    double temperature;  /* 0..2; negative: not sent (the server's default) */
    unsigned max_tokens; /* 0: not sent */
    enum chat_max_tokens_field max_tokens_field;
    unsigned tools; /* CHAT_TOOLS_ALL or some (1u << CHAT_TOOL_x); 0 sends no "tools" */
};

/**
 * Appends the system prompt to `out`: the persona, then the knowledge
 * passages under a heading, then the call's facts (business, language,
 * local time, whether a person can take the call) and how to speak on a
 * phone line. Every string must be valid UTF-8. Returns 0, SB_EINVAL (no
 * persona, or text that is not UTF-8; with a reason in err), SB_ETOOBIG
 * (longer than CHAT_SYSTEM_MAX or out's maximum) or SB_ENOMEM; on failure
 * out holds a partial prompt to discard.
 */
SB_MUST_CHECK int chat_system_prompt(const struct chat_context *ctx, struct buf *out, char *err,
                                     size_t errsize);

/**
 * Appends the JSON body of a streamed chat completion to `out`: model,
 * "stream": true, "stream_options": {"include_usage": true}, temperature and
 * the max tokens field when set, the messages (system prompt, then the
 * history) and the chosen tools. Checks that every assistant tool call is
 * answered by a tool message before the next other message and that every
 * tool message answers a call. Returns 0, SB_EINVAL (bad parameters or
 * history; the reason in err), SB_ETOOBIG (out's maximum) or SB_ENOMEM; on
 * failure out holds a partial body to discard.
 */
SB_MUST_CHECK int chat_request_build(const struct chat_request_params *p,
                                     const struct chat_context *ctx, const struct chat_history *h,
                                     struct buf *out, char *err, size_t errsize);

#endif
