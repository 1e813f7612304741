/*
 * libFuzzer target for core/words. The input, as a NUL-terminated string,
 * is the caller's speech. Besides the sanitizers (the tokenizer must never
 * read past the NUL) it checks that tokenizing is stable: every word lies
 * inside the text and is one word on its own; the words joined with spaces
 * give the same words again; folding keeps each word's length and
 * boundaries, is idempotent and compares equal; every word, and the whole
 * sequence, matches the text as a keyword.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/words.h"

#define MAX_WORDS 4096

struct word {
    const char *p;
    size_t len;
};

/* The words of `text` into `out` (at most MAX_WORDS); returns how many. */
static size_t split(const char *text, struct word *out)
{
    const char *pos = text, *w;
    size_t len, n = 0;

    while (n < MAX_WORDS && words_next(&pos, &w, &len)) {
        if (len == 0 || w < text || w + len > text + strlen(text) || pos != w + len)
            abort();
        out[n].p = w;
        out[n].len = len;
        n++;
    }
    return n;
}

/* Checks that `word` alone is exactly one word. */
static void check_alone(const struct word *w)
{
    char *copy = malloc(w->len + 1);
    const char *pos = copy, *p;
    size_t len;

    if (!copy)
        abort();
    memcpy(copy, w->p, w->len);
    copy[w->len] = '\0';
    if (!words_next(&pos, &p, &len) || p != copy || len != w->len || words_next(&pos, &p, &len))
        abort();
    free(copy);
}

static void check_fold(const struct word *w)
{
    char *once = malloc(w->len + 1), *twice = malloc(w->len + 1);

    if (!once || !twice)
        abort();
    words_fold(w->p, w->len, once);
    memcpy(twice, once, w->len);
    words_fold(twice, w->len, twice);
    if (memcmp(once, twice, w->len) != 0 || !words_equal(w->p, w->len, once, w->len) ||
        !words_equal(once, w->len, w->p, w->len))
        abort();
    once[w->len] = '\0';
    {
        struct word f = {once, w->len};

        check_alone(&f);
    }
    free(once);
    free(twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct word words[MAX_WORDS], again[MAX_WORDS];
    char *text = malloc(size + 1), *joined = NULL, *keyword;
    size_t n, m, total = 0, o = 0;

    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    n = split(text, words);
    if (n == MAX_WORDS)
        goto out;
    for (size_t i = 0; i < n; i++) {
        check_alone(&words[i]);
        check_fold(&words[i]);
        total += words[i].len + 1;
    }
    joined = malloc(total + 1);
    if (!joined)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (o)
            joined[o++] = ' ';
        memcpy(joined + o, words[i].p, words[i].len);
        o += words[i].len;
    }
    joined[o] = '\0';
    m = split(joined, again);
    if (m != n)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (again[i].len != words[i].len || memcmp(again[i].p, words[i].p, words[i].len) != 0)
            abort();
    }
    /* Words of the text are keywords it matches, and so is the whole sequence. */
    for (size_t i = 0; i < n && i < 16; i++) {
        keyword = strndup(words[i].p, words[i].len);
        if (!keyword || !words_match_keyword(text, keyword))
            abort();
        free(keyword);
    }
    if (words_match_keyword(text, joined) != (n > 0))
        abort();
    /* The text's second half as a keyword for its first: whatever the answer, no fault. */
    (void)words_match_keyword(text + size / 2, text);
out:
    free(joined);
    free(text);
    return 0;
}
