/*
 * switchboard sim providers, the pure part: routes, query checks, the
 * parsers of what clients send and the builders of what the stand-ins
 * answer, in Deepgram's, ElevenLabs' and Cartesia's wire formats
 * (docs/sim.md, "sim providers"). JSON with jansson, base64 with OpenSSL.
 */
#include "sim/providers.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/words.h"
#include "core/banned.h"

/* What --garbage-audio puts where base64 audio belongs. */
#define GARBAGE_AUDIO "%%not base64: garbage audio%%"
/* Client text quoted back in an Error message, at most. */
#define QUOTE_MAX 256
/* Longest word (a whitespace-separated token) given its own times in Results. */
#define WORD_MAX 256

/* --- small helpers -------------------------------------------------------------------------- */

/* A value fit to be quoted in a reason: printable ASCII, at most 32 bytes ('?' for others). */
static const char *shown(const char *value, char out[36])
{
    size_t i;

    for (i = 0; value[i] && i < 32; i++)
        out[i] = value[i] >= 0x20 && value[i] < 0x7f ? value[i] : '?';
    out[i] = '\0';
    if (value[i])
        snprintf(out + 29, 7, "...");
    return out;
}

/* Parses a whole number from lo to hi. Returns 0 or -1. */
static int whole(const char *s, long lo, long hi, int *out)
{
    char *end = NULL;
    long v;

    if (!s || !isdigit((unsigned char)s[0]))
        return -1;
    v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* "true" or "false" (absent: `dflt`). Returns 0 or -1. */
static int boolean(const char *s, int dflt, int *out)
{
    if (!s)
        *out = dflt;
    else if (strcmp(s, "true") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

/* Copies a language tag (letters, digits and '-', 1..35 bytes). Returns 0 or -1. */
static int tag(const char *s, char *out, size_t size)
{
    size_t n = strlen(s);

    if (n == 0 || n >= size)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return -1;
    }
    memcpy(out, s, n + 1);
    return 0;
}

/* Copies a printable ASCII name (1..size-1 bytes). Returns 0 or -1. */
static int name(const char *s, char *out, size_t size)
{
    size_t n = strlen(s);

    if (n == 0 || n >= size)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return -1;
    }
    memcpy(out, s, n + 1);
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static char *dump(json_t *j)
{
    char *text;

    if (!j)
        return NULL;
    /* Times are rounded to milliseconds; ten digits print them without float noise. */
    text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(j);
    return text;
}

static double ms3(double seconds)
{
    return round(seconds * 1000.0) / 1000.0;
}

/* Base64 of `len` bytes (free()), or the garbage text. NULL when memory ran out. */
static char *base64(const unsigned char *audio, size_t len, int garbage)
{
    char *out;

    if (garbage) {
        out = malloc(sizeof(GARBAGE_AUDIO));
        if (out)
            memcpy(out, GARBAGE_AUDIO, sizeof(GARBAGE_AUDIO));
        return out;
    }
    if (len > (size_t)1 << 28)
        return NULL;
    out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, audio, (int)len);
    return out;
}

/* --- routes and handshakes ------------------------------------------------------------------ */

enum sim_providers_route sim_providers_route(const char *path, char *voice, size_t voicesize)
{
    static const char tts_prefix[] = "/v1/text-to-speech/";
    static const char tts_suffix[] = "/stream-input";
    const char *id, *end;
    size_t n;

    if (!path)
        return SIM_PROVIDERS_NONE;
    if (strcmp(path, "/v1/listen") == 0)
        return SIM_PROVIDERS_DEEPGRAM;
    if (strcmp(path, "/tts/websocket") == 0)
        return SIM_PROVIDERS_CARTESIA;
    if (strcmp(path, "/healthz") == 0)
        return SIM_PROVIDERS_HEALTH;
    if (strncmp(path, tts_prefix, sizeof(tts_prefix) - 1) != 0)
        return SIM_PROVIDERS_NONE;
    id = path + sizeof(tts_prefix) - 1;
    end = strchr(id, '/');
    if (!end || strcmp(end, tts_suffix) != 0)
        return SIM_PROVIDERS_NONE;
    n = (size_t)(end - id);
    if (n == 0 || n > 64)
        return SIM_PROVIDERS_NONE;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_')
            return SIM_PROVIDERS_NONE;
    }
    if (voice && voicesize) {
        if (n >= voicesize)
            return SIM_PROVIDERS_NONE;
        memcpy(voice, id, n);
        voice[n] = '\0';
    }
    return SIM_PROVIDERS_ELEVENLABS;
}

