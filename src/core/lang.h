/*
 * Language tags: the caller's language from their number, and the one way
 * switchboard compares BCP-47 tags.
 *
 * The rules, everywhere a tag is compared:
 *   - tags compare without regard to ASCII case (RFC 5646), and '_' equals
 *     '-' ("EN_us" is "en-US"), since some systems write "es_419";
 *   - the base language is the first subtag, everything before the first
 *     '-' or '_' ("es" of "es-MX", "cmn" of "cmn-CN"); two tags share it
 *     only when the whole subtags are equal ("est" is not "es");
 *   - NULL, "" and tags with an empty first subtag ("-MX") match nothing;
 *   - the best of several tags for a wanted one is the exact tag, else the
 *     base language written alone ("es" for "es-MX"), else another tag of
 *     the same base language ("es-US"), the first in order among equals.
 */
#ifndef SB_CORE_LANG_H
#define SB_CORE_LANG_H

#include <stddef.h>

/**
 * Returns the BCP-47 language for a caller: "en-US" for +1, "es-MX" for +52,
 * "es" for other Spanish-speaking country codes, else `fallback` (or "es"
 * when fallback is NULL or empty). `from` may be anything Twilio sends
 * ("anonymous", "client:bob"); non-E.164 callers get the fallback.
 * The result is a static string or `fallback` itself.
 */
const char *lang_for_caller(const char *from, const char *fallback);

/**
 * Returns the base language of a tag in lower case, from a table of known
 * languages (ISO 639-1 and the three-letter codes Twilio's voices use):
 * "es" for "es-MX" or "ES_mx" (static storage); "" for NULL and unknown
 * languages.
 */
const char *lang_base(const char *tag);

/** The length of the base language of `tag` (0 for NULL, "" or "-MX"). */
size_t lang_base_len(const char *tag);

/** True when `a` and `b` are the same tag: "es-MX", "ES_mx". False when either is NULL or "". */
int lang_same(const char *a, const char *b);

/** True when `a` and `b` share their base language: "es-MX", "es_419", "ES". */
int lang_same_base(const char *a, const char *b);

/* How well a tag on offer serves a wanted tag; higher is better. */
enum lang_match {
    LANG_MATCH_NONE,
    LANG_MATCH_REGION, /* same base language, another region or script: "es-US" for "es-MX" */
    LANG_MATCH_BASE,   /* the base language alone: "es" for "es-MX" */
    LANG_MATCH_EXACT,  /* the same tag */
};

/** How well `have` serves `want` (see above). */
enum lang_match lang_match(const char *want, const char *have);

/**
 * The best of `n` items for `want`: the index of the first item with the
 * highest lang_match above NONE, or -1 when none shares the base language.
 * `tag_of(items, i)` returns item i's tag (NULL: it has none).
 */
int lang_best(const char *want, const void *items, size_t n,
              const char *(*tag_of)(const void *items, size_t i));

#endif
