/*
 * libFuzzer target for sim/script: the input is a caller's script. Besides
 * the sanitizers it checks what a parse promises: on success every action
 * has the text its kind needs, seconds within a day and increasing line
 * numbers, and the actions are taken in order; on failure the script is
 * empty and the message names a line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/script.h"

static int needs_text(enum sim_action_kind k)
{
    return k == SIM_PRESS || k == SIM_SAY || k == SIM_PLAY || k == SIM_RECORD ||
           k == SIM_EXPECT_SAY || k == SIM_EXPECT_DIAL || k == SIM_EXPECT_HANGUP;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sim_script s = SIM_SCRIPT_INIT;
    char err[256];
    char *text;
    int rc, prev_line = 0;

    /* The parser reads a C string: the input up to its first NUL. */
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    err[0] = '\0';
    rc = sim_script_parse(&s, text, err, sizeof(err));
    if (rc == 0) {
        for (size_t i = 0; i < s.count; i++) {
            const struct sim_action *a = &s.actions[i];

            if (a->line <= prev_line)
                abort();
            prev_line = a->line;
            if (needs_text(a->kind) != (a->text != NULL))
                abort();
            if ((a->kind == SIM_PRESS || a->kind == SIM_SAY || a->kind == SIM_PLAY ||
                 a->kind == SIM_EXPECT_SAY || a->kind == SIM_EXPECT_DIAL) &&
                a->text[0] == '\0')
                abort();
            /* Written so that a NaN, which fails every comparison, stops the run too. */
            if (!(a->seconds >= 0 && a->seconds <= 86400))
                abort();
        }
        for (size_t i = 0; i < s.count; i++) {
            if (sim_script_peek(&s) != &s.actions[i] || sim_script_take(&s) != &s.actions[i])
                abort();
        }
        if (sim_script_peek(&s) || sim_script_take(&s))
            abort();
    } else if (rc == SB_EPARSE) {
        if (s.count != 0 || s.actions || strncmp(err, "line ", 5) != 0)
            abort();
    } else if (rc != SB_ENOMEM) {
        abort();
    }
    sim_script_release(&s);
    free(text);
    return 0;
}
