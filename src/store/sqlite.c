/*
 * The SQLite backend. One connection per struct store; every statement is
 * prepared once at open, because the writer applies thousands of events per
 * second and parsing SQL per event would dominate its time.
 *
 * Durability: WAL with synchronous=FULL, so that a committed transaction is
 * on disk before COMMIT returns. The writer groups many events per commit,
 * which is what pays for the fsync. A busy timeout lets the CLI and the
 * server share the file without failing on each other's locks.
 */
#include "store/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "store/agents.h"
#include "store/agent_text.h"
#include "store/call_status.h"
#include "store/sqlite_internal.h"
#include "core/banned.h"

#define BUSY_TIMEOUT_MS 5000

/*
 * Schema migrations, applied in order, each in its own transaction, and
 * recorded in schema_migrations by their 1-based position. Never edit a
 * migration that has shipped: append a new one.
 */
static const char *const migrations[] = {
    /* 1: tenants, numbers, the routing version and the call log. */
    "CREATE TABLE tenants("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  default_lang TEXT NOT NULL,"
    "  transfer_number TEXT NOT NULL DEFAULT '',"
    "  timezone TEXT NOT NULL DEFAULT 'UTC');"
    "CREATE TABLE tenant_langs("
    "  tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,"
    "  lang TEXT NOT NULL,"
    "  voice TEXT NOT NULL DEFAULT '',"
    "  greeting TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY(tenant, lang));"
    "CREATE TABLE numbers("
    "  e164 TEXT PRIMARY KEY NOT NULL,"
    "  tenant TEXT NOT NULL REFERENCES tenants(name),"
    "  plan TEXT NOT NULL CHECK(plan IN ('starter', 'pro', 'enterprise')),"
    "  agent TEXT NOT NULL DEFAULT '',"
    "  active INTEGER NOT NULL DEFAULT 1 CHECK(active IN (0, 1)));"
    /* Removing a tenant checks numbers by tenant; the index keeps that cheap. */
    "CREATE INDEX numbers_by_tenant ON numbers(tenant);"
    /*
     * The routing version lives in the database, bumped by triggers, so that
     * a change made by any process (the CLI) is seen by the server's cache.
     */
    "CREATE TABLE routes_version("
    "  id INTEGER PRIMARY KEY CHECK(id = 1),"
    "  version INTEGER NOT NULL);"
    "INSERT INTO routes_version(id, version) VALUES(1, 0);"
    "CREATE TRIGGER tenants_ai AFTER INSERT ON tenants"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER tenants_au AFTER UPDATE ON tenants"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER tenants_ad AFTER DELETE ON tenants"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER tenant_langs_ai AFTER INSERT ON tenant_langs"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER tenant_langs_au AFTER UPDATE ON tenant_langs"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER tenant_langs_ad AFTER DELETE ON tenant_langs"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER numbers_ai AFTER INSERT ON numbers"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER numbers_au AFTER UPDATE ON numbers"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER numbers_ad AFTER DELETE ON numbers"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    /*
     * The call log keeps no foreign key to tenants: removing a tenant must
     * not rewrite history, and calls to unknown numbers are logged too.
     */
    "CREATE TABLE calls("
    "  call_sid TEXT PRIMARY KEY NOT NULL,"
    "  tenant TEXT NOT NULL DEFAULT '',"
    "  direction TEXT NOT NULL DEFAULT '',"
    "  from_number TEXT NOT NULL DEFAULT '',"
    "  to_number TEXT NOT NULL DEFAULT '',"
    "  status TEXT NOT NULL DEFAULT '',"
    "  duration INTEGER NOT NULL DEFAULT -1,"
    "  lang TEXT NOT NULL DEFAULT '',"
    "  started_at INTEGER NOT NULL,"
    "  ended_at INTEGER NOT NULL DEFAULT 0,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX calls_by_start ON calls(started_at);"
    "CREATE TABLE call_events("
    "  call_sid TEXT NOT NULL,"
    "  dedupe_key TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  sequence INTEGER NOT NULL,"
    "  duration INTEGER NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  applied INTEGER NOT NULL,"
    "  PRIMARY KEY(call_sid, dedupe_key)) WITHOUT ROWID;",
    /* 2: the Media Streams of each call. */
    "CREATE TABLE call_streams("
    "  stream_sid TEXT PRIMARY KEY NOT NULL,"
    "  call_sid TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  stopped_at INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  frames_in INTEGER NOT NULL,"
    "  frames_out INTEGER NOT NULL);"
    "CREATE INDEX call_streams_by_call ON call_streams(call_sid);",
    /* 3: IVR flows, the numbers that use them, per-call flow state, recordings. */
    "CREATE TABLE flows("
    "  tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  json TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant, name));"
    "ALTER TABLE numbers ADD COLUMN flow TEXT NOT NULL DEFAULT '';"
    "CREATE TRIGGER flows_ai AFTER INSERT ON flows"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER flows_au AFTER UPDATE ON flows"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER flows_ad AFTER DELETE ON flows"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TABLE flow_calls("
    "  call_sid TEXT PRIMARY KEY NOT NULL,"
    "  tenant TEXT NOT NULL,"
    "  flow TEXT NOT NULL,"
    "  node TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  steps INTEGER NOT NULL,"
    "  lang TEXT NOT NULL,"
    "  done INTEGER NOT NULL,"
    "  step_no INTEGER NOT NULL,"
    "  last_twiml TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE recordings("
    "  recording_sid TEXT PRIMARY KEY NOT NULL,"
    "  call_sid TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  duration INTEGER NOT NULL,"
    "  status TEXT NOT NULL,"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX recordings_by_call ON recordings(call_sid);",
    /*
     * 4: the tenants' LLM agents, their knowledge (passages searched with
     * FTS5), and call transcripts: the turns of each conversation and the
     * messages taken. API keys are not here: an agent names the environment
     * variable that holds its key.
     */
    "CREATE TABLE agents("
    "  tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  base_url TEXT NOT NULL,"
    "  model TEXT NOT NULL,"
    "  api_key_env TEXT NOT NULL DEFAULT '',"
    "  prompt TEXT NOT NULL DEFAULT '',"
    /* NULL: the provider's default. */
    "  temperature REAL CHECK(temperature IS NULL OR (temperature >= 0 AND temperature <= 2)),"
    "  max_tokens INTEGER NOT NULL DEFAULT 0 CHECK(max_tokens >= 0),"
    /* Language tags separated by commas, in order of preference. */
    "  langs TEXT NOT NULL DEFAULT '',"
    "  first_token_timeout_ms INTEGER NOT NULL DEFAULT 2500 CHECK(first_token_timeout_ms > 0),"
    "  fallback TEXT NOT NULL DEFAULT 'rules' CHECK(fallback IN ('rules', 'transfer')),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant, name));"
    /* The server's caches reload when an agent changes, as for numbers and flows. */
    "CREATE TRIGGER agents_ai AFTER INSERT ON agents"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER agents_au AFTER UPDATE ON agents"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER agents_ad AFTER DELETE ON agents"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TABLE knowledge_files("
    "  tenant TEXT NOT NULL,"
    "  agent TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  bytes INTEGER NOT NULL,"
    "  passages INTEGER NOT NULL,"
    "  imported_at INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant, agent, name),"
    "  FOREIGN KEY(tenant, agent) REFERENCES agents(tenant, name) ON DELETE CASCADE);"
    "CREATE TABLE knowledge_passages("
    "  id INTEGER PRIMARY KEY,"
    "  tenant TEXT NOT NULL,"
    "  agent TEXT NOT NULL,"
    "  file TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  heading TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  FOREIGN KEY(tenant, agent, file) REFERENCES knowledge_files(tenant, agent, name)"
    "    ON DELETE CASCADE);"
    "CREATE INDEX knowledge_passages_by_file ON knowledge_passages(tenant, agent, file, seq);"
    /*
     * The full-text index over the passages (external content: the text is
     * stored once, in knowledge_passages, and the triggers keep the index in
     * step, cascaded deletes included). Case and accents fold away and
     * English suffixes are stemmed, in the text and in queries alike.
     */
    "CREATE VIRTUAL TABLE knowledge_fts USING fts5(heading, body,"
    "  content = 'knowledge_passages', content_rowid = 'id',"
    "  tokenize = 'porter unicode61 remove_diacritics 2');"
    "CREATE TRIGGER knowledge_passages_ai AFTER INSERT ON knowledge_passages BEGIN"
    "  INSERT INTO knowledge_fts(rowid, heading, body) VALUES(new.id, new.heading, new.body);"
    "  END;"
    "CREATE TRIGGER knowledge_passages_ad AFTER DELETE ON knowledge_passages BEGIN"
    "  INSERT INTO knowledge_fts(knowledge_fts, rowid, heading, body)"
    "    VALUES('delete', old.id, old.heading, old.body);"
    "  END;"
    "CREATE TRIGGER knowledge_passages_au AFTER UPDATE ON knowledge_passages BEGIN"
    "  INSERT INTO knowledge_fts(knowledge_fts, rowid, heading, body)"
    "    VALUES('delete', old.id, old.heading, old.body);"
    "  INSERT INTO knowledge_fts(rowid, heading, body) VALUES(new.id, new.heading, new.body);"
    "  END;"
    /* Like the call log, transcripts keep no foreign key: history outlives its tenant. */
    "CREATE TABLE call_turns("
    "  call_sid TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  role TEXT NOT NULL CHECK(role IN ('caller', 'agent', 'tool', 'event')),"
    "  text TEXT NOT NULL DEFAULT '',"
    "  tool TEXT NOT NULL DEFAULT '',"
    "  tool_args TEXT NOT NULL DEFAULT '',"
    "  tool_result TEXT NOT NULL DEFAULT '',"
    "  interrupted INTEGER NOT NULL DEFAULT 0 CHECK(interrupted IN (0, 1)),"
    "  heard TEXT NOT NULL DEFAULT '',"
    "  latency_ms INTEGER NOT NULL DEFAULT -1,"
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY(call_sid, seq));"
    "CREATE TABLE call_messages("
    "  id INTEGER PRIMARY KEY,"
    "  call_sid TEXT NOT NULL,"
    "  caller_name TEXT NOT NULL DEFAULT '',"
    "  callback_number TEXT NOT NULL DEFAULT '',"
    "  message TEXT NOT NULL DEFAULT '',"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX call_messages_by_call ON call_messages(call_sid, at);",
    /*
     * 5: the relay plan (Twilio's ConversationRelay) and each tenant's relay
     * voices per language. SQLite cannot change a CHECK, so numbers is
     * rebuilt with the columns of migrations 1 and 3; nothing references
     * numbers, so dropping it with foreign keys on deletes nothing else.
     * Dropping a table drops its index and triggers: they are made again as
     * migration 1 made them. The copy fires no trigger (numbers_new has
     * none): the routes are the same after it.
     */
    "CREATE TABLE numbers_new("
    "  e164 TEXT PRIMARY KEY NOT NULL,"
    "  tenant TEXT NOT NULL REFERENCES tenants(name),"
    "  plan TEXT NOT NULL CHECK(plan IN ('starter', 'pro', 'enterprise', 'relay')),"
    "  agent TEXT NOT NULL DEFAULT '',"
    "  active INTEGER NOT NULL DEFAULT 1 CHECK(active IN (0, 1)),"
    "  flow TEXT NOT NULL DEFAULT '');"
    "INSERT INTO numbers_new(e164, tenant, plan, agent, active, flow)"
    "  SELECT e164, tenant, plan, agent, active, flow FROM numbers;"
    "DROP TABLE numbers;"
    "ALTER TABLE numbers_new RENAME TO numbers;"
    "CREATE INDEX numbers_by_tenant ON numbers(tenant);"
    "CREATE TRIGGER numbers_ai AFTER INSERT ON numbers"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER numbers_au AFTER UPDATE ON numbers"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER numbers_ad AFTER DELETE ON numbers"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    /*
     * Providers are checked by the store, not by CHECK constraints, so that
     * a new provider needs no rebuild like the one above. '' leaves a field
     * to Twilio's default.
     */
    "CREATE TABLE tenant_relay_voices("
    "  tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,"
    "  lang TEXT NOT NULL,"
    "  tts_provider TEXT NOT NULL DEFAULT '',"
    "  voice TEXT NOT NULL DEFAULT '',"
    "  transcription_provider TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY(tenant, lang));"
    "CREATE TRIGGER tenant_relay_voices_ai AFTER INSERT ON tenant_relay_voices"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER tenant_relay_voices_au AFTER UPDATE ON tenant_relay_voices"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;"
    "CREATE TRIGGER tenant_relay_voices_ad AFTER DELETE ON tenant_relay_voices"
    "  BEGIN UPDATE routes_version SET version = version + 1 WHERE id = 1; END;",
    /*
     * 6: each agent's speech: the recognition and synthesis engines, their
     * model, URL and key variable (never a key), and a voice per language as
     * "lang=voice" lines. '' is the default everywhere, so the agents of an
     * older file keep the speech they had. Engines are checked by the store,
     * like the relay providers, so that a new one needs no rebuild.
     */
    "ALTER TABLE agents ADD COLUMN stt TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE agents ADD COLUMN stt_model TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE agents ADD COLUMN stt_url TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE agents ADD COLUMN stt_key_env TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE agents ADD COLUMN tts TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE agents ADD COLUMN tts_url TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE agents ADD COLUMN tts_key_env TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE agents ADD COLUMN voices TEXT NOT NULL DEFAULT '';",
    /*
     * 7: outbound calls as a durable job queue (store/jobs.h): campaigns,
     * jobs, the per-tenant do-not-call list, API keys (only the SHA-256 of
     * the secret) and idempotency keys; the call log learns which job
     * placed a call. Ids are AUTOINCREMENT so that an id the call log
     * names is never given to another job. A tenant's removal takes its
     * queue along; the call log keeps its history, as always.
     */
    "CREATE TABLE campaigns("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'active' CHECK(status IN ('active', 'paused', 'canceled')),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  UNIQUE(tenant, name));"
    "CREATE TABLE jobs("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,"
    "  campaign_id INTEGER REFERENCES campaigns(id) ON DELETE CASCADE,"
    "  to_number TEXT NOT NULL,"
    /* '': the tenant's first active number. */
    "  from_number TEXT NOT NULL DEFAULT '',"
    "  contact_name TEXT NOT NULL DEFAULT '',"
    "  lang TEXT NOT NULL DEFAULT '',"
    "  kind TEXT NOT NULL CHECK(kind IN ('flow', 'agent', 'say')),"
    "  target TEXT NOT NULL DEFAULT '',"
    "  say_text TEXT NOT NULL DEFAULT '',"
    "  not_before INTEGER NOT NULL DEFAULT 0,"
    "  status TEXT NOT NULL DEFAULT 'queued' CHECK(status IN ('queued', 'placing', 'placed',"
    "    'completed', 'busy', 'no-answer', 'failed', 'canceled', 'skipped')),"
    "  attempts INTEGER NOT NULL DEFAULT 0 CHECK(attempts >= 0),"
    "  max_retries INTEGER NOT NULL DEFAULT 0 CHECK(max_retries >= 0),"
    "  retry_delay_s INTEGER NOT NULL CHECK(retry_delay_s >= 0),"
    /* Never before not_before: the due query reads this column alone. */
    "  next_attempt_at INTEGER NOT NULL,"
    /* The current attempt's call; earlier attempts' are in calls.job_id. */
    "  call_sid TEXT UNIQUE,"
    "  answered_by TEXT NOT NULL DEFAULT '',"
    "  amd INTEGER NOT NULL DEFAULT 0 CHECK(amd IN (0, 1)),"
    "  sms_fallback INTEGER NOT NULL DEFAULT 0 CHECK(sms_fallback IN (0, 1)),"
    "  sms_sent INTEGER NOT NULL DEFAULT 0 CHECK(sms_sent IN (0, 1)),"
    "  error TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  placing_since INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_due ON jobs(next_attempt_at, id) WHERE status = 'queued';"
    "CREATE INDEX jobs_active_by_tenant ON jobs(tenant) WHERE status IN ('placing', 'placed');"
    "CREATE INDEX jobs_by_tenant ON jobs(tenant, id);"
    "CREATE INDEX jobs_by_campaign ON jobs(campaign_id, status);"
    "CREATE TABLE opt_outs("
    "  tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,"
    "  number TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant, number)) WITHOUT ROWID;"
    "CREATE TABLE api_keys("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,"
    "  key_hash TEXT NOT NULL UNIQUE,"
    "  prefix TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revoked INTEGER NOT NULL DEFAULT 0 CHECK(revoked IN (0, 1)));"
    "CREATE INDEX api_keys_by_tenant ON api_keys(tenant);"
    "CREATE TABLE idempotency("
    "  tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  request_hash TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant, key)) WITHOUT ROWID;"
    "CREATE INDEX idempotency_by_job ON idempotency(job_id);"
    /* NULL: not placed by a job (an inbound call, or one from before this migration). */
    "ALTER TABLE calls ADD COLUMN job_id INTEGER;"
    "CREATE INDEX calls_by_job ON calls(job_id) WHERE job_id IS NOT NULL;",
    /* 8: the tenant's SMS fallback template ('': none), texted to unreached jobs. */
    "ALTER TABLE tenants ADD COLUMN sms_fallback TEXT NOT NULL DEFAULT '';",
    /* 9: the inbound calls whose failed transfer was texted the SMS fallback (once a call). */
    "CREATE TABLE transfer_texts("
    "  call_sid TEXT PRIMARY KEY,"
    "  tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,"
    "  at INTEGER NOT NULL) WITHOUT ROWID;",
    /* 10: an API key's name, for people telling keys apart ('': none). */
    "ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';",
    /*
     * 11: the create slots every process sharing the store takes before a
     * call (rate_take): a slot's key (the Twilio account) and time in
     * milliseconds. Short-lived, never copied (store/copy.c).
     */
    "CREATE TABLE rate_slots("
    "  key TEXT NOT NULL,"
    "  at_ms INTEGER NOT NULL);"
    "CREATE INDEX rate_slots_by_key ON rate_slots(key, at_ms);",
};

