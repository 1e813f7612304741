/* Tests for core/csv. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/csv.h"

static struct csv parse_ok(const char *text)
{
    struct csv c;
    char err[128] = "";

    cr_assert_eq(csv_parse(text, strlen(text), &c, err, sizeof(err)), 0, "%s", err);
    return c;
}

static void parse_bad(const char *text, size_t len, int want, const char *reason)
{
    struct csv c;
    char err[128] = "";

    cr_assert_eq(csv_parse(text, len, &c, err, sizeof(err)), want, "%s", text);
    cr_assert_str_eq(err, reason);
    cr_assert_eq(c.nrecords, 0);
    csv_release(&c);
}

Test(csv, plain_records_with_lines)
{
    struct csv c = parse_ok("to,name,lang\n+15551230001,Ann,en-US\n\n+15551230002,Bo,\n");

    cr_assert_eq(c.nrecords, 3);
    cr_assert_eq(c.records[0].nfields, 3);
    cr_assert_str_eq(c.records[0].fields[2], "lang");
    cr_assert_eq(c.records[1].line, 2);
    cr_assert_str_eq(c.records[1].fields[1], "Ann");
    cr_assert_eq(c.records[2].line, 4); /* the empty line 3 is no record */
    cr_assert_eq(c.records[2].nfields, 3);
    cr_assert_str_eq(c.records[2].fields[2], "");
    csv_release(&c);
}

Test(csv, quoted_fields_commas_doubled_quotes_and_line_breaks)
{
    struct csv c =
        parse_ok("a,\"Núñez, José\",\"say \"\"hi\"\"\"\r\n\"two\r\nlines\",\"\",x\r\nlast");

    cr_assert_eq(c.nrecords, 3);
    cr_assert_str_eq(c.records[0].fields[1], "Núñez, José");
    cr_assert_str_eq(c.records[0].fields[2], "say \"hi\"");
    cr_assert_str_eq(c.records[1].fields[0], "two\r\nlines");
    cr_assert_str_eq(c.records[1].fields[1], "");
    cr_assert_eq(c.records[1].line, 2);
    cr_assert_eq(c.records[2].line, 4); /* the quoted line break counts */
    cr_assert_str_eq(c.records[2].fields[0], "last");
    csv_release(&c);
}

Test(csv, crlf_and_trailing_comma)
{
    struct csv c = parse_ok("a,b,\r\nc\r\n");

    cr_assert_eq(c.nrecords, 2);
    cr_assert_eq(c.records[0].nfields, 3);
    cr_assert_str_eq(c.records[0].fields[2], "");
    cr_assert_eq(c.records[1].nfields, 1);
    cr_assert_str_eq(c.records[1].fields[0], "c");
    csv_release(&c);
}

Test(csv, empty_text_has_no_records)
{
    struct csv c = parse_ok("");

    cr_assert_eq(c.nrecords, 0);
    csv_release(&c);
    c = parse_ok("\n\r\n");
    cr_assert_eq(c.nrecords, 0);
    csv_release(&c);
}

Test(csv, malformed_input_names_the_line)
{
    parse_bad("a\n\"open,b\nc\n", 12, SB_EPARSE, "line 2: a quoted field is not closed");
    parse_bad("a\nb\"c\n", 6, SB_EPARSE, "line 2: '\"' inside an unquoted field");
    parse_bad("a\n\n\"q\"x,b\n", 10, SB_EPARSE, "line 3: text after a closing quote");
    parse_bad("a\nb\0c\n", 6, SB_EPARSE, "line 2: a NUL byte");
}

Test(csv, limits)
{
    static char big[CSV_MAX_FIELD + 2];
    char many[CSV_MAX_FIELDS * 2 + 4];
    struct csv c;
    char err[128];

    memset(big, 'x', CSV_MAX_FIELD + 1);
    parse_bad(big, CSV_MAX_FIELD + 1, SB_ETOOBIG, "line 1: a field is too long");
    memset(many, ',', CSV_MAX_FIELDS);
    parse_bad(many, CSV_MAX_FIELDS, SB_ETOOBIG, "line 1: a record has too many fields");
    cr_assert_eq(csv_parse("x", CSV_MAX_BYTES + 1u, &c, err, sizeof(err)), SB_ETOOBIG);
}
