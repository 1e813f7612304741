/*
 * Tests of store/agents.h: agents, knowledge, transcripts; over SQLite or
 * PostgreSQL (store_target.h).
 */
#include <criterion/criterion.h>

#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "store/agents.h"
#include "store/store.h"
#include "store_target.h"
#include "undo_migrations.h"

static struct store_target tgt;
static struct store *st;

static void add_tenant(const char *name)
{
    struct tenant t;

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "%s", name);
    snprintf(t.default_lang, sizeof(t.default_lang), "es-MX");
    cr_assert_eq(store_tenant_add(st, &t), 0);
}

static void setup(void)
{
    target_create(&tgt, "sb-agents");
    cr_assert_eq(store_open(&st, tgt.path), 0);
    add_tenant("acme");
    add_tenant("peluqueria");
}

static void teardown(void)
{
    store_close(st);
    st = NULL;
    target_destroy(&tgt);
}

TestSuite(agents, .init = setup, .fini = teardown);

static long long raw_query(const char *sql)
{
    return target_query_i64(&tgt, sql);
}

/* An agent with every field set; `prompt` is borrowed. */
static struct agent_config make_agent(const char *tenant, const char *name, char *prompt)
{
    struct agent_config c;

    memset(&c, 0, sizeof(c));
    snprintf(c.tenant, sizeof(c.tenant), "%s", tenant);
    snprintf(c.name, sizeof(c.name), "%s", name);
    snprintf(c.base_url, sizeof(c.base_url), "https://api.example.com/v1");
    snprintf(c.model, sizeof(c.model), "gpt-4o-mini");
    snprintf(c.api_key_env, sizeof(c.api_key_env), "EXAMPLE_API_KEY");
    c.prompt = prompt;
    c.temperature = 0.4;
    c.max_tokens = 300;
    snprintf(c.langs[0], LANG_SIZE, "es-MX");
    snprintf(c.langs[1], LANG_SIZE, "en-US");
    c.nlangs = 2;
    c.first_token_timeout_ms = 1800;
    c.fallback = AGENT_FALLBACK_TRANSFER;
    return c;
}

Test(agents, names_and_enums)
{
    enum agent_fallback f;
    enum turn_role r;

    cr_assert_str_eq(agent_fallback_name(AGENT_FALLBACK_RULES), "rules");
    cr_assert_str_eq(agent_fallback_name(AGENT_FALLBACK_TRANSFER), "transfer");
    cr_assert_eq(agent_fallback_parse("transfer", &f), 0);
    cr_assert_eq(f, AGENT_FALLBACK_TRANSFER);
    cr_assert_eq(agent_fallback_parse("Transfer", &f), SB_EINVAL);
    cr_assert_eq(turn_role_parse("tool", &r), 0);
    cr_assert_eq(r, TURN_TOOL);
    cr_assert_eq(turn_role_parse("system", &r), SB_EINVAL);
    cr_assert(agent_name_reserved("rules"));
    cr_assert(agent_name_reserved("echo"));
    cr_assert_not(agent_name_reserved("ventas"));
    cr_assert(agent_name_valid("ventas-2.0_b"));
    cr_assert_not(agent_name_valid("rules"));
    cr_assert_not(agent_name_valid("a b"));
    cr_assert_not(agent_name_valid(""));
    cr_assert_not(agent_name_valid("abcdefghijklmnopqrstuvwxyz0123456789"));
    cr_assert(agent_base_url_valid("http://127.0.0.1:8080/v1"));
    cr_assert(agent_base_url_valid("https://api.openai.com/v1"));
    cr_assert_not(agent_base_url_valid("ftp://x"));
    cr_assert_not(agent_base_url_valid("https://"));
    cr_assert_not(agent_base_url_valid("https:///path"));
    cr_assert_not(agent_base_url_valid("https://a b"));
    cr_assert(agent_key_env_valid(""));
    cr_assert(agent_key_env_valid("OPENAI_API_KEY"));
    cr_assert_not(agent_key_env_valid("1KEY"));
    cr_assert_not(agent_key_env_valid("KEY=x"));
}

Test(agents, add_get_round_trips_every_field)
{
    char prompt[] = "Eres la recepcionista de la Peluquería Ñandú. Habla de «usted».";
    struct agent_config c = make_agent("peluqueria", "recepcion", prompt);
    struct agent_config got;

    cr_assert_eq(agent_config_add(st, &c), 0);
    cr_assert_eq(agent_config_get(st, "peluqueria", "recepcion", &got), 0);
    cr_assert_str_eq(got.tenant, "peluqueria");
    cr_assert_str_eq(got.name, "recepcion");
    cr_assert_str_eq(got.base_url, "https://api.example.com/v1");
    cr_assert_str_eq(got.model, "gpt-4o-mini");
    cr_assert_str_eq(got.api_key_env, "EXAMPLE_API_KEY");
    cr_assert_str_eq(got.prompt, prompt);
    cr_assert_float_eq(got.temperature, 0.4, 1e-9);
    cr_assert_eq(got.max_tokens, 300);
    cr_assert_eq(got.nlangs, 2);
    cr_assert_str_eq(got.langs[0], "es-MX");
    cr_assert_str_eq(got.langs[1], "en-US");
    cr_assert_eq(got.first_token_timeout_ms, 1800);
    cr_assert_eq(got.fallback, AGENT_FALLBACK_TRANSFER);
    cr_assert_gt(got.created_at, 0);
    cr_assert_eq(got.created_at, got.updated_at);
    agent_config_release(&got);
    cr_assert_null(got.prompt);
    agent_config_release(&got); /* twice is fine */
}

Test(agents, unset_fields_and_defaults)
{
    struct agent_config c = make_agent("acme", "bare", NULL);
    struct agent_config got;

    c.api_key_env[0] = '\0';
    c.temperature = -1;
    c.max_tokens = 0;
    c.nlangs = 0;
    c.first_token_timeout_ms = 0;
    c.fallback = AGENT_FALLBACK_RULES;
    cr_assert_eq(agent_config_add(st, &c), 0);
    cr_assert_eq(agent_config_get(st, "acme", "bare", &got), 0);
    cr_assert_str_eq(got.prompt, "");
    cr_assert_lt(got.temperature, 0);
    cr_assert_eq(got.max_tokens, 0);
    cr_assert_eq(got.nlangs, 0);
    cr_assert_eq(got.first_token_timeout_ms, AGENT_FIRST_TOKEN_TIMEOUT_DEFAULT_MS);
    cr_assert_eq(got.fallback, AGENT_FALLBACK_RULES);
    cr_assert_str_eq(got.api_key_env, "");
    agent_config_release(&got);
    cr_assert_eq(raw_query("SELECT count(*) FROM agents WHERE temperature IS NULL"), 1);
}

