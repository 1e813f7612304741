#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/twiml.h"

#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"

/* Finishes `t`, checks the document against `want` byte for byte. */
static void expect_doc(struct twiml *t, const char *want)
{
    char *doc = NULL;
    size_t len = 0;
    int rc = twiml_finish(t, &doc, &len);

    cr_assert_eq(rc, 0, "twiml_finish: %s", sb_strerror(rc));
    cr_assert_not_null(doc);
    cr_assert_eq(len, strlen(doc));
    cr_assert_str_eq(doc, want);
    free(doc);
}

static char *escaped(int attr, const char *text, int *rc)
{
    struct buf b = BUF_INIT(1024);

    *rc = attr ? twiml_escape_attr(&b, text) : twiml_escape_text(&b, text);
    return buf_detach(&b, NULL);
}

Test(twiml, empty_response)
{
    struct twiml t;

    twiml_init(&t);
    expect_doc(&t, DECL "<Response />");
}

Test(twiml, init_allocates_nothing)
{
    struct twiml t;

    twiml_init(&t);
    cr_assert_null(t.out.data);
    twiml_release(&t);
}

Test(twiml, escape_text_only_amp_lt_gt)
{
    int rc;
    char *s = escaped(0, "a&b<c>d\"e'f\ng\th\ri", &rc);

    cr_assert_eq(rc, 0);
    cr_assert_str_eq(s, "a&amp;b&lt;c&gt;d\"e'f\ng\th\ri");
    free(s);
}

Test(twiml, escape_attr_like_elementtree)
{
    int rc;
    char *s = escaped(1, "a&b<c>d\"e'f\ng\th\ri", &rc);

    cr_assert_eq(rc, 0);
    cr_assert_str_eq(s, "a&amp;b&lt;c&gt;d&quot;e'f&#10;g&#09;h&#13;i");
    free(s);
}

Test(twiml, escape_appends_to_existing_content)
{
    struct buf b = BUF_INIT(64);

    cr_assert_eq(buf_puts(&b, "x="), 0);
    cr_assert_eq(twiml_escape_attr(&b, "<&>"), 0);
    cr_assert_str_eq(buf_cstr(&b), "x=&lt;&amp;&gt;");
    buf_release(&b);
}

Test(twiml, escape_leaves_buffer_unchanged_on_error)
{
    struct buf b = BUF_INIT(64);

    cr_assert_eq(buf_puts(&b, "keep"), 0);
    cr_assert_eq(twiml_escape_text(&b, "a&b\x01"), SB_EINVAL);
    cr_assert_str_eq(buf_cstr(&b), "keep");
    cr_assert_eq(b.len, 4);
    buf_release(&b);
}

Test(twiml, escape_respects_buffer_maximum)
{
    struct buf b = BUF_INIT(8);

    cr_assert_eq(twiml_escape_text(&b, "&&"), SB_ETOOBIG);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(twiml_escape_text(&b, "&"), 0);
    cr_assert_str_eq(buf_cstr(&b), "&amp;");
    buf_release(&b);
}

Test(twiml, escaping_in_document)
{
    struct twiml t;
    const char *a[] = {"method", "POST", NULL};
    const char *s[] = {"voice", "a\"b'c\nd\te\rf<&>", NULL};

    twiml_init(&t);
    twiml_leaf(&t, "Redirect", a, "example.com?id=34&action=hey");
    twiml_leaf(&t, "Say", s, "x \"q\" 'a' <b> & c\n\t");
    expect_doc(&t, DECL "<Response><Redirect method=\"POST\">example.com?id=34&amp;action=hey"
                        "</Redirect><Say voice=\"a&quot;b'c&#10;d&#09;e&#13;f&lt;&amp;&gt;\">"
                        "x \"q\" 'a' &lt;b&gt; &amp; c\n\t</Say></Response>");
}

Test(twiml, attributes_sorted_by_name)
{
    struct twiml t;
    const char *say[] = {"voice", "man", "loop", "3", "language", "fr", NULL};
    const char *conf[] = {"waitUrl",
                          "",
                          "startConferenceOnEnter",
                          "true",
                          "muted",
                          "true",
                          "endConferenceOnExit",
                          "true",
                          "beep",
                          "false",
                          NULL};

    twiml_init(&t);
    twiml_leaf(&t, "Say", say, "Bonjour");
    twiml_open(&t, "Dial", NULL);
    twiml_leaf(&t, "Conference", conf, "Room");
    twiml_close(&t);
    expect_doc(&t, DECL "<Response><Say language=\"fr\" loop=\"3\" voice=\"man\">Bonjour</Say>"
                        "<Dial><Conference beep=\"false\" endConferenceOnExit=\"true\" "
                        "muted=\"true\" startConferenceOnEnter=\"true\" waitUrl=\"\">Room"
                        "</Conference></Dial></Response>");
}

