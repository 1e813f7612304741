#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/twiml.h"

const char fx_main_json[] =
    "{\n"
    "  \"name\": \"main\",\n"
    "  \"description\": \"Acme's front desk: hours, language, main menu, a person, voicemail.\",\n"
    "  \"start\": \"welcome\",\n"
    "  \"nodes\": {\n"
    "    \"welcome\": {\n"
    "      \"type\": \"say\",\n"
    "      \"text\": {\"en\": \"Welcome to Acme.\", \"es\": \"Bienvenido a Acme.\"},\n"
    "      \"next\": \"hours\"\n"
    "    },\n"
    "    \"hours\": {\n"
    "      \"type\": \"hours\",\n"
    "      \"weekly\": {\n"
    "        \"mon\": [\"09:00-17:00\"], \"tue\": [\"09:00-17:00\"], \"wed\": [\"09:00-17:00\"],\n"
    "        \"thu\": [\"09:00-17:00\"], \"fri\": [\"09:00-13:00\", \"14:00-17:00\"],\n"
    "        \"sat\": [], \"sun\": []\n"
    "      },\n"
    "      \"holidays\": [\"2026-12-25\", \"01-01\"],\n"
    "      \"open\": \"lang\",\n"
    "      \"closed\": \"closed_msg\"\n"
    "    },\n"
    "    \"lang\": {\n"
    "      \"type\": \"language\",\n"
    "      \"prompt\": {\"en\": \"For English press 1.\", \"es\": \"Para español oprima 2.\"},\n"
    "      \"options\": {\"1\": \"en-US\", \"2\": {\"lang\": \"es-MX\", \"keywords\": "
    "[\"español\", \"spanish\"]}},\n"
    "      \"next\": \"menu\",\n"
    "      \"max_attempts\": 2,\n"
    "      \"fallback\": \"menu\"\n"
    "    },\n"
    "    \"menu\": {\n"
    "      \"type\": \"menu\",\n"
    "      \"prompt\": {\n"
    "        \"en\": \"For appointments press 1. For billing press 2. For a person press 0.\",\n"
    "        \"es\": \"Para citas oprima 1. Para facturación oprima 2. Para hablar con una persona "
    "oprima 0.\"\n"
    "      },\n"
    "      \"input\": \"dtmf speech\",\n"
    "      \"timeout\": 5,\n"
    "      \"options\": [\n"
    "        {\"digit\": \"1\", \"keywords\": [\"appointment\", \"cita\"], \"next\": "
    "\"appointments\"},\n"
    "        {\"digit\": \"2\", \"keywords\": [\"billing\", \"factura\"], \"next\": \"billing\"},\n"
    "        {\"digit\": \"0\", \"keywords\": [\"operator\", \"person\", \"persona\"], \"next\": "
    "\"operator\"}\n"
    "      ],\n"
    "      \"max_attempts\": 3,\n"
    "      \"invalid_prompt\": {\"en\": \"Sorry, that is not an option.\", \"es\": \"Lo siento, "
    "esa opción no existe.\"},\n"
    "      \"no_input_prompt\": {\"en\": \"Sorry, I did not hear you.\", \"es\": \"Perdone, no le "
    "oí.\"},\n"
    "      \"fallback\": \"operator\"\n"
    "    },\n"
    "    \"appointments\": {\n"
    "      \"type\": \"agent\",\n"
    "      \"prompt\": {\"en\": \"What day suits you?\", \"es\": \"¿Qué día le viene bien?\"}\n"
    "    },\n"
    "    \"billing\": {\n"
    "      \"type\": \"play\",\n"
    "      \"url\": \"https://cdn.example.com/billing.mp3\",\n"
    "      \"next\": \"menu\"\n"
    "    },\n"
    "    \"operator\": {\n"
    "      \"type\": \"transfer\",\n"
    "      \"number\": \"+15557654321\",\n"
    "      \"timeout\": 20,\n"
    "      \"record\": false,\n"
    "      \"on\": {\"completed\": \"bye\", \"busy\": \"vm\", \"no-answer\": \"vm\", \"failed\": "
    "\"vm\"}\n"
    "    },\n"
    "    \"vm\": {\n"
    "      \"type\": \"voicemail\",\n"
    "      \"prompt\": {\"en\": \"Please leave a message after the tone.\", \"es\": \"Deje su "
    "mensaje después del tono.\"},\n"
    "      \"max_length\": 120,\n"
    "      \"next\": \"bye\"\n"
    "    },\n"
    "    \"closed_msg\": {\n"
    "      \"type\": \"say\",\n"
    "      \"text\": {\"en\": \"We are closed.\", \"es\": \"Estamos cerrados.\"},\n"
    "      \"next\": \"vm\"\n"
    "    },\n"
    "    \"bye\": {\n"
    "      \"type\": \"hangup\",\n"
    "      \"text\": {\"en\": \"Thank you for calling Acme. Goodbye.\", \"es\": \"Gracias por "
    "llamar a Acme. Adiós.\"}\n"
    "    }\n"
    "  }\n"
    "}\n";

