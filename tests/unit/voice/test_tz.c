/* Tests for voice/tz: a tenant's UTC offset from its IANA zone. */
#include <criterion/criterion.h>

#include "core/err.h"
#include "voice/tz.h"

Test(tz, new_york_follows_daylight_saving)
{
    int m = 1;

    cr_assert_eq(tz_offset_minutes("America/New_York", 1768478400, &m), 0); /* 2026-01-15 */
    cr_assert_eq(m, -300);
    cr_assert_eq(tz_offset_minutes("America/New_York", 1784116800, &m), 0); /* 2026-07-15 */
    cr_assert_eq(m, -240);
    /* Asked again within the minute: the same answer (from the cache). */
    cr_assert_eq(tz_offset_minutes("America/New_York", 1784116830, &m), 0);
    cr_assert_eq(m, -240);
}

Test(tz, utc_and_unknown_zones)
{
    int m = 7;

    cr_assert_eq(tz_offset_minutes("UTC", 1784116800, &m), 0);
    cr_assert_eq(m, 0);
    cr_assert_eq(tz_offset_minutes("Mars/Olympus_Mons", 1784116800, &m), SB_EINVAL);
    cr_assert_eq(m, 0);
    cr_assert_eq(tz_offset_minutes("../etc/passwd", 1784116800, &m), SB_EINVAL);
}
