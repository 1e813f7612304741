#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/form.h"
#include "sim/params.h"

Test(sim_params, add_keeps_order_and_repeats)
{
    struct sim_params p = SIM_PARAMS_INIT;

    cr_assert_eq(sim_params_add(&p, "Digits", "1"), 0);
    cr_assert_eq(sim_params_add(&p, "CallSid", "CA1"), 0);
    cr_assert_eq(sim_params_add(&p, "Digits", "2"), 0);
    cr_assert_eq(p.count, 3);
    cr_assert_str_eq(p.items[0].name, "Digits");
    cr_assert_str_eq(p.items[1].name, "CallSid");
    cr_assert_str_eq(p.items[2].value, "2");
    cr_assert_str_eq(sim_params_get(&p, "Digits"), "1");
    cr_assert_null(sim_params_get(&p, "digits"));
    sim_params_release(&p);
    cr_assert_eq(p.count, 0);
    cr_assert_null(p.items);
}

Test(sim_params, add_copies)
{
    struct sim_params p = SIM_PARAMS_INIT;
    char name[] = "From", value[] = "+14155550100";

    cr_assert_eq(sim_params_add(&p, name, value), 0);
    name[0] = 'X';
    value[0] = 'X';
    cr_assert_str_eq(sim_params_get(&p, "From"), "+14155550100");
    sim_params_release(&p);
}

Test(sim_params, add_rejects_null)
{
    struct sim_params p = SIM_PARAMS_INIT;

    cr_assert_eq(sim_params_add(&p, NULL, "x"), SB_EINVAL);
    cr_assert_eq(sim_params_add(&p, "x", NULL), SB_EINVAL);
    cr_assert_eq(p.count, 0);
    sim_params_release(&p);
}

Test(sim_params, grows_past_initial_capacity)
{
    struct sim_params p = SIM_PARAMS_INIT;
    char name[16];
    int i;

    for (i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "P%d", i);
        cr_assert_eq(sim_params_add(&p, name, name), 0);
    }
    cr_assert_eq(p.count, 100);
    cr_assert_str_eq(sim_params_get(&p, "P99"), "P99");
    sim_params_release(&p);
}

Test(sim_params, set_replaces_every_value_in_place)
{
    struct sim_params p = SIM_PARAMS_INIT;

    sim_params_add(&p, "A", "1");
    sim_params_add(&p, "Digits", "1");
    sim_params_add(&p, "B", "2");
    sim_params_add(&p, "Digits", "2");
    cr_assert_eq(sim_params_set(&p, "Digits", "9"), 0);
    cr_assert_eq(p.count, 3);
    cr_assert_str_eq(p.items[0].name, "A");
    cr_assert_str_eq(p.items[1].name, "Digits");
    cr_assert_str_eq(p.items[1].value, "9");
    cr_assert_str_eq(p.items[2].name, "B");
    sim_params_release(&p);
}

Test(sim_params, set_appends_when_absent)
{
    struct sim_params p = SIM_PARAMS_INIT;

    sim_params_add(&p, "A", "1");
    cr_assert_eq(sim_params_set(&p, "CallStatus", "ringing"), 0);
    cr_assert_eq(p.count, 2);
    cr_assert_str_eq(sim_params_get(&p, "CallStatus"), "ringing");
    cr_assert_eq(sim_params_set(&p, "CallStatus", "in-progress"), 0);
    cr_assert_eq(p.count, 2);
    cr_assert_str_eq(sim_params_get(&p, "CallStatus"), "in-progress");
    sim_params_release(&p);
}

Test(sim_params, extend_copies_all)
{
    struct sim_params a = SIM_PARAMS_INIT, b = SIM_PARAMS_INIT;

    sim_params_add(&a, "CallSid", "CA1");
    sim_params_add(&b, "Digits", "1");
    sim_params_add(&b, "Digits", "2");
    cr_assert_eq(sim_params_extend(&a, &b), 0);
    cr_assert_eq(a.count, 3);
    cr_assert_str_eq(a.items[2].value, "2");
    sim_params_release(&b);
    cr_assert_str_eq(a.items[1].value, "1");
    sim_params_release(&a);
}

Test(sim_params, extend_with_itself_doubles_once)
{
    struct sim_params p = SIM_PARAMS_INIT;
    int i;

    for (i = 0; i < 16; i++)
        sim_params_add(&p, "K", i % 2 ? "odd" : "even");
    cr_assert_eq(sim_params_extend(&p, &p), 0);
    cr_assert_eq(p.count, 32);
    cr_assert_str_eq(p.items[31].value, "odd");
    sim_params_release(&p);
}

Test(sim_params, encode_form)
{
    struct sim_params p = SIM_PARAMS_INIT;
    char *s;

    sim_params_add(&p, "CallSid", "CA123");
    sim_params_add(&p, "From", "+1 415 555-0100");
    sim_params_add(&p, "SpeechResult", "a&b=c/d?e%f~g_h.i");
    sim_params_add(&p, "Caf\xc3\xa9", "\xc3\xb1");
    sim_params_add(&p, "Empty", "");
    s = sim_params_encode(&p);
    cr_assert_not_null(s);
    cr_assert_str_eq(s, "CallSid=CA123&From=%2B1+415+555-0100"
                        "&SpeechResult=a%26b%3Dc%2Fd%3Fe%25f~g_h.i&Caf%C3%A9=%C3%B1&Empty=");
    free(s);
    sim_params_release(&p);
}

Test(sim_params, encode_empty_is_empty_string)
{
    struct sim_params p = SIM_PARAMS_INIT;
    char *s = sim_params_encode(&p);

    cr_assert_not_null(s);
    cr_assert_str_eq(s, "");
    free(s);
}

/* What is encoded here decodes to the same pairs with core/form, in order. */
Test(sim_params, encode_round_trips_through_form_parse)
{
    struct sim_params p = SIM_PARAMS_INIT;
    struct form f = FORM_INIT;
    char *s;
    size_t i;

    sim_params_add(&p, "Digits", "1234#");
    sim_params_add(&p, "Body", "It's amazing + \"quoted\" \t\n\x7f");
    sim_params_add(&p, "Digits", "5");
    s = sim_params_encode(&p);
    cr_assert_not_null(s);
    cr_assert_eq(form_parse(&f, s, strlen(s)), 0);
    cr_assert_eq(f.count, p.count);
    for (i = 0; i < p.count; i++) {
        cr_assert_str_eq(f.fields[i].key, p.items[i].name);
        cr_assert_str_eq(f.fields[i].value, p.items[i].value);
    }
    form_release(&f);
    free(s);
    sim_params_release(&p);
}

Test(sim_params, release_twice_and_null_are_safe)
{
    struct sim_params p = SIM_PARAMS_INIT;

    sim_params_add(&p, "A", "1");
    sim_params_release(&p);
    sim_params_release(&p);
    sim_params_release(NULL);
    cr_assert_null(sim_params_get(NULL, "A"));
    cr_assert_null(sim_params_encode(NULL));
}
