/* Tests of src/agent/chat_stream.c: chunks, tool-call deltas, errors, and checking calls. */
#include <criterion/criterion.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "agent/chat_stream.h"
#include "core/buf.h"
#include "core/err.h"

#define OAI_HEAD                                                                                   \
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"          \
    "\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_1\","
#define OAI(choice) OAI_HEAD "\"choices\":[" choice "],\"usage\":null}"
#define OLLAMA(choice)                                                                             \
    "{\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"          \
    "\"model\":\"llama3.2\",\"system_fingerprint\":\"fp_ollama\",\"choices\":[" choice "]}"

/* Feeds each event; returns the first failure (0 when none); the text is collected in *text. */
static int feed_all(struct chat_stream *cs, const char *const *events, size_t n, struct buf *text)
{
    for (size_t i = 0; i < n; i++) {
        struct chat_stream_delta d;
        int rc = chat_stream_feed(cs, NULL, events[i], strlen(events[i]), &d);

        if (rc) {
            cr_assert_null(d.text);
            return rc;
        }
        if (d.text)
            cr_assert_eq(buf_append(text, d.text, d.len), 0);
    }
    return 0;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

Test(chat_stream, openai_text_then_usage)
{
    const char *ev[] = {
        OAI("{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
            "\"logprobs\":null,\"finish_reason\":null}"),
        OAI("{\"index\":0,\"delta\":{\"content\":\"¡Claro! Abrimos\"},\"finish_reason\":null}"),
        OAI("{\"index\":0,\"delta\":{\"content\":\" a las 9.30. ¿Algo más?\"},\"finish_reason\":"
            "null}"),
        OAI("{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}"),
        OAI_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":5,"
                 "\"total_tokens\":25,\"prompt_tokens_details\":{\"cached_tokens\":0}}}",
        "[DONE]",
    };
    struct chat_stream cs;
    struct buf text = BUF_INIT(4096);
    struct chat_stream_delta d;

    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(feed_all(&cs, ev, N(ev), &text), 0, "%s", chat_stream_error(&cs));
    cr_assert_str_eq(text.data, "¡Claro! Abrimos a las 9.30. ¿Algo más?");
    cr_assert_str_eq(cs.content.data, "¡Claro! Abrimos a las 9.30. ¿Algo más?");
    cr_assert_eq(cs.finish, CHAT_FINISH_STOP);
    cr_assert_str_eq(cs.finish_text, "stop");
    cr_assert_eq(cs.usage.present, 1);
    cr_assert_eq(cs.usage.prompt_tokens, 20);
    cr_assert_eq(cs.usage.completion_tokens, 5);
    cr_assert_eq(cs.usage.total_tokens, 25);
    cr_assert_eq(cs.done, 1);
    cr_assert_eq(cs.ncalls, 0);
    /* after [DONE] nothing is read */
    cr_assert_eq(chat_stream_feed(&cs, NULL, "garbage", 7, &d), 0);
    cr_assert_null(d.text);
    cr_assert_eq(d.done, 0);
    cr_assert_eq(chat_stream_end(&cs), 0);
    cr_assert_str_eq(chat_stream_error(&cs), "");
    chat_stream_release(&cs);
    buf_release(&text);
}

Test(chat_stream, done_is_reported)
{
    struct chat_stream cs;
    struct chat_stream_delta d;

    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(chat_stream_feed(&cs, "message", "[DONE]", 6, &d), 0);
    cr_assert_eq(d.done, 1);
    cr_assert_eq(chat_stream_end(&cs), SB_EPARSE);
    cr_assert_str_eq(chat_stream_error(&cs), "the stream ended with [DONE] but no finish_reason");
    chat_stream_release(&cs);
}

/* OpenAI: some text, then one call in pieces, finish "tool_calls", usage, [DONE]. */
Test(chat_stream, openai_tool_call_in_pieces)
{
    const char *ev[] = {
        OAI("{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Le paso \"},"
            "\"finish_reason\":null}"),
        OAI("{\"index\":0,\"delta\":{\"content\":\"el recado.\"},\"finish_reason\":null}"),
        OAI("{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_Xy1\",\"type\":"
            "\"function\",\"function\":{\"name\":\"take_message\",\"arguments\":\"\"}}]},"
            "\"finish_reason\":null}"),
        OAI("{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
            "\"{\\\"caller_name\\\":\\\"Pe\"}}]},\"finish_reason\":null}"),
        OAI("{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
            "\"ña\\\",\\\"callback_number\\\":\\\"+5255\\\",\"}}]},\"finish_reason\":null}"),
        OAI("{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
            "\"\\\"message\\\":\\\"¿Me llaman?\\\"}\"}}]},\"finish_reason\":null}"),
        OAI("{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}"),
        OAI_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":300,\"completion_tokens\":40,"
                 "\"total_tokens\":340}}",
        "[DONE]",
    };
    struct chat_stream cs;
    struct buf text = BUF_INIT(4096);
    struct chat_call calls[4];
    struct chat_tool_args args;
    char reply[200];

    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(feed_all(&cs, ev, N(ev), &text), 0, "%s", chat_stream_error(&cs));
    cr_assert_eq(chat_stream_end(&cs), 0, "%s", chat_stream_error(&cs));
    cr_assert_str_eq(text.data, "Le paso el recado.");
    cr_assert_eq(cs.finish, CHAT_FINISH_TOOL_CALLS);
    cr_assert_eq(cs.ncalls, 1);
    cr_assert_eq(chat_stream_calls(&cs, calls, 4), 1);
    cr_assert_str_eq(calls[0].id, "call_Xy1");
    cr_assert_str_eq(calls[0].name, "take_message");
    cr_assert_str_eq(calls[0].arguments, "{\"caller_name\":\"Peña\",\"callback_number\":\"+5255\","
                                         "\"message\":\"¿Me llaman?\"}");
    cr_assert_eq(cs.usage.total_tokens, 340);
    cr_assert_eq(chat_tool_check(calls[0].name, calls[0].arguments, &args, reply, sizeof(reply)), 0,
                 "%s", reply);
    cr_assert_eq(args.tool, CHAT_TOOL_TAKE_MESSAGE);
    cr_assert_str_eq(args.caller_name, "Peña");
    cr_assert_str_eq(args.callback_number, "+5255");
    cr_assert_str_eq(args.message, "¿Me llaman?");
    cr_assert_str_eq(reply, "");
    chat_stream_release(&cs);
    buf_release(&text);
}

/* Ollama: each call whole in one delta, the finish in a chunk of its own. */
Test(chat_stream, ollama_whole_calls)
{
    const char *ev[] = {
        OLLAMA("{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
               "[{\"id\":\"call_k2l8\",\"index\":0,\"type\":\"function\",\"function\":{\"name\":"
               "\"switch_language\",\"arguments\":\"{\\\"language\\\":\\\"es-MX\\\"}\"}}]},"
               "\"finish_reason\":null}"),
        OLLAMA("{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
               "[{\"id\":\"call_p0q1\",\"index\":1,\"type\":\"function\",\"function\":{\"name\":"
               "\"business_hours\",\"arguments\":\"{}\"}}]},\"finish_reason\":null}"),
        OLLAMA("{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
               "\"finish_reason\":\"tool_calls\"}"),
        "{\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
        "\"model\":\"llama3.2\",\"system_fingerprint\":\"fp_ollama\",\"choices\":[],\"usage\":"
        "{\"prompt_tokens\":0,\"completion_tokens\":31,\"total_tokens\":31}}",
        "[DONE]",
    };
    struct chat_stream cs;
    struct buf text = BUF_INIT(4096);
    struct chat_tool_args args;
    char reply[200];

    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(feed_all(&cs, ev, N(ev), &text), 0, "%s", chat_stream_error(&cs));
    cr_assert_eq(chat_stream_end(&cs), 0);
    cr_assert_eq(text.len, 0);
    cr_assert_eq(cs.ncalls, 2);
    cr_assert_str_eq(cs.calls[0].id.data, "call_k2l8");
    cr_assert_str_eq(cs.calls[0].name.data, "switch_language");
    cr_assert_str_eq(cs.calls[0].arguments.data, "{\"language\":\"es-MX\"}");
    cr_assert_str_eq(cs.calls[1].id.data, "call_p0q1");
    cr_assert_str_eq(cs.calls[1].name.data, "business_hours");
    cr_assert_str_eq(cs.calls[1].arguments.data, "{}");
    cr_assert_eq(cs.usage.prompt_tokens, 0);
    cr_assert_eq(
        chat_tool_check("switch_language", cs.calls[0].arguments.data, &args, reply, sizeof(reply)),
        0);
    cr_assert_eq(args.tool, CHAT_TOOL_SWITCH_LANGUAGE);
    cr_assert_str_eq(args.language, "es-MX");
    chat_stream_release(&cs);
    buf_release(&text);
}

/* A server that numbers every whole call 0, with no [DONE] at the end, and arguments as an object.
 */
Test(chat_stream, calls_all_at_index_zero_and_object_arguments)
{
    const char *ev[] = {
        OLLAMA("{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"a\",\"index\":0,\"function\":"
               "{\"name\":\"end_call\",\"arguments\":{}}}]},\"finish_reason\":null}"),
        OLLAMA("{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"b\",\"index\":0,\"function\":"
               "{\"name\":\"transfer_to_human\",\"arguments\":{\"reason\":\"queja\"}}}]},"
               "\"finish_reason\":\"stop\"}"),
    };
    struct chat_stream cs;
    struct buf text = BUF_INIT(4096);

    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(feed_all(&cs, ev, N(ev), &text), 0, "%s", chat_stream_error(&cs));
    cr_assert_eq(chat_stream_end(&cs), 0);
    cr_assert_eq(cs.done, 0);
    cr_assert_eq(cs.ncalls, 2);
    cr_assert_str_eq(cs.calls[0].id.data, "a");
    cr_assert_str_eq(cs.calls[0].arguments.data, "{}");
    cr_assert_str_eq(cs.calls[1].id.data, "b");
    cr_assert_str_eq(cs.calls[1].name.data, "transfer_to_human");
    cr_assert_str_eq(cs.calls[1].arguments.data, "{\"reason\":\"queja\"}");
    chat_stream_release(&cs);
    buf_release(&text);
}

/* OpenAI parallel calls: two indexes whose argument pieces interleave; one without an id. */
Test(chat_stream, parallel_calls_interleaved)
{
    const char *ev[] = {
        OAI("{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{"
            "\"index\":0,\"id\":\"call_A\",\"type\":\"function\",\"function\":{\"name\":"
            "\"business_hours\",\"arguments\":\"\"}},{\"index\":1,\"type\":\"function\","
            "\"function\":{\"name\":\"transfer_to_human\",\"arguments\":\"\"}}]},"
            "\"finish_reason\":null}"),
        OAI("{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":"
            "\"{\\\"reason\\\":\"}}]},\"finish_reason\":null}"),
        OAI("{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
            "\"{}\"}}]},\"finish_reason\":null}"),
        OAI("{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":"
            "\"\\\"billing\\\"}\"}}]},\"finish_reason\":null}"),
        OAI("{\"index\":1,\"delta\":{\"content\":\"ignored: another choice\"},"
            "\"finish_reason\":null}"),
        OAI("{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}"),
        "[DONE]",
    };
    struct chat_stream cs;
    struct buf text = BUF_INIT(4096);
    struct chat_call calls[CHAT_STREAM_MAX_CALLS];

    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(feed_all(&cs, ev, N(ev), &text), 0, "%s", chat_stream_error(&cs));
    cr_assert_eq(chat_stream_end(&cs), 0);
    cr_assert_eq(text.len, 0);
    cr_assert_eq(chat_stream_calls(&cs, calls, CHAT_STREAM_MAX_CALLS), 2);
    cr_assert_str_eq(calls[0].id, "call_A");
    cr_assert_str_eq(calls[0].name, "business_hours");
    cr_assert_str_eq(calls[0].arguments, "{}");
    cr_assert_str_eq(calls[1].id, "call_1");
    cr_assert_str_eq(calls[1].name, "transfer_to_human");
    cr_assert_str_eq(calls[1].arguments, "{\"reason\":\"billing\"}");
    cr_assert_eq(chat_stream_calls(&cs, calls, 1), 1);
    chat_stream_release(&cs);
    buf_release(&text);
}

/* One event that must fail with `code` and exactly `why`; the stream stays failed. */
static void bad_event(const char *type, const char *data, int code, const char *why)
{
    struct chat_stream cs;
    struct chat_stream_delta d;
    const char *ok = OAI("{\"index\":0,\"delta\":{\"content\":\"hola\"},\"finish_reason\":null}");

    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(chat_stream_feed(&cs, NULL, ok, strlen(ok), &d), 0);
    cr_assert_eq(d.len, 4);
    cr_assert_eq(chat_stream_feed(&cs, type, data, strlen(data), &d), code, "%s: %s", data,
                 chat_stream_error(&cs));
    cr_assert_str_eq(chat_stream_error(&cs), why);
    cr_assert_null(d.text);
    cr_assert_eq(chat_stream_feed(&cs, NULL, ok, strlen(ok), &d), code);
    cr_assert_null(d.text);
    cr_assert_eq(chat_stream_end(&cs), code);
    cr_assert_str_eq(chat_stream_error(&cs), why);
    chat_stream_release(&cs);
}

Test(chat_stream, garbage_and_truncated_json)
{
    bad_event(NULL, "hello", SB_EPARSE,
              "event 2 is not JSON: '[' or '{' expected near 'hello' at byte 5");
    bad_event(NULL, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ho", SB_EPARSE,
              "event 2 is not JSON: premature end of input near '\"ho' at byte 45");
    bad_event(NULL, "", SB_EPARSE,
              "event 2 is not JSON: '[' or '{' expected near end of file at byte 0");
    bad_event(NULL, "[1,2]", SB_EPARSE, "event 2 is not a JSON object");
    bad_event(NULL, "{\"choices\":[{\"delta\":{\"content\":\"a\\u0000b\"}}]}", SB_EPARSE,
              "event 2 is not JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near "
              "'\"a\\u0000b\"' at byte 42");
}

Test(chat_stream, wrong_types)
{
    bad_event(NULL, "{\"choices\":{}}", SB_EPARSE, "choices is not an array");
    bad_event(NULL, "{\"choices\":[7]}", SB_EPARSE, "choices[0] is not an object");
    bad_event(NULL, "{\"choices\":[{\"index\":\"0\"}]}", SB_EPARSE,
              "choices[0].index is not an integer");
    bad_event(NULL, "{\"choices\":[{\"delta\":[]}]}", SB_EPARSE,
              "choices[0].delta is not an object");
    bad_event(NULL, "{\"choices\":[{\"delta\":{\"content\":5}}]}", SB_EPARSE,
              "choices[0].delta.content is not a string");
    bad_event(NULL, "{\"choices\":[{\"delta\":{\"refusal\":true}}]}", SB_EPARSE,
              "choices[0].delta.refusal is not a string");
    bad_event(NULL, "{\"choices\":[{\"delta\":{},\"finish_reason\":1}]}", SB_EPARSE,
              "choices[0].finish_reason is not a string");
    bad_event(NULL, "{\"choices\":[{\"delta\":{\"tool_calls\":{}}}]}", SB_EPARSE,
              "choices[0].delta.tool_calls is not an array");
    bad_event(NULL, "{\"choices\":[{\"delta\":{\"tool_calls\":[1]}}]}", SB_EPARSE,
              "tool_calls[0] is not an object");
    bad_event(NULL, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1.5}]}}]}", SB_EPARSE,
              "tool_calls[0].index is not an integer");
    bad_event(NULL, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":-1}]}}]}", SB_EPARSE,
              "tool_calls[0].index -1 is out of range (0 to 63)");
    bad_event(NULL, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":64}]}}]}", SB_EPARSE,
              "tool_calls[0].index 64 is out of range (0 to 63)");
    bad_event(NULL, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":7}]}}]}",
              SB_EPARSE, "tool_calls[0].id is not a string");
    bad_event(NULL,
              "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"type\":\"code\"}]}}]}",
              SB_EPARSE, "tool_calls[0].type is not \"function\"");
    bad_event(NULL, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":\"f\"}]}}]}",
              SB_EPARSE, "tool_calls[0].function is not an object");
    bad_event(NULL, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"name\":[]}}]}}]}",
              SB_EPARSE, "tool_calls[0].function.name is not a string");
    bad_event(NULL,
              "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":3}}]}}]}",
              SB_EPARSE, "tool_calls[0].function.arguments is not a string");
    bad_event(NULL, "{\"choices\":[],\"usage\":[]}", SB_EPARSE, "usage is not an object");
    bad_event(NULL, "{\"choices\":[],\"usage\":{\"prompt_tokens\":\"9\"}}", SB_EPARSE,
              "usage.prompt_tokens is not a count");
    bad_event(NULL, "{\"choices\":[],\"usage\":{\"total_tokens\":-4}}", SB_EPARSE,
              "usage.total_tokens is not a count");
}