#define MIGRATION_COUNT ((long long)(sizeof(migrations) / sizeof(migrations[0])))

enum stmt_id {
    ST_BEGIN,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_TENANT_INSERT,
    ST_LANG_INSERT,
    ST_TENANT_DELETE,
    ST_TENANT_GET,
    ST_LANGS_GET,
    ST_TENANT_LIST,
    ST_LANGS_ALL,
    ST_TENANT_UPDATE,
    ST_LANG_UPSERT,
    ST_RELAY_INSERT,
    ST_RELAY_UPSERT,
    ST_RELAY_GET,
    ST_RELAY_ALL,
    ST_TENANT_COUNTS,
    ST_NUMBER_INSERT,
    ST_NUMBER_DELETE,
    ST_NUMBER_LIST,
    ST_ROUTES_VERSION,
    ST_CALL_INSERT,
    ST_CALL_STATUS,
    ST_EVENT_INSERT,
    ST_CALL_ADVANCE,
    ST_CALL_CREATE,
    ST_CALL_LIST,
    ST_CALL_GET,
    ST_PING,
    ST_STREAM_UPSERT,
    ST_STREAM_LIST,
    ST_FLOW_PUT,
    ST_FLOW_GET,
    ST_FLOW_LIST,
    ST_NUMBER_SET_FLOW,
    ST_FLOW_CALL_GET,
    ST_FLOW_CALL_PUT,
    ST_RECORDING_PUT,
    ST_RECORDING_LIST,
    ST_AGENT_INSERT,
    ST_AGENT_UPDATE,
    ST_AGENT_GET,
    ST_AGENT_LIST,
    ST_AGENT_DELETE,
    ST_KNOWLEDGE_FILE_PUT,
    ST_KNOWLEDGE_CLEAR,
    ST_PASSAGE_INSERT,
    ST_KNOWLEDGE_FILES,
    ST_KNOWLEDGE_SEARCH,
    ST_TURN_APPEND,
    ST_TURN_LIST,
    ST_MESSAGE_INSERT,
    ST_MESSAGE_LIST,
    ST_COUNT
};

#define AGENT_COLUMNS                                                                              \
    "tenant, name, base_url, model, api_key_env, prompt, temperature, max_tokens, langs, "         \
    "first_token_timeout_ms, fallback, created_at, updated_at, stt, stt_model, stt_url, "          \
    "stt_key_env, tts, tts_url, tts_key_env, voices"

#define CALL_COLUMNS                                                                               \
    "call_sid, tenant, direction, from_number, to_number, status, duration, lang, started_at, "    \
    "ended_at"

