/*
 * media/event through every failing allocation: the jansson parser, the
 * fast path (which must allocate nothing), and the writers.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "media/event.h"
#include "media/event_internal.h"
#include "oom.h"

static void setup(void)
{
    oom_route_jansson();
}

TestSuite(oom_media, .init = setup);

#define SID "MZ18ad3ab5a668481ce02b83e7395059f0"

/* A start message of a Spanish call, with the stream's custom parameters. */
static const char start_msg[] =
    "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"accountSid\":"
    "\"AC0123456789abcdef0123456789abcdef\",\"streamSid\":\"" SID "\",\"callSid\":"
    "\"CA2a4ef7a0ad0c4b8f3e0a1b2c3d4e5f60\",\"tracks\":[\"inbound\"],\"mediaFormat\":{"
    "\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1},\"customParameters\":{"
    "\"tenant\":\"Peluquería Ñandú\",\"lang\":\"es-MX\",\"from\":\"+5215512345678\","
    "\"agent\":\"recepción\",\"saludo\":\"¿En qué le puedo ayudar?\",\"token\":"
    "\"q83vEjRUVniQq83vEjRUVniQq83vEjRUVniQq83vEjQ=\"}},\"streamSid\":\"" SID "\"}";

static const char media_msg[] =
    "{\"event\":\"media\",\"sequenceNumber\":\"4\",\"media\":{\"track\":\"inbound\",\"chunk\":"
    "\"2\",\"timestamp\":\"5\",\"payload\":\"no+JhoaJjpzS\"},\"streamSid\":\"" SID "\"}";

/* A media message the fast path declines (a key it does not know): the tree reads it. */
static const char media_extra_msg[] =
    "{\"event\":\"media\",\"sequenceNumber\":\"4\",\"media\":{\"track\":\"inbound\",\"chunk\":"
    "\"2\",\"timestamp\":\"5\",\"payload\":\"no+JhoaJjpzS\",\"nota\":\"señal\"},\"streamSid\":"
    "\"" SID "\"}";

static const char dtmf_msg[] = "{\"event\":\"dtmf\",\"streamSid\":\"" SID "\",\"sequenceNumber\":"
                               "\"5\",\"dtmf\":{\"track\":\"inbound_track\",\"digit\":\"1\"}}";

static const char mark_msg[] = "{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":\"" SID
                               "\",\"mark\":{\"name\":\"saludo-1\"}}";

static const char stop_msg[] =
    "{\"event\":\"stop\",\"sequenceNumber\":\"5\",\"stop\":{\"accountSid\":"
    "\"AC0123456789abcdef0123456789abcdef\",\"callSid\":\"CA2a4ef7a0ad0c4b8f3e0a1b2c3d4e5f60\"},"
    "\"streamSid\":\"" SID "\"}";

static const char connected_msg[] = "{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":"
                                    "\"1.0.0\"}";

/* Malformed: a duplicate key, which the tree parser refuses with a reason. */
static const char dup_msg[] = "{\"event\":\"media\",\"event\":\"mark\"}";

static int same_event(const struct media_event *a, const struct media_event *b)
{
    if (a->kind != b->kind || strcmp(a->event, b->event) || a->sequence != b->sequence ||
        strcmp(a->stream_sid, b->stream_sid) || strcmp(a->call_sid, b->call_sid) ||
        strcmp(a->account_sid, b->account_sid) || a->nparams != b->nparams ||
        a->sample_rate != b->sample_rate || strcmp(a->encoding, b->encoding) ||
        strcmp(a->track, b->track) || a->chunk != b->chunk || a->timestamp != b->timestamp ||
        a->payload_len != b->payload_len || a->digit != b->digit || strcmp(a->mark, b->mark))
        return 0;
    for (int i = 0; i < a->nparams; i++) {
        if (strcmp(a->params[i].name, b->params[i].name) ||
            strcmp(a->params[i].value, b->params[i].value))
            return 0;
    }
    return memcmp(a->payload, b->payload, a->payload_len) == 0;
}

struct parse_case {
    const char *text;
    int (*parse)(const char *text, size_t len, struct media_event *ev, char *err, size_t errlen);
    int want; /* the code without failures: 0, or SB_EPARSE for dup_msg */
    struct media_event ref;
    char ref_err[160];
};

