#include "twilio/rest.h"

#include <stdarg.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/form.h"
#include "core/redact.h"
#include "core/utf8.h"
#include "core/banned.h"

#define SID_LEN 34
/* Longest URL built (a base URL, the path and a list's query). */
#define URL_MAX 8192
#define BASE_URL_MAX 1024
/* "user:password" before base64; Twilio's secrets are 32 characters. */
#define CREDENTIALS_MAX 512

struct twilio_rest {
    char account_sid[SID_LEN + 1];
    char *base_url;
    char *auth_header; /* "Authorization: Basic ...": the secret, wiped by twilio_rest_free */
    long connect_timeout_ms;
    long timeout_ms;
};

/* ---- small checks ---- */

static int hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A SID: `prefix` (two upper-case letters) and 32 hex digits. */
static int sid_valid(const char *s, const char *prefix)
{
    if (!s || strlen(s) != SID_LEN || strncmp(s, prefix, 2) != 0)
        return 0;
    for (size_t i = 2; i < SID_LEN; i++)
        if (!hex_digit(s[i]))
            return 0;
    return 1;
}

static int set(const char *s)
{
    return s && *s;
}

static int one_of(const char *s, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp(s, *allowed) == 0)
            return 1;
    return 0;
}

/*
 * Characters of `s` as Twilio counts them, in UTF-16 code units (a
 * character past U+FFFF counts two), or -1 when `s` is not well-formed UTF-8.
 */
static long utf16_units(const char *s)
{
    size_t n = strlen(s), i = 0;
    long units = 0;

    if (!utf8_valid(s, n))
        return -1;
    while (i < n) {
        unsigned cp = 0;
        size_t len = utf8_decode((const unsigned char *)s + i, n - i, &cp);

        if (len == 0)
            return -1;
        i += len;
        units += cp > 0xFFFF ? 2 : 1;
    }
    return units;
}

/* YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SSZ. */
static int date_valid(const char *s)
{
    static const char day[] = "dddd-dd-dd", moment[] = "dddd-dd-ddTdd:dd:ddZ";
    const char *shape = strlen(s) == sizeof(day) - 1 ? day : moment;

    if (strlen(s) != strlen(shape))
        return 0;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return 0;
    }
    return 1;
}

/* ---- configuration ---- */

static const char *env_get(void *arg, const char *name)
{
    (void)arg;
    return getenv(name);
}

static const char *var(const char *(*get)(void *, const char *), void *arg, const char *name)
{
    const char *v = get(arg, name);

    return v && *v ? v : NULL;
}

