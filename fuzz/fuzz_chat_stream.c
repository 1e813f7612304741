/*
 * libFuzzer target for agent/chat_stream and agent/speakable (and the
 * history and request builder behind them). The input is cut at newlines;
 * each line is the data of one Server-Sent Event (a line starting with '!'
 * is an `error` event with the rest as data). Besides the sanitizers it
 * checks what a caller relies on: a failure is one of the documented codes
 * with a reason; text deltas lie inside the reply and add up to it; the
 * pieces to speak are never empty, never start or end with white space,
 * never start inside a UTF-8 character, and hold every non-space byte of
 * the reply in order; a complete stream's calls have a name and an id, and
 * checking them gives a result or an "error: ..." text; the assistant
 * message and the results then go into a history and a request body. The
 * raw input is also pushed through a second splitter in pieces cut by the
 * first byte.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/chat_request.h"
#include "agent/chat_stream.h"
#include "agent/speakable.h"
#include "core/buf.h"
#include "core/err.h"

struct spoken {
    struct buf text; /* every piece, back to back */
    int utf8;        /* the input is valid UTF-8: pieces must start on a character */
};

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int on_piece(void *arg, const char *piece, size_t len)
{
    struct spoken *s = arg;

    if (len == 0 || is_ws((unsigned char)piece[0]) || is_ws((unsigned char)piece[len - 1]))
        abort();
    if (s->utf8 && ((unsigned char)piece[0] & 0xc0) == 0x80)
        abort();
    if (buf_append(&s->text, piece, len))
        abort();
    return 0;
}

/* a without white space equals b without white space; b may have up to `slack` bytes more at the
 * end. */
static void same_words(const char *a, size_t an, const char *b, size_t bn, size_t slack)
{
    size_t i = 0, j = 0;

    for (;;) {
        while (i < an && is_ws((unsigned char)a[i]))
            i++;
        while (j < bn && is_ws((unsigned char)b[j]))
            j++;
        if (i == an || j == bn)
            break;
        if (a[i] != b[j])
            abort();
        i++;
        j++;
    }
    if (i != an)
        abort();
    while (j < bn && is_ws((unsigned char)b[j]))
        j++;
    if (bn - j > slack)
        abort();
}

static void check_calls(struct chat_stream *cs)
{
    struct chat_call calls[CHAT_STREAM_MAX_CALLS];
    struct chat_history h;
    struct chat_context ctx = {"Be brief.", NULL, 0, "Acme", "es-MX", NULL, 1};
    struct chat_request_params p = {"m", 0.5, 64, CHAT_MAX_TOKENS, CHAT_TOOLS_ALL};
    struct buf body = BUF_INIT(1 << 20);
    size_t n = chat_stream_calls(cs, calls, CHAT_STREAM_MAX_CALLS);
    char err[200];
    int rc;

    if (n != cs->ncalls)
        abort();
    chat_history_init(&h, 1 << 20);
    if (chat_history_add_user(&h, "hola"))
        abort();
    rc = chat_history_add_assistant(&h, cs->content.len ? cs->content.data : NULL, calls, n);
    /* content and names came through jansson: valid UTF-8, no NUL */
    if (rc != 0 && !(rc == SB_EINVAL && n == 0 && cs->content.len == 0))
        abort();
    for (size_t i = 0; i < n; i++) {
        struct chat_tool_args args;
        char reply[300];

        if (calls[i].id[0] == '\0' || calls[i].name[0] == '\0')
            abort();
        rc = chat_tool_check(calls[i].name, calls[i].arguments, &args, reply, sizeof(reply));
        if (rc == 0) {
            if (reply[0] != '\0' || (int)args.tool < 0 || args.tool >= CHAT_TOOL_COUNT ||
                strcmp(chat_tool_def(args.tool)->name, calls[i].name) != 0)
                abort();
            if (!memchr(args.message, '\0', sizeof(args.message)) ||
                !memchr(args.language, '\0', sizeof(args.language)))
                abort();
        } else if ((rc != SB_ENOTFOUND && rc != SB_EINVAL) || strncmp(reply, "error: ", 7) != 0) {
            abort();
        }
        if (chat_history_add_tool(&h, calls[i].id, rc == 0 ? "ok" : reply))
            abort();
    }
    rc = chat_request_build(&p, &ctx, &h, &body, err, sizeof(err));
    /* two calls may share an id: the second result then answers nothing */
    if (rc != 0 && rc != SB_EINVAL)
        abort();
    buf_release(&body);
    chat_history_release(&h);
}

static void run_stream(const uint8_t *data, size_t size)
{
    struct chat_stream cs;
    struct speakable sp;
    struct spoken spoken = {BUF_INIT(1 << 20), 1};
    size_t at = 0;
    int rc = 0;

    chat_stream_init(&cs, 4096, 512);
    speakable_init(&sp, 0, 64);
    while (at < size && rc == 0) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (data + at)) : size - at;
        const char *line = (const char *)data + at;
        const char *type = NULL;
        struct chat_stream_delta d;

        if (len > 0 && line[0] == '!') {
            type = "error";
            line++;
            len--;
        }
        rc = chat_stream_feed(&cs, type, line, len, &d);
        if (rc == 0 && d.text) {
            if (d.len == 0 || d.text < cs.content.data ||
                d.text + d.len != cs.content.data + cs.content.len)
                abort();
            if (speakable_push(&sp, d.text, d.len, on_piece, &spoken))
                abort();
        }
        if (rc != 0 && d.text)
            abort();
        at += len + (type ? 1 : 0) + (nl ? 1 : 0);
    }
    if (rc == 0)
        rc = chat_stream_end(&cs);
    if (rc != 0 && rc != SB_EPARSE && rc != SB_EIO && rc != SB_ETOOBIG)
        abort();
    if ((rc != 0) != (cs.error[0] != '\0') || !memchr(cs.error, '\0', sizeof(cs.error)))
        abort();
    if (cs.content.len > 4096 || cs.ncalls > CHAT_STREAM_MAX_CALLS)
        abort();
    if (speakable_flush(&sp, on_piece, &spoken))
        abort();
    same_words(spoken.text.data ? spoken.text.data : "", spoken.text.len,
               cs.content.data ? cs.content.data : "", cs.content.len, 0);
    if (rc == 0)
        check_calls(&cs);
    speakable_release(&sp);
    chat_stream_release(&cs);
    buf_release(&spoken.text);
}

/* Raw bytes through a splitter, in pieces of 1 to 17 bytes drawn from `seed`. */
static void run_raw(const uint8_t *data, size_t size, uint32_t seed)
{
    struct speakable sp;
    struct spoken spoken = {BUF_INIT(1 << 20), 0};
    size_t at = 0;

    speakable_init(&sp, (seed & 63) + 1, 16 + (seed >> 6) % 200);
    while (at < size) {
        size_t n;

        seed = seed * 1103515245u + 12345u;
        n = 1 + (seed >> 16) % 17;
        if (n > size - at)
            n = size - at;
        if (speakable_push(&sp, (const char *)data + at, n, on_piece, &spoken))
            abort();
        at += n;
    }
    if (speakable_flush(&sp, on_piece, &spoken) || sp.pending.len != 0)
        abort();
    /* an unfinished UTF-8 sequence at the very end (up to 3 bytes) is dropped */
    same_words(spoken.text.data ? spoken.text.data : "", spoken.text.len, (const char *)data, size,
               3);
    speakable_release(&sp);
    buf_release(&spoken.text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_stream(data, size);
    if (size > 0)
        run_raw(data + 1, size - 1, (uint32_t)data[0] * 2654435761u);
    return 0;
}
