#include "twilio/rest_result.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/redact.h"
#include "core/utf8.h"
#include "core/banned.h"

/* Longest part of Twilio's message kept (the line has room for the rest). */
#define MESSAGE_MAX 400
/* What the readers return for JSON that is not the resource (SB_E* codes are negative). */
#define NOT_IT 1

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* An integer field, sent as a number or as digits; 0 otherwise. */
static int int_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    const char *s;
    long n = 0;

    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        return i > 0 && i < 1000000000 ? (int)i : 0;
    }
    s = json_string_value(v);
    if (!s || !*s || strlen(s) > 9)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        n = n * 10 + (*s - '0');
    }
    return (int)n;
}

/* ---- resources ---- */

static int call_read(const json_t *o, struct twilio_call *c)
{
    memset(c, 0, sizeof(*c));
    if (!json_is_object(o) || !(c->sid = str(o, "sid")) || !*c->sid)
        return NOT_IT;
    c->account_sid = str(o, "account_sid");
    c->parent_call_sid = str(o, "parent_call_sid");
    c->to = str(o, "to");
    c->from = str(o, "from");
    c->status = str(o, "status");
    c->direction = str(o, "direction");
    c->answered_by = str(o, "answered_by");
    c->start_time = str(o, "start_time");
    c->end_time = str(o, "end_time");
    c->duration = str(o, "duration");
    c->queue_time = str(o, "queue_time");
    c->price = str(o, "price");
    c->price_unit = str(o, "price_unit");
    c->date_created = str(o, "date_created");
    c->date_updated = str(o, "date_updated");
    c->uri = str(o, "uri");
    return 0;
}

static int message_read(const json_t *o, struct twilio_message *m)
{
    memset(m, 0, sizeof(*m));
    if (!json_is_object(o) || !(m->sid = str(o, "sid")) || !*m->sid)
        return NOT_IT;
    m->account_sid = str(o, "account_sid");
    m->to = str(o, "to");
    m->from = str(o, "from");
    m->messaging_service_sid = str(o, "messaging_service_sid");
    m->body = str(o, "body");
    m->status = str(o, "status");
    m->direction = str(o, "direction");
    m->num_segments = str(o, "num_segments");
    m->num_media = str(o, "num_media");
    m->error_message = str(o, "error_message");
    m->error_code = int_of(o, "error_code");
    m->price = str(o, "price");
    m->date_created = str(o, "date_created");
    m->date_sent = str(o, "date_sent");
    m->uri = str(o, "uri");
    return 0;
}

static int recording_read(const json_t *o, struct twilio_recording *r)
{
    memset(r, 0, sizeof(*r));
    if (!json_is_object(o) || !(r->sid = str(o, "sid")) || !*r->sid)
        return NOT_IT;
    r->account_sid = str(o, "account_sid");
    r->call_sid = str(o, "call_sid");
    r->status = str(o, "status");
    r->duration = str(o, "duration");
    r->source = str(o, "source");
    r->track = str(o, "track");
    r->start_time = str(o, "start_time");
    r->date_created = str(o, "date_created");
    r->uri = str(o, "uri");
    r->channels = int_of(o, "channels");
    r->error_code = int_of(o, "error_code");
    return 0;
}

/* ---- the error line ---- */

static int alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * Copies Twilio's message into `out` (of `size` bytes, at most MESSAGE_MAX
 * kept): control characters become spaces, a malformed UTF-8 byte '?', the
 * text is cut at a character boundary, and each phone number (an optional
 * '+' and 7 to 15 digits, standing alone) is shortened as redact_number
 * does.
 */