int twilio_rest_config_from(struct twilio_rest_config *cfg,
                            const char *(*get)(void *arg, const char *name), void *arg, char *err,
                            size_t errsize)
{
    const char *key, *secret, *token;

    if (!cfg || !get) {
        sb_set_error(err, errsize, "no configuration to fill");
        return SB_EINVAL;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->account_sid = var(get, arg, "TWILIO_ACCOUNT_SID");
    key = var(get, arg, "TWILIO_API_KEY");
    secret = var(get, arg, "TWILIO_API_SECRET");
    token = var(get, arg, "TWILIO_AUTH_TOKEN");
    cfg->base_url = var(get, arg, "TWILIO_API_BASE");
    if (!cfg->account_sid) {
        sb_set_error(err, errsize,
                     "TWILIO_ACCOUNT_SID is not set (the account every request goes to)");
        goto fail;
    }
    if (key || secret) {
        if (!key || !secret) {
            sb_set_error(err, errsize, "%s is set but %s is not: an API key needs both",
                         key ? "TWILIO_API_KEY" : "TWILIO_API_SECRET",
                         key ? "TWILIO_API_SECRET" : "TWILIO_API_KEY");
            goto fail;
        }
        cfg->username = key;
        cfg->password = secret;
        return 0;
    }
    if (!token) {
        sb_set_error(err, errsize,
                     "set TWILIO_AUTH_TOKEN, or TWILIO_API_KEY and TWILIO_API_SECRET");
        goto fail;
    }
    cfg->password = token;
    return 0;
fail:
    memset(cfg, 0, sizeof(*cfg));
    return SB_EINVAL;
}

int twilio_rest_config_from_env(struct twilio_rest_config *cfg, char *err, size_t errsize)
{
    return twilio_rest_config_from(cfg, env_get, NULL, err, errsize);
}

/* The base URL without trailing slashes; checks its shape. */
static int base_url_copy(const char *in, char **out, char *err, size_t errsize)
{
    size_t len;

    *out = NULL;
    if (!in)
        in = TWILIO_API_BASE_DEFAULT;
    if (strncmp(in, "https://", 8) != 0 && strncmp(in, "http://", 7) != 0) {
        sb_set_error(err, errsize, "the API base URL must start with https:// or http://");
        return SB_EINVAL;
    }
    len = strlen(in);
    while (len > 0 && in[len - 1] == '/')
        len--;
    if (len > BASE_URL_MAX || len <= strlen("https://") - 1 || strcspn(in, "?# \t\r\n") < len) {
        sb_set_error(err, errsize,
                     "the API base URL must name a host and have no query or fragment");
        return SB_EINVAL;
    }
    *out = strndup(in, len);
    return *out ? 0 : SB_ENOMEM;
}

/* "Authorization: Basic " + base64(user ":" password). */
static int auth_header_new(const char *user, const char *password, char **out)
{
    static const char prefix[] = "Authorization: Basic ";
    char plain[CREDENTIALS_MAX];
    size_t ulen = strlen(user), plen = strlen(password), b64;
    char *line;
    int n;

    *out = NULL;
    if (ulen + 1 + plen >= sizeof(plain))
        return SB_EINVAL;
    memcpy(plain, user, ulen);
    plain[ulen] = ':';
    memcpy(plain + ulen + 1, password, plen);
    b64 = 4 * ((ulen + 1 + plen + 2) / 3);
    line = malloc(sizeof(prefix) + b64 + 1);
    if (!line) {
        OPENSSL_cleanse(plain, sizeof(plain));
        return SB_ENOMEM;
    }
    memcpy(line, prefix, sizeof(prefix) - 1);
    n = EVP_EncodeBlock((unsigned char *)line + sizeof(prefix) - 1, (unsigned char *)plain,
                        (int)(ulen + 1 + plen));
    OPENSSL_cleanse(plain, sizeof(plain));
    line[sizeof(prefix) - 1 + (size_t)(n > 0 ? n : 0)] = '\0';
    *out = line;
    return 0;
}

int twilio_rest_new(struct twilio_rest **out, const struct twilio_rest_config *cfg, char *err,
                    size_t errsize)
{
    struct twilio_rest *r;
    const char *user;
    int rc;

    if (!out)
        return SB_EINVAL;
    *out = NULL;
    if (!cfg) {
        sb_set_error(err, errsize, "no configuration");
        return SB_EINVAL;
    }
    if (!sid_valid(cfg->account_sid, "AC")) {
        sb_set_error(err, errsize,
                     "the account SID must be AC followed by 32 hex digits (TWILIO_ACCOUNT_SID)");
        return SB_EINVAL;
    }
    user = set(cfg->username) ? cfg->username : cfg->account_sid;
    if (user != cfg->account_sid && strcmp(user, cfg->account_sid) != 0 && !sid_valid(user, "SK")) {
        sb_set_error(err, errsize,
                     "the API key must be SK followed by 32 hex digits (TWILIO_API_KEY)");
        return SB_EINVAL;
    }
    if (!set(cfg->password) || strlen(cfg->password) >= CREDENTIALS_MAX - SID_LEN - 2 ||
        strcspn(cfg->password, "\r\n") != strlen(cfg->password)) {
        sb_set_error(err, errsize, "%s",
                     strncmp(user, "SK", 2) == 0
                         ? "the API key secret is missing or unusable (TWILIO_API_SECRET)"
                         : "the auth token is missing or unusable (TWILIO_AUTH_TOKEN)");
        return SB_EINVAL;
    }
    if (cfg->connect_timeout_ms < 0 || cfg->timeout_ms < 0) {
        sb_set_error(err, errsize, "timeouts cannot be negative");
        return SB_EINVAL;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        return SB_ENOMEM;
    memcpy(r->account_sid, cfg->account_sid, SID_LEN + 1);
    r->connect_timeout_ms =
        cfg->connect_timeout_ms ? cfg->connect_timeout_ms : TWILIO_CONNECT_TIMEOUT_MS;
    r->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : TWILIO_TIMEOUT_MS;
    rc = base_url_copy(cfg->base_url, &r->base_url, err, errsize);
    if (rc == 0)
        rc = auth_header_new(user, cfg->password, &r->auth_header);
    if (rc != 0) {
        twilio_rest_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void twilio_rest_free(struct twilio_rest *r)
{
    if (!r)
        return;
    if (r->auth_header) {
        OPENSSL_cleanse(r->auth_header, strlen(r->auth_header));
        free(r->auth_header);
    }
    free(r->base_url);
    free(r);
}

const char *twilio_rest_account_sid(const struct twilio_rest *r)
{
    return r->account_sid;
}

const char *twilio_rest_base_url(const struct twilio_rest *r)
{
    return r->base_url;
}

/* ---- operations ---- */

static const struct {
    const char *name;
    const char *method;
    enum twilio_retry_kind kind;
} ops[] = {
    [TWILIO_CALL_CREATE] = {"calls.create", "POST", TWILIO_RETRY_CREATE},
    [TWILIO_CALL_FETCH] = {"calls.fetch", "GET", TWILIO_RETRY_READ},
    [TWILIO_CALL_UPDATE] = {"calls.update", "POST", TWILIO_RETRY_WRITE},
    [TWILIO_CALL_LIST] = {"calls.list", "GET", TWILIO_RETRY_READ},
    [TWILIO_MESSAGE_CREATE] = {"messages.create", "POST", TWILIO_RETRY_CREATE},
    [TWILIO_RECORDING_LIST] = {"recordings.list", "GET", TWILIO_RETRY_READ},
    [TWILIO_RECORDING_FETCH] = {"recordings.fetch", "GET", TWILIO_RETRY_READ},
    [TWILIO_RECORDING_DELETE] = {"recordings.delete", "DELETE", TWILIO_RETRY_WRITE},
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

const char *twilio_rest_op_name(enum twilio_rest_op op)
{
    return (size_t)op < NOPS ? ops[op].name : "unknown";
}

enum twilio_retry_kind twilio_rest_op_kind(enum twilio_rest_op op)
{
    /* An unknown operation is treated as the careful kind. */
    return (size_t)op < NOPS ? ops[op].kind : TWILIO_RETRY_CREATE;
}

void twilio_rest_request_release(struct twilio_rest_request *req)
{
    if (!req)
        return;
    free(req->url);
    free(req->body);
    memset(req, 0, sizeof(*req));
}

/* ---- building ---- */

/* A form being built: the first failure sticks, later adds do nothing. */
struct params {
    struct form form;
    int rc;
};

static void add(struct params *p, const char *key, const char *value)
{
    if (p->rc == 0 && value)
        p->rc = form_add(&p->form, key, value);
}

static void add_int(struct params *p, const char *key, int value)
{
    char text[24];

    if (value != 0) {
        snprintf(text, sizeof(text), "%d", value);
        add(p, key, text);
    }
}

static void add_all(struct params *p, const char *key, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        add(p, key, values[i]);
}

/*
 * Makes out's URL (base + /2010-04-01/Accounts/{sid}/ + path, then '?' and
 * the query form when it has fields) and body (the body form, when given).
 */
static int finish(const struct twilio_rest *r, enum twilio_rest_op op, const char *path,
                  struct params *query, struct params *body, struct twilio_rest_request *out)
{
    struct buf url = BUF_INIT(URL_MAX);
    char *encoded = NULL;
    int rc = body ? body->rc : 0;

    rc = rc ? rc : (query ? query->rc : 0);
    if (rc == 0)
        rc = buf_printf(&url, "%s/%s/Accounts/%s/%s", r->base_url, TWILIO_API_VERSION,
                        r->account_sid, path);
    if (rc == 0 && query && query->form.count) {
        encoded = form_encode(&query->form);
        rc = encoded ? buf_putc(&url, '?') : SB_ETOOBIG;
        if (rc == 0)
            rc = buf_puts(&url, encoded);
        free(encoded);
    }
    if (rc == 0) {
        out->url = buf_detach(&url, NULL);
        rc = out->url ? 0 : SB_ENOMEM;
    }
    if (rc == 0 && body) {
        out->body = form_encode(&body->form);
        rc = out->body ? 0 : SB_ETOOBIG;
        out->body_len = out->body ? strlen(out->body) : 0;
    }
    buf_release(&url);
    if (rc != 0) {
        twilio_rest_request_release(out);
        return rc == SB_ETOOBIG ? SB_ETOOBIG : SB_ENOMEM;
    }
    out->op = op;
    out->method = ops[op].method;
    return 0;
}

static int refuse(struct twilio_rest_request *out, char *err, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Zeroes the request, writes the reason and returns SB_EINVAL. */
static int refuse(struct twilio_rest_request *out, char *err, size_t errsize, const char *fmt, ...)
{
    va_list ap;

    memset(out, 0, sizeof(*out));
    if (err && errsize) {
        va_start(ap, fmt);
        vsnprintf(err, errsize, fmt, ap);
        va_end(ap);
    }
    return SB_EINVAL;
}

/* Checks the values of a repeated parameter against the allowed ones. */
static const char *bad_value(const char *const *values, size_t n, const char *const *allowed)
{
    if (n > TWILIO_REPEAT_MAX)
        return "too many values";
    for (size_t i = 0; i < n; i++)
        if (!values || !values[i] || !one_of(values[i], allowed))
            return values && values[i] ? values[i] : "(null)";
    return NULL;
}

static int method_ok(const char *m)
{
    static const char *const methods[] = {"GET", "POST", NULL};

    return !m || one_of(m, methods);
}

int twilio_rest_call_create(const struct twilio_rest *r, const struct twilio_call_params *p,
                            struct twilio_rest_request *out, char *err, size_t errsize)
{
    static const char *const events[] = {"initiated", "ringing", "answered", "completed", NULL};
    static const char *const rec_events[] = {"in-progress", "completed", "absent", NULL};
    static const char *const amd[] = {"Enable", "DetectMessageEnd", NULL};
    struct params q = {FORM_INIT, 0};
    const char *bad;
    char shown[REDACT_SIZE];
    int sources, rc;
    long chars;

    if (!out)
        return SB_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!r || !p)
        return refuse(out, err, errsize, "%s", "calls.create: no parameters");
    if (!set(p->to) || !set(p->from))
        return refuse(out, err, errsize, "calls.create: %s is required",
                      set(p->to) ? "From" : "To");
    sources = set(p->url) + set(p->twiml) + set(p->application_sid);
    if (sources != 1)
        return refuse(out, err, errsize, "calls.create: %s",
                      sources ? "give only one of Url, Twiml and ApplicationSid"
                              : "Url, Twiml or ApplicationSid is required");
    if (set(p->application_sid) && !sid_valid(p->application_sid, "AP"))
        return refuse(out, err, errsize, "calls.create: ApplicationSid %s",
                      "is not AP followed by 32 hex digits");
    if (set(p->twiml) && ((chars = utf16_units(p->twiml)) < 0 || chars > TWILIO_TWIML_MAX))
        return refuse(out, err, errsize, "calls.create: Twiml %s",
                      chars < 0 ? "is not UTF-8" : "is longer than 4000 characters");
    if (!method_ok(p->method) || !method_ok(p->fallback_method) ||
        !method_ok(p->status_callback_method) || !method_ok(p->recording_status_callback_method) ||
        !method_ok(p->async_amd_status_callback_method))
        return refuse(out, err, errsize, "calls.create: %s", "methods are GET or POST");
    if ((bad = bad_value(p->status_callback_events, p->nstatus_callback_events, events)))
        return refuse(out, err, errsize,
                      "calls.create: StatusCallbackEvent '%s' is not one of initiated, ringing, "
                      "answered, completed",
                      bad);
    if ((bad = bad_value(p->recording_status_callback_events, p->nrecording_status_callback_events,
                         rec_events)))
        return refuse(out, err, errsize,
                      "calls.create: RecordingStatusCallbackEvent '%s' is not one of in-progress, "
                      "completed, absent",
                      bad);
    if (p->machine_detection && !one_of(p->machine_detection, amd))
        return refuse(out, err, errsize,
                      "calls.create: MachineDetection '%s' is not Enable or DetectMessageEnd",
                      p->machine_detection);
    if (p->timeout_s < 0 || p->timeout_s > TWILIO_TIMEOUT_MAX_S || p->time_limit_s < 0 ||
        p->machine_detection_timeout_s < 0)
        return refuse(out, err, errsize, "calls.create: %s",
                      "Timeout is 1 to 600 seconds, TimeLimit and MachineDetectionTimeout are "
                      "positive");
    /* The order is twilio-python's. */
    add(&q, "To", p->to);
    add(&q, "From", p->from);
    add(&q, "Method", p->method);
    add(&q, "FallbackUrl", p->fallback_url);
    add(&q, "FallbackMethod", p->fallback_method);
    add(&q, "StatusCallback", p->status_callback);
    add_all(&q, "StatusCallbackEvent", p->status_callback_events, p->nstatus_callback_events);
    add(&q, "StatusCallbackMethod", p->status_callback_method);
    add(&q, "SendDigits", p->send_digits);
    add_int(&q, "Timeout", p->timeout_s);
    add(&q, "Record", p->record ? "true" : NULL);
    add(&q, "RecordingChannels", p->recording_channels);
    add(&q, "RecordingStatusCallback", p->recording_status_callback);
    add(&q, "RecordingStatusCallbackMethod", p->recording_status_callback_method);
    add(&q, "MachineDetection", p->machine_detection);
    add_int(&q, "MachineDetectionTimeout", p->machine_detection_timeout_s);
    add_all(&q, "RecordingStatusCallbackEvent", p->recording_status_callback_events,
            p->nrecording_status_callback_events);
    add(&q, "CallerId", p->caller_id);
    add(&q, "AsyncAmd", p->async_amd ? "true" : NULL);
    add(&q, "AsyncAmdStatusCallback", p->async_amd_status_callback);
    add(&q, "AsyncAmdStatusCallbackMethod", p->async_amd_status_callback_method);
    add_int(&q, "TimeLimit", p->time_limit_s);
    add(&q, "Url", p->url);
    add(&q, "Twiml", p->twiml);
    add(&q, "ApplicationSid", p->application_sid);
    rc = finish(r, TWILIO_CALL_CREATE, "Calls.json", NULL, &q, out);
    form_release(&q.form);
    if (rc == 0)
        snprintf(out->what, sizeof(out->what), "calls.create to=%s", redact_number(p->to, shown));
    return rc;
}

int twilio_rest_call_fetch(const struct twilio_rest *r, const char *call_sid,
                           struct twilio_rest_request *out, char *err, size_t errsize)
{
    char path[64];
    int rc;

    if (!out)
        return SB_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!r || !sid_valid(call_sid, "CA"))
        return refuse(out, err, errsize, "calls.fetch: %s",
                      "the call SID is not CA followed by 32 hex digits");
    snprintf(path, sizeof(path), "Calls/%s.json", call_sid);
    rc = finish(r, TWILIO_CALL_FETCH, path, NULL, NULL, out);
    if (rc == 0)
        snprintf(out->what, sizeof(out->what), "calls.fetch %s", call_sid);
    return rc;
}

int twilio_rest_call_update(const struct twilio_rest *r, const char *call_sid,
                            const struct twilio_call_update *u, struct twilio_rest_request *out,
                            char *err, size_t errsize)
{
    static const char *const statuses[] = {"completed", "canceled", NULL};
    struct params q = {FORM_INIT, 0};
    char path[64];
    long chars;
    int rc;

    if (!out)
        return SB_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!r || !sid_valid(call_sid, "CA"))
        return refuse(out, err, errsize, "calls.update: %s",
                      "the call SID is not CA followed by 32 hex digits");
    if (!u || !(set(u->url) || set(u->status) || set(u->twiml) || set(u->fallback_url) ||
                set(u->status_callback) || u->time_limit_s > 0))
        return refuse(out, err, errsize, "calls.update: %s", "nothing to change");
    if (set(u->url) && set(u->twiml))
        return refuse(out, err, errsize, "calls.update: %s", "give Url or Twiml, not both");
    if (u->status && !one_of(u->status, statuses))
        return refuse(out, err, errsize, "calls.update: Status '%s' is not completed or canceled",
                      u->status);
    if (set(u->twiml) && ((chars = utf16_units(u->twiml)) < 0 || chars > TWILIO_TWIML_MAX))
        return refuse(out, err, errsize, "calls.update: Twiml %s",
                      chars < 0 ? "is not UTF-8" : "is longer than 4000 characters");
    if (!method_ok(u->method) || !method_ok(u->fallback_method) ||
        !method_ok(u->status_callback_method))
        return refuse(out, err, errsize, "calls.update: %s", "methods are GET or POST");
    if (u->time_limit_s < 0)
        return refuse(out, err, errsize, "calls.update: %s", "TimeLimit is positive");
    add(&q, "Url", u->url);
    add(&q, "Method", u->method);
    add(&q, "Status", u->status);
    add(&q, "FallbackUrl", u->fallback_url);
    add(&q, "FallbackMethod", u->fallback_method);
    add(&q, "StatusCallback", u->status_callback);
    add(&q, "StatusCallbackMethod", u->status_callback_method);
    add(&q, "Twiml", u->twiml);
    add_int(&q, "TimeLimit", u->time_limit_s);
    snprintf(path, sizeof(path), "Calls/%s.json", call_sid);
    rc = finish(r, TWILIO_CALL_UPDATE, path, NULL, &q, out);
    form_release(&q.form);
    if (rc == 0)
        snprintf(out->what, sizeof(out->what), "calls.update %s%s%s", call_sid,
                 u->status ? " status=" : "", u->status ? u->status : "");
    return rc;
}

int twilio_rest_call_list(const struct twilio_rest *r, const struct twilio_call_filter *f,
                          struct twilio_rest_request *out, char *err, size_t errsize)
{
    static const char *const statuses[] = {"queued",   "ringing",   "in-progress",
                                           "canceled", "completed", "failed",
                                           "busy",     "no-answer", NULL};
    static const struct twilio_call_filter none;
    struct params q = {FORM_INIT, 0};
    char shown[REDACT_SIZE];
    const char *dates[6];
    int rc;

    if (!out)
        return SB_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!r)
        return refuse(out, err, errsize, "calls.list: %s", "no client");
    if (!f)
        f = &none;
    dates[0] = f->start_time;
    dates[1] = f->start_time_before;
    dates[2] = f->start_time_after;
    dates[3] = f->end_time;
    dates[4] = f->end_time_before;
    dates[5] = f->end_time_after;
    for (size_t i = 0; i < 6; i++)
        if (dates[i] && !date_valid(dates[i]))
            return refuse(out, err, errsize,
                          "calls.list: '%s' is not a date (YYYY-MM-DD or "
                          "YYYY-MM-DDTHH:MM:SSZ)",
                          dates[i]);
    if (f->status && !one_of(f->status, statuses))
        return refuse(out, err, errsize, "calls.list: Status '%s' is not a call status", f->status);
    if (f->parent_call_sid && !sid_valid(f->parent_call_sid, "CA"))
        return refuse(out, err, errsize, "calls.list: %s",
                      "ParentCallSid is not CA followed by 32 hex digits");
    if (f->page_size < 0 || f->page_size > TWILIO_PAGE_SIZE_MAX)
        return refuse(out, err, errsize, "calls.list: %s", "PageSize is 1 to 1000");
    add(&q, "To", f->to);
    add(&q, "From", f->from);
    add(&q, "ParentCallSid", f->parent_call_sid);
    add(&q, "Status", f->status);
    add(&q, "StartTime", f->start_time);
    add(&q, "StartTime<", f->start_time_before);
    add(&q, "StartTime>", f->start_time_after);
    add(&q, "EndTime", f->end_time);
    add(&q, "EndTime<", f->end_time_before);
    add(&q, "EndTime>", f->end_time_after);
    add_int(&q, "PageSize", f->page_size);
    rc = finish(r, TWILIO_CALL_LIST, "Calls.json", &q, NULL, out);
    form_release(&q.form);
    if (rc == 0)
        snprintf(out->what, sizeof(out->what), "calls.list%s%s", f->to ? " to=" : "",
                 f->to ? redact_number(f->to, shown) : "");
    return rc;
}

int twilio_rest_message_create(const struct twilio_rest *r, const struct twilio_message_params *p,
                               struct twilio_rest_request *out, char *err, size_t errsize)
{
    struct params q = {FORM_INIT, 0};
    char shown[REDACT_SIZE];
    long chars = 0;
    int rc;

    if (!out)
        return SB_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!r || !p || !set(p->to))
        return refuse(out, err, errsize, "messages.create: %s", "To is required");
    if (!set(p->from) && !set(p->messaging_service_sid))
        return refuse(out, err, errsize, "messages.create: %s",
                      "From or MessagingServiceSid is required");
    if (set(p->messaging_service_sid) && !sid_valid(p->messaging_service_sid, "MG"))
        return refuse(out, err, errsize, "messages.create: %s",
                      "MessagingServiceSid is not MG followed by 32 hex digits");
    if (!set(p->body) && p->nmedia_urls == 0)
        return refuse(out, err, errsize, "messages.create: %s", "Body or MediaUrl is required");
    if (p->body && ((chars = utf16_units(p->body)) < 0 || chars > TWILIO_BODY_MAX))
        return refuse(out, err, errsize, "messages.create: Body %s",
                      chars < 0 ? "is not UTF-8" : "is longer than 1600 characters");
    if (p->nmedia_urls > TWILIO_REPEAT_MAX || (p->nmedia_urls && !p->media_urls))
        return refuse(out, err, errsize, "messages.create: %s", "at most 10 MediaUrl");
    for (size_t i = 0; i < p->nmedia_urls; i++)
        if (!set(p->media_urls[i]))
            return refuse(out, err, errsize, "messages.create: %s", "an empty MediaUrl");
    /* The order is twilio-python's. */
    add(&q, "To", p->to);
    add(&q, "StatusCallback", p->status_callback);
    add(&q, "From", p->from);
    add(&q, "MessagingServiceSid", p->messaging_service_sid);
    add(&q, "Body", p->body);
    add_all(&q, "MediaUrl", p->media_urls, p->nmedia_urls);
    rc = finish(r, TWILIO_MESSAGE_CREATE, "Messages.json", NULL, &q, out);
    form_release(&q.form);
    if (rc == 0)
        snprintf(out->what, sizeof(out->what), "messages.create to=%s",
                 redact_number(p->to, shown));
    return rc;
}

int twilio_rest_recording_list(const struct twilio_rest *r, const char *call_sid, int page_size,
                               struct twilio_rest_request *out, char *err, size_t errsize)
{
    struct params q = {FORM_INIT, 0};
    char path[96];
    int rc;

    if (!out)
        return SB_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!r || !sid_valid(call_sid, "CA"))
        return refuse(out, err, errsize, "recordings.list: %s",
                      "the call SID is not CA followed by 32 hex digits");
    if (page_size < 0 || page_size > TWILIO_PAGE_SIZE_MAX)
        return refuse(out, err, errsize, "recordings.list: %s", "PageSize is 1 to 1000");
    add_int(&q, "PageSize", page_size);
    snprintf(path, sizeof(path), "Calls/%s/Recordings.json", call_sid);
    rc = finish(r, TWILIO_RECORDING_LIST, path, &q, NULL, out);
    form_release(&q.form);
    if (rc == 0)
        snprintf(out->what, sizeof(out->what), "recordings.list %s", call_sid);
    return rc;
}

