/*
 * Tests for flow/interpret.c: whole calls through the example flow of
 * docs/flows.md and small flows made for one rule each, comparing the TwiML
 * of every step byte for byte.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/twiml.h"
#include "fixture.h"
#include "flow/flow.h"

#define SAY_EN(x) "<Say voice=\"Polly.Joanna\">" x "</Say>"
#define SAY_ES(x) "<Say voice=\"Polly.Lupe\">" x "</Say>"
#define GOODBYE_EN SAY_EN("Thank you for calling. Goodbye!")
#define GOODBYE_ES SAY_ES("Gracias por llamar. ¡Hasta luego!")
#define HANGUP "<Hangup />"

/* The <Gather> of the example's language and main menus. */
#define ASK(lang)                                                                                  \
    "<Gather action=\"/voice/flow\" actionOnEmptyResult=\"true\" input=\"dtmf speech\" "           \
    "language=\"" lang "\" numDigits=\"1\" timeout=\"5\">"
#define LANG_PROMPT SAY_EN("For English press 1.") SAY_ES("Para español oprima 2.")
#define MENU_EN SAY_EN("For appointments press 1. For billing press 2. For a person press 0.")
#define MENU_ES                                                                                    \
    SAY_ES("Para citas oprima 1. Para facturación oprima 2. Para hablar con una persona oprima "  \
           "0.")
#define OPERATOR_DIAL                                                                              \
    "<Dial action=\"/voice/flow\" callerId=\"+15557770000\" timeout=\"20\">"                       \
    "<Number>+15557654321</Number></Dial>"
#define RECORD                                                                                     \
    "<Record action=\"/voice/flow\" finishOnKey=\"#\" maxLength=\"120\" playBeep=\"true\" "        \
    "recordingStatusCallback=\"/voice/recording\" />"
#define VM_EN SAY_EN("Please leave a message after the tone.") RECORD
#define BYE_EN SAY_EN("Thank you for calling Acme. Goodbye.") HANGUP

static struct flow *main_flow;
static struct flow_env env;
static struct flow_state st;

static void setup(void)
{
    main_flow = fx_load(fx_main_json);
    fx_env(&env);
    fx_state(&st, "en-US");
}

static void teardown(void)
{
    flow_free(main_flow);
}

TestSuite(interpret, .init = setup, .fini = teardown);

/* Runs the example flow to its main menu in `lang` (English on digit 1, Spanish on 2). */
static void to_menu(const char *digit)
{
    char *doc = fx_step(main_flow, &st, FLOW_START, NULL, &env, NULL);

    free(doc);
    doc = fx_step(main_flow, &st, FLOW_DIGITS, digit, &env, NULL);
    free(doc);
    cr_assert_str_eq(st.node, "menu");
}

static void to_operator(void)
{
    char *doc;

    to_menu("1");
    doc = fx_step(main_flow, &st, FLOW_DIGITS, "0", &env, NULL);
    free(doc);
    cr_assert_str_eq(st.node, "operator");
}

/* -- the example flow, node by node -- */

Test(interpret, start_says_welcome_and_asks_language)
{
    fx_expect(main_flow, &st, FLOW_START, NULL, &env,
              SAY_EN("Welcome to Acme.") ASK("en-US") LANG_PROMPT "</Gather>");
    cr_assert_str_eq(st.node, "lang");
    cr_assert_eq(st.steps, 3, "welcome, hours, lang: %d", st.steps);
    cr_assert_eq(st.attempts, 0);
    cr_assert_eq(st.done, 0);
}

Test(interpret, language_digit_one_keeps_english_menu)
{
    fx_expect(main_flow, &st, FLOW_START, NULL, &env,
              SAY_EN("Welcome to Acme.") ASK("en-US") LANG_PROMPT "</Gather>");
    fx_expect(main_flow, &st, FLOW_DIGITS, "1", &env, ASK("en-US") MENU_EN "</Gather>");
    cr_assert_str_eq(st.lang, "en-US");
    cr_assert_eq(st.steps, 4);
}

Test(interpret, language_switch_changes_next_prompt)
{
    char *doc = fx_step(main_flow, &st, FLOW_START, NULL, &env, NULL);

    free(doc);
    fx_expect(main_flow, &st, FLOW_DIGITS, "2", &env, ASK("es-MX") MENU_ES "</Gather>");
    cr_assert_str_eq(st.lang, "es-MX");
    /* And every later node speaks Spanish too. */
    fx_expect(main_flow, &st, FLOW_DIGITS, "7", &env,
              ASK("es-MX") SAY_ES("Lo siento, esa opción no existe.") MENU_ES "</Gather>");
}

Test(interpret, language_by_speech_keyword_with_accent)
{
    char *doc = fx_step(main_flow, &st, FLOW_START, NULL, &env, NULL);

    free(doc);
    fx_expect(main_flow, &st, FLOW_SPEECH, "ESPAÑOL, por favor.", &env,
              ASK("es-MX") MENU_ES "</Gather>");
    cr_assert_str_eq(st.lang, "es-MX");
}

