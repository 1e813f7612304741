/*
 * Tests for media/pacer over simulated time: the absolute 20 ms clock, the
 * lead, clear, the restart after idle, marks and the padding of the last
 * frame.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/phone.h"
#include "media/pacer.h"

#define MS 1000LL
#define F PHONE_FRAME_BYTES
#define MAXF 4000

static unsigned char out[MAXF * F];

/* `ms` of audio whose byte i is (seed + i) % 251, so that order can be checked. */
static unsigned char *audio(long ms, int seed)
{
    size_t n = (size_t)ms * 8;
    unsigned char *a = malloc(n ? n : 1);

    cr_assert_not_null(a);
    for (size_t i = 0; i < n; i++)
        a[i] = (unsigned char)((seed + i) % 251);
    return a;
}

static void queue_ms(struct pacer *p, unsigned utt, long ms)
{
    unsigned char *a = audio(ms, (int)utt);

    cr_assert_eq(pacer_queue(p, utt, a, (size_t)ms * 8), 0);
    free(a);
}

static size_t take(struct pacer *p, long long now, int *mark)
{
    return pacer_take(p, now, out, MAXF, mark);
}

Test(pacer, init_and_idle)
{
    struct pacer p;

    pacer_init(&p, 0);
    cr_assert_eq(p.lead_ms, PACER_DEFAULT_LEAD_MS);
    cr_assert(pacer_idle(&p));
    cr_assert_eq(pacer_next_due(&p, 0), -1);
    cr_assert_eq(take(&p, 0, NULL), 0);
    cr_assert_eq(pacer_clear(&p), 0);
    pacer_release(&p);
    pacer_init(&p, 60);
    cr_assert_eq(p.lead_ms, 60);
    pacer_release(&p);
}

Test(pacer, first_take_sends_only_the_lead)
{
    struct pacer p;
    int mark = -1;

    pacer_init(&p, 0);
    queue_ms(&p, 1, 1000);
    cr_assert_not(pacer_idle(&p));
    cr_assert_eq(pacer_next_due(&p, 0), 0);
    /* One frame now plus 200 ms of lead: 11 frames, the rest waits for the clock. */
    cr_assert_eq(take(&p, 0, &mark), 1 + PACER_DEFAULT_LEAD_MS / 20);
    cr_assert_eq(mark, 0);
    cr_assert_eq(take(&p, 0, NULL), 0);
    cr_assert_eq(take(&p, 19999, NULL), 0);
    cr_assert_eq(pacer_next_due(&p, 0), 20 * MS);
    cr_assert_eq(pacer_next_due(&p, 5 * MS), 15 * MS);
    cr_assert_eq(take(&p, 20 * MS, NULL), 1);
    /* The bytes come out in order. */
    for (size_t i = 0; i < F; i++)
        cr_assert_eq(out[i], (unsigned char)((1 + 11 * F + i) % 251));
    pacer_release(&p);
}

Test(pacer, other_leads)
{
    struct pacer p;

    pacer_init(&p, 40);
    queue_ms(&p, 1, 1000);
    cr_assert_eq(take(&p, 0, NULL), 3);
    pacer_release(&p);
    /* A lead under one frame sends only the frame that is due. */
    pacer_init(&p, 10);
    queue_ms(&p, 1, 1000);
    cr_assert_eq(take(&p, 0, NULL), 1);
    cr_assert_eq(take(&p, 19 * MS, NULL), 0);
    cr_assert_eq(take(&p, 20 * MS, NULL), 1);
    pacer_release(&p);
}

Test(pacer, fifty_frames_a_second_and_never_ahead_of_the_lead)
{
    struct pacer p;
    long long sent = 0, at_1s = -1, at_2s = -1;

    pacer_init(&p, 0);
    queue_ms(&p, 1, 10000);
    /* Polled every millisecond for 5 s. */
    for (long long t = 0; t <= 5000 * MS; t += MS) {
        sent += (long long)take(&p, t, NULL);
        /* Exactly the frames due by t, plus the lead. */
        cr_assert_eq(sent, t / (20 * MS) + 1 + 10, "t=%lld sent=%lld", t, sent);
        if (t == 1000 * MS)
            at_1s = sent;
        if (t == 2000 * MS)
            at_2s = sent;
    }
    cr_assert_eq(at_2s - at_1s, 50);
    pacer_release(&p);
}

Test(pacer, irregular_polling_keeps_the_rate)
{
    struct pacer p;
    long long sent = 0, t = 0;
    unsigned x = 7;

    pacer_init(&p, 0);
    queue_ms(&p, 1, 30000);
    /* Late and early polls, never later than the lead. */
    while (t < 20000 * MS) {
        size_t n = pacer_take(&p, t, out, 3, NULL);

        sent += (long long)n;
        cr_assert_leq(sent, t / (20 * MS) + 1 + 10);
        x = x * 1103515245u + 12345u;
        t += (long long)((x >> 16) % 60) * MS;
    }
    /* Whatever the pattern, the stream keeps up with the clock. */
    cr_assert_geq(sent, t / (20 * MS) - 60 / 20);
    pacer_release(&p);
}

