/* The starter tier's speech turn, shared by the incoming and gather webhooks. */
#ifndef SB_VOICE_LISTEN_H
#define SB_VOICE_LISTEN_H

#include "core/twiml.h"
#include "voice/call_context.h"
#include "voice/voice.h"

/**
 * Writes `<Gather input="speech" action="/voice/gather" ...><Say>text</Say>
 * </Gather>` in the caller's language and voice, followed by the goodbye and
 * <Hangup /> that run when the caller says nothing. Errors stay in `t`.
 */
void listen_write(struct twiml *t, const struct call_context *cc, const char *text);

/** Writes the caller-language `<Say>` of `text` with the tenant's voice. */
void listen_say(struct twiml *t, const struct call_context *cc, const char *text);

/**
 * Connects the caller to the tenant's transfer number from the Twilio number
 * they called, then says goodbye when the person does not answer.
 */
void listen_transfer(struct twiml *t, const struct call_context *cc);

/**
 * Finishes `t` into `out` as 200 TwiML; on a builder failure logs it with the
 * CallSid and answers the apology instead.
 */
void listen_finish(struct twiml *t, const struct call_context *cc, const char *event,
                   struct reply *out);

#endif
