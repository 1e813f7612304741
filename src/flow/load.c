/*
 * Loading a flow: jansson parses, this file checks everything the
 * interpreter relies on, so that a loaded flow can never make flow_step fail
 * on its own: every reference names a node, every number is in range, every
 * text fits in TwiML, and no chain of nodes that do not wait for the caller
 * loops. Errors name the node and the line where its key is written.
 */
#include "flow/flow.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/e164.h"
#include "core/err.h"
#include "core/words.h"
#include "flow/model.h"
#include "core/banned.h"

static const char *const type_names[NODE_TYPE_COUNT] = {
    [NODE_SAY] = "say",
    [NODE_PLAY] = "play",
    [NODE_MENU] = "menu",
    [NODE_HOURS] = "hours",
    [NODE_LANGUAGE] = "language",
    [NODE_TRANSFER] = "transfer",
    [NODE_VOICEMAIL] = "voicemail",
    [NODE_AGENT] = "agent",
    [NODE_REDIRECT] = "redirect",
    [NODE_HANGUP] = "hangup",
};

static const char *const dial_names[DIAL_STATUS_COUNT] = {
    [DIAL_COMPLETED] = "completed", [DIAL_BUSY] = "busy",         [DIAL_NO_ANSWER] = "no-answer",
    [DIAL_FAILED] = "failed",       [DIAL_CANCELED] = "canceled",
};

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/*
 * The fields each node type takes besides "type" and "description". A field
 * outside its list is an error, so that a misspelt "nxet" is caught when the
 * flow is loaded instead of silently changing what callers hear.
 */
static const char *const say_fields[] = {"text", "next", NULL};
static const char *const play_fields[] = {"url", "next", NULL};
static const char *const menu_fields[] = {"prompt",          "input",        "timeout",
                                          "options",         "max_attempts", "invalid_prompt",
                                          "no_input_prompt", "fallback",     NULL};
static const char *const hours_fields[] = {"weekly", "holidays", "open", "closed", NULL};
static const char *const language_fields[] = {
    "prompt", "input",          "timeout",         "options",  "max_attempts",
    "next",   "invalid_prompt", "no_input_prompt", "fallback", NULL};
static const char *const transfer_fields[] = {"number", "timeout", "record", "on", NULL};
static const char *const voicemail_fields[] = {"prompt", "max_length", "next", NULL};
static const char *const agent_fields[] = {"prompt", "agent", NULL};
static const char *const redirect_fields[] = {"flow", NULL};
static const char *const hangup_fields[] = {"text", NULL};

static const char *const *const type_fields[NODE_TYPE_COUNT] = {
    [NODE_SAY] = say_fields,
    [NODE_PLAY] = play_fields,
    [NODE_MENU] = menu_fields,
    [NODE_HOURS] = hours_fields,
    [NODE_LANGUAGE] = language_fields,
    [NODE_TRANSFER] = transfer_fields,
    [NODE_VOICEMAIL] = voicemail_fields,
    [NODE_AGENT] = agent_fields,
    [NODE_REDIRECT] = redirect_fields,
    [NODE_HANGUP] = hangup_fields,
};

/* A key found by the line scanner: where it starts in the text and on which line. */
struct key_line {
    const char *key;
    size_t len;
    int line;
};

#define MAX_TOP_KEYS 32

struct loader {
    const char *src;
    size_t len;
    char *err;
    size_t errlen;
    struct flow *f;
    struct key_line top[MAX_TOP_KEYS]; /* keys of the document object */
    int ntop;
    struct key_line node_keys[FLOW_MAX_NODES + 1]; /* keys of the "nodes" object */
    int nnode_keys;
};

const char *flow_type_name(enum flow_node_type type)
{
    return (unsigned)type < NODE_TYPE_COUNT ? type_names[type] : "?";
}

const char *flow_dial_status_name(enum flow_dial_status s)
{
    return (unsigned)s < DIAL_STATUS_COUNT ? dial_names[s] : "?";
}

int flow_find(const struct flow *f, const char *id)
{
    int i;

    for (i = 0; i < f->nnodes; i++) {
        if (f->nodes[i].id && strcmp(f->nodes[i].id, id) == 0)
            return i;
    }
    return -1;
}

const char *flow_name(const struct flow *f)
{
    return f->name;
}

size_t flow_keywords(const struct flow *f, void (*each)(void *arg, const char *keyword), void *arg)
{
    size_t count = 0;

    for (int i = 0; f && i < f->nnodes; i++) {
        for (int o = 0; o < f->nodes[i].noptions; o++) {
            const json_t *kws = f->nodes[i].options[o].keywords;
            size_t k;
            const json_t *kw;

            json_array_foreach(kws, k, kw)
            {
                if (json_is_string(kw)) {
                    each(arg, json_string_value(kw));
                    count++;
                }
            }
        }
    }
    return count;
}

void flow_free(struct flow *f)
{
    int i;

    if (!f)
        return;
    for (i = 0; i < f->nnodes; i++) {
        free(f->nodes[i].options);
        free(f->nodes[i].holidays);
    }
    free(f->nodes);
    json_decref(f->doc);
    free(f);
}

