/* Tests for core/sid: prefix and 32 lower-case hex digits. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/err.h"
#include "core/phone.h"
#include "core/sid.h"

static void assert_sid_shape(const char *sid, const char *prefix)
{
    size_t n = strlen(prefix);

    cr_assert_eq(strlen(sid), n + 32, "'%s'", sid);
    cr_assert_eq(strncmp(sid, prefix, n), 0, "'%s'", sid);
    for (size_t i = n; i < n + 32; i++)
        cr_assert(strchr("0123456789abcdef", sid[i]) != NULL, "'%s' at %zu", sid, i);
}

Test(sid, new_has_prefix_and_hex)
{
    char sid[SID_SIZE];

    cr_assert_eq(sid_new("CA", sid, sizeof(sid)), 0);
    assert_sid_shape(sid, "CA");
    cr_assert_eq(strlen(sid), SID_LEN);
}

Test(sid, new_differs_each_time)
{
    char a[SID_SIZE], b[SID_SIZE];

    cr_assert_eq(sid_new("MZ", a, sizeof(a)), 0);
    cr_assert_eq(sid_new("MZ", b, sizeof(b)), 0);
    cr_assert_str_neq(a, b);
}

Test(sid, exact_room_is_enough_and_less_is_refused)
{
    char sid[SID_LEN + 1];

    cr_assert_eq(sid_new("AC", sid, sizeof(sid)), 0);
    assert_sid_shape(sid, "AC");
    cr_assert_eq(sid_new("AC", sid, SID_LEN), SB_EINVAL);
    cr_assert_str_eq(sid, "");
    cr_assert_eq(sid_new("ACX", sid, sizeof(sid)), SB_EINVAL);
    cr_assert_eq(sid_new(NULL, sid, sizeof(sid)), SB_EINVAL);
    cr_assert_eq(sid_new("AC", NULL, 0), SB_EINVAL);
}

Test(sid, format_is_deterministic)
{
    unsigned char raw[SID_RAW_BYTES];
    char sid[SID_SIZE];

    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (unsigned char)(i * 17 + 10);
    cr_assert_eq(sid_format("RE", raw, sid, sizeof(sid)), 0);
    cr_assert_str_eq(sid, "RE0a1b2c3d4e5f708192a3b4c5d6e7f809");
}
