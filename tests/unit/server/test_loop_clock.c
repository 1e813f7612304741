/*
 * Tests of the loop's pass length: how long one pass of the event loop lasts
 * at least, so that many streams' frames share one poll(). Only the rule is
 * tested here; no time is measured.
 */
#include <criterion/criterion.h>

#include "server/loop_clock.h"

Test(loop_clock, few_streams_never_wait)
{
    cr_assert_eq(loop_clock_pass_us(0), 0);
    cr_assert_eq(loop_clock_pass_us(1), 0);
    cr_assert_eq(loop_clock_pass_us(63), 0);
}

Test(loop_clock, pass_grows_with_the_streams)
{
    cr_assert_eq(loop_clock_pass_us(64), 128);
    cr_assert_eq(loop_clock_pass_us(500), 1000);
    cr_assert_eq(loop_clock_pass_us(1000), 2000);
    cr_assert_eq(loop_clock_pass_us(2000), 4000);
}

Test(loop_clock, pass_is_capped)
{
    cr_assert_eq(loop_clock_pass_us(2001), 4000);
    cr_assert_eq(loop_clock_pass_us(100000), 4000);
    cr_assert_eq(loop_clock_pass_us((size_t)-1), 4000);
}
