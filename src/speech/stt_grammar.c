/*
 * The JSGF grammar a grammar-mode recogniser listens with: the phrases a
 * caller can usefully say at one point of a call, as plain word sequences.
 */
#include <string.h>

#include "core/words.h"
#include "speech/stt.h"
#include "core/banned.h"

#define PHRASE_MAX 256

/*
 * The phrase's words, case folded, separated by one space, into `out`: the
 * words of core/words (the one tokenizer of caller speech), with words
 * joined by a single apostrophe kept whole ("i'm", "don't"), as
 * recognisers' dictionaries spell them. Returns their count (0 when none,
 * or when the phrase is too long to be one).
 */
static int phrase_words(const char *p, char *out, size_t size)
{
    const char *word;
    size_t len = 0, wlen;
    int words = 0;

    while (words_next(&p, &word, &wlen)) {
        int joined = len > 0 && word[-1] == '\'' && out[len - 1] == '\'';

        if (len + wlen + 2 >= size)
            return 0;
        if (len && !joined)
            out[len++] = ' ';
        words_fold(word, wlen, out + len);
        len += wlen;
        if (!joined)
            words++;
        /* An apostrophe right after the word and a letter after it: one word. */
        if (p[0] == '\'' && p[1] && ((p[1] | 0x20) >= 'a' && (p[1] | 0x20) <= 'z'))
            out[len++] = '\'';
    }
    out[len] = '\0';
    return words;
}

static int all_known(char *words, int (*known)(void *, const char *), void *arg)
{
    char *w = words;

    if (!known)
        return 1;
    while (*w) {
        char *end = strchr(w, ' ');
        int ok;

        if (end)
            *end = '\0';
        ok = known(arg, w);
        if (end)
            *end = ' ';
        if (!ok)
            return 0;
        w = end ? end + 1 : w + strlen(w);
    }
    return 1;
}

int stt_grammar_jsgf(const char *const *phrases, size_t n,
                     int (*known)(void *arg, const char *word), void *arg, struct buf *out)
{
    struct buf body = BUF_INIT(64 * 1024);
    char words[PHRASE_MAX];
    int kept = 0, rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *seen;

        if (!phrases[i] || phrase_words(phrases[i], words, sizeof(words)) == 0 ||
            !all_known(words, known, arg))
            continue;
        /* Once each: " | words |" cannot match inside another phrase. */
        seen = body.len ? strstr(buf_cstr(&body), words) : NULL;
        while (seen && !((seen == body.data || seen[-1] == ' ') &&
                         (seen[strlen(words)] == '\0' || seen[strlen(words)] == ' ') &&
                         (seen == body.data || seen[-2] == '|') &&
                         (seen[strlen(words)] == '\0' || seen[strlen(words) + 1] == '|')))
            seen = strstr(seen + 1, words);
        if (seen)
            continue;
        if (body.len)
            rc = buf_puts(&body, " | ");
        if (rc == 0)
            rc = buf_puts(&body, words);
        kept++;
    }
    if (rc == 0 && kept > 0)
        rc = buf_printf(out, "#JSGF V1.0;\ngrammar call;\npublic <utterance> = %s;\n",
                        buf_cstr(&body));
    buf_release(&body);
    return rc ? rc : kept;
}