/* Recording fetch and delete: the same path. */
static int recording_one(const struct twilio_rest *r, enum twilio_rest_op op, const char *call_sid,
                         const char *recording_sid, struct twilio_rest_request *out, char *err,
                         size_t errsize)
{
    char path[128];
    int rc;

    if (!out)
        return SB_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!r || !sid_valid(call_sid, "CA") || !sid_valid(recording_sid, "RE"))
        return refuse(out, err, errsize, "%s: %s", ops[op].name,
                      "the SIDs are CA and RE followed by 32 hex digits");
    snprintf(path, sizeof(path), "Calls/%s/Recordings/%s.json", call_sid, recording_sid);
    rc = finish(r, op, path, NULL, NULL, out);
    if (rc == 0)
        snprintf(out->what, sizeof(out->what), "%s %s", ops[op].name, recording_sid);
    return rc;
}

int twilio_rest_recording_fetch(const struct twilio_rest *r, const char *call_sid,
                                const char *recording_sid, struct twilio_rest_request *out,
                                char *err, size_t errsize)
{
    return recording_one(r, TWILIO_RECORDING_FETCH, call_sid, recording_sid, out, err, errsize);
}

int twilio_rest_recording_delete(const struct twilio_rest *r, const char *call_sid,
                                 const char *recording_sid, struct twilio_rest_request *out,
                                 char *err, size_t errsize)
{
    return recording_one(r, TWILIO_RECORDING_DELETE, call_sid, recording_sid, out, err, errsize);
}