static const char *const stmt_sql[ST_COUNT] = {
    /*
     * Write transactions take the write lock up front: a deferred
     * transaction that reads first may be refused the upgrade with
     * SQLITE_BUSY_SNAPSHOT, which no busy timeout can wait out.
     */
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT sb_op",
    [ST_RELEASE] = "RELEASE sb_op",
    [ST_ROLLBACK_TO] = "ROLLBACK TO sb_op",
    [ST_TENANT_INSERT] = "INSERT INTO tenants(name, default_lang, transfer_number, timezone, "
                         "sms_fallback) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_LANG_INSERT] = "INSERT INTO tenant_langs(tenant, lang, voice, greeting) "
                       "VALUES(?1, ?2, ?3, ?4)",
    [ST_TENANT_DELETE] = "DELETE FROM tenants WHERE name = ?1",
    [ST_TENANT_GET] = "SELECT name, default_lang, transfer_number, timezone, sms_fallback "
                      "FROM tenants "
                      "WHERE name = ?1",
    /* Languages come back in the order they were added. */
    [ST_LANGS_GET] = "SELECT lang, voice, greeting FROM tenant_langs WHERE tenant = ?1 "
                     "ORDER BY rowid",
    [ST_TENANT_LIST] = "SELECT name, default_lang, transfer_number, timezone, sms_fallback "
                       "FROM tenants "
                       "ORDER BY name",
    [ST_LANGS_ALL] = "SELECT tenant, lang, voice, greeting FROM tenant_langs "
                     "ORDER BY tenant, rowid",
    /* ?2 says which fields to write (enum tenant_field bits); the others stay. */
    [ST_TENANT_UPDATE] = "UPDATE tenants SET "
                         "default_lang = CASE WHEN ?2 & 1 THEN ?3 ELSE default_lang END, "
                         "transfer_number = CASE WHEN ?2 & 2 THEN ?4 ELSE transfer_number END, "
                         "timezone = CASE WHEN ?2 & 4 THEN ?5 ELSE timezone END, "
                         "sms_fallback = CASE WHEN ?2 & 32 THEN ?6 ELSE sms_fallback END "
                         "WHERE name = ?1",
    [ST_LANG_UPSERT] = "INSERT INTO tenant_langs(tenant, lang, voice, greeting) "
                       "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(tenant, lang) DO UPDATE SET "
                       "voice = excluded.voice, greeting = excluded.greeting",
    [ST_RELAY_INSERT] = "INSERT INTO tenant_relay_voices(tenant, lang, tts_provider, voice, "
                        "transcription_provider) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_RELAY_UPSERT] = "INSERT INTO tenant_relay_voices(tenant, lang, tts_provider, voice, "
                        "transcription_provider) VALUES(?1, ?2, ?3, ?4, ?5) "
                        "ON CONFLICT(tenant, lang) DO UPDATE SET "
                        "tts_provider = excluded.tts_provider, voice = excluded.voice, "
                        "transcription_provider = excluded.transcription_provider",
    /* Relay voices, like languages, come back in the order they were added. */
    [ST_RELAY_GET] = "SELECT lang, tts_provider, voice, transcription_provider "
                     "FROM tenant_relay_voices WHERE tenant = ?1 ORDER BY rowid",
    [ST_RELAY_ALL] = "SELECT tenant, lang, tts_provider, voice, transcription_provider "
                     "FROM tenant_relay_voices ORDER BY tenant, rowid",
    [ST_TENANT_COUNTS] = "SELECT (SELECT count(*) FROM tenant_langs WHERE tenant = ?1), "
                         "(SELECT count(*) FROM tenant_relay_voices WHERE tenant = ?1)",
    [ST_NUMBER_INSERT] = "INSERT INTO numbers(e164, tenant, plan, agent, active, flow) "
                         "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_NUMBER_DELETE] = "DELETE FROM numbers WHERE e164 = ?1",
    [ST_NUMBER_LIST] = "SELECT e164, tenant, plan, agent, active, flow FROM numbers ORDER BY e164",
    [ST_ROUTES_VERSION] = "SELECT version FROM routes_version WHERE id = 1",
    [ST_CALL_INSERT] = "INSERT INTO calls(" CALL_COLUMNS ", updated_at) "
                       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                       /* A status callback may have created the row first: keep its
                        * status, but fill in what only the webhook knows. */
                       "ON CONFLICT(call_sid) DO UPDATE SET "
                       "tenant = CASE WHEN tenant = '' THEN excluded.tenant ELSE tenant END, "
                       "lang = CASE WHEN lang = '' THEN excluded.lang ELSE lang END, "
                       "started_at = MIN(started_at, excluded.started_at)",
    [ST_CALL_STATUS] = "SELECT status FROM calls WHERE call_sid = ?1",
    [ST_EVENT_INSERT] = "INSERT INTO call_events(call_sid, dedupe_key, status, sequence, "
                        "duration, at, applied) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                        "ON CONFLICT(call_sid, dedupe_key) DO NOTHING",
    [ST_CALL_ADVANCE] = "UPDATE calls SET status = ?2, "
                        "duration = CASE WHEN ?3 >= 0 THEN ?3 ELSE duration END, "
                        "ended_at = CASE WHEN ?4 THEN ?5 ELSE ended_at END, "
                        "updated_at = ?6 WHERE call_sid = ?1",
    [ST_CALL_CREATE] = "INSERT INTO calls(" CALL_COLUMNS ", updated_at) "
                       "VALUES(?1, '', ?2, ?3, ?4, ?5, ?6, '', ?7, ?8, ?9)",
    [ST_CALL_LIST] = "SELECT " CALL_COLUMNS " FROM calls "
                     "ORDER BY started_at DESC, rowid DESC LIMIT ?1",
    [ST_CALL_GET] = "SELECT " CALL_COLUMNS " FROM calls WHERE call_sid = ?1",
    [ST_PING] = "SELECT 1",
    [ST_STREAM_UPSERT] = "INSERT INTO call_streams(stream_sid, call_sid, started_at, stopped_at, "
                         "reason, duration_ms, frames_in, frames_out) "
                         "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                         "ON CONFLICT(stream_sid) DO UPDATE SET stopped_at = excluded.stopped_at, "
                         "reason = excluded.reason, duration_ms = excluded.duration_ms, "
                         "frames_in = excluded.frames_in, frames_out = excluded.frames_out",
    [ST_FLOW_PUT] = "INSERT INTO flows(tenant, name, json, updated_at) VALUES(?1, ?2, ?3, ?4) "
                    "ON CONFLICT(tenant, name) DO UPDATE SET json = excluded.json, "
                    "updated_at = excluded.updated_at",
    [ST_FLOW_GET] = "SELECT json FROM flows WHERE tenant = ?1 AND name = ?2",
    [ST_FLOW_LIST] = "SELECT tenant, name FROM flows WHERE ?1 = '' OR tenant = ?1 "
                     "ORDER BY tenant, name",
    [ST_NUMBER_SET_FLOW] = "UPDATE numbers SET flow = ?2 WHERE e164 = ?1",
    [ST_FLOW_CALL_GET] =
        "SELECT call_sid, tenant, flow, node, attempts, steps, lang, done, step_no, "
        "last_twiml FROM flow_calls WHERE call_sid = ?1",
    [ST_FLOW_CALL_PUT] =
        "INSERT INTO flow_calls(call_sid, tenant, flow, node, attempts, steps, lang, "
        "done, step_no, last_twiml, updated_at) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
        "ON CONFLICT(call_sid) DO UPDATE SET tenant = excluded.tenant, "
        "flow = excluded.flow, node = excluded.node, attempts = excluded.attempts, "
        "steps = excluded.steps, lang = excluded.lang, done = excluded.done, "
        "step_no = excluded.step_no, last_twiml = excluded.last_twiml, "
        "updated_at = excluded.updated_at WHERE flow_calls.step_no < excluded.step_no",
    [ST_RECORDING_PUT] =
        "INSERT INTO recordings(recording_sid, call_sid, url, duration, status, at) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(recording_sid) DO UPDATE SET "
        "url = excluded.url, duration = excluded.duration, "
        "status = excluded.status, at = excluded.at",
    [ST_RECORDING_LIST] =
        "SELECT recording_sid, call_sid, url, duration, status, at FROM recordings "
        "WHERE call_sid = ?1 ORDER BY at, rowid",
    [ST_STREAM_LIST] = "SELECT stream_sid, call_sid, started_at, stopped_at, reason, duration_ms, "
                       "frames_in, frames_out FROM call_streams WHERE call_sid = ?1 "
                       "ORDER BY started_at, rowid",
    [ST_AGENT_INSERT] = "INSERT INTO agents(" AGENT_COLUMNS ") "
                        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, "
                        "?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    /* ?3 says which fields to write (enum agent_field bits); the others stay. */
    [ST_AGENT_UPDATE] =
        "UPDATE agents SET "
        "base_url = CASE WHEN ?3 & 1 THEN ?4 ELSE base_url END, "
        "model = CASE WHEN ?3 & 2 THEN ?5 ELSE model END, "
        "api_key_env = CASE WHEN ?3 & 4 THEN ?6 ELSE api_key_env END, "
        "prompt = CASE WHEN ?3 & 8 THEN ?7 ELSE prompt END, "
        "temperature = CASE WHEN ?3 & 16 THEN ?8 ELSE temperature END, "
        "max_tokens = CASE WHEN ?3 & 32 THEN ?9 ELSE max_tokens END, "
        "langs = CASE WHEN ?3 & 64 THEN ?10 ELSE langs END, "
        "first_token_timeout_ms = CASE WHEN ?3 & 128 THEN ?11 ELSE first_token_timeout_ms END, "
        "fallback = CASE WHEN ?3 & 256 THEN ?12 ELSE fallback END, "
        "stt = CASE WHEN ?3 & 512 THEN ?14 ELSE stt END, "
        "stt_model = CASE WHEN ?3 & 1024 THEN ?15 ELSE stt_model END, "
        "stt_url = CASE WHEN ?3 & 2048 THEN ?16 ELSE stt_url END, "
        "stt_key_env = CASE WHEN ?3 & 4096 THEN ?17 ELSE stt_key_env END, "
        "tts = CASE WHEN ?3 & 8192 THEN ?18 ELSE tts END, "
        "tts_url = CASE WHEN ?3 & 16384 THEN ?19 ELSE tts_url END, "
        "tts_key_env = CASE WHEN ?3 & 32768 THEN ?20 ELSE tts_key_env END, "
        "voices = CASE WHEN ?3 & 65536 THEN ?21 ELSE voices END, "
        "updated_at = ?13 WHERE tenant = ?1 AND name = ?2",
    [ST_AGENT_GET] = "SELECT " AGENT_COLUMNS " FROM agents WHERE tenant = ?1 AND name = ?2",
    [ST_AGENT_LIST] = "SELECT " AGENT_COLUMNS " FROM agents WHERE ?1 = '' OR tenant = ?1 "
                      "ORDER BY tenant, name",
    [ST_AGENT_DELETE] = "DELETE FROM agents WHERE tenant = ?1 AND name = ?2",
    [ST_KNOWLEDGE_FILE_PUT] =
        "INSERT INTO knowledge_files(tenant, agent, name, bytes, passages, imported_at) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(tenant, agent, name) DO UPDATE SET "
        "bytes = excluded.bytes, passages = excluded.passages, imported_at = excluded.imported_at",
    [ST_KNOWLEDGE_CLEAR] = "DELETE FROM knowledge_passages "
                           "WHERE tenant = ?1 AND agent = ?2 AND file = ?3",
    [ST_PASSAGE_INSERT] = "INSERT INTO knowledge_passages(tenant, agent, file, seq, heading, body) "
                          "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_KNOWLEDGE_FILES] = "SELECT name, bytes, passages, imported_at FROM knowledge_files "
                           "WHERE tenant = ?1 AND agent = ?2 ORDER BY name",
    /*
     * ?1 is built by the store from plain words, each a quoted term, never
     * from what a caller said as such. bm25() is lower for a better match;
     * a word in the heading counts twice.
     */
    [ST_KNOWLEDGE_SEARCH] =
        "SELECT p.file, p.seq, p.heading, p.body, bm25(knowledge_fts, 2.0, 1.0) AS score "
        "FROM knowledge_fts JOIN knowledge_passages p ON p.id = knowledge_fts.rowid "
        "WHERE knowledge_fts MATCH ?1 AND p.tenant = ?2 AND p.agent = ?3 "
        "ORDER BY score, p.id LIMIT ?4",
    [ST_TURN_APPEND] =
        "INSERT INTO call_turns(call_sid, seq, role, text, tool, tool_args, tool_result, "
        "interrupted, heard, latency_ms, at) "
        "SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 "
        "FROM call_turns WHERE call_sid = ?1 RETURNING seq",
    [ST_TURN_LIST] = "SELECT call_sid, seq, role, text, tool, tool_args, tool_result, "
                     "interrupted, heard, latency_ms, at FROM call_turns WHERE call_sid = ?1 "
                     "ORDER BY seq",
    [ST_MESSAGE_INSERT] = "INSERT INTO call_messages(call_sid, caller_name, callback_number, "
                          "message, at) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_MESSAGE_LIST] = "SELECT call_sid, caller_name, callback_number, message, at "
                        "FROM call_messages WHERE ?1 = '' OR call_sid = ?1 ORDER BY at, id",
};

/* Runs a cached statement without parameters and rows (BEGIN, COMMIT, ...). */
static int run(struct sqlite_store *ss, enum stmt_id id, const char *op)
{
    int src = step_done(ss->st[id], SQLITE_OK);

    return src == SQLITE_DONE ? 0 : fail(ss->db, op, src);
}

/*
 * Runs a bound SELECT (`src` carries a binding error) and collects its rows
 * into a new array of `size`-byte elements; NULL and 0 when there are none.
 * On failure what was read is freed with `release` (free() when NULL) and
 * *out, *n are untouched. Resets the statement.
 */
int sqlite_collect_rows(struct sqlite_store *ss, sqlite3_stmt *st, int src, size_t size,
                        row_reader read, list_release release, const char *op, void **out,
                        size_t *n)
{
    char *arr = NULL;
    size_t count = 0, cap = 0;
    int rc = 0;

    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    while (src == SQLITE_ROW) {
        char *p = grow(arr, &cap, count + 1, size);

        if (!p) {
            rc = SB_ENOMEM;
            break;
        }
        arr = p;
        memset(arr + count * size, 0, size);
        rc = read(st, arr + count * size);
        if (rc < 0)
            break;
        count++;
        src = sqlite3_step(st);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = fail(ss->db, op, src);
    stmt_done(st);
    if (rc < 0 || count == 0) {
        if (release)
            release(arr, count);
        else
            free(arr);
        arr = NULL;
        count = 0;
    }
    if (rc == 0) {
        *out = arr;
        *n = count;
    }
    return rc;
}

/* collect_rows for statement `id`, whose one parameter is the text `key`. */
static int collect_rows_by(struct sqlite_store *ss, enum stmt_id id, const char *key, size_t size,
                           row_reader read, list_release release, const char *op, void **out,
                           size_t *n)
{
    sqlite3_stmt *st = ss->st[id];
    int src = SQLITE_OK;

    bind_str(st, 1, key, &src);
    return sqlite_collect_rows(ss, st, src, size, read, release, op, out, n);
}

/*
 * Opens the protection for an operation of several statements: its own
 * transaction when none is open, or a savepoint inside the caller's, so that
 * a failed operation leaves nothing behind either way.
 */
int sqlite_tx_enter(struct sqlite_store *ss, enum tx_kind *kind, const char *op)
{
    if (sqlite3_get_autocommit(ss->db)) {
        *kind = TX_TOP;
        return run(ss, ST_BEGIN, op);
    }
    *kind = TX_SAVEPOINT;
    return run(ss, ST_SAVEPOINT, op);
}

/*
 * Closes what sqlite_tx_enter opened: keeps the work when rc is 0, undoes it
 * otherwise. Returns rc, or the commit's error.
 */
int sqlite_tx_leave(struct sqlite_store *ss, enum tx_kind kind, int rc, const char *op)
{
    if (rc == 0) {
        rc = run(ss, kind == TX_TOP ? ST_COMMIT : ST_RELEASE, op);
        if (rc == 0)
            return 0;
    }
    /*
     * Some errors (a full disk) make SQLite roll back the whole transaction
     * on its own; the savepoint is then gone and undoing it fails, which
     * changes nothing, so those failures are not reported again.
     */
    if (kind == TX_TOP) {
        if (!sqlite3_get_autocommit(ss->db))
            step_done(ss->st[ST_ROLLBACK], SQLITE_OK);
    } else if (!sqlite3_get_autocommit(ss->db)) {
        step_done(ss->st[ST_ROLLBACK_TO], SQLITE_OK);
        step_done(ss->st[ST_RELEASE], SQLITE_OK);
    }
    return rc;
}

/*
 * Reads of several statements share one snapshot when no transaction is
 * open, so that a concurrent writer cannot be seen half way.
 */
int sqlite_read_enter(struct sqlite_store *ss, int *own, const char *op)
{
    *own = sqlite3_get_autocommit(ss->db);
    return *own ? run(ss, ST_BEGIN_READ, op) : 0;
}

int sqlite_read_leave(struct sqlite_store *ss, int own, int rc, const char *op)
{
    int crc;

    if (!own)
        return rc;
    /* A statement that failed (out of memory) may have ended the transaction already. */
    if (rc < 0 && sqlite3_get_autocommit(ss->db))
        return rc;
    crc = run(ss, ST_COMMIT, op);
    if (crc < 0 && !sqlite3_get_autocommit(ss->db))
        step_done(ss->st[ST_ROLLBACK], SQLITE_OK);
    return rc < 0 ? rc : crc;
}

/* Runs SQL text once (pragmas, migrations): not for the hot path. */
static int exec_sql(sqlite3 *db, const char *sql, const char *op)
{
    char *msg = NULL;
    int src = sqlite3_exec(db, sql, NULL, NULL, &msg);
    int rc = 0;

    if (src != SQLITE_OK) {
        log_event(LOG_ERROR, "store.sqlite", "op=%s code=%d err=\"%s\"", op, src,
                  msg ? msg : sqlite3_errstr(src));
        rc = (src & 0xff) == SQLITE_NOMEM ? SB_ENOMEM : SB_ESTORE;
    }
    sqlite3_free(msg);
    return rc;
}

/* Reads one integer from a query of one row and one column. */
static int query_i64(sqlite3 *db, const char *sql, long long *out, const char *op)
{
    sqlite3_stmt *st = NULL;
    int src;
    int rc = 0;

    src = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (src != SQLITE_OK) {
        rc = fail(db, op, src);
        goto out;
    }
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = fail(db, op, src == SQLITE_DONE ? SQLITE_ERROR : src);
        goto out;
    }
    *out = sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    return rc;
}

/*
 * Applies the migration at 1-based `version` unless another opener did it
 * first: BEGIN IMMEDIATE serialises concurrent openers, and the check runs
 * under that lock.
 */
static int migrate_one(sqlite3 *db, long long version)
{
    char sql[160];
    long long applied = 0;
    int rc;
    int w;

    rc = exec_sql(db, "BEGIN IMMEDIATE", "migrate");
    if (rc < 0)
        goto out;
    rc = exec_sql(db,
                  "CREATE TABLE IF NOT EXISTS schema_migrations("
                  "  version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
                  "migrate");
    if (rc < 0)
        goto rollback;
    w = snprintf(sql, sizeof(sql), "SELECT count(*) FROM schema_migrations WHERE version = %lld",
                 version);
    if (w < 0 || (size_t)w >= sizeof(sql)) {
        rc = SB_ESTORE;
        goto rollback;
    }
    rc = query_i64(db, sql, &applied, "migrate");
    if (rc < 0)
        goto rollback;
    if (!applied) {
        rc = exec_sql(db, migrations[version - 1], "migrate");
        if (rc < 0)
            goto rollback;
        w = snprintf(sql, sizeof(sql),
                     "INSERT INTO schema_migrations(version, applied_at) "
                     "VALUES(%lld, CAST(strftime('%%s', 'now') AS INTEGER))",
                     version);
        if (w < 0 || (size_t)w >= sizeof(sql)) {
            rc = SB_ESTORE;
            goto rollback;
        }
        rc = exec_sql(db, sql, "migrate");
        if (rc < 0)
            goto rollback;
        log_event(LOG_INFO, "store.migrated", "version=%lld", version);
    }
    rc = exec_sql(db, "COMMIT", "migrate");
    if (rc == 0)
        goto out;
rollback:
    if (!sqlite3_get_autocommit(db))
        exec_sql(db, "ROLLBACK", "migrate");
out:
    return rc;
}

/* Brings the schema up to date. Returns 0 or SB_ESTORE. */
static int migrate(sqlite3 *db)
{
    long long exists = 0;
    long long current = 0;
    int rc;

    /*
     * Look without the write lock first: an up-to-date file (the common
     * case) is then opened without taking the lock away from a busy writer.
     */
    rc = query_i64(db,
                   "SELECT count(*) FROM sqlite_master "
                   "WHERE type = 'table' AND name = 'schema_migrations'",
                   &exists, "migrate");
    if (rc < 0)
        goto out;
    if (exists) {
        rc = query_i64(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", &current,
                       "migrate");
        if (rc < 0)
            goto out;
    }
    /* A newer program changed the schema; this one could violate its rules. */
    if (current > MIGRATION_COUNT) {
        log_event(LOG_ERROR, "store.migrate",
                  "reason=\"schema is newer than this program\" "
                  "version=%lld known=%lld",
                  current, MIGRATION_COUNT);
        rc = SB_ESTORE;
        goto out;
    }
    for (long long v = current + 1; v <= MIGRATION_COUNT; v++) {
        rc = migrate_one(db, v);
        if (rc < 0)
            goto out;
    }
out:
    return rc < 0 ? SB_ESTORE : 0;
}

/* Sets the connection's pragmas. Returns 0 or SB_EIO. */
static int configure(sqlite3 *db, const char *path)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *mode;
    int src;
    int rc = 0;

    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    src = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    /*
     * Switching a new file to WAL needs an exclusive lock; with several
     * processes opening it at once SQLite can answer BUSY without waiting
     * for the busy timeout (a lock upgrade it will not wait for): retry.
     */
    for (int tries = 0; src == SQLITE_OK || ((src & 0xff) == SQLITE_BUSY && tries < 100); tries++) {
        if (src != SQLITE_OK) {
            sqlite3_reset(st);
            sqlite3_sleep(10);
        }
        src = sqlite3_step(st);
        if ((src & 0xff) != SQLITE_BUSY)
            break;
    }
    if (src != SQLITE_ROW) {
        rc = fail(db, "open", src);
        goto out;
    }
    /* An in-memory database cannot use WAL and needs no durability anyway. */
    mode = sqlite3_column_text(st, 0);
    if (!mode || (strcmp((const char *)mode, "wal") != 0 && strcmp(path, ":memory:") != 0)) {
        log_event(LOG_ERROR, "store.sqlite", "op=open reason=\"cannot use WAL\" mode=%s",
                  mode ? (const char *)mode : "none");
        rc = SB_EIO;
        goto out;
    }
    rc = exec_sql(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", "open");
out:
    sqlite3_finalize(st);
    return rc < 0 ? SB_EIO : 0;
}

/*
 * Makes `path` readable by its owner only; creates it (empty, 0600) when
 * `create` and it does not exist. A file open to others is tightened when
 * this user owns it, with a warning either way. Errors are left for SQLite
 * to report when it opens the file.
 *
 * An existing file is never opened here: closing any descriptor of a file
 * drops the POSIX locks this process holds on it, and another connection of
 * this process (the writer's) may hold SQLite's locks on it.
 */
static void secure_file(const char *path, int create)
{
    struct stat st;

    if (create) {
        int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);

        if (fd >= 0) {
            close(fd);
            return;
        }
    }
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 077))
        return;
    if (st.st_uid == geteuid() && chmod(path, 0600) == 0)
        log_event(LOG_WARN, "store.permissions", "path=%s mode=%03o now=600", path,
                  (unsigned)(st.st_mode & 0777));
    else
        log_event(LOG_WARN, "store.permissions",
                  "path=%s mode=%03o reason=\"readable by others and not ours to change\"", path,
                  (unsigned)(st.st_mode & 0777));
}

