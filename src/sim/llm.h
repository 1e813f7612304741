/*
 * switchboard sim llm: a local stand-in for an OpenAI-compatible Chat
 * Completions server (POST /v1/chat/completions, streamed or not, with tool
 * calls; GET /v1/models; GET /healthz), for trying and testing LLM agents
 * offline. Replies come from a script (rules from the last user message to a
 * reply or tool calls) or echo the caller; time to first token, tokens per
 * second and faults (429, 500, stalls, a stream cut in the middle) are set
 * by flags or per rule. Documented in docs/sim.md, "sim llm".
 *
 * The pure parts (script, request parsing, reply choice, chunk building)
 * are separate functions so they are tested without sockets. Ownership:
 * each struct below with a _release owns its strings and arrays; _release
 * empties it and may be called on a zeroed struct. Nothing here keeps
 * global state: any thread may use its own structs; sim_llm_run serves on
 * the calling thread only.
 */
#ifndef SB_SIM_LLM_H
#define SB_SIM_LLM_H

#include <regex.h>
#include <stddef.h>
#include <stdio.h>

#include "core/buf.h"
#include "core/err.h"

/* Largest request body accepted (413 beyond). Conversations grow: 1 MiB. */
#define SIM_LLM_MAX_BODY (1024 * 1024)
/* Largest script file. */
#define SIM_LLM_MAX_SCRIPT (1024 * 1024)
/* Most tool calls in one reply. */
#define SIM_LLM_MAX_CALLS 16
/* Bytes of tool-call arguments sent per streamed piece (cut at UTF-8 boundaries). */
#define SIM_LLM_ARG_PIECE 8

/* One tool call of a reply. Both strings owned. */
struct sim_llm_tool_call {
    char *name;
    char *arguments; /* JSON text as sent (a string in the wire format), may be invalid JSON */
};

/* One script rule. Numbers are -1 when the rule does not set them. */
struct sim_llm_rule {
    char *match;  /* case-insensitive substring (owned), or NULL for a regex rule */
    char *tool;   /* for "match":"tool:NAME": NAME ("*" for any), else NULL (owned) */
    int is_regex; /* `regex` holds a compiled POSIX extended regex */
    regex_t regex;
    char *reply; /* text, or NULL (owned) */
    struct sim_llm_tool_call *calls;
    size_t ncalls;
    int error; /* 0, 429 or 500: answered instead of a reply */
    int stall_ms;
    int stall_after_tokens;
    int cut_after_tokens;
};

/* A loaded --script. */
struct sim_llm_script {
    struct sim_llm_rule *rules;
    size_t count;
    char *default_reply; /* NULL: echo "You said: ..." */
    char *tool_default;  /* NULL: "Done." */
};

#define SIM_LLM_SCRIPT_INIT                                                                        \
    {                                                                                              \
        NULL, 0, NULL, NULL                                                                        \
    }

/**
 * Parses a script (JSON, docs/sim.md) from `len` bytes of `text` into `s`,
 * which must be empty. Returns 0, SB_EPARSE (bad JSON or a bad rule, the
 * reason in `err` naming the rule), or SB_ENOMEM. On failure `s` is empty.
 */
SB_MUST_CHECK int sim_llm_script_parse(struct sim_llm_script *s, const char *text, size_t len,
                                       char *err, size_t errsize);

/** Reads and parses the script file `path`; as sim_llm_script_parse, or SB_EIO. */
SB_MUST_CHECK int sim_llm_script_load(struct sim_llm_script *s, const char *path, char *err,
                                      size_t errsize);

/** Frees what the script holds; it is empty afterwards. */
void sim_llm_script_release(struct sim_llm_script *s);

/* What the server needs from a chat completion request. Strings owned. */
struct sim_llm_request {
    char *model;
    int stream;
    int include_usage;  /* stream_options.include_usage */
    long max_tokens;    /* max_completion_tokens or max_tokens; 0: no limit */
    int is_tool_result; /* the last message is a tool result */
    char *subject;      /* the last user message's text, or the tool's name for a result */
    long prompt_tokens; /* words in every message, for usage */
};

/**
 * Parses a request body (JSON, checked as OpenAI does). Returns 0;
 * SB_EPARSE with the reason in `err` and the parameter at fault in `param`
 * (param[0] is '\0' when none), to answer 400; or SB_ENOMEM. On failure `r`
 * is empty.
 */
SB_MUST_CHECK int sim_llm_request_parse(struct sim_llm_request *r, const char *body, size_t len,
                                        char *err, size_t errsize, char *param, size_t paramsize);

/** Frees the request's strings. */
void sim_llm_request_release(struct sim_llm_request *r);

/* The reply chosen for a request. Faults are -1 when the rule left them to the flags. */
struct sim_llm_answer {
    char *content; /* owned; NULL when the reply is tool calls only */
    struct sim_llm_tool_call *calls;
    size_t ncalls;
    int error; /* 0, 429 or 500 */
    int stall_ms;
    int stall_after_tokens;
    int cut_after_tokens;
    int rule; /* index of the rule used, -1 for a default or the echo */
};

