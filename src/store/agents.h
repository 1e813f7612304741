/*
 * The data of the tenants' LLM agents: their configuration, their knowledge
 * (text files cut into passages and searched with SQLite's FTS5, ranked by
 * bm25), and what happens on their calls (the conversation turn by turn and
 * the messages taken for the business). The engine that runs an agent reads
 * and writes through these functions; nothing above the store writes SQL.
 *
 * Like the rest of the store, a connection is used by one thread at a time.
 *
 * Ownership:
 *   - struct agent_config owns `prompt` (free it with agent_config_release);
 *     a list of them is freed with agent_config_list_free.
 *   - struct call_turn owns `text`, `tool_args`, `tool_result` and `heard`
 *     when it comes from call_turns_list (free the list with
 *     call_turns_free); the one given to call_turn_append is only read.
 *   - struct call_message owns `message` when it comes from
 *     call_messages_list (free with call_messages_free).
 *   - knowledge passages and file rows are plain structs in arrays the
 *     caller free()s.
 *   - Every argument is copied or only read; nothing is kept after return.
 *
 * API keys are never stored: an agent names the environment variable that
 * holds its key (`api_key_env`, and `stt_key_env` / `tts_key_env` for its
 * speech engines), and the engine reads it when it calls.
 */
#ifndef SB_STORE_AGENTS_H
#define SB_STORE_AGENTS_H

#include <stddef.h>

#include "core/err.h"
#include "store/store.h"

/* Sizes of the fixed fields, with their NUL. An agent's name fits a number's `agent`. */
#define AGENT_NAME_SIZE AGENT_SIZE
#define AGENT_BASE_URL_SIZE 512
#define AGENT_MODEL_SIZE 128
#define AGENT_KEY_ENV_SIZE 128
#define AGENT_MAX_LANGS TENANT_MAX_LANGS
/* The longest system prompt, in bytes. */
#define AGENT_PROMPT_MAX (64 * 1024)
#define AGENT_TEMPERATURE_MAX 2.0
#define AGENT_FIRST_TOKEN_TIMEOUT_DEFAULT_MS 2500
#define AGENT_FIRST_TOKEN_TIMEOUT_MAX_MS 60000
/* Speech: an engine's name, the voices an agent names (one per language). */
#define AGENT_ENGINE_SIZE 16
#define AGENT_VOICE_SIZE VOICE_SIZE
#define AGENT_MAX_VOICES 8

/*
 * The speech engines an agent may name, for messages. "" names none: the
 * default, pocketsphinx for recognition; flite for English and espeak-ng
 * for other languages for synthesis. In this version the server runs those
 * defaults whatever is named; the other names are kept for their clients.
 */
#define AGENT_STT_ENGINES "pocketsphinx, deepgram or whisper-api"
#define AGENT_TTS_ENGINES "espeak, flite, elevenlabs, cartesia or openai"

/* What a call falls back to when the agent's provider fails or is too slow. */
enum agent_fallback {
    AGENT_FALLBACK_RULES,    /* the built-in rule agent takes the call over */
    AGENT_FALLBACK_TRANSFER, /* the caller is connected to the tenant's transfer number */
};

/** Returns "rules" or "transfer" ("unknown" for another value). */
const char *agent_fallback_name(enum agent_fallback f);

/** Parses "rules" or "transfer". Returns 0 or SB_EINVAL. */
SB_MUST_CHECK int agent_fallback_parse(const char *s, enum agent_fallback *out);

/**
 * True when `name` is the name of a built-in agent ("rules", "echo"), which
 * a configured agent may not take.
 */
int agent_name_reserved(const char *name);

/**
 * True when `name` can name an agent: 1 to AGENT_NAME_SIZE-1 ASCII letters,
 * digits, '-', '_' or '.', and not reserved.
 */
int agent_name_valid(const char *name);

/** True when `url` is an http:// or https:// URL with a host, of visible ASCII, that fits. */
int agent_base_url_valid(const char *url);

/** The same for a speech engine's URL, which may also be ws:// or wss:// (the streaming engines).
 */
int agent_speech_url_valid(const char *url);

/** True when `name` is "" or could name an environment variable ([A-Za-z_][A-Za-z0-9_]*). */
int agent_key_env_valid(const char *name);

/** True when the `len` bytes at `s` are well-formed UTF-8 without a NUL byte. */
int agent_text_valid(const char *s, size_t len);

/** True when `name` is "" or one of AGENT_STT_ENGINES ("pocketsphinx", "deepgram", ...). */
int agent_stt_engine_valid(const char *name);

/** True when `name` is "" or one of AGENT_TTS_ENGINES ("espeak", "flite", "elevenlabs", ...). */
int agent_tts_engine_valid(const char *name);

