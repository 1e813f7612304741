#include "core/status_events.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/banned.h"

static const struct {
    const char *name;
    unsigned bit;
} names[] = {
    {"initiated", STATUS_EVENT_INITIATED},
    {"ringing", STATUS_EVENT_RINGING},
    {"answered", STATUS_EVENT_ANSWERED},
    {"completed", STATUS_EVENT_COMPLETED},
};

static int separator(char c)
{
    return c == ' ' || c == ',';
}

int status_events_parse(const char *text, size_t len, unsigned *bits, char *bad, size_t badsize)
{
    unsigned found = 0;
    size_t i = 0;

    if (!bits || (!text && len))
        return SB_EINVAL;
    while (i < len) {
        size_t start, n, k;

        while (i < len && separator(text[i]))
            i++;
        start = i;
        while (i < len && !separator(text[i]))
            i++;
        n = i - start;
        if (n == 0)
            continue;
        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            if (strlen(names[k].name) == n && memcmp(names[k].name, text + start, n) == 0)
                break;
        }
        if (k == sizeof(names) / sizeof(names[0])) {
            /* A NUL inside the word is no name either; the copy stops there. */
            if (bad && badsize)
                snprintf(bad, badsize, "%.*s", (int)(n < 256 ? n : 256), text + start);
            return SB_EPARSE;
        }
        found |= names[k].bit;
    }
    *bits |= found;
    return 0;
}
