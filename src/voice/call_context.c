#include "voice/call_context.h"

#include <string.h>

#include "core/e164.h"
#include "core/err.h"
#include "core/lang.h"
#include "core/banned.h"

int call_context_init(struct call_context *cc, const struct routes *routes,
                      const struct form *params, const char **missing)
{
    const struct route *route;
    const char *direction = form_get(params, "Direction");

    memset(cc, 0, sizeof(*cc));
    cc->call_sid = form_get(params, "CallSid");
    cc->from = form_get(params, "From");
    cc->to = form_get(params, "To");
    redact_number(cc->from, cc->from_log);
    redact_number(cc->to, cc->to_log);
    if (!cc->call_sid || !*cc->call_sid) {
        *missing = "CallSid";
        return SB_EINVAL;
    }
    if (!cc->from) {
        *missing = "From";
        return SB_EINVAL;
    }
    if (!cc->to || !*cc->to) {
        *missing = "To";
        return SB_EINVAL;
    }
    cc->outbound = direction && strncmp(direction, "outbound", 8) == 0;
    route = e164_valid(cc->to) && routes ? routes_find(routes, cc->to) : NULL;
    if (!route && cc->outbound && routes && e164_valid(cc->from))
        route = routes_find(routes, cc->from);
    if (route && route->number.active && route->tenant) {
        cc->route = route;
        /* The person called did not call us: their country code says nothing of the job's language.
         */
        cc->lang = cc->outbound ? route->tenant->default_lang
                                : lang_for_caller(cc->from, route->tenant->default_lang);
    }
    return 0;
}

const char *call_context_speech_lang(const char *lang)
{
    /* Twilio's recogniser wants a region; Polly.Lupe's is US Spanish. */
    if (lang_same(lang, "es"))
        return "es-US";
    if (lang_same(lang, "en"))
        return "en-US";
    return lang;
}
