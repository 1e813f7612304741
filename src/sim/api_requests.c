/*
 * The record of requests switchboard sim api received, so that tests can
 * count what a client did (how many calls it created, to whom): one JSON
 * object per request to the REST API with its form fields as sent, the
 * status it was answered and the SID it created. Kept in memory for
 * GET /_sim/requests and appended, a line at a time, to the --record file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "sim/api_internal.h"
#include "core/banned.h"

/* The memory the record may hold; past it the oldest requests are dropped (the file keeps all). */
#define API_RECORD_MAX_BYTES (16u * 1024 * 1024)

struct api_record {
    struct api_record *next;
    size_t len;
    char line[]; /* the JSON object, NUL-terminated, no newline */
};

int api_requests_open(struct sim_api *api)
{
    api->record_fd = -1;
    api->record_tail = &api->record;
    if (!api->o->record_path)
        return 0;
    api->record_fd = open(api->o->record_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (api->record_fd < 0) {
        log_event(LOG_ERROR, "api.start_failed", "error=\"cannot open the record file %s: %s\"",
                  api->o->record_path, errno == EACCES ? "permission denied" : "cannot create");
        return SB_EIO;
    }
    return 0;
}

/* "2024-05-01T12:00:00.123Z" for now. */
static json_t *now_json(void)
{
    long long ms = clock_wall_ms();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char day[32], out[48];

    gmtime_r(&t, &tm);
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, sizeof(out), "%s.%03lldZ", day, ms % 1000);
    return json_string(out);
}

/* The form as an object; a key given more than once holds the list of its values. */
static json_t *params_json(const struct form *f)
{
    json_t *obj = json_object();

    for (size_t i = 0; f && obj && i < f->count; i++) {
        const char *key = f->fields[i].key;
        json_t *value = json_string(f->fields[i].value);
        json_t *old = json_object_get(obj, key);

        /* A value that is not UTF-8 cannot be JSON: it is kept as null. */
        if (!value)
            value = json_null();
        if (!old) {
            json_object_set_new(obj, key, value);
        } else if (json_is_array(old)) {
            json_array_append_new(old, value);
        } else {
            json_t *list = json_array();

            json_array_append(list, old);
            json_array_append_new(list, value);
            json_object_set_new(obj, key, list);
        }
    }
    return obj;
}

static json_t *str_or_null(const char *s)
{
    json_t *v = s && *s ? json_string(s) : NULL;

    return v ? v : json_null();
}

/* Keeps the line in memory, dropping the oldest past the limit. */
static void keep(struct sim_api *api, const char *line, size_t len)
{
    struct api_record *rec = malloc(sizeof(*rec) + len + 1);

    if (!rec) {
        log_event(LOG_ERROR, "api.record_failed", "error=\"out of memory\"");
        return;
    }
    rec->next = NULL;
    rec->len = len;
    memcpy(rec->line, line, len + 1);
    *api->record_tail = rec;
    api->record_tail = &rec->next;
    api->record_bytes += len + 1;
    while (api->record_bytes > API_RECORD_MAX_BYTES && api->record != rec) {
        struct api_record *old = api->record;

        api->record = old->next;
        api->record_bytes -= old->len + 1;
        if (api->record_dropped++ == 0)
            log_event(LOG_WARN, "api.record_full", "bytes=%u", API_RECORD_MAX_BYTES);
        free(old);
    }
}

/* Appends the line and a newline to the file in one write, so lines never interleave. */
static void append(struct sim_api *api, char *line, size_t len)
{
    ssize_t n;

    if (api->record_fd < 0)
        return;
    line[len] = '\n';
    do {
        n = write(api->record_fd, line, len + 1);
    } while (n < 0 && errno == EINTR);
    line[len] = '\0';
    if (n != (ssize_t)(len + 1) && !api->record_write_failed) {
        api->record_write_failed = 1;
        log_event(LOG_ERROR, "api.record_failed", "error=\"cannot write the record file %s\"",
                  api->o->record_path);
    }
}

void api_requests_add(struct sim_api *api, const struct api_record_info *info)
{
    const struct api_reply *r = info->reply;
    json_t *doc;
    char *line = NULL, *wide = NULL;
    size_t len;

    doc = json_object();
    if (!doc)
        goto oom;
    json_object_set_new(doc, "seq", json_integer((json_int_t)info->seq));
    json_object_set_new(doc, "time", now_json());
    json_object_set_new(doc, "method", str_or_null(info->method));
    json_object_set_new(doc, "path", str_or_null(info->path));
    json_object_set_new(doc, "action", str_or_null(info->action));
    json_object_set_new(doc, "params", params_json(info->params));
    json_object_set_new(doc, "status", json_integer(r->status));
    json_object_set_new(doc, "code", r->code ? json_integer(r->code) : json_null());
    json_object_set_new(doc, "fault", str_or_null(r->fault));
    json_object_set_new(doc, "call_sid", str_or_null(r->created ? r->call_sid : NULL));
    json_object_set_new(doc, "message_sid", str_or_null(r->message_sid));
    line = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!line)
        goto oom;
    len = strlen(line);
    /* Room for the newline the file gets. */
    wide = realloc(line, len + 2);
    if (!wide)
        goto oom;
    line = wide;
    keep(api, line, len);
    append(api, line, len);
    free(line);
    return;
oom:
    free(line);
    log_event(LOG_ERROR, "api.record_failed", "error=\"out of memory\"");
}

void api_requests_serve(struct sim_api *api, struct api_reply *r)
{
    size_t total = 2, off = 0;
    char *body;

    for (struct api_record *rec = api->record; rec; rec = rec->next)
        total += rec->len + 1;
    body = malloc(total + 1);
    if (!body) {
        api_reply_error(r, 500, 20500, "Internal Server Error: out of memory");
        return;
    }
    body[off++] = '[';
    for (struct api_record *rec = api->record; rec; rec = rec->next) {
        if (rec != api->record)
            body[off++] = ',';
        memcpy(body + off, rec->line, rec->len);
        off += rec->len;
    }
    body[off++] = ']';
    body[off] = '\0';
    free(r->body);
    r->body = body;
    r->len = off;
    r->status = 200;
    r->content_type = "application/json";
}

void api_requests_free(struct sim_api *api)
{
    while (api->record) {
        struct api_record *rec = api->record;

        api->record = rec->next;
        free(rec);
    }
    api->record_tail = &api->record;
    api->record_bytes = 0;
    if (api->record_fd >= 0)
        close(api->record_fd);
    api->record_fd = -1;
}
