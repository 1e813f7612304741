/*
 * POST /voice/relay-ended: Twilio's <Connect action> request when a
 * ConversationRelay session ends. The agent said why in the `end` message's
 * handoffData (media/relay.c: {"reasonCode": "live-agent-handoff" or
 * "end-call", "reason": ...}), which comes back here as HandoffData.
 */
#include <jansson.h>
#include <string.h>

#include "agent/agent.h"
#include "core/log.h"
#include "core/twiml.h"
#include "voice/call_context.h"
#include "voice/listen.h"
#include "voice/voice.h"
#include "core/banned.h"

/* The reasonCode of the handoff data, or "" (absent, or not the JSON we send). */
static void reason_code(const char *handoff, char *out, size_t size)
{
    json_error_t err;
    json_t *data = handoff && *handoff ? json_loads(handoff, 0, &err) : NULL;
    const char *code = json_string_value(json_object_get(data, "reasonCode"));

    snprintf(out, size, "%s", code ? code : "");
    json_decref(data);
}

void voice_relay_ended(const struct voice_ctx *ctx, const struct form *params, struct reply *out)
{
    struct call_context cc;
    struct twiml t;
    const char *missing = NULL;
    const char *session = form_get(params, "SessionStatus");
    const char *call_status = form_get(params, "CallStatus");
    char code[64];

    if (call_context_init(&cc, ctx->routes, params, &missing) || !cc.route) {
        log_event(LOG_WARN, "relay.ended_unrouted", "call_sid=%s reason=\"%s\"",
                  cc.call_sid ? cc.call_sid : "-", missing ? missing : "number not routed");
        voice_apology(out);
        return;
    }
    reason_code(form_get(params, "HandoffData"), code, sizeof(code));
    log_event(session && strcmp(session, "failed") == 0 ? LOG_WARN : LOG_INFO, "relay.ended",
              "call_sid=%s session_status=%s reason_code=%s error_code=%s", cc.call_sid,
              session ? session : "-", code[0] ? code : "-",
              form_get(params, "ErrorCode") ? form_get(params, "ErrorCode") : "-");
    twiml_init(&t);
    if ((session && strcmp(session, "completed") == 0) ||
        (call_status && strcmp(call_status, "completed") == 0)) {
        /* The caller hung up: nobody is left to hear anything. */
    } else if (strcmp(code, "live-agent-handoff") == 0 && cc.route->tenant->transfer_number[0]) {
        listen_transfer(&t, &cc);
    } else if (strcmp(code, "end-call") == 0) {
        /* The agent said goodbye in the session already. */
        twiml_leaf(&t, "Hangup", NULL, NULL);
    } else if (session && strcmp(session, "failed") == 0) {
        /* The session broke: never silence. A person if there is one, else an apology. */
        if (cc.route->tenant->transfer_number[0]) {
            listen_transfer(&t, &cc);
        } else {
            listen_say(&t, &cc, agent_goodbye(cc.lang));
            twiml_leaf(&t, "Hangup", NULL, NULL);
        }
    } else {
        listen_say(&t, &cc, agent_goodbye(cc.lang));
        twiml_leaf(&t, "Hangup", NULL, NULL);
    }
    listen_finish(&t, &cc, "relay.ended", out);
}
