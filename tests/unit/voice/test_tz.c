/*
 * Tests for voice/tz: a tenant's UTC offset from its IANA zone, read from the
 * TZif file without the environment. glibc's localtime_r (with TZ set, in
 * this single-threaded test) is the reference.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "voice/tz.h"

/* glibc's offset in seconds for TZ=`tz` at `t` (TZ must already be set). */
static long glibc_offset(time_t t)
{
    struct tm tm;

    cr_assert_not_null(localtime_r(&t, &tm));
    return tm.tm_gmtoff;
}

static void use_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

static void check_at(const char *zone, time_t t)
{
    int m = 12345;

    cr_assert_eq(tz_offset_minutes(zone, t, &m), 0, "%s refused", zone);
    cr_assert_eq(m, (int)(glibc_offset(t) / 60), "%s at %lld: %d, glibc %ld", zone, (long long)t, m,
                 glibc_offset(t) / 60);
}

/*
 * Every 3 hours from 1990 to 2040; where glibc's offset changes, the exact
 * second of the change is found and the seconds around it are compared too.
 */
static void compare_zone(const char *zone)
{
    const time_t from = 631152000;   /* 1990-01-01 */
    const time_t until = 2208988800; /* 2040-01-01 */
    const time_t step = 3 * 3600 + 17;
    long prev;
    int edges = 0;

    use_tz(zone);
    prev = glibc_offset(from);
    for (time_t t = from; t < until; t += step) {
        long off = glibc_offset(t);

        check_at(zone, t);
        if (off != prev) {
            time_t lo = t - step, hi = t;

            while (hi - lo > 1) {
                time_t mid = lo + (hi - lo) / 2;

                if (glibc_offset(mid) == prev)
                    lo = mid;
                else
                    hi = mid;
            }
            check_at(zone, hi - 1);
            check_at(zone, hi);
            check_at(zone, hi + 1);
            edges++;
        }
        prev = off;
    }
    unsetenv("TZ");
    tzset();
    cr_log_info("%s: %d changes compared", zone, edges);
}

Test(tz, matches_glibc_from_1990_to_2040, .timeout = 120)
{
    static const char *const zones[] = {
        "America/New_York", "America/Mexico_City", "Europe/Madrid",    "Australia/Lord_Howe",
        "Asia/Kolkata",     "America/Sao_Paulo",   "Pacific/Chatham",  "UTC",
        "America/Santiago", "Africa/Casablanca",   "Europe/Dublin",    "America/Nuuk",
        "Asia/Kathmandu",   "Pacific/Kiritimati",  "America/St_Johns", "Antarctica/Troll",
    };

    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
        compare_zone(zones[i]);
}

Test(tz, new_york_follows_daylight_saving)
{
    int m = 1;

    cr_assert_eq(tz_offset_minutes("America/New_York", 1768478400, &m), 0); /* 2026-01-15 */
    cr_assert_eq(m, -300);
    cr_assert_eq(tz_offset_minutes("America/New_York", 1784116800, &m), 0); /* 2026-07-15 */
    cr_assert_eq(m, -240);
    /* 2026-03-08 06:59:59Z is 01:59:59 EST; a second later it is 03:00 EDT. */
    cr_assert_eq(tz_offset_minutes("America/New_York", 1772953199, &m), 0);
    cr_assert_eq(m, -300);
    cr_assert_eq(tz_offset_minutes("America/New_York", 1772953200, &m), 0);
    cr_assert_eq(m, -240);
}

Test(tz, utc_and_unknown_zones)
{
    int m = 7;

    cr_assert_eq(tz_offset_minutes("UTC", 1784116800, &m), 0);
    cr_assert_eq(m, 0);
    cr_assert_eq(tz_offset_minutes(NULL, 1784116800, &m), 0);
    cr_assert_eq(tz_offset_minutes("", 1784116800, &m), 0);
    m = 7;
    cr_assert_eq(tz_offset_minutes("Mars/Olympus_Mons", 1784116800, &m), SB_EINVAL);
    cr_assert_eq(m, 0);
}