Test(twiml, sort_is_byte_order)
{
    struct twiml t;
    /* statusCallback sorts before statusCallbackEvent (prefix first). */
    const char *n[] = {"statusCallbackMethod",
                       "POST",
                       "statusCallbackEvent",
                       "answered",
                       "statusCallback",
                       "https://e/cb",
                       "byoc",
                       "BY1",
                       "amdStatusCallback",
                       "https://e/amd",
                       NULL};

    twiml_init(&t);
    twiml_open(&t, "Dial", NULL);
    twiml_leaf(&t, "Number", n, "+15551234567");
    twiml_close(&t);
    expect_doc(&t, DECL "<Response><Dial><Number amdStatusCallback=\"https://e/amd\" "
                        "byoc=\"BY1\" statusCallback=\"https://e/cb\" "
                        "statusCallbackEvent=\"answered\" statusCallbackMethod=\"POST\">"
                        "+15551234567</Number></Dial></Response>");
}

Test(twiml, self_closing_elements)
{
    struct twiml t;
    const char *play[] = {"digits", "w123", NULL};

    twiml_init(&t);
    twiml_leaf(&t, "Say", NULL, NULL);
    twiml_leaf(&t, "Say", NULL, "");
    twiml_leaf(&t, "Play", play, NULL);
    twiml_leaf(&t, "Hangup", NULL, NULL);
    twiml_open(&t, "Gather", NULL);
    twiml_close(&t);
    twiml_leaf(&t, "Leave", NULL, NULL);
    twiml_leaf(&t, "Reject", NULL, NULL);
    twiml_leaf(&t, "Echo", NULL, NULL);
    expect_doc(&t, DECL "<Response><Say /><Say /><Play digits=\"w123\" /><Hangup /><Gather />"
                        "<Leave /><Reject /><Echo /></Response>");
}

Test(twiml, nested_gather)
{
    struct twiml t;
    const char *g[] = {"numDigits", "1", "action", "/menu", "input", "dtmf", NULL};
    const char *say[] = {"voice", "man", NULL};
    const char *pause[] = {"length", "2", NULL};

    twiml_init(&t);
    cr_assert_eq(twiml_open(&t, "Gather", g), 0);
    cr_assert_eq(twiml_leaf(&t, "Say", say, "Hello"), 0);
    cr_assert_eq(twiml_leaf(&t, "Pause", pause, NULL), 0);
    cr_assert_eq(twiml_leaf(&t, "Play", NULL, "http://e/a.mp3"), 0);
    cr_assert_eq(twiml_close(&t), 0);
    cr_assert_eq(twiml_leaf(&t, "Redirect", NULL, "/again"), 0);
    expect_doc(&t, DECL "<Response><Gather action=\"/menu\" input=\"dtmf\" numDigits=\"1\">"
                        "<Say voice=\"man\">Hello</Say><Pause length=\"2\" />"
                        "<Play>http://e/a.mp3</Play></Gather><Redirect>/again</Redirect>"
                        "</Response>");
}

Test(twiml, finish_closes_open_elements)
{
    struct twiml t;

    twiml_init(&t);
    twiml_open(&t, "Dial", NULL);
    twiml_open(&t, "Client", NULL);
    twiml_leaf(&t, "Identity", NULL, "alice");
    twiml_open(&t, "Parameter", (const char *[]){"name", "k", "value", "v", NULL});
    expect_doc(&t, DECL "<Response><Dial><Client><Identity>alice</Identity>"
                        "<Parameter name=\"k\" value=\"v\" /></Client></Dial></Response>");
}

