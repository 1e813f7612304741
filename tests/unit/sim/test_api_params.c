/*
 * Tests of the parsing switchboard sim api does (sim/api_params.h): the
 * --answered-by [NUMBER=]VALUE argument, seeded random AMD answers, the
 * dates of the StartTime/EndTime filters (whole UTC days) and the paging
 * parameters.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/form.h"
#include "sim/api_params.h"

static struct form q = FORM_INIT;

static void teardown(void)
{
    form_release(&q);
}

TestSuite(api_params, .fini = teardown);

static void add(const char *key, const char *value)
{
    cr_assert_eq(form_add(&q, key, value), 0);
}

static long long day(const char *text)
{
    long long d = 123456789;

    cr_assert_eq(api_params_day(text, &d), 0, "'%s' is a date", text);
    return d;
}

Test(api_params, answered_by_values)
{
    const char *good[] = {
        "human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other",
        "fax",   "unknown"};
    const char *bad[] = {"", "Human", "machine", "random", "machine_end", "human "};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(api_params_answered_by_valid(good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(api_params_answered_by_valid(bad[i]), "%s", bad[i]);
}

Test(api_params, answer_for_every_number)
{
    char arg[] = "machine_end_silence";
    struct api_params_answer a;

    cr_assert_eq(api_params_answer_parse(arg, &a), 0);
    cr_assert_null(a.number);
    cr_assert_str_eq(a.answered_by, "machine_end_silence");
}

Test(api_params, answer_for_one_number_splits_the_argument)
{
    char arg[] = "+15551234567=machine_end_beep";
    char rnd[] = "client:alice=random";
    struct api_params_answer a;

    cr_assert_eq(api_params_answer_parse(arg, &a), 0);
    cr_assert_str_eq(a.number, "+15551234567");
    cr_assert_str_eq(a.answered_by, "machine_end_beep");
    cr_assert_eq(a.number, arg, "the number is borrowed from the argument");
    cr_assert_eq(api_params_answer_parse(rnd, &a), 0);
    cr_assert_str_eq(a.number, "client:alice");
    cr_assert_str_eq(a.answered_by, "random");
}

Test(api_params, bad_answers_leave_the_argument_alone)
{
    const char *bad[] = {
        "",           "robot",          "=human",          "+15551234567=", "+1555=robot",
        "+1 555=fax", "+1555\t1=human", "+1555=human=fax", "+1555==human"};
    struct api_params_answer a;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char arg[64];

        snprintf(arg, sizeof(arg), "%s", bad[i]);
        cr_assert_eq(api_params_answer_parse(arg, &a), SB_EINVAL, "'%s'", bad[i]);
        cr_assert_str_eq(arg, bad[i]);
        cr_assert_null(a.answered_by);
        cr_assert_null(a.number);
    }
    cr_assert_eq(api_params_answer_parse(NULL, &a), SB_EINVAL);
}

Test(api_params, random_answers_are_reproducible_and_stay_in_the_mode)
{
    const char *end_values[] = {
        "human", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax", "unknown"};
    int counts[6] = {0};
    int differ_seed = 0, differ_nth = 0, differ_number = 0;

    for (unsigned long i = 0; i < 6000; i++) {
        const char *a = api_params_amd_pick(42, "+15551234567", i, 1);
        const char *e = api_params_amd_pick(42, "+15551234567", i, 0);
        size_t k;

        cr_assert_str_eq(a, api_params_amd_pick(42, "+15551234567", i, 1));
        for (k = 0; k < 6 && strcmp(a, end_values[k]) != 0; k++)
            ;
        cr_assert_lt(k, 6, "'%s' is not a DetectMessageEnd answer", a);
        counts[k]++;
        cr_assert(strcmp(e, "human") == 0 || strcmp(e, "machine_start") == 0 ||
                      strcmp(e, "fax") == 0 || strcmp(e, "unknown") == 0,
                  "'%s' is not an Enable answer", e);
        differ_seed += strcmp(a, api_params_amd_pick(43, "+15551234567", i, 1)) != 0;
        differ_number += strcmp(a, api_params_amd_pick(42, "+15551234568", i, 1)) != 0;
        if (i > 0)
            differ_nth += strcmp(a, api_params_amd_pick(42, "+15551234567", i - 1, 1)) != 0;
    }
    for (size_t k = 0; k < 6; k++)
        cr_assert(counts[k] > 800 && counts[k] < 1200, "%s came %d times in 6000", end_values[k],
                  counts[k]);
    /* About five in six differ when anything changes. */
    cr_assert_gt(differ_seed, 4500);
    cr_assert_gt(differ_number, 4500);
    cr_assert_gt(differ_nth, 4500);
    cr_assert_not_null(api_params_amd_pick(0, NULL, 0, 1));
}

