#include "speech/tts_wire.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/phone.h"
#include "core/utf8.h"
#include "speech/provider_wire.h"
#include "core/banned.h"

static void truncate_buf(struct buf *out, size_t len)
{
    out->len = len;
    if (out->data)
        out->data[len] = '\0';
}

/* A string from the caller: present (or empty when allowed), at most `max` bytes, UTF-8. */
static int check_text(const char *s, size_t max, int may_be_empty, const char *what, char *err,
                      size_t errsize)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 && !may_be_empty) {
        sb_set_error(err, errsize, "%s is empty", what);
        return SB_EINVAL;
    }
    if (n > max) {
        sb_set_error(err, errsize, "%s is over %zu bytes", what, max);
        return SB_EINVAL;
    }
    if (n && !utf8_valid(s, n)) {
        sb_set_error(err, errsize, "%s is not valid utf-8", what);
        return SB_EINVAL;
    }
    return 0;
}

/* Appends `root` as JSON (taking the reference) unless building it failed already. */
static int finish(struct buf *out, json_t *root, int rc, const char *what, char *err,
                  size_t errsize)
{
    if (!rc)
        rc = provider_wire_dump(out, root);
    json_decref(root);
    if (rc)
        sb_set_error(err, errsize, "%s: %s", what, sb_strerror(rc));
    return rc;
}

/*
 * The error text and code of an error message, from whichever of the usual
 * fields carry them; fills only what is still "" (text and code start "").
 * `nested`: `obj` is the object under "error", which is read only once.
 */
static void error_fields(const json_t *obj, char *text, size_t textsize, char *code,
                         size_t codesize, int nested)
{
    json_t *e = json_object_get(obj, "error");
    json_t *v = json_object_get(obj, "message");

    if (!text[0] && json_is_string(v))
        provider_wire_copy(text, textsize, json_string_value(v), json_string_length(v));
    v = json_object_get(obj, "error_code");
    if (!json_is_string(v))
        v = json_is_string(e) ? e : json_object_get(obj, "code");
    if (!code[0] && json_is_string(v))
        provider_wire_copy(code, codesize, json_string_value(v), json_string_length(v));
    else if (!code[0] && json_is_integer(v))
        snprintf(code, codesize, "%lld", (long long)json_integer_value(v));
    /* {"error":{"message":...,"code":...}} */
    if (!nested && json_is_object(e))
        error_fields(e, text, textsize, code, codesize, 1);
}

/* Decodes base64 audio into `audio`, with the reason on failure. */
static int decode_audio(struct buf *audio, const char *s, size_t n, const char *what, char *err,
                        size_t errsize)
{
    int rc = provider_wire_base64(audio, s, n);

    if (rc == SB_EPARSE)
        sb_set_error(err, errsize, "%s is not base64", what);
    else if (rc == SB_ETOOBIG)
        sb_set_error(err, errsize, "%s is over the %zu bytes the buffer holds", what, audio->max);
    else if (rc)
        sb_set_error(err, errsize, "%s: %s", what, sb_strerror(rc));
    return rc;
}

/* ---- ElevenLabs --------------------------------------------------------- */

/*
 * The models that take language_code ("Currently only Turbo v2.5 and Flash
 * v2.5 support language enforcement. For other models, an error will be
 * returned", ElevenLabs' API reference).
 */
static const char *const language_models[] = {"eleven_flash_v2_5", "eleven_turbo_v2_5"};

static int takes_language(const char *model)
{
    for (size_t i = 0; i < sizeof(language_models) / sizeof(language_models[0]); i++)
        if (strcmp(model, language_models[i]) == 0)
            return 1;
    return 0;
}