Test(twiml, sticky_first_error)
{
    struct twiml t;
    char *doc = (char *)"untouched";
    size_t len = 7;

    twiml_init(&t);
    cr_assert_eq(twiml_leaf(&t, "Say", NULL, "ok"), 0);
    cr_assert_eq(twiml_open(&t, "Dail", NULL), SB_EINVAL);
    cr_assert_eq(t.err, SB_EINVAL);
    /* Later calls, even valid ones, return the first error and do nothing. */
    cr_assert_eq(twiml_leaf(&t, "Hangup", NULL, NULL), SB_EINVAL);
    cr_assert_eq(twiml_text(&t, "x"), SB_EINVAL);
    cr_assert_eq(twiml_close(&t), SB_EINVAL);
    cr_assert_eq(twiml_finish(&t, &doc, &len), SB_EINVAL);
    cr_assert_str_eq(doc, "untouched");
    cr_assert_eq(len, 7);
    cr_assert_null(t.out.data);
}

Test(twiml, sticky_keeps_the_first_code)
{
    struct twiml t;

    twiml_init(&t);
    twiml_open(&t, "Say", NULL);
    for (int i = 0; i < TWIML_MAX_DEPTH; i++)
        twiml_open(&t, "prosody", NULL);
    cr_assert_eq(t.err, SB_ETOOBIG);
    cr_assert_eq(twiml_open(&t, "Nope", NULL), SB_ETOOBIG);
    twiml_release(&t);
}

Test(twiml, unknown_verb_rejected)
{
    struct twiml t;

    twiml_init(&t);
    cr_assert_eq(twiml_open(&t, "Sayy", NULL), SB_EINVAL);
    twiml_release(&t);
    twiml_init(&t);
    cr_assert_eq(twiml_open(&t, "say", NULL), SB_EINVAL, "names are case-sensitive");
    twiml_release(&t);
    twiml_init(&t);
    cr_assert_eq(twiml_open(&t, "Response", NULL), SB_EINVAL);
    twiml_release(&t);
    twiml_init(&t);
    cr_assert_eq(twiml_open(&t, NULL, NULL), SB_EINVAL);
    twiml_release(&t);
}

Test(twiml, unknown_attribute_rejected)
{
    struct twiml t;

    twiml_init(&t);
    cr_assert_eq(twiml_open(&t, "Say", (const char *[]){"voise", "alice", NULL}), SB_EINVAL);
    twiml_release(&t);
    /* A name is checked even when its value is NULL: a typo is still a typo. */
    twiml_init(&t);
    cr_assert_eq(twiml_open(&t, "Say", (const char *[]){"Voice", NULL, NULL}), SB_EINVAL);
    twiml_release(&t);
    /* Attributes belong to the element, not to the document. */
    twiml_init(&t);
    cr_assert_eq(twiml_open(&t, "Hangup", (const char *[]){"method", "GET", NULL}), SB_EINVAL);
    twiml_release(&t);
    twiml_init(&t);
    cr_assert_eq(twiml_open(&t, "Play", (const char *[]){"voice", "alice", NULL}), SB_EINVAL);
    twiml_release(&t);
}

Test(twiml, duplicate_attribute_rejected)
{
    struct twiml t;

    twiml_init(&t);
    cr_assert_eq(
        twiml_open(&t, "Say", (const char *[]){"voice", "a", "loop", "2", "voice", "b", NULL}),
        SB_EINVAL);
    twiml_release(&t);
    twiml_init(&t);
    cr_assert_eq(twiml_open(&t, "Say", (const char *[]){"voice", NULL, "voice", "b", NULL}),
                 SB_EINVAL);
    twiml_release(&t);
}

Test(twiml, disallowed_child_rejected)
{
    struct twiml t;

    twiml_init(&t);
    cr_assert_eq(twiml_open(&t, "Number", NULL), SB_EINVAL, "Number only inside Dial");
    twiml_release(&t);

    twiml_init(&t);
    twiml_open(&t, "Dial", NULL);
    cr_assert_eq(twiml_open(&t, "Say", NULL), SB_EINVAL);
    twiml_release(&t);

    twiml_init(&t);
    twiml_open(&t, "Gather", NULL);
    cr_assert_eq(twiml_open(&t, "Gather", NULL), SB_EINVAL);
    twiml_release(&t);

    twiml_init(&t);
    twiml_open(&t, "Gather", NULL);
    cr_assert_eq(twiml_open(&t, "Redirect", NULL), SB_EINVAL);
    twiml_release(&t);

    twiml_init(&t);
    twiml_open(&t, "Connect", NULL);
    cr_assert_eq(twiml_open(&t, "Siprec", NULL), SB_EINVAL);
    twiml_release(&t);

    twiml_init(&t);
    twiml_open(&t, "Hangup", NULL);
    cr_assert_eq(twiml_open(&t, "Say", NULL), SB_EINVAL);
    twiml_release(&t);

    twiml_init(&t);
    twiml_open(&t, "Start", NULL);
    cr_assert_eq(twiml_open(&t, "Stream", NULL), 0);
    cr_assert_eq(twiml_open(&t, "Stream", NULL), SB_EINVAL);
    twiml_release(&t);
}