Test(pacer, max_frames_limits_a_take)
{
    struct pacer p;

    pacer_init(&p, 0);
    queue_ms(&p, 1, 1000);
    cr_assert_eq(pacer_take(&p, 0, out, 4, NULL), 4);
    cr_assert_eq(pacer_take(&p, 0, out, 4, NULL), 4);
    cr_assert_eq(pacer_take(&p, 0, out, 4, NULL), 3);
    cr_assert_eq(pacer_take(&p, 0, out, 0, NULL), 0);
    pacer_release(&p);
}

Test(pacer, clear_drops_and_reports_sent_ms)
{
    struct pacer p;
    int mark = -1;

    pacer_init(&p, 0);
    queue_ms(&p, 1, 1000);
    cr_assert_eq(take(&p, 0, NULL), 11);
    cr_assert_eq(take(&p, 40 * MS, NULL), 2);
    cr_assert_eq(pacer_clear(&p), 13 * 20);
    cr_assert(pacer_idle(&p));
    cr_assert_eq(take(&p, 60 * MS, &mark), 0);
    cr_assert_eq(mark, 0, "a cleared utterance has no mark");
    cr_assert_eq(pacer_next_due(&p, 60 * MS), -1);
    cr_assert_eq(pacer_clear(&p), 0);
    /* Twilio's buffer is empty after a clear: the next reply starts a new clock. */
    queue_ms(&p, 2, 1000);
    cr_assert_eq(take(&p, 70 * MS, NULL), 11);
    cr_assert_eq(take(&p, 89 * MS, NULL), 0);
    cr_assert_eq(take(&p, 90 * MS, NULL), 1);
    pacer_release(&p);
}

Test(pacer, clear_counts_bytes_of_a_partial_last_frame)
{
    struct pacer p;

    pacer_init(&p, 0);
    /* 25 ms: one full frame and 40 bytes. */
    cr_assert_eq(pacer_queue(&p, 3, out + F * 10, 200), 0);
    cr_assert_eq(take(&p, 0, NULL), 2);
    cr_assert_eq(pacer_clear(&p), 25);
    pacer_release(&p);
}

Test(pacer, clock_restarts_after_idle)
{
    struct pacer p;
    int mark = 0;

    pacer_init(&p, 0);
    queue_ms(&p, 1, 100);
    cr_assert_eq(take(&p, 0, &mark), 5);
    cr_assert_eq(mark, 1);
    cr_assert(pacer_idle(&p));
    /* Three seconds later the old clock would allow 150 frames at once. */
    queue_ms(&p, 2, 1000);
    cr_assert_eq(pacer_next_due(&p, 3000 * MS), 0);
    cr_assert_eq(take(&p, 3000 * MS, NULL), 11);
    cr_assert_eq(take(&p, 3019 * MS, NULL), 0);
    cr_assert_eq(take(&p, 3020 * MS, NULL), 1);
    pacer_release(&p);
}

Test(pacer, new_audio_before_the_old_has_played_keeps_the_clock)
{
    struct pacer p;

    pacer_init(&p, 0);
    queue_ms(&p, 1, 100);
    cr_assert_eq(take(&p, 0, NULL), 5);
    /*
     * At 40 ms Twilio still holds 60 ms of it; restarting the clock here
     * would let 11 more frames out and put Twilio 300 ms ahead.
     */
    queue_ms(&p, 2, 1000);
    cr_assert_eq(take(&p, 40 * MS, NULL), 3 + 10 - 5);
    pacer_release(&p);
}

Test(pacer, late_caller_does_not_get_a_burst)
{
    struct pacer p;

    pacer_init(&p, 0);
    queue_ms(&p, 1, 10000);
    cr_assert_eq(take(&p, 0, NULL), 11);
    /* A second without a poll: Twilio ran dry at 220 ms; start again from now. */
    cr_assert_eq(take(&p, 1000 * MS, NULL), 11);
    cr_assert_eq(take(&p, 1020 * MS, NULL), 1);
    pacer_release(&p);
}

Test(pacer, mark_after_the_last_frame_of_an_utterance)
{
    struct pacer p;
    int mark = -1;

    pacer_init(&p, 0);
    /* 500 bytes: three full frames and a partial fourth. */
    cr_assert_eq(pacer_queue(&p, 1, out + F * 100, 500), 0);
    cr_assert_eq(pacer_take(&p, 0, out, 2, &mark), 2);
    cr_assert_eq(mark, 0);
    cr_assert_eq(pacer_take(&p, 0, out, 1, &mark), 1);
    cr_assert_eq(mark, 0);
    cr_assert_eq(pacer_take(&p, 0, out, 5, &mark), 1);
    cr_assert_eq(mark, 1);
    cr_assert_eq(pacer_take(&p, 1000 * MS, out, 5, &mark), 0);
    cr_assert_eq(mark, 0);
    /* The next utterance gets its own mark. */
    queue_ms(&p, 2, 40);
    cr_assert_eq(take(&p, 2000 * MS, &mark), 2);
    cr_assert_eq(mark, 1);
    pacer_release(&p);
}