/*
 * A value from the document, made safe to print inside an error message:
 * cut to 48 bytes and with control characters shown as '?', so that a
 * hostile document cannot write escape sequences to an operator's terminal.
 */
struct shown {
    char s[64];
};

static struct shown shown(const char *v)
{
    struct shown out;
    size_t i;

    for (i = 0; v[i] && i < 48; i++)
        out.s[i] = ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) ? '?' : v[i];
    if (v[i]) {
        memcpy(out.s + i, "...", 3);
        i += 3;
    }
    out.s[i] = '\0';
    return out;
}

static void vfail(struct loader *ld, int line, const char *node, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void vfail(struct loader *ld, int line, const char *node, const char *fmt, va_list ap)
{
    int n;

    if (!ld->err || ld->errlen == 0)
        return;
    if (node)
        n = snprintf(ld->err, ld->errlen, "line %d: node '%s': ", line, node);
    else
        n = snprintf(ld->err, ld->errlen, "line %d: ", line);
    if (n < 0 || (size_t)n >= ld->errlen)
        return;
    vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
}

/* Reports an error about the document as a whole; returns SB_EPARSE. */
static int fail(struct loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct loader *ld, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(ld, line, NULL, fmt, ap);
    va_end(ap);
    return SB_EPARSE;
}

/* Reports an error in node `n`, at the line of its key; returns SB_EPARSE. */
static int nfail(struct loader *ld, const struct flow_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int nfail(struct loader *ld, const struct flow_node *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(ld, n->line, n->id, fmt, ap);
    va_end(ap);
    return SB_EPARSE;
}

/* The index of `key` in the first `n` names of `names` (NULL-terminated when n < 0), or -1. */
static int index_of(const char *const *names, int n, const char *key)
{
    int i;

    for (i = 0; n < 0 ? names[i] != NULL : i < n; i++) {
        if (strcmp(names[i], key) == 0)
            return i;
    }
    return -1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Finds the line of every key of the document object and of its "nodes"
 * object. jansson reports positions only for syntax errors, so this walks
 * the text, which jansson has already accepted, tracking strings and nesting
 * depth: a string followed by ':' is a key, and its depth says whose. Keys
 * written with escapes (\u0041) are not recognised and fall back to the line
 * of "nodes"; node names cannot contain characters that need escaping.
 */
static void scan_lines(struct loader *ld)
{
    const char *s = ld->src;
    size_t n = ld->len, i = 0, start, j;
    int line = 1, key_line, depth = 0, nodes_depth = -1, want_nodes = 0;

    while (i < n) {
        char c = s[i];

        if (c == '\n')
            line++;
        if (c != '"') {
            if (c == '{' || c == '[') {
                depth++;
                if (want_nodes && c == '{' && depth == 2)
                    nodes_depth = 2;
            } else if (c == '}' || c == ']') {
                if (depth == nodes_depth)
                    nodes_depth = -1;
                depth--;
            }
            if (!is_space(c) && c != ':')
                want_nodes = 0;
            i++;
            continue;
        }
        key_line = line;
        start = ++i;
        while (i < n && s[i] != '"') {
            if (s[i] == '\\')
                i++;
            i++;
        }
        if (i >= n)
            break;
        j = i + 1;
        while (j < n && is_space(s[j]))
            j++;
        want_nodes = 0;
        if (j < n && s[j] == ':') {
            struct key_line k = {s + start, i - start, key_line};

            if (depth == 1 && ld->ntop < MAX_TOP_KEYS) {
                ld->top[ld->ntop++] = k;
                want_nodes = k.len == 5 && memcmp(k.key, "nodes", 5) == 0;
            } else if (depth == nodes_depth && ld->nnode_keys <= FLOW_MAX_NODES) {
                ld->node_keys[ld->nnode_keys++] = k;
            }
        }
        /* Newlines between the string and the ':' are counted by the main loop. */
        i++;
    }
}

static int find_line(const struct key_line *keys, int n, const char *key, int dflt)
{
    size_t len = strlen(key);
    int i;

    for (i = 0; i < n; i++) {
        if (keys[i].len == len && memcmp(keys[i].key, key, len) == 0)
            return keys[i].line;
    }
    return dflt;
}

static int top_line(const struct loader *ld, const char *key)
{
    return find_line(ld->top, ld->ntop, key, 1);
}

/* Node names, flow names and agent names: 1 to 63 of [A-Za-z0-9_.-]. */
static int valid_name(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len >= FLOW_NAME_SIZE || strlen(s) != len)
        return 0;
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

/*
 * A BCP-47 language tag as Twilio takes them: two or three letters, then
 * subtags of 1 to 8 letters or digits after '-' ("en", "es-MX", "zh-Hant-TW"),
 * short enough for flow_state.lang.
 */
static int valid_lang(const char *s)
{
    size_t i = 0, sub;

    while (is_alpha(s[i]))
        i++;
    if (i < 2 || i > 3)
        return 0;
    while (s[i] == '-') {
        i++;
        sub = 0;
        while (is_alnum(s[i])) {
            i++;
            sub++;
        }
        if (sub == 0 || sub > 8)
            return 0;
    }
    return s[i] == '\0' && i < FLOW_LANG_SIZE;
}

/* Keys of a menu option: 1 to FLOW_MAX_DIGITS of 0-9, '*' and '#'. */
static int valid_digits(const char *s)
{
    size_t i;

    for (i = 0; s[i]; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '*' || s[i] == '#'))
            return 0;
    }
    return i >= 1 && i <= FLOW_MAX_DIGITS;
}

/*
 * Text that goes into TwiML: XML 1.0 forbids control characters other than
 * tab, newline and carriage return, and the TwiML builder refuses them, so
 * they are refused here where the author can be told which node holds one.
 */
static int has_control(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
            return 1;
    }
    return 0;
}