Test(twiml, text_where_not_allowed_rejected)
{
    struct twiml t;

    twiml_init(&t);
    cr_assert_eq(twiml_text(&t, "loose"), SB_EINVAL, "no text directly in Response");
    twiml_release(&t);

    twiml_init(&t);
    cr_assert_eq(twiml_leaf(&t, "Hangup", NULL, "now"), SB_EINVAL);
    twiml_release(&t);

    twiml_init(&t);
    twiml_open(&t, "Gather", NULL);
    cr_assert_eq(twiml_text(&t, "x"), SB_EINVAL);
    twiml_release(&t);

    twiml_init(&t);
    cr_assert_eq(twiml_text(&t, NULL), SB_EINVAL);
    twiml_release(&t);
}

Test(twiml, close_of_response_rejected)
{
    struct twiml t;

    twiml_init(&t);
    cr_assert_eq(twiml_close(&t), SB_EINVAL);
    twiml_release(&t);
}

/* The bytes a one-<Say> document costs besides the spoken text. */
static size_t say_overhead(void)
{
    return strlen(DECL "<Response><Say></Say></Response>");
}

static int build_say_of(size_t n, char **doc, size_t *len)
{
    struct twiml t;
    char *text = malloc(n + 1);
    int rc;

    cr_assert_not_null(text);
    memset(text, 'a', n);
    text[n] = '\0';
    twiml_init(&t);
    twiml_leaf(&t, "Say", NULL, text);
    rc = twiml_finish(&t, doc, len);
    free(text);
    return rc;
}

Test(twiml, size_limit_is_exactly_64k)
{
    char *doc = NULL;
    size_t len = 0;

    cr_assert_eq(build_say_of(TWIML_MAX_SIZE - say_overhead(), &doc, &len), 0);
    cr_assert_eq(len, TWIML_MAX_SIZE);
    cr_assert_eq(strlen(doc), TWIML_MAX_SIZE);
    free(doc);
    doc = NULL;
    /* One byte more and the closing tags no longer fit. */
    cr_assert_eq(build_say_of(TWIML_MAX_SIZE - say_overhead() + 1, &doc, &len), SB_ETOOBIG);
    cr_assert_null(doc);
}

Test(twiml, size_limit_many_verbs)
{
    struct twiml t;
    char *doc = NULL;
    size_t len = 0;
    int rc = 0;
    int i;

    twiml_init(&t);
    for (i = 0; i < 10000 && rc == 0; i++)
        rc = twiml_leaf(&t, "Say", (const char *[]){"voice", "Polly.Joanna", NULL}, "Hello & bye");
    cr_assert_eq(rc, SB_ETOOBIG);
    cr_assert_lt(i, 10000);
    cr_assert_eq(twiml_finish(&t, &doc, &len), SB_ETOOBIG);
    cr_assert_null(doc);
}

Test(twiml, depth_limit)
{
    struct twiml t;
    int i;

    twiml_init(&t);
    cr_assert_eq(twiml_open(&t, "Say", NULL), 0);
    /* Response and Say take two levels; prosody nests in itself. */
    for (i = 2; i < TWIML_MAX_DEPTH; i++)
        cr_assert_eq(twiml_open(&t, "prosody", NULL), 0, "level %d", i + 1);
    cr_assert_eq(t.depth, TWIML_MAX_DEPTH);
    cr_assert_eq(twiml_open(&t, "prosody", NULL), SB_ETOOBIG);
    twiml_release(&t);
}

Test(twiml, depth_limit_document_is_well_formed)
{
    struct twiml t;
    int i;

    twiml_init(&t);
    twiml_open(&t, "Say", NULL);
    for (i = 2; i < TWIML_MAX_DEPTH; i++)
        twiml_open(&t, "prosody", (const char *[]){"rate", "slow", NULL});
    twiml_text(&t, "deep");
    expect_doc(&t, DECL "<Response><Say><prosody rate=\"slow\"><prosody rate=\"slow\">"
                        "<prosody rate=\"slow\"><prosody rate=\"slow\"><prosody rate=\"slow\">"
                        "<prosody rate=\"slow\">deep</prosody></prosody></prosody></prosody>"
                        "</prosody></prosody></Say></Response>");
}

