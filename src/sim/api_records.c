/*
 * Messages and recordings of the fake REST API. Messages are accepted,
 * then marked sent and delivered (with signed StatusCallback requests) by a
 * small thread each; nothing is delivered anywhere. Recordings are the ones
 * <Record> made in simulated calls; their media is a WAV tone as long as the
 * recording.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/e164.h"
#include "core/log.h"
#include "core/phone.h"
#include "core/redact.h"
#include "sim/api_internal.h"
#include "sim/fetch.h"
#include "core/banned.h"

/* Twilio's limit on a message body, in characters. */
#define MAX_BODY_CHARS 1600
/* Simulated seconds from creation to "sent", and to "delivered". */
#define SENT_AFTER_S 0.5
#define DELIVERED_AFTER_S 1.5
/* Recording media: 8 kHz 16-bit mono, at most this long. */
#define MEDIA_RATE PHONE_RATE
#define MEDIA_MAX_S 60

static const char *param(const struct api_request *req, const char *name)
{
    const char *v = form_get(req->params, name);

    return v && *v ? v : NULL;
}

/* --- messages ------------------------------------------------------------------------------ */

static struct api_message *message_find(struct sim_api *api, const char *sid)
{
    for (struct api_message *m = api->messages; m; m = m->next) {
        if (!m->deleted && strcmp(m->sid, sid) == 0)
            return m;
    }
    return NULL;
}

/* A destination Twilio can message: E.164, or a channel address such as whatsapp:+1... */
static int address_valid(const char *s)
{
    const char *colon = strchr(s, ':');

    if (colon && colon != s)
        return colon[1] != '\0';
    return e164_valid(s);
}

/* True when every character is in GSM-7's basic set (near enough: printable ASCII and newlines). */
static int gsm7(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80 || (*p < 0x20 && *p != '\n' && *p != '\r') || *p == '`')
            return 0;
    }
    return 1;
}

/* Characters as Twilio counts them: UTF-16 code units. */
static size_t utf16_units(const char *s)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xc0) == 0x80)
            continue;
        n += *p >= 0xf0 ? 2 : 1;
    }
    return n;
}

/* SMS segments: 160 GSM-7 characters alone or 153 each when split; 70 and 67 in UCS-2. */
static size_t segments(const char *body)
{
    size_t n = utf16_units(body);
    int gsm = gsm7(body);
    size_t single = gsm ? 160 : 70, part = gsm ? 153 : 67;

    if (n <= single)
        return 1;
    return (n + part - 1) / part;
}

static json_t *message_json(const struct sim_api *api, const char *sid,
                            const struct api_request *req, size_t nmedia)
{
    const char *body = param(req, "Body"), *from = param(req, "From");
    const char *service = param(req, "MessagingServiceSid");
    char uri[256], media[256], nseg[32], nmed[32];
    time_t now = time(NULL);
    json_t *j = json_object();

    snprintf(uri, sizeof(uri), "/%s/Accounts/%s/Messages/%s.json", API_VERSION, api->account_sid,
             sid);
    snprintf(media, sizeof(media), "/%s/Accounts/%s/Messages/%s/Media.json", API_VERSION,
             api->account_sid, sid);
    snprintf(nseg, sizeof(nseg), "%zu", body ? segments(body) : 1);
    snprintf(nmed, sizeof(nmed), "%zu", nmedia);

    api_set_str(j, "account_sid", api->account_sid);
    api_set_str(j, "api_version", API_VERSION);
    api_set_str(j, "body", body ? body : "");
    json_object_set_new(j, "date_created", api_time_json(now));
    json_object_set_new(j, "date_sent", json_null());
    json_object_set_new(j, "date_updated", api_time_json(now));
    api_set_str(j, "direction", "outbound-api");
    json_object_set_new(j, "error_code", json_null());
    json_object_set_new(j, "error_message", json_null());
    api_set_str(j, "from", from);
    api_set_str(j, "messaging_service_sid", service);
    api_set_str(j, "num_media", nmed);
    api_set_str(j, "num_segments", nseg);
    api_set_str(j, "price", NULL);
    api_set_str(j, "price_unit", "USD");
    api_set_str(j, "sid", sid);
    /* With only a Messaging Service, Twilio first accepts the message, then picks a sender. */
    api_set_str(j, "status", from ? "queued" : "accepted");
    json_object_set_new(j, "subresource_uris", json_pack("{s:s}", "media", media));
    api_set_str(j, "to", param(req, "To"));
    api_set_str(j, "uri", uri);
    return j;
}

