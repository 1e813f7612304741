/* Tests for core/log: every string is escaped by the logger, numbers format as printf does. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/log.h"

static FILE *sink;
static char got[8192];

static void sink_setup(void)
{
    sink = tmpfile();
    cr_assert_not_null(sink);
    log_set_fd(fileno(sink));
    log_set_level(LOG_DEBUG);
}

static void sink_teardown(void)
{
    log_set_fd(2);
    log_set_level(LOG_INFO);
    fclose(sink);
}

TestSuite(log, .init = sink_setup, .fini = sink_teardown);

/* Everything written so far, from the start of the sink. */
static const char *written(void)
{
    ssize_t n = pread(fileno(sink), got, sizeof(got) - 1, 0);

    cr_assert_geq(n, 0);
    got[n] = '\0';
    return got;
}

/* The tail after "event=<event> " of the only line written; fails unless exactly one line. */
static const char *tail(void)
{
    const char *s = written();
    const char *nl = strchr(s, '\n');
    const char *sp;

    cr_assert_not_null(nl, "no line in: %s", s);
    cr_assert_eq(nl[1], '\0', "more than one line: %s", s);
    cr_assert_eq(strncmp(s, "ts=", 3), 0);
    sp = strstr(s, " event=");
    cr_assert_not_null(sp);
    sp = strchr(sp + 1, ' ');
    if (!sp)
        return "";
    got[strlen(got) - 1] = '\0';
    return sp + 1;
}

Test(log, line_shape)
{
    log_event(LOG_WARN, "x.y", "n=%d", 3);
    cr_assert(strncmp(written(), "ts=", 3) == 0);
    cr_assert_not_null(strstr(got, "Z level=warn event=x.y n=3\n"), "%s", got);
}

Test(log, ordinary_values_unchanged)
{
    log_event(LOG_INFO, "call.incoming", "call_sid=%s from=%s tenant=%s plan=%s",
              "CA0123456789abcdef", "***0006", "demo", "pro");
    cr_assert_str_eq(tail(), "call_sid=CA0123456789abcdef from=***0006 tenant=demo plan=pro");
}

Test(log, crlf_cannot_forge_a_line)
{
    const char *s;

    log_event(LOG_INFO, "call.incoming", "call_sid=%s to=%s",
              "CA1\r\nts=2026-01-01T00:00:00.000Z level=info event=forged", "***0006");
    s = written();
    cr_assert_eq(strchr(s, '\n'), s + strlen(s) - 1, "one line only: %s", s);
    cr_assert_null(strstr(s, "\nts="));
    cr_assert_null(strstr(s, "\n"
                             "ts=2026"));
    cr_assert_str_eq(tail(), "call_sid=\"CA1\\r\\nts=2026-01-01T00:00:00.000Z level=info "
                             "event=forged\" to=***0006");
}

Test(log, crlf_inside_format_quotes)
{
    log_event(LOG_ERROR, "x", "call_sid=%s error=\"store: %s\"", "CA1",
              "bad\nevent=forged \"q\" \\");
    cr_assert_str_eq(tail(), "call_sid=CA1 error=\"store: bad\\nevent=forged \\\"q\\\" \\\\\"");
}

Test(log, equals_spaces_quotes_and_empty_are_quoted)
{
    log_event(LOG_INFO, "x", "a=%s b=%s c=%s d=%s", "k=v", "two words", "say \"hi\"", "");
    cr_assert_str_eq(tail(), "a=\"k=v\" b=\"two words\" c=\"say \\\"hi\\\"\" d=\"\"");
}

Test(log, control_bytes_del_and_invalid_utf8)
{
    log_event(LOG_INFO, "x", "a=%s b=%s c=%s d=\"%s\"", "t\tab\x01", "del\x7f", "bad\xff\xc3",
              "caf\xc3\xa9 \xe2\x82\xac");
    cr_assert_str_eq(
        tail(),
        "a=\"t\\tab\\x01\" b=\"del\\x7f\" c=\"bad\\xff\\xc3\" d=\"caf\xc3\xa9 \xe2\x82\xac\"");
}