struct flow *fx_load(const char *json)
{
    struct flow *f = NULL;
    char err[512];
    int rc = flow_load(&f, json, strlen(json), err, sizeof(err));

    cr_assert_eq(rc, 0, "flow_load: %s (%s)", err, sb_strerror(rc));
    cr_assert_not_null(f);
    return f;
}

const char *fx_load_error(const char *json)
{
    static char err[512];
    struct flow *f = NULL;
    int rc = flow_load(&f, json, strlen(json), err, sizeof(err));

    cr_assert_eq(rc, SB_EPARSE, "flow_load returned %d, want SB_EPARSE", rc);
    cr_assert_null(f);
    return err;
}

void fx_env(struct flow_env *env)
{
    memset(env, 0, sizeof(*env));
    env->now = MON_1000;
    env->utc_offset_min = 0;
    env->transfer = "+15550001111";
    env->caller_id = "+15557770000";
    env->action_url = "/voice/flow";
    env->recording_callback = "/voice/recording";
    env->voice_en = "Polly.Joanna";
    env->voice_es = "Polly.Lupe";
    env->plan_stream = 0;
    env->stream_url = "wss://sb.example.com/media";
    env->call_sid = "CA0123456789abcdef0123456789abcdef";
    env->from = "+15551230000";
    env->to = "+15557770000";
    env->tenant = "acme";
    env->agent = "rules";
}

void fx_state(struct flow_state *st, const char *lang)
{
    memset(st, 0, sizeof(*st));
    snprintf(st->lang, sizeof(st->lang), "%s", lang);
}

char *fx_step(const struct flow *f, struct flow_state *st, enum flow_input_kind kind,
              const char *text, const struct flow_env *env, struct flow_result *res)
{
    struct flow_input in = {kind, text};
    struct flow_result scratch;
    struct flow_state next;
    struct twiml t;
    char *doc = NULL;
    size_t len = 0;
    int rc;

    twiml_init(&t);
    rc = flow_step(f, st, &in, env, &t, &next, res ? res : &scratch);
    cr_assert_eq(rc, 0, "flow_step: %s", sb_strerror(rc));
    rc = twiml_finish(&t, &doc, &len);
    cr_assert_eq(rc, 0, "twiml_finish: %s", sb_strerror(rc));
    *st = next;
    return doc;
}

void fx_expect(const struct flow *f, struct flow_state *st, enum flow_input_kind kind,
               const char *text, const struct flow_env *env, const char *want)
{
    char *doc = fx_step(f, st, kind, text, env, NULL);
    char full[8192];

    snprintf(full, sizeof(full), DECL "<Response>%s</Response>", want);
    cr_assert_str_eq(doc, full);
    free(doc);
}
