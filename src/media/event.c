#include "media/event.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "core/err.h"
#include "media/event_internal.h"
#include "core/banned.h"

/*
 * Base64 is encoded in chunks through a small stack buffer so that the
 * writer needs no allocation beyond the growth of the caller's buf. The
 * chunk is a multiple of 3 bytes so that only the last one carries padding.
 */
#define B64_CHUNK 768

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/*
 * Copies a JSON string into a fixed field. A value that does not fit is an
 * error rather than a silent truncation: a shortened streamSid or mark name
 * would no longer match the one Twilio means.
 */
static int copy_string(char *dst, size_t dstlen, const json_t *v, const char *field, int nonempty,
                       char *err, size_t errlen)
{
    size_t n;

    if (!v) {
        set_err(err, errlen, "%s is missing", field);
        return SB_EPARSE;
    }
    if (!json_is_string(v)) {
        set_err(err, errlen, "%s is not a string", field);
        return SB_EPARSE;
    }
    n = json_string_length(v);
    if (n >= dstlen) {
        set_err(err, errlen, "%s is too long", field);
        return SB_EPARSE;
    }
    if (nonempty && n == 0) {
        set_err(err, errlen, "%s is empty", field);
        return SB_EPARSE;
    }
    memcpy(dst, json_string_value(v), n);
    dst[n] = '\0';
    return 0;
}

int media_decimal(const char *s, size_t n, long *out)
{
    long val = 0;

    if (n == 0)
        return SB_EPARSE;
    for (size_t i = 0; i < n; i++) {
        int d = s[i] - '0';

        if (s[i] < '0' || s[i] > '9')
            return SB_EPARSE;
        if (val > (LONG_MAX - d) / 10)
            return SB_ETOOBIG;
        val = val * 10 + d;
    }
    *out = val;
    return 0;
}

/* Twilio sends its counters as strings of decimal digits ("sequenceNumber": "3"). */
static int parse_digits(long *out, const json_t *v, const char *field, char *err, size_t errlen)
{
    int rc;

    if (!v) {
        set_err(err, errlen, "%s is missing", field);
        return SB_EPARSE;
    }
    if (!json_is_string(v)) {
        set_err(err, errlen, "%s is not a string of digits", field);
        return SB_EPARSE;
    }
    rc = media_decimal(json_string_value(v), json_string_length(v), out);
    if (rc == SB_ETOOBIG) {
        set_err(err, errlen, "%s is out of range", field);
        return SB_EPARSE;
    }
    if (rc) {
        set_err(err, errlen, "%s is not a string of digits", field);
        return SB_EPARSE;
    }
    return 0;
}

static int need_object(const json_t *v, const char *field, char *err, size_t errlen)
{
    if (!v) {
        set_err(err, errlen, "%s is missing", field);
        return SB_EPARSE;
    }
    if (!json_is_object(v)) {
        set_err(err, errlen, "%s is not an object", field);
        return SB_EPARSE;
    }
    return 0;
}

/* A string we do not keep must still be a string when present. */
static int check_optional_string(const json_t *v, const char *field, char *err, size_t errlen)
{
    if (v && !json_is_string(v)) {
        set_err(err, errlen, "%s is not a string", field);
        return SB_EPARSE;
    }
    return 0;
}

/*
 * Unpacks optional members of an object into borrowed pointers. Only the
 * shape is checked here; the callers check each member's type so that the
 * error names the field.
 */
static int unpack_members(json_t *obj, const char *fmt, const char *field, char *err, size_t errlen,
                          ...)
{
    json_error_t jerr;
    va_list ap;
    int rc;

    va_start(ap, errlen);
    rc = json_vunpack_ex(obj, &jerr, 0, fmt, ap);
    va_end(ap);
    if (rc != 0) {
        set_err(err, errlen, "%s: %s", field, jerr.text);
        return SB_EPARSE;
    }
    return 0;
}