/*
 * True when `rest` (what follows "/2010-04-01/Accounts/{sid}/") is the
 * list's own path: "Calls.json" or "Calls/{CA}/Recordings.json", then the
 * end or a query.
 */
static int page_path_ok(enum twilio_rest_op op, const char *rest)
{
    static const char recordings[] = "/Recordings.json";
    const char *end;

    if (op == TWILIO_CALL_LIST)
        end = strncmp(rest, "Calls.json", 10) == 0 ? rest + 10 : NULL;
    else if (strncmp(rest, "Calls/CA", 8) != 0 || strlen(rest) < 6 + SID_LEN)
        end = NULL;
    else {
        char sid[SID_LEN + 1];

        memcpy(sid, rest + 6, SID_LEN);
        sid[SID_LEN] = '\0';
        end = sid_valid(sid, "CA") &&
                      strncmp(rest + 6 + SID_LEN, recordings, sizeof(recordings) - 1) == 0
                  ? rest + 6 + SID_LEN + sizeof(recordings) - 1
                  : NULL;
    }
    return end && (*end == '\0' || *end == '?');
}

int twilio_rest_next_page(const struct twilio_rest *r, enum twilio_rest_op op,
                          const char *next_page_uri, struct twilio_rest_request *out, char *err,
                          size_t errsize)
{
    char prefix[80];
    size_t plen;
    int rc;

    if (!out)
        return SB_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!r || (op != TWILIO_CALL_LIST && op != TWILIO_RECORDING_LIST) || !next_page_uri)
        return refuse(out, err, errsize, "%s", "next page: not a list");
    plen = (size_t)snprintf(prefix, sizeof(prefix), "/%s/Accounts/%s/", TWILIO_API_VERSION,
                            r->account_sid);
    if (strncmp(next_page_uri, prefix, plen) != 0 || strlen(next_page_uri) > URL_MAX / 2 ||
        strstr(next_page_uri, "..") || !page_path_ok(op, next_page_uri + plen))
        return refuse(out, err, errsize, "%s: next_page_uri %s", ops[op].name,
                      "is not a page of this list in this account");
    for (const char *c = next_page_uri; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '#')
            return refuse(out, err, errsize, "%s: next_page_uri %s", ops[op].name,
                          "has characters a URL path cannot hold");
    {
        struct buf url = BUF_INIT(URL_MAX);

        rc = buf_printf(&url, "%s%s", r->base_url, next_page_uri);
        if (rc == 0) {
            out->url = buf_detach(&url, NULL);
            rc = out->url ? 0 : SB_ENOMEM;
        }
        buf_release(&url);
    }
    if (rc != 0) {
        twilio_rest_request_release(out);
        return rc == SB_ETOOBIG ? SB_ETOOBIG : SB_ENOMEM;
    }
    out->op = op;
    out->method = "GET";
    snprintf(out->what, sizeof(out->what), "%s next page", ops[op].name);
    return 0;
}

