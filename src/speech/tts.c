/*
 * The engine-independent half of text to speech: the checks every engine's
 * output goes through, and the path from an engine's PCM to the µ-law of a
 * phone call.
 */
#include "speech/tts.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/mulaw.h"
#include "core/phone.h"
#include "speech/resample.h"
#include "core/banned.h"

int tts_synth(const struct tts *t, const char *text, const char *lang, const char *voice,
              int16_t **pcm, size_t *n, int *rate, char *err, size_t errsize)
{
    int16_t *samples = NULL;
    size_t len = 0;
    int hz = 0;
    int rc;

    *pcm = NULL;
    *n = 0;
    *rate = 0;
    if (!t || !t->ops || !t->ops->synth) {
        sb_set_error(err, errsize, "text to speech is not set up");
        rc = SB_EINVAL;
        goto out;
    }
    if (!text || !*text) {
        sb_set_error(err, errsize, "nothing to say: the text is empty");
        rc = SB_EINVAL;
        goto out;
    }
    /* Cleared first, so that an engine failing without a reason can be told apart. */
    if (err && errsize)
        err[0] = '\0';
    rc = t->ops->synth(t->engine, text, lang, voice, &samples, &len, &hz, err, errsize);
    if (rc) {
        if (err && errsize && !err[0])
            sb_set_error(err, errsize, "%s failed: %s", t->ops->name, sb_strerror(rc));
        goto out;
    }
    /* An engine is outside code: what it hands back is checked, not trusted. */
    if (hz < SPEECH_RATE_MIN || hz > SPEECH_RATE_MAX || (len > 0 && !samples)) {
        sb_set_error(err, errsize, "%s returned unusable audio (rate %d Hz)", t->ops->name, hz);
        rc = SB_EIO;
        goto out;
    }
    if (len > (size_t)TTS_MAX_SECONDS * (size_t)hz) {
        sb_set_error(err, errsize, "speech is longer than %d seconds", TTS_MAX_SECONDS);
        rc = SB_ETOOBIG;
        goto out;
    }
out:
    if (rc) {
        free(samples);
        return rc;
    }
    *pcm = samples;
    *n = len;
    *rate = hz;
    return 0;
}

size_t speech_lead_in(const int16_t *pcm, size_t n)
{
    size_t first = 0;

    while (first < n && pcm[first] < TTS_SOUND_LEVEL && pcm[first] > -TTS_SOUND_LEVEL)
        first++;
    if (first == n)
        return 0; /* nothing but quiet: left as it is */
    return first > TTS_LEAD_IN_KEEP ? first - TTS_LEAD_IN_KEEP : 0;
}

int tts_synth_mulaw(const struct tts *t, const char *text, const char *lang, const char *voice,
                    unsigned char **out, size_t *len, char *err, size_t errsize)
{
    int16_t *pcm = NULL;
    int16_t *phone = NULL;
    unsigned char *bytes = NULL;
    size_t n = 0;
    size_t phone_n = 0;
    size_t lead;
    int rate = 0;
    int rc;

    *out = NULL;
    *len = 0;
    rc = tts_synth(t, text, lang, voice, &pcm, &n, &rate, err, errsize);
    if (rc)
        goto out;
    if (n == 0)
        goto out;
    rc = speech_resample(pcm, n, rate, PHONE_RATE, &phone, &phone_n);
    if (rc) {
        sb_set_error(err, errsize, "cannot resample speech from %d to %d Hz: %s", rate, PHONE_RATE,
                     sb_strerror(rc));
        goto out;
    }
    if (phone_n == 0)
        goto out;
    bytes = malloc(phone_n);
    if (!bytes) {
        rc = SB_ENOMEM;
        sb_set_error(err, errsize, "out of memory for %zu bytes of speech", phone_n);
        goto out;
    }
    /* The caller hears the reply from its first sound: the engine's lead-in silence goes. */
    lead = speech_lead_in(phone, phone_n);
    mulaw_encode_buf(phone + lead, phone_n - lead, bytes);
    *out = bytes;
    *len = phone_n - lead;
out:
    free(pcm);
    free(phone);
    return rc;
}

void tts_release(struct tts *t)
{
    if (!t)
        return;
    if (t->ops && t->ops->release)
        t->ops->release(t->engine);
    t->ops = NULL;
    t->engine = NULL;
}
