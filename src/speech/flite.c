/*
 * The flite engine: English only, with flite's "kal" diphone voice, whose
 * 8 kHz output is the phone network's own rate (no resampling) and which
 * pocketsphinx's English model recognises more reliably than espeak-ng.
 * flite keeps global state (its lexicon, the voice): it is started once
 * (pthread_once) and every synthesis holds flite_lock.
 */
#include "speech/tts.h"

#include <flite/flite.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/lang.h"
#include "core/banned.h"

/* From libflite_cmu_us_kal: the voice's constructor (flite's headers do not declare it). */
cst_voice *register_cmu_us_kal(const char *voxdir);

static pthread_once_t flite_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t flite_lock = PTHREAD_MUTEX_INITIALIZER;
static cst_voice *flite_voice; /* NULL when flite failed to start */

static void flite_start(void)
{
    if (flite_init() == 0)
        flite_voice = register_cmu_us_kal(NULL);
}

static void fail(char *err, size_t errsize, const char *why)
{
    if (err && errsize)
        snprintf(err, errsize, "%s", why);
}

static int flite_synth(void *engine, const char *text, const char *lang, const char *voice,
                       int16_t **pcm, size_t *n, int *rate, char *err, size_t errsize)
{
    cst_wave *w;
    int rc = 0;

    (void)engine;
    (void)voice; /* one voice */
    *pcm = NULL;
    *n = 0;
    *rate = 0;
    if (lang && !lang_same_base(lang, "en")) {
        fail(err, errsize, "flite speaks English only");
        return SB_EINVAL;
    }
    pthread_once(&flite_once, flite_start);
    if (!flite_voice) {
        fail(err, errsize, "flite did not start");
        return SB_EIO;
    }
    pthread_mutex_lock(&flite_lock);
    w = flite_text_to_wave(text, flite_voice);
    if (!w) {
        rc = SB_EIO;
        fail(err, errsize, "flite could not synthesize the text");
    } else if (w->num_samples > 0) {
        *pcm = malloc((size_t)w->num_samples * sizeof(**pcm));
        if (!*pcm) {
            rc = SB_ENOMEM;
            fail(err, errsize, "out of memory");
        } else {
            memcpy(*pcm, w->samples, (size_t)w->num_samples * sizeof(**pcm));
            *n = (size_t)w->num_samples;
            *rate = w->sample_rate;
        }
    }
    if (w)
        delete_wave(w);
    pthread_mutex_unlock(&flite_lock);
    return rc;
}

const struct tts_ops tts_flite_ops = {"flite", flite_synth, NULL};

/* ---- the offline voice: flite for English, espeak-ng for the rest ---- */

static int offline_synth(void *engine, const char *text, const char *lang, const char *voice,
                         int16_t **pcm, size_t *n, int *rate, char *err, size_t errsize)
{
    (void)engine;
    if (!lang || lang_same_base(lang, "en")) {
        int rc = flite_synth(NULL, text, "en", voice, pcm, n, rate, err, errsize);

        /* flite says nothing for text without words ("..."): espeak-ng's near-silence then. */
        if (rc != SB_EIO && (rc != 0 || *n > 0))
            return rc;
    }
    return tts_espeak_ops.synth(NULL, text, lang, voice, pcm, n, rate, err, errsize);
}

const struct tts_ops tts_offline_ops = {"flite+espeak-ng", offline_synth, NULL};

int tts_offline_init(struct tts *t, char *err, size_t errsize)
{
    int rc = tts_espeak_init(t, err, errsize);

    if (rc == 0)
        t->ops = &tts_offline_ops;
    return rc;
}