/*
 * The call log holds full phone numbers: the database file is created 0600
 * here, before SQLite opens it (umask is process-wide, so it is not relied
 * on), and SQLite gives the -wal and -shm files the database file's mode.
 */
static void secure_files(const char *target)
{
    char side[4096];

    if (strcmp(target, ":memory:") == 0)
        return;
    secure_file(target, 1);
    for (int i = 0; i < 2; i++) {
        int n = snprintf(side, sizeof(side), "%s%s", target, i ? "-shm" : "-wal");

        if (n > 0 && (size_t)n < sizeof(side))
            secure_file(side, 0);
    }
}

static void sqlite_close(struct store *s)
{
    struct sqlite_store *ss = to_sqlite(s);

    if (!ss)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(ss->st[i]);
    sqlite_jobs_finalize(ss);
    sqlite3_close_v2(ss->db);
    free(ss);
}

static int sqlite_open(struct store **out, const char *target)
{
    struct sqlite_store *ss = NULL;
    int src;
    int rc = 0;

    ss = calloc(1, sizeof(*ss) + ST_COUNT * sizeof(ss->st[0]));
    if (!ss) {
        rc = SB_ENOMEM;
        goto out;
    }
    ss->base.ops = &store_sqlite_ops;
    secure_files(target);
    /* A store is used by one thread at a time, so SQLite's own mutexes are not needed. */
    src = sqlite3_open_v2(target, &ss->db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = fail(ss->db, "open", src) == SB_ENOMEM ? SB_ENOMEM : SB_EIO;
        goto out;
    }
    rc = configure(ss->db, target);
    if (rc < 0)
        goto out;
    rc = migrate(ss->db);
    if (rc < 0)
        goto out;
    for (int i = 0; i < ST_COUNT; i++) {
        src = sqlite3_prepare_v3(ss->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &ss->st[i],
                                 NULL);
        if (src != SQLITE_OK) {
            fail(ss->db, "prepare", src);
            rc = SB_ESTORE;
            goto out;
        }
    }
    rc = sqlite_jobs_prepare(ss);
out:
    if (rc < 0) {
        sqlite_close(ss ? &ss->base : NULL);
        ss = NULL;
    }
    *out = ss ? &ss->base : NULL;
    return rc;
}

static int sqlite_begin(struct store *s)
{
    return run(to_sqlite(s), ST_BEGIN, "begin");
}

static int sqlite_commit(struct store *s)
{
    return run(to_sqlite(s), ST_COMMIT, "commit");
}

static int sqlite_rollback(struct store *s)
{
    struct sqlite_store *ss = to_sqlite(s);

    /* A transaction SQLite already rolled back itself needs nothing more. */
    if (sqlite3_get_autocommit(ss->db))
        return 0;
    return run(ss, ST_ROLLBACK, "rollback");
}

/*
 * Runs a bound write of one of a tenant's languages or relay voices. The
 * same language twice is a mistake in the input, not a taken name.
 */
static int run_tenant_row_write(struct sqlite_store *ss, sqlite3_stmt *st, int src, const char *op)
{
    src = step_done(st, src);
    if (is_unique_violation(src))
        return SB_EINVAL;
    return src == SQLITE_DONE ? 0 : fail(ss->db, op, src);
}

