#include "speech/deepgram_wire.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/lang.h"
#include "core/phone.h"
#include "core/utf8.h"
#include "speech/provider_wire.h"
#include "core/banned.h"

/*
 * Tags Deepgram's nova-2 and nova-3 list as languages of their own (its
 * models and languages overview); any other tag is sent as its base
 * language, which both models know for English and Spanish.
 */
static const char *const listed_tags[] = {"en-US", "en-GB",  "en-AU", "en-NZ",
                                          "en-IN", "es-419", "multi"};

static const char *listen_language(const char *lang)
{
    if (!lang || !lang[0])
        return "en";
    for (size_t i = 0; i < sizeof(listed_tags) / sizeof(listed_tags[0]); i++)
        if (lang_same(lang, listed_tags[i]))
            return listed_tags[i];
    return lang_base(lang);
}

int deepgram_listen_url(struct buf *out, const char *base_url, const char *model, const char *lang,
                        char *err, size_t errsize)
{
    size_t start = out->len;
    const char *language = listen_language(lang);
    int rc;

    if (!model || !model[0])
        model = DEEPGRAM_DEFAULT_MODEL;
    if (strlen(model) > PROVIDER_WIRE_NAME_MAX) {
        sb_set_error(err, errsize, "deepgram model is over %d bytes", PROVIDER_WIRE_NAME_MAX);
        return SB_EINVAL;
    }
    if (!language[0]) {
        sb_set_error(err, errsize, "deepgram has no language for '%.64s'", lang);
        return SB_EINVAL;
    }
    rc = provider_wire_base_url(out, base_url, DEEPGRAM_DEFAULT_URL, "deepgram", err, errsize);
    if (rc)
        return rc;
    rc = buf_puts(out, "/v1/listen?model=");
    if (!rc)
        rc = provider_wire_escape(out, model);
    if (!rc)
        rc = buf_puts(out, "&language=");
    if (!rc)
        rc = provider_wire_escape(out, language);
    if (!rc)
        rc = buf_printf(out,
                        "&encoding=mulaw&sample_rate=%d&channels=1&interim_results=true"
                        "&endpointing=300&utterance_end_ms=1000&vad_events=true"
                        "&smart_format=true&punctuate=true",
                        PHONE_RATE);
    if (rc) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        sb_set_error(err, errsize, "deepgram url: %s", sb_strerror(rc));
    }
    return rc;
}

/* Times are seconds from the stream's start: a day is far more than any call. */
#define MAX_SECONDS 86400.0

/* Reads a time field; absent leaves 0. Returns 0 or SB_EPARSE. */
static int seconds(const json_t *obj, const char *key, double *out, const char *what, char *err,
                   size_t errsize)
{
    int rc = provider_wire_number(obj, key, 0, MAX_SECONDS, out, what, err, errsize);

    return rc < 0 ? rc : 0;
}

static int flag(const json_t *obj, const char *key, int *out, char *err, size_t errsize)
{
    int rc = provider_wire_bool(obj, key, out, "deepgram results", err, errsize);

    return rc < 0 ? rc : 0;
}

static int results(const json_t *root, struct deepgram_msg *out, char *err, size_t errsize)
{
    const char *what = "deepgram results";
    const char *text = "";
    size_t len = 0;
    json_t *channel = json_object_get(root, "channel");
    json_t *alts = json_object_get(channel, "alternatives");
    int rc;

    rc = flag(root, "is_final", &out->is_final, err, errsize);
    rc = rc ? rc : flag(root, "speech_final", &out->speech_final, err, errsize);
    rc = rc ? rc : flag(root, "from_finalize", &out->from_finalize, err, errsize);
    rc = rc ? rc : seconds(root, "start", &out->start, what, err, errsize);
    rc = rc ? rc : seconds(root, "duration", &out->duration, what, err, errsize);
    if (rc)
        return rc;
    if (!json_is_object(channel) || !json_is_array(alts)) {
        sb_set_error(err, errsize, "deepgram results has no channel.alternatives");
        return SB_EPARSE;
    }
    if (json_array_size(alts) > 0) {
        json_t *best = json_array_get(alts, 0);

        if (!json_is_object(best)) {
            sb_set_error(err, errsize, "deepgram results alternative is not an object");
            return SB_EPARSE;
        }
        rc = provider_wire_string(best, "transcript", &text, &len, what, err, errsize);
        if (rc == 0) {
            sb_set_error(err, errsize, "deepgram results has no transcript");
            return SB_EPARSE;
        }
        if (rc < 0)
            return rc;
        rc = provider_wire_number(best, "confidence", 0, 1, &out->confidence, what, err, errsize);
        if (rc < 0)
            return rc;
    }
    if (!utf8_valid(text, len)) {
        sb_set_error(err, errsize, "deepgram transcript is not valid utf-8");
        return SB_EPARSE;
    }
    out->truncated = provider_wire_copy(out->transcript, sizeof(out->transcript), text, len);
    return 0;
}