/* Checks one language's text of field `field`; `lang` is NULL for a plain string. */
static int check_text(struct loader *ld, const struct flow_node *n, const char *field,
                      const char *lang, const json_t *v)
{
    char what[48];
    const char *s;

    if (lang)
        snprintf(what, sizeof(what), "the '%s' text", lang);
    else
        snprintf(what, sizeof(what), "the text");
    if (!json_is_string(v))
        return nfail(ld, n, "field '%s': %s must be a string", field, what);
    s = json_string_value(v);
    if (json_string_length(v) == 0)
        return nfail(ld, n, "field '%s': %s is empty", field, what);
    if (json_string_length(v) > FLOW_MAX_TEXT)
        return nfail(ld, n, "field '%s': %s is longer than %d bytes", field, what, FLOW_MAX_TEXT);
    if (strlen(s) != json_string_length(v) || has_control(s))
        return nfail(ld, n, "field '%s': %s holds a control character", field, what);
    return 0;
}

/*
 * A text: a plain string (spoken whatever the caller's language) or an
 * object from language tag to string, kept in document order.
 */
static int get_text(struct loader *ld, const struct flow_node *n, json_t *obj, const char *field,
                    int required, struct flow_text *out)
{
    json_t *v = json_object_get(obj, field);
    const char *lang;
    json_t *item;
    int rc;

    out->n = 0;
    if (!v)
        return required ? nfail(ld, n, "missing field '%s'", field) : 0;
    if (json_is_string(v)) {
        rc = check_text(ld, n, field, NULL, v);
        if (rc)
            return rc;
        out->items[0].lang = NULL;
        out->items[0].text = json_string_value(v);
        out->n = 1;
        return 0;
    }
    if (!json_is_object(v))
        return nfail(ld, n, "field '%s' must be a string or an object of language: text", field);
    if (json_object_size(v) == 0)
        return nfail(ld, n, "field '%s' has no text", field);
    if (json_object_size(v) > FLOW_MAX_LANGS)
        return nfail(ld, n, "field '%s' has more than %d languages", field, FLOW_MAX_LANGS);
    json_object_foreach(v, lang, item)
    {
        if (!valid_lang(lang))
            return nfail(ld, n, "field '%s': '%s' is not a language tag like \"en\" or \"es-MX\"",
                         field, shown(lang).s);
        rc = check_text(ld, n, field, lang, item);
        if (rc)
            return rc;
        out->items[out->n].lang = lang;
        out->items[out->n].text = json_string_value(item);
        out->n++;
    }
    return 0;
}

/* Resolves the node name `name` given by `what` ("field 'next'", "option 2"). */
static int resolve(struct loader *ld, const struct flow_node *n, const char *what, const json_t *v,
                   int *out)
{
    int i;

    if (!json_is_string(v))
        return nfail(ld, n, "%s must be a node name", what);
    i = flow_find(ld->f, json_string_value(v));
    if (i < 0)
        return nfail(ld, n, "%s: no node named '%s'", what, shown(json_string_value(v)).s);
    *out = i;
    return 0;
}

static int get_target(struct loader *ld, const struct flow_node *n, json_t *obj, const char *field,
                      int required, int *out)
{
    json_t *v = json_object_get(obj, field);
    char what[32];

    *out = -1;
    if (!v)
        return required ? nfail(ld, n, "missing field '%s'", field) : 0;
    snprintf(what, sizeof(what), "field '%s'", field);
    return resolve(ld, n, what, v, out);
}

static int get_int(struct loader *ld, const struct flow_node *n, json_t *obj, const char *field,
                   int min, int max, int dflt, int *out)
{
    json_t *v = json_object_get(obj, field);
    json_int_t x;

    *out = dflt;
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return nfail(ld, n, "field '%s' must be a whole number from %d to %d", field, min, max);
    x = json_integer_value(v);
    if (x < min || x > max)
        return nfail(ld, n, "field '%s' must be a whole number from %d to %d", field, min, max);
    *out = (int)x;
    return 0;
}

static int get_bool(struct loader *ld, const struct flow_node *n, json_t *obj, const char *field,
                    int *out)
{
    json_t *v = json_object_get(obj, field);

    *out = 0;
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return nfail(ld, n, "field '%s' must be true or false", field);
    *out = json_is_true(v);
    return 0;
}

/* A name-like string field (redirect's flow, agent's agent). */
static int get_name(struct loader *ld, const struct flow_node *n, json_t *obj, const char *field,
                    int required, const char **out)
{
    json_t *v = json_object_get(obj, field);

    *out = NULL;
    if (!v)
        return required ? nfail(ld, n, "missing field '%s'", field) : 0;
    if (!json_is_string(v) || !valid_name(json_string_value(v), json_string_length(v)))
        return nfail(ld, n, "field '%s' must be a name of 1 to %d letters, digits, '_', '.' or '-'",
                     field, FLOW_NAME_SIZE - 1);
    *out = json_string_value(v);
    return 0;
}

