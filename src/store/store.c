/*
 * The store interface: every store_* function checks its arguments and
 * dispatches through the ops table at the head of the connection, so that
 * callers never know which backend they talk to.
 */
#include "store/store.h"
#include "store/target.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/utf8.h"
#include "core/banned.h"

static const char *const plan_names[] = {"starter", "pro", "enterprise", "relay"};

/* ConversationRelay's providers, spelt as its TwiML attributes take them. */
static const char *const relay_tts_providers[] = {"ElevenLabs", "Google", "Amazon"};
static const char *const relay_transcription_providers[] = {"Deepgram", "Google"};

const char *plan_name(enum plan p)
{
    if ((unsigned)p >= sizeof(plan_names) / sizeof(plan_names[0]))
        return "unknown";
    return plan_names[p];
}

int plan_parse(const char *s, enum plan *out)
{
    int rc = SB_EINVAL;

    if (!s || !out)
        goto out;
    for (size_t i = 0; i < sizeof(plan_names) / sizeof(plan_names[0]); i++) {
        if (strcmp(s, plan_names[i]) == 0) {
            *out = (enum plan)i;
            rc = 0;
            goto out;
        }
    }
out:
    return rc;
}

/* Finds `s` in `names` ignoring case; returns the canonical spelling or NULL. */
static const char *canonical(const char *const *names, size_t n, const char *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(s, names[i]) == 0)
            return names[i];
    }
    return NULL;
}

const char *relay_tts_provider_canonical(const char *s)
{
    return canonical(relay_tts_providers,
                     sizeof(relay_tts_providers) / sizeof(relay_tts_providers[0]), s);
}

const char *relay_transcription_provider_canonical(const char *s)
{
    return canonical(
        relay_transcription_providers,
        sizeof(relay_transcription_providers) / sizeof(relay_transcription_providers[0]), s);
}

/*
 * Picks the backend for a target (store/target.h) and the name it opens: a
 * PostgreSQL URL as it is (libpq reads it), "sqlite:FILE" as FILE, anything
 * else as the name of a SQLite file.
 */
static const struct store_ops *backend_for(const char *target, const char **name)
{
    *name = target;
    if (store_target_engine(target) == STORE_POSTGRES)
        return &store_postgres_ops;
    *name = store_target_sqlite_path(target);
    return *name[0] ? &store_sqlite_ops : NULL;
}

int store_open(struct store **out, const char *path)
{
    const struct store_ops *ops;
    const char *name;
    int rc;

    if (!out || !path || !*path) {
        rc = SB_EINVAL;
        goto out;
    }
    *out = NULL;
    ops = backend_for(path, &name);
    if (!ops) {
        log_event(LOG_ERROR, "store.open", "reason=\"no backend for this target\"");
        rc = SB_EINVAL;
        goto out;
    }
    rc = ops->open(out, name);
out:
    return rc;
}

void store_close(struct store *s)
{
    if (s)
        s->ops->close(s);
}

int store_begin(struct store *s)
{
    return s ? s->ops->begin(s) : SB_EINVAL;
}

int store_commit(struct store *s)
{
    return s ? s->ops->commit(s) : SB_EINVAL;
}

int store_rollback(struct store *s)
{
    return s ? s->ops->rollback(s) : SB_EINVAL;
}

/* True when `s` is NUL-terminated within its `size` bytes. */
static int field_terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

/* True when `v` is "" or the canonical spelling that `canon` gives it. */
static int provider_valid(const char *v, size_t size, const char *(*canon)(const char *))
{
    const char *c;

    if (!field_terminated(v, size))
        return 0;
    if (!v[0])
        return 1;
    c = canon(v);
    return c && strcmp(c, v) == 0;
}

static int relay_voice_valid(const struct tenant_relay_voice *r)
{
    return field_terminated(r->lang, sizeof(r->lang)) && r->lang[0] &&
           provider_valid(r->tts_provider, sizeof(r->tts_provider), relay_tts_provider_canonical) &&
           field_terminated(r->voice, sizeof(r->voice)) &&
           /* A provider's voice means nothing without the provider. */
           (!r->voice[0] || r->tts_provider[0]) &&
           provider_valid(r->transcription_provider, sizeof(r->transcription_provider),
                          relay_transcription_provider_canonical);
}