static int b64_value(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/*
 * Decodes a standard base64 string strictly. EVP_DecodeBlock skips
 * surrounding whitespace, accepts '=' anywhere and always reports whole
 * groups, so the alphabet, the padding and the length are checked here and
 * the exact decoded length is computed from the padding.
 */
int media_decode_payload(struct media_event *ev, const char *s, size_t n, char *err, size_t errlen)
{
    unsigned char last[3];
    size_t pad = 0, groups, out_len, body, i;
    int rc = 0;

    if (n % 4 != 0) {
        set_err(err, errlen, "media.payload is not valid base64");
        rc = SB_EPARSE;
        goto out;
    }
    if (n == 0) {
        ev->payload_len = 0;
        goto out;
    }
    while (pad < 2 && s[n - 1 - pad] == '=')
        pad++;
    for (i = 0; i < n - pad; i++) {
        if (!b64_value((unsigned char)s[i])) {
            set_err(err, errlen, "media.payload is not valid base64");
            rc = SB_EPARSE;
            goto out;
        }
    }
    groups = n / 4;
    out_len = groups * 3 - pad;
    if (out_len > MEDIA_MAX_PAYLOAD) {
        set_err(err, errlen, "media.payload is over %d bytes", MEDIA_MAX_PAYLOAD);
        rc = SB_ETOOBIG;
        goto out;
    }
    /*
     * EVP_DecodeBlock writes whole groups, padding included: the last group
     * goes through a small buffer so that a payload of exactly the maximum
     * cannot write past the end of ev->payload.
     */
    body = groups - 1;
    if (body > 0 && EVP_DecodeBlock(ev->payload, (const unsigned char *)s, (int)(body * 4)) !=
                        (int)(body * 3)) {
        set_err(err, errlen, "media.payload is not valid base64");
        rc = SB_EPARSE;
        goto out;
    }
    if (EVP_DecodeBlock(last, (const unsigned char *)s + body * 4, 4) != 3) {
        set_err(err, errlen, "media.payload is not valid base64");
        rc = SB_EPARSE;
        goto out;
    }
    memcpy(ev->payload + body * 3, last, 3 - pad);
    ev->payload_len = out_len;
out:
    return rc;
}

static int parse_params(struct media_event *ev, json_t *params, char *err, size_t errlen)
{
    const char *name;
    json_t *value;
    int rc = 0;

    if (!json_is_object(params)) {
        set_err(err, errlen, "start.customParameters is not an object");
        rc = SB_EPARSE;
        goto out;
    }
    if (json_object_size(params) > MEDIA_MAX_PARAMS) {
        set_err(err, errlen, "start.customParameters has more than %d entries", MEDIA_MAX_PARAMS);
        rc = SB_ETOOBIG;
        goto out;
    }
    /* Jansson iterates in document order, so the parameters keep the TwiML order. */
    json_object_foreach(params, name, value)
    {
        struct media_param *p = &ev->params[ev->nparams];
        size_t nlen = strlen(name);

        if (nlen == 0 || nlen >= sizeof(p->name)) {
            set_err(err, errlen, "start.customParameters name '%.64s' is %s", name,
                    nlen ? "too long" : "empty");
            rc = SB_EPARSE;
            goto out;
        }
        if (!json_is_string(value)) {
            set_err(err, errlen, "start.customParameters.%s is not a string", name);
            rc = SB_EPARSE;
            goto out;
        }
        if (json_string_length(value) >= sizeof(p->value)) {
            set_err(err, errlen, "start.customParameters.%s is too long", name);
            rc = SB_EPARSE;
            goto out;
        }
        memcpy(p->name, name, nlen + 1);
        memcpy(p->value, json_string_value(value), json_string_length(value));
        p->value[json_string_length(value)] = '\0';
        ev->nparams++;
    }
out:
    return rc;
}

static int parse_media_format(struct media_event *ev, json_t *fmt, char *err, size_t errlen)
{
    json_t *encoding = NULL, *rate = NULL, *channels = NULL;
    json_int_t r;
    int rc;

    rc = need_object(fmt, "start.mediaFormat", err, errlen);
    if (rc)
        goto out;
    rc = unpack_members(fmt, "{s?o s?o s?o}", "start.mediaFormat", err, errlen, "encoding",
                        &encoding, "sampleRate", &rate, "channels", &channels);
    if (rc)
        goto out;
    rc = copy_string(ev->encoding, sizeof(ev->encoding), encoding, "start.mediaFormat.encoding", 1,
                     err, errlen);
    if (rc)
        goto out;
    /* Unlike the counters, Twilio sends these two as JSON numbers. */
    if (!rate) {
        set_err(err, errlen, "start.mediaFormat.sampleRate is missing");
        rc = SB_EPARSE;
        goto out;
    }
    if (!json_is_integer(rate)) {
        set_err(err, errlen, "start.mediaFormat.sampleRate is not an integer");
        rc = SB_EPARSE;
        goto out;
    }
    r = json_integer_value(rate);
    if (r <= 0 || r > INT_MAX) {
        set_err(err, errlen, "start.mediaFormat.sampleRate is out of range");
        rc = SB_EPARSE;
        goto out;
    }
    ev->sample_rate = (int)r;
    if (channels && !json_is_integer(channels)) {
        set_err(err, errlen, "start.mediaFormat.channels is not an integer");
        rc = SB_EPARSE;
        goto out;
    }
out:
    return rc;
}

static int parse_start(struct media_event *ev, json_t *start, char *err, size_t errlen)
{
    json_t *sid = NULL, *account = NULL, *call = NULL, *tracks = NULL, *params = NULL;
    json_t *fmt = NULL, *track;
    char inner_sid[sizeof(ev->stream_sid)];
    size_t i;
    int rc;

    rc = need_object(start, "start", err, errlen);
    if (rc)
        goto out;
    rc = unpack_members(start, "{s?o s?o s?o s?o s?o s?o}", "start", err, errlen, "streamSid", &sid,
                        "accountSid", &account, "callSid", &call, "tracks", &tracks,
                        "customParameters", &params, "mediaFormat", &fmt);
    if (rc)
        goto out;
    /*
     * The docs show the stream SID both inside start and at the top level;
     * either is enough, and when both are there they must agree.
     */
    if (sid) {
        rc = copy_string(inner_sid, sizeof(inner_sid), sid, "start.streamSid", 1, err, errlen);
        if (rc)
            goto out;
        if (ev->stream_sid[0] == '\0') {
            memcpy(ev->stream_sid, inner_sid, sizeof(inner_sid));
        } else if (strcmp(ev->stream_sid, inner_sid) != 0) {
            set_err(err, errlen, "start.streamSid does not match streamSid");
            rc = SB_EPARSE;
            goto out;
        }
    }
    if (ev->stream_sid[0] == '\0') {
        set_err(err, errlen, "streamSid is missing");
        rc = SB_EPARSE;
        goto out;
    }
    rc = copy_string(ev->account_sid, sizeof(ev->account_sid), account, "start.accountSid", 1, err,
                     errlen);
    if (rc)
        goto out;
    rc = copy_string(ev->call_sid, sizeof(ev->call_sid), call, "start.callSid", 1, err, errlen);
    if (rc)
        goto out;
    if (tracks) {
        if (!json_is_array(tracks)) {
            set_err(err, errlen, "start.tracks is not an array");
            rc = SB_EPARSE;
            goto out;
        }
        json_array_foreach(tracks, i, track)
        {
            if (!json_is_string(track)) {
                set_err(err, errlen, "start.tracks[%zu] is not a string", i);
                rc = SB_EPARSE;
                goto out;
            }
        }
    }
    if (params) {
        rc = parse_params(ev, params, err, errlen);
        if (rc)
            goto out;
    }
    rc = parse_media_format(ev, fmt, err, errlen);
out:
    return rc;
}

static int parse_media(struct media_event *ev, json_t *media, char *err, size_t errlen)
{
    json_t *track = NULL, *chunk = NULL, *timestamp = NULL, *payload = NULL;
    int rc;

    rc = need_object(media, "media", err, errlen);
    if (rc)
        goto out;
    rc = unpack_members(media, "{s?o s?o s?o s?o}", "media", err, errlen, "track", &track, "chunk",
                        &chunk, "timestamp", &timestamp, "payload", &payload);
    if (rc)
        goto out;
    rc = copy_string(ev->track, sizeof(ev->track), track, "media.track", 1, err, errlen);
    if (rc)
        goto out;
    rc = parse_digits(&ev->chunk, chunk, "media.chunk", err, errlen);
    if (rc)
        goto out;
    rc = parse_digits(&ev->timestamp, timestamp, "media.timestamp", err, errlen);
    if (rc)
        goto out;
    if (!payload) {
        set_err(err, errlen, "media.payload is missing");
        rc = SB_EPARSE;
        goto out;
    }
    if (!json_is_string(payload)) {
        set_err(err, errlen, "media.payload is not a string");
        rc = SB_EPARSE;
        goto out;
    }
    rc = media_decode_payload(ev, json_string_value(payload), json_string_length(payload), err,
                              errlen);
out:
    return rc;
}

static int parse_dtmf(struct media_event *ev, json_t *dtmf, char *err, size_t errlen)
{
    json_t *track = NULL, *digit = NULL;
    const char *d;
    int rc;

    rc = need_object(dtmf, "dtmf", err, errlen);
    if (rc)
        goto out;
    rc = unpack_members(dtmf, "{s?o s?o}", "dtmf", err, errlen, "track", &track, "digit", &digit);
    if (rc)
        goto out;
    if (track) {
        rc = copy_string(ev->track, sizeof(ev->track), track, "dtmf.track", 0, err, errlen);
        if (rc)
            goto out;
    }
    if (!digit) {
        set_err(err, errlen, "dtmf.digit is missing");
        rc = SB_EPARSE;
        goto out;
    }
    d = json_is_string(digit) ? json_string_value(digit) : NULL;
    if (!d || json_string_length(digit) != 1 || !strchr("0123456789*#ABCD", d[0])) {
        set_err(err, errlen, "dtmf.digit is not a single DTMF digit");
        rc = SB_EPARSE;
        goto out;
    }
    ev->digit = d[0];
out:
    return rc;
}

static int parse_mark(struct media_event *ev, json_t *mark, char *err, size_t errlen)
{
    json_t *name = NULL;
    int rc;

    rc = need_object(mark, "mark", err, errlen);
    if (rc)
        goto out;
    rc = unpack_members(mark, "{s?o}", "mark", err, errlen, "name", &name);
    if (rc)
        goto out;
    rc = copy_string(ev->mark, sizeof(ev->mark), name, "mark.name", 0, err, errlen);
out:
    return rc;
}

/* Nothing in stop is needed to act on it, so the body is optional but checked. */
static int parse_stop(struct media_event *ev, json_t *stop, char *err, size_t errlen)
{
    json_t *account = NULL, *call = NULL;
    int rc = 0;

    if (!stop)
        goto out;
    rc = need_object(stop, "stop", err, errlen);
    if (rc)
        goto out;
    rc = unpack_members(stop, "{s?o s?o}", "stop", err, errlen, "accountSid", &account, "callSid",
                        &call);
    if (rc)
        goto out;
    if (account) {
        rc = copy_string(ev->account_sid, sizeof(ev->account_sid), account, "stop.accountSid", 0,
                         err, errlen);
        if (rc)
            goto out;
    }
    if (call)
        rc = copy_string(ev->call_sid, sizeof(ev->call_sid), call, "stop.callSid", 0, err, errlen);
out:
    return rc;
}

static const struct {
    const char *name;
    enum media_event_kind kind;
} kinds[] = {
    {"connected", MEDIA_EV_CONNECTED}, {"start", MEDIA_EV_START}, {"media", MEDIA_EV_MEDIA},
    {"dtmf", MEDIA_EV_DTMF},           {"mark", MEDIA_EV_MARK},   {"stop", MEDIA_EV_STOP},
};

static enum media_event_kind kind_of(const char *name)
{
    enum media_event_kind kind = MEDIA_EV_UNKNOWN;
    size_t i;

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i].name, name) == 0) {
            kind = kinds[i].kind;
            break;
        }
    }
    return kind;
}

