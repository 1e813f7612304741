/* Tests of the tenant persona (voice and greeting) and of the call context. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "fixture.h"
#include "voice/call_context.h"
#include "voice/persona.h"

static void lang_set(struct tenant *t, const char *lang, const char *voice, const char *greeting)
{
    struct tenant_lang *l = &t->langs[t->nlangs++];

    snprintf(l->lang, sizeof(l->lang), "%s", lang);
    snprintf(l->voice, sizeof(l->voice), "%s", voice);
    snprintf(l->greeting, sizeof(l->greeting), "%s", greeting);
}

/* A tenant whose base-language entry comes before its exact one, to check the order of lookup. */
static struct tenant make_tenant(void)
{
    struct tenant t;

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "Acme");
    snprintf(t.default_lang, sizeof(t.default_lang), "en-US");
    lang_set(&t, "es", "Polly.Conchita", "Hola, Acme.");
    lang_set(&t, "es-MX", "Polly.Andres", "Bienvenido a Acme México.");
    lang_set(&t, "en-US", "Polly.Matthew", "Welcome to Acme.");
    return t;
}

/* ---- persona_voice ---- */

Test(persona, voice_exact_tag_wins_over_base_language)
{
    struct tenant t = make_tenant();

    cr_assert_str_eq(persona_voice(&t, "es-MX"), "Polly.Andres");
    cr_assert_str_eq(persona_voice(&t, "es"), "Polly.Conchita");
    cr_assert_str_eq(persona_voice(&t, "en-US"), "Polly.Matthew");
}

Test(persona, voice_falls_back_to_the_base_language)
{
    struct tenant t = make_tenant();

    /* "es" is the first Spanish entry. */
    cr_assert_str_eq(persona_voice(&t, "es-AR"), "Polly.Conchita");
    cr_assert_str_eq(persona_voice(&t, "en-GB"), "Polly.Matthew");
    cr_assert_str_eq(persona_voice(&t, "en"), "Polly.Matthew");
}

Test(persona, voice_base_match_finds_a_regional_entry)
{
    struct tenant t;

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "Acme");
    lang_set(&t, "es-MX", "Polly.Andres", "");
    cr_assert_str_eq(persona_voice(&t, "es"), "Polly.Andres");
    cr_assert_str_eq(persona_voice(&t, "es-US"), "Polly.Andres");
    /* A different language with a common prefix is not the same base. */
    cr_assert_str_eq(persona_voice(&t, "est"), "Polly.Lupe");
}

Test(persona, voice_tags_compare_without_case_and_with_underscores)
{
    struct tenant t = make_tenant();

    cr_assert_str_eq(persona_voice(&t, "ES_mx"), "Polly.Andres");
    cr_assert_str_eq(persona_voice(&t, "es_419"), "Polly.Conchita");
    cr_assert_str_eq(persona_voice(&t, "EN-us"), "Polly.Matthew");
    cr_assert_str_eq(persona_voice(NULL, "EN-us"), "Polly.Joanna");
    cr_assert_str_eq(persona_voice(NULL, "es_MX"), "Polly.Mia");
}

Test(persona, voice_bare_base_language_wins_over_another_region)
{
    struct tenant t;

    /* The regional entry comes first; "es" alone still serves "es-AR" better. */
    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "Acme");
    lang_set(&t, "es-MX", "Polly.Andres", "");
    lang_set(&t, "es", "Polly.Conchita", "");
    lang_set(&t, "en-GB", "Polly.Amy", "");
    lang_set(&t, "en-US", "Polly.Matthew", "");
    cr_assert_str_eq(persona_voice(&t, "es-AR"), "Polly.Conchita");
    cr_assert_str_eq(persona_voice(&t, "es_419"), "Polly.Conchita");
    cr_assert_str_eq(persona_voice(&t, "es-MX"), "Polly.Andres");
    /* No bare "en": the first English entry. */
    cr_assert_str_eq(persona_voice(&t, "en-AU"), "Polly.Amy");
    cr_assert_str_eq(persona_voice(&t, "EN-us"), "Polly.Matthew");
}

Test(persona, voice_built_in_defaults)
{
    cr_assert_str_eq(persona_voice(NULL, "en-US"), "Polly.Joanna");
    cr_assert_str_eq(persona_voice(NULL, "en"), "Polly.Joanna");
    cr_assert_str_eq(persona_voice(NULL, "en-GB"), "Polly.Joanna");
    cr_assert_str_eq(persona_voice(NULL, "es-MX"), "Polly.Mia");
    cr_assert_str_eq(persona_voice(NULL, "es"), "Polly.Lupe");
    cr_assert_str_eq(persona_voice(NULL, "es-US"), "Polly.Lupe");
}

Test(persona, voice_built_in_when_the_tenant_has_none_for_the_language)
{
    struct tenant t;

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "Acme");
    lang_set(&t, "en-US", "Polly.Matthew", "Welcome.");
    cr_assert_str_eq(persona_voice(&t, "es-MX"), "Polly.Mia");
    cr_assert_str_eq(persona_voice(&t, "es"), "Polly.Lupe");
    t.nlangs = 0;
    cr_assert_str_eq(persona_voice(&t, "en-US"), "Polly.Joanna");
}

