/*
 * switchboard sim llm: scripts, requests, replies and chunks (the pure
 * part), then the HTTP server on libwebsockets. One loop thread serves
 * every connection; delays (time to first token, token pace, stalls) are
 * lws_sul timers on that loop, so a slow stream never holds up another.
 */
#include "sim/llm.h"

#include <ctype.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "net/http_method.h"
#include "net/http_reply.h"
#include "net/listen.h"
#include "core/banned.h"

#define DEFAULT_MODEL "sim-llm"
#define TOOL_DEFAULT "Done."
/* Room in a session's event buffer: one chunk is a few hundred bytes, a usage chunk more. */
#define EVENT_MAX (256 * 1024)

/* --- small helpers -------------------------------------------------------------------------- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);

    if (d)
        memcpy(d, s, n);
    return d;
}

/* Case-insensitive (ASCII letters only) substring search; bytes past 0x7f compare as they are. */
static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    if (n == 0)
        return 1;
    for (; *hay; hay++) {
        size_t i = 0;

        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

static void tool_calls_free(struct sim_llm_tool_call *calls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(calls[i].name);
        free(calls[i].arguments);
    }
    free(calls);
}

/* --- scripts -------------------------------------------------------------------------------- */

static void rule_release(struct sim_llm_rule *r)
{
    free(r->match);
    free(r->tool);
    if (r->is_regex)
        regfree(&r->regex);
    free(r->reply);
    tool_calls_free(r->calls, r->ncalls);
    memset(r, 0, sizeof(*r));
}

void sim_llm_script_release(struct sim_llm_script *s)
{
    for (size_t i = 0; s->rules && i < s->count; i++)
        rule_release(&s->rules[i]);
    free(s->rules);
    free(s->default_reply);
    free(s->tool_default);
    memset(s, 0, sizeof(*s));
}

/* A tool name as OpenAI allows them: [a-zA-Z0-9_-], 1 to 64 characters. */
static int tool_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
            return 0;
    }
    return 1;
}

/* Reads one {"name":..., "arguments":...} into `call`. */
static int parse_call(json_t *j, struct sim_llm_tool_call *call, const char *where, char *err,
                      size_t errsize)
{
    json_t *name = json_object_get(j, "name"), *args = json_object_get(j, "arguments");
    const char *key;
    json_t *v;

    if (!json_is_object(j)) {
        sb_set_error(err, errsize, "%s is not an object", where);
        return SB_EPARSE;
    }
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "name") != 0 && strcmp(key, "arguments") != 0) {
            sb_set_error(err, errsize, "%s has an unknown key '%s' (name, arguments)", where, key);
            return SB_EPARSE;
        }
    }
    if (!json_is_string(name) || !tool_name_valid(json_string_value(name))) {
        sb_set_error(err, errsize, "%s needs a \"name\" of 1 to 64 letters, digits, _ or -", where);
        return SB_EPARSE;
    }
    call->name = dup_str(json_string_value(name));
    if (!args)
        call->arguments = dup_str("{}");
    else if (json_is_string(args))
        call->arguments = dup_str(json_string_value(args)); /* verbatim, even invalid JSON */
    else if (json_is_object(args))
        call->arguments = json_dumps(args, JSON_COMPACT);
    else {
        sb_set_error(err, errsize, "%s: \"arguments\" is not an object or a string", where);
        return SB_EPARSE;
    }
    return call->name && call->arguments ? 0 : SB_ENOMEM;
}

/* Reads an optional whole number from `lo` to `hi` into *out (left as is when absent). */
static int parse_int_key(json_t *rule, const char *key, long lo, long hi, int *out,
                         const char *where, char *err, size_t errsize)
{
    json_t *v = json_object_get(rule, key);

    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        sb_set_error(err, errsize, "%s: \"%s\" is not a whole number from %ld to %ld", where, key,
                     lo, hi);
        return SB_EPARSE;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

/* The longest "regex" a script may give, and its {n,m} repetitions at most. */
#define REGEX_MAX 512
#define REGEX_REPEAT_MAX 16
#define REGEX_INTERVALS_MAX 2

/*
 * Refuses what makes glibc's regcomp build an enormous automaton: a
 * repetition of a repetition ("o++", "a*{2}", which POSIX leaves
 * undefined), large or many {n,m} (each copies what it repeats, so they
 * multiply) and very long patterns. A script is a test's input, but a
 * mistyped one must be an error, not the stand-in eating the memory.
 */
static int regex_tame(const char *re, char *why, size_t whysize)
{
    int after_repeat = 0;
    int intervals = 0;

    if (strlen(re) > REGEX_MAX) {
        snprintf(why, whysize, "longer than %d bytes", REGEX_MAX);
        return 0;
    }
    for (const char *p = re; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            after_repeat = 0;
        } else if (*p == '[') {
            /* A bracket expression: ']' first (or after '^') is a member, not its end. */
            p++;
            if (*p == '^')
                p++;
            if (*p == ']')
                p++;
            while (*p && *p != ']')
                p++;
            if (!*p)
                break;
            after_repeat = 0;
        } else if (*p == '*' || *p == '+' || *p == '?' || *p == '{') {
            if (after_repeat) {
                snprintf(why, whysize, "it repeats a repetition at byte %zu", (size_t)(p - re));
                return 0;
            }
            if (*p == '{') {
                /* {n,m} copies what it repeats: few of them, and small. */
                const char *open = p;

                while (*p && *p != '}') {
                    if (isdigit((unsigned char)*p) && strtol(p, NULL, 10) > REGEX_REPEAT_MAX) {
                        snprintf(why, whysize, "it repeats more than %d times at byte %zu",
                                 REGEX_REPEAT_MAX, (size_t)(open - re));
                        return 0;
                    }
                    p++;
                }
                if (++intervals > REGEX_INTERVALS_MAX) {
                    snprintf(why, whysize, "it has more than %d {n,m} repetitions",
                             REGEX_INTERVALS_MAX);
                    return 0;
                }
                if (!*p)
                    break;
            }
            after_repeat = 1;
        } else {
            after_repeat = 0;
        }
    }
    return 1;
}

