#include "voice/call_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "core/e164.h"
#include "store/agents.h"
#include "voice/tz.h"
#include "core/banned.h"

static int verdict(struct call_check *out, enum call_verdict v, const char *field, const char *code,
                   int rc, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Fills *out and returns `rc`, so that a check ends in one statement. */
static int verdict(struct call_check *out, enum call_verdict v, const char *field, const char *code,
                   int rc, const char *fmt, ...)
{
    va_list ap;

    out->verdict = v;
    out->field = field;
    out->code = code;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
    return rc;
}

static void ok(struct call_check *out)
{
    out->verdict = CALL_OK;
    out->field = NULL;
    out->code = NULL;
    out->message[0] = '\0';
}

/* A field the caller's way: "--to '+1555'" (the value shortened) or "'to'". */
static const char *ref(enum call_names names, const char *field, const char *value, char *buf,
                       size_t size)
{
    if (names == CALL_NAMES_FLAGS)
        snprintf(buf, size, "--%s '%.64s'", field, value ? value : "");
    else
        snprintf(buf, size, "'%s'", field);
    return buf;
}

int call_check_fields(const struct job_request *r, const char *at, enum call_names names,
                      struct call_check *out)
{
    char name[96], err[256];
    const char *field = NULL;
    long long t;

    if (r->to && r->to[0] && !e164_valid(r->to))
        return verdict(out, CALL_INVALID, "to", "invalid_field", SB_EINVAL,
                       "%s is not an E.164 number ('+' and 7 to 15 digits)",
                       ref(names, "to", r->to, name, sizeof(name)));
    if (r->from && r->from[0] && !e164_valid(r->from))
        return verdict(out, CALL_INVALID, "from", "invalid_field", SB_EINVAL,
                       "%s is not an E.164 number ('+' and 7 to 15 digits)",
                       ref(names, "from", r->from, name, sizeof(name)));
    if (at && at[0] && call_parse_at(at, NULL, &t) == -1)
        return verdict(out, CALL_INVALID, "at", "invalid_field", SB_EINVAL,
                       "%s is not an ISO 8601 time like 2026-03-01T09:30 or "
                       "2026-03-01T09:30:00+02:00",
                       ref(names, "at", at, name, sizeof(name)));
    if (job_request_check_field(r, &field, err, sizeof(err)) != 0)
        return verdict(out, CALL_INVALID, field, "invalid_field", SB_EINVAL, "%s", err);
    ok(out);
    return 0;
}

int call_check_allowed(const char *allow, const char *to, struct call_check *out)
{
    const char *p = allow;

    ok(out);
    if (!allow || !*allow)
        return 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char one[E164_SIZE + 8];

        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len >= sizeof(one))
            return verdict(out, CALL_UNAVAILABLE, NULL, "allowlist_invalid", SB_EINVAL,
                           "SWITCHBOARD_OUTBOUND_ALLOW holds an entry that is not E.164");
        memcpy(one, p, len);
        one[len] = '\0';
        if (len && !e164_valid(one))
            return verdict(out, CALL_UNAVAILABLE, NULL, "allowlist_invalid", SB_EINVAL,
                           "SWITCHBOARD_OUTBOUND_ALLOW holds '%s', not an E.164 number", one);
        if (len && strcmp(one, to) == 0)
            return 0;
        if (!comma)
            break;
        p = comma + 1;
    }
    return verdict(out, CALL_REFUSED, "to", "not_allowed", SB_EINVAL,
                   "'%s' is not in SWITCHBOARD_OUTBOUND_ALLOW; it is not called", to);
}

int call_check_tenant(struct store *s, const struct job_request *r, enum call_names names,
                      struct tenant *tenant, struct call_check *out)
{
    struct tenant t;
    struct number *nums = NULL;
    size_t n = 0;
    int rc, found = 0, active = 0;
    int has_from = r->from && r->from[0];
    char name[96];

