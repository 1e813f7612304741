/*
 * The store: tenants, numbers and the call log (agents, their knowledge and
 * call transcripts: store/agents.h). Nothing above this interface
 * writes SQL. A store is one connection, used by one thread at a time; the
 * server opens one for the loop (reads) and the writer thread opens its own.
 * Backends plug in through struct store_ops (SQLite and PostgreSQL).
 */
#ifndef SB_STORE_STORE_H
#define SB_STORE_STORE_H

#include <stddef.h>

#include "core/e164.h"
#include "core/err.h"
#include "core/phone.h"

/*
 * starter: the speech <Gather> loop; pro and enterprise: Media Streams;
 * relay: Twilio's ConversationRelay (Twilio hears and speaks, the agent
 * talks over a WebSocket).
 */
enum plan { PLAN_STARTER, PLAN_PRO, PLAN_ENTERPRISE, PLAN_RELAY };

/** Returns "starter", "pro", "enterprise" or "relay". */
const char *plan_name(enum plan p);

/** Parses a plan name. Returns 0 or SB_EINVAL. */
SB_MUST_CHECK int plan_parse(const char *s, enum plan *out);

#define TENANT_NAME_SIZE 64
#define LANG_SIZE 16
#define VOICE_SIZE 64
#define GREETING_SIZE 512
#define TIMEZONE_SIZE 64
/* The SMS fallback template: at most 1600 characters of UTF-8 (4 bytes each), with its NUL. */
#define TENANT_SMS_FALLBACK_CHARS 1600
#define TENANT_SMS_FALLBACK_SIZE (4 * TENANT_SMS_FALLBACK_CHARS + 1)
#define AGENT_SIZE 32
#define TENANT_MAX_LANGS 8
#define CALL_SID_SIZE SID_SIZE
#define PARTY_SIZE 128 /* From/To as Twilio sends them: E.164, client:x, sip:... */
#define STATUS_SIZE 16
#define DIRECTION_SIZE 24

/* Per-language voice and greeting of a tenant. */
struct tenant_lang {
    char lang[LANG_SIZE]; /* "en-US", "es-MX", "es" */
    char voice[VOICE_SIZE];
    char greeting[GREETING_SIZE];
};

/*
 * The ConversationRelay speech of one language: ConversationRelay voices are
 * the providers' own ("ElevenLabs" + a voice ID, "Google" + "es-US-Neural2-A"),
 * not <Say> voices. "" leaves a field to Twilio's default.
 */
#define RELAY_PROVIDER_SIZE 32
struct tenant_relay_voice {
    char lang[LANG_SIZE];
    char tts_provider[RELAY_PROVIDER_SIZE];           /* "ElevenLabs", "Google", "Amazon" */
    char voice[VOICE_SIZE];                           /* the provider's voice name or ID */
    char transcription_provider[RELAY_PROVIDER_SIZE]; /* "Deepgram", "Google" */
};

struct tenant {
    char name[TENANT_NAME_SIZE];
    char default_lang[LANG_SIZE];
    char transfer_number[E164_SIZE]; /* "" when none */
    char timezone[TIMEZONE_SIZE];    /* IANA name, "UTC" by default */
    struct tenant_lang langs[TENANT_MAX_LANGS];
    int nlangs;
    struct tenant_relay_voice relay[TENANT_MAX_LANGS]; /* per language; none: Twilio's defaults */
    int nrelay;
    /* Texted when a job with --sms-fallback ends unreached; "" when none. */
    char sms_fallback[TENANT_SMS_FALLBACK_SIZE];
};

/*
 * The canonical spelling of a ConversationRelay text-to-speech provider
 * ("ElevenLabs", "Google", "Amazon") for `s` in any case, or of a
 * transcription provider ("Deepgram", "Google"). Returns a static string, or
 * NULL when `s` names none (NULL and "" included).
 */
const char *relay_tts_provider_canonical(const char *s);
const char *relay_transcription_provider_canonical(const char *s);

