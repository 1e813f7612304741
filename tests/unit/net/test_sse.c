#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "net/sse.h"

/* Every event as one line "type|id|retry|data" (data with LF shown as \n), appended to a buf. */
static int record(void *arg, const struct sse_event *ev)
{
    struct buf *out = arg;

    cr_assert_eq(buf_printf(out, "%s|%s|%ld|", ev->type, ev->id, ev->retry_ms), 0);
    for (size_t i = 0; i < ev->data_len; i++) {
        if (ev->data[i] == '\n')
            cr_assert_eq(buf_puts(out, "\\n"), 0);
        else if (ev->data[i] == '\0')
            cr_assert_eq(buf_puts(out, "\\0"), 0);
        else
            cr_assert_eq(buf_putc(out, ev->data[i]), 0);
    }
    cr_assert_eq(buf_putc(out, '\n'), 0);
    return 0;
}

/* Feeds `in` in pieces cut at a and b; returns the events (caller releases). */
static struct buf frame(const char *in, size_t len, size_t a, size_t b, int *pending)
{
    struct buf out = BUF_INIT(1 << 20);
    struct sse s;

    sse_init(&s, 4096);
    cr_assert_eq(sse_feed(&s, in, a, record, &out), 0);
    cr_assert_eq(sse_feed(&s, in + a, b - a, record, &out), 0);
    cr_assert_eq(sse_feed(&s, in + b, len - b, record, &out), 0);
    if (pending)
        *pending = sse_pending(&s);
    sse_release(&s);
    return out;
}

static const char stream[] = "\xEF\xBB\xBF"
                             ": a comment\r\n"
                             "event: greeting\r\n"
                             "id: 7\r\n"
                             "retry: 2500\r\n"
                             "data: \xC2\xBF"
                             "En qu\xC3\xA9 puedo\r\n"
                             "data:ayudarle?\r\n"
                             "\r\n"
                             "data\n"
                             "data:  x\n"
                             "unknown: field\n"
                             "\n"
                             "event: only a type\n"
                             "\n"
                             "data: cr\rdata: only\r\r"
                             "retry: 12a\n"
                             "id\n"
                             "data: last\n\n"
                             "data: left over";

static const char expected[] = "greeting|7|2500|\xC2\xBF"
                               "En qu\xC3\xA9 puedo\\nayudarle?\n"
                               "message|7|2500|\\n x\n"
                               "message|7|2500|cr\\nonly\n"
                               "message||2500|last\n";

Test(sse, events_are_framed_by_the_spec)
{
    int pending = 0;
    struct buf out = frame(stream, sizeof(stream) - 1, 0, 0, &pending);

    cr_assert_str_eq(buf_cstr(&out), expected);
    cr_assert_eq(pending, 1, "the unfinished event is reported");
    buf_release(&out);
}

Test(sse, every_split_gives_the_same_events)
{
    size_t len = sizeof(stream) - 1;

    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b += 3) {
            struct buf out = frame(stream, len, a, b, NULL);
            cr_assert_str_eq(buf_cstr(&out), expected, "split at %zu and %zu", a, b);
            buf_release(&out);
        }
    }
}

Test(sse, byte_by_byte)
{
    struct buf out = BUF_INIT(1 << 20);
    struct sse s;

    sse_init(&s, 4096);
    for (size_t i = 0; i < sizeof(stream) - 1; i++)
        cr_assert_eq(sse_feed(&s, stream + i, 1, record, &out), 0);
    cr_assert_str_eq(buf_cstr(&out), expected);
    sse_release(&s);
    buf_release(&out);
}

Test(sse, crlf_split_across_pieces_is_one_line_end)
{
    const char in[] = "data: a\r\n\r\ndata: b\r\n\r\n";
    struct buf out = BUF_INIT(4096);
    struct sse s;

    sse_init(&s, 64);
    /* Every CR ends a piece: the LF that follows must not count as an empty line. */
    cr_assert_eq(sse_feed(&s, in, 8, record, &out), 0);
    cr_assert_eq(sse_feed(&s, in + 8, 2, record, &out), 0);
    cr_assert_eq(sse_feed(&s, in + 10, sizeof(in) - 1 - 10, record, &out), 0);
    cr_assert_str_eq(buf_cstr(&out), "message||-1|a\nmessage||-1|b\n");
    cr_assert_eq(sse_pending(&s), 0);
    sse_release(&s);
    buf_release(&out);
}

Test(sse, nul_in_data_is_kept_and_an_id_with_nul_ignored)
{
    const char in[] = "id: 1\ndata: a\0b\n\nid: x\0y\ndata: c\n\n";
    struct buf out = BUF_INIT(4096);
    struct sse s;

    sse_init(&s, 64);
    cr_assert_eq(sse_feed(&s, in, sizeof(in) - 1, record, &out), 0);
    cr_assert_str_eq(buf_cstr(&out), "message|1|-1|a\\0b\nmessage|1|-1|c\n");
    sse_release(&s);
    buf_release(&out);
}

Test(sse, a_bom_later_in_the_stream_is_data)
{
    const char in[] = "data: a\n\n\xEF\xBB\xBF"
                      "data: b\n\n";
    struct buf out = BUF_INIT(4096);
    struct sse s;

    sse_init(&s, 64);
    cr_assert_eq(sse_feed(&s, in, sizeof(in) - 1, record, &out), 0);
    /* "\xEF\xBB\xBFdata" is an unknown field name: the event has no data. */
    cr_assert_str_eq(buf_cstr(&out), "message||-1|a\n");
    sse_release(&s);
    buf_release(&out);
}

Test(sse, lines_and_events_past_the_limit_are_too_big)
{
    char line[200];
    struct buf out = BUF_INIT(4096);
    struct sse s;

    memset(line, 'x', sizeof(line));
    sse_init(&s, 100);
    cr_assert_eq(sse_feed(&s, line, sizeof(line), record, &out), SB_ETOOBIG);
    sse_release(&s);

    /* Short lines, but together more data than one event may hold. */
    sse_init(&s, 100);
    int rc = 0;
    for (int i = 0; i < 20 && rc == 0; i++)
        rc = sse_feed(&s, "data: 0123456789\n", 17, record, &out);
    cr_assert_eq(rc, SB_ETOOBIG);
    cr_assert_str_eq(buf_cstr(&out), "");
    sse_release(&s);
    buf_release(&out);
}

static int stop_after_one(void *arg, const struct sse_event *ev)
{
    int *n = arg;

    (*n)++;
    return 5;
}

Test(sse, emit_can_stop_the_feed)
{
    const char in[] = "data: 1\n\ndata: 2\n\n";
    struct sse s;
    int n = 0;

    sse_init(&s, 64);
    cr_assert_eq(sse_feed(&s, in, sizeof(in) - 1, stop_after_one, &n), 5);
    cr_assert_eq(n, 1);
    sse_release(&s);
}
