#include <stdlib.h>
#include <string.h>

#include "core/twiml.h"
#include "voice/voice.h"
#include "core/banned.h"

#define APOLOGY_TEXT                                                                               \
    "Lo sentimos, este número no está configurado. Sorry, this number is not configured."
#define APOLOGY_VOICE "Polly.Lupe"

/* Served when even the builder fails (out of memory): the same document. */
static const char apology_static[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say voice=\"" APOLOGY_VOICE
    "\">" APOLOGY_TEXT "</Say><Hangup /></Response>";

void voice_apology(struct reply *out)
{
    struct twiml t;
    const char *attrs[] = {"voice", APOLOGY_VOICE, NULL};
    char *doc = NULL;
    size_t len = 0;

    reply_release(out);
    out->status = 200;
    out->content_type = "text/xml";
    twiml_init(&t);
    twiml_leaf(&t, "Say", attrs, APOLOGY_TEXT);
    twiml_leaf(&t, "Hangup", NULL, NULL);
    if (twiml_finish(&t, &doc, &len) == 0) {
        out->body = doc;
        out->len = len;
        return;
    }
    /* A static body: the caller must hear something even now. */
    out->body = NULL;
    out->len = 0;
    doc = malloc(sizeof(apology_static));
    if (doc) {
        memcpy(doc, apology_static, sizeof(apology_static));
        out->body = doc;
        out->len = sizeof(apology_static) - 1;
    }
}