static int parse_rule(json_t *j, struct sim_llm_rule *r, size_t index, char *err, size_t errsize)
{
    static const char *const keys[] = {"match",           "regex", "reply",    "tool_call",
                                       "tool_calls",      "error", "stall_ms", "stall_after_tokens",
                                       "cut_after_tokens"};
    json_t *match = json_object_get(j, "match"), *regex = json_object_get(j, "regex");
    json_t *reply = json_object_get(j, "reply"), *call = json_object_get(j, "tool_call");
    json_t *calls = json_object_get(j, "tool_calls");
    char where[32];
    const char *key;
    json_t *v;
    int rc;

    r->error = 0;
    r->stall_ms = r->stall_after_tokens = r->cut_after_tokens = -1;
    snprintf(where, sizeof(where), "rules[%zu]", index);
    if (!json_is_object(j)) {
        sb_set_error(err, errsize, "%s is not an object", where);
        return SB_EPARSE;
    }
    json_object_foreach(j, key, v)
    {
        size_t i = 0;

        while (i < sizeof(keys) / sizeof(keys[0]) && strcmp(key, keys[i]) != 0)
            i++;
        if (i == sizeof(keys) / sizeof(keys[0])) {
            sb_set_error(err, errsize,
                         "%s has an unknown key '%s' (match, regex, reply, tool_call, tool_calls, "
                         "error, stall_ms, stall_after_tokens, cut_after_tokens)",
                         where, key);
            return SB_EPARSE;
        }
    }
    if (!match == !regex) {
        sb_set_error(err, errsize, "%s needs exactly one of \"match\" or \"regex\"", where);
        return SB_EPARSE;
    }
    if (match) {
        const char *m = json_string_value(match);

        if (!m) {
            sb_set_error(err, errsize, "%s: \"match\" is not a string", where);
            return SB_EPARSE;
        }
        r->match = dup_str(m);
        if (!r->match)
            return SB_ENOMEM;
        if (strncasecmp(m, "tool:", 5) == 0) {
            if (strcmp(m + 5, "*") != 0 && !tool_name_valid(m + 5)) {
                sb_set_error(err, errsize, "%s: \"match\" '%s' is not tool:NAME or tool:*", where,
                             m);
                return SB_EPARSE;
            }
            r->tool = dup_str(m + 5);
            if (!r->tool)
                return SB_ENOMEM;
        }
    } else {
        const char *re = json_string_value(regex);
        char reason[128];

        if (!re) {
            sb_set_error(err, errsize, "%s: \"regex\" is not a string", where);
            return SB_EPARSE;
        }
        if (!regex_tame(re, reason, sizeof(reason))) {
            sb_set_error(err, errsize, "%s: \"regex\" is refused: %s", where, reason);
            return SB_EPARSE;
        }
        rc = regcomp(&r->regex, re, REG_EXTENDED | REG_ICASE | REG_NOSUB);
        if (rc != 0) {
            regerror(rc, &r->regex, reason, sizeof(reason));
            sb_set_error(err, errsize, "%s: \"regex\" '%s' does not compile: %s", where, re,
                         reason);
            return SB_EPARSE;
        }
        r->is_regex = 1;
    }
    if (reply) {
        if (!json_is_string(reply)) {
            sb_set_error(err, errsize, "%s: \"reply\" is not a string", where);
            return SB_EPARSE;
        }
        r->reply = dup_str(json_string_value(reply));
        if (!r->reply)
            return SB_ENOMEM;
    }
    if (call && calls) {
        sb_set_error(err, errsize, "%s has both \"tool_call\" and \"tool_calls\"", where);
        return SB_EPARSE;
    }
    if (call || calls) {
        size_t n = call ? 1 : json_array_size(calls);

        if (calls && (!json_is_array(calls) || n == 0 || n > SIM_LLM_MAX_CALLS)) {
            sb_set_error(err, errsize, "%s: \"tool_calls\" is not an array of 1 to %d calls", where,
                         SIM_LLM_MAX_CALLS);
            return SB_EPARSE;
        }
        r->calls = calloc(n, sizeof(*r->calls));
        if (!r->calls)
            return SB_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            char cwhere[80];

            snprintf(cwhere, sizeof(cwhere), call ? "%s.tool_call" : "%s.tool_calls[%zu]", where,
                     i);
            r->ncalls = i + 1;
            rc = parse_call(call ? call : json_array_get(calls, i), &r->calls[i], cwhere, err,
                            errsize);
            if (rc)
                return rc;
        }
    }
    rc = parse_int_key(j, "error", 0, 599, &r->error, where, err, errsize);
    if (!rc && r->error != 0 && r->error != 429 && r->error != 500) {
        sb_set_error(err, errsize, "%s: \"error\" is not 429 or 500", where);
        rc = SB_EPARSE;
    }
    rc = rc ? rc : parse_int_key(j, "stall_ms", 0, 600000, &r->stall_ms, where, err, errsize);
    rc = rc ? rc
            : parse_int_key(j, "stall_after_tokens", 1, 1000000, &r->stall_after_tokens, where, err,
                            errsize);
    rc = rc ? rc
            : parse_int_key(j, "cut_after_tokens", 0, 1000000, &r->cut_after_tokens, where, err,
                            errsize);
    if (rc)
        return rc;
    if (!r->reply && !r->ncalls && !r->error) {
        sb_set_error(err, errsize, "%s needs a \"reply\", a \"tool_call\" or an \"error\"", where);
        return SB_EPARSE;
    }
    return 0;
}

static int optional_string(json_t *doc, const char *key, char **out, char *err, size_t errsize)
{
    json_t *v = json_object_get(doc, key);

    if (!v)
        return 0;
    if (!json_is_string(v)) {
        sb_set_error(err, errsize, "\"%s\" is not a string", key);
        return SB_EPARSE;
    }
    *out = dup_str(json_string_value(v));
    return *out ? 0 : SB_ENOMEM;
}

int sim_llm_script_parse(struct sim_llm_script *s, const char *text, size_t len, char *err,
                         size_t errsize)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *rules, *v;
    const char *key;
    int rc = SB_EPARSE;

    memset(s, 0, sizeof(*s));
    if (!doc) {
        sb_set_error(err, errsize, "not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                     jerr.column);
        return SB_EPARSE;
    }
    if (!json_is_object(doc)) {
        sb_set_error(err, errsize, "not a JSON object with \"rules\"");
        goto out;
    }
    json_object_foreach(doc, key, v)
    {
        if (strcmp(key, "rules") != 0 && strcmp(key, "default") != 0 &&
            strcmp(key, "tool_default") != 0) {
            sb_set_error(err, errsize, "unknown key '%s' (rules, default, tool_default)", key);
            goto out;
        }
    }
    rules = json_object_get(doc, "rules");
    if (rules && !json_is_array(rules)) {
        sb_set_error(err, errsize, "\"rules\" is not an array");
        goto out;
    }
    rc = optional_string(doc, "default", &s->default_reply, err, errsize);
    rc = rc ? rc : optional_string(doc, "tool_default", &s->tool_default, err, errsize);
    if (rc)
        goto out;
    if (json_array_size(rules)) {
        s->rules = calloc(json_array_size(rules), sizeof(*s->rules));
        if (!s->rules) {
            rc = SB_ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < json_array_size(rules); i++) {
        s->count = i + 1;
        rc = parse_rule(json_array_get(rules, i), &s->rules[i], i, err, errsize);
        if (rc)
            goto out;
    }
    rc = 0;
out:
    json_decref(doc);
    if (rc)
        sim_llm_script_release(s);
    return rc;
}

int sim_llm_script_load(struct sim_llm_script *s, const char *path, char *err, size_t errsize)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t n;
    int rc;

    memset(s, 0, sizeof(*s));
    if (!f) {
        sb_set_error(err, errsize, "cannot read script '%s'", path);
        return SB_EIO;
    }
    text = malloc(SIM_LLM_MAX_SCRIPT + 1);
    if (!text) {
        fclose(f);
        return SB_ENOMEM;
    }
    n = fread(text, 1, SIM_LLM_MAX_SCRIPT + 1, f);
    if (ferror(f)) {
        sb_set_error(err, errsize, "cannot read script '%s'", path);
        rc = SB_EIO;
    } else if (n > SIM_LLM_MAX_SCRIPT) {
        sb_set_error(err, errsize, "script '%s' is larger than %d bytes", path, SIM_LLM_MAX_SCRIPT);
        rc = SB_EPARSE;
    } else {
        char reason[512];

        rc = sim_llm_script_parse(s, text, n, reason, sizeof(reason));
        if (rc)
            sb_set_error(err, errsize, "script '%s': %s", path, reason);
    }
    fclose(f);
    free(text);
    return rc;
}

/* --- requests ------------------------------------------------------------------------------- */

void sim_llm_request_release(struct sim_llm_request *r)
{
    free(r->model);
    free(r->subject);
    memset(r, 0, sizeof(*r));
}

size_t sim_llm_token_len(const char *text)
{
    size_t i = 0;

    while (text[i] && isspace((unsigned char)text[i]))
        i++;
    while (text[i] && !isspace((unsigned char)text[i]))
        i++;
    while (text[i] && isspace((unsigned char)text[i]))
        i++;
    return i;
}

size_t sim_llm_count_tokens(const char *text)
{
    size_t n = 0, len;

    while ((len = sim_llm_token_len(text)) > 0) {
        n++;
        text += len;
    }
    return n;
}