Test(pacer, streamed_chunks_extend_the_utterance)
{
    struct pacer p;
    int mark = -1;

    pacer_init(&p, 0);
    queue_ms(&p, 4, 100);
    cr_assert_eq(pacer_take(&p, 0, out, 2, &mark), 2);
    cr_assert_eq(mark, 0);
    queue_ms(&p, 4, 200);
    cr_assert_eq(take(&p, 0, &mark), 9);
    cr_assert_eq(mark, 0);
    cr_assert_eq(take(&p, 100 * MS, &mark), 4);
    cr_assert_eq(mark, 1);
    cr_assert_eq(pacer_clear(&p), 300);
    pacer_release(&p);
}

Test(pacer, a_new_utterance_behind_an_unfinished_one_merges_its_mark)
{
    struct pacer p;
    int mark = -1;

    pacer_init(&p, 0);
    queue_ms(&p, 1, 60);
    cr_assert_eq(pacer_take(&p, 0, out, 1, &mark), 1);
    queue_ms(&p, 2, 40);
    cr_assert_eq(p.utterance, 2);
    /* The rest of utterance 1 goes first, without a mark of its own. */
    cr_assert_eq(pacer_take(&p, 0, out, 2, &mark), 2);
    cr_assert_eq(mark, 0);
    for (size_t i = 0; i < 2 * F; i++)
        cr_assert_eq(out[i], (unsigned char)((1 + F + i) % 251));
    cr_assert_eq(pacer_take(&p, 0, out, 1, &mark), 1);
    cr_assert_eq(mark, 0);
    /* Only utterance 2's bytes count for it. */
    cr_assert_eq(p.utterance_sent, F);
    cr_assert_eq(pacer_take(&p, 0, out, 1, &mark), 1);
    cr_assert_eq(mark, 1);
    cr_assert_eq(pacer_clear(&p), 40);
    pacer_release(&p);
}

Test(pacer, partial_last_frame_is_padded_with_silence)
{
    unsigned char a[200];
    struct pacer p;

    memset(a, 0x11, sizeof(a));
    pacer_init(&p, 0);
    cr_assert_eq(pacer_queue(&p, 1, a, sizeof(a)), 0);
    memset(out, 0, 2 * F);
    cr_assert_eq(take(&p, 0, NULL), 2);
    for (size_t i = 0; i < F + 40; i++)
        cr_assert_eq(out[i], 0x11, "byte %zu", i);
    for (size_t i = F + 40; i < 2 * F; i++)
        cr_assert_eq(out[i], 0xFF, "byte %zu", i);
    pacer_release(&p);
}

Test(pacer, queue_limits_and_arguments)
{
    struct pacer p;
    unsigned char *big;
    size_t max = 120 * PHONE_RATE;
    int mark = -1;

    pacer_init(&p, 0);
    cr_assert_eq(pacer_queue(&p, 1, NULL, 0), 0);
    cr_assert(pacer_idle(&p));
    cr_assert_eq(take(&p, 0, &mark), 0);
    cr_assert_eq(mark, 0, "an empty queue call promises no mark");
    cr_assert_eq(pacer_queue(&p, 1, NULL, 5), SB_EINVAL);
    big = calloc(1, max + 1);
    cr_assert_not_null(big);
    cr_assert_eq(pacer_queue(&p, 1, big, max + 1), SB_ETOOBIG);
    cr_assert_eq(pacer_queue(&p, 1, big, max), 0);
    cr_assert_eq(pacer_queue(&p, 1, big, 1), SB_ETOOBIG);
    /* Space freed by sending can be used again. */
    cr_assert_eq(take(&p, 0, NULL), 11);
    cr_assert_eq(pacer_queue(&p, 1, big, 11 * F), 0);
    cr_assert_eq(pacer_queue(&p, 1, big, 1), SB_ETOOBIG);
    free(big);
    pacer_release(&p);
    cr_assert_null(p.audio);
    cr_assert(pacer_idle(&p));
}

Test(pacer, long_run_through_a_small_window)
{
    struct pacer p;
    long long t = 0, sent = 0;
    size_t queued = 0;
    unsigned char *a = audio(10000, 9);

    /* Queue in 100 ms pieces while sending, so the buffer compacts and wraps. */
    pacer_init(&p, 0);
    while (queued < 80000 || !pacer_idle(&p)) {
        size_t n;

        if (queued < 80000 && p.len < 1600) {
            cr_assert_eq(pacer_queue(&p, 5, a + queued, 800), 0);
            queued += 800;
        }
        n = take(&p, t, NULL);
        for (size_t i = 0; i < n * F; i++)
            cr_assert_eq(out[i], a[sent * F + i]);
        sent += (long long)n;
        t += 20 * MS;
    }
    cr_assert_eq(sent, 500);
    cr_assert_leq(p.cap, 4096);
    free(a);
    pacer_release(&p);
}
