/* Tests of src/agent/speakable.c: where streamed text is cut into pieces to speak. */
#include <criterion/criterion.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "agent/speakable.h"
#include "core/buf.h"
#include "core/err.h"

/* The pieces, each followed by '|'. */
struct pieces {
    struct buf out;
    int stop_after; /* stop (return 7) after this many pieces; 0 never */
    int count;
};

static int collect(void *arg, const char *piece, size_t len)
{
    struct pieces *p = arg;

    cr_assert_gt(len, 0);
    cr_assert_eq(buf_append(&p->out, piece, len), 0);
    cr_assert_eq(buf_putc(&p->out, '|'), 0);
    p->count++;
    return p->stop_after && p->count >= p->stop_after ? 7 : 0;
}

/* Feeds `text` in pieces of `step` bytes (0: whole), then flushes; returns the pieces. */
static const char *split(struct pieces *p, const char *text, size_t step)
{
    struct speakable s;
    size_t n = strlen(text);

    buf_init(&p->out, 1 << 16);
    p->count = 0;
    p->stop_after = 0;
    speakable_init(&s, 0, 0);
    for (size_t at = 0; at < n;) {
        size_t k = step == 0 || step > n - at ? n - at : step;

        cr_assert_eq(speakable_push(&s, text + at, k, collect, p), 0);
        at += k;
    }
    cr_assert_eq(speakable_flush(&s, collect, p), 0);
    cr_assert_eq(s.pending.len, 0);
    speakable_release(&s);
    return p->out.data ? p->out.data : "";
}

/* The same pieces however the text is cut, down to one byte at a time. */
static void expect(const char *text, const char *want)
{
    static const size_t steps[] = {0, 1, 2, 3, 5, 7, 13};

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct pieces p;

        cr_assert_str_eq(split(&p, text, steps[i]), want, "step %zu", steps[i]);
        buf_release(&p.out);
    }
}

Test(speakable, sentences)
{
    expect("Hello there. How can I help you today?", "Hello there.|How can I help you today?|");
    expect("Great! See you soon... Bye!", "Great!|See you soon...|Bye!|");
    expect("  Leading space.  ", "Leading space.|");
    expect("", "");
    expect("   ", "");
    expect("He said \"done.\" Then left.", "He said \"done.\"|Then left.|");
    expect("Line one\nLine two", "Line one|Line two|");
}

Test(speakable, spanish_marks)
{
    expect("¡Hola! ¿En qué puedo ayudarle hoy?", "¡Hola!|¿En qué puedo ayudarle hoy?|");
    /* an opening ¿ right after the end starts the next sentence */
    expect("Perfecto.¿Algo más?", "Perfecto.|¿Algo más?|");
    expect("Claro…¡Qué bien! Adiós.", "Claro…|¡Qué bien!|Adiós.|");
    expect("Bueno… creo que sí.", "Bueno… creo que sí.|");
    expect("Dijo «vale.» Luego colgó.", "Dijo «vale.»|Luego colgó.|");
}

Test(speakable, numbers_and_abbreviations)
{
    expect("Abrimos a las 9.30 y cerramos a las 18:00. Cuesta 3,50 €.",
           "Abrimos a las 9.30 y cerramos a las 18:00.|Cuesta 3,50 €.|");
    expect("El Dr. García y la Sra. López le atienden. Gracias.",
           "El Dr. García y la Sra. López le atienden.|Gracias.|");
    expect("Bring an ID, e.g. a passport. Thanks.", "Bring an ID, e.g. a passport.|Thanks.|");
    expect("Ask for J. Smith at reception.", "Ask for J. Smith at reception.|");
    expect("We close at 5 p.m. and open at 9 a.m. Tomorrow too.",
           "We close at 5 p.m. and open at 9 a.m.|Tomorrow too.|");
    expect("etc. and so on. Done.", "etc. and so on.|Done.|");
    /* "1." of a list holds no word: it waits for its text */
    expect("1. Llame mañana. 2. Traiga el DNI.", "1. Llame mañana.|2. Traiga el DNI.|");
    expect("Our number is 555 1234. Call us.", "Our number is 555 1234.|Call us.|");
}

Test(speakable, clauses_only_when_long_enough)
{
    expect("Claro, le ayudo.", "Claro, le ayudo.|");
    /* 41 bytes up to the comma */
    expect("Tenemos citas libres el martes por la tarde, y también el jueves por la mañana.",
           "Tenemos citas libres el martes por la tarde,|y también el jueves por la mañana.|");
    expect("Primero necesito su nombre completo, por favor; después su número de teléfono.",
           "Primero necesito su nombre completo, por favor;|después su número de teléfono.|");
    /* not before a question or exclamation that continues the sentence */
    expect("Usted llamó ayer por la tarde para pedir una cita, ¿verdad? Bien.",
           "Usted llamó ayer por la tarde para pedir una cita, ¿verdad?|Bien.|");
    /* not inside a number */
    expect("El total de su pedido con el envío incluido es de 1,250 pesos mexicanos.",
           "El total de su pedido con el envío incluido es de 1,250 pesos mexicanos.|");
}