Test(twiml, null_valued_attributes_skipped)
{
    struct twiml t;
    const char *a[] = {"voice", NULL, "loop", "2", "language", NULL, NULL};

    twiml_init(&t);
    twiml_leaf(&t, "Say", a, "Hi");
    twiml_leaf(&t, "Pause", (const char *[]){"length", NULL, NULL}, NULL);
    expect_doc(&t, DECL "<Response><Say loop=\"2\">Hi</Say><Pause /></Response>");
}

Test(twiml, empty_string_attribute_kept)
{
    struct twiml t;

    twiml_init(&t);
    twiml_open(&t, "Dial", NULL);
    twiml_leaf(&t, "Queue", (const char *[]){"url", "", "method", "GET", NULL},
               "TestQueueAttribute");
    twiml_close(&t);
    twiml_leaf(&t, "Record", (const char *[]){"finishOnKey", "", NULL}, NULL);
    expect_doc(&t, DECL "<Response><Dial><Queue method=\"GET\" url=\"\">TestQueueAttribute"
                        "</Queue></Dial><Record finishOnKey=\"\" /></Response>");
}

Test(twiml, utf8_passthrough)
{
    struct twiml t;

    twiml_init(&t);
    twiml_leaf(&t, "Say", (const char *[]){"voice", "Léa", NULL},
               "nécessaire et d'autres: ñ 日本語 \xf0\x9f\x93\x9e");
    expect_doc(&t, DECL "<Response><Say voice=\"Léa\">nécessaire et d'autres: ñ 日本語 "
                        "\xf0\x9f\x93\x9e</Say></Response>");
}

Test(twiml, malformed_utf8_rejected)
{
    static const char *const bad[] = {
        "\x80",             /* stray continuation byte */
        "\xc3",             /* truncated sequence */
        "\xc3(",            /* bad continuation */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong three-byte form */
        "\xed\xa0\x80",     /* UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* beyond U+10FFFF */
        "\xf8\x88\x80\x80", /* five-byte form */
        "\xef\xbf\xbe",     /* U+FFFE, not an XML character */
        "\xef\xbf\xbf",     /* U+FFFF, not an XML character */
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct twiml t;

        twiml_init(&t);
        cr_assert_eq(twiml_leaf(&t, "Say", NULL, bad[i]), SB_EINVAL, "case %zu", i);
        twiml_release(&t);
        twiml_init(&t);
        cr_assert_eq(twiml_leaf(&t, "Say", (const char *[]){"voice", bad[i], NULL}, NULL),
                     SB_EINVAL, "attr case %zu", i);
        twiml_release(&t);
    }
}

Test(twiml, utf8_edges_accepted)
{
    int rc;
    char *s = escaped(0,
                      "\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xef\xbf\xbd \xf0\x90\x80\x80 "
                      "\xf4\x8f\xbf\xbf \x7f",
                      &rc);

    cr_assert_eq(rc, 0);
    free(s);
}

Test(twiml, control_characters_rejected)
{
    struct twiml t;
    char text[] = "a?b";
    int c;

    /* Such a document is not XML at all, and Twilio could not parse it. */
    for (c = 1; c < 0x20; c++) {
        if (c == '\t' || c == '\n' || c == '\r')
            continue;
        text[1] = (char)c;
        twiml_init(&t);
        cr_assert_eq(twiml_leaf(&t, "Say", NULL, text), SB_EINVAL, "byte %d", c);
        twiml_release(&t);
    }
}

Test(twiml, refer_sip_is_a_bare_uri)
{
    struct twiml t;

    twiml_init(&t);
    twiml_open(&t, "Refer", (const char *[]){"action", "/done", NULL});
    cr_assert_eq(twiml_open(&t, "Sip", (const char *[]){"username", "u", NULL}), SB_EINVAL);
    twiml_release(&t);

    twiml_init(&t);
    twiml_open(&t, "Refer", (const char *[]){"action", "/done", NULL});
    twiml_leaf(&t, "Sip", NULL, "sip:alice@example.com");
    twiml_close(&t);
    twiml_open(&t, "Dial", NULL);
    twiml_leaf(&t, "Sip", (const char *[]){"username", "u", "password", "p", NULL},
               "sip:bob@example.com");
    expect_doc(&t, DECL "<Response><Refer action=\"/done\"><Sip>sip:alice@example.com</Sip>"
                        "</Refer><Dial><Sip password=\"p\" username=\"u\">sip:bob@example.com"
                        "</Sip></Dial></Response>");
}

