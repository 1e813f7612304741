/*
 * Tests of switchboard sim llm's pure parts: script loading and its errors,
 * rule matching (substring, regex, tool results, defaults, the echo),
 * request checks, tokens, and the streamed chunks and whole completions
 * as OpenAI's Chat Completions API shapes them.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "sim/llm.h"

static struct sim_llm_script script;
static struct sim_llm_request req;
static struct sim_llm_answer ans;
static char err[512], param[64];

static void setup(void)
{
    memset(&script, 0, sizeof(script));
    memset(&req, 0, sizeof(req));
    memset(&ans, 0, sizeof(ans));
    memset(err, 0, sizeof(err));
}

static void teardown(void)
{
    sim_llm_script_release(&script);
    sim_llm_request_release(&req);
    sim_llm_answer_release(&ans);
}

TestSuite(sim_llm, .init = setup, .fini = teardown);

static void load(const char *text)
{
    sim_llm_script_release(&script);
    cr_assert_eq(sim_llm_script_parse(&script, text, strlen(text), err, sizeof(err)), 0, "%s: %s",
                 text, err);
}

static void refused(const char *text, const char *reason)
{
    sim_llm_script_release(&script);
    cr_assert_eq(sim_llm_script_parse(&script, text, strlen(text), err, sizeof(err)), SB_EPARSE,
                 "accepted: %s", text);
    cr_assert(strstr(err, reason), "'%s' gave '%s', not '%s'", text, err, reason);
    cr_assert_eq(script.count, 0);
    cr_assert_null(script.rules);
}

/* Parses a request that must be accepted. */
static void request(const char *body)
{
    sim_llm_request_release(&req);
    cr_assert_eq(
        sim_llm_request_parse(&req, body, strlen(body), err, sizeof(err), param, sizeof(param)), 0,
        "%s: %s", body, err);
}

static void bad_request(const char *body, const char *reason, const char *at)
{
    sim_llm_request_release(&req);
    cr_assert_eq(
        sim_llm_request_parse(&req, body, strlen(body), err, sizeof(err), param, sizeof(param)),
        SB_EPARSE, "accepted: %s", body);
    cr_assert(strstr(err, reason), "'%s' gave '%s', not '%s'", body, err, reason);
    cr_assert_str_eq(param, at);
}