/* Runs ST_LANG_INSERT or ST_LANG_UPSERT for one language. */
static int lang_write(struct sqlite_store *ss, enum stmt_id id, const char *tenant,
                      const struct tenant_lang *l, const char *op)
{
    sqlite3_stmt *st = ss->st[id];
    int src = SQLITE_OK;

    bind_str(st, 1, tenant, &src);
    bind_str(st, 2, l->lang, &src);
    bind_str(st, 3, l->voice, &src);
    bind_str(st, 4, l->greeting, &src);
    return run_tenant_row_write(ss, st, src, op);
}

/* Runs ST_RELAY_INSERT or ST_RELAY_UPSERT for one relay voice. */
static int relay_write(struct sqlite_store *ss, enum stmt_id id, const char *tenant,
                       const struct tenant_relay_voice *r, const char *op)
{
    sqlite3_stmt *st = ss->st[id];
    int src = SQLITE_OK;

    bind_str(st, 1, tenant, &src);
    bind_str(st, 2, r->lang, &src);
    bind_str(st, 3, r->tts_provider, &src);
    bind_str(st, 4, r->voice, &src);
    bind_str(st, 5, r->transcription_provider, &src);
    return run_tenant_row_write(ss, st, src, op);
}

/* Opens a tenant write's protection (sqlite_tx_enter); store.c checked `t` already. */
static int tenant_write_enter(struct sqlite_store *ss, const struct tenant *t, unsigned fields,
                              enum tx_kind *kind, const char *op)
{
    return sqlite_tx_enter(ss, kind, op);
}

/*
 * Writes the languages and relay voices of `t` that `fields` names, with
 * statements `lang_id` and `relay_id` (the inserts or the upserts).
 */
static int tenant_rows_write(struct sqlite_store *ss, const struct tenant *t, unsigned fields,
                             enum stmt_id lang_id, enum stmt_id relay_id, const char *op)
{
    int rc = 0;

    for (int i = 0; (fields & TENANT_FIELD_LANGS) && i < t->nlangs && rc == 0; i++)
        rc = lang_write(ss, lang_id, t->name, &t->langs[i], op);
    for (int i = 0; (fields & TENANT_FIELD_RELAY) && i < t->nrelay && rc == 0; i++)
        rc = relay_write(ss, relay_id, t->name, &t->relay[i], op);
    return rc;
}

static int sqlite_tenant_add(struct store *s, const struct tenant *t)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st;
    enum tx_kind kind;
    int src = SQLITE_OK;
    int rc;

    rc = tenant_write_enter(ss, t, TENANT_FIELDS_ALL, &kind, "tenant_add");
    if (rc < 0)
        return rc;
    st = ss->st[ST_TENANT_INSERT];
    bind_str(st, 1, t->name, &src);
    bind_str(st, 2, t->default_lang, &src);
    bind_str(st, 3, t->transfer_number, &src);
    bind_str(st, 4, t->timezone[0] ? t->timezone : "UTC", &src);
    bind_str(st, 5, t->sms_fallback, &src);
    src = step_done(st, src);
    if (is_unique_violation(src))
        rc = SB_EEXISTS;
    else if (src != SQLITE_DONE)
        rc = fail(ss->db, "tenant_add", src);
    if (rc == 0)
        rc = tenant_rows_write(ss, t, TENANT_FIELDS_ALL, ST_LANG_INSERT, ST_RELAY_INSERT,
                               "tenant_add");
    return sqlite_tx_leave(ss, kind, rc, "tenant_add");
}

/* Checks that the tenant's languages and relay voices still fit a struct tenant. */
static int tenant_counts_fit(struct sqlite_store *ss, const char *name)
{
    sqlite3_stmt *st = ss->st[ST_TENANT_COUNTS];
    int src = SQLITE_OK;
    int rc = 0;

    bind_str(st, 1, name, &src);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        if (sqlite3_column_int64(st, 0) > TENANT_MAX_LANGS ||
            sqlite3_column_int64(st, 1) > TENANT_MAX_LANGS)
            rc = SB_EINVAL;
    } else {
        rc = fail(ss->db, "tenant_update", src == SQLITE_DONE ? SQLITE_ERROR : src);
    }
    stmt_done(st);
    return rc;
}

static int sqlite_tenant_update(struct store *s, const struct tenant *t, unsigned fields)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st;
    enum tx_kind kind;
    int src = SQLITE_OK;
    int rc;

    rc = tenant_write_enter(ss, t, fields, &kind, "tenant_update");
    if (rc < 0)
        return rc;
    /* Always run: it finds the tenant, and bumps the routing version once. */
    st = ss->st[ST_TENANT_UPDATE];
    bind_str(st, 1, t->name, &src);
    bind_i64(st, 2, fields, &src);
    bind_str(st, 3, (fields & TENANT_FIELD_DEFAULT_LANG) ? t->default_lang : "", &src);
    bind_str(st, 4, (fields & TENANT_FIELD_TRANSFER) ? t->transfer_number : "", &src);
    bind_str(st, 5, (fields & TENANT_FIELD_TIMEZONE) && t->timezone[0] ? t->timezone : "UTC", &src);
    bind_str(st, 6, (fields & TENANT_FIELD_SMS_FALLBACK) ? t->sms_fallback : "", &src);
    rc = run_change(ss, st, src, "tenant_update");
    if (rc == 0)
        rc = tenant_rows_write(ss, t, fields, ST_LANG_UPSERT, ST_RELAY_UPSERT, "tenant_update");
    if (rc == 0 && (fields & (TENANT_FIELD_LANGS | TENANT_FIELD_RELAY)))
        rc = tenant_counts_fit(ss, t->name);
    return sqlite_tx_leave(ss, kind, rc, "tenant_update");
}

static int sqlite_tenant_remove(struct store *s, const char *name)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_TENANT_DELETE];
    int src = SQLITE_OK;
    int rc = 0;

    bind_str(st, 1, name, &src);
    src = step_done(st, src);
    /* numbers.tenant has no ON DELETE action, so the foreign key refuses. */
    if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        rc = SB_EBUSY;
    else if (src != SQLITE_DONE)
        rc = fail(ss->db, "tenant_remove", src);
    else if (sqlite3_changes(ss->db) == 0)
        rc = SB_ENOTFOUND;
    return rc;
}

/* Fills the tenant columns name, default_lang, transfer_number, timezone, sms_fallback from `col`.
 */
static void tenant_from_row(sqlite3_stmt *st, int col, struct tenant *t)
{
    memset(t, 0, sizeof(*t));
    col_str(st, col, t->name, sizeof(t->name));
    col_str(st, col + 1, t->default_lang, sizeof(t->default_lang));
    col_str(st, col + 2, t->transfer_number, sizeof(t->transfer_number));
    col_str(st, col + 3, t->timezone, sizeof(t->timezone));
    col_str(st, col + 4, t->sms_fallback, sizeof(t->sms_fallback));
}

/* Appends the language in columns lang, voice, greeting from `col`; extras are dropped. */
static void tenant_lang_from_row(sqlite3_stmt *st, int col, struct tenant *t)
{
    struct tenant_lang *l;

    if (t->nlangs >= TENANT_MAX_LANGS)
        return;
    l = &t->langs[t->nlangs++];
    col_str(st, col, l->lang, sizeof(l->lang));
    col_str(st, col + 1, l->voice, sizeof(l->voice));
    col_str(st, col + 2, l->greeting, sizeof(l->greeting));
}

/* Appends the relay voice in columns lang, tts_provider, voice, transcription_provider. */
static void tenant_relay_from_row(sqlite3_stmt *st, int col, struct tenant *t)
{
    struct tenant_relay_voice *r;

    if (t->nrelay >= TENANT_MAX_LANGS)
        return;
    r = &t->relay[t->nrelay++];
    col_str(st, col, r->lang, sizeof(r->lang));
    col_str(st, col + 1, r->tts_provider, sizeof(r->tts_provider));
    col_str(st, col + 2, r->voice, sizeof(r->voice));
    col_str(st, col + 3, r->transcription_provider, sizeof(r->transcription_provider));
}

static int tenant_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tenant *)a)->name, ((const struct tenant *)b)->name);
}

/*
 * Adds the languages or relay voices that statement `id` reads to tenants,
 * with `add`. With a `name`, the statement takes it and its rows (columns
 * from 0) belong to the one tenant *arr; without, each row names its tenant
 * in column 0 (the rest from 1), found in `arr`, `count` tenants sorted by
 * name (BINARY collation is strcmp order). Returns 0 or the failure.
 */
static int tenant_rows_add(struct sqlite_store *ss, enum stmt_id id, const char *name,
                           struct tenant *arr, size_t count,
                           void (*add)(sqlite3_stmt *st, int col, struct tenant *t), const char *op)
{
    sqlite3_stmt *st = ss->st[id];
    struct tenant key;
    int src = SQLITE_OK;
    int rc = 0;

    if (name)
        bind_str(st, 1, name, &src);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    while (src == SQLITE_ROW) {
        if (name) {
            add(st, 0, arr);
        } else {
            struct tenant *t;

            col_str(st, 0, key.name, sizeof(key.name));
            t = bsearch(&key, arr, count, sizeof(*arr), tenant_cmp);
            if (t)
                add(st, 1, t);
        }
        src = sqlite3_step(st);
    }
    if (src != SQLITE_DONE)
        rc = fail(ss->db, op, src);
    stmt_done(st);
    return rc;
}

static int sqlite_tenant_get(struct store *s, const char *name, struct tenant *out)
{
    struct sqlite_store *ss = to_sqlite(s);
    struct tenant t;
    sqlite3_stmt *st;
    int src = SQLITE_OK;
    int own = 0;
    int rc;

    rc = sqlite_read_enter(ss, &own, "tenant_get");
    if (rc < 0)
        goto out;
    st = ss->st[ST_TENANT_GET];
    bind_str(st, 1, name, &src);
    rc = step_row(ss, st, src, "tenant_get");
    if (rc == 0)
        tenant_from_row(st, 0, &t);
    stmt_done(st);
    if (rc == 0)
        rc = tenant_rows_add(ss, ST_LANGS_GET, name, &t, 1, tenant_lang_from_row, "tenant_get");
    if (rc == 0)
        rc = tenant_rows_add(ss, ST_RELAY_GET, name, &t, 1, tenant_relay_from_row, "tenant_get");
    rc = sqlite_read_leave(ss, own, rc, "tenant_get");
    if (rc == 0)
        *out = t;
out:
    return rc;
}

static int tenant_row(sqlite3_stmt *st, void *elem)
{
    tenant_from_row(st, 0, elem);
    return 0;
}

static int sqlite_tenant_list(struct store *s, struct tenant **out, size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);
    struct tenant *arr = NULL;
    size_t count = 0;
    int own = 0;
    int rc;

    rc = sqlite_read_enter(ss, &own, "tenant_list");
    if (rc < 0)
        goto out;
    rc = sqlite_collect_rows(ss, ss->st[ST_TENANT_LIST], SQLITE_OK, sizeof(*arr), tenant_row, NULL,
                             "tenant_list", (void **)&arr, &count);
    /* One query for every language instead of one per tenant. */
    if (rc == 0 && count > 0)
        rc = tenant_rows_add(ss, ST_LANGS_ALL, NULL, arr, count, tenant_lang_from_row,
                             "tenant_list");
    if (rc == 0 && count > 0)
        rc = tenant_rows_add(ss, ST_RELAY_ALL, NULL, arr, count, tenant_relay_from_row,
                             "tenant_list");
    rc = sqlite_read_leave(ss, own, rc, "tenant_list");
out:
    if (rc < 0 || count == 0) {
        free(arr);
        arr = NULL;
        count = 0;
    }
    if (rc == 0) {
        *out = arr;
        *n = count;
    }
    return rc;
}