const char *sim_providers_arg(const char *const *args, size_t n, const char *argname)
{
    const char *found = NULL;
    size_t len = strlen(argname);

    for (size_t i = 0; i < n; i++) {
        const char *a = args[i];

        if (!a || strncmp(a, argname, len) != 0)
            continue;
        if (a[len] == '=')
            found = a + len + 1;
        else if (a[len] == '\0')
            found = a + len;
    }
    return found;
}

/* Compares in constant time for a given length. */
static int same_key(const char *got, const char *key)
{
    size_t n = strlen(key), diff = 0;

    if (strlen(got) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        diff |= (size_t)(got[i] ^ key[i]);
    return diff == 0;
}

int sim_providers_key_matches(const char *header, const char *schemes, const char *key)
{
    const char *s = schemes;

    if (!header || !key)
        return 0;
    if (!schemes)
        return same_key(header, key);
    while (*s) {
        size_t slen = strcspn(s, " ");

        if (slen && strncasecmp(header, s, slen) == 0 && header[slen] == ' ')
            return same_key(header + slen + 1, key);
        s += slen;
        while (*s == ' ')
            s++;
    }
    return 0;
}

int sim_providers_dg_query_parse(struct sim_providers_dg_query *q, const char *const *args,
                                 size_t n, char *err, size_t errsize)
{
    const char *v;
    char show[36];

    memset(q, 0, sizeof(*q));
    snprintf(q->language, sizeof(q->language), "en");
    snprintf(q->model, sizeof(q->model), "nova-3");
    q->endpointing_ms = 10;
    v = sim_providers_arg(args, n, "encoding");
    if (!v) {
        sb_set_error(err, errsize, "encoding is required for raw audio (the stand-in takes mulaw)");
        return SB_EPARSE;
    }
    if (strcmp(v, "mulaw") != 0) {
        sb_set_error(err, errsize, "encoding '%s' is not supported: the stand-in takes mulaw only",
                     shown(v, show));
        return SB_EPARSE;
    }
    v = sim_providers_arg(args, n, "sample_rate");
    if (!v || strcmp(v, "8000") != 0) {
        sb_set_error(err, errsize, "sample_rate must be 8000 with encoding=mulaw, not '%s'",
                     v ? shown(v, show) : "");
        return SB_EPARSE;
    }
    v = sim_providers_arg(args, n, "channels");
    if (v && strcmp(v, "1") != 0) {
        sb_set_error(err, errsize, "channels must be 1, not '%s'", shown(v, show));
        return SB_EPARSE;
    }
    v = sim_providers_arg(args, n, "language");
    if (v && tag(v, q->language, sizeof(q->language)) != 0) {
        sb_set_error(err, errsize, "language '%s' is not a language tag", shown(v, show));
        return SB_EPARSE;
    }
    v = sim_providers_arg(args, n, "model");
    if (v && name(v, q->model, sizeof(q->model)) != 0) {
        sb_set_error(err, errsize, "model '%s' is not a model name", shown(v, show));
        return SB_EPARSE;
    }
    v = sim_providers_arg(args, n, "interim_results");
    if (boolean(v, 0, &q->interim_results) != 0) {
        sb_set_error(err, errsize, "interim_results must be true or false, not '%s'",
                     shown(v, show));
        return SB_EPARSE;
    }
    v = sim_providers_arg(args, n, "vad_events");
    if (boolean(v, 0, &q->vad_events) != 0) {
        sb_set_error(err, errsize, "vad_events must be true or false, not '%s'", shown(v, show));
        return SB_EPARSE;
    }
    v = sim_providers_arg(args, n, "endpointing");
    if (v && strcmp(v, "false") == 0)
        q->endpointing_ms = -1;
    else if (v && strcmp(v, "true") == 0)
        q->endpointing_ms = 10;
    else if (v && whole(v, 0, 60000, &q->endpointing_ms) != 0) {
        sb_set_error(err, errsize,
                     "endpointing must be false or milliseconds (0 to 60000), not '%s'",
                     shown(v, show));
        return SB_EPARSE;
    }
    v = sim_providers_arg(args, n, "utterance_end_ms");
    if (v && whole(v, 1, 60000, &q->utterance_end_ms) != 0) {
        sb_set_error(err, errsize, "utterance_end_ms must be milliseconds (1 to 60000), not '%s'",
                     shown(v, show));
        return SB_EPARSE;
    }
    return 0;
}

int sim_providers_el_query_parse(struct sim_providers_el_query *q, const char *const *args,
                                 size_t n, char *err, size_t errsize)
{
    const char *v;
    char show[36];

    memset(q, 0, sizeof(*q));
    q->inactivity_s = 20;
    v = sim_providers_arg(args, n, "output_format");
    if (!v || strcmp(v, "ulaw_8000") != 0) {
        sb_set_error(err, errsize,
                     "output_format '%s' is not supported: the stand-in makes ulaw_8000 only "
                     "(without it ElevenLabs sends MP3)",
                     v ? shown(v, show) : "");
        return SB_EPARSE;
    }
    v = sim_providers_arg(args, n, "model_id");
    if (v && name(v, q->model, sizeof(q->model)) != 0) {
        sb_set_error(err, errsize, "model_id '%s' is not a model name", shown(v, show));
        return SB_EPARSE;
    }
    v = sim_providers_arg(args, n, "language_code");
    if (v && tag(v, q->language, sizeof(q->language)) != 0) {
        sb_set_error(err, errsize, "language_code '%s' is not a language code", shown(v, show));
        return SB_EPARSE;
    }
    v = sim_providers_arg(args, n, "inactivity_timeout");
    if (v && whole(v, 1, 180, &q->inactivity_s) != 0) {
        sb_set_error(err, errsize, "inactivity_timeout must be seconds from 1 to 180, not '%s'",
                     shown(v, show));
        return SB_EPARSE;
    }
    return 0;
}

/* --- client messages ------------------------------------------------------------------------ */

/* Parses `len` bytes as a JSON object. NULL with the reason in `err` otherwise. */
static json_t *object(const char *text, size_t len, char *err, size_t errsize)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);

    if (!doc) {
        sb_set_error(err, errsize, "the message is not JSON: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        sb_set_error(err, errsize, "the message is not a JSON object");
        return NULL;
    }
    return doc;
}