/* A request whose last message is the user's `text`. */
static void user_says(const char *text)
{
    char body[1024];

    snprintf(body, sizeof(body),
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", text);
    request(body);
}

static void choose(void)
{
    sim_llm_answer_release(&ans);
    cr_assert_eq(
        sim_llm_choose(script.count || script.default_reply || script.tool_default ? &script : NULL,
                       &req, &ans),
        0);
}

static const char rules[] =
    "{\"rules\":["
    "{\"match\":\"opening hours\",\"reply\":\"We open at nine.\"},"
    "{\"regex\":\"^(hola|buenos d)\",\"reply\":\"¡Hola! ¿En qué puedo ayudarle?\"},"
    "{\"match\":\"human\",\"tool_call\":{\"name\":\"transfer_to_human\","
    "\"arguments\":{\"reason\":\"asked\"}}},"
    "{\"match\":\"tool:transfer_to_human\",\"reply\":\"Transferring you now.\"},"
    "{\"match\":\"busy\",\"error\":429},"
    "{\"match\":\"slow\",\"reply\":\"one two three\",\"stall_ms\":50,\"cut_after_tokens\":2}"
    "],\"default\":\"Sorry?\"}";

Test(sim_llm, script_rules_and_faults)
{
    load(rules);
    cr_assert_eq(script.count, 6);
    cr_assert_str_eq(script.rules[0].match, "opening hours");
    cr_assert(script.rules[1].is_regex);
    cr_assert_eq(script.rules[2].ncalls, 1);
    cr_assert_str_eq(script.rules[2].calls[0].name, "transfer_to_human");
    cr_assert_str_eq(script.rules[2].calls[0].arguments, "{\"reason\":\"asked\"}");
    cr_assert_str_eq(script.rules[3].tool, "transfer_to_human");
    cr_assert_eq(script.rules[4].error, 429);
    cr_assert_eq(script.rules[5].stall_ms, 50);
    cr_assert_eq(script.rules[5].cut_after_tokens, 2);
    cr_assert_eq(script.rules[0].stall_ms, -1);
    cr_assert_str_eq(script.default_reply, "Sorry?");
}

Test(sim_llm, script_errors_name_the_rule)
{
    refused("{\"rules\":[", "not JSON");
    refused("[]", "not a JSON object");
    refused("{\"rulez\":[]}", "unknown key 'rulez'");
    refused("{\"rules\":{}}", "\"rules\" is not an array");
    refused("{\"rules\":[{\"reply\":\"x\"}]}", "rules[0] needs exactly one of");
    refused("{\"rules\":[{\"match\":\"a\",\"regex\":\"b\",\"reply\":\"x\"}]}", "exactly one");
    refused("{\"rules\":[{\"match\":\"a\",\"reply\":\"x\"},{\"match\":\"b\"}]}",
            "rules[1] needs a \"reply\"");
    refused("{\"rules\":[{\"regex\":\"(\",\"reply\":\"x\"}]}", "does not compile");
    /* What would make regcomp take gigabytes: a repetition repeated, or a huge pattern. */
    refused("{\"rules\":[{\"regex\":\"^(ho++++++++ne.\",\"reply\":\"x\"}]}",
            "it repeats a repetition at byte 5");
    refused("{\"rules\":[{\"regex\":\"a*{2}\",\"reply\":\"x\"}]}", "repeats a repetition");
    refused("{\"rules\":[{\"regex\":\"a{2}+\",\"reply\":\"x\"}]}", "repeats a repetition");
    refused("{\"rules\":[{\"regex\":\"(x{9}){17}\",\"reply\":\"x\"}]}",
            "repeats more than 16 times at byte 6");
    refused("{\"rules\":[{\"regex\":\"a{2}b{2}c{2}\",\"reply\":\"x\"}]}",
            "more than 2 {n,m} repetitions");
    /* Plus signs that are characters, and repetitions of groups, stay allowed. */
    load("{\"rules\":[{\"regex\":\"^[+*]?\\\\++(ab)+c{1,2}(d+)?\",\"reply\":\"x\"}]}");
    refused("{\"rules\":[{\"match\":\"a\",\"reply\":\"x\",\"stall\":1}]}", "unknown key 'stall'");
    refused("{\"rules\":[{\"match\":\"a\",\"error\":404}]}", "not 429 or 500");
    refused("{\"rules\":[{\"match\":\"a\",\"reply\":\"x\",\"stall_ms\":-1}]}", "stall_ms");
    refused("{\"rules\":[{\"match\":\"a\",\"tool_call\":{\"name\":\"has space\"}}]}",
            "rules[0].tool_call needs a \"name\"");
    refused("{\"rules\":[{\"match\":\"a\",\"tool_call\":{\"name\":\"x\",\"arguments\":3}}]}",
            "\"arguments\" is not an object or a string");
    refused("{\"rules\":[{\"match\":\"a\",\"tool_calls\":[]}]}", "1 to 16 calls");
    refused("{\"rules\":[{\"match\":\"tool:bad name\",\"reply\":\"x\"}]}", "tool:NAME");
    refused("{\"rules\":[],\"default\":3}", "\"default\" is not a string");
}

Test(sim_llm, script_load_from_file)
{
    char path[] = "/tmp/sb-llm-script-XXXXXX";
    int fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, rules, strlen(rules)), (ssize_t)strlen(rules));
    close(fd);
    cr_assert_eq(sim_llm_script_load(&script, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(script.count, 6);
    sim_llm_script_release(&script);
    unlink(path);
    cr_assert_eq(sim_llm_script_load(&script, path, err, sizeof(err)), SB_EIO);
    cr_assert(strstr(err, "cannot read script"), "%s", err);
}

Test(sim_llm, rules_match_in_order_case_insensitive)
{
    load(rules);
    user_says("What are your OPENING Hours?");
    choose();
    cr_assert_str_eq(ans.content, "We open at nine.");
    cr_assert_eq(ans.rule, 0);
    user_says("HOLA, buenas");
    choose();
    cr_assert_str_eq(ans.content, "¡Hola! ¿En qué puedo ayudarle?");
    user_says("dime hola"); /* the regex is anchored */
    choose();
    cr_assert_str_eq(ans.content, "Sorry?");
    cr_assert_eq(ans.rule, -1);
    user_says("I want a human");
    choose();
    cr_assert_null(ans.content);
    cr_assert_eq(ans.ncalls, 1);
    cr_assert_str_eq(ans.calls[0].arguments, "{\"reason\":\"asked\"}");
    user_says("busy");
    choose();
    cr_assert_eq(ans.error, 429);
}

Test(sim_llm, tool_results_use_tool_rules_only)
{
    static const char result[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a human please\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
        "\"type\":\"function\",\"function\":{\"name\":\"%s\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"{\\\"ok\\\":true}\"}]}";
    char body[1024];

    load(rules);
    snprintf(body, sizeof(body), result, "transfer_to_human");
    request(body);
    cr_assert(req.is_tool_result);
    cr_assert_str_eq(req.subject, "transfer_to_human");
    choose();
    cr_assert_str_eq(ans.content, "Transferring you now.");
    /* Another tool: no rule, so the acknowledgement, never the "human" rule again. */
    snprintf(body, sizeof(body), result, "book");
    request(body);
    choose();
    cr_assert_str_eq(ans.content, "Done.");
    load("{\"rules\":[{\"match\":\"tool:*\",\"reply\":\"Any tool.\"}],\"tool_default\":\"OK.\"}");
    choose();
    cr_assert_str_eq(ans.content, "Any tool.");
    load("{\"tool_default\":\"OK.\"}");
    choose();
    cr_assert_str_eq(ans.content, "OK.");
}

Test(sim_llm, echo_without_script)
{
    user_says("¿Dónde está la estación? Gracias");
    choose();
    cr_assert_str_eq(ans.content, "You said: ¿Dónde está la estación? Gracias");
    load("{\"rules\":[{\"match\":\"x\",\"reply\":\"y\"}]}"); /* no default: still the echo */
    user_says("hello");
    choose();
    cr_assert_str_eq(ans.content, "You said: hello");
}

Test(sim_llm, request_fields)
{
    request("{\"model\":\"gpt-x\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            "\"max_tokens\":7,\"temperature\":0.2,\"tools\":[{\"type\":\"function\","
            "\"function\":{\"name\":\"book\"}}],\"tool_choice\":\"auto\",\"messages\":["
            "{\"role\":\"system\",\"content\":\"Be brief.\"},"
            "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"first part\"},"
            "{\"type\":\"text\",\"text\":\"second\"}]},"
            "{\"role\":\"assistant\",\"content\":\"ok\"}]}");
    cr_assert_str_eq(req.model, "gpt-x");
    cr_assert(req.stream);
    cr_assert(req.include_usage);
    cr_assert_eq(req.max_tokens, 7);
    cr_assert_not(req.is_tool_result);
    cr_assert_str_eq(req.subject, "first part\nsecond");
    cr_assert_eq(req.prompt_tokens, 6);
    request("{\"model\":\"m\",\"max_completion_tokens\":3,\"max_tokens\":9,"
            "\"messages\":[{\"role\":\"developer\",\"content\":\"x\"}]}");
    cr_assert_eq(req.max_tokens, 3);
    cr_assert_str_eq(req.subject, "");
}

Test(sim_llm, request_errors_name_the_parameter)
{
    bad_request("{\"model\":", "could not parse the JSON body", "");
    bad_request("[1]", "must be a JSON object", "");
    bad_request("{\"messages\":[]}", "you must provide a model parameter", "model");
    bad_request("{\"model\":\"m\"}", "missing required parameter: 'messages'", "messages");
    bad_request("{\"model\":\"m\",\"messages\":[]}", "non-empty array", "messages");
    bad_request("{\"model\":\"m\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
                "messages[0] has a \"role\" that is not", "messages[0]");
    bad_request("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
                "{\"role\":\"user\"}]}",
                "messages[1] has no \"content\"", "messages[1]");
    bad_request("{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
                "without a \"tool_call_id\"", "messages[0]");
    bad_request("{\"model\":\"m\",\"stream\":\"yes\",\"messages\":[{\"role\":\"user\","
                "\"content\":\"x\"}]}",
                "'stream' must be a boolean", "stream");
    bad_request("{\"model\":\"m\",\"temperature\":3,\"messages\":[{\"role\":\"user\","
                "\"content\":\"x\"}]}",
                "temperature", "temperature");
    bad_request("{\"model\":\"m\",\"max_tokens\":0,\"messages\":[{\"role\":\"user\","
                "\"content\":\"x\"}]}",
                "'max_tokens' must be a whole number", "max_tokens");
    bad_request("{\"model\":\"m\",\"tools\":[{\"type\":\"function\"}],\"messages\":[{\"role\":"
                "\"user\",\"content\":\"x\"}]}",
                "function name", "tools");
    bad_request("{\"model\":\"m\",\"tool_choice\":\"always\",\"messages\":[{\"role\":\"user\","
                "\"content\":\"x\"}]}",
                "tool_choice", "tool_choice");
}

Test(sim_llm, tokens_are_words_with_their_spaces)
{
    cr_assert_eq(sim_llm_token_len("We open  at"), 3);
    cr_assert_eq(sim_llm_token_len("  lead word"), 7);
    cr_assert_eq(sim_llm_token_len("última"), strlen("última"));
    cr_assert_eq(sim_llm_token_len(""), 0);
    cr_assert_eq(sim_llm_count_tokens("We open at nine."), 4);
    cr_assert_eq(sim_llm_count_tokens("   "), 1);
    cr_assert_eq(sim_llm_count_tokens(""), 0);
}

/* Runs a stream to its end; returns the events as parsed JSON (NULL for [DONE]) in `events`. */
static size_t run_stream(json_t **events, size_t max, int *kinds)
{
    struct sim_llm_stream st;
    struct buf out = BUF_INIT(1 << 20);
    size_t n = 0;
    int kind;

    sim_llm_stream_init(&st, "chatcmpl-t1", req.model, 1700000000, &ans, &req);
    while ((kind = sim_llm_stream_next(&st, &out)) != SIM_LLM_EV_END) {
        json_error_t jerr;

        cr_assert_gt(kind, 0);
        cr_assert_lt(n, max);
        cr_assert_eq(strncmp(out.data, "data: ", 6), 0, "%s", out.data);
        cr_assert_eq(strcmp(out.data + out.len - 2, "\n\n"), 0, "%s", out.data);
        cr_assert_null(memchr(out.data, '\n', out.len - 2), "one line per event: %s", out.data);
        kinds[n] = kind;
        if (kind == SIM_LLM_EV_DONE) {
            cr_assert_str_eq(out.data, "data: [DONE]\n\n");
            events[n++] = NULL;
        } else {
            out.data[out.len - 2] = '\0';
            events[n] = json_loads(out.data + 6, 0, &jerr);
            cr_assert_not_null(events[n], "%s: %s", out.data, jerr.text);
            n++;
        }
        buf_reset(&out);
    }
    buf_release(&out);
    return n;
}

static void free_events(json_t **events, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(events[i]);
}

static json_t *delta_of(json_t *chunk)
{
    return json_object_get(json_array_get(json_object_get(chunk, "choices"), 0), "delta");
}

static const char *finish_of(json_t *chunk)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(chunk, "choices"), 0), "finish_reason"));
}