/**
 * True when `voice` can name a voice: 1 to AGENT_VOICE_SIZE-1 bytes of
 * well-formed UTF-8 with no control character (C0, DEL or C1); spaces and
 * accents are fine ("Jimena Núñez").
 */
int agent_voice_name_valid(const char *voice);

/* The voice an agent speaks a language with. */
struct agent_voice {
    char lang[LANG_SIZE];         /* a language tag ("es-MX"), one per agent */
    char voice[AGENT_VOICE_SIZE]; /* the engine's voice name or ID */
};

struct agent_config {
    char tenant[TENANT_NAME_SIZE];
    char name[AGENT_NAME_SIZE];
    char base_url[AGENT_BASE_URL_SIZE]; /* http:// or https://, an OpenAI-compatible API */
    char model[AGENT_MODEL_SIZE];
    char api_key_env[AGENT_KEY_ENV_SIZE]; /* the variable holding the key, "" for none */
    char *prompt;                         /* owned; NULL or "" for none; UTF-8 */
    double temperature;                   /* 0..2; negative: unset (the provider's default) */
    int max_tokens;                       /* 0: unset */
    char langs[AGENT_MAX_LANGS][LANG_SIZE];
    int nlangs;
    int first_token_timeout_ms; /* 1..60000; 0 on add means the default, 2500 */
    enum agent_fallback fallback;
    long long created_at; /* unix seconds; set by the store, ignored on add and update */
    long long updated_at;
    /* Speech. "" in each means unset: the engine's default (see AGENT_STT_ENGINES). */
    char stt[AGENT_ENGINE_SIZE];          /* "", "pocketsphinx", "deepgram", "whisper-api" */
    char stt_model[AGENT_MODEL_SIZE];     /* the recognition model, "" for the engine's */
    char stt_url[AGENT_BASE_URL_SIZE];    /* "" or http:// or https:// */
    char stt_key_env[AGENT_KEY_ENV_SIZE]; /* the variable holding the engine's key, "" for none */
    char tts[AGENT_ENGINE_SIZE];          /* "", "espeak", "flite", "elevenlabs", "cartesia", ... */
    char tts_url[AGENT_BASE_URL_SIZE];    /* "" or http:// or https:// */
    char tts_key_env[AGENT_KEY_ENV_SIZE]; /* the variable holding the engine's key, "" for none */
    struct agent_voice voices[AGENT_MAX_VOICES]; /* distinct languages, in the order given */
    int nvoices;
};

/* Which fields agent_config_update writes (the others keep their stored values). */
enum agent_field {
    AGENT_FIELD_BASE_URL = 1 << 0,
    AGENT_FIELD_MODEL = 1 << 1,
    AGENT_FIELD_API_KEY_ENV = 1 << 2,
    AGENT_FIELD_PROMPT = 1 << 3,
    AGENT_FIELD_TEMPERATURE = 1 << 4,
    AGENT_FIELD_MAX_TOKENS = 1 << 5,
    AGENT_FIELD_LANGS = 1 << 6,
    AGENT_FIELD_FIRST_TOKEN_TIMEOUT = 1 << 7,
    AGENT_FIELD_FALLBACK = 1 << 8,
    AGENT_FIELD_STT = 1 << 9,
    AGENT_FIELD_STT_MODEL = 1 << 10,
    AGENT_FIELD_STT_URL = 1 << 11,
    AGENT_FIELD_STT_KEY_ENV = 1 << 12,
    AGENT_FIELD_TTS = 1 << 13,
    AGENT_FIELD_TTS_URL = 1 << 14,
    AGENT_FIELD_TTS_KEY_ENV = 1 << 15,
    AGENT_FIELD_VOICES = 1 << 16, /* the whole list: the voices given replace the stored ones */
    AGENT_FIELD_ALL = (1 << 17) - 1,
};

/** Frees c->prompt and sets it to NULL; the rest stays. NULL and a zeroed struct are allowed. */
void agent_config_release(struct agent_config *c);

/** Releases each of the `n` configs and frees the array. NULL is allowed. */
void agent_config_list_free(struct agent_config *list, size_t n);

/**
 * Adds an agent. Returns 0; SB_EINVAL when a field is empty where it may not
 * be, not NUL-terminated, out of range, the name is reserved, the base URL
 * (or a speech URL that is not "") is not http(s), the prompt is longer than
 * AGENT_PROMPT_MAX or not UTF-8, a speech engine is not one of its names, a
 * key variable's name is not one, or a voice has an empty or bad language
 * tag, a language twice or a bad name; SB_ENOTFOUND when the tenant does
 * not exist; SB_EEXISTS when the tenant already has an agent of that name.
 */