int elevenlabs_url(struct buf *out, const char *base, const char *voice_id, const char *model_id,
                   const char *lang, char *err, size_t errsize)
{
    size_t start = out->len;
    const char *code = "";
    int rc;

    if (!model_id || !model_id[0])
        model_id = ELEVENLABS_DEFAULT_MODEL;
    rc = check_text(voice_id, PROVIDER_WIRE_NAME_MAX, 0, "elevenlabs voice id", err, errsize);
    if (!rc)
        rc = check_text(model_id, PROVIDER_WIRE_NAME_MAX, 0, "elevenlabs model", err, errsize);
    if (rc)
        return rc;
    if (lang && lang[0] && takes_language(model_id)) {
        code = provider_wire_iso639_1(lang);
        if (!code[0]) {
            sb_set_error(err, errsize, "elevenlabs has no language code for '%.64s'", lang);
            return SB_EINVAL;
        }
    }
    rc = provider_wire_base_url(out, base, ELEVENLABS_DEFAULT_URL, "elevenlabs", err, errsize);
    if (rc)
        return rc;
    rc = buf_puts(out, "/v1/text-to-speech/");
    rc = rc ? rc : provider_wire_escape(out, voice_id);
    rc = rc ? rc : buf_puts(out, "/stream-input?model_id=");
    rc = rc ? rc : provider_wire_escape(out, model_id);
    if (!rc && code[0])
        rc = buf_printf(out, "&language_code=%s", code);
    rc = rc ? rc : buf_puts(out, "&output_format=ulaw_8000&auto_mode=true");
    if (rc) {
        truncate_buf(out, start);
        sb_set_error(err, errsize, "elevenlabs url: %s", sb_strerror(rc));
    }
    return rc;
}

static int check_setting(double v, double min, double max, const char *name, char *err,
                         size_t errsize)
{
    if (v >= min && v <= max)
        return 0;
    sb_set_error(err, errsize, "elevenlabs %s must be between %g and %g", name, min, max);
    return SB_EINVAL;
}

int elevenlabs_init_message(struct buf *out, const struct elevenlabs_settings *s, char *err,
                            size_t errsize)
{
    static const struct elevenlabs_settings defaults = ELEVENLABS_SETTINGS_DEFAULT;
    json_t *root, *vs;
    int rc;

    if (!s)
        s = &defaults;
    rc = check_setting(s->stability, 0, 1, "stability", err, errsize);
    rc = rc ? rc : check_setting(s->similarity_boost, 0, 1, "similarity_boost", err, errsize);
    rc = rc ? rc : check_setting(s->style, 0, 1, "style", err, errsize);
    rc = rc ? rc : check_setting(s->speed, 0.7, 1.2, "speed", err, errsize);
    if (!rc && s->nschedule > ELEVENLABS_SCHEDULE_MAX) {
        sb_set_error(err, errsize, "elevenlabs chunk_length_schedule has over %d items",
                     ELEVENLABS_SCHEDULE_MAX);
        rc = SB_EINVAL;
    }
    for (size_t i = 0; !rc && i < s->nschedule; i++)
        rc = check_setting(s->schedule[i], 50, 500, "chunk_length_schedule items", err, errsize);
    if (rc)
        return rc;
    root = json_object();
    vs = json_object();
    provider_wire_put(&rc, root, "text", json_string(" "));
    provider_wire_put(&rc, vs, "stability", json_real(s->stability));
    provider_wire_put(&rc, vs, "similarity_boost", json_real(s->similarity_boost));
    provider_wire_put(&rc, vs, "style", json_real(s->style));
    provider_wire_put(&rc, vs, "use_speaker_boost", json_boolean(s->use_speaker_boost));
    provider_wire_put(&rc, vs, "speed", json_real(s->speed));
    provider_wire_put(&rc, root, "voice_settings", vs);
    if (s->nschedule) {
        json_t *gc = json_object(), *sched = json_array();

        for (size_t i = 0; i < s->nschedule; i++)
            if (json_array_append_new(sched, json_integer(s->schedule[i])) != 0)
                rc = rc ? rc : SB_ENOMEM;
        provider_wire_put(&rc, gc, "chunk_length_schedule", sched);
        provider_wire_put(&rc, root, "generation_config", gc);
    }
    return finish(out, root, rc, "elevenlabs initialize message", err, errsize);
}

