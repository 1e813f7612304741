/* How a tenant sounds in a language: the TTS voice and the greeting. */
#ifndef SB_VOICE_PERSONA_H
#define SB_VOICE_PERSONA_H

#include <stddef.h>

#include "store/store.h"

/**
 * Returns the voice for `lang`: the tenant's own for the entry that best
 * serves it by core/lang's rules (the exact tag, else the base language
 * alone, "es" for "es-MX", else another region, "es-US"), else a built-in
 * default (Polly voices). `tenant` may be NULL. Static or tenant storage.
 */
const char *persona_voice(const struct tenant *tenant, const char *lang);

/**
 * Writes the greeting for `lang` to `out`: the tenant's own (same lookup as
 * persona_voice), else a built-in one naming the tenant. Returns `out`.
 */
const char *persona_greeting(const struct tenant *tenant, const char *lang, char *out, size_t size);

#endif
