/*
 * Tests for speech/tts and its espeak-ng engine: phone-ready µ-law of a
 * plausible length, the language mapping, errors with reasons, engines
 * plugged in through the table, and synthesis from several threads at once.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/phone.h"
#include "core/mulaw.h"
#include "speech/tts.h"

static const double PI = 3.14159265358979323846;

static double mulaw_rms(const unsigned char *b, size_t n)
{
    double sum = 0;

    for (size_t i = 0; i < n; i++) {
        double s = mulaw_decode(b[i]);

        sum += s * s;
    }
    return n ? sqrt(sum / (double)n) : 0;
}

static void espeak(struct tts *t)
{
    char err[256] = "";

    cr_assert_eq(tts_espeak_init(t, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(t->ops, &tts_espeak_ops);
}

/* Speaks `text` and checks it is audible 8 kHz µ-law of 0.5 to 3 seconds. */
static void check_phrase(const char *text, const char *lang, const char *voice)
{
    struct tts t = TTS_INIT;
    unsigned char *out = NULL;
    size_t len = 0;
    char err[256] = "";
    double seconds;
    size_t loud = 0;

    espeak(&t);
    cr_assert_eq(tts_synth_mulaw(&t, text, lang, voice, &out, &len, err, sizeof(err)), 0, "%s: %s",
                 text, err);
    cr_assert_not_null(out);
    seconds = (double)len / PHONE_RATE;
    cr_assert(seconds >= 0.5 && seconds <= 3.0, "%s: %.2f s", text, seconds);
    cr_assert(mulaw_rms(out, len) > 300, "%s: rms %.0f", text, mulaw_rms(out, len));
    /* Speech, not a click: a good share of the samples are well above silence. */
    for (size_t i = 0; i < len; i++)
        loud += abs(mulaw_decode(out[i])) > 500;
    cr_assert(loud > len / 10, "%s: %zu of %zu samples loud", text, loud, len);
    free(out);
    tts_release(&t);
}

Test(tts, hello_world_in_american_english)
{
    check_phrase("hello world", "en-US", NULL);
}

Test(tts, hola_mundo_in_spanish)
{
    check_phrase("hola mundo", "es", NULL);
}

Test(tts, hola_mundo_in_mexican_spanish)
{
    check_phrase("hola mundo", "es-MX", "Polly.Mia");
}

/* espeak-ng's output varies by a few samples between calls, so lengths are compared loosely. */
static int about(size_t got, size_t want)
{
    return got * 10 >= want * 9 && got * 10 <= want * 11;
}

Test(tts, twilio_voice_names_are_ignored)
{
    struct tts t = TTS_INIT;
    unsigned char *plain = NULL;
    unsigned char *polly = NULL;
    size_t plain_len = 0;
    size_t polly_len = 0;

    espeak(&t);
    cr_assert_eq(tts_synth_mulaw(&t, "thank you", "en-US", NULL, &plain, &plain_len, NULL, 0), 0);
    cr_assert_eq(
        tts_synth_mulaw(&t, "thank you", "en-US", "Polly.Joanna", &polly, &polly_len, NULL, 0), 0);
    cr_assert(about(polly_len, plain_len), "%zu vs %zu bytes", polly_len, plain_len);
    free(plain);
    free(polly);
    tts_release(&t);
}

Test(tts, longer_text_gives_longer_audio)
{
    struct tts t = TTS_INIT;
    unsigned char *short_out = NULL;
    unsigned char *long_out = NULL;
    size_t short_len = 0;
    size_t long_len = 0;

    espeak(&t);
    cr_assert_eq(tts_synth_mulaw(&t, "hello", "en-US", NULL, &short_out, &short_len, NULL, 0), 0);
    cr_assert_eq(tts_synth_mulaw(&t,
                                 "hello, thank you for calling. please say the name of the "
                                 "person you would like to reach.",
                                 "en-US", NULL, &long_out, &long_len, NULL, 0),
                 0);
    cr_assert(long_len > 3 * short_len, "%zu vs %zu bytes", long_len, short_len);
    free(short_out);
    free(long_out);
    tts_release(&t);
}

Test(tts, pcm_comes_at_the_engine_rate)
{
    struct tts t = TTS_INIT;
    int16_t *pcm = NULL;
    size_t n = 0;
    int rate = 0;

    espeak(&t);
    cr_assert_eq(tts_synth(&t, "hello world", "en", NULL, &pcm, &n, &rate, NULL, 0), 0);
    cr_assert(rate >= 8000, "%d Hz", rate);
    cr_assert(n > (size_t)rate / 2 && n < (size_t)rate * 3, "%zu samples at %d Hz", n, rate);
    free(pcm);
    tts_release(&t);
}

