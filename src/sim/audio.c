#include "sim/audio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/lang.h"
#include "core/mulaw.h"
#include "speech/resample.h"
#include "speech/tts.h"
#include "core/banned.h"

#define MAX_SAMPLES ((size_t)SIM_AUDIO_MAX_SECONDS * 48000u)
#define WAVE_FORMAT_PCM 0x0001
#define WAVE_FORMAT_MULAW 0x0007
#define WAVE_FORMAT_EXTENSIBLE 0xFFFE
#define MAX_CHANNELS 8

void sim_audio_init(struct sim_audio *a, int rate)
{
    a->samples = NULL;
    a->len = 0;
    a->cap = 0;
    a->rate = rate;
}

void sim_audio_release(struct sim_audio *a)
{
    free(a->samples);
    a->samples = NULL;
    a->len = 0;
    a->cap = 0;
}

static int reserve(struct sim_audio *a, size_t extra)
{
    size_t want;
    size_t cap;
    int16_t *p;

    if (extra > MAX_SAMPLES || a->len > MAX_SAMPLES - extra)
        return SB_ETOOBIG;
    want = a->len + extra;
    if (want <= a->cap)
        return 0;
    cap = a->cap ? a->cap : 4096;
    while (cap < want)
        cap = cap > MAX_SAMPLES / 2 ? MAX_SAMPLES : cap * 2;
    p = realloc(a->samples, cap * sizeof(*p));
    if (!p)
        return SB_ENOMEM;
    a->samples = p;
    a->cap = cap;
    return 0;
}

int sim_audio_append(struct sim_audio *a, const int16_t *samples, size_t n)
{
    int rc;

    if (!n)
        return 0;
    rc = reserve(a, n);
    if (rc)
        return rc;
    memcpy(a->samples + a->len, samples, n * sizeof(*samples));
    a->len += n;
    return 0;
}