int elevenlabs_text_message(struct buf *out, const char *text, int flush, char *err, size_t errsize)
{
    json_t *root;
    size_t n;
    int rc = check_text(text, TTS_WIRE_TEXT_MAX, 0, "elevenlabs text", err, errsize);

    if (rc)
        return rc;
    n = strlen(text);
    root = json_object();
    provider_wire_put(&rc, root, "text", json_sprintf("%s%s", text, text[n - 1] == ' ' ? "" : " "));
    if (flush)
        provider_wire_put(&rc, root, "flush", json_true());
    return finish(out, root, rc, "elevenlabs text message", err, errsize);
}

static int eleven_object(const json_t *root, struct buf *audio, struct elevenlabs_msg *out,
                         char *err, size_t errsize)
{
    const char *what = "elevenlabs";
    json_t *type = json_object_get(root, "type");
    json_t *error = json_object_get(root, "error");
    const char *data;
    size_t n, before = audio->len;
    int final = 0, rc;

    if ((error && !json_is_null(error) && !json_is_false(error)) ||
        (json_is_string(type) && strcmp(json_string_value(type), "error") == 0)) {
        out->kind = ELEVENLABS_ERROR;
        error_fields(root, out->error, sizeof(out->error), out->error_code, sizeof(out->error_code),
                     0);
        if (!out->error[0])
            snprintf(out->error, sizeof(out->error), "%s",
                     out->error_code[0] ? out->error_code
                                        : "elevenlabs sent an error without a message");
        return 0;
    }
    rc = provider_wire_bool(root, "isFinal", &final, what, err, errsize);
    if (rc >= 0 && !final)
        rc = provider_wire_bool(root, "is_final", &final, what, err, errsize);
    if (rc < 0)
        return rc;
    out->is_final = final;
    rc = provider_wire_string(root, "audio", &data, &n, what, err, errsize);
    if (rc < 0)
        return rc;
    if (rc > 0 && n > 0) {
        rc = decode_audio(audio, data, n, "elevenlabs audio", err, errsize);
        if (rc)
            return rc;
        out->audio_len = audio->len - before;
    }
    out->kind = out->audio_len ? ELEVENLABS_AUDIO : final ? ELEVENLABS_FINAL : ELEVENLABS_OTHER;
    return 0;
}

/*
 * What both parsers share: the buffer check, the JSON object, and on failure
 * the audio buffer as it was and the message zeroed. `object` reads the
 * provider's fields into `out` (`outsize` bytes).
 */
static int parse_message(const char *json, size_t len, struct buf *audio, void *out, size_t outsize,
                         const char *provider,
                         int (*object)(const json_t *root, struct buf *audio, void *out, char *err,
                                       size_t errsize),
                         char *err, size_t errsize)
{
    json_t *root;
    size_t before;
    int rc;

    memset(out, 0, outsize);
    if (!audio) {
        sb_set_error(err, errsize, "%s audio needs a buffer", provider);
        return SB_EINVAL;
    }
    before = audio->len;
    rc = provider_wire_load(json, len, TTS_WIRE_MESSAGE_MAX, provider, &root, err, errsize);
    if (rc)
        return rc;
    rc = object(root, audio, out, err, errsize);
    json_decref(root);
    if (rc) {
        truncate_buf(audio, before);
        memset(out, 0, outsize);
    }
    return rc;
}

static int eleven_object_any(const json_t *root, struct buf *audio, void *out, char *err,
                             size_t errsize)
{
    return eleven_object(root, audio, out, err, errsize);
}

int elevenlabs_parse(const char *json, size_t len, struct buf *audio, struct elevenlabs_msg *out,
                     char *err, size_t errsize)
{
    return parse_message(json, len, audio, out, sizeof(*out), "elevenlabs", eleven_object_any, err,
                         errsize);
}

/* ---- Cartesia ----------------------------------------------------------- */