Test(chat_stream, server_errors)
{
    bad_event(NULL,
              "{\"error\":{\"message\":\"Rate limit reached for gpt-4o\",\"type\":\"requests\","
              "\"param\":null,\"code\":\"rate_limit_exceeded\"}}",
              SB_EIO,
              "the server reported an error: Rate limit reached for gpt-4o (type requests, code "
              "rate_limit_exceeded)");
    bad_event(NULL, "{\"error\":{\"message\":\"model \\\"x\\\" not found\",\"code\":404}}", SB_EIO,
              "the server reported an error: model \"x\" not found (code 404)");
    bad_event(NULL, "{\"error\":\"upstream\\nfailed\"}", SB_EIO,
              "the server reported an error: upstream?failed");
    bad_event("error", "{\"message\":\"overloaded\",\"type\":\"server_error\"}", SB_EIO,
              "the server reported an error: overloaded (type server_error)");
    bad_event("error", "{\"error\":{\"message\":\"boom\"}}", SB_EIO,
              "the server reported an error: boom");
    bad_event("error", "Internal \x01 error \xff", SB_EIO,
              "the server reported an error: Internal ? error ?");
}

Test(chat_stream, bounds)
{
    struct chat_stream cs;
    struct chat_stream_delta d;
    const char *c10 = "{\"choices\":[{\"delta\":{\"content\":\"0123456789\"}}]}";
    const char *a6 = "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
                     "{\"arguments\":\"{\\\"a\\\":1\"}}]}}]}";
    char many[2048];
    size_t at = 0;

    chat_stream_init(&cs, 25, 10);
    cr_assert_eq(chat_stream_feed(&cs, NULL, c10, strlen(c10), &d), 0);
    cr_assert_eq(chat_stream_feed(&cs, NULL, c10, strlen(c10), &d), 0);
    cr_assert_eq(chat_stream_feed(&cs, NULL, c10, strlen(c10), &d), SB_ETOOBIG);
    cr_assert_str_eq(chat_stream_error(&cs), "the reply is longer than 25 bytes");
    chat_stream_release(&cs);

    chat_stream_init(&cs, 25, 10);
    cr_assert_eq(chat_stream_feed(&cs, NULL, a6, strlen(a6), &d), 0);
    cr_assert_eq(chat_stream_feed(&cs, NULL, a6, strlen(a6), &d), SB_ETOOBIG);
    cr_assert_str_eq(chat_stream_error(&cs),
                     "the arguments of tool call 0 are longer than 10 bytes");
    chat_stream_release(&cs);

    at += (size_t)snprintf(many + at, sizeof(many) - at,
                           "{\"choices\":[{\"delta\":{\"tool_calls\":[");
    for (int i = 0; i <= CHAT_STREAM_MAX_CALLS; i++)
        at +=
            (size_t)snprintf(many + at, sizeof(many) - at,
                             "%s{\"index\":%d,\"id\":\"c%d\",\"function\":{\"name\":\"end_call\"}}",
                             i ? "," : "", i, i);
    snprintf(many + at, sizeof(many) - at, "]}}]}");
    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(chat_stream_feed(&cs, NULL, many, strlen(many), &d), SB_ETOOBIG);
    cr_assert_str_eq(chat_stream_error(&cs), "more than 8 tool calls");
    chat_stream_release(&cs);

    {
        char longname[300];
        char ev[400];

        memset(longname, 'f', 65);
        longname[65] = '\0';
        snprintf(ev, sizeof(ev),
                 "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":"
                 "\"%s\"}}]}}]}",
                 longname);
        chat_stream_init(&cs, 0, 0);
        cr_assert_eq(chat_stream_feed(&cs, NULL, ev, strlen(ev), &d), SB_ETOOBIG);
        cr_assert_str_eq(chat_stream_error(&cs), "a function name is longer than 64 bytes");
        chat_stream_release(&cs);
    }
}

