/*
 * Tests of the Prometheus metrics: requests counted by route and status,
 * latencies in cumulative histogram buckets, status callbacks by call status
 * and outcome, the text exposition of all three, and a render into a buffer
 * too small for it failing instead of answering half a page.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "server/metrics.h"

/* Routes are static strings, compared by address as the server passes them. */
static const char incoming[] = "incoming";
static const char status_route[] = "status";
static const char applied[] = "applied";
static const char duplicate[] = "duplicate";
static const char stale[] = "stale";

static struct metrics *m;
static struct buf out;

static void setup(void)
{
    m = calloc(1, sizeof(*m));
    cr_assert_not_null(m);
    buf_init(&out, 1 << 20);
}

static void teardown(void)
{
    buf_release(&out);
    free(m);
}

TestSuite(metrics, .init = setup, .fini = teardown);

static const char *render(void)
{
    buf_reset(&out);
    cr_assert_eq(metrics_render(m, &out), 0);
    return buf_cstr(&out);
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    }
    return 0;
}

#define assert_line(text, line) cr_assert(has_line(text, line), "no line '%s' in:\n%s", line, text)

static int count_prefix(const char *text, const char *prefix)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, prefix)) != NULL; p++) {
        if (p == text || p[-1] == '\n')
            n++;
    }
    return n;
}

#define AGENT_HEAD                                                                                 \
    "# HELP switchboard_agent_events_total What the LLM agents met: fillers said, retries, "       \
    "fallbacks, providers rested, messages taken.\n"                                               \
    "# TYPE switchboard_agent_events_total counter\n"

static const char empty_page[] =
    "# HELP switchboard_http_requests_total HTTP requests answered, by route and status.\n"
    "# TYPE switchboard_http_requests_total counter\n"
    "# HELP switchboard_http_request_duration_seconds Time from request to answer, by route.\n"
    "# TYPE switchboard_http_request_duration_seconds histogram\n"
    "# HELP switchboard_call_status_events_total Status callbacks committed, by call status and "
    "outcome.\n"
    "# TYPE switchboard_call_status_events_total counter\n" AGENT_HEAD;

Test(metrics, nothing_counted_renders_the_headers_only)
{
    cr_assert_str_eq(render(), empty_page);
}

Test(metrics, requests_by_route_and_status)
{
    const char *text;

    metrics_request(m, incoming, 200, 0.001);
    metrics_request(m, incoming, 200, 0.001);
    metrics_request(m, incoming, 403, 0.001);
    metrics_request(m, status_route, 204, 0.001);
    metrics_request(m, incoming, 200, 0.001);
    cr_assert_eq(m->nrequests, 3);
    text = render();
    assert_line(text, "switchboard_http_requests_total{route=\"incoming\",status=\"200\"} 3");
    assert_line(text, "switchboard_http_requests_total{route=\"incoming\",status=\"403\"} 1");
    assert_line(text, "switchboard_http_requests_total{route=\"status\",status=\"204\"} 1");
    cr_assert_eq(count_prefix(text, "switchboard_http_requests_total{"), 3, "%s", text);
    /* In the order first seen. */
    cr_assert_lt(strstr(text, "status=\"200\"} 3"), strstr(text, "status=\"403\"} 1"));
}

Test(metrics, latency_buckets_are_cumulative)
{
    const char *text;

    metrics_request(m, incoming, 200, 0.00005); /* le 0.0001 */
    metrics_request(m, incoming, 200, 0.0001);  /* le 0.0001: the bound is inclusive */
    metrics_request(m, incoming, 200, 0.0003);  /* le 0.0005 */
    metrics_request(m, incoming, 500, 0.02);    /* le 0.025, same route */
    metrics_request(m, incoming, 200, 0.75);    /* le 1 */
    metrics_request(m, incoming, 200, 3.0);     /* +Inf only */
    text = render();
    assert_line(text, "switchboard_http_request_duration_seconds_bucket{route=\"incoming\","
                      "le=\"0.0001\"} 2");
    assert_line(text, "switchboard_http_request_duration_seconds_bucket{route=\"incoming\","
                      "le=\"0.00025\"} 2");
    assert_line(text, "switchboard_http_request_duration_seconds_bucket{route=\"incoming\","
                      "le=\"0.0005\"} 3");
    assert_line(text, "switchboard_http_request_duration_seconds_bucket{route=\"incoming\","
                      "le=\"0.01\"} 3");
    assert_line(text, "switchboard_http_request_duration_seconds_bucket{route=\"incoming\","
                      "le=\"0.025\"} 4");
    assert_line(text, "switchboard_http_request_duration_seconds_bucket{route=\"incoming\","
                      "le=\"0.5\"} 4");
    assert_line(text, "switchboard_http_request_duration_seconds_bucket{route=\"incoming\","
                      "le=\"1\"} 5");
    assert_line(text, "switchboard_http_request_duration_seconds_bucket{route=\"incoming\","
                      "le=\"+Inf\"} 6");
    assert_line(text, "switchboard_http_request_duration_seconds_count{route=\"incoming\"} 6");
    assert_line(text, "switchboard_http_request_duration_seconds_sum{route=\"incoming\"} 3.770450");
}

