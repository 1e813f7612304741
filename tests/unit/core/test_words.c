/* Tests for core/words: the words of what a caller says. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "core/words.h"

/* The words of `text` joined with '|', e.g. "cuál|es|el|horario". */
static const char *split(const char *text)
{
    static char out[512];
    const char *pos = text, *w;
    size_t len, o = 0;

    out[0] = '\0';
    while (words_next(&pos, &w, &len)) {
        cr_assert_lt(o + len + 2, sizeof(out));
        if (o)
            out[o++] = '|';
        memcpy(out + o, w, len);
        o += len;
        out[o] = '\0';
    }
    return out;
}

Test(words, spanish_question_marks_separate_words)
{
    cr_assert_str_eq(split("¿Cuál es el horario?"), "Cuál|es|el|horario");
    cr_assert_str_eq(split("¡Hola!"), "Hola");
    cr_assert_str_eq(split("«sí»"), "sí");
}

Test(words, accented_letters_are_letters)
{
    cr_assert_str_eq(split("ÁÉÍÓÚÜÑ áéíóúüñ"), "ÁÉÍÓÚÜÑ|áéíóúüñ");
    cr_assert_str_eq(split("mañana,pingüino"), "mañana|pingüino");
    /* Other scripts are letters too. */
    cr_assert_str_eq(split("Ωμέγα привет"), "Ωμέγα|привет");
}

Test(words, english_punctuation_separates)
{
    cr_assert_str_eq(split("I'd like to talk to a PERSON, please."),
                     "I|d|like|to|talk|to|a|PERSON|please");
    cr_assert_str_eq(split("...human!!!"), "human");
    cr_assert_str_eq(split("  \t\n"), "");
    cr_assert_str_eq(split(""), "");
}

Test(words, digit_runs_are_words_of_their_own)
{
    cr_assert_str_eq(split("2."), "2");
    cr_assert_str_eq(split("24hours"), "24|hours");
    cr_assert_str_eq(split("room 101b"), "room|101|b");
}

Test(words, symbols_and_punctuation_outside_ascii_separate)
{
    /* × ÷, no-break space, em dash, curly quotes, ellipsis, zero-width space, ideographic full
     * stop. */
    cr_assert_str_eq(split("2×3÷4"), "2|3|4");
    cr_assert_str_eq(split("a\xc2\xa0"
                           "b"),
                     "a|b");
    cr_assert_str_eq(split("sí—no “cita”… ok\xe2\x80\x8bya。fin"), "sí|no|cita|ok|ya|fin");
}

Test(words, invalid_utf8_separates)
{
    /* A stray continuation byte, a cut sequence, an overlong '/', a surrogate. */
    cr_assert_str_eq(split("a\x80"
                           "b"),
                     "a|b");
    cr_assert_str_eq(split("ab\xc3"), "ab");
    cr_assert_str_eq(split("a\xe2\x80"), "a");
    cr_assert_str_eq(split("a\xc0\xaf"
                           "b"),
                     "a|b");
    cr_assert_str_eq(split("a\xed\xa0\x80"
                           "b"),
                     "a|b");
    cr_assert_str_eq(split("a\xff"
                           "b"),
                     "a|b");
}

Test(words, null_text_has_no_words)
{
    const char *pos = NULL, *w;
    size_t len;

    cr_assert_eq(words_next(&pos, &w, &len), 0);
    cr_assert_not(words_match_keyword(NULL, "agente"));
    cr_assert_not(words_match_keyword("agente", NULL));
}

Test(words, equal_folds_ascii_and_latin1_capitals)
{
    cr_assert(words_equal("AGENTE", 6, "agente", 6));
    cr_assert(words_equal("ESPAÑOL", 8, "español", 8));
    cr_assert(words_equal("CUÁL", 5, "cuál", 5));
    cr_assert(words_equal("PINGÜINO", 9, "pingüino", 9));
    /* Accents are not dropped: "si" is not "sí". */
    cr_assert_not(words_equal("si", 2, "sí", 3));
    cr_assert_not(words_equal("cita", 4, "cíta", 5));
    cr_assert_not(words_equal("agent", 5, "agente", 6));
    /* × (U+00D7) is no capital of ÷ (U+00F7). */
    cr_assert_not(words_equal("\xc3\x97", 2, "\xc3\xb7", 2));
}

Test(words, fold_in_place)
{
    char w[] = "ÁÉÍÓÚÜÑ AGENTE Sí";

    words_fold(w, strlen(w), w);
    cr_assert_str_eq(w, "áéíóúüñ agente sí");
}

Test(words, keywords_in_spanish)
{
    cr_assert(words_match_keyword("quiero hablar con un agente", "agente"));
    cr_assert(words_match_keyword("AGENTE", "agente"));
    cr_assert(words_match_keyword("agente", "AGENTE"));
    cr_assert(words_match_keyword("sí", "sí"));
    cr_assert(words_match_keyword("SÍ, por favor", "sí"));
    cr_assert(words_match_keyword("¿Cuál es el horario?", "horario"));
    cr_assert(words_match_keyword("¿Cuál es el horario?", "cuál es"));
    cr_assert_not(words_match_keyword("si", "sí"));
    cr_assert_not(words_match_keyword("quiero hablar con un agente", "agentes"));
    cr_assert_not(words_match_keyword("quiero hablar con un agente", "hablar un"));
}

Test(words, keywords_in_english)
{
    cr_assert(words_match_keyword("I'd like to talk to a PERSON, please.", "person"));
    cr_assert(words_match_keyword("I want to speak to a real person", "real person"));
    cr_assert(words_match_keyword("What are your hours?", "hours"));
    cr_assert(words_match_keyword("open 24hours", "hours"));
    /* Whole words only. */
    cr_assert_not(words_match_keyword("appointments", "appointment"));
    cr_assert_not(words_match_keyword("it's personal", "person"));
    cr_assert_not(words_match_keyword("this", "hi"));
}

Test(words, keyword_without_words_matches_nothing)
{
    cr_assert_not(words_match_keyword("anything at all", ""));
    cr_assert_not(words_match_keyword("anything at all", "¿?"));
    cr_assert_not(words_match_keyword("", "a"));
}

Test(words, any_of_a_list)
{
    static const char *const person[] = {"human", "agente", NULL};

    cr_assert(words_match_any("Quiero un AGENTE", person));
    cr_assert(words_match_any("a human, please", person));
    cr_assert_not(words_match_any("the agent", person));
    cr_assert_not(words_match_any("human", NULL));
}

Test(words, same_ignores_punctuation_spacing_and_case)
{
    cr_assert(words_same("¿Abren el SÁBADO?", "abren el sábado"));
    cr_assert(words_same("I'd like  a cleaning.", "i d like a cleaning"));
    cr_assert(words_same(NULL, "  ¿? "));
    cr_assert_not(words_same("abren el sábado", "abren el sabado"));
    cr_assert_not(words_same("book a cleaning", "book a cleaning tomorrow"));
    cr_assert_not(words_same("book a cleaning tomorrow", "book a cleaning"));
    cr_assert_not(words_same("uno dos", NULL));
}
