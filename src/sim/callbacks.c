/* Status and recording callbacks of a simulated call, including --chaos delivery. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/call_internal.h"
#include "core/banned.h"

/* RFC 2822 time of an event: the call's start plus the simulated clock. */
static void event_timestamp(const struct call *c, char *out, size_t size)
{
    time_t t = c->started_wall + (time_t)(c->clock_ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, size, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* Posts one callback and logs the outcome; a failure is Twilio's warning 15003, not an error. */
static void deliver(struct call *c, const char *event, const struct form *params)
{
    struct sim_fetch_result res;
    json_t *ev;

    memset(&res, 0, sizeof(res));
    call_post(c, c->o->status_callback, "POST", params, 0, &res);
    ev = call_event(c, "callback");
    json_object_set_new(ev, "event", json_string(event));
    json_object_set_new(ev, "sequence", json_string(form_get(params, "SequenceNumber")));
    json_object_set_new(ev, "status", json_integer(res.status));
    if (res.status < 200 || res.status > 299) {
        json_t *w = call_event(c, "warning");

        json_object_set_new(w, "code", json_integer(15003));
        json_object_set_new(w, "message", json_sprintf("status callback answered %ld", res.status));
    }
    sim_fetch_result_release(&res);
}

static const char *event_name(unsigned event)
{
    switch (event) {
    case SIM_EVENT_INITIATED:
        return "initiated";
    case SIM_EVENT_RINGING:
        return "ringing";
    case SIM_EVENT_ANSWERED:
        return "answered";
    default:
        return "completed";
    }
}

void call_status_event(struct call *c, unsigned event, const char *status)
{
    const struct sim_call_opts *o = c->o;
    unsigned wanted = o->status_events ? o->status_events : SIM_EVENT_COMPLETED;
    struct form p = FORM_INIT;
    char seq[16], ts[64], secs[32], mins[32];
    json_t *held;

    if (!o->status_callback || !(wanted & event))
        return;
    snprintf(seq, sizeof(seq), "%d", c->sequence++);
    event_timestamp(c, ts, sizeof(ts));
    if (event == SIM_EVENT_COMPLETED) {
        double secs_total = c->answered ? (double)(long)((c->clock_ms + 999) / 1000) : 0;

        snprintf(secs, sizeof(secs), "%.0f", secs_total);
        snprintf(mins, sizeof(mins), "%.0f", secs_total > 0 ? (secs_total + 59) / 60 : 0);
    }
    {
        const int done = event == SIM_EVENT_COMPLETED;
        const char *const pairs[][2] = {
            {"CallSid", c->call_sid},
            {"AccountSid", c->account_sid},
            {"From", o->from},
            {"To", o->to},
            {"Caller", o->from},
            {"Called", o->to},
            {"CallStatus", status},
            {"ApiVersion", "2010-04-01"},
            {"Direction", o->direction ? o->direction : "inbound"},
            {"CallbackSource", "call-progress-events"},
            {"SequenceNumber", seq},
            {"Timestamp", ts},
            {"CallDuration", done ? secs : NULL},
            {"Duration", done ? mins : NULL},
        };

        if (form_add_pairs(&p, pairs, sizeof(pairs) / sizeof(pairs[0])) != 0) {
            /* A callback with parameters missing would mislead the app: none is sent. */
            call_fail(c, 0, "out of memory building the %s status callback", event_name(event));
            return;
        }
    }
    if (!o->chaos) {
        deliver(c, event_name(event), &p);
        form_release(&p);
        return;
    }
    /* Held back: remember the parameters as JSON pairs to replay them later. */
    if (!c->callbacks)
        c->callbacks = json_array();
    held = json_pack("{s:s, s:[]}", "event", event_name(event), "params");
    for (size_t i = 0; i < p.count; i++)
        json_array_append_new(json_object_get(held, "params"),
                              json_pack("[s, s]", p.fields[i].key, p.fields[i].value));
    json_array_append_new(c->callbacks, held);
    form_release(&p);
}

void call_status_flush(struct call *c)
{
    size_t n = c->callbacks ? json_array_size(c->callbacks) : 0;
    size_t total, *order;

    if (n == 0)
        goto out;
    /* At-least-once delivery: every callback once, about half of them twice, in any order. */
    order = calloc(2 * n, sizeof(*order));
    if (!order)
        goto out;
    total = 0;
    for (size_t i = 0; i < n; i++) {
        order[total++] = i;
        if (i == 0 || (call_random(c) & 1))
            order[total++] = i;
    }
    for (size_t i = total - 1; i > 0; i--) {
        size_t k, tmp;

        k = call_random(c) % (i + 1);
        tmp = order[i];
        order[i] = order[k];
        order[k] = tmp;
    }
    for (size_t i = 0; i < total; i++) {
        json_t *held = json_array_get(c->callbacks, order[i]);
        json_t *pairs = json_object_get(held, "params");
        struct form p = FORM_INIT;
        size_t k;
        json_t *pair;
        int rc = 0;

        json_array_foreach(pairs, k, pair)
        {
            if (!rc)
                rc = form_add(&p, json_string_value(json_array_get(pair, 0)),
                              json_string_value(json_array_get(pair, 1)));
        }
        if (rc)
            call_fail(c, 0, "out of memory replaying a status callback");
        else
            deliver(c, json_string_value(json_object_get(held, "event")), &p);
        form_release(&p);
    }
    free(order);
out:
    json_decref(c->callbacks);
    c->callbacks = NULL;
}

void call_recording_callback(struct call *c, const struct sim_node *record, const char *sid,
                             const char *url, const char *duration)
{
    const char *target = sim_node_attr(record, "recordingStatusCallback");
    const char *method = sim_node_attr(record, "recordingStatusCallbackMethod");
    char *resolved = sim_url_resolve(c->doc_url, target);
    struct form p = FORM_INIT;
    struct sim_fetch_result res;
    char ts[64];
    json_t *ev;

    if (!resolved)
        return;
    memset(&res, 0, sizeof(res));
    event_timestamp(c, ts, sizeof(ts));
    {
        const char *const pairs[][2] = {
            {"AccountSid", c->account_sid},
            {"CallSid", c->call_sid},
            {"RecordingSid", sid},
            {"RecordingUrl", url},
            {"RecordingStatus", "completed"},
            {"RecordingDuration", duration},
            {"RecordingChannels", "1"},
            {"RecordingStartTime", ts},
            {"RecordingSource", "RecordVerb"},
            {"RecordingTrack", "inbound"},
        };

        if (form_add_pairs(&p, pairs, sizeof(pairs) / sizeof(pairs[0])) != 0) {
            call_fail(c, 0, "out of memory building the recording status callback");
            free(resolved);
            return;
        }
    }
    call_post(c, resolved, method && strcasecmp(method, "GET") == 0 ? "GET" : "POST", &p, 0, &res);
    ev = call_event(c, "callback");
    json_object_set_new(ev, "event", json_string("recording-completed"));
    json_object_set_new(ev, "status", json_integer(res.status));
    sim_fetch_result_release(&res);
    form_release(&p);
    free(resolved);
}