/* Keywords: whole words the caller may say, at least one word (core/words) each. */
static int get_keywords(struct loader *ld, const struct flow_node *n, const char *what, json_t *v,
                        const json_t **out)
{
    size_t i;
    json_t *k;

    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return nfail(ld, n, "%s: 'keywords' must be a list of words", what);
    if (json_array_size(v) > FLOW_MAX_KEYWORDS)
        return nfail(ld, n, "%s: more than %d keywords", what, FLOW_MAX_KEYWORDS);
    json_array_foreach(v, i, k)
    {
        const char *s = json_string_value(k), *pos, *word;
        size_t wlen;

        if (!s)
            return nfail(ld, n, "%s: keyword %zu must be a string", what, i + 1);
        if (json_string_length(k) > FLOW_MAX_KEYWORD || strlen(s) != json_string_length(k))
            return nfail(ld, n, "%s: keyword %zu is longer than %d bytes", what, i + 1,
                         FLOW_MAX_KEYWORD);
        if (has_control(s))
            return nfail(ld, n, "%s: keyword %zu holds a control character", what, i + 1);
        /* The interpreter matches keywords by core/words' words: one with none matches nothing. */
        pos = s;
        if (!words_next(&pos, &word, &wlen))
            return nfail(ld, n, "%s: keyword '%s' has no word in it", what, shown(s).s);
    }
    *out = v;
    return 0;
}

static int get_input(struct loader *ld, const struct flow_node *n, json_t *obj, int dflt, int *out)
{
    json_t *v = json_object_get(obj, "input");
    const char *s = json_string_value(v);

    *out = dflt;
    if (!v)
        return 0;
    if (s && strcmp(s, "dtmf") == 0)
        *out = INPUT_DTMF;
    else if (s && strcmp(s, "speech") == 0)
        *out = INPUT_SPEECH;
    else if (s && (strcmp(s, "dtmf speech") == 0 || strcmp(s, "speech dtmf") == 0))
        *out = INPUT_DTMF | INPUT_SPEECH;
    else
        return nfail(ld, n, "field 'input' must be \"dtmf\", \"speech\" or \"dtmf speech\"");
    return 0;
}

/* Options shared by menus and language nodes: how many, and room for them. */
static int alloc_options(struct loader *ld, struct flow_node *n, size_t count)
{
    if (count == 0)
        return nfail(ld, n, "has no options");
    if (count > FLOW_MAX_OPTIONS)
        return nfail(ld, n, "has more than %d options", FLOW_MAX_OPTIONS);
    n->options = calloc(count, sizeof(*n->options));
    if (!n->options)
        return SB_ENOMEM;
    return 0;
}

static int parse_menu_option(struct loader *ld, struct flow_node *n, size_t i, json_t *o)
{
    struct flow_option *opt = &n->options[i];
    const char *key;
    json_t *v, *digit;
    char what[32];
    int j, rc;

    snprintf(what, sizeof(what), "option %zu", i + 1);
    if (!json_is_object(o))
        return nfail(ld, n, "%s must be an object with 'digit', 'keywords' and 'next'", what);
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "digit") != 0 && strcmp(key, "keywords") != 0 && strcmp(key, "next") != 0 &&
            strcmp(key, "description") != 0)
            return nfail(ld, n, "%s: unknown field '%s'", what, shown(key).s);
    }
    digit = json_object_get(o, "digit");
    if (digit) {
        if (!json_is_string(digit) || !valid_digits(json_string_value(digit)))
            return nfail(ld, n, "%s: 'digit' must be 1 to %d of 0-9, * and #", what,
                         FLOW_MAX_DIGITS);
        opt->digit = json_string_value(digit);
        for (j = 0; j < (int)i; j++) {
            if (n->options[j].digit && strcmp(n->options[j].digit, opt->digit) == 0)
                return nfail(ld, n, "digit '%s' is used by options %d and %zu", opt->digit, j + 1,
                             i + 1);
        }
    }
    rc = get_keywords(ld, n, what, json_object_get(o, "keywords"), &opt->keywords);
    if (rc)
        return rc;
    if (!opt->digit && !opt->keywords)
        return nfail(ld, n, "%s has neither 'digit' nor 'keywords'", what);
    v = json_object_get(o, "next");
    if (!v)
        return nfail(ld, n, "%s: missing field 'next'", what);
    return resolve(ld, n, what, v, &opt->next);
}

/* Prompts and retries shared by menus and language nodes. */
static int parse_asking(struct loader *ld, struct flow_node *n, json_t *obj)
{
    int rc = get_text(ld, n, obj, "prompt", 1, &n->prompt);

    if (!rc)
        rc = get_text(ld, n, obj, "invalid_prompt", 0, &n->invalid_prompt);
    if (!rc)
        rc = get_text(ld, n, obj, "no_input_prompt", 0, &n->no_input_prompt);
    if (!rc)
        rc = get_int(ld, n, obj, "timeout", 1, 60, 5, &n->timeout);
    if (!rc)
        rc = get_int(ld, n, obj, "max_attempts", 1, 10, 3, &n->max_attempts);
    return rc;
}

