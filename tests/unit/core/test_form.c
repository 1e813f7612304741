/* Tests for core/form: parsing, building and encoding key/value lists. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/form.h"

static int parse(struct form *f, const char *text)
{
    return form_parse(f, text, strlen(text));
}

/* Asserts that field `i` of `f` is key=value. */
static void assert_field(const struct form *f, size_t i, const char *key, const char *value)
{
    cr_assert_lt(i, f->count);
    cr_assert_str_eq(f->fields[i].key, key, "field %zu key", i);
    cr_assert_str_eq(f->fields[i].value, value, "field %zu value", i);
}

/* Asserts that parsing `text` fails with `code` and leaves the form empty. */
static void assert_parse_fails(const char *text, int code)
{
    struct form f = FORM_INIT;
    int rc = parse(&f, text);

    cr_assert_eq(rc, code, "form_parse(\"%s\") = %d, want %d", text, rc, code);
    cr_assert_null(f.fields, "fields after failure on \"%s\"", text);
    cr_assert_null(f.storage, "storage after failure on \"%s\"", text);
    cr_assert_eq(f.count, 0);
}

Test(form, twilio_body_in_order)
{
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "CallSid=CA123&From=%2B14158675309&To=%2B18005551212&"
                           "CallStatus=ringing"),
                 0);
    cr_assert_eq(f.count, 4);
    assert_field(&f, 0, "CallSid", "CA123");
    assert_field(&f, 1, "From", "+14158675309");
    assert_field(&f, 2, "To", "+18005551212");
    assert_field(&f, 3, "CallStatus", "ringing");
    form_release(&f);
}

Test(form, plus_is_space_in_keys_and_values)
{
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "Speech+Result=hello+there++x"), 0);
    assert_field(&f, 0, "Speech Result", "hello there  x");
    form_release(&f);
}

Test(form, escapes_are_case_insensitive)
{
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "a=%2b%2B%3d%3D%c3%a9%C3%A9&%41%62=%7e%7E"), 0);
    assert_field(&f, 0, "a", "++==\xc3\xa9\xc3\xa9");
    assert_field(&f, 1, "Ab", "~~");
    form_release(&f);
}

Test(form, escaped_separators_stay_in_values)
{
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "k%26=v%26w%3Dx%25&b=%2B"), 0);
    cr_assert_eq(f.count, 2);
    assert_field(&f, 0, "k&", "v&w=x%");
    assert_field(&f, 1, "b", "+");
    form_release(&f);
}

Test(form, only_the_first_equals_splits)
{
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "a=b=c&d=="), 0);
    assert_field(&f, 0, "a", "b=c");
    assert_field(&f, 1, "d", "=");
    form_release(&f);
}

Test(form, empty_pairs_are_skipped)
{
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "&&a=1&&b=2&&&"), 0);
    cr_assert_eq(f.count, 2);
    assert_field(&f, 0, "a", "1");
    assert_field(&f, 1, "b", "2");
    form_release(&f);
}

Test(form, pair_without_equals_has_empty_value)
{
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "flag&a=&=x&="), 0);
    cr_assert_eq(f.count, 4);
    assert_field(&f, 0, "flag", "");
    assert_field(&f, 1, "a", "");
    assert_field(&f, 2, "", "x");
    assert_field(&f, 3, "", "");
    form_release(&f);
}

Test(form, repeated_keys_are_kept_in_order)
{
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "Digits=5678&Digits=1234&Digits=1234"), 0);
    cr_assert_eq(f.count, 3);
    assert_field(&f, 0, "Digits", "5678");
    assert_field(&f, 1, "Digits", "1234");
    assert_field(&f, 2, "Digits", "1234");
    cr_assert_str_eq(form_get(&f, "Digits"), "5678");
    form_release(&f);
}

Test(form, empty_input)
{
    struct form f = FORM_INIT;

    cr_assert_eq(form_parse(&f, "", 0), 0);
    cr_assert_eq(f.count, 0);
    cr_assert_null(form_get(&f, ""));
    form_release(&f);
    cr_assert_eq(form_parse(&f, NULL, 0), 0);
    cr_assert_eq(f.count, 0);
    cr_assert_eq(parse(&f, "&&&"), 0);
    cr_assert_eq(f.count, 0);
    form_release(&f);
}

