#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "voice/voice.h"
#include "core/banned.h"

void reply_release(struct reply *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

int reply_text(struct reply *r, int status, const char *text)
{
    size_t n = strlen(text);
    char *p = malloc(n + 1);

    reply_release(r);
    r->status = status;
    r->content_type = "text/plain; charset=utf-8";
    if (!p)
        return SB_ENOMEM;
    memcpy(p, text, n + 1);
    r->body = p;
    r->len = n;
    return 0;
}