static int run_parse(void *ctx)
{
    static struct media_event ev;
    struct parse_case *c = ctx;
    char err[160];
    int rc = c->parse(c->text, strlen(c->text), &ev, err, sizeof(err));

    if (c->want == 0)
        return rc == 0 && !same_event(&ev, &c->ref) ? OOM_WRONG : rc;
    /* A message that is refused anyway: the same refusal, or another error. */
    if (rc == 0)
        return OOM_WRONG;
    return rc == c->want && strcmp(err, c->ref_err) == 0 ? 0 : rc;
}

static void drive_parse(const char *name, const char *text,
                        int (*parse)(const char *, size_t, struct media_event *, char *, size_t),
                        int want)
{
    static struct parse_case c;
    char label[96];

    c.text = text;
    c.parse = parse;
    c.want = want;
    cr_assert_eq(parse(text, strlen(text), &c.ref, c.ref_err, sizeof(c.ref_err)), want, "%s: %s",
                 name, c.ref_err);
    snprintf(label, sizeof(label), "media %s", name);
    oom_drive(label, run_parse, &c, NULL);
}

Test(oom_media, parse_every_event)
{
    drive_parse("start (Spanish parameters)", start_msg, media_event_parse, 0);
    drive_parse("media", media_msg, media_event_parse, 0);
    drive_parse("media (tree)", media_msg, media_event_parse_tree, 0);
    drive_parse("media (declined by the fast path)", media_extra_msg, media_event_parse, 0);
    drive_parse("dtmf", dtmf_msg, media_event_parse, 0);
    drive_parse("mark", mark_msg, media_event_parse, 0);
    drive_parse("stop", stop_msg, media_event_parse, 0);
    drive_parse("connected", connected_msg, media_event_parse, 0);
}

Test(oom_media, parse_refusal_survives_failures)
{
    drive_parse("duplicate key", dup_msg, media_event_parse, SB_EPARSE);
}

static int run_fast(void *ctx)
{
    static struct media_event ev;
    const struct media_event *ref = ctx;

    if (!media_event_parse_fast(media_msg, sizeof(media_msg) - 1, &ev))
        return OOM_WRONG;
    return same_event(&ev, ref) ? 0 : OOM_WRONG;
}

Test(oom_media, fast_path_allocates_nothing)
{
    static struct media_event ref;
    struct oom_report rep;
    char err[160];

    cr_assert_eq(media_event_parse_tree(media_msg, sizeof(media_msg) - 1, &ref, err, sizeof(err)),
                 0);
    cr_assert_eq(media_event_parse_fast(media_msg, sizeof(media_msg) - 1, &ref), 1);
    oom_drive("media fast path", run_fast, &ref, &rep);
    cr_assert_eq(rep.allocs, 0, "the fast path allocated %ld times", rep.allocs);
}

/* ---- the writers ---- */

static char writers_ref[4096];

static int write_all(struct buf *b)
{
    unsigned char audio[480];
    int rc;

    for (size_t i = 0; i < sizeof(audio); i++)
        audio[i] = (unsigned char)(i * 37);
    rc = media_event_write_media(b, SID, audio, sizeof(audio));
    if (rc == 0)
        rc = media_event_write_mark(b, SID, "saludo-1");
    if (rc == 0)
        rc = media_event_write_mark(b, SID, "¿pregunta? «uno»");
    if (rc == 0)
        rc = media_event_write_clear(b, SID);
    return rc;
}

static int run_writers(void *ctx)
{
    struct buf b = BUF_INIT(MEDIA_EVENT_MAX_SIZE);
    int rc = write_all(&b);

    if (rc == 0 && strcmp(buf_cstr(&b), writers_ref) != 0)
        rc = OOM_WRONG;
    buf_release(&b);
    return rc;
}

Test(oom_media, writers)
{
    struct buf b = BUF_INIT(MEDIA_EVENT_MAX_SIZE);

    cr_assert_eq(write_all(&b), 0);
    cr_assert_lt(b.len, sizeof(writers_ref));
    memcpy(writers_ref, b.data, b.len + 1);
    cr_assert(strstr(writers_ref, "\"name\":\"¿pregunta? «uno»\""), "%s", writers_ref);
    buf_release(&b);
    oom_drive("media writers", run_writers, NULL, NULL);
}
