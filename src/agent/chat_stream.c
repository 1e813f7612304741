#include "agent/chat_stream.h"

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/chat_request.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/utf8.h"
#include "core/lang.h"
#include "core/banned.h"

/* The most of a server's text (an error message, a tool name) quoted in a reason. */
#define QUOTE_MAX 160

/*
 * Copies at most QUOTE_MAX bytes of s[0..n) into dst (QUOTE_MAX + 1 bytes),
 * cut on a UTF-8 boundary, every control byte made '?'; with `ascii` every
 * byte outside printable ASCII too (for bytes that may not be UTF-8).
 */
static void quote(char *dst, const char *s, size_t n, int ascii)
{
    size_t k = n < QUOTE_MAX ? n : QUOTE_MAX;

    if (!ascii)
        while (k > 0 && k < n && ((unsigned char)s[k] & 0xc0) == 0x80)
            k--;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];

        dst[i] = (c < 0x20 || c == 0x7f || (ascii && c >= 0x80)) ? '?' : (char)c;
    }
    dst[k] = '\0';
}

/* The length of the well-formed UTF-8 character at p (NUL-terminated), 0 when there is none. */
static size_t utf8_char(const unsigned char *p)
{
    return utf8_decode(p, 4, NULL);
}

/*
 * Makes a reason or a reply valid UTF-8 (a '?' for each byte that is not
 * part of a character, such as one cut by truncation), so that it can go
 * into a JSON string or a log line as it is.
 */
static void utf8_fix(char *str, size_t size)
{
    unsigned char *p = (unsigned char *)str;

    if (!str || size == 0)
        return;
    while (*p) {
        size_t n = utf8_char(p);

        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
}

static int fail(struct chat_stream *cs, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct chat_stream *cs, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cs->error, sizeof(cs->error), fmt, ap);
    va_end(ap);
    utf8_fix(cs->error, sizeof(cs->error));
    cs->failed = code;
    return code;
}

void chat_stream_init(struct chat_stream *cs, size_t max_content, size_t max_arguments)
{
    memset(cs, 0, sizeof(*cs));
    cs->max_arguments = max_arguments ? max_arguments : CHAT_STREAM_MAX_ARGUMENTS;
    buf_init(&cs->content, max_content ? max_content : CHAT_STREAM_MAX_CONTENT);
    for (size_t i = 0; i < CHAT_STREAM_MAX_CALLS; i++) {
        buf_init(&cs->calls[i].id, CHAT_STREAM_MAX_ID);
        buf_init(&cs->calls[i].name, CHAT_STREAM_MAX_NAME);
        buf_init(&cs->calls[i].arguments, cs->max_arguments);
    }
    cs->usage.prompt_tokens = cs->usage.completion_tokens = cs->usage.total_tokens = -1;
}

void chat_stream_release(struct chat_stream *cs)
{
    buf_release(&cs->content);
    for (size_t i = 0; i < CHAT_STREAM_MAX_CALLS; i++) {
        buf_release(&cs->calls[i].id);
        buf_release(&cs->calls[i].name);
        buf_release(&cs->calls[i].arguments);
    }
    memset(cs, 0, sizeof(*cs));
}

const char *chat_stream_error(const struct chat_stream *cs)
{
    return cs->error;
}

/* A field that may be absent or null: NULL then. */
static json_t *get(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_null(v) ? NULL : v;
}

/* ---- server errors ------------------------------------------------------ */

static int server_error(struct chat_stream *cs, const json_t *e, const char *raw, size_t rawlen)
{
    char msg[QUOTE_MAX + 1] = "", type[QUOTE_MAX + 1] = "", code[QUOTE_MAX + 1] = "";
    char extra[2 * QUOTE_MAX + 32] = "";
    const json_t *m = NULL, *t = NULL, *c = NULL;

    if (json_is_string(e)) {
        m = e;
    } else if (json_is_object(e)) {
        m = get(e, "message");
        t = get(e, "type");
        c = get(e, "code");
    }
    if (json_is_string(m))
        quote(msg, json_string_value(m), json_string_length(m), 0);
    else if (raw)
        quote(msg, raw, rawlen, 1);
    if (json_is_string(t))
        quote(type, json_string_value(t), json_string_length(t), 0);
    if (json_is_string(c))
        quote(code, json_string_value(c), json_string_length(c), 0);
    else if (json_is_integer(c))
        snprintf(code, sizeof(code), "%lld", (long long)json_integer_value(c));
    if (type[0] && code[0])
        snprintf(extra, sizeof(extra), " (type %s, code %s)", type, code);
    else if (type[0] || code[0])
        snprintf(extra, sizeof(extra), " (%s %s)", type[0] ? "type" : "code",
                 type[0] ? type : code);
    return fail(cs, SB_EIO, "the server reported an error: %s%s", msg[0] ? msg : "(no message)",
                extra);
}

