#include "core/lang.h"

#include <stddef.h>
#include <string.h>

#include "core/e164.h"
#include "core/banned.h"

/*
 * Country calling codes of Spanish-speaking countries other than Mexico.
 * E.164 country codes form a prefix code (no code is the start of another),
 * so comparing the leading digits of a valid number against each full code
 * is exact: +55 (Brazil) matches nothing here, and +593 is never mistaken
 * for a two-digit code. The Dominican Republic and Puerto Rico dial +1 and
 * are therefore covered by the +1 rule.
 */
static const char *const spanish_codes[] = {
    "34",  /* Spain */
    "51",  /* Peru */
    "53",  /* Cuba */
    "54",  /* Argentina */
    "56",  /* Chile */
    "57",  /* Colombia */
    "58",  /* Venezuela */
    "240", /* Equatorial Guinea */
    "502", /* Guatemala */
    "503", /* El Salvador */
    "504", /* Honduras */
    "505", /* Nicaragua */
    "506", /* Costa Rica */
    "507", /* Panama */
    "591", /* Bolivia */
    "593", /* Ecuador */
    "595", /* Paraguay */
    "598", /* Uruguay */
};

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *lang_for_caller(const char *from, const char *fallback)
{
    size_t i;

    if (e164_valid(from)) {
        const char *digits = from + 1;

        if (has_prefix(digits, "1"))
            return "en-US";
        if (has_prefix(digits, "52"))
            return "es-MX";
        for (i = 0; i < sizeof(spanish_codes) / sizeof(spanish_codes[0]); i++) {
            if (has_prefix(digits, spanish_codes[i]))
                return "es";
        }
    }
    return (fallback && fallback[0]) ? fallback : "es";
}

/*
 * Base languages lang_base can name. The header promises static storage, so
 * the result must come from a table rather than from the caller's string:
 * every ISO 639-1 code, plus the three-letter codes that Twilio's voices use
 * (arb, cmn, fil, yue).
 */
static const char *const base_languages[] = {
    "aa", "ab", "ae", "af", "ak",  "am",  "an",  "ar",  "as", "av", "ay", "az", "ba", "be", "bg",
    "bh", "bi", "bm", "bn", "bo",  "br",  "bs",  "ca",  "ce", "ch", "co", "cr", "cs", "cu", "cv",
    "cy", "da", "de", "dv", "dz",  "ee",  "el",  "en",  "eo", "es", "et", "eu", "fa", "ff", "fi",
    "fj", "fo", "fr", "fy", "ga",  "gd",  "gl",  "gn",  "gu", "gv", "ha", "he", "hi", "ho", "hr",
    "ht", "hu", "hy", "hz", "ia",  "id",  "ie",  "ig",  "ii", "ik", "io", "is", "it", "iu", "ja",
    "jv", "ka", "kg", "ki", "kj",  "kk",  "kl",  "km",  "kn", "ko", "kr", "ks", "ku", "kv", "kw",
    "ky", "la", "lb", "lg", "li",  "ln",  "lo",  "lt",  "lu", "lv", "mg", "mh", "mi", "mk", "ml",
    "mn", "mr", "ms", "mt", "my",  "na",  "nb",  "nd",  "ne", "ng", "nl", "nn", "no", "nr", "nv",
    "ny", "oc", "oj", "om", "or",  "os",  "pa",  "pi",  "pl", "ps", "pt", "qu", "rm", "rn", "ro",
    "ru", "rw", "sa", "sc", "sd",  "se",  "sg",  "si",  "sk", "sl", "sm", "sn", "so", "sq", "sr",
    "ss", "st", "su", "sv", "sw",  "ta",  "te",  "tg",  "th", "ti", "tk", "tl", "tn", "to", "tr",
    "ts", "tt", "tw", "ty", "ug",  "uk",  "ur",  "uz",  "ve", "vi", "vo", "wa", "wo", "xh", "yi",
    "yo", "za", "zh", "zu", "arb", "cmn", "fil", "yue",
};

static char lower_ascii(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* One character of a tag as compared: lower case, '_' read as '-'. */
static char tag_char(char c)
{
    return c == '_' ? '-' : lower_ascii(c);
}

static int tag_equal(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (tag_char(a[i]) != tag_char(b[i]))
            return 0;
    }
    return 1;
}

size_t lang_base_len(const char *tag)
{
    return tag ? strcspn(tag, "-_") : 0;
}

const char *lang_base(const char *tag)
{
    size_t n = lang_base_len(tag), i;

    for (i = 0; n > 0 && i < sizeof(base_languages) / sizeof(base_languages[0]); i++) {
        const char *b = base_languages[i];

        /* The table holds the canonical lower case. */
        if (strlen(b) == n && tag_equal(tag, b, n))
            return b;
    }
    return "";
}

int lang_same(const char *a, const char *b)
{
    size_t n;

    if (lang_base_len(a) == 0 || lang_base_len(b) == 0)
        return 0;
    n = strlen(a);
    return n == strlen(b) && tag_equal(a, b, n);
}

int lang_same_base(const char *a, const char *b)
{
    size_t n = lang_base_len(a);

    return n > 0 && n == lang_base_len(b) && tag_equal(a, b, n);
}

enum lang_match lang_match(const char *want, const char *have)
{
    if (!lang_same_base(want, have))
        return LANG_MATCH_NONE;
    if (lang_same(want, have))
        return LANG_MATCH_EXACT;
    return have[lang_base_len(have)] == '\0' ? LANG_MATCH_BASE : LANG_MATCH_REGION;
}

int lang_best(const char *want, const void *items, size_t n,
              const char *(*tag_of)(const void *items, size_t i))
{
    enum lang_match best = LANG_MATCH_NONE;
    int found = -1;

    for (size_t i = 0; i < n && best != LANG_MATCH_EXACT; i++) {
        enum lang_match m = lang_match(want, tag_of(items, i));

        if (m > best) {
            best = m;
            found = (int)i;
        }
    }
    return found;
}