Test(agents, add_refuses_bad_input)
{
    struct agent_config c = make_agent("acme", "ventas", NULL);
    struct agent_config bad;
    char binary_prompt[] = "hola \xff\xfe";

    cr_assert_eq(agent_config_add(st, &c), 0);
    cr_assert_eq(agent_config_add(st, &c), SB_EEXISTS);
    bad = make_agent("nobody", "ventas", NULL);
    cr_assert_eq(agent_config_add(st, &bad), SB_ENOTFOUND);
    bad = make_agent("acme", "rules", NULL);
    cr_assert_eq(agent_config_add(st, &bad), SB_EINVAL);
    bad = make_agent("acme", "echo", NULL);
    cr_assert_eq(agent_config_add(st, &bad), SB_EINVAL);
    bad = make_agent("acme", "", NULL);
    cr_assert_eq(agent_config_add(st, &bad), SB_EINVAL);
    bad = make_agent("acme", "x", NULL);
    snprintf(bad.base_url, sizeof(bad.base_url), "file:///etc/passwd");
    cr_assert_eq(agent_config_add(st, &bad), SB_EINVAL);
    bad = make_agent("acme", "x", NULL);
    bad.model[0] = '\0';
    cr_assert_eq(agent_config_add(st, &bad), SB_EINVAL);
    bad = make_agent("acme", "x", NULL);
    bad.temperature = 2.5;
    cr_assert_eq(agent_config_add(st, &bad), SB_EINVAL);
    bad.temperature = NAN;
    cr_assert_eq(agent_config_add(st, &bad), SB_EINVAL);
    bad = make_agent("acme", "x", NULL);
    bad.first_token_timeout_ms = AGENT_FIRST_TOKEN_TIMEOUT_MAX_MS + 1;
    cr_assert_eq(agent_config_add(st, &bad), SB_EINVAL);
    bad = make_agent("acme", "x", NULL);
    bad.fallback = (enum agent_fallback)7;
    cr_assert_eq(agent_config_add(st, &bad), SB_EINVAL);
    bad = make_agent("acme", "x", binary_prompt);
    cr_assert_eq(agent_config_add(st, &bad), SB_EINVAL);
    bad = make_agent("acme", "x", NULL);
    memset(bad.model, 'm', sizeof(bad.model)); /* not terminated */
    cr_assert_eq(agent_config_add(st, &bad), SB_EINVAL);
    bad = make_agent("acme", "x", NULL);
    snprintf(bad.langs[0], LANG_SIZE, "es,en");
    cr_assert_eq(agent_config_add(st, &bad), SB_EINVAL);
    cr_assert_eq(raw_query("SELECT count(*) FROM agents"), 1);
}

Test(agents, update_changes_only_the_fields_named)
{
    char prompt[] = "Primera versión.";
    char prompt2[] = "Segunda versión, más corta.";
    struct agent_config c = make_agent("acme", "ventas", prompt);
    struct agent_config change;
    struct agent_config got;

    cr_assert_eq(agent_config_add(st, &c), 0);
    /* Everything in `change` differs; only the model and the fallback are named. */
    memset(&change, 0, sizeof(change));
    snprintf(change.tenant, sizeof(change.tenant), "acme");
    snprintf(change.name, sizeof(change.name), "ventas");
    snprintf(change.model, sizeof(change.model), "llama3");
    change.fallback = AGENT_FALLBACK_RULES;
    change.temperature = 1.5;
    cr_assert_eq(agent_config_update(st, &change, AGENT_FIELD_MODEL | AGENT_FIELD_FALLBACK), 0);
    cr_assert_eq(agent_config_get(st, "acme", "ventas", &got), 0);
    cr_assert_str_eq(got.model, "llama3");
    cr_assert_eq(got.fallback, AGENT_FALLBACK_RULES);
    cr_assert_str_eq(got.base_url, "https://api.example.com/v1");
    cr_assert_str_eq(got.prompt, "Primera versión.");
    cr_assert_float_eq(got.temperature, 0.4, 1e-9);
    cr_assert_eq(got.max_tokens, 300);
    cr_assert_eq(got.nlangs, 2);
    cr_assert_eq(got.first_token_timeout_ms, 1800);
    cr_assert_str_eq(got.api_key_env, "EXAMPLE_API_KEY");
    agent_config_release(&got);

    /* Unsetting the temperature and replacing the prompt and the languages. */
    change.temperature = -1;
    change.prompt = prompt2;
    snprintf(change.langs[0], LANG_SIZE, "en-GB");
    change.nlangs = 1;
    cr_assert_eq(agent_config_update(
                     st, &change, AGENT_FIELD_TEMPERATURE | AGENT_FIELD_PROMPT | AGENT_FIELD_LANGS),
                 0);
    cr_assert_eq(agent_config_get(st, "acme", "ventas", &got), 0);
    cr_assert_lt(got.temperature, 0);
    cr_assert_str_eq(got.prompt, prompt2);
    cr_assert_eq(got.nlangs, 1);
    cr_assert_str_eq(got.langs[0], "en-GB");
    cr_assert_str_eq(got.model, "llama3");
    agent_config_release(&got);

    /* A bad value is refused only when its field is named. */
    change.temperature = 9;
    cr_assert_eq(agent_config_update(st, &change, AGENT_FIELD_TEMPERATURE), SB_EINVAL);
    cr_assert_eq(agent_config_update(st, &change, AGENT_FIELD_MAX_TOKENS), 0);
    cr_assert_eq(agent_config_update(st, &change, 1u << 20), SB_EINVAL);
    snprintf(change.name, sizeof(change.name), "nadie");
    cr_assert_eq(agent_config_update(st, &change, AGENT_FIELD_MODEL), SB_ENOTFOUND);
}