/* Moves the message to `status` and posts its StatusCallback (signed), if any. */
static void message_status(struct sim_api *api, struct api_message *m, const char *status,
                           struct sim_fetcher *f)
{
    struct form p = FORM_INIT;
    struct sim_fetch_request req;
    struct sim_fetch_result res;
    const char *from, *to, *service;
    int rc;

    memset(&res, 0, sizeof(res));
    pthread_mutex_lock(&api->lock);
    api_set_str(m->resource, "status", status);
    json_object_set_new(m->resource, "date_updated", api_time_json(time(NULL)));
    if (strcmp(status, "sent") == 0)
        json_object_set_new(m->resource, "date_sent", api_time_json(time(NULL)));
    from = json_string_value(json_object_get(m->resource, "from"));
    to = json_string_value(json_object_get(m->resource, "to"));
    service = json_string_value(json_object_get(m->resource, "messaging_service_sid"));
    {
        const char *const pairs[][2] = {
            {"MessageSid", m->sid},
            {"SmsSid", m->sid},
            {"SmsMessageSid", m->sid},
            {"AccountSid", api->account_sid},
            {"MessagingServiceSid", service},
            {"From", from ? from : ""},
            {"To", to ? to : ""},
            {"MessageStatus", status},
            {"SmsStatus", status},
            {"ApiVersion", API_VERSION},
        };

        rc = form_add_pairs(&p, pairs, sizeof(pairs) / sizeof(pairs[0]));
    }
    pthread_mutex_unlock(&api->lock);
    if (rc)
        log_event(LOG_ERROR, "api.message_callback_failed",
                  "message_sid=%s message_status=%s error=\"out of memory\"", m->sid, status);
    else if (m->status_callback && f) {
        memset(&req, 0, sizeof(req));
        req.url = m->status_callback;
        req.params = &p;
        req.token = api->o->token;
        sim_fetch(f, &req, &res);
        log_event(LOG_INFO, "api.message_callback", "message_sid=%s message_status=%s status=%ld",
                  m->sid, status, res.status);
    }
    sim_fetch_result_release(&res);
    form_release(&p);
}

/* Waits until `until` (monotonic seconds); returns 0 when the server is stopping. */
static int message_wait(struct sim_api *api, double until)
{
    struct timespec ts;
    int go_on;

    ts.tv_sec = (time_t)until;
    ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&api->lock);
    while (!api->stopping && clock_mono_s() < until)
        pthread_cond_timedwait(&api->cond, &api->lock, &ts);
    go_on = !api->stopping;
    pthread_mutex_unlock(&api->lock);
    return go_on;
}

static void *message_thread(void *arg)
{
    struct api_message *m = arg;
    struct sim_api *api = m->api;
    struct sim_fetcher *f = NULL;
    double start = clock_mono_s();

    if (m->status_callback && sim_fetcher_new(&f) != 0)
        log_event(LOG_ERROR, "api.message_callback_failed",
                  "message_sid=%s error=\"out of memory\"", m->sid);
    if (message_wait(api, start + SENT_AFTER_S / api->speed))
        message_status(api, m, "sent", f);
    if (message_wait(api, start + DELIVERED_AFTER_S / api->speed))
        message_status(api, m, "delivered", f);
    sim_fetcher_free(f);
    api_thread_finish(api, m->thread);
    return NULL;
}