Test(chat_stream, endings)
{
    const char *text = OAI("{\"index\":0,\"delta\":{\"content\":\"Hola\"},\"finish_reason\":null}");
    const char *calls_finish = OAI("{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}");
    const char *nameless = OAI("{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
                               "\"c\",\"function\":{\"arguments\":\"{}\"}}]},"
                               "\"finish_reason\":\"tool_calls\"}");
    const char *other = OAI("{\"index\":0,\"delta\":{},\"finish_reason\":\"eos_token\"}");
    struct chat_stream cs;
    struct chat_stream_delta d;

    /* cut short: no finish_reason, no [DONE] */
    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(chat_stream_feed(&cs, NULL, text, strlen(text), &d), 0);
    cr_assert_eq(chat_stream_end(&cs), SB_EPARSE);
    cr_assert_str_eq(chat_stream_error(&cs),
                     "the stream ended without a finish_reason (cut short)");
    chat_stream_release(&cs);

    /* nothing at all */
    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(chat_stream_end(&cs), SB_EPARSE);
    chat_stream_release(&cs);

    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(chat_stream_feed(&cs, NULL, calls_finish, strlen(calls_finish), &d), 0);
    cr_assert_eq(chat_stream_end(&cs), SB_EPARSE);
    cr_assert_str_eq(chat_stream_error(&cs),
                     "finish_reason is \"tool_calls\" but no tool call came");
    chat_stream_release(&cs);

    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(chat_stream_feed(&cs, NULL, nameless, strlen(nameless), &d), 0);
    cr_assert_eq(chat_stream_end(&cs), SB_EPARSE);
    cr_assert_str_eq(chat_stream_error(&cs), "tool call 0 has no function name");
    chat_stream_release(&cs);

    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(chat_stream_feed(&cs, NULL, other, strlen(other), &d), 0);
    cr_assert_eq(chat_stream_end(&cs), 0);
    cr_assert_eq(cs.finish, CHAT_FINISH_OTHER);
    cr_assert_str_eq(cs.finish_text, "eos_token");
    cr_assert_eq(cs.usage.present, 0);
    cr_assert_eq(cs.usage.total_tokens, -1);
    chat_stream_release(&cs);

    /* a data-less event */
    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(chat_stream_feed(&cs, NULL, NULL, 0, &d), SB_EPARSE);
    cr_assert_str_eq(chat_stream_error(&cs), "event 1 has no data");
    chat_stream_release(&cs);
}