Test(twiml, ssml_inside_say)
{
    struct twiml t;

    twiml_init(&t);
    twiml_open(&t, "Say", (const char *[]){"voice", "Polly.Joanna", NULL});
    twiml_text(&t, "Call ");
    twiml_leaf(&t, "say-as", (const char *[]){"interpret-as", "telephone", NULL}, "5551234");
    twiml_leaf(&t, "break", (const char *[]){"time", "1s", NULL}, NULL);
    twiml_leaf(&t, "lang", (const char *[]){"xml:lang", "fr-FR", NULL}, "merci");
    twiml_text(&t, " now");
    twiml_close(&t);
    expect_doc(&t, DECL "<Response><Say voice=\"Polly.Joanna\">Call <say-as "
                        "interpret-as=\"telephone\">5551234</say-as><break time=\"1s\" />"
                        "<lang xml:lang=\"fr-FR\">merci</lang> now</Say></Response>");
}

Test(twiml, finish_after_release_fails)
{
    struct twiml t;
    char *doc = NULL;
    size_t len = 0;

    twiml_init(&t);
    twiml_leaf(&t, "Hangup", NULL, NULL);
    twiml_release(&t);
    cr_assert_eq(twiml_finish(&t, &doc, &len), SB_ECLOSED);
    cr_assert_null(doc);
    /* init makes the same struct usable again. */
    twiml_init(&t);
    expect_doc(&t, DECL "<Response />");
}

/* The golden outputs of twilio-python recorded in the protocol notes. */
Test(twiml, golden_connect_stream_parameter)
{
    struct twiml t;

    twiml_init(&t);
    twiml_open(&t, "Connect", (const char *[]){"action", "https://x/after", NULL});
    twiml_open(
        &t, "Stream",
        (const char *[]){"url", "wss://example.com/a?b=1&c=2", "track", "inbound_track", NULL});
    twiml_leaf(&t, "Parameter", (const char *[]){"name", "FirstName", "value", "Jane & <Co>", NULL},
               NULL);
    expect_doc(&t, DECL "<Response><Connect action=\"https://x/after\"><Stream "
                        "track=\"inbound_track\" url=\"wss://example.com/a?b=1&amp;c=2\">"
                        "<Parameter name=\"FirstName\" value=\"Jane &amp; &lt;Co&gt;\" />"
                        "</Stream></Connect></Response>");
}

Test(twiml, golden_start_say_gather_stop_reject)
{
    struct twiml t;

    twiml_init(&t);
    twiml_open(&t, "Start", NULL);
    twiml_leaf(
        &t, "Stream",
        (const char *[]){"name", "s1", "url", "wss://e/x", "statusCallback", "https://e/cb", NULL},
        NULL);
    twiml_close(&t);
    twiml_leaf(&t, "Say", (const char *[]){"voice", "Polly.Joanna", "language", "en-US", NULL},
               "Ünïcode \"q\" & <tag>");
    twiml_open(&t, "Gather",
               (const char *[]){"input", "dtmf speech", "numDigits", "4", "actionOnEmptyResult",
                                "true", "speechTimeout", "auto", NULL});
    twiml_leaf(&t, "Say", NULL, "Press");
    twiml_close(&t);
    twiml_open(&t, "Stop", NULL);
    twiml_leaf(&t, "Stream", (const char *[]){"name", "s1", NULL}, NULL);
    twiml_close(&t);
    twiml_leaf(&t, "Reject", (const char *[]){"reason", "busy", NULL}, NULL);
    expect_doc(&t,
               DECL "<Response><Start><Stream name=\"s1\" statusCallback=\"https://e/cb\" "
                    "url=\"wss://e/x\" /></Start><Say language=\"en-US\" voice=\"Polly.Joanna\">"
                    "Ünïcode \"q\" &amp; &lt;tag&gt;</Say><Gather actionOnEmptyResult=\"true\" "
                    "input=\"dtmf speech\" numDigits=\"4\" speechTimeout=\"auto\"><Say>Press</Say>"
                    "</Gather><Stop><Stream name=\"s1\" /></Stop><Reject reason=\"busy\" />"
                    "</Response>");
}

