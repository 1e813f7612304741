/*
 * The pocketsphinx engine: offline, English, in grammar mode. Each request's
 * phrases become a JSGF grammar (stt_grammar_jsgf); the utterance is decoded
 * whole, then judged: no words is STT_NOTHING, a per-frame score below
 * STT_SPHINX_MIN_FRAME_SCORE is STT_REJECTED (pocketsphinx forces any
 * speech onto the nearest phrase of a grammar).
 *
 * A rejected utterance is decoded again with the free-form language model
 * (en-us.lm.bin, loaded into a decoder at its first rejection; the binary
 * model is mapped, so decoders share its pages): its words are a
 * low-confidence guess in `text`, for an agent that can use one.
 *
 * A decoder (ps_decoder_t) is not thread-safe and loads the model (0.3 s,
 * about 20 MiB), so the engine keeps a pool: a request takes a free decoder
 * or makes one (at most STT_SPHINX_DECODERS), and gives it back. A decoder
 * keeps its last grammar, which is set again only when it changes.
 */
#include <pocketsphinx.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/lang.h"
#include "core/mulaw.h"
#include "speech/resample.h"
#include "speech/stt.h"
#include "core/banned.h"

#define DEFAULT_MODEL_DIR "/usr/share/pocketsphinx/model/en-us"
#define SPHINX_RATE 16000
#define FRAMES_PER_SECOND 100

struct decoder {
    ps_decoder_t *ps;
    uint64_t grammar_hash; /* of the grammar set on it, 0: none */
    int lm;                /* the free-form model: 0 not loaded, 1 loaded, -1 cannot be */
};

struct sphinx {
    char hmm[512], dict[512], lm[512];
    pthread_mutex_t lock;
    pthread_cond_t freed;
    struct decoder *idle[STT_SPHINX_DECODERS];
    int nidle, made;
};

static void fail(char *err, size_t size, const char *why)
{
    if (err && size)
        snprintf(err, size, "%s", why);
}

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ? h : 1;
}

static struct decoder *decoder_new(struct sphinx *e)
{
    struct decoder *d = calloc(1, sizeof(*d));
    cmd_ln_t *cfg;

    if (!d)
        return NULL;
    /* -logfn /dev/null: pocketsphinx writes its progress to stderr otherwise. */
    cfg = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", e->hmm, "-dict", e->dict, "-logfn",
                      "/dev/null", "-samprate", "16000", "-dither", "no", "-seed", "1", NULL);
    if (cfg)
        d->ps = ps_init(cfg);
    if (cfg)
        cmd_ln_free_r(cfg); /* the decoder keeps its own reference */
    if (!d->ps) {
        free(d);
        return NULL;
    }
    return d;
}

static void decoder_free(struct decoder *d)
{
    if (d) {
        ps_free(d->ps);
        free(d);
    }
}

/* A free decoder, a new one, or (all in use) the next one given back. */
static struct decoder *decoder_take(struct sphinx *e)
{
    struct decoder *d = NULL;
    int make = 0;

    pthread_mutex_lock(&e->lock);
    while (!e->nidle && e->made >= STT_SPHINX_DECODERS)
        pthread_cond_wait(&e->freed, &e->lock);
    if (e->nidle)
        d = e->idle[--e->nidle];
    else
        make = ++e->made;
    pthread_mutex_unlock(&e->lock);
    if (make) {
        d = decoder_new(e);
        if (!d) {
            pthread_mutex_lock(&e->lock);
            e->made--;
            pthread_cond_signal(&e->freed);
            pthread_mutex_unlock(&e->lock);
        }
    }
    return d;
}

static void decoder_give(struct sphinx *e, struct decoder *d)
{
    pthread_mutex_lock(&e->lock);
    e->idle[e->nidle++] = d;
    pthread_cond_signal(&e->freed);
    pthread_mutex_unlock(&e->lock);
}

static int word_known(void *arg, const char *word)
{
    return ps_lookup_word(arg, word) != NULL;
}

/* Sets the request's grammar on the decoder (when it changed). Returns 0, or SB_EINVAL: none. */
static int use_grammar(struct decoder *d, const struct stt_request *req)
{
    struct buf jsgf = BUF_INIT(256 * 1024);
    uint64_t h;
    int kept = stt_grammar_jsgf(req->phrases, req->nphrases, word_known, d->ps, &jsgf);
    int rc = 0;

    if (kept <= 0) {
        buf_release(&jsgf);
        return kept < 0 ? kept : SB_EINVAL;
    }
    h = hash_text(buf_cstr(&jsgf));
    if (h != d->grammar_hash) {
        if (ps_set_jsgf_string(d->ps, "call", buf_cstr(&jsgf)) != 0 ||
            ps_set_search(d->ps, "call") != 0)
            rc = SB_EIO;
        d->grammar_hash = rc ? 0 : h;
    }
    buf_release(&jsgf);
    return rc;
}

/* Runs the decoder's current search over 16 kHz PCM. Returns 0 or SB_EIO. */
static int run(struct decoder *d, const int16_t *pcm, size_t n)
{
    if (ps_start_utt(d->ps) < 0)
        return SB_EIO;
    if (ps_process_raw(d->ps, pcm, n, FALSE, TRUE) < 0) {
        ps_end_utt(d->ps);
        return SB_EIO;
    }
    return ps_end_utt(d->ps) < 0 ? SB_EIO : 0;
}

/*
 * The free-form model's guess at a rejected utterance, into out->text ("" when
 * it has none). The grammar's search is set again after.
 */
static void guess(struct sphinx *e, struct decoder *d, const int16_t *pcm, size_t n,
                  struct stt_result *out)
{
    int32 score = 0;
    const char *hyp = NULL;