Test(interpret, language_silence_falls_back_to_next_in_current_language)
{
    char *doc = fx_step(main_flow, &st, FLOW_START, NULL, &env, NULL);

    free(doc);
    fx_expect(main_flow, &st, FLOW_NO_INPUT, NULL, &env,
              ASK("en-US") SAY_EN("Sorry, I didn't hear anything.")
                  SAY_ES("Perdone, no he oído nada.") LANG_PROMPT "</Gather>");
    cr_assert_eq(st.attempts, 1);
    /* max_attempts is 2: the second silence goes on to the menu. */
    fx_expect(main_flow, &st, FLOW_NO_INPUT, NULL, &env, ASK("en-US") MENU_EN "</Gather>");
    cr_assert_str_eq(st.lang, "en-US");
    cr_assert_eq(st.attempts, 0);
}

Test(interpret, valid_digit_plays_and_returns_to_menu)
{
    to_menu("1");
    fx_expect(main_flow, &st, FLOW_DIGITS, "2", &env,
              "<Play>https://cdn.example.com/billing.mp3</Play>" ASK("en-US") MENU_EN "</Gather>");
    cr_assert_str_eq(st.node, "menu");
    cr_assert_eq(st.steps, 6);
}

Test(interpret, invalid_then_valid)
{
    to_menu("1");
    fx_expect(main_flow, &st, FLOW_DIGITS, "9", &env,
              ASK("en-US") SAY_EN("Sorry, that is not an option.") MENU_EN "</Gather>");
    cr_assert_eq(st.attempts, 1);
    cr_assert_str_eq(st.node, "menu");
    fx_expect(
        main_flow, &st, FLOW_DIGITS, "1", &env,
        "<Gather action=\"/voice/gather\" input=\"speech\" language=\"en-US\" "
        "speechTimeout=\"auto\">" SAY_EN("What day suits you?") "</Gather>" GOODBYE_EN HANGUP);
    cr_assert_eq(st.done, 1);
    cr_assert_str_eq(st.node, "appointments");
}

Test(interpret, multi_digit_answer_is_invalid_for_single_digit_menu)
{
    to_menu("1");
    fx_expect(main_flow, &st, FLOW_DIGITS, "12", &env,
              ASK("en-US") SAY_EN("Sorry, that is not an option.") MENU_EN "</Gather>");
}

Test(interpret, silence_until_fallback)
{
    to_menu("1");
    fx_expect(main_flow, &st, FLOW_NO_INPUT, NULL, &env,
              ASK("en-US") SAY_EN("Sorry, I did not hear you.") MENU_EN "</Gather>");
    cr_assert_eq(st.attempts, 1);
    /* An empty Digits is silence too (actionOnEmptyResult sends one). */
    fx_expect(main_flow, &st, FLOW_DIGITS, "", &env,
              ASK("en-US") SAY_EN("Sorry, I did not hear you.") MENU_EN "</Gather>");
    cr_assert_eq(st.attempts, 2);
    fx_expect(main_flow, &st, FLOW_NO_INPUT, NULL, &env, OPERATOR_DIAL);
    cr_assert_str_eq(st.node, "operator");
    cr_assert_eq(st.attempts, 0);
    cr_assert_eq(st.done, 0);
}

Test(interpret, mixed_wrong_answers_share_the_attempts)
{
    to_menu("1");
    free(fx_step(main_flow, &st, FLOW_DIGITS, "5", &env, NULL));
    free(fx_step(main_flow, &st, FLOW_SPEECH, "what?", &env, NULL));
    cr_assert_eq(st.attempts, 2);
    fx_expect(main_flow, &st, FLOW_NO_INPUT, NULL, &env, OPERATOR_DIAL);
}

Test(interpret, speech_keyword_match)
{
    to_menu("1");
    fx_expect(main_flow, &st, FLOW_SPEECH, "I'd like to talk to a PERSON, please.", &env,
              OPERATOR_DIAL);
}

Test(interpret, speech_keyword_match_spanish)
{
    to_menu("2");
    fx_expect(
        main_flow, &st, FLOW_SPEECH, "¿Puedo pedir una cita?", &env,
        "<Gather action=\"/voice/gather\" input=\"speech\" language=\"es-MX\" "
        "speechTimeout=\"auto\">" SAY_ES("¿Qué día le viene bien?") "</Gather>" GOODBYE_ES HANGUP);
}

Test(interpret, speech_matches_whole_words_only)
{
    to_menu("1");
    /* "appointments" is not the word "appointment". */
    fx_expect(main_flow, &st, FLOW_SPEECH, "appointments", &env,
              ASK("en-US") SAY_EN("Sorry, that is not an option.") MENU_EN "</Gather>");
}

