/*
 * The OpenAI-compatible transcription engine: each utterance is one
 * `POST {base_url}/audio/transcriptions` (multipart/form-data: the audio as
 * a 16-bit PCM WAV file at 8 kHz, `model`, `language` as ISO-639-1,
 * `response_format=json`), answered `{"text": "..."}`. Works with OpenAI,
 * Groq and self-hosted Whisper servers, in every language they know.
 *
 * The request is made with libcurl's easy interface on the calling (worker)
 * thread, with a 3 s connect and 10 s overall limit: a recogniser that does
 * not answer costs the caller a reprompt, never the call. The key is sent
 * as `Authorization: Bearer` and never logged.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/lang.h"
#include "core/mulaw.h"
#include "core/words.h"
#include "speech/stt.h"
#include "core/banned.h"

#define ANSWER_MAX (64 * 1024)
#define CONNECT_TIMEOUT_MS 3000L
#define TOTAL_TIMEOUT_MS 10000L

struct whisper {
    char *base_url, *model, *api_key;
};

/* Writes `what` and `detail` (may be NULL) into err. */
static void fail(char *err, size_t size, const char *what, const char *detail)
{
    if (err && size)
        snprintf(err, size, "%s%s", what, detail ? detail : "");
}

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The utterance as a WAV file: 16-bit PCM, 8 kHz, mono (what every server reads). */
static int wav_of(const unsigned char *mulaw, size_t len, struct buf *out)
{
    unsigned char head[44];
    int16_t pcm[256];
    uint32_t data = (uint32_t)(len * 2);
    int rc;

    memcpy(head, "RIFF", 4);
    put_le(head + 4, 36 + data, 4);
    memcpy(head + 8, "WAVEfmt ", 8);
    put_le(head + 16, 16, 4);
    put_le(head + 20, 1, 2); /* PCM */
    put_le(head + 22, 1, 2); /* mono */
    put_le(head + 24, 8000, 4);
    put_le(head + 28, 16000, 4);
    put_le(head + 32, 2, 2);
    put_le(head + 34, 16, 2);
    memcpy(head + 36, "data", 4);
    put_le(head + 40, data, 4);
    rc = buf_append(out, head, sizeof(head));
    for (size_t at = 0; at < len && rc == 0; at += 256) {
        size_t n = len - at < 256 ? len - at : 256;
        unsigned char le[512];

        mulaw_decode_buf(mulaw + at, n, pcm);
        for (size_t i = 0; i < n; i++)
            put_le(le + 2 * i, (uint16_t)pcm[i], 2);
        rc = buf_append(out, le, n * 2);
    }
    return rc;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;

    return buf_append(b, data, size * n) == 0 ? size * n : 0;
}

/* The answer's text into `out`. Returns 0 or SB_EPARSE. */
static int read_answer(const struct buf *body, struct stt_result *out)
{
    json_error_t jerr;
    json_t *root = json_loadb(body->data ? body->data : "", body->len, 0, &jerr);
    json_t *text = root ? json_object_get(root, "text") : NULL;

    if (!json_is_string(text)) {
        json_decref(root);
        return SB_EPARSE;
    }
    snprintf(out->text, sizeof(out->text), "%s", json_string_value(text));
    json_decref(root);
    out->outcome = words_same(out->text, NULL) ? STT_NOTHING : STT_WORDS;
    if (out->outcome != STT_WORDS)
        out->text[0] = '\0';
    return 0;
}

static int whisper_recognize(void *engine, const struct stt_request *req, struct stt_result *out,
                             char *err, size_t errsize)
{
    struct whisper *w = engine;
    struct buf wav = BUF_INIT(STT_MAX_BYTES * 2 + 64), body = BUF_INIT(ANSWER_MAX);
    struct buf url = BUF_INIT(1024);
    struct curl_slist *headers = NULL;
    char auth[600], lang[4] = "";
    CURL *curl = NULL;
    curl_mime *mime = NULL;
    curl_mimepart *part;
    long status = 0;
    CURLcode cc;
    int rc;

    memset(out, 0, sizeof(*out));
    out->audio_ms = (long)(req->len / 8);
    if (!req->mulaw || req->len == 0 || req->len > STT_MAX_BYTES) {
        fail(err, errsize, "the utterance is empty or longer than the recogniser takes", NULL);
        return SB_EINVAL;
    }
    rc = wav_of(req->mulaw, req->len, &wav);
    if (rc == 0)
        rc = buf_puts(&url, w->base_url);
    while (rc == 0 && url.len && url.data[url.len - 1] == '/')
        url.data[--url.len] = '\0';
    if (rc == 0)
        rc = buf_puts(&url, "/audio/transcriptions");
    if (rc == 0 && !(curl = curl_easy_init()))
        rc = SB_ENOMEM;
    if (rc) {
        fail(err, errsize, "out of memory", NULL);
        goto out;
    }
    mime = curl_mime_init(curl);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "file");
    curl_mime_data(part, wav.data, wav.len);
    curl_mime_filename(part, "utterance.wav");
    curl_mime_type(part, "audio/wav");
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "model");
    curl_mime_data(part, w->model, CURL_ZERO_TERMINATED);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "response_format");
    curl_mime_data(part, "json", CURL_ZERO_TERMINATED);
    if (req->lang && *req->lang) {
        /* ISO-639-1: the tag's base language ("es-MX" -> "es"). */
        snprintf(lang, sizeof(lang), "%.2s", lang_base(req->lang));
        part = curl_mime_addpart(mime);
        curl_mime_name(part, "language");
        curl_mime_data(part, lang, CURL_ZERO_TERMINATED);
    }
    if (w->api_key[0]) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", w->api_key);
        headers = curl_slist_append(headers, auth);
        OPENSSL_cleanse(auth, sizeof(auth));
    }
    curl_easy_setopt(curl, CURLOPT_URL, url.data);
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        rc = SB_EIO;
        fail(err, errsize, "no answer from the transcription server: ", curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        char code[16];

        snprintf(code, sizeof(code), "%ld", status);
        rc = SB_EIO;
        fail(err, errsize, "the transcription server answered ", code);
        goto out;
    }
    rc = read_answer(&body, out);
    if (rc)
        fail(err, errsize, "the transcription server's answer has no \"text\"", NULL);
out:
    if (headers)
        curl_slist_free_all(headers);
    curl_mime_free(mime);
    if (curl)
        curl_easy_cleanup(curl);
    buf_release(&wav);
    buf_release(&body);
    buf_release(&url);
    return rc;
}

static void whisper_release(void *engine)
{
    struct whisper *w = engine;

    if (!w)
        return;
    if (w->api_key)
        OPENSSL_cleanse(w->api_key, strlen(w->api_key));
    free(w->api_key);
    free(w->base_url);
    free(w->model);
    free(w);
}

static const struct stt_ops whisper_ops = {"whisper-api", whisper_recognize, whisper_release};

int stt_whisper_open(struct stt *out, const char *base_url, const char *model, const char *api_key)
{
    struct whisper *w;

    memset(out, 0, sizeof(*out));
    if (!base_url || (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8)))
        return SB_EINVAL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return SB_ENOMEM;
    w->base_url = strdup(base_url);
    w->model = strdup(model && *model ? model : "whisper-1");
    w->api_key = strdup(api_key ? api_key : "");
    if (!w->base_url || !w->model || !w->api_key) {
        whisper_release(w);
        return SB_ENOMEM;
    }
    out->ops = &whisper_ops;
    out->engine = w;
    return 0;
}