static void check_fails(const char *name, const char *args, int code, const char *why)
{
    struct chat_tool_args out;
    char reply[300];

    memset(&out, 0x5a, sizeof(out));
    cr_assert_eq(chat_tool_check(name, args, &out, reply, sizeof(reply)), code, "%s", reply);
    cr_assert_str_eq(reply, why);
    cr_assert_eq(out.tool, 0);
    cr_assert_eq(out.message[0], '\0');
}

Test(chat_tool_check, valid_calls)
{
    struct chat_tool_args a;
    char reply[200];

    cr_assert_eq(chat_tool_check("end_call", "", &a, reply, sizeof(reply)), 0);
    cr_assert_eq(a.tool, CHAT_TOOL_END_CALL);
    cr_assert_eq(chat_tool_check("business_hours", "{\"extra\":1}", &a, reply, sizeof(reply)), 0);
    cr_assert_eq(a.tool, CHAT_TOOL_BUSINESS_HOURS);
    cr_assert_eq(chat_tool_check("transfer_to_human", " {} ", &a, reply, sizeof(reply)), 0);
    cr_assert_eq(a.tool, CHAT_TOOL_TRANSFER_TO_HUMAN);
    cr_assert_str_eq(a.reason, "");
    cr_assert_eq(
        chat_tool_check("transfer_to_human", "{\"reason\":null}", &a, reply, sizeof(reply)), 0);
    cr_assert_eq(chat_tool_check("transfer_to_human", "{\"reason\":\"quiere hablar con el dueño\"}",
                                 &a, reply, sizeof(reply)),
                 0);
    cr_assert_str_eq(a.reason, "quiere hablar con el dueño");
    cr_assert_eq(
        chat_tool_check("switch_language", "{\"language\":\"en_US\"}", &a, reply, sizeof(reply)),
        0);
    cr_assert_str_eq(a.language, "en_US");
}

