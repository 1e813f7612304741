/*
 * The outbound job queue's store interface (store/jobs.h): argument checks,
 * the request hash and the API keys' secrets, then dispatch through the
 * backend's ops table, like store/store.c for the rest.
 */
#include "store/jobs.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/e164.h"
#include "core/err.h"
#include "core/lang.h"
#include "core/utf8.h"
#include "store/agents.h"
#include "core/banned.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const kind_names[] = {"flow", "agent", "say"};
static const char *const status_names[] = {"queued",    "placing", "placed",   "completed", "busy",
                                           "no-answer", "failed",  "canceled", "skipped"};
static const char *const campaign_status_names[] = {"active", "paused", "canceled"};

_Static_assert(COUNT(status_names) == JOB_STATUS_COUNT, "a name for every job status");

#define API_KEY_TAG "sb_"
#define API_KEY_RANDOM_BYTES 32

/* Twilio's CallStatus values and what they do to a job: a final status, or -1 for none. */
static const struct {
    const char *name;
    int final;
} call_statuses[] = {
    {"queued", -1},         {"initiated", -1},
    {"ringing", -1},        {"in-progress", -1},
    {"answered", -1},       {"completed", JOB_COMPLETED},
    {"busy", JOB_BUSY},     {"no-answer", JOB_NO_ANSWER},
    {"failed", JOB_FAILED}, {"canceled", JOB_CANCELED},
};

static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++) {
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    }
    return -1;
}

const char *job_kind_name(enum job_kind k)
{
    return (unsigned)k < COUNT(kind_names) ? kind_names[k] : "unknown";
}

int job_id_parse(const char *s, long long *id)
{
    size_t len = s ? strlen(s) : 0;
    long long n = 0;

    if (len == 0 || len > 18)
        return SB_EINVAL;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9')
            return SB_EINVAL;
        n = n * 10 + (*c - '0');
    }
    if (n <= 0)
        return SB_EINVAL;
    *id = n;
    return 0;
}

int job_kind_parse(const char *s, enum job_kind *out)
{
    int i = name_index(kind_names, COUNT(kind_names), s);

    if (i < 0 || !out)
        return SB_EINVAL;
    *out = (enum job_kind)i;
    return 0;
}

const char *job_status_name(enum job_status st)
{
    return (unsigned)st < COUNT(status_names) ? status_names[st] : "unknown";
}

int job_status_parse(const char *s, enum job_status *out)
{
    int i = name_index(status_names, COUNT(status_names), s);

    if (i < 0 || !out)
        return SB_EINVAL;
    *out = (enum job_status)i;
    return 0;
}

int job_status_final(enum job_status st)
{
    return st >= JOB_COMPLETED && st <= JOB_SKIPPED;
}

const char *campaign_status_name(enum campaign_status st)
{
    return (unsigned)st < COUNT(campaign_status_names) ? campaign_status_names[st] : "unknown";
}

int campaign_status_parse(const char *s, enum campaign_status *out)
{
    int i = name_index(campaign_status_names, COUNT(campaign_status_names), s);

    if (i < 0 || !out)
        return SB_EINVAL;
    *out = (enum campaign_status)i;
    return 0;
}

void job_list_free(void *list)
{
    free(list);
}

/*
 * Checks an optional text: NULL and "" pass; else it must be under `size`
 * bytes (SB_ETOOBIG) of UTF-8 without control characters, a line break
 * allowed when `lines` (SB_EINVAL). `what` names it in the reason.
 */
static int text_check(const char *s, size_t size, int lines, const char *what, char *err,
                      size_t errsize)
{
    size_t len;

    if (!s || !s[0])
        return 0;
    len = strnlen(s, size);
    if (len >= size) {
        sb_set_error(err, errsize, "%s is longer than %zu bytes", what, size - 1);
        return SB_ETOOBIG;
    }
    if (!utf8_valid(s, len)) {
        sb_set_error(err, errsize, "%s is not UTF-8 text", what);
        return SB_EINVAL;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p < 0x20 && !(lines && (*p == '\n' || *p == '\r' || *p == '\t'))) || *p == 0x7f) {
            sb_set_error(err, errsize, "%s holds a control character", what);
            return SB_EINVAL;
        }
    }
    return 0;
}

