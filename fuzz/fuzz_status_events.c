/*
 * libFuzzer target for status_events_parse: StatusCallbackEvent values come
 * from API requests. Besides the sanitizers it checks the contract: success
 * sets only the four event bits, ORed into what was there, and every word
 * between spaces and commas is an event name; failure leaves the bits alone
 * and names a non-empty word that fits the buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/status_events.h"

static const char *const names[] = {"initiated", "ringing", "answered", "completed"};

/* 1 when every word of the input is an event name. */
static int all_names(const char *text, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t start, n, k;

        while (i < len && (text[i] == ' ' || text[i] == ','))
            i++;
        start = i;
        while (i < len && text[i] != ' ' && text[i] != ',')
            i++;
        n = i - start;
        if (!n)
            continue;
        for (k = 0; k < 4; k++) {
            if (strlen(names[k]) == n && memcmp(names[k], text + start, n) == 0)
                break;
        }
        if (k == 4)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    unsigned bits = 0, preset = STATUS_EVENT_COMPLETED;
    char bad[16];
    int rc;

    memset(bad, 'x', sizeof(bad));
    rc = status_events_parse(text, size, &bits, bad, sizeof(bad));
    if (rc != 0 && rc != SB_EPARSE)
        abort();
    if ((rc == 0) != all_names(text, size))
        abort();
    if (rc == 0) {
        if (bits & ~0xFu)
            abort();
        if (status_events_parse(text, size, &preset, NULL, 0) != 0 ||
            preset != (bits | STATUS_EVENT_COMPLETED))
            abort();
        return 0;
    }
    if (bits != 0 || !memchr(bad, '\0', sizeof(bad)))
        abort();
    return 0;
}