/* The text of a message's content: a string, or the "text" parts of an array, joined by LF. */
static int content_text(json_t *content, struct buf *out)
{
    size_t i;
    json_t *part;

    if (json_is_string(content))
        return buf_puts(out, json_string_value(content));
    json_array_foreach(content, i, part)
    {
        const char *t = json_string_value(json_object_get(part, "text"));
        int rc;

        if (!t)
            continue;
        rc = out->len ? buf_putc(out, '\n') : 0;
        rc = rc ? rc : buf_puts(out, t);
        if (rc)
            return rc;
    }
    return 0;
}

/* Sets the reason and the parameter at fault (NULL: none); returns SB_EPARSE. */
static int bad(char *err, size_t errsize, char *param, size_t paramsize, const char *p,
               const char *message)
{
    snprintf(param, paramsize, "%s", p ? p : "");
    sb_set_error(err, errsize, "%s", message);
    return SB_EPARSE;
}

/* Checks messages[i]; the caller formats the parameter name. */
static const char *message_problem(json_t *m)
{
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    const char *role = json_string_value(json_object_get(m, "role"));
    json_t *content = json_object_get(m, "content");
    size_t i = 0;

    if (!json_is_object(m))
        return "is not an object";
    if (!role)
        return "has no \"role\" string";
    while (i < sizeof(roles) / sizeof(roles[0]) && strcmp(role, roles[i]) != 0)
        i++;
    if (i == sizeof(roles) / sizeof(roles[0]))
        return "has a \"role\" that is not system, developer, user, assistant or tool";
    if (content && !json_is_string(content) && !json_is_array(content) && !json_is_null(content))
        return "has a \"content\" that is not a string or an array of parts";
    if (strcmp(role, "assistant") != 0 && !json_is_string(content) && !json_is_array(content))
        return "has no \"content\"";
    if (strcmp(role, "tool") == 0 && !json_is_string(json_object_get(m, "tool_call_id")))
        return "is a tool result without a \"tool_call_id\" string";
    return NULL;
}

/* The name of the tool whose call `id` an assistant message before messages[upto] made. */
static const char *tool_name_of(json_t *messages, size_t upto, const char *id)
{
    while (upto-- > 0) {
        json_t *calls = json_object_get(json_array_get(messages, upto), "tool_calls");
        size_t i;
        json_t *c;

        json_array_foreach(calls, i, c)
        {
            const char *cid = json_string_value(json_object_get(c, "id"));

            if (cid && strcmp(cid, id) == 0) {
                const char *name =
                    json_string_value(json_object_get(json_object_get(c, "function"), "name"));
                return name ? name : "";
            }
        }
    }
    return "";
}

static int parse_limits(struct sim_llm_request *r, json_t *doc, char *err, size_t errsize,
                        char *param, size_t paramsize)
{
    static const char *const limit_keys[] = {"max_completion_tokens", "max_tokens"};
    json_t *v = json_object_get(doc, "temperature");

    if (v && !json_is_null(v) &&
        (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 2))
        return bad(err, errsize, param, paramsize, "temperature",
                   "'temperature' must be a number from 0 to 2");
    for (size_t i = 0; i < 2; i++) {
        v = json_object_get(doc, limit_keys[i]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            char message[96];

            snprintf(message, sizeof(message), "'%s' must be a whole number of at least 1",
                     limit_keys[i]);
            return bad(err, errsize, param, paramsize, limit_keys[i], message);
        }
        if (!r->max_tokens)
            r->max_tokens = (long)json_integer_value(v);
    }
    v = json_object_get(doc, "tools");
    if (v && !json_is_null(v)) {
        size_t i;
        json_t *t;

        if (!json_is_array(v))
            return bad(err, errsize, param, paramsize, "tools", "'tools' must be an array");
        json_array_foreach(v, i, t)
        {
            const char *name =
                json_string_value(json_object_get(json_object_get(t, "function"), "name"));

            if (!name || !tool_name_valid(name))
                return bad(err, errsize, param, paramsize, "tools",
                           "every tool needs a function name of 1 to 64 letters, digits, _ or "
                           "-");
        }
    }
    v = json_object_get(doc, "tool_choice");
    if (v && !json_is_null(v) && !json_is_object(v)) {
        const char *c = json_string_value(v);

        if (!c || (strcmp(c, "none") != 0 && strcmp(c, "auto") != 0 && strcmp(c, "required") != 0))
            return bad(err, errsize, param, paramsize, "tool_choice",
                       "'tool_choice' must be none, auto, required or a function");
    }
    return 0;
}

int sim_llm_request_parse(struct sim_llm_request *r, const char *body, size_t len, char *err,
                          size_t errsize, char *param, size_t paramsize)
{
    json_error_t jerr;
    json_t *doc, *messages, *v;
    struct buf text = BUF_INIT(SIM_LLM_MAX_BODY);
    char where[48];
    size_t i, last = 0;
    json_t *m;
    int rc = SB_EPARSE, have_user = 0;

    memset(r, 0, sizeof(*r));
    param[0] = '\0';
    doc = json_loadb(body, len, 0, &jerr);
    if (!doc) {
        sb_set_error(err, errsize,
                     "we could not parse the JSON body of your request: %s (line %d, column %d)",
                     jerr.text, jerr.line, jerr.column);
        return SB_EPARSE;
    }
    if (!json_is_object(doc)) {
        rc = bad(err, errsize, param, paramsize, NULL, "the request body must be a JSON object");
        goto out;
    }
    v = json_object_get(doc, "model");
    if (!v) {
        rc = bad(err, errsize, param, paramsize, "model", "you must provide a model parameter");
        goto out;
    }
    if (!json_is_string(v) || !*json_string_value(v)) {
        rc = bad(err, errsize, param, paramsize, "model", "'model' must be a non-empty string");
        goto out;
    }
    messages = json_object_get(doc, "messages");
    if (!messages) {
        rc = bad(err, errsize, param, paramsize, "messages",
                 "missing required parameter: 'messages'");
        goto out;
    }
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        rc =
            bad(err, errsize, param, paramsize, "messages", "'messages' must be a non-empty array");
        goto out;
    }
    json_array_foreach(messages, i, m)
    {
        const char *problem = message_problem(m);

        if (problem) {
            snprintf(where, sizeof(where), "messages[%zu]", i);
            rc = bad(err, errsize, param, paramsize, where, "");
            sb_set_error(err, errsize, "%s %s", where, problem);
            goto out;
        }
    }
    v = json_object_get(doc, "stream");
    if (v && !json_is_boolean(v) && !json_is_null(v)) {
        rc = bad(err, errsize, param, paramsize, "stream", "'stream' must be a boolean");
        goto out;
    }
    r->stream = json_is_true(v);
    v = json_object_get(doc, "stream_options");
    if (v && !json_is_null(v) && !json_is_object(v)) {
        rc = bad(err, errsize, param, paramsize, "stream_options",
                 "'stream_options' must be an object");
        goto out;
    }
    r->include_usage = json_is_true(json_object_get(v, "include_usage"));
    rc = parse_limits(r, doc, err, errsize, param, paramsize);
    if (rc)
        goto out;
    rc = SB_ENOMEM;
    r->model = dup_str(json_string_value(json_object_get(doc, "model")));
    if (!r->model)
        goto out;
    /* Words of every message (usage), and the message the reply answers. */
    json_array_foreach(messages, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        size_t j;
        json_t *c;

        buf_reset(&text);
        if (content_text(json_object_get(m, "content"), &text))
            goto out;
        r->prompt_tokens += (long)sim_llm_count_tokens(buf_cstr(&text));
        json_array_foreach(json_object_get(m, "tool_calls"), j, c)
        {
            const char *a =
                json_string_value(json_object_get(json_object_get(c, "function"), "arguments"));
            r->prompt_tokens += a ? (long)sim_llm_count_tokens(a) + 1 : 1;
        }
        if (strcmp(role, "user") == 0) {
            have_user = 1;
            last = i;
        }
    }
    m = json_array_get(messages, json_array_size(messages) - 1);
    if (strcmp(json_string_value(json_object_get(m, "role")), "tool") == 0) {
        r->is_tool_result = 1;
        r->subject = dup_str(tool_name_of(messages, json_array_size(messages) - 1,
                                          json_string_value(json_object_get(m, "tool_call_id"))));
    } else {
        buf_reset(&text);
        if (have_user &&
            content_text(json_object_get(json_array_get(messages, last), "content"), &text))
            goto out;
        r->subject = dup_str(buf_cstr(&text));
    }
    if (!r->subject)
        goto out;
    rc = 0;
