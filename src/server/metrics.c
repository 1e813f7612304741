#include "server/metrics.h"

#include <stdio.h>
#include <string.h>
#include "core/banned.h"

static const double bucket_bounds[METRICS_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   0.5,    1.0};

/* The slot of a request series, added when there is room; -1 when full. */
static int request_slot(struct metrics *m, const char *route, int status)
{
    int i;

    for (i = 0; i < m->nrequests; i++) {
        if (m->requests[i].route == route && m->requests[i].status == status)
            return i;
    }
    if (m->nrequests == METRICS_MAX_SERIES)
        return -1;
    m->requests[i].route = route;
    m->requests[i].status = status;
    m->nrequests++;
    return i;
}

static struct metrics_latency *latency_slot(struct metrics *m, const char *route)
{
    for (int i = 0; i < m->nlatency; i++) {
        if (m->latency[i].route == route)
            return &m->latency[i];
    }
    if (m->nlatency == (int)(sizeof(m->latency) / sizeof(m->latency[0])))
        return NULL;
    m->latency[m->nlatency].route = route;
    return &m->latency[m->nlatency++];
}

static int status_slot(struct metrics *m, const char *status, const char *outcome)
{
    int i;

    for (i = 0; i < m->nstatuses; i++) {
        if (strcmp(m->statuses[i].status, status) == 0 && m->statuses[i].outcome == outcome)
            return i;
    }
    if (m->nstatuses == (int)(sizeof(m->statuses) / sizeof(m->statuses[0])))
        return -1;
    snprintf(m->statuses[i].status, sizeof(m->statuses[i].status), "%s", status);
    m->statuses[i].outcome = outcome;
    m->nstatuses++;
    return i;
}

static int agent_slot(struct metrics *m, const char *event)
{
    int i;

    for (i = 0; i < m->nagent_events; i++) {
        if (strcmp(m->agent_events[i].event, event) == 0)
            return i;
    }
    if (m->nagent_events == (int)(sizeof(m->agent_events) / sizeof(m->agent_events[0])))
        return -1;
    snprintf(m->agent_events[i].event, sizeof(m->agent_events[i].event), "%s", event);
    m->nagent_events++;
    return i;
}

void metrics_request(struct metrics *m, const char *route, int status, double seconds)
{
    struct metrics_latency *lat;
    int i;

    pthread_mutex_lock(&m->lock);
    i = request_slot(m, route, status);
    if (i >= 0)
        m->requests[i].count++;
    lat = latency_slot(m, route);
    if (lat) {
        for (i = 0; i < METRICS_BUCKETS; i++) {
            if (seconds <= bucket_bounds[i]) {
                lat->buckets[i]++;
                break;
            }
        }
        lat->count++;
        lat->sum += seconds;
    }
    pthread_mutex_unlock(&m->lock);
}

