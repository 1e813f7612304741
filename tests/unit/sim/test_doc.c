#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/twiml.h"
#include "sim/doc.h"

#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"

static int parse(struct sim_doc *doc, const char *xml)
{
    return sim_doc_parse(doc, xml, strlen(xml));
}

/* Index of the first problem whose message contains `needle`, or -1. */
static int find_problem(const struct sim_doc *doc, const char *needle)
{
    size_t i;

    for (i = 0; i < doc->nproblems; i++) {
        if (strstr(doc->problems[i].message, needle))
            return (int)i;
    }
    return -1;
}

Test(sim_doc, minimal_response)
{
    struct sim_doc doc;

    cr_assert_eq(parse(&doc, DECL "<Response />"), 0);
    cr_assert_str_eq(doc.root.name, "Response");
    cr_assert_str_eq(doc.root.text, "");
    cr_assert_eq(doc.root.nchildren, 0);
    cr_assert_eq(doc.nproblems, 0);
    sim_doc_release(&doc);
}

Test(sim_doc, declaration_is_optional)
{
    struct sim_doc doc;

    cr_assert_eq(parse(&doc, "\n  <Response><Hangup/></Response>\n"), 0);
    cr_assert_eq(doc.root.nchildren, 1);
    cr_assert_eq(doc.nproblems, 0);
    sim_doc_release(&doc);
}

Test(sim_doc, tree_attributes_text_and_lines)
{
    struct sim_doc doc;
    const struct sim_node *gather, *say;
    const char *xml =
        DECL "\n"
             "<Response>\n"
             "  <Say voice=\"Polly.Joanna\" language=\"en-US\">  Hello &amp; welcome  "
             "</Say>\n"
             "  <!-- a comment is fine -->\n"
             "  <Gather input=\"dtmf speech\" numDigits=\"4\" action=\"/voice/gather\">\n"
             "    <Say>Press <![CDATA[one <now>]]></Say>\n"
             "    <Pause length=\"2\"/>\n"
             "  </Gather>\n"
             "  <Redirect method=\"GET\">gather?x=1&amp;y=2</Redirect>\n"
             "</Response>\n";

    cr_assert_eq(parse(&doc, xml), 0);
    cr_assert_eq(doc.nproblems, 0, "%s", doc.problems[0].message);
    cr_assert_eq(doc.root.line, 2);
    cr_assert_eq(doc.root.nchildren, 3);

    say = &doc.root.children[0];
    cr_assert_str_eq(say->name, "Say");
    cr_assert_str_eq(say->text, "Hello & welcome");
    cr_assert_eq(say->nattrs, 2);
    cr_assert_str_eq(sim_node_attr(say, "voice"), "Polly.Joanna");
    cr_assert_str_eq(sim_node_attr(say, "language"), "en-US");
    cr_assert_null(sim_node_attr(say, "loop"));
    cr_assert_eq(say->line, 3);

    gather = &doc.root.children[1];
    cr_assert_str_eq(gather->name, "Gather");
    cr_assert_eq(gather->line, 5);
    cr_assert_str_eq(sim_node_attr(gather, "numDigits"), "4");
    cr_assert_eq(gather->nchildren, 2);
    cr_assert_str_eq(gather->children[0].text, "Press one <now>");
    cr_assert_str_eq(gather->children[1].name, "Pause");
    cr_assert_str_eq(sim_node_attr(&gather->children[1], "length"), "2");
    cr_assert_eq(gather->children[1].line, 7);

    cr_assert_str_eq(doc.root.children[2].text, "gather?x=1&y=2");
    cr_assert_str_eq(sim_node_attr(&doc.root.children[2], "method"), "GET");
    sim_doc_release(&doc);
}

Test(sim_doc, utf8_text_passes_through)
{
    struct sim_doc doc;

    cr_assert_eq(parse(&doc, DECL "<Response><Say language=\"es-ES\">\xc2\xbf"
                                  "Qu\xc3\xa9 tal?</Say></Response>"),
                 0);
    cr_assert_str_eq(doc.root.children[0].text, "\xc2\xbfQu\xc3\xa9 tal?");
    sim_doc_release(&doc);
}