int sim_providers_dg_control_parse(const char *text, size_t len, enum sim_providers_dg_control *out,
                                   char *err, size_t errsize)
{
    json_t *doc = object(text, len, err, errsize);
    const char *type;
    char show[36];
    int rc = 0;

    if (!doc)
        return SB_EPARSE;
    type = json_string_value(json_object_get(doc, "type"));
    if (!type) {
        sb_set_error(err, errsize, "a control message needs a string \"type\"");
        rc = SB_EPARSE;
    } else if (strcmp(type, "KeepAlive") == 0) {
        *out = SIM_PROVIDERS_DG_KEEPALIVE;
    } else if (strcmp(type, "Finalize") == 0) {
        *out = SIM_PROVIDERS_DG_FINALIZE;
    } else if (strcmp(type, "CloseStream") == 0) {
        *out = SIM_PROVIDERS_DG_CLOSESTREAM;
    } else {
        sb_set_error(err, errsize, "unknown control message type '%s'", shown(type, show));
        rc = SB_EPARSE;
    }
    json_decref(doc);
    return rc;
}

void sim_providers_el_message_release(struct sim_providers_el_message *m)
{
    if (!m)
        return;
    free(m->text);
    if (m->key)
        OPENSSL_cleanse(m->key, strlen(m->key));
    free(m->key);
    memset(m, 0, sizeof(*m));
}

static char *dup_string(json_t *s)
{
    size_t n = json_string_length(s);
    char *out = malloc(n + 1);

    if (out) {
        memcpy(out, json_string_value(s), n);
        out[n] = '\0';
    }
    return out;
}

/* True when `key` is absent or of JSON type `type`. */
static int optional(json_t *doc, const char *key, json_type type)
{
    json_t *v = json_object_get(doc, key);

    return !v || json_typeof(v) == type;
}

/* True when `key` is absent or a boolean. */
static int optional_bool(json_t *doc, const char *key)
{
    json_t *v = json_object_get(doc, key);

    return !v || json_is_boolean(v);
}

