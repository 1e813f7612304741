/*
 * libFuzzer target for speech/tts_wire: the input is a text frame from
 * ElevenLabs' or Cartesia's socket (both parsers read every input). Besides
 * the sanitizers it checks what a caller relies on: a refusal says why,
 * uses a documented code, leaves the message zeroed and the audio buffer
 * as it was; an accepted message has a known kind, appended exactly
 * audio_len bytes, and holds NUL-terminated UTF-8 text fields. The input,
 * as text to speak, also goes through both request builders, whose output
 * must be JSON that gives the text back unchanged.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/utf8.h"
#include "speech/tts_wire.h"

static struct elevenlabs_msg el;
static struct cartesia_msg ca;

static void check_text(const char *s, size_t size)
{
    const char *end = memchr(s, '\0', size);

    if (!end || !utf8_valid(s, (size_t)(end - s)))
        abort();
}

static int zeroed(const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static void check_refusal(int rc, const char *err, const void *m, size_t n, size_t before,
                          const struct buf *audio)
{
    if ((rc != SB_EPARSE && rc != SB_ETOOBIG && rc != SB_ENOMEM) || !err[0] || !zeroed(m, n) ||
        audio->len != before)
        abort();
}

/* The builder's JSON, read back: member `key` must be `want` (with `space` added). */
static void check_round_trip(const struct buf *out, const char *key, const char *want, int space)
{
    json_t *root = json_loadb(out->data, out->len, 0, NULL);
    const char *got = json_string_value(json_object_get(root, key));
    size_t n = strlen(want);

    if (!root || !got || strncmp(got, want, n) != 0 || strcmp(got + n, space ? " " : "") != 0)
        abort();
    json_decref(root);
}

static void check_builders(const uint8_t *data, size_t size)
{
    struct buf out = BUF_INIT(1 << 16);
    struct cartesia_request r = {0};
    char *text = malloc(size + 1);
    char err[256] = "";
    int rc;

    if (!text)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    rc = elevenlabs_text_message(&out, text, 1, err, sizeof(err));
    if (rc == 0)
        check_round_trip(&out, "text", text, text[strlen(text) - 1] != ' ');
    else if (rc != SB_EINVAL || !err[0] || out.len)
        abort();
    buf_reset(&out);
    r.context_id = "turn-1";
    r.voice_id = "voice";
    r.transcript = text;
    r.lang = "es-MX";
    rc = cartesia_request_message(&out, &r, err, sizeof(err));
    if (rc == 0)
        check_round_trip(&out, "transcript", text, 0);
    else if (rc != SB_EINVAL || !err[0] || out.len)
        abort();
    buf_release(&out);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf audio = BUF_INIT(64 * 1024);
    char err[256] = "";
    size_t before;
    int rc;

    /* Something already in the buffer, which a parse must keep. */
    if (buf_puts(&audio, "\x7f\x7e") != 0)
        abort();
    before = audio.len;
    rc = elevenlabs_parse((const char *)data, size, &audio, &el, err, sizeof(err));
    if (rc) {
        check_refusal(rc, err, &el, sizeof(el), before, &audio);
    } else {
        if (el.kind < ELEVENLABS_AUDIO || el.kind > ELEVENLABS_OTHER ||
            audio.len != before + el.audio_len ||
            (el.kind == ELEVENLABS_AUDIO) != (el.audio_len > 0))
            abort();
        check_text(el.error, sizeof(el.error));
        check_text(el.error_code, sizeof(el.error_code));
        if (el.kind == ELEVENLABS_ERROR && !el.error[0])
            abort();
    }
    before = audio.len;
    err[0] = '\0';
    rc = cartesia_parse((const char *)data, size, &audio, &ca, err, sizeof(err));
    if (rc) {
        check_refusal(rc, err, &ca, sizeof(ca), before, &audio);
    } else {
        if (ca.kind < CARTESIA_CHUNK || ca.kind > CARTESIA_OTHER ||
            audio.len != before + ca.audio_len || (ca.kind != CARTESIA_CHUNK && ca.audio_len))
            abort();
        check_text(ca.context_id, sizeof(ca.context_id));
        check_text(ca.error, sizeof(ca.error));
        check_text(ca.error_code, sizeof(ca.error_code));
        if (ca.kind == CARTESIA_ERROR && !ca.error[0])
            abort();
    }
    buf_release(&audio);
    check_builders(data, size);
    return 0;
}