/* An `event: error` event: its data may be JSON or plain text. */
static int error_event(struct chat_stream *cs, const char *data, size_t len)
{
    json_t *root = json_loadb(data, len, 0, NULL);
    const json_t *e = NULL;
    int rc;

    if (json_is_object(root)) {
        e = get(root, "error");
        if (!e || (!json_is_object(e) && !json_is_string(e)))
            e = root;
    }
    rc = server_error(cs, e, data, len);
    json_decref(root);
    return rc;
}

/* ---- tool call deltas --------------------------------------------------- */

static int set_buf(struct buf *b, const char *s, size_t n)
{
    buf_reset(b);
    return buf_append(b, s, n);
}

static int same(const struct buf *b, const char *s, size_t n)
{
    return b->len == n && (n == 0 || memcmp(b->data, s, n) == 0);
}

static struct chat_stream_call *new_call(struct chat_stream *cs, long index)
{
    struct chat_stream_call *c;

    if (cs->ncalls == CHAT_STREAM_MAX_CALLS)
        return NULL;
    c = &cs->calls[cs->ncalls++];
    c->index = index;
    return c;
}

static int tool_delta(struct chat_stream *cs, const json_t *tc, size_t k)
{
    const json_t *jidx, *jid, *jtype, *fn, *jname = NULL, *jargs = NULL;
    struct chat_stream_call *c = NULL;
    const char *id = NULL;
    size_t idlen = 0;
    long index = -1;
    int rc;

    if (!json_is_object(tc))
        return fail(cs, SB_EPARSE, "tool_calls[%zu] is not an object", k);
    jidx = get(tc, "index");
    jid = get(tc, "id");
    jtype = get(tc, "type");
    fn = get(tc, "function");
    if (jidx) {
        if (!json_is_integer(jidx))
            return fail(cs, SB_EPARSE, "tool_calls[%zu].index is not an integer", k);
        if (json_integer_value(jidx) < 0 || json_integer_value(jidx) > CHAT_STREAM_MAX_INDEX)
            return fail(cs, SB_EPARSE, "tool_calls[%zu].index %lld is out of range (0 to %d)", k,
                        (long long)json_integer_value(jidx), CHAT_STREAM_MAX_INDEX);
        index = (long)json_integer_value(jidx);
    }
    if (jid && !json_is_string(jid))
        return fail(cs, SB_EPARSE, "tool_calls[%zu].id is not a string", k);
    if (jtype && !json_is_string(jtype))
        return fail(cs, SB_EPARSE, "tool_calls[%zu].type is not a string", k);
    if (jtype && strcmp(json_string_value(jtype), "function") != 0)
        return fail(cs, SB_EPARSE, "tool_calls[%zu].type is not \"function\"", k);
    if (fn && !json_is_object(fn))
        return fail(cs, SB_EPARSE, "tool_calls[%zu].function is not an object", k);
    if (fn) {
        jname = get(fn, "name");
        jargs = get(fn, "arguments");
    }
    if (jname && !json_is_string(jname))
        return fail(cs, SB_EPARSE, "tool_calls[%zu].function.name is not a string", k);
    if (jargs && !json_is_string(jargs) && !json_is_object(jargs))
        return fail(cs, SB_EPARSE, "tool_calls[%zu].function.arguments is not a string", k);
    if (jid && json_string_length(jid) > 0) {
        id = json_string_value(jid);
        idlen = json_string_length(jid);
    }

    /* Which call this delta continues, if any (see the top of chat_stream.h). */
    if (index >= 0) {
        for (size_t i = cs->ncalls; i-- > 0;) {
            if (cs->calls[i].index == index) {
                c = &cs->calls[i];
                break;
            }
        }
    } else if (cs->ncalls > 0) {
        c = &cs->calls[cs->ncalls - 1];
        index = c->index;
    } else {
        index = 0;
    }
    if (c && id && c->id.len > 0 && !same(&c->id, id, idlen)) {
        if (jidx == NULL)
            index = c->index + 1;
        c = NULL;
    }
    if (!c) {
        c = new_call(cs, index);
        if (!c)
            return fail(cs, SB_ETOOBIG, "more than %d tool calls", CHAT_STREAM_MAX_CALLS);
    }

    if (id && !same(&c->id, id, idlen)) {
        rc = set_buf(&c->id, id, idlen);
        if (rc == SB_ETOOBIG)
            return fail(cs, rc, "a tool call id is longer than %d bytes", CHAT_STREAM_MAX_ID);
        if (rc)
            return fail(cs, rc, "out of memory");
    }
    if (jname && json_string_length(jname) > 0 &&
        !same(&c->name, json_string_value(jname), json_string_length(jname))) {
        rc = set_buf(&c->name, json_string_value(jname), json_string_length(jname));
        if (rc == SB_ETOOBIG)
            return fail(cs, rc, "a function name is longer than %d bytes", CHAT_STREAM_MAX_NAME);
        if (rc)
            return fail(cs, rc, "out of memory");
    }
    if (jargs) {
        if (json_is_string(jargs)) {
            rc = buf_append(&c->arguments, json_string_value(jargs), json_string_length(jargs));
        } else {
            char *s = json_dumps(jargs, JSON_COMPACT);

            rc = s ? buf_puts(&c->arguments, s) : SB_ENOMEM;
            free(s);
        }
        if (rc == SB_ETOOBIG)
            return fail(cs, rc, "the arguments of tool call %ld are longer than %zu bytes",
                        c->index, cs->max_arguments);
        if (rc)
            return fail(cs, rc, "out of memory");
    }
    return 0;
}

