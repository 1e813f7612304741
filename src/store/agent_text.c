/* An agent's languages and voices as the store writes them (store/agent_text.h). */
#include "store/agent_text.h"

#include <stdio.h>
#include <string.h>

#include "core/banned.h"

void agent_langs_join(const struct agent_config *c, char out[AGENT_LANGS_TEXT_SIZE])
{
    size_t len = 0;

    out[0] = '\0';
    for (int i = 0; i < c->nlangs && i < AGENT_MAX_LANGS; i++) {
        int w = snprintf(out + len, AGENT_LANGS_TEXT_SIZE - len, "%s%s", i ? "," : "", c->langs[i]);

        if (w < 0 || (size_t)w >= AGENT_LANGS_TEXT_SIZE - len)
            break;
        len += (size_t)w;
    }
}

void agent_langs_split(const char *text, struct agent_config *c)
{
    const char *p = text;

    c->nlangs = 0;
    while (p && *p && c->nlangs < AGENT_MAX_LANGS) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        if (len > 0 && len < LANG_SIZE) {
            memcpy(c->langs[c->nlangs], p, len);
            c->langs[c->nlangs][len] = '\0';
            c->nlangs++;
        }
        p = comma ? comma + 1 : NULL;
    }
}

void agent_voices_join(const struct agent_config *c, char out[AGENT_VOICES_TEXT_SIZE])
{
    size_t len = 0;

    out[0] = '\0';
    for (int i = 0; i < c->nvoices && i < AGENT_MAX_VOICES; i++) {
        int w = snprintf(out + len, AGENT_VOICES_TEXT_SIZE - len, "%s%s=%s", i ? "\n" : "",
                         c->voices[i].lang, c->voices[i].voice);

        if (w < 0 || (size_t)w >= AGENT_VOICES_TEXT_SIZE - len)
            break;
        len += (size_t)w;
    }
}

/* Reads the voices column; a line that does not fit is skipped. */
void agent_voices_split(const char *text, struct agent_config *c)
{
    const char *p = text;

    c->nvoices = 0;
    while (p && *p && c->nvoices < AGENT_MAX_VOICES) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        struct agent_voice *v = &c->voices[c->nvoices];

        if (eq && eq > p && (size_t)(eq - p) < sizeof(v->lang) &&
            len - (size_t)(eq - p) - 1 < sizeof(v->voice) && eq + 1 < p + len) {
            memcpy(v->lang, p, (size_t)(eq - p));
            v->lang[eq - p] = '\0';
            memcpy(v->voice, eq + 1, len - (size_t)(eq - p) - 1);
            v->voice[len - (size_t)(eq - p) - 1] = '\0';
            c->nvoices++;
        }
        p = nl ? nl + 1 : NULL;
    }
}
