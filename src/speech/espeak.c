/*
 * The espeak-ng engine. espeak-ng keeps its voice, callback and buffers in
 * globals and is not thread-safe: it is started once (pthread_once) and
 * every later call into it holds espeak_lock. What it tells us at start (the
 * synthesis rate, its voices) is copied then and only read afterwards.
 */
#include "speech/tts.h"

#include <espeak-ng/speak_lib.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/lang.h"
#include "core/banned.h"

/* espeak-ng's language names and voice identifiers are short ("es-419", "roa/es-419"). */
#define LANG_MAX 32
#define VOICE_ID_MAX 64
/* espeak-ng 1.51 lists about 130 voices with one to three languages each. */
#define LANGS_MAX 1024
/* Milliseconds of audio per callback; only the chunking changes with it. */
#define ESPEAK_BUFFER_MS 200

/* One language a voice speaks; lower `priority` is the better voice for it. */
struct espeak_lang {
    char lang[LANG_MAX];
    char voice[VOICE_ID_MAX];
    int priority;
};

static pthread_once_t espeak_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t espeak_lock = PTHREAD_MUTEX_INITIALIZER;

/* Written once inside espeak_start, read-only afterwards. */
static int espeak_rate; /* 0 when espeak-ng failed to start */
static char espeak_failure[160];
static struct espeak_lang espeak_langs[LANGS_MAX];
static size_t espeak_nlangs;

/* The voice espeak-ng has loaded ("" when unknown); guarded by espeak_lock. */
static char espeak_voice[VOICE_ID_MAX];

/* Where one synthesis collects its samples. */
struct espeak_sink {
    int16_t *buf;
    size_t len;
    size_t cap;
    size_t max;
    int rc;
};

static int sink_append(struct espeak_sink *s, const short *wav, size_t num)
{
    size_t cap;
    int16_t *grown;

    if (num > s->max - s->len)
        return SB_ETOOBIG;
    if (s->len + num > s->cap) {
        cap = s->cap ? s->cap : 16384;
        while (cap < s->len + num)
            cap *= 2;
        if (cap > s->max)
            cap = s->max;
        grown = realloc(s->buf, cap * sizeof(*grown));
        if (!grown)
            return SB_ENOMEM;
        s->buf = grown;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, wav, num * sizeof(*wav));
    s->len += num;
    return 0;
}

/* Called by espeak-ng, inside espeak_Synth, with each chunk of samples. */
static int synth_cb(short *wav, int num, espeak_EVENT *events)
{
    struct espeak_sink *s = events ? events->user_data : NULL;

    if (!s || !wav || num <= 0)
        return 0;
    if (s->rc == 0)
        s->rc = sink_append(s, wav, (size_t)num);
    /* Returning 1 asks espeak-ng to stop: nothing more can be stored. */
    return s->rc ? 1 : 0;
}

/* Copies the languages of espeak-ng's own voices out of its static list. */
static void collect_languages(void)
{
    const espeak_VOICE **voices = espeak_ListVoices(NULL);

    for (size_t i = 0; voices && voices[i]; i++) {
        const char *id = voices[i]->identifier;
        const char *p = voices[i]->languages;

        /* MBROLA voices need a program and data Debian does not install with espeak-ng. */
        if (!id || !p || strncmp(id, "mb/", 3) == 0 || strlen(id) >= VOICE_ID_MAX)
            continue;
        /* The list is (priority byte, NUL-terminated name) pairs, ended by a zero byte. */
        while (*p && espeak_nlangs < LANGS_MAX) {
            const char *name = p + 1;
            size_t len = strlen(name);
            struct espeak_lang *l = &espeak_langs[espeak_nlangs];

            if (len > 0 && len < LANG_MAX) {
                memcpy(l->lang, name, len + 1);
                memcpy(l->voice, id, strlen(id) + 1);
                l->priority = (unsigned char)*p;
                espeak_nlangs++;
            }
            p = name + len + 1;
        }
    }
}

static void espeak_start(void)
{
    int rate;

    /* DONT_EXIT: missing data must be an error we report, not exit(). */
    rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, ESPEAK_BUFFER_MS, NULL,
                             espeakINITIALIZE_DONT_EXIT);
    if (rate <= 0) {
        snprintf(espeak_failure, sizeof(espeak_failure),
                 "espeak-ng failed to start (is espeak-ng-data installed?)");
        return;
    }
    espeak_SetSynthCallback(synth_cb);
    collect_languages();
    if (espeak_nlangs == 0) {
        snprintf(espeak_failure, sizeof(espeak_failure), "espeak-ng has no voices installed");
        return;
    }
    espeak_rate = rate;
}