/* Empty text is an error for every engine, not empty audio. */
Test(tts, empty_text_is_refused_with_a_reason)
{
    struct tts t = TTS_INIT;
    unsigned char *out = (unsigned char *)1;
    size_t len = 5;
    char err[256] = "";

    espeak(&t);
    cr_assert_eq(tts_synth_mulaw(&t, "", "en-US", NULL, &out, &len, err, sizeof(err)), SB_EINVAL);
    cr_assert_null(out);
    cr_assert_eq(len, 0);
    cr_assert(strstr(err, "empty"), "%s", err);
    cr_assert_eq(tts_synth_mulaw(&t, NULL, "en-US", NULL, &out, &len, err, sizeof(err)), SB_EINVAL);
    tts_release(&t);
}

Test(tts, unknown_language_is_refused_with_its_name)
{
    struct tts t = TTS_INIT;
    unsigned char *out = NULL;
    size_t len = 0;
    char err[256] = "";

    espeak(&t);
    cr_assert_eq(tts_synth_mulaw(&t, "hi", "zz-QQ", NULL, &out, &len, err, sizeof(err)), SB_EINVAL);
    cr_assert_null(out);
    cr_assert(strstr(err, "no voice") && strstr(err, "'zz-QQ'"), "%s", err);
    cr_assert_eq(err[0], 'e', "lower-case reason: %s", err);
    tts_release(&t);
}

Test(tts, an_empty_tts_is_refused)
{
    struct tts t = TTS_INIT;
    unsigned char *out = NULL;
    size_t len = 0;
    char err[256] = "";

    cr_assert_eq(tts_synth_mulaw(&t, "hi", "en-US", NULL, &out, &len, err, sizeof(err)), SB_EINVAL);
    cr_assert(strstr(err, "not set up"), "%s", err);
    tts_release(&t);
    tts_release(NULL);
}

static void check_language(const char *tag, const char *want)
{
    char got[32] = "";

    cr_assert_eq(tts_espeak_language(tag, got, sizeof(got)), 0, "%s", tag ? tag : "(null)");
    cr_assert_str_eq(got, want, "%s", tag ? tag : "(null)");
}

Test(tts, languages_map_to_espeak_voices)
{
    char small[4];

    check_language("en-US", "en-us");
    check_language("en", "en-us");
    check_language("EN_us", "en-us");
    check_language(NULL, "en-us");
    check_language("", "en-us");
    check_language("es", "es");
    check_language("es-ES", "es");
    check_language("es-MX", "es-419");
    check_language("es-US", "es-419");
    check_language("pt-BR", "pt-br");
    check_language("de-DE", "de");
    check_language("en-AU", "en-us");
    check_language("EN-us", "en-us");
    check_language("es_MX", "es-419");
    check_language("es_419", "es-419");
    check_language("ES-es", "es");
    check_language("es_XX", "es-419");
    check_language("PT_br", "pt-br");
    check_language("fr_CA", "fr");
    cr_assert_eq(tts_espeak_language("zz-qq", small, sizeof(small)), SB_EINVAL);
    cr_assert_eq(tts_espeak_language("-us", small, sizeof(small)), SB_EINVAL);
    cr_assert_eq(tts_espeak_language("es-MX", small, sizeof(small)), SB_ETOOBIG);
}

/* An engine of our own, to show the table is all that tts_synth_mulaw needs. */
struct fake {
    int rate;
    double hz;
    int fail;
    int released;
};

static int fake_synth(void *engine, const char *text, const char *lang, const char *voice,
                      int16_t **pcm, size_t *n, int *rate, char *err, size_t errsize)
{
    struct fake *f = engine;
    size_t len = (size_t)f->rate; /* one second, whatever the text */
    int16_t *s;

    if (f->fail)
        return f->fail;
    s = malloc(len * sizeof(*s));
    if (!s)
        return SB_ENOMEM;
    for (size_t i = 0; i < len; i++)
        s[i] = (int16_t)lrint(8000 * sin(2 * PI * f->hz * (double)i / f->rate));
    *pcm = s;
    *n = len;
    *rate = f->rate;
    return 0;
}

static void fake_release(void *engine)
{
    struct fake *f = engine;

    f->released++;
}

static const struct tts_ops fake_ops = {
    .name = "fake",
    .synth = fake_synth,
    .release = fake_release,
};

