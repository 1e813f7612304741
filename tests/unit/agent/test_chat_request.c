/* Tests of src/agent/chat_request.c: the history, the system prompt, the tools, the body. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/chat_request.h"
#include "core/buf.h"
#include "core/err.h"

#define ES_PERSONA "Eres la recepcionista de la Clínica Dental Muñoz."
#define ES_USER "¿Tienen cita el sábado a las 9.30? Soy la señora Peña."
#define ES_REPLY "Sí, el sábado a las 9.30 está libre. ¿Le apunto?"

static const char *const passages[] = {
    "Horario: lunes a viernes de 9 a 18 h; sábados de 9 a 13 h.",
    "Limpieza dental: 45 €.",
};

static struct chat_context es_ctx(void)
{
    struct chat_context c = {ES_PERSONA, passages,       2, "Clínica Dental Muñoz",
                             "es-MX",    "sábado 10:15", 1};
    return c;
}

static struct chat_request_params params(void)
{
    struct chat_request_params p = {"gpt-4o-mini", 0.4, 150, CHAT_MAX_TOKENS, CHAT_TOOLS_ALL};
    return p;
}

/* Builds the body and parses it back. */
static json_t *build(const struct chat_request_params *p, const struct chat_context *c,
                     const struct chat_history *h, struct buf *raw)
{
    char err[200] = "";
    json_error_t je;
    json_t *root;
    int rc = chat_request_build(p, c, h, raw, err, sizeof(err));

    cr_assert_eq(rc, 0, "build: %d %s", rc, err);
    root = json_loadb(raw->data, raw->len, 0, &je);
    cr_assert_not_null(root, "body is not JSON: %s", je.text);
    return root;
}

