/*
 * Tests of the sim's caller scripts (docs/sim.md, "Scripts"): every action
 * and its arguments, comments and blank lines, text taken as written
 * (quotes, accents, inner spaces), and bad lines refused with their line
 * number and a plain message, the whole script with them.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "sim/script.h"

static struct sim_script script;
static char err[512];

static void setup(void)
{
    memset(&script, 0, sizeof(script));
    memset(err, 0, sizeof(err));
}

static void teardown(void)
{
    sim_script_release(&script);
}

TestSuite(sim_script, .init = setup, .fini = teardown);

/* Parses a script that must be accepted; returns its only action. */
static const struct sim_action *one(const char *text)
{
    sim_script_release(&script);
    cr_assert_eq(sim_script_parse(&script, text, err, sizeof(err)), 0, "'%s': %s", text, err);
    cr_assert_eq(script.count, 1, "'%s' made %zu actions", text, script.count);
    return &script.actions[0];
}

/* Parses a script that must be refused and returns the message. */
static const char *refused(const char *text)
{
    sim_script_release(&script);
    err[0] = '\0';
    cr_assert_eq(sim_script_parse(&script, text, err, sizeof(err)), SB_EPARSE, "'%s' was accepted",
                 text);
    cr_assert_eq(script.count, 0);
    cr_assert_null(script.actions);
    return err;
}

#define assert_refused(text, message) cr_assert_str_eq(refused(text), message)

/* --- each action --- */

Test(sim_script, press)
{
    const struct sim_action *a = one("press 1#");

    cr_assert_eq(a->kind, SIM_PRESS);
    cr_assert_str_eq(a->text, "1#");
    cr_assert_eq(a->line, 1);
    cr_assert_str_eq(one("press 0123456789*#")->text, "0123456789*#");
    /* Twilio's sendDigits keys too: A-D and w (a half-second pause). */
    cr_assert_str_eq(one("press ww1234ABCD")->text, "ww1234ABCD");
}

Test(sim_script, press_needs_keys)
{
    assert_refused("press", "line 1: press needs keys (0-9, *, #), got ''");
    assert_refused("press 12x", "line 1: press needs keys (0-9, *, #), got '12x'");
    assert_refused("press 1 2", "line 1: press needs keys (0-9, *, #), got '1 2'");
    assert_refused("press abc", "line 1: press needs keys (0-9, *, #), got 'abc'");
    assert_refused("press -1", "line 1: press needs keys (0-9, *, #), got '-1'");
}

Test(sim_script, say)
{
    const struct sim_action *a = one("say I need a person");

    cr_assert_eq(a->kind, SIM_SAY);
    cr_assert_str_eq(a->text, "I need a person");
    cr_assert_eq(a->seconds, 0);
    assert_refused("say", "line 1: say needs text");
    assert_refused("say   ", "line 1: say needs text");
}

Test(sim_script, play)
{
    const struct sim_action *a = one("play caller.wav");

    cr_assert_eq(a->kind, SIM_PLAY);
    cr_assert_str_eq(a->text, "caller.wav");
    cr_assert_str_eq(one("play /tmp/my recordings/caller 1.wav")->text,
                     "/tmp/my recordings/caller 1.wav");
    assert_refused("play", "line 1: play needs a WAV file");
}

Test(sim_script, silence_listen_hangup)
{
    cr_assert_eq(one("silence")->kind, SIM_SILENCE);
    cr_assert_null(one("silence")->text);
    cr_assert_eq(one("listen")->kind, SIM_LISTEN);
    cr_assert_eq(one("hangup")->kind, SIM_HANGUP);
    cr_assert_null(one("hangup")->text);
}

Test(sim_script, silence_listen_hangup_take_nothing)
{
    assert_refused("silence 3", "line 1: silence takes nothing after it, got '3'");
    assert_refused("listen now", "line 1: listen takes nothing after it, got 'now'");
    assert_refused("hangup  politely please",
                   "line 1: hangup takes nothing after it, got 'politely please'");
}

Test(sim_script, wait)
{
    const struct sim_action *a = one("wait 2");

    cr_assert_eq(a->kind, SIM_WAIT);
    cr_assert_eq(a->seconds, 2.0);
    cr_assert_eq(one("wait 0.5")->seconds, 0.5);
    cr_assert_eq(one("wait 0")->seconds, 0.0);
    cr_assert_eq(one("wait 86400")->seconds, 86400.0);
    assert_refused("wait", "line 1: wait needs seconds, got ''");
    assert_refused("wait two", "line 1: wait needs seconds, got 'two'");
    assert_refused("wait 2 s", "line 1: wait needs seconds, got '2 s'");
    assert_refused("wait 2s", "line 1: wait needs seconds, got '2s'");
}