static int input_default(const struct flow_node *n)
{
    int i;

    for (i = 0; i < n->noptions; i++) {
        if (n->options[i].keywords)
            return INPUT_DTMF | INPUT_SPEECH;
    }
    return INPUT_DTMF;
}

static int parse_menu(struct loader *ld, struct flow_node *n, json_t *obj)
{
    json_t *options = json_object_get(obj, "options");
    json_t *o;
    size_t i;
    int rc = parse_asking(ld, n, obj);

    if (rc)
        return rc;
    if (!options)
        return nfail(ld, n, "missing field 'options'");
    if (!json_is_array(options))
        return nfail(ld, n, "field 'options' must be a list of options");
    rc = alloc_options(ld, n, json_array_size(options));
    if (rc)
        return rc;
    json_array_foreach(options, i, o)
    {
        rc = parse_menu_option(ld, n, i, o);
        if (rc)
            return rc;
        n->noptions++;
    }
    rc = get_input(ld, n, obj, input_default(n), &n->input);
    if (!rc)
        rc = get_target(ld, n, obj, "fallback", 0, &n->fallback);
    return rc;
}

/* A language option: "1": "en-US", or "1": {"lang": "en-US", "keywords": [...]}. */
static int parse_language_option(struct loader *ld, struct flow_node *n, const char *digit,
                                 json_t *v)
{
    struct flow_option *opt = &n->options[n->noptions];
    json_t *lang = v;
    const char *key;
    json_t *f;
    char what[80];
    int rc;

    snprintf(what, sizeof(what), "option '%s'", shown(digit).s);
    if (!valid_digits(digit))
        return nfail(ld, n, "%s: options are keyed by 1 to %d of 0-9, * and #", what,
                     FLOW_MAX_DIGITS);
    if (json_is_object(v)) {
        json_object_foreach(v, key, f)
        {
            if (strcmp(key, "lang") != 0 && strcmp(key, "keywords") != 0)
                return nfail(ld, n, "%s: unknown field '%s'", what, shown(key).s);
        }
        lang = json_object_get(v, "lang");
        rc = get_keywords(ld, n, what, json_object_get(v, "keywords"), &opt->keywords);
        if (rc)
            return rc;
    }
    if (!json_is_string(lang) || !valid_lang(json_string_value(lang)))
        return nfail(ld, n, "%s must name a language tag like \"en-US\"", what);
    opt->digit = digit;
    opt->lang = json_string_value(lang);
    opt->next = n->next;
    return 0;
}

static int parse_language(struct loader *ld, struct flow_node *n, json_t *obj)
{
    json_t *options = json_object_get(obj, "options");
    const char *digit;
    json_t *v;
    int rc = parse_asking(ld, n, obj);

    if (!rc)
        rc = get_target(ld, n, obj, "next", 1, &n->next);
    if (rc)
        return rc;
    if (!options)
        return nfail(ld, n, "missing field 'options'");
    if (!json_is_object(options))
        return nfail(ld, n, "field 'options' must be an object of digit: language");
    rc = alloc_options(ld, n, json_object_size(options));
    if (rc)
        return rc;
    json_object_foreach(options, digit, v)
    {
        rc = parse_language_option(ld, n, digit, v);
        if (rc)
            return rc;
        n->noptions++;
    }
    rc = get_input(ld, n, obj, input_default(n), &n->input);
    if (!rc)
        rc = get_target(ld, n, obj, "fallback", 0, &n->fallback);
    /* Nobody chose: carry on in the language the call already has. */
    if (!rc && n->fallback < 0)
        n->fallback = n->next;
    return rc;
}

static int two_digits(const char *s)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* "HH:MM" as minutes since midnight, or -1. 24:00 is the end of the day. */
static int parse_clock(const char *s)
{
    int h = two_digits(s), m = two_digits(s + 3);

    if (h < 0 || s[2] != ':' || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    return h * 60 + m;
}

static int parse_day(struct loader *ld, struct flow_node *n, int day, json_t *ranges)
{
    json_t *r;
    size_t i;

    if (!json_is_array(ranges))
        return nfail(ld, n, "day '%s' must be a list of \"HH:MM-HH:MM\" ranges", day_names[day]);
    if (json_array_size(ranges) > FLOW_MAX_RANGES)
        return nfail(ld, n, "day '%s' has more than %d ranges", day_names[day], FLOW_MAX_RANGES);
    json_array_foreach(ranges, i, r)
    {
        const char *s = json_string_value(r);
        int start = -1, end = -1;

        if (s && json_string_length(r) == 11 && s[5] == '-') {
            start = parse_clock(s);
            end = parse_clock(s + 6);
        }
        if (start < 0 || end < 0)
            return nfail(ld, n, "day '%s': range '%s' is not \"HH:MM-HH:MM\"", day_names[day],
                         s ? shown(s).s : "(not a string)");
        if (end <= start)
            return nfail(ld, n,
                         "day '%s': range '%s' ends before it starts (split a range that "
                         "crosses midnight at 24:00)",
                         day_names[day], s);
        n->week[day][n->nranges[day]].start = (short)start;
        n->week[day][n->nranges[day]].end = (short)end;
        n->nranges[day]++;
    }
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = year == 0 || (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0));

    if (month == 2 && !leap)
        return 28;
    return days[month - 1];
}