void api_messages_create(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    const char *to = param(req, "To"), *from = param(req, "From"), *body = param(req, "Body");
    const char *service = param(req, "MessagingServiceSid");
    const char *callback = param(req, "StatusCallback");
    struct api_message *m = NULL;
    char red_to[REDACT_SIZE];
    size_t nmedia = 0;
    json_t *doc;

    for (size_t i = 0; i < req->params->count; i++)
        nmedia += strcmp(req->params->fields[i].key, "MediaUrl") == 0;
    if (!to) {
        api_reply_error(r, 400, 21604, "A 'To' phone number is required.");
        goto out;
    }
    if (!from && !service) {
        api_reply_error(r, 400, 21603,
                        "A 'From' or 'MessagingServiceSid' parameter is required to send a "
                        "message.");
        goto out;
    }
    if (!body && nmedia == 0 && !param(req, "ContentSid")) {
        api_reply_error(r, 400, 21602, "Message body is required.");
        goto out;
    }
    if (!address_valid(to)) {
        api_reply_error(r, 400, 21211, "Invalid 'To' Phone Number: %s", to);
        goto out;
    }
    if (from && !address_valid(from) && strlen(from) > 11) {
        /* An alphanumeric sender ID is up to 11 characters; anything else must be a number. */
        api_reply_error(r, 400, 21212, "Invalid 'From' Phone Number: %s", from);
        goto out;
    }
    if (body && utf16_units(body) > MAX_BODY_CHARS) {
        api_reply_error(r, 400, 21617,
                        "The concatenated message body exceeds the %d character limit.",
                        MAX_BODY_CHARS);
        goto out;
    }
    if (callback && strncmp(callback, "http://", 7) != 0 && strncmp(callback, "https://", 8) != 0) {
        api_reply_error(r, 400, 21609, "StatusCallback is not a valid URL: %s", callback);
        goto out;
    }
    m = calloc(1, sizeof(*m));
    if (!m)
        goto oom;
    if (sid_new("SM", m->sid, sizeof(m->sid)) != 0) {
        api_reply_error(r, 500, 20500, "Internal Server Error: no random bytes for a SID");
        goto out;
    }
    m->resource = message_json(api, m->sid, req, nmedia);
    m->status_callback = callback ? strdup(callback) : NULL;
    m->api = api;
    if (!m->resource || (callback && !m->status_callback))
        goto oom;
    pthread_mutex_lock(&api->lock);
    doc = json_deep_copy(m->resource);
    *api->messages_tail = m;
    api->messages_tail = &m->next;
    pthread_mutex_unlock(&api->lock);
    /* Without its thread the message just stays queued; nothing else depends on it. */
    api_thread_start(api, message_thread, m, &m->thread);
    log_event(LOG_INFO, "api.message_created", "message_sid=%s to=%s segments=%s media=%zu", m->sid,
              redact_number(to, red_to), json_string_value(json_object_get(doc, "num_segments")),
              nmedia);
    snprintf(r->message_sid, sizeof(r->message_sid), "%s", m->sid);
    m = NULL;
    api_reply_json(r, 201, doc);
    goto out;
oom:
    api_reply_error(r, 500, 20500, "Internal Server Error: out of memory");
out:
    if (m) {
        json_decref(m->resource);
        free(m->status_callback);
        free(m);
    }
}

void api_messages_list(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    const char *to = param(req, "To"), *from = param(req, "From");
    json_t *items = json_array();

    pthread_mutex_lock(&api->lock);
    for (struct api_message *m = api->messages; m; m = m->next) {
        const char *mto = json_string_value(json_object_get(m->resource, "to"));
        const char *mfrom = json_string_value(json_object_get(m->resource, "from"));

        if (m->deleted || (to && (!mto || strcmp(mto, to) != 0)) ||
            (from && (!mfrom || strcmp(mfrom, from) != 0)))
            continue;
        json_array_insert_new(items, 0, json_deep_copy(m->resource));
    }
    pthread_mutex_unlock(&api->lock);
    api_reply_page(r, req, "messages", items);
}

void api_message_fetch(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    struct api_message *m;

    pthread_mutex_lock(&api->lock);
    m = message_find(api, req->args[0]);
    if (m)
        api_reply_json(r, 200, json_deep_copy(m->resource));
    else
        api_reply_not_found(r, req);
    pthread_mutex_unlock(&api->lock);
}