Test(metrics, every_bucket_bound_is_rendered_in_order)
{
    static const char *const bounds[] = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025",
                                         "0.005",  "0.01",    "0.025",  "0.05",  "0.1",
                                         "0.5",    "1",       "+Inf"};
    const char *text, *prev = NULL;
    char line[160];

    cr_assert_eq(sizeof(bounds) / sizeof(bounds[0]), METRICS_BUCKETS + 1);
    metrics_request(m, status_route, 204, 0.002);
    text = render();
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        const char *at;

        snprintf(line, sizeof(line),
                 "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"%s\"} %d",
                 bounds[i], i < 4 ? 0 : 1);
        assert_line(text, line);
        at = strstr(text, line);
        cr_assert(!prev || at > prev, "bucket le=%s out of order", bounds[i]);
        prev = at;
    }
    cr_assert_eq(count_prefix(text, "switchboard_http_request_duration_seconds_bucket{"),
                 METRICS_BUCKETS + 1);
}

Test(metrics, latency_per_route)
{
    const char *text;

    metrics_request(m, incoming, 200, 0.2);
    metrics_request(m, status_route, 204, 0.0002);
    metrics_request(m, status_route, 204, 0.0002);
    cr_assert_eq(m->nlatency, 2);
    text = render();
    assert_line(text, "switchboard_http_request_duration_seconds_count{route=\"incoming\"} 1");
    assert_line(text, "switchboard_http_request_duration_seconds_count{route=\"status\"} 2");
    assert_line(text, "switchboard_http_request_duration_seconds_sum{route=\"incoming\"} 0.200000");
    assert_line(text, "switchboard_http_request_duration_seconds_sum{route=\"status\"} 0.000400");
    assert_line(text, "switchboard_http_request_duration_seconds_bucket{route=\"incoming\","
                      "le=\"0.1\"} 0");
    assert_line(text, "switchboard_http_request_duration_seconds_bucket{route=\"status\","
                      "le=\"0.00025\"} 2");
}

Test(metrics, status_callbacks_by_status_and_outcome)
{
    const char *text;

    metrics_call_status(m, "completed", applied);
    metrics_call_status(m, "completed", applied);
    metrics_call_status(m, "completed", duplicate);
    metrics_call_status(m, "ringing", stale);
    metrics_call_status(m, "completed", applied);
    cr_assert_eq(m->nstatuses, 3);
    text = render();
    assert_line(text,
                "switchboard_call_status_events_total{status=\"completed\",outcome=\"applied\"} 3");
    assert_line(
        text, "switchboard_call_status_events_total{status=\"completed\",outcome=\"duplicate\"} 1");
    assert_line(text,
                "switchboard_call_status_events_total{status=\"ringing\",outcome=\"stale\"} 1");
    cr_assert_eq(count_prefix(text, "switchboard_call_status_events_total{"), 3, "%s", text);
}

Test(metrics, call_status_is_copied)
{
    char status[16];

    snprintf(status, sizeof(status), "busy");
    metrics_call_status(m, status, applied);
    snprintf(status, sizeof(status), "failed");
    metrics_call_status(m, status, applied);
    cr_assert_eq(m->nstatuses, 2);
    assert_line(render(),
                "switchboard_call_status_events_total{status=\"busy\",outcome=\"applied\"} 1");
}

/*
 * Label values are written as they are, without Prometheus escaping (\\, \",
 * \n): the routes are the server's own names and the call statuses are only
 * those voice/status.c knows (an unknown CallStatus is refused before it is
 * counted), none of which needs escaping. So no test feeds a quote here.
 */

