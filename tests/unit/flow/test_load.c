/*
 * Tests for flow/load.c: the example flow loads, and every kind of mistake
 * is refused with a message that names the node and the line of its key.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "fixture.h"
#include "flow/flow.h"

/* A flow of one node written on line 3, plus a hangup "b" on line 4, as targets. */
#define ONE(node)                                                                                  \
    "{\"name\": \"t\", \"start\": \"a\",\n"                                                        \
    "\"nodes\": {\n"                                                                               \
    "\"a\": " node ",\n"                                                                           \
    "\"b\": {\"type\": \"hangup\"}}}"

static void refuse(const char *json, const char *want)
{
    const char *err = fx_load_error(json);

    cr_assert_str_eq(err, want);
}

/* Replaces the first `from` in the example flow with `to` and expects `want`. */
static void refuse_example(const char *from, const char *to, const char *want)
{
    char json[8192];
    const char *at = strstr(fx_main_json, from);

    cr_assert_not_null(at, "'%s' is not in the example", from);
    snprintf(json, sizeof(json), "%.*s%s%s", (int)(at - fx_main_json), fx_main_json, to,
             at + strlen(from));
    refuse(json, want);
}

Test(load, example_loads)
{
    struct flow *f = fx_load(fx_main_json);

    cr_assert_str_eq(flow_name(f), "main");
    flow_free(f);
}

Test(load, free_null)
{
    flow_free(NULL);
}

Test(load, smallest_flow)
{
    struct flow *f = fx_load("{\"name\": \"x\", \"start\": \"b\", \"nodes\": {\"b\": "
                             "{\"type\": \"hangup\", \"description\": \"the end\"}}}");

    flow_free(f);
}

/* -- JSON syntax, with jansson's line and column -- */

Test(load, syntax_error_has_line_and_column)
{
    refuse("{\"name\": \"t\",\n  \"start\": \"a\",\n  \"nodes\": {\n    \"a\": {\"type\": "
           "\"hangup\",}\n}}",
           "line 4: column 28: string or '}' expected near '}'");
}

Test(load, empty_input)
{
    const char *err = fx_load_error("");

    cr_assert(strncmp(err, "line 1: column 0: ", 18) == 0, "%s", err);
}

Test(load, truncated_input)
{
    const char *err = fx_load_error("{\"name\": \"t\",\n\"start\"");

    cr_assert(strncmp(err, "line 2: column ", 15) == 0, "%s", err);
}

Test(load, duplicate_node_is_a_json_error)
{
    refuse("{\"name\": \"t\", \"start\": \"a\", \"nodes\": {\n"
           "\"a\": {\"type\": \"hangup\"},\n"
           "\"a\": {\"type\": \"hangup\"}}}",
           "line 3: column 3: duplicate object key near '\"a\"'");
}

Test(load, not_an_object)
{
    refuse("[1, 2]", "line 1: a flow must be a JSON object with name, start and nodes");
}

/* -- the document -- */

Test(load, missing_name_start_nodes)
{
    refuse("{\"start\": \"a\", \"nodes\": {\"a\": {\"type\": \"hangup\"}}}",
           "line 1: missing field 'name'");
    refuse("{\"name\": \"t\", \"nodes\": {\"a\": {\"type\": \"hangup\"}}}",
           "line 1: missing field 'start'");
    refuse("{\"name\": \"t\", \"start\": \"a\"}", "line 1: missing field 'nodes'");
}

Test(load, start_must_name_a_node)
{
    refuse("{\"name\": \"t\",\n\n\"start\": \"z\", \"nodes\": {\"a\": {\"type\": \"hangup\"}}}",
           "line 3: field 'start': no node named 'z'");
}

Test(load, bad_flow_name)
{
    refuse("{\n\"name\": \"main menu\", \"start\": \"a\", \"nodes\": {\"a\": {\"type\": "
           "\"hangup\"}}}",
           "line 2: field 'name' must be 1 to 63 letters, digits, '_', '.' or '-'");
}

Test(load, unknown_top_level_field)
{
    refuse("{\"name\": \"t\", \"start\": \"a\",\n\"version\": 2,\n\"nodes\": {\"a\": {\"type\": "
           "\"hangup\"}}}",
           "line 2: unknown field 'version' (a flow has name, start, nodes and description)");
}