static int sqlite_number_add(struct store *s, const struct number *n)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_NUMBER_INSERT];
    int src = SQLITE_OK;
    int rc = 0;

    if (!terminated(n->e164, sizeof(n->e164)) || !n->e164[0] ||
        !terminated(n->tenant, sizeof(n->tenant)) || !n->tenant[0] ||
        !terminated(n->agent, sizeof(n->agent)) || (unsigned)n->plan > PLAN_RELAY) {
        rc = SB_EINVAL;
        goto out;
    }
    bind_str(st, 1, n->e164, &src);
    bind_str(st, 2, n->tenant, &src);
    bind_str(st, 3, plan_name(n->plan), &src);
    bind_str(st, 4, n->agent, &src);
    bind_i64(st, 5, n->active ? 1 : 0, &src);
    bind_str(st, 6, terminated(n->flow, sizeof(n->flow)) ? n->flow : "", &src);
    src = step_done(st, src);
    if (is_unique_violation(src))
        rc = SB_EEXISTS;
    else if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        rc = SB_ENOTFOUND;
    else if (src != SQLITE_DONE)
        rc = fail(ss->db, "number_add", src);
out:
    return rc;
}

static int sqlite_number_remove(struct store *s, const char *e164)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_NUMBER_DELETE];
    int src = SQLITE_OK;

    bind_str(st, 1, e164, &src);
    return run_change(ss, st, src, "number_remove");
}

static int number_row(sqlite3_stmt *st, void *elem)
{
    struct number *num = elem;
    char plan[16];

    col_str(st, 0, num->e164, sizeof(num->e164));
    col_str(st, 1, num->tenant, sizeof(num->tenant));
    col_str(st, 2, plan, sizeof(plan));
    col_str(st, 3, num->agent, sizeof(num->agent));
    num->active = sqlite3_column_int(st, 4) != 0;
    col_str(st, 5, num->flow, sizeof(num->flow));
    /* The CHECK constraint makes an unknown plan a damaged file. */
    if (plan_parse(plan, &num->plan) < 0) {
        log_event(LOG_ERROR, "store.sqlite", "op=number_list reason=\"unknown plan\"");
        return SB_ESTORE;
    }
    return 0;
}

static int sqlite_number_list(struct store *s, struct number **out, size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);

    return sqlite_collect_rows(ss, ss->st[ST_NUMBER_LIST], SQLITE_OK, sizeof(**out), number_row,
                               NULL, "number_list", (void **)out, n);
}

static int sqlite_routes_version(struct store *s, long long *version)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_ROUTES_VERSION];
    int src;
    int rc = 0;

    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *version = sqlite3_column_int64(st, 0);
    else
        rc = fail(ss->db, "routes_version", src == SQLITE_DONE ? SQLITE_CORRUPT : src);
    stmt_done(st);
    return rc;
}

static int sqlite_call_insert(struct store *s, const struct call_record *c)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_CALL_INSERT];
    int src = SQLITE_OK;
    int rc = 0;

    bind_str(st, 1, c->call_sid, &src);
    bind_str(st, 2, c->tenant, &src);
    bind_str(st, 3, c->direction, &src);
    bind_str(st, 4, c->from, &src);
    bind_str(st, 5, c->to, &src);
    bind_str(st, 6, c->status, &src);
    bind_i64(st, 7, c->duration, &src);
    bind_str(st, 8, c->lang, &src);
    bind_i64(st, 9, c->started_at, &src);
    bind_i64(st, 10, c->ended_at, &src);
    bind_i64(st, 11, (long long)time(NULL), &src);
    src = step_done(st, src);
    if (src != SQLITE_DONE)
        rc = fail(ss->db, "call_insert", src);
    return rc;
}

static int sqlite_status_apply(struct store *s, const struct status_event *e,
                               enum status_outcome *out)
{
    struct sqlite_store *ss = to_sqlite(s);
    const struct call_status *next;
    const struct call_status *cur;
    enum status_outcome outcome = STATUS_APPLIED;
    char key[STATUS_SIZE + 32];
    char cur_name[STATUS_SIZE];
    long long now = (long long)time(NULL);
    long duration;
    sqlite3_stmt *st;
    enum tx_kind kind;
    int have_call = 0;
    int apply = 1;
    int terminal;
    int src = SQLITE_OK;
    int rc;
    int w;

    next = call_status_find(e->status);
    if (!next) {
        rc = SB_EINVAL;
        goto out;
    }
    /* Deduping by the canonical status makes "answered" and "in-progress" one event. */
    if (e->sequence >= 0)
        w = snprintf(key, sizeof(key), "seq:%ld", e->sequence);
    else
        w = snprintf(key, sizeof(key), "status:%s", next->canonical);
    if (w < 0 || (size_t)w >= sizeof(key)) {
        rc = SB_EINVAL;
        goto out;
    }
    terminal = next->rank == RANK_TERMINAL;
    duration = terminal && e->duration >= 0 ? e->duration : -1;

    rc = sqlite_tx_enter(ss, &kind, "status_apply");
    if (rc < 0)
        goto out;

    st = ss->st[ST_CALL_STATUS];
    bind_str(st, 1, e->call_sid, &src);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        have_call = 1;
        col_str(st, 0, cur_name, sizeof(cur_name));
    } else if (src != SQLITE_DONE) {
        rc = fail(ss->db, "status_apply", src);
    }
    stmt_done(st);
    if (rc < 0)
        goto leave;
    /*
     * A call only moves forward. A terminal status has the top rank, so
     * nothing replaces it; a status the log does not know (an odd value
     * from call_insert) ranks below everything.
     */
    if (have_call) {
        cur = call_status_find(cur_name);
        apply = next->rank > (cur ? cur->rank : -1);
    }

    st = ss->st[ST_EVENT_INSERT];
    src = SQLITE_OK;
    bind_str(st, 1, e->call_sid, &src);
    bind_str(st, 2, key, &src);
    bind_str(st, 3, next->canonical, &src);
    bind_i64(st, 4, e->sequence, &src);
    bind_i64(st, 5, e->duration, &src);
    bind_i64(st, 6, e->at, &src);
    bind_i64(st, 7, apply, &src);
    src = step_done(st, src);
    if (src != SQLITE_DONE) {
        rc = fail(ss->db, "status_apply", src);
        goto leave;
    }
    if (sqlite3_changes(ss->db) == 0) {
        outcome = STATUS_DUPLICATE;
        goto leave;
    }
    if (!apply) {
        outcome = STATUS_STALE;
        goto leave;
    }

    src = SQLITE_OK;
    if (have_call) {
        st = ss->st[ST_CALL_ADVANCE];
        bind_str(st, 1, e->call_sid, &src);
        bind_str(st, 2, next->canonical, &src);
        bind_i64(st, 3, duration, &src);
        bind_i64(st, 4, terminal, &src);
        bind_i64(st, 5, e->at, &src);
        bind_i64(st, 6, now, &src);
    } else {
        st = ss->st[ST_CALL_CREATE];
        bind_str(st, 1, e->call_sid, &src);
        bind_str(st, 2, e->direction, &src);
        bind_str(st, 3, e->from, &src);
        bind_str(st, 4, e->to, &src);
        bind_str(st, 5, next->canonical, &src);
        bind_i64(st, 6, duration, &src);
        bind_i64(st, 7, e->at, &src);
        bind_i64(st, 8, terminal ? e->at : 0, &src);
        bind_i64(st, 9, now, &src);
    }
    src = step_done(st, src);
    if (src != SQLITE_DONE)
        rc = fail(ss->db, "status_apply", src);
leave:
    rc = sqlite_tx_leave(ss, kind, rc, "status_apply");
    if (rc == 0)
        *out = outcome;
out:
    return rc;
}

static void call_from_row(sqlite3_stmt *st, struct call_record *c)
{
    memset(c, 0, sizeof(*c));
    col_str(st, 0, c->call_sid, sizeof(c->call_sid));
    col_str(st, 1, c->tenant, sizeof(c->tenant));
    col_str(st, 2, c->direction, sizeof(c->direction));
    col_str(st, 3, c->from, sizeof(c->from));
    col_str(st, 4, c->to, sizeof(c->to));
    col_str(st, 5, c->status, sizeof(c->status));
    c->duration = (long)sqlite3_column_int64(st, 6);
    col_str(st, 7, c->lang, sizeof(c->lang));
    c->started_at = sqlite3_column_int64(st, 8);
    c->ended_at = sqlite3_column_int64(st, 9);
}

static int call_row(sqlite3_stmt *st, void *elem)
{
    call_from_row(st, elem);
    return 0;
}

static int sqlite_call_list(struct store *s, size_t limit, struct call_record **out, size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_CALL_LIST];
    int src = SQLITE_OK;

    if (limit == 0) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    bind_i64(st, 1, limit > (size_t)INT64_MAX ? INT64_MAX : (long long)limit, &src);
    return sqlite_collect_rows(ss, st, src, sizeof(**out), call_row, NULL, "call_list",
                               (void **)out, n);
}

static int sqlite_call_get(struct store *s, const char *call_sid, struct call_record *out)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_CALL_GET];
    int src = SQLITE_OK;
    int rc = 0;

    bind_str(st, 1, call_sid, &src);
    rc = step_row(ss, st, src, "call_get");
    if (rc == 0)
        call_from_row(st, out);
    stmt_done(st);
    return rc;
}

static int sqlite_ping(struct store *s)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_PING];
    int src;
    int rc = 0;

    src = sqlite3_step(st);
    if (src != SQLITE_ROW)
        rc = fail(ss->db, "ping", src);
    stmt_done(st);
    return rc;
}

static int sqlite_stream_record(struct store *s, const struct stream_record *r)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_STREAM_UPSERT];
    int src = SQLITE_OK;

    bind_str(st, 1, r->stream_sid, &src);
    bind_str(st, 2, r->call_sid, &src);
    bind_i64(st, 3, r->started_at, &src);
    bind_i64(st, 4, r->stopped_at, &src);
    bind_str(st, 5, r->reason, &src);
    bind_i64(st, 6, r->duration_ms, &src);
    bind_i64(st, 7, r->frames_in, &src);
    bind_i64(st, 8, r->frames_out, &src);
    return run_write(ss, st, src, "stream_record");
}

static int stream_row(sqlite3_stmt *st, void *elem)
{
    struct stream_record *r = elem;

    col_str(st, 0, r->stream_sid, sizeof(r->stream_sid));
    col_str(st, 1, r->call_sid, sizeof(r->call_sid));
    r->started_at = sqlite3_column_int64(st, 2);
    r->stopped_at = sqlite3_column_int64(st, 3);
    col_str(st, 4, r->reason, sizeof(r->reason));
    r->duration_ms = (long)sqlite3_column_int64(st, 5);
    r->frames_in = (long)sqlite3_column_int64(st, 6);
    r->frames_out = (long)sqlite3_column_int64(st, 7);
    return 0;
}

static int sqlite_stream_list(struct store *s, const char *call_sid, struct stream_record **out,
                              size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);

    return collect_rows_by(ss, ST_STREAM_LIST, call_sid, sizeof(**out), stream_row, NULL,
                           "stream_list", (void **)out, n);
}

static int sqlite_flow_put(struct store *s, const char *tenant, const char *name, const char *json)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_FLOW_PUT];
    int src = SQLITE_OK;
    int rc = 0;

    bind_str(st, 1, tenant, &src);
    bind_str(st, 2, name, &src);
    bind_str(st, 3, json, &src);
    bind_i64(st, 4, (long long)time(NULL), &src);
    src = step_done(st, src);
    if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        rc = SB_ENOTFOUND;
    else if (src != SQLITE_DONE)
        rc = fail(ss->db, "flow_put", src);
    return rc;
}

static int sqlite_flow_get(struct store *s, const char *tenant, const char *name, char **json)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_FLOW_GET];
    int src = SQLITE_OK;
    int rc = 0;

    *json = NULL;
    bind_str(st, 1, tenant, &src);
    bind_str(st, 2, name, &src);
    rc = step_row(ss, st, src, "flow_get");
    if (rc == 0) {
        *json = col_dup(st, 0);
        rc = *json ? 0 : SB_ENOMEM;
    }
    stmt_done(st);
    return rc;
}

static int flow_ref_row(sqlite3_stmt *st, void *elem)
{
    struct flow_ref *r = elem;

    col_str(st, 0, r->tenant, sizeof(r->tenant));
    col_str(st, 1, r->name, sizeof(r->name));
    return 0;
}