int media_event_parse_tree(const char *text, size_t len, struct media_event *ev, char *err,
                           size_t errlen)
{
    json_t *root = NULL, *event = NULL, *seq = NULL, *sid = NULL;
    json_t *protocol = NULL, *version = NULL, *body = NULL;
    json_error_t jerr;
    int rc = 0;

    set_err(err, errlen, "%s", "");
    if (!ev) {
        set_err(err, errlen, "no event to fill");
        rc = SB_EINVAL;
        goto out;
    }
    memset(ev, 0, offsetof(struct media_event, params));
    ev->kind = MEDIA_EV_UNKNOWN;
    ev->sequence = -1;
    ev->chunk = -1;
    ev->timestamp = -1;
    if (len > MEDIA_EVENT_MAX_SIZE) {
        set_err(err, errlen, "message is over %d bytes", MEDIA_EVENT_MAX_SIZE);
        rc = SB_ETOOBIG;
        goto out;
    }
    /*
     * Any JSON value is accepted by the loader so that "[1]" or "3" is
     * reported as "not a JSON object" rather than as a syntax error.
     * Duplicate keys are refused: two payloads in one message are ambiguous.
     */
    root = json_loadb(text ? text : "", text ? len : 0, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                      &jerr);
    if (!root) {
        set_err(err, errlen, "message is not valid JSON: %s", jerr.text);
        rc = SB_EPARSE;
        goto out;
    }
    if (!json_is_object(root)) {
        set_err(err, errlen, "message is not a JSON object");
        rc = SB_EPARSE;
        goto out;
    }
    rc = unpack_members(root, "{s?o s?o s?o s?o s?o}", "message", err, errlen, "event", &event,
                        "sequenceNumber", &seq, "streamSid", &sid, "protocol", &protocol, "version",
                        &version);
    if (rc)
        goto out;
    rc = copy_string(ev->event, sizeof(ev->event), event, "event", 1, err, errlen);
    if (rc)
        goto out;
    ev->kind = kind_of(ev->event);
    /*
     * Every message but connected carries sequenceNumber and streamSid. For
     * an unknown event they are taken when present, since they belong to the
     * envelope, not to the event.
     */
    if (seq || (ev->kind != MEDIA_EV_CONNECTED && ev->kind != MEDIA_EV_UNKNOWN)) {
        rc = parse_digits(&ev->sequence, seq, "sequenceNumber", err, errlen);
        if (rc)
            goto out;
    }
    if (sid) {
        rc = copy_string(ev->stream_sid, sizeof(ev->stream_sid), sid, "streamSid", 1, err, errlen);
        if (rc)
            goto out;
    } else if (ev->kind != MEDIA_EV_CONNECTED && ev->kind != MEDIA_EV_UNKNOWN &&
               ev->kind != MEDIA_EV_START) {
        /* start may carry it inside only; parse_start checks that. */
        set_err(err, errlen, "streamSid is missing");
        rc = SB_EPARSE;
        goto out;
    }
    if (ev->kind != MEDIA_EV_UNKNOWN && ev->kind != MEDIA_EV_CONNECTED)
        body = json_object_get(root, ev->event);
    switch (ev->kind) {
    case MEDIA_EV_CONNECTED:
        rc = check_optional_string(protocol, "protocol", err, errlen);
        if (rc)
            goto out;
        rc = check_optional_string(version, "version", err, errlen);
        break;
    case MEDIA_EV_START:
        rc = parse_start(ev, body, err, errlen);
        break;
    case MEDIA_EV_MEDIA:
        rc = parse_media(ev, body, err, errlen);
        break;
    case MEDIA_EV_DTMF:
        rc = parse_dtmf(ev, body, err, errlen);
        break;
    case MEDIA_EV_MARK:
        rc = parse_mark(ev, body, err, errlen);
        break;
    case MEDIA_EV_STOP:
        rc = parse_stop(ev, body, err, errlen);
        break;
    case MEDIA_EV_UNKNOWN:
        break;
    }
out:
    json_decref(root);
    return rc;
}