Test(load, empty_nodes)
{
    refuse("{\"name\": \"t\", \"start\": \"a\",\n\"nodes\": {}}",
           "line 2: field 'nodes' must be an object of name: node");
}

Test(load, too_many_nodes)
{
    size_t size = 64 * (FLOW_NAME_SIZE + 300), n = 0;
    char *json = malloc(size);
    int i;

    cr_assert_not_null(json);
    n += (size_t)snprintf(json + n, size - n, "{\"name\": \"t\", \"start\": \"n0\",\n\"nodes\": {");
    for (i = 0; i < 257; i++)
        n += (size_t)snprintf(json + n, size - n, "%s\"n%d\": {\"type\": \"hangup\"}",
                              i ? ", " : "", i);
    snprintf(json + n, size - n, "}}");
    refuse(json, "line 2: more than 256 nodes");
    /* 256 is fine. */
    memcpy(strstr(json, ", \"n256\""), "}}", 3);
    flow_free(fx_load(json));
    free(json);
}

Test(load, document_too_large)
{
    size_t size = 1024 * 1024 + 2;
    char *json = malloc(size);
    struct flow *f = NULL;
    char err[128];

    cr_assert_not_null(json);
    memset(json, ' ', size);
    cr_assert_eq(flow_load(&f, json, size, err, sizeof(err)), SB_EPARSE);
    cr_assert_str_eq(err, "line 1: flow is larger than 1048576 bytes");
    free(json);
}

Test(load, bad_node_name)
{
    refuse("{\"name\": \"t\", \"start\": \"a\", \"nodes\": {\n\"a\": {\"type\": \"hangup\"},\n"
           "\"the end\": {\"type\": \"hangup\"}}}",
           "line 3: node name 'the end' must be 1 to 63 letters, digits, '_', '.' or '-'");
}

/* -- nodes -- */

Test(load, node_must_be_an_object)
{
    refuse(ONE("[]"), "line 3: node 'a': must be an object with a 'type'");
}

Test(load, unknown_type)
{
    refuse(ONE("{\"type\": \"sya\", \"text\": \"Hi.\", \"next\": \"b\"}"),
           "line 3: node 'a': unknown type 'sya' (say, play, menu, hours, language, transfer, "
           "voicemail, agent, redirect, hangup)");
    refuse(ONE("{\"text\": \"Hi.\", \"next\": \"b\"}"), "line 3: node 'a': missing field 'type'");
    refuse(ONE("{\"type\": 1}"), "line 3: node 'a': field 'type' must be a string");
}

Test(load, unknown_field)
{
    refuse(ONE("{\"type\": \"say\", \"text\": \"Hi.\", \"nxet\": \"b\"}"),
           "line 3: node 'a': unknown field 'nxet' for a say node");
    /* A field of another type is unknown too. */
    refuse(ONE("{\"type\": \"hangup\", \"next\": \"b\"}"),
           "line 3: node 'a': unknown field 'next' for a hangup node");
}

Test(load, missing_required_fields)
{
    refuse(ONE("{\"type\": \"say\", \"text\": \"Hi.\"}"), "line 3: node 'a': missing field 'next'");
    refuse(ONE("{\"type\": \"say\", \"next\": \"b\"}"), "line 3: node 'a': missing field 'text'");
    refuse(ONE("{\"type\": \"play\", \"next\": \"b\"}"), "line 3: node 'a': missing field 'url'");
    refuse(ONE("{\"type\": \"menu\", \"options\": [{\"digit\": \"1\", \"next\": \"b\"}]}"),
           "line 3: node 'a': missing field 'prompt'");
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\"}"),
           "line 3: node 'a': missing field 'options'");
    refuse(ONE("{\"type\": \"hours\", \"open\": \"b\", \"closed\": \"b\"}"),
           "line 3: node 'a': missing field 'weekly'");
    refuse(ONE("{\"type\": \"hours\", \"weekly\": {}, \"open\": \"b\"}"),
           "line 3: node 'a': missing field 'closed'");
    refuse(ONE("{\"type\": \"language\", \"prompt\": \"Hi.\", \"options\": {\"1\": \"en\"}}"),
           "line 3: node 'a': missing field 'next'");
    refuse(ONE("{\"type\": \"voicemail\"}"), "line 3: node 'a': missing field 'next'");
    refuse(ONE("{\"type\": \"redirect\"}"), "line 3: node 'a': missing field 'flow'");
}

