/*
 * Tests for media/vad on synthetic 8 kHz signals: digital silence, white
 * noise at a given level, a 1 kHz tone standing in for voiced speech, and
 * clicks. Levels are dBFS of the rms for noise and of the peak for tones.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "core/phone.h"
#include "media/vad.h"

#define N PHONE_FRAME_BYTES /* one frame: a sample a byte */

/* 32767 * 10^(dB/20), worked out by hand to keep the tests free of libm. */
#define DB_M60 33.0
#define DB_M55 58.0
#define DB_M40 328.0
#define DB_M20 3277.0

/* One period of 1 kHz at 8 kHz: sin(2 pi k / 8). */
static const double sine8[8] = {0, 0.70710678, 1, 0.70710678, 0, -0.70710678, -1, -0.70710678};

static unsigned rng = 1;

/* Uniform in [-1, 1): rms 1/sqrt(3). */
static double uniform(void)
{
    rng = rng * 1103515245u + 12345u;
    return ((double)((rng >> 8) & 0xFFFF) / 32768.0) - 1.0;
}

static int16_t clip(double x)
{
    if (x > 32767)
        return 32767;
    if (x < -32768)
        return -32768;
    return (int16_t)x;
}

/* White noise at rms `rms`. */
static void noise(int16_t *f, double rms)
{
    for (int i = 0; i < N; i++)
        f[i] = clip(uniform() * rms * 1.7320508);
}

/* A 1 kHz tone of peak `peak` over noise of rms `rms`. */
static void tone(int16_t *f, double peak, double rms)
{
    for (int i = 0; i < N; i++)
        f[i] = clip(sine8[i % 8] * peak + uniform() * rms * 1.7320508);
}

struct tally {
    int starts, ends;
    int first_start, first_end, last_change; /* frame numbers, -1 for none */
};

/* Feeds `frames` frames made by `make` and records every change. */
static void run(struct vad *v, int frames, void (*make)(int16_t *, double, double), double a,
                double b, struct tally *t, int *clock)
{
    int16_t f[N];

    for (int k = 0; k < frames; k++, (*clock)++) {
        enum vad_change c;

        make(f, a, b);
        c = vad_feed(v, f, N);
        if (c == VAD_SPEECH_START) {
            t->starts++;
            if (t->first_start < 0)
                t->first_start = *clock;
            t->last_change = *clock;
        } else if (c == VAD_SPEECH_END) {
            t->ends++;
            if (t->first_end < 0)
                t->first_end = *clock;
            t->last_change = *clock;
        }
    }
}

static void make_noise(int16_t *f, double rms, double unused)
{
    noise(f, rms);
}

static void make_tone(int16_t *f, double peak, double rms)
{
    tone(f, peak, rms);
}

static void make_zero(int16_t *f, double a, double b)
{
    memset(f, 0, N * sizeof(*f));
}

/* Idle mu-law decodes to 0 and +-8: the quietest thing a line carries. */
static void make_idle(int16_t *f, double a, double b)
{
    for (int i = 0; i < N; i++)
        f[i] = (int16_t)((i % 3) == 0 ? 0 : (i % 3) == 1 ? 8 : -8);
}

#define TALLY_INIT                                                                                 \
    {                                                                                              \
        0, 0, -1, -1, -1                                                                           \
    }

Test(vad, defaults)
{
    struct vad v;

    memset(&v, 0x5a, sizeof(v));
    vad_init(&v);
    cr_assert_eq(v.speech, 0);
    cr_assert_eq(v.onset_frames, 0);
    cr_assert_eq(v.quiet_frames, 0);
    cr_assert_float_eq(v.ratio, 4.0, 1e-9);
    cr_assert_eq(v.onset_needed, 3);
    cr_assert_eq(v.hangover, 15);
    cr_assert_gt(v.noise_floor, 0);
    cr_assert_gt(v.min_energy, 0);
}

Test(vad, silence_never_triggers)
{
    struct tally t = TALLY_INIT;
    struct vad v;
    int clock = 0;

    vad_init(&v);
    run(&v, 1500, make_zero, 0, 0, &t, &clock);
    run(&v, 1500, make_idle, 0, 0, &t, &clock);
    /* Very quiet noise after the floor has decayed towards zero stays under min_energy. */
    run(&v, 1500, make_noise, DB_M60, 0, &t, &clock);
    run(&v, 500, make_zero, 0, 0, &t, &clock);
    cr_assert_eq(t.starts, 0);
    cr_assert_eq(t.ends, 0);
    cr_assert_eq(v.speech, 0);
    cr_assert_eq(vad_feed(&v, NULL, N), VAD_NONE);
    cr_assert_eq(vad_feed(&v, (const int16_t *)"", 0), VAD_NONE);
}

Test(vad, tone_after_noise_triggers_within_onset)
{
    struct tally t = TALLY_INIT;
    struct vad v;
    int clock = 0;

    vad_init(&v);
    run(&v, 50, make_noise, DB_M60, 0, &t, &clock);
    cr_assert_eq(t.starts, 0);
    run(&v, 10, make_tone, DB_M20, DB_M60, &t, &clock);
    cr_assert_eq(t.starts, 1);
    /* The third loud frame (60 ms) starts speech, not earlier and not later. */
    cr_assert_eq(t.first_start, 50 + v.onset_needed - 1);
    cr_assert_eq(v.speech, 1);
}