/* Starts espeak-ng on first use; every later call only reads the outcome. */
static int espeak_ready(char *err, size_t errsize)
{
    pthread_once(&espeak_once, espeak_start);
    if (espeak_rate <= 0) {
        sb_set_error(err, errsize, "%s", espeak_failure);
        return SB_EIO;
    }
    return 0;
}

/* The best voice for exactly `lang` (core/lang's rules: any case, '_' as '-'), or NULL. */
static const struct espeak_lang *find_lang(const char *lang)
{
    const struct espeak_lang *best = NULL;

    for (size_t i = 0; i < espeak_nlangs; i++) {
        const struct espeak_lang *l = &espeak_langs[i];

        if (lang_same(l->lang, lang) && (!best || l->priority < best->priority))
            best = l;
    }
    return best;
}

/*
 * Picks the voice for `tag`. Twilio's default English is American, while
 * espeak-ng's plain "en" is British.
 */
static const struct espeak_lang *pick(const char *tag)
{
    const struct espeak_lang *l = NULL;

    if (lang_same(tag, "en"))
        return find_lang("en-us");
    /* Spanish of any region but Spain is Latin American Spanish. */
    if (lang_match("es", tag) == LANG_MATCH_REGION && !lang_same(tag, "es-es")) {
        l = find_lang("es-419");
        return l ? l : find_lang("es");
    }
    return find_lang(tag);
}

/* Maps a BCP-47 tag to an espeak-ng voice (see tts.h); NULL when there is none. */
static const struct espeak_lang *resolve(const char *tag)
{
    const struct espeak_lang *l;
    char base[LANG_MAX];
    size_t n;

    if (!tag || !*tag)
        tag = "en-us";
    if (strlen(tag) >= LANG_MAX)
        return NULL;
    l = pick(tag);
    if (l)
        return l;
    /* A region espeak-ng does not know speaks as the base language. */
    n = lang_base_len(tag);
    if (n == 0 || !tag[n])
        return NULL;
    memcpy(base, tag, n);
    base[n] = '\0';
    return pick(base);
}

int tts_espeak_language(const char *tag, char *out, size_t outsize)
{
    const struct espeak_lang *l;
    size_t len;
    int rc;

    rc = espeak_ready(NULL, 0);
    if (rc)
        goto out;
    l = resolve(tag);
    if (!l) {
        rc = SB_EINVAL;
        goto out;
    }
    len = strlen(l->lang);
    if (!out || len >= outsize) {
        rc = SB_ETOOBIG;
        goto out;
    }
    memcpy(out, l->lang, len + 1);
out:
    return rc;
}

/*
 * espeak-ng 1.51 (Debian 12) reads uninitialised stack memory when Spanish
 * text has a word ending in "s" last in a clause ("lunes.", "¿Tiene
 * reservas?", "Abrimos de lunes a viernes, de ..."): its Spanish rules for a
 * final s look past the word for the next one, and utf8_in, called from the
 * word translation and dictionary lookup, decodes whatever that buffer's
 * stack held. valgrind reports hundreds of such reads for "lunes", "dos" or
 * "gracias" alone, none for "lunez", for a final s followed by another word,
 * or for English voices, and the reads can crash the process. No flag of
 * espeak_Synth, size argument or padding of the caller's text changes it:
 * the buffer is espeak-ng's own. A zero-width space (U+200B) straight after
 * such an s gives the rules an initialised character to read, is not spoken,
 * and leaves the length of the speech as it was; with it valgrind is clean.
 */
#define ZWSP "\xe2\x80\x8b"

/*
 * True when `p` starts a letter: ASCII, Latin (U+00C0..U+024F but × and ÷),
 * or the alphabets up to U+1FFF. Anything else, punctuation such as "…"
 * included, counts as no word following: one zero-width space too many is
 * harmless, one too few is not.
 */
static int starts_letter(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    unsigned cp;

    if ((u[0] >= 'a' && u[0] <= 'z') || (u[0] >= 'A' && u[0] <= 'Z'))
        return 1;
    if ((u[0] & 0xe0) != 0xc0 || (u[1] & 0xc0) != 0x80)
        return 0;
    cp = ((unsigned)(u[0] & 0x1f) << 6) | (u[1] & 0x3f);
    return cp >= 0xc0 && cp != 0xd7 && cp != 0xf7 && (cp <= 0x24f || cp >= 0x370);
}

