/*
 * Tests for speech/stt: the JSGF grammar builder, and pocketsphinx
 * recognising phrases spoken by flite the way a caller's audio reaches the
 * server (8 kHz µ-law), rejecting what is not in the grammar.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/mulaw.h"
#include "speech/resample.h"
#include "speech/stt.h"
#include "speech/tts.h"

static const char *const call_phrases[] = {
    "What are your hours?",
    "When do you open",
    "I want to talk to a person",
    "Can I speak to someone",
    "yes",
    "no",
    "thank you",
    "goodbye",
    "uh huh",
    "okay",
};
#define NPHRASES (sizeof(call_phrases) / sizeof(call_phrases[0]))

static int known_but_zorp(void *arg, const char *word)
{
    (void)arg;
    return strcmp(word, "zorp") != 0;
}

Test(stt_grammar, phrases_become_lower_case_words_once_each)
{
    const char *const phrases[] = {
        "What are your HOURS?", "what are your hours", "I'm here", "  ", NULL, "zorp now", "hours"};
    struct buf out = BUF_INIT(4096);
    int kept = stt_grammar_jsgf(phrases, 7, known_but_zorp, NULL, &out);

    cr_assert_eq(kept, 3, "%s", buf_cstr(&out));
    cr_assert_str_eq(buf_cstr(&out), "#JSGF V1.0;\ngrammar call;\npublic <utterance> = what are "
                                     "your hours | i'm here | hours;\n");
    buf_release(&out);
}

Test(stt_grammar, no_usable_phrase_is_no_grammar)
{
    const char *const phrases[] = {"¿?", "zorp"};
    struct buf out = BUF_INIT(4096);

    cr_assert_eq(stt_grammar_jsgf(phrases, 2, known_but_zorp, NULL, &out), 0);
    cr_assert_eq(out.len, 0);
    buf_release(&out);
}

/* flite's English as the phone network carries it: 8 kHz µ-law. */
static unsigned char *phone_audio(const char *text, size_t *len)
{
    struct tts t = {&tts_flite_ops, NULL};
    int16_t *pcm = NULL, *pcm8 = NULL;
    size_t n = 0, n8 = 0;
    int rate = 0;
    unsigned char *mulaw;
    char err[128];

    cr_assert_eq(tts_synth(&t, text, "en-US", NULL, &pcm, &n, &rate, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(speech_resample(pcm, n, rate, 8000, &pcm8, &n8), 0);
    mulaw = malloc(n8);
    cr_assert_not_null(mulaw);
    mulaw_encode_buf(pcm8, n8, mulaw);
    free(pcm);
    free(pcm8);
    *len = n8;
    return mulaw;
}

static struct stt_result hear(struct stt *s, const char *spoken, const char *lang)
{
    struct stt_request req;
    struct stt_result res;
    char err[128] = "";
    size_t len;
    unsigned char *audio = phone_audio(spoken, &len);

    memset(&req, 0, sizeof(req));
    req.mulaw = audio;
    req.len = len;
    req.lang = lang;
    req.phrases = call_phrases;
    req.nphrases = NPHRASES;
    cr_assert_eq(stt_recognize(s, &req, &res, err, sizeof(err)), 0, "%s", err);
    free(audio);
    return res;
}

Test(stt_sphinx, phrases_of_the_grammar_are_recognised_exactly)
{
    struct stt s;
    struct stt_result r;

    cr_assert_eq(stt_sphinx_open(&s, NULL), 0);
    r = hear(&s, "What are your hours?", "en-US");
    cr_assert_eq(r.outcome, STT_WORDS, "score %.1f", r.score);
    cr_assert_str_eq(r.text, "what are your hours");
    r = hear(&s, "I want to talk to a person.", "en-US");
    cr_assert_eq(r.outcome, STT_WORDS, "score %.1f", r.score);
    cr_assert_str_eq(r.text, "i want to talk to a person");
    r = hear(&s, "Yes", "en");
    cr_assert_str_eq(r.text, "yes", "outcome %d score %.1f", r.outcome, r.score);
    cr_assert_gt(r.audio_ms, 100);
    stt_release(&s);
}

Test(stt_sphinx, other_sentences_are_rejected_not_forced_onto_a_phrase)
{
    struct stt s;
    struct stt_result r;

    cr_assert_eq(stt_sphinx_open(&s, NULL), 0);
    /*
     * Sentences far from every phrase. (Nearer ones are not reliably rejected, and
     * pocketsphinx's search differs slightly from run to run: see stt.h.)
     */
    r = hear(&s, "The quick brown fox jumps over the lazy dog near the river bank.", "en-US");
    cr_assert_neq(r.outcome, STT_WORDS, "heard '%s' (score %.1f)", r.text, r.score);
    r = hear(&s, "Is it going to rain", "en-US");
    cr_assert_neq(r.outcome, STT_WORDS, "heard '%s' (score %.1f)", r.text, r.score);
    stt_release(&s);
}

Test(stt_sphinx, a_rejected_sentence_comes_with_the_free_form_guess)
{
    struct stt s;
    struct stt_result r;

    cr_assert_eq(stt_sphinx_open(&s, NULL), 0);
    const char *far[] = {"Where is the nearest station"};
    int guessed = 0;

    /* Far from every phrase: rejected (or nothing heard), and a rejection carries a guess. */
    for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
        r = hear(&s, far[i], "en-US");
        cr_assert_neq(r.outcome, STT_WORDS, "heard '%s' (score %.1f)", r.text, r.score);
        if (r.outcome == STT_REJECTED) {
            cr_assert_gt(strlen(r.text), 0, "a rejection without a guess (score %.1f)", r.score);
            guessed++;
        }
    }
    cr_assert_gt(guessed, 0, "no far sentence was rejected with a guess");
    /* The grammar is back for the next utterance. */
    r = hear(&s, "What are your hours?", "en-US");
    cr_assert_eq(r.outcome, STT_WORDS, "score %.1f", r.score);
    cr_assert_str_eq(r.text, "what are your hours");
    stt_release(&s);
}

Test(stt_sphinx, silence_is_nothing_and_spanish_is_not_its_language)
{
    struct stt s;
    struct stt_request req;
    struct stt_result r;
    unsigned char silence[8000];
    char err[128];

    cr_assert_eq(stt_sphinx_open(&s, NULL), 0);
    memset(silence, 0xff, sizeof(silence)); /* µ-law zero */
    memset(&req, 0, sizeof(req));
    req.mulaw = silence;
    req.len = sizeof(silence);
    req.lang = "en-US";
    req.phrases = call_phrases;
    req.nphrases = NPHRASES;
    cr_assert_eq(stt_recognize(&s, &req, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_neq(r.outcome, STT_WORDS, "heard '%s' in silence", r.text);
    req.lang = "es-MX";
    cr_assert_eq(stt_recognize(&s, &req, &r, err, sizeof(err)), 0);
    cr_assert_eq(r.outcome, STT_UNSUPPORTED);
    req.len = 0;
    cr_assert_eq(stt_recognize(&s, &req, &r, err, sizeof(err)), SB_EINVAL);
    cr_assert(strstr(err, "empty") != NULL, "%s", err);
    stt_release(&s);
}

Test(stt_sphinx, a_missing_model_is_refused_at_open)
{
    struct stt s;

    cr_assert_eq(stt_sphinx_open(&s, "/nonexistent/model"), SB_EINVAL);
}