Test(tts, any_engine_is_resampled_to_8k_with_its_pitch)
{
    struct fake f = {44100, 440, 0, 0};
    struct tts t = {&fake_ops, &f};
    unsigned char *out = NULL;
    size_t len = 0;
    size_t crossings = 0;

    cr_assert_eq(tts_synth_mulaw(&t, "anything", NULL, NULL, &out, &len, NULL, 0), 0);
    cr_assert(len >= PHONE_RATE - 8 && len <= PHONE_RATE + 8, "%zu bytes", len);
    for (size_t i = 1; i < len; i++) {
        if (mulaw_decode(out[i - 1]) < 0 && mulaw_decode(out[i]) >= 0)
            crossings++;
    }
    cr_assert(crossings >= 437 && crossings <= 443, "%zu crossings", crossings);
    free(out);
    tts_release(&t);
    cr_assert_eq(f.released, 1);
    cr_assert_null(t.ops);
}

Test(tts, engine_failures_keep_a_reason)
{
    struct fake f = {16000, 440, SB_EIO, 0};
    struct tts t = {&fake_ops, &f};
    unsigned char *out = NULL;
    size_t len = 0;
    char err[256] = "";

    cr_assert_eq(tts_synth_mulaw(&t, "anything", NULL, NULL, &out, &len, err, sizeof(err)), SB_EIO);
    cr_assert_str_eq(err, "fake failed: input/output error");
    f.fail = 0;
    f.rate = 12;
    cr_assert_eq(tts_synth_mulaw(&t, "anything", NULL, NULL, &out, &len, err, sizeof(err)), SB_EIO);
    cr_assert(strstr(err, "unusable audio"), "%s", err);
    cr_assert_null(out);
}

/*
 * Several threads speak at once, switching voices between them; each must
 * get what it gets alone: whole, audible, not mixed with another's speech.
 */
#define THREADS 4
#define ROUNDS 5

struct phrase {
    const char *text;
    const char *lang;
    unsigned char *want;
    size_t want_len;
};

static struct phrase phrases[THREADS] = {
    {"hello world", "en-US", NULL, 0},
    {"hola mundo", "es", NULL, 0},
    {"please hold while we connect you", "en-US", NULL, 0},
    {"gracias por llamar", "es-MX", NULL, 0},
};

static struct tts shared = TTS_INIT;

static void *speak_thread(void *arg)
{
    struct phrase *p = arg;
    long bad = 0;

    for (int r = 0; r < ROUNDS; r++) {
        unsigned char *out = NULL;
        size_t len = 0;

        if (tts_synth_mulaw(&shared, p->text, p->lang, NULL, &out, &len, NULL, 0) != 0 ||
            !about(len, p->want_len) || mulaw_rms(out, len) < 300)
            bad++;
        free(out);
    }
    return (void *)bad;
}

Test(tts, threads_synthesise_at_once)
{
    pthread_t th[THREADS];

    espeak(&shared);
    for (int i = 0; i < THREADS; i++) {
        cr_assert_eq(tts_synth_mulaw(&shared, phrases[i].text, phrases[i].lang, NULL,
                                     &phrases[i].want, &phrases[i].want_len, NULL, 0),
                     0);
        cr_assert(phrases[i].want_len > PHONE_RATE / 2);
    }
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, speak_thread, &phrases[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        void *bad = NULL;

        pthread_join(th[i], &bad);
        cr_assert_eq((long)bad, 0, "thread %d: %ld of %d rounds differ", i, (long)bad, ROUNDS);
    }
    for (int i = 0; i < THREADS; i++)
        free(phrases[i].want);
    tts_release(&shared);
}

Test(tts_lead_in, quiet_before_the_first_sound_goes_but_20_ms)
{
    int16_t pcm[4000] = {0};

    cr_assert_eq(speech_lead_in(pcm, 4000), 0, "all quiet: nothing to skip");
    pcm[2000] = 5000;
    cr_assert_eq(speech_lead_in(pcm, 4000), 2000 - TTS_LEAD_IN_KEEP);
    pcm[100] = -400;
    cr_assert_eq(speech_lead_in(pcm, 4000), 0, "sound within the first 20 ms");
    pcm[100] = 200; /* below the sound level */
    cr_assert_eq(speech_lead_in(pcm, 4000), 2000 - TTS_LEAD_IN_KEEP);
}

Test(tts_lead_in, a_reply_reaches_the_phone_from_its_first_sound)
{
    struct tts t = {&tts_offline_ops, NULL};
    unsigned char *mulaw = NULL;
    size_t len = 0, first = 0;
    char err[128] = "";

    cr_assert_eq(tts_synth_mulaw(&t, "Hello! How can I help you today?", "en-US", NULL, &mulaw,
                                 &len, err, sizeof(err)),
                 0, "%s", err);
    while (first < len && abs(mulaw_decode(mulaw[first])) < TTS_SOUND_LEVEL)
        first++;
    cr_assert_lt(first, len);
    cr_assert_leq(first, TTS_LEAD_IN_KEEP, "%zu quiet samples lead the reply in", first);
    free(mulaw);
}