/* "YYYY-MM-DD" (that day) or "MM-DD" (that day every year). */
static int parse_date(const char *s, size_t len, struct flow_date *out)
{
    int y = 0, m, d;

    if (len == 10) {
        int hi = two_digits(s), lo = two_digits(s + 2);

        if (hi < 0 || lo < 0 || s[4] != '-')
            return -1;
        y = hi * 100 + lo;
        if (y < 1)
            return -1;
        s += 5;
    } else if (len != 5) {
        return -1;
    }
    m = two_digits(s);
    d = two_digits(s + 3);
    if (m < 1 || m > 12 || s[2] != '-' || d < 1 || d > days_in_month(y, m))
        return -1;
    out->year = (short)y;
    out->month = (signed char)m;
    out->day = (signed char)d;
    return 0;
}

static int parse_hours(struct loader *ld, struct flow_node *n, json_t *obj)
{
    json_t *weekly = json_object_get(obj, "weekly");
    json_t *holidays = json_object_get(obj, "holidays");
    const char *key;
    json_t *v;
    size_t i;
    int day, rc;

    if (!weekly)
        return nfail(ld, n, "missing field 'weekly'");
    if (!json_is_object(weekly))
        return nfail(ld, n, "field 'weekly' must be an object of day: ranges");
    json_object_foreach(weekly, key, v)
    {
        day = index_of(day_names, 7, key);
        if (day < 0)
            return nfail(ld, n, "field 'weekly': '%s' is not a day (mon, tue, ..., sun)",
                         shown(key).s);
        rc = parse_day(ld, n, day, v);
        if (rc)
            return rc;
    }
    if (holidays) {
        if (!json_is_array(holidays))
            return nfail(ld, n, "field 'holidays' must be a list of \"YYYY-MM-DD\" dates");
        if (json_array_size(holidays) > FLOW_MAX_HOLIDAYS)
            return nfail(ld, n, "field 'holidays' has more than %d dates", FLOW_MAX_HOLIDAYS);
        if (json_array_size(holidays) > 0) {
            n->holidays = calloc(json_array_size(holidays), sizeof(*n->holidays));
            if (!n->holidays)
                return SB_ENOMEM;
        }
        json_array_foreach(holidays, i, v)
        {
            const char *s = json_string_value(v);

            if (!s || parse_date(s, json_string_length(v), &n->holidays[i]) < 0)
                return nfail(ld, n, "holiday '%s' is not a date \"YYYY-MM-DD\" or \"MM-DD\"",
                             s ? shown(s).s : "(not a string)");
            n->nholidays++;
        }
    }
    rc = get_target(ld, n, obj, "open", 1, &n->open);
    if (!rc)
        rc = get_target(ld, n, obj, "closed", 1, &n->closed);
    return rc;
}

