#include "voice/listen.h"

#include "agent/agent.h"
#include "core/err.h"
#include "core/log.h"
#include "voice/persona.h"
#include "voice/voice.h"
#include "core/banned.h"

void listen_say(struct twiml *t, const struct call_context *cc, const char *text)
{
    const char *attrs[] = {"voice", persona_voice(cc->route->tenant, cc->lang), NULL};

    twiml_leaf(t, "Say", attrs, text);
}

void listen_write(struct twiml *t, const struct call_context *cc, const char *text)
{
    const char *gather[] = {"input", "speech", "action", "/voice/gather", "speechTimeout", "auto",
                            "language", call_context_speech_lang(cc->lang),
                            /* Last: cut off when the call's agent does not use them. */
                            "partialResultCallback", GATHER_PARTIAL_PATH, NULL};

    if (!cc->partial_results)
        gather[8] = NULL;

    twiml_open(t, "Gather", gather);
    listen_say(t, cc, text);
    twiml_close(t);
    listen_say(t, cc, agent_goodbye(cc->lang));
    twiml_leaf(t, "Hangup", NULL, NULL);
}

void listen_finish(struct twiml *t, const struct call_context *cc, const char *event,
                   struct reply *out)
{
    char *doc = NULL;
    size_t len = 0;
    int rc = twiml_finish(t, &doc, &len);

    if (rc) {
        log_event(LOG_ERROR, event, "call_sid=%s error=\"twiml: %s\"", cc->call_sid,
                  sb_strerror(rc));
        voice_apology(out);
        return;
    }
    reply_release(out);
    out->status = 200;
    out->content_type = "text/xml";
    out->body = doc;
    out->len = len;
}

void listen_transfer(struct twiml *t, const struct call_context *cc)
{
    /* The caller ID is always one of the tenant's numbers: To inbound, From on a call we placed. */
    const char *dial[] = {"action",   TRANSFER_ENDED_PATH,
                          "callerId", cc->outbound ? cc->from : cc->to,
                          "timeout",  "30",
                          NULL};

    /* Its action says goodbye, and texts a caller nobody took (voice_transfer_ended). */
    twiml_open(t, "Dial", dial);
    twiml_leaf(t, "Number", NULL, cc->route->tenant->transfer_number);
    twiml_close(t);
}
