#include "media/pacer.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mulaw.h"
#include "core/phone.h"
#include "core/banned.h"

#define FRAME_US (PHONE_FRAME_MS * 1000LL)
/* Two minutes of phone audio: far more than one reply, small enough per call. */
#define PACER_MAX_BYTES (120 * PHONE_RATE)
#define PACER_MIN_CAP 4096

void pacer_init(struct pacer *p, int lead_ms)
{
    memset(p, 0, sizeof(*p));
    p->lead_ms = lead_ms > 0 ? lead_ms : PACER_DEFAULT_LEAD_MS;
}

/* Makes room for `extra` more bytes after the queued ones, compacting first. */
static int pacer_reserve(struct pacer *p, size_t extra)
{
    size_t need = p->len + extra;
    size_t cap;
    unsigned char *a;
    int rc = 0;

    if (p->head + need <= p->cap)
        goto out;
    if (p->head > 0) {
        memmove(p->audio, p->audio + p->head, p->len);
        p->head = 0;
    }
    if (need <= p->cap)
        goto out;
    cap = p->cap ? p->cap : PACER_MIN_CAP;
    while (cap < need)
        cap *= 2;
    if (cap > PACER_MAX_BYTES)
        cap = PACER_MAX_BYTES;
    a = realloc(p->audio, cap);
    if (!a) {
        rc = SB_ENOMEM;
        goto out;
    }
    p->audio = a;
    p->cap = cap;
out:
    return rc;
}

/*
 * Only the latest utterance is tracked: its unsent bytes are always the tail
 * of the queue. Queuing a different utterance while an earlier one is still
 * queued leaves the earlier one's rest in front, and its mark merges into the
 * new one's: a mark says that everything queued before it has been sent.
 * More audio for the same utterance (streamed synthesis) extends it.
 */
int pacer_queue(struct pacer *p, unsigned utterance, const unsigned char *audio, size_t len)
{
    int rc = 0;

    if (!p || (!audio && len)) {
        rc = SB_EINVAL;
        goto out;
    }
    if (len == 0)
        goto out;
    if (len > PACER_MAX_BYTES || p->len > PACER_MAX_BYTES - len) {
        rc = SB_ETOOBIG;
        goto out;
    }
    rc = pacer_reserve(p, len);
    if (rc)
        goto out;
    memcpy(p->audio + p->head + p->len, audio, len);
    p->len += len;
    if (utterance != p->utterance) {
        p->utterance = utterance;
        p->utterance_bytes = len;
        p->utterance_sent = 0;
    } else {
        p->utterance_bytes += len;
    }
    p->mark_pending = 1;
out:
    return rc;
}

static long long floor_div(long long a, long long b)
{
    long long q = a / b;

    if (a % b != 0 && (a < 0) != (b < 0))
        q--;
    return q;
}

/*
 * Everything sent so far has been played out by start_us + sent * 20 ms.
 * From then on Twilio's buffer is empty (the queue ran dry, or the caller
 * was late), so counting on from the old start would release a burst of
 * every frame "missed" meanwhile; the clock starts again from now instead.
 * Before that moment the old clock is still right, and keeping it holds
 * Twilio's buffer to the lead even when new audio arrives just after the
 * queue ran dry.
 */
static int pacer_clock_stale(const struct pacer *p, long long now_us)
{
    return p->sent_frames == 0 || now_us >= p->start_us + p->sent_frames * FRAME_US;
}

static long long pacer_allowed(const struct pacer *p, long long now_us)
{
    long long due = floor_div(now_us - p->start_us, FRAME_US) + 1;
    long long allowed = due + p->lead_ms / PHONE_FRAME_MS - p->sent_frames;

    return allowed > 0 ? allowed : 0;
}

/* Drops `n` bytes from the front, counting those that belong to the current utterance. */
static void pacer_consume(struct pacer *p, size_t n)
{
    size_t unsent = p->utterance_bytes - p->utterance_sent;
    size_t before = p->len - unsent; /* the rest of earlier utterances */
    size_t from_before = n < before ? n : before;

    p->utterance_sent += n - from_before;
    p->head += n;
    p->len -= n;
    if (p->len == 0)
        p->head = 0;
}

size_t pacer_take(struct pacer *p, long long now_us, unsigned char *out, size_t max_frames,
                  int *mark)
{
    size_t taken = 0, avail, n;
    long long allowed;

    if (mark)
        *mark = 0;
    if (!p || !out || p->len == 0 || max_frames == 0)
        goto out;
    if (pacer_clock_stale(p, now_us)) {
        p->start_us = now_us;
        p->sent_frames = 0;
    }
    allowed = pacer_allowed(p, now_us);
    avail = (p->len + PHONE_FRAME_BYTES - 1) / PHONE_FRAME_BYTES;
    n = avail < max_frames ? avail : max_frames;
    if ((unsigned long long)allowed < n)
        n = (size_t)allowed;
    for (taken = 0; taken < n; taken++) {
        unsigned char *frame = out + taken * PHONE_FRAME_BYTES;
        size_t chunk = p->len < PHONE_FRAME_BYTES ? p->len : PHONE_FRAME_BYTES;

        memcpy(frame, p->audio + p->head, chunk);
        if (chunk < PHONE_FRAME_BYTES)
            memset(frame + chunk, MULAW_SILENCE, PHONE_FRAME_BYTES - chunk);
        pacer_consume(p, chunk);
    }
    p->sent_frames += (long long)taken;
    if (p->len == 0 && p->mark_pending && taken > 0) {
        p->mark_pending = 0;
        if (mark)
            *mark = 1;
    }
out:
    return taken;
}

long long pacer_next_due(const struct pacer *p, long long now_us)
{
    long long due = -1, at;

    if (!p || p->len == 0)
        goto out;
    due = 0;
    if (pacer_clock_stale(p, now_us))
        goto out;
    /* allowed >= 1 once floor((t - start) / 20 ms) reaches sent - lead frames. */
    at = p->start_us + (p->sent_frames - p->lead_ms / PHONE_FRAME_MS) * FRAME_US;
    if (at > now_us)
        due = at - now_us;
out:
    return due;
}

long pacer_clear(struct pacer *p)
{
    long ms = 0;

    if (!p)
        goto out;
    ms = (long)(p->utterance_sent / 8);
    p->len = 0;
    p->head = 0;
    p->utterance_bytes = 0;
    p->utterance_sent = 0;
    p->mark_pending = 0;
    /* A clear empties Twilio's buffer too, so the next audio starts a new clock. */
    p->sent_frames = 0;
out:
    return ms;
}

int pacer_idle(const struct pacer *p)
{
    return !p || p->len == 0;
}

void pacer_release(struct pacer *p)
{
    if (p) {
        int lead = p->lead_ms;

        free(p->audio);
        pacer_init(p, lead);
    }
}
