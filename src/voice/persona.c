#include "voice/persona.h"

#include <stdio.h>
#include <string.h>

/* True when two language tags share their base language ("es-MX" and "es"). */
static int same_base(const char *a, const char *b)
{
    size_t na = strcspn(a, "-_"), nb = strcspn(b, "-_");

    return na == nb && strncmp(a, b, na) == 0;
}

/* The tenant's entry for `lang`: exact tag first, then the same base language. */
static const struct tenant_lang *tenant_lang_for(const struct tenant *t, const char *lang)
{
    if (!t)
        return NULL;
    for (int i = 0; i < t->nlangs; i++) {
        if (strcmp(t->langs[i].lang, lang) == 0)
            return &t->langs[i];
    }
    for (int i = 0; i < t->nlangs; i++) {
        if (same_base(t->langs[i].lang, lang))
            return &t->langs[i];
    }
    return NULL;
}

const char *persona_voice(const struct tenant *tenant, const char *lang)
{
    const struct tenant_lang *tl = tenant_lang_for(tenant, lang);

    if (tl && tl->voice[0])
        return tl->voice;
    if (same_base(lang, "en"))
        return "Polly.Joanna";
    if (strcmp(lang, "es-MX") == 0)
        return "Polly.Mia";
    return "Polly.Lupe";
}

const char *persona_greeting(const struct tenant *tenant, const char *lang, char *out, size_t size)
{
    const struct tenant_lang *tl = tenant_lang_for(tenant, lang);
    const char *name = tenant ? tenant->name : "us";

    if (tl && tl->greeting[0])
        snprintf(out, size, "%s", tl->greeting);
    else if (same_base(lang, "en"))
        snprintf(out, size, "Thank you for calling %s. How can I help you today?", name);
    else
        snprintf(out, size, "Gracias por llamar a %s. ¿En qué puedo ayudarle?", name);
    return out;
}