static unsigned le16(const unsigned char *p)
{
    return (unsigned)p[0] | ((unsigned)p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

struct wav_fmt {
    unsigned format;
    unsigned channels;
    uint32_t rate;
    unsigned block_align;
    unsigned bits;
};

static int parse_fmt(struct wav_fmt *f, const unsigned char *p, uint32_t size, char *err,
                     size_t errsize)
{
    if (size < 16) {
        sb_set_error(err, errsize, "fmt chunk is %u bytes, shorter than 16", (unsigned)size);
        return SB_EPARSE;
    }
    f->format = le16(p);
    f->channels = le16(p + 2);
    f->rate = le32(p + 4);
    f->block_align = le16(p + 12);
    f->bits = le16(p + 14);
    /* WAVE_FORMAT_EXTENSIBLE keeps the real format in its sub-format GUID. */
    if (f->format == WAVE_FORMAT_EXTENSIBLE) {
        if (size < 40) {
            sb_set_error(err, errsize, "extensible fmt chunk is %u bytes, shorter than 40",
                         (unsigned)size);
            return SB_EPARSE;
        }
        f->format = le16(p + 24);
    }
    if (f->format != WAVE_FORMAT_PCM && f->format != WAVE_FORMAT_MULAW) {
        sb_set_error(err, errsize, "unsupported WAV encoding %u (want PCM or mu-law)", f->format);
        return SB_EPARSE;
    }
    if ((f->format == WAVE_FORMAT_PCM && f->bits != 16) ||
        (f->format == WAVE_FORMAT_MULAW && f->bits != 8)) {
        sb_set_error(err, errsize,
                     "unsupported sample size of %u bits (want 16-bit PCM or 8-bit mu-law)",
                     f->bits);
        return SB_EPARSE;
    }
    if (f->channels < 1 || f->channels > MAX_CHANNELS) {
        sb_set_error(err, errsize, "unsupported channel count %u (want 1 to %d)", f->channels,
                     MAX_CHANNELS);
        return SB_EPARSE;
    }
    if (f->rate < 1000 || f->rate > 192000) {
        sb_set_error(err, errsize, "unsupported sample rate %u Hz", (unsigned)f->rate);
        return SB_EPARSE;
    }
    if (f->block_align != f->channels * (f->bits / 8)) {
        sb_set_error(err, errsize, "block align %u does not match %u channels of %u bits",
                     f->block_align, f->channels, f->bits);
        return SB_EPARSE;
    }
    return 0;
}

static int16_t frame_sample(const struct wav_fmt *f, const unsigned char *p, unsigned ch)
{
    if (f->format == WAVE_FORMAT_MULAW)
        return mulaw_decode(p[ch]);
    return (int16_t)le16(p + 2 * ch);
}

int sim_audio_parse_wav(struct sim_audio *a, const void *data, size_t len, char *err,
                        size_t errsize)
{
    const unsigned char *p = data;
    const unsigned char *fmt_chunk = NULL;
    const unsigned char *pcm = NULL;
    uint32_t fmt_size = 0;
    size_t pcm_size = 0;
    size_t pos = 12;
    size_t frames;
    struct wav_fmt f;
    int rc;

    sim_audio_init(a, 0);
    if (!p || len < 12 || memcmp(p, "RIFF", 4) != 0 || memcmp(p + 8, "WAVE", 4) != 0) {
        sb_set_error(err, errsize, "not a WAV file (no RIFF/WAVE header)");
        return SB_EPARSE;
    }
    /* Walk the chunks; each is padded to an even size. */
    while (pos + 8 <= len && !pcm) {
        uint32_t size = le32(p + pos + 4);
        const unsigned char *body = p + pos + 8;
        size_t avail = len - pos - 8;

        if (memcmp(p + pos, "fmt ", 4) == 0) {
            if (size > avail) {
                sb_set_error(err, errsize, "fmt chunk is cut short");
                return SB_EPARSE;
            }
            fmt_chunk = body;
            fmt_size = size;
        } else if (memcmp(p + pos, "data", 4) == 0) {
            /* Streaming writers leave the size at 0 or 0xFFFFFFFF: take what is there. */
            pcm = body;
            pcm_size = (size == 0 || size > avail) ? avail : size;
            break;
        }
        if (size > avail)
            break;
        pos += 8 + (size_t)size + (size & 1);
    }
    if (!fmt_chunk) {
        sb_set_error(err, errsize, "WAV file has no fmt chunk before its data");
        return SB_EPARSE;
    }
    if (!pcm) {
        sb_set_error(err, errsize, "WAV file has no data chunk");
        return SB_EPARSE;
    }
    rc = parse_fmt(&f, fmt_chunk, fmt_size, err, errsize);
    if (rc)
        return rc;
    frames = pcm_size / f.block_align;
    a->rate = (int)f.rate;
    rc = reserve(a, frames);
    if (rc) {
        sb_set_error(err, errsize, "WAV file is too long");
        return rc;
    }
    for (size_t i = 0; i < frames; i++) {
        const unsigned char *fr = pcm + i * f.block_align;
        long sum = 0;

        for (unsigned ch = 0; ch < f.channels; ch++)
            sum += frame_sample(&f, fr, ch);
        a->samples[i] = (int16_t)(sum / (long)f.channels);
    }
    a->len = frames;
    return 0;
}

int sim_audio_read_wav(struct sim_audio *a, const char *path, char *err, size_t errsize)
{
    FILE *fp = NULL;
    unsigned char *data = NULL;
    size_t len = 0;
    size_t cap = 0;
    int rc = 0;

    sim_audio_init(a, 0);
    fp = fopen(path, "rb");
    if (!fp) {
        char why[128];

        sb_set_error(err, errsize, "cannot open '%s': %s", path,
                     strerror_r(errno, why, sizeof(why)));
        rc = SB_EIO;
        goto out;
    }
    for (;;) {
        size_t n;

        if (len == cap) {
            unsigned char *grown;

            if (cap > SIM_AUDIO_MAX_FILE) {
                sb_set_error(err, errsize, "'%s' is larger than %u bytes", path,
                             (unsigned)SIM_AUDIO_MAX_FILE);
                rc = SB_ETOOBIG;
                goto out;
            }
            cap = cap ? cap * 2 : 65536;
            grown = realloc(data, cap + 1);
            if (!grown) {
                rc = SB_ENOMEM;
                goto out;
            }
            data = grown;
        }
        n = fread(data + len, 1, cap - len, fp);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(fp)) {
        sb_set_error(err, errsize, "cannot read '%s'", path);
        rc = SB_EIO;
        goto out;
    }
    if (len > SIM_AUDIO_MAX_FILE) {
        sb_set_error(err, errsize, "'%s' is larger than %u bytes", path,
                     (unsigned)SIM_AUDIO_MAX_FILE);
        rc = SB_ETOOBIG;
        goto out;
    }
    rc = sim_audio_parse_wav(a, data, len, err, errsize);
    if (rc && err && errsize) {
        char reason[200];

        snprintf(reason, sizeof(reason), "%s", err);
        sb_set_error(err, errsize, "'%s': %s", path, reason);
    }
out:
    if (fp)
        fclose(fp);
    free(data);
    return rc;
}

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v & 0xFF);
    p[1] = (unsigned char)((v >> 8) & 0xFF);
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, v & 0xFFFF);
    put16(p + 2, (v >> 16) & 0xFFFF);
}