out:
    buf_release(&text);
    json_decref(doc);
    if (rc)
        sim_llm_request_release(r);
    return rc;
}

/* --- replies -------------------------------------------------------------------------------- */

void sim_llm_answer_release(struct sim_llm_answer *a)
{
    free(a->content);
    tool_calls_free(a->calls, a->ncalls);
    memset(a, 0, sizeof(*a));
    a->rule = -1;
}

static int rule_matches(const struct sim_llm_rule *r, const struct sim_llm_request *req)
{
    if (req->is_tool_result)
        return r->tool && (strcmp(r->tool, "*") == 0 || strcasecmp(r->tool, req->subject) == 0);
    if (r->tool)
        return 0;
    if (r->is_regex)
        return regexec(&r->regex, req->subject, 0, NULL, 0) == 0;
    return contains_nocase(req->subject, r->match);
}

int sim_llm_choose(const struct sim_llm_script *script, const struct sim_llm_request *req,
                   struct sim_llm_answer *out)
{
    const struct sim_llm_rule *rule = NULL;
    struct buf echo = BUF_INIT(SIM_LLM_MAX_BODY + 64);

    memset(out, 0, sizeof(*out));
    out->rule = -1;
    out->stall_ms = out->stall_after_tokens = out->cut_after_tokens = -1;
    for (size_t i = 0; script && i < script->count; i++) {
        if (rule_matches(&script->rules[i], req)) {
            rule = &script->rules[i];
            out->rule = (int)i;
            break;
        }
    }
    if (rule) {
        out->error = rule->error;
        out->stall_ms = rule->stall_ms;
        out->stall_after_tokens = rule->stall_after_tokens;
        out->cut_after_tokens = rule->cut_after_tokens;
        if (rule->reply && !(out->content = dup_str(rule->reply)))
            goto nomem;
        if (rule->ncalls) {
            out->calls = calloc(rule->ncalls, sizeof(*out->calls));
            if (!out->calls)
                goto nomem;
            for (size_t i = 0; i < rule->ncalls; i++) {
                out->ncalls = i + 1;
                out->calls[i].name = dup_str(rule->calls[i].name);
                out->calls[i].arguments = dup_str(rule->calls[i].arguments);
                if (!out->calls[i].name || !out->calls[i].arguments)
                    goto nomem;
            }
        }
        return 0;
    }
    if (req->is_tool_result)
        out->content =
            dup_str(script && script->tool_default ? script->tool_default : TOOL_DEFAULT);
    else if (script && script->default_reply)
        out->content = dup_str(script->default_reply);
    else {
        if (buf_printf(&echo, "You said: %s", req->subject) != 0)
            goto nomem;
        out->content = buf_detach(&echo, NULL);
    }
    if (!out->content)
        goto nomem;
    return 0;
nomem:
    buf_release(&echo);
    sim_llm_answer_release(out);
    return SB_ENOMEM;
}

/* --- chunks --------------------------------------------------------------------------------- */

enum phase { PH_ROLE, PH_CONTENT, PH_TOOL_HEAD, PH_ARGS, PH_FINISH, PH_USAGE, PH_DONE, PH_END };

void sim_llm_stream_init(struct sim_llm_stream *st, const char *id, const char *model,
                         long long created, const struct sim_llm_answer *a,
                         const struct sim_llm_request *req)
{
    memset(st, 0, sizeof(*st));
    st->id = id;
    st->model = model;
    st->created = created;
    st->answer = a;
    st->include_usage = req->include_usage;
    st->max_tokens = req->max_tokens;
    st->prompt_tokens = req->prompt_tokens;
    st->phase = PH_ROLE;
}

/* "call_<id suffix>_<k>": unique per completion and call, the same in every chunk. */
static void call_id(const char *id, size_t k, char *out, size_t size)
{
    const char *suffix = strncmp(id, "chatcmpl-", 9) == 0 ? id + 9 : id;

    snprintf(out, size, "call_%s_%zu", suffix, k);
}

/* {"index":k,"id":...,"type":"function","function":{"name":...,"arguments":args}} */
static json_t *call_json(const char *id, size_t k, const struct sim_llm_tool_call *c,
                         const char *args, int with_index)
{
    char cid[96];
    json_t *j;

    call_id(id, k, cid, sizeof(cid));
    j = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", cid, "type", "function", "function", "name",
                  c->name, "arguments", args);
    if (j && with_index && json_object_set_new(j, "index", json_integer((json_int_t)k)) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static json_t *usage_json(long prompt, long completion)
{
    return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)prompt, "completion_tokens",
                     (json_int_t)completion, "total_tokens", (json_int_t)(prompt + completion));
}

/* Appends "data: <chunk>\n\n" for a chunk with `delta` and `finish` (NULL: null) (takes delta). */
static int emit(struct sim_llm_stream *st, struct buf *out, json_t *delta, const char *finish,
                int usage_chunk)
{
    json_t *chunk =
        json_pack("{s:s, s:s, s:I, s:s}", "id", st->id, "object", "chat.completion.chunk",
                  "created", (json_int_t)st->created, "model", st->model);
    json_t *choices = json_array(), *choice = NULL;
    char *text = NULL;
    int rc = SB_ENOMEM;

    if (!chunk || !choices)
        goto out;
    if (!usage_chunk) {
        choice = json_pack("{s:i, s:O, s:n, s:s?}", "index", 0, "delta", delta, "logprobs",
                           "finish_reason", finish);
        if (!choice || (!finish && json_object_set_new(choice, "finish_reason", json_null())) ||
            json_array_append_new(choices, choice))
            goto out;
    }
    if (json_object_set(chunk, "choices", choices))
        goto out;
    if (st->include_usage || usage_chunk) {
        json_t *u = usage_chunk ? usage_json(st->prompt_tokens, st->tokens) : json_null();

        if (!u || json_object_set_new(chunk, "usage", u))
            goto out;
    }
    text = json_dumps(chunk, JSON_COMPACT);
    if (!text)
        goto out;
    rc = buf_printf(out, "data: %s\n\n", text);
out:
    free(text);
    json_decref(delta);
    json_decref(choices);
    json_decref(chunk);
    return rc;
}

/* Bytes of `s` to send in one piece of arguments: up to SIM_LLM_ARG_PIECE, whole characters. */
static size_t arg_piece_len(const char *s)
{
    size_t n = strlen(s);

    if (n <= SIM_LLM_ARG_PIECE)
        return n;
    n = SIM_LLM_ARG_PIECE;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    if (n == 0) /* a piece never splits a character: take the whole one */
        while (((unsigned char)s[++n] & 0xC0) == 0x80)
            ;
    return n;
}