Test(load, targets_must_exist)
{
    refuse(ONE("{\"type\": \"say\", \"text\": \"Hi.\", \"next\": \"c\"}"),
           "line 3: node 'a': field 'next': no node named 'c'");
    refuse(ONE("{\"type\": \"say\", \"text\": \"Hi.\", \"next\": 3}"),
           "line 3: node 'a': field 'next' must be a node name");
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"options\": [{\"digit\": \"1\", "
               "\"next\": \"b\"}, {\"digit\": \"2\", \"next\": \"nope\"}]}"),
           "line 3: node 'a': option 2: no node named 'nope'");
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"fallback\": \"nope\", \"options\": "
               "[{\"digit\": \"1\", \"next\": \"b\"}]}"),
           "line 3: node 'a': field 'fallback': no node named 'nope'");
    refuse(ONE("{\"type\": \"transfer\", \"on\": {\"busy\": \"nope\"}}"),
           "line 3: node 'a': branch 'busy': no node named 'nope'");
    refuse(ONE("{\"type\": \"hours\", \"weekly\": {}, \"open\": \"b\", \"closed\": \"nope\"}"),
           "line 3: node 'a': field 'closed': no node named 'nope'");
}

Test(load, duplicate_digits)
{
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"options\": [{\"digit\": \"1\", "
               "\"next\": \"b\"}, {\"digit\": \"2\", \"next\": \"b\"}, {\"digit\": \"1\", "
               "\"next\": \"a\"}]}"),
           "line 3: node 'a': digit '1' is used by options 1 and 3");
}

Test(load, menu_without_options)
{
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"options\": []}"),
           "line 3: node 'a': has no options");
    refuse(ONE("{\"type\": \"language\", \"prompt\": \"Hi.\", \"next\": \"b\", \"options\": {}}"),
           "line 3: node 'a': has no options");
}

Test(load, bad_options)
{
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"options\": [{\"next\": \"b\"}]}"),
           "line 3: node 'a': option 1 has neither 'digit' nor 'keywords'");
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"options\": [{\"digit\": \"1a\", "
               "\"next\": \"b\"}]}"),
           "line 3: node 'a': option 1: 'digit' must be 1 to 8 of 0-9, * and #");
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"options\": [{\"digit\": 1, "
               "\"next\": \"b\"}]}"),
           "line 3: node 'a': option 1: 'digit' must be 1 to 8 of 0-9, * and #");
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"options\": [{\"keywords\": [], "
               "\"next\": \"b\"}]}"),
           "line 3: node 'a': option 1: 'keywords' must be a list of words");
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"options\": [{\"keywords\": "
               "[\"sales\", \"?!\"], \"next\": \"b\"}]}"),
           "line 3: node 'a': option 1: keyword '?!' has no word in it");
    /* Punctuation outside ASCII is no word either (core/words). */
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"options\": [{\"keywords\": "
               "[\"¿…?\"], \"next\": \"b\"}]}"),
           "line 3: node 'a': option 1: keyword '¿…?' has no word in it");
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"options\": [{\"digit\": \"1\"}]}"),
           "line 3: node 'a': option 1: missing field 'next'");
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"options\": [{\"digit\": \"1\", "
               "\"goto\": \"b\"}]}"),
           "line 3: node 'a': option 1: unknown field 'goto'");
    refuse(ONE("{\"type\": \"language\", \"prompt\": \"Hi.\", \"next\": \"b\", \"options\": "
               "{\"1\": \"english\"}}"),
           "line 3: node 'a': option '1' must name a language tag like \"en-US\"");
    refuse(ONE("{\"type\": \"language\", \"prompt\": \"Hi.\", \"next\": \"b\", \"options\": "
               "{\"one\": \"en-US\"}}"),
           "line 3: node 'a': option 'one': options are keyed by 1 to 8 of 0-9, * and #");
}