Test(sim_doc, output_of_the_builder_parses_clean)
{
    struct twiml t;
    struct sim_doc doc;
    char *xml = NULL;
    size_t len = 0;

    twiml_init(&t);
    twiml_open(&t, "Connect", (const char *[]){"action", "https://x/after", NULL});
    twiml_open(&t, "Stream", (const char *[]){"url", "wss://e/a?b=1&c=2", NULL});
    twiml_leaf(&t, "Parameter", (const char *[]){"name", "n", "value", "Jane & <Co>", NULL}, NULL);
    twiml_close(&t);
    twiml_close(&t);
    twiml_open(&t, "Dial", (const char *[]){"timeout", "20", NULL});
    twiml_leaf(&t, "Number", (const char *[]){"sendDigits", "w1", NULL}, "+15551234567");
    twiml_close(&t);
    twiml_open(&t, "Refer", NULL);
    twiml_leaf(&t, "Sip", NULL, "sip:alice@example.com");
    twiml_close(&t);
    cr_assert_eq(twiml_finish(&t, &xml, &len), 0);

    cr_assert_eq(sim_doc_parse(&doc, xml, len), 0);
    cr_assert_eq(doc.nproblems, 0, "%s", doc.problems[0].message);
    cr_assert_str_eq(sim_node_attr(&doc.root.children[0].children[0].children[0], "value"),
                     "Jane & <Co>");
    cr_assert_str_eq(doc.root.children[2].children[0].text, "sip:alice@example.com");
    sim_doc_release(&doc);
    free(xml);
}

Test(sim_doc, leading_blank_line_before_declaration_is_12100)
{
    struct sim_doc doc;

    cr_assert_eq(parse(&doc, "\n" DECL "<Response/>"), SB_EPARSE);
    cr_assert_eq(doc.nproblems, 1);
    cr_assert_eq(doc.problems[0].code, 12100);
    cr_assert_eq(doc.problems[0].line, 2);
    cr_assert_neq(find_problem(&doc, "whitespace before the xml declaration"), -1);
    sim_doc_release(&doc);

    cr_assert_eq(parse(&doc, "  " DECL "<Response/>"), SB_EPARSE);
    cr_assert_eq(doc.problems[0].code, 12100);
    cr_assert_eq(doc.problems[0].line, 1);
    sim_doc_release(&doc);
}

Test(sim_doc, byte_order_mark_is_fine)
{
    struct sim_doc doc;

    cr_assert_eq(parse(&doc, "\xEF\xBB\xBF" DECL "<Response/>"), 0);
    sim_doc_release(&doc);
}

Test(sim_doc, malformed_xml_is_12100_with_line)
{
    struct sim_doc doc;

    cr_assert_eq(parse(&doc, DECL "\n<Response>\n<Say>hi</Play>\n</Response>"), SB_EPARSE);
    cr_assert_eq(doc.nproblems, 1);
    cr_assert_eq(doc.problems[0].code, 12100);
    cr_assert_eq(doc.problems[0].line, 3);
    cr_assert_neq(find_problem(&doc, "not well-formed xml"), -1);
    sim_doc_release(&doc);
}

Test(sim_doc, other_malformations_are_12100)
{
    const char *bad[] = {
        DECL "<Response><Say>a & b</Say></Response>",
        DECL "<Response><Say voice=man>x</Say></Response>",
        DECL "<Response><Say>",
        DECL "<Response></Response><Response></Response>",
        "Hello, this is not XML",
        "   ",
    };
    struct sim_doc doc;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse(&doc, bad[i]), SB_EPARSE, "%s", bad[i]);
        cr_assert_geq(doc.nproblems, 1);
        cr_assert_eq(doc.problems[0].code, 12100, "%s", bad[i]);
        sim_doc_release(&doc);
    }
}

Test(sim_doc, empty_document_is_12100)
{
    struct sim_doc doc;

    cr_assert_eq(sim_doc_parse(&doc, "", 0), SB_EPARSE);
    cr_assert_eq(doc.problems[0].code, 12100);
    sim_doc_release(&doc);
    cr_assert_eq(sim_doc_parse(&doc, NULL, 0), SB_EPARSE);
    sim_doc_release(&doc);
}

Test(sim_doc, root_must_be_response)
{
    struct sim_doc doc;

    cr_assert_eq(parse(&doc, DECL "<response><Say>hi</Say></response>"), SB_EPARSE);
    cr_assert_eq(doc.problems[0].code, 12100);
    cr_assert_neq(find_problem(&doc, "root element is <response>, not <Response>"), -1);
    sim_doc_release(&doc);
    cr_assert_eq(parse(&doc, DECL "<Say>hi</Say>"), SB_EPARSE);
    cr_assert_eq(doc.problems[0].code, 12100);
    sim_doc_release(&doc);
}

