/*
 * libFuzzer target for voice/call_request, the JSON body of POST
 * /api/v1/calls. Besides the sanitizers it checks the contract: on success
 * `to` is set, the kind is one of the three with its text where it belongs,
 * every text is NUL-terminated inside its array and retries is 0 to 10, and
 * the request reads back the same when written out again with jansson; on
 * failure the request is empty, the reason is one non-empty line, and a
 * named field is one of the request's.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "voice/call_request.h"

static const char *const names[] = {"to",      "from",         "flow", "agent", "say", "at",
                                    "retries", "sms_fallback", "amd",  "name",  "lang"};

static void check_field(const char *field)
{
    if (!field)
        return;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(field, names[i]) == 0)
            return;
    }
    abort();
}

/* Writes `r` back as a JSON body (the non-empty fields). */
static char *write_back(const struct call_request *r)
{
    json_t *o = json_object();
    char *text;

    json_object_set_new(o, "to", json_string(r->to));
    if (r->from[0])
        json_object_set_new(o, "from", json_string(r->from));
    json_object_set_new(o,
                        r->kind == JOB_KIND_FLOW    ? "flow"
                        : r->kind == JOB_KIND_AGENT ? "agent"
                                                    : "say",
                        json_string(r->kind == JOB_KIND_SAY ? r->say : r->target));
    if (r->at[0])
        json_object_set_new(o, "at", json_string(r->at));
    if (r->name[0])
        json_object_set_new(o, "name", json_string(r->name));
    if (r->lang[0])
        json_object_set_new(o, "lang", json_string(r->lang));
    json_object_set_new(o, "amd", json_boolean(r->amd));
    json_object_set_new(o, "sms_fallback", json_boolean(r->sms_fallback));
    json_object_set_new(o, "retries", json_integer(r->retries));
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        abort();
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct call_request empty;
    struct call_request req, again;
    const char *field = NULL;
    char err[CALL_ERROR_SIZE], *text;
    int rc = call_request_parse((const char *)data, size, &req, &field, err, sizeof(err));

    if (rc) {
        if ((rc != SB_EINVAL && rc != SB_EPARSE) || memcmp(&req, &empty, sizeof(req)) != 0 ||
            !err[0] || strchr(err, '\n'))
            abort();
        check_field(field);
        return 0;
    }
    if (field || !req.to[0] || req.retries < 0 || req.retries > JOB_MAX_RETRIES ||
        (req.kind != JOB_KIND_FLOW && req.kind != JOB_KIND_AGENT && req.kind != JOB_KIND_SAY) ||
        !memchr(req.say, '\0', sizeof(req.say)) || !memchr(req.target, '\0', sizeof(req.target)) ||
        !memchr(req.name, '\0', sizeof(req.name)) || !memchr(req.at, '\0', sizeof(req.at)))
        abort();
    text = write_back(&req);
    if (call_request_parse(text, strlen(text), &again, &field, err, sizeof(err)) != 0 ||
        memcmp(&req, &again, sizeof(req)) != 0)
        abort();
    free(text);
    return 0;
}
