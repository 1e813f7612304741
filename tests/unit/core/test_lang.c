/* Tests for core/lang. */
#include <criterion/criterion.h>

#include "core/lang.h"

Test(lang, north_america_is_english)
{
    cr_assert_str_eq(lang_for_caller("+14158675309", NULL), "en-US");
    cr_assert_str_eq(lang_for_caller("+16135550123", "fr"), "en-US"); /* Canada shares +1 */
    /* The Dominican Republic and Puerto Rico dial +1 too; the brief keeps them English. */
    cr_assert_str_eq(lang_for_caller("+18095550123", NULL), "en-US");
    cr_assert_str_eq(lang_for_caller("+17875550123", NULL), "en-US");
}

Test(lang, mexico_is_es_mx)
{
    cr_assert_str_eq(lang_for_caller("+525512345678", "en-US"), "es-MX");
    cr_assert_str_eq(lang_for_caller("+525512345678", "en-US"), "es-MX");
}

Test(lang, other_spanish_speaking_countries_are_es)
{
    static const char *const numbers[] = {
        "+34911234567",   /* Spain */
        "+5491112345678", /* Argentina */
        "+5712345678",    /* Colombia */
        "+5112345678",    /* Peru */
        "+582121234567",  /* Venezuela */
        "+56221234567",   /* Chile */
        "+59321234567",   /* Ecuador */
        "+50212345678",   /* Guatemala */
        "+5371234567",    /* Cuba */
        "+59121234567",   /* Bolivia */
        "+50412345678",   /* Honduras */
        "+595211234567",  /* Paraguay */
        "+50312345678",   /* El Salvador */
        "+50512345678",   /* Nicaragua */
        "+50612345678",   /* Costa Rica */
        "+5071234567",    /* Panama */
        "+59821234567",   /* Uruguay */
        "+240222123456",  /* Equatorial Guinea */
    };
    size_t i;

    for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
        cr_assert_str_eq(lang_for_caller(numbers[i], "en-US"), "es", "number %s", numbers[i]);
}

Test(lang, neighbours_of_spanish_codes_get_the_fallback)
{
    static const char *const numbers[] = {
        "+5511912345678", /* Brazil: +55 is not +5x Spanish */
        "+5012345678",    /* +50 alone is not a code */
        "+5922123456",    /* Guyana */
        "+5942123456",    /* French Guiana */
        "+5972123456",    /* Suriname */
        "+5992123456",    /* Curacao */
        "+5012345",       /* Belize is +501 */
        "+5082123456",    /* Saint Pierre and Miquelon */
        "+5092123456",    /* Haiti */
        "+3512123456",    /* Portugal: starts with 3 but is not +34 */
        "+2412123456",    /* Gabon: next to +240 */
        "+24",            /* too short to be +240 */
        "+4420718387",    /* United Kingdom */
        "+3312345678",    /* France */
    };
    size_t i;

    for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
        cr_assert_str_eq(lang_for_caller(numbers[i], "en-GB"), "en-GB", "number %s", numbers[i]);
}

Test(lang, fallback_is_returned_itself)
{
    const char *fallback = "pt-BR";

    cr_assert_eq(lang_for_caller("+5511912345678", fallback), fallback);
}

Test(lang, default_fallback_is_es)
{
    cr_assert_str_eq(lang_for_caller("+4420718387", NULL), "es");
    cr_assert_str_eq(lang_for_caller("+4420718387", ""), "es");
}

Test(lang, non_e164_callers_get_the_fallback)
{
    cr_assert_str_eq(lang_for_caller("anonymous", "en-US"), "en-US");
    cr_assert_str_eq(lang_for_caller("client:bob", "en-US"), "en-US");
    cr_assert_str_eq(lang_for_caller("", "en-US"), "en-US");
    cr_assert_str_eq(lang_for_caller(NULL, "en-US"), "en-US");
    cr_assert_str_eq(lang_for_caller(NULL, NULL), "es");
    /* Numbers that are not valid E.164 are not guessed at, even with a Spanish prefix. */
    cr_assert_str_eq(lang_for_caller("525512345678", "en-US"), "en-US");
    cr_assert_str_eq(lang_for_caller("+52 55 1234 5678", "en-US"), "en-US");
    cr_assert_str_eq(lang_for_caller("+1", "fr"), "fr");
    cr_assert_str_eq(lang_for_caller("+0525512345678", "fr"), "fr");
}

Test(lang, base_of_region_tags)
{
    cr_assert_str_eq(lang_base("es-MX"), "es");
    cr_assert_str_eq(lang_base("en-US"), "en");
    cr_assert_str_eq(lang_base("pt-BR"), "pt");
    cr_assert_str_eq(lang_base("zh-Hant-TW"), "zh");
    cr_assert_str_eq(lang_base("cmn-CN"), "cmn");
    cr_assert_str_eq(lang_base("yue-HK"), "yue");
}

Test(lang, base_of_bare_language_is_itself)
{
    cr_assert_str_eq(lang_base("es"), "es");
    cr_assert_str_eq(lang_base("en"), "en");
    cr_assert_str_eq(lang_base("fil"), "fil");
}

Test(lang, base_is_static_and_lower_case)
{
    char tag[] = "ES-mx";
    const char *base = lang_base(tag);

    cr_assert_str_eq(base, "es");
    /* The result must not point into the caller's string. */
    cr_assert(base < tag || base >= tag + sizeof(tag));
    tag[0] = 'x';
    cr_assert_str_eq(base, "es");
}