/* Which fields store_tenant_update writes; the others keep their stored values. */
enum tenant_field {
    TENANT_FIELD_DEFAULT_LANG = 1u << 0,
    TENANT_FIELD_TRANSFER = 1u << 1,
    TENANT_FIELD_TIMEZONE = 1u << 2,
    /* Each entry of langs[] replaces that language's voice and greeting, or adds it. */
    TENANT_FIELD_LANGS = 1u << 3,
    /* Each entry of relay[] replaces that language's relay voice, or adds it. */
    TENANT_FIELD_RELAY = 1u << 4,
    TENANT_FIELD_SMS_FALLBACK = 1u << 5,
};

#define TENANT_FIELDS_ALL 0x3fu

#define FLOW_REF_SIZE 64

struct number {
    char e164[E164_SIZE];
    char tenant[TENANT_NAME_SIZE];
    enum plan plan;
    char agent[AGENT_SIZE];
    int active;
    char flow[FLOW_REF_SIZE]; /* the IVR flow answering it, "" for the plan's default */
};

/* A stored flow's key. */
struct flow_ref {
    char tenant[TENANT_NAME_SIZE];
    char name[FLOW_REF_SIZE];
};

/* Where a call is in its IVR flow, and the last answer given (for retried webhooks). */
struct flow_call {
    char call_sid[CALL_SID_SIZE];
    char tenant[TENANT_NAME_SIZE];
    char flow[FLOW_REF_SIZE];
    char node[FLOW_REF_SIZE];
    int attempts;
    int steps;
    char lang[LANG_SIZE];
    int done;
    int step_no;      /* answers given so far */
    char *last_twiml; /* owned: the last answer, replayed for a retried request */
};

/* A recording made on a call (voicemail). */
struct recording {
    char recording_sid[CALL_SID_SIZE];
    char call_sid[CALL_SID_SIZE];
    char url[256];
    long duration;
    char status[16];
    long long at;
};

struct call_record {
    char call_sid[CALL_SID_SIZE];
    char tenant[TENANT_NAME_SIZE]; /* "" when the number is unknown */
    char direction[DIRECTION_SIZE];
    char from[PARTY_SIZE];
    char to[PARTY_SIZE];
    char status[STATUS_SIZE];
    long duration; /* seconds, -1 until known */
    char lang[LANG_SIZE];
    long long started_at; /* unix seconds */
    long long ended_at;   /* unix seconds, 0 until the call ends */
};

/* One status callback, as applied to the call log. */
struct status_event {
    char call_sid[CALL_SID_SIZE];
    long sequence; /* SequenceNumber, -1 when absent (dedupe by status then) */
    char status[STATUS_SIZE];
    long duration;                  /* CallDuration seconds, -1 when absent */
    long long at;                   /* when the event happened (unix seconds) */
    char direction[DIRECTION_SIZE]; /* used only to create an unknown call */
    char from[PARTY_SIZE];
    char to[PARTY_SIZE];
};

/* Outcome of store_status_apply. */
enum status_outcome {
    STATUS_APPLIED,   /* the call moved forward */
    STATUS_DUPLICATE, /* this (CallSid, SequenceNumber) was seen before */
    STATUS_STALE,     /* new event, but it would move the call backwards: recorded, not applied */
};

/* One Media Stream of a call, as recorded when it stops. */
struct stream_record {
    char stream_sid[CALL_SID_SIZE];
    char call_sid[CALL_SID_SIZE];
    long long started_at; /* unix ms */
    long long stopped_at; /* unix ms */
    char reason[32];      /* stop, transfer, hangup, replaced, disconnect, error */
    long duration_ms;
    long frames_in;
    long frames_out;
};

/*
 * The common head of every backend's connection. A backend embeds it as the
 * first member of its own connection struct so that the store_* functions
 * can find the ops table; callers treat it as opaque and never allocate it.
 */
struct store {
    const struct store_ops *ops;
};

/* The types of store/agents.h, which the backend table names. */
struct agent_config;
struct knowledge_passage;
struct knowledge_file;
struct call_turn;
struct call_message;