Test(interpret, speech_keyword_in_capitals_and_between_marks)
{
    to_menu("2");
    fx_expect(
        main_flow, &st, FLOW_SPEECH, "¿Una CITA?", &env,
        "<Gather action=\"/voice/gather\" input=\"speech\" language=\"es-MX\" "
        "speechTimeout=\"auto\">" SAY_ES("¿Qué día le viene bien?") "</Gather>" GOODBYE_ES HANGUP);
}

Test(interpret, spoken_number_chooses_the_option_with_those_keys)
{
    to_menu("1");
    fx_expect(main_flow, &st, FLOW_SPEECH, "0.", &env, OPERATOR_DIAL);
}

Test(interpret, after_hours_goes_to_voicemail_at_once)
{
    struct flow_result res;
    char *doc;

    env.now = MON_2000;
    doc = fx_step(main_flow, &st, FLOW_START, NULL, &env, &res);
    cr_assert_str_eq(doc, DECL "<Response>" SAY_EN("Welcome to Acme.") SAY_EN("We are closed.")
                              VM_EN "</Response>");
    free(doc);
    cr_assert_eq(res.voicemail, 1);
    cr_assert_str_eq(st.node, "vm");
    cr_assert_eq(st.steps, 4, "welcome, hours, closed_msg, vm: %d", st.steps);
}

Test(interpret, voicemail_recorded_continues)
{
    struct flow_result res;
    char *doc;

    env.now = MON_2000;
    free(fx_step(main_flow, &st, FLOW_START, NULL, &env, NULL));
    doc = fx_step(main_flow, &st, FLOW_RECORDED, NULL, &env, &res);
    cr_assert_str_eq(doc, DECL "<Response>" BYE_EN "</Response>");
    free(doc);
    cr_assert_eq(res.voicemail, 0);
    cr_assert_eq(st.done, 1);
    cr_assert_str_eq(st.node, "bye");
}

Test(interpret, voicemail_in_spanish)
{
    fx_state(&st, "es-MX");
    env.now = MON_2000;
    fx_expect(main_flow, &st, FLOW_START, NULL, &env,
              SAY_ES("Bienvenido a Acme.") SAY_ES("Estamos cerrados.")
                  SAY_ES("Deje su mensaje después del tono.") RECORD);
}

Test(interpret, transfer_answered_ends_with_goodbye)
{
    to_operator();
    fx_expect(main_flow, &st, FLOW_DIAL_DONE, "completed", &env, BYE_EN);
    cr_assert_eq(st.done, 1);
}

Test(interpret, transfer_busy_into_voicemail)
{
    struct flow_result res;
    char *doc;

    to_operator();
    doc = fx_step(main_flow, &st, FLOW_DIAL_DONE, "busy", &env, &res);
    cr_assert_str_eq(doc, DECL "<Response>" VM_EN "</Response>");
    free(doc);
    cr_assert_eq(res.voicemail, 1);
    cr_assert_str_eq(st.node, "vm");
    fx_expect(main_flow, &st, FLOW_RECORDED, NULL, &env, BYE_EN);
}

Test(interpret, transfer_no_answer_into_voicemail)
{
    to_operator();
    fx_expect(main_flow, &st, FLOW_DIAL_DONE, "no-answer", &env, VM_EN);
}

Test(interpret, transfer_failed_into_voicemail)
{
    to_operator();
    fx_expect(main_flow, &st, FLOW_DIAL_DONE, "failed", &env, VM_EN);
}

Test(interpret, transfer_unknown_status_counts_as_failed)
{
    to_operator();
    fx_expect(main_flow, &st, FLOW_DIAL_DONE, "ringing-forever", &env, VM_EN);
}

Test(interpret, transfer_answered_status_counts_as_completed)
{
    to_operator();
    fx_expect(main_flow, &st, FLOW_DIAL_DONE, "answered", &env, BYE_EN);
}

Test(interpret, transfer_missing_branch_hangs_up)
{
    to_operator();
    fx_expect(main_flow, &st, FLOW_DIAL_DONE, "canceled", &env, GOODBYE_EN HANGUP);
    cr_assert_eq(st.done, 1);
}

Test(interpret, holiday_is_closed)
{
    env.now = XMAS_1000;
    fx_expect(main_flow, &st, FLOW_START, NULL, &env,
              SAY_EN("Welcome to Acme.") SAY_EN("We are closed.") VM_EN);
}

Test(interpret, yearly_holiday_is_closed)
{
    env.now = NEWYEAR_1000;
    fx_expect(main_flow, &st, FLOW_START, NULL, &env,
              SAY_EN("Welcome to Acme.") SAY_EN("We are closed.") VM_EN);
}

Test(interpret, lunch_break_is_closed)
{
    env.now = FRI_1330;
    fx_expect(main_flow, &st, FLOW_START, NULL, &env,
              SAY_EN("Welcome to Acme.") SAY_EN("We are closed.") VM_EN);
}

Test(interpret, done_call_only_hangs_up)
{
    env.now = MON_2000;
    free(fx_step(main_flow, &st, FLOW_START, NULL, &env, NULL));
    free(fx_step(main_flow, &st, FLOW_RECORDED, NULL, &env, NULL));
    cr_assert_eq(st.done, 1);
    fx_expect(main_flow, &st, FLOW_DIGITS, "1", &env, HANGUP);
    cr_assert_eq(st.done, 1);
}

