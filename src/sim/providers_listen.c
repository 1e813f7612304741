/*
 * switchboard sim providers: the utterances of a Deepgram stream. An
 * energy detector over 20 ms frames of the µ-law it receives, in audio
 * time (bytes / 8000), so the same audio always cuts the same way however
 * fast it arrives: speech starts after SIM_PROVIDERS_VAD_START_FRAMES loud
 * frames, an utterance ends after the stream's pause of quiet frames. Pure:
 * no clock, no sockets.
 */
#include "sim/providers.h"

#include <stdint.h>
#include <string.h>

#include "core/mulaw.h"
#include "core/phone.h"
#include "core/banned.h"

#define FRAME ((size_t)PHONE_FRAME_BYTES) /* samples (and µ-law bytes) in 20 ms */
#define MS(ms) ((unsigned long long)(ms) * (PHONE_RATE / 1000))
/* The pre-roll, and the speech frames that start an utterance. */
#define PREROLL_BYTES                                                                              \
    ((size_t)MS(SIM_PROVIDERS_PREROLL_MS) + SIM_PROVIDERS_VAD_START_FRAMES * FRAME)
/* Quiet kept at the end of an utterance's audio, however long the pause. */
#define TAIL_MS 500
#define AUDIO_MAX (PREROLL_BYTES + MS(SIM_PROVIDERS_MAX_UTTERANCE_MS + TAIL_MS) + FRAME)

static double seconds(unsigned long long samples)
{
    return (double)samples / (double)PHONE_RATE;
}

void sim_providers_listen_init(struct sim_providers_listen *l,
                               const struct sim_providers_dg_query *q)
{
    memset(l, 0, sizeof(*l));
    if (q->endpointing_ms < 0) {
        l->pause_ms = SIM_PROVIDERS_NO_ENDPOINT_PAUSE_MS;
        l->speech_final = 0;
    } else {
        l->pause_ms = q->endpointing_ms > SIM_PROVIDERS_MIN_PAUSE_MS ? q->endpointing_ms
                                                                     : SIM_PROVIDERS_MIN_PAUSE_MS;
        l->speech_final = 1;
    }
    l->interim = q->interim_results;
    l->vad_events = q->vad_events;
    /* Deepgram sends UtteranceEnd only with interim results. */
    l->utterance_end = q->interim_results ? q->utterance_end_ms : 0;
    buf_init(&l->preroll, PREROLL_BYTES);
    buf_init(&l->audio, AUDIO_MAX);
}

void sim_providers_listen_release(struct sim_providers_listen *l)
{
    buf_release(&l->preroll);
    buf_release(&l->audio);
}

/* Keeps the last PREROLL_BYTES of quiet audio. */
static int keep_preroll(struct sim_providers_listen *l, const unsigned char *f, size_t n)
{
    if (l->preroll.len + n > PREROLL_BYTES) {
        size_t drop = l->preroll.len + n - PREROLL_BYTES;

        if (drop > l->preroll.len)
            drop = l->preroll.len;
        memmove(l->preroll.data, l->preroll.data + drop, l->preroll.len - drop);
        l->preroll.len -= drop;
    }
    return buf_append(&l->preroll, f, n);
}

static int emit_final(struct sim_providers_listen *l, int speech_final, int from_finalize,
                      sim_providers_listen_emit emit, void *arg)
{
    struct sim_providers_listen_event ev;
    int rc;

    memset(&ev, 0, sizeof(ev));
    ev.kind = SIM_PROVIDERS_FINAL;
    ev.start = seconds(l->cursor);
    ev.duration = seconds(l->pos - l->cursor);
    ev.has_speech = l->in_speech;
    ev.speech_final = speech_final;
    ev.from_finalize = from_finalize;
    if (l->in_speech) {
        ev.speech_start = seconds(l->seg_start);
        ev.speech_end = seconds(l->last_voice);
        ev.audio = (const unsigned char *)l->audio.data;
        ev.len = l->audio.len;
    } else {
        ev.speech_start = ev.speech_end = ev.start + ev.duration;
    }
    l->cursor = l->pos;
    if (l->in_speech) {
        l->last_word_end = l->last_voice;
        l->utt_end_due = l->utterance_end ? l->last_voice + MS(l->utterance_end) : 0;
    }
    rc = emit(arg, &ev);
    buf_reset(&l->audio);
    return rc;
}

static int emit_utterance_end(struct sim_providers_listen *l, sim_providers_listen_emit emit,
                              void *arg)
{
    struct sim_providers_listen_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.kind = SIM_PROVIDERS_UTTERANCE_END;
    ev.timestamp = seconds(l->last_word_end);
    l->utt_end_due = 0;
    return emit(arg, &ev);
}