static void message_clean(const char *in, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t n = 0, max = size - 1 < MESSAGE_MAX ? size - 1 : MESSAGE_MAX;

    while (*p && n < max) {
        size_t plus = *p == '+', digits = 0;

        if ((p == (const unsigned char *)in || !alnum(p[-1]))) {
            while (p[plus + digits] >= '0' && p[plus + digits] <= '9')
                digits++;
        }
        if (digits >= 7 && digits <= 15 && !alnum(p[plus + digits])) {
            char number[20], shown[REDACT_SIZE];
            size_t len;

            memcpy(number, p, plus + digits);
            number[plus + digits] = '\0';
            redact_number(number, shown);
            len = strlen(shown);
            if (n + len > max)
                break;
            memcpy(out + n, shown, len);
            n += len;
            p += plus + digits;
            continue;
        }
        if (*p < 0x20 || *p == 0x7f) {
            out[n++] = ' ';
            p++;
        } else if (*p < 0x80) {
            out[n++] = (char)*p++;
        } else {
            size_t len = utf8_decode(p, 4, NULL);

            if (len == 0) {
                out[n++] = '?';
                p++;
            } else if (n + len > max) {
                break;
            } else {
                memcpy(out + n, p, len);
                n += len;
                p += len;
            }
        }
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* " (HTTP 429, Retry-After 2 s)" */
static void status_note(const struct twilio_rest_result *r, char *out, size_t size)
{
    if (r->retry_after_s >= 0)
        snprintf(out, size, " (HTTP %ld, Retry-After %ld s)", r->http_status, r->retry_after_s);
    else
        snprintf(out, size, " (HTTP %ld)", r->http_status);
}

/*
 * A non-2xx answer: Twilio's error document in any of its shapes, the
 * 2010 API's {"code","message","more_info","status"}, the newer APIs'
 * {"errors":[{"code","message"}]} and RFC 9457's {"code","title","detail"};
 * or a body that is none of them.
 */
static void error_read(struct twilio_rest_result *r, const json_t *doc)
{
    const json_t *e = doc;
    const char *msg = NULL;
    char clean[MESSAGE_MAX + 1], note[64];

    if (json_is_object(doc) && json_is_array(json_object_get(doc, "errors")) &&
        !json_object_get(doc, "code"))
        e = json_array_get(json_object_get(doc, "errors"), 0);
    if (json_is_object(e)) {
        r->code = int_of(e, "code");
        msg = str(e, "message");
        if (!msg || !*msg)
            msg = str(e, "detail");
        if (!msg || !*msg)
            msg = str(e, "title");
    }
    status_note(r, note, sizeof(note));
    clean[0] = '\0';
    if (msg)
        message_clean(msg, clean, sizeof(clean));
    if (r->code && *clean)
        snprintf(r->error, sizeof(r->error), "twilio error %d: %s%s", r->code, clean, note);
    else if (r->code)
        snprintf(r->error, sizeof(r->error), "twilio error %d%s", r->code, note);
    else if (*clean)
        snprintf(r->error, sizeof(r->error), "twilio error: %s%s", clean, note);
    else
        snprintf(r->error, sizeof(r->error), "%s: Twilio answered without an error document%s",
                 twilio_rest_op_name(r->op), note);
}

/* ---- a 2xx answer ---- */

/* The page's items under `key`: 0, NOT_IT (not a page of them), or SB_ENOMEM. */
static int page_read(struct twilio_rest_result *r, const json_t *doc, const char *key)
{
    const json_t *items = json_object_get(doc, key), *next = json_object_get(doc, "next_page_uri");
    size_t n = json_array_size(items);

    if (!json_is_array(items) || !(json_is_string(next) || json_is_null(next) || !next))
        return NOT_IT;
    r->next_page_uri = json_string_value(next);
    if (r->next_page_uri && !*r->next_page_uri)
        r->next_page_uri = NULL;
    if (r->op == TWILIO_CALL_LIST) {
        r->calls = n ? calloc(n, sizeof(*r->calls)) : NULL;
        if (n && !r->calls)
            return SB_ENOMEM;
        for (size_t i = 0; i < n; i++)
            if (call_read(json_array_get(items, i), &r->calls[i]) != 0)
                return NOT_IT;
        r->ncalls = n;
    } else {
        r->recordings = n ? calloc(n, sizeof(*r->recordings)) : NULL;
        if (n && !r->recordings)
            return SB_ENOMEM;
        for (size_t i = 0; i < n; i++)
            if (recording_read(json_array_get(items, i), &r->recordings[i]) != 0)
                return NOT_IT;
        r->nrecordings = n;
    }
    return 0;
}

/* Reads the resource of a 2xx answer: 0, NOT_IT (not the resource), or SB_ENOMEM. */
static int resource_read(struct twilio_rest_result *r, const json_t *doc)
{
    switch (r->op) {
    case TWILIO_CALL_CREATE:
    case TWILIO_CALL_FETCH:
    case TWILIO_CALL_UPDATE:
        return call_read(doc, &r->call);
    case TWILIO_MESSAGE_CREATE:
        return message_read(doc, &r->message);
    case TWILIO_RECORDING_FETCH:
        return recording_read(doc, &r->recording);
    case TWILIO_CALL_LIST:
        return page_read(r, doc, "calls");
    case TWILIO_RECORDING_LIST:
        return page_read(r, doc, "recordings");
    case TWILIO_RECORDING_DELETE:
        return 0;
    }
    return NOT_IT;
}

static const char *resource_name(enum twilio_rest_op op)
{
    switch (op) {
    case TWILIO_MESSAGE_CREATE:
        return "a message";
    case TWILIO_RECORDING_FETCH:
        return "a recording";
    case TWILIO_CALL_LIST:
        return "a page of calls";
    case TWILIO_RECORDING_LIST:
        return "a page of recordings";
    default:
        return "a call";
    }
}

/*
 * A 2xx that could not be read. A create may have happened all the same. A
 * read or write whose answer was not JSON at all (cut short, or a proxy's
 * page) may go again; JSON of another shape would come back the same.
 */
static void unreadable(struct twilio_rest_result *r, const char *why, int not_json)
{
    enum twilio_retry_kind kind = twilio_rest_op_kind(r->op);

    if (kind == TWILIO_RETRY_CREATE)
        r->outcome = TWILIO_OUTCOME_UNKNOWN;
    else
        r->outcome = not_json ? TWILIO_OUTCOME_RETRY : TWILIO_OUTCOME_FAILED;
    snprintf(r->error, sizeof(r->error), "%s: Twilio's answer (HTTP %ld) %s",
             twilio_rest_op_name(r->op), r->http_status, why);
}

static void release_items(struct twilio_rest_result *r)
{
    free(r->calls);
    free(r->recordings);
    r->calls = NULL;
    r->recordings = NULL;
    r->ncalls = r->nrecordings = 0;
    r->next_page_uri = NULL;
    memset(&r->call, 0, sizeof(r->call));
    memset(&r->message, 0, sizeof(r->message));
    memset(&r->recording, 0, sizeof(r->recording));
}

int twilio_rest_result_read(struct twilio_rest_result *out, enum twilio_rest_op op,
                            enum http_result transport, long status, const char *body, size_t len,
                            long retry_after_s, const char *transport_error)
{
    json_error_t jerr;
    json_t *doc = NULL;
    int rc = 0, ok;

    memset(out, 0, sizeof(*out));
    out->op = op;
    out->transport = transport;
    out->http_status = transport == HTTP_OK ? status : 0;
    out->retry_after_s = retry_after_s >= 0 ? retry_after_s : -1;
    if (!body)
        len = 0;
    if (transport != HTTP_OK) {
        out->outcome = twilio_retry_decide(twilio_rest_op_kind(op), transport, 0, 0);
        snprintf(out->error, sizeof(out->error), "%s: no answer from Twilio: %s",
                 twilio_rest_op_name(op),
                 transport_error && *transport_error ? transport_error
                                                     : http_result_str(transport));
        return 0;
    }
    ok = status >= 200 && status < 300;
    if (len > 0)
        doc = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (!ok) {
        error_read(out, doc);
        out->outcome = twilio_retry_decide(twilio_rest_op_kind(op), HTTP_OK, status, out->code);
        json_decref(doc);
        return 0;
    }
    out->outcome = twilio_retry_decide(twilio_rest_op_kind(op), HTTP_OK, status, 0);
    if (op == TWILIO_RECORDING_DELETE) {
        json_decref(doc);
        return 0;
    }
    if (!doc) {
        unreadable(out, len ? "is not JSON" : "is empty", 1);
        return 0;
    }
    out->doc = doc;
    rc = resource_read(out, doc);
    if (rc != 0) {
        char why[64];

        release_items(out);
        if (rc == SB_ENOMEM)
            snprintf(why, sizeof(why), "could not be held: out of memory");
        else
            snprintf(why, sizeof(why), "is not %s", resource_name(op));
        unreadable(out, why, rc == SB_ENOMEM);
        return rc == SB_ENOMEM ? SB_ENOMEM : 0;
    }
    return 0;
}

int twilio_rest_result_parse(struct twilio_rest_result *out, enum twilio_rest_op op,
                             const struct http_response *res)
{
    if (!res)
        return twilio_rest_result_read(out, op, HTTP_EFAILED, 0, NULL, 0, -1, "no response");
    return twilio_rest_result_read(out, op, res->result, res->status, res->body, res->body_len,
                                   res->retry_after_s, res->error);
}

void twilio_rest_result_release(struct twilio_rest_result *r)
{
    if (!r)
        return;
    release_items(r);
    json_decref(r->doc);
    memset(r, 0, sizeof(*r));
}

/* ---- dates ---- */

/* Reads `width` digits (exactly) at *p. */
static int digits(const char **p, int width, int *out)
{
    int v = 0;

    for (int i = 0; i < width; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += width;
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to the civil date (proleptic Gregorian). */
static long long days_from_civil(int y, int m, int d)
{
    int era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (long long)era * 146097 + doe - 719468;
}

int twilio_rest_date(const char *text, long long *epoch)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = text, *comma;
    int day, year, hh, mm, ss, oh, om, month = -1, sign;

    if (!text || !epoch)
        return SB_EPARSE;
    comma = strchr(p, ',');
    if (comma && comma - p == 3)
        p = comma + 1;
    while (*p == ' ')
        p++;
    if (!*p || digits(&p, (p[1] >= '0' && p[1] <= '9') ? 2 : 1, &day) != 0 || *p++ != ' ')
        return SB_EPARSE;
    for (int i = 0; i < 12; i++)
        if (strncmp(p, months + 3 * i, 3) == 0)
            month = i + 1;
    if (month < 0 || p[3] != ' ')
        return SB_EPARSE;
    p += 4;
    if (digits(&p, 4, &year) != 0 || *p++ != ' ' || digits(&p, 2, &hh) != 0 || *p++ != ':' ||
        digits(&p, 2, &mm) != 0 || *p++ != ':' || digits(&p, 2, &ss) != 0 || *p++ != ' ')
        return SB_EPARSE;
    if (*p != '+' && *p != '-')
        return SB_EPARSE;
    sign = *p++ == '-' ? -1 : 1;
    if (digits(&p, 2, &oh) != 0 || digits(&p, 2, &om) != 0 || *p != '\0')
        return SB_EPARSE;
    if (day < 1 || day > mdays[month - 1] || hh > 23 || mm > 59 || ss > 60 || oh > 23 || om > 59)
        return SB_EPARSE;
    *epoch = days_from_civil(year, month, day) * 86400 + hh * 3600 + mm * 60 + ss -
             sign * (oh * 3600 + om * 60);
    return 0;
}
