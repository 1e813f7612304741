/* Tests for core/e164. */
#include <criterion/criterion.h>

#include "core/e164.h"

Test(e164, valid_numbers)
{
    cr_assert(e164_valid("+15005550006"));
    cr_assert(e164_valid("+442071838750"));
    cr_assert(e164_valid("+2901234"));         /* seven digits: the shortest allowed */
    cr_assert(e164_valid("+123456789012345")); /* fifteen digits: the longest allowed */
    cr_assert(e164_valid("+9000000"));         /* only the first digit may not be 0 */
    cr_assert(e164_valid("+266696687"));       /* the shape is checked, not the assignment */
}

Test(e164, too_short_or_too_long)
{
    cr_assert_not(e164_valid("+"));
    cr_assert_not(e164_valid("+1"));
    cr_assert_not(e164_valid("+1555"));
    cr_assert_not(e164_valid("+123456"));
    cr_assert_not(e164_valid("+1234567890123456"));
    cr_assert_not(e164_valid("+12345678901234567890"));
}

Test(e164, first_digit_zero)
{
    cr_assert_not(e164_valid("+05005550006"));
    cr_assert_not(e164_valid("+00"));
}

Test(e164, plus_is_required)
{
    cr_assert_not(e164_valid("15005550006"));
    cr_assert_not(e164_valid("0015005550006"));
    cr_assert_not(e164_valid("++15005550006"));
}

Test(e164, only_digits_after_plus)
{
    cr_assert_not(e164_valid("+1 500 555 0006"));
    cr_assert_not(e164_valid("+1-500-555-0006"));
    cr_assert_not(e164_valid("+1500555000a"));
    cr_assert_not(e164_valid("+15005550006 "));
    cr_assert_not(e164_valid(" +15005550006"));
    cr_assert_not(e164_valid("+1500555\n0006"));
    cr_assert_not(e164_valid("+\xd9\xa1\xd9\xa2"));
}

Test(e164, what_else_twilio_sends)
{
    cr_assert_not(e164_valid(NULL));
    cr_assert_not(e164_valid(""));
    cr_assert_not(e164_valid("anonymous"));
    cr_assert_not(e164_valid("client:bob"));
    cr_assert_not(e164_valid("sip:alice@example.com"));
}