int sim_llm_stream_next(struct sim_llm_stream *st, struct buf *out)
{
    const struct sim_llm_answer *a = st->answer;
    const char *content = a->content ? a->content : "";
    int rc;

    for (;;) {
        switch (st->phase) {
        case PH_ROLE:
            if (!a->content && a->ncalls) {
                json_t *call = call_json(st->id, 0, &a->calls[0], "", 1);
                json_t *delta = call ? json_pack("{s:s, s:n, s:[o]}", "role", "assistant",
                                                 "content", "tool_calls", call)
                                     : NULL;

                if (!delta)
                    return SB_ENOMEM;
                st->phase = PH_ARGS;
                rc = emit(st, out, delta, NULL, 0);
            } else {
                st->phase = PH_CONTENT;
                rc = emit(st, out, json_pack("{s:s, s:s}", "role", "assistant", "content", ""),
                          NULL, 0);
            }
            return rc ? rc : SIM_LLM_EV_CHUNK;
        case PH_CONTENT: {
            size_t n = sim_llm_token_len(content + st->pos);
            json_t *delta;
            char *token;

            if (n == 0) {
                st->phase = a->ncalls ? PH_TOOL_HEAD : PH_FINISH;
                continue;
            }
            if (st->max_tokens && st->tokens >= st->max_tokens) {
                st->truncated = 1;
                st->phase = PH_FINISH;
                continue;
            }
            token = malloc(n + 1);
            if (!token)
                return SB_ENOMEM;
            memcpy(token, content + st->pos, n);
            token[n] = '\0';
            delta = json_pack("{s:s}", "content", token);
            free(token);
            if (!delta)
                return SB_ENOMEM; /* or text that is not UTF-8: the request checked it is */
            st->pos += n;
            st->tokens++;
            rc = emit(st, out, delta, NULL, 0);
            return rc ? rc : SIM_LLM_EV_TOKEN;
        }
        case PH_TOOL_HEAD: {
            json_t *call = call_json(st->id, st->call, &a->calls[st->call], "", 1);
            json_t *delta = call ? json_pack("{s:[o]}", "tool_calls", call) : NULL;

            if (!delta)
                return SB_ENOMEM;
            st->phase = PH_ARGS;
            st->pos = 0;
            rc = emit(st, out, delta, NULL, 0);
            return rc ? rc : SIM_LLM_EV_CHUNK;
        }
        case PH_ARGS: {
            const char *args = a->calls[st->call].arguments + st->pos;
            size_t n = arg_piece_len(args);
            json_t *delta;
            char *piece;

            if (n == 0) {
                st->pos = 0;
                st->call++;
                st->phase = st->call < a->ncalls ? PH_TOOL_HEAD : PH_FINISH;
                continue;
            }
            piece = malloc(n + 1);
            if (!piece)
                return SB_ENOMEM;
            memcpy(piece, args, n);
            piece[n] = '\0';
            delta = json_pack("{s:[{s:I, s:{s:s}}]}", "tool_calls", "index", (json_int_t)st->call,
                              "function", "arguments", piece);
            free(piece);
            if (!delta)
                return SB_ENOMEM;
            st->pos += n;
            st->tokens++;
            rc = emit(st, out, delta, NULL, 0);
            return rc ? rc : SIM_LLM_EV_TOKEN;
        }
        case PH_FINISH: {
            const char *finish = st->truncated ? "length" : a->ncalls ? "tool_calls" : "stop";

            st->phase = st->include_usage ? PH_USAGE : PH_DONE;
            rc = emit(st, out, json_object(), finish, 0);
            return rc ? rc : SIM_LLM_EV_CHUNK;
        }
        case PH_USAGE:
            st->phase = PH_DONE;
            rc = emit(st, out, NULL, NULL, 1);
            return rc ? rc : SIM_LLM_EV_CHUNK;
        case PH_DONE:
            st->phase = PH_END;
            rc = buf_puts(out, "data: [DONE]\n\n");
            return rc ? rc : SIM_LLM_EV_DONE;
        default:
            return SIM_LLM_EV_END;
        }
    }
}

char *sim_llm_completion_json(const char *id, const char *model, long long created,
                              const struct sim_llm_answer *a, const struct sim_llm_request *req)
{
    const char *content = a->content;
    size_t len = 0, n, ntokens = 0;
    long completion = 0;
    int truncated = 0;
    json_t *doc = NULL, *message, *calls;
    char *text = NULL, *cut = NULL;

    /* The content up to max_tokens, and the tokens it holds. */
    while (content && (n = sim_llm_token_len(content + len)) > 0) {
        if (req->max_tokens && (long)ntokens >= req->max_tokens) {
            truncated = 1;
            break;
        }
        len += n;
        ntokens++;
    }
    completion = (long)ntokens;
    if (content) {
        cut = malloc(len + 1);
        if (!cut)
            return NULL;
        memcpy(cut, content, len);
        cut[len] = '\0';
    }
    message = json_pack("{s:s, s:s?, s:n}", "role", "assistant", "content", cut, "refusal");
    if (message && !cut && json_object_set_new(message, "content", json_null()))
        goto out;
    if (message && a->ncalls && !truncated) {
        calls = json_array();
        if (!calls || json_object_set_new(message, "tool_calls", calls))
            goto out;
        for (size_t k = 0; k < a->ncalls; k++) {
            if (json_array_append_new(calls,
                                      call_json(id, k, &a->calls[k], a->calls[k].arguments, 0)))
                goto out;
            completion +=
                (long)((strlen(a->calls[k].arguments) + SIM_LLM_ARG_PIECE - 1) / SIM_LLM_ARG_PIECE);
        }
    }
    doc = message
              ? json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:O, s:n, s:s}], s:o}", "id", id, "object",
                          "chat.completion", "created", (json_int_t)created, "model", model,
                          "choices", "index", 0, "message", message, "logprobs", "finish_reason",
                          truncated   ? "length"
                          : a->ncalls ? "tool_calls"
                                      : "stop",
                          "usage", usage_json(req->prompt_tokens, completion))
              : NULL;
    if (doc)
        text = json_dumps(doc, JSON_COMPACT);
out:
    json_decref(message);
    json_decref(doc);
    free(cut);
    return text;
}

char *sim_llm_error_json(const char *message, const char *type, const char *param, const char *code)
{
    json_t *doc = json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message", message, "type", type,
                            "param", param, "code", code);
    json_t *error = json_object_get(doc, "error");
    char *text = NULL;

    if (!doc)
        return NULL;
    if ((!param && json_object_set_new(error, "param", json_null())) ||
        (!code && json_object_set_new(error, "code", json_null()))) {
        json_decref(doc);
        return NULL;
    }
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

/* --- the server ----------------------------------------------------------------------------- */

struct sim_llm {
    const struct sim_llm_opts *o;
    const char *model;
    struct lws_context *lws;
    unsigned long chat_requests;  /* counted for --fail-every */
    unsigned long completions;    /* for ids */
    unsigned long transcriptions; /* the next transcript is this one (cycling) */
    long long started;            /* unix seconds, for ids and /v1/models */
};

struct llm_session {
    struct lws *wsi;
    struct sim_llm *llm;
    struct buf body;
    char method[8];
    char path[256];
    char auth[512];
    int body_too_big;
    int body_chunked;
    long long started_us;
    /* A whole reply: head, then body, sent when `due`. */
    int status;
    unsigned char *head; /* LWS_PRE + head */
    size_t head_len;
    unsigned char *out; /* LWS_PRE + body */
    size_t out_len, out_sent;
    int head_sent;
    int close_after;
    const char *allow; /* the Allow header of a 405 */
    int replying;
    /* A stream. */
    int streaming;
    char id[48];
    struct sim_llm_request req;
    struct sim_llm_answer ans;
    struct sim_llm_stream st;
    struct buf ev; /* the chunk being written: LWS_PRE, hex size, event, CRLF */
    int stall_ms, stall_after, cut_after, tps;
    int stalled;
    int cut;
    /* The timer that makes the session `due`. */
    lws_sorted_usec_list_t sul;
    int due;
};