Test(form, never_reads_past_len)
{
    /* Exactly `len` bytes on the heap, so ASan catches any read past them. */
    static const char text[] = "a=1&b=%41";
    char *p = malloc(sizeof(text) - 1);
    struct form f = FORM_INIT;

    memcpy(p, text, sizeof(text) - 1);
    cr_assert_eq(form_parse(&f, p, sizeof(text) - 1), 0);
    assert_field(&f, 1, "b", "A");
    form_release(&f);

    /* Cutting the input inside an escape must be an error, not a read beyond the cut. */
    cr_assert_eq(form_parse(&f, p, sizeof(text) - 2), SB_EPARSE);
    cr_assert_eq(form_parse(&f, p, sizeof(text) - 3), SB_EPARSE);
    cr_assert_eq(form_parse(&f, p, 3), 0);
    cr_assert_eq(f.count, 1);
    assert_field(&f, 0, "a", "1");
    form_release(&f);
    free(p);
}

Test(form, len_limits_the_text_not_the_nul)
{
    struct form f = FORM_INIT;

    cr_assert_eq(form_parse(&f, "a=12345&b=2", 4), 0);
    cr_assert_eq(f.count, 1);
    assert_field(&f, 0, "a", "12");
    form_release(&f);
}

Test(form, malformed_escapes)
{
    assert_parse_fails("%", SB_EPARSE);
    assert_parse_fails("a=%", SB_EPARSE);
    assert_parse_fails("a=%4", SB_EPARSE);
    assert_parse_fails("a=%zz", SB_EPARSE);
    assert_parse_fails("a=%4g", SB_EPARSE);
    assert_parse_fails("a=%g4", SB_EPARSE);
    assert_parse_fails("a=% 4", SB_EPARSE);
    assert_parse_fails("%zz=1", SB_EPARSE);
    assert_parse_fails("a=1&b=2&c=%", SB_EPARSE);
    assert_parse_fails("a=%%41", SB_EPARSE);
    assert_parse_fails("a=%4&b=1", SB_EPARSE);
}

Test(form, nul_escapes_are_refused)
{
    assert_parse_fails("a=%00", SB_EPARSE);
    assert_parse_fails("a=x%00y", SB_EPARSE);
    assert_parse_fails("%00=1", SB_EPARSE);
    assert_parse_fails("a=%0", SB_EPARSE);
}

Test(form, raw_nul_byte_is_refused)
{
    struct form f = FORM_INIT;

    cr_assert_eq(form_parse(&f, "a=1\0b=2", 7), SB_EPARSE);
    cr_assert_eq(f.count, 0);
    cr_assert_null(f.fields);
}

Test(form, other_low_escapes_decode)
{
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "a=%01%0A%0d%7F%FF"), 0);
    assert_field(&f, 0, "a", "\x01\n\r\x7f\xff");
    form_release(&f);
}

Test(form, percent_encoded_plus_is_not_a_space)
{
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "a=%2B+%20"), 0);
    assert_field(&f, 0, "a", "+  ");
    form_release(&f);
}

/* Builds "k0=v&k1=v&..." with `n` pairs (caller frees). */
static char *many_fields(size_t n, size_t *len)
{
    size_t cap = n * 16 + 1, used = 0, i;
    char *s = malloc(cap);

    cr_assert_not_null(s);
    for (i = 0; i < n; i++) {
        int w = snprintf(s + used, cap - used, "%sk%zu=v", i ? "&" : "", i);

        cr_assert_gt(w, 0);
        used += (size_t)w;
    }
    *len = used;
    return s;
}

Test(form, exactly_max_fields_is_accepted)
{
    struct form f = FORM_INIT;
    size_t len;
    char *s = many_fields(FORM_MAX_FIELDS, &len);

    cr_assert_eq(form_parse(&f, s, len), 0);
    cr_assert_eq(f.count, FORM_MAX_FIELDS);
    assert_field(&f, FORM_MAX_FIELDS - 1, "k999", "v");
    form_release(&f);
    free(s);
}

Test(form, one_more_than_max_fields_is_toobig)
{
    struct form f = FORM_INIT;
    size_t len;
    char *s = many_fields(FORM_MAX_FIELDS + 1, &len);

    cr_assert_eq(form_parse(&f, s, len), SB_ETOOBIG);
    cr_assert_eq(f.count, 0);
    cr_assert_null(f.fields);
    cr_assert_null(f.storage);
    free(s);
}