Test(sim_script, wait_is_not_noise)
{
    cr_assert_eq(one("wait 2")->noise, 0);
}

Test(sim_script, noise)
{
    const struct sim_action *a = one("noise 3");

    /* A wait whose line carries noise: the call treats it as a wait outside streams. */
    cr_assert_eq(a->kind, SIM_WAIT);
    cr_assert_eq(a->noise, 1);
    cr_assert_eq(a->seconds, 3.0);
    cr_assert_eq(a->level, SIM_NOISE_DEFAULT_DBFS);
    cr_assert_eq(a->level, -20.0);
    cr_assert_null(a->text);

    a = one("noise 2.5 -35");
    cr_assert_eq(a->seconds, 2.5);
    cr_assert_eq(a->level, -35.0);
    cr_assert_eq(one("noise 120 0")->seconds, 120.0);
    cr_assert_eq(one("noise 120 0")->level, 0.0);
    cr_assert_eq(one("noise 0.02 -90")->level, -90.0);
    cr_assert_eq(one("noise   1    -12.5  ")->level, -12.5);
}

Test(sim_script, noise_needs_seconds_up_to_120_and_a_level_in_dbfs)
{
    assert_refused("noise", "line 1: noise needs seconds (at most 120), got ''");
    assert_refused("noise 0", "line 1: noise needs seconds (at most 120), got '0'");
    assert_refused("noise 120.5", "line 1: noise needs seconds (at most 120), got '120.5'");
    assert_refused("noise -3", "line 1: noise needs seconds (at most 120), got '-3'");
    assert_refused("noise loud", "line 1: noise needs seconds (at most 120), got 'loud'");
    assert_refused("noise 3s", "line 1: noise needs seconds (at most 120), got '3s'");
    assert_refused("noise nan", "line 1: noise needs seconds (at most 120), got 'nan'");
    assert_refused("noise 3 loud", "line 1: noise level is dBFS from -90 to 0, got 'loud'");
    assert_refused("noise 3 1", "line 1: noise level is dBFS from -90 to 0, got '1'");
    assert_refused("noise 3 -90.5", "line 1: noise level is dBFS from -90 to 0, got '-90.5'");
    assert_refused("noise 3 -20dB", "line 1: noise level is dBFS from -90 to 0, got '-20dB'");
    assert_refused("noise 3 -20 -30", "line 1: noise level is dBFS from -90 to 0, got '-20 -30'");
    assert_refused("noise 3 nan", "line 1: noise level is dBFS from -90 to 0, got 'nan'");
}

Test(sim_script, say_over_is_say)
{
    const struct sim_action *a = one("say-over No, wait, I need a person");

    cr_assert_eq(a->kind, SIM_SAY);
    cr_assert_str_eq(a->text, "No, wait, I need a person");
    assert_refused("say-over", "line 1: say-over needs text");
    assert_refused("say-over  ", "line 1: say-over needs text");
    assert_refused("say-overt hello", "line 1: unknown action 'say-overt'");
    assert_refused("say-", "line 1: unknown action 'say-'");
}

Test(sim_script, dial)
{
    const struct sim_action *a = one("dial answer 30");

    cr_assert_eq(a->kind, SIM_DIAL);
    cr_assert_eq(a->dial, SIM_DIAL_ANSWER);
    cr_assert_eq(a->seconds, 30.0);
    cr_assert_null(a->text);

    a = one("dial answer");
    cr_assert_eq(a->dial, SIM_DIAL_ANSWER);
    cr_assert_eq(a->seconds, 10.0); /* the callee talks 10 s unless told */
    cr_assert_eq(one("dial answer 2.5")->seconds, 2.5);
    cr_assert_eq(one("dial busy")->dial, SIM_DIAL_BUSY);
    cr_assert_eq(one("dial no-answer")->dial, SIM_DIAL_NO_ANSWER);
    cr_assert_eq(one("dial failed")->dial, SIM_DIAL_FAILED);
}

