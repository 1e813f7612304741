#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/twiml.h"
#include "voice/outbound.h"
#include "voice/persona.h"
#include "core/banned.h"

int outbound_fill_name(const char *text, const char *name, char *out, size_t size)
{
    static const char key[] = "{{name}}";
    size_t n = 0, nlen = name ? strlen(name) : 0;

    if (size == 0)
        return SB_ETOOBIG;
    while (*text) {
        const char *piece = text;
        size_t len = 1;

        if (strncmp(text, key, sizeof(key) - 1) == 0) {
            piece = name ? name : "";
            len = nlen;
            text += sizeof(key) - 1;
        } else {
            text++;
        }
        if (n + len >= size) {
            out[0] = '\0';
            return SB_ETOOBIG;
        }
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return 0;
}

const char *outbound_job_lang(const struct job *job, const struct tenant *tenant)
{
    if (job && job->lang[0])
        return job->lang;
    if (tenant && tenant->default_lang[0])
        return tenant->default_lang;
    return "en-US";
}

int outbound_say_twiml(const struct tenant *tenant, const char *lang, const char *text, char **doc,
                       size_t *len)
{
    struct twiml t;
    const char *attrs[] = {"voice", persona_voice(tenant, lang), "language", lang, NULL};

    twiml_init(&t);
    twiml_leaf(&t, "Say", attrs, text);
    twiml_leaf(&t, "Hangup", NULL, NULL);
    return twiml_finish(&t, doc, len);
}

const char *outbound_voicemail_text(const char *lang)
{
    if (lang && strncmp(lang, "es", 2) == 0 && (lang[2] == '\0' || lang[2] == '-'))
        return "Hola, le llamamos y no pudimos hablar con usted. Le volveremos a llamar. Gracias.";
    return "Hello, we called and could not reach you. We will call again. Thank you.";
}

void voice_outbound(const struct job *job, const struct tenant *tenant, const char *call_sid,
                    struct reply *out)
{
    char text[JOB_SAY_MAX + JOB_NAME_SIZE * 8 + 1];
    const char *lang = outbound_job_lang(job, tenant);
    char *doc = NULL;
    size_t len = 0;

    if (job->kind != JOB_KIND_SAY) {
        log_event(LOG_WARN, "outbound.unsupported",
                  "job=%lld call_sid=%s kind=%s reason=\"not a say job: the apology is played\"",
                  job->id, call_sid, job_kind_name(job->kind));
        voice_apology(out);
        return;
    }
    if (outbound_fill_name(job->say_text, job->contact_name, text, sizeof(text)) ||
        outbound_say_twiml(tenant, lang, text, &doc, &len)) {
        log_event(LOG_ERROR, "outbound.twiml_failed", "job=%lld call_sid=%s", job->id, call_sid);
        voice_apology(out);
        return;
    }
    reply_release(out);
    out->status = 200;
    out->content_type = "text/xml";
    out->body = doc;
    out->len = len;
    log_event(LOG_INFO, "outbound.answered", "job=%lld call_sid=%s kind=say lang=%s", job->id,
              call_sid, lang);
}
