/* Tests for core/clock: the monotonic clocks agree and never run backwards. */
#include <criterion/criterion.h>
#include <time.h>

#include "core/clock.h"

Test(clock, monotonic_never_goes_back)
{
    long long prev = clock_mono_us();

    for (int i = 0; i < 1000; i++) {
        long long now = clock_mono_us();

        cr_assert_geq(now, prev);
        prev = now;
    }
}

Test(clock, units_agree)
{
    long long us = clock_mono_us();
    long long ms = clock_mono_ms();
    double s = clock_mono_s();
    long long us_after = clock_mono_us();

    /* Each reading lies between the two microsecond readings around it. */
    cr_assert_geq(ms, us / 1000);
    cr_assert_leq(ms, us_after / 1000);
    cr_assert_geq(s * 1e6, (double)us - 1.0);
    cr_assert_leq(s * 1e6, (double)us_after + 1.0);
}

Test(clock, wall_is_unix_time)
{
    time_t before = time(NULL);
    long long ms = clock_wall_ms();
    time_t after = time(NULL);

    cr_assert_geq(ms / 1000, (long long)before);
    cr_assert_leq(ms / 1000, (long long)after);
}