/* The types of store/jobs.h, which the backend table names. */
struct job_request;
struct job;
struct job_filter;
struct job_update;
struct campaign;
struct api_key;
struct idempotency;

/* A backend. Every function returns 0 or a negative SB_E* code. */
struct store_ops {
    const char *name;
    int (*open)(struct store **out, const char *target);
    void (*close)(struct store *s);
    int (*begin)(struct store *s);
    int (*commit)(struct store *s);
    int (*rollback)(struct store *s);
    int (*tenant_add)(struct store *s, const struct tenant *t);
    int (*tenant_remove)(struct store *s, const char *name);
    int (*tenant_get)(struct store *s, const char *name, struct tenant *out);
    int (*tenant_list)(struct store *s, struct tenant **out, size_t *n);
    int (*tenant_update)(struct store *s, const struct tenant *t, unsigned fields);
    int (*number_add)(struct store *s, const struct number *n);
    int (*number_remove)(struct store *s, const char *e164);
    int (*number_list)(struct store *s, struct number **out, size_t *n);
    int (*routes_version)(struct store *s, long long *version);
    int (*call_insert)(struct store *s, const struct call_record *c);
    int (*status_apply)(struct store *s, const struct status_event *e, enum status_outcome *out);
    /* NULL: store_status_apply_many applies them one by one. */
    int (*status_apply_many)(struct store *s, const struct status_event *const *e, size_t n,
                             int *rcs, enum status_outcome *outs);
    int (*call_list)(struct store *s, size_t limit, struct call_record **out, size_t *n);
    int (*call_get)(struct store *s, const char *call_sid, struct call_record *out);
    int (*ping)(struct store *s);
    int (*stream_record)(struct store *s, const struct stream_record *r);
    int (*stream_list)(struct store *s, const char *call_sid, struct stream_record **out,
                       size_t *n);
    int (*flow_put)(struct store *s, const char *tenant, const char *name, const char *json);
    int (*flow_get)(struct store *s, const char *tenant, const char *name, char **json);
    int (*flow_list)(struct store *s, const char *tenant, struct flow_ref **out, size_t *n);
    int (*number_set_flow)(struct store *s, const char *e164, const char *flow);
    int (*flow_call_get)(struct store *s, const char *call_sid, struct flow_call *out);
    int (*flow_call_put)(struct store *s, const struct flow_call *c);
    int (*recording_put)(struct store *s, const struct recording *r);
    int (*recording_list)(struct store *s, const char *call_sid, struct recording **out, size_t *n);
    /* Agents, knowledge and transcripts (store/agents.h checks the arguments first). */
    int (*agent_add)(struct store *s, const struct agent_config *c);
    int (*agent_update)(struct store *s, const struct agent_config *c, unsigned fields);
    int (*agent_get)(struct store *s, const char *tenant, const char *name,
                     struct agent_config *out);
    int (*agent_list)(struct store *s, const char *tenant, struct agent_config **out, size_t *n);
    int (*agent_remove)(struct store *s, const char *tenant, const char *name);
    /* Replaces the passages of one file (an agent's) with `p`, in one transaction. */
    int (*knowledge_put)(struct store *s, const char *tenant, const char *agent, const char *file,
                         long long bytes, const struct knowledge_passage *p, size_t np);
    int (*knowledge_file_list)(struct store *s, const char *tenant, const char *agent,
                               struct knowledge_file **out, size_t *n);
    /* `terms` are words without syntax; any of them matches, best (bm25) first. */
    int (*knowledge_search)(struct store *s, const char *tenant, const char *agent,
                            const char *const *terms, size_t nterms, size_t k,
                            struct knowledge_passage **out, size_t *n);
    int (*turn_append)(struct store *s, const struct call_turn *t, int *seq);
    int (*turn_list)(struct store *s, const char *call_sid, struct call_turn **out, size_t *n);
    int (*message_add)(struct store *s, const struct call_message *m);
    int (*message_list)(struct store *s, const char *call_sid, struct call_message **out,
                        size_t *n);
    /*
     * Outbound jobs, campaigns, opt-outs, API keys and idempotency keys
     * (store/jobs.h checks the arguments first). `key` NULL adds a job
     * without an idempotency key; `call_sid` NULL gets a job by id, else by
     * its call; `final` is a final enum job_status or -1.
     */
    int (*job_add)(struct store *s, const struct job_request *r, const char *key,
                   const char *request_hash, long long now, long long *id, int *replayed);
    int (*job_get)(struct store *s, long long id, const char *call_sid, struct job *out);
    int (*job_list)(struct store *s, const struct job_filter *f, struct job **out, size_t *n);
    int (*job_claim_due)(struct store *s, long long now, size_t limit, int cap, struct job **out,
                         size_t *n);
    int (*job_placed)(struct store *s, long long id, const char *call_sid, const char *from,
                      long long now);
    int (*job_status_by_call)(struct store *s, long long job_id, const char *call_sid, int final,
                              const char *answered_by, long long now, struct job_update *out);
    int (*job_release)(struct store *s, long long id, long long retry_at, const char *reason,
                       long long now, struct job_update *out);
    int (*job_cancel)(struct store *s, long long id, long long now);
    int (*job_mark_sms_sent)(struct store *s, long long id, int *already);
    int (*campaign_add)(struct store *s, const char *tenant, const char *name, long long now,
                        long long *id);
    int (*campaign_get)(struct store *s, long long id, struct campaign *out);
    int (*campaign_list)(struct store *s, const char *tenant, struct campaign **out, size_t *n);
    int (*campaign_set_status)(struct store *s, long long id, int status, long long now);
    int (*campaign_import)(struct store *s, long long campaign_id, const struct job_request *reqs,
                           size_t n, long long now);
    int (*transfer_text_mark)(struct store *s, const char *tenant, const char *call_sid,
                              long long now, int *already);
    int (*optout_set)(struct store *s, const char *tenant, const char *number, int on,
                      long long now);
    int (*optout_check)(struct store *s, const char *tenant, const char *number, int *out);
    int (*api_key_add)(struct store *s, const char *tenant, const char *key_hash,
                       const char *prefix, const char *name, long long now, long long *id);
    int (*api_key_find)(struct store *s, const char *key_hash, char *tenant, size_t tenant_size,
                        long long *id);
    int (*api_key_revoke)(struct store *s, const char *tenant, long long id);
    int (*api_key_list)(struct store *s, const char *tenant, struct api_key **out, size_t *n);
    int (*idempotency_get)(struct store *s, const char *tenant, const char *key, long long now,
                           struct idempotency *out);
    int (*idempotency_put)(struct store *s, const char *tenant, const char *key,
                           const char *request_hash, long long job_id, long long now);
    /*
     * A whole-store copy (store/copy.h). Table and column names come from
     * copy.c's fixed list, never from input; values travel as text, NULL
     * for SQL NULL.
     */
    int (*schema_version)(struct store *s, long long *version);
    int (*rows_count)(struct store *s, const char *table, long long *n);
    int (*rows_read)(struct store *s, const char *table, const char *const *cols, size_t ncols,
                     int (*row)(void *arg, const char *const *values), void *arg);
    int (*row_insert)(struct store *s, const char *table, const char *const *cols, size_t ncols,
                      const char *const *values);
    /* After explicit ids went in: the next generated id follows the largest copied. */
    int (*rows_inserted)(struct store *s, const char *table, const char *id_col);
    /* Routing changes pushed to the servers (store_changes_wait); NULL: the backend has none. */
    int (*changes_wait)(struct store *s, int timeout_ms, int *changed);
    /*
     * One create slot of `key` (store/jobs.h, rate_take), in a short
     * transaction of its own; *wait_ms is 0 when taken.
     */
    int (*rate_take)(struct store *s, const char *key, long long now_ms, int limit,
                     long long *wait_ms);
};