static void session_release(struct llm_session *s)
{
    lws_sul_cancel(&s->sul);
    buf_release(&s->body);
    buf_release(&s->ev);
    free(s->head);
    free(s->out);
    s->head = s->out = NULL;
    sim_llm_request_release(&s->req);
    sim_llm_answer_release(&s->ans);
}

static void on_due(lws_sorted_usec_list_t *sul)
{
    struct llm_session *s = lws_container_of(sul, struct llm_session, sul);

    s->due = 1;
    lws_callback_on_writable(s->wsi);
}

/* Makes the session due in `ms` milliseconds (0: at the next writable callback). */
static void due_in(struct llm_session *s, long long us)
{
    if (us <= 0) {
        s->due = 1;
        lws_callback_on_writable(s->wsi);
        return;
    }
    s->due = 0;
    lws_sul_schedule(lws_get_context(s->wsi), 0, &s->sul, on_due, (lws_usec_t)us);
}

/* Writes the status line and headers into s->head. content_length < 0: a chunked stream. */
static int make_head(struct llm_session *s, int status, const char *content_type,
                     long long content_length, int retry_after)
{
    size_t cap = LWS_PRE + 1024;
    unsigned char *p, *end;
    char num[32];
    int n;

    free(s->head);
    s->head = malloc(cap);
    if (!s->head)
        return -1;
    p = s->head + LWS_PRE;
    end = s->head + cap - 1;
    n = snprintf((char *)p, (size_t)(end - p), "HTTP/1.1 %d %s\r\n", status,
                 net_http_reason(status));
    if (n < 0 || n >= end - p)
        return -1;
    p += n;
    s->status = status;
    if (lws_add_http_header_by_token(s->wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)content_type, (int)strlen(content_type),
                                     &p, end))
        return -1;
    if (content_length >= 0) {
        if (lws_add_http_header_content_length(s->wsi, (lws_filepos_t)content_length, &p, end))
            return -1;
    } else if (lws_add_http_header_by_name(s->wsi, (const unsigned char *)"transfer-encoding:",
                                           (const unsigned char *)"chunked", 7, &p, end) ||
               lws_add_http_header_by_name(s->wsi, (const unsigned char *)"cache-control:",
                                           (const unsigned char *)"no-cache", 8, &p, end)) {
        return -1;
    }
    if (retry_after > 0) {
        snprintf(num, sizeof(num), "%d", retry_after);
        if (lws_add_http_header_by_name(s->wsi, (const unsigned char *)"retry-after:",
                                        (const unsigned char *)num, (int)strlen(num), &p, end))
            return -1;
    }
    if (s->allow && lws_add_http_header_by_name(
                        s->wsi, (const unsigned char *)"allow:", (const unsigned char *)s->allow,
                        (int)strlen(s->allow), &p, end))
        return -1;
    if (s->close_after && lws_add_http_header_by_token(s->wsi, WSI_TOKEN_CONNECTION,
                                                       (const unsigned char *)"close", 5, &p, end))
        return -1;
    if (lws_finalize_http_header(s->wsi, &p, end))
        return -1;
    s->head_len = (size_t)(p - (s->head + LWS_PRE));
    return 0;
}

static void log_request(struct llm_session *s, const char *extra)
{
    log_event(s->status >= 500 ? LOG_WARN : LOG_INFO, "llm.request",
              "method=%s path=%s status=%d ms=%.1f%s", s->method, s->path, s->status,
              (double)(clock_mono_us() - s->started_us) / 1000.0, extra ? extra : "");
}

/* Queues a whole reply (takes `body`, which may be NULL for an empty one) after `delay_us`. */
static int queue_reply(struct llm_session *s, int status, const char *content_type, char *body,
                       int retry_after, long long delay_us)
{
    size_t len = body ? strlen(body) : 0;

    if (!body && status != 200) { /* out of memory building it */
        status = 500;
        s->close_after = 1;
    }
    s->out = malloc(LWS_PRE + len + 1);
    if (!s->out || make_head(s, status, content_type, (long long)len, retry_after)) {
        free(body);
        return -1;
    }
    if (len)
        memcpy(s->out + LWS_PRE, body, len);
    free(body);
    s->out_len = len;
    s->out_sent = 0;
    s->head_sent = 0;
    s->replying = 1;
    due_in(s, delay_us);
    return 0;
}

static int reply_error(struct llm_session *s, int status, const char *type, const char *param,
                       const char *code, const char *message)
{
    char *doc = sim_llm_error_json(message, type, param, code);
    int retry = status == 429 ? (s->llm->o->retry_after_s > 0 ? s->llm->o->retry_after_s : 1) : 0;

    s->status = status;
    log_event(status >= 500 ? LOG_WARN : LOG_INFO, "llm.request",
              "method=%s path=%s status=%d ms=%.1f error=\"%s\"", s->method, s->path, status,
              (double)(clock_mono_us() - s->started_us) / 1000.0, message);
    return queue_reply(s, status, "application/json", doc, retry, 0);
}