Test(vad, click_does_not_trigger)
{
    struct tally t = TALLY_INIT;
    struct vad v;
    int16_t f[N];
    int clock = 0;

    vad_init(&v);
    run(&v, 50, make_noise, DB_M60, 0, &t, &clock);
    /* A full-scale 20 ms click in one frame. */
    run(&v, 1, make_tone, 32767, DB_M60, &t, &clock);
    run(&v, 50, make_noise, DB_M60, 0, &t, &clock);
    /* The same click straddling two frames. */
    noise(f, DB_M60);
    for (int i = N / 2; i < N; i++)
        f[i] = (int16_t)(sine8[i % 8] * 32767);
    cr_assert_eq(vad_feed(&v, f, N), VAD_NONE);
    noise(f, DB_M60);
    for (int i = 0; i < N / 2; i++)
        f[i] = (int16_t)(sine8[i % 8] * 32767);
    cr_assert_eq(vad_feed(&v, f, N), VAD_NONE);
    run(&v, 50, make_noise, DB_M60, 0, &t, &clock);
    cr_assert_eq(t.starts, 0);
    cr_assert_eq(v.speech, 0);
}

Test(vad, speech_ends_after_the_hangover)
{
    struct tally t = TALLY_INIT;
    struct vad v;
    int clock = 0;

    vad_init(&v);
    run(&v, 50, make_noise, DB_M60, 0, &t, &clock);
    run(&v, 50, make_tone, DB_M20, DB_M60, &t, &clock);
    /* A pause shorter than the hangover does not end speech. */
    run(&v, v.hangover - 1, make_noise, DB_M60, 0, &t, &clock);
    cr_assert_eq(t.ends, 0);
    cr_assert_eq(v.speech, 1);
    run(&v, 50, make_tone, DB_M20, DB_M60, &t, &clock);
    cr_assert_eq(t.starts, 1, "the pause must not restart speech");
    int silence_from = clock;
    run(&v, 50, make_noise, DB_M60, 0, &t, &clock);
    cr_assert_eq(t.ends, 1);
    cr_assert_eq(t.first_end, silence_from + v.hangover - 1);
    cr_assert_eq(v.speech, 0);
}

Test(vad, floor_is_frozen_during_speech)
{
    struct tally t = TALLY_INIT;
    struct vad v;
    int clock = 0;
    double floor;

    vad_init(&v);
    run(&v, 50, make_noise, DB_M60, 0, &t, &clock);
    floor = v.noise_floor;
    run(&v, 100, make_tone, DB_M20, DB_M60, &t, &clock);
    run(&v, v.hangover - 1, make_noise, DB_M55, 0, &t, &clock);
    cr_assert_eq(v.speech, 1);
    cr_assert_float_eq(v.noise_floor, floor, 1e-9);
}

Test(vad, floor_adapts_to_louder_steady_noise)
{
    struct tally t = TALLY_INIT;
    struct vad v;
    int clock = 0, step;
    double e40 = DB_M40 * DB_M40;

    vad_init(&v);
    run(&v, 50, make_noise, DB_M60, 0, &t, &clock);
    step = clock;
    /* 20 dB more noise: it may look like speech for a while, but not for ever. */
    run(&v, 1500, make_noise, DB_M40, 0, &t, &clock);
    cr_assert_leq(t.starts, 1);
    cr_assert_eq(t.ends, t.starts);
    cr_assert_eq(v.speech, 0);
    cr_assert_lt(t.last_change - step, 300, "noise was speech for %d frames", t.last_change - step);
    cr_assert_gt(v.noise_floor, e40 / 2);
    cr_assert_lt(v.noise_floor, e40 * 2);
    /* Speech over the new background is still heard at once. */
    t = (struct tally)TALLY_INIT;
    run(&v, 10, make_tone, DB_M20, DB_M40, &t, &clock);
    cr_assert_eq(t.starts, 1);
    cr_assert_eq(t.first_start, clock - 10 + v.onset_needed - 1);
}

static double ramp_rms;

/* Noise whose level rises by a fixed factor per frame (2.5 dB/s). */
static void make_ramp(int16_t *f, double factor, double unused)
{
    ramp_rms *= factor;
    noise(f, ramp_rms);
}

Test(vad, floor_tracks_a_slow_rise_without_triggering)
{
    struct tally t = TALLY_INIT;
    struct vad v;
    int clock = 0;

    vad_init(&v);
    run(&v, 50, make_noise, DB_M60, 0, &t, &clock);
    ramp_rms = DB_M60;
    /* 25 dB over 10 s, then steady. */
    run(&v, 500, make_ramp, 1.00577, 0, &t, &clock);
    run(&v, 500, make_noise, ramp_rms, 0, &t, &clock);
    cr_assert_eq(t.starts, 0);
    cr_assert_gt(v.noise_floor, ramp_rms * ramp_rms / 2);
}

Test(vad, small_step_is_absorbed)
{
    struct tally t = TALLY_INIT;
    struct vad v;
    int clock = 0;

    vad_init(&v);
    /* Settle on the louder background first: the floor rises slowly by design. */
    run(&v, 300, make_noise, DB_M40, 0, &t, &clock);
    /* +5 dB is under the ratio of 4 (6 dB): never speech, and the floor follows. */
    run(&v, 500, make_noise, DB_M40 * 1.778, 0, &t, &clock);
    cr_assert_eq(t.starts, 0);
    cr_assert_gt(v.noise_floor, DB_M40 * DB_M40 * 2.5);
}
