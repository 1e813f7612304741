/*
 * Tests for voice/sms: the keywords of an inbound message that opt a number
 * out or back in, the SMS fallback's template, and the empty TwiML answer.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "voice/sms.h"

Test(sms, stop_words_in_any_case_and_trimmed)
{
    static const char *const stops[] = {"STOP",        "stop",   " Stop\n", "\tSTOPALL ",
                                        "unsubscribe", "Cancel", "END",     "quit\r\n"};

    for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
        cr_assert_eq(sms_keyword(stops[i]), SMS_KEYWORD_STOP, "%s", stops[i]);
}

Test(sms, start_words)
{
    cr_assert_eq(sms_keyword("START"), SMS_KEYWORD_START);
    cr_assert_eq(sms_keyword(" yes "), SMS_KEYWORD_START);
    cr_assert_eq(sms_keyword("Unstop"), SMS_KEYWORD_START);
}

Test(sms, other_text_is_no_keyword)
{
    static const char *const others[] = {"",   "   ",    "stop please", "STOPP",   "STO",
                                         "no", "¿STOP?", "S TOP",       "startle", "sí"};

    cr_assert_eq(sms_keyword(NULL), SMS_KEYWORD_NONE);
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        cr_assert_eq(sms_keyword(others[i]), SMS_KEYWORD_NONE, "%s", others[i]);
}

Test(sms, fill_replaces_name_and_tenant_in_spanish)
{
    char out[256];

    cr_assert_eq(sms_fill("Hola {{name}}, no pudimos comunicarnos. — {{tenant}}", "José Núñez",
                          "acme", out, sizeof(out)),
                 0);
    cr_assert_str_eq(out, "Hola José Núñez, no pudimos comunicarnos. — acme");
    cr_assert_eq(sms_fill("{{name}}{{tenant}}{{name}}", NULL, NULL, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "");
    cr_assert_eq(sms_fill("{{nombre}} {{name", "x", "y", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "{{nombre}} {{name");
}

Test(sms, fill_that_does_not_fit_is_refused_and_empty)
{
    char out[8];

    cr_assert_eq(sms_fill("Hola {{name}}", "José", "acme", out, sizeof(out)), SB_ETOOBIG);
    cr_assert_str_eq(out, "");
    cr_assert_eq(sms_fill("1234567", NULL, NULL, out, sizeof(out)), 0);
    cr_assert_eq(sms_fill("12345678", NULL, NULL, out, sizeof(out)), SB_ETOOBIG);
    cr_assert_eq(sms_fill("x", NULL, NULL, out, 0), SB_ETOOBIG);
}

Test(sms, reply_is_empty_twiml)
{
    struct reply r = REPLY_INIT;

    cr_assert_eq(sms_reply(&r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.content_type, "text/xml");
    cr_assert(strstr(r.body, "<Response/>") != NULL);
    cr_assert_eq(r.len, strlen(r.body));
    reply_release(&r);
}