int sim_audio_write_wav(const struct sim_audio *a, const char *path)
{
    unsigned char hdr[44];
    unsigned char block[4096];
    FILE *fp = NULL;
    size_t done = 0;
    uint32_t bytes;
    int rc = 0;

    if (!a || !path || a->rate <= 0 || a->len > (0xFFFFFFFFu - 36) / 2)
        return SB_EINVAL;
    bytes = (uint32_t)(a->len * 2);
    memcpy(hdr, "RIFF", 4);
    put32(hdr + 4, 36 + bytes);
    memcpy(hdr + 8, "WAVEfmt ", 8);
    put32(hdr + 16, 16);
    put16(hdr + 20, WAVE_FORMAT_PCM);
    put16(hdr + 22, 1);
    put32(hdr + 24, (uint32_t)a->rate);
    put32(hdr + 28, (uint32_t)a->rate * 2);
    put16(hdr + 32, 2);
    put16(hdr + 34, 16);
    memcpy(hdr + 36, "data", 4);
    put32(hdr + 40, bytes);

    fp = fopen(path, "wb");
    if (!fp)
        return SB_EIO;
    if (fwrite(hdr, 1, sizeof(hdr), fp) != sizeof(hdr)) {
        rc = SB_EIO;
        goto out;
    }
    /* Little-endian on disk whatever the host order. */
    while (done < a->len) {
        size_t n = a->len - done;

        if (n > sizeof(block) / 2)
            n = sizeof(block) / 2;
        for (size_t i = 0; i < n; i++)
            put16(block + 2 * i, (uint16_t)a->samples[done + i]);
        if (fwrite(block, 2, n, fp) != n) {
            rc = SB_EIO;
            goto out;
        }
        done += n;
    }
out:
    if (fclose(fp) != 0 && rc == 0)
        rc = SB_EIO;
    return rc;
}

int sim_audio_resample(struct sim_audio *a, int rate)
{
    int16_t *out = NULL;
    size_t n = 0;
    int rc;

    if (rate < 1000 || rate > 192000 || a->rate < 1000 || a->rate > 192000)
        return SB_EINVAL;
    if (rate == a->rate)
        return 0;
    if ((double)a->len * rate / a->rate > (double)MAX_SAMPLES)
        return SB_ETOOBIG;
    rc = speech_resample(a->samples, a->len, a->rate, rate, &out, &n);
    if (rc)
        return rc;
    free(a->samples);
    a->samples = out;
    a->len = n;
    a->cap = n;
    a->rate = rate;
    return 0;
}

/*
 * English goes to the speech layer's flite engine (its 8 kHz "kal" voice),
 * which the server's recogniser, pocketsphinx, hears far more reliably than
 * espeak-ng; every other language, and English that flite cannot render
 * (SB_EIO: no words, or flite failed), goes to its espeak-ng engine. Both keep
 * global state and serialise their own calls, so the simulator shares them
 * with everything else in the process.
 */
int sim_audio_tts(struct sim_audio *a, const char *text, const char *lang, char *err,
                  size_t errsize)
{
    struct tts t = TTS_INIT;
    int16_t *pcm = NULL;
    size_t n = 0;
    int rate = 0;
    int english;
    int rc = 0;

    sim_audio_init(a, 0);
    if (!lang || !*lang)
        lang = "en-us";
    english = lang_same_base(lang, "en");
    if (english) {
        t.ops = &tts_flite_ops; /* nothing to start or own */
        rc = tts_synth(&t, text, lang, NULL, &pcm, &n, &rate, err, errsize);
    }
    /* flite makes no wave for text without words ("..."): espeak-ng's near-silence instead. */
    if (!english || rc == SB_EIO) {
        tts_release(&t);
        rc = tts_espeak_init(&t, err, errsize);
        if (rc == 0)
            rc = tts_synth(&t, text, lang, NULL, &pcm, &n, &rate, err, errsize);
    }
    if (rc)
        goto out;
    /* The clip takes the engine's samples as they are. */
    a->samples = pcm;
    a->len = n;
    a->cap = n;
    a->rate = rate;
    pcm = NULL;
    rc = sim_audio_resample(a, SIM_AUDIO_RATE);
    if (rc)
        sb_set_error(err, errsize, "cannot resample speech to %d Hz: %s", SIM_AUDIO_RATE,
                     sb_strerror(rc));
out:
    free(pcm);
    tts_release(&t);
    if (rc)
        sim_audio_release(a);
    return rc;
}
