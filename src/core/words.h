/*
 * The words of what a caller says, the one tokenizer every matcher of
 * caller speech uses (the rule agent, IVR flow keywords), so that a keyword
 * means the same everywhere.
 *
 * The rules:
 *   - a word is a run of letters or a run of ASCII digits: "24hours" is
 *     "24" and "hours", "2." is "2";
 *   - letters are the ASCII letters and the letters of well-formed UTF-8
 *     from U+00C0 up (á é í ó ú ü ñ, the rest of Latin, other scripts),
 *     except × and ÷, general punctuation (U+2000..U+206F: dashes, quotes,
 *     "…", zero-width spaces), CJK punctuation (U+3000..U+303F) and the
 *     byte-order mark;
 *   - everything else separates words: spaces, ASCII punctuation, U+0080..
 *     U+00BF ("¿", "¡", "«", no-break space), bytes that are not UTF-8;
 *   - words compare with ASCII letters and the Latin-1 capitals
 *     (U+00C0..U+00DE but ×: "Á", "Ñ", "Ü") lower-cased; accents stay
 *     ("si" is not "sí").
 */
#ifndef SB_CORE_WORDS_H
#define SB_CORE_WORDS_H

#include <stddef.h>

/**
 * Finds the first word at or after *pos in the NUL-terminated text: sets
 * *word and *len to it, moves *pos past it and returns 1; returns 0 when no
 * word is left (*pos NULL counts as an empty text).
 */
int words_next(const char **pos, const char **word, size_t *len);

/** True when two words (bytes, not NUL-terminated) are equal with case folded. */
int words_equal(const char *a, size_t alen, const char *b, size_t blen);

/**
 * Writes the `len` bytes of `word` with case folded to `out` (`len` bytes
 * too: folding keeps lengths). `out` may be `word`.
 */
void words_fold(const char *word, size_t len, char *out);

/**
 * True when the words of `keyword` appear one after another among the words
 * of `text`: "agente" in "Quiero hablar con un AGENTE.", "hablar con" in the
 * same; "agent" is not in "agents". A keyword with no word matches nothing;
 * either may be NULL.
 */
int words_match_keyword(const char *text, const char *keyword);

/**
 * True when two texts have the same words in the same order, whatever
 * their punctuation, spacing and case: "¿Abren el sábado?" and "abren el
 * Sábado" are the same. Either may be NULL (no words).
 */
int words_same(const char *a, const char *b);

/** True when any keyword of the NULL-terminated `keywords` matches `text`. */
int words_match_any(const char *text, const char *const *keywords);

#endif
