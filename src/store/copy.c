/* A whole store copied between backends (store/copy.h). */
#include "store/copy.h"

#include <stdio.h>

#include "store/store.h"

#include "core/log.h"
#include "core/banned.h"

#define COLS(...)                                                                                  \
    (const char *const[])                                                                          \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
#define NCOLS(...) (sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))
#define TABLE(name, id, ...)                                                                       \
    {                                                                                              \
        name, id, COLS(__VA_ARGS__), NCOLS(__VA_ARGS__)                                            \
    }

/*
 * Parents first. The tables of `skipped` below are not copied. The
 * knowledge index (FTS5 or tsvector) is the destination's own, built from
 * the passages.
 */
static const struct copy_table tables[] = {
    TABLE("tenants", NULL, "name", "default_lang", "transfer_number", "timezone", "sms_fallback"),
    TABLE("tenant_langs", NULL, "tenant", "lang", "voice", "greeting"),
    TABLE("tenant_relay_voices", NULL, "tenant", "lang", "tts_provider", "voice",
          "transcription_provider"),
    TABLE("flows", NULL, "tenant", "name", "json", "updated_at"),
    TABLE("agents", NULL, "tenant", "name", "base_url", "model", "api_key_env", "prompt",
          "temperature", "max_tokens", "langs", "first_token_timeout_ms", "fallback", "created_at",
          "updated_at", "stt", "stt_model", "stt_url", "stt_key_env", "tts", "tts_url",
          "tts_key_env", "voices"),
    TABLE("numbers", NULL, "e164", "tenant", "plan", "agent", "active", "flow"),
    TABLE("knowledge_files", NULL, "tenant", "agent", "name", "bytes", "passages", "imported_at"),
    TABLE("knowledge_passages", "id", "id", "tenant", "agent", "file", "seq", "heading", "body"),
    TABLE("campaigns", "id", "id", "tenant", "name", "status", "created_at", "updated_at"),
    TABLE("jobs", "id", "id", "tenant", "campaign_id", "to_number", "from_number", "contact_name",
          "lang", "kind", "target", "say_text", "not_before", "status", "attempts", "max_retries",
          "retry_delay_s", "next_attempt_at", "call_sid", "answered_by", "amd", "sms_fallback",
          "sms_sent", "error", "created_at", "updated_at", "placing_since"),
    TABLE("calls", NULL, "call_sid", "tenant", "direction", "from_number", "to_number", "status",
          "duration", "lang", "started_at", "ended_at", "updated_at", "job_id"),
    TABLE("call_events", NULL, "call_sid", "dedupe_key", "status", "sequence", "duration", "at",
          "applied"),
    TABLE("call_streams", NULL, "stream_sid", "call_sid", "started_at", "stopped_at", "reason",
          "duration_ms", "frames_in", "frames_out"),
    TABLE("call_turns", NULL, "call_sid", "seq", "role", "text", "tool", "tool_args", "tool_result",
          "interrupted", "heard", "latency_ms", "at"),
    TABLE("call_messages", "id", "id", "call_sid", "caller_name", "callback_number", "message",
          "at"),
    TABLE("flow_calls", NULL, "call_sid", "tenant", "flow", "node", "attempts", "steps", "lang",
          "done", "step_no", "last_twiml", "updated_at"),
    TABLE("recordings", NULL, "recording_sid", "call_sid", "url", "duration", "status", "at"),
    TABLE("opt_outs", NULL, "tenant", "number", "at"),
    TABLE("api_keys", "id", "id", "tenant", "key_hash", "prefix", "created_at", "revoked", "name"),
    TABLE("idempotency", NULL, "tenant", "key", "job_id", "request_hash", "created_at"),
    TABLE("transfer_texts", NULL, "call_sid", "tenant", "at"),
};

const struct copy_table *copy_tables(size_t *n)
{
    *n = sizeof(tables) / sizeof(tables[0]);
    return tables;
}

static const char *const skipped[] = {
    /* The destination has its own, at the same version (copy_check). */
    "schema_migrations",
    /* The destination has its own: its triggers move it as the rows arrive. */
    "routes_version",
    /* Create slots of the last second or two (rate_take): worth nothing later. */
    "rate_slots",
};

const char *const *copy_skipped_tables(size_t *n)
{
    *n = sizeof(skipped) / sizeof(skipped[0]);
    return skipped;
}

int copy_column_list(char *buf, size_t size, const char *const *cols, size_t ncols, char mark)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < ncols; i++) {
        char one[32];
        int w;

        if (mark)
            snprintf(one, sizeof(one), "%c%zu", mark, i + 1);
        w = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", mark ? one : cols[i]);
        if (w < 0 || (size_t)w >= size - len)
            return SB_EINVAL;
        len += (size_t)w;
    }
    return 0;
}

struct row_sink {
    struct store *dst;
    const struct copy_table *t;
    long long copied;
};

static int copy_row(void *arg, const char *const *values)
{
    struct row_sink *sink = arg;
    int rc =
        sink->dst->ops->row_insert(sink->dst, sink->t->name, sink->t->cols, sink->t->ncols, values);

    if (rc == 0)
        sink->copied++;
    return rc;
}

/* Checks that both stores are at one schema version and that `dst` holds nothing. */
static int copy_check(struct store *src, struct store *dst, const char **nonempty)
{
    long long vs = 0;
    long long vd = 0;
    int rc;

    rc = src->ops->schema_version(src, &vs);
    if (rc == 0)
        rc = dst->ops->schema_version(dst, &vd);
    if (rc)
        return rc;
    if (vs != vd) {
        log_event(LOG_ERROR, "store.copy", "reason=\"schema versions differ\" src=%lld dst=%lld",
                  vs, vd);
        return SB_ESTORE;
    }
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        long long n = 0;

        rc = dst->ops->rows_count(dst, tables[i].name, &n);
        if (rc)
            return rc;
        if (n > 0) {
            *nonempty = tables[i].name;
            return SB_EEXISTS;
        }
    }
    return 0;
}

int store_copy(struct store *src, struct store *dst, const struct copy_progress *progress,
               const char **nonempty)
{
    int rc;

    if (!src || !dst || !nonempty)
        return SB_EINVAL;
    *nonempty = NULL;
    rc = copy_check(src, dst, nonempty);
    if (rc)
        return rc;
    rc = store_begin(dst);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]) && rc == 0; i++) {
        struct row_sink sink = {dst, &tables[i], 0};
        long long before = 0;
        long long after = 0;

        rc = src->ops->rows_read(src, tables[i].name, tables[i].cols, tables[i].ncols, copy_row,
                                 &sink);
        if (rc == 0 && tables[i].id_col)
            rc = dst->ops->rows_inserted(dst, tables[i].name, tables[i].id_col);
        /* Counted again on both sides: a row the destination dropped must not pass unseen. */
        if (rc == 0)
            rc = src->ops->rows_count(src, tables[i].name, &before);
        if (rc == 0)
            rc = dst->ops->rows_count(dst, tables[i].name, &after);
        if (rc == 0 && (before != sink.copied || after != sink.copied)) {
            log_event(LOG_ERROR, "store.copy",
                      "table=%s reason=\"row counts differ\" src=%lld copied=%lld dst=%lld",
                      tables[i].name, before, sink.copied, after);
            rc = SB_ESTORE;
        }
        if (rc == 0 && progress && progress->table_done)
            progress->table_done(progress->arg, tables[i].name, before, after);
    }
    if (rc) {
        store_rollback(dst);
        return rc;
    }
    return store_commit(dst);
}
