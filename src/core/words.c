#include "core/words.h"

#include <stddef.h>
#include "core/utf8.h"
#include "core/banned.h"

enum kind { SEPARATOR, LETTER, DIGIT };

/*
 * The code point of the well-formed UTF-8 sequence at `p` and its length in
 * *len; 0 when `p` does not start one (a stray continuation byte, an
 * overlong form, a surrogate, a sequence cut short by the end of the text).
 */
static unsigned decode(const unsigned char *p, size_t *len)
{
    unsigned cp = 0;
    size_t n = utf8_decode(p, 4, &cp);

    /* ASCII is the caller's: only sequences of two bytes or more count here. */
    if (n < 2)
        return 0;
    *len = n;
    return cp;
}

static int is_letter_cp(unsigned cp)
{
    if (cp < 0xc0 || cp == 0xd7 || cp == 0xf7)
        return 0;
    /* General punctuation, CJK punctuation, the byte-order mark and U+FFFD separate words. */
    if ((cp >= 0x2000 && cp <= 0x206f) || (cp >= 0x3000 && cp <= 0x303f) || cp == 0xfeff ||
        cp == 0xfffd)
        return 0;
    return 1;
}

/* What the character at `p` is, and its length in bytes (0 at the end of the text). */
static enum kind classify(const unsigned char *p, size_t *len)
{
    unsigned cp;

    *len = *p ? 1 : 0;
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
        return LETTER;
    if (*p >= '0' && *p <= '9')
        return DIGIT;
    if (*p < 0x80)
        return SEPARATOR;
    cp = decode(p, len);
    if (cp == 0) {
        *len = 1;
        return SEPARATOR;
    }
    return is_letter_cp(cp) ? LETTER : SEPARATOR;
}

int words_next(const char **pos, const char **word, size_t *len)
{
    const unsigned char *p, *start;
    enum kind k, run;
    size_t n;

    if (!*pos)
        return 0;
    p = (const unsigned char *)*pos;
    for (;;) {
        run = classify(p, &n);
        if (n == 0) {
            *pos = (const char *)p;
            return 0;
        }
        if (run != SEPARATOR)
            break;
        p += n;
    }
    start = p;
    do {
        p += n;
        k = classify(p, &n);
    } while (n > 0 && k == run);
    *word = (const char *)start;
    *len = (size_t)(p - start);
    *pos = (const char *)p;
    return 1;
}

/*
 * Byte i of a word with case folded: ASCII, and the Latin-1 capitals
 * U+00C0..U+00DE but U+00D7 (0xC3 then 0x80..0x9E), whose small letters are
 * 0x20 above them.
 */
static unsigned char folded(const unsigned char *w, size_t i)
{
    unsigned char c = w[i];

    if (c >= 'A' && c <= 'Z')
        return (unsigned char)(c + 0x20);
    if (i > 0 && w[i - 1] == 0xc3 && c >= 0x80 && c <= 0x9e && c != 0x97)
        return (unsigned char)(c + 0x20);
    return c;
}

int words_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++) {
        if (folded((const unsigned char *)a, i) != folded((const unsigned char *)b, i))
            return 0;
    }
    return 1;
}

void words_fold(const char *word, size_t len, char *out)
{
    /* Backwards, so that `out` may be `word`: byte i looks only at byte i - 1, still unfolded. */
    for (size_t i = len; i > 0; i--)
        out[i - 1] = (char)folded((const unsigned char *)word, i - 1);
}

int words_match_keyword(const char *text, const char *keyword)
{
    const char *s = text, *start, *k, *q, *kw, *qw;
    size_t slen, kl, ql;
    int ok;

    if (!keyword)
        return 0;
    while (words_next(&s, &start, &slen)) {
        k = keyword;
        q = start;
        ok = 0;
        while (words_next(&k, &kw, &kl)) {
            ok = words_next(&q, &qw, &ql) && words_equal(kw, kl, qw, ql);
            if (!ok)
                break;
        }
        if (ok)
            return 1;
    }
    return 0;
}

int words_match_any(const char *text, const char *const *keywords)
{
    for (; keywords && *keywords; keywords++) {
        if (words_match_keyword(text, *keywords))
            return 1;
    }
    return 0;
}

int words_same(const char *a, const char *b)
{
    const char *wa, *wb;
    size_t la, lb;

    for (;;) {
        int more_a = words_next(&a, &wa, &la);
        int more_b = words_next(&b, &wb, &lb);

        if (!more_a || !more_b)
            return more_a == more_b;
        if (!words_equal(wa, la, wb, lb))
            return 0;
    }
}