/* Checks the name and the fields of `t` that `fields` names. */
static int tenant_valid(const struct tenant *t, unsigned fields)
{
    if (!field_terminated(t->name, sizeof(t->name)) || !t->name[0])
        return 0;
    if ((fields & TENANT_FIELD_DEFAULT_LANG) &&
        !field_terminated(t->default_lang, sizeof(t->default_lang)))
        return 0;
    if ((fields & TENANT_FIELD_TRANSFER) &&
        !field_terminated(t->transfer_number, sizeof(t->transfer_number)))
        return 0;
    if ((fields & TENANT_FIELD_TIMEZONE) && !field_terminated(t->timezone, sizeof(t->timezone)))
        return 0;
    if ((fields & TENANT_FIELD_SMS_FALLBACK) &&
        (!field_terminated(t->sms_fallback, sizeof(t->sms_fallback)) ||
         !utf8_valid(t->sms_fallback, strlen(t->sms_fallback))))
        return 0;
    if (fields & TENANT_FIELD_LANGS) {
        if (t->nlangs < 0 || t->nlangs > TENANT_MAX_LANGS)
            return 0;
        for (int i = 0; i < t->nlangs; i++) {
            const struct tenant_lang *l = &t->langs[i];

            if (!field_terminated(l->lang, sizeof(l->lang)) || !l->lang[0] ||
                !field_terminated(l->voice, sizeof(l->voice)) ||
                !field_terminated(l->greeting, sizeof(l->greeting)))
                return 0;
        }
    }
    if (fields & TENANT_FIELD_RELAY) {
        if (t->nrelay < 0 || t->nrelay > TENANT_MAX_LANGS)
            return 0;
        for (int i = 0; i < t->nrelay; i++) {
            if (!relay_voice_valid(&t->relay[i]))
                return 0;
        }
    }
    return 1;
}

int store_tenant_add(struct store *s, const struct tenant *t)
{
    if (!s || !t || !tenant_valid(t, TENANT_FIELDS_ALL))
        return SB_EINVAL;
    return s->ops->tenant_add(s, t);
}

int store_tenant_remove(struct store *s, const char *name)
{
    return s && name ? s->ops->tenant_remove(s, name) : SB_EINVAL;
}

int store_tenant_get(struct store *s, const char *name, struct tenant *out)
{
    return s && name && out ? s->ops->tenant_get(s, name, out) : SB_EINVAL;
}

int store_tenant_list(struct store *s, struct tenant **out, size_t *n)
{
    return s && out && n ? s->ops->tenant_list(s, out, n) : SB_EINVAL;
}

int store_tenant_update(struct store *s, const struct tenant *t, unsigned fields)
{
    if (!s || !t || fields == 0 || (fields & ~TENANT_FIELDS_ALL) || !tenant_valid(t, fields))
        return SB_EINVAL;
    return s->ops->tenant_update(s, t, fields);
}

int store_number_add(struct store *s, const struct number *n)
{
    return s && n ? s->ops->number_add(s, n) : SB_EINVAL;
}

int store_number_remove(struct store *s, const char *e164)
{
    return s && e164 ? s->ops->number_remove(s, e164) : SB_EINVAL;
}

int store_number_list(struct store *s, struct number **out, size_t *n)
{
    return s && out && n ? s->ops->number_list(s, out, n) : SB_EINVAL;
}

int store_routes_version(struct store *s, long long *version)
{
    return s && version ? s->ops->routes_version(s, version) : SB_EINVAL;
}

static int call_valid(const struct call_record *c)
{
    return field_terminated(c->call_sid, sizeof(c->call_sid)) && c->call_sid[0] &&
           field_terminated(c->tenant, sizeof(c->tenant)) &&
           field_terminated(c->direction, sizeof(c->direction)) &&
           field_terminated(c->from, sizeof(c->from)) && field_terminated(c->to, sizeof(c->to)) &&
           field_terminated(c->status, sizeof(c->status)) &&
           field_terminated(c->lang, sizeof(c->lang));
}

static int event_valid(const struct status_event *e)
{
    return field_terminated(e->call_sid, sizeof(e->call_sid)) && e->call_sid[0] &&
           field_terminated(e->status, sizeof(e->status)) &&
           field_terminated(e->direction, sizeof(e->direction)) &&
           field_terminated(e->from, sizeof(e->from)) && field_terminated(e->to, sizeof(e->to));
}

int store_call_insert(struct store *s, const struct call_record *c)
{
    return s && c && call_valid(c) ? s->ops->call_insert(s, c) : SB_EINVAL;
}

int store_status_apply(struct store *s, const struct status_event *e, enum status_outcome *out)
{
    return s && e && out && event_valid(e) ? s->ops->status_apply(s, e, out) : SB_EINVAL;
}