Test(lang, base_of_lang_for_caller_results)
{
    cr_assert_str_eq(lang_base(lang_for_caller("+525512345678", NULL)), "es");
    cr_assert_str_eq(lang_base(lang_for_caller("+34911234567", NULL)), "es");
    cr_assert_str_eq(lang_base(lang_for_caller("+14158675309", NULL)), "en");
}

Test(lang, base_of_unknown_or_empty_tags_is_empty)
{
    cr_assert_str_eq(lang_base(NULL), "");
    cr_assert_str_eq(lang_base(""), "");
    cr_assert_str_eq(lang_base("-MX"), "");
    cr_assert_str_eq(lang_base("e-MX"), "");
    cr_assert_str_eq(lang_base("xx-YY"), "");
    cr_assert_str_eq(lang_base("english"), "");
    cr_assert_str_eq(lang_base("_MX"), "");
}

Test(lang, base_accepts_underscores)
{
    cr_assert_str_eq(lang_base("es_419"), "es");
    cr_assert_str_eq(lang_base("EN_us"), "en");
}

Test(lang, base_len_is_the_first_subtag)
{
    cr_assert_eq(lang_base_len("es-MX"), 2);
    cr_assert_eq(lang_base_len("es_419"), 2);
    cr_assert_eq(lang_base_len("cmn-Hans-CN"), 3);
    cr_assert_eq(lang_base_len("en"), 2);
    cr_assert_eq(lang_base_len("-MX"), 0);
    cr_assert_eq(lang_base_len(""), 0);
    cr_assert_eq(lang_base_len(NULL), 0);
}

Test(lang, same_tag_ignores_case_and_underscores)
{
    cr_assert(lang_same("es-MX", "es-MX"));
    cr_assert(lang_same("EN-us", "en-US"));
    cr_assert(lang_same("es_419", "ES-419"));
    cr_assert_not(lang_same("es-MX", "es"));
    cr_assert_not(lang_same("es", "es-MX"));
    cr_assert_not(lang_same("es-MX", "es-US"));
    cr_assert_not(lang_same("", ""));
    cr_assert_not(lang_same(NULL, "es"));
    cr_assert_not(lang_same("-MX", "-MX"));
}

Test(lang, same_base_spanish_and_english)
{
    cr_assert(lang_same_base("es-MX", "es"));
    cr_assert(lang_same_base("es_419", "es-MX"));
    cr_assert(lang_same_base("ES", "es-us"));
    cr_assert(lang_same_base("EN-us", "en"));
    cr_assert(lang_same_base("en_GB", "EN-US"));
    cr_assert_not(lang_same_base("es-MX", "en-US"));
    /* Whole subtags: "est" (Estonian) is not "es", "eng" is not "en". */
    cr_assert_not(lang_same_base("est", "es"));
    cr_assert_not(lang_same_base("es", "est-EE"));
    cr_assert_not(lang_same_base("eng", "en"));
    cr_assert_not(lang_same_base("", ""));
    cr_assert_not(lang_same_base("-MX", "-MX"));
    cr_assert_not(lang_same_base(NULL, "es"));
    cr_assert_not(lang_same_base("es", NULL));
}

Test(lang, match_ranks_exact_then_base_then_region)
{
    cr_assert_eq(lang_match("es-MX", "ES_mx"), LANG_MATCH_EXACT);
    cr_assert_eq(lang_match("es-MX", "es"), LANG_MATCH_BASE);
    cr_assert_eq(lang_match("es-MX", "es-419"), LANG_MATCH_REGION);
    cr_assert_eq(lang_match("es", "es-MX"), LANG_MATCH_REGION);
    cr_assert_eq(lang_match("EN-us", "en"), LANG_MATCH_BASE);
    cr_assert_eq(lang_match("en-US", "es-US"), LANG_MATCH_NONE);
    cr_assert_eq(lang_match("en-US", NULL), LANG_MATCH_NONE);
    cr_assert_eq(lang_match(NULL, "en"), LANG_MATCH_NONE);
}

static const char *tag_at(const void *items, size_t i)
{
    return ((const char *const *)items)[i];
}

Test(lang, best_item_for_a_tag)
{
    static const char *const tags[] = {"en", "es-US", NULL, "es", "es-MX", "fr-CA"};
    size_t n = sizeof(tags) / sizeof(tags[0]);

    cr_assert_eq(lang_best("es-MX", tags, n, tag_at), 4);
    cr_assert_eq(lang_best("ES_mx", tags, n, tag_at), 4);
    cr_assert_eq(lang_best("es_419", tags, n, tag_at), 3);
    cr_assert_eq(lang_best("es", tags, n, tag_at), 3);
    cr_assert_eq(lang_best("EN-us", tags, n, tag_at), 0);
    cr_assert_eq(lang_best("fr-FR", tags, n, tag_at), 5);
    cr_assert_eq(lang_best("de-DE", tags, n, tag_at), -1);
    cr_assert_eq(lang_best("", tags, n, tag_at), -1);
    cr_assert_eq(lang_best(NULL, tags, n, tag_at), -1);
    cr_assert_eq(lang_best("es", tags, 0, tag_at), -1);
}

Test(lang, best_is_the_first_among_equals)
{
    /* No bare "es": the first other region wins. */
    static const char *const tags[] = {"en-GB", "es-US", "es-ES", "en-US"};

    cr_assert_eq(lang_best("es-MX", tags, 4, tag_at), 1);
    cr_assert_eq(lang_best("en-AU", tags, 4, tag_at), 0);
    cr_assert_eq(lang_best("en-us", tags, 4, tag_at), 3);
}
