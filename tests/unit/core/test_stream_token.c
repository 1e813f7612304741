/*
 * Tests for core/stream_token. The vectors were computed independently with
 * Python's hmac and base64 modules from the formulas in stream_token.h.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/stream_token.h"

#define SID_1 "CA00000000000000000000000000000001"
#define SID_2 "CA00000000000000000000000000000002"
#define TOKEN_12345_SID_1 "QrX4RyNCHQ7BaTxwhW6R8QFVyx4Wb624AMuKMVp4FmE="
#define TOKEN_SECRET_SID_1 "kF79Kb+92If2JPbBAZshDGlAnvjCxxbNAdaReiyZnb0="
#define TOKEN_EMPTY_SID_1 "CBfNN1B28+hmB2oNkok+HARFjbFNOPiOUNcO8PrzsrU="

static struct stream_token_key key_of(const char *secret, const char *auth_token)
{
    struct stream_token_key k;

    cr_assert_eq(stream_token_key_init(&k, secret, auth_token), 0);
    cr_assert(k.ready);
    return k;
}

Test(stream_token, derived_from_the_auth_token)
{
    struct stream_token_key k = key_of("", "12345");
    char out[STREAM_TOKEN_SIZE];

    cr_assert_eq(stream_token_for(&k, SID_1, out), 0);
    cr_assert_str_eq(out, TOKEN_12345_SID_1);
    stream_token_key_clear(&k);
}

Test(stream_token, the_secret_wins_over_the_auth_token)
{
    struct stream_token_key k = key_of("shared-secret", "12345");
    char out[STREAM_TOKEN_SIZE];

    cr_assert_eq(stream_token_for(&k, SID_1, out), 0);
    cr_assert_str_eq(out, TOKEN_SECRET_SID_1);
    stream_token_key_clear(&k);
}

Test(stream_token, an_empty_auth_token_still_keys)
{
    struct stream_token_key k = key_of("", "");
    char out[STREAM_TOKEN_SIZE];

    cr_assert_eq(stream_token_for(&k, SID_1, out), 0);
    cr_assert_str_eq(out, TOKEN_EMPTY_SID_1);
    stream_token_key_clear(&k);
}

Test(stream_token, differs_per_call)
{
    struct stream_token_key k = key_of("", "12345");
    char a[STREAM_TOKEN_SIZE], b[STREAM_TOKEN_SIZE];

    cr_assert_eq(stream_token_for(&k, SID_1, a), 0);
    cr_assert_eq(stream_token_for(&k, SID_2, b), 0);
    cr_assert_str_neq(a, b);
    cr_assert_eq(strlen(a), STREAM_TOKEN_SIZE - 1);
    stream_token_key_clear(&k);
}

Test(stream_token, check_accepts_only_the_calls_token)
{
    struct stream_token_key k = key_of("", "12345");
    char other[STREAM_TOKEN_SIZE];

    cr_assert_eq(stream_token_check(&k, SID_1, TOKEN_12345_SID_1), 0);
    cr_assert_eq(stream_token_for(&k, SID_2, other), 0);
    cr_assert_eq(stream_token_check(&k, SID_1, other), SB_EBADSIG);
    cr_assert_eq(stream_token_check(&k, SID_2, TOKEN_12345_SID_1), SB_EBADSIG);
    stream_token_key_clear(&k);
}

Test(stream_token, check_refuses_missing_truncated_and_extended_tokens)
{
    struct stream_token_key k = key_of("", "12345");
    char longer[STREAM_TOKEN_SIZE + 2];

    snprintf(longer, sizeof(longer), "%sA", TOKEN_12345_SID_1);
    cr_assert_eq(stream_token_check(&k, SID_1, NULL), SB_EBADSIG);
    cr_assert_eq(stream_token_check(&k, SID_1, ""), SB_EBADSIG);
    cr_assert_eq(stream_token_check(&k, SID_1, "QrX4RyNCHQ7BaTxwhW6R8QFVyx4Wb624AMuKMVp4Fm"),
                 SB_EBADSIG);
    cr_assert_eq(stream_token_check(&k, SID_1, longer), SB_EBADSIG);
    cr_assert_eq(stream_token_check(&k, "", TOKEN_12345_SID_1), SB_EBADSIG);
    cr_assert_eq(stream_token_check(&k, NULL, TOKEN_12345_SID_1), SB_EBADSIG);
    stream_token_key_clear(&k);
}

Test(stream_token, another_key_does_not_match)
{
    struct stream_token_key k = key_of("another-secret", "12345");

    cr_assert_eq(stream_token_check(&k, SID_1, TOKEN_12345_SID_1), SB_EBADSIG);
    stream_token_key_clear(&k);
}

Test(stream_token, an_unready_key_refuses_everything)
{
    struct stream_token_key k;
    char out[STREAM_TOKEN_SIZE];

    memset(&k, 0, sizeof(k));
    cr_assert_eq(stream_token_for(&k, SID_1, out), SB_EINVAL);
    cr_assert_str_eq(out, "");
    cr_assert_eq(stream_token_check(&k, SID_1, TOKEN_12345_SID_1), SB_EINVAL);
    cr_assert_eq(stream_token_key_init(&k, NULL, "12345"), SB_EINVAL);
    cr_assert_eq(k.ready, 0);
}

Test(stream_token, clear_unreadies_the_key)
{
    struct stream_token_key k = key_of("", "12345");
    char out[STREAM_TOKEN_SIZE];

    stream_token_key_clear(&k);
    cr_assert_eq(k.ready, 0);
    cr_assert_eq(stream_token_for(&k, SID_1, out), SB_EINVAL);
}

Test(stream_token, overlong_call_sids_are_refused)
{
    struct stream_token_key k = key_of("", "12345");
    char sid[100], out[STREAM_TOKEN_SIZE];

    memset(sid, 'A', sizeof(sid) - 1);
    sid[sizeof(sid) - 1] = '\0';
    cr_assert_eq(stream_token_for(&k, sid, out), SB_EINVAL);
    cr_assert_eq(stream_token_check(&k, sid, TOKEN_12345_SID_1), SB_EBADSIG);
    stream_token_key_clear(&k);
}
