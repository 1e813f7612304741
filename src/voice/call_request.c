#include "voice/call_request.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

enum field_type { F_TEXT, F_BOOL, F_RETRIES };

/* The request's fields: the parser and the unknown-field check read the same table. */
static const struct field {
    const char *name;
    enum field_type type;
    size_t offset; /* into struct call_request */
    size_t size;   /* F_TEXT: the array's size */
} fields[] = {
    {"to", F_TEXT, offsetof(struct call_request, to), CALL_NUMBER_SIZE},
    {"from", F_TEXT, offsetof(struct call_request, from), CALL_NUMBER_SIZE},
    {"flow", F_TEXT, offsetof(struct call_request, target), JOB_TARGET_SIZE},
    {"agent", F_TEXT, offsetof(struct call_request, target), JOB_TARGET_SIZE},
    {"say", F_TEXT, offsetof(struct call_request, say), JOB_SAY_MAX + 1},
    {"at", F_TEXT, offsetof(struct call_request, at), CALL_AT_SIZE},
    {"amd", F_BOOL, offsetof(struct call_request, amd), 0},
    {"retries", F_RETRIES, offsetof(struct call_request, retries), 0},
    {"sms_fallback", F_BOOL, offsetof(struct call_request, sms_fallback), 0},
    {"name", F_TEXT, offsetof(struct call_request, name), JOB_NAME_SIZE},
    {"lang", F_TEXT, offsetof(struct call_request, lang), LANG_SIZE},
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const struct field *field_find(const char *name)
{
    for (size_t i = 0; i < NFIELDS; i++) {
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    }
    return NULL;
}

/* Reads one field's value into `out`; null is the same as leaving the field out. */
static int field_read(const struct field *f, json_t *v, struct call_request *out, char *err,
                      size_t errsize)
{
    char *dst = (char *)out + f->offset;

    if (json_is_null(v))
        return 0;
    switch (f->type) {
    case F_TEXT: {
        size_t len;

        if (!json_is_string(v)) {
            sb_set_error(err, errsize, "'%s' must be a string", f->name);
            return SB_EINVAL;
        }
        len = json_string_length(v);
        /* A NUL inside is refused by the parser (no JSON_ALLOW_NUL). */
        if (len >= f->size) {
            if (f->size == CALL_NUMBER_SIZE)
                sb_set_error(err, errsize, "'%s' is not an E.164 number ('+' and 7 to 15 digits)",
                             f->name);
            else
                sb_set_error(err, errsize, "'%s' is longer than %zu bytes", f->name, f->size - 1);
            return SB_EINVAL;
        }
        memcpy(dst, json_string_value(v), len + 1);
        return 0;
    }
    case F_BOOL:
        if (!json_is_boolean(v)) {
            sb_set_error(err, errsize, "'%s' must be true or false", f->name);
            return SB_EINVAL;
        }
        *(int *)(void *)dst = json_is_true(v);
        return 0;
    case F_RETRIES:
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > JOB_MAX_RETRIES) {
            sb_set_error(err, errsize, "'%s' must be a whole number from 0 to %d", f->name,
                         JOB_MAX_RETRIES);
            return SB_EINVAL;
        }
        *(int *)(void *)dst = (int)json_integer_value(v);
        return 0;
    }
    return SB_EINVAL;
}

/*
 * Keeps a reason to printable ASCII: it may quote the body (jansson's token,
 * an unknown key cut short), and goes out in a JSON string and on one line.
 */
static void err_ascii(char *err, size_t errsize)
{
    for (size_t i = 0; err && i < errsize && err[i]; i++) {
        if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
            err[i] = '?';
    }
}

int call_request_parse(const char *body, size_t len, struct call_request *out, const char **field,
                       char *err, size_t errsize)
{
    json_error_t jerr;
    json_t *root, *v;
    const char *key;
    int given = 0, rc = 0;
    const char *bad = NULL;

    memset(out, 0, sizeof(*out));
    if (field)
        *field = NULL;
    root = json_loadb(body ? body : "", body ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson's text names the line and column; it never quotes the body back. */
        sb_set_error(err, errsize, "the body is not valid JSON: %s (line %d, column %d)", jerr.text,
                     jerr.line, jerr.column);
        err_ascii(err, errsize);
        return SB_EPARSE;
    }
    if (!json_is_object(root)) {
        sb_set_error(err, errsize, "the body must be a JSON object");
        json_decref(root);
        return SB_EPARSE;
    }
    json_object_foreach(root, key, v)
    {
        const struct field *f = field_find(key);

        if (!f) {
            /* Strict: a misspelt field ("retry") must not be silently ignored. */
            sb_set_error(err, errsize, "unknown field '%.64s'", key);
            rc = SB_EINVAL;
            break;
        }
        rc = field_read(f, v, out, err, errsize);
        if (rc) {
            bad = f->name;
            break;
        }
        if ((f->offset == offsetof(struct call_request, target) ||
             f->offset == offsetof(struct call_request, say)) &&
            !json_is_null(v)) {
            given++;
            out->kind = strcmp(f->name, "flow") == 0    ? JOB_KIND_FLOW
                        : strcmp(f->name, "agent") == 0 ? JOB_KIND_AGENT
                                                        : JOB_KIND_SAY;
        }
    }
    if (rc == 0 && !out->to[0]) {
        bad = "to";
        sb_set_error(err, errsize, "'to' is missing");
        rc = SB_EINVAL;
    }
    if (rc == 0 && given != 1) {
        bad = given ? "say" : "flow";
        sb_set_error(err, errsize, "give exactly one of 'flow', 'agent' and 'say'");
        rc = SB_EINVAL;
    }
    json_decref(root);
    if (rc) {
        err_ascii(err, errsize);
        if (field)
            *field = bad;
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

void call_request_job(const struct call_request *req, const char *tenant, struct job_request *out)
{
    memset(out, 0, sizeof(*out));
    out->tenant = tenant;
    out->to = req->to;
    out->from = req->from;
    out->contact_name = req->name;
    out->lang = req->lang;
    out->kind = req->kind;
    out->target = req->kind == JOB_KIND_SAY ? NULL : req->target;
    out->say_text = req->kind == JOB_KIND_SAY ? req->say : NULL;
    out->max_retries = req->retries;
    out->amd = req->amd;
    out->sms_fallback = req->sms_fallback;
}