static const char *str_at(json_t *obj, const char *path)
{
    /* path: keys and [n] separated by '.', e.g. "messages.1.content" */
    char tmp[200];
    char *save = NULL, *tok;
    json_t *v = obj;

    snprintf(tmp, sizeof(tmp), "%s", path);
    for (tok = strtok_r(tmp, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
        if (tok[0] >= '0' && tok[0] <= '9')
            v = json_array_get(v, (size_t)strtoul(tok, NULL, 10));
        else
            v = json_object_get(v, tok);
    }
    cr_assert(json_is_string(v), "%s is not a string", path);
    return json_string_value(v);
}

Test(chat_tools, table_and_lookup)
{
    const struct chat_tool_def *d = chat_tool_find("take_message");

    cr_assert_not_null(d);
    cr_assert_eq(d->tool, CHAT_TOOL_TAKE_MESSAGE);
    cr_assert_eq(d->nparams, 3);
    cr_assert_str_eq(d->params[1].name, "callback_number");
    cr_assert_eq(chat_tool_find("transfer_to_human")->tool, CHAT_TOOL_TRANSFER_TO_HUMAN);
    cr_assert_eq(chat_tool_find("end_call")->nparams, 0);
    cr_assert_eq(chat_tool_find("business_hours")->tool, CHAT_TOOL_BUSINESS_HOURS);
    cr_assert_eq(chat_tool_find("switch_language")->params[0].is_language, 1);
    cr_assert_null(chat_tool_find("rm_rf"));
    cr_assert_null(chat_tool_find(NULL));
    cr_assert_null(chat_tool_def(CHAT_TOOL_COUNT));
    cr_assert_str_eq(chat_tool_def(CHAT_TOOL_END_CALL)->name, "end_call");
}

Test(chat_prompt, spanish_call_facts_exact)
{
    struct buf b = BUF_INIT(CHAT_SYSTEM_MAX);
    struct chat_context c = es_ctx();
    char err[100] = "";

    cr_assert_eq(chat_system_prompt(&c, &b, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(b.data, ES_PERSONA
                     "\n\nWhat the business knows (use it only when it answers the caller; "
                     "never make up facts):"
                     "\n[1] Horario: lunes a viernes de 9 a 18 h; sábados de 9 a 13 h."
                     "\n[2] Limpieza dental: 45 €."
                     "\n\nAbout this call:"
                     "\n- You answer the phone for Clínica Dental Muñoz."
                     "\n- The caller's language is es-MX. Answer in it; when the caller "
                     "speaks or asks for another language, call switch_language."
                     "\n- The local time is sábado 10:15."
                     "\n- A person can take the call: call transfer_to_human when the "
                     "caller asks for one."
                     "\n- This is a phone call: answer in one or two short spoken "
                     "sentences, without lists, markdown, emojis or links.");
    buf_release(&b);
}

Test(chat_prompt, minimal_and_refusals)
{
    struct buf b = BUF_INIT(CHAT_SYSTEM_MAX);
    struct chat_context c = {"Be brief.", NULL, 0, NULL, "", NULL, 0};
    const char *bad[] = {"ok", "caf\xc3"};
    char err[100] = "";

    cr_assert_eq(chat_system_prompt(&c, &b, err, sizeof(err)), 0);
    cr_assert_str_eq(b.data, "Be brief.\n\nAbout this call:"
                             "\n- Nobody can take the call now: offer to take a message instead."
                             "\n- This is a phone call: answer in one or two short spoken "
                             "sentences, without lists, markdown, emojis or links.");
    buf_reset(&b);
    c.persona = "";
    cr_assert_eq(chat_system_prompt(&c, &b, err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "the system prompt needs a persona");
    c.persona = "x";
    c.knowledge = bad;
    c.nknowledge = 2;
    cr_assert_eq(chat_system_prompt(&c, &b, err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "knowledge passage 2 is not valid UTF-8");
    buf_release(&b);
}

Test(chat_prompt, too_long)
{
    static char big[CHAT_SYSTEM_MAX + 10];
    struct buf b = BUF_INIT(1 << 20);
    struct chat_context c = {big, NULL, 0, NULL, NULL, NULL, 0};
    char err[100] = "";

    memset(big, 'a', sizeof(big) - 1);
    cr_assert_eq(chat_system_prompt(&c, &b, err, sizeof(err)), SB_ETOOBIG);
    cr_assert_str_eq(err, "the system prompt is too long");
    buf_release(&b);
}

/* A Spanish conversation with a tool call and its result, through the body and back. */
Test(chat_request, spanish_conversation_round_trips)
{
    struct chat_history h;
    struct chat_call call = {"call_abc", "take_message",
                             "{\"caller_name\":\"Peña\",\"callback_number\":\"+52 55 1234 "
                             "5678\",\"message\":\"¿Me llaman?\"}"};
    struct chat_request_params p = params();
    struct chat_context c = es_ctx();
    struct buf raw = BUF_INIT(1 << 20), sys = BUF_INIT(CHAT_SYSTEM_MAX);
    json_t *root, *msgs, *tools;
    char err[100];

    chat_history_init(&h, 10000);
    cr_assert_eq(chat_history_add_assistant(&h, "¡Hola! ¿En qué puedo ayudarle?", NULL, 0), 0);
    cr_assert_eq(chat_history_add_user(&h, ES_USER), 0);
    cr_assert_eq(chat_history_add_assistant(&h, ES_REPLY, NULL, 0), 0);
    cr_assert_eq(chat_history_add_user(&h, "Mejor déjele un recado."), 0);
    cr_assert_eq(chat_history_add_assistant(&h, NULL, &call, 1), 0);
    cr_assert_eq(chat_history_add_tool(&h, "call_abc", "{\"ok\":true}"), 0);
    cr_assert_eq(h.n, 6);

    root = build(&p, &c, &h, &raw);
    /* UTF-8 goes out as is, not as \u escapes */
    cr_assert_not_null(
        strstr(raw.data, "\"¿Tienen cita el sábado a las 9.30? Soy la señora Peña.\""));
    cr_assert_str_eq(str_at(root, "model"), "gpt-4o-mini");
    cr_assert(json_is_true(json_object_get(root, "stream")));
    cr_assert(
        json_is_true(json_object_get(json_object_get(root, "stream_options"), "include_usage")));
    cr_assert_float_eq(json_real_value(json_object_get(root, "temperature")), 0.4, 1e-12);
    cr_assert_not_null(strstr(raw.data, "\"temperature\":0.4,"));
    cr_assert_eq(json_integer_value(json_object_get(root, "max_tokens")), 150);
    cr_assert_null(json_object_get(root, "max_completion_tokens"));

    msgs = json_object_get(root, "messages");
    cr_assert_eq(json_array_size(msgs), 7);
    cr_assert_eq(chat_system_prompt(&c, &sys, err, sizeof(err)), 0);
    cr_assert_str_eq(str_at(root, "messages.0.role"), "system");
    cr_assert_str_eq(str_at(root, "messages.0.content"), sys.data);
    cr_assert_str_eq(str_at(root, "messages.1.role"), "assistant");
    cr_assert_str_eq(str_at(root, "messages.1.content"), "¡Hola! ¿En qué puedo ayudarle?");
    cr_assert_str_eq(str_at(root, "messages.2.role"), "user");
    cr_assert_str_eq(str_at(root, "messages.2.content"), ES_USER);
    cr_assert_str_eq(str_at(root, "messages.3.content"), ES_REPLY);
    cr_assert_str_eq(str_at(root, "messages.5.role"), "assistant");
    cr_assert(json_is_null(json_object_get(json_array_get(msgs, 5), "content")));
    cr_assert_str_eq(str_at(root, "messages.5.tool_calls.0.id"), "call_abc");
    cr_assert_str_eq(str_at(root, "messages.5.tool_calls.0.type"), "function");
    cr_assert_str_eq(str_at(root, "messages.5.tool_calls.0.function.name"), "take_message");
    cr_assert_str_eq(str_at(root, "messages.5.tool_calls.0.function.arguments"), call.arguments);
    cr_assert_str_eq(str_at(root, "messages.6.role"), "tool");
    cr_assert_str_eq(str_at(root, "messages.6.tool_call_id"), "call_abc");
    cr_assert_str_eq(str_at(root, "messages.6.content"), "{\"ok\":true}");
    cr_assert_null(json_object_get(json_array_get(msgs, 6), "name"));

    tools = json_object_get(root, "tools");
    cr_assert_eq(json_array_size(tools), 5);
    cr_assert_str_eq(str_at(root, "tools.0.type"), "function");
    cr_assert_str_eq(str_at(root, "tools.0.function.name"), "transfer_to_human");
    cr_assert_str_eq(str_at(root, "tools.1.function.name"), "end_call");
    cr_assert_str_eq(str_at(root, "tools.2.function.name"), "take_message");
    cr_assert_str_eq(str_at(root, "tools.3.function.name"), "switch_language");
    cr_assert_str_eq(str_at(root, "tools.4.function.name"), "business_hours");
    cr_assert_str_eq(str_at(root, "tools.0.function.parameters.type"), "object");
    cr_assert_str_eq(str_at(root, "tools.0.function.parameters.properties.reason.type"), "string");
    cr_assert_eq(
        json_array_size(json_object_get(
            json_object_get(json_object_get(json_array_get(tools, 0), "function"), "parameters"),
            "required")),
        0);
    cr_assert_str_eq(str_at(root, "tools.2.function.parameters.required.0"), "caller_name");
    cr_assert_str_eq(str_at(root, "tools.2.function.parameters.required.1"), "callback_number");
    cr_assert_str_eq(str_at(root, "tools.2.function.parameters.required.2"), "message");
    cr_assert_str_eq(str_at(root, "tools.3.function.parameters.required.0"), "language");
    cr_assert_eq(
        json_object_size(json_object_get(
            json_object_get(json_object_get(json_array_get(tools, 4), "function"), "parameters"),
            "properties")),
        0);
    json_decref(root);
    buf_release(&raw);
    buf_release(&sys);
    chat_history_release(&h);
}

Test(chat_request, optional_fields_and_tool_subset)
{
    struct chat_history h;
    struct chat_request_params p = params();
    struct chat_context c = es_ctx();
    struct buf raw = BUF_INIT(1 << 20);
    json_t *root;

    chat_history_init(&h, 1000);
    cr_assert_eq(chat_history_add_user(&h, "hola"), 0);
    p.temperature = -1;
    p.max_tokens = 0;
    p.tools = 0;
    root = build(&p, &c, &h, &raw);
    cr_assert_null(json_object_get(root, "temperature"));
    cr_assert_null(json_object_get(root, "max_tokens"));
    cr_assert_null(json_object_get(root, "max_completion_tokens"));
    cr_assert_null(json_object_get(root, "tools"));
    cr_assert_null(json_object_get(root, "tool_choice"));
    json_decref(root);

    buf_reset(&raw);
    p.temperature = 0;
    p.max_tokens = 99;
    p.max_tokens_field = CHAT_MAX_COMPLETION_TOKENS;
    p.tools = (1u << CHAT_TOOL_END_CALL) | (1u << CHAT_TOOL_SWITCH_LANGUAGE);
    root = build(&p, &c, &h, &raw);
    cr_assert_not_null(strstr(raw.data, "\"temperature\":0.0,"));
    cr_assert_null(json_object_get(root, "max_tokens"));
    cr_assert_eq(json_integer_value(json_object_get(root, "max_completion_tokens")), 99);
    cr_assert_eq(json_array_size(json_object_get(root, "tools")), 2);
    cr_assert_str_eq(str_at(root, "tools.0.function.name"), "end_call");
    cr_assert_str_eq(str_at(root, "tools.1.function.name"), "switch_language");
    json_decref(root);
    buf_release(&raw);
    chat_history_release(&h);
}

static void build_fails(const struct chat_request_params *p, const struct chat_context *c,
                        const struct chat_history *h, size_t max, int code, const char *why)
{
    struct buf raw = BUF_INIT(max);
    char err[200] = "";

    cr_assert_eq(chat_request_build(p, c, h, &raw, err, sizeof(err)), code, "%s", err);
    cr_assert_str_eq(err, why);
    buf_release(&raw);
}

Test(chat_request, refusals)
{
    struct chat_history h;
    struct chat_request_params p = params();
    struct chat_context c = es_ctx();
    struct chat_call calls[2] = {{"c1", "end_call", "{}"}, {"c2", "business_hours", ""}};

    chat_history_init(&h, 10000);
    cr_assert_eq(chat_history_add_user(&h, "hola"), 0);
    p.model = "";
    build_fails(&p, &c, &h, 1 << 20, SB_EINVAL, "the request needs a model name");
    p = params();
    p.temperature = 2.5;
    build_fails(&p, &c, &h, 1 << 20, SB_EINVAL, "temperature must be between 0 and 2");
    p = params();
    p.tools = 1u << 9;
    build_fails(&p, &c, &h, 1 << 20, SB_EINVAL, "unknown tools in the tool set 0x200");
    p = params();
    build_fails(&p, &c, &h, 100, SB_ETOOBIG, "the request body is too large");

    /* a call without its result, then with only one of two results */
    cr_assert_eq(chat_history_add_assistant(&h, "Un momento.", calls, 2), 0);
    build_fails(&p, &c, &h, 1 << 20, SB_EINVAL, "tool call c1 has no result in the history");
    cr_assert_eq(chat_history_add_tool(&h, "c2", "9 a 18"), 0);
    build_fails(&p, &c, &h, 1 << 20, SB_EINVAL, "tool call c1 has no result in the history");
    cr_assert_eq(chat_history_add_tool(&h, "c1", "ok"), 0);
    {
        struct buf raw = BUF_INIT(1 << 20);
        char err[100] = "";

        cr_assert_eq(chat_request_build(&p, &c, &h, &raw, err, sizeof(err)), 0, "%s", err);
        buf_release(&raw);
    }
    /* a result that answers nothing */
    cr_assert_eq(chat_history_add_tool(&h, "c1", "again"), 0);
    build_fails(&p, &c, &h, 1 << 20, SB_EINVAL, "history message 4 answers no open tool call");
    chat_history_release(&h);
}

Test(chat_history, appends_refuse_bad_input)
{
    struct chat_history h;
    struct chat_call nameless = {"c1", "", "{}"};

    chat_history_init(&h, 100);
    cr_assert_eq(chat_history_add_user(&h, NULL), SB_EINVAL);
    cr_assert_eq(chat_history_add_user(&h, "caf\xc3"), SB_EINVAL);
    cr_assert_eq(chat_history_add_user(&h, "\xed\xa0\x80"), SB_EINVAL); /* a surrogate */
    cr_assert_eq(chat_history_add_user(&h, "\xc0\xaf"), SB_EINVAL);     /* overlong */
    cr_assert_eq(chat_history_add_assistant(&h, NULL, NULL, 0), SB_EINVAL);
    cr_assert_eq(chat_history_add_assistant(&h, NULL, &nameless, 1), SB_EINVAL);
    cr_assert_eq(chat_history_add_tool(&h, "", "x"), SB_EINVAL);
    cr_assert_eq(chat_history_add_user(&h, "una frase demasiado larga para un presupuesto de cien "
                                           "bytes, que no cabe de ninguna manera aquí"),
                 SB_ETOOBIG);
    cr_assert_eq(h.n, 0);
    cr_assert_eq(h.bytes, 0);
    cr_assert_eq(chat_history_add_user(&h, "ñ"), 0);
    cr_assert_eq(h.bytes, CHAT_MESSAGE_OVERHEAD + 2);
    chat_history_release(&h);
    cr_assert_eq(h.n, 0);
    cr_assert_eq(h.max_bytes, 100);
}

/* Each user turn: 16 + 10 bytes; each reply 16 + 10. */
Test(chat_history, budget_drops_whole_turns)
{
    struct chat_history h;
    struct chat_call call = {"id1", "business_hours", ""}; /* 16 + 3 + 14 */

    chat_history_init(&h, 200);
    cr_assert_eq(chat_history_add_assistant(&h, "greeting!!", NULL, 0), 0);
    cr_assert_eq(chat_history_add_user(&h, "user one.."), 0);
    cr_assert_eq(chat_history_add_assistant(&h, "reply one.", NULL, 0), 0);
    cr_assert_eq(chat_history_add_user(&h, "user two.."), 0);
    cr_assert_eq(chat_history_add_assistant(&h, NULL, &call, 1), 0);
    cr_assert_eq(chat_history_add_tool(&h, "id1", "open 9-5.."), 0);
    cr_assert_eq(h.bytes, 26 * 4 + 49 + 29);
    cr_assert_eq(h.n, 6);
    cr_assert_eq(h.dropped, 0);

    /* 208 > 200: the greeting goes (a turn of its own) */
    cr_assert_eq(chat_history_add_assistant(&h, "reply two.", NULL, 0), 0);
    cr_assert_eq(h.dropped, 1, "dropped %zu", h.dropped);
    cr_assert_eq(h.n, 6);
    cr_assert_str_eq(h.msgs[0].content, "user one..");
    cr_assert_eq(h.bytes, 182);

    /* then user one with its reply */
    cr_assert_eq(chat_history_add_user(&h, "user three"), 0);
    cr_assert_eq(h.dropped, 3);
    cr_assert_eq(h.n, 5);
    cr_assert_eq(h.msgs[0].role, CHAT_ROLE_USER);
    cr_assert_str_eq(h.msgs[0].content, "user two..");
    cr_assert_eq(h.msgs[1].ncalls, 1);
    cr_assert_eq(h.msgs[2].role, CHAT_ROLE_TOOL);
    cr_assert_str_eq(h.msgs[3].content, "reply two.");
    cr_assert_eq(h.bytes, 156);

    /* the call and its result leave together; the newest turn stays even over budget */
    h.max_bytes = 50;
    cr_assert_eq(chat_history_add_assistant(&h, "reply 3...", NULL, 0), 0);
    cr_assert_eq(h.dropped, 7);
    cr_assert_eq(h.n, 2);
    cr_assert_str_eq(h.msgs[0].content, "user three");
    cr_assert_str_eq(h.msgs[1].content, "reply 3...");
    cr_assert_eq(h.bytes, 52);
    chat_history_release(&h);
}

Test(chat_history, interrupt_keeps_what_was_heard)
{
    struct chat_history h;
    struct chat_call call = {"c9", "end_call", "{}"};
    size_t before;

    chat_history_init(&h, 10000);
    cr_assert_eq(chat_history_interrupt(&h, ""), SB_ENOTFOUND);
    cr_assert_eq(chat_history_add_user(&h, "¿Qué horario tienen?"), 0);
    cr_assert_eq(chat_history_interrupt(&h, ""), SB_ENOTFOUND);
    cr_assert_eq(chat_history_add_assistant(&h, "Abrimos de lunes a viernes. ¿Algo más?", NULL, 0),
                 0);
    before = h.bytes;
    cr_assert_eq(chat_history_interrupt(&h, "Abrimos de martes"), SB_EINVAL);
    cr_assert_eq(chat_history_interrupt(&h, NULL), SB_EINVAL);
    cr_assert_eq(h.bytes, before);
    /* heard up to the middle of "¿": the half character goes, so does the space */
    cr_assert_eq(chat_history_interrupt(&h, "Abrimos de lunes a viernes. \xc2"), 0);
    cr_assert_str_eq(h.msgs[1].content, "Abrimos de lunes a viernes. [interrupted]");
    cr_assert_eq(h.bytes, before - strlen("Abrimos de lunes a viernes. ¿Algo más?") +
                              strlen("Abrimos de lunes a viernes. [interrupted]"));
    cr_assert_eq(chat_history_add_user(&h, "Perdón"), 0);
    cr_assert_eq(chat_history_add_assistant(&h, "Dígame.", &call, 1), 0);
    cr_assert_eq(chat_history_interrupt(&h, ""), 0);
    cr_assert_str_eq(h.msgs[3].content, "[interrupted]");
    cr_assert_eq(h.msgs[3].ncalls, 1);
    chat_history_release(&h);
}