Test(agents, list_and_remove)
{
    struct agent_config a = make_agent("acme", "ventas", NULL);
    struct agent_config b = make_agent("acme", "soporte", NULL);
    struct agent_config p = make_agent("peluqueria", "recepcion", NULL);
    struct agent_config *list = NULL;
    struct agent_config got;
    size_t n = 0;

    cr_assert_eq(agent_config_add(st, &a), 0);
    cr_assert_eq(agent_config_add(st, &b), 0);
    cr_assert_eq(agent_config_add(st, &p), 0);
    cr_assert_eq(agent_config_list(st, NULL, &list, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(list[0].name, "soporte");
    cr_assert_str_eq(list[1].name, "ventas");
    cr_assert_str_eq(list[2].tenant, "peluqueria");
    cr_assert_not_null(list[0].prompt);
    agent_config_list_free(list, n);
    cr_assert_eq(agent_config_list(st, "peluqueria", &list, &n), 0);
    cr_assert_eq(n, 1);
    agent_config_list_free(list, n);
    cr_assert_eq(agent_config_list(st, "nobody", &list, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(list);

    cr_assert_eq(agent_config_remove(st, "acme", "ventas"), 0);
    cr_assert_eq(agent_config_remove(st, "acme", "ventas"), SB_ENOTFOUND);
    cr_assert_eq(agent_config_get(st, "acme", "ventas", &got), SB_ENOTFOUND);
    cr_assert_null(got.prompt);
    /* Removing a tenant takes its agents along. */
    cr_assert_eq(store_tenant_remove(st, "acme"), 0);
    cr_assert_eq(raw_query("SELECT count(*) FROM agents"), 1);
}

Test(agents, an_agent_change_moves_the_routing_version)
{
    struct agent_config a = make_agent("acme", "ventas", NULL);
    long long v1 = 0, v2 = 0;

    cr_assert_eq(store_routes_version(st, &v1), 0);
    cr_assert_eq(agent_config_add(st, &a), 0);
    cr_assert_eq(store_routes_version(st, &v2), 0);
    cr_assert_gt(v2, v1);
}

/* Speech settings. */

static void set_voice(struct agent_config *c, int i, const char *lang, const char *voice)
{
    snprintf(c->voices[i].lang, sizeof(c->voices[i].lang), "%s", lang);
    snprintf(c->voices[i].voice, sizeof(c->voices[i].voice), "%s", voice);
}

/* Every speech field of `c` set. */
static void set_speech(struct agent_config *c)
{
    snprintf(c->stt, sizeof(c->stt), "deepgram");
    snprintf(c->stt_model, sizeof(c->stt_model), "nova-2");
    snprintf(c->stt_url, sizeof(c->stt_url), "https://api.deepgram.example/v1/listen");
    snprintf(c->stt_key_env, sizeof(c->stt_key_env), "DEEPGRAM_KEY");
    snprintf(c->tts, sizeof(c->tts), "elevenlabs");
    snprintf(c->tts_url, sizeof(c->tts_url), "http://127.0.0.1:9000/tts");
    snprintf(c->tts_key_env, sizeof(c->tts_key_env), "ELEVEN_KEY");
    set_voice(c, 0, "es-MX", "Jimena Núñez");
    set_voice(c, 1, "en-US", "Rachel");
    c->nvoices = 2;
}

static void assert_speech_unset(const struct agent_config *got)
{
    cr_assert_str_eq(got->stt, "");
    cr_assert_str_eq(got->stt_model, "");
    cr_assert_str_eq(got->stt_url, "");
    cr_assert_str_eq(got->stt_key_env, "");
    cr_assert_str_eq(got->tts, "");
    cr_assert_str_eq(got->tts_url, "");
    cr_assert_str_eq(got->tts_key_env, "");
    cr_assert_eq(got->nvoices, 0);
}

Test(agents, speech_engine_and_voice_names)
{
    cr_assert(agent_stt_engine_valid(""));
    cr_assert(agent_stt_engine_valid("pocketsphinx"));
    cr_assert(agent_stt_engine_valid("deepgram"));
    cr_assert(agent_stt_engine_valid("whisper-api"));
    cr_assert_not(agent_stt_engine_valid("whisper"));
    cr_assert_not(agent_stt_engine_valid("Deepgram"));
    cr_assert_not(agent_stt_engine_valid("flite"));
    cr_assert_not(agent_stt_engine_valid(NULL));
    cr_assert(agent_tts_engine_valid(""));
    cr_assert(agent_tts_engine_valid("espeak"));
    cr_assert(agent_tts_engine_valid("flite"));
    cr_assert(agent_tts_engine_valid("elevenlabs"));
    cr_assert(agent_tts_engine_valid("cartesia"));
    cr_assert(agent_tts_engine_valid("openai"));
    cr_assert_not(agent_tts_engine_valid("espeak-ng"));
    cr_assert_not(agent_tts_engine_valid("pocketsphinx"));
    cr_assert(agent_voice_name_valid("Jimena Núñez"));
    cr_assert(agent_voice_name_valid("21m00Tcm4TlvDq8ikWAM"));
    cr_assert(agent_voice_name_valid("a"));
    cr_assert_not(agent_voice_name_valid(""));
    cr_assert_not(agent_voice_name_valid(NULL));
    cr_assert_not(agent_voice_name_valid("two\nlines"));
    cr_assert_not(agent_voice_name_valid("tab\there"));
    cr_assert_not(agent_voice_name_valid("esc\x1b[2J"));
    cr_assert_not(agent_voice_name_valid("c1 \xc2\x85"));
    cr_assert_not(agent_voice_name_valid("latin1 N\xfa\xf1"
                                         "ez"));
    {
        char longest[AGENT_VOICE_SIZE + 1];

        memset(longest, 'v', sizeof(longest));
        longest[AGENT_VOICE_SIZE - 1] = '\0';
        cr_assert(agent_voice_name_valid(longest));
        longest[AGENT_VOICE_SIZE - 1] = 'v';
        longest[AGENT_VOICE_SIZE] = '\0';
        cr_assert_not(agent_voice_name_valid(longest));
    }
}

Test(agents, speech_settings_round_trip_and_default_to_empty)
{
    struct agent_config c = make_agent("peluqueria", "recepcion", NULL);
    struct agent_config bare = make_agent("acme", "bare", NULL);
    struct agent_config got;
    struct agent_config *list = NULL;
    size_t n = 0;

    set_speech(&c);
    cr_assert_eq(agent_config_add(st, &c), 0);
    cr_assert_eq(agent_config_add(st, &bare), 0);
    cr_assert_eq(agent_config_get(st, "peluqueria", "recepcion", &got), 0);
    cr_assert_str_eq(got.stt, "deepgram");
    cr_assert_str_eq(got.stt_model, "nova-2");
    cr_assert_str_eq(got.stt_url, "https://api.deepgram.example/v1/listen");
    cr_assert_str_eq(got.stt_key_env, "DEEPGRAM_KEY");
    cr_assert_str_eq(got.tts, "elevenlabs");
    cr_assert_str_eq(got.tts_url, "http://127.0.0.1:9000/tts");
    cr_assert_str_eq(got.tts_key_env, "ELEVEN_KEY");
    cr_assert_eq(got.nvoices, 2);
    cr_assert_str_eq(got.voices[0].lang, "es-MX");
    cr_assert_str_eq(got.voices[0].voice, "Jimena Núñez");
    cr_assert_str_eq(got.voices[1].lang, "en-US");
    cr_assert_str_eq(got.voices[1].voice, "Rachel");
    /* The rest is as before. */
    cr_assert_str_eq(got.model, "gpt-4o-mini");
    cr_assert_eq(got.fallback, AGENT_FALLBACK_TRANSFER);
    agent_config_release(&got);
    /* A newline is char(10) in SQLite, chr(10) in PostgreSQL. */
    cr_assert_eq(raw_query(target_postgres()
                               ? "SELECT count(*) FROM agents WHERE voices = "
                                 "'es-MX=Jimena Núñez' || chr(10) || 'en-US=Rachel'"
                               : "SELECT count(*) FROM agents WHERE voices = "
                                 "'es-MX=Jimena Núñez' || char(10) || 'en-US=Rachel'"),
                 1);

    cr_assert_eq(agent_config_get(st, "acme", "bare", &got), 0);
    assert_speech_unset(&got);
    agent_config_release(&got);

    /* A full voice list with long names fits. */
    memset(c.voices, 0, sizeof(c.voices));
    for (int i = 0; i < AGENT_MAX_VOICES; i++) {
        char lang[LANG_SIZE];
        char voice[AGENT_VOICE_SIZE];

        snprintf(lang, sizeof(lang), "zh-Hant-TW%d", i);
        memset(voice, 'a' + i, sizeof(voice) - 1);
        voice[sizeof(voice) - 1] = '\0';
        set_voice(&c, i, lang, voice);
    }
    c.nvoices = AGENT_MAX_VOICES;
    cr_assert_eq(agent_config_update(st, &c, AGENT_FIELD_VOICES), 0);
    cr_assert_eq(agent_config_list(st, "peluqueria", &list, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(list[0].nvoices, AGENT_MAX_VOICES);
    for (int i = 0; i < AGENT_MAX_VOICES; i++) {
        cr_assert_str_eq(list[0].voices[i].lang, c.voices[i].lang);
        cr_assert_str_eq(list[0].voices[i].voice, c.voices[i].voice);
    }
    cr_assert_str_eq(list[0].stt, "deepgram");
    agent_config_list_free(list, n);
}

Test(agents, speech_update_changes_only_the_fields_named)
{
    struct agent_config c = make_agent("acme", "ventas", NULL);
    struct agent_config change;
    struct agent_config got;

    set_speech(&c);
    cr_assert_eq(agent_config_add(st, &c), 0);
    /* Everything in `change` differs; only the recognition engine is named. */
    change = make_agent("acme", "ventas", NULL);
    snprintf(change.stt, sizeof(change.stt), "whisper-api");
    snprintf(change.model, sizeof(change.model), "otro");
    cr_assert_eq(agent_config_update(st, &change, AGENT_FIELD_STT), 0);
    cr_assert_eq(agent_config_get(st, "acme", "ventas", &got), 0);
    cr_assert_str_eq(got.stt, "whisper-api");
    cr_assert_str_eq(got.stt_model, "nova-2");
    cr_assert_str_eq(got.stt_url, "https://api.deepgram.example/v1/listen");
    cr_assert_str_eq(got.stt_key_env, "DEEPGRAM_KEY");
    cr_assert_str_eq(got.tts, "elevenlabs");
    cr_assert_str_eq(got.tts_url, "http://127.0.0.1:9000/tts");
    cr_assert_str_eq(got.tts_key_env, "ELEVEN_KEY");
    cr_assert_eq(got.nvoices, 2);
    cr_assert_str_eq(got.model, "gpt-4o-mini");
    agent_config_release(&got);

    /* "" puts a setting back to the default; the voices given replace the list. */
    set_voice(&change, 0, "es", "Lucía");
    change.nvoices = 1;
    cr_assert_eq(agent_config_update(st, &change,
                                     AGENT_FIELD_TTS | AGENT_FIELD_TTS_URL |
                                         AGENT_FIELD_TTS_KEY_ENV | AGENT_FIELD_STT_MODEL |
                                         AGENT_FIELD_VOICES),
                 0);
    cr_assert_eq(agent_config_get(st, "acme", "ventas", &got), 0);
    cr_assert_str_eq(got.tts, "");
    cr_assert_str_eq(got.tts_url, "");
    cr_assert_str_eq(got.tts_key_env, "");
    cr_assert_str_eq(got.stt_model, "");
    cr_assert_str_eq(got.stt, "whisper-api");
    cr_assert_str_eq(got.stt_url, "https://api.deepgram.example/v1/listen");
    cr_assert_eq(got.nvoices, 1);
    cr_assert_str_eq(got.voices[0].lang, "es");
    cr_assert_str_eq(got.voices[0].voice, "Lucía");
    agent_config_release(&got);

    /* An LLM field alone leaves the speech fields. */
    cr_assert_eq(agent_config_update(st, &change, AGENT_FIELD_MODEL), 0);
    cr_assert_eq(agent_config_get(st, "acme", "ventas", &got), 0);
    cr_assert_str_eq(got.model, "otro");
    cr_assert_str_eq(got.stt, "whisper-api");
    cr_assert_eq(got.nvoices, 1);
    agent_config_release(&got);

    /* No voices at all. */
    change.nvoices = 0;
    cr_assert_eq(agent_config_update(st, &change, AGENT_FIELD_VOICES), 0);
    cr_assert_eq(raw_query("SELECT count(*) FROM agents WHERE voices = ''"), 1);
}

Test(agents, bad_speech_settings_are_refused_when_named)
{
    struct agent_config c = make_agent("acme", "ventas", NULL);
    struct agent_config bad;
    struct agent_config got;

    set_speech(&c);
    cr_assert_eq(agent_config_add(st, &c), 0);
#define REFUSED(field, change)                                                                     \
    do {                                                                                           \
        bad = make_agent("acme", "ventas", NULL);                                                  \
        set_speech(&bad);                                                                          \
        change;                                                                                    \
        cr_assert_eq(agent_config_update(st, &bad, field), SB_EINVAL, #change);                    \
        cr_assert_eq(agent_config_update(st, &bad, AGENT_FIELD_MODEL), 0, #change);                \
        bad = make_agent("acme", "otro", NULL);                                                    \
        set_speech(&bad);                                                                          \
        change;                                                                                    \
        cr_assert_eq(agent_config_add(st, &bad), SB_EINVAL, #change);                              \
    } while (0)
    REFUSED(AGENT_FIELD_STT, snprintf(bad.stt, sizeof(bad.stt), "google"));
    REFUSED(AGENT_FIELD_STT, snprintf(bad.stt, sizeof(bad.stt), "flite"));
    REFUSED(AGENT_FIELD_TTS, snprintf(bad.tts, sizeof(bad.tts), "polly"));
    REFUSED(AGENT_FIELD_TTS, memset(bad.tts, 'x', sizeof(bad.tts)));
    REFUSED(AGENT_FIELD_STT_MODEL, memset(bad.stt_model, 'm', sizeof(bad.stt_model)));
    REFUSED(AGENT_FIELD_STT_URL, snprintf(bad.stt_url, sizeof(bad.stt_url), "ftp://x"));
    REFUSED(AGENT_FIELD_TTS_URL, snprintf(bad.tts_url, sizeof(bad.tts_url), "https://a b"));
    REFUSED(AGENT_FIELD_STT_KEY_ENV, snprintf(bad.stt_key_env, sizeof(bad.stt_key_env), "1KEY"));
    REFUSED(AGENT_FIELD_TTS_KEY_ENV,
            snprintf(bad.tts_key_env, sizeof(bad.tts_key_env), "KEY=value"));
    REFUSED(AGENT_FIELD_VOICES, bad.nvoices = AGENT_MAX_VOICES + 1);
    REFUSED(AGENT_FIELD_VOICES, bad.nvoices = -1);
    REFUSED(AGENT_FIELD_VOICES, set_voice(&bad, 1, "es-mx", "Otra"));
    REFUSED(AGENT_FIELD_VOICES, set_voice(&bad, 1, "", "Otra"));
    REFUSED(AGENT_FIELD_VOICES, set_voice(&bad, 1, "es=MX", "Otra"));
    REFUSED(AGENT_FIELD_VOICES, set_voice(&bad, 1, "-es", "Otra"));
    REFUSED(AGENT_FIELD_VOICES, set_voice(&bad, 1, "en-US", ""));
    REFUSED(AGENT_FIELD_VOICES, set_voice(&bad, 1, "en-US", "a\nen-GB=b"));
    REFUSED(AGENT_FIELD_VOICES, set_voice(&bad, 1, "en-US",
                                          "N\xfa\xf1"
                                          "ez"));
    REFUSED(AGENT_FIELD_VOICES, memset(bad.voices[1].voice, 'v', sizeof(bad.voices[1].voice)));
#undef REFUSED
    /* Nothing refused was written. */
    cr_assert_eq(agent_config_get(st, "acme", "ventas", &got), 0);
    cr_assert_str_eq(got.stt, "deepgram");
    cr_assert_str_eq(got.tts, "elevenlabs");
    cr_assert_str_eq(got.stt_url, "https://api.deepgram.example/v1/listen");
    cr_assert_eq(got.nvoices, 2);
    cr_assert_str_eq(got.voices[1].voice, "Rachel");
    agent_config_release(&got);
    cr_assert_eq(raw_query("SELECT count(*) FROM agents"), 1);
}

/* Knowledge. */

static const char salon_md[] =
    "# Peluquería Ñandú\n"
    "\n"
    "Somos una peluquería familiar en Querétaro, abierta desde 1998.\n"
    "\n"
    "## Horario\n"
    "\n"
    "Abrimos de lunes a sábado, de 9:00 a 19:00. Los domingos cerramos.\n"
    "\n"
    "## Precios\n"
    "\n"
    "Un corte de cabello cuesta 250 pesos; el tinte, 600.\n"
    "Prices in English: a haircut costs 250 pesos, hair colour costs 600.\n"
    "\n"
    "## Ubicación\n"
    "\n"
    "Estamos en la calle Madero 12, en el centro, frente al jardín.\n"
    "You can park in the public car park behind the church; it does not cost much.\n";

static void import_salon(void)
{
    struct agent_config a = make_agent("peluqueria", "recepcion", NULL);
    size_t n = 0;

    cr_assert_eq(agent_config_add(st, &a), 0);
    cr_assert_eq(
        knowledge_import(st, "peluqueria", "recepcion", "salon.md", salon_md, strlen(salon_md), &n),
        0);
    cr_assert_eq(n, 4);
}

Test(agents, markdown_is_cut_at_headings_and_carries_them)
{
    struct knowledge_passage *p = NULL;
    size_t n = 0;

    cr_assert_eq(knowledge_cut(salon_md, strlen(salon_md), &p, &n), 0);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(p[0].heading, "Peluquería Ñandú");
    cr_assert_str_eq(p[0].text, "Somos una peluquería familiar en Querétaro, abierta desde 1998.");
    cr_assert_str_eq(p[1].heading, "Horario");
    cr_assert_str_eq(p[2].heading, "Precios");
    cr_assert_str_eq(p[2].text,
                     "Un corte de cabello cuesta 250 pesos; el tinte, 600.\n"
                     "Prices in English: a haircut costs 250 pesos, hair colour costs 600.");
    cr_assert_str_eq(p[3].heading, "Ubicación");
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(p[i].seq, (int)i + 1);
        cr_assert_str_eq(p[i].file, "");
    }
    free(p);
}

Test(agents, paragraphs_join_up_to_the_passage_size)
{
    char text[8192];
    struct knowledge_passage *p = NULL;
    size_t len = 0, n = 0, total = 0;

    /* Twenty paragraphs of about 100 bytes under no heading, with CRLF line ends. */
    for (int i = 0; i < 20; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len,
                                "Paragraph %02d says something about the salon and its "
                                "services, in about one hundred bytes.\r\n\r\n",
                                i);
    cr_assert_eq(knowledge_cut(text, len, &p, &n), 0);
    cr_assert_gt(n, 2);
    cr_assert_lt(n, 8);
    for (size_t i = 0; i < n; i++) {
        cr_assert_leq(strlen(p[i].text), KNOWLEDGE_PASSAGE_MAX);
        if (i + 1 < n)
            cr_assert_gt(strlen(p[i].text), KNOWLEDGE_PASSAGE_MAX / 2, "passage %zu is short", i);
        cr_assert_null(strchr(p[i].text, '\r'));
        cr_assert_str_eq(p[i].heading, "");
        total += (size_t)(strstr(p[i].text, "Paragraph 00") != NULL) +
                 (size_t)(strstr(p[i].text, "Paragraph 19") != NULL);
    }
    cr_assert_eq(total, 2, "the first and the last paragraph are both kept");
    free(p);
}

Test(agents, a_long_paragraph_is_cut_after_sentences_never_inside_a_character)
{
    char text[4096];
    struct knowledge_passage *p = NULL;
    size_t len = 0, n = 0;

    for (int i = 0; i < 30; i++)
        len +=
            (size_t)snprintf(text + len, sizeof(text) - len, "La oración %d habla de ñandúes. ", i);
    cr_assert_eq(knowledge_cut(text, len, &p, &n), 0);
    cr_assert_geq(n, 2);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(p[i].text);

        cr_assert_leq(l, KNOWLEDGE_PASSAGE_MAX);
        cr_assert(agent_text_valid(p[i].text, l));
        if (i + 1 < n)
            cr_assert_eq(p[i].text[l - 1], '.', "passage %zu ends mid-sentence: %s", i, p[i].text);
    }
    free(p);

    /* One word of 2000 "ñ" (two bytes each): cut between characters. */
    len = 0;
    for (int i = 0; i < 2000 && len + 2 < sizeof(text); i++) {
        memcpy(text + len, "\xc3\xb1", 2);
        len += 2;
    }
    cr_assert_eq(knowledge_cut(text, len, &p, &n), 0);
    cr_assert_geq(n, 7);
    for (size_t i = 0; i < n; i++)
        cr_assert(agent_text_valid(p[i].text, strlen(p[i].text)));
    free(p);
}

Test(agents, bad_knowledge_is_refused)
{
    static const char nul[] = "hola\0mundo";
    static const char latin1[] = "Peluquer\xed"
                                 "a";
    static const char overlong[] = "\xc0\xaf";
    static const char surrogate[] = "\xed\xa0\x80";
    struct knowledge_passage *p = NULL;
    size_t n = 7;
    char *huge;

    cr_assert_eq(knowledge_cut("", 0, &p, &n), SB_EINVAL);
    cr_assert_null(p);
    cr_assert_eq(n, 0);
    cr_assert_eq(knowledge_cut(" \n\n\t\r\n", 6, &p, &n), SB_EINVAL);
    cr_assert_eq(knowledge_cut("# Only\n## Headings\n", 19, &p, &n), SB_EINVAL);
    cr_assert_eq(knowledge_cut(nul, sizeof(nul) - 1, &p, &n), SB_EINVAL);
    cr_assert_eq(knowledge_cut(latin1, sizeof(latin1) - 1, &p, &n), SB_EINVAL);
    cr_assert_eq(knowledge_cut(overlong, sizeof(overlong) - 1, &p, &n), SB_EINVAL);
    cr_assert_eq(knowledge_cut(surrogate, sizeof(surrogate) - 1, &p, &n), SB_EINVAL);
    cr_assert_eq(knowledge_cut("\xe2\x82", 2, &p, &n), SB_EINVAL, "a cut-off character");

    huge = malloc(KNOWLEDGE_FILE_MAX + 1);
    cr_assert_not_null(huge);
    memset(huge, 'a', KNOWLEDGE_FILE_MAX + 1);
    cr_assert_eq(knowledge_cut(huge, KNOWLEDGE_FILE_MAX + 1, &p, &n), SB_ETOOBIG);
    /* Within the size, but one heading and line per passage: too many passages. */
    for (size_t i = 0; i + 6 <= KNOWLEDGE_FILE_MAX; i += 6)
        memcpy(huge + i, "# h\nx\n", 6);
    cr_assert_eq(knowledge_cut(huge, KNOWLEDGE_FILE_MAX, &p, &n), SB_ETOOBIG);
    cr_assert_null(p);
    free(huge);

    /* Through the store: nothing is written. */
    import_salon();
    cr_assert_eq(
        knowledge_import(st, "peluqueria", "recepcion", "bin.md", nul, sizeof(nul) - 1, NULL),
        SB_EINVAL);
    cr_assert_eq(knowledge_import(st, "peluqueria", "recepcion", "", "hola", 4, NULL), SB_EINVAL);
    cr_assert_eq(knowledge_import(st, "peluqueria", "nadie", "x.md", "hola", 4, NULL),
                 SB_ENOTFOUND);
    cr_assert_eq(raw_query("SELECT count(*) FROM knowledge_files"), 1);
    cr_assert_eq(raw_query("SELECT count(*) FROM knowledge_passages"), 4);
}

Test(agents, reimport_replaces_the_passages_of_that_file_only)
{
    static const char other[] = "# Promociones\n\nLos martes, dos por uno en cortes.\n";
    static const char salon_v2[] = "## Precios\n\nUn corte cuesta ahora 300 pesos.\n";
    struct knowledge_passage *p = NULL;
    struct knowledge_file *files = NULL;
    size_t n = 0;

    import_salon();
    cr_assert_eq(
        knowledge_import(st, "peluqueria", "recepcion", "promos.md", other, strlen(other), &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(
        knowledge_import(st, "peluqueria", "recepcion", "salon.md", salon_v2, strlen(salon_v2), &n),
        0);
    cr_assert_eq(n, 1);
    cr_assert_eq(raw_query("SELECT count(*) FROM knowledge_passages"), 2);
    /* The index forgot the old text too. */
    cr_assert_eq(knowledge_search(st, "peluqueria", "recepcion", "250", 5, &p, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(knowledge_search(st, "peluqueria", "recepcion", "300", 5, &p, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(p[0].file, "salon.md");
    cr_assert_str_eq(p[0].heading, "Precios");
    free(p);
    cr_assert_eq(knowledge_search(st, "peluqueria", "recepcion", "martes", 5, &p, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(p[0].file, "promos.md");
    free(p);

    cr_assert_eq(knowledge_file_list(st, "peluqueria", "recepcion", &files, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(files[0].name, "promos.md");
    cr_assert_str_eq(files[1].name, "salon.md");
    cr_assert_eq(files[1].bytes, (long long)strlen(salon_v2));
    cr_assert_eq(files[1].passages, 1);
    cr_assert_gt(files[1].imported_at, 0);
    free(files);

    /* Removing the agent removes its knowledge, from the index as well. */
    cr_assert_eq(agent_config_remove(st, "peluqueria", "recepcion"), 0);
    cr_assert_eq(raw_query("SELECT count(*) FROM knowledge_files"), 0);
    cr_assert_eq(raw_query("SELECT count(*) FROM knowledge_passages"), 0);
    if (!target_postgres())
        cr_assert_eq(
            raw_query("SELECT count(*) FROM knowledge_fts WHERE knowledge_fts MATCH 'martes'"), 0);
}

Test(agents, search_ranks_the_passage_about_prices_first)
{
    struct knowledge_passage *p = NULL;
    size_t n = 0;

    import_salon();
    cr_assert_eq(
        knowledge_search(st, "peluqueria", "recepcion", "how much does it cost", 3, &p, &n), 0);
    cr_assert_geq(n, 1);
    cr_assert_str_eq(p[0].heading, "Precios", "best: %s", p[0].heading);
    cr_assert_str_eq(p[0].file, "salon.md");
    for (size_t i = 1; i < n; i++)
        cr_assert_geq(p[i - 1].score, p[i].score);
    free(p);

    /* Spanish, with and without accents, upper case. */
    cr_assert_eq(
        knowledge_search(st, "peluqueria", "recepcion", "¿Cuánto cuesta un CORTE?", 3, &p, &n), 0);
    cr_assert_geq(n, 1);
    cr_assert_str_eq(p[0].heading, "Precios");
    free(p);
    cr_assert_eq(
        knowledge_search(st, "peluqueria", "recepcion", "a que hora abren el sabado", 3, &p, &n),
        0);
    cr_assert_geq(n, 1);
    cr_assert_str_eq(p[0].heading, "Horario");
    free(p);
    cr_assert_eq(knowledge_search(st, "peluqueria", "recepcion", "ubicacion", 3, &p, &n), 0);
    cr_assert_eq(n, 1, "the heading is searched too");
    free(p);

    /* k bounds the answer; another tenant's agent sees nothing of this one's. */
    cr_assert_eq(knowledge_search(st, "peluqueria", "recepcion", "the salon cost pesos", 1, &p, &n),
                 0);
    cr_assert_eq(n, 1);
    free(p);
    cr_assert_eq(knowledge_search(st, "acme", "recepcion", "cuesta", 3, &p, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(p);
}

Test(agents, hostile_queries_are_words_and_never_syntax)
{
    static const char *const queries[] = {
        "\"",
        "\"\"\"",
        "cuesta\"",
        "NEAR(corte tinte)",
        "NEAR(",
        "corte*",
        "*",
        "(((",
        ")",
        "corte AND OR NOT tinte",
        "heading:precios",
        "{heading body}: corte",
        "^corte",
        "- corte",
        "corte + tinte",
        "¿Cuánto cuesta?",
        "¡¿«»?!",
        "Robert'); DROP TABLE agents;--",
        "\xff\xfe garbage bytes \xc3",
        "",
        "   ",
        "☺ ☺ ☺",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z aa bb cc dd ee ff gg hh ii jj",
    };
    struct knowledge_passage *p = NULL;
    size_t n = 0;

    import_salon();
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        cr_assert_eq(knowledge_search(st, "peluqueria", "recepcion", queries[i], 5, &p, &n), 0,
                     "query %zu: %s", i, queries[i]);
        free(p);
        p = NULL;
    }
    /* The words still count: "NEAR(corte" finds the prices, as "corte" would. */
    cr_assert_eq(knowledge_search(st, "peluqueria", "recepcion", "NEAR(corte", 5, &p, &n), 0);
    cr_assert_geq(n, 1);
    cr_assert_str_eq(p[0].heading, "Precios");
    free(p);
    cr_assert_eq(knowledge_search(st, "peluqueria", "recepcion", "¿Cuánto cuesta?", 5, &p, &n), 0);
    cr_assert_geq(n, 1);
    cr_assert_str_eq(p[0].heading, "Precios");
    free(p);
    cr_assert_eq(knowledge_search(st, "peluqueria", "recepcion", "\"", 5, &p, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(knowledge_search(st, "peluqueria", "recepcion", "corte", 0, &p, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(raw_query("SELECT count(*) FROM agents"), 1);
}

/* Transcripts. */

Test(agents, turns_round_trip_in_order)
{
    static const char sid[] = "CA00000000000000000000000000000001";
    struct call_turn t;
    struct call_turn *list = NULL;
    size_t n = 0;
    int seq = 0;

    memset(&t, 0, sizeof(t));
    snprintf(t.call_sid, sizeof(t.call_sid), "%s", sid);
    t.role = TURN_CALLER;
    t.text = "¿Cuánto cuesta un corte?";
    t.latency_ms = -1;
    t.at = 1700000000123;
    cr_assert_eq(call_turn_append(st, &t, &seq), 0);
    cr_assert_eq(seq, 1);

    t.role = TURN_TOOL;
    t.text = NULL;
    snprintf(t.tool, sizeof(t.tool), "search_knowledge");
    t.tool_args = "{\"query\": \"precio corte\"}";
    t.tool_result = "Un corte cuesta 250 pesos.";
    t.latency_ms = 35;
    t.at = 0; /* now */
    cr_assert_eq(call_turn_append(st, &t, &seq), 0);
    cr_assert_eq(seq, 2);

    memset(t.tool, 0, sizeof(t.tool));
    t.tool_args = t.tool_result = NULL;
    t.role = TURN_AGENT;
    t.text = "Un corte cuesta 250 pesos. ¿Quiere que le aparte una cita?";
    t.interrupted = 1;
    t.heard = "Un corte cuesta 250 pesos.";
    t.latency_ms = 820;
    t.at = 1700000002000;
    cr_assert_eq(call_turn_append(st, &t, NULL), 0);

    /* Another call numbers its own turns. */
    snprintf(t.call_sid, sizeof(t.call_sid), "CA00000000000000000000000000000002");
    t.role = TURN_EVENT;
    t.text = "fallback: rules";
    t.interrupted = 0;
    t.heard = NULL;
    cr_assert_eq(call_turn_append(st, &t, &seq), 0);
    cr_assert_eq(seq, 1);

    cr_assert_eq(call_turns_list(st, sid, &list, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(list[0].seq, 1);
    cr_assert_eq(list[0].role, TURN_CALLER);
    cr_assert_str_eq(list[0].text, "¿Cuánto cuesta un corte?");
    cr_assert_str_eq(list[0].tool, "");
    cr_assert_str_eq(list[0].tool_args, "");
    cr_assert_str_eq(list[0].heard, "");
    cr_assert_eq(list[0].latency_ms, -1);
    cr_assert_eq(list[0].at, 1700000000123);
    cr_assert_eq(list[1].role, TURN_TOOL);
    cr_assert_str_eq(list[1].text, "");
    cr_assert_str_eq(list[1].tool, "search_knowledge");
    cr_assert_str_eq(list[1].tool_args, "{\"query\": \"precio corte\"}");
    cr_assert_str_eq(list[1].tool_result, "Un corte cuesta 250 pesos.");
    cr_assert_gt(list[1].at, 1700000000123);
    cr_assert_eq(list[2].role, TURN_AGENT);
    cr_assert(list[2].interrupted);
    cr_assert_str_eq(list[2].heard, "Un corte cuesta 250 pesos.");
    cr_assert_eq(list[2].latency_ms, 820);
    call_turns_free(list, n);

    cr_assert_eq(call_turns_list(st, "CAnone", &list, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(list);
}

Test(agents, turns_refuse_bad_input)
{
    struct call_turn t;
    char *big = malloc(CALL_TURN_TEXT_MAX + 2);

    cr_assert_not_null(big);
    memset(&t, 0, sizeof(t));
    t.role = TURN_AGENT;
    cr_assert_eq(call_turn_append(st, &t, NULL), SB_EINVAL, "no call_sid");
    snprintf(t.call_sid, sizeof(t.call_sid), "CA1");
    t.role = (enum turn_role)9;
    cr_assert_eq(call_turn_append(st, &t, NULL), SB_EINVAL);
    t.role = TURN_AGENT;
    memset(big, 'a', CALL_TURN_TEXT_MAX + 1);
    big[CALL_TURN_TEXT_MAX + 1] = '\0';
    t.text = big;
    cr_assert_eq(call_turn_append(st, &t, NULL), SB_ETOOBIG);
    big[CALL_TURN_TEXT_MAX] = '\0';
    cr_assert_eq(call_turn_append(st, &t, NULL), 0);
    free(big);
}

Test(agents, messages_round_trip)
{
    struct call_message m;
    struct call_message *list = NULL;
    size_t n = 0;

    memset(&m, 0, sizeof(m));
    snprintf(m.call_sid, sizeof(m.call_sid), "CA00000000000000000000000000000001");
    snprintf(m.caller_name, sizeof(m.caller_name), "Ana López");
    snprintf(m.callback_number, sizeof(m.callback_number), "+5215512345678");
    m.message = "Que me llamen mañana temprano, por favor.";
    m.at = 1700000005000;
    cr_assert_eq(call_message_add(st, &m), 0);
    snprintf(m.call_sid, sizeof(m.call_sid), "CA00000000000000000000000000000002");
    m.message = NULL;
    m.at = 0;
    cr_assert_eq(call_message_add(st, &m), 0);

    cr_assert_eq(call_messages_list(st, "CA00000000000000000000000000000001", &list, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(list[0].caller_name, "Ana López");
    cr_assert_str_eq(list[0].callback_number, "+5215512345678");
    cr_assert_str_eq(list[0].message, "Que me llamen mañana temprano, por favor.");
    cr_assert_eq(list[0].at, 1700000005000);
    call_messages_free(list, n);
    cr_assert_eq(call_messages_list(st, NULL, &list, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(list[1].message, "");
    call_messages_free(list, n);

    memset(m.call_sid, 0, sizeof(m.call_sid));
    cr_assert_eq(call_message_add(st, &m), SB_EINVAL);
}

Test(agents, an_older_database_migrates_and_keeps_its_data)
{
    struct store *s = NULL;
    struct tenant t;
    struct agent_config a = make_agent("acme", "ventas", NULL);

    target_sqlite_only("undoes migrations with SQLite's SQL");
    /*
     * Back to the schema before agents: drop what migration 4 made and forget
     * it, and the table of migration 5 (which then runs again; its rebuilt
     * numbers table is rebuilt once more).
     */
    store_close(st);
    st = NULL;
    {
        sqlite3 *db = NULL;

        cr_assert_eq(sqlite3_open_v2(tgt.path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        cr_assert_eq(
            sqlite3_exec(db,
                         "DROP TABLE knowledge_fts; DROP TABLE knowledge_passages;"
                         "DROP TABLE knowledge_files; DROP TABLE agents;"
                         "DROP TABLE call_turns; DROP TABLE call_messages;"
                         "DROP TABLE tenant_relay_voices;" UNDO_MIGRATION_11 UNDO_MIGRATION_10
                             UNDO_MIGRATION_9 UNDO_MIGRATION_8 UNDO_MIGRATION_7
                         "DELETE FROM schema_migrations WHERE version >= 4;",
                         NULL, NULL, NULL),
            SQLITE_OK, "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
    }
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), 3);
    cr_assert_eq(store_open(&s, tgt.path), 0);
    st = s;
    cr_assert_geq(raw_query("SELECT max(version) FROM schema_migrations"), 4);
    cr_assert_eq(store_tenant_get(st, "peluqueria", &t), 0);
    cr_assert_eq(agent_config_add(st, &a), 0);
}

/* Puts the file back to migration 5: agents without the speech columns of migration 6. */
static void back_to_migration_5(void)
{
    sqlite3 *db = NULL;

    cr_assert_eq(sqlite3_open_v2(tgt.path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "BEGIN;" UNDO_MIGRATION_11 UNDO_MIGRATION_10 UNDO_MIGRATION_9
                                  UNDO_MIGRATION_8 UNDO_MIGRATION_7
                              "ALTER TABLE agents DROP COLUMN stt;"
                              "ALTER TABLE agents DROP COLUMN stt_model;"
                              "ALTER TABLE agents DROP COLUMN stt_url;"
                              "ALTER TABLE agents DROP COLUMN stt_key_env;"
                              "ALTER TABLE agents DROP COLUMN tts;"
                              "ALTER TABLE agents DROP COLUMN tts_url;"
                              "ALTER TABLE agents DROP COLUMN tts_key_env;"
                              "ALTER TABLE agents DROP COLUMN voices;"
                              "DELETE FROM schema_migrations WHERE version >= 6;"
                              "COMMIT;",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

Test(agents, a_database_at_migration_5_gains_the_speech_columns_and_keeps_its_agents)
{
    struct agent_config a = make_agent("acme", "ventas", NULL);
    struct agent_config got;
    size_t n = 0;

    target_sqlite_only("undoes migrations with SQLite's SQL");
    cr_assert_eq(agent_config_add(st, &a), 0);
    cr_assert_eq(knowledge_import(st, "acme", "ventas", "faq.md", "## Precios\n\nUn corte, 250.\n",
                                  strlen("## Precios\n\nUn corte, 250.\n"), &n),
                 0);
    store_close(st);
    st = NULL;
    back_to_migration_5();
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), 5);
    cr_assert_eq(raw_query("SELECT count(*) FROM pragma_table_info('agents') WHERE name = 'stt'"),
                 0);

    cr_assert_eq(store_open(&st, tgt.path), 0);
    cr_assert_eq(raw_query("SELECT max(version) FROM schema_migrations"), LATEST_MIGRATION);
    cr_assert_eq(raw_query("SELECT count(*) FROM schema_migrations"), LATEST_MIGRATION);
    cr_assert_eq(raw_query("SELECT count(*) FROM pragma_table_info('agents') WHERE name IN "
                           "('stt', 'stt_model', 'stt_url', 'stt_key_env', 'tts', 'tts_url', "
                           "'tts_key_env', 'voices')"),
                 8);
    /* The agent, its knowledge and its settings are there; its speech is the default. */
    cr_assert_eq(agent_config_get(st, "acme", "ventas", &got), 0);
    cr_assert_str_eq(got.model, "gpt-4o-mini");
    cr_assert_str_eq(got.api_key_env, "EXAMPLE_API_KEY");
    cr_assert_eq(got.nlangs, 2);
    cr_assert_eq(got.fallback, AGENT_FALLBACK_TRANSFER);
    assert_speech_unset(&got);
    agent_config_release(&got);
    cr_assert_eq(raw_query("SELECT count(*) FROM knowledge_passages"), 1);
    /* The triggers still move the routing version, and the new fields can be written. */
    {
        long long v1 = 0, v2 = 0;

        set_speech(&a);
        cr_assert_eq(store_routes_version(st, &v1), 0);
        cr_assert_eq(agent_config_update(st, &a, AGENT_FIELD_STT | AGENT_FIELD_VOICES), 0);
        cr_assert_eq(store_routes_version(st, &v2), 0);
        cr_assert_gt(v2, v1);
    }
    cr_assert_eq(agent_config_get(st, "acme", "ventas", &got), 0);
    cr_assert_str_eq(got.stt, "deepgram");
    cr_assert_str_eq(got.tts, "");
    cr_assert_eq(got.nvoices, 2);
    agent_config_release(&got);
}

Test(agents, a_query_of_stop_words_alone_still_searches_them)
{
    struct knowledge_passage *p = NULL;
    size_t n = 0;

    import_salon();
    /* "in" is a stop word; nothing else is left, so it is searched, and found. */
    cr_assert_eq(knowledge_search(st, "peluqueria", "recepcion", "in?", 3, &p, &n), 0);
    cr_assert_geq(n, 1);
    cr_assert_str_eq(p[0].heading, "Precios");
    free(p);
}

static int append_turns(int i, struct store *mine, void *arg)
{
    (void)i;
    (void)arg;
    for (int k = 0; k < 10; k++) {
        struct call_turn t;

        memset(&t, 0, sizeof(t));
        snprintf(t.call_sid, sizeof(t.call_sid), "CA-many");
        t.role = TURN_CALLER;
        t.text = "hola";
        t.latency_ms = -1;
        if (call_turn_append(mine, &t, NULL) != 0)
            return 2;
    }
    return 0;
}

/* Processes appending to one call's transcript at once never take the same number. */
Test(agents, turns_appended_by_several_processes_get_distinct_numbers)
{
    struct call_turn *list = NULL;
    size_t n = 0;

    cr_assert_eq(target_in_processes(&tgt, 4, append_turns, NULL), 0);
    cr_assert_eq(call_turns_list(st, "CA-many", &list, &n), 0);
    cr_assert_eq(n, 4 * 10);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(list[i].seq, (int)i + 1);
    call_turns_free(list, n);
}
