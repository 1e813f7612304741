/*
 * Server-Sent Events framing: bytes are cut into lines (the only state
 * carried between pieces is the unfinished line and whether the last byte
 * was a CR), and each line updates the event being built.
 */
#include "net/sse.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "core/banned.h"

void sse_init(struct sse *s, size_t max)
{
    memset(s, 0, sizeof(*s));
    s->max = max;
    buf_init(&s->line, max);
    /* Each data line is stored with the LF that joins it to the next. */
    buf_init(&s->data, max < SIZE_MAX ? max + 1 : max);
    buf_init(&s->type, max);
    buf_init(&s->id, max);
    s->retry_ms = -1;
}

void sse_release(struct sse *s)
{
    buf_release(&s->line);
    buf_release(&s->data);
    buf_release(&s->type);
    buf_release(&s->id);
}

int sse_pending(const struct sse *s)
{
    return s->line.len > 0 || s->data.len > 0 || s->type.len > 0;
}

/* An empty line: the event built so far goes out if it has data. */
static int sse_dispatch(struct sse *s, sse_emit_fn emit, void *arg)
{
    struct sse_event ev;
    int rc = 0;

    if (s->data.len > 0) {
        /* The LF after the last data line is not part of the data. */
        s->data.len--;
        s->data.data[s->data.len] = '\0';
        ev.type = s->type.len > 0 ? buf_cstr(&s->type) : "message";
        ev.data = buf_cstr(&s->data);
        ev.data_len = s->data.len;
        ev.id = buf_cstr(&s->id);
        ev.retry_ms = s->retry_ms;
        rc = emit(arg, &ev);
    }
    buf_reset(&s->data);
    buf_reset(&s->type);
    return rc;
}

/* `retry`: ASCII digits only, else ignored; a value past LONG_MAX is LONG_MAX. */
static void sse_retry(struct sse *s, const char *v, size_t n)
{
    long ms = 0;

    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return;
    }
    for (size_t i = 0; i < n; i++) {
        int d = v[i] - '0';
        ms = ms > (LONG_MAX - d) / 10 ? LONG_MAX : ms * 10 + d;
    }
    s->retry_ms = ms;
}

/* One complete line, without its line ending, is in s->line. */
static int sse_line(struct sse *s, sse_emit_fn emit, void *arg)
{
    const char *line = s->line.data ? s->line.data : "";
    size_t n = s->line.len;
    const char *colon, *v;
    size_t name_len, vlen;
    int rc = 0;

    if (!s->started) {
        s->started = 1;
        if (n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            n -= 3;
        }
    }
    if (n == 0) {
        rc = sse_dispatch(s, emit, arg);
        goto out;
    }
    if (line[0] == ':')
        goto out; /* a comment */
    colon = memchr(line, ':', n);
    name_len = colon ? (size_t)(colon - line) : n;
    v = colon ? colon + 1 : line + n;
    vlen = (size_t)(line + n - v);
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        rc = buf_append(&s->data, v, vlen);
        if (rc == 0)
            rc = buf_putc(&s->data, '\n');
    } else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        buf_reset(&s->type);
        rc = buf_append(&s->type, v, vlen);
    } else if (name_len == 2 && memcmp(line, "id", 2) == 0) {
        if (!memchr(v, '\0', vlen)) {
            buf_reset(&s->id);
            rc = buf_append(&s->id, v, vlen);
        }
    } else if (name_len == 5 && memcmp(line, "retry", 5) == 0) {
        sse_retry(s, v, vlen);
    }
out:
    buf_reset(&s->line);
    return rc;
}

int sse_feed(struct sse *s, const void *bytes, size_t len, sse_emit_fn emit, void *arg)
{
    const char *p = bytes;
    const char *end = p + len;
    const char *q;
    int rc;

    if (len == 0)
        return 0;
    while (p < end) {
        if (s->after_cr) {
            s->after_cr = 0;
            if (*p == '\n') {
                p++;
                continue;
            }
        }
        q = p;
        while (q < end && *q != '\n' && *q != '\r')
            q++;
        if (q > p) {
            rc = buf_append(&s->line, p, (size_t)(q - p));
            if (rc != 0)
                return rc;
        }
        if (q == end)
            break;
        s->after_cr = *q == '\r';
        p = q + 1;
        rc = sse_line(s, emit, arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}
