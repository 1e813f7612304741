/* Tests for sim/audio: WAV in and out, resampling, speech synthesis. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "sim/audio.h"
#include "speech/tts.h"

static const double PI = 3.14159265358979323846;

/* A path in the temporary directory, unique to this test process. */
static void tmp_path(char *out, size_t size, const char *name)
{
    const char *dir = getenv("TMPDIR");

    snprintf(out, size, "%s/sb-audio-%ld-%s", dir && *dir ? dir : "/tmp", (long)getpid(), name);
}

static void make_tone(struct sim_audio *a, int rate, double hz, double seconds, double amp)
{
    size_t n = (size_t)(rate * seconds);

    sim_audio_init(a, rate);
    for (size_t i = 0; i < n; i++) {
        int16_t s = (int16_t)lrint(amp * sin(2 * PI * hz * (double)i / rate));

        cr_assert_eq(sim_audio_append(a, &s, 1), 0);
    }
}

/* Estimates a tone's frequency from its rising zero crossings. */
static double zero_crossing_hz(const struct sim_audio *a)
{
    size_t crossings = 0;

    for (size_t i = 1; i < a->len; i++) {
        if (a->samples[i - 1] < 0 && a->samples[i] >= 0)
            crossings++;
    }
    return (double)crossings * a->rate / (double)a->len;
}

static double rms(const struct sim_audio *a)
{
    double sum = 0;

    for (size_t i = 0; i < a->len; i++)
        sum += (double)a->samples[i] * a->samples[i];
    return a->len ? sqrt(sum / (double)a->len) : 0;
}

static void put_le(unsigned char *p, unsigned long v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)((v >> (8 * i)) & 0xFF);
}

/* A minimal WAV image: 44-byte header, `channels` x 16-bit (or 8-bit mu-law). */
static size_t wav_image(unsigned char *buf, unsigned format, unsigned channels, unsigned rate,
                        unsigned bits, const void *pcm, size_t pcm_bytes)
{
    memcpy(buf, "RIFF", 4);
    put_le(buf + 4, 36 + pcm_bytes, 4);
    memcpy(buf + 8, "WAVEfmt ", 8);
    put_le(buf + 16, 16, 4);
    put_le(buf + 20, format, 2);
    put_le(buf + 22, channels, 2);
    put_le(buf + 24, rate, 4);
    put_le(buf + 28, rate * channels * bits / 8, 4);
    put_le(buf + 32, channels * bits / 8, 2);
    put_le(buf + 34, bits, 2);
    memcpy(buf + 36, "data", 4);
    put_le(buf + 40, pcm_bytes, 4);
    memcpy(buf + 44, pcm, pcm_bytes);
    return 44 + pcm_bytes;
}