Test(interpret, start_again_after_done_restarts_and_keeps_steps)
{
    env.now = MON_2000;
    free(fx_step(main_flow, &st, FLOW_START, NULL, &env, NULL));
    free(fx_step(main_flow, &st, FLOW_RECORDED, NULL, &env, NULL));
    cr_assert_eq(st.steps, 5);
    free(fx_step(main_flow, &st, FLOW_START, NULL, &env, NULL));
    cr_assert_eq(st.done, 0);
    cr_assert_eq(st.steps, 9);
}

Test(interpret, unknown_state_node_is_einval)
{
    struct flow_input in = {FLOW_DIGITS, "1"};
    struct flow_state next;
    struct flow_result res;
    struct twiml t;

    snprintf(st.node, sizeof(st.node), "%s", "nope");
    st.steps = 7;
    twiml_init(&t);
    cr_assert_eq(flow_step(main_flow, &st, &in, &env, &t, &next, &res), SB_EINVAL);
    cr_assert_eq(t.out.len, 0, "nothing written");
    cr_assert_str_eq(next.node, "nope");
    cr_assert_eq(next.steps, 7);
    twiml_release(&t);
}

Test(interpret, input_before_start_is_einval)
{
    struct flow_input in = {FLOW_NO_INPUT, NULL};
    struct flow_state next;
    struct flow_result res;
    struct twiml t;

    twiml_init(&t);
    cr_assert_eq(flow_step(main_flow, &st, &in, &env, &t, &next, &res), SB_EINVAL);
    twiml_release(&t);
}

Test(interpret, input_of_another_node_kind_is_einval)
{
    struct flow_input rec = {FLOW_RECORDED, NULL};
    struct flow_input dial = {FLOW_DIAL_DONE, "busy"};
    struct flow_state next;
    struct flow_result res;
    struct twiml t;

    to_menu("1");
    twiml_init(&t);
    cr_assert_eq(flow_step(main_flow, &st, &rec, &env, &t, &next, &res), SB_EINVAL);
    cr_assert_eq(flow_step(main_flow, &st, &dial, &env, &t, &next, &res), SB_EINVAL);
    twiml_release(&t);
    to_operator();
    twiml_init(&t);
    cr_assert_eq(flow_step(main_flow, &st, &rec, &env, &t, &next, &res), SB_EINVAL);
    twiml_release(&t);
}

Test(interpret, next_may_be_the_state_itself)
{
    struct flow_input in = {FLOW_START, NULL};
    struct flow_result res;
    struct twiml t;

    twiml_init(&t);
    cr_assert_eq(flow_step(main_flow, &st, &in, &env, &t, &st, &res), 0);
    twiml_release(&t);
    cr_assert_str_eq(st.node, "lang");
}

Test(interpret, determinism)
{
    static const struct {
        enum flow_input_kind kind;
        const char *text;
    } script[] = {
        {FLOW_START, NULL},    {FLOW_SPEECH, "hmm"},     {FLOW_DIGITS, "2"},
        {FLOW_NO_INPUT, NULL}, {FLOW_SPEECH, "persona"}, {FLOW_DIAL_DONE, "busy"},
        {FLOW_RECORDED, NULL},
    };
    char *first[sizeof(script) / sizeof(script[0])];
    size_t i;
    int round;

    for (round = 0; round < 2; round++) {
        fx_state(&st, "");
        for (i = 0; i < sizeof(script) / sizeof(script[0]); i++) {
            char *doc = fx_step(main_flow, &st, script[i].kind, script[i].text, &env, NULL);

            if (round == 0) {
                first[i] = doc;
                continue;
            }
            cr_assert_str_eq(doc, first[i], "step %zu differs", i);
            free(doc);
            free(first[i]);
        }
        cr_assert_eq(st.done, 1);
    }
}

/* -- small flows, one rule each -- */

Test(interpret, hours_follow_the_utc_offset)
{
    struct flow *f =
        fx_load("{\"name\": \"h\", \"start\": \"h\", \"nodes\": {"
                "\"h\": {\"type\": \"hours\", \"weekly\": {\"mon\": [\"09:00-17:00\"], "
                "\"sat\": [\"00:00-12:00\", \"12:00-24:00\"]}, \"open\": \"o\", \"closed\": \"c\"},"
                "\"o\": {\"type\": \"hangup\", \"text\": \"open\"},"
                "\"c\": {\"type\": \"hangup\", \"text\": \"closed\"}}}");
    static const struct {
        time_t now;
        int offset;
        const char *want;
    } cases[] = {
        {MON_1400, -300, "open"},   /* 09:00 in New York (EST) */
        {MON_1400, -360, "closed"}, /* 08:00 in Chicago */
        {MON_0900, 0, "open"},          {MON_0859, 0, "closed"}, {MON_1700, 0, "closed"},
        {MON_0900, 480, "closed"},      /* 17:00: the end of a range is closed */
        {MON_0900, 479, "open"},        /* 16:59 */
        {SAT_2359, 0, "open"},          /* 24:00 ends a range */
        {MON_1000, -24 * 60, "closed"}, /* Sunday 10:00 */
    };
    char want[256];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *doc;

        env.now = cases[i].now;
        env.utc_offset_min = cases[i].offset;
        fx_state(&st, "en-US");
        doc = fx_step(f, &st, FLOW_START, NULL, &env, NULL);
        snprintf(want, sizeof(want), DECL "<Response>" SAY_EN("%s") HANGUP "</Response>",
                 cases[i].want);
        cr_assert_str_eq(doc, want, "case %zu", i);
        free(doc);
    }
    flow_free(f);
}