/* Copies an optional string field into a fixed one, cut to fit. */
static int text_field(const json_t *obj, const char *key, char *dst, size_t size, const char *what,
                      char *err, size_t errsize)
{
    const char *s;
    size_t len;
    int rc = provider_wire_string(obj, key, &s, &len, what, err, errsize);

    if (rc > 0)
        provider_wire_copy(dst, size, s, len);
    return rc < 0 ? rc : 0;
}

/* An error code may be a string ("INTERNAL_SERVER_ERROR") or a number. */
static void code_field(const json_t *obj, const char *key, char *dst, size_t size)
{
    json_t *v = json_object_get(obj, key);

    if (json_is_string(v))
        provider_wire_copy(dst, size, json_string_value(v), json_string_length(v));
    else if (json_is_integer(v))
        snprintf(dst, size, "%lld", (long long)json_integer_value(v));
}

static int error_message(const json_t *root, struct deepgram_msg *out, char *err, size_t errsize)
{
    static const char *const text_keys[] = {"description", "message", "err_msg", "details"};
    const char *what = "deepgram error";
    int rc = 0;

    out->kind = DEEPGRAM_ERROR;
    for (size_t i = 0; i < sizeof(text_keys) / sizeof(text_keys[0]) && !rc && !out->error[0]; i++)
        rc = text_field(root, text_keys[i], out->error, sizeof(out->error), what, err, errsize);
    if (!rc)
        rc = text_field(root, "request_id", out->request_id, sizeof(out->request_id), what, err,
                        errsize);
    if (rc)
        return rc;
    code_field(root, "code", out->error_code, sizeof(out->error_code));
    if (!out->error_code[0])
        code_field(root, "err_code", out->error_code, sizeof(out->error_code));
    if (!out->error_code[0])
        code_field(root, "variant", out->error_code, sizeof(out->error_code));
    if (!out->error_code[0])
        code_field(root, "category", out->error_code, sizeof(out->error_code));
    if (!out->error[0])
        snprintf(out->error, sizeof(out->error), "%s",
                 out->error_code[0] ? out->error_code : "deepgram sent an error without a reason");
    return 0;
}

/* An HTTP-style error body ({"err_code","err_msg"} or {"category","message"}) has no type. */
static int untyped_error(const json_t *root)
{
    return json_object_get(root, "err_code") || json_object_get(root, "err_msg") ||
           (json_object_get(root, "category") && json_object_get(root, "message"));
}

static int parse_object(const json_t *root, struct deepgram_msg *out, char *err, size_t errsize)
{
    const char *type;
    size_t len;
    int rc = provider_wire_string(root, "type", &type, &len, "deepgram message", err, errsize);

    if (rc < 0)
        return rc;
    if (rc == 0) {
        if (untyped_error(root))
            return error_message(root, out, err, errsize);
        sb_set_error(err, errsize, "deepgram message has no type");
        return SB_EPARSE;
    }
    provider_wire_copy(out->type, sizeof(out->type), type, len);
    if (strcmp(type, "Results") == 0) {
        out->kind = DEEPGRAM_RESULTS;
        return results(root, out, err, errsize);
    }
    if (strcmp(type, "UtteranceEnd") == 0) {
        out->kind = DEEPGRAM_UTTERANCE_END;
        return seconds(root, "last_word_end", &out->last_word_end, "deepgram utteranceend", err,
                       errsize);
    }
    if (strcmp(type, "SpeechStarted") == 0) {
        out->kind = DEEPGRAM_SPEECH_STARTED;
        return seconds(root, "timestamp", &out->timestamp, "deepgram speechstarted", err, errsize);
    }
    if (strcmp(type, "Metadata") == 0) {
        out->kind = DEEPGRAM_METADATA;
        rc = seconds(root, "duration", &out->duration, "deepgram metadata", err, errsize);
        return rc ? rc
                  : text_field(root, "request_id", out->request_id, sizeof(out->request_id),
                               "deepgram metadata", err, errsize);
    }
    if (strcmp(type, "Error") == 0 || strcmp(type, "error") == 0)
        return error_message(root, out, err, errsize);
    out->kind = DEEPGRAM_OTHER;
    return 0;
}

int deepgram_parse(const char *json, size_t len, struct deepgram_msg *out, char *err,
                   size_t errsize)
{
    json_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = provider_wire_load(json, len, DEEPGRAM_MESSAGE_MAX, "deepgram", &root, err, errsize);
    if (rc)
        return rc;
    rc = parse_object(root, out, err, errsize);
    json_decref(root);
    if (rc)
        memset(out, 0, sizeof(*out));
    return rc;
}
