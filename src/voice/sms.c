#include "voice/sms.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/banned.h"

enum sms_keyword sms_keyword(const char *body)
{
    static const struct {
        const char *word;
        enum sms_keyword keyword;
    } words[] = {
        {"STOP", SMS_KEYWORD_STOP},        {"STOPALL", SMS_KEYWORD_STOP},
        {"UNSUBSCRIBE", SMS_KEYWORD_STOP}, {"CANCEL", SMS_KEYWORD_STOP},
        {"END", SMS_KEYWORD_STOP},         {"QUIT", SMS_KEYWORD_STOP},
        {"START", SMS_KEYWORD_START},      {"YES", SMS_KEYWORD_START},
        {"UNSTOP", SMS_KEYWORD_START},
    };
    static const char space[] = " \t\r\n";
    size_t len;

    if (!body)
        return SMS_KEYWORD_NONE;
    body += strspn(body, space);
    len = strlen(body);
    while (len > 0 && strchr(space, body[len - 1]))
        len--;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i].word) == len && strncasecmp(body, words[i].word, len) == 0)
            return words[i].keyword;
    }
    return SMS_KEYWORD_NONE;
}

int sms_fill(const char *template_text, const char *name, const char *tenant, char *out,
             size_t size)
{
    static const char name_key[] = "{{name}}";
    static const char tenant_key[] = "{{tenant}}";
    const char *text = template_text ? template_text : "";
    size_t n = 0;

    if (size == 0)
        return SB_ETOOBIG;
    while (*text) {
        const char *piece = text;
        size_t len = 1;

        if (strncmp(text, name_key, sizeof(name_key) - 1) == 0) {
            piece = name ? name : "";
            len = strlen(piece);
            text += sizeof(name_key) - 1;
        } else if (strncmp(text, tenant_key, sizeof(tenant_key) - 1) == 0) {
            piece = tenant ? tenant : "";
            len = strlen(piece);
            text += sizeof(tenant_key) - 1;
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

int sms_reply(struct reply *out)
{
    static const char doc[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";
    char *body = malloc(sizeof(doc));

    if (!body)
        return SB_ENOMEM;
    memcpy(body, doc, sizeof(doc));
    reply_release(out);
    out->status = 200;
    out->content_type = "text/xml";
    out->body = body;
    out->len = sizeof(doc) - 1;
    return 0;
}