Test(tz, names_that_are_not_zone_names_are_refused)
{
    static const char *const bad[] = {
        "../etc/passwd",      "America/../../etc/passwd",
        "/etc/localtime",     "/usr/share/zoneinfo/UTC",
        "America/New York",   "America/New_York\n",
        "Europe/Madrid;rm",   "America\\New_York",
        "America/",           "America",
        "zone.tab",           "Etc/UTC%00",
        "Europe/Mad\xc3\xa9",
    };
    int m;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m = 99;
        cr_assert_eq(tz_offset_minutes(bad[i], 1784116800, &m), SB_EINVAL, "%s", bad[i]);
        cr_assert_eq(m, 0);
    }
    cr_assert(!tz_name_valid("a/../b"));
    cr_assert(!tz_name_valid("/UTC"));
    cr_assert(tz_name_valid("Etc/GMT+5"));
    cr_assert(tz_name_valid("America/Port-au-Prince"));
}

Test(tz, the_environment_is_not_touched)
{
    int m;

    setenv("TZ", "Asia/Tokyo", 1);
    cr_assert_eq(tz_offset_minutes("America/New_York", 1784116800, &m), 0);
    cr_assert_eq(m, -240);
    cr_assert_str_eq(getenv("TZ"), "Asia/Tokyo");
    unsetenv("TZ");
    cr_assert_eq(tz_offset_minutes("Europe/Madrid", 1784116800, &m), 0);
    cr_assert_eq(m, 120);
    cr_assert_null(getenv("TZ"));
}

/* POSIX rules compared with glibc's reading of the same TZ string. */
static void compare_rule(const char *s)
{
    struct tz_rule r;

    cr_assert_eq(tz_rule_parse(s, strlen(s), &r), 0, "%s refused", s);
    use_tz(s);
    for (time_t t = 631152000; t < 2208988800; t += 5 * 3600 + 7) {
        cr_assert_eq(tz_rule_offset(&r, t), glibc_offset(t), "%s at %lld: %d, glibc %ld", s,
                     (long long)t, tz_rule_offset(&r, t), glibc_offset(t));
    }
    unsetenv("TZ");
    tzset();
}

Test(tz, footer_rules_match_glibc, .timeout = 60)
{
    static const char *const rules[] = {
        "EST5EDT,M3.2.0,M11.1.0",
        "<-03>3",
        "<+0545>-5:45",
        "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
        "IST-1GMT0,M10.5.0,M3.5.0/1",
        "<-04>4<-03>,M9.1.6/24,M4.1.6/24",
        "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
        "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
        "XXX3YYY,J60/2,J300/2",
        "XXX3YYY,59/0,300/0",
        "CET-1CEST,M3.5.0,M10.5.0/3",
        "NZST-12NZDT,M9.5.0,M4.1.0/3",
        "AAA-1:30:15BBB-2:30:15,M3.1.2/1:30:30,M10.2.3/23:59:59",
    };

    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        compare_rule(rules[i]);
}

Test(tz, rule_with_times_beyond_a_day)
{
    /* Daylight time all year (RFC 8536 version 3): from Jan 1 00:00 to Dec 31 25:00. */
    static const char s[] = "EST5EDT,0/0,J365/25";
    struct tz_rule r;

    cr_assert_eq(tz_rule_parse(s, strlen(s), &r), 0);
    cr_assert_eq(r.end.secs, 25 * 3600);
    cr_assert_eq(tz_rule_offset(&r, 1768478400), -4 * 3600);
    cr_assert_eq(tz_rule_offset(&r, 1784116800), -4 * 3600);
    cr_assert_eq(tz_rule_parse("AAA3BBB,M3.2.0/-167,M11.1.0/167", 31, &r), 0);
    cr_assert_eq(r.start.secs, -167 * 3600);
}