/*
 * Returns a malloc'd copy of Spanish `text` with a zero-width space after
 * every final s that no word follows on the same line (see above), or NULL
 * when out of memory. The caller frees it with free().
 */
static char *guard_final_s(const char *text)
{
    size_t len = strlen(text), count = 0, o = 0;
    char *out;

    for (size_t i = 0; i < len; i++) {
        size_t j = i + 1;

        if (text[i] != 's' && text[i] != 'S')
            continue;
        while (text[j] == ' ' || text[j] == '\t')
            j++;
        count += !starts_letter(text + j);
    }
    out = malloc(len + count * (sizeof(ZWSP) - 1) + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        size_t j = i + 1;

        out[o++] = text[i];
        if (text[i] != 's' && text[i] != 'S')
            continue;
        while (text[j] == ' ' || text[j] == '\t')
            j++;
        if (!starts_letter(text + j)) {
            memcpy(out + o, ZWSP, sizeof(ZWSP) - 1);
            o += sizeof(ZWSP) - 1;
        }
    }
    out[o] = '\0';
    return out;
}

static int espeak_synth(void *engine, const char *text, const char *lang, const char *voice,
                        int16_t **pcm, size_t *n, int *rate, char *err, size_t errsize)
{
    struct espeak_sink sink = {NULL, 0, 0, 0, 0};
    const struct espeak_lang *l;
    espeak_ERROR eerr = EE_OK;
    char *guarded = NULL;
    int locked = 0;
    int rc;

    *pcm = NULL;
    *n = 0;
    *rate = 0;
    if (!text || !*text) {
        sb_set_error(err, errsize, "nothing to say: the text is empty");
        rc = SB_EINVAL;
        goto out;
    }
    rc = espeak_ready(err, errsize);
    if (rc)
        goto out;
    l = resolve(lang);
    if (!l) {
        sb_set_error(err, errsize, "espeak-ng has no voice for language '%s'", lang ? lang : "");
        rc = SB_EINVAL;
        goto out;
    }
    sink.max = (size_t)TTS_MAX_SECONDS * (size_t)espeak_rate;
    if (lang_same_base(l->lang, "es")) {
        guarded = guard_final_s(text);
        if (!guarded) {
            sb_set_error(err, errsize, "out of memory while preparing the text");
            rc = SB_ENOMEM;
            goto out;
        }
        text = guarded;
    }

    pthread_mutex_lock(&espeak_lock);
    locked = 1;
    /* Loading a voice reads its files: skip it when the voice is already loaded. */
    if (strcmp(espeak_voice, l->voice) != 0) {
        espeak_voice[0] = '\0';
        if (espeak_SetVoiceByName(l->voice) != EE_OK) {
            sb_set_error(err, errsize, "espeak-ng cannot load voice '%s' for language '%s'",
                         l->voice, l->lang);
            rc = SB_EIO;
            goto out;
        }
        memcpy(espeak_voice, l->voice, strlen(l->voice) + 1);
    }
    eerr = espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, &sink);
    /* A synthesis we stopped may leave text queued inside espeak-ng: drop it. */
    if (sink.rc)
        espeak_Cancel();
    pthread_mutex_unlock(&espeak_lock);
    locked = 0;

    if (sink.rc == SB_ETOOBIG) {
        sb_set_error(err, errsize, "speech is longer than %d seconds", TTS_MAX_SECONDS);
        rc = sink.rc;
        goto out;
    }
    if (sink.rc) {
        sb_set_error(err, errsize, "out of memory while synthesising speech");
        rc = sink.rc;
        goto out;
    }
    if (eerr != EE_OK) {
        sb_set_error(err, errsize, "espeak-ng failed to synthesise the text (error %d)", (int)eerr);
        rc = SB_EIO;
        goto out;
    }
    *pcm = sink.buf;
    *n = sink.len;
    *rate = espeak_rate;
    sink.buf = NULL;
out:
    if (locked)
        pthread_mutex_unlock(&espeak_lock);
    free(sink.buf);
    free(guarded);
    return rc;
}

const struct tts_ops tts_espeak_ops = {
    .name = "espeak-ng",
    .synth = espeak_synth,
    .release = NULL,
};

int tts_espeak_init(struct tts *t, char *err, size_t errsize)
{
    int rc;

    t->ops = NULL;
    t->engine = NULL;
    rc = espeak_ready(err, errsize);
    if (rc)
        goto out;
    t->ops = &tts_espeak_ops;
out:
    return rc;
}
