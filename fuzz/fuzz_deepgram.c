/*
 * libFuzzer target for speech/deepgram_wire: the input is a text frame from
 * Deepgram's socket. Besides the sanitizers it checks what a caller relies
 * on: a refusal says why, uses a documented code and leaves the message
 * zeroed; an accepted message has a known kind and every text field
 * NUL-terminated, within its size and well-formed UTF-8 (a cut transcript
 * included). The input's first line, as a language tag, also goes through
 * the URL builder, whose output must be one line of URL characters.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/utf8.h"
#include "speech/deepgram_wire.h"

static struct deepgram_msg msg;

static void check_text(const char *s, size_t size)
{
    const char *end = memchr(s, '\0', size);

    if (!end || !utf8_valid(s, (size_t)(end - s)))
        abort();
}

static int zeroed(const struct deepgram_msg *m)
{
    static const struct deepgram_msg zero;

    return memcmp(m, &zero, sizeof(zero)) == 0;
}

static void check_url(const uint8_t *data, size_t size)
{
    struct buf url = BUF_INIT(4096);
    char lang[64], err[256] = "";
    size_t n = 0;
    int rc;

    while (n < size && n < sizeof(lang) - 1 && data[n] != '\n' && data[n] != '\0') {
        lang[n] = (char)data[n];
        n++;
    }
    lang[n] = '\0';
    rc = deepgram_listen_url(&url, NULL, NULL, lang, err, sizeof(err));
    if (rc == 0) {
        if (strncmp(buf_cstr(&url),
                    "wss://api.deepgram.com/v1/listen?model=nova-3&language=", 55) != 0)
            abort();
        for (size_t i = 0; i < url.len; i++)
            if ((unsigned char)url.data[i] <= ' ' || (unsigned char)url.data[i] >= 0x7f)
                abort();
    } else if (rc != SB_EINVAL || !err[0] || url.len != 0) {
        abort();
    }
    buf_release(&url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    int rc;

    rc = deepgram_parse((const char *)data, size, &msg, err, sizeof(err));
    if (rc) {
        if ((rc != SB_EPARSE && rc != SB_ETOOBIG && rc != SB_ENOMEM) || !err[0] || !zeroed(&msg))
            abort();
    } else {
        if (msg.kind < DEEPGRAM_RESULTS || msg.kind > DEEPGRAM_OTHER)
            abort();
        check_text(msg.type, sizeof(msg.type));
        check_text(msg.transcript, sizeof(msg.transcript));
        check_text(msg.request_id, sizeof(msg.request_id));
        check_text(msg.error, sizeof(msg.error));
        check_text(msg.error_code, sizeof(msg.error_code));
        if (msg.kind == DEEPGRAM_ERROR && !msg.error[0])
            abort();
        if (msg.kind == DEEPGRAM_RESULTS &&
            (msg.confidence < 0 || msg.confidence > 1 || msg.start < 0 || msg.duration < 0))
            abort();
        if (msg.kind != DEEPGRAM_RESULTS && (msg.transcript[0] || msg.truncated))
            abort();
    }
    check_url(data, size);
    return 0;
}