/** The embedded SQLite backend (WAL). */
extern const struct store_ops store_sqlite_ops;
/** A PostgreSQL server, shared by many processes (libpq). */
extern const struct store_ops store_postgres_ops;

/**
 * Opens the store at `path` and applies pending migrations. `path` is a
 * PostgreSQL URL (postgres://... or postgresql://...), "sqlite:FILE", or
 * the name of a SQLite file (created when missing). On success *out is owned by the caller:
 * store_close it. Returns 0, SB_EIO when the file cannot be opened or the server reached, SB_ESTORE
 * on a failed migration.
 */
SB_MUST_CHECK int store_open(struct store **out, const char *path);

/** Closes the store and frees it. NULL is allowed. */
void store_close(struct store *s);

/** Starts a transaction (used by the writer for group commit). */
SB_MUST_CHECK int store_begin(struct store *s);
/** Commits the open transaction. */
SB_MUST_CHECK int store_commit(struct store *s);
/** Rolls back the open transaction. */
int store_rollback(struct store *s);

/**
 * Adds a tenant with its languages and relay voices. Returns 0, SB_EEXISTS
 * when the name is taken, SB_EINVAL on an empty name, a language given twice
 * or a relay provider that is not spelt as relay_*_provider_canonical spells it.
 */
SB_MUST_CHECK int store_tenant_add(struct store *s, const struct tenant *t);