Test(metrics, whole_page)
{
    char expected[4096];
    int n;

    metrics_request(m, status_route, 204, 0.004);
    metrics_call_status(m, "no-answer", applied);
    n = snprintf(
        expected, sizeof(expected),
        "# HELP switchboard_http_requests_total HTTP requests answered, by route and status.\n"
        "# TYPE switchboard_http_requests_total counter\n"
        "switchboard_http_requests_total{route=\"status\",status=\"204\"} 1\n"
        "# HELP switchboard_http_request_duration_seconds Time from request to answer, by "
        "route.\n"
        "# TYPE switchboard_http_request_duration_seconds histogram\n"
        "%s"
        "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"+Inf\"} 1\n"
        "switchboard_http_request_duration_seconds_sum{route=\"status\"} 0.004000\n"
        "switchboard_http_request_duration_seconds_count{route=\"status\"} 1\n"
        "# HELP switchboard_call_status_events_total Status callbacks committed, by call status "
        "and outcome.\n"
        "# TYPE switchboard_call_status_events_total counter\n"
        "switchboard_call_status_events_total{status=\"no-answer\",outcome=\"applied\"} "
        "1\n" AGENT_HEAD,
        "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"0.0001\"} 0\n"
        "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"0.00025\"} 0\n"
        "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"0.0005\"} 0\n"
        "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"0.001\"} 0\n"
        "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"0.0025\"} 0\n"
        "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"0.005\"} 1\n"
        "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"0.01\"} 1\n"
        "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"0.025\"} 1\n"
        "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"0.05\"} 1\n"
        "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"0.1\"} 1\n"
        "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"0.5\"} 1\n"
        "switchboard_http_request_duration_seconds_bucket{route=\"status\",le=\"1\"} 1\n");
    cr_assert_lt((size_t)n, sizeof(expected));
    cr_assert_str_eq(render(), expected);
}

Test(metrics, render_appends)
{
    buf_reset(&out);
    cr_assert_eq(buf_puts(&out, "before\n"), 0);
    cr_assert_eq(metrics_render(m, &out), 0);
    cr_assert_eq(strncmp(buf_cstr(&out), "before\n# HELP ", 14), 0);
    cr_assert_str_eq(buf_cstr(&out) + 7, empty_page);
}

/* A few of every kind, so the page is a few kilobytes. */
static void fill(void)
{
    static const char *const routes[] = {"incoming", "gather", "status", "stream", "metrics"};

    for (int i = 0; i < 5; i++) {
        for (int s = 200; s < 205; s++)
            metrics_request(m, routes[i], s, 0.0001 * (double)(i + s - 199));
    }
    metrics_call_status(m, "completed", applied);
    metrics_call_status(m, "in-progress", duplicate);
}

Test(metrics, render_into_a_buffer_that_is_too_small_fails)
{
    struct buf whole = BUF_INIT(1 << 20);
    size_t len;

    fill();
    cr_assert_eq(metrics_render(m, &whole), 0);
    len = whole.len;
    cr_assert_gt(len, 1000);

    /* Exactly enough room: the same page. */
    {
        struct buf exact = BUF_INIT(len);

        cr_assert_eq(metrics_render(m, &exact), 0);
        cr_assert_eq(exact.len, len);
        cr_assert_str_eq(buf_cstr(&exact), buf_cstr(&whole));
        buf_release(&exact);
    }
    /* One byte short, half, or nothing: an error, never more than the maximum. */
    {
        size_t sizes[] = {len - 1, len / 2, 100, 1, 0};

        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            struct buf small = BUF_INIT(sizes[i]);

            cr_assert_neq(metrics_render(m, &small), 0, "rendered into %zu bytes", sizes[i]);
            cr_assert_leq(small.len, sizes[i]);
            buf_release(&small);
        }
    }
    buf_release(&whole);
}

Test(metrics, request_series_are_bounded)
{
    /* Every status from 100 up is its own series; past the table they are dropped. */
    for (int s = 100; s < 100 + METRICS_MAX_SERIES + 10; s++)
        metrics_request(m, incoming, s, 0.001);
    cr_assert_eq(m->nrequests, METRICS_MAX_SERIES);
    for (int i = 0; i < METRICS_MAX_SERIES; i++)
        cr_assert_eq(m->requests[i].count, 1);
    /* The latency of the dropped ones still counts: one route. */
    cr_assert_eq(m->nlatency, 1);
    cr_assert_eq(m->latency[0].count, METRICS_MAX_SERIES + 10);
    /* A known series still counts once the table is full. */
    metrics_request(m, incoming, 100, 0.001);
    cr_assert_eq(m->requests[0].count, 2);
    render();
}