/* Ends the utterance in progress (or, with `go_on`, starts the next one at once). */
static int end_utterance(struct sim_providers_listen *l, int speech_final, int from_finalize,
                         int go_on, sim_providers_listen_emit emit, void *arg)
{
    int rc = emit_final(l, speech_final, from_finalize, emit, arg);

    if (go_on) {
        l->seg_start = l->pos;
        l->utt_end_due = 0;
        l->next_interim = l->pos + MS(SIM_PROVIDERS_INTERIM_MS);
        return rc;
    }
    l->in_speech = 0;
    l->voiced_run = 0;
    buf_reset(&l->preroll);
    if (rc == 0 && l->utt_end_due && l->pos >= l->utt_end_due)
        rc = emit_utterance_end(l, emit, arg);
    return rc;
}

/* One frame of `n` samples (n <= FRAME). */
static int frame(struct sim_providers_listen *l, const unsigned char *f, size_t n,
                 sim_providers_listen_emit emit, void *arg)
{
    uint64_t energy = 0;
    int voiced, rc;
    unsigned long long start = l->pos;

    for (size_t i = 0; i < n; i++) {
        int32_t s = mulaw_decode(f[i]);

        energy += (uint64_t)((int64_t)s * s);
    }
    voiced = n > 0 && energy >= (uint64_t)SIM_PROVIDERS_VAD_LEVEL * SIM_PROVIDERS_VAD_LEVEL * n;
    l->pos += n;
    if (!l->in_speech) {
        l->voiced_run = voiced ? l->voiced_run + 1 : 0;
        if (l->voiced_run == 1)
            l->seg_start = start;
        rc = keep_preroll(l, f, n);
        if (rc)
            return rc;
        if (l->voiced_run < SIM_PROVIDERS_VAD_START_FRAMES) {
            if (l->utt_end_due && l->pos >= l->utt_end_due)
                return emit_utterance_end(l, emit, arg);
            return 0;
        }
        /* Speech: the utterance begins with the pre-roll (which holds the loud frames). */
        l->in_speech = 1;
        l->last_voice = l->pos;
        l->utt_end_due = 0;
        l->next_interim = l->seg_start + MS(SIM_PROVIDERS_INTERIM_MS);
        buf_reset(&l->audio);
        rc = buf_append(&l->audio, l->preroll.data, l->preroll.len);
        buf_reset(&l->preroll);
        if (rc)
            return rc;
        if (l->vad_events) {
            struct sim_providers_listen_event ev;

            memset(&ev, 0, sizeof(ev));
            ev.kind = SIM_PROVIDERS_SPEECH_STARTED;
            ev.timestamp = seconds(l->seg_start);
            return emit(arg, &ev);
        }
        return 0;
    }
    if (voiced)
        l->last_voice = l->pos;
    if (l->pos - l->last_voice <= MS(TAIL_MS)) {
        rc = buf_append(&l->audio, f, n);
        if (rc)
            return rc;
    }
    if (l->pos - l->last_voice >= MS(l->pause_ms))
        return end_utterance(l, l->speech_final, 0, 0, emit, arg);
    if (l->pos - l->seg_start >= MS(SIM_PROVIDERS_MAX_UTTERANCE_MS))
        return end_utterance(l, 0, 0, 1, emit, arg);
    if (l->interim && l->pos >= l->next_interim) {
        struct sim_providers_listen_event ev;

        l->next_interim += MS(SIM_PROVIDERS_INTERIM_MS);
        memset(&ev, 0, sizeof(ev));
        ev.kind = SIM_PROVIDERS_INTERIM;
        ev.start = seconds(l->cursor);
        ev.duration = seconds(l->pos - l->cursor);
        ev.has_speech = 1;
        ev.speech_start = seconds(l->seg_start);
        ev.speech_end = seconds(l->last_voice);
        ev.audio = (const unsigned char *)l->audio.data;
        ev.len = l->audio.len;
        return emit(arg, &ev);
    }
    return 0;
}

int sim_providers_listen_feed(struct sim_providers_listen *l, const unsigned char *data, size_t n,
                              sim_providers_listen_emit emit, void *arg)
{
    int rc = 0;

    while (n > 0 && rc == 0) {
        size_t take = FRAME - l->frame_len;

        if (take > n)
            take = n;
        memcpy(l->frame + l->frame_len, data, take);
        l->frame_len += take;
        data += take;
        n -= take;
        if (l->frame_len == FRAME) {
            l->frame_len = 0;
            rc = frame(l, l->frame, FRAME, emit, arg);
        }
    }
    return rc;
}

int sim_providers_listen_finish(struct sim_providers_listen *l, int from_finalize,
                                sim_providers_listen_emit emit, void *arg)
{
    int rc = 0;

    /* The audio of a frame begun counts too. */
    if (l->frame_len) {
        size_t n = l->frame_len;

        l->frame_len = 0;
        rc = frame(l, l->frame, n, emit, arg);
        if (rc)
            return rc;
    }
    if (l->in_speech)
        return end_utterance(l, 0, from_finalize, 0, emit, arg);
    return emit_final(l, 0, from_finalize, emit, arg);
}