/* A language tag as the store keeps one: "es", "es-MX", "es_419". */
static int lang_tag_ok(const char *s)
{
    size_t len = strnlen(s, LANG_SIZE);
    size_t base = lang_base_len(s);

    if (len < 2 || len >= LANG_SIZE || base < 2 || base > 8)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

static int number_check(const char *s, int optional, const char *what, char *err, size_t errsize)
{
    if (optional && (!s || !s[0]))
        return 0;
    if (!s || !s[0]) {
        sb_set_error(err, errsize, "%s is missing", what);
        return SB_EINVAL;
    }
    if (!e164_valid(s)) {
        sb_set_error(err, errsize, "%s is not an E.164 number ('+' and 7 to 15 digits)", what);
        return SB_EINVAL;
    }
    return 0;
}

static int target_check(const struct job_request *r, char *err, size_t errsize)
{
    const char *target = r->target ? r->target : "";
    int has_text = r->say_text && r->say_text[0];
    int rc;

    switch (r->kind) {
    case JOB_KIND_FLOW:
        if (!target[0]) {
            sb_set_error(err, errsize, "a flow call needs the flow's name");
            return SB_EINVAL;
        }
        rc = text_check(target, FLOW_REF_SIZE, 0, "flow name", err, errsize);
        if (rc < 0)
            return rc;
        break;
    case JOB_KIND_AGENT:
        if (!target[0]) {
            sb_set_error(err, errsize, "an agent call needs the agent's name");
            return SB_EINVAL;
        }
        if (strnlen(target, AGENT_NAME_SIZE) >= AGENT_NAME_SIZE) {
            sb_set_error(err, errsize, "agent name is longer than %d bytes", AGENT_NAME_SIZE - 1);
            return SB_ETOOBIG;
        }
        if (!agent_name_valid(target) && !agent_name_reserved(target)) {
            sb_set_error(err, errsize,
                         "agent name '%s' is not valid (letters, digits, '-', '_', '.')", target);
            return SB_EINVAL;
        }
        break;
    case JOB_KIND_SAY:
        if (target[0]) {
            sb_set_error(err, errsize, "a say call names no flow or agent");
            return SB_EINVAL;
        }
        if (!has_text) {
            sb_set_error(err, errsize, "a say call needs its text");
            return SB_EINVAL;
        }
        return text_check(r->say_text, JOB_SAY_MAX + 1, 1, "say text", err, errsize);
    default:
        sb_set_error(err, errsize, "unknown call kind %d (flow, agent or say)", (int)r->kind);
        return SB_EINVAL;
    }
    if (has_text) {
        sb_set_error(err, errsize, "only a say call has a text");
        return SB_EINVAL;
    }
    return 0;
}

int job_request_check_field(const struct job_request *r, const char **field, char *err,
                            size_t errsize)
{
    const char *f = NULL;
    int rc = 0;

    if (!r) {
        sb_set_error(err, errsize, "no request");
        rc = SB_EINVAL;
    } else if (!r->tenant || !r->tenant[0]) {
        f = "tenant";
        sb_set_error(err, errsize, "tenant is missing");
        rc = SB_EINVAL;
    } else if (strnlen(r->tenant, TENANT_NAME_SIZE) >= TENANT_NAME_SIZE) {
        f = "tenant";
        sb_set_error(err, errsize, "tenant name is longer than %d bytes", TENANT_NAME_SIZE - 1);
        rc = SB_ETOOBIG;
    } else if (r->campaign_id < 0) {
        f = "campaign_id";
        sb_set_error(err, errsize, "campaign id %lld is not valid", r->campaign_id);
        rc = SB_EINVAL;
    } else if ((rc = number_check(r->to, 0, "'to'", err, errsize)) < 0) {
        f = "to";
    } else if ((rc = number_check(r->from, 1, "'from'", err, errsize)) < 0) {
        f = "from";
    } else if ((rc = text_check(r->contact_name, JOB_NAME_SIZE, 0, "contact name", err, errsize)) <
               0) {
        f = "name";
    } else if (r->lang && r->lang[0] && !lang_tag_ok(r->lang)) {
        f = "lang";
        sb_set_error(err, errsize, "language is not a language tag like es-MX");
        rc = SB_EINVAL;
    } else if ((rc = target_check(r, err, errsize)) < 0) {
        /* The field of the kind asked for; a text on a flow or agent call is the say's. */
        f = r->kind == JOB_KIND_FLOW ? "flow" : r->kind == JOB_KIND_AGENT ? "agent" : "say";
        if (r->kind != JOB_KIND_SAY && r->target && r->target[0] && r->say_text && r->say_text[0])
            f = "say";
    } else if (r->not_before < 0) {
        f = "at";
        sb_set_error(err, errsize, "start time is before 1970");
        rc = SB_EINVAL;
    } else if (r->max_retries < 0 || r->max_retries > JOB_MAX_RETRIES) {
        f = "retries";
        sb_set_error(err, errsize, "retries must be 0 to %d", JOB_MAX_RETRIES);
        rc = SB_EINVAL;
    } else if (r->retry_delay_s < 0 || r->retry_delay_s > JOB_RETRY_DELAY_MAX_S) {
        f = "retry_delay_s";
        sb_set_error(err, errsize, "retry delay must be 0 to %d seconds", JOB_RETRY_DELAY_MAX_S);
        rc = SB_EINVAL;
    }
    if (field)
        *field = f;
    return rc < 0 ? rc : 0;
}

int job_request_check(const struct job_request *r, char *err, size_t errsize)
{
    return job_request_check_field(r, NULL, err, errsize);
}

static void hex_encode(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/* Feeds one field to a digest as "name=length:value;", so that no two requests run together. */
static int digest_field(EVP_MD_CTX *ctx, const char *name, const char *value)
{
    char head[64];
    size_t len = value ? strlen(value) : 0;
    int w = snprintf(head, sizeof(head), "%s=%zu:", name, len);

    return w > 0 && (size_t)w < sizeof(head) && EVP_DigestUpdate(ctx, head, (size_t)w) == 1 &&
           (len == 0 || EVP_DigestUpdate(ctx, value, len) == 1) &&
           EVP_DigestUpdate(ctx, ";", 1) == 1;
}

static int digest_int(EVP_MD_CTX *ctx, const char *name, long long v)
{
    char num[32];

    snprintf(num, sizeof(num), "%lld", v);
    return digest_field(ctx, name, num);
}

int job_request_hash(const struct job_request *r, char out[JOB_HASH_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx;
    int ok;

    if (!r || !out)
        return SB_EINVAL;
    out[0] = '\0';
    ctx = EVP_MD_CTX_new();
    if (!ctx)
        return SB_ENOMEM;
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
         digest_field(ctx, "v", "switchboard job request 1") &&
         digest_field(ctx, "tenant", r->tenant) && digest_int(ctx, "campaign", r->campaign_id) &&
         digest_field(ctx, "to", r->to) && digest_field(ctx, "from", r->from) &&
         digest_field(ctx, "name", r->contact_name) && digest_field(ctx, "lang", r->lang) &&
         digest_field(ctx, "kind", job_kind_name(r->kind)) &&
         digest_field(ctx, "target", r->target) && digest_field(ctx, "say", r->say_text) &&
         digest_int(ctx, "at", r->not_before) && digest_int(ctx, "retries", r->max_retries) &&
         digest_int(ctx, "delay", r->retry_delay_s) && digest_int(ctx, "amd", r->amd != 0) &&
         digest_int(ctx, "sms", r->sms_fallback != 0) && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 &&
         mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return SB_ENOMEM;
    hex_encode(md, mdlen, out);
    return 0;
}

/* The SHA-256 of `len` bytes in lower-case hex. Returns 0 or SB_ENOMEM. */
static int sha256_hex(const void *p, size_t len, char out[JOB_HASH_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return SB_ENOMEM;
    hex_encode(md, mdlen, out);
    return 0;
}

static int idempotency_key_ok(const char *key)
{
    size_t len = key ? strnlen(key, IDEMPOTENCY_KEY_SIZE) : 0;

    if (len == 0 || len >= IDEMPOTENCY_KEY_SIZE)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
            return 0;
    }
    return 1;
}

/* A tenant's name as given to a lookup: 1 to TENANT_NAME_SIZE-1 bytes. */
static int tenant_ok(const char *t)
{
    size_t len = t ? strnlen(t, TENANT_NAME_SIZE) : 0;

    return len > 0 && len < TENANT_NAME_SIZE;
}

/* A CallSid or other SID as Twilio sends it: visible ASCII that fits. */
static int sid_ok(const char *s)
{
    size_t len = s ? strnlen(s, CALL_SID_SIZE) : 0;

    if (len == 0 || len >= CALL_SID_SIZE)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    }
    return 1;
}

static int add(struct store *s, const struct job_request *r, const char *key, long long now,
               long long *id, int *replayed, char *err, size_t errsize)
{
    char hash[JOB_HASH_SIZE] = "";
    int rep = 0;
    int rc;

    if (!s || !id || now <= 0) {
        sb_set_error(err, errsize, "invalid argument");
        return SB_EINVAL;
    }
    rc = job_request_check(r, err, errsize);
    if (rc < 0)
        return rc;
    if (key) {
        if (!idempotency_key_ok(key)) {
            sb_set_error(err, errsize, "the idempotency key must be 1 to %d visible characters",
                         IDEMPOTENCY_KEY_SIZE - 1);
            return SB_EINVAL;
        }
        rc = job_request_hash(r, hash);
        if (rc < 0)
            return rc;
    }
    rc = s->ops->job_add(s, r, key, hash, now, id, &rep);
    if (rc == SB_ENOTFOUND && r->campaign_id)
        sb_set_error(err, errsize, "no tenant '%s' or no campaign %lld of it", r->tenant,
                     r->campaign_id);
    else if (rc == SB_ENOTFOUND)
        sb_set_error(err, errsize, "no tenant '%s'", r->tenant);
    else if (rc == SB_ECLOSED)
        sb_set_error(err, errsize, "campaign %lld is canceled", r->campaign_id);
    else if (rc == SB_EEXISTS)
        sb_set_error(err, errsize, "the idempotency key was used for another request");
    if (replayed)
        *replayed = rc == 0 ? rep : 0;
    return rc;
}

int job_add(struct store *s, const struct job_request *r, long long now, long long *id, char *err,
            size_t errsize)
{
    return add(s, r, NULL, now, id, NULL, err, errsize);
}

int job_add_idempotent(struct store *s, const struct job_request *r, const char *key, long long now,
                       long long *id, int *replayed, char *err, size_t errsize)
{
    if (!key || !replayed) {
        sb_set_error(err, errsize, "invalid argument");
        return SB_EINVAL;
    }
    return add(s, r, key, now, id, replayed, err, errsize);
}

int job_get(struct store *s, long long id, struct job *out)
{
    if (!s || id <= 0 || !out)
        return SB_EINVAL;
    return s->ops->job_get(s, id, NULL, out);
}

int job_get_by_call(struct store *s, const char *call_sid, struct job *out)
{
    if (!s || !sid_ok(call_sid) || !out)
        return SB_EINVAL;
    return s->ops->job_get(s, 0, call_sid, out);
}

int job_list(struct store *s, const struct job_filter *f, struct job **out, size_t *n)
{
    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (!s || !f || !out || !n || f->campaign_id < 0 || f->status < -1 ||
        f->status >= JOB_STATUS_COUNT || (f->tenant && f->tenant[0] && !tenant_ok(f->tenant)))
        return SB_EINVAL;
    return s->ops->job_list(s, f, out, n);
}

int job_claim_due(struct store *s, long long now, size_t limit, int cap, struct job **out,
                  size_t *n)
{
    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (!s || now <= 0 || cap < 0 || !out || !n)
        return SB_EINVAL;
    if (limit == 0)
        return 0;
    return s->ops->job_claim_due(s, now, limit, cap, out, n);
}

int job_placed(struct store *s, long long id, const char *call_sid, const char *from, long long now)
{
    if (!s || id <= 0 || !sid_ok(call_sid) || now <= 0 || (from && from[0] && !e164_valid(from)))
        return SB_EINVAL;
    return s->ops->job_placed(s, id, call_sid, from, now);
}

int job_status_by_call(struct store *s, long long job_id, const char *call_sid, const char *status,
                       const char *answered_by, long long now, struct job_update *out)
{
    int final = -2;

    if (out)
        memset(out, 0, sizeof(*out));
    for (size_t i = 0; status && i < COUNT(call_statuses); i++) {
        if (strcmp(status, call_statuses[i].name) == 0)
            final = call_statuses[i].final;
    }
    if (!s || !out || job_id < 0 || !sid_ok(call_sid) || final == -2 || now <= 0)
        return SB_EINVAL;
    if (answered_by && answered_by[0]) {
        size_t len = strnlen(answered_by, ANSWERED_BY_SIZE);

        if (len >= ANSWERED_BY_SIZE || strspn(answered_by, "abcdefghijklmnopqrstuvwxyz_-") != len)
            return SB_EINVAL;
    }
    return s->ops->job_status_by_call(s, job_id, call_sid, final, answered_by, now, out);
}

int job_release_placing(struct store *s, long long id, long long retry_at, const char *reason,
                        long long now, struct job_update *out)
{
    struct job_update ignored;
    char why[JOB_ERROR_SIZE];

    if (out)
        memset(out, 0, sizeof(*out));
    if (!s || id <= 0 || retry_at < 0 || now <= 0)
        return SB_EINVAL;
    /* A reason is for people: cut to fit, never refused. */
    snprintf(why, sizeof(why), "%s", reason ? reason : "");
    if (!utf8_valid(why, strlen(why)))
        snprintf(why, sizeof(why), "create failed");
    return s->ops->job_release(s, id, retry_at, why, now, out ? out : &ignored);
}

int job_list_placing(struct store *s, struct job **out, size_t *n)
{
    struct job_filter f = {.status = JOB_PLACING};

    return job_list(s, &f, out, n);
}

int job_resolve_placing(struct store *s, long long id, const char *call_sid, const char *from,
                        long long now)
{
    struct job_update u;

    if (call_sid)
        return job_placed(s, id, call_sid, from, now);
    return job_release_placing(s, id, now, "no call found after a restart", now, &u);
}

int job_cancel(struct store *s, long long id, long long now)
{
    if (!s || id <= 0 || now <= 0)
        return SB_EINVAL;
    return s->ops->job_cancel(s, id, now);
}

int job_mark_sms_sent(struct store *s, long long id, int *already)
{
    if (!s || id <= 0 || !already)
        return SB_EINVAL;
    return s->ops->job_mark_sms_sent(s, id, already);
}

int campaign_add(struct store *s, const char *tenant, const char *name, long long now,
                 long long *id)
{
    if (!s || !tenant_ok(tenant) || !name || !name[0] || now <= 0 || !id ||
        text_check(name, CAMPAIGN_NAME_SIZE, 0, "campaign name", NULL, 0) < 0)
        return SB_EINVAL;
    return s->ops->campaign_add(s, tenant, name, now, id);
}

int campaign_get(struct store *s, long long id, struct campaign *out)
{
    if (!s || id <= 0 || !out)
        return SB_EINVAL;
    return s->ops->campaign_get(s, id, out);
}

int campaign_list(struct store *s, const char *tenant, struct campaign **out, size_t *n)
{
    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (!s || !out || !n || (tenant && tenant[0] && !tenant_ok(tenant)))
        return SB_EINVAL;
    return s->ops->campaign_list(s, tenant, out, n);
}

int campaign_set_status(struct store *s, long long id, enum campaign_status st, long long now)
{
    if (!s || id <= 0 || (unsigned)st >= COUNT(campaign_status_names) || now <= 0)
        return SB_EINVAL;
    return s->ops->campaign_set_status(s, id, (int)st, now);
}

int campaign_import(struct store *s, long long campaign_id, const struct job_request *reqs,
                    size_t n, long long now, size_t *bad, char *err, size_t errsize)
{
    char why[256];
    int rc;

    if (!s || campaign_id <= 0 || !reqs || n == 0 || now <= 0) {
        sb_set_error(err, errsize, "invalid argument");
        return SB_EINVAL;
    }
    if (n > CAMPAIGN_IMPORT_MAX) {
        sb_set_error(err, errsize, "a campaign file holds at most %d calls", CAMPAIGN_IMPORT_MAX);
        return SB_ETOOBIG;
    }
    for (size_t i = 0; i < n; i++) {
        /* The campaign decides the tenant: check the rest with a stand-in for it. */
        struct job_request r = reqs[i];

        r.tenant = "-";
        r.campaign_id = campaign_id;
        rc = job_request_check(&r, why, sizeof(why));
        if (rc < 0) {
            if (bad)
                *bad = i;
            sb_set_error(err, errsize, "row %zu: %s", i + 1, why);
            return rc;
        }
    }
    rc = s->ops->campaign_import(s, campaign_id, reqs, n, now);
    if (rc == SB_ENOTFOUND)
        sb_set_error(err, errsize, "no campaign %lld", campaign_id);
    else if (rc == SB_ECLOSED)
        sb_set_error(err, errsize, "campaign %lld is canceled", campaign_id);
    return rc;
}

int optout_set(struct store *s, const char *tenant, const char *number, int on, long long now)
{
    if (!s || !tenant_ok(tenant) || !number || !e164_valid(number) || now <= 0)
        return SB_EINVAL;
    return s->ops->optout_set(s, tenant, number, on, now);
}

int transfer_text_mark(struct store *s, const char *tenant, const char *call_sid, long long now,
                       int *already)
{
    if (!s || !tenant_ok(tenant) || !call_sid || !*call_sid || strlen(call_sid) >= CALL_SID_SIZE ||
        now <= 0 || !already)
        return SB_EINVAL;
    return s->ops->transfer_text_mark(s, tenant, call_sid, now, already);
}

int optout_check(struct store *s, const char *tenant, const char *number, int *out)
{
    if (out)
        *out = 0;
    if (!s || !tenant_ok(tenant) || !number || !e164_valid(number) || !out)
        return SB_EINVAL;
    return s->ops->optout_check(s, tenant, number, out);
}

int api_key_create(struct store *s, const char *tenant, const char *name, long long now,
                   char secret[API_KEY_SECRET_SIZE], long long *id)
{
    unsigned char random[API_KEY_RANDOM_BYTES];
    char hash[JOB_HASH_SIZE];
    char prefix[API_KEY_PREFIX_SIZE];
    long long got = 0;
    int rc;

    if (secret)
        secret[0] = '\0';
    if (!s || !tenant_ok(tenant) || now <= 0 || !secret ||
        text_check(name, API_KEY_NAME_SIZE, 0, "key name", NULL, 0) < 0)
        return SB_EINVAL;
    if (RAND_bytes(random, sizeof(random)) != 1)
        return SB_EIO;
    memcpy(secret, API_KEY_TAG, sizeof(API_KEY_TAG) - 1);
    hex_encode(random, sizeof(random), secret + sizeof(API_KEY_TAG) - 1);
    OPENSSL_cleanse(random, sizeof(random));
    memcpy(prefix, secret, sizeof(prefix) - 1);
    prefix[sizeof(prefix) - 1] = '\0';
    rc = sha256_hex(secret, strlen(secret), hash);
    if (rc == 0)
        rc = s->ops->api_key_add(s, tenant, hash, prefix, name, now, &got);
    if (rc < 0) {
        OPENSSL_cleanse(secret, API_KEY_SECRET_SIZE);
        secret[0] = '\0';
        return rc;
    }
    if (id)
        *id = got;
    return 0;
}

int api_key_verify(struct store *s, const char *secret, char tenant[TENANT_NAME_SIZE],
                   long long *id)
{
    char hash[JOB_HASH_SIZE];
    long long got = 0;
    size_t len;
    int rc;

    if (tenant)
        tenant[0] = '\0';
    if (!s || !tenant)
        return SB_EINVAL;
    len = secret ? strnlen(secret, API_KEY_SECRET_SIZE) : 0;
    if (len != API_KEY_SECRET_SIZE - 1 || strncmp(secret, API_KEY_TAG, sizeof(API_KEY_TAG) - 1) ||
        strspn(secret + sizeof(API_KEY_TAG) - 1, "0123456789abcdef") !=
            len - (sizeof(API_KEY_TAG) - 1))
        return SB_ENOTFOUND;
    rc = sha256_hex(secret, len, hash);
    if (rc == 0)
        rc = s->ops->api_key_find(s, hash, tenant, TENANT_NAME_SIZE, &got);
    if (rc == 0 && id)
        *id = got;
    return rc;
}

int api_key_revoke(struct store *s, const char *tenant, long long id)
{
    if (!s || !tenant_ok(tenant) || id <= 0)
        return SB_EINVAL;
    return s->ops->api_key_revoke(s, tenant, id);
}

int api_key_list(struct store *s, const char *tenant, struct api_key **out, size_t *n)
{
    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (!s || !out || !n || (tenant && tenant[0] && !tenant_ok(tenant)))
        return SB_EINVAL;
    return s->ops->api_key_list(s, tenant, out, n);
}

int idempotency_get(struct store *s, const char *tenant, const char *key, long long now,
                    struct idempotency *out)
{
    if (!s || !tenant_ok(tenant) || !idempotency_key_ok(key) || now <= 0 || !out)
        return SB_EINVAL;
    return s->ops->idempotency_get(s, tenant, key, now, out);
}

int idempotency_put(struct store *s, const char *tenant, const char *key, const char *request_hash,
                    long long job_id, long long now)
{
    if (!s || !tenant_ok(tenant) || !idempotency_key_ok(key) || job_id <= 0 || now <= 0 ||
        !request_hash || strnlen(request_hash, JOB_HASH_SIZE) != JOB_HASH_SIZE - 1 ||
        strspn(request_hash, "0123456789abcdef") != JOB_HASH_SIZE - 1)
        return SB_EINVAL;
    return s->ops->idempotency_put(s, tenant, key, request_hash, job_id, now);
}

/* A rate's key: 1 to RATE_KEY_SIZE-1 visible ASCII characters. */
static int rate_key_ok(const char *key)
{
    size_t len = key ? strnlen(key, RATE_KEY_SIZE) : 0;

    if (len == 0 || len >= RATE_KEY_SIZE)
        return 0;
    for (const char *c = key; *c; c++) {
        if (*c <= 0x20 || *c >= 0x7f)
            return 0;
    }
    return 1;
}

int rate_take(struct store *s, const char *key, long long now_ms, int limit, long long *wait_ms)
{
    if (wait_ms)
        *wait_ms = 0;
    /* Far from overflow: the window's bounds are computed from now_ms. */
    if (!s || !rate_key_ok(key) || now_ms <= 0 || now_ms > INT64_MAX / 4 || limit < 1 || !wait_ms)
        return SB_EINVAL;
    return s->ops->rate_take(s, key, now_ms, limit, wait_ms);
}

int job_retried_after(const struct job *j, enum job_status status)
{
    return (status == JOB_BUSY || status == JOB_NO_ANSWER) && j->attempts <= j->max_retries;
}

int job_sms_wanted(const struct job *j, enum job_status status)
{
    return j->sms_fallback && !j->sms_sent &&
           (status == JOB_BUSY || status == JOB_NO_ANSWER || status == JOB_FAILED);
}