void metrics_call_status(struct metrics *m, const char *status, const char *outcome)
{
    int i;

    pthread_mutex_lock(&m->lock);
    i = status_slot(m, status, outcome);
    if (i >= 0)
        m->statuses[i].count++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_agent_event(struct metrics *m, const char *event)
{
    int i;

    if (!event)
        return;
    pthread_mutex_lock(&m->lock);
    i = agent_slot(m, event);
    if (i >= 0)
        m->agent_events[i].count++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_merge(struct metrics *dst, struct metrics *src)
{
    pthread_mutex_lock(&src->lock);
    for (int i = 0; i < src->nrequests; i++) {
        int d = request_slot(dst, src->requests[i].route, src->requests[i].status);

        if (d >= 0)
            dst->requests[d].count += src->requests[i].count;
    }
    for (int i = 0; i < src->nlatency; i++) {
        struct metrics_latency *d = latency_slot(dst, src->latency[i].route);

        if (!d)
            continue;
        for (int b = 0; b < METRICS_BUCKETS; b++)
            d->buckets[b] += src->latency[i].buckets[b];
        d->count += src->latency[i].count;
        d->sum += src->latency[i].sum;
    }
    for (int i = 0; i < src->nstatuses; i++) {
        int d = status_slot(dst, src->statuses[i].status, src->statuses[i].outcome);

        if (d >= 0)
            dst->statuses[d].count += src->statuses[i].count;
    }
    for (int i = 0; i < src->nagent_events; i++) {
        int d = agent_slot(dst, src->agent_events[i].event);

        if (d >= 0)
            dst->agent_events[d].count += src->agent_events[i].count;
    }
    pthread_mutex_unlock(&src->lock);
}

int metrics_render(const struct metrics *m, struct buf *out)
{
    int rc = 0;

    rc |= buf_puts(out, "# HELP switchboard_http_requests_total HTTP requests answered, by "
                        "route and status.\n# TYPE switchboard_http_requests_total counter\n");
    for (int i = 0; i < m->nrequests; i++)
        rc |= buf_printf(out, "switchboard_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                         m->requests[i].route, m->requests[i].status, m->requests[i].count);

    rc |= buf_puts(out, "# HELP switchboard_http_request_duration_seconds Time from request to "
                        "answer, by route.\n# TYPE switchboard_http_request_duration_seconds "
                        "histogram\n");
    for (int i = 0; i < m->nlatency; i++) {
        const struct metrics_latency *l = &m->latency[i];
        unsigned long long cum = 0;

        for (int b = 0; b < METRICS_BUCKETS; b++) {
            cum += l->buckets[b];
            rc |= buf_printf(out,
                             "switchboard_http_request_duration_seconds_bucket{route=\"%s\","
                             "le=\"%g\"} %llu\n",
                             l->route, bucket_bounds[b], cum);
        }
        rc |=
            buf_printf(out,
                       "switchboard_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"}"
                       " %llu\nswitchboard_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                       "switchboard_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                       l->route, l->count, l->route, l->sum, l->route, l->count);
    }

    rc |= buf_puts(out, "# HELP switchboard_call_status_events_total Status callbacks committed, "
                        "by call status and outcome.\n# TYPE switchboard_call_status_events_total "
                        "counter\n");
    for (int i = 0; i < m->nstatuses; i++)
        rc |= buf_printf(
            out, "switchboard_call_status_events_total{status=\"%s\",outcome=\"%s\"} %llu\n",
            m->statuses[i].status, m->statuses[i].outcome, m->statuses[i].count);

    rc |= buf_puts(out, "# HELP switchboard_agent_events_total What the LLM agents met: fillers "
                        "said, retries, fallbacks, providers rested, messages taken.\n# TYPE "
                        "switchboard_agent_events_total counter\n");
    for (int i = 0; i < m->nagent_events; i++)
        rc |= buf_printf(out, "switchboard_agent_events_total{event=\"%s\"} %llu\n",
                         m->agent_events[i].event, m->agent_events[i].count);
    return rc ? -3 : 0;
}

int metrics_render_loops(const struct metrics_loop *loops, int nloops, struct buf *out)
{
    /* One series per count, one sample per loop. */
    static const struct {
        const char *name, *type, *help;
        size_t offset;
    } series[] = {
        {"switchboard_loop_connections_total", "counter",
         "Connections each event loop (--threads) accepted.",
         offsetof(struct metrics_loop, accepted)},
        {"switchboard_loop_requests_in_flight", "gauge",
         "Requests each event loop has read and not yet answered, this scrape included.",
         offsetof(struct metrics_loop, inflight)},
        {"switchboard_loop_media_streams", "gauge", "Media Streams open on each event loop.",
         offsetof(struct metrics_loop, streams)},
        {"switchboard_loop_relay_sessions", "gauge",
         "ConversationRelay sessions open on each event loop.",
         offsetof(struct metrics_loop, relays)},
    };
    int rc = 0;

    for (size_t s = 0; s < sizeof(series) / sizeof(series[0]); s++) {
        rc |= buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", series[s].name, series[s].help,
                         series[s].name, series[s].type);
        for (int i = 0; i < nloops; i++) {
            const unsigned long long *v =
                (const unsigned long long *)((const char *)&loops[i] + series[s].offset);

            rc |= buf_printf(out, "%s{loop=\"%d\"} %llu\n", series[s].name, i, *v);
        }
    }
    return rc ? -3 : 0;
}