Test(sim_script, dial_needs_an_outcome)
{
    assert_refused("dial",
                   "line 1: dial needs answer [SECONDS], busy, no-answer or failed, got ''");
    assert_refused("dial maybe",
                   "line 1: dial needs answer [SECONDS], busy, no-answer or failed, got 'maybe'");
    assert_refused(
        "dial answered",
        "line 1: dial needs answer [SECONDS], busy, no-answer or failed, got 'answered'");
    assert_refused("dial busy 3",
                   "line 1: dial needs answer [SECONDS], busy, no-answer or failed, got 'busy 3'");
    assert_refused("dial no-answer now", "line 1: dial needs answer [SECONDS], busy, no-answer or "
                                         "failed, got 'no-answer now'");
    assert_refused(
        "dial failed x",
        "line 1: dial needs answer [SECONDS], busy, no-answer or failed, got 'failed x'");
    assert_refused(
        "dial noanswer",
        "line 1: dial needs answer [SECONDS], busy, no-answer or failed, got 'noanswer'");
    assert_refused("dial answer soon", "line 1: dial answer takes seconds, got 'soon'");
    assert_refused("dial answer 30 40", "line 1: dial answer takes seconds, got '30 40'");
}

Test(sim_script, record)
{
    const struct sim_action *a = one("record 12 #");

    cr_assert_eq(a->kind, SIM_RECORD);
    cr_assert_eq(a->seconds, 12.0);
    cr_assert_str_eq(a->text, "#");

    a = one("record 12");
    cr_assert_eq(a->seconds, 12.0);
    cr_assert_str_eq(a->text, ""); /* ended by the time limit */

    a = one("record 3.5 hangup");
    cr_assert_eq(a->seconds, 3.5);
    cr_assert_str_eq(a->text, "hangup");

    cr_assert_str_eq(one("record 0 *")->text, "*");
    cr_assert_str_eq(one("record 5 7")->text, "7");
}

Test(sim_script, record_needs_seconds_and_one_ending)
{
    assert_refused("record", "line 1: record needs seconds");
    assert_refused("record #", "line 1: record needs seconds, got '#'");
    assert_refused("record ten #", "line 1: record needs seconds, got 'ten'");
    assert_refused("record 12 ##", "line 1: record ends with one key or 'hangup', got '##'");
    assert_refused("record 12 x", "line 1: record ends with one key or 'hangup', got 'x'");
    assert_refused("record 12 # more",
                   "line 1: record ends with one key or 'hangup', got '# more'");
    assert_refused("record 12 hang", "line 1: record ends with one key or 'hangup', got 'hang'");
    /* The seconds are one word of at most 31 characters. */
    assert_refused("record 000000000000000000000000000000012 #", "line 1: record needs seconds");
}

Test(sim_script, expect)
{
    const struct sim_action *a = one("expect say Welcome to Acme");

    cr_assert_eq(a->kind, SIM_EXPECT_SAY);
    cr_assert_str_eq(a->text, "Welcome to Acme");

    a = one("expect dial +15551234567");
    cr_assert_eq(a->kind, SIM_EXPECT_DIAL);
    cr_assert_str_eq(a->text, "+15551234567");

    a = one("expect hangup");
    cr_assert_eq(a->kind, SIM_EXPECT_HANGUP);
    cr_assert_str_eq(a->text, "");
}

Test(sim_script, expect_needs_what)
{
    assert_refused("expect", "line 1: expect needs 'say TEXT', 'dial TARGET' or 'hangup', got ''");
    assert_refused("expect say",
                   "line 1: expect needs 'say TEXT', 'dial TARGET' or 'hangup', got 'say'");
    assert_refused("expect dial",
                   "line 1: expect needs 'say TEXT', 'dial TARGET' or 'hangup', got 'dial'");
    assert_refused("expect hangup now",
                   "line 1: expect needs 'say TEXT', 'dial TARGET' or 'hangup', got 'hangup now'");
    assert_refused("expect press 1",
                   "line 1: expect needs 'say TEXT', 'dial TARGET' or 'hangup', got 'press 1'");
    assert_refused("expect Welcome",
                   "line 1: expect needs 'say TEXT', 'dial TARGET' or 'hangup', got 'Welcome'");
}

Test(sim_script, unknown_actions)
{
    assert_refused("jump", "line 1: unknown action 'jump'");
    assert_refused("jump over there", "line 1: unknown action 'jump'");
    /* Actions are lower case, whole words. */
    assert_refused("Press 1", "line 1: unknown action 'Press'");
    assert_refused("SAY hello", "line 1: unknown action 'SAY'");
    assert_refused("pres 1", "line 1: unknown action 'pres'");
    assert_refused("pressed 1", "line 1: unknown action 'pressed'");
    assert_refused("say:hello", "line 1: unknown action 'say:hello'");
    assert_refused("\"say\" hello", "line 1: unknown action '\"say\"'");
}