Test(tz, rule_defaults)
{
    struct tz_rule r;

    cr_assert_eq(tz_rule_parse("EST5EDT", 7, &r), 0);
    cr_assert_eq(r.std_utoff, -5 * 3600);
    cr_assert_eq(r.dst_utoff, -4 * 3600);
    cr_assert_eq(r.start.kind, 'M');
    cr_assert_eq(r.start.secs, 2 * 3600);
    cr_assert_eq(tz_rule_parse("<-03>3", 6, &r), 0);
    cr_assert(!r.has_dst);
    cr_assert_eq(tz_rule_offset(&r, 0), -3 * 3600);
}

Test(tz, malformed_rules_are_refused)
{
    static const char *const bad[] = {
        "",
        "E5",
        "EST",
        "EST25",
        "<E>5",
        "<EST5",
        "EST5EDT,",
        "EST5EDT,M3.2.0",
        "EST5EDT,M13.1.0,M11.1.0",
        "EST5EDT,M3.6.0,M11.1.0",
        "EST5EDT,M3.2.7,M11.1.0",
        "EST5EDT,J0,J100",
        "EST5EDT,366,1",
        "EST5EDT,M3.2.0/168,J1",
        "EST5EDT,M3.2.0,M11.1.0x",
        "EST5:60",
        "EST5EDT4:00:60",
        "<E!T>5",
    };
    struct tz_rule r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(tz_rule_parse(bad[i], strlen(bad[i]), &r), SB_EINVAL, "%s", bad[i]);
    /* The length bounds the rule: what follows is not read. */
    cr_assert_eq(tz_rule_parse("EST5EDT,M3.2.0,M11.1.0", 14, &r), SB_EINVAL);
    cr_assert_eq(tz_rule_parse("EST5garbage", 4, &r), 0);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = malloc(1 << 20);

    cr_assert_not_null(f);
    cr_assert_not_null(buf);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

Test(tz, truncated_and_damaged_files_are_refused)
{
    size_t len;
    unsigned char *data = slurp("/usr/share/zoneinfo/America/New_York", &len);
    struct tz_zone *z = NULL;

    cr_assert_eq(tz_zone_parse(data, len, &z), 0);
    cr_assert_eq(tz_zone_offset(z, 1784116800), -4 * 3600);
    tz_zone_free(z);
    for (size_t n = 0; n < len; n++) {
        cr_assert_eq(tz_zone_parse(data, n, &z), SB_EINVAL, "%zu of %zu bytes", n, len);
        cr_assert_null(z);
    }
    data[0] = 'X';
    cr_assert_eq(tz_zone_parse(data, len, &z), SB_EINVAL);
    free(data);
}

Test(tz, version_1_file)
{
    /* A hand-made version 1 file: one transition at 1000 from type 0 (+1h) to type 1 (-2h). */
    unsigned char f[44 + 4 + 1 + 12 + 4] = {'T', 'Z', 'i', 'f', 0};
    unsigned char *p = f + 44;

    f[35] = 1;                                              /* timecnt */
    f[39] = 2;                                              /* typecnt */
    f[43] = 4;                                              /* charcnt */
    p[2] = 0x03, p[3] = 0xe8;                               /* 1000 */
    p[4] = 1;                                               /* index */
    p[5] = 0, p[6] = 0, p[7] = 0x0e, p[8] = 0x10;           /* +3600 */
    p[11] = 0xff, p[12] = 0xff, p[13] = 0xe3, p[14] = 0xe0; /* -7200 */
    memcpy(p + 17, "AB\0", 4);
    struct tz_zone *z;

    cr_assert_eq(tz_zone_parse(f, sizeof(f), &z), 0);
    cr_assert_eq(tz_zone_offset(z, 999), 3600);
    cr_assert_eq(tz_zone_offset(z, 1000), -7200);
    tz_zone_free(z);
}

static void *ask_many(void *arg)
{
    int *bad = arg;
    int m;

    for (int i = 0; i < 2000; i++) {
        if (tz_offset_minutes(i % 2 ? "America/New_York" : "Asia/Kolkata", 1784116800 + i, &m) ||
            m != (i % 2 ? -240 : 330))
            (*bad)++;
    }
    return NULL;
}

Test(tz, threads_may_ask_at_once)
{
    pthread_t th[4];
    int bad[4] = {0};

    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, ask_many, &bad[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(bad[i], 0);
    }
}