/* ---- chunks ------------------------------------------------------------- */

static int append_text(struct chat_stream *cs, const json_t *v, const char *what)
{
    int rc;

    if (!v)
        return 0;
    if (!json_is_string(v))
        return fail(cs, SB_EPARSE, "choices[0].delta.%s is not a string", what);
    rc = buf_append(&cs->content, json_string_value(v), json_string_length(v));
    if (rc == SB_ETOOBIG)
        return fail(cs, rc, "the reply is longer than %zu bytes", cs->content.max);
    if (rc)
        return fail(cs, rc, "out of memory");
    return 0;
}

static void set_finish(struct chat_stream *cs, const char *s, size_t n)
{
    static const struct {
        const char *name;
        enum chat_finish finish;
    } reasons[] = {
        {"stop", CHAT_FINISH_STOP},
        {"length", CHAT_FINISH_LENGTH},
        {"tool_calls", CHAT_FINISH_TOOL_CALLS},
        {"function_call", CHAT_FINISH_TOOL_CALLS},
        {"content_filter", CHAT_FINISH_CONTENT_FILTER},
    };

    quote(cs->finish_text, s, n < sizeof(cs->finish_text) - 1 ? n : sizeof(cs->finish_text) - 1, 0);
    cs->finish = CHAT_FINISH_OTHER;
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (strlen(reasons[i].name) == n && memcmp(reasons[i].name, s, n) == 0)
            cs->finish = reasons[i].finish;
}

static int choice(struct chat_stream *cs, const json_t *ch, size_t k)
{
    const json_t *idx, *delta, *finish;
    int rc;

    if (!json_is_object(ch))
        return fail(cs, SB_EPARSE, "choices[%zu] is not an object", k);
    idx = get(ch, "index");
    if (idx && !json_is_integer(idx))
        return fail(cs, SB_EPARSE, "choices[%zu].index is not an integer", k);
    if (idx && json_integer_value(idx) != 0)
        return 0;
    delta = get(ch, "delta");
    finish = get(ch, "finish_reason");
    if (delta && !json_is_object(delta))
        return fail(cs, SB_EPARSE, "choices[%zu].delta is not an object", k);
    if (finish && !json_is_string(finish))
        return fail(cs, SB_EPARSE, "choices[%zu].finish_reason is not a string", k);
    if (delta) {
        const json_t *calls = get(delta, "tool_calls");

        rc = append_text(cs, get(delta, "content"), "content");
        rc = rc ? rc : append_text(cs, get(delta, "refusal"), "refusal");
        if (rc)
            return rc;
        if (calls && !json_is_array(calls))
            return fail(cs, SB_EPARSE, "choices[%zu].delta.tool_calls is not an array", k);
        for (size_t i = 0; i < json_array_size(calls); i++) {
            rc = tool_delta(cs, json_array_get(calls, i), i);
            if (rc)
                return rc;
        }
    }
    if (finish)
        set_finish(cs, json_string_value(finish), json_string_length(finish));
    return 0;
}