int media_event_parse(const char *text, size_t len, struct media_event *ev, char *err,
                      size_t errlen)
{
    /* Nearly every message is media: the fast path takes those it can vouch for. */
    if (ev && text && len <= MEDIA_EVENT_MAX_SIZE && media_event_parse_fast(text, len, ev)) {
        set_err(err, errlen, "%s", "");
        return 0;
    }
    return media_event_parse_tree(text, len, ev, err, errlen);
}

/* Restores `out` to `len` bytes so that a failed write leaves nothing half-written. */
static void truncate_buf(struct buf *out, size_t len)
{
    out->len = len;
    if (out->data)
        out->data[len] = '\0';
}

/*
 * Appends `s` as a JSON string. SIDs and mark names are plain ASCII, which
 * needs no escaping and goes straight into the buf; anything else goes
 * through jansson, which validates UTF-8 and escapes exactly as json_dumps
 * would for the whole message.
 */
static int put_json_string(struct buf *out, const char *s)
{
    const unsigned char *p;
    json_t *js = NULL;
    char *dumped = NULL;
    int rc;

    for (p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p > 0x7E || *p == '"' || *p == '\\')
            break;
    }
    if (*p == '\0') {
        rc = buf_putc(out, '"');
        if (rc)
            goto out;
        rc = buf_append(out, s, (size_t)(p - (const unsigned char *)s));
        if (rc)
            goto out;
        rc = buf_putc(out, '"');
        goto out;
    }
    js = json_string(s);
    if (!js) {
        rc = SB_EINVAL; /* not valid UTF-8 */
        goto out;
    }
    dumped = json_dumps(js, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!dumped) {
        rc = SB_ENOMEM;
        goto out;
    }
    rc = buf_puts(out, dumped);
