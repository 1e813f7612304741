/* Tests for core/redact. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/redact.h"

Test(redact, keeps_last_four)
{
    char out[REDACT_SIZE];

    cr_assert_str_eq(redact_number("+15005550006", out), "***0006");
    cr_assert_str_eq(redact_number("+12345", out), "***2345");
    cr_assert_str_eq(redact_number("12345", out), "***2345");
}

Test(redact, returns_out)
{
    char out[REDACT_SIZE];

    cr_assert_eq(redact_number("+15005550006", out), out);
    cr_assert_eq(redact_number(NULL, out), out);
}

Test(redact, four_or_fewer_show_nothing)
{
    char out[REDACT_SIZE];

    cr_assert_str_eq(redact_number("1234", out), "***");
    cr_assert_str_eq(redact_number("+12", out), "***");
    cr_assert_str_eq(redact_number("", out), "***");
}

Test(redact, null_is_dash)
{
    char out[REDACT_SIZE];

    cr_assert_str_eq(redact_number(NULL, out), "-");
}

Test(redact, never_writes_past_redact_size)
{
    char out[REDACT_SIZE + 4];

    memset(out, 'Z', sizeof(out));
    redact_number("+123456789012345", out);
    cr_assert_str_eq(out, "***2345");
    cr_assert_eq(out[REDACT_SIZE], 'Z');
    cr_assert_eq(out[REDACT_SIZE + 3], 'Z');
}

Test(redact, non_numbers_keep_their_tail)
{
    char out[REDACT_SIZE];

    cr_assert_str_eq(redact_number("client:bob", out), "***:bob");
    cr_assert_str_eq(redact_number("anonymous", out), "***mous");
}

Test(redact, invisible_bytes_become_question_marks)
{
    char out[REDACT_SIZE];

    /* A newline or space would break the log line; a UTF-8 tail could be cut in half. */
    cr_assert_str_eq(redact_number("+1500555\n006", out), "***?006");
    cr_assert_str_eq(redact_number("+1500555 006", out), "***?006");
    cr_assert_str_eq(redact_number("caller\xc3\xa9x", out), "***r??x");
    cr_assert_str_eq(redact_number("abc\x7f"
                                   "def",
                                   out),
                     "***?def");
}