static int usage_field(struct chat_stream *cs, const json_t *u, const char *key, long *out)
{
    const json_t *v = get(u, key);

    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail(cs, SB_EPARSE, "usage.%s is not a count", key);
    *out = json_integer_value(v) > 0x7fffffff ? 0x7fffffff : (long)json_integer_value(v);
    return 0;
}

static int chunk(struct chat_stream *cs, const json_t *root, const char *data, size_t len)
{
    const json_t *e, *choices, *usage;
    int rc = 0;

    if (!json_is_object(root))
        return fail(cs, SB_EPARSE, "event %zu is not a JSON object", cs->events);
    e = get(root, "error");
    if (e && !json_is_false(e))
        return server_error(cs, e, data, len);
    choices = get(root, "choices");
    if (choices && !json_is_array(choices))
        return fail(cs, SB_EPARSE, "choices is not an array");
    for (size_t i = 0; !rc && i < json_array_size(choices); i++)
        rc = choice(cs, json_array_get(choices, i), i);
    if (rc)
        return rc;
    usage = get(root, "usage");
    if (usage && !json_is_object(usage))
        return fail(cs, SB_EPARSE, "usage is not an object");
    if (usage) {
        struct chat_stream_usage u = {1, -1, -1, -1};

        rc = usage_field(cs, usage, "prompt_tokens", &u.prompt_tokens);
        rc = rc ? rc : usage_field(cs, usage, "completion_tokens", &u.completion_tokens);
        rc = rc ? rc : usage_field(cs, usage, "total_tokens", &u.total_tokens);
        if (!rc)
            cs->usage = u;
    }
    return rc;
}

int chat_stream_feed(struct chat_stream *cs, const char *type, const char *data, size_t len,
                     struct chat_stream_delta *out)
{
    size_t before = cs->content.len;
    json_error_t je;
    json_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    if (cs->failed)
        return cs->failed;
    if (cs->done)
        return 0;
    cs->events++;
    if (!data)
        return fail(cs, SB_EPARSE, "event %zu has no data", cs->events);
    if (type && strcmp(type, "error") == 0)
        return error_event(cs, data, len);
    if (len >= 6 && memcmp(data, "[DONE]", 6) == 0) {
        cs->done = 1;
        out->done = 1;
        return 0;
    }
    root = json_loadb(data, len, 0, &je);
    if (!root) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return fail(cs, SB_ENOMEM, "out of memory reading event %zu", cs->events);
        return fail(cs, SB_EPARSE, "event %zu is not JSON: %s at byte %d", cs->events, je.text,
                    je.position);
    }
    rc = chunk(cs, root, data, len);
    json_decref(root);
    if (rc) {
        /* A refused event gives nothing: its text, read before the fault, is taken back. */
        cs->content.len = before;
        if (cs->content.data)
            cs->content.data[before] = '\0';
        return rc;
    }
    if (cs->content.len > before) {
        out->text = cs->content.data + before;
        out->len = cs->content.len - before;
    }
    return 0;
}

int chat_stream_end(struct chat_stream *cs)
{
    if (cs->failed)
        return cs->failed;
    if (cs->ended)
        return 0;
    if (cs->finish == CHAT_FINISH_NONE && cs->done)
        return fail(cs, SB_EPARSE, "the stream ended with [DONE] but no finish_reason");
    if (cs->finish == CHAT_FINISH_NONE)
        return fail(cs, SB_EPARSE, "the stream ended without a finish_reason (cut short)");
    if (cs->finish == CHAT_FINISH_TOOL_CALLS && cs->ncalls == 0)
        return fail(cs, SB_EPARSE, "finish_reason is \"%s\" but no tool call came",
                    cs->finish_text);
    for (size_t i = 0; i < cs->ncalls; i++) {
        struct chat_stream_call *c = &cs->calls[i];
        int rc = 0;

        if (c->name.len == 0)
            return fail(cs, SB_EPARSE, "tool call %zu has no function name", i);
        if (c->id.len == 0)
            rc = buf_printf(&c->id, "call_%zu", i);
        if (!rc && c->arguments.len == 0)
            rc = buf_puts(&c->arguments, "");
        if (rc)
            return fail(cs, rc, "out of memory");
    }
    cs->ended = 1;
    return 0;
}