Test(sim_llm, stream_of_text_with_usage)
{
    json_t *ev[32];
    int kinds[32];
    size_t n;
    char text[256] = "";

    request("{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            "\"messages\":[{\"role\":\"user\",\"content\":\"¿Qué tal?\"}]}");
    choose();
    n = run_stream(ev, 32, kinds);
    /* role, 4 tokens ("You said: ¿Qué tal?"), finish, usage, [DONE] */
    cr_assert_eq(n, 1 + 4 + 1 + 1 + 1, "%zu events", n);
    for (size_t i = 0; i + 1 < n; i++) {
        cr_assert_str_eq(json_string_value(json_object_get(ev[i], "id")), "chatcmpl-t1");
        cr_assert_str_eq(json_string_value(json_object_get(ev[i], "object")),
                         "chat.completion.chunk");
        cr_assert_eq(json_integer_value(json_object_get(ev[i], "created")), 1700000000);
        cr_assert_str_eq(json_string_value(json_object_get(ev[i], "model")), "gpt-4o");
        cr_assert(json_object_get(ev[i], "usage"), "usage on every chunk");
    }
    cr_assert_str_eq(json_string_value(json_object_get(delta_of(ev[0]), "role")), "assistant");
    cr_assert_str_eq(json_string_value(json_object_get(delta_of(ev[0]), "content")), "");
    cr_assert_eq(kinds[0], SIM_LLM_EV_CHUNK);
    for (size_t i = 1; i <= 4; i++) {
        cr_assert_eq(kinds[i], SIM_LLM_EV_TOKEN);
        cr_assert_null(json_object_get(delta_of(ev[i]), "role"));
        strcat(text, json_string_value(json_object_get(delta_of(ev[i]), "content")));
        cr_assert(json_is_null(json_object_get(json_array_get(json_object_get(ev[i], "choices"), 0),
                                               "finish_reason")));
        cr_assert(json_is_null(json_object_get(ev[i], "usage")));
    }
    cr_assert_str_eq(text, "You said: ¿Qué tal?");
    cr_assert_str_eq(finish_of(ev[5]), "stop");
    cr_assert_eq(json_object_size(delta_of(ev[5])), 0);
    cr_assert_eq(json_array_size(json_object_get(ev[6], "choices")), 0);
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(ev[6], "usage"), "completion_tokens")),
        4);
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(ev[6], "usage"), "total_tokens")), 6);
    cr_assert_null(ev[7]);
    free_events(ev, n);
}

