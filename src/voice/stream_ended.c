#include <string.h>

#include "agent/agent.h"
#include "core/log.h"
#include "core/twiml.h"
#include "voice/call_context.h"
#include "voice/listen.h"
#include "voice/voice.h"
#include "core/banned.h"

static const char *const outcome_names[] = {"unknown", "transfer", "hangup", "stopped"};

void voice_stream_ended(const struct voice_ctx *ctx, const struct form *params, struct reply *out)
{
    struct call_context cc;
    struct voice_stream_end end = {VOICE_STREAM_UNKNOWN};
    struct twiml t;
    const char *missing = NULL;

    if (call_context_init(&cc, ctx->routes, params, &missing) || !cc.route) {
        log_event(LOG_WARN, "stream.ended_unrouted", "call_sid=%s reason=\"%s\"",
                  cc.call_sid ? cc.call_sid : "-", missing ? missing : "number not routed");
        voice_apology(out);
        return;
    }
    if (ctx->stream_outcome)
        ctx->stream_outcome(ctx->stream_outcome_arg, cc.call_sid, &end);
    log_event(LOG_INFO, "stream.ended", "call_sid=%s outcome=%s", cc.call_sid,
              outcome_names[end.outcome]);
    twiml_init(&t);
    if (end.outcome == VOICE_STREAM_TRANSFER && cc.route->tenant->transfer_number[0]) {
        listen_transfer(&t, &cc);
    } else if (end.outcome == VOICE_STREAM_HANGUP) {
        /* The agent said goodbye on the stream already. */
        twiml_leaf(&t, "Hangup", NULL, NULL);
    } else {
        listen_say(&t, &cc, agent_goodbye(cc.lang));
        twiml_leaf(&t, "Hangup", NULL, NULL);
    }
    listen_finish(&t, &cc, "stream.ended", out);
}