Test(load, numbers_in_range)
{
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"timeout\": 0, \"options\": "
               "[{\"digit\": \"1\", \"next\": \"b\"}]}"),
           "line 3: node 'a': field 'timeout' must be a whole number from 1 to 60");
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"max_attempts\": 2.5, \"options\": "
               "[{\"digit\": \"1\", \"next\": \"b\"}]}"),
           "line 3: node 'a': field 'max_attempts' must be a whole number from 1 to 10");
    refuse(ONE("{\"type\": \"voicemail\", \"max_length\": 3601, \"next\": \"b\"}"),
           "line 3: node 'a': field 'max_length' must be a whole number from 1 to 3600");
    refuse(ONE("{\"type\": \"transfer\", \"timeout\": \"20\"}"),
           "line 3: node 'a': field 'timeout' must be a whole number from 5 to 600");
    refuse(ONE("{\"type\": \"transfer\", \"record\": \"yes\"}"),
           "line 3: node 'a': field 'record' must be true or false");
    refuse(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"input\": \"voice\", \"options\": "
               "[{\"digit\": \"1\", \"next\": \"b\"}]}"),
           "line 3: node 'a': field 'input' must be \"dtmf\", \"speech\" or \"dtmf speech\"");
}

Test(load, transfer_number_must_be_e164)
{
    refuse(ONE("{\"type\": \"transfer\", \"number\": \"+1555\"}"),
           "line 3: node 'a': number '+1555' is not E.164 ('+' and 7 to 15 digits)");
    refuse(ONE("{\"type\": \"transfer\", \"number\": \"5557654321\"}"),
           "line 3: node 'a': number '5557654321' is not E.164 ('+' and 7 to 15 digits)");
    refuse(ONE("{\"type\": \"transfer\", \"number\": \"+1234567890123456\"}"),
           "line 3: node 'a': number '+1234567890123456' is not E.164 ('+' and 7 to 15 digits)");
    flow_free(fx_load(ONE("{\"type\": \"transfer\", \"number\": \"+2901234\"}")));
}

Test(load, transfer_branches_are_dial_statuses)
{
    refuse(ONE("{\"type\": \"transfer\", \"on\": {\"noanswer\": \"b\"}}"),
           "line 3: node 'a': field 'on': 'noanswer' is not a DialCallStatus (completed, busy, "
           "no-answer, failed, canceled)");
}

Test(load, hours_ranges)
{
    refuse(ONE("{\"type\": \"hours\", \"weekly\": {\"mon\": [\"9:00-17:00\"]}, \"open\": \"b\", "
               "\"closed\": \"b\"}"),
           "line 3: node 'a': day 'mon': range '9:00-17:00' is not \"HH:MM-HH:MM\"");
    refuse(ONE("{\"type\": \"hours\", \"weekly\": {\"tue\": [\"09:00-24:30\"]}, \"open\": \"b\", "
               "\"closed\": \"b\"}"),
           "line 3: node 'a': day 'tue': range '09:00-24:30' is not \"HH:MM-HH:MM\"");
    refuse(ONE("{\"type\": \"hours\", \"weekly\": {\"wed\": [\"09:60-17:00\"]}, \"open\": \"b\", "
               "\"closed\": \"b\"}"),
           "line 3: node 'a': day 'wed': range '09:60-17:00' is not \"HH:MM-HH:MM\"");
    refuse(ONE("{\"type\": \"hours\", \"weekly\": {\"fri\": [\"22:00-02:00\"]}, \"open\": \"b\", "
               "\"closed\": \"b\"}"),
           "line 3: node 'a': day 'fri': range '22:00-02:00' ends before it starts (split a range "
           "that crosses midnight at 24:00)");
    refuse(ONE("{\"type\": \"hours\", \"weekly\": {\"sun\": [\"09:00 17:00\"]}, \"open\": \"b\", "
               "\"closed\": \"b\"}"),
           "line 3: node 'a': day 'sun': range '09:00 17:00' is not \"HH:MM-HH:MM\"");
    refuse(ONE("{\"type\": \"hours\", \"weekly\": {\"monday\": []}, \"open\": \"b\", "
               "\"closed\": \"b\"}"),
           "line 3: node 'a': field 'weekly': 'monday' is not a day (mon, tue, ..., sun)");
    refuse(ONE("{\"type\": \"hours\", \"weekly\": {\"sat\": \"09:00-12:00\"}, \"open\": \"b\", "
               "\"closed\": \"b\"}"),
           "line 3: node 'a': day 'sat' must be a list of \"HH:MM-HH:MM\" ranges");
    flow_free(fx_load(ONE("{\"type\": \"hours\", \"weekly\": {\"sat\": [\"00:00-24:00\"]}, "
                          "\"open\": \"b\", \"closed\": \"b\"}")));
}