int sim_providers_el_message_parse(struct sim_providers_el_message *m, const char *text, size_t len,
                                   int first, char *err, size_t errsize)
{
    json_t *doc, *t, *key;
    int rc = SB_EPARSE;

    memset(m, 0, sizeof(*m));
    doc = object(text, len, err, errsize);
    if (!doc)
        return SB_EPARSE;
    t = json_object_get(doc, "text");
    key = json_object_get(doc, "xi-api-key");
    if (!key)
        key = json_object_get(doc, "xi_api_key");
    if (!json_is_string(t)) {
        sb_set_error(err, errsize, "every message needs a string \"text\"");
        goto out;
    }
    if (strlen(json_string_value(t)) != json_string_length(t)) {
        sb_set_error(err, errsize, "\"text\" holds a NUL character");
        goto out;
    }
    if (first && strcmp(json_string_value(t), " ") != 0) {
        sb_set_error(err, errsize, "the first message's \"text\" must be a single space");
        goto out;
    }
    if (!optional_bool(doc, "flush")) {
        sb_set_error(err, errsize, "\"flush\" must be true or false");
        goto out;
    }
    if (!optional_bool(doc, "try_trigger_generation")) {
        sb_set_error(err, errsize, "\"try_trigger_generation\" must be true or false");
        goto out;
    }
    if (!optional(doc, "voice_settings", JSON_OBJECT) ||
        !optional(doc, "generation_config", JSON_OBJECT) ||
        !optional(doc, "generator_config", JSON_OBJECT)) {
        sb_set_error(err, errsize, "voice_settings and generation_config must be objects");
        goto out;
    }
    if (key && !json_is_string(key)) {
        sb_set_error(err, errsize, "the API key field must be a string");
        goto out;
    }
    m->flush = json_is_true(json_object_get(doc, "flush"));
    m->text = dup_string(t);
    m->key = key ? dup_string(key) : NULL;
    if (!m->text || (key && !m->key)) {
        sim_providers_el_message_release(m);
        rc = SB_ENOMEM;
        sb_set_error(err, errsize, "out of memory");
        goto out;
    }
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

void sim_providers_ca_request_release(struct sim_providers_ca_request *r)
{
    if (!r)
        return;
    free(r->context_id);
    free(r->transcript);
    memset(r, 0, sizeof(*r));
}

/* The output format must be raw 8 kHz µ-law. */
static int mulaw_8k(json_t *f)
{
    json_t *rate = json_object_get(f, "sample_rate");
    const char *container = json_string_value(json_object_get(f, "container"));
    const char *encoding = json_string_value(json_object_get(f, "encoding"));

    return json_is_object(f) && container && strcmp(container, "raw") == 0 && encoding &&
           strcmp(encoding, "pcm_mulaw") == 0 && json_is_integer(rate) &&
           json_integer_value(rate) == 8000;
}

int sim_providers_ca_request_parse(struct sim_providers_ca_request *r, const char *text, size_t len,
                                   char *err, size_t errsize)
{
    json_t *doc, *ctx, *v, *voice;
    const char *lang;
    int rc = SB_EPARSE;

    memset(r, 0, sizeof(*r));
    doc = object(text, len, err, errsize);
    if (!doc)
        return SB_EPARSE;
    ctx = json_object_get(doc, "context_id");
    if (!json_is_string(ctx) || json_string_length(ctx) == 0 ||
        json_string_length(ctx) > SIM_PROVIDERS_CONTEXT_MAX ||
        strlen(json_string_value(ctx)) != json_string_length(ctx)) {
        sb_set_error(err, errsize, "context_id must be a string of 1 to 128 bytes");
        goto out;
    }
    r->context_id = dup_string(ctx);
    if (!r->context_id) {
        rc = SB_ENOMEM;
        goto out;
    }
    v = json_object_get(doc, "cancel");
    if (v && !json_is_boolean(v)) {
        sb_set_error(err, errsize, "cancel must be true or false");
        goto out;
    }
    if (json_is_true(v)) {
        r->cancel = 1;
        rc = 0;
        goto out;
    }
    v = json_object_get(doc, "model_id");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        sb_set_error(err, errsize, "model_id is required");
        goto out;
    }
    v = json_object_get(doc, "transcript");
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        sb_set_error(err, errsize, "transcript is required (a string)");
        goto out;
    }
    voice = json_object_get(doc, "voice");
    if (!json_is_object(voice) || !json_is_string(json_object_get(voice, "mode")) ||
        strcmp(json_string_value(json_object_get(voice, "mode")), "id") != 0 ||
        !json_is_string(json_object_get(voice, "id")) ||
        json_string_length(json_object_get(voice, "id")) == 0) {
        sb_set_error(err, errsize, "voice must be {\"mode\":\"id\",\"id\":\"...\"}");
        goto out;
    }
    if (!mulaw_8k(json_object_get(doc, "output_format"))) {
        sb_set_error(err, errsize,
                     "output_format must be {\"container\":\"raw\",\"encoding\":\"pcm_mulaw\","
                     "\"sample_rate\":8000}: the one format the stand-in makes");
        goto out;
    }
    if (!optional_bool(doc, "continue")) {
        sb_set_error(err, errsize, "continue must be true or false");
        goto out;
    }
    if (!optional_bool(doc, "flush")) {
        sb_set_error(err, errsize, "flush must be true or false");
        goto out;
    }
    lang = json_string_value(json_object_get(doc, "language"));
    if (json_object_get(doc, "language") &&
        (!lang || tag(lang, r->language, sizeof(r->language)) != 0)) {
        sb_set_error(err, errsize, "language must be a language code");
        goto out;
    }
    r->cont = json_is_true(json_object_get(doc, "continue"));
    r->flush = json_is_true(json_object_get(doc, "flush"));
    r->transcript = dup_string(json_object_get(doc, "transcript"));
    if (!r->transcript) {
        rc = SB_ENOMEM;
        goto out;
    }
    rc = 0;