    rc = store_tenant_get(s, r->tenant, &t);
    if (rc == SB_ENOTFOUND)
        return verdict(out, CALL_REFUSED, "tenant", "unknown_tenant", rc,
                       "tenant '%s' does not exist", r->tenant);
    if (rc)
        return verdict(out, CALL_UNAVAILABLE, NULL, "store_unavailable", rc,
                       "cannot read tenant '%s': %s", r->tenant, sb_strerror(rc));
    if (tenant)
        *tenant = t;
    if (r->kind == JOB_KIND_FLOW) {
        char *json = NULL;

        rc = store_flow_get(s, r->tenant, r->target, &json);
        free(json);
        if (rc == SB_ENOTFOUND)
            return verdict(out, CALL_REFUSED, "flow", "unknown_flow", rc,
                           "flow '%s' of tenant '%s' does not exist", r->target, r->tenant);
        if (rc)
            return verdict(out, CALL_UNAVAILABLE, NULL, "store_unavailable", rc,
                           "cannot read flow '%s': %s", r->target, sb_strerror(rc));
    } else if (r->kind == JOB_KIND_AGENT) {
        struct agent_config a;

        memset(&a, 0, sizeof(a));
        rc = agent_config_get(s, r->tenant, r->target, &a);
        agent_config_release(&a);
        /* The built-in agents (a number's default "receptionist") are nobody's to store. */
        if ((rc == SB_ENOTFOUND || rc == SB_EINVAL) && !agent_is_builtin(r->target))
            return verdict(out, CALL_REFUSED, "agent", "unknown_agent", SB_ENOTFOUND,
                           "agent '%s' of tenant '%s' does not exist", r->target, r->tenant);
        if (rc && rc != SB_ENOTFOUND && rc != SB_EINVAL)
            return verdict(out, CALL_UNAVAILABLE, NULL, "store_unavailable", rc,
                           "cannot read agent '%s': %s", r->target, sb_strerror(rc));
    }
    rc = store_number_list(s, &nums, &n);
    if (rc)
        return verdict(out, CALL_UNAVAILABLE, NULL, "store_unavailable", rc,
                       "cannot list numbers: %s", sb_strerror(rc));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(nums[i].tenant, r->tenant) != 0)
            continue;
        active |= nums[i].active;
        if (has_from && strcmp(nums[i].e164, r->from) == 0)
            found = 1;
    }
    free(nums);
    if (has_from && !found)
        return verdict(out, CALL_REFUSED, "from", "unknown_from", SB_ENOTFOUND,
                       "%s is not a number of tenant '%s'",
                       ref(names, "from", r->from, name, sizeof(name)), r->tenant);
    if (!has_from && !active)
        return verdict(out, CALL_REFUSED, "from", "no_active_number", SB_ENOTFOUND,
                       "tenant '%s' has no active number to call from", r->tenant);
    ok(out);
    return 0;
}

int call_check_at(const char *at, const char *zone, long long now, enum call_names names,
                  long long *not_before, struct call_check *out)
{
    char name[96];
    int rc;

    *not_before = 0;
    ok(out);
    if (!at || !at[0])
        return 0;
    rc = call_parse_at(at, zone, not_before);
    if (rc == -1)
        return verdict(out, CALL_INVALID, "at", "invalid_field", SB_EINVAL,
                       "%s is not an ISO 8601 time like 2026-03-01T09:30 or "
                       "2026-03-01T09:30:00+02:00",
                       ref(names, "at", at, name, sizeof(name)));
    if (rc)
        return verdict(out, CALL_REFUSED, "at", "unknown_time_zone", SB_EINVAL,
                       "the tenant's time zone '%s' is one this system does not know",
                       zone ? zone : "");
    if (now > 0 && *not_before < now - CALL_AT_PAST_SLACK_S)
        return verdict(out, CALL_REFUSED, "at", "time_in_the_past", SB_EINVAL, "%s is in the past",
                       ref(names, "at", at, name, sizeof(name)));
    return 0;
}

int call_check_optout(struct store *s, const char *tenant, const char *to, struct call_check *out)
{
    int opted = 0;
    int rc = optout_check(s, tenant, to, &opted);

    if (rc)
        return verdict(out, CALL_UNAVAILABLE, NULL, "store_unavailable", rc,
                       "cannot read the do-not-call list: %s", sb_strerror(rc));
    if (opted)
        return verdict(out, CALL_OPTED_OUT, "to", "opted_out", SB_EEXISTS,
                       "'%s' opted out (STOP) of tenant '%s'; it is not called", to, tenant);
    ok(out);
    return 0;
}