static int sqlite_flow_list(struct store *s, const char *tenant, struct flow_ref **out, size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);

    return collect_rows_by(ss, ST_FLOW_LIST, tenant ? tenant : "", sizeof(**out), flow_ref_row,
                           NULL, "flow_list", (void **)out, n);
}

static int sqlite_number_set_flow(struct store *s, const char *e164, const char *flow)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_NUMBER_SET_FLOW];
    int src = SQLITE_OK;

    bind_str(st, 1, e164, &src);
    bind_str(st, 2, flow, &src);
    return run_change(ss, st, src, "number_set_flow");
}

static int sqlite_flow_call_get(struct store *s, const char *call_sid, struct flow_call *out)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_FLOW_CALL_GET];
    int src = SQLITE_OK;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    bind_str(st, 1, call_sid, &src);
    rc = step_row(ss, st, src, "flow_call_get");
    if (rc == 0) {
        col_str(st, 0, out->call_sid, sizeof(out->call_sid));
        col_str(st, 1, out->tenant, sizeof(out->tenant));
        col_str(st, 2, out->flow, sizeof(out->flow));
        col_str(st, 3, out->node, sizeof(out->node));
        out->attempts = sqlite3_column_int(st, 4);
        out->steps = sqlite3_column_int(st, 5);
        col_str(st, 6, out->lang, sizeof(out->lang));
        out->done = sqlite3_column_int(st, 7);
        out->step_no = sqlite3_column_int(st, 8);
        out->last_twiml = col_dup(st, 9);
        rc = out->last_twiml ? 0 : SB_ENOMEM;
    }
    stmt_done(st);
    return rc;
}

static int sqlite_flow_call_put(struct store *s, const struct flow_call *c)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_FLOW_CALL_PUT];
    int src = SQLITE_OK;
    int rc;

    bind_str(st, 1, c->call_sid, &src);
    bind_str(st, 2, c->tenant, &src);
    bind_str(st, 3, c->flow, &src);
    bind_str(st, 4, c->node, &src);
    bind_i64(st, 5, c->attempts, &src);
    bind_i64(st, 6, c->steps, &src);
    bind_str(st, 7, c->lang, &src);
    bind_i64(st, 8, c->done, &src);
    bind_i64(st, 9, c->step_no, &src);
    bind_str(st, 10, c->last_twiml ? c->last_twiml : "", &src);
    bind_i64(st, 11, (long long)time(NULL), &src);
    rc = run_change(ss, st, src, "flow_call_put");
    /* The store holds this step or a later one: another process answered it first. */
    return rc == SB_ENOTFOUND ? SB_EBUSY : rc;
}

static int sqlite_recording_put(struct store *s, const struct recording *r)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_RECORDING_PUT];
    int src = SQLITE_OK;

    bind_str(st, 1, r->recording_sid, &src);
    bind_str(st, 2, r->call_sid, &src);
    bind_str(st, 3, r->url, &src);
    bind_i64(st, 4, r->duration, &src);
    bind_str(st, 5, r->status, &src);
    bind_i64(st, 6, r->at, &src);
    return run_write(ss, st, src, "recording_put");
}

static int recording_row(sqlite3_stmt *st, void *elem)
{
    struct recording *r = elem;

    col_str(st, 0, r->recording_sid, sizeof(r->recording_sid));
    col_str(st, 1, r->call_sid, sizeof(r->call_sid));
    col_str(st, 2, r->url, sizeof(r->url));
    r->duration = (long)sqlite3_column_int64(st, 3);
    col_str(st, 4, r->status, sizeof(r->status));
    r->at = sqlite3_column_int64(st, 5);
    return 0;
}

static int sqlite_recording_list(struct store *s, const char *call_sid, struct recording **out,
                                 size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);

    return collect_rows_by(ss, ST_RECORDING_LIST, call_sid, sizeof(**out), recording_row, NULL,
                           "recording_list", (void **)out, n);
}

/* Agents, their knowledge and call transcripts (store/agents.h checked the arguments). */

static void bind_f64_or_null(sqlite3_stmt *st, int i, double v, int is_null, int *src)
{
    if (*src == SQLITE_OK)
        *src = is_null ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
}

/* Reads a row of AGENT_COLUMNS into *c (zeroed first). Returns 0 or SB_ENOMEM (nothing owned). */
static int agent_from_row(sqlite3_stmt *st, void *elem)
{
    struct agent_config *c = elem;
    char langs[AGENT_LANGS_TEXT_SIZE];
    char voices[AGENT_VOICES_TEXT_SIZE];
    char fallback[16];

    memset(c, 0, sizeof(*c));
    col_str(st, 0, c->tenant, sizeof(c->tenant));
    col_str(st, 1, c->name, sizeof(c->name));
    col_str(st, 2, c->base_url, sizeof(c->base_url));
    col_str(st, 3, c->model, sizeof(c->model));
    col_str(st, 4, c->api_key_env, sizeof(c->api_key_env));
    c->temperature =
        sqlite3_column_type(st, 6) == SQLITE_NULL ? -1.0 : sqlite3_column_double(st, 6);
    c->max_tokens = sqlite3_column_int(st, 7);
    col_str(st, 8, langs, sizeof(langs));
    agent_langs_split(langs, c);
    c->first_token_timeout_ms = sqlite3_column_int(st, 9);
    col_str(st, 10, fallback, sizeof(fallback));
    /* The CHECK constraint allows only the two names. */
    c->fallback =
        strcmp(fallback, "transfer") == 0 ? AGENT_FALLBACK_TRANSFER : AGENT_FALLBACK_RULES;
    c->created_at = sqlite3_column_int64(st, 11);
    c->updated_at = sqlite3_column_int64(st, 12);
    col_str(st, 13, c->stt, sizeof(c->stt));
    col_str(st, 14, c->stt_model, sizeof(c->stt_model));
    col_str(st, 15, c->stt_url, sizeof(c->stt_url));
    col_str(st, 16, c->stt_key_env, sizeof(c->stt_key_env));
    col_str(st, 17, c->tts, sizeof(c->tts));
    col_str(st, 18, c->tts_url, sizeof(c->tts_url));
    col_str(st, 19, c->tts_key_env, sizeof(c->tts_key_env));
    col_str(st, 20, voices, sizeof(voices));
    agent_voices_split(voices, c);
    c->prompt = col_dup(st, 5);
    return c->prompt ? 0 : SB_ENOMEM;
}

/* Binds ?4.. of ST_AGENT_INSERT's or ST_AGENT_UPDATE's agent fields, from parameter `first`. */
static void bind_agent_fields(sqlite3_stmt *st, int first, const struct agent_config *c,
                              const char *langs, int *src)
{
    bind_str(st, first, c->base_url, src);
    bind_str(st, first + 1, c->model, src);
    bind_str(st, first + 2, c->api_key_env, src);
    bind_str(st, first + 3, c->prompt ? c->prompt : "", src);
    bind_f64_or_null(st, first + 4, c->temperature, c->temperature < 0, src);
    bind_i64(st, first + 5, c->max_tokens, src);
    bind_str(st, first + 6, langs, src);
    bind_i64(st, first + 7,
             c->first_token_timeout_ms > 0 ? c->first_token_timeout_ms
                                           : AGENT_FIRST_TOKEN_TIMEOUT_DEFAULT_MS,
             src);
    bind_str(st, first + 8, agent_fallback_name(c->fallback), src);
}

/* Binds the speech fields (AGENT_FIELD_STT to AGENT_FIELD_VOICES) from parameter `first`. */
static void bind_speech_fields(sqlite3_stmt *st, int first, const struct agent_config *c,
                               const char *voices, int *src)
{
    bind_str(st, first, c->stt, src);
    bind_str(st, first + 1, c->stt_model, src);
    bind_str(st, first + 2, c->stt_url, src);
    bind_str(st, first + 3, c->stt_key_env, src);
    bind_str(st, first + 4, c->tts, src);
    bind_str(st, first + 5, c->tts_url, src);
    bind_str(st, first + 6, c->tts_key_env, src);
    bind_str(st, first + 7, voices, src);
}

/* Maps a failed agent write: a taken name, a missing tenant, a value the schema refuses. */
static int agent_write_error(struct sqlite_store *ss, int src, const char *op)
{
    if (is_unique_violation(src))
        return SB_EEXISTS;
    if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        return SB_ENOTFOUND;
    if (src == SQLITE_CONSTRAINT_CHECK || src == SQLITE_CONSTRAINT_NOTNULL)
        return SB_EINVAL;
    return fail(ss->db, op, src);
}

static int sqlite_agent_add(struct store *s, const struct agent_config *c)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_AGENT_INSERT];
    char langs[AGENT_LANGS_TEXT_SIZE];
    char voices[AGENT_VOICES_TEXT_SIZE];
    int src = SQLITE_OK;

    agent_langs_join(c, langs);
    agent_voices_join(c, voices);
    bind_str(st, 1, c->tenant, &src);
    bind_str(st, 2, c->name, &src);
    bind_agent_fields(st, 3, c, langs, &src);
    bind_i64(st, 12, (long long)time(NULL), &src);
    bind_speech_fields(st, 13, c, voices, &src);
    src = step_done(st, src);
    return src == SQLITE_DONE ? 0 : agent_write_error(ss, src, "agent_add");
}

static int sqlite_agent_update(struct store *s, const struct agent_config *c, unsigned fields)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_AGENT_UPDATE];
    char langs[AGENT_LANGS_TEXT_SIZE];
    char voices[AGENT_VOICES_TEXT_SIZE];
    int src = SQLITE_OK;
    int rc;

    agent_langs_join(c, langs);
    agent_voices_join(c, voices);
    bind_str(st, 1, c->tenant, &src);
    bind_str(st, 2, c->name, &src);
    bind_i64(st, 3, fields, &src);
    bind_agent_fields(st, 4, c, langs, &src);
    bind_i64(st, 13, (long long)time(NULL), &src);
    bind_speech_fields(st, 14, c, voices, &src);
    src = step_done(st, src);
    if (src != SQLITE_DONE)
        rc = agent_write_error(ss, src, "agent_update");
    else
        rc = sqlite3_changes(ss->db) == 0 ? SB_ENOTFOUND : 0;
    return rc;
}

static int sqlite_agent_get(struct store *s, const char *tenant, const char *name,
                            struct agent_config *out)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_AGENT_GET];
    int src = SQLITE_OK;
    int rc = 0;

    bind_str(st, 1, tenant, &src);
    bind_str(st, 2, name, &src);
    rc = step_row(ss, st, src, "agent_get");
    if (rc == 0)
        rc = agent_from_row(st, out);
    stmt_done(st);
    return rc;
}

static void agent_list_release(void *arr, size_t n)
{
    agent_config_list_free(arr, n);
}

static int sqlite_agent_list(struct store *s, const char *tenant, struct agent_config **out,
                             size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);

    return collect_rows_by(ss, ST_AGENT_LIST, tenant ? tenant : "", sizeof(**out), agent_from_row,
                           agent_list_release, "agent_list", (void **)out, n);
}

static int sqlite_agent_remove(struct store *s, const char *tenant, const char *name)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_AGENT_DELETE];
    int src = SQLITE_OK;

    bind_str(st, 1, tenant, &src);
    bind_str(st, 2, name, &src);
    return run_change(ss, st, src, "agent_remove");
}

/* Binds ?1 to ?3 of a knowledge file's statements: the tenant, the agent and the file. */
static void bind_knowledge_file(sqlite3_stmt *st, const char *tenant, const char *agent,
                                const char *file, int *src)
{
    bind_str(st, 1, tenant, src);
    bind_str(st, 2, agent, src);
    bind_str(st, 3, file, src);
}

