#include "agent/chat_request.h"

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/utf8.h"
#include "core/banned.h"

/* ---- the tools ---------------------------------------------------------- */

#define ARG(field) offsetof(struct chat_tool_args, field)

static const struct chat_tool_def tools[CHAT_TOOL_COUNT] = {
    {CHAT_TOOL_TRANSFER_TO_HUMAN,
     "transfer_to_human",
     "Connect the caller with a person. Use it when the caller asks for a person or when you "
     "cannot help. Say a short sentence first, such as that you are connecting them.",
     1,
     {{"reason", "Why the caller wants a person, in a few words.", 0, CHAT_ARG_REASON_MAX,
       ARG(reason), 0}}},
    {CHAT_TOOL_END_CALL,
     "end_call",
     "Hang up. Use it only after saying goodbye, when the caller is done.",
     0,
     {{0}}},
    {CHAT_TOOL_TAKE_MESSAGE,
     "take_message",
     "Take a message for the business to call the caller back. Ask for every field first; "
     "repeat the number back to the caller before calling this.",
     3,
     {{"caller_name", "The caller's name.", 1, CHAT_ARG_NAME_MAX, ARG(caller_name), 0},
      {"callback_number", "The phone number to call back, as the caller gave it.", 1,
       CHAT_ARG_NUMBER_MAX, ARG(callback_number), 0},
      {"message", "The message, in the caller's words.", 1, CHAT_ARG_MESSAGE_MAX, ARG(message),
       0}}},
    {CHAT_TOOL_SWITCH_LANGUAGE,
     "switch_language",
     "Switch the language of the call (speech recognition and voice) when the caller speaks or "
     "asks for another language. Then answer in that language.",
     1,
     {{"language", "The BCP-47 tag of the language, such as \"es-MX\" or \"en-US\".", 1,
       CHAT_ARG_LANGUAGE_MAX, ARG(language), 1}}},
    {CHAT_TOOL_BUSINESS_HOURS,
     "business_hours",
     "Look up the business's opening hours and whether it is open now.",
     0,
     {{0}}},
};

const struct chat_tool_def *chat_tool_def(enum chat_tool tool)
{
    if ((int)tool < 0 || tool >= CHAT_TOOL_COUNT)
        return NULL;
    return &tools[tool];
}

const struct chat_tool_def *chat_tool_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < CHAT_TOOL_COUNT; i++)
        if (strcmp(tools[i].name, name) == 0)
            return &tools[i];
    return NULL;
}

/* ---- UTF-8 -------------------------------------------------------------- */

static int text_ok(const char *s)
{
    return s && utf8_valid(s, strlen(s));
}

/* ---- the history -------------------------------------------------------- */

void chat_history_init(struct chat_history *h, size_t max_bytes)
{
    memset(h, 0, sizeof(*h));
    h->max_bytes = max_bytes;
}

static void message_free(struct chat_message *m)
{
    free(m->content);
    for (size_t i = 0; i < m->ncalls; i++) {
        free(m->calls[i].id);
        free(m->calls[i].name);
        free(m->calls[i].arguments);
    }
    free(m->calls);
    free(m->tool_call_id);
    memset(m, 0, sizeof(*m));
}

void chat_history_release(struct chat_history *h)
{
    size_t max = h->max_bytes;

    for (size_t i = 0; i < h->n; i++)
        message_free(&h->msgs[i]);
    free(h->msgs);
    memset(h, 0, sizeof(*h));
    h->max_bytes = max;
}

static size_t slen(const char *s)
{
    return s ? strlen(s) : 0;
}

static size_t message_bytes(const struct chat_message *m)
{
    size_t n = CHAT_MESSAGE_OVERHEAD + slen(m->content) + slen(m->tool_call_id);

    for (size_t i = 0; i < m->ncalls; i++)
        n += CHAT_MESSAGE_OVERHEAD + slen(m->calls[i].id) + slen(m->calls[i].name) +
             slen(m->calls[i].arguments);
    return n;
}