Test(load, holidays)
{
    refuse(ONE("{\"type\": \"hours\", \"weekly\": {}, \"holidays\": [\"2026-02-29\"], \"open\": "
               "\"b\", \"closed\": \"b\"}"),
           "line 3: node 'a': holiday '2026-02-29' is not a date \"YYYY-MM-DD\" or \"MM-DD\"");
    refuse(ONE("{\"type\": \"hours\", \"weekly\": {}, \"holidays\": [\"2026-13-01\"], \"open\": "
               "\"b\", \"closed\": \"b\"}"),
           "line 3: node 'a': holiday '2026-13-01' is not a date \"YYYY-MM-DD\" or \"MM-DD\"");
    refuse(ONE("{\"type\": \"hours\", \"weekly\": {}, \"holidays\": [\"12/25\"], \"open\": "
               "\"b\", \"closed\": \"b\"}"),
           "line 3: node 'a': holiday '12/25' is not a date \"YYYY-MM-DD\" or \"MM-DD\"");
    flow_free(fx_load(ONE("{\"type\": \"hours\", \"weekly\": {}, \"holidays\": [\"2028-02-29\", "
                          "\"02-29\", \"12-25\"], \"open\": \"b\", \"closed\": \"b\"}")));
}

Test(load, texts)
{
    char json[4096], text[1100];

    refuse(ONE("{\"type\": \"say\", \"text\": {\"english\": \"Hi.\"}, \"next\": \"b\"}"),
           "line 3: node 'a': field 'text': 'english' is not a language tag like \"en\" or "
           "\"es-MX\"");
    refuse(ONE("{\"type\": \"say\", \"text\": {}, \"next\": \"b\"}"),
           "line 3: node 'a': field 'text' has no text");
    refuse(ONE("{\"type\": \"say\", \"text\": \"\", \"next\": \"b\"}"),
           "line 3: node 'a': field 'text': the text is empty");
    refuse(ONE("{\"type\": \"say\", \"text\": {\"en\": 5}, \"next\": \"b\"}"),
           "line 3: node 'a': field 'text': the 'en' text must be a string");
    refuse(ONE("{\"type\": \"say\", \"text\": [\"Hi.\"], \"next\": \"b\"}"),
           "line 3: node 'a': field 'text' must be a string or an object of language: text");
    refuse(ONE("{\"type\": \"say\", \"text\": {\"es\": \"Hola\\u0007\"}, \"next\": \"b\"}"),
           "line 3: node 'a': field 'text': the 'es' text holds a control character");
    memset(text, 'x', 1001);
    text[1001] = '\0';
    snprintf(json, sizeof(json),
             ONE("{\"type\": \"say\", \"text\": {\"en\": \"%s\"}, \"next\": \"b\"}"), text);
    refuse(json, "line 3: node 'a': field 'text': the 'en' text is longer than 1000 bytes");
    text[1000] = '\0';
    snprintf(json, sizeof(json),
             ONE("{\"type\": \"say\", \"text\": {\"en\": \"%s\"}, \"next\": \"b\"}"), text);
    flow_free(fx_load(json));
}

Test(load, names_of_other_things)
{
    refuse(ONE("{\"type\": \"redirect\", \"flow\": \"after hours\"}"),
           "line 3: node 'a': field 'flow' must be a name of 1 to 63 letters, digits, '_', '.' or "
           "'-'");
    refuse(ONE("{\"type\": \"agent\", \"agent\": \"\"}"),
           "line 3: node 'a': field 'agent' must be a name of 1 to 63 letters, digits, '_', '.' or "
           "'-'");
    refuse(ONE("{\"type\": \"play\", \"url\": \"https://x/a b.mp3\", \"next\": \"b\"}"),
           "line 3: node 'a': field 'url' holds a space or a control character");
}

/* -- cycles -- */

Test(load, cycle_of_says)
{
    refuse("{\"name\": \"t\", \"start\": \"a\", \"nodes\": {\n"
           "\"a\": {\"type\": \"say\", \"text\": \"A\", \"next\": \"b\"},\n"
           "\"b\": {\"type\": \"play\", \"url\": \"/b.mp3\", \"next\": \"c\"},\n"
           "\"c\": {\"type\": \"say\", \"text\": \"C\", \"next\": \"a\"}}}",
           "line 2: node 'a': loops without waiting for the caller: a -> b -> c -> a");
}

Test(load, self_loop)
{
    refuse(ONE("{\"type\": \"say\", \"text\": \"A\", \"next\": \"a\"}"),
           "line 3: node 'a': loops without waiting for the caller: a -> a");
}