int cartesia_url(struct buf *out, const char *base, char *err, size_t errsize)
{
    size_t start = out->len;
    int rc = provider_wire_base_url(out, base, CARTESIA_DEFAULT_URL, "cartesia", err, errsize);

    if (rc)
        return rc;
    rc = buf_puts(out, "/tts/websocket");
    if (rc) {
        truncate_buf(out, start);
        sb_set_error(err, errsize, "cartesia url: %s", sb_strerror(rc));
    }
    return rc;
}

int cartesia_request_message(struct buf *out, const struct cartesia_request *r, char *err,
                             size_t errsize)
{
    const char *model, *transcript, *code = "";
    json_t *root, *voice, *format;
    int rc;

    if (!r) {
        sb_set_error(err, errsize, "cartesia request is missing");
        return SB_EINVAL;
    }
    model = r->model_id && r->model_id[0] ? r->model_id : CARTESIA_DEFAULT_MODEL;
    transcript = r->transcript ? r->transcript : "";
    rc = check_text(r->context_id, CARTESIA_CONTEXT_ID_MAX, 0, "cartesia context_id", err, errsize);
    rc = rc ? rc
            : check_text(r->voice_id, CARTESIA_VOICE_ID_MAX, 0, "cartesia voice id", err, errsize);
    rc = rc ? rc : check_text(model, PROVIDER_WIRE_NAME_MAX, 0, "cartesia model", err, errsize);
    rc =
        rc ? rc : check_text(transcript, TTS_WIRE_TEXT_MAX, 1, "cartesia transcript", err, errsize);
    if (rc)
        return rc;
    if (r->lang && r->lang[0]) {
        code = provider_wire_iso639_1(r->lang);
        if (!code[0]) {
            sb_set_error(err, errsize, "cartesia has no language code for '%.64s'", r->lang);
            return SB_EINVAL;
        }
    }
    if (r->max_buffer_delay_ms != CARTESIA_BUFFER_UNSET &&
        (r->max_buffer_delay_ms < 0 || r->max_buffer_delay_ms > 5000)) {
        sb_set_error(err, errsize, "cartesia max_buffer_delay_ms must be between 0 and 5000");
        return SB_EINVAL;
    }
    root = json_object();
    voice = json_object();
    format = json_object();
    provider_wire_put(&rc, root, "context_id", json_string(r->context_id));
    provider_wire_put(&rc, root, "model_id", json_string(model));
    provider_wire_put(&rc, root, "transcript", json_string(transcript));
    provider_wire_put(&rc, voice, "mode", json_string("id"));
    provider_wire_put(&rc, voice, "id", json_string(r->voice_id));
    provider_wire_put(&rc, root, "voice", voice);
    if (code[0])
        provider_wire_put(&rc, root, "language", json_string(code));
    provider_wire_put(&rc, format, "container", json_string("raw"));
    provider_wire_put(&rc, format, "encoding", json_string("pcm_mulaw"));
    provider_wire_put(&rc, format, "sample_rate", json_integer(PHONE_RATE));
    provider_wire_put(&rc, root, "output_format", format);
    provider_wire_put(&rc, root, "continue", json_boolean(r->cont));
    if (r->flush)
        provider_wire_put(&rc, root, "flush", json_true());
    if (r->max_buffer_delay_ms != CARTESIA_BUFFER_UNSET)
        provider_wire_put(&rc, root, "max_buffer_delay_ms", json_integer(r->max_buffer_delay_ms));
    return finish(out, root, rc, "cartesia request", err, errsize);
}

int cartesia_cancel_message(struct buf *out, const char *context_id, char *err, size_t errsize)
{
    json_t *root;
    int rc =
        check_text(context_id, CARTESIA_CONTEXT_ID_MAX, 0, "cartesia context_id", err, errsize);

    if (rc)
        return rc;
    root = json_object();
    provider_wire_put(&rc, root, "context_id", json_string(context_id));
    provider_wire_put(&rc, root, "cancel", json_true());
    return finish(out, root, rc, "cartesia cancel", err, errsize);
}