Test(persona, voice_built_in_when_the_entry_has_an_empty_voice)
{
    struct tenant t;

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "Acme");
    lang_set(&t, "en-US", "", "Welcome to Acme.");
    cr_assert_str_eq(persona_voice(&t, "en-US"), "Polly.Joanna");
}

/* ---- persona_greeting ---- */

Test(persona, greeting_exact_then_base_language)
{
    struct tenant t = make_tenant();
    char out[GREETING_SIZE];

    cr_assert_eq(persona_greeting(&t, "es-MX", out, sizeof(out)), out);
    cr_assert_str_eq(out, "Bienvenido a Acme México.");
    cr_assert_str_eq(persona_greeting(&t, "es", out, sizeof(out)), "Hola, Acme.");
    cr_assert_str_eq(persona_greeting(&t, "es-CO", out, sizeof(out)), "Hola, Acme.");
    cr_assert_str_eq(persona_greeting(&t, "en-GB", out, sizeof(out)), "Welcome to Acme.");
}

Test(persona, greeting_for_tags_with_regions_and_case)
{
    struct tenant t = make_tenant();
    char out[GREETING_SIZE];

    cr_assert_str_eq(persona_greeting(&t, "es_MX", out, sizeof(out)), "Bienvenido a Acme México.");
    cr_assert_str_eq(persona_greeting(&t, "ES-419", out, sizeof(out)), "Hola, Acme.");
    cr_assert_str_eq(persona_greeting(&t, "EN-us", out, sizeof(out)), "Welcome to Acme.");
    cr_assert_str_eq(persona_greeting(NULL, "EN-us", out, sizeof(out)),
                     "Thank you for calling us. How can I help you today?");
}

Test(persona, greeting_built_in_names_the_tenant)
{
    struct tenant t;
    char out[GREETING_SIZE];

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "Bodega Luna");
    cr_assert_str_eq(persona_greeting(&t, "en-US", out, sizeof(out)),
                     "Thank you for calling Bodega Luna. How can I help you today?");
    cr_assert_str_eq(persona_greeting(&t, "es-MX", out, sizeof(out)),
                     "Gracias por llamar a Bodega Luna. ¿En qué puedo ayudarle?");
    cr_assert_str_eq(persona_greeting(&t, "es", out, sizeof(out)),
                     "Gracias por llamar a Bodega Luna. ¿En qué puedo ayudarle?");
}

Test(persona, greeting_built_in_when_the_entry_has_an_empty_greeting)
{
    struct tenant t;
    char out[GREETING_SIZE];

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "Acme");
    lang_set(&t, "en-US", "Polly.Matthew", "");
    cr_assert_str_eq(persona_greeting(&t, "en-US", out, sizeof(out)),
                     "Thank you for calling Acme. How can I help you today?");
    /* The voice still comes from the entry. */
    cr_assert_str_eq(persona_voice(&t, "en-US"), "Polly.Matthew");
}

Test(persona, greeting_without_a_tenant)
{
    char out[GREETING_SIZE];

    cr_assert_str_eq(persona_greeting(NULL, "en-US", out, sizeof(out)),
                     "Thank you for calling us. How can I help you today?");
    cr_assert_str_eq(persona_greeting(NULL, "es", out, sizeof(out)),
                     "Gracias por llamar a us. ¿En qué puedo ayudarle?");
}

Test(persona, greeting_is_truncated_to_the_buffer)
{
    struct tenant t = make_tenant();
    char out[8];

    memset(out, 'z', sizeof(out));
    cr_assert_str_eq(persona_greeting(&t, "en-US", out, sizeof(out)), "Welcome");
    cr_assert_str_eq(persona_greeting(NULL, "en-US", out, sizeof(out)), "Thank y");
}

Test(persona, greeting_of_the_longest_size_fits)
{
    struct tenant t;
    char out[GREETING_SIZE];

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "Acme");
    t.nlangs = 1;
    snprintf(t.langs[0].lang, sizeof(t.langs[0].lang), "en-US");
    memset(t.langs[0].greeting, 'g', GREETING_SIZE - 1);
    persona_greeting(&t, "en-US", out, sizeof(out));
    cr_assert_eq(strlen(out), GREETING_SIZE - 1);
}

/* ---- call_context ---- */

TestSuite(call_context, .init = fixture_setup, .fini = fixture_teardown, .timeout = 60);

static int context_of(struct call_context *cc, const char **missing, const char *sid,
                      const char *from, const char *to)
{
    struct form f;
    int rc;

    /* A NULL value leaves the parameter out. */
    if (sid && from && to)
        form_from(&f, "CallSid", sid, "From", from, "To", to, NULL);
    else if (!sid)
        form_from(&f, "From", from, "To", to, NULL);
    else if (!from)
        form_from(&f, "CallSid", sid, "To", to, NULL);
    else
        form_from(&f, "CallSid", sid, "From", from, NULL);
    rc = call_context_init(cc, &fx_routes, &f, missing);
    /* The context points into the form, so only compare what was copied. */
    form_release(&f);
    return rc;
}