Test(api_params, dates_count_utc_days_from_1970)
{
    cr_assert_eq(day("1970-01-01"), 0);
    cr_assert_eq(day("1969-12-31"), -1);
    cr_assert_eq(day("2000-03-01"), 11017);
    cr_assert_eq(day("2024-02-29"), 19782);
    cr_assert_eq(day("2024-05-01"), 19844);
    cr_assert_eq(day("9999-12-31"), 2932896);
    cr_assert_eq(day("0001-01-01"), -719162);
}

Test(api_params, date_times_as_the_helper_libraries_send_them)
{
    cr_assert_eq(day("2024-05-01T00:00:00Z"), 19844);      /* twilio-python */
    cr_assert_eq(day("2024-05-01T23:59:59.999Z"), 19844);  /* twilio-node */
    cr_assert_eq(day("2024-05-01T23:59:60Z"), 19845);      /* a leap second */
    cr_assert_eq(day("2024-05-01T12:00:00"), 19844);       /* no zone: UTC */
    cr_assert_eq(day("2024-05-01T23:30:00-01:00"), 19845); /* 00:30 UTC next day */
    cr_assert_eq(day("2024-05-01T00:30:00+01:00"), 19843); /* 23:30 UTC the day before */
    cr_assert_eq(day("2024-05-01T12:00:00.5+00:00"), 19844);
}

Test(api_params, what_is_not_a_date)
{
    const char *bad[] = {"",
                         "2024",
                         "2024-5-1",
                         "2024-05-1",
                         "20240501",
                         "2024/05/01",
                         "2024-00-10",
                         "2024-13-01",
                         "2023-02-29",
                         "2024-04-31",
                         "2024-05-00",
                         "2024-05-01 ",
                         " 2024-05-01",
                         "2024-05-01T",
                         "2024-05-01T12:00Z",
                         "2024-05-01T24:00:00Z",
                         "2024-05-01T12:60:00Z",
                         "2024-05-01T12:00:61Z",
                         "2024-05-01T12:00:00.Z",
                         "2024-05-01T12:00:00+0100",
                         "2024-05-01T12:00:00+24:00",
                         "2024-05-01T12:00:00ZZ",
                         "2024-05-01x",
                         "yesterday",
                         "-024-05-01",
                         "2024-05-01T12:00:00Z\n"};
    long long d = 77;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(api_params_day(bad[i], &d), SB_EINVAL, "'%s'", bad[i]);
    cr_assert_eq(api_params_day(NULL, &d), SB_EINVAL);
    cr_assert_eq(d, 77, "untouched on failure");
}

Test(api_params, day_of_a_time)
{
    cr_assert_eq(api_params_day_of(0), 0);
    cr_assert_eq(api_params_day_of(86399), 0);
    cr_assert_eq(api_params_day_of(86400), 1);
    cr_assert_eq(api_params_day_of(-1), -1);
    cr_assert_eq(api_params_day_of(-86400), -1);
    cr_assert_eq(api_params_day_of(-86401), -2);
    cr_assert_eq(api_params_day_of((time_t)19844 * 86400 + 43200), 19844);
}

