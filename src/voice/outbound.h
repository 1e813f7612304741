/*
 * The TwiML of outbound calls (store/jobs.h): what the called person hears
 * when the call placed for a job connects, and the voicemail message left
 * when answering machine detection hears a machine's beep. Pure: no store,
 * no clock; any thread.
 */
#ifndef SB_VOICE_OUTBOUND_H
#define SB_VOICE_OUTBOUND_H

#include <stddef.h>

#include "core/err.h"
#include "store/jobs.h"
#include "store/store.h"
#include "voice/voice.h"

/**
 * Writes `text` with every "{{name}}" replaced by `name` (NULL: "") to
 * `out`. Returns 0, or SB_ETOOBIG when it does not fit `size`.
 */
SB_MUST_CHECK int outbound_fill_name(const char *text, const char *name, char *out, size_t size);

/**
 * The language of a job's call: its own, else the tenant's default, else
 * "en-US". Borrowed from `job` or `tenant`.
 */
const char *outbound_job_lang(const struct job *job, const struct tenant *tenant);

/**
 * Builds <Say voice language>text</Say><Hangup/> in the tenant's voice for
 * `lang` (voice/persona.h; `tenant` may be NULL). *doc is malloc'd. Returns
 * 0, or what core/twiml returns.
 */
SB_MUST_CHECK int outbound_say_twiml(const struct tenant *tenant, const char *lang,
                                     const char *text, char **doc, size_t *len);

/** The voicemail message for `lang` ("es...": Spanish, else English). Static. */
const char *outbound_voicemail_text(const char *lang);

/**
 * Answers /voice/outbound for `job` (status placing or placed): a say job's
 * text with the contact's name, spoken in the tenant's voice for the job's
 * language, then <Hangup/>. Flow and agent jobs are the server's to start
 * (the flow engine, voice_connect_agent); given one, this answers the
 * apology (logged). Always fills `out` with 200 TwiML.
 */
void voice_outbound(const struct job *job, const struct tenant *tenant, const char *call_sid,
                    struct reply *out);

#endif