/* ---- submission ---- */

int twilio_rest_submit(const struct twilio_rest *r, const struct twilio_rest_request *req,
                       const struct twilio_rest_send *send, uint64_t *id)
{
    const char *headers[3];
    struct http_request h;
    size_t nh = 0;

    if (id)
        *id = 0;
    if (!r || !req || !req->url || !req->method || (size_t)req->op >= NOPS || !send ||
        !send->submit || (!send->on_done && !send->inbox))
        return SB_EINVAL;
    headers[nh++] = r->auth_header;
    headers[nh++] = "Accept: application/json";
    if (req->body)
        headers[nh++] = "Content-Type: application/x-www-form-urlencoded";
    memset(&h, 0, sizeof(h));
    h.method = req->method;
    h.url = req->url;
    h.headers = headers;
    h.nheaders = nh;
    h.body = req->body;
    h.body_len = req->body ? req->body_len : 0;
    h.connect_timeout_ms = r->connect_timeout_ms;
    h.total_timeout_ms = r->timeout_ms;
    h.max_response = TWILIO_MAX_RESPONSE;
    h.stream = HTTP_STREAM_NONE;
    h.on_done = send->on_done;
    h.arg = send->arg;
    h.inbox = send->inbox;
    return send->submit(send->net, &h, id);
}

int twilio_rest_http_submit(void *net, const struct http_request *req, uint64_t *id)
{
    return http_client_submit(net, req, id);
}