SB_MUST_CHECK int agent_config_add(struct store *s, const struct agent_config *c);

/**
 * Writes the fields of `c` named by `fields` (enum agent_field bits) to the
 * agent c->tenant/c->name and moves its updated_at. The fields written are
 * checked as for add. Returns 0, SB_EINVAL, or SB_ENOTFOUND when there is no
 * such agent.
 */
SB_MUST_CHECK int agent_config_update(struct store *s, const struct agent_config *c,
                                      unsigned fields);

/**
 * Reads one agent into *out (zeroed first; out->prompt is owned by the
 * caller, "" when none). Returns 0, SB_ENOTFOUND, SB_ENOMEM; on failure *out
 * holds nothing to release.
 */
SB_MUST_CHECK int agent_config_get(struct store *s, const char *tenant, const char *name,
                                   struct agent_config *out);

/**
 * Lists the agents of a tenant (or of all tenants when `tenant` is NULL), by
 * tenant then name. *out is freed with agent_config_list_free (NULL when *n
 * is 0). On failure *out is NULL and *n 0.
 */
SB_MUST_CHECK int agent_config_list(struct store *s, const char *tenant, struct agent_config **out,
                                    size_t *n);

/** Removes an agent with its knowledge. Returns 0 or SB_ENOTFOUND. */
SB_MUST_CHECK int agent_config_remove(struct store *s, const char *tenant, const char *name);

/*
 * Knowledge. A file is UTF-8 text (Markdown or plain) cut into passages:
 *   - a Markdown heading ("# ..." to "###### ...") ends the passage before
 *     it and becomes the heading of the passages that follow, up to the
 *     next heading (text before any heading has the heading "");
 *   - blank lines separate paragraphs; paragraphs under one heading are
 *     joined (with a blank line) while the passage stays within
 *     KNOWLEDGE_PASSAGE_MAX bytes;
 *   - a longer paragraph is cut after a sentence (". ", "? ", "! "), else at
 *     a space, else between two characters, never inside one;
 *   - a line's trailing spaces and "\r" are dropped; a leading byte-order
 *     mark is skipped.
 * Limits: a file is at most KNOWLEDGE_FILE_MAX bytes and gives at most
 * KNOWLEDGE_MAX_PASSAGES passages.
 */
#define KNOWLEDGE_FILE_MAX (1024 * 1024)
#define KNOWLEDGE_MAX_PASSAGES 4096
#define KNOWLEDGE_PASSAGE_MAX 600
#define KNOWLEDGE_HEADING_SIZE 200
#define KNOWLEDGE_FILE_NAME_SIZE 256
/* How many words of a query are searched for (the rest are ignored), and the most results. */
#define KNOWLEDGE_QUERY_MAX_TERMS 32
#define KNOWLEDGE_SEARCH_MAX 50

struct knowledge_passage {
    char file[KNOWLEDGE_FILE_NAME_SIZE]; /* the file it came from */
    int seq;                             /* its place in the file, from 1 */
    char heading[KNOWLEDGE_HEADING_SIZE];
    char text[KNOWLEDGE_PASSAGE_MAX + 1];
    double score; /* search only: higher is more relevant (bm25, negated) */
};

/* An imported file. */
struct knowledge_file {
    char name[KNOWLEDGE_FILE_NAME_SIZE];
    long long bytes;
    int passages;
    long long imported_at; /* unix seconds */
};

/**
 * Cuts `len` bytes of text into passages by the rules above, without a
 * store (`file` of each is ""). *out is an array the caller free()s (NULL
 * when *n is 0). Returns 0; SB_EINVAL when the text is empty or blank,
 * holds a NUL byte or is not UTF-8; SB_ETOOBIG when it is over
 * KNOWLEDGE_FILE_MAX bytes or gives over KNOWLEDGE_MAX_PASSAGES passages;
 * SB_ENOMEM. On failure *out is NULL and *n 0.
 */
SB_MUST_CHECK int knowledge_cut(const char *text, size_t len, struct knowledge_passage **out,
                                size_t *n);

/**
 * Imports a file for an agent: cuts it (knowledge_cut) and, in one
 * transaction, replaces every passage an earlier import of the same `file`
 * name gave. `npassages` (may be NULL) receives the count. Returns 0, what
 * knowledge_cut returns, SB_EINVAL for an empty or too long file name, or
 * SB_ENOTFOUND when the agent does not exist; on failure the earlier
 * passages stay.
 */
SB_MUST_CHECK int knowledge_import(struct store *s, const char *tenant, const char *agent,
                                   const char *file, const char *text, size_t len,
                                   size_t *npassages);

