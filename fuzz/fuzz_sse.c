/*
 * libFuzzer target for net/sse, the Server-Sent Events line framer. The first
 * byte seeds where the rest is cut; the rest is the stream. Besides the
 * sanitizers it checks that the stream fed whole, fed in those pieces and fed
 * one byte at a time gives the same events, the same result (0 or too big)
 * and the same leftover.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "net/sse.h"

/* Small enough that lines and events past it come up often. */
#define MAX_FIELD 300

/* Each event as its fields, each length-prefixed, so that no two lists look alike. */
static int record(void *arg, const struct sse_event *ev)
{
    struct buf *out = arg;
    size_t type_len = strlen(ev->type), id_len = strlen(ev->id);

    if (ev->data[ev->data_len] != '\0')
        abort();
    if (ev->data_len > MAX_FIELD || type_len > MAX_FIELD || id_len > MAX_FIELD)
        abort();
    if (buf_printf(out, "%zu:", type_len) || buf_append(out, ev->type, type_len) ||
        buf_printf(out, "%zu:", id_len) || buf_append(out, ev->id, id_len) ||
        buf_printf(out, "%ld:%zu:", ev->retry_ms, ev->data_len) ||
        buf_append(out, ev->data, ev->data_len))
        abort();
    return 0;
}

struct outcome {
    struct buf events;
    int rc;
    int pending;
};

/* Feeds the stream whole (seed 0), in pieces of 1 to 17 bytes drawn from seed, or bytewise. */
static void run(const uint8_t *s, size_t len, uint32_t seed, int bytewise, struct outcome *o)
{
    struct sse f;
    size_t at = 0, n;

    buf_init(&o->events, (size_t)1 << 24);
    o->rc = 0;
    sse_init(&f, MAX_FIELD);
    while (at < len && o->rc == 0) {
        if (bytewise) {
            n = 1;
        } else if (seed == 0) {
            n = len - at;
        } else {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % 17;
            if (n > len - at)
                n = len - at;
        }
        o->rc = sse_feed(&f, s + at, n, record, &o->events);
        at += n;
    }
    o->pending = o->rc == 0 ? sse_pending(&f) : 0;
    sse_release(&f);
}

static void same(const struct outcome *a, const struct outcome *b)
{
    if (a->rc != b->rc || a->pending != b->pending || a->events.len != b->events.len ||
        (a->events.len > 0 && memcmp(a->events.data, b->events.data, a->events.len) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome whole, cut, bytes;

    if (size < 1)
        return 0;
    run(data + 1, size - 1, 0, 0, &whole);
    if (whole.rc != 0 && whole.rc != SB_ETOOBIG)
        abort();
    run(data + 1, size - 1, (uint32_t)data[0] + 1, 0, &cut);
    run(data + 1, size - 1, 0, 1, &bytes);
    same(&whole, &cut);
    same(&whole, &bytes);
    buf_release(&whole.events);
    buf_release(&cut.events);
    buf_release(&bytes.events);
    return 0;
}
