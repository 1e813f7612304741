/* What every voice webhook derives from its parameters: who, where, which language. */
#ifndef SB_VOICE_CALL_CONTEXT_H
#define SB_VOICE_CALL_CONTEXT_H

#include "core/err.h"
#include "core/form.h"
#include "core/redact.h"
#include "store/routes.h"

struct call_context {
    const char *call_sid;
    const char *from;
    const char *to;
    const struct route *route;  /* NULL for an unknown or inactive number */
    const char *lang;           /* caller's language, set when route is set */
    char from_log[REDACT_SIZE]; /* redacted for log lines */
    char to_log[REDACT_SIZE];
    /* Its Gathers ask Twilio for partial results (an LLM agent starts thinking early). */
    int partial_results;
    /*
     * A call switchboard placed (Direction outbound-api): `to` is the person
     * called, `from` the tenant's number, which routes it when `to` is none
     * of ours. Its language is the route's tenant default (a job's language,
     * see server/outbound_route.h), not a guess from the country code.
     */
    int outbound;
};

/**
 * Reads CallSid, From and To and routes the call: by To, or for an outbound
 * call whose To is not routed, by From. Returns 0 when the
 * parameters are present (route may still be NULL), or SB_EINVAL naming the
 * first missing one in *missing.
 */
SB_MUST_CHECK int call_context_init(struct call_context *cc, const struct routes *routes,
                                    const struct form *params, const char **missing);

/** The language tag to give Twilio's speech recogniser for `lang` ("es" -> "es-US"). */
const char *call_context_speech_lang(const char *lang);

#endif