Test(audio, wav_round_trip)
{
    struct sim_audio tone, back;
    char path[256];
    char err[256] = "";

    tmp_path(path, sizeof(path), "rt.wav");
    make_tone(&tone, SIM_AUDIO_RATE, 440, 0.5, 8000);
    tone.samples[0] = -32768;
    tone.samples[1] = 32767;
    cr_assert_eq(sim_audio_write_wav(&tone, path), 0);
    cr_assert_eq(sim_audio_read_wav(&back, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(back.rate, SIM_AUDIO_RATE);
    cr_assert_eq(back.len, tone.len);
    cr_assert_eq(memcmp(back.samples, tone.samples, tone.len * 2), 0);
    unlink(path);
    sim_audio_release(&tone);
    sim_audio_release(&back);
}

Test(audio, written_header_is_16_bit_mono_8k)
{
    struct sim_audio a = SIM_AUDIO_INIT;
    unsigned char hdr[44];
    char path[256];
    int16_t s[3] = {1, -2, 3};
    FILE *fp;

    tmp_path(path, sizeof(path), "hdr.wav");
    sim_audio_init(&a, SIM_AUDIO_RATE);
    cr_assert_eq(sim_audio_append(&a, s, 3), 0);
    cr_assert_eq(sim_audio_write_wav(&a, path), 0);
    fp = fopen(path, "rb");
    cr_assert_not_null(fp);
    cr_assert_eq(fread(hdr, 1, 44, fp), 44);
    fclose(fp);
    unlink(path);
    cr_assert_eq(memcmp(hdr, "RIFF", 4), 0);
    cr_assert_eq(hdr[4], 36 + 6);
    cr_assert_eq(memcmp(hdr + 8, "WAVEfmt ", 8), 0);
    cr_assert_eq(hdr[20], 1); /* PCM */
    cr_assert_eq(hdr[22], 1); /* mono */
    cr_assert_eq(hdr[24] | (hdr[25] << 8), 8000);
    cr_assert_eq(hdr[34], 16);
    cr_assert_eq(memcmp(hdr + 36, "data", 4), 0);
    cr_assert_eq(hdr[40], 6);
    sim_audio_release(&a);
}

Test(audio, stereo_is_averaged_to_mono)
{
    int16_t pcm[6] = {100, 300, -1000, -3000, 32767, 32767};
    unsigned char img[64];
    size_t len = wav_image(img, 1, 2, 44100, 16, pcm, sizeof(pcm));
    struct sim_audio a;
    char err[128];

    cr_assert_eq(sim_audio_parse_wav(&a, img, len, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(a.rate, 44100);
    cr_assert_eq(a.len, 3);
    cr_assert_eq(a.samples[0], 200);
    cr_assert_eq(a.samples[1], -2000);
    cr_assert_eq(a.samples[2], 32767);
    sim_audio_release(&a);
}

Test(audio, mulaw_wav_is_decoded)
{
    unsigned char codes[3] = {0xFF, 0x80, 0x00};
    unsigned char img[64];
    size_t len = wav_image(img, 7, 1, 8000, 8, codes, sizeof(codes));
    struct sim_audio a;

    cr_assert_eq(sim_audio_parse_wav(&a, img, len, NULL, 0), 0);
    cr_assert_eq(a.len, 3);
    cr_assert_eq(a.samples[0], 0);
    cr_assert_eq(a.samples[1], 32124);
    cr_assert_eq(a.samples[2], -32124);
    sim_audio_release(&a);
}

Test(audio, bad_wav_files_are_refused_with_a_reason)
{
    int16_t pcm[2] = {0, 0};
    unsigned char img[64];
    struct sim_audio a;
    char err[128];
    size_t len;

    cr_assert_eq(sim_audio_parse_wav(&a, "hello", 5, err, sizeof(err)), SB_EPARSE);
    cr_assert(strstr(err, "not a WAV file"), "%s", err);

    len = wav_image(img, 1, 1, 8000, 24, pcm, sizeof(pcm));
    cr_assert_eq(sim_audio_parse_wav(&a, img, len, err, sizeof(err)), SB_EPARSE);
    cr_assert(strstr(err, "24 bits"), "%s", err);

    len = wav_image(img, 3, 1, 8000, 16, pcm, sizeof(pcm));
    cr_assert_eq(sim_audio_parse_wav(&a, img, len, err, sizeof(err)), SB_EPARSE);
    cr_assert(strstr(err, "encoding 3"), "%s", err);

    len = wav_image(img, 1, 1, 8000, 16, pcm, sizeof(pcm));
    memcpy(img + 36, "junk", 4);
    cr_assert_eq(sim_audio_parse_wav(&a, img, len, err, sizeof(err)), SB_EPARSE);
    cr_assert(strstr(err, "no data chunk"), "%s", err);
}

Test(audio, missing_file_names_the_file)
{
    struct sim_audio a;
    char err[256];

    cr_assert_eq(sim_audio_read_wav(&a, "/nonexistent/x.wav", err, sizeof(err)), SB_EIO);
    cr_assert(strstr(err, "/nonexistent/x.wav"), "%s", err);
}

Test(audio, streaming_data_size_is_clamped)
{
    int16_t pcm[4] = {1, 2, 3, 4};
    unsigned char img[64];
    size_t len = wav_image(img, 1, 1, 8000, 16, pcm, sizeof(pcm));
    struct sim_audio a;

    put_le(img + 40, 0xFFFFFFFFul, 4);
    cr_assert_eq(sim_audio_parse_wav(&a, img, len, NULL, 0), 0);
    cr_assert_eq(a.len, 4);
    cr_assert_eq(a.samples[3], 4);
    sim_audio_release(&a);
}

Test(audio, resample_16k_to_8k_keeps_length_and_pitch)
{
    struct sim_audio a;

    make_tone(&a, 16000, 440, 1.0, 10000);
    cr_assert_eq(sim_audio_resample(&a, SIM_AUDIO_RATE), 0);
    cr_assert_eq(a.rate, SIM_AUDIO_RATE);
    cr_assert(a.len >= 7990 && a.len <= 8010, "len %zu", a.len);
    cr_assert(fabs(zero_crossing_hz(&a) - 440) < 5, "%.1f Hz", zero_crossing_hz(&a));
    cr_assert(rms(&a) > 6000, "rms %.0f", rms(&a));
    sim_audio_release(&a);
}

Test(audio, resample_8k_to_22050_and_back)
{
    struct sim_audio a;

    make_tone(&a, SIM_AUDIO_RATE, 300, 0.5, 10000);
    cr_assert_eq(sim_audio_resample(&a, 22050), 0);
    cr_assert(a.len >= 11000 && a.len <= 11050, "len %zu", a.len);
    cr_assert(fabs(zero_crossing_hz(&a) - 300) < 5, "%.1f Hz", zero_crossing_hz(&a));
    cr_assert_eq(sim_audio_resample(&a, SIM_AUDIO_RATE), 0);
    cr_assert(a.len >= 3990 && a.len <= 4010, "len %zu", a.len);
    sim_audio_release(&a);
}

Test(audio, resample_rejects_silly_rates)
{
    struct sim_audio a;

    make_tone(&a, SIM_AUDIO_RATE, 300, 0.01, 100);
    cr_assert_eq(sim_audio_resample(&a, 0), SB_EINVAL);
    cr_assert_eq(a.rate, SIM_AUDIO_RATE);
    sim_audio_release(&a);
}

Test(audio, tts_hello_world)
{
    struct sim_audio a;
    char err[256] = "";
    double seconds;

    cr_assert_eq(sim_audio_tts(&a, "hello world", "en-US", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(a.rate, SIM_AUDIO_RATE);
    seconds = (double)a.len / a.rate;
    cr_assert(seconds > 0.4 && seconds < 3.0, "%.2f s", seconds);
    cr_assert(rms(&a) > 300, "rms %.0f", rms(&a));
    sim_audio_release(&a);
}

/* `text` through one engine, straight from the speech layer, at the sim's rate. */
static int engine_says(struct sim_audio *a, const struct tts *t, const char *text, const char *lang)
{
    int16_t *pcm = NULL;
    size_t n = 0;
    int rate = 0;
    int rc = tts_synth(t, text, lang, NULL, &pcm, &n, &rate, NULL, 0);

    sim_audio_init(a, rate);
    if (rc)
        return rc;
    a->samples = pcm;
    a->len = n;
    a->cap = n;
    return sim_audio_resample(a, SIM_AUDIO_RATE);
}

static int same_audio(const struct sim_audio *x, const struct sim_audio *y)
{
    return x->rate == y->rate && x->len == y->len &&
           (x->len == 0 || memcmp(x->samples, y->samples, x->len * sizeof(int16_t)) == 0);
}

/* English is flite's kal voice, sample for sample (8 kHz: nothing to resample), not espeak-ng's. */
Test(audio, tts_english_is_flite)
{
    static const char *const tags[] = {"en-US", "en", "EN_gb", NULL, ""};
    const char *text = "I would like to speak to a person, please";
    struct tts flite = {&tts_flite_ops, NULL};
    struct tts espeak = TTS_INIT;
    struct sim_audio want, other, got;
    char err[256] = "";

    cr_assert_eq(engine_says(&want, &flite, text, "en-US"), 0);
    cr_assert_eq(want.rate, SIM_AUDIO_RATE);
    cr_assert(want.len > SIM_AUDIO_RATE / 2, "%zu samples", want.len);
    cr_assert(rms(&want) > 300, "rms %.0f", rms(&want));
    cr_assert_eq(tts_espeak_init(&espeak, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(engine_says(&other, &espeak, text, "en-US"), 0);
    cr_assert_not(same_audio(&want, &other), "flite and espeak-ng rendered the same audio");

    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        cr_assert_eq(sim_audio_tts(&got, text, tags[i], err, sizeof(err)), 0, "%s: %s",
                     tags[i] ? tags[i] : "NULL", err);
        cr_assert(same_audio(&got, &want), "%s: %zu samples at %d Hz, flite made %zu",
                  tags[i] ? tags[i] : "NULL", got.len, got.rate, want.len);
        sim_audio_release(&got);
    }
    sim_audio_release(&want);
    sim_audio_release(&other);
    tts_release(&espeak);
}

/* Text flite renders as nothing is still accepted, as espeak-ng's (near) silence. */
Test(audio, tts_english_without_words)
{
    struct sim_audio a;
    char err[256] = "";

    cr_assert_eq(sim_audio_tts(&a, "...", "en-US", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(a.rate, SIM_AUDIO_RATE);
    cr_assert(a.len < SIM_AUDIO_RATE / 10, "%zu samples", a.len);
    sim_audio_release(&a);
}

/* Spanish stays with espeak-ng (flite refuses it), accents and inverted marks included. */
Test(audio, tts_spanish_is_espeak)
{
    const char *text = "¿Cuál es el precio?";
    struct tts flite = {&tts_flite_ops, NULL};
    struct sim_audio a;
    char err[256] = "";
    double seconds;

    cr_assert_eq(engine_says(&a, &flite, text, "es"), SB_EINVAL);
    for (int i = 0; i < 2; i++) {
        const char *tag = i ? "es-MX" : "es";

        cr_assert_eq(sim_audio_tts(&a, text, tag, err, sizeof(err)), 0, "%s: %s", tag, err);
        cr_assert_eq(a.rate, SIM_AUDIO_RATE);
        seconds = (double)a.len / a.rate;
        cr_assert(seconds > 0.5 && seconds < 4.0, "%s: %.2f s", tag, seconds);
        cr_assert(rms(&a) > 300, "%s: rms %.0f", tag, rms(&a));
        sim_audio_release(&a);
    }
}

Test(audio, tts_spanish)
{
    struct sim_audio a;
    char err[256] = "";

    cr_assert_eq(sim_audio_tts(&a, "hola, buenos días", "es", err, sizeof(err)), 0, "%s", err);
    cr_assert(a.len > SIM_AUDIO_RATE / 2);
    cr_assert(rms(&a) > 300);
    sim_audio_release(&a);
}

Test(audio, tts_refuses_empty_text_and_unknown_language)
{
    struct sim_audio a;
    char err[256] = "";

    cr_assert_eq(sim_audio_tts(&a, "", "en", err, sizeof(err)), SB_EINVAL);
    cr_assert_eq(sim_audio_tts(&a, "hi", "zz-qq", err, sizeof(err)), SB_EINVAL);
    cr_assert(strstr(err, "zz-qq"), "%s", err);
}