Test(form, empty_pairs_do_not_count_towards_the_maximum)
{
    struct form f = FORM_INIT;
    size_t len, i, pad = 5000;
    char *s = many_fields(FORM_MAX_FIELDS, &len);
    char *t = malloc(len + pad);

    for (i = 0; i < pad; i++)
        t[i] = '&';
    memcpy(t + pad, s, len);
    cr_assert_eq(form_parse(&f, t, len + pad), 0);
    cr_assert_eq(f.count, FORM_MAX_FIELDS);
    form_release(&f);
    free(s);
    free(t);
}

Test(form, form_get)
{
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "a=1&A=2&ab=3&a=4&empty="), 0);
    cr_assert_str_eq(form_get(&f, "a"), "1");
    cr_assert_str_eq(form_get(&f, "A"), "2");
    cr_assert_str_eq(form_get(&f, "ab"), "3");
    cr_assert_str_eq(form_get(&f, "empty"), "");
    cr_assert_null(form_get(&f, "b"));
    cr_assert_null(form_get(&f, "a "));
    cr_assert_null(form_get(&f, NULL));
    cr_assert_null(form_get(NULL, "a"));
    form_release(&f);
}

Test(form, release_empties_and_is_idempotent)
{
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "a=1"), 0);
    form_release(&f);
    cr_assert_null(f.fields);
    cr_assert_null(f.storage);
    cr_assert_eq(f.count, 0);
    form_release(&f);
    form_release(NULL);
    cr_assert_null(form_get(&f, "a"));
}

Test(form, bad_arguments)
{
    struct form f = FORM_INIT;

    cr_assert_eq(form_parse(NULL, "a=1", 3), SB_EINVAL);
    cr_assert_eq(form_parse(&f, NULL, 3), SB_EINVAL);
    cr_assert_eq(f.count, 0);
}

Test(form, decoded_storage_holds_worst_case_growth)
{
    /* Single-byte pairs without '=' need two NULs for one byte of input. */
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "a&b&c&d&e&f&g&h"), 0);
    cr_assert_eq(f.count, 8);
    assert_field(&f, 7, "h", "");
    form_release(&f);
}

/* --- building and encoding (what the sim sends) ------------------------------ */

Test(form_build, add_keeps_order_and_repeats)
{
    struct form p = FORM_INIT;

    cr_assert_eq(form_add(&p, "Digits", "1"), 0);
    cr_assert_eq(form_add(&p, "CallSid", "CA1"), 0);
    cr_assert_eq(form_add(&p, "Digits", "2"), 0);
    cr_assert_eq(p.count, 3);
    cr_assert_str_eq(p.fields[0].key, "Digits");
    cr_assert_str_eq(p.fields[1].key, "CallSid");
    cr_assert_str_eq(p.fields[2].value, "2");
    cr_assert_str_eq(form_get(&p, "Digits"), "1");
    cr_assert_null(form_get(&p, "digits"));
    form_release(&p);
    cr_assert_eq(p.count, 0);
    cr_assert_null(p.fields);
    cr_assert_null(p.storage);
}

Test(form_build, add_copies)
{
    struct form p = FORM_INIT;
    char name[] = "From", value[] = "+14155550100";

    cr_assert_eq(form_add(&p, name, value), 0);
    name[0] = 'X';
    value[0] = 'X';
    cr_assert_str_eq(form_get(&p, "From"), "+14155550100");
    form_release(&p);
}

Test(form_build, add_rejects_null)
{
    struct form p = FORM_INIT;

    cr_assert_eq(form_add(&p, NULL, "x"), SB_EINVAL);
    cr_assert_eq(form_add(&p, "x", NULL), SB_EINVAL);
    cr_assert_eq(p.count, 0);
    form_release(&p);
}

Test(form_build, grows_past_initial_capacity)
{
    struct form p = FORM_INIT;
    char name[16];
    int i;

    for (i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "P%d", i);
        cr_assert_eq(form_add(&p, name, name), 0);
    }
    cr_assert_eq(p.count, 100);
    cr_assert_str_eq(form_get(&p, "P99"), "P99");
    form_release(&p);
}

Test(form_build, set_replaces_every_value_in_place)
{
    struct form p = FORM_INIT;

    cr_assert_eq(form_add(&p, "A", "1"), 0);
    cr_assert_eq(form_add(&p, "Digits", "1"), 0);
    cr_assert_eq(form_add(&p, "B", "2"), 0);
    cr_assert_eq(form_add(&p, "Digits", "2"), 0);
    cr_assert_eq(form_set(&p, "Digits", "9"), 0);
    cr_assert_eq(p.count, 3);
    cr_assert_str_eq(p.fields[0].key, "A");
    cr_assert_str_eq(p.fields[1].key, "Digits");
    cr_assert_str_eq(p.fields[1].value, "9");
    cr_assert_str_eq(p.fields[2].key, "B");
    form_release(&p);
}