Test(sim_llm, stream_without_usage_has_no_usage_key)
{
    json_t *ev[16];
    int kinds[16];
    size_t n;

    request("{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\","
            "\"content\":\"hi\"}]}");
    choose();
    n = run_stream(ev, 16, kinds);
    cr_assert_eq(n, 1 + 3 + 1 + 1);
    for (size_t i = 0; i + 1 < n; i++)
        cr_assert_null(json_object_get(ev[i], "usage"));
    free_events(ev, n);
}

Test(sim_llm, stream_of_tool_calls_in_pieces)
{
    json_t *ev[64];
    int kinds[64];
    size_t n;
    char args[2][256] = {"", ""};

    load("{\"rules\":[{\"match\":\"book\",\"tool_calls\":["
         "{\"name\":\"book\",\"arguments\":{\"day\":\"martes\",\"note\":\"señora Núñez\"}},"
         "{\"name\":\"notify\",\"arguments\":\"not json\"}]}]}");
    request("{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\","
            "\"content\":\"book me\"}]}");
    choose();
    n = run_stream(ev, 64, kinds);
    {
        json_t *first = json_array_get(json_object_get(delta_of(ev[0]), "tool_calls"), 0);

        cr_assert_str_eq(json_string_value(json_object_get(delta_of(ev[0]), "role")), "assistant");
        cr_assert(json_is_null(json_object_get(delta_of(ev[0]), "content")));
        cr_assert_eq(json_integer_value(json_object_get(first, "index")), 0);
        cr_assert_str_eq(json_string_value(json_object_get(first, "id")), "call_t1_0");
        cr_assert_str_eq(json_string_value(json_object_get(first, "type")), "function");
        cr_assert_str_eq(
            json_string_value(json_object_get(json_object_get(first, "function"), "name")), "book");
        cr_assert_str_eq(
            json_string_value(json_object_get(json_object_get(first, "function"), "arguments")),
            "");
    }
    for (size_t i = 1; i + 2 < n; i++) {
        json_t *tc = json_array_get(json_object_get(delta_of(ev[i]), "tool_calls"), 0);
        size_t k = (size_t)json_integer_value(json_object_get(tc, "index"));
        const char *piece =
            json_string_value(json_object_get(json_object_get(tc, "function"), "arguments"));

        cr_assert_lt(k, 2);
        if (json_object_get(tc, "id")) {
            cr_assert_eq(kinds[i], SIM_LLM_EV_CHUNK);
            cr_assert_str_eq(json_string_value(json_object_get(tc, "id")), "call_t1_1");
            cr_assert_str_eq(piece, "");
        } else {
            cr_assert_eq(kinds[i], SIM_LLM_EV_TOKEN);
            cr_assert_leq(strlen(piece), SIM_LLM_ARG_PIECE + 1);
        }
        strcat(args[k], piece);
    }
    cr_assert_str_eq(args[0], "{\"day\":\"martes\",\"note\":\"señora Núñez\"}");
    cr_assert_str_eq(args[1], "not json");
    cr_assert_str_eq(finish_of(ev[n - 2]), "tool_calls");
    cr_assert_null(ev[n - 1]);
    free_events(ev, n);
}