static int parse_transfer(struct loader *ld, struct flow_node *n, json_t *obj)
{
    json_t *number = json_object_get(obj, "number");
    json_t *on = json_object_get(obj, "on");
    const char *key;
    json_t *v;
    char what[32];
    int s, rc;

    if (number) {
        if (!json_is_string(number) || !e164_valid(json_string_value(number)))
            return nfail(ld, n, "number '%s' is not E.164 ('+' and 7 to 15 digits)",
                         json_is_string(number) ? shown(json_string_value(number)).s : "?");
        n->number = json_string_value(number);
    }
    rc = get_int(ld, n, obj, "timeout", 5, 600, 20, &n->timeout);
    if (!rc)
        rc = get_bool(ld, n, obj, "record", &n->record);
    if (rc || !on)
        return rc;
    if (!json_is_object(on))
        return nfail(ld, n, "field 'on' must be an object of DialCallStatus: node");
    json_object_foreach(on, key, v)
    {
        s = index_of(dial_names, DIAL_STATUS_COUNT, key);
        if (s < 0)
            return nfail(ld, n,
                         "field 'on': '%s' is not a DialCallStatus (completed, busy, "
                         "no-answer, failed, canceled)",
                         shown(key).s);
        snprintf(what, sizeof(what), "branch '%s'", dial_names[s]);
        rc = resolve(ld, n, what, v, &n->on[s]);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_play(struct loader *ld, struct flow_node *n, json_t *obj)
{
    json_t *url = json_object_get(obj, "url");
    const char *s = json_string_value(url);
    size_t i;

    if (!url)
        return nfail(ld, n, "missing field 'url'");
    if (!s || json_string_length(url) == 0 || json_string_length(url) > FLOW_MAX_TEXT ||
        strlen(s) != json_string_length(url))
        return nfail(ld, n, "field 'url' must be a URL of 1 to %d bytes", FLOW_MAX_TEXT);
    for (i = 0; s[i]; i++) {
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return nfail(ld, n, "field 'url' holds a space or a control character");
    }
    n->url = s;
    return get_target(ld, n, obj, "next", 1, &n->next);
}

static int parse_fields(struct loader *ld, struct flow_node *n, json_t *obj)
{
    int rc = 0;

    switch (n->type) {
    case NODE_SAY:
        rc = get_text(ld, n, obj, "text", 1, &n->text);
        if (!rc)
            rc = get_target(ld, n, obj, "next", 1, &n->next);
        break;
    case NODE_PLAY:
        rc = parse_play(ld, n, obj);
        break;
    case NODE_MENU:
        rc = parse_menu(ld, n, obj);
        break;
    case NODE_HOURS:
        rc = parse_hours(ld, n, obj);
        break;
    case NODE_LANGUAGE:
        rc = parse_language(ld, n, obj);
        break;
    case NODE_TRANSFER:
        rc = parse_transfer(ld, n, obj);
        break;
    case NODE_VOICEMAIL:
        rc = get_text(ld, n, obj, "prompt", 0, &n->prompt);
        if (!rc)
            rc = get_int(ld, n, obj, "max_length", 1, 3600, 120, &n->max_length);
        if (!rc)
            rc = get_target(ld, n, obj, "next", 1, &n->next);
        break;
    case NODE_AGENT:
        rc = get_text(ld, n, obj, "prompt", 0, &n->prompt);
        if (!rc)
            rc = get_name(ld, n, obj, "agent", 0, &n->agent);
        break;
    case NODE_REDIRECT:
        rc = get_name(ld, n, obj, "flow", 1, &n->flow);
        break;
    case NODE_HANGUP:
        rc = get_text(ld, n, obj, "text", 0, &n->text);
        break;
    case NODE_TYPE_COUNT:
        break;
    }
    return rc;
}

static int parse_node(struct loader *ld, struct flow_node *n, json_t *obj)
{
    const char *key, *type;
    json_t *v;
    int t;

    if (!json_is_object(obj))
        return nfail(ld, n, "must be an object with a 'type'");
    v = json_object_get(obj, "type");
    if (!v)
        return nfail(ld, n, "missing field 'type'");
    type = json_string_value(v);
    if (!type)
        return nfail(ld, n, "field 'type' must be a string");
    t = index_of(type_names, NODE_TYPE_COUNT, type);
    if (t < 0)
        return nfail(ld, n,
                     "unknown type '%s' (say, play, menu, hours, language, transfer, "
                     "voicemail, agent, redirect, hangup)",
                     shown(type).s);
    n->type = (enum flow_node_type)t;
    json_object_foreach(obj, key, v)
    {
        if (strcmp(key, "type") == 0 || strcmp(key, "description") == 0)
            continue;
        if (index_of(type_fields[t], -1, key) < 0)
            return nfail(ld, n, "unknown field '%s' for a %s node", shown(key).s, type);
    }
    v = json_object_get(obj, "description");
    if (v && !json_is_string(v))
        return nfail(ld, n, "field 'description' must be a string");
    return parse_fields(ld, n, obj);
}

/* The edges a call follows without waiting for the caller. */
static int quick_edges(const struct flow_node *n, int out[2])
{
    switch (n->type) {
    case NODE_SAY:
    case NODE_PLAY:
        out[0] = n->next;
        return 1;
    case NODE_HOURS:
        out[0] = n->open;
        out[1] = n->closed;
        return 2;
    default:
        return 0;
    }
}

struct dfs {
    signed char *color; /* 0 unseen, 1 on the current path, 2 done */
    int *path;
    int depth;
};

static int cycle_error(struct loader *ld, const struct dfs *d, int to)
{
    const struct flow *f = ld->f;
    char route[512];
    size_t used = 0;
    int i = d->depth - 1, n;

    while (i > 0 && d->path[i] != to)
        i--;
    route[0] = '\0';
    for (; i <= d->depth; i++) {
        int id = i < d->depth ? d->path[i] : to;

        n = snprintf(route + used, sizeof(route) - used, "%s%s", used ? " -> " : "",
                     f->nodes[id].id);
        if (n < 0 || (size_t)n >= sizeof(route) - used)
            break;
        used += (size_t)n;
    }
    return nfail(ld, &f->nodes[to], "loops without waiting for the caller: %s", route);
}

/*
 * Depth-first search over the edges that do not wait: say, play and hours
 * chain straight into their next node within one webhook, so a cycle made
 * of them alone would spin until FLOW_MAX_STEPS on every call. A cycle that
 * passes a menu, language, transfer or voicemail node is a normal loop ("back
 * to the main menu") and is fine. Depth is at most FLOW_MAX_NODES.
 */
static int dfs_visit(struct loader *ld, struct dfs *d, int i)
{
    int edges[2], n, k, rc;

    d->color[i] = 1;
    d->path[d->depth++] = i;
    n = quick_edges(&ld->f->nodes[i], edges);
    for (k = 0; k < n; k++) {
        if (d->color[edges[k]] == 1)
            return cycle_error(ld, d, edges[k]);
        if (d->color[edges[k]] == 0) {
            rc = dfs_visit(ld, d, edges[k]);
            if (rc)
                return rc;
        }
    }
    d->depth--;
    d->color[i] = 2;
    return 0;
}

static int check_cycles(struct loader *ld)
{
    struct dfs d = {NULL, NULL, 0};
    int i, rc = 0;

    d.color = calloc((size_t)ld->f->nnodes, sizeof(*d.color));
    d.path = calloc((size_t)ld->f->nnodes, sizeof(*d.path));
    if (!d.color || !d.path) {
        rc = SB_ENOMEM;
        goto out;
    }
    for (i = 0; i < ld->f->nnodes && !rc; i++) {
        if (d.color[i] == 0)
            rc = dfs_visit(ld, &d, i);
    }
out:
    free(d.color);
    free(d.path);
    return rc;
}

static int parse_top(struct loader *ld, json_t *doc)
{
    struct flow *f = ld->f;
    json_t *nodes, *v;
    const char *key;
    size_t i = 0;
    int rc;

    if (!json_is_object(doc))
        return fail(ld, 1, "a flow must be a JSON object with name, start and nodes");
    json_object_foreach(doc, key, v)
    {
        if (strcmp(key, "name") != 0 && strcmp(key, "start") != 0 && strcmp(key, "nodes") != 0 &&
            strcmp(key, "description") != 0)
            return fail(ld, top_line(ld, key),
                        "unknown field '%s' (a flow has name, start, nodes and description)",
                        shown(key).s);
    }
    v = json_object_get(doc, "name");
    if (!v)
        return fail(ld, 1, "missing field 'name'");
    if (!json_is_string(v) || !valid_name(json_string_value(v), json_string_length(v)))
        return fail(ld, top_line(ld, "name"),
                    "field 'name' must be 1 to %d letters, digits, '_', '.' or '-'",
                    FLOW_NAME_SIZE - 1);
    f->name = json_string_value(v);
    v = json_object_get(doc, "description");
    if (v && !json_is_string(v))
        return fail(ld, top_line(ld, "description"), "field 'description' must be a string");
    nodes = json_object_get(doc, "nodes");
    if (!nodes)
        return fail(ld, 1, "missing field 'nodes'");
    if (!json_is_object(nodes) || json_object_size(nodes) == 0)
        return fail(ld, top_line(ld, "nodes"), "field 'nodes' must be an object of name: node");
    if (json_object_size(nodes) > FLOW_MAX_NODES)
        return fail(ld, top_line(ld, "nodes"), "more than %d nodes", FLOW_MAX_NODES);
    f->nodes = calloc(json_object_size(nodes), sizeof(*f->nodes));
    if (!f->nodes)
        return SB_ENOMEM;
    /* First every name, so that references can point forward. */
    json_object_foreach(nodes, key, v)
    {
        struct flow_node *n = &f->nodes[i++];
        int s;

        n->line = find_line(ld->node_keys, ld->nnode_keys, key, top_line(ld, "nodes"));
        if (!valid_name(key, strlen(key)))
            return fail(ld, n->line,
                        "node name '%s' must be 1 to %d letters, digits, '_', '.' or '-'",
                        shown(key).s, FLOW_NAME_SIZE - 1);
        n->id = key;
        n->next = n->fallback = n->open = n->closed = -1;
        for (s = 0; s < DIAL_STATUS_COUNT; s++)
            n->on[s] = -1;
        f->nnodes++;
    }
    i = 0;
    json_object_foreach(nodes, key, v)
    {
        rc = parse_node(ld, &f->nodes[i++], v);
        if (rc)
            return rc;
    }
    v = json_object_get(doc, "start");
    if (!v)
        return fail(ld, 1, "missing field 'start'");
    f->start = json_is_string(v) ? flow_find(f, json_string_value(v)) : -1;
    if (f->start < 0)
        return fail(ld, top_line(ld, "start"), "field 'start': no node named '%s'",
                    json_is_string(v) ? shown(json_string_value(v)).s : "?");
    return check_cycles(ld);
}

int flow_load(struct flow **out, const char *json, size_t len, char *err, size_t errlen)
{
    struct loader *ld = NULL;
    struct flow *f = NULL;
    json_error_t jerr;
    int rc;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    ld = calloc(1, sizeof(*ld));
    f = calloc(1, sizeof(*f));
    if (!ld || !f) {
        rc = SB_ENOMEM;
        goto out;
    }
    ld->src = json ? json : "";
    ld->len = json ? len : 0;
    ld->err = err;
    ld->errlen = errlen;
    ld->f = f;
    f->start = -1;
    if (ld->len > FLOW_MAX_DOC) {
        rc = fail(ld, 1, "flow is larger than %d bytes", FLOW_MAX_DOC);
        goto out;
    }
    /* Duplicate keys are refused: a second node of the same name would hide the first. */
    f->doc = json_loadb(ld->src, ld->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!f->doc) {
        /* jansson says nothing at all when it cannot set up its lexer: that is memory too. */
        if (json_error_code(&jerr) == json_error_out_of_memory || jerr.text[0] == '\0') {
            rc = SB_ENOMEM;
            goto out;
        }
        rc = fail(ld, jerr.line, "column %d: %s", jerr.column, jerr.text);
        goto out;
    }
    scan_lines(ld);
    rc = parse_top(ld, f->doc);
    if (rc)
        goto out;
    *out = f;
    f = NULL;
out:
    if (rc == SB_ENOMEM && err && errlen)
        snprintf(err, errlen, "out of memory");
    flow_free(f);
    free(ld);
    return rc;
}