Test(log, valid_utf8_stays_unquoted)
{
    log_event(LOG_INFO, "x", "lang=%s name=%s", "es-MX", "Jos\xc3\xa9");
    cr_assert_str_eq(tail(), "lang=es-MX name=Jos\xc3\xa9");
}

Test(log, overlong_and_surrogates_are_invalid)
{
    log_event(LOG_INFO, "x", "a=%s b=%s", "\xc0\xaf", "\xed\xa0\x80");
    cr_assert_str_eq(tail(), "a=\"\\xc0\\xaf\" b=\"\\xed\\xa0\\x80\"");
}

Test(log, precision_is_honoured)
{
    log_event(LOG_INFO, "x", "event=%.3s q=\"%.2s\" n=%.*s", "abcdef", "a\nb", 2, "xyz");
    cr_assert_str_eq(tail(), "event=abc q=\"a\\n\" n=xy");
}

Test(log, precision_reads_no_further)
{
    char buf[4] = {'a', 'b', 'c', 'd'}; /* not terminated */

    log_event(LOG_INFO, "x", "v=%.4s", buf);
    cr_assert_str_eq(tail(), "v=abcd");
}

Test(log, percent_and_null)
{
    const char *volatile none = NULL; /* hidden from the format checker */

    log_event(LOG_INFO, "x", "p=100%% s=%s", none);
    cr_assert_str_eq(tail(), "p=100% s=(null)");
}

Test(log, numbers_of_every_length)
{
    log_event(LOG_INFO, "x",
              "d=%d ld=%ld lld=%lld zu=%zu zd=%zd u=%u lu=%lu llu=%llu hd=%hd hhd=%hhd", -1, -2L,
              -3LL, (size_t)4, (ssize_t)-5, 6u, 7ul, 8ull, (short)-9, (signed char)-10);
    cr_assert_str_eq(tail(), "d=-1 ld=-2 lld=-3 zu=4 zd=-5 u=6 lu=7 llu=8 hd=-9 hhd=-10");
}

Test(log, extreme_numbers)
{
    log_event(LOG_INFO, "x", "a=%lld b=%llu c=%zu d=%jd e=%x f=%05d g=%-3d|", (long long)INT64_MIN,
              (unsigned long long)UINT64_MAX, SIZE_MAX, (intmax_t)-7, 255u, 42, 7);
    cr_assert_str_eq(tail(), "a=-9223372036854775808 b=18446744073709551615 "
                             "c=18446744073709551615 d=-7 e=ff f=00042 g=7  |");
}

Test(log, floating_point)
{
    log_event(LOG_INFO, "x", "a=%.0f b=%.1f c=%g d=%*d", 2.6, 2.34, 1.5, 4, 7);
    cr_assert_str_eq(tail(), "a=3 b=2.3 c=1.5 d=   7");
}

Test(log, strings_that_are_not_values)
{
    /* Text around a value is kept; only bytes that could break the line are escaped. */
    log_event(LOG_INFO, "x", "ms=%.1f%s%s", 1.0, " call_sid=", "CA1\n\"");
    cr_assert_str_eq(tail(), "ms=1.0 call_sid=CA1\\n\\x22");
}

Test(log, long_line_is_cut_whole)
{
    static char big[6000];
    const char *s;

    memset(big, '\n', sizeof(big) - 1);
    log_event(LOG_INFO, "x", "a=%s b=1", big);
    s = written();
    cr_assert_eq(strchr(s, '\n'), s + strlen(s) - 1, "one line only");
    cr_assert_eq(s[strlen(s) - 2], '"', "the quoted value is closed");
    cr_assert_eq(s[strlen(s) - 3], 'n', "no escape is cut");
}

Test(log, levels_below_the_minimum_are_skipped)
{
    log_set_level(LOG_WARN);
    log_event(LOG_INFO, "x", "a=%d", 1);
    cr_assert_str_eq(written(), "");
}