/** Removes a tenant. SB_ENOTFOUND when absent; SB_EBUSY while numbers point at it. */
SB_MUST_CHECK int store_tenant_remove(struct store *s, const char *name);

/** Reads one tenant into *out. SB_ENOTFOUND when absent. */
SB_MUST_CHECK int store_tenant_get(struct store *s, const char *name, struct tenant *out);

/** Lists tenants by name. *out is an array the caller free()s (NULL when n is 0). */
SB_MUST_CHECK int store_tenant_list(struct store *s, struct tenant **out, size_t *n);

/**
 * Writes the fields of `t` named by `fields` (enum tenant_field bits) to the
 * tenant t->name, in one transaction (a savepoint inside the caller's); the
 * routing version moves. Languages and relay voices not in `t` stay as they
 * are. Returns 0; SB_ENOTFOUND when the tenant is absent; SB_EINVAL on no or
 * unknown bits, a field that tenant_add would refuse, or when the tenant
 * would end up with more than TENANT_MAX_LANGS languages or relay voices (then
 * nothing is written).
 */
SB_MUST_CHECK int store_tenant_update(struct store *s, const struct tenant *t, unsigned fields);

/** Adds a number. SB_EEXISTS when present, SB_ENOTFOUND when its tenant is absent. */
SB_MUST_CHECK int store_number_add(struct store *s, const struct number *n);

/** Removes a number. SB_ENOTFOUND when absent. */
SB_MUST_CHECK int store_number_remove(struct store *s, const char *e164);

/** Lists numbers by e164. *out is an array the caller free()s. */
SB_MUST_CHECK int store_number_list(struct store *s, struct number **out, size_t *n);

/**
 * Reads the routing version: a counter that every change to tenants or
 * numbers bumps, from any process, so the routing cache knows when to reload.
 */
SB_MUST_CHECK int store_routes_version(struct store *s, long long *version);

/**
 * Logs a new call. A call_sid already logged keeps its status and duration;
 * only an empty tenant or language is filled in and the earlier start kept
 * (a status callback can arrive before the webhook's row). Returns 0.
 */
SB_MUST_CHECK int store_call_insert(struct store *s, const struct call_record *c);

/**
 * Applies a status callback exactly once: dedupes by (call_sid, sequence) or
 * (call_sid, status) when sequence is -1; never moves a call backwards
 * (queued < initiated < ringing < in-progress < any terminal status, and a
 * terminal status is final); records duration and ended_at on terminal
 * events; creates the call row when the call is unknown. *out says which.
 */
SB_MUST_CHECK int store_status_apply(struct store *s, const struct status_event *e,
                                     enum status_outcome *out);