static int sqlite_knowledge_put(struct store *s, const char *tenant, const char *agent,
                                const char *file, long long bytes,
                                const struct knowledge_passage *p, size_t np)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st;
    enum tx_kind kind;
    int src = SQLITE_OK;
    int rc;

    rc = sqlite_tx_enter(ss, &kind, "knowledge_put");
    if (rc < 0)
        return rc;
    /* The file's row first: the passages' foreign key needs it (and it needs the agent). */
    st = ss->st[ST_KNOWLEDGE_FILE_PUT];
    bind_knowledge_file(st, tenant, agent, file, &src);
    bind_i64(st, 4, bytes, &src);
    bind_i64(st, 5, (long long)np, &src);
    bind_i64(st, 6, (long long)time(NULL), &src);
    src = step_done(st, src);
    if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        rc = SB_ENOTFOUND;
    else if (src != SQLITE_DONE)
        rc = fail(ss->db, "knowledge_put", src);
    if (rc == 0) {
        st = ss->st[ST_KNOWLEDGE_CLEAR];
        src = SQLITE_OK;
        bind_knowledge_file(st, tenant, agent, file, &src);
        rc = run_write(ss, st, src, "knowledge_put");
    }
    for (size_t i = 0; i < np && rc == 0; i++) {
        st = ss->st[ST_PASSAGE_INSERT];
        src = SQLITE_OK;
        bind_knowledge_file(st, tenant, agent, file, &src);
        bind_i64(st, 4, p[i].seq, &src);
        bind_str(st, 5, p[i].heading, &src);
        bind_str(st, 6, p[i].text, &src);
        rc = run_write(ss, st, src, "knowledge_put");
    }
    return sqlite_tx_leave(ss, kind, rc, "knowledge_put");
}

static int knowledge_file_row(sqlite3_stmt *st, void *elem)
{
    struct knowledge_file *f = elem;

    col_str(st, 0, f->name, sizeof(f->name));
    f->bytes = sqlite3_column_int64(st, 1);
    f->passages = sqlite3_column_int(st, 2);
    f->imported_at = sqlite3_column_int64(st, 3);
    return 0;
}

static int sqlite_knowledge_file_list(struct store *s, const char *tenant, const char *agent,
                                      struct knowledge_file **out, size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_KNOWLEDGE_FILES];
    int src = SQLITE_OK;

    bind_str(st, 1, tenant, &src);
    bind_str(st, 2, agent, &src);
    return sqlite_collect_rows(ss, st, src, sizeof(**out), knowledge_file_row, NULL,
                               "knowledge_file_list", (void **)out, n);
}

static int passage_row(sqlite3_stmt *st, void *elem)
{
    struct knowledge_passage *p = elem;

    col_str(st, 0, p->file, sizeof(p->file));
    p->seq = sqlite3_column_int(st, 1);
    col_str(st, 2, p->heading, sizeof(p->heading));
    col_str(st, 3, p->text, sizeof(p->text));
    p->score = -sqlite3_column_double(st, 4);
    return 0;
}

/*
 * Builds the FTS5 query `"w1" OR "w2" ...` from plain words. Inside a quoted
 * FTS5 string only '"' means anything (written twice), so no word can add
 * syntax (NEAR, *, ^, column filters, parentheses). Returns a new string
 * (free() it) or NULL when out of memory.
 */
static char *fts_any_of(const char *const *terms, size_t nterms)
{
    size_t size = 1;
    char *q, *w;

    for (size_t i = 0; i < nterms; i++) {
        size_t len = strlen(terms[i]);

        if (len > (SIZE_MAX - size - 8) / 2)
            return NULL;
        size += 2 * len + 2 + (i ? 4 : 0);
    }
    q = malloc(size);
    if (!q)
        return NULL;
    w = q;
    for (size_t i = 0; i < nterms; i++) {
        if (i) {
            memcpy(w, " OR ", 4);
            w += 4;
        }
        *w++ = '"';
        for (const char *c = terms[i]; *c; c++) {
            if (*c == '"')
                *w++ = '"';
            *w++ = *c;
        }
        *w++ = '"';
    }
    *w = '\0';
    return q;
}

static int sqlite_knowledge_search(struct store *s, const char *tenant, const char *agent,
                                   const char *const *terms, size_t nterms, size_t k,
                                   struct knowledge_passage **out, size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_KNOWLEDGE_SEARCH];
    char *match = fts_any_of(terms, nterms);
    int src = SQLITE_OK;
    int rc;

    if (!match)
        return SB_ENOMEM;
    bind_str(st, 1, match, &src);
    bind_str(st, 2, tenant, &src);
    bind_str(st, 3, agent, &src);
    bind_i64(st, 4, (long long)k, &src);
    rc = sqlite_collect_rows(ss, st, src, sizeof(**out), passage_row, NULL, "knowledge_search",
                             (void **)out, n);
    free(match);
    return rc;
}

static int sqlite_turn_append(struct store *s, const struct call_turn *t, int *seq)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_TURN_APPEND];
    long long at = store_at_or_now_ms(t->at);
    int got = 0;
    int src = SQLITE_OK;
    int rc = 0;

    bind_str(st, 1, t->call_sid, &src);
    bind_str(st, 2, turn_role_name(t->role), &src);
    bind_str(st, 3, t->text ? t->text : "", &src);
    bind_str(st, 4, t->tool, &src);
    bind_str(st, 5, t->tool_args ? t->tool_args : "", &src);
    bind_str(st, 6, t->tool_result ? t->tool_result : "", &src);
    bind_i64(st, 7, t->interrupted ? 1 : 0, &src);
    bind_str(st, 8, t->heard ? t->heard : "", &src);
    bind_i64(st, 9, t->latency_ms < 0 ? -1 : t->latency_ms, &src);
    bind_i64(st, 10, at, &src);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        got = sqlite3_column_int(st, 0);
        src = sqlite3_step(st);
    }
    if (src != SQLITE_DONE)
        rc = src == SQLITE_CONSTRAINT_CHECK ? SB_EINVAL : fail(ss->db, "turn_append", src);
    stmt_done(st);
    if (rc == 0 && seq)
        *seq = got;
    return rc;
}

/* Reads a row of ST_TURN_LIST into *t (zeroed first). Returns 0 or SB_ENOMEM (nothing owned). */
static int turn_from_row(sqlite3_stmt *st, void *elem)
{
    struct call_turn *t = elem;
    char role[16];

    memset(t, 0, sizeof(*t));
    col_str(st, 0, t->call_sid, sizeof(t->call_sid));
    t->seq = sqlite3_column_int(st, 1);
    col_str(st, 2, role, sizeof(role));
    if (turn_role_parse(role, &t->role) < 0)
        t->role = TURN_EVENT;
    col_str(st, 4, t->tool, sizeof(t->tool));
    t->interrupted = sqlite3_column_int(st, 7) != 0;
    t->latency_ms = (long)sqlite3_column_int64(st, 9);
    t->at = sqlite3_column_int64(st, 10);
    t->text = col_dup(st, 3);
    t->tool_args = col_dup(st, 5);
    t->tool_result = col_dup(st, 6);
    t->heard = col_dup(st, 8);
    if (t->text && t->tool_args && t->tool_result && t->heard)
        return 0;
    free(t->text);
    free(t->tool_args);
    free(t->tool_result);
    free(t->heard);
    memset(t, 0, sizeof(*t));
    return SB_ENOMEM;
}

static void turn_list_release(void *arr, size_t n)
{
    call_turns_free(arr, n);
}

static int sqlite_turn_list(struct store *s, const char *call_sid, struct call_turn **out,
                            size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);

    return collect_rows_by(ss, ST_TURN_LIST, call_sid, sizeof(**out), turn_from_row,
                           turn_list_release, "turn_list", (void **)out, n);
}

static int sqlite_message_add(struct store *s, const struct call_message *m)
{
    struct sqlite_store *ss = to_sqlite(s);
    sqlite3_stmt *st = ss->st[ST_MESSAGE_INSERT];
    long long at = store_at_or_now_ms(m->at);
    int src = SQLITE_OK;

    bind_str(st, 1, m->call_sid, &src);
    bind_str(st, 2, m->caller_name, &src);
    bind_str(st, 3, m->callback_number, &src);
    bind_str(st, 4, m->message ? m->message : "", &src);
    bind_i64(st, 5, at, &src);
    return run_write(ss, st, src, "message_add");
}

/* Reads a row of ST_MESSAGE_LIST into *elem (zeroed). Returns 0 or SB_ENOMEM (nothing owned). */
static int message_row(sqlite3_stmt *st, void *elem)
{
    struct call_message *m = elem;

    col_str(st, 0, m->call_sid, sizeof(m->call_sid));
    col_str(st, 1, m->caller_name, sizeof(m->caller_name));
    col_str(st, 2, m->callback_number, sizeof(m->callback_number));
    m->at = sqlite3_column_int64(st, 4);
    m->message = col_dup(st, 3);
    return m->message ? 0 : SB_ENOMEM;
}

static void message_list_release(void *arr, size_t n)
{
    call_messages_free(arr, n);
}

static int sqlite_message_list(struct store *s, const char *call_sid, struct call_message **out,
                               size_t *n)
{
    struct sqlite_store *ss = to_sqlite(s);

    return collect_rows_by(ss, ST_MESSAGE_LIST, call_sid ? call_sid : "", sizeof(**out),
                           message_row, message_list_release, "message_list", (void **)out, n);
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .tenant_add = sqlite_tenant_add,
    .tenant_remove = sqlite_tenant_remove,
    .tenant_get = sqlite_tenant_get,
    .tenant_list = sqlite_tenant_list,
    .tenant_update = sqlite_tenant_update,
    .number_add = sqlite_number_add,
    .number_remove = sqlite_number_remove,
    .number_list = sqlite_number_list,
    .routes_version = sqlite_routes_version,
    .call_insert = sqlite_call_insert,
    .status_apply = sqlite_status_apply,
    .call_list = sqlite_call_list,
    .call_get = sqlite_call_get,
    .ping = sqlite_ping,
    .stream_record = sqlite_stream_record,
    .stream_list = sqlite_stream_list,
    .flow_put = sqlite_flow_put,
    .flow_get = sqlite_flow_get,
    .flow_list = sqlite_flow_list,
    .number_set_flow = sqlite_number_set_flow,
    .flow_call_get = sqlite_flow_call_get,
    .flow_call_put = sqlite_flow_call_put,
    .recording_put = sqlite_recording_put,
    .recording_list = sqlite_recording_list,
    .agent_add = sqlite_agent_add,
    .agent_update = sqlite_agent_update,
    .agent_get = sqlite_agent_get,
    .agent_list = sqlite_agent_list,
    .agent_remove = sqlite_agent_remove,
    .knowledge_put = sqlite_knowledge_put,
    .knowledge_file_list = sqlite_knowledge_file_list,
    .knowledge_search = sqlite_knowledge_search,
    .turn_append = sqlite_turn_append,
    .turn_list = sqlite_turn_list,
    .message_add = sqlite_message_add,
    .message_list = sqlite_message_list,
    .job_add = sqlite_job_add,
    .job_get = sqlite_job_get,
    .job_list = sqlite_job_list,
    .job_claim_due = sqlite_job_claim_due,
    .job_placed = sqlite_job_placed,
    .job_status_by_call = sqlite_job_status_by_call,
    .job_release = sqlite_job_release,
    .job_cancel = sqlite_job_cancel,
    .job_mark_sms_sent = sqlite_job_mark_sms_sent,
    .campaign_add = sqlite_campaign_add,
    .campaign_get = sqlite_campaign_get,
    .campaign_list = sqlite_campaign_list,
    .campaign_set_status = sqlite_campaign_set_status,
    .campaign_import = sqlite_campaign_import,
    .optout_set = sqlite_optout_set,
    .transfer_text_mark = sqlite_transfer_text_mark,
    .optout_check = sqlite_optout_check,
    .api_key_add = sqlite_api_key_add,
    .api_key_find = sqlite_api_key_find,
    .api_key_revoke = sqlite_api_key_revoke,
    .api_key_list = sqlite_api_key_list,
    .idempotency_get = sqlite_idempotency_get,
    .idempotency_put = sqlite_idempotency_put,
    .schema_version = sqlite_schema_version,
    .rows_count = sqlite_rows_count,
    .rows_read = sqlite_rows_read,
    .row_insert = sqlite_row_insert,
    .rows_inserted = sqlite_rows_inserted,
    .rate_take = sqlite_rate_take,
};