int call_check_all(struct store *s, struct job_request *r, const char *at, const char *allow,
                   long long now, enum call_names names, struct call_check *out)
{
    struct tenant t;
    int rc;

    rc = call_check_fields(r, at, names, out);
    if (rc == 0)
        rc = call_check_allowed(allow, r->to, out);
    if (rc == 0)
        rc = call_check_tenant(s, r, names, &t, out);
    if (rc == 0)
        rc = call_check_at(at, t.timezone, now, names, &r->not_before, out);
    if (rc == 0)
        rc = call_check_optout(s, r->tenant, r->to, out);
    return rc;
}

/* ---- times ---- */

static int digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int call_parse_at(const char *s, const char *zone, long long *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s;
    int y, mo, d, h, mi, sec = 0, has_offset = 0, off_min = 0;
    long long local;

    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
        return -1;
    if (*p == ':') {
        p++;
        if (digits(&p, 2, &sec))
            return -1;
        if (*p == '.' || *p == ',') {
            p++;
            if (*p < '0' || *p > '9')
                return -1;
            while (*p >= '0' && *p <= '9')
                p++;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        has_offset = 1;
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om = 0;

        p++;
        if (digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (*p && digits(&p, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        has_offset = 1;
        off_min = sign * (oh * 60 + om);
    }
    if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        sec > 60)
        return -1;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -1;
    if (sec == 60)
        sec = 59;
    local = tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    if (has_offset) {
        *out = local - off_min * 60LL;
        return 0;
    }
    /* The zone's offset at the local time read as UTC, then again at the first guess. */
    if (tz_offset_minutes(zone, (time_t)local, &off_min) != 0)
        return -2;
    *out = local - off_min * 60LL;
    if (tz_offset_minutes(zone, (time_t)*out, &off_min) != 0)
        return -2;
    *out = local - off_min * 60LL;
    return 0;
}

const char *call_iso_time(long long t, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    out[0] = '\0';
    if (t > 0 && gmtime_r(&tt, &tm))
        strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

/* ---- a job as JSON ---- */

static json_t *time_or_null(long long t)
{
    char iso[32];

    return t ? json_string(call_iso_time(t, iso, sizeof(iso))) : json_null();
}

static json_t *text_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

/* Sets o[key] = v (taken); remembers a failure (v NULL, out of memory) in *failed. */
static void put(json_t *o, const char *key, json_t *v, int *failed)
{
    if (json_object_set_new(o, key, v) != 0)
        *failed = 1;
}

json_t *call_job_json(const struct job *j)
{
    json_t *o = json_object();
    int failed = 0;

    if (!o)
        return NULL;
    put(o, "id", json_integer(j->id), &failed);
    put(o, "tenant", json_string(j->tenant), &failed);
    put(o, "campaign_id", j->campaign_id ? json_integer(j->campaign_id) : json_null(), &failed);
    put(o, "to", json_string(j->to), &failed);
    put(o, "from", text_or_null(j->from), &failed);
    put(o, "name", text_or_null(j->contact_name), &failed);
    put(o, "lang", text_or_null(j->lang), &failed);
    put(o, "kind", json_string(job_kind_name(j->kind)), &failed);
    put(o, "target", text_or_null(j->target), &failed);
    put(o, "say", text_or_null(j->say_text), &failed);
    put(o, "not_before", time_or_null(j->not_before), &failed);
    put(o, "status", json_string(job_status_name(j->status)), &failed);
    put(o, "attempts", json_integer(j->attempts), &failed);
    put(o, "max_retries", json_integer(j->max_retries), &failed);
    put(o, "retry_delay_s", json_integer(j->retry_delay_s), &failed);
    put(o, "next_attempt_at", time_or_null(j->next_attempt_at), &failed);
    put(o, "call_sid", text_or_null(j->call_sid), &failed);
    put(o, "answered_by", text_or_null(j->answered_by), &failed);
    put(o, "amd", json_boolean(j->amd), &failed);
    put(o, "sms_fallback", json_boolean(j->sms_fallback), &failed);
    put(o, "sms_sent", json_boolean(j->sms_sent), &failed);
    put(o, "error", text_or_null(j->error), &failed);
    put(o, "created_at", time_or_null(j->created_at), &failed);
    put(o, "updated_at", time_or_null(j->updated_at), &failed);
    if (failed) {
        /* A value that could not be made (out of memory): no half a job. */
        json_decref(o);
        return NULL;
    }
    return o;
}
