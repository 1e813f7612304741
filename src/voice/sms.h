/*
 * Text messages: the SMS fallback's template and the keywords of Twilio's
 * inbound SMS webhook (/sms/incoming) that opt a number out or back in.
 * Pure functions: no store, no sockets; any thread may call them.
 *
 * Ownership: every argument is only read; `out` is the caller's buffer.
 */
#ifndef SB_VOICE_SMS_H
#define SB_VOICE_SMS_H

#include <stddef.h>

#include "core/err.h"
#include "voice/voice.h"

/* What an inbound message's body asks for. */
enum sms_keyword {
    SMS_KEYWORD_NONE,  /* anything else */
    SMS_KEYWORD_STOP,  /* STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT */
    SMS_KEYWORD_START, /* START, YES, UNSTOP */
};

/**
 * The keyword of a message body: the whole body, ASCII case ignored, after
 * trimming spaces, tabs and line ends. NULL is SMS_KEYWORD_NONE.
 */
enum sms_keyword sms_keyword(const char *body);

/**
 * Writes the template with every "{{name}}" replaced by `name` and every
 * "{{tenant}}" by `tenant` (NULL: "") to `out`. Returns 0, or SB_ETOOBIG
 * when it does not fit `size` (then out is "").
 */
SB_MUST_CHECK int sms_fill(const char *template_text, const char *name, const char *tenant,
                           char *out, size_t size);

/** The answer to /sms/incoming: 200, text/xml, "<Response/>" (Twilio sends nothing). */
SB_MUST_CHECK int sms_reply(struct reply *out);

#endif
