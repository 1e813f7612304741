/*
 * Twilio's StatusCallbackEvent list: which call progress events a status
 * callback is posted for ("initiated ringing answered completed"). The text
 * comes from API requests and the command line, so it is untrusted.
 */
#ifndef SB_CORE_STATUS_EVENTS_H
#define SB_CORE_STATUS_EVENTS_H

#include <stddef.h>

#include "core/err.h"

enum status_event_bit {
    STATUS_EVENT_INITIATED = 1,
    STATUS_EVENT_RINGING = 2,
    STATUS_EVENT_ANSWERED = 4,
    STATUS_EVENT_COMPLETED = 8,
};

/**
 * Parses `len` bytes of event names separated by spaces and/or commas and
 * ORs their STATUS_EVENT_* bits into `*bits` (so repeated parameters add
 * up). An empty list adds nothing. Returns 0, or SB_EPARSE at the first
 * unknown name, which is copied (cut to fit) into `bad` when `bad` is not
 * NULL; `*bits` is then left as it was.
 */
SB_MUST_CHECK int status_events_parse(const char *text, size_t len, unsigned *bits, char *bad,
                                      size_t badsize);

#endif