out:
    free(dumped);
    json_decref(js);
    return rc;
}

static int put_base64(struct buf *out, const unsigned char *audio, size_t len)
{
    char tmp[B64_CHUNK / 3 * 4 + 1];
    size_t off = 0;
    int rc = 0;

    while (off < len) {
        size_t n = len - off < B64_CHUNK ? len - off : B64_CHUNK;
        int m = EVP_EncodeBlock((unsigned char *)tmp, audio + off, (int)n);

        rc = buf_append(out, tmp, (size_t)m);
        if (rc)
            goto out;
        off += n;
    }
out:
    return rc;
}

int media_event_write_media(struct buf *out, const char *stream_sid, const unsigned char *audio,
                            size_t len)
{
    size_t start = out ? out->len : 0;
    int rc;

    if (!out || !stream_sid || (!audio && len)) {
        rc = SB_EINVAL;
        goto out;
    }
    rc = buf_puts(out, "{\"event\":\"media\",\"streamSid\":");
    if (rc)
        goto out;
    rc = put_json_string(out, stream_sid);
    if (rc)
        goto out;
    rc = buf_puts(out, ",\"media\":{\"payload\":\"");
    if (rc)
        goto out;
    rc = put_base64(out, audio, len);
    if (rc)
        goto out;
    rc = buf_puts(out, "\"}}");
out:
    if (rc && out)
        truncate_buf(out, start);
    return rc;
}