/* Drops the oldest turns while over budget and more than one turn is held. */
static void history_trim(struct chat_history *h)
{
    while (h->bytes > h->max_bytes) {
        size_t k = 1;

        while (k < h->n && h->msgs[k].role != CHAT_ROLE_USER)
            k++;
        if (k >= h->n)
            return;
        for (size_t i = 0; i < k; i++) {
            h->bytes -= h->msgs[i].bytes;
            message_free(&h->msgs[i]);
        }
        memmove(h->msgs, h->msgs + k, (h->n - k) * sizeof(*h->msgs));
        h->n -= k;
        h->dropped += k;
    }
}

/* Takes ownership of *m (freed on failure too). */
static int history_push(struct chat_history *h, struct chat_message *m)
{
    m->bytes = message_bytes(m);
    if (m->bytes > h->max_bytes) {
        message_free(m);
        return SB_ETOOBIG;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        struct chat_message *msgs = realloc(h->msgs, cap * sizeof(*msgs));

        if (!msgs) {
            message_free(m);
            return SB_ENOMEM;
        }
        h->msgs = msgs;
        h->cap = cap;
    }
    h->msgs[h->n++] = *m;
    h->bytes += m->bytes;
    history_trim(h);
    return 0;
}

int chat_history_add_user(struct chat_history *h, const char *text)
{
    struct chat_message m = {0};

    if (!text_ok(text))
        return SB_EINVAL;
    m.role = CHAT_ROLE_USER;
    m.content = strdup(text);
    if (!m.content)
        return SB_ENOMEM;
    return history_push(h, &m);
}

int chat_history_pop_user(struct chat_history *h)
{
    struct chat_message *m = h->n ? &h->msgs[h->n - 1] : NULL;

    if (!m || m->role != CHAT_ROLE_USER)
        return SB_ENOTFOUND;
    h->bytes -= m->bytes;
    message_free(m);
    h->n--;
    return 0;
}

int chat_history_add_assistant(struct chat_history *h, const char *text,
                               const struct chat_call *calls, size_t ncalls)
{
    struct chat_message m = {0};

    if ((ncalls > 0 && !calls) || (ncalls == 0 && !text) || (text && !text_ok(text)))
        return SB_EINVAL;
    for (size_t i = 0; i < ncalls; i++) {
        const char *args = calls[i].arguments ? calls[i].arguments : "";

        if (!text_ok(calls[i].id) || !calls[i].id[0] || !text_ok(calls[i].name) ||
            !calls[i].name[0] || !text_ok(args))
            return SB_EINVAL;
    }
    m.role = CHAT_ROLE_ASSISTANT;
    if (text && (text[0] || ncalls == 0)) {
        m.content = strdup(text);
        if (!m.content)
            return SB_ENOMEM;
    }
    if (ncalls > 0) {
        m.calls = calloc(ncalls, sizeof(*m.calls));
        if (!m.calls) {
            message_free(&m);
            return SB_ENOMEM;
        }
        m.ncalls = ncalls;
        for (size_t i = 0; i < ncalls; i++) {
            m.calls[i].id = strdup(calls[i].id);
            m.calls[i].name = strdup(calls[i].name);
            m.calls[i].arguments = strdup(calls[i].arguments ? calls[i].arguments : "");
            if (!m.calls[i].id || !m.calls[i].name || !m.calls[i].arguments) {
                message_free(&m);
                return SB_ENOMEM;
            }
        }
    }
    return history_push(h, &m);
}