Test(interpret, default_fallback_with_transfer_number)
{
    struct flow *f =
        fx_load("{\"name\": \"m\", \"start\": \"m\", \"nodes\": {\"m\": {\"type\": \"menu\", "
                "\"prompt\": \"Press 1.\", \"max_attempts\": 1, \"options\": [{\"digit\": \"1\", "
                "\"next\": \"b\"}]}, \"b\": {\"type\": \"hangup\"}}}");

    free(fx_step(f, &st, FLOW_START, NULL, &env, NULL));
    fx_expect(
        f, &st, FLOW_NO_INPUT, NULL, &env,
        SAY_EN("Please hold while I connect you with a person.") "<Dial callerId=\"+15557770000\" "
                                                                 "timeout=\"20\"><Number>+"
                                                                 "15550001111</Number>"
                                                                 "</Dial>" GOODBYE_EN HANGUP);
    cr_assert_eq(st.done, 1);
    flow_free(f);
}

Test(interpret, default_fallback_without_transfer_number)
{
    struct flow *f =
        fx_load("{\"name\": \"m\", \"start\": \"m\", \"nodes\": {\"m\": {\"type\": \"menu\", "
                "\"prompt\": \"Press 1.\", \"max_attempts\": 2, \"options\": [{\"digit\": \"1\", "
                "\"next\": \"b\"}]}, \"b\": {\"type\": \"hangup\"}}}");

    env.transfer = "";
    fx_state(&st, "es-MX");
    free(fx_step(f, &st, FLOW_START, NULL, &env, NULL));
    fx_expect(f, &st, FLOW_DIGITS, "4", &env,
              "<Gather action=\"/voice/flow\" actionOnEmptyResult=\"true\" input=\"dtmf\" "
              "language=\"es-MX\" numDigits=\"1\" timeout=\"5\">" SAY_ES(
                  "Lo siento, esa no es una de las opciones.") SAY_ES("Press 1.") "</Gather>");
    fx_expect(f, &st, FLOW_DIGITS, "4", &env, GOODBYE_ES HANGUP);
    cr_assert_eq(st.done, 1);
    flow_free(f);
}

Test(interpret, menu_gather_shapes)
{
    struct flow *f = fx_load(
        "{\"name\": \"m\", \"start\": \"a\", \"nodes\": {"
        "\"a\": {\"type\": \"menu\", \"prompt\": {\"en\": \"Extension?\"}, \"timeout\": 8, "
        "\"options\": [{\"digit\": \"101\", \"next\": \"b\"}, {\"digit\": \"2\", \"next\": \"b\"}],"
        " \"fallback\": \"s\"},"
        "\"s\": {\"type\": \"menu\", \"prompt\": \"Say sales.\", \"input\": \"speech\", "
        "\"options\": [{\"keywords\": [\"sales\"], \"next\": \"p\"}], \"fallback\": \"b\"},"
        "\"p\": {\"type\": \"menu\", \"prompt\": \"Press pound.\", \"options\": "
        "[{\"digit\": \"#\", \"next\": \"b\"}, {\"digit\": \"*\", \"next\": \"a\"}], "
        "\"fallback\": \"b\"},"
        "\"b\": {\"type\": \"hangup\"}}}");

    /* Multi-digit options: no numDigits, the caller ends with '#' or the timeout. */
    fx_expect(f, &st, FLOW_START, NULL, &env,
              "<Gather action=\"/voice/flow\" actionOnEmptyResult=\"true\" input=\"dtmf\" "
              "language=\"en-US\" timeout=\"8\">" SAY_EN("Extension?") "</Gather>");
    free(fx_step(f, &st, FLOW_NO_INPUT, NULL, &env, NULL));
    free(fx_step(f, &st, FLOW_NO_INPUT, NULL, &env, NULL));
    /* Speech only: no numDigits either. */
    fx_expect(f, &st, FLOW_NO_INPUT, NULL, &env,
              "<Gather action=\"/voice/flow\" actionOnEmptyResult=\"true\" input=\"speech\" "
              "language=\"en-US\" timeout=\"5\">" SAY_EN("Say sales.") "</Gather>");
    /* '#' as an option: finishOnKey is emptied so that '#' is a key like the others. */
    fx_expect(f, &st, FLOW_SPEECH, "Sales", &env,
              "<Gather action=\"/voice/flow\" actionOnEmptyResult=\"true\" finishOnKey=\"\" "
              "input=\"dtmf\" language=\"en-US\" numDigits=\"1\" timeout=\"5\">" SAY_EN(
                  "Press pound.") "</Gather>");
    fx_expect(f, &st, FLOW_DIGITS, "#", &env, HANGUP);
    flow_free(f);
}