Test(twiml, golden_empty_response)
{
    struct twiml t;
    char *doc = NULL;
    size_t len = 0;

    twiml_init(&t);
    cr_assert_eq(twiml_finish(&t, &doc, &len), 0);
    /* The helper's to_xml(xml_declaration=False) is the part after the declaration. */
    cr_assert_gt(len, strlen(DECL));
    cr_assert_eq(memcmp(doc, DECL, strlen(DECL)), 0);
    cr_assert_str_eq(doc + strlen(DECL), "<Response />");
    free(doc);
}

Test(twiml, golden_dial_number_multi_value)
{
    struct twiml t;

    twiml_init(&t);
    twiml_open(&t, "Dial",
               (const char *[]){"record", "record-from-answer-dual", "answerOnBridge", "true",
                                "timeout", "20", NULL});
    twiml_leaf(&t, "Number", (const char *[]){"statusCallbackEvent", "initiated completed", NULL},
               "+15551234567");
    expect_doc(&t,
               DECL "<Response><Dial answerOnBridge=\"true\" record=\"record-from-answer-dual\" "
                    "timeout=\"20\"><Number statusCallbackEvent=\"initiated completed\">"
                    "+15551234567</Number></Dial></Response>");
}

Test(twiml, dial_text_and_nouns)
{
    struct twiml t;

    twiml_init(&t);
    twiml_leaf(&t, "Dial", NULL, "1231231234");
    twiml_open(&t, "Dial", NULL);
    twiml_leaf(&t, "Number", NULL, "1231231234");
    twiml_leaf(&t, "Client", NULL, "alice");
    twiml_leaf(&t, "Conference", NULL, "My Room");
    twiml_leaf(&t, "Queue", NULL, "The Cute Queue");
    twiml_leaf(&t, "Sim", NULL, "DE123");
    twiml_close(&t);
    twiml_open(&t, "Enqueue", (const char *[]){"workflowSid", "123123123", NULL});
    twiml_leaf(&t, "Task", (const char *[]){"priority", "5", NULL}, "{\"a\": 1}");
    expect_doc(&t, DECL "<Response><Dial>1231231234</Dial><Dial><Number>1231231234</Number>"
                        "<Client>alice</Client><Conference>My Room</Conference>"
                        "<Queue>The Cute Queue</Queue><Sim>DE123</Sim></Dial>"
                        "<Enqueue workflowSid=\"123123123\"><Task priority=\"5\">{\"a\": 1}"
                        "</Task></Enqueue></Response>");
}

Test(twiml_schema, root_is_response_only)
{
    cr_assert_eq(twiml_schema_element(NULL, "Response"), 1);
    cr_assert_eq(twiml_schema_element(NULL, "response"), 0);
    cr_assert_eq(twiml_schema_element(NULL, "Say"), 0);
    cr_assert_eq(twiml_schema_element(NULL, NULL), 0);
}

Test(twiml_schema, verbs_inside_response)
{
    const char *verbs[] = {"Say",      "Play",   "Pause",  "Gather",  "Dial",  "Record",
                           "Redirect", "Hangup", "Reject", "Enqueue", "Leave", "Connect",
                           "Start",    "Stop",   "Refer",  "Echo"};
    size_t i;

    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        cr_assert_eq(twiml_schema_element("Response", verbs[i]), 1, "%s", verbs[i]);
    cr_assert_eq(twiml_schema_element("Response", "say"), 0);
    cr_assert_eq(twiml_schema_element("Response", "Number"), 0);
    cr_assert_eq(twiml_schema_element("Response", "Response"), 0);
    cr_assert_eq(twiml_schema_element("Response", "Pay"), 0);
    cr_assert_eq(twiml_schema_element("Nope", "Say"), 0);
    cr_assert_eq(twiml_schema_element("Response", NULL), 0);
}