out:
    if (rc == SB_ENOMEM)
        sb_set_error(err, errsize, "out of memory");
    if (rc != 0) {
        char *keep = rc == SB_EPARSE ? r->context_id : NULL;

        if (keep)
            r->context_id = NULL;
        sim_providers_ca_request_release(r);
        r->context_id = keep;
    }
    json_decref(doc);
    return rc;
}

size_t sim_providers_sentence_end(const char *text, size_t len)
{
    size_t end = 0;

    for (size_t i = 0; i < len; i++) {
        size_t j = i + 1;

        if (text[i] != '.' && text[i] != '!' && text[i] != '?' && text[i] != ';')
            continue;
        while (j < len && (text[j] == '"' || text[j] == '\'' || text[j] == ')' || text[j] == ']'))
            j++;
        if (j < len && is_space(text[j]))
            end = j;
    }
    return end;
}

size_t sim_providers_count_words(const char *text)
{
    size_t n = 0;

    while (*text) {
        while (is_space(*text))
            text++;
        if (!*text)
            break;
        n++;
        while (*text && !is_space(*text))
            text++;
    }
    return n;
}

size_t sim_providers_words_len(const char *text, size_t words)
{
    const char *p = text, *end = text;

    while (words > 0 && *p) {
        while (is_space(*p))
            p++;
        if (!*p)
            break;
        while (*p && !is_space(*p))
            p++;
        end = p;
        words--;
    }
    return (size_t)(end - text);
}

/* --- Deepgram's messages -------------------------------------------------------------------- */

/* The words of a transcript with their times, spread evenly over [from, to]. */
static json_t *words_json(const char *transcript, double from, double to, double confidence)
{
    size_t total = sim_providers_count_words(transcript), i = 0;
    json_t *words = json_array();
    const char *p = transcript;

    if (!words)
        return NULL;
    while (*p) {
        char token[WORD_MAX];
        const char *pos, *w, *first = NULL, *last = NULL;
        size_t tlen, wlen;
        double start, end;
        json_t *item;

        while (is_space(*p))
            p++;
        if (!*p)
            break;
        tlen = 0;
        while (p[tlen] && !is_space(p[tlen]))
            tlen++;
        start = from + (to - from) * (double)i / (double)total;
        end = from + (to - from) * (double)(i + 1) / (double)total;
        i++;
        if (tlen >= sizeof(token)) {
            p += tlen;
            continue;
        }
        memcpy(token, p, tlen);
        token[tlen] = '\0';
        p += tlen;
        /* `word`: from the token's first word to its last, folded ("¿Cuál" -> "cuál"). */
        pos = token;
        while (words_next(&pos, &w, &wlen)) {
            if (!first)
                first = w;
            last = w + wlen;
        }
        if (!first)
            continue;
        {
            char folded[WORD_MAX];
            size_t flen = (size_t)(last - first);

            words_fold(first, flen, folded);
            folded[flen] = '\0';
            item = json_pack("{s:s%,s:f,s:f,s:f,s:s}", "word", folded, flen, "start", ms3(start),
                             "end", ms3(end), "confidence", confidence, "punctuated_word", token);
        }
        if (!item || json_array_append_new(words, item) != 0) {
            json_decref(words);
            return NULL;
        }
    }
    return words;
}