Test(interpret, texts_pick_exact_then_base_then_region_then_first)
{
    struct flow *f = fx_load("{\"name\": \"t\", \"start\": \"s\", \"nodes\": {"
                             "\"s\": {\"type\": \"hangup\", \"text\": {\"en\": \"A\", \"es\": "
                             "\"B\", \"es-MX\": \"C\", \"fr-CA\": \"D\"}}}}");
    static const struct {
        const char *lang, *want;
    } cases[] = {
        {"es-MX", SAY_ES("C") HANGUP},    {"ES-mx", SAY_ES("C") HANGUP},
        {"es-AR", SAY_ES("B") HANGUP},    {"es", SAY_ES("B") HANGUP},
        {"fr-FR", "<Say>D</Say>" HANGUP}, {"de-DE", SAY_EN("A") HANGUP},
        {"", SAY_EN("A") HANGUP},         {"ES_mx", SAY_ES("C") HANGUP},
        {"es_419", SAY_ES("B") HANGUP},   {"EN-us", SAY_EN("A") HANGUP},
        {"est", SAY_EN("A") HANGUP},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fx_state(&st, cases[i].lang);
        fx_expect(f, &st, FLOW_START, NULL, &env, cases[i].want);
        cr_assert_eq(st.done, 1);
    }
    flow_free(f);
}

Test(interpret, plain_text_speaks_with_the_callers_voice)
{
    struct flow *f = fx_load("{\"name\": \"t\", \"start\": \"s\", \"nodes\": {"
                             "\"s\": {\"type\": \"hangup\", \"text\": \"Hola & adiós <3\"}}}");

    fx_state(&st, "es-MX");
    fx_expect(f, &st, FLOW_START, NULL, &env, SAY_ES("Hola &amp; adiós &lt;3") HANGUP);
    fx_state(&st, "");
    fx_expect(f, &st, FLOW_START, NULL, &env, "<Say>Hola &amp; adiós &lt;3</Say>" HANGUP);
    flow_free(f);
}

Test(interpret, no_voice_when_the_environment_has_none)
{
    struct flow *f = fx_load("{\"name\": \"t\", \"start\": \"s\", \"nodes\": {"
                             "\"s\": {\"type\": \"hangup\", \"text\": {\"en\": \"Bye.\"}}}}");

    env.voice_en = NULL;
    fx_expect(f, &st, FLOW_START, NULL, &env, "<Say>Bye.</Say>" HANGUP);
    env.voice_en = "";
    fx_expect(f, &st, FLOW_START, NULL, &env, "<Say>Bye.</Say>" HANGUP);
    flow_free(f);
}

Test(interpret, hangup_without_text)
{
    struct flow *f =
        fx_load("{\"name\": \"t\", \"start\": \"s\", \"nodes\": {\"s\": {\"type\": \"hangup\"}}}");
    struct flow_result res;
    char *doc = fx_step(f, &st, FLOW_START, NULL, &env, &res);

    cr_assert_str_eq(doc, DECL "<Response><Hangup /></Response>");
    free(doc);
    cr_assert_eq(st.done, 1);
    cr_assert_str_eq(res.redirect_flow, "");
    cr_assert_eq(res.voicemail, 0);
    flow_free(f);
}

Test(interpret, transfer_record_and_tenant_number)
{
    struct flow *f =
        fx_load("{\"name\": \"t\", \"start\": \"x\", \"nodes\": {"
                "\"x\": {\"type\": \"transfer\", \"record\": true, \"on\": {\"failed\": \"v\"}},"
                "\"v\": {\"type\": \"voicemail\", \"max_length\": 60, \"next\": \"b\"},"
                "\"b\": {\"type\": \"hangup\"}}}");

    fx_expect(f, &st, FLOW_START, NULL, &env,
              "<Dial action=\"/voice/flow\" callerId=\"+15557770000\" record=\"record-from-answer\""
              " timeout=\"20\"><Number>+15550001111</Number></Dial>");
    /* Nobody to dial: the failed branch runs at once; the default prompt is used. */
    env.transfer = "";
    env.caller_id = NULL;
    env.recording_callback = NULL;
    fx_state(&st, "en-US");
    fx_expect(f, &st, FLOW_START, NULL, &env,
              SAY_EN("Please leave a message after the tone, and press the pound key when you "
                     "are done.") "<Record action=\"/voice/flow\" finishOnKey=\"#\" "
                                  "maxLength=\"60\" playBeep=\"true\" />");
    cr_assert_str_eq(st.node, "v");
    cr_assert_eq(st.steps, 2);
    flow_free(f);
}