Test(form_build, set_appends_when_absent)
{
    struct form p = FORM_INIT;

    cr_assert_eq(form_add(&p, "A", "1"), 0);
    cr_assert_eq(form_set(&p, "CallStatus", "ringing"), 0);
    cr_assert_eq(p.count, 2);
    cr_assert_str_eq(form_get(&p, "CallStatus"), "ringing");
    cr_assert_eq(form_set(&p, "CallStatus", "in-progress"), 0);
    cr_assert_eq(p.count, 2);
    cr_assert_str_eq(form_get(&p, "CallStatus"), "in-progress");
    form_release(&p);
}

Test(form_build, extend_copies_all)
{
    struct form a = FORM_INIT, b = FORM_INIT;

    cr_assert_eq(form_add(&a, "CallSid", "CA1"), 0);
    cr_assert_eq(form_add(&b, "Digits", "1"), 0);
    cr_assert_eq(form_add(&b, "Digits", "2"), 0);
    cr_assert_eq(form_extend(&a, &b), 0);
    cr_assert_eq(a.count, 3);
    cr_assert_str_eq(a.fields[2].value, "2");
    form_release(&b);
    cr_assert_str_eq(a.fields[1].value, "1");
    form_release(&a);
}

Test(form_build, extend_with_itself_doubles_once)
{
    struct form p = FORM_INIT;
    int i;

    for (i = 0; i < 16; i++)
        cr_assert_eq(form_add(&p, "K", i % 2 ? "odd" : "even"), 0);
    cr_assert_eq(form_extend(&p, &p), 0);
    cr_assert_eq(p.count, 32);
    cr_assert_str_eq(p.fields[31].value, "odd");
    form_release(&p);
}

Test(form_build, encode_form)
{
    struct form p = FORM_INIT;
    char *s;

    cr_assert_eq(form_add(&p, "CallSid", "CA123"), 0);
    cr_assert_eq(form_add(&p, "From", "+1 415 555-0100"), 0);
    cr_assert_eq(form_add(&p, "SpeechResult", "a&b=c/d?e%f~g_h.i"), 0);
    cr_assert_eq(form_add(&p, "Caf\xc3\xa9", "\xc3\xb1"), 0);
    cr_assert_eq(form_add(&p, "Empty", ""), 0);
    s = form_encode(&p);
    cr_assert_not_null(s);
    cr_assert_str_eq(s, "CallSid=CA123&From=%2B1+415+555-0100"
                        "&SpeechResult=a%26b%3Dc%2Fd%3Fe%25f~g_h.i&Caf%C3%A9=%C3%B1&Empty=");
    free(s);
    form_release(&p);
}

Test(form_build, encode_empty_is_empty_string)
{
    struct form p = FORM_INIT;
    char *s = form_encode(&p);

    cr_assert_not_null(s);
    cr_assert_str_eq(s, "");
    free(s);
}

/* What form_encode writes, form_parse reads back: the same pairs in order. */
Test(form_build, encode_round_trips_through_form_parse)
{
    struct form p = FORM_INIT;
    struct form f = FORM_INIT;
    char *s;
    size_t i;

    cr_assert_eq(form_add(&p, "Digits", "1234#"), 0);
    cr_assert_eq(form_add(&p, "Body", "It's amazing + \"quoted\" \t\n\x7f"), 0);
    cr_assert_eq(form_add(&p, "Digits", "5"), 0);
    s = form_encode(&p);
    cr_assert_not_null(s);
    cr_assert_eq(form_parse(&f, s, strlen(s)), 0);
    cr_assert_eq(f.count, p.count);
    for (i = 0; i < p.count; i++) {
        cr_assert_str_eq(f.fields[i].key, p.fields[i].key);
        cr_assert_str_eq(f.fields[i].value, p.fields[i].value);
    }
    form_release(&f);
    free(s);
    form_release(&p);
}

Test(form_build, release_twice_and_null_are_safe)
{
    struct form p = FORM_INIT;

    cr_assert_eq(form_add(&p, "A", "1"), 0);
    form_release(&p);
    form_release(&p);
    form_release(NULL);
    cr_assert_null(form_get(NULL, "A"));
    cr_assert_null(form_encode(NULL));
}