static int authorized(const struct sim_llm *llm, const char *header)
{
    const char *key = llm->o->api_key;
    size_t n, diff = 0;

    if (!key || !*key)
        return 1;
    if (strncasecmp(header, "Bearer ", 7) != 0)
        return 0;
    header += 7;
    n = strlen(key);
    if (strlen(header) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        diff |= (size_t)(header[i] ^ key[i]);
    return diff == 0;
}

/* Faults for this request: the rule's where it set them, else the flags. */
static void plan_faults(struct llm_session *s)
{
    const struct sim_llm_opts *o = s->llm->o;

    s->stall_ms = s->ans.stall_ms >= 0 ? s->ans.stall_ms : o->stall_ms;
    s->stall_after = s->ans.stall_after_tokens >= 0 ? s->ans.stall_after_tokens : 1;
    s->cut_after = s->ans.cut_after_tokens >= 0 ? s->ans.cut_after_tokens : o->cut_after;
    s->tps = o->tokens_per_second;
}

static int chat_completion(struct llm_session *s)
{
    struct sim_llm *llm = s->llm;
    const struct sim_llm_opts *o = llm->o;
    char err[512], param[64], extra[96];
    long long created = (long long)time(NULL);
    int rc, fail = 0;

    if (s->body.len == 0)
        return reply_error(s, 400, "invalid_request_error", NULL, NULL,
                           "the request body is empty: send a JSON object with model and "
                           "messages");
    rc = sim_llm_request_parse(&s->req, s->body.data, s->body.len, err, sizeof(err), param,
                               sizeof(param));
    if (rc == SB_EPARSE)
        return reply_error(s, 400, "invalid_request_error", param[0] ? param : NULL, NULL, err);
    if (rc)
        return reply_error(s, 500, "server_error", NULL, NULL, "out of memory");
    llm->chat_requests++;
    if (o->fail_every > 0 && llm->chat_requests % (unsigned long)o->fail_every == 0)
        fail = o->fail_status ? o->fail_status : 429;
    if (sim_llm_choose(o->script, &s->req, &s->ans))
        return reply_error(s, 500, "server_error", NULL, NULL, "out of memory");
    if (!fail)
        fail = s->ans.error;
    if (fail == 429)
        return reply_error(s, 429, "requests", NULL, "rate_limit_exceeded",
                           "rate limit reached for requests (injected by sim llm)");
    if (fail)
        return reply_error(s, 500, "server_error", NULL, NULL,
                           "the server had an error while processing your request (injected by "
                           "sim llm)");
    llm->completions++;
    snprintf(s->id, sizeof(s->id), "chatcmpl-%llx%06lx", llm->started, llm->completions);
    plan_faults(s);
    s->status = 200;
    snprintf(extra, sizeof(extra), " stream=%s rule=%d calls=%zu", s->req.stream ? "yes" : "no",
             s->ans.rule, s->ans.ncalls);
    log_request(s, extra);
    if (!s->req.stream) {
        long long us = (long long)o->first_token_ms * 1000 + (long long)s->stall_ms * 1000;
        char *doc = sim_llm_completion_json(s->id, s->req.model, created, &s->ans, &s->req);

        if (o->tokens_per_second > 0 && s->ans.content)
            us += (long long)sim_llm_count_tokens(s->ans.content) * 1000000 / o->tokens_per_second;
        return queue_reply(s, 200, "application/json", doc, 0, us);
    }
    sim_llm_stream_init(&s->st, s->id, s->req.model, created, &s->ans, &s->req);
    buf_init(&s->ev, EVENT_MAX);
    if (make_head(s, 200, "text/event-stream; charset=utf-8", -1, 0))
        return -1;
    s->streaming = 1;
    s->head_sent = 0;
    due_in(s, 0); /* the head now; the first chunk after first_token_ms */
    return 0;
}

static int models(struct llm_session *s, const char *one)
{
    json_t *model =
        json_pack("{s:s, s:s, s:I, s:s}", "id", one ? one : s->llm->model, "object", "model",
                  "created", (json_int_t)s->llm->started, "owned_by", "switchboard");
    json_t *doc = one ? model : json_pack("{s:s, s:[o]}", "object", "list", "data", model);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

    json_decref(doc);
    s->status = 200;
    log_request(s, NULL);
    return queue_reply(s, 200, "application/json", text, 0, 0);
}

/* A multipart upload's file field: only its size matters to the stand-in. */
struct upload {
    size_t file_bytes;
    int has_file;
};

static int upload_part(void *data, const char *name, const char *filename, char *buf, int len,
                       enum lws_spa_fileupload_states state)
{
    struct upload *u = data;

    (void)filename;
    if (strcmp(name, "file") != 0)
        return 0;
    if (state == LWS_UFS_OPEN)
        u->has_file = 1;
    if ((state == LWS_UFS_CONTENT || state == LWS_UFS_FINAL_CONTENT) && len > 0)
        u->file_bytes += (size_t)len;
    return 0;
}

/*
 * POST /v1/audio/transcriptions (OpenAI's multipart form: file, model,
 * language, response_format): answers the next of --transcripts, as JSON
 * {"text": ...} or, with response_format=text, plain text.
 */
static int transcription(struct llm_session *s)
{
    static const char *const names[] = {"model", "language", "response_format", "prompt"};
    struct upload u = {0, 0};
    struct lws_spa *spa;
    const struct sim_llm_opts *o = s->llm->o;
    const char *model, *format, *text = "";
    char ctype[128] = "", extra[96];
    json_t *doc;
    char *out;

    if (lws_hdr_copy(s->wsi, ctype, (int)sizeof(ctype), WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0 ||
        !strcasestr(ctype, "multipart/form-data"))
        return reply_error(s, 400, "invalid_request_error", NULL, NULL,
                           "the request must be multipart/form-data with a 'file'");
    spa = lws_spa_create(s->wsi, names, 4, 1024, upload_part, &u);
    if (!spa)
        return reply_error(s, 400, "invalid_request_error", NULL, NULL,
                           "the multipart body cannot be read (no boundary)");
    if ((s->body.len && lws_spa_process(spa, s->body.data, (int)s->body.len) != 0) ||
        lws_spa_finalize(spa) != 0) {
        lws_spa_destroy(spa);
        return reply_error(s, 400, "invalid_request_error", NULL, NULL,
                           "the multipart body is malformed");
    }
    model = lws_spa_get_string(spa, 0);
    format = lws_spa_get_string(spa, 2);
    if (!u.has_file || u.file_bytes == 0) {
        lws_spa_destroy(spa);
        return reply_error(s, 400, "invalid_request_error", "file", NULL,
                           "a 'file' with the audio is required");
    }
    if (!model || !*model) {
        lws_spa_destroy(spa);
        return reply_error(s, 400, "invalid_request_error", "model", NULL,
                           "you must provide a model parameter");
    }
    if (format && *format && strcmp(format, "json") != 0 && strcmp(format, "text") != 0) {
        lws_spa_destroy(spa);
        return reply_error(s, 400, "invalid_request_error", "response_format", NULL,
                           "sim llm answers response_format json or text");
    }
    if (o->ntranscripts)
        text = o->transcripts[s->llm->transcriptions++ % o->ntranscripts];
    s->status = 200;
    /* The words are the caller's: only sizes in the log. */
    snprintf(extra, sizeof(extra), " audio_bytes=%zu words_bytes=%zu", u.file_bytes, strlen(text));
    log_request(s, extra);
    if (format && strcmp(format, "text") == 0) {
        lws_spa_destroy(spa);
        return queue_reply(s, 200, "text/plain; charset=utf-8", dup_str(text), 0, 0);
    }
    lws_spa_destroy(spa);
    doc = json_pack("{s:s}", "text", text);
    out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!out)
        return reply_error(s, 500, "server_error", NULL, NULL, "out of memory");
    return queue_reply(s, 200, "application/json", out, 0, 0);
}

/* Decides what to answer to a complete request. */
static int handle(struct llm_session *s)
{
    const char *path = s->path;
    int post = strcmp(s->method, "POST") == 0, get = strcmp(s->method, "GET") == 0;
    char message[400];

    if (strncmp(path, "/v1/", 4) == 0)
        path += 3;
    if (s->body_too_big) {
        s->close_after = 1;
        snprintf(message, sizeof(message), "the request body is larger than %d bytes",
                 SIM_LLM_MAX_BODY);
        return reply_error(s, 413, "invalid_request_error", NULL, "request_too_large", message);
    }
    if (s->body_chunked) {
        s->close_after = 1;
        return reply_error(s, 411, "invalid_request_error", NULL, NULL,
                           "chunked request bodies are not accepted: send a Content-Length");
    }
    if (strcmp(s->path, "/healthz") == 0) {
        if (!get)
            goto not_allowed;
        s->status = 200;
        log_request(s, NULL);
        return queue_reply(s, 200, "text/plain", dup_str("ok\n"), 0, 0);
    }
    if (strcmp(path, "/chat/completions") != 0 && strcmp(path, "/models") != 0 &&
        strcmp(path, "/audio/transcriptions") != 0 && strncmp(path, "/models/", 8) != 0) {
        snprintf(message, sizeof(message), "unknown request URL: %s %.200s", s->method, s->path);
        return reply_error(s, 404, "invalid_request_error", NULL, "unknown_url", message);
    }
    if (!authorized(s->llm, s->auth)) {
        return reply_error(s, 401, "invalid_request_error", NULL, "invalid_api_key",
                           s->auth[0] ? "incorrect API key provided"
                                      : "you didn't provide an API key: send it as "
                                        "'Authorization: Bearer KEY'");
    }
    if (strcmp(path, "/chat/completions") == 0) {
        if (!post)
            goto not_allowed;
        return chat_completion(s);
    }
    if (strcmp(path, "/audio/transcriptions") == 0) {
        if (!post)
            goto not_allowed;
        return transcription(s);
    }
    if (!get)
        goto not_allowed;
    return models(s, path[7] == '/' && path[8] ? path + 8 : NULL);
not_allowed:
    s->allow = strcmp(path, "/chat/completions") == 0 || strcmp(path, "/audio/transcriptions") == 0
                   ? "POST"
                   : "GET";
    snprintf(message, sizeof(message), "method %s is not allowed on %.200s", s->method, s->path);
    return reply_error(s, 405, "invalid_request_error", NULL, "method_not_allowed", message);
}

static int on_request(struct lws *wsi, struct llm_session *s, const char *path)
{
    enum net_http_body body;
    char te[32];

    session_release(s);
    memset(s, 0, sizeof(*s));
    s->wsi = wsi;
    s->llm = lws_context_user(lws_get_context(wsi));
    buf_init(&s->body, SIM_LLM_MAX_BODY);
    s->started_us = clock_mono_us();
    snprintf(s->method, sizeof(s->method), "%s", net_http_method(wsi));
    snprintf(s->path, sizeof(s->path), "%s", path);
    if (lws_hdr_copy(wsi, s->auth, (int)sizeof(s->auth), WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
        s->auth[0] = '\0';
    if (lws_hdr_copy(wsi, te, (int)sizeof(te), WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 &&
        strcasestr(te, "chunked"))
        s->body_chunked = 1;
    body = net_http_body_check(wsi, SIM_LLM_MAX_BODY);
    if (body == NET_HTTP_BODY_TOO_BIG)
        s->body_too_big = 1;
    if (body == NET_HTTP_BODY_COMING && !s->body_chunked)
        return 0; /* answered at LWS_CALLBACK_HTTP_BODY_COMPLETION */
    return handle(s);
}

/* Writes the next chunk of a stream; closes the connection (-1) at a cut or when done. */
static int stream_writable(struct llm_session *s)
{
    char size[16];
    int kind, n;
    long long next_us = 0;

    if (s->cut) { /* close without the last chunk once everything before the cut has left */
        if (!lws_partial_buffered(s->wsi))
            return -1;
        due_in(s, 0);
        return 0;
    }
    buf_reset(&s->ev);
    {
        /* Room for LWS_PRE and the chunk size before the event. */
        char pre[LWS_PRE + 16];

        memset(pre, ' ', sizeof(pre));
        if (buf_append(&s->ev, pre, sizeof(pre)))
            return -1;
    }
    kind = sim_llm_stream_next(&s->st, &s->ev);
    if (kind < 0)
        return -1;
    if (kind == SIM_LLM_EV_TOKEN && s->cut_after >= 0 && s->st.tokens > s->cut_after) {
        s->cut = 1; /* --cut-after 0: nothing after the first chunk */
        return -1;
    }
    if (kind == SIM_LLM_EV_END) {
        /* The last chunk of the chunked body. */
        memcpy(s->ev.data + LWS_PRE, "0\r\n\r\n", 5);
        if (lws_write(s->wsi, (unsigned char *)s->ev.data + LWS_PRE, 5, LWS_WRITE_HTTP) < 0)
            return -1;
        s->streaming = 0;
        return lws_http_transaction_completed(s->wsi) ? -1 : 0;
    }
    if (buf_puts(&s->ev, "\r\n"))
        return -1;
    {
        size_t ev_len = s->ev.len - (LWS_PRE + 16) - 2;
        size_t start;

        n = snprintf(size, sizeof(size), "%zx\r\n", ev_len);
        start = LWS_PRE + 16 - (size_t)n;
        memcpy(s->ev.data + start, size, (size_t)n);
        if (lws_write(s->wsi, (unsigned char *)s->ev.data + start, s->ev.len - start,
                      LWS_WRITE_HTTP) < 0)
            return -1;
    }
    if (kind == SIM_LLM_EV_TOKEN) {
        if (s->cut_after >= 0 && s->st.tokens >= s->cut_after) {
            log_event(LOG_INFO, "llm.cut", "id=%s tokens=%ld", s->id, s->st.tokens);
            s->cut = 1;
            due_in(s, 0);
            return 0;
        }
        if (s->tps > 0)
            next_us = 1000000 / s->tps;
        if (s->stall_ms > 0 && !s->stalled && s->st.tokens >= s->stall_after) {
            s->stalled = 1;
            next_us += (long long)s->stall_ms * 1000;
        }
    }
    due_in(s, next_us);
    return 0;
}

static int on_writable(struct llm_session *s)
{
    size_t n;

    if (!s->replying && !s->streaming)
        return 0;
    if (!s->head_sent) {
        s->head_sent = 1;
        if (lws_write(s->wsi, s->head + LWS_PRE, s->head_len, LWS_WRITE_HTTP_HEADERS) < 0)
            return -1;
        if (s->streaming) {
            due_in(s, (long long)s->llm->o->first_token_ms * 1000);
            return 0;
        }
        if (s->out_len) {
            lws_callback_on_writable(s->wsi);
            return 0;
        }
    } else if (!s->due) {
        return 0;
    } else if (s->streaming) {
        s->due = 0;
        return stream_writable(s);
    } else if (s->out_sent < s->out_len) {
        n = s->out_len - s->out_sent;
        if (n > 16384)
            n = 16384;
        if (lws_write(s->wsi, s->out + LWS_PRE + s->out_sent, n,
                      s->out_sent + n == s->out_len ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
            return -1;
        s->out_sent += n;
        if (s->out_sent < s->out_len) {
            lws_callback_on_writable(s->wsi);
            return 0;
        }
    }
    s->replying = 0;
    free(s->head);
    free(s->out);
    s->head = s->out = NULL;
    if (s->close_after)
        return -1;
    return lws_http_transaction_completed(s->wsi) ? -1 : 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    struct llm_session *s = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_request(wsi, s, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        if (!s->body_too_big && buf_append(&s->body, in, len) != 0)
            s->body_too_big = 1;
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return handle(s);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return s ? on_writable(s) : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (s) {
            if (s->streaming)
                log_event(LOG_INFO, "llm.stream_closed", "id=%s tokens=%ld cut=%s", s->id,
                          s->st.tokens, s->cut ? "yes" : "no");
            session_release(s);
            s->streaming = s->replying = 0;
        }
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", http_callback, sizeof(struct llm_session), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int sim_llm_run(const struct sim_llm_opts *o)
{
    struct lws_context_creation_info info;
    struct sim_llm llm;
    struct lws_vhost *vh;
    int port;

    if (!o || !o->host || o->port < 0 || o->port > 65535 || o->first_token_ms < 0 ||
        o->tokens_per_second < 0 || o->fail_every < 0 || o->stall_ms < 0 ||
        (o->fail_every && o->fail_status != 429 && o->fail_status != 500))
        return SB_EINVAL;
    memset(&llm, 0, sizeof(llm));
    llm.o = o;
    llm.model = o->model && *o->model ? o->model : DEFAULT_MODEL;
    llm.started = (long long)time(NULL);
    lws_set_log_level(LLL_ERR, NULL);
    net_listen_info(&info, o->host, o->port, protocols, &llm);
    info.keepalive_timeout = 60;
    llm.lws = lws_create_context(&info);
    vh = llm.lws ? lws_get_vhost_by_name(llm.lws, "default") : NULL;
    port = vh ? lws_get_vhost_listen_port(vh) : -1;
    if (!llm.lws || port <= 0) {
        log_event(LOG_ERROR, "llm.start_failed", "error=\"cannot listen on %s:%d\"", o->host,
                  o->port);
        if (llm.lws)
            lws_context_destroy(llm.lws);
        return SB_EIO;
    }
    net_stop_on_signals(llm.lws);
    if (o->ready) {
        fprintf(o->ready,
                strchr(o->host, ':') ? "listening on http://[%s]:%d\n"
                                     : "listening on http://%s:%d\n",
                o->host, port);
        fflush(o->ready);
    }
    log_event(LOG_INFO, "llm.listening",
              "addr=%s port=%d model=%s script=%s first_token_ms=%d tokens_per_second=%d", o->host,
              port, llm.model, o->script ? "yes" : "no", o->first_token_ms, o->tokens_per_second);
    while (!net_stop_requested()) {
        if (lws_service(llm.lws, 0) < 0)
            break;
    }
    net_stop_forget();
    lws_context_destroy(llm.lws);
    log_event(LOG_INFO, "llm.stopped", "clean=yes");
    return 0;
}
