#include "voice/persona.h"

#include <stdio.h>
#include <string.h>

#include "core/lang.h"
#include "core/banned.h"

static const char *entry_tag(const void *items, size_t i)
{
    return ((const struct tenant_lang *)items)[i].lang;
}

/* The tenant's entry for `lang`, by core/lang's rules: exact tag, then base language. */
static const struct tenant_lang *tenant_lang_for(const struct tenant *t, const char *lang)
{
    int i;

    if (!t || t->nlangs <= 0)
        return NULL;
    i = lang_best(lang, t->langs, (size_t)t->nlangs, entry_tag);
    return i >= 0 ? &t->langs[i] : NULL;
}

const char *persona_voice(const struct tenant *tenant, const char *lang)
{
    const struct tenant_lang *tl = tenant_lang_for(tenant, lang);

    if (tl && tl->voice[0])
        return tl->voice;
    if (lang_same_base(lang, "en"))
        return "Polly.Joanna";
    if (lang_same(lang, "es-MX"))
        return "Polly.Mia";
    return "Polly.Lupe";
}

const char *persona_greeting(const struct tenant *tenant, const char *lang, char *out, size_t size)
{
    const struct tenant_lang *tl = tenant_lang_for(tenant, lang);
    const char *name = tenant ? tenant->name : "us";

    if (tl && tl->greeting[0])
        snprintf(out, size, "%s", tl->greeting);
    else if (lang_same_base(lang, "en"))
        snprintf(out, size, "Thank you for calling %s. How can I help you today?", name);
    else
        snprintf(out, size, "Gracias por llamar a %s. ¿En qué puedo ayudarle?", name);
    return out;
}