/* --- building on a parsed form ------------------------------------------------ */

Test(form_build, add_after_parse_keeps_parsed_fields)
{
    struct form f = FORM_INIT;
    char key[] = "Digits";

    cr_assert_eq(parse(&f, "CallSid=CA1&From=%2B1415"), 0);
    cr_assert_eq(form_add(&f, key, "42"), 0);
    key[0] = 'X';
    cr_assert_eq(f.count, 3);
    assert_field(&f, 0, "CallSid", "CA1");
    assert_field(&f, 1, "From", "+1415");
    assert_field(&f, 2, "Digits", "42");
    form_release(&f);
}

Test(form_build, many_adds_after_parse)
{
    struct form f = FORM_INIT;
    char name[16];

    cr_assert_eq(parse(&f, "a=1&b=2&c=3"), 0);
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "k%d", i);
        cr_assert_eq(form_add(&f, name, name), 0);
    }
    cr_assert_eq(f.count, 103);
    assert_field(&f, 1, "b", "2");
    assert_field(&f, 102, "k99", "k99");
    form_release(&f);
}

Test(form_build, set_on_parsed_field_replaces_it)
{
    struct form f = FORM_INIT;

    cr_assert_eq(parse(&f, "Digits=1&A=x&Digits=2&B=y"), 0);
    cr_assert_eq(form_set(&f, "Digits", "9"), 0);
    cr_assert_eq(f.count, 3);
    assert_field(&f, 0, "Digits", "9");
    assert_field(&f, 1, "A", "x");
    assert_field(&f, 2, "B", "y");
    cr_assert_eq(form_set(&f, "Digits", "10"), 0);
    assert_field(&f, 0, "Digits", "10");
    cr_assert_eq(form_add(&f, "C", "z"), 0);
    assert_field(&f, 3, "C", "z");
    form_release(&f);
}

/* A form over someone else's fields owns nothing: adding to it is refused. */
Test(form_build, add_to_borrowed_fields_is_refused)
{
    struct form_field fields[] = {{"A", "1"}};
    struct form f = {fields, 1, NULL};

    cr_assert_eq(form_add(&f, "B", "2"), SB_EINVAL);
    cr_assert_eq(form_set(&f, "A", "2"), SB_EINVAL);
    cr_assert_eq(f.count, 1);
    cr_assert_str_eq(form_get(&f, "A"), "1");
}

Test(form_build, reuse_after_release)
{
    struct form f = FORM_INIT;

    cr_assert_eq(form_add(&f, "A", "1"), 0);
    form_release(&f);
    cr_assert_eq(parse(&f, "B=2"), 0);
    cr_assert_eq(form_add(&f, "C", "3"), 0);
    assert_field(&f, 1, "C", "3");
    form_release(&f);
    cr_assert_eq(form_add(&f, "D", "4"), 0);
    assert_field(&f, 0, "D", "4");
    form_release(&f);
}

Test(form_build, add_pairs_in_order_skipping_null_values)
{
    struct form f = FORM_INIT;
    const char *const pairs[][2] = {
        {"CallSid", "CA1"},
        {"Optional", NULL},
        {"From", "+1415"},
    };

    cr_assert_eq(form_add(&f, "First", "0"), 0);
    cr_assert_eq(form_add_pairs(&f, pairs, 3), 0);
    cr_assert_eq(f.count, 3);
    assert_field(&f, 0, "First", "0");
    assert_field(&f, 1, "CallSid", "CA1");
    assert_field(&f, 2, "From", "+1415");
    cr_assert_null(form_get(&f, "Optional"));
    form_release(&f);
}

/* A failed call leaves the form as it was, not with part of the pairs. */
Test(form_build, add_pairs_is_all_or_nothing)
{
    struct form f = FORM_INIT;
    const char *const pairs[][2] = {
        {"A", "1"},
        {"B", "2"},
        {NULL, "3"},
    };

    cr_assert_eq(form_add(&f, "First", "0"), 0);
    cr_assert_eq(form_add_pairs(&f, pairs, 3), SB_EINVAL);
    cr_assert_eq(f.count, 1);
    cr_assert_null(form_get(&f, "A"));
    cr_assert_eq(form_add(&f, "C", "4"), 0);
    assert_field(&f, 1, "C", "4");
    form_release(&f);
    cr_assert_eq(form_add_pairs(&f, NULL, 0), 0);
    cr_assert_eq(form_add_pairs(NULL, pairs, 1), SB_EINVAL);
}