Test(interpret, transfer_without_anyone_or_failed_branch_says_goodbye)
{
    struct flow *f = fx_load("{\"name\": \"t\", \"start\": \"x\", \"nodes\": {"
                             "\"x\": {\"type\": \"transfer\", \"timeout\": 30}}}");

    env.transfer = "+1555"; /* not E.164: never dialled */
    fx_expect(f, &st, FLOW_START, NULL, &env, GOODBYE_EN HANGUP);
    cr_assert_eq(st.done, 1);
    flow_free(f);
}

Test(interpret, agent_on_a_streaming_plan)
{
    struct flow *f = fx_load("{\"name\": \"a\", \"start\": \"a\", \"nodes\": {"
                             "\"a\": {\"type\": \"agent\", \"agent\": \"sales\"}}}");

    env.plan_stream = 1;
    env.stream_token = "ho9V562z9nh9DhrSBqBlLbwEvqQHdVj7d4ncrZ6pvzk=";
    fx_state(&st, "es-MX");
    fx_expect(f, &st, FLOW_START, NULL, &env,
              "<Connect action=\"/voice/stream-ended\"><Stream "
              "url=\"wss://sb.example.com/media\"><Parameter name=\"CallSid\" "
              "value=\"CA0123456789abcdef0123456789abcdef\" /><Parameter name=\"From\" "
              "value=\"+15551230000\" /><Parameter name=\"To\" value=\"+15557770000\" "
              "/><Parameter name=\"tenant\" value=\"acme\" /><Parameter name=\"agent\" "
              "value=\"sales\" /><Parameter name=\"lang\" value=\"es-MX\" "
              "/><Parameter name=\"token\" "
              "value=\"ho9V562z9nh9DhrSBqBlLbwEvqQHdVj7d4ncrZ6pvzk=\" /></Stream></Connect>");
    cr_assert_eq(st.done, 1);
    flow_free(f);
}

Test(interpret, agent_prompt_before_the_stream)
{
    struct flow *f = fx_load("{\"name\": \"a\", \"start\": \"a\", \"nodes\": {"
                             "\"a\": {\"type\": \"agent\", \"prompt\": \"One moment.\"}}}");

    env.plan_stream = 1;
    env.from = NULL;
    fx_expect(f, &st, FLOW_START, NULL, &env,
              SAY_EN("One moment.") "<Connect action=\"/voice/stream-ended\"><Stream "
                                    "url=\"wss://sb.example.com/media\"><Parameter "
                                    "name=\"CallSid\" "
                                    "value=\"CA0123456789abcdef0123456789abcdef\" /><Parameter "
                                    "name=\"From\" value=\"\" /><Parameter name=\"To\" "
                                    "value=\"+15557770000\" /><Parameter name=\"tenant\" "
                                    "value=\"acme\" /><Parameter name=\"agent\" value=\"rules\" "
                                    "/><Parameter name=\"lang\" value=\"en-US\" "
                                    "/></Stream></Connect>");
    flow_free(f);
}

Test(interpret, agent_on_a_starter_plan)
{
    struct flow *f = fx_load("{\"name\": \"a\", \"start\": \"a\", \"nodes\": {"
                             "\"a\": {\"type\": \"agent\"}}}");

    fx_state(&st, "es");
    fx_expect(f, &st, FLOW_START, NULL, &env,
              "<Gather action=\"/voice/gather\" input=\"speech\" language=\"es-US\" "
              "speechTimeout=\"auto\" />" GOODBYE_ES HANGUP);
    cr_assert_eq(st.done, 1);
    /* A streaming plan without a stream URL falls back to the same loop. */
    env.plan_stream = 1;
    env.stream_url = "";
    fx_state(&st, "es");
    fx_expect(f, &st, FLOW_START, NULL, &env,
              "<Gather action=\"/voice/gather\" input=\"speech\" language=\"es-US\" "
              "speechTimeout=\"auto\" />" GOODBYE_ES HANGUP);
    flow_free(f);
}

Test(interpret, redirect_names_the_other_flow)
{
    struct flow *night = fx_load("{\"name\": \"night\", \"start\": \"s\", \"nodes\": {"
                                 "\"s\": {\"type\": \"say\", \"text\": \"Hello.\", \"next\": "
                                 "\"r\"}, \"r\": {\"type\": \"redirect\", \"flow\": \"main\"}}}");
    struct flow_input in = {FLOW_START, NULL};
    struct flow_result res;
    struct twiml t;
    char *doc = NULL;
    size_t len;

    /* The caller keeps one builder across the redirect: the caller hears both parts. */
    twiml_init(&t);
    cr_assert_eq(flow_step(night, &st, &in, &env, &t, &st, &res), 0);
    cr_assert_str_eq(res.redirect_flow, "main");
    cr_assert_eq(st.done, 1);
    cr_assert_eq(st.steps, 2);
    cr_assert_eq(flow_step(main_flow, &st, &in, &env, &t, &st, &res), 0);
    cr_assert_str_eq(res.redirect_flow, "");
    cr_assert_eq(st.done, 0);
    cr_assert_eq(st.steps, 5);
    cr_assert_eq(twiml_finish(&t, &doc, &len), 0);
    cr_assert_str_eq(doc, DECL "<Response>" SAY_EN("Hello.") SAY_EN("Welcome to Acme.") ASK("en-US")
                              LANG_PROMPT "</Gather></Response>");
    free(doc);
    flow_free(night);
}