    out->text[0] = '\0';
    if (d->lm == 0)
        d->lm = ps_set_lm_file(d->ps, "free", e->lm) == 0 ? 1 : -1;
    if (d->lm < 0 || ps_set_search(d->ps, "free") != 0)
        return;
    if (run(d, pcm, n) == 0)
        hyp = ps_get_hyp(d->ps, &score);
    if (hyp)
        snprintf(out->text, sizeof(out->text), "%s", hyp);
    if (d->grammar_hash && ps_set_search(d->ps, "call") != 0)
        d->grammar_hash = 0; /* set again at the next request */
}

/* Decodes 16 kHz PCM; fills out->text and the score over the words' frames. */
static int decode(struct decoder *d, const int16_t *pcm, size_t n, struct stt_result *out)
{
    int32 score = 0;
    const char *hyp;
    int frames = 0, first = -1, last = -1;
    ps_seg_t *seg;

    if (run(d, pcm, n) != 0)
        return SB_EIO;
    hyp = ps_get_hyp(d->ps, &score);
    for (seg = ps_seg_iter(d->ps); seg; seg = ps_seg_next(seg)) {
        const char *w = ps_seg_word(seg);
        int s, e;

        /* Silence and fillers ("<sil>", "[NOISE]") are not words. */
        if (!w || w[0] == '<' || w[0] == '[')
            continue;
        ps_seg_frames(seg, &s, &e);
        if (first < 0)
            first = s;
        last = e;
    }
    if (first >= 0)
        frames = last - first + 1;
    if (!hyp || !*hyp || frames <= 0) {
        out->outcome = STT_NOTHING;
        return 0;
    }
    out->score = (double)score / frames;
    if (out->score < STT_SPHINX_MIN_FRAME_SCORE) {
        out->outcome = STT_REJECTED;
        return 0;
    }
    out->outcome = STT_WORDS;
    snprintf(out->text, sizeof(out->text), "%s", hyp);
    return 0;
}

static int sphinx_recognize(void *engine, const struct stt_request *req, struct stt_result *out,
                            char *err, size_t errsize)
{
    struct sphinx *e = engine;
    struct decoder *d;
    int16_t *pcm8, *pcm16 = NULL;
    size_t n16 = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    out->audio_ms = (long)(req->len / 8);
    if (!req->mulaw || req->len == 0 || req->len > STT_MAX_BYTES) {
        fail(err, errsize, "the utterance is empty or longer than the recogniser takes");
        return SB_EINVAL;
    }
    if (req->lang && !lang_same_base(req->lang, "en")) {
        out->outcome = STT_UNSUPPORTED;
        return 0;
    }
    pcm8 = malloc(req->len * sizeof(*pcm8));
    if (!pcm8) {
        fail(err, errsize, "out of memory");
        return SB_ENOMEM;
    }
    mulaw_decode_buf(req->mulaw, req->len, pcm8);
    /* The model was trained on 16 kHz audio. */
    rc = speech_resample(pcm8, req->len, 8000, SPHINX_RATE, &pcm16, &n16);
    free(pcm8);
    if (rc) {
        fail(err, errsize, "cannot resample the caller's audio");
        return rc;
    }
    d = decoder_take(e);
    if (!d) {
        free(pcm16);
        fail(err, errsize, "pocketsphinx could not load its model");
        return SB_EIO;
    }
    rc = use_grammar(d, req);
    if (rc == SB_EINVAL) {
        /* Nothing the caller could say is in the dictionary: nothing can be recognised. */
        out->outcome = STT_REJECTED;
        rc = 0;
        guess(e, d, pcm16, n16, out);
    } else if (rc == 0) {
        rc = decode(d, pcm16, n16, out);
        if (rc)
            fail(err, errsize, "pocketsphinx failed to decode");
        else if (out->outcome == STT_REJECTED)
            guess(e, d, pcm16, n16, out);
    } else {
        fail(err, errsize, "pocketsphinx refused the grammar");
    }
    decoder_give(e, d);
    free(pcm16);
    return rc;
}

static void sphinx_release(void *engine)
{
    struct sphinx *e = engine;

    if (!e)
        return;
    for (int i = 0; i < e->nidle; i++)
        decoder_free(e->idle[i]);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->freed);
    free(e);
}

static const struct stt_ops sphinx_ops = {"pocketsphinx", sphinx_recognize, sphinx_release};

int stt_sphinx_open(struct stt *out, const char *model_dir)
{
    struct sphinx *e;
    const char *dir = model_dir ? model_dir : DEFAULT_MODEL_DIR;

    memset(out, 0, sizeof(*out));
    e = calloc(1, sizeof(*e));
    if (!e)
        return SB_ENOMEM;
    snprintf(e->hmm, sizeof(e->hmm), "%s/en-us", dir);
    snprintf(e->dict, sizeof(e->dict), "%s/cmudict-en-us.dict", dir);
    snprintf(e->lm, sizeof(e->lm), "%s/en-us.lm.bin", dir);
    if (access(e->hmm, R_OK) != 0 || access(e->dict, R_OK) != 0) {
        free(e);
        return SB_EINVAL;
    }
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->freed, NULL);
    out->ops = &sphinx_ops;
    out->engine = e;
    return 0;
}

int stt_recognize(const struct stt *s, const struct stt_request *req, struct stt_result *out,
                  char *err, size_t errsize)
{
    if (!s || !s->ops) {
        fail(err, errsize, "no recogniser");
        return SB_EINVAL;
    }
    return s->ops->recognize(s->engine, req, out, err, errsize);
}

void stt_release(struct stt *s)
{
    if (s && s->ops && s->ops->release)
        s->ops->release(s->engine);
    if (s)
        memset(s, 0, sizeof(*s));
}