/* The fields every Cartesia message may carry. */
static int cartesia_common(const json_t *root, struct cartesia_msg *out, char *err, size_t errsize)
{
    const char *what = "cartesia";
    const char *id;
    size_t n;
    long v = 0;
    int rc = provider_wire_string(root, "context_id", &id, &n, what, err, errsize);

    if (rc > 0) {
        if (n > CARTESIA_CONTEXT_ID_MAX) {
            sb_set_error(err, errsize, "cartesia context_id is over %d bytes",
                         CARTESIA_CONTEXT_ID_MAX);
            return SB_EPARSE;
        }
        memcpy(out->context_id, id, n + 1);
    }
    if (rc >= 0)
        rc = provider_wire_bool(root, "done", &out->done, what, err, errsize);
    if (rc >= 0)
        rc = provider_wire_integer(root, "status_code", 0, 999, &v, what, err, errsize);
    out->status_code = (int)v;
    if (rc >= 0)
        rc = provider_wire_integer(root, "flush_id", 0, 1L << 30, &out->flush_id, what, err,
                                   errsize);
    return rc < 0 ? rc : 0;
}

static int cartesia_object(const json_t *root, struct buf *audio, struct cartesia_msg *out,
                           char *err, size_t errsize)
{
    const char *type, *data;
    size_t n, before = audio->len;
    int rc = provider_wire_string(root, "type", &type, NULL, "cartesia message", err, errsize);

    if (rc == 0) {
        sb_set_error(err, errsize, "cartesia message has no type");
        return SB_EPARSE;
    }
    if (rc < 0 || (rc = cartesia_common(root, out, err, errsize)) != 0)
        return rc;
    if (strcmp(type, "chunk") == 0) {
        out->kind = CARTESIA_CHUNK;
        rc = provider_wire_string(root, "data", &data, &n, "cartesia chunk", err, errsize);
        if (rc == 0) {
            sb_set_error(err, errsize, "cartesia chunk has no data");
            return SB_EPARSE;
        }
        if (rc < 0 || (rc = decode_audio(audio, data, n, "cartesia chunk data", err, errsize)))
            return rc;
        out->audio_len = audio->len - before;
    } else if (strcmp(type, "done") == 0) {
        out->kind = CARTESIA_DONE;
        out->done = 1;
    } else if (strcmp(type, "flush_done") == 0) {
        out->kind = CARTESIA_FLUSH_DONE;
    } else if (strcmp(type, "timestamps") == 0 || strcmp(type, "phoneme_timestamps") == 0) {
        out->kind = CARTESIA_TIMESTAMPS;
    } else if (strcmp(type, "error") == 0) {
        const char *title = json_string_value(json_object_get(root, "title"));
        char text[TTS_WIRE_ERROR_SIZE] = "";

        out->kind = CARTESIA_ERROR;
        error_fields(root, text, sizeof(text), out->error_code, sizeof(out->error_code), 0);
        if (!title)
            title = "";
        if (title[0] && text[0])
            snprintf(out->error, sizeof(out->error), "%s: %s", title, text);
        else
            snprintf(out->error, sizeof(out->error), "%s",
                     title[0]  ? title
                     : text[0] ? text
                               : "cartesia sent an error without a message");
        /* snprintf may have cut a character in two. */
        provider_wire_copy(out->error, sizeof(out->error), out->error, strlen(out->error));
    } else {
        out->kind = CARTESIA_OTHER;
    }
    return 0;
}

static int cartesia_object_any(const json_t *root, struct buf *audio, void *out, char *err,
                               size_t errsize)
{
    return cartesia_object(root, audio, out, err, errsize);
}

int cartesia_parse(const char *json, size_t len, struct buf *audio, struct cartesia_msg *out,
                   char *err, size_t errsize)
{
    return parse_message(json, len, audio, out, sizeof(*out), "cartesia", cartesia_object_any, err,
                         errsize);
}