Test(twiml_schema, nested_children)
{
    cr_assert_eq(twiml_schema_element("Gather", "Say"), 1);
    cr_assert_eq(twiml_schema_element("Gather", "Play"), 1);
    cr_assert_eq(twiml_schema_element("Gather", "Pause"), 1);
    cr_assert_eq(twiml_schema_element("Gather", "Dial"), 0);
    cr_assert_eq(twiml_schema_element("Dial", "Number"), 1);
    cr_assert_eq(twiml_schema_element("Dial", "Sip"), 1);
    cr_assert_eq(twiml_schema_element("Dial", "Say"), 0);
    cr_assert_eq(twiml_schema_element("Connect", "Stream"), 1);
    cr_assert_eq(twiml_schema_element("Stream", "Parameter"), 1);
    cr_assert_eq(twiml_schema_element("Refer", "Sip"), 1);
    cr_assert_eq(twiml_schema_element("Refer", "Number"), 0);
    cr_assert_eq(twiml_schema_element("Say", "prosody"), 1);
    cr_assert_eq(twiml_schema_element("w", "p"), 0);
    cr_assert_eq(twiml_schema_element("Sip", "Parameter"), 0);
}

Test(twiml_schema, attributes_depend_on_parent)
{
    cr_assert_eq(twiml_schema_attr("Response", "Say", "voice"), 1);
    cr_assert_eq(twiml_schema_attr("Response", "Say", "voise"), 0);
    cr_assert_eq(twiml_schema_attr("Response", "Say", "Voice"), 0);
    cr_assert_eq(twiml_schema_attr("Gather", "Say", "language"), 1);
    cr_assert_eq(twiml_schema_attr("Response", "Gather", "numDigits"), 1);
    cr_assert_eq(twiml_schema_attr("Response", "Hangup", "method"), 0);
    /* One name, two nouns: <Dial><Sip> takes credentials, <Refer><Sip> nothing. */
    cr_assert_eq(twiml_schema_attr("Dial", "Sip", "username"), 1);
    cr_assert_eq(twiml_schema_attr("Refer", "Sip", "username"), 0);
    cr_assert_eq(twiml_schema_attr("w", "lang", "xml:lang"), 0);
    cr_assert_eq(twiml_schema_attr("Say", "lang", "xml:lang"), 1);
    cr_assert_eq(twiml_schema_attr("Response", "Play", NULL), 0);
    cr_assert_eq(twiml_schema_attr("Response", "Number", "url"), 0);
    cr_assert_eq(twiml_schema_attr(NULL, "Response", "voice"), 0);
}

Test(twiml_schema, text_content)
{
    cr_assert_eq(twiml_schema_text("Response", "Say"), 1);
    cr_assert_eq(twiml_schema_text("Response", "Play"), 1);
    cr_assert_eq(twiml_schema_text("Response", "Redirect"), 1);
    cr_assert_eq(twiml_schema_text("Response", "Dial"), 1);
    cr_assert_eq(twiml_schema_text("Response", "Gather"), 0);
    cr_assert_eq(twiml_schema_text("Response", "Pause"), 0);
    cr_assert_eq(twiml_schema_text("Refer", "Sip"), 1);
    cr_assert_eq(twiml_schema_text("Dial", "Sip"), 1);
    cr_assert_eq(twiml_schema_text(NULL, "Response"), 0);
    cr_assert_eq(twiml_schema_text("Response", "Bogus"), 0);
}

Test(twiml_schema, suggest_correct_case)
{
    cr_assert_str_eq(twiml_schema_suggest("Response", "say"), "Say");
    cr_assert_str_eq(twiml_schema_suggest("Response", "GATHER"), "Gather");
    cr_assert_str_eq(twiml_schema_suggest("Dial", "number"), "Number");
    cr_assert_str_eq(twiml_schema_suggest(NULL, "response"), "Response");
    cr_assert_null(twiml_schema_suggest("Response", "Number"));
    cr_assert_null(twiml_schema_suggest("Response", "Sayy"));
    cr_assert_null(twiml_schema_suggest("Response", NULL));
}

Test(twiml_schema, agrees_with_builder)
{
    struct twiml t;
    char *doc = NULL;
    size_t len = 0;

    /* What the builder accepts, the schema accepts, and the other way round. */
    cr_assert_eq(twiml_schema_attr("Dial", "Number", "sendDigits"), 1);
    twiml_init(&t);
    twiml_open(&t, "Dial", NULL);
    cr_assert_eq(twiml_leaf(&t, "Number", (const char *[]){"sendDigits", "1", NULL}, "+1"), 0);
    cr_assert_eq(twiml_schema_attr("Dial", "Number", "voice"), 0);
    cr_assert_eq(twiml_leaf(&t, "Number", (const char *[]){"voice", "x", NULL}, "+1"), SB_EINVAL);
    cr_assert_eq(twiml_finish(&t, &doc, &len), SB_EINVAL);
    cr_assert_null(doc);
}
