/*
 * Calls placed through the fake REST API: POST Calls.json checks, the thread
 * that runs each call with sim_call_run, the control hook that paces it in
 * real time and carries out updates (hang up, redirect), and the conferences
 * its <Dial><Conference> joins.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "core/e164.h"
#include "core/log.h"
#include "core/redact.h"
#include "sim/api_internal.h"
#include "sim/api_params.h"
#include "sim/call.h"
#include "sim/fetch.h"
#include "sim/script.h"
#include "core/banned.h"

/* How long an outbound call rings before the callee answers (simulated seconds). */
#define RING_S 2.0
/* How long a busy number rings before the busy signal. */
#define BUSY_RING_S 1.0
/* Ring timeout when the request gives none (Calls API default). */
#define DEFAULT_TIMEOUT_S 60

static const char *const live_statuses[] = {"queued", "ringing", "in-progress"};

static int is_live(const struct api_call *c)
{
    for (size_t i = 0; i < sizeof(live_statuses) / sizeof(live_statuses[0]); i++) {
        if (strcmp(c->status, live_statuses[i]) == 0)
            return 1;
    }
    return 0;
}

static void set_status(struct api_call *c, const char *status)
{
    snprintf(c->status, sizeof(c->status), "%s", status);
    c->updated = time(NULL);
}

/* The call `sid`, or NULL. The caller holds the lock. */
static struct api_call *call_find(struct sim_api *api, const char *sid)
{
    for (struct api_call *c = api->calls; c; c = c->next) {
        if (!c->deleted && strcmp(c->sid, sid) == 0)
            return c;
    }
    return NULL;
}

static int is_http_url(const char *url)
{
    return url && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) &&
           strlen(url) < API_URL_SIZE;
}

/* A party Twilio can call or call from: E.164, a Voice SDK client, or a SIP URI. */
static int party_valid(const char *s)
{
    return e164_valid(s) || (strncmp(s, "client:", 7) == 0 && s[7]) ||
           (strncmp(s, "sip:", 4) == 0 && s[4]);
}

/* Twilio's *_formatted: "(415) 555-0100" for North American numbers, else as given. */
static void formatted(const char *number, char *out, size_t size)
{
    if (strncmp(number, "+1", 2) == 0 && strlen(number) == 12 && e164_valid(number))
        snprintf(out, size, "(%.3s) %.3s-%.4s", number + 2, number + 5, number + 8);
    else
        snprintf(out, size, "%s", number);
}