int media_event_write_mark(struct buf *out, const char *stream_sid, const char *name)
{
    size_t start = out ? out->len : 0;
    int rc;

    if (!out || !stream_sid || !name) {
        rc = SB_EINVAL;
        goto out;
    }
    rc = buf_puts(out, "{\"event\":\"mark\",\"streamSid\":");
    if (rc)
        goto out;
    rc = put_json_string(out, stream_sid);
    if (rc)
        goto out;
    rc = buf_puts(out, ",\"mark\":{\"name\":");
    if (rc)
        goto out;
    rc = put_json_string(out, name);
    if (rc)
        goto out;
    rc = buf_puts(out, "}}");
out:
    if (rc && out)
        truncate_buf(out, start);
    return rc;
}

int media_event_write_clear(struct buf *out, const char *stream_sid)
{
    size_t start = out ? out->len : 0;
    int rc;

    if (!out || !stream_sid) {
        rc = SB_EINVAL;
        goto out;
    }
    rc = buf_puts(out, "{\"event\":\"clear\",\"streamSid\":");
    if (rc)
        goto out;
    rc = put_json_string(out, stream_sid);
    if (rc)
        goto out;
    rc = buf_putc(out, '}');
out:
    if (rc && out)
        truncate_buf(out, start);
    return rc;
}

const char *media_event_param(const struct media_event *ev, const char *name)
{
    const char *value = NULL;
    int i;

    if (!ev || !name)
        goto out;
    for (i = 0; i < ev->nparams && i < MEDIA_MAX_PARAMS; i++) {
        if (strcmp(ev->params[i].name, name) == 0) {
            value = ev->params[i].value;
            break;
        }
    }
out:
    return value;
}