Test(load, cycle_through_hours)
{
    refuse("{\"name\": \"t\", \"start\": \"s\", \"nodes\": {\n"
           "\"s\": {\"type\": \"say\", \"text\": \"A\", \"next\": \"h\"},\n"
           "\"m\": {\"type\": \"menu\", \"prompt\": \"P\", \"options\": [{\"digit\": \"1\", "
           "\"next\": \"s\"}]},\n"
           "\"h\": {\"type\": \"hours\", \"weekly\": {}, \"open\": \"m\", \"closed\": \"x\"},\n"
           "\"x\": {\"type\": \"say\", \"text\": \"closed\", \"next\": \"h\"}}}",
           "line 4: node 'h': loops without waiting for the caller: h -> x -> h");
}

Test(load, cycle_through_a_menu_is_fine)
{
    flow_free(fx_load("{\"name\": \"t\", \"start\": \"s\", \"nodes\": {\n"
                      "\"s\": {\"type\": \"say\", \"text\": \"A\", \"next\": \"m\"},\n"
                      "\"m\": {\"type\": \"menu\", \"prompt\": \"P\", \"fallback\": \"s\", "
                      "\"options\": [{\"digit\": \"1\", \"next\": \"s\"}]}}}"));
}

/* -- line numbers in a real document -- */

Test(load, line_of_a_node_in_the_example)
{
    refuse_example("\"09:00-17:00\"", "\"9:00-17:00\"",
                   "line 11: node 'hours': day 'mon': range '9:00-17:00' is not \"HH:MM-HH:MM\"");
    refuse_example("\"+15557654321\"", "\"+155576\"",
                   "line 57: node 'operator': number '+155576' is not E.164 ('+' and 7 to 15 "
                   "digits)");
    refuse_example("\"next\": \"bye\"", "\"next\": \"by\"",
                   "line 64: node 'vm': field 'next': no node named 'by'");
}

Test(load, line_ignores_the_same_name_elsewhere)
{
    /* "next" is also a field name and a string value before the node "next" is defined. */
    refuse("{\"name\": \"t\", \"start\": \"a\", \"nodes\": {\n"
           "\"a\": {\"type\": \"say\", \"text\": \"next\", \"next\": \"next\"},\n"
           "\"b\": {\"type\": \"say\", \"text\": {\"en\": \"x\"}, \"next\": \"a\"},\n"
           "\n"
           "\"next\"\n"
           "   : {\"type\": \"sya\"}}}",
           "line 5: node 'next': unknown type 'sya' (say, play, menu, hours, language, transfer, "
           "voicemail, agent, redirect, hangup)");
}

Test(load, error_buffer_may_be_small_or_absent)
{
    struct flow *f = NULL;
    char err[12];
    const char *bad = ONE("{\"type\": \"sya\"}");

    cr_assert_eq(flow_load(&f, bad, strlen(bad), NULL, 0), SB_EPARSE);
    cr_assert_eq(flow_load(&f, bad, strlen(bad), err, sizeof(err)), SB_EPARSE);
    cr_assert_str_eq(err, "line 3: nod");
    cr_assert_null(f);
}

Test(load, control_characters_in_messages_are_masked)
{
    refuse(ONE("{\"type\": \"s\\u001b[2Jy\"}"),
           "line 3: node 'a': unknown type 's?[2Jy' (say, play, menu, hours, language, transfer, "
           "voicemail, agent, redirect, hangup)");
}

static void gather_keyword(void *arg, const char *keyword)
{
    char *all = arg;

    strcat(all, keyword);
    strcat(all, "|");
}

Test(load, keywords_are_walked_in_document_order)
{
    char all[512] = "";
    struct flow *f =
        fx_load(ONE("{\"type\": \"menu\", \"prompt\": \"Hi.\", \"options\": [{\"digit\": \"1\", "
                    "\"keywords\": [\"horario\", \"hours\"], \"next\": \"b\"}, {\"digit\": \"2\", "
                    "\"next\": \"b\"}, {\"keywords\": [\"facturación\"], \"next\": \"b\"}]}"));

    cr_assert_eq(flow_keywords(f, gather_keyword, all), 3);
    cr_assert_str_eq(all, "horario|hours|facturación|");
    all[0] = '\0';
    cr_assert_eq(flow_keywords(NULL, gather_keyword, all), 0);
    flow_free(f);
}
