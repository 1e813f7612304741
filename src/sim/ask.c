/* --interactive: the person at the keyboard plays the caller. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/call_internal.h"
#include "core/banned.h"

const char *sim_action_name(enum sim_action_kind kind)
{
    static const char *const names[] = {"press",  "say",        "silence",     "dial",
                                        "record", "play",       "wait",        "listen",
                                        "hangup", "expect say", "expect dial", "expect hangup"};

    return (size_t)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

/* Reads one line without its newline; returns 0 at end of input. */
static int read_line(FILE *in, char *buf, size_t size)
{
    size_t n;

    if (!fgets(buf, (int)size, in))
        return 0;
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return 1;
}

const struct sim_action *call_ask(struct call *c, const char *what)
{
    FILE *in = c->o->in ? c->o->in : stdin;
    FILE *out = c->o->out ? c->o->out : stdout;
    struct sim_action *a = &c->asked;
    char *line = c->asked_text;
    size_t size = sizeof(c->asked_text);

    memset(a, 0, sizeof(*a));
    a->text = line;
    if (strcmp(what, "dial") == 0) {
        fprintf(out, "dial: does the callee answer? [answer]/busy/no-answer/failed > ");
        fflush(out);
        if (!read_line(in, line, size))
            snprintf(line, size, "answer");
        a->kind = SIM_DIAL;
        a->seconds = 5;
        a->dial = strcmp(line, "busy") == 0        ? SIM_DIAL_BUSY
                  : strcmp(line, "no-answer") == 0 ? SIM_DIAL_NO_ANSWER
                  : strcmp(line, "failed") == 0    ? SIM_DIAL_FAILED
                                                   : SIM_DIAL_ANSWER;
        return a;
    }
    if (strcmp(what, "record") == 0) {
        fprintf(out, "record: seconds to record (empty: silence, 'hangup') > ");
        fflush(out);
        if (!read_line(in, line, size) || strcmp(line, "hangup") == 0) {
            a->kind = SIM_HANGUP;
            return a;
        }
        a->kind = *line ? SIM_RECORD : SIM_SILENCE;
        a->seconds = strtod(line, NULL);
        line[0] = '\0';
        return a;
    }
    fprintf(out, "%s: keys or words (empty: silence, 'hangup' to hang up) > ", what);
    fflush(out);
    if (!read_line(in, line, size) || strcmp(line, "hangup") == 0) {
        a->kind = SIM_HANGUP;
    } else if (*line == '\0') {
        a->kind = SIM_SILENCE;
    } else if (strspn(line, "0123456789*#") == strlen(line)) {
        a->kind = SIM_PRESS;
    } else {
        a->kind = SIM_SAY;
    }
    return a;
}