Test(metrics, latency_routes_are_bounded)
{
    static char routes[40][16];
    int max = (int)(sizeof(m->latency) / sizeof(m->latency[0]));

    for (int i = 0; i < 40; i++) {
        snprintf(routes[i], sizeof(routes[i]), "r%d", i);
        metrics_request(m, routes[i], 200, 0.001);
    }
    cr_assert_eq(m->nlatency, max);
    cr_assert_eq(m->nrequests, 40);
    cr_assert_eq(count_prefix(render(), "switchboard_http_request_duration_seconds_count{"), max);
}

Test(metrics, status_series_are_bounded)
{
    char status[16];
    int max = (int)(sizeof(m->statuses) / sizeof(m->statuses[0]));

    for (int i = 0; i < max + 5; i++) {
        snprintf(status, sizeof(status), "s%d", i);
        metrics_call_status(m, status, applied);
    }
    cr_assert_eq(m->nstatuses, max);
    metrics_call_status(m, "s0", applied);
    cr_assert_eq(m->statuses[0].count, 2);
    cr_assert_eq(count_prefix(render(), "switchboard_call_status_events_total{"), max);
}

Test(metrics, agent_events_are_counted_by_name)
{
    metrics_agent_event(m, "filler");
    metrics_agent_event(m, "fallback");
    metrics_agent_event(m, "filler");
    metrics_agent_event(m, NULL);
    cr_assert_not_null(strstr(render(), "switchboard_agent_events_total{event=\"filler\"} 2\n"));
    cr_assert_not_null(strstr(render(), "switchboard_agent_events_total{event=\"fallback\"} 1\n"));
}

Test(metrics, agent_event_names_beyond_the_table_are_dropped_not_overflowed)
{
    char name[24];

    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "event%d", i);
        metrics_agent_event(m, name);
    }
    cr_assert_eq(m->nagent_events, 16);
    cr_assert_null(strstr(render(), "event16"));
}

Test(metrics, loops_counts_add_up_series_by_series)
{
    struct metrics *other = calloc(1, sizeof(*other));
    static const struct metrics_loop loops[] = {{5, 1, 2, 0}, {0, 0, 0, 4}, {7, 3, 1, 1}};

    cr_assert_not_null(other);
    metrics_request(m, incoming, 200, 0.0002);
    metrics_request(other, incoming, 200, 0.0002);
    metrics_request(other, incoming, 503, 0.3);
    metrics_call_status(other, "completed", applied);
    metrics_agent_event(other, "filler");
    metrics_merge(m, other);
    metrics_merge(m, other);
    free(other);
    cr_assert_not_null(
        strstr(render(), "switchboard_http_requests_total{route=\"incoming\",status=\"200\"} 3\n"));
    cr_assert_not_null(
        strstr(render(), "switchboard_http_requests_total{route=\"incoming\",status=\"503\"} 2\n"));
    cr_assert_not_null(strstr(
        render(), "switchboard_http_request_duration_seconds_count{route=\"incoming\"} 5\n"));
    cr_assert_not_null(strstr(
        render(),
        "switchboard_call_status_events_total{status=\"completed\",outcome=\"applied\"} 2\n"));
    cr_assert_not_null(strstr(render(), "switchboard_agent_events_total{event=\"filler\"} 2\n"));
    buf_reset(&out);
    cr_assert_eq(metrics_render_loops(loops, 3, &out), 0);
    cr_assert_not_null(
        strstr(buf_cstr(&out), "switchboard_loop_connections_total{loop=\"0\"} 5\n"));
    cr_assert_not_null(
        strstr(buf_cstr(&out), "switchboard_loop_connections_total{loop=\"2\"} 7\n"));
    cr_assert_not_null(
        strstr(buf_cstr(&out), "# TYPE switchboard_loop_requests_in_flight gauge\n"));
    cr_assert_not_null(
        strstr(buf_cstr(&out), "switchboard_loop_requests_in_flight{loop=\"1\"} 0\n"));
    cr_assert_not_null(
        strstr(buf_cstr(&out), "switchboard_loop_requests_in_flight{loop=\"2\"} 3\n"));
    cr_assert_not_null(strstr(buf_cstr(&out), "switchboard_loop_media_streams{loop=\"0\"} 2\n"));
    cr_assert_not_null(strstr(buf_cstr(&out), "switchboard_loop_relay_sessions{loop=\"1\"} 4\n"));
}