Test(chat_tool_check, refusals)
{
    check_fails("delete_everything", "{}", SB_ENOTFOUND,
                "error: there is no tool named \"delete_everything\"; the tools are "
                "transfer_to_human, end_call, take_message, switch_language and business_hours");
    check_fails("bad\nname", "{}", SB_ENOTFOUND,
                "error: there is no tool named \"bad?name\"; the tools are transfer_to_human, "
                "end_call, take_message, switch_language and business_hours");
    check_fails("end_call", "{\"a\":", SB_EINVAL,
                "error: the arguments of end_call are not valid JSON (unexpected token near end "
                "of file at byte 5); send a JSON object");
    check_fails("end_call", "[]", SB_EINVAL,
                "error: the arguments of end_call must be a JSON object");
    check_fails("take_message", "{\"caller_name\":\"Ana\",\"message\":\"hola\"}", SB_EINVAL,
                "error: take_message needs \"callback_number\" (a string)");
    check_fails("take_message",
                "{\"caller_name\":\"Ana\",\"callback_number\":5551234,\"message\":\"hola\"}",
                SB_EINVAL, "error: \"callback_number\" of take_message must be a string");
    check_fails("take_message",
                "{\"caller_name\":\"\",\"callback_number\":\"555\",\"message\":\"hola\"}",
                SB_EINVAL, "error: \"caller_name\" of take_message must not be empty");
    check_fails("transfer_to_human", "{\"reason\":[\"x\"]}", SB_EINVAL,
                "error: \"reason\" of transfer_to_human must be a string");
    check_fails("switch_language", "{}", SB_EINVAL,
                "error: switch_language needs \"language\" (a string)");
    check_fails("switch_language", "{\"language\":\"Klingon\"}", SB_EINVAL,
                "error: \"Klingon\" is not a language tag such as \"es-MX\" or \"en-US\"");
    check_fails("switch_language", "{\"language\":\"es--MX\"}", SB_EINVAL,
                "error: \"es--MX\" is not a language tag such as \"es-MX\" or \"en-US\"");
    check_fails("switch_language", "{\"language\":\"español\"}", SB_EINVAL,
                "error: \"español\" is not a language tag such as \"es-MX\" or \"en-US\"");
    {
        char big[256];
        int n = snprintf(big, sizeof(big),
                         "{\"caller_name\":\"A\",\"message\":\"m\","
                         "\"callback_number\":\"");

        memset(big + n, '5', CHAT_ARG_NUMBER_MAX + 1);
        snprintf(big + n + CHAT_ARG_NUMBER_MAX + 1,
                 sizeof(big) - (size_t)n - CHAT_ARG_NUMBER_MAX - 1, "\"}");
        check_fails("take_message", big, SB_EINVAL,
                    "error: \"callback_number\" of take_message is longer than 64 bytes");
    }
}

/* An event refused after its text was read gives nothing: the text is taken back. */
Test(chat_stream, a_refused_event_leaves_no_text_behind)
{
    const char *ev[] = {
        OAI("{\"index\":0,\"delta\":{\"content\":\"Le paso \"},\"finish_reason\":null}"),
        OAI("{\"index\":0,\"delta\":{\"content\":\"el recado.\",\"tool_calls\":[{\"index\":999,"
            "\"id\":\"call_1\"}]},\"finish_reason\":null}"),
    };
    struct chat_stream cs;
    struct buf text = BUF_INIT(4096);

    chat_stream_init(&cs, 0, 0);
    cr_assert_eq(feed_all(&cs, ev, N(ev), &text), SB_EPARSE);
    cr_assert_str_eq(text.data, "Le paso ");
    cr_assert_str_eq(cs.content.data, "Le paso ", "got '%s'", cs.content.data);
    cr_assert_eq(cs.content.len, strlen("Le paso "));
    buf_release(&text);
    chat_stream_release(&cs);
}