Test(sim_llm, max_tokens_stops_with_length)
{
    json_t *ev[16];
    int kinds[16];
    size_t n;
    char *doc;
    json_t *j;

    request("{\"model\":\"m\",\"stream\":true,\"max_tokens\":2,\"messages\":[{\"role\":\"user\","
            "\"content\":\"one two three\"}]}");
    choose();
    n = run_stream(ev, 16, kinds);
    cr_assert_eq(n, 1 + 2 + 1 + 1);
    cr_assert_str_eq(finish_of(ev[3]), "length");
    free_events(ev, n);
    doc = sim_llm_completion_json("chatcmpl-t2", "m", 1, &ans, &req);
    j = json_loads(doc, 0, NULL);
    cr_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message"),
            "content")),
        "You said: ");
    json_decref(j);
    free(doc);
}

Test(sim_llm, whole_completion)
{
    char *doc;
    json_t *j, *choice, *message, *call;

    load(rules);
    user_says("a human please");
    choose();
    doc = sim_llm_completion_json("chatcmpl-t3", "gpt-4o", 1700000000, &ans, &req);
    cr_assert_not_null(doc);
    j = json_loads(doc, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "object")), "chat.completion");
    cr_assert_str_eq(json_string_value(json_object_get(j, "id")), "chatcmpl-t3");
    choice = json_array_get(json_object_get(j, "choices"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(choice, "finish_reason")), "tool_calls");
    message = json_object_get(choice, "message");
    cr_assert_str_eq(json_string_value(json_object_get(message, "role")), "assistant");
    cr_assert(json_is_null(json_object_get(message, "content")));
    call = json_array_get(json_object_get(message, "tool_calls"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(call, "id")), "call_t3_0");
    cr_assert_null(json_object_get(call, "index"));
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(call, "function"), "arguments")),
        "{\"reason\":\"asked\"}");
    cr_assert(json_is_integer(json_object_get(json_object_get(j, "usage"), "total_tokens")));
    json_decref(j);
    free(doc);
}

Test(sim_llm, error_document)
{
    char *doc = sim_llm_error_json("incorrect API key provided", "invalid_request_error", NULL,
                                   "invalid_api_key");
    json_t *j = json_loads(doc, 0, NULL), *e = json_object_get(j, "error");

    cr_assert_str_eq(json_string_value(json_object_get(e, "message")),
                     "incorrect API key provided");
    cr_assert_str_eq(json_string_value(json_object_get(e, "type")), "invalid_request_error");
    cr_assert(json_is_null(json_object_get(e, "param")));
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), "invalid_api_key");
    json_decref(j);
    free(doc);
}
