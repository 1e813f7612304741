#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "core/log.h"
#include "core/twiml.h"
#include "voice/call_context.h"
#include "voice/listen.h"
#include "voice/voice.h"
#include "core/banned.h"

void voice_gather(const struct voice_ctx *ctx, const struct form *params, struct reply *out)
{
    struct call_context cc;
    const struct agent_ops *ops;
    struct agent_call call;
    struct agent_turn turn;
    struct agent_reply reply;
    const char *missing = NULL;

    if (call_context_init(&cc, ctx->routes, params, &missing)) {
        log_event(LOG_WARN, "gather.rejected", "call_sid=%s reason=\"missing %s\"",
                  cc.call_sid ? cc.call_sid : "-", missing);
        voice_apology(out);
        return;
    }
    if (!cc.route) {
        log_event(LOG_INFO, "gather.unrouted", "call_sid=%s to=%s", cc.call_sid, cc.to_log);
        voice_apology(out);
        return;
    }
    /* The same agent engine as on media streams; a webhook turn has no state to keep. */
    ops = agent_for(cc.route->number.agent);
    memset(&call, 0, sizeof(call));
    call.call_sid = cc.call_sid;
    call.tenant_name = cc.route->tenant->name;
    call.lang = cc.lang;
    call.greeting = NULL;
    call.can_transfer = cc.route->tenant->transfer_number[0] != '\0';
    memset(&turn, 0, sizeof(turn));
    turn.lang = cc.lang;
    turn.speech = form_get(params, "SpeechResult");
    turn.digits = form_get(params, "Digits");
    turn.tenant_name = cc.route->tenant->name;
    turn.can_transfer = call.can_transfer;
    if (agent_answer_now(ops, &call, &turn, &reply) != 0) {
        log_event(LOG_WARN, "gather.agent_failed", "call_sid=%s agent=%s", cc.call_sid, ops->name);
        agent_rules_turn(&turn, &reply);
    }
    voice_gather_answer(&cc, reply.action, reply.text, out);
}

void voice_gather_answer(const struct call_context *cc, enum agent_action action, const char *text,
                         struct reply *out)
{
    struct twiml t;

    log_event(LOG_INFO, "gather.turn", "call_sid=%s action=%s", cc->call_sid,
              action == AGENT_TRANSFER ? "transfer"
              : action == AGENT_HANGUP ? "hangup"
                                       : "continue");
    twiml_init(&t);
    switch (action) {
    case AGENT_TRANSFER:
        listen_say(&t, cc, text);
        listen_transfer(&t, cc);
        break;
    case AGENT_HANGUP:
        listen_say(&t, cc, text);
        twiml_leaf(&t, "Hangup", NULL, NULL);
        break;
    case AGENT_CONTINUE:
        listen_write(&t, cc, text);
        break;
    }
    listen_finish(&t, cc, "gather.turn", out);
}

void voice_gather_hold(const struct call_context *cc, const char *filler, const char *path,
                       struct reply *out)
{
    static const char *const post[] = {"method", "POST", NULL};
    struct twiml t;

    twiml_init(&t);
    if (filler && *filler)
        listen_say(&t, cc, filler);
    twiml_leaf(&t, "Redirect", post, path);
    listen_finish(&t, cc, "gather.hold", out);
}