Test(interpret, redirect_loop_between_flows_ends)
{
    struct flow *f = fx_load("{\"name\": \"loop\", \"start\": \"r\", \"nodes\": {"
                             "\"r\": {\"type\": \"redirect\", \"flow\": \"loop\"}}}");
    struct flow_result res;
    int calls = 0;
    char *doc = NULL;

    do {
        free(doc);
        doc = fx_step(f, &st, FLOW_START, NULL, &env, &res);
        calls++;
    } while (res.redirect_flow[0] && calls < 1000);
    cr_assert_eq(calls, FLOW_MAX_STEPS + 1);
    cr_assert_str_eq(doc, DECL "<Response>" GOODBYE_EN HANGUP "</Response>");
    free(doc);
    flow_free(f);
}

Test(interpret, steps_are_bounded_across_webhooks)
{
    /* A menu that falls back to itself would ask forever without the bound. */
    struct flow *f =
        fx_load("{\"name\": \"m\", \"start\": \"m\", \"nodes\": {\"m\": {\"type\": \"menu\", "
                "\"prompt\": \"Press 1.\", \"max_attempts\": 1, \"fallback\": \"m\", \"options\": "
                "[{\"digit\": \"1\", \"next\": \"m\"}]}}}");
    char *doc = fx_step(f, &st, FLOW_START, NULL, &env, NULL);
    int calls = 1;

    while (!st.done) {
        free(doc);
        doc = fx_step(f, &st, calls % 2 ? FLOW_NO_INPUT : FLOW_DIGITS, "1", &env, NULL);
        calls++;
        cr_assert_leq(st.steps, FLOW_MAX_STEPS);
        cr_assert_leq(calls, FLOW_MAX_STEPS + 1);
    }
    cr_assert_eq(calls, FLOW_MAX_STEPS + 1);
    cr_assert_str_eq(doc, DECL "<Response>" GOODBYE_EN HANGUP "</Response>");
    free(doc);
    flow_free(f);
}

Test(interpret, chain_longer_than_the_bound_ends_with_goodbye)
{
    char json[16384];
    int n = 0, i;
    char *doc;

    n += snprintf(json + n, sizeof(json) - (size_t)n,
                  "{\"name\": \"c\", \"start\": \"s0\", \"nodes\": {");
    for (i = 0; i < FLOW_MAX_STEPS + 5; i++)
        n += snprintf(json + n, sizeof(json) - (size_t)n,
                      "\"s%d\": {\"type\": \"say\", \"text\": \"%d\", \"next\": \"s%d\"}, ", i, i,
                      i + 1);
    snprintf(json + n, sizeof(json) - (size_t)n, "\"s%d\": {\"type\": \"hangup\"}}}", i);
    {
        struct flow *f = fx_load(json);

        doc = fx_step(f, &st, FLOW_START, NULL, &env, NULL);
        cr_assert_eq(st.done, 1);
        cr_assert_eq(st.steps, FLOW_MAX_STEPS);
        cr_assert(strstr(doc, SAY_EN("63") GOODBYE_EN HANGUP "</Response>"), "%s", doc);
        cr_assert_null(strstr(doc, ">64<"));
        free(doc);
        flow_free(f);
    }
}

Test(interpret, outline_of_the_example)
{
    char *o = flow_outline(main_flow);

    cr_assert_not_null(o);
    cr_assert_str_eq(
        o, "flow main: start welcome, 10 nodes\n"
           "welcome: say -> hours\n"
           "hours: hours, open -> lang, closed -> closed_msg\n"
           "lang: language (dtmf speech), 1 en-US, 2 es-MX \"español\" \"spanish\", next -> menu, "
           "fallback -> menu\n"
           "menu: menu (dtmf speech), 1 \"appointment\" \"cita\" -> appointments, 2 \"billing\" "
           "\"factura\" -> billing, 0 \"operator\" \"person\" \"persona\" -> operator, fallback -> "
           "operator\n"
           "appointments: agent\n"
           "billing: play https://cdn.example.com/billing.mp3 -> menu\n"
           "operator: transfer +15557654321, completed -> bye, busy -> vm, no-answer -> vm, failed "
           "-> vm\n"
           "vm: voicemail -> bye\n"
           "closed_msg: say -> vm\n"
           "bye: hangup\n");
    free(o);
}