/** The files imported for an agent, by name. *out is free()d by the caller (NULL when *n is 0). */
SB_MUST_CHECK int knowledge_file_list(struct store *s, const char *tenant, const char *agent,
                                      struct knowledge_file **out, size_t *n);

/**
 * Finds the (at most `k`, at most KNOWLEDGE_SEARCH_MAX) passages of an
 * agent's knowledge that best match the words of `query`, best first. The
 * query is never read as FTS5 syntax: it is cut into words (core/words: any
 * punctuation separates them), each searched as a quoted term, any of them
 * matching (OR); case and accents do not matter and English suffixes are
 * stemmed ("costs" finds "cost", "cuanto" finds "cuánto"). Common question
 * words of English and Spanish ("how", "does", "it", "cuánto", "el") are left
 * out unless the query has no other word. A query with no word finds
 * nothing. *out is free()d by the caller (NULL when *n is 0).
 * Returns 0, SB_EINVAL, SB_ENOMEM or SB_ESTORE.
 */
SB_MUST_CHECK int knowledge_search(struct store *s, const char *tenant, const char *agent,
                                   const char *query, size_t k, struct knowledge_passage **out,
                                   size_t *n);

/* Transcripts: a call's conversation, turn by turn. */
enum turn_role {
    TURN_CALLER, /* what the caller said (the recogniser's text) */
    TURN_AGENT,  /* what the agent said */
    TURN_TOOL,   /* a tool the agent called: tool, tool_args, tool_result */
    TURN_EVENT,  /* something that happened (fallback, transfer, hangup): text says what */
};

/** Returns "caller", "agent", "tool" or "event" ("unknown" for another value). */
const char *turn_role_name(enum turn_role r);

/** Parses a role name. Returns 0 or SB_EINVAL. */
SB_MUST_CHECK int turn_role_parse(const char *s, enum turn_role *out);

#define CALL_TURN_TEXT_MAX (64 * 1024) /* each of text, tool_args, tool_result, heard */
#define TOOL_NAME_SIZE 64

struct call_turn {
    char call_sid[CALL_SID_SIZE];
    int seq; /* 1, 2, ... within the call; set by the store */
    enum turn_role role;
    char *text;                /* may be NULL (read back as "") */
    char tool[TOOL_NAME_SIZE]; /* TURN_TOOL: the tool's name; "" otherwise */
    char *tool_args;           /* TURN_TOOL: its arguments (JSON); may be NULL */
    char *tool_result;         /* TURN_TOOL: what it returned; may be NULL */
    int interrupted;           /* TURN_AGENT: the caller spoke over it */
    char *heard;               /* when interrupted: the part the caller heard; may be NULL */
    long latency_ms; /* from the end of the caller's turn to the first audio; -1 unknown */
    long long at;    /* unix milliseconds; 0 on append means now */
};

/**
 * Appends a turn to a call's transcript, numbered after the call's last
 * turn; `seq` (may be NULL) receives its number. The call need not be in
 * the call log. Returns 0; SB_EINVAL for an empty call_sid or an unknown
 * role; SB_ETOOBIG for a text over CALL_TURN_TEXT_MAX.
 */
SB_MUST_CHECK int call_turn_append(struct store *s, const struct call_turn *t, int *seq);

/**
 * A call's turns in order. *out is freed with call_turns_free (NULL when *n
 * is 0); its strings are never NULL. On failure *out is NULL and *n 0.
 */
SB_MUST_CHECK int call_turns_list(struct store *s, const char *call_sid, struct call_turn **out,
                                  size_t *n);

/** Frees the strings of `n` turns and the array. NULL is allowed. */
void call_turns_free(struct call_turn *turns, size_t n);

#define CALLER_NAME_SIZE 128
#define CALL_MESSAGE_MAX (16 * 1024)

/* A message taken for the business (the take_message tool). */
struct call_message {
    char call_sid[CALL_SID_SIZE];
    char caller_name[CALLER_NAME_SIZE];
    char callback_number[PARTY_SIZE];
    char *message; /* may be NULL on add (read back as "") */
    long long at;  /* unix milliseconds; 0 on add means now */
};

/**
 * Records a message. Returns 0; SB_EINVAL for an empty call_sid or a field
 * not NUL-terminated; SB_ETOOBIG for a message over CALL_MESSAGE_MAX.
 */
SB_MUST_CHECK int call_message_add(struct store *s, const struct call_message *m);

/**
 * The messages of one call (or of every call when `call_sid` is NULL),
 * oldest first. *out is freed with call_messages_free.
 */
SB_MUST_CHECK int call_messages_list(struct store *s, const char *call_sid,
                                     struct call_message **out, size_t *n);

/** Frees the messages of `n` entries and the array. NULL is allowed. */
void call_messages_free(struct call_message *messages, size_t n);

#endif
