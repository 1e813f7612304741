/*
 * libFuzzer target for media/event. Besides the sanitizers it checks what a
 * caller relies on: a refusal says why and uses one of the two documented
 * codes, and an accepted message leaves every field within its bounds and
 * NUL-terminated. Accepted media is written back out and must parse again
 * to the same bytes. Whatever the media fast path accepts, the jansson tree
 * parser must accept too, into the same event.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "media/event.h"
#include "media/event_internal.h"

static struct media_event ev, again, fast, tree;

static void check_terminated(const char *s, size_t size)
{
    if (!memchr(s, '\0', size))
        abort();
}

static void check_event(const struct media_event *e)
{
    if (e->kind < MEDIA_EV_CONNECTED || e->kind > MEDIA_EV_UNKNOWN)
        abort();
    check_terminated(e->event, sizeof(e->event));
    check_terminated(e->stream_sid, sizeof(e->stream_sid));
    check_terminated(e->call_sid, sizeof(e->call_sid));
    check_terminated(e->account_sid, sizeof(e->account_sid));
    check_terminated(e->encoding, sizeof(e->encoding));
    check_terminated(e->track, sizeof(e->track));
    check_terminated(e->mark, sizeof(e->mark));
    if (e->event[0] == '\0' || e->sequence < -1)
        abort();
    if (e->payload_len > MEDIA_MAX_PAYLOAD)
        abort();
    if (e->nparams < 0 || e->nparams > MEDIA_MAX_PARAMS)
        abort();
    for (int i = 0; i < e->nparams; i++) {
        check_terminated(e->params[i].name, sizeof(e->params[i].name));
        check_terminated(e->params[i].value, sizeof(e->params[i].value));
        if (media_event_param(e, e->params[i].name) == NULL)
            abort();
    }
    if (e->kind != MEDIA_EV_CONNECTED && e->kind != MEDIA_EV_UNKNOWN &&
        (e->sequence < 0 || e->stream_sid[0] == '\0'))
        abort();
    switch (e->kind) {
    case MEDIA_EV_START:
        if (e->sample_rate <= 0 || e->call_sid[0] == '\0' || e->encoding[0] == '\0')
            abort();
        break;
    case MEDIA_EV_MEDIA:
        if (e->chunk < 0 || e->timestamp < 0 || e->track[0] == '\0')
            abort();
        break;
    case MEDIA_EV_DTMF:
        if (!e->digit || !strchr("0123456789*#ABCD", e->digit))
            abort();
        break;
    default:
        if (e->payload_len != 0)
            abort();
        break;
    }
}

/* Writes the media back and wraps the payload in an inbound message again. */
static void round_trip(const struct media_event *e)
{
    struct buf out = BUF_INIT(1 << 16), in = BUF_INIT(1 << 16);
    const char *p, *end;
    char err[128];
    int rc;

    if (media_event_write_media(&out, e->stream_sid, e->payload, e->payload_len) != 0)
        abort();
    p = strstr(out.data, "\"payload\":\"");
    if (!p)
        abort();
    p += strlen("\"payload\":\"");
    end = strchr(p, '"');
    if (!end)
        abort();
    rc = buf_printf(&in,
                    "{\"event\":\"media\",\"sequenceNumber\":\"1\",\"streamSid\":\"MZ1\","
                    "\"media\":{\"track\":\"inbound\",\"chunk\":\"1\",\"timestamp\":\"0\","
                    "\"payload\":\"%.*s\"}}",
                    (int)(end - p), p);
    if (rc)
        abort();
    rc = media_event_parse(in.data, in.len, &again, err, sizeof(err));
    if (rc != 0 || again.payload_len != e->payload_len ||
        memcmp(again.payload, e->payload, e->payload_len) != 0)
        abort();
    buf_release(&out);
    buf_release(&in);
}

/* The fields the parsers fill, compared one by one (the struct has padding). */
static void check_same(const struct media_event *a, const struct media_event *b)
{
    if (a->kind != b->kind || strcmp(a->event, b->event) || a->sequence != b->sequence ||
        strcmp(a->stream_sid, b->stream_sid) || strcmp(a->call_sid, b->call_sid) ||
        strcmp(a->account_sid, b->account_sid) || a->nparams != b->nparams ||
        a->sample_rate != b->sample_rate || strcmp(a->encoding, b->encoding) ||
        strcmp(a->track, b->track) || a->chunk != b->chunk || a->timestamp != b->timestamp ||
        a->payload_len != b->payload_len || a->digit != b->digit || strcmp(a->mark, b->mark) ||
        memcmp(a->payload, b->payload, a->payload_len) != 0)
        abort();
}

/* The fast path may decline anything, but what it accepts the tree must accept the same way. */
static void check_fast_path(const uint8_t *data, size_t size)
{
    char err[96];

    if (!media_event_parse_fast((const char *)data, size, &fast))
        return;
    if (media_event_parse_tree((const char *)data, size, &tree, err, sizeof(err)) != 0)
        abort();
    check_same(&fast, &tree);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[96];
    int rc;

    check_fast_path(data, size);

    memset(err, 'x', sizeof(err));
    rc = media_event_parse((const char *)data, size, &ev, err, sizeof(err));
    check_terminated(err, sizeof(err));
    if (rc != 0) {
        if ((rc != SB_EPARSE && rc != SB_ETOOBIG) || err[0] == '\0')
            abort();
        return 0;
    }
    if (err[0] != '\0')
        abort();
    check_event(&ev);
    if (ev.kind == MEDIA_EV_MEDIA)
        round_trip(&ev);
    return 0;
}
