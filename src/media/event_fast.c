/*
 * The media message, nearly all of a stream's traffic (50 a second per
 * call), read with libwebsockets' LEJP: a streaming JSON parser that builds
 * no tree and allocates nothing, under a third of jansson's time for this
 * message. It only ever accepts. Anything it cannot vouch for (another
 * event, a key it does not expect, a key twice, a value that is not a
 * string, a value out of bounds, trailing bytes, invalid JSON) makes it
 * decline, and the message goes through the jansson parser, which decides
 * and explains. fuzz_media checks that the two agree on every message the
 * fast path accepts.
 *
 * LEJP is looser than JSON, so the bytes are screened before it sees them
 * (see screen()): what passes the screen is text on which LEJP and JSON
 * agree.
 */
#include <libwebsockets.h>
#include <stddef.h>
#include <string.h>

#include "media/event_internal.h"
#include "core/banned.h"

enum fast_field { F_EVENT, F_SEQ, F_SID, F_MEDIA, F_TRACK, F_CHUNK, F_TS, F_PAYLOAD, F_COUNT };

/* Indexed by enum fast_field; LEJP reports a match as its index + 1. */
static const char *const fast_paths[F_COUNT] = {
    "event",       "sequenceNumber", "streamSid",       "media",
    "media.track", "media.chunk",    "media.timestamp", "media.payload",
};

/* Longer than any key we take ("sequenceNumber"); LEJP's path buffer is far larger. */
#define KEY_MAX 16

/* The largest payload text that can decode to MEDIA_MAX_PAYLOAD bytes. */
#define PAYLOAD_TEXT_MAX ((MEDIA_MAX_PAYLOAD + 2) / 3 * 4)

struct fast_read {
    unsigned named;  /* fields whose key was seen */
    unsigned valued; /* fields whose string value is complete */
    int in_root;
    /* Each value as sent; sizes are the tree parser's limits, so a longer one declines. */
    char event[sizeof(((struct media_event *)0)->event)];
    char seq[24], chunk[24], ts[24];
    char sid[sizeof(((struct media_event *)0)->stream_sid)];
    char track[sizeof(((struct media_event *)0)->track)];
    char payload[PAYLOAD_TEXT_MAX + 1];
    size_t len[F_COUNT];
};

/* Where field f's text goes, and how many bytes it may hold (a NUL is kept free). */
static char *field_buf(struct fast_read *r, int f, size_t *cap)
{
    switch (f) {
    case F_EVENT:
        *cap = sizeof(r->event) - 1;
        return r->event;
    case F_SEQ:
        *cap = sizeof(r->seq) - 1;
        return r->seq;
    case F_SID:
        *cap = sizeof(r->sid) - 1;
        return r->sid;
    case F_TRACK:
        *cap = sizeof(r->track) - 1;
        return r->track;
    case F_CHUNK:
        *cap = sizeof(r->chunk) - 1;
        return r->chunk;
    case F_TS:
        *cap = sizeof(r->ts) - 1;
        return r->ts;
    case F_PAYLOAD:
        *cap = sizeof(r->payload) - 1;
        return r->payload;
    default:
        *cap = 0;
        return NULL;
    }
}

/* Appends a piece of field f's string (printable ASCII: screen() saw to that). */
static int append(struct fast_read *r, int f, const char *s, size_t n)
{
    size_t cap;
    char *dst = field_buf(r, f, &cap);

    if (!dst || r->len[f] + n > cap)
        return -1;
    memcpy(dst + r->len[f], s, n);
    r->len[f] += n;
    dst[r->len[f]] = '\0';
    return 0;
}

/*
 * Declines what LEJP would read differently from JSON. Twilio's media message
 * is printable ASCII without '#' (LEJP skips from it to the end of the line
 * as a comment), '\\' (escapes, among them \u0000, which LEJP puts into its
 * key path) or '.' (LEJP joins nested keys with dots, so a key "media.track"
 * would pass for the nested one), and its keys are short (LEJP does not bound
 * its key path). With no escapes, every '"' opens or closes a string.
 */