Test(sim_doc, unknown_attribute_is_12200_and_dropped)
{
    struct sim_doc doc;

    cr_assert_eq(
        parse(&doc, DECL "<Response>\n<Say voise=\"alice\" loop=\"2\">Hi</Say></Response>"), 0);
    cr_assert_eq(doc.nproblems, 1);
    cr_assert_eq(doc.problems[0].code, 12200);
    cr_assert_eq(doc.problems[0].line, 2);
    cr_assert_str_eq(doc.problems[0].message, "unknown attribute 'voise' on <Say>");
    cr_assert_eq(doc.root.children[0].nattrs, 1);
    cr_assert_null(sim_node_attr(&doc.root.children[0], "voise"));
    cr_assert_str_eq(sim_node_attr(&doc.root.children[0], "loop"), "2");
    sim_doc_release(&doc);
}

Test(sim_doc, wrong_case_verb_is_12200)
{
    struct sim_doc doc;

    cr_assert_eq(parse(&doc, DECL "<Response><say>Hi</say><Hangup/></Response>"), 0);
    cr_assert_eq(doc.nproblems, 1);
    cr_assert_eq(doc.problems[0].code, 12200);
    cr_assert_neq(find_problem(&doc, "unknown element <say> in <Response>"), -1);
    cr_assert_neq(find_problem(&doc, "<Say>"), -1);
    /* Only what Twilio would run is left in the tree. */
    cr_assert_eq(doc.root.nchildren, 1);
    cr_assert_str_eq(doc.root.children[0].name, "Hangup");
    sim_doc_release(&doc);
}

Test(sim_doc, misplaced_and_unknown_children_are_12200)
{
    struct sim_doc doc;
    const char *xml = DECL "<Response>\n"
                           "<Number>+15551234567</Number>\n"
                           "<Gather><Dial>+1555</Dial><Say>ok</Say></Gather>\n"
                           "<Alexa/>\n"
                           "</Response>";

    cr_assert_eq(parse(&doc, xml), 0);
    cr_assert_eq(doc.nproblems, 3);
    cr_assert_eq(doc.problems[0].line, 2);
    cr_assert_str_eq(doc.problems[0].message, "unexpected element <Number> in <Response>");
    cr_assert_eq(doc.problems[1].line, 3);
    cr_assert_str_eq(doc.problems[1].message, "unexpected element <Dial> in <Gather>");
    cr_assert_eq(doc.problems[2].line, 4);
    cr_assert_str_eq(doc.problems[2].message, "unexpected element <Alexa> in <Response>");
    cr_assert_eq(doc.root.nchildren, 1);
    cr_assert_eq(doc.root.children[0].nchildren, 1);
    cr_assert_str_eq(doc.root.children[0].children[0].name, "Say");
    sim_doc_release(&doc);
}

Test(sim_doc, sip_attributes_depend_on_parent)
{
    struct sim_doc doc;

    cr_assert_eq(parse(&doc, DECL "<Response>"
                                  "<Dial><Sip username=\"u\" password=\"p\">sip:a@b</Sip></Dial>"
                                  "<Refer><Sip username=\"u\">sip:c@d</Sip></Refer>"
                                  "</Response>"),
                 0);
    cr_assert_eq(doc.nproblems, 1);
    cr_assert_str_eq(doc.problems[0].message, "unknown attribute 'username' on <Sip>");
    cr_assert_str_eq(sim_node_attr(&doc.root.children[0].children[0], "username"), "u");
    cr_assert_eq(doc.root.children[1].children[0].nattrs, 0);
    sim_doc_release(&doc);
}

Test(sim_doc, text_where_none_is_allowed_is_12200)
{
    struct sim_doc doc;

    cr_assert_eq(parse(&doc, DECL "<Response>stray<Gather>words</Gather></Response>"), 0);
    cr_assert_eq(doc.nproblems, 2);
    cr_assert_str_eq(doc.problems[0].message, "<Response> does not take text");
    cr_assert_str_eq(doc.problems[1].message, "<Gather> does not take text");
    cr_assert_str_eq(doc.root.text, "");
    cr_assert_str_eq(doc.root.children[0].text, "");
    sim_doc_release(&doc);
}

Test(sim_doc, attribute_on_response_is_12200)
{
    struct sim_doc doc;

    cr_assert_eq(parse(&doc, DECL "<Response voice=\"x\"/>"), 0);
    cr_assert_eq(doc.nproblems, 1);
    cr_assert_eq(doc.problems[0].code, 12200);
    sim_doc_release(&doc);
}

