/*
 * Tests of the server's settings: the listen address, PUBLIC_BASE_URL and the
 * stream URL derived from it, the --clock start time, the limit flags' number
 * parser and the limits' defaults. A refused value leaves the config as it
 * was and explains itself in `err`.
 */
#include <criterion/criterion.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "server/config.h"

static struct config cfg;
static char err[256];

static void setup(void)
{
    memset(&cfg, 0, sizeof(cfg));
    memset(err, 0, sizeof(err));
}

TestSuite(config, .init = setup);

/* --- config_set_listen --- */

static int listen_on(const char *value)
{
    return config_set_listen(&cfg, value, "--listen", err, sizeof(err));
}

/* Refused, with the previous address kept and the setting named. */
static void assert_listen_refused(const char *value)
{
    snprintf(cfg.listen_host, sizeof(cfg.listen_host), "keep");
    cfg.listen_port = 4321;
    err[0] = '\0';
    cr_assert_eq(listen_on(value), SB_EINVAL, "'%s' was accepted", value);
    cr_assert_str_eq(cfg.listen_host, "keep", "'%s'", value);
    cr_assert_eq(cfg.listen_port, 4321, "'%s'", value);
    cr_assert(strstr(err, "--listen") != NULL, "%s", err);
    cr_assert(strstr(err, "ADDR:PORT") != NULL, "%s", err);
}

Test(config, listen_ipv4)
{
    cr_assert_eq(listen_on("127.0.0.1:8080"), 0, "%s", err);
    cr_assert_str_eq(cfg.listen_host, "127.0.0.1");
    cr_assert_eq(cfg.listen_port, 8080);

    cr_assert_eq(listen_on("0.0.0.0:1"), 0, "%s", err);
    cr_assert_str_eq(cfg.listen_host, "0.0.0.0");
    cr_assert_eq(cfg.listen_port, 1);

    cr_assert_eq(listen_on("localhost:65535"), 0, "%s", err);
    cr_assert_str_eq(cfg.listen_host, "localhost");
    cr_assert_eq(cfg.listen_port, 65535);
}

Test(config, listen_ipv6_in_brackets)
{
    cr_assert_eq(listen_on("[::1]:8080"), 0, "%s", err);
    cr_assert_str_eq(cfg.listen_host, "::1");
    cr_assert_eq(cfg.listen_port, 8080);

    cr_assert_eq(listen_on("[::]:443"), 0, "%s", err);
    cr_assert_str_eq(cfg.listen_host, "::");
    cr_assert_eq(cfg.listen_port, 443);

    cr_assert_eq(listen_on("[fe80::1:2:3:4]:9"), 0, "%s", err);
    cr_assert_str_eq(cfg.listen_host, "fe80::1:2:3:4");
    cr_assert_eq(cfg.listen_port, 9);
}

Test(config, listen_without_a_port_is_refused)
{
    assert_listen_refused("127.0.0.1");
    assert_listen_refused("127.0.0.1:");
    assert_listen_refused("[::1]");
    assert_listen_refused("[::1]:");
    assert_listen_refused("[::1]8080");
    assert_listen_refused("[::1");
    assert_listen_refused("");
}

Test(config, listen_without_a_host_is_refused)
{
    assert_listen_refused(":8080");
    assert_listen_refused("[]:8080");
}

Test(config, listen_port_out_of_range_is_refused)
{
    assert_listen_refused("127.0.0.1:0");
    assert_listen_refused("127.0.0.1:65536");
    assert_listen_refused("127.0.0.1:-1");
    assert_listen_refused("127.0.0.1:99999999999999999999999");
    assert_listen_refused("[::1]:0");
    assert_listen_refused("[::1]:65536");
}

Test(config, listen_port_must_be_a_number)
{
    assert_listen_refused("127.0.0.1:http");
    assert_listen_refused("127.0.0.1:80x");
    assert_listen_refused("127.0.0.1:8.0");
    assert_listen_refused("[::1]:80 ");
}