size_t chat_stream_calls(const struct chat_stream *cs, struct chat_call *out, size_t max)
{
    size_t n = cs->ncalls < max ? cs->ncalls : max;

    for (size_t i = 0; i < n; i++) {
        out[i].id = (char *)buf_cstr(&cs->calls[i].id);
        out[i].name = (char *)buf_cstr(&cs->calls[i].name);
        out[i].arguments = (char *)buf_cstr(&cs->calls[i].arguments);
    }
    return n;
}

/* ---- checking a call ---------------------------------------------------- */

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A BCP-47 shaped tag (subtags of 1 to 8 letters or digits) whose base language is known. */
static int language_ok(const char *s, size_t n)
{
    size_t run = 0;

    if (n < 2 || n > CHAT_ARG_LANGUAGE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-' || s[i] == '_') {
            if (run == 0)
                return 0;
            run = 0;
        } else if (is_alnum(s[i]) && run < 8) {
            run++;
        } else {
            return 0;
        }
    }
    return run > 0 && lang_base(s)[0] != '\0';
}

static int only_space(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return 0;
    return 1;
}

int chat_tool_check(const char *name, const char *arguments, struct chat_tool_args *out,
                    char *reply, size_t replysize)
{
    const struct chat_tool_def *d = chat_tool_find(name);
    char shown[QUOTE_MAX + 1];
    json_error_t je;
    json_t *root;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (reply && replysize > 0)
        reply[0] = '\0';
    if (!d) {
        quote(shown, name ? name : "", name ? strlen(name) : 0, 0);
        sb_set_error(reply, replysize,
                     "error: there is no tool named \"%s\"; the tools are transfer_to_human, "
                     "end_call, take_message, switch_language and business_hours",
                     shown);
        utf8_fix(reply, replysize);
        return SB_ENOTFOUND;
    }
    if (!arguments || only_space(arguments))
        arguments = "{}";
    root = json_loads(arguments, 0, &je);
    if (!root) {
        if (json_error_code(&je) == json_error_out_of_memory) {
            sb_set_error(reply, replysize, "error: out of memory");
            return SB_ENOMEM;
        }
        sb_set_error(reply, replysize,
                     "error: the arguments of %s are not valid JSON (%s at byte %d); send a "
                     "JSON object",
                     d->name, je.text, je.position);
        utf8_fix(reply, replysize);
        return SB_EINVAL;
    }
    if (!json_is_object(root)) {
        sb_set_error(reply, replysize, "error: the arguments of %s must be a JSON object", d->name);
        rc = SB_EINVAL;
    }
    for (size_t i = 0; !rc && i < d->nparams; i++) {
        const struct chat_tool_param *p = &d->params[i];
        const json_t *v = get(root, p->name);
        size_t n;

        if (!v) {
            if (p->required) {
                sb_set_error(reply, replysize, "error: %s needs \"%s\" (a string)", d->name,
                             p->name);
                rc = SB_EINVAL;
            }
            continue;
        }
        if (!json_is_string(v)) {
            sb_set_error(reply, replysize, "error: \"%s\" of %s must be a string", p->name,
                         d->name);
            rc = SB_EINVAL;
            continue;
        }
        n = json_string_length(v);
        if (n == 0 && p->required) {
            sb_set_error(reply, replysize, "error: \"%s\" of %s must not be empty", p->name,
                         d->name);
            rc = SB_EINVAL;
        } else if (n > p->max_len) {
            sb_set_error(reply, replysize, "error: \"%s\" of %s is longer than %zu bytes", p->name,
                         d->name, p->max_len);
            rc = SB_EINVAL;
        } else if (p->is_language && !language_ok(json_string_value(v), n)) {
            quote(shown, json_string_value(v), n, 0);
            sb_set_error(reply, replysize,
                         "error: \"%s\" is not a language tag such as \"es-MX\" or \"en-US\"",
                         shown);
            rc = SB_EINVAL;
        } else {
            memcpy((char *)out + p->offset, json_string_value(v), n);
            ((char *)out + p->offset)[n] = '\0';
        }
    }
    json_decref(root);
    if (rc) {
        memset(out, 0, sizeof(*out));
        utf8_fix(reply, replysize);
        return rc;
    }
    out->tool = d->tool;
    return 0;
}