char *sim_providers_dg_results_json(const struct sim_providers_dg_result *r)
{
    const char *t = r->transcript ? r->transcript : "";
    json_t *words = words_json(t, r->words_start, r->words_end, r->confidence);

    if (!words)
        return NULL;
    return dump(json_pack(
        "{s:s,s:[i,i],s:f,s:f,s:b,s:b,s:b,s:{s:[{s:s,s:f,s:o}]},"
        "s:{s:s,s:{s:s,s:s,s:s},s:s}}",
        "type", "Results", "channel_index", 0, 1, "duration", ms3(r->duration), "start",
        ms3(r->start), "is_final", r->is_final, "speech_final", r->speech_final, "from_finalize",
        r->from_finalize, "channel", "alternatives", "transcript", t, "confidence", r->confidence,
        "words", words, "metadata", "request_id", r->request_id ? r->request_id : "", "model_info",
        "name", r->model ? r->model : "", "version", "switchboard-sim", "arch", "sim", "model_uuid",
        "00000000-0000-4000-8000-000000000000"));
}

char *sim_providers_dg_speech_started_json(double t)
{
    return dump(
        json_pack("{s:s,s:[i],s:f}", "type", "SpeechStarted", "channel", 0, "timestamp", ms3(t)));
}

char *sim_providers_dg_utterance_end_json(double last_word_end)
{
    return dump(json_pack("{s:s,s:[i,i],s:f}", "type", "UtteranceEnd", "channel", 0, 1,
                          "last_word_end", ms3(last_word_end)));
}

char *sim_providers_dg_metadata_json(const char *request_id, const char *sha256,
                                     const char *created, double duration, int channels)
{
    return dump(json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:i}", "type", "Metadata", "transaction_key",
                          "deprecated", "request_id", request_id, "sha256", sha256, "created",
                          created, "duration", ms3(duration), "channels", channels));
}

char *sim_providers_dg_error_json(const char *description, const char *message, size_t message_len)
{
    json_t *doc = json_pack("{s:s,s:s,s:s}", "type", "Error", "variant", "SchemaError",
                            "description", description);

    if (doc && message) {
        size_t n = message_len > QUOTE_MAX ? QUOTE_MAX : message_len;
        json_t *quoted;

        /* Cut at a character: a UTF-8 continuation byte never starts one. */
        while (n > 0 && n < message_len && ((unsigned char)message[n] & 0xC0) == 0x80)
            n--;
        quoted = json_stringn(message, n);
        if (quoted && json_object_set_new(doc, "message", quoted) != 0) {
            json_decref(doc);
            return NULL;
        }
    }
    return dump(doc);
}

/* --- ElevenLabs' and Cartesia's messages ---------------------------------------------------- */

char *sim_providers_el_audio_json(const unsigned char *audio, size_t len, int garbage)
{
    char *b64 = base64(audio, len, garbage);
    char *out;

    if (!b64)
        return NULL;
    out = dump(json_pack("{s:s,s:b,s:n,s:n}", "audio", b64, "isFinal", 0, "normalizedAlignment",
                         "alignment"));
    free(b64);
    return out;
}

char *sim_providers_el_final_json(void)
{
    return dump(json_pack("{s:b}", "isFinal", 1));
}

char *sim_providers_ca_chunk_json(const char *context_id, const unsigned char *audio, size_t len,
                                  double step_ms, int flush_id, int garbage)
{
    char *b64 = base64(audio, len, garbage);
    char *out;

    if (!b64)
        return NULL;
    out = dump(json_pack("{s:s,s:s,s:s,s:b,s:i,s:f,s:i}", "type", "chunk", "context_id", context_id,
                         "data", b64, "done", 0, "status_code", 206, "step_time",
                         round(step_ms * 10.0) / 10.0, "flush_id", flush_id));
    free(b64);
    return out;
}

char *sim_providers_ca_flush_done_json(const char *context_id, int flush_id)
{
    return dump(json_pack("{s:s,s:s,s:i,s:b,s:b,s:i}", "type", "flush_done", "context_id",
                          context_id, "flush_id", flush_id, "flush_done", 1, "done", 0,
                          "status_code", 206));
}

char *sim_providers_ca_done_json(const char *context_id)
{
    return dump(json_pack("{s:s,s:s,s:b,s:i}", "type", "done", "context_id", context_id, "done", 1,
                          "status_code", 200));
}

char *sim_providers_ca_error_json(const char *context_id, int status, const char *title,
                                  const char *message)
{
    json_t *doc = json_pack("{s:s,s:i,s:s,s:s,s:b}", "type", "error", "status_code", status,
                            "title", title, "message", message, "done", 1);

    if (doc && context_id && json_object_set_new(doc, "context_id", json_string(context_id)) != 0) {
        json_decref(doc);
        return NULL;
    }
    return dump(doc);
}