static void uri_of(const struct sim_api *api, char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "/2010-04-01/Accounts/AC.../" followed by the formatted rest. */
static void uri_of(const struct sim_api *api, char *out, size_t size, const char *fmt, ...)
{
    int n = snprintf(out, size, "/%s/Accounts/%s/", API_VERSION, api->account_sid);
    va_list ap;

    if (n <= 0 || (size_t)n >= size)
        return;
    va_start(ap, fmt);
    vsnprintf(out + n, size - (size_t)n, fmt, ap);
    va_end(ap);
}

/* The Call resource as Twilio serves it. The caller holds the lock. */
static json_t *call_json(const struct sim_api *api, const struct api_call *c)
{
    json_t *j = json_object(), *sub = json_object();
    char uri[256], buf[256], dur[32];
    static const char *const subresources[] = {"recordings",
                                               "notifications",
                                               "streams",
                                               "payments",
                                               "events",
                                               "siprec",
                                               "user_defined_messages",
                                               "user_defined_message_subscriptions"};

    uri_of(api, uri, sizeof(uri), "Calls/%s.json", c->sid);
    api_set_str(j, "account_sid", api->account_sid);
    api_set_str(j, "annotation", NULL);
    /* Known once detection is over: at the answer, or with the asynchronous callback. */
    api_set_str(j, "answered_by",
                c->answered_by[0] && (c->async_amd ? c->amd_sent : c->answered) ? c->answered_by
                                                                                : NULL);
    api_set_str(j, "api_version", API_VERSION);
    api_set_str(j, "caller_name", NULL);
    json_object_set_new(j, "date_created", api_time_json(c->created));
    json_object_set_new(j, "date_updated", api_time_json(c->updated));
    api_set_str(j, "direction", "outbound-api");
    snprintf(dur, sizeof(dur), "%.0f", c->duration_s);
    api_set_str(j, "duration", c->done ? dur : NULL);
    json_object_set_new(j, "end_time", api_time_json(c->ended));
    api_set_str(j, "forwarded_from", NULL);
    api_set_str(j, "from", c->from);
    formatted(c->from, buf, sizeof(buf));
    api_set_str(j, "from_formatted", buf);
    api_set_str(j, "group_sid", NULL);
    api_set_str(j, "parent_call_sid", NULL);
    api_set_str(j, "phone_number_sid", NULL);
    api_set_str(j, "price", NULL);
    api_set_str(j, "price_unit", "USD");
    api_set_str(j, "queue_time", "0");
    api_set_str(j, "sid", c->sid);
    json_object_set_new(j, "start_time", api_time_json(c->started));
    api_set_str(j, "status", c->status);
    for (size_t i = 0; i < sizeof(subresources) / sizeof(subresources[0]); i++) {
        char name[64];

        snprintf(name, sizeof(name), "%s.json", subresources[i]);
        /* The subresource names are PascalCase in paths. */
        name[0] = (char)(name[0] - 'a' + 'A');
        for (char *u = strchr(name, '_'); u; u = strchr(u, '_')) {
            memmove(u, u + 1, strlen(u));
            *u = (char)(*u - 'a' + 'A');
        }
        uri_of(api, buf, sizeof(buf), "Calls/%s/%s", c->sid, name);
        api_set_str(sub, subresources[i], buf);
    }
    json_object_set_new(j, "subresource_uris", sub);
    api_set_str(j, "to", c->to);
    formatted(c->to, buf, sizeof(buf));
    api_set_str(j, "to_formatted", buf);
    api_set_str(j, "trunk_sid", NULL);
    api_set_str(j, "uri", uri);
    return j;
}

/* --- conferences ----------------------------------------------------------------------------- */

static json_t *conference_json(const struct sim_api *api, const struct api_conference *conf)
{
    char uri[256], sub_participants[256], sub_recordings[256];

    uri_of(api, uri, sizeof(uri), "Conferences/%s.json", conf->sid);
    uri_of(api, sub_participants, sizeof(sub_participants), "Conferences/%s/Participants.json",
           conf->sid);
    uri_of(api, sub_recordings, sizeof(sub_recordings), "Conferences/%s/Recordings.json",
           conf->sid);
    return json_pack("{s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:n, s:n, s:{s:s, s:s}, s:s}",
                     "account_sid", api->account_sid, "api_version", API_VERSION, "date_created",
                     api_time_json(conf->created), "date_updated", api_time_json(conf->updated),
                     "friendly_name", conf->name, "region", "us1", "sid", conf->sid, "status",
                     conf->participants > 0 ? "in-progress" : "completed",
                     "reason_conference_ended", "call_sid_ending_conference", "subresource_uris",
                     "participants", sub_participants, "recordings", sub_recordings, "uri", uri);
}

static json_t *participant_json(const struct sim_api *api, const struct api_participant *p)
{
    char uri[256];

    uri_of(api, uri, sizeof(uri), "Conferences/%s/Participants/%s.json", p->conference->sid,
           p->call_sid);
    return json_pack("{s:s, s:s, s:n, s:n, s:b, s:s, s:o, s:o, s:b, s:b, s:b, s:b, s:s, s:n, "
                     "s:s}",
                     "account_sid", api->account_sid, "call_sid", p->call_sid, "label",
                     "call_sid_to_coach", "coaching", 0, "conference_sid", p->conference->sid,
                     "date_created", api_time_json(p->created), "date_updated",
                     api_time_json(p->updated), "end_conference_on_exit", 0, "muted", p->muted,
                     "hold", p->hold, "start_conference_on_enter", 1, "status",
                     p->left ? "complete" : "connected", "queue_time", "uri", uri);
}

/* The call leaves its conference. The caller holds the lock. */
static void participant_leave(struct api_call *c)
{
    struct api_participant *p = c->participant;

    if (!p)
        return;
    p->left = 1;
    p->updated = time(NULL);
    p->conference->participants--;
    p->conference->updated = p->updated;
    c->participant = NULL;
}

/* The call joins the conference named `room`, starting it if nobody is in. Holds the lock. */
static void participant_join(struct sim_api *api, struct api_call *c, const char *room)
{
    struct api_conference *conf = NULL;
    struct api_participant *p;

    participant_leave(c);
    for (struct api_conference *it = api->conferences; it; it = it->next) {
        if (it->participants > 0 && strcmp(it->name, room) == 0)
            conf = it;
    }
    if (!conf) {
        /* A room nobody is in starts a new conference, with a new SID, as on Twilio. */
        conf = calloc(1, sizeof(*conf));
        if (!conf)
            return;
        conf->name = strdup(room);
        if (!conf->name) {
            free(conf);
            return;
        }
        if (sid_new("CF", conf->sid, sizeof(conf->sid)) != 0) {
            free(conf->name);
            free(conf);
            return;
        }
        conf->created = time(NULL);
        conf->next = api->conferences;
        api->conferences = conf;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        return;
    p->conference = conf;
    snprintf(p->call_sid, sizeof(p->call_sid), "%s", c->sid);
    p->created = p->updated = time(NULL);
    p->next = api->participants;
    api->participants = p;
    conf->participants++;
    conf->updated = p->created;
    c->participant = p;
}

static struct api_conference *conference_find(struct sim_api *api, const char *sid)
{
    for (struct api_conference *conf = api->conferences; conf; conf = conf->next) {
        if (strcmp(conf->sid, sid) == 0)
            return conf;
    }
    return NULL;
}

/* A participant still in conference `cf`. The caller holds the lock. */
static struct api_participant *participant_find(struct sim_api *api, const char *cf,
                                                const char *call_sid)
{
    for (struct api_participant *p = api->participants; p; p = p->next) {
        if (!p->left && strcmp(p->conference->sid, cf) == 0 && strcmp(p->call_sid, call_sid) == 0)
            return p;
    }
    return NULL;
}

/* --- the running call ---------------------------------------------------------------------- */

/* The room of a <Dial><Conference> event, or NULL. */
static const char *conference_room(const json_t *ev)
{
    const json_t *targets = json_object_get(ev, "targets");
    const char *outcome = json_string_value(json_object_get(ev, "outcome"));
    size_t i;
    json_t *t;

    if (!outcome || strcmp(outcome, "answered") != 0)
        return NULL;
    json_array_foreach(targets, i, t)
    {
        const char *noun = json_string_value(json_object_get(t, "noun"));

        if (noun && strcmp(noun, "Conference") == 0)
            return json_string_value(json_object_get(t, "to"));
    }
    return NULL;
}

/*
 * Looks at the transcript events not seen yet: recordings made and
 * conferences joined. Returns 1 when the call joined a conference. The
 * caller holds the lock.
 */
static int scan_events(struct sim_api *api, struct api_call *c, const json_t *events)
{
    size_t n = json_array_size(events);
    int joined = 0;

    for (size_t i = c->events_seen; i < n; i++) {
        const json_t *ev = json_array_get(events, i);
        const char *kind = json_string_value(json_object_get(ev, "kind"));
        const char *rec = json_string_value(json_object_get(ev, "recording_sid"));
        const char *room;

        if (!kind)
            continue;
        if (strcmp(kind, "record") == 0 && rec) {
            api_recording_add(api, rec, c->sid, json_number_value(json_object_get(ev, "seconds")));
        } else if (strcmp(kind, "dial") == 0) {
            room = conference_room(ev);
            if (room) {
                participant_join(api, c, room);
                joined = 1;
            }
        }
    }
    c->events_seen = n;
    return joined;
}

/* Blocks on the condition until `deadline` (monotonic seconds) or a broadcast. Holds the lock. */
static void wait_until(struct sim_api *api, double deadline)
{
    struct timespec ts;

    ts.tv_sec = (time_t)deadline;
    ts.tv_nsec = (long)((deadline - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&api->cond, &api->lock, &ts);
}

/* Simulated seconds before the call is answered (or ends unanswered). */
static double ring_seconds(const struct api_call *c)
{
    if (c->outcome && strcmp(c->outcome, "no-answer") == 0)
        return (double)c->timeout_s;
    if (c->outcome && strcmp(c->outcome, "busy") == 0)
        return BUSY_RING_S;
    if (c->outcome)
        return 0;
    /* Synchronous detection runs before the TwiML request. */
    return RING_S + (c->async_amd ? 0 : (double)c->amd_ms / 1000.0);
}

/* Posts the asynchronous AMD result (AsyncAmdStatusCallback), signed like any webhook. */
static void send_async_amd(struct sim_api *api, struct api_call *c)
{
    struct form p = FORM_INIT;
    struct sim_fetcher *f = NULL;
    struct sim_fetch_request req;
    struct sim_fetch_result res;
    char ms[32];

    memset(&res, 0, sizeof(res));
    if (!c->async_amd_url || sim_fetcher_new(&f) != 0)
        goto out;
    snprintf(ms, sizeof(ms), "%ld", c->amd_ms);
    {
        const char *const pairs[][2] = {
            {"CallSid", c->sid},
            {"AccountSid", api->account_sid},
            {"AnsweredBy", c->answered_by},
            {"MachineDetectionDuration", ms},
        };

        if (form_add_pairs(&p, pairs, sizeof(pairs) / sizeof(pairs[0])) != 0) {
            log_event(LOG_ERROR, "api.amd_callback_failed", "call_sid=%s error=\"out of memory\"",
                      c->sid);
            goto out;
        }
    }
    memset(&req, 0, sizeof(req));
    req.url = c->async_amd_url;
    req.method = c->async_amd_method;
    req.params = &p;
    req.token = api->o->token;
    sim_fetch(f, &req, &res);
    log_event(LOG_INFO, "api.amd_callback", "call_sid=%s answered_by=%s status=%ld", c->sid,
              c->answered_by, res.status);
out:
    sim_fetch_result_release(&res);
    sim_fetcher_free(f);
    form_release(&p);
}

/*
 * The control hook (sim_call_opts.control): keeps the simulated call in step
 * with the wall clock (scaled by --speed), and hands over what the REST API
 * asked for meanwhile.
 */
static int call_control(void *arg, struct sim_control *ctl)
{
    struct api_call *c = arg;
    struct sim_api *api = c->api;
    double now, deadline, target, amd_due = 0;
    int action = SIM_CONTROL_CONTINUE, was_in_conference, amd_pending, limited = 0;

    pthread_mutex_lock(&api->lock);
    was_in_conference = !scan_events(api, c, ctl->events) && c->participant;
    now = clock_mono_s();
    if (!ctl->answered) {
        set_status(c, "ringing");
        deadline = now + ring_seconds(c) / api->speed;
    } else {
        if (!c->answered) {
            c->answered = 1;
            c->answered_mono = now;
            c->started = time(NULL);
            set_status(c, "in-progress");
        }
        target = ctl->clock_ms / 1000.0;
        if (c->time_limit_s > 0 && target > (double)c->time_limit_s)
            target = (double)c->time_limit_s;
        deadline = c->answered_mono + target / api->speed;
    }
    for (;;) {
        amd_pending = c->async_amd && c->answered && !c->amd_sent;
        amd_due = c->answered_mono + (double)c->amd_ms / 1000.0 / api->speed;
        if (api->stopping || c->cmd)
            break;
        now = clock_mono_s();
        if (amd_pending && now >= amd_due) {
            c->amd_sent = 1;
            pthread_mutex_unlock(&api->lock);
            send_async_amd(api, c);
            pthread_mutex_lock(&api->lock);
            continue;
        }
        if (now >= deadline)
            break;
        wait_until(api, amd_pending && amd_due < deadline ? amd_due : deadline);
    }
    now = clock_mono_s();
    if (c->cmd) {
        action = c->cmd;
        c->cmd = 0;
        snprintf(ctl->url, sizeof(ctl->url), "%s", c->cmd_url);
        snprintf(ctl->method, sizeof(ctl->method), "%s", c->cmd_method);
        if (action == SIM_CONTROL_HANGUP)
            snprintf(ctl->status, sizeof(ctl->status), "%s",
                     ctl->answered ? "completed" : c->cmd_status);
    } else if (api->stopping) {
        action = SIM_CONTROL_HANGUP;
    } else if (!ctl->answered && c->outcome) {
        action = SIM_CONTROL_HANGUP;
        snprintf(ctl->status, sizeof(ctl->status), "%s", c->outcome);
    } else if (ctl->answered && c->time_limit_s > 0 &&
               ctl->clock_ms >= (double)c->time_limit_s * 1000.0) {
        /* TimeLimit: the call ends when it is reached, wherever the TwiML is. */
        action = SIM_CONTROL_HANGUP;
        ctl->clock_ms = (double)c->time_limit_s * 1000.0;
        limited = 1;
    }
    if (action != SIM_CONTROL_CONTINUE && ctl->answered && !limited) {
        double elapsed_ms = (now - c->answered_mono) * api->speed * 1000.0;

        if (elapsed_ms < ctl->clock_ms)
            ctl->clock_ms = elapsed_ms;
    }
    /* The <Dial><Conference> joined at an earlier poll has now played out (or was cut). */
    if (was_in_conference || action != SIM_CONTROL_CONTINUE)
        participant_leave(c);
    pthread_mutex_unlock(&api->lock);
    return action;
}

/* A copy of the transcript fit for a log line: dialled numbers and caller IDs redacted. */
static char *transcript_for_log(const json_t *events)
{
    json_t *copy = json_deep_copy(events);
    char red[REDACT_SIZE];
    size_t i, k;
    json_t *ev, *t;
    char *out;

    json_array_foreach(copy, i, ev)
    {
        const char *caller_id = json_string_value(json_object_get(ev, "caller_id"));

        if (caller_id)
            json_object_set_new(ev, "caller_id", json_string(redact_number(caller_id, red)));
        json_array_foreach(json_object_get(ev, "targets"), k, t)
        {
            const char *noun = json_string_value(json_object_get(t, "noun"));
            const char *to = json_string_value(json_object_get(t, "to"));

            if (to && noun && strcmp(noun, "Number") == 0)
                json_object_set_new(t, "to", json_string(redact_number(to, red)));
        }
    }
    out = json_dumps(copy, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(copy);
    return out;
}

static void log_call(const struct api_call *c, const struct sim_call_result *res)
{
    char to[REDACT_SIZE], from[REDACT_SIZE];
    char *events = transcript_for_log(res->events);
    json_t *err = json_string(res->error);
    char *err_text = err ? json_dumps(err, JSON_ENCODE_ANY) : NULL;

    log_event(res->ok ? LOG_INFO : LOG_WARN, "sim.call",
              "call_sid=%s status=%s duration=%.0f documents=%d to=%s from=%s ok=%s "
              "error_code=%d error=%s events=%s",
              c->sid, res->status, res->duration_s, res->documents, redact_number(c->to, to),
              redact_number(c->from, from), res->ok ? "yes" : "no", res->error_code,
              err_text ? err_text : "\"\"", events ? events : "[]");
    free(events);
    free(err_text);
    json_decref(err);
}

static void *call_thread(void *arg)
{
    struct api_call *c = arg;
    struct sim_api *api = c->api;
    struct sim_call_opts o;
    struct sim_call_result res;
    struct sim_script script = SIM_SCRIPT_INIT;
    char err[256], url[256];

    memset(&o, 0, sizeof(o));
    if (api->o->script_text &&
        sim_script_parse(&script, api->o->script_text, err, sizeof(err)) == 0)
        o.script = &script;
    snprintf(url, sizeof(url), "%s/_sim/twiml/%s", api->base_url, c->sid);
    o.url = c->url ? c->url : url;
    o.method = c->method;
    o.fallback_url = c->fallback_url;
    o.from = c->from;
    o.to = c->to;
    o.token = api->o->token;
    o.account_sid = api->account_sid;
    o.call_sid = c->sid;
    o.direction = "outbound-api";
    o.extra = c->extra.count ? &c->extra : NULL;
    o.status_callback = c->status_callback;
    o.status_events = c->status_events;
    o.seed = c->seed;
    o.stream_plain = api->o->stream_plain;
    o.control = call_control;
    o.control_arg = c;
    o.api_base = api->base_url;
    sim_call_run(&o, &res);

    pthread_mutex_lock(&api->lock);
    scan_events(api, c, res.events);
    participant_leave(c);
    set_status(c, res.status);
    c->duration_s = res.duration_s;
    c->ended = c->updated;
    c->done = 1;
    c->cmd = 0;
    pthread_mutex_unlock(&api->lock);
    log_call(c, &res);
    sim_call_result_release(&res);
    sim_script_release(&script);
    api_thread_finish(api, c->thread);
    return NULL;
}

/* --- requests ------------------------------------------------------------------------------ */

/* A parameter's value, NULL when absent or empty (Twilio treats both alike). */
static const char *param(const struct api_request *req, const char *name)
{
    const char *v = form_get(req->params, name);

    return v && *v ? v : NULL;
}

/* Parses StatusCallbackEvent: repeated keys, each a list. 0 on a bad value, named in `bad`. */
static int parse_events(const struct api_request *req, unsigned *out, char *bad, size_t badsize)
{
    unsigned bits = 0;

    for (size_t i = 0; i < req->params->count; i++) {
        const char *v = req->params->fields[i].value;

        if (strcmp(req->params->fields[i].key, "StatusCallbackEvent") == 0 &&
            status_events_parse(v, strlen(v), &bits, bad, badsize) != 0)
            return 0;
    }
    *out = bits;
    return 1;
}

/* AnsweredBy as detection in `mode` would report the configured answer. */
static const char *detected(const char *configured, const char *mode)
{
    int message_end = strcmp(mode, "DetectMessageEnd") == 0;

    if (!message_end && strncmp(configured, "machine_end", 11) == 0)
        return "machine_start";
    if (message_end && strcmp(configured, "machine_start") == 0)
        return "machine_end_beep";
    return configured;
}

/*
 * MachineDetectionDuration in ms: how long detection took for this answer.
 * A person is heard at once; a machine's start after a little of its
 * greeting; the end of its message (DetectMessageEnd) only after the whole
 * greeting, then the beep, the silence or neither.
 */
static long detection_ms(const char *answered_by, long timeout_s)
{
    static const struct {
        const char *answered_by;
        long ms;
    } times[] = {
        {"human", 2000},
        {"machine_start", 3500},
        {"fax", 3000},
        {"machine_end_beep", 9000},
        {"machine_end_silence", 10500},
        {"machine_end_other", 12000},
    };

    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        if (strcmp(answered_by, times[i].answered_by) == 0)
            return times[i].ms;
    }
    return timeout_s * 1000; /* unknown: detection ran until MachineDetectionTimeout */
}

/*
 * What detection reports for a new call to `to`: the number's own
 * --answered-by, else the global one, else human; "random" picks from the
 * seed and how many calls to `to` came before. Loop thread (the call list
 * only grows there).
 */
static const char *amd_answer(struct sim_api *api, const char *to, const char *mode)
{
    const struct sim_api_opts *o = api->o;
    const char *answer = o->answered_by ? o->answered_by : "human";
    unsigned long nth = 0;

    for (size_t i = 0; i < o->nanswers; i++) {
        if (strcmp(o->answers[i].number, to) == 0)
            answer = o->answers[i].answered_by;
    }
    if (strcmp(answer, "random") != 0)
        return detected(answer, mode);
    pthread_mutex_lock(&api->lock);
    for (const struct api_call *c = api->calls; c; c = c->next) {
        if (strcmp(c->to, to) == 0)
            nth++;
    }
    pthread_mutex_unlock(&api->lock);
    return api_params_amd_pick(api->seed, to, nth, strcmp(mode, "DetectMessageEnd") == 0);
}

/* Reads an integer parameter in [min, max]; absent gives `fallback`. Returns 0 when invalid. */
static int int_param(const struct api_request *req, const char *name, long min, long max,
                     long fallback, long *out)
{
    const char *v = param(req, name);
    char *end = NULL;
    long n;

    *out = fallback;
    if (!v)
        return 1;
    n = strtol(v, &end, 10);
    if (end == v || *end || n < min || n > max)
        return 0;
    *out = n;
    return 1;
}

static void call_free(struct api_call *c)
{
    if (!c)
        return;
    free(c->from);
    free(c->to);
    free(c->url);
    free(c->fallback_url);
    free(c->status_callback);
    free(c->async_amd_url);
    free(c->twiml);
    form_release(&c->extra);
    free(c);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Checks a Calls create request; replies with Twilio's error and returns 0 when it is wrong. */
static int create_valid(const struct api_request *req, struct api_reply *r)
{
    const char *to = param(req, "To"), *from = param(req, "From"), *url = param(req, "Url");
    const char *twiml = param(req, "Twiml"), *method = param(req, "Method");
    const char *amd = param(req, "MachineDetection");
    const char *urls[] = {"FallbackUrl", "StatusCallback", "AsyncAmdStatusCallback"};

    if (!to) {
        api_reply_error(r, 400, 21201, "No 'To' number is specified");
        return 0;
    }
    if (!from) {
        api_reply_error(r, 400, 21213, "No 'From' number is specified");
        return 0;
    }
    if (!party_valid(to)) {
        api_reply_error(r, 400, 21211, "Invalid 'To' Phone Number: %s", to);
        return 0;
    }
    if (!party_valid(from)) {
        api_reply_error(r, 400, 21212, "Invalid 'From' Phone Number: %s", from);
        return 0;
    }
    if (url && twiml) {
        api_reply_error(r, 400, 20001, "Url and Twiml cannot be given together");
        return 0;
    }
    if (!url && !twiml) {
        api_reply_error(r, 400, 21205,
                        param(req, "ApplicationSid")
                            ? "Url parameter is required (ApplicationSid is not simulated)"
                            : "Url parameter is required");
        return 0;
    }
    if (url && !is_http_url(url)) {
        api_reply_error(r, 400, 21205, "Url is not a valid URL: %s", url);
        return 0;
    }
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        const char *v = param(req, urls[i]);

        if (v && !is_http_url(v)) {
            api_reply_error(r, 400, 21205, "%s is not a valid URL: %s", urls[i], v);
            return 0;
        }
    }
    if (method && strcasecmp(method, "GET") != 0 && strcasecmp(method, "POST") != 0) {
        api_reply_error(r, 400, 20001, "Method must be GET or POST, not '%s'", method);
        return 0;
    }
    if (amd && strcmp(amd, "Enable") != 0 && strcmp(amd, "DetectMessageEnd") != 0) {
        api_reply_error(r, 400, 20001, "MachineDetection must be Enable or DetectMessageEnd");
        return 0;
    }
    return 1;
}

void api_calls_create(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    struct api_call *c = NULL;
    const char *amd = param(req, "MachineDetection"), *twiml = param(req, "Twiml");
    char bad[64], red_to[REDACT_SIZE], red_from[REDACT_SIZE];
    long amd_timeout;
    json_t *doc = NULL;

    if (!create_valid(req, r))
        goto out;
    c = calloc(1, sizeof(*c));
    if (!c)
        goto oom;
    c->api = api;
    if (!parse_events(req, &c->status_events, bad, sizeof(bad))) {
        api_reply_error(r, 400, 21626,
                        "Invalid 'StatusCallbackEvent': '%s' is not initiated, ringing, "
                        "answered or completed",
                        bad);
        goto out;
    }
    if (!int_param(req, "TimeLimit", 1, 86400, 0, &c->time_limit_s) ||
        !int_param(req, "Timeout", 1, 600, DEFAULT_TIMEOUT_S, &c->timeout_s) ||
        !int_param(req, "MachineDetectionTimeout", 3, 60, 30, &amd_timeout)) {
        api_reply_error(r, 400, 20001,
                        "TimeLimit, Timeout or MachineDetectionTimeout is out of "
                        "range");
        goto out;
    }
    if (sid_new("CA", c->sid, sizeof(c->sid)) != 0) {
        api_reply_error(r, 500, 20500, "Internal Server Error: no random bytes for a SID");
        goto out;
    }
    c->from = strdup(param(req, "From"));
    c->to = strdup(param(req, "To"));
    c->url = dup_or_null(param(req, "Url"));
    c->twiml = dup_or_null(twiml);
    c->fallback_url = dup_or_null(param(req, "FallbackUrl"));
    c->status_callback = dup_or_null(param(req, "StatusCallback"));
    c->async_amd_url = dup_or_null(param(req, "AsyncAmdStatusCallback"));
    if (!c->from || !c->to || (param(req, "Url") && !c->url) || (twiml && !c->twiml))
        goto oom;
    snprintf(c->method, sizeof(c->method), "%s",
             param(req, "Method") && strcasecmp(param(req, "Method"), "GET") == 0 ? "GET" : "POST");
    snprintf(c->async_amd_method, sizeof(c->async_amd_method), "%s",
             param(req, "AsyncAmdStatusCallbackMethod") &&
                     strcasecmp(param(req, "AsyncAmdStatusCallbackMethod"), "GET") == 0
                 ? "GET"
                 : "POST");
    if (amd) {
        char ms[32];

        snprintf(c->answered_by, sizeof(c->answered_by), "%s", amd_answer(api, c->to, amd));
        c->amd_ms = detection_ms(c->answered_by, amd_timeout);
        if (c->amd_ms > amd_timeout * 1000) {
            /* MachineDetectionTimeout came first: Twilio gives up with unknown. */
            snprintf(c->answered_by, sizeof(c->answered_by), "unknown");
            c->amd_ms = amd_timeout * 1000;
        }
        c->async_amd = param(req, "AsyncAmd") && strcasecmp(param(req, "AsyncAmd"), "true") == 0;
        snprintf(ms, sizeof(ms), "%ld", c->amd_ms);
        /* Synchronous detection: the TwiML request says who answered. */
        if (!c->async_amd && (form_add(&c->extra, "AnsweredBy", c->answered_by) ||
                              form_add(&c->extra, "MachineDetectionDuration", ms)))
            goto oom;
    }
    for (size_t i = 0; i < api->o->noutcomes; i++) {
        if (strcmp(api->o->outcomes[i].number, c->to) == 0)
            c->outcome = api->o->outcomes[i].status;
    }
    if (getrandom(&c->seed, sizeof(c->seed), 0) != (ssize_t)sizeof(c->seed))
        c->seed = (unsigned)time(NULL) ^ (unsigned)(size_t)c;
    c->seed |= 1; /* 0 would make the executor pick a time-based seed */
    snprintf(c->status, sizeof(c->status), "queued");
    c->created = c->updated = time(NULL);

    pthread_mutex_lock(&api->lock);
    doc = call_json(api, c);
    *api->calls_tail = c;
    api->calls_tail = &c->next;
    pthread_mutex_unlock(&api->lock);

    if (api_thread_start(api, call_thread, c, &c->thread) != 0) {
        pthread_mutex_lock(&api->lock);
        set_status(c, "failed");
        c->done = 1;
        pthread_mutex_unlock(&api->lock);
        json_decref(doc);
        c = NULL; /* listed: freed with the others */
        api_reply_error(r, 500, 20500, "Internal Server Error: cannot start the call");
        goto out;
    }
    snprintf(r->call_sid, sizeof(r->call_sid), "%s", c->sid);
    r->created = 1;
    api->creates++;
    if (api->o->create_timeout_every > 0 &&
        api->creates % (unsigned long)api->o->create_timeout_every == 0) {
        /* Placed, but the client hears nothing until long after it has given up. */
        r->delay_ms = api->o->create_timeout_ms > 0 ? api->o->create_timeout_ms : 30000;
        r->fault = "timeout";
    }
    log_event(LOG_INFO, "api.call_created",
              "call_sid=%s to=%s from=%s inline_twiml=%s amd=%s answered_by=%s", c->sid,
              redact_number(c->to, red_to), redact_number(c->from, red_from), twiml ? "yes" : "no",
              amd ? amd : "-", amd ? c->answered_by : "-");
    c = NULL; /* owned by the list and the thread */
    api_reply_json(r, 201, doc);
    goto out;
oom:
    api_reply_error(r, 500, 20500, "Internal Server Error: out of memory");
out:
    call_free(c);
}

/*
 * Whether the call passes the StartTime and EndTime filters. A call not
 * started yet (queued, ringing, or never answered) is dated by its
 * creation; a call not ended matches no EndTime filter. The caller holds
 * the lock.
 */
static int dates_match(const struct api_call *c, const struct api_params_days *start,
                       const struct api_params_days *end)
{
    time_t started = c->started ? c->started : c->created;

    if (!api_params_days_match(start, api_params_day_of(started)))
        return 0;
    if (!api_params_days_active(end))
        return 1;
    return c->ended && api_params_days_match(end, api_params_day_of(c->ended));
}

void api_calls_list(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    const char *to = param(req, "To"), *from = param(req, "From");
    const char *status = param(req, "Status");
    struct api_params_days start, end;
    char bad[32];
    json_t *items;

    if (api_params_days_parse(req->params, "StartTime", &start, bad, sizeof(bad)) != 0 ||
        api_params_days_parse(req->params, "EndTime", &end, bad, sizeof(bad)) != 0) {
        api_reply_error(r, 400, 20001, "Invalid %s: a date is expected (YYYY-MM-DD, UTC)", bad);
        return;
    }
    items = json_array();
    pthread_mutex_lock(&api->lock);
    for (struct api_call *c = api->calls; c; c = c->next) {
        if (c->deleted || (to && strcmp(c->to, to) != 0) || (from && strcmp(c->from, from) != 0) ||
            (status && strcmp(c->status, status) != 0) || !dates_match(c, &start, &end))
            continue;
        /* Newest first, as Twilio lists. */
        json_array_insert_new(items, 0, call_json(api, c));
    }
    pthread_mutex_unlock(&api->lock);
    api_reply_page(r, req, "calls", items);
}

void api_call_fetch(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    struct api_call *c;

    pthread_mutex_lock(&api->lock);
    c = call_find(api, req->args[0]);
    if (c)
        api_reply_json(r, 200, call_json(api, c));
    else
        api_reply_not_found(r, req);
    pthread_mutex_unlock(&api->lock);
}

void api_call_update(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    const char *status = param(req, "Status"), *url = param(req, "Url");
    const char *twiml = param(req, "Twiml"), *method = param(req, "Method");
    struct api_call *c;
    char *copy = NULL;

    pthread_mutex_lock(&api->lock);
    c = call_find(api, req->args[0]);
    if (!c) {
        api_reply_not_found(r, req);
        goto out;
    }
    snprintf(r->call_sid, sizeof(r->call_sid), "%s", c->sid);
    if (status && strcmp(status, "completed") != 0 && strcmp(status, "canceled") != 0) {
        api_reply_error(r, 400, 20001, "Status must be 'canceled' or 'completed', not '%s'",
                        status);
        goto out;
    }
    if (url && twiml) {
        api_reply_error(r, 400, 20001, "Url and Twiml cannot be given together");
        goto out;
    }
    if (url && !is_http_url(url)) {
        api_reply_error(r, 400, 21205, "Url is not a valid URL: %s", url);
        goto out;
    }
    if (method && strcasecmp(method, "GET") != 0 && strcasecmp(method, "POST") != 0) {
        api_reply_error(r, 400, 20001, "Method must be GET or POST, not '%s'", method);
        goto out;
    }
    if (status) {
        int ringing = strcmp(c->status, "in-progress") != 0;

        /* canceled only stops a call that has not been answered; completed ends either. */
        if (is_live(c) && (ringing || strcmp(status, "completed") == 0)) {
            c->cmd = SIM_CONTROL_HANGUP;
            snprintf(c->cmd_status, sizeof(c->cmd_status), "%s",
                     ringing ? "canceled" : "completed");
            set_status(c, c->cmd_status);
            /* The call is over now, as its status says: it is no longer in its conference. */
            participant_leave(c);
            pthread_cond_broadcast(&api->cond);
        }
    } else if (url || twiml) {
        if (!is_live(c)) {
            api_reply_error(r, 400, 21220, "Call is not in-progress. Cannot redirect.");
            goto out;
        }
        if (twiml) {
            copy = strdup(twiml);
            if (!copy) {
                api_reply_error(r, 500, 20500, "Internal Server Error: out of memory");
                goto out;
            }
            free(c->twiml);
            c->twiml = copy;
            snprintf(c->cmd_url, sizeof(c->cmd_url), "%s/_sim/twiml/%s", api->base_url, c->sid);
            snprintf(c->cmd_method, sizeof(c->cmd_method), "POST");
        } else {
            snprintf(c->cmd_url, sizeof(c->cmd_url), "%s", url);
            snprintf(c->cmd_method, sizeof(c->cmd_method), "%s",
                     method && strcasecmp(method, "GET") == 0 ? "GET" : "POST");
        }
        c->cmd = SIM_CONTROL_REDIRECT;
        c->updated = time(NULL);
        pthread_cond_broadcast(&api->cond);
    }
    api_reply_json(r, 200, call_json(api, c));
out:
    pthread_mutex_unlock(&api->lock);
}

void api_call_delete(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    struct api_call *c;

    pthread_mutex_lock(&api->lock);
    c = call_find(api, req->args[0]);
    if (!c) {
        api_reply_not_found(r, req);
    } else if (!c->done) {
        api_reply_error(r, 400, 21220, "Call is not completed. Cannot delete.");
    } else {
        c->deleted = 1;
        api_reply_json(r, 204, NULL);
    }
    pthread_mutex_unlock(&api->lock);
}

void api_twiml_serve(struct sim_api *api, const char *sid, struct api_reply *r)
{
    struct api_call *c;

    pthread_mutex_lock(&api->lock);
    c = call_find(api, sid);
    if (c && c->twiml) {
        r->body = strdup(c->twiml);
        r->len = r->body ? strlen(r->body) : 0;
        r->status = r->body ? 200 : 500;
        r->content_type = "text/xml";
    } else {
        r->status = 404;
        r->content_type = "text/plain";
        r->body = strdup("no inline twiml for this call\n");
        r->len = r->body ? strlen(r->body) : 0;
    }
    pthread_mutex_unlock(&api->lock);
}

void api_conferences_list(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    const char *name = param(req, "FriendlyName"), *status = param(req, "Status");
    json_t *items = json_array();

    pthread_mutex_lock(&api->lock);
    for (struct api_conference *conf = api->conferences; conf; conf = conf->next) {
        const char *st = conf->participants > 0 ? "in-progress" : "completed";

        if ((name && strcmp(conf->name, name) != 0) || (status && strcmp(st, status) != 0))
            continue;
        json_array_append_new(items, conference_json(api, conf));
    }
    pthread_mutex_unlock(&api->lock);
    api_reply_page(r, req, "conferences", items);
}

void api_conference_fetch(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    struct api_conference *conf;

    pthread_mutex_lock(&api->lock);
    conf = conference_find(api, req->args[0]);
    if (conf)
        api_reply_json(r, 200, conference_json(api, conf));
    else
        api_reply_not_found(r, req);
    pthread_mutex_unlock(&api->lock);
}

void api_participants_list(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    json_t *items = NULL;

    pthread_mutex_lock(&api->lock);
    if (!conference_find(api, req->args[0])) {
        api_reply_not_found(r, req);
        goto out;
    }
    items = json_array();
    for (struct api_participant *p = api->participants; p; p = p->next) {
        if (!p->left && strcmp(p->conference->sid, req->args[0]) == 0)
            json_array_append_new(items, participant_json(api, p));
    }
    api_reply_page(r, req, "participants", items);
out:
    pthread_mutex_unlock(&api->lock);
}

void api_participant_fetch(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    struct api_participant *p;

    pthread_mutex_lock(&api->lock);
    p = participant_find(api, req->args[0], req->args[1]);
    if (p)
        api_reply_json(r, 200, participant_json(api, p));
    else
        api_reply_not_found(r, req);
    pthread_mutex_unlock(&api->lock);
}

void api_participant_update(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    const char *muted = form_get(req->params, "Muted");
    const char *hold = form_get(req->params, "Hold");
    struct api_participant *p;

    pthread_mutex_lock(&api->lock);
    p = participant_find(api, req->args[0], req->args[1]);
    if (!p) {
        api_reply_not_found(r, req);
        goto out;
    }
    /* Twilio: "true" is true (the helper library sends "True"), anything else false. */
    if (muted)
        p->muted = strcasecmp(muted, "true") == 0;
    if (hold)
        p->hold = strcasecmp(hold, "true") == 0;
    p->updated = time(NULL);
    snprintf(r->call_sid, sizeof(r->call_sid), "%s", p->call_sid);
    api_reply_json(r, 200, participant_json(api, p));
out:
    pthread_mutex_unlock(&api->lock);
}

void api_calls_stop(struct sim_api *api)
{
    pthread_mutex_lock(&api->lock);
    api->stopping = 1;
    pthread_cond_broadcast(&api->cond);
    pthread_mutex_unlock(&api->lock);
}

void api_calls_free(struct sim_api *api)
{
    while (api->calls) {
        struct api_call *c = api->calls;

        api->calls = c->next;
        call_free(c);
    }
    while (api->participants) {
        struct api_participant *p = api->participants;

        api->participants = p->next;
        free(p);
    }
    while (api->conferences) {
        struct api_conference *conf = api->conferences;

        api->conferences = conf->next;
        free(conf->name);
        free(conf);
    }
}