/**
 * Chooses the reply to `req` from `script` (NULL: echo). For a tool result
 * only rules with "match":"tool:NAME" apply (else tool_default); for user
 * text only the others, in order, the first that matches (else default, or
 * the echo). Returns 0 or SB_ENOMEM (then `out` is empty).
 */
SB_MUST_CHECK int sim_llm_choose(const struct sim_llm_script *script,
                                 const struct sim_llm_request *req, struct sim_llm_answer *out);

/** Frees the answer's content and calls. */
void sim_llm_answer_release(struct sim_llm_answer *a);

/**
 * The length of the first token of `text`: a word with the spaces after it
 * (spaces before the first word belong to it). 0 at the end of the text.
 */
size_t sim_llm_token_len(const char *text);

/** How many tokens `text` holds. */
size_t sim_llm_count_tokens(const char *text);

/* The kinds of streamed events. */
enum sim_llm_event {
    SIM_LLM_EV_END = 0, /* nothing more (after [DONE]) */
    SIM_LLM_EV_CHUNK,   /* a chunk that is no token: role, tool call head, finish, usage */
    SIM_LLM_EV_TOKEN,   /* a chunk carrying a token of content or of tool arguments */
    SIM_LLM_EV_DONE,    /* data: [DONE] */
};

/* The state of one streamed answer. Borrows the answer, the id and the model. */
struct sim_llm_stream {
    const char *id;    /* "chatcmpl-..." */
    const char *model; /* as the request named it */
    long long created; /* unix seconds */
    const struct sim_llm_answer *answer;
    int include_usage;
    long max_tokens;
    long prompt_tokens;
    /* position */
    int phase;
    size_t pos;    /* bytes of content, or of the current call's arguments, sent */
    size_t call;   /* the call being sent */
    long tokens;   /* completion tokens sent */
    int truncated; /* max_tokens reached: finish_reason "length" */
};

/** Starts a stream of `a` (all pointers borrowed: they must outlive the stream). */
void sim_llm_stream_init(struct sim_llm_stream *st, const char *id, const char *model,
                         long long created, const struct sim_llm_answer *a,
                         const struct sim_llm_request *req);

/**
 * Appends the next event ("data: {...}\n\n", exactly the SSE bytes) to `out`
 * and returns its kind, or SIM_LLM_EV_END (nothing appended) when the stream
 * is over. Returns a negative SB_E* code when `out` is full or memory ran out.
 */
int sim_llm_stream_next(struct sim_llm_stream *st, struct buf *out);

/**
 * The non-streamed "chat.completion" object for `a`, as compact JSON.
 * Returns the text (free()) or NULL when memory ran out.
 */
SB_MUST_CHECK char *sim_llm_completion_json(const char *id, const char *model, long long created,
                                            const struct sim_llm_answer *a,
                                            const struct sim_llm_request *req);

/**
 * OpenAI's error document {"error":{"message","type","param","code"}}; a
 * NULL param or code is null. Returns the text (free()) or NULL.
 */
SB_MUST_CHECK char *sim_llm_error_json(const char *message, const char *type, const char *param,
                                       const char *code);

/* Settings of a server. Strings and the script are borrowed for sim_llm_run. */
struct sim_llm_opts {
    const char *host;                    /* address to listen on, e.g. "127.0.0.1" */
    int port;                            /* 0: any free port */
    const char *model;                   /* listed by /v1/models; NULL: "sim-llm" */
    const char *api_key;                 /* required as "Authorization: Bearer KEY"; NULL: none */
    const struct sim_llm_script *script; /* NULL: echo */
    int first_token_ms;                  /* before the first chunk (or the whole reply) */
    int tokens_per_second;               /* 0: as fast as possible */
    int fail_every;                      /* every Nth chat request fails; 0: none */
    int fail_status;                     /* 429 or 500 (with fail_every) */
    int stall_ms;                        /* pause after the first token of each stream */
    int cut_after;                       /* close streams after N tokens; -1: never */
    int retry_after_s;                   /* Retry-After of a 429 */
    /*
     * What POST /v1/audio/transcriptions answers, in turn (cycling): a
     * recogniser's stand-in that "hears" these lines; none: "" (nothing heard).
     */
    const char *const *transcripts;
    size_t ntranscripts;
    FILE *ready; /* gets "listening on http://HOST:PORT\n" once bound; may be NULL */
};

/**
 * Serves on opts->host:opts->port until SIGINT or SIGTERM, in the calling
 * thread. Requests are logged to stderr (event llm.request). Returns 0 after
 * a clean stop, SB_EINVAL (bad options), SB_EIO (cannot listen) or SB_ENOMEM.
 */
int sim_llm_run(const struct sim_llm_opts *opts);

#endif