int chat_history_add_tool(struct chat_history *h, const char *tool_call_id, const char *text)
{
    struct chat_message m = {0};

    if (!text_ok(tool_call_id) || !tool_call_id[0] || !text_ok(text))
        return SB_EINVAL;
    m.role = CHAT_ROLE_TOOL;
    m.tool_call_id = strdup(tool_call_id);
    m.content = strdup(text);
    if (!m.tool_call_id || !m.content) {
        message_free(&m);
        return SB_ENOMEM;
    }
    return history_push(h, &m);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int chat_history_interrupt(struct chat_history *h, const char *heard)
{
    struct chat_message *m = NULL;
    size_t n, total;
    char *content;

    for (size_t i = h->n; i-- > 0;) {
        if (h->msgs[i].role == CHAT_ROLE_ASSISTANT && h->msgs[i].content) {
            m = &h->msgs[i];
            break;
        }
    }
    if (!m)
        return SB_ENOTFOUND;
    if (!heard)
        return SB_EINVAL;
    n = strlen(heard);
    total = strlen(m->content);
    if (n > total || memcmp(m->content, heard, n) != 0)
        return SB_EINVAL;
    while (n > 0 && n < total && ((unsigned char)m->content[n] & 0xc0) == 0x80)
        n--;
    while (n > 0 && is_space(m->content[n - 1]))
        n--;
    content = malloc(n + sizeof(" " CHAT_INTERRUPTED_MARK));
    if (!content)
        return SB_ENOMEM;
    memcpy(content, m->content, n);
    if (n > 0)
        memcpy(content + n, " " CHAT_INTERRUPTED_MARK, sizeof(" " CHAT_INTERRUPTED_MARK));
    else
        memcpy(content, CHAT_INTERRUPTED_MARK, sizeof(CHAT_INTERRUPTED_MARK));
    free(m->content);
    m->content = content;
    h->bytes -= m->bytes;
    m->bytes = message_bytes(m);
    h->bytes += m->bytes;
    history_trim(h);
    return 0;
}

/* ---- the system prompt -------------------------------------------------- */

static int nonempty(const char *s)
{
    return s && s[0];
}

int chat_system_prompt(const struct chat_context *ctx, struct buf *out, char *err, size_t errsize)
{
    size_t start = out->len;
    int rc = 0;

    if (!ctx || !nonempty(ctx->persona)) {
        sb_set_error(err, errsize, "the system prompt needs a persona");
        return SB_EINVAL;
    }
    if (!text_ok(ctx->persona) || (ctx->tenant_name && !text_ok(ctx->tenant_name)) ||
        (ctx->lang && !text_ok(ctx->lang)) || (ctx->local_time && !text_ok(ctx->local_time))) {
        sb_set_error(err, errsize, "the persona or a call fact is not valid UTF-8");
        return SB_EINVAL;
    }
    if (ctx->nknowledge > 0 && !ctx->knowledge) {
        sb_set_error(err, errsize, "knowledge passages are missing");
        return SB_EINVAL;
    }
    for (size_t i = 0; i < ctx->nknowledge; i++) {
        if (!text_ok(ctx->knowledge[i])) {
            sb_set_error(err, errsize, "knowledge passage %zu is not valid UTF-8", i + 1);
            return SB_EINVAL;
        }
    }

    rc = buf_puts(out, ctx->persona);
    if (!rc && ctx->nknowledge > 0)
        rc = buf_puts(out, "\n\nWhat the business knows (use it only when it answers the "
                           "caller; never make up facts):");
    for (size_t i = 0; !rc && i < ctx->nknowledge; i++)
        rc = buf_printf(out, "\n[%zu] %s", i + 1, ctx->knowledge[i]);
    if (!rc)
        rc = buf_puts(out, "\n\nAbout this call:");
    if (!rc && nonempty(ctx->tenant_name))
        rc = buf_printf(out, "\n- You answer the phone for %s.", ctx->tenant_name);
    if (!rc && nonempty(ctx->lang))
        rc = buf_printf(out,
                        "\n- The caller's language is %s. Answer in it; when the caller speaks "
                        "or asks for another language, call switch_language.",
                        ctx->lang);
    if (!rc && nonempty(ctx->local_time))
        rc = buf_printf(out, "\n- The local time is %s.", ctx->local_time);
    if (!rc)
        rc = buf_puts(out, ctx->can_transfer
                               ? "\n- A person can take the call: call transfer_to_human when "
                                 "the caller asks for one."
                               : "\n- Nobody can take the call now: offer to take a message "
                                 "instead.");
    if (!rc)
        rc = buf_puts(out, "\n- This is a phone call: answer in one or two short spoken "
                           "sentences, without lists, markdown, emojis or links.");
    if (!rc && out->len - start > CHAT_SYSTEM_MAX)
        rc = SB_ETOOBIG;
    if (rc == SB_ETOOBIG)
        sb_set_error(err, errsize, "the system prompt is too long");
    return rc;
}

/* ---- the request -------------------------------------------------------- */

/*
 * Sets obj[key] to v, taking v in every case: when *rc already holds an
 * error, or v is NULL (its allocation failed), v is dropped and *rc keeps
 * the first error. So a builder makes its calls in a row and checks once.
 */
static void put(int *rc, json_t *obj, const char *key, json_t *v)
{
    if (*rc || !v || !obj) {
        *rc = *rc ? *rc : SB_ENOMEM;
        json_decref(v);
    } else if (json_object_set_new(obj, key, v) != 0) {
        *rc = SB_ENOMEM;
    }
}

/* Appends v to arr, the same way. */
static void add(int *rc, json_t *arr, json_t *v)
{
    if (*rc || !v || !arr) {
        *rc = *rc ? *rc : SB_ENOMEM;
        json_decref(v);
    } else if (json_array_append_new(arr, v) != 0) {
        *rc = SB_ENOMEM;
    }
}

static json_t *tool_json(const struct chat_tool_def *d)
{
    json_t *t = json_object(), *fn = json_object(), *params = json_object();
    json_t *props = json_object(), *required = json_array();
    int rc = 0;

    for (size_t i = 0; i < d->nparams; i++) {
        const struct chat_tool_param *p = &d->params[i];
        json_t *prop = json_object();

        put(&rc, prop, "type", json_string("string"));
        put(&rc, prop, "description", json_string(p->description));
        put(&rc, props, p->name, prop);
        if (p->required)
            add(&rc, required, json_string(p->name));
    }
    put(&rc, params, "type", json_string("object"));
    put(&rc, params, "properties", props);
    put(&rc, params, "required", required);
    put(&rc, fn, "name", json_string(d->name));
    put(&rc, fn, "description", json_string(d->description));
    put(&rc, fn, "parameters", params);
    put(&rc, t, "type", json_string("function"));
    put(&rc, t, "function", fn);
    if (rc) {
        json_decref(t);
        return NULL;
    }
    return t;
}

static json_t *message_json(const struct chat_message *m)
{
    static const char *const roles[] = {"user", "assistant", "tool"};
    json_t *o = json_object();
    int rc = 0;

    put(&rc, o, "role", json_string(roles[m->role]));
    if (m->role == CHAT_ROLE_TOOL)
        put(&rc, o, "tool_call_id", json_string(m->tool_call_id));
    put(&rc, o, "content", m->content ? json_string(m->content) : json_null());
    if (m->ncalls > 0) {
        json_t *calls = json_array();

        for (size_t i = 0; i < m->ncalls; i++) {
            json_t *c = json_object(), *fn = json_object();

            put(&rc, fn, "name", json_string(m->calls[i].name));
            put(&rc, fn, "arguments", json_string(m->calls[i].arguments));
            put(&rc, c, "id", json_string(m->calls[i].id));
            put(&rc, c, "type", json_string("function"));
            put(&rc, c, "function", fn);
            add(&rc, calls, c);
        }
        put(&rc, o, "tool_calls", calls);
    }
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Every assistant tool call answered before the next other message; every answer to a call. */
static int check_pairs(const struct chat_history *h, char *err, size_t errsize)
{
    const struct chat_message *open = NULL; /* the assistant message whose calls are answered */
    unsigned char answered[64];

    for (size_t i = 0; i <= h->n; i++) {
        const struct chat_message *m = i < h->n ? &h->msgs[i] : NULL;

        if (m && m->role == CHAT_ROLE_TOOL) {
            size_t k = open ? open->ncalls : 0;

            for (size_t c = 0; c < k; c++) {
                if (strcmp(open->calls[c].id, m->tool_call_id) == 0 && !answered[c]) {
                    answered[c] = 1;
                    break;
                }
                if (c + 1 == k)
                    k = 0;
            }
            if (k == 0) {
                sb_set_error(err, errsize, "history message %zu answers no open tool call", i);
                return SB_EINVAL;
            }
            continue;
        }
        for (size_t c = 0; open && c < open->ncalls; c++) {
            if (!answered[c]) {
                sb_set_error(err, errsize, "tool call %s has no result in the history",
                             open->calls[c].id);
                return SB_EINVAL;
            }
        }
        open = NULL;
        if (m && m->ncalls > 0) {
            if (m->ncalls > sizeof(answered)) {
                sb_set_error(err, errsize, "history message %zu has too many tool calls", i);
                return SB_EINVAL;
            }
            memset(answered, 0, sizeof(answered));
            open = m;
        }
    }
    return 0;
}

struct dump_ctx {
    struct buf *out;
    int rc;
};

static int dump_to_buf(const char *s, size_t n, void *arg)
{
    struct dump_ctx *d = arg;

    d->rc = buf_append(d->out, s, n);
    return d->rc ? -1 : 0;
}

int chat_request_build(const struct chat_request_params *p, const struct chat_context *ctx,
                       const struct chat_history *h, struct buf *out, char *err, size_t errsize)
{
    struct buf system = BUF_INIT(CHAT_SYSTEM_MAX);
    json_t *root, *msgs, *sys, *so;
    struct dump_ctx d = {out, 0};
    int rc;

    if (!p || !nonempty(p->model) || !text_ok(p->model)) {
        sb_set_error(err, errsize, "the request needs a model name");
        return SB_EINVAL;
    }
    if (isnan(p->temperature) || p->temperature > 2.0) {
        sb_set_error(err, errsize, "temperature must be between 0 and 2");
        return SB_EINVAL;
    }
    if (p->tools & ~CHAT_TOOLS_ALL) {
        sb_set_error(err, errsize, "unknown tools in the tool set 0x%x", p->tools);
        return SB_EINVAL;
    }
    if (!h) {
        sb_set_error(err, errsize, "the request needs a history");
        return SB_EINVAL;
    }
    rc = check_pairs(h, err, errsize);
    if (rc)
        return rc;
    rc = chat_system_prompt(ctx, &system, err, errsize);
    if (rc) {
        buf_release(&system);
        return rc;
    }

    root = json_object();
    if (!root)
        rc = SB_ENOMEM;
    put(&rc, root, "model", json_string(p->model));
    put(&rc, root, "stream", json_true());
    so = json_object();
    put(&rc, so, "include_usage", json_true());
    put(&rc, root, "stream_options", so);
    if (p->temperature >= 0)
        put(&rc, root, "temperature", json_real(p->temperature));
    if (p->max_tokens > 0)
        put(&rc, root,
            p->max_tokens_field == CHAT_MAX_COMPLETION_TOKENS ? "max_completion_tokens"
                                                              : "max_tokens",
            json_integer((json_int_t)p->max_tokens));
    msgs = json_array();
    sys = json_object();
    put(&rc, sys, "role", json_string("system"));
    put(&rc, sys, "content", json_stringn(system.data, system.len));
    add(&rc, msgs, sys);
    for (size_t i = 0; i < h->n; i++)
        add(&rc, msgs, message_json(&h->msgs[i]));
    put(&rc, root, "messages", msgs);
    if (p->tools) {
        json_t *arr = json_array();

        for (size_t i = 0; i < CHAT_TOOL_COUNT; i++)
            if (p->tools & (1u << i))
                add(&rc, arr, tool_json(&tools[i]));
        put(&rc, root, "tools", arr);
    }
    if (!rc && json_dump_callback(root, dump_to_buf, &d, JSON_COMPACT | JSON_REAL_PRECISION(10)))
        rc = d.rc ? d.rc : SB_ENOMEM;
    if (rc == SB_ETOOBIG)
        sb_set_error(err, errsize, "the request body is too large");
    else if (rc == SB_ENOMEM)
        sb_set_error(err, errsize, "out of memory building the request");
    json_decref(root);
    buf_release(&system);
    return rc;
}