void api_message_delete(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    struct api_message *m;

    pthread_mutex_lock(&api->lock);
    m = message_find(api, req->args[0]);
    if (m) {
        m->deleted = 1;
        api_reply_json(r, 204, NULL);
    } else {
        api_reply_not_found(r, req);
    }
    pthread_mutex_unlock(&api->lock);
}

/* --- recordings ---------------------------------------------------------------------------- */

static struct api_recording *recording_find(struct sim_api *api, const char *sid)
{
    for (struct api_recording *rec = api->recordings; rec; rec = rec->next) {
        if (!rec->deleted && strcmp(rec->sid, sid) == 0)
            return rec;
    }
    return NULL;
}

void api_recording_add(struct sim_api *api, const char *sid, const char *call_sid, double seconds)
{
    struct api_recording *rec;

    for (rec = api->recordings; rec; rec = rec->next) {
        if (strcmp(rec->sid, sid) == 0)
            return;
    }
    rec = calloc(1, sizeof(*rec));
    if (!rec)
        return;
    snprintf(rec->sid, sizeof(rec->sid), "%s", sid);
    snprintf(rec->call_sid, sizeof(rec->call_sid), "%s", call_sid);
    rec->seconds = seconds;
    rec->created = time(NULL);
    /* Newest first: lists come out in Twilio's order. */
    rec->next = api->recordings;
    api->recordings = rec;
    log_event(LOG_INFO, "api.recording_created", "recording_sid=%s call_sid=%s seconds=%.0f", sid,
              call_sid, seconds);
}

static json_t *recording_json(const struct sim_api *api, const struct api_recording *rec)
{
    char uri[256], media[512], duration[32], add_ons[256], transcriptions[256];

    snprintf(uri, sizeof(uri), "/%s/Accounts/%s/Recordings/%s.json", API_VERSION, api->account_sid,
             rec->sid);
    snprintf(media, sizeof(media), "%s/%s/Accounts/%s/Recordings/%s", api->base_url, API_VERSION,
             api->account_sid, rec->sid);
    snprintf(add_ons, sizeof(add_ons), "/%s/Accounts/%s/Recordings/%s/AddOnResults.json",
             API_VERSION, api->account_sid, rec->sid);
    snprintf(transcriptions, sizeof(transcriptions),
             "/%s/Accounts/%s/Recordings/%s/Transcriptions.json", API_VERSION, api->account_sid,
             rec->sid);
    snprintf(duration, sizeof(duration), "%.0f", rec->seconds);
    return json_pack("{s:s, s:s, s:s, s:n, s:o, s:o, s:o, s:s, s:s, s:n, s:s, s:s, s:i, s:s, "
                     "s:n, s:s, s:n, s:{s:s, s:s}, s:s, s:s}",
                     "account_sid", api->account_sid, "api_version", API_VERSION, "call_sid",
                     rec->call_sid, "conference_sid", "date_created", api_time_json(rec->created),
                     "date_updated", api_time_json(rec->created), "start_time",
                     api_time_json(rec->created), "duration", duration, "sid", rec->sid, "price",
                     "price_unit", "USD", "status", "completed", "channels", 1, "source",
                     "RecordVerb", "error_code", "uri", uri, "encryption_details",
                     "subresource_uris", "add_on_results", add_ons, "transcriptions",
                     transcriptions, "media_url", media, "track", "both");
}

static void recordings_page(struct sim_api *api, const struct api_request *req, struct api_reply *r,
                            const char *call_sid)
{
    json_t *items = json_array();

    pthread_mutex_lock(&api->lock);
    for (struct api_recording *rec = api->recordings; rec; rec = rec->next) {
        if (!rec->deleted && (!call_sid || strcmp(rec->call_sid, call_sid) == 0))
            json_array_append_new(items, recording_json(api, rec));
    }
    pthread_mutex_unlock(&api->lock);
    api_reply_page(r, req, "recordings", items);
}

void api_recordings_list(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    recordings_page(api, req, r, param(req, "CallSid"));
}

void api_call_recordings_list(struct sim_api *api, const struct api_request *req,
                              struct api_reply *r)
{
    recordings_page(api, req, r, req->args[0]);
}

