/* Tests for speech/resample: lengths scale with the rate, pitch is kept. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "speech/resample.h"

static const double PI = 3.14159265358979323846;

/* A sine tone of `seconds` at `rate` Hz; the caller frees it. */
static int16_t *tone(int rate, double hz, double seconds, double amp, size_t *n)
{
    int16_t *s;

    *n = (size_t)(rate * seconds);
    s = malloc(*n * sizeof(*s));
    cr_assert_not_null(s);
    for (size_t i = 0; i < *n; i++)
        s[i] = (int16_t)lrint(amp * sin(2 * PI * hz * (double)i / rate));
    return s;
}

/* Estimates a tone's frequency from its rising zero crossings. */
static double zero_crossing_hz(const int16_t *s, size_t n, int rate)
{
    size_t crossings = 0;

    for (size_t i = 1; i < n; i++) {
        if (s[i - 1] < 0 && s[i] >= 0)
            crossings++;
    }
    return n ? (double)crossings * rate / (double)n : 0;
}

static double rms(const int16_t *s, size_t n)
{
    double sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += (double)s[i] * s[i];
    return n ? sqrt(sum / (double)n) : 0;
}

/* Resamples one second of a tone and checks length, pitch and level. */
static void check_tone(int from, int to, double hz)
{
    size_t n;
    size_t outn = 0;
    int16_t *in = tone(from, hz, 1.0, 10000, &n);
    int16_t *out = NULL;
    double got;

    cr_assert_eq(speech_resample(in, n, from, to, &out, &outn), 0, "%d -> %d", from, to);
    cr_assert_not_null(out);
    /* The length follows the ratio to within a few samples of filter rounding. */
    cr_assert(labs((long)outn - (long)to) <= 8, "%d -> %d: %zu samples", from, to, outn);
    got = zero_crossing_hz(out, outn, to);
    cr_assert(fabs(got - hz) < 3, "%d -> %d: %.1f Hz, want %.0f", from, to, got, hz);
    /* A sine of amplitude 10000 has an RMS of about 7071. */
    cr_assert(rms(out, outn) > 6500, "%d -> %d: rms %.0f", from, to, rms(out, outn));
    free(in);
    free(out);
}

Test(resample, downsampling_keeps_pitch_and_scales_length)
{
    check_tone(22050, 8000, 440);
    check_tone(16000, 8000, 1000);
    check_tone(44100, 8000, 300);
    check_tone(48000, 8000, 2500);
}

Test(resample, upsampling_keeps_pitch_and_scales_length)
{
    check_tone(8000, 16000, 440);
    check_tone(8000, 22050, 300);
    check_tone(8000, 48000, 1000);
}

Test(resample, length_ratio_holds_for_odd_lengths)
{
    size_t n;
    size_t outn;
    int16_t *in = tone(22050, 200, 0.37, 5000, &n);
    int16_t *out = NULL;
    double want = (double)n * 8000 / 22050;

    cr_assert_eq(speech_resample(in, n, 22050, 8000, &out, &outn), 0);
    cr_assert(fabs((double)outn - want) <= 2, "%zu samples, want %.1f", outn, want);
    free(out);
    free(in);
}

Test(resample, round_trip_keeps_length)
{
    size_t n;
    size_t upn;
    size_t backn;
    int16_t *in = tone(8000, 300, 0.5, 10000, &n);
    int16_t *up = NULL;
    int16_t *back = NULL;

    cr_assert_eq(speech_resample(in, n, 8000, 22050, &up, &upn), 0);
    cr_assert_eq(speech_resample(up, upn, 22050, 8000, &back, &backn), 0);
    cr_assert(labs((long)backn - (long)n) <= 4, "%zu samples, want %zu", backn, n);
    cr_assert(fabs(zero_crossing_hz(back, backn, 8000) - 300) < 5);
    free(in);
    free(up);
    free(back);
}

Test(resample, same_rate_is_a_copy_the_caller_owns)
{
    size_t n;
    size_t outn;
    int16_t *in = tone(8000, 300, 0.1, 1000, &n);
    int16_t *out = NULL;

    cr_assert_eq(speech_resample(in, n, 8000, 8000, &out, &outn), 0);
    cr_assert_eq(outn, n);
    cr_assert_neq(out, in);
    cr_assert_eq(memcmp(out, in, n * sizeof(*in)), 0);
    free(in);
    free(out);
}

Test(resample, empty_input_gives_empty_output)
{
    int16_t *out = (int16_t *)1;
    size_t outn = 7;

    cr_assert_eq(speech_resample(NULL, 0, 22050, 8000, &out, &outn), 0);
    cr_assert_null(out);
    cr_assert_eq(outn, 0);
}

Test(resample, refuses_bad_rates_and_missing_input)
{
    int16_t s[4] = {1, 2, 3, 4};
    int16_t *out = (int16_t *)1;
    size_t outn = 7;

    cr_assert_eq(speech_resample(s, 4, 0, 8000, &out, &outn), SB_EINVAL);
    cr_assert_null(out);
    cr_assert_eq(outn, 0);
    cr_assert_eq(speech_resample(s, 4, 8000, 999, &out, &outn), SB_EINVAL);
    cr_assert_eq(speech_resample(s, 4, 8000, 192001, &out, &outn), SB_EINVAL);
    cr_assert_eq(speech_resample(NULL, 4, 8000, 16000, &out, &outn), SB_EINVAL);
    cr_assert_null(out);
}

Test(resample, refuses_results_over_the_maximum)
{
    int16_t s[4] = {0};
    int16_t *out = NULL;
    size_t outn = 0;
    /* Never read: the size check comes before any work. */
    size_t huge = SPEECH_RESAMPLE_MAX_SAMPLES / 2;

    cr_assert_eq(speech_resample(s, huge, 8000, 48000, &out, &outn), SB_ETOOBIG);
    cr_assert_null(out);
}