/**
 * store_status_apply for events[0..n), in order, inside the caller's
 * transaction (or one of its own): on PostgreSQL one round trip for all
 * (pipeline mode). rcs[i] is 0 with outs[i] set, or SB_EINVAL for an event
 * refused alone for its input. Returns 0, or a negative code when the
 * transaction is in doubt (every other rcs[i] then holds it too).
 */
SB_MUST_CHECK int store_status_apply_many(struct store *s, const struct status_event *const *events,
                                          size_t n, int *rcs, enum status_outcome *outs);

/** Lists the newest `limit` calls, newest first. *out is free()d by the caller. */
SB_MUST_CHECK int store_call_list(struct store *s, size_t limit, struct call_record **out,
                                  size_t *n);

/** Reads one call. SB_ENOTFOUND when absent. */
SB_MUST_CHECK int store_call_get(struct store *s, const char *call_sid, struct call_record *out);

/** Checks that the store answers (for /healthz). */
SB_MUST_CHECK int store_ping(struct store *s);

/**
 * Blocks up to `timeout_ms` until the routing may have changed (any process
 * changed tenants, numbers, flows or agents): *changed is 1 then, and also
 * on the first call (changes before it are not seen). For a thread with a
 * connection of its own. Returns 0; SB_EINVAL when the backend cannot push
 * changes (SQLite: poll store_routes_version instead); SB_EIO while the
 * store is unreachable (the caller waits and calls again).
 */
SB_MUST_CHECK int store_changes_wait(struct store *s, int timeout_ms, int *changed);

/** `at` (unix milliseconds) when it is set, else now: a turn's or message's time as stored. */
long long store_at_or_now_ms(long long at);

/** The migration the store's schema is at (the highest applied). */
SB_MUST_CHECK int store_schema_version(struct store *s, long long *version);

/** Records (or updates) a stream's lifecycle, keyed by stream_sid. */
SB_MUST_CHECK int store_stream_record(struct store *s, const struct stream_record *r);

/** Stores a flow's JSON for a tenant (replacing one of the same name). SB_ENOTFOUND: no tenant. */
SB_MUST_CHECK int store_flow_put(struct store *s, const char *tenant, const char *name,
                                 const char *json);

/** Reads a flow's JSON into a new string (free() it). SB_ENOTFOUND when absent. */
SB_MUST_CHECK int store_flow_get(struct store *s, const char *tenant, const char *name,
                                 char **json);

/** Lists flows (of one tenant, or all when tenant is NULL). *out is free()d by the caller. */
SB_MUST_CHECK int store_flow_list(struct store *s, const char *tenant, struct flow_ref **out,
                                  size_t *n);

/** Points a number at a flow ("" for none). SB_ENOTFOUND when the number is absent. */
SB_MUST_CHECK int store_number_set_flow(struct store *s, const char *e164, const char *flow);

/** Reads a call's flow state; out->last_twiml is owned by the caller. SB_ENOTFOUND. */
SB_MUST_CHECK int store_flow_call_get(struct store *s, const char *call_sid, struct flow_call *out);

/**
 * Writes a call's flow state, unless the store already holds step c->step_no
 * or a later one of the call: then SB_EBUSY and nothing changes, so that two
 * processes answering the same webhook (Twilio's retry reaching another
 * instance) cannot both advance the call; the loser answers with the stored
 * step's TwiML.
 */
SB_MUST_CHECK int store_flow_call_put(struct store *s, const struct flow_call *c);

/** Logs a recording (upsert by recording_sid). */
SB_MUST_CHECK int store_recording_put(struct store *s, const struct recording *r);

/** The recordings of a call. *out is free()d by the caller. */
SB_MUST_CHECK int store_recording_list(struct store *s, const char *call_sid,
                                       struct recording **out, size_t *n);

/** The streams of a call, oldest first. *out is free()d by the caller. */
SB_MUST_CHECK int store_stream_list(struct store *s, const char *call_sid,
                                    struct stream_record **out, size_t *n);

#endif
