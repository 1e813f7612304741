/*
 * Tests of what the caller hears in a simulated ConversationRelay session
 * (sim/relay_reply.h): tokens assembled as sent, the reply's start at its
 * first token with words, the speaking estimate (400 ms a word), what was
 * heard by a given time, and the untaken text for the transcript.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "core/err.h"
#include "sim/relay_reply.h"

static struct sim_relay_reply reply = SIM_RELAY_REPLY_INIT;

static void teardown(void)
{
    sim_relay_reply_release(&reply);
}

TestSuite(sim_relay_reply, .fini = teardown);

static void add(const char *token, int last, double ms)
{
    cr_assert_eq(sim_relay_reply_add(&reply, token, last, ms), 0, "token '%s'", token);
}

static char *heard_at(double ms, double *elapsed)
{
    static char out[256];
    size_t n = sim_relay_reply_heard(&reply, ms, elapsed);

    cr_assert_lt(n, sizeof(out));
    memcpy(out, reply.text ? reply.text : "", n);
    out[n] = '\0';
    return out;
}

Test(sim_relay_reply, tokens_are_assembled_as_sent)
{
    add("We are ", 0, 100);
    add("open ", 0, 130);
    add("Monday to Friday.", 0, 150);
    add("", 1, 160);
    cr_assert_str_eq(reply.text, "We are open Monday to Friday.");
    cr_assert(reply.complete);
    cr_assert_eq(reply.start_ms, 100);
}

Test(sim_relay_reply, the_reply_starts_at_the_first_token_with_words)
{
    add(" ", 0, 50);
    cr_assert_lt(reply.start_ms, 0);
    cr_assert_not(sim_relay_reply_speaking(&reply, 60));
    add("¿Hola?", 0, 80);
    cr_assert_eq(reply.start_ms, 80);
    cr_assert_not(reply.complete);
}

Test(sim_relay_reply, speaking_time_is_400_ms_a_word)
{
    cr_assert_eq(sim_relay_words("  one\ttwo\nthree  ", 17), 3);
    cr_assert_eq(sim_relay_words("¿Cuál es?", strlen("¿Cuál es?")), 2);
    add("one two three", 1, 1000);
    cr_assert_eq(sim_relay_reply_speaking_ms(&reply), 1200);
    cr_assert(sim_relay_reply_speaking(&reply, 1000));
    cr_assert(sim_relay_reply_speaking(&reply, 2199));
    cr_assert_not(sim_relay_reply_speaking(&reply, 2200));
    cr_assert(sim_relay_reply_speaking(&reply, 1000.5));
}

Test(sim_relay_reply, heard_so_far_is_the_words_whose_time_has_passed)
{
    double elapsed;

    add("We are open ", 0, 1000);
    add("Monday to Friday.", 1, 1010);
    cr_assert_str_eq(heard_at(500, &elapsed), "");
    cr_assert_eq(elapsed, 0);
    cr_assert_str_eq(heard_at(1399, &elapsed), "");
    cr_assert_eq(elapsed, 399);
    cr_assert_str_eq(heard_at(1460, &elapsed), "We");
    cr_assert_eq(elapsed, 460);
    cr_assert_str_eq(heard_at(2000, &elapsed), "We are");
    cr_assert_str_eq(heard_at(2600, &elapsed), "We are open Monday");
    cr_assert_str_eq(heard_at(9000, &elapsed), "We are open Monday to Friday.");
}

Test(sim_relay_reply, heard_keeps_multibyte_words_whole)
{
    double elapsed;

    add("¿En qué más puedo ayudarle?", 1, 0);
    cr_assert_str_eq(heard_at(1250, &elapsed), "¿En qué más");
}

Test(sim_relay_reply, unshown_text_is_taken_once_and_trimmed)
{
    const char *text;
    size_t n;

    add("Hello ", 0, 0);
    add("there. ", 0, 1);
    n = sim_relay_reply_unshown(&reply, &text);
    cr_assert_eq(n, strlen("Hello there."));
    cr_assert_eq(strncmp(text, "Hello there.", n), 0);
    cr_assert_eq(sim_relay_reply_unshown(&reply, &text), 0);
    add("More.", 1, 2);
    n = sim_relay_reply_unshown(&reply, &text);
    cr_assert_eq(n, 5);
    cr_assert_eq(strncmp(text, "More.", n), 0);
}

Test(sim_relay_reply, reset_starts_a_new_reply)
{
    const char *text;

    add("first", 1, 10);
    sim_relay_reply_reset(&reply);
    cr_assert_eq(reply.len, 0);
    cr_assert_lt(reply.start_ms, 0);
    cr_assert_not(reply.complete);
    cr_assert_eq(sim_relay_reply_unshown(&reply, &text), 0);
    add("second", 0, 20);
    cr_assert_str_eq(reply.text, "second");
    cr_assert_eq(reply.start_ms, 20);
}

Test(sim_relay_reply, a_reply_too_long_is_refused_and_left_as_it_was)
{
    static char big[SIM_RELAY_REPLY_MAX + 2];

    memset(big, 'a', sizeof(big) - 1);
    add("kept ", 0, 0);
    cr_assert_eq(sim_relay_reply_add(&reply, big, 0, 1), SB_ETOOBIG);
    cr_assert_str_eq(reply.text, "kept ");
    big[SIM_RELAY_REPLY_MAX - 5] = '\0';
    add(big, 1, 2);
    cr_assert_eq(reply.len, SIM_RELAY_REPLY_MAX);
    cr_assert_eq(sim_relay_reply_add(&reply, "x", 0, 3), SB_ETOOBIG);
}
