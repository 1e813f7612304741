/* Picks the caller's language from the country code of their number. */
#ifndef SB_CORE_LANG_H
#define SB_CORE_LANG_H

/**
 * Returns the BCP-47 language for a caller: "en-US" for +1, "es-MX" for +52,
 * "es" for other Spanish-speaking country codes, else `fallback` (or "es"
 * when fallback is NULL or empty). `from` may be anything Twilio sends
 * ("anonymous", "client:bob"); non-E.164 callers get the fallback.
 * The result is a static string or `fallback` itself.
 */
const char *lang_for_caller(const char *from, const char *fallback);

/** Returns the base language of a tag: "es" for "es-MX" (static storage). */
const char *lang_base(const char *tag);

#endif