Test(config, listen_host_too_long_is_refused)
{
    char value[sizeof(cfg.listen_host) + 16];
    size_t max = sizeof(cfg.listen_host) - 1;

    /* The longest host that fits is taken whole... */
    memset(value, 'h', max);
    snprintf(value + max, sizeof(value) - max, ":80");
    cr_assert_eq(listen_on(value), 0, "%s", err);
    cr_assert_eq(strlen(cfg.listen_host), max);
    cr_assert_eq(cfg.listen_port, 80);

    /* ...one more byte is refused, not cut. */
    memset(value, 'h', max + 1);
    snprintf(value + max + 1, sizeof(value) - max - 1, ":80");
    assert_listen_refused(value);

    value[0] = '[';
    memset(value + 1, 'a', max + 1);
    snprintf(value + max + 2, sizeof(value) - max - 2, "]:80");
    assert_listen_refused(value);
}

Test(config, listen_error_names_the_setting_and_value)
{
    cr_assert_eq(config_set_listen(&cfg, "nowhere", "LISTEN", err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "error: LISTEN 'nowhere' is not ADDR:PORT (e.g. 127.0.0.1:8080)");
}

Test(config, listen_error_fits_a_small_buffer)
{
    char small[8];

    memset(small, 'x', sizeof(small));
    cr_assert_eq(config_set_listen(&cfg, "nowhere", "--listen", small, sizeof(small)), SB_EINVAL);
    cr_assert_str_eq(small, "error: ");
}

/* --- config_set_base_url --- */

static int base_url(const char *value)
{
    return config_set_base_url(&cfg, value, err, sizeof(err));
}

/* Refused, with the previous URLs kept and the setting named. */
static void assert_base_url_refused(const char *value)
{
    snprintf(cfg.public_base_url, sizeof(cfg.public_base_url), "https://keep.example");
    snprintf(cfg.stream_url, sizeof(cfg.stream_url), "wss://keep.example/voice/stream");
    err[0] = '\0';
    cr_assert_eq(base_url(value), SB_EINVAL, "'%s' was accepted", value);
    cr_assert_str_eq(cfg.public_base_url, "https://keep.example", "'%s'", value);
    cr_assert_str_eq(cfg.stream_url, "wss://keep.example/voice/stream", "'%s'", value);
    cr_assert(strstr(err, "PUBLIC_BASE_URL") != NULL, "%s", err);
}

Test(config, base_url_https)
{
    cr_assert_eq(base_url("https://voice.example.com"), 0, "%s", err);
    cr_assert_str_eq(cfg.public_base_url, "https://voice.example.com");
    cr_assert_str_eq(cfg.stream_url, "wss://voice.example.com/voice/stream");
}

Test(config, base_url_http_still_streams_over_wss)
{
    cr_assert_eq(base_url("http://127.0.0.1:8080"), 0, "%s", err);
    cr_assert_str_eq(cfg.public_base_url, "http://127.0.0.1:8080");
    cr_assert_str_eq(cfg.stream_url, "wss://127.0.0.1:8080/voice/stream");
}

Test(config, base_url_with_a_path_prefix)
{
    cr_assert_eq(base_url("https://example.com/switchboard"), 0, "%s", err);
    cr_assert_str_eq(cfg.public_base_url, "https://example.com/switchboard");
    cr_assert_str_eq(cfg.stream_url, "wss://example.com/switchboard/voice/stream");

    cr_assert_eq(base_url("https://example.com:8443/a/b"), 0, "%s", err);
    cr_assert_str_eq(cfg.public_base_url, "https://example.com:8443/a/b");
    cr_assert_str_eq(cfg.stream_url, "wss://example.com:8443/a/b/voice/stream");
}

Test(config, base_url_trailing_slashes_are_removed)
{
    cr_assert_eq(base_url("https://example.com/"), 0, "%s", err);
    cr_assert_str_eq(cfg.public_base_url, "https://example.com");
    cr_assert_str_eq(cfg.stream_url, "wss://example.com/voice/stream");

    cr_assert_eq(base_url("https://example.com/prefix///"), 0, "%s", err);
    cr_assert_str_eq(cfg.public_base_url, "https://example.com/prefix");
    cr_assert_str_eq(cfg.stream_url, "wss://example.com/prefix/voice/stream");
}

Test(config, base_url_needs_http_or_https)
{
    assert_base_url_refused("example.com");
    assert_base_url_refused("ftp://example.com");
    assert_base_url_refused("wss://example.com");
    assert_base_url_refused("https:/example.com");
    assert_base_url_refused("");
    cr_assert(strstr(err, "must start with https:// or http://") != NULL, "%s", err);
}

Test(config, base_url_needs_a_host)
{
    assert_base_url_refused("https://");
    assert_base_url_refused("http://");
    assert_base_url_refused("https:///prefix");
    cr_assert(strstr(err, "needs a host") != NULL, "%s", err);
}

Test(config, base_url_query_fragment_and_spaces_are_refused)
{
    assert_base_url_refused("https://example.com/?a=1");
    assert_base_url_refused("https://example.com?a=1");
    assert_base_url_refused("https://example.com/#top");
    assert_base_url_refused("https://example.com/my prefix");
    assert_base_url_refused("https://example.com ");
    cr_assert_str_eq(err, "error: PUBLIC_BASE_URL 'https://example.com ' needs a host and no "
                          "query, fragment or spaces");
}

Test(config, base_url_too_long_is_refused)
{
    char value[CONFIG_URL_SIZE + 8];

    memcpy(value, "https://", 8);
    memset(value + 8, 'a', sizeof(value) - 9);
    value[sizeof(value) - 1] = '\0';
    assert_base_url_refused(value);

    value[CONFIG_URL_SIZE] = '\0'; /* exactly CONFIG_URL_SIZE bytes: no room for the NUL */
    assert_base_url_refused(value);
}

Test(config, base_url_longest_whose_stream_url_fits)
{
    /* "wss://" + host + "/voice/stream" is 11 bytes longer than "https://" + host. */
    char value[CONFIG_URL_SIZE];
    size_t len = CONFIG_URL_SIZE - 1 - 11;

    memcpy(value, "https://", 8);
    memset(value + 8, 'a', len - 8);
    value[len] = '\0';
    cr_assert_eq(base_url(value), 0, "%s", err);
    cr_assert_str_eq(cfg.public_base_url, value);
    cr_assert_eq(strlen(cfg.stream_url), CONFIG_URL_SIZE - 1);
    cr_assert_eq(strncmp(cfg.stream_url, "wss://aaa", 9), 0);
    cr_assert_str_eq(cfg.stream_url + CONFIG_URL_SIZE - 1 - 13, "/voice/stream");
    /* One byte more and the stream URL would not fit: refused, not cut. */
    memcpy(value, "https://", 8);
    memset(value + 8, 'a', len + 1 - 8);
    value[len + 1] = '\0';
    assert_base_url_refused(value);
    cr_assert(strstr(err, "stream URL"), "%s", err);
}

/* --- config_set_clock --- */

Test(config, clock_sets_the_offset_from_now)
{
    /* 2026-11-23T21:30:00Z is 1795469400. */
    cr_assert_eq(config_set_clock(&cfg, "2026-11-23T21:30:00Z", 1795469400, err, sizeof(err)), 0,
                 "%s", err);
    cr_assert_eq(cfg.clock_offset, 0);

    cr_assert_eq(
        config_set_clock(&cfg, "2026-11-23T21:30:00Z", 1795469400 - 3600, err, sizeof(err)), 0,
        "%s", err);
    cr_assert_eq(cfg.clock_offset, 3600);

    cr_assert_eq(config_set_clock(&cfg, "1970-01-01T00:00:00Z", 1795469400, err, sizeof(err)), 0,
                 "%s", err);
    cr_assert_eq(cfg.clock_offset, -1795469400LL);

    cr_assert_eq(config_set_clock(&cfg, "2024-02-29T12:00:00Z", 0, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cfg.clock_offset, 1709208000LL);
}

static void assert_clock_refused(const char *value)
{
    cfg.clock_offset = 77;
    err[0] = '\0';
    cr_assert_eq(config_set_clock(&cfg, value, 1000, err, sizeof(err)), SB_EINVAL,
                 "'%s' was accepted", value ? value : "(null)");
    cr_assert_eq(cfg.clock_offset, 77);
    cr_assert(strstr(err, "is not a UTC time like 2026-11-23T21:30:00Z") != NULL, "%s", err);
}

Test(config, clock_only_takes_the_canonical_utc_form)
{
    assert_clock_refused("2026-11-23T21:30:00");       /* no Z */
    assert_clock_refused("2026-11-23T21:30:00+01:00"); /* an offset */
    assert_clock_refused("2026-11-23 21:30:00Z");      /* no T */
    assert_clock_refused("2026-11-23T21:30Z");         /* no seconds */
    assert_clock_refused("2026-11-23");
    assert_clock_refused("2026-1-23T21:30:00Z"); /* one-digit fields */
    assert_clock_refused("2026-11-23T1:30:00Z");
    assert_clock_refused("2026-11-23T21:30:00Z ");
    assert_clock_refused(" 2026-11-23T21:30:00Z");
    assert_clock_refused("2026-11-23T21:30:00Zjunk");
    assert_clock_refused("tomorrow");
    assert_clock_refused("");
}

Test(config, clock_refuses_dates_that_do_not_exist)
{
    assert_clock_refused("2026-02-30T00:00:00Z");
    assert_clock_refused("2025-02-29T00:00:00Z");
    assert_clock_refused("2026-13-01T00:00:00Z");
    assert_clock_refused("2026-11-23T24:00:00Z");
    assert_clock_refused("2026-11-23T21:60:00Z");
    assert_clock_refused("2016-12-31T23:59:60Z"); /* a leap second */
}

Test(config, clock_error_quotes_the_value)
{
    cr_assert_eq(config_set_clock(&cfg, "noon", 0, err, sizeof(err)), SB_EINVAL);
    cr_assert_str_eq(err, "error: clock 'noon' is not a UTC time like 2026-11-23T21:30:00Z");
    assert_clock_refused(NULL);
    cr_assert_str_eq(err, "error: clock '' is not a UTC time like 2026-11-23T21:30:00Z");
}

/* --- config_parse_int --- */

static int parse_int(const char *value, int lo, int hi, int *out)
{
    return config_parse_int(value, lo, hi, "--max-connections", out, err, sizeof(err));
}

static void assert_int_refused(const char *value, int lo, int hi)
{
    int out = -12345;

    err[0] = '\0';
    cr_assert_eq(parse_int(value, lo, hi, &out), SB_EINVAL, "'%s' was accepted",
                 value ? value : "(null)");
    cr_assert_eq(out, -12345, "'%s' wrote %d", value ? value : "(null)", out);
    cr_assert(strstr(err, "--max-connections") != NULL, "%s", err);
}

Test(config, parse_int_takes_the_bounds)
{
    int out = 0;

    cr_assert_eq(parse_int("1", 1, 4096, &out), 0, "%s", err);
    cr_assert_eq(out, 1);
    cr_assert_eq(parse_int("4096", 1, 4096, &out), 0, "%s", err);
    cr_assert_eq(out, 4096);
    cr_assert_eq(parse_int("250", 1, 4096, &out), 0, "%s", err);
    cr_assert_eq(out, 250);
    cr_assert_eq(parse_int("-5", -10, 10, &out), 0, "%s", err);
    cr_assert_eq(out, -5);
    cr_assert_eq(parse_int("0", 0, 0, &out), 0, "%s", err);
    cr_assert_eq(out, 0);
    cr_assert_eq(parse_int("2147483647", 0, INT_MAX, &out), 0, "%s", err);
    cr_assert_eq(out, INT_MAX);
    cr_assert_eq(parse_int("-2147483648", INT_MIN, 0, &out), 0, "%s", err);
    cr_assert_eq(out, INT_MIN);
}

Test(config, parse_int_out_of_bounds_is_refused)
{
    assert_int_refused("0", 1, 4096);
    assert_int_refused("4097", 1, 4096);
    assert_int_refused("-1", 0, 10);
    assert_int_refused("2147483648", 0, INT_MAX);
    assert_int_refused("-2147483649", INT_MIN, 0);
}

Test(config, parse_int_overflow_is_refused)
{
    assert_int_refused("99999999999999999999", 0, INT_MAX);
    assert_int_refused("-99999999999999999999", INT_MIN, 0);
    assert_int_refused("9223372036854775808", 0, INT_MAX);
}

Test(config, parse_int_garbage_and_empty_are_refused)
{
    assert_int_refused("", 0, 100);
    assert_int_refused(NULL, 0, 100);
    assert_int_refused("ten", 0, 100);
    assert_int_refused("10x", 0, 100);
    assert_int_refused("1.5", 0, 100);
    assert_int_refused("1e2", 0, 1000);
    assert_int_refused("0x10", 0, 100);
    assert_int_refused("10 ", 0, 100);
    assert_int_refused("-", 0, 100);
    assert_int_refused(" ", 0, 100);
}

Test(config, parse_int_error_names_the_flag_and_range)
{
    int out = 0;

    cr_assert_eq(config_parse_int("many", 1, 4096, "--max-connections", &out, err, sizeof(err)),
                 SB_EINVAL);
    cr_assert_str_eq(err, "error: --max-connections 'many' is not a whole number from 1 to 4096");
    cr_assert_eq(config_parse_int(NULL, 0, 60, "--body-timeout", &out, err, sizeof(err)),
                 SB_EINVAL);
    cr_assert_str_eq(err, "error: --body-timeout '' is not a whole number from 0 to 60");
}

/* --- config_set_default_limits --- */

Test(config, default_limits)
{
    cfg.listen_port = 8080;
    cfg.dev = 1;
    cfg.max_connections = -1;
    cfg.stream_idle_timeout_s = -1;
    config_set_default_limits(&cfg);
    cr_assert_eq(cfg.max_connections, CONFIG_MAX_CONNECTIONS);
    cr_assert_eq(cfg.max_connections_per_ip, CONFIG_MAX_CONNECTIONS_PER_IP);
    cr_assert_eq(cfg.header_timeout_s, CONFIG_HEADER_TIMEOUT_S);
    cr_assert_eq(cfg.body_timeout_s, CONFIG_BODY_TIMEOUT_S);
    cr_assert_eq(cfg.stream_start_timeout_s, CONFIG_STREAM_START_TIMEOUT_S);
    cr_assert_eq(cfg.stream_idle_timeout_s, CONFIG_STREAM_IDLE_TIMEOUT_S);
    /* The values the README documents. */
    cr_assert_eq(cfg.max_connections, 4096);
    cr_assert_eq(cfg.max_connections_per_ip, 2048);
    cr_assert_eq(cfg.header_timeout_s, 10);
    cr_assert_eq(cfg.body_timeout_s, 10);
    cr_assert_eq(cfg.stream_start_timeout_s, 10);
    cr_assert_eq(cfg.stream_idle_timeout_s, 30);
    /* Nothing else is touched. */
    cr_assert_eq(cfg.listen_port, 8080);
    cr_assert_eq(cfg.dev, 1);
}