void api_recording_fetch(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    struct api_recording *rec;

    pthread_mutex_lock(&api->lock);
    rec = recording_find(api, req->args[0]);
    if (rec)
        api_reply_json(r, 200, recording_json(api, rec));
    else
        api_reply_not_found(r, req);
    pthread_mutex_unlock(&api->lock);
}

void api_recording_delete(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    struct api_recording *rec;

    pthread_mutex_lock(&api->lock);
    rec = recording_find(api, req->args[0]);
    if (rec) {
        rec->deleted = 1;
        api_reply_json(r, 204, NULL);
    } else {
        api_reply_not_found(r, req);
    }
    pthread_mutex_unlock(&api->lock);
}

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/*
 * A WAV file (8 kHz, 16-bit, mono) of `seconds` of a quiet 440 Hz tone: the
 * simulated caller's words are not recorded, but players and speech-to-text
 * pipelines get real audio of the right length. Returns a malloc'd buffer.
 */
static unsigned char *tone_wav(double seconds, size_t *len)
{
    size_t samples = (size_t)(seconds * MEDIA_RATE);
    size_t data = samples * 2;
    unsigned char *w;

    w = malloc(44 + data);
    if (!w)
        return NULL;
    memcpy(w, "RIFF", 4);
    put_le(w + 4, (uint32_t)(36 + data), 4);
    memcpy(w + 8, "WAVEfmt ", 8);
    put_le(w + 16, 16, 4);             /* fmt chunk size */
    put_le(w + 20, 1, 2);              /* PCM */
    put_le(w + 22, 1, 2);              /* mono */
    put_le(w + 24, MEDIA_RATE, 4);     /* sample rate */
    put_le(w + 28, MEDIA_RATE * 2, 4); /* byte rate */
    put_le(w + 32, 2, 2);              /* block align */
    put_le(w + 34, 16, 2);             /* bits per sample */
    memcpy(w + 36, "data", 4);
    put_le(w + 40, (uint32_t)data, 4);
    for (size_t i = 0; i < samples; i++) {
        double s = 3000.0 * sin(2.0 * M_PI * 440.0 * (double)i / MEDIA_RATE);

        put_le(w + 44 + 2 * i, (uint32_t)(uint16_t)(int16_t)lrint(s), 2);
    }
    *len = 44 + data;
    return w;
}

void api_recording_media(struct sim_api *api, const struct api_request *req, struct api_reply *r)
{
    char sid[SID_SIZE + 8];
    char *dot;
    struct api_recording *rec;
    double seconds = 0;
    size_t len = 0;

    snprintf(sid, sizeof(sid), "%s", req->args[0]);
    dot = strchr(sid, '.');
    if (dot && strcmp(dot, ".mp3") == 0) {
        api_reply_error(r, 404, 20404,
                        "The requested resource %s was not found: the simulator serves "
                        "recordings as WAV only (no extension or .wav)",
                        req->path);
        return;
    }
    if (dot && strcmp(dot, ".wav") != 0) {
        api_reply_not_found(r, req);
        return;
    }
    if (dot)
        *dot = '\0';
    pthread_mutex_lock(&api->lock);
    rec = recording_find(api, sid);
    if (rec)
        seconds = rec->seconds;
    pthread_mutex_unlock(&api->lock);
    if (!rec) {
        api_reply_not_found(r, req);
        return;
    }
    if (seconds < 1)
        seconds = 1;
    if (seconds > MEDIA_MAX_S)
        seconds = MEDIA_MAX_S;
    r->body = (char *)tone_wav(seconds, &len);
    if (!r->body) {
        api_reply_error(r, 500, 20500, "Internal Server Error: out of memory");
        return;
    }
    r->len = len;
    r->status = 200;
    r->content_type = "audio/x-wav";
}

void api_records_free(struct sim_api *api)
{
    while (api->messages) {
        struct api_message *m = api->messages;

        api->messages = m->next;
        json_decref(m->resource);
        free(m->status_callback);
        free(m);
    }
    while (api->recordings) {
        struct api_recording *rec = api->recordings;

        api->recordings = rec->next;
        free(rec);
    }
}