int store_status_apply_many(struct store *s, const struct status_event *const *events, size_t n,
                            int *rcs, enum status_outcome *outs)
{
    int rc = 0;

    if (!s || (n && (!events || !rcs || !outs)))
        return SB_EINVAL;
    for (size_t i = 0; i < n; i++)
        rcs[i] = events[i] && event_valid(events[i]) ? 0 : SB_EINVAL;
    if (s->ops->status_apply_many) {
        /* The backend checks its own; the ones refused here are not sent. */
        const struct status_event **ok = calloc(n ? n : 1, sizeof(*ok));
        int *okrc = calloc(n ? n : 1, sizeof(*okrc));
        enum status_outcome *okout = calloc(n ? n : 1, sizeof(*okout));
        size_t m = 0;

        if (!ok || !okrc || !okout) {
            free(ok);
            free(okrc);
            free(okout);
            return SB_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            if (rcs[i] == 0)
                ok[m++] = events[i];
        }
        rc = m ? s->ops->status_apply_many(s, ok, m, okrc, okout) : 0;
        for (size_t i = 0, k = 0; i < n; i++) {
            if (rcs[i] != 0)
                continue;
            rcs[i] = okrc[k];
            outs[i] = okout[k++];
        }
        free(ok);
        free(okrc);
        free(okout);
        return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (rcs[i] != 0)
            continue;
        rcs[i] = s->ops->status_apply(s, events[i], &outs[i]);
        if (rcs[i] < 0 && rcs[i] != SB_EINVAL)
            rc = rcs[i];
    }
    for (size_t i = 0; rc < 0 && i < n; i++)
        rcs[i] = rcs[i] == SB_EINVAL ? SB_EINVAL : rc;
    return rc;
}

long long store_at_or_now_ms(long long at)
{
    return at > 0 ? at : clock_wall_ms();
}

int store_call_list(struct store *s, size_t limit, struct call_record **out, size_t *n)
{
    return s && out && n ? s->ops->call_list(s, limit, out, n) : SB_EINVAL;
}

int store_call_get(struct store *s, const char *call_sid, struct call_record *out)
{
    return s && call_sid && out ? s->ops->call_get(s, call_sid, out) : SB_EINVAL;
}

int store_ping(struct store *s)
{
    return s ? s->ops->ping(s) : SB_EINVAL;
}

int store_stream_record(struct store *s, const struct stream_record *r)
{
    if (!s || !r || !r->stream_sid[0] || !r->call_sid[0])
        return SB_EINVAL;
    return s->ops->stream_record(s, r);
}

int store_stream_list(struct store *s, const char *call_sid, struct stream_record **out, size_t *n)
{
    if (!s || !call_sid || !out || !n)
        return SB_EINVAL;
    *out = NULL;
    *n = 0;
    return s->ops->stream_list(s, call_sid, out, n);
}

int store_flow_put(struct store *s, const char *tenant, const char *name, const char *json)
{
    if (!s || !tenant || !*tenant || !name || !*name || !json)
        return SB_EINVAL;
    return s->ops->flow_put(s, tenant, name, json);
}

int store_flow_get(struct store *s, const char *tenant, const char *name, char **json)
{
    if (!s || !tenant || !name || !json)
        return SB_EINVAL;
    return s->ops->flow_get(s, tenant, name, json);
}

int store_flow_list(struct store *s, const char *tenant, struct flow_ref **out, size_t *n)
{
    if (!s || !out || !n)
        return SB_EINVAL;
    *out = NULL;
    *n = 0;
    return s->ops->flow_list(s, tenant, out, n);
}

int store_number_set_flow(struct store *s, const char *e164, const char *flow)
{
    if (!s || !e164 || !flow || strlen(flow) >= FLOW_REF_SIZE)
        return SB_EINVAL;
    return s->ops->number_set_flow(s, e164, flow);
}

int store_flow_call_get(struct store *s, const char *call_sid, struct flow_call *out)
{
    if (!s || !call_sid || !out)
        return SB_EINVAL;
    return s->ops->flow_call_get(s, call_sid, out);
}

int store_flow_call_put(struct store *s, const struct flow_call *c)
{
    if (!s || !c || !c->call_sid[0])
        return SB_EINVAL;
    return s->ops->flow_call_put(s, c);
}

int store_recording_put(struct store *s, const struct recording *r)
{
    if (!s || !r || !r->recording_sid[0] || !r->call_sid[0])
        return SB_EINVAL;
    return s->ops->recording_put(s, r);
}

int store_recording_list(struct store *s, const char *call_sid, struct recording **out, size_t *n)
{
    if (!s || !call_sid || !out || !n)
        return SB_EINVAL;
    *out = NULL;
    *n = 0;
    return s->ops->recording_list(s, call_sid, out, n);
}

int store_schema_version(struct store *s, long long *version)
{
    return s && version ? s->ops->schema_version(s, version) : SB_EINVAL;
}

int store_changes_wait(struct store *s, int timeout_ms, int *changed)
{
    if (!s || !changed || timeout_ms < 0)
        return SB_EINVAL;
    if (!s->ops->changes_wait)
        return SB_EINVAL;
    return s->ops->changes_wait(s, timeout_ms, changed);
}