/* --- layout: comments, blank lines, whitespace, line endings --- */

Test(sim_script, comments_and_blank_lines_are_skipped_but_counted)
{
    static const char text[] = "# A caller asks for a person.\n"
                               "\n"
                               "   \n"
                               "\t\n"
                               "  # indented comment\n"
                               "#press 9\n"
                               "press 1\n"
                               "\n"
                               "say a person\n"
                               "# the end\n";

    cr_assert_eq(sim_script_parse(&script, text, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(script.count, 2);
    cr_assert_eq(script.actions[0].kind, SIM_PRESS);
    cr_assert_eq(script.actions[0].line, 7);
    cr_assert_eq(script.actions[1].kind, SIM_SAY);
    cr_assert_eq(script.actions[1].line, 9);
}

Test(sim_script, comments_only_at_the_start_of_a_line)
{
    /* A '#' later on is part of the text (and a key for press). */
    cr_assert_str_eq(one("say hello # not a comment")->text, "hello # not a comment");
    cr_assert_str_eq(one("press #")->text, "#");
    cr_assert_str_eq(one("expect say Press # to finish")->text, "Press # to finish");
}

Test(sim_script, empty_scripts)
{
    cr_assert_eq(sim_script_parse(&script, "", err, sizeof(err)), 0);
    cr_assert_eq(script.count, 0);
    cr_assert_null(sim_script_peek(&script));
    cr_assert_null(sim_script_take(&script));
    sim_script_release(&script);
    cr_assert_eq(sim_script_parse(&script, "\n\n# nothing\n   \n", err, sizeof(err)), 0);
    cr_assert_eq(script.count, 0);
}

Test(sim_script, whitespace_around_and_between_words)
{
    const struct sim_action *a = one("   say    two  inner  spaces kept   \t");

    cr_assert_str_eq(a->text, "two  inner  spaces kept");
    cr_assert_eq(one("\tdial\tanswer\t7\t")->seconds, 7.0);
    cr_assert_eq(one("record   4    #")->seconds, 4.0);
    cr_assert_str_eq(one("record   4    #")->text, "#");
    cr_assert_eq(one("  hangup  ")->kind, SIM_HANGUP);
}

Test(sim_script, crlf_line_endings)
{
    cr_assert_eq(
        sim_script_parse(&script, "press 1#\r\nsay hola\r\n\r\nhangup\r\n", err, sizeof(err)), 0,
        "%s", err);
    cr_assert_eq(script.count, 3);
    cr_assert_str_eq(script.actions[0].text, "1#");
    cr_assert_str_eq(script.actions[1].text, "hola");
    cr_assert_eq(script.actions[2].kind, SIM_HANGUP);
    cr_assert_eq(script.actions[2].line, 4);
}

Test(sim_script, last_line_without_a_newline)
{
    cr_assert_eq(sim_script_parse(&script, "press 1\nsay the end", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(script.count, 2);
    cr_assert_str_eq(script.actions[1].text, "the end");
    cr_assert_eq(script.actions[1].line, 2);
}

/* --- text is taken as written --- */

Test(sim_script, no_quoting_text_is_verbatim)
{
    cr_assert_str_eq(one("say \"I need a person\"")->text, "\"I need a person\"");
    cr_assert_str_eq(one("say it's 'fine'")->text, "it's 'fine'");
    cr_assert_str_eq(one("expect say \"Welcome\"")->text, "\"Welcome\"");
    cr_assert_str_eq(one("say back\\slash \\n stays")->text, "back\\slash \\n stays");
    cr_assert_str_eq(one("play \"my file.wav\"")->text, "\"my file.wav\"");
}

Test(sim_script, spanish_text)
{
    static const char text[] = "expect say Gracias por llamar a Acme, ¿en qué podemos ayudarle?\n"
                               "say ¿Puedo hablar con una persona? Sí, por favor.\n"
                               "say adiós, señora Núñez\n"
                               "expect say ¡Hasta luego!\n"
                               "expect hangup\n";

    cr_assert_eq(sim_script_parse(&script, text, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(script.count, 5);
    cr_assert_eq(script.actions[0].kind, SIM_EXPECT_SAY);
    cr_assert_str_eq(script.actions[0].text,
                     "Gracias por llamar a Acme, ¿en qué podemos ayudarle?");
    cr_assert_eq(script.actions[1].kind, SIM_SAY);
    cr_assert_str_eq(script.actions[1].text, "¿Puedo hablar con una persona? Sí, por favor.");
    cr_assert_str_eq(script.actions[2].text, "adiós, señora Núñez");
    cr_assert_str_eq(script.actions[3].text, "¡Hasta luego!");
    cr_assert_eq(script.actions[4].kind, SIM_EXPECT_HANGUP);
}

Test(sim_script, text_may_start_or_end_with_a_multibyte_character)
{
    /* The trim of whitespace must not eat the bytes of ¿ (C2 BF) or á (C3 A1). */
    cr_assert_str_eq(one("say ¿")->text, "¿");
    cr_assert_str_eq(one("say está")->text, "está");
    cr_assert_str_eq(one("say \xc2\xa0no-break")->text, "\xc2\xa0no-break");
}

/* --- bad lines --- */

Test(sim_script, errors_name_the_line)
{
    static const char text[] = "# greeting\n"
                               "expect say Welcome\n"
                               "\n"
                               "press 1\n"
                               "dial sideways\n"
                               "jump\n";

    assert_refused(
        text, "line 5: dial needs answer [SECONDS], busy, no-answer or failed, got 'sideways'");
    assert_refused("press 1\n\n\n\n\n\n\n\n\n\nbogus", "line 11: unknown action 'bogus'");
    assert_refused("say fine\r\npress x\r\n", "line 2: press needs keys (0-9, *, #), got 'x'");
}

Test(sim_script, numbers_out_of_range)
{
    assert_refused("wait -1", "line 1: wait needs seconds, got '-1'");
    assert_refused("wait -0.5", "line 1: wait needs seconds, got '-0.5'");
    assert_refused("wait 86400.5", "line 1: wait needs seconds, got '86400.5'");
    assert_refused("wait 1e9", "line 1: wait needs seconds, got '1e9'");
    assert_refused("wait 1e999", "line 1: wait needs seconds, got '1e999'");
    assert_refused("wait inf", "line 1: wait needs seconds, got 'inf'");
    assert_refused("dial answer 86401", "line 1: dial answer takes seconds, got '86401'");
    assert_refused("dial answer -3", "line 1: dial answer takes seconds, got '-3'");
    assert_refused("record 90000 #", "line 1: record needs seconds, got '90000'");
    assert_refused("record -1", "line 1: record needs seconds, got '-1'");
    assert_refused("wait nan", "line 1: wait needs seconds, got 'nan'");
    assert_refused("dial answer nan", "line 1: dial answer takes seconds, got 'nan'");
    assert_refused("record nan", "line 1: record needs seconds, got 'nan'");
}

Test(sim_script, long_lines)
{
    static const char bad_press[] = "line 1: press needs keys (0-9, *, #), got 'xxx";
    static const char bad_action[] = "line 1: unknown action 'qqq";
    size_t n = 100000;
    char *text = malloc(n + 16);
    const struct sim_action *a;

    cr_assert_not_null(text);
    /* A long say is kept whole. */
    memcpy(text, "say ", 4);
    memset(text + 4, 'a', n);
    text[4 + n] = '\0';
    a = one(text);
    cr_assert_eq(strlen(a->text), n);

    /* A long bad line gives a bounded message that still names the line. */
    sim_script_release(&script);
    memcpy(text, "press ", 6);
    memset(text + 6, 'x', n);
    text[6 + n] = '\0';
    cr_assert_eq(sim_script_parse(&script, text, err, sizeof(err)), SB_EPARSE);
    cr_assert_lt(strlen(err), sizeof(err));
    cr_assert_eq(strncmp(err, bad_press, strlen(bad_press)), 0, "%s", err);

    /* A long unknown action too. */
    memset(text, 'q', n);
    text[n] = '\0';
    cr_assert_eq(sim_script_parse(&script, text, err, sizeof(err)), SB_EPARSE);
    cr_assert_eq(strncmp(err, bad_action, strlen(bad_action)), 0, "%s", err);
    free(text);
}

Test(sim_script, error_fits_a_small_buffer)
{
    char small[10];

    memset(small, 'z', sizeof(small));
    cr_assert_eq(sim_script_parse(&script, "press 1\nnope", small, sizeof(small)), SB_EPARSE);
    cr_assert_str_eq(small, "line 2: u");
}

Test(sim_script, the_first_bad_line_is_reported)
{
    assert_refused("jump\nskip\n", "line 1: unknown action 'jump'");
}

/* --- consuming --- */

Test(sim_script, peek_and_take_in_order)
{
    static const char text[] = "expect say Welcome\n"
                               "press 1#\n"
                               "say I need a person\n"
                               "silence\n"
                               "dial answer 30\n"
                               "record 12 #\n"
                               "play caller.wav\n"
                               "wait 2\n"
                               "listen\n"
                               "expect dial +15551234567\n"
                               "hangup\n"
                               "expect hangup\n";
    static const enum sim_action_kind kinds[] = {
        SIM_EXPECT_SAY, SIM_PRESS, SIM_SAY,    SIM_SILENCE,     SIM_DIAL,   SIM_RECORD,
        SIM_PLAY,       SIM_WAIT,  SIM_LISTEN, SIM_EXPECT_DIAL, SIM_HANGUP, SIM_EXPECT_HANGUP,
    };
    const struct sim_action *a;

    cr_assert_eq(sim_script_parse(&script, text, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(script.count, sizeof(kinds) / sizeof(kinds[0]));
    for (size_t i = 0; i < script.count; i++) {
        a = sim_script_peek(&script);
        cr_assert_not_null(a);
        cr_assert_eq(a->kind, kinds[i], "action %zu", i);
        cr_assert_eq(sim_script_peek(&script), a, "peek consumed");
        cr_assert_eq(sim_script_take(&script), a);
        cr_assert_eq(a->line, (int)i + 1);
    }
    cr_assert_null(sim_script_peek(&script));
    cr_assert_null(sim_script_take(&script));
    cr_assert_null(sim_script_take(&script));
}

Test(sim_script, release_empties)
{
    cr_assert_eq(sim_script_parse(&script, "press 1\nsay hi\n", err, sizeof(err)), 0);
    sim_script_take(&script);
    sim_script_release(&script);
    cr_assert_eq(script.count, 0);
    cr_assert_eq(script.next, 0);
    cr_assert_null(script.actions);
    cr_assert_null(sim_script_peek(&script));
    sim_script_release(&script); /* twice is harmless */
}

/* --- files --- */

static char path[64];

static void write_file(const char *text, size_t len)
{
    int fd;
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/sb-script-XXXXXX");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    f = fdopen(fd, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

Test(sim_script, load_a_file)
{
    static const char text[] = "# call: --from +525512345678\n"
                               "expect say Gracias por llamar\n"
                               "say adiós\n"
                               "expect hangup\n";

    write_file(text, strlen(text));
    cr_assert_eq(sim_script_load(&script, path, err, sizeof(err)), 0, "%s", err);
    unlink(path);
    cr_assert_eq(script.count, 3);
    cr_assert_str_eq(script.actions[1].text, "adiós");
    cr_assert_eq(script.actions[1].line, 3);
}

Test(sim_script, load_errors_name_the_file_and_line)
{
    char expected[256];

    write_file("press 1\nsay\n", 12);
    cr_assert_eq(sim_script_load(&script, path, err, sizeof(err)), SB_EPARSE);
    unlink(path);
    snprintf(expected, sizeof(expected), "script '%s' line 2: say needs text", path);
    cr_assert_str_eq(err, expected);
    cr_assert_eq(script.count, 0);
}

Test(sim_script, load_a_missing_file)
{
    cr_assert_eq(sim_script_load(&script, "/nonexistent/dir/call.script", err, sizeof(err)),
                 SB_EIO);
    cr_assert_str_eq(err, "cannot read script '/nonexistent/dir/call.script': No such file or "
                          "directory");
    cr_assert_eq(script.count, 0);
}

Test(sim_script, load_at_most_one_mebibyte)
{
    size_t max = 1024 * 1024;
    char *text = malloc(max + 1);

    cr_assert_not_null(text);
    /* Comment lines up to exactly 1 MiB: read whole, then one action. */
    memset(text, '#', max);
    for (size_t i = 99; i < max; i += 100)
        text[i] = '\n';
    memcpy(text + max - 8, "\nlisten\n", 8);
    write_file(text, max);
    cr_assert_eq(sim_script_load(&script, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(script.count, 1);
    cr_assert_eq(script.actions[0].kind, SIM_LISTEN);
    unlink(path);
    sim_script_release(&script);

    /* One byte more is refused. */
    text[max] = '\n';
    write_file(text, max + 1);
    cr_assert_neq(sim_script_load(&script, path, err, sizeof(err)), 0);
    unlink(path);
    cr_assert(strstr(err, "is larger than 1 MiB") != NULL, "%s", err);
    cr_assert_eq(script.count, 0);
    free(text);
}