Test(speakable, long_text_without_boundaries)
{
    char text[1000], want[1100];
    size_t at = 0, w = 0;

    /* 90 words of "palabra " = 720 bytes: cut at the last space before 300 bytes */
    for (int i = 0; i < 90; i++)
        at += (size_t)snprintf(text + at, sizeof(text) - at, "palabra ");
    text[at - 1] = '\0';
    for (int i = 0; i < 90; i++) {
        w += (size_t)snprintf(want + w, sizeof(want) - w, "palabra");
        want[w++] = (i == 36 || i == 73 || i == 89) ? '|' : ' ';
    }
    want[w] = '\0';
    expect(text, want);
}

Test(speakable, long_run_without_spaces_cuts_on_a_character)
{
    char text[700];
    struct pieces p;
    const char *out;
    size_t at = 0;

    /* "ñ" is 2 bytes; 300 is even, so shift by one ASCII byte to force a back-off */
    text[at++] = 'x';
    while (at + 2 < sizeof(text)) {
        text[at++] = '\xc3';
        text[at++] = '\xb1';
    }
    text[at] = '\0';
    out = split(&p, text, 1);
    cr_assert_eq(p.count, 3);
    cr_assert_eq(strchr(out, '|') - out, 299); /* 300 would split "ñ" */
    for (const char *c = out; *c; c++)
        if (*c == '|')
            cr_assert_neq((unsigned char)c[1] & 0xc0, 0x80, "a piece starts inside a character");
    buf_release(&p.out);
}

Test(speakable, multibyte_split_across_pushes)
{
    struct speakable s;
    struct pieces p = {BUF_INIT(1024), 0, 0};
    const char *t = "¿Qué tal? Bien…";

    speakable_init(&s, 0, 0);
    /* every byte alone, so "¿" and "…" arrive in halves */
    for (size_t i = 0; t[i]; i++)
        cr_assert_eq(speakable_push(&s, t + i, 1, collect, &p), 0);
    cr_assert_str_eq(p.out.data, "¿Qué tal?|");
    cr_assert_eq(speakable_flush(&s, collect, &p), 0);
    cr_assert_str_eq(p.out.data, "¿Qué tal?|Bien…|");
    /* an unfinished character at the very end is not spoken */
    cr_assert_eq(speakable_push(&s, "Fin\xe2\x80", 5, collect, &p), 0);
    cr_assert_eq(speakable_flush(&s, collect, &p), 0);
    cr_assert_str_eq(p.out.data, "¿Qué tal?|Bien…|Fin|");
    speakable_release(&s);
    buf_release(&p.out);
}

Test(speakable, stop_and_reset)
{
    struct speakable s;
    struct pieces p = {BUF_INIT(1024), 1, 0};

    speakable_init(&s, 0, 0);
    cr_assert_eq(speakable_push(&s, "Uno. Dos. Tres. Cuatro", 22, collect, &p), 7);
    cr_assert_str_eq(p.out.data, "Uno.|");
    p.stop_after = 0;
    cr_assert_eq(speakable_push(&s, " y", 2, collect, &p), 0);
    cr_assert_str_eq(p.out.data, "Uno.|Dos.|Tres.|");
    speakable_reset(&s);
    cr_assert_eq(speakable_flush(&s, collect, &p), 0);
    cr_assert_str_eq(p.out.data, "Uno.|Dos.|Tres.|");
    cr_assert_eq(speakable_push(&s, "Otra vez.", 9, collect, &p), 0);
    cr_assert_eq(speakable_flush(&s, collect, &p), 0);
    cr_assert_str_eq(p.out.data, "Uno.|Dos.|Tres.|Otra vez.|");
    speakable_release(&s);
    speakable_release(&s);
    buf_release(&p.out);
}

Test(speakable, custom_thresholds)
{
    struct speakable s;
    struct pieces p = {BUF_INIT(1024), 0, 0};

    speakable_init(&s, 5, 1);
    cr_assert_eq(s.max_piece, 16);
    cr_assert_eq(
        speakable_push(&s, "Hola amigo, qué tal", strlen("Hola amigo, qué tal"), collect, &p), 0);
    cr_assert_eq(speakable_flush(&s, collect, &p), 0);
    cr_assert_str_eq(p.out.data, "Hola amigo,|qué tal|");
    speakable_release(&s);
    buf_release(&p.out);
}
