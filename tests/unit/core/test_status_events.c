/* Tests for core/status_events: Twilio's StatusCallbackEvent lists. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/err.h"
#include "core/status_events.h"

static int parse(const char *text, unsigned *bits, char *bad, size_t badsize)
{
    return status_events_parse(text, strlen(text), bits, bad, badsize);
}

Test(status_events, every_name)
{
    unsigned bits = 0;

    cr_assert_eq(parse("initiated ringing answered completed", &bits, NULL, 0), 0);
    cr_assert_eq(bits, STATUS_EVENT_INITIATED | STATUS_EVENT_RINGING | STATUS_EVENT_ANSWERED |
                           STATUS_EVENT_COMPLETED);
}

Test(status_events, commas_spaces_and_repeats)
{
    unsigned bits = 0;

    cr_assert_eq(parse(" ringing,, completed ,ringing ", &bits, NULL, 0), 0);
    cr_assert_eq(bits, STATUS_EVENT_RINGING | STATUS_EVENT_COMPLETED);
}

Test(status_events, bits_add_up_over_calls)
{
    unsigned bits = 0;

    cr_assert_eq(parse("initiated", &bits, NULL, 0), 0);
    cr_assert_eq(parse("answered", &bits, NULL, 0), 0);
    cr_assert_eq(bits, STATUS_EVENT_INITIATED | STATUS_EVENT_ANSWERED);
}

Test(status_events, empty_adds_nothing)
{
    unsigned bits = 0;

    cr_assert_eq(parse("", &bits, NULL, 0), 0);
    cr_assert_eq(parse(" , ", &bits, NULL, 0), 0);
    cr_assert_eq(status_events_parse(NULL, 0, &bits, NULL, 0), 0);
    cr_assert_eq(bits, 0);
}

Test(status_events, unknown_name_is_reported_and_changes_nothing)
{
    unsigned bits = STATUS_EVENT_COMPLETED;
    char bad[8];

    cr_assert_eq(parse("ringing Answered", &bits, bad, sizeof(bad)), SB_EPARSE);
    cr_assert_str_eq(bad, "Answere");
    cr_assert_eq(bits, STATUS_EVENT_COMPLETED);
    cr_assert_eq(parse("ringingx", &bits, NULL, 0), SB_EPARSE);
    cr_assert_eq(parse("ring", &bits, bad, sizeof(bad)), SB_EPARSE);
    cr_assert_str_eq(bad, "ring");
}

Test(status_events, length_bounds_the_text)
{
    unsigned bits = 0;

    cr_assert_eq(status_events_parse("ringingXXX", 7, &bits, NULL, 0), 0);
    cr_assert_eq(bits, STATUS_EVENT_RINGING);
}

Test(status_events, nul_inside_is_unknown)
{
    unsigned bits = 0;
    char bad[16];

    cr_assert_eq(status_events_parse("ringing\0x", 9, &bits, bad, sizeof(bad)), SB_EPARSE);
    cr_assert_str_eq(bad, "ringing");
    cr_assert_eq(bits, 0);
}

Test(status_events, null_arguments)
{
    cr_assert_eq(status_events_parse("ringing", 7, NULL, NULL, 0), SB_EINVAL);
    cr_assert_eq(status_events_parse(NULL, 3, &(unsigned){0}, NULL, 0), SB_EINVAL);
}