Test(api_params, start_time_filters)
{
    struct api_params_days f;
    char bad[32] = "";

    cr_assert_eq(api_params_days_parse(&q, "StartTime", &f, bad, sizeof(bad)), 0);
    cr_assert_not(api_params_days_active(&f));
    cr_assert(api_params_days_match(&f, 12345));

    add("StartTime>", "2024-05-01");
    add("StartTime<", "2024-05-03T00:00:00Z");
    add("StartTimeZone", "not a date"); /* another parameter */
    add("EndTime", "2024-06-01");
    cr_assert_eq(api_params_days_parse(&q, "StartTime", &f, bad, sizeof(bad)), 0);
    cr_assert(api_params_days_active(&f));
    cr_assert_not(f.has_on);
    cr_assert_not(api_params_days_match(&f, 19843));
    cr_assert(api_params_days_match(&f, 19844), "on or after");
    cr_assert(api_params_days_match(&f, 19846), "on or before");
    cr_assert_not(api_params_days_match(&f, 19847));

    cr_assert_eq(api_params_days_parse(&q, "EndTime", &f, bad, sizeof(bad)), 0);
    cr_assert(f.has_on && !f.has_from && !f.has_to);
    cr_assert(api_params_days_match(&f, 19875));
    cr_assert_not(api_params_days_match(&f, 19874));
}

Test(api_params, spelt_with_the_equals_sign_and_repeated)
{
    struct api_params_days f;
    char bad[32] = "";

    add("StartTime>=", "2024-05-01");
    add("StartTime>", "2024-05-02"); /* the narrower bound wins */
    add("StartTime<=", "2024-05-09");
    add("StartTime<", "2024-05-08");
    add("StartTime", ""); /* empty: no filter */
    cr_assert_eq(api_params_days_parse(&q, "StartTime", &f, bad, sizeof(bad)), 0);
    cr_assert_not(f.has_on);
    cr_assert_eq(f.from, 19845);
    cr_assert_eq(f.to, 19851);
}

Test(api_params, a_bad_date_names_its_key)
{
    struct api_params_days f;
    char bad[32] = "";

    add("StartTime", "2024-05-01");
    add("StartTime<", "last week");
    cr_assert_eq(api_params_days_parse(&q, "StartTime", &f, bad, sizeof(bad)), SB_EINVAL);
    cr_assert_str_eq(bad, "StartTime<");
    cr_assert_eq(api_params_days_parse(&q, "StartTime", &f, NULL, 0), SB_EINVAL);
}

Test(api_params, paging_defaults)
{
    struct api_params_page p;
    char bad[32] = "";

    cr_assert_eq(api_params_page_parse(&q, &p, bad, sizeof(bad)), 0);
    cr_assert_eq(p.size, API_PAGE_SIZE_DEFAULT);
    cr_assert_eq(p.number, 0);
    cr_assert_null(p.after_sid);
    cr_assert_eq(api_params_page_parse(NULL, &p, bad, sizeof(bad)), 0);
    cr_assert_eq(p.size, 50);
}

Test(api_params, paging_values)
{
    struct api_params_page p;
    char bad[32] = "";

    add("PageSize", "1000");
    add("Page", "3");
    add("PageToken", "PACA0123456789abcdef0123456789abcdef");
    cr_assert_eq(api_params_page_parse(&q, &p, bad, sizeof(bad)), 0);
    cr_assert_eq(p.size, 1000);
    cr_assert_eq(p.number, 3);
    cr_assert_str_eq(p.after_sid, "CA0123456789abcdef0123456789abcdef");
}

Test(api_params, bad_paging_names_its_key)
{
    const char *cases[][3] = {
        {"PageSize", "0", "PageSize"},
        {"PageSize", "1001", "PageSize"},
        {"PageSize", "-1", "PageSize"},
        {"PageSize", "2x", "PageSize"},
        {"PageSize", "99999999999999999999", "PageSize"},
        {"Page", "-1", "Page"},
        {"Page", "1000001", "Page"},
        {"Page", " 1", "Page"},
        {"PageToken", "XY123", "PageToken"},
        {"PageToken", "PA", "PageToken"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct api_params_page p;
        char bad[32] = "";

        form_release(&q);
        add(cases[i][0], cases[i][1]);
        cr_assert_eq(api_params_page_parse(&q, &p, bad, sizeof(bad)), SB_EINVAL, "%s=%s",
                     cases[i][0], cases[i][1]);
        cr_assert_str_eq(bad, cases[i][2]);
    }
}
