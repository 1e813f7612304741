#include "core/lang.h"

#include <stddef.h>
#include <string.h>

#include "core/e164.h"

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

const char *lang_base(const char *tag)
{
    size_t n, i, j;

    if (!tag)
        return "";
    n = strcspn(tag, "-");
    for (i = 0; i < sizeof(base_languages) / sizeof(base_languages[0]); i++) {
        const char *b = base_languages[i];

        if (strlen(b) != n)
            continue;
        /* Language tags are case-insensitive; the table holds the canonical lower case. */
        j = 0;
        while (j < n && lower_ascii(tag[j]) == b[j])
            j++;
        if (j == n)
            return b;
    }
    return "";
}