Test(call_context, routed_call)
{
    struct call_context cc;
    const char *missing = NULL;

    cr_assert_eq(context_of(&cc, &missing, "CA1", CALLER_MX, NUM_PRO), 0);
    cr_assert_null(missing);
    cr_assert_not_null(cc.route);
    cr_assert_str_eq(cc.route->number.e164, NUM_PRO);
    cr_assert_str_eq(cc.route->tenant->name, "acme");
    cr_assert_eq(cc.route->number.plan, PLAN_PRO);
    cr_assert_str_eq(cc.lang, "es-MX");
    cr_assert_str_eq(cc.from_log, "***5678");
    cr_assert_str_eq(cc.to_log, "***0006");
}

Test(call_context, language_by_caller_country)
{
    struct call_context cc;
    const char *missing = NULL;

    cr_assert_eq(context_of(&cc, &missing, "CA1", CALLER_US, NUM_BODEGA), 0);
    cr_assert_str_eq(cc.lang, "en-US");
    cr_assert_eq(context_of(&cc, &missing, "CA1", CALLER_ES, NUM_BODEGA), 0);
    cr_assert_str_eq(cc.lang, "es");
    cr_assert_eq(context_of(&cc, &missing, "CA1", "+541143215678", NUM_BODEGA), 0);
    cr_assert_str_eq(cc.lang, "es");
    cr_assert_eq(context_of(&cc, &missing, "CA1", CALLER_FR, NUM_BODEGA), 0);
    cr_assert_str_eq(cc.lang, "es-MX");
    cr_assert_eq(context_of(&cc, &missing, "CA1", CALLER_FR, NUM_STARTER), 0);
    cr_assert_str_eq(cc.lang, "en-US");
    cr_assert_eq(context_of(&cc, &missing, "CA1", "anonymous", NUM_STARTER), 0);
    cr_assert_str_eq(cc.lang, "en-US");
    cr_assert_eq(context_of(&cc, &missing, "CA1", "", NUM_BODEGA), 0);
    cr_assert_str_eq(cc.lang, "es-MX");
}

Test(call_context, unrouted_calls_have_no_route_and_no_language)
{
    struct call_context cc;
    const char *missing = NULL;

    cr_assert_eq(context_of(&cc, &missing, "CA1", CALLER_US, NUM_UNKNOWN), 0);
    cr_assert_null(cc.route);
    cr_assert_null(cc.lang);
    cr_assert_eq(context_of(&cc, &missing, "CA1", CALLER_US, NUM_INACTIVE), 0);
    cr_assert_null(cc.route);
    cr_assert_null(cc.lang);
    cr_assert_eq(context_of(&cc, &missing, "CA1", CALLER_US, NUM_NOT_E164), 0);
    cr_assert_null(cc.route);
    cr_assert_null(missing);
}

Test(call_context, no_routing_table)
{
    struct call_context cc;
    const char *missing = NULL;
    struct form f;

    form_from(&f, "CallSid", "CA1", "From", CALLER_US, "To", NUM_PRO, NULL);
    cr_assert_eq(call_context_init(&cc, NULL, &f, &missing), 0);
    cr_assert_null(cc.route);
    form_release(&f);
}

Test(call_context, missing_parameters_are_named_in_order)
{
    struct call_context cc;
    const char *missing = NULL;
    struct form f;

    cr_assert_eq(context_of(&cc, &missing, NULL, CALLER_US, NUM_PRO), SB_EINVAL);
    cr_assert_str_eq(missing, "CallSid");
    cr_assert_eq(context_of(&cc, &missing, "", CALLER_US, NUM_PRO), SB_EINVAL);
    cr_assert_str_eq(missing, "CallSid");
    cr_assert_eq(context_of(&cc, &missing, "CA1", NULL, NUM_PRO), SB_EINVAL);
    cr_assert_str_eq(missing, "From");
    cr_assert_eq(context_of(&cc, &missing, "CA1", CALLER_US, NULL), SB_EINVAL);
    cr_assert_str_eq(missing, "To");
    cr_assert_eq(context_of(&cc, &missing, "CA1", CALLER_US, ""), SB_EINVAL);
    cr_assert_str_eq(missing, "To");
    /* Nothing at all: CallSid is named first. */
    f = (struct form)FORM_INIT;
    cr_assert_eq(call_context_init(&cc, &fx_routes, &f, &missing), SB_EINVAL);
    cr_assert_str_eq(missing, "CallSid");
    cr_assert_str_eq(cc.from_log, "-");
}

Test(call_context, speech_language_for_the_recogniser)
{
    cr_assert_str_eq(call_context_speech_lang("es"), "es-US");
    cr_assert_str_eq(call_context_speech_lang("en"), "en-US");
    cr_assert_str_eq(call_context_speech_lang("es-MX"), "es-MX");
    cr_assert_str_eq(call_context_speech_lang("en-US"), "en-US");
    cr_assert_str_eq(call_context_speech_lang("es-ES"), "es-ES");
    cr_assert_str_eq(call_context_speech_lang("ES"), "es-US");
    cr_assert_str_eq(call_context_speech_lang("EN"), "en-US");
}