Test(sim_doc, ssml_inside_say)
{
    struct sim_doc doc;
    const struct sim_node *say;

    cr_assert_eq(parse(&doc, DECL "<Response><Say>Hi <break time=\"1s\"/> there "
                                  "<lang xml:lang=\"fr-FR\">bonjour</lang>"
                                  "<say-as interpret-as=\"digits\">123</say-as></Say></Response>"),
                 0);
    cr_assert_eq(doc.nproblems, 0, "%s", doc.problems[0].message);
    say = &doc.root.children[0];
    cr_assert_str_eq(say->text, "Hi  there");
    cr_assert_eq(say->nchildren, 3);
    cr_assert_str_eq(sim_node_attr(&say->children[1], "xml:lang"), "fr-FR");
    cr_assert_str_eq(sim_node_attr(&say->children[2], "interpret-as"), "digits");
    sim_doc_release(&doc);
}

Test(sim_doc, problems_are_capped)
{
    struct sim_doc doc;
    char xml[4096];
    size_t n;
    int i;

    n = (size_t)snprintf(xml, sizeof(xml), "%s<Response>", DECL);
    for (i = 0; i < 40; i++)
        n += (size_t)snprintf(xml + n, sizeof(xml) - n, "<Nope%d/>", i);
    snprintf(xml + n, sizeof(xml) - n, "</Response>");
    cr_assert_eq(parse(&doc, xml), 0);
    cr_assert_eq(doc.nproblems, SIM_DOC_MAX_PROBLEMS);
    cr_assert_str_eq(doc.problems[0].message, "unexpected element <Nope0> in <Response>");
    sim_doc_release(&doc);
}

Test(sim_doc, entities_are_not_expanded)
{
    struct sim_doc doc;
    const char *xml = "<?xml version=\"1.0\"?>\n"
                      "<!DOCTYPE Response [<!ENTITY x SYSTEM \"file:///etc/passwd\">"
                      "<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>\n"
                      "<Response><Say>&x;&b;</Say></Response>";

    cr_assert_eq(parse(&doc, xml), 0);
    cr_assert_eq(strstr(doc.root.children[0].text, "root:"), NULL);
    cr_assert_eq(strstr(doc.root.children[0].text, "aaaa"), NULL);
    sim_doc_release(&doc);
}

Test(sim_doc, large_document_uses_several_arena_blocks)
{
    struct sim_doc doc;
    char *xml = malloc(200000);
    size_t n = 0;
    int i;

    cr_assert_not_null(xml);
    n += (size_t)snprintf(xml + n, 200000 - n, "%s<Response>", DECL);
    for (i = 0; i < 2000; i++)
        n += (size_t)snprintf(xml + n, 200000 - n, "<Say loop=\"%d\">line %d</Say>", i, i);
    n += (size_t)snprintf(xml + n, 200000 - n, "</Response>");
    cr_assert_eq(sim_doc_parse(&doc, xml, n), 0);
    cr_assert_eq(doc.root.nchildren, 2000);
    cr_assert_str_eq(doc.root.children[1999].text, "line 1999");
    cr_assert_str_eq(sim_node_attr(&doc.root.children[1234], "loop"), "1234");
    sim_doc_release(&doc);
    free(xml);
}

/* Errors of one parse never show up in another running at the same time. */
static void *parse_many(void *arg)
{
    int good = *(int *)arg;
    struct sim_doc doc;
    long failures = 0;
    int i, rc;

    for (i = 0; i < 300; i++) {
        if (good) {
            rc = parse(&doc, DECL "<Response><Say>ok</Say></Response>");
            failures += rc != 0 || doc.nproblems != 0;
        } else {
            rc = parse(&doc, DECL "<Response>\n\n<Say>bad</Play></Response>");
            failures += rc != SB_EPARSE || doc.nproblems != 1 || doc.problems[0].line != 3;
        }
        sim_doc_release(&doc);
    }
    return (void *)failures;
}

Test(sim_doc, concurrent_parses_keep_their_errors)
{
    pthread_t th[4];
    int kind[4] = {1, 0, 1, 0};
    void *failures;
    int i;

    for (i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, parse_many, &kind[i]), 0);
    for (i = 0; i < 4; i++) {
        cr_assert_eq(pthread_join(th[i], &failures), 0);
        cr_assert_null(failures, "thread %d", i);
    }
}

Test(sim_doc, release_is_idempotent)
{
    struct sim_doc doc;

    cr_assert_eq(parse(&doc, DECL "<Response/>"), 0);
    sim_doc_release(&doc);
    sim_doc_release(&doc);
    sim_doc_release(NULL);
}
