/*
 * The in-memory form of a loaded flow, shared by the loader (load.c) and the
 * interpreter (interpret.c) and private to src/flow. Every string points into
 * the parsed JSON document that the flow keeps alive, so loading copies no
 * text and a flow is freed with one json_decref plus a few arrays. Once
 * loaded, a flow is never written again, so one flow may serve many calls on
 * many threads at once.
 */
#ifndef SB_FLOW_MODEL_H
#define SB_FLOW_MODEL_H

#include <jansson.h>

#include "flow/flow.h"

/* Limits of a flow document (docs/flows.md lists them for authors). */
#define FLOW_MAX_NODES 256
#define FLOW_MAX_TEXT 1000    /* bytes of one text in one language, and of a URL */
#define FLOW_MAX_LANGS 8      /* languages of one text */
#define FLOW_MAX_OPTIONS 32   /* options of one menu or language node */
#define FLOW_MAX_KEYWORDS 32  /* keywords of one option */
#define FLOW_MAX_KEYWORD 100  /* bytes of one keyword */
#define FLOW_MAX_DIGITS 8     /* keys of one option's digit string */
#define FLOW_MAX_RANGES 8     /* opening ranges of one weekday */
#define FLOW_MAX_HOLIDAYS 400 /* holidays of one hours node */
#define FLOW_MAX_DOC (1024 * 1024)
#define FLOW_LANG_SIZE 16 /* a language tag and its NUL, as in flow_state.lang */

enum flow_node_type {
    NODE_SAY,
    NODE_PLAY,
    NODE_MENU,
    NODE_HOURS,
    NODE_LANGUAGE,
    NODE_TRANSFER,
    NODE_VOICEMAIL,
    NODE_AGENT,
    NODE_REDIRECT,
    NODE_HANGUP,
    NODE_TYPE_COUNT
};

/* Bits of a menu's "input". */
enum { INPUT_DTMF = 1, INPUT_SPEECH = 2 };

/* The DialCallStatus values a transfer branches on (twilio-protocol 2.5). */
enum flow_dial_status {
    DIAL_COMPLETED,
    DIAL_BUSY,
    DIAL_NO_ANSWER,
    DIAL_FAILED,
    DIAL_CANCELED,
    DIAL_STATUS_COUNT
};

/* One language of a text; `lang` is NULL for a plain string, which serves every language. */
struct flow_text_item {
    const char *lang;
    const char *text;
};

/* A text in one or more languages, in document order; n == 0 when absent. */
struct flow_text {
    struct flow_text_item items[FLOW_MAX_LANGS];
    int n;
};

struct flow_option {
    const char *digit;      /* keys that choose it, or NULL (speech only) */
    const json_t *keywords; /* array of strings, or NULL */
    const char *lang;       /* language nodes: the tag the option sets */
    int next;               /* node index */
};

/* Minutes since local midnight; end is exclusive and may be 1440 (24:00). */
struct flow_range {
    short start, end;
};

/* A holiday; year 0 repeats every year ("MM-DD"). */
struct flow_date {
    short year;
    signed char month, day;
};

struct flow_node {
    const char *id;
    enum flow_node_type type;
    int line; /* where the node's key is in the document */
    struct flow_text text, prompt, invalid_prompt, no_input_prompt;
    const char *url;    /* play */
    const char *number; /* transfer; NULL: the tenant's number */
    const char *flow;   /* redirect */
    const char *agent;  /* agent; NULL: the number's agent */
    /* Node indices; -1 when absent. */
    int next, fallback, open, closed;
    int on[DIAL_STATUS_COUNT];
    int timeout, max_attempts, max_length, record, input;
    struct flow_option *options;
    int noptions;
    struct flow_range week[7][FLOW_MAX_RANGES]; /* 0 = Monday */
    int nranges[7];
    struct flow_date *holidays;
    int nholidays;
};

struct flow {
    json_t *doc; /* owns every string above */
    const char *name;
    int start;
    struct flow_node *nodes;
    int nnodes;
};

/** Returns the index of node `id`, or -1 when the flow has none. */
int flow_find(const struct flow *f, const char *id);

/** The node type's name as written in documents ("menu"), or "?" out of range. */
const char *flow_type_name(enum flow_node_type type);

/** The DialCallStatus name of a branch ("no-answer"). */
const char *flow_dial_status_name(enum flow_dial_status s);

#endif