static int screen(const char *text, size_t len)
{
    size_t open = 0;
    int in_string = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];

        if (ch < 0x20 || ch > 0x7e || ch == '#' || ch == '\\' || ch == '.')
            return 0;
        if (ch != '"')
            continue;
        if (!in_string) {
            open = i;
        } else {
            size_t j = i + 1;

            while (j < len && text[j] == ' ')
                j++;
            /* A key: a string followed by ':'. */
            if (j < len && text[j] == ':' && i - open - 1 > KEY_MAX)
                return 0;
        }
        in_string = !in_string;
    }
    return 1;
}

/*
 * LEJP's callback. Any refusal returns -1: LEJP stops on a non-zero return
 * for most callbacks but only on a negative one for some (VAL_STR_END).
 */
static signed char on_json(struct lejp_ctx *ctx, char reason)
{
    struct fast_read *r = ctx->user;
    int f = (int)ctx->path_match - 1; /* -1: a path we do not expect */

    switch (reason) {
    case LEJPCB_CONSTRUCTED:
    case LEJPCB_DESTRUCTED:
    case LEJPCB_START:
    case LEJPCB_COMPLETE:
    case LEJPCB_FAILED:
    case LEJPCB_OBJECT_END:
        return 0;
    case LEJPCB_OBJECT_START:
        /* The root object once, and "media" as an object. */
        if (ctx->path[0] == '\0' && !r->in_root) {
            r->in_root = 1;
            return 0;
        }
        return f == F_MEDIA ? 0 : -1;
    case LEJPCB_PAIR_NAME:
        if (f < 0 || (r->named & (1u << f)))
            return -1;
        r->named |= 1u << f;
        return 0;
    case LEJPCB_VAL_STR_START:
        return f < 0 || f == F_MEDIA ? -1 : 0;
    case LEJPCB_VAL_STR_CHUNK:
    case LEJPCB_VAL_STR_END:
        if (f < 0 || append(r, f, ctx->buf, ctx->npos))
            return -1;
        if (reason != LEJPCB_VAL_STR_END)
            return 0;
        r->valued |= 1u << f;
        /* Another event (start, mark, ...): the tree reads it; stop here. */
        return f == F_EVENT && strcmp(r->event, "media") != 0 ? -1 : 0;
    default:
        /* numbers, true, false, null, arrays */
        return -1;
    }
}

int media_event_parse_fast(const char *text, size_t len, struct media_event *ev)
{
    const unsigned strings = ((1u << F_COUNT) - 1) & ~(1u << F_MEDIA);
    struct lejp_ctx ctx;
    struct fast_read r;
    char err[8];
    int rc;

    /* Cheap refusals first: the shortest media message is longer than this. */
    if (len < 64 || len > MEDIA_EVENT_MAX_SIZE || text[0] != '{' || !screen(text, len))
        return 0;
    r.named = r.valued = 0;
    r.in_root = 0;
    memset(r.len, 0, sizeof(r.len));
    lejp_construct(&ctx, on_json, &r, fast_paths, F_COUNT);
    rc = lejp_parse(&ctx, (const unsigned char *)text, (int)len);
    lejp_destruct(&ctx);
    if (rc != 0 || r.valued != strings || !(r.named & (1u << F_MEDIA)) ||
        strcmp(r.event, "media") != 0 || r.len[F_SID] == 0 || r.len[F_TRACK] == 0)
        return 0;

    memset(ev, 0, offsetof(struct media_event, params));
    ev->kind = MEDIA_EV_MEDIA;
    memcpy(ev->event, "media", sizeof("media"));
    memcpy(ev->stream_sid, r.sid, r.len[F_SID] + 1);
    memcpy(ev->track, r.track, r.len[F_TRACK] + 1);
    if (media_decimal(r.seq, r.len[F_SEQ], &ev->sequence) ||
        media_decimal(r.chunk, r.len[F_CHUNK], &ev->chunk) ||
        media_decimal(r.ts, r.len[F_TS], &ev->timestamp) ||
        media_decode_payload(ev, r.payload, r.len[F_PAYLOAD], err, sizeof(err)))
        return 0;
    return 1;
}
