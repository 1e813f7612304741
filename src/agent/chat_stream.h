/*
 * The response side of a streamed Chat Completions request (OpenAI's
 * chat.completion.chunk stream): an incremental parser fed the `data` of one Server-Sent Event
 * at a time (net/sse frames the lines; this reads the JSON, with jansson).
 * It gives the text deltas of choice 0 as they come, assembles the tool
 * calls from their deltas, and keeps the finish reason and the usage.
 *
 * What it accepts, defensively, since servers differ:
 *   - tool calls in pieces by `index` (OpenAI: id and name first, then the
 *     arguments in pieces), whole in one delta (Ollama), several in
 *     parallel, interleaved; a delta without an index continues the last
 *     call unless it brings a new id; a delta whose id differs from the one
 *     already at its index starts a new call (a server that numbers every
 *     call 0); `arguments` as a JSON string or, when a server sends the
 *     object itself, that object (written back compactly); a call without
 *     an id gets "call_<n>" (n its position), since its result needs one;
 *   - `refusal` text is spoken like content; reasoning fields are not;
 *   - choices other than index 0, unknown fields and `usage: null` are
 *     ignored; the usage chunk may have `choices: []` or none;
 *   - "[DONE]" (as openai-node: data that starts with it) ends the stream;
 *     events after it are ignored.
 * What it refuses, with a precise reason (chat_stream_error) and the stream
 * failed from then on: data that is not a JSON object, a field of the
 * wrong type, a tool call index out of range, content past max_content,
 * arguments past max_arguments, more than CHAT_STREAM_MAX_CALLS calls, an
 * error the server sent ({"error": {...}} or an `error` event), a stream
 * that ends (chat_stream_end) without a finish reason, a tool call without
 * a function name, finish_reason "tool_calls" with no call.
 *
 * Whether a call's arguments are valid JSON and match its tool is checked
 * apart, by chat_tool_check: a bad call is answered to the model with an
 * error text, never executed.
 *
 * Ownership: struct chat_stream owns its buffers; chat_stream_release frees
 * them (a zeroed stream is fine). Pointers it hands out are borrowed and
 * valid until the next feed or release. One stream serves one response, on
 * one thread at a time.
 */
#ifndef SB_AGENT_CHAT_STREAM_H
#define SB_AGENT_CHAT_STREAM_H

#include <stddef.h>

#include "agent/chat_request.h"
#include "core/buf.h"
#include "core/err.h"

#define CHAT_STREAM_MAX_CALLS 8
#define CHAT_STREAM_MAX_INDEX 63 /* the highest tool call index accepted */
#define CHAT_STREAM_MAX_ID 256   /* the longest tool call id */
#define CHAT_STREAM_MAX_NAME 64  /* the longest function name (OpenAI's limit) */
#define CHAT_STREAM_ERROR_SIZE 256

/* Defaults for chat_stream_init. */
#define CHAT_STREAM_MAX_CONTENT (16 * 1024)
#define CHAT_STREAM_MAX_ARGUMENTS (8 * 1024)

enum chat_finish {
    CHAT_FINISH_NONE,           /* not yet */
    CHAT_FINISH_STOP,           /* "stop" */
    CHAT_FINISH_LENGTH,         /* "length": the token limit cut the reply */
    CHAT_FINISH_TOOL_CALLS,     /* "tool_calls" (also "function_call") */
    CHAT_FINISH_CONTENT_FILTER, /* "content_filter" */
    CHAT_FINISH_OTHER,          /* another string, kept in finish_text */
};

/* A tool call being assembled (complete once the stream is). */
struct chat_stream_call {
    long index;    /* the server's index */
    struct buf id; /* NUL-terminated once anything was appended; see chat_stream_end */
    struct buf name;
    struct buf arguments;
};

struct chat_stream_usage {
    int present;            /* a usage object arrived */
    long prompt_tokens;     /* -1 when the server left it out */
    long completion_tokens; /* -1 when the server left it out */
    long total_tokens;      /* -1 when the server left it out */
};

/* Read-only for the caller, apart from init and release. */
struct chat_stream {
    struct buf content; /* all the text so far */
    struct chat_stream_call calls[CHAT_STREAM_MAX_CALLS];
    size_t ncalls;
    enum chat_finish finish;
    char finish_text[32]; /* the finish_reason as sent (truncated), "" until then */
    struct chat_stream_usage usage;
    int done;   /* "[DONE]" arrived */
    int ended;  /* chat_stream_end succeeded */
    int failed; /* the SB_E* code of the first failure, 0 when none */
    size_t max_arguments;
    size_t events; /* events fed */
    char error[CHAT_STREAM_ERROR_SIZE];
};

/* What one event brought. */
struct chat_stream_delta {
    const char *text; /* new content (borrowed, not NUL-terminated), NULL when none */
    size_t len;
    int done; /* this event was "[DONE]" */
};

/**
 * Starts a stream that holds at most `max_content` bytes of text and
 * `max_arguments` bytes of arguments per tool call (0 picks the defaults
 * above). Allocates nothing.
 */
void chat_stream_init(struct chat_stream *cs, size_t max_content, size_t max_arguments);

/** Frees the buffers; the stream is zeroed. A zeroed stream is fine. */
void chat_stream_release(struct chat_stream *cs);

/**
 * Reads one event: `type` is the SSE event name (NULL or "message" for a
 * plain event, "error" for an error event), `data` its `len` bytes. Sets
 * *out to what the event brought (zeroed on failure). Returns 0, or on a
 * failure (see the top of this file) SB_EPARSE (malformed), SB_EIO (the
 * server reported an error), SB_ETOOBIG (a bound) or SB_ENOMEM, with the
 * reason in chat_stream_error; once failed it returns that code again and
 * reads nothing.
 */
SB_MUST_CHECK int chat_stream_feed(struct chat_stream *cs, const char *type, const char *data,
                                   size_t len, struct chat_stream_delta *out);

/**
 * The response is over (the transfer ended). Returns 0 when it is
 * complete: a finish reason came (with or without "[DONE]"), every tool
 * call has a name (and an id, made up if needed). Else SB_EPARSE with the
 * reason, or the code of an earlier failure.
 */
SB_MUST_CHECK int chat_stream_end(struct chat_stream *cs);

/** The reason of the failure in lower case, "" when none. Borrowed. */
const char *chat_stream_error(const struct chat_stream *cs);

/**
 * Copies out the assembled calls (borrowed pointers into the stream) as
 * history calls for chat_history_add_assistant; at most `max`. Returns how
 * many. Meaningful after chat_stream_end succeeded.
 */
size_t chat_stream_calls(const struct chat_stream *cs, struct chat_call *out, size_t max);

/**
 * Checks a tool call before anything runs it: the tool must exist, its
 * arguments must be a JSON object ("" counts as {}), every required
 * parameter a non-empty string, every given parameter a string (null is
 * taken as absent) no longer than its maximum, a language a BCP-47 tag of
 * a known language. Unknown parameters are ignored. Returns 0 with *out
 * filled; SB_ENOTFOUND (unknown tool), SB_EINVAL (bad arguments) or
 * SB_ENOMEM, with `reply` holding the text to give the model as the call's
 * result ("error: ..."), and *out zeroed.
 */
SB_MUST_CHECK int chat_tool_check(const char *name, const char *arguments,
                                  struct chat_tool_args *out, char *reply, size_t replysize);

#endif
