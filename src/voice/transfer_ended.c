/*
 * POST /voice/transfer-ended: the <Dial action> of an agent's transfer to a
 * person (listen_transfer). Twilio requests it when the dialled leg ends;
 * DialCallStatus says whether the person took the call.
 */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "core/e164.h"
#include "core/log.h"
#include "core/twiml.h"
#include "voice/call_context.h"
#include "voice/listen.h"
#include "voice/voice.h"
#include "core/banned.h"

/* Nobody took the call: busy, not answered, or the dial failed (a hang-up is the caller's). */
static int unreached(const char *status)
{
    return status && (strcmp(status, "busy") == 0 || strcmp(status, "no-answer") == 0 ||
                      strcmp(status, "failed") == 0);
}

int voice_transfer_ended(const struct voice_ctx *ctx, const struct form *params, struct reply *out,
                         struct transfer_text *text)
{
    struct call_context cc;
    struct twiml t;
    const char *missing = NULL;
    const char *status = form_get(params, "DialCallStatus");
    int due;

    memset(text, 0, sizeof(*text));
    if (call_context_init(&cc, ctx->routes, params, &missing) || !cc.route) {
        log_event(LOG_WARN, "transfer.ended_unrouted", "call_sid=%s reason=\"%s\"",
                  cc.call_sid ? cc.call_sid : "-", missing ? missing : "number not routed");
        voice_apology(out);
        return 0;
    }
    /* The SMS fallback is for callers who called us; a call we placed has its job's. */
    due = unreached(status) && !cc.outbound && e164_valid(cc.from);
    log_event(due ? LOG_WARN : LOG_INFO, "transfer.ended",
              "call_sid=%s tenant=%s from=%s dial_status=%s sms_due=%s", cc.call_sid,
              cc.route->tenant->name, cc.from_log, status ? status : "-", due ? "yes" : "no");
    if (due) {
        snprintf(text->tenant, sizeof(text->tenant), "%s", cc.route->tenant->name);
        snprintf(text->call_sid, sizeof(text->call_sid), "%s", cc.call_sid);
        snprintf(text->to, sizeof(text->to), "%s", cc.from);
        snprintf(text->from, sizeof(text->from), "%s", cc.to);
    }
    twiml_init(&t);
    listen_say(&t, &cc, agent_goodbye(cc.lang));
    twiml_leaf(&t, "Hangup", NULL, NULL);
    listen_finish(&t, &cc, "transfer.ended", out);
    return due;
}
